"""Maps: sequence behaviour, at(), filter(), coalesce(), group_by_path() and
the renderings, on hand-written kernel text and on this process's own map."""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import re
import sys

import pytest

import memmaps
from memmaps import Maps, Region
from tests.helpers import procutil


def line(start, end, perms, offset=0, major=0, minor=0, inode=0, name=None):
    """One /proc/PID/maps line as the kernel prints it (fs/proc/task_mmu.c):
    the prefix ends in a space, a named line is padded to column 72 and gets
    one more space, so the name starts at column max(len(prefix), 72) + 1."""
    prefix = f"{start:08x}-{end:08x} {perms} {offset:08x} {major:02x}:{minor:02x} {inode} "
    if name is None:
        return prefix + "\n"
    return prefix + " " * max(0, 72 - len(prefix)) + " " + name + "\n"


PROG = "/usr/bin/prog"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
CACHE = "/usr/share/x.cache"

SAMPLE_TEXT = "".join(
    [
        line(0x400000, 0x401000, "r--p", 0, 8, 1, 100, PROG),
        line(0x401000, 0x403000, "r-xp", 0x1000, 8, 1, 100, PROG),
        line(0x403000, 0x404000, "rw-p", 0x3000, 8, 1, 100, PROG),
        line(0x404000, 0x425000, "rw-p", 0, 0, 0, 0, "[heap]"),
        # gap
        line(0x7F0000000000, 0x7F0000002000, "rw-p"),
        line(0x7F0000002000, 0x7F0000003000, "rw-s", 0, 0, 1, 7, "/dev/zero (deleted)"),
        # gap
        line(0x7F0000010000, 0x7F0000030000, "r-xp", 0, 8, 1, 200, LIBC),
        line(0x7F0000030000, 0x7F0000031000, "rwxp", 0x20000, 8, 1, 200, LIBC),
        line(0x7F0000031000, 0x7F0000038000, "r--s", 0, 8, 1, 300, CACHE),
        # gap
        line(0x7FFC00000000, 0x7FFC00021000, "rw-p", 0, 0, 0, 0, "[stack]"),
        line(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", 0, 0, 0, 0, "[vsyscall]"),
    ]
)

SAMPLE_REGIONS = (
    Region(0x400000, 0x401000, "r--p", 0, 8, 1, 100, PROG, False, "file"),
    Region(0x401000, 0x403000, "r-xp", 0x1000, 8, 1, 100, PROG, False, "file"),
    Region(0x403000, 0x404000, "rw-p", 0x3000, 8, 1, 100, PROG, False, "file"),
    Region(0x404000, 0x425000, "rw-p", 0, 0, 0, 0, "[heap]", False, "heap"),
    Region(0x7F0000000000, 0x7F0000002000, "rw-p", 0, 0, 0, 0, None, False, "anon"),
    Region(0x7F0000002000, 0x7F0000003000, "rw-s", 0, 0, 1, 7, "/dev/zero", True, "shmem"),
    Region(0x7F0000010000, 0x7F0000030000, "r-xp", 0, 8, 1, 200, LIBC, False, "file"),
    Region(0x7F0000030000, 0x7F0000031000, "rwxp", 0x20000, 8, 1, 200, LIBC, False, "file"),
    Region(0x7F0000031000, 0x7F0000038000, "r--s", 0, 8, 1, 300, CACHE, False, "file"),
    Region(0x7FFC00000000, 0x7FFC00021000, "rw-p", 0, 0, 0, 0, "[stack]", False, "stack"),
    Region(
        0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", 0, 0, 0, 0, "[vsyscall]", False, "vsyscall"
    ),
)


@pytest.fixture
def sample():
    return memmaps.parse(SAMPLE_TEXT)


@pytest.fixture(scope="module")
def live():
    return memmaps.regions()


# ---- construction and the sequence protocol ----


def test_parse_gives_the_expected_regions(sample):
    assert isinstance(sample, Maps)
    assert sample.pid is None
    assert tuple(sample) == SAMPLE_REGIONS


def test_live_maps_of_this_process(live):
    assert isinstance(live, Maps)
    assert live.pid == os.getpid()
    assert len(live) > 10
    for before, after in itertools.pairwise(live):
        assert before.start < before.end <= after.start
    paths = {region.path for region in live}
    assert any(region.kind == "stack" for region in live)
    if memmaps.BACKEND == "linux":
        assert "[stack]" in paths
    # normcase: Windows compares paths without case (a no-op elsewhere).
    core = os.path.normcase(os.path.realpath(memmaps._core.__file__))
    assert core in {os.path.normcase(path) for path in paths if path is not None}
    # Objects made before the map was read live in memory it shows.
    for obj in (SAMPLE_REGIONS, memmaps, pytest):
        holder = live.at(id(obj))
        assert holder is not None
        assert holder.readable
        assert holder.writable


def test_len_and_getitem(sample):
    assert len(sample) == 11
    assert sample[0] == SAMPLE_REGIONS[0]
    assert sample[3].path == "[heap]"
    assert sample[-1].path == "[vsyscall]"
    assert sample[-11] == SAMPLE_REGIONS[0]
    with pytest.raises(IndexError):
        sample[11]
    with pytest.raises(IndexError):
        sample[-12]
    with pytest.raises(TypeError):
        sample["0"]  # type: ignore[call-overload]


def test_slices_are_maps_with_the_same_pid(sample, live):
    part = sample[1:4]
    assert type(part) is Maps
    assert part.pid is None
    assert tuple(part) == SAMPLE_REGIONS[1:4]
    assert sample[:0] == Maps(())
    assert len(sample[:0]) == 0
    assert tuple(sample[::2]) == SAMPLE_REGIONS[::2]

    live_part = live[2:5]
    assert type(live_part) is Maps
    assert live_part.pid == os.getpid()
    assert tuple(live_part) == tuple(live)[2:5]
    assert live_part.at(live[3].start) == live[3]
    assert live_part.at(live[0].start) is None


def test_reversed_slice_never_gives_a_maps_that_answers_wrong(sample):
    # Maps is "an immutable, address-ordered sequence" and at() bisects.  A
    # slice with a negative step may be refused; what it must not do is hand
    # back a Maps in the wrong order whose at() then misses regions.
    try:
        backwards = sample[::-1]
    except ValueError:
        assert list(reversed(sample)) == list(reversed(SAMPLE_REGIONS))
        return
    for region in SAMPLE_REGIONS:
        assert backwards.at(region.start) == region


def test_maps_built_from_unordered_regions_never_answers_wrong():
    shuffled = [SAMPLE_REGIONS[i] for i in (3, 0, 10, 5, 1, 2, 4, 9, 6, 8, 7)]
    try:
        maps = Maps(shuffled)
    except ValueError:
        pass
    else:
        for region in SAMPLE_REGIONS:
            assert maps.at(region.start) == region
    overlapping = [SAMPLE_REGIONS[0], SAMPLE_REGIONS[0]._replace(start=0x400800, end=0x402000)]
    try:
        maps = Maps(overlapping)
    except ValueError:
        pass
    else:
        assert maps.at(0x400900) in overlapping
        assert maps.at(0x401800) == overlapping[1]


def test_iteration_and_membership(sample):
    assert list(sample) == list(SAMPLE_REGIONS)
    assert list(reversed(sample)) == list(reversed(SAMPLE_REGIONS))
    assert SAMPLE_REGIONS[5] in sample
    assert SAMPLE_REGIONS[5]._replace(end=0x7F0000004000) not in sample
    assert sample.index(SAMPLE_REGIONS[6]) == 6
    assert sample.count(SAMPLE_REGIONS[6]) == 1


def test_equality_and_hash(sample):
    again = memmaps.parse(SAMPLE_TEXT)
    assert again == sample
    assert hash(again) == hash(sample)
    assert len({sample, again}) == 1
    # Equality is about the regions, not where they came from.
    with_pid = Maps(SAMPLE_REGIONS, 4242)
    assert with_pid.pid == 4242
    assert with_pid == sample
    assert hash(with_pid) == hash(sample)
    # One region less, or one field different: not equal.
    assert sample[1:] != sample
    changed = Maps((*SAMPLE_REGIONS[:-1], SAMPLE_REGIONS[-1]._replace(perms="r-xp")))
    assert changed != sample
    # Not equal to a plain list or tuple of the same regions.
    assert sample != list(SAMPLE_REGIONS)
    assert sample != SAMPLE_REGIONS


def test_maps_from_any_iterable():
    maps = Maps(iter(SAMPLE_REGIONS[:3]), 7)
    assert maps.pid == 7
    assert tuple(maps) == SAMPLE_REGIONS[:3]
    assert Maps().pid is None
    assert len(Maps()) == 0


def test_repr(sample, live):
    # 0x1000+0x2000+0x1000+0x21000+0x2000+0x1000+0x20000+0x1000+0x7000+0x21000+0x1000
    assert sum(r.size for r in SAMPLE_REGIONS) == 0x72000 == 456 * 1024
    assert repr(sample) == "<Maps parsed: 11 regions, 456K mapped>"
    assert repr(sample[:1]) == "<Maps parsed: 1 region, 4.0K mapped>"
    assert repr(Maps(SAMPLE_REGIONS[:3], 99)) == "<Maps pid=99: 3 regions, 16K mapped>"
    assert repr(live).startswith(f"<Maps pid={os.getpid()}: {len(live)} regions, ")


def test_immutable(sample):
    with pytest.raises(AttributeError):
        sample.pid = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        sample[0] = SAMPLE_REGIONS[1]  # type: ignore[index]


# ---- at() ----


def test_at_every_region_bound(sample):
    regions = list(sample)
    for index, region in enumerate(regions):
        assert sample.at(region.start) == region
        assert sample.at(region.end - 1) == region
        assert sample.at(region.start + region.size // 2) == region
        following = regions[index + 1] if index + 1 < len(regions) else None
        if following is not None and following.start == region.end:
            assert sample.at(region.end) == following
        else:
            assert sample.at(region.end) is None


@pytest.mark.parametrize(
    "addr",
    [
        0,
        1,
        0x3FFFFF,  # below the first region
        0x425000,  # gaps
        0x500000,
        0x7EFFFFFFFFFF,
        0x7F0000003000,
        0x7F000000FFFF,
        0x7F0000038000,
        0x7FFBFFFFFFFF,
        0x7FFC00021000,
        0xFFFFFFFFFF5FFFFF,
        0xFFFFFFFFFF601000,  # above the last
        2**64 - 1,
        2**64,
        2**100,
        -1,
        -0x400000,
    ],
)
def test_at_unmapped(sample, addr):
    assert sample.at(addr) is None


@pytest.mark.parametrize("addr", [0x400000 + 0.0, "0x400000", None, b"\x00", [0x400000]])
def test_at_bad_type(sample, addr):
    with pytest.raises(TypeError, match="addr"):
        sample.at(addr)


def test_at_on_empty_maps():
    assert Maps().at(0) is None
    assert Maps().at(0x400000) is None


def test_at_agrees_with_a_linear_scan(live):
    regions = list(live)
    rng = random.Random(20240611)
    addrs = [rng.randrange(2**64) for _ in range(2000)]
    addrs += [rng.randrange(0x7F0000000000, 0x800000000000) for _ in range(1000)]
    for region in regions:
        addrs += [region.start - 1, region.start, region.end - 1, region.end]
        addrs += [rng.randrange(region.start, region.end) for _ in range(4)]
    assert len(addrs) > 3000
    found_some = 0
    for addr in addrs:
        expected = next((r for r in regions if r.start <= addr < r.end), None)
        assert live.at(addr) == expected, hex(addr)
        found_some += expected is not None
    assert found_some >= 6 * len(regions)


# ---- filter() ----

ALL_PERMS = [r + w + x + s for r in "r-" for w in "w-" for x in "x-" for s in "ps"]


@pytest.fixture
def every_perms():
    text = "".join(
        line(0x10000 + i * 0x1000, 0x11000 + i * 0x1000, perms) for i, perms in enumerate(ALL_PERMS)
    )
    maps = memmaps.parse(text)
    assert [r.perms for r in maps] == ALL_PERMS
    return maps


def kept_perms(maps):
    return sorted(r.perms for r in maps)


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("r-x", ["r-xp", "r-xs", "rwxp", "rwxs"]),
        ("rx", ["r-xp", "r-xs", "rwxp", "rwxs"]),
        ("xr", ["r-xp", "r-xs", "rwxp", "rwxs"]),
        ("r-xp", ["r-xp", "rwxp"]),
        ("r-xs", ["r-xs", "rwxs"]),
        ("rw", ["rw-p", "rw-s", "rwxp", "rwxs"]),
        ("rw-", ["rw-p", "rw-s", "rwxp", "rwxs"]),
        ("w", ["-w-p", "-w-s", "-wxp", "-wxs", "rw-p", "rw-s", "rwxp", "rwxs"]),
        ("x", ["--xp", "--xs", "-wxp", "-wxs", "r-xp", "r-xs", "rwxp", "rwxs"]),
        ("rwx", ["rwxp", "rwxs"]),
        ("s", sorted(p for p in ALL_PERMS if p.endswith("s"))),
        ("p", sorted(p for p in ALL_PERMS if p.endswith("p"))),
        ("---p", sorted(p for p in ALL_PERMS if p.endswith("p"))),
        ("----", sorted(ALL_PERMS)),
        ("-", sorted(ALL_PERMS)),
        ("rs", ["r--s", "r-xs", "rw-s", "rwxs"]),
    ],
)
def test_filter_perms_at_least(every_perms, wanted, expected):
    result = every_perms.filter(wanted)
    assert kept_perms(result) == sorted(expected)
    assert every_perms.filter(perms=wanted) == result
    # Address order is kept.
    assert list(result) == sorted(result, key=lambda r: r.start)


def test_filter_perms_reference(every_perms):
    # Every combination of the letters against an independent definition.
    for wanted in ["r", "w", "x", "rw", "rx", "wx", "rwx", "rp", "ws", "rwxp", "-w-s"]:

        def passes(perms, wanted=wanted):
            for letter, index in (("r", 0), ("w", 1), ("x", 2)):
                if letter in wanted and perms[index] != letter:
                    return False
            return not ("s" in wanted and perms[3] != "s") and not (
                "p" in wanted and perms[3] != "p"
            )

        expected = sorted(p for p in ALL_PERMS if passes(p))
        assert kept_perms(every_perms.filter(wanted)) == expected, wanted


@pytest.mark.parametrize("bad", ["q", "rwq", "R", "rwxpx", "", "r x", "sp"])
def test_filter_perms_invalid_letters(sample, bad):
    with pytest.raises(ValueError, match="perms"):
        sample.filter(bad)


@pytest.mark.parametrize("bad", [5, b"r-x", ["r"], ("r", "x")])
def test_filter_perms_not_a_str(sample, bad):
    with pytest.raises(TypeError, match="perms"):
        sample.filter(bad)


def test_filter_no_arguments_keeps_everything(sample):
    assert sample.filter() == sample


def test_filter_path_full(sample):
    assert tuple(sample.filter(path=LIBC)) == SAMPLE_REGIONS[6:8]
    assert tuple(sample.filter(path=PROG)) == SAMPLE_REGIONS[0:3]
    assert tuple(sample.filter(path="/dev/zero")) == SAMPLE_REGIONS[5:6]
    # A full path must match exactly: neither a directory nor another path.
    assert len(sample.filter(path="/usr/lib/x86_64-linux-gnu")) == 0
    assert len(sample.filter(path="/lib/x86_64-linux-gnu/libc.so.6")) == 0
    assert len(sample.filter(path="/usr/bin/prog/")) == 0


def test_filter_path_bare_file_name(sample):
    assert tuple(sample.filter(path="libc.so.6")) == SAMPLE_REGIONS[6:8]
    assert tuple(sample.filter(path="prog")) == SAMPLE_REGIONS[0:3]
    assert tuple(sample.filter(path="[heap]")) == SAMPLE_REGIONS[3:4]
    assert tuple(sample.filter(path="zero")) == SAMPLE_REGIONS[5:6]
    # A bare name is the whole file name, not a part of it.
    assert len(sample.filter(path="libc")) == 0
    assert len(sample.filter(path="libc.so")) == 0
    assert len(sample.filter(path="heap")) == 0


def test_filter_path_regex(sample):
    assert tuple(sample.filter(path=re.compile(r"libc\.so"))) == SAMPLE_REGIONS[6:8]
    assert tuple(sample.filter(path=re.compile(r"^\["))) == (
        SAMPLE_REGIONS[3],
        SAMPLE_REGIONS[9],
        SAMPLE_REGIONS[10],
    )
    # search, not match; nameless regions never match, even ".*".
    assert tuple(sample.filter(path=re.compile("prog$"))) == SAMPLE_REGIONS[0:3]
    assert len(sample.filter(path=re.compile(".*"))) == len(SAMPLE_REGIONS) - 1
    assert SAMPLE_REGIONS[4] not in sample.filter(path=re.compile(".*"))


@pytest.mark.parametrize("bad", [b"/usr/bin/prog", 5, ["prog"]])
def test_filter_path_bad_type(sample, bad):
    with pytest.raises(TypeError, match="path"):
        sample.filter(path=bad)


def test_filter_kind(sample):
    assert tuple(sample.filter(kind="heap")) == SAMPLE_REGIONS[3:4]
    assert tuple(sample.filter(kind="file")) == tuple(r for r in SAMPLE_REGIONS if r.kind == "file")
    assert len(sample.filter(kind="file")) == 6
    assert tuple(sample.filter(kind=["heap", "stack"])) == (SAMPLE_REGIONS[3], SAMPLE_REGIONS[9])
    assert tuple(sample.filter(kind=("anon", "shmem", "vsyscall"))) == (
        SAMPLE_REGIONS[4],
        SAMPLE_REGIONS[5],
        SAMPLE_REGIONS[10],
    )
    assert tuple(sample.filter(kind={"stack"})) == SAMPLE_REGIONS[9:10]
    assert tuple(sample.filter(kind=(k for k in ["vsyscall"]))) == SAMPLE_REGIONS[10:]
    assert len(sample.filter(kind="memfd")) == 0


@pytest.mark.parametrize("bad", ["nope", ["file", "nope"], "File", ("heap", "")])
def test_filter_kind_unknown(sample, bad):
    with pytest.raises(ValueError, match="kind"):
        sample.filter(kind=bad)


def test_filter_where(sample):
    big = sample.filter(where=lambda r: r.size >= 0x20000)
    assert tuple(big) == (SAMPLE_REGIONS[3], SAMPLE_REGIONS[6], SAMPLE_REGIONS[9])
    assert len(sample.filter(where=lambda r: False)) == 0
    with pytest.raises(TypeError, match="where"):
        sample.filter(where="size > 0")  # type: ignore[arg-type]


def test_filter_combinations(sample, live):
    combined = sample.filter("r", path="libc.so.6", kind="file", where=lambda r: r.size == 0x1000)
    assert tuple(combined) == SAMPLE_REGIONS[7:8]
    assert tuple(sample.filter("rw", kind=["anon", "heap", "stack"])) == (
        SAMPLE_REGIONS[3],
        SAMPLE_REGIONS[4],
        SAMPLE_REGIONS[9],
    )
    assert tuple(sample.filter("s", path=re.compile("^/"))) == (
        SAMPLE_REGIONS[5],
        SAMPLE_REGIONS[8],
    )
    assert len(sample.filter("w", path=CACHE)) == 0

    # On the live map: the combination is the intersection of each test.
    core = os.path.realpath(memmaps._core.__file__)
    result = live.filter("r-x", path=core, kind="file")
    assert result.pid == os.getpid()
    expected = [
        r
        for r in live
        if r.perms[0] == "r" and r.perms[2] == "x" and r.path == core and r.kind == "file"
    ]
    assert list(result) == expected
    assert len(result) >= 1


def test_filter_keeps_pid(live):
    assert live.filter("r").pid == os.getpid()
    assert live.filter(kind="stack").pid == os.getpid()
    assert live.filter(where=lambda r: False).pid == os.getpid()
    assert Maps(SAMPLE_REGIONS, 31).filter(path="prog").pid == 31


# ---- coalesce() ----


def filemap(start, end, offset, **changes):
    region = Region(start, end, "r--p", offset, 8, 1, 100, "/data/f", False, "file")
    return region._replace(**changes)


def anon(start, end, **changes):
    return Region(start, end, "rw-p")._replace(**changes)


def test_coalesce_merges_continuous_file_regions():
    maps = Maps(
        (
            filemap(0x10000, 0x11000, 0x0),
            filemap(0x11000, 0x13000, 0x1000),
            filemap(0x13000, 0x14000, 0x3000),
        ),
        123,
    )
    merged = maps.coalesce()
    assert type(merged) is Maps
    assert merged.pid == 123
    assert tuple(merged) == (filemap(0x10000, 0x14000, 0x0),)
    # The original is untouched.
    assert len(maps) == 3


def test_coalesce_merges_at_a_nonzero_starting_offset():
    maps = Maps((filemap(0x10000, 0x11000, 0x5000), filemap(0x11000, 0x12000, 0x6000)))
    assert tuple(maps.coalesce()) == (filemap(0x10000, 0x12000, 0x5000),)


def test_coalesce_does_not_merge_across_a_gap():
    maps = Maps((filemap(0x10000, 0x11000, 0x0), filemap(0x12000, 0x13000, 0x1000)))
    assert maps.coalesce() == maps


@pytest.mark.parametrize(
    "changes",
    [
        {"perms": "r-xp"},
        {"perms": "r--s"},
        {"path": "/data/g"},
        {"inode": 101},
        {"dev_minor": 2},
        {"dev_major": 9},
        {"deleted": True},
        {"offset": 0x2000},  # skips a page of the file
        {"offset": 0x0},  # starts the file again
        {"kind": "special"},
        {"max_perms": "rwx"},
        {"share_mode": "COW"},
        {"tag": "mapped"},
    ],
)
def test_coalesce_does_not_merge_different_neighbours(changes):
    first = filemap(0x10000, 0x11000, 0x0)
    second = filemap(0x11000, 0x12000, 0x1000)._replace(**changes)
    maps = Maps((first, second), 5)
    assert tuple(maps.coalesce()) == (first, second)
    # The same difference on the first region works the same way.
    maps = Maps((filemap(0x10000, 0x11000, 0x0)._replace(**changes), second._replace(**changes)))
    if "offset" not in changes:
        assert len(maps.coalesce()) == 1


def test_coalesce_anonymous_regions():
    maps = Maps(
        (
            anon(0x1000, 0x2000),
            anon(0x2000, 0x5000),
            anon(0x5000, 0x6000, perms="r--p"),
            anon(0x6000, 0x7000, path="[anon:jit]"),
            anon(0x7000, 0x9000, path="[anon:jit]"),
            anon(0x9000, 0xA000, path="[anon:other]"),
            anon(0xB000, 0xC000),
            anon(0xC000, 0xD000),
        ),
        77,
    )
    merged = maps.coalesce()
    assert merged.pid == 77
    assert tuple(merged) == (
        anon(0x1000, 0x5000),
        anon(0x5000, 0x6000, perms="r--p"),
        anon(0x6000, 0x9000, path="[anon:jit]"),
        anon(0x9000, 0xA000, path="[anon:other]"),
        anon(0xB000, 0xD000),
    )
    for region in merged:
        assert region.usage is None


def test_coalesce_usage():
    # usage None stays None; figures that exist are added up.
    assert Maps((anon(0x1000, 0x2000), anon(0x2000, 0x3000))).coalesce()[0].usage is None
    mixed = Maps((anon(0x1000, 0x2000, usage=4096), anon(0x2000, 0x3000))).coalesce()
    assert len(mixed) == 1
    assert mixed[0].usage is None
    summed = Maps((anon(0x1000, 0x2000, usage=4096), anon(0x2000, 0x3000, usage=8192)))
    assert summed.coalesce()[0].usage == 12288


def test_coalesce_sample(sample):
    # Nothing in the sample continues its neighbour: the PROG regions differ
    # in perms, the anon and /dev/zero regions in everything.
    assert sample.coalesce() == sample
    assert sample.coalesce().pid is None


def test_coalesce_live(live):
    merged = live.coalesce()
    assert merged.pid == os.getpid()
    assert sum(r.size for r in merged) == sum(r.size for r in live)
    assert len(merged) <= len(live)
    # Every region is inside exactly one merged region with its attributes.
    for region in live:
        holders = [m for m in merged if m.start <= region.start and region.end <= m.end]
        assert len(holders) == 1
        assert holders[0][2:3] == region[2:3]
        assert holders[0][4:10] == region[4:10]
    # Coalescing again changes nothing.
    assert merged.coalesce() == merged


# ---- group_by_path() ----


def test_group_by_path():
    text = "".join(
        [
            line(0x400000, 0x401000, "r--p", 0, 8, 1, 100, PROG),
            line(0x401000, 0x402000, "rw-p"),
            line(0x500000, 0x501000, "r-xp", 0, 8, 1, 200, LIBC),
            line(0x600000, 0x601000, "rw-p", 0x1000, 8, 1, 100, PROG),
            line(0x700000, 0x702000, "rw-p"),
            line(0x800000, 0x821000, "rw-p", 0, 0, 0, 0, "[heap]"),
            line(0x900000, 0x901000, "rw-p", 0x1000, 8, 1, 200, LIBC + " (deleted)"),
        ]
    )
    maps = Maps(memmaps.parse(text), 555)
    groups = maps.group_by_path()
    assert list(groups) == [PROG, None, LIBC, "[heap]"]
    assert [r.start for r in groups[PROG]] == [0x400000, 0x600000]
    assert [r.start for r in groups[None]] == [0x401000, 0x700000]
    assert [r.start for r in groups[LIBC]] == [0x500000, 0x900000]
    assert [r.start for r in groups["[heap]"]] == [0x800000]
    for key, group in groups.items():
        assert type(group) is Maps
        assert group.pid == 555
        assert all(r.path == key for r in group)
    # Every region in exactly one group.
    flat = [r for group in groups.values() for r in group]
    assert len(flat) == len(maps)
    assert sorted(flat) == sorted(maps)


def test_group_by_path_live(live):
    groups = live.group_by_path()
    flat = [r for group in groups.values() for r in group]
    assert len(flat) == len(live)
    assert set(flat) == set(live)
    first_seen = list(dict.fromkeys(r.path for r in live))
    assert list(groups) == first_seen
    assert all(group.pid == os.getpid() for group in groups.values())


def test_group_by_path_empty():
    assert Maps().group_by_path() == {}


# ---- to_proc_maps() ----


# Memory of most kinds: a memfd, shared anonymous memory, a no-access
# reserve, a file that is then deleted, beside the interpreter's own.
STILL_CHILD = """
import mmap, os, sys
fd = os.memfd_create("still")
os.ftruncate(fd, 8192)
gone = os.path.join(sys.argv[1], "gone")
with open(gone, "wb") as f:
    f.write(bytes(4096))
with open(gone, "rb") as f:
    held = [mmap.mmap(fd, 8192), mmap.mmap(-1, 4096, flags=mmap.MAP_SHARED),
            mmap.mmap(-1, 4096, prot=0), mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ)]
os.unlink(gone)
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc/PID/maps")
def test_to_proc_maps_equals_the_kernel_text(tmp_path):
    # A process that waits on its stdin maps nothing meanwhile, so its text
    # read before and after the listing is the one the listing must print.
    process = procutil.start([sys.executable, "-c", STILL_CHILD, str(tmp_path)])
    try:
        assert procutil.read_line(process) == b"ready\n"
        maps_file = f"/proc/{process.pid}/maps"
        with open(maps_file, "rb") as before_file:
            before = before_file.read()
        ours = os.fsencode(memmaps.regions(process.pid).to_proc_maps())
        with open(maps_file, "rb") as after_file:
            after = after_file.read()
    finally:
        procutil.stop(process)
    assert before == after
    assert ours == before


ROUND_TRIPS = {
    "sample": SAMPLE_TEXT,
    "empty": "",
    "nameless": line(0x1000, 0x2000, "rw-p"),
    "vsyscall": line(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", 0, 0, 0, 0, "[vsyscall]"),
    "offset-4GiB": line(0x7F0000000000, 0x7F0000001000, "r--p", 0x100000000, 8, 1, 99, "/big"),
    "offset-huge": line(0x7F0000000000, 0x7F0000001000, "r--p", 0xFFFFFFFFF000, 8, 1, 99, "/b"),
    "offset-8-digits": line(0x10000, 0x11000, "r--p", 0xFFFFF000, 8, 1, 99, "/edge"),
    "leading-spaces": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "  lead"),
    "trailing-spaces": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/trail  "),
    "only-a-space": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, " "),
    "inner-spaces": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/my dir/a  b"),
    "tab": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/a\tb\t"),
    "backslash": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/a\\b\\"),
    "escaped-newline": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/a\\012b"),
    "escaped-newline-end": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/a\\012"),
    "deleted": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/gone (deleted)"),
    "deleted-twice": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/x (deleted) (deleted)"),
    "deleted-with-newline": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/a\\012b (deleted)"),
    "dev-zero": line(0x1000, 0x2000, "rw-s", 0, 0, 1, 2051, "/dev/zero (deleted)"),
    "memfd": line(0x1000, 0x2000, "rw-s", 0, 0, 1, 1025, "/memfd:a b (deleted)"),
    "sysv": line(0x1000, 0x2000, "rw-s", 0, 0, 1, 65538, "/SYSV0000002a (deleted)"),
    "anon-name": line(0x1000, 0x2000, "rw-p", 0, 0, 0, 0, "[anon:my name]"),
    "major-above-ff": line(0x1000, 0x2000, "r--p", 0, 0x103, 0x5, 12, "/nvme"),
    "minor-above-ff": line(0x1000, 0x2000, "r--p", 0, 0x8, 0x1F0, 12, "/m"),
    "long-prefix": line(
        0xFFFFFFFFFF600000,
        0xFFFFFFFFFF601000,
        "r--p",
        0x123456789000,
        0x103,
        0xFFFFF,
        2**64 - 1,
        "/long",
    ),
    "long-prefix-leading-space": line(
        0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "r--p", 0, 0x103, 5, 2**64 - 1, " lead"
    ),
    "long-prefix-nameless": line(
        0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "r--p", 0, 0x103, 5, 2**64 - 1
    ),
    # 16-digit addresses: the prefix is 55 characters plus the inode's digits.
    "prefix-71": line(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "r--p", 0, 8, 1, 10**15, "/x"),
    "prefix-72": line(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "r--p", 0, 8, 1, 10**16, "/x"),
    "prefix-73": line(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "r--p", 0, 8, 1, 10**17, "/x"),
    "short-addresses": line(0x0, 0x1000, "---p", 0, 0, 0, 0, "/zero"),
    "unicode": line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/données/日本.so"),
}


def test_round_trip_texts_are_what_the_kernel_prints():
    # Check the helper itself against facts, so the cases above mean something.
    long = ROUND_TRIPS["long-prefix"]
    assert long == (
        "ffffffffff600000-ffffffffff601000 r--p 123456789000 103:fffff "
        "18446744073709551615  /long\n"
    )
    assert ROUND_TRIPS["vsyscall"] == (
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0" + " " * 18 + "[vsyscall]\n"
    )
    assert ROUND_TRIPS["vsyscall"].index("[vsyscall]") == 73
    assert ROUND_TRIPS["nameless"] == "00001000-00002000 rw-p 00000000 00:00 0 \n"
    assert ROUND_TRIPS["offset-4GiB"].split()[2] == "100000000"
    assert ROUND_TRIPS["major-above-ff"].split()[3] == "103:05"
    assert ROUND_TRIPS["prefix-71"].index("/x") == 73
    assert ROUND_TRIPS["prefix-72"].index("/x") == 73
    assert ROUND_TRIPS["prefix-72"].index(" /x") == 72
    assert ROUND_TRIPS["prefix-73"].index("/x") == 74
    assert ROUND_TRIPS["prefix-73"].endswith(f"{10**17}  /x\n")


@pytest.mark.parametrize("text", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_parse_to_proc_maps_round_trip(text):
    maps = memmaps.parse(text)
    assert maps.to_proc_maps() == text
    assert memmaps.parse(text.encode()).to_proc_maps() == text
    assert len(maps) == text.count("\n")


def test_round_trip_values():
    cases = [
        (("r--p", 0x123456789000, 0x103, 0xFFFFF, 2**64 - 1), "/long", ("/long", False)),
        (("r--p", 0, 8, 1, 5), "/a\\012b", ("/a\nb", False)),
        (("r--p", 0, 8, 1, 5), "  lead", ("  lead", False)),
        (("r--p", 0, 8, 1, 5), "/trail  ", ("/trail  ", False)),
        (("r--p", 0, 8, 1, 5), "/a\tb\t", ("/a\tb\t", False)),
        (("r--p", 0, 8, 1, 5), "/a\\b\\", ("/a\\b\\", False)),
        (("r--p", 0, 8, 1, 5), "/gone (deleted)", ("/gone", True)),
        (("r--p", 0, 8, 1, 5), "/a\\012b (deleted)", ("/a\nb", True)),
        (("r--p", 0x100000000, 8, 1, 99), "/big", ("/big", False)),
        (("r--p", 0, 0x103, 5, 12), "/nvme", ("/nvme", False)),
    ]
    text = "".join(
        line(0x10000 * (i + 1), 0x10000 * (i + 1) + 0x1000, *fields, name)
        for i, (fields, name, _) in enumerate(cases)
    )
    maps = memmaps.parse(text)
    assert maps.to_proc_maps() == text
    assert len(maps) == len(cases)
    for region, (fields, _, (path, deleted)) in zip(maps, cases, strict=True):
        assert (region.perms, region.offset, region.dev_major, region.dev_minor, region.inode) == (
            fields
        )
        assert (region.path, region.deleted) == (path, deleted)


def test_round_trip_undecodable_bytes():
    text = line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "NAME").encode()
    text = text.replace(b"NAME", b"/bad\xff\xfe name \xc3")
    maps = memmaps.parse(text)
    assert maps[0].path == "/bad\udcff\udcfe name \udcc3"
    assert os.fsencode(maps.to_proc_maps()) == text


def test_to_proc_maps_from_regions_built_by_hand():
    regions = (
        Region(0x1000, 0x2000, "r--p", 0x100000000, 0x103, 2, 77, "/a\nb", True, "file"),
        Region(0x3000, 0x4000, "rw-p"),
        Region(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", path="[vsyscall]"),
    )
    assert Maps(regions).to_proc_maps() == (
        line(0x1000, 0x2000, "r--p", 0x100000000, 0x103, 2, 77, "/a\\012b (deleted)")
        + "00003000-00004000 rw-p 00000000 00:00 0 \n"
        + line(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", 0, 0, 0, 0, "[vsyscall]")
    )
    assert Maps().to_proc_maps() == ""


# ---- to_dicts() / to_json() ----

DICT_KEYS = ["start", "end", "size", *(name for name in Region._fields[2:] if name != "usage")]


def test_to_dicts(sample):
    dicts = sample.to_dicts()
    assert len(dicts) == len(SAMPLE_REGIONS)
    for entry, region in zip(dicts, SAMPLE_REGIONS, strict=True):
        assert list(entry) == DICT_KEYS
        want = {key: value for key, value in region._asdict().items() if key != "usage"}
        assert entry == {**want, "size": region.size}
    assert dicts[5] == {
        "start": 0x7F0000002000,
        "end": 0x7F0000003000,
        "size": 0x1000,
        "perms": "rw-s",
        "offset": 0,
        "dev_major": 0,
        "dev_minor": 1,
        "inode": 7,
        "path": "/dev/zero",
        "deleted": True,
        "kind": "shmem",
        "max_perms": None,
        "share_mode": None,
        "tag": None,
        "detail": None,
        "allocation_base": None,
    }


def test_to_json_round_trip(sample, live):
    for maps in (sample, live, Maps(SAMPLE_REGIONS, 999)):
        for indent in (None, 2):
            text = maps.to_json(indent=indent)
            assert json.loads(text) == {
                "format": "memmaps.maps/2",
                "pid": maps.pid,
                "partial": None,
                "regions": maps.to_dicts(),
            }
            assert memmaps.load(text) == maps
    assert json.loads(sample.to_json())["pid"] is None
    assert json.loads(live.to_json())["pid"] == os.getpid()
    big = json.loads(sample.to_json())["regions"][-1]
    assert big["start"] == 0xFFFFFFFFFF600000
    assert big["end"] == 0xFFFFFFFFFF601000
    assert "\n" in sample.to_json(indent=2)
    assert "\n" not in sample.to_json()


def test_to_json_odd_names():
    text = line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "NAME") + line(
        0x2000, 0x3000, "r--p", 0, 8, 1, 5, "/a\\012b"
    )
    maps = memmaps.parse(text.encode().replace(b"NAME", b'/bad\xff \t"q"\\'))
    loaded = json.loads(maps.to_json())
    # A name that is not UTF-8: shown with U+FFFD, its bytes in base64.
    assert loaded["regions"][0]["path"] == '/bad\ufffd \t"q"\\'
    assert base64.b64decode(loaded["regions"][0]["path_bytes"]) == b'/bad\xff \t"q"\\'
    assert loaded["regions"][1]["path"] == "/a\nb"
    assert "path_bytes" not in loaded["regions"][1]
    assert memmaps.load(maps.to_json()) == maps
    assert memmaps.load(maps.to_json())[0].path == '/bad\udcff \t"q"\\'


def test_to_json_empty():
    assert json.loads(Maps((), 3).to_json()) == {
        "format": "memmaps.maps/2",
        "pid": 3,
        "partial": None,
        "regions": [],
    }


# ---- to_table() (what `memmaps --format table` prints) ----

_UNIT_POWER = {unit: 1024**i for i, unit in enumerate("BKMGTPE")}


def check_human_size(text, size):
    match = re.fullmatch(r"(\d+(?:\.\d)?)([BKMGTPE])", text)
    assert match, text
    value, unit = float(match.group(1)), match.group(2)
    # A human size never shows 1024 or more of a unit: that is the next unit.
    assert value < 1024 or unit == "E", text
    assert abs(value * _UNIT_POWER[unit] - size) <= 0.05 * size + 1, (text, size)


def check_table(text, maps):
    """Each field of each row sits under its header, with the region's value."""
    lines = text.split("\n")
    assert lines[-1] == ""
    header, rows, footer = lines[0], lines[1:-2], lines[-2]
    assert header.split() == [
        "START",
        "END",
        "SIZE",
        "PERMS",
        "OFFSET",
        "DEV",
        "INODE",
        "KIND",
        "PATH",
    ]
    left = {name: header.index(name) for name in ("START", "END", "PERMS", "KIND", "PATH")}
    right = {name: header.index(name) + len(name) for name in ("SIZE", "OFFSET", "DEV", "INODE")}
    assert len(rows) == len(maps)
    for row, region in zip(rows, maps, strict=True):

        def at_left(name, row=row):
            pos = left[name]
            assert pos == 0 or row[pos - 1] == " ", (name, row)
            return row[pos:] if name == "PATH" else row[pos:].split(" ", 1)[0]

        def at_right(name, row=row):
            pos = right[name]
            assert row[pos : pos + 1] == " ", (name, row)
            return row[:pos].rsplit(" ", 1)[1]

        assert int(at_left("START"), 16) == region.start, row
        assert int(at_left("END"), 16) == region.end, row
        check_human_size(at_right("SIZE"), region.size)
        assert at_left("PERMS") == region.perms, row
        assert int(at_right("OFFSET"), 16) == region.offset, row
        assert at_right("DEV") == f"{region.dev_major:02x}:{region.dev_minor:02x}", row
        assert at_right("INODE") == str(region.inode), row
        assert at_left("KIND") == region.kind, row
        if region.path is not None and region.path.isprintable():
            name = region.path + (" (deleted)" if region.deleted else "")
            assert at_left("PATH") == name, row
    match = re.fullmatch(r"(\d+) regions?, (\S+) mapped", footer)
    assert match, footer
    assert int(match.group(1)) == len(maps)
    check_human_size(match.group(2), sum(r.size for r in maps))


def test_to_table_sample(sample):
    table = sample.to_table()
    check_table(table, sample)
    rows = table.splitlines()
    assert rows[0].startswith("START            END              ")
    assert rows[-1] == "11 regions, 456K mapped"
    assert rows[1].split()[2:4] == ["4.0K", "r--p"]
    assert rows[4].split()[2:4] == ["132K", "rw-p"]
    assert rows[6].split()[-3:] == ["shmem", "/dev/zero", "(deleted)"]


def test_to_table_live(live):
    check_table(live.to_table(), live)


def test_to_table_empty():
    assert Maps().to_table().splitlines()[-1] == "0 regions, 0B mapped"


def test_to_table_escapes_control_characters():
    text = line(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/a\\012b\tc").encode() + line(
        0x2000, 0x3000, "r--p", 0, 8, 1, 6, "NAME"
    ).encode().replace(b"NAME", b"/bad\xff")
    table = memmaps.parse(text).to_table()
    rows = table.splitlines()
    assert len(rows) == 4
    assert rows[1].endswith(" /a\\nb\\tc")
    assert rows[2].endswith(" /bad\\xff")


def test_to_table_columns_stay_aligned_for_big_offsets_and_inodes():
    # Offsets above 4 GiB (9+ hex digits) and inodes of 10+ digits (XFS,
    # btrfs, NFS) are real; the columns after them must not shift.
    text = "".join(
        [
            line(0x400000, 0x401000, "r-xp", 0, 8, 1, 1234, "/usr/bin/x"),
            line(0x7F0000000000, 0x7F0000001000, "r--p", 0x123456789000, 8, 1, 99, "/big"),
            line(0x7F0000001000, 0x7F0000002000, "r--p", 0, 8, 1, 12345678901, "/bigino"),
            line(0x7F0000002000, 0x7F0000003000, "rw-p"),
        ]
    )
    maps = memmaps.parse(text)
    check_table(maps.to_table(), maps)


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0x1000, "4.0K"),
        (0x1800, "6.0K"),
        (0x21000, "132K"),
        (0x100000, "1.0M"),
        (0x800000 - 0x1000, "8.0M"),
        (0x40000000, "1.0G"),
        (0x40000000 - 0x1000, "1.0G"),
        (0x100000 - 0x1000, "1020K"),
    ],
)
def test_to_table_human_sizes(size, shown):
    maps = Maps((Region(0x10000000, 0x10000000 + size, "rw-p"),))
    row = maps.to_table().splitlines()[1]
    assert row.split()[2] == shown
    assert maps.to_table().splitlines()[-1] == f"1 region, {shown} mapped"


def test_counts_are_written_as_a_person_writes_them():
    one = Maps((Region(0x10000000, 0x10001000, "rw-p"),))
    assert repr(one) == "<Maps parsed: 1 region, 4.0K mapped>"
    assert one.to_table().splitlines()[-1] == "1 region, 4.0K mapped"
    two = Maps((Region(0x10000000, 0x10001000, "rw-p"), Region(0x10002000, 0x10003000, "r--p")))
    assert repr(two) == "<Maps parsed: 2 regions, 8.0K mapped>"
    block = "10000000-10001000 rw-p 00000000 00:00 0 \nSize: 4 kB\nRss: 4 kB\nVmFlags: rd wr\n"
    usage_table = memmaps.parse(block).to_table().splitlines()
    assert usage_table[-1].split()[-2:] == ["1", "region"]
    usage_table = memmaps.parse(block + block.replace("1000", "3000", 2)).to_table().splitlines()
    assert usage_table[-1].split()[-2:] == ["2", "regions"]
