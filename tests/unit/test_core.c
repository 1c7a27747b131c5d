/* The ELF core parser and reader on synthetic cores built here, byte by byte,
 * as the kernel lays them out (ELF header, program headers, one PT_NOTE with
 * NT_PRSTATUS x3, NT_PRPSINFO, NT_AUXV and NT_FILE, then PT_LOAD data), with a
 * real file on disk standing for a mapped ELF file. Every truncation of the
 * core and a set of corruptions must be clean errors. (Real cores of every
 * CPython are checked in tests/integration/core.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/core.h"
#include "mem/core.h"

#define PAGE 4096u

/* ---- a synthetic core --------------------------------------------------------------- */

typedef struct image {
    unsigned char *data;
    size_t size;
    size_t capacity;
    /* where the interesting parts landed */
    size_t phoff, phnum, note_off, note_size, file_desc_off, file_desc_size;
} image;

static void put(image *im, const void *bytes, size_t n)
{
    if (im->size + n > im->capacity) {
        im->capacity = (im->size + n) * 2;
        im->data = realloc(im->data, im->capacity);
        assert_non_null(im->data);
    }
    memcpy(im->data + im->size, bytes, n);
    im->size += n;
}

static void put_u16(image *im, uint16_t v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(im, b, 2);
}

static void put_u32(image *im, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(im, b, 4);
}

static void put_u64(image *im, uint64_t v)
{
    put_u32(im, (uint32_t)v);
    put_u32(im, (uint32_t)(v >> 32));
}

static void set_u16(image *im, size_t at, uint16_t v)
{
    im->data[at] = (unsigned char)v;
    im->data[at + 1] = (unsigned char)(v >> 8);
}

static void set_u32(image *im, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        im->data[at + (size_t)i] = (unsigned char)(v >> (8 * i));
}

static void set_u64(image *im, size_t at, uint64_t v)
{
    set_u32(im, at, (uint32_t)v);
    set_u32(im, at + 4, (uint32_t)(v >> 32));
}

static void pad4(image *im)
{
    static const unsigned char zero[4] = {0};
    put(im, zero, (4 - im->size % 4) % 4);
}

static void note(image *im, uint32_t type, const void *desc, size_t size)
{
    put_u32(im, 5);
    put_u32(im, (uint32_t)size);
    put_u32(im, type);
    put(im, "CORE\0\0\0", 8);
    if (type == 0x46494c45) {
        im->file_desc_off = im->size;
        im->file_desc_size = size;
    }
    put(im, desc, size);
    pad4(im);
}

/* Content of byte `i` of the mapped file, of the core's copy of the file's
 * written page, and of the anonymous memory. */
static unsigned char file_byte(size_t i) { return (unsigned char)(i * 7 + 3); }
static unsigned char data_byte(size_t i) { return (unsigned char)(i * 5 + 1); }
static unsigned char anon_byte(size_t i) { return (unsigned char)(i * 11 + 9); }

static char file_path[64];  /* the mapped file (3 pages) */
static char other_path[64]; /* a copy with a different second page */

typedef struct load {
    uint64_t vaddr, memsz, filesz;
    uint32_t flags;
    int fill; /* 0 file page 0, 1 data, 2 anon */
} load;

static const load loads[] = {
    {0x602000, 0x1000, 0, 6, 2},      /* anonymous, not dumped */
    {0x400000, 0x2000, 0x1000, 5, 0}, /* the file's first two pages; only the first dumped */
    {0x402000, 0x1000, 0x1000, 6, 1}, /* the file's third page, written: the core's copy wins */
    {0x600000, 0x2000, 0x2000, 6, 2}, /* anonymous, dumped */
};
#define LOAD_COUNT (sizeof loads / sizeof loads[0])

/* Builds the core. The executable (AT_PHDR) is the file at 0x400000. */
static image build_core(void)
{
    image im = {0};
    image notes = {0};
    unsigned char prstatus[336], prpsinfo[136];
    static const int32_t tids[] = {102, 101, 103};
    size_t data_at;
    /* notes first, to know their size */
    for (size_t i = 0; i < 3; i++) {
        memset(prstatus, 0, sizeof prstatus);
        memcpy(prstatus + 32, &tids[i], 4);
        note(&notes, 1, prstatus, sizeof prstatus);
    }
    memset(prpsinfo, 0, sizeof prpsinfo);
    prpsinfo[24] = 101;
    memcpy(prpsinfo + 40, "python3.11", 10);
    memcpy(prpsinfo + 56, "python3.11 -c pass", 18);
    note(&notes, 3, prpsinfo, sizeof prpsinfo);
    {
        image auxv = {0};
        put_u64(&auxv, 3); /* AT_PHDR */
        put_u64(&auxv, 0x400040);
        put_u64(&auxv, 9); /* AT_ENTRY */
        put_u64(&auxv, 0x401000);
        put_u64(&auxv, 0);
        put_u64(&auxv, 0);
        note(&notes, 6, auxv.data, auxv.size);
        free(auxv.data);
    }
    {
        image nf = {0};
        static const char deleted[] = "/nonexistent/libgone.so (deleted)";
        put_u64(&nf, 4);
        put_u64(&nf, PAGE);
        /* deliberately not in address order */
        put_u64(&nf, 0x700000), put_u64(&nf, 0x703000), put_u64(&nf, 1);
        put_u64(&nf, 0x400000), put_u64(&nf, 0x402000), put_u64(&nf, 0);
        put_u64(&nf, 0x402000), put_u64(&nf, 0x403000), put_u64(&nf, 2);
        put_u64(&nf, 0x500000), put_u64(&nf, 0x501000), put_u64(&nf, 0);
        put(&nf, file_path, strlen(file_path) + 1);
        put(&nf, file_path, strlen(file_path) + 1);
        put(&nf, file_path, strlen(file_path) + 1);
        put(&nf, deleted, sizeof deleted);
        note(&notes, 0x46494c45, nf.data, nf.size);
        free(nf.data);
    }

    /* ELF header */
    put(&im, "\177ELF\2\1\1\0\0\0\0\0\0\0\0\0", 16);
    put_u16(&im, 4);  /* ET_CORE */
    put_u16(&im, 62); /* EM_X86_64 */
    put_u32(&im, 1);
    put_u64(&im, 0);
    put_u64(&im, 64); /* e_phoff */
    put_u64(&im, 0);  /* e_shoff */
    put_u32(&im, 0);
    put_u16(&im, 64);
    put_u16(&im, 56);
    put_u16(&im, (uint16_t)(1 + LOAD_COUNT));
    put_u16(&im, 64);
    put_u16(&im, 0);
    put_u16(&im, 0);
    im.phoff = 64;
    im.phnum = 1 + LOAD_COUNT;
    im.note_off = 64 + 56 * im.phnum;
    im.note_size = notes.size;
    data_at = (im.note_off + notes.size + PAGE - 1) / PAGE * PAGE;
    /* PT_NOTE */
    put_u32(&im, 4), put_u32(&im, 0), put_u64(&im, im.note_off), put_u64(&im, 0);
    put_u64(&im, 0), put_u64(&im, notes.size), put_u64(&im, 0), put_u64(&im, 4);
    for (size_t i = 0; i < LOAD_COUNT; i++) {
        put_u32(&im, 1), put_u32(&im, loads[i].flags), put_u64(&im, data_at);
        put_u64(&im, loads[i].vaddr), put_u64(&im, 0), put_u64(&im, loads[i].filesz);
        put_u64(&im, loads[i].memsz), put_u64(&im, PAGE);
        data_at += loads[i].filesz;
    }
    put(&im, notes.data, notes.size);
    im.file_desc_off = notes.file_desc_off + im.note_off;
    im.file_desc_size = notes.file_desc_size;
    free(notes.data);
    while (im.size % PAGE)
        put(&im, "", 1);
    for (size_t i = 0; i < LOAD_COUNT; i++)
        for (size_t k = 0; k < loads[i].filesz; k++) {
            unsigned char b = loads[i].fill == 0   ? file_byte(k)
                              : loads[i].fill == 1 ? data_byte(k)
                                                   : anon_byte(loads[i].vaddr - 0x600000 + k);
            put(&im, &b, 1);
        }
    return im;
}

static void write_file(const char *path, int variant)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < 3 * PAGE; i++) {
        unsigned char b = file_byte(i);
        if (variant && i >= PAGE && i < 2 * PAGE)
            b ^= 0xFF;
        assert_int_equal(fputc(b, f), b);
    }
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    int fd;
    (void)state;
    snprintf(file_path, sizeof file_path, "/tmp/pydbg-test-core-XXXXXX");
    fd = mkstemp(file_path);
    if (fd < 0)
        return -1;
    close(fd);
    snprintf(other_path, sizeof other_path, "/tmp/pydbg-test-core-XXXXXX");
    fd = mkstemp(other_path);
    if (fd < 0)
        return -1;
    close(fd);
    write_file(file_path, 0);
    write_file(other_path, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(file_path);
    unlink(other_path);
    return 0;
}

static pydbg__core *open_image(const image *im)
{
    pydbg__core *core = NULL;
    pydbg__error err = {0, ""};
    int rc = pydbg__core_open_memory(&core, im->data, im->size, &err);
    if (rc != PYDBG_OK)
        fail_msg("parse failed: %s", err.message);
    return core;
}

/* ---- parsing ------------------------------------------------------------------------ */

static void test_notes(void **state)
{
    image im = build_core();
    pydbg__core *core = open_image(&im);
    size_t n;
    const int32_t *tids = pydbg__core_thread_ids(core, &n);
    const pydbg__core_file *files;
    const pydbg__core_segment *segs;
    uint64_t v;
    (void)state;
    assert_int_equal(pydbg__core_pid(core), 101);
    assert_int_equal(n, 3);
    assert_int_equal(tids[0], 102);
    assert_int_equal(tids[1], 101);
    assert_int_equal(tids[2], 103);
    assert_string_equal(pydbg__core_command(core), "python3.11");
    assert_string_equal(pydbg__core_arguments(core), "python3.11 -c pass");
    assert_int_equal(pydbg__core_auxv(core, 3, &v), PYDBG_OK);
    assert_true(v == 0x400040);
    assert_int_equal(pydbg__core_auxv(core, 9, &v), PYDBG_OK);
    assert_true(v == 0x401000);
    assert_int_equal(pydbg__core_auxv(core, 33, &v), PYDBG_ENOTFOUND);

    files = pydbg__core_files(core, &n);
    assert_int_equal(n, 4);
    /* sorted by address; page offsets turned into bytes; " (deleted)" dropped */
    assert_true(files[0].start == 0x400000 && files[0].end == 0x402000 && files[0].offset == 0);
    assert_true(files[1].start == 0x402000 && files[1].offset == 2 * PAGE);
    assert_true(files[2].start == 0x500000);
    assert_string_equal(files[2].path, "/nonexistent/libgone.so");
    assert_true(files[3].start == 0x700000 && files[3].offset == PAGE);
    assert_string_equal(files[0].path, file_path);

    segs = pydbg__core_segments(core, &n);
    assert_int_equal(n, LOAD_COUNT);
    for (size_t i = 1; i < n; i++)
        assert_true(segs[i - 1].vaddr < segs[i].vaddr);
    assert_true(segs[0].vaddr == 0x400000 && segs[0].filesz == 0x1000 && segs[0].memsz == 0x2000);

    assert_string_equal(pydbg__core_executable(core), file_path);
    pydbg__core_close(core);
    free(im.data);
}

static void test_executable_without_auxv(void **state)
{
    image im = build_core();
    pydbg__core *core;
    size_t auxv_desc;
    (void)state;
    /* Turn the AT_PHDR and AT_ENTRY entries into unknown types: pr_fname decides. */
    auxv_desc = (size_t)((unsigned char *)memmem(im.data + im.note_off, im.note_size,
                                                 "\x03\0\0\0\0\0\0\0\x40\0\x40", 11) -
                         im.data);
    set_u64(&im, auxv_desc, 1000);
    set_u64(&im, auxv_desc + 16, 1001);
    core = open_image(&im);
    /* No file is called python3.11: the first mapping. */
    assert_string_equal(pydbg__core_executable(core), file_path);
    pydbg__core_close(core);
    free(im.data);
}

/* ---- reading ------------------------------------------------------------------------ */

static pydbg__reader *open_reader(pydbg__core *core, const char *exe_file)
{
    pydbg__reader *r = NULL;
    pydbg__core_file_options options = {NULL, exe_file};
    assert_int_equal(pydbg__reader_open_core(&r, core, &options), PYDBG_OK);
    return r;
}

static void test_reads(void **state)
{
    image im = build_core();
    pydbg__core *core = open_image(&im);
    pydbg__reader *r = open_reader(core, NULL);
    unsigned char buf[3 * PAGE];
    size_t got = 0;
    (void)state;
    pydbg__core_close(core); /* the reader keeps it alive */

    /* dumped first page */
    assert_int_equal(pydbg__read(r, 0x400010, buf, 64), PYDBG_OK);
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(buf[i], file_byte(0x10 + i));
    /* second page: not in the core, from the file at offset 0x1000 */
    assert_int_equal(pydbg__read(r, 0x401005, buf, 100), PYDBG_OK);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(buf[i], file_byte(0x1005 + i));
    /* the written third page: the core's copy, not the file's */
    assert_int_equal(pydbg__read(r, 0x402000, buf, 8), PYDBG_OK);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(buf[i], data_byte(i));
    /* across core, file and core again */
    assert_int_equal(pydbg__read(r, 0x400ff0, buf, 0x1020), PYDBG_OK);
    for (size_t i = 0; i < 0x1010; i++)
        assert_int_equal(buf[i], file_byte(0xff0 + i));
    for (size_t i = 0x1010; i < 0x1020; i++)
        assert_int_equal(buf[i], data_byte(i - 0x1010));
    /* anonymous memory */
    assert_int_equal(pydbg__read(r, 0x600000, buf, 0x2000), PYDBG_OK);
    for (size_t i = 0; i < 0x2000; i++)
        assert_int_equal(buf[i], anon_byte(i));
    /* anonymous, not dumped; unmapped; a mapped file that is not here */
    assert_int_equal(pydbg__read(r, 0x602000, buf, 1), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, 0x601fff, buf, 2), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, 0x300000, buf, 1), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, 0x500000, buf, 1), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, UINT64_MAX - 2, buf, 8), PYDBG_EREAD);
    /* a mapping that runs past the end of its file (SIGBUS in the process) */
    assert_int_equal(pydbg__read(r, 0x701000, buf, 16), PYDBG_OK);
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(buf[i], file_byte(2 * PAGE + i));
    assert_int_equal(pydbg__read(r, 0x702000, buf, 1), PYDBG_EREAD);
    assert_int_equal(pydbg__read(r, 0x701ff8, buf, 16), PYDBG_EREAD);
    /* partial reads stop where the memory does */
    assert_int_equal(pydbg__read_partial(r, 0x601ff0, buf, 0x100, &got), PYDBG_OK);
    assert_int_equal(got, 0x10);
    assert_int_equal(pydbg__read_partial(r, 0x701ff0, buf, 0x100, &got), PYDBG_OK);
    assert_int_equal(got, 0x10);
    assert_int_equal(pydbg__read_partial(r, 0x602000, buf, 0x100, &got), PYDBG_EREAD);
    assert_int_equal(got, 0);
    {
        unsigned char a[4], b[4];
        pydbg__read_piece pieces[2] = {{0x600004, a, 4}, {0x401000, b, 4}};
        assert_int_equal(pydbg__read_many(r, pieces, 2), PYDBG_OK);
        assert_int_equal(a[0], anon_byte(4));
        assert_int_equal(b[0], file_byte(PAGE));
        pieces[1].address = 0x602000;
        assert_int_equal(pydbg__read_many(r, pieces, 2), PYDBG_EREAD);
    }
    pydbg__reader_destroy(r);
    free(im.data);
}

static void test_missing_file_problem(void **state)
{
    image im = build_core();
    pydbg__core *core = open_image(&im);
    pydbg__reader *r = open_reader(core, NULL);
    unsigned char b;
    (void)state;
    assert_string_equal(pydbg__core_file_problem(core), "");
    assert_int_equal(pydbg__read(r, 0x500000, &b, 1), PYDBG_EREAD);
    assert_non_null(strstr(pydbg__core_file_problem(core), "/nonexistent/libgone.so"));
    pydbg__reader_destroy(r);
    pydbg__core_close(core);
    free(im.data);
}

static void test_executable_override(void **state)
{
    image im = build_core();
    pydbg__core *core = open_image(&im);
    pydbg__reader *r = open_reader(core, other_path);
    pydbg__error err = {0, ""};
    unsigned char b;
    (void)state;
    /* other_path has the same first page, another second one: it is read instead */
    assert_int_equal(pydbg__read(r, 0x401000, &b, 1), PYDBG_OK);
    assert_int_equal(b, (unsigned char)(file_byte(PAGE) ^ 0xFF));
    assert_int_equal(pydbg__core_verify_file(core, file_path, other_path, &err), PYDBG_OK);
    assert_int_equal(pydbg__core_verify_file(core, file_path, "/nonexistent/x", &err),
                     PYDBG_ENOTFOUND);
    pydbg__reader_destroy(r);
    pydbg__core_close(core);
    free(im.data);
}

static void test_different_file_refused(void **state)
{
    image im = build_core();
    pydbg__core *core;
    pydbg__reader *r;
    pydbg__error err = {0, ""};
    unsigned char b;
    (void)state;
    /* The core's copy of the first page no longer matches the file (the core
     * reads its bytes from im.data, so a change after parsing shows). */
    core = open_image(&im);
    {
        size_t n;
        const pydbg__core_segment *s = pydbg__core_segments(core, &n);
        im.data[s[0].offset + 100] ^= 1;
    }
    r = open_reader(core, NULL);
    assert_int_equal(pydbg__read(r, 0x401000, &b, 1), PYDBG_EREAD);
    assert_non_null(strstr(pydbg__core_file_problem(core), "not the file the process had mapped"));
    assert_int_equal(pydbg__core_verify_file(core, file_path, file_path, &err), PYDBG_EFORMAT);
    /* the dumped bytes themselves are still served */
    assert_int_equal(pydbg__read(r, 0x400000, &b, 1), PYDBG_OK);
    pydbg__reader_destroy(r);
    pydbg__core_close(core);
    free(im.data);
}

static void test_maps(void **state)
{
    image im = build_core();
    pydbg__core *core = open_image(&im);
    pydbg__maps maps;
    pydbg__error err = {0, ""};
    const pydbg__mapping *m;
    (void)state;
    assert_int_equal(pydbg__api_core_maps(core, &maps, &err), PYDBG_OK);
    /* four files, and the two anonymous segments */
    assert_int_equal(maps.count, 6);
    for (size_t i = 1; i < maps.count; i++)
        assert_true(maps.items[i - 1].end <= maps.items[i].start);
    m = pydbg__maps_file_base(&maps, file_path);
    assert_non_null(m);
    assert_true(m->start == 0x400000 && m->offset == 0);
    assert_int_equal(m->perms, PYDBG__MAP_R | PYDBG__MAP_X | PYDBG__MAP_P);
    m = pydbg__maps_find(&maps, 0x402800);
    assert_true(m && m->offset == 2 * PAGE && (m->perms & PYDBG__MAP_W));
    m = pydbg__maps_find(&maps, 0x601000);
    assert_true(m && m->start == 0x600000 && m->end == 0x602000 && m->path[0] == '\0');
    m = pydbg__maps_find(&maps, 0x602800);
    assert_true(m && m->path[0] == '\0');
    m = pydbg__maps_find(&maps, 0x500000);
    assert_true(m && strcmp(m->path, "/nonexistent/libgone.so") == 0);
    assert_int_equal(m->perms, PYDBG__MAP_R | PYDBG__MAP_P); /* not dumped: readable */
    pydbg__maps_free(&maps);
    pydbg__core_close(core);
    free(im.data);
}

/* ---- errors ------------------------------------------------------------------------- */

static int parse_error(const image *im, size_t size, char *message, size_t message_size)
{
    pydbg__core *core = NULL;
    pydbg__error err = {0, ""};
    /* a copy of exactly `size` bytes, so that ASan sees any read past it */
    unsigned char *copy = malloc(size ? size : 1);
    int rc;
    assert_non_null(copy);
    memcpy(copy, im->data, size);
    rc = pydbg__core_open_memory(&core, copy, size, &err);
    if (rc == PYDBG_OK)
        pydbg__core_close(core);
    else
        assert_null(core);
    if (message)
        snprintf(message, message_size, "%s", err.message);
    free(copy);
    return rc;
}

static void test_every_truncation(void **state)
{
    image im = build_core();
    char msg[PYDBG__ERRMSG_SIZE];
    (void)state;
    assert_int_equal(parse_error(&im, im.size, NULL, 0), PYDBG_OK);
    for (size_t n = 0; n < im.size; n += n < im.note_off + im.note_size + 64 ? 1 : 97) {
        assert_int_equal(parse_error(&im, n, msg, sizeof msg), PYDBG_EFORMAT);
        if (n >= 64)
            assert_non_null(strstr(msg, "truncated"));
    }
    free(im.data);
}

static void expect_format_error(image *im, const char *words)
{
    char msg[PYDBG__ERRMSG_SIZE];
    assert_int_equal(parse_error(im, im->size, msg, sizeof msg), PYDBG_EFORMAT);
    if (!strstr(msg, words))
        fail_msg("message \"%s\" does not say \"%s\"", msg, words);
}

static void test_corruptions(void **state)
{
    image im = build_core();
    unsigned char *pristine = malloc(im.size);
    size_t at;
    (void)state;
    assert_non_null(pristine);
    memcpy(pristine, im.data, im.size);
#define RESET() memcpy(im.data, pristine, im.size)
    im.data[0] = 'X';
    expect_format_error(&im, "not an ELF file");
    RESET();
    im.data[4] = 1;
    expect_format_error(&im, "64-bit");
    RESET();
    set_u16(&im, 16, 2);
    expect_format_error(&im, "executable, not a core file");
    RESET();
    set_u16(&im, 16, 3);
    expect_format_error(&im, "not a core file");
    RESET();
    set_u16(&im, 18, 3);
    expect_format_error(&im, "unsupported machine");
    RESET();
    set_u16(&im, 54, 32);
    expect_format_error(&im, "program header entries");
    RESET();
    set_u16(&im, 56, 0);
    expect_format_error(&im, "no program headers");
    RESET();
    set_u64(&im, 32, UINT64_MAX - 8);
    expect_format_error(&im, "truncated");
    RESET();
    /* a segment with more bytes in the file than in memory */
    set_u64(&im, im.phoff + 56 + 32, 0x3000);
    expect_format_error(&im, "bytes in the file");
    RESET();
    /* a segment that wraps around the address space */
    set_u64(&im, im.phoff + 56 + 16, UINT64_MAX - 0x10);
    expect_format_error(&im, "in memory");
    RESET();
    /* overlapping segments */
    set_u64(&im, im.phoff + 2 * 56 + 16, 0x600800);
    expect_format_error(&im, "overlap");
    RESET();
    /* a note whose descriptor runs past its segment */
    set_u32(&im, im.note_off + 4, 0x7fffffff);
    expect_format_error(&im, "runs past");
    RESET();
    /* NT_FILE: more entries than the note holds, a bad page size, an unterminated
     * name, an empty range */
    at = im.file_desc_off;
    set_u64(&im, at, 1u << 20);
    expect_format_error(&im, "declares");
    RESET();
    set_u64(&im, at + 8, 1000);
    expect_format_error(&im, "page size");
    RESET();
    im.data[at + im.file_desc_size - 1] = 'x';
    expect_format_error(&im, "not terminated");
    RESET();
    set_u64(&im, at + 16 + 8, 0x700000);
    expect_format_error(&im, "range");
    RESET();
    set_u64(&im, at + 16 + 16, UINT64_MAX / 2);
    expect_format_error(&im, "range");
    RESET();
    /* a core without NT_FILE (type changed) */
    set_u32(&im, im.file_desc_off - 12, 0x46494c46);
    expect_format_error(&im, "NT_FILE");
    RESET();
    /* too-short process notes */
    set_u32(&im, im.note_off + 4, 8);
    expect_format_error(&im, "too short");
    RESET();
#undef RESET
    free(pristine);
    free(im.data);
}

/* More than 65534 segments: e_phnum is PN_XNUM and section header 0 holds the count. */
static void test_pn_xnum(void **state)
{
    image im = build_core();
    size_t shoff = im.size;
    pydbg__core *core;
    (void)state;
    for (int i = 0; i < 64; i++)
        put(&im, "", 1);
    set_u64(&im, 40, shoff);
    set_u32(&im, shoff + 44, (uint32_t)im.phnum);
    set_u16(&im, 56, 0xffff);
    core = open_image(&im);
    assert_int_equal(pydbg__core_pid(core), 101);
    pydbg__core_close(core);
    set_u64(&im, 40, im.size - 10);
    expect_format_error(&im, "section header");
    free(im.data);
}

static void test_open_errors(void **state)
{
    pydbg__core *core = NULL;
    pydbg__error err = {0, ""};
    image im = build_core();
    char path[64];
    FILE *f;
    int fd;
    (void)state;
    assert_int_equal(pydbg__core_open(&core, "/nonexistent/core", &err), PYDBG_ENOTFOUND);
    assert_int_equal(pydbg__core_open(&core, "/tmp", &err), PYDBG_EFORMAT);
    assert_non_null(strstr(err.message, "not a regular file"));
    assert_int_equal(pydbg__core_open(&core, file_path, &err), PYDBG_EFORMAT);
    /* the same image through the file: mapped, parsed, and readable */
    snprintf(path, sizeof path, "/tmp/pydbg-test-core-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(im.data, 1, im.size, f), im.size);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(pydbg__core_open(&core, path, &err), PYDBG_OK);
    {
        pydbg__reader *r = open_reader(core, NULL);
        unsigned char b;
        pydbg__core_close(core);
        assert_int_equal(pydbg__read(r, 0x600001, &b, 1), PYDBG_OK);
        assert_int_equal(b, anon_byte(1));
        pydbg__reader_destroy(r);
    }
    unlink(path);
    free(im.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notes),
        cmocka_unit_test(test_executable_without_auxv),
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_missing_file_problem),
        cmocka_unit_test(test_executable_override),
        cmocka_unit_test(test_different_file_refused),
        cmocka_unit_test(test_maps),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_corruptions),
        cmocka_unit_test(test_pn_xnum),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
