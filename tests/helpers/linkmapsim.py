"""A target's memory holding the dynamic linker's r_debug and link_map
records, put together in Python for the tests of formats/link_map.c.

The layout is glibc's <link.h>: every field of struct r_debug
(r_debug_extended: r_next after r_ldbase) and of the public head of
struct link_map (l_addr, l_name, l_ld, l_next, l_prev) is one pointer-sized
word, the ints of r_version and r_state in the first four bytes of theirs.
The dynamic array is (d_tag, d_val) pairs of words.

Run as a script it writes seed inputs for the fuzzer
(``python tests/helpers/linkmapsim.py seeds DIR``), in the layout
tests/fuzz/fuzz_link_map.c reads.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

DT_NULL, DT_NEEDED, DT_DEBUG = 0, 1, 21
RT_CONSISTENT, RT_ADD, RT_DELETE = 0, 1, 2

#: Where tests/fuzz/fuzz_link_map.c puts its memory.
FUZZ_BASE = 0x10000


@dataclass
class Memory:
    """Bytes at addresses base onwards, filled by allocation."""

    base: int = 0x10000
    pointer_size: int = 8
    big_endian: bool = False
    data: bytearray = field(default_factory=bytearray)

    @property
    def end(self) -> int:
        return self.base + len(self.data)

    def alloc(self, size: int, align: int = 16) -> int:
        pad = -len(self.data) % align
        self.data += bytes(pad + size)
        return self.end - size

    def put(self, addr: int, raw: bytes) -> None:
        offset = addr - self.base
        assert offset >= 0 and offset + len(raw) <= len(self.data), hex(addr)
        self.data[offset : offset + len(raw)] = raw

    def word_bytes(self, value: int) -> bytes:
        order = ">" if self.big_endian else "<"
        return struct.pack(order + ("Q" if self.pointer_size == 8 else "I"), value)

    def put_word(self, addr: int, index: int, value: int) -> None:
        self.put(addr + index * self.pointer_size, self.word_bytes(value))

    def put_int(self, addr: int, index: int, value: int) -> None:
        order = ">" if self.big_endian else "<"
        self.put(addr + index * self.pointer_size, struct.pack(order + "i", value))

    def string(self, text: bytes, align: int = 1) -> int:
        addr = self.alloc(len(text) + 1, align)
        self.put(addr, text + b"\0")
        return addr

    def pad_to(self, multiple: int) -> None:
        self.data += bytes(-len(self.data) % multiple)


# Word indexes, as formats/link_map.c names them.
R_VERSION, R_MAP, R_BRK, R_STATE, R_LDBASE, R_NEXT = range(6)
L_ADDR, L_NAME, L_LD, L_NEXT, L_PREV = range(5)


@dataclass
class Chain:
    """The memory, where its r_debug is, and each link_map's address."""

    memory: Memory
    r_debug: int
    maps: list[int]
    names: list[int]
    namespaces: list[int] = field(default_factory=list)

    def link(self, index: int, field_index: int, value: int) -> None:
        """Sets one word of link_map index (a lie, for the hostile cases)."""
        self.memory.put_word(self.maps[index], field_index, value)


def r_debug_record(memory: Memory, version: int, state: int, first: int, ldbase: int) -> int:
    addr = memory.alloc(6 * memory.pointer_size)
    memory.put_int(addr, R_VERSION, version)
    memory.put_word(addr, R_MAP, first)
    memory.put_word(addr, R_BRK, 0x1234)
    memory.put_int(addr, R_STATE, state)
    memory.put_word(addr, R_LDBASE, ldbase)
    return addr


def build_chain(
    objects: list[tuple[int, bytes | None, int]],
    *,
    pointer_size: int = 8,
    big_endian: bool = False,
    base: int = 0x10000,
    version: int = 1,
    state: int = RT_CONSISTENT,
    ldbase: int = 0x7F0000000000,
    namespaces: int = 0,
) -> Chain:
    """A chain of link_maps for objects (l_addr, l_name or None for a null
    pointer, l_ld), in order, with the r_debug first in memory, and
    namespaces more r_debug_extended records behind r_next (version 2)."""
    memory = Memory(base, pointer_size, big_endian)
    if pointer_size == 4:
        ldbase &= 0xFFFFFFFF
    r_debug = r_debug_record(memory, version, state, 0, ldbase)
    names = [0 if name is None else memory.string(name) for _, name, _ in objects]
    maps = [memory.alloc(5 * pointer_size) for _ in objects]
    for i, (addr, _name, ld) in enumerate(objects):
        memory.put_word(maps[i], L_ADDR, addr)
        memory.put_word(maps[i], L_NAME, names[i])
        memory.put_word(maps[i], L_LD, ld)
        memory.put_word(maps[i], L_NEXT, maps[i + 1] if i + 1 < len(maps) else 0)
        memory.put_word(maps[i], L_PREV, maps[i - 1] if i > 0 else 0)
    memory.put_word(r_debug, R_MAP, maps[0] if maps else 0)
    records = []
    previous = r_debug
    for _ in range(namespaces):
        record = r_debug_record(memory, 2, RT_CONSISTENT, 0, ldbase)
        memory.put_word(previous, R_NEXT, record)
        records.append(record)
        previous = record
    return Chain(memory, r_debug, maps, names, records)


def dynamic_array(memory: Memory, entries: list[tuple[int, int]], align: int = 16) -> int:
    """A dynamic array of (d_tag, d_val) entries, as given (add DT_NULL)."""
    size = 2 * memory.pointer_size
    addr = memory.alloc(size * len(entries), align)
    for i, (tag, value) in enumerate(entries):
        memory.put_word(addr + i * size, 0, tag)
        memory.put_word(addr + i * size, 1, value)
    return addr


def fuzz_input(memory: Memory, r_debug: int, dynamic: int) -> bytes:
    """The layout fuzz_link_map.c reads: a flags byte (1: 4-byte pointers,
    2: big-endian), the r_debug and the dynamic array as 32-bit offsets
    from FUZZ_BASE, then the memory at FUZZ_BASE."""
    assert memory.base == FUZZ_BASE
    flags = (1 if memory.pointer_size == 4 else 0) | (2 if memory.big_endian else 0)
    return struct.pack("<BII", flags, r_debug - FUZZ_BASE, dynamic - FUZZ_BASE) + bytes(memory.data)


def seeds(folder: Path) -> None:
    """Fuzzer seeds: chains of a few objects for 8- and 4-byte pointers in
    both byte orders, a loop, a torn link, namespaces, and a dynamic array
    pointing at the r_debug."""
    folder.mkdir(parents=True, exist_ok=True)
    objects = [
        (0x555555554000, b"", 0x555555557DE0),
        (0x7FFFF7FC1000, b"linux-vdso.so.1", 0x7FFFF7FC1448),
        (0x7FFFF7DA0000, b"/lib/x86_64-linux-gnu/libc.so.6", 0x7FFFF7F94B60),
        (0x7FFFF7FC3000, b"/lib64/ld-linux-x86-64.so.2", 0x7FFFF7FFDE40),
        (0x7FFFF7000000, None, 0),
    ]
    count = 0
    for pointer_size in (8, 4):
        for big_endian in (False, True):
            for case in ("whole", "loop", "torn", "namespaces", "adding"):
                mask = (1 << (8 * pointer_size)) - 1
                chain = build_chain(
                    [(a & mask, n, d & mask) for a, n, d in objects],
                    pointer_size=pointer_size,
                    big_endian=big_endian,
                    base=FUZZ_BASE,
                    version=2 if case == "namespaces" else 1,
                    state=RT_ADD if case == "adding" else RT_CONSISTENT,
                    namespaces=2 if case == "namespaces" else 0,
                )
                if case == "loop":
                    chain.link(3, L_NEXT, chain.maps[1])
                if case == "torn":
                    chain.link(2, L_PREV, chain.maps[0])
                dynamic = dynamic_array(
                    chain.memory,
                    [(DT_NEEDED, 1), (DT_DEBUG, chain.r_debug), (DT_NULL, 0)],
                )
                out = folder / f"chain-{pointer_size * 8}-{'be' if big_endian else 'le'}-{case}"
                out.write_bytes(fuzz_input(chain.memory, chain.r_debug, dynamic))
                count += 1
    print(f"linkmapsim: {count} seeds in {folder}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "seeds":
        seeds(Path(sys.argv[2]))
    else:
        sys.exit("usage: linkmapsim.py seeds DIR")
