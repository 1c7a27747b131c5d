/* A reader over copies of memory regions held by this process.
 *
 * It stands in for a live process in unit tests and when fuzzing the walker
 * on recorded memory, so it enforces the same contract: a read succeeds only
 * when every byte lies inside one region. Regions added later take precedence
 * where they overlap earlier ones, which lets a test patch a few bytes of a
 * larger image. */
#include <stdlib.h>
#include <string.h>

#include "mem/reader.h"
#include "pydebug/errors.h"
#include "util/buffer.h"

typedef struct buffer_region {
    uint64_t base;
    uint64_t length;
    unsigned char *data;
} buffer_region;

typedef struct buffer_reader {
    pydbg__reader base;
    buffer_region *regions;
    size_t count;
    size_t capacity;
} buffer_reader;

/* The newest region containing `address`; NULL if none. */
static const buffer_region *region_at(const buffer_reader *br, uint64_t address)
{
    for (size_t i = br->count; i-- > 0;) {
        const buffer_region *region = &br->regions[i];
        if (address >= region->base && address - region->base < region->length)
            return region;
    }
    return NULL;
}

/* The newest region holding all of [address, address+length), length > 0. */
static const buffer_region *region_holding(const buffer_reader *br, uint64_t address,
                                           size_t length)
{
    for (size_t i = br->count; i-- > 0;) {
        const buffer_region *region = &br->regions[i];
        if (address >= region->base && address - region->base <= region->length &&
            length <= region->length - (address - region->base))
            return region;
    }
    return NULL;
}

static int buffer_read(pydbg__reader *reader, uint64_t address, void *buffer, size_t length)
{
    buffer_reader *br = (buffer_reader *)reader;
    const buffer_region *region;
    reader->read_calls++;
    if (length == 0)
        return PYDBG_OK;
    region = region_holding(br, address, length);
    if (!region)
        return PYDBG_EREAD;
    memcpy(buffer, region->data + (address - region->base), length);
    return PYDBG_OK;
}

static int buffer_read_many(pydbg__reader *reader, pydbg__read_piece *pieces, size_t count)
{
    buffer_reader *br = (buffer_reader *)reader;
    /* One call, as a scattered process_vm_readv would be. */
    reader->read_calls++;
    for (size_t i = 0; i < count; i++) {
        const buffer_region *region;
        if (pieces[i].length == 0)
            continue;
        region = region_holding(br, pieces[i].address, pieces[i].length);
        if (!region)
            return PYDBG_EREAD;
        memcpy(pieces[i].buffer, region->data + (pieces[i].address - region->base),
               pieces[i].length);
    }
    return PYDBG_OK;
}

static int buffer_read_partial(pydbg__reader *reader, uint64_t address, void *buffer,
                               size_t length, size_t *got)
{
    buffer_reader *br = (buffer_reader *)reader;
    unsigned char *out = buffer;
    size_t done = 0;
    reader->read_calls++;
    /* Like a process read, continue into a region that starts exactly where
     * the previous one ends. Each step consumes at least one byte and there
     * can be no more useful steps than regions. */
    for (size_t step = 0; done < length && step < br->count; step++) {
        uint64_t at = address + done;
        const buffer_region *region;
        size_t available;
        size_t chunk;
        if (at < address) /* wrapped around the address space */
            break;
        region = region_at(br, at);
        if (!region)
            break;
        available = (size_t)(region->length - (at - region->base));
        chunk = length - done < available ? length - done : available;
        memcpy(out + done, region->data + (at - region->base), chunk);
        done += chunk;
    }
    *got = done;
    if (done == 0 && length > 0)
        return PYDBG_EREAD;
    return PYDBG_OK;
}

static void buffer_destroy(pydbg__reader *reader)
{
    buffer_reader *br = (buffer_reader *)reader;
    for (size_t i = 0; i < br->count; i++)
        free(br->regions[i].data);
    free(br->regions);
    free(br);
}

static const pydbg__reader_ops buffer_ops = {
    .read = buffer_read,
    .read_many = buffer_read_many,
    .read_partial = buffer_read_partial,
    .destroy = buffer_destroy,
};

int pydbg__reader_open_buffer(pydbg__reader **out)
{
    buffer_reader *br;
    if (!out)
        return PYDBG_EINVAL;
    *out = NULL;
    br = calloc(1, sizeof *br);
    if (!br)
        return PYDBG_ENOMEM;
    br->base.ops = &buffer_ops;
    *out = &br->base;
    return PYDBG_OK;
}

int pydbg__reader_buffer_add(pydbg__reader *reader, uint64_t base, const void *data, size_t length)
{
    buffer_reader *br = (buffer_reader *)reader;
    void *regions;
    unsigned char *copy;
    int rc;
    if (!reader || reader->ops != &buffer_ops || (length && !data))
        return PYDBG_EINVAL;
    /* A region must not wrap around the end of the address space. */
    if (length && base + (length - 1) < base)
        return PYDBG_EINVAL;
    regions = br->regions;
    rc = pydbg__grow_array(&regions, &br->capacity, br->count + 1, sizeof *br->regions);
    br->regions = regions;
    if (rc != PYDBG_OK)
        return rc;
    copy = malloc(length ? length : 1);
    if (!copy)
        return PYDBG_ENOMEM;
    if (length)
        memcpy(copy, data, length);
    br->regions[br->count].base = base;
    br->regions[br->count].length = length;
    br->regions[br->count].data = copy;
    br->count++;
    return PYDBG_OK;
}
