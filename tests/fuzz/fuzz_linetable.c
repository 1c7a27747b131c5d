/* libFuzzer target for the line-table decoders: any bytes, any first line, any
 * offset. Beyond "no crash, no sanitizer report", it checks the promises the
 * header makes about the answers. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "code/linetable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int take_int(const uint8_t **data, size_t *size)
{
    uint32_t v = 0;
    size_t n = *size < 4 ? *size : 4;
    for (size_t i = 0; i < n; i++) {
        v |= (uint32_t)(*data)[i] << (8 * i);
    }
    *data += n;
    *size -= n;
    /* Bit pattern to int without implementation-defined conversion. */
    return v <= INT_MAX ? (int)v : -(int)(UINT32_MAX - v) - 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int first_line = take_int(&data, &size);
    int offset = take_int(&data, &size);
    /* The rest is the table, in a buffer of exactly its size so that ASan sees
     * any read past it (the fuzzer's own buffer has the same property). */
    const uint8_t *table = size ? data : NULL;

    int line = pydbg__lnotab_line(table, size, first_line, offset, 0);
    if (line < first_line) {
        abort(); /* unsigned deltas never move the line backwards */
    }
    (void)pydbg__lnotab_line(table, size, first_line, offset, 1);
    (void)pydbg__linetable310_line(table, size, first_line, offset);

    pydbg__position pos;
    memset(&pos, 0x5a, sizeof pos);
    int rc = pydbg__locations_lookup(table, size, first_line, offset, &pos);
    if (rc != 0) {
        if (rc != -1 || pos.line != -1 || pos.end_line != -1 || pos.column != -1 ||
            pos.end_column != -1) {
            abort(); /* not found must leave every field -1 */
        }
    } else if (pos.end_line < pos.line || pos.column < -1 || pos.end_column < -1) {
        abort();
    }
    return 0;
}
