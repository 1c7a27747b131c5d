/* pydbg_stacks_capture() and the accessors of its result. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "util/options.h"
#include "walk/code_cache.h"
#include "walk/stack.h"
#include "walk/thread_names.h"
#include "walk/threads.h"

/* Pauses a paused capture takes at most, when a thread was caught mid-step. */
#define PAUSED_ATTEMPTS 3

static int read_capture_options(const pydbg_capture_options *given, pydbg_capture_options *out)
{
    static const pydbg_capture_options defaults = PYDBG_CAPTURE_OPTIONS_INIT;
    if (pydbg__options_copy(out, sizeof *out, given, &defaults) != PYDBG_OK)
        return PYDBG_EINVAL;
    if (out->max_depth == 0)
        out->max_depth = PYDBG_DEFAULT_MAX_DEPTH;
    return PYDBG_OK;
}

static const char *copy(pydbg_stacks *s, const char *text)
{
    return text ? pydbg__arena_strdup(&s->arena, text) : NULL;
}

/* Turns a walked stack into public frames, copying strings into the capture
 * (the code cache may drop its copies before the capture is freed). */
static int fill_frames(pydbg_stacks *s, pydbg_thread *thread, const pydbg__stack *stack)
{
    thread->frame_count = stack->count;
    if (stack->count == 0)
        return PYDBG_OK;
    thread->frames = pydbg__arena_alloc(&s->arena, stack->count * sizeof *thread->frames);
    if (!thread->frames)
        return PYDBG_ENOMEM;
    for (size_t i = 0; i < stack->count; i++) {
        const pydbg__frame_rec *rec = &stack->frames[i];
        pydbg_frame *frame = &thread->frames[i];
        /* Consecutive frames of one function (recursion) share their strings. */
        if (i > 0 && stack->frames[i - 1].code == rec->code) {
            frame->function = thread->frames[i - 1].function;
            frame->qualname = thread->frames[i - 1].qualname;
            frame->filename = thread->frames[i - 1].filename;
        } else {
            frame->function = copy(s, rec->code->name);
            frame->qualname = copy(s, rec->code->qualname);
            frame->filename = copy(s, rec->code->filename);
            if (!frame->function || !frame->filename ||
                (rec->code->qualname && !frame->qualname))
                return PYDBG_ENOMEM;
        }
        frame->line = rec->position.line;
        frame->end_line = rec->position.end_line;
        frame->column = rec->position.column;
        frame->end_column = rec->position.end_column;
        frame->offset = rec->offset;
        frame->code_address = rec->code_address;
    }
    return PYDBG_OK;
}

static int capture(pydbg__target *t, const pydbg_capture_options *opts, pydbg_stacks *s)
{
    pydbg__thread_list list = {0};
    pydbg__thread_names names = {0};
    pydbg__stack stack = {0};
    int rc;

    pydbg__code_cache_maintain(t->codes);
    rc = pydbg__threads_read(t, &list);
    if (rc != PYDBG_OK)
        goto done;
    if (!(opts->flags & PYDBG_CAPTURE_NO_THREAD_NAMES)) {
        if (pydbg__thread_names_read_all(t, &list, &s->arena, &names) != PYDBG_OK) {
            rc = pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
            goto done;
        }
    }
    s->threads = pydbg__arena_alloc(&s->arena, (list.count ? list.count : 1) * sizeof *s->threads);
    if (!s->threads) {
        rc = pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < list.count; i++) {
        const pydbg__thread_rec *rec = &list.items[i];
        pydbg_thread *thread = &s->threads[s->thread_count];
        if (rec->unstarted)
            continue;
        thread->interpreter_id = rec->interp_id;
        thread->ident = rec->ident;
        thread->native_id = rec->native_id;
        thread->is_main = rec->is_main;
        thread->holds_gil = rec->holds_gil;
        thread->name = pydbg__thread_names_find(&names, rec->ident);
        thread->errmsg = "";
        rc = pydbg__stack_walk(t, rec->top_frame, opts->max_depth, &stack);
        if (rc != PYDBG_OK) {
            rc = pydbg__fail(&t->error, rc, "out of memory");
            goto done;
        }
        thread->truncated = stack.truncated;
        thread->error = stack.error;
        if (stack.error != PYDBG_OK) {
            thread->errmsg = copy(s, stack.errmsg);
            if (!thread->errmsg) {
                rc = pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
                goto done;
            }
        }
        rc = fill_frames(s, thread, &stack);
        if (rc != PYDBG_OK) {
            rc = pydbg__fail(&t->error, rc, "out of memory");
            goto done;
        }
        s->thread_count++;
    }
done:
    pydbg__stack_free(&stack);
    pydbg__thread_names_free(&names);
    pydbg__thread_list_free(&list);
    return rc;
}

/* Pauses for the capture when asked to, and resumes after. */
static int capture_once(pydbg__target *t, const pydbg_capture_options *opts, pydbg_stacks *s)
{
    int rc, resume_rc = PYDBG_OK;
    if (opts->flags & PYDBG_CAPTURE_PAUSE) {
        rc = pydbg__target_pause(t);
        if (rc != PYDBG_OK)
            return rc;
    }
    rc = capture(t, opts, s);
    if (opts->flags & PYDBG_CAPTURE_PAUSE)
        resume_rc = pydbg__target_resume(t);
    return rc == PYDBG_OK ? resume_rc : rc;
}

static int has_thread_error(const pydbg_stacks *s)
{
    for (size_t i = 0; i < s->thread_count; i++)
        if (s->threads[i].error != PYDBG_OK)
            return 1;
    return 0;
}

PYDBG_API int pydbg_stacks_capture(pydbg_stacks **out, pydbg_process *process,
                                   const pydbg_capture_options *options)
{
    pydbg_capture_options opts;
    pydbg_stacks *stacks;
    pydbg__target *t;
    int rc;
    if (!out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_stacks_capture: out is NULL");
    *out = NULL;
    if (!process)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_stacks_capture: process is NULL");
    t = process->target;
    if (read_capture_options(options, &opts) != PYDBG_OK)
        return pydbg__fail(&t->error, PYDBG_EINVAL,
                           "pydbg_stacks_capture: options not initialised with "
                           "PYDBG_CAPTURE_OPTIONS_INIT");
    stacks = calloc(1, sizeof *stacks);
    if (!stacks)
        return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    for (int attempt = 1;; attempt++) {
        rc = capture_once(t, &opts, stacks);
        if (rc != PYDBG_OK || !(opts.flags & PYDBG_CAPTURE_PAUSE) || attempt == PAUSED_ATTEMPTS ||
            !has_thread_error(stacks))
            break;
        /* A paused thread can sit in a step the interpreter makes in two
         * stores, between them: RETURN_GENERATOR (3.11+) frees the frame it
         * returns from (its whole data stack chunk, when it was the chunk's
         * first) before it moves the current frame off it. Paused again
         * after it had a moment to run, the thread has moved on (resumed and
         * paused at once, it has not: it was not scheduled in between). */
        pydbg__arena_free(&stacks->arena);
        memset(stacks, 0, sizeof *stacks);
        {
            struct timespec pause_for = {0, attempt * 1000L * 1000L};
            nanosleep(&pause_for, NULL);
        }
    }
    if (rc != PYDBG_OK) {
        pydbg_stacks_free(stacks);
        return rc;
    }
    *out = stacks;
    return PYDBG_OK;
}

PYDBG_API void pydbg_stacks_free(pydbg_stacks *stacks)
{
    if (!stacks)
        return;
    pydbg__arena_free(&stacks->arena);
    free(stacks);
}

PYDBG_API size_t pydbg_stacks_thread_count(const pydbg_stacks *stacks)
{
    return stacks ? stacks->thread_count : 0;
}

PYDBG_API const pydbg_thread *pydbg_stacks_thread(const pydbg_stacks *stacks, size_t index)
{
    return stacks && index < stacks->thread_count ? &stacks->threads[index] : NULL;
}

PYDBG_API int64_t pydbg_thread_interpreter_id(const pydbg_thread *thread)
{
    return thread ? thread->interpreter_id : -1;
}

PYDBG_API uint64_t pydbg_thread_ident(const pydbg_thread *thread)
{
    return thread ? thread->ident : 0;
}

PYDBG_API int64_t pydbg_thread_native_id(const pydbg_thread *thread)
{
    return thread ? thread->native_id : -1;
}

PYDBG_API const char *pydbg_thread_name(const pydbg_thread *thread)
{
    return thread ? thread->name : NULL;
}

PYDBG_API int pydbg_thread_is_main(const pydbg_thread *thread)
{
    return thread ? thread->is_main : 0;
}

PYDBG_API int pydbg_thread_holds_gil(const pydbg_thread *thread)
{
    return thread ? thread->holds_gil : -1;
}

PYDBG_API size_t pydbg_thread_frame_count(const pydbg_thread *thread)
{
    return thread ? thread->frame_count : 0;
}

PYDBG_API const pydbg_frame *pydbg_thread_frame(const pydbg_thread *thread, size_t index)
{
    return thread && index < thread->frame_count ? &thread->frames[index] : NULL;
}

PYDBG_API int pydbg_thread_truncated(const pydbg_thread *thread)
{
    return thread ? thread->truncated : 0;
}

PYDBG_API int pydbg_thread_error(const pydbg_thread *thread)
{
    return thread ? thread->error : PYDBG_EINVAL;
}

PYDBG_API const char *pydbg_thread_errmsg(const pydbg_thread *thread)
{
    return thread ? thread->errmsg : "";
}

PYDBG_API const char *pydbg_frame_function(const pydbg_frame *frame)
{
    return frame ? frame->function : "?";
}

PYDBG_API const char *pydbg_frame_qualname(const pydbg_frame *frame)
{
    return frame ? frame->qualname : NULL;
}

PYDBG_API const char *pydbg_frame_filename(const pydbg_frame *frame)
{
    return frame ? frame->filename : "?";
}

PYDBG_API int pydbg_frame_line(const pydbg_frame *frame)
{
    return frame ? frame->line : -1;
}

PYDBG_API int pydbg_frame_end_line(const pydbg_frame *frame)
{
    return frame ? frame->end_line : -1;
}

PYDBG_API int pydbg_frame_column(const pydbg_frame *frame)
{
    return frame ? frame->column : -1;
}

PYDBG_API int pydbg_frame_end_column(const pydbg_frame *frame)
{
    return frame ? frame->end_column : -1;
}

PYDBG_API int pydbg_frame_instruction_offset(const pydbg_frame *frame)
{
    return frame ? frame->offset : -1;
}

PYDBG_API uint64_t pydbg_frame_code_address(const pydbg_frame *frame)
{
    return frame ? frame->code_address : 0;
}
