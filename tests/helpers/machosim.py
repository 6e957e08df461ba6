"""Mach-O files taken apart, and macOS process memory put together, in Python.

Just enough of Apple's formats for the tests of the portable readers
(memmaps/native/mm_macho.c and mm_dyld.c) to build their inputs: where the
load commands, segments and LC_SYMTAB are in a real file (to make them lie),
an image laid out in memory the way dyld maps it, and a simulated target's
memory holding dyld's ``dyld_all_image_infos`` and ``dyld_image_info``
records with the layout of Apple's <mach-o/dyld_images.h>.

Run as a script it writes seed inputs for the fuzzer
(``python tests/helpers/machosim.py seeds DIR FILE...``).
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

MH_MAGIC = 0xFEEDFACE
MH_MAGIC_64 = 0xFEEDFACF
FAT_MAGIC = 0xCAFEBABE
LC_SEGMENT = 0x1
LC_SYMTAB = 0x2
LC_SEGMENT_64 = 0x19
LC_UUID = 0x1B
CPU_X86_64 = 0x01000007
CPU_ARM64 = 0x0100000C


@dataclass
class Segment:
    name: str
    command: int  # file offset of its load command
    cmd: int
    vmaddr: int
    vmsize: int
    fileoff: int
    filesize: int
    maxprot: int
    initprot: int


@dataclass
class MachO:
    """One thin image: where everything is, as file offsets of ``data``."""

    data: bytearray
    base: int  # where the image starts in data (a fat file's slice)
    order: str  # "<" or ">"
    is64: bool
    ncmds: int
    sizeofcmds: int
    commands: list[tuple[int, int, int]] = field(default_factory=list)  # (offset, cmd, cmdsize)
    segments: list[Segment] = field(default_factory=list)
    symtab: int | None = None  # file offset of LC_SYMTAB
    uuid: bytes | None = None

    @property
    def header_size(self) -> int:
        return 32 if self.is64 else 28

    def get(self, at: int, fmt: str) -> int:
        return int(struct.unpack_from(self.order + fmt, self.data, at)[0])

    def put(self, at: int, fmt: str, value: int) -> None:
        struct.pack_into(self.order + fmt, self.data, at, value)

    def segment(self, name: str) -> Segment:
        for s in self.segments:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def text(self) -> Segment:
        """The segment the header starts (dyld's getSlide(): __TEXT)."""
        for s in self.segments:
            if s.name == "__TEXT":
                return s
        return next(s for s in self.segments if s.fileoff == 0 and s.filesize)

    def symtab_fields(self) -> dict[str, int]:
        assert self.symtab is not None
        names = ("symoff", "nsyms", "stroff", "strsize")
        return {n: self.get(self.symtab + 8 + 4 * i, "I") for i, n in enumerate(names)}

    def set_symtab(self, **values: int) -> None:
        assert self.symtab is not None
        names = ("symoff", "nsyms", "stroff", "strsize")
        for key, value in values.items():
            self.put(self.symtab + 8 + 4 * names.index(key), "I", value)

    def nlist(self, name: str) -> int:
        """The file offset of the defined (not stab) nlist entry for name."""
        t = self.symtab_fields()
        size = 16 if self.is64 else 12
        for i in range(t["nsyms"]):
            at = self.base + t["symoff"] + i * size
            strx = self.get(at, "I")
            start = self.base + t["stroff"] + strx
            text = bytes(self.data[start : self.data.index(0, start)])
            if text == name.encode() and not self.data[at + 4] & 0xE0:
                return at
        raise KeyError(name)

    def set_segment(self, name: str, key: str, value: int) -> None:
        s = self.segment(name)
        layout = {
            LC_SEGMENT_64: {"vmaddr": (24, "Q"), "vmsize": (32, "Q"), "fileoff": (40, "Q"),
                            "filesize": (48, "Q"), "nsects": (64, "I")},
            LC_SEGMENT: {"vmaddr": (24, "I"), "vmsize": (28, "I"), "fileoff": (32, "I"),
                         "filesize": (36, "I"), "nsects": (48, "I")},
        }[s.cmd]  # fmt: skip
        at, fmt = layout[key]
        self.put(s.command + at, fmt, value)


def fat_slices(data: bytes) -> list[tuple[int, int, int]]:
    """(cputype, offset, size) of each architecture of a fat file, or []."""
    if len(data) < 8 or struct.unpack_from(">I", data)[0] != FAT_MAGIC:
        return []
    count = struct.unpack_from(">I", data, 4)[0]
    slices = []
    for i in range(count):
        cputype, _, offset, size, _ = struct.unpack_from(">5I", data, 8 + 20 * i)
        slices.append((cputype, offset, size))
    return slices


def parse(data: bytes | bytearray, cputype: int | None = None) -> MachO:
    """The image in data (of a fat file: cputype's, or the first)."""
    buf = bytearray(data)
    base = 0
    slices = fat_slices(buf)
    if slices:
        chosen = [s for s in slices if cputype is None or s[0] == cputype]
        base = chosen[0][1]
    magic_le = struct.unpack_from("<I", buf, base)[0]
    order = "<" if magic_le in (MH_MAGIC, MH_MAGIC_64) else ">"
    magic = struct.unpack_from(order + "I", buf, base)[0]
    if magic not in (MH_MAGIC, MH_MAGIC_64):
        raise ValueError("not a Mach-O image")
    is64 = magic == MH_MAGIC_64
    ncmds, sizeofcmds = struct.unpack_from(order + "2I", buf, base + 16)
    m = MachO(buf, base, order, is64, ncmds, sizeofcmds)
    at = base + m.header_size
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from(order + "2I", buf, at)
        m.commands.append((at, cmd, cmdsize))
        if cmd in (LC_SEGMENT, LC_SEGMENT_64):
            name = bytes(buf[at + 8 : at + 24]).rstrip(b"\0").decode()
            if cmd == LC_SEGMENT_64:
                values = struct.unpack_from(order + "4Q2i", buf, at + 24)
            else:
                values = struct.unpack_from(order + "4I2i", buf, at + 24)
            m.segments.append(Segment(name, at, cmd, *values))
        elif cmd == LC_SYMTAB:
            m.symtab = at
        elif cmd == LC_UUID:
            m.uuid = bytes(buf[at + 8 : at + 24])
        at += cmdsize
    return m


def byteswap(data: bytes) -> bytes:
    """A big-endian (MH_CIGAM) copy of a little-endian thin image: the
    header, the segment, section, LC_UUID and LC_SYMTAB commands and the
    nlist table swapped (other commands only in their cmd and cmdsize,
    which is all the reader looks at)."""
    m = parse(data)
    out = bytearray(data)
    # Other commands llvm-objdump checks, as (32-bit words, 64-bit words)
    # after cmd and cmdsize (strings after them are bytes: not swapped).
    words = {
        0xB: (18, 0),  # LC_DYSYMTAB
        0xC: (4, 0),  # LC_LOAD_DYLIB
        0xD: (4, 0),  # LC_ID_DYLIB
        0xE: (1, 0),  # LC_LOAD_DYLINKER
        0x18 | 0x80000000: (4, 0),  # LC_LOAD_WEAK_DYLIB
        0x1D: (2, 0),  # LC_CODE_SIGNATURE
        0x22: (10, 0),  # LC_DYLD_INFO
        0x22 | 0x80000000: (10, 0),  # LC_DYLD_INFO_ONLY
        0x26: (2, 0),  # LC_FUNCTION_STARTS
        0x29: (2, 0),  # LC_DATA_IN_CODE
        0x2A: (0, 1),  # LC_SOURCE_VERSION
        0x28 | 0x80000000: (0, 2),  # LC_MAIN
        0x33 | 0x80000000: (2, 0),  # LC_DYLD_EXPORTS_TRIE
        0x34 | 0x80000000: (2, 0),  # LC_DYLD_CHAINED_FIXUPS
        0x1C | 0x80000000: (1, 0),  # LC_RPATH
        0x24: (2, 0),  # LC_VERSION_MIN_MACOSX
    }

    def swap(at: int, fmt: str) -> None:
        (value,) = struct.unpack_from("<" + fmt, data, at)
        struct.pack_into(">" + fmt, out, at, value)

    for k in range(7 + m.is64):
        swap(4 * k, "I")
    for at, cmd, _ in m.commands:
        swap(at, "I")
        swap(at + 4, "I")
        if cmd in (LC_SEGMENT, LC_SEGMENT_64):
            word = "Q" if cmd == LC_SEGMENT_64 else "I"
            step = 8 if cmd == LC_SEGMENT_64 else 4
            for k in range(4):
                swap(at + 24 + step * k, word)
            fixed = at + 24 + 4 * step
            for k in range(4):
                swap(fixed + 4 * k, "I")
            nsects = struct.unpack_from("<I", data, fixed + 8)[0]
            sect = fixed + 16
            size = 80 if cmd == LC_SEGMENT_64 else 68
            for s in range(nsects):
                p = sect + s * size + 32
                swap(p, word)  # addr
                swap(p + step, word)  # size
                for k in range(8 if cmd == LC_SEGMENT_64 else 7):
                    swap(p + 2 * step + 4 * k, "I")
        elif cmd == LC_SYMTAB:
            for k in range(4):
                swap(at + 8 + 4 * k, "I")
        elif cmd == 0x32:  # LC_BUILD_VERSION: platform, minos, sdk, ntools, tools
            ntools = struct.unpack_from("<I", data, at + 20)[0]
            for k in range(4 + 2 * ntools):
                swap(at + 8 + 4 * k, "I")
        elif cmd in words:
            n32, n64 = words[cmd]
            for k in range(n32):
                swap(at + 8 + 4 * k, "I")
            for k in range(n64):
                swap(at + 8 + 8 * k, "Q")
    if m.symtab is not None:
        t = m.symtab_fields()
        size = 16 if m.is64 else 12
        for i in range(t["nsyms"]):
            at = t["symoff"] + i * size
            swap(at, "I")
            swap(at + 6, "H")
            swap(at + 8, "Q" if m.is64 else "I")
    return bytes(out)


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------


class Memory:
    """A sparse simulated address space, written into and then saved as one
    blob (zeros in the gaps) starting at ``base``."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.blob = bytearray()

    def write(self, addr: int, data: bytes) -> None:
        assert addr >= self.base, hex(addr)
        at = addr - self.base
        if len(self.blob) < at + len(data):
            self.blob.extend(bytes(at + len(data) - len(self.blob)))
        self.blob[at : at + len(data)] = data

    @property
    def end(self) -> int:
        return self.base + len(self.blob)

    def region_arg(self, path: Path) -> str:
        path.write_bytes(bytes(self.blob))
        return f"{self.base:#x}:{path}"


def image_segments(data: bytes, cputype: int | None = None) -> list[tuple[int, bytes]]:
    """(vmaddr, file bytes) of each segment with file bytes, unslid."""
    m = parse(data, cputype)
    out = []
    for s in m.segments:
        if s.filesize:
            start = m.base + s.fileoff
            out.append((s.vmaddr, bytes(m.data[start : start + s.filesize])))
    return out


def cache_relative(data: bytes, shift: int) -> bytes:
    """A copy of a thin 64-bit image whose load commands count file offsets
    from somewhere else, as a dylib's in the dyld shared cache count them
    from the start of the cache: every segment's fileoff and LC_SYMTAB's
    symoff and stroff moved by shift.  Its segments' bytes stay where they
    are in data (laid out by vmaddr, so only the load commands change)."""
    m = parse(data)
    assert m.is64 and m.symtab is not None
    for s in m.segments:
        if s.filesize:
            m.set_segment(s.name, "fileoff", s.fileoff + shift)
    t = m.symtab_fields()
    m.set_symtab(symoff=t["symoff"] + shift, stroff=t["stroff"] + shift)
    return bytes(m.data)


def lay_out(
    memory: Memory,
    data: bytes,
    slide: int,
    header: bytes | None = None,
    content: bytes | None = None,
) -> None:
    """Maps the image's segments at vmaddr + slide.  header (the same
    image with other, maybe lying, load commands) then replaces the header
    and load commands in memory (as many bytes as data's take); content (a
    changed copy of data) gives the bytes mapped, where data's load
    commands said they are."""
    m = parse(data)
    source = data if content is None else content
    for s in m.segments:
        if s.filesize:
            start = m.base + s.fileoff
            memory.write((s.vmaddr + slide) % 2**64, source[start : start + s.filesize])
    if header is not None:
        memory.write((m.text.vmaddr + slide) % 2**64, header[: m.header_size + m.sizeofcmds])


# dyld_all_image_infos offsets for pointers of p bytes (see mm_dyld.c).
def infos_offsets(p: int) -> dict[str, int]:
    return {
        "version": 0,
        "infoArrayCount": 4,
        "infoArray": 8,
        "notification": 8 + p,
        "processDetachedFromSharedRegion": 8 + 2 * p,
        "libSystemInitialized": 8 + 2 * p + 1,
        "dyldImageLoadAddress": 8 + 3 * p,
        "jitInfo": 8 + 4 * p,
        "dyldVersion": 8 + 5 * p,
        "sharedCacheSlide": 8 + 18 * p,
        "sharedCacheUUID": 8 + 19 * p,
        "sharedCacheBaseAddress": 24 + 19 * p,
        "infoArrayChangeTimestamp": 24 + 20 * p,
        "dyldPath": 32 + 20 * p,
        "end": 32 + 21 * p,
    }


@dataclass
class SimImage:
    path: bytes | None
    data: bytes  # a thin Mach-O image
    slide: int = 0
    load: int = 0
    mod_date: int = 0


@dataclass
class DyldSim:
    memory: Memory
    infos: int
    pointer_size: int
    version: int
    images: list[SimImage]
    dyld: SimImage | None
    shared_cache_slide: int
    shared_cache_base: int
    shared_cache_uuid: bytes
    info_array: int


def page_up(value: int, page: int = 0x1000) -> int:
    return (value + page - 1) // page * page


def build_dyld(
    images: list[SimImage],
    *,
    version: int = 16,
    pointer_size: int = 8,
    base: int | None = None,
    dyld: SimImage | None = None,
    dyld_in_array: bool = False,
    shared_cache_slide: int = 0x2A4C000,
    shared_cache_base: int | None = None,
    shared_cache_uuid: bytes = bytes(range(0xA0, 0xB0)),
    timestamp: int = 12345,
) -> DyldSim:
    """A target's memory as dyld leaves it: the record at its start, then
    the infoArray, then the path strings, then each image mapped at a slide
    that puts it on its own pages after them (the slide is whatever makes
    load address - __TEXT vmaddr land there, as ASLR would)."""
    p = pointer_size
    if base is None:
        base = 0x7000_0000_0000 if p == 8 else 0x1000_0000
    if shared_cache_base is None:
        shared_cache_base = 0x7FF8_0000_0000 if p == 8 else 0x9000_0000
    word = "<Q" if p == 8 else "<I"
    memory = Memory(base)
    infos = base
    offsets = infos_offsets(p)
    listed = [*images, dyld] if dyld_in_array and dyld is not None else list(images)
    info_array = base + 0x400
    strings = info_array + 3 * p * len(listed) + 0x40
    # The images, each on fresh pages after the strings.
    total_paths = sum(len(i.path or b"") + 1 for i in [*listed, *([dyld] if dyld else [])])
    next_page = page_up(strings + total_paths + 0x1000)
    for image in [*listed, *([dyld] if dyld and not dyld_in_array else [])]:
        m = parse(image.data)
        image.load = next_page
        image.slide = (next_page - m.text.vmaddr) % 2**64
        lay_out(memory, image.data, image.slide)
        top = max(s.vmaddr + s.filesize for s in m.segments if s.filesize)
        next_page = page_up(next_page + top - m.text.vmaddr + 0x1000)
    # The records.
    record = bytearray(offsets["end"])
    struct.pack_into("<I", record, 0, version)
    struct.pack_into("<I", record, 4, len(listed))
    struct.pack_into(word, record, offsets["infoArray"], info_array)
    at = strings
    path_at: dict[int, int] = {}
    for image in [*listed, *([dyld] if dyld else [])]:
        if image.path is not None and id(image) not in path_at:
            memory.write(at, image.path + b"\0")
            path_at[id(image)] = at
            at += len(image.path) + 1
    for i, image in enumerate(listed):
        entry = struct.pack("<3" + word[1], image.load, path_at.get(id(image), 0), image.mod_date)
        memory.write(info_array + 3 * p * i, entry)
    if dyld is not None:
        struct.pack_into(word, record, offsets["dyldImageLoadAddress"], dyld.load)
        struct.pack_into(word, record, offsets["dyldPath"], path_at.get(id(dyld), 0))
    struct.pack_into(word, record, offsets["sharedCacheSlide"], shared_cache_slide)
    record[offsets["sharedCacheUUID"] : offsets["sharedCacheUUID"] + 16] = shared_cache_uuid
    struct.pack_into(word, record, offsets["sharedCacheBaseAddress"], shared_cache_base)
    struct.pack_into("<Q", record, offsets["infoArrayChangeTimestamp"], timestamp)
    memory.write(infos, bytes(record))
    return DyldSim(
        memory, infos, p, version, images, dyld, shared_cache_slide, shared_cache_base,
        shared_cache_uuid, info_array,
    )  # fmt: skip


def seeds(folder: Path, files: list[Path]) -> None:
    """Fuzzer seeds: simulated memories of each file as an image of a
    version 16 and a version 1 list, for 8- and 4-byte pointers."""
    folder.mkdir(parents=True, exist_ok=True)
    thin = []
    for path in files:
        data = path.read_bytes()
        slices = fat_slices(data)
        if slices:
            thin += [data[o : o + s] for _, o, s in slices]
        else:
            try:
                parse(data)
            except (ValueError, struct.error):
                continue
            thin.append(data)
    count = 0
    for n, data in enumerate(thin):
        if not parse(data).segments:
            continue  # an object file: nothing a loader maps
        for version in (16, 1):
            for p in (8, 4):
                images = [SimImage(b"/usr/lib/libseed.dylib", data, mod_date=7)]
                dyld = SimImage(b"/usr/lib/dyld", data)
                sim = build_dyld(images, version=version, pointer_size=p, dyld=dyld)
                # The fuzzer's memory starts at the record (see fuzz_macho.c):
                # the first byte says the pointer size.
                blob = bytes([p]) + bytes(sim.memory.blob)
                (folder / f"dyld-{n}-v{version}-p{p}").write_bytes(blob)
                count += 1
    print(f"machosim: {count} dyld seeds in {folder}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "seeds":
        seeds(Path(sys.argv[2]), [Path(a) for a in sys.argv[3:]])
    else:
        sys.exit("usage: machosim.py seeds DIR FILE...")
