"""Linux: /proc and PROCMAP_QUERY in the C core; ELF symbol tables here.

The C core lists the images (memmaps/native/backends/linux.c) and says
where it read each one's headers: the very file the target maps
(/proc/PID/map_files, /proc/PID/exe, or the path in the target's root when
it leads to the same inode), or the target's memory.  Symbols are read from
that same source, when first asked for, and from a separate debug file
found by build-id or .gnu_debuglink where the image is stripped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from contextlib import suppress

from .. import _core
from ..errors import Error, ParseError
from ..images import FileSymbol, Image, Loaded
from . import native
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
# Where separate debug files live, as GDB looks for them.
_DEBUG_ROOT = "/usr/lib/debug"


def images(pid: int | None) -> list[Image]:
    return native.images(pid, _ElfSymbols)


def loaded(pid: int | None) -> Loaded:
    found = native.images(pid, _ElfSymbols)
    return Loaded(found, found, "address")


def same_file(pid: int | None, image: Image, path: str) -> bool:
    """Another path to the image's file, resolved in the target's root (a
    container's /usr/lib is not the reader's)."""
    if not image.regions or "/" not in path:
        return False
    root = f"/proc/{'self' if pid is None else pid}/root"
    absolute = path if path.startswith("/") else os.path.abspath(path)
    return native.same_file(pid, image, root + absolute)


def _open_regular(path: str, record: ImageRecord | None = None) -> _core.ImageFile:
    """The ELF at path, which must be a regular file (and, given a record
    with a file identity, that very file).  It is looked at with O_PATH
    first, which opens nothing: a FIFO or a device the target put there must
    never block the reader or run a driver's open on its behalf."""
    probe = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        st = os.fstat(probe)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        if record is not None and record.flags & native.IMAGE_HAS_FILE_ID:
            same = st.st_ino == record.inode and (
                os.major(st.st_dev),
                os.minor(st.st_dev),
            ) == (record.dev_major, record.dev_minor)
            if not same:
                raise OSError(f"{path} is no longer the mapped file")
        fd = os.open(
            f"/proc/self/fd/{probe}", os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
        )
    finally:
        os.close(probe)
    try:
        return _core.ImageFile(fd, format="elf")
    finally:
        os.close(fd)


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
    return _core.ImageFile(bytes(image), format="elf", sections=kernel)


class _ElfSymbols:
    """The symbol table of one ELF image, opened when first asked, then its
    separate debug file where the image itself lacks the name or the
    address (a stripped file)."""

    __slots__ = ("_debug", "_debug_searched", "_elf", "_opened", "_pid", "_record")

    def __init__(self, pid: int | None, record: ImageRecord) -> None:
        self._pid = pid
        self._record = record
        self._elf: _core.ImageFile | None = None
        self._opened = False
        self._debug: _core.ImageFile | None = None
        self._debug_searched = False

    def find(self, name: str) -> FileSymbol | None:
        elf = self._image_file()
        # The dynamic loader rewrites DT_* addresses in memory images.
        found = None if elf is None else elf.symbol(name, self._record.bias)
        if found is None:
            debug = self._debug_file(elf)
            found = None if debug is None else debug.symbol(name)
        if found is None:
            return None
        return FileSymbol(name, *found)

    def covering(self, vaddrs: Sequence[int]) -> list[FileSymbol | None]:
        elf = self._image_file()
        found = [None] * len(vaddrs) if elf is None else elf.symbolize_many(vaddrs)
        missing = [i for i, hit in enumerate(found) if hit is None]
        if missing:
            debug = self._debug_file(elf)
            if debug is not None:
                answers = debug.symbolize_many([vaddrs[i] for i in missing])
                for i, hit in zip(missing, answers, strict=True):
                    found[i] = hit
        return [None if hit is None else FileSymbol(*hit, True, False) for hit in found]

    def _image_file(self) -> _core.ImageFile | None:
        if not self._opened:
            self._opened = True
            record = self._record
            with suppress(OSError, Error):
                if record.source is not None:
                    self._elf = _open_regular(record.source, record)
                else:
                    self._elf = _from_memory(self._pid, record)
        return self._elf

    def _debug_file(self, elf: _core.ImageFile | None) -> _core.ImageFile | None:
        if not self._debug_searched:
            self._debug_searched = True
            record = self._record
            build_id = None if record.build_id is None else record.build_id.hex()
            debuglink = None if elf is None else elf.debuglink
            if record.path is not None:
                self._debug = _find_debug_file(record.path, build_id, debuglink)
        return self._debug


def _find_debug_file(
    path: str, build_id: str | None, debuglink: str | None
) -> _core.ImageFile | None:
    candidates = []
    if build_id and len(build_id) > 2:
        candidates.append(f"{_DEBUG_ROOT}/.build-id/{build_id[:2]}/{build_id[2:]}.debug")
    if debuglink and path.startswith("/"):
        folder = os.path.dirname(path)
        candidates += [
            f"{folder}/{debuglink}",
            f"{folder}/.debug/{debuglink}",
            f"{_DEBUG_ROOT}{folder}/{debuglink}",
        ]
    for candidate in candidates:
        if candidate == path:
            continue
        with suppress(OSError, Error, ParseError):
            elf = _open_regular(candidate)
            # A debug file for another build would give wrong addresses.
            if build_id is None or elf.build_id is None or elf.build_id.hex() == build_id:
                return elf
    return None
