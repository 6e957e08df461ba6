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

from contextlib import suppress

from .. import _core
from ..errors import Error
from ..images import Image
from . import native
from .native import ImageRecord, read_memory, region_at, regions, same_file, usage

__all__ = ["NAME", "images", "read_memory", "region_at", "regions", "same_file", "usage"]

NAME = "macos"


def images(pid: int | None) -> list[Image]:
    return native.images(pid, MachOSymbols)


class MachOSymbols:
    """Symbol lookup in a Mach-O image in memory, opened when first asked:
    C names carry a leading underscore."""

    __slots__ = ("_macho", "_opened", "_pid", "_record")

    def __init__(self, pid: int | None, record: ImageRecord) -> None:
        self._pid = pid
        self._record = record
        self._macho: _core.ImageFile | None = None
        self._opened = False

    def __call__(self, name: str) -> int | None:
        if not self._opened:
            self._opened = True
            with suppress(Error):
                self._macho = _core.ImageFile(
                    pid=native.native_pid(self._pid),
                    load_address=self._record.header,
                    format="macho",
                )
        if self._macho is None:
            return None
        found = self._macho.symbol("_" + name) or self._macho.symbol(name)
        return None if found is None else found[0]
