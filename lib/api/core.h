/* Core files in the public API glue: what api/core.c exposes for tests. */
#ifndef PYDBG_API_CORE_H
#define PYDBG_API_CORE_H

#include "elf/maps.h"
#include "mem/core.h"
#include "util/error.h"

/* The memory map of the process a core was taken from: its NT_FILE entries
 * (private mappings with the permissions of the segments that hold them),
 * plus the parts of PT_LOAD segments no file covers as anonymous mappings
 * ("" path), in address order. Free it with pydbg__maps_free(). */
int pydbg__api_core_maps(const pydbg__core *core, pydbg__maps *out, pydbg__error *err);

#endif
