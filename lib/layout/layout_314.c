/* CPython 3.14 structure layout, written by hand.
 *
 * 3.14 is not installed here, so tools/gen_layouts cannot compute this table
 * with offsetof. The values were worked out from the 3.14 headers:
 *
 *  - the struct definitions were read in a copy of the 3.14 branch taken at
 *    3.14.0b4+ (github.com/johndoe6345789/typthon, a renaming fork: Py -> Ty;
 *    Include/patchlevel.h there says "3.14.0b4+", and its
 *    pycore_debug_offsets.h is field for field the do_314 mirror in
 *    debug_offsets.c);
 *  - `_Py_DebugOffsets` agrees with the Python3_14 definition of
 *    bloomberg/pystack (src/pystack/_pystack/cpython/runtime.h), a tool that
 *    supports the released 3.14;
 *  - the offsets were cross-checked against constants generated with offsetof
 *    from the v3.14.0 tag for x86_64 (josefbacik/systing,
 *    src/pystacks/bindings/v3_14_0.rs): PyThreadState.current_frame 72 and
 *    thread_id 152, _PyInterpreterFrame previous 8 / instr_ptr 56 / owner 74 /
 *    localsplus 80, PyCodeObject co_flags 48 / co_filename 112 / co_name 120 /
 *    co_qualname 128 / co_linetable 136 / co_firstlineno 68 /
 *    co_code_adaptive 208, PyTupleObject.ob_item 32, PyBytesObject.ob_sval 32,
 *    PyASCIIObject size 40, _PyRuntime.interpreters.head 808,
 *    PyInterpreterState imports.modules 7664, _gil.last_holder 7768 and
 *    _gil.locked 7776. Every value below is consistent with those.
 *
 * How sure: high for everything `_Py_DebugOffsets` publishes (a live 3.14
 * target overrides those anyway, see debug_offsets.c) and for the small object
 * structs, which did not change from 3.13 except where noted. Medium for the
 * PyInterpreterState offsets, derived by hand from the 3.13 ones (+8 for the
 * new `_malloced`, -8 for the removed `id_mutex`, +8 for the new
 * `threads.preallocated`) and confirmed only through imports.modules and _gil.
 *
 * The table describes the default build (GIL, not Py_DEBUG) on x86_64 and
 * aarch64. Free-threaded 3.14t builds differ in many places and are refused
 * before this table is used. */
#include "layout/layout_handwritten.h"

const pydbg__layout pydbg__layout_3_14 = {
    .major = 3,
    .minor = 14,
    /* tstate->current_frame, _PyInterpreterFrame with f_executable and instr_ptr:
     * the 3.13 model; the _PyStackRef tag of f_executable is iframe_tag_mask. */
    .frame_model = PYDBG__IFRAME_313,
    .line_model = PYDBG__LINES_LOCATIONS_311,
    .string_model = PYDBG__STRINGS_PEP393,
    .long_model = PYDBG__LONG_LV_TAG,
    .dict_model = PYDBG__DICT_311,
    .instdict_model = PYDBG__INSTDICT_INLINE_313,
    .gil_model = PYDBG__GIL_INTERP_STATE,

    /* Include/internal/pycore_runtime_structs.h, struct pyruntimestate:
     * _Py_DebugOffsets debug_offsets (760 bytes), five ints, _finalizing (784),
     * _finalizing_id (792), struct pyinterpreters { PyMutex mutex (800);
     * head (808); main (816); int64_t next_id (824) } interpreters;
     * unsigned long main_thread (832). No current thread state in the runtime
     * since 3.12 (it is thread-local). */
    .runtime = {.interpreters_head = 808,
                .interpreters_main = 816,
                .tstate_current = PYDBG__NO_OFFSET,
                .main_thread = 832},

    /* Include/internal/pycore_interp_structs.h, struct _is: struct _ceval_state
     * ceval (0; its `struct _gil_runtime_state *gil` at 16, as in 3.13),
     * void *_malloced (7264, new in 3.14), next (7272), int64_t id (7280),
     * ... struct pythreads { next_unique_id (7336); head (7344); preallocated;
     * main; count; stacksize } threads, runtime, _finalizing, _finalizing_id,
     * struct _gc_runtime_state gc (7408, 240 bytes), sysdict (7648), builtins
     * (7656), struct _import_state imports { modules (7664) ... },
     * struct _gil_runtime_state _gil (7760). */
    .interp = {.next = 7272,
               .tstate_head = 7344,
               .id = 7280,
               .modules = 7664,
               .sysdict = 7648,
               .ceval_gil = 16,
               .gc = 7408},
    /* Include/internal/pycore_gil.h, struct _gil_runtime_state:
     * unsigned long interval (0); PyThreadState *last_holder (8); int locked (16). */
    .gil = {.locked = 16, .last_holder = 8},

    /* Include/cpython/pystate.h, struct _ts: prev (0), next (8), interp (16),
     * eval_breaker (24), _status (32), ... current_frame (72), ... thread_id
     * (152), native_thread_id (160), ... _PyStackChunk *datastack_chunk (232),
     * datastack_top (240), datastack_limit (248), ... and, new in 3.14,
     * _PyRemoteDebuggerSupport remote_debugger_support (304, 520 bytes): 824. */
    /* tstate.frame is current_frame for PYDBG__IFRAME_313 (see layout_tables.c). */
    .tstate = {.size = 824,
               .prev = 0,
               .next = 8,
               .interp = 16,
               .frame = 72,
               .cframe = PYDBG__NO_OFFSET,
               .thread_id = 152,
               .native_thread_id = 160,
               .datastack_chunk = 232,
               .datastack_top = 240,
               .datastack_limit = 248},
    .cframe = {.current_frame = PYDBG__NO_OFFSET},
    .frame = {.f_back = PYDBG__NO_OFFSET,
              .f_code = PYDBG__NO_OFFSET,
              .f_lasti = PYDBG__NO_OFFSET,
              .f_lineno = PYDBG__NO_OFFSET,
              .f_trace = PYDBG__NO_OFFSET},

    /* Include/internal/pycore_interpframe_structs.h, struct _PyInterpreterFrame:
     * _PyStackRef f_executable (0), previous (8), f_funcobj (16), f_globals (24),
     * f_builtins (32), f_locals (40), frame_obj (48), instr_ptr (56),
     * _PyStackRef *stackpointer (64, new in 3.14), uint16_t return_offset (72),
     * char owner (74), uint8_t visited (75), _PyStackRef localsplus[1] (80): 88.
     * enum _frameowner: FRAME_OWNED_BY_THREAD 0, _GENERATOR 1, _FRAME_OBJECT 2,
     * _INTERPRETER 3 (new), _CSTACK 4 (3 in 3.13). */
    .iframe = {.size = 88,
               .previous = 8,
               .executable = 0,
               .instr_ptr = 56,
               .owner = 74,
               .localsplus = 80,
               .owned_by_cstack = 4},

    /* Include/cpython/code.h, _PyCode_DEF: co_consts (24), co_names (32),
     * co_exceptiontable (40), int co_flags (48), ... co_firstlineno (68), ...
     * co_filename (112), co_name (120), co_qualname (128), co_linetable (136),
     * ... char co_code_adaptive[1] (208): 216. No co_code field since 3.11. */
    .code = {.size = 216,
             .co_name = 120,
             .co_qualname = 128,
             .co_filename = 112,
             .co_firstlineno = 68,
             .co_linetable = 136,
             .co_code = PYDBG__NO_OFFSET,
             .co_code_adaptive = 208,
             .co_flags = 48},

    /* Include/object.h, PyObject / PyVarObject. */
    .object = {.ob_type = 8, .ob_size = 16},

    /* Include/cpython/object.h, struct _typeobject (unchanged prefix: tp_name 24,
     * tp_basicsize 32, tp_itemsize 40, tp_flags 168, tp_dictoffset 288) and
     * struct _heaptypeobject (ht_cached_keys 880, before the new ht_token).
     * Include/object.h: Py_TPFLAGS_INLINE_VALUES (1 << 2),
     * Py_TPFLAGS_MANAGED_DICT (1 << 4). */
    .type = {.tp_name = 24,
             .tp_basicsize = 32,
             .tp_itemsize = 40,
             .tp_flags = 168,
             .tp_dictoffset = 288,
             .ht_cached_keys = 880,
             .flag_managed_dict = 1u << 4,
             .flag_inline_values = 1u << 2},

    /* Include/cpython/unicodeobject.h, PyASCIIObject: length (16), hash (24),
     * state (32) { interned:2, kind:3, compact:1, ascii:1, ... } in the GIL
     * build (3.14t makes `interned` a whole byte); sizeof 40.
     * PyCompactUnicodeObject adds utf8_length and utf8: 56. */
    .unicode = {.state = 32,
                .length = 16,
                .ascii_data = 40,
                .compact_data = 56,
                .kind_shift = 2,
                .compact_bit = 5,
                .ascii_bit = 6},

    /* Include/cpython/bytesobject.h: ob_size (16), ob_shash (24), ob_sval (32). */
    .bytes = {.ob_size = 16, .ob_sval = 32},

    /* Include/cpython/longintrepr.h, struct _PyLongValue { uintptr_t lv_tag (16);
     * digit ob_digit[1] (24) }, 30-bit digits (PYLONG_BITS_IN_DIGIT on 64-bit). */
    .pylong = {.size_or_tag = 16, .digits = 24, .py2_int_ival = PYDBG__NO_OFFSET, .digit_bits = 30},

    /* Include/cpython/dictobject.h, PyDictObject: ma_used (16),
     * _ma_watcher_tag (24), ma_keys (32), ma_values (40). */
    .dict = {.ma_used = 16,
             .ma_keys = 32,
             .ma_values = 40,
             .py2_ma_mask = PYDBG__NO_OFFSET,
             .py2_ma_table = PYDBG__NO_OFFSET},

    /* Include/internal/pycore_dict.h, struct _dictkeysobject: dk_refcnt (0),
     * uint8_t dk_log2_size (8), dk_log2_index_bytes (9), dk_kind (10),
     * uint32_t dk_version (12), dk_usable (16), dk_nentries (24),
     * dk_indices[] (32). struct _dictvalues { uint8_t capacity, size, embedded,
     * valid; PyObject *values[1] (8) }. */
    .dictkeys = {.dk_size = PYDBG__NO_OFFSET,
                 .dk_log2_size = 8,
                 .dk_log2_index_bytes = 9,
                 .dk_kind = 10,
                 .dk_nentries = 24,
                 .dk_indices = 32,
                 .values_array = 8},

    /* Include/internal/pycore_moduleobject.h, PyModuleObject: md_dict (16). */
    .module = {.md_dict = 16},

    /* Include/cpython/listobject.h: ob_item (24). Include/cpython/tupleobject.h:
     * Py_hash_t ob_hash (24, new in 3.14), ob_item (32). */
    .seq = {.list_ob_item = 24, .tuple_ob_item = 32},

    /* Include/internal/pycore_stackref.h (GIL build): the low bits of a
     * _PyStackRef are tags (Py_TAG_REFCNT = 1 marks a borrowed/immortal
     * reference, Py_INT_TAG = 3 a tagged int, so Py_TAG_BITS = 3). f_executable
     * holds a code object or None, never a tagged int, and objects are at least
     * 8-byte aligned, so clearing both bits gives the pointer. */
    .iframe_tag_mask = 3,
    .iframe_skip_owner_mask = (1u << 3) | (1u << 4),

    /* Include/cpython/code.h, _PyCode_DEF: int co_stacksize (64), int
     * co_firstlineno (68), int co_nlocalsplus (72), as in 3.12 and 3.13. */
    .code_frame = {.co_nlocalsplus = 72, .co_stacksize = 64},

    /* The heap census (lib/snapshot/census.c). Include/internal/pycore_interp_structs.h
     * (3.14 branch), struct _gc_runtime_state, GIL build:
     *     PyObject *trash_delete_later (0); int trash_delete_nesting (8);
     *     int enabled (12); int debug (16);
     *     struct gc_generation young (24); struct gc_generation old[2] (48, 72);
     *     struct gc_generation permanent_generation (96);
     *     struct gc_generation_stats generation_stats[NUM_GENERATIONS] (120, 3 x 24);
     *     int collecting (192); garbage (200); callbacks (208); heap_size (216);
     *     work_to_do (224); int visited_space (232); int phase (236): 240 bytes,
     * the size the layout of struct _is above allows for `gc`. struct gc_generation
     * { PyGC_Head head; int threshold; int count; } is 24 bytes, so young, old[0]
     * and old[1] are three consecutive lists, walked like 3.13's generations[3]
     * (3.13 had a `generation0` pointer between them and the permanent
     * generation; 3.14 has none). The incremental collector keeps every tracked
     * object on one of these lists between increments (the visited and pending
     * old spaces are old[visited_space] and the other); only while `collecting`
     * are some on a list local to the collector, and the census waits that out.
     * Include/internal/pycore_gc.h: PyGC_Head { uintptr_t _gc_next; uintptr_t
     * _gc_prev; }; _PyGC_PREV_SHIFT 2 (two flags in _gc_prev), and _gc_next's low
     * bit is NEXT_MASK_OLD_SPACE_1, so both lose their two low bits. */
    .gc = {.model = PYDBG__GC_HEAD_TAGGED,
           .root = PYDBG__GC_ROOT_INTERP,
           .runtime_state = PYDBG__NO_OFFSET,
           .generations = 24,
           .generation_size = 24,
           .generation_count = 3,
           .permanent = 96,
           .collecting = 192,
           .head_size = 16,
           .head_next = 0,
           .head_prev = 8,
           .pointer_mask = ~(uint64_t)3},
    /* Sizing as sys.getsizeof(), unchanged from 3.13 in 3.14's headers:
     * Include/object.h Py_TPFLAGS_HAVE_GC (1 << 14), Py_TPFLAGS_HEAPTYPE (1 << 9),
     * Py_TPFLAGS_PREHEADER (MANAGED_WEAKREF 1 << 3 | MANAGED_DICT 1 << 4), two
     * pointers before the GC head; Include/cpython/object.h tp_base (256);
     * Include/cpython/listobject.h allocated (32); Include/cpython/setobject.h
     * PySetObject { fill 16, used 24, mask 32, table 40, hash 48, finger 56,
     * smalltable 64 }, setentry 16 bytes; Include/cpython/bytearrayobject.h
     * ob_alloc (24); pycore_dict.h dk_usable (16), PyDictKeyEntry 24 and
     * PyDictUnicodeEntry 16 bytes. */
    .sizes = {.flag_have_gc = 1u << 14,
              .flag_heaptype = 1u << 9,
              .flag_preheader = (1u << 3) | (1u << 4),
              .preheader_size = 16,
              .tp_base = 256,
              .list_allocated = 32,
              .set_mask = 32,
              .set_table = 40,
              .set_smalltable = 64,
              .set_entry_size = 16,
              .bytearray_alloc = 24,
              .dict_py2_smalltable = PYDBG__NO_OFFSET,
              .dictkeys_usable = 16,
              .dictkeys_entry_size = 24,
              .dictkeys_unicode_entry_size = 16},
    /* pymalloc arena usage: struct _obmalloc_state is unchanged in 3.14's
     * pycore_obmalloc.h, but where PyInterpreterState keeps its `obmalloc`
     * pointer was not worked out from the 3.14 headers (it sits after the
     * config and callbacks, far past the offsets checked above), so 3.14 gets no
     * arena usage rather than a guessed offset. */
    .obmalloc = {.root = PYDBG__OBMALLOC_NONE},
    /* stackpointer is cleared on resume only in debug builds: no calling-state test. */
    .iframe_state = {.stacktop = -1},
};
