/* pydebug dump: one snapshot of every thread's Python stack. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "json.h"
#include "pydebug.h"

static const char dump_usage[] =
    "usage: pydebug dump --pid PID [--format text|json] [--paused] [--max-depth N]\n"
    "                    [--no-thread-names]\n"
    "\n"
    "Prints every thread's Python stack of a live process, innermost frame first.\n"
    "\n"
    "  --pid PID          the process to inspect (required)\n"
    "  --format FORMAT    text (default) or json\n"
    "  --paused           stop the process (ptrace) while reading, for a consistent view\n"
    "  --max-depth N      keep at most N frames per thread (default 1000000)\n"
    "  --no-thread-names  do not look up threading.Thread names\n"
    "  --native           native (C) frames: not supported yet; an error\n"
    "\n"
    "Exit status: 0 ok, 1 error, 3 no such process, 4 permission denied,\n"
    "5 not a Python process or unsupported Python version.\n";

static void print_frame_json(json_writer *w, const pydbg_frame *f)
{
    json_begin_object(w);
    json_key(w, "function");
    json_string(w, pydbg_frame_function(f));
    json_key(w, "qualname");
    json_string(w, pydbg_frame_qualname(f));
    json_key(w, "filename");
    json_string(w, pydbg_frame_filename(f));
    json_key(w, "line");
    if (pydbg_frame_line(f) >= 0)
        json_int(w, pydbg_frame_line(f));
    else
        json_null(w);
#define OPTIONAL_INT(name, value) \
    json_key(w, name);            \
    if ((value) >= 0)             \
        json_int(w, value);       \
    else                          \
        json_null(w)
    OPTIONAL_INT("column", pydbg_frame_column(f));
    OPTIONAL_INT("end_line", pydbg_frame_end_line(f));
    OPTIONAL_INT("end_column", pydbg_frame_end_column(f));
#undef OPTIONAL_INT
    json_end_object(w);
}

static void print_json(pydbg_process *process, const pydbg_stacks *stacks)
{
    json_writer w;
    json_init(&w, stdout, 0);
    json_begin_object(&w);
    json_key(&w, "pid");
    json_int(&w, pydbg_process_pid(process));
    json_key(&w, "python_version");
    json_string(&w, pydbg_process_python_version(process));
    json_key(&w, "threads");
    json_begin_array(&w);
    for (size_t i = 0; i < pydbg_stacks_thread_count(stacks); i++) {
        const pydbg_thread *t = pydbg_stacks_thread(stacks, i);
        json_begin_object(&w);
        json_key(&w, "interpreter_id");
        json_int(&w, pydbg_thread_interpreter_id(t));
        json_key(&w, "thread_id");
        json_uint(&w, pydbg_thread_ident(t));
        json_key(&w, "native_id");
        if (pydbg_thread_native_id(t) >= 0)
            json_int(&w, pydbg_thread_native_id(t));
        else
            json_null(&w);
        json_key(&w, "name");
        json_string(&w, pydbg_thread_name(t));
        json_key(&w, "is_main");
        json_bool(&w, pydbg_thread_is_main(t));
        json_key(&w, "holds_gil");
        if (pydbg_thread_holds_gil(t) >= 0)
            json_bool(&w, pydbg_thread_holds_gil(t));
        else
            json_null(&w);
        if (pydbg_thread_truncated(t)) {
            json_key(&w, "truncated");
            json_bool(&w, 1);
        }
        if (pydbg_thread_error(t) != PYDBG_OK) {
            json_key(&w, "error");
            json_string(&w, pydbg_thread_errmsg(t));
        }
        json_key(&w, "frames");
        json_begin_array(&w);
        for (size_t j = 0; j < pydbg_thread_frame_count(t); j++)
            print_frame_json(&w, pydbg_thread_frame(t, j));
        json_end_array(&w);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    json_finish(&w);
}

/* faulthandler's layout, so that the traceback parser (and people) read it. */
static void print_text(pydbg_process *process, const pydbg_stacks *stacks)
{
    printf("Process %d: Python %s\n", pydbg_process_pid(process),
           pydbg_process_python_version(process));
    for (size_t i = 0; i < pydbg_stacks_thread_count(stacks); i++) {
        const pydbg_thread *t = pydbg_stacks_thread(stacks, i);
        printf("\nThread 0x%016" PRIx64, pydbg_thread_ident(t));
        if (pydbg_thread_name(t))
            printf(" \"%s\"", pydbg_thread_name(t));
        if (pydbg_thread_native_id(t) >= 0)
            printf(" native=%" PRId64, pydbg_thread_native_id(t));
        if (pydbg_thread_is_main(t))
            printf(" main");
        if (pydbg_thread_holds_gil(t) == 1)
            printf(" gil");
        printf(" (most recent call first):\n");
        for (size_t j = 0; j < pydbg_thread_frame_count(t); j++) {
            const pydbg_frame *f = pydbg_thread_frame(t, j);
            const char *name = pydbg_frame_qualname(f) ? pydbg_frame_qualname(f)
                                                       : pydbg_frame_function(f);
            if (pydbg_frame_line(f) >= 0)
                printf("  File \"%s\", line %d in %s\n", pydbg_frame_filename(f),
                       pydbg_frame_line(f), name);
            else
                printf("  File \"%s\", line ??? in %s\n", pydbg_frame_filename(f), name);
        }
        if (pydbg_thread_truncated(t))
            printf("  ...\n");
        if (pydbg_thread_error(t) != PYDBG_OK)
            printf("  <stack incomplete: %s>\n", pydbg_thread_errmsg(t));
    }
}

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
    int pid = 0, json = 0, opt, rc;
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
            if (strcmp(optarg, "json") == 0)
                json = 1;
            else if (strcmp(optarg, "text") == 0)
                json = 0;
            else
                return cli_error(CLI_EXIT_ERROR, "dump: unknown format '%s' (text or json)",
                                 optarg);
            break;
        case 'P':
            capture.flags |= PYDBG_CAPTURE_PAUSE;
            break;
        case 'd': {
            char *end;
            unsigned long depth = strtoul(optarg, &end, 10);
            if (*end || depth == 0 || depth > 100000000ul)
                return cli_error(CLI_EXIT_ERROR, "dump: --max-depth needs a positive number");
            capture.max_depth = (uint32_t)depth;
            break;
        }
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
            return cli_error(CLI_EXIT_ERROR, "dump: unknown or incomplete option '%s' (see "
                             "'pydebug dump --help')", argv[optind - 1]);
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
    if (json)
        print_json(process, stacks);
    else
        print_text(process, stacks);
    pydbg_stacks_free(stacks);
    pydbg_process_close(process);
    if (fflush(stdout) != 0)
        return cli_error(CLI_EXIT_ERROR, "cannot write the output");
    return CLI_EXIT_OK;
}
