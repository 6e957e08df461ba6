"""The macOS backend on a real Mac: this process, and a child of it (by its
task port as root, by proc_pidinfo() as the same user).  Compared with what
the process itself knows: the address of a buffer it allocated, of a C
function ctypes finds, the bytes it wrote, its own executable and dyld.

It runs only on macOS (.github/workflows/macos.yml runs it as the runner's
user and again as root with sudo); tests/native/test_macos_sim.py runs the
same backend on Linux against a simulated kernel.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator

import pytest

import memmaps

pytestmark = pytest.mark.skipif(sys.platform != "darwin", reason="reads a live macOS process")


def test_own_regions_hold_what_this_process_made() -> None:
    buffer = ctypes.create_string_buffer(b"memmaps on macOS", 4096)
    address = ctypes.addressof(buffer)
    maps = memmaps.regions()
    assert maps.partial is None
    region = maps.at(address)
    assert region is not None and region.readable and region.writable
    assert memmaps.region_at(None, address) is not None
    assert memmaps.read_memory(None, address, 16) == b"memmaps on macOS"
    starts = [r.start for r in maps]
    assert starts == sorted(starts)
    assert all(r.start < r.end for r in maps)


def test_own_images_and_symbols() -> None:
    images = memmaps.images()
    paths = [image.path for image in images]
    assert "/usr/lib/dyld" in paths
    assert any(path.endswith("libsystem_c.dylib") for path in paths)
    libc = ctypes.CDLL(None)
    malloc = ctypes.cast(libc.malloc, ctypes.c_void_p).value
    assert memmaps.symbol_address(None, "malloc") == malloc
    found = memmaps.symbolize(None, malloc)
    assert found is not None and found.name == "malloc"


def test_usage_of_this_process() -> None:
    usage = memmaps.usage()
    assert usage.rss is not None and usage.rss > 0


@pytest.fixture
def child() -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_a_child(child: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", memmaps.errors.PartialListingWarning)
        maps = memmaps.regions(child)
    assert len(maps) > 10
    if os.geteuid() == 0:
        # Root has the task port (unless the runner's Python is hardened).
        if maps.partial is None:
            paths = [image.path for image in memmaps.images(child)]
            assert "/usr/lib/dyld" in paths
    else:
        # The same user has proc_pidinfo() at least; the task port needs
        # root or the debugger entitlement.
        if maps.partial is not None:
            assert "proc_pidinfo" in maps.partial
            with pytest.raises(memmaps.errors.AccessDenied):
                memmaps.images(child)


def test_a_child_that_exited() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with pytest.raises(memmaps.errors.NoSuchProcess):
        memmaps.regions(proc.pid)
