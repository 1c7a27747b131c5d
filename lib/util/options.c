#include "util/options.h"

#include <stdint.h>
#include <string.h>

#include "pydebug/errors.h"

/* No options structure will ever be this large: a bigger struct_size is garbage. */
#define MAX_OPTIONS_SIZE 4096u

int pydbg__options_copy(void *out, size_t size, const void *given, const void *defaults)
{
    uint32_t given_size, own_size = (uint32_t)size;
    memcpy(out, defaults, size);
    if (!given)
        return PYDBG_OK;
    memcpy(&given_size, given, sizeof given_size);
    if (given_size < sizeof(uint32_t) * 2 || given_size > MAX_OPTIONS_SIZE)
        return PYDBG_EINVAL;
    memcpy(out, given, given_size < size ? given_size : size);
    memcpy(out, &own_size, sizeof own_size);
    return PYDBG_OK;
}
