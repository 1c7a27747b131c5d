/* Diffing two snapshots: entries grouped by type name or by mapping key,
 * sorted by growth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snapshot.h"
#include "util/options.h"

typedef struct diff_entry {
    const char *key;
    uint64_t old_count, old_size, count, size;
} diff_entry;

struct pydbg_diff {
    pydbg__arena arena;
    diff_entry *entries;
    size_t count, capacity;
    uint32_t *slots; /* open addressing: index + 1 into entries, 0 empty */
    size_t slot_count;
};

static uint64_t hash_text(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int grow_slots(pydbg_diff *d)
{
    size_t count = d->slot_count ? d->slot_count * 2 : 256;
    uint32_t *slots = calloc(count, sizeof *slots);
    if (!slots)
        return PYDBG_ENOMEM;
    for (size_t i = 0; i < d->count; i++) {
        size_t j = (size_t)hash_text(d->entries[i].key) & (count - 1);
        while (slots[j])
            j = (j + 1) & (count - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(d->slots);
    d->slots = slots;
    d->slot_count = count;
    return PYDBG_OK;
}

/* The entry of `key`, created empty on first use; NULL when out of memory. */
static diff_entry *entry_for(pydbg_diff *d, const char *key)
{
    size_t j;
    if ((d->count + 1) * 2 > d->slot_count && grow_slots(d) != PYDBG_OK)
        return NULL;
    j = (size_t)hash_text(key) & (d->slot_count - 1);
    while (d->slots[j]) {
        diff_entry *e = &d->entries[d->slots[j] - 1];
        if (strcmp(e->key, key) == 0)
            return e;
        j = (j + 1) & (d->slot_count - 1);
    }
    {
        void *items = d->entries;
        diff_entry *e;
        if (d->count >= UINT32_MAX - 1 ||
            pydbg__grow_array(&items, &d->capacity, d->count + 1, sizeof *d->entries) !=
                PYDBG_OK)
            return NULL;
        d->entries = items;
        e = &d->entries[d->count];
        memset(e, 0, sizeof *e);
        e->key = pydbg__arena_strdup(&d->arena, key);
        if (!e->key)
            return NULL;
        d->slots[j] = (uint32_t)++d->count;
        return e;
    }
}

static const char *mapping_key(const pydbg__snap_mapping *m)
{
    switch (m->kind) {
    case PYDBG_MAPPING_HEAP: return "[heap]";
    case PYDBG_MAPPING_STACK: return "[stack]";
    case PYDBG_MAPPING_ANON: return "[anon]";
    default: return m->path && *m->path ? m->path : "[anon]";
    }
}

/* Adds the entries of `s` to the old (`which` 0) or new (1) side. */
static int add_side(pydbg_diff *d, const pydbg_snapshot *s, int which, uint32_t by,
                    uint32_t flags)
{
    if (by == PYDBG_DIFF_BY_TYPE) {
        for (size_t i = 0; i < s->type_count; i++) {
            const pydbg__snap_type *t = &s->types[i];
            diff_entry *e = entry_for(d, t->name);
            uint64_t count = t->tracked_count, size = t->tracked_bytes;
            if (!e)
                return PYDBG_ENOMEM;
            if (!(flags & PYDBG_DIFF_TRACKED_ONLY)) {
                count += t->reached_count;
                size += t->reached_bytes;
            }
            if (which) {
                e->count += count;
                e->size += size;
            } else {
                e->old_count += count;
                e->old_size += size;
            }
        }
        return PYDBG_OK;
    }
    if (by == PYDBG_DIFF_BY_ARENA) {
        /* Summed over the allocators: a sub-interpreter's arenas are the process's memory. */
        for (size_t i = 0; i < s->pymalloc_count; i++) {
            const pydbg__snap_pymalloc *p = &s->pymalloc[i];
            diff_entry *e = entry_for(d, "arenas");
            if (!e)
                return PYDBG_ENOMEM;
            *(which ? &e->count : &e->old_count) += p->arenas;
            *(which ? &e->size : &e->old_size) += p->arenas * p->arena_size;
            for (uint32_t k = 0; k < p->class_count; k++) {
                const pydbg__snap_size_class *c = &p->classes[k];
                char key[48];
                if (!c->blocks)
                    continue;
                snprintf(key, sizeof key, "%llu-byte blocks", (unsigned long long)c->block_size);
                e = entry_for(d, key);
                if (!e)
                    return PYDBG_ENOMEM;
                *(which ? &e->count : &e->old_count) += c->blocks;
                *(which ? &e->size : &e->old_size) += c->blocks * c->block_size;
            }
        }
        return PYDBG_OK;
    }
    for (size_t i = 0; i < s->mapping_count; i++) {
        const pydbg__snap_mapping *m = &s->mappings[i];
        diff_entry *e = entry_for(d, mapping_key(m));
        if (!e)
            return PYDBG_ENOMEM;
        if (which) {
            e->count++;
            e->size += m->rss;
        } else {
            e->old_count++;
            e->old_size += m->rss;
        }
    }
    return PYDBG_OK;
}

static int64_t delta(uint64_t now, uint64_t then)
{
    return (int64_t)(now - then); /* two's complement: negative when it shrank */
}

static int compare(const void *a, const void *b)
{
    const diff_entry *x = a, *y = b;
    int64_t sx = delta(x->size, x->old_size), sy = delta(y->size, y->old_size);
    int64_t cx = delta(x->count, x->old_count), cy = delta(y->count, y->old_count);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    if (cx != cy)
        return cx > cy ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int read_diff_options(const pydbg_diff_options *given, pydbg_diff_options *out)
{
    static const pydbg_diff_options defaults = PYDBG_DIFF_OPTIONS_INIT;
    return pydbg__options_copy(out, sizeof *out, given, &defaults);
}

PYDBG_API int pydbg_diff_compute(pydbg_diff **out, const pydbg_snapshot *old_snapshot,
                                 const pydbg_snapshot *new_snapshot,
                                 const pydbg_diff_options *options)
{
    pydbg_diff_options opts;
    pydbg_diff *d;
    int rc;
    if (!out)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_diff_compute: out is NULL");
    *out = NULL;
    if (!old_snapshot || !new_snapshot)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_diff_compute: a snapshot is NULL");
    if (read_diff_options(options, &opts) != PYDBG_OK ||
        (opts.by != PYDBG_DIFF_BY_TYPE && opts.by != PYDBG_DIFF_BY_MAPPING &&
         opts.by != PYDBG_DIFF_BY_ARENA))
        return pydbg__fail(NULL, PYDBG_EINVAL,
                           "pydbg_diff_compute: options not initialised with "
                           "PYDBG_DIFF_OPTIONS_INIT, or an unknown 'by'");
    if (opts.by == PYDBG_DIFF_BY_TYPE) {
        const pydbg_snapshot *missing =
            !(old_snapshot->contents & PYDBG_SNAPSHOT_HAS_CENSUS)   ? old_snapshot
            : !(new_snapshot->contents & PYDBG_SNAPSHOT_HAS_CENSUS) ? new_snapshot
                                                                    : NULL;
        if (missing)
            return pydbg__fail(NULL, PYDBG_ENOTSUP,
                               "the %s snapshot (pid %d, Python %s) has no heap census (%s); "
                               "only a diff by mapping is possible",
                               missing == old_snapshot ? "old" : "new", missing->pid,
                               missing->python_version, missing->census_note);
    } else if (opts.by == PYDBG_DIFF_BY_ARENA) {
        const pydbg_snapshot *missing =
            !(old_snapshot->contents & PYDBG_SNAPSHOT_HAS_PYMALLOC)   ? old_snapshot
            : !(new_snapshot->contents & PYDBG_SNAPSHOT_HAS_PYMALLOC) ? new_snapshot
                                                                      : NULL;
        if (missing)
            return pydbg__fail(NULL, PYDBG_ENOTSUP,
                               "the %s snapshot (pid %d, Python %s) has no pymalloc arena "
                               "usage (%s)",
                               missing == old_snapshot ? "old" : "new", missing->pid,
                               missing->python_version,
                               *missing->pymalloc_note ? missing->pymalloc_note
                                                       : "written before it was recorded");
    } else if (!(old_snapshot->contents & PYDBG_SNAPSHOT_HAS_MAPPINGS) ||
               !(new_snapshot->contents & PYDBG_SNAPSHOT_HAS_MAPPINGS)) {
        return pydbg__fail(NULL, PYDBG_ENOTSUP, "a snapshot has no mappings");
    }
    d = calloc(1, sizeof *d);
    if (!d)
        return pydbg__fail(NULL, PYDBG_ENOMEM, "out of memory");
    rc = add_side(d, old_snapshot, 0, opts.by, opts.flags);
    if (rc == PYDBG_OK)
        rc = add_side(d, new_snapshot, 1, opts.by, opts.flags);
    if (rc != PYDBG_OK) {
        pydbg_diff_free(d);
        return pydbg__fail(NULL, rc, "out of memory");
    }
    if (d->count > 1)
        qsort(d->entries, d->count, sizeof *d->entries, compare);
    free(d->slots); /* the order changed; lookups are over */
    d->slots = NULL;
    d->slot_count = 0;
    *out = d;
    return PYDBG_OK;
}

PYDBG_API void pydbg_diff_free(pydbg_diff *diff)
{
    if (!diff)
        return;
    free(diff->entries);
    free(diff->slots);
    pydbg__arena_free(&diff->arena);
    free(diff);
}

PYDBG_API size_t pydbg_diff_count(const pydbg_diff *diff)
{
    return diff ? diff->count : 0;
}

PYDBG_API const char *pydbg_diff_key(const pydbg_diff *diff, size_t index)
{
    return diff && index < diff->count ? diff->entries[index].key : NULL;
}

PYDBG_API int64_t pydbg_diff_value(const pydbg_diff *diff, size_t index, pydbg_diff_field field)
{
    const diff_entry *e;
    if (!diff || index >= diff->count)
        return 0;
    e = &diff->entries[index];
    switch (field) {
    case PYDBG_DIFF_COUNT_DELTA: return delta(e->count, e->old_count);
    case PYDBG_DIFF_SIZE_DELTA: return delta(e->size, e->old_size);
    case PYDBG_DIFF_COUNT: return (int64_t)e->count;
    case PYDBG_DIFF_SIZE: return (int64_t)e->size;
    case PYDBG_DIFF_OLD_COUNT: return (int64_t)e->old_count;
    case PYDBG_DIFF_OLD_SIZE: return (int64_t)e->old_size;
    default: return 0;
    }
}
