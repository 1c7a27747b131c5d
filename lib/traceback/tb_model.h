/* The decoded traceback: plain structs in one arena per traceback, so a
 * traceback is freed in one go and borrowed pointers stay valid until then.
 * Shared by the parser (which builds it), the formatter and the accessors. */
#ifndef PYDBG_TRACEBACK_TB_MODEL_H
#define PYDBG_TRACEBACK_TB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "pydebug/traceback.h"
#include "util/buffer.h"

/* Printed lines kept verbatim, for the round trip. */
typedef struct pydbg__tb_lines {
    const char **items;
    size_t count;
} pydbg__tb_lines;

struct pydbg_tb_frame {
    const char *filename;
    const char *function;
    const char *source; /* first source line, stripped, or NULL */
    const char *marker; /* caret/marker line under it, without the 4-space indent */
    int line;           /* -1 for None / ??? */
    int line_text_kind; /* 0: number, 1: "None", 2: "???" (how `line` was printed) */
    int quoted;         /* the file name was printed in quotes */
    uint64_t repeat;
    pydbg__tb_lines extra; /* printed lines after the frame line ("    ...") */
};

struct pydbg_tb_block {
    pydbg_tb_exception **items;
    size_t count;
    int depth_limited;
    const char *limit_line; /* "... (max_group_depth is N)" as printed */
};

struct pydbg_tb_exception {
    const char *type;    /* NULL for a thread block or a cut traceback */
    const char *message; /* "\n"-joined */
    int relation;
    int has_traceback;
    int is_group;
    int bare_continuation; /* 3.11 printed message continuation lines without the group margin */
    pydbg_tb_frame **frames;
    size_t frame_count;
    pydbg_tb_block **blocks;
    size_t block_count;
    uint64_t more_exceptions;
    /* SyntaxError block */
    int has_syntax;
    const char *syntax_filename;
    int syntax_line;
    const char *syntax_text;
    int syntax_column, syntax_end_column;
    pydbg__tb_lines syntax_lines; /* the block as printed, for the round trip */
    pydbg__tb_lines tail;         /* thread blocks: "  ...", "  <no Python frame>" */
};

struct pydbg_traceback {
    pydbg__arena arena;
    int kind;
    int truncated;
    uint64_t start_line, end_line;
    const char *prefix;
    const char *thread_header;
    uint64_t thread_id;
    const char *thread_name;
    int thread_is_current;
    pydbg_tb_exception **exceptions;
    size_t exception_count;
};

/* The formatter, shared by the public calls and the CLI-facing helpers. */
int pydbg__tb_format(pydbg__buffer *out, const pydbg_traceback *tb, int format);

#endif
