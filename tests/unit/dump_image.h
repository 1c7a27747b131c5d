/* Memory images of real CPython objects, for the walker's unit tests.
 *
 * tests/unit/data/object_dump.py runs under an installed interpreter, builds
 * objects, and prints their memory (read through /proc/self/mem) together
 * with what the interpreter itself says they are. These helpers find the
 * interpreters, run the script with the layout's offsets, parse its records
 * and build a pydbg__target over a buffer reader of the dumped memory. */
#ifndef PYDBG_TESTS_DUMP_IMAGE_H
#define PYDBG_TESTS_DUMP_IMAGE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "layout/layout.h"
#include "walk/target.h"

#define DUMP_MAX_FIELDS 12

typedef struct dump_record {
    char *kind;                     /* "S", "D", "K", ... */
    char *field[DUMP_MAX_FIELDS];   /* the rest of the line, split on spaces */
    size_t count;
} dump_record;

typedef struct dump_image {
    char python[PATH_MAX];
    const pydbg__layout *layout;
    int major, minor;
    pydbg__type_addresses types;
    unsigned py2_unicode_width; /* 2.7: sizeof(Py_UNICODE) */
    char *text;                     /* owned: the script's output, split in place */
    dump_record *records;           /* every line except the R (memory) ones */
    size_t record_count;
    struct dump_region {
        uint64_t base;
        const char *hex;            /* in `text` */
        size_t length;              /* bytes */
    } *regions;
    size_t region_count;
    size_t bytes;                   /* total memory dumped */
} dump_image;

/* The versions the walker supports, which each test tries to cover. */
extern const int dump_versions[][2];
extern const size_t dump_version_count;

/* Every installed interpreter of major.minor (pyenv's, then /usr/bin's). */
size_t dump_find_pythons(int major, int minor, char found[][PATH_MAX], size_t max);

/* Runs the dumper in `mode` under `python` with `layout`'s offsets. Returns 0,
 * or -1 with the reason printed (the script failed, no DONE line). */
int dump_image_load(dump_image *image, const char *python, const char *mode,
                    const pydbg__layout *layout);
void dump_image_free(dump_image *image);

/* A target over the image's memory: a fresh buffer reader, the layout, the
 * type addresses and an empty code cache. Free with pydbg__target_close(). */
pydbg__target *dump_image_target(const dump_image *image);

/* Adds `length` bytes at `base` to the target's buffer reader (later regions
 * win where they overlap, so this patches the image). */
void dump_patch(pydbg__target *t, uint64_t base, const void *data, size_t length);

/* Copies the image's bytes at [address, address+length) into `out`; 0 if all were dumped. */
int dump_image_bytes(const dump_image *image, uint64_t address, void *out, size_t length);

/* Field helpers. */
uint64_t dump_hex(const char *text);
/* Decodes a hex string into a malloc'd NUL-terminated buffer; `*length` gets its size. */
char *dump_unhex(const char *text, size_t *length);
/* The first record of `kind` whose field 0 is `name`, or NULL. */
const dump_record *dump_find(const dump_image *image, const char *kind, const char *name);

#endif
