/* Unit tests of the traceback parser and formatter on the formats CPython's
 * own C code prints that the corpus run (tests/integration/traceback) cannot
 * provoke at will: faulthandler's "???" frames, "<no Python frame>" and "..."
 * cut stacks, `pydebug dump` headers, logging-style prefixes, inputs cut short,
 * the size bound, and the API's argument checks. Plus the public line-table
 * lookup against the vectors every CPython generated (data/linetable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pydebug.h"

/* Decodes `text` fed in pieces of `chunk` bytes (0: whole); returns the count. */
static size_t decode_all(const char *text, size_t chunk, pydbg_traceback **out, size_t max)
{
    pydbg_tb_parser *p;
    size_t n = 0, len = strlen(text);
    assert_int_equal(pydbg_tb_parser_new(&p, NULL), PYDBG_OK);
    for (size_t off = 0; off < len;) {
        size_t k = chunk == 0 || len - off < chunk ? len - off : chunk;
        pydbg_traceback *tb;
        assert_int_equal(pydbg_tb_parser_feed(p, text + off, k), PYDBG_OK);
        off += k;
        while (pydbg_tb_parser_next(p, &tb) == PYDBG_OK && tb) {
            assert_true(n < max);
            out[n++] = tb;
        }
    }
    assert_int_equal(pydbg_tb_parser_finish(p), PYDBG_OK);
    for (;;) {
        pydbg_traceback *tb;
        assert_int_equal(pydbg_tb_parser_next(p, &tb), PYDBG_OK);
        if (!tb)
            break;
        assert_true(n < max);
        out[n++] = tb;
    }
    pydbg_tb_parser_free(p);
    return n;
}

static char *format(const pydbg_traceback *tb, int fmt)
{
    char *s = NULL;
    size_t len = 0;
    assert_int_equal(pydbg_traceback_format(&s, &len, tb, fmt), PYDBG_OK);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    return s;
}

/* faulthandler's output as Python/traceback.c writes it on a fatal error. */
static const char faulthandler_text[] =
    "Fatal Python error: Segmentation fault\n"
    "\n"
    "Thread 0x00007f2b5a7fc640 (most recent call first):\n"
    "  File \"/usr/lib/python3.11/threading.py\", line 320 in wait\n"
    "  File \"/usr/lib/python3.11/threading.py\", line 622 in wait\n"
    "  File ???, line ??? in ???\n"
    "  ...\n"
    "\n"
    "Current thread 0x00007f2b5f5e0740 (most recent call first):\n"
    "  File \"/tmp/crash.py\", line 4 in crash\n"
    "  File \"/tmp/crash.py\", line 7 in <module>\n"
    "\n"
    "Thread 0x00007f2b59ffb640 (most recent call first):\n"
    "  <no Python frame>\n"
    "\n"
    "Extension modules: numpy.core._multiarray_umath (total: 1)\n";

static void test_faulthandler(void **state)
{
    pydbg_traceback *tbs[8];
    (void)state;
    for (size_t chunk = 0; chunk < 5; chunk++) {
        size_t n = decode_all(faulthandler_text, chunk, tbs, 8);
        const pydbg_tb_exception *e;
        const pydbg_tb_frame *f;
        assert_int_equal(n, 3);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(pydbg_traceback_kind(tbs[i]), PYDBG_TB_KIND_THREAD);
            assert_int_equal(pydbg_traceback_exception_count(tbs[i]), 1);
            assert_null(pydbg_tb_exception_type(pydbg_traceback_exception(tbs[i], 0)));
        }
        assert_int_equal(pydbg_traceback_start_line(tbs[0]), 3);
        assert_true(pydbg_traceback_thread_id(tbs[0]) == 0x00007f2b5a7fc640ull);
        assert_int_equal(pydbg_traceback_thread_is_current(tbs[0]), 0);
        e = pydbg_traceback_exception(tbs[0], 0);
        assert_int_equal(pydbg_tb_exception_frame_count(e), 3);
        f = pydbg_tb_exception_frame(e, 0);
        assert_string_equal(pydbg_tb_frame_filename(f), "/usr/lib/python3.11/threading.py");
        assert_int_equal(pydbg_tb_frame_line(f), 320);
        assert_string_equal(pydbg_tb_frame_function(f), "wait");
        assert_null(pydbg_tb_frame_source(f));
        f = pydbg_tb_exception_frame(e, 2);
        assert_string_equal(pydbg_tb_frame_filename(f), "???");
        assert_int_equal(pydbg_tb_frame_line(f), -1);
        assert_string_equal(pydbg_tb_frame_function(f), "???");

        assert_int_equal(pydbg_traceback_start_line(tbs[1]), 9);
        assert_int_equal(pydbg_traceback_thread_is_current(tbs[1]), 1);
        assert_true(pydbg_traceback_thread_id(tbs[1]) == 0x00007f2b5f5e0740ull);
        e = pydbg_traceback_exception(tbs[1], 0);
        assert_int_equal(pydbg_tb_exception_frame_count(e), 2);
        assert_string_equal(pydbg_tb_frame_function(pydbg_tb_exception_frame(e, 1)), "<module>");

        e = pydbg_traceback_exception(tbs[2], 0);
        assert_int_equal(pydbg_tb_exception_frame_count(e), 0);
        {
            /* the round trip gives back the blocks, "???", "..." and all */
            char *a = format(tbs[0], PYDBG_TB_FORMAT_TEXT);
            char *b = format(tbs[2], PYDBG_TB_FORMAT_TEXT);
            assert_non_null(strstr(faulthandler_text, a));
            assert_non_null(strstr(faulthandler_text, b));
            assert_string_equal(b, "Thread 0x00007f2b59ffb640 (most recent call first):\n"
                                   "  <no Python frame>\n");
            free(a);
            free(b);
        }
        for (size_t i = 0; i < n; i++)
            pydbg_traceback_free(tbs[i]);
    }
}

/* `pydebug dump` text, as the lead specified it. */
static const char dump_text[] =
    "Process 4242: Python 3.11.7\n"
    "\n"
    "Thread 0x00007f4a1b2c3740 \"MainThread\" native=4242 main gil (most recent call first):\n"
    "  File \"/usr/lib/python3.11/threading.py\", line 622 in Event.wait\n"
    "  File \"/tmp/x.py\", line 5 in <module>\n"
    "\n"
    "Thread 0x00007f4a10000640 native=4250 (most recent call first):\n"
    "  File \"/tmp/x.py\", line 9 in Worker.run\n"
    "  ...\n";

static void test_pydebug_dump(void **state)
{
    pydbg_traceback *tbs[4];
    size_t n = decode_all(dump_text, 0, tbs, 4);
    const pydbg_tb_exception *e;
    char *json;
    (void)state;
    assert_int_equal(n, 2);
    assert_string_equal(pydbg_traceback_thread_name(tbs[0]), "MainThread");
    assert_true(pydbg_traceback_thread_id(tbs[0]) == 0x00007f4a1b2c3740ull);
    e = pydbg_traceback_exception(tbs[0], 0);
    assert_int_equal(pydbg_tb_exception_frame_count(e), 2);
    assert_string_equal(pydbg_tb_frame_function(pydbg_tb_exception_frame(e, 0)), "Event.wait");
    assert_int_equal(pydbg_tb_frame_line(pydbg_tb_exception_frame(e, 0)), 622);
    assert_null(pydbg_traceback_thread_name(tbs[1]));
    assert_int_equal(pydbg_traceback_start_line(tbs[1]), 7);
    json = format(tbs[0], PYDBG_TB_FORMAT_JSON);
    assert_non_null(strstr(json, "\"type\": null"));
    assert_non_null(strstr(json, "\"function\": \"Event.wait\""));
    free(json);
    json = format(tbs[1], PYDBG_TB_FORMAT_TEXT);
    assert_string_equal(json, strstr(dump_text, "Thread 0x00007f4a10000640"));
    free(json);
    pydbg_traceback_free(tbs[0]);
    pydbg_traceback_free(tbs[1]);
}

/* logging.exception(): the record's prefix is on its first line only, and the
 * traceback's own lines follow unprefixed. */
static void test_logging_first_line_prefix(void **state)
{
    static const char text[] =
        "2024-05-01 10:00:00,001 INFO starting\n"
        "2024-05-01 10:00:01,002 ERROR job failed Traceback (most recent call last):\n"
        "  File \"/srv/app/jobs.py\", line 42, in run\n"
        "    result = step()\n"
        "ValueError: bad step\n"
        "2024-05-01 10:00:02,003 INFO next job\n";
    pydbg_traceback *tbs[2];
    size_t n = decode_all(text, 1, tbs, 2);
    const pydbg_tb_exception *e;
    (void)state;
    assert_int_equal(n, 1);
    assert_int_equal(pydbg_traceback_start_line(tbs[0]), 2);
    assert_int_equal(pydbg_traceback_end_line(tbs[0]), 5);
    assert_string_equal(pydbg_traceback_prefix(tbs[0]),
                        "2024-05-01 10:00:01,002 ERROR job failed ");
    e = pydbg_traceback_exception(tbs[0], 0);
    assert_string_equal(pydbg_tb_exception_type(e), "ValueError");
    assert_string_equal(pydbg_tb_exception_message(e), "bad step");
    assert_string_equal(pydbg_tb_frame_source(pydbg_tb_exception_frame(e, 0)), "result = step()");
    pydbg_traceback_free(tbs[0]);
}

/* A traceback cut by the end of the input is returned, marked truncated. */
static void test_truncated_at_end(void **state)
{
    static const char text[] = "Traceback (most recent call last):\r\n"
                               "  File \"a.py\", line 1, in <module>\r\n"
                               "    f()\r\n"
                               "  File \"a.py\", line 3, in f";
    pydbg_traceback *tbs[2];
    size_t n = decode_all(text, 0, tbs, 2);
    const pydbg_tb_exception *e;
    (void)state;
    assert_int_equal(n, 1);
    assert_int_equal(pydbg_traceback_truncated(tbs[0]), 1);
    e = pydbg_traceback_exception(tbs[0], 0);
    assert_null(pydbg_tb_exception_type(e));
    assert_int_equal(pydbg_tb_exception_frame_count(e), 2);
    assert_string_equal(pydbg_tb_frame_function(pydbg_tb_exception_frame(e, 1)), "f");
    pydbg_traceback_free(tbs[0]);
}

/* Lines that mention tracebacks without being one are not tracebacks. */
static void test_noise(void **state)
{
    static const char text[] =
        "print('Traceback (most recent call last):')\n"
        "Traceback (most recent call last): was printed by a test\n"
        "Traceback (most recent call last):\n"
        "not a frame\n"
        "  File \"x.py\", line 3, in f\n"
        "Thread 0xZZ (most recent call first):\n"
        "grep Traceback app.log\n";
    pydbg_traceback *tbs[2];
    (void)state;
    assert_int_equal(decode_all(text, 0, tbs, 2), 0);
    assert_int_equal(decode_all(text, 3, tbs, 2), 0);
}

/* ANSI colours (3.13+) and a constant container prefix. */
static void test_colour_and_prefix(void **state)
{
    static const char text[] =
        "web-1  | Traceback (most recent call last):\n"
        "web-1  |   File \x1b[35m\"/app/x.py\"\x1b[0m, line \x1b[35m2\x1b[0m, in \x1b[35m<module>\x1b[0m\n"
        "web-1  |     \x1b[31mf\x1b[0m\x1b[1;31m()\x1b[0m\n"
        "web-1  |     \x1b[31m~\x1b[0m\x1b[1;31m^^\x1b[0m\n"
        "web-1  | \x1b[1;35mZeroDivisionError\x1b[0m: \x1b[35mdivision by zero\x1b[0m\n"
        "web-1  | INFO:werkzeug:GET / 500\n";
    pydbg_traceback *tbs[2];
    size_t n = decode_all(text, 2, tbs, 2);
    const pydbg_tb_exception *e;
    const pydbg_tb_frame *f;
    char *s;
    (void)state;
    assert_int_equal(n, 1);
    e = pydbg_traceback_exception(tbs[0], 0);
    assert_string_equal(pydbg_tb_exception_type(e), "ZeroDivisionError");
    assert_string_equal(pydbg_tb_exception_message(e), "division by zero");
    f = pydbg_tb_exception_frame(e, 0);
    assert_string_equal(pydbg_tb_frame_filename(f), "/app/x.py");
    assert_string_equal(pydbg_tb_frame_source(f), "f()");
    assert_string_equal(pydbg_tb_frame_marker(f), "~^^");
    s = format(tbs[0], PYDBG_TB_FORMAT_TEXT);
    assert_string_equal(s, "Traceback (most recent call last):\n"
                           "  File \"/app/x.py\", line 2, in <module>\n"
                           "    f()\n"
                           "    ~^^\n"
                           "ZeroDivisionError: division by zero\n");
    free(s);
    pydbg_traceback_free(tbs[0]);
}

/* Log text is not always UTF-8: the JSON stays valid (a stray byte becomes the
 * escape \ufffd, as in the JSON of pydbg_stacks_format()). */
static void test_json_escaping(void **state)
{
    static const char text[] = "Traceback (most recent call last):\n"
                               "  File \"b\xff" "d\\x.py\", line 1, in <module>\n"
                               "ValueError: caf\xc3\xa9 \"q\" \x01 \xe2\x82\n";
    pydbg_traceback *tb;
    char *json;
    (void)state;
    assert_int_equal(pydbg_traceback_parse(&tb, text, strlen(text)), PYDBG_OK);
    json = format(tb, PYDBG_TB_FORMAT_JSON);
    assert_non_null(strstr(json, "\"filename\": \"b\\ufffdd\\\\x.py\""));
    assert_non_null(strstr(json, "\"message\": \"caf\xc3\xa9 \\\"q\\\" \\u0001 \\ufffd\\ufffd\""));
    free(json);
    pydbg_traceback_free(tb);
}

/* The size bound cuts a huge traceback instead of buffering it all. */
static void test_size_bound(void **state)
{
    pydbg_tb_parser_options options = PYDBG_TB_PARSER_OPTIONS_INIT;
    pydbg_tb_parser *p;
    pydbg_traceback *tb;
    static const char head[] = "Traceback (most recent call last):\n";
    static const char frame[] = "  File \"deep.py\", line 1, in f\n";
    size_t frames = 0, count = 0;
    (void)state;
    options.max_traceback_bytes = 4096;
    assert_int_equal(pydbg_tb_parser_new(&p, &options), PYDBG_OK);
    assert_int_equal(pydbg_tb_parser_feed(p, head, strlen(head)), PYDBG_OK);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(pydbg_tb_parser_feed(p, frame, strlen(frame)), PYDBG_OK);
    assert_int_equal(pydbg_tb_parser_finish(p), PYDBG_OK);
    while (pydbg_tb_parser_next(p, &tb) == PYDBG_OK && tb) {
        if (count++ == 0) {
            assert_int_equal(pydbg_traceback_truncated(tb), 1);
            frames = pydbg_tb_exception_frame_count(pydbg_traceback_exception(tb, 0));
        }
        pydbg_traceback_free(tb);
    }
    assert_int_equal(count, 1);
    assert_true(frames > 0 && frames * (sizeof frame - 1) <= 4096);
    assert_int_equal(pydbg_tb_parser_line_count(p), 10001);
    pydbg_tb_parser_free(p);
}

static void test_api_contract(void **state)
{
    pydbg_tb_parser *p = NULL;
    pydbg_traceback *tb = NULL;
    char buf[16];
    size_t needed = 0;
    static const char text[] = "Traceback (most recent call last):\n"
                               "  File \"a.py\", line 1, in <module>\n"
                               "KeyError: 'k'\n";
    char *full;
    (void)state;
    pydbg_tb_parser_free(NULL);
    pydbg_traceback_free(NULL);
    pydbg_tb_string_free(NULL);
    assert_int_equal(pydbg_tb_parser_new(NULL, NULL), PYDBG_EINVAL);
    assert_int_equal(pydbg_tb_parser_feed(NULL, "x", 1), PYDBG_EINVAL);
    assert_int_equal(pydbg_tb_parser_next(NULL, &tb), PYDBG_EINVAL);
    assert_null(pydbg_tb_exception_type(NULL));
    assert_int_equal(pydbg_tb_frame_line(NULL), -1);
    assert_null(pydbg_traceback_exception(NULL, 0));
    assert_int_equal(pydbg_traceback_parse(&tb, "nothing here\n", 13), PYDBG_ENOTFOUND);
    assert_null(tb);

    assert_int_equal(pydbg_tb_parser_new(&p, NULL), PYDBG_OK);
    assert_int_equal(pydbg_tb_parser_feed(p, NULL, 1), PYDBG_EINVAL);
    assert_int_equal(pydbg_tb_parser_finish(p), PYDBG_OK);
    assert_int_equal(pydbg_tb_parser_feed(p, "x", 1), PYDBG_ESTATE);
    assert_string_not_equal(pydbg_tb_parser_errmsg(p), "");
    pydbg_tb_parser_free(p);

    assert_int_equal(pydbg_traceback_parse(&tb, text, strlen(text)), PYDBG_OK);
    assert_null(pydbg_traceback_exception(tb, 1));
    assert_null(pydbg_tb_exception_frame(pydbg_traceback_exception(tb, 0), 1));
    full = format(tb, PYDBG_TB_FORMAT_TEXT);
    assert_string_equal(full, text);
    assert_int_equal(pydbg_traceback_format_into(buf, sizeof buf, &needed, tb,
                                                 PYDBG_TB_FORMAT_TEXT), PYDBG_ELIMIT);
    assert_int_equal(needed, strlen(text));
    assert_int_equal(strlen(buf), sizeof buf - 1);
    assert_memory_equal(buf, text, sizeof buf - 1);
    {
        char *big = malloc(needed + 1);
        assert_int_equal(pydbg_traceback_format_into(big, needed + 1, NULL, tb,
                                                     PYDBG_TB_FORMAT_TEXT), PYDBG_OK);
        assert_string_equal(big, text);
        free(big);
    }
    pydbg_tb_string_free(full);
    assert_int_equal(pydbg_traceback_format(&full, NULL, tb, 7), PYDBG_EINVAL);
    assert_null(full);
    pydbg_traceback_free(tb);
}

/* ---- line tables: the public lookup against every CPython's own answers ---- */

static const char *const linetable_tags[] = {
    "cpython-2.7",  "cpython-3.6",  "cpython-3.7",  "cpython-3.8",  "cpython-3.9",
    "cpython-3.10", "cpython-3.11", "cpython-3.12", "cpython-3.13", "cpython-3.11-debian"};

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void test_linetable_lookup(void **state)
{
    size_t checked = 0;
    (void)state;
    for (size_t t = 0; t < sizeof linetable_tags / sizeof linetable_tags[0]; t++) {
        char path[512], *line = NULL;
        size_t cap = 0, table_len = 0;
        unsigned long code_len = 0;
        int format = -1, first_line = 0;
        uint8_t *table = NULL;
        FILE *fh;
        snprintf(path, sizeof path, "%s/linetable/%s.txt", PYDBG_TEST_DATA_DIR,
                 linetable_tags[t]);
        fh = fopen(path, "r");
        if (!fh)
            continue; /* a CPython that is not installed here */
        while (getline(&line, &cap, fh) > 0) {
            if (line[0] == 'V') {
                char version[32], fmt[32];
                unsigned major, minor;
                assert_int_equal(sscanf(line, "V %31s %31s", version, fmt), 2);
                assert_int_equal(sscanf(version, "%u.%u", &major, &minor), 2);
                format = pydbg_linetable_format_for_version((major << 24) | (minor << 16));
                assert_true(format >= 0);
                /* the version's format is the one the generator recorded */
                assert_string_equal(fmt, format == PYDBG_LINETABLE_LNOTAB_UNSIGNED ? "lnotab-unsigned"
                                         : format == PYDBG_LINETABLE_LNOTAB        ? "lnotab-signed"
                                         : format == PYDBG_LINETABLE_310           ? "linetable310"
                                                                                   : "locations");
            } else if (line[0] == 'C') {
                char name[512], *hex = malloc(strlen(line));
                assert_int_equal(sscanf(line, "C %511s %d %lu %s", name, &first_line, &code_len, hex), 4);
                free(table);
                table_len = strcmp(hex, "-") == 0 ? 0 : strlen(hex) / 2;
                table = malloc(table_len + 1);
                for (size_t i = 0; i < table_len; i++)
                    table[i] = (uint8_t)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
                free(hex);
            } else if (line[0] == 'E') {
                long runs[4096][5];
                size_t nruns = 0;
                for (char *tok = strtok(line + 2, " \n"); tok && nruns < 4096;
                     tok = strtok(NULL, " \n")) {
                    long *v = runs[nruns++];
                    v[1] = v[2] = v[3] = v[4] = -1;
                    assert_true(sscanf(tok, "%ld:%ld:%ld:%ld:%ld", &v[0], &v[1], &v[2], &v[3],
                                       &v[4]) >= 2);
                }
                for (size_t r = 0; r < nruns; r++) {
                    long end = r + 1 < nruns ? runs[r + 1][0] : (long)code_len;
                    for (long off = runs[r][0]; off < end; off += 2) {
                        int l, el, c, ec;
                        int rc = pydbg_linetable_lookup(&l, &el, &c, &ec, format, table, table_len,
                                                        first_line, (int)off);
                        assert_true(rc == PYDBG_OK || rc == PYDBG_ENOTFOUND);
                        assert_int_equal(l, runs[r][1]);
                        if (format == PYDBG_LINETABLE_LOCATIONS) {
                            assert_int_equal(el, runs[r][2]);
                            assert_int_equal(c, runs[r][3]);
                            assert_int_equal(ec, runs[r][4]);
                        }
                        checked++;
                    }
                }
            }
        }
        free(line);
        free(table);
        fclose(fh);
    }
    assert_true(checked > 1000);
    {
        int l;
        assert_int_equal(pydbg_linetable_lookup(&l, NULL, NULL, NULL, 99, NULL, 0, 1, 0),
                         PYDBG_EINVAL);
        assert_int_equal(pydbg_linetable_lookup(&l, NULL, NULL, NULL, 0, NULL, 4, 1, 0),
                         PYDBG_EINVAL);
        assert_int_equal(pydbg_linetable_format_for_version(0x04000000u), PYDBG_EVERSION);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faulthandler),
        cmocka_unit_test(test_pydebug_dump),
        cmocka_unit_test(test_logging_first_line_prefix),
        cmocka_unit_test(test_truncated_at_end),
        cmocka_unit_test(test_noise),
        cmocka_unit_test(test_colour_and_prefix),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_api_contract),
        cmocka_unit_test(test_linetable_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
