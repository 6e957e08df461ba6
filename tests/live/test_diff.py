"""memmaps.diff() between two live listings of a target that maps, unmaps,
mprotects, mremaps and dlopens on command (tests/targets/diff_target.c).

The target reserves an arena where nothing else is mapped and does nothing
between commands, so each test knows every region that changes: the diff is
checked exactly, and against the kernel's own text of both listings."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest

import memmaps
from tests.helpers import procutil

pytestmark = [
    pytest.mark.skipif(memmaps.BACKEND != "linux", reason="the targets are Linux ELF programs"),
    pytest.mark.skipif(procutil.SANITIZED, reason=procutil.SANITIZED_REASON),
]

PAGE = mmap.PAGESIZE


@pytest.fixture(scope="module")
def bins(live_bindir):
    folder = procutil.world_dir(live_bindir)
    exe = procutil.compile_target("diff_target", folder / "diff_target", "-ldl")
    lib = procutil.compile_target("diff_lib", folder / "libmmdiff.so", "-shared", "-fPIC")
    return exe, lib


@pytest.fixture
def target(bins):
    process = procutil.DiffTarget(bins[0])
    try:
        yield process
    finally:
        procutil.stop(process.proc)


@pytest.fixture
def data_files(tmp_path):
    """Two 8-page files with different bytes (so, different inodes)."""
    paths = []
    for name, byte in (("one", b"1"), ("two", b"2")):
        path = tmp_path / name
        path.write_bytes(byte * (8 * PAGE))
        paths.append(path)
    return paths


def check_accounting(diff: memmaps.MapsDiff) -> None:
    """Every region of both listings is in exactly one place of the diff,
    and the pairs of changed and unchanged hold whole regions only."""
    for side, maps, alone in (
        (0, diff.before, diff.removed),
        (1, diff.after, diff.added),
    ):
        in_pairs = {pair[side] for pair in diff.changed}
        kept = {pair[side] for pair in diff.unchanged}
        alone_set = set(alone)
        assert not (in_pairs & kept) and not (in_pairs & alone_set) and not (kept & alone_set)
        assert in_pairs | kept | alone_set == set(maps)
        placed = sum(r.size for r in in_pairs | kept | alone_set)
        assert placed == sum(r.size for r in maps)


def snap_diff(target: procutil.DiffTarget, *commands: str, usage: bool = False):
    before = target.snapshot(usage)
    answers = [target.do(command) for command in commands]
    after = target.snapshot(usage)
    result = memmaps.diff(before, after)
    check_accounting(result)
    return before, after, result, answers


def test_nothing_changed(target):
    target.do("map 10 2 rw- p")
    before, after, result, _ = snap_diff(target)
    assert not result
    assert result.added == memmaps.Maps() and result.removed == memmaps.Maps()
    assert result.changed == []
    assert result.unchanged == list(zip(before, after, strict=True))
    assert result.to_text() == (
        f"no changes: {len(after)} regions, "
        f"{memmaps.maps._human_size(sum(r.size for r in after))} mapped\n"
    )


def test_mapped_and_unmapped_regions_are_added_and_removed(target):
    target.do("map 10 3 rw- p")
    before, after, result, _ = snap_diff(target, "unmap 10 3", "map 100 4 r-- p", "map 200 1 rw- s")
    gone = before.at(target.at(10))
    assert (gone.start, gone.end, gone.perms) == (target.at(10), target.at(13), "rw-p")
    assert list(result.removed) == [gone]
    assert [(r.start, r.end, r.perms, r.kind) for r in result.added] == [
        (target.at(100), target.at(104), "r--p", "anon"),
        (target.at(200), target.at(201), "rw-s", "shmem"),
    ]
    assert list(result.added) == [after.at(target.at(100)), after.at(target.at(200))]
    assert result.changed == []
    assert result.mapped_delta == 2 * PAGE
    text = result.to_text()
    assert f"- {target.at(10):012x}-{target.at(13):012x} rw-p   12K anon\n" in text
    assert f"+ {target.at(100):012x}-{target.at(104):012x} r--p   16K anon\n" in text
    assert "/dev/zero (deleted)" in text
    assert text.endswith(
        f"2 added, 1 removed, 0 changed: {len(before)} -> {len(after)} "
        f"regions, {memmaps.maps._human_size(sum(r.size for r in before))} -> "
        f"{memmaps.maps._human_size(sum(r.size for r in after))} mapped (+8.0K)\n"
    )


def test_an_mprotect_in_the_middle_splits_and_the_reverse_merges(target):
    target.do("map 20 3 rw- p")
    before, split_maps, split, _ = snap_diff(target, "protect 21 1 r--")
    whole = before.at(target.at(20))
    pieces = [split_maps.at(target.at(page)) for page in (20, 21, 22)]
    assert [(p.start, p.end, p.perms) for p in pieces] == [
        (target.at(20), target.at(21), "rw-p"),
        (target.at(21), target.at(22), "r--p"),
        (target.at(22), target.at(23), "rw-p"),
    ]
    assert split.changed == [(whole, piece) for piece in pieces]
    assert [split.change(*pair) for pair in split.changed] == [
        ("split",),
        ("split", "perms"),
        ("split",),
    ]
    assert not split.added and not split.removed
    assert split.to_text().startswith(
        f"~ {target.at(20):012x}-{target.at(23):012x} rw-p   12K anon: split in 3\n"
        f"    {target.at(20):012x}-{target.at(21):012x} rw-p  4.0K anon\n"
        f"    {target.at(21):012x}-{target.at(22):012x} r--p  4.0K anon: perms rw-p -> r--p\n"
        f"    {target.at(22):012x}-{target.at(23):012x} rw-p  4.0K anon\n"
    )
    # The kernel merges the three back into one region.
    _, merged_maps, merged, _ = snap_diff(target, "protect 21 1 rw-")
    again = merged_maps.at(target.at(20))
    assert (again.start, again.end) == (target.at(20), target.at(23))
    assert merged.changed == [(piece, again) for piece in pieces]
    assert [merged.change(*pair) for pair in merged.changed] == [
        ("merged",),
        ("merged", "perms"),
        ("merged",),
    ]
    assert "anon: merged from 3\n" in merged.to_text()


def test_mremap_in_place_grows_and_shrinks(target):
    target.do("map 30 2 rw- p")
    before, grown_maps, grown, answers = snap_diff(target, "remap 30 2 5")
    assert int(answers[0][0], 16) == target.at(30)
    old, new = before.at(target.at(30)), grown_maps.at(target.at(30))
    assert new.end == target.at(35)
    assert grown.changed == [(old, new)]
    assert grown.change(old, new) == ("grown",)
    assert "anon: grown by 12K at the end (8.0K -> 20K)" in grown.to_text()
    _, shrunk_maps, shrunk, _ = snap_diff(target, "remap 30 5 1")
    last = shrunk_maps.at(target.at(30))
    assert shrunk.changed == [(new, last)] and shrunk.change(new, last) == ("shrunk",)
    # Unmapping the first page of a region shrinks it at its start.
    target.do("map 40 3 r-- p")
    first, _, at_start, _ = snap_diff(target, "unmap 40 1")
    (pair,) = at_start.changed
    assert pair[0] == first.at(target.at(40)) and pair[1].start == target.at(41)
    assert at_start.change(*pair) == ("shrunk",)
    assert "shrunk by 4.0K at the start (12K -> 8.0K)" in at_start.to_text()


def test_a_file_mapping_moved_by_mremap_is_moved_not_removed_and_added(target, data_files):
    path = data_files[0]
    target.do(f"file 50 2 r-- p {path} 1")
    before, after, result, answers = snap_diff(target, "remap 50 2 3 300")
    assert int(answers[0][0], 16) == target.at(300)
    old, new = before.at(target.at(50)), after.at(target.at(300))
    assert (old.path, old.offset, new.path, new.offset) == (str(path), PAGE, str(path), PAGE)
    assert result.changed == [(old, new)]
    assert result.change(old, new) == ("moved", "grown")
    assert not result.added and not result.removed
    assert (
        f"moved from {target.at(50):012x}-{target.at(52):012x} (+{250 * PAGE:#x}); "
        "grown by 4.0K at the end (8.0K -> 12K)" in result.to_text()
    )


def test_another_file_at_the_same_place_changes_the_backing(target, data_files):
    one, two = data_files
    target.do(f"file 60 2 r-- p {one} 0")
    target.do("map 70 2 rw- p")
    before, after, result, _ = snap_diff(
        target, f"file 60 2 r-- p {two} 0", f"file 70 2 r-- p {one} 4"
    )
    pairs = [(before.at(target.at(page)), after.at(target.at(page))) for page in (60, 70)]
    assert result.changed == pairs
    assert result.change(*pairs[0]) == ("backing",)
    assert result.change(*pairs[1]) == ("perms", "backing")
    text = result.to_text()
    inode_one, inode_two = os.stat(one).st_ino, os.stat(two).st_ino
    assert f"backing {one} (dev " in text and f"inode {inode_one}) -> {two} (dev " in text
    assert f"inode {inode_two})" in text
    assert f"perms rw-p -> r--p; backing anonymous -> {one} (dev " in text


def test_a_deleted_file_changes_the_backing(target, data_files):
    path = data_files[1]
    target.do(f"file 80 1 r-- s {path} 0")
    before = target.snapshot()
    path.unlink()
    after = target.snapshot()
    result = memmaps.diff(before, after)
    check_accounting(result)
    old, new = before.at(target.at(80)), after.at(target.at(80))
    assert (old.deleted, new.deleted, new.inode) == (False, True, old.inode)
    assert result.changed == [(old, new)] and result.change(old, new) == ("backing",)
    assert f"r--s  4.0K file {path} (deleted): file deleted\n" in result.to_text()


def library_span(target: procutil.DiffTarget, lib: Path) -> tuple[int, int, int]:
    """Opens lib and closes it again: (base, end of its file regions, end
    of its .bss), the .bss told from anonymous memory the kernel merged with
    it by what was there before."""
    empty = target.snapshot()
    base = int(target.do(f"open {lib}")[0], 16)
    loaded = target.snapshot()
    target.do("close")
    files_end = max(r.end for r in loaded if r.path == str(lib))
    merged = loaded.at(files_end)
    assert merged is not None and merged.path is None
    neighbours = [r.start for r in empty if merged.start <= r.start < merged.end]
    return base, files_end, min([merged.end, *neighbours])


def test_a_library_loaded_elsewhere_has_moved(target, bins):
    lib = bins[1]
    _, _, bss_end = library_span(target, lib)
    # A read-only page at the end of that place: the library goes elsewhere,
    # and its .bss cannot merge with the anonymous memory above it.
    target.do(f"block {bss_end - PAGE:#x} 1 r--")
    base = int(target.do(f"open {lib}")[0], 16)
    before = target.snapshot()
    mine = [r for r in before if r.path == str(lib)]
    assert mine[0].start == base
    # The library's .bss: anonymous memory right after its data, alone.
    bss = before.at(mine[-1].end)
    assert bss is not None and bss.path is None and bss.perms == "rw-p"
    assert 256 * 1024 <= bss.size < 256 * 1024 + 2 * PAGE, bss
    span = (bss.end - base) // PAGE
    target.do("close")
    target.do(f"block {base:#x} {span} ---")
    moved_base = int(target.do(f"open {lib}")[0], 16)
    after = target.snapshot()
    result = memmaps.diff(before, after)
    check_accounting(result)
    shift = moved_base - base
    assert shift != 0
    expected = [(old, after.at(old.start + shift)) for old in [*mine, bss]]
    assert all(new is not None and new.size == old.size for old, new in expected)
    assert result.changed == sorted(expected, key=lambda pair: pair[1].start)
    assert all(result.change(old, new) == ("moved",) for old, new in expected)
    # The block is new, at the library's old place; nothing was removed.
    assert [(r.start, r.end, r.perms) for r in result.added] == [(base, base + span * PAGE, "---p")]
    assert not result.removed
    text = result.to_text()
    for old, _new in expected:
        assert f"moved from {old.start:012x}-{old.end:012x}" in text


def test_usage_figures_changed(target):
    target.do("map 90 4 rw- p")
    before, after, result, _ = snap_diff(target, "touch 90 2", usage=True)
    old, new = before.at(target.at(90)), after.at(target.at(90))
    assert old.usage.rss == 0 and new.usage.rss == 2 * PAGE
    assert result.changed == [(old, new)]
    assert result.change(old, new) == ("usage",)
    delta = result.delta(old, new)
    assert (delta.rss, delta.private_dirty, delta.anonymous, delta.swap) == (
        2 * PAGE,
        2 * PAGE,
        2 * PAGE,
        0,
    )
    total = result.usage_delta
    assert (total.rss, total.private_dirty, total.anonymous) == (2 * PAGE, 2 * PAGE, 2 * PAGE)
    text = result.to_text()
    assert "anon: resident 0B -> 8.0K (+8.0K), dirty 0B -> 8.0K (+8.0K)\n" in text
    assert text.rstrip("\n").endswith("swap 0B -> 0B (+0B)")
    assert "; resident " in text.splitlines()[-1]


def test_an_anonymous_name_changes_the_backing(target):
    target.do("map 110 2 rw- p")
    before = target.snapshot()
    target.proc.stdin.write(b"name 110 2 cache\n")
    answer = procutil.read_line(target.proc).decode()
    if answer.startswith("error prctl"):
        pytest.skip(f"this kernel cannot name anonymous memory (CONFIG_ANON_VMA_NAME): {answer}")
    assert answer == "ok\n"
    after = target.snapshot()
    result = memmaps.diff(before, after)
    check_accounting(result)
    old, new = before.at(target.at(110)), after.at(target.at(110))
    assert new.path == "[anon:cache]"
    assert result.changed == [(old, new)] and result.change(old, new) == ("backing",)


def test_two_runs_of_one_program_match_their_images(bins):
    """A harness compares the maps of two runs: ASLR puts every image
    elsewhere, and each one is "moved", not removed and added."""
    runs = []
    for _ in range(2):
        target = procutil.DiffTarget(bins[0])
        try:
            runs.append(target.snapshot())
        finally:
            procutil.stop(target.proc)
    result = memmaps.diff(*runs)
    check_accounting(result)
    images = {r.path for r in runs[0] if r.kind == "file"}
    assert str(bins[0]) in images and any("libc" in path for path in images)
    for region in [*result.added, *result.removed]:
        assert region.path not in images, region
    moved = [pair for pair in result.changed if "moved" in result.change(*pair)]
    assert {old.path for old, _ in moved} >= {str(bins[0])}
    if os.path.exists("/proc/sys/kernel/randomize_va_space"):
        with open("/proc/sys/kernel/randomize_va_space") as aslr:
            if aslr.read().strip() != "0":
                assert all(old.start != new.start for old, new in moved)


def test_diff_of_parsed_kernel_text_equals_diff_of_live_listings(target):
    """diff() works on parse() output the same as on live listings."""
    target.do("map 120 3 rw- p")
    before_text = procutil.read_maps(target.pid)
    before = memmaps.regions(target.pid)
    target.do("protect 121 1 r--")
    target.do("map 130 1 r-x p")
    after_text = procutil.read_maps(target.pid)
    after = memmaps.regions(target.pid)
    live = memmaps.diff(before, after)
    parsed = memmaps.diff(memmaps.parse(before_text), memmaps.parse(after_text))
    assert [(r.start, r.end) for r in parsed.added] == [(r.start, r.end) for r in live.added]
    assert [parsed.change(*p) for p in parsed.changed] == [live.change(*p) for p in live.changed]
    assert parsed.to_text() == live.to_text()
