/* traceback_bench: parse throughput of the traceback finder on a large
 * generated log, side by side with `grep -c Traceback` on the same file in the
 * same run.
 *
 *   traceback_bench [--size MB] [--file PATH] [--keep] [--chunk KB]
 *
 * The log (default 1024 MB, in $TMPDIR) is made of realistic log records with
 * 1% of its lines inside tracebacks (chains, carets, prefixes). Both readers
 * run on a warm page cache, each three times; the best run counts. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pydebug.h"

static const char *const noise[] = {
    "INFO app.server: GET /api/v1/items?page=3 200 12.4ms user=4411 request_id=9f1c2a7e\n",
    "DEBUG app.cache: hit key=session:7a3f ttl=3600 size=1832 backend=redis shard=2\n",
    "WARNING app.db: slow query took 812ms: SELECT id, name FROM items WHERE owner = $1\n",
    "INFO worker.jobs: job 88123 finished in 3.2s status=ok retries=0 queue=default\n",
    "INFO app.server: POST /api/v1/orders 201 48.0ms user=102 request_id=0c9d3b11\n",
};

static const char *const tracebacks[] = {
    "Traceback (most recent call last):\n"
    "  File \"/srv/app/handlers.py\", line 88, in handle\n"
    "    order = load_order(request.json[\"id\"])\n"
    "                       ~~~~~~~~~~~~^^^^^^\n"
    "  File \"/srv/app/orders.py\", line 31, in load_order\n"
    "    return db.fetch_one(QUERY, order_id)\n"
    "KeyError: 'id'\n",
    "Traceback (most recent call last):\n"
    "  File \"/srv/app/db.py\", line 120, in fetch_one\n"
    "    row = cursor.fetchone()\n"
    "TimeoutError: query timed out\n"
    "\n"
    "The above exception was the direct cause of the following exception:\n"
    "\n"
    "Traceback (most recent call last):\n"
    "  File \"/srv/app/worker.py\", line 54, in run\n"
    "    self.process(job)\n"
    "RuntimeError: job 4411 failed\n",
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int generate(const char *path, uint64_t bytes, uint64_t *expected)
{
    FILE *f = fopen(path, "wb");
    uint64_t written = 0, lines = 0, tb_lines = 0, n = 0;
    unsigned seed = 12345;
    if (!f)
        return -1;
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    *expected = 0;
    while (written < bytes) {
        char prefix[64];
        int plen;
        seed = seed * 1103515245u + 12345u;
        plen = snprintf(prefix, sizeof prefix, "2024-05-%02u %02u:%02u:%02u,%03u ",
                        1 + (unsigned)(n / 86400) % 28, (unsigned)(n / 3600) % 24,
                        (unsigned)(n / 60) % 60, (unsigned)n % 60, seed % 1000);
        n++;
        /* keep traceback lines at 1% of all lines */
        if (tb_lines * 100 < lines) {
            const char *tb = tracebacks[(seed >> 8) & 1];
            fwrite(prefix, 1, (size_t)plen, f);
            fputs("ERROR app: unhandled error\n", f);
            fputs(tb, f);
            for (const char *p = tb; *p; p++) {
                tb_lines += *p == '\n';
                lines += *p == '\n';
            }
            lines++;
            written += (uint64_t)plen + 27 + strlen(tb);
            ++*expected;
            continue;
        }
        {
            const char *line = noise[(seed >> 8) % 5];
            fwrite(prefix, 1, (size_t)plen, f);
            fputs(line, f);
            written += (uint64_t)plen + strlen(line);
            lines++;
        }
    }
    return fclose(f) == 0 ? 0 : -1;
}

static double run_grep(const char *path, long *count)
{
    char cmd[4096 + 64];
    FILE *p;
    double t0 = now();
    snprintf(cmd, sizeof cmd, "grep -c Traceback '%s'", path);
    p = popen(cmd, "r");
    if (!p || fscanf(p, "%ld", count) != 1)
        *count = -1;
    if (p)
        pclose(p);
    return now() - t0;
}

static double run_parser(const char *path, size_t chunk, uint64_t *count)
{
    int fd = open(path, O_RDONLY);
    char *buf = malloc(chunk);
    pydbg_tb_parser *parser;
    pydbg_traceback *tb;
    double t0 = now();
    *count = 0;
    if (fd < 0 || !buf || pydbg_tb_parser_new(&parser, NULL) != PYDBG_OK) {
        fprintf(stderr, "traceback_bench: cannot read %s\n", path);
        exit(1);
    }
    for (;;) {
        ssize_t n = read(fd, buf, chunk);
        if (n <= 0)
            break;
        if (pydbg_tb_parser_feed(parser, buf, (size_t)n) != PYDBG_OK)
            exit(1);
        while (pydbg_tb_parser_next(parser, &tb) == PYDBG_OK && tb) {
            ++*count;
            pydbg_traceback_free(tb);
        }
    }
    pydbg_tb_parser_finish(parser);
    while (pydbg_tb_parser_next(parser, &tb) == PYDBG_OK && tb) {
        ++*count;
        pydbg_traceback_free(tb);
    }
    pydbg_tb_parser_free(parser);
    close(fd);
    free(buf);
    return now() - t0;
}

int main(int argc, char **argv)
{
    uint64_t size_mb = 1024, expected = 0, found = 0;
    size_t chunk = 1 << 20;
    const char *file = NULL;
    char path[4096];
    int keep = 0;
    double best_grep = 1e30, best_parse = 1e30;
    long grep_count = 0;
    struct stat st;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size_mb = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc)
            chunk = (size_t)strtoull(argv[++i], NULL, 10) * 1024;
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else {
            fprintf(stderr, "usage: traceback_bench [--size MB] [--file PATH] [--keep] "
                            "[--chunk KB]\n");
            return 1;
        }
    }
    if (chunk == 0)
        chunk = 1 << 20;
    if (file) {
        snprintf(path, sizeof path, "%s", file);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/pydebug_tb_bench_%d.log", tmp ? tmp : "/tmp",
                 (int)getpid());
    }
    if (!file || stat(path, &st) != 0) {
        fprintf(stderr, "generating %" PRIu64 " MB log at %s\n", size_mb, path);
        if (generate(path, size_mb << 20, &expected) != 0) {
            fprintf(stderr, "traceback_bench: cannot write %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    if (stat(path, &st) != 0)
        return 1;
    for (int round = 0; round < 3; round++) {
        double g = run_grep(path, &grep_count);
        double p = run_parser(path, chunk, &found);
        if (g < best_grep)
            best_grep = g;
        if (p < best_parse)
            best_parse = p;
    }
    {
        double mb = (double)st.st_size / (1 << 20);
        printf("file: %s (%.0f MB)\n", path, mb);
        printf("grep -c Traceback : %8.3f s  %8.1f MB/s  (%ld lines)\n", best_grep,
               mb / best_grep, grep_count);
        printf("pydebug traceback : %8.3f s  %8.1f MB/s  (%" PRIu64 " tracebacks", best_parse,
               mb / best_parse, found);
        if (expected)
            printf(", %" PRIu64 " written", expected);
        printf(")\nratio parser/grep : %.2fx the time of grep\n", best_parse / best_grep);
    }
    if (!keep && !file)
        unlink(path);
    return expected && found != expected ? 2 : 0;
}
