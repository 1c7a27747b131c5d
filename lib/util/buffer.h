/* Growable byte buffers and a string arena.
 *
 * The arena copies strings into large blocks that are freed together, so a
 * capture holding thousands of names makes a handful of allocations. */
#ifndef PYDBG_UTIL_BUFFER_H
#define PYDBG_UTIL_BUFFER_H

#include <stddef.h>

typedef struct pydbg__buffer {
    char *data;
    size_t length;
    size_t capacity;
} pydbg__buffer;

/* Appends bytes; returns PYDBG_OK or PYDBG_ENOMEM (the buffer is unchanged then). */
int pydbg__buffer_append(pydbg__buffer *buf, const void *data, size_t length);
/* Makes room for `extra` more bytes. */
int pydbg__buffer_reserve(pydbg__buffer *buf, size_t extra);
void pydbg__buffer_free(pydbg__buffer *buf);

/* Grows an array `*items` of `*capacity` elements of `size` bytes so that it can
 * hold `needed` elements. PYDBG_ENOMEM on failure (array unchanged). */
int pydbg__grow_array(void **items, size_t *capacity, size_t needed, size_t size);

/* Replaces `*buffer` (`*capacity` bytes) by one of at least `size` bytes that
 * starts on a page; what it held is not kept. For copies of remote memory that
 * starts on a page (data stack chunks do): the kernel copies up to 15 % slower
 * into a destination that sits a little ahead of its source within a page
 * (its loads wait on its own stores to the same low address bits; measured
 * here, 16 KiB: 1360 cycles at the same offset, 1560 at 8 to 48 bytes ahead).
 * PYDBG_ENOMEM on failure (the buffer is unchanged then). */
int pydbg__replace_page_aligned(unsigned char **buffer, size_t *capacity, size_t size);

typedef struct pydbg__arena_block pydbg__arena_block;
typedef struct pydbg__arena {
    pydbg__arena_block *head;
} pydbg__arena;

/* Copies `length` bytes plus a NUL into the arena; NULL when out of memory. */
char *pydbg__arena_strndup(pydbg__arena *arena, const char *text, size_t length);
char *pydbg__arena_strdup(pydbg__arena *arena, const char *text);
/* Zeroed storage for `size` bytes, aligned for any object. */
void *pydbg__arena_alloc(pydbg__arena *arena, size_t size);
void pydbg__arena_free(pydbg__arena *arena);

#endif
