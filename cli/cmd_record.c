/* pydebug record: a sampling profiler writing flame graph input (folded stacks) or a
 * speedscope file.
 *
 * Samples are aggregated as they come into a prefix tree per thread: a node is one
 * (code, line) frame under its caller's node, so a sample costs one hash lookup per
 * frame and memory grows with the number of distinct stacks, not with the number of
 * samples. The speedscope format keeps the order of samples too: one (node, repeat
 * count) run per change of stack. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "json.h"
#include "sampling.h"

static const char record_usage[] =
    "usage: pydebug record --pid PID [--rate HZ] [--duration S] [--format folded|speedscope]\n"
    "                      -o FILE [--gil] [--running] [--paused] [--max-depth N]\n"
    "\n"
    "Samples every thread's Python stack of a live process at a fixed rate, without\n"
    "stopping it, until --duration is over, Ctrl-C (SIGINT) or SIGTERM, or the process\n"
    "exits; then writes the profile.\n"
    "\n"
    "  --pid PID          the process to profile (required)\n"
    "  --rate HZ          samples per second (default 1000, at most 1000000)\n"
    "  --duration S       stop after S seconds (default: when interrupted or the process exits)\n"
    "  --format FORMAT    folded (default): one line per distinct stack,\n"
    "                       'Thread 0xID (name);outer (file:line);...;inner (file:line) COUNT'\n"
    "                       (flamegraph.pl, inferno, speedscope read it);\n"
    "                     speedscope: speedscope's JSON format, one sampled profile per thread\n"
    "  -o, --output FILE  where to write the profile ('-' for stdout; required)\n"
    "  --gil              keep only the thread holding the GIL in each sample\n"
    "  --running          keep only threads running on a CPU (reads /proc for each thread)\n"
    "  --paused           stop the process during each sample (consistent, much slower)\n"
    "  --max-depth N      keep at most N frames per thread (the innermost ones)\n"
    "\n"
    "Pacing: samples are taken on absolute deadlines (clock_nanosleep with TIMER_ABSTIME),\n"
    "so the time a sample takes does not add up into drift; when a sample overruns a whole\n"
    "period the missed deadlines are skipped, not caught up in a burst. From 1 kHz on, the\n"
    "timer slack of pydebug is set to 1 ns (prctl PR_SET_TIMERSLACK; the default 50 us\n"
    "would stretch every sleep), and whenever less than 50 us remain before a deadline\n"
    "(always, above about 20 kHz) pydebug spins on clock_gettime instead of sleeping, so\n"
    "high rates cost one CPU of the profiler.\n"
    "\n"
    "A stack that changed while it was read (torn) is dropped and counted, never recorded.\n"
    "Progress (samples, achieved rate, torn %) is shown on stderr, updated in place on a\n"
    "terminal, as one summary line otherwise.\n"
    "\n"
    "Exit status: 0 ok (also when the process exits while recorded), 1 error,\n"
    "3 no such process, 4 permission denied, 5 not a Python process or unsupported version.\n";

enum { FORMAT_FOLDED, FORMAT_SPEEDSCOPE };

#define NO_NODE UINT32_MAX
#define TRUNCATED_FRAME_KEY 0 /* code keys start at 1: key 0 marks a cut stack */

typedef struct run {
    uint32_t node, count;
} run;

typedef struct rec_thread {
    uint64_t ident;
    uint32_t root;
    uint64_t samples;
    run *runs; /* speedscope only */
    size_t run_count, run_capacity;
    /* The previous stack of the thread, outermost first, and its node at each depth:
     * most of a stack is the same from one sample to the next, and that part needs
     * no hash lookup. */
    uint64_t *prev_code;
    int32_t *prev_line;
    uint32_t *prev_node;
    size_t prev_depth, prev_capacity;
    int prev_truncated;
} rec_thread;

typedef struct profile {
    int keep_runs;
    /* frames: distinct (code key, line) pairs */
    cli_map frame_index;
    uint64_t *frame_code;
    int32_t *frame_line;
    size_t frame_count, frame_capacity;
    /* nodes of the per-thread prefix trees; a root's frame is NO_NODE */
    cli_map node_index;
    uint32_t *node_parent, *node_frame;
    uint64_t *node_self;
    size_t node_count, node_capacity;
    cli_map thread_index;
    rec_thread *threads;
    size_t thread_count, thread_capacity;
    uint64_t recorded; /* thread stacks recorded */
} profile;

static int grow(void **array, size_t *capacity, size_t need, size_t size)
{
    if (need <= *capacity)
        return 0;
    size_t capacity2 = *capacity ? *capacity : 64;
    while (capacity2 < need)
        capacity2 *= 2;
    void *grown = realloc(*array, capacity2 * size);
    if (!grown)
        return -1;
    *array = grown;
    *capacity = capacity2;
    return 0;
}

static int intern_frame(profile *p, uint64_t code, int line, uint32_t *out)
{
    if (cli_map_get(&p->frame_index, code, (uint64_t)(int64_t)line, out))
        return 0;
    size_t cap = p->frame_capacity, n = p->frame_count;
    if (grow((void **)&p->frame_code, &cap, n + 1, sizeof *p->frame_code) != 0)
        return -1;
    cap = p->frame_capacity;
    if (grow((void **)&p->frame_line, &cap, n + 1, sizeof *p->frame_line) != 0)
        return -1;
    p->frame_capacity = cap;
    p->frame_code[n] = code;
    p->frame_line[n] = line;
    if (cli_map_put(&p->frame_index, code, (uint64_t)(int64_t)line, (uint32_t)n) != 0)
        return -1;
    p->frame_count++;
    *out = (uint32_t)n;
    return 0;
}

static int new_node(profile *p, uint32_t parent, uint32_t frame, uint32_t *out)
{
    size_t n = p->node_count, cap;
    if (n >= NO_NODE - 1)
        return -1;
    cap = p->node_capacity;
    if (grow((void **)&p->node_parent, &cap, n + 1, sizeof *p->node_parent) != 0)
        return -1;
    cap = p->node_capacity;
    if (grow((void **)&p->node_frame, &cap, n + 1, sizeof *p->node_frame) != 0)
        return -1;
    cap = p->node_capacity;
    if (grow((void **)&p->node_self, &cap, n + 1, sizeof *p->node_self) != 0)
        return -1;
    p->node_capacity = cap;
    p->node_parent[n] = parent;
    p->node_frame[n] = frame;
    p->node_self[n] = 0;
    p->node_count++;
    *out = (uint32_t)n;
    return 0;
}

static int child_node(profile *p, uint32_t parent, uint32_t frame, uint32_t *out)
{
    if (cli_map_get(&p->node_index, parent, frame, out))
        return 0;
    if (new_node(p, parent, frame, out) != 0 ||
        cli_map_put(&p->node_index, parent, frame, *out) != 0)
        return -1;
    return 0;
}

static rec_thread *thread_for(profile *p, uint64_t ident)
{
    uint32_t index;
    if (cli_map_get(&p->thread_index, ident, 0, &index))
        return &p->threads[index];
    if (grow((void **)&p->threads, &p->thread_capacity, p->thread_count + 1,
             sizeof *p->threads) != 0)
        return NULL;
    rec_thread *t = &p->threads[p->thread_count];
    memset(t, 0, sizeof *t);
    t->ident = ident;
    if (new_node(p, NO_NODE, NO_NODE, &t->root) != 0 ||
        cli_map_put(&p->thread_index, ident, 0, (uint32_t)p->thread_count) != 0)
        return NULL;
    p->thread_count++;
    return t;
}

static int reserve_prev(rec_thread *t, size_t n)
{
    size_t cap = t->prev_capacity;
    if (grow((void **)&t->prev_code, &cap, n, sizeof *t->prev_code) != 0)
        return -1;
    cap = t->prev_capacity;
    if (grow((void **)&t->prev_line, &cap, n, sizeof *t->prev_line) != 0)
        return -1;
    cap = t->prev_capacity;
    if (grow((void **)&t->prev_node, &cap, n, sizeof *t->prev_node) != 0)
        return -1;
    t->prev_capacity = cap;
    return 0;
}

/* Adds thread `i` of the sample; -1 when out of memory. */
static int record_thread(profile *p, const pydbg_sample *sample, size_t i)
{
    rec_thread *t = thread_for(p, pydbg_sample_thread_ident(sample, i));
    uint32_t node, frame;
    size_t n = pydbg_sample_frame_count(sample, i), j = 0;
    int truncated = pydbg_sample_thread_truncated(sample, i);
    if (!t || reserve_prev(t, n + 1) != 0)
        return -1;
    node = t->root;
    if (truncated) {
        if (intern_frame(p, TRUNCATED_FRAME_KEY, -1, &frame) != 0 ||
            child_node(p, node, frame, &node) != 0)
            return -1;
    }
    if (truncated == t->prev_truncated) {
        for (; j < n && j < t->prev_depth; j++) {
            size_t k = n - 1 - j; /* outermost first */
            if (pydbg_sample_frame_code(sample, i, k) != t->prev_code[j] ||
                pydbg_sample_frame_line(sample, i, k) != t->prev_line[j])
                break;
            node = t->prev_node[j];
        }
    }
    for (; j < n; j++) {
        size_t k = n - 1 - j;
        uint64_t code = pydbg_sample_frame_code(sample, i, k);
        int line = pydbg_sample_frame_line(sample, i, k);
        if (intern_frame(p, code, line, &frame) != 0 || child_node(p, node, frame, &node) != 0)
            return -1;
        t->prev_code[j] = code;
        t->prev_line[j] = line;
        t->prev_node[j] = node;
    }
    t->prev_depth = n;
    t->prev_truncated = truncated;
    p->node_self[node]++;
    t->samples++;
    p->recorded++;
    if (p->keep_runs) {
        if (t->run_count > 0 && t->runs[t->run_count - 1].node == node &&
            t->runs[t->run_count - 1].count < UINT32_MAX) {
            t->runs[t->run_count - 1].count++;
        } else {
            if (grow((void **)&t->runs, &t->run_capacity, t->run_count + 1, sizeof *t->runs))
                return -1;
            t->runs[t->run_count].node = node;
            t->runs[t->run_count].count = 1;
            t->run_count++;
        }
    }
    return 0;
}

static void profile_free(profile *p)
{
    cli_map_free(&p->frame_index);
    cli_map_free(&p->node_index);
    cli_map_free(&p->thread_index);
    free(p->frame_code);
    free(p->frame_line);
    free(p->node_parent);
    free(p->node_frame);
    free(p->node_self);
    for (size_t i = 0; i < p->thread_count; i++) {
        free(p->threads[i].runs);
        free(p->threads[i].prev_code);
        free(p->threads[i].prev_line);
        free(p->threads[i].prev_node);
    }
    free(p->threads);
    memset(p, 0, sizeof *p);
}

/* ---- output ------------------------------------------------------------------------ */

/* Folded stacks split on ';' and on the last space: keep ';' and line breaks out. */
static void put_folded_text(FILE *out, const char *text)
{
    for (const char *c = text; *c; c++)
        fputc(*c == ';' || *c == '\n' || *c == '\r' ? '_' : *c, out);
}

static void put_thread_label(FILE *out, const rec_thread *t, const cli_thread_names *names)
{
    const char *name = cli_thread_names_get(names, t->ident);
    fprintf(out, "Thread 0x%" PRIx64, t->ident);
    if (name) {
        fputs(" (", out);
        put_folded_text(out, name);
        fputc(')', out);
    }
}

static void put_frame_label(FILE *out, const profile *p, const pydbg_sampler *sampler,
                            uint32_t frame)
{
    const char *function, *filename;
    if (p->frame_code[frame] == TRUNCATED_FRAME_KEY) {
        fputs("[truncated]", out);
        return;
    }
    cli_code_names(sampler, p->frame_code[frame], &function, &filename);
    put_folded_text(out, function);
    fputs(" (", out);
    put_folded_text(out, filename);
    if (p->frame_line[frame] >= 0)
        fprintf(out, ":%d", (int)p->frame_line[frame]);
    fputc(')', out);
}

/* Fills path with the frames from the thread root (excluded) down to node; returns the
 * count. path holds at least node_count entries, the bound of any chain. */
static size_t node_path(const profile *p, uint32_t node, uint32_t *path)
{
    size_t n = 0;
    while (p->node_frame[node] != NO_NODE && n < p->node_count) {
        path[n++] = p->node_frame[node];
        node = p->node_parent[node];
    }
    for (size_t i = 0; i < n / 2; i++) {
        uint32_t tmp = path[i];
        path[i] = path[n - 1 - i];
        path[n - 1 - i] = tmp;
    }
    return n;
}

static int write_folded(FILE *out, const profile *p, const pydbg_sampler *sampler,
                        const cli_thread_names *names)
{
    /* Group the nodes by thread (a parent is always created before its children, so
     * one pass in creation order finds every node's thread), keeping creation order
     * within a thread for a stable, readable output. */
    uint32_t *path = malloc((p->node_count + 1) * sizeof *path);
    uint32_t *owner = malloc((p->node_count + 1) * sizeof *owner);
    size_t *first = calloc(p->thread_count + 1, sizeof *first);
    uint32_t *order = malloc((p->node_count + 1) * sizeof *order);
    int rc = -1;
    if (!path || !owner || !first || !order)
        goto out;
    for (size_t t = 0; t < p->thread_count; t++)
        owner[p->threads[t].root] = (uint32_t)t;
    for (size_t node = 0; node < p->node_count; node++) {
        if (p->node_parent[node] != NO_NODE)
            owner[node] = owner[p->node_parent[node]];
        if (p->node_self[node])
            first[owner[node] + 1]++;
    }
    for (size_t t = 0; t < p->thread_count; t++)
        first[t + 1] += first[t];
    for (size_t node = 0; node < p->node_count; node++)
        if (p->node_self[node])
            order[first[owner[node]]++] = (uint32_t)node;
    for (size_t i = 0, t = 0; t < p->thread_count; t++) {
        /* first[t] is now the end of thread t's nodes */
        for (; i < first[t]; i++) {
            uint32_t node = order[i];
            size_t n = node_path(p, node, path);
            put_thread_label(out, &p->threads[t], names);
            for (size_t k = 0; k < n; k++) {
                fputc(';', out);
                put_frame_label(out, p, sampler, path[k]);
            }
            fprintf(out, " %" PRIu64 "\n", p->node_self[node]);
        }
    }
    rc = 0;
out:
    free(path);
    free(owner);
    free(first);
    free(order);
    return rc;
}

static int write_speedscope(FILE *out, const profile *p, const pydbg_sampler *sampler,
                            const cli_thread_names *names, int pid, double duration_s)
{
    json_writer w;
    char label[512];
    uint32_t *path = malloc((p->node_count + 1) * sizeof *path);
    if (!path)
        return -1;
    json_init(&w, out, 0);
    json_begin_object(&w);
    json_key(&w, "$schema");
    json_string(&w, "https://www.speedscope.app/file-format-schema.json");
    json_key(&w, "exporter");
    json_string(&w, "pydebug " PYDBG_VERSION_STRING);
    snprintf(label, sizeof label, "pydebug record --pid %d (%.1f s)", pid, duration_s);
    json_key(&w, "name");
    json_string(&w, label);
    json_key(&w, "activeProfileIndex");
    json_int(&w, 0);
    json_key(&w, "shared");
    json_begin_object(&w);
    json_key(&w, "frames");
    json_begin_array(&w);
    for (size_t f = 0; f < p->frame_count; f++) {
        const char *function, *filename;
        json_begin_object(&w);
        json_key(&w, "name");
        if (p->frame_code[f] == TRUNCATED_FRAME_KEY) {
            json_string(&w, "[truncated]");
        } else {
            cli_code_names(sampler, p->frame_code[f], &function, &filename);
            json_string(&w, function);
            json_key(&w, "file");
            json_string(&w, filename);
            if (p->frame_line[f] >= 0) {
                json_key(&w, "line");
                json_int(&w, p->frame_line[f]);
            }
        }
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    json_key(&w, "profiles");
    json_begin_array(&w);
    for (size_t t = 0; t < p->thread_count; t++) {
        const rec_thread *th = &p->threads[t];
        const char *name = cli_thread_names_get(names, th->ident);
        if (name)
            snprintf(label, sizeof label, "Thread 0x%" PRIx64 " (%s)", th->ident, name);
        else
            snprintf(label, sizeof label, "Thread 0x%" PRIx64, th->ident);
        json_begin_object(&w);
        json_key(&w, "type");
        json_string(&w, "sampled");
        json_key(&w, "name");
        json_string(&w, label);
        /* Weights count samples: the interval between them is not constant. */
        json_key(&w, "unit");
        json_string(&w, "none");
        json_key(&w, "startValue");
        json_int(&w, 0);
        json_key(&w, "endValue");
        json_uint(&w, th->samples);
        json_key(&w, "samples");
        json_begin_array(&w);
        for (size_t r = 0; r < th->run_count; r++) {
            size_t n = node_path(p, th->runs[r].node, path);
            json_begin_array(&w);
            for (size_t k = 0; k < n; k++)
                json_uint(&w, path[k]);
            json_end_array(&w);
        }
        json_end_array(&w);
        json_key(&w, "weights");
        json_begin_array(&w);
        for (size_t r = 0; r < th->run_count; r++)
            json_uint(&w, th->runs[r].count);
        json_end_array(&w);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    json_finish(&w);
    free(path);
    return 0;
}

/* ---- progress ---------------------------------------------------------------------- */

static void progress(const pydbg_sampler *sampler, double elapsed, int tty, int final,
                     const char *note)
{
    uint64_t samples = pydbg_sampler_sample_count(sampler);
    uint64_t torn = pydbg_sampler_torn_count(sampler);
    uint64_t stacks = pydbg_sampler_thread_sample_count(sampler);
    double rate = elapsed > 0 ? (double)samples / elapsed : 0.0;
    double torn_pct = stacks ? 100.0 * (double)torn / (double)stacks : 0.0;
    if (tty)
        fputc('\r', stderr);
    fprintf(stderr,
            "pydebug: record: %" PRIu64 " samples in %.1f s, %.0f Hz achieved, "
            "%" PRIu64 " thread stacks, %.2f%% torn%s%s",
            samples, elapsed, rate, stacks, torn_pct, note ? "; " : "", note ? note : "");
    if (tty)
        fputs("\033[K", stderr);
    if (final || !tty)
        fputc('\n', stderr);
    fflush(stderr);
}

/* ---- the command ------------------------------------------------------------------- */

int pydbg_cli_record(int argc, char **argv)
{
    static const struct option options[] = {
        {"pid", required_argument, NULL, 'p'},       {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},  {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},    {"gil", no_argument, NULL, 'G'},
        {"running", no_argument, NULL, 'R'},         {"paused", no_argument, NULL, 'P'},
        {"max-depth", required_argument, NULL, 'm'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    pydbg_sampler_options sopt = PYDBG_SAMPLER_OPTIONS_INIT;
    pydbg_process *process = NULL;
    pydbg_sampler *sampler = NULL;
    cli_thread_names names = {0};
    profile prof;
    cli_pacer pacer;
    const char *output = NULL;
    char note[160] = "";
    double rate = 1000.0, duration = 0.0, start, last_progress = 0.0, last_ok;
    int pid = 0, format = FORMAT_FOLDED, opt, status, tty = isatty(2);
    uint64_t failures = 0;
    FILE *out;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "p:r:d:f:o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'f':
            if (strcmp(optarg, "folded") == 0)
                format = FORMAT_FOLDED;
            else if (strcmp(optarg, "speedscope") == 0)
                format = FORMAT_SPEEDSCOPE;
            else
                return cli_error(CLI_EXIT_ERROR,
                                 "record: unknown format '%s' (folded or speedscope)", optarg);
            break;
        case 'o':
            output = optarg;
            break;
        case 'P':
            sopt.flags |= PYDBG_SAMPLER_PAUSE;
            break;
        case 'h':
            fputs(record_usage, stdout);
            return CLI_EXIT_OK;
        default: {
            int shared = cli_sampling_option("record", opt, optarg, &pid, &rate, &duration, &sopt);
            if (shared < 0)
                return CLI_EXIT_ERROR;
            if (shared)
                break;
            return cli_unknown_option("record", argv[optind - 1]);
        }
        }
    }
    if (optind < argc)
        return cli_error(CLI_EXIT_ERROR, "record: unexpected argument '%s'", argv[optind]);
    if (!pid)
        return cli_error(CLI_EXIT_ERROR, "record: --pid PID is required");
    if (!output)
        return cli_error(CLI_EXIT_ERROR, "record: -o FILE is required (the profile's file)");

    status = cli_open_sampler("record", pid, &sopt, &process, &sampler);
    if (status != CLI_EXIT_OK)
        return status;
    /* Created before sampling, so that a bad path fails now and not after an hour. */
    out = strcmp(output, "-") == 0 ? stdout : fopen(output, "w");
    if (!out) {
        status = cli_error(CLI_EXIT_ERROR, "record: cannot create '%s': %s", output,
                           strerror(errno));
        pydbg_sampler_free(sampler);
        pydbg_process_close(process);
        return status;
    }
    memset(&prof, 0, sizeof prof);
    prof.keep_runs = format == FORMAT_SPEEDSCOPE;
    cli_thread_names_update(&names, process, 1);
    cli_catch_stop_signals();

    start = last_ok = cli_now();
    cli_pacer_start(&pacer, rate);
    status = CLI_EXIT_OK;
    for (;;) {
        const pydbg_sample *sample = NULL;
        int rc = pydbg_sampler_sample(sampler, &sample);
        double now = cli_now();
        if (rc == PYDBG_OK) {
            last_ok = now;
            for (size_t i = 0; i < pydbg_sample_thread_count(sample); i++) {
                cli_thread_names_saw(&names, pydbg_sample_thread_ident(sample, i));
                if (pydbg_sample_thread_error(sample, i) != PYDBG_OK)
                    continue; /* torn: counted by the sampler, never recorded */
                if (record_thread(&prof, sample, i) != 0) {
                    status = cli_error(CLI_EXIT_ERROR, "record: out of memory after %" PRIu64
                                       " samples; writing what was collected",
                                       pydbg_sampler_sample_count(sampler));
                    goto done;
                }
            }
            cli_thread_names_update(&names, process, 0);
        } else if (rc == PYDBG_EEXITED || (kill(pid, 0) != 0 && errno == ESRCH)) {
            snprintf(note, sizeof note, "process %d exited", pid);
            break;
        } else {
            /* A thread list caught mid-change: the next sample will do. But a target
             * that never reads right must not keep us for ever. */
            failures++;
            if (now - last_ok > 5.0) {
                status = cli_error(CLI_EXIT_ERROR,
                                   "record: no sample of process %d could be read for 5 s "
                                   "(%s); writing what was collected", pid,
                                   pydbg_sampler_errmsg(sampler));
                break;
            }
        }
        if (tty && now - last_progress >= 0.25) {
            progress(sampler, now - start, 1, 0, NULL);
            last_progress = now;
        }
        if (duration > 0 && now - start >= duration)
            break;
        if (cli_pacer_wait(&pacer) != 0)
            break;
    }
done:
    {
        double elapsed = cli_now() - start;
        int wrote;
        if (!note[0] && failures)
            snprintf(note, sizeof note, "%" PRIu64 " samples failed", failures);
        progress(sampler, elapsed, tty, 1, note[0] ? note : NULL);
        cli_thread_names_update(&names, process, 1);
        errno = 0;
        if (format == FORMAT_FOLDED)
            wrote = write_folded(out, &prof, sampler, &names);
        else
            wrote = write_speedscope(out, &prof, sampler, &names, pid, elapsed);
        if (wrote != 0 || fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out)))
            status = cli_error(CLI_EXIT_ERROR, "record: cannot write '%s'%s%s", output,
                               errno ? ": " : "", errno ? strerror(errno) : "");
    }
    profile_free(&prof);
    cli_thread_names_free(&names);
    pydbg_sampler_free(sampler);
    pydbg_process_close(process);
    return status;
}
