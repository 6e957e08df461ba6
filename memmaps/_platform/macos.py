"""macOS: the Mach VM map and dyld's image list in the C core; Mach-O
symbols here.

The C core walks the task's map, reads dyld's list of images and names the
regions the OS leaves nameless after the image segments that hold them, as
vmmap does (memmaps/native/backends/macos.c).  Each image's Mach-O is read
from the process's memory, not from disk: dylibs of the shared cache have
no file of their own, and their symbol tables live in the cache's shared
__LINKEDIT, which memory has.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

from .. import _core
from ..errors import Error
from ..images import FileSymbol, Image, Loaded
from . import native
from .native import ImageRecord, read_memory, region_at, regions, same_file, usage

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

NAME = "macos"


def images_key(pid: int | None) -> frozenset[tuple[int, str | None, int]]:
    """What changes when dyld loads or unloads an image: its own list, each
    image by where its header is, its path and its place in the list.  Not
    the map, as elsewhere: a dylib of the shared cache is mapped with the
    whole cache from the start, and dlopen() of one changes no region."""
    records, _listing = _core.images(native.native_pid(pid), 0)
    return frozenset(
        (record.header, record.path, record.load_order)
        for record in (ImageRecord(*raw) for raw in records)
    )


def images(pid: int | None) -> list[Image]:
    return native.images(pid, MachOSymbols)


def loaded(pid: int | None) -> Loaded:
    records, maps = native.image_records(pid)
    found = native.images_of(pid, (records, maps), MachOSymbols)
    # dyld's list is in load order: the executable, then its libraries as
    # dyld bound them, which is the flat namespace's search order.
    ranks = [record.load_order for record in records]
    order = [
        image for _rank, _i, image in sorted(zip(ranks, range(len(found)), found, strict=True))
    ]
    return Loaded(found, order, "dyld")


class MachOSymbols:
    """The symbols of a Mach-O image in memory, opened when first asked.
    C names carry a leading underscore in Mach-O; they are asked for, and
    given back, without it."""

    __slots__ = ("_macho", "_opened", "_pid", "_record")

    def __init__(self, pid: int | None, record: ImageRecord) -> None:
        self._pid = pid
        self._record = record
        self._macho: _core.ImageFile | None = None
        self._opened = False

    def _image_file(self) -> _core.ImageFile | None:
        if not self._opened:
            self._opened = True
            with suppress(Error):
                self._macho = _core.ImageFile(
                    pid=native.native_pid(self._pid),
                    load_address=self._record.header,
                    format="macho",
                )
        return self._macho

    def find(self, name: str) -> FileSymbol | None:
        macho = self._image_file()
        if macho is None:
            return None
        found = macho.symbol("_" + name) or macho.symbol(name)
        return None if found is None else FileSymbol(name, *found)

    def covering(self, vaddrs: Sequence[int]) -> list[FileSymbol | None]:
        macho = self._image_file()
        if macho is None:
            return [None] * len(vaddrs)
        return [
            None if hit is None else FileSymbol(hit[0].removeprefix("_"), *hit[1:], True, False)
            for hit in macho.symbolize_many(vaddrs)
        ]
