/* pymalloc's arena usage (pymalloc.c), as sys._debugmallocstats() reports it. */
#ifndef PYDBG_SNAPSHOT_PYMALLOC_H
#define PYDBG_SNAPSHOT_PYMALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "layout/layout.h"
#include "mem/reader.h"
#include "snapshot/snapshot.h"
#include "util/error.h"
#include "walk/target.h"

/* Far above any real heap: 2^20 arenas of 1 MiB is 1 TiB. */
#define PYDBG__PYMALLOC_MAX_ARENAS (1u << 20)

/* Walks one allocator state: the `maxarenas` arena objects at `arenas` and the
 * header of every pool carved from each allocated arena, as
 * _PyObject_DebugMallocStats() does. Fills `out` (interpreter_id is left to the
 * caller). Errors: PYDBG_ECORRUPT (an arena or pool that cannot be real; the
 * message says which), PYDBG_ELIMIT (maxarenas beyond the bound), read errors. */
int pydbg__pymalloc_walk(pydbg__reader *reader, const pydbg__layout *l, uint64_t arenas,
                         uint64_t maxarenas, pydbg__snap_pymalloc *out, pydbg__error *err);

/* Walks every allocator state of target `t` (the process's statics up to 3.11,
 * each interpreter's own state from 3.12) into `s`. `note` receives what was
 * recorded or why nothing was. Errors: PYDBG_ENOTSUP (not available for this
 * target: the note says why), PYDBG_ENOMEM, and the errors of
 * pydbg__pymalloc_walk() (message in t->error). */
int pydbg__pymalloc_take(pydbg_snapshot *s, pydbg__target *t, char *note, size_t note_size);

#endif
