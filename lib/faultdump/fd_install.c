/* Installing the dumpers: the fatal-signal handler, on-demand signals, the
 * watchdog thread, and the public faultdump API.
 *
 * Everything a handler needs is prepared here, in normal context, under one
 * mutex: the interpreter description (pydbg__fd_py), a dump context with its
 * buffers and reader (mmap, so no heap is touched later), the alternate
 * signal stack. The handlers themselves only read that state, claim the one
 * dump context with an atomic compare-and-swap (so dumps never interleave and
 * a fault inside a dump is recognised), and chain to what they replaced. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "faultdump/fd_internal.h"
#include "faultdump/fd_install.h"
#include "pydebug/faultdump.h"
#include "util/error.h"
#include "walk/target.h"

#define DEFAULT_ALTSTACK (256u * 1024u)
/* How long a thread that crashes while another dumps waits for that dump. */
#define WAIT_OTHER_DUMP_MS 5000

pydbg__fd_python pydbg__fd_py;

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static int g_located;               /* pydbg__fd_py was computed (found or not) */
static pydbg__fd_ctx *g_ctx;        /* shared by the signal handlers */
static _Atomic int g_dump_owner;    /* TID of the thread dumping with g_ctx, 0 if none */

/* Output: a descriptor, or a path opened at dump time (LD_PRELOAD). */
static int g_fatal_fd = 2;
static char g_fatal_path[1024];
static uint32_t g_fatal_flags;

static void *g_altstack;
static size_t g_altstack_size;

static const struct {
    int signum;
    const char *name; /* faulthandler's names */
} fatal_signals[] = {
    {SIGBUS, "Bus error"},
    {SIGILL, "Illegal instruction"},
    {SIGFPE, "Floating point exception"},
    {SIGABRT, "Aborted"},
    {SIGSEGV, "Segmentation fault"},
};
#define NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])

static struct sigaction g_fatal_previous[NFATAL];
static _Atomic int g_fatal_active[NFATAL];
static _Atomic int g_installed;

#define MAX_SIGNAL 65
typedef struct user_signal {
    _Atomic int enabled;
    int fd;
    uint32_t flags;
    char path[1024];
    struct sigaction previous;
} user_signal;
static user_signal g_user[MAX_SIGNAL];

/* Copies a string into a fixed array, cutting it if needed. */
static void copy_text(char *out, size_t size, const char *text)
{
    size_t n = strnlen(text, size - 1);
    memcpy(out, text, n);
    out[n] = '\0';
}

/* ---- contexts ---------------------------------------------------------- */

int pydbg__fd_ctx_new(pydbg__fd_ctx **out)
{
    const char *reader = getenv("PYDEBUG_FAULTDUMP_READER");
    void *memory = mmap(NULL, sizeof(pydbg__fd_ctx), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pydbg__fd_ctx *ctx;
    int rc;
    *out = NULL;
    if (memory == MAP_FAILED)
        return PYDBG_ENOMEM;
    ctx = memory;
    rc = pydbg__reader_open_self(&ctx->reader, reader && strcmp(reader, "pipe") == 0);
    if (rc != PYDBG_OK) {
        munmap(memory, sizeof(pydbg__fd_ctx));
        return rc;
    }
    *out = ctx;
    return PYDBG_OK;
}

void pydbg__fd_ctx_free(pydbg__fd_ctx *ctx)
{
    if (!ctx)
        return;
    pydbg__reader_destroy(ctx->reader);
    munmap(ctx, sizeof *ctx);
}

/* ---- locating the interpreter (normal context, under g_mutex) ------------ */

static int locate_locked(void)
{
    pydbg__target *t = NULL;
    pydbg__error err = {0};
    pydbg__fd_python py;
    int rc = pydbg__target_open(&t, (int)getpid(), 0, &err);
    g_located = 1;
    if (rc != PYDBG_OK) {
        pydbg__fd_py.ready = 0;
        return rc;
    }
    memset(&py, 0, sizeof py);
    py.layout = t->layout;
    py.hexversion = t->hexversion;
    py.runtime = t->runtime;
    py.interp_head_var = t->interp_head_var;
    py.type_code = t->types.code;
    py.type_str = t->types.str;
    py.type_bytes = t->types.bytes;
    memcpy(py.version, t->version, sizeof py.version);
    copy_text(py.interpreter_path, sizeof py.interpreter_path, t->interpreter_path);
    py.ready = 1;
    pydbg__target_close(t);
    /* Handlers may be reading the old description: they only ever see a
     * complete one or the not-ready flag. */
    pydbg__fd_py.ready = 0;
    atomic_signal_fence(memory_order_seq_cst);
    pydbg__fd_py = py;
    return PYDBG_OK;
}

static int prepare_locked(void)
{
    if (!g_located)
        locate_locked();
    if (!g_ctx) {
        int rc = pydbg__fd_ctx_new(&g_ctx);
        if (rc != PYDBG_OK)
            return rc;
    }
    return PYDBG_OK;
}

int pydbg__fd_python_present(void)
{
    int present;
    pthread_mutex_lock(&g_mutex);
    if (!g_located)
        locate_locked();
    present = pydbg__fd_py.ready;
    pthread_mutex_unlock(&g_mutex);
    return present;
}

/* ---- claiming the shared context (signal context) -------------------------- */

static int my_tid(void)
{
    return (int)syscall(SYS_gettid);
}

/* 1: claimed; 0: busy in another thread; -1: this thread is already dumping. */
static int claim(int tid, int wait_ms)
{
    for (int waited = 0;; waited += 10) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&g_dump_owner, &expected, tid))
            return 1;
        if (expected == tid)
            return -1;
        if (waited >= wait_ms)
            return 0;
        {
            struct timespec ten_ms = {0, 10 * 1000 * 1000};
            nanosleep(&ten_ms, NULL);
        }
    }
}

static void release(void)
{
    atomic_store(&g_dump_owner, 0);
}

static int open_output(int fd, const char *path, int *opened)
{
    *opened = 0;
    if (path[0] == '\0')
        return fd;
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0)
        *opened = 1;
    return fd;
}

static void call_previous(const struct sigaction *previous, int signum, siginfo_t *info,
                          void *ucontext, int raise_default)
{
    if ((previous->sa_flags & SA_SIGINFO) && previous->sa_sigaction) {
        previous->sa_sigaction(signum, info, ucontext);
    } else if (previous->sa_handler != SIG_DFL && previous->sa_handler != SIG_IGN) {
        previous->sa_handler(signum);
    } else if (raise_default) {
        /* The default action, now that it is restored: with SA_NODEFER the
         * signal is delivered at once and the process dies of it. */
        raise(signum);
    }
}

/* ---- the fatal-signal handler ---------------------------------------------- */

static void fatal_handler(int signum, siginfo_t *info, void *ucontext)
{
    int saved_errno = errno;
    size_t i;
    int claimed;
    for (i = 0; i < NFATAL && fatal_signals[i].signum != signum; i++)
        ;
    if (i == NFATAL)
        return;
    /* Restore the previous disposition first, as faulthandler does: a fault
     * during the dump, or the re-raise, then takes the normal course. */
    if (atomic_exchange(&g_fatal_active[i], 0) == 0) {
        /* Uninstalled while another handler stacked on top of ours kept us
         * reachable: be transparent. */
        sigaction(signum, &g_fatal_previous[i], NULL);
        call_previous(&g_fatal_previous[i], signum, info, ucontext, 1);
        errno = saved_errno;
        return;
    }
    sigaction(signum, &g_fatal_previous[i], NULL);
    claimed = claim(my_tid(), WAIT_OTHER_DUMP_MS);
    if (claimed == 1 && g_ctx) {
        int opened;
        int fd = open_output(g_fatal_fd, g_fatal_path, &opened);
        if (fd >= 0) {
            pydbg__fd_begin(g_ctx, fd);
            pydbg__fd_puts(g_ctx, "Fatal Python error: ");
            pydbg__fd_puts(g_ctx, fatal_signals[i].name);
            pydbg__fd_puts(g_ctx, "\n\n");
            pydbg__fd_dump_python(g_ctx, !(g_fatal_flags & PYDBG_FAULTDUMP_CURRENT_THREAD_ONLY),
                                  0);
            if (!(g_fatal_flags & PYDBG_FAULTDUMP_NO_NATIVE))
                pydbg__fd_dump_native(g_ctx, ucontext);
            pydbg__fd_flush(g_ctx);
            if (opened)
                close(fd);
        }
        release();
    }
    /* claimed == -1: the fault happened inside this thread's own dump; the
     * restored disposition takes it from here without a second dump. */
    errno = saved_errno;
    call_previous(&g_fatal_previous[i], signum, info, ucontext, 1);
}

/* ---- the on-demand handler -------------------------------------------------- */

static void user_handler(int signum, siginfo_t *info, void *ucontext)
{
    int saved_errno = errno;
    user_signal *u;
    if (signum <= 0 || signum >= MAX_SIGNAL)
        return;
    u = &g_user[signum];
    if (!atomic_load(&u->enabled)) {
        call_previous(&u->previous, signum, info, ucontext, 0);
        errno = saved_errno;
        return;
    }
    /* An on-demand dump never waits: if a dump is running, this one is dropped. */
    if (g_ctx && claim(my_tid(), 0) == 1) {
        int opened;
        int fd = open_output(u->fd, u->path, &opened);
        if (fd >= 0) {
            pydbg__fd_begin(g_ctx, fd);
            pydbg__fd_dump_python(g_ctx, !(u->flags & PYDBG_FAULTDUMP_CURRENT_THREAD_ONLY), 0);
            pydbg__fd_flush(g_ctx);
            if (opened)
                close(fd);
        }
        release();
    }
    if (u->flags & PYDBG_FAULTDUMP_CHAIN)
        call_previous(&u->previous, signum, info, ucontext, 0);
    errno = saved_errno;
}

/* ---- installation ------------------------------------------------------------ */

/* The calling thread gets our alternate stack unless it has one at least as large. */
static int setup_altstack_locked(size_t size)
{
    stack_t current, ours;
    if (sigaltstack(NULL, &current) == 0 && !(current.ss_flags & SS_DISABLE) &&
        current.ss_size >= size)
        return PYDBG_OK;
    if (!g_altstack || g_altstack_size < size) {
        long page = sysconf(_SC_PAGESIZE);
        size_t guard = page > 0 ? (size_t)page : 4096;
        void *memory = mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED)
            return PYDBG_ENOMEM;
        /* A guard page below the stack turns an overflow into a clean death. */
        mprotect(memory, guard, PROT_NONE);
        /* The old stack stays mapped: another thread may still run on it. */
        g_altstack = (char *)memory + guard;
        g_altstack_size = size;
    }
    ours.ss_sp = g_altstack;
    ours.ss_size = g_altstack_size;
    ours.ss_flags = 0;
    if (sigaltstack(&ours, NULL) != 0)
        return PYDBG_EIO;
    return PYDBG_OK;
}

int pydbg__fd_install(uint32_t flags, int fd, const char *path, size_t altstack_size)
{
    int rc;
    pthread_mutex_lock(&g_mutex);
    rc = prepare_locked();
    if (rc == PYDBG_OK)
        rc = setup_altstack_locked(altstack_size ? altstack_size : DEFAULT_ALTSTACK);
    if (rc != PYDBG_OK) {
        pthread_mutex_unlock(&g_mutex);
        return pydbg__fail(NULL, rc, "cannot prepare the crash handler: %s", pydbg_strerror(rc));
    }
    g_fatal_flags = flags;
    g_fatal_fd = fd;
    copy_text(g_fatal_path, sizeof g_fatal_path, path ? path : "");
    for (size_t i = 0; i < NFATAL; i++) {
        struct sigaction action;
        if (atomic_load(&g_fatal_active[i]))
            continue; /* already ours: keep the original previous handler */
        memset(&action, 0, sizeof action);
        action.sa_sigaction = fatal_handler;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        if (sigaction(fatal_signals[i].signum, &action, &g_fatal_previous[i]) != 0) {
            rc = pydbg__fail(NULL, PYDBG_EIO, "cannot install a handler for signal %d: %s",
                             fatal_signals[i].signum, strerror(errno));
            break;
        }
        atomic_store(&g_fatal_active[i], 1);
    }
    atomic_store(&g_installed, rc == PYDBG_OK);
    pthread_mutex_unlock(&g_mutex);
    if (rc != PYDBG_OK)
        pydbg_faultdump_uninstall();
    return rc;
}

int pydbg_faultdump_install(const pydbg_faultdump_options *options)
{
    pydbg_faultdump_options opts = PYDBG_FAULTDUMP_OPTIONS_INIT;
    if (options) {
        if (options->struct_size < sizeof(uint32_t) * 2 + sizeof(int) ||
            options->struct_size > sizeof opts)
            return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_faultdump_install: bad struct_size %u",
                               options->struct_size);
        memcpy(&opts, options, options->struct_size);
    }
    if (opts.fd < 0)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_faultdump_install: bad fd %d", opts.fd);
    if (opts.altstack_size != 0 && opts.altstack_size < 64u * 1024u)
        opts.altstack_size = 64u * 1024u;
    return pydbg__fd_install(opts.flags, opts.fd, NULL, opts.altstack_size);
}

int pydbg_faultdump_uninstall(void)
{
    int was;
    pthread_mutex_lock(&g_mutex);
    was = atomic_exchange(&g_installed, 0);
    for (size_t i = 0; i < NFATAL; i++) {
        struct sigaction current;
        if (!atomic_exchange(&g_fatal_active[i], 0))
            continue;
        /* Only restore a disposition that is still ours: a handler installed
         * on top of ours keeps its place and reaches ours as its previous. */
        if (sigaction(fatal_signals[i].signum, NULL, &current) == 0 &&
            (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == fatal_handler)
            sigaction(fatal_signals[i].signum, &g_fatal_previous[i], NULL);
    }
    pthread_mutex_unlock(&g_mutex);
    return was ? PYDBG_OK
               : pydbg__fail(NULL, PYDBG_ESTATE, "the crash handler is not installed");
}

int pydbg_faultdump_is_installed(void)
{
    return atomic_load(&g_installed) != 0;
}

int pydbg_faultdump_refresh(void)
{
    int rc;
    pthread_mutex_lock(&g_mutex);
    rc = locate_locked();
    pthread_mutex_unlock(&g_mutex);
    if (rc != PYDBG_OK)
        return pydbg__fail(NULL, rc, "no usable CPython interpreter in this process: %s",
                           pydbg__last_error_message());
    return PYDBG_OK;
}

static int fatal_signal(int signum)
{
    for (size_t i = 0; i < NFATAL; i++)
        if (fatal_signals[i].signum == signum)
            return 1;
    return 0;
}

int pydbg__fd_register(int signum, int fd, const char *path, uint32_t flags)
{
    user_signal *u;
    struct sigaction action;
    int rc;
    if (signum <= 0 || signum >= MAX_SIGNAL || signum == SIGKILL || signum == SIGSTOP ||
        fatal_signal(signum))
        return pydbg__fail(NULL, PYDBG_EINVAL, "signal %d cannot be used for dumps", signum);
    if (fd < 0 && !(path && path[0]))
        return pydbg__fail(NULL, PYDBG_EINVAL, "bad file descriptor %d", fd);
    pthread_mutex_lock(&g_mutex);
    rc = prepare_locked();
    if (rc != PYDBG_OK) {
        pthread_mutex_unlock(&g_mutex);
        return pydbg__fail(NULL, rc, "cannot prepare the dump: %s", pydbg_strerror(rc));
    }
    u = &g_user[signum];
    /* Disabled while its settings change, so a signal never sees half of them. */
    atomic_store(&u->enabled, 0);
    u->fd = fd;
    u->flags = flags;
    copy_text(u->path, sizeof u->path, path ? path : "");
    memset(&action, 0, sizeof action);
    action.sa_sigaction = user_handler;
    sigemptyset(&action.sa_mask);
    /* SA_RESTART: the interrupted system calls of the program go on. */
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    {
        struct sigaction current;
        int ours = sigaction(signum, NULL, &current) == 0 && (current.sa_flags & SA_SIGINFO) &&
                   current.sa_sigaction == user_handler;
        if (sigaction(signum, &action, ours ? NULL : &u->previous) != 0) {
            pthread_mutex_unlock(&g_mutex);
            return pydbg__fail(NULL, PYDBG_EIO, "cannot install a handler for signal %d: %s",
                               signum, strerror(errno));
        }
    }
    atomic_store(&u->enabled, 1);
    pthread_mutex_unlock(&g_mutex);
    return PYDBG_OK;
}

int pydbg_faultdump_register(int signum, int fd, uint32_t flags)
{
    if (fd < 0)
        return pydbg__fail(NULL, PYDBG_EINVAL, "bad file descriptor %d", fd);
    return pydbg__fd_register(signum, fd, NULL, flags);
}

int pydbg_faultdump_unregister(int signum)
{
    user_signal *u;
    struct sigaction current;
    if (signum <= 0 || signum >= MAX_SIGNAL)
        return pydbg__fail(NULL, PYDBG_EINVAL, "bad signal %d", signum);
    u = &g_user[signum];
    pthread_mutex_lock(&g_mutex);
    if (!atomic_exchange(&u->enabled, 0)) {
        pthread_mutex_unlock(&g_mutex);
        return pydbg__fail(NULL, PYDBG_ESTATE, "signal %d is not registered", signum);
    }
    if (sigaction(signum, NULL, &current) == 0 && (current.sa_flags & SA_SIGINFO) &&
        current.sa_sigaction == user_handler)
        sigaction(signum, &u->previous, NULL);
    pthread_mutex_unlock(&g_mutex);
    return PYDBG_OK;
}

int pydbg_faultdump_dump(int fd, uint32_t flags)
{
    int rc, claimed;
    if (fd < 0)
        return PYDBG_EINVAL;
    if (!g_ctx) {
        /* First use outside a handler: prepare (not async-signal-safe). */
        pthread_mutex_lock(&g_mutex);
        rc = prepare_locked();
        pthread_mutex_unlock(&g_mutex);
        if (rc != PYDBG_OK)
            return rc;
    }
    claimed = claim(my_tid(), 0);
    if (claimed != 1)
        return PYDBG_ELIMIT;
    pydbg__fd_begin(g_ctx, fd);
    rc = pydbg__fd_dump_python(g_ctx, !(flags & PYDBG_FAULTDUMP_CURRENT_THREAD_ONLY), 0);
    if (pydbg__fd_flush(g_ctx) != PYDBG_OK && rc == PYDBG_OK)
        rc = PYDBG_EIO;
    release();
    return rc;
}

/* ---- the watchdog ---------------------------------------------------------------- */

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int cond_ready;
    int running;
    int cancel;
    pthread_t thread;
    struct timespec interval;
    int fd;
    uint32_t flags;
    char header[64];
    size_t header_length;
    pydbg__fd_ctx *ctx;
} g_wd = {.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .fd = 2};

/* faulthandler's format_timeout: "Timeout (H:MM:SS[.ffffff])!\n". */
static size_t format_timeout(char *out, size_t size, const struct timespec *t)
{
    char text[64];
    size_t n = 0;
    unsigned long long sec = (unsigned long long)t->tv_sec, us = (unsigned long long)t->tv_nsec / 1000;
    unsigned long long parts[3] = {sec / 3600, (sec / 60) % 60, sec % 60};
    const char *prefix = "Timeout (";
    memcpy(text, prefix, strlen(prefix));
    n = strlen(prefix);
    for (int p = 0; p < 3; p++) {
        char digits[24];
        size_t k = 0;
        unsigned long long v = parts[p];
        if (p > 0)
            text[n++] = ':';
        do {
            digits[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        if (p > 0 && k < 2)
            digits[k++] = '0';
        while (k > 0)
            text[n++] = digits[--k];
    }
    if (us) {
        text[n++] = '.';
        for (int d = 5; d >= 0; d--) {
            unsigned long long div = 1;
            for (int e = 0; e < d; e++)
                div *= 10;
            text[n++] = (char)('0' + (us / div) % 10);
        }
    }
    memcpy(text + n, ")!\n", 3);
    n += 3;
    if (n > size)
        n = size;
    memcpy(out, text, n);
    return n;
}

static void deadline_after(const struct timespec *interval, struct timespec *out)
{
    clock_gettime(CLOCK_MONOTONIC, out);
    out->tv_sec += interval->tv_sec;
    out->tv_nsec += interval->tv_nsec;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_nsec -= 1000000000L;
        out->tv_sec++;
    }
}

static void *watchdog_main(void *unused)
{
    sigset_t all;
    (void)unused;
    /* Signals are for the program's threads, as in faulthandler's watchdog. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    pthread_mutex_lock(&g_wd.mutex);
    for (;;) {
        struct timespec deadline;
        int rc = 0;
        deadline_after(&g_wd.interval, &deadline);
        while (!g_wd.cancel && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&g_wd.cond, &g_wd.mutex, &deadline);
        if (g_wd.cancel)
            break;
        pydbg__fd_begin(g_wd.ctx, g_wd.fd);
        pydbg__fd_write(g_wd.ctx, g_wd.header, g_wd.header_length);
        pydbg__fd_dump_python(g_wd.ctx, 1, 1);
        pydbg__fd_flush(g_wd.ctx);
        if (g_wd.flags & PYDBG_FAULTDUMP_EXIT)
            _exit(1);
        if (!(g_wd.flags & PYDBG_FAULTDUMP_REPEAT))
            break;
    }
    pthread_mutex_unlock(&g_wd.mutex);
    return NULL;
}

static void cancel_locked(void)
{
    if (!g_wd.running)
        return;
    g_wd.cancel = 1;
    pthread_cond_signal(&g_wd.cond);
    pthread_mutex_unlock(&g_wd.mutex);
    pthread_join(g_wd.thread, NULL);
    pthread_mutex_lock(&g_wd.mutex);
    g_wd.running = 0;
    g_wd.cancel = 0;
}

int pydbg_faultdump_later(double timeout_seconds, int fd, uint32_t flags)
{
    int rc;
    if (!(timeout_seconds > 0) || timeout_seconds > 1e9)
        return pydbg__fail(NULL, PYDBG_EINVAL, "bad timeout");
    if (fd < 0)
        return pydbg__fail(NULL, PYDBG_EINVAL, "bad file descriptor %d", fd);
    pthread_mutex_lock(&g_mutex);
    rc = g_located ? PYDBG_OK : (locate_locked(), PYDBG_OK);
    pthread_mutex_unlock(&g_mutex);
    pthread_mutex_lock(&g_wd.mutex);
    cancel_locked();
    if (!g_wd.cond_ready) {
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_destroy(&g_wd.cond);
        pthread_cond_init(&g_wd.cond, &attr);
        pthread_condattr_destroy(&attr);
        g_wd.cond_ready = 1;
    }
    if (!g_wd.ctx)
        rc = pydbg__fd_ctx_new(&g_wd.ctx);
    if (rc == PYDBG_OK) {
        /* Whole microseconds, like faulthandler's timeout. */
        long long us = (long long)(timeout_seconds * 1e6 + 0.5);
        if (us < 1)
            us = 1;
        g_wd.interval.tv_sec = (time_t)(us / 1000000);
        g_wd.interval.tv_nsec = (long)(us % 1000000) * 1000;
        g_wd.fd = fd;
        g_wd.flags = flags;
        g_wd.header_length = format_timeout(g_wd.header, sizeof g_wd.header, &g_wd.interval);
        g_wd.cancel = 0;
        if (pthread_create(&g_wd.thread, NULL, watchdog_main, NULL) != 0)
            rc = PYDBG_EIO;
        else
            g_wd.running = 1;
    }
    pthread_mutex_unlock(&g_wd.mutex);
    if (rc != PYDBG_OK)
        return pydbg__fail(NULL, rc, "cannot start the watchdog: %s", pydbg_strerror(rc));
    return PYDBG_OK;
}

int pydbg_faultdump_cancel_later(void)
{
    pthread_mutex_lock(&g_wd.mutex);
    cancel_locked();
    pthread_mutex_unlock(&g_wd.mutex);
    return PYDBG_OK;
}
