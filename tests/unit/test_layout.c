/* The generated layout tables, against the interpreters they describe.
 *
 * Ground truth is CPython itself: for every installed interpreter of a version
 * that has a table, tests/unit/data/layout_check.py runs in that interpreter
 * with the table's offsets on its command line, reads its own live structures
 * through ctypes at those offsets and compares with what the interpreter knows
 * through its API (id(), len(), threading.get_ident(), the C API, and for 3.13
 * its own _Py_DebugOffsets). Every offset the table has must be verified by at
 * least one such check (two may be skipped, with the reason printed, where the
 * machine lacks what checks them). A perturbed table must be caught, so the
 * harness can fail; and the lookup functions, the models and the tables'
 * internal consistency are checked without any interpreter. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "layout/layout.h"

#define CHECK_SCRIPT PYDBG_TEST_DATA_DIR "/layout_check.py"
#define MAX_ARGS 160
#define MAX_OUTPUT (1u << 20)
#define RUN_TIMEOUT_MS 30000
#define MAX_PYTHONS 8

/* ---- the fields of a table, by name ------------------------------------------------ */

/* clang-format off */
/* Byte offsets (-1 = the version has no such field). */
#define OFFSET_FIELDS(X)                                                                      \
    X(runtime, interpreters_head) X(runtime, interpreters_main) X(runtime, tstate_current)   \
    X(runtime, main_thread)                                                                   \
    X(interp, next) X(interp, tstate_head) X(interp, id) X(interp, modules) X(interp, sysdict) \
    X(interp, ceval_gil) X(interp, gc)                                                        \
    X(gil, locked) X(gil, last_holder)                                                        \
    X(tstate, size) X(tstate, prev) X(tstate, next) X(tstate, interp) X(tstate, frame)        \
    X(tstate, cframe) X(tstate, thread_id) X(tstate, native_thread_id)                        \
    X(tstate, datastack_chunk) X(tstate, datastack_top) X(tstate, datastack_limit)            \
    X(cframe, current_frame)                                                                  \
    X(frame, f_back) X(frame, f_code) X(frame, f_lasti) X(frame, f_lineno) X(frame, f_trace)  \
    X(iframe, size) X(iframe, previous) X(iframe, executable) X(iframe, instr_ptr)            \
    X(iframe, owner) X(iframe, localsplus) X(iframe, owned_by_cstack)                         \
    X(code, size) X(code, co_name) X(code, co_qualname) X(code, co_filename)                  \
    X(code, co_firstlineno) X(code, co_linetable) X(code, co_code) X(code, co_code_adaptive)  \
    X(code, co_flags)                                                                         \
    X(object, ob_type) X(object, ob_size)                                                     \
    X(type, tp_name) X(type, tp_basicsize) X(type, tp_itemsize) X(type, tp_flags)             \
    X(type, tp_dictoffset) X(type, ht_cached_keys)                                            \
    X(unicode, state) X(unicode, length) X(unicode, ascii_data) X(unicode, compact_data)      \
    X(bytes, ob_size) X(bytes, ob_sval)                                                       \
    X(pylong, size_or_tag) X(pylong, digits) X(pylong, py2_int_ival)                          \
    X(dict, ma_used) X(dict, ma_keys) X(dict, ma_values) X(dict, py2_ma_mask)                 \
    X(dict, py2_ma_table)                                                                     \
    X(dictkeys, dk_size) X(dictkeys, dk_log2_size) X(dictkeys, dk_log2_index_bytes)           \
    X(dictkeys, dk_kind) X(dictkeys, dk_nentries) X(dictkeys, dk_indices)                     \
    X(dictkeys, values_array)                                                                 \
    X(module, md_dict)                                                                        \
    X(seq, list_ob_item) X(seq, tuple_ob_item)

/* Values that are not offsets: bit positions, digit width, flag bits. */
#define VALUE_FIELDS(X)                                                                       \
    X(unicode, kind_shift) X(unicode, compact_bit) X(unicode, ascii_bit) X(pylong, digit_bits) \
    X(type, flag_managed_dict) X(type, flag_inline_values)
/* clang-format on */

typedef struct field {
    const char *name;
    long long value;
    int is_offset;
} field;

#define COUNT_FIELD(group, member) +1
enum { FIELD_COUNT = 0 OFFSET_FIELDS(COUNT_FIELD) VALUE_FIELDS(COUNT_FIELD) };

static size_t layout_fields(const pydbg__layout *l, field *out)
{
    size_t n = 0;
#define OFFSET_ENTRY(group, member) \
    out[n++] = (field){#group "." #member, (long long)l->group.member, 1};
#define VALUE_ENTRY(group, member) \
    out[n++] = (field){#group "." #member, (long long)l->group.member, 0};
    OFFSET_FIELDS(OFFSET_ENTRY)
    VALUE_FIELDS(VALUE_ENTRY)
#undef OFFSET_ENTRY
#undef VALUE_ENTRY
    return n;
}

/* Enum names as the script takes them (without the PYDBG__ prefix). */
static const char *frame_model_name(int m)
{
    switch (m) {
    case PYDBG__FRAME_OBJECTS:
        return "FRAME_OBJECTS";
    case PYDBG__IFRAME_311:
        return "IFRAME_311";
    case PYDBG__IFRAME_312:
        return "IFRAME_312";
    case PYDBG__IFRAME_313:
        return "IFRAME_313";
    default:
        return "?";
    }
}

static const char *line_model_name(int m)
{
    switch (m) {
    case PYDBG__LINES_LNOTAB:
        return "LINES_LNOTAB";
    case PYDBG__LINES_LINETABLE_310:
        return "LINES_LINETABLE_310";
    case PYDBG__LINES_LOCATIONS_311:
        return "LINES_LOCATIONS_311";
    default:
        return "?";
    }
}

static const char *string_model_name(int m)
{
    return m == PYDBG__STRINGS_PY2      ? "STRINGS_PY2"
           : m == PYDBG__STRINGS_PEP393 ? "STRINGS_PEP393"
                                        : "?";
}

static const char *long_model_name(int m)
{
    switch (m) {
    case PYDBG__LONG_PY2_INT:
        return "LONG_PY2_INT";
    case PYDBG__LONG_OB_SIZE:
        return "LONG_OB_SIZE";
    case PYDBG__LONG_LV_TAG:
        return "LONG_LV_TAG";
    default:
        return "?";
    }
}

static const char *dict_model_name(int m)
{
    switch (m) {
    case PYDBG__DICT_PY2:
        return "DICT_PY2";
    case PYDBG__DICT_36:
        return "DICT_36";
    case PYDBG__DICT_311:
        return "DICT_311";
    default:
        return "?";
    }
}

static const char *instdict_model_name(int m)
{
    switch (m) {
    case PYDBG__INSTDICT_OFFSET:
        return "INSTDICT_OFFSET";
    case PYDBG__INSTDICT_MANAGED_311:
        return "INSTDICT_MANAGED_311";
    case PYDBG__INSTDICT_MANAGED_312:
        return "INSTDICT_MANAGED_312";
    case PYDBG__INSTDICT_INLINE_313:
        return "INSTDICT_INLINE_313";
    default:
        return "?";
    }
}

static const char *gil_model_name(int m)
{
    switch (m) {
    case PYDBG__GIL_CURRENT_SYMBOL:
        return "GIL_CURRENT_SYMBOL";
    case PYDBG__GIL_RUNTIME_CURRENT:
        return "GIL_RUNTIME_CURRENT";
    case PYDBG__GIL_INTERP_STATE:
        return "GIL_INTERP_STATE";
    default:
        return "?";
    }
}

/* The versions the brief requires a generated table for. */
static const int required_versions[][2] = {{2, 7},  {3, 6},  {3, 7},  {3, 8}, {3, 9},
                                           {3, 10}, {3, 11}, {3, 12}, {3, 13}};
#define REQUIRED_COUNT (sizeof required_versions / sizeof required_versions[0])

/* ---- running the check script ------------------------------------------------------- */

typedef struct run_result {
    int exit_status; /* as from waitpid; -1 if it could not run or timed out */
    char *output;    /* stdout and stderr together */
} run_result;

static void run_result_free(run_result *r)
{
    free(r->output);
    r->output = NULL;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

static run_result run_python(char *const argv[])
{
    run_result r = {-1, NULL};
    size_t used = 0, capacity = 4096;
    int fds[2];
    pid_t pid;
    struct timespec start;

    r.output = malloc(capacity);
    assert_non_null(r.output);
    r.output[0] = '\0';
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        long left = RUN_TIMEOUT_MS - elapsed_ms(&start);
        int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        ssize_t got;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            kill(pid, SIGKILL);
            snprintf(r.output + used, capacity - used, "\n(killed after %d ms)\n", RUN_TIMEOUT_MS);
            break;
        }
        if (capacity - used < 2048 && capacity < MAX_OUTPUT) {
            capacity *= 2;
            r.output = realloc(r.output, capacity);
            assert_non_null(r.output);
        }
        if (capacity - used <= 1)
            break; /* bounded: more output than any honest run prints */
        got = read(fds[0], r.output + used, capacity - used - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        used += (size_t)got;
        r.output[used] = '\0';
    }
    close(fds[0]);
    {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        r.exit_status = status;
    }
    return r;
}

/* Whether `output` has a line "<kind> <name>" (optionally followed by ':'). */
static int has_line(const char *output, const char *kind, const char *name)
{
    size_t kind_len = strlen(kind), name_len = strlen(name);
    for (const char *line = output; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len >= kind_len + 1 + name_len && strncmp(line, kind, kind_len) == 0 &&
            line[kind_len] == ' ' && strncmp(line + kind_len + 1, name, name_len) == 0 &&
            (len == kind_len + 1 + name_len || line[kind_len + 1 + name_len] == ':'))
            return 1;
        line = end ? end + 1 : NULL;
    }
    return 0;
}

static size_t count_lines(const char *output, const char *prefix)
{
    size_t n = 0, plen = strlen(prefix);
    for (const char *line = output; line && *line;) {
        if (strncmp(line, prefix, plen) == 0)
            n++;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return n;
}

typedef struct arg_list {
    char storage[MAX_ARGS][96];
    char *argv[MAX_ARGS];
    size_t argc;
} arg_list;

static void add_arg(arg_list *a, const char *fmt, ...) PYDBG__PRINTF(2, 3);

static void add_arg(arg_list *a, const char *fmt, ...)
{
    va_list ap;
    assert_true(a->argc < MAX_ARGS - 1);
    va_start(ap, fmt);
    vsnprintf(a->storage[a->argc], sizeof a->storage[0], fmt, ap);
    va_end(ap);
    a->argv[a->argc] = a->storage[a->argc];
    a->argv[++a->argc] = NULL;
}

/* The check script's command line for `l`; `perturb` (may be NULL) lists field
 * names whose value is shifted by 8 bytes (the negative control). */
static void build_args(arg_list *a, const pydbg__layout *l, const char *python,
                       const char *const *perturb)
{
    field fields[FIELD_COUNT];
    size_t n = layout_fields(l, fields);

    a->argc = 0;
    add_arg(a, "%s", python);
    add_arg(a, "-E"); /* no PYTHON* variables from the environment */
    add_arg(a, "-S"); /* no site: faster, and nothing third-party in the way */
    add_arg(a, "%s", CHECK_SCRIPT);
    add_arg(a, "model.frame=%s", frame_model_name(l->frame_model));
    add_arg(a, "model.lines=%s", line_model_name(l->line_model));
    add_arg(a, "model.strings=%s", string_model_name(l->string_model));
    add_arg(a, "model.long=%s", long_model_name(l->long_model));
    add_arg(a, "model.dict=%s", dict_model_name(l->dict_model));
    add_arg(a, "model.instdict=%s", instdict_model_name(l->instdict_model));
    add_arg(a, "model.gil=%s", gil_model_name(l->gil_model));
    for (size_t i = 0; i < n; i++) {
        long long v = fields[i].value;
        for (const char *const *p = perturb; p && *p; p++) {
            if (strcmp(*p, fields[i].name) == 0)
                v += 8;
        }
        add_arg(a, "%s=%lld", fields[i].name, v);
    }
}

/* Fields whose check may honestly be skipped: the script says why. */
static int may_skip(const char *name)
{
    /* tstate.size: needs glibc's heap block header; interp.next: needs
     * _testcapi.run_in_subinterp (3.x) to have a second interpreter at all. */
    return strcmp(name, "tstate.size") == 0 || strcmp(name, "interp.next") == 0;
}

/* Whether the table has a value for this field that a check must confirm. */
static int must_verify(const pydbg__layout *l, const field *f)
{
    if (f->is_offset)
        return f->value != PYDBG__NO_OFFSET;
    if (strncmp(f->name, "unicode.", 8) == 0)
        return l->string_model == PYDBG__STRINGS_PEP393;
    if (strncmp(f->name, "type.flag_", 10) == 0)
        return f->value != 0;
    return 1;
}

/* Runs the check script for `l` in `python`; returns the number of OK lines. */
static size_t check_against(const pydbg__layout *l, const char *python)
{
    static arg_list args; /* large; tests run one at a time */
    field fields[FIELD_COUNT];
    size_t n = layout_fields(l, fields), verified = 0, oks;
    int problems = 0;
    run_result r;

    build_args(&args, l, python, NULL);
    r = run_python(args.argv);
    oks = count_lines(r.output, "OK ");
    if (!WIFEXITED(r.exit_status) || WEXITSTATUS(r.exit_status) != 0 ||
        !has_line(r.output, "DONE", "0") || count_lines(r.output, "FAIL ") > 0) {
        print_error("%u.%u via %s: the check script reported problems (exit status 0x%x):\n%s\n",
                    l->major, l->minor, python, r.exit_status, r.output);
        problems++;
    }
    for (size_t i = 0; i < n; i++) {
        if (!must_verify(l, &fields[i]))
            continue;
        if (has_line(r.output, "OK", fields[i].name)) {
            verified++;
        } else if (may_skip(fields[i].name) && has_line(r.output, "SKIP", fields[i].name)) {
            print_message("    %u.%u: %s not verified here (the script said why above)\n", l->major,
                          l->minor, fields[i].name);
        } else {
            print_error("%u.%u via %s: no check verified %s = %lld\n", l->major, l->minor, python,
                        fields[i].name, fields[i].value);
            problems++;
        }
    }
    for (const char *line = r.output; line && *line;) {
        if (strncmp(line, "SKIP ", 5) == 0)
            print_message("    %.*s\n", (int)strcspn(line, "\n"), line);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    print_message("  %u.%u: %s: %zu checks passed, %zu fields verified\n", l->major, l->minor,
                  python, oks, verified);
    run_result_free(&r);
    assert_int_equal(problems, 0);
    return oks;
}

/* ---- finding the installed interpreters --------------------------------------------- */

static int is_executable(const char *path)
{
    return access(path, X_OK) == 0;
}

static int already_listed(char found[][PATH_MAX], size_t count, const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return 1;
    for (size_t i = 0; i < count; i++) {
        char other[PATH_MAX];
        if (realpath(found[i], other) && strcmp(other, real) == 0)
            return 1;
    }
    return 0;
}

/* Every interpreter of major.minor on this machine: each patch release under
 * $PYENV_ROOT (default /root/.pyenv), then /usr/bin and /usr/local/bin (Debian's
 * own python3.11 is a static build, a second shape of the same version). */
static size_t find_pythons(int major, int minor, char found[][PATH_MAX], size_t max)
{
    const char *root = getenv("PYENV_ROOT");
    char prefix[32], path[PATH_MAX];
    size_t count = 0;
    DIR *dir;

    if (!root || !*root)
        root = "/root/.pyenv";
    snprintf(prefix, sizeof prefix, "%d.%d.", major, minor);
    snprintf(path, sizeof path, "%s/versions", root);
    dir = opendir(path);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL && count < max) {
            const char *rest = e->d_name + strlen(prefix);
            if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || !*rest ||
                strspn(rest, "0123456789") != strlen(rest))
                continue; /* 3.11.7-debug, 3.13.0t: other builds */
            snprintf(path, sizeof path, "%s/versions/%s/bin/python%d.%d", root, e->d_name, major,
                     minor);
            if (is_executable(path) && !already_listed(found, count, path))
                snprintf(found[count++], PATH_MAX, "%s", path);
        }
        closedir(dir);
    }
    {
        const char *system_dirs[] = {"/usr/bin", "/usr/local/bin"};
        for (size_t i = 0; i < 2 && count < max; i++) {
            snprintf(path, sizeof path, "%s/python%d.%d", system_dirs[i], major, minor);
            if (is_executable(path) && !already_listed(found, count, path))
                snprintf(found[count++], PATH_MAX, "%s", path);
        }
    }
    return count;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_lookup(void **state)
{
    (void)state;
    for (size_t i = 0; i < REQUIRED_COUNT; i++) {
        const pydbg__layout *l =
            pydbg__layout_for_version(required_versions[i][0], required_versions[i][1]);
        assert_non_null(l);
        assert_int_equal(l->major, required_versions[i][0]);
        assert_int_equal(l->minor, required_versions[i][1]);
    }
    assert_null(pydbg__layout_for_version(3, 5));
    assert_null(pydbg__layout_for_version(2, 6));
    assert_null(pydbg__layout_for_version(3, 14)); /* not generated: _Py_DebugOffsets */
    assert_null(pydbg__layout_for_version(4, 0));
    assert_null(pydbg__layout_for_version(0, 0));
    assert_null(pydbg__layout_for_version(-1, -1));
    /* no truncation to the uint8_t fields: 256 + 11 is not 11 */
    assert_null(pydbg__layout_for_version(3, 256 + 11));
    assert_null(pydbg__layout_for_version(256 + 3, 11));

    assert_string_equal(pydbg__layout_supported_versions(),
                        "2.7, 3.6, 3.7, 3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14");
}

/* Models per version, as the enum comments of layout.h define them. */
static void test_models(void **state)
{
    (void)state;
    for (size_t i = 0; i < REQUIRED_COUNT; i++) {
        int minor = required_versions[i][0] == 2 ? 0 : required_versions[i][1];
        const pydbg__layout *l =
            pydbg__layout_for_version(required_versions[i][0], required_versions[i][1]);
        int py2 = required_versions[i][0] == 2;
        assert_non_null(l);
        assert_int_equal(l->frame_model, minor <= 10   ? PYDBG__FRAME_OBJECTS
                                         : minor == 11 ? PYDBG__IFRAME_311
                                         : minor == 12 ? PYDBG__IFRAME_312
                                                       : PYDBG__IFRAME_313);
        assert_int_equal(l->line_model, minor <= 9    ? PYDBG__LINES_LNOTAB
                                        : minor == 10 ? PYDBG__LINES_LINETABLE_310
                                                      : PYDBG__LINES_LOCATIONS_311);
        assert_int_equal(l->string_model, py2 ? PYDBG__STRINGS_PY2 : PYDBG__STRINGS_PEP393);
        assert_int_equal(l->long_model, py2           ? PYDBG__LONG_PY2_INT
                                        : minor <= 11 ? PYDBG__LONG_OB_SIZE
                                                      : PYDBG__LONG_LV_TAG);
        assert_int_equal(l->dict_model, py2           ? PYDBG__DICT_PY2
                                        : minor <= 10 ? PYDBG__DICT_36
                                                      : PYDBG__DICT_311);
        assert_int_equal(l->instdict_model, minor <= 10   ? PYDBG__INSTDICT_OFFSET
                                            : minor == 11 ? PYDBG__INSTDICT_MANAGED_311
                                            : minor == 12 ? PYDBG__INSTDICT_MANAGED_312
                                                          : PYDBG__INSTDICT_INLINE_313);
        assert_int_equal(l->gil_model, py2 || minor == 6 ? PYDBG__GIL_CURRENT_SYMBOL
                                       : minor <= 11     ? PYDBG__GIL_RUNTIME_CURRENT
                                                         : PYDBG__GIL_INTERP_STATE);
    }
}

#define PRESENT(x) ((x) != PYDBG__NO_OFFSET)

/* What each model needs is there, what it cannot have is -1, offsets fall
 * inside their structures. No interpreter needed. */
static void test_consistency(void **state)
{
    (void)state;
    for (size_t i = 0; i < REQUIRED_COUNT; i++) {
        const pydbg__layout *l =
            pydbg__layout_for_version(required_versions[i][0], required_versions[i][1]);
        field fields[FIELD_COUNT];
        size_t n = layout_fields(l, fields);
        int objects = l->frame_model == PYDBG__FRAME_OBJECTS;
        int cframe = l->frame_model == PYDBG__IFRAME_311 || l->frame_model == PYDBG__IFRAME_312;

        for (size_t k = 0; k < n; k++) {
            if (fields[k].is_offset)
                assert_true(fields[k].value == PYDBG__NO_OFFSET ||
                            (fields[k].value >= 0 && fields[k].value < 65536));
        }
        /* frames */
        assert_int_equal(PRESENT(l->frame.f_back), objects);
        assert_int_equal(PRESENT(l->frame.f_code), objects);
        assert_int_equal(PRESENT(l->frame.f_lasti), objects);
        assert_int_equal(PRESENT(l->iframe.previous), !objects);
        assert_int_equal(PRESENT(l->iframe.executable), !objects);
        assert_int_equal(PRESENT(l->iframe.instr_ptr), !objects);
        assert_int_equal(PRESENT(l->iframe.localsplus), !objects);
        assert_int_equal(PRESENT(l->tstate.cframe), cframe);
        assert_int_equal(PRESENT(l->cframe.current_frame), cframe);
        assert_int_equal(PRESENT(l->tstate.frame), !cframe);
        assert_int_equal(PRESENT(l->iframe.owned_by_cstack),
                         l->frame_model == PYDBG__IFRAME_312 ||
                             l->frame_model == PYDBG__IFRAME_313);
        assert_int_equal(PRESENT(l->tstate.datastack_top), !objects);
        if (!objects) {
            assert_true(l->iframe.localsplus < l->iframe.size + 8);
            assert_true(l->iframe.previous < l->iframe.size);
            assert_true(l->iframe.owner < l->iframe.size);
        }
        /* thread state members inside the thread state */
        assert_true(l->tstate.size > 0);
        assert_true(l->tstate.thread_id < l->tstate.size);
        assert_true(l->tstate.next < l->tstate.size && l->tstate.interp < l->tstate.size);
        assert_true(l->tstate.datastack_limit < l->tstate.size);
        assert_true(l->tstate.native_thread_id < l->tstate.size);
        /* code */
        assert_true(l->code.co_name < l->code.size && l->code.co_filename < l->code.size);
        assert_int_equal(PRESENT(l->code.co_code), objects);
        assert_int_equal(PRESENT(l->code.co_code_adaptive), !objects);
        assert_int_equal(PRESENT(l->code.co_qualname), !objects);
        assert_true(l->code.co_code_adaptive < l->code.size);
        /* runtime and GIL */
        assert_int_equal(PRESENT(l->runtime.interpreters_head),
                         l->gil_model != PYDBG__GIL_CURRENT_SYMBOL);
        assert_int_equal(PRESENT(l->runtime.tstate_current),
                         l->gil_model == PYDBG__GIL_RUNTIME_CURRENT);
        assert_int_equal(PRESENT(l->interp.ceval_gil), l->gil_model == PYDBG__GIL_INTERP_STATE);
        assert_int_equal(PRESENT(l->gil.locked), l->gil_model == PYDBG__GIL_INTERP_STATE);
        assert_int_equal(PRESENT(l->gil.last_holder), l->gil_model == PYDBG__GIL_INTERP_STATE);
        /* strings */
        if (l->string_model == PYDBG__STRINGS_PEP393) {
            assert_true(PRESENT(l->unicode.state) && PRESENT(l->unicode.length));
            assert_true(l->unicode.ascii_data < l->unicode.compact_data);
            assert_true(l->unicode.kind_shift + 3 <= 32);
            /* three distinct bitfields: kind (3 bits), compact, ascii */
            assert_true(l->unicode.compact_bit >= l->unicode.kind_shift + 3 ||
                        l->unicode.compact_bit < l->unicode.kind_shift);
            assert_true(l->unicode.ascii_bit >= l->unicode.kind_shift + 3 ||
                        l->unicode.ascii_bit < l->unicode.kind_shift);
            assert_int_not_equal(l->unicode.compact_bit, l->unicode.ascii_bit);
        } else {
            assert_false(PRESENT(l->unicode.state));
        }
        assert_true(PRESENT(l->bytes.ob_sval));
        /* ints */
        assert_true(l->pylong.digit_bits == 15 || l->pylong.digit_bits == 30);
        assert_int_equal(PRESENT(l->pylong.py2_int_ival), l->long_model == PYDBG__LONG_PY2_INT);
        /* dicts */
        assert_int_equal(PRESENT(l->dict.py2_ma_table), l->dict_model == PYDBG__DICT_PY2);
        assert_int_equal(PRESENT(l->dict.ma_keys), l->dict_model != PYDBG__DICT_PY2);
        assert_int_equal(PRESENT(l->dictkeys.dk_size), l->dict_model == PYDBG__DICT_36);
        assert_int_equal(PRESENT(l->dictkeys.dk_log2_size), l->dict_model == PYDBG__DICT_311);
        assert_int_equal(PRESENT(l->dictkeys.dk_kind), l->dict_model == PYDBG__DICT_311);
        /* instance dicts */
        assert_int_equal(l->type.flag_managed_dict != 0,
                         l->instdict_model != PYDBG__INSTDICT_OFFSET);
        assert_int_equal(l->type.flag_inline_values != 0,
                         l->instdict_model == PYDBG__INSTDICT_INLINE_313);
        /* 3.14-only features stay off in generated tables */
        assert_int_equal(l->iframe_tag_mask, 0);
        assert_int_equal(l->iframe_skip_owner_mask, 0);
    }
}

/* Every table against every installed interpreter of its version. */
static void test_against_cpython(void **state)
{
    size_t checked = 0, total_oks = 0;
    char skipped[256] = "", versions[256] = "";
    (void)state;

    for (int major = 2; major <= 3; major++) {
        for (int minor = 0; minor <= 40; minor++) {
            const pydbg__layout *l = pydbg__layout_for_version(major, minor);
            char pythons[MAX_PYTHONS][PATH_MAX];
            size_t count;
            if (!l)
                continue;
            count = find_pythons(major, minor, pythons, MAX_PYTHONS);
            if (count == 0) {
                size_t used = strlen(skipped);
                snprintf(skipped + used, sizeof skipped - used, "%s%d.%d", used ? ", " : "", major,
                         minor);
                continue;
            }
            for (size_t i = 0; i < count; i++) {
                total_oks += check_against(l, pythons[i]);
                checked++;
            }
            {
                size_t used = strlen(versions);
                if (count > 1)
                    snprintf(versions + used, sizeof versions - used, "%s%d.%d (%zu builds)",
                             used ? ", " : "", major, minor, count);
                else
                    snprintf(versions + used, sizeof versions - used, "%s%d.%d", used ? ", " : "",
                             major, minor);
            }
        }
    }
    print_message("  checked versions: %s (%zu interpreters, %zu passing checks)\n",
                  *versions ? versions : "none", checked, total_oks);
    print_message("  skipped versions (not installed): %s\n", *skipped ? skipped : "none");
    if (checked == 0)
        fail_msg("no CPython of any version with a layout table is installed: nothing was "
                 "checked (set PYENV_ROOT to where pyenv keeps them)");
}

/* The harness can fail: a table with three wrong offsets is caught, each by name. */
static void test_perturbed_table_is_caught(void **state)
{
    static const char *const wrong[] = {"code.co_name", "bytes.ob_size", "tstate.thread_id", NULL};
    (void)state;
    for (int major = 3; major >= 2; major--) {
        for (int minor = 40; minor >= 0; minor--) {
            const pydbg__layout *l = pydbg__layout_for_version(major, minor);
            char pythons[MAX_PYTHONS][PATH_MAX];
            static arg_list args;
            run_result r;
            if (!l || find_pythons(major, minor, pythons, MAX_PYTHONS) == 0)
                continue;
            build_args(&args, l, pythons[0], wrong);
            r = run_python(args.argv);
            for (const char *const *name = wrong; *name; name++) {
                if (!has_line(r.output, "FAIL", *name))
                    print_error("%s shifted by 8 went unnoticed:\n%s\n", *name, r.output);
                assert_true(has_line(r.output, "FAIL", *name));
            }
            assert_false(has_line(r.output, "DONE", "0"));
            print_message("  %u.%u: a table with %s, %s and %s off by 8 is caught\n", l->major,
                          l->minor, wrong[0], wrong[1], wrong[2]);
            run_result_free(&r);
            return;
        }
    }
    skip(); /* nothing installed: test_against_cpython fails for that already */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_consistency),
        cmocka_unit_test(test_against_cpython),
        cmocka_unit_test(test_perturbed_table_is_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
