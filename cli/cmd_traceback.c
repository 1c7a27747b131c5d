/* pydebug traceback [FILE...] [--format text|json]: finds and decodes every
 * Python traceback in logs (stdin when no FILE, or for "-"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "json.h"
#include "pydebug.h"

#define READ_CHUNK (1u << 20)

typedef struct tb_output {
    int json;
    int count; /* tracebacks written so far, over all files */
} tb_output;

static void tb_usage(FILE *out)
{
    fprintf(out,
            "usage: pydebug traceback [FILE...] [--format text|json]\n\n"
            "Finds every Python traceback in FILEs (standard input when none, or for '-'):\n"
            "exception tracebacks of CPython 2.7 and 3.x, exception groups, faulthandler\n"
            "dumps and 'pydebug dump' output, with log prefixes, colours and CRLF removed.\n\n"
            "  --format text  CPython's own text, each traceback after a '# FILE:LINE' line\n"
            "  --format json  {\"tracebacks\": [...]} (see the CLI contract)\n");
}

/* Writes one traceback; the JSON object gains the file it came from. */
static int write_traceback(tb_output *o, const pydbg_traceback *tb, const char *name)
{
    char *text = NULL;
    size_t length = 0;
    int rc = pydbg_traceback_format(&text, &length, tb,
                                    o->json ? PYDBG_TB_FORMAT_JSON : PYDBG_TB_FORMAT_TEXT);
    if (rc != PYDBG_OK)
        return rc;
    if (o->json) {
        json_writer w;
        fputs(o->count ? ",\n  {\"file\": " : "\n  {\"file\": ", stdout);
        json_init(&w, stdout, 0);
        json_string(&w, name);
        fputs(", ", stdout);
        fwrite(text + 1, 1, length - 1, stdout); /* the formatter's object, after its '{' */
    } else {
        if (o->count)
            fputc('\n', stdout);
        printf("# %s:%llu\n", name, (unsigned long long)pydbg_traceback_start_line(tb));
        fwrite(text, 1, length, stdout);
    }
    o->count++;
    pydbg_tb_string_free(text);
    return PYDBG_OK;
}

static int drain(tb_output *o, pydbg_tb_parser *parser, const char *name)
{
    for (;;) {
        pydbg_traceback *tb;
        int rc = pydbg_tb_parser_next(parser, &tb);
        if (rc != PYDBG_OK)
            return rc;
        if (!tb)
            return PYDBG_OK;
        rc = write_traceback(o, tb, name);
        pydbg_traceback_free(tb);
        if (rc != PYDBG_OK)
            return rc;
    }
}

static int decode_stream(tb_output *o, FILE *in, const char *name, char *chunk)
{
    pydbg_tb_parser *parser;
    int rc = pydbg_tb_parser_new(&parser, NULL);
    if (rc != PYDBG_OK)
        return cli_error(CLI_EXIT_ERROR, "cannot create a traceback parser: %s",
                         pydbg_last_error());
    for (;;) {
        size_t n = fread(chunk, 1, READ_CHUNK, in);
        if (n) {
            rc = pydbg_tb_parser_feed(parser, chunk, n);
            if (rc == PYDBG_OK)
                rc = drain(o, parser, name);
            if (rc != PYDBG_OK)
                break;
        }
        if (n < READ_CHUNK) {
            if (ferror(in)) {
                int saved = errno;
                pydbg_tb_parser_free(parser);
                return cli_error(CLI_EXIT_ERROR, "cannot read %s: %s", name, strerror(saved));
            }
            if (feof(in))
                break;
        }
    }
    if (rc == PYDBG_OK)
        rc = pydbg_tb_parser_finish(parser);
    if (rc == PYDBG_OK)
        rc = drain(o, parser, name);
    if (rc != PYDBG_OK) {
        int status = cli_error(CLI_EXIT_ERROR, "decoding %s: %s", name,
                               pydbg_tb_parser_errmsg(parser)[0] ? pydbg_tb_parser_errmsg(parser)
                                                                 : pydbg_strerror(rc));
        pydbg_tb_parser_free(parser);
        return status;
    }
    pydbg_tb_parser_free(parser);
    return CLI_EXIT_OK;
}

int pydbg_cli_traceback(int argc, char **argv)
{
    tb_output o = {0, 0};
    const char **files;
    FILE **streams;
    int nfiles = 0, status = CLI_EXIT_OK;
    char *chunk;

    files = calloc((size_t)argc + 1, sizeof *files);
    if (!files)
        return cli_error(CLI_EXIT_ERROR, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *format = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            tb_usage(stdout);
            free(files);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--format") == 0) {
            if (i + 1 >= argc) {
                free(files);
                return cli_error(CLI_EXIT_ERROR, "--format needs a value: text or json");
            }
            format = argv[++i];
        } else if (strncmp(a, "--format=", 9) == 0) {
            format = a + 9;
        } else if (a[0] == '-' && a[1] != '\0') {
            free(files);
            return cli_error(CLI_EXIT_ERROR,
                             "unknown option '%s' (run 'pydebug traceback --help')", a);
        } else {
            files[nfiles++] = a;
        }
        if (format) {
            if (strcmp(format, "json") == 0) {
                o.json = 1;
            } else if (strcmp(format, "text") == 0) {
                o.json = 0;
            } else {
                free(files);
                return cli_error(CLI_EXIT_ERROR,
                                 "unknown format '%s': use --format text or --format json",
                                 format);
            }
        }
    }
    if (nfiles == 0)
        files[nfiles++] = "-";

    /* Open every file first: a missing one fails the command before any output. */
    streams = calloc((size_t)nfiles, sizeof *streams);
    chunk = malloc(READ_CHUNK);
    if (!streams || !chunk) {
        free(files);
        free(streams);
        free(chunk);
        return cli_error(CLI_EXIT_ERROR, "out of memory");
    }
    for (int i = 0; i < nfiles && status == CLI_EXIT_OK; i++) {
        if (strcmp(files[i], "-") == 0) {
            streams[i] = stdin;
        } else {
            streams[i] = fopen(files[i], "rb");
            if (!streams[i])
                status = cli_error(CLI_EXIT_ERROR, "cannot open %s: %s", files[i],
                                   strerror(errno));
        }
    }
    if (status == CLI_EXIT_OK) {
        if (o.json)
            fputs("{\"tracebacks\": [", stdout);
        for (int i = 0; i < nfiles && status == CLI_EXIT_OK; i++)
            status = decode_stream(&o, streams[i], strcmp(files[i], "-") ? files[i] : "<stdin>",
                                   chunk);
        if (o.json)
            fputs(o.count ? "\n]}\n" : "]}\n", stdout);
        if (fflush(stdout) != 0 && status == CLI_EXIT_OK)
            status = cli_error(CLI_EXIT_ERROR, "cannot write the output: %s", strerror(errno));
    }
    for (int i = 0; i < nfiles; i++)
        if (streams[i] && streams[i] != stdin)
            fclose(streams[i]);
    free(streams);
    free(chunk);
    free(files);
    return status;
}
