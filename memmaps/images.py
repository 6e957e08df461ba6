"""Images: the executables and shared libraries loaded in a process.

An image is a file the loader mapped (ELF, Mach-O; PE to come) or one the
kernel provides (the vdso).  Its load bias joins the file and the memory:
the runtime address of anything in the file is its virtual address in the
file plus the bias, which is where ASLR put it.  Which images there are,
and how their symbol tables are read, is each platform's (memmaps/
_platform/); the Image and the search for a symbol across images are the
same everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .errors import SymbolNotFound
from .maps import Maps


class Image:
    """One loaded executable or shared library (or the vdso)."""

    __slots__ = ("_lookup", "base", "bias", "build_id", "end", "path", "regions")

    def __init__(
        self,
        path: str,
        base: int,
        end: int,
        bias: int,
        build_id: str | None,
        regions: Maps,
        lookup: Callable[[str], int | None],
    ) -> None:
        #: The file's path as the map names it ("[vdso]" for the vdso).
        self.path = path
        #: The lowest mapped address.
        self.base = base
        #: The end of the highest segment, page-aligned.
        self.end = end
        #: Runtime address = address in the file + bias.
        self.bias = bias
        #: The GNU build-id (Mach-O: LC_UUID) as hex, or None.
        self.build_id = build_id
        #: The regions of the image.
        self.regions = regions
        # name -> the symbol's address in the file (before the bias), or None
        self._lookup = lookup

    @property
    def deleted(self) -> bool:
        """The file was unlinked (or replaced) since it was mapped."""
        return any(region.deleted for region in self.regions if region.path == self.path)

    def symbol(self, name: str) -> int | None:
        """The runtime address of a defined symbol, or None.

        ELF: the image's own .symtab and .dynsym, then a separate debug file
        found by build-id or .gnu_debuglink (for stripped files); the address
        of an IFUNC is its resolver's, not the function it picks, and
        thread-local symbols have no single address and are not found.
        Mach-O: the LC_SYMTAB symbols, read through __LINKEDIT in the
        process's memory, so dylibs of the shared cache resolve too; a C
        name is looked up with the leading underscore Mach-O gives it.
        """
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        value = self._lookup(name)
        return None if value is None else (value + self.bias) & (2**64 - 1)

    def __repr__(self) -> str:
        return (
            f"Image(path={self.path!r}, base={self.base:#x}, end={self.end:#x}, "
            f"bias={self.bias:#x}, build_id={self.build_id!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[str, int, int, int, str | None]:
        return (self.path, self.base, self.end, self.bias, self.build_id)


#: Whether a path leads to an image's file, as the platform resolves it.
SameFile = Callable[[Image, str], bool]


def _is_image(found: Image, image: str, same_file: SameFile) -> bool:
    """Whether image names found: its path, its file name, or another path
    to the same file (/lib and /usr/lib, a symlinked folder)."""
    if found.path == image or os.path.basename(found.path) == image:
        return True
    return same_file(found, image)


def find_symbol(
    images: list[Image], symbol: str, image: str | None, pid: int | None, same_file: SameFile
) -> int:
    if not isinstance(symbol, str):
        raise TypeError(f"symbol must be a str, not {type(symbol).__name__}")
    if image is not None and not isinstance(image, str):
        raise TypeError(f"image must be a str or None, not {type(image).__name__}")
    candidates = images
    if image is not None:
        candidates = [found for found in images if _is_image(found, image, same_file)]
        if not candidates:
            names = ", ".join(sorted({os.path.basename(found.path) for found in images}))
            raise SymbolNotFound(f"no image {image!r} in process {pid}: it has {names}")
    for candidate in candidates:
        address = candidate.symbol(symbol)
        if address is not None:
            return address
    where = f"image {image!r}" if image is not None else f"any of {len(candidates)} images"
    raise SymbolNotFound(f"symbol {symbol!r} is not defined in {where} of process {pid}")
