/* The walker's object decoders (walk/objects.h) against real objects of every
 * installed CPython.
 *
 * Ground truth is the interpreter itself: tests/unit/data/object_dump.py runs
 * under each one, builds strings, ints, dicts and instances, and prints their
 * memory together with what Python says they are (s.encode('utf-8'), int
 * values, id() of each dict item in iteration order, getattr()). The decoders
 * then run over that memory through a buffer reader and must agree.
 *
 * Every disagreement is printed with the interpreter, the case and expected
 * versus got, and the test fails at the end of the pass, so one run lists
 * them all. A PYDBG_EREAD is reported as a gap in the dump (the decoder read
 * memory the dumper did not save), not as a decoding bug. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dump_image.h"
#include "walk/objects.h"

#define MAX_IMAGES 16
#define MAX_PYTHONS 4

static dump_image images[MAX_IMAGES];
static size_t image_count;
static unsigned failures;       /* in the current test */
static unsigned setup_failures; /* interpreters that could not be dumped */

static void fail_case(const dump_image *image, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_case(const dump_image *image, const char *what, const char *fmt, ...)
{
    va_list ap;
    failures++;
    fprintf(stderr, "FAIL %d.%d (%s) %s: ", image->major, image->minor, image->python, what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static pydbg__target *current; /* the target of the case being checked */

/* An error code and its message, with a dump gap told apart from a decoding error. */
static const char *code_text(int rc)
{
    static char text[PYDBG__ERRMSG_SIZE + 128];
    snprintf(text, sizeof text, "%s%s [%s]",
             rc == PYDBG_EREAD ? "a gap in the dump, not a decoding bug: " : "",
             pydbg_strerror(rc), current ? current->error.message : "");
    return text;
}

static int group_setup(void **state)
{
    (void)state;
    for (size_t v = 0; v < dump_version_count; v++) {
        char pythons[MAX_PYTHONS][PATH_MAX];
        int major = dump_versions[v][0], minor = dump_versions[v][1];
        const pydbg__layout *layout = pydbg__layout_for_version(major, minor);
        size_t n = dump_find_pythons(major, minor, pythons, MAX_PYTHONS);
        if (n == 0 || !layout) {
            printf("SKIP %d.%d: %s\n", major, minor, layout ? "not installed" : "no layout");
            continue;
        }
        for (size_t i = 0; i < n && image_count < MAX_IMAGES; i++) {
            if (dump_image_load(&images[image_count], pythons[i], "objects", layout) != 0) {
                fprintf(stderr, "FAIL %d.%d: could not dump objects with %s\n", major, minor,
                        pythons[i]);
                setup_failures++;
                continue;
            }
            printf("checking %d.%d with %s (%zu records, %zu bytes of memory)\n", major, minor,
                   pythons[i], images[image_count].record_count, images[image_count].bytes);
            image_count++;
        }
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < image_count; i++)
        dump_image_free(&images[i]);
    return 0;
}

/* ---- strings ------------------------------------------------------------------------ */

/* The longest prefix of `text` (length `n`) of at most `room` bytes that ends on a
 * UTF-8 character boundary. */
static size_t boundary_prefix(const char *text, size_t n, size_t room)
{
    size_t p = n < room ? n : room;
    while (p > 0 && p < n && ((unsigned char)text[p] & 0xC0) == 0x80)
        p--;
    return p;
}

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static void check_read(const dump_image *image, pydbg__target *t, const char *name,
                       uint64_t address, const char *expected, size_t n, size_t capacity)
{
    char *out = malloc(capacity);
    char what[160];
    int truncated = -1;
    int rc;
    size_t want = n <= capacity - 1 ? n : boundary_prefix(expected, n, capacity - 1);
    int want_truncated = n > capacity - 1;
    assert_non_null(out);
    snprintf(what, sizeof what, "string %s (capacity %zu)", name, capacity);
    rc = pydbg__obj_read_string(t, address, out, capacity, &truncated);
    if (rc != PYDBG_OK) {
        fail_case(image, what, "got %s", code_text(rc));
    } else if (strlen(out) != want || memcmp(out, expected, want) != 0) {
        fail_case(image, what, "expected %zu bytes \"%.40s%s\", got %zu bytes \"%.40s%s\"%s",
                  want, expected, want > 40 ? "..." : "", strlen(out), out,
                  strlen(out) > 40 ? "..." : "",
                  valid_utf8(out) ? "" : " (not valid UTF-8)");
    } else if (truncated != want_truncated) {
        fail_case(image, what, "truncated flag %d, expected %d", truncated, want_truncated);
    }
    free(out);
}

static void test_strings(void **state)
{
    unsigned checked = 0;
    (void)state;
    failures = 0;
    assert_int_equal(setup_failures, 0);
    for (size_t i = 0; i < image_count; i++) {
        const dump_image *image = &images[i];
        pydbg__target *t = current = dump_image_target(image);
        for (size_t r = 0; r < image->record_count; r++) {
            const dump_record *rec = &image->records[r];
            uint64_t address;
            if (rec->count < 2)
                continue;
            address = dump_hex(rec->field[1]);
            if (strcmp(rec->kind, "S") == 0) {
                size_t n;
                char *expected = dump_unhex(rec->count > 2 ? rec->field[2] : "", &n);
                check_read(image, t, rec->field[0], address, expected, n,
                           PYDBG__MAX_STRING_BYTES);
                check_read(image, t, rec->field[0], address, expected, n, 8);
                check_read(image, t, rec->field[0], address, expected, n, 1);
                if (n + 1 < PYDBG__MAX_STRING_BYTES)
                    check_read(image, t, rec->field[0], address, expected, n, n + 1);
                if (n < 200 && strlen(expected) == n) {
                    char longer[256];
                    int eq = pydbg__obj_string_equals(t, address, expected);
                    if (eq != 1)
                        fail_case(image, rec->field[0], "string_equals(itself) = %d", eq);
                    snprintf(longer, sizeof longer, "%sx", expected);
                    eq = pydbg__obj_string_equals(t, address, longer);
                    if (eq != 0)
                        fail_case(image, rec->field[0], "string_equals(itself + x) = %d", eq);
                    if (n > 0) {
                        longer[n - 1] = '\0';
                        eq = pydbg__obj_string_equals(t, address, longer);
                        if (eq != 0)
                            fail_case(image, rec->field[0],
                                      "string_equals(itself minus a byte) = %d", eq);
                    }
                }
                free(expected);
                checked++;
            } else if (strcmp(rec->kind, "SE") == 0) {
                char out[64];
                int truncated;
                int rc = pydbg__obj_read_string(t, address, out, sizeof out, &truncated);
                if (rc != PYDBG_ECORRUPT)
                    fail_case(image, rec->field[0], "not a string: expected %s, got %s",
                              pydbg_strerror(PYDBG_ECORRUPT), code_text(rc));
                rc = pydbg__obj_string_equals(t, address, "");
                if (rc != 0)
                    fail_case(image, rec->field[0], "string_equals on a non-string = %d", rc);
                checked++;
            }
        }
        pydbg__target_close(t);
        current = NULL;
    }
    printf("%u string cases over %zu interpreters\n", checked, image_count);
    assert_true(image_count > 0);
    assert_true(checked > 0);
    assert_int_equal(failures, 0);
}

/* NULL and a small capacity never write past the buffer nor read address 0. */
static void test_string_edges(void **state)
{
    (void)state;
    for (size_t i = 0; i < image_count; i++) {
        pydbg__target *t = dump_image_target(&images[i]);
        char out[4] = "xyz";
        int truncated = 7;
        assert_int_equal(pydbg__obj_read_string(t, 0, out, sizeof out, &truncated),
                         PYDBG_ECORRUPT);
        assert_string_equal(out, "");
        assert_int_equal(truncated, 0);
        assert_int_equal(pydbg__obj_read_string(t, 0x10, out, 0, &truncated), PYDBG_EINVAL);
        assert_int_equal(pydbg__obj_read_string(t, 0x10, out, sizeof out, &truncated),
                         PYDBG_EREAD);
        pydbg__target_close(t);
        current = NULL;
    }
}

/* ---- ints ---------------------------------------------------------------------------- */

static void test_ints(void **state)
{
    unsigned checked = 0;
    (void)state;
    failures = 0;
    for (size_t i = 0; i < image_count; i++) {
        const dump_image *image = &images[i];
        pydbg__target *t = current = dump_image_target(image);
        for (size_t r = 0; r < image->record_count; r++) {
            const dump_record *rec = &image->records[r];
            uint64_t value = 0xdeadbeef;
            int rc;
            if (rec->count < 2 || (strcmp(rec->kind, "I") != 0 && strcmp(rec->kind, "IE") != 0))
                continue;
            rc = pydbg__obj_read_u64(t, dump_hex(rec->field[1]), &value);
            if (strcmp(rec->kind, "I") == 0) {
                uint64_t expected = rec->count > 2 ? strtoull(rec->field[2], NULL, 10) : 0;
                if (rc != PYDBG_OK)
                    fail_case(image, rec->field[0], "expected %llu, got %s",
                              (unsigned long long)expected, code_text(rc));
                else if (value != expected)
                    fail_case(image, rec->field[0], "expected %llu, got %llu",
                              (unsigned long long)expected, (unsigned long long)value);
            } else if (rc >= 0 || rc == PYDBG_EREAD) {
                fail_case(image, rec->field[0], "expected an error, got %s (value %llu)",
                          rc >= 0 ? "success" : code_text(rc), (unsigned long long)value);
            }
            checked++;
        }
        pydbg__target_close(t);
        current = NULL;
    }
    printf("%u int cases over %zu interpreters\n", checked, image_count);
    assert_true(checked > 0);
    assert_int_equal(failures, 0);
}

/* ---- dicts --------------------------------------------------------------------------- */

struct collected {
    uint64_t keys[4096], values[4096];
    size_t count;
    int stop_after; /* 0: never */
};

static int collect(pydbg__target *t, uint64_t key, uint64_t value, void *ctx)
{
    struct collected *c = ctx;
    (void)t;
    if (c->count < 4096) {
        c->keys[c->count] = key;
        c->values[c->count] = value;
    }
    c->count++;
    return c->stop_after && (int)c->count >= c->stop_after ? 1 : 0;
}

static void check_dict(const dump_image *image, pydbg__target *t, size_t at)
{
    const dump_record *rec = &image->records[at];
    const char *name = rec->field[0];
    uint64_t address = dump_hex(rec->field[1]);
    size_t expected = rec->count > 2 ? strtoul(rec->field[2], NULL, 10) : 0;
    static struct collected c;
    char what[96];
    int rc;
    snprintf(what, sizeof what, "dict %s", name);
    memset(&c, 0, sizeof c);
    rc = pydbg__dict_visit(t, address, collect, &c);
    if (rc != PYDBG_OK) {
        fail_case(image, what, "visit: %s", code_text(rc));
        return;
    }
    if (c.count != expected) {
        fail_case(image, what, "visited %zu entries, Python has %zu", c.count, expected);
        return;
    }
    for (size_t k = 0; k < expected && k < 4096; k++) {
        const dump_record *item = &image->records[at + 1 + k];
        uint64_t key = dump_hex(item->field[0]), value = dump_hex(item->field[1]);
        if (strcmp(item->kind, "K") != 0)
            fail(); /* the dumper prints exactly `expected` K lines */
        if (c.keys[k] != key || c.values[k] != value) {
            fail_case(image, what,
                      "entry %zu: expected key 0x%llx value 0x%llx (Python's iteration "
                      "order), got key 0x%llx value 0x%llx",
                      k, (unsigned long long)key, (unsigned long long)value,
                      (unsigned long long)c.keys[k], (unsigned long long)c.values[k]);
            break;
        }
    }
    if (expected >= 2) {
        /* a visitor returning 1 stops the walk, and that is not an error */
        memset(&c, 0, sizeof c);
        c.stop_after = 2;
        rc = pydbg__dict_visit(t, address, collect, &c);
        if (rc != PYDBG_OK || c.count != 2)
            fail_case(image, what, "stopping after 2 entries: rc %d, %zu visited", rc, c.count);
    }
}

static void test_dicts(void **state)
{
    unsigned checked = 0, lookups = 0;
    (void)state;
    failures = 0;
    for (size_t i = 0; i < image_count; i++) {
        const dump_image *image = &images[i];
        pydbg__target *t = current = dump_image_target(image);
        for (size_t r = 0; r < image->record_count; r++) {
            const dump_record *rec = &image->records[r];
            if (strcmp(rec->kind, "D") == 0 && rec->count >= 3) {
                check_dict(image, t, r);
                checked++;
            } else if ((strcmp(rec->kind, "G") == 0 || strcmp(rec->kind, "GN") == 0) &&
                       rec->count >= 2) {
                const dump_record *dict = dump_find(image, "D", rec->field[0]);
                char *key = dump_unhex(rec->field[1], NULL);
                uint64_t value = 0;
                char what[160];
                int rc;
                assert_non_null(dict);
                snprintf(what, sizeof what, "dict %s [\"%.60s\"]", rec->field[0], key);
                rc = pydbg__dict_get_str(t, dump_hex(dict->field[1]), key, &value);
                if (strcmp(rec->kind, "GN") == 0) {
                    if (rc != PYDBG_ENOTFOUND)
                        fail_case(image, what, "absent key: expected %s, got %s",
                                  pydbg_strerror(PYDBG_ENOTFOUND), code_text(rc));
                } else if (rc != PYDBG_OK) {
                    fail_case(image, what, "got %s", code_text(rc));
                } else if (value != dump_hex(rec->field[2])) {
                    fail_case(image, what, "expected 0x%llx, got 0x%llx",
                              (unsigned long long)dump_hex(rec->field[2]),
                              (unsigned long long)value);
                }
                free(key);
                lookups++;
            }
        }
        /* not a dict */
        {
            const dump_record *s = dump_find(image, "S", image->major == 2 ? "py2_bytes_ascii"
                                                                           : "ascii");
            static struct collected c;
            assert_non_null(s);
            memset(&c, 0, sizeof c);
            assert_int_equal(pydbg__dict_visit(t, dump_hex(s->field[1]), collect, &c),
                             PYDBG_ECORRUPT);
            assert_int_equal(c.count, 0);
        }
        pydbg__target_close(t);
        current = NULL;
    }
    printf("%u dicts and %u lookups over %zu interpreters\n", checked, lookups, image_count);
    assert_true(checked > 0);
    assert_int_equal(failures, 0);
}

/* ---- instance attributes --------------------------------------------------------------- */

static void test_attributes(void **state)
{
    unsigned checked = 0;
    (void)state;
    failures = 0;
    for (size_t i = 0; i < image_count; i++) {
        const dump_image *image = &images[i];
        pydbg__target *t = current = dump_image_target(image);
        for (size_t r = 0; r < image->record_count; r++) {
            const dump_record *rec = &image->records[r];
            uint64_t value = 0;
            char what[160];
            int rc;
            if ((strcmp(rec->kind, "A") != 0 && strcmp(rec->kind, "AN") != 0) || rec->count < 3)
                continue;
            snprintf(what, sizeof what, "%s.%s", rec->field[0], rec->field[2]);
            rc = pydbg__obj_get_attr(t, dump_hex(rec->field[1]), rec->field[2], &value);
            if (strcmp(rec->kind, "AN") == 0) {
                if (rc != PYDBG_ENOTFOUND)
                    fail_case(image, what, "absent attribute: expected %s, got %s",
                              pydbg_strerror(PYDBG_ENOTFOUND), code_text(rc));
            } else if (rc != PYDBG_OK) {
                fail_case(image, what, "got %s", code_text(rc));
            } else if (rec->count < 4 || value != dump_hex(rec->field[3])) {
                fail_case(image, what, "expected 0x%llx, got 0x%llx",
                          (unsigned long long)dump_hex(rec->field[3]),
                          (unsigned long long)value);
            }
            checked++;
        }
        pydbg__target_close(t);
        current = NULL;
    }
    printf("%u attribute cases over %zu interpreters\n", checked, image_count);
    assert_true(checked > 0);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),    cmocka_unit_test(test_string_edges),
        cmocka_unit_test(test_ints),       cmocka_unit_test(test_dicts),
        cmocka_unit_test(test_attributes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
