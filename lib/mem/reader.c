#include "mem/reader.h"

#include "pydebug/errors.h"

int pydbg__read_ptr(pydbg__reader *r, uint64_t address, uint64_t *value)
{
    unsigned char bytes[8];
    uint64_t v = 0;
    int rc = pydbg__read(r, address, bytes, sizeof bytes);
    if (rc != PYDBG_OK)
        return rc;
    /* Assembled byte by byte so the result does not depend on the host's byte
     * order: the targets (x86_64, aarch64) are little-endian. */
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | bytes[i];
    *value = v;
    return PYDBG_OK;
}

void pydbg__reader_destroy(pydbg__reader *reader)
{
    if (reader)
        reader->ops->destroy(reader);
}

int pydbg__reader_read_many_loop(pydbg__reader *reader, pydbg__read_piece *pieces, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int rc = pydbg__read(reader, pieces[i].address, pieces[i].buffer, pieces[i].length);
        if (rc != PYDBG_OK)
            return rc;
    }
    return PYDBG_OK;
}
