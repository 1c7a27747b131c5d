/* _Py_DebugOffsets -> pydbg__layout.
 *
 * 3.13 is checked against reality: a real 3.13 interpreter dumps its own
 * _PyRuntime, and the layout built from those bytes must equal the table that
 * tools/gen_layouts computed with offsetof from the 3.13 headers (two
 * independent sources). 3.14 is not installed, so its field order is checked
 * with a synthetic blob laid out as Include/internal/pycore_debug_offsets.h of
 * 3.14 declares it. Then every way the input can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "layout/layout.h"
#include "layout/layout_handwritten.h"
#include "mem/reader.h"
#include "pydebug/errors.h"

#define PY313 "/root/.pyenv/versions/3.13.0/bin/python"
#define PY312 "/root/.pyenv/versions/3.12.1/bin/python"
#define RUNTIME 0x7f0000001000ull

/* ---- helpers ------------------------------------------------------------------- */

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Runs `python`, which prints the address of its own _PyRuntime, its
 * sys.hexversion and the hex of the first `length` bytes of _PyRuntime.
 * Returns 0, or -1 when that interpreter is not installed. */
static int dump_runtime(const char *python, unsigned char *bytes, size_t length, uint64_t *address,
                        uint32_t *hexversion)
{
    char command[512];
    char *line = NULL;
    size_t capacity = 0;
    unsigned long long a = 0;
    unsigned long hv = 0;
    FILE *pipe;
    if (access(python, X_OK) != 0)
        return -1;
    snprintf(command, sizeof command,
             "%s -c 'import ctypes, sys\n"
             "rt = ctypes.c_char.in_dll(ctypes.pythonapi, \"_PyRuntime\")\n"
             "a = ctypes.addressof(rt)\n"
             "print(hex(a), hex(sys.hexversion))\n"
             "print(ctypes.string_at(a, %zu).hex())'",
             python, length);
    pipe = popen(command, "r");
    assert_non_null(pipe);
    assert_true(getline(&line, &capacity, pipe) > 0);
    assert_int_equal(sscanf(line, "%llx %lx", &a, &hv), 2);
    assert_true(getline(&line, &capacity, pipe) > 0);
    assert_int_equal(pclose(pipe), 0);
    assert_true(strlen(line) >= 2 * length);
    for (size_t i = 0; i < length; i++) {
        unsigned byte;
        assert_int_equal(sscanf(line + 2 * i, "%2x", &byte), 1);
        bytes[i] = (unsigned char)byte;
    }
    free(line);
    *address = a;
    *hexversion = (uint32_t)hv;
    return 0;
}

static pydbg__reader *reader_over(uint64_t base, const void *data, size_t length)
{
    pydbg__reader *r;
    assert_int_equal(pydbg__reader_open_buffer(&r), PYDBG_OK);
    if (length)
        assert_int_equal(pydbg__reader_buffer_add(r, base, data, length), PYDBG_OK);
    return r;
}

/* Every field of pydbg__layout, for whole-table comparisons. */
/* clang-format off */
#define LAYOUT_FIELDS(X)                                                                      \
    X(major) X(minor) X(frame_model) X(line_model) X(string_model) X(long_model)              \
    X(dict_model) X(instdict_model) X(gil_model) X(runtime.interpreters_head)                 \
    X(runtime.interpreters_main) X(runtime.tstate_current) X(runtime.main_thread)             \
    X(interp.next) X(interp.tstate_head) X(interp.id) X(interp.modules) X(interp.sysdict)     \
    X(interp.ceval_gil) X(interp.gc) X(gil.locked) X(gil.last_holder) X(tstate.size)          \
    X(tstate.prev) X(tstate.next) X(tstate.interp) X(tstate.frame) X(tstate.cframe)           \
    X(tstate.thread_id) X(tstate.native_thread_id) X(tstate.datastack_chunk)                  \
    X(tstate.datastack_top) X(tstate.datastack_limit) X(cframe.current_frame)                 \
    X(frame.f_back) X(frame.f_code) X(frame.f_lasti) X(frame.f_lineno) X(frame.f_trace)       \
    X(iframe.size) X(iframe.previous) X(iframe.executable) X(iframe.instr_ptr)                \
    X(iframe.owner) X(iframe.localsplus) X(iframe.owned_by_cstack) X(code.size)               \
    X(code.co_name) X(code.co_qualname) X(code.co_filename) X(code.co_firstlineno)            \
    X(code.co_linetable) X(code.co_code) X(code.co_code_adaptive) X(code.co_flags)            \
    X(object.ob_type) X(object.ob_size) X(type.tp_name) X(type.tp_basicsize)                  \
    X(type.tp_itemsize) X(type.tp_flags) X(type.tp_dictoffset) X(type.ht_cached_keys)         \
    X(type.flag_managed_dict) X(type.flag_inline_values) X(unicode.state) X(unicode.length)   \
    X(unicode.ascii_data) X(unicode.compact_data) X(unicode.kind_shift)                       \
    X(unicode.compact_bit) X(unicode.ascii_bit) X(bytes.ob_size) X(bytes.ob_sval)             \
    X(pylong.size_or_tag) X(pylong.digits) X(pylong.py2_int_ival) X(pylong.digit_bits)        \
    X(dict.ma_used) X(dict.ma_keys) X(dict.ma_values) X(dict.py2_ma_mask)                     \
    X(dict.py2_ma_table) X(dictkeys.dk_size) X(dictkeys.dk_log2_size)                         \
    X(dictkeys.dk_log2_index_bytes) X(dictkeys.dk_kind) X(dictkeys.dk_nentries)               \
    X(dictkeys.dk_indices) X(dictkeys.values_array) X(module.md_dict) X(seq.list_ob_item)     \
    X(seq.tuple_ob_item) X(iframe_tag_mask) X(iframe_skip_owner_mask)
/* clang-format on */

static int layouts_differ(const pydbg__layout *got, const pydbg__layout *want)
{
    int differ = 0;
#define COMPARE(f)                                                                                 \
    if ((long long)got->f != (long long)want->f) {                                                 \
        print_message("  %-32s got %lld, want %lld\n", #f, (long long)got->f, (long long)want->f); \
        differ = 1;                                                                                \
    }
    LAYOUT_FIELDS(COMPARE)
#undef COMPARE
    return differ;
}

/* ---- 3.13 against a real interpreter -------------------------------------------- */

static void make_313(unsigned char *blob);
#define SIZE_313 584

static void test_313_matches_generated_table(void **state)
{
    (void)state;
    unsigned char bytes[1024];
    uint64_t address;
    uint32_t hexversion, published = 0;
    const pydbg__layout *generated = pydbg__layout_for_version(3, 13);
    pydbg__layout got, want;
    pydbg__reader *r;
    pydbg__error err = {0};
    if (dump_runtime(PY313, bytes, sizeof bytes, &address, &hexversion) != 0) {
        print_message("skipped: %s is not installed\n", PY313);
        skip();
    }
    assert_non_null(generated);
    r = reader_over(address, bytes, sizeof bytes);
    assert_int_equal(
        pydbg__layout_from_debug_offsets(&got, r, address, hexversion, &published, &err), PYDBG_OK);
    assert_int_equal(published, hexversion);
    /* Every offset the interpreter publishes, and the ones derived from them,
     * must be what offsetof gave on the installed headers; the rest comes from
     * the generated table unchanged. The only addition is the skip mask, which
     * tables that predate it leave at zero. */
    want = *generated;
    if (want.iframe_skip_owner_mask == 0)
        want.iframe_skip_owner_mask = 1u << generated->iframe.owned_by_cstack;
    assert_int_equal(want.iframe_skip_owner_mask, 1u << 3); /* FRAME_OWNED_BY_CSTACK in 3.13 */
    assert_false(layouts_differ(&got, &want));
    /* Two reads at most: the library reads the struct in one go. */
    assert_true(r->read_calls <= 2);
    pydbg__reader_destroy(r);

    /* The synthetic 3.13 blob the other tests use is what 3.13.0 publishes. */
    if (hexversion == 0x030d00f0) {
        unsigned char synthetic[SIZE_313];
        int same = 1;
        make_313(synthetic);
        for (size_t i = 0; i < SIZE_313; i += 8) {
            if (get_le64(bytes + i) != get_le64(synthetic + i)) {
                print_message("  word %zu: real %llu, synthetic %llu\n", i / 8,
                              (unsigned long long)get_le64(bytes + i),
                              (unsigned long long)get_le64(synthetic + i));
                same = 0;
            }
        }
        assert_true(same);
    }
}

/* A real 3.12 runtime has no debug offsets: its first bytes are no cookie. */
static void test_312_runtime_has_no_cookie(void **state)
{
    (void)state;
    unsigned char bytes[1024];
    uint64_t address;
    uint32_t hexversion, published = 1;
    pydbg__layout out;
    pydbg__reader *r;
    pydbg__error err = {0};
    if (dump_runtime(PY312, bytes, sizeof bytes, &address, &hexversion) != 0) {
        print_message("skipped: %s is not installed\n", PY312);
        skip();
    }
    r = reader_over(address, bytes, sizeof bytes);
    assert_int_equal(pydbg__layout_from_debug_offsets(&out, r, address, 0, &published, &err),
                     PYDBG_ECORRUPT);
    assert_int_equal(err.code, PYDBG_ECORRUPT);
    assert_non_null(strstr(err.message, "cookie mismatch"));
    assert_non_null(strstr(err.message, "not a CPython 3.13+ runtime"));
    assert_int_equal(published, 0);
    pydbg__reader_destroy(r);
}

/* ---- synthetic blobs ----------------------------------------------------------- */

/* clang-format off: one line per sub-struct, as in the header */
/* Word indices of _Py_DebugOffsets in 3.14 (pycore_debug_offsets.h of the 3.14
 * branch), the cookie being word 0. */
enum {
    W14_VERSION = 1,
    W14_FREE_THREADED,
    W14_RT_SIZE,
    W14_RT_FINALIZING,
    W14_RT_INTERPRETERS_HEAD,
    W14_IS_SIZE,
    W14_IS_ID,
    W14_IS_NEXT,
    W14_IS_THREADS_HEAD,
    W14_IS_THREADS_MAIN,
    W14_IS_GC,
    W14_IS_IMPORTS_MODULES,
    W14_IS_SYSDICT,
    W14_IS_BUILTINS,
    W14_IS_CEVAL_GIL,
    W14_IS_GIL_RUNTIME_STATE,
    W14_IS_GIL_ENABLED,
    W14_IS_GIL_LOCKED,
    W14_IS_GIL_HOLDER,
    W14_IS_CODE_OBJECT_GENERATION,
    W14_IS_TLBC_GENERATION,
    W14_TS_SIZE,
    W14_TS_PREV,
    W14_TS_NEXT,
    W14_TS_INTERP,
    W14_TS_CURRENT_FRAME,
    W14_TS_THREAD_ID,
    W14_TS_NATIVE_THREAD_ID,
    W14_TS_DATASTACK_CHUNK,
    W14_TS_STATUS,
    W14_IF_SIZE,
    W14_IF_PREVIOUS,
    W14_IF_EXECUTABLE,
    W14_IF_INSTR_PTR,
    W14_IF_LOCALSPLUS,
    W14_IF_OWNER,
    W14_IF_STACKPOINTER,
    W14_IF_TLBC_INDEX,
    W14_CO_SIZE,
    W14_CO_FILENAME,
    W14_CO_NAME,
    W14_CO_QUALNAME,
    W14_CO_LINETABLE,
    W14_CO_FIRSTLINENO,
    W14_CO_ARGCOUNT,
    W14_CO_LOCALSPLUSNAMES,
    W14_CO_LOCALSPLUSKINDS,
    W14_CO_CODE_ADAPTIVE,
    W14_CO_TLBC,
    W14_OB_SIZE,
    W14_OB_OB_TYPE,
    W14_TP_SIZE,
    W14_TP_NAME,
    W14_TP_REPR,
    W14_TP_FLAGS,
    W14_TU_SIZE,
    W14_TU_OB_ITEM,
    W14_TU_OB_SIZE,
    W14_LI_SIZE,
    W14_LI_OB_ITEM,
    W14_LI_OB_SIZE,
    W14_SE_SIZE,
    W14_SE_USED,
    W14_SE_TABLE,
    W14_SE_MASK,
    W14_DI_SIZE,
    W14_DI_MA_KEYS,
    W14_DI_MA_VALUES,
    W14_FL_SIZE,
    W14_FL_OB_FVAL,
    W14_LO_SIZE,
    W14_LO_LV_TAG,
    W14_LO_OB_DIGIT,
    W14_BY_SIZE,
    W14_BY_OB_SIZE,
    W14_BY_OB_SVAL,
    W14_UN_SIZE,
    W14_UN_STATE,
    W14_UN_LENGTH,
    W14_UN_ASCIIOBJECT_SIZE,
    W14_GC_SIZE,
    W14_GC_COLLECTING,
    W14_GEN_SIZE,
    W14_GEN_GI_NAME,
    W14_GEN_GI_IFRAME,
    W14_GEN_GI_FRAME_STATE,
    W14_LL_NEXT,
    W14_LL_PREV,
    W14_DS_EVAL_BREAKER,
    W14_DS_REMOTE_DEBUGGER_SUPPORT,
    W14_DS_REMOTE_DEBUGGING_ENABLED,
    W14_DS_PENDING_CALL,
    W14_DS_SCRIPT_PATH,
    W14_DS_SCRIPT_PATH_SIZE,
    W14_COUNT
};
/* clang-format on */
#define SIZE_314 (8 * W14_COUNT)

/* clang-format off: one line per sub-struct, as in the header */
/* Word indices of the 3.13 struct (pycore_runtime.h of 3.13.0). */
enum {
    W13_VERSION = 1,
    W13_FREE_THREADED,
    W13_RT_SIZE,
    W13_RT_FINALIZING,
    W13_RT_INTERPRETERS_HEAD,
    W13_IS_SIZE,
    W13_IS_ID,
    W13_IS_NEXT,
    W13_IS_THREADS_HEAD,
    W13_IS_GC,
    W13_IS_IMPORTS_MODULES,
    W13_IS_SYSDICT,
    W13_IS_BUILTINS,
    W13_IS_CEVAL_GIL,
    W13_IS_GIL_RUNTIME_STATE,
    W13_IS_GIL_ENABLED,
    W13_IS_GIL_LOCKED,
    W13_IS_GIL_HOLDER,
    W13_TS_SIZE,
    W13_TS_PREV,
    W13_TS_NEXT,
    W13_TS_INTERP,
    W13_TS_CURRENT_FRAME,
    W13_TS_THREAD_ID,
    W13_TS_NATIVE_THREAD_ID,
    W13_TS_DATASTACK_CHUNK,
    W13_TS_STATUS,
    W13_IF_SIZE,
    W13_IF_PREVIOUS,
    W13_IF_EXECUTABLE,
    W13_IF_INSTR_PTR,
    W13_IF_LOCALSPLUS,
    W13_IF_OWNER,
    W13_CO_SIZE,
    W13_CO_FILENAME,
    W13_CO_NAME,
    W13_CO_QUALNAME,
    W13_CO_LINETABLE,
    W13_CO_FIRSTLINENO,
    W13_CO_ARGCOUNT,
    W13_CO_LOCALSPLUSNAMES,
    W13_CO_LOCALSPLUSKINDS,
    W13_CO_CODE_ADAPTIVE,
    W13_OB_SIZE,
    W13_OB_OB_TYPE,
    W13_TP_SIZE,
    W13_TP_NAME,
    W13_TP_REPR,
    W13_TP_FLAGS,
    W13_TU_SIZE,
    W13_TU_OB_ITEM,
    W13_TU_OB_SIZE,
    W13_LI_SIZE,
    W13_LI_OB_ITEM,
    W13_LI_OB_SIZE,
    W13_DI_SIZE,
    W13_DI_MA_KEYS,
    W13_DI_MA_VALUES,
    W13_FL_SIZE,
    W13_FL_OB_FVAL,
    W13_LO_SIZE,
    W13_LO_LV_TAG,
    W13_LO_OB_DIGIT,
    W13_BY_SIZE,
    W13_BY_OB_SIZE,
    W13_BY_OB_SVAL,
    W13_UN_SIZE,
    W13_UN_STATE,
    W13_UN_LENGTH,
    W13_UN_ASCIIOBJECT_SIZE,
    W13_GC_SIZE,
    W13_GC_COLLECTING,
    W13_COUNT
};
/* clang-format on */
_Static_assert(SIZE_313 == 8 * W13_COUNT, "3.13 struct size");

static void set_word(unsigned char *blob, int index, uint64_t value)
{
    put_le64(blob + 8 * index, value);
}

/* A 3.14.0 blob whose every published offset is distinct and differs from
 * the hand-written table, and whose unused fields hold junk. */
static void make_314(unsigned char *blob)
{
    /* clang-format off */
    static const struct {
        int index;
        uint64_t value;
    } words[] = {
        {W14_VERSION, 0x030e00f0}, {W14_FREE_THREADED, 0},
        {W14_RT_SIZE, 400000}, {W14_RT_FINALIZING, 1000}, {W14_RT_INTERPRETERS_HEAD, 1016},
        {W14_IS_SIZE, 300000}, {W14_IS_ID, 2008}, {W14_IS_NEXT, 2000},
        {W14_IS_THREADS_HEAD, 2104}, {W14_IS_GC, 2200}, {W14_IS_IMPORTS_MODULES, 2496},
        {W14_IS_SYSDICT, 2480}, {W14_IS_BUILTINS, 2488}, {W14_IS_CEVAL_GIL, 24},
        {W14_IS_GIL_RUNTIME_STATE, 2600}, {W14_IS_GIL_LOCKED, 2624},
        {W14_IS_GIL_HOLDER, 2616},
        {W14_TS_SIZE, 1000}, {W14_TS_PREV, 8}, {W14_TS_NEXT, 16}, {W14_TS_INTERP, 24},
        {W14_TS_CURRENT_FRAME, 96}, {W14_TS_THREAD_ID, 176}, {W14_TS_NATIVE_THREAD_ID, 184},
        {W14_TS_DATASTACK_CHUNK, 264},
        {W14_IF_SIZE, 120}, {W14_IF_PREVIOUS, 16}, {W14_IF_EXECUTABLE, 8},
        {W14_IF_INSTR_PTR, 64}, {W14_IF_LOCALSPLUS, 104}, {W14_IF_OWNER, 90},
        {W14_CO_SIZE, 300}, {W14_CO_FILENAME, 160}, {W14_CO_NAME, 168},
        {W14_CO_QUALNAME, 176}, {W14_CO_LINETABLE, 184}, {W14_CO_FIRSTLINENO, 100},
        {W14_CO_CODE_ADAPTIVE, 256},
        {W14_OB_SIZE, 24}, {W14_OB_OB_TYPE, 16},
        {W14_TP_SIZE, 500}, {W14_TP_NAME, 40}, {W14_TP_FLAGS, 200},
        {W14_TU_SIZE, 56}, {W14_TU_OB_ITEM, 48}, {W14_TU_OB_SIZE, 24},
        {W14_LI_SIZE, 56}, {W14_LI_OB_ITEM, 32}, {W14_LI_OB_SIZE, 24},
        {W14_DI_SIZE, 64}, {W14_DI_MA_KEYS, 48}, {W14_DI_MA_VALUES, 56},
        {W14_LO_SIZE, 48}, {W14_LO_LV_TAG, 32}, {W14_LO_OB_DIGIT, 40},
        {W14_BY_SIZE, 56}, {W14_BY_OB_SIZE, 24}, {W14_BY_OB_SVAL, 48},
        {W14_UN_SIZE, 80}, {W14_UN_STATE, 44}, {W14_UN_LENGTH, 24},
        {W14_UN_ASCIIOBJECT_SIZE, 56},
    };
    /* clang-format on */
    memcpy(blob, "xdebugpy", 8);
    /* Junk everywhere first: fields the library does not use must not matter,
     * and a misplaced read would pick up a huge value and fail validation. */
    for (int i = 1; i < W14_COUNT; i++)
        set_word(blob, i, 0xa5a5a5a5a5a5a5a5ull + (uint64_t)i);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        set_word(blob, words[i].index, words[i].value);
    set_word(blob, W14_IS_GIL_ENABLED, 0); /* GIL build */
}

/* A 3.13.0 blob with the values a real 3.13.0 publishes on x86_64 (offsetof
 * and sizeof of the 3.13.0 headers, as pycore_runtime_init.h computes them),
 * for the tests that need a 3.13 version without running one. */
static void make_313(unsigned char *blob)
{
    /* clang-format off */
    static const uint64_t values[W13_COUNT] = {
        0, 0x030d00f0, 0,
        283320, 608, 632,
        194968, 7272, 7264, 7344, 7400, 7656, 7640, 7648, 16, 7752, 0, 7768, 7760,
        304, 0, 8, 16, 72, 152, 160, 232, 32,
        80, 8, 0, 56, 72, 70,
        208, 112, 120, 128, 136, 68, 52, 96, 104, 200,
        16, 8,
        416, 24, 88, 168,
        32, 24, 16,
        40, 24, 16,
        48, 32, 40,
        24, 16,
        32, 16, 24,
        40, 16, 32,
        64, 32, 16, 40,
        240, 200,
    };
    /* clang-format on */
    memcpy(blob, "xdebugpy", 8);
    for (int i = 1; i < W13_COUNT; i++)
        set_word(blob, i, values[i]);
}

static int run(const unsigned char *blob, size_t length, uint32_t expected, pydbg__layout *out,
               uint32_t *published, pydbg__error *err)
{
    pydbg__reader *r = reader_over(RUNTIME, blob, length);
    int rc = pydbg__layout_from_debug_offsets(out, r, RUNTIME, expected, published, err);
    pydbg__reader_destroy(r);
    return rc;
}

static void test_314_fields_land_in_place(void **state)
{
    (void)state;
    unsigned char blob[SIZE_314];
    pydbg__layout got, want;
    pydbg__error err = {0};
    uint32_t published = 0;
    make_314(blob);
    assert_int_equal(run(blob, sizeof blob, 0x030e00f0, &got, &published, &err), PYDBG_OK);
    assert_int_equal(published, 0x030e00f0);

    want = pydbg__layout_3_14;
    want.runtime.interpreters_head = 1016;
    /* Not published: kept at their 3.14 distance from interpreters.head
     * (main = head + 8, main_thread = head + 24). */
    want.runtime.interpreters_main = 1024;
    want.runtime.main_thread = 1040;
    want.interp.next = 2000;
    want.interp.id = 2008;
    want.interp.tstate_head = 2104;
    want.interp.gc = 2200;
    want.interp.modules = 2496;
    want.interp.sysdict = 2480;
    want.interp.ceval_gil = 24;
    want.gil.locked = 2624 - 2600;
    want.gil.last_holder = 2616 - 2600;
    want.tstate.size = 1000;
    want.tstate.prev = 8;
    want.tstate.next = 16;
    want.tstate.interp = 24;
    want.tstate.frame = 96; /* current_frame */
    want.tstate.thread_id = 176;
    want.tstate.native_thread_id = 184;
    want.tstate.datastack_chunk = 264;
    want.tstate.datastack_top = 272;   /* chunk + 8 */
    want.tstate.datastack_limit = 280; /* chunk + 16 */
    want.iframe.size = 120;
    want.iframe.previous = 16;
    want.iframe.executable = 8;
    want.iframe.instr_ptr = 64;
    want.iframe.localsplus = 104;
    want.iframe.owner = 90;
    want.code.size = 300;
    want.code.co_filename = 160;
    want.code.co_name = 168;
    want.code.co_qualname = 176;
    want.code.co_linetable = 184;
    want.code.co_firstlineno = 100;
    want.code.co_code_adaptive = 256;
    want.object.ob_type = 16;
    want.object.ob_size = 24;
    want.type.tp_name = 40;
    want.type.tp_flags = 200;
    want.seq.tuple_ob_item = 48;
    want.seq.list_ob_item = 32;
    want.dict.ma_keys = 48;
    want.dict.ma_values = 56;
    want.pylong.size_or_tag = 32;
    want.pylong.digits = 40;
    want.bytes.ob_size = 24;
    want.bytes.ob_sval = 48;
    want.unicode.state = 44;
    want.unicode.length = 24;
    want.unicode.ascii_data = 56;
    assert_false(layouts_differ(&got, &want));

    /* What 3.14 changed that the offsets do not say. */
    assert_int_equal(got.iframe.owned_by_cstack, 4);
    assert_int_equal(got.iframe_skip_owner_mask, (1u << 3) | (1u << 4));
    assert_int_equal(got.iframe_tag_mask, 3);
    assert_int_equal(got.frame_model, PYDBG__IFRAME_313);
}

/* The hand-written table must agree with itself where values are tied by the
 * 3.14 struct definitions (sizes bound the fields inside them, _PyRuntime
 * starts with the 760-byte debug offsets, tuples gained ob_hash). */
static void test_314_table_is_self_consistent(void **state)
{
    (void)state;
    const pydbg__layout *l = &pydbg__layout_3_14;
    assert_int_equal(l->major, 3);
    assert_int_equal(l->minor, 14);
    assert_true(l->iframe.localsplus + 8 <= l->iframe.size);
    assert_true(l->iframe.owner < l->iframe.localsplus);
    assert_true(l->code.co_code_adaptive < l->code.size);
    assert_true(l->tstate.datastack_limit + 8 <= l->tstate.size);
    assert_int_equal(l->runtime.interpreters_main, l->runtime.interpreters_head + 8);
    /* _PyRuntime starts with the 760-byte debug offsets, then five ints and a
     * pointer-aligned _finalizing, _finalizing_id and the interpreters struct. */
    assert_int_equal(l->runtime.interpreters_head, SIZE_314 + 24 + 16 + 8);
    assert_int_equal(l->seq.tuple_ob_item, l->object.ob_size + 16);
}

/* ---- rejections ---------------------------------------------------------------- */

static void expect_failure(const unsigned char *blob, size_t length, uint32_t expected, int code,
                           const char *needle)
{
    pydbg__layout out;
    pydbg__layout untouched;
    pydbg__error err = {0};
    uint32_t published;
    memset(&out, 0xab, sizeof out);
    memcpy(&untouched, &out, sizeof out);
    assert_int_equal(run(blob, length, expected, &out, &published, &err), code);
    assert_int_equal(err.code, code);
    assert_true(err.message[0] != '\0');
    if (needle && !strstr(err.message, needle)) {
        print_message("message \"%s\" lacks \"%s\"\n", err.message, needle);
        fail();
    }
    /* A failed call leaves the caller's layout alone. */
    assert_memory_equal(&out, &untouched, sizeof out);
}

static void test_bad_cookie(void **state)
{
    (void)state;
    unsigned char blob[SIZE_314];
    make_314(blob);
    blob[7] = 'Y';
    expect_failure(blob, sizeof blob, 0, PYDBG_ECORRUPT, "cookie mismatch at 0x7f0000001000");
    memset(blob, 0, 8);
    expect_failure(blob, sizeof blob, 0, PYDBG_ECORRUPT, "not a CPython 3.13+ runtime");
}

static void test_unknown_version(void **state)
{
    (void)state;
    unsigned char blob[SIZE_314];
    pydbg__layout out;
    pydbg__error err = {0};
    uint32_t published = 0;
    make_314(blob);
    set_word(blob, W14_VERSION, 0x030f00a1);
    expect_failure(blob, sizeof blob, 0, PYDBG_EVERSION,
                   "version 3.15.0a1, this libpydebug knows 3.13 and 3.14");
    /* The version is still reported, for the caller's own message. */
    assert_int_equal(run(blob, sizeof blob, 0, &out, &published, &err), PYDBG_EVERSION);
    assert_int_equal(published, 0x030f00a1);
    /* Not a version at all. */
    set_word(blob, W14_VERSION, 0x020700f0);
    expect_failure(blob, sizeof blob, 0, PYDBG_ECORRUPT, "implausible version");
    set_word(blob, W14_VERSION, 0x1030e00f0ull);
    expect_failure(blob, sizeof blob, 0, PYDBG_ECORRUPT, "implausible version");
    set_word(blob, W14_VERSION, 0x030e00d0);
    expect_failure(blob, sizeof blob, 0, PYDBG_ECORRUPT, "implausible version");
}

static void test_prerelease_refused(void **state)
{
    (void)state;
    unsigned char blob[SIZE_314];
    make_314(blob);
    set_word(blob, W14_VERSION, 0x030e00b1);
    expect_failure(blob, sizeof blob, 0, PYDBG_EVERSION, "pre-release 3.14.0b1");
    set_word(blob, W14_VERSION, 0x030e00c1); /* rc1: accepted */
    {
        pydbg__layout out;
        pydbg__error err = {0};
        assert_int_equal(run(blob, sizeof blob, 0, &out, NULL, &err), PYDBG_OK);
    }
}

static void test_expected_version_mismatch(void **state)
{
    (void)state;
    unsigned char blob[SIZE_313];
    make_313(blob);
    expect_failure(blob, sizeof blob, 0x030c01f0, PYDBG_EVERSION, "3.13.0");
    expect_failure(blob, sizeof blob, 0x030c01f0, PYDBG_EVERSION, "3.12");
    {
        unsigned char blob14[SIZE_314];
        make_314(blob14);
        expect_failure(blob14, sizeof blob14, 0x030d00f0, PYDBG_EVERSION, "3.14.0");
    }
}

static void test_313_synthetic_accepted(void **state)
{
    (void)state;
    unsigned char blob[SIZE_313];
    pydbg__layout out;
    pydbg__error err = {0};
    uint32_t published = 0;
    if (!pydbg__layout_for_version(3, 13)) {
        print_message("skipped: no generated 3.13 table\n");
        skip();
    }
    make_313(blob);
    /* Micro version and patch releases do not matter; 3.13.5 expected. */
    assert_int_equal(run(blob, sizeof blob, 0x030d05f0, &out, &published, &err), PYDBG_OK);
    assert_int_equal(published, 0x030d00f0);
    assert_int_equal(out.minor, 13);
    assert_int_equal(out.interp.tstate_head, 7344);
    assert_int_equal(out.gil.locked, 16);
    assert_int_equal(out.gil.last_holder, 8);
}

static void test_free_threaded(void **state)
{
    (void)state;
    unsigned char blob[SIZE_314];
    make_314(blob);
    set_word(blob, W14_FREE_THREADED, 1);
    expect_failure(blob, sizeof blob, 0, PYDBG_ENOTSUP,
                   "free-threaded builds are not supported yet");
    set_word(blob, W14_FREE_THREADED, 7);
    expect_failure(blob, sizeof blob, 0, PYDBG_ECORRUPT, "free_threaded is 7");
}

static void test_offset_beyond_size(void **state)
{
    (void)state;
    unsigned char blob[SIZE_314];
    static const struct {
        int index;
        uint64_t value;
        const char *needle;
    } cases[] = {
        {W14_TS_THREAD_ID, 1000, "PyThreadState.thread_id at offset 1000 is beyond its size 1000"},
        {W14_TS_THREAD_ID, 996, "PyThreadState.thread_id"}, /* straddles the end */
        {W14_IF_OWNER, 120, "_PyInterpreterFrame.owner"},
        {W14_CO_NAME, UINT64_MAX - 3, "PyCodeObject.co_name"}, /* would wrap when added */
        {W14_IS_GIL_LOCKED, 300000, "PyInterpreterState._gil.locked"},
        {W14_UN_ASCIIOBJECT_SIZE, 81, "PyUnicodeObject"},
        {W14_TS_SIZE, 0, "implausible size 0 for PyThreadState"},
        {W14_IS_SIZE, 1ull << 40, "implausible size"},
        {W14_OB_SIZE, 2u << 20, "implausible size"},
        {W14_IS_GIL_HOLDER, 2500, "lie before _gil"},
        {W14_LI_OB_SIZE, 32, "ob_size differs"},
        /* Derived fields are checked too: datastack_limit = chunk + 16. */
        {W14_TS_DATASTACK_CHUNK, 984, "PyThreadState.datastack_limit would be at 1000"},
        {W14_RT_INTERPRETERS_HEAD, 399976, "_PyRuntimeState.main_thread"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_314(blob);
        set_word(blob, cases[i].index, cases[i].value);
        expect_failure(blob, sizeof blob, 0, PYDBG_ECORRUPT, cases[i].needle);
    }
}

static void test_truncated(void **state)
{
    (void)state;
    unsigned char blob[SIZE_314];
    pydbg__layout out;
    pydbg__error err = {0};
    make_314(blob);
    /* Shorter than the struct of the version it announces. */
    expect_failure(blob, SIZE_314 - 8, 0, PYDBG_EREAD, "of its 760 bytes");
    expect_failure(blob, SIZE_313, 0, PYDBG_EREAD, "version 3.14.0");
    /* Shorter than the header. */
    expect_failure(blob, 20, 0, PYDBG_EREAD, "header");
    /* Nothing there at all. */
    expect_failure(blob, 0, 0, PYDBG_EREAD, "0x7f0000001000");
    /* A 3.13 struct needs only its own 584 bytes. */
    if (pydbg__layout_for_version(3, 13)) {
        unsigned char blob13[SIZE_313];
        make_313(blob13);
        assert_int_equal(run(blob13, sizeof blob13, 0, &out, NULL, &err), PYDBG_OK);
        expect_failure(blob13, sizeof blob13 - 1, 0, PYDBG_EREAD, "of its 584 bytes");
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    pydbg__layout out;
    pydbg__error err = {0};
    assert_int_equal(pydbg__layout_from_debug_offsets(&out, NULL, RUNTIME, 0, NULL, &err),
                     PYDBG_EINVAL);
    assert_true(err.message[0] != '\0');
}

/* Random corruption of a valid blob: any answer but a crash or a silent
 * failure. Run under ASan/UBSan this covers the decoding paths. */
static void test_random_corruption(void **state)
{
    (void)state;
    unsigned char blob[SIZE_314];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int accepted = 0;
    for (int round = 0; round < 4000; round++) {
        pydbg__layout out;
        pydbg__error err = {0};
        int rc;
        make_314(blob);
        for (int flips = 0; flips < 1 + round % 4; flips++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            /* Keep the cookie and version mostly intact so the deep paths run. */
            blob[24 + seed % (SIZE_314 - 24)] ^= (unsigned char)(1u << (seed >> 32) % 8);
        }
        rc = run(blob, sizeof blob, 0, &out, NULL, &err);
        if (rc == PYDBG_OK) {
            accepted++;
            /* Whatever was accepted must be usable as offsets. */
            assert_true(out.tstate.thread_id >= 0 && out.tstate.thread_id < out.tstate.size);
            assert_true(out.iframe.owner >= 0 && out.iframe.owner < out.iframe.size);
        } else {
            assert_true(rc < 0);
            assert_true(err.message[0] != '\0');
        }
    }
    /* Flips in unused fields are harmless, so some blobs must pass. */
    assert_true(accepted > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_313_matches_generated_table),
        cmocka_unit_test(test_312_runtime_has_no_cookie),
        cmocka_unit_test(test_314_fields_land_in_place),
        cmocka_unit_test(test_314_table_is_self_consistent),
        cmocka_unit_test(test_313_synthetic_accepted),
        cmocka_unit_test(test_bad_cookie),
        cmocka_unit_test(test_unknown_version),
        cmocka_unit_test(test_prerelease_refused),
        cmocka_unit_test(test_expected_version_mismatch),
        cmocka_unit_test(test_free_threaded),
        cmocka_unit_test(test_offset_beyond_size),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
