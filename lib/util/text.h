/* Text written into a growable buffer, for the library's formatters
 * (api/stacks_format.c, traceback/tb_format.c).
 *
 * Out of memory is sticky: after one failed append nothing more is written and
 * `failed` is set, so a formatter writes on and checks once at the end. */
#ifndef PYDBG_UTIL_TEXT_H
#define PYDBG_UTIL_TEXT_H

#include <stddef.h>

#include "util/buffer.h"
#include "util/error.h"

typedef struct pydbg__text {
    pydbg__buffer *out;
    int failed;
} pydbg__text;

void pydbg__text_put(pydbg__text *t, const char *bytes, size_t length);
/* A NULL string (never expected) is written as "?", not a crash. */
void pydbg__text_puts(pydbg__text *t, const char *s);
void PYDBG__PRINTF(2, 3) pydbg__text_printf(pydbg__text *t, const char *fmt, ...);
/* `s` as a quoted JSON string (util/json.h), or null for NULL. */
void pydbg__text_json_string(pydbg__text *t, const char *s);

#endif
