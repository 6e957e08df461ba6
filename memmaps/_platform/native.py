"""The calls every backend answers in C, shared by the platform modules.

The C core implements one interface on every system (memmaps/native/core/
mm.h): listing regions, one-address lookup, usage, images and memory
reads.  What is the same for every system is here; a platform module adds
what is its own (how an image's symbol table is opened, how names are
looked up).
"""

from __future__ import annotations

import gc
import os
import warnings
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import ClassVar, NamedTuple

from .. import _core
from ..errors import Error, PartialListingWarning
from ..images import FileSymbol, Image, SymbolTable
from ..maps import Maps
from ..region import Region
from ..usage import Usage


def native_pid(pid: int | None) -> int:
    """The pid for the C core: -1 stands for this process."""
    return -1 if pid is None else pid


def _listing(found: tuple[Sequence[Region], str | None], pid: int | None) -> Maps:
    regions, partial = found
    if partial is not None:
        _warn_partial(partial)
    return Maps._trusted(regions, os.getpid() if pid is None else pid, partial)


_warned: set[str] = set()


def _warn_partial(reason: str) -> None:
    # Once per reason: a monitor polling a process must not drown in them,
    # and Maps.partial keeps saying it on every listing.
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(reason, PartialListingWarning, stacklevel=4)


def _root_switches() -> int:
    """MEMMAPS_OPEN_IN_ROOT=walk: the C core resolves the paths of a
    target's files inside its root a component at a time, as on a kernel
    without openat2, so that the tests can check that path where it has it."""
    return _core.ROOT_WALK if os.environ.get("MEMMAPS_OPEN_IN_ROOT") == "walk" else 0


def regions(pid: int | None, usage: bool) -> Maps:
    flags = (_core.USAGE if usage else 0) | _root_switches()
    return _listing(_core.regions(native_pid(pid), flags), pid)


def region_at(pid: int | None, addr: int) -> Region | None:
    flags = _core.FROM_LISTING if os.environ.get("MEMMAPS_REGION_AT") == "listing" else 0
    flags |= _root_switches()
    found, _partial = _core.region_at(native_pid(pid), addr, flags)
    return found[0] if found else None


def usage(pid: int | None) -> Usage:
    found, _partial = _core.process_usage(native_pid(pid))
    if not found or found[0].usage is None:
        return Usage()
    return found[0].usage


def read_memory(pid: int | None, addr: int, size: int) -> bytes:
    return _core.read_memory(native_pid(pid), addr, size)


def same_file(pid: int | None, image: Image, path: str) -> bool:
    """Where the system has no root of the target's to look in: the path as
    this process sees it, compared by inode with the image's first region."""
    if not image.regions or "/" not in path:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    first = image.regions[0]
    return st.st_ino == first.inode and (os.major(st.st_dev), os.minor(st.st_dev)) == (
        first.dev_major,
        first.dev_minor,
    )


# The flags of an image record (memmaps/native/core/mm.h, MM_IMAGE_*).
IMAGE_DELETED = 1
IMAGE_FROM_MEMORY = 2
IMAGE_HAS_FILE_ID = 4
IMAGE_LOADER = 8
IMAGE_MAIN = 16
IMAGE_KERNEL = 32


class ImageRecord(NamedTuple):
    """One image as the C core reports it (``_core.images``)."""

    path: str | None
    base: int
    end: int
    bias: int
    build_id: bytes | None
    dev_major: int
    dev_minor: int
    inode: int
    flags: int
    format: str
    #: The file its headers were read from, None when read from memory.
    source: str | None
    #: Where its header is in memory.
    header: int
    #: ((start, end, name, perms), ...): its mapped segments.
    segments: tuple[tuple[int, int, str, str], ...]
    #: Its place in the loader's own list (dyld's), LOAD_ORDER_UNKNOWN
    #: where the backend does not read one.
    load_order: int


LOAD_ORDER_UNKNOWN = 2**32 - 1


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector held off while the objects of thousands
    of images are made, as the C core holds it off while it builds regions:
    none of them is part of a cycle, and a full collection set off in the
    middle would walk every object made so far (at 8000 images it added a
    fifth to the cost of images())."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def image_records(pid: int | None) -> tuple[list[ImageRecord], Maps]:
    """The images, and the listing they were found in (read anew where the
    backend found them without one: macOS's dyld list)."""
    records, listing = _core.images(native_pid(pid), _root_switches())
    maps = regions(pid, False) if listing is None else _listing(listing, pid)
    with _collector_paused():
        return [ImageRecord(*record) for record in records], maps


#: The symbol table a platform makes for an image (opened when first asked).
TableFactory = Callable[[int | None, ImageRecord], SymbolTable]


def images(pid: int | None, tables: TableFactory) -> list[Image]:
    """The images the C core lists, each with the symbol table the platform
    makes for it."""
    return images_of(pid, image_records(pid), tables)


def images_of(
    pid: int | None, found: tuple[list[ImageRecord], Maps], tables: TableFactory
) -> list[Image]:
    records, maps = found
    # One index of the listing for all images: a process with thousands of
    # images and regions must not cost their product.
    starts = [region.start for region in maps]
    with _collector_paused():
        return [make_image(record, maps, tables(pid, record), starts) for record in records]


def in_load_order(records: Sequence[ImageRecord], found: Sequence[Image]) -> list[Image] | None:
    """The images in the loader's own order (dyld's list, Windows' module
    list), ties in address order; None where the backend gave no order."""
    ranks = [record.load_order for record in records]
    if all(rank == LOAD_ORDER_UNKNOWN for rank in ranks):
        return None
    return [image for _rank, _i, image in sorted(zip(ranks, range(len(found)), found, strict=True))]


class MemorySymbols:
    """The symbols of an image in the target's memory, read through an
    ImageFile opened when first asked: where the file an image was loaded
    from may be missing or replaced (macOS's shared cache, a Windows module
    updated on disk), memory holds what the loader resolves against.  A
    system's class names its FORMAT and how a name is spelled in the
    table."""

    FORMAT: ClassVar[str]
    __slots__ = ("_image", "_opened", "_pid", "_record")

    def __init__(self, pid: int | None, record: ImageRecord) -> None:
        self._pid = pid
        self._record = record
        self._image: _core.ImageFile | None = None
        self._opened = False

    def _image_file(self) -> _core.ImageFile | None:
        if not self._opened:
            self._opened = True
            with suppress(Error):
                self._image = _core.ImageFile(
                    pid=native_pid(self._pid),
                    load_address=self._record.header,
                    format=self.FORMAT,
                )
        return self._image

    def spellings(self, name: str) -> tuple[str, ...]:
        """The names name may have in the table, the likeliest first."""
        return (name,)

    def shown(self, name: str) -> str:
        """A name of the table as users ask for it."""
        return name

    def find(self, name: str) -> FileSymbol | None:
        image = self._image_file()
        if image is None:
            return None
        for spelling in self.spellings(name):
            found = image.symbol(spelling)
            if found is not None:
                return FileSymbol(name, *found)
        return None

    def covering(self, vaddrs: Sequence[int]) -> list[FileSymbol | None]:
        image = self._image_file()
        if image is None:
            return [None] * len(vaddrs)
        return [
            None if hit is None else FileSymbol(self.shown(hit[0]), *hit[1:], True, False)
            for hit in image.symbolize_many(vaddrs)
        ]


def images_key(pid: int | None) -> frozenset[tuple[int, int, int, int]]:
    """What changes when an image is loaded or unloaded, read from one
    listing: where each file that is mapped executable has its offset-0
    mapping.  A data file mapped, or memory allocated, leaves it alone."""
    maps = regions(pid, False)
    executable = {
        (region.dev_major, region.dev_minor, region.inode)
        for region in maps
        if region.executable and region.inode
    }
    return frozenset(
        (region.start, region.dev_major, region.dev_minor, region.inode)
        for region in maps
        if region.offset == 0
        and region.inode
        and (region.dev_major, region.dev_minor, region.inode) in executable
    )


def make_image(
    record: ImageRecord,
    maps: Maps,
    table: SymbolTable,
    starts: list[int] | None = None,
) -> Image:
    """The Image of a record, holding the regions its segments cover
    (starts: the regions' starts, when the caller has them already)."""
    if starts is None:
        starts = [region.start for region in maps]

    def starting_in(start: int, end: int) -> tuple[Region, ...]:
        return tuple(maps[bisect_left(starts, start) : bisect_left(starts, end)])

    if record.format == "elf" or not record.segments:
        # ld.so reserves an ELF image's whole range at once: the padding
        # between its segments is the image's too.
        held = tuple(r for r in starting_in(record.base, record.end) if r.end <= record.end)
    else:
        # A Mach-O image's segments may lie far apart (a dylib of the shared
        # cache has its __TEXT among the other dylibs' and its __DATA
        # elsewhere): only what they cover is the image's.
        spans = sorted((start, end) for start, end, _name, _perms in record.segments)
        held = tuple(r for start, end in spans for r in starting_in(start, end))
    regions = Maps._trusted(held, maps.pid, maps.partial)
    return Image(
        path=record.path or f"[image at {record.header:#x}]",
        base=record.base,
        end=record.end,
        bias=record.bias,
        build_id=None if record.build_id is None else record.build_id.hex(),
        regions=regions,
        table=table,
    )
