/* Pausing real CPython processes, checked through /proc: every thread in
 * tracing stop ('t') and no CPU time used while paused, running again after. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem/pause.h"

static const char *python(void)
{
    static const char *candidates[] = {"/usr/bin/python3", "/root/.pyenv/versions/3.12.1/bin/python",
                                       "/usr/local/bin/python3"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], X_OK) == 0)
            return candidates[i];
    return NULL;
}

typedef struct target {
    pid_t pid;
    int out; /* the child's stdout */
} target;

/* The running target, killed by the teardown if a test fails half-way. */
static target *live_target;

static int kill_live_target(void **state)
{
    (void)state;
    if (live_target) {
        kill(live_target->pid, SIGKILL);
        waitpid(live_target->pid, NULL, 0);
        close(live_target->out);
        live_target = NULL;
    }
    return 0;
}

/* Reads one line from the target, waiting at most `ms`. */
static int read_line(target *t, char *line, size_t size, int ms)
{
    size_t n = 0;
    while (n + 1 < size) {
        struct pollfd p = {t->out, POLLIN, 0};
        char c;
        if (poll(&p, 1, ms) <= 0 || read(t->out, &c, 1) != 1)
            return -1;
        if (c == '\n')
            break;
        line[n++] = c;
    }
    line[n] = '\0';
    return 0;
}

static void start_python(target *t, const char *script)
{
    int out[2];
    char line[64];
    const char *py = python();
    assert_non_null(py);
    assert_int_equal(pipe(out), 0);
    t->pid = fork();
    assert_true(t->pid >= 0);
    if (t->pid == 0) {
        /* Never outlive a test runner that dies half-way. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], 1);
        close(out[0]);
        execl(py, py, "-c", script, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    t->out = out[0];
    live_target = t;
    assert_int_equal(read_line(t, line, sizeof line, 10000), 0);
    assert_string_equal(line, "ready");
}

static void stop_python(target *t)
{
    live_target = NULL;
    kill(t->pid, SIGKILL);
    assert_int_equal(waitpid(t->pid, NULL, 0), t->pid);
    close(t->out);
}

/* The state letter of each thread; returns how many threads were read. */
static int thread_states(pid_t pid, char *states, int max)
{
    char path[64];
    DIR *dir;
    struct dirent *e;
    int n = 0;
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    dir = opendir(path);
    assert_non_null(dir);
    while ((e = readdir(dir)) != NULL && n < max) {
        char stat_path[400], text[512];
        FILE *f;
        size_t got;
        char *paren;
        if (e->d_name[0] == '.')
            continue;
        snprintf(stat_path, sizeof stat_path, "%s/%s/stat", path, e->d_name);
        f = fopen(stat_path, "r");
        if (!f)
            continue; /* exited meanwhile */
        got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[got] = '\0';
        paren = strrchr(text, ')');
        assert_non_null(paren);
        states[n++] = paren[2];
    }
    closedir(dir);
    return n;
}

/* utime + stime of the whole process, in clock ticks. */
static unsigned long long cpu_ticks(pid_t pid)
{
    char path[64], text[1024];
    unsigned long long utime = 0, stime = 0;
    FILE *f;
    size_t got;
    char *p;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "r");
    assert_non_null(f);
    got = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[got] = '\0';
    p = strrchr(text, ')');
    assert_non_null(p);
    /* After ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                            &stime),
                     2);
    return utime + stime;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char spinners[] =
    "import threading, time\n"
    "def spin():\n"
    "    while True:\n"
    "        pass\n"
    "for i in range(4):\n"
    "    threading.Thread(target=spin, daemon=True).start()\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    time.sleep(0.01)\n";

static void test_pause_every_thread(void **state)
{
    (void)state;
    target t;
    pydbg__pause *pause;
    pydbg__error err;
    char states[64];
    if (!python())
        skip();
    start_python(&t, spinners);
    for (int cycle = 0; cycle < 10; cycle++) {
        unsigned long long before, after;
        int n;
        assert_int_equal(pydbg__pause_process(&pause, t.pid, &err), PYDBG_OK);
        n = thread_states(t.pid, states, 64);
        assert_int_equal(n, 5);
        assert_int_equal(pydbg__pause_thread_count(pause), n);
        for (int i = 0; i < n; i++)
            if (states[i] != 't')
                fail_msg("cycle %d: thread %d in state %c while paused", cycle, i, states[i]);
        /* Stopped threads use no CPU time. */
        if (cycle == 0) {
            before = cpu_ticks(t.pid);
            sleep_ms(300);
            assert_true(cpu_ticks(t.pid) == before);
        }
        pydbg__pause_release(pause);

        n = thread_states(t.pid, states, 64);
        assert_int_equal(n, 5);
        for (int i = 0; i < n; i++)
            if (states[i] != 'R' && states[i] != 'S')
                fail_msg("cycle %d: thread %d in state %c after release", cycle, i, states[i]);
        if (cycle == 0 || cycle == 9) {
            before = cpu_ticks(t.pid);
            sleep_ms(300);
            after = cpu_ticks(t.pid);
            assert_true(after > before); /* ~30 ticks on an idle machine */
        }
    }
    /* How long a pause and release of five threads takes. */
    {
        long long start, total;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        start = ts.tv_sec * 1000000000LL + ts.tv_nsec;
        for (int i = 0; i < 200; i++) {
            assert_int_equal(pydbg__pause_process(&pause, t.pid, &err), PYDBG_OK);
            pydbg__pause_release(pause);
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        total = ts.tv_sec * 1000000000LL + ts.tv_nsec - start;
        print_message("pause + release of 5 threads: %lld us on average\n", total / 200 / 1000);
    }
    stop_python(&t);
}

/* Threads that come and go all the time: each pause must still catch all. */
static void test_pause_while_threads_churn(void **state)
{
    (void)state;
    static const char script[] =
        "import threading\n"
        "def churn():\n"
        "    while True:\n"
        "        t = threading.Thread(target=lambda: None)\n"
        "        t.start()\n"
        "        t.join()\n"
        "for i in range(3):\n"
        "    threading.Thread(target=churn, daemon=True).start()\n"
        "print('ready', flush=True)\n"
        "threading.Event().wait()\n";
    target t;
    char states[256];
    if (!python())
        skip();
    start_python(&t, script);
    for (int cycle = 0; cycle < 30; cycle++) {
        pydbg__pause *pause;
        pydbg__error err;
        int n;
        assert_int_equal(pydbg__pause_process(&pause, t.pid, &err), PYDBG_OK);
        n = thread_states(t.pid, states, 256);
        assert_true(n >= 4);
        for (int i = 0; i < n; i++)
            if (states[i] != 't')
                fail_msg("cycle %d: a thread in state %c while paused", cycle, states[i]);
        assert_int_equal(pydbg__pause_thread_count(pause), n);
        pydbg__pause_release(pause);
    }
    stop_python(&t);
}

/* A signal sent just before each pause is delivered all the same. */
static void test_signals_are_not_lost(void **state)
{
    (void)state;
    static const char script[] =
        "import signal, threading, sys, time\n"
        "count = 0\n"
        "def on_usr1(sig, frame):\n"
        "    global count\n"
        "    count += 1\n"
        "    print('usr1', count, flush=True)\n"
        "signal.signal(signal.SIGUSR1, on_usr1)\n"
        "def spin():\n"
        "    while True:\n"
        "        pass\n"
        "for i in range(2):\n"
        "    threading.Thread(target=spin, daemon=True).start()\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    time.sleep(0.001)\n";
    target t;
    if (!python())
        skip();
    start_python(&t, script);
    for (int i = 1; i <= 30; i++) {
        pydbg__pause *pause;
        pydbg__error err;
        char line[64], expect[64];
        assert_int_equal(kill(t.pid, SIGUSR1), 0);
        assert_int_equal(pydbg__pause_process(&pause, t.pid, &err), PYDBG_OK);
        pydbg__pause_release(pause);
        if (read_line(&t, line, sizeof line, 5000) != 0)
            fail_msg("signal %d was lost", i);
        snprintf(expect, sizeof expect, "usr1 %d", i);
        assert_string_equal(line, expect);
    }
    stop_python(&t);
}

/* A process stopped by SIGSTOP can be paused, and is still stopped after. */
static void test_stopped_process_stays_stopped(void **state)
{
    (void)state;
    target t;
    pydbg__pause *pause;
    pydbg__error err;
    char states[64];
    int n;
    siginfo_t info;
    if (!python())
        skip();
    start_python(&t, spinners);
    assert_int_equal(kill(t.pid, SIGSTOP), 0);
    assert_int_equal(waitid(P_PID, (id_t)t.pid, &info, WSTOPPED), 0);
    assert_int_equal(pydbg__pause_process(&pause, t.pid, &err), PYDBG_OK);
    assert_int_equal(pydbg__pause_thread_count(pause), 5);
    n = thread_states(t.pid, states, 64);
    for (int i = 0; i < n; i++)
        assert_int_equal(states[i], 't');
    pydbg__pause_release(pause);
    /* A detached thread passes through R on its way back into the group-stop. */
    for (int tries = 0; tries < 100; tries++) {
        int stopped = 0;
        n = thread_states(t.pid, states, 64);
        for (int i = 0; i < n; i++)
            stopped += states[i] == 'T';
        if (stopped == n)
            break;
        sleep_ms(10);
    }
    assert_int_equal(n, 5);
    for (int i = 0; i < n; i++)
        if (states[i] != 'T')
            fail_msg("thread %d in state %c, expected still stopped", i, states[i]);
    assert_int_equal(kill(t.pid, SIGCONT), 0);
    sleep_ms(100);
    n = thread_states(t.pid, states, 64);
    for (int i = 0; i < n; i++)
        assert_true(states[i] == 'R' || states[i] == 'S');
    stop_python(&t);
}

static void test_already_traced(void **state)
{
    (void)state;
    target t;
    int ready[2], done[2];
    pid_t other;
    pydbg__pause *pause;
    pydbg__error err;
    char byte, expect[64];
    if (!python())
        skip();
    start_python(&t, spinners);
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    other = fork();
    assert_true(other >= 0);
    if (other == 0) {
        pydbg__pause *held;
        close(ready[0]);
        close(done[1]);
        if (pydbg__pause_process(&held, t.pid, &err) != PYDBG_OK)
            _exit(1);
        if (write(ready[1], "1", 1) != 1)
            _exit(2);
        while (read(done[0], &byte, 1) > 0) {
        }
        pydbg__pause_release(held);
        _exit(0);
    }
    close(ready[1]);
    close(done[0]);
    assert_int_equal(read(ready[0], &byte, 1), 1);

    assert_int_equal(pydbg__pause_process(&pause, t.pid, &err), PYDBG_ESTATE);
    assert_null(pause);
    snprintf(expect, sizeof expect, "already being traced by PID %d", (int)other);
    if (!strstr(err.message, expect))
        fail_msg("message: %s", err.message);

    close(done[1]);
    {
        int status;
        assert_int_equal(waitpid(other, &status, 0), other);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    close(ready[0]);
    /* The other tracer is gone: now it works. */
    assert_int_equal(pydbg__pause_process(&pause, t.pid, &err), PYDBG_OK);
    assert_int_equal(pydbg__pause_thread_count(pause), 5);
    pydbg__pause_release(pause);
    stop_python(&t);
}

static void test_permission_denied(void **state)
{
    (void)state;
    target t;
    pid_t helper;
    int status;
    if (!python())
        skip();
    if (geteuid() != 0) {
        print_message("not root: cannot drop to another user, skipping\n");
        skip();
    }
    start_python(&t, spinners);
    helper = fork();
    assert_true(helper >= 0);
    if (helper == 0) {
        pydbg__pause *pause;
        pydbg__error err;
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(10);
        if (pydbg__pause_process(&pause, t.pid, &err) != PYDBG_EPERM)
            _exit(11);
        /* The message says what to do about it. */
        if (!strstr(err.message, "root") || !strstr(err.message, "CAP_SYS_PTRACE"))
            _exit(12);
        _exit(0);
    }
    assert_int_equal(waitpid(helper, &status, 0), helper);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* Nothing was left attached. */
    {
        char states[64];
        int n = thread_states(t.pid, states, 64);
        for (int i = 0; i < n; i++)
            assert_true(states[i] == 'R' || states[i] == 'S');
    }
    stop_python(&t);
}

static void test_no_such_process(void **state)
{
    (void)state;
    pydbg__pause *pause = (pydbg__pause *)&pause;
    pydbg__error err;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_int_equal(pydbg__pause_process(&pause, pid, &err), PYDBG_ENOPROC);
    assert_null(pause);
    assert_int_equal(err.code, PYDBG_ENOPROC);
    assert_int_equal(pydbg__pause_process(&pause, getpid(), &err), PYDBG_EINVAL);
    assert_int_equal(pydbg__pause_process(&pause, 0, &err), PYDBG_EINVAL);
    pydbg__pause_release(NULL);
    assert_int_equal(pydbg__pause_thread_count(NULL), 0);
}

/* A zombie has no threads left to stop. */
static void test_zombie(void **state)
{
    (void)state;
    pydbg__pause *pause;
    pydbg__error err;
    siginfo_t info;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
    assert_int_equal(pydbg__pause_process(&pause, pid, &err), PYDBG_EEXITED);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
}

/* A process whose first thread has exited (pthread_exit in main) while the
 * others run: the kernel still counts the zombie first thread, which cannot be
 * stopped; the pause stops the others and completes. */
static void *spin_thread(void *arg);

static void test_first_thread_exited(void **state)
{
    (void)state;
    pydbg__pause *pause;
    pydbg__error err;
    char states[16];
    int ready[2];
    char byte;
    pid_t pid;
    assert_int_equal(pipe(ready), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pthread_t thread;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (int i = 0; i < 2; i++)
            pthread_create(&thread, NULL, spin_thread, NULL);
        if (write(ready[1], "r", 1) != 1)
            _exit(2);
        pthread_exit(NULL);
    }
    close(ready[1]);
    assert_int_equal(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    /* Until the first thread is a zombie. */
    for (int i = 0; i < 200; i++) {
        int n = thread_states(pid, states, 16);
        if (n == 3 && memchr(states, 'Z', 3))
            break;
        sleep_ms(10);
    }
    for (int cycle = 0; cycle < 5; cycle++) {
        int n;
        assert_int_equal(pydbg__pause_process(&pause, pid, &err), PYDBG_OK);
        assert_int_equal(pydbg__pause_thread_count(pause), 2);
        n = thread_states(pid, states, 16);
        assert_int_equal(n, 3);
        for (int i = 0; i < n; i++)
            if (states[i] != 't' && states[i] != 'Z')
                fail_msg("cycle %d: thread %d in state %c while paused", cycle, i, states[i]);
        pydbg__pause_release(pause);
    }
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
}

/* ---- signals arriving during the pause ---------------------------------------------- */

/* Real-time signals queue, so every one sent must be handled exactly once;
 * one that arrives between PTRACE_SEIZE and the interrupt is reported to the
 * tracer as a signal-delivery-stop and is lost unless handed back at detach. */
static atomic_int received; /* handlers run on any thread, concurrently */

static void count_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&received, 1);
}

static void *spin_thread(void *arg)
{
    (void)arg;
    for (;;) {
    }
    return NULL;
}

/* The counting target: spinning threads, the handler, and a pipe on which a
 * byte asks for the count. */
static void counting_child(int request, int reply)
{
    struct sigaction sa;
    pthread_t thread;
    char byte;
    int count;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGRTMIN, &sa, NULL);
    for (int i = 0; i < 3; i++)
        pthread_create(&thread, NULL, spin_thread, NULL);
    if (write(reply, "r", 1) != 1)
        _exit(2);
    if (read(request, &byte, 1) != 1)
        _exit(3);
    /* Let signals still queued arrive. */
    sleep_ms(200);
    count = atomic_load(&received);
    if (write(reply, &count, sizeof count) != (ssize_t)sizeof count)
        _exit(4);
    for (;;)
        pause();
}

static void test_queued_signals_survive_pauses(void **state)
{
    (void)state;
    int request[2], reply[2];
    pid_t child, sender;
    int sent = 0, count = -1, status, pauses = 0;
    char byte;
    int sent_pipe[2];
    assert_int_equal(pipe(request), 0);
    assert_int_equal(pipe(reply), 0);
    assert_int_equal(pipe(sent_pipe), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        counting_child(request[0], reply[1]);
    assert_int_equal(read(reply[0], &byte, 1), 1);

    /* A separate process sends the signals while this one pauses and releases. */
    sender = fork();
    assert_true(sender >= 0);
    if (sender == 0) {
        int n = 0;
        for (int i = 0; i < 20000; i++) {
            union sigval value = {.sival_int = i};
            if (sigqueue(child, SIGRTMIN, value) == 0)
                n++;
            else if (errno == EAGAIN)
                sleep_ms(1); /* the queue is full: let the child catch up */
            /* Spread the signals over about a second of pauses. */
            if (i % 20 == 0)
                sleep_ms(1);
        }
        if (write(sent_pipe[1], &n, sizeof n) != (ssize_t)sizeof n)
            _exit(1);
        _exit(0);
    }
    close(sent_pipe[1]);
    for (;;) {
        struct pollfd p = {sent_pipe[0], POLLIN, 0};
        pydbg__pause *pause;
        pydbg__error err;
        if (poll(&p, 1, 0) > 0)
            break;
        assert_int_equal(pydbg__pause_process(&pause, child, &err), PYDBG_OK);
        pydbg__pause_release(pause);
        pauses++;
    }
    assert_int_equal(read(sent_pipe[0], &sent, sizeof sent), (ssize_t)sizeof sent);
    assert_int_equal(waitpid(sender, &status, 0), sender);
    assert_int_equal(write(request[1], "c", 1), 1);
    assert_int_equal(read(reply[0], &count, sizeof count), (ssize_t)sizeof count);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    print_message("%d signals sent during %d pauses, %d received\n", sent, pauses, count);
    assert_true(sent > 1000);
    assert_int_equal(count, sent);
    close(request[0]);
    close(request[1]);
    close(reply[0]);
    close(reply[1]);
    close(sent_pipe[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pause_every_thread, kill_live_target),
        cmocka_unit_test_teardown(test_pause_while_threads_churn, kill_live_target),
        cmocka_unit_test_teardown(test_signals_are_not_lost, kill_live_target),
        cmocka_unit_test_teardown(test_stopped_process_stays_stopped, kill_live_target),
        cmocka_unit_test(test_queued_signals_survive_pauses),
        cmocka_unit_test_teardown(test_already_traced, kill_live_target),
        cmocka_unit_test_teardown(test_permission_denied, kill_live_target),
        cmocka_unit_test_teardown(test_no_such_process, kill_live_target),
        cmocka_unit_test_teardown(test_zombie, kill_live_target),
        cmocka_unit_test(test_first_thread_exited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
