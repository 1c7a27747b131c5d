/**
 * @file pydebug/faultdump.h
 * @brief Crash and on-demand stack dumps of the current process, in the format
 *        of CPython's faulthandler, from an async-signal-safe handler.
 *
 * These functions act on the calling process, which hosts CPython (python
 * itself, or a program that embeds it). pydbg_faultdump_install() finds the
 * interpreter in the process (as pydbg_process_attach() would), pre-computes
 * everything a dump needs, and installs a handler for SIGSEGV, SIGFPE,
 * SIGABRT, SIGBUS and SIGILL. When one of them arrives the handler, on an
 * alternate signal stack and with only async-signal-safe calls (no heap, no
 * locks, no stdio), writes:
 *
 * @code{.unparsed}
 * Fatal Python error: Segmentation fault
 *
 * Current thread 0x00007f3c8a1b7740 (most recent call first):
 *   File "/app/crash.py", line 4 in inner
 *   File "/app/crash.py", line 7 in <module>
 *
 * Thread 0x00007f3c893ff6c0 (most recent call first):
 *   File "/usr/lib/python3.11/threading.py", line 320 in wait
 *
 * Current thread's C stack trace (most recent call first):
 *   Binary file "/usr/lib/x86_64-linux-gnu/libc.so.6" [0x7f3c8a3c1e2d]
 *   Binary file "/usr/lib/libpython3.11.so.1.0", at PyBytes_FromString+0x19 [0x7f3c8a6d1a59]
 * @endcode
 *
 * The Python part is what CPython's own faulthandler prints for the same
 * state, for the version that runs: the same limits (100 frames per thread,
 * 100 threads, 500 characters per string) and markers ("  ...", "...",
 * `\xNN` / `\uNNNN` / `\UNNNNNNNN` escapes). Every read of Python state goes
 * through a non-faulting read and every walk is bounded, so corrupt state
 * gives a shorter dump, never a second crash. The handler then restores the
 * previous disposition and re-raises the signal (or calls the previous
 * handler), so the exit status and core dumps are those the process would
 * have had without it.
 *
 * The same dump is available on demand (pydbg_faultdump_register(): a signal
 * such as SIGUSR1 dumps every thread and the process goes on) and from a
 * watchdog thread (pydbg_faultdump_later(), like faulthandler's
 * `dump_traceback_later`).
 *
 * Without any code change, `LD_PRELOAD=libpydebug.so PYDEBUG_FAULTHANDLER=1`
 * installs the crash handler when the library is loaded; see the guide page
 * "Crash dumps".
 *
 * Process-wide state: unlike the rest of the library, these functions keep
 * global state (signal dispositions are per process). They are serialised by
 * an internal mutex; none of them may be called from a signal handler except
 * pydbg_faultdump_dump().
 */
#ifndef PYDEBUG_FAULTDUMP_H
#define PYDEBUG_FAULTDUMP_H

#include <stdint.h>

#include "export.h"

PYDBG_BEGIN_DECLS

/** @brief Flags of ::pydbg_faultdump_options and of the other faultdump calls. */
enum pydbg_faultdump_flags {
    /** Dump only the current thread ("Stack (most recent call first):"), as
     *  faulthandler with `all_threads=False`. */
    PYDBG_FAULTDUMP_CURRENT_THREAD_ONLY = 1u << 0,
    /** Do not write the native (C) stack of the crashing thread. */
    PYDBG_FAULTDUMP_NO_NATIVE = 1u << 1,
    /** pydbg_faultdump_later(): dump again every timeout until cancelled. */
    PYDBG_FAULTDUMP_REPEAT = 1u << 2,
    /** pydbg_faultdump_later(): call `_exit(1)` after the dump. */
    PYDBG_FAULTDUMP_EXIT = 1u << 3,
    /** pydbg_faultdump_register(): call the previously installed handler after the dump. */
    PYDBG_FAULTDUMP_CHAIN = 1u << 4
};

/**
 * @brief Options of pydbg_faultdump_install().
 *
 * Initialise with #PYDBG_FAULTDUMP_OPTIONS_INIT, then set fields. New fields
 * are only ever added at the end.
 */
typedef struct pydbg_faultdump_options {
    uint32_t struct_size;    /**< sizeof(pydbg_faultdump_options), set by the INIT macro */
    uint32_t flags;          /**< a combination of ::pydbg_faultdump_flags */
    int fd;                  /**< file descriptor the dumps are written to (2: stderr) */
    uint32_t altstack_size;  /**< bytes of alternate signal stack; 0 for 256 KiB */
} pydbg_faultdump_options;

/** @brief Default value of ::pydbg_faultdump_options: all threads, native frames, stderr. */
#define PYDBG_FAULTDUMP_OPTIONS_INIT {sizeof(pydbg_faultdump_options), 0u, 2, 0u}

/**
 * @brief Installs the crash handler in the current process.
 *
 * Locates the interpreter (the interpreter does not need to be initialised
 * yet: what is located is static data; the live state is read at dump time),
 * allocates the alternate signal stack and the dump buffers, and installs a
 * handler for SIGSEGV, SIGFPE, SIGABRT, SIGBUS and SIGILL, remembering the
 * handlers it replaces. The alternate stack is set for the calling thread
 * only (as faulthandler does); crashes in other threads run the handler on
 * their own stack. Installing again replaces the options.
 *
 * If no CPython interpreter is found the handler is still installed and dumps
 * the native stack only; call pydbg_faultdump_refresh() once libpython is
 * loaded (for programs that `dlopen` it late).
 *
 * @param options NULL for defaults, or options initialised with #PYDBG_FAULTDUMP_OPTIONS_INIT.
 * @return #PYDBG_OK; #PYDBG_EINVAL for a negative fd or a bad struct_size;
 *         #PYDBG_ENOMEM; #PYDBG_EIO if a signal action could not be set.
 * @note Thread-safe (serialised internally); not async-signal-safe.
 */
PYDBG_API int pydbg_faultdump_install(const pydbg_faultdump_options *options);

/**
 * @brief Removes the crash handler and restores the previous handlers.
 *
 * A signal whose disposition was changed by someone else after the install is
 * left alone (its new owner's handler stays), but the dump is disabled.
 *
 * @return #PYDBG_OK, or #PYDBG_ESTATE if the handler is not installed.
 * @note Thread-safe (serialised internally); not async-signal-safe.
 */
PYDBG_API int pydbg_faultdump_uninstall(void);

/**
 * @brief Tells whether the crash handler is installed.
 * @return 1 if installed, 0 if not.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_faultdump_is_installed(void);

/**
 * @brief Locates the interpreter again (after libpython was loaded with `dlopen`).
 * @return #PYDBG_OK; #PYDBG_ENOTPYTHON if there is still no interpreter;
 *         #PYDBG_EVERSION for an unsupported version.
 * @note Thread-safe (serialised internally); not async-signal-safe. A dump
 *       running at the same time in another thread may see the old state.
 */
PYDBG_API int pydbg_faultdump_refresh(void);

/**
 * @brief Makes signal @p signum dump every thread's Python stack and let the process go on.
 *
 * The equivalent of faulthandler's `register()`. The dump has no "Fatal Python
 * error" line and no native frames; the thread that receives the signal is
 * the "Current thread".
 *
 * @param signum a signal other than SIGKILL, SIGSTOP and the five fatal ones.
 * @param fd     file descriptor the dumps are written to.
 * @param flags  #PYDBG_FAULTDUMP_CURRENT_THREAD_ONLY, #PYDBG_FAULTDUMP_CHAIN.
 * @return #PYDBG_OK; #PYDBG_EINVAL for a bad signal or fd; #PYDBG_ENOMEM; #PYDBG_EIO.
 * @note Thread-safe (serialised internally); not async-signal-safe.
 */
PYDBG_API int pydbg_faultdump_register(int signum, int fd, uint32_t flags);

/**
 * @brief Undoes pydbg_faultdump_register() and restores the previous handler of @p signum.
 * @return #PYDBG_OK, or #PYDBG_ESTATE if @p signum is not registered.
 * @note Thread-safe (serialised internally); not async-signal-safe.
 */
PYDBG_API int pydbg_faultdump_unregister(int signum);

/**
 * @brief Writes every thread's Python stack to @p fd now, from the calling thread.
 *
 * The output is that of faulthandler's `dump_traceback()`. The calling thread
 * is the "Current thread" if it has a Python thread state.
 *
 * @param fd    file descriptor to write to.
 * @param flags #PYDBG_FAULTDUMP_CURRENT_THREAD_ONLY.
 * @return #PYDBG_OK; #PYDBG_EINVAL for a negative fd; #PYDBG_ENOTPYTHON if no
 *         initialised interpreter was found; #PYDBG_EIO if the dump could not be
 *         written; #PYDBG_ELIMIT if another dump is running (dumps do not nest).
 * @note Thread-safe. Async-signal-safe once the state is prepared: by
 *       pydbg_faultdump_install(), pydbg_faultdump_register(), or a first
 *       pydbg_faultdump_dump() made outside a signal handler (which allocates).
 */
PYDBG_API int pydbg_faultdump_dump(int fd, uint32_t flags);

/**
 * @brief Dumps every thread after @p timeout_seconds, from a watchdog thread
 *        (faulthandler's `dump_traceback_later`).
 *
 * The dump starts with "Timeout (H:MM:SS[.ffffff])!". A new call replaces the
 * pending one.
 *
 * @param timeout_seconds seconds to wait (greater than 0).
 * @param fd              file descriptor to write to.
 * @param flags           #PYDBG_FAULTDUMP_REPEAT, #PYDBG_FAULTDUMP_EXIT.
 * @return #PYDBG_OK; #PYDBG_EINVAL for a bad timeout or fd; #PYDBG_ENOMEM;
 *         #PYDBG_EIO if the thread could not be started.
 * @note Thread-safe (serialised internally); not async-signal-safe.
 */
PYDBG_API int pydbg_faultdump_later(double timeout_seconds, int fd, uint32_t flags);

/**
 * @brief Cancels pydbg_faultdump_later() and waits for its thread to finish.
 * @return #PYDBG_OK (also when nothing was pending).
 * @note Thread-safe (serialised internally); not async-signal-safe.
 */
PYDBG_API int pydbg_faultdump_cancel_later(void);

PYDBG_END_DECLS

#endif /* PYDEBUG_FAULTDUMP_H */
