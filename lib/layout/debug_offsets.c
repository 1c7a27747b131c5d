/* Reading the `_Py_DebugOffsets` a 3.13+ interpreter publishes at the start
 * of `_PyRuntime`, and turning it into a pydbg__layout.
 *
 * The struct is a cookie, the version, a free-threading flag and sub-structs
 * of uint64 offsets. Its field order is only stable within a minor version
 * (3.14 inserted fields in the middle of several sub-structs), so each known
 * minor version has its own mirror below; the 3.14 one is normalised to the
 * 3.13 shape, which has every field this library uses.
 *
 * Sources: 3.13 from Include/internal/pycore_runtime.h as installed with
 * 3.13.0; 3.14 from Include/internal/pycore_debug_offsets.h of the 3.14
 * branch (see layout_314.c for where it was read and how it was checked).
 *
 * The published values are untrusted data: every offset used is checked
 * against the published size of its struct, and the sizes against fixed
 * bounds, before anything is overlaid on the base table. */
#include <stdio.h>
#include <string.h>

#include "layout/layout.h"
#include "layout/layout_handwritten.h"

/* "xdebugpy" (_Py_Debug_Cookie), without its NUL. */
static const unsigned char debug_cookie[8] = {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'};

/* The runtime and interpreter states embed big tables (static objects, type
 * caches): 277 KiB and 190 KiB in 3.13. Everything else is a few hundred
 * bytes. The bounds only reject garbage, with room for growth. */
#define MAX_STATE_SIZE (16u << 20)
#define MAX_OBJECT_SIZE (1u << 20)

/* _Py_DebugOffsets of 3.13 (pycore_runtime.h, typedef struct _Py_DebugOffsets),
 * the cookie excepted. All fields are uint64_t, so there is no padding. */
typedef struct do_313 {
    uint64_t version;
    uint64_t free_threaded;
    struct {
        uint64_t size, finalizing, interpreters_head;
    } runtime_state;
    struct {
        uint64_t size, id, next, threads_head, gc, imports_modules, sysdict, builtins, ceval_gil,
            gil_runtime_state, gil_runtime_state_enabled, gil_runtime_state_locked,
            gil_runtime_state_holder;
    } interpreter_state;
    struct {
        uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id,
            datastack_chunk, status;
    } thread_state;
    struct {
        uint64_t size, previous, executable, instr_ptr, localsplus, owner;
    } interpreter_frame;
    struct {
        uint64_t size, filename, name, qualname, linetable, firstlineno, argcount, localsplusnames,
            localspluskinds, co_code_adaptive;
    } code_object;
    struct {
        uint64_t size, ob_type;
    } pyobject;
    struct {
        uint64_t size, tp_name, tp_repr, tp_flags;
    } type_object;
    struct {
        uint64_t size, ob_item, ob_size;
    } tuple_object, list_object;
    struct {
        uint64_t size, ma_keys, ma_values;
    } dict_object;
    struct {
        uint64_t size, ob_fval;
    } float_object;
    struct {
        uint64_t size, lv_tag, ob_digit;
    } long_object;
    struct {
        uint64_t size, ob_size, ob_sval;
    } bytes_object;
    struct {
        uint64_t size, state, length, asciiobject_size;
    } unicode_object;
    struct {
        uint64_t size, collecting;
    } gc;
} do_313;

/* _Py_DebugOffsets of 3.14 (pycore_debug_offsets.h), the cookie excepted.
 * New against 3.13: interpreter_state.threads_main, .code_object_generation,
 * .tlbc_generation; interpreter_frame.stackpointer, .tlbc_index;
 * code_object.co_tlbc; set_object; gen_object; llist_node; debugger_support. */
typedef struct do_314 {
    uint64_t version;
    uint64_t free_threaded;
    struct {
        uint64_t size, finalizing, interpreters_head;
    } runtime_state;
    struct {
        uint64_t size, id, next, threads_head, threads_main, gc, imports_modules, sysdict, builtins,
            ceval_gil, gil_runtime_state, gil_runtime_state_enabled, gil_runtime_state_locked,
            gil_runtime_state_holder, code_object_generation, tlbc_generation;
    } interpreter_state;
    struct {
        uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id,
            datastack_chunk, status;
    } thread_state;
    struct {
        uint64_t size, previous, executable, instr_ptr, localsplus, owner, stackpointer, tlbc_index;
    } interpreter_frame;
    struct {
        uint64_t size, filename, name, qualname, linetable, firstlineno, argcount, localsplusnames,
            localspluskinds, co_code_adaptive, co_tlbc;
    } code_object;
    struct {
        uint64_t size, ob_type;
    } pyobject;
    struct {
        uint64_t size, tp_name, tp_repr, tp_flags;
    } type_object;
    struct {
        uint64_t size, ob_item, ob_size;
    } tuple_object, list_object;
    struct {
        uint64_t size, used, table, mask;
    } set_object;
    struct {
        uint64_t size, ma_keys, ma_values;
    } dict_object;
    struct {
        uint64_t size, ob_fval;
    } float_object;
    struct {
        uint64_t size, lv_tag, ob_digit;
    } long_object;
    struct {
        uint64_t size, ob_size, ob_sval;
    } bytes_object;
    struct {
        uint64_t size, state, length, asciiobject_size;
    } unicode_object;
    struct {
        uint64_t size, collecting;
    } gc;
    struct {
        uint64_t size, gi_name, gi_iframe, gi_frame_state;
    } gen_object;
    struct {
        uint64_t next, prev;
    } llist_node;
    struct {
        uint64_t eval_breaker, remote_debugger_support, remote_debugging_enabled,
            debugger_pending_call, debugger_script_path, debugger_script_path_size;
    } debugger_support;
} do_314;

/* Sizes in the target, cookie included: 584 and 760 bytes. */
#define DO_313_SIZE (8 + sizeof(do_313))
#define DO_314_SIZE (8 + sizeof(do_314))
_Static_assert(sizeof(do_313) == 72 * 8, "do_313 must mirror 3.13's 73 words");
_Static_assert(sizeof(do_314) == 94 * 8, "do_314 must mirror 3.14's 95 words");
#define DO_MAX_SIZE DO_314_SIZE
#define DO_HEADER_SIZE 24 /* cookie, version, free_threaded */

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Decodes the little-endian words after the cookie into `words`. */
static void decode_words(const unsigned char *raw, uint64_t *words, size_t count)
{
    for (size_t i = 0; i < count; i++)
        words[i] = load_le64(raw + 8 + 8 * i);
}

static void normalise_314(do_313 *out, const do_314 *in)
{
    out->version = in->version;
    out->free_threaded = in->free_threaded;
    memcpy(&out->runtime_state, &in->runtime_state, sizeof out->runtime_state);
    out->interpreter_state.size = in->interpreter_state.size;
    out->interpreter_state.id = in->interpreter_state.id;
    out->interpreter_state.next = in->interpreter_state.next;
    out->interpreter_state.threads_head = in->interpreter_state.threads_head;
    out->interpreter_state.gc = in->interpreter_state.gc;
    out->interpreter_state.imports_modules = in->interpreter_state.imports_modules;
    out->interpreter_state.sysdict = in->interpreter_state.sysdict;
    out->interpreter_state.builtins = in->interpreter_state.builtins;
    out->interpreter_state.ceval_gil = in->interpreter_state.ceval_gil;
    out->interpreter_state.gil_runtime_state = in->interpreter_state.gil_runtime_state;
    out->interpreter_state.gil_runtime_state_enabled =
        in->interpreter_state.gil_runtime_state_enabled;
    out->interpreter_state.gil_runtime_state_locked =
        in->interpreter_state.gil_runtime_state_locked;
    out->interpreter_state.gil_runtime_state_holder =
        in->interpreter_state.gil_runtime_state_holder;
    memcpy(&out->thread_state, &in->thread_state, sizeof out->thread_state);
    /* The first six interpreter_frame fields and the first ten code_object
     * fields keep their 3.13 order. */
    memcpy(&out->interpreter_frame, &in->interpreter_frame, sizeof out->interpreter_frame);
    memcpy(&out->code_object, &in->code_object, sizeof out->code_object);
    memcpy(&out->pyobject, &in->pyobject, sizeof out->pyobject);
    memcpy(&out->type_object, &in->type_object, sizeof out->type_object);
    memcpy(&out->tuple_object, &in->tuple_object, sizeof out->tuple_object);
    memcpy(&out->list_object, &in->list_object, sizeof out->list_object);
    memcpy(&out->dict_object, &in->dict_object, sizeof out->dict_object);
    memcpy(&out->float_object, &in->float_object, sizeof out->float_object);
    memcpy(&out->long_object, &in->long_object, sizeof out->long_object);
    memcpy(&out->bytes_object, &in->bytes_object, sizeof out->bytes_object);
    memcpy(&out->unicode_object, &in->unicode_object, sizeof out->unicode_object);
    memcpy(&out->gc, &in->gc, sizeof out->gc);
}

/* "3.13.0", "3.15.0a1", "3.14.0rc2" from a PY_VERSION_HEX. */
static void format_hexversion(uint64_t v, char *buf, size_t size)
{
    unsigned level = (unsigned)(v >> 4) & 0xf, serial = (unsigned)v & 0xf;
    const char *tag = level == 0xa ? "a" : level == 0xb ? "b" : level == 0xc ? "rc" : "";
    if (v > 0xffffffffu)
        snprintf(buf, size, "0x%llx", (unsigned long long)v);
    else if (level == 0xf)
        snprintf(buf, size, "%u.%u.%u", (unsigned)(v >> 24) & 0xff, (unsigned)(v >> 16) & 0xff,
                 (unsigned)(v >> 8) & 0xff);
    else if (*tag)
        snprintf(buf, size, "%u.%u.%u%s%u", (unsigned)(v >> 24) & 0xff, (unsigned)(v >> 16) & 0xff,
                 (unsigned)(v >> 8) & 0xff, tag, serial);
    else
        snprintf(buf, size, "0x%08llx", (unsigned long long)v);
}

/* One offset the library will use: `offset + width` must lie inside the struct. */
typedef struct field_check {
    const char *name;
    uint64_t offset;
    uint64_t width;
} field_check;

static int check_struct(pydbg__error *err, uint64_t address, const char *struct_name, uint64_t size,
                        uint64_t max_size, const field_check *fields, size_t count)
{
    if (size == 0 || size > max_size)
        return pydbg__fail(err, PYDBG_ECORRUPT,
                           "_Py_DebugOffsets at 0x%llx: implausible size %llu for %s",
                           (unsigned long long)address, (unsigned long long)size, struct_name);
    for (size_t i = 0; i < count; i++) {
        /* Compared without adding, so a huge offset cannot wrap around. */
        if (fields[i].offset >= size || fields[i].width > size - fields[i].offset)
            return pydbg__fail(err, PYDBG_ECORRUPT,
                               "_Py_DebugOffsets at 0x%llx: %s.%s at offset %llu is beyond "
                               "its size %llu",
                               (unsigned long long)address, struct_name, fields[i].name,
                               (unsigned long long)fields[i].offset, (unsigned long long)size);
    }
    return PYDBG_OK;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int validate(const do_313 *d, uint64_t address, pydbg__error *err)
{
    const field_check runtime[] = {{"interpreters.head", d->runtime_state.interpreters_head, 8}};
    const field_check interp[] = {
        {"id", d->interpreter_state.id, 8},
        {"next", d->interpreter_state.next, 8},
        {"threads.head", d->interpreter_state.threads_head, 8},
        {"gc", d->interpreter_state.gc, 8},
        {"imports.modules", d->interpreter_state.imports_modules, 8},
        {"sysdict", d->interpreter_state.sysdict, 8},
        {"ceval.gil", d->interpreter_state.ceval_gil, 8},
        {"_gil", d->interpreter_state.gil_runtime_state, 8},
        {"_gil.locked", d->interpreter_state.gil_runtime_state_locked, 4},
        {"_gil.last_holder", d->interpreter_state.gil_runtime_state_holder, 8},
    };
    const field_check tstate[] = {
        {"prev", d->thread_state.prev, 8},
        {"next", d->thread_state.next, 8},
        {"interp", d->thread_state.interp, 8},
        {"current_frame", d->thread_state.current_frame, 8},
        {"thread_id", d->thread_state.thread_id, 8},
        {"native_thread_id", d->thread_state.native_thread_id, 8},
        {"datastack_chunk", d->thread_state.datastack_chunk, 8},
    };
    const field_check iframe[] = {
        {"previous", d->interpreter_frame.previous, 8},
        {"f_executable", d->interpreter_frame.executable, 8},
        {"instr_ptr", d->interpreter_frame.instr_ptr, 8},
        {"owner", d->interpreter_frame.owner, 1},
        {"localsplus", d->interpreter_frame.localsplus, 8},
    };
    const field_check code[] = {
        {"co_filename", d->code_object.filename, 8},
        {"co_name", d->code_object.name, 8},
        {"co_qualname", d->code_object.qualname, 8},
        {"co_linetable", d->code_object.linetable, 8},
        {"co_firstlineno", d->code_object.firstlineno, 4},
        {"co_code_adaptive", d->code_object.co_code_adaptive, 2},
    };
    const field_check object[] = {{"ob_type", d->pyobject.ob_type, 8}};
    const field_check type[] = {
        {"tp_name", d->type_object.tp_name, 8},
        {"tp_flags", d->type_object.tp_flags, 8},
    };
    const field_check tuple[] = {
        {"ob_size", d->tuple_object.ob_size, 8},
        {"ob_item", d->tuple_object.ob_item, 8},
    };
    const field_check list[] = {{"ob_item", d->list_object.ob_item, 8}};
    const field_check dict[] = {
        {"ma_keys", d->dict_object.ma_keys, 8},
        {"ma_values", d->dict_object.ma_values, 8},
    };
    const field_check pylong[] = {
        {"lv_tag", d->long_object.lv_tag, 8},
        {"ob_digit", d->long_object.ob_digit, 4},
    };
    const field_check bytes[] = {
        {"ob_size", d->bytes_object.ob_size, 8},
        {"ob_sval", d->bytes_object.ob_sval, 1},
    };
    /* The data of a compact ASCII string starts right after PyASCIIObject,
     * which PyUnicodeObject extends. */
    const field_check unicode[] = {
        {"state", d->unicode_object.state, 4},
        {"length", d->unicode_object.length, 8},
        {"(PyASCIIObject end)", d->unicode_object.asciiobject_size, 0},
    };
    int rc;
    if ((rc = check_struct(err, address, "_PyRuntimeState", d->runtime_state.size, MAX_STATE_SIZE,
                           runtime, COUNT(runtime))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyInterpreterState", d->interpreter_state.size,
                           MAX_STATE_SIZE, interp, COUNT(interp))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyThreadState", d->thread_state.size, MAX_OBJECT_SIZE,
                           tstate, COUNT(tstate))) != PYDBG_OK ||
        (rc = check_struct(err, address, "_PyInterpreterFrame", d->interpreter_frame.size,
                           MAX_OBJECT_SIZE, iframe, COUNT(iframe))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyCodeObject", d->code_object.size, MAX_OBJECT_SIZE, code,
                           COUNT(code))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyObject", d->pyobject.size, MAX_OBJECT_SIZE, object,
                           COUNT(object))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyTypeObject", d->type_object.size, MAX_OBJECT_SIZE, type,
                           COUNT(type))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyTupleObject", d->tuple_object.size, MAX_OBJECT_SIZE,
                           tuple, COUNT(tuple))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyListObject", d->list_object.size, MAX_OBJECT_SIZE, list,
                           COUNT(list))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyDictObject", d->dict_object.size, MAX_OBJECT_SIZE, dict,
                           COUNT(dict))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyLongObject", d->long_object.size, MAX_OBJECT_SIZE,
                           pylong, COUNT(pylong))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyBytesObject", d->bytes_object.size, MAX_OBJECT_SIZE,
                           bytes, COUNT(bytes))) != PYDBG_OK ||
        (rc = check_struct(err, address, "PyUnicodeObject", d->unicode_object.size, MAX_OBJECT_SIZE,
                           unicode, COUNT(unicode))) != PYDBG_OK)
        return rc;
    /* The GIL fields are published as offsets in PyInterpreterState of fields
     * of the embedded _gil; the layout wants them relative to the struct that
     * ceval.gil points to, so they must come after its start. */
    if (d->interpreter_state.gil_runtime_state_locked < d->interpreter_state.gil_runtime_state ||
        d->interpreter_state.gil_runtime_state_holder < d->interpreter_state.gil_runtime_state)
        return pydbg__fail(err, PYDBG_ECORRUPT,
                           "_Py_DebugOffsets at 0x%llx: _gil fields (%llu, %llu) lie before "
                           "_gil (%llu)",
                           (unsigned long long)address,
                           (unsigned long long)d->interpreter_state.gil_runtime_state_locked,
                           (unsigned long long)d->interpreter_state.gil_runtime_state_holder,
                           (unsigned long long)d->interpreter_state.gil_runtime_state);
    /* Every PyVarObject has ob_size in the same place. */
    if (d->list_object.ob_size != d->tuple_object.ob_size ||
        d->bytes_object.ob_size != d->tuple_object.ob_size)
        return pydbg__fail(err, PYDBG_ECORRUPT,
                           "_Py_DebugOffsets at 0x%llx: ob_size differs between tuple (%llu), "
                           "list (%llu) and bytes (%llu)",
                           (unsigned long long)address, (unsigned long long)d->tuple_object.ob_size,
                           (unsigned long long)d->list_object.ob_size,
                           (unsigned long long)d->bytes_object.ob_size);
    return PYDBG_OK;
}

/* An offset the interpreter does not publish, kept at the same distance from
 * a published neighbour in the same struct as in the base table (the fields
 * between them did not change within the minor version, but the neighbour may
 * have moved, e.g. in a debug build). */
static int32_t follow(int32_t base_field, int32_t base_anchor, int32_t anchor)
{
    if (base_field < 0 || base_anchor < 0)
        return base_field;
    return anchor + (base_field - base_anchor);
}

static int check_derived(pydbg__error *err, uint64_t address, const char *name, int32_t offset,
                         uint64_t width, uint64_t size)
{
    if (offset == PYDBG__NO_OFFSET)
        return PYDBG_OK;
    if (offset < 0 || (uint64_t)offset >= size || width > size - (uint64_t)offset)
        return pydbg__fail(err, PYDBG_ECORRUPT,
                           "_Py_DebugOffsets at 0x%llx: %s would be at %d, outside the "
                           "published size %llu",
                           (unsigned long long)address, name, offset, (unsigned long long)size);
    return PYDBG_OK;
}

/* Writes every published offset over `out` (a copy of the base table). The
 * values were validated, so they fit in int32_t. */
static int overlay(pydbg__layout *out, const do_313 *d, uint64_t address, pydbg__error *err)
{
    const pydbg__layout base = *out;
    int rc;

    out->runtime.interpreters_head = (int32_t)d->runtime_state.interpreters_head;
    /* struct pyinterpreters { PyMutex mutex; head; main; next_id; } and
     * main_thread right after it, in 3.13 and 3.14. */
    out->runtime.interpreters_main =
        follow(base.runtime.interpreters_main, base.runtime.interpreters_head,
               out->runtime.interpreters_head);
    out->runtime.main_thread = follow(base.runtime.main_thread, base.runtime.interpreters_head,
                                      out->runtime.interpreters_head);

    out->interp.next = (int32_t)d->interpreter_state.next;
    out->interp.tstate_head = (int32_t)d->interpreter_state.threads_head;
    out->interp.id = (int32_t)d->interpreter_state.id;
    out->interp.modules = (int32_t)d->interpreter_state.imports_modules;
    out->interp.sysdict = (int32_t)d->interpreter_state.sysdict;
    out->interp.ceval_gil = (int32_t)d->interpreter_state.ceval_gil;
    out->interp.gc = (int32_t)d->interpreter_state.gc;
    out->gil.locked = (int32_t)(d->interpreter_state.gil_runtime_state_locked -
                                d->interpreter_state.gil_runtime_state);
    out->gil.last_holder = (int32_t)(d->interpreter_state.gil_runtime_state_holder -
                                     d->interpreter_state.gil_runtime_state);

    out->tstate.size = (int32_t)d->thread_state.size;
    out->tstate.prev = (int32_t)d->thread_state.prev;
    out->tstate.next = (int32_t)d->thread_state.next;
    out->tstate.interp = (int32_t)d->thread_state.interp;
    /* For PYDBG__IFRAME_313, tstate.frame is tstate->current_frame. */
    out->tstate.frame = (int32_t)d->thread_state.current_frame;
    out->tstate.thread_id = (int32_t)d->thread_state.thread_id;
    out->tstate.native_thread_id = (int32_t)d->thread_state.native_thread_id;
    out->tstate.datastack_chunk = (int32_t)d->thread_state.datastack_chunk;
    /* Include/cpython/pystate.h: datastack_chunk, datastack_top, datastack_limit. */
    out->tstate.datastack_top =
        follow(base.tstate.datastack_top, base.tstate.datastack_chunk, out->tstate.datastack_chunk);
    out->tstate.datastack_limit = follow(base.tstate.datastack_limit, base.tstate.datastack_chunk,
                                         out->tstate.datastack_chunk);

    out->iframe.size = (int32_t)d->interpreter_frame.size;
    out->iframe.previous = (int32_t)d->interpreter_frame.previous;
    out->iframe.executable = (int32_t)d->interpreter_frame.executable;
    out->iframe.instr_ptr = (int32_t)d->interpreter_frame.instr_ptr;
    out->iframe.owner = (int32_t)d->interpreter_frame.owner;
    out->iframe.localsplus = (int32_t)d->interpreter_frame.localsplus;

    out->code.size = (int32_t)d->code_object.size;
    out->code.co_name = (int32_t)d->code_object.name;
    out->code.co_qualname = (int32_t)d->code_object.qualname;
    out->code.co_filename = (int32_t)d->code_object.filename;
    out->code.co_firstlineno = (int32_t)d->code_object.firstlineno;
    out->code.co_linetable = (int32_t)d->code_object.linetable;
    out->code.co_code_adaptive = (int32_t)d->code_object.co_code_adaptive;

    out->object.ob_type = (int32_t)d->pyobject.ob_type;
    out->object.ob_size = (int32_t)d->tuple_object.ob_size;
    out->type.tp_name = (int32_t)d->type_object.tp_name;
    out->type.tp_flags = (int32_t)d->type_object.tp_flags;
    out->unicode.state = (int32_t)d->unicode_object.state;
    out->unicode.length = (int32_t)d->unicode_object.length;
    out->unicode.ascii_data = (int32_t)d->unicode_object.asciiobject_size;
    out->bytes.ob_size = (int32_t)d->bytes_object.ob_size;
    out->bytes.ob_sval = (int32_t)d->bytes_object.ob_sval;
    out->pylong.size_or_tag = (int32_t)d->long_object.lv_tag;
    out->pylong.digits = (int32_t)d->long_object.ob_digit;
    out->dict.ma_keys = (int32_t)d->dict_object.ma_keys;
    out->dict.ma_values = (int32_t)d->dict_object.ma_values;
    out->seq.list_ob_item = (int32_t)d->list_object.ob_item;
    out->seq.tuple_ob_item = (int32_t)d->tuple_object.ob_item;

    /* 3.13 tables predate the mask; its one non-Python owner is the C stack. */
    if (out->iframe_skip_owner_mask == 0 && out->iframe.owned_by_cstack >= 0 &&
        out->iframe.owned_by_cstack < 32)
        out->iframe_skip_owner_mask = 1u << out->iframe.owned_by_cstack;

    if ((rc = check_derived(err, address, "_PyRuntimeState.interpreters.main",
                            out->runtime.interpreters_main, 8, d->runtime_state.size)) ||
        (rc = check_derived(err, address, "_PyRuntimeState.main_thread", out->runtime.main_thread,
                            8, d->runtime_state.size)) ||
        (rc = check_derived(err, address, "PyThreadState.datastack_top", out->tstate.datastack_top,
                            8, d->thread_state.size)) ||
        (rc = check_derived(err, address, "PyThreadState.datastack_limit",
                            out->tstate.datastack_limit, 8, d->thread_state.size)))
        return rc;
    return PYDBG_OK;
}

int pydbg__layout_from_debug_offsets(pydbg__layout *out, pydbg__reader *reader,
                                     uint64_t runtime_address, uint32_t expected_hexversion,
                                     uint32_t *published_hexversion, pydbg__error *err)
{
    unsigned char raw[DO_MAX_SIZE];
    uint64_t words[sizeof(do_314) / 8];
    do_313 d;
    const pydbg__layout *base;
    size_t got = 0, need;
    uint64_t version, free_threaded;
    unsigned major, minor, level;
    char shown[32];
    int rc;

    if (!out || !reader)
        return pydbg__fail(err, PYDBG_EINVAL, "no layout or reader given");
    if (published_hexversion)
        *published_hexversion = 0;

    /* One read for the largest known layout; a shorter result is enough when
     * the version turns out to need less. */
    rc = pydbg__read_partial(reader, runtime_address, raw, sizeof raw, &got);
    if (rc != PYDBG_OK)
        return pydbg__fail(err, rc, "reading _Py_DebugOffsets at 0x%llx: %s",
                           (unsigned long long)runtime_address, pydbg_strerror(rc));
    if (got < DO_HEADER_SIZE)
        return pydbg__fail(err, PYDBG_EREAD,
                           "reading _Py_DebugOffsets at 0x%llx: only %zu of %d header bytes "
                           "are readable",
                           (unsigned long long)runtime_address, got, DO_HEADER_SIZE);
    if (memcmp(raw, debug_cookie, sizeof debug_cookie) != 0)
        return pydbg__fail(err, PYDBG_ECORRUPT,
                           "_Py_DebugOffsets cookie mismatch at 0x%llx: not a CPython 3.13+ "
                           "runtime",
                           (unsigned long long)runtime_address);

    version = load_le64(raw + 8);
    free_threaded = load_le64(raw + 16);
    major = (unsigned)(version >> 24) & 0xff;
    minor = (unsigned)(version >> 16) & 0xff;
    level = (unsigned)(version >> 4) & 0xf;
    format_hexversion(version, shown, sizeof shown);
    if (version > 0xffffffffu || major != 3 ||
        (level != 0xa && level != 0xb && level != 0xc && level != 0xf))
        return pydbg__fail(err, PYDBG_ECORRUPT,
                           "_Py_DebugOffsets at 0x%llx: implausible version %s",
                           (unsigned long long)runtime_address, shown);
    if (published_hexversion)
        *published_hexversion = (uint32_t)version;

    if (expected_hexversion != 0 && (expected_hexversion >> 16) != (uint32_t)(version >> 16))
        return pydbg__fail(err, PYDBG_EVERSION,
                           "target publishes debug offsets version %s, but it was identified "
                           "as %u.%u",
                           shown, (unsigned)(expected_hexversion >> 24) & 0xff,
                           (unsigned)(expected_hexversion >> 16) & 0xff);
    if (minor != 13 && minor != 14)
        return pydbg__fail(err, PYDBG_EVERSION,
                           "target publishes debug offsets version %s, this libpydebug knows "
                           "3.13 and 3.14",
                           shown);
    /* Fields were still being added during the betas (3.14's code_object.co_tlbc
     * in May 2025, after beta 1); from the first release candidate on, the
     * layout is frozen for the whole minor version. */
    if (level < 0xc)
        return pydbg__fail(err, PYDBG_EVERSION,
                           "target is the pre-release %s, whose _Py_DebugOffsets layout may "
                           "differ from %u.%u's; %u.%u.0rc1 and later are supported",
                           shown, major, minor, major, minor);
    if (free_threaded == 1)
        return pydbg__fail(err, PYDBG_ENOTSUP,
                           "free-threaded builds are not supported yet (target is %st)", shown);
    if (free_threaded != 0)
        return pydbg__fail(err, PYDBG_ECORRUPT, "_Py_DebugOffsets at 0x%llx: free_threaded is %llu",
                           (unsigned long long)runtime_address, (unsigned long long)free_threaded);

    need = minor == 13 ? DO_313_SIZE : DO_314_SIZE;
    if (got < need)
        return pydbg__fail(err, PYDBG_EREAD,
                           "reading _Py_DebugOffsets at 0x%llx: only %zu of its %zu bytes "
                           "(version %s) are readable",
                           (unsigned long long)runtime_address, got, need, shown);
    decode_words(raw, words, (need - 8) / 8);
    if (minor == 13) {
        memcpy(&d, words, sizeof d);
        base = pydbg__layout_for_version(3, 13);
    } else {
        do_314 d14;
        memcpy(&d14, words, sizeof d14);
        normalise_314(&d, &d14);
        base = &pydbg__layout_3_14;
    }
    if (!base)
        return pydbg__fail(err, PYDBG_EVERSION, "no base layout table for %u.%u", major, minor);

    rc = validate(&d, runtime_address, err);
    if (rc != PYDBG_OK)
        return rc;
    {
        pydbg__layout result = *base;
        rc = overlay(&result, &d, runtime_address, err);
        if (rc != PYDBG_OK)
            return rc;
        *out = result;
    }
    return PYDBG_OK;
}
