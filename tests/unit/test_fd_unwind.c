/* The CFI unwinder (lib/faultdump/fd_unwind.c).
 *
 * Ground truth: libgcc's unwinder (_Unwind_Backtrace) walking the
 * same stack from the same point: a chain of functions built without frame
 * pointers that passes through libc (qsort calling our comparator). Then
 * corrupt unwind data: random .eh_frame_hdr, random FDEs behind a valid
 * table, random CFA programs behind a valid CIE and FDE — every step must
 * end with a result code, within the instruction bound, without a fault
 * (this test also runs under ASan/UBSan). */
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unwind.h>

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

static _Unwind_Reason_Code truth_frame(struct _Unwind_Context *context, void *unused)
{
    (void)unused;
    if (g_ntruth >= MAX_FRAMES)
        return _URC_END_OF_STACK;
    /* libgcc reports the outermost frame's caller as address 0 */
    if (_Unwind_GetIP(context) == 0)
        return _URC_END_OF_STACK;
    g_truth[g_ntruth++] = (void *)_Unwind_GetIP(context);
    return _URC_NO_REASON;
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
     * address of its call, libgcc's first entry that of its own call. */
    getcontext(&uc);
    g_ntruth = 0;
    _Unwind_Backtrace(truth_frame, NULL);
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
    int skip;
    (void)state;
    g_nobjects = 0;
    dl_iterate_phdr(add_object, NULL);
    g_ntruth = 0;
    g_sink = level1(1) == 0 ? 1 : 0;
    assert_true(g_ntruth > 6);
    /* Frame 0 differs (getcontext vs _Unwind_Backtrace call sites); from the
     * caller of `capture` on, both walks must give the same return addresses,
     * through qsort's frames in libc, up to the outermost frame libgcc finds.
     * (Under ASan getcontext is intercepted: one more frame on our side.) */
    for (skip = 0; skip < 3 && skip + 1 < g_nours; skip++)
        if (g_ours[skip + 1] == (uint64_t)(uintptr_t)g_truth[1])
            break;
    for (int i = 1; i < g_ntruth; i++) {
        if (i + skip >= g_nours)
            fail_msg("ours stops at %d of %d frames (last result %d)", g_nours - skip, g_ntruth,
                     g_last_rc);
        if ((uint64_t)(uintptr_t)g_truth[i] != g_ours[i + skip])
            fail_msg("frame %d: ours %#llx, libgcc %p", i, (unsigned long long)g_ours[i + skip],
                     g_truth[i]);
    }
    /* _start marks the outermost frame: its return address is undefined. */
    assert_int_equal(g_last_rc, PYDBG__FD_CFI_END);
    assert_int_equal(g_nours - skip, g_ntruth);
}

/* ---- corrupt CFI ---------------------------------------------------------------- */

#define IMAGE 0x10000u /* .eh_frame_hdr, then .eh_frame */
#define CODE 0x40000u  /* the pc lives here */
#define STACK 0x80000u
#define ITERATIONS 4000

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static void fill_random(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)next_random();
}

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* A valid .eh_frame_hdr at IMAGE with one entry: CODE -> the FDE at IMAGE + 0x100. */
static void valid_hdr(unsigned char *image)
{
    image[0] = 1;    /* version */
    image[1] = 0x1b; /* eh_frame_ptr: pcrel sdata4 */
    image[2] = 0x03; /* fde_count: udata4 */
    image[3] = 0x3b; /* table: datarel sdata4 */
    put32(image + 4, 0x40 - 4);
    put32(image + 8, 1);
    put32(image + 12, CODE - IMAGE);
    put32(image + 16, 0x100);
}

/* A valid CIE at IMAGE + 0x40 ("zR", code 1, data -8, RA 16, pcrel sdata4,
 * CFA = rsp + 8, RA at CFA - 8), and the head of an FDE at IMAGE + 0x100 for
 * [CODE, CODE + 0x1000) whose program is `program_length` random bytes. */
static void valid_cie_fde(unsigned char *image, size_t program_length)
{
    static const unsigned char cie[] = {0x14, 0, 0, 0, 0, 0, 0, 0, 1, 'z', 'R', 0, 1, 0x78,
                                        16, 1, 0x1b, 0x0c, 7, 8, 0x90, 1, 0, 0};
    unsigned char *fde = image + 0x100;
    memcpy(image + 0x40, cie, sizeof cie);
    put32(fde, (uint32_t)(4 + 4 + 4 + 1 + program_length));
    put32(fde + 4, 0x100 + 4 - 0x40);              /* back to the CIE */
    put32(fde + 8, (uint32_t)(CODE - (IMAGE + 0x108))); /* pc_begin, pcrel */
    put32(fde + 12, 0x1000);                        /* pc_range */
    fde[16] = 0;                                    /* augmentation data length */
}

static void corrupt_cfi(void **state)
{
    static unsigned char image[4096], stack[4096];
    static pydbg__fd_cfi_work work;
    int seen[32] = {0};
    (void)state;
    for (int i = 0; i < ITERATIONS * 3; i++) {
        int kind = i % 3, rc, signal_frame = 0;
        pydbg__reader *r = NULL;
        pydbg__fd_cfi_object object = {IMAGE};
        pydbg__fd_regs regs;
        fill_random(image, sizeof image);
        fill_random(stack, sizeof stack);
        if (kind >= 1)
            valid_hdr(image); /* random CIE and FDE behind a valid table */
        if (kind == 2)
            valid_cie_fde(image, 1 + next_random() % 600); /* random CFA program */
        for (int k = 0; k < PYDBG__FD_NREGS; k++)
            regs.r[k] = next_random() % 3 == 0 ? STACK + next_random() % 4096 : next_random();
        regs.r[PYDBG__FD_REG_RIP] = CODE + next_random() % 0x1000;
        regs.r[PYDBG__FD_REG_RSP] = STACK + 64 + next_random() % 2048;
        regs.valid = (uint32_t)next_random() | 1u << PYDBG__FD_REG_RIP | 1u << PYDBG__FD_REG_RSP;
        assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
        assert_int_equal(pydbg__reader_buffer_add(r, IMAGE, image, sizeof image), PYDBG_OK);
        assert_int_equal(pydbg__reader_buffer_add(r, STACK, stack, sizeof stack), PYDBG_OK);
        rc = pydbg__fd_cfi_step(r, &object, &work, &regs, (int)(next_random() & 1),
                                &signal_frame);
        pydbg__reader_destroy(r);
        assert_true(rc == PYDBG_OK || rc == PYDBG__FD_CFI_END || rc == PYDBG_ENOTFOUND ||
                    rc == PYDBG_EREAD || rc == PYDBG_ECORRUPT || rc == PYDBG_ENOTSUP ||
                    rc == PYDBG_ELIMIT);
        assert_true(work.steps_run <= PYDBG__FD_CFI_MAX_INSNS);
        seen[rc + 16]++;
    }
    /* The valid headers let the random programs run: some steps succeed,
     * some hit constructs we refuse, some read outside the image. */
    assert_true(seen[PYDBG_OK + 16] > 0);
    assert_true(seen[PYDBG_ENOTSUP + 16] > 0);
    assert_true(seen[PYDBG_ECORRUPT + 16] > 0);
}

/* A CFA program that loops nowhere but is long: the instruction bound ends it. */
static void instruction_bound(void **state)
{
    static unsigned char image[64 * 1024];
    static pydbg__fd_cfi_work work;
    size_t program = PYDBG__FD_CFI_ENTRY_CAP - 64;
    pydbg__reader *r = NULL;
    pydbg__fd_cfi_object object = {IMAGE};
    pydbg__fd_regs regs;
    int signal_frame;
    (void)state;
    memset(image, 0, sizeof image);
    valid_hdr(image);
    valid_cie_fde(image, program);
    memset(image + 0x100 + 17, 0x0a, program); /* remember_state ... */
    for (size_t i = 0; i < program; i += 2)
        image[0x100 + 17 + i + 1] = 0x0b;      /* ... restore_state, forever */
    memset(&regs, 0, sizeof regs);
    regs.r[PYDBG__FD_REG_RIP] = CODE + 0x10;
    regs.r[PYDBG__FD_REG_RSP] = STACK;
    regs.valid = 1u << PYDBG__FD_REG_RIP | 1u << PYDBG__FD_REG_RSP;
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(r, IMAGE, image, sizeof image), PYDBG_OK);
    assert_int_equal(pydbg__fd_cfi_step(r, &object, &work, &regs, 1, &signal_frame),
                     PYDBG_ELIMIT);
    assert_int_equal(work.steps_run, PYDBG__FD_CFI_MAX_INSNS);
    pydbg__reader_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_backtrace),
        cmocka_unit_test(corrupt_cfi),
        cmocka_unit_test(instruction_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
