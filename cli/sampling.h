/* What `pydebug record` and `pydebug top` share: attaching a sampler, pacing samples
 * at a fixed rate, stopping on signals, and naming threads. */
#ifndef PYDEBUG_CLI_SAMPLING_H
#define PYDEBUG_CLI_SAMPLING_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pydebug.h"
#include "pydebug/sample.h"

/* Highest --rate accepted: above this the period is shorter than one sample. */
#define CLI_MAX_RATE_HZ 1000000.0
/* Below this remaining wait the pacer spins on clock_gettime instead of sleeping: a
 * sleep's wake-up latency (tens of microseconds) would overshoot the deadline. */
#define CLI_SPIN_BELOW_NS 50000

/* Set by SIGINT, SIGTERM and SIGHUP once cli_catch_stop_signals() ran; holds the signal. */
extern volatile sig_atomic_t cli_stop_signal;

/* Installs handlers that only set cli_stop_signal (no SA_RESTART, so sleeps wake up). */
void cli_catch_stop_signals(void);

/* Monotonic time in seconds. */
double cli_now(void);

/* Paces samples on absolute deadlines so that the time a sample takes does not
 * accumulate into drift. */
typedef struct cli_pacer {
    struct timespec next; /* the next deadline (CLOCK_MONOTONIC) */
    int64_t period_ns;
    uint64_t skipped; /* deadlines given up because a sample overran by > 1 period */
} cli_pacer;

/* Starts pacing at rate_hz; from 1 kHz on it also lowers this thread's timer slack to
 * 1 ns (prctl PR_SET_TIMERSLACK), since the default 50 us would stretch every sleep. */
void cli_pacer_start(cli_pacer *pacer, double rate_hz);

/* Waits until the next deadline: clock_nanosleep(TIMER_ABSTIME) while at least
 * CLI_SPIN_BELOW_NS remain, spinning on clock_gettime for the rest. Returns 0, or -1 as
 * soon as cli_stop_signal is set. */
int cli_pacer_wait(cli_pacer *pacer);

/* Parses a rate (Hz, 1 to CLI_MAX_RATE_HZ) or a duration (seconds, > 0); 0 or -1. */
int cli_parse_rate(const char *text, double *out);
int cli_parse_seconds(const char *text, double *out);

/* The options `pydebug record` and `pydebug top` share: --pid, --rate, --duration,
 * --gil, --running and --max-depth. Stores the value of option `opt` and returns 1,
 * returns 0 for another option, or prints the error line (prefixed with `command`)
 * and returns -1. */
int cli_sampling_option(const char *command, int opt, const char *value, int *pid,
                        double *rate, double *duration, pydbg_sampler_options *sampler);

/* Attaches to pid and creates a sampler. Returns CLI_EXIT_OK, or prints the error
 * line (prefixed with `command`) and returns the contract's exit status. */
int cli_open_sampler(const char *command, int pid, const pydbg_sampler_options *options,
                     pydbg_process **process, pydbg_sampler **sampler);

/* The threading.Thread names of the target's threads, looked up with a (shallow)
 * pydbg_stacks_capture() when a thread the table does not know is seen; at most once
 * per second, so that a target creating threads all the time is not walked all the
 * time. */
typedef struct cli_thread_names {
    struct cli_thread_name {
        uint64_t ident;
        char *name; /* NULL: the thread has no name */
    } *entries;
    size_t count, capacity;
    double last_lookup;
    int unknown_seen; /* a thread not in the table was seen since the last lookup */
} cli_thread_names;

/* Notes that `ident` was sampled; a lookup happens on the next cli_thread_names_update(). */
void cli_thread_names_saw(cli_thread_names *names, uint64_t ident);
/* Looks names up if an unknown thread was seen (or `force`) and the last lookup was at
 * least a second ago (or `force`). */
void cli_thread_names_update(cli_thread_names *names, pydbg_process *process, int force);
/* The name of `ident`, NULL if it has none or is unknown. */
const char *cli_thread_names_get(const cli_thread_names *names, uint64_t ident);
void cli_thread_names_free(cli_thread_names *names);

/* The label of a code key: "qualname (file:line)" style pieces, borrowed from the
 * sampler (valid until it is freed); never NULL. */
void cli_code_names(const pydbg_sampler *sampler, uint64_t code_key, const char **function,
                    const char **filename);

/* A hash map from a pair of 64-bit keys to a 32-bit value (open addressing); the
 * aggregation tables of record and top. */
typedef struct cli_map {
    struct cli_map_slot {
        uint64_t a, b;
        uint32_t value, used;
    } *slots;
    size_t capacity, count; /* capacity is 0 or a power of two */
} cli_map;

/* 1 and *value if (a, b) is in the map, else 0. */
int cli_map_get(const cli_map *map, uint64_t a, uint64_t b, uint32_t *value);
/* Inserts or replaces; 0, or -1 when out of memory. */
int cli_map_put(cli_map *map, uint64_t a, uint64_t b, uint32_t value);
void cli_map_free(cli_map *map);

#endif
