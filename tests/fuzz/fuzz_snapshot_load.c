/* libFuzzer target for the snapshot file loader: any bytes give either a
 * snapshot or PYDBG_EFORMAT, never a crash. A loaded snapshot is then used
 * the way a tool would: every getter, a diff against itself by type and by
 * mapping (all deltas zero), and a save/load round trip that must give the
 * same bytes again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pydebug/errors.h"
#include "snapshot/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_diff(const pydbg_snapshot *s, uint32_t by)
{
    pydbg_diff_options options = PYDBG_DIFF_OPTIONS_INIT;
    pydbg_diff *d = NULL;
    options.by = by;
    if (pydbg_diff_compute(&d, s, s, &options) != PYDBG_OK)
        return;
    for (size_t i = 0; i < pydbg_diff_count(d); i++) {
        if (!pydbg_diff_key(d, i) || pydbg_diff_value(d, i, PYDBG_DIFF_COUNT_DELTA) != 0 ||
            pydbg_diff_value(d, i, PYDBG_DIFF_SIZE_DELTA) != 0)
            abort();
    }
    pydbg_diff_free(d);
}

/* Wraps `payload` in a header with valid checksums, so that the fuzzer reaches
 * the section and record parsers instead of stopping at the CRC. */
static unsigned char *sealed(const uint8_t *payload, size_t size, size_t *out_size)
{
    unsigned char *file = malloc(32 + size);
    uint32_t crc;
    if (!file)
        return NULL;
    memcpy(file, "PYDBGSNP\x01\x00\x00\x00\x20\x00\x00\x00", 16);
    for (int i = 0; i < 8; i++)
        file[16 + i] = (unsigned char)((uint64_t)size >> (8 * i));
    if (size)
        memcpy(file + 32, payload, size);
    crc = pydbg__crc32(0, file + 32, size);
    for (int i = 0; i < 4; i++)
        file[24 + i] = (unsigned char)(crc >> (8 * i));
    crc = pydbg__crc32(0, file, 28);
    for (int i = 0; i < 4; i++)
        file[28 + i] = (unsigned char)(crc >> (8 * i));
    *out_size = 32 + size;
    return file;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pydbg_snapshot *s = NULL, *again = NULL;
    pydbg__buffer first = {0}, second = {0};
    unsigned char *file = NULL;
    int rc;
    /* Inputs that start with '!' are payloads to seal; the others whole files. */
    if (size > 0 && data[0] == '!') {
        file = sealed(data + 1, size - 1, &size);
        if (!file)
            return 0;
        data = file;
    }
    rc = pydbg_snapshot_load_memory(&s, data, size);
    free(file);
    if (rc != PYDBG_OK) {
        if (s || (rc != PYDBG_EFORMAT && rc != PYDBG_ENOMEM))
            abort();
        return 0;
    }
    for (size_t i = 0; i < pydbg_snapshot_type_count(s); i++)
        if (!pydbg_snapshot_type_name(s, i))
            abort();
    for (size_t i = 0; i < pydbg_snapshot_mapping_count(s); i++)
        if (!pydbg_snapshot_mapping_path(s, i) || pydbg_snapshot_mapping_kind(s, i) < 0 ||
            pydbg_snapshot_mapping_value(s, i, PYDBG_MAPPING_END) <
                pydbg_snapshot_mapping_value(s, i, PYDBG_MAPPING_START))
            abort();
    (void)strlen(pydbg_snapshot_census_note(s));
    check_diff(s, PYDBG_DIFF_BY_TYPE);
    check_diff(s, PYDBG_DIFF_BY_MAPPING);
    /* What was loaded saves and loads back to the same thing. */
    if (pydbg__snapshot_encode(s, &first) == PYDBG_OK) {
        if (pydbg_snapshot_load_memory(&again, first.data, first.length) != PYDBG_OK)
            abort();
        if (pydbg__snapshot_encode(again, &second) != PYDBG_OK || second.length != first.length ||
            memcmp(first.data, second.data, first.length) != 0)
            abort();
    }
    pydbg__buffer_free(&first);
    pydbg__buffer_free(&second);
    pydbg_snapshot_free(again);
    pydbg_snapshot_free(s);
    return 0;
}
