/* Unit tests of lib/snapshot: smaps parsing against the kernel's own numbers,
 * the file format (round trip, every truncation, every flipped byte, forward
 * compatibility), the diff, and the chunk cache against the reader it wraps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf/maps.h"
#include "mem/reader.h"
#include "snapshot/heap_cache.h"
#include "snapshot/snapshot.h"

/* ---- helpers ------------------------------------------------------------------------- */

static pydbg_snapshot *sample_snapshot(void)
{
    pydbg_snapshot *s = pydbg__snapshot_new();
    pydbg__snap_type t = {"Leaky", 0x7f0000001000ull, 10000, 560000, 0, 0};
    pydbg__snap_type u = {"str", 0x7f0000002000ull, 0, 0, 123, 6789};
    pydbg__snap_type w = {"na\xc3\xafve \xe2\x9c\x93 type", 1, UINT64_MAX, UINT64_MAX - 1, 1, 2};
    pydbg__snap_mapping m1 = {"[heap]", 0x1000, 0x9000, 0, 11, PYDBG_MAPPING_HEAP, 4096, 2048,
                              4096, 0};
    pydbg__snap_mapping m2 = {"", 0x7f0000000000ull, 0x7f0000100000ull, 0, 3,
                              PYDBG_MAPPING_ANON, 1 << 20, 1 << 20, 1 << 19, 4096};
    pydbg__snap_mapping m3 = {"/usr/lib/with space (deleted)", 0x7f1000000000ull,
                              0x7f1000002000ull, 0x2000, 13, PYDBG_MAPPING_FILE, 8192, 100, 0,
                              0};
    assert_non_null(s);
    s->pid = 4242;
    s->time_ns = 1700000000123456789ll;
    s->census_ns = 42000;
    s->hexversion = 0x030b07f0;
    s->contents = PYDBG_SNAPSHOT_HAS_MAPPINGS | PYDBG_SNAPSHOT_HAS_CENSUS |
                  PYDBG_SNAPSHOT_HAS_REFERENTS | PYDBG_SNAPSHOT_WAS_PAUSED;
    s->python_version = pydbg__snapshot_strdup(s, "3.11.7");
    s->executable = pydbg__snapshot_strdup(s, "/usr/bin/python3.11");
    s->census_note = pydbg__snapshot_strdup(s, "a note");
    assert_int_equal(pydbg__snapshot_add_type(s, &t), PYDBG_OK);
    assert_int_equal(pydbg__snapshot_add_type(s, &u), PYDBG_OK);
    assert_int_equal(pydbg__snapshot_add_type(s, &w), PYDBG_OK);
    assert_int_equal(pydbg__snapshot_add_mapping(s, &m1), PYDBG_OK);
    assert_int_equal(pydbg__snapshot_add_mapping(s, &m2), PYDBG_OK);
    assert_int_equal(pydbg__snapshot_add_mapping(s, &m3), PYDBG_OK);
    return s;
}

static void assert_same(const pydbg_snapshot *a, const pydbg_snapshot *b)
{
    assert_int_equal(a->pid, b->pid);
    assert_true(a->time_ns == b->time_ns);
    assert_true(a->census_ns == b->census_ns);
    assert_int_equal(a->hexversion, b->hexversion);
    assert_int_equal(a->contents, b->contents);
    assert_string_equal(a->python_version, b->python_version);
    assert_string_equal(a->executable, b->executable);
    assert_string_equal(a->census_note, b->census_note);
    assert_int_equal(a->type_count, b->type_count);
    for (size_t i = 0; i < a->type_count; i++) {
        assert_string_equal(a->types[i].name, b->types[i].name);
        assert_true(a->types[i].address == b->types[i].address);
        assert_true(a->types[i].tracked_count == b->types[i].tracked_count);
        assert_true(a->types[i].tracked_bytes == b->types[i].tracked_bytes);
        assert_true(a->types[i].reached_count == b->types[i].reached_count);
        assert_true(a->types[i].reached_bytes == b->types[i].reached_bytes);
    }
    assert_int_equal(a->mapping_count, b->mapping_count);
    for (size_t i = 0; i < a->mapping_count; i++) {
        const pydbg__snap_mapping *x = &a->mappings[i], *y = &b->mappings[i];
        assert_string_equal(x->path, y->path);
        assert_true(x->start == y->start && x->end == y->end && x->offset == y->offset);
        assert_int_equal(x->perms, y->perms);
        assert_int_equal(x->kind, y->kind);
        assert_true(x->rss == y->rss && x->pss == y->pss);
        assert_true(x->private_dirty == y->private_dirty && x->swap == y->swap);
    }
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Recomputes both checksums of an encoded file after a test edited it. */
static void reseal(unsigned char *data, size_t size)
{
    put32(data + 24, pydbg__crc32(0, data + 32, size - 32));
    put32(data + 28, pydbg__crc32(0, data, 28));
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_crc32_check_value(void **state)
{
    (void)state;
    /* The check value of CRC-32/ISO-HDLC (zlib, PNG, Ethernet). */
    assert_int_equal(pydbg__crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(pydbg__crc32(pydbg__crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

static void test_round_trip(void **state)
{
    pydbg_snapshot *s = sample_snapshot(), *back = NULL;
    pydbg__buffer buf = {0};
    pydbg__error err = {0, ""};
    (void)state;
    assert_int_equal(pydbg__snapshot_encode(s, &buf), PYDBG_OK);
    assert_memory_equal(buf.data, "PYDBGSNP", 8);
    assert_int_equal(pydbg__snapshot_decode(&back, (unsigned char *)buf.data, buf.length, &err),
                     PYDBG_OK);
    assert_same(s, back);
    /* The public loader, through a file. */
    {
        char path[] = "/tmp/test_snapshot_XXXXXX";
        int fd = mkstemp(path);
        pydbg_snapshot *loaded = NULL;
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(pydbg_snapshot_save(s, path), PYDBG_OK);
        assert_int_equal(pydbg_snapshot_load(&loaded, path), PYDBG_OK);
        assert_same(s, loaded);
        assert_int_equal(pydbg_snapshot_type_count(loaded), 3);
        assert_string_equal(pydbg_snapshot_type_name(loaded, 0), "Leaky");
        assert_true(pydbg_snapshot_type_value(loaded, 0, PYDBG_TYPE_TRACKED_BYTES) == 560000);
        assert_null(pydbg_snapshot_type_name(loaded, 3));
        assert_int_equal(pydbg_snapshot_mapping_kind(loaded, 2), PYDBG_MAPPING_FILE);
        assert_int_equal(pydbg_snapshot_mapping_kind(loaded, 3), -1);
        pydbg_snapshot_free(loaded);
        unlink(path);
        assert_int_equal(pydbg_snapshot_load(&loaded, path), PYDBG_EIO);
        assert_null(loaded);
    }
    pydbg_snapshot_free(back);
    pydbg_snapshot_free(s);
    pydbg__buffer_free(&buf);
}

static void test_every_truncation_and_flip(void **state)
{
    pydbg_snapshot *s = sample_snapshot(), *back;
    pydbg__buffer buf = {0};
    unsigned char *copy;
    (void)state;
    assert_int_equal(pydbg__snapshot_encode(s, &buf), PYDBG_OK);
    copy = malloc(buf.length);
    assert_non_null(copy);
    for (size_t n = 0; n < buf.length; n++) {
        back = (pydbg_snapshot *)1;
        assert_int_equal(pydbg_snapshot_load_memory(&back, buf.data, n), PYDBG_EFORMAT);
        assert_null(back);
    }
    for (size_t i = 0; i < buf.length; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(copy, buf.data, buf.length);
            copy[i] ^= (unsigned char)(1u << bit);
            back = NULL;
            assert_int_equal(pydbg_snapshot_load_memory(&back, copy, buf.length), PYDBG_EFORMAT);
            assert_null(back);
        }
    }
    /* The messages say what is wrong. */
    assert_int_equal(pydbg_snapshot_load_memory(&back, buf.data, buf.length - 1), PYDBG_EFORMAT);
    assert_non_null(strstr(pydbg_last_error(), "truncated"));
    assert_int_equal(pydbg_snapshot_load_memory(&back, "hello", 5), PYDBG_EFORMAT);
    assert_non_null(strstr(pydbg_last_error(), "not a libpydebug snapshot"));
    free(copy);
    pydbg__buffer_free(&buf);
    pydbg_snapshot_free(s);
}

static void test_forward_compatibility(void **state)
{
    pydbg_snapshot *s = sample_snapshot(), *back = NULL;
    pydbg__buffer buf = {0};
    unsigned char extra[16 + 5] = {99, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0,
                                   'f', 'u', 't', 'u', 'r'};
    pydbg__error err = {0, ""};
    unsigned char *data;
    size_t size;
    (void)state;
    assert_int_equal(pydbg__snapshot_encode(s, &buf), PYDBG_OK);
    /* A later minor version with a section this reader does not know: read. */
    assert_int_equal(pydbg__buffer_append(&buf, extra, sizeof extra), PYDBG_OK);
    data = (unsigned char *)buf.data;
    size = buf.length;
    data[10] = 7; /* minor 7 */
    for (int i = 0; i < 8; i++)
        data[16 + i] = (unsigned char)((size - 32) >> (8 * i));
    reseal(data, size);
    assert_int_equal(pydbg__snapshot_decode(&back, data, size, &err), PYDBG_OK);
    assert_same(s, back);
    pydbg_snapshot_free(back);
    /* A later major version: refused, and the message says why. */
    data[8] = 2;
    reseal(data, size);
    back = NULL;
    assert_int_equal(pydbg__snapshot_decode(&back, data, size, &err), PYDBG_EFORMAT);
    assert_non_null(strstr(err.message, "format 2.7"));
    pydbg__buffer_free(&buf);
    pydbg_snapshot_free(s);
}

static void test_diff(void **state)
{
    pydbg_snapshot *a = sample_snapshot(), *b = sample_snapshot();
    pydbg_diff *d = NULL;
    pydbg_diff_options by_type = PYDBG_DIFF_OPTIONS_INIT, tracked = PYDBG_DIFF_OPTIONS_INIT,
                       by_mapping = PYDBG_DIFF_OPTIONS_INIT;
    pydbg__snap_type leaky2 = {"Leaky", 0x7f0000009000ull, 5, 100, 0, 0};
    pydbg__snap_type list = {"list", 0x7f000000a000ull, 3, 300, 0, 0};
    pydbg__snap_mapping anon = {"", 0x7f2000000000ull, 0x7f2000100000ull, 0, 3,
                                PYDBG_MAPPING_ANON, 65536, 65536, 65536, 0};
    (void)state;
    tracked.flags = PYDBG_DIFF_TRACKED_ONLY;
    by_mapping.by = PYDBG_DIFF_BY_MAPPING;
    /* b: a second type named Leaky (merged by name), a new type, str shrank. */
    assert_int_equal(pydbg__snapshot_add_type(b, &leaky2), PYDBG_OK);
    assert_int_equal(pydbg__snapshot_add_type(b, &list), PYDBG_OK);
    b->types[1].reached_count = 100;
    b->types[1].reached_bytes = 1000;
    assert_int_equal(pydbg__snapshot_add_mapping(b, &anon), PYDBG_OK);

    assert_int_equal(pydbg_diff_compute(&d, a, b, &by_type), PYDBG_OK);
    assert_int_equal(pydbg_diff_count(d), 4);
    /* Sorted by size delta: list +300, Leaky +100, weird 0, str -5789. */
    assert_string_equal(pydbg_diff_key(d, 0), "list");
    assert_string_equal(pydbg_diff_key(d, 1), "Leaky");
    assert_int_equal(pydbg_diff_value(d, 1, PYDBG_DIFF_COUNT_DELTA), 5);
    assert_int_equal(pydbg_diff_value(d, 1, PYDBG_DIFF_COUNT), 10005);
    assert_int_equal(pydbg_diff_value(d, 1, PYDBG_DIFF_OLD_SIZE), 560000);
    assert_string_equal(pydbg_diff_key(d, 3), "str");
    assert_int_equal(pydbg_diff_value(d, 3, PYDBG_DIFF_SIZE_DELTA), 1000 - 6789);
    assert_int_equal(pydbg_diff_value(d, 3, PYDBG_DIFF_COUNT_DELTA), 100 - 123);
    assert_null(pydbg_diff_key(d, 4));
    assert_int_equal(pydbg_diff_value(d, 4, PYDBG_DIFF_COUNT), 0);
    pydbg_diff_free(d);

    /* Tracked only: str has no tracked objects at all. */
    assert_int_equal(pydbg_diff_compute(&d, a, b, &tracked), PYDBG_OK);
    for (size_t i = 0; i < pydbg_diff_count(d); i++)
        if (strcmp(pydbg_diff_key(d, i), "str") == 0)
            assert_int_equal(pydbg_diff_value(d, i, PYDBG_DIFF_COUNT), 0);
    pydbg_diff_free(d);

    /* By mapping: anonymous mappings merge into [anon]; sizes are resident bytes. */
    assert_int_equal(pydbg_diff_compute(&d, a, b, &by_mapping), PYDBG_OK);
    assert_string_equal(pydbg_diff_key(d, 0), "[anon]");
    assert_int_equal(pydbg_diff_value(d, 0, PYDBG_DIFF_COUNT), 2);
    assert_int_equal(pydbg_diff_value(d, 0, PYDBG_DIFF_SIZE_DELTA), 65536);
    assert_int_equal(pydbg_diff_value(d, 0, PYDBG_DIFF_SIZE), (1 << 20) + 65536);
    pydbg_diff_free(d);

    /* No census: by type is refused with a reason, by mapping works. */
    b->contents &= ~(uint32_t)PYDBG_SNAPSHOT_HAS_CENSUS;
    assert_int_equal(pydbg_diff_compute(&d, a, b, &by_type), PYDBG_ENOTSUP);
    assert_null(d);
    assert_non_null(strstr(pydbg_last_error(), "no heap census"));
    assert_int_equal(pydbg_diff_compute(&d, a, b, &by_mapping), PYDBG_OK);
    pydbg_diff_free(d);
    assert_int_equal(pydbg_diff_compute(NULL, a, b, NULL), PYDBG_EINVAL);
    pydbg_diff_free(NULL);
    pydbg_snapshot_free(NULL);
    pydbg_snapshot_free(a);
    pydbg_snapshot_free(b);
}

/* The kernel's own numbers: a mapping of 4 MiB, every page touched, is 4 MiB
 * resident and private dirty; smaps and maps agree on every mapping. */
static void test_smaps_against_kernel(void **state)
{
    const size_t size = 4u << 20;
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pydbg_snapshot *s = pydbg__snapshot_new();
    pydbg__error err = {0, ""};
    pydbg__maps maps = {0};
    const pydbg__snap_mapping *mine = NULL;
    (void)state;
    assert_true(p != MAP_FAILED);
    for (size_t i = 0; i < size; i += 4096)
        p[i] = 1;
    assert_int_equal(pydbg__smaps_read(s, getpid(), &err), PYDBG_OK);
    assert_int_equal(pydbg__maps_read(&maps, getpid(), &err), PYDBG_OK);
    for (size_t i = 0; i < s->mapping_count; i++) {
        if (s->mappings[i].start <= (uint64_t)(uintptr_t)p &&
            (uint64_t)(uintptr_t)p < s->mappings[i].end)
            mine = &s->mappings[i];
        if (strcmp(s->mappings[i].path, "[heap]") == 0)
            assert_int_equal(s->mappings[i].kind, PYDBG_MAPPING_HEAP);
        if (strncmp(s->mappings[i].path, "[stack", 6) == 0)
            assert_int_equal(s->mappings[i].kind, PYDBG_MAPPING_STACK);
    }
    assert_non_null(mine);
    assert_int_equal(mine->kind, PYDBG_MAPPING_ANON);
    assert_true(mine->rss >= size && mine->private_dirty >= size);
    assert_int_equal(mine->perms & 3, 3);
    /* maps and smaps list the same file mappings, with the same paths and
     * ranges (anonymous ones may come and go between the two reads: malloc,
     * the sanitizers' allocators). */
    for (size_t i = 0; i < maps.count; i++) {
        int found = 0;
        if (maps.items[i].path[0] != '/')
            continue;
        for (size_t j = 0; j < s->mapping_count && !found; j++)
            found = maps.items[i].start == s->mappings[j].start &&
                    maps.items[i].end == s->mappings[j].end &&
                    strcmp(maps.items[i].path, s->mappings[j].path) == 0 &&
                    s->mappings[j].kind == PYDBG_MAPPING_FILE;
        assert_true(found);
    }
    pydbg__maps_free(&maps);
    pydbg_snapshot_free(s);
    munmap(p, size);
}

static void test_smaps_parse_edge_cases(void **state)
{
    static const char text[] =
        "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus daemon\n"
        "Size:                328 kB\n"
        "Rss:                 300 kB\n"
        "Pss:                 150 kB\n"
        "Private_Dirty:        12 kB\n"
        "Swap:                  4 kB\n"
        "VmFlags: rd ex mr mw me dw\n"
        "7ffd1000-7ffd2000 rw-p 00000000 00:00 0 \n"
        "Rss:                   4 kB\n"
        "7ffe1000-7ffe3000 rw-p 00000000 00:00 0                  [stack]\n";
    pydbg_snapshot *s = pydbg__snapshot_new();
    pydbg__error err = {0, ""};
    (void)state;
    assert_int_equal(pydbg__smaps_parse(s, text, sizeof text - 1, &err), PYDBG_OK);
    assert_int_equal(s->mapping_count, 3);
    assert_string_equal(s->mappings[0].path, "/usr/bin/dbus daemon");
    assert_int_equal(s->mappings[0].rss, 300 * 1024);
    assert_int_equal(s->mappings[0].pss, 150 * 1024);
    assert_int_equal(s->mappings[0].private_dirty, 12 * 1024);
    assert_int_equal(s->mappings[0].swap, 4 * 1024);
    assert_int_equal(s->mappings[0].perms, 1 | 4 | 8);
    assert_int_equal(s->mappings[1].kind, PYDBG_MAPPING_ANON);
    assert_int_equal(s->mappings[2].kind, PYDBG_MAPPING_STACK);
    pydbg_snapshot_free(s);
    s = pydbg__snapshot_new();
    assert_int_equal(pydbg__smaps_parse(s, "Rss: 4 kB\n", 10, &err), PYDBG_EFORMAT);
    pydbg_snapshot_free(s);
}

/* The cache answers every read exactly as the reader it wraps. */
static void test_heap_cache_matches_inner(void **state)
{
    const uint64_t base1 = 0x10000000ull - 4096, base2 = 0x10080000ull;
    const size_t size1 = 300000, size2 = 5000;
    unsigned char *img1 = malloc(size1), *img2 = malloc(size2);
    pydbg__reader *inner = NULL, *cache = NULL;
    pydbg__range ranges[2] = {{base1, base1 + size1}, {base2, base2 + size2}};
    unsigned seed = 12345;
    (void)state;
    assert_non_null(img1);
    assert_non_null(img2);
    for (size_t i = 0; i < size1; i++)
        img1[i] = (unsigned char)(i * 7 + 3);
    for (size_t i = 0; i < size2; i++)
        img2[i] = (unsigned char)(i * 13 + 1);
    assert_int_equal(pydbg__reader_open_buffer(&inner), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(inner, base1, img1, size1), PYDBG_OK);
    assert_int_equal(pydbg__reader_buffer_add(inner, base2, img2, size2), PYDBG_OK);
    /* A small limit, so that the cache is dropped and refilled on the way. */
    assert_int_equal(pydbg__heap_cache_open(&cache, inner, ranges, 2, 1 << 20), PYDBG_OK);
    for (int n = 0; n < 20000; n++) {
        unsigned char a[600], b[600];
        uint64_t address;
        size_t length;
        int ra, rb;
        seed = seed * 1103515245u + 12345u;
        address = base1 - 100 + (seed >> 4) % (uint64_t)(base2 + size2 + 200 - base1);
        seed = seed * 1103515245u + 12345u;
        length = 1 + (seed >> 8) % sizeof a;
        ra = pydbg__read(inner, address, a, length);
        rb = pydbg__read(cache, address, b, length);
        assert_int_equal(ra == PYDBG_OK, rb == PYDBG_OK);
        if (ra == PYDBG_OK)
            assert_memory_equal(a, b, length);
    }
    {
        uint64_t chunk_reads = 0, fallbacks = 0;
        pydbg__heap_cache_stats(cache, &chunk_reads, &fallbacks, NULL);
        assert_true(chunk_reads > 0);
    }
    pydbg__reader_destroy(cache);
    pydbg__reader_destroy(inner);
    free(img1);
    free(img2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_check_value),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_truncation_and_flip),
        cmocka_unit_test(test_forward_compatibility),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_smaps_against_kernel),
        cmocka_unit_test(test_smaps_parse_edge_cases),
        cmocka_unit_test(test_heap_cache_matches_inner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
