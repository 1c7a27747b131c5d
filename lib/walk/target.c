#include "walk/target.h"

#include <stdlib.h>

#include "pydebug/errors.h"
#include "walk/code_cache.h"

int pydbg__target_read(pydbg__target *target, uint64_t address, void *buffer, size_t length,
                       const char *what)
{
    int rc;
    if (address == 0)
        return pydbg__fail(&target->error, PYDBG_ECORRUPT, "reading %s: NULL pointer", what);
    rc = pydbg__read(target->reader, address, buffer, length);
    if (rc == PYDBG_OK)
        return PYDBG_OK;
    if (rc == PYDBG_EEXITED)
        return pydbg__fail(&target->error, rc, "process %d exited while reading %s",
                           target->pid, what);
    return pydbg__fail(&target->error, rc, "reading %s (%zu bytes at 0x%llx): %s", what, length,
                       (unsigned long long)address, pydbg_strerror(rc));
}

int pydbg__target_read_ptr(pydbg__target *target, uint64_t address, uint64_t *value,
                           const char *what)
{
    return pydbg__target_read(target, address, value, sizeof *value, what);
}

int32_t pydbg__span(const int32_t *offsets, size_t count)
{
    int32_t span = 0;
    for (size_t i = 0; i < count; i++)
        if (offsets[i] >= 0 && offsets[i] + 8 > span)
            span = offsets[i] + 8;
    return span;
}

int pydbg__target_pause(pydbg__target *target)
{
    if (!target->live)
        return pydbg__fail(&target->error, PYDBG_ENOTSUP,
                           "a core file cannot be paused (it is not running)");
    if (target->pause_depth > 0) {
        target->pause_depth++;
        return PYDBG_OK;
    }
    {
        int rc = pydbg__pause_process(&target->pause, target->pid, &target->error);
        if (rc != PYDBG_OK)
            return rc;
    }
    target->pause_depth = 1;
    return PYDBG_OK;
}

int pydbg__target_resume(pydbg__target *target)
{
    if (target->pause_depth == 0)
        return pydbg__fail(&target->error, PYDBG_ESTATE, "process %d is not paused",
                           target->pid);
    if (--target->pause_depth == 0) {
        pydbg__pause_release(target->pause);
        target->pause = NULL;
    }
    return PYDBG_OK;
}

void pydbg__target_close(pydbg__target *target)
{
    if (!target)
        return;
    if (target->pause)
        pydbg__pause_release(target->pause);
    pydbg__code_cache_free(target->codes);
    if (target->reader)
        pydbg__reader_destroy(target->reader);
    free(target->task_ids);
    free(target);
}
