/* pydebug core: what `dump` prints, from a core file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "pydebug.h"
#include "stack_output.h"

static const char core_usage[] =
    "usage: pydebug core CORE [--exe PYTHON] [--format text|json|faulthandler]\n"
    "                    [--max-depth N] [--no-thread-names]\n"
    "\n"
    "Prints every thread's Python stack of the process a core file was taken from\n"
    "(by the kernel or by gdb's gcore), innermost frame first, as 'pydebug dump' does.\n"
    "The files the process had mapped (python, libpython, ...) must be on this machine\n"
    "at the paths the core records: memory the core leaves out is read from them.\n"
    "\n"
    "  --exe PYTHON       open the main executable from PYTHON instead of its recorded path\n"
    "  --format FORMAT    text (default), json, or faulthandler (CPython's own layout)\n"
    "  --max-depth N      keep at most N frames per thread (default 1000000)\n"
    "  --no-thread-names  do not look up threading.Thread names\n"
    "\n"
    "Exit status: 0 ok, 1 error (no such file, not a core, truncated or corrupt core),\n"
    "4 permission denied, 5 not a Python process or unsupported Python version.\n";

int pydbg_cli_core(int argc, char **argv)
{
    static const struct option options[] = {
        {"exe", required_argument, NULL, 'e'},       {"format", required_argument, NULL, 'f'},
        {"max-depth", required_argument, NULL, 'd'}, {"no-thread-names", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    pydbg_capture_options capture = PYDBG_CAPTURE_OPTIONS_INIT;
    pydbg_process *process = NULL;
    pydbg_stacks *stacks = NULL;
    const char *core_path = NULL, *exe = NULL;
    int format = PYDBG_STACKS_FORMAT_TEXT, opt, rc;
    optind = 1;
    opterr = 0;
    /* "+" is not used: the core may come before or after the options. */
    while ((opt = getopt_long(argc, argv, "f:h", options, NULL)) != -1) {
        switch (opt) {
        case 'e':
            exe = optarg;
            break;
        case 'f':
            format = cli_stacks_format_from_name(optarg);
            if (format < 0)
                return cli_error(CLI_EXIT_ERROR,
                                 "core: unknown format '%s' (text, json or faulthandler)", optarg);
            break;
        case 'd':
            if (!cli_parse_max_depth("core", optarg, &capture.max_depth))
                return CLI_EXIT_ERROR;
            break;
        case 'N':
            capture.flags |= PYDBG_CAPTURE_NO_THREAD_NAMES;
            break;
        case 'h':
            fputs(core_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_unknown_option("core", argv[optind - 1]);
        }
    }
    if (optind < argc)
        core_path = argv[optind++];
    if (optind < argc)
        return cli_error(CLI_EXIT_ERROR, "core: unexpected argument '%s' (one core file)",
                         argv[optind]);
    if (!core_path || !*core_path)
        return cli_error(CLI_EXIT_ERROR, "core: the core file is required (pydebug core CORE)");

    rc = pydbg_process_open_core(&process, core_path, exe, NULL);
    if (rc != PYDBG_OK)
        return cli_error(cli_exit_status(rc), "%s", pydbg_last_error());
    rc = pydbg_stacks_capture(&stacks, process, &capture);
    if (rc != PYDBG_OK) {
        int status = cli_error(cli_exit_status(rc), "cannot read the stacks in core file %s: %s",
                               core_path, pydbg_process_errmsg(process));
        pydbg_process_close(process);
        return status;
    }
    rc = cli_print_stacks(process, stacks, format);
    pydbg_stacks_free(stacks);
    pydbg_process_close(process);
    return rc;
}
