/* Runs `pydebug traceback` alone: the real cli/cmd_traceback.c with a minimal
 * main, so the traceback tests do not depend on the other commands building. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

int cli_error(int status, const char *fmt, ...)
{
    char message[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    for (char *p = message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "pydebug: %s\n", message);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "traceback") != 0)
        return cli_error(CLI_EXIT_ERROR, "usage: %s traceback [FILE...] [--format text|json]",
                         argv[0]);
    return pydbg_cli_traceback(argc - 1, argv + 1);
}
