/* Walking one thread's chain of frames, for every frame model. */
#ifndef PYDBG_WALK_STACK_H
#define PYDBG_WALK_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "walk/code_cache.h"
#include "walk/target.h"

typedef struct pydbg__frame_rec {
    const pydbg__code_info *code; /* valid until pydbg__code_cache_maintain() */
    uint64_t code_address;
    int offset; /* byte offset of the current instruction, -1 if not started */
    pydbg__position position;
} pydbg__frame_rec;

typedef struct pydbg__stack {
    pydbg__frame_rec *frames;
    size_t count;
    size_t capacity;
    int truncated; /* the depth bound cut the stack */
    int error;     /* PYDBG_OK, or why the walk stopped early */
    char errmsg[PYDBG__ERRMSG_SIZE];
} pydbg__stack;

/* Walks from `top` (the thread's current frame: a PyFrameObject before 3.11,
 * an _PyInterpreterFrame from 3.11) to the outermost frame, innermost first,
 * keeping at most `max_depth` frames. Frames read before an error are kept and
 * the error is stored in `stack->error`; only PYDBG_ENOMEM is returned. */
int pydbg__stack_walk(pydbg__target *t, uint64_t top, size_t max_depth, pydbg__stack *stack);

void pydbg__stack_reset(pydbg__stack *stack);
void pydbg__stack_free(pydbg__stack *stack);

#endif
