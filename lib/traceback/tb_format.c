/* Writing a decoded traceback back out: CPython's text, or the JSON of
 * `pydebug traceback --format json`.
 *
 * The text writer follows CPython's own printer (traceback.py's
 * TracebackException.format and _ExceptionPrintContext), including where it
 * puts the closing line of nested groups, so the round trip text → structure →
 * text gives back the printed lines. */
#include "traceback/tb_model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/json.h"
#include "util/text.h"

/* Text into the output buffer, out of memory sticky (util/text.h). */
typedef struct writer {
    pydbg__text text;
    int need_close; /* CPython's _ExceptionPrintContext.need_close */
} writer;

/* ---- text -------------------------------------------------------------------------- */

static void indent(writer *w, int level)
{
    for (int i = 0; i < level; i++)
        pydbg__text_put(&w->text, "  ", 2);
}

/* The margin of group nesting `level` ("" at 0), then the content and a newline. */
static void text_line(writer *w, int level, const char *s, size_t n)
{
    if (level > 0) {
        indent(w, level);
        pydbg__text_put(&w->text, "| ", 2);
    }
    pydbg__text_put(&w->text, s, n);
    pydbg__text_put(&w->text, "\n", 1);
}

static void text_cstr(writer *w, int level, const char *s)
{
    text_line(w, level, s, strlen(s));
}

static void frame_line(writer *w, const pydbg_tb_frame *f, int faulthandler)
{
    if (f->quoted)
        pydbg__text_printf(&w->text, "  File \"%s\", line ", f->filename);
    else
        pydbg__text_printf(&w->text, "  File %s, line ", f->filename);
    if (f->line_text_kind == 1)
        pydbg__text_puts(&w->text, "None");
    else if (f->line_text_kind == 2)
        pydbg__text_puts(&w->text, "???");
    else
        pydbg__text_printf(&w->text, "%d", f->line);
    pydbg__text_printf(&w->text, faulthandler ? " in %s" : ", in %s", f->function);
}

static void text_frames(writer *w, int level, const pydbg_tb_exception *e)
{
    for (size_t i = 0; i < e->frame_count; i++) {
        const pydbg_tb_frame *f = e->frames[i];
        pydbg__buffer line = {0};
        writer lw = {{&line, 0}, 0};
        frame_line(&lw, f, 0);
        if (lw.text.failed) {
            w->text.failed = 1;
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
        pydbg__text_put(&w->text, "| ", 2);
    }
    pydbg__text_puts(&w->text, e->type);
    if (first) {
        pydbg__text_put(&w->text, ": ", 2);
        pydbg__text_put(&w->text, msg, first);
    }
    pydbg__text_put(&w->text, "\n", 1);
    while (nl) {
        const char *start = nl + 1;
        nl = strchr(start, '\n');
        size_t n = nl ? (size_t)(nl - start) : strlen(start);
        if (e->bare_continuation) {
            pydbg__text_put(&w->text, start, n);
            pydbg__text_put(&w->text, "\n", 1);
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
        pydbg__text_put(&w->text, i == 0 ? "+-" : "  ", 2);
        if (i < e->block_count) {
            const pydbg_tb_block *b = e->blocks[i];
            pydbg__text_printf(&w->text, "+---------------- %zu ----------------\n", i + 1);
            if (b->depth_limited)
                text_cstr(w, level + 1, b->limit_line);
            else
                text_chain(w, b->items, b->count, level + 1);
        } else {
            char more[96];
            int k = snprintf(more, sizeof more, "and %" PRIu64 " more exception%s",
                             e->more_exceptions, e->more_exceptions > 1 ? "s" : "");
            pydbg__text_puts(&w->text, "+---------------- ... ----------------\n");
            text_line(w, level + 1, more, (size_t)k);
        }
        if (last && w->need_close) {
            indent(w, level + 1);
            pydbg__text_puts(&w->text, "+------------------------------------\n");
            w->need_close = 0;
        }
    }
}

static void text_chain(writer *w, pydbg_tb_exception *const *items, size_t count, int level)
{
    for (size_t i = 0; i < count && !w->text.failed; i++) {
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
                pydbg__text_puts(&w->text,
                                 "  + Exception Group Traceback (most recent call last):\n");
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
        pydbg__text_put(&w->text, "\n", 1);
    }
    for (size_t j = 0; j < e->tail.count; j++)
        text_cstr(w, 0, e->tail.items[j]);
}

/* ---- JSON -------------------------------------------------------------------------- */

static void json_chain(writer *w, pydbg_tb_exception *const *items, size_t count, int thread);

static void json_frames(writer *w, const pydbg_tb_exception *e)
{
    pydbg__text_puts(&w->text, "\"frames\": [");
    for (size_t i = 0; i < e->frame_count; i++) {
        const pydbg_tb_frame *f = e->frames[i];
        pydbg__text_puts(&w->text, i ? ", {\"filename\": " : "{\"filename\": ");
        pydbg__text_json_string(&w->text, f->filename);
        if (f->line >= 0 || f->line_text_kind == 0)
            pydbg__text_printf(&w->text, ", \"line\": %d", f->line);
        else
            pydbg__text_puts(&w->text, ", \"line\": null");
        pydbg__text_puts(&w->text, ", \"function\": ");
        pydbg__text_json_string(&w->text, f->function);
        pydbg__text_puts(&w->text, ", \"source\": ");
        pydbg__text_json_string(&w->text, f->source);
        if (f->marker) {
            pydbg__text_puts(&w->text, ", \"marker\": ");
            pydbg__text_json_string(&w->text, f->marker);
        }
        if (f->repeat)
            pydbg__text_printf(&w->text, ", \"repeated\": %" PRIu64, f->repeat);
        pydbg__text_puts(&w->text, "}");
    }
    pydbg__text_puts(&w->text, "]");
}

static void json_exception(writer *w, const pydbg_tb_exception *e, int thread)
{
    static const char *const relations[] = {"null", "\"cause\"", "\"context\""};
    pydbg__text_puts(&w->text, "{\"type\": ");
    pydbg__text_json_string(&w->text, e->type);
    pydbg__text_puts(&w->text, ", \"message\": ");
    pydbg__text_json_string(&w->text, e->type ? e->message : NULL);
    pydbg__text_printf(&w->text, ", \"relation\": %s, ",
                       relations[e->relation >= 0 && e->relation <= 2 ? e->relation : 0]);
    json_frames(w, e);
    if (!thread && e->has_syntax) {
        pydbg__text_puts(&w->text, ", \"syntax\": {\"filename\": ");
        pydbg__text_json_string(&w->text, e->syntax_filename);
        if (e->syntax_line >= 0)
            pydbg__text_printf(&w->text, ", \"line\": %d", e->syntax_line);
        else
            pydbg__text_puts(&w->text, ", \"line\": null");
        pydbg__text_puts(&w->text, ", \"text\": ");
        pydbg__text_json_string(&w->text, e->syntax_text);
        if (e->syntax_column >= 0)
            pydbg__text_printf(&w->text, ", \"column\": %d, \"end_column\": %d}", e->syntax_column,
                               e->syntax_end_column);
        else
            pydbg__text_puts(&w->text, ", \"column\": null, \"end_column\": null}");
    }
    if (e->is_group) {
        pydbg__text_puts(&w->text, ", \"group\": [");
        for (size_t i = 0; i < e->block_count; i++) {
            const pydbg_tb_block *b = e->blocks[i];
            pydbg__text_puts(&w->text, i ? ", {\"exceptions\": " : "{\"exceptions\": ");
            json_chain(w, b->items, b->count, 0);
            if (b->depth_limited)
                pydbg__text_puts(&w->text, ", \"depth_limited\": true");
            pydbg__text_puts(&w->text, "}");
        }
        pydbg__text_puts(&w->text, "]");
        if (e->more_exceptions)
            pydbg__text_printf(&w->text, ", \"more_exceptions\": %" PRIu64, e->more_exceptions);
    }
    pydbg__text_puts(&w->text, "}");
}

static void json_chain(writer *w, pydbg_tb_exception *const *items, size_t count, int thread)
{
    pydbg__text_puts(&w->text, "[");
    for (size_t i = 0; i < count; i++) {
        if (i)
            pydbg__text_puts(&w->text, ", ");
        json_exception(w, items[i], thread);
    }
    pydbg__text_puts(&w->text, "]");
}

static void json_traceback(writer *w, const pydbg_traceback *tb)
{
    int thread = tb->kind == PYDBG_TB_KIND_THREAD;
    pydbg__text_printf(&w->text,
                       "{\"start_line\": %" PRIu64 ", \"end_line\": %" PRIu64 ", \"kind\": \"%s\"",
                       tb->start_line, tb->end_line, thread ? "thread" : "exception");
    if (tb->truncated)
        pydbg__text_puts(&w->text, ", \"truncated\": true");
    if (thread) {
        pydbg__text_printf(&w->text,
                           ", \"thread_id\": %" PRIu64 ", \"thread_name\": ", tb->thread_id);
        pydbg__text_json_string(&w->text, tb->thread_name);
        pydbg__text_printf(&w->text, ", \"current_thread\": %s",
                           tb->thread_is_current ? "true" : "false");
    }
    pydbg__text_puts(&w->text, ", \"exceptions\": ");
    json_chain(w, tb->exceptions, tb->exception_count, thread);
    pydbg__text_puts(&w->text, "}");
}

int pydbg__tb_format(pydbg__buffer *out, const pydbg_traceback *tb, int format)
{
    writer w = {{out, 0}, 0};
    if (format == PYDBG_TB_FORMAT_JSON)
        json_traceback(&w, tb);
    else if (tb->kind == PYDBG_TB_KIND_THREAD)
        text_thread(&w, tb);
    else
        text_chain(&w, tb->exceptions, tb->exception_count, 0);
    if (!w.text.failed && !out->data && pydbg__buffer_reserve(out, 0) != PYDBG_OK)
        w.text.failed = 1;
    return w.text.failed ? PYDBG_ENOMEM : PYDBG_OK;
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
