"""docs/exploring.ipynb runs in a real Jupyter kernel, and what it shows is
what a person sees: its HTML and SVG outputs, rendered by headless Chromium.

The notebook is kept without outputs; here nbclient runs it in a kernel of
this interpreter (ipykernel), with the repository as the working directory
so that the kernel imports this checkout's memmaps.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import pytest

from tests.helpers import browser, procutil

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "exploring.ipynb"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux maps")

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (test extra)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (test extra)")
pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (test extra)")
pytest.importorskip("pandas", reason="the notebook uses to_dataframe(): pandas (test extra)")


@pytest.fixture(scope="module")
def ran():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "docs/exploring.ipynb is kept without outputs"
    )
    client = nbclient.NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
    )
    # The kernel imports memmaps: under the sanitizer run it needs the ASan
    # runtime preloaded, which the test process keeps from other children.
    client.execute(env=procutil.python_env())
    return notebook


def cell_of(notebook, source_start):
    """The one code cell whose source begins with source_start."""
    found = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.source.startswith(source_start)
    ]
    assert len(found) == 1, f"{len(found)} cells start with {source_start!r}"
    return found[0]


def data_of(cell, mime):
    """The cell's result of that MIME type (its execute_result or display)."""
    for output in cell.outputs:
        if output.output_type in ("execute_result", "display_data") and mime in output.data:
            return output.data[mime]
    kinds = [sorted(output.get("data", {})) or output.output_type for output in cell.outputs]
    raise AssertionError(f"no {mime} output in {cell.source[:40]!r}: {kinds}")


def test_every_cell_runs_without_an_error(ran):
    for cell in ran.cells:
        if cell.cell_type != "code":
            continue
        errors = [output for output in cell.outputs if output.output_type == "error"]
        assert not errors, f"{cell.source[:60]!r}: {errors[0].ename}: {errors[0].evalue}"
        assert cell.outputs, f"{cell.source[:60]!r} shows nothing"


def test_the_map_shows_as_a_table_with_usage(ran):
    table = data_of(cell_of(ran, "import mmap"), "text/html")
    assert "<table" in table
    # The kernel's own map, cut to its head (the interpreter) and its tail
    # (the stack), with the usage columns, since it was read with usage=True.
    assert "python" in table and "[stack]" in table
    assert "more regions" in table
    assert re.search(r">\s*Resident\s*<", table) and re.search(r">\s*PSS\s*<", table), table[:400]
    # A plain-text fallback for consoles that do not show HTML.
    assert "<Maps pid=" in data_of(cell_of(ran, "import mmap"), "text/plain")


def test_the_pictures_are_svg(ran):
    for source in ("maps.plot()", 'maps.plot(color="perms")'):
        svg = data_of(cell_of(ran, source), "image/svg+xml")
        assert svg.lstrip().startswith("<svg") and svg.rstrip().endswith("</svg>")
        assert "<title>" in svg
        assert "libc" in svg


def test_summary_diff_frame_and_snapshot_show_what_they_say(ran):
    summary = data_of(cell_of(ran, "maps.summary()"), "text/html")
    for category in ("image", "heap", "stack", "private"):
        assert category in summary
    change = data_of(cell_of(ran, "before = memmaps.regions(pid)"), "text/html")
    assert "added" in change.lower()
    frame = data_of(cell_of(ran, "frame = maps.to_dataframe()"), "text/plain")
    assert "file" in frame and "anon" in frame
    assert data_of(cell_of(ran, "saved = maps.to_json()"), "text/plain") == "True"
    printed = "".join(
        output.text
        for output in cell_of(ran, "largest = max(").outputs
        if output.output_type == "stream"
    )
    assert re.match(r"0x[0-9a-f]+-0x[0-9a-f]+: [\d,]+ bytes\n", printed), printed[:80]


def test_chromium_shows_the_outputs(ran, tmp_path):
    browser.require_chromium()
    browser.require_pillow()
    parts = [
        data_of(cell_of(ran, "import mmap"), "text/html"),
        data_of(cell_of(ran, "maps.summary()"), "text/html"),
        data_of(cell_of(ran, "maps.plot()"), "image/svg+xml"),
        data_of(cell_of(ran, "before = memmaps.regions(pid)"), "text/html"),
    ]
    markup = "\n<hr>\n".join(f"<div class='output'>{part}</div>" for part in parts)
    png = tmp_path / "notebook.png"
    browser.screenshot(markup, png, width=1200, height=2400)
    picture = browser.load(png)
    assert picture.size == (1200, 2400)
    assert browser.distinct_colors(picture) >= 8, "the page is nearly blank"
    assert browser.content_box(picture, browser.THEMES["light"]["background"]) is not None
    # The labels are text in the page as the browser built it.
    dom = html.unescape(browser.dump_dom(markup))
    for label in ("libc", "heap", "stack"):
        assert label in dom
