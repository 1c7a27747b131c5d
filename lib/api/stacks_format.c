/* pydbg_stacks_format(): a capture written out as `pydebug dump` text, as the
 * JSON of the CLI contract, or in CPython faulthandler's layout.
 *
 * The text and JSON are byte for byte what the CLI printed when it formatted
 * captures itself: scripts, the integration tests and the traceback parser
 * read them. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "util/json.h"

/* faulthandler cuts every name at this many characters (MAX_STRING_LENGTH). */
#define FAULTHANDLER_MAX_CHARS 500

typedef struct writer {
    pydbg__buffer *out;
    int failed;
} writer;

static void put(writer *w, const char *s, size_t n)
{
    if (!w->failed && pydbg__buffer_append(w->out, s, n) != PYDBG_OK)
        w->failed = 1;
}

/* A NULL string (never expected from a capture) is written as "?", not a crash. */
static void puts_(writer *w, const char *s)
{
    if (!s)
        s = "?";
    put(w, s, strlen(s));
}

/* Only for short, bounded pieces (numbers, fixed words). */
static void PYDBG__PRINTF(2, 3) putf(writer *w, const char *fmt, ...)
{
    char small[96];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof small) {
        w->failed = 1;
        return;
    }
    put(w, small, (size_t)n);
}


/* ---- JSON ------------------------------------------------------------------------ */

static void sink(void *context, const char *bytes, size_t length)
{
    put(context, bytes, length);
}

/* A JSON string (util/json.h), or null. */
static void json_string(writer *w, const char *text)
{
    if (!text)
        puts_(w, "null");
    else
        pydbg__json_string(sink, w, text, strlen(text));
}

static void json_optional_int(writer *w, const char *key, int64_t value)
{
    putf(w, ",\"%s\":", key);
    if (value >= 0)
        putf(w, "%" PRId64, value);
    else
        puts_(w, "null");
}

static void json_frame(writer *w, const pydbg_frame *f)
{
    puts_(w, "{\"function\":");
    json_string(w, f->function);
    puts_(w, ",\"qualname\":");
    json_string(w, f->qualname);
    puts_(w, ",\"filename\":");
    json_string(w, f->filename);
    json_optional_int(w, "line", f->line);
    json_optional_int(w, "column", f->column);
    json_optional_int(w, "end_line", f->end_line);
    json_optional_int(w, "end_column", f->end_column);
    puts_(w, "}");
}

static void json_thread(writer *w, const pydbg_thread *t)
{
    putf(w, "{\"interpreter_id\":%" PRId64 ",\"thread_id\":%" PRIu64, t->interpreter_id,
         t->ident);
    json_optional_int(w, "native_id", t->native_id);
    puts_(w, ",\"name\":");
    json_string(w, t->name);
    puts_(w, t->is_main ? ",\"is_main\":true" : ",\"is_main\":false");
    puts_(w, ",\"holds_gil\":");
    puts_(w, t->holds_gil < 0 ? "null" : t->holds_gil ? "true" : "false");
    if (t->truncated)
        puts_(w, ",\"truncated\":true");
    if (t->error != PYDBG_OK) {
        puts_(w, ",\"error\":");
        json_string(w, t->errmsg ? t->errmsg : "");
    }
    puts_(w, ",\"frames\":[");
    for (size_t j = 0; j < t->frame_count && !w->failed; j++) {
        if (j)
            put(w, ",", 1);
        json_frame(w, &t->frames[j]);
    }
    puts_(w, "]}");
}

static void json_stacks(writer *w, const pydbg_stacks *s, const pydbg_process *process)
{
    if (process) {
        putf(w, "{\"pid\":%d,\"python_version\":", pydbg_process_pid(process));
        json_string(w, pydbg_process_python_version(process));
    } else {
        puts_(w, "{\"pid\":null,\"python_version\":null");
    }
    puts_(w, ",\"threads\":[");
    for (size_t i = 0; i < s->thread_count && !w->failed; i++) {
        if (i)
            put(w, ",", 1);
        json_thread(w, &s->threads[i]);
    }
    puts_(w, "]}");
}

/* ---- pydebug dump text ----------------------------------------------------------- */

static void text_stacks(writer *w, const pydbg_stacks *s, const pydbg_process *process)
{
    if (process) {
        putf(w, "Process %d: Python ", pydbg_process_pid(process));
        puts_(w, pydbg_process_python_version(process));
        put(w, "\n", 1);
    }
    for (size_t i = 0; i < s->thread_count && !w->failed; i++) {
        const pydbg_thread *t = &s->threads[i];
        /* Without the Process line the first block needs no separating blank line. */
        if (process || i > 0)
            put(w, "\n", 1);
        putf(w, "Thread 0x%016" PRIx64, t->ident);
        if (t->name) {
            puts_(w, " \"");
            puts_(w, t->name);
            put(w, "\"", 1);
        }
        if (t->native_id >= 0)
            putf(w, " native=%" PRId64, t->native_id);
        if (t->is_main)
            puts_(w, " main");
        if (t->holds_gil == 1)
            puts_(w, " gil");
        puts_(w, " (most recent call first):\n");
        for (size_t j = 0; j < t->frame_count && !w->failed; j++) {
            const pydbg_frame *f = &t->frames[j];
            puts_(w, "  File \"");
            puts_(w, f->filename);
            if (f->line >= 0)
                putf(w, "\", line %d in ", f->line);
            else
                puts_(w, "\", line ??? in ");
            puts_(w, f->qualname ? f->qualname : f->function);
            put(w, "\n", 1);
        }
        if (t->truncated)
            puts_(w, "  ...\n");
        if (t->error != PYDBG_OK) {
            puts_(w, "  <stack incomplete: ");
            puts_(w, t->errmsg ? t->errmsg : "");
            puts_(w, ">\n");
        }
    }
}

/* ---- faulthandler ---------------------------------------------------------------- */

/* A name as faulthandler's _Py_DumpASCII writes a str: printable ASCII as is,
 * other code points escaped, cut at 500 code points with "...". A byte that is
 * not valid UTF-8 is written as \xNN, as Python's surrogateescape would show it. */
static void faulthandler_name(writer *w, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, chars = 0, length = strlen(text);
    while (i < length && !w->failed) {
        uint32_t cp;
        size_t n = pydbg__utf8_decode(s + i, length - i, &cp);
        if (chars == FAULTHANDLER_MAX_CHARS) {
            puts_(w, "...");
            return;
        }
        if (n == 0) {
            cp = s[i];
            n = 1;
        }
        if (cp >= ' ' && cp <= 126) {
            char c = (char)cp;
            put(w, &c, 1);
        } else if (cp <= 0xFF) {
            putf(w, "\\x%02" PRIx32, cp);
        } else if (cp <= 0xFFFF) {
            putf(w, "\\u%04" PRIx32, cp);
        } else {
            putf(w, "\\U%08" PRIx32, cp);
        }
        i += n;
        chars++;
    }
}

static void faulthandler_stacks(writer *w, const pydbg_stacks *s)
{
    for (size_t i = 0; i < s->thread_count && !w->failed; i++) {
        const pydbg_thread *t = &s->threads[i];
        if (i > 0)
            put(w, "\n", 1);
        /* faulthandler writes the ident in sizeof(unsigned long) * 2 digits at least. */
        putf(w, "Thread 0x%016" PRIx64 " (most recent call first):\n", t->ident);
        if (t->frame_count == 0 && t->error == PYDBG_OK)
            puts_(w, "  <no Python frame>\n");
        for (size_t j = 0; j < t->frame_count && !w->failed; j++) {
            const pydbg_frame *f = &t->frames[j];
            puts_(w, "  File \"");
            faulthandler_name(w, f->filename);
            if (f->line >= 0)
                putf(w, "\", line %d in ", f->line);
            else
                puts_(w, "\", line ??? in ");
            faulthandler_name(w, f->function);
            put(w, "\n", 1);
        }
        if (t->truncated)
            puts_(w, "  ...\n");
        if (t->error != PYDBG_OK) {
            puts_(w, "  <stack incomplete: ");
            puts_(w, t->errmsg ? t->errmsg : "");
            puts_(w, ">\n");
        }
    }
}

/* ---- the public functions -------------------------------------------------------- */

static int valid_format(int format)
{
    return format == PYDBG_STACKS_FORMAT_TEXT || format == PYDBG_STACKS_FORMAT_JSON ||
           format == PYDBG_STACKS_FORMAT_FAULTHANDLER;
}

/* Writes the whole output into `out` (always NUL-terminated on success). */
static int format_stacks(pydbg__buffer *out, const pydbg_stacks *stacks,
                         const pydbg_process *process, int format)
{
    writer w = {out, 0};
    if (format == PYDBG_STACKS_FORMAT_JSON)
        json_stacks(&w, stacks, process);
    else if (format == PYDBG_STACKS_FORMAT_FAULTHANDLER)
        faulthandler_stacks(&w, stacks);
    else
        text_stacks(&w, stacks, process);
    if (!w.failed && !out->data && pydbg__buffer_reserve(out, 0) != PYDBG_OK)
        w.failed = 1;
    if (!w.failed && out->data)
        out->data[out->length] = '\0';
    return w.failed ? PYDBG_ENOMEM : PYDBG_OK;
}

PYDBG_API int pydbg_stacks_format(char **out, size_t *out_length, const pydbg_stacks *stacks,
                                  const pydbg_process *process, int format)
{
    pydbg__buffer buf = {0};
    int rc;
    if (out)
        *out = NULL;
    if (out_length)
        *out_length = 0;
    if (!out || !stacks || !valid_format(format))
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_stacks_format: %s",
                           !out ? "out is NULL" : !stacks ? "stacks is NULL" : "unknown format");
    rc = format_stacks(&buf, stacks, process, format);
    if (rc != PYDBG_OK) {
        pydbg__buffer_free(&buf);
        return pydbg__fail(NULL, rc, "out of memory formatting a capture of %zu threads",
                           stacks->thread_count);
    }
    *out = buf.data;
    if (out_length)
        *out_length = buf.length;
    return PYDBG_OK;
}

PYDBG_API int pydbg_stacks_format_into(char *buffer, size_t size, size_t *needed,
                                       const pydbg_stacks *stacks, const pydbg_process *process,
                                       int format)
{
    pydbg__buffer buf = {0};
    int rc;
    if (needed)
        *needed = 0;
    if (!stacks || (!buffer && size) || !valid_format(format))
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_stacks_format_into: %s",
                           !stacks ? "stacks is NULL"
                           : !valid_format(format) ? "unknown format"
                                                   : "buffer is NULL with a nonzero size");
    rc = format_stacks(&buf, stacks, process, format);
    if (rc != PYDBG_OK) {
        pydbg__buffer_free(&buf);
        return pydbg__fail(NULL, rc, "out of memory formatting a capture of %zu threads",
                           stacks->thread_count);
    }
    if (needed)
        *needed = buf.length;
    if (size) {
        size_t n = buf.length < size ? buf.length : size - 1;
        memcpy(buffer, buf.data, n);
        buffer[n] = '\0';
    }
    rc = buf.length < size ? PYDBG_OK : PYDBG_ELIMIT;
    pydbg__buffer_free(&buf);
    return rc;
}
