/* The walker's view of one target: how to read it, which CPython it runs,
 * where its interpreter keeps its roots, and what was already decoded.
 *
 * A pydbg__target is what a public pydbg_process wraps. It is built once by
 * pydbg__target_open() (locate.c: find the interpreter, detect its version,
 * pick its layout) and then walked many times (threads.c, stack.c). */
#ifndef PYDBG_WALK_TARGET_H
#define PYDBG_WALK_TARGET_H

#include <stdint.h>
#include <string.h>

#include "layout/layout.h"
#include "mem/pause.h"
#include "mem/reader.h"
#include "util/error.h"

typedef struct pydbg__code_cache pydbg__code_cache;

/* Bounds on walks over remote data. Each sits far above anything real, so
 * hitting one means torn or corrupt data and is reported, never silent. */
#define PYDBG__MAX_INTERPRETERS 4096u
#define PYDBG__MAX_THREADS 65536u
#define PYDBG__MAX_STRING_BYTES 8192u
#define PYDBG__MAX_DICT_ENTRIES (1u << 20)

/* Addresses of the type objects that tell a real object from garbage. */
typedef struct pydbg__type_addresses {
    uint64_t code, str, bytes, dict, module, long_, int_;
} pydbg__type_addresses;

typedef struct pydbg__target {
    int pid;
    int live; /* a live process (not a core file) */
    pydbg__reader *reader;
    pydbg__layout layout;
    uint32_t hexversion;
    char version[32];
    char interpreter_path[4096]; /* the ELF file of the interpreter, as the target maps it */

    /* Roots, as absolute addresses in the target; 0 where the version has none. */
    uint64_t runtime;             /* _PyRuntime (3.7+) */
    uint64_t interp_head_var;     /* &interp_head (2.7, 3.6) */
    uint64_t tstate_current_var;  /* &_PyThreadState_Current (2.7, 3.6) */
    uint64_t main_thread_var;     /* &main_thread of signalmodule.c (2.7, 3.6) */
    pydbg__type_addresses types;
    unsigned py2_unicode_width; /* 2.7: sizeof(Py_UNICODE), 2 or 4; 0 otherwise */

    /* Offset of the TID in glibc's struct pthread (before 3.11, where thread
     * states do not record it): -1 not yet calibrated, 0 not found. */
    int32_t pthread_tid_offset;

    pydbg__code_cache *codes;
    pydbg__pause *pause;
    int pause_depth;
    pydbg__error error;

    /* The TIDs of a target that is not live (a core's threads), where
     * /proc/PID/task cannot tell them; owned. */
    int32_t *task_ids;
    size_t task_id_count;
} pydbg__target;

/* Finds the interpreter in live process `pid` and prepares to walk it. */
int pydbg__target_open(pydbg__target **out, int pid, int force_proc_mem, pydbg__error *err);

/* Where a target's memory and files come from: a live process, or a core file
 * (which brings its own reader and mappings). */
typedef struct pydbg__target_source {
    int pid;                     /* the process, live or the one a core came from */
    int live;                    /* 1: a live process (pausing, /proc) */
    pydbg__reader *reader;       /* taken over by the target, even on failure */
    const struct pydbg__maps *maps; /* its mappings (borrowed) */
    const char *file_root;       /* prefix of mapped files' paths ("/proc/PID/root"), or NULL */
    const char *executable;      /* the main executable's path as mapped, or NULL */
    const char *executable_file; /* where to open the executable instead, or NULL */
    const int32_t *task_ids;     /* not live: the process's TIDs (copied), or NULL */
    size_t task_id_count;
} pydbg__target_source;

/* Finds the interpreter in the mappings of `source` and prepares to walk it. */
int pydbg__target_open_source(pydbg__target **out, const pydbg__target_source *source,
                              pydbg__error *err);
void pydbg__target_close(pydbg__target *target);

int pydbg__target_pause(pydbg__target *target);
int pydbg__target_resume(pydbg__target *target);

/* Reads with a message: on failure records "reading <what> at 0x...: <reason>"
 * in the target's error and returns the code. */
int pydbg__target_read(pydbg__target *target, uint64_t address, void *buffer, size_t length,
                       const char *what);
int pydbg__target_read_ptr(pydbg__target *target, uint64_t address, uint64_t *value,
                           const char *what);

/* Loads from a local copy of remote bytes at a layout offset. The targets
 * supported (x86_64, aarch64) are little-endian like the host. */
static inline uint64_t pydbg__load_u64(const unsigned char *base, int32_t offset)
{
    uint64_t v;
    memcpy(&v, base + offset, sizeof v);
    return v;
}
static inline uint32_t pydbg__load_u32(const unsigned char *base, int32_t offset)
{
    uint32_t v;
    memcpy(&v, base + offset, sizeof v);
    return v;
}

/* The size of a local copy that covers every listed offset plus a field of 8 bytes. */
int32_t pydbg__span(const int32_t *offsets, size_t count);

#endif
