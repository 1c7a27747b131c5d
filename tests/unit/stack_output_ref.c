/* The reference for test_stacks_format: how `pydebug dump` and `pydebug core`
 * printed a capture before the formatting moved into the library
 * (cli/stack_output.c at commit 0801e0e), kept verbatim but for writing to a
 * FILE * instead of stdout. The library's output must stay byte-identical. */
#include "stack_output_ref.h"

#include <inttypes.h>
#include <stdio.h>

#include "../../cli/json.h"

static void print_frame_json(json_writer *w, const pydbg_frame *f)
{
    json_begin_object(w);
    json_key(w, "function");
    json_string(w, pydbg_frame_function(f));
    json_key(w, "qualname");
    json_string(w, pydbg_frame_qualname(f));
    json_key(w, "filename");
    json_string(w, pydbg_frame_filename(f));
    json_key(w, "line");
    if (pydbg_frame_line(f) >= 0)
        json_int(w, pydbg_frame_line(f));
    else
        json_null(w);
#define OPTIONAL_INT(name, value) \
    json_key(w, name);            \
    if ((value) >= 0)             \
        json_int(w, value);       \
    else                          \
        json_null(w)
    OPTIONAL_INT("column", pydbg_frame_column(f));
    OPTIONAL_INT("end_line", pydbg_frame_end_line(f));
    OPTIONAL_INT("end_column", pydbg_frame_end_column(f));
#undef OPTIONAL_INT
    json_end_object(w);
}

void ref_print_stacks_json(FILE *out, pydbg_process *process, const pydbg_stacks *stacks)
{
    json_writer w;
    json_init(&w, out, 0);
    json_begin_object(&w);
    json_key(&w, "pid");
    json_int(&w, pydbg_process_pid(process));
    json_key(&w, "python_version");
    json_string(&w, pydbg_process_python_version(process));
    json_key(&w, "threads");
    json_begin_array(&w);
    for (size_t i = 0; i < pydbg_stacks_thread_count(stacks); i++) {
        const pydbg_thread *t = pydbg_stacks_thread(stacks, i);
        json_begin_object(&w);
        json_key(&w, "interpreter_id");
        json_int(&w, pydbg_thread_interpreter_id(t));
        json_key(&w, "thread_id");
        json_uint(&w, pydbg_thread_ident(t));
        json_key(&w, "native_id");
        if (pydbg_thread_native_id(t) >= 0)
            json_int(&w, pydbg_thread_native_id(t));
        else
            json_null(&w);
        json_key(&w, "name");
        json_string(&w, pydbg_thread_name(t));
        json_key(&w, "is_main");
        json_bool(&w, pydbg_thread_is_main(t));
        json_key(&w, "holds_gil");
        if (pydbg_thread_holds_gil(t) >= 0)
            json_bool(&w, pydbg_thread_holds_gil(t));
        else
            json_null(&w);
        if (pydbg_thread_truncated(t)) {
            json_key(&w, "truncated");
            json_bool(&w, 1);
        }
        if (pydbg_thread_error(t) != PYDBG_OK) {
            json_key(&w, "error");
            json_string(&w, pydbg_thread_errmsg(t));
        }
        json_key(&w, "frames");
        json_begin_array(&w);
        for (size_t j = 0; j < pydbg_thread_frame_count(t); j++)
            print_frame_json(&w, pydbg_thread_frame(t, j));
        json_end_array(&w);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    json_finish(&w);
}

/* faulthandler's layout, so that the traceback parser (and people) read it. */
void ref_print_stacks_text(FILE *out, pydbg_process *process, const pydbg_stacks *stacks)
{
    fprintf(out, "Process %d: Python %s\n", pydbg_process_pid(process),
           pydbg_process_python_version(process));
    for (size_t i = 0; i < pydbg_stacks_thread_count(stacks); i++) {
        const pydbg_thread *t = pydbg_stacks_thread(stacks, i);
        fprintf(out, "\nThread 0x%016" PRIx64, pydbg_thread_ident(t));
        if (pydbg_thread_name(t))
            fprintf(out, " \"%s\"", pydbg_thread_name(t));
        if (pydbg_thread_native_id(t) >= 0)
            fprintf(out, " native=%" PRId64, pydbg_thread_native_id(t));
        if (pydbg_thread_is_main(t))
            fprintf(out, " main");
        if (pydbg_thread_holds_gil(t) == 1)
            fprintf(out, " gil");
        fprintf(out, " (most recent call first):\n");
        for (size_t j = 0; j < pydbg_thread_frame_count(t); j++) {
            const pydbg_frame *f = pydbg_thread_frame(t, j);
            const char *name = pydbg_frame_qualname(f) ? pydbg_frame_qualname(f)
                                                       : pydbg_frame_function(f);
            if (pydbg_frame_line(f) >= 0)
                fprintf(out, "  File \"%s\", line %d in %s\n", pydbg_frame_filename(f),
                       pydbg_frame_line(f), name);
            else
                fprintf(out, "  File \"%s\", line ??? in %s\n", pydbg_frame_filename(f), name);
        }
        if (pydbg_thread_truncated(t))
            fprintf(out, "  ...\n");
        if (pydbg_thread_error(t) != PYDBG_OK)
            fprintf(out, "  <stack incomplete: %s>\n", pydbg_thread_errmsg(t));
    }
}
