/* sample_profile: a minimal sampling profiler on the public API.
 *
 * Samples every thread of a running Python process at a fixed rate for a few
 * seconds, then prints the functions that were on top of the stack most often.
 *
 *   usage: sample_profile PID [SECONDS [RATE_HZ]]
 *
 * What it shows: a sampler is created once and reused (code objects are decoded once,
 * then named by a code key); a sample is borrowed until the next one; torn stacks are
 * dropped by the library and only counted. A real profiler would also pace samples more
 * carefully (see cli/sampling.c and docs/sampling.md). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <pydebug.h>
#include <pydebug/sample.h>

#define MAX_FUNCTIONS 4096

typedef struct counter {
    uint64_t code_key;
    unsigned long count;
} counter;

static counter counters[MAX_FUNCTIONS];
static size_t counter_count;

static void count(uint64_t code_key)
{
    for (size_t i = 0; i < counter_count; i++)
        if (counters[i].code_key == code_key) {
            counters[i].count++;
            return;
        }
    if (counter_count < MAX_FUNCTIONS)
        counters[counter_count++] = (counter){code_key, 1};
}

static int by_count(const void *a, const void *b)
{
    const counter *x = a, *y = b;
    return (x->count < y->count) - (x->count > y->count);
}

int main(int argc, char **argv)
{
    pydbg_process *process;
    pydbg_sampler *sampler;
    unsigned long stacks = 0;
    double seconds = argc > 2 ? atof(argv[2]) : 2.0, rate = argc > 3 ? atof(argv[3]) : 1000.0;
    if (argc < 2 || seconds <= 0 || rate <= 0) {
        fprintf(stderr, "usage: sample_profile PID [SECONDS [RATE_HZ]]\n");
        return 2;
    }
    if (pydbg_process_attach(&process, atoi(argv[1]), NULL) != PYDBG_OK) {
        fprintf(stderr, "sample_profile: %s\n", pydbg_last_error());
        return 1;
    }
    if (pydbg_sampler_new(&sampler, process, NULL) != PYDBG_OK) {
        fprintf(stderr, "sample_profile: %s\n", pydbg_last_error());
        pydbg_process_close(process);
        return 1;
    }

    long period_ns = (long)(1e9 / rate);
    long total = (long)(seconds * rate);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (long n = 0; n < total; n++) {
        const pydbg_sample *sample;
        int rc = pydbg_sampler_sample(sampler, &sample);
        if (rc == PYDBG_EEXITED)
            break;
        if (rc == PYDBG_OK) {
            for (size_t t = 0; t < pydbg_sample_thread_count(sample); t++) {
                /* A torn stack has no frames and an error: it is skipped. */
                if (pydbg_sample_thread_error(sample, t) != PYDBG_OK ||
                    pydbg_sample_frame_count(sample, t) == 0)
                    continue;
                count(pydbg_sample_frame_code(sample, t, 0)); /* the innermost frame */
                stacks++;
            }
        }
        /* Absolute deadlines: the time a sample takes does not add up into drift. */
        next.tv_nsec += period_ns;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }

    printf("%llu samples, %llu torn thread stacks of %llu\n",
           (unsigned long long)pydbg_sampler_sample_count(sampler),
           (unsigned long long)pydbg_sampler_torn_count(sampler),
           (unsigned long long)pydbg_sampler_thread_sample_count(sampler));
    qsort(counters, counter_count, sizeof counters[0], by_count);
    for (size_t i = 0; i < counter_count && i < 15; i++) {
        const char *function, *qualname, *filename;
        int first_line;
        if (pydbg_sampler_code_info(sampler, counters[i].code_key, &function, &qualname,
                                    &filename, &first_line) != PYDBG_OK)
            continue;
        printf("%6.2f%%  %s (%s:%d)\n", 100.0 * (double)counters[i].count / (double)stacks,
               qualname ? qualname : function, filename, first_line);
    }
    pydbg_sampler_free(sampler);
    pydbg_process_close(process);
    return 0;
}
