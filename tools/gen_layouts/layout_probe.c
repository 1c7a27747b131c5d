/* layout_probe: prints the pydbg__layout initializer of one CPython version.
 *
 * Compiled by gen_layouts.sh once per installed CPython, against that
 * version's own headers (internal ones included), and run on the build
 * machine. Every offset below is offsetof/sizeof on the interpreter's real
 * structures, so a layout change in a new patch release shows up as a diff of
 * the generated table instead of a silent misread.
 *
 * A few structures are private to a .c file in some versions and so are not
 * in any installed header; for those the probe declares a mirror of the
 * leading members, copied from the cited CPython source, and takes offsetof on
 * the mirror. tests/unit/test_layout.c checks those against a running
 * interpreter.
 *
 * Build: cc -std=c11 -isystem <include>/pythonX.Y tools/gen_layouts/layout_probe.c
 * (needs no libpython: nothing here is called, only measured). */

/* The internal headers refuse to compile without it (3.7+), and 3.7 only
 * declares the _Py_atomic_* types its runtime structures use under it. */
#define Py_BUILD_CORE 1

#include <Python.h>

/* Where each version declares the structures measured below. */
#if PY_VERSION_HEX < 0x030b0000
#include <code.h>
#include <frameobject.h>
#include <longintrepr.h>
#endif
#if PY_VERSION_HEX >= 0x03070000 && PY_VERSION_HEX < 0x03080000
#include "internal/pystate.h" /* _PyRuntimeState */
#elif PY_VERSION_HEX >= 0x03080000 && PY_VERSION_HEX < 0x03090000
#include "internal/pycore_pystate.h" /* _PyRuntimeState, PyInterpreterState */
#elif PY_VERSION_HEX >= 0x03090000
#include "internal/pycore_gc.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_runtime.h"
#if PY_VERSION_HEX >= 0x030a0000
#include "internal/pycore_moduleobject.h"
#endif
#if PY_VERSION_HEX >= 0x030b0000
#include "internal/pycore_code.h"
#include "internal/pycore_dict.h"
#include "internal/pycore_frame.h" /* _PyInterpreterFrame */
#endif
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NONE (-1L)
#define OFF(type, member) ((long)offsetof(type, member))

/* ---- mirrors of structures no installed header declares ------------------------------ */

#if PY_MAJOR_VERSION == 3 && PY_VERSION_HEX < 0x030b0000
/* struct _dictkeysobject, Objects/dict-common.h, identical in its leading
 * members from 3.6 to 3.10 (3.6 declares dk_indices as a union of int8_t[8]
 * ... int64_t[1], 3.7-3.10 as `char dk_indices[]`; both start at the same
 * offset, after dk_nentries):
 *     Py_ssize_t dk_refcnt; Py_ssize_t dk_size; dict_lookup_func dk_lookup;
 *     Py_ssize_t dk_usable; Py_ssize_t dk_nentries; ... dk_indices;
 * 3.11 moved the struct into Include/internal/pycore_dict.h, used below. */
typedef Py_ssize_t (*mirror_lookup_func)(void);
struct mirror_dictkeys {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    mirror_lookup_func dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[8];
};
#endif

#if PY_VERSION_HEX < 0x030a0000
/* PyModuleObject is private to Objects/moduleobject.c up to 3.9 (3.10 moved it
 * to Include/internal/pycore_moduleobject.h). In 2.7 to 3.9 it starts:
 *     typedef struct { PyObject_HEAD PyObject *md_dict; ... } PyModuleObject; */
/* clang-format off */
struct mirror_module {
    PyObject_HEAD
    PyObject *md_dict;
};
/* clang-format on */
#endif

#if PY_VERSION_HEX < 0x03070000
/* struct gc_generation, Modules/gcmodule.c of 2.7 and 3.6 (3.7 moved it to
 * Include/internal/mem.h):
 *     struct gc_generation { PyGC_Head head; int threshold; int count; };
 * The array itself, `static struct gc_generation generations[NUM_GENERATIONS]`,
 * is reached through the exported `PyGC_Head *_PyGC_generation0`, which points
 * at generations[0].head. */
struct mirror_gc_generation {
    PyGC_Head head;
    int threshold;
    int count;
};
#endif

#if PY_MAJOR_VERSION == 3 && PY_VERSION_HEX < 0x030b0000
/* PyDictKeyEntry, Objects/dict-common.h of 3.6 - 3.10:
 *     typedef struct { Py_hash_t me_hash; PyObject *me_key; PyObject *me_value; } PyDictKeyEntry; */
struct mirror_dictkeyentry {
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value;
};
#endif

#if PY_MAJOR_VERSION == 3 && PY_VERSION_HEX < 0x030c0000
/* struct pool_header and struct arena_object, private to Objects/obmalloc.c
 * from 3.6 to 3.11 (3.12 moved them to Include/internal/pycore_obmalloc.h,
 * unchanged), there declared as:
 *     struct pool_header { union { block *_padding; uint count; } ref;
 *         block *freeblock; struct pool_header *nextpool, *prevpool;
 *         uint arenaindex; uint szidx; uint nextoffset; uint maxnextoffset; };
 *     struct arena_object { uintptr_t address; block* pool_address;
 *         uint nfreepools; uint ntotalpools; struct pool_header* freepools;
 *         struct arena_object* nextarena; struct arena_object* prevarena; };
 * The size constants are obmalloc.c's: ALIGNMENT 16 on 64-bit (bpo-27987:
 * 3.8, and the later patch releases of 3.6 and 3.7; earlier ones had 8, which
 * lib/snapshot/pymalloc.c detects from the size of the `usedpools` array),
 * SMALL_REQUEST_THRESHOLD 512, and ARENA_SIZE/POOL_SIZE of
 * 256 KiB/4 KiB, or 1 MiB/16 KiB from 3.10 on 64-bit (USE_LARGE_ARENAS and,
 * with the radix tree enabled by default, USE_LARGE_POOLS). */
struct mirror_pool_header {
    union {
        unsigned char *_padding;
        unsigned int count;
    } ref;
    unsigned char *freeblock;
    struct mirror_pool_header *nextpool, *prevpool;
    unsigned int arenaindex, szidx, nextoffset, maxnextoffset;
};
struct mirror_arena_object {
    uintptr_t address;
    unsigned char *pool_address;
    unsigned int nfreepools, ntotalpools;
    struct mirror_pool_header *freepools;
    struct mirror_arena_object *nextarena, *prevarena;
};
#define MIRROR_ALIGNMENT 16
#define MIRROR_ARENA_SIZE (PY_VERSION_HEX < 0x030a0000 ? (256 << 10) : (1 << 20))
#define MIRROR_POOL_SIZE (PY_VERSION_HEX < 0x030a0000 ? (4 << 10) : (16 << 10))
#endif

/* ---- output ---------------------------------------------------------------------------- */

static void group(const char *name)
{
    printf("        .%s = {\n", name);
}

static void end_group(void)
{
    printf("        },\n");
}

static void field(const char *name, long value)
{
    if (value < 0)
        printf("            .%s = PYDBG__NO_OFFSET,\n", name);
    else
        printf("            .%s = %ld,\n", name, value);
}

/* A number that is not an offset (a bit position, a width). */
static void value(const char *name, long v)
{
    printf("            .%s = %ld,\n", name, v);
}

/* An enumerator inside a group. */
static void enum_field(const char *name, const char *value)
{
    printf("            .%s = %s,\n", name, value);
}

static void flag(const char *name, unsigned long long value)
{
    printf("            .%s = 0x%llxu,\n", name, value);
}

static void model(const char *name, const char *value)
{
    printf("        .%s = %s,\n", name, value);
}

#if PY_MAJOR_VERSION >= 3
/* The lowest bit set in a little-endian bitfield container: where the ABI puts
 * a bitfield member, read back from a set member instead of assumed. */
static int lowest_bit(const void *p, size_t size)
{
    const unsigned char *bytes = p;
    for (size_t i = 0; i < size; i++) {
        for (int b = 0; b < 8; b++) {
            if (bytes[i] & (1u << b))
                return (int)(i * 8 + (size_t)b);
        }
    }
    return -1;
}
#endif

int main(void)
{
    /* gen_layouts.sh finds an entry of the committed table by these two comment lines. */
    printf("    /* layout %d.%d: probed from the headers of CPython %s */\n", PY_MAJOR_VERSION,
           PY_MINOR_VERSION, PY_VERSION);
    printf("    {\n");
    printf("        .major = %d,\n", PY_MAJOR_VERSION);
    printf("        .minor = %d,\n", PY_MINOR_VERSION);

    /* ---- models: where a version changed how something works ---- */
#if PY_VERSION_HEX < 0x030b0000
    model("frame_model", "PYDBG__FRAME_OBJECTS");
#elif PY_VERSION_HEX < 0x030c0000
    model("frame_model", "PYDBG__IFRAME_311");
#elif PY_VERSION_HEX < 0x030d0000
    model("frame_model", "PYDBG__IFRAME_312");
#else
    model("frame_model", "PYDBG__IFRAME_313");
#endif
#if PY_VERSION_HEX < 0x030a0000
    model("line_model", "PYDBG__LINES_LNOTAB");
#elif PY_VERSION_HEX < 0x030b0000
    model("line_model", "PYDBG__LINES_LINETABLE_310");
#else
    model("line_model", "PYDBG__LINES_LOCATIONS_311");
#endif
#if PY_MAJOR_VERSION == 2
    model("string_model", "PYDBG__STRINGS_PY2");
    model("long_model", "PYDBG__LONG_PY2_INT");
    model("dict_model", "PYDBG__DICT_PY2");
#else
    model("string_model", "PYDBG__STRINGS_PEP393");
#if PY_VERSION_HEX < 0x030c0000
    model("long_model", "PYDBG__LONG_OB_SIZE");
#else
    model("long_model", "PYDBG__LONG_LV_TAG");
#endif
#if PY_VERSION_HEX < 0x030b0000
    model("dict_model", "PYDBG__DICT_36");
#else
    model("dict_model", "PYDBG__DICT_311");
#endif
#endif
#if PY_VERSION_HEX < 0x030b0000
    model("instdict_model", "PYDBG__INSTDICT_OFFSET");
#elif PY_VERSION_HEX < 0x030c0000
    model("instdict_model", "PYDBG__INSTDICT_MANAGED_311");
#elif PY_VERSION_HEX < 0x030d0000
    model("instdict_model", "PYDBG__INSTDICT_MANAGED_312");
#else
    model("instdict_model", "PYDBG__INSTDICT_INLINE_313");
#endif
#if PY_VERSION_HEX < 0x03070000
    model("gil_model", "PYDBG__GIL_CURRENT_SYMBOL");
#elif PY_VERSION_HEX < 0x030c0000
    model("gil_model", "PYDBG__GIL_RUNTIME_CURRENT");
#else
    model("gil_model", "PYDBG__GIL_INTERP_STATE");
#endif

    /* ---- _PyRuntimeState ---- */
    group("runtime");
#if PY_VERSION_HEX >= 0x03070000
    field("interpreters_head", OFF(_PyRuntimeState, interpreters.head));
    field("interpreters_main", OFF(_PyRuntimeState, interpreters.main));
#if PY_VERSION_HEX < 0x030c0000
    field("tstate_current", OFF(_PyRuntimeState, gilstate.tstate_current));
#else
    field("tstate_current", NONE); /* a thread-local (_Py_tss_tstate) from 3.12 */
#endif
#if PY_VERSION_HEX < 0x03080000
    /* 3.7 keeps the main thread's ident in the pending-calls state only. */
    field("main_thread", OFF(_PyRuntimeState, ceval.pending.main_thread));
#else
    field("main_thread", OFF(_PyRuntimeState, main_thread));
#endif
#else
    field("interpreters_head", NONE);
    field("interpreters_main", NONE);
    field("tstate_current", NONE);
    field("main_thread", NONE);
#endif
    end_group();

    /* ---- PyInterpreterState ---- */
    group("interp");
    field("next", OFF(PyInterpreterState, next));
#if PY_VERSION_HEX < 0x030b0000
    field("tstate_head", OFF(PyInterpreterState, tstate_head));
#else
    field("tstate_head", OFF(PyInterpreterState, threads.head));
#endif
#if PY_VERSION_HEX >= 0x03070000
    field("id", OFF(PyInterpreterState, id));
#else
    field("id", NONE);
#endif
#if PY_VERSION_HEX < 0x030c0000
    field("modules", OFF(PyInterpreterState, modules));
#else
    field("modules", OFF(PyInterpreterState, imports.modules));
#endif
    field("sysdict", OFF(PyInterpreterState, sysdict));
#if PY_VERSION_HEX >= 0x030c0000
    field("ceval_gil", OFF(PyInterpreterState, ceval.gil));
#else
    field("ceval_gil", NONE);
#endif
#if PY_VERSION_HEX >= 0x03090000
    field("gc", OFF(PyInterpreterState, gc));
#else
    field("gc", NONE); /* in _PyRuntimeState (3.7, 3.8) or a static of gcmodule.c before */
#endif
    end_group();

    /* ---- struct _gil_runtime_state ---- */
    group("gil");
#if PY_VERSION_HEX >= 0x030c0000
    field("locked", OFF(struct _gil_runtime_state, locked));
    field("last_holder", OFF(struct _gil_runtime_state, last_holder));
#else
    field("locked", NONE);
    field("last_holder", NONE);
#endif
    end_group();

    /* ---- PyThreadState ---- */
    group("tstate");
    field("size", (long)sizeof(PyThreadState));
#if PY_MAJOR_VERSION == 2
    field("prev", NONE);
#else
    field("prev", OFF(PyThreadState, prev));
#endif
    field("next", OFF(PyThreadState, next));
    field("interp", OFF(PyThreadState, interp));
#if PY_VERSION_HEX < 0x030b0000
    field("frame", OFF(PyThreadState, frame));
    field("cframe", NONE); /* 3.10 has one, but it holds no frame pointer yet */
#elif PY_VERSION_HEX < 0x030d0000
    field("frame", NONE);
    field("cframe", OFF(PyThreadState, cframe));
#else
    /* IFRAME_313: `frame` is tstate->current_frame, the innermost _PyInterpreterFrame. */
    field("frame", OFF(PyThreadState, current_frame));
    field("cframe", NONE);
#endif
    field("thread_id", OFF(PyThreadState, thread_id));
#if PY_VERSION_HEX >= 0x030b0000
    field("native_thread_id", OFF(PyThreadState, native_thread_id));
#else
    /* Not recorded in the thread state before 3.11 (3.8's threading.get_native_id()
     * asks the OS, it does not read the tstate). */
    field("native_thread_id", NONE);
#endif
#if PY_VERSION_HEX >= 0x030b0000
    field("datastack_chunk", OFF(PyThreadState, datastack_chunk));
    field("datastack_top", OFF(PyThreadState, datastack_top));
    field("datastack_limit", OFF(PyThreadState, datastack_limit));
#else
    field("datastack_chunk", NONE);
    field("datastack_top", NONE);
    field("datastack_limit", NONE);
#endif
    end_group();

    /* ---- _PyCFrame ---- */
    group("cframe");
#if PY_VERSION_HEX >= 0x030b0000 && PY_VERSION_HEX < 0x030d0000
    field("current_frame", OFF(_PyCFrame, current_frame));
#else
    field("current_frame", NONE);
#endif
    end_group();

    /* ---- PyFrameObject (the frame chain up to 3.10) ---- */
    group("frame");
#if PY_VERSION_HEX < 0x030b0000
    field("f_back", OFF(PyFrameObject, f_back));
    field("f_code", OFF(PyFrameObject, f_code));
    field("f_lasti", OFF(PyFrameObject, f_lasti));
    field("f_lineno", OFF(PyFrameObject, f_lineno));
    field("f_trace", OFF(PyFrameObject, f_trace));
#else
    field("f_back", NONE);
    field("f_code", NONE);
    field("f_lasti", NONE);
    field("f_lineno", NONE);
    field("f_trace", NONE);
#endif
    end_group();

    /* ---- _PyInterpreterFrame ---- */
    group("iframe");
#if PY_VERSION_HEX >= 0x030b0000
    field("size", (long)sizeof(_PyInterpreterFrame));
    field("previous", OFF(_PyInterpreterFrame, previous));
#if PY_VERSION_HEX < 0x030d0000
    field("executable", OFF(_PyInterpreterFrame, f_code));
    field("instr_ptr", OFF(_PyInterpreterFrame, prev_instr));
#else
    field("executable", OFF(_PyInterpreterFrame, f_executable));
    field("instr_ptr", OFF(_PyInterpreterFrame, instr_ptr));
#endif
    field("owner", OFF(_PyInterpreterFrame, owner));
    field("localsplus", OFF(_PyInterpreterFrame, localsplus));
#if PY_VERSION_HEX >= 0x030c0000
    field("owned_by_cstack", (long)FRAME_OWNED_BY_CSTACK);
#else
    field("owned_by_cstack", NONE); /* 3.11 marks entry frames with is_entry instead */
#endif
#else
    field("size", NONE);
    field("previous", NONE);
    field("executable", NONE);
    field("instr_ptr", NONE);
    field("owner", NONE);
    field("localsplus", NONE);
    field("owned_by_cstack", NONE);
#endif
    end_group();

    /* ---- PyCodeObject ---- */
    group("code");
    field("size", (long)sizeof(PyCodeObject));
    field("co_name", OFF(PyCodeObject, co_name));
#if PY_VERSION_HEX >= 0x030b0000
    field("co_qualname", OFF(PyCodeObject, co_qualname));
#else
    field("co_qualname", NONE);
#endif
    field("co_filename", OFF(PyCodeObject, co_filename));
    field("co_firstlineno", OFF(PyCodeObject, co_firstlineno));
#if PY_VERSION_HEX < 0x030a0000
    field("co_linetable", OFF(PyCodeObject, co_lnotab));
#else
    field("co_linetable", OFF(PyCodeObject, co_linetable));
#endif
#if PY_VERSION_HEX < 0x030b0000
    field("co_code", OFF(PyCodeObject, co_code));
    field("co_code_adaptive", NONE);
#else
    field("co_code", NONE); /* 3.11+: co_code is rebuilt on demand from co_code_adaptive */
    field("co_code_adaptive", OFF(PyCodeObject, co_code_adaptive));
#endif
    field("co_flags", OFF(PyCodeObject, co_flags));
    end_group();

    /* ---- PyObject / PyVarObject ---- */
    group("object");
    field("ob_type", OFF(PyObject, ob_type));
    field("ob_size", OFF(PyVarObject, ob_size));
    end_group();

    /* ---- PyTypeObject / PyHeapTypeObject ---- */
    group("type");
    field("tp_name", OFF(PyTypeObject, tp_name));
    field("tp_basicsize", OFF(PyTypeObject, tp_basicsize));
    field("tp_itemsize", OFF(PyTypeObject, tp_itemsize));
    field("tp_flags", OFF(PyTypeObject, tp_flags));
    field("tp_dictoffset", OFF(PyTypeObject, tp_dictoffset));
#if PY_MAJOR_VERSION >= 3
    field("ht_cached_keys", OFF(PyHeapTypeObject, ht_cached_keys));
#else
    field("ht_cached_keys", NONE);
#endif
#if PY_VERSION_HEX >= 0x030b0000
    flag("flag_managed_dict", (unsigned long long)Py_TPFLAGS_MANAGED_DICT);
#else
    flag("flag_managed_dict", 0);
#endif
#if PY_VERSION_HEX >= 0x030d0000
    flag("flag_inline_values", (unsigned long long)Py_TPFLAGS_INLINE_VALUES);
#else
    flag("flag_inline_values", 0);
#endif
    end_group();

    /* ---- PyASCIIObject / PyCompactUnicodeObject ---- */
    group("unicode");
#if PY_MAJOR_VERSION >= 3
    {
        PyASCIIObject probe;
        int kind_shift, compact_bit, ascii_bit;

        memset(&probe, 0, sizeof probe);
        probe.state.kind = 1;
        kind_shift = lowest_bit(&probe.state, sizeof probe.state);
        memset(&probe, 0, sizeof probe);
        probe.state.compact = 1;
        compact_bit = lowest_bit(&probe.state, sizeof probe.state);
        memset(&probe, 0, sizeof probe);
        probe.state.ascii = 1;
        ascii_bit = lowest_bit(&probe.state, sizeof probe.state);

        field("state", OFF(PyASCIIObject, state));
        field("length", OFF(PyASCIIObject, length));
        field("ascii_data", (long)sizeof(PyASCIIObject));
        field("compact_data", (long)sizeof(PyCompactUnicodeObject));
        if (kind_shift < 0 || compact_bit < 0 || ascii_bit < 0) {
            fprintf(stderr, "layout_probe: cannot find the PyASCIIObject.state bitfields\n");
            return 1;
        }
        value("kind_shift", kind_shift);
        value("compact_bit", compact_bit);
        value("ascii_bit", ascii_bit);
    }
#else
    field("state", NONE);
    field("length", NONE);
    field("ascii_data", NONE);
    field("compact_data", NONE);
    /* bit positions are unsigned: 0 where there is no such bitfield */
    value("kind_shift", 0);
    value("compact_bit", 0);
    value("ascii_bit", 0);
#endif
    end_group();

    /* ---- PyBytesObject (PyStringObject) ---- */
    group("bytes");
#if PY_MAJOR_VERSION == 2
    field("ob_size", OFF(PyStringObject, ob_size));
    field("ob_sval", OFF(PyStringObject, ob_sval));
#else
    field("ob_size", OFF(PyBytesObject, ob_base.ob_size));
    field("ob_sval", OFF(PyBytesObject, ob_sval));
#endif
    end_group();

    /* ---- PyLongObject / PyIntObject ---- */
    group("pylong");
#if PY_VERSION_HEX >= 0x030c0000
    field("size_or_tag", OFF(PyLongObject, long_value.lv_tag));
    field("digits", OFF(PyLongObject, long_value.ob_digit));
#elif PY_MAJOR_VERSION == 2
    /* 2.7's PyObject_VAR_HEAD spells the members out; the prefix is PyVarObject's. */
    field("size_or_tag", OFF(PyVarObject, ob_size));
    field("digits", OFF(PyLongObject, ob_digit));
#else
    field("size_or_tag", OFF(PyLongObject, ob_base.ob_size));
    field("digits", OFF(PyLongObject, ob_digit));
#endif
#if PY_MAJOR_VERSION == 2
    field("py2_int_ival", OFF(PyIntObject, ob_ival));
#else
    field("py2_int_ival", NONE);
#endif
    value("digit_bits", PyLong_SHIFT);
    end_group();

    /* ---- PyDictObject ---- */
    group("dict");
    field("ma_used", OFF(PyDictObject, ma_used));
#if PY_MAJOR_VERSION == 2
    field("ma_keys", NONE);
    field("ma_values", NONE);
    field("py2_ma_mask", OFF(PyDictObject, ma_mask));
    field("py2_ma_table", OFF(PyDictObject, ma_table));
#else
    field("ma_keys", OFF(PyDictObject, ma_keys));
    field("ma_values", OFF(PyDictObject, ma_values));
    field("py2_ma_mask", NONE);
    field("py2_ma_table", NONE);
#endif
    end_group();

    /* ---- PyDictKeysObject / PyDictValues ---- */
    group("dictkeys");
#if PY_MAJOR_VERSION == 2
    field("dk_size", NONE);
    field("dk_log2_size", NONE);
    field("dk_log2_index_bytes", NONE);
    field("dk_kind", NONE);
    field("dk_nentries", NONE);
    field("dk_indices", NONE);
    field("values_array", NONE); /* no split tables: values live in ma_table */
#elif PY_VERSION_HEX < 0x030b0000
    field("dk_size", OFF(struct mirror_dictkeys, dk_size));
    field("dk_log2_size", NONE);
    field("dk_log2_index_bytes", NONE);
    field("dk_kind", NONE);
    field("dk_nentries", OFF(struct mirror_dictkeys, dk_nentries));
    field("dk_indices", OFF(struct mirror_dictkeys, dk_indices));
    field("values_array", 0); /* ma_values points straight at the PyObject* array */
#else
    field("dk_size", NONE);
    field("dk_log2_size", OFF(PyDictKeysObject, dk_log2_size));
    field("dk_log2_index_bytes", OFF(PyDictKeysObject, dk_log2_index_bytes));
    field("dk_kind", OFF(PyDictKeysObject, dk_kind));
    field("dk_nentries", OFF(PyDictKeysObject, dk_nentries));
    field("dk_indices", OFF(PyDictKeysObject, dk_indices));
    field("values_array", OFF(PyDictValues, values));
#endif
    end_group();

    /* ---- PyModuleObject ---- */
    group("module");
#if PY_VERSION_HEX < 0x030a0000
    field("md_dict", OFF(struct mirror_module, md_dict));
#else
    field("md_dict", OFF(PyModuleObject, md_dict));
#endif
    end_group();

    /* ---- PyListObject, PyTupleObject ---- */
    group("seq");
    field("list_ob_item", OFF(PyListObject, ob_item));
    field("tuple_ob_item", OFF(PyTupleObject, ob_item));
    end_group();

    /* Both describe 3.14+ frames (tagged stack references, more non-Python frame
     * owners); nothing to mask or skip beyond iframe.owned_by_cstack before. */
    printf("        .iframe_tag_mask = 0x0u,\n");
    printf("        .iframe_skip_owner_mask = 0x0u,\n");

    /* ---- the GC's generation lists (the heap census of lib/snapshot) ---- */
    group("gc");
#if PY_VERSION_HEX < 0x03080000
    enum_field("model", "PYDBG__GC_HEAD_UNION");
#else
    enum_field("model", "PYDBG__GC_HEAD_TAGGED");
#endif
#if PY_VERSION_HEX < 0x03070000
    enum_field("root", "PYDBG__GC_ROOT_SYMBOL");
    field("runtime_state", NONE);
    field("generations", 0); /* _PyGC_generation0 points at generations[0] */
    field("generation_size", (long)sizeof(struct mirror_gc_generation));
    field("generation_count", 3); /* NUM_GENERATIONS of gcmodule.c */
    field("permanent", NONE);
    field("collecting", NONE); /* a static of gcmodule.c */
#else
#if PY_VERSION_HEX < 0x03090000
    enum_field("root", "PYDBG__GC_ROOT_RUNTIME");
    field("runtime_state", OFF(_PyRuntimeState, gc));
#else
    enum_field("root", "PYDBG__GC_ROOT_INTERP");
    field("runtime_state", NONE);
#endif
    field("generations", OFF(struct _gc_runtime_state, generations));
    field("generation_size", (long)sizeof(struct gc_generation));
    field("generation_count", NUM_GENERATIONS);
    field("permanent", OFF(struct _gc_runtime_state, permanent_generation));
    field("collecting", OFF(struct _gc_runtime_state, collecting));
#endif
    field("head_size", (long)sizeof(PyGC_Head));
#if PY_VERSION_HEX < 0x03080000
    field("head_next", OFF(PyGC_Head, gc.gc_next));
    field("head_prev", OFF(PyGC_Head, gc.gc_prev));
    flag("pointer_mask", ~0ULL);
#else
    field("head_next", OFF(PyGC_Head, _gc_next));
    field("head_prev", OFF(PyGC_Head, _gc_prev));
    /* _gc_prev keeps two flags below _PyGC_PREV_SHIFT; _gc_next one
     * (NEXT_MASK_UNREACHABLE) while a collection runs. */
    flag("pointer_mask", ~((1ULL << _PyGC_PREV_SHIFT) - 1));
#endif
    end_group();

    /* ---- object sizes as sys.getsizeof() computes them ---- */
    group("sizes");
    flag("flag_have_gc", (unsigned long long)Py_TPFLAGS_HAVE_GC);
    flag("flag_heaptype", (unsigned long long)Py_TPFLAGS_HEAPTYPE);
#if PY_VERSION_HEX >= 0x030c0000
    /* _PyType_PreHeaderSize: managed dict and weakref pointers before the GC head. */
    flag("flag_preheader", (unsigned long long)Py_TPFLAGS_PREHEADER);
    field("preheader_size", (long)(2 * sizeof(PyObject *)));
#elif PY_VERSION_HEX >= 0x030b0000
    /* 3.11: the managed dict and values pointers before the GC head. */
    flag("flag_preheader", (unsigned long long)Py_TPFLAGS_MANAGED_DICT);
    field("preheader_size", (long)(2 * sizeof(PyObject *)));
#else
    flag("flag_preheader", 0);
    field("preheader_size", 0);
#endif
    field("tp_base", OFF(PyTypeObject, tp_base));
    field("list_allocated", OFF(PyListObject, allocated));
    field("set_mask", OFF(PySetObject, mask));
    field("set_table", OFF(PySetObject, table));
    field("set_smalltable", OFF(PySetObject, smalltable));
    field("set_entry_size", (long)sizeof(setentry));
    field("bytearray_alloc", OFF(PyByteArrayObject, ob_alloc));
#if PY_MAJOR_VERSION == 2
    field("dict_py2_smalltable", OFF(PyDictObject, ma_smalltable));
    field("dictkeys_usable", NONE);
    field("dictkeys_entry_size", (long)sizeof(PyDictEntry));
    field("dictkeys_unicode_entry_size", NONE);
#elif PY_VERSION_HEX < 0x030b0000
    field("dict_py2_smalltable", NONE);
    field("dictkeys_usable", OFF(struct mirror_dictkeys, dk_usable));
    field("dictkeys_entry_size", (long)sizeof(struct mirror_dictkeyentry));
    field("dictkeys_unicode_entry_size", NONE);
#else
    field("dict_py2_smalltable", NONE);
    field("dictkeys_usable", OFF(PyDictKeysObject, dk_usable));
    field("dictkeys_entry_size", (long)sizeof(PyDictKeyEntry));
    field("dictkeys_unicode_entry_size", (long)sizeof(PyDictUnicodeEntry));
#endif
    end_group();

    /* ---- the size of a frame in the data stack (3.11+) ---- */
    group("code_frame");
#if PY_VERSION_HEX >= 0x030b0000
    field("co_nlocalsplus", OFF(PyCodeObject, co_nlocalsplus));
    field("co_stacksize", OFF(PyCodeObject, co_stacksize));
#else
    field("co_nlocalsplus", NONE);
    field("co_stacksize", NONE);
#endif
    end_group();

    /* ---- pymalloc's arenas (the arena usage of lib/snapshot) ---- */
    group("obmalloc");
#if PY_MAJOR_VERSION == 2
    enum_field("root", "PYDBG__OBMALLOC_NONE");
    field("interp_state", NONE);
    field("arenas", NONE);
    field("maxarenas", NONE);
    field("narenas_current", NONE);
    field("arena_object_size", NONE);
    field("arena_address", NONE);
    field("arena_pool_address", NONE);
    field("arena_nfreepools", NONE);
    field("arena_ntotalpools", NONE);
    field("pool_count", NONE);
    field("pool_szidx", NONE);
    value("arena_bytes", 0);
    value("pool_bytes", 0);
    value("alignment", 0);
    value("size_classes", 0);
#elif PY_VERSION_HEX < 0x030c0000
    /* The statics `arenas`, `maxarenas` and `narenas_currently_allocated`. */
    enum_field("root", "PYDBG__OBMALLOC_STATICS");
    field("interp_state", NONE);
    field("arenas", NONE);
    field("maxarenas", NONE);
    field("narenas_current", NONE);
    field("arena_object_size", (long)sizeof(struct mirror_arena_object));
    field("arena_address", OFF(struct mirror_arena_object, address));
    field("arena_pool_address", OFF(struct mirror_arena_object, pool_address));
    field("arena_nfreepools", OFF(struct mirror_arena_object, nfreepools));
    field("arena_ntotalpools", OFF(struct mirror_arena_object, ntotalpools));
    field("pool_count", OFF(struct mirror_pool_header, ref.count));
    field("pool_szidx", OFF(struct mirror_pool_header, szidx));
    value("arena_bytes", MIRROR_ARENA_SIZE);
    value("pool_bytes", MIRROR_POOL_SIZE);
    value("alignment", MIRROR_ALIGNMENT);
    value("size_classes", 512 / MIRROR_ALIGNMENT);
#else
#if PY_VERSION_HEX < 0x030d0000
    enum_field("root", "PYDBG__OBMALLOC_INTERP");
#else
    enum_field("root", "PYDBG__OBMALLOC_INTERP_PTR");
#endif
    field("interp_state", OFF(PyInterpreterState, obmalloc));
    field("arenas", OFF(struct _obmalloc_state, mgmt.arenas));
    field("maxarenas", OFF(struct _obmalloc_state, mgmt.maxarenas));
    field("narenas_current", OFF(struct _obmalloc_state, mgmt.narenas_currently_allocated));
    field("arena_object_size", (long)sizeof(struct arena_object));
    field("arena_address", OFF(struct arena_object, address));
    field("arena_pool_address", OFF(struct arena_object, pool_address));
    field("arena_nfreepools", OFF(struct arena_object, nfreepools));
    field("arena_ntotalpools", OFF(struct arena_object, ntotalpools));
    field("pool_count", OFF(struct pool_header, ref.count));
    field("pool_szidx", OFF(struct pool_header, szidx));
    value("arena_bytes", ARENA_SIZE);
    value("pool_bytes", POOL_SIZE);
    value("alignment", ALIGNMENT);
    value("size_classes", NB_SMALL_SIZE_CLASSES);
#endif
    end_group();

    /* ---- whether an interpreter frame is calling (the sampler's torn check) ---- */
    group("iframe_state");
#if PY_VERSION_HEX >= 0x030c0000
    /* 3.12, 3.13: _PyFrame_GetStackPointer() sets stacktop to -1 whenever a frame
     * resumes; it is saved (>= 0) before a Python callee is pushed on top. 3.11
     * does not reset it. */
    field("stacktop", OFF(_PyInterpreterFrame, stacktop));
#else
    field("stacktop", NONE);
#endif
    end_group();
    printf("    },\n");
    printf("    /* end of layout %d.%d */\n", PY_MAJOR_VERSION, PY_MINOR_VERSION);
    return 0;
}
