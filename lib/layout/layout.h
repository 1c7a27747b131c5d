/* Where CPython keeps things: the structure layout of one minor version.
 *
 * One pydbg__layout describes every offset the walker needs for a CPython
 * minor version. For 2.7 and 3.6 to 3.13 they come from layout_tables.c,
 * generated from each version's own headers by tools/gen_layouts (offsetof on
 * the real structs). From 3.13 on, the interpreter publishes most of them in
 * `_Py_DebugOffsets` at the start of `_PyRuntime`; debug_offsets.c overlays
 * those on the base table, which is how 3.14 is supported without its headers
 * being installed.
 *
 * Offsets are in bytes from the start of the named structure; -1 means the
 * version has no such field. The `*_model` fields select code paths where a
 * version changed how something works, not just where it lives. */
#ifndef PYDBG_LAYOUT_LAYOUT_H
#define PYDBG_LAYOUT_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "mem/reader.h"
#include "util/error.h"

#define PYDBG__NO_OFFSET (-1)

/* How a thread's frames are linked. */
enum pydbg__frame_model {
    PYDBG__FRAME_OBJECTS = 1, /* 2.7 - 3.10: PyFrameObject via f_back; tstate->frame */
    PYDBG__IFRAME_311,        /* 3.11: _PyInterpreterFrame; tstate->cframe->current_frame */
    PYDBG__IFRAME_312,        /* 3.12: as 3.11, shim frames owned by the C stack */
    PYDBG__IFRAME_313,        /* 3.13+: tstate->current_frame, f_executable, instr_ptr */
};

/* How a code object maps instruction offsets to source positions. */
enum pydbg__line_model {
    PYDBG__LINES_LNOTAB = 1,     /* 2.7 - 3.9: co_lnotab */
    PYDBG__LINES_LINETABLE_310,  /* 3.10: co_linetable (start/end deltas) */
    PYDBG__LINES_LOCATIONS_311,  /* 3.11+: co_linetable (PEP 657 location table) */
};

enum pydbg__string_model {
    PYDBG__STRINGS_PY2 = 1, /* names and filenames are byte strings (PyStringObject) */
    PYDBG__STRINGS_PEP393,  /* compact unicode objects */
};

enum pydbg__long_model {
    PYDBG__LONG_PY2_INT = 1, /* small ints are PyIntObject (ob_ival) */
    PYDBG__LONG_OB_SIZE,     /* 3.x - 3.11: signed ob_size counts digits */
    PYDBG__LONG_LV_TAG,      /* 3.12+: lv_tag = ndigits << 3 | sign */
};

enum pydbg__dict_model {
    PYDBG__DICT_PY2 = 1, /* open addressing table of {hash, key, value} */
    PYDBG__DICT_36,      /* 3.6 - 3.10: compact dict, dk_size entries of {hash, key, value} */
    PYDBG__DICT_311,     /* 3.11+: log2 sizes, unicode-only keys as {key, value} */
};

/* Where an instance's attributes live. */
enum pydbg__instdict_model {
    PYDBG__INSTDICT_OFFSET = 1, /* dict pointer at type->tp_dictoffset */
    PYDBG__INSTDICT_MANAGED_311, /* dict at obj-3 words, values at obj-4 words */
    PYDBG__INSTDICT_MANAGED_312, /* obj-3 words: dict, or values pointer tagged with bit 0 */
    PYDBG__INSTDICT_INLINE_313,  /* dict at obj-3 words, else values inline after the object */
};

/* Who holds the GIL. */
enum pydbg__gil_model {
    PYDBG__GIL_CURRENT_SYMBOL = 1, /* 2.7, 3.6: the _PyThreadState_Current variable */
    PYDBG__GIL_RUNTIME_CURRENT,    /* 3.7 - 3.11: _PyRuntime.gilstate.tstate_current */
    PYDBG__GIL_INTERP_STATE,       /* 3.12+: interp->ceval.gil -> {locked, last_holder} */
};

typedef struct pydbg__layout {
    uint8_t major, minor;
    uint8_t frame_model, line_model, string_model, long_model, dict_model, instdict_model,
        gil_model;

    struct { /* _PyRuntimeState (3.7+) */
        int32_t interpreters_head, interpreters_main, tstate_current, main_thread;
    } runtime;
    struct { /* PyInterpreterState */
        int32_t next, tstate_head, id, modules, sysdict, ceval_gil, gc;
    } interp;
    struct { /* struct _gil_runtime_state (3.12+) */
        int32_t locked, last_holder;
    } gil;
    struct { /* PyThreadState */
        int32_t size, prev, next, interp, frame, cframe, thread_id, native_thread_id,
            datastack_chunk, datastack_top, datastack_limit;
    } tstate;
    struct { /* _PyCFrame (3.11, 3.12) */
        int32_t current_frame;
    } cframe;
    struct { /* PyFrameObject (2.7 - 3.10) */
        int32_t f_back, f_code, f_lasti, f_lineno, f_trace;
    } frame;
    struct { /* _PyInterpreterFrame (3.11+) */
        int32_t size, previous, executable, instr_ptr, owner, localsplus;
        int32_t owned_by_cstack; /* the owner value of shim frames, -1 if none */
    } iframe;
    struct { /* PyCodeObject */
        int32_t size, co_name, co_qualname, co_filename, co_firstlineno, co_linetable, co_code,
            co_code_adaptive, co_flags;
    } code;
    struct { /* PyObject / PyVarObject */
        int32_t ob_type, ob_size;
    } object;
    struct { /* PyTypeObject / PyHeapTypeObject */
        int32_t tp_name, tp_basicsize, tp_itemsize, tp_flags, tp_dictoffset, ht_cached_keys;
        uint64_t flag_managed_dict, flag_inline_values; /* tp_flags bits, 0 if none */
    } type;
    struct { /* PyASCIIObject / PyCompactUnicodeObject */
        int32_t state, length, ascii_data, compact_data;
        uint8_t kind_shift, compact_bit, ascii_bit;
    } unicode;
    struct { /* PyBytesObject (PyStringObject in 2.7) */
        int32_t ob_size, ob_sval;
    } bytes;
    struct { /* PyLongObject (PyIntObject's ob_ival in 2.7) */
        int32_t size_or_tag, digits, py2_int_ival;
        uint8_t digit_bits;
    } pylong;
    struct { /* PyDictObject */
        int32_t ma_used, ma_keys, ma_values, py2_ma_mask, py2_ma_table;
    } dict;
    struct { /* PyDictKeysObject and PyDictValues */
        int32_t dk_size, dk_log2_size, dk_log2_index_bytes, dk_kind, dk_nentries, dk_indices;
        int32_t values_array; /* offset of the value pointers in PyDictValues */
    } dictkeys;
    struct { /* PyModuleObject */
        int32_t md_dict;
    } module;
    struct { /* PyListObject, PyTupleObject */
        int32_t list_ob_item, tuple_ob_item;
    } seq;
    /* 3.14+: f_executable is a _PyStackRef whose low bits are tags, not address
     * bits; the walker clears them. 0 before 3.14. */
    uint64_t iframe_tag_mask;
    /* Bit n set: interpreter frames whose owner is n are not Python calls and
     * are skipped like iframe.owned_by_cstack. 3.14 has two such owners,
     * FRAME_OWNED_BY_INTERPRETER (3, the entry frame of each C-level call into
     * the interpreter, f_executable = None) and FRAME_OWNED_BY_CSTACK (4).
     * 0 (nothing extra to skip) in tables that predate it. */
    uint32_t iframe_skip_owner_mask;
} pydbg__layout;

/* The generated base table for `major`.`minor`, or NULL if there is none. */
const pydbg__layout *pydbg__layout_for_version(int major, int minor);

/* The versions that have a base table, as "2.7, 3.6, ..." (for error messages). */
const char *pydbg__layout_supported_versions(void);

/* Reads `_Py_DebugOffsets` at `runtime_address` (3.13+) and fills `out` from
 * the base table of its minor version overlaid with the offsets the
 * interpreter publishes. Validates the cookie, that the published version
 * matches `expected_hexversion` (when non-zero) and that every offset is
 * plausible. Errors: PYDBG_EVERSION (unknown minor version or mismatch),
 * PYDBG_ECORRUPT (bad cookie or implausible offsets), read errors. */
int pydbg__layout_from_debug_offsets(pydbg__layout *out, pydbg__reader *reader,
                                     uint64_t runtime_address, uint32_t expected_hexversion,
                                     uint32_t *published_hexversion, pydbg__error *err);

#endif
