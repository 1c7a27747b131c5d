/* The faultdump feature: what its files share.
 *
 * Two kinds of state:
 * - fd_python: where the interpreter is and how it is laid out. Computed in
 *   normal context (install, register, refresh) and read-only afterwards.
 * - fd_ctx: everything one dump needs (a non-faulting reader, the output
 *   buffer, the line-table and string buffers, the native-symbol scratch).
 *   Allocated with mmap before any handler can run; one per dumping agent
 *   (the signal handlers share one, the watchdog has its own), never shared
 *   by two dumps at once.
 *
 * Everything that runs during a dump (fd_dump.c, fd_native.c, fd_out.c) uses
 * only async-signal-safe calls and no heap. */
#ifndef PYDBG_FAULTDUMP_FD_INTERNAL_H
#define PYDBG_FAULTDUMP_FD_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "faultdump/fd_unwind.h"
#include "layout/layout.h"
#include "mem/reader.h"

/* faulthandler's own limits (Python/traceback.c). */
#define PYDBG__FD_MAX_STRING_LENGTH 500
#define PYDBG__FD_MAX_FRAME_DEPTH 100
#define PYDBG__FD_MAX_NTHREADS 100

/* Our own bounds on walks that faulthandler does not bound. */
#define PYDBG__FD_MAX_INTERPRETERS 64
#define PYDBG__FD_MAX_SCAN_THREADS 4096
#define PYDBG__FD_LINETABLE_CAP (256u * 1024u)
#define PYDBG__FD_MAX_NATIVE_FRAMES 64
#define PYDBG__FD_MAX_OBJECTS 1024 /* executable mappings the unwinder knows */

typedef struct pydbg__fd_python {
    int ready; /* the interpreter was found */
    pydbg__layout layout;
    uint32_t hexversion;
    uint64_t runtime, interp_head_var;
    uint64_t type_code, type_str, type_bytes;
    char version[32];
    char interpreter_path[1024];
} pydbg__fd_python;

typedef struct pydbg__fd_native_frame {
    uint64_t address; /* return address (or the faulting pc for frame 0) */
    uint64_t map_start, map_offset;
    int found; /* a mapping holds the address */
    int executable; /* ... and it is executable: a plausible return address */
    int has_symbol;
    uint64_t symbol_offset;
    char path[512];
    char symbol[256];
} pydbg__fd_native_frame;

/* An executable mapping, from /proc/self/maps at dump time, or from the table
 * prepared at install (when /proc cannot be read). */
typedef struct pydbg__fd_object {
    uint64_t start, end; /* the executable range */
    uint64_t base;       /* where the file's ELF header is mapped, 0 if unknown */
    uint64_t eh_frame_hdr;
    int hdr_state;       /* 0 not looked up yet, 1 found, -1 none */
} pydbg__fd_object;

typedef struct pydbg__fd_ctx {
    pydbg__reader *reader;
    int fd;
    int write_failed;
    size_t out_length;
    char out[4096];
    unsigned char linetable[PYDBG__FD_LINETABLE_CAP];
    unsigned char string[64 + PYDBG__FD_MAX_STRING_LENGTH * 4];
    /* native frames */
    size_t native_count;
    int native_truncated;
    pydbg__fd_native_frame native[PYDBG__FD_MAX_NATIVE_FRAMES];
    char scratch[64 * 1024]; /* /proc/self/maps, ELF headers, symbol chunks */
    /* the CFI unwinder */
    size_t nobjects;
    pydbg__fd_object objects[PYDBG__FD_MAX_OBJECTS];
    pydbg__fd_cfi_work cfi;
    int unwind_stats[2]; /* frames found by CFI, by the frame-pointer chain (tests) */
} pydbg__fd_ctx;

/* The process-wide interpreter description (fd_install.c). */
extern pydbg__fd_python pydbg__fd_py;

/* Allocates a context with mmap and opens its reader (normal context). */
int pydbg__fd_ctx_new(pydbg__fd_ctx **out);
void pydbg__fd_ctx_free(pydbg__fd_ctx *ctx);

/* ---- output (fd_out.c): buffered write(2), no stdio ---------------------- */
void pydbg__fd_begin(pydbg__fd_ctx *ctx, int fd);
void pydbg__fd_puts(pydbg__fd_ctx *ctx, const char *text);
void pydbg__fd_write(pydbg__fd_ctx *ctx, const char *text, size_t length);
void pydbg__fd_decimal(pydbg__fd_ctx *ctx, uint64_t value);
/* Lower-case hex, zero-padded to `width` digits (faulthandler's _Py_DumpHexadecimal). */
void pydbg__fd_hex(pydbg__fd_ctx *ctx, uint64_t value, int width);
/* Writes the buffer out; returns PYDBG_OK or PYDBG_EIO. */
int pydbg__fd_flush(pydbg__fd_ctx *ctx);

/* ---- Python stacks (fd_dump.c) -------------------------------------------- */
/* faulthandler's _Py_DumpTracebackThreads / _Py_DumpTraceback for the calling
 * thread. `all_threads` = 0 gives the "Stack (most recent call first):" form.
 * Returns PYDBG_OK, or PYDBG_ENOTPYTHON when there is no interpreter to dump. */
int pydbg__fd_dump_python(pydbg__fd_ctx *ctx, int all_threads, int as_watchdog);

/* ---- native frames (fd_native.c) ------------------------------------------ */
/* Collects the native frames of the calling thread from a signal context
 * (NULL: from the caller's own frame) and writes them, symbolised. */
void pydbg__fd_dump_native(pydbg__fd_ctx *ctx, const void *ucontext);

/* Finds the mapping, ELF symbol and offset of every address in `frames`
 * (exposed for the tests: it is how the handler names native frames). */
void pydbg__fd_symbolize(pydbg__fd_ctx *ctx, pydbg__fd_native_frame *frames, size_t count);

#endif
