/* pydbg_process_open_core(): a core file plugged into the walker as a source
 * of memory and mappings, like a live process but never paused. */
#include "api/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "pydebug/process.h"
#include "util/options.h"

static unsigned segment_perms(const pydbg__core_segment *segments, size_t count, uint64_t address)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (segments[mid].vaddr <= address)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && address - segments[lo - 1].vaddr < segments[lo - 1].memsz) {
        uint32_t f = segments[lo - 1].flags;
        return (f & 4 ? PYDBG__MAP_R : 0u) | (f & 2 ? PYDBG__MAP_W : 0u) |
               (f & 1 ? PYDBG__MAP_X : 0u);
    }
    /* A mapping the core did not dump at all: readable, as far as we know. */
    return PYDBG__MAP_R;
}

/* The index of the first file that may overlap `address` (files are sorted by start). */
static size_t first_file_from(const pydbg__core_file *files, size_t count, uint64_t address)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (files[mid].start <= address)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 ? lo - 1 : 0;
}

/* Calls `emit` (when not NULL) for every part of a segment no file covers
 * and returns how many there are. */
static size_t anonymous_parts(const pydbg__core_segment *s, const pydbg__core_file *files,
                              size_t file_count, pydbg__mapping *emit)
{
    uint64_t cur = s->vaddr, end = s->vaddr + s->memsz;
    size_t parts = 0;
    for (size_t j = first_file_from(files, file_count, cur); j < file_count && cur < end; j++) {
        if (files[j].start >= end)
            break;
        if (files[j].end <= cur)
            continue;
        if (files[j].start > cur) {
            if (emit) {
                emit[parts].start = cur;
                emit[parts].end = files[j].start;
            }
            parts++;
        }
        if (files[j].end > cur)
            cur = files[j].end;
    }
    if (cur < end) {
        if (emit) {
            emit[parts].start = cur;
            emit[parts].end = end;
        }
        parts++;
    }
    return parts;
}

static int compare_start(const void *a, const void *b)
{
    const pydbg__mapping *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

int pydbg__api_core_maps(const pydbg__core *core, pydbg__maps *out, pydbg__error *err)
{
    size_t segment_count, file_count, anonymous = 0, path_bytes = 1, count, n = 0;
    const pydbg__core_segment *segments = pydbg__core_segments(core, &segment_count);
    const pydbg__core_file *files = pydbg__core_files(core, &file_count);
    pydbg__mapping *items;
    char *paths, *empty;
    out->items = NULL;
    out->count = 0;
    for (size_t i = 0; i < segment_count; i++)
        anonymous += anonymous_parts(&segments[i], files, file_count, NULL);
    for (size_t i = 0; i < file_count; i++)
        path_bytes += strlen(files[i].path) + 1;
    count = file_count + anonymous;
    /* One block, the array then the paths, as pydbg__maps_free() expects. */
    items = malloc(count * sizeof *items + path_bytes);
    if (!items)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory building the core's mappings");
    paths = (char *)(items + count);
    empty = paths++;
    *empty = '\0';
    for (size_t i = 0; i < file_count; i++) {
        size_t length = strlen(files[i].path);
        pydbg__mapping *m = &items[n++];
        memcpy(paths, files[i].path, length + 1);
        m->start = files[i].start;
        m->end = files[i].end;
        m->offset = files[i].offset;
        m->inode = 0;
        m->perms = segment_perms(segments, segment_count, files[i].start) | PYDBG__MAP_P;
        m->path = paths;
        paths += length + 1;
    }
    for (size_t i = 0; i < segment_count; i++) {
        size_t parts = anonymous_parts(&segments[i], files, file_count, &items[n]);
        for (size_t k = 0; k < parts; k++) {
            pydbg__mapping *m = &items[n + k];
            m->offset = 0;
            m->inode = 0;
            m->perms = segment_perms(segments, segment_count, segments[i].vaddr) | PYDBG__MAP_P;
            m->path = empty;
        }
        n += parts;
    }
    qsort(items, n, sizeof *items, compare_start);
    out->items = items;
    out->count = n;
    return PYDBG_OK;
}

static int read_attach_options(const pydbg_attach_options *given, pydbg_attach_options *out)
{
    static const pydbg_attach_options defaults = PYDBG_ATTACH_OPTIONS_INIT;
    return pydbg__options_copy(out, sizeof *out, given, &defaults);
}

/* Says what went wrong, with the core's name and, when a mapped file was
 * refused, why: that is usually what the user has to fix. */
static int fail_open(int rc, const char *core_path, const pydbg__error *err,
                     const pydbg__core *core, const char *executable_path)
{
    const char *problem = core ? pydbg__core_file_problem(core) : "";
    char missing[PYDBG__ERRMSG_SIZE];
    if (!problem[0] && core && rc == PYDBG_ENOTPYTHON) {
        /* The interpreter's file may be mapped but not on this machine. */
        size_t count;
        const pydbg__core_file *files = pydbg__core_files(core, &count);
        const char *exe = pydbg__core_executable(core);
        for (size_t i = 0; i < count && !problem[0]; i++) {
            const char *path = files[i].path, *slash = strrchr(path, '/');
            const char *name = slash ? slash + 1 : path;
            int is_exe = exe && strcmp(path, exe) == 0;
            if (strncmp(name, "libpython", 9) != 0 && strncmp(name, "python", 6) != 0 &&
                !is_exe)
                continue;
            if (access(is_exe && executable_path ? executable_path : path, R_OK) != 0) {
                snprintf(missing, sizeof missing, "%s is not on this machine: %s", path,
                         strerror(errno));
                problem = missing;
            }
        }
    }
    if (problem[0])
        return pydbg__fail(NULL, rc, "core file %s: %s (%s)", core_path, err->message, problem);
    return pydbg__fail(NULL, rc, "core file %s: %s", core_path, err->message);
}

PYDBG_API int pydbg_process_open_core(pydbg_process **out, const char *core_path,
                                      const char *executable_path,
                                      const pydbg_attach_options *options)
{
    pydbg_attach_options opts;
    pydbg__error err = {0, ""};
    pydbg__core *core = NULL;
    pydbg__maps maps = {NULL, 0};
    pydbg__target_source source;
    pydbg__core_file_options file_options = {NULL, executable_path};
    pydbg_process *process;
    const char *executable;
    char executable_copy[4096];
    int rc;
    if (!out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_process_open_core: out is NULL");
    *out = NULL;
    if (!core_path)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_process_open_core: core_path is NULL");
    if (read_attach_options(options, &opts) != PYDBG_OK)
        return pydbg__fail(NULL, PYDBG_EINVAL,
                           "pydbg_process_open_core: options not initialised with "
                           "PYDBG_ATTACH_OPTIONS_INIT");
    if (opts.flags & PYDBG_ATTACH_PAUSED)
        return pydbg__fail(NULL, PYDBG_ENOTSUP,
                           "core file %s: a core cannot be paused (it is not running)",
                           core_path);
    if (executable_path && access(executable_path, R_OK) != 0)
        return pydbg__fail(NULL, errno == ENOENT || errno == ENOTDIR ? PYDBG_ENOTFOUND
                                                                      : PYDBG_EPERM,
                           "cannot open the executable %s: %s", executable_path,
                           strerror(errno));
    rc = pydbg__core_open(&core, core_path, &err);
    if (rc != PYDBG_OK)
        return fail_open(rc, core_path, &err, NULL, NULL);
    executable = pydbg__core_executable(core);
    if (executable_path && executable) {
        rc = pydbg__core_verify_file(core, executable, executable_path, &err);
        if (rc != PYDBG_OK) {
            pydbg__core_close(core);
            return fail_open(rc == PYDBG_EFORMAT ? PYDBG_EINVAL : rc, core_path, &err, NULL,
                             NULL);
        }
    }
    if (executable && strlen(executable) < sizeof executable_copy)
        memcpy(executable_copy, executable, strlen(executable) + 1);
    else
        executable_copy[0] = '\0';
    rc = pydbg__api_core_maps(core, &maps, &err);
    if (rc == PYDBG_OK) {
        process = calloc(1, sizeof *process);
        if (!process)
            rc = pydbg__fail(&err, PYDBG_ENOMEM, "out of memory");
    }
    if (rc != PYDBG_OK) {
        pydbg__core_close(core);
        return fail_open(rc, core_path, &err, NULL, NULL);
    }
    memset(&source, 0, sizeof source);
    source.pid = pydbg__core_pid(core);
    source.live = 0;
    source.maps = &maps;
    source.file_root = NULL;
    source.executable = executable_copy[0] ? executable_copy : NULL;
    source.executable_file = executable_path;
    source.task_ids = pydbg__core_thread_ids(core, &source.task_id_count);
    rc = pydbg__reader_open_core(&source.reader, core, &file_options);
    if (rc == PYDBG_OK) {
        rc = pydbg__target_open_source(&process->target, &source, &err);
        if (rc != PYDBG_OK)
            fail_open(rc, core_path, &err, core, executable_path);
    } else {
        pydbg__fail(&err, rc, "out of memory");
        fail_open(rc, core_path, &err, NULL, NULL);
    }
    pydbg__maps_free(&maps);
    pydbg__core_close(core); /* the reader keeps its own reference */
    if (rc != PYDBG_OK) {
        free(process);
        return rc;
    }
    pydbg__error_clear(&process->target->error);
    *out = process;
    return PYDBG_OK;
}
