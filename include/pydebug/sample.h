/**
 * @file pydebug/sample.h
 * @brief Sampling every thread's stack of a running process, fast and repeatedly.
 *
 * A ::pydbg_sampler takes samples of an attached process: for each thread, its
 * stack as a list of (code, line) pairs. It is built for rates of thousands
 * to hundreds of thousands of samples per second:
 * - the target is not paused (unless asked), so a sample costs a few reads of
 *   its memory: on 3.11+ one `process_vm_readv` per thread reads the thread
 *   state and the used part of its frame stack together, and the frames are
 *   decoded locally; on 2.7 to 3.10 the frame objects of the previous sample
 *   are predicted, read together and verified;
 * - everything that does not change between samples is kept: decoded code
 *   objects (names, line tables turned into lookup arrays), the thread list,
 *   the addresses of the interpreter's roots;
 * - a sample is checked for tearing (the stack changed while it was read:
 *   frames outside their stack chunk, instruction pointers outside their code,
 *   a current frame that moved); a torn thread stack is dropped, counted and
 *   never reported as real.
 *
 * Code objects are named by a *code key*: a number that identifies one code
 * object for the life of the sampler, even if the target frees it and reuses
 * its address for another (the sampler detects that and gives a new key).
 *
 * Thread safety: a sampler is used by one thread at a time. Its process
 * handle must not be used by another thread while the sampler samples.
 */
#ifndef PYDEBUG_SAMPLE_H
#define PYDEBUG_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "process.h"

PYDBG_BEGIN_DECLS

/** @brief A sampler of one process (opaque). */
typedef struct pydbg_sampler pydbg_sampler;
/** @brief One sample: every thread's stack at one moment (opaque, borrowed from its sampler). */
typedef struct pydbg_sample pydbg_sample;

/** @brief Flags for pydbg_sampler_options::flags. */
enum pydbg_sampler_flags {
    /** Read each thread's scheduler state (running or idle) from `/proc` with every
     *  sample. Costs one small file read per thread. */
    PYDBG_SAMPLER_THREAD_STATE = 1u << 0,
    /** Keep only the thread that holds the GIL (implies #PYDBG_SAMPLER_GIL). */
    PYDBG_SAMPLER_GIL_ONLY = 1u << 1,
    /** Keep only threads running on a CPU (implies #PYDBG_SAMPLER_THREAD_STATE). */
    PYDBG_SAMPLER_RUNNING_ONLY = 1u << 2,
    /** Pause the target during each sample (consistent but far slower). */
    PYDBG_SAMPLER_PAUSE = 1u << 3,
    /** Read which thread holds the GIL with every sample: one more small piece in the
     *  sample's read. Without it pydbg_sample_thread_holds_gil() returns -1. */
    PYDBG_SAMPLER_GIL = 1u << 4
};

/** @brief Scheduler state of a sampled thread. */
enum pydbg_thread_state {
    PYDBG_THREAD_STATE_UNKNOWN = 0, /**< not read (#PYDBG_SAMPLER_THREAD_STATE not set) or unreadable */
    PYDBG_THREAD_STATE_RUNNING = 1, /**< on a CPU or runnable (`R`) */
    PYDBG_THREAD_STATE_IDLE = 2     /**< sleeping or blocked in the kernel (`S`, `D`, ...) */
};

/**
 * @brief Options of pydbg_sampler_new().
 * Initialise with #PYDBG_SAMPLER_OPTIONS_INIT; fields are only added at the end.
 */
typedef struct pydbg_sampler_options {
    uint32_t struct_size; /**< sizeof(pydbg_sampler_options), set by the INIT macro */
    uint32_t flags;       /**< a combination of ::pydbg_sampler_flags */
    /** Most frames kept per thread; 0 means #PYDBG_DEFAULT_MAX_DEPTH. */
    uint32_t max_depth;
} pydbg_sampler_options;

/** @brief Default value of ::pydbg_sampler_options. */
#define PYDBG_SAMPLER_OPTIONS_INIT {sizeof(pydbg_sampler_options), 0, 0}

/**
 * @brief Creates a sampler of an attached process.
 *
 * The sampler borrows @p process: close the process only after freeing the sampler.
 * @param[out] out  receives the sampler; free it with pydbg_sampler_free(). NULL on failure.
 * @param process   an attached process.
 * @param options   NULL for defaults, or options initialised with #PYDBG_SAMPLER_OPTIONS_INIT.
 * @return #PYDBG_OK, #PYDBG_EINVAL, #PYDBG_ENOMEM, #PYDBG_ENOTSUP (a version the
 *         sampler cannot read).
 * @note Thread-safe (creates an independent object).
 */
PYDBG_API int pydbg_sampler_new(pydbg_sampler **out, pydbg_process *process,
                                const pydbg_sampler_options *options);

/**
 * @brief Frees a sampler and every sample and code name borrowed from it.
 * @param sampler a sampler, or NULL (no-op).
 * @note Not thread-safe for the same sampler.
 */
PYDBG_API void pydbg_sampler_free(pydbg_sampler *sampler);

/**
 * @brief Takes one sample of every thread.
 *
 * @param sampler   the sampler.
 * @param[out] out  receives the sample, borrowed from the sampler and valid until the
 *                  next call of pydbg_sampler_sample() or pydbg_sampler_free().
 * @return #PYDBG_OK (threads whose stack was torn are in the sample with no frames
 *         and pydbg_sample_thread_error() set); #PYDBG_EEXITED when the process is
 *         gone; #PYDBG_ECORRUPT when not even the thread list could be read.
 * @note Not thread-safe for the same sampler.
 */
PYDBG_API int pydbg_sampler_sample(pydbg_sampler *sampler, const pydbg_sample **out);

/**
 * @brief Looks up the names of a code key.
 *
 * @param sampler         the sampler whose samples gave the key.
 * @param code_key        a key from pydbg_sample_frame_code().
 * @param[out] function   receives `co_name` (may be NULL if not wanted).
 * @param[out] qualname   receives `co_qualname` (3.11+), or NULL where the version has none
 *                        (may be NULL if not wanted).
 * @param[out] filename   receives `co_filename` (may be NULL if not wanted).
 * @param[out] first_line receives `co_firstlineno` (may be NULL if not wanted).
 * @return #PYDBG_OK or #PYDBG_ENOTFOUND. Strings are valid until pydbg_sampler_free().
 * @note Not thread-safe for the same sampler.
 */
PYDBG_API int pydbg_sampler_code_info(const pydbg_sampler *sampler, uint64_t code_key,
                                      const char **function, const char **qualname,
                                      const char **filename, int *first_line);

/** @brief Samples taken so far. @note Not thread-safe for the same sampler. */
PYDBG_API uint64_t pydbg_sampler_sample_count(const pydbg_sampler *sampler);

/** @brief Thread stacks found torn and dropped so far. @note Not thread-safe for the same sampler. */
PYDBG_API uint64_t pydbg_sampler_torn_count(const pydbg_sampler *sampler);

/** @brief Thread stacks sampled so far (torn ones included). @note Not thread-safe for the same sampler. */
PYDBG_API uint64_t pydbg_sampler_thread_sample_count(const pydbg_sampler *sampler);

/** @brief Memory-reading system calls made so far. @note Not thread-safe for the same sampler. */
PYDBG_API uint64_t pydbg_sampler_read_calls(const pydbg_sampler *sampler);

/**
 * @brief Returns the detailed message of the last failure of this sampler.
 * @return a string owned by the sampler ("" if none), valid until the next call on it.
 * @note Not thread-safe for the same sampler.
 */
PYDBG_API const char *pydbg_sampler_errmsg(const pydbg_sampler *sampler);

/** @brief Number of threads in the sample (after filters). @note Thread-safe. */
PYDBG_API size_t pydbg_sample_thread_count(const pydbg_sample *sample);

/** @brief The ident (`threading.get_ident()`) of thread @p thread of the sample, 0 if out of range. @note Thread-safe. */
PYDBG_API uint64_t pydbg_sample_thread_ident(const pydbg_sample *sample, size_t thread);

/**
 * @brief The `threading.Thread` name of thread @p thread, or NULL when it has none.
 *
 * Names are read when the sampler reads the thread list (at its creation and
 * whenever threads come or go), not with every sample.
 * @return a string borrowed from the sampler, valid until the next
 *         pydbg_sampler_sample() or pydbg_sampler_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_sample_thread_name(const pydbg_sample *sample, size_t thread);

/** @brief The Linux TID of thread @p thread, or -1 where unknown. @note Thread-safe. */
PYDBG_API int64_t pydbg_sample_thread_native_id(const pydbg_sample *sample, size_t thread);

/** @brief 1 if the thread held the GIL, 0 if not, -1 if unknown (or #PYDBG_SAMPLER_GIL not
 *  set). @note Thread-safe. */
PYDBG_API int pydbg_sample_thread_holds_gil(const pydbg_sample *sample, size_t thread);

/** @brief The thread's ::pydbg_thread_state. @note Thread-safe. */
PYDBG_API int pydbg_sample_thread_state(const pydbg_sample *sample, size_t thread);

/**
 * @brief #PYDBG_OK, or why the thread's stack is missing from this sample
 *        (#PYDBG_ECORRUPT: torn while read).
 * @note Thread-safe.
 */
PYDBG_API int pydbg_sample_thread_error(const pydbg_sample *sample, size_t thread);

/** @brief 1 if the thread's stack was cut by the depth bound. @note Thread-safe. */
PYDBG_API int pydbg_sample_thread_truncated(const pydbg_sample *sample, size_t thread);

/** @brief Number of frames of thread @p thread (0 if out of range). @note Thread-safe. */
PYDBG_API size_t pydbg_sample_frame_count(const pydbg_sample *sample, size_t thread);

/**
 * @brief The code key of frame @p frame (0 = innermost) of thread @p thread; 0 if out of
 *        range. Names: pydbg_sampler_code_info().
 * @note Thread-safe.
 */
PYDBG_API uint64_t pydbg_sample_frame_code(const pydbg_sample *sample, size_t thread,
                                           size_t frame);

/** @brief The line being executed in that frame, or -1 where unknown. @note Thread-safe. */
PYDBG_API int pydbg_sample_frame_line(const pydbg_sample *sample, size_t thread, size_t frame);

PYDBG_END_DECLS

#endif /* PYDEBUG_SAMPLE_H */
