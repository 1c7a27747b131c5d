/* Accessors of decoded tracebacks, and the public face of the line-table
 * decoders (which live in code/linetable.c). */
#include "traceback/tb_model.h"

#include <stdlib.h>

#include "code/linetable.h"
#include "util/error.h"

PYDBG_API void pydbg_traceback_free(pydbg_traceback *tb)
{
    if (!tb)
        return;
    pydbg__arena_free(&tb->arena);
    free(tb);
}

PYDBG_API int pydbg_traceback_kind(const pydbg_traceback *tb)
{
    return tb ? tb->kind : PYDBG_TB_KIND_EXCEPTION;
}

PYDBG_API uint64_t pydbg_traceback_start_line(const pydbg_traceback *tb)
{
    return tb ? tb->start_line : 0;
}

PYDBG_API uint64_t pydbg_traceback_end_line(const pydbg_traceback *tb)
{
    return tb ? tb->end_line : 0;
}

PYDBG_API int pydbg_traceback_truncated(const pydbg_traceback *tb)
{
    return tb ? tb->truncated : 0;
}

PYDBG_API const char *pydbg_traceback_prefix(const pydbg_traceback *tb)
{
    return tb && tb->prefix ? tb->prefix : "";
}

PYDBG_API const char *pydbg_traceback_thread_header(const pydbg_traceback *tb)
{
    return tb ? tb->thread_header : NULL;
}

PYDBG_API uint64_t pydbg_traceback_thread_id(const pydbg_traceback *tb)
{
    return tb ? tb->thread_id : 0;
}

PYDBG_API const char *pydbg_traceback_thread_name(const pydbg_traceback *tb)
{
    return tb ? tb->thread_name : NULL;
}

PYDBG_API int pydbg_traceback_thread_is_current(const pydbg_traceback *tb)
{
    return tb ? tb->thread_is_current : 0;
}

PYDBG_API size_t pydbg_traceback_exception_count(const pydbg_traceback *tb)
{
    return tb ? tb->exception_count : 0;
}

PYDBG_API const pydbg_tb_exception *pydbg_traceback_exception(const pydbg_traceback *tb,
                                                               size_t index)
{
    return tb && index < tb->exception_count ? tb->exceptions[index] : NULL;
}

PYDBG_API const char *pydbg_tb_exception_type(const pydbg_tb_exception *exc)
{
    return exc ? exc->type : NULL;
}

PYDBG_API const char *pydbg_tb_exception_message(const pydbg_tb_exception *exc)
{
    return exc && exc->type ? exc->message : NULL;
}

PYDBG_API int pydbg_tb_exception_relation(const pydbg_tb_exception *exc)
{
    return exc ? exc->relation : PYDBG_TB_RELATION_NONE;
}

PYDBG_API int pydbg_tb_exception_has_traceback(const pydbg_tb_exception *exc)
{
    return exc ? exc->has_traceback : 0;
}

PYDBG_API size_t pydbg_tb_exception_frame_count(const pydbg_tb_exception *exc)
{
    return exc ? exc->frame_count : 0;
}

PYDBG_API const pydbg_tb_frame *pydbg_tb_exception_frame(const pydbg_tb_exception *exc,
                                                         size_t index)
{
    return exc && index < exc->frame_count ? exc->frames[index] : NULL;
}

PYDBG_API int pydbg_tb_exception_is_group(const pydbg_tb_exception *exc)
{
    return exc ? exc->is_group : 0;
}

PYDBG_API size_t pydbg_tb_exception_block_count(const pydbg_tb_exception *exc)
{
    return exc ? exc->block_count : 0;
}

PYDBG_API const pydbg_tb_block *pydbg_tb_exception_block(const pydbg_tb_exception *exc,
                                                         size_t index)
{
    return exc && index < exc->block_count ? exc->blocks[index] : NULL;
}

PYDBG_API uint64_t pydbg_tb_exception_more_exceptions(const pydbg_tb_exception *exc)
{
    return exc ? exc->more_exceptions : 0;
}

PYDBG_API int pydbg_tb_exception_syntax(const pydbg_tb_exception *exc, const char **filename,
                                        int *line, const char **text, int *column,
                                        int *end_column)
{
    int has = exc && exc->has_syntax;
    if (filename)
        *filename = has ? exc->syntax_filename : NULL;
    if (line)
        *line = has ? exc->syntax_line : -1;
    if (text)
        *text = has ? exc->syntax_text : NULL;
    if (column)
        *column = has ? exc->syntax_column : -1;
    if (end_column)
        *end_column = has ? exc->syntax_end_column : -1;
    return has;
}

PYDBG_API size_t pydbg_tb_block_exception_count(const pydbg_tb_block *block)
{
    return block ? block->count : 0;
}

PYDBG_API const pydbg_tb_exception *pydbg_tb_block_exception(const pydbg_tb_block *block,
                                                             size_t index)
{
    return block && index < block->count ? block->items[index] : NULL;
}

PYDBG_API int pydbg_tb_block_depth_limited(const pydbg_tb_block *block)
{
    return block ? block->depth_limited : 0;
}

PYDBG_API const char *pydbg_tb_frame_filename(const pydbg_tb_frame *frame)
{
    return frame ? frame->filename : NULL;
}

PYDBG_API int pydbg_tb_frame_line(const pydbg_tb_frame *frame)
{
    return frame ? frame->line : -1;
}

PYDBG_API const char *pydbg_tb_frame_function(const pydbg_tb_frame *frame)
{
    return frame ? frame->function : NULL;
}

PYDBG_API const char *pydbg_tb_frame_source(const pydbg_tb_frame *frame)
{
    return frame ? frame->source : NULL;
}

PYDBG_API const char *pydbg_tb_frame_marker(const pydbg_tb_frame *frame)
{
    return frame ? frame->marker : NULL;
}

PYDBG_API uint64_t pydbg_tb_frame_repeat(const pydbg_tb_frame *frame)
{
    return frame ? frame->repeat : 0;
}

/* ---- line tables ------------------------------------------------------------------- */

PYDBG_API int pydbg_linetable_format_for_version(uint32_t python_hexversion)
{
    uint32_t major = python_hexversion >> 24, minor = (python_hexversion >> 16) & 0xff;
    if (major == 2 && minor == 7)
        return PYDBG_LINETABLE_LNOTAB_UNSIGNED;
    if (major != 3)
        return PYDBG_EVERSION;
    if (minor <= 5)
        return PYDBG_LINETABLE_LNOTAB_UNSIGNED;
    if (minor <= 9)
        return PYDBG_LINETABLE_LNOTAB;
    if (minor == 10)
        return PYDBG_LINETABLE_310;
    return PYDBG_LINETABLE_LOCATIONS;
}

PYDBG_API int pydbg_linetable_lookup(int *line, int *end_line, int *column, int *end_column,
                                     int format, const uint8_t *table, size_t length,
                                     int first_line, int offset)
{
    pydbg__position pos = {-1, -1, -1, -1};
    int rc = PYDBG_OK;
    static const uint8_t empty[1] = {0};
    if (!table && length)
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_linetable_lookup: table is NULL");
    if (!table)
        table = empty;
    switch (format) {
    case PYDBG_LINETABLE_LNOTAB_UNSIGNED:
    case PYDBG_LINETABLE_LNOTAB:
        pos.line = pydbg__lnotab_line(table, length, first_line, offset,
                                      format == PYDBG_LINETABLE_LNOTAB);
        break;
    case PYDBG_LINETABLE_310:
        pos.line = pydbg__linetable310_line(table, length, first_line, offset);
        break;
    case PYDBG_LINETABLE_LOCATIONS:
        if (pydbg__locations_lookup(table, length, first_line, offset, &pos) != 0) {
            pos.line = pos.end_line = pos.column = pos.end_column = -1;
            rc = PYDBG_ENOTFOUND;
        }
        break;
    default:
        return pydbg__fail(NULL, PYDBG_EINVAL, "pydbg_linetable_lookup: unknown format %d",
                           format);
    }
    if (line)
        *line = pos.line;
    if (end_line)
        *end_line = pos.end_line;
    if (column)
        *column = pos.column;
    if (end_column)
        *end_column = pos.end_column;
    return rc;
}
