#include "pydebug/version.h"

PYDBG_API unsigned pydbg_version_number(void)
{
    return PYDBG_VERSION_NUMBER;
}

PYDBG_API const char *pydbg_version_string(void)
{
    return PYDBG_VERSION_STRING;
}
