/* pydebug top: a live view of the functions a process spends its time in.
 *
 * On a terminal, the table is redrawn in place with a few ANSI escapes (cursor home,
 * clear to end of line / of screen, hide and show the cursor) that any terminal over
 * ssh understands; keys are read from stdin in non-canonical mode and the terminal is
 * restored on every way out. When stdout is not a terminal, a plain table is printed
 * at every refresh instead, for logs and scripts. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "commands.h"
#include "sampling.h"

static const char top_usage[] =
    "usage: pydebug top --pid PID [--rate HZ] [--interval S] [--duration S] [--rows N]\n"
    "                   [--gil] [--running] [--max-depth N]\n"
    "\n"
    "Samples a live process without stopping it and shows the functions it spends its\n"
    "time in, refreshed every --interval seconds:\n"
    "  %Own     share of the sampled thread stacks whose innermost frame is in the function\n"
    "  %Total   share of the sampled thread stacks the function is anywhere in\n"
    "  OwnTime, TotalTime  the same since the start, in seconds of thread time\n"
    "(percentages are over the last interval, so all threads together make 100% own).\n"
    "\n"
    "  --pid PID        the process to watch (required)\n"
    "  --rate HZ        samples per second (default 100, at most 1000000; see\n"
    "                   'pydebug record --help' for how the rate is kept)\n"
    "  --interval S     seconds between refreshes (default 1)\n"
    "  --duration S     quit after S seconds (default: on q, Ctrl-C or when the process exits)\n"
    "  --rows N         functions shown (default: what fits the terminal, or 20)\n"
    "  --gil            count only the thread holding the GIL in each sample\n"
    "  --running        count only threads running on a CPU (reads /proc for each thread)\n"
    "  --max-depth N    keep at most N frames per thread (the innermost ones)\n"
    "\n"
    "Keys: q quits, o sorts by own time, t by total time. When stdout is not a terminal\n"
    "a plain table is printed at every refresh.\n"
    "\n"
    "Exit status: 0 ok (also when the process exits), 1 error, 3 no such process,\n"
    "4 permission denied, 5 not a Python process or unsupported Python version.\n";

typedef struct top_entry {
    uint64_t code;
    uint64_t own, total;         /* this interval */
    uint64_t own_all, total_all; /* since the start */
    uint64_t stamp;              /* the last thread stack counted in `total` */
} top_entry;

typedef struct top_state {
    cli_map index;
    top_entry *entries;
    size_t count, capacity;
    uint64_t stacks, stacks_all, serial;
    int sort_total;
} top_state;

static top_entry *entry_for(top_state *s, uint64_t code)
{
    uint32_t i;
    if (cli_map_get(&s->index, code, 0, &i))
        return &s->entries[i];
    if (s->count == s->capacity) {
        size_t capacity = s->capacity ? s->capacity * 2 : 256;
        top_entry *grown = realloc(s->entries, capacity * sizeof *grown);
        if (!grown)
            return NULL;
        s->entries = grown;
        s->capacity = capacity;
    }
    if (cli_map_put(&s->index, code, 0, (uint32_t)s->count) != 0)
        return NULL;
    memset(&s->entries[s->count], 0, sizeof s->entries[s->count]);
    s->entries[s->count].code = code;
    return &s->entries[s->count++];
}

static int count_thread(top_state *s, const pydbg_sample *sample, size_t thread)
{
    size_t n = pydbg_sample_frame_count(sample, thread);
    s->stacks++;
    s->stacks_all++;
    s->serial++;
    for (size_t k = 0; k < n; k++) {
        top_entry *e = entry_for(s, pydbg_sample_frame_code(sample, thread, k));
        if (!e)
            return -1;
        if (k == 0) {
            e->own++;
            e->own_all++;
        }
        /* A recursive function is in the stack once for its total. */
        if (e->stamp != s->serial) {
            e->stamp = s->serial;
            e->total++;
            e->total_all++;
        }
    }
    return 0;
}

static const top_state *sort_state;

static int compare_entries(const void *a, const void *b)
{
    const top_entry *x = &sort_state->entries[*(const uint32_t *)a];
    const top_entry *y = &sort_state->entries[*(const uint32_t *)b];
    uint64_t kx = sort_state->sort_total ? x->total : x->own;
    uint64_t ky = sort_state->sort_total ? y->total : y->own;
    if (kx != ky)
        return kx < ky ? 1 : -1;
    kx = sort_state->sort_total ? x->total_all : x->own_all;
    ky = sort_state->sort_total ? y->total_all : y->own_all;
    if (kx != ky)
        return kx < ky ? 1 : -1;
    return x->code < y->code ? -1 : x->code > y->code;
}

/* Draws one refresh; `tty` redraws in place, otherwise a plain table is appended. */
static void render(top_state *s, const pydbg_sampler *sampler, const pydbg_process *process,
                   double elapsed, int tty, int rows_wanted)
{
    uint64_t samples = pydbg_sampler_sample_count(sampler);
    uint64_t stacks = pydbg_sampler_thread_sample_count(sampler);
    uint64_t torn = pydbg_sampler_torn_count(sampler);
    double per_stack = samples ? elapsed / (double)samples : 0.0; /* seconds per sample */
    int rows = rows_wanted, width = 100;
    uint32_t *order = malloc((s->count + 1) * sizeof *order);
    if (tty) {
        struct winsize ws;
        if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
            if (rows <= 0)
                rows = ws.ws_row - 5;
            width = ws.ws_col;
        }
        fputs("\033[H", stdout);
    }
    if (rows <= 0)
        rows = 20;
    printf("pydebug top: pid %d, Python %s, %.0f s, %" PRIu64 " samples (%.0f Hz), "
           "%.2f%% torn%s\n",
           pydbg_process_pid(process), pydbg_process_python_version(process), elapsed,
           samples, elapsed > 0 ? (double)samples / elapsed : 0.0,
           stacks ? 100.0 * (double)torn / (double)stacks : 0.0, tty ? "\033[K" : "");
    printf("%" PRIu64 " thread stacks this interval; sorted by %s%s%s\n\n", s->stacks,
           s->sort_total ? "total" : "own", tty ? " (q quit, o own, t total)" : "",
           tty ? "\033[K" : "");
    printf("%7s %7s %9s %9s  %s%s\n", "%Own", "%Total", "OwnTime", "TotalTime",
           "Function (file:first line)", tty ? "\033[K" : "");
    if (order) {
        for (size_t i = 0; i < s->count; i++)
            order[i] = (uint32_t)i;
        sort_state = s;
        qsort(order, s->count, sizeof *order, compare_entries);
        for (size_t i = 0; i < s->count && (int)i < rows; i++) {
            const top_entry *e = &s->entries[order[i]];
            const char *function = "?", *qualname = NULL, *filename = "?";
            int first_line = -1;
            char line[1024];
            if (e->total_all == 0)
                break;
            if (pydbg_sampler_code_info(sampler, e->code, &function, &qualname, &filename,
                                        &first_line) != PYDBG_OK)
                function = filename = "?";
            snprintf(line, sizeof line, "%6.2f%% %6.2f%% %8.2fs %8.2fs  %s (%s:%d)",
                     s->stacks ? 100.0 * (double)e->own / (double)s->stacks : 0.0,
                     s->stacks ? 100.0 * (double)e->total / (double)s->stacks : 0.0,
                     (double)e->own_all * per_stack, (double)e->total_all * per_stack,
                     qualname ? qualname : function ? function : "?",
                     filename ? filename : "?", first_line);
            if (tty && width > 0 && (size_t)width < sizeof line)
                line[width] = '\0'; /* a wrapped line would scroll the screen */
            printf("%s%s\n", line, tty ? "\033[K" : "");
        }
    }
    if (tty)
        fputs("\033[J", stdout);
    else
        putchar('\n');
    fflush(stdout);
    free(order);
    for (size_t i = 0; i < s->count; i++)
        s->entries[i].own = s->entries[i].total = 0;
    s->stacks = 0;
}

/* ---- the terminal ------------------------------------------------------------------ */

static struct termios saved_termios;
static int termios_saved;

static void terminal_enter(int keys)
{
    if (keys && tcgetattr(0, &saved_termios) == 0) {
        struct termios raw = saved_termios;
        raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(0, TCSANOW, &raw) == 0)
            termios_saved = 1;
    }
    fputs("\033[?25l\033[H\033[2J", stdout); /* hide the cursor, clear */
    fflush(stdout);
}

static void terminal_leave(void)
{
    if (termios_saved) {
        tcsetattr(0, TCSANOW, &saved_termios);
        termios_saved = 0;
    }
    fputs("\033[0m\033[?25h", stdout); /* plain text, cursor back; the table stays */
    fflush(stdout);
}

/* The key pressed, 0 if none. */
static int read_key(void)
{
    struct pollfd pfd = {0, POLLIN, 0};
    char c;
    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) && read(0, &c, 1) == 1)
        return (unsigned char)c;
    return 0;
}

int pydbg_cli_top(int argc, char **argv)
{
    static const struct option options[] = {
        {"pid", required_argument, NULL, 'p'},       {"rate", required_argument, NULL, 'r'},
        {"interval", required_argument, NULL, 'i'},  {"duration", required_argument, NULL, 'd'},
        {"rows", required_argument, NULL, 'n'},      {"gil", no_argument, NULL, 'G'},
        {"running", no_argument, NULL, 'R'},         {"max-depth", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    pydbg_sampler_options sopt = PYDBG_SAMPLER_OPTIONS_INIT;
    pydbg_process *process = NULL;
    pydbg_sampler *sampler = NULL;
    top_state state;
    cli_pacer pacer;
    double rate = 100.0, interval = 1.0, duration = 0.0, start, next_refresh, next_key,
           last_ok;
    int pid = 0, rows = 0, opt, status, tty = isatty(1), keys;
    const char *note = NULL;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "p:r:i:d:n:h", options, NULL)) != -1) {
        switch (opt) {
        case 'i':
            if (cli_parse_seconds(optarg, &interval) != 0 || interval < 0.05)
                return cli_error(CLI_EXIT_ERROR,
                                 "top: --interval needs a number of seconds >= 0.05, not '%s'",
                                 optarg);
            break;
        case 'n': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n <= 0 || n > 100000)
                return cli_error(CLI_EXIT_ERROR, "top: --rows needs a positive number");
            rows = (int)n;
            break;
        }
        case 'h':
            fputs(top_usage, stdout);
            return CLI_EXIT_OK;
        default: {
            int shared = cli_sampling_option("top", opt, optarg, &pid, &rate, &duration, &sopt);
            if (shared < 0)
                return CLI_EXIT_ERROR;
            if (shared)
                break;
            return cli_unknown_option("top", argv[optind - 1]);
        }
        }
    }
    if (optind < argc)
        return cli_error(CLI_EXIT_ERROR, "top: unexpected argument '%s'", argv[optind]);
    if (!pid)
        return cli_error(CLI_EXIT_ERROR, "top: --pid PID is required");

    status = cli_open_sampler("top", pid, &sopt, &process, &sampler);
    if (status != CLI_EXIT_OK)
        return status;
    memset(&state, 0, sizeof state);
    keys = tty && isatty(0);
    cli_catch_stop_signals();
    if (tty)
        terminal_enter(keys);

    start = last_ok = cli_now();
    next_refresh = start + interval;
    next_key = start;
    cli_pacer_start(&pacer, rate);
    for (;;) {
        const pydbg_sample *sample = NULL;
        int rc = pydbg_sampler_sample(sampler, &sample);
        double now = cli_now();
        if (rc == PYDBG_OK) {
            last_ok = now;
            for (size_t i = 0; i < pydbg_sample_thread_count(sample); i++) {
                if (pydbg_sample_thread_error(sample, i) != PYDBG_OK)
                    continue;
                if (count_thread(&state, sample, i) != 0) {
                    note = "out of memory";
                    status = CLI_EXIT_ERROR;
                    goto done;
                }
            }
        } else if (rc == PYDBG_EEXITED || (kill(pid, 0) != 0 && errno == ESRCH)) {
            note = "the process exited";
            break;
        } else if (now - last_ok > 5.0) {
            note = "no sample could be read for 5 s";
            status = CLI_EXIT_ERROR;
            break;
        }
        if (now >= next_refresh) {
            render(&state, sampler, process, now - start, tty, rows);
            next_refresh = now + interval;
        }
        /* Keys are looked at every 50 ms at most: a poll per sample would cost more than
         * the sample at high rates. */
        if (keys && now >= next_key) {
            int key = read_key();
            next_key = now + 0.05;
            if (key == 'q' || key == 'Q' || key == 3 /* Ctrl-C without ISIG */)
                break;
            if (key == 'o' || key == 't') {
                state.sort_total = key == 't';
                next_refresh = now;
            }
        }
        if (duration > 0 && now - start >= duration)
            break;
        if (cli_pacer_wait(&pacer) != 0)
            break;
    }
done:
    if (tty)
        terminal_leave();
    else if (state.stacks) /* the last, partial interval */
        render(&state, sampler, process, cli_now() - start, 0, rows);
    if (note && status != CLI_EXIT_OK)
        cli_error(status, "top: process %d: %s (%s)", pid, note, pydbg_sampler_errmsg(sampler));
    else if (note)
        fprintf(stderr, "pydebug: top: process %d: %s\n", pid, note);
    cli_map_free(&state.index);
    free(state.entries);
    pydbg_sampler_free(sampler);
    pydbg_process_close(process);
    return status;
}
