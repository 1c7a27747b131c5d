/* A small streaming JSON writer for the CLI's machine-readable output.
 *
 * It tracks nesting and commas so that callers write values in order:
 *   json_begin_object(w); json_key(w, "pid"); json_int(w, 42); json_end_object(w);
 * Strings are escaped per RFC 8259; invalid UTF-8 bytes become U+FFFD so the
 * output is always valid JSON whatever the target's strings contain. */
#ifndef PYDEBUG_CLI_JSON_H
#define PYDEBUG_CLI_JSON_H

#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 64

typedef struct json_writer {
    FILE *out;
    int depth;
    int need_comma[JSON_MAX_DEPTH];
    int after_key;
    int pretty;
} json_writer;

void json_init(json_writer *w, FILE *out, int pretty);
void json_begin_object(json_writer *w);
void json_end_object(json_writer *w);
void json_begin_array(json_writer *w);
void json_end_array(json_writer *w);
void json_key(json_writer *w, const char *key);
void json_string(json_writer *w, const char *text); /* NULL writes null */
void json_string_n(json_writer *w, const char *text, size_t length);
void json_int(json_writer *w, int64_t value);
void json_uint(json_writer *w, uint64_t value);
void json_double(json_writer *w, double value);
void json_bool(json_writer *w, int value);
void json_null(json_writer *w);
/* Ends the document with a newline. */
void json_finish(json_writer *w);

#endif
