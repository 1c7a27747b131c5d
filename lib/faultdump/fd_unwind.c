/* DWARF CFI unwinding of x86_64 frames, as the crash handler needs it.
 *
 * The lookup follows what the linker prepares for exactly this purpose:
 * PT_GNU_EH_FRAME points at .eh_frame_hdr, whose sorted table (initial
 * location, FDE address) is binary-searched for the pc. The FDE and its CIE
 * are copied into fixed buffers and parsed there, the CFA program of the CIE
 * then of the FDE is run up to the pc, and the rules it leaves give the
 * caller's registers. Every byte is read through the reader and checked
 * against the buffer's end; every loop has a bound. A construct we do not
 * handle (text- or function-relative encodings, a DWARF operation outside
 * the small set below) ends the step with PYDBG_ENOTSUP, and the caller falls
 * back to the frame-pointer chain. */
#include <string.h>

#include "faultdump/fd_unwind.h"
#include "pydebug/errors.h"

#if defined(__x86_64__)
#include <elf.h>
#endif

/* DW_EH_PE_* pointer encodings. */
#define PE_OMIT 0xff
#define PE_FORMAT 0x0f
#define PE_ABSPTR 0x00
#define PE_ULEB128 0x01
#define PE_UDATA2 0x02
#define PE_UDATA4 0x03
#define PE_UDATA8 0x04
#define PE_SLEB128 0x09
#define PE_SDATA2 0x0a
#define PE_SDATA4 0x0b
#define PE_SDATA8 0x0c
#define PE_APPL 0x70
#define PE_PCREL 0x10
#define PE_DATAREL 0x30
#define PE_INDIRECT 0x80

/* Kinds of register rules. */
enum {
    RULE_SAME = 0, /* also the default: callee-saved registers keep their value */
    RULE_UNDEFINED,
    RULE_OFFSET,     /* saved at CFA + offset */
    RULE_VAL_OFFSET, /* value is CFA + offset */
    RULE_REGISTER,   /* in another register */
    RULE_EXPRESSION, /* saved at the address an expression computes */
    RULE_VAL_EXPRESSION,
    RULE_CFA_REG, /* CFA: register + offset */
    RULE_CFA_EXPRESSION
};

#define MAX_EXPR_OPS 64
#define MAX_EXPR_STACK 16
#define MAX_AUGMENTATION 8

/* ---- a bounded cursor over a buffer copied from memory ------------------- */

typedef struct cursor {
    const unsigned char *base, *p, *end;
    uint64_t address; /* run-time address of base[0] */
    int bad;
} cursor;

static void cursor_init(cursor *c, const unsigned char *base, size_t length, uint64_t address)
{
    c->base = c->p = base;
    c->end = base + length;
    c->address = address;
    c->bad = 0;
}

static uint64_t here(const cursor *c)
{
    return c->address + (uint64_t)(c->p - c->base);
}

static int take(cursor *c, void *out, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        memset(out, 0, n);
        return 0;
    }
    memcpy(out, c->p, n);
    c->p += n;
    return 1;
}

static uint8_t u8(cursor *c)
{
    uint8_t v;
    take(c, &v, 1);
    return v;
}

static uint16_t u16(cursor *c)
{
    uint16_t v;
    take(c, &v, 2);
    return v;
}

static uint32_t u32(cursor *c)
{
    uint32_t v;
    take(c, &v, 4);
    return v;
}

static uint64_t u64(cursor *c)
{
    uint64_t v;
    take(c, &v, 8);
    return v;
}

static uint64_t uleb(cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint8_t b = u8(c);
        if (c->bad)
            return 0;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->bad = 1; /* more than 10 bytes: not a 64-bit number */
    return 0;
}

static int64_t sleb(cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint8_t b = u8(c);
        if (c->bad)
            return 0;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (shift + 7 < 64 && (b & 0x40))
                v |= ~(uint64_t)0 << (shift + 7);
            return (int64_t)v;
        }
    }
    c->bad = 1;
    return 0;
}

/* A DW_EH_PE-encoded pointer. `datarel` is the base of datarel encodings
 * (.eh_frame_hdr), 0 where they are not allowed. Indirect pointers are not
 * followed: nothing the unwinder needs is encoded that way. */
static uint64_t encoded(cursor *c, uint8_t encoding, uint64_t datarel)
{
    uint64_t at = here(c), v;
    if (encoding == PE_OMIT)
        return 0;
    switch (encoding & PE_FORMAT) {
    case PE_ABSPTR: v = u64(c); break;
    case PE_ULEB128: v = uleb(c); break;
    case PE_UDATA2: v = u16(c); break;
    case PE_UDATA4: v = u32(c); break;
    case PE_UDATA8: v = u64(c); break;
    case PE_SLEB128: v = (uint64_t)sleb(c); break;
    case PE_SDATA2: v = (uint64_t)(int64_t)(int16_t)u16(c); break;
    case PE_SDATA4: v = (uint64_t)(int64_t)(int32_t)u32(c); break;
    case PE_SDATA8: v = u64(c); break;
    default: c->bad = 1; return 0;
    }
    switch (encoding & PE_APPL) {
    case 0: break;
    case PE_PCREL: v += at; break;
    case PE_DATAREL:
        if (!datarel)
            c->bad = 1;
        v += datarel;
        break;
    default: c->bad = 1; return 0; /* textrel, funcrel, aligned */
    }
    return v;
}

/* ---- .eh_frame_hdr ---------------------------------------------------------- */

int pydbg__fd_cfi_find_hdr(pydbg__reader *reader, uint64_t base, uint64_t *eh_frame_hdr)
{
#if defined(__x86_64__)
    Elf64_Ehdr eh;
    uint64_t min_vaddr = UINT64_MAX, hdr_vaddr = 0;
    int have_hdr = 0;
    *eh_frame_hdr = 0;
    if (pydbg__read(reader, base, &eh, sizeof eh) != PYDBG_OK)
        return PYDBG_EREAD;
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64 ||
        eh.e_phoff > 65536)
        return PYDBG_ECORRUPT;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pydbg__read(reader, base + eh.e_phoff + i * sizeof ph, &ph, sizeof ph) != PYDBG_OK)
            return PYDBG_EREAD;
        if (ph.p_type == PT_LOAD && ph.p_vaddr < min_vaddr)
            min_vaddr = ph.p_vaddr;
        if (ph.p_type == PT_GNU_EH_FRAME) {
            hdr_vaddr = ph.p_vaddr;
            have_hdr = 1;
        }
    }
    if (!have_hdr || min_vaddr == UINT64_MAX)
        return PYDBG_ENOTFOUND;
    /* The first PT_LOAD is mapped at `base`, rounded down to its page. */
    *eh_frame_hdr = base - (min_vaddr & ~(uint64_t)4095) + hdr_vaddr;
    return PYDBG_OK;
#else
    (void)reader;
    (void)base;
    *eh_frame_hdr = 0;
    return PYDBG_ENOTSUP;
#endif
}

/* The address of the FDE whose table entry is the last at or below `pc`. */
static int find_fde(pydbg__reader *reader, uint64_t hdr, uint64_t pc, uint64_t *fde)
{
    unsigned char head[4 + 8 + 8];
    cursor c;
    uint8_t version, ptr_enc, count_enc, table_enc;
    uint64_t count, table, lo, hi;
    size_t got = 0;
    if (pydbg__read_partial(reader, hdr, head, sizeof head, &got) != PYDBG_OK || got < 4)
        return PYDBG_EREAD;
    cursor_init(&c, head, got, hdr);
    version = u8(&c);
    ptr_enc = u8(&c);
    count_enc = u8(&c);
    table_enc = u8(&c);
    if (version != 1)
        return PYDBG_ECORRUPT;
    (void)encoded(&c, ptr_enc, hdr);
    count = encoded(&c, count_enc, hdr);
    if (c.bad)
        return PYDBG_ECORRUPT;
    /* Only the sorted 4-byte table can be searched without reading it whole;
     * it is what every linker writes. */
    if (table_enc != (PE_DATAREL | PE_SDATA4) || count_enc == PE_OMIT)
        return PYDBG_ENOTSUP;
    if (count == 0)
        return PYDBG_ENOTFOUND;
    if (count > PYDBG__FD_CFI_MAX_FDES)
        return PYDBG_ELIMIT;
    table = here(&c);
    lo = 0;
    hi = count;
    /* Invariant: entries below lo start at or below pc, entries at hi or above
     * start above it. At most 25 reads. */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int32_t entry[2];
        if (pydbg__read(reader, table + mid * 8, entry, sizeof entry) != PYDBG_OK)
            return PYDBG_EREAD;
        if (hdr + (uint64_t)(int64_t)entry[0] <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return PYDBG_ENOTFOUND;
    {
        int32_t entry[2];
        if (pydbg__read(reader, table + (lo - 1) * 8, entry, sizeof entry) != PYDBG_OK)
            return PYDBG_EREAD;
        *fde = hdr + (uint64_t)(int64_t)entry[1];
    }
    return PYDBG_OK;
}

/* ---- CIE and FDE ------------------------------------------------------------ */

typedef struct cie_info {
    uint64_t code_align;
    int64_t data_align;
    uint64_t ra_reg;
    uint8_t fde_enc;
    int has_z, signal_frame;
    size_t insn_start, insn_end; /* in work->cie */
} cie_info;

/* Copies the entry (CIE or FDE) at `address` into `buffer`. Stores the offset
 * of its body (after the length) and the body's end. */
static int read_entry(pydbg__reader *reader, uint64_t address, unsigned char *buffer,
                      size_t capacity, size_t *body, size_t *end)
{
    size_t got = 0;
    uint32_t length32;
    uint64_t length;
    if (pydbg__read_partial(reader, address, buffer, capacity, &got) != PYDBG_OK || got < 8)
        return PYDBG_EREAD;
    memcpy(&length32, buffer, 4);
    if (length32 == 0)
        return PYDBG_ENOTFOUND; /* the terminator */
    if (length32 == 0xffffffffu) {
        if (got < 12)
            return PYDBG_EREAD;
        memcpy(&length, buffer + 4, 8);
        *body = 12;
    } else {
        length = length32;
        *body = 4;
    }
    if (length > capacity - *body)
        return PYDBG_ELIMIT;
    if (length > got - *body)
        return PYDBG_EREAD;
    *end = *body + (size_t)length;
    return PYDBG_OK;
}

static int parse_cie(pydbg__reader *reader, uint64_t address, pydbg__fd_cfi_work *work,
                     cie_info *out)
{
    size_t body, end;
    cursor c;
    char aug[MAX_AUGMENTATION];
    size_t naug = 0;
    uint8_t version;
    int rc = read_entry(reader, address, work->cie, sizeof work->cie, &body, &end);
    if (rc != PYDBG_OK)
        return rc == PYDBG_ENOTFOUND ? PYDBG_ECORRUPT : rc;
    cursor_init(&c, work->cie, end, address);
    c.p += body;
    if (body == 12 ? u64(&c) != 0 : u32(&c) != 0)
        return PYDBG_ECORRUPT; /* not a CIE */
    version = u8(&c);
    if (version != 1 && version != 3 && version != 4)
        return PYDBG_ENOTSUP;
    for (;;) {
        char ch = (char)u8(&c);
        if (c.bad || naug >= sizeof aug)
            return PYDBG_ECORRUPT;
        aug[naug++] = ch;
        if (ch == '\0')
            break;
    }
    if (version == 4) {
        if (u8(&c) != 8 || u8(&c) != 0) /* address and segment selector sizes */
            return PYDBG_ENOTSUP;
    }
    out->code_align = uleb(&c);
    out->data_align = sleb(&c);
    out->ra_reg = version == 1 ? u8(&c) : uleb(&c);
    out->fde_enc = PE_ABSPTR;
    out->has_z = 0;
    out->signal_frame = 0;
    if (aug[0] == 'z') {
        uint64_t length = uleb(&c);
        const unsigned char *data_end;
        out->has_z = 1;
        if (c.bad || length > (uint64_t)(c.end - c.p))
            return PYDBG_ECORRUPT;
        data_end = c.p + length;
        for (size_t i = 1; i < naug && aug[i] != '\0'; i++) {
            switch (aug[i]) {
            case 'R': out->fde_enc = u8(&c); break;
            case 'L': (void)u8(&c); break;
            case 'P': {
                uint8_t enc = u8(&c);
                (void)encoded(&c, (uint8_t)(enc & ~PE_INDIRECT), 0);
                break;
            }
            case 'S': out->signal_frame = 1; break;
            default: i = naug; break; /* unknown: the length tells where the rest ends */
            }
            if (c.bad)
                return PYDBG_ECORRUPT;
        }
        c.p = data_end;
    } else if (aug[0] != '\0') {
        return PYDBG_ENOTSUP; /* "eh" and other pre-'z' forms */
    }
    if (c.bad || out->code_align == 0 || out->ra_reg != PYDBG__FD_REG_RIP)
        return c.bad ? PYDBG_ECORRUPT : PYDBG_ENOTSUP;
    out->insn_start = (size_t)(c.p - c.base);
    out->insn_end = end;
    return PYDBG_OK;
}

/* ---- the CFA program ------------------------------------------------------- */

/* Factored offsets wrap instead of overflowing: garbage gives a garbage
 * address, which the reader then refuses. */
static int64_t scaled(uint64_t value, int64_t factor)
{
    return (int64_t)(value * (uint64_t)factor);
}

typedef struct program {
    cursor c;
    int in_cie;
} program;

static int rule_for(pydbg__fd_cfi_state *s, uint64_t reg, pydbg__fd_cfi_rule **out)
{
    /* Rules for registers we do not track (vector registers) are parsed and dropped. */
    *out = reg < PYDBG__FD_NREGS ? &s->reg[reg] : NULL;
    return reg < 128;
}

/* Runs the instructions of `p` while the location stays at or below
 * `target`. `budget` counts instructions across the CIE and the FDE. */
static int run_program(program *p, const cie_info *cie, uint64_t loc, uint64_t target,
                       pydbg__fd_cfi_state *state, pydbg__fd_cfi_work *work, unsigned *depth,
                       unsigned *budget)
{
    cursor *c = &p->c;
    while (c->p < c->end) {
        uint8_t op = u8(c);
        uint64_t reg = 0, delta = 0;
        pydbg__fd_cfi_rule *r = NULL;
        if (*budget == 0)
            return PYDBG_ELIMIT;
        (*budget)--;
        work->steps_run++;
        switch (op & 0xc0) {
        case 0x40: /* DW_CFA_advance_loc */
            delta = (uint64_t)(op & 0x3f) * cie->code_align;
            goto advance;
        case 0x80: /* DW_CFA_offset */
            if (!rule_for(state, op & 0x3f, &r))
                return PYDBG_ECORRUPT;
            {
                int64_t off = scaled(uleb(c), cie->data_align);
                if (r) {
                    r->kind = RULE_OFFSET;
                    r->offset = off;
                }
            }
            continue;
        case 0xc0: /* DW_CFA_restore */
            if (!rule_for(state, op & 0x3f, &r))
                return PYDBG_ECORRUPT;
            if (r)
                *r = work->initial.reg[op & 0x3f];
            continue;
        default: break;
        }
        switch (op) {
        case 0x00: /* nop */
            break;
        case 0x01: /* set_loc */
            delta = encoded(c, cie->fde_enc, 0);
            if (c->bad || delta < loc)
                return PYDBG_ECORRUPT;
            delta -= loc;
            goto advance;
        case 0x02: delta = u8(c) * cie->code_align; goto advance;
        case 0x03: delta = u16(c) * cie->code_align; goto advance;
        case 0x04: delta = u32(c) * cie->code_align; goto advance;
        case 0x05:   /* offset_extended */
        case 0x11:   /* offset_extended_sf */
        case 0x2f: { /* GNU_negative_offset_extended */
            int64_t off;
            reg = uleb(c);
            off = op == 0x11 ? scaled((uint64_t)sleb(c), cie->data_align) : scaled(uleb(c), cie->data_align);
            if (op == 0x2f)
                off = -off;
            if (!rule_for(state, reg, &r))
                return PYDBG_ECORRUPT;
            if (r) {
                r->kind = RULE_OFFSET;
                r->offset = off;
            }
            break;
        }
        case 0x14: /* val_offset */
        case 0x15: { /* val_offset_sf */
            int64_t off;
            reg = uleb(c);
            off = op == 0x15 ? scaled((uint64_t)sleb(c), cie->data_align) : scaled(uleb(c), cie->data_align);
            if (!rule_for(state, reg, &r))
                return PYDBG_ECORRUPT;
            if (r) {
                r->kind = RULE_VAL_OFFSET;
                r->offset = off;
            }
            break;
        }
        case 0x06: /* restore_extended */
            reg = uleb(c);
            if (!rule_for(state, reg, &r))
                return PYDBG_ECORRUPT;
            if (r)
                *r = work->initial.reg[reg];
            break;
        case 0x07: /* undefined */
        case 0x08: /* same_value */
            reg = uleb(c);
            if (!rule_for(state, reg, &r))
                return PYDBG_ECORRUPT;
            if (r)
                r->kind = op == 0x07 ? RULE_UNDEFINED : RULE_SAME;
            break;
        case 0x09: { /* register */
            uint64_t from;
            reg = uleb(c);
            from = uleb(c);
            if (!rule_for(state, reg, &r))
                return PYDBG_ECORRUPT;
            if (r) {
                r->kind = from < PYDBG__FD_NREGS ? RULE_REGISTER : RULE_UNDEFINED;
                r->reg = (uint8_t)from;
            }
            break;
        }
        case 0x0a: /* remember_state */
            if (*depth >= PYDBG__FD_CFI_MAX_STATES)
                return PYDBG_ELIMIT;
            work->stack[(*depth)++] = *state;
            break;
        case 0x0b: /* restore_state: the whole row, CFA rule included (DWARF 5 6.4.2.4) */
            if (*depth == 0)
                return PYDBG_ECORRUPT;
            *state = work->stack[--(*depth)];
            break;
        case 0x0c: /* def_cfa */
        case 0x12: /* def_cfa_sf */
            reg = uleb(c);
            state->cfa.kind = RULE_CFA_REG;
            state->cfa.reg = (uint8_t)(reg < PYDBG__FD_NREGS ? reg : 0xff);
            state->cfa.offset = op == 0x12 ? scaled((uint64_t)sleb(c), cie->data_align) : (int64_t)uleb(c);
            break;
        case 0x0d: /* def_cfa_register */
            reg = uleb(c);
            state->cfa.kind = RULE_CFA_REG;
            state->cfa.reg = (uint8_t)(reg < PYDBG__FD_NREGS ? reg : 0xff);
            break;
        case 0x0e: /* def_cfa_offset */
            state->cfa.offset = (int64_t)uleb(c);
            break;
        case 0x13: /* def_cfa_offset_sf */
            state->cfa.offset = scaled((uint64_t)sleb(c), cie->data_align);
            break;
        case 0x0f: /* def_cfa_expression */
        case 0x10: /* expression */
        case 0x16: { /* val_expression */
            uint64_t length;
            if (op != 0x0f)
                reg = uleb(c);
            length = uleb(c);
            if (c->bad || length > (uint64_t)(c->end - c->p))
                return PYDBG_ECORRUPT;
            if (op == 0x0f) {
                r = &state->cfa;
                r->kind = RULE_CFA_EXPRESSION;
            } else {
                if (!rule_for(state, reg, &r))
                    return PYDBG_ECORRUPT;
                if (r)
                    r->kind = op == 0x10 ? RULE_EXPRESSION : RULE_VAL_EXPRESSION;
            }
            if (r) {
                r->expr = (uint64_t)(c->p - c->base);
                r->expr_len = (uint32_t)length;
                r->expr_in_cie = (uint8_t)p->in_cie;
            }
            c->p += length;
            break;
        }
        case 0x2e: /* GNU_args_size */
            (void)uleb(c);
            break;
        default:
            return PYDBG_ENOTSUP;
        }
        if (c->bad)
            return PYDBG_ECORRUPT;
        continue;
    advance:
        if (c->bad)
            return PYDBG_ECORRUPT;
        if (delta > target - loc)
            return PYDBG_OK; /* the next row starts past the pc */
        loc += delta;
    }
    return c->bad ? PYDBG_ECORRUPT : PYDBG_OK;
}

/* ---- DWARF expressions ------------------------------------------------------- */

/* The small stack machine CFI needs: the PLT's CFA expression
 * (breg7 8; breg16 0; lit15; and; lit11; ge; lit3; shl; plus) and the register
 * expressions of signal trampolines (breg7 N, or breg7 N; deref). */
static int eval(pydbg__reader *reader, const unsigned char *code, size_t length,
                const pydbg__fd_regs *regs, int push_cfa, uint64_t cfa, uint64_t *out)
{
    uint64_t stack[MAX_EXPR_STACK];
    unsigned sp = 0, ops = 0;
    cursor c;
    cursor_init(&c, code, length, 0);
    if (push_cfa)
        stack[sp++] = cfa;
    while (c.p < c.end) {
        uint8_t op = u8(&c);
        uint64_t a, b, v = 0;
        int pushes = 1;
        if (++ops > MAX_EXPR_OPS)
            return PYDBG_ELIMIT;
        if (op >= 0x30 && op <= 0x4f) { /* lit0..31 */
            v = op - 0x30u;
        } else if ((op >= 0x70 && op <= 0x8f) || op == 0x92) { /* breg0..31, bregx */
            uint64_t reg = op == 0x92 ? uleb(&c) : (uint64_t)(op - 0x70u);
            int64_t off = sleb(&c);
            if (reg >= PYDBG__FD_NREGS || !(regs->valid & (1u << reg)))
                return PYDBG_ENOTSUP;
            v = regs->r[reg] + (uint64_t)off;
        } else {
            switch (op) {
            case 0x03: v = u64(&c); break;                        /* addr */
            case 0x08: v = u8(&c); break;                         /* const1u */
            case 0x09: v = (uint64_t)(int64_t)(int8_t)u8(&c); break;
            case 0x0a: v = u16(&c); break;
            case 0x0b: v = (uint64_t)(int64_t)(int16_t)u16(&c); break;
            case 0x0c: v = u32(&c); break;
            case 0x0d: v = (uint64_t)(int64_t)(int32_t)u32(&c); break;
            case 0x0e: case 0x0f: v = u64(&c); break;
            case 0x10: v = uleb(&c); break;                       /* constu */
            case 0x11: v = (uint64_t)sleb(&c); break;             /* consts */
            case 0x12:                                            /* dup */
                if (sp < 1)
                    return PYDBG_ECORRUPT;
                v = stack[sp - 1];
                break;
            case 0x13:                                            /* drop */
                if (sp < 1)
                    return PYDBG_ECORRUPT;
                sp--;
                pushes = 0;
                break;
            case 0x06:                                            /* deref */
                if (sp < 1)
                    return PYDBG_ECORRUPT;
                if (pydbg__read(reader, stack[sp - 1], &v, sizeof v) != PYDBG_OK)
                    return PYDBG_EREAD;
                stack[sp - 1] = v;
                pushes = 0;
                break;
            case 0x23:                                            /* plus_uconst */
                if (sp < 1)
                    return PYDBG_ECORRUPT;
                stack[sp - 1] += uleb(&c);
                pushes = 0;
                break;
            case 0x96:                                            /* nop */
                pushes = 0;
                break;
            case 0x1a: case 0x1c: case 0x1e: case 0x21: case 0x22: case 0x24: case 0x25:
            case 0x26: case 0x27: case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d:
            case 0x2e:
                if (sp < 2)
                    return PYDBG_ECORRUPT;
                b = stack[--sp];
                a = stack[--sp];
                switch (op) {
                case 0x1a: v = a & b; break;
                case 0x1c: v = a - b; break;
                case 0x1e: v = a * b; break;
                case 0x21: v = a | b; break;
                case 0x22: v = a + b; break;
                case 0x24: v = b < 64 ? a << b : 0; break;
                case 0x25: v = b < 64 ? a >> b : 0; break;
                case 0x26: v = b < 64 ? (uint64_t)((int64_t)a >> b) : 0; break;
                case 0x27: v = a ^ b; break;
                case 0x29: v = a == b; break;
                case 0x2a: v = (int64_t)a >= (int64_t)b; break;
                case 0x2b: v = (int64_t)a > (int64_t)b; break;
                case 0x2c: v = (int64_t)a <= (int64_t)b; break;
                case 0x2d: v = (int64_t)a < (int64_t)b; break;
                default: v = a != b; break;
                }
                break;
            default:
                return PYDBG_ENOTSUP;
            }
        }
        if (c.bad)
            return PYDBG_ECORRUPT;
        if (pushes) {
            if (sp >= MAX_EXPR_STACK)
                return PYDBG_ELIMIT;
            stack[sp++] = v;
        }
    }
    if (sp == 0)
        return PYDBG_ECORRUPT;
    *out = stack[sp - 1];
    return PYDBG_OK;
}

static int eval_rule(pydbg__reader *reader, const pydbg__fd_cfi_work *work,
                     const pydbg__fd_cfi_rule *r, const pydbg__fd_regs *regs, int push_cfa,
                     uint64_t cfa, uint64_t *out)
{
    const unsigned char *buffer = r->expr_in_cie ? work->cie : work->fde;
    size_t capacity = r->expr_in_cie ? sizeof work->cie : sizeof work->fde;
    if (r->expr > capacity || r->expr_len > capacity - r->expr)
        return PYDBG_ECORRUPT;
    return eval(reader, buffer + r->expr, r->expr_len, regs, push_cfa, cfa, out);
}

/* ---- one step ----------------------------------------------------------------- */

int pydbg__fd_cfi_step(pydbg__reader *reader, const pydbg__fd_cfi_object *object,
                       pydbg__fd_cfi_work *work, pydbg__fd_regs *regs, int exact_pc,
                       int *signal_frame)
{
    uint64_t pc, lookup, fde_address, cie_address, pc_begin, pc_range, cfa;
    size_t body, end;
    cie_info cie;
    cursor c;
    program prog;
    pydbg__fd_cfi_state state;
    pydbg__fd_regs next;
    unsigned depth = 0, budget = PYDBG__FD_CFI_MAX_INSNS;
    int rc;
    *signal_frame = 0;
    work->steps_run = 0;
    if (!object || !object->eh_frame_hdr || !(regs->valid & (1u << PYDBG__FD_REG_RIP)))
        return PYDBG_ENOTFOUND;
    pc = regs->r[PYDBG__FD_REG_RIP];
    /* A return address can be the first byte after a call that never
     * returns, i.e. after the end of its function: look up the call itself. */
    lookup = exact_pc ? pc : pc - 1;
    rc = find_fde(reader, object->eh_frame_hdr, lookup, &fde_address);
    if (rc != PYDBG_OK)
        return rc;
    rc = read_entry(reader, fde_address, work->fde, sizeof work->fde, &body, &end);
    if (rc != PYDBG_OK)
        return rc == PYDBG_ENOTFOUND ? PYDBG_ECORRUPT : rc;
    cursor_init(&c, work->fde, end, fde_address);
    c.p += body;
    {
        uint64_t id_at = here(&c);
        uint64_t id = body == 12 ? u64(&c) : u32(&c);
        if (id == 0 || id > id_at)
            return PYDBG_ECORRUPT; /* a CIE where an FDE should be, or a bad link */
        cie_address = id_at - id;
    }
    rc = parse_cie(reader, cie_address, work, &cie);
    if (rc != PYDBG_OK)
        return rc;
    pc_begin = encoded(&c, cie.fde_enc, 0);
    pc_range = encoded(&c, (uint8_t)(cie.fde_enc & PE_FORMAT), 0);
    if (cie.has_z) {
        uint64_t length = uleb(&c);
        if (c.bad || length > (uint64_t)(c.end - c.p))
            return PYDBG_ECORRUPT;
        c.p += length;
    }
    if (c.bad)
        return PYDBG_ECORRUPT;
    if (lookup < pc_begin || lookup - pc_begin >= pc_range)
        return PYDBG_ENOTFOUND; /* the table's nearest entry does not cover the pc */

    /* The CIE's program gives the initial rules (what DW_CFA_restore returns
     * to), the FDE's moves them to the pc. */
    memset(&state, 0, sizeof state);
    state.cfa.kind = RULE_UNDEFINED;
    state.reg[PYDBG__FD_REG_RIP].kind = RULE_UNDEFINED;
    memset(&work->initial, 0, sizeof work->initial);
    cursor_init(&prog.c, work->cie, cie.insn_end, cie_address);
    prog.c.p += cie.insn_start;
    prog.in_cie = 1;
    rc = run_program(&prog, &cie, pc_begin, UINT64_MAX - 1, &state, work, &depth, &budget);
    if (rc != PYDBG_OK)
        return rc;
    work->initial = state;
    depth = 0;
    prog.c = c;
    prog.in_cie = 0;
    rc = run_program(&prog, &cie, pc_begin, lookup, &state, work, &depth, &budget);
    if (rc != PYDBG_OK)
        return rc;

    /* The CFA. */
    if (state.cfa.kind == RULE_CFA_REG) {
        if (state.cfa.reg >= PYDBG__FD_NREGS || !(regs->valid & (1u << state.cfa.reg)))
            return PYDBG_ENOTSUP;
        cfa = regs->r[state.cfa.reg] + (uint64_t)state.cfa.offset;
    } else if (state.cfa.kind == RULE_CFA_EXPRESSION) {
        rc = eval_rule(reader, work, &state.cfa, regs, 0, 0, &cfa);
        if (rc != PYDBG_OK)
            return rc;
    } else {
        return PYDBG_ECORRUPT;
    }

    /* The caller's registers. */
    next = *regs;
    for (unsigned i = 0; i < PYDBG__FD_NREGS; i++) {
        const pydbg__fd_cfi_rule *r = &state.reg[i];
        uint64_t address = 0, value = 0;
        switch (r->kind) {
        case RULE_SAME:
            continue;
        case RULE_UNDEFINED:
            next.valid &= ~(1u << i);
            continue;
        case RULE_OFFSET:
            address = cfa + (uint64_t)r->offset;
            break;
        case RULE_VAL_OFFSET:
            next.r[i] = cfa + (uint64_t)r->offset;
            next.valid |= 1u << i;
            continue;
        case RULE_REGISTER:
            if (r->reg >= PYDBG__FD_NREGS || !(regs->valid & (1u << r->reg))) {
                next.valid &= ~(1u << i);
                continue;
            }
            next.r[i] = regs->r[r->reg];
            next.valid |= 1u << i;
            continue;
        case RULE_EXPRESSION:
        case RULE_VAL_EXPRESSION:
            rc = eval_rule(reader, work, r, regs, 1, cfa, &value);
            if (rc != PYDBG_OK) {
                if (i == PYDBG__FD_REG_RIP || i == PYDBG__FD_REG_RSP)
                    return rc;
                next.valid &= ~(1u << i);
                continue;
            }
            if (r->kind == RULE_VAL_EXPRESSION) {
                next.r[i] = value;
                next.valid |= 1u << i;
                continue;
            }
            address = value;
            break;
        default:
            return PYDBG_ECORRUPT;
        }
        if (pydbg__read(reader, address, &value, sizeof value) != PYDBG_OK) {
            if (i == PYDBG__FD_REG_RIP)
                return PYDBG_EREAD;
            next.valid &= ~(1u << i);
            continue;
        }
        next.r[i] = value;
        next.valid |= 1u << i;
    }
    if (!(next.valid & (1u << PYDBG__FD_REG_RIP)))
        return PYDBG__FD_CFI_END;
    /* The caller's stack pointer is the CFA, unless the frame says otherwise
     * (signal trampolines restore it from the saved context). */
    if (state.reg[PYDBG__FD_REG_RSP].kind == RULE_SAME) {
        next.r[PYDBG__FD_REG_RSP] = cfa;
        next.valid |= 1u << PYDBG__FD_REG_RSP;
    }
    *signal_frame = cie.signal_frame;
    *regs = next;
    return PYDBG_OK;
}
