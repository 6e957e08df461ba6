"""Maps.to_vmmap(): the layout of macOS vmmap, read back line by line from
the report of saved Linux text (with and without usage) and of macOS
regions made by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import memmaps
from memmaps import Maps, Region, Usage
from memmaps.render.vmmap import _size

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = memmaps.parse((REPO / "docs" / "example.maps").read_text())
SMAPS = memmaps.parse((REPO / "tests" / "fixtures" / "smaps-x86_64-6.18-captured.txt").read_text())
P = 0x1000

LISTING = re.compile(
    r"^(?P<type>\S.*?) +(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+) +\[(?P<sizes>[^\]]*)\] "
    r"(?P<prt>[r-][w-][x-]/[r?-][w?-][x?-]) SM=(?P<sm>\S{3})(?: {10}(?P<detail>.*))?$"
)
FIGURE = r"(?:[0-9.]+[KMGT]?|-)"
ROW = re.compile(rf"^(?P<type>\S.*?) +(?P<figures>(?:{FIGURE} +)*{FIGURE})$")


def sections(report: str) -> dict[str, list[str]]:
    """The lines of each ==== section of a report."""
    found: dict[str, list[str]] = {}
    current = None
    for line in report.split("\n"):
        if line.startswith("==== "):
            current = line
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return found


def listed(lines: list[str]) -> list[re.Match[str]]:
    assert lines[0].startswith("REGION TYPE ") and lines[-1] == "", lines
    matches = [LISTING.match(line) for line in lines[1:-1]]
    assert all(matches), [line for line, m in zip(lines[1:-1], matches, strict=True) if not m]
    # Every "[" is in one column, the header's too.
    assert len({line.index("[") for line in lines[:-1]}) == 1
    return matches  # type: ignore[return-value]


def summary_rows(lines: list[str]) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """The header lines, the rows by type and the TOTAL row of a summary."""
    rules = [i for i, line in enumerate(lines) if line.startswith("===========")]
    assert len(rules) == 2, lines
    header = lines[rules[0] - 2 : rules[0]]
    rows = {}
    for line in lines[rules[0] + 1 : rules[1]]:
        m = ROW.match(line)
        assert m, line
        rows[m["type"]] = m["figures"].split()
    total = lines[rules[1] + 1].split()
    assert total[0] == "TOTAL"
    return header, rows, total[1:]


def test_sections_hold_every_region_once_in_order():
    report = EXAMPLE.to_vmmap()
    parts = sections(report)
    assert list(parts) == [
        "==== Non-writable regions",
        "==== Writable regions",
        "==== Legend",
        "==== Summary",
    ]
    assert report.startswith("Virtual Memory Map of parsed text\n\n==== Non-writable regions\n")
    for title, want in (
        ("==== Non-writable regions", [r for r in EXAMPLE if not r.writable]),
        ("==== Writable regions", [r for r in EXAMPLE if r.writable]),
    ):
        got = [(int(m["start"], 16), int(m["end"], 16)) for m in listed(parts[title])]
        assert got == [(r.start, r.end) for r in want]


def test_interleaved_is_address_order():
    report = EXAMPLE.to_vmmap(interleaved=True)
    parts = sections(report)
    title = "==== regions  (non-writable and writable regions are interleaved)"
    assert list(parts) == [title, "==== Legend", "==== Summary"]
    assert [int(m["start"], 16) for m in listed(parts[title])] == [r.start for r in EXAMPLE]


def test_columns_of_linux_regions():
    by_start = {int(m["start"], 16): m for m in listed(sections(EXAMPLE.to_vmmap(interleaved=True))[
        "==== regions  (non-writable and writable regions are interleaved)"
    ])}  # fmt: skip
    expected = {
        0x555555554000: ("image read-only", "[    8K]", "r--/???", "COW", "/usr/bin/cat"),
        0x555555556000: ("image code", "[   20K]", "r-x/???", "COW", "/usr/bin/cat"),
        0x55555555E000: ("image data", "[    4K]", "rw-/???", "COW", "/usr/bin/cat"),
        0x55555555F000: ("heap", "[  132K]", "rw-/???", "PRV", "[heap]"),
        0x7FFFF7DA8000: (
            "image code", "[ 1620K]", "r-x/???", "COW", "/usr/lib/x86_64-linux-gnu/libc.so.6"
        ),
        0x7FFFF7F9B000: ("private", "[   20K]", "rw-/???", "PRV", None),
        # No access and not below private writable memory: reserved.
        0x7FFFF7FA8000: ("reserved", "[    4K]", "---/???", "PRV", None),
        0x7FFFF7FA9000: ("shared memory", "[    8K]", "rw-/???", "SHM", "/dev/zero (deleted)"),
        0x7FFFF7FAB000: ("shared memory", "[    4K]", "rw-/???", "SHM", "/memfd:ring (deleted)"),
        0x7FFFF7FC1000: ("vvar", "[   16K]", "r--/???", "PRV", "[vvar]"),
        0x7FFFF7FC5000: ("vdso", "[    8K]", "r-x/???", "PRV", "[vdso]"),
        0x7FFFFFFDE000: ("stack", "[  132K]", "rw-/???", "PRV", "[stack]"),
        0xFFFFFFFFFF600000: ("vsyscall", "[    4K]", "--x/???", "PRV", "[vsyscall]"),
    }  # fmt: skip
    for start, (kind, sizes, prt, sm, detail) in expected.items():
        m = by_start[start]
        assert (m["type"], f"[{m['sizes']}]", m["prt"], m["sm"], m["detail"]) == (
            kind, sizes, prt, sm, detail
        ), start  # fmt: skip


def test_summary_rows_add_up_to_the_total():
    parts = sections(EXAMPLE.to_vmmap())
    lines = parts["==== Summary"]
    assert lines[0] == "ReadOnly portion of Libraries: Total=2404K"
    assert lines[1] == "Writable regions: Total=348K"
    header, rows, total = summary_rows(lines)
    assert [line.split() for line in header] == [
        ["VIRTUAL", "REGION"],
        ["REGION", "TYPE", "SIZE", "COUNT"],
    ]
    assert sorted(rows) == list(rows)
    assert rows["image code"] == ["1804K", "3"]
    assert sum(int(row[1]) for row in rows.values()) == int(total[1]) == len(EXAMPLE)
    interleaved = sections(EXAMPLE.to_vmmap(interleaved=True))
    (listing,) = [lines for title, lines in interleaved.items() if "interleaved" in title]
    types = {int(m["start"], 16): m["type"] for m in listed(listing)}
    sizes = {name: sum(r.size for r in EXAMPLE if types[r.start] == name) for name in rows}
    assert [_size(size) for size in sizes.values()] == [row[0] for row in rows.values()]
    assert total[0] == _size(sum(r.size for r in EXAMPLE)) == _size(sum(sizes.values()))


def test_usage_columns_come_from_smaps():
    report = SMAPS.to_vmmap(interleaved=True)
    parts = sections(report)
    matches = listed(parts["==== regions  (non-writable and writable regions are interleaved)"])
    assert parts["==== regions  (non-writable and writable regions are interleaved)"][0] == (
        "REGION TYPE              START - END            [ VSIZE  RSDNT  DIRTY   SWAP] "
        "PRT/MAX SHRMOD PURGE    REGION DETAIL"
    )
    for m, region in zip(matches, SMAPS, strict=True):
        usage = region.usage
        dirty = usage.shared_dirty + usage.private_dirty
        assert m["sizes"].split() == [
            _size(region.size), _size(usage.resident), _size(dirty), _size(usage.swap)
        ]  # fmt: skip
        may = set(usage.vmflags)
        flags = (("mr", "r"), ("mw", "w"), ("me", "x"))
        most = "".join(letter if flag in may else "-" for flag, letter in flags)
        assert m["prt"] == region.perms[:3] + "/" + most
    header, rows, total = summary_rows(parts["==== Summary"])
    assert header[1].split() == ["REGION", "TYPE", *["SIZE"] * 7, "COUNT"]
    total_usage = SMAPS.total()
    assert total == [
        _size(sum(r.size for r in SMAPS)),
        _size(total_usage.resident),
        _size(total_usage.shared_dirty + total_usage.private_dirty),
        _size(total_usage.swap),
        "0K", "0K", "0K",
        str(len(SMAPS)),
    ]  # fmt: skip
    assert sum(int(row[-1]) for row in rows.values()) == len(SMAPS)
    assert parts["==== Summary"][1] == (
        "Writable regions: Total=4448K written=80K(2%) resident=80K(2%) swapped_out=0K(0%) "
        "unallocated=4368K(98%)"
    )


def test_max_protection_without_vmflags_is_unknown():
    region = Region(P, 2 * P, "rw-p", usage=Usage(rss=0, shared_dirty=0, private_dirty=0, swap=0))
    assert "] rw-/??? SM=PRV" in Maps([region]).to_vmmap()


def test_macos_regions_by_tag_share_mode_and_max_protection():
    libc = "/usr/lib/system/libsystem_c.dylib"
    regions = [
        Region(0x100000000, 0x100004000, "r-xp", path=libc, kind="file", max_perms="r-xp",
               share_mode="COW", tag="__TEXT"),
        Region(0x100004000, 0x100008000, "rw-p", path=libc, kind="file", max_perms="rw-p",
               share_mode="COW", tag="__DATA"),
        Region(0x100008000, 0x10000C000, "r--p", path="/Library/x.plist", kind="file",
               max_perms="rw-p", share_mode="COW"),
        Region(0x10000C000, 0x100010000, "rw-p", kind="heap", max_perms="rwxp",
               share_mode="PRV", tag="MALLOC_TINY"),
        Region(0x100010000, 0x100014000, "---p", kind="guard", max_perms="---p",
               share_mode="SHM", tag="MALLOC_TINY"),
        Region(0x100014000, 0x100018000, "---p", kind="guard", max_perms="rwxp",
               share_mode="NUL", tag="Stack"),
        Region(0x100018000, 0x10001C000, "rw-p", kind="stack", max_perms="rwxp",
               share_mode="PRV", tag="Stack"),
        Region(0x10001C000, 0x100020000, "rw-p", kind="anon", max_perms="rwxp",
               share_mode="PRV"),
        Region(0x100020000, 0x100024000, "r--s", kind="shmem", max_perms="r--p",
               share_mode="SHM"),
    ]  # fmt: skip
    report = Maps(regions, pid=4242).to_vmmap(interleaved=True)
    parts = sections(report)
    title = "==== regions for process 4242  (non-writable and writable regions are interleaved)"
    assert report.startswith("Virtual Memory Map of process 4242\n\n" + title + "\n")
    got = [(m["type"], m["prt"], m["sm"], m["detail"]) for m in listed(parts[title])]
    assert got == [
        ("__TEXT", "r-x/r-x", "COW", libc),
        ("__DATA", "rw-/rw-", "COW", libc),
        ("mapped file", "r--/rw-", "COW", "/Library/x.plist"),
        ("MALLOC_TINY", "rw-/rwx", "PRV", None),
        ("MALLOC guard page", "---/---", "SHM", None),
        ("STACK GUARD", "---/rwx", "NUL", None),
        ("Stack", "rw-/rwx", "PRV", None),
        ("VM_ALLOCATE", "rw-/rwx", "PRV", None),
        ("shared memory", "r--/r--", "SHM", None),
    ]
    assert "==== Summary for process 4242" in parts


def test_macos_purgeable_columns_are_not_known():
    usage = Usage(rss=P, shared_dirty=0, private_dirty=P, swap=0)
    region = Region(P, 2 * P, "rw-p", usage=usage, max_perms="rwxp", share_mode="PRV", tag="x")
    _, rows, _ = summary_rows(sections(Maps([region]).to_vmmap())["==== Summary"])
    assert rows["x"] == ["4K", "4K", "4K", "0K", "-", "-", "-", "1"]


def test_partial_listing_is_said():
    maps = Maps([Region(P, 2 * P, "r--p")], pid=7, partial="no task port")
    assert maps.to_vmmap().startswith(
        "Virtual Memory Map of process 7\nPartial listing: no task port\n\n"
    )


def test_an_empty_map():
    report = Maps().to_vmmap()
    parts = sections(report)
    assert parts["==== Non-writable regions"] == [
        "REGION TYPE START - END [ VSIZE] PRT/MAX SHRMOD PURGE    REGION DETAIL",
        "",
    ]
    _, rows, total = summary_rows(parts["==== Summary"])
    assert rows == {} and total == ["0K", "0"]


def test_odd_names_cannot_break_a_line():
    region = Region(P, 2 * P, "r--p", 0, 8, 1, 5, "/tmp/a\nb\udcff", kind="file", deleted=True)
    report = Maps([region]).to_vmmap()
    assert "/tmp/a\\nb\\xff (deleted)\n" in report
    assert report.count("\n") == Maps([region._replace(path="/x")]).to_vmmap().count("\n")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0K"),
        (16, "16"),
        (1384, "1384"),
        (4096, "4K"),
        (8192 * 1024, "8192K"),
        (10956 * 1024, "10.7M"),
        (56 * 1024 * 1024, "56.0M"),
        (int(907.3 * 1024 * 1024), "907.3M"),
        (1024**3, "1.0G"),
        (int(1.4 * 1024**4), "1.4T"),
        (5 * 1024**5, "5120.0T"),
        (None, "-"),
    ],
)
def test_sizes_as_vmmap_prints_them(size, text):
    # The figures are from vmmap's own output (see docs/api.md).
    assert _size(size) == text


@pytest.mark.parametrize("maps", [EXAMPLE, SMAPS], ids=["example", "smaps"])
def test_footer_rows_add_up_to_the_summary(maps):
    _, rows, _ = summary_rows(sections(maps.to_vmmap())["==== Summary"])
    counts: dict[str, int] = {}
    for name, figures in rows.items():
        category = (
            "image"
            if name.startswith("image ")
            else "kernel"
            if name in ("vdso", "vvar", "vsyscall")
            else name
        )
        counts[category] = counts.get(category, 0) + int(figures[-1])
    summary = maps.summary()
    assert counts == {row.category: row.regions for row in summary if row.regions}
