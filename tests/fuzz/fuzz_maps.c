/* libFuzzer target for the /proc/PID/maps parser: any text.
 *
 * Beyond "no crash": a successful parse gives mappings sorted by start, each
 * with start <= end, a perms value made of the four known bits and a
 * terminated path, and the lookups agree with the array. Seeds are maps files
 * of real processes (seeds/fuzz_maps). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elf/maps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pydbg__maps maps;
    pydbg__error err;
    int rc = pydbg__maps_parse(&maps, (const char *)data, size, &err);
    if (rc != PYDBG_OK) {
        if (maps.items || maps.count || err.message[0] == '\0')
            abort();
        return 0;
    }
    for (size_t i = 0; i < maps.count; i++) {
        const pydbg__mapping *m = &maps.items[i];
        const pydbg__mapping *base;
        const pydbg__mapping *found;
        if (m->start > m->end || (m->perms & ~15u) != 0)
            abort();
        if (i > 0 && maps.items[i - 1].start > m->start)
            abort();
        if (strlen(m->path) > size)
            abort();
        /* The mapping found for an address inside m contains it. */
        if (m->start < m->end) {
            found = pydbg__maps_find(&maps, m->start);
            if (found && (m->start < found->start || m->start >= found->end))
                abort();
            if (!found && (i + 1 == maps.count || maps.items[i + 1].start != m->start))
                abort(); /* only overlapping hand-made entries may hide m */
            (void)pydbg__maps_readable(&maps, m->start, m->end - m->start);
        }
        if (m->path[0]) {
            base = pydbg__maps_file_base(&maps, m->path);
            if (!base || strcmp(base->path, m->path) != 0)
                abort();
        }
    }
    (void)pydbg__maps_find(&maps, 0);
    (void)pydbg__maps_find(&maps, UINT64_MAX);
    (void)pydbg__maps_readable(&maps, UINT64_MAX - 3, 8);
    pydbg__maps_free(&maps);
    return 0;
}
