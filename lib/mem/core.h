/* ELF core files: the parser of their headers and notes, and a reader of the
 * memory they hold.
 *
 * A core (ELF64 ET_CORE, little-endian, x86_64 or aarch64) is what the kernel
 * or gdb's `gcore` writes: PT_LOAD segments with the dumped memory, and
 * PT_NOTE notes that say which process it was (NT_PRPSINFO), which threads it
 * had (one NT_PRSTATUS each), which files it had mapped (NT_FILE, the core's
 * /proc/PID/maps) and its auxiliary vector (NT_AUXV).
 *
 * Cores leave out memory that can be found elsewhere: by default the kernel
 * does not dump read-only file mappings (.text, .rodata) past their first
 * page, and a segment whose p_filesz is below its p_memsz holds only its
 * start. The core reader serves such addresses from the mapped file itself,
 * found through NT_FILE (opened once, under an optional root prefix or an
 * override of the executable), and reports PYDBG_EREAD for memory that is in
 * neither.
 *
 * The file is mapped, not read whole; every header, note and offset is
 * bounds-checked, so a truncated or corrupt core gives PYDBG_EFORMAT with
 * what is wrong, never a crash. */
#ifndef PYDBG_MEM_CORE_H
#define PYDBG_MEM_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "mem/reader.h"
#include "util/error.h"

typedef struct pydbg__core pydbg__core;

/* Bounds on what a core may declare; real cores stay far below them. */
#define PYDBG__CORE_MAX_SEGMENTS (1u << 22)
#define PYDBG__CORE_MAX_FILES (1u << 22)
#define PYDBG__CORE_MAX_THREADS 65536u
#define PYDBG__CORE_MAX_NOTES (1u << 20)

/* One PT_LOAD segment: memory at [vaddr, vaddr+memsz), of which the first
 * filesz bytes are in the core at `offset`. */
typedef struct pydbg__core_segment {
    uint64_t vaddr;
    uint64_t memsz;
    uint64_t filesz;
    uint64_t offset;
    uint32_t flags; /* PF_R 4 | PF_W 2 | PF_X 1 */
} pydbg__core_segment;

/* One NT_FILE entry: the file `path` mapped at [start, end) from byte `offset`. */
typedef struct pydbg__core_file {
    uint64_t start;
    uint64_t end;
    uint64_t offset; /* in bytes (NT_FILE counts pages) */
    const char *path;
} pydbg__core_file;

/* Opens and maps the core file `path`. Errors: PYDBG_ENOTFOUND, PYDBG_EPERM,
 * PYDBG_EIO, PYDBG_EFORMAT (not a core, truncated, corrupt), PYDBG_ENOMEM. */
int pydbg__core_open(pydbg__core **out, const char *path, pydbg__error *err);

/* Parses a core image already in memory (unit tests and fuzzing). The buffer
 * must outlive the handle. */
int pydbg__core_open_memory(pydbg__core **out, const void *data, size_t size, pydbg__error *err);

/* Releases the caller's reference; the core is freed with the last one (a
 * reader holds its own). NULL is a no-op. */
void pydbg__core_close(pydbg__core *core);

/* The process ID (NT_PRPSINFO's, else the first thread's); 0 if unknown. */
int pydbg__core_pid(const pydbg__core *core);

/* The Linux TIDs of the threads, in the order of their NT_PRSTATUS notes
 * (the kernel puts the thread that dumped first). Valid until close. */
const int32_t *pydbg__core_thread_ids(const pydbg__core *core, size_t *count);

/* NT_PRPSINFO's pr_fname (the command name, at most 15 bytes) and pr_psargs
 * (the start of the command line); "" if the core has none. */
const char *pydbg__core_command(const pydbg__core *core);
const char *pydbg__core_arguments(const pydbg__core *core);

/* The value of auxiliary vector entry `type` (AT_*); PYDBG_ENOTFOUND if absent. */
int pydbg__core_auxv(const pydbg__core *core, uint64_t type, uint64_t *value);

const pydbg__core_segment *pydbg__core_segments(const pydbg__core *core, size_t *count);
const pydbg__core_file *pydbg__core_files(const pydbg__core *core, size_t *count);

/* The path of the main executable as mapped: the NT_FILE entry holding the
 * program headers (AT_PHDR) or the entry point (AT_ENTRY), else the one
 * named like pr_fname, else the first; NULL if the core maps no file.
 * Valid until close. */
const char *pydbg__core_executable(const pydbg__core *core);

/* Checks that the local file `local_path` is the file the process had mapped
 * as `mapped_path`: its first page must equal the core's copy of that page,
 * when the core has one (cores keep ELF headers and build IDs). PYDBG_OK,
 * PYDBG_ENOTFOUND/PYDBG_EPERM/PYDBG_EIO if it cannot be read, PYDBG_EFORMAT if
 * it differs. */
int pydbg__core_verify_file(const pydbg__core *core, const char *mapped_path,
                            const char *local_path, pydbg__error *err);

/* Where the core reader opens the mapped files: `root` prefixes every path
 * (NULL: none); the executable (as pydbg__core_executable() names it) is
 * opened from `executable_file` instead when that is set. */
typedef struct pydbg__core_file_options {
    const char *root;
    const char *executable_file;
} pydbg__core_file_options;

/* A reader of the core's memory. It holds a reference to `core` (released
 * when the reader is destroyed), so the caller may close its own at once or
 * keep it to ask pydbg__core_file_problem() after a failure. Options are copied. */
int pydbg__reader_open_core(pydbg__reader **out, pydbg__core *core,
                            const pydbg__core_file_options *options);

/* Why a mapped file was not used by a reader of this core ("" if none was
 * refused): missing, unreadable, or different from the one the process mapped. */
const char *pydbg__core_file_problem(const pydbg__core *core);

#endif
