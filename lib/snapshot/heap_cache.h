/* A caching reader over the target's readable mappings (heap_cache.c), and
 * the heap census that uses it (census.c). */
#ifndef PYDBG_SNAPSHOT_HEAP_CACHE_H
#define PYDBG_SNAPSHOT_HEAP_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "mem/reader.h"

/* [start, end) of target memory. */
typedef struct pydbg__range {
    uint64_t start, end;
} pydbg__range;

/* Wraps `inner` (not owned: destroy it after the cache) with a chunk cache
 * limited to the readable `ranges` (copied) and to about `limit_bytes` of
 * local memory. */
int pydbg__heap_cache_open(pydbg__reader **out, pydbg__reader *inner, const pydbg__range *ranges,
                           size_t count, size_t limit_bytes);

/* Chunks read from the inner reader, reads passed through, bytes cached now. */
void pydbg__heap_cache_stats(const pydbg__reader *reader, uint64_t *chunk_reads,
                             uint64_t *fallbacks, size_t *bytes);

#endif
