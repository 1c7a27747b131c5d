/* tb_roundtrip FILE CHUNK: decodes FILE fed in pieces of CHUNK bytes and writes
 * every traceback back out as text (public API only), each followed by a line
 * "\x1e" so the checker can split them. */
#include <stdio.h>
#include <stdlib.h>

#include "pydebug.h"

int main(int argc, char **argv)
{
    FILE *in;
    char *data;
    long size;
    size_t chunk;
    pydbg_tb_parser *p;
    pydbg_traceback *tb;
    if (argc != 3)
        return 2;
    in = fopen(argv[1], "rb");
    if (!in || fseek(in, 0, SEEK_END) != 0 || (size = ftell(in)) < 0)
        return 2;
    rewind(in);
    data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, in) != (size_t)size)
        return 2;
    fclose(in);
    chunk = (size_t)strtoul(argv[2], NULL, 10);
    if (chunk == 0)
        chunk = (size_t)size + 1;
    if (pydbg_tb_parser_new(&p, NULL) != PYDBG_OK)
        return 2;
    for (size_t off = 0;; off += chunk) {
        size_t n = (size_t)size - off < chunk ? (size_t)size - off : chunk;
        if (off >= (size_t)size)
            break;
        if (pydbg_tb_parser_feed(p, data + off, n) != PYDBG_OK)
            return 3;
        while (pydbg_tb_parser_next(p, &tb) == PYDBG_OK && tb) {
            char *text;
            if (pydbg_traceback_format(&text, NULL, tb, PYDBG_TB_FORMAT_TEXT) != PYDBG_OK)
                return 3;
            printf("%llu\n%s\x1e\n", (unsigned long long)pydbg_traceback_start_line(tb), text);
            pydbg_tb_string_free(text);
            pydbg_traceback_free(tb);
        }
    }
    if (pydbg_tb_parser_finish(p) != PYDBG_OK)
        return 3;
    while (pydbg_tb_parser_next(p, &tb) == PYDBG_OK && tb) {
        char *text;
        if (pydbg_traceback_format(&text, NULL, tb, PYDBG_TB_FORMAT_TEXT) != PYDBG_OK)
            return 3;
        printf("%llu\n%s\x1e\n", (unsigned long long)pydbg_traceback_start_line(tb), text);
        pydbg_tb_string_free(text);
        pydbg_traceback_free(tb);
    }
    pydbg_tb_parser_free(p);
    free(data);
    return 0;
}
