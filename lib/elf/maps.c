/* Parsing /proc/PID/maps.
 *
 * A line is "START-END PERMS OFFSET MAJ:MIN INODE [PATH]". The path is
 * everything after the padding, so it may contain spaces; the kernel escapes
 * a newline in a file name as "\012", so one line is one mapping. A file
 * unlinked while mapped gets " (deleted)" appended, which is removed so that
 * the path matches the name the walker searches for.
 *
 * All paths live in the same allocation as the array, so pydbg__maps_free is
 * one free() and the mapping pointers stay valid as long as the array. */
#include "elf/maps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buffer.h"

/* The kernel's default vm.max_map_count is 65530; allow generously more but
 * stop before a hostile text makes us allocate without end. */
#define MAX_MAPPINGS (1u << 22)
/* The text of a maps file with MAX_MAPPINGS long lines stays below this. */
#define MAX_MAPS_TEXT ((size_t)1 << 30)

static const char deleted_suffix[] = " (deleted)";

typedef struct parse_state {
    pydbg__mapping *items;
    size_t count;
    size_t capacity;
    pydbg__buffer paths; /* NUL-separated; items[i].path holds an offset until the end */
} parse_state;

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses hexadecimal digits at *p (at most 16) and advances. */
static int parse_hex(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;
    while (s < end && hex_digit(*s) >= 0) {
        if (++digits > 16)
            return -1;
        v = (v << 4) | (uint64_t)hex_digit(*s);
        s++;
    }
    if (digits == 0)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

static int parse_dec(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (++digits > 20 || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        s++;
    }
    if (digits == 0)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

static int expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return -1;
    (*p)++;
    return 0;
}

static int parse_perms(const char **p, const char *end, unsigned *perms)
{
    const char *s = *p;
    unsigned v = 0;
    if (end - s < 4)
        return -1;
    if (s[0] == 'r')
        v |= PYDBG__MAP_R;
    else if (s[0] != '-')
        return -1;
    if (s[1] == 'w')
        v |= PYDBG__MAP_W;
    else if (s[1] != '-')
        return -1;
    if (s[2] == 'x')
        v |= PYDBG__MAP_X;
    else if (s[2] != '-')
        return -1;
    if (s[3] == 'p')
        v |= PYDBG__MAP_P;
    else if (s[3] != 's')
        return -1;
    *p = s + 4;
    *perms = v;
    return 0;
}

/* Parses one line (without its newline) into a new item. */
static int parse_line(parse_state *st, const char *line, const char *end)
{
    const char *p = line;
    pydbg__mapping m;
    uint64_t dev_major, dev_minor;
    size_t path_length;
    size_t path_offset;
    void *items;
    int rc;

    memset(&m, 0, sizeof m);
    if (parse_hex(&p, end, &m.start) || expect(&p, end, '-') || parse_hex(&p, end, &m.end) ||
        expect(&p, end, ' ') || parse_perms(&p, end, &m.perms) || expect(&p, end, ' ') ||
        parse_hex(&p, end, &m.offset) || expect(&p, end, ' ') ||
        parse_hex(&p, end, &dev_major) || expect(&p, end, ':') ||
        parse_hex(&p, end, &dev_minor) || expect(&p, end, ' ') || parse_dec(&p, end, &m.inode))
        return PYDBG_EFORMAT;
    if (m.end < m.start)
        return PYDBG_EFORMAT;
    /* Padding, then the path to the end of the line (or nothing). */
    if (p < end && *p != ' ')
        return PYDBG_EFORMAT;
    while (p < end && *p == ' ')
        p++;
    path_length = (size_t)(end - p);
    if (path_length >= sizeof deleted_suffix - 1 && p[0] == '/' &&
        memcmp(end - (sizeof deleted_suffix - 1), deleted_suffix, sizeof deleted_suffix - 1) == 0)
        path_length -= sizeof deleted_suffix - 1;
    if (memchr(p, '\0', path_length))
        return PYDBG_EFORMAT;

    if (st->count >= MAX_MAPPINGS)
        return PYDBG_ELIMIT;
    items = st->items;
    rc = pydbg__grow_array(&items, &st->capacity, st->count + 1, sizeof *st->items);
    st->items = items;
    if (rc != PYDBG_OK)
        return rc;
    path_offset = st->paths.length;
    if ((rc = pydbg__buffer_append(&st->paths, p, path_length)) != PYDBG_OK ||
        (rc = pydbg__buffer_append(&st->paths, "", 1)) != PYDBG_OK)
        return rc;
    m.path = (char *)(uintptr_t)path_offset;
    st->items[st->count++] = m;
    return PYDBG_OK;
}

static int compare_start(const void *a, const void *b)
{
    const pydbg__mapping *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

int pydbg__maps_parse(pydbg__maps *out, const char *text, size_t length, pydbg__error *err)
{
    parse_state st;
    const char *p = text;
    const char *end = text + length;
    size_t line_number = 0;
    int sorted = 1;
    int rc = PYDBG_OK;

    if (!out || (!text && length))
        return pydbg__fail(err, PYDBG_EINVAL, "invalid arguments to the maps parser");
    out->items = NULL;
    out->count = 0;
    memset(&st, 0, sizeof st);

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        line_number++;
        if (line_end > p) {
            rc = parse_line(&st, p, line_end);
            if (rc != PYDBG_OK)
                break;
            if (st.count > 1 && st.items[st.count - 1].start < st.items[st.count - 2].start)
                sorted = 0;
        }
        p = nl ? nl + 1 : end;
    }

    if (rc == PYDBG_OK) {
        /* One block: the array, then the paths. */
        size_t array_size = st.count * sizeof *st.items;
        char *block = malloc(array_size + st.paths.length + 1);
        if (!block) {
            rc = PYDBG_ENOMEM;
        } else {
            char *paths = block + array_size;
            if (st.paths.length)
                memcpy(paths, st.paths.data, st.paths.length);
            paths[st.paths.length] = '\0';
            if (array_size)
                memcpy(block, st.items, array_size);
            out->items = (pydbg__mapping *)(void *)block;
            out->count = st.count;
            for (size_t i = 0; i < st.count; i++)
                out->items[i].path = paths + (uintptr_t)out->items[i].path;
            /* The kernel lists mappings in address order; hand-made text may not. */
            if (!sorted)
                qsort(out->items, out->count, sizeof *out->items, compare_start);
        }
    }
    free(st.items);
    pydbg__buffer_free(&st.paths);
    if (rc == PYDBG_EFORMAT)
        return pydbg__fail(err, rc, "malformed maps line %zu", line_number);
    if (rc == PYDBG_ELIMIT)
        return pydbg__fail(err, rc, "more than %u mappings", MAX_MAPPINGS);
    if (rc != PYDBG_OK)
        return pydbg__fail(err, rc, "out of memory parsing maps");
    return PYDBG_OK;
}

int pydbg__maps_read(pydbg__maps *out, int pid, pydbg__error *err)
{
    char path[64];
    pydbg__buffer text = {0};
    int fd;
    int rc = PYDBG_OK;

    if (!out)
        return pydbg__fail(err, PYDBG_EINVAL, "invalid arguments to pydbg__maps_read");
    out->items = NULL;
    out->count = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ESRCH)
            return pydbg__fail(err, PYDBG_ENOPROC, "process %d does not exist", pid);
        if (e == EACCES || e == EPERM)
            return pydbg__fail(err, PYDBG_EPERM,
                               "cannot read %s: permission denied (run as the same user or "
                               "root, or with CAP_SYS_PTRACE)",
                               path);
        return pydbg__fail(err, PYDBG_EIO, "cannot open %s: errno %d", path, e);
    }
    /* The file has no size; read until EOF, bounded. */
    for (;;) {
        ssize_t n;
        if (text.length >= MAX_MAPS_TEXT) {
            rc = pydbg__fail(err, PYDBG_ELIMIT, "%s is larger than %zu bytes", path,
                             (size_t)MAX_MAPS_TEXT);
            break;
        }
        if (pydbg__buffer_reserve(&text, 65536) != PYDBG_OK) {
            rc = pydbg__fail(err, PYDBG_ENOMEM, "out of memory reading %s", path);
            break;
        }
        n = read(fd, text.data + text.length, text.capacity - text.length - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            if (e == ESRCH)
                rc = pydbg__fail(err, PYDBG_ENOPROC, "process %d exited", pid);
            else if (e == EACCES || e == EPERM)
                rc = pydbg__fail(err, PYDBG_EPERM, "cannot read %s: permission denied", path);
            else
                rc = pydbg__fail(err, PYDBG_EIO, "reading %s: errno %d", path, e);
            break;
        }
        if (n == 0)
            break;
        text.length += (size_t)n;
    }
    close(fd);
    if (rc == PYDBG_OK) {
        rc = pydbg__maps_parse(out, text.data ? text.data : "", text.length, err);
        if (rc != PYDBG_OK)
            pydbg__fail_context(err, "%s", path);
    }
    pydbg__buffer_free(&text);
    return rc;
}

void pydbg__maps_free(pydbg__maps *maps)
{
    if (!maps)
        return;
    free(maps->items);
    maps->items = NULL;
    maps->count = 0;
}

const pydbg__mapping *pydbg__maps_find(const pydbg__maps *maps, uint64_t address)
{
    size_t lo = 0, hi;
    if (!maps || !maps->items)
        return NULL;
    /* The last mapping starting at or below `address`. */
    hi = maps->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (maps->items[mid].start <= address)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    if (address < maps->items[lo - 1].end)
        return &maps->items[lo - 1];
    return NULL;
}

int pydbg__maps_readable(const pydbg__maps *maps, uint64_t address, uint64_t length)
{
    const pydbg__mapping *m;
    uint64_t end;
    if (length == 0)
        return 1;
    if (address + length < address)
        return 0;
    end = address + length;
    m = pydbg__maps_find(maps, address);
    /* Walk adjacent mappings; each step moves past one array item. */
    while (m && (m->perms & PYDBG__MAP_R)) {
        const pydbg__mapping *next;
        if (end <= m->end)
            return 1;
        next = m + 1;
        if (next >= maps->items + maps->count || next->start != m->end)
            return 0;
        m = next;
    }
    return 0;
}

const pydbg__mapping *pydbg__maps_file_base(const pydbg__maps *maps, const char *path)
{
    const pydbg__mapping *best = NULL;
    const pydbg__mapping *best_shared = NULL;
    if (!maps || !path || !*path)
        return NULL;
    /* The kernel and ld.so load ELF files with private mappings; a shared
     * mapping of the same file is someone reading it (pydbg__elf_open in this
     * very process, for one), so it counts only when nothing else does. */
    for (size_t i = 0; i < maps->count; i++) {
        const pydbg__mapping *m = &maps->items[i];
        if (strcmp(m->path, path) != 0)
            continue;
        if (m->perms & PYDBG__MAP_P) {
            if (!best || m->start < best->start)
                best = m;
        } else if (!best_shared || m->start < best_shared->start) {
            best_shared = m;
        }
    }
    return best ? best : best_shared;
}
