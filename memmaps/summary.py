"""One taxonomy of memory for every system, as Sysinternals VMMap sorts it.

``categorize(maps)`` gives each region one of :data:`CATEGORIES`;
``summarize(maps)`` adds the regions of each category up into a
:class:`Summary`; ``gaps(maps)`` lists the unmapped ranges between regions.
The rules, and why each is what it is, are in docs/kinds.md ("Categories").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from .region import Region

if TYPE_CHECKING:
    from .maps import Maps

#: Every category, in the order a Summary lists them.
CATEGORIES = (
    "image",
    "mapped file",
    "shared memory",
    "heap",
    "stack",
    "private",
    "guard",
    "kernel",
    "reserved",
    "unusable",
)

_KERNEL_KINDS = frozenset({"vdso", "vvar", "vsyscall"})
_SHARED_KINDS = frozenset({"shmem", "memfd", "sysv"})
# The kinds of private anonymous memory a guard page can protect.
_GUARDED_KINDS = frozenset({"anon", "heap", "stack"})

# Names that allocators give their anonymous memory with
# prctl(PR_SET_VMA_ANON_NAME) (Linux 5.17+), as the kernel prints them: the
# name says for sure what the memory is.  glibc 2.39+ with the tunable
# glibc.mem.decorate_maps=1 (nptl/allocatestack.c, malloc/arena.c,
# malloc/malloc.c, elf/dl-minimal-malloc.c); Android's bionic always
# (pthread_create.cpp, the scudo and jemalloc allocators, GWP-ASan, the
# linker's .bss).  Matched as prefixes.
_NAMED_ANONYMOUS = (
    ("[anon: glibc: pthread stack: ", "stack"),
    ("[anon: glibc: pthread user stack: ", "stack"),
    ("[anon: glibc: unused stack]", "stack"),
    ("[anon: glibc: malloc arena]", "heap"),
    ("[anon: glibc: malloc]", "heap"),
    ("[anon: glibc: loader malloc]", "heap"),
    ("[anon:stack_and_tls:", "stack"),
    ("[anon:thread signal stack", "stack"),
    ("[anon:libc_malloc]", "heap"),
    ("[anon:scudo:", "heap"),
    ("[anon:GWP-ASan", "heap"),
    ("[anon:.bss]", "image"),
)

# macOS user tags (Region.tag, vmmap's names) that say what the memory is:
# libmalloc's zones, thread stacks, and the guard tag.
_MACOS_HEAP_TAGS = frozenset(
    {
        "MALLOC",
        "MALLOC_SMALL",
        "MALLOC_LARGE",
        "MALLOC_HUGE",
        "SBRK",
        "MALLOC_REALLOC",
        "MALLOC_TINY",
        "MALLOC_LARGE_REUSABLE",
        "MALLOC_NANO",
        "MALLOC_MEDIUM",
        "MALLOC_PROB_GUARD",
    }
)
_MACOS_TAGS = {"Stack": "stack", "Guard": "guard", **dict.fromkeys(_MACOS_HEAP_TAGS, "heap")}

# macOS maps its comm page (the kernel's data for user space) at a fixed
# address: _COMM_PAGE64_BASE_ADDRESS in xnu's osfmk/i386/cpu_capabilities.h
# (x86_64) and osfmk/arm/cpu_capabilities.h (arm64).
_MACOS_COMM_PAGES = frozenset({0x00007FFFFFE00000, 0x0000000FFFFFC000})

# Windows' Region.tag: the type of the allocation, then "reserved" for
# address space reserved and not committed.
_WINDOWS_TYPES = frozenset({"image", "mapped", "private"})
_WINDOWS_WORDS = _WINDOWS_TYPES | {"reserved"}

#: Windows hands out address space in allocations of 64 KiB: the free space
#: between the end of an allocation and the next multiple of it can never be
#: allocated (VMMap's "Unusable").
WINDOWS_ALLOCATION_GRANULARITY = 0x10000

# The lowest address of the upper half of a 64-bit address space: on x86-64
# and arm64 that half is the kernel's, and user space ends well below it.
_UPPER_HALF = 1 << 63

FileIdentity = tuple[int, int, int] | str


def _windows_words(region: Region) -> list[str] | None:
    """The words of a Windows tag, or None when the region is not one."""
    if region.tag is None:
        return None
    words = region.tag.split()
    if words and all(word in _WINDOWS_WORDS for word in words):
        return words
    return None


def image_files(regions: Iterable[Region]) -> frozenset[FileIdentity]:
    """The files that some region maps executable: code, so every region
    of such a file is part of an image (its data, its read-only parts, the
    no-access gaps between its segments)."""
    found: set[FileIdentity] = set()
    for region in regions:
        if region.kind == "file" and region.perms[2] == "x":
            # The device and inode say which file; so does the path, for
            # the regions macOS names after dyld's images, with no inode.
            if region.inode:
                found.add((region.dev_major, region.dev_minor, region.inode))
            if region.path is not None:
                found.add(region.path)
    return frozenset(found)


def _no_access(region: Region) -> bool:
    return region.perms[:3] == "---"


def _named(region: Region) -> str | None:
    """The category a name or tag gives anonymous memory, for sure."""
    if region.tag is not None:
        tagged = _MACOS_TAGS.get(region.tag)
        if tagged is not None:
            return tagged
    path = region.path
    if path is not None and path.startswith("[anon"):
        for prefix, named in _NAMED_ANONYMOUS:
            if path.startswith(prefix):
                return named
    return None


def _guards(region: Region, above: Region | None) -> bool:
    """Whether a no-access region is the guard below the memory above it:
    a thread's stack grows down into its guard page, which glibc, bionic
    and macOS put directly below it.  A guard is smaller than what it
    guards; a larger no-access region below writable memory (a malloc
    arena's reserve below the next arena) is a reservation."""
    return (
        above is not None
        and above.start == region.end
        and above.kind in _GUARDED_KINDS
        and above.perms[1] == "w"
        and above.perms[3] == "p"
        and above.size >= region.size
    )


def _windows_category(region: Region, words: list[str]) -> str:
    if "image" in words:
        return "image"
    if "mapped" in words:
        # VMMap's "Shareable": a section backed by the paging file.
        return "mapped file" if region.path is not None else "shared memory"
    if "reserved" in words:
        return "reserved"
    if region.kind == "guard":
        return "guard"
    # The backend labels a heap's or a stack's allocation (kind and detail,
    # from the PEB and the TEBs); a region built elsewhere may have either.
    detail = region.detail or ""
    if region.kind == "heap" or detail.startswith("heap"):
        return "heap"
    if region.kind == "stack" or detail.startswith("stack"):
        return "stack"
    return "private"


def category(
    region: Region,
    image_files: frozenset[FileIdentity] = frozenset(),
    *,
    above: Region | None = None,
) -> str:
    """The category of one region.  ``image_files`` is
    ``image_files(maps)`` of its map (without it, only a file's executable
    regions count as its image); ``above`` is the region after it in the
    map, which tells a guard page from reserved address space.
    ``categorize(maps)`` gives both."""
    if region.tag is not None:
        windows = _windows_words(region)
        if windows is not None:
            return _windows_category(region, windows)
    kind = region.kind
    if kind in _KERNEL_KINDS:
        return "kernel"
    if kind == "special":
        if region.path is None:
            # macOS: a submap not descended into, the shared region that
            # holds dyld's shared cache of libraries.
            return "kernel" if region.start in _MACOS_COMM_PAGES else "image"
        # Linux: [uprobes], [vectors], [sigpage] ... are the kernel's pages;
        # anon_inode:[perf_event] and the like are mapped through a file
        # descriptor.
        return "kernel" if region.path.startswith("[") else "mapped file"
    if region.start in _MACOS_COMM_PAGES and region.share_mode is not None:
        return "kernel"
    if kind == "file":
        path = region.path
        if (
            region.perms[2] == "x"
            or (region.inode and (region.dev_major, region.dev_minor, region.inode) in image_files)
            or (path is not None and path in image_files)
            or (region.detail is not None and region.detail.startswith("__"))
        ):
            return "image"
        if path is not None and path.startswith("/dev/shm/"):
            # POSIX shared memory: shm_open() makes files in /dev/shm.
            return "shared memory"
        return "mapped file"
    if kind in _SHARED_KINDS:
        return "shared memory"
    if kind == "hugetlb":
        return "shared memory" if region.perms[3] == "s" else "private"
    named = _named(region)
    if kind == "guard" or _no_access(region):
        # Nothing can be read or written there: a guard, or address space
        # set aside for later, whatever memory it belongs to.
        if named in ("stack", "heap", "guard") or _guards(region, above):
            return "guard"
        return "reserved"
    if kind == "heap":
        return "heap"
    if kind == "stack":
        return "stack"
    if named is not None:
        return named
    return "private"


def categorize(maps: Sequence[Region]) -> list[str]:
    """The category of each region of maps, in order (one pass, plus one
    to find the image files)."""
    regions = tuple(maps)
    files = image_files(regions)
    last = len(regions) - 1
    return [
        category(region, files, above=regions[index + 1] if index < last else None)
        for index, region in enumerate(regions)
    ]


class Gap(NamedTuple):
    """An unmapped range ``[start, end)``."""

    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def __repr__(self) -> str:
        return f"Gap(start={self.start:#x}, end={self.end:#x})"


def gaps(maps: Sequence[Region]) -> list[Gap]:
    """The unmapped ranges between consecutive regions (not before the
    first nor after the last), in address order."""
    regions = tuple(maps)
    return [
        Gap(before.end, after.start)
        for before, after in pairwise(regions)
        if after.start > before.end
    ]


def _user_space_end(address: int) -> int:
    """Where the lower half of the address space ends for a process whose
    highest user address is ``address``: the power of two at or above it,
    which is 2**47 on x86-64 (2**56 with 5-level paging, for a process that
    asked for such addresses), 2**48 on arm64 (2**52 with 52-bit
    addresses)."""
    return 1 << max(0, address - 1).bit_length()


def _unusable(before: Region, after: Region) -> Gap | None:
    """The free fragment after a Windows allocation that ends off the
    allocation granularity: it can never be allocated.  before is the
    allocation's last region: the free range after it (after starts past
    before's end) ends the allocation, which holds no free range."""
    if _windows_words(before) is None:
        return None
    if before.allocation_base is not None and after.allocation_base == before.allocation_base:
        return None  # not free space: a region of the same allocation follows
    step = WINDOWS_ALLOCATION_GRANULARITY
    boundary = -(-before.end // step) * step
    end = min(boundary, after.start)
    return Gap(before.end, end) if end > before.end else None


def unusable(maps: Sequence[Region]) -> list[Gap]:
    """The unusable fragments of a Windows map (VMMap's "Unusable"): after
    each allocation whose last region ends off a 64 KiB boundary, the free
    space up to that boundary (or to the next region).  Empty for the
    other systems."""
    regions = tuple(maps)
    found = []
    for before, after in pairwise(regions):
        if after.start > before.end and before.tag is not None:
            fragment = _unusable(before, after)
            if fragment is not None:
                found.append(fragment)
    return found


class SummaryRow(NamedTuple):
    """The regions of one category added up.  ``resident``, ``dirty`` and
    ``swapped`` are None without usage (and where the system does not
    report the figure)."""

    category: str
    regions: int
    size: int
    resident: int | None
    dirty: int | None
    swapped: int | None
    largest: int


def _add(values: Iterable[int | None]) -> int | None:
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _dirty(region: Region) -> int | None:
    usage = region.usage
    if usage is None or usage.shared_dirty is None or usage.private_dirty is None:
        return None
    return usage.shared_dirty + usage.private_dirty


def _row(name: str, members: list[Region], measured: bool) -> SummaryRow:
    if not members:
        zero = 0 if measured else None
        return SummaryRow(name, 0, 0, zero, zero, zero, 0)
    usages = [region.usage for region in members]
    if any(usage is None for usage in usages):
        resident = dirty = swapped = None
    else:
        resident = _add(usage.resident for usage in usages)  # type: ignore[union-attr]
        dirty = _add(_dirty(region) for region in members)
        swapped = _add(usage.swap for usage in usages)  # type: ignore[union-attr]
    sizes = [region.end - region.start for region in members]
    return SummaryRow(name, len(members), sum(sizes), resident, dirty, swapped, max(sizes))


def _sum_rows(name: str, rows: Sequence[SummaryRow]) -> SummaryRow:
    return SummaryRow(
        name,
        sum(row.regions for row in rows),
        sum(row.size for row in rows),
        _add(row.resident for row in rows),
        _add(row.dirty for row in rows),
        _add(row.swapped for row in rows),
        max((row.largest for row in rows), default=0),
    )


class Summary(Sequence[SummaryRow]):
    """The memory of a map by category: one :class:`SummaryRow` per
    category, in :data:`CATEGORIES` order, every one present (zeros when
    no region has it).

    ``summary["heap"]`` is the heap's row, ``summary[0]`` the first;
    ``total`` adds every row up; ``free`` is the free address space between
    the lowest and the highest region that a new mapping could use, and
    ``largest_gap`` its largest range.
    """

    __slots__ = ("_free", "_largest_gap", "_pid", "_rows", "_total")

    def __init__(
        self,
        rows: Iterable[SummaryRow],
        *,
        pid: int | None = None,
        largest_gap: Gap | None = None,
        free: SummaryRow | None = None,
    ) -> None:
        self._rows = tuple(rows)
        names = tuple(row.category for row in self._rows)
        if names != CATEGORIES:
            raise ValueError(f"a Summary has one row per category, in this order: {CATEGORIES}")
        self._pid = pid
        self._largest_gap = largest_gap
        self._total = _sum_rows("total", self._rows)
        self._free = free if free is not None else SummaryRow("free", 0, 0, None, None, None, 0)

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def total(self) -> SummaryRow:
        """Every row added up (category ``"total"``); ``largest`` is the
        largest region of all."""
        return self._total

    @property
    def free(self) -> SummaryRow:
        """The free ranges between the lowest and the highest region
        (category ``"free"``): ``regions`` counts them, ``size`` adds them
        up, ``largest`` is the largest; the usage figures are None.  The
        non-canonical hole and the kernel's half are not free."""
        return self._free

    @property
    def largest_gap(self) -> Gap | None:
        """The largest free range, or None when there is none."""
        return self._largest_gap

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int | str) -> SummaryRow: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[SummaryRow, ...]: ...

    def __getitem__(self, index: int | str | slice) -> SummaryRow | tuple[SummaryRow, ...]:
        if isinstance(index, str):
            if index in CATEGORIES:
                return self._rows[CATEGORIES.index(index)]
            if index == "total":
                return self._total
            if index == "free":
                return self._free
            raise KeyError(
                f"no category {index!r}: a Summary has {', '.join(CATEGORIES)}, total and free"
            )
        return self._rows[index]

    def __iter__(self) -> Iterator[SummaryRow]:
        return iter(self._rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Summary):
            return NotImplemented
        return (self._rows, self._pid, self._largest_gap, self._free) == (
            other._rows,
            other._pid,
            other._largest_gap,
            other._free,
        )

    def __hash__(self) -> int:
        return hash((self._rows, self._pid, self._largest_gap, self._free))

    def __repr__(self) -> str:
        from .maps import _human_size

        who = "parsed" if self._pid is None else f"pid={self._pid}"
        used = ", ".join(
            f"{row.category} {_human_size(row.size)}" for row in self._rows if row.regions
        )
        return f"<Summary {who}: {_human_size(self._total.size)} mapped; {used or 'nothing'}>"

    def to_text(self) -> str:
        """A table laid out like VMMap's summary: one line per category,
        the total, and the free space, with human sizes.  The resident,
        dirty and swapped columns are there when the map has usage."""
        return _text(self)

    def _repr_html_(self) -> str:
        from .render.html import summary_html

        return summary_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from .render.pretty import summary_pretty

        summary_pretty(self, p, cycle)


def summarize(maps: Maps) -> Summary:
    """The :class:`Summary` of a map (``Maps.summary()``)."""
    regions = tuple(maps)
    names = categorize(regions)
    members: dict[str, list[Region]] = {name: [] for name in CATEGORIES}
    for region, name in zip(regions, names, strict=True):
        members[name].append(region)
    measured = bool(regions) and all(region.usage is not None for region in regions)
    rows = [_row(name, members[name], measured) for name in CATEGORIES]

    # The free part of each gap is what a new mapping could go in: not the
    # unusable fragment at its start, and nothing from the upper half on
    # (the non-canonical hole and the kernel's half, which a gap up to
    # [vsyscall] crosses).
    fragments: list[Gap] = []
    free: list[tuple[int, int]] = []
    for before, after in pairwise(regions):
        start, end = before.end, after.start
        if end <= start:
            continue
        if before.tag is not None:
            fragment = _unusable(before, after)
            if fragment is not None:
                fragments.append(fragment)
                start = fragment.end
        if start >= _UPPER_HALF:
            continue
        if end > _UPPER_HALF:
            end = min(end, _user_space_end(start))
        if end > start:
            free.append((start, end))
    if fragments:
        sizes = [fragment.size for fragment in fragments]
        zero = 0 if measured else None
        rows[CATEGORIES.index("unusable")] = SummaryRow(
            "unusable", len(sizes), sum(sizes), zero, zero, zero, max(sizes)
        )
    sizes = [end - start for start, end in free]
    largest = None
    if free:
        widest = max(range(len(free)), key=sizes.__getitem__)
        largest = Gap(*free[widest])
    free_row = SummaryRow(
        "free", len(free), sum(sizes), None, None, None, 0 if largest is None else largest.size
    )
    return Summary(rows, pid=maps.pid, largest_gap=largest, free=free_row)


def _text(summary: Summary) -> str:
    from .maps import _human_size

    rows = [*summary, summary.total]
    measured = any(
        value is not None for row in rows for value in (row.resident, row.dirty, row.swapped)
    )

    def figure(value: int | None) -> str:
        return "-" if value is None else _human_size(value)

    def cells(row: SummaryRow, usage: bool = True) -> list[str]:
        figures = [figure(row.resident), figure(row.dirty), figure(row.swapped)]
        return [
            row.category,
            _human_size(row.size),
            *((figures if usage else ["", "", ""]) if measured else []),
            str(row.regions),
            _human_size(row.largest),
        ]

    header = ["TYPE", "SIZE", *(["RESIDENT", "DIRTY", "SWAPPED"] if measured else [])]
    header += ["BLOCKS", "LARGEST"]
    table = [header, *(cells(row) for row in rows), cells(summary.free, usage=False)]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    # Two spaces between columns: a category's name has one of its own.
    lines = [
        "  ".join(
            [
                line[0].ljust(widths[0]),
                *(cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)),
            ]
        ).rstrip()
        for line in table
    ]
    gap = summary.largest_gap
    if gap is not None:
        lines.append(f"largest free gap: {gap.start:#x}-{gap.end:#x} ({_human_size(gap.size)})")
    return "\n".join(lines) + "\n"
