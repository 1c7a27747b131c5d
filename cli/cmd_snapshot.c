/* pydebug snapshot and pydebug diff: memory snapshots saved to files, and
 * what grew between two of them. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "commands.h"
#include "json.h"
#include "pydebug.h"

static const char snapshot_usage[] =
    "usage: pydebug snapshot --pid PID -o FILE [--live] [--no-census] [--no-referents]\n"
    "                        [--format text|json]\n"
    "\n"
    "Takes a memory snapshot of a live Python process and writes it to FILE: every\n"
    "mapping of /proc/PID/smaps (resident, PSS, private dirty, swap) and a census of\n"
    "the Python heap by type (the objects gc.get_objects() sees, sized as\n"
    "sys.getsizeof() does, plus the untracked objects they reach). Compare two\n"
    "snapshots with 'pydebug diff OLD NEW'.\n"
    "\n"
    "  --pid PID        the process (required)\n"
    "  -o, --output F   the snapshot file to write (required)\n"
    "  --paused         stop the process (ptrace) while reading: the default\n"
    "  --live           do not stop it; the census is then a best effort\n"
    "  --no-census      record the mappings only\n"
    "  --no-referents   count tracked objects only (faster)\n"
    "  --format FORMAT  the summary printed: text (default) or json\n"
    "\n"
    "Exit status: 0 ok, 1 error, 3 no such process, 4 permission denied,\n"
    "5 not a Python process or unsupported Python version.\n";

static const char diff_usage[] =
    "usage: pydebug diff OLD NEW [--by type|mapping|arena] [--top N] [--format text|json]\n"
    "                    [--tracked-only]\n"
    "\n"
    "Shows what grew between two snapshot files, largest growth first.\n"
    "\n"
    "  --by type        by type name (tp_name): objects and bytes (default)\n"
    "  --by mapping     by mapping path, [heap], [anon] or [stack]: resident bytes\n"
    "  --by arena       pymalloc: arenas, and blocks per size class (\"32-byte blocks\")\n"
    "  --top N          the first N entries (default 20; 0 for all)\n"
    "  --tracked-only   by type: only objects on the GC lists (what gc.get_objects()\n"
    "                   sees), not the untracked ones reached from them\n"
    "  --all            also list entries that did not change\n"
    "  --format FORMAT  text (default) or json\n";

/* "12.3 MiB" */
static void human(char *out, size_t size, double bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    double v = bytes < 0 ? -bytes : bytes;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%s%.0f %s", bytes < 0 ? "-" : "", v, units[u]);
    else
        snprintf(out, size, "%s%.1f %s", bytes < 0 ? "-" : "", v, units[u]);
}

static void format_time(char *out, size_t size, int64_t ns)
{
    time_t secs = (time_t)(ns / 1000000000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || !strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, size, "?");
}

typedef struct totals {
    uint64_t rss, swap, by_kind[5];
    uint64_t tracked_count, tracked_bytes, reached_count, reached_bytes;
} totals;

static void sum(const pydbg_snapshot *s, totals *t)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < pydbg_snapshot_mapping_count(s); i++) {
        uint64_t rss = pydbg_snapshot_mapping_value(s, i, PYDBG_MAPPING_RSS);
        int kind = pydbg_snapshot_mapping_kind(s, i);
        t->rss += rss;
        t->swap += pydbg_snapshot_mapping_value(s, i, PYDBG_MAPPING_SWAP);
        if (kind >= 0 && kind < 5)
            t->by_kind[kind] += rss;
    }
    for (size_t i = 0; i < pydbg_snapshot_type_count(s); i++) {
        t->tracked_count += pydbg_snapshot_type_value(s, i, PYDBG_TYPE_TRACKED_COUNT);
        t->tracked_bytes += pydbg_snapshot_type_value(s, i, PYDBG_TYPE_TRACKED_BYTES);
        t->reached_count += pydbg_snapshot_type_value(s, i, PYDBG_TYPE_REACHED_COUNT);
        t->reached_bytes += pydbg_snapshot_type_value(s, i, PYDBG_TYPE_REACHED_BYTES);
    }
}

static void print_snapshot_text(const pydbg_snapshot *s, const char *path, long file_size)
{
    totals t;
    char a[32], b[32], c[32], d[32], e[32];
    uint32_t contents = pydbg_snapshot_contents(s);
    sum(s, &t);
    printf("snapshot of process %d (Python %s, %s), %s\n", pydbg_snapshot_pid(s),
           pydbg_snapshot_python_version(s), pydbg_snapshot_executable(s),
           contents & PYDBG_SNAPSHOT_WAS_PAUSED ? "paused" : "live");
    human(a, sizeof a, (double)t.rss);
    human(b, sizeof b, (double)t.by_kind[PYDBG_MAPPING_HEAP]);
    human(c, sizeof c, (double)t.by_kind[PYDBG_MAPPING_ANON]);
    human(d, sizeof d, (double)t.by_kind[PYDBG_MAPPING_FILE]);
    human(e, sizeof e, (double)t.swap);
    printf("  mappings: %zu, resident %s ([heap] %s, anonymous %s, files %s), swap %s\n",
           pydbg_snapshot_mapping_count(s), a, b, c, d, e);
    if (contents & PYDBG_SNAPSHOT_HAS_CENSUS) {
        human(a, sizeof a, (double)t.tracked_bytes);
        human(b, sizeof b, (double)t.reached_bytes);
        printf("  census:   %" PRIu64 " tracked objects, %s, in %zu types; ", t.tracked_count, a,
               pydbg_snapshot_type_count(s));
        if (contents & PYDBG_SNAPSHOT_HAS_REFERENTS)
            printf("%" PRIu64 " untracked objects reached, %s; ", t.reached_count, b);
        printf("%.1f ms\n", (double)pydbg_snapshot_census_ns(s) / 1e6);
    } else {
        printf("  census:   none\n");
    }
    printf("  note:     %s\n", pydbg_snapshot_census_note(s));
    for (size_t i = 0; i < pydbg_snapshot_pymalloc_count(s); i++) {
        uint64_t id = pydbg_snapshot_pymalloc_value(s, i, PYDBG_PYMALLOC_INTERPRETER_ID);
        char who[48];
        if (id == UINT64_MAX)
            snprintf(who, sizeof who, "process");
        else
            snprintf(who, sizeof who, "interpreter %" PRIu64, id);
        human(a, sizeof a, (double)pydbg_snapshot_pymalloc_value(s, i, PYDBG_PYMALLOC_ARENA_BYTES));
        human(b, sizeof b, (double)pydbg_snapshot_pymalloc_value(s, i, PYDBG_PYMALLOC_BLOCK_BYTES));
        printf("  pymalloc: %s: %" PRIu64 " arenas, %s; %" PRIu64 " pools in use; %" PRIu64
               " blocks, %s in allocated blocks\n",
               who, pydbg_snapshot_pymalloc_value(s, i, PYDBG_PYMALLOC_ARENAS), a,
               pydbg_snapshot_pymalloc_value(s, i, PYDBG_PYMALLOC_POOLS),
               pydbg_snapshot_pymalloc_value(s, i, PYDBG_PYMALLOC_BLOCKS), b);
    }
    if (!(contents & PYDBG_SNAPSHOT_HAS_PYMALLOC) && *pydbg_snapshot_pymalloc_note(s))
        printf("  pymalloc: %s\n", pydbg_snapshot_pymalloc_note(s));
    human(a, sizeof a, (double)file_size);
    printf("  written:  %s (%s)\n", path, a);
}

static void print_snapshot_json(const pydbg_snapshot *s, const char *path)
{
    json_writer w;
    totals t;
    uint32_t contents = pydbg_snapshot_contents(s);
    sum(s, &t);
    json_init(&w, stdout, 0);
    json_begin_object(&w);
    json_key(&w, "pid");
    json_int(&w, pydbg_snapshot_pid(s));
    json_key(&w, "python_version");
    json_string(&w, pydbg_snapshot_python_version(s));
    json_key(&w, "executable");
    json_string(&w, pydbg_snapshot_executable(s));
    json_key(&w, "time_ns");
    json_int(&w, pydbg_snapshot_time_ns(s));
    json_key(&w, "paused");
    json_bool(&w, (contents & PYDBG_SNAPSHOT_WAS_PAUSED) != 0);
    json_key(&w, "file");
    json_string(&w, path);
    json_key(&w, "mappings");
    json_uint(&w, pydbg_snapshot_mapping_count(s));
    json_key(&w, "rss");
    json_uint(&w, t.rss);
    json_key(&w, "census");
    json_bool(&w, (contents & PYDBG_SNAPSHOT_HAS_CENSUS) != 0);
    json_key(&w, "census_note");
    json_string(&w, pydbg_snapshot_census_note(s));
    if (contents & PYDBG_SNAPSHOT_HAS_CENSUS) {
        json_key(&w, "census_ns");
        json_int(&w, pydbg_snapshot_census_ns(s));
        json_key(&w, "types");
        json_uint(&w, pydbg_snapshot_type_count(s));
        json_key(&w, "tracked_objects");
        json_uint(&w, t.tracked_count);
        json_key(&w, "tracked_bytes");
        json_uint(&w, t.tracked_bytes);
        json_key(&w, "reached_objects");
        json_uint(&w, t.reached_count);
        json_key(&w, "reached_bytes");
        json_uint(&w, t.reached_bytes);
    }
    json_key(&w, "pymalloc");
    json_bool(&w, (contents & PYDBG_SNAPSHOT_HAS_PYMALLOC) != 0);
    json_key(&w, "pymalloc_note");
    json_string(&w, pydbg_snapshot_pymalloc_note(s));
    if (contents & PYDBG_SNAPSHOT_HAS_PYMALLOC) {
        static const struct {
            const char *key;
            pydbg_pymalloc_field field;
        } fields[] = {{"arenas", PYDBG_PYMALLOC_ARENAS},
                      {"arena_bytes", PYDBG_PYMALLOC_ARENA_BYTES},
                      {"pools", PYDBG_PYMALLOC_POOLS},
                      {"free_pools", PYDBG_PYMALLOC_FREE_POOLS},
                      {"blocks", PYDBG_PYMALLOC_BLOCKS},
                      {"block_bytes", PYDBG_PYMALLOC_BLOCK_BYTES},
                      {"arena_size", PYDBG_PYMALLOC_ARENA_SIZE},
                      {"pool_size", PYDBG_PYMALLOC_POOL_SIZE}};
        json_key(&w, "pymalloc_allocators");
        json_begin_array(&w);
        for (size_t i = 0; i < pydbg_snapshot_pymalloc_count(s); i++) {
            uint64_t id = pydbg_snapshot_pymalloc_value(s, i, PYDBG_PYMALLOC_INTERPRETER_ID);
            json_begin_object(&w);
            json_key(&w, "interpreter_id");
            json_int(&w, id == UINT64_MAX ? -1 : (int64_t)id);
            for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
                json_key(&w, fields[f].key);
                json_uint(&w, pydbg_snapshot_pymalloc_value(s, i, fields[f].field));
            }
            json_end_object(&w);
        }
        json_end_array(&w);
    }
    json_end_object(&w);
    json_finish(&w);
}

static int parse_format(const char *cmd, const char *arg, int *json)
{
    if (strcmp(arg, "json") == 0)
        *json = 1;
    else if (strcmp(arg, "text") == 0)
        *json = 0;
    else
        return cli_error(CLI_EXIT_ERROR, "%s: unknown format '%s' (text or json)", cmd, arg);
    return CLI_EXIT_OK;
}

int pydbg_cli_snapshot(int argc, char **argv)
{
    static const struct option options[] = {
        {"pid", required_argument, NULL, 'p'},   {"output", required_argument, NULL, 'o'},
        {"paused", no_argument, NULL, 'P'},      {"live", no_argument, NULL, 'L'},
        {"no-census", no_argument, NULL, 'C'},   {"no-referents", no_argument, NULL, 'R'},
        {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    pydbg_snapshot_options sopts = PYDBG_SNAPSHOT_OPTIONS_INIT;
    pydbg_process *process = NULL;
    pydbg_snapshot *snap = NULL;
    const char *output = NULL;
    struct stat st;
    int pid = 0, json = 0, opt, rc;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "p:o:f:h", options, NULL)) != -1) {
        switch (opt) {
        case 'p':
            pid = cli_parse_pid(optarg);
            if (!pid)
                return cli_error(CLI_EXIT_ERROR, "snapshot: --pid needs a process ID, not '%s'",
                                 optarg);
            break;
        case 'o': output = optarg; break;
        case 'P': sopts.flags |= PYDBG_SNAPSHOT_PAUSE; break;
        case 'L': sopts.flags &= ~(uint32_t)PYDBG_SNAPSHOT_PAUSE; break;
        case 'C': sopts.flags |= PYDBG_SNAPSHOT_NO_CENSUS; break;
        case 'R': sopts.flags |= PYDBG_SNAPSHOT_NO_REFERENTS; break;
        case 'f':
            if (parse_format("snapshot", optarg, &json) != CLI_EXIT_OK)
                return CLI_EXIT_ERROR;
            break;
        case 'h': fputs(snapshot_usage, stdout); return CLI_EXIT_OK;
        default:
            return cli_unknown_option("snapshot", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_error(CLI_EXIT_ERROR, "snapshot: unexpected argument '%s'", argv[optind]);
    if (!pid)
        return cli_error(CLI_EXIT_ERROR, "snapshot: --pid PID is required");
    if (!output || !*output)
        return cli_error(CLI_EXIT_ERROR, "snapshot: -o FILE is required");

    rc = pydbg_process_attach(&process, pid, NULL);
    if (rc != PYDBG_OK)
        return cli_error(cli_exit_status(rc), "%s", pydbg_last_error());
    rc = pydbg_snapshot_take(&snap, process, &sopts);
    if (rc != PYDBG_OK) {
        int status = cli_error(cli_exit_status(rc == PYDBG_EEXITED ? PYDBG_ENOPROC : rc),
                               "cannot take a snapshot of process %d: %s", pid,
                               pydbg_process_errmsg(process));
        pydbg_process_close(process);
        return status;
    }
    pydbg_process_close(process);
    rc = pydbg_snapshot_save(snap, output);
    if (rc != PYDBG_OK) {
        int status = cli_error(CLI_EXIT_ERROR, "cannot write the snapshot: %s",
                               pydbg_last_error());
        pydbg_snapshot_free(snap);
        return status;
    }
    if (json)
        print_snapshot_json(snap, output);
    else
        print_snapshot_text(snap, output, stat(output, &st) == 0 ? (long)st.st_size : 0);
    pydbg_snapshot_free(snap);
    if (fflush(stdout) != 0)
        return cli_error(CLI_EXIT_ERROR, "cannot write the output");
    return CLI_EXIT_OK;
}

static void print_diff_text(const pydbg_diff *d, const pydbg_snapshot *a, const pydbg_snapshot *b,
                            const char *by, size_t top, int all)
{
    char ta[32], tb[32], size[32], delta[32];
    size_t shown = 0, hidden = 0;
    format_time(ta, sizeof ta, pydbg_snapshot_time_ns(a));
    format_time(tb, sizeof tb, pydbg_snapshot_time_ns(b));
    printf("diff by %s: pid %d at %s -> pid %d at %s\n", by, pydbg_snapshot_pid(a), ta,
           pydbg_snapshot_pid(b), tb);
    printf("%14s %12s %12s %12s  %s\n", "size delta", "count delta", "size", "count",
           strcmp(by, "type") == 0 ? "type" : strcmp(by, "arena") == 0 ? "pymalloc" : "mapping");
    for (size_t i = 0; i < pydbg_diff_count(d); i++) {
        int64_t cd = pydbg_diff_value(d, i, PYDBG_DIFF_COUNT_DELTA);
        int64_t sd = pydbg_diff_value(d, i, PYDBG_DIFF_SIZE_DELTA);
        if (!all && cd == 0 && sd == 0)
            continue;
        if (top && shown >= top) {
            hidden++;
            continue;
        }
        human(delta, sizeof delta, (double)sd);
        human(size, sizeof size, (double)pydbg_diff_value(d, i, PYDBG_DIFF_SIZE));
        printf("%14s %+12" PRId64 " %12s %12" PRId64 "  %s\n", delta, cd, size,
               pydbg_diff_value(d, i, PYDBG_DIFF_COUNT), pydbg_diff_key(d, i));
        shown++;
    }
    if (hidden)
        printf("(%zu more changed entries; --top 0 shows all)\n", hidden);
}

static void print_diff_json(const pydbg_diff *d, const char *by, size_t top, int all)
{
    json_writer w;
    size_t shown = 0;
    json_init(&w, stdout, 0);
    json_begin_object(&w);
    json_key(&w, "by");
    json_string(&w, by);
    json_key(&w, "entries");
    json_begin_array(&w);
    for (size_t i = 0; i < pydbg_diff_count(d) && (!top || shown < top); i++) {
        int64_t cd = pydbg_diff_value(d, i, PYDBG_DIFF_COUNT_DELTA);
        int64_t sd = pydbg_diff_value(d, i, PYDBG_DIFF_SIZE_DELTA);
        if (!all && cd == 0 && sd == 0)
            continue;
        json_begin_object(&w);
        json_key(&w, "key");
        json_string(&w, pydbg_diff_key(d, i));
        json_key(&w, "count_delta");
        json_int(&w, cd);
        json_key(&w, "size_delta");
        json_int(&w, sd);
        json_key(&w, "count");
        json_int(&w, pydbg_diff_value(d, i, PYDBG_DIFF_COUNT));
        json_key(&w, "size");
        json_int(&w, pydbg_diff_value(d, i, PYDBG_DIFF_SIZE));
        json_end_object(&w);
        shown++;
    }
    json_end_array(&w);
    json_end_object(&w);
    json_finish(&w);
}

int pydbg_cli_diff(int argc, char **argv)
{
    static const struct option options[] = {
        {"by", required_argument, NULL, 'b'},     {"top", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'}, {"tracked-only", no_argument, NULL, 'T'},
        {"all", no_argument, NULL, 'a'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    pydbg_diff_options dopts = PYDBG_DIFF_OPTIONS_INIT;
    pydbg_snapshot *snaps[2] = {NULL, NULL};
    pydbg_diff *diff = NULL;
    const char *paths[2] = {NULL, NULL}, *by_name;
    size_t top = 20, npaths = 0;
    int json = 0, all = 0, opt, rc, status = CLI_EXIT_OK;
    optind = 1;
    opterr = 0;
    /* Options may follow the two files ("pydebug diff OLD NEW --by type"). */
    while (optind < argc) {
        opt = getopt_long(argc, argv, "-b:t:f:h", options, NULL);
        if (opt == -1)
            break;
        switch (opt) {
        case 1:
            if (npaths >= 2)
                return cli_error(CLI_EXIT_ERROR, "diff: unexpected argument '%s'", optarg);
            paths[npaths++] = optarg;
            break;
        case 'b':
            if (strcmp(optarg, "type") == 0)
                dopts.by = PYDBG_DIFF_BY_TYPE;
            else if (strcmp(optarg, "mapping") == 0)
                dopts.by = PYDBG_DIFF_BY_MAPPING;
            else if (strcmp(optarg, "arena") == 0)
                dopts.by = PYDBG_DIFF_BY_ARENA;
            else
                return cli_error(CLI_EXIT_ERROR,
                                 "diff: --by takes type, mapping or arena, not '%s'", optarg);
            break;
        case 't': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-' || n > 100000000ul)
                return cli_error(CLI_EXIT_ERROR, "diff: --top needs a number (0 for all)");
            top = (size_t)n;
            break;
        }
        case 'f':
            if (parse_format("diff", optarg, &json) != CLI_EXIT_OK)
                return CLI_EXIT_ERROR;
            break;
        case 'T': dopts.flags |= PYDBG_DIFF_TRACKED_ONLY; break;
        case 'a': all = 1; break;
        case 'h': fputs(diff_usage, stdout); return CLI_EXIT_OK;
        default:
            return cli_unknown_option("diff", argv[optind - 1]);
        }
    }
    if (npaths != 2)
        return cli_error(CLI_EXIT_ERROR, "diff: two snapshot files are needed: OLD NEW");
    for (int i = 0; i < 2; i++) {
        rc = pydbg_snapshot_load(&snaps[i], paths[i]);
        if (rc != PYDBG_OK) {
            status = cli_error(CLI_EXIT_ERROR, "cannot load the snapshot: %s",
                               pydbg_last_error());
            goto done;
        }
    }
    rc = pydbg_diff_compute(&diff, snaps[0], snaps[1], &dopts);
    if (rc != PYDBG_OK) {
        status = cli_error(CLI_EXIT_ERROR, "cannot diff %s and %s: %s", paths[0], paths[1],
                           pydbg_last_error());
        goto done;
    }
    by_name = dopts.by == PYDBG_DIFF_BY_TYPE    ? "type"
              : dopts.by == PYDBG_DIFF_BY_ARENA ? "arena"
                                                : "mapping";
    if (json)
        print_diff_json(diff, by_name, top, all);
    else
        print_diff_text(diff, snaps[0], snaps[1],
                        by_name, top, all);
    if (fflush(stdout) != 0)
        status = cli_error(CLI_EXIT_ERROR, "cannot write the output");
done:
    pydbg_diff_free(diff);
    pydbg_snapshot_free(snaps[0]);
    pydbg_snapshot_free(snaps[1]);
    return status;
}
