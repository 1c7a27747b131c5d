/**
 * @file pydebug/traceback.h
 * @brief Finding, decoding and formatting Python tracebacks in text, and the
 *        line-table decoders of code objects.
 *
 * A ::pydbg_tb_parser is fed text in pieces of any size (a whole log, or a
 * stream read 1 byte or 1 MiB at a time) and yields, in input order, every
 * traceback the text contains as an immutable ::pydbg_traceback:
 *
 * - exception tracebacks of CPython 2.7 and 3.6 to 3.14: the chain of
 *   exceptions in printed order (each with its frames, and how it follows the
 *   previous one: cause or context), SyntaxError blocks, the 3.11+ caret and
 *   `~~~^^^` marker lines, `[Previous line repeated N more times]`, and
 *   exception groups nested as printed;
 * - `faulthandler` dumps and `pydebug dump` text output: one traceback per
 *   thread block, with no exception type and frames in printed order.
 *
 * The text may come from real logs: a prefix on every line (timestamps, log
 * levels, container names) is recognised from the first line of each
 * traceback and removed; CRLF line ends and ANSI colour codes (3.13+) are
 * removed; lines that merely mention "Traceback" are ignored; a traceback cut
 * by the end of the input is returned and marked truncated.
 *
 * Memory use is bounded by the input: a single traceback is never larger
 * than pydbg_tb_parser_options::max_traceback_bytes of text (a longer one is
 * cut there and marked truncated), and the parser keeps no more than one
 * pending traceback plus a few KiB of history.
 *
 * Thread safety: a parser is used by one thread at a time; a
 * ::pydbg_traceback is immutable and its accessors may be called from any
 * number of threads at once.
 */
#ifndef PYDEBUG_TRACEBACK_H
#define PYDEBUG_TRACEBACK_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "export.h"

PYDBG_BEGIN_DECLS

/** @brief A streaming traceback finder and decoder (opaque). */
typedef struct pydbg_tb_parser pydbg_tb_parser;
/** @brief One decoded traceback (opaque, owned by the caller). */
typedef struct pydbg_traceback pydbg_traceback;
/** @brief One exception of a traceback's chain (opaque, borrowed). */
typedef struct pydbg_tb_exception pydbg_tb_exception;
/** @brief One sub-exception block of an exception group: a chain (opaque, borrowed). */
typedef struct pydbg_tb_block pydbg_tb_block;
/** @brief One frame line of a traceback (opaque, borrowed). */
typedef struct pydbg_tb_frame pydbg_tb_frame;

/** @brief What kind of text a traceback was decoded from. */
typedef enum pydbg_tb_kind {
    /** An exception traceback (`Traceback (most recent call last):`, or a bare SyntaxError). */
    PYDBG_TB_KIND_EXCEPTION = 0,
    /** One thread block of a `faulthandler` dump or of `pydebug dump` text output. */
    PYDBG_TB_KIND_THREAD = 1
} pydbg_tb_kind;

/** @brief How an exception follows the previous one in its chain. */
typedef enum pydbg_tb_relation {
    PYDBG_TB_RELATION_NONE = 0,   /**< the first exception of a chain */
    PYDBG_TB_RELATION_CAUSE = 1,  /**< "The above exception was the direct cause …" */
    PYDBG_TB_RELATION_CONTEXT = 2 /**< "During handling of the above exception …" */
} pydbg_tb_relation;

/** @brief Output formats of pydbg_traceback_format(). */
typedef enum pydbg_tb_format {
    /** CPython's own text, one line per printed line, without log prefixes or colours. */
    PYDBG_TB_FORMAT_TEXT = 0,
    /** One JSON object, as an entry of `pydebug traceback --format json`'s "tracebacks". */
    PYDBG_TB_FORMAT_JSON = 1
} pydbg_tb_format;

/**
 * @brief Options of pydbg_tb_parser_new().
 * Initialise with #PYDBG_TB_PARSER_OPTIONS_INIT; fields are only added at the end.
 */
typedef struct pydbg_tb_parser_options {
    uint32_t struct_size; /**< sizeof(pydbg_tb_parser_options), set by the INIT macro */
    uint32_t flags;       /**< reserved, must be 0 */
    /** Largest text of one traceback, in bytes; 0 means #PYDBG_TB_DEFAULT_MAX_BYTES. */
    uint64_t max_traceback_bytes;
} pydbg_tb_parser_options;

/** @brief Default bound on the text of one traceback (64 MiB). */
#define PYDBG_TB_DEFAULT_MAX_BYTES (64u * 1024u * 1024u)

/** @brief Default value of ::pydbg_tb_parser_options. */
#define PYDBG_TB_PARSER_OPTIONS_INIT {sizeof(pydbg_tb_parser_options), 0, 0}

/**
 * @brief Creates a parser.
 * @param[out] out  receives the parser; free it with pydbg_tb_parser_free(). NULL on failure.
 * @param options   NULL for defaults, or options initialised with #PYDBG_TB_PARSER_OPTIONS_INIT.
 * @return #PYDBG_OK, #PYDBG_EINVAL, #PYDBG_ENOMEM.
 * @note Thread-safe (creates an independent handle).
 */
PYDBG_API int pydbg_tb_parser_new(pydbg_tb_parser **out, const pydbg_tb_parser_options *options);

/**
 * @brief Frees a parser, and the tracebacks it decoded that were not taken with
 *        pydbg_tb_parser_next().
 * @param parser a parser, or NULL (no-op).
 * @note Not thread-safe for the same parser.
 */
PYDBG_API void pydbg_tb_parser_free(pydbg_tb_parser *parser);

/**
 * @brief Gives the parser the next @p length bytes of the input.
 *
 * Pieces may be of any size and split lines (or CRLF pairs, or UTF-8
 * sequences) anywhere. Tracebacks that are complete become available to
 * pydbg_tb_parser_next(); a traceback is complete once the line after it has
 * been seen, or at pydbg_tb_parser_finish().
 *
 * @return #PYDBG_OK; #PYDBG_ENOMEM; #PYDBG_ESTATE after pydbg_tb_parser_finish();
 *         #PYDBG_EINVAL if @p parser is NULL, or @p data is NULL with a nonzero length.
 * @note Not thread-safe for the same parser.
 */
PYDBG_API int pydbg_tb_parser_feed(pydbg_tb_parser *parser, const char *data, size_t length);

/**
 * @brief Marks the end of the input: a traceback cut by it is completed (and
 *        marked truncated). Further calls to pydbg_tb_parser_feed() fail.
 * @return #PYDBG_OK, #PYDBG_ENOMEM, #PYDBG_EINVAL.
 * @note Not thread-safe for the same parser.
 */
PYDBG_API int pydbg_tb_parser_finish(pydbg_tb_parser *parser);

/**
 * @brief Takes the next decoded traceback, in input order.
 *
 * @param parser    the parser.
 * @param[out] out  receives a traceback owned by the caller (free it with
 *                  pydbg_traceback_free()), or NULL when none is ready yet
 *                  (feed more, or finish).
 * @return #PYDBG_OK (also when `*out` is NULL), #PYDBG_EINVAL.
 * @note Not thread-safe for the same parser. Tracebacks taken are independent of it.
 */
PYDBG_API int pydbg_tb_parser_next(pydbg_tb_parser *parser, pydbg_traceback **out);

/**
 * @brief Number of input lines the parser has been given so far (a last line
 *        without its newline counts once the input is finished).
 * @note Not thread-safe for the same parser.
 */
PYDBG_API uint64_t pydbg_tb_parser_line_count(const pydbg_tb_parser *parser);

/**
 * @brief The detail of the last failure on the parser, "" when none.
 * @return a string owned by the parser, valid until its next call.
 * @note Not thread-safe for the same parser.
 */
PYDBG_API const char *pydbg_tb_parser_errmsg(const pydbg_tb_parser *parser);

/**
 * @brief Decodes the first traceback found in @p text (a convenience for one buffer).
 * @param[out] out  receives the traceback (free with pydbg_traceback_free()); NULL on failure.
 * @param text      the text (need not be NUL-terminated).
 * @param length    its length in bytes.
 * @return #PYDBG_OK; #PYDBG_ENOTFOUND if the text contains none; #PYDBG_ENOMEM; #PYDBG_EINVAL.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_traceback_parse(pydbg_traceback **out, const char *text, size_t length);

/**
 * @brief Frees a traceback and everything borrowed from it.
 * @param tb a traceback, or NULL (no-op).
 * @note Not thread-safe for the same traceback.
 */
PYDBG_API void pydbg_traceback_free(pydbg_traceback *tb);

/** @brief The kind of text the traceback came from (a ::pydbg_tb_kind). @note Thread-safe. */
PYDBG_API int pydbg_traceback_kind(const pydbg_traceback *tb);

/**
 * @brief The 1-based input line where the traceback begins: its
 *        `Traceback (most recent call last):` line, or the first line of a
 *        chain's leading exception that had no traceback, or a thread header.
 * @note Thread-safe.
 */
PYDBG_API uint64_t pydbg_traceback_start_line(const pydbg_traceback *tb);

/** @brief The 1-based input line of the traceback's last line. @note Thread-safe. */
PYDBG_API uint64_t pydbg_traceback_end_line(const pydbg_traceback *tb);

/**
 * @brief 1 if the traceback was cut (by the end of the input, by a line that
 *        does not belong to it, or by the size bound), else 0.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_traceback_truncated(const pydbg_traceback *tb);

/**
 * @brief The log prefix found on the traceback's first line ("" when none).
 * @return a string borrowed from the traceback, valid until pydbg_traceback_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_traceback_prefix(const pydbg_traceback *tb);

/**
 * @brief For a ::PYDBG_TB_KIND_THREAD traceback, the thread header line as printed
 *        (`Current thread 0x… (most recent call first):`); NULL otherwise.
 * @return a string borrowed from the traceback, valid until pydbg_traceback_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_traceback_thread_header(const pydbg_traceback *tb);

/**
 * @brief For a ::PYDBG_TB_KIND_THREAD traceback, the thread id of its header
 *        (0 when the header names none, as `Stack (most recent call first):`).
 * @note Thread-safe.
 */
PYDBG_API uint64_t pydbg_traceback_thread_id(const pydbg_traceback *tb);

/**
 * @brief For a `pydebug dump` thread block, the thread name quoted in its header; else NULL.
 * @return a string borrowed from the traceback, valid until pydbg_traceback_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_traceback_thread_name(const pydbg_traceback *tb);

/**
 * @brief 1 if the thread header is faulthandler's `Current thread 0x…` (the
 *        thread that crashed or dumped), else 0.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_traceback_thread_is_current(const pydbg_traceback *tb);

/** @brief Number of exceptions in the traceback's chain (1 for a thread block). @note Thread-safe. */
PYDBG_API size_t pydbg_traceback_exception_count(const pydbg_traceback *tb);

/**
 * @brief Exception @p index of the chain, in printed order (the last one ended the program).
 * @return a borrowed pointer valid until pydbg_traceback_free(); NULL if out of range.
 * @note Thread-safe.
 */
PYDBG_API const pydbg_tb_exception *pydbg_traceback_exception(const pydbg_traceback *tb,
                                                               size_t index);

/**
 * @brief The exception type as printed ("KeyError", "requests.exceptions.HTTPError"),
 *        or NULL for a thread block and for a traceback cut before its exception line.
 * @return a string borrowed from the traceback, valid until pydbg_traceback_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_tb_exception_type(const pydbg_tb_exception *exc);

/**
 * @brief The message as printed after "Type: ", lines joined with "\n"
 *        ("" when only the type was printed; NULL where the type is NULL).
 *
 * Notes added with `add_note()` (3.11+) are printed after the message and
 * cannot be told apart from it: they are part of it here.
 * @return a string borrowed from the traceback, valid until pydbg_traceback_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_tb_exception_message(const pydbg_tb_exception *exc);

/** @brief How the exception follows the previous one (a ::pydbg_tb_relation). @note Thread-safe. */
PYDBG_API int pydbg_tb_exception_relation(const pydbg_tb_exception *exc);

/**
 * @brief 1 if the exception had its own `Traceback (most recent call last):`
 *        (or `Exception Group Traceback …`) header, 0 if only its type line was printed.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_tb_exception_has_traceback(const pydbg_tb_exception *exc);

/** @brief Number of frames of the exception, as printed. @note Thread-safe. */
PYDBG_API size_t pydbg_tb_exception_frame_count(const pydbg_tb_exception *exc);

/**
 * @brief Frame @p index in printed order: outermost first for exceptions,
 *        innermost first for thread blocks.
 * @return a borrowed pointer valid until pydbg_traceback_free(); NULL if out of range.
 * @note Thread-safe.
 */
PYDBG_API const pydbg_tb_frame *pydbg_tb_exception_frame(const pydbg_tb_exception *exc,
                                                         size_t index);

/**
 * @brief 1 if the exception is an exception group printed with its
 *        sub-exception blocks (`+-+---- 1 ----`), else 0.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_tb_exception_is_group(const pydbg_tb_exception *exc);

/** @brief Number of sub-exception blocks printed for a group (0 otherwise). @note Thread-safe. */
PYDBG_API size_t pydbg_tb_exception_block_count(const pydbg_tb_exception *exc);

/**
 * @brief Sub-exception block @p index of a group, in printed order.
 * @return a borrowed pointer valid until pydbg_traceback_free(); NULL if out of range.
 * @note Thread-safe.
 */
PYDBG_API const pydbg_tb_block *pydbg_tb_exception_block(const pydbg_tb_exception *exc,
                                                         size_t index);

/**
 * @brief For a group printed with `... (N more exceptions)` (an `and N more
 *        exceptions` block), N; else 0.
 * @note Thread-safe.
 */
PYDBG_API uint64_t pydbg_tb_exception_more_exceptions(const pydbg_tb_exception *exc);

/**
 * @brief The SyntaxError location block printed before the type line
 *        (`  File "x.py", line 3` / source / caret), if any.
 *
 * @param exc          the exception.
 * @param[out] filename receives the file name (borrowed), or NULL if there is no block.
 * @param[out] line     receives the line number, -1 if none. May be NULL.
 * @param[out] text     receives the source text as printed, stripped, or NULL. May be NULL.
 * @param[out] column   receives the 0-based column of the first caret within @p text,
 *                      -1 if none. May be NULL.
 * @param[out] end_column receives the column after the last caret, -1 if none. May be NULL.
 * @return 1 if the exception has such a block, else 0.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_tb_exception_syntax(const pydbg_tb_exception *exc, const char **filename,
                                        int *line, const char **text, int *column,
                                        int *end_column);

/** @brief Number of exceptions in a sub-exception block's chain. @note Thread-safe. */
PYDBG_API size_t pydbg_tb_block_exception_count(const pydbg_tb_block *block);

/**
 * @brief Exception @p index of a block's chain, in printed order.
 * @return a borrowed pointer valid until pydbg_traceback_free(); NULL if out of range.
 * @note Thread-safe.
 */
PYDBG_API const pydbg_tb_exception *pydbg_tb_block_exception(const pydbg_tb_block *block,
                                                             size_t index);

/**
 * @brief 1 if the block was printed as `... (max_group_depth is N)` instead of
 *        its exceptions, else 0.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_tb_block_depth_limited(const pydbg_tb_block *block);

/**
 * @brief The frame's file name as printed ("???" when faulthandler had none).
 * @return a string borrowed from the traceback, valid until pydbg_traceback_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_tb_frame_filename(const pydbg_tb_frame *frame);

/** @brief The frame's line number, -1 when printed as "None" or "???". @note Thread-safe. */
PYDBG_API int pydbg_tb_frame_line(const pydbg_tb_frame *frame);

/**
 * @brief The frame's function name as printed.
 * @return a string borrowed from the traceback, valid until pydbg_traceback_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_tb_frame_function(const pydbg_tb_frame *frame);

/**
 * @brief The frame's source line as printed, stripped; NULL when none was printed.
 *        (3.13+ may print several lines of one expression: this is the first.)
 * @return a string borrowed from the traceback, valid until pydbg_traceback_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_tb_frame_source(const pydbg_tb_frame *frame);

/**
 * @brief The 3.11+ marker line under the source (`~~~^^^`), without the
 *        4-space indent and aligned with pydbg_tb_frame_source(); NULL when none.
 * @return a string borrowed from the traceback, valid until pydbg_traceback_free().
 * @note Thread-safe.
 */
PYDBG_API const char *pydbg_tb_frame_marker(const pydbg_tb_frame *frame);

/**
 * @brief N of a `[Previous line repeated N more times]` line printed after this
 *        frame: the frame stands for N + 1 identical ones in CPython's stack. 0 if none.
 * @note Thread-safe.
 */
PYDBG_API uint64_t pydbg_tb_frame_repeat(const pydbg_tb_frame *frame);

/**
 * @brief Formats a traceback as CPython's text or as JSON, into a new string.
 *
 * The text format gives back the traceback's lines as CPython printed them
 * (log prefixes, CR and colour codes removed). The JSON format is the object
 * `pydebug traceback --format json` prints for it, without a trailing newline.
 *
 * @param[out] out        receives a NUL-terminated string; free it with pydbg_tb_string_free().
 * @param[out] out_length receives its length without the NUL. May be NULL.
 * @param tb              the traceback.
 * @param format          a ::pydbg_tb_format.
 * @return #PYDBG_OK, #PYDBG_EINVAL, #PYDBG_ENOMEM.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_traceback_format(char **out, size_t *out_length, const pydbg_traceback *tb,
                                     int format);

/**
 * @brief Formats a traceback like pydbg_traceback_format(), into a caller buffer.
 *
 * Works like snprintf(): writes at most @p size bytes including the NUL and
 * always sets `*needed` to the full length (without the NUL).
 *
 * @param buffer     the destination, may be NULL when @p size is 0.
 * @param size       its size in bytes.
 * @param[out] needed receives the length of the full output. May be NULL.
 * @param tb         the traceback.
 * @param format     a ::pydbg_tb_format.
 * @return #PYDBG_OK if it fit; #PYDBG_ELIMIT if it was cut (retry with `*needed + 1`);
 *         #PYDBG_EINVAL; #PYDBG_ENOMEM.
 * @note Thread-safe.
 */
PYDBG_API int pydbg_traceback_format_into(char *buffer, size_t size, size_t *needed,
                                          const pydbg_traceback *tb, int format);

/**
 * @brief Frees a string returned by a libpydebug formatter; NULL is a no-op.
 * @param string the string to free.
 * @note Thread-safe.
 */
PYDBG_API void pydbg_tb_string_free(char *string);

/* ---- line tables --------------------------------------------------------------------- */

/** @brief The formats of code objects' line tables. */
typedef enum pydbg_linetable_format {
    /** `co_lnotab` of 2.7 (unsigned line deltas). */
    PYDBG_LINETABLE_LNOTAB_UNSIGNED = 0,
    /** `co_lnotab` of 3.6 to 3.9 (signed line deltas). */
    PYDBG_LINETABLE_LNOTAB = 1,
    /** `co_linetable` of 3.10. */
    PYDBG_LINETABLE_310 = 2,
    /** The location table (`co_linetable`) of 3.11+, with PEP 657 positions. */
    PYDBG_LINETABLE_LOCATIONS = 3
} pydbg_linetable_format;

/**
 * @brief The line-table format used by a CPython version.
 * @param python_hexversion `PY_VERSION_HEX` of the version (0x030B07F0 for 3.11.7).
 * @return a ::pydbg_linetable_format, or #PYDBG_EVERSION for versions without a known one.
 * @note Thread-safe and async-signal-safe.
 */
PYDBG_API int pydbg_linetable_format_for_version(uint32_t python_hexversion);

/**
 * @brief Finds the source position of one instruction in a raw line table.
 *
 * The table is the bytes of `co_lnotab` / `co_linetable` as Python gives them;
 * any byte string is safe input (never read past @p length, bounded work).
 *
 * @param[out] line       receives the line, -1 if the instruction has none. May be NULL.
 * @param[out] end_line   receives the last line (PEP 657), -1 where unknown. May be NULL.
 * @param[out] column     receives the 0-based UTF-8 start column, -1 where unknown. May be NULL.
 * @param[out] end_column receives the 0-based UTF-8 end column, -1 where unknown. May be NULL.
 * @param format          a ::pydbg_linetable_format.
 * @param table           the table's bytes (may be NULL when @p length is 0).
 * @param length          its length.
 * @param first_line      the code object's `co_firstlineno`.
 * @param offset          the instruction's byte offset in the bytecode (`f_lasti` in
 *                        bytes: 3.10's f_lasti and 3.11+'s instruction index times 2).
 * @return #PYDBG_OK; #PYDBG_ENOTFOUND if the 3.11+ table has no entry for @p offset
 *         (all outputs -1); #PYDBG_EINVAL for a bad format or a NULL table with a length.
 * @note Thread-safe and async-signal-safe.
 */
PYDBG_API int pydbg_linetable_lookup(int *line, int *end_line, int *column, int *end_column,
                                     int format, const uint8_t *table, size_t length,
                                     int first_line, int offset);

PYDBG_END_DECLS

#endif /* PYDEBUG_TRACEBACK_H */
