/* The sampling API (public API only) against every installed CPython.
 *
 * 1. Known stacks: the many_threads and deep scenarios of ../targets record their own
 *    ground truth (sys._current_frames() from the inside) and block. Every one of many
 *    samples must give exactly those threads and, frame by frame, the same function,
 *    file and line; none may be torn (the target does not move); code keys must name
 *    one code object each. Also with the thread-state filter, and paused.
 * 2. Stacks that never stop changing (stress.py: a thread recursing up and down,
 *    threads created and destroyed all the time): sampled for a bounded time, every
 *    call must return quickly, every frame's code key must resolve to names and a line
 *    inside its function, and every non-torn stack of the recursion thread must be the
 *    chain recursion_main -> descend* [-> leaf]. The torn rate is printed.
 * 3. A thread started between two samples is in the second (new_thread.py).
 *
 * Interpreters: PYDBG_TEST_PYTHONS (colon-separated) or every
 * /root/.pyenv/versions/[*]/bin/python and /usr/bin/python3.11. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pydebug.h"
#include "pydebug/sample.h"

#ifndef PYDBG_INTEGRATION_TARGETS_DIR
#error "PYDBG_INTEGRATION_TARGETS_DIR must name tests/integration/targets"
#endif
#ifndef PYDBG_SAMPLING_DIR
#error "PYDBG_SAMPLING_DIR must name tests/integration/sampling"
#endif

#define MAX_PYTHONS 16
#define GT_TIMEOUT_S 90.0
#define KNOWN_SAMPLES 200     /* samples compared with the ground truth per scenario */
#define PAUSED_SAMPLES 5
#define STRESS_SECONDS 3.0    /* sampling time of the stress target per version ... */
#define STRESS_MAX_SECONDS 12.0 /* ... or up to this, until the recursion is seen whole */
#define STRESS_RECURSION_WANTED 300u /* often enough to measure what gets through */
#define SLOW_SAMPLE_S 2.0     /* one sample taking longer than this is a hang */
#define MAX_REPORTED 8

/* ---- ground truth ---------------------------------------------------------------- */

typedef struct gt_frame {
    int line;
    char *function, *filename;
} gt_frame;

typedef struct gt_thread {
    uint64_t ident;
    size_t frame_count;
    gt_frame *frames;
} gt_thread;

typedef struct truth {
    uint32_t hexversion;
    size_t thread_count;
    gt_thread *threads;
} truth;

typedef struct scenario {
    const char *script;
    const char *extra_arg, *extra_value;
    char lines_path[PATH_MAX], json_path[PATH_MAX];
    pid_t pid;
    int ready;
    char error[512];
    truth gt;
} scenario;

typedef struct stress_info {
    char path[PATH_MAX];
    pid_t pid;
    uint64_t recursion_ident;
    struct fn_range {
        char name[64];
        int first, last;
    } functions[16];
    size_t function_count;
    /* In the recursion thread a caller is at its call's line while the callee runs:
     * a caller at another line beside that callee is a stack that never existed. */
    struct call_site {
        char caller[64], callee[64];
        int line;
    } calls[8];
    size_t call_count;
} stress_info;

typedef struct python {
    char path[PATH_MAX];
    char label[64];
    scenario known[2]; /* many_threads, deep */
} python;

static python pythons[MAX_PYTHONS];
static size_t python_count;
static char workdir[64];

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            cap *= 2;
            if (!(buf = realloc(buf, cap)))
                abort();
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static char *dup_or_null(const char *s)
{
    if (!s || !*s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static size_t split_tabs(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

/* The line file of ../targets/pydbg_gt.py (only what a sample carries). */
static int parse_truth(const char *path, truth *gt)
{
    char *text = read_file(path), *save = NULL;
    gt_thread *cur = NULL;
    size_t filled = 0, cap = 0;
    int ended = 0;
    if (!text)
        return -1;
    memset(gt, 0, sizeof *gt);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[9];
        size_t n = split_tabs(line, f, 9);
        if (strcmp(f[0], "hexversion") == 0 && n == 2) {
            gt->hexversion = (uint32_t)strtoul(f[1], NULL, 10);
        } else if (strcmp(f[0], "thread") == 0 && n == 6) {
            if (cur && filled != cur->frame_count)
                break;
            if (gt->thread_count == cap) {
                cap = cap ? cap * 2 : 32;
                if (!(gt->threads = realloc(gt->threads, cap * sizeof *gt->threads)))
                    abort();
            }
            cur = &gt->threads[gt->thread_count++];
            cur->ident = strtoull(f[1], NULL, 10);
            cur->frame_count = strtoul(f[4], NULL, 10);
            if (!(cur->frames = calloc(cur->frame_count + 1, sizeof *cur->frames)))
                abort();
            filled = 0;
        } else if (strcmp(f[0], "frame") == 0 && n == 9 && cur && filled < cur->frame_count) {
            gt_frame *fr = &cur->frames[filled++];
            fr->line = *f[1] ? atoi(f[1]) : -1;
            fr->function = dup_or_null(f[6]);
            fr->filename = dup_or_null(f[8]);
        } else if (strcmp(f[0], "end") == 0) {
            ended = 1;
            break;
        } else if (strcmp(f[0], "pid") != 0 && strcmp(f[0], "version") != 0 &&
                   strcmp(f[0], "recorder") != 0) {
            break;
        }
    }
    free(text);
    return ended && gt->thread_count && (!cur || filled == cur->frame_count) ? 0 : -1;
}

static void free_truth(truth *gt)
{
    for (size_t i = 0; i < gt->thread_count; i++) {
        for (size_t j = 0; j < gt->threads[i].frame_count; j++) {
            free(gt->threads[i].frames[j].function);
            free(gt->threads[i].frames[j].filename);
        }
        free(gt->threads[i].frames);
    }
    free(gt->threads);
    memset(gt, 0, sizeof *gt);
}

/* ---- processes ------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setenv("LC_ALL", "C.UTF-8", 1);
        setenv("PYTHONIOENCODING", "utf-8", 1);
        setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
        unsetenv("PYTHONPATH");
        unsetenv("PYTHONHOME");
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            close(devnull);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void kill_and_reap(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static size_t os_thread_count(pid_t pid)
{
    char path[64];
    struct dirent *e;
    size_t n = 0;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Waits for `path` to appear while `pid` lives. */
static int wait_for_file(const char *path, pid_t pid, double timeout)
{
    double deadline = now_s() + timeout;
    while (!file_exists(path)) {
        if (now_s() > deadline || waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        sleep_ms(20);
    }
    return 0;
}

static void add_python(const char *path)
{
    char real[PATH_MAX], other[PATH_MAX];
    if (python_count == MAX_PYTHONS || access(path, X_OK) != 0 || !realpath(path, real))
        return;
    for (size_t i = 0; i < python_count; i++)
        if (realpath(pythons[i].path, other) && strcmp(other, real) == 0)
            return;
    snprintf(pythons[python_count].path, PATH_MAX, "%s", path);
    /* /root/.pyenv/versions/3.11.7/bin/python -> 3.11.7; /usr/bin/python3.11 as is */
    const char *v = strstr(path, "/versions/");
    if (v) {
        v += strlen("/versions/");
        snprintf(pythons[python_count].label, sizeof pythons[python_count].label, "%.*s",
                 (int)strcspn(v, "/"), v);
    } else {
        /* /usr/bin/python3.11 -> usr_bin_python3.11: a label is also a file name */
        char *l = pythons[python_count].label;
        snprintf(l, sizeof pythons[python_count].label, "%s", path + (path[0] == '/'));
        for (; *l; l++)
            if (*l == '/')
                *l = '_';
    }
    python_count++;
}

static void discover_pythons(void)
{
    const char *list = getenv("PYDBG_TEST_PYTHONS");
    glob_t g;
    if (list && *list) {
        char *copy = strdup(list), *save = NULL;
        for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save))
            add_python(p);
        free(copy);
        return;
    }
    if (glob("/root/.pyenv/versions/*/bin/python", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            add_python(g.gl_pathv[i]);
        globfree(&g);
    }
    add_python("/usr/bin/python3.11");
}

/* Starts every known-stack scenario of every interpreter at once (their start-up
 * overlaps), then waits for their ground truth. */
static int start_known(void **state)
{
    (void)state;
    snprintf(workdir, sizeof workdir, "/tmp/pydbg-sampling-XXXXXX");
    if (!mkdtemp(workdir))
        return -1;
    for (size_t i = 0; i < python_count; i++) {
        python *py = &pythons[i];
        py->known[0].script = PYDBG_INTEGRATION_TARGETS_DIR "/many_threads.py";
        py->known[1].script = PYDBG_INTEGRATION_TARGETS_DIR "/deep.py";
        py->known[1].extra_arg = "--depth";
        py->known[1].extra_value = "800";
        for (size_t k = 0; k < 2; k++) {
            scenario *s = &py->known[k];
            snprintf(s->lines_path, PATH_MAX, "%s/gt-%zu-%zu.txt", workdir, i, k);
            snprintf(s->json_path, PATH_MAX, "%s/gt-%zu-%zu.json", workdir, i, k);
            char *argv[] = {py->path, (char *)s->script, s->json_path, "--lines", s->lines_path,
                            "--lifetime", "240", (char *)s->extra_arg, (char *)s->extra_value,
                            NULL};
            s->pid = spawn(argv);
        }
    }
    for (size_t i = 0; i < python_count; i++) {
        for (size_t k = 0; k < 2; k++) {
            scenario *s = &pythons[i].known[k];
            if (s->pid <= 0 || wait_for_file(s->json_path, s->pid, GT_TIMEOUT_S) != 0) {
                snprintf(s->error, sizeof s->error, "no ground truth from %s", s->script);
                continue;
            }
            if (parse_truth(s->lines_path, &s->gt) != 0) {
                char *json = read_file(s->json_path);
                snprintf(s->error, sizeof s->error, "ground truth: %.300s", json ? json : "?");
                free(json);
                continue;
            }
            s->ready = 1;
        }
    }
    return 0;
}

static int stop_known(void **state)
{
    (void)state;
    for (size_t i = 0; i < python_count; i++) {
        for (size_t k = 0; k < 2; k++) {
            scenario *s = &pythons[i].known[k];
            kill_and_reap(s->pid);
            unlink(s->lines_path);
            unlink(s->json_path);
            free_truth(&s->gt);
        }
    }
    rmdir(workdir);
    return 0;
}

/* ---- known stacks ---------------------------------------------------------------- */

static int str_eq(const char *a, const char *b)
{
    return (!a || !b) ? a == b : strcmp(a, b) == 0;
}

#define S(x) ((x) ? (x) : "(null)")

static void mismatch(int *errors, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mismatch(int *errors, const char *fmt, ...)
{
    if (++*errors <= MAX_REPORTED) {
        va_list ap;
        va_start(ap, fmt);
        fputs("    mismatch: ", stdout);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
}

/* Code keys seen so far and the (function, file) they named: one key, one code object. */
typedef struct key_seen {
    uint64_t key;
    const char *function, *filename;
} key_seen;

/* Compares one sample with the ground truth; returns the number of mismatches. */
static int compare_sample(const pydbg_sampler *sampler, const pydbg_sample *sample,
                          const truth *gt, key_seen *keys, size_t *key_count, size_t key_cap,
                          const char *label, int gil)
{
    int errors = 0;
    size_t n = pydbg_sample_thread_count(sample);
    if (n != gt->thread_count)
        mismatch(&errors, "%s: %zu threads expected, %zu sampled", label, gt->thread_count, n);
    for (size_t i = 0; i < n; i++) {
        uint64_t ident = pydbg_sample_thread_ident(sample, i);
        const gt_thread *w = NULL;
        for (size_t k = 0; k < gt->thread_count; k++)
            if (gt->threads[k].ident == ident)
                w = &gt->threads[k];
        if (!w) {
            mismatch(&errors, "%s: unexpected thread %llu", label, (unsigned long long)ident);
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (pydbg_sample_thread_ident(sample, j) == ident)
                mismatch(&errors, "%s: thread %llu twice", label, (unsigned long long)ident);
        if (pydbg_sample_thread_error(sample, i) != PYDBG_OK) {
            mismatch(&errors, "%s: thread %llu torn (error %d) although nothing moves", label,
                     (unsigned long long)ident, pydbg_sample_thread_error(sample, i));
            continue;
        }
        if (pydbg_sample_thread_holds_gil(sample, i) != (gil ? 0 : -1))
            mismatch(&errors, "%s: thread %llu: holds_gil %d while blocked (%s)", label,
                     (unsigned long long)ident, pydbg_sample_thread_holds_gil(sample, i),
                     gil ? "read" : "not asked for");
        if (pydbg_sample_thread_truncated(sample, i))
            mismatch(&errors, "%s: thread %llu truncated", label, (unsigned long long)ident);
        size_t fc = pydbg_sample_frame_count(sample, i);
        if (fc != w->frame_count)
            mismatch(&errors, "%s: thread %llu: %zu frames expected, %zu sampled", label,
                     (unsigned long long)ident, w->frame_count, fc);
        for (size_t f = 0; f < fc && f < w->frame_count; f++) {
            const gt_frame *wf = &w->frames[f];
            uint64_t key = pydbg_sample_frame_code(sample, i, f);
            const char *function = NULL, *qualname = NULL, *filename = NULL;
            int first_line = -1;
            int rc = pydbg_sampler_code_info(sampler, key, &function, &qualname, &filename,
                                             &first_line);
            int line = pydbg_sample_frame_line(sample, i, f);
            if (rc != PYDBG_OK || !str_eq(function, wf->function) ||
                !str_eq(filename, wf->filename) || line != wf->line ||
                first_line <= 0 || first_line > line) {
                mismatch(&errors, "%s: thread %llu frame %zu: expected %s %s:%d, got %s %s:%d "
                         "(first line %d, rc %d)", label, (unsigned long long)ident, f,
                         S(wf->function), S(wf->filename), wf->line, S(function), S(filename),
                         line, first_line, rc);
                continue;
            }
            size_t k = 0;
            while (k < *key_count && keys[k].key != key)
                k++;
            if (k < *key_count) {
                if (!str_eq(keys[k].function, function) || !str_eq(keys[k].filename, filename))
                    mismatch(&errors, "%s: code key %llu named %s and %s", label,
                             (unsigned long long)key, S(keys[k].function), S(function));
            } else if (*key_count < key_cap) {
                keys[*key_count].key = key;
                keys[*key_count].function = function;
                keys[*key_count].filename = filename;
                ++*key_count;
            }
        }
    }
    return errors;
}

static void sample_known(const python *py, const scenario *s, uint32_t flags, int samples,
                         const char *mode)
{
    pydbg_process *process = NULL;
    pydbg_sampler *sampler = NULL;
    pydbg_sampler_options options = PYDBG_SAMPLER_OPTIONS_INIT;
    key_seen keys[512];
    size_t key_count = 0;
    char label[128];
    int errors = 0, rc;

    options.flags = flags;
    rc = pydbg_process_attach(&process, s->pid, NULL);
    if (rc != PYDBG_OK)
        fail_msg("%s: attach: %s", py->label, pydbg_last_error());
    rc = pydbg_sampler_new(&sampler, process, &options);
    if (rc != PYDBG_OK)
        fail_msg("%s: sampler: %d %s", py->label, rc, pydbg_last_error());
    for (int n = 0; n < samples; n++) {
        const pydbg_sample *sample = NULL;
        snprintf(label, sizeof label, "%s %s %s sample %d", py->label, s->script + strlen(
                 PYDBG_INTEGRATION_TARGETS_DIR "/"), mode, n);
        rc = pydbg_sampler_sample(sampler, &sample);
        if (rc != PYDBG_OK) {
            mismatch(&errors, "%s: %d %s", label, rc, pydbg_sampler_errmsg(sampler));
            continue;
        }
        errors += compare_sample(sampler, sample, &s->gt, keys, &key_count,
                                 sizeof keys / sizeof keys[0], label,
                                 (flags & PYDBG_SAMPLER_GIL) != 0);
        if (flags & PYDBG_SAMPLER_THREAD_STATE)
            for (size_t i = 0; i < pydbg_sample_thread_count(sample); i++)
                if (pydbg_sample_thread_state(sample, i) != PYDBG_THREAD_STATE_IDLE)
                    mismatch(&errors, "%s: thread %zu state %d, but every thread is blocked",
                             label, i, pydbg_sample_thread_state(sample, i));
    }
    /* Different functions have different keys (same-named ones in one file aside). */
    for (size_t a = 0; a < key_count; a++)
        for (size_t b = a + 1; b < key_count; b++)
            if (str_eq(keys[a].function, keys[b].function) &&
                str_eq(keys[a].filename, keys[b].filename))
                mismatch(&errors, "%s %s: keys %llu and %llu both name %s", py->label, mode,
                         (unsigned long long)keys[a].key, (unsigned long long)keys[b].key,
                         S(keys[a].function));
    if (pydbg_sampler_torn_count(sampler) != 0)
        mismatch(&errors, "%s %s: %llu torn stacks of a target that does not move", py->label,
                 mode, (unsigned long long)pydbg_sampler_torn_count(sampler));
    if (pydbg_sampler_sample_count(sampler) != (uint64_t)samples)
        mismatch(&errors, "%s %s: sample count %llu, %d taken", py->label, mode,
                 (unsigned long long)pydbg_sampler_sample_count(sampler), samples);
    if (pydbg_sampler_thread_sample_count(sampler) != (uint64_t)samples * s->gt.thread_count)
        mismatch(&errors, "%s %s: thread sample count %llu", py->label, mode,
                 (unsigned long long)pydbg_sampler_thread_sample_count(sampler));
    printf("    %s %s: %d samples, %llu reads (%.2f per sample)\n", py->label, mode, samples,
           (unsigned long long)pydbg_sampler_read_calls(sampler),
           (double)pydbg_sampler_read_calls(sampler) / samples);
    pydbg_sampler_free(sampler);
    pydbg_process_close(process);
    if (errors)
        fail_msg("%s %s: %d mismatches", py->label, mode, errors);
}

/* With a filter that nobody passes, samples are empty but still counted. */
static void sample_filtered_out(const python *py, const scenario *s, uint32_t flags)
{
    pydbg_process *process = NULL;
    pydbg_sampler *sampler = NULL;
    pydbg_sampler_options options = PYDBG_SAMPLER_OPTIONS_INIT;
    const pydbg_sample *sample = NULL;
    options.flags = flags;
    assert_int_equal(pydbg_process_attach(&process, s->pid, NULL), PYDBG_OK);
    assert_int_equal(pydbg_sampler_new(&sampler, process, &options), PYDBG_OK);
    for (int n = 0; n < 10; n++) {
        assert_int_equal(pydbg_sampler_sample(sampler, &sample), PYDBG_OK);
        if (pydbg_sample_thread_count(sample) != 0)
            fail_msg("%s: flags %#x: %zu threads kept, every thread is blocked", py->label,
                     flags, pydbg_sample_thread_count(sample));
    }
    assert_int_equal(pydbg_sampler_sample_count(sampler), 10);
    pydbg_sampler_free(sampler);
    pydbg_process_close(process);
}

static void test_known_stacks(void **state)
{
    const python *py = *state;
    for (size_t k = 0; k < 2; k++) {
        const scenario *s = &py->known[k];
        if (!s->ready)
            fail_msg("%s: %s", py->label, s->error);
        /* The recorder thread exits after writing: wait for the recorded threads only. */
        double deadline = now_s() + 15;
        while (os_thread_count(s->pid) != s->gt.thread_count && now_s() < deadline)
            sleep_ms(20);
        assert_int_equal(os_thread_count(s->pid), s->gt.thread_count);
        sample_known(py, s, 0, KNOWN_SAMPLES, "running");
        sample_known(py, s, PYDBG_SAMPLER_THREAD_STATE, 20, "thread-state");
        sample_known(py, s, PYDBG_SAMPLER_GIL, 20, "gil");
        /* Before the paused samples: threads resumed from a ptrace stop are briefly
         * runnable while their interrupted wait restarts. */
        sample_filtered_out(py, s, PYDBG_SAMPLER_RUNNING_ONLY);
        sample_known(py, s, PYDBG_SAMPLER_PAUSE, PAUSED_SAMPLES, "paused");
    }
}

/* ---- stress ---------------------------------------------------------------------- */

static int parse_stress(stress_info *info)
{
    char *text = read_file(info->path), *save = NULL;
    int ended = 0;
    if (!text)
        return -1;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4];
        size_t n = split_tabs(line, f, 4);
        if (strcmp(f[0], "recursion") == 0 && n == 2) {
            info->recursion_ident = strtoull(f[1], NULL, 10);
        } else if (strcmp(f[0], "function") == 0 && n == 4 && info->function_count < 16) {
            struct fn_range *r = &info->functions[info->function_count++];
            snprintf(r->name, sizeof r->name, "%s", f[1]);
            r->first = atoi(f[2]);
            r->last = atoi(f[3]);
        } else if (strcmp(f[0], "callsite") == 0 && n == 4 && info->call_count < 8) {
            struct call_site *c = &info->calls[info->call_count++];
            snprintf(c->caller, sizeof c->caller, "%s", f[1]);
            snprintf(c->callee, sizeof c->callee, "%s", f[2]);
            c->line = atoi(f[3]);
        } else if (strcmp(f[0], "end") == 0) {
            ended = 1;
        }
    }
    free(text);
    return ended && info->recursion_ident && info->function_count && info->call_count ? 0
                                                                                      : -1;
}

/* The line `caller` must be at while it calls `callee`, or 0 if it never calls it. */
static int stress_call_line(const stress_info *info, const char *caller, const char *callee)
{
    for (size_t i = 0; i < info->call_count; i++)
        if (strcmp(info->calls[i].caller, caller) == 0 &&
            strcmp(info->calls[i].callee, callee) == 0)
            return info->calls[i].line;
    return 0;
}

static const struct fn_range *stress_function(const stress_info *info, const char *name)
{
    for (size_t i = 0; i < info->function_count; i++)
        if (strcmp(info->functions[i].name, name) == 0)
            return &info->functions[i];
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_stress(void **state)
{
    const python *py = *state;
    stress_info info;
    pydbg_process *process = NULL;
    pydbg_sampler *sampler = NULL;
    uint64_t ok = 0, failed = 0, recursion_seen = 0, bad_recursion = 0, recursion_deepest = 0, thread_max = 0;
    double slowest = 0, start;
    int errors = 0, rc;

    memset(&info, 0, sizeof info);
    snprintf(info.path, sizeof info.path, "%s/stress-%s.txt", workdir, py->label);
    {
        char *argv[] = {(char *)py->path, PYDBG_SAMPLING_DIR "/stress.py", info.path,
                        "--depth", "300", "--lifetime", "60", NULL};
        info.pid = spawn(argv);
    }
    if (info.pid <= 0 || wait_for_file(info.path, info.pid, GT_TIMEOUT_S) != 0 ||
        parse_stress(&info) != 0) {
        kill_and_reap(info.pid);
        fail_msg("%s: the stress target did not start", py->label);
    }
    rc = pydbg_process_attach(&process, info.pid, NULL);
    if (rc != PYDBG_OK) {
        kill_and_reap(info.pid);
        fail_msg("%s: attach: %s", py->label, pydbg_last_error());
    }
    rc = pydbg_sampler_new(&sampler, process, NULL);
    if (rc != PYDBG_OK) {
        pydbg_process_close(process);
        kill_and_reap(info.pid);
        fail_msg("%s: sampler: %s", py->label, pydbg_last_error());
    }
    start = now_s();
    /* 2.7 - 3.10 see the recursion thread whole far less often (most of its stacks
     * are torn), the more so in a slow (sanitizer) build: sample on until it has been
     * seen often enough to count what gets through, within a bound. */
    while (now_s() - start < STRESS_SECONDS ||
           (recursion_seen < STRESS_RECURSION_WANTED && now_s() - start < STRESS_MAX_SECONDS)) {
        const pydbg_sample *sample = NULL;
        double t0 = now_s();
        rc = pydbg_sampler_sample(sampler, &sample);
        double took = now_s() - t0;
        if (took > slowest)
            slowest = took;
        if (rc != PYDBG_OK) {
            /* The thread list itself caught mid-change: allowed, counted. */
            if (rc != PYDBG_ECORRUPT && rc != PYDBG_EREAD)
                mismatch(&errors, "%s: sample failed: %d %s", py->label, rc,
                         pydbg_sampler_errmsg(sampler));
            failed++;
            continue;
        }
        ok++;
        size_t n = pydbg_sample_thread_count(sample);
        if (n > thread_max)
            thread_max = n;
        for (size_t i = 0; i < n; i++) {
            if (pydbg_sample_thread_error(sample, i) != PYDBG_OK) {
                if (pydbg_sample_frame_count(sample, i) != 0)
                    mismatch(&errors, "%s: a torn thread with %zu frames", py->label,
                             pydbg_sample_frame_count(sample, i));
                continue;
            }
            size_t fc = pydbg_sample_frame_count(sample, i);
            int errors_before_thread = errors;
            int is_recursion = pydbg_sample_thread_ident(sample, i) == info.recursion_ident;
            /* Walk outermost to innermost; in the recursion thread, expect
             * recursion_main, then descend..., then at most one leaf. */
            int phase = 0; /* 0: expect recursion_main, 1: descend or leaf, 2: after leaf */
            for (size_t f = fc; f-- > 0;) {
                uint64_t key = pydbg_sample_frame_code(sample, i, f);
                int line = pydbg_sample_frame_line(sample, i, f);
                const char *function = NULL, *filename = NULL;
                if (pydbg_sampler_code_info(sampler, key, &function, NULL, &filename, NULL) !=
                        PYDBG_OK || !function || !filename || !*function || !*filename) {
                    mismatch(&errors, "%s: code key %llu does not resolve", py->label,
                             (unsigned long long)key);
                    continue;
                }
                const struct fn_range *r = ends_with(filename, "/stress.py")
                                               ? stress_function(&info, function)
                                               : NULL;
                if (ends_with(filename, "/stress.py") && !r)
                    mismatch(&errors, "%s: unknown function %s in stress.py", py->label,
                             function);
                if (r && (line < r->first || line > r->last))
                    mismatch(&errors, "%s: %s at line %d, outside its lines %d-%d", py->label,
                             function, line, r->first, r->last);
                if (!is_recursion)
                    continue;
                if (!r) {
                    mismatch(&errors, "%s: recursion thread frame %zu is %s (%s)", py->label,
                             f, function, filename);
                    break;
                }
                const char *expect = phase == 0 ? "recursion_main" : NULL;
                if (expect && strcmp(function, expect) != 0) {
                    mismatch(&errors, "%s: recursion thread starts with %s", py->label,
                             function);
                    break;
                }
                if (phase == 1 && strcmp(function, "descend") != 0 &&
                    strcmp(function, "leaf") != 0) {
                    mismatch(&errors, "%s: %s inside the recursion", py->label, function);
                    break;
                }
                if (phase == 2) {
                    mismatch(&errors, "%s: %s called from leaf", py->label, function);
                    break;
                }
                phase = strcmp(function, "leaf") == 0 ? 2 : 1;
                if (f > 0) {
                    const char *callee = NULL;
                    pydbg_sampler_code_info(sampler, pydbg_sample_frame_code(sample, i, f - 1),
                                            &callee, NULL, NULL, NULL);
                    int call_line = callee ? stress_call_line(&info, function, callee) : 0;
                    if (call_line && line != call_line) {
                        mismatch(&errors, "%s: %s at line %d while it calls %s (line %d)",
                                 py->label, function, line, callee, call_line);
                        break;
                    }
                }
            }
            if (is_recursion && errors > errors_before_thread) {
                errors = errors_before_thread; /* counted below, bounded after the run */
                bad_recursion++;
                if (bad_recursion <= 2) {
                    printf("      the stack (innermost first, %zu frames):", fc);
                    for (size_t f = 0; f < fc && f < 12; f++) {
                        const char *function = NULL;
                        pydbg_sampler_code_info(sampler, pydbg_sample_frame_code(sample, i, f),
                                                &function, NULL, NULL, NULL);
                        printf(" %s:%d", S(function), pydbg_sample_frame_line(sample, i, f));
                    }
                    printf("%s\n", fc > 12 ? " ..." : "");
                }
            }
            if (is_recursion) {
                recursion_seen++;
                if (fc > recursion_deepest)
                    recursion_deepest = fc;
            }
        }
    }
    uint64_t stacks = pydbg_sampler_thread_sample_count(sampler);
    uint64_t torn = pydbg_sampler_torn_count(sampler);
    printf("    %s stress: %llu samples (%llu failed) in %.1f s, %llu thread stacks, "
           "%llu torn (%.2f%%), up to %llu threads, recursion seen %llu times up to %llu "
           "frames (%llu impossible), slowest sample %.1f ms\n",
           py->label, (unsigned long long)ok, (unsigned long long)failed, now_s() - start,
           (unsigned long long)stacks, (unsigned long long)torn,
           stacks ? 100.0 * (double)torn / (double)stacks : 0.0, (unsigned long long)thread_max,
           (unsigned long long)recursion_seen, (unsigned long long)recursion_deepest,
           (unsigned long long)bad_recursion, slowest * 1e3);
    pydbg_sampler_free(sampler);
    pydbg_process_close(process);
    kill_and_reap(info.pid);
    unlink(info.path);
    if (slowest > SLOW_SAMPLE_S)
        mismatch(&errors, "%s: one sample took %.1f s", py->label, slowest);
    if (ok < 100 || failed > ok)
        mismatch(&errors, "%s: only %llu good samples, %llu failed", py->label,
                 (unsigned long long)ok, (unsigned long long)failed);
    /* Without pausing, a stack can always be caught mid-change in a way no check
     * sees (the same frame re-pushed at the same place between two reads). What
     * the checks let through is measured here and must stay rare: at most one
     * recursion stack in 500 (plus one). Measured in 3 s runs: 0 - 3 in 80 000 on
     * 3.12, 0 elsewhere; before the caller checks of 1.0.0, 0.2 - 1.3 %, and 2.7 -
     * 3.10 up to 3 % before the top frame's caller was read again after its copies. */
    if (bad_recursion * 500 > recursion_seen + 500)
        mismatch(&errors, "%s: %llu impossible recursion stacks of %llu", py->label,
                 (unsigned long long)bad_recursion, (unsigned long long)recursion_seen);
    if (recursion_seen < 50 || recursion_deepest < 20)
        mismatch(&errors, "%s: the recursion thread was seen whole %llu times (deepest %llu)",
                 py->label, (unsigned long long)recursion_seen,
                 (unsigned long long)recursion_deepest);
    if (errors)
        fail_msg("%s stress: %d problems", py->label, errors);
}

/* ---- a new thread ------------------------------------------------------------------ */

/* A thread started between two samples is in the second: it is linked in at the
 * head of its interpreter's thread list, and the old head's `prev`, read with the
 * thread states every sample, names it. 2.7's thread states have no `prev`: the
 * list head is read every 16 samples there, so the thread shows within 17. */
static void test_new_thread(void **state)
{
    const python *py = *state;
    char base[PATH_MAX], ready[PATH_MAX + 8], go[PATH_MAX + 8], started[PATH_MAX + 8],
        script[PATH_MAX];
    pydbg_process *process = NULL;
    pydbg_sampler *sampler = NULL;
    const pydbg_sample *sample = NULL;
    unsigned long long ident = 0;
    int limit, seen_at = 0, fd;

    snprintf(base, sizeof base, "%s/new_thread_%s", workdir, py->label);
    snprintf(ready, sizeof ready, "%s.ready", base);
    snprintf(go, sizeof go, "%s.go", base);
    snprintf(started, sizeof started, "%s.started", base);
    snprintf(script, sizeof script, "%s/new_thread.py", PYDBG_SAMPLING_DIR);
    char *argv[] = {(char *)py->path, script, base, NULL};
    pid_t pid = spawn(argv);
    if (wait_for_file(ready, pid, GT_TIMEOUT_S) != 0) {
        kill_and_reap(pid);
        fail_msg("%s: new_thread.py did not start", py->label);
    }
    if (pydbg_process_attach(&process, pid, NULL) != PYDBG_OK) {
        kill_and_reap(pid);
        fail_msg("%s: attach: %s", py->label, pydbg_last_error());
    }
    if (pydbg_sampler_new(&sampler, process, NULL) != PYDBG_OK) {
        pydbg_process_close(process);
        kill_and_reap(pid);
        fail_msg("%s: sampler: %s", py->label, pydbg_last_error());
    }
    /* Three samples (the first reads the list heads), so that the next one is
     * not one that reads them again. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pydbg_sampler_sample(sampler, &sample), PYDBG_OK);
        assert_int_equal(pydbg_sample_thread_count(sample), 1);
    }
    fd = open(go, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    close(fd);
    if (wait_for_file(started, pid, GT_TIMEOUT_S) == 0) {
        char *text = read_file(started);
        if (text)
            ident = strtoull(text, NULL, 10);
        free(text);
    }
    limit = strncmp(pydbg_process_python_version(process), "2.", 2) == 0 ? 17 : 1;
    for (int i = 1; i <= limit && ident && !seen_at; i++) {
        assert_int_equal(pydbg_sampler_sample(sampler, &sample), PYDBG_OK);
        for (size_t t = 0; t < pydbg_sample_thread_count(sample); t++)
            if (pydbg_sample_thread_ident(sample, t) == ident)
                seen_at = i;
    }
    printf("    %s: the new thread is in sample %d after it started\n", py->label, seen_at);
    pydbg_sampler_free(sampler);
    pydbg_process_close(process);
    kill_and_reap(pid);
    if (!ident)
        fail_msg("%s: the new thread did not say it started", py->label);
    if (!seen_at)
        fail_msg("%s: the new thread (ident %llu) is not in the %d sample(s) after it started",
                 py->label, ident, limit);
}

int main(void)
{
    struct CMUnitTest tests[3 * MAX_PYTHONS];
    char names[3 * MAX_PYTHONS][96];
    size_t n = 0;
    signal(SIGPIPE, SIG_IGN);
    discover_pythons();
    if (python_count == 0) {
        fprintf(stderr, "no CPython found\n");
        return 1;
    }
    for (size_t i = 0; i < python_count; i++) {
        snprintf(names[n], sizeof names[n], "known_stacks_%s", pythons[i].label);
        tests[n] = (struct CMUnitTest){names[n], test_known_stacks, NULL, NULL, &pythons[i]};
        n++;
    }
    for (size_t i = 0; i < python_count; i++) {
        snprintf(names[n], sizeof names[n], "stress_%s", pythons[i].label);
        tests[n] = (struct CMUnitTest){names[n], test_stress, NULL, NULL, &pythons[i]};
        n++;
    }
    for (size_t i = 0; i < python_count; i++) {
        snprintf(names[n], sizeof names[n], "new_thread_%s", pythons[i].label);
        tests[n] = (struct CMUnitTest){names[n], test_new_thread, NULL, NULL, &pythons[i]};
        n++;
    }
    return _cmocka_run_group_tests("sampling", tests, n, start_known, stop_known);
}
