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
};

/* An empty snapshot with "" strings. NULL when out of memory. */
pydbg_snapshot *pydbg__snapshot_new(void);

/* Appends an entry (strings are copied into the snapshot's arena). */
int pydbg__snapshot_add_type(pydbg_snapshot *s, const pydbg__snap_type *type);
int pydbg__snapshot_add_mapping(pydbg_snapshot *s, const pydbg__snap_mapping *mapping);

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
