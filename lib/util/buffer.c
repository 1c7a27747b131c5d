#include "util/buffer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pydebug/errors.h"

int pydbg__grow_array(void **items, size_t *capacity, size_t needed, size_t size)
{
    size_t new_capacity;
    void *grown;
    if (needed <= *capacity)
        return PYDBG_OK;
    new_capacity = *capacity ? *capacity : 8;
    while (new_capacity < needed) {
        if (new_capacity > SIZE_MAX / 2)
            return PYDBG_ENOMEM;
        new_capacity *= 2;
    }
    if (size && new_capacity > SIZE_MAX / size)
        return PYDBG_ENOMEM;
    grown = realloc(*items, new_capacity * size);
    if (!grown)
        return PYDBG_ENOMEM;
    *items = grown;
    *capacity = new_capacity;
    return PYDBG_OK;
}

int pydbg__replace_page_aligned(unsigned char **buffer, size_t *capacity, size_t size)
{
    const size_t page = 4096;
    unsigned char *fresh;
    if (size > SIZE_MAX - page)
        return PYDBG_ENOMEM;
    size = (size + page - 1) / page * page; /* aligned_alloc wants a multiple */
    fresh = aligned_alloc(page, size ? size : page);
    if (!fresh)
        return PYDBG_ENOMEM;
    free(*buffer);
    *buffer = fresh;
    *capacity = size;
    return PYDBG_OK;
}

int pydbg__buffer_reserve(pydbg__buffer *buf, size_t extra)
{
    void *data = buf->data;
    int rc;
    if (extra > SIZE_MAX - buf->length - 1)
        return PYDBG_ENOMEM;
    rc = pydbg__grow_array(&data, &buf->capacity, buf->length + extra + 1, 1);
    buf->data = data;
    return rc;
}

int pydbg__buffer_append(pydbg__buffer *buf, const void *data, size_t length)
{
    int rc = pydbg__buffer_reserve(buf, length);
    if (rc != PYDBG_OK)
        return rc;
    if (length)
        memcpy(buf->data + buf->length, data, length);
    buf->length += length;
    buf->data[buf->length] = '\0';
    return PYDBG_OK;
}

void pydbg__buffer_free(pydbg__buffer *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->length = buf->capacity = 0;
}

/* Blocks are at least this large so that small strings share allocations. */
#define ARENA_BLOCK_SIZE 16384

struct pydbg__arena_block {
    pydbg__arena_block *next;
    size_t used;
    size_t capacity;
    _Alignas(max_align_t) unsigned char data[];
};

void *pydbg__arena_alloc(pydbg__arena *arena, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    pydbg__arena_block *block = arena->head;
    size_t start;
    if (size > SIZE_MAX - align - sizeof(pydbg__arena_block))
        return NULL;
    if (block) {
        start = (block->used + align - 1) & ~(align - 1);
        if (start <= block->capacity && block->capacity - start >= size) {
            block->used = start + size;
            memset(block->data + start, 0, size);
            return block->data + start;
        }
    }
    {
        size_t capacity = size > ARENA_BLOCK_SIZE ? size : ARENA_BLOCK_SIZE;
        block = malloc(sizeof *block + capacity);
        if (!block)
            return NULL;
        block->capacity = capacity;
        block->used = size;
        block->next = arena->head;
        arena->head = block;
        memset(block->data, 0, size);
        return block->data;
    }
}

char *pydbg__arena_strndup(pydbg__arena *arena, const char *text, size_t length)
{
    char *copy;
    if (length == SIZE_MAX)
        return NULL;
    copy = pydbg__arena_alloc(arena, length + 1);
    if (!copy)
        return NULL;
    if (length)
        memcpy(copy, text, length);
    copy[length] = '\0';
    return copy;
}

char *pydbg__arena_strdup(pydbg__arena *arena, const char *text)
{
    return pydbg__arena_strndup(arena, text, strlen(text));
}

void pydbg__arena_free(pydbg__arena *arena)
{
    pydbg__arena_block *block = arena->head;
    while (block) {
        pydbg__arena_block *next = block->next;
        free(block);
        block = next;
    }
    arena->head = NULL;
}
