"""Linux: /proc and PROCMAP_QUERY in the C core; ELF symbol tables here.

The C core lists the images (memmaps/native/backends/linux.c) and says
where it read each one's headers: the very file the target maps
(/proc/PID/map_files, /proc/PID/exe, or its path, inside the target's root
or as the reader sees it, when that leads to the same inode), or the
target's memory.  Symbols are read from that same source, when first asked
for, and from a separate debug file found by build-id or .gnu_debuglink
where the image is stripped, inside the target's root (linux_files.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

from .. import _core
from ..errors import Error, ParseError
from ..images import FileSymbol, Image, Loaded
from . import linux_files, linux_scope, native
from .native import ImageRecord, images_key, read_memory, region_at, regions, usage

__all__ = [
    "NAME",
    "images",
    "images_key",
    "loaded",
    "read_memory",
    "region_at",
    "regions",
    "same_file",
    "usage",
]

NAME = "linux"

# The largest image read whole from memory; real ones are far smaller.
_MEMORY_IMAGE_LIMIT = 64 << 20


def images(pid: int | None) -> list[Image]:
    return native.images(pid, _ElfSymbols)


def loaded(pid: int | None) -> Loaded:
    records, maps = native.image_records(pid)
    found = native.images_of(pid, (records, maps), _ElfSymbols)
    order, how = linux_scope.search_order(pid, found, records)
    return Loaded(found, [found[i] for i in order], how)


def same_file(pid: int | None, image: Image, path: str) -> bool:
    """Another path to the image's file, resolved in the target's root (a
    container's /usr/lib is not the reader's)."""
    return linux_files.same_file(pid, image, path)


def _from_memory(pid: int | None, record: ImageRecord) -> _core.ImageFile:
    """The image as far as the target has it mapped: each region's bytes at
    its file offset (section headers, never mapped, are missing; the vdso
    maps its whole file, so it has them)."""
    maps = regions(pid, False)
    group = [
        r
        for r in maps
        if record.base <= r.start < record.end and (r.path == record.path or r.kind == "vdso")
    ]
    size = min(
        max((r.offset + r.end - r.start for r in group), default=0),
        _MEMORY_IMAGE_LIMIT,
    )
    image = bytearray(size)
    for region in group:
        if not region.readable or region.offset >= size:
            continue
        length = min(region.end - region.start, size - region.offset)
        data = read_memory(pid, region.start, length)
        image[region.offset : region.offset + len(data)] = data
    kernel = bool(record.flags & native.IMAGE_KERNEL)
    # The loader rewrote its DT_* addresses: symbolize() needs the bias
    # too, which it takes from the ImageFile.
    return _core.ImageFile(bytes(image), format="elf", sections=kernel, dynamic_bias=record.bias)


class _ElfSymbols:
    """The symbol table of one ELF image, opened when first asked, then its
    separate debug file where the image itself lacks the name or the
    address (a stripped file)."""

    __slots__ = (
        "_covering",
        "_debug",
        "_debug_searched",
        "_elf",
        "_opened",
        "_pid",
        "_record",
    )

    def __init__(self, pid: int | None, record: ImageRecord) -> None:
        self._pid = pid
        self._record = record
        self._elf: _core.ImageFile | None = None
        self._opened = False
        self._debug: _core.ImageFile | None = None
        self._debug_searched = False
        # The symbols covering() gave, by what the table said: a profiler's
        # samples come back to the same functions again and again, and one
        # lookup here is cheaper than making the same symbol anew.
        self._covering: dict[tuple[str, int, int, str], FileSymbol] = {}

    def find(self, name: str) -> FileSymbol | None:
        elf = self._image_file()
        # A table the reader refused (corrupt, or past a budget) is one this
        # image does not have: it must not hide the other images' symbols.
        found = None
        if elf is not None:
            with suppress(ParseError):
                found = elf.symbol(name)
        if found is None:
            debug = self._debug_file(elf)
            if debug is not None:
                with suppress(ParseError):
                    found = debug.symbol(name)
        if found is None:
            return None
        return FileSymbol(name, *found)

    def covering(self, vaddrs: Sequence[int]) -> list[FileSymbol | None]:
        elf = self._image_file()
        found: list[tuple[str, int, int, str] | None] = [None] * len(vaddrs)
        if elf is not None:
            with suppress(ParseError):
                found = elf.symbolize_many(vaddrs)
        missing = [i for i, hit in enumerate(found) if hit is None]
        if missing:
            debug = self._debug_file(elf)
            if debug is not None:
                with suppress(ParseError):
                    answers = debug.symbolize_many([vaddrs[i] for i in missing])
                    for i, hit in zip(missing, answers, strict=True):
                        found[i] = hit
        # An address's symbol is what the table holds there: global or
        # not, it is the answer (the binding matters only to find()).
        made = self._covering
        symbols: list[FileSymbol | None] = []
        for hit in found:
            if hit is None:
                symbols.append(None)
                continue
            symbol = made.get(hit)
            if symbol is None:
                symbol = made[hit] = FileSymbol(*hit, True, False)
            symbols.append(symbol)
        return symbols

    def _image_file(self) -> _core.ImageFile | None:
        if not self._opened:
            self._opened = True
            record = self._record
            with suppress(OSError, Error):
                if record.source is not None:
                    self._elf = linux_files.open_image(self._pid, record)
                    # Everything read now: no descriptor is held per image.
                    self._elf.load()
                else:
                    self._elf = _from_memory(self._pid, record)
        return self._elf

    def _debug_file(self, elf: _core.ImageFile | None) -> _core.ImageFile | None:
        if not self._debug_searched:
            self._debug_searched = True
            record = self._record
            build_id = None if record.build_id is None else record.build_id.hex()
            debuglink = None if elf is None else elf.debuglink
            crc = None if elf is None else elf.debuglink_crc
            if record.path is not None:
                self._debug = linux_files.find_debug_file(
                    self._pid, record.path, build_id, debuglink, crc
                )
                if self._debug is not None:
                    self._debug.load()
        return self._debug
