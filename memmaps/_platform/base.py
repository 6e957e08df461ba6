"""What every platform module provides: the one protocol of the platform layer.

A platform module (linux.py, macos.py, unsupported.py; windows.py and
freebsd.py to come) is a module of functions with these names.  The public
functions in memmaps/__init__.py check their arguments and call the
platform chosen at import; nothing outside this package asks which system
it runs on.  ``pid`` is a checked pid, or None for the calling process.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from ..images import Image, Loaded
from ..maps import Maps
from ..region import Region
from ..usage import Usage


class Platform(Protocol):
    #: The backend's name, as the C core reports it: "linux", "macos" ...
    NAME: str

    def regions(self, pid: int | None, usage: bool) -> Maps:
        """Every region, sorted and never overlapping, named as the OS allows
        (macOS: after dyld's images), with usage when asked for."""
        ...

    def region_at(self, pid: int | None, addr: int) -> Region | None:
        """The region that holds addr, named as regions() names it."""
        ...

    def usage(self, pid: int | None) -> Usage:
        """The whole process's totals."""
        ...

    def images(self, pid: int | None) -> list[Image]:
        """The loaded images in address order, each able to look its
        symbols up in the format the system uses."""
        ...

    def loaded(self, pid: int | None) -> Loaded:
        """The loaded images, and the order the dynamic linker searches them
        in, found in one look at the process."""
        ...

    def images_key(self, pid: int | None) -> Hashable:
        """A value that differs whenever the set of loaded images has
        changed, far cheaper to have than the images themselves."""
        ...

    def same_file(self, pid: int | None, image: Image, path: str) -> bool:
        """Whether path, as the target sees it, leads to the file image was
        loaded from (another spelling of it: /lib and /usr/lib, a symlink)."""
        ...

    def read_memory(self, pid: int | None, addr: int, size: int) -> bytes:
        """Up to size bytes at addr: fewer where the range runs into memory
        that is not mapped or not readable."""
        ...
