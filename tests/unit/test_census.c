/* The heap census on a synthetic CPython 3.14 memory image.
 *
 * No 3.14 is installed, so the image is built here, at the offsets of
 * lib/layout/layout_314.c: _PyRuntime, the main interpreter with its GC state
 * (young, old[0], old[1] and the permanent generation, linked through
 * PyGC_Head with 3.14's flag bits in the low bits of both links), type objects
 * and a few dozen objects of list, tuple, dict, a heap class with inline
 * values and its class object, plus untracked int, str, tuple and dict reached
 * from them. Every object's sys.getsizeof() is worked out here from the fields
 * written (CPython's rules: the pre-header and GC head, tp_basicsize,
 * tp_itemsize x ob_size, and the separately allocated list items and dict
 * keys), and the census must report exactly those counts and bytes per type.
 * Then the same image is damaged in the ways a torn or garbage heap is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layout/layout.h"
#include "layout/layout_handwritten.h"
#include "mem/reader.h"
#include "snapshot/census.h"
#include "snapshot/snapshot.h"
#include "walk/target.h"

#define BASE 0x7f3000000000ull
#define IMAGE_SIZE (512u * 1024u)
#define TYPE_OBJECT_SIZE 1024u
#define HEAPTYPE_SIZE 928u /* PyType_Type's tp_basicsize: sizeof(PyHeapTypeObject) */

/* 3.14's Include/object.h */
#define TPFLAGS_INLINE_VALUES (1ull << 2)
#define TPFLAGS_MANAGED_WEAKREF (1ull << 3)
#define TPFLAGS_MANAGED_DICT (1ull << 4)
#define TPFLAGS_HEAPTYPE (1ull << 9)
#define TPFLAGS_BASETYPE (1ull << 10)
#define TPFLAGS_HAVE_GC (1ull << 14)
/* Include/internal/pycore_gc.h: _gc_prev flags, and _gc_next's old-space bit. */
#define PREV_FINALIZED 1ull
#define PREV_COLLECTING 2ull
#define NEXT_OLD_SPACE_1 1ull

enum { T_TYPE, T_OBJECT, T_LIST, T_TUPLE, T_DICT, T_INT, T_STR, T_POINT, T_COUNT };
enum { L_YOUNG, L_OLD0, L_OLD1, L_PERMANENT, L_COUNT };

typedef struct expect {
    uint64_t tracked_count, tracked_bytes, reached_count, reached_bytes;
} expect;

typedef struct image {
    const pydbg__layout *l;
    unsigned char *mem;
    uint64_t used;
    uint64_t runtime, interp, gc;
    uint64_t types[T_COUNT];
    uint64_t point_keys; /* the class's shared keys (ht_cached_keys) */
    uint64_t members[L_COUNT][64]; /* GC heads of each list, in order */
    size_t member_count[L_COUNT];
    expect want[T_COUNT];
} image;

static uint64_t alloc(image *im, uint64_t size)
{
    uint64_t at = (im->used + 15) & ~(uint64_t)15;
    assert_true(at + size <= IMAGE_SIZE);
    im->used = at + size;
    return BASE + at;
}

static unsigned char *at(image *im, uint64_t address, uint64_t length)
{
    assert_true(address >= BASE && address + length <= BASE + IMAGE_SIZE);
    return im->mem + (address - BASE);
}

static void put64(image *im, uint64_t address, uint64_t value)
{
    memcpy(at(im, address, 8), &value, 8);
}

static void put32(image *im, uint64_t address, uint32_t value)
{
    memcpy(at(im, address, 4), &value, 4);
}

static void put8(image *im, uint64_t address, uint8_t value)
{
    *at(im, address, 1) = value;
}

static uint64_t cstring(image *im, const char *text)
{
    uint64_t a = alloc(im, strlen(text) + 1);
    memcpy(at(im, a, strlen(text) + 1), text, strlen(text) + 1);
    return a;
}

static uint64_t make_type(image *im, const char *name, uint64_t basicsize, uint64_t itemsize,
                          uint64_t flags, uint64_t base)
{
    const pydbg__layout *l = im->l;
    uint64_t t = alloc(im, TYPE_OBJECT_SIZE);
    put64(im, t, 1000);                                   /* ob_refcnt */
    put64(im, t + (uint64_t)l->object.ob_type, im->types[T_TYPE] ? im->types[T_TYPE] : t);
    put64(im, t + (uint64_t)l->type.tp_name, cstring(im, name));
    put64(im, t + (uint64_t)l->type.tp_basicsize, basicsize);
    put64(im, t + (uint64_t)l->type.tp_itemsize, itemsize);
    put64(im, t + (uint64_t)l->type.tp_flags, flags);
    put64(im, t + (uint64_t)l->sizes.tp_base, base);
    return t;
}

/* A tracked object of `size` bytes after its GC head (and pre-header when the
 * type has one), appended to GC list `list`. */
static uint64_t gc_object(image *im, int type, uint64_t size, int list)
{
    uint64_t flags;
    uint64_t pre = 0, start, obj;
    memcpy(&flags, at(im, im->types[type] + (uint64_t)im->l->type.tp_flags, 8), 8);
    if (flags & im->l->sizes.flag_preheader)
        pre = (uint64_t)im->l->sizes.preheader_size;
    start = alloc(im, pre + 16 + size);
    obj = start + pre + 16;
    put64(im, obj, 1);
    put64(im, obj + (uint64_t)im->l->object.ob_type, im->types[type]);
    assert_true(im->member_count[list] < 64);
    im->members[list][im->member_count[list]++] = start + pre;
    return obj;
}

static uint64_t plain_object(image *im, int type, uint64_t size)
{
    uint64_t obj = alloc(im, size);
    put64(im, obj, 1);
    put64(im, obj + (uint64_t)im->l->object.ob_type, im->types[type]);
    return obj;
}

static void count(image *im, int type, int tracked, uint64_t bytes)
{
    if (tracked) {
        im->want[type].tracked_count++;
        im->want[type].tracked_bytes += bytes;
    } else {
        im->want[type].reached_count++;
        im->want[type].reached_bytes += bytes;
    }
}

/* An int of `ndigits` 30-bit digits (3.12+ lv_tag: ndigits << 3 | sign). */
static uint64_t new_int(image *im, uint64_t ndigits)
{
    uint64_t obj = plain_object(im, T_INT, 24 + 4 * (ndigits ? ndigits : 1));
    put64(im, obj + (uint64_t)im->l->pylong.size_or_tag, ndigits << 3);
    /* sys.getsizeof(int): offsetof(ob_digit) + ndigits (at least 1) x 4. */
    count(im, T_INT, 0, 24 + 4 * (ndigits ? ndigits : 1));
    return obj;
}

/* A compact ASCII str. */
static uint64_t new_str(image *im, const char *text)
{
    uint64_t n = strlen(text), obj = plain_object(im, T_STR, 40 + n + 1);
    const pydbg__layout *l = im->l;
    put64(im, obj + (uint64_t)l->unicode.length, n);
    put32(im, obj + (uint64_t)l->unicode.state,
          (1u << l->unicode.kind_shift) | (1u << l->unicode.compact_bit) |
              (1u << l->unicode.ascii_bit));
    memcpy(at(im, obj + (uint64_t)l->unicode.ascii_data, n + 1), text, n + 1);
    count(im, T_STR, 0, 40 + n + 1);
    return obj;
}

/* A list of `n` items with room for `allocated`. */
static uint64_t new_list(image *im, int list, const uint64_t *items, uint64_t n,
                         uint64_t allocated)
{
    const pydbg__layout *l = im->l;
    uint64_t obj = gc_object(im, T_LIST, 40, list), array = alloc(im, allocated * 8 + 8);
    put64(im, obj + (uint64_t)l->object.ob_size, n);
    put64(im, obj + (uint64_t)l->seq.list_ob_item, array);
    put64(im, obj + (uint64_t)l->sizes.list_allocated, allocated);
    for (uint64_t i = 0; i < n; i++)
        put64(im, array + 8 * i, items[i]);
    /* list.__sizeof__: tp_basicsize + allocated pointers; sys.getsizeof adds the GC head. */
    count(im, T_LIST, 1, 16 + 40 + allocated * 8);
    return obj;
}

/* A tuple, tracked on `list` or untracked (list < 0). */
static uint64_t new_tuple(image *im, int list, const uint64_t *items, uint64_t n)
{
    const pydbg__layout *l = im->l;
    uint64_t obj;
    if (list >= 0) {
        obj = gc_object(im, T_TUPLE, 32 + 8 * n, list);
    } else {
        /* An untracked tuple still has its GC head (the type has HAVE_GC). */
        obj = alloc(im, 16 + 32 + 8 * n) + 16;
        put64(im, obj, 1);
        put64(im, obj + (uint64_t)l->object.ob_type, im->types[T_TUPLE]);
    }
    put64(im, obj + (uint64_t)l->object.ob_size, n);
    for (uint64_t i = 0; i < n; i++)
        put64(im, obj + (uint64_t)l->seq.tuple_ob_item + 8 * i, items[i]);
    count(im, T_TUPLE, list >= 0, 16 + 32 + 8 * n);
    return obj;
}

/* Keys of 8 slots (log2 3), unicode kind: 32 header + 8 index bytes + 5 entries of 16. */
#define KEYS_BYTES (32u + 8u + 5u * 16u)

static uint64_t new_keys(image *im, uint64_t refcnt, const uint64_t *keys,
                         const uint64_t *values, uint64_t n)
{
    const pydbg__layout *l = im->l;
    uint64_t k = alloc(im, KEYS_BYTES);
    assert_true(n <= 5);
    put64(im, k, refcnt);
    put8(im, k + (uint64_t)l->dictkeys.dk_log2_size, 3);
    put8(im, k + (uint64_t)l->dictkeys.dk_log2_index_bytes, 3);
    put8(im, k + (uint64_t)l->dictkeys.dk_kind, 1); /* DICT_KEYS_UNICODE */
    put64(im, k + (uint64_t)l->sizes.dictkeys_usable, 5 - n);
    put64(im, k + (uint64_t)l->dictkeys.dk_nentries, n);
    for (uint64_t i = 0; i < 8; i++)
        put8(im, k + (uint64_t)l->dictkeys.dk_indices + i, i < n ? (uint8_t)i : 0xff);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t e = k + (uint64_t)l->dictkeys.dk_indices + 8 + 16 * i;
        put64(im, e, keys[i]);
        put64(im, e + 8, values ? values[i] : 0);
    }
    return k;
}

/* A combined-table dict that owns its keys; tracked on `list`, or untracked (list < 0). */
static uint64_t new_dict(image *im, int list, const uint64_t *keys, const uint64_t *values,
                         uint64_t n)
{
    const pydbg__layout *l = im->l;
    uint64_t obj;
    if (list >= 0) {
        obj = gc_object(im, T_DICT, 48, list);
    } else {
        obj = alloc(im, 16 + 48) + 16;
        put64(im, obj, 1);
        put64(im, obj + (uint64_t)l->object.ob_type, im->types[T_DICT]);
    }
    put64(im, obj + (uint64_t)l->dict.ma_used, n);
    put64(im, obj + (uint64_t)l->dict.ma_keys, new_keys(im, 1, keys, values, n));
    put64(im, obj + (uint64_t)l->dict.ma_values, 0);
    /* _PyDict_SizeOf: tp_basicsize + the keys it owns (_PyDict_KeysSize). */
    count(im, T_DICT, list >= 0, 16 + 48 + KEYS_BYTES);
    return obj;
}

/* An instance of Point with inline values x, y (3.13+ PyDictValues after tp_basicsize). */
static uint64_t new_point(image *im, int list, uint64_t x, uint64_t y)
{
    uint64_t obj = gc_object(im, T_POINT, 16 + 8 + 2 * 8 + 8, list), v = obj + 16;
    put64(im, obj - 3 * 8, 0); /* the managed dict: none, the values are inline */
    put64(im, obj - 4 * 8, 0); /* the managed weakref list */
    put8(im, v, 2);              /* capacity */
    put8(im, v + 1, 2);          /* size */
    put8(im, v + 2, 1);          /* embedded */
    put8(im, v + 3, 1);          /* valid */
    put64(im, v + 8, x);
    put64(im, v + 16, y);
    /* sys.getsizeof: pre-header (dict, weakref) + GC head + tp_basicsize. */
    count(im, T_POINT, 1, 16 + 16 + 16);
    return obj;
}

/* Links each list: head.next -> first ... last.next -> head, prev links back,
 * with 3.14's flag bits set in the low bits as a live collector leaves them. */
static void link_lists(image *im)
{
    const pydbg__layout *l = im->l;
    for (int g = 0; g < L_COUNT; g++) {
        uint64_t head = g == L_PERMANENT ? im->gc + (uint64_t)l->gc.permanent
                                         : im->gc + (uint64_t)l->gc.generations +
                                               (uint64_t)g * (uint64_t)l->gc.generation_size;
        uint64_t space = g == L_OLD1 ? NEXT_OLD_SPACE_1 : 0;
        size_t n = im->member_count[g];
        uint64_t prev = head;
        for (size_t i = 0; i < n; i++) {
            uint64_t cur = im->members[g][i], next = i + 1 < n ? im->members[g][i + 1] : head;
            put64(im, prev + (uint64_t)l->gc.head_next, cur | space);
            put64(im, cur + (uint64_t)l->gc.head_prev,
                  prev | (i % 3 == 1 ? PREV_FINALIZED : 0) | (i % 5 == 4 ? PREV_COLLECTING : 0));
            prev = cur;
            (void)next;
        }
        put64(im, prev + (uint64_t)l->gc.head_next, head | space);
        put64(im, head + (uint64_t)l->gc.head_prev, prev);
    }
}

static void build(image *im)
{
    const pydbg__layout *l = &pydbg__layout_3_14; /* reached through _Py_DebugOffsets only */
    uint64_t ints[12], strs[8], shared[4], loose_tuple, loose_dict, dicts[4], x[2];
    assert_non_null(l);
    memset(im, 0, sizeof *im);
    im->l = l;
    im->mem = calloc(1, IMAGE_SIZE);
    assert_non_null(im->mem);
    im->used = 4096; /* nothing at BASE itself */

    /* _PyRuntime -> interpreters.main -> PyInterpreterState, whose gc is the GC state. */
    im->runtime = alloc(im, 1024);
    im->interp = alloc(im, (uint64_t)l->interp.gc + 512);
    im->gc = im->interp + (uint64_t)l->interp.gc;
    put64(im, im->runtime + (uint64_t)l->runtime.interpreters_main, im->interp);
    put64(im, im->runtime + (uint64_t)l->runtime.interpreters_head, im->interp);
    put32(im, im->gc + (uint64_t)l->gc.collecting, 0);

    im->types[T_TYPE] = make_type(im, "type", HEAPTYPE_SIZE, 40,
                                  TPFLAGS_HAVE_GC | TPFLAGS_BASETYPE | (1ull << 31), 0);
    im->types[T_OBJECT] = make_type(im, "object", 16, 0, TPFLAGS_BASETYPE, 0);
    put64(im, im->types[T_TYPE] + (uint64_t)l->sizes.tp_base, im->types[T_OBJECT]);
    im->types[T_LIST] = make_type(im, "list", 40, 0,
                                  TPFLAGS_HAVE_GC | TPFLAGS_BASETYPE | (1ull << 25),
                                  im->types[T_OBJECT]);
    im->types[T_TUPLE] = make_type(im, "tuple", 32, 8,
                                   TPFLAGS_HAVE_GC | TPFLAGS_BASETYPE | (1ull << 26),
                                   im->types[T_OBJECT]);
    im->types[T_DICT] = make_type(im, "dict", 48, 0,
                                  TPFLAGS_HAVE_GC | TPFLAGS_BASETYPE | (1ull << 29),
                                  im->types[T_OBJECT]);
    im->types[T_INT] = make_type(im, "int", 24, 4, TPFLAGS_BASETYPE | (1ull << 24),
                                 im->types[T_OBJECT]);
    im->types[T_STR] = make_type(im, "str", 64, 0, TPFLAGS_BASETYPE | (1ull << 28),
                                 im->types[T_OBJECT]);
    im->types[T_POINT] =
        make_type(im, "Point", 16, 0,
                  TPFLAGS_HAVE_GC | TPFLAGS_HEAPTYPE | TPFLAGS_BASETYPE | TPFLAGS_INLINE_VALUES |
                      TPFLAGS_MANAGED_DICT | TPFLAGS_MANAGED_WEAKREF,
                  im->types[T_OBJECT]);

    for (size_t i = 0; i < 12; i++)
        ints[i] = new_int(im, i % 4); /* 0 (one digit counted), 1, 2, 3 digits */
    {
        static const char *const words[8] = {"x", "y", "alpha", "beta", "gamma",
                                             "a longer string of text", "k", "v"};
        for (size_t i = 0; i < 8; i++)
            strs[i] = new_str(im, words[i]);
    }
    /* The class's shared keys: the attribute names x and y. */
    x[0] = strs[0];
    x[1] = strs[1];
    im->point_keys = new_keys(im, 1, x, NULL, 2);
    put64(im, im->types[T_POINT] + (uint64_t)l->type.ht_cached_keys, im->point_keys);

    /* The permanent generation (gc.freeze()): the class object and two tuples. */
    {
        /* A class object is a tracked instance of type; type.__sizeof__ is
         * sizeof(PyHeapTypeObject) + its cached keys. */
        uint64_t cls = gc_object(im, T_TYPE, HEAPTYPE_SIZE, L_PERMANENT);
        put64(im, cls + (uint64_t)l->type.tp_flags, TPFLAGS_HEAPTYPE | TPFLAGS_HAVE_GC);
        put64(im, cls + (uint64_t)l->type.ht_cached_keys, im->point_keys);
        count(im, T_TYPE, 1, 16 + HEAPTYPE_SIZE + KEYS_BYTES);
    }
    shared[0] = ints[1];
    shared[1] = strs[2];
    new_tuple(im, L_PERMANENT, shared, 2);
    new_tuple(im, L_PERMANENT, ints + 4, 3);

    /* Untracked containers reached only through tracked ones: followed in turn. */
    loose_tuple = new_tuple(im, -1, ints + 7, 2);
    {
        uint64_t k[2] = {strs[6], strs[7]}, v[2] = {ints[9], ints[10]};
        loose_dict = new_dict(im, -1, k, v, 2);
    }

    /* young: lists, dicts, points. */
    for (size_t i = 0; i < 10; i++) {
        uint64_t items[4] = {ints[i % 12], strs[i % 8], loose_tuple, ints[(i + 3) % 12]};
        new_list(im, L_YOUNG, items, i % 5, 4 + i);
    }
    for (size_t i = 0; i < 4; i++) {
        uint64_t k[3] = {strs[2], strs[3], strs[4]}, v[3] = {ints[i], ints[i + 1], loose_dict};
        dicts[i] = new_dict(im, L_YOUNG, k, v, 1 + i % 3);
    }
    for (size_t i = 0; i < 3; i++)
        new_point(im, L_YOUNG, ints[i], strs[i]);

    /* old[0]: tuples, lists holding tracked dicts (not counted as reached), points. */
    for (size_t i = 0; i < 6; i++)
        new_tuple(im, L_OLD0, ints + i, 1 + i % 4);
    new_list(im, L_OLD0, dicts, 4, 4);
    new_list(im, L_OLD0, NULL, 0, 0);
    for (size_t i = 0; i < 4; i++)
        new_point(im, L_OLD0, ints[11], strs[5]);

    /* old[1] (the other old space, _gc_next's bit 0 set): dicts and points. */
    for (size_t i = 0; i < 5; i++) {
        uint64_t k[1] = {strs[i]}, v[1] = {ints[(i * 5) % 12]};
        new_dict(im, L_OLD1, k, v, 1);
    }
    for (size_t i = 0; i < 8; i++)
        new_point(im, L_OLD1, ints[i], ints[i + 1]);

    link_lists(im);
}

static pydbg__target *image_target(const image *im)
{
    pydbg__target *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(pydbg__reader_open_buffer(&t->reader), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(t->reader, BASE, im->mem, IMAGE_SIZE), PYDBG_OK);
    t->pid = -1;
    t->layout = *im->l;
    t->hexversion = 0x030e00f0;
    snprintf(t->version, sizeof t->version, "3.14.0");
    t->runtime = im->runtime;
    t->types.dict = im->types[T_DICT];
    t->types.str = im->types[T_STR];
    t->types.long_ = im->types[T_INT];
    return t;
}

static pydbg__census_roots image_roots(const image *im)
{
    pydbg__census_roots r;
    memset(&r, 0, sizeof r);
    r.list = im->types[T_LIST];
    r.tuple = im->types[T_TUPLE];
    r.dict = im->types[T_DICT];
    r.long_ = im->types[T_INT];
    r.str = im->types[T_STR];
    r.type = im->types[T_TYPE];
    return r;
}

/* Runs the census on the image (paused: no retries); 0 or the error. */
static int run(const image *im, int referents, pydbg_snapshot **out, char *message, size_t size)
{
    pydbg__target *t = image_target(im);
    pydbg__census_roots roots = image_roots(im);
    pydbg__range readable = {BASE, BASE + IMAGE_SIZE};
    char note[1024];
    pydbg_snapshot *s = pydbg__snapshot_new();
    int rc;
    assert_non_null(s);
    rc = pydbg__census_take_roots(s, t, &roots, &readable, 1, referents, 1, note, sizeof note);
    snprintf(message, size, "%s", rc == PYDBG_OK ? note : t->error.message);
    pydbg__target_close(t);
    if (rc == PYDBG_OK)
        *out = s;
    else
        pydbg_snapshot_free(s);
    return rc;
}

static const pydbg__snap_type *find_type(const pydbg_snapshot *s, uint64_t address)
{
    for (size_t i = 0; i < s->type_count; i++)
        if (s->types[i].address == address)
            return &s->types[i];
    return NULL;
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_census_314_exact(void **state)
{
    static const char *const names[T_COUNT] = {"type", "object", "list",  "tuple",
                                               "dict", "int",    "str",   "Point"};
    image im;
    char message[2048];
    (void)state;
    build(&im);
    for (int referents = 0; referents <= 1; referents++) {
        pydbg_snapshot *s = NULL;
        uint64_t total = 0, types_seen = 0;
        assert_int_equal(run(&im, referents, &s, message, sizeof message), PYDBG_OK);
        for (int k = 0; k < T_COUNT; k++) {
            const pydbg__snap_type *st = find_type(s, im.types[k]);
            const expect *w = &im.want[k];
            int present = w->tracked_count || (referents && w->reached_count);
            if (!present) {
                assert_null(st);
                continue;
            }
            types_seen++;
            assert_non_null(st);
            assert_string_equal(st->name, names[k]);
            if (st->tracked_count != w->tracked_count || st->tracked_bytes != w->tracked_bytes)
                fail_msg("%s tracked: %llu objects, %llu bytes; built %llu, %llu", names[k],
                         (unsigned long long)st->tracked_count,
                         (unsigned long long)st->tracked_bytes,
                         (unsigned long long)w->tracked_count,
                         (unsigned long long)w->tracked_bytes);
            if (referents &&
                (st->reached_count != w->reached_count || st->reached_bytes != w->reached_bytes))
                fail_msg("%s reached: %llu objects, %llu bytes; built %llu, %llu", names[k],
                         (unsigned long long)st->reached_count,
                         (unsigned long long)st->reached_bytes,
                         (unsigned long long)w->reached_count,
                         (unsigned long long)w->reached_bytes);
            if (!referents)
                assert_true(st->reached_count == 0 && st->reached_bytes == 0);
            total += st->tracked_count;
        }
        assert_int_equal(s->type_count, types_seen);
        {
            size_t built = 0;
            char expected[64];
            for (int g = 0; g < L_COUNT; g++)
                built += im.member_count[g];
            assert_int_equal(total, built);
            snprintf(expected, sizeof expected, "%zu tracked objects on 3 GC generation lists",
                     built);
            assert_non_null(strstr(message, expected));
            assert_non_null(strstr(message, "permanent generation"));
            assert_non_null(strstr(message, "not tested against a live 3.14"));
        }
        pydbg_snapshot_free(s);
    }
    free(im.mem);
}

/* Each generation list alone: an object moved between lists is still counted once. */
static void test_census_314_lists_walked(void **state)
{
    image im;
    char message[2048];
    (void)state;
    build(&im);
    for (int g = 0; g < L_COUNT; g++) {
        image one = im;
        pydbg_snapshot *s = NULL;
        uint64_t total = 0;
        one.mem = malloc(IMAGE_SIZE);
        assert_non_null(one.mem);
        memcpy(one.mem, im.mem, IMAGE_SIZE);
        /* Empty every other list (a head pointing at itself). */
        for (int o = 0; o < L_COUNT; o++) {
            uint64_t head = o == L_PERMANENT
                                ? im.gc + (uint64_t)im.l->gc.permanent
                                : im.gc + (uint64_t)im.l->gc.generations +
                                      (uint64_t)o * (uint64_t)im.l->gc.generation_size;
            if (o == g)
                continue;
            put64(&one, head + (uint64_t)im.l->gc.head_next, head);
            put64(&one, head + (uint64_t)im.l->gc.head_prev, head);
        }
        assert_int_equal(run(&one, 0, &s, message, sizeof message), PYDBG_OK);
        for (size_t i = 0; i < s->type_count; i++)
            total += s->types[i].tracked_count;
        assert_int_equal(total, im.member_count[g]);
        pydbg_snapshot_free(s);
        free(one.mem);
    }
    free(im.mem);
}

/* A torn or garbage heap: a clear error, never a crash or an endless walk. */
static void test_census_314_corrupt(void **state)
{
    image im;
    char message[2048];
    const pydbg__layout *l;
    uint64_t young, victim;
    (void)state;
    build(&im);
    l = im.l;
    young = im.gc + (uint64_t)l->gc.generations;
    victim = im.members[L_YOUNG][5];

    {   /* A back link that does not point at the object before: the list changed. */
        image bad = im;
        pydbg_snapshot *s = NULL;
        bad.mem = malloc(IMAGE_SIZE);
        assert_non_null(bad.mem);
        memcpy(bad.mem, im.mem, IMAGE_SIZE);
        put64(&bad, victim + (uint64_t)l->gc.head_prev, im.members[L_YOUNG][2]);
        assert_int_equal(run(&bad, 1, &s, message, sizeof message), PYDBG_ECORRUPT);
        assert_non_null(strstr(message, "GC generation 0"));
        assert_non_null(strstr(message, "links back"));
        /* A cycle that never returns to the head is caught by the same check. */
        memcpy(bad.mem, im.mem, IMAGE_SIZE);
        put64(&bad, victim + (uint64_t)l->gc.head_next, im.members[L_YOUNG][1]);
        assert_int_equal(run(&bad, 0, &s, message, sizeof message), PYDBG_ECORRUPT);
        /* A link into unmapped memory: a read error naming what was read. */
        memcpy(bad.mem, im.mem, IMAGE_SIZE);
        put64(&bad, victim + (uint64_t)l->gc.head_next, 0x10000000ull);
        assert_int_not_equal(run(&bad, 0, &s, message, sizeof message), PYDBG_OK);
        assert_non_null(strstr(message, "GC object"));
        /* A misaligned or null link. */
        memcpy(bad.mem, im.mem, IMAGE_SIZE);
        put64(&bad, victim + (uint64_t)l->gc.head_next, 0);
        assert_int_equal(run(&bad, 0, &s, message, sizeof message), PYDBG_ECORRUPT);
        assert_non_null(strstr(message, "bad link"));
        memcpy(bad.mem, im.mem, IMAGE_SIZE);
        put64(&bad, young + (uint64_t)l->gc.head_next, victim + 4);
        assert_int_equal(run(&bad, 0, &s, message, sizeof message), PYDBG_ECORRUPT);
        /* An object whose type pointer is garbage, or a type without a name. */
        memcpy(bad.mem, im.mem, IMAGE_SIZE);
        put64(&bad, victim + 16 + (uint64_t)l->object.ob_type, 0x1234);
        assert_int_equal(run(&bad, 0, &s, message, sizeof message), PYDBG_ECORRUPT);
        assert_non_null(strstr(message, "type pointer"));
        memcpy(bad.mem, im.mem, IMAGE_SIZE);
        put64(&bad, im.types[T_LIST] + (uint64_t)l->type.tp_name, 0);
        assert_int_equal(run(&bad, 0, &s, message, sizeof message), PYDBG_ECORRUPT);
        assert_non_null(strstr(message, "tp_name"));
        memcpy(bad.mem, im.mem, IMAGE_SIZE);
        put64(&bad, im.types[T_DICT] + (uint64_t)l->type.tp_basicsize, 1ull << 40);
        assert_int_equal(run(&bad, 0, &s, message, sizeof message), PYDBG_ECORRUPT);
        assert_non_null(strstr(message, "basicsize"));
        /* No main interpreter. */
        memcpy(bad.mem, im.mem, IMAGE_SIZE);
        put64(&bad, im.runtime + (uint64_t)l->runtime.interpreters_main, 0);
        assert_int_equal(run(&bad, 0, &s, message, sizeof message), PYDBG_ECORRUPT);
        /* Garbage referents are counted as unreadable, not followed into a crash. */
        memcpy(bad.mem, im.mem, IMAGE_SIZE);
        {
            uint64_t items;
            memcpy(&items, at(&bad, im.members[L_YOUNG][3] + 16 + (uint64_t)l->seq.list_ob_item, 8),
                   8);
            put64(&bad, items, 0x10000008ull);
            put64(&bad, items + 8, im.types[T_INT] + 8); /* "an object" whose type is garbage */
        }
        assert_int_equal(run(&bad, 1, &s, message, sizeof message), PYDBG_OK);
        assert_non_null(strstr(message, "unreadable references"));
        assert_null(strstr(message, " 0 unreadable references"));
        pydbg_snapshot_free(s);
        free(bad.mem);
    }
    {   /* Random bytes over every object and head: bounded, no crash (ASan/UBSan runs). */
        uint64_t seed = 0x9e3779b97f4a7c15ull;
        for (int round = 0; round < 300; round++) {
            image bad = im;
            pydbg_snapshot *s = NULL;
            bad.mem = malloc(IMAGE_SIZE);
            assert_non_null(bad.mem);
            memcpy(bad.mem, im.mem, IMAGE_SIZE);
            for (int k = 0; k < 1 + round % 8; k++) {
                uint64_t off;
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                off = 4096 + seed % (im.used - 4096 - 8);
                put64(&bad, BASE + (off & ~(uint64_t)7),
                      (seed >> 3) % 3 == 0 ? BASE + (seed >> 20) % im.used : seed * 31);
            }
            if (run(&bad, round & 1, &s, message, sizeof message) == PYDBG_OK)
                pydbg_snapshot_free(s);
            free(bad.mem);
        }
    }
    free(im.mem);
}

/* The public entry point refuses a layout with no GC description before reading anything. */
static void test_census_unknown_layout(void **state)
{
    image im;
    pydbg__target *t;
    pydbg__census_roots roots;
    pydbg_snapshot *s = pydbg__snapshot_new();
    char note[256];
    (void)state;
    build(&im);
    t = image_target(&im);
    roots = image_roots(&im);
    memset(&t->layout.gc, 0, sizeof t->layout.gc);
    assert_int_equal(pydbg__census_take_roots(s, t, &roots, NULL, 0, 0, 1, note, sizeof note),
                     PYDBG_ENOTSUP);
    assert_non_null(strstr(note, "not known"));
    assert_int_equal(s->type_count, 0);
    pydbg__target_close(t);
    pydbg_snapshot_free(s);
    free(im.mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_census_314_exact),
        cmocka_unit_test(test_census_314_lists_walked),
        cmocka_unit_test(test_census_314_corrupt),
        cmocka_unit_test(test_census_unknown_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
