/* Printing a capture of every thread's stack, shared by `dump` and `core`. */
#ifndef PYDEBUG_CLI_STACK_OUTPUT_H
#define PYDEBUG_CLI_STACK_OUTPUT_H

#include "pydebug.h"

/* Parses a --format value of dump and core (text, json, faulthandler) into a
 * ::pydbg_stacks_output_format; -1 if it is none of them. */
int cli_stacks_format_from_name(const char *name);

/* Writes the capture to stdout in `format` (the JSON document ends with a newline) and
 * flushes it.
 * Returns CLI_EXIT_OK, or the status of the error it reported. */
int cli_print_stacks(const pydbg_process *process, const pydbg_stacks *stacks, int format);

#endif
