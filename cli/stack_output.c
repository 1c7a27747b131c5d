/* How `pydebug dump` and `pydebug core` print a capture of every thread's
 * stack: the library formats it (pydbg_stacks_format), the tool only writes it. */
#include "stack_output.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"

int cli_stacks_format_from_name(const char *name)
{
    if (strcmp(name, "text") == 0)
        return PYDBG_STACKS_FORMAT_TEXT;
    if (strcmp(name, "json") == 0)
        return PYDBG_STACKS_FORMAT_JSON;
    if (strcmp(name, "faulthandler") == 0)
        return PYDBG_STACKS_FORMAT_FAULTHANDLER;
    return -1;
}

int cli_print_stacks(const pydbg_process *process, const pydbg_stacks *stacks, int format)
{
    char *text = NULL;
    size_t length = 0;
    int rc = pydbg_stacks_format(&text, &length, stacks, process, format);
    if (rc != PYDBG_OK)
        return cli_error(CLI_EXIT_ERROR, "cannot format the stacks: %s", pydbg_last_error());
    fwrite(text, 1, length, stdout);
    /* The JSON document is one line of output. */
    if (format == PYDBG_STACKS_FORMAT_JSON)
        fputc('\n', stdout);
    pydbg_tb_string_free(text);
    if (fflush(stdout) != 0)
        return cli_error(CLI_EXIT_ERROR, "cannot write the output");
    return CLI_EXIT_OK;
}
