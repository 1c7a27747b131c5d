/* A process without Python that crashes several calls deep in code built
 * without frame pointers (this file: -fomit-frame-pointer -O2; Debian's libc:
 * always), with the crash handler installed. run_crash.py checks that the
 * native stack of the dump names every function of the chain, in order.
 *
 *   native_chain qsort   main > chain_one > chain_two > chain_three > qsort
 *                        (libc) > chain_compare > crash_write: a NULL store
 *   native_chain strlen  main > chain_one > chain_two > chain_three > strlen
 *                        (libc) given a bad pointer
 *   native_chain call    main > chain_one > chain_two > chain_three > a call
 *                        through a bad function pointer
 * With a second argument "nohandler" the handler is not installed (gdb's
 * ground truth of the same crash). */
#include <pydebug.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP __attribute__((noinline, used))

/* volatile: the compiler can neither see the NULL (and emit a trap instead)
 * nor fold the calls. */
static int *volatile bad_store;
static const char *volatile bad_string = (const char *)16;
static void (*volatile bad_call)(void) = (void (*)(void))(uintptr_t)8;
static volatile int mode;
static volatile int sink;

int chain_compare(const void *a, const void *b);
int crash_write(int value);
int chain_three(int depth);
int chain_two(int depth);
int chain_one(int depth);

KEEP int crash_write(int value)
{
    *bad_store = value;
    return value + sink;
}

KEEP int chain_compare(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    /* Results used after the call: no tail call may hide this frame. */
    int r = crash_write(x - y);
    return r + sink;
}

KEEP int chain_three(int depth)
{
    int values[8];
    for (int i = 0; i < 8; i++)
        values[i] = (8 - i) * depth;
    if (mode == 0)
        qsort(values, 8, sizeof values[0], chain_compare);
    else if (mode == 1)
        sink = (int)strlen(bad_string);
    else
        bad_call();
    return values[0] + sink;
}

KEEP int chain_two(int depth)
{
    int r = chain_three(depth + 1);
    return r * 3 + sink;
}

KEEP int chain_one(int depth)
{
    int r = chain_two(depth + 1);
    return r * 5 + sink;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: native_chain qsort|strlen|call [nohandler]\n");
        return 2;
    }
    mode = strcmp(argv[1], "qsort") == 0 ? 0 : strcmp(argv[1], "strlen") == 0 ? 1 : 2;
    if (argc < 3 || strcmp(argv[2], "nohandler") != 0) {
        pydbg_faultdump_options options = PYDBG_FAULTDUMP_OPTIONS_INIT;
        options.fd = 2;
        if (pydbg_faultdump_install(&options) != PYDBG_OK) {
            fprintf(stderr, "install: %s\n", pydbg_last_error());
            return 3;
        }
    }
    return chain_one(argc) + sink;
}
