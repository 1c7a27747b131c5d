#include "sample/code_keys.h"

#include <stdlib.h>
#include <string.h>

#include "pydebug/errors.h"

#define INITIAL_SLOTS 1024u
#define MAX_KEYS (1u << 22)

int pydbg__code_keys_init(pydbg__code_keys *keys)
{
    memset(keys, 0, sizeof *keys);
    keys->slots = calloc(INITIAL_SLOTS, sizeof *keys->slots);
    if (!keys->slots)
        return PYDBG_ENOMEM;
    keys->slot_count = INITIAL_SLOTS;
    return PYDBG_OK;
}

void pydbg__code_keys_free(pydbg__code_keys *keys)
{
    for (size_t i = 0; i < keys->count; i++) {
        free(keys->by_key[i]->linetable);
        free(keys->by_key[i]->lines);
        free(keys->by_key[i]);
    }
    free(keys->by_key);
    free(keys->slots);
    pydbg__arena_free(&keys->arena);
    memset(keys, 0, sizeof *keys);
}

static size_t slot_of(const pydbg__code_keys *keys, uint64_t address)
{
    uint64_t h = (address >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (keys->slot_count - 1);
}

/* The slot holding `address`, or the empty slot where it would go. */
static pydbg__code_key **probe(pydbg__code_keys *keys, uint64_t address)
{
    size_t i = slot_of(keys, address);
    while (keys->slots[i] && keys->slots[i]->address != address)
        i = (i + 1) & (keys->slot_count - 1);
    return &keys->slots[i];
}

pydbg__code_key *pydbg__code_keys_find(pydbg__code_keys *keys, uint64_t address)
{
    return *probe(keys, address);
}

static int grow_slots(pydbg__code_keys *keys)
{
    size_t old_count = keys->slot_count;
    pydbg__code_key **old = keys->slots;
    keys->slots = calloc(old_count * 2, sizeof *keys->slots);
    if (!keys->slots) {
        keys->slots = old;
        return PYDBG_ENOMEM;
    }
    keys->slot_count = old_count * 2;
    for (size_t i = 0; i < old_count; i++)
        if (old[i])
            *probe(keys, old[i]->address) = old[i];
    free(old);
    return PYDBG_OK;
}

static int same_object(const pydbg__code_key *entry, const pydbg__code_info *info)
{
    return entry->name_ptr == info->name_ptr && entry->filename_ptr == info->filename_ptr &&
           entry->linetable_ptr == info->linetable_ptr && entry->first_line == info->first_line;
}

/* Makes a new key for `info`, replacing `*slot`'s entry in the address map
 * (the old key stays valid for name lookups). */
static int add_key(pydbg__code_keys *keys, const pydbg__code_info *info, pydbg__code_key **out)
{
    pydbg__code_key *entry;
    void *by_key = keys->by_key;
    int rc;
    if (keys->count >= MAX_KEYS)
        return PYDBG_ELIMIT;
    rc = pydbg__grow_array(&by_key, &keys->capacity, keys->count + 1, sizeof *keys->by_key);
    keys->by_key = by_key;
    if (rc != PYDBG_OK)
        return rc;
    entry = calloc(1, sizeof *entry);
    if (!entry)
        return PYDBG_ENOMEM;
    entry->address = info->address;
    entry->name_ptr = info->name_ptr;
    entry->filename_ptr = info->filename_ptr;
    entry->linetable_ptr = info->linetable_ptr;
    entry->first_line = info->first_line;
    entry->code_bytes = info->code_bytes;
    entry->frame_bytes = info->frame_bytes;
    entry->function = pydbg__arena_strdup(&keys->arena, info->name);
    entry->filename = pydbg__arena_strdup(&keys->arena, info->filename);
    entry->qualname = info->qualname ? pydbg__arena_strdup(&keys->arena, info->qualname) : NULL;
    entry->linetable = malloc(info->linetable_length + 1);
    if (!entry->function || !entry->filename || (info->qualname && !entry->qualname) ||
        !entry->linetable) {
        free(entry->linetable);
        free(entry);
        return PYDBG_ENOMEM;
    }
    memcpy(entry->linetable, info->linetable, info->linetable_length);
    entry->linetable_length = info->linetable_length;
    entry->key = keys->count + 1;
    keys->by_key[keys->count++] = entry;
    *out = entry;
    return PYDBG_OK;
}

/* The entry for the code object `info` decoded at `address`: the live one if it is
 * the same object, else a new key (the address now names another object). */
static int resolve_info(pydbg__code_keys *keys, pydbg__target *t, uint64_t address,
                        const pydbg__code_info *info, pydbg__code_key **out)
{
    pydbg__code_key **slot = probe(keys, address), *entry;
    int rc;
    if (*slot && same_object(*slot, info)) {
        *out = *slot;
        return PYDBG_OK;
    }
    rc = add_key(keys, info, &entry);
    if (rc != PYDBG_OK)
        return pydbg__fail(&t->error, rc, "cannot record code object 0x%llx: %s",
                           (unsigned long long)address, pydbg_strerror(rc));
    if (*slot) {
        *slot = entry; /* the address now names another object */
        keys->generation++;
    } else {
        if ((keys->slot_used + 1) * 2 > keys->slot_count) {
            if (grow_slots(keys) != PYDBG_OK)
                return pydbg__fail(&t->error, PYDBG_ENOMEM, "out of memory");
        }
        *probe(keys, address) = entry;
        keys->slot_used++;
    }
    *out = entry;
    return PYDBG_OK;
}

int pydbg__code_keys_resolve(pydbg__code_keys *keys, pydbg__target *t, uint64_t address,
                             pydbg__code_key **out)
{
    const pydbg__code_info *info;
    int rc = pydbg__code_lookup(t, address, &info);
    return rc == PYDBG_OK ? resolve_info(keys, t, address, info, out) : rc;
}

pydbg__code_key *pydbg__code_keys_live(pydbg__code_keys *keys, uint64_t key)
{
    pydbg__code_key *entry;
    if (key == 0 || key > keys->count)
        return NULL;
    entry = keys->by_key[key - 1];
    return *probe(keys, entry->address) == entry ? entry : NULL;
}

pydbg__code_key *pydbg__code_keys_next_to_revalidate(pydbg__code_keys *keys)
{
    if (keys->count == 0)
        return NULL;
    keys->revalidate_cursor = (keys->revalidate_cursor + 1) % keys->count;
    return pydbg__code_keys_live(keys, keys->revalidate_cursor + 1); /* NULL: retired */
}

int pydbg__code_keys_revalidate(pydbg__code_keys *keys, pydbg__target *t, pydbg__code_key *entry,
                                const unsigned char *header_bytes)
{
    const pydbg__code_info *info;
    pydbg__code_key **slot;
    int rc;
    if (*probe(keys, entry->address) != entry)
        return PYDBG_OK; /* retired since it was chosen */
    rc = pydbg__code_lookup_read(t, entry->address, header_bytes, &info);
    if (rc == PYDBG_EEXITED || rc == PYDBG_ENOMEM)
        return rc;
    if (rc == PYDBG_OK) {
        /* The same object keeps its key; another one gets a new key. */
        pydbg__code_key *now;
        rc = resolve_info(keys, t, entry->address, info, &now);
        return rc == PYDBG_ENOMEM ? rc : PYDBG_OK;
    }
    /* Freed and not a code object any more: forget the address. */
    slot = probe(keys, entry->address);
    if (*slot == entry) {
        keys->generation++;
        /* Re-insert the following cluster so probing stays correct. */
        size_t i = (size_t)(slot - keys->slots);
        *slot = NULL;
        keys->slot_used--;
        for (i = (i + 1) & (keys->slot_count - 1); keys->slots[i];
             i = (i + 1) & (keys->slot_count - 1)) {
            pydbg__code_key *moved = keys->slots[i];
            keys->slots[i] = NULL;
            *probe(keys, moved->address) = moved;
        }
    }
    return PYDBG_OK;
}

int pydbg__code_key_line(const pydbg__target *t, pydbg__code_key *code, int offset)
{
    pydbg__code_info info;
    pydbg__position position;
    size_t index;
    if (offset < 0 || code->code_bytes <= 0 || offset >= code->code_bytes) {
        memset(&info, 0, sizeof info);
        info.first_line = code->first_line;
        info.linetable = code->linetable;
        info.linetable_length = code->linetable_length;
        pydbg__code_position(t, &info, offset, &position);
        return position.line;
    }
    index = t->layout.major == 2 ? (size_t)offset : (size_t)offset / 2;
    if (!code->lines) {
        size_t count = t->layout.major == 2 ? (size_t)code->code_bytes
                                            : (size_t)code->code_bytes / 2 + 1;
        code->lines = calloc(count, sizeof *code->lines);
        if (!code->lines)
            return -1;
        code->lines_count = count;
    }
    if (index >= code->lines_count)
        return -1;
    if (code->lines[index] == 0) {
        memset(&info, 0, sizeof info);
        info.first_line = code->first_line;
        info.linetable = code->linetable;
        info.linetable_length = code->linetable_length;
        pydbg__code_position(t, &info, offset, &position);
        /* 0 marks "not decoded"; a line of 0 or less is stored as INT32_MIN. */
        code->lines[index] = position.line > 0 ? position.line : INT32_MIN;
    }
    return code->lines[index] == INT32_MIN ? -1 : code->lines[index];
}

const pydbg__code_key *pydbg__code_keys_get(const pydbg__code_keys *keys, uint64_t key)
{
    if (key == 0 || key > keys->count)
        return NULL;
    return keys->by_key[key - 1];
}
