/**
 * @file pydebug/process.h
 * @brief Attaching to a process that hosts CPython.
 *
 * A ::pydbg_process is a read-only view of one target: a live process (by
 * PID), or a core file of one (pydbg_process_open_core()). Opening one locates the interpreter (the python executable or the
 * libpython shared library mapped in the target), resolves its symbols from
 * the ELF files, detects the exact CPython version and selects the matching
 * structure layout (per-version tables for 2.7 and 3.6 to 3.12, the
 * interpreter's own `_Py_DebugOffsets` from 3.13 on).
 *
 * libpydebug never writes into a target. In the default, non-blocking mode
 * the target keeps running while it is read, so data can change under the
 * reader; every walk is bounded and validated, and an inconsistent read is
 * reported as #PYDBG_ECORRUPT rather than trusted. Paused mode
 * (pydbg_process_pause()) stops every thread with `PTRACE_SEIZE` +
 * `PTRACE_INTERRUPT` for a consistent view.
 *
 * Thread safety: a ::pydbg_process may be used by one thread at a time;
 * distinct handles are independent, even on the same target.
 */
#ifndef PYDEBUG_PROCESS_H
#define PYDEBUG_PROCESS_H

#include <stdint.h>

#include "export.h"

PYDBG_BEGIN_DECLS

/** @brief An attached target process (opaque). */
typedef struct pydbg_process pydbg_process;

/** @brief Flags for pydbg_attach_options::flags. */
enum pydbg_attach_flags {
    /** Pause the target for the whole life of the handle (as pydbg_process_pause()). */
    PYDBG_ATTACH_PAUSED = 1u << 0,
    /** Read memory through `/proc/PID/mem` only, never `process_vm_readv`. */
    PYDBG_ATTACH_PROC_MEM = 1u << 1
};

/**
 * @brief Options of pydbg_process_attach().
 *
 * Initialise with #PYDBG_ATTACH_OPTIONS_INIT, then set fields. New fields are
 * only ever added at the end; `struct_size` tells the library which fields
 * the caller knows about.
 */
typedef struct pydbg_attach_options {
    uint32_t struct_size; /**< sizeof(pydbg_attach_options), set by the INIT macro */
    uint32_t flags;       /**< a combination of ::pydbg_attach_flags */
} pydbg_attach_options;

/** @brief Default value of ::pydbg_attach_options. */
#define PYDBG_ATTACH_OPTIONS_INIT {sizeof(pydbg_attach_options), 0}

/**
 * @brief Attaches to the live process @p pid.
 *
 * Nothing in the target is changed. On failure `*out` is set to NULL and the
 * reason is available from pydbg_last_error().
 *
 * @param[out] out  receives the new handle; free it with pydbg_process_close().
 * @param pid       the target's process ID.
 * @param options   NULL for defaults, or options initialised with #PYDBG_ATTACH_OPTIONS_INIT.
 * @return #PYDBG_OK; #PYDBG_ENOPROC if there is no such process; #PYDBG_EPERM if
 *         the caller may not read it (run as the same user or root, or grant
 *         CAP_SYS_PTRACE, or lower `/proc/sys/kernel/yama/ptrace_scope`);
 *         #PYDBG_ENOTPYTHON if no CPython interpreter is found in it;
 *         #PYDBG_EVERSION if its CPython version is not supported;
 *         #PYDBG_EEXITED if it exited while being attached.
 * @note Thread-safe (creates an independent handle).
 */
PYDBG_API int pydbg_process_attach(pydbg_process **out, int pid,
                                   const pydbg_attach_options *options);

/**
 * @brief Opens a core file of a process that hosted CPython, to read its stacks
 *        as pydbg_process_attach() reads a live process's.
 *
 * The core is an ELF core file (`ET_CORE`, 64-bit little-endian, x86_64 or
 * aarch64) as written by the kernel or by gdb's `gcore`. It is mapped, not read
 * whole. Memory the core does not hold (by default the kernel leaves out
 * read-only file mappings such as `.text` and `.rodata`) is read from the files
 * the process had mapped, found by the paths the core records (its `NT_FILE`
 * note): they must be present, the same files, at the same paths, on this
 * machine. A file whose first page differs from the core's copy is not used.
 *
 * The handle works with every function that takes a ::pydbg_process, except
 * that pydbg_process_pause() and pydbg_process_resume() fail with
 * #PYDBG_ENOTSUP (a core does not run). pydbg_process_pid() gives the PID of
 * the process the core was taken from. Thread native IDs come from the core's
 * thread notes. On failure `*out` is set to NULL and the reason is available
 * from pydbg_last_error().
 *
 * @param[out] out        receives the new handle; free it with pydbg_process_close().
 * @param core_path       the core file.
 * @param executable_path where to open the process's main executable instead of
 *                        the path the core records (a copy, or the file under
 *                        another prefix), or NULL to use the recorded path.
 * @param options         NULL for defaults, or options initialised with
 *                        #PYDBG_ATTACH_OPTIONS_INIT; #PYDBG_ATTACH_PROC_MEM is
 *                        ignored and #PYDBG_ATTACH_PAUSED fails with #PYDBG_ENOTSUP.
 * @return #PYDBG_OK; #PYDBG_ENOTFOUND if the core file or @p executable_path
 *         does not exist; #PYDBG_EPERM if it may not be read; #PYDBG_EFORMAT if
 *         it is not an ELF core file, or is truncated or corrupt (the message
 *         says what is wrong); #PYDBG_ENOTPYTHON if no CPython interpreter is
 *         found among the files it mapped (or they are missing here);
 *         #PYDBG_EVERSION if its CPython version is not supported;
 *         #PYDBG_EREAD if memory the walk needs is neither in the core nor in
 *         the mapped files; #PYDBG_EINVAL for a NULL @p out or @p core_path.
 * @note Thread-safe (creates an independent handle).
 */
PYDBG_API int pydbg_process_open_core(pydbg_process **out, const char *core_path,
                                      const char *executable_path,
                                      const pydbg_attach_options *options);

/**
 * @brief Detaches and frees a handle. Resumes the target if this handle paused it.
 * @param process a handle, or NULL (no-op).
 * @note Not thread-safe for the same handle.
 */
PYDBG_API void pydbg_process_close(pydbg_process *process);

/**
 * @brief Stops every thread of the target for a consistent view.
 *
 * Uses `PTRACE_SEIZE` and `PTRACE_INTERRUPT` on every thread, so it needs the
 * same permission as a debugger. Calls nest: each pause needs one resume.
 * Threads created while paused are caught on the next pause.
 *
 * Linux ties a traced process to the thread that attached: the matching
 * pydbg_process_resume() (or pydbg_process_close() of a paused handle) must be
 * called from the same thread as the pause.
 *
 * While paused, the calling process is the target's tracer, and the kernel
 * reports the target's stops to any of its threads that waits for that child.
 * A program that started the target itself must not wait for it (`waitpid()`,
 * `wait()`, a `SIGCHLD` handler that reaps) from another thread meanwhile: the
 * wait takes the stop and the pause fails with #PYDBG_ELIMIT after 5 s. The
 * same holds for every call that pauses (snapshots, paused captures and
 * samples).
 *
 * @return #PYDBG_OK; #PYDBG_EPERM if ptrace is not allowed (the message says
 *         what to do); #PYDBG_ESTATE if another debugger already traces the
 *         process (the message names it); #PYDBG_EEXITED; #PYDBG_ENOTSUP for a
 *         core file.
 * @note Not thread-safe for the same handle.
 */
PYDBG_API int pydbg_process_pause(pydbg_process *process);

/**
 * @brief Undoes one pydbg_process_pause(); the last one lets the target run on.
 * @return #PYDBG_OK, or #PYDBG_ESTATE if the handle is not paused.
 * @note Not thread-safe for the same handle.
 */
PYDBG_API int pydbg_process_resume(pydbg_process *process);

/**
 * @brief Returns the process ID of the target.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_process_pid(const pydbg_process *process);

/**
 * @brief Returns the target's CPython version as a string, such as "3.11.7".
 * @return a string owned by the handle, valid until pydbg_process_close().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_process_python_version(const pydbg_process *process);

/**
 * @brief Returns the target's CPython version as `PY_VERSION_HEX` (0x030B07F0 for 3.11.7).
 *
 * The release level and serial bytes are 0xF0 (final) when only the
 * numeric version is known.
 * @note Thread-safe.
 */
PYDBG_API uint32_t pydbg_process_python_hexversion(const pydbg_process *process);

/**
 * @brief Returns the path of the ELF file that holds the interpreter
 *        (the python executable or libpython), as seen from the target.
 * @return a string owned by the handle, valid until pydbg_process_close().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_process_interpreter_path(const pydbg_process *process);

/**
 * @brief Returns the detailed message of the last failure on this handle.
 * @return a NUL-terminated string owned by the handle ("" if none), valid
 *         until the next call on the handle.
 * @note Not thread-safe for the same handle.
 */
PYDBG_API const char *pydbg_process_errmsg(const pydbg_process *process);

PYDBG_END_DECLS

#endif /* PYDEBUG_PROCESS_H */
