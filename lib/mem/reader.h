/* The one interface through which every layer above reads target memory.
 *
 * Implementations: a live process (process_vm_readv, falling back to
 * /proc/PID/mem), and later a core file and the process's own memory. The
 * walker knows only this interface, so a new source of memory plugs in
 * without touching it.
 *
 * Contract: a read either fills the whole buffer and returns PYDBG_OK, or
 * returns an error (PYDBG_EREAD for an unmapped or unreadable address,
 * PYDBG_EEXITED when the process is gone, PYDBG_EPERM). A reader never writes
 * to the target. */
#ifndef PYDBG_MEM_READER_H
#define PYDBG_MEM_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct pydbg__reader pydbg__reader;

/* One piece of a scattered read. */
typedef struct pydbg__read_piece {
    uint64_t address;
    void *buffer;
    size_t length;
} pydbg__read_piece;

typedef struct pydbg__reader_ops {
    int (*read)(pydbg__reader *reader, uint64_t address, void *buffer, size_t length);
    /* Reads several pieces at once (one syscall where the source allows). Every
     * piece is all-or-nothing; returns PYDBG_OK only when all were read. */
    int (*read_many)(pydbg__reader *reader, pydbg__read_piece *pieces, size_t count);
    /* Reads as much as possible of [address, address+length) from its start and
     * stores the number of bytes read; for callers that can use a short read
     * (strings near the end of a mapping). */
    int (*read_partial)(pydbg__reader *reader, uint64_t address, void *buffer, size_t length,
                        size_t *got);
    void (*destroy)(pydbg__reader *reader);
} pydbg__reader_ops;

struct pydbg__reader {
    const pydbg__reader_ops *ops;
    uint64_t read_calls; /* system calls made, for benchmarks and tests */
};

static inline int pydbg__read(pydbg__reader *r, uint64_t address, void *buffer, size_t length)
{
    return r->ops->read(r, address, buffer, length);
}

static inline int pydbg__read_many(pydbg__reader *r, pydbg__read_piece *pieces, size_t count)
{
    return r->ops->read_many(r, pieces, count);
}

static inline int pydbg__read_partial(pydbg__reader *r, uint64_t address, void *buffer,
                                      size_t length, size_t *got)
{
    return r->ops->read_partial(r, address, buffer, length, got);
}

/* Reads one pointer-sized (8 bytes, x86_64/aarch64) value. */
int pydbg__read_ptr(pydbg__reader *r, uint64_t address, uint64_t *value);

void pydbg__reader_destroy(pydbg__reader *reader);

/* Default `read_many` for readers without a scattered read: one `read` per
 * piece, stopping at the first failure. */
int pydbg__reader_read_many_loop(pydbg__reader *reader, pydbg__read_piece *pieces, size_t count);

/* A reader of live process `pid`. `force_proc_mem` skips process_vm_readv. */
int pydbg__reader_open_process(pydbg__reader **out, int pid, int force_proc_mem);

/* A reader of the calling process's own memory that never faults: an
 * unreadable address gives PYDBG_EREAD, not SIGSEGV (process_vm_readv on our
 * own PID, or a pipe write() probe where that call is refused or `force_pipe`).
 * Reads are async-signal-safe; a pipe-backed reader serves one thread at a
 * time. Opening allocates (not async-signal-safe). */
int pydbg__reader_open_self(pydbg__reader **out, int force_pipe);
/* True if the reader copies through its pipe (tests). */
int pydbg__reader_self_uses_pipe(const pydbg__reader *reader);

/* A reader over a local buffer that pretends to live at `base` (unit tests,
 * and fuzzing of the walker on recorded memory). Several regions may be added. */
int pydbg__reader_open_buffer(pydbg__reader **out);
int pydbg__reader_buffer_add(pydbg__reader *reader, uint64_t base, const void *data, size_t length);

#endif
