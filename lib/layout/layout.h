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

/* How the garbage collector links its tracked objects (pydbg__layout.gc.model). */
enum pydbg__gc_model {
    PYDBG__GC_UNKNOWN = 0,  /* no generation lists known: no heap census for this table */
    PYDBG__GC_HEAD_UNION,   /* 2.7 - 3.7: PyGC_Head {gc_next, gc_prev, gc_refs}, plain pointers */
    PYDBG__GC_HEAD_TAGGED,  /* 3.8+: {_gc_next, _gc_prev}, flag bits in the low bits */
};

/* Where the GC state (its generation array) is found (pydbg__layout.gc.root). */
enum pydbg__gc_root {
    PYDBG__GC_ROOT_SYMBOL = 1, /* 2.7, 3.6: gcmodule.c's static array, via _PyGC_generation0 */
    PYDBG__GC_ROOT_RUNTIME,    /* 3.7, 3.8: _PyRuntime + gc.runtime_state */
    PYDBG__GC_ROOT_INTERP,     /* 3.9+: the main interpreter + interp.gc */
};

/* Where pymalloc keeps its state (pydbg__layout.obmalloc.root). */
enum pydbg__obmalloc_root {
    PYDBG__OBMALLOC_NONE = 0,    /* not described: no arena usage for this table */
    PYDBG__OBMALLOC_STATICS,     /* 3.6 - 3.11: static variables of Objects/obmalloc.c (.symtab) */
    PYDBG__OBMALLOC_INTERP,      /* 3.12: struct _obmalloc_state embedded in the interpreter */
    PYDBG__OBMALLOC_INTERP_PTR,  /* 3.13+: a pointer to it in the interpreter */
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

    /* The GC's generation lists, for the heap census of lib/snapshot. All zero
     * (model PYDBG__GC_UNKNOWN) in a table that does not describe them. */
    struct { /* struct _gc_runtime_state, struct gc_generation, PyGC_Head */
        uint8_t model, root;
        int32_t runtime_state;    /* the GC state in _PyRuntimeState (3.7, 3.8) */
        int32_t generations;      /* generations[0] in the GC state */
        int32_t generation_size;  /* sizeof(struct gc_generation) */
        int32_t generation_count; /* NUM_GENERATIONS */
        int32_t permanent;        /* permanent_generation in the GC state (3.7+) */
        int32_t collecting;       /* int collecting in the GC state (3.7+) */
        int32_t head_size, head_next, head_prev; /* PyGC_Head */
        uint64_t pointer_mask;    /* clears the flag bits of _gc_next/_gc_prev */
    } gc;
    /* What the census needs to size an object as sys.getsizeof() does. */
    struct {
        uint64_t flag_have_gc, flag_heaptype;
        uint64_t flag_preheader; /* tp_flags bits that put preheader_size bytes before the GC head */
        int32_t preheader_size;
        int32_t tp_base;                     /* PyTypeObject */
        int32_t list_allocated;              /* PyListObject */
        int32_t set_mask, set_table, set_smalltable, set_entry_size; /* PySetObject */
        int32_t bytearray_alloc;             /* PyByteArrayObject */
        int32_t dict_py2_smalltable;         /* 2.7 PyDictObject */
        int32_t dictkeys_usable;             /* PyDictKeysObject (3.x) */
        int32_t dictkeys_entry_size, dictkeys_unicode_entry_size; /* 2.7: PyDictEntry */
    } sizes;
    /* PyCodeObject (3.11+): a frame takes iframe.localsplus / 8 + co_nlocalsplus +
     * co_stacksize words of the data stack, so a callee pushed on its caller starts
     * exactly there; the sampler checks that to catch torn reads. -1 before 3.11. */
    struct {
        int32_t co_nlocalsplus, co_stacksize;
    } code_frame;
    /* pymalloc's arenas (Objects/obmalloc.c, Include/internal/pycore_obmalloc.h),
     * for the arena usage of lib/snapshot. root PYDBG__OBMALLOC_NONE (0) in a
     * table that does not describe them. */
    struct {
        uint8_t root;           /* a pydbg__obmalloc_root */
        int32_t interp_state;   /* interp->obmalloc: the struct (3.12) or a pointer (3.13+) */
        int32_t arenas, maxarenas, narenas_current; /* in struct _obmalloc_state (3.12+) */
        int32_t arena_object_size, arena_address, arena_pool_address, arena_nfreepools,
            arena_ntotalpools;  /* struct arena_object */
        int32_t pool_count, pool_szidx; /* struct pool_header: ref.count, szidx */
        uint32_t arena_bytes, pool_bytes, alignment, size_classes; /* ARENA_SIZE, POOL_SIZE,
                                                                     ALIGNMENT, NB_SMALL_SIZE_CLASSES */
    } obmalloc;
    /* _PyInterpreterFrame.stacktop where the interpreter resets it to -1 whenever a
     * frame resumes and saves it (>= 0) before pushing a Python callee on top
     * (3.12, 3.13): a frame with a callee in a stack but stacktop -1 was read at
     * another moment than its callee. -1 where that does not hold (3.11 never
     * resets it; 3.14 keeps a pointer, cleared in debug builds only). */
    struct {
        int32_t stacktop;
    } iframe_state;
} pydbg__layout;

/* True when an _PyInterpreterFrame with this owner is not a Python call (an
 * entry/shim frame pushed by C code) and is left out of stacks. */
static inline int pydbg__layout_skips_owner(const pydbg__layout *l, unsigned owner)
{
    return (l->iframe.owned_by_cstack >= 0 && owner == (unsigned)l->iframe.owned_by_cstack) ||
           (owner < 32 && ((l->iframe_skip_owner_mask >> owner) & 1u));
}

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
