/* Line table decoders. The formats are CPython's (Objects/lnotab_notes.txt for
 * 2.7 - 3.10, Objects/locations.md for 3.11+); the answers are those of the
 * interpreter's own PyCode_Addr2Line / PyCode_Addr2Location, which is what a
 * frame's f_lineno and a traceback show. tests/unit/test_linetable.c checks
 * them against every installed CPython.
 *
 * The tables come out of another process and may be torn or not tables at
 * all, so: every loop walks the table forward and stops at `length`; address
 * sums stop growing once they pass `offset`; line sums are kept in 64 bits
 * and clamped into int after every step, so a hostile table can pin a line at
 * INT_MAX/INT_MIN but never overflow. */
#include "code/linetable.h"

#include <limits.h>
#include <stdbool.h>

static int64_t clamp_to_int(int64_t v)
{
    if (v > INT_MAX) {
        return INT_MAX;
    }
    if (v < INT_MIN) {
        return INT_MIN;
    }
    return v;
}

/* Two's-complement reading of a byte without relying on the
 * implementation-defined conversion to int8_t. */
static int signed_byte(uint8_t b)
{
    return b < 0x80 ? (int)b : (int)b - 0x100;
}

int pydbg__lnotab_line(const uint8_t *table, size_t length, int first_line, int offset,
                       int signed_deltas)
{
    if (table == NULL) {
        length = 0;
    }
    int64_t line = first_line;
    int64_t addr = 0;
    /* An odd trailing byte is half a pair; CPython ignores it too (size / 2). */
    for (size_t i = 0; i + 1 < length; i += 2) {
        addr += table[i];
        if (addr > offset) {
            break;
        }
        int delta = signed_deltas ? signed_byte(table[i + 1]) : (int)table[i + 1];
        line = clamp_to_int(line + delta);
    }
    return (int)line;
}

int pydbg__linetable310_line(const uint8_t *table, size_t length, int first_line, int offset)
{
    /* CPython answers co_firstlineno for a frame that has not started (f_lasti -1). */
    if (offset < 0) {
        return first_line;
    }
    if (table == NULL) {
        length = 0;
    }
    int64_t line = first_line;
    int64_t end = 0;
    for (size_t i = 0; i + 1 < length; i += 2) {
        end += table[i];
        int delta = signed_byte(table[i + 1]);
        bool no_line = delta == -128;
        if (!no_line) {
            line = clamp_to_int(line + delta);
        }
        /* Every earlier entry ended at or before `offset`, so this is the entry
         * whose [start, end) holds it; zero-length entries (used to carry line
         * deltas beyond +-127) can never match. */
        if (offset < end) {
            return no_line ? -1 : (int)line;
        }
    }
    return -1;
}

/* --- 3.11+ location table --------------------------------------------------------- */

enum {
    LOC_ONE_LINE0 = 10,
    LOC_ONE_LINE2 = 12,
    LOC_NO_COLUMNS = 13,
    LOC_LONG = 14,
    LOC_NONE = 15,
};

typedef struct loc_cursor {
    const uint8_t *p;
    const uint8_t *end;
    bool bad; /* ran off the table or into the next entry's first byte */
} loc_cursor;

/* A byte inside an entry: its top bit is clear, a set top bit starts the next entry. */
static unsigned read_payload_byte(loc_cursor *c)
{
    if (c->bad || c->p >= c->end || (*c->p & 0x80) != 0) {
        c->bad = true;
        return 0;
    }
    return *c->p++;
}

/* 6-bit chunks, least significant first, bit 6 = more follow. Values beyond 32
 * bits (never written by CPython) saturate to 0xfffffffe or 0xffffffff, keeping
 * bit 0 (the sign of a signed varint); the chunks are still consumed so the
 * next entry starts where it should. */
static uint32_t read_varint(loc_cursor *c)
{
    uint64_t value = 0;
    unsigned shift = 0;
    bool overflow = false;
    for (;;) {
        unsigned b = read_payload_byte(c);
        if (c->bad) {
            return 0;
        }
        if (shift < 36) {
            value |= (uint64_t)(b & 63) << shift;
            shift += 6;
        } else if ((b & 63) != 0) {
            overflow = true;
        }
        if ((b & 64) == 0) {
            break;
        }
    }
    if (overflow || value > UINT32_MAX) {
        return (UINT32_MAX - 1) | (uint32_t)(value & 1);
    }
    return (uint32_t)value;
}

/* Zig-zag-like: the low bit is the sign, the rest the magnitude. */
static int64_t read_svarint(loc_cursor *c)
{
    uint32_t u = read_varint(c);
    return (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
}

int pydbg__locations_lookup(const uint8_t *table, size_t length, int first_line, int offset,
                            pydbg__position *out)
{
    static const pydbg__position none = {-1, -1, -1, -1};
    if (out == NULL) {
        return -1;
    }
    *out = none;
    /* As PyCode_Addr2Location: a frame that has not started (prev_instr before
     * the first instruction) is at the first line, column 0. */
    if (offset < 0) {
        *out = (pydbg__position){first_line, first_line, 0, 0};
        return 0;
    }
    if (table == NULL || length == 0) {
        return -1; /* also keeps `table + length` off a null pointer */
    }
    loc_cursor c = {table, table + length, false};
    int64_t line = first_line;
    int64_t end = 0;
    /* Each pass consumes at least the entry's first byte. */
    while (c.p < c.end) {
        unsigned head = *c.p++;
        if ((head & 0x80) == 0) {
            return -1; /* not the start of an entry: not a location table */
        }
        unsigned code = (head >> 3) & 15;
        /* Length in 2-byte code units, 1 to 8. */
        end += (int64_t)((head & 7) + 1) * 2;
        pydbg__position pos = none;
        if (code == LOC_NONE) {
            /* No location, and the running line is left as it was. */
        } else if (code == LOC_LONG) {
            line = clamp_to_int(line + read_svarint(&c));
            pos.line = (int)line;
            pos.end_line = (int)clamp_to_int(line + read_varint(&c));
            /* Columns are stored plus one, so that 0 can mean "none" (-1). */
            pos.column = (int)clamp_to_int((int64_t)read_varint(&c) - 1);
            pos.end_column = (int)clamp_to_int((int64_t)read_varint(&c) - 1);
        } else if (code == LOC_NO_COLUMNS) {
            line = clamp_to_int(line + read_svarint(&c));
            pos.line = pos.end_line = (int)line;
        } else if (code >= LOC_ONE_LINE0 && code <= LOC_ONE_LINE2) {
            line = clamp_to_int(line + (code - LOC_ONE_LINE0));
            pos.line = pos.end_line = (int)line;
            pos.column = (int)read_payload_byte(&c);
            pos.end_column = (int)read_payload_byte(&c);
        } else {
            /* Short forms 0-9: same line, column = code * 8 + high 3 bits of the
             * payload, end column = column + low 4 bits. */
            unsigned b = read_payload_byte(&c);
            pos.line = pos.end_line = (int)line;
            pos.column = (int)(code * 8 + (b >> 4));
            pos.end_column = pos.column + (int)(b & 15);
        }
        if (c.bad) {
            return -1; /* a truncated entry: the rest of the table is unknown */
        }
        if (offset < end) {
            *out = pos;
            return 0;
        }
    }
    return -1;
}
