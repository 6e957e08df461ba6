"""What every backend's answers must hold, whatever the system.

A backend is a source of listings (and, where it has them, one-address
lookups and images); these checks take what it returned and say what is
wrong with it, so that the same assertions run on Linux live, on recorded
macOS records, and on the Windows backend under Wine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import memmaps
from memmaps import KINDS, Image, Maps, Region, Usage

PERMS = {f"{r}{w}{x}{s}" for r in "r-" for w in "w-" for x in "x-" for s in "ps"}
MAX_PERMS = {p[:3] for p in PERMS}


def listing_problems(maps: Maps) -> list[str]:
    """Sorted, non-overlapping, non-empty regions with typed fields."""
    problems = []
    if not isinstance(maps, Maps):
        return [f"not a Maps: {type(maps).__name__}"]
    if maps.partial is not None and not (isinstance(maps.partial, str) and maps.partial):
        problems.append(f"partial is neither None nor a sentence: {maps.partial!r}")
    previous: Region | None = None
    for index, region in enumerate(maps):
        where = f"#{index} {region.start:#x}-{region.end:#x}"
        if type(region) is not Region:
            problems.append(f"{where}: a {type(region).__name__}, not a Region")
            continue
        if not 0 <= region.start < region.end <= 2**64:
            problems.append(f"{where}: empty or out of range")
        if previous is not None and region.start < previous.end:
            problems.append(f"{where}: starts before the previous one ends ({previous.end:#x})")
        previous = region
        problems += [f"{where}: {problem}" for problem in _field_problems(region)]
    return problems


def _field_problems(region: Region) -> Iterable[str]:
    if region.perms not in PERMS:
        yield f"perms {region.perms!r}"
    if region.kind not in KINDS:
        yield f"kind {region.kind!r} is not one of KINDS"
    for name in ("offset", "dev_major", "dev_minor", "inode"):
        value = getattr(region, name)
        if type(value) is not int or value < 0:
            yield f"{name} {value!r}"
    if region.path is not None and (not isinstance(region.path, str) or not region.path):
        yield f"path {region.path!r}"
    if type(region.deleted) is not bool:
        yield f"deleted {region.deleted!r}"
    if region.deleted and region.path is None:
        yield "deleted, yet it has no path"
    if region.usage is not None and type(region.usage) is not Usage:
        yield f"usage {region.usage!r}"
    if region.max_perms is not None and region.max_perms not in MAX_PERMS:
        yield f"max_perms {region.max_perms!r}"
    for name in ("share_mode", "tag", "detail"):
        value = getattr(region, name)
        if value is not None and (not isinstance(value, str) or not value):
            yield f"{name} {value!r}"


def lookup_problems(
    maps: Maps, region_at: Callable[[int], Region | None], *, samples: int = 64
) -> list[str]:
    """region_at agrees with the listing: at the first and last byte of
    regions, and in the gaps between them (None)."""
    problems = []
    step = max(1, len(maps) // samples)
    for region in list(maps)[::step]:
        for addr in (region.start, region.end - 1):
            found = region_at(addr)
            if found is None or (found.start, found.end, found.path) != (
                region.start,
                region.end,
                region.path,
            ):
                problems.append(f"region_at({addr:#x}) is {found!r}, the listing has {region!r}")
    for gap in _gaps(maps)[::step]:
        found = region_at(gap)
        if found is not None:
            problems.append(f"region_at({gap:#x}) is {found!r}, in a gap of the listing")
    return problems


def _gaps(maps: Maps) -> list[int]:
    return [
        before.end
        for before, after in zip(maps, list(maps)[1:], strict=False)
        if before.end < after.start
    ]


def image_problems(images: list[Image], maps: Maps) -> list[str]:
    """Images in address order, each covering its own regions, with a path,
    a build-id in hex or None, and a bias that is an int."""
    problems = []
    bases = [image.base for image in images]
    if bases != sorted(bases):
        problems.append("images are not in address order")
    for image in images:
        where = f"image {image.path!r} at {image.base:#x}"
        if not isinstance(image.path, str) or not image.path:
            problems.append(f"{where}: path {image.path!r}")
        if not image.base < image.end:
            problems.append(f"{where}: empty range up to {image.end:#x}")
        if type(image.bias) is not int or not 0 <= image.bias < 2**64:
            problems.append(f"{where}: bias {image.bias!r}")
        if image.build_id is not None:
            try:
                bytes.fromhex(image.build_id)
            except (TypeError, ValueError):
                problems.append(f"{where}: build_id {image.build_id!r} is not hex")
        if not image.regions:
            problems.append(f"{where}: holds no region")
        for region in image.regions:
            if region not in maps:
                problems.append(f"{where}: {region!r} is not in the listing")
            if not image.base <= region.start < image.end:
                problems.append(f"{where}: {region!r} lies outside it")
        named = [r for r in image.regions if r.path == image.path]
        if not named:
            problems.append(f"{where}: no region of it bears its path")
    return problems


def error_problems(read: Callable[[int | None], object], missing_pid: int) -> list[str]:
    """A missing process is NoSuchProcess (never a bare OSError), and bad
    pids are TypeError / ValueError that name the argument."""
    problems = []
    try:
        read(missing_pid)
        problems.append(f"pid {missing_pid} does not exist, yet it was read")
    except memmaps.NoSuchProcess:
        pass
    except Exception as error:  # the contract is about which type
        problems.append(f"pid {missing_pid}: {type(error).__name__}: {error}")
    for bad, kind in (("1", TypeError), (1.0, TypeError), (True, TypeError), (-1, ValueError)):
        try:
            read(bad)  # type: ignore[arg-type]
            problems.append(f"pid {bad!r} was accepted")
        except kind as error:
            if "pid" not in str(error):
                problems.append(f"pid {bad!r}: the message does not name pid: {error}")
        except Exception as error:
            problems.append(f"pid {bad!r}: {type(error).__name__}, not {kind.__name__}")
    return problems
