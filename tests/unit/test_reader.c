/* Memory readers: the buffer reader against its own regions, and the process
 * reader against a forked child whose memory holds known bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <errno.h>
#include <stdio.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem/reader.h"
#include "pydebug/errors.h"

/* ---- buffer reader -------------------------------------------------------------- */

static void test_buffer_read_inside_and_outside(void **state)
{
    (void)state;
    pydbg__reader *r;
    unsigned char image[64];
    unsigned char out[64];
    for (size_t i = 0; i < sizeof image; i++)
        image[i] = (unsigned char)(i * 7 + 1);
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x1000, image, sizeof image), PYDBG_OK);

    assert_int_equal(pydbg__read(r, 0x1000, out, 64), PYDBG_OK);
    assert_memory_equal(out, image, 64);
    assert_int_equal(pydbg__read(r, 0x1010, out, 16), PYDBG_OK);
    assert_memory_equal(out, image + 16, 16);
    /* One byte before, one byte after, straddling the end. */
    assert_int_equal(pydbg__read(r, 0xfff, out, 1), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, 0x1040, out, 1), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, 0x1039, out, 8), PYDBG_EREAD);
    /* An address near the top of the space must not wrap into the region. */
    assert_int_equal(pydbg__read(r, UINT64_MAX - 3, out, 8), PYDBG_EREAD);
    /* Length 0 succeeds anywhere. */
    assert_int_equal(pydbg__read(r, 0xdead0000, out, 0), PYDBG_OK);
    pydbg__reader_destroy(r);
}

static void test_buffer_copy_is_private(void **state)
{
    (void)state;
    pydbg__reader *r;
    unsigned char image[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    unsigned char out[8];
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x10, image, sizeof image), PYDBG_OK);
    memset(image, 0, sizeof image);
    assert_int_equal(pydbg__read(r, 0x10, out, 8), PYDBG_OK);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[7], 8);
    pydbg__reader_destroy(r);
}

static void test_buffer_read_ptr_little_endian(void **state)
{
    (void)state;
    pydbg__reader *r;
    const unsigned char bytes[8] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    uint64_t value = 0;
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x7f0000001000, bytes, 8), PYDBG_OK);
    assert_int_equal(pydbg__read_ptr(r, 0x7f0000001000, &value), PYDBG_OK);
    assert_true(value == UINT64_C(0x1122334455667788));
    assert_int_equal(pydbg__read_ptr(r, 0x7f0000001001, &value), PYDBG_EREAD);
    pydbg__reader_destroy(r);
}

static void test_buffer_regions_and_partial(void **state)
{
    (void)state;
    pydbg__reader *r;
    unsigned char a[16], b[16], c[16], out[64];
    size_t got = 99;
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    memset(c, 'c', sizeof c);
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x100, a, 16), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x110, b, 16), PYDBG_OK); /* adjacent */
    assert_int_equal(pydbg__reader_buffer_add(r, 0x200, c, 16), PYDBG_OK);

    /* A full read may not span two regions, even adjacent ones. */
    assert_int_equal(pydbg__read(r, 0x108, out, 16), PYDBG_EREAD);
    /* A partial read does continue into an adjacent region, then stops. */
    assert_int_equal(pydbg__read_partial(r, 0x108, out, 64, &got), PYDBG_OK);
    assert_int_equal(got, 24);
    assert_memory_equal(out, a, 8);
    assert_memory_equal(out + 8, b, 16);
    assert_int_equal(pydbg__read_partial(r, 0x204, out, 4, &got), PYDBG_OK);
    assert_int_equal(got, 4);
    assert_int_equal(pydbg__read_partial(r, 0x300, out, 4, &got), PYDBG_EREAD);
    assert_int_equal(got, 0);
    assert_int_equal(pydbg__read_partial(r, 0x300, out, 0, &got), PYDBG_OK);
    assert_int_equal(got, 0);

    /* A later region overrides an earlier one where they overlap. */
    {
        const unsigned char patch[2] = {'X', 'Y'};
        assert_int_equal(pydbg__reader_buffer_add(r, 0x104, patch, 2), PYDBG_OK);
        assert_int_equal(pydbg__read(r, 0x104, out, 2), PYDBG_OK);
        assert_memory_equal(out, "XY", 2);
        assert_int_equal(pydbg__read(r, 0x100, out, 8), PYDBG_OK);
        assert_memory_equal(out, "aaaaaaaa", 8);
    }
    pydbg__reader_destroy(r);
}

static void test_buffer_read_many(void **state)
{
    (void)state;
    pydbg__reader *r;
    unsigned char image[32];
    unsigned char x[4], y[8], z[4];
    for (size_t i = 0; i < sizeof image; i++)
        image[i] = (unsigned char)i;
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x5000, image, sizeof image), PYDBG_OK);
    {
        pydbg__read_piece pieces[3] = {
            {0x5000, x, 4}, {0x5010, y, 8}, {0x501c, z, 4}};
        uint64_t before = r->read_calls;
        assert_int_equal(pydbg__read_many(r, pieces, 3), PYDBG_OK);
        assert_int_equal(r->read_calls - before, 1);
        assert_memory_equal(x, image, 4);
        assert_memory_equal(y, image + 16, 8);
        assert_memory_equal(z, image + 28, 4);
    }
    {
        pydbg__read_piece pieces[2] = {{0x5000, x, 4}, {0x501e, z, 4}};
        assert_int_equal(pydbg__read_many(r, pieces, 2), PYDBG_EREAD);
        assert_int_equal(pydbg__reader_read_many_loop(r, pieces, 2), PYDBG_EREAD);
        pieces[1].address = 0x5004;
        assert_int_equal(pydbg__reader_read_many_loop(r, pieces, 2), PYDBG_OK);
        assert_memory_equal(z, image + 4, 4);
    }
    pydbg__reader_destroy(r);
}

static void test_buffer_bad_arguments(void **state)
{
    (void)state;
    pydbg__reader *r;
    unsigned char byte = 0;
    assert_int_equal(pydbg__reader_open_buffer(NULL), PYDBG_EINVAL);
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, UINT64_MAX, &byte, 2), PYDBG_EINVAL);
    assert_int_equal(pydbg__reader_buffer_add(r, 0x10, NULL, 2), PYDBG_EINVAL);
    assert_int_equal(pydbg__reader_buffer_add(r, UINT64_MAX, &byte, 1), PYDBG_OK);
    assert_int_equal(pydbg__read(r, UINT64_MAX, &byte, 1), PYDBG_OK);
    pydbg__reader_destroy(r);
    pydbg__reader_destroy(NULL);
}

/* ---- process reader ------------------------------------------------------------- */

#define PAGE 4096

/* A child that maps three pages, unmaps the third (so the second page is
 * followed by a hole), fills the first two with a pattern derived from its own
 * pid (so the bytes cannot come from the parent's copy of the address space),
 * reports the address and waits until told to exit. */
typedef struct child {
    pid_t pid;
    uint64_t address; /* two readable pages, then an unmapped one */
    int to_child;     /* closing it makes the child exit */
} child;

static unsigned char pattern_byte(pid_t pid, size_t i)
{
    return (unsigned char)((size_t)pid * 31u + i * 13u + (i >> 8));
}

static void start_child(child *c)
{
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        unsigned char *mem = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        uint64_t address;
        char byte;
        close(up[0]);
        close(down[1]);
        if (mem == MAP_FAILED || munmap(mem + 2 * PAGE, PAGE) != 0)
            _exit(2);
        for (size_t i = 0; i < 2 * PAGE; i++)
            mem[i] = pattern_byte(getpid(), i);
        address = (uint64_t)(uintptr_t)mem;
        if (write(up[1], &address, sizeof address) != (ssize_t)sizeof address)
            _exit(3);
        while (read(down[0], &byte, 1) > 0) {
        }
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    assert_int_equal(read(up[0], &c->address, sizeof c->address), (ssize_t)sizeof c->address);
    close(up[0]);
    c->to_child = down[1];
}

static void stop_child(child *c)
{
    int status = 0;
    close(c->to_child);
    assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void check_pattern(const child *c, const unsigned char *bytes, size_t offset, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (bytes[i] != pattern_byte(c->pid, offset + i))
            fail_msg("byte %zu differs", offset + i);
}

static void read_child_with(int force_proc_mem)
{
    child c;
    pydbg__reader *r;
    static unsigned char out[2 * PAGE];
    uint64_t calls;
    start_child(&c);
    assert_int_equal(pydbg__reader_open_process(&r, c.pid, force_proc_mem), PYDBG_OK);

    calls = r->read_calls;
    assert_int_equal(pydbg__read(r, c.address, out, 2 * PAGE), PYDBG_OK);
    check_pattern(&c, out, 0, 2 * PAGE);
    assert_int_equal(r->read_calls - calls, 1);

    /* Length 0 succeeds without a system call. */
    calls = r->read_calls;
    assert_int_equal(pydbg__read(r, 0, out, 0), PYDBG_OK);
    assert_int_equal(r->read_calls, calls);

    {
        uint64_t value, expect = 0;
        assert_int_equal(pydbg__read_ptr(r, c.address + 100, &value), PYDBG_OK);
        for (int i = 7; i >= 0; i--)
            expect = (expect << 8) | pattern_byte(c.pid, 100 + (size_t)i);
        assert_true(value == expect);
    }

    /* Unmapped: the hole, a range running into it, address 0, a kernel address. */
    assert_int_equal(pydbg__read(r, c.address + 2 * PAGE, out, 8), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, c.address + 2 * PAGE - 4, out, 8), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, 0, out, 8), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, UINT64_C(0xffffffffff600000) + 0x1000, out, 8), PYDBG_EREAD);

    /* A partial read gives the readable prefix. */
    {
        size_t got = 0;
        assert_int_equal(pydbg__read_partial(r, c.address + 2 * PAGE - 10, out, 100, &got),
                         PYDBG_OK);
        assert_int_equal(got, 10);
        check_pattern(&c, out, 2 * PAGE - 10, 10);
        assert_int_equal(pydbg__read_partial(r, c.address + 2 * PAGE, out, 100, &got),
                         PYDBG_EREAD);
        assert_int_equal(got, 0);
    }

    /* Several pieces: one system call through process_vm_readv, one per piece
     * through /proc/PID/mem. */
    {
        unsigned char a[16], b[100], d[1];
        pydbg__read_piece pieces[4] = {{c.address + 5, a, sizeof a},
                                       {c.address + PAGE - 50, b, sizeof b},
                                       {c.address + 12345, NULL, 0},
                                       {c.address + 2 * PAGE - 1, d, 1}};
        calls = r->read_calls;
        assert_int_equal(pydbg__read_many(r, pieces, 4), PYDBG_OK);
        assert_int_equal(r->read_calls - calls, force_proc_mem ? 3 : 1);
        check_pattern(&c, a, 5, sizeof a);
        check_pattern(&c, b, PAGE - 50, sizeof b);
        check_pattern(&c, d, 2 * PAGE - 1, 1);
        /* The unreadable piece in the middle fails the whole call. */
        pieces[1].address = c.address + 2 * PAGE + 8;
        assert_int_equal(pydbg__read_many(r, pieces, 4), PYDBG_EREAD);
        pieces[1].address = c.address + 2 * PAGE - 50; /* straddles the hole */
        assert_int_equal(pydbg__read_many(r, pieces, 4), PYDBG_EREAD);
    }

    /* More pieces than the kernel's iovec limit (1024) per call. */
    {
        enum { N = 2500 };
        static pydbg__read_piece pieces[N];
        static unsigned char bytes[N][3];
        for (size_t i = 0; i < N; i++) {
            pieces[i].address = c.address + (i * 3) % (2 * PAGE - 3);
            pieces[i].buffer = bytes[i];
            pieces[i].length = 3;
        }
        calls = r->read_calls;
        assert_int_equal(pydbg__read_many(r, pieces, N), PYDBG_OK);
        assert_int_equal(r->read_calls - calls, force_proc_mem ? N : 3);
        for (size_t i = 0; i < N; i++)
            check_pattern(&c, bytes[i], (i * 3) % (2 * PAGE - 3), 3);
        /* The last piece is the bad one: the first two calls succeed. */
        pieces[N - 1].address = c.address + 2 * PAGE;
        assert_int_equal(pydbg__read_many(r, pieces, N), PYDBG_EREAD);
    }

    /* Exited and reaped: the reader says so rather than "bad address". */
    stop_child(&c);
    assert_int_equal(pydbg__read(r, c.address, out, 8), PYDBG_EEXITED);
    {
        size_t got = 1;
        assert_int_equal(pydbg__read_partial(r, c.address, out, 8, &got), PYDBG_EEXITED);
        assert_int_equal(got, 0);
        pydbg__read_piece piece = {c.address, out, 8};
        assert_int_equal(pydbg__read_many(r, &piece, 1), PYDBG_EEXITED);
    }
    pydbg__reader_destroy(r);
}

static void test_process_vm_readv(void **state)
{
    (void)state;
    read_child_with(0);
}

static void test_process_proc_mem(void **state)
{
    (void)state;
    read_child_with(1);
}

static void test_process_zombie_is_exited(void **state)
{
    (void)state;
    for (int force = 0; force <= 1; force++) {
        child c;
        pydbg__reader *r;
        unsigned char out[8];
        siginfo_t info;
        start_child(&c);
        assert_int_equal(pydbg__reader_open_process(&r, c.pid, force), PYDBG_OK);
        assert_int_equal(pydbg__read(r, c.address, out, 8), PYDBG_OK);
        close(c.to_child);
        /* Wait for the exit without reaping: the child stays a zombie. */
        assert_int_equal(waitid(P_PID, (id_t)c.pid, &info, WEXITED | WNOWAIT), 0);
        assert_int_equal(pydbg__read(r, c.address, out, 8), PYDBG_EEXITED);
        assert_int_equal(waitpid(c.pid, NULL, 0), c.pid);
        pydbg__reader_destroy(r);
    }
}

static void test_process_open_errors(void **state)
{
    (void)state;
    pydbg__reader *r = (pydbg__reader *)&r;
    child c;
    assert_int_equal(pydbg__reader_open_process(&r, 0, 0), PYDBG_EINVAL);
    assert_null(r);
    assert_int_equal(pydbg__reader_open_process(&r, -5, 0), PYDBG_EINVAL);
    /* A pid that existed and was reaped. */
    start_child(&c);
    stop_child(&c);
    assert_int_equal(pydbg__reader_open_process(&r, c.pid, 0), PYDBG_ENOPROC);
    assert_int_equal(pydbg__reader_open_process(&r, c.pid, 1), PYDBG_ENOPROC);
}

/* A kernel thread is alive but has no user memory: a read fails with
 * PYDBG_EREAD, not PYDBG_EEXITED. */
static void test_process_kernel_thread(void **state)
{
    (void)state;
    char comm[32] = {0};
    FILE *f = fopen("/proc/2/comm", "r");
    unsigned char out[8];
    if (!f || !fgets(comm, sizeof comm, f) || strcmp(comm, "kthreadd\n") != 0) {
        if (f)
            fclose(f);
        print_message("pid 2 is not kthreadd here: skipping\n");
        skip();
    }
    fclose(f);
    for (int force = 0; force <= 1; force++) {
        pydbg__reader *r;
        int rc = pydbg__reader_open_process(&r, 2, force);
        if (rc == PYDBG_EPERM)
            continue; /* not root */
        if (force) {
            /* There is no /proc/2/mem to open. */
            assert_int_equal(rc, PYDBG_EREAD);
            continue;
        }
        assert_int_equal(rc, PYDBG_OK);
        assert_int_equal(pydbg__read(r, 0x400000, out, sizeof out), PYDBG_EREAD);
        pydbg__reader_destroy(r);
    }
}

static void test_process_reads_self(void **state)
{
    (void)state;
    /* Our own process through the same interface: the bytes of a local array. */
    static const char text[] = "libpydebug reads itself";
    char out[sizeof text];
    pydbg__reader *r;
    assert_int_equal(pydbg__reader_open_process(&r, getpid(), 0), PYDBG_OK);
    assert_int_equal(pydbg__read(r, (uint64_t)(uintptr_t)text, out, sizeof text), PYDBG_OK);
    assert_string_equal(out, text);
    pydbg__reader_destroy(r);
}

/* Makes process_vm_readv fail with `error` in the calling process, as a
 * container's seccomp profile does. */
static int deny_process_vm_readv(int error)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_readv, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)error & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0);
}

/* Runs in a forked helper: returns 0 when the reader fell back to
 * /proc/PID/mem and read the right bytes, else a code naming the step. */
static int fallback_helper(int error)
{
    child c;
    pydbg__reader *r;
    unsigned char out[64];
    uint64_t calls;
    int result = 0;
    struct iovec local = {out, 8}, remote;
    start_child(&c);
    if (deny_process_vm_readv(error) != 0)
        return 10;
    /* The filter is in force: the raw call fails as configured. */
    remote.iov_base = (void *)(uintptr_t)c.address;
    remote.iov_len = 8;
    if (process_vm_readv(c.pid, &local, 1, &remote, 1, 0) != -1 || errno != error)
        return 11;
    if (pydbg__reader_open_process(&r, c.pid, 0) != PYDBG_OK)
        return 12;
    /* First read: one refused process_vm_readv, then one pread. */
    if (pydbg__read(r, c.address + 7, out, sizeof out) != PYDBG_OK)
        result = 13;
    else if (r->read_calls != 2)
        result = 14;
    for (size_t i = 0; result == 0 && i < sizeof out; i++)
        if (out[i] != pattern_byte(c.pid, 7 + i))
            result = 15;
    /* Later reads go straight to the file. */
    calls = r->read_calls;
    if (result == 0 && (pydbg__read(r, c.address, out, 8) != PYDBG_OK || r->read_calls != calls + 1))
        result = 16;
    if (result == 0 && pydbg__read(r, c.address + 2 * PAGE, out, 8) != PYDBG_EREAD)
        result = 17;
    pydbg__reader_destroy(r);
    close(c.to_child);
    waitpid(c.pid, NULL, 0);
    return result;
}

static void run_fallback(int error)
{
    int status = 0;
    pid_t helper = fork();
    assert_true(helper >= 0);
    if (helper == 0)
        _exit(fallback_helper(error));
    assert_int_equal(waitpid(helper, &status, 0), helper);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_process_fallback_on_eperm(void **state)
{
    (void)state;
    run_fallback(EPERM);
}

static void test_process_fallback_on_enosys(void **state)
{
    (void)state;
    run_fallback(ENOSYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffer_read_inside_and_outside),
        cmocka_unit_test(test_buffer_copy_is_private),
        cmocka_unit_test(test_buffer_read_ptr_little_endian),
        cmocka_unit_test(test_buffer_regions_and_partial),
        cmocka_unit_test(test_buffer_read_many),
        cmocka_unit_test(test_buffer_bad_arguments),
        cmocka_unit_test(test_process_vm_readv),
        cmocka_unit_test(test_process_proc_mem),
        cmocka_unit_test(test_process_zombie_is_exited),
        cmocka_unit_test(test_process_open_errors),
        cmocka_unit_test(test_process_kernel_thread),
        cmocka_unit_test(test_process_reads_self),
        cmocka_unit_test(test_process_fallback_on_eperm),
        cmocka_unit_test(test_process_fallback_on_enosys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
