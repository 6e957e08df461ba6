"""memmaps: the virtual memory map of a process, read by a C core.

    >>> import memmaps
    >>> maps = memmaps.regions()          # this process
    >>> maps.filter(kind="stack")[0].path
    '[stack]'

The public contract is documented in docs/api.md.
"""

from __future__ import annotations

import os

from . import _core
from ._platform import current as _system
from .errors import (
    AccessDenied,
    Error,
    NoSuchProcess,
    ParseError,
    PartialListingWarning,
    SymbolNotFound,
    UnsupportedPlatform,
    ZombieProcess,
    _from_native,
)
from .images import Image, find_symbol
from .maps import Maps
from .region import KINDS, Region
from .usage import Usage

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "AccessDenied",
    "Error",
    "Image",
    "Maps",
    "NoSuchProcess",
    "ParseError",
    "PartialListingWarning",
    "Region",
    "SymbolNotFound",
    "UnsupportedPlatform",
    "Usage",
    "ZombieProcess",
    "images",
    "parse",
    "region_at",
    "regions",
    "symbol_address",
    "usage",
]

_core.setup(Region, Usage, _from_native)

#: The C core's backend: "linux", "macos", or "unsupported".
BACKEND: str = _system.NAME


def _check_pid(pid: int | None) -> int:
    """The pid for the C core: -1 stands for this process."""
    if pid is None:
        return -1
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"pid must be an int or None, not {type(pid).__name__}")
    if pid < 0:
        raise ValueError(f"pid must not be negative, got {pid}")
    if pid > 2**31 - 1:
        raise ValueError(f"pid {pid} is out of range")
    return pid


def regions(pid: int | None = None, *, usage: bool = False) -> Maps:
    """All regions of process ``pid`` (None: this process), sorted by start
    and never overlapping.

    ``usage=True`` also fills ``Region.usage``.  On Linux that reads
    /proc/PID/smaps, which walks the target's page tables while holding its
    mmap lock (its mmap/munmap wait meanwhile): ask only when you need the
    figures, and prefer ``usage(pid)`` for totals.

    Raises NoSuchProcess (ZombieProcess for a zombie) when there is no map to
    read, AccessDenied with the reason when the OS refuses.
    """
    _check_pid(pid)
    return _system.regions(pid, usage)


def _check_addr(addr: int) -> int:
    if isinstance(addr, bool) or not isinstance(addr, int):
        raise TypeError(f"addr must be an int, not {type(addr).__name__}")
    if not 0 <= addr < 2**64:
        raise ValueError(f"addr must be between 0 and 2**64 - 1, got {addr:#x}")
    return addr


def region_at(pid: int | None, addr: int) -> Region | None:
    """The region of process ``pid`` (None: this process) that holds
    ``addr``, or None when nothing is mapped there.

    On Linux 6.11 and newer this is one PROCMAP_QUERY, a few microseconds
    whatever the size of the map; older kernels search the listing.  The
    answer is always what ``regions(pid).at(addr)`` gives.  Setting the
    environment variable MEMMAPS_REGION_AT=listing forces the listing.
    """
    _check_pid(pid)
    return _system.region_at(pid, _check_addr(addr))


def images(pid: int | None = None) -> list[Image]:
    """The executables and shared libraries loaded in process ``pid`` (None:
    this process), and its vdso, in address order, each with its load bias
    and build-id."""
    _check_pid(pid)
    return _system.images(pid)


def symbol_address(pid: int | None, symbol: str, image: str | None = None) -> int:
    """The runtime address of ``symbol`` in process ``pid``, ASLR applied.

    ``image`` narrows the search to the image with that path or file name;
    otherwise images are searched in address order (the main executable
    first, as it is usually mapped lowest).  Raises SymbolNotFound.
    """
    _check_pid(pid)
    found = _system.images(pid)

    def same_file(candidate: Image, path: str) -> bool:
        return _system.same_file(pid, candidate, path)

    return find_symbol(found, symbol, image, os.getpid() if pid is None else pid, same_file)


def usage(pid: int | None = None) -> Usage:
    """Whole-process totals (None: this process).

    On Linux this reads /proc/PID/smaps_rollup, which the kernel adds up in
    one pass and which alone has ``pss_anon``, ``pss_file`` and
    ``pss_shmem``; kernels before 4.14 lack it, and the regions of smaps are
    summed instead.  A kernel thread has no figures (every one is None).
    """
    _check_pid(pid)
    return _system.usage(pid)


def parse(text: str | bytes) -> Maps:
    """Regions from saved /proc/PID/maps or smaps text (str or bytes); smaps
    text fills ``Region.usage``.

    The text alone cannot tell two things a live read can: whether ``\\012``
    in a name was a newline or those four characters (parse assumes a
    newline), and whether a name ending in " (deleted)" was deleted (parse
    assumes it was).  Malformed text raises ParseError with the line number.
    """
    if isinstance(text, str):
        data = os.fsencode(text)
    elif isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
    else:
        raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
    return Maps._trusted(_core.parse_maps(data), None, None)
