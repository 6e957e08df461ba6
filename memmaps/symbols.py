"""Symbols across the images of a process: by name, in the dynamic linker's
order, and by address.

The search itself is the same on every system; the platform says which
images there are, in which order the loader searches them (``Loaded``),
and reads each image's table.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from .errors import SymbolNotFound
from .images import FileSymbol, Image, Loaded


class Symbol(NamedTuple):
    """A symbol of a loaded image, where it is in the process."""

    name: str
    #: Runtime address, ASLR applied (an absolute symbol's value as it is; a
    #: thread-local one's offset in its image's TLS block).
    address: int
    size: int
    #: "function", "object", "tls", "ifunc" (the address is the resolver's)
    #: or "other".
    kind: str
    image: Image
    #: 0 from symbol(); from symbolize(), how far the address asked about
    #: lies past ``address``.
    offset: int = 0

    def __repr__(self) -> str:
        offset = f", offset={self.offset:#x}" if self.offset else ""
        return (
            f"Symbol(name={self.name!r}, address={self.address:#x}, size={self.size}, "
            f"kind={self.kind!r}, image={os.path.basename(self.image.path)!r}{offset})"
        )


#: Whether a path leads to an image's file, as the platform resolves it.
SameFile = Callable[[Image, str], bool]

# What follows a library's stem: ".so" and its version numbers, or the
# suffix of a Mach-O or PE image.
_SUFFIX = re.compile(r"(\.so(\.[0-9]+)*|\.dylib|\.bundle|\.dll|\.exe)$", re.IGNORECASE)


def stem(path: str) -> str:
    """A file's name without the suffix that makes it a library:
    ``libc.so.6`` -> ``libc``, ``libpython3.11.so.1.0`` -> ``libpython3.11``,
    ``libSystem.B.dylib`` -> ``libSystem.B``."""
    name = os.path.basename(path)
    return _SUFFIX.sub("", name) or name


def select_images(
    images: Sequence[Image], image: str, pid: int, same_file: SameFile
) -> list[Image]:
    """The images that ``image`` names, most exact first: a full path, a
    file name, another path to the same file, else a stem.  Raises
    SymbolNotFound when none does, and when a file name or stem fits two
    different files (naming the candidates)."""
    if not isinstance(image, str):
        raise TypeError(f"image must be a str or None, not {type(image).__name__}")
    exact = [found for found in images if found.path == image]
    if exact:
        return exact
    for matches in (
        lambda found: os.path.basename(found.path) == image,
        lambda found: same_file(found, image),
        lambda found: "/" not in image and stem(found.path) == image,
    ):
        chosen = [found for found in images if matches(found)]
        paths = sorted({found.path for found in chosen})
        if len(paths) > 1:
            raise SymbolNotFound(
                f"image {image!r} is ambiguous in process {pid}: it names "
                + ", ".join(paths)
                + "; give the full path"
            )
        if chosen:
            return chosen
    names = ", ".join(sorted({os.path.basename(found.path) for found in images}))
    raise SymbolNotFound(f"no image {image!r} in process {pid}: it has {names}")


def check_name(name: object, what: str = "name") -> str:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    return name


def find(loaded: Loaded, name: str, image: str | None, pid: int, same_file: SameFile) -> Symbol:
    """The symbol the process uses for name: the first global definition in
    the loader's order (as dlsym(RTLD_DEFAULT) finds it), else the first
    local one (a static of one file, which only a debugger would ask for).
    Raises SymbolNotFound."""
    check_name(name)
    candidates = (
        loaded.order if image is None else select_images(loaded.order, image, pid, same_file)
    )
    local: tuple[Image, FileSymbol] | None = None
    if name:
        for candidate in candidates:
            found = candidate._table.find(name)
            if found is None:
                continue
            if found.is_global:
                return _symbol(candidate, found)
            if local is None:
                local = (candidate, found)
    if local is not None:
        return _symbol(*local)
    if image is not None:
        where = f"image {image!r}"
    elif len(candidates) == 1:
        where = "the only image"
    else:
        where = f"any of {len(candidates)} images"
    raise SymbolNotFound(f"symbol {name!r} is not defined in {where} of process {pid}")


def _symbol(image: Image, found: FileSymbol, offset: int = 0) -> Symbol:
    return Symbol(found.name, image.runtime_address(found), found.size, found.kind, image, offset)


def check_address(addr: object) -> int:
    if isinstance(addr, bool) or not isinstance(addr, int):
        raise TypeError(f"addr must be an int, not {type(addr).__name__}")
    if not 0 <= addr < 2**64:
        raise ValueError(f"addr must be between 0 and 2**64 - 1, got {addr:#x}")
    return addr


_ADDRESS_MASK = 2**64 - 1


def check_addresses(addrs: Sequence[int]) -> None:
    """check_address for every element, in one pass where all are plain
    ints (the usual case: a profiler's samples)."""
    if all(type(addr) is int for addr in addrs):
        if addrs and not (min(addrs) >= 0 and max(addrs) <= _ADDRESS_MASK):
            for addr in addrs:
                check_address(addr)
        return
    for addr in addrs:
        check_address(addr)


class AddressIndex:
    """The images of a process by address, for symbolizing many addresses
    with one search per image."""

    __slots__ = ("_bases", "_ends", "_images")

    def __init__(self, images: Iterable[Image]) -> None:
        self._images = sorted(images, key=lambda image: image.base)
        self._bases = [image.base for image in self._images]
        self._ends = [image.end for image in self._images]

    def image_at(self, addr: int) -> Image | None:
        i = bisect_right(self._bases, addr) - 1
        if i >= 0 and addr < self._ends[i]:
            return self._images[i]
        return None

    def symbolize(self, addrs: Sequence[int]) -> list[Symbol | None]:
        """The symbol holding each address (None where no image's symbol
        does), in the order asked."""
        check_addresses(addrs)
        result: list[Symbol | None] = [None] * len(addrs)
        # A profiler symbolizes thousands of samples at once: the loops
        # below are per address, so they stay free of calls that Python
        # would have to make into functions of this module.
        bases, ends = self._bases, self._ends
        by_image: dict[int, list[int]] = {}
        for position, addr in enumerate(addrs):
            i = bisect_right(bases, addr) - 1
            if i >= 0 and addr < ends[i]:
                positions = by_image.get(i)
                if positions is None:
                    by_image[i] = [position]
                else:
                    positions.append(position)
        make = tuple.__new__
        for i, positions in by_image.items():
            image = self._images[i]
            bias = image.bias
            vaddrs = [(addrs[p] - bias) & _ADDRESS_MASK for p in positions]
            for position, found in zip(positions, image._table.covering(vaddrs), strict=True):
                if found is None:
                    continue
                name, value, size, kind, _is_global, is_absolute = found
                # Image.runtime_address, inline.
                start = value if is_absolute or kind == "tls" else (value + bias) & _ADDRESS_MASK
                result[position] = make(
                    Symbol, (name, start, size, kind, image, addrs[position] - start)
                )
        return result
