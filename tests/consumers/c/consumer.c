/* A program outside the project, built against an installed libpydebug the way a user
 * builds one (pkg-config, static pkg-config, CMake's find_package), then run against a
 * live Python process by run_consumer.py.
 *
 *   usage: consumer EXPECTED_VERSION PID
 *
 * Checks that the header it was compiled with and the library it runs with are both the
 * expected version, then prints every thread's stack in the format all the consumer
 * examples share (see run_consumer.py). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pydebug.h>

int main(int argc, char **argv)
{
    pydbg_process *process;
    pydbg_stacks *stacks;
    int rc;

    if (argc != 3) {
        fprintf(stderr, "usage: %s EXPECTED_VERSION PID\n", argv[0]);
        return 2;
    }
    if (strcmp(pydbg_version_string(), argv[1]) != 0 ||
        strcmp(PYDBG_VERSION_STRING, argv[1]) != 0 ||
        pydbg_version_number() != PYDBG_VERSION_NUMBER) {
        fprintf(stderr, "version mismatch: expected %s, header %s, library %s (%u)\n", argv[1],
                PYDBG_VERSION_STRING, pydbg_version_string(), pydbg_version_number());
        return 1;
    }
    printf("libpydebug %s\n", pydbg_version_string());

    rc = pydbg_process_attach(&process, atoi(argv[2]), NULL);
    if (rc != PYDBG_OK) {
        fprintf(stderr, "attach: %s: %s\n", pydbg_strerror(rc), pydbg_last_error());
        return 1;
    }
    rc = pydbg_stacks_capture(&stacks, process, NULL);
    if (rc != PYDBG_OK) {
        fprintf(stderr, "capture: %s: %s\n", pydbg_strerror(rc), pydbg_process_errmsg(process));
        pydbg_process_close(process);
        return 1;
    }
    printf("Python %s\n", pydbg_process_python_version(process));
    for (size_t i = 0; i < pydbg_stacks_thread_count(stacks); i++) {
        const pydbg_thread *thread = pydbg_stacks_thread(stacks, i);
        const char *name = pydbg_thread_name(thread);
        printf("Thread %" PRIu64 " (%s):\n", pydbg_thread_ident(thread), name ? name : "unnamed");
        for (size_t j = 0; j < pydbg_thread_frame_count(thread); j++) {
            const pydbg_frame *frame = pydbg_thread_frame(thread, j);
            printf("  %s (%s:%d)\n", pydbg_frame_function(frame), pydbg_frame_filename(frame),
                   pydbg_frame_line(frame));
        }
    }
    pydbg_stacks_free(stacks);
    pydbg_process_close(process);
    return 0;
}
