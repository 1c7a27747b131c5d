/* Line-table decoders against CPython itself.
 *
 * The vectors in data/linetable/ were written by gen_linetable_cases.py running
 * under each installed CPython: real tables of real code objects, with the
 * position the interpreter gives (its Python-level API, checked against its own
 * PyCode_Addr2Line / PyCode_Addr2Location) for every byte offset. Every offset
 * of every code object must decode to exactly that.
 *
 * The rest feeds the decoders what a debugger really meets: truncated tables
 * (a read cut short), random bytes (a wrong pointer), and arithmetic edge cases.
 * Every table is copied into a buffer of exactly its length, so that a read one
 * byte too far is an ASan error in the sanitizer build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "code/linetable.h"

#ifndef PYDBG_TEST_DATA_DIR
#error "PYDBG_TEST_DATA_DIR must name tests/unit/data"
#endif

typedef enum table_format {
    FMT_LNOTAB_UNSIGNED,
    FMT_LNOTAB_SIGNED,
    FMT_LINETABLE310,
    FMT_LOCATIONS,
} table_format;

static const char *const format_names[] = {"lnotab-unsigned", "lnotab-signed", "linetable310",
                                           "locations"};

typedef struct vec_code {
    char *name;
    int first_line;
    size_t code_len;
    uint8_t *table;
    size_t table_len;
    pydbg__position *expected; /* one per byte offset, code_len of them */
} vec_code;

typedef struct vec_file {
    char version[32];
    table_format format;
    vec_code *codes;
    size_t n_codes;
} vec_file;

/* The files gen_linetable_cases.py --all writes, and the format each must hold. */
typedef struct vec_tag {
    const char *tag;
    table_format format;
} vec_tag;

static const vec_tag vec_tags[] = {
    {"cpython-2.7", FMT_LNOTAB_UNSIGNED},   {"cpython-3.6", FMT_LNOTAB_SIGNED},
    {"cpython-3.7", FMT_LNOTAB_SIGNED},     {"cpython-3.8", FMT_LNOTAB_SIGNED},
    {"cpython-3.9", FMT_LNOTAB_SIGNED},     {"cpython-3.10", FMT_LINETABLE310},
    {"cpython-3.11", FMT_LOCATIONS},        {"cpython-3.11-debian", FMT_LOCATIONS},
    {"cpython-3.12", FMT_LOCATIONS},        {"cpython-3.13", FMT_LOCATIONS},
};
#define N_TAGS (sizeof vec_tags / sizeof vec_tags[0])

/* --- loading the vectors ----------------------------------------------------------- */

static int hex_nibble(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

static void parse_table(vec_code *code, const char *hex, const char *where)
{
    size_t n = strlen(hex);
    if (strcmp(hex, "-") == 0) {
        n = 0;
    }
    if (n % 2 != 0) {
        fail_msg("%s: odd hex length", where);
    }
    code->table_len = n / 2;
    code->table = malloc(code->table_len ? code->table_len : 1);
    assert_non_null(code->table);
    for (size_t i = 0; i < code->table_len; i++) {
        int hi = hex_nibble(hex[2 * i]);
        int lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fail_msg("%s: bad hex", where);
        }
        code->table[i] = (uint8_t)(hi << 4 | lo);
    }
}

/* "E off:line off:line ..." or "E off:line:end_line:col:end_col ...": each run
 * holds from its offset to the next run's offset (or the end of the bytecode). */
static void parse_runs(vec_code *code, char *runs, table_format format, const char *where)
{
    size_t n = code->code_len;
    code->expected = malloc((n ? n : 1) * sizeof *code->expected);
    assert_non_null(code->expected);
    long prev_off = -1;
    pydbg__position cur = {-1, -1, -1, -1};
    char *save = NULL;
    for (char *tok = strtok_r(runs, " \n", &save); tok != NULL;
         tok = strtok_r(NULL, " \n", &save)) {
        long v[5] = {-1, -1, -1, -1, -1};
        int got = sscanf(tok, "%ld:%ld:%ld:%ld:%ld", &v[0], &v[1], &v[2], &v[3], &v[4]);
        int want = format == FMT_LOCATIONS ? 5 : 2;
        if (got != want || v[0] <= prev_off || v[0] >= (long)n) {
            fail_msg("%s: bad run '%s'", where, tok);
        }
        if (prev_off < 0 && v[0] != 0) {
            fail_msg("%s: first run does not start at offset 0", where);
        }
        for (long off = prev_off < 0 ? 0 : prev_off; off < v[0]; off++) {
            code->expected[off] = cur;
        }
        cur = (pydbg__position){(int)v[1], (int)v[2], (int)v[3], (int)v[4]};
        prev_off = v[0];
    }
    if (prev_off < 0 && n > 0) {
        fail_msg("%s: no runs", where);
    }
    for (long off = prev_off < 0 ? 0 : prev_off; off < (long)n; off++) {
        code->expected[off] = cur;
    }
}

static void load_vectors(vec_file *vf, const vec_tag *tag)
{
    char path[512];
    snprintf(path, sizeof path, "%s/linetable/%s.txt", PYDBG_TEST_DATA_DIR, tag->tag);
    FILE *fh = fopen(path, "r");
    if (fh == NULL) {
        fail_msg("cannot open %s (regenerate with tests/unit/gen_linetable_cases.py --all)", path);
    }
    memset(vf, 0, sizeof *vf);
    size_t cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    bool have_version = false;
    vec_code *pending = NULL;
    while (getline(&line, &line_cap, fh) > 0) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        if (strncmp(line, "V ", 2) == 0) {
            char fmt[32];
            if (sscanf(line, "V %31s %31s", vf->version, fmt) != 2) {
                fail_msg("%s: bad V line", path);
            }
            if (strcmp(fmt, format_names[tag->format]) != 0) {
                fail_msg("%s: format %s, expected %s", path, fmt, format_names[tag->format]);
            }
            vf->format = tag->format;
            have_version = true;
        } else if (strncmp(line, "C ", 2) == 0) {
            if (!have_version || pending != NULL) {
                fail_msg("%s: C line out of order", path);
            }
            if (vf->n_codes == cap) {
                cap = cap ? cap * 2 : 64;
                vf->codes = realloc(vf->codes, cap * sizeof *vf->codes);
                assert_non_null(vf->codes);
            }
            vec_code *code = &vf->codes[vf->n_codes++];
            memset(code, 0, sizeof *code);
            size_t n = strlen(line);
            char *name = malloc(n);
            char *hex = malloc(n);
            unsigned long code_len = 0;
            assert_non_null(name);
            assert_non_null(hex);
            if (sscanf(line, "C %s %d %lu %s", name, &code->first_line, &code_len, hex) != 4) {
                fail_msg("%s: bad C line", path);
            }
            code->name = name;
            code->code_len = code_len;
            parse_table(code, hex, name);
            free(hex);
            pending = code;
        } else if (strncmp(line, "E ", 2) == 0) {
            if (pending == NULL) {
                fail_msg("%s: E line without C line", path);
            }
            parse_runs(pending, line + 2, vf->format, pending->name);
            pending = NULL;
        } else {
            fail_msg("%s: unknown line '%.40s'", path, line);
        }
    }
    free(line);
    fclose(fh);
    if (!have_version || pending != NULL) {
        fail_msg("%s: incomplete file", path);
    }
}

static void free_vectors(vec_file *vf)
{
    for (size_t i = 0; i < vf->n_codes; i++) {
        free(vf->codes[i].name);
        free(vf->codes[i].table);
        free(vf->codes[i].expected);
    }
    free(vf->codes);
    memset(vf, 0, sizeof *vf);
}

/* --- decoding through one interface ------------------------------------------------ */

/* Decodes `offset` with the decoder of `format`; *found says whether the
 * locations decoder found an entry (always 1 for the line-only formats). */
static pydbg__position decode(table_format format, const uint8_t *table, size_t length,
                              int first_line, int offset, int *found)
{
    pydbg__position pos = {-1, -1, -1, -1};
    *found = 1;
    switch (format) {
    case FMT_LNOTAB_UNSIGNED:
    case FMT_LNOTAB_SIGNED:
        pos.line = pydbg__lnotab_line(table, length, first_line, offset,
                                      format == FMT_LNOTAB_SIGNED);
        break;
    case FMT_LINETABLE310:
        pos.line = pydbg__linetable310_line(table, length, first_line, offset);
        break;
    case FMT_LOCATIONS:
        *found = pydbg__locations_lookup(table, length, first_line, offset, &pos) == 0;
        break;
    }
    return pos;
}

static int same_position(pydbg__position a, pydbg__position b)
{
    return a.line == b.line && a.end_line == b.end_line && a.column == b.column &&
           a.end_column == b.end_column;
}

/* A heap copy of exactly `length` bytes (NULL for 0), so over-reads are caught. */
static uint8_t *exact_copy(const uint8_t *src, size_t length)
{
    if (length == 0) {
        return NULL;
    }
    uint8_t *p = malloc(length);
    assert_non_null(p);
    memcpy(p, src, length);
    return p;
}

/* --- every offset of every real code object ----------------------------------------- */

static void test_vectors(void **state)
{
    const vec_tag *tag = *state;
    vec_file vf;
    load_vectors(&vf, tag);
    size_t n_offsets = 0;
    for (size_t i = 0; i < vf.n_codes; i++) {
        const vec_code *code = &vf.codes[i];
        uint8_t *table = exact_copy(code->table, code->table_len);
        for (size_t off = 0; off < code->code_len; off++) {
            int found;
            pydbg__position got = decode(vf.format, table, code->table_len, code->first_line,
                                         (int)off, &found);
            pydbg__position want = code->expected[off];
            if (!found || !same_position(got, want)) {
                fail_msg("%s %s offset %zu: got %s (%d, %d, %d, %d), CPython says (%d, %d, %d, %d)",
                         vf.version, code->name, off, found ? "found" : "not found", got.line,
                         got.end_line, got.column, got.end_column, want.line, want.end_line,
                         want.column, want.end_column);
            }
            n_offsets++;
        }
        /* A frame that has not started: the generator checked CPython answers
         * co_firstlineno here (and column 0 on 3.11+). */
        for (int off = -2; off <= -1; off++) {
            int found;
            pydbg__position got = decode(vf.format, table, code->table_len, code->first_line,
                                         off, &found);
            assert_true(found);
            assert_int_equal(got.line, code->first_line);
            if (vf.format == FMT_LOCATIONS) {
                assert_int_equal(got.end_line, code->first_line);
                assert_int_equal(got.column, 0);
                assert_int_equal(got.end_column, 0);
            }
        }
        free(table);
    }
    /* Guards against a generator that silently wrote (almost) nothing. */
    assert_true(vf.n_codes >= 50);
    assert_true(n_offsets >= 5000);
    print_message("%-20s Python %-7s %-15s %4zu code objects, %6zu offsets checked\n", tag->tag,
                  vf.version, format_names[vf.format], vf.n_codes, n_offsets);
    free_vectors(&vf);
}

/* --- truncations of every real table at every length ------------------------------- */

/* How far into the bytecode a prefix of `prefix` bytes of the full table still
 * describes it, entry by entry; offsets before that must decode as with the
 * whole table. For the formats where an offset past that has a defined answer,
 * *after_line says so (-2 = not defined). */
static int64_t covered_by_prefix(table_format format, const uint8_t *table, size_t length,
                                 size_t prefix, int *after_not_found)
{
    int64_t end = 0;
    *after_not_found = 0;
    switch (format) {
    case FMT_LNOTAB_UNSIGNED:
    case FMT_LNOTAB_SIGNED:
        /* The decoder stops at the first pair that goes past the offset: if the
         * prefix still holds that pair, nothing after it mattered. */
        for (size_t i = 0; i + 1 < prefix; i += 2) {
            end += table[i];
        }
        return end;
    case FMT_LINETABLE310:
        for (size_t i = 0; i + 1 < prefix; i += 2) {
            end += table[i];
        }
        *after_not_found = 1;
        return end;
    case FMT_LOCATIONS: {
        /* Entries start at bytes with the top bit set; an entry is whole when the
         * next one starts (or the table ends) within the prefix. */
        size_t start = 0;
        while (start < length) {
            size_t next = start + 1;
            while (next < length && (table[next] & 0x80) == 0) {
                next++;
            }
            if (next > prefix) {
                break;
            }
            end += ((table[start] & 7) + 1) * 2;
            start = next;
        }
        *after_not_found = 1;
        return end;
    }
    }
    return 0;
}

static void check_truncations(const vec_file *vf, const vec_code *code, uint64_t *n_checks)
{
    if (vf->format == FMT_LOCATIONS && code->table_len > 0) {
        assert_true(code->table[0] & 0x80);
    }
    for (size_t prefix = 0; prefix <= code->table_len; prefix++) {
        uint8_t *table = exact_copy(code->table, prefix);
        int after_not_found;
        int64_t covered = covered_by_prefix(vf->format, code->table, code->table_len, prefix,
                                            &after_not_found);
        /* The offsets either side of where the prefix stops, and a spread of others. */
        int64_t probes[24];
        size_t n_probes = 0;
        probes[n_probes++] = covered - 2;
        probes[n_probes++] = covered - 1;
        probes[n_probes++] = covered;
        probes[n_probes++] = covered + 1;
        probes[n_probes++] = (int64_t)code->code_len - 1;
        probes[n_probes++] = (int64_t)code->code_len;
        probes[n_probes++] = INT_MAX;
        for (size_t k = 0; k < 16 && code->code_len > 0; k++) {
            probes[n_probes++] = (int64_t)(code->code_len * k / 16 + prefix % 7) %
                                 (int64_t)code->code_len;
        }
        for (size_t k = 0; k < n_probes; k++) {
            int64_t off = probes[k];
            if (off < 0) {
                continue;
            }
            int found;
            pydbg__position got = decode(vf->format, table, prefix, code->first_line, (int)off,
                                         &found);
            if (off < covered && off < (int64_t)code->code_len) {
                pydbg__position want = code->expected[off];
                if (!found || !same_position(got, want)) {
                    fail_msg("%s %s truncated to %zu of %zu bytes, offset %lld: got (%d, %d, "
                             "%d, %d), expected (%d, %d, %d, %d)",
                             vf->version, code->name, prefix, code->table_len, (long long)off,
                             got.line, got.end_line, got.column, got.end_column, want.line,
                             want.end_line, want.column, want.end_column);
                }
            } else if (off >= covered && after_not_found) {
                pydbg__position none = {-1, -1, -1, -1};
                if (vf->format == FMT_LOCATIONS) {
                    assert_false(found);
                }
                if (!same_position(got, none)) {
                    fail_msg("%s %s truncated to %zu bytes, offset %lld past the prefix: got "
                             "line %d",
                             vf->version, code->name, prefix, (long long)off, got.line);
                }
            }
            (*n_checks)++;
        }
        free(table);
    }
}

static void test_truncations(void **state)
{
    (void)state;
    uint64_t n_checks = 0;
    size_t n_tables = 0;
    for (size_t t = 0; t < N_TAGS; t++) {
        vec_file vf;
        load_vectors(&vf, &vec_tags[t]);
        for (size_t i = 0; i < vf.n_codes; i++) {
            check_truncations(&vf, &vf.codes[i], &n_checks);
            n_tables++;
        }
        free_vectors(&vf);
    }
    print_message("truncations: %zu real tables cut at every length, %llu lookups checked\n",
                  n_tables, (unsigned long long)n_checks);
}

/* --- random bytes -------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng_next(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dU;
}

static int random_int(void)
{
    static const int specials[] = {0, 1, -1, -2, INT_MAX, INT_MIN, INT_MAX - 1, INT_MIN + 1,
                                   255, 256, 65536};
    uint64_t r = rng_next();
    if (r % 4 == 0) {
        return specials[(r >> 8) % (sizeof specials / sizeof specials[0])];
    }
    return (int)((r >> 16) % 4096) - 64;
}

static void fill_random(uint8_t *buf, size_t n)
{
    /* Shapes that reach deep into the decoders: pure noise, all entry headers,
     * long varint continuations, or mostly maximal deltas. */
    unsigned shape = (unsigned)(rng_next() % 4);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)rng_next();
        switch (shape) {
        case 1:
            b |= 0x80;
            break;
        case 2:
            b = (i % 5 == 0) ? (uint8_t)(0xf0 | (b & 7)) : (uint8_t)(0x40 | (b & 0x3f));
            break;
        case 3:
            b = (i % 2 == 0) ? (uint8_t)(b & 1) : (uint8_t)(b & 1 ? 0x7f : 0x80);
            break;
        default:
            break;
        }
        buf[i] = b;
    }
}

static void test_random_bytes(void **state)
{
    (void)state;
    enum { ITERATIONS = 200000, MAX_LEN = 96 };
    uint8_t scratch[MAX_LEN];
    for (int it = 0; it < ITERATIONS; it++) {
        size_t n = (size_t)(rng_next() % (MAX_LEN + 1));
        fill_random(scratch, n);
        uint8_t *table = exact_copy(scratch, n);
        int first = random_int();
        int offset = random_int();

        int unsigned_line = pydbg__lnotab_line(table, n, first, offset, 0);
        /* Unsigned deltas only ever move the line forward. */
        assert_true(unsigned_line >= first);
        (void)pydbg__lnotab_line(table, n, first, offset, 1);
        (void)pydbg__linetable310_line(table, n, first, offset);

        pydbg__position pos;
        int rc = pydbg__locations_lookup(table, n, first, offset, &pos);
        if (rc != 0) {
            assert_int_equal(rc, -1);
            assert_int_equal(pos.line, -1);
            assert_int_equal(pos.end_line, -1);
            assert_int_equal(pos.column, -1);
            assert_int_equal(pos.end_column, -1);
        } else {
            /* Whatever the bytes, an end never precedes its start line and a
             * column is a column or "none". */
            assert_true(pos.end_line >= pos.line);
            assert_true(pos.column >= -1);
            assert_true(pos.end_column >= -1);
        }
        free(table);
    }
}

/* --- hand-made edge cases, expectations from the format descriptions --------------- */

static void test_empty_tables(void **state)
{
    (void)state;
    pydbg__position pos;
    assert_int_equal(pydbg__lnotab_line(NULL, 0, 7, 0, 1), 7);
    assert_int_equal(pydbg__lnotab_line(NULL, 10, 7, 100, 0), 7); /* NULL is empty */
    assert_int_equal(pydbg__linetable310_line(NULL, 0, 7, 0), -1);
    assert_int_equal(pydbg__linetable310_line(NULL, 0, 7, -1), 7);
    assert_int_equal(pydbg__locations_lookup(NULL, 0, 7, 0, &pos), -1);
    assert_int_equal(pos.line, -1);
    assert_int_equal(pydbg__locations_lookup(NULL, 4, 7, 0, &pos), -1);
    assert_int_equal(pydbg__locations_lookup((const uint8_t *)"\x80", 1, 7, 0, NULL), -1);
}

static void test_lnotab_edges(void **state)
{
    (void)state;
    /* (2, +1) (4, -1 signed / +255 unsigned) (0, +3), then half a pair. */
    static const uint8_t t[] = {2, 1, 4, 0xff, 0, 3, 9};
    assert_int_equal(pydbg__lnotab_line(t, sizeof t, 10, 0, 1), 10);
    assert_int_equal(pydbg__lnotab_line(t, sizeof t, 10, 1, 1), 10);
    assert_int_equal(pydbg__lnotab_line(t, sizeof t, 10, 2, 1), 11);
    assert_int_equal(pydbg__lnotab_line(t, sizeof t, 10, 5, 1), 11);
    assert_int_equal(pydbg__lnotab_line(t, sizeof t, 10, 6, 1), 13);
    assert_int_equal(pydbg__lnotab_line(t, sizeof t, 10, 6, 0), 10 + 1 + 255 + 3);
    assert_int_equal(pydbg__lnotab_line(t, sizeof t, 10, 1000, 1), 13); /* the 9 is ignored */

    /* Line numbers saturate instead of overflowing. */
    uint8_t up[200];
    for (size_t i = 0; i < sizeof up; i += 2) {
        up[i] = 0;
        up[i + 1] = 0x7f;
    }
    assert_int_equal(pydbg__lnotab_line(up, sizeof up, INT_MAX - 300, 0, 1), INT_MAX);
    assert_int_equal(pydbg__lnotab_line(up, sizeof up, INT_MAX - 300, 0, 0), INT_MAX);
    uint8_t down[200];
    for (size_t i = 0; i < sizeof down; i += 2) {
        down[i] = 0;
        down[i + 1] = 0x80;
    }
    assert_int_equal(pydbg__lnotab_line(down, sizeof down, INT_MIN + 300, 0, 1), INT_MIN);
    /* A huge offset walks the whole table and stops. */
    uint8_t wide[1000];
    memset(wide, 0xff, sizeof wide);
    assert_int_equal(pydbg__lnotab_line(wide, sizeof wide, 1, INT_MAX, 0), 1 + 500 * 255);
}

static void test_linetable310_edges(void **state)
{
    (void)state;
    /* [0,2) line 11; [2,4) no line; [4,6) line 12 (the -128 did not move the
     * running line); two empty entries carry +127 +127; [6,10) line 266. */
    static const uint8_t t[] = {2, 1, 2, 0x80, 2, 1, 0, 127, 0, 127, 4, 0};
    assert_int_equal(pydbg__linetable310_line(t, sizeof t, 10, 0), 11);
    assert_int_equal(pydbg__linetable310_line(t, sizeof t, 10, 1), 11);
    assert_int_equal(pydbg__linetable310_line(t, sizeof t, 10, 2), -1);
    assert_int_equal(pydbg__linetable310_line(t, sizeof t, 10, 3), -1);
    assert_int_equal(pydbg__linetable310_line(t, sizeof t, 10, 4), 12);
    assert_int_equal(pydbg__linetable310_line(t, sizeof t, 10, 6), 266);
    assert_int_equal(pydbg__linetable310_line(t, sizeof t, 10, 9), 266);
    assert_int_equal(pydbg__linetable310_line(t, sizeof t, 10, 10), -1); /* past the end */
    assert_int_equal(pydbg__linetable310_line(t, sizeof t, 10, INT_MAX), -1);
    assert_int_equal(pydbg__linetable310_line(t, sizeof t, 10, -2), 10);

    uint8_t up[400];
    for (size_t i = 0; i < sizeof up; i += 2) {
        up[i] = 1;
        up[i + 1] = 0x7f;
    }
    assert_int_equal(pydbg__linetable310_line(up, sizeof up, INT_MAX - 1000, 150), INT_MAX);
}

static void expect_position(const uint8_t *t, size_t n, int first, int offset, int line,
                            int end_line, int col, int end_col)
{
    uint8_t *copy = exact_copy(t, n);
    pydbg__position pos;
    int rc = pydbg__locations_lookup(copy, n, first, offset, &pos);
    free(copy);
    if (rc != 0 || pos.line != line || pos.end_line != end_line || pos.column != col ||
        pos.end_column != end_col) {
        fail_msg("offset %d: rc %d (%d, %d, %d, %d), expected (%d, %d, %d, %d)", offset, rc,
                 pos.line, pos.end_line, pos.column, pos.end_column, line, end_line, col,
                 end_col);
    }
}

static void expect_not_found(const uint8_t *t, size_t n, int first, int offset)
{
    uint8_t *copy = exact_copy(t, n);
    pydbg__position pos;
    int rc = pydbg__locations_lookup(copy, n, first, offset, &pos);
    free(copy);
    assert_int_equal(rc, -1);
    assert_int_equal(pos.line, -1);
    assert_int_equal(pos.end_line, -1);
    assert_int_equal(pos.column, -1);
    assert_int_equal(pos.end_column, -1);
}

static void test_locations_forms(void **state)
{
    (void)state;
    /* Built by hand from Objects/locations.md: header 1CCCCLLL, L = length - 1
     * in code units. */
    static const uint8_t t[] = {
        0x80 | 2 << 3 | 0, 0x23,       /* short form 2, 1 unit: col 16+2, end col 18+3 */
        0x80 | 11 << 3 | 1, 5, 9,      /* one-line form, line +1, 2 units: cols 5..9 */
        0x80 | 13 << 3 | 0, 0x05,      /* no columns, svarint 5 = -2 */
        0x80 | 15 << 3 | 2,            /* none, 3 units */
        0x80 | 14 << 3 | 0, 0x48, 0x01, /* long: svarint 0x48,0x01 = 72 -> +36 */
        0x02, 0x01, 0x00,              /* end line +2, col 0, end col none */
        0x80 | 0 << 3 | 7, 0x70,       /* short form 0, 8 units: col 7, end col 7 */
    };
    const size_t n = sizeof t;
    expect_position(t, n, 100, 0, 100, 100, 18, 21);
    expect_position(t, n, 100, 1, 100, 100, 18, 21);
    expect_position(t, n, 100, 2, 101, 101, 5, 9);
    expect_position(t, n, 100, 5, 101, 101, 5, 9);
    expect_position(t, n, 100, 6, 99, 99, -1, -1);
    expect_position(t, n, 100, 8, -1, -1, -1, -1);
    expect_position(t, n, 100, 13, -1, -1, -1, -1);
    expect_position(t, n, 100, 14, 135, 137, 0, -1); /* the none entry kept line 99 */
    expect_position(t, n, 100, 16, 135, 135, 7, 7);
    expect_position(t, n, 100, 31, 135, 135, 7, 7);
    expect_not_found(t, n, 100, 32);
    expect_not_found(t, n, 100, INT_MAX);
    expect_position(t, n, 100, -2, 100, 100, 0, 0);
}

static void test_locations_garbage(void **state)
{
    (void)state;
    /* Not an entry start. */
    static const uint8_t not_header[] = {0x05, 0x80};
    expect_not_found(not_header, sizeof not_header, 1, 0);
    /* A varint whose continuation runs off the end. */
    static const uint8_t cut_varint[] = {0x80 | 13 << 3, 0x41, 0x41};
    expect_not_found(cut_varint, sizeof cut_varint, 1, 0);
    /* A payload that runs into the next entry's header. */
    static const uint8_t short_payload[] = {0x80 | 11 << 3, 5, 0x80 | 15 << 3};
    expect_not_found(short_payload, sizeof short_payload, 1, 0);
    /* Earlier entries still decode when a later one is torn. */
    static const uint8_t torn_later[] = {0x80 | 15 << 3 | 1, 0x80 | 14 << 3, 0x41};
    expect_position(torn_later, sizeof torn_later, 1, 3, -1, -1, -1, -1);
    expect_not_found(torn_later, sizeof torn_later, 1, 4);

    /* A varint far longer than 32 bits saturates: +(2^31 - 1) lines, pinned at INT_MAX. */
    uint8_t huge[64];
    size_t n = 0;
    huge[n++] = 0x80 | 14 << 3;
    for (int i = 0; i < 40; i++) {
        huge[n++] = 0x40 | 0x3e; /* continuation, chunk with the sign bit clear */
    }
    huge[n++] = 0x3e;
    huge[n++] = 0x7f; /* end line delta: a long varint... */
    huge[n++] = 0x3f; /* ...that ends here */
    huge[n++] = 0x01; /* col 0 */
    huge[n++] = 0x01; /* end col 0 */
    expect_position(huge, n, 1000, 0, INT_MAX, INT_MAX, 0, 0);
    /* Columns stored as UINT32_MAX saturate at INT_MAX, never wrap negative. */
    static const uint8_t big_cols[] = {0x80 | 14 << 3, 0x00, 0x00, 0x7f, 0x7f, 0x7f, 0x7f,
                                       0x7f, 0x03, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x03};
    expect_position(big_cols, sizeof big_cols, 5, 0, 5, 5, INT_MAX, INT_MAX);
}

int main(void)
{
    struct CMUnitTest tests[N_TAGS + 8];
    size_t n = 0;
    for (size_t i = 0; i < N_TAGS; i++) {
        tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate(test_vectors, (void *)&vec_tags[i]);
        tests[n].name = vec_tags[i].tag;
        n++;
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_truncations);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_random_bytes);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_empty_tables);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_lnotab_edges);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_linetable310_edges);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_locations_forms);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_locations_garbage);
    return _cmocka_run_group_tests("linetable", tests, n, NULL, NULL);
}
