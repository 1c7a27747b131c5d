/* JSON strings for the library's writers (stacks_format.c, tb_format.c).
 *
 * Text from a target or a log is not always UTF-8. Valid sequences pass
 * through; a byte outside one becomes the escape \ufffd, so the document stays
 * valid JSON whatever the input holds. Control characters are escaped. */
#ifndef PYDBG_UTIL_JSON_H
#define PYDBG_UTIL_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Where the bytes go: appends `length` bytes to the writer behind `context`. */
typedef void (*pydbg__json_sink)(void *context, const char *bytes, size_t length);

/* Writes `text` (`length` bytes) as a quoted JSON string. */
void pydbg__json_string(pydbg__json_sink sink, void *context, const char *text, size_t length);

/* The code point of the valid UTF-8 sequence at `s` (at most `n` bytes) and its
 * length (1 to 4), or 0 if there is none (overlong, surrogate, out of range). */
size_t pydbg__utf8_decode(const unsigned char *s, size_t n, uint32_t *code_point);

#endif
