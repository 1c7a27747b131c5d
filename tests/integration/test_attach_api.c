/* The public attach + capture API against a real CPython of every installed version.
 *
 * For each interpreter found (PYDBG_TEST_PYTHONS, a colon-separated list, or else
 * /root/.pyenv/versions/[*]/bin/python and /usr/bin/python3.11), the many_threads
 * scenario is started; it records its own ground truth from the inside (see
 * targets/pydbg_gt.py: a tab-separated line file) and blocks. Each test attaches with
 * the public API only, captures with and without PYDBG_CAPTURE_PAUSE and compares
 * thread by thread, frame by frame. All targets are started at once, before the
 * tests, so that their start-up overlaps. */
#define _GNU_SOURCE /* prctl, setpgid */
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
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pydebug.h"

#ifndef PYDBG_INTEGRATION_TARGETS_DIR
#error "PYDBG_INTEGRATION_TARGETS_DIR must name tests/integration/targets"
#endif

#define MAX_TARGETS 32
#define TARGET_LIFETIME "180"
#define GT_TIMEOUT_S 60.0
#define MAX_REPORTED 10 /* mismatches printed per capture */

/* ---- ground truth ---------------------------------------------------------------- */

typedef struct gt_frame {
    int line, end_line, column, end_column, lasti;
    char *function, *qualname, *filename;
} gt_frame;

typedef struct gt_thread {
    uint64_t ident;
    int64_t native_id;
    int is_main;
    size_t frame_count;
    char *name;
    gt_frame *frames;
} gt_thread;

typedef struct ground_truth {
    int pid;
    char version[32];
    uint32_t hexversion;
    uint64_t recorder_ident;
    size_t thread_count;
    gt_thread *threads;
} ground_truth;

typedef struct target {
    char python[PATH_MAX];
    char json_path[PATH_MAX];
    char lines_path[PATH_MAX];
    pid_t pid;
    int ready;
    char error[512];
    ground_truth gt;
} target;

static target targets[MAX_TARGETS];
static size_t target_count;
static char workdir[64];
static char test_names[MAX_TARGETS][300];

static char *dup_or_null(const char *s)
{
    if (s == NULL || *s == '\0')
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static long long field_int(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    return strtoll(s, NULL, 10);
}

/* Splits `line` at tabs in place; returns the number of fields (at most `max`). */
static size_t split_tabs(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (tab == NULL)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        abort();
    for (;;) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (buf == NULL)
                abort();
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Parses the line file written by pydbg_gt.py; returns 0 or -1 with `err` set. */
static int parse_truth(const char *path, ground_truth *gt, char *err, size_t err_size)
{
    char *text = read_file(path);
    if (text == NULL) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    memset(gt, 0, sizeof *gt);
    size_t threads_cap = 0;
    gt_thread *cur = NULL;
    size_t frames_filled = 0;
    int ended = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[9];
        size_t n = split_tabs(line, f, 9);
        if (strcmp(f[0], "pid") == 0 && n == 2) {
            gt->pid = (int)field_int(f[1]);
        } else if (strcmp(f[0], "version") == 0 && n == 2) {
            snprintf(gt->version, sizeof gt->version, "%s", f[1]);
        } else if (strcmp(f[0], "hexversion") == 0 && n == 2) {
            gt->hexversion = (uint32_t)field_int(f[1]);
        } else if (strcmp(f[0], "recorder") == 0 && n == 2) {
            gt->recorder_ident = strtoull(f[1], NULL, 10);
        } else if (strcmp(f[0], "thread") == 0 && n == 6) {
            if (cur != NULL && frames_filled != cur->frame_count)
                break;
            if (gt->thread_count == threads_cap) {
                threads_cap = threads_cap ? threads_cap * 2 : 32;
                gt->threads = realloc(gt->threads, threads_cap * sizeof *gt->threads);
                if (gt->threads == NULL)
                    abort();
            }
            cur = &gt->threads[gt->thread_count++];
            cur->ident = strtoull(f[1], NULL, 10);
            cur->native_id = field_int(f[2]);
            cur->is_main = (int)field_int(f[3]);
            cur->frame_count = (size_t)field_int(f[4]);
            cur->name = dup_or_null(f[5]);
            cur->frames = calloc(cur->frame_count ? cur->frame_count : 1, sizeof *cur->frames);
            if (cur->frames == NULL)
                abort();
            frames_filled = 0;
        } else if (strcmp(f[0], "frame") == 0 && n == 9 && cur != NULL &&
                   frames_filled < cur->frame_count) {
            gt_frame *fr = &cur->frames[frames_filled++];
            fr->line = (int)field_int(f[1]);
            fr->end_line = (int)field_int(f[2]);
            fr->column = (int)field_int(f[3]);
            fr->end_column = (int)field_int(f[4]);
            fr->lasti = (int)field_int(f[5]);
            fr->function = dup_or_null(f[6]);
            fr->qualname = dup_or_null(f[7]);
            fr->filename = dup_or_null(f[8]);
        } else if (strcmp(f[0], "end") == 0) {
            ended = 1;
            break;
        } else {
            break;
        }
    }
    free(text);
    if (!ended || gt->thread_count == 0 || (cur != NULL && frames_filled != cur->frame_count)) {
        snprintf(err, err_size, "malformed ground truth file %s", path);
        return -1;
    }
    return 0;
}

static void free_truth(ground_truth *gt)
{
    for (size_t i = 0; i < gt->thread_count; i++) {
        gt_thread *t = &gt->threads[i];
        for (size_t j = 0; j < t->frame_count; j++) {
            free(t->frames[j].function);
            free(t->frames[j].qualname);
            free(t->frames[j].filename);
        }
        free(t->frames);
        free(t->name);
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

/* Starts argv in its own process group; it dies with us (PR_SET_PDEATHSIG). */
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
        int devnull = open("/dev/null", 0);
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
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* 1 if any thread of pid is stopped (state t/T) or still has a tracer. */
static int any_thread_stopped_or_traced(pid_t pid)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && !found) {
        if (e->d_name[0] == '.')
            continue;
        char file[PATH_MAX];
        snprintf(file, sizeof file, "/proc/%d/task/%s/status", (int)pid, e->d_name);
        char *status = read_file(file);
        if (status == NULL)
            continue;
        const char *state = strstr(status, "\nState:");
        const char *tracer = strstr(status, "\nTracerPid:");
        if (state != NULL) {
            char c = 0;
            sscanf(state, "\nState: %c", &c);
            if (c == 't' || c == 'T')
                found = 1;
        }
        if (tracer != NULL) {
            long tp = 0;
            sscanf(tracer, "\nTracerPid: %ld", &tp);
            if (tp != 0)
                found = 1;
        }
        free(status);
    }
    closedir(d);
    return found;
}

/* Counts threads of pid whose state is stopped (t or T); *total receives all threads. */
static size_t stopped_threads(pid_t pid, size_t *total)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    *total = 0;
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    size_t stopped = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char file[PATH_MAX];
        snprintf(file, sizeof file, "/proc/%d/task/%s/stat", (int)pid, e->d_name);
        char *stat = read_file(file);
        if (stat == NULL)
            continue;
        (*total)++;
        const char *paren = strrchr(stat, ')');
        if (paren != NULL && (paren[2] == 't' || paren[2] == 'T'))
            stopped++;
        free(stat);
    }
    closedir(d);
    return stopped;
}

static int all_threads_stopped(pid_t pid)
{
    size_t total;
    size_t stopped = stopped_threads(pid, &total);
    return total > 0 && stopped == total;
}

static int any_thread_stopped(pid_t pid)
{
    size_t total;
    return stopped_threads(pid, &total) > 0;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void add_python(const char *path)
{
    if (target_count == MAX_TARGETS || access(path, X_OK) != 0)
        return;
    char real[PATH_MAX];
    if (realpath(path, real) == NULL)
        return;
    for (size_t i = 0; i < target_count; i++) {
        char other[PATH_MAX];
        if (realpath(targets[i].python, other) != NULL && strcmp(other, real) == 0)
            return;
    }
    snprintf(targets[target_count++].python, PATH_MAX, "%s", path);
}

static void discover_pythons(void)
{
    const char *list = getenv("PYDBG_TEST_PYTHONS");
    if (list != NULL && *list != '\0') {
        char *copy = strdup(list), *save = NULL;
        for (char *p = strtok_r(copy, ":", &save); p != NULL; p = strtok_r(NULL, ":", &save))
            add_python(p);
        free(copy);
        return;
    }
    glob_t g;
    if (glob("/root/.pyenv/versions/*/bin/python", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            add_python(g.gl_pathv[i]);
        globfree(&g);
    }
    add_python("/usr/bin/python3.11");
}

static int start_targets(void **state)
{
    (void)state;
    snprintf(workdir, sizeof workdir, "/tmp/pydbg-attach-api-XXXXXX");
    if (mkdtemp(workdir) == NULL)
        return -1;
    for (size_t i = 0; i < target_count; i++) {
        target *t = &targets[i];
        snprintf(t->json_path, sizeof t->json_path, "%s/gt-%zu.json", workdir, i);
        snprintf(t->lines_path, sizeof t->lines_path, "%s/gt-%zu.txt", workdir, i);
        char *argv[] = {t->python, PYDBG_INTEGRATION_TARGETS_DIR "/many_threads.py",
                        t->json_path, "--lines", t->lines_path, "--lifetime",
                        TARGET_LIFETIME, NULL};
        t->pid = spawn(argv);
        if (t->pid < 0)
            snprintf(t->error, sizeof t->error, "fork: %s", strerror(errno));
    }
    /* The JSON file is renamed into place after the line file: wait for it. */
    double deadline = now_s() + GT_TIMEOUT_S;
    for (size_t i = 0; i < target_count; i++) {
        target *t = &targets[i];
        while (t->pid > 0 && !file_exists(t->json_path) && now_s() < deadline) {
            if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
                snprintf(t->error, sizeof t->error, "exited before writing its ground truth");
                t->pid = -1;
                break;
            }
            sleep_ms(20);
        }
        if (t->pid <= 0 || t->error[0])
            continue;
        if (!file_exists(t->lines_path)) {
            char *json = read_file(t->json_path);
            snprintf(t->error, sizeof t->error, "no ground truth: %.300s",
                     json ? json : "(timeout)");
            free(json);
            continue;
        }
        if (parse_truth(t->lines_path, &t->gt, t->error, sizeof t->error) == 0)
            t->ready = 1;
    }
    return 0;
}

static int stop_targets(void **state)
{
    (void)state;
    for (size_t i = 0; i < target_count; i++) {
        kill_and_reap(targets[i].pid);
        targets[i].pid = -1;
        unlink(targets[i].json_path);
        unlink(targets[i].lines_path);
        free_truth(&targets[i].gt);
    }
    rmdir(workdir);
    return 0;
}

/* The recorder thread exits after writing: wait until only the recorded threads remain. */
static void wait_recorder_gone(const target *t)
{
    double deadline = now_s() + 15;
    while (os_thread_count(t->pid) != t->gt.thread_count && now_s() < deadline)
        sleep_ms(20);
    assert_int_equal(os_thread_count(t->pid), t->gt.thread_count);
}

/* ---- comparison ------------------------------------------------------------------ */

/* One way of attaching and capturing; every one must agree with the ground truth. */
typedef struct capture_mode {
    const char *name;
    uint32_t attach_flags;
    uint32_t capture_flags;
    uint32_t max_depth; /* 0: unbounded (the default bound) */
} capture_mode;

static const capture_mode capture_modes[] = {
    {"live", 0, 0, 0},
    {"paused", 0, PYDBG_CAPTURE_PAUSE, 0},
    {"attached paused", PYDBG_ATTACH_PAUSED, 0, 0},
    {"/proc/PID/mem", PYDBG_ATTACH_PROC_MEM, 0, 0},
    {"no thread names", 0, PYDBG_CAPTURE_NO_THREAD_NAMES, 0},
    {"max depth 3", 0, 0, 3},
    {"max depth 1, paused", 0, PYDBG_CAPTURE_PAUSE, 1},
};

static int str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static int report(int *errors, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int report(int *errors, const char *fmt, ...)
{
    if (++*errors <= MAX_REPORTED) {
        va_list ap;
        va_start(ap, fmt);
        fputs("    mismatch: ", stdout);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
    return 0;
}

#define S(x) ((x) ? (x) : "(null)")

static int compare_thread(const gt_thread *w, const pydbg_thread *g, int py311, int py38,
                          const capture_mode *m)
{
    int errors = 0;
    const char *mode = m->name;
    const char *want_name = (m->capture_flags & PYDBG_CAPTURE_NO_THREAD_NAMES) ? NULL : w->name;
    size_t keep = w->frame_count;
    int cut = 0;
    if (m->max_depth != 0 && keep > m->max_depth) {
        keep = m->max_depth;
        cut = 1;
    }
    const char *lbl = w->name ? w->name : "(unnamed)";
    if (pydbg_thread_interpreter_id(g) != 0)
        report(&errors, "%s %s: interpreter id %lld", mode, lbl,
               (long long)pydbg_thread_interpreter_id(g));
    if (!str_eq(pydbg_thread_name(g), want_name))
        report(&errors, "%s %s: name expected %s got %s", mode, lbl, S(want_name),
               S(pydbg_thread_name(g)));
    if (pydbg_thread_is_main(g) != w->is_main)
        report(&errors, "%s %s: is_main expected %d got %d", mode, lbl, w->is_main,
               pydbg_thread_is_main(g));
    int64_t nid = pydbg_thread_native_id(g);
    if (py38 ? nid != w->native_id : (nid != -1 && nid != w->native_id))
        report(&errors, "%s %s: native id expected %lld got %lld", mode, lbl,
               (long long)w->native_id, (long long)nid);
    /* Every thread sits in a call that released the GIL. */
    if (pydbg_thread_holds_gil(g) == 1)
        report(&errors, "%s %s: holds the GIL, but it is blocked with the GIL released", mode,
               lbl);
    if (pydbg_thread_truncated(g) != cut)
        report(&errors, "%s %s: truncated is %d, expected %d (%zu frames)", mode, lbl,
               pydbg_thread_truncated(g), cut, w->frame_count);
    if (pydbg_thread_error(g) != PYDBG_OK)
        report(&errors, "%s %s: walk error %d (%s)", mode, lbl, pydbg_thread_error(g),
               pydbg_thread_errmsg(g));
    else if (pydbg_thread_errmsg(g) == NULL || pydbg_thread_errmsg(g)[0] != '\0')
        report(&errors, "%s %s: error message %s without an error", mode, lbl,
               S(pydbg_thread_errmsg(g)));
    size_t n = pydbg_thread_frame_count(g);
    if (n != keep)
        report(&errors, "%s %s: %zu frames expected, %zu captured", mode, lbl, keep, n);
    if (pydbg_thread_frame(g, n) != NULL)
        report(&errors, "%s %s: frame %zu (out of range) is not NULL", mode, lbl, n);
    for (size_t i = 0; i < n && i < keep; i++) {
        const gt_frame *wf = &w->frames[i];
        const pydbg_frame *gf = pydbg_thread_frame(g, i);
        if (gf == NULL) {
            report(&errors, "%s %s: frame %zu is NULL", mode, lbl, i);
            continue;
        }
        const char *qual = py311 ? wf->qualname : NULL;
        int col = py311 ? wf->column : -1, end_col = py311 ? wf->end_column : -1;
        int end_line = py311 ? wf->end_line : -1;
        if (!str_eq(pydbg_frame_function(gf), wf->function) ||
            !str_eq(pydbg_frame_qualname(gf), qual) ||
            !str_eq(pydbg_frame_filename(gf), wf->filename) ||
            pydbg_frame_line(gf) != wf->line || pydbg_frame_end_line(gf) != end_line ||
            pydbg_frame_column(gf) != col || pydbg_frame_end_column(gf) != end_col ||
            pydbg_frame_instruction_offset(gf) != wf->lasti)
            report(&errors,
                   "%s %s frame %zu: expected %s %s %s:%d-%d cols %d-%d lasti %d, "
                   "got %s %s %s:%d-%d cols %d-%d lasti %d",
                   mode, lbl, i, S(wf->function), S(qual), S(wf->filename), wf->line, end_line,
                   col, end_col, wf->lasti, S(pydbg_frame_function(gf)),
                   S(pydbg_frame_qualname(gf)), S(pydbg_frame_filename(gf)),
                   pydbg_frame_line(gf), pydbg_frame_end_line(gf), pydbg_frame_column(gf),
                   pydbg_frame_end_column(gf), pydbg_frame_instruction_offset(gf));
        /* The code address is an identity: equal for the same function, different otherwise. */
        uint64_t addr = pydbg_frame_code_address(gf);
        if (addr == 0)
            report(&errors, "%s %s frame %zu: code address 0", mode, lbl, i);
        for (size_t j = 0; j < i; j++) {
            const pydbg_frame *other = pydbg_thread_frame(g, j);
            int same = str_eq(w->frames[j].function, wf->function) &&
                       str_eq(w->frames[j].filename, wf->filename);
            if (other != NULL && same != (pydbg_frame_code_address(other) == addr))
                report(&errors, "%s %s: frames %zu and %zu: code addresses %s", mode, lbl, j,
                       i, same ? "differ for the same code" : "equal for different code");
        }
    }
    return errors;
}

static int compare_capture(const target *t, const pydbg_stacks *stacks, const capture_mode *m)
{
    int errors = 0;
    const char *mode = m->name;
    int py311 = t->gt.hexversion >= 0x030B0000;
    int py38 = t->gt.hexversion >= 0x03080000;
    size_t n = pydbg_stacks_thread_count(stacks);
    if (n != t->gt.thread_count)
        report(&errors, "%s: %zu threads expected, %zu captured", mode, t->gt.thread_count, n);
    if (pydbg_stacks_thread(stacks, n) != NULL)
        report(&errors, "%s: thread %zu (out of range) is not NULL", mode, n);
    int *seen = calloc(t->gt.thread_count + 1, sizeof *seen);
    if (seen == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const pydbg_thread *g = pydbg_stacks_thread(stacks, i);
        if (g == NULL) {
            report(&errors, "%s: thread %zu is NULL", mode, i);
            continue;
        }
        size_t k = 0;
        while (k < t->gt.thread_count && t->gt.threads[k].ident != pydbg_thread_ident(g))
            k++;
        if (k == t->gt.thread_count) {
            report(&errors, "%s: unexpected thread ident %llu", mode,
                   (unsigned long long)pydbg_thread_ident(g));
            continue;
        }
        if (seen[k]++)
            report(&errors, "%s: thread ident %llu captured twice", mode,
                   (unsigned long long)pydbg_thread_ident(g));
        int e = compare_thread(&t->gt.threads[k], g, py311, py38, m);
        errors += e;
    }
    for (size_t k = 0; k < t->gt.thread_count; k++)
        if (!seen[k])
            report(&errors, "%s: thread %llu (%s) missing", mode,
                   (unsigned long long)t->gt.threads[k].ident, S(t->gt.threads[k].name));
    free(seen);
    return errors;
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_version(void **state)
{
    target *t = *state;
    if (!t->ready)
        fail_msg("%s: %s", t->python, t->error);

    wait_recorder_gone(t);
    pydbg_process *p = NULL;
    int rc = pydbg_process_attach(&p, t->pid, NULL);
    if (rc != PYDBG_OK)
        fail_msg("attach %s (pid %d): %d %s: %s", t->python, (int)t->pid, rc,
                 pydbg_strerror(rc), pydbg_last_error());
    assert_non_null(p);
    assert_int_equal(pydbg_process_pid(p), t->pid);
    assert_string_equal(pydbg_process_python_version(p), t->gt.version);
    /* The release level may be unknown to the library (0xF0 is then assumed). */
    assert_int_equal(pydbg_process_python_hexversion(p) >> 8, t->gt.hexversion >> 8);
    const char *interp = pydbg_process_interpreter_path(p);
    assert_non_null(interp);
    if (!file_exists(interp))
        fail_msg("interpreter path '%s' does not exist", interp);

    pydbg_process_close(p);

    int errors = 0;
    for (size_t i = 0; i < sizeof capture_modes / sizeof capture_modes[0]; i++) {
        const capture_mode *m = &capture_modes[i];
        pydbg_attach_options aopts = PYDBG_ATTACH_OPTIONS_INIT;
        aopts.flags = m->attach_flags;
        rc = pydbg_process_attach(&p, t->pid, &aopts);
        if (rc != PYDBG_OK) {
            printf("    %s: attach failed: %d %s: %s\n", m->name, rc, pydbg_strerror(rc),
                   pydbg_last_error());
            errors++;
            continue;
        }
        if ((m->attach_flags & PYDBG_ATTACH_PAUSED) && !all_threads_stopped(t->pid)) {
            printf("    mismatch: %s: the target runs while the handle is paused\n", m->name);
            errors++;
        }
        pydbg_capture_options opts = PYDBG_CAPTURE_OPTIONS_INIT;
        opts.flags = m->capture_flags;
        opts.max_depth = m->max_depth;
        pydbg_stacks *stacks = NULL;
        double start = now_s();
        rc = pydbg_stacks_capture(&stacks, p, &opts);
        double took = now_s() - start;
        if (rc != PYDBG_OK) {
            printf("    %s capture failed: %d %s: %s\n", m->name, rc, pydbg_strerror(rc),
                   pydbg_process_errmsg(p));
            errors++;
        } else {
            assert_non_null(stacks);
            printf("    %s %s capture: %zu threads in %.2f ms\n", t->gt.version, m->name,
                   pydbg_stacks_thread_count(stacks), took * 1e3);
            errors += compare_capture(t, stacks, m);
            pydbg_stacks_free(stacks);
        }
        if ((m->capture_flags & PYDBG_CAPTURE_PAUSE) && any_thread_stopped(t->pid)) {
            printf("    mismatch: %s: the target is still stopped after the capture\n",
                   m->name);
            errors++;
        }
        pydbg_process_close(p);
        /* Detaching must leave the target running and untraced. */
        assert_int_equal(kill(t->pid, 0), 0);
        if (any_thread_stopped_or_traced(t->pid)) {
            printf("    mismatch: %s: the target is stopped or traced after close\n", m->name);
            errors++;
        }
    }
    if (errors)
        fail_msg("%s: %d mismatches against the ground truth", t->python, errors);
}

static target *first_ready_target(void)
{
    for (size_t i = 0; i < target_count; i++)
        if (targets[i].ready)
            return &targets[i];
    return NULL;
}

/* Pause and resume nest; the last resume lets the target run on. */
static void test_pause_resume(void **state)
{
    (void)state;
    target *t = first_ready_target();
    if (t == NULL)
        skip();
    wait_recorder_gone(t);
    pydbg_process *p = NULL;
    assert_int_equal(pydbg_process_attach(&p, t->pid, NULL), PYDBG_OK);
    assert_int_equal(pydbg_process_resume(p), PYDBG_ESTATE);
    assert_int_equal(pydbg_process_pause(p), PYDBG_OK);
    assert_true(all_threads_stopped(t->pid));
    assert_int_equal(pydbg_process_pause(p), PYDBG_OK);
    assert_int_equal(pydbg_process_resume(p), PYDBG_OK);
    assert_true(all_threads_stopped(t->pid));

    /* A capture inside an explicit pause, with or without the flag, sees the same. */
    static const capture_mode inside = {"inside pause", 0, PYDBG_CAPTURE_PAUSE, 0};
    pydbg_capture_options opts = PYDBG_CAPTURE_OPTIONS_INIT;
    opts.flags = PYDBG_CAPTURE_PAUSE;
    pydbg_stacks *stacks = NULL;
    assert_int_equal(pydbg_stacks_capture(&stacks, p, &opts), PYDBG_OK);
    assert_int_equal(compare_capture(t, stacks, &inside), 0);
    pydbg_stacks_free(stacks);
    /* The capture's own pause nests inside ours: the target is still stopped. */
    assert_true(all_threads_stopped(t->pid));

    assert_int_equal(pydbg_process_resume(p), PYDBG_OK);
    sleep_ms(20);
    assert_false(any_thread_stopped(t->pid));
    assert_int_equal(pydbg_process_resume(p), PYDBG_ESTATE);
    pydbg_process_close(p);
    assert_false(any_thread_stopped_or_traced(t->pid));
}

/* Pausing needs ptrace: with another tracer on the target it must fail with
 * PYDBG_ESTATE (documented in process.h: another debugger traces it), while reading without a pause still works. */
static void test_pause_refused_when_traced(void **state)
{
    (void)state;
    target *t = first_ready_target();
    if (t == NULL)
        skip();
    wait_recorder_gone(t);
    int ready_pipe[2];
    assert_int_equal(pipe(ready_pipe), 0);
    pid_t tracer = fork();
    assert_true(tracer >= 0);
    if (tracer == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char ok = 1;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task", (int)t->pid);
        DIR *d = opendir(path);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL)
            if (e->d_name[0] != '.' && ptrace(PTRACE_SEIZE, atoi(e->d_name), 0, 0) != 0)
                ok = 0;
        if (d != NULL)
            closedir(d);
        if (write(ready_pipe[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(ready_pipe[1]);
    char ok = 0;
    assert_int_equal(read(ready_pipe[0], &ok, 1), 1);
    close(ready_pipe[0]);
    if (!ok) {
        kill_and_reap(tracer);
        fail_msg("the helper could not PTRACE_SEIZE the target");
    }

    pydbg_process *p = NULL;
    int rc = pydbg_process_attach(&p, t->pid, NULL);
    if (rc == PYDBG_OK) {
        static const capture_mode traced = {"traced, live", 0, 0, 0};
        pydbg_stacks *stacks = NULL;
        int live_rc = pydbg_stacks_capture(&stacks, p, NULL);
        int live_errors = live_rc == PYDBG_OK ? compare_capture(t, stacks, &traced) : -1;
        pydbg_stacks_free(stacks);

        pydbg_capture_options opts = PYDBG_CAPTURE_OPTIONS_INIT;
        opts.flags = PYDBG_CAPTURE_PAUSE;
        stacks = (pydbg_stacks *)&stacks;
        int paused_rc = pydbg_stacks_capture(&stacks, p, &opts);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pydbg_process_errmsg(p));
        int pause_rc = pydbg_process_pause(p);
        if (pause_rc == PYDBG_OK)
            pydbg_process_resume(p);
        pydbg_process_close(p);
        kill_and_reap(tracer);
        if (live_rc != PYDBG_OK || live_errors != 0 || paused_rc != PYDBG_ESTATE ||
            stacks != NULL || msg[0] == '\0' || pause_rc != PYDBG_ESTATE)
            fail_msg("traced target: live capture %d with %d mismatches (expected 0, 0); "
                     "paused capture %d (expected PYDBG_ESTATE %d), out %s, message '%s'; "
                     "pydbg_process_pause %d (expected PYDBG_ESTATE %d)",
                     live_rc, live_errors, paused_rc, PYDBG_ESTATE,
                     stacks ? "not NULL" : "NULL", msg, pause_rc, PYDBG_ESTATE);
    } else {
        kill_and_reap(tracer);
        fail_msg("attach to a traced target: %d %s", rc, pydbg_last_error());
    }
    /* The tracer is gone: the target is neither stopped nor traced any more. */
    sleep_ms(50);
    assert_false(any_thread_stopped_or_traced(t->pid));
}

static void test_attach_missing_pid(void **state)
{
    (void)state;
    /* A child we have reaped: its PID is free (and not reused that quickly). */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    if (kill(pid, 0) == 0)
        skip();
    pydbg_process *p = (pydbg_process *)&p; /* must be overwritten with NULL */
    assert_int_equal(pydbg_process_attach(&p, pid, NULL), PYDBG_ENOPROC);
    assert_null(p);
    assert_non_null(pydbg_last_error());
    assert_true(strlen(pydbg_last_error()) > 0);
}

static void test_attach_not_python(void **state)
{
    (void)state;
    char *argv[] = {"/bin/sleep", "100", NULL};
    pid_t pid = spawn(argv);
    assert_true(pid > 0);
    sleep_ms(100);
    pydbg_process *p = (pydbg_process *)&p;
    int rc = pydbg_process_attach(&p, pid, NULL);
    kill_and_reap(pid);
    assert_int_equal(rc, PYDBG_ENOTPYTHON);
    assert_null(p);
    assert_true(strlen(pydbg_last_error()) > 0);
}

static void test_null_is_a_noop(void **state)
{
    (void)state;
    pydbg_process_close(NULL);
    pydbg_stacks_free(NULL);
    /* A NULL handle is an invalid argument, not a crash. */
    pydbg_stacks *s = (pydbg_stacks *)&s;
    assert_int_equal(pydbg_stacks_capture(&s, NULL, NULL), PYDBG_EINVAL);
    assert_null(s);
}

int main(void)
{
    discover_pythons();
    struct CMUnitTest tests[MAX_TARGETS + 5];
    size_t n = 0;
    for (size_t i = 0; i < target_count; i++) {
        snprintf(test_names[i], sizeof test_names[i], "attach+capture %.256s", targets[i].python);
        tests[n++] = (struct CMUnitTest){test_names[i], test_version, NULL, NULL, &targets[i]};
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_pause_resume);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_pause_refused_when_traced);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_attach_missing_pid);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_attach_not_python);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_null_is_a_noop);
    if (target_count == 0) {
        printf("no CPython found: nothing to attach to\n");
        return 1;
    }
    return _cmocka_run_group_tests("attach_api", tests, n, start_targets, stop_targets);
}
