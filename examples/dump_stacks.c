/* dump_stacks: the shortest correct program that prints every thread's Python
 * stack of a running process with libpydebug.
 *
 *   usage: dump_stacks PID
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <pydebug.h>

int main(int argc, char **argv)
{
    pydbg_process *process;
    pydbg_stacks *stacks;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PID\n", argv[0]);
        return 2;
    }
    rc = pydbg_process_attach(&process, atoi(argv[1]), NULL);
    if (rc != PYDBG_OK) {
        /* No handle exists yet: the reason is in the thread's last error. */
        fprintf(stderr, "attach: %s\n", pydbg_last_error());
        return 1;
    }
    rc = pydbg_stacks_capture(&stacks, process, NULL);
    if (rc != PYDBG_OK) {
        fprintf(stderr, "capture: %s\n", pydbg_process_errmsg(process));
        pydbg_process_close(process);
        return 1;
    }

    printf("Python %s\n", pydbg_process_python_version(process));
    for (size_t i = 0; i < pydbg_stacks_thread_count(stacks); i++) {
        const pydbg_thread *thread = pydbg_stacks_thread(stacks, i);
        const char *name = pydbg_thread_name(thread);
        printf("\nThread %" PRIu64 " (%s)%s:\n", pydbg_thread_ident(thread),
               name ? name : "unnamed", pydbg_thread_holds_gil(thread) == 1 ? " holds the GIL" : "");
        for (size_t j = 0; j < pydbg_thread_frame_count(thread); j++) {
            const pydbg_frame *frame = pydbg_thread_frame(thread, j);
            printf("  %s (%s:%d)\n", pydbg_frame_function(frame), pydbg_frame_filename(frame),
                   pydbg_frame_line(frame));
        }
    }

    /* The strings above belong to `stacks`: free it only when done with them. */
    pydbg_stacks_free(stacks);
    pydbg_process_close(process);
    return 0;
}
