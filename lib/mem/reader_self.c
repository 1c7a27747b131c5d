/* Reading the calling process's own memory without ever faulting.
 *
 * A crash handler must read Python state that may be corrupt: dereferencing a
 * bad pointer inside a SIGSEGV handler would kill the dump. process_vm_readv
 * on our own PID copies through the kernel, which reports an unmapped or
 * unreadable address as EFAULT instead of raising a signal. Where that call is
 * refused (seccomp profiles deny it with EPERM, old kernels lack it), the
 * fallback writes the range into a pipe: write() also copies through the
 * kernel and fails with EFAULT, and reading the pipe back gives the bytes.
 *
 * Every read uses only system calls (process_vm_readv, write, read, getpid,
 * pipe2, close) and touches no heap, no locks and no errno-dependent libc
 * state beyond errno itself, so reads are async-signal-safe. A pipe-backed
 * reader must not be used by two threads at once; the crash handler and the
 * watchdog each own one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mem/reader.h"
#include "pydebug/errors.h"

/* A pipe holds at least one page without blocking; chunks of this size are
 * written and read back whole. */
#define PIPE_CHUNK 4096u

typedef struct self_reader {
    pydbg__reader base;
    int use_pipe;
    int pipe_fds[2];
    int pipe_pid; /* the process that created the pipe: a forked child makes its own */
    uint64_t page_size;
} self_reader;

static int retry_intr(ssize_t n)
{
    return n < 0 && errno == EINTR;
}

static void close_pipe(self_reader *sr)
{
    if (sr->pipe_fds[0] >= 0)
        close(sr->pipe_fds[0]);
    if (sr->pipe_fds[1] >= 0)
        close(sr->pipe_fds[1]);
    sr->pipe_fds[0] = sr->pipe_fds[1] = -1;
}

static int ensure_pipe(self_reader *sr)
{
    pid_t pid = getpid();
    if (sr->pipe_fds[0] >= 0 && sr->pipe_pid == pid)
        return PYDBG_OK;
    /* After fork the parent shares the pipe: bytes could cross. */
    close_pipe(sr);
    if (pipe2(sr->pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        sr->pipe_fds[0] = sr->pipe_fds[1] = -1;
        return PYDBG_EIO;
    }
    sr->pipe_pid = pid;
    return PYDBG_OK;
}

/* Empties the pipe after a failed or short transfer so the next read starts clean. */
static void drain(self_reader *sr)
{
    char scratch[256];
    for (int i = 0; i < (int)(PIPE_CHUNK / sizeof scratch) + 2; i++) {
        ssize_t n = read(sr->pipe_fds[0], scratch, sizeof scratch);
        if (n <= 0 && !retry_intr(n))
            return;
    }
}

/* Copies up to `length` bytes through the pipe; stores the number copied. */
static int pipe_copy(self_reader *sr, uint64_t address, unsigned char *buffer, size_t length,
                     size_t *got)
{
    *got = 0;
    if (ensure_pipe(sr) != PYDBG_OK)
        return PYDBG_EIO;
    while (*got < length) {
        /* Never across a page boundary: a write() that faults part-way fails
         * whole, so page-sized pieces give the readable prefix exactly. */
        uint64_t at = address + *got;
        size_t to_page_end = (size_t)(sr->page_size - (at & (sr->page_size - 1)));
        size_t want = length - *got < PIPE_CHUNK ? length - *got : PIPE_CHUNK;
        if (want > to_page_end)
            want = to_page_end;
        ssize_t wrote, n;
        size_t have = 0;
        int tries = 0;
        sr->base.read_calls++;
        do
            wrote = write(sr->pipe_fds[1], (const void *)(uintptr_t)(address + *got), want);
        while (retry_intr(wrote) && ++tries < 16);
        if (wrote <= 0) {
            drain(sr);
            return *got > 0 ? PYDBG_OK : PYDBG_EREAD;
        }
        while (have < (size_t)wrote) {
            n = read(sr->pipe_fds[0], buffer + *got + have, (size_t)wrote - have);
            if (n <= 0) {
                if (retry_intr(n) && ++tries < 16)
                    continue;
                drain(sr);
                return PYDBG_EIO;
            }
            have += (size_t)n;
        }
        *got += have;
        if ((size_t)wrote < want)
            return PYDBG_OK; /* the range ran into an unreadable page */
    }
    return PYDBG_OK;
}

/* One process_vm_readv; returns the bytes copied, 0 when the address is bad,
 * -1 when the call itself is unusable (switches the reader to the pipe). */
static ssize_t vm_copy(self_reader *sr, uint64_t address, void *buffer, size_t length)
{
    struct iovec local = {buffer, length};
    struct iovec remote = {(void *)(uintptr_t)address, length};
    ssize_t n;
    int tries = 0;
    sr->base.read_calls++;
    do
        n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    while (retry_intr(n) && ++tries < 16);
    if (n >= 0)
        return n;
    if (errno == ENOSYS || errno == EPERM || errno == EACCES) {
        sr->use_pipe = 1;
        return -1;
    }
    return 0;
}

static int self_read_partial(pydbg__reader *reader, uint64_t address, void *buffer,
                             size_t length, size_t *got)
{
    self_reader *sr = (self_reader *)reader;
    *got = 0;
    if (length == 0)
        return PYDBG_OK;
    if (length > SSIZE_MAX || address == 0 || length > UINT64_MAX - address)
        return PYDBG_EREAD;
    if (!sr->use_pipe) {
        ssize_t n = vm_copy(sr, address, buffer, length);
        if (n > 0) {
            *got = (size_t)n;
            return PYDBG_OK;
        }
        if (n == 0)
            return PYDBG_EREAD;
    }
    {
        int rc = pipe_copy(sr, address, buffer, length, got);
        if (rc == PYDBG_OK && *got == 0)
            rc = PYDBG_EREAD;
        return rc;
    }
}

static int self_read(pydbg__reader *reader, uint64_t address, void *buffer, size_t length)
{
    size_t got;
    int rc;
    if (length == 0)
        return PYDBG_OK;
    rc = self_read_partial(reader, address, buffer, length, &got);
    if (rc == PYDBG_OK && got != length)
        rc = PYDBG_EREAD;
    return rc;
}

static void self_destroy(pydbg__reader *reader)
{
    self_reader *sr = (self_reader *)reader;
    if (sr->pipe_pid == getpid())
        close_pipe(sr);
    free(sr);
}

static const pydbg__reader_ops self_ops = {
    .read = self_read,
    .read_many = pydbg__reader_read_many_loop,
    .read_partial = self_read_partial,
    .destroy = self_destroy,
};

int pydbg__reader_open_self(pydbg__reader **out, int force_pipe)
{
    self_reader *sr;
    if (!out)
        return PYDBG_EINVAL;
    *out = NULL;
    sr = calloc(1, sizeof *sr);
    if (!sr)
        return PYDBG_ENOMEM;
    sr->base.ops = &self_ops;
    sr->pipe_fds[0] = sr->pipe_fds[1] = -1;
    sr->use_pipe = force_pipe != 0;
    {
        long page = sysconf(_SC_PAGESIZE);
        /* A power of two of at least 4 KiB, as on every Linux target. */
        sr->page_size = page >= 4096 && (page & (page - 1)) == 0 ? (uint64_t)page : 4096;
    }
    if (!sr->use_pipe) {
        /* Probe now, in normal context, so the handler does not discover a
         * refused call on its first read. */
        uint64_t probe_source = 0x5eed, probe = 0;
        if (vm_copy(sr, (uint64_t)(uintptr_t)&probe_source, &probe, sizeof probe) !=
                (ssize_t)sizeof probe ||
            probe != probe_source)
            sr->use_pipe = 1;
    }
    if (sr->use_pipe && ensure_pipe(sr) != PYDBG_OK) {
        free(sr);
        return PYDBG_EIO;
    }
    sr->base.read_calls = 0;
    *out = &sr->base;
    return PYDBG_OK;
}

int pydbg__reader_self_uses_pipe(const pydbg__reader *reader)
{
    return ((const self_reader *)reader)->use_pipe;
}
