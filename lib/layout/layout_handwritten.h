/* Layout tables written by hand, for versions whose headers are not installed
 * here so that tools/gen_layouts cannot produce them.
 *
 * Each value cites the header line it comes from. They describe the default
 * (GIL, non-debug) x86_64 / aarch64 build; a running interpreter's
 * `_Py_DebugOffsets` overrides every offset it publishes (see debug_offsets.c),
 * so these matter only for what it does not publish. */
#ifndef PYDBG_LAYOUT_LAYOUT_HANDWRITTEN_H
#define PYDBG_LAYOUT_LAYOUT_HANDWRITTEN_H

#include "layout/layout.h"

/* CPython 3.14.0 (layout_314.c). */
extern const pydbg__layout pydbg__layout_3_14;

#endif
