#include "json.h"

#include "util/json.h"

#include <inttypes.h>
#include <string.h>

void json_init(json_writer *w, FILE *out, int pretty)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->pretty = pretty;
}

static void newline(json_writer *w)
{
    if (!w->pretty)
        return;
    fputc('\n', w->out);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->out);
}

/* Writes the separator a new value needs at the current position. */
static void before_value(json_writer *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        if (w->need_comma[w->depth - 1])
            fputc(',', w->out);
        w->need_comma[w->depth - 1] = 1;
        newline(w);
    }
}

static void open(json_writer *w, char c)
{
    before_value(w);
    fputc(c, w->out);
    if (w->depth < JSON_MAX_DEPTH)
        w->need_comma[w->depth] = 0;
    w->depth++;
}

static void close_(json_writer *w, char c)
{
    int had_items = w->depth > 0 && w->depth <= JSON_MAX_DEPTH && w->need_comma[w->depth - 1];
    w->depth--;
    if (had_items)
        newline(w);
    fputc(c, w->out);
}

void json_begin_object(json_writer *w) { open(w, '{'); }
void json_end_object(json_writer *w) { close_(w, '}'); }
void json_begin_array(json_writer *w) { open(w, '['); }
void json_end_array(json_writer *w) { close_(w, ']'); }

static void file_sink(void *context, const char *bytes, size_t length)
{
    fwrite(bytes, 1, length, (FILE *)context);
}

/* The library's own escaping (lib/util/json.c, compiled in; no library state):
 * a stray byte of a target's text becomes \ufffd. */
void json_string_n(json_writer *w, const char *text, size_t length)
{
    before_value(w);
    pydbg__json_string(file_sink, w->out, text, length);
}

void json_string(json_writer *w, const char *text)
{
    if (!text) {
        json_null(w);
        return;
    }
    json_string_n(w, text, strlen(text));
}

void json_key(json_writer *w, const char *key)
{
    json_string(w, key);
    fputc(':', w->out);
    if (w->pretty)
        fputc(' ', w->out);
    w->after_key = 1;
}

void json_int(json_writer *w, int64_t value)
{
    before_value(w);
    fprintf(w->out, "%" PRId64, value);
}

void json_uint(json_writer *w, uint64_t value)
{
    before_value(w);
    fprintf(w->out, "%" PRIu64, value);
}

void json_double(json_writer *w, double value)
{
    before_value(w);
    fprintf(w->out, "%.17g", value);
}

void json_bool(json_writer *w, int value)
{
    before_value(w);
    fputs(value ? "true" : "false", w->out);
}

void json_null(json_writer *w)
{
    before_value(w);
    fputs("null", w->out);
}

void json_finish(json_writer *w)
{
    fputc('\n', w->out);
}
