/* The Python half of a snapshot: a census of the heap by type.
 *
 * Tracked objects are found by walking the garbage collector's generation
 * lists (and the permanent generation of gc.freeze()), exactly the objects
 * gc.get_objects() would return. Each list is doubly linked through the
 * PyGC_Head before each object; every step checks that the next object's
 * back link points at the one before, so a list that changes under a live
 * reader is detected, not followed into garbage.
 *
 * Untracked objects (str, int, float, bytes, and tuples and dicts the GC
 * stopped tracking because they hold only such objects) are counted when
 * they are reached from a tracked object through list, tuple, dict and set
 * items or instance attributes, each once (a set of seen addresses), and the
 * untracked containers reached are followed in turn.
 *
 * Sizes are those sys.getsizeof() reports: the pre-header and GC head, the
 * type's tp_basicsize + tp_itemsize x |ob_size|, and the separately allocated
 * storage of list (allocated items), dict (keys table and split values, as
 * _PyDict_SizeOf), set (table beyond the small table) and bytearray
 * (ob_alloc); str is sized as unicode.__sizeof__ without its cached UTF-8.
 *
 * All reads go through the chunk cache of heap_cache.c, which the target's
 * reader is swapped for during the census. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "elf/elf.h"
#include "elf/maps.h"
#include "snapshot/census.h"
#include "snapshot/heap_cache.h"
#include "walk/objects.h"

/* Far above any real heap (2^31 objects of 16 bytes is 32 GiB of GC heads
 * alone); reaching it means a cycle in a torn list. */
#define MAX_OBJECTS (1ull << 31)
#define MAX_TYPE_NAME 256
#define MAX_BASE_DEPTH 64
#define MAX_ITEMS (1ull << 28) /* items of one list or tuple followed */
#define MAX_ATTR_VALUES 4096
#define CACHE_LIMIT ((size_t)4 << 30)
#define LIVE_ATTEMPTS 5
#define COLLECTING_WAITS 200

enum kind { K_OTHER, K_LIST, K_TUPLE, K_DICT, K_SET, K_BYTEARRAY, K_LONG, K_STR, K_TYPE };

/* PyMemberDef {name; int type; Py_ssize_t offset; int flags; doc}, the same
 * from 2.7 to 3.14: __slots__ of heap types follow PyHeapTypeObject. */
#define MEMBER_SIZE 40
#define MEMBER_TYPE 8
#define MEMBER_OFFSET 16
#define T_OBJECT 6
#define T_OBJECT_EX 16
#define MAX_SLOTS 256 /* object slots of one class and its bases followed */

typedef struct type_info {
    uint64_t address;
    char *name;
    uint64_t basicsize, itemsize, flags, dictoffset;
    int kind;
    uint32_t slot_first, slot_count; /* offsets of __slots__ in census.slots */
    int64_t shared_entries; /* attribute values of its instances (3.11+); -1 not read yet */
    uint64_t tracked_count, tracked_bytes, reached_count, reached_bytes;
} type_info;

typedef struct work_item {
    uint64_t address;
    uint32_t type;
} work_item;

typedef struct census {
    pydbg__target *t;
    const pydbg__layout *l;
    pydbg__arena names;
    type_info *types;
    size_t type_count, type_capacity;
    uint64_t *type_keys; /* open addressing: type address -> index in type_vals */
    uint32_t *type_vals;
    size_t type_slots;
    uint64_t *seen; /* open addressing set of object addresses; 0 is empty */
    size_t seen_slots, seen_count;
    work_item *work;
    size_t work_count, work_capacity;
    int64_t *slots; /* object offsets of __slots__, per type (type_info.slot_first) */
    size_t slot_count, slot_capacity;
    int referents;
    uint64_t list_type, tuple_type, dict_type, set_type, frozenset_type, bytearray_type,
        long_type, str_type, type_type;
    uint64_t heaptype_size; /* sizeof(PyHeapTypeObject): PyType_Type's tp_basicsize */
    uint64_t unreadable_referents, skipped_containers;
    uint64_t tracked_total;
} census;

/* ---- hashing ------------------------------------------------------------------------- */

static size_t hash64(uint64_t v, size_t slots)
{
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdull;
    v ^= v >> 33;
    return (size_t)v & (slots - 1);
}

/* Inserts `address` into the seen set; 1 if it was new, 0 if seen, <0 on error. */
static int seen_insert(census *c, uint64_t address)
{
    size_t j;
    if ((c->seen_count + 1) * 2 > c->seen_slots) {
        size_t slots = c->seen_slots ? c->seen_slots * 2 : 1u << 16;
        uint64_t *table = calloc(slots, sizeof *table);
        if (!table)
            return PYDBG_ENOMEM;
        for (size_t i = 0; i < c->seen_slots; i++) {
            uint64_t v = c->seen[i];
            if (!v)
                continue;
            j = hash64(v, slots);
            while (table[j])
                j = (j + 1) & (slots - 1);
            table[j] = v;
        }
        free(c->seen);
        c->seen = table;
        c->seen_slots = slots;
    }
    j = hash64(address, c->seen_slots);
    while (c->seen[j]) {
        if (c->seen[j] == address)
            return 0;
        j = (j + 1) & (c->seen_slots - 1);
    }
    c->seen[j] = address;
    c->seen_count++;
    return 1;
}

static int push_work(census *c, uint64_t address, uint32_t type)
{
    void *items = c->work;
    if (pydbg__grow_array(&items, &c->work_capacity, c->work_count + 1, sizeof *c->work) !=
        PYDBG_OK)
        return PYDBG_ENOMEM;
    c->work = items;
    c->work[c->work_count].address = address;
    c->work[c->work_count].type = type;
    c->work_count++;
    return PYDBG_OK;
}

/* ---- types --------------------------------------------------------------------------- */

static int read_cstring(census *c, uint64_t address, char *out, size_t size)
{
    size_t got = 0;
    int rc = pydbg__read_partial(c->t->reader, address, out, size - 1, &got);
    if (rc != PYDBG_OK || got == 0)
        return PYDBG_ECORRUPT;
    out[got] = '\0';
    if (strlen(out) == 0 || strlen(out) >= size - 1)
        return PYDBG_ECORRUPT;
    for (const char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return PYDBG_ECORRUPT;
    return PYDBG_OK;
}

static int kind_of(census *c, uint64_t type)
{
    for (int depth = 0; type && depth < MAX_BASE_DEPTH; depth++) {
        if (type == c->list_type)
            return K_LIST;
        if (type == c->tuple_type)
            return K_TUPLE;
        if (type == c->dict_type)
            return K_DICT;
        if (type == c->set_type || type == c->frozenset_type)
            return K_SET;
        if (type == c->bytearray_type)
            return K_BYTEARRAY;
        if (type == c->long_type)
            return K_LONG;
        if (type == c->str_type)
            return K_STR;
        if (type == c->type_type)
            return K_TYPE;
        if (pydbg__read_ptr(c->t->reader, type + (uint64_t)c->l->sizes.tp_base, &type) !=
            PYDBG_OK)
            return K_OTHER;
    }
    return K_OTHER;
}

static int add_slot(census *c, int64_t offset)
{
    void *items = c->slots;
    if (pydbg__grow_array(&items, &c->slot_capacity, c->slot_count + 1, sizeof *c->slots) !=
        PYDBG_OK)
        return PYDBG_ENOMEM;
    c->slots = items;
    c->slots[c->slot_count++] = offset;
    return PYDBG_OK;
}

/* Appends the object offsets of the __slots__ of heap type `type` and of its
 * heap-type bases to c->slots. The members follow the PyHeapTypeObject, whose
 * size is the metatype's tp_basicsize; Py_SIZE(type) counts them. */
static int collect_slots(census *c, uint64_t type, size_t *added)
{
    const pydbg__layout *l = c->l;
    for (int depth = 0; type && depth < MAX_BASE_DEPTH && *added < MAX_SLOTS; depth++) {
        unsigned char head[1024];
        const int32_t fields[] = {l->object.ob_size, l->type.tp_flags, l->sizes.tp_base};
        int32_t span = pydbg__span(fields, 3);
        uint64_t flags, nmembers, meta, meta_size;
        unsigned char members[MEMBER_SIZE * 16];
        if (span > (int32_t)sizeof head || pydbg__read(c->t->reader, type, head, (size_t)span))
            return PYDBG_OK;
        flags = pydbg__load_u64(head, l->type.tp_flags);
        nmembers = pydbg__load_u64(head, l->object.ob_size);
        meta = pydbg__load_u64(head, l->object.ob_type);
        if ((flags & l->sizes.flag_heaptype) && nmembers > 0 && nmembers <= MAX_SLOTS &&
            pydbg__read_ptr(c->t->reader, meta + (uint64_t)l->type.tp_basicsize, &meta_size) ==
                PYDBG_OK &&
            meta_size >= 64 && meta_size < (1u << 20)) {
            for (uint64_t i = 0; i < nmembers && *added < MAX_SLOTS; i += 16) {
                uint64_t n = nmembers - i < 16 ? nmembers - i : 16;
                if (pydbg__read(c->t->reader, type + meta_size + i * MEMBER_SIZE, members,
                                (size_t)(n * MEMBER_SIZE)) != PYDBG_OK)
                    break;
                for (uint64_t k = 0; k < n && *added < MAX_SLOTS; k++) {
                    const unsigned char *m = members + k * MEMBER_SIZE;
                    uint32_t mtype = pydbg__load_u32(m, MEMBER_TYPE);
                    int64_t offset = (int64_t)pydbg__load_u64(m, MEMBER_OFFSET);
                    if ((mtype == T_OBJECT || mtype == T_OBJECT_EX) && offset >= 16 &&
                        offset < (1 << 20)) {
                        if (add_slot(c, offset) != PYDBG_OK)
                            return PYDBG_ENOMEM;
                        ++*added;
                    }
                }
            }
        }
        type = pydbg__load_u64(head, l->sizes.tp_base);
    }
    return PYDBG_OK;
}

/* The index of the type at `address`, read and validated on first sight. */
static int type_index(census *c, uint64_t address, uint32_t *index)
{
    const pydbg__layout *l = c->l;
    const int32_t fields[] = {l->type.tp_name, l->type.tp_basicsize, l->type.tp_itemsize,
                              l->type.tp_flags, l->type.tp_dictoffset, l->sizes.tp_base};
    unsigned char head[1024];
    char name[MAX_TYPE_NAME];
    int32_t span = pydbg__span(fields, sizeof fields / sizeof fields[0]);
    type_info *ti;
    size_t j;
    int rc;
    if (address == 0 || (address & 7) != 0)
        return pydbg__fail(&c->t->error, PYDBG_ECORRUPT, "object with type pointer 0x%llx",
                           (unsigned long long)address);
    j = hash64(address, c->type_slots);
    while (c->type_keys[j]) {
        if (c->type_keys[j] == address) {
            *index = c->type_vals[j];
            return PYDBG_OK;
        }
        j = (j + 1) & (c->type_slots - 1);
    }
    if (span <= 0 || span > (int32_t)sizeof head)
        return pydbg__fail(&c->t->error, PYDBG_ECORRUPT, "type layout too large");
    rc = pydbg__target_read(c->t, address, head, (size_t)span, "type object");
    if (rc != PYDBG_OK)
        return rc;
    if (read_cstring(c, pydbg__load_u64(head, l->type.tp_name), name, sizeof name) != PYDBG_OK)
        return pydbg__fail(&c->t->error, PYDBG_ECORRUPT,
                           "type object at 0x%llx has no readable tp_name",
                           (unsigned long long)address);
    {
        uint64_t basicsize = pydbg__load_u64(head, l->type.tp_basicsize);
        uint64_t itemsize = pydbg__load_u64(head, l->type.tp_itemsize);
        if (basicsize < 16 || basicsize > (1u << 24) || itemsize > (1u << 16))
            return pydbg__fail(&c->t->error, PYDBG_ECORRUPT,
                               "type '%s' at 0x%llx has basicsize %llu, itemsize %llu", name,
                               (unsigned long long)address, (unsigned long long)basicsize,
                               (unsigned long long)itemsize);
    }
    {
        void *items = c->types;
        if (c->type_count >= PYDBG__SNAP_MAX_TYPES)
            return pydbg__fail(&c->t->error, PYDBG_ELIMIT, "more than %u types",
                               PYDBG__SNAP_MAX_TYPES);
        if (pydbg__grow_array(&items, &c->type_capacity, c->type_count + 1, sizeof *c->types) !=
            PYDBG_OK)
            return pydbg__fail(&c->t->error, PYDBG_ENOMEM, "out of memory");
        c->types = items;
    }
    ti = &c->types[c->type_count];
    memset(ti, 0, sizeof *ti);
    ti->address = address;
    ti->name = pydbg__arena_strdup(&c->names, name);
    if (!ti->name)
        return pydbg__fail(&c->t->error, PYDBG_ENOMEM, "out of memory");
    ti->basicsize = pydbg__load_u64(head, l->type.tp_basicsize);
    ti->itemsize = pydbg__load_u64(head, l->type.tp_itemsize);
    ti->flags = pydbg__load_u64(head, l->type.tp_flags);
    ti->dictoffset = pydbg__load_u64(head, l->type.tp_dictoffset);
    ti->kind = kind_of(c, address);
    ti->shared_entries = -1;
    if (ti->kind == K_OTHER && (ti->flags & l->sizes.flag_heaptype)) {
        size_t added = 0;
        ti->slot_first = (uint32_t)c->slot_count;
        if (collect_slots(c, address, &added) != PYDBG_OK)
            return pydbg__fail(&c->t->error, PYDBG_ENOMEM, "out of memory");
        ti->slot_count = (uint32_t)added;
    }
    /* Keep the table at most half full. */
    if ((c->type_count + 1) * 2 > c->type_slots) {
        size_t slots = c->type_slots * 2;
        uint64_t *keys = calloc(slots, sizeof *keys);
        uint32_t *vals = calloc(slots, sizeof *vals);
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return pydbg__fail(&c->t->error, PYDBG_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < c->type_slots; i++) {
            size_t k;
            if (!c->type_keys[i])
                continue;
            k = hash64(c->type_keys[i], slots);
            while (keys[k])
                k = (k + 1) & (slots - 1);
            keys[k] = c->type_keys[i];
            vals[k] = c->type_vals[i];
        }
        free(c->type_keys);
        free(c->type_vals);
        c->type_keys = keys;
        c->type_vals = vals;
        c->type_slots = slots;
        j = hash64(address, c->type_slots);
        while (c->type_keys[j])
            j = (j + 1) & (c->type_slots - 1);
    }
    c->type_keys[j] = address;
    c->type_vals[j] = (uint32_t)c->type_count;
    *index = (uint32_t)c->type_count++;
    return PYDBG_OK;
}

/* ---- sizes --------------------------------------------------------------------------- */

static uint64_t usable_fraction(uint64_t size)
{
    return (size << 1) / 3;
}

/* _PyDict_KeysSize() of the keys object at `keys` (3.x); 0 if unreadable. */
static uint64_t keys_size(census *c, uint64_t keys)
{
    const pydbg__layout *l = c->l;
    unsigned char k[64];
    if (l->dict_model == PYDBG__DICT_PY2 || pydbg__read(c->t->reader, keys, k, 32) != PYDBG_OK)
        return 0;
    if (l->dict_model == PYDBG__DICT_36) {
        uint64_t size = pydbg__load_u64(k, l->dictkeys.dk_size);
        uint64_t ix = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffu ? 4 : 8;
        if (size > (1ull << 40))
            return 0;
        return (uint64_t)l->dictkeys.dk_indices + ix * size +
               (uint64_t)l->sizes.dictkeys_entry_size * usable_fraction(size);
    } else {
        unsigned log2_size = k[l->dictkeys.dk_log2_size];
        unsigned log2_index = k[l->dictkeys.dk_log2_index_bytes];
        uint64_t es = k[l->dictkeys.dk_kind] == 0 ? (uint64_t)l->sizes.dictkeys_entry_size
                                                 : (uint64_t)l->sizes.dictkeys_unicode_entry_size;
        if (log2_size > 40 || log2_index > 43)
            return 0;
        return (uint64_t)l->dictkeys.dk_indices + ((uint64_t)1 << log2_index) +
               usable_fraction((uint64_t)1 << log2_size) * es;
    }
}

/* What _PyDict_SizeOf adds to tp_basicsize: the keys table when the dict
 * owns it, the values of a split table. */
static uint64_t dict_extra(census *c, uint64_t obj, const unsigned char *ob)
{
    const pydbg__layout *l = c->l;
    unsigned char keys[64];
    uint64_t extra = 0, table_keys, values;
    if (l->dict_model == PYDBG__DICT_PY2) {
        uint64_t mask = pydbg__load_u64(ob, l->dict.py2_ma_mask);
        uint64_t table = pydbg__load_u64(ob, l->dict.py2_ma_table);
        if (table != obj + (uint64_t)l->sizes.dict_py2_smalltable && mask < (1ull << 40))
            extra = (mask + 1) * (uint64_t)l->sizes.dictkeys_entry_size;
        return extra;
    }
    table_keys = pydbg__load_u64(ob, l->dict.ma_keys);
    values = pydbg__load_u64(ob, l->dict.ma_values);
    if (!table_keys || pydbg__read(c->t->reader, table_keys, keys, 32) != PYDBG_OK)
        return 0;
    if (l->dict_model == PYDBG__DICT_36) {
        uint64_t size = pydbg__load_u64(keys, l->dictkeys.dk_size);
        uint64_t usable = usable_fraction(size);
        uint64_t ix = size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffu ? 4 : 8;
        if (size > (1ull << 40))
            return 0;
        if (values)
            extra += usable * 8;
        if (pydbg__load_u64(keys, 0) == 1)
            extra += (uint64_t)l->dictkeys.dk_indices + ix * size +
                     (uint64_t)l->sizes.dictkeys_entry_size * usable;
    } else {
        unsigned log2_size = keys[l->dictkeys.dk_log2_size];
        unsigned log2_index = keys[l->dictkeys.dk_log2_index_bytes];
        unsigned dk_kind = keys[l->dictkeys.dk_kind];
        uint64_t es = dk_kind == 0 ? (uint64_t)l->sizes.dictkeys_entry_size
                                   : (uint64_t)l->sizes.dictkeys_unicode_entry_size;
        if (log2_size > 40 || log2_index > 43)
            return 0;
        if (values) {
            uint64_t usable = pydbg__load_u64(keys, l->sizes.dictkeys_usable);
            uint64_t nentries = pydbg__load_u64(keys, l->dictkeys.dk_nentries);
            if (usable + nentries < (1ull << 40))
                extra += (usable + nentries) * 8;
        }
        if (pydbg__load_u64(keys, 0) == 1)
            extra += (uint64_t)l->dictkeys.dk_indices + ((uint64_t)1 << log2_index) +
                     usable_fraction((uint64_t)1 << log2_size) * es;
    }
    return extra;
}

/* The number of bytes a kind needs read from the object's start. */
static size_t kind_span(const census *c, int kind)
{
    const pydbg__layout *l = c->l;
    int32_t f[4] = {24, -1, -1, -1};
    switch (kind) {
    case K_LIST: f[1] = l->sizes.list_allocated; f[2] = l->seq.list_ob_item; break;
    case K_DICT:
        f[1] = l->dict.ma_keys; f[2] = l->dict.ma_values;
        f[3] = l->dict_model == PYDBG__DICT_PY2 ? l->dict.py2_ma_table : l->dict.ma_used;
        if (l->dict_model == PYDBG__DICT_PY2 && l->dict.py2_ma_mask > f[3])
            f[3] = l->dict.py2_ma_mask;
        break;
    case K_SET: f[1] = l->sizes.set_mask; f[2] = l->sizes.set_table; break;
    case K_BYTEARRAY: f[1] = l->sizes.bytearray_alloc; break;
    case K_TYPE: f[1] = l->type.tp_flags; break;
    case K_STR:
        if (l->string_model == PYDBG__STRINGS_PEP393) {
            f[1] = l->unicode.state;
            f[2] = l->unicode.length;
        }
        break;
    default: break;
    }
    return (size_t)pydbg__span(f, 4);
}

/* sys.getsizeof() of the object at `obj` of type `ti`; `ob` holds the first
 * kind_span() bytes of the object. */
static uint64_t object_size(census *c, const type_info *ti, uint64_t obj, const unsigned char *ob)
{
    const pydbg__layout *l = c->l;
    uint64_t size = 0;
    if (ti->flags & l->sizes.flag_have_gc)
        size += (uint64_t)l->gc.head_size;
    if (ti->flags & l->sizes.flag_preheader)
        size += (uint64_t)l->sizes.preheader_size;
    switch (ti->kind) {
    case K_LIST: {
        uint64_t allocated = pydbg__load_u64(ob, l->sizes.list_allocated);
        return size + ti->basicsize + (allocated < (1ull << 40) ? allocated * 8 : 0);
    }
    case K_DICT: return size + ti->basicsize + dict_extra(c, obj, ob);
    case K_SET: {
        uint64_t mask = pydbg__load_u64(ob, l->sizes.set_mask);
        uint64_t table = pydbg__load_u64(ob, l->sizes.set_table);
        size += ti->basicsize;
        if (table != obj + (uint64_t)l->sizes.set_smalltable && mask < (1ull << 40))
            size += (mask + 1) * (uint64_t)l->sizes.set_entry_size;
        return size;
    }
    case K_BYTEARRAY: {
        uint64_t alloc = pydbg__load_u64(ob, l->sizes.bytearray_alloc);
        return size + ti->basicsize + (alloc < (1ull << 40) ? alloc : 0);
    }
    case K_LONG:
        /* int.__sizeof__ counts from offsetof(ob_digit), whatever the subclass. */
        if (l->long_model == PYDBG__LONG_LV_TAG) {
            uint64_t digits = pydbg__load_u64(ob, l->pylong.size_or_tag) >> 3;
            return size + (uint64_t)l->pylong.digits + (digits ? digits : 1) * 4;
        } else {
            int64_t n = (int64_t)pydbg__load_u64(ob, l->pylong.size_or_tag);
            uint64_t digits = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
            /* 3.11 counts at least one digit, as 3.12+ does. */
            if (digits == 0 && (l->major > 3 || (l->major == 3 && l->minor >= 11)))
                digits = 1;
            if (digits < (1ull << 40))
                return size + (uint64_t)l->pylong.digits + digits * 4;
        }
        break;
    case K_TYPE: {
        /* type.__sizeof__: sizeof(PyHeapTypeObject) and the cached keys of a heap type. */
        uint64_t flags = pydbg__load_u64(ob, l->type.tp_flags), keys = 0;
        if (!(flags & l->sizes.flag_heaptype) || !c->heaptype_size)
            break;
        size += c->heaptype_size;
        if (l->type.ht_cached_keys >= 0 &&
            pydbg__read_ptr(c->t->reader, obj + (uint64_t)l->type.ht_cached_keys, &keys) ==
                PYDBG_OK &&
            keys)
            size += keys_size(c, keys);
        return size;
    }
    case K_STR:
        if (l->string_model == PYDBG__STRINGS_PEP393) {
            uint32_t state = pydbg__load_u32(ob, l->unicode.state);
            uint64_t length = pydbg__load_u64(ob, l->unicode.length);
            unsigned kind = (state >> l->unicode.kind_shift) & 7;
            if (length >= (1ull << 40))
                return size + ti->basicsize;
            if ((state >> l->unicode.compact_bit) & 1) {
                if ((state >> l->unicode.ascii_bit) & 1)
                    return size + (uint64_t)l->unicode.ascii_data + length + 1;
                return size + (uint64_t)l->unicode.compact_data + (length + 1) * kind;
            }
            /* A legacy (subclass) string: PyUnicodeObject and its data buffer. */
            return size + (uint64_t)l->unicode.compact_data + 8 + (length + 1) * (kind ? kind : 1);
        }
        break;
    default: break;
    }
    size += ti->basicsize;
    if (ti->itemsize) {
        int64_t n = (int64_t)pydbg__load_u64(ob, l->object.ob_size);
        uint64_t items = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
        if (items < (1ull << 40))
            size += items * ti->itemsize;
    }
    return size;
}

/* ---- referents ----------------------------------------------------------------------- */

/* Counts the object at `address` if it is new and untracked, and queues it
 * when it is a container to follow. */
static int reach(census *c, uint64_t address)
{
    unsigned char ob[256];
    uint64_t type;
    uint32_t index;
    type_info *ti;
    size_t span;
    int rc;
    if (address == 0 || (address & 7) != 0)
        return PYDBG_OK;
    rc = seen_insert(c, address);
    if (rc <= 0)
        return rc;
    if (pydbg__read_ptr(c->t->reader, address + (uint64_t)c->l->object.ob_type, &type) !=
            PYDBG_OK ||
        type_index(c, type, &index) != PYDBG_OK) {
        c->unreadable_referents++;
        return PYDBG_OK;
    }
    ti = &c->types[index];
    span = kind_span(c, ti->kind);
    if (span > sizeof ob || pydbg__read(c->t->reader, address, ob, span) != PYDBG_OK) {
        c->unreadable_referents++;
        return PYDBG_OK;
    }
    ti->reached_count++;
    ti->reached_bytes += object_size(c, ti, address, ob);
    if (ti->kind == K_TUPLE || ti->kind == K_DICT || ti->kind == K_LIST || ti->kind == K_SET)
        return push_work(c, address, index);
    return PYDBG_OK;
}

static int reach_array(census *c, uint64_t items, uint64_t count, uint64_t stride,
                       uint64_t key_offset)
{
    uint64_t buf[512];
    uint64_t per;
    if (stride < 8 || stride > 64 || key_offset > stride - 8 || count > MAX_ITEMS) {
        c->skipped_containers++;
        return PYDBG_OK;
    }
    per = (sizeof buf) / stride;
    for (uint64_t i = 0; i < count; i += per) {
        uint64_t n = count - i < per ? count - i : per;
        if (pydbg__read(c->t->reader, items + i * stride, buf, (size_t)(n * stride)) !=
            PYDBG_OK) {
            c->skipped_containers++;
            return PYDBG_OK;
        }
        for (uint64_t k = 0; k < n; k++) {
            uint64_t v;
            memcpy(&v, (unsigned char *)buf + k * stride + key_offset, 8);
            int rc = reach(c, v);
            if (rc != PYDBG_OK)
                return rc;
        }
    }
    return PYDBG_OK;
}

static int reach_dict_entry(pydbg__target *t, uint64_t key, uint64_t value, void *ctx)
{
    census *c = ctx;
    int rc;
    (void)t;
    rc = reach(c, key);
    if (rc == PYDBG_OK)
        rc = reach(c, value);
    return rc;
}

/* Attribute values kept without a dict (3.11+): as many value pointers at
 * `values` as the type's shared keys have entries (read once per type: they
 * only grow, and a paused target does not change). */
static int reach_values(census *c, uint64_t type, uint64_t values)
{
    const pydbg__layout *l = c->l;
    uint64_t keys, nentries;
    uint32_t index;
    if (type_index(c, type, &index) == PYDBG_OK && c->types[index].shared_entries >= 0)
        return reach_array(c, values + (uint64_t)l->dictkeys.values_array,
                           (uint64_t)c->types[index].shared_entries, 8, 0);
    if (l->type.ht_cached_keys < 0 ||
        pydbg__read_ptr(c->t->reader, type + (uint64_t)l->type.ht_cached_keys, &keys) !=
            PYDBG_OK ||
        !keys ||
        pydbg__read_ptr(c->t->reader, keys + (uint64_t)l->dictkeys.dk_nentries, &nentries) !=
            PYDBG_OK ||
        nentries > MAX_ATTR_VALUES) {
        c->skipped_containers++;
        return PYDBG_OK;
    }
    if (type_index(c, type, &index) == PYDBG_OK)
        c->types[index].shared_entries = (int64_t)nentries;
    return reach_array(c, values + (uint64_t)l->dictkeys.values_array, nentries, 8, 0);
}

/* An instance's attributes: the __dict__ (object or managed) or its values. */
static int reach_attributes(census *c, uint64_t obj, const type_info *type)
{
    const pydbg__layout *l = c->l;
    /* A copy: reaching objects may find new types and move c->types. */
    const type_info copy = *type, *ti = &copy;
    uint64_t slot;
    for (uint32_t i = 0; i < ti->slot_count; i++) {
        int rc;
        if (pydbg__read_ptr(c->t->reader, obj + (uint64_t)c->slots[ti->slot_first + i],
                            &slot) != PYDBG_OK)
            break;
        rc = reach(c, slot);
        if (rc != PYDBG_OK)
            return rc;
    }
    if (l->instdict_model != PYDBG__INSTDICT_OFFSET && l->type.flag_managed_dict &&
        (ti->flags & l->type.flag_managed_dict)) {
        if (pydbg__read_ptr(c->t->reader, obj - 3 * 8, &slot) != PYDBG_OK)
            return PYDBG_OK;
        if (l->instdict_model == PYDBG__INSTDICT_MANAGED_312 && (slot & 1))
            return reach_values(c, ti->address, slot + 1);
        if (slot)
            return reach(c, slot);
        if (l->instdict_model == PYDBG__INSTDICT_MANAGED_311) {
            if (pydbg__read_ptr(c->t->reader, obj - 4 * 8, &slot) == PYDBG_OK && slot)
                return reach_values(c, ti->address, slot);
            return PYDBG_OK;
        }
        if (l->instdict_model == PYDBG__INSTDICT_INLINE_313 &&
            (ti->flags & l->type.flag_inline_values)) {
            unsigned char valid[4];
            /* struct _dictvalues { capacity, size, embedded, valid; values[] }:
             * once the values moved to a dict, they are no longer valid here. */
            if (pydbg__read(c->t->reader, obj + ti->basicsize, valid, 4) == PYDBG_OK &&
                valid[3])
                return reach_values(c, ti->address, obj + ti->basicsize);
        }
        return PYDBG_OK;
    }
    if (ti->dictoffset == 0 || ti->dictoffset > (1u << 20))
        return PYDBG_OK; /* none, or negative (variable-size objects: not followed) */
    if (pydbg__read_ptr(c->t->reader, obj + ti->dictoffset, &slot) == PYDBG_OK && slot)
        return reach(c, slot);
    return PYDBG_OK;
}

static int follow(census *c, const work_item *w)
{
    const pydbg__layout *l = c->l;
    const type_info copy = c->types[w->type], *ti = &copy;
    unsigned char ob[256];
    size_t span = kind_span(c, ti->kind);
    int rc;
    if (span > sizeof ob || pydbg__read(c->t->reader, w->address, ob, span) != PYDBG_OK) {
        c->skipped_containers++;
        return PYDBG_OK;
    }
    switch (ti->kind) {
    case K_LIST: {
        int64_t n = (int64_t)pydbg__load_u64(ob, l->object.ob_size);
        if (n > 0)
            return reach_array(c, pydbg__load_u64(ob, l->seq.list_ob_item), (uint64_t)n, 8, 0);
        break;
    }
    case K_TUPLE: {
        int64_t n = (int64_t)pydbg__load_u64(ob, l->object.ob_size);
        if (n > 0)
            rc = reach_array(c, w->address + (uint64_t)l->seq.tuple_ob_item, (uint64_t)n, 8, 0);
        else
            rc = PYDBG_OK;
        if (rc == PYDBG_OK && ti->address != c->tuple_type)
            rc = reach_attributes(c, w->address, ti);
        return rc;
    }
    case K_SET: {
        uint64_t mask = pydbg__load_u64(ob, l->sizes.set_mask);
        /* setentry is {key, hash} in 3.x, {hash, key} in 2.7. */
        uint64_t key_offset = l->major == 2 ? 8 : 0;
        if (mask < (1ull << 28))
            rc = reach_array(c, pydbg__load_u64(ob, l->sizes.set_table), mask + 1,
                             (uint64_t)l->sizes.set_entry_size, key_offset);
        else
            rc = PYDBG_OK;
        return rc;
    }
    case K_DICT:
        if (ti->address == c->dict_type) {
            rc = pydbg__dict_visit(c->t, w->address, reach_dict_entry, c);
            if (rc == PYDBG_ENOMEM)
                return rc;
            if (rc != PYDBG_OK)
                c->skipped_containers++;
        } else {
            c->skipped_containers++; /* dict subclasses: items not followed */
        }
        return reach_attributes(c, w->address, ti);
    default: break;
    }
    return reach_attributes(c, w->address, ti);
}

/* ---- the generation lists ------------------------------------------------------------ */

/* Walks the list whose head PyGC_Head is at `head`. */
static int walk_list(census *c, uint64_t head, const char *which)
{
    const pydbg__layout *l = c->l;
    uint64_t mask = l->gc.pointer_mask, hs = (uint64_t)l->gc.head_size;
    unsigned char gc[64 + 256];
    uint64_t prev = head, cur, n = 0;
    int rc;
    if (hs + 24 > 64)
        return pydbg__fail(&c->t->error, PYDBG_ECORRUPT, "PyGC_Head of %llu bytes",
                           (unsigned long long)hs);
    rc = pydbg__target_read(c->t, head, gc, (size_t)hs, which);
    if (rc != PYDBG_OK)
        return rc;
    cur = pydbg__load_u64(gc, l->gc.head_next) & mask;
    while (cur != head) {
        uint64_t obj = cur + hs, next, back, type;
        uint32_t index;
        type_info *ti;
        size_t span;
        if (++n > MAX_OBJECTS)
            return pydbg__fail(&c->t->error, PYDBG_ELIMIT, "%s has more than %llu objects",
                               which, (unsigned long long)MAX_OBJECTS);
        if (cur == 0 || (cur & 7) != 0)
            return pydbg__fail(&c->t->error, PYDBG_ECORRUPT,
                               "%s: bad link 0x%llx after %llu objects", which,
                               (unsigned long long)cur, (unsigned long long)n - 1);
        rc = pydbg__target_read(c->t, cur, gc, (size_t)(hs + 24), "GC object");
        if (rc != PYDBG_OK)
            return rc;
        next = pydbg__load_u64(gc, l->gc.head_next) & mask;
        back = pydbg__load_u64(gc, l->gc.head_prev) & mask;
        if (back != prev)
            return pydbg__fail(&c->t->error, PYDBG_ECORRUPT,
                               "%s: object 0x%llx links back to 0x%llx, not 0x%llx (the list "
                               "changed while read)",
                               which, (unsigned long long)obj, (unsigned long long)back,
                               (unsigned long long)prev);
        type = pydbg__load_u64(gc + hs, l->object.ob_type);
        rc = type_index(c, type, &index);
        if (rc != PYDBG_OK)
            return rc;
        ti = &c->types[index];
        span = kind_span(c, ti->kind);
        if (span > sizeof gc - (size_t)hs)
            return pydbg__fail(&c->t->error, PYDBG_ECORRUPT, "object layout too large");
        if (span > 24) {
            rc = pydbg__target_read(c->t, obj, gc + hs, span, "GC object");
            if (rc != PYDBG_OK)
                return rc;
        }
        ti->tracked_count++;
        ti->tracked_bytes += object_size(c, ti, obj, gc + hs);
        c->tracked_total++;
        if (c->referents) {
            rc = seen_insert(c, obj);
            if (rc < 0)
                return pydbg__fail(&c->t->error, rc, "out of memory");
            rc = push_work(c, obj, index);
            if (rc != PYDBG_OK)
                return pydbg__fail(&c->t->error, rc, "out of memory");
        }
        prev = cur;
        cur = next;
    }
    return PYDBG_OK;
}

static uint64_t symbol(pydbg__elf *elf, uint64_t bias, const char *name)
{
    pydbg__elf_symbol sym;
    if (pydbg__elf_find_symbol(elf, name, &sym) != PYDBG_OK || sym.value == 0)
        return 0;
    return sym.value + bias;
}

/* Type addresses and, for 2.7/3.6, the generation array, from the interpreter's symbols. */
static int resolve_symbols(pydbg__target *t, pydbg__census_roots *r)
{
    pydbg__maps maps = {0};
    pydbg__elf *elf = NULL;
    const pydbg__mapping *base;
    char rooted[4096 + 64];
    uint64_t bias;
    int rc = pydbg__maps_read(&maps, t->pid, &t->error);
    if (rc != PYDBG_OK)
        return rc;
    base = pydbg__maps_file_base(&maps, t->interpreter_path);
    if (!base) {
        pydbg__maps_free(&maps);
        return pydbg__fail(&t->error, PYDBG_ENOTFOUND, "%s is no longer mapped",
                           t->interpreter_path);
    }
    snprintf(rooted, sizeof rooted, "/proc/%d/root%s", t->pid, t->interpreter_path);
    rc = pydbg__elf_open(&elf, rooted, NULL);
    if (rc != PYDBG_OK)
        rc = pydbg__elf_open(&elf, t->interpreter_path, &t->error);
    if (rc != PYDBG_OK) {
        pydbg__maps_free(&maps);
        return rc;
    }
    bias = pydbg__elf_load_bias(elf, base->start, base->offset);
    r->list = symbol(elf, bias, "PyList_Type");
    r->tuple = symbol(elf, bias, "PyTuple_Type");
    r->dict = t->types.dict;
    r->set = symbol(elf, bias, "PySet_Type");
    r->frozenset = symbol(elf, bias, "PyFrozenSet_Type");
    r->bytearray = symbol(elf, bias, "PyByteArray_Type");
    r->long_ = symbol(elf, bias, "PyLong_Type");
    r->str = t->types.str;
    r->type = symbol(elf, bias, "PyType_Type");
    r->generation0_var = symbol(elf, bias, "_PyGC_generation0");
    pydbg__elf_close(elf);
    pydbg__maps_free(&maps);
    return PYDBG_OK;
}

/* The address of the GC state (or of generations[0] for ROOT_SYMBOL). */
static int gc_state(census *c, uint64_t generation0_var, uint64_t *state)
{
    pydbg__target *t = c->t;
    const pydbg__layout *l = c->l;
    switch (l->gc.root) {
    case PYDBG__GC_ROOT_SYMBOL:
        if (!generation0_var)
            return pydbg__fail(&t->error, PYDBG_ENOTSUP,
                               "no _PyGC_generation0 symbol in %s", t->interpreter_path);
        return pydbg__target_read_ptr(t, generation0_var, state, "_PyGC_generation0");
    case PYDBG__GC_ROOT_RUNTIME:
        if (!t->runtime || l->gc.runtime_state < 0)
            return pydbg__fail(&t->error, PYDBG_ENOTSUP, "no _PyRuntime symbol");
        *state = t->runtime + (uint64_t)l->gc.runtime_state;
        return PYDBG_OK;
    case PYDBG__GC_ROOT_INTERP: {
        uint64_t interp;
        int rc;
        if (!t->runtime || l->runtime.interpreters_main < 0 || l->interp.gc < 0)
            return pydbg__fail(&t->error, PYDBG_ENOTSUP, "no _PyRuntime symbol");
        rc = pydbg__target_read_ptr(t, t->runtime + (uint64_t)l->runtime.interpreters_main,
                                    &interp, "main interpreter");
        if (rc != PYDBG_OK)
            return rc;
        if (!interp)
            return pydbg__fail(&t->error, PYDBG_ECORRUPT, "no main interpreter");
        *state = interp + (uint64_t)l->interp.gc;
        return PYDBG_OK;
    }
    default:
        return pydbg__fail(&t->error, PYDBG_ENOTSUP, "unknown GC root");
    }
}

static void reset_counts(census *c)
{
    for (size_t i = 0; i < c->type_count; i++)
        c->types[i].tracked_count = c->types[i].tracked_bytes = c->types[i].reached_count =
            c->types[i].reached_bytes = 0;
    if (c->seen)
        memset(c->seen, 0, c->seen_slots * sizeof *c->seen);
    c->seen_count = 0;
    c->work_count = 0;
    c->unreadable_referents = c->skipped_containers = c->tracked_total = 0;
}

/* One pass over every list, then the referents. */
static int census_pass(census *c, uint64_t state)
{
    const pydbg__layout *l = c->l;
    char which[64];
    int rc;
    if (l->gc.generation_count <= 0 || l->gc.generation_count > 8)
        return pydbg__fail(&c->t->error, PYDBG_ECORRUPT, "%d GC generations",
                           l->gc.generation_count);
    for (int g = 0; g < l->gc.generation_count; g++) {
        snprintf(which, sizeof which, "GC generation %d", g);
        rc = walk_list(c,
                       state + (uint64_t)l->gc.generations +
                           (uint64_t)g * (uint64_t)l->gc.generation_size,
                       which);
        if (rc != PYDBG_OK)
            return rc;
    }
    if (l->gc.permanent >= 0) {
        rc = walk_list(c, state + (uint64_t)l->gc.permanent, "GC permanent generation");
        if (rc != PYDBG_OK)
            return rc;
    }
    /* c->work grows while it is walked: untracked containers reached are
     * appended and followed in turn; each object enters once (seen set). */
    for (size_t i = 0; i < c->work_count; i++) {
        work_item w = c->work[i];
        rc = follow(c, &w);
        if (rc != PYDBG_OK)
            return pydbg__fail(&c->t->error, rc, "out of memory");
    }
    return PYDBG_OK;
}

static int collecting(census *c, uint64_t state)
{
    uint32_t flag = 0;
    if (c->l->gc.collecting < 0)
        return 0;
    if (pydbg__read(c->t->reader, state + (uint64_t)c->l->gc.collecting, &flag, 4) != PYDBG_OK)
        return 0;
    return flag != 0;
}

static int store(census *c, pydbg_snapshot *s)
{
    for (size_t i = 0; i < c->type_count; i++) {
        const type_info *ti = &c->types[i];
        pydbg__snap_type st;
        int rc;
        if (!ti->tracked_count && !ti->reached_count)
            continue;
        st.name = ti->name;
        st.address = ti->address;
        st.tracked_count = ti->tracked_count;
        st.tracked_bytes = ti->tracked_bytes;
        st.reached_count = ti->reached_count;
        st.reached_bytes = ti->reached_bytes;
        rc = pydbg__snapshot_add_type(s, &st);
        if (rc != PYDBG_OK)
            return rc;
    }
    return PYDBG_OK;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

int pydbg__census_take(pydbg_snapshot *s, pydbg__target *t, const pydbg__range *readable,
                       size_t readable_count, int referents, int paused, char *note,
                       size_t note_size)
{
    pydbg__census_roots roots;
    int rc;
    memset(&roots, 0, sizeof roots);
    if (t->layout.gc.model == PYDBG__GC_UNKNOWN) {
        snprintf(note, note_size,
                 "no heap census: the layout of the GC lists of Python %s is not known",
                 t->version);
        return PYDBG_ENOTSUP;
    }
    rc = resolve_symbols(t, &roots);
    if (rc != PYDBG_OK) {
        snprintf(note, note_size, "no heap census: %s", t->error.message);
        return rc;
    }
    return pydbg__census_take_roots(s, t, &roots, readable, readable_count, referents, paused,
                                    note, note_size);
}

int pydbg__census_take_roots(pydbg_snapshot *s, pydbg__target *t,
                             const pydbg__census_roots *roots, const pydbg__range *readable,
                             size_t readable_count, int referents, int paused, char *note,
                             size_t note_size)
{
    census c;
    pydbg__reader *cache = NULL, *saved = t->reader;
    uint64_t state = 0;
    int rc, attempts = 0;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.l = &t->layout;
    c.referents = referents;
    if (c.l->gc.model == PYDBG__GC_UNKNOWN) {
        snprintf(note, note_size,
                 "no heap census: the layout of the GC lists of Python %s is not known",
                 t->version);
        return PYDBG_ENOTSUP;
    }
    c.list_type = roots->list;
    c.tuple_type = roots->tuple;
    c.dict_type = roots->dict;
    c.set_type = roots->set;
    c.frozenset_type = roots->frozenset;
    c.bytearray_type = roots->bytearray;
    c.long_type = roots->long_;
    c.str_type = roots->str;
    c.type_type = roots->type;
    if (c.type_type &&
        pydbg__read_ptr(t->reader, c.type_type + (uint64_t)c.l->type.tp_basicsize,
                        &c.heaptype_size) != PYDBG_OK)
        c.heaptype_size = 0;
    rc = gc_state(&c, roots->generation0_var, &state);
    if (rc != PYDBG_OK) {
        snprintf(note, note_size, "no heap census: %s", t->error.message);
        return rc;
    }
    c.type_slots = 1024;
    c.type_keys = calloc(c.type_slots, sizeof *c.type_keys);
    c.type_vals = calloc(c.type_slots, sizeof *c.type_vals);
    if (!c.type_keys || !c.type_vals ||
        pydbg__heap_cache_open(&cache, saved, readable, readable_count, CACHE_LIMIT) !=
            PYDBG_OK) {
        rc = pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
        goto done;
    }
    for (;;) {
        int waits = 0;
        /* A collection relinks the lists and reuses the back links for
         * reference counts: wait for it to end (paused: let the target run a
         * moment between looks). */
        t->reader = saved;
        while (collecting(&c, state) && waits++ < COLLECTING_WAITS) {
            if (paused) {
                pydbg__target_resume(t);
                sleep_ms(2);
                rc = pydbg__target_pause(t);
                if (rc != PYDBG_OK)
                    goto done;
            } else {
                sleep_ms(2);
            }
        }
        t->reader = cache;
        reset_counts(&c);
        rc = census_pass(&c, state);
        t->reader = saved;
        if (rc == PYDBG_OK || rc == PYDBG_ENOMEM || rc == PYDBG_EEXITED || paused ||
            ++attempts >= LIVE_ATTEMPTS)
            break;
        /* Live: drop what was cached, the heap moved on. */
        pydbg__reader_destroy(cache);
        cache = NULL;
        if (pydbg__heap_cache_open(&cache, saved, readable, readable_count, CACHE_LIMIT) !=
            PYDBG_OK) {
            rc = pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (rc != PYDBG_OK) {
        if (!paused && rc == PYDBG_ECORRUPT)
            pydbg__fail_context(&t->error,
                                "the heap kept changing during %d live census attempts "
                                "(take the snapshot paused)",
                                attempts);
        goto done;
    }
    rc = store(&c, s);
    if (rc != PYDBG_OK) {
        rc = pydbg__fail(&t->error, rc, "storing the census");
        goto done;
    }
    {
        int n = snprintf(note, note_size,
                         "%llu tracked objects on %d GC generation lists%s (as "
                         "gc.get_objects()); sizes as sys.getsizeof()",
                         (unsigned long long)c.tracked_total, c.l->gc.generation_count,
                         c.l->gc.permanent >= 0 ? " and the permanent generation" : "");
        /* 3.14's layout is written from its headers, with no 3.14 here to check it. */
        if (n > 0 && (size_t)n < note_size && c.l->major == 3 && c.l->minor == 14) {
            int m = snprintf(note + n, note_size - (size_t)n,
                             "; 3.14: census from headers, not tested against a live 3.14");
            n = m > 0 ? n + m : n;
        }
        if (n > 0 && (size_t)n < note_size && referents)
            snprintf(note + n, note_size - (size_t)n,
                     "; untracked objects reached through list, tuple, set and dict items "
                     "and instance attributes (%llu containers not followed, %llu "
                     "unreadable references)",
                     (unsigned long long)c.skipped_containers,
                     (unsigned long long)c.unreadable_referents);
    }
done:
    t->reader = saved;
    if (cache)
        pydbg__reader_destroy(cache);
    free(c.type_keys);
    free(c.type_vals);
    free(c.types);
    free(c.seen);
    free(c.work);
    free(c.slots);
    pydbg__arena_free(&c.names);
    return rc;
}
