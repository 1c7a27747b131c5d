#include "walk/stack.h"

#include <stdlib.h>
#include <string.h>

#include "pydebug/errors.h"
#include "util/buffer.h"
#include "walk/cycle.h"

void pydbg__stack_reset(pydbg__stack *stack)
{
    stack->count = 0;
    stack->truncated = 0;
    stack->error = PYDBG_OK;
    stack->errmsg[0] = '\0';
}

void pydbg__stack_free(pydbg__stack *stack)
{
    free(stack->frames);
    memset(stack, 0, sizeof *stack);
}

static int stop(pydbg__target *t, pydbg__stack *stack, int code)
{
    stack->error = code;
    memcpy(stack->errmsg, t->error.message, sizeof stack->errmsg);
    return PYDBG_OK;
}

static int push(pydbg__stack *stack, const pydbg__code_info *code, uint64_t code_address,
                int offset, const pydbg__position *position)
{
    void *frames = stack->frames;
    int rc = pydbg__grow_array(&frames, &stack->capacity, stack->count + 1, sizeof *stack->frames);
    stack->frames = frames;
    if (rc != PYDBG_OK)
        return rc;
    stack->frames[stack->count].code = code;
    stack->frames[stack->count].code_address = code_address;
    stack->frames[stack->count].offset = offset;
    stack->frames[stack->count].position = *position;
    stack->count++;
    return PYDBG_OK;
}

/* Stops a walk at the bound: the innermost frames are kept, the rest dropped. */
static int at_depth_bound(pydbg__stack *stack, size_t max_depth)
{
    if (stack->count < max_depth)
        return 0;
    stack->truncated = 1;
    return 1;
}

/* 2.7 - 3.10: a linked list of PyFrameObject through f_back. */
static int walk_frame_objects(pydbg__target *t, uint64_t frame, size_t max_depth,
                              pydbg__stack *stack)
{
    const pydbg__layout *l = &t->layout;
    const int32_t fields[] = {l->frame.f_back, l->frame.f_code, l->frame.f_lasti,
                              l->frame.f_lineno, l->frame.f_trace};
    int32_t span = pydbg__span(fields, sizeof fields / sizeof fields[0]);
    pydbg__cycle_guard guard = PYDBG__CYCLE_GUARD_INIT;
    unsigned char local[256];
    if (span > (int32_t)sizeof local)
        return stop(t, stack, pydbg__fail(&t->error, PYDBG_ECORRUPT, "frame layout too large"));
    while (frame) {
        const pydbg__code_info *code;
        pydbg__position position;
        uint64_t code_address;
        int lasti, rc;
        if (pydbg__cycle_seen(&guard, frame))
            return stop(t, stack, pydbg__fail(&t->error, PYDBG_ECORRUPT,
                                              "frame chain loops at 0x%llx",
                                              (unsigned long long)frame));
        if (at_depth_bound(stack, max_depth))
            return PYDBG_OK;
        rc = pydbg__target_read(t, frame, local, (size_t)span, "frame");
        if (rc != PYDBG_OK)
            return stop(t, stack, rc);
        code_address = pydbg__load_u64(local, l->frame.f_code);
        rc = pydbg__code_lookup(t, code_address, &code);
        if (rc == PYDBG_ENOMEM)
            return rc;
        if (rc != PYDBG_OK)
            return stop(t, stack, rc);
        lasti = (int)pydbg__load_u32(local, l->frame.f_lasti);
        if (l->line_model == PYDBG__LINES_LINETABLE_310 && lasti >= 0)
            lasti *= 2; /* 3.10 counts code units */
        if (lasti >= 0 && code->code_bytes >= 0 && lasti >= code->code_bytes)
            return stop(t, stack, pydbg__fail(&t->error, PYDBG_ECORRUPT,
                                              "frame 0x%llx: instruction %d beyond its code",
                                              (unsigned long long)frame, lasti));
        pydbg__code_position(t, code, lasti, &position);
        /* While a trace function is set, CPython keeps the authoritative line in
         * f_lineno (PyFrame_GetLineNumber does the same). */
        if (pydbg__load_u64(local, l->frame.f_trace) != 0) {
            int traced = (int)pydbg__load_u32(local, l->frame.f_lineno);
            if (traced > 0)
                position.line = traced;
        }
        rc = push(stack, code, code_address, lasti, &position);
        if (rc != PYDBG_OK)
            return rc;
        frame = pydbg__load_u64(local, l->frame.f_back);
    }
    return PYDBG_OK;
}

/* 3.11+: _PyInterpreterFrame records linked through `previous`, living in the
 * thread's data stack (or inside generator objects). */
static int walk_interpreter_frames(pydbg__target *t, uint64_t frame, size_t max_depth,
                                   pydbg__stack *stack)
{
    const pydbg__layout *l = &t->layout;
    const int32_t fields[] = {l->iframe.previous, l->iframe.executable, l->iframe.instr_ptr,
                              l->iframe.owner};
    int32_t span = pydbg__span(fields, sizeof fields / sizeof fields[0]);
    pydbg__cycle_guard guard = PYDBG__CYCLE_GUARD_INIT;
    unsigned char local[256];
    size_t visited = 0;
    if (span > (int32_t)sizeof local)
        return stop(t, stack, pydbg__fail(&t->error, PYDBG_ECORRUPT, "frame layout too large"));
    while (frame) {
        const pydbg__code_info *code;
        pydbg__position position;
        uint64_t code_address, instr;
        int64_t offset;
        int owner, rc;
        if (pydbg__cycle_seen(&guard, frame))
            return stop(t, stack, pydbg__fail(&t->error, PYDBG_ECORRUPT,
                                              "frame chain loops at 0x%llx",
                                              (unsigned long long)frame));
        /* Shim frames do not count toward the depth: bound them on their own
         * (real stacks have at most one per Python frame). */
        if (++visited > max_depth * 2 + 64)
            return stop(t, stack, pydbg__fail(&t->error, PYDBG_ECORRUPT,
                                              "more entry frames than Python frames: corrupt"));
        rc = pydbg__target_read(t, frame, local, (size_t)span, "interpreter frame");
        if (rc != PYDBG_OK)
            return stop(t, stack, rc);
        owner = local[l->iframe.owner];
        code_address = pydbg__load_u64(local, l->iframe.executable) & ~t->layout.iframe_tag_mask;
        if (pydbg__layout_skips_owner(l, (unsigned)owner)) {
            /* A shim frame that C code pushed to enter the interpreter: not user code. */
            frame = pydbg__load_u64(local, l->iframe.previous);
            continue;
        }
        /* Checked only now: a stack that ends in shim frames is not cut. */
        if (at_depth_bound(stack, max_depth))
            return PYDBG_OK;
        rc = pydbg__code_lookup(t, code_address, &code);
        if (rc == PYDBG_ENOMEM)
            return rc;
        if (rc != PYDBG_OK)
            return stop(t, stack, rc);
        instr = pydbg__load_u64(local, l->iframe.instr_ptr);
        offset = (int64_t)(instr - (code_address + (uint64_t)l->code.co_code_adaptive));
        if (offset < -2 || (offset & 1) || (code->code_bytes >= 0 && offset >= code->code_bytes))
            return stop(t, stack, pydbg__fail(&t->error, PYDBG_ECORRUPT,
                                              "frame 0x%llx: instruction pointer outside its code",
                                              (unsigned long long)frame));
        pydbg__code_position(t, code, (int)offset, &position);
        rc = push(stack, code, code_address, (int)offset, &position);
        if (rc != PYDBG_OK)
            return rc;
        frame = pydbg__load_u64(local, l->iframe.previous);
    }
    return PYDBG_OK;
}

int pydbg__stack_walk(pydbg__target *t, uint64_t top, size_t max_depth, pydbg__stack *stack)
{
    pydbg__stack_reset(stack);
    if (max_depth == 0)
        max_depth = 1;
    if (t->layout.frame_model == PYDBG__FRAME_OBJECTS)
        return walk_frame_objects(t, top, max_depth, stack);
    return walk_interpreter_frames(t, top, max_depth, stack);
}
