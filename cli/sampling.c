#include "sampling.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "commands.h"

volatile sig_atomic_t cli_stop_signal;

static void on_stop_signal(int sig)
{
    cli_stop_signal = sig;
}

void cli_catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a pending sleep must return at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    return ts;
}

void cli_pacer_start(cli_pacer *pacer, double rate_hz)
{
    struct timespec now;
    memset(pacer, 0, sizeof *pacer);
    pacer->period_ns = (int64_t)(1e9 / rate_hz + 0.5);
    if (pacer->period_ns < 1)
        pacer->period_ns = 1;
    /* The default slack (50 us) is a whole period at 20 kHz and half of one at 10 kHz. */
    if (rate_hz >= 1000.0)
        prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    clock_gettime(CLOCK_MONOTONIC, &now);
    pacer->next = now;
}

int cli_pacer_wait(cli_pacer *pacer)
{
    struct timespec now;
    int64_t next = ts_ns(&pacer->next) + pacer->period_ns, now_ns;
    clock_gettime(CLOCK_MONOTONIC, &now);
    now_ns = ts_ns(&now);
    if (now_ns - next > pacer->period_ns) {
        /* More than a period late (a slow sample, a descheduled profiler): start again
         * from now rather than firing a burst of back-to-back samples to catch up. */
        pacer->skipped += (uint64_t)((now_ns - next) / pacer->period_ns);
        next = now_ns;
    }
    pacer->next = ns_ts(next);
    while (!cli_stop_signal) {
        int64_t remaining = next - now_ns;
        if (remaining <= 0)
            return 0;
        if (remaining >= CLI_SPIN_BELOW_NS) {
            /* EINTR (a stop signal) goes round the loop and out; anything else spins. */
            struct timespec until = ns_ts(next);
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        now_ns = ts_ns(&now);
    }
    return -1;
}

int cli_sampling_option(const char *command, int opt, const char *value, int *pid,
                        double *rate, double *duration, pydbg_sampler_options *sampler)
{
    switch (opt) {
    case 'p':
        if (!(*pid = cli_parse_pid(value))) {
            cli_error(CLI_EXIT_ERROR, "%s: --pid needs a process ID, not '%s'", command, value);
            return -1;
        }
        return 1;
    case 'r':
        if (cli_parse_rate(value, rate) != 0) {
            cli_error(CLI_EXIT_ERROR,
                      "%s: --rate needs a number of samples per second from 1 to %.0f, "
                      "not '%s'", command, CLI_MAX_RATE_HZ, value);
            return -1;
        }
        return 1;
    case 'd':
        if (cli_parse_seconds(value, duration) != 0) {
            cli_error(CLI_EXIT_ERROR, "%s: --duration needs a positive number of seconds, "
                      "not '%s'", command, value);
            return -1;
        }
        return 1;
    case 'G':
        sampler->flags |= PYDBG_SAMPLER_GIL_ONLY;
        return 1;
    case 'R':
        sampler->flags |= PYDBG_SAMPLER_RUNNING_ONLY;
        return 1;
    case 'm':
        return cli_parse_max_depth(command, value, &sampler->max_depth) ? 1 : -1;
    default:
        return 0;
    }
}

int cli_parse_rate(const char *text, double *out)
{
    char *end;
    double value;
    errno = 0;
    value = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(value) || value < 1.0 ||
        value > CLI_MAX_RATE_HZ)
        return -1;
    *out = value;
    return 0;
}

int cli_parse_seconds(const char *text, double *out)
{
    char *end;
    double value;
    errno = 0;
    value = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(value) || value <= 0.0 || value > 1e9)
        return -1;
    *out = value;
    return 0;
}

int cli_open_sampler(const char *command, int pid, const pydbg_sampler_options *options,
                     pydbg_process **process, pydbg_sampler **sampler)
{
    int rc = pydbg_process_attach(process, pid, NULL);
    *sampler = NULL;
    if (rc != PYDBG_OK)
        return cli_error(cli_exit_status(rc), "%s: %s", command, pydbg_last_error());
    rc = pydbg_sampler_new(sampler, *process, options);
    if (rc != PYDBG_OK) {
        int status = cli_error(rc == PYDBG_ENOTSUP ? CLI_EXIT_NOT_PYTHON : cli_exit_status(rc),
                               "%s: cannot sample process %d (Python %s): %s", command, pid,
                               pydbg_process_python_version(*process), pydbg_last_error());
        pydbg_process_close(*process);
        *process = NULL;
        return status;
    }
    return CLI_EXIT_OK;
}

/* ---- thread names ------------------------------------------------------------------ */

static struct cli_thread_name *find_name(const cli_thread_names *names, uint64_t ident)
{
    for (size_t i = 0; i < names->count; i++)
        if (names->entries[i].ident == ident)
            return &names->entries[i];
    return NULL;
}

void cli_thread_names_saw(cli_thread_names *names, uint64_t ident)
{
    if (!names->unknown_seen && !find_name(names, ident))
        names->unknown_seen = 1;
}

static void remember(cli_thread_names *names, uint64_t ident, const char *name)
{
    struct cli_thread_name *e = find_name(names, ident);
    if (e) {
        /* An ident can be reused by a new thread: the latest name wins. */
        if (name && (!e->name || strcmp(e->name, name) != 0)) {
            char *copy = strdup(name);
            if (copy) {
                free(e->name);
                e->name = copy;
            }
        }
        return;
    }
    if (names->count == names->capacity) {
        size_t capacity = names->capacity ? names->capacity * 2 : 16;
        struct cli_thread_name *grown = realloc(names->entries, capacity * sizeof *grown);
        if (!grown)
            return;
        names->entries = grown;
        names->capacity = capacity;
    }
    names->entries[names->count].ident = ident;
    names->entries[names->count].name = name ? strdup(name) : NULL;
    names->count++;
}

void cli_thread_names_update(cli_thread_names *names, pydbg_process *process, int force)
{
    pydbg_capture_options options = PYDBG_CAPTURE_OPTIONS_INIT;
    pydbg_stacks *stacks = NULL;
    double now = cli_now();
    if (!force && (!names->unknown_seen || now - names->last_lookup < 1.0))
        return;
    names->last_lookup = now;
    names->unknown_seen = 0;
    options.max_depth = 1; /* the names are wanted, not the stacks */
    if (pydbg_stacks_capture(&stacks, process, &options) != PYDBG_OK)
        return;
    for (size_t i = 0; i < pydbg_stacks_thread_count(stacks); i++) {
        const pydbg_thread *t = pydbg_stacks_thread(stacks, i);
        remember(names, pydbg_thread_ident(t), pydbg_thread_name(t));
    }
    pydbg_stacks_free(stacks);
}

const char *cli_thread_names_get(const cli_thread_names *names, uint64_t ident)
{
    const struct cli_thread_name *e = find_name(names, ident);
    return e ? e->name : NULL;
}

void cli_thread_names_free(cli_thread_names *names)
{
    for (size_t i = 0; i < names->count; i++)
        free(names->entries[i].name);
    free(names->entries);
    memset(names, 0, sizeof *names);
}

void cli_code_names(const pydbg_sampler *sampler, uint64_t code_key, const char **function,
                    const char **filename)
{
    const char *name = NULL, *qualname = NULL, *file = NULL;
    if (pydbg_sampler_code_info(sampler, code_key, &name, &qualname, &file, NULL) != PYDBG_OK)
        name = qualname = file = NULL;
    *function = qualname ? qualname : name ? name : "?";
    *filename = file ? file : "?";
}

/* ---- pair map ---------------------------------------------------------------------- */

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
}

int cli_map_get(const cli_map *map, uint64_t a, uint64_t b, uint32_t *value)
{
    if (map->capacity == 0)
        return 0;
    size_t mask = map->capacity - 1;
    for (size_t i = (size_t)mix(a, b) & mask, n = 0; n < map->capacity; i = (i + 1) & mask, n++) {
        const struct cli_map_slot *s = &map->slots[i];
        if (!s->used)
            return 0;
        if (s->a == a && s->b == b) {
            *value = s->value;
            return 1;
        }
    }
    return 0;
}

static void insert_slot(struct cli_map_slot *slots, size_t capacity, uint64_t a, uint64_t b,
                        uint32_t value, size_t *count)
{
    size_t mask = capacity - 1;
    for (size_t i = (size_t)mix(a, b) & mask;; i = (i + 1) & mask) {
        struct cli_map_slot *s = &slots[i];
        if (!s->used) {
            s->a = a;
            s->b = b;
            s->value = value;
            s->used = 1;
            (*count)++;
            return;
        }
        if (s->a == a && s->b == b) {
            s->value = value;
            return;
        }
    }
}

int cli_map_put(cli_map *map, uint64_t a, uint64_t b, uint32_t value)
{
    /* Kept at most half full, so that a probe always ends at a free slot. */
    if ((map->count + 1) * 2 > map->capacity) {
        size_t capacity = map->capacity ? map->capacity * 2 : 1024, count = 0;
        struct cli_map_slot *slots = calloc(capacity, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < map->capacity; i++)
            if (map->slots[i].used)
                insert_slot(slots, capacity, map->slots[i].a, map->slots[i].b,
                            map->slots[i].value, &count);
        free(map->slots);
        map->slots = slots;
        map->capacity = capacity;
        map->count = count;
    }
    insert_slot(map->slots, map->capacity, a, b, value, &map->count);
    return 0;
}

void cli_map_free(cli_map *map)
{
    free(map->slots);
    memset(map, 0, sizeof *map);
}
