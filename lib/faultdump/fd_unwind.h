/* DWARF CFI unwinding (x86_64) for the crash handler: one step from a
 * register set to its caller's, with the unwind tables of .eh_frame found
 * through .eh_frame_hdr.
 *
 * Everything runs in a signal handler: no heap, no stdio, no locks; every
 * byte of the target comes through a pydbg__reader (the non-faulting self
 * reader in the handler, a buffer reader in the tests), and every loop is
 * bounded, so a corrupt table or stack gives an error, never a fault or a
 * hang. The work buffers live in pydbg__fd_cfi_work, prepared in advance. */
#ifndef PYDBG_FAULTDUMP_FD_UNWIND_H
#define PYDBG_FAULTDUMP_FD_UNWIND_H

#include <stddef.h>
#include <stdint.h>

#include "mem/reader.h"

/* DWARF register numbers of x86_64 (System V psABI): 0-15 the general
 * registers, 16 the return address (RIP). */
#define PYDBG__FD_NREGS 17
#define PYDBG__FD_REG_RBX 3
#define PYDBG__FD_REG_RBP 6
#define PYDBG__FD_REG_RSP 7
#define PYDBG__FD_REG_RIP 16

/* Bounds on what one step may do. */
#define PYDBG__FD_CFI_ENTRY_CAP (32u * 1024u) /* bytes of one FDE read */
#define PYDBG__FD_CIE_CAP 2048u                /* bytes of one CIE read */
#define PYDBG__FD_CFI_MAX_INSNS 8192           /* CFA instructions per step */
#define PYDBG__FD_CFI_MAX_STATES 16            /* DW_CFA_remember_state depth */
#define PYDBG__FD_CFI_MAX_FDES (1u << 24)      /* entries of one .eh_frame_hdr table */

typedef struct pydbg__fd_regs {
    uint64_t r[PYDBG__FD_NREGS];
    uint32_t valid; /* bit n: r[n] is known */
} pydbg__fd_regs;

/* One loaded object, as far as unwinding needs it. */
typedef struct pydbg__fd_cfi_object {
    uint64_t eh_frame_hdr; /* run-time address of .eh_frame_hdr */
} pydbg__fd_cfi_object;

typedef struct pydbg__fd_cfi_rule {
    uint8_t kind;
    uint8_t reg;       /* for register rules */
    int64_t offset;    /* factored out already */
    uint64_t expr;     /* address of a DWARF expression block ... */
    uint32_t expr_len; /* ... and its length (inside the FDE or CIE buffer) */
    uint8_t expr_in_cie;
} pydbg__fd_cfi_rule;

typedef struct pydbg__fd_cfi_state {
    pydbg__fd_cfi_rule cfa;
    pydbg__fd_cfi_rule reg[PYDBG__FD_NREGS];
} pydbg__fd_cfi_state;

/* Scratch for one step; one per dumping agent, never shared by two dumps. */
typedef struct pydbg__fd_cfi_work {
    unsigned char fde[PYDBG__FD_CFI_ENTRY_CAP];
    unsigned char cie[PYDBG__FD_CIE_CAP];
    pydbg__fd_cfi_state initial, stack[PYDBG__FD_CFI_MAX_STATES];
    uint64_t steps_run; /* CFA instructions run by the last step (tests) */
} pydbg__fd_cfi_work;

/* Results of pydbg__fd_cfi_step besides the PYDBG_E* codes. */
#define PYDBG__FD_CFI_END 1 /* the return address is undefined: the outermost frame */

/* Moves `regs` from a frame to its caller's frame with the CFI of `object`.
 * `exact_pc`: regs->r[RIP] is the interrupted instruction itself (frame 0,
 * or the frame below a signal frame), not a return address, so it is looked
 * up as is rather than one byte before. On success the caller's RIP, RSP and
 * the callee-saved registers the frame saved are in `regs`, and
 * *signal_frame tells whether the frame just left was a signal trampoline
 * (its caller's RIP is then exact). Returns PYDBG_OK, PYDBG__FD_CFI_END,
 * PYDBG_ENOTFOUND (no FDE covers the pc), PYDBG_EREAD, PYDBG_ECORRUPT,
 * PYDBG_ENOTSUP (a construct this unwinder does not handle) or PYDBG_ELIMIT.
 * async-signal-safe. */
int pydbg__fd_cfi_step(pydbg__reader *reader, const pydbg__fd_cfi_object *object,
                       pydbg__fd_cfi_work *work, pydbg__fd_regs *regs, int exact_pc,
                       int *signal_frame);

/* Finds the run-time address of .eh_frame_hdr of the object whose ELF header
 * is mapped at `base` (its first mapping, file offset 0), reading the program
 * headers from memory. Returns PYDBG_OK, PYDBG_ENOTFOUND (no PT_GNU_EH_FRAME)
 * or PYDBG_EREAD / PYDBG_ECORRUPT. async-signal-safe. */
int pydbg__fd_cfi_find_hdr(pydbg__reader *reader, uint64_t base, uint64_t *eh_frame_hdr);

#endif
