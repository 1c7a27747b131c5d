/* Decoded code objects, cached by address.
 *
 * A walk meets the same code objects again and again; their names, file and
 * line table never change while the object lives. The cache keeps them
 * decoded, keyed by address. Because an address can be freed and reused by
 * another code object, every hit re-reads the code object's header and checks
 * its type and the pointers of name, filename and line table: the same
 * pointers mean the same immutable strings and table. */
#ifndef PYDBG_WALK_CODE_CACHE_H
#define PYDBG_WALK_CODE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "code/linetable.h"
#include "walk/target.h"

typedef struct pydbg__code_info {
    uint64_t address;
    uint64_t name_ptr, qualname_ptr, filename_ptr, linetable_ptr; /* identity */
    int first_line;
    int64_t code_bytes; /* length of the bytecode in bytes; -1 if unknown */
    int64_t frame_bytes; /* 3.11+: the frame's size in the data stack; -1 if unknown */
    char *name;         /* never NULL */
    char *qualname;     /* NULL before 3.11 */
    char *filename;     /* never NULL */
    uint8_t *linetable;
    size_t linetable_length;
} pydbg__code_info;

int pydbg__code_cache_new(pydbg__code_cache **out);
void pydbg__code_cache_free(pydbg__code_cache *cache);

/* Called between captures: drops everything if the cache grew past its soft
 * limit, so that a long-running sampler of a process that keeps creating code
 * does not grow without bound. Pointers handed out before are invalidated. */
void pydbg__code_cache_maintain(pydbg__code_cache *cache);

/* Returns the decoded code object at `address`, validating a cached entry.
 * The pointer stays valid until the next pydbg__code_cache_maintain().
 * Errors: PYDBG_ECORRUPT (not a code object), read errors, PYDBG_ENOMEM. */
int pydbg__code_lookup(pydbg__target *t, uint64_t address, const pydbg__code_info **out);

/* The bytes of a code object's header that a lookup reads (0: a layout whose
 * header is larger than PYDBG__CODE_HEADER_MAX), and a lookup from those bytes
 * read beforehand (by a caller that reads them along with other memory), or
 * read here when `header_bytes` is NULL. */
#define PYDBG__CODE_HEADER_MAX 512u
size_t pydbg__code_header_span(const pydbg__target *t);
int pydbg__code_lookup_read(pydbg__target *t, uint64_t address, const unsigned char *header_bytes,
                            const pydbg__code_info **out);

/* The source position of the instruction at byte offset `offset` (negative:
 * not started yet, which CPython reports as the first line). */
void pydbg__code_position(const pydbg__target *t, const pydbg__code_info *code, int offset,
                          pydbg__position *out);

/* Number of entries, for tests and benchmarks. */
size_t pydbg__code_cache_size(const pydbg__code_cache *cache);

#endif
