/* The public sampling API over the sampling engine (sample/sampler.c). */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "util/options.h"
#include "pydebug/sample.h"
#include "sample/sampler.h"

/* A sample is a view of its sampler's current state: no copy is made. */
struct pydbg_sample {
    pydbg__sampler engine;
};

struct pydbg_sampler {
    struct pydbg_sample sample;
    pydbg_process *process;
};

PYDBG_API int pydbg_sampler_new(pydbg_sampler **out, pydbg_process *process,
                                const pydbg_sampler_options *options)
{
    static const pydbg_sampler_options defaults = PYDBG_SAMPLER_OPTIONS_INIT;
    pydbg_sampler_options opts;
    pydbg_sampler *sampler;
    int rc;
    if (!out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_sampler_new: out is NULL");
    *out = NULL;
    if (!process)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_sampler_new: process is NULL");
    if (pydbg__options_copy(&opts, sizeof opts, options, &defaults) != PYDBG_OK)
        return pydbg__fail(NULL, PYDBG_EINVAL,
                           "pydbg_sampler_new: options not initialised with "
                           "PYDBG_SAMPLER_OPTIONS_INIT");
    if (opts.max_depth == 0)
        opts.max_depth = PYDBG_DEFAULT_MAX_DEPTH;
    sampler = calloc(1, sizeof *sampler);
    if (!sampler)
        return pydbg__fail(NULL, PYDBG_ENOMEM, "out of memory");
    sampler->process = process;
    rc = pydbg__sampler_init(&sampler->sample.engine, process->target, opts.flags,
                             opts.max_depth);
    if (rc != PYDBG_OK) {
        pydbg__set_last_error(process->target->error.message);
        pydbg__sampler_destroy(&sampler->sample.engine);
        free(sampler);
        return rc;
    }
    *out = sampler;
    return PYDBG_OK;
}

PYDBG_API void pydbg_sampler_free(pydbg_sampler *sampler)
{
    if (!sampler)
        return;
    pydbg__sampler_destroy(&sampler->sample.engine);
    free(sampler);
}

PYDBG_API int pydbg_sampler_sample(pydbg_sampler *sampler, const pydbg_sample **out)
{
    int rc;
    if (!sampler || !out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_sampler_sample: NULL argument");
    *out = NULL;
    rc = pydbg__sampler_sample(&sampler->sample.engine);
    if (rc != PYDBG_OK)
        return rc;
    *out = &sampler->sample;
    return PYDBG_OK;
}

PYDBG_API int pydbg_sampler_code_info(const pydbg_sampler *sampler, uint64_t code_key,
                                      const char **function, const char **qualname,
                                      const char **filename, int *first_line)
{
    const pydbg__code_key *code;
    if (!sampler)
        return PYDBG_EINVAL;
    code = pydbg__code_keys_get(&sampler->sample.engine.keys, code_key);
    if (!code)
        return PYDBG_ENOTFOUND;
    if (function)
        *function = code->function;
    if (qualname)
        *qualname = code->qualname;
    if (filename)
        *filename = code->filename;
    if (first_line)
        *first_line = code->first_line;
    return PYDBG_OK;
}

PYDBG_API uint64_t pydbg_sampler_sample_count(const pydbg_sampler *sampler)
{
    return sampler ? sampler->sample.engine.samples : 0;
}

PYDBG_API uint64_t pydbg_sampler_torn_count(const pydbg_sampler *sampler)
{
    return sampler ? sampler->sample.engine.torn : 0;
}

PYDBG_API uint64_t pydbg_sampler_thread_sample_count(const pydbg_sampler *sampler)
{
    return sampler ? sampler->sample.engine.thread_samples : 0;
}

PYDBG_API uint64_t pydbg_sampler_read_calls(const pydbg_sampler *sampler)
{
    return sampler ? sampler->sample.engine.t->reader->read_calls : 0;
}

PYDBG_API const char *pydbg_sampler_errmsg(const pydbg_sampler *sampler)
{
    return sampler ? sampler->sample.engine.t->error.message : "";
}

static const pydbg__sampled_thread *thread_at(const pydbg_sample *sample, size_t thread)
{
    if (!sample || thread >= sample->engine.thread_count)
        return NULL;
    return &sample->engine.threads[thread];
}

PYDBG_API size_t pydbg_sample_thread_count(const pydbg_sample *sample)
{
    return sample ? sample->engine.thread_count : 0;
}

PYDBG_API uint64_t pydbg_sample_thread_ident(const pydbg_sample *sample, size_t thread)
{
    const pydbg__sampled_thread *t = thread_at(sample, thread);
    return t ? t->ident : 0;
}

PYDBG_API const char *pydbg_sample_thread_name(const pydbg_sample *sample, size_t thread)
{
    const pydbg__sampled_thread *t = thread_at(sample, thread);
    return t ? t->name : NULL;
}

PYDBG_API int64_t pydbg_sample_thread_native_id(const pydbg_sample *sample, size_t thread)
{
    const pydbg__sampled_thread *t = thread_at(sample, thread);
    return t ? t->native_id : -1;
}

PYDBG_API int pydbg_sample_thread_holds_gil(const pydbg_sample *sample, size_t thread)
{
    const pydbg__sampled_thread *t = thread_at(sample, thread);
    return t ? t->holds_gil : -1;
}

PYDBG_API int pydbg_sample_thread_state(const pydbg_sample *sample, size_t thread)
{
    const pydbg__sampled_thread *t = thread_at(sample, thread);
    return t ? t->state : PYDBG_THREAD_STATE_UNKNOWN;
}

PYDBG_API int pydbg_sample_thread_error(const pydbg_sample *sample, size_t thread)
{
    const pydbg__sampled_thread *t = thread_at(sample, thread);
    return t ? t->error : PYDBG_EINVAL;
}

PYDBG_API int pydbg_sample_thread_truncated(const pydbg_sample *sample, size_t thread)
{
    const pydbg__sampled_thread *t = thread_at(sample, thread);
    return t ? t->truncated : 0;
}

PYDBG_API size_t pydbg_sample_frame_count(const pydbg_sample *sample, size_t thread)
{
    const pydbg__sampled_thread *t = thread_at(sample, thread);
    return t ? t->frame_count : 0;
}

PYDBG_API uint64_t pydbg_sample_frame_code(const pydbg_sample *sample, size_t thread,
                                           size_t frame)
{
    const pydbg__sampled_thread *t = thread_at(sample, thread);
    if (!t || frame >= t->frame_count)
        return 0;
    return t->frames[frame].key;
}

PYDBG_API int pydbg_sample_frame_line(const pydbg_sample *sample, size_t thread, size_t frame)
{
    const pydbg__sampled_thread *t = thread_at(sample, thread);
    if (!t || frame >= t->frame_count)
        return -1;
    return t->frames[frame].line;
}
