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

from .. import _core
from ..images import Image, Loaded
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
    order = native.in_load_order(records, found)
    if order is None:
        return Loaded(found, list(found), "address")
    return Loaded(found, order, "dyld")


class MachOSymbols(native.MemorySymbols):
    """The symbols of a Mach-O image in memory, opened when first asked.
    C names carry a leading underscore in Mach-O; they are asked for, and
    given back, without it."""

    FORMAT = "macho"
    __slots__ = ()

    def spellings(self, name: str) -> tuple[str, ...]:
        return ("_" + name, name)

    def shown(self, name: str) -> str:
        return name.removeprefix("_")
