/* What the public API glue shares between its files. */
#ifndef PYDBG_API_INTERNAL_H
#define PYDBG_API_INTERNAL_H

#include "pydebug/frames.h"
#include "pydebug/process.h"
#include "util/buffer.h"
#include "util/error.h"
#include "walk/target.h"

struct pydbg_process {
    pydbg__target *target;
};

struct pydbg_frame {
    const char *function, *qualname, *filename;
    int line, end_line, column, end_column, offset;
    uint64_t code_address;
};

struct pydbg_thread {
    int64_t interpreter_id;
    uint64_t ident;
    int64_t native_id;
    const char *name;
    int is_main, holds_gil, truncated, error;
    const char *errmsg;
    pydbg_frame *frames;
    size_t frame_count;
};

struct pydbg_stacks {
    pydbg__arena arena; /* every string, thread and frame of the capture */
    pydbg_thread *threads;
    size_t thread_count;
};

#endif
