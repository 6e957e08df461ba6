"""A picture of an address space: ``Maps.to_svg()`` and ``Maps.plot()``.

An address space is almost all empty, and what is mapped ranges from one
page to terabytes, so a linear picture shows nothing.  This one lays the
map out as a tape, left to right and wrapped into lanes like lines of text:

* every region is a box in address order; its width grows with the
  logarithm of its size (a 4 KiB page is a sliver, a gigabyte about a
  tenth of a lane), and its size is written in it when it fits;
* every unmapped gap is a break of one fixed width, labelled with its size;
  on 64-bit systems the non-canonical hole and the kernel's half are drawn
  as what they are, never as free memory;
* regions of one file (or one name) that follow each other are one image:
  a bracket over its segments with its name, each segment with its
  permissions;
* colour is by kind or by permission (``color=``), with a legend;
  writable-and-executable memory is outlined and hatched in red; with
  usage, the part of each box that is not resident is paled, so the solid
  part is the resident share;
* every shape has a ``<title>``: hovering tells its addresses, size,
  permissions, kind, name and usage;
* beyond ``max_items`` shapes, runs of small neighbours (regions and the
  small gaps between them) are merged into one box whose title says how
  many regions it holds and of what kinds, so a map of 60 000 regions
  stays readable and small.

The output is pure SVG text, no script, no plotting library, and the same
Maps always gives the same bytes.
"""

from __future__ import annotations

import gc
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from html import escape
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

from ..region import KINDS, Region
from ._common import (
    PERMS_ORDER,
    WX_COLOR,
    basename,
    hex_range,
    human,
    is_wx,
    kind_color,
    percent,
    perms_color,
    shorten,
    shown,
    totals,
)

if TYPE_CHECKING:
    from ..maps import Maps

COLORINGS = ("kind", "perms")
THEMES = ("light", "dark")

_PAGE = 4096
_MARGIN = 12
_GUTTER = 118  # the lane's first address
_BAR = 30  # height of a lane's boxes
_LABEL_ROW = 15
_LABEL_SPACE = 10  # between one name and the next
_TITLE_NAME = 512  # characters of a name in a title
_BELOW = 14  # gap sizes under the boxes
_LANE_SPACE = 10
_MIN_W = 6  # a page
_SCALE = 5.0  # pixels per doubling of the size
_MAX_W = 150
_SEGMENT_W = 24  # an image's segment holds its permissions
_NAMED_W = 72  # at most this much wider for a name
_GAP_W = 40
_HOLE_W = 92
_KERNEL_W = 64
_RUN_MIN_W = 96
_MIN_RUN = 4  # fewer units than this are drawn one by one, not merged
_SLIVER = 16 * 1024  # a region this small is a sliver of a box ...
_SLIVER_RUN = 16  # ... and this many of them in a row are merged
_RUN_MAX_W = 220
_MONO_EM = 0.61  # advance of a monospaced glyph, in em
_SANS_EM = 0.6

_DOT = " \u00b7 "
_MONO = "ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono','Liberation Mono',monospace"
_SANS = "system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans','Liberation Sans',sans-serif"

_THEMES = {
    "light": {"bg": "#ffffff", "fg": "#1f2328", "muted": "#656d76", "line": "#afb8c1"},
    "dark": {"bg": "#0d1117", "fg": "#e6edf3", "muted": "#8b949e", "line": "#484f58"},
}

# The non-canonical hole of 64-bit address spaces: user space ends at
# 2**47 (x86-64 with 4-level page tables), 2**48 or 2**52 (arm64) or 2**56
# (x86-64 with 5-level paging), and the kernel's half starts as far below
# 2**64.  Addresses in between are not addresses at all.
_TOP = 1 << 64

_get_start = attrgetter("start")
_get_end = attrgetter("end")
_get_path = attrgetter("path")
_get_detail = attrgetter("detail")
_get_kind = attrgetter("kind")
_get_perms = attrgetter("perms")


def _hole_bits(regions: Sequence[Region]) -> int:
    """The bits of user space: 47 (x86-64), 48 (arm64), 52 (arm64 with
    large addresses) or 56 (x86-64 with 5-level paging): the fewest that
    hold every region below the kernel's half."""
    user_top = 0
    for region in reversed(regions):
        if region.end <= 1 << 63:
            user_top = region.end
            break
    for bits in (47, 48, 52, 56):
        if user_top <= 1 << bits:
            return bits
    return 63


# --------------------------------------------------------------------------
# What is drawn: atoms (units of regions, gaps), merged into items


class _Atom:
    """A unit of the tape before aggregation: regions of one name that
    follow each other without a gap ("unit"), or an unmapped range ("gap",
    "hole", "kernel")."""

    __slots__ = ("end", "name", "regions", "start", "what")

    def __init__(
        self, what: str, start: int, end: int, regions: list[Region], name: str | None
    ) -> None:
        self.what = what
        self.start = start
        self.end = end
        self.regions = regions
        self.name = name


def _atoms(regions: Sequence[Region]) -> list[_Atom]:
    atoms: list[_Atom] = []
    bits = _hole_bits(regions)
    hole_start, hole_end = 1 << bits, _TOP - (1 << bits)
    if hole_start >= hole_end:  # no hole: nothing above user space is kernel
        hole_start = hole_end = _TOP
    # The fields as lists first (C speed); the loop then touches ints only.
    starts = list(map(_get_start, regions))
    ends = list(map(_get_end, regions))
    paths = list(map(_get_path, regions))
    if any(map(_get_detail, regions)):
        # A nameless region with a label (a Windows heap, a thread's stack)
        # is named by it: the stack's pieces are one unit, labelled.
        paths = [
            f"[{region.detail}]" if path is None and region.detail is not None else path
            for region, path in zip(regions, paths, strict=True)
        ]
    last: _Atom | None = None
    last_end = -1
    for region, start, end, path in zip(regions, starts, ends, paths, strict=True):
        if last is not None:
            if start > last_end:
                if last_end < hole_end and start > hole_start:
                    atoms.extend(_gap_atoms(last_end, start, hole_start, hole_end))
                else:
                    atoms.append(_Atom("gap", last_end, start, [], None))
                last = None
            elif path is not None and path == last.name:
                last.regions.append(region)
                last.end = last_end = end
                continue
        last = _Atom("unit", start, end, [region], path)
        last_end = end
        atoms.append(last)
    return atoms


def _gap_atoms(start: int, end: int, hole_start: int, hole_end: int) -> list[_Atom]:
    """An unmapped range; the part of it in the non-canonical hole, and the
    kernel's half above it, drawn as what they are."""
    if not (start < hole_end and end > hole_start):
        return [_Atom("gap", start, end, [], None)]
    pieces = []
    if start < hole_start:
        pieces.append(_Atom("gap", start, hole_start, [], None))
    pieces.append(_Atom("hole", max(start, hole_start), min(end, hole_end), [], None))
    if end > hole_end:
        pieces.append(_Atom("kernel", hole_end, end, [], None))
    return pieces


_UNIT, _GAP, _FIXED = 0, 1, 2  # what an atom is, for the counting loop


def _count_items(codes: Sequence[int], sizes: Sequence[int], threshold: int) -> int:
    """How many items _merge() gives for this threshold, without building
    them: each maximal run of small atoms that holds _MIN_RUN units or more
    is one item, its leading and trailing gaps apart."""
    count = 0
    run_atoms = 0  # from the run's first unit to its last
    run_units = 0
    trailing = 0  # small gaps after the run's last unit
    for code, size in zip(codes, sizes, strict=True):
        if size < threshold and code != _FIXED:
            if code == _UNIT:
                run_atoms += trailing + 1
                run_units += 1
                trailing = 0
            elif run_units:
                trailing += 1
            else:
                count += 1
            continue
        if run_units:
            count += (1 if run_units >= _MIN_RUN else run_atoms) + trailing
            run_atoms = run_units = trailing = 0
        count += 1
    if run_units:
        count += (1 if run_units >= _MIN_RUN else run_atoms) + trailing
    return count


def _merge_slivers(atoms: list[_Atom]) -> list[_Atom]:
    """Long runs of one-region units too small to show anything (slivers
    of a box, with small gaps between them) merged, whatever the count: a
    row of 300 slivers says less than one box that says "300 regions"."""
    merged: list[_Atom] = []
    run: list[_Atom] = []

    def flush() -> None:
        trailing: list[_Atom] = []
        while run and run[-1].what == "gap":
            trailing.insert(0, run.pop())
        units = sum(1 for atom in run if atom.what == "unit")
        if units >= _SLIVER_RUN:
            regions = [atom.regions[0] for atom in run if atom.what == "unit"]
            merged.append(_Atom("run", run[0].start, run[-1].end, regions, None))
        else:
            merged.extend(run)
        merged.extend(trailing)
        run.clear()

    for atom in atoms:
        small = atom.end - atom.start <= _SLIVER
        sliver = atom.what == "unit" and len(atom.regions) == 1
        if small and (sliver or (atom.what == "gap" and run)):
            run.append(atom)
        else:
            flush()
            merged.append(atom)
    flush()
    return merged


def _merge(atoms: list[_Atom], max_items: int) -> list[_Atom]:
    """The atoms, with long runs of slivers merged, then runs of small ones
    merged into "run" atoms until at most max_items are left (or nothing
    more can be merged)."""
    atoms = _merge_slivers(atoms)
    if len(atoms) <= max_items:
        return atoms
    sizes = [atom.end - atom.start for atom in atoms]
    # A run of slivers merged already merges again like a unit.
    codes = [
        _GAP if atom.what == "gap" else _UNIT if atom.what in ("unit", "run") else _FIXED
        for atom in atoms
    ]
    # The smallest power of two that brings the count down.  The count only
    # changes where the threshold passes an atom's size, and only falls as
    # the threshold grows: a bisection over the sizes' bit lengths.
    exponents = sorted({size.bit_length() for size in sizes} | {65})
    low, high = 0, len(exponents) - 1
    while low < high:
        middle = (low + high) // 2
        if _count_items(codes, sizes, 1 << exponents[middle]) <= max_items:
            high = middle
        else:
            low = middle + 1
    threshold = 1 << exponents[low]
    merged: list[_Atom] = []
    run: list[_Atom] = []

    def flush() -> None:
        trailing: list[_Atom] = []
        while run and run[-1].what == "gap":
            trailing.insert(0, run.pop())
        units = [atom for atom in run if atom.what != "gap"]
        if len(units) >= _MIN_RUN:
            regions = [region for atom in units for region in atom.regions]
            merged.append(_Atom("run", run[0].start, run[-1].end, regions, None))
        else:
            merged.extend(run)
        merged.extend(trailing)
        run.clear()

    for atom, size, code in zip(atoms, sizes, codes, strict=True):
        if size < threshold and code != _FIXED:
            if code == _GAP and not run:
                merged.append(atom)
            else:
                run.append(atom)
            continue
        flush()
        merged.append(atom)
    flush()
    return merged


# --------------------------------------------------------------------------
# Geometry


def _log_width(size: int, minimum: int = _MIN_W, maximum: int = _MAX_W) -> int:
    pages = max(size, _PAGE) / _PAGE
    return max(minimum, min(maximum, round(_MIN_W + _SCALE * math.log2(pages))))


def _atom_widths(atom: _Atom) -> list[int]:
    """The width of each box of an atom (one per region of a unit)."""
    if atom.what == "unit":
        if atom.name is None:
            minimum = _MIN_W
        elif len(atom.regions) == 1:
            # One named region ([vdso], [stack]) is wide enough for its name.
            name_width = math.ceil(_text_width(_label_text(atom), 10)) + _LABEL_SPACE + 2
            minimum = max(_SEGMENT_W, min(_NAMED_W, name_width))
        else:
            minimum = _SEGMENT_W
        return [_log_width(region.end - region.start, minimum) for region in atom.regions]
    if atom.what == "gap":
        return [_GAP_W]
    if atom.what == "hole":
        return [_HOLE_W]
    if atom.what == "kernel":
        return [_KERNEL_W]
    return [_log_width(atom.end - atom.start, _RUN_MIN_W, _RUN_MAX_W)]


class _Placed:
    __slots__ = ("atom", "index", "lane", "width", "x")

    def __init__(self, atom: _Atom, index: int, lane: int, x: int, width: int) -> None:
        self.atom = atom
        self.index = index  # the region of the atom (units), else 0
        self.lane = lane
        self.x = x
        self.width = width


def _place(atoms: Sequence[_Atom], lane_width: int) -> tuple[list[_Placed], int]:
    """Boxes in lanes, left to right; a unit moves whole to the next lane
    when it does not fit in what is left of this one (and is cut only when
    it is wider than a lane)."""
    placed: list[_Placed] = []
    lane, x = 0, 0
    for atom in atoms:
        widths = _atom_widths(atom)
        total = sum(widths)
        if x and x + total > lane_width and total <= lane_width:
            lane, x = lane + 1, 0
        for index, width in enumerate(widths):
            if x and x + width > lane_width:
                lane, x = lane + 1, 0
            placed.append(_Placed(atom, index, lane, x, width))
            x += width
    return placed, lane + 1 if placed else 0


# --------------------------------------------------------------------------
# Text


def _text_width(text: str, size: float, em: float = _MONO_EM) -> float:
    return len(text) * size * em


def _fit(text: str, room: float, size: float) -> str:
    """text cut (with an ellipsis) to what room pixels hold, or "".  A file
    name is cut before a dot where it can ("_json.cpython-311-x86_64-linux-
    gnu.so" to "_json\u2026"), so that what is left is a whole word."""
    fits = int(room / (size * _MONO_EM))
    if fits >= len(text):
        return text
    if fits < 2:
        return ""
    dot = text.rfind(".", 0, fits)
    if dot >= 3:
        return text[:dot] + "\u2026"
    return text[: fits - 1] + "\u2026"


def _x(text: str) -> str:
    """Escaped for SVG text and attribute values."""
    return escape(text, quote=True)


def _region_title(region: Region) -> str:
    size = region.end - region.start
    lines = [f"{hex_range(region.start, region.end)}  {human(size)}  {region.perms}  {region.kind}"]
    if region.path is not None:
        # A name can be 4 KiB: a title keeps both ends of it, which is what
        # a person reads, and the picture stays small.
        name = shorten(shown(region.path), _TITLE_NAME) + (" (deleted)" if region.deleted else "")
        lines.append(name)
    details = []
    if region.inode or region.offset:
        details.append(f"offset {region.offset:#x}")
    for label, value in (
        ("max", region.max_perms),
        ("share", region.share_mode),
        ("tag", region.tag),
        ("", region.detail),
    ):
        if value is not None:
            details.append(f"{label} {shown(value)}".strip())
    if region.allocation_base is not None and region.allocation_base != region.start:
        details.append(f"allocation {region.allocation_base:#x}")
    if details:
        lines.append(", ".join(details))
    if is_wx(region):
        lines.append("writable and executable")
    usage = region.usage
    if usage is not None:
        figures = []
        if usage.resident is not None:
            figures.append(f"resident {human(usage.resident)} ({percent(usage.resident, size)})")
        if usage.pss is not None:
            figures.append(f"PSS {human(usage.pss)}")
        dirty = (
            None
            if usage.shared_dirty is None or usage.private_dirty is None
            else usage.shared_dirty + usage.private_dirty
        )
        if dirty is not None:
            figures.append(f"dirty {human(dirty)}")
        if usage.swap is not None:
            figures.append(f"swap {human(usage.swap)}")
        if figures:
            lines.append(", ".join(figures))
    return "\n".join(lines)


def _gap_title(atom: _Atom) -> str:
    size = atom.end - atom.start
    span = hex_range(atom.start, atom.end)
    if atom.what == "hole":
        return (
            f"{span}  {human(size)}\nthe non-canonical hole: no address in it is valid, "
            "nothing can be mapped there"
        )
    if atom.what == "kernel":
        return f"{span}  {human(size)}\nthe kernel's half of the address space"
    return f"{span}  {human(size)}\nunmapped"


def _tally(keys: Iterable[str], sizes: Sequence[int]) -> dict[str, list[int]]:
    """[count, bytes] for each key."""
    table: dict[str, list[int]] = {}
    for key, size in zip(keys, sizes, strict=False):
        entry = table.get(key)
        if entry is None:
            table[key] = [1, size]
        else:
            entry[0] += 1
            entry[1] += size
    return table


class _RunStats:
    """What a merged box says about its regions, from one pass over them."""

    __slots__ = ("by_kind", "by_perms", "count", "mapped", "names", "resident", "wx")

    def __init__(self, regions: Sequence[Region]) -> None:
        self.count = len(regions)
        starts, ends = map(_get_start, regions), map(_get_end, regions)
        sizes = [end - start for start, end in zip(starts, ends, strict=False)]
        self.mapped = sum(sizes)
        self.by_kind = _tally(map(_get_kind, regions), sizes)
        self.by_perms = _tally(map(_get_perms, regions), sizes)
        self.names = dict(Counter(filter(None, map(_get_path, regions))))
        self.wx = sum(
            count for perms, (count, _size) in self.by_perms.items() if perms[1:3] == "wx"
        )
        self.resident = _resident(regions)

    def colors(self, color: str) -> list[tuple[str, int]]:
        """(fill, bytes) of the stripes, in the legend's order."""
        by_fill: dict[str, int] = {}
        if color == "kind":
            for kind, (_count, size) in self.by_kind.items():
                fill = kind_color(kind)
                by_fill[fill] = by_fill.get(fill, 0) + size
            order = [kind_color(kind) for kind in KINDS]
        else:
            for perms, (_count, size) in self.by_perms.items():
                fill = perms_color(perms)
                by_fill[fill] = by_fill.get(fill, 0) + size
            order = [perms_color(perms) for perms in PERMS_ORDER]
        ranked = [fill for fill in dict.fromkeys(order) if fill in by_fill]
        ranked += sorted(fill for fill in by_fill if fill not in ranked)
        return [(fill, by_fill[fill]) for fill in ranked]


def _run_title(atom: _Atom, stats: _RunStats, color: str) -> str:
    lines = [
        f"{stats.count:,} regions merged: too small to draw one by one",
        f"{hex_range(atom.start, atom.end)}  span {human(atom.end - atom.start)}, "
        f"{human(stats.mapped)} mapped",
    ]
    shares = stats.by_kind if color == "kind" else stats.by_perms
    for key, (count, size) in sorted(shares.items(), key=lambda item: (-item[1][1], item[0])):
        lines.append(f"{shown(key)}: {count:,} region{'s' if count != 1 else ''}, {human(size)}")
    top = sorted(stats.names.items(), key=lambda item: (-item[1], item[0]))[:5]
    for name, count in top:
        lines.append(f"{count:,} \u00d7 {shorten(shown(name), 80)}")
    if len(stats.names) > len(top):
        lines.append(f"and {len(stats.names) - len(top):,} other names")
    if stats.resident is not None:
        lines.append(f"resident {human(stats.resident)} ({percent(stats.resident, stats.mapped)})")
    if stats.wx:
        lines.append(f"{stats.wx:,} writable and executable")
    return "\n".join(lines)


def _resident(regions: Sequence[Region]) -> int | None:
    return totals([region.usage for region in regions]).resident


# --------------------------------------------------------------------------
# Drawing


class _Canvas:
    def __init__(self, theme: str) -> None:
        self.theme = _THEMES[theme]
        self.prefix = f"mm{theme[0]}"
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)


def _fill(region: Region, color: str) -> str:
    return kind_color(region.kind) if color == "kind" else perms_color(region.perms)


def _legend_entries(
    regions: Sequence[Region], atoms: Sequence[_Atom], color: str
) -> list[tuple[str, str, str]]:
    """(what, colour or symbol, label) of everything the picture shows."""
    entries: list[tuple[str, str, str]] = []
    if color == "kind":
        present = {region.kind for region in regions}
        for kind in [*KINDS, *sorted(present - set(KINDS))]:
            if kind in present:
                entries.append(("swatch", kind_color(kind), kind))
    else:
        present = {region.perms[:3] for region in regions}
        for perms in [*PERMS_ORDER, *sorted(present - set(PERMS_ORDER))]:
            if perms in present:
                entries.append(("swatch", perms_color(perms), perms))
    if any(is_wx(region) for region in regions):
        entries.append(("wx", WX_COLOR, "writable and executable"))
    if regions and all(region.usage is not None for region in regions):
        entries.append(("resident", "", "solid: resident, pale: not"))
    whats = {atom.what for atom in atoms}
    if "gap" in whats:
        entries.append(("gap", "", "unmapped gap (size below)"))
    if "hole" in whats:
        entries.append(("hole", "", "non-canonical hole"))
    if "kernel" in whats:
        entries.append(("kernel", "", "kernel space"))
    if "run" in whats:
        entries.append(("run", "", "many small regions, merged"))
    return entries


def _defs(canvas: _Canvas) -> None:
    theme, p = canvas.theme, canvas.prefix
    canvas.add(
        "<defs>"
        f'<pattern id="{p}-wx" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="2.2" height="6" fill="{WX_COLOR}"/></pattern>'
        f'<pattern id="{p}-hole" width="8" height="8" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(-45)"><rect width="8" height="8" fill="{theme["bg"]}"/>'
        f'<rect width="1.5" height="8" fill="{theme["line"]}"/></pattern>'
        f'<pattern id="{p}-run" width="5" height="5" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="1.2" height="5" fill="{theme["bg"]}" '
        'fill-opacity="0.55"/></pattern>'
        "</defs>"
    )


def _style(canvas: _Canvas) -> None:
    theme, p = canvas.theme, canvas.prefix
    canvas.add(
        "<style>"
        f".{p} text{{font-family:{_MONO};font-size:10px;fill:{theme['fg']}}}"
        f".{p} .h{{font-family:{_SANS};font-size:14px;font-weight:600}}"
        f".{p} .s{{font-family:{_SANS};font-size:11px;fill:{theme['muted']}}}"
        f".{p} .lg{{font-family:{_SANS};font-size:11px}}"
        f".{p} .ad{{fill:{theme['muted']};text-anchor:end}}"
        f".{p} .gp{{font-size:9px;fill:{theme['muted']};text-anchor:middle}}"
        f".{p} .in{{font-size:9.5px;text-anchor:middle;paint-order:stroke;"
        f"stroke:{theme['bg']};stroke-opacity:0.75;stroke-width:2.5px;stroke-linejoin:round}}"
        "</style>"
    )


def _swatch_shape(canvas: _Canvas, entry: tuple[str, str, str], x: float, y: float) -> None:
    what, color, _label = entry
    theme, p = canvas.theme, canvas.prefix
    if what == "swatch":
        canvas.add(f'<rect x="{x}" y="{y}" width="12" height="12" rx="2" fill="{color}"/>')
    elif what == "wx":
        canvas.add(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="url(#{p}-wx)" '
            f'stroke="{WX_COLOR}" stroke-width="2"/>'
        )
    elif what == "resident":
        canvas.add(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{theme["muted"]}"/>'
            f'<rect x="{x}" y="{y}" width="12" height="6" fill="{theme["bg"]}" fill-opacity="0.6"/>'
        )
    elif what == "gap":
        _break_marks(canvas, x + 6, y, 12)
    elif what == "hole":
        canvas.add(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="url(#{p}-hole)" '
            f'stroke="{theme["line"]}"/>'
        )
    elif what == "kernel":
        canvas.add(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{theme["line"]}"/>')
    elif what == "run":
        canvas.add(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{theme["muted"]}"/>'
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="url(#{p}-run)"/>'
        )


def _break_marks(canvas: _Canvas, center: float, top: float, height: float) -> None:
    """An axis break: two slanted strokes."""
    line = canvas.theme["line"]
    middle = top + height / 2
    canvas.add(
        f'<path d="M{center - 6:g} {middle:g}H{center + 6:g}" stroke="{line}" '
        'stroke-dasharray="2 2"/>'
        f'<path d="M{center - 5:g} {top + height:g}L{center - 1:g} {top:g}'
        f'M{center + 1:g} {top + height:g}L{center + 5:g} {top:g}" '
        f'stroke="{canvas.theme["muted"]}" stroke-width="1.5" fill="none"/>'
    )


def _legend(
    canvas: _Canvas, entries: Sequence[tuple[str, str, str]], top: float, width: int
) -> float:
    """The legend, wrapped over as many lines as it needs; returns the y
    below it."""
    x, y = _MARGIN, top
    for entry in entries:
        room = round(12 + 5 + _text_width(entry[2], 11, _SANS_EM) + 18)
        if x > _MARGIN and x + room > width - _MARGIN:
            x, y = _MARGIN, y + 18
        _swatch_shape(canvas, entry, x, y)
        canvas.add(f'<text class="lg" x="{x + 17:g}" y="{y + 10:g}">{_x(entry[2])}</text>')
        x += room
    return y + 18 if entries else top


def _label_text(atom: _Atom) -> str:
    """A file's name without its directory; the kernel's objects (shared
    memory, memfd, SysV, huge pages: always "deleted") and bracketed names
    as they are."""
    assert atom.name is not None
    first = atom.regions[0]
    if first.kind != "file":
        return shown(atom.name)
    text = basename(shown(atom.name))
    if any(region.deleted for region in atom.regions):
        text += " (deleted)"
    return text


class _Label:
    __slots__ = ("left", "row", "span", "start", "text")

    def __init__(self, row: int, start: float, left: float, span: float, text: str) -> None:
        self.row = row  # 0 just over the boxes, 1 over that
        self.start = start  # where the text starts
        self.left = left  # where the bracket starts
        self.span = span  # the bracket's width
        self.text = text


def _labels(placed: Sequence[_Placed], lane_width: int) -> dict[int, list[_Label]]:
    """The names over the images, by lane.  A name goes just over its
    bracket and may run on over free space up to the next bracket; when it
    would be cut there, it goes one row up instead (a dotted line joins it
    to its bracket), where it may run over the next bracket too.  Cut names
    end with an ellipsis, before a dot where they can."""
    spans: dict[int, dict[int, list[float]]] = {}
    atoms: dict[int, _Atom] = {}
    for box in placed:
        if box.atom.what != "unit" or box.atom.name is None:
            continue
        key = id(box.atom)
        lane_spans = spans.setdefault(box.lane, {})
        if key in lane_spans:
            lane_spans[key][1] = box.x + box.width
        else:
            lane_spans[key] = [box.x, box.x + box.width]
            atoms[key] = box.atom
    out: dict[int, list[_Label]] = {}
    for lane, lane_spans in spans.items():
        upper_end = -1e9  # where the last name of the upper row ends
        items = sorted(lane_spans.items(), key=lambda item: item[1][0])
        lefts = [left for _key, (left, _right) in items] + [lane_width + 6, lane_width + 6]
        labels = []
        for position, (key, (left, right)) in enumerate(items):
            text = _label_text(atoms[key])
            lower = _fit(text, lefts[position + 1] - _LABEL_SPACE - left, 10)
            row, fitted = 0, lower
            if lower != text and upper_end + _LABEL_SPACE <= left:
                upper = _fit(text, lefts[position + 2] - _LABEL_SPACE - left, 10)
                if len(upper) > len(lower):
                    row, fitted = 1, upper
                    upper_end = left + _text_width(upper, 10)
            if fitted:
                labels.append(_Label(row, left, left, right - left, fitted))
        out[lane] = labels
    return out


def to_svg(
    maps: Maps,
    *,
    color: str = "kind",
    width: int = 1000,
    theme: str = "light",
    title: str | None = None,
    max_items: int = 400,
) -> str:
    """The picture of maps as SVG text (see the module's docstring)."""
    if color not in COLORINGS:
        raise ValueError(f"color must be one of {', '.join(COLORINGS)}, got {color!r}")
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(THEMES)}, got {theme!r}")
    if isinstance(width, bool) or not isinstance(width, int):
        raise TypeError(f"width must be an int, not {type(width).__name__}")
    if width < 400:
        raise ValueError(f"width must be at least 400 pixels, got {width}")
    if isinstance(max_items, bool) or not isinstance(max_items, int):
        raise TypeError(f"max_items must be an int, not {type(max_items).__name__}")
    if max_items < 10:
        raise ValueError(f"max_items must be at least 10, got {max_items}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, not {type(title).__name__}")

    regions: Sequence[Region] = maps._regions
    with _collector_paused():
        return _draw(maps, regions, color, width, theme, title, max_items)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector off while the picture is built: the atoms of
    a big map are many small objects, and each collection would walk every
    Region of the map again (as the C core does while it builds them)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _draw(
    maps: Maps,
    regions: Sequence[Region],
    color: str,
    width: int,
    theme: str,
    title: str | None,
    max_items: int,
) -> str:
    atoms = _merge(_atoms(regions), max_items)
    lane_width = width - 2 * _MARGIN - _GUTTER
    placed, lanes = _place(atoms, lane_width)
    labels = _labels(placed, lane_width)

    canvas = _Canvas(theme)
    theme_colors = canvas.theme
    _style(canvas)
    _defs(canvas)

    # Heading: what this is, in figures.
    mapped = sum(region.end - region.start for region in regions)
    who = (
        title if title is not None else ("a parsed map" if maps.pid is None else f"pid {maps.pid}")
    )
    facts = [
        f"{len(regions):,} region{'s' if len(regions) != 1 else ''}",
        f"{human(mapped)} mapped",
    ]
    resident = _resident(regions) if regions else None
    if resident is not None:
        facts.append(f"{human(resident)} resident")
    if maps.partial is not None:
        facts.append(f"partial: {shown(maps.partial)}")
    canvas.add(f'<text class="h" x="{_MARGIN}" y="{_MARGIN + 14}">{_x(shown(who))}</text>')
    scale = "box widths grow with the log of the size, gaps are drawn at one width"
    lines = [_DOT.join([*facts, scale])]
    if _text_width(lines[0], 11, _SANS_EM) > width - 2 * _MARGIN:
        lines = [_DOT.join(facts), scale]  # a narrow picture: two lines
    for index, line in enumerate(lines):
        canvas.add(
            f'<text class="s" x="{_MARGIN}" y="{_MARGIN + 30 + 15 * index}">{_x(line)}</text>'
        )
    top = _MARGIN + 40 + 15 * (len(lines) - 1)
    y = _legend(canvas, _legend_entries(regions, atoms, color), top, width) + 6

    # Lanes: each as high as its labels need.
    rows_in_lane = [0] * lanes
    for lane, lane_labels in labels.items():
        rows_in_lane[lane] = 1 + max((name.row for name in lane_labels), default=-1)
    lane_tops = []
    for lane in range(lanes):
        lane_tops.append(y)
        y += rows_in_lane[lane] * _LABEL_ROW + 4 + _BAR + _BELOW + _LANE_SPACE
    height = int(y + _MARGIN - _LANE_SPACE) if lanes else int(y + _MARGIN)

    def bar_top(lane: int) -> float:
        return lane_tops[lane] + rows_in_lane[lane] * _LABEL_ROW + 4

    left = _MARGIN + _GUTTER
    first_in_lane: set[int] = set()
    for box in placed:
        if box.lane not in first_in_lane:
            first_in_lane.add(box.lane)
            atom = box.atom
            start = atom.regions[box.index].start if atom.what == "unit" else atom.start
            canvas.add(
                f'<text class="ad" x="{left - 8}" y="{bar_top(box.lane) + _BAR / 2 + 3.5:g}">'
                f"{start:#x}</text>"
            )
        _draw_box(canvas, box, left + box.x, bar_top(box.lane), color)

    for lane, lane_labels in labels.items():
        lane_top = bar_top(lane)
        for name in lane_labels:
            line_y = lane_top - 3 - name.row * _LABEL_ROW
            bracket = left + name.left
            canvas.add(
                f'<path d="M{bracket + 0.5:g} {line_y + 3:g}V{line_y:g}'
                f'H{bracket + name.span - 0.5:g}V{line_y + 3:g}" fill="none" '
                f'stroke="{theme_colors["muted"]}"/>'
            )
            if name.row:
                canvas.add(
                    f'<path d="M{bracket + 0.5:g} {line_y + 3:g}V{lane_top - 3:g}" '
                    f'stroke="{theme_colors["line"]}" stroke-dasharray="1 2"/>'
                )
            canvas.add(f'<text x="{left + name.start:g}" y="{line_y - 2:g}">{_x(name.text)}</text>')

    body = "".join(canvas.parts)
    label = _x(f"address space of {shown(who)}: " + ", ".join(facts))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{canvas.prefix}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
        # The text's look again as attributes, for pages that strip <style>.
        f'font-family="{_MONO}" font-size="10" fill="{theme_colors["fg"]}">'
        f'<rect width="{width}" height="{height}" fill="{theme_colors["bg"]}" rx="4"/>'
        f"{body}</svg>"
    )


def _draw_box(canvas: _Canvas, box: _Placed, x: int, top: float, color: str) -> None:
    atom = box.atom
    theme, p = canvas.theme, canvas.prefix
    w = box.width
    if atom.what == "gap":
        center = x + w / 2
        canvas.add(f"<g><title>{_x(_gap_title(atom))}</title>")
        canvas.add(f'<rect x="{x}" y="{top:g}" width="{w}" height="{_BAR}" fill-opacity="0"/>')
        _break_marks(canvas, center, top + 8, _BAR - 16)
        canvas.add(
            f'<text class="gp" x="{center:g}" y="{top + _BAR + 10:g}">'
            f"{human(atom.end - atom.start)}</text></g>"
        )
        return
    if atom.what in ("hole", "kernel"):
        fill = f"url(#{p}-hole)" if atom.what == "hole" else theme["line"]
        word = "non-canonical" if atom.what == "hole" else "kernel"
        canvas.add(
            f"<g><title>{_x(_gap_title(atom))}</title>"
            f'<rect x="{x + 2}" y="{top:g}" width="{w - 4}" height="{_BAR}" fill="{fill}" '
            f'stroke="{theme["line"]}"/>'
            f'<text class="in" x="{x + w / 2:g}" y="{top + _BAR / 2 + 3.5:g}">{word}</text>'
            f'<text class="gp" x="{x + w / 2:g}" y="{top + _BAR + 10:g}">'
            f"{human(atom.end - atom.start)}</text></g>"
        )
        return
    if atom.what == "run":
        _draw_run(canvas, atom, x, top, w, color)
        return
    region = atom.regions[box.index]
    fill = _fill(region, color)
    inner = max(1, w - 1)  # one pixel of background between neighbours
    parts = [
        f"<g><title>{_x(_region_title(region))}</title>",
        f'<rect x="{x}" y="{top:g}" width="{inner}" height="{_BAR}" fill="{fill}"/>',
    ]
    usage = region.usage
    size = region.end - region.start
    if usage is not None and usage.resident is not None and size > 0:
        pale = _BAR * (1 - min(1.0, usage.resident / size))
        if pale >= 0.5:
            parts.append(
                f'<rect x="{x}" y="{top:g}" width="{inner}" height="{pale:.1f}" '
                f'fill="{theme["bg"]}" fill-opacity="0.62"/>'
            )
    if is_wx(region):
        parts.append(
            f'<rect x="{x + 1}" y="{top + 1:g}" width="{max(1, inner - 2)}" height="{_BAR - 2}" '
            f'fill="url(#{p}-wx)" stroke="{WX_COLOR}" stroke-width="2"/>'
        )
    text = region.perms[:3] if atom.name is not None else human(size)
    if _text_width(text, 9.5) + 4 <= inner:
        parts.append(
            f'<text class="in" x="{x + inner / 2:g}" y="{top + _BAR / 2 + 3.5:g}">{_x(text)}</text>'
        )
    parts.append("</g>")
    canvas.add("".join(parts))


def _draw_run(canvas: _Canvas, atom: _Atom, x: int, top: float, w: int, color: str) -> None:
    """A box for many regions: stripes of its kinds (or permissions) in
    proportion to their bytes, hatched to say it is merged."""
    theme, p = canvas.theme, canvas.prefix
    stats = _RunStats(atom.regions)
    stripes = stats.colors(color)
    total = sum(size for _fill, size in stripes) or 1
    inner = w - 2
    parts = [f"<g><title>{_x(_run_title(atom, stats, color))}</title>"]
    position = 0.0
    for index, (fill, size) in enumerate(stripes):
        right = inner if index == len(stripes) - 1 else position + inner * size / total
        if right - position >= 0.5:
            parts.append(
                f'<rect x="{x + 1 + position:.1f}" y="{top:g}" width="{right - position:.1f}" '
                f'height="{_BAR}" fill="{fill}"/>'
            )
        position = right
    if stats.resident is not None and stats.mapped:
        pale = _BAR * (1 - min(1.0, stats.resident / stats.mapped))
        if pale >= 0.5:
            parts.append(
                f'<rect x="{x + 1}" y="{top:g}" width="{inner}" height="{pale:.1f}" '
                f'fill="{theme["bg"]}" fill-opacity="0.62"/>'
            )
    outline = WX_COLOR if stats.wx else theme["fg"]
    parts.append(
        f'<rect x="{x + 1}" y="{top:g}" width="{inner}" height="{_BAR}" fill="url(#{p}-run)" '
        f'stroke="{outline}" stroke-opacity="0.7"/>'
    )
    text = f"{stats.count:,} regions"
    if _text_width(text, 9.5) + 6 > inner:
        text = f"{stats.count:,}"
    parts.append(
        f'<text class="in" x="{x + 1 + inner / 2:g}" y="{top + _BAR / 2 + 3.5:g}">{text}</text>'
    )
    parts.append(
        f'<text class="gp" x="{x + w / 2:g}" y="{top + _BAR + 10:g}">{human(stats.mapped)}</text>'
        "</g>"
    )
    canvas.add("".join(parts))


# --------------------------------------------------------------------------
# The object Maps.plot() returns


class Picture:
    """A picture of an address space, for Jupyter and for files.

    Jupyter shows it through ``_repr_svg_`` (or ``_repr_html_``, the same
    SVG inline, so that hovering shows each shape's title); ``svg`` is the
    text, ``save(path)`` writes it.
    """

    __slots__ = ("height", "svg", "width")

    def __init__(self, svg: str) -> None:
        self.svg = svg
        head = svg[: svg.index(">")]
        self.width = int(head.split(' width="', 1)[1].split('"', 1)[0])
        self.height = int(head.split(' height="', 1)[1].split('"', 1)[0])

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        return f'<div style="max-width:100%;overflow-x:auto">{self.svg}</div>'

    def __str__(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return f"<Picture {self.width}x{self.height}, {len(self.svg):,} bytes of SVG>"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the picture: ``.svg`` as SVG, ``.html`` or ``.htm`` as a
        page that shows it.  Returns the path."""
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".svg":
            text = '<?xml version="1.0" encoding="UTF-8"?>\n' + self.svg + "\n"
        elif suffix in (".html", ".htm"):
            text = (
                '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>memmaps</title>'
                f"</head><body>{self.svg}</body></html>\n"
            )
        else:
            raise ValueError(f"save() writes .svg, .html or .htm files, not {target.name!r}")
        target.write_text(text, encoding="utf-8")
        return target


__all__ = ["COLORINGS", "THEMES", "Picture", "to_svg"]
