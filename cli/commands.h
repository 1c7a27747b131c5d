/* The pydebug subcommands and what they share: exit codes and error lines
 * exactly as ../shared/cli-contract.md fixes them. */
#ifndef PYDEBUG_CLI_COMMANDS_H
#define PYDEBUG_CLI_COMMANDS_H

#include <stdint.h>

/* Exit statuses of the contract. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,      /* usage or other error */
    CLI_EXIT_NO_PROCESS = 3,
    CLI_EXIT_PERMISSION = 4,
    CLI_EXIT_NOT_PYTHON = 5, /* not a Python process, or unsupported version */
};

/* Each command gets argv with argv[0] = its name and returns the exit status. */
int pydbg_cli_dump(int argc, char **argv);
int pydbg_cli_traceback(int argc, char **argv);
int pydbg_cli_record(int argc, char **argv);
int pydbg_cli_top(int argc, char **argv);
int pydbg_cli_snapshot(int argc, char **argv);
int pydbg_cli_diff(int argc, char **argv);
int pydbg_cli_core(int argc, char **argv);

/* Prints "pydebug: <message>" as one line on stderr and returns `status`. */
int cli_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The error for an option `command` does not know, or one given without its
 * value (`option` as on the command line); returns CLI_EXIT_ERROR. */
int cli_unknown_option(const char *command, const char *option);

/* The exit status for a libpydebug error code. */
int cli_exit_status(int error);

/* Parses a positive process ID; 0 if `text` is not one. */
int cli_parse_pid(const char *text);

/* Parses a --max-depth value (1 to 100000000) into `*out`; on a bad value prints
 * "pydebug: COMMAND: --max-depth needs a positive number" and returns 0. */
int cli_parse_max_depth(const char *command, const char *text, uint32_t *out);

#endif
