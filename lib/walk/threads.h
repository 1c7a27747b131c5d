/* Enumerating interpreters and their thread states. */
#ifndef PYDBG_WALK_THREADS_H
#define PYDBG_WALK_THREADS_H

#include <stddef.h>
#include <stdint.h>

#include "walk/target.h"

typedef struct pydbg__thread_rec {
    uint64_t tstate;
    uint64_t interp;
    int64_t interp_id;
    uint64_t ident;     /* threading.get_ident() */
    int64_t native_id;  /* Linux TID, -1 if unknown */
    int is_main;
    int holds_gil;      /* 1, 0, or -1 unknown */
    uint64_t top_frame; /* innermost frame, 0 if the thread runs no Python code */
    int unstarted;      /* a thread state whose thread has not started yet */
} pydbg__thread_rec;

typedef struct pydbg__thread_list {
    pydbg__thread_rec *items;
    size_t count;
    size_t capacity;
} pydbg__thread_list;

/* Reads every thread state of every interpreter. A list torn by a running
 * target (a cycle, a thread state of another interpreter) is read again a few
 * times; PYDBG_ECORRUPT if it stays torn. */
int pydbg__threads_read(pydbg__target *t, pydbg__thread_list *list);

void pydbg__thread_list_free(pydbg__thread_list *list);

#endif
