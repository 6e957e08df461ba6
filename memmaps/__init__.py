"""memmaps: the virtual memory map of a process, read by a C core.

    >>> import memmaps
    >>> maps = memmaps.regions()          # this process
    >>> maps.filter(kind="stack")[0].path
    '[stack]'

The public contract is documented in docs/api.md.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable
from typing import overload

from . import _core
from ._platform import current as _system
from .errors import (
    AccessDenied,
    Error,
    MemoryReadError,
    NoSuchProcess,
    ParseError,
    PartialListingWarning,
    SymbolNotFound,
    UnsupportedPlatform,
    ZombieProcess,
    _from_native,
)
from .images import Image
from .maps import Maps
from .mapsdiff import MapsDiff, diff
from .process import Process, read_exactly
from .process import check_pid as _check_pid
from .region import KINDS, Region
from .snapshot import LoadError, load
from .summary import CATEGORIES, Gap, Summary, SummaryRow
from .symbols import AddressIndex, Symbol, check_name, find
from .usage import Usage

__version__ = "0.1.0"

__all__ = [
    "CATEGORIES",
    "KINDS",
    "AccessDenied",
    "Error",
    "Gap",
    "Image",
    "LoadError",
    "Maps",
    "MapsDiff",
    "MemoryReadError",
    "NoSuchProcess",
    "ParseError",
    "PartialListingWarning",
    "Process",
    "Region",
    "Summary",
    "SummaryRow",
    "Symbol",
    "SymbolNotFound",
    "UnsupportedPlatform",
    "Usage",
    "ZombieProcess",
    "diff",
    "images",
    "load",
    "parse",
    "read_memory",
    "region_at",
    "regions",
    "symbol",
    "symbol_address",
    "symbolize",
    "usage",
]

_core.setup(Region, Usage, _from_native)

#: The C core's backend: "linux", "macos", or "unsupported".
BACKEND: str = _system.NAME

#: The environment variable that sets PROCFS when memmaps is imported.
PROCFS_VARIABLE = "MEMMAPS_PROCFS"

#: (Linux) The root of the procfs pids are looked up in: "/proc" unless
#: MEMMAPS_PROCFS or an assignment (``memmaps.PROCFS = "/host/proc"``) says
#: otherwise, as psutil's PROCFS_PATH.  Pids are that procfs's pid
#: namespace's numbers; pid None is always this process, read through its
#: own /proc.
PROCFS: str


class _Module(types.ModuleType):
    # A property on the module's class, so that an assignment is checked
    # and reaches the C core, which reads it at each call.
    @property
    def PROCFS(self) -> str:
        return _core.procfs()

    @PROCFS.setter
    def PROCFS(self, path: str) -> None:
        _core.set_procfs(os.fspath(path) if isinstance(path, os.PathLike) else path)


sys.modules[__name__].__class__ = _Module

if os.environ.get(PROCFS_VARIABLE):
    try:
        _core.set_procfs(os.environ[PROCFS_VARIABLE])
    except ValueError as e:
        raise ValueError(f"the environment variable {PROCFS_VARIABLE}: {e}") from None


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
    whatever the size of the map, in a gap too; older kernels search the
    listing, as does an address in the [vsyscall] page.  The
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


def symbol(pid: int | None, name: str, image: str | None = None) -> Symbol:
    """The symbol the process uses for ``name``, where it is in its memory.

    Images are searched in the dynamic linker's order (the executable, the
    LD_PRELOAD libraries, then the rest in load order; on Linux the target's
    own link_map chain), so an interposed or duplicated symbol resolves to
    the copy the process really uses.  ``name@VERSION`` asks for one version
    of an ELF symbol, ``name@@VERSION`` for the default one.  ``image``
    narrows the search to one image: its path, file name, another path to
    the same file, or the name's stem (``"libc"``).  Raises SymbolNotFound.

    For many questions about one process, ``Process(pid).symbol`` keeps the
    tables it has read.
    """
    return _find_symbol(pid, check_name(name), image)


def _find_symbol(pid: int | None, name: str, image: str | None) -> Symbol:
    _check_pid(pid)
    return find(
        _system.loaded(pid),
        name,
        image,
        os.getpid() if pid is None else pid,
        lambda candidate, path: _system.same_file(pid, candidate, path),
    )


def symbol_address(pid: int | None, symbol: str, image: str | None = None) -> int:
    """The runtime address of ``symbol`` in process ``pid``, ASLR applied:
    ``memmaps.symbol(pid, symbol, image).address``.  A thread-local symbol
    has no single address: SymbolNotFound says so."""
    found = _find_symbol(pid, check_name(symbol, "symbol"), image)
    if found.kind == "tls":
        raise SymbolNotFound(
            f"symbol {symbol!r} is thread-local: each thread has its own, at offset "
            f"{found.address:#x} of {os.path.basename(found.image.path)}'s TLS block"
        )
    return found.address


@overload
def symbolize(pid: int | None, addr: int) -> Symbol | None: ...


@overload
def symbolize(pid: int | None, addr: Iterable[int]) -> list[Symbol | None]: ...


def symbolize(pid: int | None, addr: int | Iterable[int]) -> Symbol | list[Symbol | None] | None:
    """The symbol that holds ``addr`` in process ``pid``, with ``offset``
    how far into it, or None when no symbol of a loaded image does (a JIT's
    code, the heap).  A function of size 0 (hand-written assembly) holds the
    addresses up to the next symbol of its section.  Given an iterable of
    addresses, a list of answers in the same order."""
    _check_pid(pid)
    if isinstance(addr, int) and not isinstance(addr, bool):
        _check_addr(addr)
        return AddressIndex(_system.images(pid)).symbolize([addr])[0]
    if isinstance(addr, (str, bytes)) or not isinstance(addr, Iterable):
        raise TypeError(f"addr must be an int or an iterable of ints, not {type(addr).__name__}")
    return AddressIndex(_system.images(pid)).symbolize(list(addr))


def read_memory(pid: int | None, addr: int, size: int) -> bytes:
    """Exactly ``size`` bytes of process ``pid``'s memory at ``addr``, read
    without stopping it.  Raises MemoryReadError (with ``read``, the bytes
    that were readable) when part of the range is not mapped or not
    readable, AccessDenied when the OS refuses to let this process read
    that one's memory."""
    _check_pid(pid)
    return read_exactly(pid, addr, size)


def usage(pid: int | None = None) -> Usage:
    """Whole-process totals (None: this process).

    On Linux this reads /proc/PID/smaps_rollup, which the kernel adds up in
    one pass and which alone has ``pss_anon``, ``pss_file`` and
    ``pss_shmem``; kernels before 4.14 lack it, and the regions of smaps are
    summed instead.  A kernel thread has no figures (every one is None).
    """
    _check_pid(pid)
    return _system.usage(pid)


def parse(text: str | bytes, *, strict: bool = False) -> Maps:
    """Regions from saved /proc/PID/maps or smaps text (str or bytes); smaps
    text fills ``Region.usage``.  Lines may end in ``\\n`` or ``\\r\\n``.

    The text alone cannot tell three things a live read can: whether ``\\012``
    in a name was a newline or those four characters (parse assumes a
    newline), whether a name ending in " (deleted)" was deleted (parse
    assumes it was), and whether a ``\\r`` before a newline ended the name
    (parse takes it for a line end).  Malformed text raises ParseError with
    the line number.

    Lines that overlap or are out of order, which a read torn by a changing
    target gives, are cleaned up as a live read is (the later line wins);
    with ``strict=True`` they raise ParseError instead, as do empty ranges:
    text saved from one read of the kernel never has them.
    """
    if isinstance(text, str):
        data = os.fsencode(text)
    elif isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
    else:
        raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
    return Maps._trusted(_core.parse_maps(data, bool(strict)), None, None)
