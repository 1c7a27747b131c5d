/* libFuzzer target: the thread walk, stack walk and thread names over a
 * memory image that may be anything.
 *
 * Input: one byte selecting the version's layout (modulo the supported
 * count), eleven little-endian u64 (runtime, interp_head_var,
 * tstate_current_var, main_thread_var, then the type addresses code, str,
 * bytes, dict, module, long, int), then up to MAX_REGIONS regions, each a u64
 * base, a u32 length and that many bytes. Seeds are real images written by
 * tests/unit/test_walk (PYDBG_WRITE_WALKER_SEEDS=dir). Nothing may crash,
 * hang (every walk is bounded) or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layout/layout.h"
#include "mem/reader.h"
#include "util/buffer.h"
#include "walk/code_cache.h"
#include "walk/stack.h"
#include "walk/target.h"
#include "walk/thread_names.h"
#include "walk/threads.h"

#define MAX_REGIONS 64
#define MAX_REGION_BYTES (1u << 20)
#define MAX_WALKED_THREADS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int versions[][2] = {{2, 7},  {3, 6},  {3, 7},  {3, 8}, {3, 9},
                                  {3, 10}, {3, 11}, {3, 12}, {3, 13}};

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const size_t nversions = sizeof versions / sizeof versions[0];
    const pydbg__layout *layout;
    pydbg__target *t;
    pydbg__thread_list list = {0};
    pydbg__stack stack = {0};
    size_t at = 1 + 11 * 8;
    uint64_t h[11];
    if (size < at)
        return 0;
    layout = pydbg__layout_for_version(versions[data[0] % nversions][0],
                                       versions[data[0] % nversions][1]);
    if (!layout)
        return 0;
    for (size_t i = 0; i < 11; i++)
        h[i] = load64(data + 1 + 8 * i);
    t = calloc(1, sizeof *t);
    if (!t)
        return 0;
    if (pydbg__reader_open_buffer(&t->reader) != PYDBG_OK ||
        pydbg__code_cache_new(&t->codes) != PYDBG_OK) {
        pydbg__target_close(t);
        return 0;
    }
    t->pid = -1;
    t->layout = *layout;
    t->pthread_tid_offset = 0; /* no /proc to calibrate against */
    t->runtime = h[0];
    t->interp_head_var = h[1];
    t->tstate_current_var = h[2];
    t->main_thread_var = h[3];
    t->types = (pydbg__type_addresses){h[4], h[5], h[6], h[7], h[8], h[9], h[10]};
    for (size_t r = 0; r < MAX_REGIONS && size - at >= 12; r++) {
        uint64_t base = load64(data + at);
        uint32_t length;
        memcpy(&length, data + at + 8, 4);
        at += 12;
        if (length > size - at)
            length = (uint32_t)(size - at);
        if (length > MAX_REGION_BYTES)
            length = MAX_REGION_BYTES;
        (void)pydbg__reader_buffer_add(t->reader, base, data + at, length);
        at += length;
    }
    if (pydbg__threads_read(t, &list) == PYDBG_OK || list.count > 0) {
        uint64_t interps[4];
        size_t ninterps = 0;
        for (size_t i = 0; i < list.count && i < MAX_WALKED_THREADS; i++) {
            size_t j;
            if (pydbg__stack_walk(t, list.items[i].top_frame, 128, &stack) != PYDBG_OK)
                break;
            for (size_t f = 0; f < stack.count; f++)
                if (!stack.frames[f].code || !stack.frames[f].code->name ||
                    !stack.frames[f].code->filename)
                    abort();
            for (j = 0; j < ninterps && interps[j] != list.items[i].interp; j++) {
            }
            if (j == ninterps && ninterps < 4)
                interps[ninterps++] = list.items[i].interp;
        }
        for (size_t i = 0; i < ninterps; i++) {
            pydbg__arena arena = {0};
            pydbg__thread_names names = {0};
            (void)pydbg__thread_names_read(t, interps[i], &arena, &names);
            for (size_t k = 0; k < names.count; k++)
                if (!names.items[k].name)
                    abort();
            pydbg__thread_names_free(&names);
            pydbg__arena_free(&arena);
        }
    }
    pydbg__code_cache_maintain(t->codes);
    pydbg__stack_free(&stack);
    pydbg__thread_list_free(&list);
    pydbg__target_close(t);
    return 0;
}
