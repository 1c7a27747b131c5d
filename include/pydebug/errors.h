/**
 * @file pydebug/errors.h
 * @brief Error codes and error messages.
 *
 * Every fallible function returns an `int`: #PYDBG_OK (zero) on success or one
 * of the negative `PYDBG_E…` codes below. Codes are never renumbered or reused;
 * new ones are only ever added at the end.
 *
 * Two levels of detail are available:
 * - pydbg_strerror() gives a short static description of a code;
 * - the handle that failed keeps a readable message with the specifics
 *   (for example pydbg_process_errmsg()), and pydbg_last_error() gives the
 *   message of the last failure on the calling thread, which is the only way
 *   to learn why a handle could not be created at all.
 */
#ifndef PYDEBUG_ERRORS_H
#define PYDEBUG_ERRORS_H

#include "export.h"

PYDBG_BEGIN_DECLS

/**
 * @brief The one list of error codes: X(NAME, value, description).
 *
 * Bindings may expand it to generate their own tables.
 */
#define PYDBG_ERROR_LIST(X)                                                                   \
    X(OK, 0, "success")                                                                       \
    X(EINVAL, -1, "invalid argument")                                                         \
    X(ENOMEM, -2, "out of memory")                                                            \
    X(ENOPROC, -3, "no such process")                                                         \
    X(EPERM, -4, "permission denied")                                                         \
    X(ENOTPYTHON, -5, "not a Python process")                                                 \
    X(EVERSION, -6, "unsupported Python version")                                             \
    X(EREAD, -7, "target memory could not be read")                                           \
    X(ECORRUPT, -8, "inconsistent data in the target (changed while read, or corrupt)")      \
    X(EEXITED, -9, "the process exited")                                                      \
    X(EIO, -10, "input/output error")                                                         \
    X(EFORMAT, -11, "malformed input")                                                        \
    X(ELIMIT, -12, "a safety limit was reached")                                              \
    X(ENOTFOUND, -13, "not found")                                                            \
    X(ENOTSUP, -14, "operation not supported")                                                \
    X(ESTATE, -15, "operation not valid in the current state")

/** @brief Error codes returned by libpydebug functions. */
typedef enum pydbg_error {
    PYDBG_OK = 0,          /**< success */
    PYDBG_EINVAL = -1,     /**< invalid argument (NULL handle, bad option) */
    PYDBG_ENOMEM = -2,     /**< out of memory */
    PYDBG_ENOPROC = -3,    /**< no such process */
    PYDBG_EPERM = -4,      /**< permission denied (ptrace rules, file modes) */
    PYDBG_ENOTPYTHON = -5, /**< the target does not host a CPython interpreter */
    PYDBG_EVERSION = -6,   /**< the target's CPython version is not supported */
    PYDBG_EREAD = -7,      /**< target memory could not be read at that address */
    PYDBG_ECORRUPT = -8,   /**< data read from the target is inconsistent */
    PYDBG_EEXITED = -9,    /**< the target process exited during the operation */
    PYDBG_EIO = -10,       /**< input/output error on a file */
    PYDBG_EFORMAT = -11,   /**< malformed input (file, text, option string) */
    PYDBG_ELIMIT = -12,    /**< a safety limit (depth, size, count) was reached */
    PYDBG_ENOTFOUND = -13, /**< the requested item does not exist */
    PYDBG_ENOTSUP = -14,   /**< the operation is not supported here */
    PYDBG_ESTATE = -15     /**< the handle is not in a state that allows this call */
} pydbg_error;

/**
 * @brief Returns a short static description of an error code.
 *
 * @param code a value returned by a libpydebug function.
 * @return a static, NUL-terminated English string; never NULL (unknown codes
 *         give "unknown error").
 * @note Thread-safe and async-signal-safe.
 */
PYDBG_API const char *pydbg_strerror(int code);

/**
 * @brief Returns the detailed message of the last failure on the calling thread.
 *
 * Every function that fails records a message here as well as in its handle.
 * This is how the reason of a failed `*_open`/`*_attach` is obtained.
 *
 * @return a NUL-terminated string, "" when nothing failed yet on this thread.
 *         Valid until the next libpydebug call on the same thread.
 * @note Thread-safe: the storage is thread-local.
 */
PYDBG_API const char *pydbg_last_error(void);

PYDBG_END_DECLS

#endif /* PYDEBUG_ERRORS_H */
