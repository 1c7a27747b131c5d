/* A reader that caches the target's memory in aligned 256 KiB chunks.
 *
 * Walking a million-object GC list with one system call per object costs a
 * few microseconds each; objects sit densely in pymalloc arenas, so reading
 * the chunk around an object once and serving every later read of that
 * chunk locally turns a million system calls into a few hundred. A chunk is
 * cut to the readable mapping run that holds the address which brought it
 * in, so a read never crosses into unmapped memory; reads the cache cannot
 * serve go to the wrapped reader unchanged. When the cached bytes reach the
 * limit, the whole cache is dropped and refilled on demand. */
#include "snapshot/heap_cache.h"

#include <stdlib.h>
#include <string.h>

#include "pydebug/errors.h"

#define CHUNK_SHIFT 18
#define CHUNK_SIZE ((uint64_t)1 << CHUNK_SHIFT)
#define EMPTY_SLOT UINT64_MAX

typedef struct chunk {
    uint64_t index; /* address >> CHUNK_SHIFT; EMPTY_SLOT when free */
    uint32_t lo, hi; /* the valid bytes [lo, hi) of the chunk; lo == hi: unreadable */
    unsigned char *data;
} chunk;

typedef struct heap_cache {
    pydbg__reader base;
    pydbg__reader *inner;
    pydbg__range *ranges; /* readable ranges, sorted, merged */
    size_t range_count;
    chunk *slots;
    size_t slot_count; /* a power of two */
    size_t used;
    size_t bytes, limit;
    uint64_t chunk_reads, fallbacks;
    /* The chunk of the last read: consecutive objects of a GC list are mostly
     * in the same chunk, and this skips the hash lookup for them. */
    uint64_t last_index;
    const chunk *last;
} heap_cache;

static int cmp_range(const void *a, const void *b)
{
    const pydbg__range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* The readable range holding `address`, or NULL (binary search). */
static const pydbg__range *range_at(const heap_cache *c, uint64_t address)
{
    size_t lo = 0, hi = c->range_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (address < c->ranges[mid].start)
            hi = mid;
        else if (address >= c->ranges[mid].end)
            lo = mid + 1;
        else
            return &c->ranges[mid];
    }
    return NULL;
}

static size_t slot_of(uint64_t index, size_t slot_count)
{
    /* Fibonacci hashing: chunk indexes are consecutive, the product spreads them. */
    return (size_t)((index * 0x9E3779B97F4A7C15ull) >> 20) & (slot_count - 1);
}

static void drop_all(heap_cache *c)
{
    c->last = NULL;
    for (size_t i = 0; i < c->slot_count; i++) {
        free(c->slots[i].data); /* NULL in free slots */
        c->slots[i].data = NULL;
        c->slots[i].index = EMPTY_SLOT;
    }
    c->used = 0;
    c->bytes = 0;
}

static int grow_table(heap_cache *c)
{
    size_t count = c->slot_count * 2;
    chunk *slots = calloc(count, sizeof *slots);
    if (!slots)
        return PYDBG_ENOMEM;
    for (size_t i = 0; i < count; i++)
        slots[i].index = EMPTY_SLOT;
    for (size_t i = 0; i < c->slot_count; i++) {
        size_t j;
        if (c->slots[i].index == EMPTY_SLOT)
            continue;
        j = slot_of(c->slots[i].index, count);
        while (slots[j].index != EMPTY_SLOT)
            j = (j + 1) & (count - 1);
        slots[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = slots;
    c->slot_count = count;
    c->last = NULL; /* the chunks moved */
    return PYDBG_OK;
}

/* The chunk holding `address`, read in if needed; NULL when out of memory. */
static chunk *get_chunk(heap_cache *c, uint64_t address)
{
    uint64_t index = address >> CHUNK_SHIFT, base = index << CHUNK_SHIFT;
    size_t j = slot_of(index, c->slot_count);
    const pydbg__range *r;
    chunk *ch;
    while (c->slots[j].index != EMPTY_SLOT) {
        if (c->slots[j].index == index)
            return &c->slots[j];
        j = (j + 1) & (c->slot_count - 1);
    }
    if (c->bytes + CHUNK_SIZE > c->limit)
        drop_all(c);
    if ((c->used + 1) * 2 > c->slot_count) {
        if (grow_table(c) != PYDBG_OK)
            return NULL;
    }
    j = slot_of(index, c->slot_count);
    while (c->slots[j].index != EMPTY_SLOT)
        j = (j + 1) & (c->slot_count - 1);
    ch = &c->slots[j];
    ch->index = index;
    ch->lo = ch->hi = 0;
    ch->data = NULL;
    c->used++;
    r = range_at(c, address);
    if (r) {
        uint64_t lo = r->start > base ? r->start : base;
        uint64_t hi = r->end - base < CHUNK_SIZE ? r->end : base + CHUNK_SIZE;
        ch->data = malloc(CHUNK_SIZE);
        if (!ch->data)
            return NULL;
        c->bytes += CHUNK_SIZE;
        c->chunk_reads++;
        c->base.read_calls++;
        if (pydbg__read(c->inner, lo, ch->data + (lo - base), (size_t)(hi - lo)) == PYDBG_OK) {
            ch->lo = (uint32_t)(lo - base);
            ch->hi = (uint32_t)(hi - base);
        }
    }
    return ch;
}

/* Copies [address, address+length) from cached chunks; 0 if the cache cannot serve it. */
static int copy_cached(heap_cache *c, uint64_t address, unsigned char *out, size_t length)
{
    while (length > 0) {
        chunk *ch = get_chunk(c, address);
        uint64_t offset = address & (CHUNK_SIZE - 1);
        size_t n = (size_t)(CHUNK_SIZE - offset);
        if (n > length)
            n = length;
        if (!ch || ch->lo == ch->hi || offset < ch->lo || offset + n > ch->hi)
            return 0;
        c->last = ch;
        c->last_index = ch->index;
        memcpy(out, ch->data + offset, n);
        out += n;
        address += n;
        length -= n;
    }
    return 1;
}

static int cache_read(pydbg__reader *reader, uint64_t address, void *buffer, size_t length)
{
    heap_cache *c = (heap_cache *)reader;
    if (length == 0)
        return PYDBG_OK;
    if (c->last && (address >> CHUNK_SHIFT) == c->last_index) {
        uint64_t offset = address & (CHUNK_SIZE - 1);
        if (offset >= c->last->lo && offset < c->last->hi && length <= c->last->hi - offset) {
            memcpy(buffer, c->last->data + offset, length);
            return PYDBG_OK;
        }
    }
    if (address <= UINT64_MAX - length && length <= 4 * CHUNK_SIZE &&
        copy_cached(c, address, buffer, length))
        return PYDBG_OK;
    c->fallbacks++;
    reader->read_calls++;
    return pydbg__read(c->inner, address, buffer, length);
}

static int cache_read_partial(pydbg__reader *reader, uint64_t address, void *buffer,
                              size_t length, size_t *got)
{
    heap_cache *c = (heap_cache *)reader;
    const pydbg__range *r = range_at(c, address);
    *got = 0;
    if (r && length > 0) {
        /* What the readable range allows, from the cache when it can. */
        size_t n = r->end - address < length ? (size_t)(r->end - address) : length;
        if (cache_read(reader, address, buffer, n) == PYDBG_OK) {
            *got = n;
            return PYDBG_OK;
        }
    }
    reader->read_calls++;
    return pydbg__read_partial(c->inner, address, buffer, length, got);
}

static int cache_read_many(pydbg__reader *reader, pydbg__read_piece *pieces, size_t count)
{
    return pydbg__reader_read_many_loop(reader, pieces, count);
}

static void cache_destroy(pydbg__reader *reader)
{
    heap_cache *c = (heap_cache *)reader;
    drop_all(c);
    free(c->slots);
    free(c->ranges);
    free(c);
}

static const pydbg__reader_ops cache_ops = {
    cache_read, cache_read_many, cache_read_partial, cache_destroy,
};

int pydbg__heap_cache_open(pydbg__reader **out, pydbg__reader *inner, const pydbg__range *ranges,
                           size_t count, size_t limit_bytes)
{
    heap_cache *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return PYDBG_ENOMEM;
    c->base.ops = &cache_ops;
    c->inner = inner;
    c->limit = limit_bytes < 4 * CHUNK_SIZE ? 4 * CHUNK_SIZE : limit_bytes;
    c->slot_count = 1024;
    c->slots = calloc(c->slot_count, sizeof *c->slots);
    c->ranges = malloc((count ? count : 1) * sizeof *c->ranges);
    if (!c->slots || !c->ranges) {
        free(c->slots);
        free(c->ranges);
        free(c);
        return PYDBG_ENOMEM;
    }
    for (size_t i = 0; i < c->slot_count; i++)
        c->slots[i].index = EMPTY_SLOT;
    for (size_t i = 0; i < count; i++)
        if (ranges[i].end > ranges[i].start)
            c->ranges[c->range_count++] = ranges[i];
    qsort(c->ranges, c->range_count, sizeof *c->ranges, cmp_range);
    /* Merge touching or overlapping ranges, so that a chunk spans them. */
    {
        size_t w = 0;
        for (size_t i = 0; i < c->range_count; i++) {
            if (w > 0 && c->ranges[i].start <= c->ranges[w - 1].end) {
                if (c->ranges[i].end > c->ranges[w - 1].end)
                    c->ranges[w - 1].end = c->ranges[i].end;
            } else {
                c->ranges[w++] = c->ranges[i];
            }
        }
        c->range_count = w;
    }
    *out = &c->base;
    return PYDBG_OK;
}

void pydbg__heap_cache_stats(const pydbg__reader *reader, uint64_t *chunk_reads,
                             uint64_t *fallbacks, size_t *bytes)
{
    const heap_cache *c = (const heap_cache *)reader;
    if (chunk_reads)
        *chunk_reads = c->chunk_reads;
    if (fallbacks)
        *fallbacks = c->fallbacks;
    if (bytes)
        *bytes = c->bytes;
}
