#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The only global state of the library: the last error message of each thread,
 * documented in pydebug/errors.h. */
static _Thread_local char last_error[PYDBG__ERRMSG_SIZE];

void pydbg__set_last_error(const char *message)
{
    snprintf(last_error, sizeof last_error, "%s", message);
}

const char *pydbg__last_error_message(void)
{
    return last_error;
}

int pydbg__fail(pydbg__error *err, int code, const char *fmt, ...)
{
    char message[PYDBG__ERRMSG_SIZE];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    if (err) {
        err->code = code;
        memcpy(err->message, message, sizeof message);
    }
    pydbg__set_last_error(message);
    return code;
}

int pydbg__fail_context(pydbg__error *err, const char *fmt, ...)
{
    char prefix[PYDBG__ERRMSG_SIZE];
    char message[PYDBG__ERRMSG_SIZE];
    va_list args;
    if (!err)
        return PYDBG_EINVAL;
    va_start(args, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, args);
    va_end(args);
    /* Truncation is acceptable: the most specific context comes first. */
    {
        size_t used = strlen(prefix);
        memcpy(message, prefix, used);
        if (used + 2 < sizeof message) {
            memcpy(message + used, ": ", 2);
            used += 2;
        }
        {
            size_t room = sizeof message - used - 1;
            size_t tail = strnlen(err->message, room);
            memcpy(message + used, err->message, tail);
            message[used + tail] = '\0';
        }
    }
    memcpy(err->message, message, sizeof message);
    pydbg__set_last_error(message);
    return err->code;
}

void pydbg__error_clear(pydbg__error *err)
{
    if (err) {
        err->code = PYDBG_OK;
        err->message[0] = '\0';
    }
}
