/* The public snapshot functions: taking, saving, loading, and the getters. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "snapshot/census.h"
#include "snapshot/pymalloc.h"
#include "snapshot/snapshot.h"
#include "util/options.h"

/* Files bigger than this are not snapshots (a census of millions of types
 * is a few hundred MiB at most). */
#define MAX_FILE_SIZE ((size_t)1 << 31)

static int64_t now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int read_snapshot_options(const pydbg_snapshot_options *given,
                                 pydbg_snapshot_options *out)
{
    static const pydbg_snapshot_options defaults = PYDBG_SNAPSHOT_OPTIONS_INIT;
    return pydbg__options_copy(out, sizeof *out, given, &defaults);
}

static int fill_census(pydbg_snapshot *s, pydbg__target *t, uint32_t flags)
{
    pydbg__range *ranges = malloc((s->mapping_count ? s->mapping_count : 1) * sizeof *ranges);
    size_t count = 0;
    char note[512];
    int64_t start;
    int rc, referents = !(flags & PYDBG_SNAPSHOT_NO_REFERENTS);
    if (!ranges)
        return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->mapping_count; i++) {
        /* Readable, and not [vvar]/[vsyscall], which process_vm_readv refuses. */
        if ((s->mappings[i].perms & 1) && s->mappings[i].kind != PYDBG_MAPPING_SPECIAL) {
            ranges[count].start = s->mappings[i].start;
            ranges[count].end = s->mappings[i].end;
            count++;
        }
    }
    note[0] = '\0';
    start = now_ns(CLOCK_MONOTONIC);
    rc = pydbg__census_take(s, t, ranges, count, referents, t->pause_depth > 0, note,
                            sizeof note);
    free(ranges);
    s->census_note = pydbg__snapshot_strdup(s, note);
    if (!s->census_note)
        return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    if (rc == PYDBG_ENOTSUP) /* no census for this version: said in the note */
        return PYDBG_OK;
    if (rc != PYDBG_OK)
        return rc;
    s->census_ns = now_ns(CLOCK_MONOTONIC) - start;
    s->contents |= PYDBG_SNAPSHOT_HAS_CENSUS;
    if (referents)
        s->contents |= PYDBG_SNAPSHOT_HAS_REFERENTS;
    return PYDBG_OK;
}

/* Arena usage is an addition to the census: when it cannot be read the note
 * says why and the snapshot is still taken (only running out of memory fails). */
static int fill_pymalloc(pydbg_snapshot *s, pydbg__target *t)
{
    char note[768];
    int rc = pydbg__pymalloc_take(s, t, note, sizeof note);
    s->pymalloc_note = pydbg__snapshot_strdup(s, note);
    if (!s->pymalloc_note)
        return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    if (rc == PYDBG_ENOMEM)
        return rc;
    if (rc == PYDBG_OK)
        s->contents |= PYDBG_SNAPSHOT_HAS_PYMALLOC;
    else
        s->pymalloc_count = 0;
    return PYDBG_OK;
}

PYDBG_API int pydbg_snapshot_take(pydbg_snapshot **out, pydbg_process *process,
                                  const pydbg_snapshot_options *options)
{
    pydbg_snapshot_options opts;
    pydbg_snapshot *s;
    pydbg__target *t;
    char exe_link[64], exe[4096];
    ssize_t n;
    int rc, paused_here = 0;
    if (!out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_snapshot_take: out is NULL");
    *out = NULL;
    if (!process)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_snapshot_take: process is NULL");
    t = process->target;
    if (read_snapshot_options(options, &opts) != PYDBG_OK)
        return pydbg__fail(&t->error, PYDBG_EINVAL,
                           "pydbg_snapshot_take: options not initialised with "
                           "PYDBG_SNAPSHOT_OPTIONS_INIT");
    s = pydbg__snapshot_new();
    if (!s)
        return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    s->pid = t->pid;
    s->hexversion = t->hexversion;
    s->time_ns = now_ns(CLOCK_REALTIME);
    snprintf(exe_link, sizeof exe_link, "/proc/%d/exe", t->pid);
    n = readlink(exe_link, exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    s->python_version = pydbg__snapshot_strdup(s, t->version);
    s->executable = pydbg__snapshot_strdup(s, exe);
    s->census_note = pydbg__snapshot_strdup(s, "no heap census: not requested");
    s->pymalloc_note = pydbg__snapshot_strdup(s, "no pymalloc arena usage: not requested");
    if (!s->python_version || !s->executable || !s->census_note || !s->pymalloc_note) {
        rc = pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
        goto fail;
    }
    if ((opts.flags & PYDBG_SNAPSHOT_PAUSE) && t->pause_depth == 0) {
        rc = pydbg__target_pause(t);
        if (rc != PYDBG_OK)
            goto fail;
        paused_here = 1;
    }
    if (t->pause_depth > 0)
        s->contents |= PYDBG_SNAPSHOT_WAS_PAUSED;
    rc = pydbg__smaps_read(s, t->pid, &t->error);
    if (rc != PYDBG_OK)
        goto fail;
    s->contents |= PYDBG_SNAPSHOT_HAS_MAPPINGS;
    if (!(opts.flags & PYDBG_SNAPSHOT_NO_CENSUS)) {
        rc = fill_census(s, t, opts.flags);
        if (rc == PYDBG_OK)
            rc = fill_pymalloc(s, t);
        if (rc != PYDBG_OK)
            goto fail;
    }
    if (paused_here)
        pydbg__target_resume(t);
    *out = s;
    return PYDBG_OK;
fail:
    if (paused_here)
        pydbg__target_resume(t);
    pydbg__set_last_error(t->error.message);
    pydbg_snapshot_free(s);
    return rc;
}

PYDBG_API int pydbg_snapshot_save(const pydbg_snapshot *snapshot, const char *path)
{
    pydbg__buffer data = {0};
    char *tmp;
    size_t tmp_size;
    int fd, rc;
    if (!snapshot || !path || !*path)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_snapshot_save: NULL snapshot or path");
    if (pydbg__snapshot_encode(snapshot, &data) != PYDBG_OK)
        return pydbg__fail(NULL, PYDBG_ENOMEM, "out of memory");
    tmp_size = strlen(path) + 32;
    tmp = malloc(tmp_size);
    if (!tmp) {
        pydbg__buffer_free(&data);
        return pydbg__fail(NULL, PYDBG_ENOMEM, "out of memory");
    }
    snprintf(tmp, tmp_size, "%s.tmp.%d", path, (int)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = pydbg__fail(NULL, errno == EACCES ? PYDBG_EPERM : PYDBG_EIO, "cannot create %s: %s",
                         tmp, strerror(errno));
        goto done;
    }
    rc = PYDBG_OK;
    for (size_t done = 0; done < data.length;) {
        ssize_t w = write(fd, data.data + done, data.length - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = pydbg__fail(NULL, PYDBG_EIO, "writing %s: %s", tmp, strerror(errno));
            break;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0 && rc == PYDBG_OK)
        rc = pydbg__fail(NULL, PYDBG_EIO, "writing %s: %s", tmp, strerror(errno));
    if (rc == PYDBG_OK && rename(tmp, path) != 0)
        rc = pydbg__fail(NULL, PYDBG_EIO, "renaming %s to %s: %s", tmp, path, strerror(errno));
    if (rc != PYDBG_OK)
        unlink(tmp);
done:
    free(tmp);
    pydbg__buffer_free(&data);
    return rc;
}

PYDBG_API int pydbg_snapshot_load_memory(pydbg_snapshot **out, const void *data, size_t size)
{
    pydbg__error err = {0, ""};
    if (!out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_snapshot_load_memory: out is NULL");
    *out = NULL;
    if (!data && size)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_snapshot_load_memory: data is NULL");
    return pydbg__snapshot_decode(out, data ? data : "", size, &err);
}

PYDBG_API int pydbg_snapshot_load(pydbg_snapshot **out, const char *path)
{
    pydbg__buffer data = {0};
    pydbg__error err = {0, ""};
    int fd, rc = PYDBG_OK;
    if (!out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_snapshot_load: out is NULL");
    *out = NULL;
    if (!path)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_snapshot_load: path is NULL");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pydbg__fail(NULL, errno == EACCES ? PYDBG_EPERM : PYDBG_EIO, "cannot open %s: %s",
                           path, strerror(errno));
    for (;;) {
        ssize_t n;
        if (data.length >= MAX_FILE_SIZE) {
            rc = pydbg__fail(NULL, PYDBG_EFORMAT, "%s: larger than any snapshot", path);
            break;
        }
        if (pydbg__buffer_reserve(&data, 1 << 16) != PYDBG_OK) {
            rc = pydbg__fail(NULL, PYDBG_ENOMEM, "out of memory");
            break;
        }
        n = read(fd, data.data + data.length, data.capacity - data.length - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = pydbg__fail(NULL, PYDBG_EIO, "reading %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        data.length += (size_t)n;
    }
    close(fd);
    if (rc == PYDBG_OK) {
        rc = pydbg__snapshot_decode(out, (const unsigned char *)(data.data ? data.data : ""),
                                    data.length, &err);
        if (rc != PYDBG_OK)
            pydbg__fail(NULL, rc, "%s: %s", path, err.message);
    }
    pydbg__buffer_free(&data);
    return rc;
}

PYDBG_API uint32_t pydbg_snapshot_contents(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->contents : 0;
}

PYDBG_API int pydbg_snapshot_pid(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->pid : -1;
}

PYDBG_API int64_t pydbg_snapshot_time_ns(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->time_ns : 0;
}

PYDBG_API int64_t pydbg_snapshot_census_ns(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->census_ns : 0;
}

PYDBG_API const char *pydbg_snapshot_python_version(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->python_version : "";
}

PYDBG_API const char *pydbg_snapshot_executable(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->executable : "";
}

PYDBG_API const char *pydbg_snapshot_census_note(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->census_note : "";
}

PYDBG_API size_t pydbg_snapshot_type_count(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->type_count : 0;
}

PYDBG_API const char *pydbg_snapshot_type_name(const pydbg_snapshot *snapshot, size_t index)
{
    return snapshot && index < snapshot->type_count ? snapshot->types[index].name : NULL;
}

PYDBG_API uint64_t pydbg_snapshot_type_value(const pydbg_snapshot *snapshot, size_t index,
                                             pydbg_type_field field)
{
    const pydbg__snap_type *t;
    if (!snapshot || index >= snapshot->type_count)
        return 0;
    t = &snapshot->types[index];
    switch (field) {
    case PYDBG_TYPE_TRACKED_COUNT: return t->tracked_count;
    case PYDBG_TYPE_TRACKED_BYTES: return t->tracked_bytes;
    case PYDBG_TYPE_REACHED_COUNT: return t->reached_count;
    case PYDBG_TYPE_REACHED_BYTES: return t->reached_bytes;
    case PYDBG_TYPE_ADDRESS: return t->address;
    default: return 0;
    }
}

PYDBG_API size_t pydbg_snapshot_mapping_count(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->mapping_count : 0;
}

PYDBG_API const char *pydbg_snapshot_mapping_path(const pydbg_snapshot *snapshot, size_t index)
{
    return snapshot && index < snapshot->mapping_count ? snapshot->mappings[index].path : NULL;
}

PYDBG_API int pydbg_snapshot_mapping_kind(const pydbg_snapshot *snapshot, size_t index)
{
    return snapshot && index < snapshot->mapping_count ? (int)snapshot->mappings[index].kind
                                                       : -1;
}

PYDBG_API uint64_t pydbg_snapshot_mapping_value(const pydbg_snapshot *snapshot, size_t index,
                                                pydbg_mapping_field field)
{
    const pydbg__snap_mapping *m;
    if (!snapshot || index >= snapshot->mapping_count)
        return 0;
    m = &snapshot->mappings[index];
    switch (field) {
    case PYDBG_MAPPING_START: return m->start;
    case PYDBG_MAPPING_END: return m->end;
    case PYDBG_MAPPING_RSS: return m->rss;
    case PYDBG_MAPPING_PSS: return m->pss;
    case PYDBG_MAPPING_PRIVATE_DIRTY: return m->private_dirty;
    case PYDBG_MAPPING_SWAP: return m->swap;
    case PYDBG_MAPPING_PERMS: return m->perms;
    case PYDBG_MAPPING_OFFSET: return m->offset;
    default: return 0;
    }
}

PYDBG_API const char *pydbg_snapshot_pymalloc_note(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->pymalloc_note : "";
}

PYDBG_API size_t pydbg_snapshot_pymalloc_count(const pydbg_snapshot *snapshot)
{
    return snapshot ? snapshot->pymalloc_count : 0;
}

PYDBG_API uint64_t pydbg_snapshot_pymalloc_value(const pydbg_snapshot *snapshot, size_t index,
                                                 pydbg_pymalloc_field field)
{
    const pydbg__snap_pymalloc *p;
    if (!snapshot || index >= snapshot->pymalloc_count)
        return 0;
    p = &snapshot->pymalloc[index];
    switch (field) {
    case PYDBG_PYMALLOC_INTERPRETER_ID: return (uint64_t)p->interpreter_id;
    case PYDBG_PYMALLOC_ARENAS: return p->arenas;
    case PYDBG_PYMALLOC_ARENA_BYTES: return p->arenas * p->arena_size;
    case PYDBG_PYMALLOC_BLOCK_BYTES: return p->block_bytes;
    case PYDBG_PYMALLOC_BLOCKS: return p->blocks;
    case PYDBG_PYMALLOC_POOLS: return p->pools;
    case PYDBG_PYMALLOC_FREE_POOLS: return p->free_pools;
    case PYDBG_PYMALLOC_ARENA_SIZE: return p->arena_size;
    case PYDBG_PYMALLOC_POOL_SIZE: return p->pool_size;
    case PYDBG_PYMALLOC_SIZE_CLASSES: return p->class_count;
    }
    return 0;
}

PYDBG_API uint64_t pydbg_snapshot_pymalloc_class_value(const pydbg_snapshot *snapshot,
                                                       size_t index, size_t size_class,
                                                       pydbg_size_class_field field)
{
    const pydbg__snap_size_class *c;
    if (!snapshot || index >= snapshot->pymalloc_count ||
        size_class >= snapshot->pymalloc[index].class_count)
        return 0;
    c = &snapshot->pymalloc[index].classes[size_class];
    switch (field) {
    case PYDBG_SIZE_CLASS_BLOCK_SIZE: return c->block_size;
    case PYDBG_SIZE_CLASS_POOLS: return c->pools;
    case PYDBG_SIZE_CLASS_BLOCKS: return c->blocks;
    case PYDBG_SIZE_CLASS_BYTES: return c->blocks * c->block_size;
    }
    return 0;
}
