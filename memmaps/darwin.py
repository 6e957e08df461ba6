"""macOS: images from dyld's own list, and regions named after them.

dyld keeps the list of every image it loaded (dyld_all_image_infos); each
entry gives where the image's mach_header is.  The Mach-O is then read from
the process's memory, not from disk: dylibs of the shared cache have no file
of their own, and their symbol tables live in the cache's shared
__LINKEDIT, which memory has.  The slide is the load address minus the
__TEXT segment's address, as dyld computes it.
"""

from __future__ import annotations

from bisect import bisect_right

from . import _core
from .errors import Error, ParseError
from .images import Image
from .maps import Maps
from .region import Region

_MASK = 2**64 - 1


class _MachOSymbols:
    """Symbol lookup in a Mach-O image: C names carry a leading underscore."""

    __slots__ = ("_macho",)

    def __init__(self, macho: _core.ImageFile) -> None:
        self._macho = macho

    def __call__(self, name: str) -> int | None:
        found = self._macho.symbol("_" + name) or self._macho.symbol(name)
        return None if found is None else found[0]


def _segments(macho: _core.ImageFile, slide: int) -> list[tuple[int, int, str]]:
    """(start, end, name) of the segments that are mapped, slid."""
    return [
        ((vmaddr + slide) & _MASK, (vmaddr + vmsize + slide) & _MASK, name)
        for name, vmaddr, vmsize, _fileoff, _filesize, _maxprot, _initprot in macho.segments
        if vmsize > 0 and name != "__PAGEZERO"
    ]


_Segment = tuple[int, int, str]


def _image(
    macho: _core.ImageFile, load_address: int, path: str, maps: Maps
) -> tuple[Image, list[_Segment]] | None:
    text = next((segment for segment in macho.segments if segment[0] == "__TEXT"), None)
    if text is None:
        return None
    slide = (load_address - text[1]) & _MASK
    segments = _segments(macho, slide)
    regions = Maps(
        [r for r in maps if any(start <= r.start < end for start, end, _ in segments)],
        maps.pid,
    )
    uuid = macho.build_id
    image = Image(
        path=path,
        base=min(start for start, _, _ in segments),
        end=max(end for _, end, _ in segments),
        bias=slide,
        build_id=None if uuid is None else uuid.hex(),
        regions=regions,
        lookup=_MachOSymbols(macho),
    )
    return image, segments


def _loaded(pid: int | None, maps: Maps) -> list[tuple[Image, list[_Segment]]]:
    """Every image in dyld's list, dyld included, with its slid segments."""
    native_pid = -1 if pid is None else pid
    _version, _cache_slide, _cache_base, entries = _core.dyld_images(native_pid)
    loaded = []
    for load_address, path, _is_dyld in entries:
        try:
            macho = _core.ImageFile(pid=native_pid, load_address=load_address, format="macho")
        except ParseError:
            continue  # dyld listed it, but its header is unreadable or torn
        found = _image(macho, load_address, path or f"[image at {load_address:#x}]", maps)
        if found is not None:
            loaded.append(found)
    return loaded


def find_images(pid: int | None, maps: Maps) -> list[Image]:
    """Every image in dyld's list, dyld included, in address order."""
    return sorted((image for image, _ in _loaded(pid, maps)), key=lambda image: image.base)


def name_regions(pid: int | None, maps: Maps) -> Maps:
    """Regions the OS gave no path whose address lies in an image's segment
    get the image's path and, without a tag of their own, the segment's name
    (__TEXT, __DATA_CONST ...), as vmmap labels them."""
    if all(region.path is not None for region in maps):
        return maps
    try:
        loaded = _loaded(pid, maps)
    except Error:
        return maps  # no task port: the names stay those the OS gave
    spans = sorted(
        (start, end, image.path, name)
        for image, segments in loaded
        for start, end, name in segments
    )
    starts = [span[0] for span in spans]
    named: list[Region] = []
    for region in maps:
        if region.path is None:
            index = bisect_right(starts, region.start) - 1
            if index >= 0 and region.start < spans[index][1]:
                _, _, path, segment = spans[index]
                region = region._replace(path=path, tag=region.tag or segment, kind="file")
        named.append(region)
    return Maps._trusted(tuple(named), maps.pid)
