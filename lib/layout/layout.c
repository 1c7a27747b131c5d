/* Lookup of the per-version layout tables.
 *
 * The base tables are generated (layout_tables.c, by tools/gen_layouts); the
 * hand-written ones (layout_handwritten.h) cover versions whose headers were
 * not available to the generator and are only reached through
 * `_Py_DebugOffsets`, but they are supported versions all the same. */
#include <stdio.h>

#include "layout/layout.h"
#include "layout/layout_handwritten.h"

/* Defined in the generated layout_tables.c. */
extern const pydbg__layout pydbg__layout_tables[];
extern const size_t pydbg__layout_table_count;

static const pydbg__layout *const handwritten_tables[] = {&pydbg__layout_3_14};

const pydbg__layout *pydbg__layout_for_version(int major, int minor)
{
    for (size_t i = 0; i < pydbg__layout_table_count; i++) {
        const pydbg__layout *layout = &pydbg__layout_tables[i];
        if (layout->major == major && layout->minor == minor)
            return layout;
    }
    return NULL;
}

/* Appends ", X.Y" (or "X.Y" first) unless the text would not fit. */
static void append_version(char *text, size_t size, size_t *used, const pydbg__layout *layout)
{
    int n = snprintf(text + *used, size - *used, "%s%u.%u", *used ? ", " : "",
                     (unsigned)layout->major, (unsigned)layout->minor);
    if (n > 0 && (size_t)n < size - *used)
        *used += (size_t)n;
    else
        text[*used] = '\0';
}

const char *pydbg__layout_supported_versions(void)
{
    /* Built per call into thread-local storage: no shared mutable state, and the
     * caller only formats it into a message right away. */
    static _Thread_local char text[256];
    size_t used = 0;
    size_t handwritten_count = sizeof handwritten_tables / sizeof handwritten_tables[0];

    text[0] = '\0';
    for (size_t i = 0; i < pydbg__layout_table_count; i++)
        append_version(text, sizeof text, &used, &pydbg__layout_tables[i]);
    for (size_t i = 0; i < handwritten_count; i++) {
        const pydbg__layout *layout = handwritten_tables[i];
        if (!pydbg__layout_for_version(layout->major, layout->minor))
            append_version(text, sizeof text, &used, layout);
    }
    return text;
}
