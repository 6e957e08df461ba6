"""Hostile ELF files for the budget tests: legal enough to be taken for
images (an ELF header and a PT_LOAD that maps file offset 0), and made to
cost a reader that believes their headers.

- note_flood: 65534 program headers, all but one PT_NOTE over the same
  64 KiB of small notes, none a build-id.
- sparse: a file whose size is huge and whose section headers declare a
  .symtab and a .strtab of 250 MiB each, lying in a hole of the file.
- big_symtab: a real .symtab of millions of sized STT_FUNC symbols in an
  executable section: legal, on real data, within every cap, and long to
  index.

64-bit little-endian x86-64 (ET_DYN); the layouts are spelled out here so
that the tests do not depend on a toolchain to make them.
"""

from __future__ import annotations

import os
import struct
from array import array
from pathlib import Path

PAGE = 4096
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
SHDR = struct.Struct("<IIQQQQIIQQ")
PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_R = 1, 4
SHT_SYMTAB, SHT_STRTAB, SHT_PROGBITS = 2, 3, 1
SHF_ALLOC, SHF_EXECINSTR = 2, 4
STT_FUNC, STB_GLOBAL = 2, 1


def _ehdr(phoff: int, phnum: int, shoff: int, shnum: int, shstrndx: int) -> bytes:
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    return EHDR.pack(ident, 3, 62, 1, 0, phoff, shoff, 0, 64, 56, phnum, 64, shnum, shstrndx)


def note_flood(path: Path, notes: int = 65533, note_area: int = 64 << 10) -> Path:
    """The note flood: notes PT_NOTE headers (65533 + one PT_LOAD is the
    most e_phnum holds without PN_XNUM) over one area of 20-byte notes."""
    phoff = 64
    area = phoff + (notes + 1) * PHDR.size
    area = (area + 15) & ~15
    size = area + note_area
    note = struct.pack("<III4s4s", 4, 4, 1, b"XYZ\0", b"\0\0\0\0")
    body = note * (note_area // len(note))
    body += bytes(note_area - len(body))
    headers = [PHDR.pack(PT_LOAD, PF_R, 0, 0, 0, size, size, PAGE)]
    headers += [PHDR.pack(PT_NOTE, PF_R, area, area, area, note_area, note_area, 4)] * notes
    data = _ehdr(phoff, notes + 1, 0, 0, 0) + b"".join(headers)
    data += bytes(area - len(data)) + body
    path.write_bytes(data)
    return path


def sparse(path: Path, size: int = 64 << 30, table: int = 250 << 20) -> Path:
    """A sparse file of size bytes (a few KiB of real data): an ELF header,
    a PT_LOAD over its first page, and at its end the section headers of a
    .symtab and a .strtab of table bytes each, both in the hole between."""
    shstrtab = b"\0.symtab\0.strtab\0.shstrtab\0"
    tail = size - PAGE
    shoff = tail + 64
    sections = [
        SHDR.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        SHDR.pack(1, SHT_SYMTAB, 0, 0, 1 << 30, table // 24 * 24, 2, 1, 8, 24),
        SHDR.pack(9, SHT_STRTAB, 0, 0, 2 << 30, table, 0, 0, 1, 0),
        SHDR.pack(17, SHT_STRTAB, 0, 0, tail, len(shstrtab), 0, 0, 1, 0),
    ]
    head = _ehdr(64, 1, shoff, len(sections), 3)
    head += PHDR.pack(PT_LOAD, PF_R | PF_X, 0, 0, 0, PAGE, PAGE, PAGE)
    with open(path, "wb") as f:
        f.write(head + bytes(PAGE - len(head)))
        f.truncate(size)
        f.seek(tail)
        f.write(shstrtab + bytes(64 - len(shstrtab)) + b"".join(sections))
    return path


def big_symtab(path: Path, count: int) -> Path:
    """An ELF file with a .symtab of count global functions, each 16 bytes
    of a 16 * count byte executable .text (SHT_PROGBITS of no file bytes:
    the reader never reads code), all named "f", in descending address
    order so that sorting them is real work."""
    text_addr = 0x10000
    text_size = 16 * count
    strtab = b"\0f\0"
    shstrtab = b"\0.text\0.symtab\0.strtab\0.shstrtab\0"
    phoff = 64
    symoff = PAGE
    symsize = 24 * (count + 1)
    stroff = symoff + symsize
    shstroff = stroff + len(strtab)
    shoff = (shstroff + len(shstrtab) + 63) & ~63
    # One Elf64_Sym is three 8-byte words: (st_name, st_info, st_other,
    # st_shndx), st_value, st_size.
    words = array("Q", bytes(8 * 3 * (count + 1)))
    first = 1 | (STB_GLOBAL << 4 | STT_FUNC) << 32 | 1 << 48  # name 1, .text = 1
    words[3::3] = array("Q", [first]) * count
    words[4::3] = array("Q", range(text_addr + 16 * (count - 1), text_addr - 1, -16))
    words[5::3] = array("Q", [16]) * count
    sections = [
        SHDR.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        SHDR.pack(1, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, text_addr, 0, text_size, 0, 0, 16, 0),
        SHDR.pack(7, SHT_SYMTAB, 0, 0, symoff, symsize, 3, 1, 8, 24),
        SHDR.pack(15, SHT_STRTAB, 0, 0, stroff, len(strtab), 0, 0, 1, 0),
        SHDR.pack(23, SHT_STRTAB, 0, 0, shstroff, len(shstrtab), 0, 0, 1, 0),
    ]
    head = _ehdr(phoff, 1, shoff, len(sections), 4)
    head += PHDR.pack(PT_LOAD, PF_R | PF_X, 0, 0, 0, PAGE, PAGE, PAGE)
    with open(path, "wb") as f:
        f.write(head + bytes(PAGE - len(head)))
        words.tofile(f)
        f.write(strtab + shstrtab)
        f.write(bytes(shoff - f.tell()))
        f.write(b"".join(sections))
    return path


def allocated_bytes(path: Path) -> int:
    """What the file really holds on disk."""
    return os.stat(path).st_blocks * 512
