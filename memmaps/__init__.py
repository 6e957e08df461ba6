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
from .errors import (
    AccessDenied,
    Error,
    NoSuchProcess,
    ParseError,
    SymbolNotFound,
    UnsupportedPlatform,
    ZombieProcess,
    _from_native,
)
from .maps import Maps
from .region import KINDS, Region

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "AccessDenied",
    "Error",
    "Maps",
    "NoSuchProcess",
    "ParseError",
    "Region",
    "SymbolNotFound",
    "UnsupportedPlatform",
    "ZombieProcess",
    "parse",
    "regions",
]

_core.setup(Region, _from_native)

#: The C core's name for what it reads: "linux", or "unsupported".
BACKEND: str = _core.BACKEND


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

    Raises NoSuchProcess (ZombieProcess for a zombie) when there is no map to
    read, AccessDenied with the reason when the OS refuses.
    """
    native_pid = _check_pid(pid)
    if usage:
        raise UnsupportedPlatform("usage=True is not available in this version")
    found = _core.regions(native_pid)
    return Maps._trusted(found, os.getpid() if pid is None else pid)


def parse(text: str | bytes) -> Maps:
    """Regions from saved /proc/PID/maps text (str or bytes).

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
    return Maps._trusted(_core.parse_maps(data), None)
