/* Text into a buffer: see text.h. */
#include "util/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pydebug/errors.h"
#include "util/json.h"

void pydbg__text_put(pydbg__text *t, const char *bytes, size_t length)
{
    if (!t->failed && pydbg__buffer_append(t->out, bytes, length) != PYDBG_OK)
        t->failed = 1;
}

void pydbg__text_puts(pydbg__text *t, const char *s)
{
    if (!s)
        s = "?";
    pydbg__text_put(t, s, strlen(s));
}

void pydbg__text_printf(pydbg__text *t, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        pydbg__text_put(t, small, (size_t)n);
        return;
    }
    /* Longer than the stack buffer (a long name): formatted again into the output. */
    if (t->failed || pydbg__buffer_reserve(t->out, (size_t)n) != PYDBG_OK) {
        t->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(t->out->data + t->out->length, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->out->length += (size_t)n;
}

static void json_sink(void *context, const char *bytes, size_t length)
{
    pydbg__text_put(context, bytes, length);
}

void pydbg__text_json_string(pydbg__text *t, const char *s)
{
    if (!s)
        pydbg__text_puts(t, "null");
    else
        pydbg__json_string(json_sink, t, s, strlen(s));
}
