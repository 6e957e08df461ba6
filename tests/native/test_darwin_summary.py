"""The categories of macOS regions: the records of tests/fixtures/darwin/
go through the C conversion of the macOS backend (tools/darwinrecords.c,
as test_darwin.py runs it), become Regions as regions() would make them,
and are categorized and summed up as on a Mac."""

from __future__ import annotations

from pathlib import Path

import pytest

import memmaps
from memmaps import Region, Usage
from memmaps.summary import categorize
from tests.native.test_darwin import FIXTURES, _build, regions

# The arm64 records, in address order, and the category of each (the
# comments of the fixture say what memory each one is).
ARM64 = [
    "image",  # the executable's __TEXT
    "image",  # __DATA_CONST
    "image",  # __DATA
    "image",  # __LINKEDIT
    "reserved",  # no access, no VM object, below read-only memory
    "heap",  # malloc's zone structure, read-only page
    "heap",  # ... the rest of it
    "guard",  # a malloc guard page
    "heap",  # MALLOC_TINY
    "heap",  # MALLOC_SMALL, untouched
    "private",  # V8's JIT pages (an application's tag)
    "reserved",  # PartitionAlloc's reservation
    "guard",  # a thread's stack guard
    "stack",  # the stack
    "shared memory",  # shm_open()
    "mapped file",  # a file mapped MAP_SHARED
    "shared memory",  # shared and aliased anonymous memory
    "shared memory",  # IOKit memory shared with a driver
    "private",  # dyld's own memory
    "private",  # os_once_alloc's page
    "private",  # vm_allocate(), untouched
    "private",  # a superpage region
    "mapped file",  # a data file's no-access part
    "image",  # the shared cache's text (executable)
    "mapped file",  # a nameless page of it, not executable
    "private",  # the largest counts
    "private",  # a tag and share mode no table knows
]


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("darwinsummary") / "darwinrecords", "-O2")


def _none(value: str | None) -> str | None:
    return None if value in (None, "None") else value


def as_region(record: dict[str, str]) -> Region:
    """A driver record as the Region regions() builds from it."""
    major, minor = (int(part) for part in record["dev"].split(":"))
    usage = None
    if "u.size" in record:
        usage = Usage(
            **{key[2:]: int(value) for key, value in record.items() if key.startswith("u.")}
        )
    return Region(
        int(record["start"], 16),
        int(record["end"], 16),
        record["perms"],
        int(record["offset"], 16),
        major,
        minor,
        int(record["inode"]),
        record.get("path"),
        False,
        record["kind"],
        usage,
        record["max_perms"],
        _none(record["share_mode"]),
        _none(record["tag"]),
    )


def test_arm64_categories(driver: Path) -> None:
    maps = memmaps.Maps(
        as_region(r) for r in regions(driver, str(FIXTURES / "regions-arm64-constructed.txt"))
    )
    got = categorize(maps)
    assert len(got) == len(ARM64)
    wrong = [
        f"{region.start:#x} {region.kind} {region.tag}: {name}, not {want}"
        for region, name, want in zip(maps, got, ARM64, strict=True)
        if name != want
    ]
    assert not wrong, "\n".join(wrong)


def test_arm64_summary_with_usage(driver: Path) -> None:
    records = regions(driver, "-u", str(FIXTURES / "regions-arm64-constructed.txt"))
    maps = memmaps.Maps(as_region(record) for record in records)
    summary = maps.summary()
    total = maps.total()
    assert total is not None
    assert summary.total.regions == len(maps)
    assert summary.total.size == sum(region.size for region in maps)
    assert summary.total.resident == total.resident
    assert summary.total.dirty == total.private_dirty + total.shared_dirty
    assert summary.total.swapped == total.swap
    heap = [r for r, name in zip(maps, categorize(maps), strict=True) if name == "heap"]
    assert summary["heap"].resident == sum(r.usage.rss for r in heap)
    assert summary["heap"].regions == 4
    # macOS has no unusable address space, and no kernel page in this map.
    assert summary["unusable"] == ("unusable", 0, 0, 0, 0, 0, 0)
    assert summary["kernel"].regions == 0


def test_x86_64_categories(driver: Path) -> None:
    maps = memmaps.Maps(
        as_region(r) for r in regions(driver, str(FIXTURES / "regions-x86_64-constructed.txt"))
    )
    assert categorize(maps) == ["image", "heap", "stack"]


def test_depth0_listing_shared_region_is_image(driver: Path) -> None:
    maps = memmaps.Maps(
        as_region(r) for r in regions(driver, str(FIXTURES / "pidinfo-depth0-constructed.txt"))
    )
    kinds = [(region.kind, name) for region, name in zip(maps, categorize(maps), strict=True)]
    assert ("special", "image") in kinds
    assert ("file", "image") in kinds
