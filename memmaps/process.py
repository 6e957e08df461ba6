"""Process: a handle for the questions a profiler asks again and again.

A sampling profiler resolves a few symbols once, then reads memory and
symbolizes addresses many times a second.  Reading the images and their
symbol tables is the expensive part, so a Process does it once and keeps
the result until the set of loaded images changes (``generation``): a
``dlopen`` or ``dlclose`` in the target, or an ``execve``.  It holds no
file descriptor per image: tables are read into memory and the files
closed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Hashable, Iterable
from types import TracebackType
from typing import overload

from ._platform import current as _system
from .errors import MemoryReadError
from .images import Image, Loaded
from .maps import Maps, _count
from .region import Region
from .symbols import AddressIndex, Symbol, check_address, check_name, find
from .usage import Usage


def check_pid(pid: object) -> int | None:
    """pid as the platform takes it, None standing for this process."""
    if pid is None:
        return None
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"pid must be an int or None, not {type(pid).__name__}")
    if pid < 0:
        raise ValueError(f"pid must not be negative, got {pid}")
    if pid > 2**31 - 1:
        raise ValueError(f"pid {pid} is out of range")
    return pid


def check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size must be an int, not {type(size).__name__}")
    if size < 0:
        raise ValueError(f"size must not be negative, got {size}")
    return size


def read_exactly(pid: int | None, addr: int, size: int) -> bytes:
    """size bytes at addr of process pid, or MemoryReadError."""
    check_address(addr)
    check_size(size)
    if addr + size > 2**64:
        raise ValueError(f"addr + size runs past the end of the address space: {addr:#x} + {size}")
    data = _system.read_memory(pid, addr, size)
    if len(data) < size:
        first = addr + len(data)
        raise MemoryReadError(
            f"cannot read {_count(size, 'byte')} at {addr:#x} in process "
            f"{os.getpid() if pid is None else pid}: {len(data)} readable, "
            f"then {first:#x} is not mapped or not readable",
            addr,
            len(data),
        )
    return data


class Process:
    """A process to ask repeated questions of (``pid=None``: this one).

    Images and symbol tables are read when first needed and kept until
    ``generation`` changes.  Use it as a context manager or call
    ``close()`` to drop what it keeps.  Raises NoSuchProcess or
    AccessDenied at once when the process cannot be read.
    """

    def __init__(self, pid: int | None = None) -> None:
        self._pid = check_pid(pid)
        #: The process id.
        self.pid: int = os.getpid() if pid is None else pid
        self._lock = threading.RLock()
        self._closed = False
        self._generation = 0
        self._key: Hashable | None = None
        self._loaded: Loaded | None = None
        self._index: AddressIndex | None = None
        self._symbols: dict[tuple[str, str | None], Symbol] = {}
        # Fail now, not at the first question, for a process that is gone
        # or not ours to read: one lookup, the cheapest call there is.
        _system.region_at(self._pid, 0)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"generation={self._generation}"
        return f"<memmaps.Process pid={self.pid} {state}>"

    def __enter__(self) -> Process:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Drops the images and tables kept; the handle cannot be used
        after."""
        with self._lock:
            self._closed = True
            self._forget()

    def _forget(self) -> None:
        self._loaded = None
        self._index = None
        self._symbols = {}

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"Process {self.pid} is closed")

    # ---- what changes with every call ----

    def regions(self, *, usage: bool = False) -> Maps:
        self._check_open()
        return _system.regions(self._pid, usage)

    def region_at(self, addr: int) -> Region | None:
        self._check_open()
        return _system.region_at(self._pid, check_address(addr))

    def usage(self) -> Usage:
        self._check_open()
        return _system.usage(self._pid)

    def read(self, addr: int, size: int) -> bytes:
        """Exactly size bytes at addr, or MemoryReadError."""
        self._check_open()
        return read_exactly(self._pid, addr, size)

    # ---- what is kept until the images change ----

    @property
    def generation(self) -> int:
        """A number that changes whenever the set of loaded images changes
        (a library loaded or unloaded, an exec): what was learnt of the
        images before is then read again when next needed.  Reading it
        costs one listing of the map."""
        with self._lock:
            self._check_open()
            key = _system.images_key(self._pid)
            if self._key is not None and key != self._key:
                self._generation += 1
                self._forget()
            self._key = key
            return self._generation

    def _current(self) -> Loaded:
        with self._lock:
            self._check_open()
            if self._loaded is None:
                # The key is taken first: a library loaded meanwhile makes
                # the next look at generation see a change, never miss one.
                key = _system.images_key(self._pid)
                if self._key is not None and key != self._key:
                    self._generation += 1
                self._key = key
                self._loaded = _system.loaded(self._pid)
            return self._loaded

    def images(self) -> list[Image]:
        """The loaded images in address order (kept)."""
        return list(self._current().images)

    @property
    def search_order(self) -> tuple[list[Image], str]:
        """The images in the order symbols are searched, and how that order
        was found ("link_map", "rebuilt", "dyld", "modules" or "address")."""
        loaded = self._current()
        return list(loaded.order), loaded.how

    def symbol(self, name: str, image: str | None = None) -> Symbol:
        """The symbol the process uses for name (see memmaps.symbol);
        answers are kept, so asking again costs a dictionary lookup."""
        key = (check_name(name), image)
        found = self._symbols.get(key)
        if found is None:
            loaded = self._current()
            found = find(loaded, name, image, self.pid, self._same_file)
            with self._lock:
                if self._loaded is loaded:
                    self._symbols[key] = found
        return found

    def _same_file(self, image: Image, path: str) -> bool:
        return _system.same_file(self._pid, image, path)

    @overload
    def symbolize(self, addr: int) -> Symbol | None: ...

    @overload
    def symbolize(self, addr: Iterable[int]) -> list[Symbol | None]: ...

    def symbolize(self, addr: int | Iterable[int]) -> Symbol | list[Symbol | None] | None:
        """The symbol that holds an address (``offset`` says how far into
        it), or None; given several addresses, a list of the answers."""
        loaded = self._current()
        with self._lock:
            index = self._index
            if index is None or self._loaded is not loaded:
                index = self._index = AddressIndex(loaded.images)
        if isinstance(addr, int) and not isinstance(addr, bool):
            return index.symbolize([addr])[0]
        if isinstance(addr, (str, bytes)) or not isinstance(addr, Iterable):
            raise TypeError(
                f"addr must be an int or an iterable of ints, not {type(addr).__name__}"
            )
        return index.symbolize(list(addr))
