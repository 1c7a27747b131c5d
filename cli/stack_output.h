/* Printing a capture of every thread's stack, shared by `dump` and `core`. */
#ifndef PYDEBUG_CLI_STACK_OUTPUT_H
#define PYDEBUG_CLI_STACK_OUTPUT_H

#include "pydebug.h"

/* The JSON of the CLI contract ("pid", "python_version", "threads"), on stdout. */
void cli_print_stacks_json(pydbg_process *process, const pydbg_stacks *stacks);

/* faulthandler's layout, so that the traceback parser (and people) read it. */
void cli_print_stacks_text(pydbg_process *process, const pydbg_stacks *stacks);

#endif
