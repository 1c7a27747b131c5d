/* Pausing a live process for a consistent view, with ptrace.
 *
 * Every thread is seized (PTRACE_SEIZE, which unlike PTRACE_ATTACH sends no
 * SIGSTOP the target could observe) and interrupted (PTRACE_INTERRUPT), then
 * waited for. The task list is re-read until no new thread appears, so a
 * thread created during the pause is caught too. Release detaches every
 * thread; it is called on every exit path, and the seized threads are also
 * released by the kernel if this process dies. */
#ifndef PYDBG_MEM_PAUSE_H
#define PYDBG_MEM_PAUSE_H

#include "util/error.h"

typedef struct pydbg__pause pydbg__pause;

/* Stops every thread of `pid`. Errors: PYDBG_ENOPROC, PYDBG_EPERM (ptrace not
 * allowed: the message says what to do), PYDBG_EEXITED, PYDBG_ESTATE (another
 * tracer is attached), PYDBG_ELIMIT (threads kept appearing). */
int pydbg__pause_process(pydbg__pause **out, int pid, pydbg__error *err);

/* The number of threads stopped. */
int pydbg__pause_thread_count(const pydbg__pause *pause);

/* Lets every stopped thread run on and frees `pause` (NULL is a no-op). */
void pydbg__pause_release(pydbg__pause *pause);

#endif
