/* walk_bench: how long one full walk of a process takes.
 *
 * Starts a Python target with T threads, each blocked at recursion depth D,
 * attaches with libpydebug and times N full captures (every thread, every
 * frame, names included) in the non-blocking mode and in the paused mode.
 * Prints the median and the spread (10th and 90th percentiles), and the cost
 * per frame. A benchmark, not a test: numbers depend on the machine.
 *
 *   usage: walk_bench [--python PATH] [--threads T] [--depth D] [--walks N]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pydebug.h>

static const char target_script[] =
    "import sys, threading, time\n"
    "T, D = int(sys.argv[1]), int(sys.argv[2])\n"
    "sys.setrecursionlimit(D + 1000)\n"
    "ready = threading.Semaphore(0)\n"
    "def deep(n):\n"
    "    if n <= 0:\n"
    "        ready.release()\n"
    "        while True: time.sleep(3600)\n"
    "    deep(n - 1)\n"
    "for i in range(T - 1):\n"
    "    th = threading.Thread(target=deep, args=(D,)); th.daemon = True; th.start()\n"
    "def main():\n"
    "    for i in range(T - 1): ready.acquire()\n"
    "    sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
    "    deep(D)\n"
    "main()\n";

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static pid_t start_target(const char *python, int threads, int depth)
{
    int fds[2];
    char t[16], d[16], line[16] = {0};
    pid_t pid;
    if (pipe(fds) != 0)
        return -1;
    snprintf(t, sizeof t, "%d", threads);
    snprintf(d, sizeof d, "%d", depth);
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execl(python, python, "-c", target_script, t, d, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], line, sizeof line - 1) <= 0 || strncmp(line, "ready", 5) != 0) {
        close(fds[0]);
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        return -1;
    }
    close(fds[0]);
    usleep(200000); /* let the main thread reach its blocking call */
    return pid;
}

static int run(pydbg_process *process, int walks, uint32_t flags, size_t *frames_out,
               double *samples)
{
    pydbg_capture_options options = PYDBG_CAPTURE_OPTIONS_INIT;
    options.flags = flags;
    for (int i = 0; i < walks; i++) {
        pydbg_stacks *stacks;
        double start = now_us();
        int rc = pydbg_stacks_capture(&stacks, process, &options);
        samples[i] = now_us() - start;
        if (rc != PYDBG_OK) {
            fprintf(stderr, "capture failed: %s\n", pydbg_process_errmsg(process));
            return rc;
        }
        *frames_out = 0;
        for (size_t t = 0; t < pydbg_stacks_thread_count(stacks); t++)
            *frames_out += pydbg_thread_frame_count(pydbg_stacks_thread(stacks, t));
        pydbg_stacks_free(stacks);
    }
    qsort(samples, (size_t)walks, sizeof *samples, compare_double);
    return PYDBG_OK;
}

static void report(const char *mode, int walks, size_t frames, const double *samples)
{
    double median = samples[walks / 2];
    printf("%-12s %7zu %10.1f %10.1f %10.1f %12.3f\n", mode, frames, median,
           samples[walks / 10], samples[walks * 9 / 10], frames ? median / (double)frames : 0);
}

int main(int argc, char **argv)
{
    const char *python = "/usr/bin/python3";
    int threads = 4, depth = 50, walks = 200;
    pydbg_process *process;
    double *samples;
    size_t frames = 0;
    pid_t pid;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--python") == 0)
            python = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--depth") == 0)
            depth = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--walks") == 0)
            walks = atoi(argv[i + 1]);
    }
    if (threads < 1 || depth < 1 || walks < 10) {
        fprintf(stderr, "usage: %s [--python PATH] [--threads T>=1] [--depth D>=1] [--walks N>=10]\n",
                argv[0]);
        return 2;
    }
    samples = calloc((size_t)walks, sizeof *samples);
    pid = start_target(python, threads, depth);
    if (!samples || pid < 0) {
        fprintf(stderr, "cannot start the target %s\n", python);
        return 1;
    }
    if (pydbg_process_attach(&process, pid, NULL) != PYDBG_OK) {
        fprintf(stderr, "attach: %s\n", pydbg_last_error());
        kill(pid, SIGKILL);
        return 1;
    }
    printf("python %s, %d threads x depth %d, %d walks each\n",
           pydbg_process_python_version(process), threads, depth, walks);
    printf("%-12s %7s %10s %10s %10s %12s\n", "mode", "frames", "median_us", "p10_us", "p90_us",
           "us_per_frame");
    if (run(process, walks, PYDBG_CAPTURE_NO_THREAD_NAMES, &frames, samples) == PYDBG_OK)
        report("nonblocking", walks, frames, samples);
    if (run(process, walks, 0, &frames, samples) == PYDBG_OK)
        report("+names", walks, frames, samples);
    if (run(process, walks, PYDBG_CAPTURE_PAUSE | PYDBG_CAPTURE_NO_THREAD_NAMES, &frames,
            samples) == PYDBG_OK)
        report("paused", walks, frames, samples);
    pydbg_process_close(process);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    free(samples);
    return 0;
}
