"""The HTML Jupyter shows (memmaps/render/html.py), read back with the
standard library's HTML parser: every region a row with the figures of
the kernel's text, names as text whatever they hold, big maps cut to their
ends with a count, and the size bounded."""

from __future__ import annotations

import os
import re

import pytest

import memmaps
from memmaps import Maps, Region
from memmaps.render import html as render_html
from memmaps.render._common import KIND_COLORS, shown
from tests.helpers import display
from tests.helpers.display import HtmlDocument


def data_rows(document: HtmlDocument) -> list:
    return [row for row in document.rows() if not row.has_class("mm-more")]


def cells(row) -> list[str]:
    return [cell.text() for cell in row.children if not isinstance(cell, str)]


def test_every_region_is_a_row_with_its_figures():
    maps = display.example_maps()
    document = HtmlDocument(maps._repr_html_())
    rows = data_rows(document)
    assert len(rows) == len(maps)
    width = max(8, *(len(f"{r.end:x}") for r in maps))
    for row, region in zip(rows, maps, strict=True):
        start, end, size, perms, kind, path = cells(row)
        assert int(start, 16) == region.start and len(start) == width
        assert int(end, 16) == region.end
        assert size == memmaps.maps._human_size(region.size)
        assert perms == region.perms
        assert kind == region.kind
        assert path == (region.path or "") + (" deleted" if region.deleted else "")
    size_cells = [row.children[2] for row in rows]
    assert [cell.attrs["title"] for cell in size_cells] == [f"{r.size:,} bytes" for r in maps]


def test_the_heading_legend_and_total_say_what_the_map_holds():
    maps = display.example_maps()
    document = HtmlDocument(maps._repr_html_())
    heading = next(e for e in document.iter("div") if e.has_class("mm-head")).text()
    assert heading.startswith("Maps parsed")
    assert f"{len(maps)} regions" in heading
    mapped = sum(r.size for r in maps)
    assert f"{memmaps.maps._human_size(mapped)} mapped" in heading
    legend = next(e for e in document.iter("div") if e.has_class("mm-legend"))
    kinds = {r.kind for r in maps}
    entries = [span for span in legend.children if not isinstance(span, str)]
    assert len(entries) == len(kinds)
    for entry in entries:
        swatch = entry.children[0]
        kind = entry.text().split()[0]
        assert kind in kinds
        assert swatch.attrs["style"] == f"background:{KIND_COLORS[kind]}"
        count = sum(1 for r in maps if r.kind == kind)
        assert entry.text().split()[1] == str(count)
    foot = next(document.iter("tfoot"))
    assert f"{len(maps)} regions" in foot.text()
    assert next(foot.iter("td")).text() == "total"


def test_usage_columns_come_with_usage_and_add_up():
    maps = display.fixture("smaps-x86_64-6.18-captured.txt")
    assert all(r.usage is not None for r in maps)
    document = HtmlDocument(maps._repr_html_())
    header = [cell.text() for cell in next(document.iter("thead")).iter("th")]
    assert header == [
        "Start",
        "End",
        "Size",
        "Perms",
        "Kind",
        "Resident",
        "PSS",
        "Private",
        "Dirty",
        "Swap",
        "Path",
    ]
    rows = data_rows(document)
    for row, region in zip(rows, maps, strict=True):
        values = row.children[5:10]
        resident = values[0]
        assert resident.attrs["title"].startswith(f"{region.usage.resident:,} bytes")
        assert values[1].attrs["title"] == f"{region.usage.pss:,} bytes"
        assert values[2].attrs["title"] == f"{region.usage.uss:,} bytes"
        dirty = region.usage.shared_dirty + region.usage.private_dirty
        assert values[3].attrs["title"] == f"{dirty:,} bytes"
        assert values[4].attrs["title"] == f"{region.usage.swap:,} bytes"
    foot = [c for c in next(document.iter("tfoot")).iter("td")]
    totals = [c.attrs.get("title") for c in foot[3:8]]
    assert totals == [
        f"{sum(r.usage.resident for r in maps):,} bytes",
        f"{sum(r.usage.pss for r in maps):,} bytes",
        f"{sum(r.usage.uss for r in maps):,} bytes",
        f"{sum(r.usage.shared_dirty + r.usage.private_dirty for r in maps):,} bytes",
        f"{sum(r.usage.swap for r in maps):,} bytes",
    ]
    # Without usage there are no usage columns.
    plain = HtmlDocument(display.example_maps()._repr_html_())
    assert "Resident" not in next(plain.iter("thead")).text()


def test_names_are_text_whatever_they_hold():
    maps = display.hostile_maps()
    markup = maps._repr_html_()
    document = HtmlDocument(markup)
    # No element came from a name: only the renderer's own tags.
    tags = {element.tag for element in document.iter()}
    assert tags <= {"#root", "div", "style", "b", "span", "table", "thead", "tbody", "tfoot"} | {
        "tr",
        "th",
        "td",
    }
    assert "<script>" not in markup and "<img" not in markup
    rows = data_rows(document)
    for row, region in zip(rows, maps, strict=True):
        path_cell = row.children[-1]
        if region.path is None:
            continue
        assert path_cell.attrs["title"] == shown(region.path)
        assert path_cell.text().strip() == shown(region.path)
    # The undecodable bytes and the newline are spelled out, so the markup
    # encodes as UTF-8 (what Jupyter sends) and stays on one line per name.
    markup.encode("utf-8")
    assert "bad\\xff\\xfebytes" in markup and "new\\nline" in markup


def test_write_and_execute_is_marked():
    maps = display.hostile_maps()
    document = HtmlDocument(maps._repr_html_())
    rows = data_rows(document)
    marked = [
        region for row, region in zip(rows, maps, strict=True) if row.children[3].has_class("mm-wx")
    ]
    assert marked == [r for r in maps if r.perms[1:3] == "wx"]
    assert marked


def test_long_paths_are_shortened_with_the_whole_one_on_hover():
    long_path = "/opt/" + "/".join(f"directory{i}" for i in range(12)) + "/libvery-long-name.so.1"
    maps = Maps([Region(0x1000, 0x2000, "r--p", 0, 8, 1, 5, long_path, False, "file")])
    cell = data_rows(HtmlDocument(maps._repr_html_()))[0].children[-1]
    assert cell.attrs["title"] == long_path
    text = cell.text()
    assert len(text) <= render_html.NAME_WIDTH
    assert text.startswith("\u2026/") and text.endswith("/libvery-long-name.so.1")


def test_a_huge_map_shows_its_ends_and_a_count_and_stays_small():
    maps = display.many_regions(60_000)
    markup = maps._repr_html_()
    assert len(markup.encode()) < 1_000_000
    document = HtmlDocument(markup)
    rows = document.rows()
    assert len(rows) == 61
    more = rows[30]
    assert more.has_class("mm-more")
    assert more.text() == "\u2026 59,940 more regions \u2026"
    starts = [int(cells(row)[0], 16) for row in rows if row is not more]
    assert starts == [r.start for r in maps[:30]] + [r.start for r in maps[-30:]]
    # The heading and the total count the whole map, not the rows shown.
    assert "60,000 regions" in next(document.iter("div")).text()
    assert "60,000 regions" in next(document.iter("tfoot")).text()


def test_max_rows():
    maps = display.many_regions(500)
    assert len(HtmlDocument(maps.to_html(max_rows=None)).rows()) == 500
    assert len(HtmlDocument(maps.to_html(max_rows=10)).rows()) == 11
    assert len(HtmlDocument(maps[:10].to_html(max_rows=10)).rows()) == 10
    with pytest.raises(ValueError, match="max_rows"):
        maps.to_html(max_rows=1)
    with pytest.raises(TypeError, match="max_rows"):
        maps.to_html(max_rows="10")


def test_an_empty_and_a_partial_map():
    document = HtmlDocument(Maps()._repr_html_())
    assert "0 regions" in document.root.text()
    assert not list(document.iter("table"))
    maps = Maps._trusted(display.example_maps()._regions, 7, "no task port")
    warning = next(
        e for e in HtmlDocument(maps._repr_html_()).iter("div") if e.has_class("mm-warn")
    )
    assert warning.text() == "partial: no task port"


def test_the_other_systems_fields_get_columns_when_set():
    region = Region(
        0x1000,
        0x5000,
        "rw-p",
        max_perms="rwx",
        share_mode="COW",
        tag="MALLOC_TINY",
        kind="heap",
    )
    document = HtmlDocument(Maps([region])._repr_html_())
    header = [cell.text() for cell in next(document.iter("thead")).iter("th")]
    assert header[5:7] == ["Max", "Share"]
    row = cells(data_rows(document)[0])
    assert row[5:7] == ["rwx", "COW"]
    assert "MALLOC_TINY" in row[-1]


def test_the_style_is_scoped_and_there_is_no_script():
    markup = display.example_maps()._repr_html_()
    assert markup.startswith('<div class="memmaps-view"><style>')
    style = re.search(r"<style>(.*?)</style>", markup, re.S)[1]
    for rule in re.findall(r"([^{}]+)\{", style):
        for selector in rule.split(","):
            assert selector.strip().startswith(".memmaps-view"), selector
    assert "<script" not in markup.lower()
    # Theme variables are read with fallbacks, so the output reads outside
    # JupyterLab too.
    for variable in re.findall(r"var\((--[\w-]+)([,)])", style):
        assert variable[1] == ",", variable


def test_region_card():
    maps = display.fixture("smaps-x86_64-6.18-captured.txt")
    region = maps.filter(kind="heap")[0]
    document = HtmlDocument(region._repr_html_())
    card, figures = document.iter("table")
    keys = [th.text() for th in card.iter("th")]
    assert keys == ["path", "start", "end", "size", "perms", "kind"]
    values = dict(zip(keys, [td.text() for td in card.iter("td")], strict=True))
    assert values["path"] == "[heap]"
    assert values["start"] == f"{region.start:#x}"
    assert values["size"].endswith(f"({region.size:,} bytes)")
    assert values["perms"] == "rw-p read, write, private"
    names = [th.text() for th in figures.iter("th")]
    figure = dict(zip(names, [td.text() for td in figures.iter("td")], strict=True))
    assert figure["vmflags"] == " ".join(region.usage.vmflags)
    assert figure["rss"] == "8.0K 6%"  # 8 of 132 kB resident
    assert figure["swap"] == "0B 0%"
    assert "pss anon" not in figure  # only the rollup has it


def test_usage_card_leaves_out_what_the_kernel_did_not_say():
    usage = memmaps.Usage(rss=4096, pss=2048, swap=0, vmflags=("rd",), extra=(("Future", 7),))
    document = HtmlDocument(usage._repr_html_())
    keys = [th.text() for th in document.iter("th")]
    # Read down each column of the grid: rss, pss | swap, vmflags | Future.
    assert keys == ["rss", "swap", "Future", "pss", "vmflags"]
    assert "Usage 4.0K resident" in document.root.text()


def test_image_card_lists_its_segments():
    images = memmaps.images()
    image = next(i for i in images if "libc" in os.path.basename(i.path))
    document = HtmlDocument(image._repr_html_())
    text = document.root.text()
    assert os.path.basename(image.path) in text
    assert f"{image.bias:#x}" in text
    assert image.build_id is None or image.build_id in text
    tables = list(document.iter("table"))
    segments = [row for row in tables[1].iter("tr") if row.children and list(row.iter("td"))]
    body = [row for row in next(tables[1].iter("tbody")).children if not isinstance(row, str)]
    assert len(body) == len(image.regions)
    assert segments


def test_summary():
    maps = display.fixture("smaps-x86_64-6.18-captured.txt")
    summary = maps.summary()
    assert summary._repr_html_() == render_html.summary_html(summary)
    document = HtmlDocument(summary._repr_html_())
    rows = document.rows()
    assert [cells(row)[0] for row in rows] == list(memmaps.CATEGORIES)
    for row, summary_row in zip(rows, summary, strict=True):
        values = cells(row)
        assert values[1] == f"{summary_row.regions:,}"
        assert values[2] == memmaps.maps._human_size(summary_row.size)
        assert row.children[2].attrs["title"] == f"{summary_row.size:,} bytes"
        assert values[4] == memmaps.maps._human_size(summary_row.resident)
        assert values[5] == memmaps.maps._human_size(summary_row.dirty)
        assert values[6] == memmaps.maps._human_size(summary_row.swapped)
        assert values[7] == memmaps.maps._human_size(summary_row.largest)
        share = row.children[3]
        if summary_row.size:
            assert (
                share.attrs["title"]
                == f"{100 * summary_row.size / summary.total.size:.1f}% of the mapped size"
            )
    foot, free = (cells(row) for row in next(document.iter("tfoot")).iter("tr"))
    assert foot[0] == "total" and foot[1] == str(len(maps))
    assert foot[2] == memmaps.maps._human_size(summary.total.size)
    assert free[0] == "free" and free[1] == str(summary.free.regions)
    assert free[2] == memmaps.maps._human_size(summary.free.size)
    assert free[-1] == memmaps.maps._human_size(summary.free.largest)
    heading = next(document.iter("div")).text()
    gap = summary.largest_gap
    assert f"largest free gap {memmaps.maps._human_size(gap.size)} at {gap.start:#x}" in heading
    header = [c.text() for c in next(document.iter("thead")).iter("th")]
    assert header == [
        "Category",
        "Regions",
        "Size",
        "Share",
        "Resident",
        "Dirty",
        "Swapped",
        "Largest",
    ]
    plain = HtmlDocument(display.example_maps().summary()._repr_html_())
    assert "Resident" not in next(plain.iter("thead")).text()


def test_diff():
    before = display.example_maps()
    grown = before[5]._replace(end=before[5].end + 0x10000)
    new = Region(0x7FFFF7FB0000, 0x7FFFF7FB4000, "rwxp", kind="anon")
    after_regions = [r for r in before if r.kind != "memfd"]
    after_regions[5] = grown
    after_regions[7] = after_regions[7]._replace(perms="r--p")  # libc's code
    after = Maps(sorted([*after_regions, new], key=lambda r: r.start))
    diff = memmaps.diff(before, after)
    assert diff._repr_html_() == render_html.diff_html(diff)
    document = HtmlDocument(diff._repr_html_())
    heading = next(document.iter("div")).text()
    assert "1 added" in heading and "1 removed" in heading and "2 changed" in heading
    assert "2.7M \u2192 2.8M mapped (+76K)" in heading  # +64K, -4K, +16K
    rows = document.rows()
    # In address order: the heap grew, libc's code lost x, the memfd went,
    # a page came.
    assert [cells(row)[0] for row in rows] == ["~ grown", "~ perms", "\u2212 removed", "+ added"]
    grown_row = cells(rows[0])
    assert grown_row[4] == "+64K"
    assert grown_row[2] == "555555580000 \u2192 555555590000"  # the end moved
    perms_row = cells(rows[1])
    assert perms_row[4] == "0" and perms_row[5] == "r-xp \u2192 r--p"
    assert cells(rows[2])[4] == "\u22124.0K" and cells(rows[2])[-1] == "/memfd:ring deleted"
    added_row = rows[3]
    assert added_row.children[5].text() == "rwxp"
    assert next(added_row.children[5].iter("span")).has_class("mm-wx")
    empty = HtmlDocument(memmaps.diff(before, before)._repr_html_())
    assert "no change" in empty.root.text()


def test_diff_of_usage_shows_resident_deltas():
    before = display.fixture("smaps-x86_64-6.18-captured.txt")
    heap = before.filter(kind="heap")[0]
    usage = heap.usage._replace(rss=heap.usage.rss + 0x10000)
    after = Maps([r._replace(usage=usage) if r == heap else r for r in before])
    document = HtmlDocument(memmaps.diff(before, after)._repr_html_())
    header = [th.text() for th in next(document.iter("thead")).iter("th")]
    assert "\u0394 resident" in header
    (row,) = document.rows()
    values = cells(row)
    assert values[0] == "~ usage"
    assert values[header.index("\u0394 resident")] == "+64K"


def test_output_is_the_same_for_the_same_maps():
    first = display.example_maps()
    again = display.example_maps()
    assert first._repr_html_() == again._repr_html_()
