# -*- coding: utf-8 -*-
"""What the interpreter running this says about one function's line table (CPython 2.7
and 3.6+), for the bindings' tests of pydbg_linetable_lookup().

    python linetable_truth.py OUT

Writes to OUT, atomically:

    hexversion 51053296
    first_line 31
    table 8000970064...          (co_linetable from 3.10, co_lnotab before; hex)
    position OFFSET LINE END_LINE COLUMN END_COLUMN     (one per instruction)

OFFSET is the instruction's byte offset; the rest is what CPython gives for it (3.11+:
Instruction.positions; 3.10: co_lines(); before: dis.findlinestarts()), -1 for none.
"""
import binascii
import dis
import os
import sys


def sample(a, b):
    total = a + b
    if total > 3:
        return (a *
                b)
    for i in range(total):
        total += i
    return total


def positions(code):
    if sys.version_info >= (3, 11):
        for ins in dis.get_instructions(code):
            p = ins.positions
            yield (ins.offset, p.lineno, p.end_lineno, p.col_offset, p.end_col_offset)
    elif sys.version_info >= (3, 10):
        for start, end, line in code.co_lines():
            for offset in range(start, end, 2):
                yield (offset, line, None, None, None)
    else:
        starts = list(dis.findlinestarts(code))
        for offset in instruction_offsets(code):
            line = [ln for off, ln in starts if off <= offset][-1]
            yield (offset, line, None, None, None)


def instruction_offsets(code):
    if hasattr(dis, "get_instructions"):
        return [ins.offset for ins in dis.get_instructions(code)]
    # 2.7: one byte, or three for an opcode with an argument
    offsets, at, raw = [], 0, bytearray(code.co_code)
    while at < len(raw):
        offsets.append(at)
        at += 3 if raw[at] >= dis.HAVE_ARGUMENT else 1
    return offsets


def main(out):
    code = sample.__code__
    table = code.co_linetable if sys.version_info >= (3, 10) else code.co_lnotab
    lines = ["hexversion %d" % sys.hexversion, "first_line %d" % code.co_firstlineno,
             "table %s" % binascii.hexlify(table).decode("ascii")]
    for offset, line, end_line, column, end_column in positions(code):
        lines.append("position %d %s" % (offset, " ".join(
            str(-1 if v is None else v) for v in (line, end_line, column, end_column))))
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    main(sys.argv[1])
