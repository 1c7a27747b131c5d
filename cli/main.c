/* pydebug: the command-line front end of libpydebug. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "pydebug.h"

int cli_error(int status, const char *fmt, ...)
{
    char message[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    /* One line, always: the contract lets scripts read the first line. */
    for (char *p = message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "pydebug: %s\n", message);
    return status;
}

int cli_unknown_option(const char *command, const char *option)
{
    return cli_error(CLI_EXIT_ERROR, "%s: unknown or incomplete option '%s' (see 'pydebug %s --help')",
                     command, option, command);
}

int cli_exit_status(int error)
{
    switch (error) {
    case PYDBG_OK: return CLI_EXIT_OK;
    case PYDBG_ENOPROC: return CLI_EXIT_NO_PROCESS;
    case PYDBG_EPERM: return CLI_EXIT_PERMISSION;
    case PYDBG_ENOTPYTHON:
    case PYDBG_EVERSION: return CLI_EXIT_NOT_PYTHON;
    default: return CLI_EXIT_ERROR;
    }
}

int cli_parse_pid(const char *text)
{
    char *end;
    long value;
    if (!text || !*text)
        return 0;
    value = strtol(text, &end, 10);
    if (*end != '\0' || value <= 0 || value > 0x3fffffff)
        return 0;
    return (int)value;
}

int cli_parse_max_depth(const char *command, const char *text, uint32_t *out)
{
    char *end;
    unsigned long depth = strtoul(text, &end, 10);
    if (*end || !*text || text[0] == '-' || depth == 0 || depth > 100000000ul) {
        cli_error(CLI_EXIT_ERROR, "%s: --max-depth needs a positive number", command);
        return 0;
    }
    *out = (uint32_t)depth;
    return 1;
}

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"dump", pydbg_cli_dump, "print every thread's Python stack of a live process"},
    {"traceback", pydbg_cli_traceback, "find and decode Python tracebacks in logs"},
    {"record", pydbg_cli_record, "sample a live process's stacks into a profile file"},
    {"top", pydbg_cli_top, "live view of the hottest functions of a live process"},
    {"snapshot", pydbg_cli_snapshot, "save a memory snapshot of a live process to a file"},
    {"diff", pydbg_cli_diff, "show what grew between two snapshots"},
    {"core", pydbg_cli_core, "print every thread's Python stack from a core file"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: pydebug COMMAND [OPTIONS]\n       pydebug --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'pydebug COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_error(CLI_EXIT_ERROR, "no command given (run 'pydebug --help' for the list)");
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("pydebug %s (libpydebug %s)\n", PYDBG_VERSION_STRING, pydbg_version_string());
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    return cli_error(CLI_EXIT_ERROR, "unknown command '%s' (run 'pydebug --help')", argv[1]);
}
