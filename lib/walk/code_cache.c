#include "walk/code_cache.h"

#include <stdlib.h>
#include <string.h>

#include "pydebug/errors.h"
#include "walk/objects.h"

/* The table never shrinks below this and is cleared between captures once it
 * holds more than SOFT_LIMIT entries; HARD_LIMIT bounds it within one capture. */
#define INITIAL_SLOTS 1024u
#define SOFT_LIMIT 65536u
#define HARD_LIMIT (1u << 20)
#define MAX_LINETABLE_BYTES (1u << 22)

struct pydbg__code_cache {
    pydbg__code_info **slots; /* open addressing, linear probing */
    size_t slot_count;
    size_t used;
};

int pydbg__code_cache_new(pydbg__code_cache **out)
{
    pydbg__code_cache *cache = calloc(1, sizeof *cache);
    if (!cache)
        return PYDBG_ENOMEM;
    cache->slots = calloc(INITIAL_SLOTS, sizeof *cache->slots);
    if (!cache->slots) {
        free(cache);
        return PYDBG_ENOMEM;
    }
    cache->slot_count = INITIAL_SLOTS;
    *out = cache;
    return PYDBG_OK;
}

static void info_free(pydbg__code_info *info)
{
    if (!info)
        return;
    free(info->name);
    free(info->qualname);
    free(info->filename);
    free(info->linetable);
    free(info);
}

static void clear(pydbg__code_cache *cache)
{
    for (size_t i = 0; i < cache->slot_count; i++) {
        info_free(cache->slots[i]);
        cache->slots[i] = NULL;
    }
    cache->used = 0;
}

void pydbg__code_cache_free(pydbg__code_cache *cache)
{
    if (!cache)
        return;
    clear(cache);
    free(cache->slots);
    free(cache);
}

void pydbg__code_cache_maintain(pydbg__code_cache *cache)
{
    if (cache->used > SOFT_LIMIT)
        clear(cache);
}

size_t pydbg__code_cache_size(const pydbg__code_cache *cache)
{
    return cache->used;
}

static size_t slot_of(const pydbg__code_cache *cache, uint64_t address)
{
    /* Code objects are 16-byte aligned: mix the bits before masking. */
    uint64_t h = (address >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (cache->slot_count - 1);
}

static pydbg__code_info **find_slot(pydbg__code_cache *cache, uint64_t address)
{
    size_t i = slot_of(cache, address);
    while (cache->slots[i] && cache->slots[i]->address != address)
        i = (i + 1) & (cache->slot_count - 1);
    return &cache->slots[i];
}

static int grow(pydbg__code_cache *cache)
{
    size_t old_count = cache->slot_count;
    pydbg__code_info **old = cache->slots;
    pydbg__code_info **slots = calloc(old_count * 2, sizeof *slots);
    if (!slots)
        return PYDBG_ENOMEM;
    cache->slots = slots;
    cache->slot_count = old_count * 2;
    for (size_t i = 0; i < old_count; i++)
        if (old[i])
            *find_slot(cache, old[i]->address) = old[i];
    free(old);
    return PYDBG_OK;
}

static char *copy_string(pydbg__target *t, uint64_t address, int *rc)
{
    char text[PYDBG__MAX_STRING_BYTES];
    int truncated;
    char *copy;
    *rc = pydbg__obj_read_string(t, address, text, sizeof text, &truncated);
    if (*rc != PYDBG_OK)
        return NULL;
    copy = strdup(text);
    if (!copy)
        *rc = pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    return copy;
}

/* Copies the bytes of a bytes object (the line table). */
static int copy_bytes(pydbg__target *t, uint64_t address, uint8_t **out, size_t *length)
{
    const pydbg__layout *l = &t->layout;
    unsigned char head[64];
    int64_t size;
    int rc = pydbg__target_read(t, address, head, (size_t)l->bytes.ob_sval, "line table");
    if (rc != PYDBG_OK)
        return rc;
    if (pydbg__load_u64(head, l->object.ob_type) != t->types.bytes)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "line table at 0x%llx is not bytes",
                           (unsigned long long)address);
    size = (int64_t)pydbg__load_u64(head, l->bytes.ob_size);
    if (size < 0 || size > (int64_t)MAX_LINETABLE_BYTES)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "line table of %lld bytes",
                           (long long)size);
    *out = malloc((size_t)size + 1);
    if (!*out)
        return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    rc = pydbg__target_read(t, address + (uint64_t)l->bytes.ob_sval, *out, (size_t)size,
                            "line table data");
    if (rc != PYDBG_OK) {
        free(*out);
        *out = NULL;
        return rc;
    }
    *length = (size_t)size;
    return PYDBG_OK;
}

/* The fields of a code object that identify it, read in one go. */
struct code_header {
    uint64_t type, name, qualname, filename, linetable, code;
    int first_line;
    int64_t var_size;
    int64_t frame_bytes;
};

static int32_t header_span(const pydbg__layout *l)
{
    const int32_t fields[] = {l->object.ob_type,       l->object.ob_size,
                              l->code.co_name,         l->code.co_qualname,
                              l->code.co_filename,     l->code.co_linetable,
                              l->code.co_code,         l->code.co_firstlineno,
                              l->code_frame.co_nlocalsplus, l->code_frame.co_stacksize};
    return pydbg__span(fields, sizeof fields / sizeof fields[0]);
}

size_t pydbg__code_header_span(const pydbg__target *t)
{
    int32_t span = header_span(&t->layout);
    return span > 0 && (size_t)span <= PYDBG__CODE_HEADER_MAX ? (size_t)span : 0;
}

/* The header of the code object at `address` from `local`, its first
 * pydbg__code_header_span() bytes. */
static int parse_header(pydbg__target *t, uint64_t address, const unsigned char *local,
                        struct code_header *h)
{
    const pydbg__layout *l = &t->layout;
    h->type = pydbg__load_u64(local, l->object.ob_type);
    if (h->type != t->types.code)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "object at 0x%llx is not a code object",
                           (unsigned long long)address);
    h->name = pydbg__load_u64(local, l->code.co_name);
    h->qualname = l->code.co_qualname >= 0 ? pydbg__load_u64(local, l->code.co_qualname) : 0;
    h->filename = pydbg__load_u64(local, l->code.co_filename);
    h->linetable = pydbg__load_u64(local, l->code.co_linetable);
    h->code = l->code.co_code >= 0 ? pydbg__load_u64(local, l->code.co_code) : 0;
    h->first_line = (int)pydbg__load_u32(local, l->code.co_firstlineno);
    h->var_size = (int64_t)pydbg__load_u64(local, l->object.ob_size);
    h->frame_bytes = -1;
    if (l->code_frame.co_nlocalsplus >= 0 && l->code_frame.co_stacksize >= 0 &&
        l->iframe.localsplus > 0) {
        int32_t locals = (int32_t)pydbg__load_u32(local, l->code_frame.co_nlocalsplus);
        int32_t stack = (int32_t)pydbg__load_u32(local, l->code_frame.co_stacksize);
        if (locals >= 0 && stack >= 0 && locals < (1 << 20) && stack < (1 << 20))
            h->frame_bytes = (int64_t)l->iframe.localsplus / 8 * 8 + ((int64_t)locals + stack) * 8;
    }
    return PYDBG_OK;
}

static int read_header(pydbg__target *t, uint64_t address, struct code_header *h)
{
    unsigned char local[PYDBG__CODE_HEADER_MAX];
    size_t span = pydbg__code_header_span(t);
    int rc;
    if (span == 0)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "code object layout too large");
    rc = pydbg__target_read(t, address, local, span, "code object");
    if (rc != PYDBG_OK)
        return rc;
    return parse_header(t, address, local, h);
}

static int same_identity(const pydbg__code_info *info, const struct code_header *h)
{
    return info->name_ptr == h->name && info->qualname_ptr == h->qualname &&
           info->filename_ptr == h->filename && info->linetable_ptr == h->linetable &&
           info->first_line == h->first_line;
}

static int decode(pydbg__target *t, uint64_t address, const struct code_header *h,
                  pydbg__code_info **out)
{
    int rc = PYDBG_OK;
    pydbg__code_info *info = calloc(1, sizeof *info);
    if (!info)
        return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
    info->address = address;
    info->name_ptr = h->name;
    info->qualname_ptr = h->qualname;
    info->filename_ptr = h->filename;
    info->linetable_ptr = h->linetable;
    info->first_line = h->first_line;
    info->code_bytes = -1;
    info->frame_bytes = h->frame_bytes;
    info->name = copy_string(t, h->name, &rc);
    if (rc == PYDBG_OK)
        info->filename = copy_string(t, h->filename, &rc);
    if (rc == PYDBG_OK && h->qualname)
        info->qualname = copy_string(t, h->qualname, &rc);
    if (rc == PYDBG_OK)
        rc = copy_bytes(t, h->linetable, &info->linetable, &info->linetable_length);
    if (rc == PYDBG_OK) {
        if (t->layout.code.co_code_adaptive >= 0) {
            /* 3.11+: the code object is a variable-size object of code units. */
            if (h->var_size < 0 || h->var_size > (1 << 28))
                rc = pydbg__fail(&t->error, PYDBG_ECORRUPT, "code object of %lld units",
                                 (long long)h->var_size);
            info->code_bytes = h->var_size * 2;
        } else if (h->code) {
            uint64_t size;
            rc = pydbg__target_read_ptr(t, h->code + (uint64_t)t->layout.bytes.ob_size, &size,
                                        "bytecode size");
            if (rc == PYDBG_OK && size < (1u << 28))
                info->code_bytes = (int64_t)size;
        }
    }
    if (rc != PYDBG_OK) {
        info_free(info);
        return rc;
    }
    *out = info;
    return PYDBG_OK;
}

int pydbg__code_lookup(pydbg__target *t, uint64_t address, const pydbg__code_info **out)
{
    return pydbg__code_lookup_read(t, address, NULL, out);
}

int pydbg__code_lookup_read(pydbg__target *t, uint64_t address, const unsigned char *header_bytes,
                            const pydbg__code_info **out)
{
    pydbg__code_cache *cache = t->codes;
    struct code_header header;
    pydbg__code_info **slot, *info;
    int rc = header_bytes ? parse_header(t, address, header_bytes, &header)
                          : read_header(t, address, &header);
    if (rc != PYDBG_OK)
        return rc;
    slot = find_slot(cache, address);
    if (*slot) {
        if (same_identity(*slot, &header)) {
            *out = *slot;
            return PYDBG_OK;
        }
        /* The address was reused by another code object: decode it afresh. */
        rc = decode(t, address, &header, &info);
        if (rc != PYDBG_OK)
            return rc;
        info_free(*slot);
        *slot = info;
        *out = info;
        return PYDBG_OK;
    }
    if (cache->used >= HARD_LIMIT)
        return pydbg__fail(&t->error, PYDBG_ELIMIT, "more than %u distinct code objects",
                           HARD_LIMIT);
    rc = decode(t, address, &header, &info);
    if (rc != PYDBG_OK)
        return rc;
    if ((cache->used + 1) * 2 > cache->slot_count) {
        rc = grow(cache);
        if (rc != PYDBG_OK) {
            info_free(info);
            return pydbg__fail(&t->error, rc, "out of memory");
        }
    }
    slot = find_slot(cache, address);
    *slot = info;
    cache->used++;
    *out = info;
    return PYDBG_OK;
}

void pydbg__code_position(const pydbg__target *t, const pydbg__code_info *code, int offset,
                          pydbg__position *out)
{
    /* The decoders treat a negative offset (not started) as CPython does. */
    out->line = out->end_line = out->column = out->end_column = -1;
    switch (t->layout.line_model) {
    case PYDBG__LINES_LNOTAB:
        out->line = pydbg__lnotab_line(code->linetable, code->linetable_length, code->first_line,
                                       offset, t->layout.major >= 3);
        break;
    case PYDBG__LINES_LINETABLE_310:
        out->line = pydbg__linetable310_line(code->linetable, code->linetable_length,
                                             code->first_line, offset);
        break;
    case PYDBG__LINES_LOCATIONS_311:
        pydbg__locations_lookup(code->linetable, code->linetable_length, code->first_line,
                                offset, out);
        break;
    default:
        break;
    }
}
