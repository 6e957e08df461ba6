"""Scenarios for the simulated Mach kernel (tests/macsim/macsim.c), written
from Python: a task's VM maps, its memory, and how the kernel behaves.

The file is text, one item a line, numbers in C's notation (0x... or
decimal):

    pid N / caller_is_target 0|1 / caller_pid N / euid N
    tfp ok | tfp refuse KR                       task_for_pid()'s answer
    state alive|zombie|gone / ends_after N STATE  the process's life: it
                                                  becomes STATE after N calls
    page_size N / kernel_page_size N / footprint N / rusage_footprint N
    vm_info_count N / region_count_lie N          task_info(TASK_VM_INFO)
    pidinfo_errno E / pidinfo_neighbour 0|1 / pidinfo_size N
    pid_for_task N / rusage_errno E
    dyld ADDR FORMAT / dyld_kr KR                 task_info(TASK_DYLD_INFO)
    region_kr KR                                  mach_vm_region_recurse() fails
    map ID                                        the entries that follow are
                                                  map ID's (0: the task's)
    entry START SIZE key=value...                 one vm_map_entry (keys:
        prot maxprot inherit offset tag resident snp swapped dirtied ref
        shadow pager share submap object reusable behavior wired, and the
        lies report_start report_size report_depth is_submap)
    vnode DEV INO PATH                            the last entry's file
    mem ADDR HEX                                  bytes of the memory
    flicker ADDR LEN K                            the first K reads that
                                                  touch the range see zeros

A submap's entries are in the submap's own addresses, as in xnu: the
entry that maps it at START with offset O shows submap address O at START.

It also makes Mach-O images (just the header, three or four segments, a
__text section and LC_SYMTAB with the symbols asked for) and lays out
dyld's records (tests/helpers/machosim.py has their offsets), so that a
scenario's expected results can be written down from what was put in.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import machosim

# osfmk/mach/vm_region.h
SM_COW, SM_PRIVATE, SM_EMPTY, SM_SHARED, SM_TRUESHARED = 1, 2, 3, 4, 5
SM_PRIVATE_ALIASED, SM_SHARED_ALIASED, SM_LARGE_PAGE = 6, 7, 8
# osfmk/mach/vm_statistics.h
VM_MEMORY_MALLOC, VM_MEMORY_MALLOC_SMALL, VM_MEMORY_MALLOC_TINY = 1, 2, 7
VM_MEMORY_MALLOC_NANO, VM_MEMORY_STACK, VM_MEMORY_GUARD = 11, 30, 31
VM_MEMORY_DYLD, VM_MEMORY_SHARED_PMAP = 60, 32
# osfmk/mach/kern_return.h, osfmk/mach/message.h
KERN_SUCCESS, KERN_INVALID_ADDRESS, KERN_FAILURE = 0, 1, 5
MACH_SEND_INVALID_DEST = 0x10000003
# osfmk/mach/vm_prot.h
R, W, X = 1, 2, 4
# mach-o/loader.h
MH_EXECUTE, MH_DYLIB, MH_DYLINKER = 2, 6, 7
N_SECT_EXT = 0x0F


@dataclass
class Entry:
    start: int
    size: int
    fields: dict[str, int]
    vnode: tuple[int, int, str] | None = None


@dataclass
class Scenario:
    settings: dict[str, str] = field(default_factory=dict)
    maps: list[list[Entry]] = field(default_factory=lambda: [[]])
    memory: list[tuple[int, bytes]] = field(default_factory=list)
    flickers: list[tuple[int, int, int]] = field(default_factory=list)

    def set(self, **settings: int | str) -> Scenario:
        for key, value in settings.items():
            self.settings[key] = value if isinstance(value, str) else hex(value)
        return self

    def entry(
        self,
        start: int,
        size: int,
        *,
        map_id: int = 0,
        vnode: tuple[int, int, str] | None = None,
        **fields: int,
    ) -> Entry:
        made = Entry(start, size, fields, vnode)
        self.maps[map_id].append(made)
        return made

    def new_map(self) -> int:
        self.maps.append([])
        return len(self.maps) - 1

    def write_memory(self, addr: int, data: bytes) -> None:
        self.memory.append((addr, bytes(data)))

    def text(self) -> str:
        lines = [f"{key} {value}" for key, value in self.settings.items()]
        for map_id, entries in enumerate(self.maps):
            lines.append(f"map {map_id}")
            for e in entries:
                words = " ".join(f"{k}={v:#x}" for k, v in e.fields.items())
                lines.append(f"entry {e.start:#x} {e.size:#x} {words}".rstrip())
                if e.vnode is not None:
                    dev, ino, path = e.vnode
                    lines.append(f"vnode {dev:#x} {ino} {path}")
        for addr, data in self.memory:
            for at in range(0, len(data), 4096):
                lines.append(f"mem {addr + at:#x} {data[at : at + 4096].hex()}")
        for addr, length, reads in self.flickers:
            lines.append(f"flicker {addr:#x} {length:#x} {reads}")
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> Path:
        path.write_text(self.text())
        return path


# --------------------------------------------------------------------------
# Mach-O images
# --------------------------------------------------------------------------


@dataclass
class Image:
    """A Mach-O image as made here: its bytes laid out by vmaddr (file
    offset = vmaddr - the __TEXT vmaddr), its segments and symbols unslid."""

    data: bytes
    text_vmaddr: int
    segments: list[tuple[str, int, int, int]]  # (name, vmaddr, vmsize, initprot)
    symbols: dict[str, int]  # name (with its underscore) -> unslid vmaddr


def make_image(
    filetype: int,
    *,
    text_vmaddr: int,
    symbols: list[str],
    cpu: int = machosim.CPU_ARM64,
    page: int = 0x4000,
    pagezero: bool = False,
) -> Image:
    """A thin 64-bit image: __TEXT (the header, the load commands and a
    __text section holding one 16-byte function per symbol), __DATA,
    __LINKEDIT (nlist_64 entries, then the strings); __PAGEZERO first for an
    executable that has one."""
    segs: list[tuple[str, int, int, int]] = []
    if pagezero:
        segs.append(("__PAGEZERO", 0, text_vmaddr, 0))
    segs += [
        ("__TEXT", text_vmaddr, page, R | X),
        ("__DATA", text_vmaddr + page, page, R | W),
        ("__LINKEDIT", text_vmaddr + 2 * page, page, R),
    ]
    text_start = 0x800  # after the load commands
    addrs = {name: text_vmaddr + text_start + 16 * i for i, name in enumerate(symbols)}
    strtab = b"\0" + b"".join(n.encode() + b"\0" for n in symbols)
    nlist = b""
    strx = 1
    for name in symbols:
        nlist += struct.pack("<IBBHQ", strx, N_SECT_EXT, 1, 0, addrs[name])
        strx += len(name) + 1
    linkedit_off = 2 * page
    symoff, stroff = linkedit_off, linkedit_off + len(nlist)
    commands = b""
    for name, vmaddr, vmsize, prot in segs:
        is_text = name == "__TEXT"
        fileoff = 0 if name == "__PAGEZERO" else vmaddr - text_vmaddr
        filesize = 0 if name == "__PAGEZERO" else vmsize
        if name == "__LINKEDIT":
            filesize = len(nlist) + len(strtab)
        nsects = 1 if is_text else 0
        cmd = struct.pack(
            "<II16sQQQQiiII",
            machosim.LC_SEGMENT_64,
            72 + 80 * nsects,
            name.encode(),
            vmaddr,
            vmsize,
            fileoff,
            filesize,
            prot,
            prot,
            nsects,
            0,
        )
        if is_text:
            cmd += struct.pack(
                "<16s16sQQIIIIIIII",
                b"__text",
                b"__TEXT",
                text_vmaddr + text_start,
                16 * len(symbols),
                text_start,
                4,
                0,
                0,
                0x80000400,
                0,
                0,
                0,
            )
        commands += cmd
    commands += struct.pack(
        "<IIIIII", machosim.LC_SYMTAB, 24, symoff, len(symbols), stroff, len(strtab)
    )
    header = struct.pack(
        "<IiiIIIII", machosim.MH_MAGIC_64, cpu, 0, filetype, len(segs) + 1, len(commands), 0, 0
    )
    size = 2 * page + len(nlist) + len(strtab)
    data = bytearray(size)
    data[: len(header) + len(commands)] = header + commands
    for name in symbols:
        at = addrs[name] - text_vmaddr
        data[at : at + 4] = b"\xc0\x03\x5f\xd6"  # ret
    data[symoff : symoff + len(nlist)] = nlist
    data[stroff : stroff + len(strtab)] = strtab
    return Image(bytes(data), text_vmaddr, [s for s in segs if s[0] != "__PAGEZERO"], addrs)


def place(scenario: Scenario, image: Image, slide: int) -> None:
    """The image's segments' bytes in the target's memory at vmaddr + slide."""
    for name, vmaddr, _vmsize, _prot in image.segments:
        start = vmaddr - image.text_vmaddr
        chunk = image.data[start : start + (_vmsize if name != "__LINKEDIT" else len(image.data))]
        scenario.write_memory(vmaddr + slide, chunk)


def dyld_records(
    scenario: Scenario,
    at: int,
    images: list[tuple[int, str]],
    *,
    dyld: tuple[int, str] | None,
    timestamp: int = 0x1234,
    version: int = 16,
) -> dict[str, int]:
    """dyld_all_image_infos at `at` (64-bit), its infoArray and paths right
    after it; images are (load address, path).  Returns where each field is."""
    offsets = machosim.infos_offsets(8)
    info_array = at + 0x200
    strings = info_array + 24 * len(images) + 0x20
    record = bytearray(offsets["end"])
    struct.pack_into("<II", record, 0, version, len(images))
    struct.pack_into("<Q", record, offsets["infoArray"], info_array)
    blob = bytearray()
    array = bytearray()
    for load, path in images:
        array += struct.pack("<QQQ", load, strings + len(blob), 0)
        blob += path.encode() + b"\0"
    if dyld is not None:
        struct.pack_into("<Q", record, offsets["dyldImageLoadAddress"], dyld[0])
        struct.pack_into("<Q", record, offsets["dyldPath"], strings + len(blob))
        blob += dyld[1].encode() + b"\0"
    struct.pack_into("<Q", record, offsets["infoArrayChangeTimestamp"], timestamp)
    scenario.write_memory(at, bytes(record))
    scenario.write_memory(info_array, bytes(array))
    scenario.write_memory(strings, bytes(blob))
    scenario.set(dyld=f"{at:#x} 1")
    return {name: at + off for name, off in offsets.items()}
