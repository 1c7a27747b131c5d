/* The native part of a crash dump: the crashing thread's C stack, named with
 * the ELF symbol tables of the mapped files.
 *
 * Unwinding (x86_64) uses the DWARF CFI of each object (fd_unwind.c), the
 * objects found at dump time from /proc/self/maps and their ELF headers in
 * memory, so extension modules loaded after the install are unwound too. A
 * frame without usable CFI is left through the frame-pointer chain (RBP; x29
 * on aarch64, where the chain is all there is); every link is read with the
 * non-faulting reader and must move up the stack, so a corrupt stack ends the
 * walk. The first frame, the faulting instruction itself, is always right.
 *
 * Naming happens in the handler without dladdr (not async-signal-safe) and
 * without anything prepared in advance, so libraries loaded after the install
 * (extension modules) are named too: /proc/self/maps gives the file and load
 * address, and the file's section headers and .symtab (or .dynsym) are read
 * with open/pread into the context's scratch buffer, all system calls. */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "faultdump/fd_internal.h"
#include "pydebug/errors.h"

/* Bounds on what a file may make the handler read. */
#define MAX_PHDRS 64
#define MAX_SECTIONS 512
#define MAX_SYMBOLS (4u << 20)
#define MAX_FRAME_SIZE (64ull << 20)
#define MAX_MAPS_BYTES (64u << 20)

/* The scratch buffer, cut in three. */
#define PHDR_AREA 0
#define SHDR_AREA (MAX_PHDRS * sizeof(Elf64_Phdr))
#define SYM_AREA (SHDR_AREA + MAX_SECTIONS * sizeof(Elf64_Shdr))
#define SYM_AREA_SIZE (sizeof(((pydbg__fd_ctx *)0)->scratch) - SYM_AREA)

_Static_assert(SYM_AREA + 64 * sizeof(Elf64_Sym) <= sizeof(((pydbg__fd_ctx *)0)->scratch),
               "scratch too small for the ELF tables");

/* ---- unwinding ----------------------------------------------------------- */

static void add_frame(pydbg__fd_ctx *ctx, uint64_t address)
{
    if (ctx->native_count >= PYDBG__FD_MAX_NATIVE_FRAMES) {
        ctx->native_truncated = 1;
        return;
    }
    memset(&ctx->native[ctx->native_count], 0, sizeof ctx->native[0]);
    ctx->native[ctx->native_count++].address = address;
}

/* One link of the frame-pointer chain: [fp] is the caller's fp, [fp + 8]
 * the return address. Returns 0 when the link is implausible. */
static int fp_step(pydbg__fd_ctx *ctx, uint64_t *pc, uint64_t *fp, uint64_t *sp)
{
    uint64_t link[2];
    if (*fp < *sp || (*fp & 7) != 0 || *fp - *sp > MAX_FRAME_SIZE)
        return 0;
    if (pydbg__read(ctx->reader, *fp, link, sizeof link) != PYDBG_OK || link[1] < 4096)
        return 0;
    *pc = link[1];
    *sp = *fp + 16;
    *fp = link[0];
    return 1;
}

#if !defined(__x86_64__)
/* The frame-pointer walk alone (targets without the CFI unwinder). */
static void unwind_fp(pydbg__fd_ctx *ctx, uint64_t pc, uint64_t fp, uint64_t sp)
{
    ctx->native_count = 0;
    ctx->native_truncated = 0;
    add_frame(ctx, pc);
    /* One more link than fits, to know whether the output is cut. */
    for (int i = 0; i <= PYDBG__FD_MAX_NATIVE_FRAMES; i++) {
        uint64_t old_fp = fp;
        if (!fp_step(ctx, &pc, &fp, &sp))
            break;
        add_frame(ctx, pc);
        ctx->unwind_stats[1]++;
        if (ctx->native_truncated || fp <= old_fp)
            break;
    }
}
#endif

/* ---- /proc/self/maps ------------------------------------------------------ */

static int hex_field(const char **p, const char *end, uint64_t *value)
{
    int digits = 0;
    *value = 0;
    while (*p < end && digits < 17) {
        char c = **p;
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            break;
        *value = *value << 4 | d;
        (*p)++;
        digits++;
    }
    return digits > 0 && digits <= 16;
}

static const char *skip_field(const char *p, const char *end)
{
    while (p < end && *p != ' ')
        p++;
    while (p < end && *p == ' ')
        p++;
    return p;
}

static void match_line(pydbg__fd_ctx *ctx, pydbg__fd_native_frame *frames, size_t count,
                       const char *line, const char *end)
{
    uint64_t start, stop, offset;
    const char *p = line, *path;
    size_t path_length;
    int executable;
    if (!hex_field(&p, end, &start) || p >= end || *p++ != '-' || !hex_field(&p, end, &stop))
        return;
    p = skip_field(p, end);   /* to perms */
    executable = end - p > 3 && p[2] == 'x';
    p = skip_field(p, end);   /* to offset */
    if (!hex_field(&p, end, &offset))
        return;
    p = skip_field(p, end);   /* to dev */
    p = skip_field(p, end);   /* to inode */
    path = skip_field(p, end);
    path_length = (size_t)(end - path);
    (void)ctx;
    for (size_t i = 0; i < count; i++) {
        pydbg__fd_native_frame *f = &frames[i];
        if (f->found || f->address < start || f->address >= stop)
            continue;
        f->found = 1;
        f->executable = executable;
        f->map_start = start;
        f->map_offset = offset;
        if (path_length >= sizeof f->path)
            path_length = 0; /* too long to open: leave unnamed */
        memcpy(f->path, path, path_length);
        f->path[path_length] = '\0';
    }
}

typedef void (*maps_line_fn)(pydbg__fd_ctx *ctx, void *arg, const char *line, const char *end);

/* Calls `fn` for each line of /proc/self/maps (open/read into the scratch
 * buffer). Returns 0 when the file cannot be opened. */
static int read_maps(pydbg__fd_ctx *ctx, maps_line_fn fn, void *arg)
{
    char *buffer = ctx->scratch;
    size_t capacity = sizeof ctx->scratch, used = 0, total = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    for (;;) {
        ssize_t n = read(fd, buffer + used, capacity - used);
        size_t start = 0;
        if (n <= 0)
            break;
        used += (size_t)n;
        total += (size_t)n;
        for (size_t i = 0; i < used; i++) {
            if (buffer[i] != '\n')
                continue;
            fn(ctx, arg, buffer + start, buffer + i);
            start = i + 1;
        }
        if (start == 0 && used == capacity)
            used = 0; /* a line longer than the buffer: not a real maps line */
        else {
            memmove(buffer, buffer + start, used - start);
            used -= start;
        }
        if (total > MAX_MAPS_BYTES)
            break;
    }
    close(fd);
    return 1;
}

typedef struct frame_set {
    pydbg__fd_native_frame *frames;
    size_t count;
} frame_set;

static void match_frames(pydbg__fd_ctx *ctx, void *arg, const char *line, const char *end)
{
    frame_set *set = arg;
    match_line(ctx, set->frames, set->count, line, end);
}

static void find_mappings(pydbg__fd_ctx *ctx, pydbg__fd_native_frame *frames, size_t count)
{
    frame_set set = {frames, count};
    read_maps(ctx, match_frames, &set);
}

/* ---- the loaded objects, for the CFI unwinder ------------------------------- */

/* State of the maps walk: the last mapping at file offset 0 (where an ELF
 * header is), named by its device and inode; a file's mappings are listed
 * together, so that is the base of the executable mappings that follow it. */
typedef struct object_walk {
    uint64_t key, base;
} object_walk;

static uint64_t text_key(const char *p, const char *end)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; p < end; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static void collect_object(pydbg__fd_ctx *ctx, void *arg, const char *line, const char *end)
{
    object_walk *walk = arg;
    uint64_t start, stop, offset, key;
    const char *p = line, *dev, *path;
    int executable, file_backed;
    if (!hex_field(&p, end, &start) || p >= end || *p++ != '-' || !hex_field(&p, end, &stop))
        return;
    p = skip_field(p, end); /* to perms */
    executable = end - p > 3 && p[2] == 'x';
    p = skip_field(p, end); /* to offset */
    if (!hex_field(&p, end, &offset))
        return;
    dev = skip_field(p, end);
    p = skip_field(dev, end); /* to inode */
    path = skip_field(p, end);
    file_backed = !(p < end && *p == '0' && (p + 1 == end || p[1] == ' '));
    key = text_key(dev, path);
    if (file_backed && offset == 0) {
        walk->key = key;
        walk->base = start;
    }
    if (!executable || ctx->nobjects >= PYDBG__FD_MAX_OBJECTS)
        return;
    {
        pydbg__fd_object *o = &ctx->objects[ctx->nobjects++];
        o->start = start;
        o->end = stop;
        o->base = 0;
        o->hdr_state = 0;
        o->eh_frame_hdr = 0;
        if (file_backed && key == walk->key)
            o->base = walk->base;
        else if (!file_backed && end - path == 6 && memcmp(path, "[vdso]", 6) == 0)
            o->base = start; /* the vDSO is a whole ELF image */
    }
}

static const pydbg__fd_object *find_object(pydbg__fd_ctx *ctx, uint64_t pc)
{
    for (size_t i = 0; i < ctx->nobjects; i++) {
        pydbg__fd_object *o = &ctx->objects[i];
        if (pc < o->start || pc >= o->end)
            continue;
        if (o->hdr_state == 0) {
            o->hdr_state = -1;
            if (o->base &&
                pydbg__fd_cfi_find_hdr(ctx->reader, o->base, &o->eh_frame_hdr) == PYDBG_OK)
                o->hdr_state = 1;
        }
        return o;
    }
    return NULL;
}

/* ---- ELF symbols ----------------------------------------------------------- */

static int pread_all(int fd, void *buffer, size_t length, uint64_t offset)
{
    size_t got = 0;
    int tries = 0;
    while (got < length) {
        ssize_t n = pread(fd, (char *)buffer + got, length - got, (off_t)(offset + got));
        if (n <= 0) {
            if (n < 0 && ++tries < 16)
                continue;
            return PYDBG_EIO;
        }
        got += (size_t)n;
    }
    return PYDBG_OK;
}

/* Best symbol so far for one frame. */
typedef struct best {
    uint64_t value, name;
    int exact; /* the symbol's [value, value+size) holds the address */
    int any;
} best;

static void symbolize_file(pydbg__fd_ctx *ctx, int fd, pydbg__fd_native_frame *frames,
                           const size_t *members, size_t nmembers)
{
    Elf64_Ehdr eh;
    Elf64_Phdr *ph = (Elf64_Phdr *)(void *)(ctx->scratch + PHDR_AREA);
    Elf64_Shdr *sh = (Elf64_Shdr *)(void *)(ctx->scratch + SHDR_AREA);
    Elf64_Sym *syms = (Elf64_Sym *)(void *)(ctx->scratch + SYM_AREA);
    const Elf64_Shdr *table = NULL, *strings;
    uint64_t bias[PYDBG__FD_MAX_NATIVE_FRAMES];
    best found[PYDBG__FD_MAX_NATIVE_FRAMES];
    uint64_t nsyms, per_chunk = SYM_AREA_SIZE / sizeof(Elf64_Sym);
    if (pread_all(fd, &eh, sizeof eh, 0) != PYDBG_OK || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phnum > MAX_PHDRS || eh.e_shentsize != sizeof(Elf64_Shdr) ||
        eh.e_shnum > MAX_SECTIONS || eh.e_shnum == 0)
        return;
    if (pread_all(fd, ph, eh.e_phnum * sizeof *ph, eh.e_phoff) != PYDBG_OK ||
        pread_all(fd, sh, eh.e_shnum * sizeof *sh, eh.e_shoff) != PYDBG_OK)
        return;
    for (size_t m = 0; m < nmembers; m++) {
        const pydbg__fd_native_frame *f = &frames[members[m]];
        bias[m] = 0;
        found[m].any = 0;
        found[m].exact = 0;
        /* The PT_LOAD that the mapping's file offset falls in gives the bias. */
        for (unsigned i = 0; i < eh.e_phnum; i++) {
            if (ph[i].p_type != PT_LOAD)
                continue;
            if (f->map_offset + 4096 > ph[i].p_offset &&
                f->map_offset < ph[i].p_offset + ph[i].p_filesz) {
                bias[m] = f->map_start - f->map_offset + ph[i].p_offset - ph[i].p_vaddr;
                break;
            }
        }
    }
    for (unsigned pass = 0; pass < 2 && !table; pass++)
        for (unsigned i = 0; i < eh.e_shnum; i++)
            if (sh[i].sh_type == (pass == 0 ? SHT_SYMTAB : SHT_DYNSYM) &&
                sh[i].sh_entsize == sizeof(Elf64_Sym) && sh[i].sh_link < eh.e_shnum) {
                table = &sh[i];
                break;
            }
    if (!table)
        return;
    strings = &sh[table->sh_link];
    nsyms = table->sh_size / sizeof(Elf64_Sym);
    if (nsyms > MAX_SYMBOLS)
        nsyms = MAX_SYMBOLS;
    for (uint64_t base = 0; base < nsyms; base += per_chunk) {
        uint64_t n = nsyms - base < per_chunk ? nsyms - base : per_chunk;
        if (pread_all(fd, syms, n * sizeof *syms, table->sh_offset + base * sizeof *syms) !=
            PYDBG_OK)
            return;
        for (uint64_t k = 0; k < n; k++) {
            const Elf64_Sym *s = &syms[k];
            unsigned type = ELF64_ST_TYPE(s->st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s->st_shndx == SHN_UNDEF ||
                s->st_value == 0)
                continue;
            for (size_t m = 0; m < nmembers; m++) {
                const pydbg__fd_native_frame *f = &frames[members[m]];
                /* A return address may be one past its call's function. */
                uint64_t at = f->address - bias[m] - (members[m] > 0 ? 1 : 0);
                int exact;
                if (s->st_value > at)
                    continue;
                exact = s->st_size > 0 && at < s->st_value + s->st_size;
                if (s->st_size > 0 && !exact)
                    continue;
                if (!found[m].any || (exact && !found[m].exact) ||
                    (exact == found[m].exact && s->st_value > found[m].value)) {
                    found[m].any = 1;
                    found[m].exact = exact;
                    found[m].value = s->st_value;
                    found[m].name = s->st_name;
                }
            }
        }
    }
    for (size_t m = 0; m < nmembers; m++) {
        pydbg__fd_native_frame *f = &frames[members[m]];
        size_t length = 0;
        ssize_t n;
        if (!found[m].any || found[m].name >= strings->sh_size)
            continue;
        n = pread(fd, f->symbol, sizeof f->symbol - 1, (off_t)(strings->sh_offset + found[m].name));
        if (n <= 0)
            continue;
        while (length < (size_t)n && f->symbol[length] != '\0')
            length++;
        f->symbol[length] = '\0';
        if (length == 0)
            continue;
        f->has_symbol = 1;
        f->symbol_offset = f->address - bias[m] - found[m].value;
    }
}

void pydbg__fd_symbolize(pydbg__fd_ctx *ctx, pydbg__fd_native_frame *frames, size_t count)
{
    size_t members[PYDBG__FD_MAX_NATIVE_FRAMES];
    int done[PYDBG__FD_MAX_NATIVE_FRAMES] = {0};
    if (count > PYDBG__FD_MAX_NATIVE_FRAMES)
        count = PYDBG__FD_MAX_NATIVE_FRAMES;
    for (size_t i = 0; i < count; i++) {
        frames[i].found = frames[i].executable = frames[i].has_symbol = 0;
        frames[i].path[0] = frames[i].symbol[0] = '\0';
    }
    find_mappings(ctx, frames, count);
    /* One open and one pass over the symbols per file. */
    for (size_t i = 0; i < count; i++) {
        size_t nmembers = 0;
        int fd;
        if (done[i] || !frames[i].found || frames[i].path[0] != '/')
            continue;
        for (size_t j = i; j < count; j++)
            if (!done[j] && frames[j].found && strcmp(frames[j].path, frames[i].path) == 0) {
                members[nmembers++] = j;
                done[j] = 1;
            }
        fd = open(frames[i].path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        symbolize_file(ctx, fd, frames, members, nmembers);
        close(fd);
    }
}

/* ---- CFI unwinding (x86_64) ------------------------------------------------ */

#if defined(__x86_64__)
static void regs_from_context(const ucontext_t *uc, pydbg__fd_regs *regs)
{
    /* DWARF numbering: rax rdx rcx rbx rsi rdi rbp rsp r8..r15, then rip. */
    static const int greg[PYDBG__FD_NREGS] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI,
                                              REG_RDI, REG_RBP, REG_RSP, REG_R8,  REG_R9,
                                              REG_R10, REG_R11, REG_R12, REG_R13, REG_R14,
                                              REG_R15, REG_RIP};
    for (int i = 0; i < PYDBG__FD_NREGS; i++)
        regs->r[i] = (uint64_t)uc->uc_mcontext.gregs[greg[i]];
    regs->valid = (1u << PYDBG__FD_NREGS) - 1;
}

/* Walks the stack with the CFI of the objects in /proc/self/maps; a frame
 * without usable CFI is left through the frame-pointer chain instead, and the
 * walk goes on with CFI from its caller. */
static void unwind_cfi(pydbg__fd_ctx *ctx, pydbg__fd_regs *regs)
{
    object_walk walk = {0, 0};
    int exact = 1; /* frame 0 is the interrupted instruction itself */
    ctx->nobjects = 0;
    ctx->native_count = 0;
    ctx->native_truncated = 0;
    if (!read_maps(ctx, collect_object, &walk))
        ctx->nobjects = 0;
    add_frame(ctx, regs->r[PYDBG__FD_REG_RIP]);
    for (int i = 0; i <= PYDBG__FD_MAX_NATIVE_FRAMES; i++) {
        uint64_t pc = regs->r[PYDBG__FD_REG_RIP], old_sp = regs->r[PYDBG__FD_REG_RSP];
        const pydbg__fd_object *o = find_object(ctx, exact ? pc : pc - 1);
        int rc = PYDBG_ENOTFOUND, signal_frame = 0;
        if (o && o->hdr_state == 1) {
            pydbg__fd_cfi_object object = {o->eh_frame_hdr};
            rc = pydbg__fd_cfi_step(ctx->reader, &object, &ctx->cfi, regs, exact, &signal_frame);
            if (rc == PYDBG__FD_CFI_END)
                break;
        }
        if (rc == PYDBG_OK) {
            ctx->unwind_stats[0]++;
        } else if (i == 0 && !o && ctx->nobjects > 0) {
            /* The pc is in no executable mapping: a call through a bad
             * pointer. The call pushed its return address at [rsp]. */
            uint64_t ra;
            if (pydbg__read(ctx->reader, old_sp, &ra, sizeof ra) != PYDBG_OK)
                break;
            regs->r[PYDBG__FD_REG_RIP] = ra;
            regs->r[PYDBG__FD_REG_RSP] = old_sp + 8;
            ctx->unwind_stats[1]++;
        } else {
            uint64_t fp = regs->r[PYDBG__FD_REG_RBP], sp = old_sp, next_pc;
            if (!(regs->valid & (1u << PYDBG__FD_REG_RBP)) || !fp_step(ctx, &next_pc, &fp, &sp))
                break;
            regs->r[PYDBG__FD_REG_RIP] = next_pc;
            regs->r[PYDBG__FD_REG_RBP] = fp;
            regs->r[PYDBG__FD_REG_RSP] = sp;
            /* What the frame saved elsewhere is unknown now. */
            regs->valid = 1u << PYDBG__FD_REG_RIP | 1u << PYDBG__FD_REG_RSP |
                          1u << PYDBG__FD_REG_RBP;
            ctx->unwind_stats[1]++;
        }
        if (regs->r[PYDBG__FD_REG_RIP] < 4096)
            break;
        /* Each caller's frame is above its callee's; only a signal frame may
         * jump (to the interrupted stack, wherever the handler ran). */
        if (!signal_frame && regs->r[PYDBG__FD_REG_RSP] <= old_sp)
            break;
        add_frame(ctx, regs->r[PYDBG__FD_REG_RIP]);
        if (ctx->native_truncated)
            break;
        exact = signal_frame;
    }
}
#endif

/* ---- output ---------------------------------------------------------------- */

void pydbg__fd_dump_native(pydbg__fd_ctx *ctx, const void *ucontext)
{
    const ucontext_t *uc = ucontext;
    uint64_t pc, fp, sp;
    if (!uc)
        return;
#if defined(__x86_64__)
    pc = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    fp = (uint64_t)uc->uc_mcontext.gregs[REG_RBP];
    sp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    pc = (uint64_t)uc->uc_mcontext.pc;
    fp = (uint64_t)uc->uc_mcontext.regs[29];
    sp = (uint64_t)uc->uc_mcontext.sp;
#else
    (void)uc;
    return;
#endif
    ctx->unwind_stats[0] = ctx->unwind_stats[1] = 0;
#if defined(__x86_64__)
    {
        pydbg__fd_regs regs;
        (void)pc;
        (void)fp;
        (void)sp;
        regs_from_context(uc, &regs);
        unwind_cfi(ctx, &regs);
    }
#else
    unwind_fp(ctx, pc, fp, sp);
#endif
    pydbg__fd_symbolize(ctx, ctx->native, ctx->native_count);
    /* A frame-pointer chain through code built without frame pointers yields
     * stack or data addresses: the walk ends at the first one. */
    for (size_t i = 1; i < ctx->native_count; i++)
        if (!ctx->native[i].found || !ctx->native[i].executable) {
            ctx->native_count = i;
            ctx->native_truncated = 0;
            break;
        }
    pydbg__fd_puts(ctx, "\nCurrent thread's C stack trace (most recent call first):\n");
    for (size_t i = 0; i < ctx->native_count; i++) {
        const pydbg__fd_native_frame *f = &ctx->native[i];
        pydbg__fd_puts(ctx, "  Binary file \"");
        pydbg__fd_puts(ctx, f->found && f->path[0] ? f->path : "<unknown>");
        pydbg__fd_puts(ctx, "\"");
        if (f->has_symbol) {
            pydbg__fd_puts(ctx, ", at ");
            pydbg__fd_puts(ctx, f->symbol);
            pydbg__fd_puts(ctx, "+0x");
            pydbg__fd_hex(ctx, f->symbol_offset, 1);
        }
        pydbg__fd_puts(ctx, " [0x");
        pydbg__fd_hex(ctx, f->address, 1);
        pydbg__fd_puts(ctx, "]\n");
    }
    if (ctx->native_truncated)
        pydbg__fd_puts(ctx, "  <truncated rest of calls>\n");
}
