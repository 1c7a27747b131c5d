#include "walk/thread_names.h"

#include <stdlib.h>
#include <string.h>

#include "pydebug/errors.h"
#include "walk/objects.h"
#include "walk/threads.h"

/* Python 2's Thread keeps its attributes under their name-mangled form. */
static const char *name_attribute(const pydbg__target *t)
{
    return t->layout.major == 2 ? "_Thread__name" : "_name";
}

struct collect {
    pydbg__arena *arena;
    pydbg__thread_names *names;
};

static int collect_thread(pydbg__target *t, uint64_t key, uint64_t thread, void *ctx)
{
    struct collect *c = ctx;
    char name[256];
    uint64_t ident, name_object;
    int truncated, rc;
    void *items;
    /* A thread whose entry cannot be decoded keeps no name; the others still do. */
    if (pydbg__obj_read_u64(t, key, &ident) != PYDBG_OK)
        return 0;
    if (pydbg__obj_get_attr(t, thread, name_attribute(t), &name_object) != PYDBG_OK)
        return 0;
    if (pydbg__obj_read_string(t, name_object, name, sizeof name, &truncated) != PYDBG_OK)
        return 0;
    items = c->names->items;
    rc = pydbg__grow_array(&items, &c->names->capacity, c->names->count + 1,
                           sizeof *c->names->items);
    c->names->items = items;
    if (rc != PYDBG_OK)
        return rc;
    c->names->items[c->names->count].ident = ident;
    c->names->items[c->names->count].name = pydbg__arena_strdup(c->arena, name);
    if (!c->names->items[c->names->count].name)
        return PYDBG_ENOMEM;
    c->names->count++;
    return 0;
}

int pydbg__thread_names_read(pydbg__target *t, uint64_t interp, pydbg__arena *arena,
                             pydbg__thread_names *names)
{
    const pydbg__layout *l = &t->layout;
    uint64_t modules, threading, module_dict, active;
    struct collect c = {arena, names};
    int rc;
    if (l->interp.modules < 0 || l->module.md_dict < 0)
        return PYDBG_ENOTSUP;
    rc = pydbg__target_read_ptr(t, interp + (uint64_t)l->interp.modules, &modules, "sys.modules");
    if (rc != PYDBG_OK)
        return rc;
    if (modules == 0)
        return PYDBG_OK;
    rc = pydbg__dict_get_str(t, modules, "threading", &threading);
    if (rc == PYDBG_ENOTFOUND)
        return PYDBG_OK;
    if (rc != PYDBG_OK)
        return rc;
    rc = pydbg__target_read_ptr(t, threading + (uint64_t)l->module.md_dict, &module_dict,
                                "threading's dict");
    if (rc != PYDBG_OK)
        return rc;
    rc = pydbg__dict_get_str(t, module_dict, "_active", &active);
    if (rc == PYDBG_ENOTFOUND)
        return PYDBG_OK;
    if (rc != PYDBG_OK)
        return rc;
    return pydbg__dict_visit(t, active, collect_thread, &c);
}

int pydbg__thread_names_read_all(pydbg__target *t, const pydbg__thread_list *list,
                                 pydbg__arena *arena, pydbg__thread_names *names)
{
    uint64_t last_interp = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (list->items[i].interp == last_interp)
            continue;
        last_interp = list->items[i].interp;
        if (pydbg__thread_names_read(t, last_interp, arena, names) == PYDBG_ENOMEM)
            return PYDBG_ENOMEM;
    }
    return PYDBG_OK;
}

const char *pydbg__thread_names_find(const pydbg__thread_names *names, uint64_t ident)
{
    for (size_t i = 0; i < names->count; i++)
        if (names->items[i].ident == ident)
            return names->items[i].name;
    return NULL;
}

void pydbg__thread_names_free(pydbg__thread_names *names)
{
    free(names->items);
    memset(names, 0, sizeof *names);
}
