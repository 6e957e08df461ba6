"""The displays of live maps, checked in the markup and as a person sees
them: headless Chromium renders the HTML and the SVG to PNG, and the
pictures are checked for their size, for content, for the legend's colours
and for the names as text in the page.

The target (tests/targets/display_target.c) maps memory both writable and
executable, shared anonymous memory half written, a deleted file, a file
whose name holds markup, quotes, a newline and a byte that is not UTF-8,
and 300 one-page regions.  Set MEMMAPS_SCREENSHOTS to a directory to keep
the PNGs the tests make.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memmaps
from memmaps.render import html as render_html
from memmaps.render._common import CATEGORY_COLORS, KIND_COLORS, PERMS_COLORS, WX_COLOR, shown
from tests.helpers import browser, display, procutil
from tests.helpers.display import (
    SVG_NS,
    HtmlDocument,
    all_text,
    merged_count,
    region_shapes,
    run_shapes,
    shapes,
    svg_tree,
)

SMALL = 300


@pytest.fixture(scope="module")
def target(build_target):
    folder = procutil.world_dir()
    ready = procutil.launch_ready([build_target("display_target"), folder, SMALL])
    try:
        maps = memmaps.regions(ready.pid, usage=True)
        wx, shared, deleted, hostile, first_small = ready.addrs
        yield {
            "pid": ready.pid,
            "maps": maps,
            "wx": maps.at(wx),
            "shared": maps.at(shared),
            "deleted": maps.at(deleted),
            "hostile": maps.at(hostile),
            "small": [
                r for r in maps if r.start >= first_small and r.size == 4096 and r.path is None
            ],
        }
    finally:
        procutil.stop(ready.proc)
        shutil.rmtree(folder, ignore_errors=True)


def keep(path: Path) -> None:
    """Copies a screenshot to $MEMMAPS_SCREENSHOTS, to look at."""
    where = os.environ.get("MEMMAPS_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(where) / path.name)


def test_the_target_is_what_the_tests_expect(target):
    assert target["wx"].perms == "rwxp"
    assert target["shared"].kind == "shmem" and target["shared"].deleted
    assert target["deleted"].kind == "file" and target["deleted"].deleted
    assert target["deleted"].path.endswith("/gone.bin")
    assert target["hostile"].path.endswith(os.fsdecode(b"&amp;\nname\xff.bin"))
    assert len(target["small"]) >= SMALL


def test_the_table_marks_and_escapes(target):
    maps = target["maps"]
    document = HtmlDocument(maps.to_html(max_rows=None))
    rows = document.rows()
    assert len(rows) == len(maps)
    by_start = {int(row.children[0].text(), 16): row for row in rows}
    wx = by_start[target["wx"].start]
    assert wx.children[3].has_class("mm-wx") and wx.children[3].text() == "rwxp"
    assert sum(1 for row in rows if row.children[3].has_class("mm-wx")) == 1
    shared = by_start[target["shared"].start]
    assert shared.children[4].text() == "shmem"
    assert shared.children[5].attrs["title"] == "524,288 bytes, 50% of the region"
    assert shared.children[-1].text() == "/dev/zero deleted"
    gone = by_start[target["deleted"].start].children[-1]
    assert gone.text().endswith("/gone.bin deleted")
    hostile = by_start[target["hostile"].start].children[-1]
    assert hostile.attrs["title"] == shown(target["hostile"].path)
    assert "&amp;\\nname\\xff.bin" in hostile.attrs["title"]
    # What Jupyter shows: the ends of the map and a count.
    cut = HtmlDocument(maps._repr_html_()).rows()
    assert len(cut) == 61 and cut[30].text() == f"\u2026 {len(maps) - 60:,} more regions \u2026"


def test_the_picture_marks_merges_and_escapes(target):
    maps = target["maps"]
    tree = svg_tree(maps.to_svg())
    titles = {title.split("  ")[0]: (group, title) for group, title in shapes(tree)}

    def shape_of(region):
        return titles[f"{region.start:#x}\u2013{region.end:#x}"]

    group, title = shape_of(target["wx"])
    assert any(rect.get("stroke") == WX_COLOR for rect in group.iter(f"{SVG_NS}rect"))
    assert "writable and executable" in title
    group, title = shape_of(target["shared"])
    rects = group.findall(f"{SVG_NS}rect")
    assert rects[0].get("fill") == KIND_COLORS["shmem"]
    assert "resident 512K (50%)" in title
    assert float(rects[1].get("height")) == pytest.approx(15, abs=0.1)  # half the box is pale
    texts = all_text(tree)
    assert "gone.bin (deleted)" in texts
    assert "/dev/zero" in texts
    _group, title = shape_of(target["hostile"])
    assert shown(target["hostile"].path) in title
    assert any(text.startswith("<script>alert(") for text in texts)
    # The 300 pages are too small to draw one by one: one merged box.
    runs = [title for _g, title in run_shapes(tree)]
    assert max(merged_count(title) for title in runs) >= SMALL - 2
    merged = sum(merged_count(title) for title in runs)
    assert len(region_shapes(tree)) + merged == len(maps)


def test_this_process():
    maps = memmaps.regions(usage=True)
    document = HtmlDocument(maps._repr_html_())
    assert f"pid {os.getpid()}" in next(document.iter("div")).text()
    tree = svg_tree(maps.to_svg())
    assert f"pid {os.getpid()}" in all_text(tree)
    merged = sum(merged_count(title) for _g, title in run_shapes(tree))
    assert len(region_shapes(tree)) + merged == len(maps)
    libpython_or_python = [t for t in all_text(tree) if t.startswith(("python", "libpython"))]
    assert libpython_or_python
    assert "[stack]" in all_text(tree)


# --------------------------------------------------------------------------
# In the browser


def test_the_picture_as_a_person_sees_it(target, tmp_path):
    browser.require_chromium()
    browser.require_pillow()
    maps = target["maps"]
    for color, theme in (("kind", "light"), ("perms", "dark")):
        picture = maps.plot(color=color, theme=theme)
        shot = browser.screenshot(
            picture.svg,
            tmp_path / f"display-target-{color}-{theme}.png",
            width=picture.width,
            height=picture.height,
        )
        keep(shot)
        image = browser.load(shot)
        assert image.size == (picture.width, picture.height)
        background = "#ffffff" if theme == "light" else "#0d1117"
        box = browser.content_box(image, background)
        assert box is not None
        assert box[2] - box[0] > picture.width * 0.8
        assert browser.distinct_colors(image) >= 8
        if color == "kind":
            wanted = [KIND_COLORS[k] for k in ("file", "anon", "shmem", "heap", "stack")]
        else:
            wanted = [PERMS_COLORS[p] for p in ("r-x", "r--", "rw-")]
        assert browser.missing_colors(image, [*wanted, WX_COLOR]) == []
    dom = browser.dump_dom(maps.to_svg())
    assert "&lt;script&gt;alert(" in dom and "<script" not in dom


def test_the_table_as_a_person_sees_it(target, tmp_path):
    browser.require_chromium()
    browser.require_pillow()
    maps = target["maps"]
    for theme in ("light", "dark"):
        shot = browser.screenshot(
            maps._repr_html_(),
            tmp_path / f"display-table-{theme}.png",
            width=1400,
            height=1700,
            theme=theme,
        )
        keep(shot)
        image = browser.load(shot)
        background = browser.THEMES[theme]["background"]
        box = browser.content_box(image, background)
        assert box is not None and box[3] > 1000  # sixty rows and more
        # The swatches of the legend and of the rows.
        wanted = [KIND_COLORS[k] for k in ("file", "anon", "shmem", "heap", "stack", "vdso")]
        assert browser.missing_colors(image, wanted, min_pixels=60) == []
        # Text in the theme's colour: dark on light, light on dark.
        text = "#000000" if theme == "light" else "#ffffff"
        assert browser.has_color(image, text, min_pixels=2000, tolerance=40)
    shot = browser.screenshot(
        maps.summary()._repr_html_(), tmp_path / "display-summary.png", width=900, height=500
    )
    keep(shot)
    image = browser.load(shot)
    used = [row.category for row in maps.summary() if row.regions]
    assert {"image", "shared memory", "private", "kernel"} <= set(used)
    assert browser.missing_colors(image, [CATEGORY_COLORS[name] for name in used]) == []
    dom = browser.dump_dom(maps.to_html(max_rows=None))
    assert "&lt;script&gt;alert(" in dom and "<script" not in dom


def test_a_saved_map_as_a_person_sees_it(tmp_path):
    browser.require_chromium()
    browser.require_pillow()
    maps = display.example_maps()
    picture = maps.plot()
    page = picture.save(tmp_path / "example.html")
    shot = browser.screenshot(
        page.read_text(),
        tmp_path / "example.png",
        width=picture.width + 16,
        height=picture.height + 16,
        whole=True,
    )
    keep(shot)
    image = browser.load(shot)
    assert browser.missing_colors(image, [KIND_COLORS[r.kind] for r in maps]) == []
    for name in ("libc.so.6", "[heap]", "non-canonical", "16E"):
        assert name in all_text(svg_tree(picture.svg))


@pytest.mark.slow  # three Chromium runs and a child process: about 5 s
def test_the_docs_pictures_script_makes_its_pictures(tmp_path):
    browser.require_chromium()
    browser.require_pillow()
    script = display.REPO / "docs" / "examples" / "make_pictures.py"
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=procutil.python_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in ("exploring-svg.png", "exploring-svg-perms.png", "exploring-html.png"):
        image = browser.load(tmp_path / name)
        assert image.width >= 800 and image.height >= 300, (name, image.size)
        assert browser.distinct_colors(image) >= 8, name
    svg = browser.load(tmp_path / "exploring-svg.png")
    assert browser.missing_colors(svg, [KIND_COLORS["file"], KIND_COLORS["shmem"], WX_COLOR]) == []


def _libc_mmap():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

    def mapped(size: int, prot: int) -> int:
        address = libc.mmap(None, size, prot, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        assert address not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
        return address

    return mapped, libc.munmap


def test_a_diff_of_this_process(tmp_path):
    mapped, unmap = _libc_mmap()
    size = 16 * mmap.PAGESIZE
    gone = mapped(size, mmap.PROT_READ | mmap.PROT_EXEC)
    try:
        before = memmaps.regions()
        # Mapped before the other goes, so that it cannot take its place
        # (anonymous memory is matched by address).
        fresh = mapped(size, mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        unmap(gone, size)
        after = memmaps.regions()
        diff = memmaps.diff(before, after)
        rows = HtmlDocument(render_html.diff_html(diff, max_rows=None)).rows()
        words = {}
        for row in rows:
            start = int(row.children[1].text().split()[-1], 16)
            end = int(row.children[2].text().split()[-1], 16)
            words[(start, end)] = row.children[0].text()
        covering = {what for (start, end), what in words.items() if start <= fresh < end}
        assert covering == {"+ added"}, words
        covering = {what for (start, end), what in words.items() if start <= gone < end}
        assert covering == {"\u2212 removed"}, words
        if browser.find_chromium() is None:
            pytest.skip("no headless Chromium here (apt-get install chromium)")
        browser.require_pillow()
        shot = browser.screenshot(
            diff._repr_html_(), tmp_path / "display-diff.png", width=1200, height=400
        )
        keep(shot)
        image = browser.load(shot)
        assert browser.missing_colors(image, ["#2ca02c", "#d62728"], min_pixels=15) == []
    finally:
        unmap(fresh, size)
