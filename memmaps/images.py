"""Images: the executables and shared libraries loaded in a process.

An image is an ELF file mapped from file offset 0, with the rest of its
segments after it.  Its load bias joins the file and the memory: the
runtime address of anything in the file is its virtual address in the file
plus the bias, which is where ASLR put it.  The ELF is read from the file
the target really has mapped (``/proc/PID/map_files``, or ``/proc/PID/exe``
for the executable), so a file deleted or replaced on disk since is never
confused with the one in memory; where that is not allowed, from the path
when it still leads to the same inode, and otherwise from the target's own
memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import suppress

from . import _core
from .errors import Error, ParseError, SymbolNotFound
from .maps import Maps
from .region import Region

_PAGE = os.sysconf("SC_PAGESIZE") if hasattr(os, "sysconf") else 4096
_PT_LOAD = 1
_ELF_MAGIC = b"\x7fELF"
# The largest image read whole from memory; real ones are far smaller.
_MEMORY_IMAGE_LIMIT = 64 << 20
# Where separate debug files live, as GDB looks for them.
_DEBUG_ROOT = "/usr/lib/debug"


def _floor_page(value: int) -> int:
    return value & ~(_PAGE - 1)


def _ceil_page(value: int) -> int:
    return (value + _PAGE - 1) & ~(_PAGE - 1)


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


class _ElfSymbols:
    """Symbol lookup in an ELF image, with its separate debug file."""

    __slots__ = ("_bias", "_build_id", "_debug", "_debug_searched", "_elf", "_path")

    def __init__(self, elf: _core.ImageFile, path: str, build_id: str | None, bias: int) -> None:
        self._elf = elf
        self._path = path
        self._build_id = build_id
        self._bias = bias
        self._debug: _core.ImageFile | None = None
        self._debug_searched = False

    def __call__(self, name: str) -> int | None:
        # The dynamic loader rewrites DT_* addresses in memory images.
        found = self._elf.symbol(name, self._bias)
        if found is None or found[2] == "tls":
            debug = self._debug_file()
            found = None if debug is None else debug.symbol(name)
        if found is None or found[2] == "tls":
            return None
        return found[0]

    def _debug_file(self) -> _core.ImageFile | None:
        if not self._debug_searched:
            self._debug = _find_debug_file(self._path, self._build_id, self._elf.debuglink)
            self._debug_searched = True
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
        with suppress(OSError, Error):
            elf = _open_path(candidate)
            # A debug file for another build would give wrong addresses.
            if build_id is None or elf.build_id is None or elf.build_id.hex() == build_id:
                return elf
    return None


def _open_path(path: str) -> _core.ImageFile:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _core.ImageFile(fd)
    finally:
        os.close(fd)


def _same_file(st: os.stat_result, region: Region) -> bool:
    return (
        st.st_ino == region.inode
        and os.major(st.st_dev) == region.dev_major
        and os.minor(st.st_dev) == region.dev_minor
    )


def _open_if_same_file(path: str, region: Region) -> _core.ImageFile | None:
    """The ELF at path, if path leads to the very file mapped at region."""
    with suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _same_file(os.fstat(fd), region):
                return _core.ImageFile(fd)
        finally:
            os.close(fd)
    return None


def _open_mapped_file(pid: int | None, region: Region) -> _core.ImageFile | None:
    """The ELF of the file mapped at region, read from that very file."""
    proc = "self" if pid is None else str(pid)
    # The mapped file itself, even if deleted or replaced on disk; needs
    # CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE).
    with suppress(OSError):
        return _open_path(f"/proc/{proc}/map_files/{region.start:x}-{region.end:x}")
    # The executable's own link needs only the right to read the map, and it
    # too leads to the mapped file when it was deleted or replaced.
    found = _open_if_same_file(f"/proc/{proc}/exe", region)
    if found is not None or region.path is None:
        return found
    # The path, in the target's root, if it still leads to the same file.
    return _open_if_same_file(f"/proc/{proc}/root{region.path}", region)


def _read_image_from_memory(pid: int | None, group: list[Region]) -> bytes:
    """The file as far as the target has it mapped: each region's bytes at
    its file offset (section headers, never mapped, are missing)."""
    native_pid = -1 if pid is None else pid
    size = min(
        max(region.offset + region.end - region.start for region in group),
        _MEMORY_IMAGE_LIMIT,
    )
    image = bytearray(size)
    for region in group:
        if not region.readable or region.offset >= size:
            continue
        length = min(region.end - region.start, size - region.offset)
        data = _core.read_memory(native_pid, region.start, length)
        image[region.offset : region.offset + len(data)] = data
    return bytes(image)


def _load_bias(elf: _core.ImageFile, first: Region) -> int | None:
    """Bias from the PT_LOAD that maps the first region's file offset."""
    for kind, _flags, offset, vaddr, filesz, _memsz, _align in elf.segments:
        if kind != _PT_LOAD:
            continue
        if _floor_page(offset) <= first.offset < max(offset + filesz, _floor_page(offset) + 1):
            return first.start - (vaddr - (offset - first.offset))
    return None


def _image_end(elf: _core.ImageFile, bias: int, fallback: int) -> int:
    ends = [
        vaddr + memsz
        for kind, _flags, _offset, vaddr, _filesz, memsz, _align in elf.segments
        if kind == _PT_LOAD
    ]
    return _ceil_page(bias + max(ends)) if ends else fallback


def _file_groups(maps: Maps) -> Iterator[list[Region]]:
    """Runs of regions of one file that start at file offset 0."""
    group: list[Region] = []
    for region in maps:
        same_file = (
            group
            and region.path == group[0].path
            and region.inode == group[0].inode
            and (region.dev_major, region.dev_minor) == (group[0].dev_major, group[0].dev_minor)
        )
        if same_file and region.offset != 0:
            group.append(region)
            continue
        if group:
            yield group
            group = []
        if region.kind == "file" and region.offset == 0 and region.inode != 0:
            group = [region]
    if group:
        yield group


def find_images(pid: int | None, maps: Maps) -> list[Image]:
    images = []
    for group in _file_groups(maps):
        image = _file_image(pid, maps, group)
        if image is not None:
            images.append(image)
    for region in maps.filter(kind="vdso"):
        image = _memory_image(pid, maps, [region])
        if image is not None:
            images.append(image)
    images.sort(key=lambda image: image.base)
    return images


def _file_image(pid: int | None, maps: Maps, group: list[Region]) -> Image | None:
    try:
        elf = _open_mapped_file(pid, group[0])
    except ParseError:
        return None  # a mapped file that is not ELF (a font, a locale archive)
    if elf is None:
        return _memory_image(pid, maps, group)
    return _make_image(pid, maps, group, elf)


def _memory_image(pid: int | None, maps: Maps, group: list[Region]) -> Image | None:
    native_pid = -1 if pid is None else pid
    head = _core.read_memory(native_pid, group[0].start, 4) if group[0].readable else b""
    if head != _ELF_MAGIC:
        return None
    try:
        # The vdso maps its whole file, section headers too; a library maps
        # only its segments, and what lies where its section headers would
        # be is not them.
        elf = _core.ImageFile(
            _read_image_from_memory(pid, group), format="elf", sections=group[0].kind == "vdso"
        )
    except ParseError:
        return None
    return _make_image(pid, maps, group, elf)


def _make_image(
    pid: int | None, maps: Maps, group: list[Region], elf: _core.ImageFile
) -> Image | None:
    first = group[0]
    if not first.path:
        return None
    bias = _load_bias(elf, first)
    if bias is None:
        return None
    end = max(_image_end(elf, bias, group[-1].end), group[-1].end)
    regions = Maps([r for r in maps if first.start <= r.start and r.end <= end], pid)
    build_id = None if elf.build_id is None else elf.build_id.hex()
    return Image(
        path=first.path,
        base=first.start,
        end=end,
        bias=bias,
        build_id=build_id,
        regions=regions,
        lookup=_ElfSymbols(elf, first.path, build_id, bias),
    )


def _is_image(found: Image, image: str, pid: int | None) -> bool:
    """Whether image names found: its path, its file name, or another path
    to the same file (/lib and /usr/lib, a symlinked folder)."""
    if found.path == image or os.path.basename(found.path) == image:
        return True
    if "/" not in image or not found.regions:
        return False
    root = f"/proc/{'self' if pid is None else pid}/root"
    path = image if image.startswith("/") else os.path.abspath(image)
    try:
        return _same_file(os.stat(root + path), found.regions[0])
    except OSError:
        return False


def find_symbol(images: list[Image], symbol: str, image: str | None, pid: int | None) -> int:
    if not isinstance(symbol, str):
        raise TypeError(f"symbol must be a str, not {type(symbol).__name__}")
    if image is not None and not isinstance(image, str):
        raise TypeError(f"image must be a str or None, not {type(image).__name__}")
    candidates = images
    if image is not None:
        candidates = [found for found in images if _is_image(found, image, pid)]
        if not candidates:
            names = ", ".join(sorted({os.path.basename(found.path) for found in images}))
            raise SymbolNotFound(f"no image {image!r} in process {pid}: it has {names}")
    for candidate in candidates:
        address = candidate.symbol(symbol)
        if address is not None:
            return address
    where = f"image {image!r}" if image is not None else f"any of {len(candidates)} images"
    raise SymbolNotFound(f"symbol {symbol!r} is not defined in {where} of process {pid}")
