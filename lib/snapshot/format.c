/* The snapshot file format, version 1 (docs/snapshot-format.md).
 *
 *   header (32 bytes, little-endian):
 *     0  magic "PYDBGSNP"
 *     8  u16 major (1), u16 minor (1; files of 1.0 lack section 4)
 *    12  u32 header size (32)
 *    16  u64 payload size
 *    24  u32 CRC-32 of the payload
 *    28  u32 CRC-32 of bytes 0..27
 *   payload: sections, each u32 tag, u32 reserved (0), u64 length, bytes.
 *
 * Numbers inside sections are unsigned LEB128 varints, strings a varint
 * length and that many bytes (no NUL). Records carry their own length, so a
 * reader skips fields added after its time; unknown sections are skipped
 * whole. Everything read is bounds-checked: any bytes give either a snapshot
 * or PYDBG_EFORMAT with the reason. */
#include <stdlib.h>
#include <string.h>

#include "snapshot/snapshot.h"

#define MAGIC "PYDBGSNP"
#define HEADER_SIZE 32u
#define FORMAT_MAJOR 1u
#define FORMAT_MINOR 1u /* 1.1: section 4, pymalloc arena usage */

enum { SEC_META = 1, SEC_TYPES = 2, SEC_MAPPINGS = 3, SEC_PYMALLOC = 4 };

/* ---- CRC-32 -------------------------------------------------------------------------- */

uint32_t pydbg__crc32(uint32_t crc, const void *data, size_t length)
{
    static uint32_t table[256];
    static int ready; /* benign race: every thread computes the same table */
    const unsigned char *p = data;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    crc = ~crc;
    for (size_t i = 0; i < length; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- writing ------------------------------------------------------------------------- */

static int put_le(pydbg__buffer *b, uint64_t v, int bytes)
{
    unsigned char raw[8];
    for (int i = 0; i < bytes; i++)
        raw[i] = (unsigned char)(v >> (8 * i));
    return pydbg__buffer_append(b, raw, (size_t)bytes);
}

static int put_varint(pydbg__buffer *b, uint64_t v)
{
    unsigned char raw[10];
    size_t n = 0;
    do {
        raw[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            raw[n] |= 0x80;
        n++;
    } while (v);
    return pydbg__buffer_append(b, raw, n);
}

static int put_string(pydbg__buffer *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > PYDBG__SNAP_MAX_STRING)
        n = PYDBG__SNAP_MAX_STRING;
    if (put_varint(b, n) != PYDBG_OK)
        return PYDBG_ENOMEM;
    return pydbg__buffer_append(b, s ? s : "", n);
}

/* Appends `record` to `out` as a varint length and the bytes. */
static int put_record(pydbg__buffer *out, const pydbg__buffer *record)
{
    if (put_varint(out, record->length) != PYDBG_OK)
        return PYDBG_ENOMEM;
    return pydbg__buffer_append(out, record->data ? record->data : "", record->length);
}

static int put_section(pydbg__buffer *out, uint32_t tag, const pydbg__buffer *body)
{
    if (put_le(out, tag, 4) != PYDBG_OK || put_le(out, 0, 4) != PYDBG_OK ||
        put_le(out, body->length, 8) != PYDBG_OK)
        return PYDBG_ENOMEM;
    return pydbg__buffer_append(out, body->data ? body->data : "", body->length);
}

static int encode_meta(const pydbg_snapshot *s, pydbg__buffer *b)
{
    int rc = PYDBG_OK;
    rc |= put_varint(b, (uint64_t)(int64_t)s->pid);
    rc |= put_varint(b, (uint64_t)s->time_ns);
    rc |= put_varint(b, (uint64_t)s->census_ns);
    rc |= put_varint(b, s->hexversion);
    rc |= put_varint(b, s->contents);
    rc |= put_string(b, s->python_version);
    rc |= put_string(b, s->executable);
    rc |= put_string(b, s->census_note);
    return rc ? PYDBG_ENOMEM : PYDBG_OK;
}

static int encode_types(const pydbg_snapshot *s, pydbg__buffer *b)
{
    pydbg__buffer record = {0};
    int rc = put_varint(b, s->type_count);
    for (size_t i = 0; i < s->type_count && rc == PYDBG_OK; i++) {
        const pydbg__snap_type *t = &s->types[i];
        record.length = 0;
        rc |= put_string(&record, t->name);
        rc |= put_varint(&record, t->address);
        rc |= put_varint(&record, t->tracked_count);
        rc |= put_varint(&record, t->tracked_bytes);
        rc |= put_varint(&record, t->reached_count);
        rc |= put_varint(&record, t->reached_bytes);
        rc |= put_record(b, &record);
    }
    pydbg__buffer_free(&record);
    return rc ? PYDBG_ENOMEM : PYDBG_OK;
}

static int encode_mappings(const pydbg_snapshot *s, pydbg__buffer *b)
{
    pydbg__buffer record = {0};
    int rc = put_varint(b, s->mapping_count);
    for (size_t i = 0; i < s->mapping_count && rc == PYDBG_OK; i++) {
        const pydbg__snap_mapping *m = &s->mappings[i];
        record.length = 0;
        rc |= put_string(&record, m->path);
        rc |= put_varint(&record, m->start);
        rc |= put_varint(&record, m->end - m->start);
        rc |= put_varint(&record, m->offset);
        rc |= put_varint(&record, m->perms);
        rc |= put_varint(&record, m->kind);
        rc |= put_varint(&record, m->rss);
        rc |= put_varint(&record, m->pss);
        rc |= put_varint(&record, m->private_dirty);
        rc |= put_varint(&record, m->swap);
        rc |= put_record(b, &record);
    }
    pydbg__buffer_free(&record);
    return rc ? PYDBG_ENOMEM : PYDBG_OK;
}

/* Section 4 (format 1.1): the note, then one record per allocator, each
 * ending with one record per size class. */
static int encode_pymalloc(const pydbg_snapshot *s, pydbg__buffer *b)
{
    pydbg__buffer record = {0}, cls = {0};
    int rc = put_string(b, s->pymalloc_note);
    rc |= put_varint(b, s->pymalloc_count);
    for (size_t i = 0; i < s->pymalloc_count && rc == PYDBG_OK; i++) {
        const pydbg__snap_pymalloc *p = &s->pymalloc[i];
        record.length = 0;
        /* The ID shifted by one, so that -1 (the process's allocator) is 0. */
        rc |= put_varint(&record, (uint64_t)(p->interpreter_id + 1));
        rc |= put_varint(&record, p->arena_size);
        rc |= put_varint(&record, p->pool_size);
        rc |= put_varint(&record, p->arenas);
        rc |= put_varint(&record, p->pools);
        rc |= put_varint(&record, p->free_pools);
        rc |= put_varint(&record, p->blocks);
        rc |= put_varint(&record, p->block_bytes);
        rc |= put_varint(&record, p->class_count);
        for (uint32_t k = 0; k < p->class_count && rc == PYDBG_OK; k++) {
            cls.length = 0;
            rc |= put_varint(&cls, p->classes[k].block_size);
            rc |= put_varint(&cls, p->classes[k].pools);
            rc |= put_varint(&cls, p->classes[k].blocks);
            rc |= put_record(&record, &cls);
        }
        rc |= put_record(b, &record);
    }
    pydbg__buffer_free(&record);
    pydbg__buffer_free(&cls);
    return rc ? PYDBG_ENOMEM : PYDBG_OK;
}

int pydbg__snapshot_encode(const pydbg_snapshot *s, pydbg__buffer *out)
{
    pydbg__buffer body = {0}, payload = {0};
    unsigned char header[HEADER_SIZE];
    int rc;
    out->length = 0;
    rc = encode_meta(s, &body);
    if (rc == PYDBG_OK)
        rc = put_section(&payload, SEC_META, &body);
    body.length = 0;
    if (rc == PYDBG_OK && (s->contents & PYDBG_SNAPSHOT_HAS_CENSUS)) {
        rc = encode_types(s, &body);
        if (rc == PYDBG_OK)
            rc = put_section(&payload, SEC_TYPES, &body);
        body.length = 0;
    }
    if (rc == PYDBG_OK && (s->contents & PYDBG_SNAPSHOT_HAS_MAPPINGS)) {
        rc = encode_mappings(s, &body);
        if (rc == PYDBG_OK)
            rc = put_section(&payload, SEC_MAPPINGS, &body);
        body.length = 0;
    }
    /* Written whenever there is something to say, usage or why there is none. */
    if (rc == PYDBG_OK && (s->pymalloc_count || (s->pymalloc_note && *s->pymalloc_note))) {
        rc = encode_pymalloc(s, &body);
        if (rc == PYDBG_OK)
            rc = put_section(&payload, SEC_PYMALLOC, &body);
    }
    pydbg__buffer_free(&body);
    if (rc != PYDBG_OK) {
        pydbg__buffer_free(&payload);
        return PYDBG_ENOMEM;
    }
    memcpy(header, MAGIC, 8);
    {
        pydbg__buffer h = {0};
        rc |= put_le(&h, FORMAT_MAJOR, 2);
        rc |= put_le(&h, FORMAT_MINOR, 2);
        rc |= put_le(&h, HEADER_SIZE, 4);
        rc |= put_le(&h, payload.length, 8);
        rc |= put_le(&h, pydbg__crc32(0, payload.data ? payload.data : "", payload.length), 4);
        if (rc == PYDBG_OK)
            memcpy(header + 8, h.data, 20);
        pydbg__buffer_free(&h);
    }
    if (rc == PYDBG_OK) {
        uint32_t hc = pydbg__crc32(0, header, 28);
        for (int i = 0; i < 4; i++)
            header[28 + i] = (unsigned char)(hc >> (8 * i));
        rc = pydbg__buffer_append(out, header, HEADER_SIZE);
    }
    if (rc == PYDBG_OK)
        rc = pydbg__buffer_append(out, payload.data ? payload.data : "", payload.length);
    pydbg__buffer_free(&payload);
    return rc ? PYDBG_ENOMEM : PYDBG_OK;
}

/* ---- reading ------------------------------------------------------------------------- */

typedef struct cursor {
    const unsigned char *p, *end;
} cursor;

static uint64_t load_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int get_varint(cursor *c, uint64_t *v)
{
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        unsigned byte;
        if (c->p >= c->end)
            return 0;
        byte = *c->p++;
        if (shift == 63 && (byte & 0x7e))
            return 0; /* more than 64 bits */
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = value;
            return 1;
        }
    }
    return 0;
}

/* A string into `buf` (NUL-terminated); refuses embedded NULs. */
static int get_string(cursor *c, char *buf, size_t size)
{
    uint64_t n;
    if (!get_varint(c, &n) || n >= size || n > (uint64_t)(c->end - c->p))
        return 0;
    memcpy(buf, c->p, (size_t)n);
    buf[n] = '\0';
    if (memchr(buf, '\0', (size_t)n))
        return 0;
    c->p += n;
    return 1;
}

/* Opens the next record as a sub-cursor and moves `c` past it. */
static int get_record(cursor *c, cursor *record)
{
    uint64_t n;
    if (!get_varint(c, &n) || n > (uint64_t)(c->end - c->p))
        return 0;
    record->p = c->p;
    record->end = c->p + n;
    c->p += n;
    return 1;
}

static int bad(pydbg__error *err, const char *what)
{
    return pydbg__fail(err, PYDBG_EFORMAT, "corrupt snapshot file: %s", what);
}

static int decode_meta(pydbg_snapshot *s, cursor c, pydbg__error *err)
{
    uint64_t pid, time_ns, census_ns, hexversion, contents;
    const char **targets[3] = {&s->python_version, &s->executable, &s->census_note};
    if (!get_varint(&c, &pid) || !get_varint(&c, &time_ns) || !get_varint(&c, &census_ns) ||
        !get_varint(&c, &hexversion) || !get_varint(&c, &contents))
        return bad(err, "metadata truncated");
    if (pid > 0x7fffffffu && pid != UINT64_MAX)
        return bad(err, "process ID out of range");
    if (hexversion > 0xffffffffu || contents > 0xffffffffu)
        return bad(err, "metadata out of range");
    s->pid = pid == UINT64_MAX ? -1 : (int32_t)pid;
    s->time_ns = (int64_t)time_ns;
    s->census_ns = (int64_t)census_ns;
    s->hexversion = (uint32_t)hexversion;
    s->contents = (uint32_t)contents &
                  (PYDBG_SNAPSHOT_HAS_MAPPINGS | PYDBG_SNAPSHOT_HAS_CENSUS |
                   PYDBG_SNAPSHOT_HAS_REFERENTS | PYDBG_SNAPSHOT_WAS_PAUSED |
                   PYDBG_SNAPSHOT_HAS_PYMALLOC);
    for (int i = 0; i < 3; i++) {
        char *buf = malloc(PYDBG__SNAP_MAX_STRING + 1);
        int ok;
        if (!buf)
            return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
        ok = get_string(&c, buf, PYDBG__SNAP_MAX_STRING + 1);
        if (ok)
            *targets[i] = pydbg__snapshot_strdup(s, buf);
        free(buf);
        if (!ok)
            return bad(err, "metadata string truncated or invalid");
        if (!*targets[i])
            return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
    }
    return PYDBG_OK;
}

static int decode_types(pydbg_snapshot *s, cursor c, pydbg__error *err)
{
    uint64_t count;
    char *name;
    int rc = PYDBG_OK;
    if (!get_varint(&c, &count))
        return bad(err, "type count truncated");
    /* Every record takes at least one byte: a count beyond the bytes left is a lie. */
    if (count > (uint64_t)(c.end - c.p) || count > PYDBG__SNAP_MAX_TYPES)
        return bad(err, "type count larger than the section");
    name = malloc(PYDBG__SNAP_MAX_STRING + 1);
    if (!name)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < count && rc == PYDBG_OK; i++) {
        cursor r;
        pydbg__snap_type t;
        if (!get_record(&c, &r) || !get_string(&r, name, PYDBG__SNAP_MAX_STRING + 1) ||
            !get_varint(&r, &t.address) || !get_varint(&r, &t.tracked_count) ||
            !get_varint(&r, &t.tracked_bytes) || !get_varint(&r, &t.reached_count) ||
            !get_varint(&r, &t.reached_bytes)) {
            rc = bad(err, "type record truncated");
            break;
        }
        t.name = name;
        rc = pydbg__snapshot_add_type(s, &t);
        if (rc != PYDBG_OK)
            rc = pydbg__fail(err, rc, "out of memory");
    }
    free(name);
    return rc;
}

static int decode_mappings(pydbg_snapshot *s, cursor c, pydbg__error *err)
{
    uint64_t count;
    char *path;
    int rc = PYDBG_OK;
    if (!get_varint(&c, &count))
        return bad(err, "mapping count truncated");
    if (count > (uint64_t)(c.end - c.p) || count > PYDBG__SNAP_MAX_MAPPINGS)
        return bad(err, "mapping count larger than the section");
    path = malloc(PYDBG__SNAP_MAX_STRING + 1);
    if (!path)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < count && rc == PYDBG_OK; i++) {
        cursor r;
        pydbg__snap_mapping m;
        uint64_t size, perms, kind;
        if (!get_record(&c, &r) || !get_string(&r, path, PYDBG__SNAP_MAX_STRING + 1) ||
            !get_varint(&r, &m.start) || !get_varint(&r, &size) || !get_varint(&r, &m.offset) ||
            !get_varint(&r, &perms) || !get_varint(&r, &kind) || !get_varint(&r, &m.rss) ||
            !get_varint(&r, &m.pss) || !get_varint(&r, &m.private_dirty) ||
            !get_varint(&r, &m.swap)) {
            rc = bad(err, "mapping record truncated");
            break;
        }
        if (size > UINT64_MAX - m.start || perms > 15 || kind > PYDBG_MAPPING_SPECIAL) {
            rc = bad(err, "mapping record out of range");
            break;
        }
        m.end = m.start + size;
        m.perms = (uint32_t)perms;
        m.kind = (uint32_t)kind;
        m.path = path;
        rc = pydbg__snapshot_add_mapping(s, &m);
        if (rc != PYDBG_OK)
            rc = pydbg__fail(err, rc, "out of memory");
    }
    free(path);
    return rc;
}

static int decode_pymalloc(pydbg_snapshot *s, cursor c, pydbg__error *err)
{
    uint64_t count;
    char *note = malloc(PYDBG__SNAP_MAX_STRING + 1);
    int rc = PYDBG_OK;
    if (!note)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
    if (!get_string(&c, note, PYDBG__SNAP_MAX_STRING + 1)) {
        free(note);
        return bad(err, "pymalloc note truncated or invalid");
    }
    s->pymalloc_note = pydbg__snapshot_strdup(s, note);
    free(note);
    if (!s->pymalloc_note)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
    if (!get_varint(&c, &count))
        return bad(err, "pymalloc count truncated");
    if (count > (uint64_t)(c.end - c.p) || count > PYDBG__SNAP_MAX_PYMALLOC)
        return bad(err, "pymalloc count larger than the section");
    for (uint64_t i = 0; i < count && rc == PYDBG_OK; i++) {
        cursor r;
        pydbg__snap_pymalloc p;
        uint64_t id, classes;
        memset(&p, 0, sizeof p);
        if (!get_record(&c, &r) || !get_varint(&r, &id) || !get_varint(&r, &p.arena_size) ||
            !get_varint(&r, &p.pool_size) || !get_varint(&r, &p.arenas) ||
            !get_varint(&r, &p.pools) || !get_varint(&r, &p.free_pools) ||
            !get_varint(&r, &p.blocks) || !get_varint(&r, &p.block_bytes) ||
            !get_varint(&r, &classes))
            return bad(err, "pymalloc record truncated");
        if (id > (uint64_t)INT64_MAX || classes > PYDBG__SNAP_MAX_SIZE_CLASSES)
            return bad(err, "pymalloc record out of range");
        p.interpreter_id = (int64_t)id - 1;
        p.class_count = (uint32_t)classes;
        for (uint32_t k = 0; k < p.class_count; k++) {
            cursor rc_class;
            if (!get_record(&r, &rc_class) || !get_varint(&rc_class, &p.classes[k].block_size) ||
                !get_varint(&rc_class, &p.classes[k].pools) ||
                !get_varint(&rc_class, &p.classes[k].blocks))
                return bad(err, "pymalloc size class record truncated");
        }
        rc = pydbg__snapshot_add_pymalloc(s, &p);
        if (rc != PYDBG_OK)
            rc = pydbg__fail(err, rc, "out of memory");
    }
    return rc;
}

int pydbg__snapshot_decode(pydbg_snapshot **out, const unsigned char *data, size_t size,
                           pydbg__error *err)
{
    pydbg_snapshot *s;
    uint64_t payload_size, major, header_size;
    cursor c;
    unsigned seen = 0;
    int rc = PYDBG_OK;
    *out = NULL;
    if (size < 8 || memcmp(data, MAGIC, 8) != 0)
        return pydbg__fail(err, PYDBG_EFORMAT, "not a libpydebug snapshot file (bad magic)");
    if (size < HEADER_SIZE)
        return pydbg__fail(err, PYDBG_EFORMAT, "snapshot file truncated: %zu bytes of header",
                           size);
    if (load_le(data + 28, 4) != pydbg__crc32(0, data, 28))
        return pydbg__fail(err, PYDBG_EFORMAT, "snapshot file header checksum mismatch");
    major = load_le(data + 8, 2);
    header_size = load_le(data + 12, 4);
    payload_size = load_le(data + 16, 8);
    if (major != FORMAT_MAJOR)
        return pydbg__fail(err, PYDBG_EFORMAT,
                           "snapshot file format %u.%u is not readable by this library "
                           "(it reads format %u.x)",
                           (unsigned)major, (unsigned)load_le(data + 10, 2), FORMAT_MAJOR);
    if (header_size < HEADER_SIZE || header_size > size)
        return bad(err, "header size");
    if (payload_size != size - header_size)
        return pydbg__fail(err, PYDBG_EFORMAT,
                           "snapshot file truncated or extended: %llu payload bytes expected, "
                           "%llu present",
                           (unsigned long long)payload_size,
                           (unsigned long long)(size - header_size));
    if (load_le(data + 24, 4) != pydbg__crc32(0, data + header_size, (size_t)payload_size))
        return pydbg__fail(err, PYDBG_EFORMAT,
                           "snapshot file payload checksum mismatch (the file is corrupt)");
    s = pydbg__snapshot_new();
    if (!s)
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
    c.p = data + header_size;
    c.end = data + size;
    while (c.p < c.end && rc == PYDBG_OK) {
        uint64_t tag, length;
        cursor body;
        if (c.end - c.p < 16) {
            rc = bad(err, "section header truncated");
            break;
        }
        tag = load_le(c.p, 4);
        length = load_le(c.p + 8, 8);
        c.p += 16;
        if (length > (uint64_t)(c.end - c.p)) {
            rc = bad(err, "section longer than the file");
            break;
        }
        body.p = c.p;
        body.end = c.p + length;
        c.p += length;
        if (tag >= 1 && tag <= SEC_PYMALLOC) {
            if (seen & (1u << tag)) {
                rc = bad(err, "section repeated");
                break;
            }
            seen |= 1u << tag;
        }
        if (tag == SEC_META)
            rc = decode_meta(s, body, err);
        else if (tag == SEC_TYPES)
            rc = decode_types(s, body, err);
        else if (tag == SEC_MAPPINGS)
            rc = decode_mappings(s, body, err);
        else if (tag == SEC_PYMALLOC)
            rc = decode_pymalloc(s, body, err);
        /* other tags: sections of later minor versions, skipped */
    }
    if (rc == PYDBG_OK && !(seen & (1u << SEC_META)))
        rc = bad(err, "no metadata section");
    if (rc == PYDBG_OK && (s->contents & PYDBG_SNAPSHOT_HAS_CENSUS) && !(seen & (1u << SEC_TYPES)))
        rc = bad(err, "census announced but no type section");
    if (rc == PYDBG_OK && (s->contents & PYDBG_SNAPSHOT_HAS_MAPPINGS) &&
        !(seen & (1u << SEC_MAPPINGS)))
        rc = bad(err, "mappings announced but no mapping section");
    if (rc == PYDBG_OK && (s->contents & PYDBG_SNAPSHOT_HAS_PYMALLOC) &&
        !(seen & (1u << SEC_PYMALLOC)))
        rc = bad(err, "pymalloc usage announced but no pymalloc section");
    if (rc != PYDBG_OK) {
        pydbg_snapshot_free(s);
        return rc;
    }
    *out = s;
    return PYDBG_OK;
}
