"""The rules of categorize() and the arithmetic of Summary and gaps, on maps
text and regions written here.  Each region is one case of a rule in
docs/kinds.md ("Categories"); the live tests (tests/live/test_summary.py)
check the same rules on memory a real process made, and
tests/native/test_darwin_summary.py on macOS records run through the C
conversion."""

from __future__ import annotations

import pytest

import memmaps
from memmaps import CATEGORIES, Gap, Region, Summary, SummaryRow, Usage
from memmaps.summary import categorize, category, gaps, image_files
from memmaps.summary import unusable as summary_unusable

PAGE = 0x1000
PAD = " " * 20

# One line per case: the category it must get, then the maps line.
LINUX = [
    ("image", "555555554000-555555556000 r--p 00000000 fe:01 1311 /usr/bin/cat"),
    ("image", "555555556000-55555555b000 r-xp 00002000 fe:01 1311 /usr/bin/cat"),
    ("image", "55555555b000-55555555d000 r--p 00007000 fe:01 1311 /usr/bin/cat"),
    ("image", "55555555d000-55555555e000 rw-p 00009000 fe:01 1311 /usr/bin/cat"),
    ("heap", "55555555f000-555555580000 rw-p 00000000 00:00 0 [heap]"),
    # A thread's stack (not known for a stack) and its guard page below it.
    ("guard", "7ffff0000000-7ffff0001000 ---p 00000000 00:00 0"),
    ("private", "7ffff0001000-7ffff0801000 rw-p 00000000 00:00 0"),
    # Two glibc arenas: the no-access rest of the first lies directly below
    # the second, which is smaller: a reservation, not a guard.
    ("private", "7ffff4000000-7ffff4021000 rw-p 00000000 00:00 0"),
    ("reserved", "7ffff4021000-7ffff8000000 ---p 00000000 00:00 0"),
    ("private", "7ffff8000000-7ffff8021000 rw-p 00000000 00:00 0"),
    ("reserved", "7ffff8021000-7ffffc000000 ---p 00000000 00:00 0"),
    # Directly below a no-access region or a shared one: not a guard.
    ("reserved", "7ffffc100000-7ffffc101000 ---p 00000000 00:00 0"),
    ("reserved", "7ffffc101000-7ffffc102000 ---p 00000000 00:00 0"),
    ("shared memory", "7ffffc102000-7ffffc103000 rw-s 00000000 00:01 5 /dev/zero (deleted)"),
    ("reserved", "7ffffc200000-7ffffc201000 ---p 00000000 00:00 0"),
    ("shared memory", "7ffffc201000-7ffffc202000 rw-s 00000000 00:01 6 /memfd:ring (deleted)"),
    ("shared memory", "7ffffc202000-7ffffc203000 rw-s 00000000 00:01 7 /SYSV0000002a (deleted)"),
    ("shared memory", "7ffffc203000-7ffffc204000 rw-s 00000000 00:1a 9 /dev/shm/queue"),
    ("shared memory", "7ffffc204000-7ffffc205000 rw-s 00000000 00:1a 8 /dev/shm/old (deleted)"),
    ("shared memory", "7ffffc205000-7ffffc206000 rw-s 00000000 00:01 4 [anon_shmem:ring]"),
    ("shared memory", "7ffffc400000-7ffffc600000 rw-s 00000000 00:0f 3 /anon_hugepage (deleted)"),
    ("private", "7ffffc600000-7ffffc800000 rw-p 00000000 00:0f 2 /anon_hugepage (deleted)"),
    ("mapped file", "7ffffc800000-7ffffc801000 r--s 00000000 00:0f 12 anon_inode:[perf_event]"),
    ("mapped file", "7ffffc801000-7ffffc802000 r--p 00000000 fe:01 77 /usr/share/zoneinfo/UTC"),
    ("mapped file", "7ffffc802000-7ffffc803000 rw-s 00000000 fe:01 78 /var/db/data (deleted)"),
    # A library: its no-access gap between segments, and its data, are the
    # image; so is a deleted one that still runs.
    ("image", "7ffff7d80000-7ffff7da8000 r--p 00000000 fe:01 3001 /usr/lib/libc.so.6"),
    ("image", "7ffff7da8000-7ffff7f3d000 r-xp 00028000 fe:01 3001 /usr/lib/libc.so.6"),
    ("image", "7ffff7f3d000-7ffff7f3e000 ---p 001bd000 fe:01 3001 /usr/lib/libc.so.6"),
    ("image", "7ffff7f3e000-7ffff7f95000 r--p 001bd000 fe:01 3001 /usr/lib/libc.so.6"),
    ("image", "7ffff7f95000-7ffff7f97000 rw-p 00214000 fe:01 3001 /usr/lib/libc.so.6"),
    # The .bss past the file's last page: anonymous, and nothing says whose.
    ("private", "7ffff7f97000-7ffff7fa4000 rw-p 00000000 00:00 0"),
    ("image", "7ffff7fa4000-7ffff7fa5000 r-xp 00001000 fe:01 4040 /opt/app/plugin.so (deleted)"),
    ("image", "7ffff7fa5000-7ffff7fa6000 rw-p 00002000 fe:01 4040 /opt/app/plugin.so (deleted)"),
    # The names glibc (decorate_maps) and bionic give their memory.
    ("stack", "7ffff7fb0000-7ffff7fb8000 rw-p 00000000 00:00 0 [anon: glibc: pthread stack: 4242]"),
    ("stack", "7ffff7fb8000-7ffff7fb9000 rw-p 00000000 00:00 0 [anon: glibc: unused stack]"),
    ("heap", "7ffff7fb9000-7ffff7fba000 rw-p 00000000 00:00 0 [anon: glibc: malloc arena]"),
    ("heap", "7ffff7fba000-7ffff7fbb000 rw-p 00000000 00:00 0 [anon: glibc: malloc]"),
    ("heap", "7ffff7fbb000-7ffff7fbc000 rw-p 00000000 00:00 0 [anon: glibc: loader malloc]"),
    ("private", "7ffff7fbc000-7ffff7fbd000 rw-p 00000000 00:00 0 [anon: glibc: fatal]"),
    ("guard", "7ffff7fc0000-7ffff7fc1000 ---p 00000000 00:00 0 [anon:stack_and_tls:4243]"),
    ("stack", "7ffff7fc1000-7ffff7fc2000 rw-p 00000000 00:00 0 [anon:stack_and_tls:4243]"),
    ("heap", "7ffff7fc2000-7ffff7fc3000 rw-p 00000000 00:00 0 [anon:scudo:primary]"),
    ("heap", "7ffff7fc3000-7ffff7fc4000 rw-p 00000000 00:00 0 [anon:libc_malloc]"),
    ("guard", "7ffff7fc4000-7ffff7fc5000 ---p 00000000 00:00 0 [anon:GWP-ASan Guard Page]"),
    ("image", "7ffff7fc5000-7ffff7fc6000 rw-p 00000000 00:00 0 [anon:.bss]"),
    ("private", "7ffff7fc6000-7ffff7fc7000 rw-p 00000000 00:00 0 [anon:jit code]"),
    ("kernel", "7ffff7fc7000-7ffff7fcb000 r--p 00000000 00:00 0 [vvar]"),
    ("kernel", "7ffff7fcb000-7ffff7fcd000 r--p 00000000 00:00 0 [vvar_vclock]"),
    ("kernel", "7ffff7fcd000-7ffff7fcf000 r-xp 00000000 00:00 0 [vdso]"),
    ("kernel", "7ffff7fcf000-7ffff7fd0000 r-xp 00000000 00:00 0 [uprobes]"),
    ("stack", "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]"),
    ("kernel", "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]"),
]


def linux_maps(cases=LINUX) -> memmaps.Maps:
    lines = []
    for _, line in cases:
        fields = line.split(" ", 5)
        head = " ".join(fields[:5]) + " "
        lines.append((head.ljust(72) + " " + fields[5]) if len(fields) > 5 else head)
    text = "\n".join(sorted(lines, key=lambda line: int(line.split("-")[0], 16))) + "\n"
    return memmaps.parse(text)


def expected(cases=LINUX) -> list[str]:
    return [name for name, _ in sorted(cases, key=lambda case: int(case[1].split("-")[0], 16))]


def test_categories():
    assert memmaps.CATEGORIES == (
        "image",
        "mapped file",
        "shared memory",
        "heap",
        "stack",
        "private",
        "guard",
        "kernel",
        "reserved",
        "unusable",
    )


def test_linux_rules():
    maps = linux_maps()
    got = categorize(maps)
    wrong = [
        f"{region.start:x} {region.perms} {region.path}: {name}, not {want}"
        for region, name, want in zip(maps, got, expected(), strict=True)
        if name != want
    ]
    assert not wrong, "\n".join(wrong)
    assert set(got) == set(CATEGORIES) - {"unusable"}


def test_categorize_takes_any_sequence_of_regions():
    maps = linux_maps()
    assert categorize(list(maps)) == categorize(maps) == categorize(tuple(maps))
    assert categorize(memmaps.Maps()) == []


def test_one_region_alone():
    maps = linux_maps()
    files = image_files(maps)
    data = maps.at(0x7FFFF7F95000)
    # Without the rest of the map, only code is known to be an image.
    assert category(data) == "mapped file"
    assert category(data, files) == "image"
    assert category(maps.at(0x7FFFF7DA8000)) == "image"
    guard = maps.at(0x7FFFF0000000)
    assert category(guard) == "reserved"
    assert category(guard, above=maps.at(0x7FFFF0001000)) == "guard"
    # A neighbour that does not touch it guards nothing.
    assert category(guard, above=maps.at(0x7FFFF4000000)) == "reserved"
    assert (0xFE, 0x01, 1311) in files and "/usr/bin/cat" in files


def test_a_guard_is_no_larger_than_what_it_guards():
    base = 0x7F0000000000
    for guard_pages, stack_pages, want in [(1, 1, "guard"), (1, 2, "guard"), (2, 1, "reserved")]:
        guard = Region(base, base + guard_pages * PAGE, "---p", kind="guard")
        stack = Region(guard.end, guard.end + stack_pages * PAGE, "rw-p")
        assert categorize([guard, stack])[0] == want, (guard_pages, stack_pages)
    # Above read-only memory, or above a file: nothing to guard.
    guard = Region(base, base + PAGE, "---p", kind="guard")
    for above in (
        Region(guard.end, guard.end + 8 * PAGE, "r--p"),
        Region(guard.end, guard.end + 8 * PAGE, "rw-p", 0, 8, 1, 5, "/data", kind="file"),
        Region(guard.end, guard.end + 8 * PAGE, "rw-s", 0, 0, 1, 5, "/dev/zero", True, "shmem"),
    ):
        assert categorize([guard, above])[0] == "reserved", above
    assert categorize([guard, Region(guard.end, guard.end + PAGE, "rw-p", kind="heap")])[0] == (
        "guard"
    )


# ---- macOS fields -------------------------------------------------------------


def mac(start, end, perms, kind, tag=None, share="PRV", path=None, detail=None):
    return Region(
        start,
        end,
        perms,
        path=path,
        kind=kind,
        max_perms="rwx",
        share_mode=share,
        tag=tag,
        detail=detail,
    )


def test_macos_rules():
    cases = [
        ("heap", mac(0x100000000, 0x100100000, "rw-p", "heap", "MALLOC_TINY")),
        ("guard", mac(0x100200000, 0x100204000, "---p", "guard", "MALLOC")),
        ("guard", mac(0x16F000000, 0x16F004000, "---p", "guard", "Stack", "NUL")),
        ("stack", mac(0x16F004000, 0x16F800000, "rw-p", "stack", "Stack")),
        ("reserved", mac(0x158000000, 0x158400000, "---p", "guard", "Memory Tag 253", "NUL")),
        ("private", mac(0x172000000, 0x172004000, "r--p", "anon", "dyld private memory")),
        ("shared memory", mac(0x170000000, 0x170008000, "rw-s", "shmem", None, "SHM")),
        ("image", mac(0x180000000, 0x280000000, "r-xs", "special", None, "SHM")),
        ("kernel", mac(0xFFFFFC000, 0x1000000000, "r--p", "anon", None, "SHM")),
        ("kernel", mac(0x7FFFFFE00000, 0x7FFFFFE01000, "r--s", "special", None, "SHM")),
        ("image", mac(0x190000000, 0x190004000, "r--p", "file", None, "COW", None, "__DATA_CONST")),
        ("mapped file", mac(0x170008000, 0x17000C000, "rw-s", "file", None, "ALI", "/data.db")),
    ]
    for want, region in cases:
        assert category(region) == want, region


# ---- Windows fields ------------------------------------------------------------

K64 = 0x10000


def win(start, end, perms, tag, path=None, detail=None, kind="anon"):
    return Region(start, end, perms, path=path, kind=kind, max_perms="rw-", tag=tag, detail=detail)


WINDOWS = [
    ("image", win(0x7FF600000000, 0x7FF600001000, "r--p", "image", "C:\\app.exe", kind="file")),
    ("image", win(0x7FF600001000, 0x7FF600003000, "r-xp", "image", "C:\\app.exe", kind="file")),
    ("mapped file", win(0x20000000, 0x20003000, "r--p", "mapped", "C:\\data.bin", kind="file")),
    ("shared memory", win(0x20010000, 0x20011000, "rw-s", "mapped")),
    ("heap", win(0x30000000, 0x30008000, "rw-p", "private", None, "heap 0x30000000")),
    ("reserved", win(0x30008000, 0x30100000, "---p", "private reserved", None, "heap 0x3000")),
    ("reserved", win(0x40000000, 0x400FD000, "---p", "private reserved", None, "stack tid 7")),
    ("guard", win(0x400FD000, 0x400FE000, "rw-p", "private", None, "stack tid 7", "guard")),
    ("stack", win(0x400FE000, 0x40100000, "rw-p", "private", None, "stack tid 7")),
    ("private", win(0x50000000, 0x50001000, "rw-p", "private", None, "PEB")),
    ("private", win(0x50010000, 0x50012000, "rw-p", "private", None, "TEB tid 7")),
    ("reserved", win(0x60000000, 0x60010000, "---p", "reserved")),
    # As the backend labels them: the kind says heap or stack, the label
    # says which; the reserved part of either is reserved.
    ("heap", win(0x61000000, 0x61010000, "rw-p", "private", None, "heap 0x61000000", "heap")),
    ("reserved", win(0x61010000, 0x61100000, "---p", "reserved", None, "heap 0x6100", "heap")),
    ("guard", win(0x62000000, 0x62001000, "rw-p", "private", None, "stack guard tid 9", "guard")),
    ("stack", win(0x62001000, 0x62010000, "rw-p", "private", None, "stack tid 9", "stack")),
]


def test_windows_rules():
    for want, region in WINDOWS:
        assert category(region) == want, region


def test_windows_unusable_fragments_are_counted_from_the_gaps():
    maps = memmaps.Maps(sorted((region for _, region in WINDOWS), key=lambda r: r.start))
    summary = maps.summary()
    # Allocations that end off a 64 KiB boundary leave the rest of it
    # unusable: the mapped file (at 0x20003000, 52 KiB), the section
    # (60 KiB), the PEB (60 KiB), the TEB (56 KiB).  The others end on a
    # boundary, or are the last.
    fragments = [0xD000, 0xF000, 0xF000, 0xE000]
    assert summary["unusable"] == SummaryRow(
        "unusable", 4, sum(fragments), None, None, None, max(fragments)
    )
    assert summary.total.size == sum(r.size for r in maps) + sum(fragments)
    assert summary.total.regions == len(maps) + 4
    # Free space starts where the unusable fragment ends.
    free = summary.free
    assert summary.largest_gap.start % K64 == 0
    assert free.size == sum(gap.size for gap in maps.gaps()) - sum(fragments)


def test_unusable_is_a_row_everywhere_else_with_zeros():
    summary = linux_maps().summary()
    assert summary["unusable"] == SummaryRow("unusable", 0, 0, None, None, None, 0)
    assert summary[-1] is summary["unusable"]


# ---- gaps ----------------------------------------------------------------


def test_gaps_are_the_unmapped_ranges_between_regions():
    regions = [
        Region(0x1000, 0x2000, "r--p"),
        Region(0x2000, 0x3000, "r--p"),
        Region(0x5000, 0x6000, "r--p"),
        Region(0x6000, 0x7000, "r--p"),
        Region(0x10000, 0x11000, "r--p"),
    ]
    maps = memmaps.Maps(regions)
    assert maps.gaps() == gaps(regions) == [Gap(0x3000, 0x5000), Gap(0x7000, 0x10000)]
    assert [gap.size for gap in maps.gaps()] == [0x2000, 0x9000]
    assert repr(Gap(0x3000, 0x5000)) == "Gap(start=0x3000, end=0x5000)"
    assert memmaps.Maps().gaps() == [] and memmaps.Maps(regions[:1]).gaps() == []
    assert memmaps.Maps(regions[:2]).gaps() == []


@pytest.mark.parametrize(
    ("top", "kernel_page", "end_of_user"),
    [
        # x86-64, 4-level page tables: user space ends at 2**47.
        (0x7FFFFFFFF000, 0xFFFFFFFFFF600000, 1 << 47),
        (0x7FFD2CF03000, 0xFFFFFFFFFF600000, 1 << 47),
        # x86-64 with 5-level page tables, for a process that asked for
        # high addresses: 2**56.
        (0x00FF000000000000, 0xFFFFFFFFFF600000, 1 << 56),
        # arm64, 48-bit addresses (no [vsyscall], but a 32-bit ARM process's
        # [vectors] is the same case on a 64-bit kernel): 2**48.
        (0xFFFFFFFF0000, 0xFFFF000000000000, 1 << 48),
    ],
)
def test_largest_gap_leaves_the_non_canonical_hole_and_the_kernel_out(
    top, kernel_page, end_of_user
):
    regions = [
        Region(0x400000, 0x401000, "r-xp"),
        Region(0x7F0000000000, 0x7F0000001000, "rw-p"),
        Region(top - 0x21000, top, "rw-p", path="[stack]", kind="stack"),
        Region(kernel_page, kernel_page + 0x1000, "--xp", path="[vsyscall]", kind="vsyscall"),
    ]
    maps = memmaps.Maps(regions)
    summary = maps.summary()
    assert maps.gaps()[-1] == Gap(top, kernel_page)  # the real unmapped range
    free = [Gap(0x401000, 0x7F0000000000), Gap(0x7F0000001000, top - 0x21000)]
    if end_of_user > top:
        free.append(Gap(top, end_of_user))
    assert summary.largest_gap == max(free, key=lambda gap: gap.size)
    assert summary.free == SummaryRow(
        "free", len(free), sum(g.size for g in free), None, None, None, summary.largest_gap.size
    )


def test_no_gap_no_largest_gap():
    summary = memmaps.Maps([Region(0x1000, 0x2000, "r--p")]).summary()
    assert summary.largest_gap is None
    assert summary.free == SummaryRow("free", 0, 0, None, None, None, 0)
    summary = memmaps.Maps().summary()
    assert summary.largest_gap is None and summary.total == ("total", 0, 0, None, None, None, 0)


# ---- Summary -------------------------------------------------------------------


def usage(rss, dirty=0, swap=0, hugetlb=0):
    return Usage(
        size=0,
        rss=rss,
        shared_dirty=0,
        private_dirty=dirty,
        swap=swap,
        shared_hugetlb=0,
        private_hugetlb=hugetlb,
    )


def test_rows_add_up_with_usage():
    maps = linux_maps()
    with_usage = memmaps.Maps(
        [
            region._replace(usage=usage(PAGE * (i % 3), PAGE * (i % 2), PAGE * (i % 5), i % 4))
            for i, region in enumerate(maps)
        ]
    )
    summary = with_usage.summary()
    names = categorize(with_usage)
    for row in summary:
        members = [r for r, name in zip(with_usage, names, strict=True) if name == row.category]
        assert row.regions == len(members)
        assert row.size == sum(r.size for r in members)
        assert row.resident == sum(r.usage.resident for r in members)
        assert row.dirty == sum(r.usage.private_dirty for r in members)
        assert row.swapped == sum(r.usage.swap for r in members)
        assert row.largest == max((r.size for r in members), default=0)
    total = with_usage.total()
    assert summary.total == SummaryRow(
        "total",
        len(maps),
        sum(r.size for r in maps),
        total.resident,
        total.private_dirty,
        total.swap,
        max(r.size for r in maps),
    )
    # An empty row of a map with usage holds zeros; without usage, None.
    assert summary["unusable"].resident == 0
    assert maps.summary()["unusable"].resident is None


def test_a_figure_the_system_does_not_report_is_none():
    regions = [
        Region(0x1000, 0x2000, "rw-p", usage=Usage(rss=PAGE, private_dirty=PAGE, shared_dirty=0)),
        Region(0x3000, 0x4000, "rw-p", usage=usage(PAGE)),
    ]
    summary = memmaps.Maps(regions).summary()
    assert summary["private"][3:6] == (2 * PAGE, PAGE, None)
    assert summary.total[3:6] == (2 * PAGE, PAGE, None)
    # A region without usage among regions with: its row has no figures.
    mixed = memmaps.Maps([regions[0], Region(0x3000, 0x4000, "rw-p")]).summary()
    assert mixed["private"].resident is None and mixed["heap"].resident is None


def test_summary_sequence_and_names():
    summary = linux_maps().summary()
    assert len(summary) == 10
    assert [row.category for row in summary] == list(CATEGORIES)
    assert summary[3] is summary["heap"] and summary[-1] is summary["unusable"]
    assert summary["total"] is summary.total and summary["free"] is summary.free
    assert summary[1:3] == (summary["mapped file"], summary["shared memory"])
    assert isinstance(summary[0], SummaryRow)
    with pytest.raises(KeyError) as caught:
        summary["heaps"]
    message = str(caught.value)
    assert "'heaps'" in message and "mapped file" in message and "unusable" in message
    with pytest.raises(IndexError):
        summary[10]
    assert summary.pid is None
    assert summary == linux_maps().summary()
    assert hash(summary) == hash(linux_maps().summary())
    assert summary != memmaps.Maps().summary()
    assert repr(summary).startswith("<Summary parsed: ")
    assert "heap 152K" in repr(summary)


def test_summary_from_rows():
    rows = [SummaryRow(name, 0, 0, None, None, None, 0) for name in CATEGORIES]
    summary = Summary(rows, pid=7)
    assert summary.pid == 7 and summary.largest_gap is None
    with pytest.raises(ValueError, match="one row per category"):
        Summary(rows[1:])
    with pytest.raises(ValueError, match="one row per category"):
        Summary(list(reversed(rows)))


def test_to_text_without_usage():
    text = linux_maps().summary().to_text()
    lines = text.splitlines()
    assert lines[0].split() == ["TYPE", "SIZE", "BLOCKS", "LARGEST"]
    assert [line.split("  ")[0].strip() for line in lines[1:13]] == [
        *CATEGORIES,
        "total",
        "free",
    ]
    heap = next(line for line in lines if line.startswith("heap "))
    assert heap.split() == ["heap", "152K", "6", "132K"]
    assert lines[-1].startswith("largest free gap: 0x")
    # Columns line up: every size ends where the header's SIZE does.
    edge = lines[0].index("SIZE") + len("SIZE")
    for line in lines[:13]:
        assert line[edge - 1] != " " and line[edge] == " ", line


def test_to_text_with_usage():
    maps = linux_maps()
    with_usage = memmaps.Maps([region._replace(usage=usage(PAGE)) for region in maps])
    lines = with_usage.summary().to_text().splitlines()
    assert lines[0].split() == [
        "TYPE",
        "SIZE",
        "RESIDENT",
        "DIRTY",
        "SWAPPED",
        "BLOCKS",
        "LARGEST",
    ]
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[2] == memmaps.maps._human_size(len(maps) * PAGE)
    free = next(line for line in lines if line.startswith("free"))
    assert len(free.split()) == 4  # no usage figures for free space


def test_unusable_comes_after_the_last_region_of_an_allocation():
    # An allocation of 0x3000 bytes at 0x70000000, committed in two pieces,
    # then free space: only its tail up to the granule is unusable.
    first = win(0x70000000, 0x70001000, "rw-p", "private")._replace(allocation_base=0x70000000)
    second = win(0x70001000, 0x70003000, "r--p", "private")._replace(allocation_base=0x70000000)
    after = win(0x70020000, 0x70021000, "rw-p", "private")._replace(allocation_base=0x70020000)
    maps = memmaps.Maps([first, second, after])
    assert summary_unusable(maps) == [Gap(0x70003000, 0x70010000)]
    assert maps.summary()["unusable"].size == 0xD000
    # A region of the same allocation past a hole (a listing that lost a
    # piece) is no end of the allocation: nothing there is unusable.
    torn = memmaps.Maps([first, second._replace(start=0x70002000)])
    assert summary_unusable(torn) == []
    # Linux and macOS regions have no unusable space.
    assert summary_unusable(linux_maps()) == []
