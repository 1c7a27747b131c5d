#!/usr/bin/env python3
"""Writes the seed of fuzz_core: a small ELF core laid out as the kernel writes one
(ELF header, program headers, a PT_NOTE with NT_PRSTATUS x2, NT_PRPSINFO, NT_AUXV
and NT_FILE, then the PT_LOAD data; one segment only partly dumped).

    make_core_seed.py tests/fuzz/seeds/fuzz_core/small.core
"""
import struct
import sys


def note(kind, desc):
    name = b"CORE\0\0\0\0"
    pad = b"\0" * ((4 - len(desc) % 4) % 4)
    return struct.pack("<III", 5, len(desc), kind) + name + desc + pad


def main(out):
    notes = b""
    for tid in (4242, 4243):
        prstatus = bytearray(336)
        struct.pack_into("<i", prstatus, 32, tid)
        notes += note(1, bytes(prstatus))
    prpsinfo = bytearray(136)
    struct.pack_into("<i", prpsinfo, 24, 4242)
    prpsinfo[40:50] = b"python3.11"
    prpsinfo[56:74] = b"python3.11 -c pass"
    notes += note(3, bytes(prpsinfo))
    notes += note(6, struct.pack("<6Q", 3, 0x400040, 9, 0x400100, 0, 0))
    files = [(0x400000, 0x402000, 0, b"/usr/bin/python3.11"),
             (0x600000, 0x601000, 3, b"/lib/x86_64-linux-gnu/libc.so.6 (deleted)")]
    desc = struct.pack("<QQ", len(files), 4096)
    desc += b"".join(struct.pack("<QQQ", s, e, o) for s, e, o, _ in files)
    desc += b"".join(p + b"\0" for _, _, _, p in files)
    notes += note(0x46494C45, desc)

    loads = [(0x400000, 0x2000, 64, 5), (0x600000, 0x1000, 64, 6), (0x7f0000, 64, 64, 6)]
    phnum = 1 + len(loads)
    note_off = 64 + 56 * phnum
    data_off = note_off + len(notes)
    ehdr = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    ehdr += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    phdrs = struct.pack("<IIQQQQQQ", 4, 0, note_off, 0, 0, len(notes), 0, 4)
    data = b""
    for vaddr, memsz, filesz, flags in loads:
        phdrs += struct.pack("<IIQQQQQQ", 1, flags, data_off + len(data), vaddr, 0, filesz,
                             memsz, 4096)
        data += bytes((vaddr >> 12) + i & 0xFF for i in range(filesz))
    with open(out, "wb") as f:
        f.write(ehdr + phdrs + notes + data)


if __name__ == "__main__":
    main(sys.argv[1])
