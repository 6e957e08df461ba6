"""Live tests of Maps.summary(), categorize() and gaps(): a real process
(tests/targets/summary_target.c) makes memory of each category at addresses
it prints; the categories, the sums and the gaps are checked against those
addresses and against an independent parse of the kernel's own maps and
smaps text (tests/helpers/procutil.py)."""

from __future__ import annotations

import itertools
import os
import sys

import pytest

import memmaps
from memmaps.summary import CATEGORIES, categorize
from tests.helpers import procutil

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
RESERVE_PAGES = 16
GUARDED_PAGES = 4
# glibc's malloc arenas are HEAP_MAX_SIZE (2 * DEFAULT_MMAP_THRESHOLD_MAX:
# 64 MiB on 64-bit) blocks, aligned to their size (malloc/arena.c).
ARENA = 64 << 20
NAMES = (
    "stack_low_0",
    "stack_low_1",
    "guard_size_0",
    "guard_size_1",
    "allocated_0",
    "allocated_1",
    "reserve",
    "guarded",
    "below",
    "shared",
    "ring",
    "sysv",
    "posix",
    "file",
    "private",
    "global",
)


@pytest.fixture(scope="module")
def target(build_target, tmp_path_factory):
    exe = build_target("summary_target")
    data = tmp_path_factory.mktemp("summary") / "data.bin"
    data.write_bytes(b"x" * PAGE)
    ready = procutil.launch_ready([exe, data])
    try:
        info = dict(zip(NAMES, ready.addrs, strict=True))
        info.update(pid=ready.pid, exe=str(exe), data=str(data))
        yield info
    finally:
        procutil.stop(ready.proc)


def _categories(maps: memmaps.Maps) -> dict[int, str]:
    return {region.start: name for region, name in zip(maps, categorize(maps), strict=True)}


def _category_at(maps, names, address):
    region = maps.at(address)
    assert region is not None, f"nothing mapped at {address:#x}"
    return region, names[region.start]


def test_each_category_where_the_target_made_it(target):
    maps = memmaps.regions(target["pid"])
    names = _categories(maps)
    want = {
        "reserve": "reserved",
        "guarded": "guard",
        "below": "reserved",
        "shared": "shared memory",
        "ring": "shared memory",
        "sysv": "shared memory",
        "posix": "shared memory",
        "file": "mapped file",
        "private": "private",
        "global": "image",
    }
    got = {what: _category_at(maps, names, target[what])[1] for what in want}
    assert got == want
    # The memory above the hand-made guard, and above the reserve.
    assert _category_at(maps, names, target["guarded"] + PAGE)[1] == "private"
    assert _category_at(maps, names, target["below"] + RESERVE_PAGES * PAGE)[1] == "private"
    region, _ = _category_at(maps, names, target["posix"])
    assert region.path.startswith("/dev/shm/memmaps-summary-") and region.deleted
    assert region.kind == "file"


def test_what_the_kernel_names(target):
    maps = memmaps.regions(target["pid"])
    names = _categories(maps)
    by_kind = {}
    for region in maps:
        by_kind.setdefault(region.kind, set()).add(names[region.start])
    assert by_kind["heap"] == {"heap"}
    assert by_kind["stack"] == {"stack"}
    for kind in ("vdso", "vvar", "vsyscall"):
        if kind in by_kind:
            assert by_kind[kind] == {"kernel"}, kind
    assert "vdso" in by_kind


def test_images_are_every_region_of_a_file_with_code(target):
    """Every region of the executable and of libc, whatever its
    permissions, is image; no region of another file is."""
    maps = memmaps.regions(target["pid"])
    names = _categories(maps)
    code = {(r.dev_major, r.dev_minor, r.inode) for r in maps if r.kind == "file" and r.executable}
    libc = [r for r in maps if r.path and os.path.basename(r.path) == "libc.so.6"]
    exe = [r for r in maps if r.path == target["exe"]]
    assert len(libc) > 1 and len(exe) > 1
    assert {r.perms for r in libc} > {"r-xp", "r--p"}
    for region in maps:
        if region.kind == "file":
            expected = (
                "image"
                if (region.dev_major, region.dev_minor, region.inode) in code
                else "shared memory"
                if region.path.startswith("/dev/shm/")
                else "mapped file"
            )
            assert names[region.start] == expected, region


def test_thread_stacks_and_their_guard_pages(target):
    maps = memmaps.regions(target["pid"])
    names = _categories(maps)
    for index in (0, 1):
        low, guard = target[f"stack_low_{index}"], target[f"guard_size_{index}"]
        assert guard > 0
        region, name = _category_at(maps, names, low - 1)
        assert (region.start, region.end, region.perms) == (low - guard, low, "---p")
        assert name == "guard"
        # The stack itself: nothing in the map says it is a stack.
        region, name = _category_at(maps, names, low)
        assert (region.kind, name) == ("anon", "private")


def test_malloc_arenas_keep_their_reserve_as_reserved(target):
    maps = memmaps.regions(target["pid"])
    names = _categories(maps)
    heap = maps.filter(kind="heap")
    arenas = 0
    for index in (0, 1):
        allocated = target[f"allocated_{index}"]
        if any(allocated in region for region in heap):
            continue  # the thread was given the main arena
        arenas += 1
        base = allocated & ~(ARENA - 1)
        used, name = _category_at(maps, names, allocated)
        assert (used.start, used.perms, name) == (base, "rw-p", "private")
        reserve, name = _category_at(maps, names, used.end)
        assert (reserve.perms, reserve.end) == ("---p", base + ARENA)
        assert name == "reserved"
    assert arenas, "no thread got an arena of its own"


def _check_sums(maps):
    summary = maps.summary()
    assert [row.category for row in summary] == list(CATEGORIES)
    total = summary.total
    assert total.regions == len(maps) == sum(row.regions for row in summary)
    assert total.size == sum(region.size for region in maps)
    assert total.largest == max(region.size for region in maps)
    for row in summary:
        members = [
            r for r, name in zip(maps, categorize(maps), strict=True) if name == row.category
        ]
        assert row.regions == len(members), row
        assert row.size == sum(r.size for r in members), row
        assert row.largest == max((r.size for r in members), default=0), row
    return summary


def test_rows_add_up_to_the_map_without_usage(target):
    maps = memmaps.regions(target["pid"])
    summary = _check_sums(maps)
    assert all(row.resident is None and row.dirty is None for row in [*summary, summary.total])
    assert summary["unusable"] == ("unusable", 0, 0, None, None, None, 0)
    assert summary.pid == target["pid"]


def test_rows_add_up_to_the_map_and_to_the_kernels_figures_with_usage(target):
    pid = target["pid"]
    for _ in range(50):
        before = procutil.read_proc(pid, "smaps")
        maps = memmaps.regions(pid, usage=True)
        if procutil.read_proc(pid, "smaps") == before:
            break
    else:
        pytest.fail("the target's smaps kept changing")
    refs = procutil.parse_smaps(before)
    summary = _check_sums(maps)
    total = maps.total()
    assert summary.total.resident == total.resident
    assert summary.total.dirty == total.shared_dirty + total.private_dirty
    assert summary.total.swapped == total.swap
    # And the kernel's own text, read independently.
    kernel_resident = sum(
        ref.usage["rss"] + (ref.usage["shared_hugetlb"] or 0) + (ref.usage["private_hugetlb"] or 0)
        for ref in refs
    )
    assert summary.total.resident == kernel_resident
    heap = [ref for ref in refs if ref.region.kind == "heap"]
    assert summary["heap"].resident == sum(ref.usage["rss"] for ref in heap)
    assert summary["private"].dirty >= GUARDED_PAGES * PAGE + 8 * PAGE
    assert summary["guard"].resident == 0 and summary["reserved"].resident == 0


def test_self_with_usage_adds_up():
    maps = memmaps.regions(usage=True)
    summary = _check_sums(maps)
    assert summary.total.resident == maps.total().resident
    assert summary.total.swapped == maps.total().swap


def test_gaps_are_exactly_the_unmapped_ranges(target):
    pid = target["pid"]
    text = procutil.read_maps(pid)
    maps = memmaps.parse(text)
    refs = procutil.parse_maps(text)
    want = [
        (before.end, after.start)
        for before, after in itertools.pairwise(refs)
        if after.start != before.end
    ]
    gaps = maps.gaps()
    assert [(gap.start, gap.end) for gap in gaps] == want
    assert all(gap.size == gap.end - gap.start > 0 for gap in gaps)
    # Every address is either mapped or in a gap, between the first region
    # and the last.
    covered = sorted([(r.start, r.end) for r in maps] + [(g.start, g.end) for g in gaps])
    assert covered[0][0] == refs[0].start and covered[-1][1] == refs[-1].end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    # The three pages around the hand-made reservations are gaps.
    for what in ("reserve", "guarded", "below"):
        assert any(gap.end == target[what] for gap in gaps), what


def test_largest_gap_leaves_the_non_canonical_hole_out(target):
    maps = memmaps.regions(target["pid"])
    summary = maps.summary()
    user = [r for r in maps if r.end <= 1 << 63]
    top = max(r.end for r in user)
    # x86-64 with 4-level page tables, and arm64 with 48-bit addresses, the
    # layouts of this machine's kind: user space ends at 2**47 or 2**48.
    end_of_user = 1 << (top - 1).bit_length()
    assert end_of_user in (1 << 47, 1 << 48)
    free = [
        (before.end, after.start)
        for before, after in itertools.pairwise(user)
        if after.start > before.end
    ]
    if len(user) < len(maps) and end_of_user > top:
        # The gap up to the first region of the upper half is free only up
        # to the end of user space.
        free.append((top, end_of_user))
    largest = max(free, key=lambda gap: gap[1] - gap[0])
    assert summary.largest_gap == largest
    assert summary.free.regions == len(free)
    assert summary.free.size == sum(end - start for start, end in free)
    if maps[-1].kind == "vsyscall":
        # The real gap up to [vsyscall] is the largest by far, and not free.
        assert maps.gaps()[-1].size > 1 << 63
        assert summary.largest_gap.size < 1 << 48


def test_to_text_shows_every_row(target):
    maps = memmaps.regions(target["pid"], usage=True)
    text = maps.summary().to_text()
    lines = text.splitlines()
    assert lines[0].split() == ["TYPE", "SIZE", "RESIDENT", "DIRTY", "SWAPPED", "BLOCKS", "LARGEST"]
    names = [line[: len("shared memory")].strip() for line in lines[1:]]
    assert names[: len(CATEGORIES) + 2] == [*CATEGORIES, "total", "free"]
    assert lines[-1].startswith("largest free gap: 0x")
    plain = memmaps.regions(target["pid"]).summary().to_text().splitlines()
    assert plain[0].split() == ["TYPE", "SIZE", "BLOCKS", "LARGEST"]
