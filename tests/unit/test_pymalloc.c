/* pymalloc's arena walker (lib/snapshot/pymalloc.c) on synthetic allocator
 * states, and section 4 of the snapshot file format 1.1 that stores it.
 *
 * The states are built at the offsets of the 3.13 table (struct arena_object
 * and struct pool_header from pycore_obmalloc.h, generated with offsetof):
 * arena objects with and without an arena, arenas aligned and not aligned on
 * a pool boundary, pools used, free and never carved, of several size
 * classes. The counts expected are those _PyObject_DebugMallocStats() prints
 * for such a state, tallied here as the state is built. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layout/layout.h"
#include "mem/reader.h"
#include "snapshot/pymalloc.h"
#include "snapshot/snapshot.h"

#define ARENAS_AT 0x7f1000000000ull
#define ARENA0 0x7f2000000000ull /* pool-aligned */
#define ARENA1 0x7f2000501000ull /* 4 KiB past a pool boundary */
#define MAX_OBJECTS 8

typedef struct pool_spec {
    uint32_t count, szidx;
} pool_spec;

typedef struct state {
    const pydbg__layout *l;
    pydbg__reader *reader;
    unsigned char arenas[MAX_OBJECTS * 256];
    uint64_t maxarenas;
    pydbg__snap_pymalloc want;
} state;

static const pydbg__layout *layout_313(void)
{
    const pydbg__layout *l = pydbg__layout_for_version(3, 13);
    assert_non_null(l);
    assert_int_equal(l->obmalloc.root, PYDBG__OBMALLOC_INTERP_PTR);
    return l;
}

static void put_u64(unsigned char *p, int32_t offset, uint64_t v)
{
    memcpy(p + offset, &v, 8);
}

static void put_u32(unsigned char *p, int32_t offset, uint32_t v)
{
    memcpy(p + offset, &v, 4);
}

/* Arena object `index` with an arena at `address` whose pools `pools` were
 * carved (the rest of its ntotalpools never were), `nfree` of them on its
 * free list. */
static void add_arena(state *s, size_t index, uint64_t address, const pool_spec *pools,
                      size_t carved, uint32_t nfree, uint32_t ntotal)
{
    const pydbg__layout *l = s->l;
    unsigned char *a = s->arenas + index * (size_t)l->obmalloc.arena_object_size;
    uint64_t pool = l->obmalloc.pool_bytes, base = address;
    if (base & (pool - 1))
        base = (base | (pool - 1)) + 1;
    put_u64(a, l->obmalloc.arena_address, address);
    put_u64(a, l->obmalloc.arena_pool_address, base + carved * pool);
    put_u32(a, l->obmalloc.arena_nfreepools, nfree);
    put_u32(a, l->obmalloc.arena_ntotalpools, ntotal);
    for (size_t i = 0; i < carved; i++) {
        unsigned char header[64];
        memset(header, 0xcc, sizeof header); /* the rest of the header is not read as counts */
        put_u32(header, l->obmalloc.pool_count, pools[i].count);
        put_u32(header, l->obmalloc.pool_szidx, pools[i].szidx);
        assert_int_equal(pydbg__reader_buffer_add(s->reader, base + i * pool, header, 64),
                         PYDBG_OK);
        if (pools[i].count) {
            uint64_t block = (uint64_t)(pools[i].szidx + 1) * l->obmalloc.alignment;
            s->want.pools++;
            s->want.blocks += pools[i].count;
            s->want.block_bytes += pools[i].count * block;
            s->want.classes[pools[i].szidx].pools++;
            s->want.classes[pools[i].szidx].blocks += pools[i].count;
        }
    }
    s->want.arenas++;
    s->want.free_pools += nfree;
}

static void state_init(state *s, uint64_t maxarenas)
{
    memset(s, 0, sizeof *s);
    s->l = layout_313();
    s->maxarenas = maxarenas;
    assert_int_equal(pydbg__reader_open_buffer(&s->reader), PYDBG_OK);
}

static void state_publish(state *s)
{
    assert_int_equal(pydbg__reader_buffer_add(s->reader, ARENAS_AT, s->arenas,
                                              s->maxarenas *
                                                  (size_t)s->l->obmalloc.arena_object_size),
                     PYDBG_OK);
}

/* A state of 4 arena objects: two arenas (one pool-aligned, one not), two
 * objects without one. */
static void build_normal(state *s)
{
    static const pool_spec a0[] = {{255, 0}, {1, 0}, {0, 7}, {100, 3}, {32, 31}, {0, 0}, {7, 15}};
    static const pool_spec a1[] = {{1, 1}, {2, 1}, {3, 2}, {0, 0}, {512, 1}};
    state_init(s, 4);
    add_arena(s, 0, ARENA0, a0, sizeof a0 / sizeof a0[0], 2, 64);
    /* Unaligned: 63 whole pools, the first partial one lost. */
    add_arena(s, 2, ARENA1, a1, sizeof a1 / sizeof a1[0], 59, 63);
    state_publish(s);
}

static void assert_usage(const pydbg__snap_pymalloc *got, const pydbg__snap_pymalloc *want,
                         const pydbg__layout *l)
{
    assert_int_equal(got->arena_size, l->obmalloc.arena_bytes);
    assert_int_equal(got->pool_size, l->obmalloc.pool_bytes);
    assert_int_equal(got->arenas, want->arenas);
    assert_int_equal(got->pools, want->pools);
    assert_int_equal(got->free_pools, want->free_pools);
    assert_int_equal(got->blocks, want->blocks);
    assert_int_equal(got->block_bytes, want->block_bytes);
    assert_int_equal(got->class_count, l->obmalloc.size_classes);
    for (uint32_t i = 0; i < got->class_count; i++) {
        assert_int_equal(got->classes[i].block_size, (i + 1) * l->obmalloc.alignment);
        assert_int_equal(got->classes[i].pools, want->classes[i].pools);
        assert_int_equal(got->classes[i].blocks, want->classes[i].blocks);
    }
}

/* ---- the walker ---------------------------------------------------------------------- */

static void test_walk_counts(void **unused)
{
    state s;
    pydbg__snap_pymalloc got;
    pydbg__error err = {0, ""};
    (void)unused;
    build_normal(&s);
    assert_int_equal(pydbg__pymalloc_walk(s.reader, s.l, ARENAS_AT, s.maxarenas, &got, &err),
                     PYDBG_OK);
    assert_usage(&got, &s.want, s.l);
    /* The numbers themselves, so a tally bug above cannot hide one in the walker. */
    assert_int_equal(got.arenas, 2);
    assert_int_equal(got.pools, 9);
    assert_int_equal(got.free_pools, 61);
    assert_int_equal(got.blocks, 255 + 1 + 100 + 32 + 7 + 1 + 2 + 3 + 512);
    assert_int_equal(got.classes[0].blocks, 256);
    assert_int_equal(got.classes[1].pools, 3);
    assert_int_equal(got.block_bytes, 256 * 16 + 100 * 64 + 32 * 512 + 7 * 256 + 515 * 32 + 3 * 48);
    pydbg__reader_destroy(s.reader);

    /* No arena at all, and no arena objects. */
    state_init(&s, 3);
    state_publish(&s);
    assert_int_equal(pydbg__pymalloc_walk(s.reader, s.l, ARENAS_AT, 3, &got, &err), PYDBG_OK);
    assert_int_equal(got.arenas, 0);
    assert_int_equal(got.blocks, 0);
    assert_int_equal(pydbg__pymalloc_walk(s.reader, s.l, 0, 0, &got, &err), PYDBG_OK);
    assert_int_equal(got.arenas, 0);
    pydbg__reader_destroy(s.reader);
}

/* More arena objects than one batch of reads (256). */
static void test_walk_many_arenas(void **unused)
{
    const pydbg__layout *l = layout_313();
    size_t n = 600, size = (size_t)l->obmalloc.arena_object_size;
    unsigned char *objects = calloc(n, size);
    pydbg__reader *reader;
    pydbg__snap_pymalloc got;
    pydbg__error err = {0, ""};
    unsigned char header[64] = {0};
    (void)unused;
    assert_non_null(objects);
    assert_int_equal(pydbg__reader_open_buffer(&reader), PYDBG_OK);
    put_u32(header, l->obmalloc.pool_count, 3);
    put_u32(header, l->obmalloc.pool_szidx, 4);
    for (size_t i = 0; i < n; i += 7) { /* every 7th object has an arena of one used pool */
        uint64_t arena = ARENA0 + (uint64_t)i * l->obmalloc.arena_bytes;
        put_u64(objects + i * size, l->obmalloc.arena_address, arena);
        put_u64(objects + i * size, l->obmalloc.arena_pool_address,
                arena + l->obmalloc.pool_bytes);
        put_u32(objects + i * size, l->obmalloc.arena_nfreepools, 1);
        put_u32(objects + i * size, l->obmalloc.arena_ntotalpools, 64);
        assert_int_equal(pydbg__reader_buffer_add(reader, arena, header, 64), PYDBG_OK);
    }
    assert_int_equal(pydbg__reader_buffer_add(reader, ARENAS_AT, objects, n * size), PYDBG_OK);
    assert_int_equal(pydbg__pymalloc_walk(reader, l, ARENAS_AT, n, &got, &err), PYDBG_OK);
    assert_int_equal(got.arenas, (n + 6) / 7);
    assert_int_equal(got.pools, (n + 6) / 7);
    assert_int_equal(got.free_pools, (n + 6) / 7);
    assert_int_equal(got.classes[4].blocks, 3 * ((n + 6) / 7));
    pydbg__reader_destroy(reader);
    free(objects);
}

/* Each kind of impossible state: an error that says what, nothing read past it. */
static void test_walk_corrupt(void **unused)
{
    state s;
    pydbg__snap_pymalloc got;
    pydbg__error err = {0, ""};
    const pydbg__layout *l;
    size_t size;
    (void)unused;
    build_normal(&s);
    l = s.l;
    size = (size_t)l->obmalloc.arena_object_size;

    /* Huge maxarenas: refused before any read or allocation. */
    assert_int_equal(pydbg__pymalloc_walk(s.reader, l, ARENAS_AT, UINT64_MAX, &got, &err),
                     PYDBG_ELIMIT);
    assert_non_null(strstr(err.message, "arena objects"));
    assert_int_equal(pydbg__pymalloc_walk(s.reader, l, ARENAS_AT, PYDBG__PYMALLOC_MAX_ARENAS + 1,
                                          &got, &err),
                     PYDBG_ELIMIT);
    /* Within the bound but past the mapped arena objects: a read error, named. */
    assert_int_equal(pydbg__pymalloc_walk(s.reader, l, ARENAS_AT, PYDBG__PYMALLOC_MAX_ARENAS,
                                          &got, &err),
                     PYDBG_EREAD);
    assert_non_null(strstr(err.message, "arena objects"));
    /* Arena objects at NULL. */
    assert_int_equal(pydbg__pymalloc_walk(s.reader, l, 0, 4, &got, &err), PYDBG_ECORRUPT);

    {
        struct {
            int32_t offset;
            int wide;
            uint64_t value;
            int code;
            const char *says;
        } cases[] = {
            /* pools carved past the end of the arena, or before it */
            {l->obmalloc.arena_pool_address, 1, ARENA0 + 2 * (uint64_t)l->obmalloc.arena_bytes,
             PYDBG_ECORRUPT, "outside the arena"},
            {l->obmalloc.arena_pool_address, 1, ARENA0 - 4096, PYDBG_ECORRUPT,
             "outside the arena"},
            /* more free pools than pools, more pools than an arena holds */
            {l->obmalloc.arena_nfreepools, 0, 65, PYDBG_ECORRUPT, "free of"},
            {l->obmalloc.arena_ntotalpools, 0, 100000, PYDBG_ECORRUPT, "free of"},
            /* an arena somewhere unmapped: its pool headers cannot be read */
            {l->obmalloc.arena_address, 1, 0x10000000ull, PYDBG_ECORRUPT, "outside the arena"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            unsigned char copy[MAX_OBJECTS * 256];
            memcpy(copy, s.arenas, sizeof copy);
            if (cases[i].wide)
                put_u64(copy, cases[i].offset, cases[i].value);
            else
                put_u32(copy, cases[i].offset, (uint32_t)cases[i].value);
            assert_int_equal(pydbg__reader_buffer_add(s.reader, ARENAS_AT, copy, 4 * size),
                             PYDBG_OK);
            assert_int_equal(pydbg__pymalloc_walk(s.reader, l, ARENAS_AT, 4, &got, &err),
                             cases[i].code);
            if (!strstr(err.message, cases[i].says))
                fail_msg("case %zu: '%s' does not say '%s'", i, err.message, cases[i].says);
        }
        {   /* an arena moved (pools and all) to unmapped memory */
            unsigned char copy[MAX_OBJECTS * 256];
            memcpy(copy, s.arenas, sizeof copy);
            put_u64(copy, l->obmalloc.arena_address, 0x10000000ull);
            put_u64(copy, l->obmalloc.arena_pool_address, 0x10000000ull + 5 * 16384);
            assert_int_equal(pydbg__reader_buffer_add(s.reader, ARENAS_AT, copy, 4 * size),
                             PYDBG_OK);
            assert_int_equal(pydbg__pymalloc_walk(s.reader, l, ARENAS_AT, 4, &got, &err),
                             PYDBG_EREAD);
            assert_non_null(strstr(err.message, "pool headers"));
        }
    }
    assert_int_equal(pydbg__reader_buffer_add(s.reader, ARENAS_AT, s.arenas, 4 * size), PYDBG_OK);
    assert_int_equal(pydbg__pymalloc_walk(s.reader, l, ARENAS_AT, 4, &got, &err), PYDBG_OK);

    /* Pool headers pointing anywhere: a size class beyond the last, more blocks than fit. */
    {
        unsigned char header[64];
        memset(header, 0, sizeof header);
        put_u32(header, l->obmalloc.pool_count, 1);
        put_u32(header, l->obmalloc.pool_szidx, l->obmalloc.size_classes);
        assert_int_equal(pydbg__reader_buffer_add(s.reader, ARENA0 + 16384, header, 64),
                         PYDBG_OK);
        assert_int_equal(pydbg__pymalloc_walk(s.reader, l, ARENAS_AT, 4, &got, &err),
                         PYDBG_ECORRUPT);
        assert_non_null(strstr(err.message, "size class 32 of 32"));
        put_u32(header, l->obmalloc.pool_szidx, 0xffffffffu);
        assert_int_equal(pydbg__reader_buffer_add(s.reader, ARENA0 + 16384, header, 64),
                         PYDBG_OK);
        assert_int_equal(pydbg__pymalloc_walk(s.reader, l, ARENAS_AT, 4, &got, &err),
                         PYDBG_ECORRUPT);
        put_u32(header, l->obmalloc.pool_szidx, 31);
        put_u32(header, l->obmalloc.pool_count, 16384 / 512 + 1);
        assert_int_equal(pydbg__reader_buffer_add(s.reader, ARENA0 + 16384, header, 64),
                         PYDBG_OK);
        assert_int_equal(pydbg__pymalloc_walk(s.reader, l, ARENAS_AT, 4, &got, &err),
                         PYDBG_ECORRUPT);
        assert_non_null(strstr(err.message, "blocks of 512 bytes"));
        put_u32(header, l->obmalloc.pool_count, 0xffffffffu);
        assert_int_equal(pydbg__reader_buffer_add(s.reader, ARENA0 + 16384, header, 64),
                         PYDBG_OK);
        assert_int_equal(pydbg__pymalloc_walk(s.reader, l, ARENAS_AT, 4, &got, &err),
                         PYDBG_ECORRUPT);
    }
    pydbg__reader_destroy(s.reader);

    /* A layout that cannot describe pymalloc (3.14's, or a damaged one): refused. */
    {
        pydbg__layout bad = *l;
        bad.obmalloc.pool_bytes = 3000;
        assert_int_equal(pydbg__pymalloc_walk(NULL, &bad, ARENAS_AT, 4, &got, &err),
                         PYDBG_ENOTSUP);
        bad = *l;
        bad.obmalloc.size_classes = 65;
        assert_int_equal(pydbg__pymalloc_walk(NULL, &bad, ARENAS_AT, 4, &got, &err),
                         PYDBG_ENOTSUP);
        bad = *l;
        bad.obmalloc.arena_nfreepools = bad.obmalloc.arena_object_size;
        assert_int_equal(pydbg__pymalloc_walk(NULL, &bad, ARENAS_AT, 4, &got, &err),
                         PYDBG_ENOTSUP);
    }
}

/* Random arena objects and pool headers: always an answer or an error, bounded. */
static void test_walk_garbage(void **unused)
{
    const pydbg__layout *l = layout_313();
    uint64_t seed = 0x2545f4914f6cdd1dull;
    (void)unused;
    for (int round = 0; round < 2000; round++) {
        pydbg__reader *reader;
        unsigned char objects[8 * 48], header[64];
        pydbg__snap_pymalloc got;
        pydbg__error err = {0, ""};
        int rc;
        for (size_t i = 0; i < sizeof objects; i++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            objects[i] = (unsigned char)(seed >> 24);
        }
        for (size_t i = 0; i < 8; i++) {
            /* Half the objects point into a real arena, so pools are reached. */
            if ((seed >> i) & 1) {
                put_u64(objects + i * 48, l->obmalloc.arena_address, ARENA0);
                put_u64(objects + i * 48, l->obmalloc.arena_pool_address,
                        ARENA0 + (seed >> (i + 8)) % (2 * l->obmalloc.arena_bytes));
                put_u32(objects + i * 48, l->obmalloc.arena_ntotalpools, 64);
                put_u32(objects + i * 48, l->obmalloc.arena_nfreepools, (uint32_t)(seed % 65));
            }
        }
        assert_int_equal(pydbg__reader_open_buffer(&reader), PYDBG_OK);
        assert_int_equal(pydbg__reader_buffer_add(reader, ARENAS_AT, objects, sizeof objects),
                         PYDBG_OK);
        for (uint64_t p = 0; p < 64; p++) {
            for (size_t i = 0; i < sizeof header; i++) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                header[i] = (unsigned char)(seed >> 40);
            }
            if (p % 2) {
                put_u32(header, l->obmalloc.pool_szidx, (uint32_t)(seed % 40));
                put_u32(header, l->obmalloc.pool_count, (uint32_t)(seed % 1100));
            }
            assert_int_equal(pydbg__reader_buffer_add(reader, ARENA0 + p * 16384, header, 64),
                             PYDBG_OK);
        }
        rc = pydbg__pymalloc_walk(reader, l, ARENAS_AT, 1 + seed % 8, &got, &err);
        assert_true(rc == PYDBG_OK || rc == PYDBG_ECORRUPT || rc == PYDBG_EREAD);
        if (rc != PYDBG_OK)
            assert_true(err.message[0] != '\0');
        else
            assert_true(got.block_bytes <= got.pools * l->obmalloc.pool_bytes);
        pydbg__reader_destroy(reader);
    }
}

/* ---- format 1.1, section 4 ----------------------------------------------------------- */

static void put32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void reseal(unsigned char *data, size_t size)
{
    for (int i = 0; i < 8; i++)
        data[16 + i] = (unsigned char)((uint64_t)(size - 32) >> (8 * i));
    put32le(data + 24, pydbg__crc32(0, data + 32, size - 32));
    put32le(data + 28, pydbg__crc32(0, data, 28));
}

static pydbg_snapshot *pymalloc_snapshot(int with_usage)
{
    pydbg_snapshot *s = pydbg__snapshot_new();
    pydbg__snap_type t = {"dict", 0x7f0000001000ull, 10, 1840, 0, 0};
    assert_non_null(s);
    s->pid = 77;
    s->hexversion = 0x030d00f0;
    s->contents = PYDBG_SNAPSHOT_HAS_CENSUS | PYDBG_SNAPSHOT_WAS_PAUSED;
    s->python_version = pydbg__snapshot_strdup(s, "3.13.0");
    s->executable = pydbg__snapshot_strdup(s, "/usr/bin/python3.13");
    s->census_note = pydbg__snapshot_strdup(s, "census");
    assert_int_equal(pydbg__snapshot_add_type(s, &t), PYDBG_OK);
    if (with_usage) {
        state st;
        pydbg__snap_pymalloc p;
        pydbg__error err = {0, ""};
        build_normal(&st);
        assert_int_equal(pydbg__pymalloc_walk(st.reader, st.l, ARENAS_AT, 4, &p, &err), PYDBG_OK);
        pydbg__reader_destroy(st.reader);
        p.interpreter_id = 0;
        assert_int_equal(pydbg__snapshot_add_pymalloc(s, &p), PYDBG_OK);
        /* Extremes: the process-wide allocator (-1), 64-bit values, all 64 classes. */
        memset(&p, 0, sizeof p);
        p.interpreter_id = -1;
        p.arena_size = 262144;
        p.pool_size = 4096;
        p.arenas = UINT64_MAX;
        p.blocks = UINT64_MAX - 1;
        p.block_bytes = 1ull << 63;
        p.class_count = PYDBG__SNAP_MAX_SIZE_CLASSES;
        for (uint32_t i = 0; i < p.class_count; i++) {
            p.classes[i].block_size = (i + 1) * 8;
            p.classes[i].pools = i * i;
            p.classes[i].blocks = UINT64_MAX >> i;
        }
        assert_int_equal(pydbg__snapshot_add_pymalloc(s, &p), PYDBG_OK);
        s->contents |= PYDBG_SNAPSHOT_HAS_PYMALLOC;
        s->pymalloc_note = pydbg__snapshot_strdup(s, "pymalloc arenas of each interpreter");
    } else {
        s->pymalloc_note = pydbg__snapshot_strdup(s, "");
    }
    return s;
}

static void assert_same_pymalloc(const pydbg_snapshot *a, const pydbg_snapshot *b)
{
    assert_int_equal(a->contents, b->contents);
    assert_string_equal(a->pymalloc_note ? a->pymalloc_note : "",
                        b->pymalloc_note ? b->pymalloc_note : "");
    assert_int_equal(a->pymalloc_count, b->pymalloc_count);
    for (size_t i = 0; i < a->pymalloc_count; i++)
        assert_memory_equal(&a->pymalloc[i], &b->pymalloc[i], sizeof a->pymalloc[i]);
    assert_int_equal(a->type_count, b->type_count);
}

/* Where section `tag` starts in an encoded file (its 16-byte header), 0 if absent. */
static size_t find_section(const unsigned char *data, size_t size, uint32_t tag,
                           uint64_t *length)
{
    size_t at = 32;
    while (at + 16 <= size) {
        uint32_t t;
        uint64_t len;
        memcpy(&t, data + at, 4);
        memcpy(&len, data + at + 8, 8);
        if (t == tag) {
            *length = len;
            return at;
        }
        at += 16 + (size_t)len;
    }
    return 0;
}

static void test_format_round_trip(void **unused)
{
    pydbg_snapshot *s = pymalloc_snapshot(1), *back = NULL;
    pydbg__buffer buf = {0};
    pydbg__error err = {0, ""};
    uint64_t len = 0;
    (void)unused;
    assert_int_equal(pydbg__snapshot_encode(s, &buf), PYDBG_OK);
    assert_int_equal(((unsigned char *)buf.data)[10], 1); /* minor 1 */
    assert_true(find_section((unsigned char *)buf.data, buf.length, 4, &len) != 0);
    assert_int_equal(pydbg__snapshot_decode(&back, (unsigned char *)buf.data, buf.length, &err),
                     PYDBG_OK);
    assert_same_pymalloc(s, back);
    assert_true(back->pymalloc[1].interpreter_id == -1);
    assert_true(back->pymalloc[1].arenas == UINT64_MAX);
    pydbg_snapshot_free(back);
    pydbg_snapshot_free(s);
    pydbg__buffer_free(&buf);

    /* Only a note (why there is no usage): the section is still written and read. */
    s = pymalloc_snapshot(0);
    s->pymalloc_note = pydbg__snapshot_strdup(s, "no pymalloc arena usage: stripped");
    assert_int_equal(pydbg__snapshot_encode(s, &buf), PYDBG_OK);
    assert_true(find_section((unsigned char *)buf.data, buf.length, 4, &len) != 0);
    assert_int_equal(pydbg__snapshot_decode(&back, (unsigned char *)buf.data, buf.length, &err),
                     PYDBG_OK);
    assert_same_pymalloc(s, back);
    pydbg_snapshot_free(back);
    pydbg_snapshot_free(s);
    pydbg__buffer_free(&buf);
}

/* Section 4 cut at every length (the file resealed, so only the section's own
 * bounds can catch it), and the whole file cut at every length. */
static void test_format_truncations(void **unused)
{
    pydbg_snapshot *s = pymalloc_snapshot(1), *back = NULL;
    pydbg__buffer buf = {0};
    pydbg__error err = {0, ""};
    uint64_t len = 0;
    size_t at;
    unsigned char *copy;
    (void)unused;
    assert_int_equal(pydbg__snapshot_encode(s, &buf), PYDBG_OK);
    at = find_section((unsigned char *)buf.data, buf.length, 4, &len);
    assert_true(at != 0 && at + 16 + len == buf.length); /* the last section */
    copy = malloc(buf.length);
    assert_non_null(copy);
    for (uint64_t cut = 0; cut < len; cut++) {
        size_t size = at + 16 + (size_t)cut;
        memcpy(copy, buf.data, size);
        memcpy(copy + at + 8, &cut, 8);
        reseal(copy, size);
        back = NULL;
        err.message[0] = '\0';
        if (pydbg__snapshot_decode(&back, copy, size, &err) != PYDBG_EFORMAT)
            fail_msg("section 4 cut to %llu of %llu bytes was accepted", (unsigned long long)cut,
                     (unsigned long long)len);
        assert_null(back);
        assert_non_null(strstr(err.message, "pymalloc"));
    }
    for (size_t size = 0; size < buf.length; size++) {
        memcpy(copy, buf.data, size);
        back = NULL;
        assert_int_equal(pydbg__snapshot_decode(&back, copy, size, &err), PYDBG_EFORMAT);
        assert_null(back);
    }
    /* Counts beyond the bound or the bytes left. */
    {
        /* The note is the first field: skip it to reach the allocator count. */
        const unsigned char *body = (unsigned char *)buf.data + at + 16;
        size_t note_len = body[0]; /* < 128: a one-byte varint */
        size_t count_at = at + 16 + 1 + note_len;
        assert_true(note_len < 128);
        memcpy(copy, buf.data, buf.length);
        assert_int_equal(copy[count_at], 2);
        copy[count_at] = 3; /* one more record than there is */
        reseal(copy, buf.length);
        assert_int_equal(pydbg__snapshot_decode(&back, copy, buf.length, &err), PYDBG_EFORMAT);
        copy[count_at] = 0x7f; /* 127 records in a few hundred bytes */
        reseal(copy, buf.length);
        assert_int_equal(pydbg__snapshot_decode(&back, copy, buf.length, &err), PYDBG_EFORMAT);
        assert_non_null(strstr(err.message, "pymalloc"));
    }
    /* Announced in contents, but no section 4. */
    {
        size_t size = at;
        memcpy(copy, buf.data, size);
        reseal(copy, size);
        assert_int_equal(pydbg__snapshot_decode(&back, copy, size, &err), PYDBG_EFORMAT);
        assert_non_null(strstr(err.message, "pymalloc usage announced"));
    }
    /* Twice. */
    {
        size_t size = buf.length + 16 + (size_t)len;
        unsigned char *twice = malloc(size);
        assert_non_null(twice);
        memcpy(twice, buf.data, buf.length);
        memcpy(twice + buf.length, (unsigned char *)buf.data + at, 16 + (size_t)len);
        reseal(twice, size);
        assert_int_equal(pydbg__snapshot_decode(&back, twice, size, &err), PYDBG_EFORMAT);
        assert_non_null(strstr(err.message, "repeated"));
        free(twice);
    }
    free(copy);
    pydbg__buffer_free(&buf);
    pydbg_snapshot_free(s);
}

/* A format 1.0 file (no section 4, minor 0) still loads; an unknown section
 * after section 4 is skipped whole. */
static void test_format_compatibility(void **unused)
{
    pydbg_snapshot *s = pymalloc_snapshot(0), *back = NULL;
    pydbg__buffer buf = {0};
    pydbg__error err = {0, ""};
    uint64_t len = 0;
    unsigned char *data;
    (void)unused;
    assert_int_equal(pydbg__snapshot_encode(s, &buf), PYDBG_OK);
    data = (unsigned char *)buf.data;
    assert_int_equal(find_section(data, buf.length, 4, &len), 0); /* nothing to say */
    data[10] = 0;                                                 /* minor 0: a 1.0 file */
    reseal(data, buf.length);
    assert_int_equal(pydbg__snapshot_decode(&back, data, buf.length, &err), PYDBG_OK);
    assert_int_equal(back->pymalloc_count, 0);
    assert_false(back->contents & PYDBG_SNAPSHOT_HAS_PYMALLOC);
    assert_int_equal(back->type_count, 1);
    assert_string_equal(back->types[0].name, "dict");
    pydbg_snapshot_free(back);
    pydbg_snapshot_free(s);
    pydbg__buffer_free(&buf);

    /* 1.1 with usage, then a section of a later minor version (tag 5). */
    s = pymalloc_snapshot(1);
    assert_int_equal(pydbg__snapshot_encode(s, &buf), PYDBG_OK);
    {
        unsigned char extra[16 + 9] = {5, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        assert_int_equal(pydbg__buffer_append(&buf, extra, sizeof extra), PYDBG_OK);
    }
    data = (unsigned char *)buf.data;
    data[10] = 2;
    reseal(data, buf.length);
    assert_int_equal(pydbg__snapshot_decode(&back, data, buf.length, &err), PYDBG_OK);
    assert_same_pymalloc(s, back);
    pydbg_snapshot_free(back);
    /* Records grown by a later minor version: the extra fields are skipped. The
     * first allocator record gets one more varint at its end. */
    {
        size_t at = find_section(data, buf.length, 4, &len);
        const unsigned char *body = data + at + 16;
        size_t note_len = body[0], rec = at + 16 + 1 + note_len + 1, rec_len, size;
        unsigned char *grown;
        assert_true(note_len < 128);
        assert_true(data[rec] < 0x80 || (data[rec + 1] < 0x80)); /* a 1 or 2 byte varint */
        rec_len = data[rec] < 0x80 ? data[rec] : (size_t)(data[rec] & 0x7f) | (size_t)data[rec + 1] << 7;
        assert_true(data[rec] >= 0x80 && rec_len + 1 < 16384); /* 2 bytes (class records) */
        size = buf.length + 1;
        grown = malloc(size);
        assert_non_null(grown);
        memcpy(grown, data, rec + 2 + rec_len);
        grown[rec] = (unsigned char)(((rec_len + 1) & 0x7f) | 0x80);
        grown[rec + 1] = (unsigned char)((rec_len + 1) >> 7);
        grown[rec + 2 + rec_len] = 42; /* the new field */
        memcpy(grown + rec + 2 + rec_len + 1, data + rec + 2 + rec_len,
               buf.length - (rec + 2 + rec_len));
        len += 1;
        memcpy(grown + at + 8, &len, 8);
        reseal(grown, size);
        back = NULL;
        assert_int_equal(pydbg__snapshot_decode(&back, grown, size, &err), PYDBG_OK);
        assert_same_pymalloc(s, back);
        pydbg_snapshot_free(back);
        free(grown);
    }
    pydbg_snapshot_free(s);
    pydbg__buffer_free(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_counts),
        cmocka_unit_test(test_walk_many_arenas),
        cmocka_unit_test(test_walk_corrupt),
        cmocka_unit_test(test_walk_garbage),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_format_truncations),
        cmocka_unit_test(test_format_compatibility),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
