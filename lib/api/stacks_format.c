/* pydbg_stacks_format(): a capture written out as `pydebug dump` text, as the
 * JSON of the CLI contract, or in CPython faulthandler's layout.
 *
 * The text and JSON are byte for byte what the CLI printed when it formatted
 * captures itself: scripts, the integration tests and the traceback parser
 * read them. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "util/json.h"
#include "util/text.h"

/* faulthandler cuts every name at this many characters (MAX_STRING_LENGTH). */
#define FAULTHANDLER_MAX_CHARS 500

/* Text into the output buffer, out of memory sticky (util/text.h). */
typedef pydbg__text writer;

/* ---- JSON ------------------------------------------------------------------------ */

static void json_optional_int(writer *w, const char *key, int64_t value)
{
    pydbg__text_printf(w, ",\"%s\":", key);
    if (value >= 0)
        pydbg__text_printf(w, "%" PRId64, value);
    else
        pydbg__text_puts(w, "null");
}

static void json_frame(writer *w, const pydbg_frame *f)
{
    pydbg__text_puts(w, "{\"function\":");
    pydbg__text_json_string(w, f->function);
    pydbg__text_puts(w, ",\"qualname\":");
    pydbg__text_json_string(w, f->qualname);
    pydbg__text_puts(w, ",\"filename\":");
    pydbg__text_json_string(w, f->filename);
    json_optional_int(w, "line", f->line);
    json_optional_int(w, "column", f->column);
    json_optional_int(w, "end_line", f->end_line);
    json_optional_int(w, "end_column", f->end_column);
    pydbg__text_puts(w, "}");
}

static void json_thread(writer *w, const pydbg_thread *t)
{
    pydbg__text_printf(w, "{\"interpreter_id\":%" PRId64 ",\"thread_id\":%" PRIu64,
                       t->interpreter_id, t->ident);
    json_optional_int(w, "native_id", t->native_id);
    pydbg__text_puts(w, ",\"name\":");
    pydbg__text_json_string(w, t->name);
    pydbg__text_puts(w, t->is_main ? ",\"is_main\":true" : ",\"is_main\":false");
    pydbg__text_puts(w, ",\"holds_gil\":");
    pydbg__text_puts(w, t->holds_gil < 0 ? "null" : t->holds_gil ? "true" : "false");
    if (t->truncated)
        pydbg__text_puts(w, ",\"truncated\":true");
    if (t->error != PYDBG_OK) {
        pydbg__text_puts(w, ",\"error\":");
        pydbg__text_json_string(w, t->errmsg ? t->errmsg : "");
    }
    pydbg__text_puts(w, ",\"frames\":[");
    for (size_t j = 0; j < t->frame_count && !w->failed; j++) {
        if (j)
            pydbg__text_put(w, ",", 1);
        json_frame(w, &t->frames[j]);
    }
    pydbg__text_puts(w, "]}");
}

static void json_stacks(writer *w, const pydbg_stacks *s, const pydbg_process *process)
{
    if (process) {
        pydbg__text_printf(w, "{\"pid\":%d,\"python_version\":", pydbg_process_pid(process));
        pydbg__text_json_string(w, pydbg_process_python_version(process));
    } else {
        pydbg__text_puts(w, "{\"pid\":null,\"python_version\":null");
    }
    pydbg__text_puts(w, ",\"threads\":[");
    for (size_t i = 0; i < s->thread_count && !w->failed; i++) {
        if (i)
            pydbg__text_put(w, ",", 1);
        json_thread(w, &s->threads[i]);
    }
    pydbg__text_puts(w, "]}");
}

/* ---- pydebug dump text ----------------------------------------------------------- */

static void text_stacks(writer *w, const pydbg_stacks *s, const pydbg_process *process)
{
    if (process) {
        pydbg__text_printf(w, "Process %d: Python ", pydbg_process_pid(process));
        pydbg__text_puts(w, pydbg_process_python_version(process));
        pydbg__text_put(w, "\n", 1);
    }
    for (size_t i = 0; i < s->thread_count && !w->failed; i++) {
        const pydbg_thread *t = &s->threads[i];
        /* Without the Process line the first block needs no separating blank line. */
        if (process || i > 0)
            pydbg__text_put(w, "\n", 1);
        pydbg__text_printf(w, "Thread 0x%016" PRIx64, t->ident);
        if (t->name) {
            pydbg__text_puts(w, " \"");
            pydbg__text_puts(w, t->name);
            pydbg__text_put(w, "\"", 1);
        }
        if (t->native_id >= 0)
            pydbg__text_printf(w, " native=%" PRId64, t->native_id);
        if (t->is_main)
            pydbg__text_puts(w, " main");
        if (t->holds_gil == 1)
            pydbg__text_puts(w, " gil");
        pydbg__text_puts(w, " (most recent call first):\n");
        for (size_t j = 0; j < t->frame_count && !w->failed; j++) {
            const pydbg_frame *f = &t->frames[j];
            pydbg__text_puts(w, "  File \"");
            pydbg__text_puts(w, f->filename);
            if (f->line >= 0)
                pydbg__text_printf(w, "\", line %d in ", f->line);
            else
                pydbg__text_puts(w, "\", line ??? in ");
            pydbg__text_puts(w, f->qualname ? f->qualname : f->function);
            pydbg__text_put(w, "\n", 1);
        }
        if (t->truncated)
            pydbg__text_puts(w, "  ...\n");
        if (t->error != PYDBG_OK) {
            pydbg__text_puts(w, "  <stack incomplete: ");
            pydbg__text_puts(w, t->errmsg ? t->errmsg : "");
            pydbg__text_puts(w, ">\n");
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
            pydbg__text_puts(w, "...");
            return;
        }
        if (n == 0) {
            cp = s[i];
            n = 1;
        }
        if (cp >= ' ' && cp <= 126) {
            char c = (char)cp;
            pydbg__text_put(w, &c, 1);
        } else if (cp <= 0xFF) {
            pydbg__text_printf(w, "\\x%02" PRIx32, cp);
        } else if (cp <= 0xFFFF) {
            pydbg__text_printf(w, "\\u%04" PRIx32, cp);
        } else {
            pydbg__text_printf(w, "\\U%08" PRIx32, cp);
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
            pydbg__text_put(w, "\n", 1);
        /* faulthandler writes the ident in sizeof(unsigned long) * 2 digits at least. */
        pydbg__text_printf(w, "Thread 0x%016" PRIx64 " (most recent call first):\n", t->ident);
        if (t->frame_count == 0 && t->error == PYDBG_OK)
            pydbg__text_puts(w, "  <no Python frame>\n");
        for (size_t j = 0; j < t->frame_count && !w->failed; j++) {
            const pydbg_frame *f = &t->frames[j];
            pydbg__text_puts(w, "  File \"");
            faulthandler_name(w, f->filename);
            if (f->line >= 0)
                pydbg__text_printf(w, "\", line %d in ", f->line);
            else
                pydbg__text_puts(w, "\", line ??? in ");
            faulthandler_name(w, f->function);
            pydbg__text_put(w, "\n", 1);
        }
        if (t->truncated)
            pydbg__text_puts(w, "  ...\n");
        if (t->error != PYDBG_OK) {
            pydbg__text_puts(w, "  <stack incomplete: ");
            pydbg__text_puts(w, t->errmsg ? t->errmsg : "");
            pydbg__text_puts(w, ">\n");
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
