"""What IPython prints at its prompt (memmaps/render/pretty.py), through
IPython's own printer."""

from __future__ import annotations

import pytest

import memmaps
from memmaps import Maps, Region, Usage
from memmaps.maps import _human_size
from memmaps.render import pretty as render_pretty
from tests.helpers import display

pretty = pytest.importorskip("IPython.lib.pretty", reason="IPython is not installed").pretty


def test_a_small_map_is_its_repr_and_a_row_per_region():
    maps = display.example_maps()
    lines = pretty(maps).split("\n")
    assert lines[0] == repr(maps)
    assert lines[1].split() == ["START", "END", "SIZE", "PERMS", "KIND", "PATH"]
    rows = lines[2:]
    assert len(rows) == len(maps)
    for line, region in zip(rows, maps, strict=True):
        words = line.split()
        assert int(words[0], 16) == region.start
        assert int(words[1], 16) == region.end
        assert words[2:5] == [_human_size(region.size), region.perms, region.kind]
        name = (region.path or "") + (" (deleted)" if region.deleted else "")
        assert line.endswith(name)


def test_a_big_map_shows_its_ends_and_a_count():
    maps = display.many_regions(60_000)
    lines = pretty(maps).split("\n")
    head, tail = render_pretty.HEAD_ROWS, render_pretty.HEAD_ROWS
    assert len(lines) == 2 + head + 1 + tail
    assert lines[2 + head] == "\u2026 59,980 more regions \u2026"
    starts = [int(line.split()[0], 16) for line in lines[2 : 2 + head] + lines[3 + head :]]
    assert starts == [r.start for r in maps[:head]] + [r.start for r in maps[-tail:]]


def test_usage_columns_and_total():
    maps = display.fixture("smaps-x86_64-6.18-captured.txt")
    lines = pretty(maps).split("\n")
    assert lines[1].split()[:9] == [
        "START",
        "END",
        "SIZE",
        "PERMS",
        "KIND",
        "RSS",
        "PSS",
        "DIRTY",
        "SWAP",
    ]
    total = maps.total()
    assert lines[-1] == (
        f"total: RSS {_human_size(total.rss)}, PSS {_human_size(total.pss)}, "
        f"dirty {_human_size(total.shared_dirty + total.private_dirty)}, "
        f"swap {_human_size(total.swap)}"
    )


def test_names_cannot_break_the_table():
    maps = display.hostile_maps()
    lines = pretty(maps).split("\n")
    assert len(lines) == 2 + len(maps)
    assert "new\\nline" in lines[2 + 2]
    assert "bad\\xff\\xfebytes" in lines[2 + 3]


def test_a_region_pretty_printed_reads_back():
    maps = display.example_maps()
    for region in maps:
        text = pretty(region)
        assert eval(text, {"Region": Region}) == region
    # Narrow: one field a line at most, every line within the width.
    narrow = pretty(maps[0], max_width=40)
    assert len(narrow.split("\n")) > 3
    assert eval(narrow, {"Region": Region}) == maps[0]


def test_usage_shows_what_the_kernel_said_in_binary_units():
    usage = Usage(size=135168, rss=8192, pss=4096, swap=0, vmflags=("rd", "wr"))
    assert pretty(usage) == ("Usage(size=132K, rss=8.0K, pss=4.0K, swap=0B, vmflags=('rd', 'wr'))")
    region = display.fixture("smaps-x86_64-6.18-captured.txt").filter(kind="heap")[0]
    text = pretty(region)
    assert "usage=Usage(size=132K," in text
    assert all(len(line) <= 79 for line in text.split("\n"))


def test_image_shows_its_regions():
    image = next(i for i in memmaps.images() if "libc" in i.path)
    lines = pretty(image).split("\n")
    assert lines[0] == repr(image)
    assert len(lines) == 2 + len(image.regions)


def test_summary_is_its_repr_and_its_text():
    summary = display.fixture("smaps-x86_64-6.18-captured.txt").summary()
    lines = pretty(summary).split("\n")
    assert lines[0] == repr(summary)
    assert lines[1:] == summary.to_text().rstrip("\n").split("\n")


def test_diff_is_its_text():
    maps = display.example_maps()
    diff = memmaps.diff(maps, Maps(list(maps)[1:]))
    assert pretty(diff) == diff.to_text().rstrip("\n")


def test_a_long_diff_is_cut_as_a_map_is():
    before = display.many_regions(500)
    diff = memmaps.diff(before, Maps(list(before)[::2]))
    text = diff.to_text().rstrip("\n").split("\n")
    assert len(text) > render_pretty.MAX_ROWS
    lines = pretty(diff).split("\n")
    head = render_pretty.HEAD_ROWS
    assert lines[:head] == text[:head] and lines[-head:] == text[-head:]
    assert lines[head] == f"\u2026 {len(text) - 2 * head:,} more lines \u2026"


def test_empty_map():
    assert pretty(Maps()) == repr(Maps())


def test_ipython_finds_every_display():
    """IPython's own display formatter (what a Jupyter kernel sends) picks
    up the HTML, the SVG and the text of each object."""
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactiveshell.InteractiveShell.instance()
    maps = display.example_maps()
    for obj, kinds in (
        (maps, {"text/plain", "text/html"}),
        (maps[5], {"text/plain", "text/html"}),
        (Usage(rss=4096), {"text/plain", "text/html"}),
        (maps.plot(), {"text/plain", "text/html", "image/svg+xml"}),
        (maps.summary(), {"text/plain", "text/html"}),
        (memmaps.diff(maps, maps[1:]), {"text/plain", "text/html"}),
    ):
        data, _metadata = shell.display_formatter.format(obj)
        assert set(data) == kinds, (obj, set(data))
        assert data["text/plain"] == pretty(obj)
    data, _ = shell.display_formatter.format(maps)
    assert data["text/html"] == maps._repr_html_()
    data, _ = shell.display_formatter.format(maps.plot())
    assert data["image/svg+xml"] == maps.to_svg()
