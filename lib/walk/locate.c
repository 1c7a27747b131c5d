/* Finding the interpreter in a live process: which ELF file holds it, where
 * it is loaded, which CPython version it is, and where its roots are. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf/elf.h"
#include "elf/maps.h"
#include "pydebug/errors.h"
#include "walk/code_cache.h"
#include "walk/target.h"

/* An ELF file mapped in the target, opened, with its load bias. */
typedef struct loaded_elf {
    pydbg__elf *elf;
    uint64_t bias;
    const char *path; /* as mapped in the target */
} loaded_elf;

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "libpython3.11.so.1.0", "libpython3.6m.so", "python3.11", "python2.7" -> 3, 11. */
static int version_from_name(const char *path, int *major, int *minor)
{
    const char *name = base_name(path);
    if (strncmp(name, "libpython", 9) == 0)
        name += 9;
    else if (strncmp(name, "python", 6) == 0)
        name += 6;
    else
        return 0;
    return sscanf(name, "%d.%d", major, minor) == 2;
}

/* Parses "3.11.7", "3.13.0rc2", "2.7.18+" into PY_VERSION_HEX form. */
static int parse_version(const char *text, uint32_t *hex, char *out, size_t out_size)
{
    int major, minor, micro = 0, serial = 0, n = 0;
    unsigned level = 0xF;
    const char *p;
    if (sscanf(text, "%d.%d%n", &major, &minor, &n) != 2)
        return 0;
    p = text + n;
    if (*p == '.') {
        int m = 0;
        if (sscanf(p, ".%d%n", &micro, &m) != 1)
            return 0;
        p += m;
    }
    if (p[0] == 'a' || p[0] == 'b' || (p[0] == 'r' && p[1] == 'c')) {
        level = p[0] == 'a' ? 0xA : p[0] == 'b' ? 0xB : 0xC;
        p += p[0] == 'r' ? 2 : 1;
        serial = atoi(p);
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (major < 2 || major > 3 || minor < 0 || minor > 99 || micro < 0 || micro > 99 ||
        serial < 0 || serial > 15)
        return 0;
    *hex = (uint32_t)major << 24 | (uint32_t)minor << 16 | (uint32_t)micro << 8 | level << 4 |
           (uint32_t)serial;
    snprintf(out, out_size, "%.*s", (int)(p - text), text);
    return 1;
}

static void version_from_hex(uint32_t hex, char *out, size_t size)
{
    unsigned level = (hex >> 4) & 0xF;
    const char *tag = level == 0xA ? "a" : level == 0xB ? "b" : level == 0xC ? "rc" : "";
    if (*tag)
        snprintf(out, size, "%u.%u.%u%s%u", hex >> 24, (hex >> 16) & 0xFF, (hex >> 8) & 0xFF,
                 tag, hex & 0xF);
    else
        snprintf(out, size, "%u.%u.%u", hex >> 24, (hex >> 16) & 0xFF, (hex >> 8) & 0xFF);
}

static uint64_t symbol_address(const loaded_elf *le, const char *name)
{
    pydbg__elf_symbol sym;
    if (pydbg__elf_find_symbol(le->elf, name, &sym) != PYDBG_OK || sym.value == 0)
        return 0;
    return sym.value + le->bias;
}

/* A file holds the interpreter if it defines the code type and a root. */
static int holds_interpreter(const loaded_elf *le)
{
    return symbol_address(le, "PyCode_Type") &&
           (symbol_address(le, "_PyRuntime") || symbol_address(le, "interp_head") ||
            symbol_address(le, "_PyThreadState_Current"));
}

/* Opens a file mapped in the target: through the source's root (for a live
 * process /proc/PID/root, so that a process in another mount namespace, a
 * container, gets its own file), else by its path. */
static int open_mapped_elf(const pydbg__target_source *source, const char *path, loaded_elf *out,
                           pydbg__error *err)
{
    char rooted[4096 + 64];
    const pydbg__mapping *base = pydbg__maps_file_base(source->maps, path);
    int rc = PYDBG_ENOTFOUND;
    if (!base)
        return PYDBG_ENOTFOUND;
    if (source->executable_file && source->executable && strcmp(path, source->executable) == 0)
        rc = pydbg__elf_open(&out->elf, source->executable_file, err);
    if (rc != PYDBG_OK && source->file_root) {
        snprintf(rooted, sizeof rooted, "%s%s", source->file_root, path);
        rc = pydbg__elf_open(&out->elf, rooted, err);
    }
    if (rc != PYDBG_OK)
        rc = pydbg__elf_open(&out->elf, path, err);
    if (rc != PYDBG_OK)
        return rc;
    out->bias = pydbg__elf_load_bias(out->elf, base->start, base->offset);
    out->path = path;
    return PYDBG_OK;
}

/* Looks for the interpreter among the files mapped in the target: a libpython
 * first (shared builds), then the executable or a python* file (static builds,
 * embedders). */
static int find_interpreter(const pydbg__target_source *source, loaded_elf *out, char *seen,
                            size_t seen_size)
{
    const pydbg__maps *maps = source->maps;
    const char *exe = source->executable ? source->executable : "";
    size_t used = 0;
    seen[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        const char *last = NULL;
        for (size_t i = 0; i < maps->count; i++) {
            const char *path = maps->items[i].path;
            const char *name = base_name(path);
            int candidate = pass == 0 ? strncmp(name, "libpython", 9) == 0
                                      : strcmp(path, exe) == 0 || strncmp(name, "python", 6) == 0;
            if (path[0] != '/' || !candidate || (last && strcmp(last, path) == 0))
                continue;
            last = path;
            if (open_mapped_elf(source, path, out, NULL) != PYDBG_OK)
                continue;
            if (holds_interpreter(out))
                return PYDBG_OK;
            if (used + strlen(path) + 3 < seen_size)
                used += (size_t)snprintf(seen + used, seen_size - used, "%s%s", used ? ", " : "",
                                         path);
            pydbg__elf_close(out->elf);
            out->elf = NULL;
        }
    }
    return PYDBG_ENOTPYTHON;
}

/* Scans a section of the ELF file for a NUL-terminated "M.m.p" string with
 * the expected major.minor (the PY_VERSION literal of Py_GetVersion). */
static int version_from_rodata(const loaded_elf *le, int major, int minor, uint32_t *hex,
                               char *text, size_t text_size)
{
    pydbg__elf_section rodata;
    char prefix[16];
    size_t prefix_length;
    if (pydbg__elf_find_section(le->elf, ".rodata", &rodata) != PYDBG_OK || !rodata.data)
        return 0;
    prefix_length = (size_t)snprintf(prefix, sizeof prefix, "%d.%d.", major, minor);
    for (uint64_t i = 0; i + prefix_length < rodata.size; i++) {
        const char *s = (const char *)rodata.data + i;
        uint64_t n = 0;
        if ((i > 0 && rodata.data[i - 1] != '\0') || memcmp(s, prefix, prefix_length) != 0)
            continue;
        while (i + n < rodata.size && n < 16 && s[n] != '\0')
            n++;
        if (i + n < rodata.size && s[n] == '\0' && n < 16) {
            char candidate[16];
            size_t k;
            memcpy(candidate, s, n);
            candidate[n] = '\0';
            /* Only digits, dots and a pre-release tag: not "3.11.%d" formats. */
            for (k = 0; k < n && (isalnum((unsigned char)candidate[k]) || candidate[k] == '.' ||
                                  candidate[k] == '+');
                 k++)
                ;
            if (k == n && parse_version(candidate, hex, text, text_size))
                return 1;
        }
    }
    return 0;
}

static int detect_version(pydbg__target *t, const loaded_elf *le)
{
    uint64_t address = symbol_address(le, "Py_Version");
    int major = 0, minor = 0;
    if (address) { /* 3.11+: the exact PY_VERSION_HEX, as data */
        uint64_t value;
        if (pydbg__target_read_ptr(t, address, &value, "Py_Version") == PYDBG_OK &&
            (value >> 24) == 3) {
            t->hexversion = (uint32_t)value;
            version_from_hex(t->hexversion, t->version, sizeof t->version);
            return PYDBG_OK;
        }
    }
    /* Py_GetVersion() fills a static buffer at start-up ("3.9.18 (main, ...)"). */
    address = symbol_address(le, "version.0");
    if (!address)
        address = symbol_address(le, "version");
    if (address) {
        char text[64];
        if (pydbg__read(t->reader, address, text, sizeof text) == PYDBG_OK) {
            text[sizeof text - 1] = '\0';
            char *space = strchr(text, ' ');
            if (space)
                *space = '\0';
            if (parse_version(text, &t->hexversion, t->version, sizeof t->version))
                return PYDBG_OK;
        }
    }
    if (version_from_name(le->path, &major, &minor) &&
        version_from_rodata(le, major, minor, &t->hexversion, t->version, sizeof t->version))
        return PYDBG_OK;
    if (major) {
        t->hexversion = (uint32_t)major << 24 | (uint32_t)minor << 16 | 0xF0;
        snprintf(t->version, sizeof t->version, "%d.%d", major, minor);
        return PYDBG_OK;
    }
    return pydbg__fail(&t->error, PYDBG_EVERSION,
                       "cannot tell the Python version of %s (no Py_Version, no version string)",
                       le->path);
}

static int choose_layout(pydbg__target *t)
{
    int major = (int)(t->hexversion >> 24), minor = (int)((t->hexversion >> 16) & 0xFF);
    if (major == 3 && minor >= 13) {
        uint32_t published = 0;
        int rc;
        if (!t->runtime)
            return pydbg__fail(&t->error, PYDBG_ENOTPYTHON,
                               "Python %s without a _PyRuntime symbol", t->version);
        rc = pydbg__layout_from_debug_offsets(&t->layout, t->reader, t->runtime, t->hexversion,
                                              &published, &t->error);
        if (rc != PYDBG_OK)
            return pydbg__fail_context(&t->error, "Python %s in %s", t->version,
                                       t->interpreter_path);
        return PYDBG_OK;
    }
    {
        const pydbg__layout *layout = pydbg__layout_for_version(major, minor);
        if (!layout)
            return pydbg__fail(&t->error, PYDBG_EVERSION,
                               "Python %s found in %s is not supported (supported: %s)",
                               t->version, t->interpreter_path,
                               pydbg__layout_supported_versions());
        t->layout = *layout;
    }
    return PYDBG_OK;
}

static void resolve_roots(pydbg__target *t, const loaded_elf *le)
{
    int py2 = t->layout.major == 2;
    t->runtime = symbol_address(le, "_PyRuntime");
    t->interp_head_var = symbol_address(le, "interp_head");
    t->tstate_current_var = symbol_address(le, "_PyThreadState_Current");
    t->types.code = symbol_address(le, "PyCode_Type");
    t->types.str = symbol_address(le, "PyUnicode_Type");
    t->types.bytes = symbol_address(le, py2 ? "PyString_Type" : "PyBytes_Type");
    t->types.dict = symbol_address(le, "PyDict_Type");
    t->types.module = symbol_address(le, "PyModule_Type");
    t->types.long_ = symbol_address(le, "PyLong_Type");
    t->types.int_ = py2 ? symbol_address(le, "PyInt_Type") : 0;
    /* 2.7 names its unicode functions after the build's Py_UNICODE width. */
    t->py2_unicode_width = !py2                                               ? 0
                           : symbol_address(le, "PyUnicodeUCS4_FromString") ? 4
                           : symbol_address(le, "PyUnicodeUCS2_FromString") ? 2
                                                                            : 0;
}

/* Classifies why /proc/PID is not usable. */
static int check_process(int pid, pydbg__error *err)
{
    char path[64];
    struct stat st;
    if (pid <= 0)
        return pydbg__fail(err, PYDBG_EINVAL, "invalid process ID %d", pid);
    snprintf(path, sizeof path, "/proc/%d", pid);
    if (stat(path, &st) != 0)
        return pydbg__fail(err, PYDBG_ENOPROC, "no process with ID %d", pid);
    return PYDBG_OK;
}

static const char permission_hint[] =
    "run as the same user as the target or as root, or grant CAP_SYS_PTRACE, "
    "or set /proc/sys/kernel/yama/ptrace_scope to 0";

/* The executable's path as the target sees it (what its maps show). */
static void executable_path(int pid, char *out, size_t size)
{
    char link[64];
    ssize_t n;
    snprintf(link, sizeof link, "/proc/%d/exe", pid);
    n = readlink(link, out, size - 1);
    out[n > 0 ? n : 0] = '\0';
}

int pydbg__target_open(pydbg__target **out, int pid, int force_proc_mem, pydbg__error *err)
{
    pydbg__target_source source = {0};
    pydbg__maps maps = {0};
    char root[64], exe[4096];
    int rc;
    *out = NULL;
    rc = check_process(pid, err);
    if (rc != PYDBG_OK)
        return rc;
    rc = pydbg__maps_read(&maps, pid, err);
    if (rc == PYDBG_EPERM)
        return pydbg__fail(err, rc, "cannot read the memory map of process %d: %s", pid,
                           permission_hint);
    if (rc != PYDBG_OK)
        return rc;
    rc = pydbg__reader_open_process(&source.reader, pid, force_proc_mem);
    if (rc != PYDBG_OK) {
        pydbg__maps_free(&maps);
        return pydbg__fail(err, rc, "cannot open the memory of process %d: %s", pid,
                           rc == PYDBG_EPERM ? permission_hint : pydbg_strerror(rc));
    }
    snprintf(root, sizeof root, "/proc/%d/root", pid);
    executable_path(pid, exe, sizeof exe);
    source.pid = pid;
    source.live = 1;
    source.maps = &maps;
    source.file_root = root;
    source.executable = exe;
    rc = pydbg__target_open_source(out, &source, err);
    pydbg__maps_free(&maps);
    return rc;
}

int pydbg__target_open_source(pydbg__target **out, const pydbg__target_source *source,
                              pydbg__error *err)
{
    pydbg__target *t;
    loaded_elf le = {0};
    char seen[1024];
    int pid = source->pid;
    int rc;
    *out = NULL;
    t = calloc(1, sizeof *t);
    if (!t) {
        pydbg__reader_destroy(source->reader);
        return pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
    }
    t->pid = pid;
    t->live = source->live;
    t->reader = source->reader;
    t->pthread_tid_offset = -1;
    if (source->task_id_count && source->task_ids) {
        t->task_ids = malloc(source->task_id_count * sizeof *t->task_ids);
        if (!t->task_ids) {
            rc = pydbg__fail(err, PYDBG_ENOMEM, "out of memory");
            goto fail;
        }
        memcpy(t->task_ids, source->task_ids, source->task_id_count * sizeof *t->task_ids);
        t->task_id_count = source->task_id_count;
    }
    rc = pydbg__code_cache_new(&t->codes);
    if (rc != PYDBG_OK) {
        rc = pydbg__fail(err, rc, "out of memory");
        goto fail;
    }
    rc = find_interpreter(source, &le, seen, sizeof seen);
    if (rc != PYDBG_OK) {
        rc = pydbg__fail(err, PYDBG_ENOTPYTHON,
                         "process %d is not a Python process: no CPython interpreter in its "
                         "mapped files%s%s",
                         pid, seen[0] ? " (looked in " : "", seen[0] ? seen : "");
        if (err && seen[0] && strlen(err->message) + 2 < sizeof err->message) {
            strcat(err->message, ")");
            pydbg__set_last_error(err->message);
        }
        goto fail;
    }
    snprintf(t->interpreter_path, sizeof t->interpreter_path, "%s", le.path);
    resolve_roots(t, &le);
    /* A first read proves the memory is readable at all (permissions differ
     * from those of /proc/PID/maps under Yama). */
    {
        uint64_t probe;
        rc = pydbg__read_ptr(t->reader, t->types.code, &probe);
        if (rc == PYDBG_EPERM) {
            rc = pydbg__fail(err, rc, "not allowed to read the memory of process %d: %s", pid,
                             permission_hint);
            goto fail;
        }
        if (rc != PYDBG_OK) {
            rc = pydbg__fail(err, rc, "cannot read the memory of process %d: %s", pid,
                             pydbg_strerror(rc));
            goto fail;
        }
    }
    rc = detect_version(t, &le);
    if (rc == PYDBG_OK)
        rc = choose_layout(t);
    if (rc != PYDBG_OK) {
        if (err)
            *err = t->error;
        goto fail;
    }
    /* The layout can tell 2.7 from 3.x only now: resolve the roots again. */
    resolve_roots(t, &le);
    if (!t->types.str || !t->types.bytes || !t->types.dict) {
        rc = pydbg__fail(err, PYDBG_ENOTPYTHON, "%s lacks the CPython type symbols",
                         t->interpreter_path);
        goto fail;
    }
    pydbg__elf_close(le.elf);
    *out = t;
    return PYDBG_OK;
fail:
    if (le.elf)
        pydbg__elf_close(le.elf);
    pydbg__target_close(t);
    return rc;
}
