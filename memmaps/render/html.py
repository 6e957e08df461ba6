"""HTML for Jupyter: what ``_repr_html_`` of Maps, Region, Usage, Image,
Summary and MapsDiff returns.

Every piece is a table a person reads: hex addresses, human sizes (the exact
bytes on hover), permissions, the kind with its colour, names shortened with
the whole name on hover, usage columns when the regions have usage, and
totals.  A big map shows its first and last rows and how many are left out,
as pandas does, so the output stays small whatever the map's size.

The output is one ``<div class="memmaps-view">`` holding its own
``<style>``, scoped to that class: no script, no external file.  Text takes
the page's colour and the theme's variables where JupyterLab defines them
(``--jp-...``, with fallbacks elsewhere); the swatches are mid tones that
read on light and dark backgrounds.  Every name is escaped: a region's name
is chosen by the process, and a ``<script>`` in it is shown as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from ..region import KINDS, Region
from ..usage import Usage
from ._common import (
    CATEGORY_COLORS,
    OTHER_COLOR,
    display_name,
    hex_range,
    human,
    is_wx,
    kind_color,
    percent,
    shorten,
    shown,
    totals,
)

if TYPE_CHECKING:
    from ..images import Image
    from ..maps import Maps

#: Rows shown before a map is cut to its first and last MAX_ROWS // 2.
MAX_ROWS = 60
_DOT = " \u00b7 "
#: Characters of a name shown in a table cell (the whole name is on hover).
NAME_WIDTH = 64

_STYLE = """<style>
.memmaps-view{font-family:var(--jp-ui-font-family,system-ui,-apple-system,"Segoe UI",sans-serif);
font-size:var(--jp-ui-font-size1,13px);line-height:1.35;color:inherit;max-width:100%;overflow-x:auto}
.memmaps-view .mm-head{margin:2px 0 4px 0}
.memmaps-view .mm-head b{font-weight:600}
.memmaps-view .mm-muted{opacity:.7}
.memmaps-view .mm-warn{color:#d62728;margin:2px 0}
.memmaps-view .mm-legend{margin:2px 0 6px 0;display:flex;flex-wrap:wrap;gap:2px 14px}
.memmaps-view .mm-sw{display:inline-block;width:.8em;height:.8em;border-radius:2px;
margin-right:.35em;vertical-align:-.05em;border:1px solid rgba(128,128,128,.35)}
.memmaps-view table.mm-t{border-collapse:collapse;border:none;margin:0;
font-variant-numeric:tabular-nums;table-layout:auto}
.memmaps-view table.mm-t th,.memmaps-view table.mm-t td{padding:1px 8px;border:none;
white-space:nowrap;text-align:left;vertical-align:baseline;line-height:1.35;max-width:none}
.memmaps-view table.mm-t thead th{font-weight:600;
border-bottom:1px solid var(--jp-border-color1,rgba(128,128,128,.55))}
.memmaps-view table.mm-t tbody tr:nth-child(odd){background:rgba(128,128,128,.07)}
.memmaps-view table.mm-t tbody tr:nth-child(even){background:transparent}
.memmaps-view table.mm-t tbody tr:hover{background:rgba(128,128,128,.18)}
.memmaps-view table.mm-t td.mm-n,.memmaps-view table.mm-t th.mm-n{text-align:right}
.memmaps-view table.mm-t .mm-a{font-family:var(--jp-code-font-family,ui-monospace,SFMono-Regular,
Menlo,Consolas,"DejaVu Sans Mono",monospace);font-size:.95em}
.memmaps-view table.mm-t .mm-wx{color:#d62728;font-weight:700}
.memmaps-view table.mm-t tr.mm-more td{text-align:center;font-style:italic;opacity:.75;
background:transparent}
.memmaps-view table.mm-t tfoot td{font-weight:600;
border-top:1px solid var(--jp-border-color1,rgba(128,128,128,.55))}
.memmaps-view table.mm-t th.mm-k{font-weight:400;opacity:.75;padding-right:12px}
.memmaps-view table.mm-t tr.mm-sep th{padding-top:6px;font-weight:600;opacity:1}
.memmaps-view .mm-badge{font-size:.85em;padding:0 4px;border-radius:3px;margin-left:4px;
border:1px solid rgba(128,128,128,.55);opacity:.85}
.memmaps-view .mm-add{color:#2ca02c;font-weight:600}
.memmaps-view .mm-del{color:#d62728;font-weight:600}
.memmaps-view .mm-chg{color:#e69f00;font-weight:600}
</style>"""


def _wrap(body: str) -> str:
    return f'<div class="memmaps-view">{_STYLE}{body}</div>'


def _e(text: str) -> str:
    """Escaped for HTML text and attributes, after control characters and
    undecodable bytes were spelled out."""
    return escape(shown(text), quote=True)


def _count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {plural or noun + 's'}"


def _size_cell(size: int | None, extra: str = "") -> str:
    if size is None:
        return f'<td class="mm-n"{extra}>-</td>'
    return f'<td class="mm-n" title="{size:,} bytes"{extra}>{human(size)}</td>'


def _swatch(color: str) -> str:
    return f'<span class="mm-sw" style="background:{color}"></span>'


def _kind_cell(kind: str) -> str:
    return f"<td>{_swatch(kind_color(kind))}{_e(kind)}</td>"


def _perms_cell(region: Region) -> str:
    if is_wx(region):
        return f'<td class="mm-a mm-wx" title="writable and executable">{_e(region.perms)}</td>'
    return f'<td class="mm-a">{_e(region.perms)}</td>'


def _name_cell(region: Region) -> str:
    """The name shortened to NAME_WIDTH, the whole of it on hover."""
    parts = []
    title = ""
    if region.path is not None:
        whole = shown(region.path)
        title = f' title="{escape(whole, quote=True)}"'
        parts.append(escape(shorten(whole, NAME_WIDTH)))
    if region.deleted:
        parts.append('<span class="mm-badge">deleted</span>')
    for label in (region.detail, region.tag):
        if label is not None and label != region.path:
            parts.append(f'<span class="mm-muted">{_e(label)}</span>')
            break
    return f"<td{title}>{' '.join(parts)}</td>"


# --------------------------------------------------------------------------
# Usage figures: the columns of a table


def _dirty(usage: Usage) -> int | None:
    if usage.shared_dirty is None or usage.private_dirty is None:
        return None
    return usage.shared_dirty + usage.private_dirty


#: (header, what it shows on hover, the figure of one region's Usage)
_USAGE_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("Resident", "resident set size, hugetlb pages included", lambda u: u.resident),
    ("PSS", "proportional set size: shared pages split between their sharers", lambda u: u.pss),
    ("Private", "unique set size: pages only this process holds", lambda u: u.uss),
    ("Dirty", "shared and private dirty pages", _dirty),
    ("Swap", "swapped out", lambda u: u.swap),
)


def _column_totals(usages: Sequence[Usage | None]) -> list[int | None]:
    """The totals of the usage columns, in their order."""
    sums = totals(usages)
    return [sums.resident, sums.pss, sums.uss, sums.dirty, sums.swap]


def _resident_cell(value: int | None, size: int) -> str:
    """The resident figure over a bar of its share of the region."""
    if value is None or size <= 0:
        return _size_cell(value)
    share = min(100.0, 100 * value / size)
    bar = (
        f' style="background:linear-gradient(90deg,rgba(78,121,167,.30) {share:.0f}%,'
        f'transparent {share:.0f}%)"'
    )
    return (
        f'<td class="mm-n" title="{value:,} bytes, {percent(value, size)} of the region"'
        f"{bar}>{human(value)}</td>"
    )


# --------------------------------------------------------------------------
# Maps


def _stats(regions: Sequence[Region]) -> tuple[int, dict[str, list[int]]]:
    """The mapped size, and [count, bytes] by kind, in one pass."""
    mapped = 0
    kinds: dict[str, list[int]] = {}
    for region in regions:
        size = region.end - region.start
        mapped += size
        entry = kinds.get(region.kind)
        if entry is None:
            kinds[region.kind] = [1, size]
        else:
            entry[0] += 1
            entry[1] += size
    return mapped, kinds


def _kind_order(kinds: Iterable[str]) -> list[str]:
    known = [kind for kind in KINDS if kind in kinds]
    return known + sorted(kind for kind in kinds if kind not in KINDS)


def _legend(kinds: dict[str, list[int]]) -> str:
    items = []
    for kind in _kind_order(kinds):
        count, size = kinds[kind]
        items.append(
            f'<span title="{_count(count, "region")}, {size:,} bytes">'
            f"{_swatch(kind_color(kind))}{_e(kind)} "
            f'<span class="mm-muted">{count:,} \u00b7 {human(size)}</span></span>'
        )
    return f'<div class="mm-legend">{"".join(items)}</div>'


def _who(pid: int | None) -> str:
    return "parsed" if pid is None else f"pid {pid}"


def _shown_rows(count: int, max_rows: int | None) -> tuple[range, range]:
    """The indexes of the first and last rows shown."""
    if max_rows is None or count <= max_rows:
        return range(count), range(0)
    head = max(1, max_rows // 2)
    tail = max(1, max_rows - head)
    return range(head), range(count - tail, count)


def _optional_columns(rows: Sequence[Region]) -> list[tuple[str, str]]:
    """(header, field) of the fields other systems fill, when a shown row
    has them: macOS's max protection and share mode."""
    columns = []
    for header, name in (("Max", "max_perms"), ("Share", "share_mode")):
        if any(getattr(region, name) is not None for region in rows):
            columns.append((header, name))
    return columns


def _row(
    region: Region,
    width: int,
    with_usage: bool,
    optional: list[tuple[str, str]],
    lead: str = "",
) -> str:
    size = region.end - region.start
    where = []
    if region.inode or region.offset:
        where.append(f"offset {region.offset:#x}")
    if region.inode:
        where.append(f"device {region.dev_major:02x}:{region.dev_minor:02x}, inode {region.inode}")
    title = f' title="{", ".join(where)}"' if where else ""
    cells = [
        lead,
        f'<td class="mm-a">{region.start:0{width}x}</td>',
        f'<td class="mm-a">{region.end:0{width}x}</td>',
        _size_cell(size),
        _perms_cell(region),
        _kind_cell(region.kind),
    ]
    for _header, name in optional:
        value = getattr(region, name)
        cells.append(f'<td class="mm-a">{"" if value is None else _e(value)}</td>')
    if with_usage:
        usage = region.usage
        if usage is None:
            cells.extend('<td class="mm-n">-</td>' for _ in _USAGE_COLUMNS)
        else:
            cells.append(_resident_cell(usage.resident, size))
            cells.extend(_size_cell(figure(usage)) for _h, _t, figure in _USAGE_COLUMNS[1:])
    cells.append(_name_cell(region))
    return f"<tr{title}>{''.join(cells)}</tr>"


def _header_cells(with_usage: bool, optional: list[tuple[str, str]], lead: str = "") -> str:
    cells = [
        lead,
        "<th>Start</th><th>End</th>",
        '<th class="mm-n">Size</th><th>Perms</th><th>Kind</th>',
    ]
    cells.extend(f"<th>{header}</th>" for header, _name in optional)
    if with_usage:
        cells.extend(
            f'<th class="mm-n" title="{escape(hint)}">{header}</th>'
            for header, hint, _figure in _USAGE_COLUMNS
        )
    cells.append("<th>Path</th>")
    return f"<thead><tr>{''.join(cells)}</tr></thead>"


def maps_table(
    maps: Maps, max_rows: int | None = MAX_ROWS, *, legend: bool = True, name: str = "Maps"
) -> str:
    """The heading (starting with name), the kinds' legend and the table
    of a Maps, without the wrapper (for embedding)."""
    regions: Sequence[Region] = maps._regions
    count = len(regions)
    mapped, kinds = _stats(regions)
    usages = [region.usage for region in regions]
    with_usage = count > 0 and None not in usages
    column_totals = _column_totals(usages) if with_usage else []

    heading = [
        f"<b>{name}</b> {_who(maps.pid)}",
        _count(count, "region"),
        f"{human(mapped)} mapped",
    ]
    if with_usage and column_totals[0] is not None:
        heading.append(f"{human(column_totals[0])} resident")
    parts = [f'<div class="mm-head">{_DOT.join(heading)}</div>']
    if maps.partial is not None:
        parts.append(f'<div class="mm-warn">partial: {_e(maps.partial)}</div>')
    if count == 0:
        return "".join(parts)
    if legend:
        parts.append(_legend(kinds))

    first, last = _shown_rows(count, max_rows)
    shown_regions = [regions[i] for i in first] + [regions[i] for i in last]
    width = max(8, *(len(f"{region.end:x}") for region in shown_regions))
    optional = _optional_columns(shown_regions)
    columns = 6 + len(optional) + (len(_USAGE_COLUMNS) if with_usage else 0)

    body = [_row(regions[i], width, with_usage, optional) for i in first]
    if last:
        left_out = count - len(first) - len(last)
        body.append(
            f'<tr class="mm-more"><td colspan="{columns}">\u2026 '
            f"{_count(left_out, 'more region')} \u2026</td></tr>"
        )
        body.extend(_row(regions[i], width, with_usage, optional) for i in last)

    foot = [
        '<td colspan="2">total</td>',
        _size_cell(mapped),
        f'<td colspan="{2 + len(optional)}" class="mm-muted">{_count(count, "region")}</td>',
    ]
    if with_usage:
        foot.extend(_size_cell(value) for value in column_totals)
    foot.append("<td></td>")
    parts.append(
        f'<table class="mm-t">{_header_cells(with_usage, optional)}'
        f"<tbody>{''.join(body)}</tbody><tfoot><tr>{''.join(foot)}</tr></tfoot></table>"
    )
    return "".join(parts)


def maps_html(maps: Maps, max_rows: int | None = MAX_ROWS) -> str:
    """The whole display of a Maps: heading, legend, table and totals; with
    more than max_rows regions, the first and last max_rows // 2 and a row
    that counts the rest (None: every row)."""
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int)):
        raise TypeError(f"max_rows must be an int or None, not {type(max_rows).__name__}")
    if max_rows is not None and max_rows < 2:
        raise ValueError(f"max_rows must be at least 2, got {max_rows}")
    return _wrap(maps_table(maps, max_rows))


# --------------------------------------------------------------------------
# One region, one Usage


def _kv(key: str, value_html: str, title: str = "") -> str:
    hover = f' title="{title}"' if title else ""
    return f'<tr><th class="mm-k">{key}</th><td{hover}>{value_html}</td></tr>'


def _perms_words(perms: str) -> str:
    words = [
        word
        for letter, word in zip(perms[:3], ("read", "write", "execute"), strict=False)
        if letter != "-"
    ]
    if len(perms) > 3:
        words.append({"p": "private", "s": "shared"}.get(perms[3], perms[3]))
    return ", ".join(words) if words else "no access"


def _region_rows(region: Region) -> list[str]:
    size = region.end - region.start
    perms = f'<span class="mm-a{" mm-wx" if is_wx(region) else ""}">{_e(region.perms)}</span>'
    rows = [
        _kv("path", "" if region.path is None else _e(region.path)),
        _kv("start", f'<span class="mm-a">{region.start:#x}</span>'),
        _kv("end", f'<span class="mm-a">{region.end:#x}</span>'),
        _kv("size", f"{human(size)} <span class='mm-muted'>({size:,} bytes)</span>"),
        _kv("perms", f"{perms} <span class='mm-muted'>{_e(_perms_words(region.perms))}</span>"),
        _kv("kind", f"{_swatch(kind_color(region.kind))}{_e(region.kind)}"),
    ]
    if region.deleted:
        rows.append(_kv("deleted", "yes: the file was unlinked"))
    if region.inode or region.offset:
        rows.append(_kv("offset", f'<span class="mm-a">{region.offset:#x}</span>'))
    if region.inode:
        rows.append(
            _kv(
                "file",
                f"device {region.dev_major:02x}:{region.dev_minor:02x}, inode {region.inode}",
            )
        )
    for name in ("max_perms", "share_mode", "tag", "detail"):
        value = getattr(region, name)
        if value is not None:
            rows.append(_kv(name.replace("_", " "), _e(value)))
    if region.allocation_base is not None:
        rows.append(_kv("allocation base", f"{region.allocation_base:#x}"))
    return rows


def _usage_pairs(usage: Usage, size: int | None = None) -> list[tuple[str, str, str]]:
    """(name, value as HTML, hover) for every figure the OS gave."""
    pairs = []
    for name in Usage._fields:
        value = getattr(usage, name)
        if value is None or name == "extra":
            continue
        label = name.replace("_", " ")
        if name == "vmflags":
            pairs.append((label, f'<span class="mm-a">{_e(" ".join(value))}</span>', ""))
        elif name == "thp_eligible":
            pairs.append((label, "yes" if value else "no", ""))
        elif name == "protection_key":
            pairs.append((label, str(value), ""))
        else:
            share = ""
            if size and name in ("rss", "pss", "private_dirty", "swap"):
                share = f" <span class='mm-muted'>{percent(value, size)}</span>"
            pairs.append((label, f"{human(value)}{share}", f"{value:,} bytes"))
    for key, value in usage.extra:
        text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        pairs.append((_e(str(key)), _e(str(text)), ""))
    return pairs


def _grid(pairs: Sequence[tuple[str, str, str]], columns: int = 3) -> str:
    """Name and value pairs, columns of them a row, read down each column."""
    per_column = -(-len(pairs) // columns) if pairs else 0
    rows = []
    for row in range(per_column):
        cells = []
        for column in range(columns):
            index = column * per_column + row
            if index < len(pairs):
                key, value, hover = pairs[index]
                title = f' title="{hover}"' if hover else ""
                cells.append(f'<th class="mm-k">{key}</th><td class="mm-n"{title}>{value}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="mm-t"><tbody>{"".join(rows)}</tbody></table>'


def region_html(region: Region) -> str:
    size = region.end - region.start
    heading = (
        f'<div class="mm-head"><b>Region</b> <span class="mm-a">'
        f"{hex_range(region.start, region.end)}</span> \u00b7 {human(size)} \u00b7 "
        f"{_e(region.perms)} \u00b7 {_swatch(kind_color(region.kind))}{_e(region.kind)}</div>"
    )
    parts = [heading, f'<table class="mm-t"><tbody>{"".join(_region_rows(region))}</tbody></table>']
    if region.usage is not None:
        parts.append('<div class="mm-head" style="margin-top:6px"><b>usage</b></div>')
        parts.append(_grid(_usage_pairs(region.usage, size)))
    return _wrap("".join(parts))


def usage_html(usage: Usage) -> str:
    figures = []
    if usage.resident is not None:
        figures.append(f"{human(usage.resident)} resident")
    if usage.pss is not None:
        figures.append(f"{human(usage.pss)} PSS")
    if usage.swap is not None:
        figures.append(f"{human(usage.swap)} swapped")
    heading = f'<div class="mm-head"><b>Usage</b> {_DOT.join(figures)}</div>'
    return _wrap(heading + _grid(_usage_pairs(usage, usage.size)))


# --------------------------------------------------------------------------
# Image


def image_html(image: Image) -> str:
    size = image.end - image.base
    name = image.path.rsplit("/", 1)[-1] if image.path.startswith("/") else image.path
    heading = (
        f'<div class="mm-head"><b>Image</b> {_e(name)} \u00b7 '
        f'<span class="mm-a">{hex_range(image.base, image.end)}</span> \u00b7 {human(size)}</div>'
    )
    rows = [
        _kv("path", _e(image.path)),
        _kv("base", f'<span class="mm-a">{image.base:#x}</span>'),
        _kv("end", f'<span class="mm-a">{image.end:#x}</span>'),
        _kv(
            "bias",
            f'<span class="mm-a">{image.bias:#x}</span> '
            "<span class='mm-muted'>runtime address = address in the file + bias</span>",
        ),
        _kv(
            "build id",
            "-" if image.build_id is None else f'<span class="mm-a">{_e(image.build_id)}</span>',
        ),
    ]
    if image.deleted:
        rows.append(_kv("deleted", "yes: the file was unlinked or replaced"))
    table = f'<table class="mm-t"><tbody>{"".join(rows)}</tbody></table>'
    segments = maps_table(image.regions, MAX_ROWS, legend=False, name="Regions")
    return _wrap(f"{heading}{table}<div style='margin-top:6px'>{segments}</div>")


# --------------------------------------------------------------------------
# Summary (memmaps/summary.py) and MapsDiff (memmaps/mapsdiff.py)


def summary_html(summary: Any) -> str:
    """A Summary: one row per category (regions, size with its share of the
    total, resident, dirty, swapped, largest region), the total, the free
    address space when the Summary has it (its ranges, their size, the
    largest), and the largest free gap."""
    total = summary.total
    with_usage = total.resident is not None
    header = [
        "<th>Category</th>",
        '<th class="mm-n">Regions</th>',
        '<th class="mm-n">Size</th>',
        '<th class="mm-n">Share</th>',
    ]
    if with_usage:
        header += [
            '<th class="mm-n">Resident</th>',
            '<th class="mm-n">Dirty</th>',
            '<th class="mm-n">Swapped</th>',
        ]
    header.append('<th class="mm-n">Largest</th>')
    body = []
    for row in summary:
        color = CATEGORY_COLORS.get(row.category, OTHER_COLOR)
        cells = [
            f"<td>{_swatch(color)}{_e(row.category)}</td>",
            f'<td class="mm-n">{row.regions:,}</td>',
            _size_cell(row.size),
            _share_cell(row.size, total.size, color),
        ]
        if with_usage:
            cells += [_size_cell(row.resident), _size_cell(row.dirty), _size_cell(row.swapped)]
        cells.append(_size_cell(row.largest))
        style = "" if row.regions else ' style="opacity:.45"'
        body.append(f"<tr{style}>{''.join(cells)}</tr>")
    foot = [
        "<td>total</td>",
        f'<td class="mm-n">{total.regions:,}</td>',
        _size_cell(total.size),
        "<td></td>",
    ]
    if with_usage:
        foot += [_size_cell(total.resident), _size_cell(total.dirty), _size_cell(total.swapped)]
    foot.append(_size_cell(total.largest))
    feet = [f"<tr>{''.join(foot)}</tr>"]
    free = getattr(summary, "free", None)
    if free is not None and free.regions:
        cells = [
            '<td class="mm-muted" title="free address space between the lowest and the highest '
            'region, without the non-canonical hole">free</td>',
            f'<td class="mm-n mm-muted" title="free ranges">{free.regions:,}</td>',
            _size_cell(free.size),
            "<td></td>",
        ]
        if with_usage:
            cells.append("<td></td><td></td><td></td>")
        cells.append(_size_cell(free.largest))
        feet.append(f'<tr style="font-weight:400">{"".join(cells)}</tr>')
    heading = [f"<b>Summary</b> {_who(summary.pid)}", _count(total.regions, "region")]
    heading.append(f"{human(total.size)} mapped")
    gap = summary.largest_gap
    if gap is not None:
        heading.append(
            f'largest free gap <span title="{hex_range(gap.start, gap.end)}, '
            f'{gap.size:,} bytes">{human(gap.size)}</span> at '
            f'<span class="mm-a">{gap.start:#x}</span>'
        )
    return _wrap(
        f'<div class="mm-head">{_DOT.join(heading)}</div>'
        f'<table class="mm-t"><thead><tr>{"".join(header)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody><tfoot>{''.join(feet)}</tfoot></table>"
    )


def _share_cell(part: int, whole: int, color: str) -> str:
    if whole <= 0 or part <= 0:
        return '<td class="mm-n"></td>'
    share = 100 * part / whole
    return (
        f'<td class="mm-n" title="{share:.1f}% of the mapped size">'
        f'<span style="display:inline-block;width:60px;height:.7em;'
        f'background:rgba(128,128,128,.15);vertical-align:-.05em;text-align:left">'
        f'<span style="display:block;height:100%;width:{max(1.0, share * 0.6):.0f}px;'
        f'background:{color}"></span></span> {percent(part, whole)}</td>'
    )


def _signed(change: int) -> str:
    if change == 0:
        return "0"
    sign = "+" if change > 0 else "\u2212"
    return sign + human(abs(change))


def _delta(before: int | None, after: int | None) -> str:
    if before is None or after is None:
        return "<td class='mm-n'>-</td>"
    change = after - before
    if change == 0:
        return "<td class='mm-n mm-muted'>0</td>"
    sign = "+" if change > 0 else "\u2212"
    return f"<td class='mm-n' title='{change:+,} bytes'>{sign}{human(abs(change))}</td>"


def diff_html(diff: Any, max_rows: int | None = MAX_ROWS) -> str:
    """A MapsDiff: what was added, removed and changed, in address order,
    each row saying what happened; sizes and resident memory as deltas."""
    added, removed, changed = diff.added, diff.removed, list(diff.changed)
    entries: list[tuple[int, str, Region | None, Region | None]] = []
    entries.extend((region.start, "added", None, region) for region in added)
    entries.extend((region.start, "removed", region, None) for region in removed)
    entries.extend((after.start, "changed", before, after) for before, after in changed)
    entries.sort(key=lambda entry: entry[0])

    heading = [
        f"<b>MapsDiff</b> {_who(diff.after.pid)}",
        f'<span class="mm-add">{len(added):,} added</span>',
        f'<span class="mm-del">{len(removed):,} removed</span>',
        f'<span class="mm-chg">{len(changed):,} changed</span>',
    ]
    before_size = sum(region.end - region.start for region in diff.before)
    after_size = sum(region.end - region.start for region in diff.after)
    change = after_size - before_size
    heading.append(
        f"{human(before_size)} \u2192 {human(after_size)} mapped "
        f'<span title="{change:+,} bytes">({_signed(change)})</span>'
    )
    parts = [f'<div class="mm-head">{_DOT.join(heading)}</div>']
    if not entries:
        parts.append('<div class="mm-muted">no change</div>')
        return _wrap("".join(parts))
    with_usage = any(
        region is not None and region.usage is not None
        for _start, _what, before, after in entries
        for region in (before, after)
    )
    width = max(
        8,
        *(
            len(f"{region.end:x}")
            for _start, _what, before, after in entries
            for region in (before, after)
            if region is not None
        ),
    )
    first, last = _shown_rows(len(entries), max_rows)
    header = [
        "<th>Change</th><th>Start</th><th>End</th>",
        '<th class="mm-n">Size</th><th class="mm-n">\u0394 size</th><th>Perms</th><th>Kind</th>',
    ]
    if with_usage:
        header.append('<th class="mm-n">\u0394 resident</th>')
    header.append("<th>Path</th>")
    columns = 8 + (1 if with_usage else 0)
    body = [_diff_row(diff, entries[i], width, with_usage) for i in first]
    if last:
        left_out = len(entries) - len(first) - len(last)
        body.append(
            f'<tr class="mm-more"><td colspan="{columns}">\u2026 '
            f"{_count(left_out, 'more change')} \u2026</td></tr>"
        )
        body.extend(_diff_row(diff, entries[i], width, with_usage) for i in last)
    parts.append(
        f'<table class="mm-t"><thead><tr>{"".join(header)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    return _wrap("".join(parts))


def _diff_row(
    diff: Any,
    entry: tuple[int, str, Region | None, Region | None],
    width: int,
    with_usage: bool,
) -> str:
    _start, what, before, after = entry
    region = after if after is not None else before
    assert region is not None
    if what == "added":
        words, css, sign = "added", "mm-add", "+"
    elif what == "removed":
        words, css, sign = "removed", "mm-del", "\u2212"
    else:
        assert before is not None and after is not None
        words = ", ".join(diff.change(before, after)) or "changed"
        css, sign = "mm-chg", "~"
    cells = [f'<td class="{css}">{sign} {_e(words)}</td>']

    def pair(old: str | None, new: str, code: bool = True) -> str:
        css_class = ' class="mm-a"' if code else ""
        if old is None or old == new:
            return f"<td{css_class}>{new}</td>"
        return f'<td{css_class}><span class="mm-muted">{old} \u2192</span> {new}</td>'

    old = before if what == "changed" else None
    cells.append(
        pair(None if old is None else f"{old.start:0{width}x}", f"{region.start:0{width}x}")
    )
    cells.append(pair(None if old is None else f"{old.end:0{width}x}", f"{region.end:0{width}x}"))
    size = region.end - region.start
    cells.append(_size_cell(size))
    if what == "added":
        cells.append(_delta(0, size))
    elif what == "removed":
        cells.append(_delta(size, 0))
    else:
        assert before is not None
        cells.append(_delta(before.end - before.start, size))
    perms = _e(region.perms)
    if is_wx(region):
        perms = f'<span class="mm-wx">{perms}</span>'
    cells.append(pair(None if old is None else _e(old.perms), perms))
    cells.append(_kind_cell(region.kind))
    if with_usage:
        old_resident = None if before is None or before.usage is None else before.usage.resident
        new_resident = None if after is None or after.usage is None else after.usage.resident
        if what == "added":
            old_resident = 0
        elif what == "removed":
            new_resident = 0
        cells.append(_delta(old_resident, new_resident))
    cells.append(
        _name_cell(region) if old is None or old.path == region.path else _moved_name(old, region)
    )
    return f"<tr>{''.join(cells)}</tr>"


def _moved_name(before: Region, after: Region) -> str:
    old = display_name(before)
    new = display_name(after)
    return (
        f'<td><span class="mm-muted" title="{_e(old)}">{_e(shorten(old, NAME_WIDTH // 2))} '
        f'\u2192</span> <span title="{_e(new)}">{_e(shorten(new, NAME_WIDTH // 2))}</span></td>'
    )


__all__ = [
    "MAX_ROWS",
    "diff_html",
    "image_html",
    "maps_html",
    "maps_table",
    "region_html",
    "summary_html",
    "usage_html",
]
