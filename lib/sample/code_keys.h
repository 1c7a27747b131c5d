/* Code keys: stable numbers for the code objects a sampler has seen, with
 * their names and a memo of instruction offset -> line.
 *
 * The sampler's hot path maps a code object's address to its key with one
 * hash probe and no read of the target. An address the target freed and
 * reused for another code object is caught when the instruction pointer falls
 * outside the cached code's size, and by a slow, rolling revalidation of
 * cached entries (see sampler.c); either way the new object gets a new key. */
#ifndef PYDBG_SAMPLE_CODE_KEYS_H
#define PYDBG_SAMPLE_CODE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buffer.h"
#include "walk/code_cache.h"
#include "walk/target.h"

typedef struct pydbg__code_key {
    uint64_t key; /* 1-based index into the key table */
    uint64_t address;
    uint64_t name_ptr, filename_ptr, linetable_ptr; /* identity, as in the code cache */
    int first_line;
    int64_t code_bytes;
    int64_t frame_bytes; /* 3.11+: size in the data stack, -1 if unknown */
    const char *function, *qualname, *filename; /* in the key table's arena */
    uint8_t *linetable;
    size_t linetable_length;
    int32_t *lines; /* memo per 2-byte code unit (per byte on 2.7): 0 = not decoded yet */
    size_t lines_count;
} pydbg__code_key;

typedef struct pydbg__code_keys {
    pydbg__code_key **by_key; /* index key-1 */
    size_t count, capacity;
    pydbg__code_key **slots; /* address -> live entry (open addressing) */
    size_t slot_count, slot_used;
    size_t revalidate_cursor;
    /* Grows whenever an address stops naming the entry it named: whatever was
     * memoised by code address before (the sampler's per-frame memos) is stale. */
    uint64_t generation;
    pydbg__arena arena;
} pydbg__code_keys;

int pydbg__code_keys_init(pydbg__code_keys *keys);
void pydbg__code_keys_free(pydbg__code_keys *keys);

/* The live entry for `address`, or NULL: one hash probe, no reads. */
pydbg__code_key *pydbg__code_keys_find(pydbg__code_keys *keys, uint64_t address);

/* Reads and validates the code object at `address` and returns its entry,
 * creating a new key if the address is new or now holds another object. */
int pydbg__code_keys_resolve(pydbg__code_keys *keys, pydbg__target *t, uint64_t address,
                             pydbg__code_key **out);

/* Revalidation, one cached entry at a time (round robin): the next entry to
 * check (NULL: none), then the check, which retires the entry if its address
 * now holds another code object. `header_bytes`: the entry's code header,
 * pydbg__code_header_span() bytes read beforehand, or NULL to read it here.
 * Returns an error only for a gone process or no memory. */
pydbg__code_key *pydbg__code_keys_next_to_revalidate(pydbg__code_keys *keys);
/* The entry of `key` if its address still names it (NULL: retired, or no such key). */
pydbg__code_key *pydbg__code_keys_live(pydbg__code_keys *keys, uint64_t key);
int pydbg__code_keys_revalidate(pydbg__code_keys *keys, pydbg__target *t, pydbg__code_key *entry,
                                const unsigned char *header_bytes);

/* The line of byte offset `offset` in the code (memoised). */
int pydbg__code_key_line(const pydbg__target *t, pydbg__code_key *code, int offset);

const pydbg__code_key *pydbg__code_keys_get(const pydbg__code_keys *keys, uint64_t key);

#endif
