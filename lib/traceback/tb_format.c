/* Writing a decoded traceback back out: CPython's text, or the JSON of
 * `pydebug traceback --format json`.
 *
 * The text writer follows CPython's own printer (traceback.py's
 * TracebackException.format and _ExceptionPrintContext), including where it
 * puts the closing line of nested groups, so the round trip text → structure →
 * text gives back the printed lines. */
#include "traceback/tb_model.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/json.h"

typedef struct writer {
    pydbg__buffer *out;
    int failed;
    int need_close; /* CPython's _ExceptionPrintContext.need_close */
} writer;

static void put(writer *w, const char *s, size_t n)
{
    if (!w->failed && pydbg__buffer_append(w->out, s, n) != PYDBG_OK)
        w->failed = 1;
}

static void puts_(writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void PYDBG__PRINTF(2, 3) putf(writer *w, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        w->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        put(w, small, (size_t)n);
        return;
    }
    if (w->failed || pydbg__buffer_reserve(w->out, (size_t)n) != PYDBG_OK) {
        w->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(w->out->data + w->out->length, (size_t)n + 1, fmt, ap);
    va_end(ap);
    w->out->length += (size_t)n;
}

/* ---- text -------------------------------------------------------------------------- */

static void indent(writer *w, int level)
{
    for (int i = 0; i < level; i++)
        put(w, "  ", 2);
}

/* The margin of group nesting `level` ("" at 0), then the content and a newline. */
static void text_line(writer *w, int level, const char *s, size_t n)
{
    if (level > 0) {
        indent(w, level);
        put(w, "| ", 2);
    }
    put(w, s, n);
    put(w, "\n", 1);
}

static void text_cstr(writer *w, int level, const char *s)
{
    text_line(w, level, s, strlen(s));
}

static void frame_line(writer *w, const pydbg_tb_frame *f, int faulthandler)
{
    if (f->quoted)
        putf(w, "  File \"%s\", line ", f->filename);
    else
        putf(w, "  File %s, line ", f->filename);
    if (f->line_text_kind == 1)
        puts_(w, "None");
    else if (f->line_text_kind == 2)
        puts_(w, "???");
    else
        putf(w, "%d", f->line);
    putf(w, faulthandler ? " in %s" : ", in %s", f->function);
}

static void text_frames(writer *w, int level, const pydbg_tb_exception *e)
{
    for (size_t i = 0; i < e->frame_count; i++) {
        const pydbg_tb_frame *f = e->frames[i];
        pydbg__buffer line = {0};
        writer lw = {&line, 0, 0};
        frame_line(&lw, f, 0);
        if (lw.failed) {
            w->failed = 1;
            pydbg__buffer_free(&line);
            return;
        }
        text_line(w, level, line.data, line.length);
        pydbg__buffer_free(&line);
        for (size_t j = 0; j < f->extra.count; j++)
            text_cstr(w, level, f->extra.items[j]);
        if (f->repeat) {
            char rep[96];
            int n = snprintf(rep, sizeof rep, "  [Previous line repeated %" PRIu64 " more time%s]",
                             f->repeat, f->repeat > 1 ? "s" : "");
            text_line(w, level, rep, (size_t)n);
        }
    }
}

static void text_exception_only(writer *w, int level, const pydbg_tb_exception *e)
{
    const char *msg = e->message ? e->message : "", *nl;
    size_t first;
    for (size_t j = 0; j < e->syntax_lines.count; j++)
        text_cstr(w, level, e->syntax_lines.items[j]);
    if (!e->type)
        return;
    nl = strchr(msg, '\n');
    first = nl ? (size_t)(nl - msg) : strlen(msg);
    if (level > 0) {
        indent(w, level);
        put(w, "| ", 2);
    }
    puts_(w, e->type);
    if (first) {
        put(w, ": ", 2);
        put(w, msg, first);
    }
    put(w, "\n", 1);
    while (nl) {
        const char *start = nl + 1;
        nl = strchr(start, '\n');
        size_t n = nl ? (size_t)(nl - start) : strlen(start);
        if (e->bare_continuation) {
            put(w, start, n);
            put(w, "\n", 1);
        } else {
            text_line(w, level, start, n);
        }
    }
}

static void text_chain(writer *w, pydbg_tb_exception *const *items, size_t count, int level);

static void text_group_blocks(writer *w, int level, const pydbg_tb_exception *e)
{
    size_t n = e->block_count + (e->more_exceptions ? 1 : 0);
    w->need_close = 0;
    for (size_t i = 0; i < n; i++) {
        int last = i == n - 1;
        if (last)
            w->need_close = 1;
        indent(w, level);
        put(w, i == 0 ? "+-" : "  ", 2);
        if (i < e->block_count) {
            const pydbg_tb_block *b = e->blocks[i];
            putf(w, "+---------------- %zu ----------------\n", i + 1);
            if (b->depth_limited)
                text_cstr(w, level + 1, b->limit_line);
            else
                text_chain(w, b->items, b->count, level + 1);
        } else {
            char more[96];
            int k = snprintf(more, sizeof more, "and %" PRIu64 " more exception%s",
                             e->more_exceptions, e->more_exceptions > 1 ? "s" : "");
            puts_(w, "+---------------- ... ----------------\n");
            text_line(w, level + 1, more, (size_t)k);
        }
        if (last && w->need_close) {
            indent(w, level + 1);
            puts_(w, "+------------------------------------\n");
            w->need_close = 0;
        }
    }
}

static void text_chain(writer *w, pydbg_tb_exception *const *items, size_t count, int level)
{
    for (size_t i = 0; i < count && !w->failed; i++) {
        const pydbg_tb_exception *e = items[i];
        int lv = level;
        if (e->relation != PYDBG_TB_RELATION_NONE) {
            text_line(w, level, "", 0);
            text_cstr(w, level,
                      e->relation == PYDBG_TB_RELATION_CAUSE
                          ? "The above exception was the direct cause of the following exception:"
                          : "During handling of the above exception, another exception occurred:");
            text_line(w, level, "", 0);
        }
        if (e->is_group && level == 0) {
            lv = 1; /* a top-level group prints its own lines one level in */
            if (e->has_traceback)
                puts_(w, "  + Exception Group Traceback (most recent call last):\n");
        } else if (e->has_traceback) {
            text_cstr(w, lv, e->is_group ? "Exception Group Traceback (most recent call last):"
                                         : "Traceback (most recent call last):");
        }
        if (e->has_traceback)
            text_frames(w, lv, e);
        text_exception_only(w, lv, e);
        if (e->is_group)
            text_group_blocks(w, lv, e);
    }
}

static void text_thread(writer *w, const pydbg_traceback *tb)
{
    const pydbg_tb_exception *e = tb->exception_count ? tb->exceptions[0] : NULL;
    if (tb->thread_header)
        text_cstr(w, 0, tb->thread_header);
    if (!e)
        return;
    for (size_t i = 0; i < e->frame_count; i++) {
        frame_line(w, e->frames[i], 1);
        put(w, "\n", 1);
    }
    for (size_t j = 0; j < e->tail.count; j++)
        text_cstr(w, 0, e->tail.items[j]);
}

/* ---- JSON -------------------------------------------------------------------------- */

static void sink(void *context, const char *bytes, size_t length)
{
    put(context, bytes, length);
}

/* A JSON string (util/json.h), or null. */
static void json_string(writer *w, const char *s)
{
    if (!s)
        puts_(w, "null");
    else
        pydbg__json_string(sink, w, s, strlen(s));
}

static void json_chain(writer *w, pydbg_tb_exception *const *items, size_t count, int thread);

static void json_frames(writer *w, const pydbg_tb_exception *e)
{
    puts_(w, "\"frames\": [");
    for (size_t i = 0; i < e->frame_count; i++) {
        const pydbg_tb_frame *f = e->frames[i];
        puts_(w, i ? ", {\"filename\": " : "{\"filename\": ");
        json_string(w, f->filename);
        if (f->line >= 0 || f->line_text_kind == 0)
            putf(w, ", \"line\": %d", f->line);
        else
            puts_(w, ", \"line\": null");
        puts_(w, ", \"function\": ");
        json_string(w, f->function);
        puts_(w, ", \"source\": ");
        json_string(w, f->source);
        if (f->marker) {
            puts_(w, ", \"marker\": ");
            json_string(w, f->marker);
        }
        if (f->repeat)
            putf(w, ", \"repeated\": %" PRIu64, f->repeat);
        puts_(w, "}");
    }
    puts_(w, "]");
}

static void json_exception(writer *w, const pydbg_tb_exception *e, int thread)
{
    static const char *const relations[] = {"null", "\"cause\"", "\"context\""};
    puts_(w, "{\"type\": ");
    json_string(w, e->type);
    puts_(w, ", \"message\": ");
    json_string(w, e->type ? e->message : NULL);
    putf(w, ", \"relation\": %s, ",
         relations[e->relation >= 0 && e->relation <= 2 ? e->relation : 0]);
    json_frames(w, e);
    if (!thread && e->has_syntax) {
        puts_(w, ", \"syntax\": {\"filename\": ");
        json_string(w, e->syntax_filename);
        if (e->syntax_line >= 0)
            putf(w, ", \"line\": %d", e->syntax_line);
        else
            puts_(w, ", \"line\": null");
        puts_(w, ", \"text\": ");
        json_string(w, e->syntax_text);
        if (e->syntax_column >= 0)
            putf(w, ", \"column\": %d, \"end_column\": %d}", e->syntax_column,
                 e->syntax_end_column);
        else
            puts_(w, ", \"column\": null, \"end_column\": null}");
    }
    if (e->is_group) {
        puts_(w, ", \"group\": [");
        for (size_t i = 0; i < e->block_count; i++) {
            const pydbg_tb_block *b = e->blocks[i];
            puts_(w, i ? ", {\"exceptions\": " : "{\"exceptions\": ");
            json_chain(w, b->items, b->count, 0);
            if (b->depth_limited)
                puts_(w, ", \"depth_limited\": true");
            puts_(w, "}");
        }
        puts_(w, "]");
        if (e->more_exceptions)
            putf(w, ", \"more_exceptions\": %" PRIu64, e->more_exceptions);
    }
    puts_(w, "}");
}

static void json_chain(writer *w, pydbg_tb_exception *const *items, size_t count, int thread)
{
    puts_(w, "[");
    for (size_t i = 0; i < count; i++) {
        if (i)
            puts_(w, ", ");
        json_exception(w, items[i], thread);
    }
    puts_(w, "]");
}

static void json_traceback(writer *w, const pydbg_traceback *tb)
{
    int thread = tb->kind == PYDBG_TB_KIND_THREAD;
    putf(w, "{\"start_line\": %" PRIu64 ", \"end_line\": %" PRIu64 ", \"kind\": \"%s\"",
         tb->start_line, tb->end_line, thread ? "thread" : "exception");
    if (tb->truncated)
        puts_(w, ", \"truncated\": true");
    if (thread) {
        putf(w, ", \"thread_id\": %" PRIu64 ", \"thread_name\": ", tb->thread_id);
        json_string(w, tb->thread_name);
        putf(w, ", \"current_thread\": %s", tb->thread_is_current ? "true" : "false");
    }
    puts_(w, ", \"exceptions\": ");
    json_chain(w, tb->exceptions, tb->exception_count, thread);
    puts_(w, "}");
}

int pydbg__tb_format(pydbg__buffer *out, const pydbg_traceback *tb, int format)
{
    writer w = {out, 0, 0};
    if (format == PYDBG_TB_FORMAT_JSON)
        json_traceback(&w, tb);
    else if (tb->kind == PYDBG_TB_KIND_THREAD)
        text_thread(&w, tb);
    else
        text_chain(&w, tb->exceptions, tb->exception_count, 0);
    if (!w.failed && !out->data && pydbg__buffer_reserve(out, 0) != PYDBG_OK)
        w.failed = 1;
    return w.failed ? PYDBG_ENOMEM : PYDBG_OK;
}

PYDBG_API int pydbg_traceback_format(char **out, size_t *out_length, const pydbg_traceback *tb,
                                     int format)
{
    pydbg__buffer buf = {0};
    int rc;
    if (out)
        *out = NULL;
    if (out_length)
        *out_length = 0;
    if (!out || !tb || (format != PYDBG_TB_FORMAT_TEXT && format != PYDBG_TB_FORMAT_JSON))
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_traceback_format: bad argument");
    rc = pydbg__tb_format(&buf, tb, format);
    if (rc != PYDBG_OK) {
        pydbg__buffer_free(&buf);
        return pydbg__fail(NULL, rc, "out of memory formatting a traceback");
    }
    *out = buf.data;
    if (out_length)
        *out_length = buf.length;
    return PYDBG_OK;
}

PYDBG_API int pydbg_traceback_format_into(char *buffer, size_t size, size_t *needed,
                                          const pydbg_traceback *tb, int format)
{
    pydbg__buffer buf = {0};
    int rc;
    if (needed)
        *needed = 0;
    if (!tb || (!buffer && size) ||
        (format != PYDBG_TB_FORMAT_TEXT && format != PYDBG_TB_FORMAT_JSON))
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_traceback_format_into: bad argument");
    rc = pydbg__tb_format(&buf, tb, format);
    if (rc != PYDBG_OK) {
        pydbg__buffer_free(&buf);
        return pydbg__fail(NULL, rc, "out of memory formatting a traceback");
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

PYDBG_API void pydbg_tb_string_free(char *string)
{
    free(string);
}
