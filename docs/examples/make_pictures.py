"""Make the pictures of docs/images/: a process's map as Jupyter shows it.

usage: python docs/examples/make_pictures.py [--out DIR]

A child Python process maps what a picture should show (a JIT-like
region both writable and executable, shared memory half written, a
deleted file, and 300 one-page regions, read-only and read-write in turn);
its map is read with usage and drawn three ways, then headless Chromium
(Debian's ``chromium``) renders each to PNG, as tests/helpers/browser.py
does in the tests:

  exploring-svg.png          maps.plot(): coloured by kind, light theme
  exploring-svg-perms.png    maps.plot(color="perms", theme="dark")
  exploring-html.png         maps.to_html(max_rows=30) in a light page (the
                             table of _repr_html_(), cut to 30 rows)

Needs Linux, chromium and Pillow (for cropping the table to its content).
Run from anywhere; memmaps must be importable (installed, or built in
place in this checkout).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import memmaps  # noqa: E402
from tests.helpers import browser  # noqa: E402

# The child: what it maps, then "ready", then it waits for its stdin to close.
CHILD = r"""
import ctypes, mmap, os, sys, tempfile

def address(m):
    return ctypes.addressof(ctypes.c_char.from_buffer(m))

# The small regions first: mmap() places later mappings lower, so the
# others come first in the map, where the table's first rows show them.
keep = []
for i in range(300):
    prot = mmap.PROT_READ | (mmap.PROT_WRITE if i % 2 else 0)
    keep.append(mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=prot))
jit = mmap.mmap(-1, 64 * 1024, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
jit.write(b"\xc3" * len(jit))
# Named anonymous memory (Linux 5.17+ with CONFIG_ANON_VMA_NAME); left
# nameless where the kernel does not allow it.
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(0x53564D41, 0, ctypes.c_ulong(address(jit)), ctypes.c_ulong(len(jit)),
           ctypes.c_char_p(b"jit code"))
shared = mmap.mmap(-1, 1024 * 1024, flags=mmap.MAP_SHARED)
shared.write(b"\1" * (512 * 1024))
folder = tempfile.mkdtemp()
path = os.path.join(folder, "cache.bin")
with open(path, "wb") as f:
    f.truncate(256 * 1024)
with open(path, "rb") as f:
    deleted = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
deleted[:: 4096]
os.unlink(path)
os.rmdir(folder)
keep += [jit, shared, deleted]
print("ready", flush=True)
sys.stdin.read()
"""


def crop(path: Path, background: str, margin: int = 12) -> None:
    """The PNG cut to what differs from the background, and a margin."""
    image = browser.load(path)
    box = browser.content_box(image, background)
    if box is None:
        raise SystemExit(f"{path}: the page rendered blank")
    left, top, right, bottom = box
    image.crop(
        (
            max(0, left - margin),
            max(0, top - margin),
            min(image.width, right + margin),
            min(image.height, bottom + margin),
        )
    ).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    options = parser.parse_args(argv)
    if browser.find_chromium() is None:
        print("make_pictures: no chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    options.out.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        if child.stdout.readline().strip() != "ready":
            print("make_pictures: the child process did not start", file=sys.stderr)
            return 1
        maps = memmaps.regions(child.pid, usage=True)
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)

    title = f"a Python process (pid {maps.pid})"
    for name, options_ in (
        ("exploring-svg.png", {}),
        ("exploring-svg-perms.png", {"color": "perms", "theme": "dark"}),
    ):
        picture = maps.plot(title=title, **options_)
        browser.screenshot(
            picture.svg, options.out / name, width=picture.width, height=picture.height
        )
        print(f"wrote {options.out / name} ({picture.width}x{picture.height})")
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "table.png"
        browser.screenshot(maps.to_html(max_rows=30), shot, width=1280, height=1200, theme="light")
        crop(shot, browser.THEMES["light"]["background"])
        target = options.out / "exploring-html.png"
        target.write_bytes(shot.read_bytes())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
