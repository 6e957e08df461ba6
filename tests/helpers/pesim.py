"""PE images as the Windows loader lays them out in memory, and the places in
a PE file that tests make lie.

The loader maps an image's headers at its load base and each section at
load base + VirtualAddress: the first min(SizeOfRawData, VirtualSize)
bytes from the file, zeros after, up to SizeOfImage.  `layout` does the
same to a file's bytes, so the reader's MM_PE_MEMORY path can be tested on
Linux with real images built by mingw-w64.

    python tests/helpers/pesim.py seeds DIR FILE...

writes each FILE laid out as DIR/NAME.memory, for the fuzzer's seeds.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

SECTION_SIZE = 40
EXPORT_DIR_SIZE = 40


@dataclass
class Section:
    name: bytes
    virtual_size: int
    virtual_address: int
    raw_size: int
    raw_offset: int
    characteristics: int
    header_offset: int  # where its 40-byte header is in the file


@dataclass
class Headers:
    """The fields of a PE file the tests need, with where they are."""

    pe_offset: int
    machine: int
    is64: bool
    optional_offset: int
    image_base: int
    size_of_image: int
    size_of_headers: int
    directories_offset: int  # file offset of data directory 0
    directories: list[tuple[int, int]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def rva_to_offset(self, rva: int) -> int:
        """The file offset of an RVA, as the reader's file path finds it."""
        if rva < self.size_of_headers:
            return rva
        for s in self.sections:
            extent = s.raw_size if not s.virtual_size else min(s.raw_size, s.virtual_size)
            if s.virtual_address <= rva < s.virtual_address + extent:
                return s.raw_offset + rva - s.virtual_address
        raise ValueError(f"RVA {rva:#x} is not in the file")

    def directory_offset(self, index: int) -> int:
        """The file offset of data directory index's (rva, size) pair."""
        return self.directories_offset + 8 * index

    def export_field(self, name: str) -> int:
        """The file offset of a field of the export directory."""
        fields = {
            "Name": 12,
            "Base": 16,
            "NumberOfFunctions": 20,
            "NumberOfNames": 24,
            "AddressOfFunctions": 28,
            "AddressOfNames": 32,
            "AddressOfNameOrdinals": 36,
        }
        return self.rva_to_offset(self.directories[0][0]) + fields[name]


def parse(data: bytes) -> Headers:
    pe_offset = struct.unpack_from("<I", data, 0x3C)[0]
    if data[pe_offset : pe_offset + 4] != b"PE\0\0":
        raise ValueError("no PE signature")
    machine, nsections = struct.unpack_from("<HH", data, pe_offset + 4)
    optional_size = struct.unpack_from("<H", data, pe_offset + 20)[0]
    opt = pe_offset + 24
    magic = struct.unpack_from("<H", data, opt)[0]
    is64 = magic == 0x20B
    image_base = (
        struct.unpack_from("<Q", data, opt + 24)[0]
        if is64
        else struct.unpack_from("<I", data, opt + 28)[0]
    )
    size_of_image, size_of_headers = struct.unpack_from("<II", data, opt + 56)
    dirs_at = opt + (112 if is64 else 96)
    count = struct.unpack_from("<I", data, dirs_at - 4)[0]
    headers = Headers(
        pe_offset,
        machine,
        is64,
        opt,
        image_base,
        size_of_image,
        size_of_headers,
        dirs_at,
        [struct.unpack_from("<II", data, dirs_at + 8 * i) for i in range(min(count, 16))],
    )
    at = opt + optional_size
    for i in range(nsections):
        p = at + i * SECTION_SIZE
        name = data[p : p + 8].rstrip(b"\0")
        vsize, va, raw_size, raw_offset = struct.unpack_from("<IIII", data, p + 8)
        characteristics = struct.unpack_from("<I", data, p + 36)[0]
        headers.sections.append(Section(name, vsize, va, raw_size, raw_offset, characteristics, p))
    return headers


def layout(data: bytes) -> bytes:
    """The image as the loader maps it: offset N is RVA N."""
    headers = parse(data)
    memory = bytearray(headers.size_of_image)
    memory[: headers.size_of_headers] = data[: headers.size_of_headers]
    for s in headers.sections:
        take = s.raw_size if not s.virtual_size else min(s.raw_size, s.virtual_size)
        chunk = data[s.raw_offset : s.raw_offset + take]
        memory[s.virtual_address : s.virtual_address + len(chunk)] = chunk
    return bytes(memory)


def put32(data: bytearray, offset: int, value: int) -> None:
    struct.pack_into("<I", data, offset, value & 0xFFFFFFFF)


def get32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "seeds":
        print("usage: pesim.py seeds DIR FILE...", file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in argv[2:]:
        path = Path(name)
        memory = layout(path.read_bytes())
        # The fuzzer's inputs are capped at 64 KiB: keep the headers and
        # what fits.
        (out / f"{path.name}.memory").write_bytes(memory[:65536])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
