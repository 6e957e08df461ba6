"""Windows: VirtualQueryEx, the module list and the PE export tables.

The C core walks the address space with VirtualQueryEx, names views and
images with GetMappedFileNameW (drive letters from QueryDosDeviceW), labels
the heaps, stacks, PEB and TEBs from the PEB and the TEBs, and lists the
modules with EnumProcessModulesEx (memmaps/native/backends/windows.c).
Names come as UTF-16 and reach Python losslessly (WTF-8 in the core,
decoded with surrogatepass).  Each module's symbols are its PE export table,
read from the process's memory: the file a module was loaded from may have
been replaced since, and what the loader resolves against is the image in
memory.
"""

from __future__ import annotations

import os
from contextlib import suppress

from ..images import Image, Loaded
from . import native
from .native import read_memory, region_at, regions, usage

__all__ = [
    "NAME",
    "images",
    "images_key",
    "loaded",
    "read_memory",
    "region_at",
    "regions",
    "same_file",
    "usage",
]

NAME = "windows"


def images(pid: int | None) -> list[Image]:
    return native.images(pid, PESymbols)


def loaded(pid: int | None) -> Loaded:
    """Windows has no global symbol scope: each import names its DLL.  The
    order given is the module list's (the executable, then the DLLs in the
    order the loader loaded them), which is where GetModuleHandle and a
    debugger's unqualified lookups look; address order where the backend
    gives no order."""
    records, maps = native.image_records(pid)
    found = native.images_of(pid, (records, maps), PESymbols)
    order = native.in_load_order(records, found)
    if order is None:
        return Loaded(found, list(found), "address")
    return Loaded(found, order, "modules")


def images_key(pid: int | None) -> frozenset[tuple[int, str | None]]:
    """Where each image allocation (MEM_IMAGE) begins and what it is named:
    loading or unloading a module changes it, allocating memory or mapping
    a data file does not.  One VirtualQueryEx walk, without reading any
    module's headers."""
    return frozenset(
        (region.allocation_base, region.path)
        for region in regions(pid, False)
        if region.tag == "image" and region.allocation_base is not None
    )


def same_file(pid: int | None, image: Image, path: str) -> bool:
    """Whether path leads to the file image was loaded from: the same file
    (os.path.samefile: volume serial and file index), else the same path
    as Windows compares them (case-insensitively)."""
    if "\\" not in path and "/" not in path:
        return False
    with suppress(OSError, ValueError):
        return os.path.samefile(path, image.path)
    return windows_path_key(path) == windows_path_key(image.path)


def windows_path_key(path: str) -> str:
    """A path as Windows compares them: separators one way, case folded
    (NTFS compares names by their upper case; casefold is close enough for
    two spellings of one path)."""
    return path.replace("/", "\\").rstrip("\\").casefold()


class PESymbols(native.MemorySymbols):
    """The exports of a PE image in memory, opened when first asked.  A PE
    file has no symbol table the loader uses but its export directory:
    names, ordinals and forwarders ("NTDLL.RtlAllocateHeap"), which name
    code in another DLL and are not symbols of this one.  Values are
    virtual addresses at the file's ImageBase, which the image's bias
    moves to where the module is loaded."""

    FORMAT = "pe"
    __slots__ = ()
