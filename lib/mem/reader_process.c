/* Reading a live process: process_vm_readv, or pread on /proc/PID/mem.
 *
 * process_vm_readv is one system call for any number of pieces and needs no
 * file descriptor, so it is preferred. /proc/PID/mem serves when the call is
 * missing (ENOSYS) or refused while the file is readable: container seccomp
 * profiles commonly deny process_vm_readv with EPERM but allow the file. Once
 * the reader has switched to the file it stays there. Nothing is allocated per
 * read, so the walker can read thousands of small objects cheaply. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mem/reader.h"
#include "pydebug/errors.h"
#include "util/error.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Pieces per process_vm_readv call: the kernel refuses more than IOV_MAX
 * (UIO_MAXIOV, 1024) iovecs with EINVAL. */
#define PIECES_PER_CALL (IOV_MAX < 1024 ? IOV_MAX : 1024)

/* Bounds the EINTR retries of pread; a read of /proc/PID/mem is not normally
 * interrupted, so hitting this means something is badly wrong. */
#define MAX_INTR_RETRIES 64

typedef struct process_reader {
    pydbg__reader base;
    int pid;
    int mem_fd;       /* /proc/PID/mem, or -1 until needed */
    int use_proc_mem; /* process_vm_readv is unusable or not wanted */
} process_reader;

/* True when process `pid` no longer has memory to read: gone from /proc, or a
 * zombie (exited but not yet reaped). */
static int process_gone(int pid)
{
    char path[64];
    char text[512];
    FILE *f;
    size_t n;
    const char *paren;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "re");
    if (!f)
        return errno == ENOENT || errno == ESRCH;
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    if (n == 0)
        return 1;
    text[n] = '\0';
    /* The command name may itself contain ") ", so the state follows the last one. */
    paren = NULL;
    for (const char *p = text; (p = strchr(p, ')')) != NULL; p++)
        paren = p;
    if (!paren || paren[1] != ' ')
        return 0;
    return paren[2] == 'Z' || paren[2] == 'X';
}

static int open_proc_mem(process_reader *pr)
{
    char path[64];
    int fd;
    if (pr->mem_fd >= 0)
        return PYDBG_OK;
    snprintf(path, sizeof path, "/proc/%d/mem", pr->pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || (e == ESRCH && process_gone(pr->pid)))
            return pydbg__fail(NULL, PYDBG_ENOPROC, "process %d does not exist", pr->pid);
        if (e == ESRCH)
            return pydbg__fail(NULL, PYDBG_EREAD,
                               "process %d has no user memory (a kernel thread?)", pr->pid);
        if (e == EACCES || e == EPERM)
            return pydbg__fail(NULL, PYDBG_EPERM,
                               "cannot read the memory of process %d: permission denied "
                               "(run as the same user or root, and check "
                               "/proc/sys/kernel/yama/ptrace_scope)",
                               pr->pid);
        return pydbg__fail(NULL, PYDBG_EIO, "cannot open %s: errno %d", path, e);
    }
    pr->mem_fd = fd;
    return PYDBG_OK;
}

static int exited(const process_reader *pr)
{
    return pydbg__fail(NULL, PYDBG_EEXITED, "process %d exited", pr->pid);
}

/* Maps a failed process_vm_readv. Returns 1 when the caller should retry
 * through /proc/PID/mem (now open), else stores the error in *rc. */
static int vm_readv_failed(process_reader *pr, int e, int *rc)
{
    switch (e) {
    case EFAULT:
        /* The kernel found the process and its memory, so the address is bad. */
        *rc = PYDBG_EREAD;
        return 0;
    case ESRCH:
        /* No such process, or one without memory: exited (a zombie), or a
         * kernel thread, which is alive but has nothing to read. */
        *rc = process_gone(pr->pid) ? exited(pr) : PYDBG_EREAD;
        return 0;
    case ENOMEM:
        *rc = PYDBG_ENOMEM;
        return 0;
    case ENOSYS:
    case EPERM:
    case EACCES:
        *rc = open_proc_mem(pr);
        if (*rc == PYDBG_OK) {
            pr->use_proc_mem = 1;
            return 1;
        }
        if (*rc == PYDBG_ENOPROC)
            *rc = exited(pr);
        return 0;
    default:
        *rc = PYDBG_EREAD;
        return 0;
    }
}

/* pread of /proc/PID/mem; stores the bytes read in *got. The kernel copies
 * page by page: a range running into an unmapped page gives the readable
 * prefix, an unmapped start gives EIO, and a process whose memory is gone
 * gives 0 bytes. */
static int mem_pread(process_reader *pr, uint64_t address, void *buffer, size_t length,
                     size_t *got)
{
    ssize_t n;
    int tries = 0;
    *got = 0;
    /* pread takes a signed offset; user space addresses never come near 2^63. */
    if (address > (uint64_t)INT64_MAX || length > (uint64_t)INT64_MAX - address ||
        length > SSIZE_MAX)
        return PYDBG_EREAD;
    do {
        pr->base.read_calls++;
        n = pread(pr->mem_fd, buffer, length, (off_t)address);
    } while (n < 0 && errno == EINTR && ++tries < MAX_INTR_RETRIES);
    if (n < 0) {
        int e = errno;
        if (e == EIO || e == EFAULT || e == EINVAL)
            return process_gone(pr->pid) ? exited(pr) : PYDBG_EREAD;
        if (e == ESRCH)
            return exited(pr);
        if (e == EPERM || e == EACCES)
            return pydbg__fail(NULL, PYDBG_EPERM,
                               "reading the memory of process %d: permission denied", pr->pid);
        return PYDBG_EREAD;
    }
    *got = (size_t)n;
    if (n == 0 && length > 0)
        return process_gone(pr->pid) ? exited(pr) : PYDBG_EREAD;
    return PYDBG_OK;
}

static int process_read(pydbg__reader *reader, uint64_t address, void *buffer, size_t length)
{
    process_reader *pr = (process_reader *)reader;
    size_t got;
    int rc;
    if (length == 0)
        return PYDBG_OK;
    if (length > SSIZE_MAX)
        return PYDBG_EREAD;
    if (!pr->use_proc_mem) {
        struct iovec local = {buffer, length};
        struct iovec remote = {(void *)(uintptr_t)address, length};
        ssize_t n;
        reader->read_calls++;
        n = process_vm_readv(pr->pid, &local, 1, &remote, 1, 0);
        if (n == (ssize_t)length)
            return PYDBG_OK;
        if (n >= 0)
            return PYDBG_EREAD; /* stopped at an unmapped page */
        if (!vm_readv_failed(pr, errno, &rc))
            return rc;
    }
    rc = mem_pread(pr, address, buffer, length, &got);
    if (rc == PYDBG_OK && got != length)
        rc = PYDBG_EREAD;
    return rc;
}

static int process_read_partial(pydbg__reader *reader, uint64_t address, void *buffer,
                                size_t length, size_t *got)
{
    process_reader *pr = (process_reader *)reader;
    int rc;
    *got = 0;
    if (length == 0)
        return PYDBG_OK;
    if (length > SSIZE_MAX)
        length = SSIZE_MAX;
    if (!pr->use_proc_mem) {
        struct iovec local = {buffer, length};
        struct iovec remote = {(void *)(uintptr_t)address, length};
        ssize_t n;
        reader->read_calls++;
        n = process_vm_readv(pr->pid, &local, 1, &remote, 1, 0);
        if (n > 0) {
            *got = (size_t)n;
            return PYDBG_OK;
        }
        if (n == 0)
            return PYDBG_EREAD;
        if (!vm_readv_failed(pr, errno, &rc))
            return rc;
    }
    /* The kernel copies page by page and returns the readable prefix. */
    rc = mem_pread(pr, address, buffer, length, got);
    if (rc == PYDBG_OK || *got > 0)
        return PYDBG_OK;
    return rc;
}

static int process_read_many(pydbg__reader *reader, pydbg__read_piece *pieces, size_t count)
{
    process_reader *pr = (process_reader *)reader;
    struct iovec local[PIECES_PER_CALL];
    struct iovec remote[PIECES_PER_CALL];
    size_t done = 0;
    int rc;
    while (done < count && !pr->use_proc_mem) {
        size_t batch = 0, locals = 0;
        size_t total = 0;
        ssize_t n;
        /* Empty pieces are skipped; the kernel's total must fit in ssize_t. Pieces
         * that land right after one another here take one local iovec: the kernel
         * fills the local side in order whatever its cut, and each local iovec
         * costs it (measured here: 2 -> 1 for a 14 KiB read, 1500 -> 1410 cycles). */
        while (done < count && batch < PIECES_PER_CALL) {
            pydbg__read_piece *p = &pieces[done];
            if (p->length > (size_t)SSIZE_MAX - total)
                break;
            if (p->length) {
                if (locals && (unsigned char *)local[locals - 1].iov_base +
                                      local[locals - 1].iov_len ==
                                  (unsigned char *)p->buffer) {
                    local[locals - 1].iov_len += p->length;
                } else {
                    local[locals].iov_base = p->buffer;
                    local[locals].iov_len = p->length;
                    locals++;
                }
                remote[batch].iov_base = (void *)(uintptr_t)p->address;
                remote[batch].iov_len = p->length;
                total += p->length;
                batch++;
            }
            done++;
        }
        if (batch == 0) {
            if (done < count && pieces[done].length > (size_t)SSIZE_MAX)
                return PYDBG_EREAD;
            continue;
        }
        reader->read_calls++;
        n = process_vm_readv(pr->pid, local, (unsigned long)locals, remote,
                             (unsigned long)batch, 0);
        if (n == (ssize_t)total)
            continue;
        /* A partial transfer stops at the first remote iovec that failed, so
         * some piece of this batch was not read. */
        if (n >= 0)
            return PYDBG_EREAD;
        if (!vm_readv_failed(pr, errno, &rc))
            return rc;
        /* Switched to /proc/PID/mem: redo this batch there. */
        while (batch > 0 && done > 0) {
            done--;
            if (pieces[done].length)
                batch--;
        }
    }
    for (; done < count; done++) {
        rc = process_read(reader, pieces[done].address, pieces[done].buffer,
                          pieces[done].length);
        if (rc != PYDBG_OK)
            return rc;
    }
    return PYDBG_OK;
}

static void process_destroy(pydbg__reader *reader)
{
    process_reader *pr = (process_reader *)reader;
    if (pr->mem_fd >= 0)
        close(pr->mem_fd);
    free(pr);
}

static const pydbg__reader_ops process_ops = {
    .read = process_read,
    .read_many = process_read_many,
    .read_partial = process_read_partial,
    .destroy = process_destroy,
};

int pydbg__reader_open_process(pydbg__reader **out, int pid, int force_proc_mem)
{
    process_reader *pr;
    char path[64];
    struct stat st;
    if (!out)
        return PYDBG_EINVAL;
    *out = NULL;
    if (pid <= 0)
        return pydbg__fail(NULL, PYDBG_EINVAL, "invalid process id %d", pid);
    snprintf(path, sizeof path, "/proc/%d", pid);
    if (stat(path, &st) != 0)
        return pydbg__fail(NULL, PYDBG_ENOPROC, "process %d does not exist", pid);
    pr = calloc(1, sizeof *pr);
    if (!pr)
        return PYDBG_ENOMEM;
    pr->base.ops = &process_ops;
    pr->pid = pid;
    pr->mem_fd = -1;
    if (force_proc_mem) {
        int rc = open_proc_mem(pr);
        if (rc != PYDBG_OK) {
            free(pr);
            return rc;
        }
        pr->use_proc_mem = 1;
    }
    *out = &pr->base;
    return PYDBG_OK;
}
