/* The heap census (census.c): tracked objects by type, from the GC lists. */
#ifndef PYDBG_SNAPSHOT_CENSUS_H
#define PYDBG_SNAPSHOT_CENSUS_H

#include <stddef.h>

#include "snapshot/heap_cache.h"
#include "snapshot/snapshot.h"
#include "walk/target.h"

/* Adds one type entry per type object found to `s`. `readable` are the
 * target's readable mappings (for the chunk cache); `referents` also counts
 * untracked objects reached from tracked ones; `paused` says the target is
 * stopped (a changed list is then an error, not a reason to retry). `note`
 * receives what the census covers, or why there is none. Errors:
 * PYDBG_ENOTSUP (no census possible for this version: `note` says why),
 * PYDBG_ECORRUPT, PYDBG_ELIMIT, PYDBG_ENOMEM, read errors; the message is in
 * t->error. */
int pydbg__census_take(pydbg_snapshot *s, pydbg__target *t, const pydbg__range *readable,
                       size_t readable_count, int referents, int paused, char *note,
                       size_t note_size);

/* What pydbg__census_take() finds through the interpreter's symbols: the type
 * objects whose instances are sized or followed specially (0: none such), and
 * &_PyGC_generation0 (2.7, 3.6; 0 elsewhere). */
typedef struct pydbg__census_roots {
    uint64_t list, tuple, dict, set, frozenset, bytearray, long_, str, type;
    uint64_t generation0_var;
} pydbg__census_roots;

/* pydbg__census_take() with the symbols given rather than looked up in the
 * process's mappings, so a target over any reader (a memory image in the unit
 * tests) can be censused. Same arguments, errors and note otherwise. */
int pydbg__census_take_roots(pydbg_snapshot *s, pydbg__target *t,
                             const pydbg__census_roots *roots, const pydbg__range *readable,
                             size_t readable_count, int referents, int paused, char *note,
                             size_t note_size);

#endif
