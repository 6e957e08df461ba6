"""Images: the executables and shared libraries loaded in a process.

An image is a file the loader mapped (ELF, Mach-O; PE to come) or one the
kernel provides (the vdso).  Its load bias joins the file and the memory:
the runtime address of anything in the file is its virtual address in the
file plus the bias, which is where ASLR put it.  Which images there are,
and how their symbol tables are read, is each platform's (memmaps/
_platform/); the Image is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from .maps import Maps

_ADDRESS_MASK = 2**64 - 1


class FileSymbol(NamedTuple):
    """A symbol as its image's file has it: before the load bias."""

    name: str
    value: int
    size: int
    #: "function", "object", "tls", "ifunc" or "other".
    kind: str
    #: Defined with global or weak binding (else local to its file).
    is_global: bool
    #: An absolute value (ELF SHN_ABS): the bias does not apply to it.
    is_absolute: bool


class SymbolTable(Protocol):
    """An image's symbols, as a platform reads them (opened when first
    asked, kept without holding the file open)."""

    def find(self, name: str) -> FileSymbol | None:
        """The defined symbol of that name (``name@VERSION`` for one
        version), or None."""
        ...

    def covering(self, vaddrs: Sequence[int]) -> list[FileSymbol | None]:
        """For each file virtual address, the symbol that holds it (a
        function of size 0: the nearest before it in its section)."""
        ...


class Image:
    """One loaded executable or shared library (or the vdso)."""

    __slots__ = ("_table", "base", "bias", "build_id", "end", "path", "regions")

    def __init__(
        self,
        path: str,
        base: int,
        end: int,
        bias: int,
        build_id: str | None,
        regions: Maps,
        table: SymbolTable,
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
        self._table = table

    @property
    def deleted(self) -> bool:
        """The file was unlinked (or replaced) since it was mapped."""
        return any(region.deleted for region in self.regions if region.path == self.path)

    def symbol(self, name: str) -> int | None:
        """The runtime address of a defined symbol, or None.

        ELF: the image's own .symtab and .dynsym, then a separate debug file
        found by build-id or .gnu_debuglink (for stripped files); the address
        of an IFUNC is its resolver's, not the function it picks; an
        absolute symbol's value is not moved by the bias; thread-local
        symbols have no single address and are not found.  Mach-O: the
        LC_SYMTAB symbols, read through __LINKEDIT in the process's memory,
        so dylibs of the shared cache resolve too; a C name is looked up
        with the leading underscore Mach-O gives it.
        """
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        found = self._table.find(name) if name else None
        if found is None or found.kind == "tls":
            return None
        return self.runtime_address(found)

    def runtime_address(self, found: FileSymbol) -> int:
        """Where a symbol of this image's file is in the process: its value
        plus the bias, except for an absolute symbol (a TLS symbol's value is
        an offset in the thread's block, and stays one)."""
        if found.is_absolute or found.kind == "tls":
            return found.value
        return (found.value + self.bias) & _ADDRESS_MASK

    def __repr__(self) -> str:
        return (
            f"Image(path={self.path!r}, base={self.base:#x}, end={self.end:#x}, "
            f"bias={self.bias:#x}, build_id={self.build_id!r})"
        )

    def _repr_html_(self) -> str:
        from .render.html import image_html

        return image_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from .render.pretty import image_pretty

        image_pretty(self, p, cycle)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[str, int, int, int, str | None]:
        return (self.path, self.base, self.end, self.bias, self.build_id)


class Loaded(NamedTuple):
    """The images of a process at one moment, and the order the dynamic
    linker searches them in."""

    #: In address order.
    images: list[Image]
    #: The dynamic linker's global scope first, then the rest.
    order: list[Image]
    #: How the order was found: "link_map" (the target's own chain),
    #: "rebuilt" (from its environment and DT_NEEDED, memory unreadable),
    #: "dyld" (dyld's image list), "modules" (Windows' module list), or
    #: "address" (nothing better).
    how: str
