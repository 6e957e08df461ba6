"""The picture of an address space (memmaps/render/svg.py), read back as
XML: every region and every gap has a shape whose title says what it is,
the non-canonical hole is never free memory, names are text, big maps are
merged into few shapes and stay small, and the same map gives the same
bytes."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from memmaps import Maps, Region, Usage
from memmaps.maps import _human_size
from memmaps.render import svg as render_svg
from memmaps.render._common import KIND_COLORS, PERMS_COLORS, WX_COLOR, shown
from tests.helpers import display
from tests.helpers.display import (
    SVG_NS,
    all_text,
    merged_count,
    region_shapes,
    run_shapes,
    shapes,
    svg_tree,
)


def gap_shapes(tree):
    return [(g, t) for g, t in shapes(tree) if t.endswith("\nunmapped")]


def gaps_of(maps):
    return [(a.end, b.start) for a, b in itertools.pairwise(maps) if b.start > a.end]


def test_every_region_and_every_gap_has_a_shape_with_its_title():
    maps = display.example_maps()
    tree = svg_tree(maps.to_svg())
    regions = region_shapes(tree)
    assert len(regions) == len(maps)
    for (group, title), region in zip(regions, maps, strict=True):
        first = title.split("\n")[0]
        assert first == (
            f"{region.start:#x}\u2013{region.end:#x}  {_human_size(region.size)}  "
            f"{region.perms}  {region.kind}"
        )
        if region.path is not None:
            assert title.split("\n")[1] == region.path + (" (deleted)" if region.deleted else "")
        rect = group.find(f"{SVG_NS}rect")
        assert rect.get("fill") == KIND_COLORS[region.kind]
    gaps = gaps_of(maps)
    drawn = [title.split("  ")[0] for _g, title in gap_shapes(tree)]
    # The gap under the non-canonical hole is cut where the hole starts.
    expected = [f"{a:#x}\u2013{min(b, 1 << 47):#x}" for a, b in gaps]
    assert drawn == expected
    for _group, title in gap_shapes(tree):
        start, end = (int(x, 16) for x in title.split("  ")[0].split("\u2013"))
        assert title.split("  ")[1].startswith(_human_size(end - start))


def test_the_non_canonical_hole_is_drawn_as_a_hole_not_as_free_memory():
    maps = display.example_maps()
    assert maps[-1].path == "[vsyscall]"
    tree = svg_tree(maps.to_svg())
    titles = [title for _g, title in shapes(tree)]
    hole = [t for t in titles if "non-canonical" in t]
    assert hole == [
        "0x800000000000\u20130xffff800000000000  16E\nthe non-canonical hole: no address in "
        "it is valid, nothing can be mapped there"
    ]
    kernel = [t for t in titles if "kernel's half" in t]
    assert kernel == [
        "0xffff800000000000\u20130xffffffffff600000  128T\nthe kernel's half of the address space"
    ]
    # No shape calls any part of the hole unmapped memory.
    for _group, title in gap_shapes(tree):
        start, end = (int(x, 16) for x in title.split("  ")[0].split("\u2013"))
        assert end <= 1 << 47 or start >= (1 << 64) - (1 << 47)
    assert "non-canonical" in all_text(tree)
    legend = [text for text in all_text(tree) if text == "non-canonical hole"]
    assert legend


def test_a_32_bit_map_has_no_hole():
    maps = display.fixture("maps-i386-3.16.txt")
    tree = svg_tree(maps.to_svg())
    assert not [t for _g, t in shapes(tree) if "non-canonical" in t or "kernel's half" in t]
    assert len(region_shapes(tree)) == len(maps)
    assert len(gap_shapes(tree)) == len(gaps_of(maps))


def test_images_are_labelled_with_their_name_and_segments():
    maps = display.example_maps()
    tree = svg_tree(maps.to_svg())
    texts = all_text(tree)
    for name in ("cat", "libc.so.6", "ld-linux-x86-64.so.2", "[heap]", "[stack]", "[vdso]"):
        assert name in texts, name
    # A shared anonymous object keeps its whole name, without "(deleted)".
    assert "/dev/zero" in texts and "/memfd:ring" in texts
    libc = [(g, t) for g, t in region_shapes(tree) if "libc.so.6" in t]
    segments = [g.find(f"{SVG_NS}text").text for g, _t in libc]
    assert segments == ["r--", "r-x", "r--", "r--", "rw-"]


def test_color_by_permission():
    maps = display.example_maps()
    tree = svg_tree(maps.to_svg(color="perms"))
    for (group, _title), region in zip(region_shapes(tree), maps, strict=True):
        assert group.find(f"{SVG_NS}rect").get("fill") == PERMS_COLORS[region.perms[:3]]
    legend = set(all_text(tree))
    assert {r.perms[:3] for r in maps} <= legend


def test_writable_and_executable_memory_is_marked():
    maps = display.hostile_maps()
    tree = svg_tree(maps.to_svg())
    marked = []
    for group, title in region_shapes(tree):
        rects = group.findall(f"{SVG_NS}rect")
        if any(rect.get("stroke") == WX_COLOR for rect in rects):
            marked.append(title)
            assert "writable and executable" in title
    assert len(marked) == sum(1 for r in maps if r.perms[1:3] == "wx") == 1
    assert "writable and executable" in all_text(tree)
    plain = svg_tree(display.example_maps().to_svg())
    assert "writable and executable" not in all_text(plain)


def test_the_resident_share_is_shaded():
    maps = display.fixture("smaps-x86_64-6.18-captured.txt")
    tree = svg_tree(maps.to_svg())
    bar = render_svg._BAR
    for (group, title), region in zip(region_shapes(tree), maps, strict=True):
        rects = group.findall(f"{SVG_NS}rect")
        share = region.usage.resident / region.size
        assert f"resident {_human_size(region.usage.resident)}" in title
        pale = [r for r in rects if r.get("fill-opacity") == "0.62"]
        if bar * (1 - share) >= 0.5:
            assert len(pale) == 1
            assert float(pale[0].get("height")) == pytest.approx(bar * (1 - share), abs=0.06)
        else:
            assert not pale
    assert "solid: resident, pale: not" in all_text(tree)


def test_names_are_text_whatever_they_hold():
    maps = display.hostile_maps()
    svg = maps.to_svg(title="<b>pid & co</b>")
    svg.encode("utf-8")
    tree = svg_tree(svg)
    tags = {element.tag.removeprefix(SVG_NS) for element in tree.iter()}
    assert tags <= {"svg", "rect", "style", "defs", "pattern", "text", "g", "title", "path"}
    titles = "\n".join(title for _g, title in shapes(tree))
    for name in display.HOSTILE_NAMES:
        assert shown(name) in titles
    assert "<b>pid & co</b>" in all_text(tree)
    assert "<script" not in svg and "<img" not in svg


def test_a_huge_map_is_merged_into_few_shapes_and_stays_small():
    maps = display.many_regions(60_000)
    svg = maps.to_svg()
    assert len(svg.encode()) < 2_000_000
    tree = svg_tree(svg)
    drawn = shapes(tree)
    assert len(drawn) <= 400
    runs = run_shapes(tree)
    assert runs
    single = region_shapes(tree)
    merged = sum(merged_count(title) for _g, title in runs)
    assert merged + len(single) == len(maps)
    # Each merged box covers whole regions, in order, and says what they are.
    for _group, title in runs:
        span = title.split("\n")[1].split("  ")[0]
        start, end = (int(x, 16) for x in span.split("\u2013"))
        inside = [r for r in maps if start <= r.start and r.end <= end]
        assert len(inside) == merged_count(title)
        kinds = {r.kind for r in inside}
        for kind in kinds:
            assert re.search(rf"^{kind}: [\d,]+ regions?, ", title, re.M), (kind, title)
    assert "many small regions, merged" in all_text(tree)


def test_max_items_bounds_the_shapes():
    maps = display.many_regions(3000)
    for limit in (10, 50, 400, 10_000):
        tree = svg_tree(maps.to_svg(max_items=limit))
        drawn = shapes(tree)
        assert len(drawn) <= max(limit, 10) + 0
        if limit >= 2 * len(maps):
            # Only the long runs of slivers are merged then.
            for _group, title in run_shapes(tree):
                start, end = (
                    int(x, 16) for x in title.split("\n")[1].split("  ")[0].split("\u2013")
                )
                inside = [r for r in maps if start <= r.start and r.end <= end]
                assert len(inside) >= render_svg._SLIVER_RUN
                assert all(r.size <= render_svg._SLIVER for r in inside)


def test_long_runs_of_slivers_are_merged_whatever_the_count():
    pages = [
        Region(0x100000 + i * 0x1000, 0x101000 + i * 0x1000, "rw-p" if i % 2 else "r--p")
        for i in range(300)
    ]
    big = Region(0x500000, 0x600000, "rw-p")
    few = Region(0x700000, 0x701000, "rw-p"), Region(0x702000, 0x703000, "r--p")
    maps = Maps([*pages, big, *few])
    tree = svg_tree(maps.to_svg())  # 300 regions: fewer shapes than max_items anyway
    ((_group, title),) = run_shapes(tree)
    assert merged_count(title) == 300
    assert len(region_shapes(tree)) == 3  # the big one and the two after it, one by one


def test_the_same_map_gives_the_same_bytes():
    first, again = display.example_maps(), display.example_maps()
    assert first is not again
    assert first.to_svg() == again.to_svg()
    big = display.many_regions(5000)
    assert big.to_svg() == display.many_regions(5000).to_svg()
    assert first.to_svg(theme="dark") != first.to_svg()


def test_lanes_stay_inside_the_width():
    maps = display.many_regions(600)
    for width in (400, 1000, 1600):
        tree = svg_tree(maps.to_svg(width=width))
        assert tree.get("width") == str(width)
        height = int(tree.get("height"))
        for rect in tree.iter(f"{SVG_NS}rect"):
            x, w = float(rect.get("x", 0)), float(rect.get("width"))
            if rect.get("width") in (str(width),):
                continue
            assert x >= 0 and x + w <= width, (x, w)
            y, h = float(rect.get("y", 0)), float(rect.get("height"))
            assert y >= 0 and y + h <= height


def test_arguments_are_checked():
    maps = display.example_maps()
    with pytest.raises(ValueError, match="color"):
        maps.to_svg(color="rainbow")
    with pytest.raises(ValueError, match="theme"):
        maps.to_svg(theme="sepia")
    with pytest.raises(TypeError, match="width"):
        maps.to_svg(width="wide")
    with pytest.raises(ValueError, match="width"):
        maps.to_svg(width=100)
    with pytest.raises(ValueError, match="max_items"):
        maps.to_svg(max_items=2)
    with pytest.raises(TypeError, match="title"):
        maps.to_svg(title=3)


def test_empty_map():
    tree = svg_tree(Maps().to_svg())
    assert not shapes(tree)
    assert "0 regions" in " ".join(all_text(tree))


def test_plot_gives_a_picture_jupyter_shows_and_that_saves(tmp_path):
    maps = display.example_maps()
    picture = maps.plot(color="perms", width=800)
    assert picture.svg == maps.to_svg(color="perms", width=800)
    assert picture._repr_svg_() == picture.svg
    assert picture.svg in picture._repr_html_()
    assert picture.width == 800 and picture.height == int(svg_tree(picture.svg).get("height"))
    assert repr(picture).startswith("<Picture 800x")
    written = picture.save(tmp_path / "map.svg")
    assert ET.parse(written).getroot().tag == f"{SVG_NS}svg"
    page = picture.save(tmp_path / "map.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and picture.svg in page
    with pytest.raises(ValueError, match=r"\.svg"):
        picture.save(tmp_path / "map.png")


def test_a_unit_wider_than_a_lane_is_cut_over_lanes():
    regions = [
        Region(
            0x10000 + i * 0x100000,
            0x10000 + (i + 1) * 0x100000,
            "r--p",
            i * 0x100000,
            8,
            1,
            9,
            "/big",
            False,
            "file",
        )
        for i in range(40)
    ]
    tree = svg_tree(Maps(regions).to_svg(width=400))
    assert len(region_shapes(tree)) == 40
    assert all_text(tree).count("big") >= 2  # the name again on each lane


def test_merged_boxes_keep_usage_and_kinds():
    usage = Usage(
        size=4096, rss=4096, pss=4096, shared_dirty=0, private_clean=0, private_dirty=4096, swap=0
    )
    regions = [
        Region(
            0x100000 + i * 0x2000, 0x101000 + i * 0x2000, "rw-p" if i % 2 else "r--p", usage=usage
        )
        for i in range(2000)
    ]
    tree = svg_tree(Maps(regions).to_svg())
    ((_group, title),) = run_shapes(tree)
    assert title.split("\n")[0] == "2,000 regions merged: too small to draw one by one"
    assert "resident 7.8M (100%)" in title
    assert "anon: 2,000 regions, 7.8M" in title
    perms = svg_tree(Maps(regions).to_svg(color="perms"))
    ((_g, perms_title),) = run_shapes(perms)
    assert "rw-p: 1,000 regions, 3.9M" in perms_title and "r--p: 1,000 regions, 3.9M" in perms_title
    fills = {r.get("fill") for r in perms.iter(f"{SVG_NS}rect")}
    assert PERMS_COLORS["rw-"] in fills and PERMS_COLORS["r--"] in fills


def test_names_as_long_as_the_system_allows_keep_the_picture_small():
    name = "/" + "/".join(["d" * 250] * 16) + "/lib.so"  # 4 KiB, as PATH_MAX allows
    regions = [
        Region(
            0x100000 + i * 0x30000,
            0x120000 + i * 0x30000,
            "r--p",
            0,
            8,
            1,
            7 + i,
            f"{name}{i}",
            False,
            "file",
        )
        for i in range(400)
    ]
    svg = Maps(regions).to_svg(max_items=10_000)
    tree = svg_tree(svg)
    titles = [title for _g, title in region_shapes(tree)]
    assert len(titles) == 400
    for title, region in zip(titles, regions, strict=True):
        shown_name = title.split("\n")[1]
        assert len(shown_name) <= render_svg._TITLE_NAME
        assert shown_name.endswith(region.path[-100:])
    assert len(svg.encode()) < 2_000_000


def test_a_partial_map_says_so():
    maps = Maps._trusted(display.example_maps()._regions, 7, "no task port")
    assert "partial: no task port" in " ".join(all_text(svg_tree(maps.to_svg())))
