/* decode_traceback: finds every Python traceback in a log and prints, for
 * each, where it starts and the exception that ended it, with its innermost
 * frame; then the first one back in CPython's own format.
 *
 *   decode_traceback [FILE]      (standard input when no FILE)
 *
 * Uses only the public API: a parser fed in pieces of any size, a pull loop
 * over the decoded tracebacks, accessors, and the formatter. */
#include <stdio.h>
#include <stdlib.h>

#include <pydebug.h>

static void describe(const pydbg_traceback *tb)
{
    size_t n = pydbg_traceback_exception_count(tb);
    const pydbg_tb_exception *last = pydbg_traceback_exception(tb, n - 1);
    size_t frames = pydbg_tb_exception_frame_count(last);
    printf("line %llu: ", (unsigned long long)pydbg_traceback_start_line(tb));
    if (pydbg_traceback_kind(tb) == PYDBG_TB_KIND_THREAD) {
        printf("thread dump, %zu frames\n", frames);
        return;
    }
    printf("%s", pydbg_tb_exception_type(last) ? pydbg_tb_exception_type(last) : "(cut short)");
    if (pydbg_tb_exception_message(last) && *pydbg_tb_exception_message(last))
        printf(": %s", pydbg_tb_exception_message(last));
    printf(" (%zu exception%s in the chain)\n", n, n == 1 ? "" : "s");
    if (frames) {
        /* exception frames are printed outermost first: the last is where it was raised */
        const pydbg_tb_frame *f = pydbg_tb_exception_frame(last, frames - 1);
        printf("    raised in %s at %s:%d\n", pydbg_tb_frame_function(f),
               pydbg_tb_frame_filename(f), pydbg_tb_frame_line(f));
    }
}

int main(int argc, char **argv)
{
    FILE *in = argc > 1 ? fopen(argv[1], "rb") : stdin;
    pydbg_tb_parser *parser;
    pydbg_traceback *tb, *first = NULL;
    char chunk[65536];
    size_t n;
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    if (pydbg_tb_parser_new(&parser, NULL) != PYDBG_OK) {
        fprintf(stderr, "decode_traceback: %s\n", pydbg_last_error());
        return 1;
    }
    for (int done = 0; !done;) {
        n = fread(chunk, 1, sizeof chunk, in);
        if (n > 0 && pydbg_tb_parser_feed(parser, chunk, n) != PYDBG_OK)
            break;
        if (n < sizeof chunk) {
            pydbg_tb_parser_finish(parser);
            done = 1;
        }
        while (pydbg_tb_parser_next(parser, &tb) == PYDBG_OK && tb) {
            describe(tb);
            if (!first)
                first = tb; /* tracebacks outlive the parser: keep one */
            else
                pydbg_traceback_free(tb);
        }
    }
    if (first) {
        char *text;
        if (pydbg_traceback_format(&text, NULL, first, PYDBG_TB_FORMAT_TEXT) == PYDBG_OK) {
            printf("\nthe first one, as Python printed it:\n%s", text);
            pydbg_tb_string_free(text);
        }
        pydbg_traceback_free(first);
    }
    pydbg_tb_parser_free(parser);
    if (in != stdin)
        fclose(in);
    return 0;
}
