/* The public process handle: a thin shell around the walker's target. */
#include "api/internal.h"
#include "util/options.h"

#include <stdlib.h>
#include <string.h>

#include "pydebug/process.h"

/* Copies only the option fields the caller's struct_size says it has, so that
 * a program built against an older, shorter struct keeps working. */
static int read_attach_options(const pydbg_attach_options *given, pydbg_attach_options *out)
{
    static const pydbg_attach_options defaults = PYDBG_ATTACH_OPTIONS_INIT;
    return pydbg__options_copy(out, sizeof *out, given, &defaults);
}

PYDBG_API int pydbg_process_attach(pydbg_process **out, int pid,
                                   const pydbg_attach_options *options)
{
    pydbg_attach_options opts;
    pydbg_process *process;
    pydbg__error err = {0, ""};
    int rc;
    if (!out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_process_attach: out is NULL");
    *out = NULL;
    if (read_attach_options(options, &opts) != PYDBG_OK)
        return pydbg__fail(NULL, PYDBG_EINVAL,
                           "pydbg_process_attach: options not initialised with "
                           "PYDBG_ATTACH_OPTIONS_INIT");
    process = calloc(1, sizeof *process);
    if (!process)
        return pydbg__fail(NULL, PYDBG_ENOMEM, "out of memory");
    rc = pydbg__target_open(&process->target, pid, (opts.flags & PYDBG_ATTACH_PROC_MEM) != 0,
                            &err);
    if (rc != PYDBG_OK) {
        pydbg__set_last_error(err.message);
        free(process);
        return rc;
    }
    if (opts.flags & PYDBG_ATTACH_PAUSED) {
        rc = pydbg__target_pause(process->target);
        if (rc != PYDBG_OK) {
            pydbg__set_last_error(process->target->error.message);
            pydbg__target_close(process->target);
            free(process);
            return rc;
        }
    }
    pydbg__error_clear(&process->target->error);
    *out = process;
    return PYDBG_OK;
}

PYDBG_API void pydbg_process_close(pydbg_process *process)
{
    if (!process)
        return;
    pydbg__target_close(process->target); /* releases any pause */
    free(process);
}

PYDBG_API int pydbg_process_pause(pydbg_process *process)
{
    if (!process)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_process_pause: process is NULL");
    return pydbg__target_pause(process->target);
}

PYDBG_API int pydbg_process_resume(pydbg_process *process)
{
    if (!process)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_process_resume: process is NULL");
    return pydbg__target_resume(process->target);
}

PYDBG_API int pydbg_process_pid(const pydbg_process *process)
{
    return process ? process->target->pid : -1;
}

PYDBG_API const char *pydbg_process_python_version(const pydbg_process *process)
{
    return process ? process->target->version : "";
}

PYDBG_API uint32_t pydbg_process_python_hexversion(const pydbg_process *process)
{
    return process ? process->target->hexversion : 0;
}

PYDBG_API const char *pydbg_process_interpreter_path(const pydbg_process *process)
{
    return process ? process->target->interpreter_path : "";
}

PYDBG_API const char *pydbg_process_errmsg(const pydbg_process *process)
{
    return process ? process->target->error.message : "";
}
