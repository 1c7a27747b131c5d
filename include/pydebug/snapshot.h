/**
 * @file pydebug/snapshot.h
 * @brief Memory snapshots of a live Python process, saved to a file and diffed.
 *
 * A ::pydbg_snapshot records, at one moment:
 * - every mapping of `/proc/PID/smaps` with its resident, PSS, private-dirty
 *   and swap sizes, classified as `[heap]`, anonymous, `[stack]`, a file, or
 *   another special mapping (`[vdso]` ...);
 * - a census of the Python heap by type: every object on the garbage
 *   collector's generation lists (the "tracked" objects, exactly those
 *   `gc.get_objects()` returns, plus the permanent generation of
 *   `gc.freeze()`), and the untracked objects (str, int, float, bytes, atomic
 *   tuples and dicts ...) reached from them through list, tuple, dict and set
 *   items and instance attributes. Each object's size is what
 *   `sys.getsizeof()` reports for the common types; docs/snapshots.md says
 *   exactly what is counted and where it differs;
 * - the target's pid, the time, its Python version and executable.
 *
 * Snapshots are saved to and loaded from a versioned, checksummed binary file
 * (docs/snapshot-format.md); files written by this version stay readable by
 * later ones. A ::pydbg_diff compares two snapshots by type or by mapping.
 *
 * Every count and size is read through small getters taking an index and a
 * field selector, so that bindings need no struct layout and new fields can be
 * added without breaking the ABI.
 */
#ifndef PYDEBUG_SNAPSHOT_H
#define PYDEBUG_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "process.h"

PYDBG_BEGIN_DECLS

/** @brief A memory snapshot (opaque): taken from a process or loaded from a file. */
typedef struct pydbg_snapshot pydbg_snapshot;

/** @brief Flags for pydbg_snapshot_options::flags. */
enum pydbg_snapshot_flags {
    /** Pause the target (as pydbg_process_pause()) while the snapshot is taken,
     *  for an exact census. Without it the target runs on and the census is a
     *  best effort, retried when the heap changes under the reader. */
    PYDBG_SNAPSHOT_PAUSE = 1u << 0,
    /** Record the OS mappings only, no Python heap census. */
    PYDBG_SNAPSHOT_NO_CENSUS = 1u << 1,
    /** Census of tracked objects only: do not follow container items to count
     *  untracked objects (faster). */
    PYDBG_SNAPSHOT_NO_REFERENTS = 1u << 2
};

/**
 * @brief Options of pydbg_snapshot_take().
 *
 * Initialise with #PYDBG_SNAPSHOT_OPTIONS_INIT; new fields are only ever added
 * at the end.
 */
typedef struct pydbg_snapshot_options {
    uint32_t struct_size; /**< sizeof(pydbg_snapshot_options), set by the INIT macro */
    uint32_t flags;       /**< a combination of ::pydbg_snapshot_flags */
} pydbg_snapshot_options;

/** @brief Default value of ::pydbg_snapshot_options: paused, full census. */
#define PYDBG_SNAPSHOT_OPTIONS_INIT {sizeof(pydbg_snapshot_options), PYDBG_SNAPSHOT_PAUSE}

/** @brief What a snapshot contains, as returned by pydbg_snapshot_contents(). */
enum pydbg_snapshot_contents {
    PYDBG_SNAPSHOT_HAS_MAPPINGS = 1u << 0,  /**< the OS mappings were recorded */
    PYDBG_SNAPSHOT_HAS_CENSUS = 1u << 1,    /**< the tracked objects were counted */
    PYDBG_SNAPSHOT_HAS_REFERENTS = 1u << 2, /**< untracked objects reached were counted */
    PYDBG_SNAPSHOT_WAS_PAUSED = 1u << 3,    /**< the target was paused: the census is exact */
    PYDBG_SNAPSHOT_HAS_PYMALLOC = 1u << 4   /**< pymalloc's arena usage was recorded */
};

/** @brief Field selectors of pydbg_snapshot_type_value(). */
typedef enum pydbg_type_field {
    PYDBG_TYPE_TRACKED_COUNT = 0, /**< objects of the type on the GC lists */
    PYDBG_TYPE_TRACKED_BYTES = 1, /**< their size in bytes */
    PYDBG_TYPE_REACHED_COUNT = 2, /**< untracked objects of the type reached from them */
    PYDBG_TYPE_REACHED_BYTES = 3, /**< their size in bytes */
    PYDBG_TYPE_ADDRESS = 4        /**< the address of the type object in the target */
} pydbg_type_field;

/** @brief How a mapping is classified (pydbg_snapshot_mapping_kind()). */
typedef enum pydbg_mapping_kind {
    PYDBG_MAPPING_ANON = 0,   /**< anonymous memory (pymalloc arenas, large malloc blocks) */
    PYDBG_MAPPING_HEAP = 1,   /**< the `[heap]` of brk() */
    PYDBG_MAPPING_STACK = 2,  /**< the main thread's `[stack]` */
    PYDBG_MAPPING_FILE = 3,   /**< a mapped file (path given) */
    PYDBG_MAPPING_SPECIAL = 4 /**< another kernel mapping: `[vdso]`, `[vvar]`, ... */
} pydbg_mapping_kind;

/** @brief Field selectors of pydbg_snapshot_mapping_value(); sizes are in bytes. */
typedef enum pydbg_mapping_field {
    PYDBG_MAPPING_START = 0,         /**< first address */
    PYDBG_MAPPING_END = 1,           /**< address after the last byte */
    PYDBG_MAPPING_RSS = 2,           /**< resident */
    PYDBG_MAPPING_PSS = 3,           /**< proportional set size */
    PYDBG_MAPPING_PRIVATE_DIRTY = 4, /**< private dirty */
    PYDBG_MAPPING_SWAP = 5,          /**< swapped out */
    PYDBG_MAPPING_PERMS = 6,         /**< 1 read, 2 write, 4 execute, 8 private */
    PYDBG_MAPPING_OFFSET = 7         /**< file offset of the start */
} pydbg_mapping_field;

/**
 * @brief Takes a snapshot of an attached process.
 *
 * Reads `/proc/PID/smaps`, then walks the garbage collector's generation lists
 * of the main interpreter. With #PYDBG_SNAPSHOT_PAUSE the target is stopped
 * for the census (and resumed before returning); without it the census is
 * retried a few times when the lists change under the reader and fails with
 * #PYDBG_ECORRUPT if they never hold still.
 *
 * When the census is impossible for the target's version (no generation list
 * layout known), the snapshot is still taken with the mappings only and
 * pydbg_snapshot_census_note() says why; pydbg_snapshot_contents() then lacks
 * #PYDBG_SNAPSHOT_HAS_CENSUS.
 *
 * @param[out] out  receives the snapshot; free it with pydbg_snapshot_free().
 * @param process   an attached process.
 * @param options   NULL for #PYDBG_SNAPSHOT_OPTIONS_INIT, or initialised options.
 * @return #PYDBG_OK; #PYDBG_EINVAL; #PYDBG_EPERM (pausing not allowed);
 *         #PYDBG_EEXITED; #PYDBG_ECORRUPT (inconsistent heap); #PYDBG_ELIMIT
 *         (a list longer than any real heap); #PYDBG_ENOMEM. The reason is in
 *         pydbg_process_errmsg() and pydbg_last_error().
 * @note Not thread-safe for the same process handle.
 */
PYDBG_API int pydbg_snapshot_take(pydbg_snapshot **out, pydbg_process *process,
                                  const pydbg_snapshot_options *options);

/**
 * @brief Writes a snapshot to a file (docs/snapshot-format.md).
 *
 * The file is written to a temporary name beside @p path and renamed into
 * place, so a reader never sees half a file.
 *
 * @param snapshot  the snapshot.
 * @param path      the file to create or replace.
 * @return #PYDBG_OK, #PYDBG_EINVAL, #PYDBG_EIO (reason in pydbg_last_error()), #PYDBG_ENOMEM.
 * @note Thread-safe (the snapshot is only read).
 */
PYDBG_API int pydbg_snapshot_save(const pydbg_snapshot *snapshot, const char *path);

/**
 * @brief Loads a snapshot file.
 *
 * @param[out] out  receives the snapshot; free it with pydbg_snapshot_free().
 * @param path      a file written by pydbg_snapshot_save().
 * @return #PYDBG_OK; #PYDBG_EIO (cannot read); #PYDBG_EFORMAT (not a snapshot,
 *         truncated, checksum mismatch, corrupt or written by an incompatible
 *         future version: pydbg_last_error() says which).
 * @note Thread-safe.
 */
PYDBG_API int pydbg_snapshot_load(pydbg_snapshot **out, const char *path);

/**
 * @brief Loads a snapshot from the bytes of a snapshot file in memory.
 *
 * @param[out] out  receives the snapshot; free it with pydbg_snapshot_free().
 * @param data      the file's bytes (not kept after the call).
 * @param size      their number.
 * @return as pydbg_snapshot_load(), without #PYDBG_EIO.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_snapshot_load_memory(pydbg_snapshot **out, const void *data, size_t size);

/**
 * @brief Frees a snapshot.
 * @param snapshot a snapshot, or NULL (no-op).
 * @note Not thread-safe for the same snapshot.
 */
PYDBG_API void pydbg_snapshot_free(pydbg_snapshot *snapshot);

/**
 * @brief Returns what the snapshot contains.
 * @param snapshot the snapshot.
 * @return a combination of ::pydbg_snapshot_contents (0 for NULL).
 * @note Thread-safe.
 */
PYDBG_API uint32_t pydbg_snapshot_contents(const pydbg_snapshot *snapshot);

/**
 * @brief Returns the process ID of the snapshot's target.
 * @param snapshot the snapshot.
 * @return the pid, -1 for NULL.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_snapshot_pid(const pydbg_snapshot *snapshot);

/**
 * @brief Returns when the snapshot was taken, in nanoseconds since the Unix epoch.
 * @param snapshot the snapshot.
 * @return the time (CLOCK_REALTIME at the start of the snapshot), 0 for NULL.
 * @note Thread-safe.
 */
PYDBG_API int64_t pydbg_snapshot_time_ns(const pydbg_snapshot *snapshot);

/**
 * @brief Returns how long taking the snapshot's census took, in nanoseconds.
 * @param snapshot the snapshot.
 * @return the duration of the heap census (0 without a census or for NULL).
 * @note Thread-safe.
 */
PYDBG_API int64_t pydbg_snapshot_census_ns(const pydbg_snapshot *snapshot);

/**
 * @brief Returns the target's CPython version, such as "3.11.7".
 * @param snapshot the snapshot.
 * @return a string owned by the snapshot, valid until pydbg_snapshot_free() ("" for NULL).
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_snapshot_python_version(const pydbg_snapshot *snapshot);

/**
 * @brief Returns the target's executable (the target of `/proc/PID/exe`).
 * @param snapshot the snapshot.
 * @return a string owned by the snapshot, valid until pydbg_snapshot_free() ("" if unknown).
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_snapshot_executable(const pydbg_snapshot *snapshot);

/**
 * @brief Says what the census covers, or why there is none.
 *
 * For example "no heap census: the layout of Python 3.14's GC lists is not
 * known" or "tracked objects of 3 generations and the permanent generation;
 * untracked objects reached through list, tuple, dict, set items and instance
 * attributes".
 *
 * @param snapshot the snapshot.
 * @return a string owned by the snapshot, valid until pydbg_snapshot_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_snapshot_census_note(const pydbg_snapshot *snapshot);

/**
 * @brief Returns the number of types in the census (0 without a census).
 * @param snapshot the snapshot.
 * @return the number of entries, each one type object of the target.
 * @note Thread-safe.
 */
PYDBG_API size_t pydbg_snapshot_type_count(const pydbg_snapshot *snapshot);

/**
 * @brief Returns the `tp_name` of a census entry ("dict", "Leaky", "collections.OrderedDict").
 *
 * Two distinct types may have the same name; they are distinct entries here
 * and are added together by pydbg_diff_compute().
 *
 * @param snapshot the snapshot.
 * @param index    0 to pydbg_snapshot_type_count() - 1.
 * @return a string owned by the snapshot, valid until pydbg_snapshot_free();
 *         NULL if @p index is out of range.
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_snapshot_type_name(const pydbg_snapshot *snapshot, size_t index);

/**
 * @brief Returns one number of a census entry.
 * @param snapshot the snapshot.
 * @param index    0 to pydbg_snapshot_type_count() - 1.
 * @param field    which number (::pydbg_type_field).
 * @return the value; 0 if @p index or @p field is out of range.
 * @note Thread-safe.
 */
PYDBG_API uint64_t pydbg_snapshot_type_value(const pydbg_snapshot *snapshot, size_t index,
                                             pydbg_type_field field);

/**
 * @brief Returns the number of mappings recorded.
 * @param snapshot the snapshot.
 * @return the number of mappings, in address order.
 * @note Thread-safe.
 */
PYDBG_API size_t pydbg_snapshot_mapping_count(const pydbg_snapshot *snapshot);

/**
 * @brief Returns the path of a mapping: a file path, `[heap]`, `[stack]`, or "" (anonymous).
 * @param snapshot the snapshot.
 * @param index    0 to pydbg_snapshot_mapping_count() - 1.
 * @return a string owned by the snapshot, valid until pydbg_snapshot_free();
 *         NULL if @p index is out of range.
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_snapshot_mapping_path(const pydbg_snapshot *snapshot, size_t index);

/**
 * @brief Returns the classification of a mapping.
 * @param snapshot the snapshot.
 * @param index    0 to pydbg_snapshot_mapping_count() - 1.
 * @return a ::pydbg_mapping_kind, or -1 if @p index is out of range.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_snapshot_mapping_kind(const pydbg_snapshot *snapshot, size_t index);

/**
 * @brief Returns one number of a mapping.
 * @param snapshot the snapshot.
 * @param index    0 to pydbg_snapshot_mapping_count() - 1.
 * @param field    which number (::pydbg_mapping_field).
 * @return the value; 0 if @p index or @p field is out of range.
 * @note Thread-safe.
 */
PYDBG_API uint64_t pydbg_snapshot_mapping_value(const pydbg_snapshot *snapshot, size_t index,
                                                pydbg_mapping_field field);

/**
 * @brief Says what the pymalloc arena usage covers, or why there is none.
 *
 * For example "pymalloc arenas of the process (as sys._debugmallocstats())",
 * or "no pymalloc arena usage: /usr/bin/python3.11 has no symbol 'arenas' ..."
 * for a stripped interpreter, whose allocator state cannot be located.
 * Snapshot files written before this was recorded give "".
 *
 * @param snapshot the snapshot.
 * @return a string owned by the snapshot, valid until pydbg_snapshot_free() ("" for NULL).
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_snapshot_pymalloc_note(const pydbg_snapshot *snapshot);

/** @brief Field selectors of pydbg_snapshot_pymalloc_value(); sizes are in bytes. */
typedef enum pydbg_pymalloc_field {
    /** The interpreter ID whose allocator this is (3.12+), or 2^64-1 for the
     *  one allocator of the whole process (3.6 - 3.11). */
    PYDBG_PYMALLOC_INTERPRETER_ID = 0,
    PYDBG_PYMALLOC_ARENAS = 1,      /**< arenas allocated ("# arenas allocated current") */
    PYDBG_PYMALLOC_ARENA_BYTES = 2, /**< their total size: arenas x arena size */
    PYDBG_PYMALLOC_BLOCK_BYTES = 3, /**< bytes in allocated blocks ("# bytes in allocated blocks") */
    PYDBG_PYMALLOC_BLOCKS = 4,      /**< blocks allocated */
    PYDBG_PYMALLOC_POOLS = 5,       /**< pools in use (holding at least one block) */
    PYDBG_PYMALLOC_FREE_POOLS = 6,  /**< free pools of the arenas ("# unused pools") */
    PYDBG_PYMALLOC_ARENA_SIZE = 7,  /**< the size of one arena (256 KiB or 1 MiB) */
    PYDBG_PYMALLOC_POOL_SIZE = 8,   /**< the size of one pool (4 or 16 KiB) */
    PYDBG_PYMALLOC_SIZE_CLASSES = 9 /**< the number of size classes (32 or 64) */
} pydbg_pymalloc_field;

/** @brief Field selectors of pydbg_snapshot_pymalloc_class_value(). */
typedef enum pydbg_size_class_field {
    PYDBG_SIZE_CLASS_BLOCK_SIZE = 0, /**< the size of a block of the class, in bytes */
    PYDBG_SIZE_CLASS_POOLS = 1,      /**< pools of the class in use */
    PYDBG_SIZE_CLASS_BLOCKS = 2,     /**< blocks of the class allocated */
    PYDBG_SIZE_CLASS_BYTES = 3       /**< their bytes: blocks x block size */
} pydbg_size_class_field;

/**
 * @brief Returns the number of pymalloc allocators whose arena usage was recorded.
 *
 * One for 3.6 to 3.11 (the process's allocator); from 3.12, one per
 * interpreter with an allocator of its own (sub-interpreters that share the
 * main interpreter's are counted with it). 0 when
 * pydbg_snapshot_contents() lacks #PYDBG_SNAPSHOT_HAS_PYMALLOC; then
 * pydbg_snapshot_pymalloc_note() says why.
 *
 * @param snapshot the snapshot.
 * @return the number of allocators (0 for NULL).
 * @note Thread-safe.
 */
PYDBG_API size_t pydbg_snapshot_pymalloc_count(const pydbg_snapshot *snapshot);

/**
 * @brief Returns one number of a pymalloc allocator's arena usage.
 * @param snapshot the snapshot.
 * @param index    0 to pydbg_snapshot_pymalloc_count() - 1.
 * @param field    which number (::pydbg_pymalloc_field).
 * @return the value; 0 if @p index or @p field is out of range.
 * @note Thread-safe.
 */
PYDBG_API uint64_t pydbg_snapshot_pymalloc_value(const pydbg_snapshot *snapshot, size_t index,
                                                 pydbg_pymalloc_field field);

/**
 * @brief Returns one number of a size class of a pymalloc allocator.
 *
 * Size class i holds blocks of (i + 1) x 16 bytes (x 8 bytes in 3.6 and 3.7),
 * up to 512 bytes.
 *
 * @param snapshot   the snapshot.
 * @param index      0 to pydbg_snapshot_pymalloc_count() - 1.
 * @param size_class 0 to the value of #PYDBG_PYMALLOC_SIZE_CLASSES - 1.
 * @param field      which number (::pydbg_size_class_field).
 * @return the value; 0 if an index or @p field is out of range.
 * @note Thread-safe.
 */
PYDBG_API uint64_t pydbg_snapshot_pymalloc_class_value(const pydbg_snapshot *snapshot,
                                                       size_t index, size_t size_class,
                                                       pydbg_size_class_field field);

/** @brief The difference between two snapshots (opaque). */
typedef struct pydbg_diff pydbg_diff;

/** @brief What a diff groups by (pydbg_diff_options::by). */
typedef enum pydbg_diff_by {
    /** By `tp_name`; counts are objects, sizes bytes of objects. */
    PYDBG_DIFF_BY_TYPE = 0,
    /** By mapping path, or `[heap]`, `[anon]`, `[stack]`; counts are mappings,
     *  sizes resident bytes. */
    PYDBG_DIFF_BY_MAPPING = 1,
    /** By pymalloc usage, summed over the allocators: the key `arenas` (count:
     *  arenas, size: their bytes) and one key per size class in use, such as
     *  `32-byte blocks` (count: blocks allocated, size: their bytes). Both
     *  snapshots need #PYDBG_SNAPSHOT_HAS_PYMALLOC. */
    PYDBG_DIFF_BY_ARENA = 2
} pydbg_diff_by;

/** @brief Flags for pydbg_diff_options::flags. */
enum pydbg_diff_flags {
    /** By type: count only tracked objects (what `gc.get_objects()` sees),
     *  not the untracked objects reached from them. */
    PYDBG_DIFF_TRACKED_ONLY = 1u << 0
};

/**
 * @brief Options of pydbg_diff_compute().
 *
 * Initialise with #PYDBG_DIFF_OPTIONS_INIT; new fields are only ever added at the end.
 */
typedef struct pydbg_diff_options {
    uint32_t struct_size; /**< sizeof(pydbg_diff_options), set by the INIT macro */
    uint32_t by;          /**< a ::pydbg_diff_by */
    uint32_t flags;       /**< a combination of ::pydbg_diff_flags */
} pydbg_diff_options;

/** @brief Default value of ::pydbg_diff_options: by type, tracked and reached objects. */
#define PYDBG_DIFF_OPTIONS_INIT {sizeof(pydbg_diff_options), PYDBG_DIFF_BY_TYPE, 0}

/** @brief Field selectors of pydbg_diff_value(). */
typedef enum pydbg_diff_field {
    PYDBG_DIFF_COUNT_DELTA = 0, /**< new count - old count */
    PYDBG_DIFF_SIZE_DELTA = 1,  /**< new size - old size (bytes) */
    PYDBG_DIFF_COUNT = 2,       /**< count in the new snapshot */
    PYDBG_DIFF_SIZE = 3,        /**< size in the new snapshot */
    PYDBG_DIFF_OLD_COUNT = 4,   /**< count in the old snapshot */
    PYDBG_DIFF_OLD_SIZE = 5     /**< size in the old snapshot */
} pydbg_diff_field;

/**
 * @brief Compares two snapshots.
 *
 * Every key present in either snapshot gets one entry, sorted by size delta
 * (largest growth first), then count delta (largest first), then key. The
 * first N entries are the top N.
 *
 * @param[out] out  receives the diff; free it with pydbg_diff_free().
 * @param old_snapshot the earlier snapshot.
 * @param new_snapshot the later snapshot.
 * @param options   NULL for #PYDBG_DIFF_OPTIONS_INIT, or initialised options.
 * @return #PYDBG_OK; #PYDBG_EINVAL; #PYDBG_ENOTSUP (by type, and a snapshot
 *         has no census; by arena, and a snapshot has no pymalloc usage); #PYDBG_ENOMEM.
 * @note Thread-safe (the snapshots are only read).
 */
PYDBG_API int pydbg_diff_compute(pydbg_diff **out, const pydbg_snapshot *old_snapshot,
                                 const pydbg_snapshot *new_snapshot,
                                 const pydbg_diff_options *options);

/**
 * @brief Frees a diff.
 * @param diff a diff, or NULL (no-op).
 * @note Not thread-safe for the same diff.
 */
PYDBG_API void pydbg_diff_free(pydbg_diff *diff);

/**
 * @brief Returns the number of entries of a diff.
 * @param diff the diff.
 * @return the number of entries (0 for NULL).
 * @note Thread-safe.
 */
PYDBG_API size_t pydbg_diff_count(const pydbg_diff *diff);

/**
 * @brief Returns the key of an entry: a type name or a mapping key.
 * @param diff  the diff.
 * @param index 0 to pydbg_diff_count() - 1, in sorted order.
 * @return a string owned by the diff, valid until pydbg_diff_free(); NULL if
 *         @p index is out of range.
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_diff_key(const pydbg_diff *diff, size_t index);

/**
 * @brief Returns one number of an entry.
 * @param diff  the diff.
 * @param index 0 to pydbg_diff_count() - 1, in sorted order.
 * @param field which number (::pydbg_diff_field).
 * @return the value; 0 if @p index or @p field is out of range.
 * @note Thread-safe.
 */
PYDBG_API int64_t pydbg_diff_value(const pydbg_diff *diff, size_t index, pydbg_diff_field field);

PYDBG_END_DECLS

#endif /* PYDEBUG_SNAPSHOT_H */
