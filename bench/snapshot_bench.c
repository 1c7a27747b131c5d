/* snapshot_bench: heap census time of a paused snapshot, side by side with
 * the target's own in-process census, measured in the same run.
 *
 *   snapshot_bench [PYTHON] [OBJECTS] [RUNS]
 *
 * Starts PYTHON (default /root/.pyenv/versions/3.11.7/bin/python) holding
 * OBJECTS (default 1000000) GC-tracked objects: instances of a small class
 * with two attributes, each in the GC lists. The target then times its own
 * census, RUNS times: gc.get_objects() and, per type, the count (a) and the
 * count plus sys.getsizeof() of each object (b), which is what a snapshot
 * records for tracked objects. Between its runs this program takes paused
 * snapshots, RUNS of each kind: tracked objects only, and with the untracked
 * objects reached from them. Medians are printed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pydebug.h"

static const char target_script[] =
    "import gc, sys, time\n"
    "gc.disable()\n"
    "n, runs = int(sys.argv[1]), int(sys.argv[2])\n"
    "class Node(object):\n"
    "    def __init__(self, i):\n"
    "        self.i = i\n"
    "        self.name = 'n'\n"
    "keep = [Node(i) for i in range(n)]\n"
    "def counts():\n"
    "    c = {}\n"
    "    for o in gc.get_objects():\n"
    "        t = type(o)\n"
    "        c[t] = c.get(t, 0) + 1\n"
    "    return c\n"
    "def sizes():\n"
    "    c = {}\n"
    "    getsizeof = sys.getsizeof\n"
    "    for o in gc.get_objects():\n"
    "        t = type(o)\n"
    "        e = c.get(t)\n"
    "        if e is None:\n"
    "            e = c[t] = [0, 0]\n"
    "        e[0] += 1\n"
    "        e[1] += getsizeof(o)\n"
    "    return c\n"
    "print('ready %d' % len(gc.get_objects()), flush=True)\n"
    "for r in range(runs):\n"
    "    sys.stdin.readline()\n"
    "    t0 = time.perf_counter(); counts(); t1 = time.perf_counter(); sizes(); "
    "t2 = time.perf_counter()\n"
    "    print('census %.6f %.6f' % (t1 - t0, t2 - t1), flush=True)\n";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_RUNS 50

int main(int argc, char **argv)
{
    const char *python = argc > 1 ? argv[1] : "/root/.pyenv/versions/3.11.7/bin/python";
    long objects = argc > 2 ? atol(argv[2]) : 1000000;
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    double in_counts[MAX_RUNS], in_sizes[MAX_RUNS], tracked[MAX_RUNS], tracked_wall[MAX_RUNS],
        full[MAX_RUNS], full_wall[MAX_RUNS];
    int to_child[2], from_child[2];
    char line[256], n_text[32], runs_text[16];
    long listed = 0;
    uint64_t found = 0;
    pid_t pid;
    FILE *in, *out;
    pydbg_process *process = NULL;
    if (runs < 1 || runs > MAX_RUNS || objects < 1)
        return fprintf(stderr, "usage: snapshot_bench [PYTHON] [OBJECTS] [RUNS<=50]\n"), 2;
    if (pipe(to_child) || pipe(from_child))
        return perror("pipe"), 1;
    snprintf(n_text, sizeof n_text, "%ld", objects);
    snprintf(runs_text, sizeof runs_text, "%d", runs);
    pid = fork();
    if (pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        execl(python, python, "-c", target_script, n_text, runs_text, (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    in = fdopen(from_child[0], "r");
    out = fdopen(to_child[1], "w");
    if (!fgets(line, sizeof line, in) || sscanf(line, "ready %ld", &listed) != 1) {
        fprintf(stderr, "snapshot_bench: the target did not start (%s)\n", python);
        return 1;
    }
    if (pydbg_process_attach(&process, pid, NULL) != PYDBG_OK) {
        fprintf(stderr, "snapshot_bench: %s\n", pydbg_last_error());
        kill(pid, SIGKILL);
        return 1;
    }
    for (int r = 0; r < runs; r++) {
        pydbg_snapshot_options options = PYDBG_SNAPSHOT_OPTIONS_INIT;
        pydbg_snapshot *s = NULL;
        double t0;
        for (int kind = 0; kind < 2; kind++) {
            options.flags = PYDBG_SNAPSHOT_PAUSE | (kind == 0 ? PYDBG_SNAPSHOT_NO_REFERENTS : 0);
            t0 = now();
            if (pydbg_snapshot_take(&s, process, &options) != PYDBG_OK) {
                fprintf(stderr, "snapshot_bench: %s\n", pydbg_process_errmsg(process));
                kill(pid, SIGKILL);
                return 1;
            }
            (kind == 0 ? tracked_wall : full_wall)[r] = now() - t0;
            (kind == 0 ? tracked : full)[r] = (double)pydbg_snapshot_census_ns(s) / 1e9;
            found = 0;
            for (size_t i = 0; i < pydbg_snapshot_type_count(s); i++)
                found += pydbg_snapshot_type_value(s, i, PYDBG_TYPE_TRACKED_COUNT);
            pydbg_snapshot_free(s);
        }
        fputs("\n", out);
        fflush(out);
        if (!fgets(line, sizeof line, in) ||
            sscanf(line, "census %lf %lf", &in_counts[r], &in_sizes[r]) != 2) {
            fprintf(stderr, "snapshot_bench: the target's census failed\n");
            kill(pid, SIGKILL);
            return 1;
        }
    }
    pydbg_process_close(process);
    fclose(out);
    waitpid(pid, NULL, 0);
    printf("target: %s, %ld objects on the GC lists (gc.get_objects()), snapshot found %llu; "
           "median of %d runs\n",
           python, listed, (unsigned long long)found, runs);
    printf("  in-process, gc.get_objects() + count by type:               %8.1f ms\n",
           median(in_counts, runs) * 1e3);
    printf("  in-process, gc.get_objects() + count and getsizeof by type: %8.1f ms\n",
           median(in_sizes, runs) * 1e3);
    printf("  snapshot census, tracked objects (paused):                  %8.1f ms"
           "  (whole snapshot incl. pause and smaps: %.1f ms)\n",
           median(tracked, runs) * 1e3, median(tracked_wall, runs) * 1e3);
    printf("  snapshot census, tracked + untracked reached (paused):      %8.1f ms"
           "  (whole snapshot: %.1f ms)\n",
           median(full, runs) * 1e3, median(full_wall, runs) * 1e3);
    return 0;
}
