/* Stopping every thread of a process with PTRACE_SEIZE + PTRACE_INTERRUPT.
 *
 * ptrace binds a tracee to the tracing thread: the thread that paused must be
 * the one that releases. A thread is counted as stopped when waitpid reports
 * any ptrace-stop for it: the interrupt's event stop, a group-stop (the
 * process was already stopped by SIGSTOP), or a signal-delivery-stop. The
 * last one means a signal arrived between the seize and the interrupt; it is
 * kept and handed back with PTRACE_DETACH, so the target still receives it. */
#include "mem/pause.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buffer.h"

/* Rounds of "list the threads, stop the new ones"; a process whose threads
 * keep multiplying faster than we stop them is reported, not chased forever. */
#define MAX_ROUNDS 100
#define MAX_THREADS 100000
/* How long all threads together may take to reach their stop: a thread in an
 * uninterruptible sleep (D state) only stops when it returns from the kernel. */
#define STOP_TIMEOUT_NS (5LL * 1000 * 1000 * 1000)

typedef enum thread_state { THREAD_WAITING, THREAD_STOPPED, THREAD_GONE } thread_state;

typedef struct paused_thread {
    int tid;
    int signal; /* to deliver on detach, 0 for none */
    thread_state state;
} paused_thread;

struct pydbg__pause {
    int pid;
    paused_thread *threads;
    size_t count;
    size_t capacity;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The value of field `key` ("TracerPid:") in /proc/PID/task/TID/status, or -1. */
static long status_field(int pid, int tid, const char *key)
{
    char path[96];
    char line[256];
    size_t key_length = strlen(key);
    long value = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
    f = fopen(path, "re");
    if (!f)
        return -1;
    /* status has a few dozen short lines; the bound guards against oddities. */
    for (int i = 0; i < 200 && fgets(line, sizeof line, f); i++) {
        if (strncmp(line, key, key_length) == 0) {
            value = strtol(line + key_length, NULL, 10);
            break;
        }
    }
    fclose(f);
    return value;
}

/* True if thread `tid` has exited (gone, or a zombie waiting to be reaped). */
static int thread_gone(int pid, int tid)
{
    char path[96];
    char text[512];
    FILE *f;
    size_t n;
    const char *paren = NULL;
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
    f = fopen(path, "re");
    if (!f)
        return 1;
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    for (const char *p = text; (p = strchr(p, ')')) != NULL; p++)
        paren = p;
    return !paren || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X';
}

static int ptrace_scope(void)
{
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    int scope = -1;
    if (f) {
        if (fscanf(f, "%d", &scope) != 1)
            scope = -1;
        fclose(f);
    }
    return scope;
}

static int permission_error(int pid, int tid, pydbg__error *err)
{
    long tracer = status_field(pid, tid, "TracerPid:");
    int scope;
    if (tracer > 0)
        return pydbg__fail(err, PYDBG_ESTATE, "process %d is already being traced by PID %ld",
                           pid, tracer);
    scope = ptrace_scope();
    if (scope > 0)
        return pydbg__fail(err, PYDBG_EPERM,
                           "not allowed to ptrace process %d: run as root or with "
                           "CAP_SYS_PTRACE, or set /proc/sys/kernel/yama/ptrace_scope to 0 "
                           "(it is %d)",
                           pid, scope);
    return pydbg__fail(err, PYDBG_EPERM,
                       "not allowed to ptrace process %d: run as the same user as the "
                       "target, as root, or with CAP_SYS_PTRACE",
                       pid);
}

static paused_thread *find_thread(pydbg__pause *pause, int tid)
{
    for (size_t i = 0; i < pause->count; i++)
        if (pause->threads[i].tid == tid)
            return &pause->threads[i];
    return NULL;
}

static void remember(pydbg__pause *pause, int tid, thread_state state)
{
    pause->threads[pause->count].tid = tid;
    pause->threads[pause->count].signal = 0;
    pause->threads[pause->count].state = state;
    pause->count++;
}

/* Seizes and interrupts `tid`; *seized tells whether it is now on its way to a
 * stop. Returns PYDBG_OK (seized, or skipped because it exited) or an error. */
static int seize_thread(pydbg__pause *pause, int tid, int *seized, pydbg__error *err)
{
    void *items;
    int rc;
    *seized = 0;
    if (pause->count >= MAX_THREADS)
        return pydbg__fail(err, PYDBG_ELIMIT, "process %d has more than %d threads", pause->pid,
                           MAX_THREADS);
    items = pause->threads;
    rc = pydbg__grow_array(&items, &pause->capacity, pause->count + 1, sizeof *pause->threads);
    pause->threads = items;
    if (rc != PYDBG_OK)
        return pydbg__fail(err, rc, "out of memory pausing process %d", pause->pid);
    if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0) {
        int e = errno;
        if (e == ESRCH)
            return PYDBG_OK;
        /* An exiting thread cannot be attached (EPERM): skip it, but keep it
         * known, for a zombie stays listed (the process's first thread does
         * until the last one exits). */
        if ((e == EPERM || e == EACCES) && thread_gone(pause->pid, tid)) {
            remember(pause, tid, THREAD_GONE);
            return PYDBG_OK;
        }
        if (e == EPERM || e == EACCES)
            return permission_error(pause->pid, tid, err);
        return pydbg__fail(err, PYDBG_EIO, "ptrace(PTRACE_SEIZE) of thread %d of process %d: "
                           "errno %d", tid, pause->pid, e);
    }
    if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0) {
        /* Only fails if the thread died since the seize. */
        remember(pause, tid, THREAD_GONE);
        waitpid(tid, NULL, __WALL | WNOHANG);
        return PYDBG_OK;
    }
    remember(pause, tid, THREAD_WAITING);
    *seized = 1;
    return PYDBG_OK;
}

/* Seizes every thread listed in /proc/PID/task that is not yet ours; counts
 * them in *added. */
static int seize_new_threads(pydbg__pause *pause, size_t *added, pydbg__error *err)
{
    char path[64];
    DIR *dir;
    struct dirent *entry;
    size_t listed = 0;
    int rc = PYDBG_OK;
    *added = 0;
    snprintf(path, sizeof path, "/proc/%d/task", pause->pid);
    dir = opendir(path);
    if (!dir) {
        if (errno == ENOENT || errno == ESRCH)
            return pydbg__fail(err, pause->count ? PYDBG_EEXITED : PYDBG_ENOPROC,
                               pause->count ? "process %d exited" : "process %d does not exist",
                               pause->pid);
        return pydbg__fail(err, PYDBG_EPERM, "cannot list the threads of process %d",
                           pause->pid);
    }
    while ((entry = readdir(dir)) != NULL) {
        char *end;
        long tid = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || tid <= 0 || tid > 0x7fffffff)
            continue;
        if (++listed > MAX_THREADS) {
            rc = pydbg__fail(err, PYDBG_ELIMIT, "process %d has more than %d threads",
                             pause->pid, MAX_THREADS);
            break;
        }
        if (find_thread(pause, (int)tid))
            continue;
        {
            int seized;
            rc = seize_thread(pause, (int)tid, &seized, err);
            if (rc != PYDBG_OK)
                break;
            *added += (size_t)seized;
        }
    }
    closedir(dir);
    return rc;
}

/* Waits until every seized thread has reached a ptrace-stop (or exited).
 * With `report` unset a timeout is returned without recording a message, so
 * that cleaning up after a failure keeps the failure's own message. */
static int wait_for_stops(pydbg__pause *pause, long long deadline, int report, pydbg__error *err)
{
    long sleep_ns = 20 * 1000;
    for (;;) {
        size_t waiting = 0;
        for (size_t i = 0; i < pause->count; i++) {
            paused_thread *t = &pause->threads[i];
            int status;
            pid_t r;
            if (t->state != THREAD_WAITING)
                continue;
            r = waitpid(t->tid, &status, __WALL | WNOHANG);
            if (r == 0) {
                waiting++;
                continue;
            }
            if (r < 0) {
                if (errno == EINTR) {
                    waiting++;
                    continue;
                }
                t->state = THREAD_GONE;
                continue;
            }
            if (WIFEXITED(status) || WIFSIGNALED(status)) {
                t->state = THREAD_GONE;
                continue;
            }
            if (!WIFSTOPPED(status)) {
                waiting++;
                continue;
            }
            /* status >> 16 is PTRACE_EVENT_STOP for the interrupt and for a
             * group-stop; 0 for a signal-delivery-stop, whose signal would be
             * lost unless passed on at detach. */
            if ((status >> 16) == 0)
                t->signal = WSTOPSIG(status);
            t->state = THREAD_STOPPED;
        }
        if (waiting == 0)
            return PYDBG_OK;
        if (now_ns() > deadline && !report)
            return PYDBG_ELIMIT;
        if (now_ns() > deadline)
            return pydbg__fail(err, PYDBG_ELIMIT,
                               "%zu threads of process %d did not stop within %lld s", waiting,
                               pause->pid, STOP_TIMEOUT_NS / 1000000000LL);
        {
            struct timespec ts = {0, sleep_ns};
            nanosleep(&ts, NULL);
            if (sleep_ns < 1000 * 1000)
                sleep_ns *= 2;
        }
    }
}

/* How long a failed pause waits for threads it already interrupted, which
 * must be stopped to be detached. */
#define DETACH_TIMEOUT_NS (2LL * 1000 * 1000 * 1000)

static void detach_all(pydbg__pause *pause)
{
    /* A seized thread left with a pending interrupt would stop later with
     * nobody to resume it, so give interrupted threads a chance to stop. */
    wait_for_stops(pause, now_ns() + DETACH_TIMEOUT_NS, 0, NULL);
    for (size_t i = 0; i < pause->count; i++) {
        paused_thread *t = &pause->threads[i];
        if (t->state != THREAD_STOPPED)
            continue;
        if (ptrace(PTRACE_DETACH, t->tid, NULL, (void *)(long)t->signal) != 0 && errno == ESRCH) {
            /* It was killed while stopped (SIGKILL ends a ptrace-stop); as its
             * tracer we reap it, or it lingers as a zombie. */
            int status;
            waitpid(t->tid, &status, __WALL | WNOHANG);
        }
        t->state = THREAD_GONE;
    }
}

/* Whether every thread the kernel counts in the process is one stopped here
 * (or its first thread, which stays listed as a zombie when it exits before the
 * others). A listing of /proc/PID/task ends early when the thread it has
 * reached is released at that moment, so a listing that adds nothing proves
 * nothing while threads exit; the count, from the same kernel, does. */
static int all_counted(pydbg__pause *pause)
{
    long counted = status_field(pause->pid, pause->pid, "Threads:");
    const paused_thread *first = find_thread(pause, pause->pid);
    long accounted =
        pydbg__pause_thread_count(pause) + (first && first->state == THREAD_GONE ? 1 : 0);
    return counted < 0 || counted <= accounted;
}

/* Lets a thread that is exiting finish, before the threads are listed again. */
static void pause_briefly(int round)
{
    struct timespec ts = {0, (round < 5 ? 50L << round : 1000L) * 1000};
    nanosleep(&ts, NULL);
}

int pydbg__pause_process(pydbg__pause **out, int pid, pydbg__error *err)
{
    pydbg__pause *pause;
    long long deadline = now_ns() + STOP_TIMEOUT_NS;
    int rc = PYDBG_OK;
    int round;
    if (!out)
        return pydbg__fail(err, PYDBG_EINVAL, "invalid arguments to pydbg__pause_process");
    *out = NULL;
    if (pid <= 0)
        return pydbg__fail(err, PYDBG_EINVAL, "invalid process id %d", pid);
    if (pid == getpid())
        return pydbg__fail(err, PYDBG_EINVAL, "a process cannot pause itself");
    {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d", pid);
        if (access(path, F_OK) != 0)
            return pydbg__fail(err, PYDBG_ENOPROC, "process %d does not exist", pid);
    }
    pause = calloc(1, sizeof *pause);
    if (!pause)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory pausing process %d", pid);
    pause->pid = pid;

    /* Stopped threads create no threads, so once a listing adds no thread to
     * a set that is entirely stopped, and the kernel counts no thread beyond
     * it, the set is complete. */
    for (round = 0; round < MAX_ROUNDS; round++) {
        size_t added;
        rc = seize_new_threads(pause, &added, err);
        if (rc == PYDBG_OK)
            rc = wait_for_stops(pause, deadline, 1, err);
        if (rc != PYDBG_OK)
            break;
        if (added > 0)
            continue;
        if (all_counted(pause))
            break;
        if (now_ns() > deadline) {
            rc = pydbg__fail(err, PYDBG_ELIMIT,
                             "process %d has threads that could not be listed and stopped "
                             "within %lld s",
                             pid, STOP_TIMEOUT_NS / 1000000000LL);
            break;
        }
        pause_briefly(round);
    }
    if (rc == PYDBG_OK && round == MAX_ROUNDS)
        rc = pydbg__fail(err, PYDBG_ELIMIT,
                         "the threads of process %d kept changing (appearing, or counted by "
                         "the kernel but not listed) for %d rounds",
                         pid, MAX_ROUNDS);
    if (rc == PYDBG_OK && pydbg__pause_thread_count(pause) == 0)
        rc = pydbg__fail(err, PYDBG_EEXITED, "process %d exited", pid);
    if (rc != PYDBG_OK) {
        pydbg__pause_release(pause);
        return rc;
    }
    *out = pause;
    return PYDBG_OK;
}

int pydbg__pause_thread_count(const pydbg__pause *pause)
{
    int n = 0;
    if (!pause)
        return 0;
    for (size_t i = 0; i < pause->count; i++)
        if (pause->threads[i].state == THREAD_STOPPED)
            n++;
    return n;
}

void pydbg__pause_release(pydbg__pause *pause)
{
    if (!pause)
        return;
    detach_all(pause);
    free(pause->threads);
    free(pause);
}
