"""The text IPython shows at its prompt: ``_repr_pretty_`` of Maps, Region,
Usage, Image, Summary and MapsDiff.

``p`` is IPython's printer (``IPython.lib.pretty``); nothing here imports
IPython.  A Maps shows its repr line and a table of its regions; more than
MAX_ROWS regions are cut to the first and last HEAD_ROWS, with a line that
counts the rest, as pandas cuts a long frame.  Region and Usage break their
fields over lines where the terminal is too narrow for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..maps import _dirty, _figure, _layout, _printable
from ..region import Region
from ..usage import Usage
from ._common import display_name, human, totals

if TYPE_CHECKING:
    from ..images import Image
    from ..maps import Maps

#: A Maps with more regions than this is cut ...
MAX_ROWS = 60
#: ... to this many rows from each end.
HEAD_ROWS = 10


def _lines(p: Any, lines: Sequence[str]) -> None:
    for index, line in enumerate(lines):
        if index:
            p.break_()
        p.text(line)


def maps_lines(
    maps: Maps, max_rows: int | None = MAX_ROWS, head_rows: int = HEAD_ROWS
) -> list[str]:
    """The repr line, then an aligned table (with usage columns when every
    region has usage), cut in the middle when the map is long."""
    regions: Sequence[Region] = maps._regions
    count = len(regions)
    lines = [repr(maps)]
    if maps.partial is not None:
        lines.append(f"partial: {maps.partial}")
    if count == 0:
        return lines
    if max_rows is None or count <= max_rows:
        shown_regions = list(regions)
        cut = None
    else:
        shown_regions = [*regions[:head_rows], *regions[count - head_rows :]]
        cut = head_rows
    width = max(8, *(len(f"{region.end:x}") for region in shown_regions))
    with_usage = all(region.usage is not None for region in regions)
    rows = []
    for region in shown_regions:
        row = [
            f"{region.start:0{width}x}",
            f"{region.end:0{width}x}",
            human(region.end - region.start),
            region.perms,
            region.kind,
        ]
        if with_usage:
            usage = region.usage
            assert usage is not None
            row += [_figure(usage.rss), _figure(usage.pss), _figure(_dirty(usage))]
            row.append(_figure(usage.swap))
        # A nameless region with a label (a Windows heap or stack) shows it.
        row.append(
            display_name(region)
            if region.path is not None or region.detail is None
            else f"[{_printable(region.detail)}]"
        )
        rows.append(tuple(row))
    header = ["START", "END", "SIZE", "PERMS", "KIND"]
    right = {2}
    if with_usage:
        header += ["RSS", "PSS", "DIRTY", "SWAP"]
        right |= {5, 6, 7, 8}
    header.append("PATH")
    table = _layout(tuple(header), rows, right)
    if cut is not None:
        left_out = count - 2 * head_rows
        noun = "region" if left_out == 1 else "regions"
        table.insert(1 + cut, f"\u2026 {left_out:,} more {noun} \u2026")
    lines += table
    if with_usage:
        total = totals([region.usage for region in regions])
        lines.append(
            f"total: RSS {_figure(total.rss)}, PSS {_figure(total.pss)}, "
            f"dirty {_figure(total.dirty)}, swap {_figure(total.swap)}"
        )
    return lines


def maps_pretty(maps: Maps, p: Any, cycle: bool) -> None:
    if cycle:
        p.text(repr(maps))
        return
    _lines(p, maps_lines(maps))


def _fields(p: Any, opening: str, fields: Sequence[tuple[str, Any]]) -> None:
    """opening, then name=value pairs filling lines: each break is a group
    of its own, so only the breaks a line needs are taken."""
    with p.group(len(opening), opening, ")"):
        for index, (name, value) in enumerate(fields):
            if index:
                p.text(",")
                with p.group(0):
                    p.breakable()
            p.text(f"{name}=")
            if isinstance(value, str):
                p.text(value)
            else:
                p.pretty(value)


def region_pretty(region: Region, p: Any, cycle: bool) -> None:
    """Region's repr (hex addresses), its fields broken over lines where
    they do not fit, and its usage in the short form below."""
    if cycle:
        p.text("Region(...)")
        return
    fields: list[tuple[str, Any]] = [
        ("start", f"{region.start:#x}"),
        ("end", f"{region.end:#x}"),
        ("perms", repr(region.perms)),
        ("offset", f"{region.offset:#x}"),
        ("dev_major", str(region.dev_major)),
        ("dev_minor", str(region.dev_minor)),
        ("inode", str(region.inode)),
        ("path", repr(region.path)),
        ("deleted", str(region.deleted)),
        ("kind", repr(region.kind)),
    ]
    for name in ("usage", "max_perms", "share_mode", "tag", "detail"):
        value = getattr(region, name)
        if value is not None:
            fields.append((name, value if name == "usage" else repr(value)))
    if region.allocation_base is not None:
        fields.append(("allocation_base", f"{region.allocation_base:#x}"))
    _fields(p, "Region(", fields)


def usage_pretty(usage: Usage, p: Any, cycle: bool) -> None:
    """The figures the OS gave (None ones left out), sizes in binary units:
    ``Usage(size=132K, rss=44K, ...)``."""
    if cycle:
        p.text("Usage(...)")
        return
    fields: list[tuple[str, Any]] = []
    for name in Usage._fields:
        value = getattr(usage, name)
        if value is None or name == "extra":
            continue
        if name in ("thp_eligible", "protection_key", "vmflags"):
            fields.append((name, repr(value)))
        else:
            fields.append((name, human(value)))
    if usage.extra:
        fields.append(("extra", repr(dict(usage.extra))))
    _fields(p, "Usage(", fields)


def image_pretty(image: Image, p: Any, cycle: bool) -> None:
    """The repr, then the table of its regions."""
    if cycle:
        p.text(repr(image))
        return
    _lines(p, [repr(image), *maps_lines(image.regions)[1:]])


def text_pretty(obj: Any, p: Any, cycle: bool) -> None:
    """An object that lays itself out as text (MapsDiff): its to_text(),
    line by line; more than MAX_ROWS lines are cut to the first and last
    HEAD_ROWS, as a map is (the last line says what the whole is)."""
    if cycle:
        p.text(f"<{type(obj).__name__} ...>")
        return
    lines = obj.to_text().rstrip("\n").split("\n")
    if len(lines) > MAX_ROWS:
        left_out = len(lines) - 2 * HEAD_ROWS
        lines = [*lines[:HEAD_ROWS], f"\u2026 {left_out:,} more lines \u2026", *lines[-HEAD_ROWS:]]
    _lines(p, lines)


def summary_pretty(summary: Any, p: Any, cycle: bool) -> None:
    """The repr line, then the table of to_text()."""
    if cycle:
        p.text(repr(summary))
        return
    _lines(p, [repr(summary), *summary.to_text().rstrip("\n").split("\n")])
