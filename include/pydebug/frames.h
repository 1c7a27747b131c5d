/**
 * @file pydebug/frames.h
 * @brief Capturing every interpreter's threads and their Python stacks.
 *
 * pydbg_stacks_capture() walks every interpreter, every thread state and every
 * frame of a ::pydbg_process and returns an immutable ::pydbg_stacks result.
 * Threads and frames are reached through borrowed, opaque pointers that stay
 * valid until pydbg_stacks_free().
 *
 * Frames are innermost first. Interpreter entry/shim frames (3.11+) are not
 * user frames and are not reported. A thread whose walk failed part-way keeps
 * the frames read so far and reports the failure in pydbg_thread_error().
 *
 * Thread safety: a ::pydbg_stacks is immutable; its accessors may be called
 * from any number of threads at once.
 */
#ifndef PYDEBUG_FRAMES_H
#define PYDEBUG_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "process.h"

PYDBG_BEGIN_DECLS

/** @brief The result of one capture: threads and their frames (opaque). */
typedef struct pydbg_stacks pydbg_stacks;
/** @brief One thread of a capture (opaque, borrowed from its ::pydbg_stacks). */
typedef struct pydbg_thread pydbg_thread;
/** @brief One frame of a thread (opaque, borrowed from its ::pydbg_stacks). */
typedef struct pydbg_frame pydbg_frame;

/** @brief Flags for pydbg_capture_options::flags. */
enum pydbg_capture_flags {
    /**
     * Pause the target during this capture for a consistent view (see
     * pydbg_process_pause()). A thread caught between the two stores of one
     * interpreter step (3.11+ RETURN_GENERATOR frees a frame before it moves
     * the current frame off it) reads as an error; the capture then resumes
     * the target and pauses it again, 1 and then 2 ms later, at most 3 pauses
     * in all. When the process was already paused by pydbg_process_pause(),
     * nothing moves in between and the first result stands.
     */
    PYDBG_CAPTURE_PAUSE = 1u << 0,
    /** Do not look up `threading.Thread` names (saves the reads of the `threading` module). */
    PYDBG_CAPTURE_NO_THREAD_NAMES = 1u << 1
};

/**
 * @brief Options of pydbg_stacks_capture().
 * Initialise with #PYDBG_CAPTURE_OPTIONS_INIT; fields are only added at the end.
 */
typedef struct pydbg_capture_options {
    uint32_t struct_size; /**< sizeof(pydbg_capture_options), set by the INIT macro */
    uint32_t flags;       /**< a combination of ::pydbg_capture_flags */
    /** Most frames kept per thread; 0 means #PYDBG_DEFAULT_MAX_DEPTH. A deeper stack
     *  keeps its innermost frames and is marked truncated. */
    uint32_t max_depth;
} pydbg_capture_options;

/** @brief Default frame bound per thread: far above real stacks, even with a raised recursion limit. */
#define PYDBG_DEFAULT_MAX_DEPTH 1000000u

/** @brief Default value of ::pydbg_capture_options. */
#define PYDBG_CAPTURE_OPTIONS_INIT {sizeof(pydbg_capture_options), 0, 0}

/**
 * @brief Captures every thread's Python stack.
 *
 * @param[out] out  receives the result; free it with pydbg_stacks_free(). NULL on failure.
 * @param process   an attached process.
 * @param options   NULL for defaults, or options initialised with #PYDBG_CAPTURE_OPTIONS_INIT.
 * @return #PYDBG_OK even if some threads could only be read in part (see
 *         pydbg_thread_error()); #PYDBG_EEXITED if the process is gone;
 *         #PYDBG_ECORRUPT if not even the thread list could be read
 *         consistently; #PYDBG_EPERM if pausing was asked and not allowed;
 *         #PYDBG_ESTATE if pausing was asked and another debugger traces the process.
 * @note Not thread-safe for the same @p process.
 */
PYDBG_API int pydbg_stacks_capture(pydbg_stacks **out, pydbg_process *process,
                                   const pydbg_capture_options *options);

/**
 * @brief Frees a capture and everything borrowed from it.
 * @param stacks a capture, or NULL (no-op).
 * @note Not thread-safe: no other thread may be using the capture, or anything borrowed
 *       from it, at the same time.
 */
PYDBG_API void pydbg_stacks_free(pydbg_stacks *stacks);

/** @brief Number of threads in the capture, over all interpreters. @note Thread-safe. */
PYDBG_API size_t pydbg_stacks_thread_count(const pydbg_stacks *stacks);

/**
 * @brief Returns thread @p index (0-based) of the capture.
 *
 * Threads come interpreter by interpreter in the interpreter's own order
 * (newest thread first, as CPython links them).
 * @return a borrowed pointer valid until pydbg_stacks_free(); NULL if out of range.
 * @note Thread-safe.
 */
PYDBG_API const pydbg_thread *pydbg_stacks_thread(const pydbg_stacks *stacks, size_t index);

/** @brief The ID of the interpreter the thread belongs to (0 for the main one). @note Thread-safe. */
PYDBG_API int64_t pydbg_thread_interpreter_id(const pydbg_thread *thread);

/** @brief The thread's ident, as `threading.get_ident()` returns it in that thread. @note Thread-safe. */
PYDBG_API uint64_t pydbg_thread_ident(const pydbg_thread *thread);

/**
 * @brief The Linux thread ID (`threading.get_native_id()`), or -1 where unknown
 *        (CPython 2.7 to 3.7 do not record it and it could not be inferred).
 * @note Thread-safe.
 */
PYDBG_API int64_t pydbg_thread_native_id(const pydbg_thread *thread);

/**
 * @brief The `threading.Thread` name ("MainThread", "Thread-1 (worker)"), or NULL
 *        when the thread has none or names were not looked up.
 * @return a string borrowed from the capture, valid until pydbg_stacks_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_thread_name(const pydbg_thread *thread);

/** @brief 1 if this is the interpreter's main thread, else 0. @note Thread-safe. */
PYDBG_API int pydbg_thread_is_main(const pydbg_thread *thread);

/**
 * @brief 1 if the thread held the GIL when it was read, 0 if not, -1 if unknown.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_thread_holds_gil(const pydbg_thread *thread);

/** @brief Number of frames kept for the thread. @note Thread-safe. */
PYDBG_API size_t pydbg_thread_frame_count(const pydbg_thread *thread);

/**
 * @brief Returns frame @p index of the thread, 0 being the innermost (most recent call).
 * @return a borrowed pointer valid until pydbg_stacks_free(); NULL if out of range.
 * @note Thread-safe.
 */
PYDBG_API const pydbg_frame *pydbg_thread_frame(const pydbg_thread *thread, size_t index);

/**
 * @brief 1 if the stack was cut by the depth bound (its outermost frames are missing).
 * @note Thread-safe.
 */
PYDBG_API int pydbg_thread_truncated(const pydbg_thread *thread);

/**
 * @brief #PYDBG_OK, or the error that stopped the walk of this thread part-way
 *        (its message is in pydbg_thread_errmsg()).
 * @note Thread-safe.
 */
PYDBG_API int pydbg_thread_error(const pydbg_thread *thread);

/**
 * @brief The detail of pydbg_thread_error(), "" when none.
 * @return a string borrowed from the capture, valid until pydbg_stacks_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_thread_errmsg(const pydbg_thread *thread);

/**
 * @brief The function name (`co_name`). Never NULL ("?" if unreadable).
 * @return a string borrowed from the capture, valid until pydbg_stacks_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_frame_function(const pydbg_frame *frame);

/**
 * @brief The qualified name (`co_qualname`, 3.11+), NULL where the version has none.
 * @return a string borrowed from the capture, valid until pydbg_stacks_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_frame_qualname(const pydbg_frame *frame);

/**
 * @brief The file name (`co_filename`). Never NULL ("?" if unreadable).
 * @return a string borrowed from the capture, valid until pydbg_stacks_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_frame_filename(const pydbg_frame *frame);

/** @brief The line being executed (1-based), or -1 where unknown. @note Thread-safe. */
PYDBG_API int pydbg_frame_line(const pydbg_frame *frame);

/** @brief The last line of the executing expression (PEP 657, 3.11+), or -1. @note Thread-safe. */
PYDBG_API int pydbg_frame_end_line(const pydbg_frame *frame);

/** @brief 0-based UTF-8 byte column where the expression starts (PEP 657, 3.11+), or -1. @note Thread-safe. */
PYDBG_API int pydbg_frame_column(const pydbg_frame *frame);

/** @brief 0-based UTF-8 byte column where the expression ends (PEP 657, 3.11+), or -1. @note Thread-safe. */
PYDBG_API int pydbg_frame_end_column(const pydbg_frame *frame);

/**
 * @brief The byte offset of the current instruction in the code object's
 *        bytecode (`f_lasti` in bytes), or -1 where unknown.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_frame_instruction_offset(const pydbg_frame *frame);

/** @brief The remote address of the frame's code object (an identity for tools). @note Thread-safe. */
PYDBG_API uint64_t pydbg_frame_code_address(const pydbg_frame *frame);

/* ---- writing a capture out ------------------------------------------------------------ */

/** @brief Output formats of pydbg_stacks_format(). */
typedef enum pydbg_stacks_output_format {
    /**
     * The text `pydebug dump` prints: a `Process PID: Python X.Y.Z` line (only when a
     * process is given), then per thread a blank line, a header
     * `Thread 0x… "name" native=TID main gil (most recent call first):` (each part after
     * the ident only where known or true) and one `  File "…", line N in qualname` line
     * per frame, innermost first. `pydbg_tb_parser` reads it back.
     */
    PYDBG_STACKS_FORMAT_TEXT = 0,
    /**
     * The JSON document `pydebug dump --format json` prints (the CLI contract: "pid",
     * "python_version", "threads"), compact, without a trailing newline.
     */
    PYDBG_STACKS_FORMAT_JSON = 1,
    /**
     * CPython `faulthandler`'s own layout, as `faulthandler.dump_traceback(all_threads=True)`
     * writes it: per thread `Thread 0x… (most recent call first):` and
     * `  File "…", line N in co_name` lines, threads separated by a blank line; names
     * escaped to ASCII (`\xNN`, `\uNNNN`, `\UNNNNNNNN`) and cut at 500 characters
     * with `...`, `  <no Python frame>` for a thread without frames, `  ...` after a
     * stack cut by the depth bound. Unlike faulthandler, no thread is marked
     * `Current thread` and every frame and thread of the capture is written (faulthandler
     * stops at 100 of each).
     */
    PYDBG_STACKS_FORMAT_FAULTHANDLER = 2
} pydbg_stacks_output_format;

/**
 * @brief Formats a capture as text, JSON or faulthandler's layout, into a new string.
 *
 * A thread whose walk failed part-way is written with the frames read and its
 * error (`  <stack incomplete: …>` in the text layouts, "error" in JSON).
 *
 * @param[out] out        receives a NUL-terminated string; free it with
 *                        pydbg_tb_string_free() (pydebug/traceback.h). NULL on failure.
 * @param[out] out_length receives its length without the NUL. May be NULL.
 * @param stacks          the capture.
 * @param process         the process it was captured from, for its PID and Python
 *                        version; or NULL, which leaves out the text's `Process` line
 *                        and writes `"pid": null, "python_version": null` in JSON.
 * @param format          a ::pydbg_stacks_output_format.
 * @return #PYDBG_OK, #PYDBG_EINVAL, #PYDBG_ENOMEM.
 * @note Thread-safe: the capture is only read, and @p process only for its PID and
 *       version (which never change), so the process may be in use by another thread.
 */
PYDBG_API int pydbg_stacks_format(char **out, size_t *out_length, const pydbg_stacks *stacks,
                                  const pydbg_process *process, int format);

/**
 * @brief Formats a capture like pydbg_stacks_format(), into a caller buffer.
 *
 * Works like snprintf(): writes at most @p size bytes including the NUL and
 * always sets `*needed` to the full length (without the NUL).
 *
 * @param buffer      the destination, may be NULL when @p size is 0.
 * @param size        its size in bytes.
 * @param[out] needed receives the length of the full output. May be NULL.
 * @param stacks      the capture.
 * @param process     the process it was captured from, or NULL (see pydbg_stacks_format()).
 * @param format      a ::pydbg_stacks_output_format.
 * @return #PYDBG_OK if it fit; #PYDBG_ELIMIT if it was cut (retry with `*needed + 1`);
 *         #PYDBG_EINVAL; #PYDBG_ENOMEM.
 * @note Thread-safe, as pydbg_stacks_format().
 */
PYDBG_API int pydbg_stacks_format_into(char *buffer, size_t size, size_t *needed,
                                       const pydbg_stacks *stacks, const pydbg_process *process,
                                       int format);

PYDBG_END_DECLS

#endif /* PYDEBUG_FRAMES_H */
