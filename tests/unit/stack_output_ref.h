/* The CLI's stack printers as they were before pydbg_stacks_format(): the
 * reference test_stacks_format compares the library's output with. */
#ifndef PYDBG_TEST_STACK_OUTPUT_REF_H
#define PYDBG_TEST_STACK_OUTPUT_REF_H

#include <stdio.h>

#include "pydebug.h"

void ref_print_stacks_json(FILE *out, pydbg_process *process, const pydbg_stacks *stacks);
void ref_print_stacks_text(FILE *out, pydbg_process *process, const pydbg_stacks *stacks);

#endif
