/* Options structures passed by callers who may be older than the library. */
#ifndef PYDBG_UTIL_OPTIONS_H
#define PYDBG_UTIL_OPTIONS_H

#include <stddef.h>

/* Copies the options `given` by a caller into `out` (`size` bytes, starting
 * with uint32_t struct_size). A caller compiled against an older, shorter
 * structure passes a smaller struct_size: only the fields it covers are taken,
 * the others keep their values from `defaults`. NULL `given` gives the
 * defaults. PYDBG_EINVAL when struct_size is implausible (the structure was
 * not initialised with its _INIT macro). */
int pydbg__options_copy(void *out, size_t size, const void *given, const void *defaults);

#endif
