/* The OS half of a snapshot: /proc/PID/smaps, one record per mapping.
 *
 * A record is a header line as in /proc/PID/maps followed by "Key: value kB"
 * lines. Only the sizes the snapshot keeps are read; unknown keys are skipped
 * so that newer kernels' additions do not break the parser. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

/* /proc files report no size: read in growing steps, up to a bound far above
 * any real smaps (about 1 KiB per mapping). */
#define SMAPS_MAX_BYTES (1u << 30)

uint32_t pydbg__mapping_kind(const char *path)
{
    if (!path || !*path || strncmp(path, "[anon:", 6) == 0)
        return PYDBG_MAPPING_ANON;
    if (strcmp(path, "[heap]") == 0)
        return PYDBG_MAPPING_HEAP;
    if (strncmp(path, "[stack", 6) == 0)
        return PYDBG_MAPPING_STACK;
    if (path[0] == '[')
        return PYDBG_MAPPING_SPECIAL;
    return PYDBG_MAPPING_FILE;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Parses a hexadecimal number at *p (at least one digit, at most 16). */
static int parse_hex(const char **p, const char *end, uint64_t *value)
{
    const char *q = *p;
    uint64_t v = 0;
    int digits = 0;
    while (q < end && is_hex(*q)) {
        int d = *q <= '9' ? *q - '0' : (*q | 0x20) - 'a' + 10;
        if (++digits > 16)
            return 0;
        v = v << 4 | (uint64_t)d;
        q++;
    }
    if (!digits)
        return 0;
    *p = q;
    *value = v;
    return 1;
}

static const char *skip_spaces(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *skip_token(const char *p, const char *end)
{
    while (p < end && *p != ' ' && *p != '\t')
        p++;
    return p;
}

/* A header line: "start-end perms offset dev inode [path]". Returns 1 and
 * fills `m` (path into `path`) if the line is one. */
static int parse_header(const char *p, const char *end, pydbg__snap_mapping *m, char *path,
                        size_t path_size)
{
    uint64_t inode;
    size_t n;
    memset(m, 0, sizeof *m);
    if (!parse_hex(&p, end, &m->start) || p >= end || *p != '-')
        return 0;
    p++;
    if (!parse_hex(&p, end, &m->end) || m->end < m->start || p >= end || *p != ' ')
        return 0;
    p = skip_spaces(p, end);
    if (end - p < 5)
        return 0;
    m->perms = (p[0] == 'r' ? 1u : 0u) | (p[1] == 'w' ? 2u : 0u) | (p[2] == 'x' ? 4u : 0u) |
               (p[3] == 'p' ? 8u : 0u);
    p = skip_spaces(skip_token(p, end), end);
    if (!parse_hex(&p, end, &m->offset))
        return 0;
    p = skip_spaces(p, end);
    p = skip_spaces(skip_token(p, end), end); /* device major:minor */
    {
        /* The inode is decimal; parsed as digits only. */
        const char *q = p;
        inode = 0;
        while (q < end && *q >= '0' && *q <= '9' && q - p < 20)
            inode = inode * 10 + (uint64_t)(*q++ - '0');
        if (q == p)
            return 0;
        p = q;
    }
    (void)inode;
    p = skip_spaces(p, end);
    n = (size_t)(end - p);
    if (n >= path_size)
        n = path_size - 1;
    memcpy(path, p, n);
    path[n] = '\0';
    return 1;
}

/* "Rss:   1234 kB" -> bytes, for the keys the snapshot keeps. */
static void parse_field(const char *p, const char *end, pydbg__snap_mapping *m)
{
    static const struct {
        const char *key;
        size_t offset;
    } keys[] = {
        {"Rss:", offsetof(pydbg__snap_mapping, rss)},
        {"Pss:", offsetof(pydbg__snap_mapping, pss)},
        {"Private_Dirty:", offsetof(pydbg__snap_mapping, private_dirty)},
        {"Swap:", offsetof(pydbg__snap_mapping, swap)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t k = strlen(keys[i].key);
        uint64_t v = 0;
        const char *q;
        if ((size_t)(end - p) <= k || memcmp(p, keys[i].key, k) != 0)
            continue;
        q = skip_spaces(p + k, end);
        while (q < end && *q >= '0' && *q <= '9' && v < (UINT64_MAX >> 11))
            v = v * 10 + (uint64_t)(*q++ - '0');
        v *= 1024; /* the kernel reports kB */
        memcpy((char *)m + keys[i].offset, &v, sizeof v);
        return;
    }
}

int pydbg__smaps_parse(pydbg_snapshot *s, const char *text, size_t length, pydbg__error *err)
{
    const char *p = text, *end = text + length;
    pydbg__snap_mapping current;
    char path[4096];
    int have = 0, rc;
    size_t line_number = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        pydbg__snap_mapping m;
        char m_path[sizeof path];
        line_number++;
        /* A header starts with a hex digit and has a '-' before the first
         * space; a field line starts with a capital key ending in ':'. */
        if (p < line_end && is_hex(*p) && memchr(p, '-', (size_t)(line_end - p)) &&
            parse_header(p, line_end, &m, m_path, sizeof m_path)) {
            if (have) {
                current.path = path;
                current.kind = pydbg__mapping_kind(path);
                rc = pydbg__snapshot_add_mapping(s, &current);
                if (rc != PYDBG_OK)
                    return pydbg__fail(err, rc, "out of memory");
            }
            current = m;
            memcpy(path, m_path, sizeof path);
            have = 1;
        } else if (have) {
            parse_field(p, line_end, &current);
        } else if (line_end > p) {
            return pydbg__fail(err, PYDBG_EFORMAT,
                               "smaps line %zu: expected a mapping header", line_number);
        }
        p = eol ? eol + 1 : end;
    }
    if (have) {
        current.path = path;
        current.kind = pydbg__mapping_kind(path);
        rc = pydbg__snapshot_add_mapping(s, &current);
        if (rc != PYDBG_OK)
            return pydbg__fail(err, rc, "out of memory");
    }
    return PYDBG_OK;
}

int pydbg__smaps_read(pydbg_snapshot *s, int pid, pydbg__error *err)
{
    char name[64];
    pydbg__buffer buf = {0};
    int fd, rc = PYDBG_OK;
    snprintf(name, sizeof name, "/proc/%d/smaps", pid);
    fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pydbg__fail(err,
                           errno == ENOENT   ? PYDBG_ENOPROC
                           : errno == EACCES || errno == EPERM ? PYDBG_EPERM
                                                               : PYDBG_EIO,
                           "cannot open %s: %s", name, strerror(errno));
    for (;;) {
        ssize_t n;
        if (buf.length >= SMAPS_MAX_BYTES) {
            rc = pydbg__fail(err, PYDBG_ELIMIT, "%s is larger than %u bytes", name,
                             SMAPS_MAX_BYTES);
            break;
        }
        if (pydbg__buffer_reserve(&buf, 65536) != PYDBG_OK) {
            rc = pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
            break;
        }
        n = read(fd, buf.data + buf.length, buf.capacity - buf.length - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = pydbg__fail(err, errno == ESRCH ? PYDBG_EEXITED : PYDBG_EIO,
                             "reading %s: %s", name, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        buf.length += (size_t)n;
    }
    close(fd);
    if (rc == PYDBG_OK)
        rc = pydbg__smaps_parse(s, buf.data ? buf.data : "", buf.length, err);
    pydbg__buffer_free(&buf);
    return rc;
}
