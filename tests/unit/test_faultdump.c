/* The pieces of the crash handler that can be checked without a crash: the
 * non-faulting reader of the own process (both back ends) on readable,
 * unmapped and partly mapped memory, the signal-safe number formatting, and
 * naming a native address with the ELF symbol tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "faultdump/fd_internal.h"
#include "mem/reader.h"
#include "pydebug/errors.h"

static void check_reader(int force_pipe)
{
    pydbg__reader *r = NULL;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *two, copy[64], big[10000], back[10000];
    size_t got = 0;
    assert_int_equal(pydbg__reader_open_self(&r, force_pipe), PYDBG_OK);
    assert_int_equal(pydbg__reader_self_uses_pipe(r), force_pipe);
    /* Readable memory comes back byte for byte, also across pipe chunks. */
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    assert_int_equal(pydbg__read(r, (uint64_t)(uintptr_t)big, back, sizeof big), PYDBG_OK);
    assert_memory_equal(big, back, sizeof big);
    /* NULL and an unmapped page fail cleanly instead of faulting. */
    assert_int_equal(pydbg__read(r, 0, copy, 8), PYDBG_EREAD);
    two = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(two != MAP_FAILED);
    memset(two, 0xAB, (size_t)page * 2);
    assert_int_equal(munmap(two + page, (size_t)page), 0);
    assert_int_equal(pydbg__read(r, (uint64_t)(uintptr_t)(two + page), copy, 8), PYDBG_EREAD);
    /* A range running into the unmapped page: whole reads fail, partial
     * reads give the readable prefix. */
    assert_int_equal(pydbg__read(r, (uint64_t)(uintptr_t)(two + page - 16), copy, 32),
                     PYDBG_EREAD);
    assert_int_equal(pydbg__read_partial(r, (uint64_t)(uintptr_t)(two + page - 16), copy, 32,
                                         &got),
                     PYDBG_OK);
    assert_int_equal(got, 16);
    assert_int_equal(copy[0], 0xAB);
    /* A PROT_NONE page too. */
    assert_int_equal(mprotect(two, (size_t)page, PROT_NONE), 0);
    assert_int_equal(pydbg__read(r, (uint64_t)(uintptr_t)two, copy, 8), PYDBG_EREAD);
    /* The pipe is left clean after failures: a good read still works. */
    assert_int_equal(pydbg__read(r, (uint64_t)(uintptr_t)big, back, 100), PYDBG_OK);
    assert_memory_equal(big, back, 100);
    munmap(two, (size_t)page);
    pydbg__reader_destroy(r);
}

static void reader_vm_readv(void **state)
{
    (void)state;
    check_reader(0);
}

static void reader_pipe(void **state)
{
    (void)state;
    check_reader(1);
}

static const char *render(pydbg__fd_ctx *ctx, int pipe_fds[2])
{
    static char text[256];
    ssize_t n;
    pydbg__fd_flush(ctx);
    n = read(pipe_fds[0], text, sizeof text - 1);
    text[n > 0 ? n : 0] = '\0';
    return text;
}

static void formatting(void **state)
{
    pydbg__fd_ctx *ctx;
    int fds[2];
    (void)state;
    assert_int_equal(pydbg__fd_ctx_new(&ctx), PYDBG_OK);
    assert_int_equal(pipe(fds), 0);
    pydbg__fd_begin(ctx, fds[1]);
    /* As faulthandler's _Py_DumpHexadecimal(fd, value, width) and _Py_DumpDecimal. */
    pydbg__fd_hex(ctx, 0x7f3c8a1b7740ull, 16);
    assert_string_equal(render(ctx, fds), "00007f3c8a1b7740");
    pydbg__fd_hex(ctx, 0xe9, 2);
    pydbg__fd_hex(ctx, 0x3b4, 4);
    pydbg__fd_hex(ctx, 0x1f600, 8);
    pydbg__fd_hex(ctx, 0, 1);
    pydbg__fd_hex(ctx, UINT64_MAX, 1);
    assert_string_equal(render(ctx, fds), "e903b40001f6000ffffffffffffffff");
    pydbg__fd_decimal(ctx, 0);
    pydbg__fd_puts(ctx, " ");
    pydbg__fd_decimal(ctx, 18446744073709551615ull);
    assert_string_equal(render(ctx, fds), "0 18446744073709551615");
    close(fds[0]);
    close(fds[1]);
    pydbg__fd_ctx_free(ctx);
}

/* Named so that the symboliser has something to find in this test's own .symtab. */
__attribute__((noinline)) int pydbg_test_symbolize_target(int x);
__attribute__((noinline)) int pydbg_test_symbolize_target(int x)
{
    return x * 3 + 1;
}

static void symbolize(void **state)
{
    pydbg__fd_ctx *ctx;
    pydbg__fd_native_frame frames[2];
    (void)state;
    assert_int_equal(pydbg__fd_ctx_new(&ctx), PYDBG_OK);
    memset(frames, 0, sizeof frames);
    frames[0].address = (uint64_t)(uintptr_t)&pydbg_test_symbolize_target + 2;
    frames[1].address = (uint64_t)(uintptr_t)&getpid;
    pydbg__fd_symbolize(ctx, frames, 2);
    assert_true(frames[0].found && frames[0].executable && frames[0].has_symbol);
    assert_string_equal(frames[0].symbol, "pydbg_test_symbolize_target");
    assert_int_equal(frames[0].symbol_offset, 2);
    assert_non_null(strstr(frames[0].path, "test_faultdump"));
    /* A libc function, through .dynsym: frame 1 is looked up one byte back
     * (a return address), so only the file is certain. */
    assert_true(frames[1].found && frames[1].executable);
    assert_non_null(strstr(frames[1].path, "libc"));
    pydbg__fd_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_vm_readv),
        cmocka_unit_test(reader_pipe),
        cmocka_unit_test(formatting),
        cmocka_unit_test(symbolize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
