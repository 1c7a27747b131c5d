/* Internal error reporting: every failure carries a code and a readable message.
 *
 * A layer that fails calls pydbg__fail() with the handle's error buffer; the
 * message is kept in the buffer (for pydbg_*_errmsg) and copied to the
 * thread-local last error (for failures before a handle exists). */
#ifndef PYDBG_UTIL_ERROR_H
#define PYDBG_UTIL_ERROR_H

#include <stddef.h>

#include "pydebug/errors.h"

#define PYDBG__ERRMSG_SIZE 256

typedef struct pydbg__error {
    int code;
    char message[PYDBG__ERRMSG_SIZE];
} pydbg__error;

#if defined(__GNUC__)
#define PYDBG__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PYDBG__PRINTF(fmt, args)
#endif

/* Records `code` and a printf-style message in `err` (which may be NULL) and
 * in the calling thread's last error; returns `code` so callers can
 * `return pydbg__fail(...)`. */
int pydbg__fail(pydbg__error *err, int code, const char *fmt, ...) PYDBG__PRINTF(3, 4);

/* Prefixes the message already in `err` with more context ("reading thread 3: ...")
 * and returns its code. */
int pydbg__fail_context(pydbg__error *err, const char *fmt, ...) PYDBG__PRINTF(2, 3);

void pydbg__error_clear(pydbg__error *err);

/* Sets the thread-local last error without a handle. */
void pydbg__set_last_error(const char *message);

/* The calling thread's last error message ("" if none). */
const char *pydbg__last_error_message(void);

#endif
