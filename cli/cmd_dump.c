/* pydebug dump: one snapshot of every thread's Python stack. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "pydebug.h"
#include "stack_output.h"

static const char dump_usage[] =
    "usage: pydebug dump --pid PID [--format text|json|faulthandler] [--paused]\n"
    "                    [--max-depth N] [--no-thread-names]\n"
    "\n"
    "Prints every thread's Python stack of a live process, innermost frame first.\n"
    "\n"
    "  --pid PID          the process to inspect (required)\n"
    "  --format FORMAT    text (default), json, or faulthandler (CPython's own layout)\n"
    "  --paused           stop the process (ptrace) while reading, for a consistent view\n"
    "  --max-depth N      keep at most N frames per thread (default 1000000)\n"
    "  --no-thread-names  do not look up threading.Thread names\n"
    "  --native           native (C) frames: not supported yet; an error\n"
    "\n"
    "Exit status: 0 ok, 1 error, 3 no such process, 4 permission denied,\n"
    "5 not a Python process or unsupported Python version.\n";

int pydbg_cli_dump(int argc, char **argv)
{
    static const struct option options[] = {
        {"pid", required_argument, NULL, 'p'},      {"format", required_argument, NULL, 'f'},
        {"paused", no_argument, NULL, 'P'},         {"max-depth", required_argument, NULL, 'd'},
        {"no-thread-names", no_argument, NULL, 'N'}, {"native", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    pydbg_attach_options attach = PYDBG_ATTACH_OPTIONS_INIT;
    pydbg_capture_options capture = PYDBG_CAPTURE_OPTIONS_INIT;
    pydbg_process *process = NULL;
    pydbg_stacks *stacks = NULL;
    int pid = 0, format = PYDBG_STACKS_FORMAT_TEXT, opt, rc;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "p:f:h", options, NULL)) != -1) {
        switch (opt) {
        case 'p':
            pid = cli_parse_pid(optarg);
            if (!pid)
                return cli_error(CLI_EXIT_ERROR, "dump: --pid needs a process ID, not '%s'",
                                 optarg);
            break;
        case 'f':
            format = cli_stacks_format_from_name(optarg);
            if (format < 0)
                return cli_error(CLI_EXIT_ERROR,
                                 "dump: unknown format '%s' (text, json or faulthandler)", optarg);
            break;
        case 'P':
            capture.flags |= PYDBG_CAPTURE_PAUSE;
            break;
        case 'd':
            if (!cli_parse_max_depth("dump", optarg, &capture.max_depth))
                return CLI_EXIT_ERROR;
            break;
        case 'N':
            capture.flags |= PYDBG_CAPTURE_NO_THREAD_NAMES;
            break;
        case 'n':
            return cli_error(CLI_EXIT_ERROR,
                             "dump: --native: native frames are not supported by this "
                             "version of pydebug");
        case 'h':
            fputs(dump_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_unknown_option("dump", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_error(CLI_EXIT_ERROR, "dump: unexpected argument '%s'", argv[optind]);
    if (!pid)
        return cli_error(CLI_EXIT_ERROR, "dump: --pid PID is required");

    rc = pydbg_process_attach(&process, pid, &attach);
    if (rc != PYDBG_OK)
        return cli_error(cli_exit_status(rc), "%s", pydbg_last_error());
    rc = pydbg_stacks_capture(&stacks, process, &capture);
    if (rc != PYDBG_OK) {
        int status = cli_error(cli_exit_status(rc == PYDBG_EEXITED ? PYDBG_ENOPROC : rc),
                               "cannot read the stacks of process %d: %s", pid,
                               pydbg_process_errmsg(process));
        pydbg_process_close(process);
        return status;
    }
    rc = cli_print_stacks(process, stacks, format);
    pydbg_stacks_free(stacks);
    pydbg_process_close(process);
    return rc;
}
