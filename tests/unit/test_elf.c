/* ELF symbols and load bias, checked against ground truth: the dynamic
 * linker (dladdr1, dl_iterate_phdr, dlsym), readelf, this process's memory,
 * and the memory of running CPython processes. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf/elf.h"
#include "elf/maps.h"
#include "mem/reader.h"

/* Symbols of this test, looked up in its own file. */
int test_elf_global_variable = 1234;
const char test_elf_rodata_text[] = "a read-only string of the test binary";
int test_elf_function(int x);
int test_elf_function(int x)
{
    return x * 3 + test_elf_global_variable;
}

static char *self_path(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    assert_true(n > 0);
    path[n] = '\0';
    return path;
}

static int main_program_bias_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    /* The first object reported is the main program. */
    *(uint64_t *)data = info->dlpi_addr;
    return 1;
}

/* The load bias computed the way the walker does: the file's lowest mapping
 * in /proc/PID/maps and its ELF headers. */
static uint64_t bias_from_maps(pydbg__elf *elf, int pid, const char *path)
{
    pydbg__maps maps;
    pydbg__error err;
    const pydbg__mapping *base;
    uint64_t bias;
    assert_int_equal(pydbg__maps_read(&maps, pid, &err), PYDBG_OK);
    base = pydbg__maps_file_base(&maps, path);
    if (!base)
        fail_msg("%s is not mapped in process %d", path, pid);
    bias = pydbg__elf_load_bias(elf, base->start, base->offset);
    pydbg__maps_free(&maps);
    return bias;
}

static void test_self_symbols(void **state)
{
    (void)state;
    pydbg__elf *elf;
    pydbg__error err;
    pydbg__elf_symbol sym;
    uint64_t bias, linker_bias = 1;
    const char *path = self_path();

    assert_int_equal(pydbg__elf_open(&elf, path, &err), PYDBG_OK);
    bias = bias_from_maps(elf, getpid(), path);
    dl_iterate_phdr(main_program_bias_cb, &linker_bias);
    assert_true(bias == linker_bias);
    if (pydbg__elf_type(elf) == ET_EXEC)
        assert_true(bias == 0);
    else
        assert_int_equal(pydbg__elf_type(elf), ET_DYN);

    assert_int_equal(pydbg__elf_find_symbol(elf, "test_elf_global_variable", &sym), PYDBG_OK);
    assert_true(sym.value + bias == (uint64_t)(uintptr_t)&test_elf_global_variable);
    assert_int_equal(sym.type, STT_OBJECT);
    assert_int_equal(sym.size, sizeof test_elf_global_variable);

    assert_int_equal(pydbg__elf_find_symbol(elf, "test_elf_function", &sym), PYDBG_OK);
    assert_true(sym.value + bias == (uint64_t)(uintptr_t)&test_elf_function);
    assert_int_equal(sym.type, STT_FUNC);

    assert_int_equal(pydbg__elf_find_symbol(elf, "test_elf_rodata_text", &sym), PYDBG_OK);
    assert_true(sym.value + bias == (uint64_t)(uintptr_t)test_elf_rodata_text);

    assert_int_equal(pydbg__elf_find_symbol(elf, "no_such_symbol_anywhere", &sym),
                     PYDBG_ENOTFOUND);
    /* Only a reference here, not a definition. */
    assert_int_equal(pydbg__elf_find_symbol(elf, "dl_iterate_phdr", &sym), PYDBG_ENOTFOUND);

    /* .rodata in the file is what this process has in memory at its address. */
    {
        pydbg__elf_section section;
        assert_int_equal(pydbg__elf_find_section(elf, ".rodata", &section), PYDBG_OK);
        assert_non_null(section.data);
        assert_true(section.size > sizeof test_elf_rodata_text);
        assert_memory_equal(section.data, (const void *)(uintptr_t)(section.address + bias),
                            section.size);
        assert_int_equal(pydbg__elf_find_section(elf, ".bss", &section), PYDBG_OK);
        assert_null(section.data);
        assert_int_equal(pydbg__elf_find_section(elf, ".no_such_section", &section),
                         PYDBG_ENOTFOUND);
    }
    pydbg__elf_close(elf);
}

/* ---- readelf as ground truth -------------------------------------------------------- */

typedef struct readelf_symbol {
    char *name;
    uint64_t value;
    uint64_t size;
    int in_dynsym;
    int default_version; /* "name@@VERSION" */
} readelf_symbol;

typedef struct readelf_table {
    readelf_symbol *items;
    size_t count;
} readelf_table;

static int have_readelf(void)
{
    return access("/usr/bin/readelf", X_OK) == 0;
}

/* Defined symbols as `readelf -sW` prints them, in file order, versions
 * stripped from the names. */
static void run_readelf(const char *path, readelf_table *table)
{
    char command[PATH_MAX + 64];
    char line[8192];
    size_t capacity = 0;
    int in_dynsym = 0;
    FILE *p;
    snprintf(command, sizeof command, "readelf -sW '%s' 2>/dev/null", path);
    p = popen(command, "r");
    assert_non_null(p);
    table->items = NULL;
    table->count = 0;
    while (fgets(line, sizeof line, p)) {
        char value[32], size[32], type[32], bind[32], vis[32], ndx[32], name[4096];
        unsigned num;
        if (strncmp(line, "Symbol table '.dynsym'", 22) == 0)
            in_dynsym = 1;
        else if (strncmp(line, "Symbol table '", 14) == 0)
            in_dynsym = 0;
        if (sscanf(line, " %u: %31s %31s %31s %31s %31s %31s %4095s", &num, value, size, type,
                   bind, vis, ndx, name) != 8)
            continue;
        if (strcmp(ndx, "UND") == 0 || strcmp(type, "SECTION") == 0 ||
            strcmp(type, "FILE") == 0)
            continue;
        {
            char *at = strchr(name, '@');
            int default_version = at && at[1] == '@';
            if (at)
                *at = '\0';
            if (table->count == capacity) {
                capacity = capacity ? capacity * 2 : 1024;
                table->items = realloc(table->items, capacity * sizeof *table->items);
                assert_non_null(table->items);
            }
            table->items[table->count].default_version = default_version;
        }
        table->items[table->count].name = strdup(name);
        table->items[table->count].value = strtoull(value, NULL, 16);
        table->items[table->count].size = strtoull(size, NULL, 0);
        table->items[table->count].in_dynsym = in_dynsym;
        table->count++;
    }
    assert_int_equal(pclose(p), 0);
}

static void free_readelf(readelf_table *table)
{
    for (size_t i = 0; i < table->count; i++)
        free(table->items[i].name);
    free(table->items);
}

/* The first definition readelf lists, .dynsym before .symtab. */
static const readelf_symbol *readelf_find(const readelf_table *table, const char *name)
{
    for (int pass = 1; pass >= 0; pass--)
        for (size_t i = 0; i < table->count; i++)
            if (table->items[i].in_dynsym == pass && strcmp(table->items[i].name, name) == 0)
                return &table->items[i];
    return NULL;
}

static void test_libc_malloc(void **state)
{
    (void)state;
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    void *address;
    Dl_info info;
    struct link_map *map = NULL;
    char path[PATH_MAX];
    pydbg__elf *elf;
    pydbg__error err;
    pydbg__elf_symbol sym;
    uint64_t bias;
    assert_non_null(libc);
    /* libc's own malloc, not an interposer (a sanitizer's) that RTLD_DEFAULT finds. */
    address = dlsym(libc, "malloc");
    assert_non_null(address);
    assert_true(dladdr1(address, &info, (void **)&map, RTLD_DL_LINKMAP) != 0);
    assert_non_null(map);
    assert_non_null(realpath(info.dli_fname, path));

    assert_int_equal(pydbg__elf_open(&elf, path, &err), PYDBG_OK);
    assert_int_equal(pydbg__elf_type(elf), ET_DYN);
    bias = bias_from_maps(elf, getpid(), path);
    if (bias != (uint64_t)map->l_addr)
        fail_msg("%s: bias 0x%llx, l_addr 0x%llx", path, (unsigned long long)bias,
                 (unsigned long long)map->l_addr);
    assert_int_equal(pydbg__elf_find_symbol(elf, "malloc", &sym), PYDBG_OK);
    assert_true(sym.value + bias == (uint64_t)(uintptr_t)address);
    assert_int_equal(sym.type, STT_FUNC);

    /* realpath has a default and an old version; dlsym gives the default. */
    address = dlsym(libc, "realpath");
    assert_non_null(address);
    assert_int_equal(pydbg__elf_find_symbol(elf, "realpath", &sym), PYDBG_OK);
    assert_true(sym.value + bias == (uint64_t)(uintptr_t)address);
    /* memcpy lists the old version first; the default one (an IFUNC, so dlsym
     * cannot tell) is the one readelf marks "@@". */
    if (have_readelf()) {
        readelf_table truth;
        const readelf_symbol *expect = NULL;
        run_readelf(path, &truth);
        for (size_t i = 0; i < truth.count; i++)
            if (truth.items[i].in_dynsym && truth.items[i].default_version &&
                strcmp(truth.items[i].name, "memcpy") == 0)
                expect = &truth.items[i];
        assert_non_null(expect);
        assert_int_equal(pydbg__elf_find_symbol(elf, "memcpy", &sym), PYDBG_OK);
        assert_true(sym.value == expect->value);
        free_readelf(&truth);
    }
    pydbg__elf_close(elf);
    dlclose(libc);
}

typedef struct python_file {
    const char *path;
    int major, minor;
} python_file;

/* Every installed libpython, and Debian's statically linked interpreter. */
static size_t python_files(python_file *out, size_t max, glob_t *g)
{
    size_t n = 0;
    if (glob("/root/.pyenv/versions/*/lib/libpython*.so.1.0", 0, NULL, g) == 0) {
        for (size_t i = 0; i < g->gl_pathc && n < max; i++) {
            const char *v = strstr(g->gl_pathv[i], "libpython");
            if (v && sscanf(v, "libpython%d.%d", &out[n].major, &out[n].minor) == 2)
                out[n++].path = g->gl_pathv[i];
        }
    }
    if (access("/usr/bin/python3.11", R_OK) == 0 && n < max) {
        out[n].path = "/usr/bin/python3.11";
        out[n].major = 3;
        out[n].minor = 11;
        n++;
    }
    return n;
}

static void check_against_readelf(pydbg__elf *elf, const readelf_table *truth, const char *name,
                                  const char *path)
{
    pydbg__elf_symbol sym;
    const readelf_symbol *expect = readelf_find(truth, name);
    if (!expect)
        fail_msg("readelf does not list %s in %s", name, path);
    if (pydbg__elf_find_symbol(elf, name, &sym) != PYDBG_OK)
        fail_msg("%s not found in %s", name, path);
    if (sym.value != expect->value || sym.size != expect->size)
        fail_msg("%s in %s: 0x%llx/%llu, readelf says 0x%llx/%llu", name, path,
                 (unsigned long long)sym.value, (unsigned long long)sym.size,
                 (unsigned long long)expect->value, (unsigned long long)expect->size);
}

static void test_python_symbols(void **state)
{
    (void)state;
    python_file files[32];
    glob_t g;
    size_t n;
    if (!have_readelf()) {
        print_message("readelf not installed: skipping the readelf comparison\n");
        skip();
    }
    n = python_files(files, 32, &g);
    if (n == 0) {
        globfree(&g);
        print_message("no CPython installed: skipping\n");
        skip();
    }
    for (size_t i = 0; i < n; i++) {
        pydbg__elf *elf;
        pydbg__error err;
        pydbg__elf_symbol sym;
        readelf_table truth;
        const python_file *f = &files[i];
        if (pydbg__elf_open(&elf, f->path, &err) != PYDBG_OK)
            fail_msg("%s: %s", f->path, err.message);
        run_readelf(f->path, &truth);
        assert_true(truth.count > 100);
        if (f->major == 3 && f->minor >= 7)
            check_against_readelf(elf, &truth, "_PyRuntime", f->path);
        else
            check_against_readelf(elf, &truth, "interp_head", f->path);
        if (f->major == 3 && f->minor >= 11)
            check_against_readelf(elf, &truth, "Py_Version", f->path);
        else
            assert_int_equal(pydbg__elf_find_symbol(elf, "Py_Version", &sym), PYDBG_ENOTFOUND);
        check_against_readelf(elf, &truth, "PyEval_EvalFrameEx", f->path);
        free_readelf(&truth);
        pydbg__elf_close(elf);
    }
    globfree(&g);
}

/* Every defined symbol readelf lists, for one library and the static binary. */
static void test_all_symbols_match_readelf(void **state)
{
    (void)state;
    const char *paths[] = {"/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0",
                           "/usr/bin/python3.11"};
    size_t checked = 0;
    if (!have_readelf()) {
        print_message("readelf not installed: skipping\n");
        skip();
    }
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        pydbg__elf *elf;
        pydbg__error err;
        readelf_table truth;
        if (access(paths[p], R_OK) != 0) {
            print_message("%s missing: not checked\n", paths[p]);
            continue;
        }
        assert_int_equal(pydbg__elf_open(&elf, paths[p], &err), PYDBG_OK);
        run_readelf(paths[p], &truth);
        for (size_t i = 0; i < truth.count; i++) {
            const readelf_symbol *expect = readelf_find(&truth, truth.items[i].name);
            pydbg__elf_symbol sym;
            if (expect != &truth.items[i])
                continue; /* a later duplicate; the first one is checked */
            if (pydbg__elf_find_symbol(elf, expect->name, &sym) != PYDBG_OK)
                fail_msg("%s: %s not found", paths[p], expect->name);
            if (sym.value != expect->value)
                fail_msg("%s: %s at 0x%llx, readelf says 0x%llx", paths[p], expect->name,
                         (unsigned long long)sym.value, (unsigned long long)expect->value);
            checked++;
        }
        free_readelf(&truth);
        pydbg__elf_close(elf);
    }
    print_message("%zu symbols agree with readelf\n", checked);
    if (checked == 0)
        skip();
}

/* ---- a live interpreter: Py_Version in its memory is sys.hexversion ------------------ */

static void check_live_python(const char *python, const char *elf_path)
{
    int to_child[2], from_child[2];
    pid_t pid;
    char line[64] = {0};
    unsigned long hexversion;
    pydbg__elf *elf;
    pydbg__error err;
    pydbg__elf_symbol sym;
    pydbg__reader *reader;
    uint32_t in_memory = 0;
    uint64_t bias;
    FILE *out;
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(from_child), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        execl(python, python, "-c", "import sys; print(sys.hexversion, flush=True); sys.stdin.read()",
              (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    out = fdopen(from_child[0], "r");
    assert_non_null(out);
    assert_non_null(fgets(line, sizeof line, out));
    hexversion = strtoul(line, NULL, 10);

    assert_int_equal(pydbg__elf_open(&elf, elf_path, &err), PYDBG_OK);
    bias = bias_from_maps(elf, pid, elf_path);
    if (pydbg__elf_type(elf) == ET_EXEC)
        assert_true(bias == 0);
    assert_int_equal(pydbg__elf_find_symbol(elf, "Py_Version", &sym), PYDBG_OK);
    assert_int_equal(pydbg__reader_open_process(&reader, pid, 0), PYDBG_OK);
    assert_int_equal(pydbg__read(reader, sym.value + bias, &in_memory, sizeof in_memory),
                     PYDBG_OK);
    assert_int_equal(in_memory, hexversion);
    pydbg__reader_destroy(reader);
    pydbg__elf_close(elf);

    close(to_child[1]);
    fclose(out);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_live_python_bias(void **state)
{
    (void)state;
    static const struct {
        const char *python, *elf;
    } cases[] = {
        {"/usr/bin/python3.11", "/usr/bin/python3.11"}, /* ET_EXEC */
        {"/root/.pyenv/versions/3.11.7/bin/python",
         "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"},
        {"/root/.pyenv/versions/3.12.1/bin/python",
         "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"},
        {"/root/.pyenv/versions/3.13.0/bin/python",
         "/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0"},
    };
    size_t ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (access(cases[i].python, X_OK) != 0 || access(cases[i].elf, R_OK) != 0) {
            print_message("%s missing: not checked\n", cases[i].python);
            continue;
        }
        check_live_python(cases[i].python, cases[i].elf);
        ran++;
    }
    if (ran == 0)
        skip();
}

/* ---- broken files ------------------------------------------------------------------- */

static unsigned char *load_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data;
    struct stat st;
    assert_non_null(f);
    assert_int_equal(fstat(fileno(f), &st), 0);
    *size = (size_t)st.st_size;
    data = malloc(*size);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, *size, f), *size);
    fclose(f);
    return data;
}

/* Each truncated copy is its own exactly sized allocation, so that the
 * sanitizers catch a read past its end. */
static void test_truncated_copies(void **state)
{
    (void)state;
    size_t size;
    unsigned char *image = load_file(self_path(), &size);
    size_t tried = 0;
    for (size_t length = 0; length < size; length += (length < 4096 ? 1 : 997)) {
        unsigned char *copy = malloc(length ? length : 1);
        pydbg__elf *elf = NULL;
        pydbg__error err;
        int rc;
        assert_non_null(copy);
        memcpy(copy, image, length);
        rc = pydbg__elf_open_memory(&elf, copy, length, &err);
        if (rc != PYDBG_EFORMAT)
            fail_msg("length %zu of %zu: got %d", length, size, rc);
        assert_null(elf);
        assert_true(err.message[0] != '\0');
        free(copy);
        tried++;
    }
    /* The whole file still opens. */
    {
        pydbg__elf *elf;
        pydbg__error err;
        assert_int_equal(pydbg__elf_open_memory(&elf, image, size, &err), PYDBG_OK);
        pydbg__elf_close(elf);
    }
    print_message("%zu truncated lengths rejected\n", tried);
    free(image);
}

/* Damaged bytes anywhere in the headers: any answer but a crash. */
static void test_corrupted_headers(void **state)
{
    (void)state;
    size_t size;
    unsigned char *image = load_file(self_path(), &size);
    unsigned char *copy = malloc(size);
    Elf64_Ehdr eh;
    uint64_t seed = 12345;
    assert_non_null(copy);
    memcpy(&eh, image, sizeof eh);
    for (int round = 0; round < 3000; round++) {
        pydbg__elf *elf;
        pydbg__error err;
        pydbg__elf_symbol sym;
        pydbg__elf_section section;
        memcpy(copy, image, size);
        for (int k = 0; k < 4; k++) {
            size_t at;
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            /* Aim at the ELF header, the section header table and the program headers. */
            switch ((seed >> 60) % 3) {
            case 0:
                at = (size_t)((seed >> 20) % sizeof eh);
                break;
            case 1:
                at = (size_t)(eh.e_shoff + (seed >> 20) % ((size_t)eh.e_shnum * 64));
                break;
            default:
                at = (size_t)(eh.e_phoff + (seed >> 20) % ((size_t)eh.e_phnum * 56));
                break;
            }
            if (at < size)
                copy[at] = (unsigned char)(seed >> 8);
        }
        if (pydbg__elf_open_memory(&elf, copy, size, &err) == PYDBG_OK) {
            pydbg__elf_find_symbol(elf, "test_elf_function", &sym);
            pydbg__elf_find_symbol(elf, "malloc", &sym);
            pydbg__elf_find_section(elf, ".text", &section);
            pydbg__elf_load_bias(elf, 0x7f0000000000, 0);
            pydbg__elf_close(elf);
        }
    }
    free(copy);
    free(image);
}

static void test_not_elf(void **state)
{
    (void)state;
    pydbg__elf *elf = (pydbg__elf *)&elf;
    pydbg__error err;
    unsigned char header[64];
    size_t size;
    unsigned char *image = load_file(self_path(), &size);

    assert_int_equal(pydbg__elf_open(&elf, "/no/such/file", &err), PYDBG_ENOTFOUND);
    assert_null(elf);
    assert_int_equal(pydbg__elf_open(&elf, "/tmp", &err), PYDBG_EFORMAT);
    assert_int_equal(pydbg__elf_open(&elf, "/etc/hostname", &err), PYDBG_EFORMAT);
    assert_int_equal(pydbg__elf_open(&elf, "/dev/null", &err), PYDBG_EFORMAT);
    assert_int_equal(pydbg__elf_open_memory(&elf, "hello", 5, &err), PYDBG_EFORMAT);

    memcpy(header, image, sizeof header);
    header[EI_CLASS] = ELFCLASS32;
    assert_int_equal(pydbg__elf_open_memory(&elf, header, sizeof header, &err), PYDBG_EFORMAT);
    assert_non_null(strstr(err.message, "64-bit"));
    header[EI_CLASS] = ELFCLASS64;
    header[EI_DATA] = ELFDATA2MSB;
    assert_int_equal(pydbg__elf_open_memory(&elf, header, sizeof header, &err), PYDBG_EFORMAT);
    assert_non_null(strstr(err.message, "little-endian"));

    /* A bad section name table index in an otherwise intact file. */
    {
        Elf64_Ehdr eh;
        memcpy(&eh, image, sizeof eh);
        eh.e_shstrndx = (uint16_t)(eh.e_shnum + 5);
        memcpy(image, &eh, sizeof eh);
        assert_int_equal(pydbg__elf_open_memory(&elf, image, size, &err), PYDBG_EFORMAT);
    }
    pydbg__elf_close(NULL);
    free(image);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_symbols),
        cmocka_unit_test(test_libc_malloc),
        cmocka_unit_test(test_python_symbols),
        cmocka_unit_test(test_all_symbols_match_readelf),
        cmocka_unit_test(test_live_python_bias),
        cmocka_unit_test(test_truncated_copies),
        cmocka_unit_test(test_corrupted_headers),
        cmocka_unit_test(test_not_elf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
