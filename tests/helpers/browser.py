"""Render HTML and SVG the way a person sees them: headless Chromium.

``screenshot(markup, out)`` writes markup into a page of its own and has
Chromium (Debian's ``chromium``) save it as PNG; ``dump_dom(markup)`` gives
the document as the browser built it, so a test can check that a label is
text in the page and not markup.  The PNG checks (``distinct_colors``,
``has_color``, ``content_box``) need Pillow.

Chromium runs with a private profile directory, ``--no-sandbox`` (as root it
refuses to start without it) and a timeout; its complaints about D-Bus on
stderr are harmless and ignored.  Tests call ``require_chromium()`` and
``require_pillow()``, which skip with the reason when either is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Seconds one Chromium run may take: a first start on a cold disk takes a
#: few seconds, a page of ours well under one.  Only a hang reaches this.
TIMEOUT = 90

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: The page backgrounds and text colours of JupyterLab's light and dark
#: themes, and the theme variables our HTML reads.
THEMES = {
    "light": {
        "background": "#ffffff",
        "color": "rgba(0,0,0,0.87)",
        "variables": "--jp-border-color1:#bdbdbd;--jp-ui-font-size1:13px;",
    },
    "dark": {
        "background": "#111111",
        "color": "rgba(255,255,255,1)",
        "variables": "--jp-border-color1:#616161;--jp-ui-font-size1:13px;",
    },
}


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    import pytest

    found = find_chromium()
    if found is None:
        pytest.skip("no headless Chromium here (apt-get install chromium)")
    return found


def require_pillow() -> Any:
    import pytest

    return pytest.importorskip("PIL.Image", reason="Pillow is not installed (pip install Pillow)")


def page(markup: str, theme: str = "light") -> str:
    """markup in a whole HTML document styled like a JupyterLab output area."""
    colors = THEMES[theme]
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>memmaps</title>'
        f"<style>:root{{{colors['variables']}}}"
        f"body{{margin:8px;background:{colors['background']};color:{colors['color']};"
        "font-family:system-ui,'DejaVu Sans',sans-serif}</style></head>"
        f"<body>{markup}</body></html>\n"
    )


def _run(args: list[str], workdir: Path) -> subprocess.CompletedProcess[bytes]:
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium found (apt-get install chromium)")
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--mute-audio",
        f"--user-data-dir={workdir / 'profile'}",
        *args,
    ]
    # The sanitizer runs preload ASan into Python's children; Chromium is
    # not built for it.
    env = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}
    return subprocess.run(
        command,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def screenshot(
    markup: str,
    out: Path,
    *,
    width: int = 1200,
    height: int = 900,
    theme: str = "light",
    whole: bool = False,
) -> Path:
    """markup (HTML, or an SVG document) rendered at width x height CSS
    pixels into the PNG out.  whole=True renders an HTML fragment inside a
    themed page (see page()); an SVG or a complete document is shown as it
    is."""
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="memmaps-browser-") as tmp:
        workdir = Path(tmp)
        if markup.lstrip().startswith(("<svg", "<?xml")):
            source = workdir / "page.svg"
        else:
            source = workdir / "page.html"
            if not whole:
                markup = page(markup, theme)
        source.write_text(markup, encoding="utf-8")
        shot = workdir / "shot.png"
        done = _run(
            [f"--screenshot={shot}", f"--window-size={width},{height}", source.as_uri()], workdir
        )
        if not shot.exists():
            raise RuntimeError(
                f"chromium made no screenshot (exit {done.returncode}): "
                f"{done.stderr.decode(errors='replace')[-2000:]}"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, out)
    return out


def dump_dom(markup: str, theme: str = "light") -> str:
    """The document Chromium built from markup (an HTML fragment in a
    themed page, or an SVG document), serialized."""
    with tempfile.TemporaryDirectory(prefix="memmaps-browser-") as tmp:
        workdir = Path(tmp)
        if markup.lstrip().startswith(("<svg", "<?xml")):
            source = workdir / "page.svg"
        else:
            source = workdir / "page.html"
            markup = page(markup, theme)
        source.write_text(markup, encoding="utf-8")
        done = _run(["--dump-dom", source.as_uri()], workdir)
        if done.returncode != 0:
            raise RuntimeError(
                f"chromium --dump-dom failed (exit {done.returncode}): "
                f"{done.stderr.decode(errors='replace')[-2000:]}"
            )
        return done.stdout.decode("utf-8")


# --------------------------------------------------------------------------
# Looking at a PNG


def load(path: Path) -> Any:
    from PIL import Image

    return Image.open(path).convert("RGB")


def hex_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def colors(image: Any) -> dict[tuple[int, int, int], int]:
    """How many pixels have each colour."""
    counts = image.getcolors(maxcolors=1 << 24)
    return {rgb: count for count, rgb in counts}


def distinct_colors(image: Any, min_pixels: int = 20) -> int:
    """Colours that cover at least min_pixels pixels (anti-aliasing makes
    many colours of a few pixels each; those are not counted)."""
    return sum(1 for count in colors(image).values() if count >= min_pixels)


def has_color(image: Any, color: str, min_pixels: int = 20, tolerance: int = 6) -> bool:
    """Whether at least min_pixels pixels are within tolerance of color
    (per channel)."""
    want = hex_rgb(color)
    total = 0
    for rgb, count in colors(image).items():
        if all(abs(a - b) <= tolerance for a, b in zip(rgb, want, strict=True)):
            total += count
            if total >= min_pixels:
                return True
    return False


def content_box(image: Any, background: str) -> tuple[int, int, int, int] | None:
    """The bounding box (left, top, right, bottom) of what differs from the
    background, or None for a blank image."""
    from PIL import Image, ImageChops

    plain = Image.new("RGB", image.size, hex_rgb(background))
    return ImageChops.difference(image, plain).getbbox()


def missing_colors(image: Any, wanted: Iterable[str], min_pixels: int = 20) -> list[str]:
    return [color for color in wanted if not has_color(image, color, min_pixels)]
