#include "json.h"

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

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), 0 if invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void json_string_n(json_writer *w, const char *text, size_t length)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    before_value(w);
    fputc('"', w->out);
    while (i < length) {
        unsigned char c = s[i];
        size_t n;
        switch (c) {
        case '"': fputs("\\\"", w->out); i++; continue;
        case '\\': fputs("\\\\", w->out); i++; continue;
        case '\n': fputs("\\n", w->out); i++; continue;
        case '\r': fputs("\\r", w->out); i++; continue;
        case '\t': fputs("\\t", w->out); i++; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7F) {
            fprintf(w->out, "\\u%04x", c);
            i++;
            continue;
        }
        n = utf8_sequence(s + i, length - i);
        if (n == 0) {
            fputs("\\ufffd", w->out);
            i++;
            continue;
        }
        fwrite(s + i, 1, n, w->out);
        i += n;
    }
    fputc('"', w->out);
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
