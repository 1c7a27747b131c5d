/* ELF core files: headers, notes, and a reader over the dumped memory that
 * falls back to the mapped files for what the core left out. See core.h.
 *
 * Every number in the file is untrusted: sizes and offsets are checked
 * against the mapped length before anything is read at them, counts are
 * bounded, and the arithmetic is done in 64 bits with overflow checks. */
#include "mem/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pydebug/errors.h"
#include "util/buffer.h"

/* ELF constants, spelled out so that the parser does not depend on the
 * host's <elf.h>. */
enum {
    EHDR_SIZE = 64,
    PHDR_SIZE = 56,
    SHDR_SIZE = 64,
    ET_CORE_ = 4,
    EM_X86_64_ = 62,
    EM_AARCH64_ = 183,
    PN_XNUM_ = 0xffff,
    PT_LOAD_ = 1,
    PT_NOTE_ = 4,
    NT_PRSTATUS_ = 1,
    NT_PRPSINFO_ = 3,
    NT_AUXV_ = 6,
    NT_FILE_ = 0x46494c45,
    /* Offsets in the notes' descriptors (struct elf_prstatus and struct
     * elf_prpsinfo are laid out alike on x86_64 and aarch64). */
    PRSTATUS_PID = 32,
    PRPSINFO_PID = 24,
    PRPSINFO_FNAME = 40,
    PRPSINFO_FNAME_SIZE = 16,
    PRPSINFO_PSARGS = 56,
    PRPSINFO_PSARGS_SIZE = 80,
    PRPSINFO_SIZE = PRPSINFO_PSARGS + PRPSINFO_PSARGS_SIZE,
    AT_NULL_ = 0,
    AT_PHDR_ = 3,
    AT_ENTRY_ = 9,
};

/* The page whose copy in the core and in the file are compared before a
 * file is trusted. */
#define VERIFY_BYTES 4096u

struct pydbg__core {
    int refs;
    const unsigned char *data;
    size_t size;
    void *mapping; /* the mmap of the file, or NULL for a memory image */
    size_t mapping_size;

    pydbg__core_segment *segments; /* by vaddr */
    size_t segment_count;
    pydbg__core_file *files; /* by start */
    size_t file_count;
    char *paths;              /* storage of files[].path */
    uint64_t page_size;       /* NT_FILE's */

    int32_t *tids;
    size_t tid_count;
    size_t tid_capacity;
    int pid;
    int have_prpsinfo;
    char command[PRPSINFO_FNAME_SIZE]; /* the kernel's comm: at most 15 bytes */
    char arguments[PRPSINFO_PSARGS_SIZE + 1];
    const unsigned char *auxv;
    size_t auxv_size;
    const char *executable;

    char problem[PYDBG__ERRMSG_SIZE]; /* the first mapped file a reader refused */
};

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* True if [offset, offset+length) lies inside a buffer of `size` bytes. */
static int in_bounds(uint64_t offset, uint64_t length, uint64_t size)
{
    return offset <= size && length <= size - offset;
}

static int compare_segments(const void *a, const void *b)
{
    const pydbg__core_segment *x = a, *y = b;
    return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static int compare_files(const void *a, const void *b)
{
    const pydbg__core_file *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* ---- notes ---------------------------------------------------------------------------- */

static int parse_prstatus(pydbg__core *core, const unsigned char *desc, uint64_t size,
                          pydbg__error *err)
{
    int32_t tid;
    void *items = core->tids;
    int rc;
    if (size < PRSTATUS_PID + 4)
        return pydbg__fail(err, PYDBG_EFORMAT, "NT_PRSTATUS note of %llu bytes is too short",
                           (unsigned long long)size);
    if (core->tid_count >= PYDBG__CORE_MAX_THREADS)
        return pydbg__fail(err, PYDBG_EFORMAT, "more than %u NT_PRSTATUS notes (threads)",
                           PYDBG__CORE_MAX_THREADS);
    tid = (int32_t)le32(desc + PRSTATUS_PID);
    rc = pydbg__grow_array(&items, &core->tid_capacity, core->tid_count + 1, sizeof *core->tids);
    core->tids = items;
    if (rc != PYDBG_OK)
        return pydbg__fail(err, rc, "out of memory");
    core->tids[core->tid_count++] = tid;
    return PYDBG_OK;
}

static void copy_text(char *out, size_t out_size, const unsigned char *text, size_t length)
{
    size_t n = strnlen((const char *)text, length < out_size - 1 ? length : out_size - 1);
    memcpy(out, text, n);
    out[n] = '\0';
}

static int parse_prpsinfo(pydbg__core *core, const unsigned char *desc, uint64_t size,
                          pydbg__error *err)
{
    if (core->have_prpsinfo)
        return PYDBG_OK; /* the first one describes the process */
    if (size < PRPSINFO_SIZE)
        return pydbg__fail(err, PYDBG_EFORMAT, "NT_PRPSINFO note of %llu bytes is too short",
                           (unsigned long long)size);
    core->have_prpsinfo = 1;
    core->pid = (int)le32(desc + PRPSINFO_PID);
    copy_text(core->command, sizeof core->command, desc + PRPSINFO_FNAME, PRPSINFO_FNAME_SIZE);
    copy_text(core->arguments, sizeof core->arguments, desc + PRPSINFO_PSARGS,
              PRPSINFO_PSARGS_SIZE);
    return PYDBG_OK;
}

static const char deleted_suffix[] = " (deleted)";

/* NT_FILE: count, page size, count x {start, end, page offset}, then count
 * NUL-terminated names. */
static int parse_file_note(pydbg__core *core, const unsigned char *desc, uint64_t size,
                           pydbg__error *err)
{
    uint64_t count, page_size, names_at, pos, total = 0;
    char *out;
    if (core->files)
        return PYDBG_OK; /* the first one is the map */
    if (size < 16)
        return pydbg__fail(err, PYDBG_EFORMAT, "NT_FILE note of %llu bytes is too short",
                           (unsigned long long)size);
    count = le64(desc);
    page_size = le64(desc + 8);
    if (count > PYDBG__CORE_MAX_FILES || count > (size - 16) / 24)
        return pydbg__fail(err, PYDBG_EFORMAT,
                           "NT_FILE note declares %llu mapped files in %llu bytes",
                           (unsigned long long)count, (unsigned long long)size);
    if (page_size == 0 || (page_size & (page_size - 1)) != 0 || page_size > (1u << 30))
        return pydbg__fail(err, PYDBG_EFORMAT, "NT_FILE note has a page size of %llu",
                           (unsigned long long)page_size);
    names_at = 16 + count * 24;
    /* First pass: every name is terminated inside the note; measure them. */
    pos = names_at;
    for (uint64_t i = 0; i < count; i++) {
        const void *nul = pos < size ? memchr(desc + pos, '\0', (size_t)(size - pos)) : NULL;
        uint64_t length;
        if (!nul)
            return pydbg__fail(err, PYDBG_EFORMAT,
                               "NT_FILE note: the name of mapped file %llu is not terminated",
                               (unsigned long long)i);
        length = (uint64_t)((const unsigned char *)nul - (desc + pos));
        total += length + 1;
        pos += length + 1;
    }
    core->files = calloc(count ? (size_t)count : 1, sizeof *core->files);
    core->paths = malloc((size_t)total + 1);
    if (!core->files || !core->paths)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
    core->page_size = page_size;
    out = core->paths;
    pos = names_at;
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *entry = desc + 16 + i * 24;
        pydbg__core_file *f = &core->files[i];
        size_t length = strlen((const char *)desc + pos);
        uint64_t page = le64(entry + 16);
        f->start = le64(entry);
        f->end = le64(entry + 8);
        if (f->end <= f->start || page > UINT64_MAX / page_size)
            return pydbg__fail(err, PYDBG_EFORMAT,
                               "NT_FILE note: mapped file %llu has the range 0x%llx-0x%llx "
                               "at page %llu",
                               (unsigned long long)i, (unsigned long long)f->start,
                               (unsigned long long)f->end, (unsigned long long)page);
        f->offset = page * page_size;
        memcpy(out, desc + pos, length + 1);
        /* As in /proc/PID/maps, an unlinked file's name carries a suffix
         * that is no part of it. */
        if (length > sizeof deleted_suffix - 1 &&
            strcmp(out + length - (sizeof deleted_suffix - 1), deleted_suffix) == 0)
            out[length - (sizeof deleted_suffix - 1)] = '\0';
        f->path = out;
        out += length + 1;
        pos += length + 1;
    }
    core->file_count = (size_t)count;
    qsort(core->files, core->file_count, sizeof *core->files, compare_files);
    return PYDBG_OK;
}

static int parse_notes(pydbg__core *core, uint64_t offset, uint64_t size, size_t *note_count,
                       pydbg__error *err)
{
    const unsigned char *base = core->data + offset;
    uint64_t pos = 0;
    /* Each note takes at least 12 bytes, so the loop ends; the count bound
     * caps the work on a hostile file. */
    while (pos + 12 <= size) {
        uint32_t namesz = le32(base + pos), descsz = le32(base + pos + 4);
        uint32_t type = le32(base + pos + 8);
        uint64_t name_at = pos + 12;
        uint64_t desc_at = name_at + (((uint64_t)namesz + 3) & ~(uint64_t)3);
        uint64_t next = desc_at + (((uint64_t)descsz + 3) & ~(uint64_t)3);
        const unsigned char *desc = base + desc_at;
        int rc = PYDBG_OK;
        if (++*note_count > PYDBG__CORE_MAX_NOTES)
            return pydbg__fail(err, PYDBG_EFORMAT, "more than %u notes",
                               PYDBG__CORE_MAX_NOTES);
        if (!in_bounds(desc_at, descsz, size))
            return pydbg__fail(err, PYDBG_EFORMAT,
                               "note at file offset %llu (type 0x%x) runs past the end of its "
                               "segment",
                               (unsigned long long)(offset + pos), type);
        /* Only the kernel's own notes ("CORE"); others may reuse the numbers. */
        if (namesz == 5 && memcmp(base + name_at, "CORE", 5) == 0) {
            switch (type) {
            case NT_PRSTATUS_:
                rc = parse_prstatus(core, desc, descsz, err);
                break;
            case NT_PRPSINFO_:
                rc = parse_prpsinfo(core, desc, descsz, err);
                break;
            case NT_AUXV_:
                if (!core->auxv) {
                    core->auxv = desc;
                    core->auxv_size = descsz & ~(size_t)15;
                }
                break;
            case NT_FILE_:
                rc = parse_file_note(core, desc, descsz, err);
                break;
            default:
                break;
            }
        }
        if (rc != PYDBG_OK)
            return rc;
        pos = next;
    }
    return PYDBG_OK;
}

/* ---- headers -------------------------------------------------------------------------- */

static const char *elf_type_name(unsigned type)
{
    switch (type) {
    case 1: return "relocatable object";
    case 2: return "executable";
    case 3: return "shared object or position-independent executable";
    default: return "file of an unknown type";
    }
}

static const char *file_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static const pydbg__core_file *file_at(const pydbg__core *core, uint64_t address,
                                       size_t *index)
{
    size_t lo = 0, hi = core->file_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (core->files[mid].start <= address)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || address >= core->files[lo - 1].end)
        return NULL;
    if (index)
        *index = lo - 1;
    return &core->files[lo - 1];
}

static void find_executable(pydbg__core *core)
{
    static const uint64_t hints[] = {AT_PHDR_, AT_ENTRY_};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        uint64_t address;
        const pydbg__core_file *f;
        if (pydbg__core_auxv(core, hints[i], &address) == PYDBG_OK &&
            (f = file_at(core, address, NULL)) != NULL && f->path[0] == '/') {
            core->executable = f->path;
            return;
        }
    }
    /* pr_fname is the executable's name cut to 15 bytes. */
    if (core->command[0]) {
        for (size_t i = 0; i < core->file_count; i++)
            if (strncmp(file_base_name(core->files[i].path), core->command,
                        sizeof core->command - 1) == 0) {
                core->executable = core->files[i].path;
                return;
            }
    }
    if (core->file_count)
        core->executable = core->files[0].path;
}

static int parse(pydbg__core *core, pydbg__error *err)
{
    const unsigned char *h = core->data;
    uint64_t phoff, phnum, size = core->size;
    unsigned type, machine;
    size_t note_count = 0, loads = 0;
    int rc;
    if (size < EHDR_SIZE)
        return pydbg__fail(err, PYDBG_EFORMAT, "%llu bytes are too few for an ELF header",
                           (unsigned long long)size);
    if (memcmp(h, "\177ELF", 4) != 0)
        return pydbg__fail(err, PYDBG_EFORMAT, "not an ELF file (no ELF magic number)");
    if (h[4] != 2 || h[5] != 1)
        return pydbg__fail(err, PYDBG_EFORMAT,
                           "not a 64-bit little-endian ELF file (class %u, data %u)", h[4], h[5]);
    type = le16(h + 16);
    machine = le16(h + 18);
    if (type != ET_CORE_)
        return pydbg__fail(err, PYDBG_EFORMAT, "an ELF %s, not a core file",
                           elf_type_name(type));
    if (machine != EM_X86_64_ && machine != EM_AARCH64_)
        return pydbg__fail(err, PYDBG_EFORMAT,
                           "a core of an unsupported machine (e_machine %u; x86_64 and aarch64 "
                           "are supported)",
                           machine);
    if (le16(h + 54) != PHDR_SIZE)
        return pydbg__fail(err, PYDBG_EFORMAT, "program header entries of %u bytes, not %u",
                           le16(h + 54), PHDR_SIZE);
    phoff = le64(h + 32);
    phnum = le16(h + 56);
    if (phnum == PN_XNUM_) {
        /* Too many segments for e_phnum: the count is in section header 0. */
        uint64_t shoff = le64(h + 40);
        if (!in_bounds(shoff, SHDR_SIZE, size))
            return pydbg__fail(err, PYDBG_EFORMAT,
                               "the section header that holds the segment count is beyond the "
                               "end of the file: truncated core");
        phnum = le32(core->data + shoff + 44);
    }
    if (phnum == 0)
        return pydbg__fail(err, PYDBG_EFORMAT, "the core has no program headers");
    if (phnum > PYDBG__CORE_MAX_SEGMENTS)
        return pydbg__fail(err, PYDBG_EFORMAT, "%llu program headers (at most %u)",
                           (unsigned long long)phnum, PYDBG__CORE_MAX_SEGMENTS);
    if (!in_bounds(phoff, phnum * PHDR_SIZE, size))
        return pydbg__fail(err, PYDBG_EFORMAT,
                           "the program headers end beyond the end of the file (%llu bytes): "
                           "truncated core",
                           (unsigned long long)size);
    for (uint64_t i = 0; i < phnum; i++) {
        const unsigned char *ph = core->data + phoff + i * PHDR_SIZE;
        if (le32(ph) == PT_LOAD_)
            loads++;
    }
    core->segments = calloc(loads ? loads : 1, sizeof *core->segments);
    if (!core->segments)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < phnum; i++) {
        const unsigned char *ph = core->data + phoff + i * PHDR_SIZE;
        uint32_t p_type = le32(ph);
        uint64_t offset = le64(ph + 8), vaddr = le64(ph + 16);
        uint64_t filesz = le64(ph + 32), memsz = le64(ph + 40);
        if (p_type != PT_LOAD_ && p_type != PT_NOTE_)
            continue;
        if (!in_bounds(offset, filesz, size))
            return pydbg__fail(err, PYDBG_EFORMAT,
                               "segment %llu needs the file up to byte %llu, but it has %llu: "
                               "truncated core",
                               (unsigned long long)i,
                               (unsigned long long)(offset + filesz < offset ? UINT64_MAX
                                                                              : offset + filesz),
                               (unsigned long long)size);
        if (p_type == PT_NOTE_) {
            rc = parse_notes(core, offset, filesz, &note_count, err);
            if (rc != PYDBG_OK)
                return rc;
            continue;
        }
        if (filesz > memsz || vaddr + memsz < vaddr)
            return pydbg__fail(err, PYDBG_EFORMAT,
                               "segment %llu at 0x%llx has %llu bytes in the file and %llu in "
                               "memory",
                               (unsigned long long)i, (unsigned long long)vaddr,
                               (unsigned long long)filesz, (unsigned long long)memsz);
        if (memsz == 0)
            continue;
        {
            pydbg__core_segment *s = &core->segments[core->segment_count++];
            s->vaddr = vaddr;
            s->memsz = memsz;
            s->filesz = filesz;
            s->offset = offset;
            s->flags = le32(ph + 4);
        }
    }
    if (core->segment_count == 0)
        return pydbg__fail(err, PYDBG_EFORMAT, "the core holds no memory (no PT_LOAD segment)");
    qsort(core->segments, core->segment_count, sizeof *core->segments, compare_segments);
    for (size_t i = 1; i < core->segment_count; i++)
        if (core->segments[i].vaddr < core->segments[i - 1].vaddr + core->segments[i - 1].memsz)
            return pydbg__fail(err, PYDBG_EFORMAT, "segments at 0x%llx and 0x%llx overlap",
                               (unsigned long long)core->segments[i - 1].vaddr,
                               (unsigned long long)core->segments[i].vaddr);
    if (core->tid_count == 0 && !core->have_prpsinfo)
        return pydbg__fail(err, PYDBG_EFORMAT,
                           "no NT_PRSTATUS or NT_PRPSINFO note: not the core of a process");
    if (!core->files)
        return pydbg__fail(err, PYDBG_EFORMAT,
                           "no NT_FILE note: the core does not say which files were mapped "
                           "(written by an old kernel or gdb?)");
    if (!core->have_prpsinfo && core->tid_count)
        core->pid = core->tids[0];
    find_executable(core);
    return PYDBG_OK;
}

/* ---- the handle ----------------------------------------------------------------------- */

static void core_free(pydbg__core *core)
{
    free(core->segments);
    free(core->files);
    free(core->paths);
    free(core->tids);
    if (core->mapping)
        munmap(core->mapping, core->mapping_size);
    free(core);
}

int pydbg__core_open_memory(pydbg__core **out, const void *data, size_t size, pydbg__error *err)
{
    pydbg__core *core;
    int rc;
    if (!out || (!data && size))
        return pydbg__fail(err, PYDBG_EINVAL, "invalid arguments to the core parser");
    *out = NULL;
    core = calloc(1, sizeof *core);
    if (!core)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
    core->refs = 1;
    core->data = data;
    core->size = size;
    rc = parse(core, err);
    if (rc != PYDBG_OK) {
        core_free(core);
        return rc;
    }
    *out = core;
    return PYDBG_OK;
}

int pydbg__core_open(pydbg__core **out, const char *path, pydbg__error *err)
{
    struct stat st;
    void *mapping;
    int fd, rc;
    if (!out || !path)
        return pydbg__fail(err, PYDBG_EINVAL, "invalid arguments to the core parser");
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return pydbg__fail(err,
                           e == ENOENT || e == ENOTDIR ? PYDBG_ENOTFOUND
                           : e == EACCES || e == EPERM ? PYDBG_EPERM
                                                        : PYDBG_EIO,
                           "cannot open %s: %s", path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pydbg__fail(err, PYDBG_EIO, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pydbg__fail(err, PYDBG_EFORMAT, "%s is not a regular file", path);
    }
    if (st.st_size < EHDR_SIZE) {
        close(fd);
        return pydbg__fail(err, PYDBG_EFORMAT, "%s has %lld bytes, too few for an ELF core",
                           path, (long long)st.st_size);
    }
    if ((unsigned long long)st.st_size > SIZE_MAX) {
        close(fd);
        return pydbg__fail(err, PYDBG_EFORMAT, "%s is too large to map", path);
    }
    mapping = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (mapping == MAP_FAILED)
        return pydbg__fail(err, errno == ENOMEM ? PYDBG_ENOMEM : PYDBG_EIO, "cannot map %s: %s",
                           path, strerror(errno));
    rc = pydbg__core_open_memory(out, mapping, (size_t)st.st_size, err);
    if (rc != PYDBG_OK) {
        munmap(mapping, (size_t)st.st_size);
        return rc;
    }
    (*out)->mapping = mapping;
    (*out)->mapping_size = (size_t)st.st_size;
    return PYDBG_OK;
}

void pydbg__core_close(pydbg__core *core)
{
    if (core && --core->refs == 0)
        core_free(core);
}

int pydbg__core_pid(const pydbg__core *core)
{
    return core->pid;
}

const int32_t *pydbg__core_thread_ids(const pydbg__core *core, size_t *count)
{
    *count = core->tid_count;
    return core->tids;
}

const char *pydbg__core_command(const pydbg__core *core)
{
    return core->command;
}

const char *pydbg__core_arguments(const pydbg__core *core)
{
    return core->arguments;
}

int pydbg__core_auxv(const pydbg__core *core, uint64_t type, uint64_t *value)
{
    for (size_t i = 0; i + 16 <= core->auxv_size; i += 16) {
        uint64_t t = le64(core->auxv + i);
        if (t == AT_NULL_)
            break;
        if (t == type) {
            *value = le64(core->auxv + i + 8);
            return PYDBG_OK;
        }
    }
    return PYDBG_ENOTFOUND;
}

const pydbg__core_segment *pydbg__core_segments(const pydbg__core *core, size_t *count)
{
    *count = core->segment_count;
    return core->segments;
}

const pydbg__core_file *pydbg__core_files(const pydbg__core *core, size_t *count)
{
    *count = core->file_count;
    return core->files;
}

const char *pydbg__core_executable(const pydbg__core *core)
{
    return core->executable;
}

const char *pydbg__core_file_problem(const pydbg__core *core)
{
    return core->problem;
}

/* ---- the reader ----------------------------------------------------------------------- */

/* One distinct mapped file, opened on first use. */
typedef struct open_file {
    const char *path;
    int fd;     /* -1: not tried yet */
    int failed; /* refused: missing, unreadable or not the mapped file */
    uint64_t size;
} open_file;

typedef struct core_reader {
    pydbg__reader base;
    pydbg__core *core;
    open_file *opened;
    size_t opened_count;
    size_t *slot_of_file; /* core->files[i] -> opened[slot_of_file[i]] */
    char *root;
    char *executable_file;
} core_reader;

/* The segment holding `address`, or NULL; `*next` is the start of the first
 * segment above `address` (UINT64_MAX if none). */
static const pydbg__core_segment *segment_at(const pydbg__core *core, uint64_t address,
                                             uint64_t *next)
{
    size_t lo = 0, hi = core->segment_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (core->segments[mid].vaddr <= address)
            lo = mid + 1;
        else
            hi = mid;
    }
    *next = lo < core->segment_count ? core->segments[lo].vaddr : UINT64_MAX;
    if (lo == 0 || address - core->segments[lo - 1].vaddr >= core->segments[lo - 1].memsz)
        return NULL;
    return &core->segments[lo - 1];
}

/* Copies what the core itself holds of [address, address+length); all or nothing. */
static int read_dumped(const pydbg__core *core, uint64_t address, unsigned char *out,
                       size_t length)
{
    size_t done = 0;
    for (size_t step = 0; done < length && step <= core->segment_count; step++) {
        uint64_t next, at = address + done, inside;
        const pydbg__core_segment *s = segment_at(core, at, &next);
        size_t n;
        if (at < address || !s || (inside = at - s->vaddr) >= s->filesz)
            return PYDBG_EREAD;
        n = s->filesz - inside < length - done ? (size_t)(s->filesz - inside) : length - done;
        memcpy(out + done, core->data + s->offset + inside, n);
        done += n;
    }
    return done == length ? PYDBG_OK : PYDBG_EREAD;
}

static void note_problem(core_reader *cr, const char *fmt, ...) PYDBG__PRINTF(2, 3);

static void note_problem(core_reader *cr, const char *fmt, ...)
{
    va_list args;
    if (cr->core->problem[0])
        return; /* the first is the one to fix */
    va_start(args, fmt);
    vsnprintf(cr->core->problem, sizeof cr->core->problem, fmt, args);
    va_end(args);
}

static int pread_all(int fd, void *buffer, size_t length, uint64_t offset)
{
    size_t done = 0;
    /* Each pass reads at least one byte or fails. */
    while (done < length) {
        ssize_t n = pread(fd, (char *)buffer + done, length - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return PYDBG_EREAD;
        done += (size_t)n;
    }
    return PYDBG_OK;
}

/* The file is the one the process mapped if its first page equals the copy
 * in the core (cores keep the first page of ELF files: their headers and
 * build ID). A file with no such copy in the core is trusted. */
static int same_as_mapped(const pydbg__core *core, const char *mapped_path, int fd,
                          uint64_t file_size)
{
    unsigned char in_core[VERIFY_BYTES], in_file[VERIFY_BYTES];
    for (size_t i = 0; i < core->file_count; i++) {
        const pydbg__core_file *f = &core->files[i];
        uint64_t n = file_size < VERIFY_BYTES ? file_size : VERIFY_BYTES;
        if (f->offset != 0 || strcmp(f->path, mapped_path) != 0)
            continue;
        if (f->end - f->start < n)
            n = f->end - f->start;
        if (n == 0 || read_dumped(core, f->start, in_core, (size_t)n) != PYDBG_OK)
            continue;
        return pread_all(fd, in_file, (size_t)n, 0) == PYDBG_OK &&
               memcmp(in_core, in_file, (size_t)n) == 0;
    }
    return 1;
}

int pydbg__core_verify_file(const pydbg__core *core, const char *mapped_path,
                            const char *local_path, pydbg__error *err)
{
    struct stat st;
    int fd = open(local_path, O_RDONLY | O_CLOEXEC), same;
    if (fd < 0) {
        int e = errno;
        return pydbg__fail(err,
                           e == ENOENT || e == ENOTDIR ? PYDBG_ENOTFOUND
                           : e == EACCES || e == EPERM ? PYDBG_EPERM
                                                        : PYDBG_EIO,
                           "cannot open %s: %s", local_path, strerror(e));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return pydbg__fail(err, PYDBG_EIO, "%s is not a regular file", local_path);
    }
    same = same_as_mapped(core, mapped_path, fd, (uint64_t)st.st_size);
    close(fd);
    if (!same)
        return pydbg__fail(err, PYDBG_EFORMAT,
                           "%s is not the file the process had mapped as %s (its first page "
                           "differs from the core's copy)",
                           local_path, mapped_path);
    return PYDBG_OK;
}

static int open_mapped(core_reader *cr, open_file *of)
{
    const char *exe = cr->core->executable;
    char rooted[4096 + 256];
    struct stat st;
    const char *used = of->path;
    if (of->fd >= 0 || of->failed)
        return of->failed ? PYDBG_EREAD : PYDBG_OK;
    of->failed = 1;
    if (cr->executable_file && exe && strcmp(of->path, exe) == 0) {
        used = cr->executable_file;
        of->fd = open(used, O_RDONLY | O_CLOEXEC);
    } else if (cr->root) {
        snprintf(rooted, sizeof rooted, "%s%s", cr->root, of->path);
        used = rooted;
        of->fd = open(used, O_RDONLY | O_CLOEXEC);
    }
    if (of->fd < 0) {
        used = of->path;
        of->fd = open(used, O_RDONLY | O_CLOEXEC);
    }
    if (of->fd < 0) {
        note_problem(cr, "cannot open the mapped file %s: %s", used, strerror(errno));
        return PYDBG_EREAD;
    }
    if (fstat(of->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        note_problem(cr, "the mapped file %s is not a regular file", used);
        goto refuse;
    }
    of->size = (uint64_t)st.st_size;
    if (!same_as_mapped(cr->core, of->path, of->fd, of->size)) {
        note_problem(cr,
                     "%s is not the file the process had mapped (its first page differs "
                     "from the core's copy)",
                     used);
        goto refuse;
    }
    of->failed = 0;
    return PYDBG_OK;
refuse:
    close(of->fd);
    of->fd = -1;
    return PYDBG_EREAD;
}

/* Reads a first part of [address, address+length) (at least one byte) and
 * stores its size in `*got`. */
static int read_some(core_reader *cr, uint64_t address, unsigned char *out, size_t length,
                     size_t *got)
{
    const pydbg__core *core = cr->core;
    uint64_t next, limit, offset, inside;
    const pydbg__core_segment *s = segment_at(core, address, &next);
    const pydbg__core_file *f;
    open_file *of;
    size_t index, n;
    if (s && (inside = address - s->vaddr) < s->filesz) {
        n = s->filesz - inside < length ? (size_t)(s->filesz - inside) : length;
        memcpy(out, core->data + s->offset + inside, n);
        *got = n;
        return PYDBG_OK;
    }
    /* Not in the core: from the mapped file, up to where the core (a next
     * segment) or the mapping takes over. */
    f = file_at(core, address, &index);
    if (!f)
        return PYDBG_EREAD;
    limit = s ? s->vaddr + s->memsz : next;
    if (f->end < limit)
        limit = f->end;
    n = limit - address < length ? (size_t)(limit - address) : length;
    of = &cr->opened[cr->slot_of_file[index]];
    if (open_mapped(cr, of) != PYDBG_OK)
        return PYDBG_EREAD;
    offset = f->offset + (address - f->start);
    if (offset < f->offset || offset >= of->size)
        return PYDBG_EREAD; /* past the end of the file: SIGBUS in the process */
    if (n > of->size - offset)
        n = (size_t)(of->size - offset);
    if (pread_all(of->fd, out, n, offset) != PYDBG_OK)
        return PYDBG_EREAD;
    *got = n;
    return PYDBG_OK;
}

/* Reads from the start of the range as far as possible; `*got` bytes. Each
 * step consumes at least one byte and ends at a segment or mapping boundary,
 * so the steps are bounded by their number. */
static int read_span(core_reader *cr, uint64_t address, unsigned char *out, size_t length,
                     size_t *got)
{
    size_t done = 0;
    size_t max_steps = 2 * (cr->core->segment_count + cr->core->file_count) + 2;
    int rc = PYDBG_OK;
    for (size_t step = 0; done < length && step < max_steps; step++) {
        size_t n = 0;
        if (address + done < address) {
            rc = PYDBG_EREAD;
            break;
        }
        rc = read_some(cr, address + done, out + done, length - done, &n);
        if (rc != PYDBG_OK)
            break;
        done += n;
    }
    *got = done;
    if (done < length && rc == PYDBG_OK)
        rc = PYDBG_EREAD;
    return rc;
}

static int core_read(pydbg__reader *reader, uint64_t address, void *buffer, size_t length)
{
    size_t got;
    reader->read_calls++;
    if (length == 0)
        return PYDBG_OK;
    return read_span((core_reader *)reader, address, buffer, length, &got);
}

static int core_read_many(pydbg__reader *reader, pydbg__read_piece *pieces, size_t count)
{
    reader->read_calls++;
    for (size_t i = 0; i < count; i++) {
        size_t got;
        int rc;
        if (pieces[i].length == 0)
            continue;
        rc = read_span((core_reader *)reader, pieces[i].address, pieces[i].buffer,
                       pieces[i].length, &got);
        if (rc != PYDBG_OK)
            return rc;
    }
    return PYDBG_OK;
}

static int core_read_partial(pydbg__reader *reader, uint64_t address, void *buffer,
                             size_t length, size_t *got)
{
    reader->read_calls++;
    read_span((core_reader *)reader, address, buffer, length, got);
    return *got > 0 || length == 0 ? PYDBG_OK : PYDBG_EREAD;
}

static void core_destroy(pydbg__reader *reader)
{
    core_reader *cr = (core_reader *)reader;
    for (size_t i = 0; i < cr->opened_count; i++)
        if (cr->opened[i].fd >= 0)
            close(cr->opened[i].fd);
    free(cr->opened);
    free(cr->slot_of_file);
    free(cr->root);
    free(cr->executable_file);
    pydbg__core_close(cr->core);
    free(cr);
}

static const pydbg__reader_ops core_ops = {
    .read = core_read,
    .read_many = core_read_many,
    .read_partial = core_read_partial,
    .destroy = core_destroy,
};

typedef struct path_index {
    const char *path;
    size_t index;
} path_index;

static int compare_paths(const void *a, const void *b)
{
    const path_index *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Gives every distinct path one slot, so that each file is opened once. */
static int assign_slots(core_reader *cr)
{
    const pydbg__core *core = cr->core;
    size_t n = core->file_count;
    path_index *order = malloc((n ? n : 1) * sizeof *order);
    cr->slot_of_file = malloc((n ? n : 1) * sizeof *cr->slot_of_file);
    cr->opened = calloc(n ? n : 1, sizeof *cr->opened);
    if (!order || !cr->slot_of_file || !cr->opened) {
        free(order);
        return PYDBG_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        order[i].path = core->files[i].path;
        order[i].index = i;
    }
    qsort(order, n, sizeof *order, compare_paths);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(order[i].path, order[i - 1].path) != 0) {
            open_file *of = &cr->opened[cr->opened_count++];
            of->path = order[i].path;
            of->fd = -1;
        }
        cr->slot_of_file[order[i].index] = cr->opened_count - 1;
    }
    free(order);
    return PYDBG_OK;
}

int pydbg__reader_open_core(pydbg__reader **out, pydbg__core *core,
                            const pydbg__core_file_options *options)
{
    core_reader *cr;
    if (!out || !core)
        return PYDBG_EINVAL;
    *out = NULL;
    cr = calloc(1, sizeof *cr);
    if (!cr)
        return PYDBG_ENOMEM;
    cr->base.ops = &core_ops;
    cr->core = core;
    core->refs++;
    if (options && options->root && options->root[0] && !(cr->root = strdup(options->root)))
        goto nomem;
    if (options && options->executable_file &&
        !(cr->executable_file = strdup(options->executable_file)))
        goto nomem;
    if (assign_slots(cr) != PYDBG_OK)
        goto nomem;
    *out = &cr->base;
    return PYDBG_OK;
nomem:
    core_destroy(&cr->base);
    return PYDBG_ENOMEM;
}
