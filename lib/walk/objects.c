#include "walk/objects.h"

#include <string.h>

#include "pydebug/errors.h"

/* A first read of this many bytes covers the header and the text of most
 * names in one system call; longer strings take a second read. */
#define STRING_FIRST_READ 256

int pydbg__obj_type(pydbg__target *t, uint64_t address, uint64_t *type)
{
    if (address == 0)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "NULL object pointer");
    return pydbg__target_read_ptr(t, address + (uint64_t)t->layout.object.ob_type, type,
                                  "object type");
}

/* Appends code point `cp` as UTF-8; returns the bytes written, 0 if it does not fit. */
static size_t put_utf8(char *out, size_t room, uint32_t cp)
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD; /* lone surrogates (surrogateescape) print as the replacement char */
    if (cp < 0x80) {
        if (room < 1)
            return 0;
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        if (room < 2)
            return 0;
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        if (room < 3)
            return 0;
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (room < 4)
        return 0;
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Converts `count` code units of `kind` bytes each to UTF-8. */
static void units_to_utf8(const unsigned char *data, size_t count, unsigned kind, char *out,
                          size_t capacity, int *truncated)
{
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t cp;
        size_t n;
        if (kind == 1) {
            cp = data[i];
        } else if (kind == 2) {
            cp = (uint32_t)data[2 * i] | (uint32_t)data[2 * i + 1] << 8;
            /* A surrogate pair (2.7 narrow builds) is one character. */
            if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < count) {
                uint32_t low = (uint32_t)data[2 * i + 2] | (uint32_t)data[2 * i + 3] << 8;
                if (low >= 0xDC00 && low < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    i++;
                }
            }
        } else
            cp = pydbg__load_u32(data, (int32_t)(4 * i));
        n = put_utf8(out + used, capacity - 1 - used, cp);
        if (n == 0) {
            *truncated = 1;
            break;
        }
        used += n;
    }
    out[used] = '\0';
}

/* Reads `length` bytes at `address` into `local` (capacity `local_size`),
 * reusing the `have` bytes already there from the first read. */
static int read_rest(pydbg__target *t, uint64_t address, unsigned char *local, size_t have,
                     size_t length)
{
    if (length <= have)
        return PYDBG_OK;
    return pydbg__target_read(t, address + have, local + have, length - have, "string data");
}

/* Cuts `length` bytes of UTF-8 back to a character boundary. */
static size_t utf8_boundary(const unsigned char *text, size_t length)
{
    size_t end = length;
    /* Step back over continuation bytes, then check the lead byte's length. */
    while (end > 0 && (text[end - 1] & 0xC0) == 0x80 && length - end < 3)
        end--;
    if (end > 0 && text[end - 1] >= 0xC0) {
        size_t need = text[end - 1] >= 0xF0 ? 4 : text[end - 1] >= 0xE0 ? 3 : 2;
        if (length - (end - 1) < need)
            return end - 1;
    }
    return length;
}

static int read_py2_string(pydbg__target *t, uint64_t address, const unsigned char *head,
                           size_t have, char *out, size_t capacity, int *truncated)
{
    const pydbg__layout *l = &t->layout;
    int64_t size = (int64_t)pydbg__load_u64(head, l->bytes.ob_size);
    unsigned char local[STRING_FIRST_READ + PYDBG__MAX_STRING_BYTES];
    size_t take, header = (size_t)l->bytes.ob_sval;
    int rc;
    if (size < 0 || size > (int64_t)1 << 30 || header > STRING_FIRST_READ)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "string at 0x%llx has length %lld",
                           (unsigned long long)address, (long long)size);
    take = (size_t)size;
    if (take > capacity - 1 || take > PYDBG__MAX_STRING_BYTES) {
        take = capacity - 1 < PYDBG__MAX_STRING_BYTES ? capacity - 1 : PYDBG__MAX_STRING_BYTES;
        *truncated = 1;
    }
    memcpy(local, head, have < sizeof local ? have : sizeof local);
    rc = read_rest(t, address, local, have < sizeof local ? have : sizeof local, header + take);
    if (rc != PYDBG_OK)
        return rc;
    /* 2.7 byte strings are printed as they are (UTF-8 in practice); a cut one
     * is cut at a character boundary. */
    if (*truncated)
        take = utf8_boundary(local + header, take);
    memcpy(out, local + header, take);
    out[take] = '\0';
    return PYDBG_OK;
}

/* 2.7's unicode object (Include/unicodeobject.h of 2.7, frozen): the text is a
 * separate buffer of Py_UNICODE, 2 or 4 bytes wide depending on the build. */
#define PY2_UNICODE_LENGTH 16
#define PY2_UNICODE_STR 24

static int read_py2_unicode(pydbg__target *t, uint64_t address, const unsigned char *head,
                            char *out, size_t capacity, int *truncated)
{
    unsigned char data[PYDBG__MAX_STRING_BYTES * 4];
    int64_t length = (int64_t)pydbg__load_u64(head, PY2_UNICODE_LENGTH);
    uint64_t str = pydbg__load_u64(head, PY2_UNICODE_STR);
    unsigned width = t->py2_unicode_width;
    size_t count;
    int rc, cut = 0;
    if (width != 2 && width != 4)
        return pydbg__fail(&t->error, PYDBG_ENOTSUP,
                           "unicode object at 0x%llx: unknown Py_UNICODE width",
                           (unsigned long long)address);
    if (length < 0 || length > (int64_t)1 << 30)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "unicode at 0x%llx has length %lld",
                           (unsigned long long)address, (long long)length);
    count = (size_t)length;
    if (count > capacity - 1 || count > PYDBG__MAX_STRING_BYTES) {
        count = capacity - 1 < PYDBG__MAX_STRING_BYTES ? capacity - 1 : PYDBG__MAX_STRING_BYTES;
        *truncated = 1;
    }
    if (count) {
        rc = pydbg__target_read(t, str, data, count * width, "unicode data");
        if (rc != PYDBG_OK)
            return rc;
    }
    units_to_utf8(data, count, width, out, capacity, &cut);
    if (cut)
        *truncated = 1;
    return PYDBG_OK;
}

int pydbg__obj_read_string(pydbg__target *t, uint64_t address, char *out, size_t capacity,
                           int *truncated)
{
    const pydbg__layout *l = &t->layout;
    unsigned char local[STRING_FIRST_READ + PYDBG__MAX_STRING_BYTES * 4];
    size_t have = 0;
    uint64_t type;
    int rc;
    *truncated = 0;
    if (capacity == 0)
        return PYDBG_EINVAL;
    out[0] = '\0';
    if (address == 0)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "NULL string pointer");
    rc = pydbg__read_partial(t->reader, address, local, STRING_FIRST_READ, &have);
    if (rc != PYDBG_OK || have < 32)
        return pydbg__fail(&t->error, rc != PYDBG_OK ? rc : PYDBG_EREAD,
                           "reading string at 0x%llx: %s", (unsigned long long)address,
                           pydbg_strerror(rc != PYDBG_OK ? rc : PYDBG_EREAD));
    type = pydbg__load_u64(local, l->object.ob_type);

    if (l->string_model == PYDBG__STRINGS_PY2 && type == t->types.bytes)
        return read_py2_string(t, address, local, have, out, capacity, truncated);
    if (type != t->types.str)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT,
                           "object at 0x%llx is not a string (type 0x%llx)",
                           (unsigned long long)address, (unsigned long long)type);
    if (l->string_model == PYDBG__STRINGS_PY2)
        return read_py2_unicode(t, address, local, out, capacity, truncated);
    {
        uint32_t state = pydbg__load_u32(local, l->unicode.state);
        int64_t length = (int64_t)pydbg__load_u64(local, l->unicode.length);
        unsigned kind = (state >> l->unicode.kind_shift) & 7u;
        unsigned compact = (state >> l->unicode.compact_bit) & 1u;
        unsigned ascii = (state >> l->unicode.ascii_bit) & 1u;
        size_t data_offset = (size_t)(ascii ? l->unicode.ascii_data : l->unicode.compact_data);
        size_t count, bytes;
        if (!compact)
            return pydbg__fail(&t->error, PYDBG_ENOTSUP,
                               "string at 0x%llx is not a compact string",
                               (unsigned long long)address);
        if ((kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1) || length < 0 ||
            length > (int64_t)1 << 30)
            return pydbg__fail(&t->error, PYDBG_ECORRUPT,
                               "string at 0x%llx has kind %u and length %lld",
                               (unsigned long long)address, kind, (long long)length);
        count = (size_t)length;
        /* At most capacity-1 code points can be printed, and the local copy is bounded. */
        if (count > capacity - 1) {
            count = capacity - 1;
            *truncated = 1;
        }
        if (count > PYDBG__MAX_STRING_BYTES) {
            count = PYDBG__MAX_STRING_BYTES;
            *truncated = 1;
        }
        bytes = data_offset + count * kind;
        rc = read_rest(t, address, local, have, bytes);
        if (rc != PYDBG_OK)
            return rc;
        {
            int cut = 0;
            units_to_utf8(local + data_offset, count, kind, out, capacity, &cut);
            if (cut)
                *truncated = 1;
        }
    }
    return PYDBG_OK;
}

int pydbg__obj_string_equals(pydbg__target *t, uint64_t address, const char *text)
{
    char buffer[256];
    int truncated;
    size_t length = strlen(text);
    int rc;
    if (length >= sizeof buffer)
        return PYDBG_EINVAL;
    rc = pydbg__obj_read_string(t, address, buffer, sizeof buffer, &truncated);
    if (rc == PYDBG_ECORRUPT || rc == PYDBG_ENOTSUP)
        return 0; /* a key that is not a plain string never equals a name */
    if (rc != PYDBG_OK)
        return rc;
    return !truncated && strcmp(buffer, text) == 0;
}

int pydbg__obj_read_u64(pydbg__target *t, uint64_t address, uint64_t *value)
{
    const pydbg__layout *l = &t->layout;
    unsigned char local[64];
    uint64_t type;
    int rc = pydbg__target_read(t, address, local, sizeof local, "int object");
    if (rc != PYDBG_OK)
        return rc;
    type = pydbg__load_u64(local, l->object.ob_type);
    if (l->long_model == PYDBG__LONG_PY2_INT && type == t->types.int_) {
        int64_t ival = (int64_t)pydbg__load_u64(local, l->pylong.py2_int_ival);
        if (ival < 0)
            return pydbg__fail(&t->error, PYDBG_ECORRUPT, "int at 0x%llx is negative",
                               (unsigned long long)address);
        *value = (uint64_t)ival;
        return PYDBG_OK;
    }
    if (type != t->types.long_)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "object at 0x%llx is not an int",
                           (unsigned long long)address);
    {
        uint64_t ndigits, result = 0;
        int negative;
        unsigned bits = l->pylong.digit_bits;
        if (l->long_model == PYDBG__LONG_LV_TAG) {
            uint64_t tag = pydbg__load_u64(local, l->pylong.size_or_tag);
            ndigits = tag >> 3;
            negative = (tag & 3) == 2;
        } else {
            int64_t size = (int64_t)pydbg__load_u64(local, l->pylong.size_or_tag);
            negative = size < 0;
            ndigits = (uint64_t)(negative ? -size : size);
        }
        if (negative || (bits != 15 && bits != 30) ||
            (size_t)l->pylong.digits + ndigits * 4 > sizeof local)
            return pydbg__fail(&t->error, PYDBG_ECORRUPT,
                               "int at 0x%llx does not fit in 64 bits",
                               (unsigned long long)address);
        for (uint64_t i = ndigits; i-- > 0;) {
            uint32_t digit = bits == 15 ? (uint32_t)(local[l->pylong.digits + 2 * i] |
                                                     local[l->pylong.digits + 2 * i + 1] << 8)
                                        : pydbg__load_u32(local, l->pylong.digits + 4 * (int)i);
            if (result > (UINT64_MAX >> bits))
                return pydbg__fail(&t->error, PYDBG_ECORRUPT,
                                   "int at 0x%llx does not fit in 64 bits",
                                   (unsigned long long)address);
            result = (result << bits) | digit;
        }
        *value = result;
    }
    return PYDBG_OK;
}

/* ---- dicts ---------------------------------------------------------------- */

static int visit_py2_dict(pydbg__target *t, const unsigned char *dict, pydbg__dict_visitor visit,
                          void *ctx)
{
    const pydbg__layout *l = &t->layout;
    uint64_t mask = pydbg__load_u64(dict, l->dict.py2_ma_mask);
    uint64_t table = pydbg__load_u64(dict, l->dict.py2_ma_table);
    unsigned char entry[24 * 64];
    if (mask >= PYDBG__MAX_DICT_ENTRIES)
        return pydbg__fail(&t->error, PYDBG_ELIMIT, "dict of %llu slots",
                           (unsigned long long)mask + 1);
    for (uint64_t base = 0; base <= mask; base += 64) {
        uint64_t n = mask + 1 - base < 64 ? mask + 1 - base : 64;
        int rc = pydbg__target_read(t, table + base * 24, entry, (size_t)n * 24, "dict table");
        if (rc != PYDBG_OK)
            return rc;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t key = pydbg__load_u64(entry, (int32_t)(i * 24 + 8));
            uint64_t value = pydbg__load_u64(entry, (int32_t)(i * 24 + 16));
            if (key && value) {
                rc = visit(t, key, value, ctx);
                if (rc != 0)
                    return rc < 0 ? rc : PYDBG_OK;
            }
        }
    }
    return PYDBG_OK;
}

/* Visits the entries of a keys object; `values` is the split table's value
 * array (0 for a combined table). */
static int visit_keys(pydbg__target *t, uint64_t keys, uint64_t values, pydbg__dict_visitor visit,
                      void *ctx)
{
    const pydbg__layout *l = &t->layout;
    const int32_t fields[] = {l->dictkeys.dk_size, l->dictkeys.dk_log2_size,
                              l->dictkeys.dk_log2_index_bytes, l->dictkeys.dk_kind,
                              l->dictkeys.dk_nentries, l->dictkeys.dk_indices};
    unsigned char head[128];
    uint64_t nentries, entries, entry_size = 24;
    int32_t span = pydbg__span(fields, sizeof fields / sizeof fields[0]);
    int rc;
    if (span > (int32_t)sizeof head)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "dict keys layout too large");
    rc = pydbg__target_read(t, keys, head, (size_t)span, "dict keys");
    if (rc != PYDBG_OK)
        return rc;
    nentries = pydbg__load_u64(head, l->dictkeys.dk_nentries);
    if (l->dict_model == PYDBG__DICT_311) {
        unsigned log2_size = head[l->dictkeys.dk_log2_size];
        unsigned log2_index_bytes = head[l->dictkeys.dk_log2_index_bytes];
        unsigned kind = head[l->dictkeys.dk_kind];
        if (log2_size > 30 || log2_index_bytes > 33)
            return pydbg__fail(&t->error, PYDBG_ECORRUPT, "dict keys at 0x%llx: bad sizes",
                               (unsigned long long)keys);
        entries = keys + (uint64_t)l->dictkeys.dk_indices + ((uint64_t)1 << log2_index_bytes);
        entry_size = kind == 0 ? 24 : 16; /* DICT_KEYS_GENERAL has a hash per entry */
    } else {
        uint64_t size = pydbg__load_u64(head, l->dictkeys.dk_size);
        uint64_t width = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffu ? 4 : 8;
        if (size == 0 || (size & (size - 1)) != 0 || size > PYDBG__MAX_DICT_ENTRIES * 2)
            return pydbg__fail(&t->error, PYDBG_ECORRUPT, "dict keys at 0x%llx: size %llu",
                               (unsigned long long)keys, (unsigned long long)size);
        entries = keys + (uint64_t)l->dictkeys.dk_indices + size * width;
    }
    if (nentries > PYDBG__MAX_DICT_ENTRIES)
        return pydbg__fail(&t->error, PYDBG_ELIMIT, "dict with %llu entries",
                           (unsigned long long)nentries);
    for (uint64_t base = 0; base < nentries; base += 64) {
        unsigned char chunk[24 * 64];
        uint64_t vals[64];
        uint64_t n = nentries - base < 64 ? nentries - base : 64;
        rc = pydbg__target_read(t, entries + base * entry_size, chunk, (size_t)(n * entry_size),
                                "dict entries");
        if (rc != PYDBG_OK)
            return rc;
        if (values) {
            rc = pydbg__target_read(t, values + base * 8, vals, (size_t)n * 8, "dict values");
            if (rc != PYDBG_OK)
                return rc;
        }
        for (uint64_t i = 0; i < n; i++) {
            int32_t at = (int32_t)(i * entry_size + (entry_size == 24 ? 8 : 0));
            uint64_t key = pydbg__load_u64(chunk, at);
            uint64_t value = values ? vals[i] : pydbg__load_u64(chunk, at + 8);
            if (key && value) {
                rc = visit(t, key, value, ctx);
                if (rc != 0)
                    return rc < 0 ? rc : PYDBG_OK;
            }
        }
    }
    return PYDBG_OK;
}

/* 3.11+: a split table's values are an array the keys share with the type;
 * which entries an object holds, and in which order, is recorded next to its
 * values: in 3.11 and 3.12 as bytes before the array (count at values[-2],
 * entry indices at values[-3 - i]), from 3.13 in the PyDictValues header
 * (capacity, size) with the indices after the capacity values. */
#define MAX_SPLIT_ENTRIES 256

static int visit_split_values(pydbg__target *t, uint64_t keys, uint64_t values,
                              pydbg__dict_visitor visit, void *ctx)
{
    const pydbg__layout *l = &t->layout;
    const int32_t fields[] = {l->dictkeys.dk_log2_index_bytes, l->dictkeys.dk_kind,
                              l->dictkeys.dk_nentries, l->dictkeys.dk_indices};
    unsigned char head[128], order[MAX_SPLIT_ENTRIES], entries[MAX_SPLIT_ENTRIES * 24];
    uint64_t slots[MAX_SPLIT_ENTRIES];
    uint64_t nentries, entry_base, entry_size, array;
    size_t count, capacity;
    int32_t span = pydbg__span(fields, sizeof fields / sizeof fields[0]);
    int rc;
    if (span > (int32_t)sizeof head)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "dict keys layout too large");
    rc = pydbg__target_read(t, keys, head, (size_t)span, "shared keys");
    if (rc != PYDBG_OK)
        return rc;
    nentries = pydbg__load_u64(head, l->dictkeys.dk_nentries);
    if (nentries > MAX_SPLIT_ENTRIES || head[l->dictkeys.dk_log2_index_bytes] > 16)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "shared keys at 0x%llx: %llu entries",
                           (unsigned long long)keys, (unsigned long long)nentries);
    entry_size = head[l->dictkeys.dk_kind] == 0 ? 24 : 16;
    entry_base = keys + (uint64_t)l->dictkeys.dk_indices +
                 ((uint64_t)1 << head[l->dictkeys.dk_log2_index_bytes]);
    if (l->dictkeys.values_array > 0) { /* 3.13+ */
        unsigned char header[4];
        rc = pydbg__target_read(t, values, header, sizeof header, "dict values header");
        if (rc != PYDBG_OK)
            return rc;
        capacity = header[0];
        count = header[1];
        array = values + (uint64_t)l->dictkeys.values_array;
        if (count > capacity)
            return pydbg__fail(&t->error, PYDBG_ECORRUPT, "dict values at 0x%llx: %zu of %zu",
                               (unsigned long long)values, count, capacity);
        if (count)
            rc = pydbg__target_read(t, array + capacity * 8, order, count, "insertion order");
    } else { /* 3.11, 3.12 */
        unsigned char size_byte;
        rc = pydbg__target_read(t, values - 2, &size_byte, 1, "dict values size");
        if (rc != PYDBG_OK)
            return rc;
        count = size_byte;
        capacity = nentries;
        array = values;
        if (count) {
            unsigned char reversed[MAX_SPLIT_ENTRIES];
            rc = pydbg__target_read(t, values - 2 - count, reversed, count, "insertion order");
            for (size_t i = 0; rc == PYDBG_OK && i < count; i++)
                order[i] = reversed[count - 1 - i];
        }
    }
    if (rc != PYDBG_OK || count == 0)
        return rc;
    rc = pydbg__target_read(t, entry_base, entries, (size_t)(nentries * entry_size),
                            "shared key entries");
    if (rc == PYDBG_OK)
        rc = pydbg__target_read(t, array, slots, capacity * 8, "dict values");
    if (rc != PYDBG_OK)
        return rc;
    for (size_t i = 0; i < count; i++) {
        uint64_t key, value;
        if (order[i] >= nentries || order[i] >= capacity)
            return pydbg__fail(&t->error, PYDBG_ECORRUPT, "dict values at 0x%llx: bad order",
                               (unsigned long long)values);
        key = pydbg__load_u64(entries, (int32_t)(order[i] * entry_size + (entry_size == 24 ? 8 : 0)));
        value = slots[order[i]];
        if (key && value) {
            rc = visit(t, key, value, ctx);
            if (rc != 0)
                return rc < 0 ? rc : PYDBG_OK;
        }
    }
    return PYDBG_OK;
}

int pydbg__dict_visit(pydbg__target *t, uint64_t address, pydbg__dict_visitor visit, void *ctx)
{
    const pydbg__layout *l = &t->layout;
    const int32_t fields[] = {l->object.ob_type, l->dict.ma_used,  l->dict.ma_keys,
                              l->dict.ma_values, l->dict.py2_ma_mask, l->dict.py2_ma_table};
    unsigned char dict[128];
    int32_t span = pydbg__span(fields, sizeof fields / sizeof fields[0]);
    int rc;
    if (span > (int32_t)sizeof dict)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "dict layout too large");
    rc = pydbg__target_read(t, address, dict, (size_t)span, "dict");
    if (rc != PYDBG_OK)
        return rc;
    if (pydbg__load_u64(dict, l->object.ob_type) != t->types.dict)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "object at 0x%llx is not a dict",
                           (unsigned long long)address);
    if (l->dict_model == PYDBG__DICT_PY2)
        return visit_py2_dict(t, dict, visit, ctx);
    {
        uint64_t keys = pydbg__load_u64(dict, l->dict.ma_keys);
        uint64_t values = pydbg__load_u64(dict, l->dict.ma_values);
        if (values && l->dict_model == PYDBG__DICT_311)
            return visit_split_values(t, keys, values, visit, ctx);
        return visit_keys(t, keys, values, visit, ctx);
    }
}

struct lookup {
    const char *key;
    uint64_t value;
    int found;
};

static int match_key(pydbg__target *t, uint64_t key, uint64_t value, void *ctx)
{
    struct lookup *lookup = ctx;
    int equal = pydbg__obj_string_equals(t, key, lookup->key);
    if (equal < 0)
        return equal;
    if (equal) {
        lookup->value = value;
        lookup->found = 1;
        return 1;
    }
    return 0;
}

int pydbg__dict_get_str(pydbg__target *t, uint64_t address, const char *key, uint64_t *value)
{
    struct lookup lookup = {key, 0, 0};
    int rc = pydbg__dict_visit(t, address, match_key, &lookup);
    if (rc != PYDBG_OK)
        return rc;
    if (!lookup.found)
        return PYDBG_ENOTFOUND;
    *value = lookup.value;
    return PYDBG_OK;
}

/* Attributes kept without a dict object: the type's shared keys give the
 * names, `values` the value pointers. */
static int get_attr_from_values(pydbg__target *t, uint64_t type, uint64_t values,
                                const char *name, uint64_t *value)
{
    struct lookup lookup = {name, 0, 0};
    uint64_t keys;
    int rc;
    if (t->layout.type.ht_cached_keys < 0)
        return PYDBG_ENOTSUP;
    rc = pydbg__target_read_ptr(t, type + (uint64_t)t->layout.type.ht_cached_keys, &keys,
                                "type's cached keys");
    if (rc != PYDBG_OK)
        return rc;
    if (keys == 0)
        return PYDBG_ENOTFOUND;
    rc = t->layout.dict_model == PYDBG__DICT_311
             ? visit_split_values(t, keys, values, match_key, &lookup)
             : visit_keys(t, keys, values, match_key, &lookup);
    if (rc != PYDBG_OK)
        return rc;
    if (!lookup.found)
        return PYDBG_ENOTFOUND;
    *value = lookup.value;
    return PYDBG_OK;
}

int pydbg__obj_get_attr(pydbg__target *t, uint64_t address, const char *name, uint64_t *value)
{
    const pydbg__layout *l = &t->layout;
    const int32_t fields[] = {l->type.tp_basicsize, l->type.tp_flags, l->type.tp_dictoffset};
    unsigned char type_head[512];
    uint64_t type, flags, dict = 0;
    int64_t dictoffset;
    int32_t span = pydbg__span(fields, sizeof fields / sizeof fields[0]);
    int rc = pydbg__obj_type(t, address, &type);
    if (rc != PYDBG_OK)
        return rc;
    if (span > (int32_t)sizeof type_head)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "type layout too large");
    rc = pydbg__target_read(t, type, type_head, (size_t)span, "type object");
    if (rc != PYDBG_OK)
        return rc;
    flags = pydbg__load_u64(type_head, l->type.tp_flags);
    dictoffset = (int64_t)pydbg__load_u64(type_head, l->type.tp_dictoffset);

    if (l->instdict_model != PYDBG__INSTDICT_OFFSET && l->type.flag_managed_dict &&
        (flags & l->type.flag_managed_dict)) {
        uint64_t slot;
        rc = pydbg__target_read_ptr(t, address - 3 * 8, &slot, "managed dict");
        if (rc != PYDBG_OK)
            return rc;
        /* 3.12 stores a values pointer minus one (_PyDictOrValues_SetValues), so
         * the tag bit is set: the values start at slot + 1. */
        if (l->instdict_model == PYDBG__INSTDICT_MANAGED_312 && (slot & 1))
            return get_attr_from_values(t, type, slot + 1, name, value);
        if (slot)
            return pydbg__dict_get_str(t, slot, name, value);
        if (l->instdict_model == PYDBG__INSTDICT_MANAGED_311) {
            uint64_t values;
            rc = pydbg__target_read_ptr(t, address - 4 * 8, &values, "managed values");
            if (rc != PYDBG_OK)
                return rc;
            return values ? get_attr_from_values(t, type, values, name, value) : PYDBG_ENOTFOUND;
        }
        if (l->instdict_model == PYDBG__INSTDICT_INLINE_313 && (flags & l->type.flag_inline_values)) {
            uint64_t basicsize = pydbg__load_u64(type_head, l->type.tp_basicsize);
            if (basicsize == 0 || basicsize > (1u << 20))
                return pydbg__fail(&t->error, PYDBG_ECORRUPT, "type with basicsize %llu",
                                   (unsigned long long)basicsize);
            return get_attr_from_values(t, type, address + basicsize, name, value);
        }
        return PYDBG_ENOTFOUND;
    }
    /* Otherwise the dict pointer sits at tp_dictoffset (negative offsets belong
     * to variable-size objects, which threads are not). */
    if (dictoffset <= 0 || dictoffset > (1 << 20))
        return PYDBG_ENOTFOUND;
    rc = pydbg__target_read_ptr(t, address + (uint64_t)dictoffset, &dict, "instance dict");
    if (rc != PYDBG_OK)
        return rc;
    if (!dict)
        return PYDBG_ENOTFOUND;
    return pydbg__dict_get_str(t, dict, name, value);
}
