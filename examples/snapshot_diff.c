/* snapshot_diff: what grew between two memory snapshots, by type.
 *
 *   snapshot_diff OLD.snap NEW.snap [N]          diff two files (from `pydebug snapshot`)
 *   snapshot_diff --pid PID SECONDS [N]          take two snapshots SECONDS apart
 *
 * Prints the N (default 10) types that grew most, with the API that lets a
 * tool present a diff its own way: pydbg_diff_count(), pydbg_diff_key() and
 * pydbg_diff_value(). Uses the public API only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pydebug.h"

static int take(pydbg_process *process, pydbg_snapshot **out)
{
    pydbg_snapshot_options options = PYDBG_SNAPSHOT_OPTIONS_INIT; /* paused, full census */
    int rc = pydbg_snapshot_take(out, process, &options);
    if (rc != PYDBG_OK)
        fprintf(stderr, "snapshot_diff: %s\n", pydbg_process_errmsg(process));
    return rc;
}

int main(int argc, char **argv)
{
    pydbg_snapshot *old_snap = NULL, *new_snap = NULL;
    pydbg_diff *diff = NULL;
    pydbg_diff_options options = PYDBG_DIFF_OPTIONS_INIT; /* by type */
    size_t top = 10;
    int rc;
    if (argc >= 4 && strcmp(argv[1], "--pid") == 0) {
        pydbg_process *process = NULL;
        if (pydbg_process_attach(&process, atoi(argv[2]), NULL) != PYDBG_OK) {
            fprintf(stderr, "snapshot_diff: %s\n", pydbg_last_error());
            return 1;
        }
        rc = take(process, &old_snap);
        if (rc == PYDBG_OK) {
            sleep((unsigned)atoi(argv[3]));
            rc = take(process, &new_snap);
        }
        pydbg_process_close(process);
        if (argc > 4)
            top = (size_t)strtoul(argv[4], NULL, 10);
    } else if (argc >= 3) {
        rc = pydbg_snapshot_load(&old_snap, argv[1]);
        if (rc == PYDBG_OK)
            rc = pydbg_snapshot_load(&new_snap, argv[2]);
        if (rc != PYDBG_OK)
            fprintf(stderr, "snapshot_diff: %s\n", pydbg_last_error());
        if (argc > 3)
            top = (size_t)strtoul(argv[3], NULL, 10);
    } else {
        fprintf(stderr, "usage: snapshot_diff OLD.snap NEW.snap [N]\n"
                        "       snapshot_diff --pid PID SECONDS [N]\n");
        return 1;
    }
    if (rc == PYDBG_OK) {
        rc = pydbg_diff_compute(&diff, old_snap, new_snap, &options);
        if (rc != PYDBG_OK)
            fprintf(stderr, "snapshot_diff: %s\n", pydbg_last_error());
    }
    if (rc == PYDBG_OK) {
        printf("%-32s %12s %14s\n", "type", "count delta", "bytes delta");
        for (size_t i = 0; i < pydbg_diff_count(diff) && i < top; i++)
            printf("%-32s %+12" PRId64 " %+14" PRId64 "\n", pydbg_diff_key(diff, i),
                   pydbg_diff_value(diff, i, PYDBG_DIFF_COUNT_DELTA),
                   pydbg_diff_value(diff, i, PYDBG_DIFF_SIZE_DELTA));
    }
    pydbg_diff_free(diff);
    pydbg_snapshot_free(old_snap);
    pydbg_snapshot_free(new_snap);
    return rc == PYDBG_OK ? 0 : 1;
}
