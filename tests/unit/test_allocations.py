"""The fields Windows fills and Linux does not: Region.allocation_base and
Region.detail from a native list (built by the C core as a backend builds
it), Maps.coalesce(by="allocation") as Cygwin's /proc/PID/maps merges, and
to_proc_maps() of Windows regions."""

from __future__ import annotations

import os
import sys

import pytest

import memmaps
from memmaps import Maps, Region, _core
from memmaps.maps import COALESCE_BY

READ, WRITE, EXEC, SHARED = 1, 2, 4, 8
K64 = 0x10000


# ---- from the C core ---------------------------------------------------------


def test_a_native_list_gives_allocation_base_and_detail():
    listing = _core.make_listing(
        [
            (0x10000, 0x11000, READ | WRITE, None, b"heap 0x10000", 0x10000),
            (0x11000, 0x20000, READ | WRITE, None, b"heap 0x10000", 0x10000),
            (0x20000, 0x21000, READ, b"C:\\Windows\\System32\\ntdll.dll", None, 0x20000),
            (0x30000, 0x31000, READ | WRITE, None, None, 0),
        ]
    )
    first, second, image, plain = listing
    assert (first.detail, first.allocation_base) == ("heap 0x10000", 0x10000)
    assert (second.detail, second.allocation_base) == ("heap 0x10000", 0x10000)
    # Neighbours with the same label share one str, as paths do.
    assert first.detail is second.detail
    assert (image.path, image.detail, image.allocation_base) == (
        "C:\\Windows\\System32\\ntdll.dll",
        None,
        0x20000,
    )
    # 0: the system has no allocations.
    assert (plain.detail, plain.allocation_base) == (None, None)
    assert type(first) is Region and first == Region(
        0x10000, 0x11000, "rw-p", detail="heap 0x10000", allocation_base=0x10000
    )


def test_labels_survive_compaction_among_many():
    # Enough labels, each different, that the compacted buffer holds them
    # all; every one must still be its own after the move.
    records = [
        (0x100000 + i * 0x1000, 0x101000 + i * 0x1000, READ, None, f"TEB tid {i}".encode(), K64)
        for i in range(2000)
    ]
    listing = _core.make_listing(records)
    assert [region.detail for region in listing] == [f"TEB tid {i}" for i in range(2000)]
    assert {region.allocation_base for region in listing} == {K64}


def test_names_and_labels_not_valid_utf8_survive():
    # On POSIX the bytes of the file system encoding come back as
    # os.fsdecode gives them; Windows reads WTF-8 with surrogatepass.
    if sys.platform == "win32":
        pytest.skip("Windows decodes WTF-8: see test_wtf8_on_windows")
    listing = _core.make_listing([(0x10000, 0x11000, READ, b"/x\xff", b"stack \xfe", 0x10000)])
    region = listing[0]
    assert os.fsencode(region.path) == b"/x\xff"
    assert os.fsencode(region.detail) == b"stack \xfe"


@pytest.mark.skipif(sys.platform != "win32", reason="WTF-8 names are Windows'")
def test_wtf8_on_windows():
    lone = "\ud800".encode("utf-8", "surrogatepass")
    listing = _core.make_listing([(0x10000, 0x11000, READ, b"C:\\" + lone, lone, 0x10000)])
    assert listing[0].path == "C:\\\ud800" and listing[0].detail == "\ud800"


def test_normalizing_keeps_the_fields():
    # A torn listing: an older view of a region, then the newer one over
    # part of it.  The newer entry wins; the older keeps its own label and
    # base where it still shows, and so does what follows.
    listing = _core.make_listing(
        [
            (0x10000, 0x20000, READ | WRITE, None, b"old", 0x10000),
            (0x18000, 0x20000, READ, None, b"new", 0x18000),
            (0x30000, 0x40000, READ, None, b"stack tid 7", 0x30000),
        ]
    )
    assert [(r.start, r.end, r.detail, r.allocation_base) for r in listing] == [
        (0x10000, 0x18000, "old", 0x10000),
        (0x18000, 0x20000, "new", 0x18000),
        (0x30000, 0x40000, "stack tid 7", 0x30000),
    ]


def test_make_listing_refuses_what_is_not_bytes():
    with pytest.raises(TypeError, match="bytes or None"):
        _core.make_listing([(0x1000, 0x2000, READ, "name", None, 0)])


# ---- coalesce(by=...) --------------------------------------------------------------


def win(start, end, perms, base, tag="private", detail=None, path=None, kind="anon", **fields):
    return Region(
        start,
        end,
        perms,
        path=path,
        kind=kind,
        max_perms="rw-",
        tag=tag,
        detail=detail,
        allocation_base=base,
        **fields,
    )


DLL = "C:\\Windows\\System32\\kernel32.dll"
# A thread's stack (reserved, guard, committed), a DLL's sections, two heap
# allocations side by side, the pieces of one private allocation that
# differ only in protection bits perms does not show.
PROCESS = [
    win(0x100000, 0x1F0000, "---p", 0x100000, "private reserved", "stack tid 7"),
    win(0x1F0000, 0x1F1000, "rw-p", 0x100000, "private", "stack tid 7", kind="guard"),
    win(0x1F1000, 0x1F2000, "rw-p", 0x100000, "private", "stack tid 7", kind="guard"),
    win(0x1F2000, 0x200000, "rw-p", 0x100000, "private", "stack tid 7"),
    win(0x7FF800000000, 0x7FF800001000, "r--p", 0x7FF800000000, "image", path=DLL, kind="file"),
    win(0x7FF800001000, 0x7FF800080000, "r-xp", 0x7FF800000000, "image", path=DLL, kind="file"),
    win(0x7FF800080000, 0x7FF8000A0000, "r--p", 0x7FF800000000, "image", path=DLL, kind="file"),
    win(0x7FF8000A0000, 0x7FF8000A2000, "r--p", 0x7FF800000000, "image", path=DLL, kind="file"),
    win(0x7FF8000A2000, 0x7FF8000A4000, "rw-p", 0x7FF800000000, "image", path=DLL, kind="file"),
    win(0x300000, 0x310000, "rw-p", 0x300000, detail="heap 0x300000"),
    win(0x310000, 0x320000, "rw-p", 0x310000, detail="heap 0x300000"),
    win(0x400000, 0x401000, "rw-p", 0x400000),
    win(0x401000, 0x402000, "rw-p", 0x400000),
]
PROCESS.sort(key=lambda region: region.start)


def starts(maps):
    return [(region.start, region.end) for region in maps]


def test_coalesce_by_allocation_merges_one_allocation_with_the_same_perms():
    maps = Maps(PROCESS, 4242)
    merged = maps.coalesce(by="allocation")
    assert starts(merged) == [
        (0x100000, 0x1F0000),  # the stack's reserve
        (0x1F0000, 0x1F2000),  # its guard pages, as one
        (0x1F2000, 0x200000),
        (0x300000, 0x310000),  # two heap allocations stay two
        (0x310000, 0x320000),
        (0x400000, 0x402000),  # one allocation's pieces
        (0x7FF800000000, 0x7FF800001000),  # the DLL: headers, code,
        (0x7FF800001000, 0x7FF800080000),
        (0x7FF800080000, 0x7FF8000A2000),  # .rdata and .pdata read-only both
        (0x7FF8000A2000, 0x7FF8000A4000),
    ]
    assert merged.pid == 4242
    assert merged[6].path == DLL and merged[8].allocation_base == 0x7FF800000000
    assert sum(region.size for region in merged) == sum(region.size for region in maps)


def test_coalesce_by_attributes_keeps_allocations_apart():
    # Everything but the bounds must agree, the allocation base too: the two
    # heap allocations, with the same attributes, stay two.
    merged = Maps(PROCESS).coalesce()
    assert Maps(PROCESS).coalesce(by="attributes") == merged
    assert (0x300000, 0x310000) in starts(merged) and (0x310000, 0x320000) in starts(merged)
    assert (0x400000, 0x402000) in starts(merged)


def test_coalesce_by_attributes_does_not_merge_different_labels():
    regions = [
        Region(0x1000, 0x2000, "rw-p", detail="TEB tid 1"),
        Region(0x2000, 0x3000, "rw-p", detail="TEB tid 2"),
    ]
    assert len(Maps(regions).coalesce()) == 2


def test_regions_without_an_allocation_never_merge_by_allocation():
    linux = memmaps.parse(
        "00400000-00401000 rw-p 00000000 00:00 0 \n00401000-00402000 rw-p 00000000 00:00 0 \n"
    )
    assert len(linux.coalesce()) == 1
    assert linux.coalesce(by="allocation") == linux


def test_coalesce_by_allocation_adds_usage_up():
    usage = memmaps.Usage(size=0x1000, rss=0x1000, private_dirty=0x1000)
    regions = [
        win(0x400000, 0x401000, "rw-p", 0x400000, usage=usage),
        win(0x401000, 0x402000, "rw-p", 0x400000, usage=usage),
    ]
    (merged,) = Maps(regions).coalesce(by="allocation")
    assert merged.usage == usage + usage


@pytest.mark.parametrize("by", ["allocations", "", None, "ATTRIBUTES"])
def test_a_bad_way_to_coalesce_names_the_choices(by):
    with pytest.raises(ValueError, match="'attributes', 'allocation'") as caught:
        Maps(PROCESS).coalesce(by=by)
    assert repr(by) in str(caught.value)
    assert COALESCE_BY == ("attributes", "allocation")


# ---- to_proc_maps() of Windows regions ------------------------------------------------


def test_to_proc_maps_shows_windows_regions_as_cygwin_does():
    text = Maps(PROCESS).coalesce(by="allocation").to_proc_maps()
    lines = text.splitlines()
    pad = " " * (72 - len("00100000-001f0000 ===p 00000000 00:00 0 "))
    # Reserved address space as ===, a guard page as g; the offset is into
    # the allocation; a nameless region shows its label in brackets.
    assert lines[0] == "00100000-001f0000 ===p 00000000 00:00 0 " + pad + " [stack tid 7]"
    assert lines[1].startswith("001f0000-001f2000 rw-g 000f0000 00:00 0 ")
    assert lines[1].endswith(" [stack tid 7]")
    assert lines[2].startswith("001f2000-00200000 rw-p 000f2000 ")
    assert lines[5] == "00400000-00402000 rw-p 00000000 00:00 0 "
    assert lines[7].startswith("7ff800001000-7ff800080000 r-xp 00001000 00:00 0 ")
    assert lines[7].endswith(" " + DLL)
    assert len(lines) == 10


def test_to_proc_maps_of_linux_regions_is_unchanged():
    text = (
        "00400000-00401000 r-xp 00000000 08:01 1234                               /bin/x\n"
        "00401000-00402000 ---p 00000000 00:00 0 \n"
    )
    assert memmaps.parse(text).to_proc_maps() == text


def test_diff_names_a_new_allocation():
    old = win(0x400000, 0x401000, "rw-p", 0x400000)
    new = old._replace(allocation_base=0x3F0000)
    result = memmaps.diff(Maps([old]), Maps([new]))
    assert "allocation 0x400000 -> 0x3f0000" in result.to_text()
