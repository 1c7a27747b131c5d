/* The memory map of a live process, from /proc/PID/maps. */
#ifndef PYDBG_ELF_MAPS_H
#define PYDBG_ELF_MAPS_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct pydbg__mapping {
    uint64_t start;
    uint64_t end;
    uint64_t offset;   /* file offset of `start` */
    uint64_t inode;
    unsigned perms;    /* PYDBG__MAP_R | _W | _X | _P (private) */
    char *path;        /* "" for anonymous; "[heap]", "[stack]", "/usr/lib/..." */
} pydbg__mapping;

enum { PYDBG__MAP_R = 1, PYDBG__MAP_W = 2, PYDBG__MAP_X = 4, PYDBG__MAP_P = 8 };

typedef struct pydbg__maps {
    pydbg__mapping *items;
    size_t count;
} pydbg__maps;

/* Reads /proc/PID/maps. Errors: PYDBG_ENOPROC, PYDBG_EPERM, PYDBG_EFORMAT, PYDBG_ENOMEM. */
int pydbg__maps_read(pydbg__maps *out, int pid, pydbg__error *err);

/* Parses the text of a maps file (exposed for unit tests and fuzzing). */
int pydbg__maps_parse(pydbg__maps *out, const char *text, size_t length, pydbg__error *err);

void pydbg__maps_free(pydbg__maps *maps);

/* The mapping that contains `address`, or NULL. */
const pydbg__mapping *pydbg__maps_find(const pydbg__maps *maps, uint64_t address);

/* True if [address, address+length) lies in readable mappings. */
int pydbg__maps_readable(const pydbg__maps *maps, uint64_t address, uint64_t length);

/* The lowest mapping of the file `path` (its load base), or NULL. */
const pydbg__mapping *pydbg__maps_file_base(const pydbg__maps *maps, const char *path);

#endif
