/* libFuzzer target for the ELF core parser, the map built from it and the core
 * reader. Beyond "no crash, no sanitizer report" it checks that a parsed core
 * keeps its promises: segments sorted and inside the file, files sorted with
 * start < end, and that the reader returns the core's own bytes for dumped
 * memory. Seed: seeds/fuzz_core (make_core_seed.py). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/core.h"
#include "mem/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pydbg__core *core = NULL;
    pydbg__error err = {0, ""};
    pydbg__maps maps;
    pydbg__reader *reader = NULL;
    /* Mapped files are looked up under a root that does not exist first; the
     * plain path is the fallback, so reads of real files stay possible. */
    pydbg__core_file_options options = {"/nonexistent-fuzz-root", NULL};
    const pydbg__core_segment *segs;
    const pydbg__core_file *files;
    size_t nsegs, nfiles, ntids;
    uint64_t value;

    if (pydbg__core_open_memory(&core, data, size, &err) != PYDBG_OK) {
        if (core || err.code == PYDBG_OK || !err.message[0])
            abort(); /* a failure must say why and leave nothing behind */
        return 0;
    }
    segs = pydbg__core_segments(core, &nsegs);
    files = pydbg__core_files(core, &nfiles);
    (void)pydbg__core_thread_ids(core, &ntids);
    (void)pydbg__core_auxv(core, 3, &value);
    if (strlen(pydbg__core_command(core)) > 15 || strlen(pydbg__core_arguments(core)) > 80)
        abort();
    for (size_t i = 0; i < nsegs; i++) {
        if (segs[i].filesz > segs[i].memsz || segs[i].offset > size ||
            segs[i].filesz > size - segs[i].offset)
            abort();
        if (i && segs[i - 1].vaddr + segs[i - 1].memsz > segs[i].vaddr)
            abort();
    }
    for (size_t i = 0; i < nfiles; i++)
        if (files[i].start >= files[i].end || (i && files[i - 1].start > files[i].start))
            abort();
    if (pydbg__api_core_maps(core, &maps, &err) == PYDBG_OK) {
        for (size_t i = 1; i < maps.count; i++)
            if (maps.items[i - 1].start > maps.items[i].start)
                abort();
        pydbg__maps_free(&maps);
    }
    if (pydbg__reader_open_core(&reader, core, &options) == PYDBG_OK) {
        unsigned char buf[64];
        size_t got;
        for (size_t i = 0; i < nsegs && i < 16; i++) {
            size_t n = segs[i].filesz < sizeof buf ? (size_t)segs[i].filesz : sizeof buf;
            if (n && (pydbg__read(reader, segs[i].vaddr, buf, n) != PYDBG_OK ||
                      memcmp(buf, data + segs[i].offset, n) != 0))
                abort();
            (void)pydbg__read_partial(reader, segs[i].vaddr + segs[i].memsz - 8, buf,
                                      sizeof buf, &got);
            if (got > sizeof buf)
                abort();
        }
        for (size_t i = 0; i < nfiles && i < 4; i++)
            (void)pydbg__read(reader, files[i].start, buf, 16);
        pydbg__reader_destroy(reader);
    }
    pydbg__core_close(core);
    return 0;
}
