"""Maps.to_vmmap() of a live target, read back line by line and checked
against the kernel's own /proc/PID/smaps text of the same moment (the
target holds still between commands: tests/targets/diff_target.c)."""

from __future__ import annotations

import mmap
import re

import pytest

import memmaps
from memmaps.render.vmmap import _size
from tests.helpers import procutil

pytestmark = [
    pytest.mark.skipif(memmaps.BACKEND != "linux", reason="the targets are Linux ELF programs"),
    pytest.mark.skipif(procutil.SANITIZED, reason=procutil.SANITIZED_REASON),
]

PAGE = mmap.PAGESIZE
LISTING = re.compile(
    r"^(?P<type>\S.*?) +(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+) +\[(?P<sizes>[^\]]*)\] "
    r"(?P<prt>\S{3}/\S{3}) SM=(?P<sm>\S{3})(?: {10}(?P<detail>.*))?$"
)


@pytest.fixture
def target(live_bindir, tmp_path):
    folder = procutil.world_dir(live_bindir)
    exe = procutil.compile_target("diff_target", folder / "diff_target", "-ldl")
    data = tmp_path / "data"
    data.write_bytes(b"x" * (4 * PAGE))
    process = procutil.DiffTarget(exe)
    try:
        process.do(f"file 10 2 r-- s {data} 0")  # opened read-only: never writable
        process.do(f"file 20 2 r-- p {data} 2")
        process.do("map 30 3 rw- s")
        process.do("map 40 4 rw- p")
        process.do("touch 40 3")
        process.do("map 50 1 --- p")  # alone: reserved
        process.do("map 60 1 --- p")  # right below private writable memory: its guard
        process.do("map 61 2 rw- p")
        yield process, data
    finally:
        procutil.stop(process.proc)


def test_every_line_is_the_kernels_region(target):
    process, data = target
    maps = memmaps.regions(process.pid, usage=True)
    reference = procutil.parse_smaps(procutil.read_proc(process.pid, "smaps"))
    report = maps.to_vmmap(interleaved=True)
    lines = [LISTING.match(line) for line in report.splitlines()]
    found = [m for m in lines if m]
    assert len(found) == len(reference) == len(maps)
    for m, ref in zip(found, reference, strict=True):
        region, usage = ref.region, ref.usage
        assert (int(m["start"], 16), int(m["end"], 16)) == (region.start, region.end)
        resident = usage["rss"] + usage["shared_hugetlb"] + usage["private_hugetlb"]
        dirty = usage["shared_dirty"] + usage["private_dirty"]
        assert m["sizes"].split() == [
            _size(region.end - region.start),
            _size(resident),
            _size(dirty),
            _size(usage["swap"]),
        ]
        flags = set(usage["vmflags"])
        most = "".join(
            letter if flag in flags else "-"
            for flag, letter in (("mr", "r"), ("mw", "w"), ("me", "x"))
        )
        assert m["prt"] == f"{region.perms[:3]}/{most}"
        shared = region.perms[3] == "s"
        assert m["sm"] == ("SHM" if shared else "COW" if region.inode else "PRV")
    by_start = {int(m["start"], 16): m for m in found}
    shared_file = by_start[process.at(10)]
    assert (shared_file["type"], shared_file["sm"], shared_file["detail"]) == (
        "mapped file",
        "SHM",
        str(data),
    )
    # A shared mapping of a file opened read-only can never be made writable.
    assert shared_file["prt"][4:6] == "r-"
    assert by_start[process.at(20)]["sm"] == "COW"
    assert by_start[process.at(20)]["prt"][4:6] == "rw"  # private: copy on write
    assert by_start[process.at(30)]["type"] == "shared memory"
    touched = by_start[process.at(40)]
    assert (touched["type"], touched["sizes"].split()) == ("private", ["16K", "12K", "12K", "0K"])
    assert by_start[process.at(50)]["type"] == "reserved"
    assert by_start[process.at(60)]["type"] == "guard"
    # The types are the categories of Maps.summary(), an image's by part.
    categories = dict(zip((r.start for r in maps), memmaps.summary.categorize(maps), strict=True))
    for start, m in by_start.items():
        if categories[start] == "image":
            assert m["type"].startswith("image "), m["type"]
        elif categories[start] != "kernel":
            assert m["type"] == categories[start]
    exe = [m for m in found if m["detail"] == str(process.proc.args[0])]
    assert {m["type"] for m in exe} >= {"image code", "image read-only", "image data"}


def test_summary_of_a_live_map_adds_up(target):
    process, _ = target
    maps = memmaps.regions(process.pid, usage=True)
    report = maps.to_vmmap()
    summary = report[report.index("==== Summary") :].splitlines()
    rules = [i for i, line in enumerate(summary) if line.startswith("===========")]
    rows = [line.split()[-8:] for line in summary[rules[0] + 1 : rules[1]]]
    total = summary[rules[1] + 1].split()
    assert total[0] == "TOTAL"
    assert sum(int(row[-1]) for row in rows) == int(total[-1]) == len(maps)
    usage = maps.total()
    assert total[1:] == [
        _size(sum(r.size for r in maps)),
        _size(usage.resident),
        _size(usage.shared_dirty + usage.private_dirty),
        _size(usage.swap),
        "0K",
        "0K",
        "0K",
        str(len(maps)),
    ]
