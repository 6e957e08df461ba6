"""Windows regions in every rendering: the vmmap report, the table, the
pretty and HTML displays, the picture (read back as XML, and as Chromium
draws it).  The regions are those a Windows backend gives (tag, detail,
allocation_base, Windows paths), built here."""

from __future__ import annotations

import html

import pytest

from memmaps import Maps
from memmaps.render._common import KIND_COLORS
from tests.helpers import browser
from tests.helpers.display import all_text, region_shapes, svg_tree
from tests.unit.test_allocations import DLL, PROCESS

pretty = pytest.importorskip("IPython.lib.pretty", reason="IPython is not installed").pretty


def maps() -> Maps:
    return Maps(PROCESS, 4242)


def test_vmmap_types_details_and_the_unusable_row():
    report = maps().to_vmmap()
    lines = report.splitlines()
    stack = next(line for line in lines if line.startswith("stack "))
    assert stack.endswith("SM=PRV          stack tid 7")
    assert "rw-/rw-" in stack
    reserve = next(line for line in lines if line.startswith("reserved "))
    assert reserve.endswith("stack tid 7") and "---/rw-" in reserve
    code = next(line for line in lines if line.startswith("image code "))
    assert code.endswith(" " + DLL)
    assert any(line.startswith("heap ") and line.endswith(" heap 0x300000") for line in lines)
    # The 56K after the last private allocation (0x402000 up to 0x410000)
    # is a row of the summary and part of its total.
    unusable = next(line for line in lines if line.startswith("unusable "))
    assert unusable.split() == ["unusable", "56K", "1"]
    total = next(line for line in lines if line.startswith("TOTAL"))
    mapped = sum(region.size for region in maps())
    assert total.split() == ["TOTAL", f"{(mapped + 0xE000) // 1024}K", str(len(maps()) + 1)]


def test_the_table_names_nameless_regions_by_their_label():
    table = maps().to_table().splitlines()
    assert table[1].endswith(" anon  [stack tid 7]")
    assert any(line.endswith(" " + DLL) for line in table)
    assert any(line.endswith(" [heap 0x300000]") for line in table)


def test_pretty_shows_the_allocation_base_and_the_labels():
    region_text = pretty(maps()[0])
    assert "tag='private reserved'" in region_text
    assert "allocation_base=0x100000" in region_text
    table = pretty(maps())
    assert "[stack tid 7]" in table and DLL in table


def test_html_rows_and_card():
    markup = html.unescape(maps()._repr_html_())
    assert "heap 0x300000" in markup and "stack tid 7" in markup and DLL in markup
    card = html.unescape(maps()[0]._repr_html_())
    assert "allocation base" in card and "0x100000" in card
    assert "private reserved" in card


def test_the_picture_labels_labels_and_windows_file_names():
    tree = svg_tree(maps().to_svg())
    texts = all_text(tree)
    # A DLL by its file name, without the directory of a Windows path; the
    # nameless stack and heap by their labels.
    assert "kernel32.dll" in texts and DLL not in texts
    assert "[stack tid 7]" in texts and "[heap 0x300000]" in texts
    titles = [title for _group, title in region_shapes(tree)]
    guard = next(title for title in titles if title.startswith("0x1f0000"))
    assert "tag private" in guard and "stack tid 7" in guard
    assert "allocation 0x100000" in guard


def test_windows_regions_as_chromium_draws_them(tmp_path):
    browser.require_chromium()
    browser.require_pillow()
    picture = maps().plot()
    shot = browser.screenshot(
        picture.svg, tmp_path / "windows.png", width=picture.width, height=picture.height
    )
    image = browser.load(shot)
    assert image.size == (picture.width, picture.height)
    assert browser.missing_colors(image, [KIND_COLORS[k] for k in ("file", "anon", "guard")]) == []
    dom = html.unescape(browser.dump_dom(maps().to_svg()))
    assert "kernel32.dll" in dom and "[stack tid 7]" in dom
    dom = html.unescape(browser.dump_dom(maps()._repr_html_()))
    assert "heap 0x300000" in dom and DLL in dom
