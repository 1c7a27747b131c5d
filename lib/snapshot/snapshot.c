/* The snapshot model: construction and the entries' storage. */
#include "snapshot/snapshot.h"

#include <stdlib.h>
#include <string.h>

pydbg_snapshot *pydbg__snapshot_new(void)
{
    pydbg_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->pid = -1;
    s->python_version = s->executable = s->census_note = s->pymalloc_note = "";
    return s;
}

const char *pydbg__snapshot_strdup(pydbg_snapshot *s, const char *text)
{
    return pydbg__arena_strdup(&s->arena, text ? text : "");
}

int pydbg__snapshot_add_type(pydbg_snapshot *s, const pydbg__snap_type *type)
{
    pydbg__snap_type *slot;
    void *items = s->types;
    if (s->type_count >= PYDBG__SNAP_MAX_TYPES)
        return PYDBG_ELIMIT;
    if (pydbg__grow_array(&items, &s->type_capacity, s->type_count + 1, sizeof *s->types) !=
        PYDBG_OK)
        return PYDBG_ENOMEM;
    s->types = items;
    slot = &s->types[s->type_count];
    *slot = *type;
    slot->name = pydbg__snapshot_strdup(s, type->name);
    if (!slot->name)
        return PYDBG_ENOMEM;
    s->type_count++;
    return PYDBG_OK;
}

int pydbg__snapshot_add_mapping(pydbg_snapshot *s, const pydbg__snap_mapping *mapping)
{
    pydbg__snap_mapping *slot;
    void *items = s->mappings;
    if (s->mapping_count >= PYDBG__SNAP_MAX_MAPPINGS)
        return PYDBG_ELIMIT;
    if (pydbg__grow_array(&items, &s->mapping_capacity, s->mapping_count + 1,
                          sizeof *s->mappings) != PYDBG_OK)
        return PYDBG_ENOMEM;
    s->mappings = items;
    slot = &s->mappings[s->mapping_count];
    *slot = *mapping;
    slot->path = pydbg__snapshot_strdup(s, mapping->path);
    if (!slot->path)
        return PYDBG_ENOMEM;
    if (slot->kind > PYDBG_MAPPING_SPECIAL)
        slot->kind = PYDBG_MAPPING_SPECIAL;
    s->mapping_count++;
    return PYDBG_OK;
}

int pydbg__snapshot_add_pymalloc(pydbg_snapshot *s, const pydbg__snap_pymalloc *state)
{
    void *items = s->pymalloc;
    if (s->pymalloc_count >= PYDBG__SNAP_MAX_PYMALLOC)
        return PYDBG_ELIMIT;
    if (pydbg__grow_array(&items, &s->pymalloc_capacity, s->pymalloc_count + 1,
                          sizeof *s->pymalloc) != PYDBG_OK)
        return PYDBG_ENOMEM;
    s->pymalloc = items;
    s->pymalloc[s->pymalloc_count] = *state;
    if (s->pymalloc[s->pymalloc_count].class_count > PYDBG__SNAP_MAX_SIZE_CLASSES)
        s->pymalloc[s->pymalloc_count].class_count = PYDBG__SNAP_MAX_SIZE_CLASSES;
    s->pymalloc_count++;
    return PYDBG_OK;
}

PYDBG_API void pydbg_snapshot_free(pydbg_snapshot *snapshot)
{
    if (!snapshot)
        return;
    free(snapshot->types);
    free(snapshot->mappings);
    free(snapshot->pymalloc);
    pydbg__arena_free(&snapshot->arena);
    free(snapshot);
}
