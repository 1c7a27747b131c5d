/* The CFI unwinder (lib/faultdump/fd_unwind.c).
 *
 * Ground truth: libgcc's unwinder, through glibc's backtrace(), walking the
 * same stack from the same point: a chain of functions built without frame
 * pointers that passes through libc (qsort calling our comparator). Then
 * corrupt unwind data: random .eh_frame_hdr, random FDEs behind a valid
 * table, random CFA programs behind a valid CIE and FDE — every step must
 * end with a result code, within the instruction bound, without a fault
 * (this test also runs under ASan/UBSan). */
#include <execinfo.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <cmocka.h>

#include "faultdump/fd_unwind.h"
#include "mem/reader.h"
#include "pydebug/errors.h"

#define MAX_FRAMES 32

/* ---- a real stack ------------------------------------------------------------ */

typedef struct object_range {
    uint64_t start, end, hdr;
} object_range;

static object_range g_objects[64];
static size_t g_nobjects;

/* The test finds the objects with dl_iterate_phdr (normal context), so the
 * unwinder is checked apart from the handler's /proc/self/maps lookup. */
static int add_object(struct dl_phdr_info *info, size_t size, void *unused)
{
    uint64_t hdr = 0;
    (void)size;
    (void)unused;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
            hdr = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
    for (int i = 0; i < info->dlpi_phnum && g_nobjects < 64; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            g_objects[g_nobjects].start = info->dlpi_addr + ph->p_vaddr;
            g_objects[g_nobjects].end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
            g_objects[g_nobjects].hdr = hdr;
            g_nobjects++;
        }
    }
    return 0;
}

static uint64_t hdr_for(uint64_t pc)
{
    for (size_t i = 0; i < g_nobjects; i++)
        if (pc >= g_objects[i].start && pc < g_objects[i].end)
            return g_objects[i].hdr;
    return 0;
}

static void *g_truth[MAX_FRAMES];
static int g_ntruth;
static uint64_t g_ours[MAX_FRAMES];
static int g_nours;
static int g_last_rc;
static volatile int g_sink;

static void regs_from(const ucontext_t *uc, pydbg__fd_regs *regs)
{
    static const int greg[PYDBG__FD_NREGS] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI,
                                              REG_RDI, REG_RBP, REG_RSP, REG_R8,  REG_R9,
                                              REG_R10, REG_R11, REG_R12, REG_R13, REG_R14,
                                              REG_R15, REG_RIP};
    for (int i = 0; i < PYDBG__FD_NREGS; i++)
        regs->r[i] = (uint64_t)uc->uc_mcontext.gregs[greg[i]];
    regs->valid = (1u << PYDBG__FD_NREGS) - 1;
}

static void walk(const ucontext_t *uc)
{
    static pydbg__fd_cfi_work work;
    pydbg__reader *r = NULL;
    pydbg__fd_regs regs;
    int exact = 1;
    assert_int_equal(pydbg__reader_open_self(&r, 0), PYDBG_OK);
    regs_from(uc, &regs);
    g_nours = 0;
    g_ours[g_nours++] = regs.r[PYDBG__FD_REG_RIP];
    while (g_nours < MAX_FRAMES) {
        pydbg__fd_cfi_object object = {hdr_for(regs.r[PYDBG__FD_REG_RIP] - (exact ? 0 : 1))};
        int signal_frame = 0;
        uint64_t old_sp = regs.r[PYDBG__FD_REG_RSP];
        g_last_rc = pydbg__fd_cfi_step(r, &object, &work, &regs, exact, &signal_frame);
        if (g_last_rc != PYDBG_OK)
            break;
        assert_true(regs.r[PYDBG__FD_REG_RSP] > old_sp);
        g_ours[g_nours++] = regs.r[PYDBG__FD_REG_RIP];
        exact = signal_frame;
    }
    pydbg__reader_destroy(r);
}

__attribute__((noinline)) static void capture(void)
{
    static ucontext_t uc;
    /* Both walks start in this function: getcontext's pc is the return
     * address of its call, backtrace()'s first entry that of its own. */
    getcontext(&uc);
    g_ntruth = backtrace(g_truth, MAX_FRAMES);
    walk(&uc);
}

#define CHAIN __attribute__((noinline))

CHAIN static int compare(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    if (g_ntruth == 0)
        capture();
    return (x > y) - (x < y) + g_sink;
}

CHAIN static int level3(int n)
{
    int values[6];
    for (int i = 0; i < 6; i++)
        values[i] = (6 - i) * n;
    qsort(values, 6, sizeof values[0], compare);
    return values[0] + g_sink;
}

CHAIN static int level2(int n)
{
    int r = level3(n + 1);
    return r * 3 + g_sink;
}

CHAIN static int level1(int n)
{
    int r = level2(n + 1);
    return r * 7 + g_sink;
}

static void matches_backtrace(void **state)
{
    (void)state;
    g_nobjects = 0;
    dl_iterate_phdr(add_object, NULL);
    g_ntruth = 0;
    g_sink = level1(1) == 0 ? 1 : 0;
    assert_true(g_ntruth > 6);
    /* Frame 0 differs (getcontext vs backtrace call sites); from frame 1 on,
     * both walks must give the same return addresses, through qsort's frames
     * in libc, up to the outermost frame libgcc finds. */
    for (int i = 1; i < g_ntruth; i++) {
        if (i >= g_nours)
            fail_msg("ours stops at %d of %d frames (last result %d)", g_nours, g_ntruth,
                     g_last_rc);
        if ((uint64_t)(uintptr_t)g_truth[i] != g_ours[i])
            fail_msg("frame %d: ours %#llx, backtrace %p", i, (unsigned long long)g_ours[i],
                     g_truth[i]);
    }
    /* _start marks the outermost frame: its return address is undefined. */
    assert_int_equal(g_last_rc, PYDBG__FD_CFI_END);
    assert_int_equal(g_nours, g_ntruth);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_backtrace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
