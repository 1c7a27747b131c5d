/* Memory snapshots: the in-memory model shared by the census, the file
 * format, the diff and the public glue.
 *
 * A snapshot owns every string it holds in one arena, so loading a file or
 * taking a census makes a handful of allocations however many types and
 * mappings there are. */
#ifndef PYDBG_SNAPSHOT_SNAPSHOT_H
#define PYDBG_SNAPSHOT_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "pydebug/snapshot.h"
#include "util/buffer.h"
#include "util/error.h"

/* Bounds on what a snapshot (taken or loaded) may hold. Real processes are
 * far below them; a file beyond them is corrupt. */
#define PYDBG__SNAP_MAX_TYPES (1u << 22)
#define PYDBG__SNAP_MAX_MAPPINGS (1u << 22)
#define PYDBG__SNAP_MAX_STRING 65536u

typedef struct pydbg__snap_type {
    const char *name; /* tp_name */
    uint64_t address; /* the type object in the target */
    uint64_t tracked_count, tracked_bytes;
    uint64_t reached_count, reached_bytes;
} pydbg__snap_type;

typedef struct pydbg__snap_mapping {
    const char *path; /* "" for anonymous */
    uint64_t start, end, offset;
    uint32_t perms; /* 1 r, 2 w, 4 x, 8 private */
    uint32_t kind;  /* pydbg_mapping_kind */
    uint64_t rss, pss, private_dirty, swap;
} pydbg__snap_mapping;

/* pymalloc's usage of one allocator state (pymalloc.c): the process's (3.6 -
 * 3.11) or one interpreter's (3.12+). Sizes in bytes. */
#define PYDBG__SNAP_MAX_SIZE_CLASSES 64u /* 512 / ALIGNMENT 8 */
#define PYDBG__SNAP_MAX_PYMALLOC 4096u   /* states: one per interpreter at most */

typedef struct pydbg__snap_size_class {
    uint64_t block_size, pools, blocks;
} pydbg__snap_size_class;

typedef struct pydbg__snap_pymalloc {
    int64_t interpreter_id; /* -1: shared by the whole process (3.6 - 3.11) */
    uint64_t arena_size, pool_size;
    uint64_t arenas;      /* "# arenas allocated current" */
    uint64_t pools;       /* pools in use (holding at least one block) */
    uint64_t free_pools;  /* the arenas' nfreepools ("# unused pools") */
    uint64_t blocks;      /* blocks in use */
    uint64_t block_bytes; /* "# bytes in allocated blocks" */
    uint32_t class_count;
    pydbg__snap_size_class classes[PYDBG__SNAP_MAX_SIZE_CLASSES];
} pydbg__snap_pymalloc;

struct pydbg_snapshot {
    pydbg__arena arena;
    int32_t pid;
    uint32_t contents; /* pydbg_snapshot_contents */
    uint32_t hexversion;
    int64_t time_ns, census_ns;
    const char *python_version, *executable, *census_note;
    pydbg__snap_type *types;
    size_t type_count, type_capacity;
    pydbg__snap_mapping *mappings;
    size_t mapping_count, mapping_capacity;
    /* pymalloc arena usage (contents PYDBG_SNAPSHOT_HAS_PYMALLOC), and what it
     * covers or why there is none. */
    pydbg__snap_pymalloc *pymalloc;
    size_t pymalloc_count, pymalloc_capacity;
    const char *pymalloc_note;
};

/* An empty snapshot with "" strings. NULL when out of memory. */
pydbg_snapshot *pydbg__snapshot_new(void);

/* Appends an entry (strings are copied into the snapshot's arena). */
int pydbg__snapshot_add_type(pydbg_snapshot *s, const pydbg__snap_type *type);
int pydbg__snapshot_add_mapping(pydbg_snapshot *s, const pydbg__snap_mapping *mapping);

/* Appends a pymalloc state (class_count is clamped to PYDBG__SNAP_MAX_SIZE_CLASSES). */
int pydbg__snapshot_add_pymalloc(pydbg_snapshot *s, const pydbg__snap_pymalloc *state);

/* Copies `text` into the snapshot's arena; NULL when out of memory. */
const char *pydbg__snapshot_strdup(pydbg_snapshot *s, const char *text);

/* The kind of a mapping from its path as /proc/PID/maps shows it. */
uint32_t pydbg__mapping_kind(const char *path);

/* Parses the text of /proc/PID/smaps into mappings of `s`. Errors:
 * PYDBG_EFORMAT (the message names the line), PYDBG_ENOMEM. */
int pydbg__smaps_parse(pydbg_snapshot *s, const char *text, size_t length, pydbg__error *err);

/* Reads and parses /proc/PID/smaps. Errors: PYDBG_ENOPROC, PYDBG_EPERM, PYDBG_EIO. */
int pydbg__smaps_read(pydbg_snapshot *s, int pid, pydbg__error *err);

/* The file format (format.c, docs/snapshot-format.md). */
int pydbg__snapshot_encode(const pydbg_snapshot *s, pydbg__buffer *out);
int pydbg__snapshot_decode(pydbg_snapshot **out, const unsigned char *data, size_t size,
                           pydbg__error *err);

/* CRC-32 (IEEE 802.3, the zlib/PNG one) of `data`, continuing from `crc` (0 to start). */
uint32_t pydbg__crc32(uint32_t crc, const void *data, size_t length);

#endif
