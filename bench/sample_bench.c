/* sample_bench: what one warm sample of a running process costs, next to the floor.
 *
 * Attached to a process (started by bench/run-sampling, which sets up the scenario),
 * it measures in one run:
 *   - the floor: one process_vm_readv of 16 KiB of the target's memory (a warm,
 *     resident part of its heap), the least any reader of a thread's stack pays;
 *   - one warm sample of every thread with pydbg_sampler_sample() (the code cache,
 *     thread list and predictions already warm, as in a long recording);
 *   - the memory-reading system calls per warm sample (pydbg_sampler_read_calls()).
 * Each is timed in batches; the median batch is reported (the machine may be shared,
 * the median shrugs off a descheduled batch). Output: one line of key=value pairs.
 *
 *   usage: sample_bench --pid PID [--batch N] [--batches B] [--warmup W]
 *
 * A benchmark, not a test: numbers depend on the machine and its load. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include <pydebug.h>
#include <pydebug/sample.h>

#define FLOOR_BYTES 16384
#define MAX_BATCHES 1000

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int n)
{
    qsort(values, (size_t)n, sizeof *values, compare_double);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* A resident, readable 16 KiB of the target: the start of its heap, or else of its first
 * private writable mapping that is big enough. */
static int floor_address(int pid, uint64_t *out)
{
    char path[64], line[512];
    uint64_t fallback = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3 || hi - lo < FLOOR_BYTES ||
            perms[0] != 'r' || perms[1] != 'w')
            continue;
        if (strstr(line, "[heap]")) {
            *out = lo;
            fclose(f);
            return 0;
        }
        if (!fallback)
            fallback = lo;
    }
    fclose(f);
    *out = fallback;
    return fallback ? 0 : -1;
}

int main(int argc, char **argv)
{
    int pid = 0, batch = 200, batches = 41, warmup = 300;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pid") == 0 && i + 1 < argc)
            pid = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc)
            batches = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
            warmup = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: sample_bench --pid PID [--batch N] [--batches B] "
                            "[--warmup W]\n");
            return 2;
        }
    }
    if (pid <= 0 || batch <= 0 || batches <= 0 || batches > MAX_BATCHES || warmup < 0) {
        fprintf(stderr, "sample_bench: --pid is required; batch sizes must be positive\n");
        return 2;
    }

    static double times[MAX_BATCHES];
    static _Alignas(4096) char buffer[FLOOR_BYTES];
    uint64_t address;
    if (floor_address(pid, &address) != 0) {
        fprintf(stderr, "sample_bench: no 16 KiB readable mapping in process %d\n", pid);
        return 1;
    }
    struct iovec local = {buffer, FLOOR_BYTES}, remote = {(void *)(uintptr_t)address, FLOOR_BYTES};
    for (int i = 0; i < warmup; i++)
        if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != FLOOR_BYTES) {
            fprintf(stderr, "sample_bench: process_vm_readv: %s\n", strerror(errno));
            return 1;
        }

    pydbg_process *process = NULL;
    pydbg_sampler *sampler = NULL;
    const pydbg_sample *sample = NULL;
    int rc = pydbg_process_attach(&process, pid, NULL);
    if (rc != PYDBG_OK) {
        fprintf(stderr, "sample_bench: attach: %s\n", pydbg_last_error());
        return 1;
    }
    rc = pydbg_sampler_new(&sampler, process, NULL);
    if (rc != PYDBG_OK) {
        fprintf(stderr, "sample_bench: sampler: %s\n", pydbg_last_error());
        pydbg_process_close(process);
        return 1;
    }
    for (int i = 0; i < warmup; i++)
        if (pydbg_sampler_sample(sampler, &sample) != PYDBG_OK) {
            fprintf(stderr, "sample_bench: sample: %s\n", pydbg_sampler_errmsg(sampler));
            return 1;
        }
    size_t threads = pydbg_sample_thread_count(sample), frames = 0;
    for (size_t t = 0; t < threads; t++)
        frames += pydbg_sample_frame_count(sample, t);

    /* Interleaved, so that both see the same machine load. */
    static double floor_times[MAX_BATCHES];
    uint64_t calls0 = pydbg_sampler_read_calls(sampler);
    uint64_t torn0 = pydbg_sampler_torn_count(sampler);
    for (int b = 0; b < batches; b++) {
        double t0 = now_ns();
        for (int i = 0; i < batch; i++)
            if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != FLOOR_BYTES)
                return 1;
        floor_times[b] = (now_ns() - t0) / batch;
        t0 = now_ns();
        for (int i = 0; i < batch; i++)
            if (pydbg_sampler_sample(sampler, &sample) != PYDBG_OK)
                return 1;
        times[b] = (now_ns() - t0) / batch;
    }
    uint64_t calls = pydbg_sampler_read_calls(sampler) - calls0;
    uint64_t torn = pydbg_sampler_torn_count(sampler) - torn0;
    double floor_ns = median(floor_times, batches), sample_ns = median(times, batches);
    printf("python=%s threads=%zu frames=%zu floor_ns=%.0f sample_ns=%.0f ratio=%.2f "
           "reads_per_sample=%.2f torn=%llu samples=%d\n",
           pydbg_process_python_version(process), threads, frames, floor_ns, sample_ns,
           sample_ns / floor_ns, (double)calls / ((double)batch * batches),
           (unsigned long long)torn, batch * batches);
    pydbg_sampler_free(sampler);
    pydbg_process_close(process);
    return 0;
}
