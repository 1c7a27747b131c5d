#include "pydebug/errors.h"

#include "util/error.h"

PYDBG_API const char *pydbg_strerror(int code)
{
    switch (code) {
#define PYDBG_ERROR_CASE(name, value, text) \
    case value:                             \
        return text;
        PYDBG_ERROR_LIST(PYDBG_ERROR_CASE)
#undef PYDBG_ERROR_CASE
    }
    return "unknown error";
}

PYDBG_API const char *pydbg_last_error(void)
{
    return pydbg__last_error_message();
}
