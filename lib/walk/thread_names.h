/* threading.Thread names, read from the `threading` module's `_active` dict. */
#ifndef PYDBG_WALK_THREAD_NAMES_H
#define PYDBG_WALK_THREAD_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "util/buffer.h"
#include "walk/target.h"

typedef struct pydbg__thread_name {
    uint64_t ident;
    const char *name; /* in the caller's arena */
} pydbg__thread_name;

typedef struct pydbg__thread_names {
    pydbg__thread_name *items;
    size_t count;
    size_t capacity;
} pydbg__thread_names;

/* Appends the names of the threads `threading` knows in interpreter `interp`.
 * A process that never imported threading has none: that is PYDBG_OK. */
int pydbg__thread_names_read(pydbg__target *t, uint64_t interp, pydbg__arena *arena,
                             pydbg__thread_names *names);

/* Reads the names of every interpreter of `list` (each once). Names are a
 * courtesy: an interpreter whose names cannot be read just has none. Only
 * PYDBG_ENOMEM is returned as an error. */
struct pydbg__thread_list;
int pydbg__thread_names_read_all(pydbg__target *t, const struct pydbg__thread_list *list,
                                 pydbg__arena *arena, pydbg__thread_names *names);

/* The name of thread `ident`, or NULL. */
const char *pydbg__thread_names_find(const pydbg__thread_names *names, uint64_t ident);

void pydbg__thread_names_free(pydbg__thread_names *names);

#endif
