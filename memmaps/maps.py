"""Maps: the regions of one process, with lookups, filters and renderings."""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, overload

from .region import KINDS, Region
from .usage import Usage

if TYPE_CHECKING:
    from .render.svg import Picture
    from .summary import Gap, Summary

_start_of = itemgetter(0)

_PERM_LETTERS = frozenset("rwxsp-")

#: The ways ``Maps.coalesce(by=...)`` merges neighbours.
COALESCE_BY = ("attributes", "allocation")

# The kernel pads a named line to this column (sizeof(void *) * 6 + 24) and
# writes one more space before the name; fs/proc/task_mmu.c.
_PAD_COLUMN = 72


def _check_perms(perms: str) -> Callable[[Region], bool]:
    if not isinstance(perms, str):
        raise TypeError(f"perms must be a str like 'r-x', not {type(perms).__name__}")
    bad = set(perms) - _PERM_LETTERS
    if bad or not perms or len(perms) > 4:
        raise ValueError(
            f"perms must be up to 4 of the letters r, w, x, s, p (or '-'), got {perms!r}"
        )
    if "s" in perms and "p" in perms:
        raise ValueError(f"perms cannot ask for both shared and private: {perms!r}")
    wanted = [(i, letter) for i, letter in enumerate("rwx") if letter in perms]
    sharing = "s" if "s" in perms else "p" if "p" in perms else None

    def matches(region: Region) -> bool:
        held = region.perms
        if sharing is not None and held[3] != sharing:
            return False
        return all(held[i] == letter for i, letter in wanted)

    return matches


def _check_path(path: str | re.Pattern[str]) -> Callable[[Region], bool]:
    if isinstance(path, re.Pattern):
        pattern = path
        return lambda region: region.path is not None and pattern.search(region.path) is not None
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or a compiled re.Pattern, not {type(path).__name__}")
    wanted = path
    # A bare file name matches that file in any directory.
    if "/" not in wanted:
        return lambda region: (
            region.path is not None
            and (region.path == wanted or os.path.basename(region.path) == wanted)
        )
    return lambda region: region.path == wanted


def _check_kind(kind: str | Iterable[str]) -> Callable[[Region], bool]:
    kinds = {kind} if isinstance(kind, str) else set(kind)
    unknown = kinds - set(KINDS)
    if unknown:
        raise ValueError(
            f"unknown kind {sorted(unknown)!r}: kind must be one of {', '.join(KINDS)}"
        )
    return lambda region: region.kind in kinds


class Maps(Sequence[Region]):
    """An immutable, address-ordered sequence of :class:`Region`.

    ``pid`` is the process the regions were read from (``None`` for parsed
    text).  ``partial`` is None, or why the listing is incomplete although it
    was read (macOS without the task port sees no submaps); whatever is
    taken from a partial listing (a filter, a slice) is partial too.  Two
    Maps are equal when they hold the same regions.  Built by hand, the
    regions must be sorted and must not overlap (ValueError).
    """

    __slots__ = ("_partial", "_pid", "_regions")

    def __init__(
        self, regions: Iterable[Region] = (), pid: int | None = None, partial: str | None = None
    ) -> None:
        self._regions: Sequence[Region] = tuple(regions)
        self._pid = pid
        self._partial = partial
        for before, after in zip(self._regions, self._regions[1:], strict=False):
            if after.start < before.end:
                raise ValueError(
                    "regions must be sorted by start and must not overlap: "
                    f"{after!r} comes after {before!r}"
                )

    @classmethod
    def _trusted(
        cls, regions: Sequence[Region], pid: int | None, partial: str | None = None
    ) -> Maps:
        """A Maps of regions already known to be in order (no check): a
        tuple, or the C core's RegionList, which makes each Region when it
        is first asked for and otherwise behaves as the tuple of them."""
        maps = cls.__new__(cls)
        maps._regions = regions
        maps._pid = pid
        maps._partial = partial
        return maps

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def partial(self) -> str | None:
        """None, or why the listing is incomplete."""
        return self._partial

    def __len__(self) -> int:
        return len(self._regions)

    @overload
    def __getitem__(self, index: int) -> Region: ...

    @overload
    def __getitem__(self, index: slice) -> Maps: ...

    def __getitem__(self, index: int | slice) -> Region | Maps:
        if isinstance(index, slice):
            if index.step is not None and index.step < 0:
                raise ValueError(
                    "a Maps stays in address order: use reversed(maps) to walk it backwards"
                )
            return Maps._trusted(self._regions[index], self._pid, self._partial)
        return self._regions[index]

    def __iter__(self) -> Iterator[Region]:
        return iter(self._regions)

    def __contains__(self, item: object) -> bool:
        """``addr in maps``: whether an address is mapped; ``region in maps``:
        whether that very region is one of these."""
        if isinstance(item, int) and not isinstance(item, bool):
            return self.at(item) is not None
        return item in self._regions

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Maps):
            return NotImplemented
        return self._regions == other._regions

    def __hash__(self) -> int:
        return hash(self._regions)

    def __repr__(self) -> str:
        mapped = sum(region.end - region.start for region in self._regions)
        who = "parsed" if self._pid is None else f"pid={self._pid}"
        partial = ", partial" if self._partial is not None else ""
        return f"<Maps {who}: {_count(len(self), 'region')}, {_human_size(mapped)} mapped{partial}>"

    # ---- lookups ----

    def at(self, addr: int) -> Region | None:
        """The region that contains ``addr``, or None (a binary search)."""
        if isinstance(addr, bool) or not isinstance(addr, int):
            raise TypeError(f"addr must be an int, not {type(addr).__name__}")
        index = bisect_right(self._regions, addr, key=_start_of) - 1
        if index >= 0:
            region = self._regions[index]
            if addr < region.end:
                return region
        return None

    def filter(
        self,
        perms: str | None = None,
        *,
        path: str | re.Pattern[str] | None = None,
        kind: str | Iterable[str] | None = None,
        where: Callable[[Region], bool] | None = None,
    ) -> Maps:
        """The regions that pass every test given.

        ``perms`` means "at least": ``"r-x"`` (or ``"rx"``) keeps ``r-xp`` and
        ``rwxp``; ``s`` or ``p`` also asks for shared or private.  ``path`` is
        a full path, a bare file name (matched against the basename), or a
        compiled regular expression (searched).  ``kind`` is one kind or
        several.  ``where`` is any predicate on a Region.
        """
        tests: list[Callable[[Region], bool]] = []
        if perms is not None:
            tests.append(_check_perms(perms))
        if path is not None:
            tests.append(_check_path(path))
        if kind is not None:
            tests.append(_check_kind(kind))
        if where is not None:
            if not callable(where):
                raise TypeError("where must be a callable taking a Region")
            tests.append(where)
        kept = tuple(region for region in self._regions if all(test(region) for test in tests))
        return Maps._trusted(kept, self._pid, self._partial)

    def coalesce(self, by: str = "attributes") -> Maps:
        """Neighbours merged into one region, their usage figures added up.

        ``by="attributes"`` (the default) merges regions that touch, agree on
        everything but their bounds, and (for file mappings) continue the file
        where the previous one ends, as vmmap and Frida show memory.

        ``by="allocation"`` merges the pieces of one Windows allocation that
        show the same: regions that touch, have the same ``allocation_base``
        and the same ``perms``, ``tag``, ``kind``, ``path`` and ``detail``, as
        Cygwin's /proc/PID/maps does (Windows splits an allocation wherever
        the protection differs in any bit, also where ``perms`` is the same:
        ``PAGE_READWRITE`` beside ``PAGE_WRITECOPY``).  The merged region
        keeps the first piece's offset.  Regions without an
        ``allocation_base`` (every region on Linux and macOS) never merge
        this way.
        """
        if by == "attributes":
            continues = _continues
        elif by == "allocation":
            continues = _same_allocation
        else:
            raise ValueError(
                f"by must be one of {', '.join(repr(way) for way in COALESCE_BY)}, not {by!r}"
            )
        merged: list[Region] = []
        for region in self._regions:
            if merged and continues(merged[-1], region):
                last = merged[-1]
                usage = (
                    None
                    if last.usage is None or region.usage is None
                    else last.usage + region.usage
                )
                merged[-1] = last._replace(end=region.end, usage=usage)
            else:
                merged.append(region)
        return Maps._trusted(tuple(merged), self._pid, self._partial)

    def group_by_path(self) -> dict[str | None, Maps]:
        """The regions of each path (None: the nameless ones), in address order
        of each path's first region."""
        groups: dict[str | None, list[Region]] = {}
        for region in self._regions:
            groups.setdefault(region.path, []).append(region)
        return {
            path: Maps._trusted(tuple(regions), self._pid, self._partial)
            for path, regions in groups.items()
        }

    def total(self) -> Usage | None:
        """The usage of all regions added up (None when they have none: read
        with ``usage=True``).  ``size`` is the mapped size."""
        usages = [region.usage for region in self._regions]
        if not usages or any(usage is None for usage in usages):
            return None
        total = usages[0]
        for usage in usages[1:]:
            total = total + usage  # type: ignore[operator]
        return total

    def gaps(self) -> list[Gap]:
        """The unmapped ranges between consecutive regions."""
        from .summary import gaps

        return gaps(self)

    def summary(self) -> Summary:
        """The memory by category (image, mapped file, shared memory, heap,
        stack, private, guard, kernel, reserved, unusable), as VMMap
        sums it up."""
        from .summary import summarize

        return summarize(self)

    # ---- renderings ----

    def to_proc_maps(self) -> str:
        """The text the Linux kernel prints in /proc/PID/maps for these
        regions, byte for byte (``os.fsencode`` it for the bytes).

        A Windows region (one with an ``allocation_base``) is shown as
        Cygwin's /proc/PID/maps shows it: ``===p`` for reserved address
        space, ``g`` in the last column for a guard page, the offset into its
        allocation, and ``[detail]`` for a region without a name.  Cygwin's
        own view is ``coalesce(by="allocation").to_proc_maps()``."""
        return "".join(_proc_maps_line(region) for region in self._regions)

    def to_dicts(self) -> list[dict[str, Any]]:
        """One flat dict per region: every field of Region, ``size`` after
        ``end``, and for a region with usage one ``usage_<figure>`` key per
        Usage figure (``usage_vmflags`` a space-separated string, as smaps
        prints it; ``usage_extra`` a dict)."""
        from .snapshot import to_dicts

        return to_dicts(self)

    def to_json(self, indent: int | None = None) -> str:
        """A snapshot ``memmaps.load()`` reads back exactly: ``{"format":
        "memmaps.maps/2", "pid": ..., "partial": ..., "regions": [...]}``
        with the dicts of ``to_dicts()``; a name that is not valid UTF-8
        also has its bytes in base64 (docs/api.md)."""
        from .snapshot import to_json

        return to_json(self, indent)

    def to_dataframe(self) -> Any:
        """A pandas DataFrame, one row per region, typed columns (pandas is
        optional: ``pip install 'memmaps[pandas]'``)."""
        from .frame import to_dataframe

        return to_dataframe(self)

    def to_vmmap(self, *, interleaved: bool = False) -> str:
        """The report macOS vmmap prints: the non-writable regions, then
        the writable ones (all in address order when ``interleaved``), a
        legend and the summary by region type, with the resident, dirty
        and swapped columns when every region has usage."""
        from .render.vmmap import to_vmmap

        return to_vmmap(self, interleaved=interleaved)

    def to_table(self) -> str:
        """An aligned table for people, with human sizes.  When every region
        has usage, the columns are those of ``pmap -x`` (size, RSS, PSS,
        dirty, swap) with a total; hugetlb pages, which RSS leaves out, are
        shown under it."""
        return _table(self)

    # ---- display: tables for Jupyter and IPython, pictures (memmaps/render/) ----

    def to_html(self, max_rows: int | None = 60) -> str:
        """The HTML table Jupyter shows; with more than ``max_rows`` regions,
        the first and last ``max_rows // 2`` (None: every region)."""
        from .render.html import maps_html

        return maps_html(self, max_rows)

    def _repr_html_(self) -> str:
        from .render.html import maps_html

        return maps_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from .render.pretty import maps_pretty

        maps_pretty(self, p, cycle)

    def to_svg(
        self,
        *,
        color: str = "kind",
        width: int = 1000,
        theme: str = "light",
        title: str | None = None,
        max_items: int = 400,
    ) -> str:
        """A picture of the address space as SVG text: regions by address,
        gaps compressed, coloured by ``"kind"`` or ``"perms"``."""
        from .render.svg import to_svg

        return to_svg(self, color=color, width=width, theme=theme, title=title, max_items=max_items)

    def plot(
        self,
        *,
        color: str = "kind",
        width: int = 1000,
        theme: str = "light",
        title: str | None = None,
        max_items: int = 400,
    ) -> Picture:
        """The picture of ``to_svg()`` as an object Jupyter displays, with
        ``save(path)``."""
        from .render.svg import Picture

        return Picture(
            self.to_svg(color=color, width=width, theme=theme, title=title, max_items=max_items)
        )


def _continues(last: Region, region: Region) -> bool:
    if last.end != region.start:
        return False
    if (
        last.perms != region.perms
        or last.path != region.path
        or last.deleted != region.deleted
        or last.kind != region.kind
        or last.dev_major != region.dev_major
        or last.dev_minor != region.dev_minor
        or last.inode != region.inode
        or last.max_perms != region.max_perms
        or last.share_mode != region.share_mode
        or last.tag != region.tag
        or last.detail != region.detail
        or last.allocation_base != region.allocation_base
    ):
        return False
    if last.inode or last.offset or region.offset:
        return region.offset == last.offset + (last.end - last.start)
    return True


def _same_allocation(last: Region, region: Region) -> bool:
    return (
        last.end == region.start
        and last.allocation_base is not None
        and last.allocation_base == region.allocation_base
        and last.perms == region.perms
        and last.tag == region.tag
        and last.kind == region.kind
        and last.path == region.path
        and last.detail == region.detail
    )


def _windows_perms(region: Region) -> str:
    """The permissions as Cygwin's /proc/PID/maps prints them: ``===`` for
    address space only reserved, ``g`` last for a guard page."""
    if region.tag is not None and "reserved" in region.tag.split():
        return "===" + region.perms[3]
    if region.kind == "guard" and region.perms[3] == "p":
        return region.perms[:3] + "g"
    return region.perms


def _proc_maps_line(region: Region) -> str:
    base = region.allocation_base
    if base is None:
        perms, offset, name = region.perms, region.offset, region.path
    else:
        # A Windows region, as Cygwin shows it: the offset into its
        # allocation, a label in brackets for memory that has no name.
        perms, offset, name = _windows_perms(region), region.start - base, region.path
        if name is None and region.detail is not None:
            name = f"[{region.detail}]"
    prefix = (
        f"{region.start:08x}-{region.end:08x} {perms} {offset:08x} "
        f"{region.dev_major:02x}:{region.dev_minor:02x} {region.inode} "
    )
    if name is None:
        return prefix + "\n"
    name = name.replace("\n", "\\012")
    if region.deleted:
        name += " (deleted)"
    return prefix.ljust(_PAD_COLUMN) + " " + name + "\n"


_UNITS = ("B", "K", "M", "G", "T", "P", "E")


def _count(number: int, noun: str) -> str:
    """ "1 region", "2 regions": a count as a person writes it (the nouns
    used take a plain "s")."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _human_size(size: int) -> str:
    """1536 -> '1.5K', binary units as ls -h and pmap print them."""
    if size < 1024:
        return f"{size}B"
    value = size / 1024
    for unit in _UNITS[1:]:
        # Round first, so that 1023.99K shows as 1.0M and never as 1024K.
        text = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        if float(text) < 1024 or unit == _UNITS[-1]:
            return text + unit
        value /= 1024
    raise AssertionError("unreachable")


def _printable(path: str) -> str:
    """A name safe to show on a terminal: control characters and undecodable
    bytes escaped, everything else as it is."""
    if path.isprintable():
        return path
    out = []
    for char in path:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def _name(region: Region) -> str:
    name = "" if region.path is None else _printable(region.path)
    return name + " (deleted)" if region.deleted else name


def _shown_name(region: Region) -> str:
    """The name column of a table: a nameless region with a label (a
    Windows heap or stack) shows the label in brackets."""
    if region.path is None and region.detail is not None:
        return f"[{_printable(region.detail)}]"
    return _name(region)


def _figure(value: int | None) -> str:
    return "-" if value is None else _human_size(value)


def _dirty(usage: Usage) -> int | None:
    if usage.shared_dirty is None or usage.private_dirty is None:
        return None
    return usage.shared_dirty + usage.private_dirty


def _layout(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: set[int]) -> list[str]:
    """Aligned lines; the last column (the name) is left as it is."""
    last = len(header) - 1
    widths = [max([len(header[i]), *(len(row[i]) for row in rows)]) for i in range(last)]
    lines = []
    for row in [header, *rows]:
        cells = [
            row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i]) for i in range(last)
        ]
        # Only padding is stripped: a name may end in spaces of its own.
        lines.append(" ".join(cells) + " " + row[last] if row[last] else " ".join(cells).rstrip())
    return lines


def _table(maps: Maps) -> str:
    # Addresses are zero-padded to one width so that they sort as text too.
    width = max([8, *(len(f"{region.end:x}") for region in maps)])
    mapped = sum(region.end - region.start for region in maps)
    if maps and all(region.usage is not None for region in maps):
        return _usage_table(maps, width, mapped)
    rows = [
        (
            f"{region.start:0{width}x}",
            f"{region.end:0{width}x}",
            _human_size(region.end - region.start),
            region.perms,
            f"{region.offset:x}",
            f"{region.dev_major:02x}:{region.dev_minor:02x}",
            str(region.inode),
            region.kind,
            _shown_name(region),
        )
        for region in maps
    ]
    header = ("START", "END", "SIZE", "PERMS", "OFFSET", "DEV", "INODE", "KIND", "PATH")
    lines = _layout(header, rows, right={2, 4, 5, 6})
    lines.append(f"{_count(len(maps), 'region')}, {_human_size(mapped)} mapped")
    return "\n".join(lines) + "\n"


def _usage_table(maps: Maps, width: int, mapped: int) -> str:
    """What pmap -x shows: where, how big, and what it costs."""
    rows = []
    for region in maps:
        usage = region.usage
        assert usage is not None
        rows.append(
            (
                f"{region.start:0{width}x}",
                _human_size(region.end - region.start),
                _figure(usage.rss),
                _figure(usage.pss),
                _figure(_dirty(usage)),
                _figure(usage.swap),
                region.perms,
                region.kind,
                _shown_name(region),
            )
        )
    total = maps.total()
    assert total is not None
    rows.append(
        (
            "total",
            _human_size(mapped),
            _figure(total.rss),
            _figure(total.pss),
            _figure(_dirty(total)),
            _figure(total.swap),
            "",
            "",
            _count(len(maps), "region"),
        )
    )
    header = ("START", "SIZE", "RSS", "PSS", "DIRTY", "SWAP", "PERMS", "KIND", "PATH")
    lines = _layout(header, rows, right={1, 2, 3, 4, 5})
    hugetlb = (total.shared_hugetlb or 0) + (total.private_hugetlb or 0)
    if hugetlb:
        lines.append(f"hugetlb pages, not counted in RSS: {_human_size(hugetlb)}")
    return "\n".join(lines) + "\n"
