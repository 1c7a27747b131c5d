/* libFuzzer target for the traceback parser and formatter. The first byte picks
 * how the rest is fed (whole, or in pieces of 1 to 255 bytes). Beyond "no
 * crash, no sanitizer report, memory bounded by the input", it checks that the
 * pieces do not change the result: every traceback decoded from a piecewise
 * feed formats (text and JSON) exactly as the one decoded from the whole. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pydebug/traceback.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct collected {
    char *text;
    size_t length;
} collected;

/* Decodes `data` fed in `chunk`-byte pieces (0: whole) into one string of every
 * traceback's JSON and text. */
static collected decode(const char *data, size_t size, size_t chunk, uint64_t max_bytes)
{
    collected out = {NULL, 0};
    pydbg_tb_parser_options options = PYDBG_TB_PARSER_OPTIONS_INIT;
    pydbg_tb_parser *p;
    options.max_traceback_bytes = max_bytes;
    if (pydbg_tb_parser_new(&p, &options) != PYDBG_OK)
        abort();
    for (size_t off = 0; off < size || (size == 0 && off == 0);) {
        size_t n = chunk == 0 || size - off < chunk ? size - off : chunk;
        if (pydbg_tb_parser_feed(p, data + off, n) != PYDBG_OK)
            abort();
        off += n;
        if (n == 0)
            break;
        for (;;) {
            pydbg_traceback *tb;
            if (pydbg_tb_parser_next(p, &tb) != PYDBG_OK)
                abort();
            if (!tb)
                break;
            for (int format = 0; format < 2; format++) {
                char *s;
                size_t len;
                if (pydbg_traceback_format(&s, &len, tb, format) != PYDBG_OK)
                    abort();
                out.text = realloc(out.text, out.length + len + 1);
                if (!out.text)
                    abort();
                memcpy(out.text + out.length, s, len);
                out.length += len;
                out.text[out.length++] = '\n';
                pydbg_tb_string_free(s);
            }
            pydbg_traceback_free(tb);
        }
        if (chunk == 0)
            break;
    }
    if (pydbg_tb_parser_finish(p) != PYDBG_OK)
        abort();
    for (;;) {
        pydbg_traceback *tb;
        if (pydbg_tb_parser_next(p, &tb) != PYDBG_OK)
            abort();
        if (!tb)
            break;
        for (int format = 0; format < 2; format++) {
            char *s;
            size_t len;
            if (pydbg_traceback_format(&s, &len, tb, format) != PYDBG_OK)
                abort();
            out.text = realloc(out.text, out.length + len + 1);
            if (!out.text)
                abort();
            memcpy(out.text + out.length, s, len);
            out.length += len;
            out.text[out.length++] = '\n';
            pydbg_tb_string_free(s);
        }
        pydbg_traceback_free(tb);
    }
    pydbg_tb_parser_free(p);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t chunk;
    collected whole, pieces;
    if (size == 0)
        return 0;
    chunk = data[0];
    data++;
    size--;
    whole = decode((const char *)data, size, 0, 0);
    pieces = decode((const char *)data, size, chunk, 0);
    if (whole.length != pieces.length ||
        (whole.length && memcmp(whole.text, pieces.text, whole.length) != 0))
        abort(); /* the result must not depend on how the input was split */
    free(whole.text);
    free(pieces.text);
    /* a small size bound must cut, never crash */
    pieces = decode((const char *)data, size, chunk, 64);
    free(pieces.text);
    return 0;
}
