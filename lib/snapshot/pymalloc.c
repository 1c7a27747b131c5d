/* pymalloc's arena usage, read from outside the target.
 *
 * pymalloc serves requests of up to 512 bytes from pools (4 or 16 KiB) carved
 * from arenas (256 KiB or 1 MiB). Its state is an array of `maxarenas` arena
 * objects; an allocated one has a non-zero `address`, and pools are carved
 * from it in order up to `pool_address`. Each pool's header holds its size
 * class (`szidx`) and its number of allocated blocks (`ref.count`); a count of
 * 0 is a free pool. Full pools are linked from nowhere, so, like
 * _PyObject_DebugMallocStats() (which prints sys._debugmallocstats()), this
 * visits every pool of every allocated arena rather than following lists.
 *
 * Where the state lives: static variables of Objects/obmalloc.c up to 3.11,
 * found in the interpreter's .symtab (a stripped interpreter has none, and
 * then there is no arena usage: nothing else points at them); from 3.12 a
 * struct _obmalloc_state per interpreter (embedded in 3.12, a pointer from
 * 3.13), which sub-interpreters may share with the main one.
 *
 * Everything read is checked against what pymalloc itself guarantees (an
 * arena's pools lie inside it, a pool's blocks fit in it, size classes are
 * below NB_SMALL_SIZE_CLASSES); anything else is a torn read of a running
 * target, retried a few times, or garbage, reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "elf/elf.h"
#include "elf/maps.h"
#include "snapshot/pymalloc.h"

#define ARENA_BATCH 256u
#define LIVE_ATTEMPTS 5
#define MAX_ARENA_BYTES (64u << 20)
#define MAX_ARENA_OBJECT 256
#define HEADER_READ 64 /* bytes of a pool header read: covers ref.count and szidx */

static int power_of_two(uint64_t v)
{
    return v && !(v & (v - 1));
}

static int layout_plausible(const pydbg__layout *l)
{
    const int32_t offsets[] = {l->obmalloc.arena_address, l->obmalloc.arena_pool_address,
                               l->obmalloc.arena_nfreepools, l->obmalloc.arena_ntotalpools};
    if (l->obmalloc.arena_object_size < 24 || l->obmalloc.arena_object_size > MAX_ARENA_OBJECT)
        return 0;
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        if (offsets[i] < 0 || offsets[i] + 4 > l->obmalloc.arena_object_size)
            return 0;
    }
    if (l->obmalloc.arena_address + 8 > l->obmalloc.arena_object_size ||
        l->obmalloc.arena_pool_address + 8 > l->obmalloc.arena_object_size)
        return 0;
    if (l->obmalloc.pool_count < 0 || l->obmalloc.pool_count + 4 > HEADER_READ ||
        l->obmalloc.pool_szidx < 0 || l->obmalloc.pool_szidx + 4 > HEADER_READ)
        return 0;
    return power_of_two(l->obmalloc.pool_bytes) && power_of_two(l->obmalloc.arena_bytes) &&
           l->obmalloc.pool_bytes >= 1024 && l->obmalloc.arena_bytes <= MAX_ARENA_BYTES &&
           l->obmalloc.pool_bytes <= l->obmalloc.arena_bytes &&
           power_of_two(l->obmalloc.alignment) && l->obmalloc.size_classes > 0 &&
           l->obmalloc.size_classes <= PYDBG__SNAP_MAX_SIZE_CLASSES;
}

/* The pools carved from one arena. */
static int walk_arena(pydbg__reader *reader, const pydbg__layout *l, size_t index,
                      uint64_t address, uint64_t pool_address, pydbg__read_piece *pieces,
                      unsigned char *headers, pydbg__snap_pymalloc *out, pydbg__error *err)
{
    uint64_t pool = l->obmalloc.pool_bytes, base = address, count;
    int rc;
    /* An arena not aligned on a pool boundary loses its first partial pool
     * (obmalloc.c's new_arena() rounds up the same way). */
    if (base & (pool - 1))
        base = (base | (pool - 1)) + 1;
    if (pool_address < base || pool_address - address > l->obmalloc.arena_bytes)
        return pydbg__fail(err, PYDBG_ECORRUPT,
                           "pymalloc arena %zu at 0x%llx: pools carved up to 0x%llx, outside "
                           "the arena",
                           index, (unsigned long long)address, (unsigned long long)pool_address);
    count = (pool_address - base) / pool;
    if (count == 0)
        return PYDBG_OK;
    for (uint64_t i = 0; i < count; i++) {
        pieces[i].address = base + i * pool;
        pieces[i].buffer = headers + i * HEADER_READ;
        pieces[i].length = HEADER_READ;
    }
    rc = pydbg__read_many(reader, pieces, (size_t)count);
    if (rc != PYDBG_OK)
        return pydbg__fail(err, rc, "reading the pool headers of pymalloc arena %zu at 0x%llx",
                           index, (unsigned long long)address);
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *h = headers + i * HEADER_READ;
        uint32_t blocks = pydbg__load_u32(h, l->obmalloc.pool_count);
        uint32_t szidx = pydbg__load_u32(h, l->obmalloc.pool_szidx);
        uint64_t block_size;
        pydbg__snap_size_class *c;
        if (blocks == 0)
            continue; /* a free pool, on its arena's freepools list */
        if (szidx >= l->obmalloc.size_classes)
            return pydbg__fail(err, PYDBG_ECORRUPT,
                               "pymalloc pool at 0x%llx: size class %u of %u",
                               (unsigned long long)pieces[i].address, szidx,
                               l->obmalloc.size_classes);
        block_size = (uint64_t)(szidx + 1) * l->obmalloc.alignment;
        if ((uint64_t)blocks * block_size > pool)
            return pydbg__fail(err, PYDBG_ECORRUPT,
                               "pymalloc pool at 0x%llx: %u blocks of %llu bytes",
                               (unsigned long long)pieces[i].address, blocks,
                               (unsigned long long)block_size);
        c = &out->classes[szidx];
        c->pools++;
        c->blocks += blocks;
        out->pools++;
        out->blocks += blocks;
        out->block_bytes += (uint64_t)blocks * block_size;
    }
    return PYDBG_OK;
}

int pydbg__pymalloc_walk(pydbg__reader *reader, const pydbg__layout *l, uint64_t arenas,
                         uint64_t maxarenas, pydbg__snap_pymalloc *out, pydbg__error *err)
{
    size_t object_size, max_pools;
    unsigned char *batch = NULL, *headers = NULL;
    pydbg__read_piece *pieces = NULL;
    int rc = PYDBG_OK;
    memset(out, 0, sizeof *out);
    if (!layout_plausible(l))
        return pydbg__fail(err, PYDBG_ENOTSUP, "no plausible pymalloc layout");
    if (maxarenas > PYDBG__PYMALLOC_MAX_ARENAS)
        return pydbg__fail(err, PYDBG_ELIMIT, "pymalloc: %llu arena objects (at most %u read)",
                           (unsigned long long)maxarenas, PYDBG__PYMALLOC_MAX_ARENAS);
    if (maxarenas && !arenas)
        return pydbg__fail(err, PYDBG_ECORRUPT, "pymalloc: %llu arena objects at address 0",
                           (unsigned long long)maxarenas);
    out->arena_size = l->obmalloc.arena_bytes;
    out->pool_size = l->obmalloc.pool_bytes;
    out->class_count = l->obmalloc.size_classes;
    for (uint32_t i = 0; i < out->class_count; i++)
        out->classes[i].block_size = (uint64_t)(i + 1) * l->obmalloc.alignment;
    object_size = (size_t)l->obmalloc.arena_object_size;
    max_pools = l->obmalloc.arena_bytes / l->obmalloc.pool_bytes;
    batch = malloc(ARENA_BATCH * object_size);
    headers = malloc(max_pools * HEADER_READ);
    pieces = malloc(max_pools * sizeof *pieces);
    if (!batch || !headers || !pieces) {
        rc = pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
        goto done;
    }
    for (uint64_t first = 0; first < maxarenas && rc == PYDBG_OK; first += ARENA_BATCH) {
        size_t n = maxarenas - first < ARENA_BATCH ? (size_t)(maxarenas - first) : ARENA_BATCH;
        rc = pydbg__read(reader, arenas + first * object_size, batch, n * object_size);
        if (rc != PYDBG_OK) {
            rc = pydbg__fail(err, rc, "reading pymalloc's arena objects %llu to %llu at 0x%llx",
                             (unsigned long long)first, (unsigned long long)(first + n - 1),
                             (unsigned long long)(arenas + first * object_size));
            break;
        }
        for (size_t i = 0; i < n && rc == PYDBG_OK; i++) {
            const unsigned char *a = batch + i * object_size;
            uint64_t address = pydbg__load_u64(a, l->obmalloc.arena_address);
            uint64_t pool_address = pydbg__load_u64(a, l->obmalloc.arena_pool_address);
            uint32_t nfree = pydbg__load_u32(a, l->obmalloc.arena_nfreepools);
            uint32_t ntotal = pydbg__load_u32(a, l->obmalloc.arena_ntotalpools);
            if (!address)
                continue; /* an arena object with no arena (on unused_arena_objects) */
            if (nfree > ntotal || ntotal > max_pools) {
                rc = pydbg__fail(err, PYDBG_ECORRUPT,
                                 "pymalloc arena %llu at 0x%llx: %u free of %u pools",
                                 (unsigned long long)(first + i), (unsigned long long)address,
                                 nfree, ntotal);
                break;
            }
            out->arenas++;
            out->free_pools += nfree;
            rc = walk_arena(reader, l, (size_t)(first + i), address, pool_address, pieces,
                            headers, out, err);
        }
    }
done:
    free(batch);
    free(headers);
    free(pieces);
    return rc;
}

/* ---- finding the states ------------------------------------------------------------- */

/* The addresses of obmalloc.c's statics `arenas`, `maxarenas` and
 * `narenas_currently_allocated` (3.6 - 3.11), from the interpreter's .symtab. */
static int find_statics(pydbg__target *t, pydbg__layout *l, uint64_t vars[3], char *note,
                        size_t note_size)
{
    pydbg__elf_symbol used;
    static const char *const names[3] = {"arenas", "maxarenas", "narenas_currently_allocated"};
    pydbg__maps maps = {0};
    pydbg__elf *elf = NULL;
    const pydbg__mapping *base;
    char rooted[4096 + 64];
    uint64_t bias;
    int rc = pydbg__maps_read(&maps, t->pid, &t->error);
    if (rc != PYDBG_OK) {
        snprintf(note, note_size, "no pymalloc arena usage: cannot read the target's mappings");
        return rc;
    }
    base = pydbg__maps_file_base(&maps, t->interpreter_path);
    if (!base) {
        pydbg__maps_free(&maps);
        snprintf(note, note_size, "no pymalloc arena usage: %s is no longer mapped",
                 t->interpreter_path);
        return pydbg__fail(&t->error, PYDBG_ENOTFOUND, "%s is no longer mapped",
                           t->interpreter_path);
    }
    snprintf(rooted, sizeof rooted, "/proc/%d/root%s", t->pid, t->interpreter_path);
    rc = pydbg__elf_open(&elf, rooted, NULL);
    if (rc != PYDBG_OK)
        rc = pydbg__elf_open(&elf, t->interpreter_path, &t->error);
    if (rc != PYDBG_OK) {
        pydbg__maps_free(&maps);
        snprintf(note, note_size, "no pymalloc arena usage: cannot open %s", t->interpreter_path);
        return rc;
    }
    bias = pydbg__elf_load_bias(elf, base->start, base->offset);
    for (int i = 0; i < 3 && rc == PYDBG_OK; i++) {
        pydbg__elf_symbol sym;
        if (pydbg__elf_find_symbol(elf, names[i], &sym) != PYDBG_OK || sym.value == 0) {
            /* The statics are only in .symtab: a stripped interpreter (Debian's
             * /usr/bin/python3.X) has no trace of where they are. */
            snprintf(note, note_size,
                     "no pymalloc arena usage: %s has no symbol '%s' (pymalloc's state is "
                     "static in Objects/obmalloc.c and only a .symtab locates it; this "
                     "interpreter is stripped)",
                     t->interpreter_path, names[i]);
            rc = pydbg__fail(&t->error, PYDBG_ENOTSUP, "%s", note);
            break;
        }
        vars[i] = sym.value + bias;
    }
    /* static poolp usedpools[2 * ((NB_SMALL_SIZE_CLASSES + 7) / 8) * 8]: its
     * size tells the number of size classes, which changed within 3.6 and 3.7
     * (ALIGNMENT 8 -> 16, bpo-27987), where the table cannot know the patch release. */
    if (rc == PYDBG_OK && pydbg__elf_find_symbol(elf, "usedpools", &used) == PYDBG_OK &&
        (used.size == 512 || used.size == 1024)) {
        l->obmalloc.size_classes = (uint32_t)(used.size / 16);
        l->obmalloc.alignment = 512 / l->obmalloc.size_classes;
    }
    pydbg__elf_close(elf);
    pydbg__maps_free(&maps);
    return rc;
}

/* One pass over every state; fills `states` (up to `capacity`) and `count`.
 * keys[i] is the arena array of states[i], which identifies a shared state. */
static int take_pass(pydbg__target *t, const pydbg__layout *l, const uint64_t statics[3],
                     pydbg__snap_pymalloc *states, uint64_t *keys, size_t capacity,
                     size_t *count)
{
    uint64_t arenas = 0, interp = 0;
    uint32_t maxarenas = 0;
    int rc;
    *count = 0;
    if (l->obmalloc.root == PYDBG__OBMALLOC_STATICS) {
        uint64_t narenas = 0;
        rc = pydbg__target_read_ptr(t, statics[0], &arenas, "pymalloc's arenas");
        if (rc == PYDBG_OK)
            rc = pydbg__target_read(t, statics[1], &maxarenas, 4, "pymalloc's maxarenas");
        if (rc == PYDBG_OK)
            rc = pydbg__target_read(t, statics[2], &narenas, 8,
                                    "pymalloc's narenas_currently_allocated");
        if (rc == PYDBG_OK)
            rc = pydbg__pymalloc_walk(t->reader, l, arenas, maxarenas, &states[0], &t->error);
        if (rc == PYDBG_OK && states[0].arenas != narenas)
            /* obmalloc.c asserts the same: a mismatch is a torn read. */
            rc = pydbg__fail(&t->error, PYDBG_ECORRUPT,
                             "pymalloc: %llu arenas found, narenas_currently_allocated says %llu",
                             (unsigned long long)states[0].arenas, (unsigned long long)narenas);
        if (rc == PYDBG_OK) {
            states[0].interpreter_id = -1;
            *count = 1;
        }
        return rc;
    }
    if (!t->runtime || l->runtime.interpreters_head < 0 || l->interp.next < 0)
        return pydbg__fail(&t->error, PYDBG_ENOTSUP, "no _PyRuntime symbol");
    rc = pydbg__target_read_ptr(t, t->runtime + (uint64_t)l->runtime.interpreters_head, &interp,
                                "the interpreter list");
    for (unsigned n = 0; rc == PYDBG_OK && interp; n++) {
        uint64_t state = interp + (uint64_t)l->obmalloc.interp_state, next = 0;
        int64_t id = 0;
        int shared = 0;
        if (n >= PYDBG__MAX_INTERPRETERS)
            return pydbg__fail(&t->error, PYDBG_ELIMIT, "more than %u interpreters",
                               PYDBG__MAX_INTERPRETERS);
        if (l->obmalloc.root == PYDBG__OBMALLOC_INTERP_PTR)
            rc = pydbg__target_read_ptr(t, state, &state, "interp->obmalloc");
        if (rc == PYDBG_OK && state)
            rc = pydbg__target_read_ptr(t, state + (uint64_t)l->obmalloc.arenas, &arenas,
                                        "obmalloc mgmt.arenas");
        if (rc == PYDBG_OK && state)
            rc = pydbg__target_read(t, state + (uint64_t)l->obmalloc.maxarenas, &maxarenas, 4,
                                    "obmalloc mgmt.maxarenas");
        if (rc == PYDBG_OK && l->interp.id >= 0)
            rc = pydbg__target_read(t, interp + (uint64_t)l->interp.id, &id, 8,
                                    "interpreter id");
        if (rc != PYDBG_OK)
            break;
        /* A sub-interpreter that uses the main one's allocator points at the
         * same state (3.13+) or leaves its own empty (3.12): count it once. */
        for (size_t i = 0; i < *count; i++)
            shared |= keys[i] == arenas;
        if (state && arenas && !shared) {
            if (*count >= capacity)
                return pydbg__fail(&t->error, PYDBG_ELIMIT, "more than %zu pymalloc states",
                                   capacity);
            rc = pydbg__pymalloc_walk(t->reader, l, arenas, maxarenas, &states[*count],
                                      &t->error);
            if (rc != PYDBG_OK)
                break;
            states[*count].interpreter_id = id;
            keys[(*count)++] = arenas;
        }
        rc = pydbg__target_read_ptr(t, interp + (uint64_t)l->interp.next, &next,
                                    "interpreter->next");
        interp = next;
    }
    return rc;
}

int pydbg__pymalloc_take(pydbg_snapshot *s, pydbg__target *t, char *note, size_t note_size)
{
    pydbg__layout layout = t->layout, *l = &layout;
    uint64_t statics[3] = {0, 0, 0};
    pydbg__snap_pymalloc *states;
    uint64_t *keys;
    size_t capacity, count = 0;
    int rc = PYDBG_OK, paused = t->pause_depth > 0;
    note[0] = '\0';
    if (l->obmalloc.root == PYDBG__OBMALLOC_NONE || !layout_plausible(l)) {
        snprintf(note, note_size,
                 "no pymalloc arena usage: the layout of Python %u.%u's allocator is not known",
                 l->major, l->minor);
        return pydbg__fail(&t->error, PYDBG_ENOTSUP, "%s", note);
    }
    if (l->obmalloc.root == PYDBG__OBMALLOC_STATICS) {
        rc = find_statics(t, l, statics, note, note_size);
        if (rc != PYDBG_OK)
            return rc == PYDBG_ENOMEM ? rc : PYDBG_ENOTSUP;
        capacity = 1;
    } else {
        capacity = 256; /* interpreters with an allocator of their own */
    }
    states = calloc(capacity, sizeof *states);
    keys = calloc(capacity, sizeof *keys);
    if (!states || !keys) {
        free(states);
        free(keys);
        return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    }
    for (int attempt = 0; attempt < LIVE_ATTEMPTS; attempt++) {
        rc = take_pass(t, l, statics, states, keys, capacity, &count);
        if (rc == PYDBG_OK || paused || (rc != PYDBG_ECORRUPT && rc != PYDBG_EREAD))
            break;
        /* A running target moved its arenas under the reader: look again. */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < count && rc == PYDBG_OK; i++)
        rc = pydbg__snapshot_add_pymalloc(s, &states[i]);
    free(states);
    free(keys);
    if (rc != PYDBG_OK) {
        snprintf(note, note_size, "no pymalloc arena usage: %s", t->error.message);
        return rc;
    }
    snprintf(note, note_size, "pymalloc arenas of %s%s (as sys._debugmallocstats())",
             l->obmalloc.root == PYDBG__OBMALLOC_STATICS ? "the process"
                                                         : count == 1 ? "the main interpreter"
                                                                      : "each interpreter",
             paused ? "" : ", target running: a best effort");
    return PYDBG_OK;
}
