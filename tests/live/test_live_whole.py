"""Live test: whole-map agreement between memmaps.regions() and the kernel's
/proc/PID/maps text, for the test process itself and for a target with a few
thousand regions (text spanning many pages)."""

from __future__ import annotations

import os
import sys

import pytest

import memmaps
from tests.helpers import procutil
from tests.helpers.procutil import (
    check_region_shape,
    lib_vs_ref,
    parse_maps,
    read_maps,
    region_problems,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)


def _compare_all(maps, ref):
    assert not region_problems(maps), region_problems(maps)
    problems = []
    for lib, r in zip(maps, ref, strict=False):
        check_region_shape(lib)
        d = lib_vs_ref(lib, r)
        if d:
            problems.append(f"{r.line!r}: " + "; ".join(d))
    assert not problems, "\n".join(problems[:50])
    assert len(maps) == len(ref), f"library {len(maps)} regions, kernel {len(ref)}"


def _stable_self_read(pid_arg):
    """regions() of this process bracketed by two identical kernel reads
    (this process allocates as it goes, so retry until nothing moved)."""
    me = os.getpid()
    for _ in range(50):
        before = read_maps(me)
        maps = memmaps.regions(pid_arg) if pid_arg != "default" else memmaps.regions()
        after = read_maps(me)
        if before == after:
            return before, maps
    pytest.fail("this process's maps never stayed still across one regions() call")


@pytest.mark.skipif(procutil.SANITIZED, reason=procutil.SANITIZED_REASON)
@pytest.mark.parametrize("pid_arg", ["default", None, "getpid"])
def test_self(pid_arg):
    if pid_arg == "getpid":
        pid_arg = os.getpid()
    text, maps = _stable_self_read(pid_arg)
    assert maps.pid == os.getpid()
    ref = parse_maps(text)
    _compare_all(maps, ref)
    kinds = {r.kind for r in maps}
    assert {"file", "stack"} <= kinds, kinds
    assert os.fsencode(maps.to_proc_maps()) == text


def test_target_with_thousands_of_regions(build_target, spawn):
    exe = build_target("many_maps")
    p = spawn([str(exe), "3000"])
    line = procutil.read_line(p).split()
    assert line[0] == b"ready"
    base, n = int(line[1], 16), int(line[2])
    text = read_maps(p.pid)
    maps = memmaps.regions(p.pid)
    assert read_maps(p.pid) == text, "idle target changed"
    assert len(text) > 20 * 4096, "the test wants text spanning many pages"
    assert maps.pid == p.pid
    ref = parse_maps(text)
    _compare_all(maps, ref)
    # the alternating pages are all there, one page each (the two end pages
    # may merge with a neighbour)
    by_start = {r.start: r for r in maps}
    for i in range(1, n - 1):
        r = by_start.get(base + i * 4096)
        assert r is not None and r.end == base + (i + 1) * 4096, (i, r)
        assert r.perms == ("r--p" if i % 2 else "rw-p"), r
        assert r.kind == "anon" and r.path is None and r.deleted is False, r
    # the executable is reported under its path
    assert any(r.path == str(exe) and r.kind == "file" for r in maps)
    assert os.fsencode(maps.to_proc_maps()) == text
