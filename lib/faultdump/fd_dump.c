/* The Python part of a dump: faulthandler's output, produced by a lean walker
 * that is safe in a signal handler.
 *
 * The general walker (lib/walk) allocates, caches and formats messages with
 * vsnprintf; none of that is allowed here. This one reads through the
 * context's non-faulting reader into preallocated buffers, decodes positions
 * with the pure line-table decoders, and writes as it goes. Its structure
 * follows CPython's Python/traceback.c (_Py_DumpTracebackThreads,
 * dump_traceback, dump_frame, _Py_DumpASCII) so that the output matches
 * faulthandler's for the version that runs, limits and markers included. Where
 * faulthandler would dereference a bad pointer (and crash), this walker stops
 * the walk instead. */
#include <pthread.h>
#include <string.h>

#include "code/linetable.h"
#include "faultdump/fd_internal.h"
#include "pydebug/errors.h"

/* Py_TPFLAGS_UNICODE_SUBCLASS (3.x) and Py_TPFLAGS_STRING_SUBCLASS (2.7). */
#define TPFLAGS_UNICODE_SUBCLASS (1ull << 28)
#define TPFLAGS_STRING_SUBCLASS (1ull << 27)

/* A shim frame is never followed by another, but torn data could loop. */
#define MAX_SHIMS_IN_A_ROW 8

static int rd(pydbg__fd_ctx *ctx, uint64_t address, void *buffer, size_t length)
{
    if (address == 0)
        return PYDBG_EREAD;
    return pydbg__read(ctx->reader, address, buffer, length);
}

static int rd_u64(pydbg__fd_ctx *ctx, uint64_t address, uint64_t *value)
{
    return rd(ctx, address, value, sizeof *value);
}

static uint64_t ld64(const unsigned char *base, int32_t offset)
{
    uint64_t v;
    memcpy(&v, base + offset, sizeof v);
    return v;
}

static uint32_t ld32(const unsigned char *base, int32_t offset)
{
    uint32_t v;
    memcpy(&v, base + offset, sizeof v);
    return v;
}

static int32_t span(const int32_t *offsets, size_t count)
{
    int32_t s = 0;
    for (size_t i = 0; i < count; i++)
        if (offsets[i] >= 0 && offsets[i] + 8 > s)
            s = offsets[i] + 8;
    return s;
}

static int minor_version(void)
{
    return pydbg__fd_py.layout.major == 2 ? 0 : pydbg__fd_py.layout.minor;
}

/* ---- strings ------------------------------------------------------------ */

/* PyUnicode_Check (PyString_Check on 2.7): the exact type or a subclass flag. */
static int is_text(pydbg__fd_ctx *ctx, uint64_t object)
{
    const pydbg__layout *l = &pydbg__fd_py.layout;
    int py2 = l->string_model == PYDBG__STRINGS_PY2;
    uint64_t exact = py2 ? pydbg__fd_py.type_bytes : pydbg__fd_py.type_str;
    uint64_t type, flags;
    if (object == 0 || rd_u64(ctx, object + (uint64_t)l->object.ob_type, &type) != PYDBG_OK)
        return 0;
    if (type == exact && exact != 0)
        return 1;
    if (type == 0 || l->type.tp_flags < 0 ||
        rd_u64(ctx, type + (uint64_t)l->type.tp_flags, &flags) != PYDBG_OK)
        return 0;
    return (flags & (py2 ? TPFLAGS_STRING_SUBCLASS : TPFLAGS_UNICODE_SUBCLASS)) != 0;
}

static void put_char(pydbg__fd_ctx *ctx, uint32_t ch)
{
    if (ch >= ' ' && ch <= 126) {
        char c = (char)ch;
        pydbg__fd_write(ctx, &c, 1);
    } else if (ch <= 0xff) {
        pydbg__fd_puts(ctx, "\\x");
        pydbg__fd_hex(ctx, ch, 2);
    } else if (ch <= 0xffff) {
        pydbg__fd_puts(ctx, "\\u");
        pydbg__fd_hex(ctx, ch, 4);
    } else {
        pydbg__fd_puts(ctx, "\\U");
        pydbg__fd_hex(ctx, ch, 8);
    }
}

/* _Py_DumpASCII: at most 500 characters, escaped, then "..." if cut. Prints
 * nothing for what it cannot read (as faulthandler does for a NULL buffer). */
static void dump_ascii(pydbg__fd_ctx *ctx, uint64_t text)
{
    const pydbg__layout *l = &pydbg__fd_py.layout;
    unsigned char head[128];
    uint64_t data;
    int64_t length;
    unsigned kind;
    int truncated = 0;
    if (l->string_model == PYDBG__STRINGS_PY2) {
        int64_t size;
        if (rd(ctx, text, head, (size_t)l->bytes.ob_sval) != PYDBG_OK)
            return;
        size = (int64_t)ld64(head, l->bytes.ob_size);
        if (size < 0)
            return;
        if (size > PYDBG__FD_MAX_STRING_LENGTH) {
            size = PYDBG__FD_MAX_STRING_LENGTH;
            truncated = 1;
        }
        if (rd(ctx, text + (uint64_t)l->bytes.ob_sval, ctx->string, (size_t)size) != PYDBG_OK)
            return;
        for (int64_t i = 0; i < size; i++)
            put_char(ctx, ctx->string[i]);
        if (truncated)
            pydbg__fd_puts(ctx, "...");
        return;
    }
    if (l->unicode.state < 0 || l->unicode.compact_data + 8 > (int32_t)sizeof head ||
        rd(ctx, text, head, (size_t)l->unicode.compact_data + 8) != PYDBG_OK)
        return;
    {
        uint32_t state = ld32(head, l->unicode.state);
        unsigned compact = (state >> l->unicode.compact_bit) & 1u;
        unsigned ascii = (state >> l->unicode.ascii_bit) & 1u;
        kind = (state >> l->unicode.kind_shift) & 7u;
        length = (int64_t)ld64(head, l->unicode.length);
        if (compact)
            data = text + (uint64_t)(ascii ? l->unicode.ascii_data : l->unicode.compact_data);
        else /* PyUnicodeObject: the data pointer follows the compact header */
            data = ld64(head, l->unicode.compact_data);
    }
    /* Kind 0 is the wchar_t-only representation of 3.6-3.11 legacy strings,
     * which code object names never use. */
    if ((kind != 1 && kind != 2 && kind != 4) || length < 0 || data == 0)
        return;
    if (length > PYDBG__FD_MAX_STRING_LENGTH) {
        length = PYDBG__FD_MAX_STRING_LENGTH;
        truncated = 1;
    }
    if (rd(ctx, data, ctx->string, (size_t)length * kind) != PYDBG_OK)
        return;
    for (int64_t i = 0; i < length; i++) {
        uint32_t ch;
        if (kind == 1)
            ch = ctx->string[i];
        else if (kind == 2)
            ch = (uint32_t)ctx->string[2 * i] | (uint32_t)ctx->string[2 * i + 1] << 8;
        else
            ch = ld32(ctx->string, (int32_t)(4 * i));
        put_char(ctx, ch);
    }
    if (truncated)
        pydbg__fd_puts(ctx, "...");
}

/* ---- code objects and lines --------------------------------------------- */

typedef struct code_fields {
    uint64_t name, filename, linetable;
    int first_line;
} code_fields;

static int read_code(pydbg__fd_ctx *ctx, uint64_t code, code_fields *out)
{
    const pydbg__layout *l = &pydbg__fd_py.layout;
    const int32_t fields[] = {l->object.ob_type, l->code.co_name, l->code.co_filename,
                              l->code.co_linetable, l->code.co_firstlineno};
    unsigned char local[512];
    int32_t s = span(fields, sizeof fields / sizeof fields[0]);
    if (s > (int32_t)sizeof local || rd(ctx, code, local, (size_t)s) != PYDBG_OK)
        return PYDBG_EREAD;
    if (ld64(local, l->object.ob_type) != pydbg__fd_py.type_code)
        return PYDBG_ECORRUPT;
    out->name = ld64(local, l->code.co_name);
    out->filename = ld64(local, l->code.co_filename);
    out->linetable = ld64(local, l->code.co_linetable);
    out->first_line = (int)ld32(local, l->code.co_firstlineno);
    return PYDBG_OK;
}

/* PyCode_Addr2Line(code, offset), or -1 when the table cannot be read. */
static int code_line(pydbg__fd_ctx *ctx, const code_fields *code, int offset)
{
    const pydbg__layout *l = &pydbg__fd_py.layout;
    unsigned char head[64];
    int64_t size;
    if (offset < 0)
        return code->first_line;
    if (l->bytes.ob_sval > (int32_t)sizeof head ||
        rd(ctx, code->linetable, head, (size_t)l->bytes.ob_sval) != PYDBG_OK ||
        ld64(head, l->object.ob_type) != pydbg__fd_py.type_bytes)
        return -1;
    size = (int64_t)ld64(head, l->bytes.ob_size);
    if (size < 0 || size > (int64_t)PYDBG__FD_LINETABLE_CAP ||
        rd(ctx, code->linetable + (uint64_t)l->bytes.ob_sval, ctx->linetable, (size_t)size) !=
            PYDBG_OK)
        return -1;
    switch (l->line_model) {
    case PYDBG__LINES_LNOTAB:
        return pydbg__lnotab_line(ctx->linetable, (size_t)size, code->first_line, offset,
                                  l->major >= 3);
    case PYDBG__LINES_LINETABLE_310:
        return pydbg__linetable310_line(ctx->linetable, (size_t)size, code->first_line, offset);
    case PYDBG__LINES_LOCATIONS_311: {
        pydbg__position position;
        pydbg__locations_lookup(ctx->linetable, (size_t)size, code->first_line, offset,
                                &position);
        return position.line;
    }
    default:
        return -1;
    }
}

/* dump_frame: `  File "name", line N in func`. */
static void dump_frame(pydbg__fd_ctx *ctx, const code_fields *code, int have_code, int offset)
{
    int line = have_code ? code_line(ctx, code, offset) : -1;
    pydbg__fd_puts(ctx, "  File ");
    if (have_code && is_text(ctx, code->filename)) {
        pydbg__fd_puts(ctx, "\"");
        dump_ascii(ctx, code->filename);
        pydbg__fd_puts(ctx, "\"");
    } else {
        pydbg__fd_puts(ctx, "???");
    }
    pydbg__fd_puts(ctx, ", line ");
    if (line >= 0)
        pydbg__fd_decimal(ctx, (uint64_t)line);
    else
        pydbg__fd_puts(ctx, "???");
    pydbg__fd_puts(ctx, " in ");
    if (have_code && is_text(ctx, code->name))
        dump_ascii(ctx, code->name);
    else
        pydbg__fd_puts(ctx, "???");
    pydbg__fd_puts(ctx, "\n");
}

/* ---- frames ----------------------------------------------------------- */

typedef struct frame_rec {
    uint64_t next;  /* f_back / previous */
    uint64_t code;
    int offset;     /* byte offset of the instruction, or negative if not started */
    int shim;       /* a frame C code pushed to enter the interpreter (3.12+) */
} frame_rec;

static int read_frame(pydbg__fd_ctx *ctx, uint64_t frame, frame_rec *out)
{
    const pydbg__layout *l = &pydbg__fd_py.layout;
    unsigned char local[256];
    out->shim = 0;
    if (l->frame_model == PYDBG__FRAME_OBJECTS) {
        const int32_t fields[] = {l->frame.f_back, l->frame.f_code, l->frame.f_lasti};
        int32_t s = span(fields, 3);
        int lasti;
        if (s > (int32_t)sizeof local || rd(ctx, frame, local, (size_t)s) != PYDBG_OK)
            return PYDBG_EREAD;
        out->next = ld64(local, l->frame.f_back);
        out->code = ld64(local, l->frame.f_code);
        lasti = (int)ld32(local, l->frame.f_lasti);
        /* 3.10 counts code units; before, f_lasti is already in bytes. */
        out->offset = l->line_model == PYDBG__LINES_LINETABLE_310 && lasti >= 0 ? lasti * 2
                                                                                  : lasti;
        return PYDBG_OK;
    }
    {
        const int32_t fields[] = {l->iframe.previous, l->iframe.executable, l->iframe.instr_ptr,
                                  l->iframe.owner};
        int32_t s = span(fields, 4);
        unsigned owner;
        uint64_t instr;
        int64_t offset;
        if (s > (int32_t)sizeof local || rd(ctx, frame, local, (size_t)s) != PYDBG_OK)
            return PYDBG_EREAD;
        out->next = ld64(local, l->iframe.previous);
        out->code = ld64(local, l->iframe.executable) & ~l->iframe_tag_mask;
        owner = local[l->iframe.owner];
        out->shim = pydbg__layout_skips_owner(l, owner);
        instr = ld64(local, l->iframe.instr_ptr);
        /* _PyInterpreterFrame_LASTI * sizeof(_Py_CODEUNIT): prev_instr (3.11,
         * 3.12) or instr_ptr (3.13) relative to the first code unit. */
        offset = (int64_t)(instr - (out->code + (uint64_t)l->code.co_code_adaptive));
        if (offset < -2 || offset > (1 << 28))
            offset = -2;
        out->offset = (int)offset;
        return PYDBG_OK;
    }
}

/* Moves past shim frames, as faulthandler does after each frame. Returns 0 at
 * the end of the chain or when a frame cannot be read. */
static uint64_t skip_shims(pydbg__fd_ctx *ctx, uint64_t frame, frame_rec *rec)
{
    for (int i = 0; frame && i < MAX_SHIMS_IN_A_ROW; i++) {
        if (read_frame(ctx, frame, rec) != PYDBG_OK)
            return 0;
        if (!rec->shim)
            return frame;
        frame = rec->next;
    }
    return 0;
}

/* Whether a stack cut at MAX_FRAME_DEPTH ends with "  ...". Every version
 * does, except 3.13.0, measured: its faulthandler stops silently. */
static int depth_marker(void)
{
    return (pydbg__fd_py.hexversion & 0xFFFFFF00u) != 0x030D0000u;
}

static void no_frame(pydbg__fd_ctx *ctx)
{
    int minor = minor_version();
    if (minor >= 10)
        pydbg__fd_puts(ctx, "  <no Python frame>\n");
    else if (minor >= 8)
        pydbg__fd_puts(ctx, "<no Python frame>\n");
    /* 2.7, 3.6 and 3.7 print nothing for a thread without frames. */
}

/* dump_traceback: at most MAX_FRAME_DEPTH frames, then "  ..." if more. */
static void dump_traceback(pydbg__fd_ctx *ctx, uint64_t top, int write_header)
{
    frame_rec rec;
    uint64_t frame;
    unsigned depth = 0;
    if (write_header)
        pydbg__fd_puts(ctx, "Stack (most recent call first):\n");
    frame = skip_shims(ctx, top, &rec);
    if (frame == 0) {
        no_frame(ctx);
        return;
    }
    for (;;) {
        code_fields code = {0, 0, 0, 0};
        int have_code;
        if (depth >= PYDBG__FD_MAX_FRAME_DEPTH) {
            if (depth_marker())
                pydbg__fd_puts(ctx, "  ...\n");
            break;
        }
        have_code = read_code(ctx, rec.code, &code) == PYDBG_OK;
        /* Before 3.11 faulthandler stops at anything that is not a frame
         * object (PyFrame_Check); a frame without a code object is one. */
        if (!have_code && pydbg__fd_py.layout.frame_model == PYDBG__FRAME_OBJECTS)
            break;
        dump_frame(ctx, &code, have_code, rec.offset);
        frame = skip_shims(ctx, rec.next, &rec);
        if (frame == 0)
            break;
        depth++;
    }
}

/* ---- threads ---------------------------------------------------------- */

typedef struct thread_rec {
    uint64_t interp, next, ident, top;
} thread_rec;

static int read_thread(pydbg__fd_ctx *ctx, uint64_t tstate, thread_rec *out)
{
    const pydbg__layout *l = &pydbg__fd_py.layout;
    const int32_t fields[] = {l->tstate.next, l->tstate.interp, l->tstate.frame, l->tstate.cframe,
                              l->tstate.thread_id};
    unsigned char local[512];
    int32_t s = span(fields, sizeof fields / sizeof fields[0]);
    if (s > (int32_t)sizeof local || rd(ctx, tstate, local, (size_t)s) != PYDBG_OK)
        return PYDBG_EREAD;
    out->interp = ld64(local, l->tstate.interp);
    out->next = ld64(local, l->tstate.next);
    out->ident = ld64(local, l->tstate.thread_id);
    if (l->frame_model == PYDBG__FRAME_OBJECTS || l->frame_model == PYDBG__IFRAME_313) {
        out->top = ld64(local, l->tstate.frame);
    } else {
        uint64_t cframe = ld64(local, l->tstate.cframe);
        out->top = 0;
        if (cframe && rd_u64(ctx, cframe + (uint64_t)l->cframe.current_frame, &out->top) !=
                          PYDBG_OK)
            out->top = 0;
    }
    return PYDBG_OK;
}

static uint64_t first_interpreter(pydbg__fd_ctx *ctx)
{
    const pydbg__layout *l = &pydbg__fd_py.layout;
    uint64_t interp = 0;
    if (pydbg__fd_py.runtime && l->runtime.interpreters_head >= 0)
        rd_u64(ctx, pydbg__fd_py.runtime + (uint64_t)l->runtime.interpreters_head, &interp);
    else if (pydbg__fd_py.interp_head_var)
        rd_u64(ctx, pydbg__fd_py.interp_head_var, &interp);
    return interp;
}

/* The main interpreter (_PyGILState_GetInterpreterStateUnsafe): recorded in
 * the runtime from 3.7, else the oldest, which is the last of the list. */
static uint64_t main_interpreter(pydbg__fd_ctx *ctx)
{
    const pydbg__layout *l = &pydbg__fd_py.layout;
    uint64_t interp = 0, last = 0;
    if (pydbg__fd_py.runtime && l->runtime.interpreters_main >= 0 &&
        rd_u64(ctx, pydbg__fd_py.runtime + (uint64_t)l->runtime.interpreters_main, &interp) ==
            PYDBG_OK &&
        interp)
        return interp;
    interp = first_interpreter(ctx);
    for (int i = 0; interp && i < PYDBG__FD_MAX_INTERPRETERS; i++) {
        last = interp;
        if (rd_u64(ctx, interp + (uint64_t)l->interp.next, &interp) != PYDBG_OK)
            break;
    }
    return last;
}

/* The calling thread's thread state (what PyGILState_GetThisThreadState
 * gives faulthandler): the one whose thread_id is pthread_self(). */
static uint64_t current_tstate(pydbg__fd_ctx *ctx, uint64_t *interp_out)
{
    const pydbg__layout *l = &pydbg__fd_py.layout;
    uint64_t self = (uint64_t)pthread_self();
    uint64_t interp = first_interpreter(ctx);
    for (int i = 0; interp && i < PYDBG__FD_MAX_INTERPRETERS; i++) {
        uint64_t tstate = 0;
        rd_u64(ctx, interp + (uint64_t)l->interp.tstate_head, &tstate);
        for (int n = 0; tstate && n < PYDBG__FD_MAX_SCAN_THREADS; n++) {
            thread_rec rec;
            if (read_thread(ctx, tstate, &rec) != PYDBG_OK)
                break;
            if (rec.ident == self) {
                *interp_out = interp;
                return tstate;
            }
            tstate = rec.next;
        }
        if (rd_u64(ctx, interp + (uint64_t)l->interp.next, &interp) != PYDBG_OK)
            break;
    }
    return 0;
}

static void write_thread_id(pydbg__fd_ctx *ctx, uint64_t ident, int is_current)
{
    pydbg__fd_puts(ctx, is_current ? "Current thread 0x" : "Thread 0x");
    pydbg__fd_hex(ctx, ident, 16);
    pydbg__fd_puts(ctx, " (most recent call first):\n");
}

int pydbg__fd_dump_python(pydbg__fd_ctx *ctx, int all_threads, int as_watchdog)
{
    const pydbg__layout *l = &pydbg__fd_py.layout;
    uint64_t interp = 0, current = 0, tstate = 0;
    unsigned nthreads = 0;
    if (!pydbg__fd_py.ready)
        return PYDBG_ENOTPYTHON;
    /* The watchdog thread has no thread state: no thread is "current". */
    if (!as_watchdog)
        current = current_tstate(ctx, &interp);
    if (!all_threads) {
        thread_rec rec;
        if (current == 0 || read_thread(ctx, current, &rec) != PYDBG_OK)
            return PYDBG_OK;
        dump_traceback(ctx, rec.top, 1);
        return PYDBG_OK;
    }
    if (!interp)
        interp = main_interpreter(ctx);
    if (!interp)
        return PYDBG_ENOTPYTHON; /* not initialised yet, or finalised */
    if (rd_u64(ctx, interp + (uint64_t)l->interp.tstate_head, &tstate) != PYDBG_OK || !tstate)
        return PYDBG_OK; /* "unable to get the thread head state" */
    do {
        thread_rec rec;
        if (nthreads != 0)
            pydbg__fd_puts(ctx, "\n");
        if (nthreads >= PYDBG__FD_MAX_NTHREADS) {
            pydbg__fd_puts(ctx, "...\n");
            break;
        }
        if (read_thread(ctx, tstate, &rec) != PYDBG_OK)
            break;
        write_thread_id(ctx, rec.ident, tstate == current);
        dump_traceback(ctx, rec.top, 0);
        tstate = rec.next;
        nthreads++;
    } while (tstate != 0);
    return PYDBG_OK;
}
