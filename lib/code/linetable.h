/* Line table decoders: instruction offset -> source position, for every
 * CPython format. Pure functions over bytes copied out of a code object; they
 * never read past `length` and never loop more than `length` times, so any
 * byte string (torn, truncated, hostile) is safe input.
 *
 * `offset` is always a byte offset into the bytecode (f_lasti in bytes:
 * 3.10's f_lasti and 3.11+'s instruction index are multiplied by 2 first).
 * A negative offset (a frame that has not started) gives co_firstlineno, and
 * on 3.11+ columns 0, as CPython's PyCode_Addr2Line/Addr2Location do. */
#ifndef PYDBG_CODE_LINETABLE_H
#define PYDBG_CODE_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* A source position. Fields the format does not have are -1. */
typedef struct pydbg__position {
    int line, end_line, column, end_column;
} pydbg__position;

/* 2.7 - 3.9 co_lnotab: pairs of (bytecode delta, line delta); line deltas are
 * signed from 3.6 on (`signed_deltas`), unsigned in 2.7 / 3.5. */
int pydbg__lnotab_line(const uint8_t *table, size_t length, int first_line, int offset,
                       int signed_deltas);

/* 3.10 co_linetable: pairs of (bytecode delta, signed line delta), -128 = no line.
 * Returns -1 for an instruction that has no line. */
int pydbg__linetable310_line(const uint8_t *table, size_t length, int first_line, int offset);

/* 3.11+ location table (PEP 657). Fills `out`; fields without information are -1.
 * Returns 0 if the offset was found in the table, -1 if not (out all -1). */
int pydbg__locations_lookup(const uint8_t *table, size_t length, int first_line, int offset,
                            pydbg__position *out);

#endif
