/* /proc/PID/maps: our own map checked against what the process knows about
 * itself (where its globals, stack, heap and libc are), and hand-made text
 * with the awkward cases. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf/maps.h"

int test_maps_global = 42; /* lives in the test binary's writable data */

static const pydbg__mapping *find_ok(const pydbg__maps *maps, const void *p)
{
    const pydbg__mapping *m = pydbg__maps_find(maps, (uint64_t)(uintptr_t)p);
    assert_non_null(m);
    assert_true(m->start <= (uint64_t)(uintptr_t)p && (uint64_t)(uintptr_t)p < m->end);
    return m;
}

static void test_self_facts(void **state)
{
    (void)state;
    pydbg__maps maps;
    pydbg__error err;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    int local = 0;
    assert_true(n > 0);
    exe[n] = '\0';

    assert_int_equal(pydbg__maps_read(&maps, getpid(), &err), PYDBG_OK);
    assert_true(maps.count > 5);

    /* A global of this binary: a private writable mapping of the executable
     * (or the anonymous .bss right after it, for a zero-initialised one). */
    {
        const pydbg__mapping *m = find_ok(&maps, &test_maps_global);
        assert_string_equal(m->path, exe);
        assert_true((m->perms & (PYDBG__MAP_R | PYDBG__MAP_W | PYDBG__MAP_P)) ==
                    (PYDBG__MAP_R | PYDBG__MAP_W | PYDBG__MAP_P));
        assert_true(m->inode != 0);
    }
    /* This function: executable, not writable, same file. */
    {
        const pydbg__mapping *m = find_ok(&maps, (const void *)(uintptr_t)&test_self_facts);
        assert_string_equal(m->path, exe);
        assert_true(m->perms & PYDBG__MAP_X);
        assert_false(m->perms & PYDBG__MAP_W);
    }
    /* A local of the main thread. */
    assert_string_equal(find_ok(&maps, &local)->path, "[stack]");

    /* libc: the dynamic linker's idea of its load base is the start of its
     * lowest mapping, at file offset 0. */
    {
        Dl_info info;
        const pydbg__mapping *base;
        char real[PATH_MAX];
        assert_true(dladdr((void *)(uintptr_t)&getpid, &info) != 0);
        assert_non_null(info.dli_fname);
        assert_non_null(realpath(info.dli_fname, real));
        base = pydbg__maps_file_base(&maps, real);
        assert_non_null(base);
        assert_true(base->start == (uint64_t)(uintptr_t)info.dli_fbase);
        assert_true(base->offset == 0);
        assert_string_equal(find_ok(&maps, (const void *)(uintptr_t)&getpid)->path, real);
    }
    /* The executable's base is its lowest mapping too. */
    {
        const pydbg__mapping *base = pydbg__maps_file_base(&maps, exe);
        assert_non_null(base);
        for (size_t i = 0; i < maps.count; i++)
            if (strcmp(maps.items[i].path, exe) == 0)
                assert_true(maps.items[i].start >= base->start);
        assert_true(base->offset == 0);
    }
    assert_null(pydbg__maps_file_base(&maps, "/no/such/file"));
    assert_null(pydbg__maps_find(&maps, 0));
    assert_true(pydbg__maps_readable(&maps, (uint64_t)(uintptr_t)&test_maps_global, 4));
    assert_false(pydbg__maps_readable(&maps, 16, 4));
    pydbg__maps_free(&maps);
}

static void test_self_heap_after_sbrk(void **state)
{
    (void)state;
    pydbg__maps maps;
    pydbg__error err;
    char *before = sbrk(0);
    char *grown;
    const pydbg__mapping *m;
    assert_true(before != (void *)-1);
    grown = sbrk(3 * 4096);
    assert_true(grown != (void *)-1);
    grown[3 * 4096 - 1] = 1;
    assert_int_equal(pydbg__maps_read(&maps, getpid(), &err), PYDBG_OK);
    m = find_ok(&maps, grown + 3 * 4096 - 1);
    assert_string_equal(m->path, "[heap]");
    assert_true(m->perms & PYDBG__MAP_W);
    assert_true(m->end >= (uint64_t)(uintptr_t)(grown + 3 * 4096));
    pydbg__maps_free(&maps);
    assert_true(sbrk(-3 * 4096) != (void *)-1);
}

/* A second, independent parse of the same text with sscanf. */
static void test_self_matches_sscanf(void **state)
{
    (void)state;
    static char text[1 << 20];
    size_t length = 0;
    pydbg__maps maps;
    pydbg__error err;
    size_t index = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    length = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    assert_true(length > 0 && length < sizeof text - 1);
    text[length] = '\0';
    assert_int_equal(pydbg__maps_parse(&maps, text, length, &err), PYDBG_OK);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), index++) {
        unsigned long start, end, offset, inode;
        char perms[5];
        int path_at = 0;
        assert_true(sscanf(line, "%lx-%lx %4s %lx %*x:%*x %lu %n", &start, &end, perms, &offset,
                           &inode, &path_at) >= 5);
        assert_true(index < maps.count);
        assert_true(maps.items[index].start == start);
        assert_true(maps.items[index].end == end);
        assert_true(maps.items[index].offset == offset);
        assert_true(maps.items[index].inode == inode);
        assert_int_equal(!!(maps.items[index].perms & PYDBG__MAP_R), perms[0] == 'r');
        assert_int_equal(!!(maps.items[index].perms & PYDBG__MAP_W), perms[1] == 'w');
        assert_int_equal(!!(maps.items[index].perms & PYDBG__MAP_X), perms[2] == 'x');
        assert_int_equal(!!(maps.items[index].perms & PYDBG__MAP_P), perms[3] == 'p');
        if (path_at > 0)
            assert_string_equal(maps.items[index].path, line + path_at);
        else
            assert_string_equal(maps.items[index].path, "");
    }
    assert_int_equal(index, maps.count);
    pydbg__maps_free(&maps);
}

/* A real file whose name has spaces, mapped, then deleted. */
static void test_self_spaces_and_deleted(void **state)
{
    (void)state;
    char path[] = "/tmp/pydbg maps test (x) XXXXXX";
    int fd = mkstemp(path);
    pydbg__maps maps;
    pydbg__error err;
    void *p;
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 8192), 0);
    p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 4096 * 0);
    assert_true(p != MAP_FAILED);
    close(fd);

    assert_int_equal(pydbg__maps_read(&maps, getpid(), &err), PYDBG_OK);
    assert_string_equal(find_ok(&maps, p)->path, path);
    assert_false(find_ok(&maps, p)->perms & PYDBG__MAP_P);
    assert_true(pydbg__maps_file_base(&maps, path)->start == (uint64_t)(uintptr_t)p);
    pydbg__maps_free(&maps);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(pydbg__maps_read(&maps, getpid(), &err), PYDBG_OK);
    assert_string_equal(find_ok(&maps, p)->path, path);
    pydbg__maps_free(&maps);
    munmap(p, 8192);
}

static void test_read_errors(void **state)
{
    (void)state;
    pydbg__maps maps;
    pydbg__error err;
    pid_t pid = fork();
    int status;
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(pydbg__maps_read(&maps, pid, &err), PYDBG_ENOPROC);
    assert_int_equal(err.code, PYDBG_ENOPROC);
    assert_null(maps.items);

    /* Another user's process: drop to "nobody" in a child and read pid 1. */
    if (geteuid() == 0) {
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(10);
            _exit(pydbg__maps_read(&maps, 1, &err) == PYDBG_EPERM ? 0 : 11);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

static int parse(pydbg__maps *maps, const char *text)
{
    pydbg__error err;
    return pydbg__maps_parse(maps, text, strlen(text), &err);
}

static void test_parse_synthetic(void **state)
{
    (void)state;
    pydbg__maps maps;
    static const char text[] =
        "00400000-00401000 r-xp 00000000 08:01 131 /usr/bin/python3.11\n"
        "00600000-00602000 rw-p 00200000 08:01 131 /usr/bin/python3.11\n"
        "01b3e000-01b5f000 rw-p 00000000 00:00 0                                  [heap]\n"
        "7f0000000000-7f0000001000 r--s 00001000 fd:00 9999999999        "
        "/home/a user/my lib  two.so\n"
        "7f0000001000-7f0000003000 rw-p 00000000 00:00 0 \n"
        "7f0000003000-7f0000004000 r-xp 00000000 00:05 77 /dev/zero (deleted)\n"
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n"
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]";
    assert_int_equal(parse(&maps, text), PYDBG_OK);
    assert_int_equal(maps.count, 8);
    assert_true(maps.items[0].start == 0x400000 && maps.items[0].end == 0x401000);
    assert_true(maps.items[0].perms == (PYDBG__MAP_R | PYDBG__MAP_X | PYDBG__MAP_P));
    assert_true(maps.items[1].offset == 0x200000);
    assert_string_equal(maps.items[2].path, "[heap]");
    assert_true(maps.items[3].inode == UINT64_C(9999999999));
    assert_true(maps.items[3].perms == PYDBG__MAP_R);
    assert_string_equal(maps.items[3].path, "/home/a user/my lib  two.so");
    assert_string_equal(maps.items[4].path, "");
    assert_string_equal(maps.items[5].path, "/dev/zero");
    assert_string_equal(maps.items[7].path, "[vsyscall]");
    assert_true(maps.items[7].start == UINT64_C(0xffffffffff600000));

    assert_ptr_equal(pydbg__maps_find(&maps, 0x400fff), &maps.items[0]);
    assert_null(pydbg__maps_find(&maps, 0x401000));
    assert_null(pydbg__maps_find(&maps, 0x3fffff));
    assert_ptr_equal(pydbg__maps_file_base(&maps, "/usr/bin/python3.11"), &maps.items[0]);
    /* Readable across adjacent readable mappings, not across a gap or into --x. */
    assert_true(pydbg__maps_readable(&maps, 0x7f0000000ff0, 0x20));
    assert_true(pydbg__maps_readable(&maps, 0x7f0000000ff0, 0x3010));
    assert_false(pydbg__maps_readable(&maps, 0x400ff0, 0x20));
    assert_false(pydbg__maps_readable(&maps, UINT64_C(0xffffffffff600000), 1));
    assert_false(pydbg__maps_readable(&maps, UINT64_MAX - 1, 4));
    assert_true(pydbg__maps_readable(&maps, 5, 0));
    pydbg__maps_free(&maps);
    pydbg__maps_free(&maps); /* freeing twice is harmless */
    pydbg__maps_free(NULL);
}

static void test_parse_unsorted_and_empty(void **state)
{
    (void)state;
    pydbg__maps maps;
    assert_int_equal(parse(&maps, ""), PYDBG_OK);
    assert_int_equal(maps.count, 0);
    assert_null(pydbg__maps_find(&maps, 0x1000));
    pydbg__maps_free(&maps);
    assert_int_equal(parse(&maps, "\n\n"), PYDBG_OK);
    assert_int_equal(maps.count, 0);
    pydbg__maps_free(&maps);

    assert_int_equal(parse(&maps, "3000-4000 r--p 00001000 00:01 5 /lib/x.so\n"
                                  "1000-2000 r--p 00000000 00:01 5 /lib/x.so\n"
                                  "2000-3000 r-xp 00000000 00:00 0\n"),
                     PYDBG_OK);
    assert_true(maps.items[0].start == 0x1000 && maps.items[2].start == 0x3000);
    assert_string_equal(maps.items[0].path, "/lib/x.so");
    assert_string_equal(maps.items[1].path, "");
    assert_ptr_equal(pydbg__maps_find(&maps, 0x2500), &maps.items[1]);
    assert_true(pydbg__maps_file_base(&maps, "/lib/x.so")->start == 0x1000);
    pydbg__maps_free(&maps);

    /* A shared mapping of the file below its private ones is someone reading
     * the file, not the loader: the base is the lowest private mapping. */
    assert_int_equal(parse(&maps, "1000-2000 r--s 00000000 00:01 5 /lib/y.so\n"
                                  "5000-6000 r--p 00000000 00:01 5 /lib/y.so\n"
                                  "6000-7000 r-xp 00001000 00:01 5 /lib/y.so\n"
                                  "8000-9000 r--s 00000000 00:01 6 /lib/z.so\n"),
                     PYDBG_OK);
    assert_true(pydbg__maps_file_base(&maps, "/lib/y.so")->start == 0x5000);
    assert_true(pydbg__maps_file_base(&maps, "/lib/z.so")->start == 0x8000);
    pydbg__maps_free(&maps);
}

static void test_parse_long_path(void **state)
{
    (void)state;
    pydbg__maps maps;
    size_t path_length = 100000;
    char *text = malloc(path_length + 100);
    int n;
    assert_non_null(text);
    n = sprintf(text, "1000-2000 r--p 00000000 00:01 5 /");
    memset(text + n, 'a', path_length - 1);
    text[n + path_length - 1] = '\0';
    assert_int_equal(parse(&maps, text), PYDBG_OK);
    assert_int_equal(maps.count, 1);
    assert_int_equal(strlen(maps.items[0].path), path_length);
    pydbg__maps_free(&maps);
    free(text);
}

static void test_parse_garbage(void **state)
{
    (void)state;
    static const char *bad[] = {
        "hello world\n",
        "1000-2000\n",
        "1000-2000 r--p\n",
        "1000 2000 r--p 00000000 00:01 5\n",
        "2000-1000 r--p 00000000 00:01 5\n",        /* end before start */
        "1000-2000 rwxq 00000000 00:01 5\n",         /* bad sharing flag */
        "1000-2000 r--p 00000000 0001 5\n",          /* no device colon */
        "1000-2000 r--p 00000000 00:01 x\n",         /* inode not decimal */
        "1000-2000 r--p 00000000 00:01 5x\n",        /* junk glued to the inode */
        "10000000000000000-10000000000000001 r--p 0 0:0 0\n", /* 17 hex digits */
        "1000-2000 r--p 00000000 00:01 99999999999999999999999\n",
        "1000-2000 r--p 00000000 00:01 5 /a\n\x01garbage\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pydbg__maps maps;
        pydbg__error err;
        err.code = 0;
        if (pydbg__maps_parse(&maps, bad[i], strlen(bad[i]), &err) != PYDBG_EFORMAT)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(err.code, PYDBG_EFORMAT);
        assert_non_null(strstr(err.message, "line"));
        assert_null(maps.items);
    }
    /* An embedded NUL in a path is not something the kernel writes. */
    {
        pydbg__maps maps;
        pydbg__error err;
        static const char text[] = "1000-2000 r--p 00000000 00:01 5 /a\0b\n";
        assert_int_equal(pydbg__maps_parse(&maps, text, sizeof text - 1, &err), PYDBG_EFORMAT);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_facts),
        cmocka_unit_test(test_self_heap_after_sbrk),
        cmocka_unit_test(test_self_matches_sscanf),
        cmocka_unit_test(test_self_spaces_and_deleted),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_parse_synthetic),
        cmocka_unit_test(test_parse_unsorted_and_empty),
        cmocka_unit_test(test_parse_long_path),
        cmocka_unit_test(test_parse_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
