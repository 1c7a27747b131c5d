#include "dump_image.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem/reader.h"
#include "walk/code_cache.h"

#define DUMP_SCRIPT PYDBG_TEST_DATA_DIR "/object_dump.py"
#define RUN_TIMEOUT_MS 60000
#define MAX_OUTPUT (256u << 20)

const int dump_versions[][2] = {{2, 7},  {3, 6},  {3, 7},  {3, 8}, {3, 9},
                                {3, 10}, {3, 11}, {3, 12}, {3, 13}};
const size_t dump_version_count = sizeof dump_versions / sizeof dump_versions[0];

static int is_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static int already_listed(char found[][PATH_MAX], size_t count, const char *path)
{
    char real[PATH_MAX], other[PATH_MAX];
    if (!realpath(path, real))
        return 1;
    for (size_t i = 0; i < count; i++)
        if (realpath(found[i], other) && strcmp(other, real) == 0)
            return 1;
    return 0;
}

size_t dump_find_pythons(int major, int minor, char found[][PATH_MAX], size_t max)
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
                continue; /* debug or free-threaded builds are other shapes */
            snprintf(path, sizeof path, "%s/versions/%s/bin/python%d.%d", root, e->d_name, major,
                     minor);
            if (is_executable(path) && !already_listed(found, count, path))
                snprintf(found[count++], PATH_MAX, "%s", path);
        }
        closedir(dir);
    }
    snprintf(path, sizeof path, "/usr/bin/python%d.%d", major, minor);
    if (count < max && is_executable(path) && !already_listed(found, count, path))
        snprintf(found[count++], PATH_MAX, "%s", path);
    return count;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Runs argv, returns its stdout (stderr goes to ours) or NULL; `*status` from waitpid. */
static char *run(char *const argv[], int *status)
{
    size_t used = 0, capacity = 1u << 20;
    char *out = malloc(capacity);
    int fds[2];
    pid_t pid;
    struct timespec start;
    *status = -1;
    if (!out || pipe(fds) != 0) {
        free(out);
        return NULL;
    }
    pid = fork();
    if (pid < 0) {
        free(out);
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
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
            fprintf(stderr, "%s: killed after %d ms\n", argv[0], RUN_TIMEOUT_MS);
            kill(pid, SIGKILL);
            break;
        }
        if (capacity - used < 65536) {
            char *bigger;
            if (capacity >= MAX_OUTPUT)
                break;
            bigger = realloc(out, capacity * 2);
            if (!bigger)
                break;
            out = bigger;
            capacity *= 2;
        }
        got = read(fds[0], out + used, capacity - used - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        used += (size_t)got;
    }
    out[used] = '\0';
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
    }
    return out;
}

/* The layout offsets the dumper follows pointers with, by the names it uses. */
static size_t layout_args(const pydbg__layout *l, char args[][64], size_t max)
{
    struct {
        const char *name;
        long value;
    } fields[] = {
        {"object.ob_type", l->object.ob_type},
        {"dict.ma_keys", l->dict.ma_keys},
        {"dict.ma_values", l->dict.ma_values},
        {"dict.py2_ma_mask", l->dict.py2_ma_mask},
        {"dict.py2_ma_table", l->dict.py2_ma_table},
        {"dictkeys.dk_size", l->dictkeys.dk_size},
        {"dictkeys.dk_log2_size", l->dictkeys.dk_log2_size},
        {"dictkeys.dk_log2_index_bytes", l->dictkeys.dk_log2_index_bytes},
        {"dictkeys.dk_kind", l->dictkeys.dk_kind},
        {"dictkeys.dk_nentries", l->dictkeys.dk_nentries},
        {"dictkeys.dk_indices", l->dictkeys.dk_indices},
        {"dictkeys.values_array", l->dictkeys.values_array},
        {"type.tp_flags", l->type.tp_flags},
        {"type.tp_dictoffset", l->type.tp_dictoffset},
        {"type.ht_cached_keys", l->type.ht_cached_keys},
        {"type.flag_managed_dict", (long)l->type.flag_managed_dict},
        {"model.instdict", l->instdict_model},
        {"interp.tstate_head", l->interp.tstate_head},
        {"interp.modules", l->interp.modules},
        {"interp.ceval_gil", l->interp.ceval_gil},
        {"tstate.size", l->tstate.size},
        {"tstate.next", l->tstate.next},
        {"tstate.interp", l->tstate.interp},
        {"tstate.frame", l->tstate.frame},
        {"tstate.cframe", l->tstate.cframe},
        {"cframe.current_frame", l->cframe.current_frame},
        {"frame.f_back", l->frame.f_back},
        {"frame.f_code", l->frame.f_code},
        {"iframe.size", l->iframe.size},
        {"iframe.previous", l->iframe.previous},
        {"iframe.executable", l->iframe.executable},
        {"code.co_name", l->code.co_name},
        {"code.co_qualname", l->code.co_qualname},
        {"code.co_filename", l->code.co_filename},
        {"code.co_linetable", l->code.co_linetable},
        {"code.co_code", l->code.co_code},
    };
    size_t n = sizeof fields / sizeof fields[0];
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        snprintf(args[i], 64, "%s=%ld", fields[i].name, fields[i].value);
    return n;
}

uint64_t dump_hex(const char *text)
{
    return text ? strtoull(text, NULL, 16) : 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void unhex_into(const char *hex, unsigned char *out, size_t length)
{
    for (size_t i = 0; i < length; i++)
        out[i] = (unsigned char)(hex_digit(hex[2 * i]) << 4 | hex_digit(hex[2 * i + 1]));
}

char *dump_unhex(const char *text, size_t *length)
{
    size_t n = text ? strlen(text) / 2 : 0;
    char *out = malloc(n + 1);
    if (!out)
        abort();
    unhex_into(text ? text : "", (unsigned char *)out, n);
    out[n] = '\0';
    if (length)
        *length = n;
    return out;
}

static int parse(dump_image *image)
{
    size_t cap_records = 1024, cap_regions = 256;
    int done = 0;
    image->records = calloc(cap_records, sizeof *image->records);
    image->regions = calloc(cap_regions, sizeof *image->regions);
    if (!image->records || !image->regions)
        abort();
    for (char *line = image->text; line && *line;) {
        char *end = strchr(line, '\n');
        char *save = NULL, *tok;
        if (end)
            *end = '\0';
        tok = strtok_r(line, " ", &save);
        if (!tok) {
            /* empty line */
        } else if (strcmp(tok, "R") == 0) {
            char *base = strtok_r(NULL, " ", &save), *hex = strtok_r(NULL, " ", &save);
            if (base && hex) {
                if (image->region_count == cap_regions) {
                    cap_regions *= 2;
                    image->regions = realloc(image->regions, cap_regions * sizeof *image->regions);
                    if (!image->regions)
                        abort();
                }
                image->regions[image->region_count].base = dump_hex(base);
                image->regions[image->region_count].hex = hex;
                image->regions[image->region_count].length = strlen(hex) / 2;
                image->bytes += strlen(hex) / 2;
                image->region_count++;
            }
        } else if (strcmp(tok, "DONE") == 0) {
            done = 1;
        } else {
            dump_record *r;
            if (image->record_count == cap_records) {
                cap_records *= 2;
                image->records = realloc(image->records, cap_records * sizeof *image->records);
                if (!image->records)
                    abort();
            }
            r = &image->records[image->record_count++];
            memset(r, 0, sizeof *r);
            r->kind = tok;
            while (r->count < DUMP_MAX_FIELDS && (tok = strtok_r(NULL, " ", &save)) != NULL)
                r->field[r->count++] = tok;
            if (strcmp(r->kind, "V") == 0 && r->count == 2) {
                image->major = atoi(r->field[0]);
                image->minor = atoi(r->field[1]);
            } else if (strcmp(r->kind, "T") == 0) {
                for (size_t i = 0; i < r->count; i++) {
                    char *eq = strchr(r->field[i], '=');
                    uint64_t v;
                    if (!eq)
                        continue;
                    v = dump_hex(eq + 1);
                    *eq = '\0';
                    if (strcmp(r->field[i], "code") == 0)
                        image->types.code = v;
                    else if (strcmp(r->field[i], "str") == 0)
                        image->types.str = v;
                    else if (strcmp(r->field[i], "bytes") == 0)
                        image->types.bytes = v;
                    else if (strcmp(r->field[i], "dict") == 0)
                        image->types.dict = v;
                    else if (strcmp(r->field[i], "module") == 0)
                        image->types.module = v;
                    else if (strcmp(r->field[i], "long") == 0)
                        image->types.long_ = v;
                    else if (strcmp(r->field[i], "int") == 0)
                        image->types.int_ = v;
                    else if (strcmp(r->field[i], "unicode_width") == 0)
                        image->py2_unicode_width = (unsigned)v;
                    *eq = '=';
                }
            }
        }
        line = end ? end + 1 : NULL;
    }
    return done ? 0 : -1;
}

int dump_image_load(dump_image *image, const char *python, const char *mode,
                    const pydbg__layout *layout)
{
    char args[64][64];
    char mode_arg[64];
    char *argv[72];
    size_t n = layout_args(layout, args, 64), argc = 0;
    int status;
    memset(image, 0, sizeof *image);
    snprintf(image->python, sizeof image->python, "%s", python);
    image->layout = layout;
    snprintf(mode_arg, sizeof mode_arg, "mode=%s", mode);
    argv[argc++] = (char *)python;
    argv[argc++] = (char *)DUMP_SCRIPT;
    argv[argc++] = mode_arg;
    for (size_t i = 0; i < n; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    image->text = run(argv, &status);
    if (!image->text || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s %s: the dumper failed (status 0x%x)\n", python, mode, status);
        dump_image_free(image);
        return -1;
    }
    if (parse(image) != 0 || image->major != layout->major || image->minor != layout->minor) {
        fprintf(stderr, "%s %s: incomplete output or wrong version %d.%d\n", python, mode,
                image->major, image->minor);
        dump_image_free(image);
        return -1;
    }
    return 0;
}

void dump_image_free(dump_image *image)
{
    free(image->text);
    free(image->records);
    free(image->regions);
    image->text = NULL;
    image->records = NULL;
    image->regions = NULL;
    image->record_count = image->region_count = 0;
}

void dump_patch(pydbg__target *t, uint64_t base, const void *data, size_t length)
{
    if (pydbg__reader_buffer_add(t->reader, base, data, length) != PYDBG_OK)
        abort();
}

pydbg__target *dump_image_target(const dump_image *image)
{
    pydbg__target *t = calloc(1, sizeof *t);
    if (!t || pydbg__reader_open_buffer(&t->reader) != PYDBG_OK ||
        pydbg__code_cache_new(&t->codes) != PYDBG_OK)
        abort();
    t->pid = -1;
    t->layout = *image->layout;
    t->hexversion = (uint32_t)image->major << 24 | (uint32_t)image->minor << 16;
    snprintf(t->version, sizeof t->version, "%d.%d", image->major, image->minor);
    t->types = image->types;
    t->py2_unicode_width = image->py2_unicode_width;
    t->pthread_tid_offset = 0; /* no /proc/PID/task to calibrate against */
    for (size_t i = 0; i < image->region_count; i++) {
        const struct dump_region *r = &image->regions[i];
        unsigned char *bytes = malloc(r->length ? r->length : 1);
        if (!bytes)
            abort();
        unhex_into(r->hex, bytes, r->length);
        dump_patch(t, r->base, bytes, r->length);
        free(bytes);
    }
    return t;
}

int dump_image_bytes(const dump_image *image, uint64_t address, void *out, size_t length)
{
    for (size_t i = 0; i < image->region_count; i++) {
        const struct dump_region *r = &image->regions[i];
        if (address >= r->base && address - r->base <= r->length &&
            length <= r->length - (address - r->base)) {
            unhex_into(r->hex + 2 * (address - r->base), out, length);
            return 0;
        }
    }
    return -1;
}

const dump_record *dump_find(const dump_image *image, const char *kind, const char *name)
{
    for (size_t i = 0; i < image->record_count; i++) {
        const dump_record *r = &image->records[i];
        if (strcmp(r->kind, kind) == 0 && r->count > 0 && strcmp(r->field[0], name) == 0)
            return r;
    }
    return NULL;
}
