"""to_vmmap(): the report laid out as macOS vmmap prints it, on every system.

The regions are listed the way ``vmmap`` lists them (non-writable ones,
then writable ones, or all in address order with ``interleaved=True``),
then a legend and the summary footer with one row per region type and a
total.  What each column holds on each system, and the region types of
Linux, are in docs/api.md ("The vmmap report").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from ..maps import _printable
from ..region import Region
from ..summary import categorize, unusable
from ..usage import Usage

if TYPE_CHECKING:
    from ..maps import Maps

# What vmmap names the regions of a macOS process that have no user tag.
_MACOS_UNTAGGED = {"file": "mapped file", "shmem": "shared memory", "special": "submap"}

# The kinds of Linux memory the kernel maps for itself.
_KERNEL_KINDS = ("vdso", "vvar", "vsyscall")

# VmFlags of smaps that say what mprotect() may still allow: VM_MAYREAD,
# VM_MAYWRITE and VM_MAYEXEC, Linux's maximum protection.
_MAY = (("mr", "r"), ("mw", "w"), ("me", "x"))

_LEGEND = (
    "==== Legend\n"
    "SM=sharing mode:\n"
    "\tCOW=copy_on_write PRV=private NUL=empty ALI=aliased\n"
    "\tSHM=shared ZER=private_aliased S/A=shared_alias LPG=large_page\n"
    "PURGE=purgeable mode:\n"
    "\tV=volatile N=nonvolatile E=empty   otherwise is unpurgeable\n"
)

# The summary's columns after REGION TYPE: (first header line, second).
_USAGE_COLUMNS = (
    ("VIRTUAL", "SIZE"),
    ("RESIDENT", "SIZE"),
    ("DIRTY", "SIZE"),
    ("SWAPPED", "SIZE"),
    ("VOLATILE", "SIZE"),
    ("NONVOL", "SIZE"),
    ("EMPTY", "SIZE"),
    ("REGION", "COUNT"),
)
_PLAIN_COLUMNS = (("VIRTUAL", "SIZE"), ("REGION", "COUNT"))
_TYPE_WIDTH = 32


class _Figures(NamedTuple):
    """What the report shows of a region or a row: bytes, None where the
    system did not say."""

    size: int
    resident: int | None
    dirty: int | None
    swapped: int | None


def to_vmmap(maps: Maps, interleaved: bool = False) -> str:
    """The report vmmap prints for maps.  Usage columns appear when every
    region has usage (read with ``usage=True``)."""
    regions = tuple(maps)
    with_usage = bool(regions) and all(region.usage is not None for region in regions)
    categories = categorize(regions)
    types = _region_types(regions, categories)
    pid = maps.pid
    lines = [
        "Virtual Memory Map of " + ("parsed text" if pid is None else f"process {pid}"),
    ]
    if maps.partial is not None:
        lines.append(f"Partial listing: {maps.partial}")
    lines.append("")
    of = "" if pid is None else f" for process {pid}"
    if interleaved:
        sections = [
            (
                f"==== regions{of}  (non-writable and writable regions are interleaved)",
                list(range(len(regions))),
            )
        ]
    else:
        sections = [
            (
                f"==== Non-writable regions{of}",
                [i for i, region in enumerate(regions) if region.perms[1] != "w"],
            ),
            (
                f"==== Writable regions{of}",
                [i for i, region in enumerate(regions) if region.perms[1] == "w"],
            ),
        ]
    type_width = max([len("REGION TYPE"), *(len(name) for name in types)]) + 1
    ranges = [f"{region.start:x}-{region.end:x}" for region in regions]
    range_width = max([len("START - END"), *(len(text) for text in ranges)])
    for title, indexes in sections:
        lines.append(title)
        lines.append(_listing_header(type_width, range_width, with_usage))
        for i in indexes:
            lines.append(
                _listing_line(regions[i], types[i], ranges[i], type_width, range_width, with_usage)
            )
        lines.append("")
    lines.append(_LEGEND)
    lines.append(f"==== Summary{of}")
    lines.extend(_portions(regions, categories, with_usage))
    lines.append("")
    lines.extend(_summary_table(regions, types, with_usage))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Region types


def _image_part(region: Region) -> str:
    """An ELF image's segment, by what it may do: the names Linux lacks
    where Mach-O has __TEXT, __DATA and __DATA_CONST."""
    perms = region.perms
    if perms[2] == "x":
        return "image code"
    if perms[1] == "w":
        return "image data"
    if perms[0] == "r":
        return "image read-only"
    return "image reserved"


def _macos_type(region: Region) -> str:
    tag = region.tag
    if tag is not None:
        if region.kind == "guard":
            if tag == "Stack":
                return "STACK GUARD"
            if tag.startswith("MALLOC"):
                return "MALLOC guard page"
        return tag
    return _MACOS_UNTAGGED.get(region.kind, "VM_ALLOCATE")


def _other_type(region: Region, category: str) -> str:
    """Linux, and any system without macOS's share modes: the category of
    Maps.summary(), with an image's part by what it may do, and the
    kernel's pages by their own names."""
    if category == "image":
        return _image_part(region)
    if category == "kernel" and region.kind in _KERNEL_KINDS:
        return region.kind
    return category


def _region_types(regions: Sequence[Region], categories: Sequence[str]) -> list[str]:
    return [
        _macos_type(region) if region.share_mode is not None else _other_type(region, category)
        for region, category in zip(regions, categories, strict=True)
    ]


# --------------------------------------------------------------------------
# Columns


def _size(value: int | None) -> str:
    """A size as vmmap prints it: bytes below 10K when not a multiple of
    1K, whole K below 10M, then M, G and T with one decimal."""
    if value is None:
        return "-"
    if value % 1024 and value < 10 * 1024:
        return str(value)
    kib = value / 1024
    if round(kib) < 10 * 1024:
        return f"{round(kib)}K"
    scaled = kib / 1024
    for unit in ("M", "G", "T"):
        if round(scaled, 1) < 1024 or unit == "T":
            return f"{scaled:.1f}{unit}"
        scaled /= 1024
    raise AssertionError("unreachable")


def _figures(region: Region) -> _Figures:
    usage = region.usage
    if usage is None:
        return _Figures(region.size, None, None, None)
    return _Figures(region.size, usage.resident, _dirty(usage), usage.swap)


def _dirty(usage: Usage) -> int | None:
    if usage.shared_dirty is None or usage.private_dirty is None:
        return None
    return usage.shared_dirty + usage.private_dirty


def _protection(region: Region) -> str:
    """PRT/MAX: the protection now and the most it may be given; on Linux
    the most is in smaps' VmFlags (mr, mw, me), so it is known with usage
    only, and "???" without."""
    now = region.perms[:3]
    if region.max_perms is not None:
        return f"{now}/{region.max_perms[:3]}"
    usage = region.usage
    if usage is not None and usage.vmflags is not None:
        flags = set(usage.vmflags)
        return now + "/" + "".join(letter if flag in flags else "-" for flag, letter in _MAY)
    return f"{now}/???"


def _share_mode(region: Region) -> str:
    """SHRMOD: macOS's share mode; elsewhere SHM for a shared mapping, COW
    for a private mapping of a file (its pages are the file's until
    written), PRV for private anonymous memory."""
    if region.share_mode is not None:
        return region.share_mode
    if region.perms[3] == "s":
        return "SHM"
    if region.kind in ("file", "memfd") or region.inode:
        return "COW"
    return "PRV"


def _detail(region: Region) -> str:
    if region.path is not None:
        return _printable(region.path) + (" (deleted)" if region.deleted else "")
    return "" if region.detail is None else _printable(region.detail)


def _listing_header(type_width: int, range_width: int, with_usage: bool) -> str:
    sizes = "[ VSIZE  RSDNT  DIRTY   SWAP]" if with_usage else "[ VSIZE]"
    return (
        f"{'REGION TYPE':<{type_width}}{'START - END'.center(range_width)} "
        f"{sizes} PRT/MAX SHRMOD PURGE    REGION DETAIL"
    )


def _listing_line(
    region: Region, name: str, span: str, type_width: int, range_width: int, with_usage: bool
) -> str:
    figures = _figures(region)
    if with_usage:
        sizes = (
            f"[{_size(figures.size):>6} {_size(figures.resident):>6} "
            f"{_size(figures.dirty):>6} {_size(figures.swapped):>6}]"
        )
    else:
        sizes = f"[{_size(figures.size):>6}]"
    line = (
        f"{name:<{type_width}}{span:<{range_width}} {sizes} {_protection(region)} "
        f"SM={_share_mode(region)} {'':<8} {_detail(region)}"
    )
    return line.rstrip()


# --------------------------------------------------------------------------
# The summary


def _add(values: Iterable[int | None]) -> int | None:
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole) if whole else 0}%"


def _portions(regions: Sequence[Region], categories: Sequence[str], with_usage: bool) -> list[str]:
    """vmmap's two lines on the libraries' read-only memory and on the
    writable memory."""
    libraries = [
        _figures(region)
        for region, category in zip(regions, categories, strict=True)
        if region.perms[1] != "w" and category == "image"
    ]
    writable = [_figures(region) for region in regions if region.perms[1] == "w"]
    library_total = sum(item.size for item in libraries)
    writable_total = sum(item.size for item in writable)
    first = f"ReadOnly portion of Libraries: Total={_size(library_total)}"
    second = f"Writable regions: Total={_size(writable_total)}"
    if with_usage:
        resident = _add(item.resident for item in libraries)
        if resident is not None:
            rest = library_total - resident
            first += (
                f" resident={_size(resident)}({_percent(resident, library_total)})"
                f" swapped_out_or_unallocated={_size(rest)}({_percent(rest, library_total)})"
            )
        written = _add(item.dirty for item in writable)
        resident = _add(item.resident for item in writable)
        swapped = _add(item.swapped for item in writable)
        if written is not None and resident is not None and swapped is not None:
            rest = writable_total - resident
            second += (
                f" written={_size(written)}({_percent(written, writable_total)})"
                f" resident={_size(resident)}({_percent(resident, writable_total)})"
                f" swapped_out={_size(swapped)}({_percent(swapped, writable_total)})"
                f" unallocated={_size(rest)}({_percent(rest, writable_total)})"
            )
    return [first, second]


def _summary_table(regions: Sequence[Region], types: Sequence[str], with_usage: bool) -> list[str]:
    rows: dict[str, list[_Figures]] = {}
    for region, name in zip(regions, types, strict=True):
        rows.setdefault(name, []).append(_figures(region))
    # Windows: the address space after allocations that can never be
    # allocated, VMMap's "Unusable", which no region holds; nothing of it
    # is resident.
    for fragment in unusable(regions):
        zero = 0 if with_usage else None
        rows.setdefault("unusable", []).append(_Figures(fragment.size, zero, zero, zero))
    columns = _USAGE_COLUMNS if with_usage else _PLAIN_COLUMNS
    width = max([_TYPE_WIDTH, *(len(name) + 2 for name in rows)])
    # Purgeable memory is macOS's: elsewhere there is none (0K); the macOS
    # backend does not read the purgeable state yet ("-").
    darwin = any(region.share_mode is not None for region in regions)
    purgeable = "-" if darwin else "0K"

    def cells(items: Sequence[_Figures]) -> list[str]:
        size = _size(sum(item.size for item in items))
        count = str(len(items))
        if not with_usage:
            return [size, count]
        return [
            size,
            _size(_add(item.resident for item in items)),
            _size(_add(item.dirty for item in items)),
            _size(_add(item.swapped for item in items)),
            purgeable,
            purgeable,
            purgeable,
            count,
        ]

    def line(name: str, values: Sequence[str]) -> str:
        first, *rest = values
        return f"{name:<{width}}{first:>7}" + "".join(f" {value:>8}" for value in rest)

    # vmmap's rule under REGION COUNT is one longer than the word.
    rule = line("===========", ["=" * (7 if top == "REGION" else len(top)) for top, _ in columns])
    table = [
        line("", [top for top, _ in columns]),
        line("REGION TYPE", [bottom for _, bottom in columns]),
        rule,
    ]
    for name in sorted(rows):
        table.append(line(name, cells(rows[name])))
    table.append(rule)
    table.append(line("TOTAL", cells([item for items in rows.values() for item in items])))
    return [text.rstrip() for text in table]
