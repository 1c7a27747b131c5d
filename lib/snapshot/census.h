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

#endif
