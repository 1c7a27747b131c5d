/* Decoding Python objects out of a target's memory: strings, integers,
 * dicts, instance attributes. Every function validates the object's type
 * against the interpreter's own type objects before trusting its layout. */
#ifndef PYDBG_WALK_OBJECTS_H
#define PYDBG_WALK_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

#include "walk/target.h"

/* Reads the type pointer of the object at `address`. */
int pydbg__obj_type(pydbg__target *t, uint64_t address, uint64_t *type);

/* Decodes a str (PEP 393 compact unicode; PyStringObject on 2.7; a unicode
 * object is also accepted on 2.7) as UTF-8 into `out` (NUL-terminated).
 * Text longer than `capacity - 1` bytes is cut at a character boundary and
 * `*truncated` set. Errors: PYDBG_ECORRUPT (not a string, bad length/kind),
 * read errors. */
int pydbg__obj_read_string(pydbg__target *t, uint64_t address, char *out, size_t capacity,
                           int *truncated);

/* True (1) if the str at `address` equals `text`, 0 if not, negative on error. */
int pydbg__obj_string_equals(pydbg__target *t, uint64_t address, const char *text);

/* Decodes an int (PyLong; PyIntObject or PyLong on 2.7) that fits in 64 bits. */
int pydbg__obj_read_u64(pydbg__target *t, uint64_t address, uint64_t *value);

/* Calls `visit(key, value, ctx)` for each live entry of the dict at `address`,
 * in insertion order (table order on 2.7). `visit` returns 0 to go on, 1 to
 * stop (not an error), or a negative error. */
typedef int (*pydbg__dict_visitor)(pydbg__target *t, uint64_t key, uint64_t value, void *ctx);
int pydbg__dict_visit(pydbg__target *t, uint64_t address, pydbg__dict_visitor visit, void *ctx);

/* Looks up a str key. PYDBG_ENOTFOUND if absent. */
int pydbg__dict_get_str(pydbg__target *t, uint64_t address, const char *key, uint64_t *value);

/* Looks up an instance attribute stored in the object's __dict__ (wherever
 * the version keeps it: tp_dictoffset, managed dict, inline values). */
int pydbg__obj_get_attr(pydbg__target *t, uint64_t address, const char *name, uint64_t *value);

#endif
