"""Live test: a target splits and merges thousands of mappings as fast as it
can while we read it.  The kernel's text can be torn across read() calls
(regions out of order or overlapping); memmaps must never pass that on."""

from __future__ import annotations

import re
import sys
import time

import pytest

import memmaps
from tests.helpers import procutil
from tests.helpers.procutil import read_maps, region_problems

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)

PAGES = 8192  # ~8k regions: ~400 KiB of text, ~100 read() pages
SECONDS = 2.0
_RANGE = re.compile(rb"^([0-9a-f]+)-([0-9a-f]+) ", re.M)
PERMS = {"rw-p", "r--p", "r-xp", "---p", "rw-s", "r--s", "r-xs", "--xp", "rwxp"}


def test_churning_target_is_always_sorted_and_disjoint(build_target, spawn):
    exe = build_target("churn")
    p = spawn([str(exe), str(PAGES)])
    line = procutil.read_line(p).split()
    assert line[0] == b"ready"

    calls, bad, sizes = 0, [], []
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        maps = memmaps.regions(p.pid)
        calls += 1
        sizes.append(len(maps))
        assert maps.pid == p.pid
        probs = region_problems(maps)
        odd = [r for r in maps if r.perms not in PERMS or not isinstance(r.start, int)]
        if probs or odd:
            bad.append((calls, len(maps), probs[:5], odd[:3]))

    # For information (and to show the test is not vacuous): how often the
    # kernel's own text was torn under the same churn.
    raw, torn = 0, 0
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        raw += 1
        prev_end = 0
        for m in _RANGE.finditer(read_maps(p.pid)):
            if int(m[1], 16) < prev_end:
                torn += 1
                break
            prev_end = int(m[2], 16)
    still_running = p.poll() is None
    print(
        f"\nchurn: {calls} regions() calls, {len(bad)} bad, regions per call "
        f"{min(sizes)}..{max(sizes)}; raw kernel text torn in {torn}/{raw} reads"
    )

    assert still_running, f"churn target died: rc={p.returncode}"
    assert calls >= 5, "too few reads to mean anything"
    assert min(sizes) > PAGES // 2, f"a read returned only {min(sizes)} regions"
    assert not bad, f"{len(bad)} of {calls} results not sorted/disjoint, e.g. {bad[:3]}"
