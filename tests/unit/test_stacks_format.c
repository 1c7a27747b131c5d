/* pydbg_stacks_format() on real captures of every installed CPython.
 *
 * A target script blocks three threads at known places and records its own
 * ground truth: traceback.extract_stack() of every thread (truth.json) and,
 * where the module exists, CPython's faulthandler.dump_traceback(all_threads=True)
 * (faulthandler.txt). On a capture of it, the test checks that
 * - TEXT and JSON equal, byte for byte, what the CLI printed before the formatter
 *   moved into the library (stack_output_ref.c), and what the `pydebug` tool prints now;
 * - FAULTHANDLER equals CPython's own faulthandler output for the same threads;
 * - TEXT and FAULTHANDLER read back by the traceback parser give the capture's frames;
 * - JSON is valid for Python's json module and holds the threads and frames of truth.json.
 * A synthetic capture with hostile strings (invalid UTF-8, quotes, control bytes)
 * covers the branches a healthy target does not reach. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/internal.h"
#include "pydebug.h"
#include "stack_output_ref.h"

#ifndef PYDBG_CLI
#error "PYDBG_CLI (the path of the pydebug tool) must be defined"
#endif

/* The target: `python target.py DIR`. Python 2.7 and 3.x alike; the source is ASCII. */
static const char target_script[] =
    "import sys, threading, time, json, traceback, linecache\n"
    "out_dir = sys.argv[1]\n"
    "ev = threading.Event()\n"
    "def inner():\n"
    "    ev.wait()\n"
    "def outer():\n"
    "    inner()\n"
    "threads = [threading.Thread(target=outer, name='worker-a')]\n"
    "if sys.version_info[0] >= 3:\n"
    "    ns = {'ev': ev}\n"
    "    exec('def w\\u00e4rme():\\n    ev.wait()\\n', ns)\n"
    "    threads.append(threading.Thread(target=ns['w\\u00e4rme'], name='n\\u00e4me'))\n"
    "for t in threads:\n"
    "    t.daemon = True\n"
    "    t.start()\n"
    "watched = [threading.current_thread()] + threads\n"
    "def blocked(f):\n"
    "    if f is None or f.f_code.co_name != 'wait':\n"
    "        return False\n"
    "    line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()\n"
    "    if line != 'waiter.acquire()':\n"
    "        return False\n"
    "    while f is not None:\n"
    "        if f.f_code.co_name == 'start':\n"
    "            return False  # main still in Thread.start(), waiting for the dumper\n"
    "        f = f.f_back\n"
    "    return True\n"
    "def dumper():\n"
    "    deadline = time.time() + 20\n"
    "    while time.time() < deadline:\n"
    "        frames = sys._current_frames()\n"
    "        if all(blocked(frames.get(t.ident)) for t in watched):\n"
    "            break\n"
    "        time.sleep(0.01)\n"
    "    frames = sys._current_frames()\n"
    "    truth = {}\n"
    "    for t in watched:\n"
    "        stack = [list(s)[:3] for s in traceback.extract_stack(frames[t.ident])]\n"
    "        truth[str(t.ident)] = {'name': t.name, 'frames': list(reversed(stack))}\n"
    "    with open(out_dir + '/truth.json', 'w') as f:\n"
    "        json.dump(truth, f)\n"
    "    try:\n"
    "        import faulthandler\n"
    "        with open(out_dir + '/faulthandler.txt', 'w') as f:\n"
    "            faulthandler.dump_traceback(f, all_threads=True)\n"
    "    except ImportError:\n"
    "        pass\n"
    "    sys.stdout.write('ready\\n')\n"
    "    sys.stdout.flush()\n"
    "threading.Thread(target=dumper).start()\n"
    "ev.wait()\n";

/* Checks the JSON against truth.json with Python's own json module: argv[1] the
 * document, argv[2] truth.json, argv[3] the pid. */
static const char json_checker[] =
    "import json, sys\n"
    "doc = json.load(open(sys.argv[1]))\n"
    "truth = json.load(open(sys.argv[2]))\n"
    "assert doc['pid'] == int(sys.argv[3]), doc['pid']\n"
    "got = dict((str(t['thread_id']), t) for t in doc['threads'])\n"
    "assert sorted(got) == sorted(truth), (sorted(got), sorted(truth))\n"
    "for ident, t in truth.items():\n"
    "    g = got[ident]\n"
    "    assert g['name'] == t['name'], (g['name'], t['name'])\n"
    "    frames = [[f['filename'], f['line'], f['function']] for f in g['frames']]\n"
    "    assert frames == t['frames'], (frames, t['frames'])\n";

static const char *const pythons[] = {
    "/root/.pyenv/versions/2.7.18/bin/python", "/root/.pyenv/versions/3.6.15/bin/python",
    "/root/.pyenv/versions/3.7.16/bin/python", "/root/.pyenv/versions/3.8.18/bin/python",
    "/root/.pyenv/versions/3.9.18/bin/python", "/root/.pyenv/versions/3.10.13/bin/python",
    "/root/.pyenv/versions/3.11.7/bin/python", "/root/.pyenv/versions/3.12.1/bin/python",
    "/root/.pyenv/versions/3.13.0/bin/python", "/usr/bin/python3.11",
};

typedef struct target {
    pid_t pid;
    char dir[64];
    char path[128];
} target;

static char *read_file(const char *path, size_t *length)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t size = 0, cap = 0, n;
    if (!f)
        return NULL;
    do {
        if (size + 4096 + 1 > cap) {
            cap = (size + 4096 + 1) * 2;
            data = realloc(data, cap);
            assert_non_null(data);
        }
        n = fread(data + size, 1, cap - size - 1, f);
        size += n;
    } while (n > 0);
    fclose(f);
    data[size] = '\0';
    if (length)
        *length = size;
    return data;
}

static void write_file(const char *path, const char *data, size_t length)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, length, f), length);
    assert_int_equal(fclose(f), 0);
}

static void path_in(const target *t, char *out, size_t size, const char *name)
{
    int n = snprintf(out, size, "%s/%s", t->dir, name);
    assert_true(n > 0 && (size_t)n < size);
}

/* Starts the target and waits for its "ready" line (its ground truth is written then). */
static void start_target(target *t, const char *python)
{
    char script[128], line[64];
    int pipefd[2];
    FILE *from;
    strcpy(t->dir, "/tmp/pydbg-stacks-format-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    path_in(t, script, sizeof script, "target.py");
    write_file(script, target_script, sizeof target_script - 1);
    assert_int_equal(pipe(pipefd), 0);
    t->pid = fork();
    assert_true(t->pid >= 0);
    if (t->pid == 0) {
        /* A failed assertion leaves the test without stopping the target: it must not
         * outlive the test (and hold ctest's output pipe open). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execl(python, python, script, t->dir, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    from = fdopen(pipefd[0], "r");
    assert_non_null(from);
    if (!fgets(line, sizeof line, from) || strcmp(line, "ready\n") != 0) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, NULL, 0);
        fail_msg("%s did not start the target", python);
    }
    fclose(from);
}

static void stop_target(target *t)
{
    static const char *const names[] = {"target.py", "truth.json", "faulthandler.txt",
                                        "dump.json", "cli.out"};
    char path[128];
    kill(t->pid, SIGKILL);
    waitpid(t->pid, NULL, 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        path_in(t, path, sizeof path, names[i]);
        unlink(path);
    }
    rmdir(t->dir);
}

/* Captures once the dumper thread is gone: `expected` threads remain. */
static pydbg_stacks *capture(pydbg_process *process, size_t expected)
{
    for (int attempt = 0; attempt < 500; attempt++) {
        pydbg_stacks *stacks = NULL;
        assert_int_equal(pydbg_stacks_capture(&stacks, process, NULL), PYDBG_OK);
        if (pydbg_stacks_thread_count(stacks) == expected)
            return stacks;
        pydbg_stacks_free(stacks);
        usleep(10000);
    }
    fail_msg("the target never had %zu threads", expected);
    return NULL;
}

static char *format(const pydbg_stacks *stacks, const pydbg_process *process, int fmt,
                    size_t *length)
{
    char *out = NULL;
    assert_int_equal(pydbg_stacks_format(&out, length, stacks, process, fmt), PYDBG_OK);
    assert_non_null(out);
    assert_int_equal(strlen(out), *length);
    return out;
}

/* What the old CLI code printed for the capture. */
static char *reference(void (*print)(FILE *, pydbg_process *, const pydbg_stacks *),
                       pydbg_process *process, const pydbg_stacks *stacks, size_t *length)
{
    char *data = NULL;
    FILE *f = open_memstream(&data, length);
    assert_non_null(f);
    print(f, process, stacks);
    assert_int_equal(fclose(f), 0);
    return data;
}

/* Runs a command line, its standard output into `out_path`; returns its exit status. */
static int run(const char *out_path, const char *fmt, ...)
{
    char command[1024];
    va_list ap;
    int n, status;
    va_start(ap, fmt);
    n = vsnprintf(command, sizeof command - 200, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof command - 200);
    snprintf(command + n, 200, " >%s", out_path);
    status = system(command);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void assert_same_text(const char *what, const char *expected, size_t expected_length,
                             const char *got, size_t got_length)
{
    size_t at = 0, from;
    if (expected_length == got_length && memcmp(expected, got, got_length) == 0)
        return;
    while (at < expected_length && at < got_length && expected[at] == got[at])
        at++;
    from = at > 120 ? at - 120 : 0;
    /* cmocka cuts long messages: show where they part. */
    print_error("%s differs at byte %zu (expected %zu bytes, got %zu)\n--- expected\n%.240s\n"
                "--- got\n%.240s\n", what, at, expected_length, got_length, expected + from,
                got + from);
    fail();
}

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* Reads `text` back with the traceback parser: one thread block per captured
 * thread, with the capture's ident, name (TEXT only) and frames. */
static void check_round_trip(const char *what, const char *text, size_t length,
                             const pydbg_stacks *stacks, int faulthandler)
{
    pydbg_tb_parser *parser = NULL;
    size_t count = pydbg_stacks_thread_count(stacks);
    assert_int_equal(pydbg_tb_parser_new(&parser, NULL), PYDBG_OK);
    assert_int_equal(pydbg_tb_parser_feed(parser, text, length), PYDBG_OK);
    assert_int_equal(pydbg_tb_parser_finish(parser), PYDBG_OK);
    for (size_t i = 0; i <= count; i++) {
        pydbg_traceback *tb = NULL;
        const pydbg_thread *t = pydbg_stacks_thread(stacks, i);
        const pydbg_tb_exception *e;
        assert_int_equal(pydbg_tb_parser_next(parser, &tb), PYDBG_OK);
        if (i == count) {
            if (tb)
                fail_msg("%s: more thread blocks than the capture's %zu threads", what, count);
            break;
        }
        if (!tb)
            fail_msg("%s: thread block %zu of %zu not found", what, i, count);
        assert_int_equal(pydbg_traceback_kind(tb), PYDBG_TB_KIND_THREAD);
        assert_false(pydbg_traceback_truncated(tb));
        assert_int_equal(pydbg_traceback_thread_id(tb), pydbg_thread_ident(t));
        if (!faulthandler && pydbg_thread_name(t))
            assert_string_equal(pydbg_traceback_thread_name(tb), pydbg_thread_name(t));
        assert_int_equal(pydbg_traceback_exception_count(tb), 1);
        e = pydbg_traceback_exception(tb, 0);
        assert_int_equal(pydbg_tb_exception_frame_count(e), pydbg_thread_frame_count(t));
        for (size_t j = 0; j < pydbg_thread_frame_count(t); j++) {
            const pydbg_frame *f = pydbg_thread_frame(t, j);
            const pydbg_tb_frame *p = pydbg_tb_exception_frame(e, j);
            const char *function = pydbg_frame_function(f);
            if (!faulthandler && pydbg_frame_qualname(f))
                function = pydbg_frame_qualname(f);
            assert_string_equal(pydbg_tb_frame_filename(p), pydbg_frame_filename(f));
            assert_int_equal(pydbg_tb_frame_line(p), pydbg_frame_line(f));
            if (faulthandler && !is_ascii(function))
                /* faulthandler escapes it: the exact form is checked against CPython's. */
                assert_true(is_ascii(pydbg_tb_frame_function(p)) &&
                            strchr(pydbg_tb_frame_function(p), '\\'));
            else
                assert_string_equal(pydbg_tb_frame_function(p), function);
        }
        pydbg_traceback_free(tb);
    }
    pydbg_tb_parser_free(parser);
}

/* CPython's faulthandler dump without the block of the thread that wrote it
 * (the dumper, gone before the capture), blocks joined as faulthandler joins them. */
static char *faulthandler_without_current(const char *dump)
{
    size_t n = strlen(dump), out_n = 0, blocks = 0;
    char *out = malloc(n + 1);
    const char *p = dump;
    assert_non_null(out);
    while (*p) {
        const char *end = strstr(p, "\n\n");
        size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
        if (strncmp(p, "Current thread 0x", 17) != 0) {
            if (blocks++)
                out[out_n++] = '\n';
            memcpy(out + out_n, p, len);
            out_n += len;
        }
        p += len + (end ? 1 : 0);
    }
    out[out_n] = '\0';
    return out;
}

static void check_python(const char *python)
{
    target t;
    pydbg_process *process = NULL;
    pydbg_stacks *stacks;
    char path[128], truth_path[128], out_path[128];
    char *text, *json, *fh, *ref, *cli, *cpython;
    size_t text_n, json_n, fh_n, ref_n, cli_n, expected;
    int py3 = strstr(python, "2.7") == NULL;

    start_target(&t, python);
    expected = py3 ? 3 : 2;
    assert_int_equal(pydbg_process_attach(&process, t.pid, NULL), PYDBG_OK);
    stacks = capture(process, expected);

    text = format(stacks, process, PYDBG_STACKS_FORMAT_TEXT, &text_n);
    json = format(stacks, process, PYDBG_STACKS_FORMAT_JSON, &json_n);
    fh = format(stacks, process, PYDBG_STACKS_FORMAT_FAULTHANDLER, &fh_n);

    /* (1) the CLI's output before the move, on this very capture */
    ref = reference(ref_print_stacks_text, process, stacks, &ref_n);
    assert_same_text("TEXT vs the old CLI", ref, ref_n, text, text_n);
    free(ref);
    ref = reference(ref_print_stacks_json, process, stacks, &ref_n);
    assert_true(ref_n > 0 && ref[ref_n - 1] == '\n');
    assert_same_text("JSON vs the old CLI", ref, ref_n - 1, json, json_n);
    free(ref);

    /* ... and the tool itself on the same still target (it prints JSON with a newline) */
    path_in(&t, out_path, sizeof out_path, "cli.out");
    assert_int_equal(run(out_path, "%s dump --pid %d", PYDBG_CLI, (int)t.pid), 0);
    cli = read_file(out_path, &cli_n);
    assert_non_null(cli);
    assert_same_text("TEXT vs pydebug dump", cli, cli_n, text, text_n);
    free(cli);
    assert_int_equal(run(out_path, "%s dump --pid %d --format json", PYDBG_CLI, (int)t.pid), 0);
    cli = read_file(out_path, &cli_n);
    assert_non_null(cli);
    assert_true(cli_n > 0 && cli[cli_n - 1] == '\n');
    assert_same_text("JSON vs pydebug dump --format json", cli, cli_n - 1, json, json_n);
    free(cli);
    assert_int_equal(
        run(out_path, "%s dump --pid %d --format faulthandler", PYDBG_CLI, (int)t.pid), 0);
    cli = read_file(out_path, &cli_n);
    assert_non_null(cli);
    assert_same_text("FAULTHANDLER vs pydebug dump --format faulthandler", cli, cli_n, fh, fh_n);
    free(cli);

    /* (2) CPython's own faulthandler, for the threads the capture holds */
    path_in(&t, path, sizeof path, "faulthandler.txt");
    cpython = read_file(path, NULL);
    if (py3) {
        char *expected_fh;
        assert_non_null(cpython);
        expected_fh = faulthandler_without_current(cpython);
        assert_same_text("FAULTHANDLER vs CPython's faulthandler", expected_fh,
                         strlen(expected_fh), fh, fh_n);
        free(expected_fh);
    }
    free(cpython);

    /* (3) the traceback parser reads both text layouts back */
    check_round_trip("TEXT", text, text_n, stacks, 0);
    check_round_trip("FAULTHANDLER", fh, fh_n, stacks, 1);

    /* (4) Python's json module reads the JSON, and it holds the target's own stacks */
    path_in(&t, path, sizeof path, "dump.json");
    write_file(path, json, json_n);
    path_in(&t, truth_path, sizeof truth_path, "truth.json");
    assert_int_equal(run("/dev/null", "python3 -c \"$(cat <<'EOF'\n%s\nEOF\n)\" %s %s %d",
                         json_checker, path, truth_path, (int)t.pid),
                     0);

    free(text);
    free(json);
    free(fh);
    pydbg_stacks_free(stacks);
    pydbg_process_close(process);
    stop_target(&t);
}

static void test_python(void **state)
{
    const char *python = *state;
    if (access(python, X_OK) != 0)
        skip();
    check_python(python);
}

/* ---- a synthetic capture: the branches a healthy target does not reach ----------- */

static pydbg_frame synthetic_frames[] = {
    {"f\"q\\", NULL, "/tmp/a\tb\x01\x7f.py", 10, -1, -1, -1, 0, 1},
    {"bad\xff\xc3", "C.bad\xe0\x80\x80", "caf\xc3\xa9/\xf0\x9f\x98\x80.py", -1, -1, -1, -1, -1, 2},
    {"g", "Outer.g", "x.py", 7, 8, 3, 12, 20, 3},
};

static pydbg_thread synthetic_threads[] = {
    {0, 0x7f0000001000u, -1, NULL, 0, -1, 1, PYDBG_OK, "", synthetic_frames, 3},
    {2, 0x7f0000002000u, 4242, "n\"a\nme", 1, 1, 0, PYDBG_EREAD, "reading frame 2: gone",
     synthetic_frames + 2, 1},
    {0, 1, 7, "empty", 0, 0, 0, PYDBG_OK, "", NULL, 0},
};

static void synthetic(pydbg_stacks *s)
{
    memset(s, 0, sizeof *s);
    s->threads = synthetic_threads;
    s->thread_count = sizeof synthetic_threads / sizeof synthetic_threads[0];
}

/* The old CLI code needs a process for its header: a started target serves. */
static void test_synthetic_matches_old_cli(void **state)
{
    pydbg_process *process = NULL;
    const char *python = NULL;
    pydbg_stacks s;
    char *out, *ref;
    size_t n, ref_n;
    target t;
    (void)state;
    synthetic(&s);
    for (size_t i = 0; i < sizeof pythons / sizeof pythons[0] && !python; i++)
        if (access(pythons[i], X_OK) == 0)
            python = pythons[i];
    if (!python)
        skip();
    start_target(&t, python);
    assert_int_equal(pydbg_process_attach(&process, t.pid, NULL), PYDBG_OK);
    out = format(&s, process, PYDBG_STACKS_FORMAT_TEXT, &n);
    ref = reference(ref_print_stacks_text, process, &s, &ref_n);
    assert_same_text("synthetic TEXT", ref, ref_n, out, n);
    free(out);
    free(ref);
    out = format(&s, process, PYDBG_STACKS_FORMAT_JSON, &n);
    ref = reference(ref_print_stacks_json, process, &s, &ref_n);
    assert_same_text("synthetic JSON", ref, ref_n - 1, out, n);
    free(out);
    free(ref);
    pydbg_process_close(process);
    stop_target(&t);
}

static void test_synthetic_faulthandler(void **state)
{
    static const char expected[] =
        "Thread 0x00007f0000001000 (most recent call first):\n"
        "  File \"/tmp/a\\x09b\\x01\\x7f.py\", line 10 in f\"q\\\n"
        "  File \"caf\\xe9/\\U0001f600.py\", line ??? in bad\\xff\\xc3\n"
        "  File \"x.py\", line 7 in g\n"
        "  ...\n"
        "\n"
        "Thread 0x00007f0000002000 (most recent call first):\n"
        "  File \"x.py\", line 7 in g\n"
        "  <stack incomplete: reading frame 2: gone>\n"
        "\n"
        "Thread 0x0000000000000001 (most recent call first):\n"
        "  <no Python frame>\n";
    pydbg_stacks s;
    char *out;
    size_t n;
    (void)state;
    synthetic(&s);
    out = format(&s, NULL, PYDBG_STACKS_FORMAT_FAULTHANDLER, &n);
    assert_same_text("synthetic FAULTHANDLER", expected, sizeof expected - 1, out, n);
    free(out);
}

/* faulthandler cuts a name at 500 code points (not bytes) and adds "...". */
static void test_faulthandler_cuts_long_names(void **state)
{
    char name[1200], expected[4096];
    pydbg_frame frame = {name, NULL, "f.py", 1, -1, -1, -1, 0, 1};
    pydbg_thread thread = {0, 16, -1, NULL, 0, 0, 0, PYDBG_OK, "", &frame, 1};
    pydbg_stacks s;
    char *out;
    size_t n, k = 0;
    (void)state;
    memset(&s, 0, sizeof s);
    s.threads = &thread;
    s.thread_count = 1;
    for (int i = 0; i < 501; i++) { /* 501 two-byte code points */
        name[2 * i] = (char)0xc3;
        name[2 * i + 1] = (char)0xa9;
    }
    name[1002] = '\0';
    k += (size_t)sprintf(expected + k, "Thread 0x0000000000000010 (most recent call first):\n"
                                       "  File \"f.py\", line 1 in ");
    for (int i = 0; i < 500; i++)
        k += (size_t)sprintf(expected + k, "\\xe9");
    sprintf(expected + k, "...\n");
    out = format(&s, NULL, PYDBG_STACKS_FORMAT_FAULTHANDLER, &n);
    assert_string_equal(out, expected);
    free(out);
}

static void test_without_process_and_errors(void **state)
{
    pydbg_stacks s;
    char *out = (char *)1, small[16];
    size_t n = 99, needed = 0, full;
    (void)state;
    synthetic(&s);
    out = format(&s, NULL, PYDBG_STACKS_FORMAT_TEXT, &n);
    assert_true(strncmp(out, "Thread 0x00007f0000001000 (most recent", 38) == 0);
    free(out);
    out = format(&s, NULL, PYDBG_STACKS_FORMAT_JSON, &full);
    assert_true(strncmp(out, "{\"pid\":null,\"python_version\":null,\"threads\":[", 45) == 0);

    /* _into: snprintf's contract */
    assert_int_equal(pydbg_stacks_format_into(NULL, 0, &needed, &s, NULL,
                                              PYDBG_STACKS_FORMAT_JSON),
                     PYDBG_ELIMIT);
    assert_int_equal(needed, full);
    assert_int_equal(pydbg_stacks_format_into(small, sizeof small, &needed, &s, NULL,
                                              PYDBG_STACKS_FORMAT_JSON),
                     PYDBG_ELIMIT);
    assert_int_equal(needed, full);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, out, sizeof small - 1);
    {
        char *big = malloc(full + 1);
        assert_non_null(big);
        assert_int_equal(pydbg_stacks_format_into(big, full + 1, &needed, &s, NULL,
                                                  PYDBG_STACKS_FORMAT_JSON),
                         PYDBG_OK);
        assert_string_equal(big, out);
        free(big);
    }
    free(out);

    out = (char *)1;
    n = 99;
    assert_int_equal(pydbg_stacks_format(&out, &n, NULL, NULL, 0), PYDBG_EINVAL);
    assert_null(out);
    assert_int_equal(n, 0);
    assert_int_equal(pydbg_stacks_format(&out, &n, &s, NULL, 3), PYDBG_EINVAL);
    assert_int_equal(pydbg_stacks_format(&out, &n, &s, NULL, -1), PYDBG_EINVAL);
    assert_int_equal(pydbg_stacks_format(NULL, &n, &s, NULL, 0), PYDBG_EINVAL);
    assert_int_equal(pydbg_stacks_format_into(NULL, 4, &needed, &s, NULL, 0), PYDBG_EINVAL);
    assert_int_equal(pydbg_stacks_format_into(small, 4, &needed, NULL, NULL, 0), PYDBG_EINVAL);
    assert_int_equal(pydbg_stacks_format_into(small, 4, &needed, &s, NULL, 7), PYDBG_EINVAL);

    /* an empty capture */
    s.thread_count = 0;
    out = format(&s, NULL, PYDBG_STACKS_FORMAT_TEXT, &n);
    assert_string_equal(out, "");
    free(out);
    out = format(&s, NULL, PYDBG_STACKS_FORMAT_JSON, &n);
    assert_string_equal(out, "{\"pid\":null,\"python_version\":null,\"threads\":[]}");
    free(out);
}

int main(void)
{
    struct CMUnitTest tests[sizeof pythons / sizeof pythons[0] + 4];
    size_t n = 0;
    for (size_t i = 0; i < sizeof pythons / sizeof pythons[0]; i++) {
        struct CMUnitTest t = {pythons[i], test_python, NULL, NULL, (void *)pythons[i]};
        tests[n++] = t;
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_synthetic_matches_old_cli);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_synthetic_faulthandler);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_faulthandler_cuts_long_names);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_without_process_and_errors);
    return _cmocka_run_group_tests("stacks_format", tests, n, NULL, NULL);
}
