"""The contract suite: every backend's answers, checked the same way.

- linux: the live backend, on this process and on a spawned one.
- macos records: the portable half of the macOS backend on the recorded
  vm_region_submap_info_64 records in tests/fixtures/darwin, through
  tools/darwinrecords.c (no Mac here: the Mach calls themselves do not run).
- the C core alone: tools/mmdump.c's text, read back.
- windows: the Windows backend's driver, tools/mmdump.c built with
  MinGW-w64, run under Wine on itself and on tests/wine/child.c; its
  --fields lines read back into Regions.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import memmaps
from memmaps import Maps, Region
from tests.contract import contract
from tests.helpers import crosscc, procutil, sanitized

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "memmaps" / "native"
FIXTURES = ROOT / "tests" / "fixtures" / "darwin"
LIVE = memmaps.BACKEND == "linux"


def _assert_none(problems: list[str]) -> None:
    assert not problems, "\n".join(problems[:20])


# -- live backends ------------------------------------------------------------


@pytest.fixture
def target(spawn):
    """A process that maps nothing new while it is read: sleep."""
    proc = spawn(["sleep", "60"])
    procutil.wait_state(proc.pid, "S")
    return proc.pid


@pytest.mark.skipif(not LIVE, reason=f"the live contract runs on Linux; this is {memmaps.BACKEND}")
@pytest.mark.parametrize("who", ["self", "target"])
def test_live_listing(who: str, request: pytest.FixtureRequest) -> None:
    pid = None if who == "self" else request.getfixturevalue("target")
    _assert_none(contract.listing_problems(memmaps.regions(pid)))
    _assert_none(contract.listing_problems(memmaps.regions(pid, usage=True)))


@pytest.mark.skipif(not LIVE, reason=f"the live contract runs on Linux; this is {memmaps.BACKEND}")
def test_live_region_at_agrees_with_the_listing(target: int) -> None:
    maps = memmaps.regions(target)
    _assert_none(contract.lookup_problems(maps, lambda addr: memmaps.region_at(target, addr)))
    # And beyond the last region, and at 0.
    assert memmaps.region_at(target, 0) is None or maps.at(0) is not None
    assert memmaps.region_at(target, 2**64 - 1) == maps.at(2**64 - 1)


@pytest.mark.skipif(not LIVE, reason=f"the live contract runs on Linux; this is {memmaps.BACKEND}")
@pytest.mark.parametrize("who", ["self", "target"])
def test_live_images_cover_their_regions(who: str, request: pytest.FixtureRequest) -> None:
    pid = None if who == "self" else request.getfixturevalue("target")
    maps = memmaps.regions(pid)
    images = memmaps.images(pid)
    assert images, "a dynamically linked process has images"
    _assert_none(contract.image_problems(images, maps))


@pytest.mark.skipif(not LIVE, reason=f"the live contract runs on Linux; this is {memmaps.BACKEND}")
@pytest.mark.parametrize(
    "call",
    [memmaps.regions, memmaps.usage, memmaps.images, lambda pid: memmaps.region_at(pid, 0x1000)],
    ids=["regions", "usage", "images", "region_at"],
)
def test_live_errors_are_typed(call) -> None:
    _assert_none(contract.error_problems(call, procutil.unused_pid()))


@pytest.fixture(scope="module")
def mmdump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tools/mmdump.c linked with exactly what the extension is built from
    here: the C core without Python, as it runs under Wine and on Macs."""
    out = tmp_path_factory.mktemp("contract") / "mmdump"
    sources = [ROOT / "tools" / "mmdump.c", *crosscc.extension_sources(sys.platform)]
    command = ["gcc", "-std=c11", "-O1", "-I", str(NATIVE), *map(str, sources), "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.skipif(not LIVE, reason=f"the live contract runs on Linux; this is {memmaps.BACKEND}")
def test_the_core_alone_lists_by_the_contract(mmdump: Path, target: int) -> None:
    """What the C core prints without Python, read back, holds too: the
    path the Windows backend's driver will take under Wine."""
    text = subprocess.run(
        [str(mmdump), str(target)], capture_output=True, check=True, env=sanitized.tool_env()
    ).stdout
    maps = memmaps.parse(text)
    assert len(maps) > 10
    _assert_none(contract.listing_problems(maps))
    assert maps == memmaps.parse(memmaps.regions(target).to_proc_maps())


# -- recorded macOS records ---------------------------------------------------


@pytest.fixture(scope="module")
def darwinrecords(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contract") / "darwinrecords"
    sources = [ROOT / "tools" / "darwinrecords.c", NATIVE / "formats" / "mach_regions.c"]
    sources += [NATIVE / "core" / "list.c", NATIVE / "core" / "names.c"]
    command = ["gcc", "-std=c11", "-O1", "-I", str(NATIVE), *map(str, sources), "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 and "gcc" in result.stderr and "not found" in result.stderr:
        pytest.skip("no gcc to build tools/darwinrecords.c")
    assert result.returncode == 0, result.stderr
    return out


def _record_regions(driver: Path, fixture: Path) -> list[Region]:
    lines = subprocess.run(
        [str(driver), str(fixture)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    regions = []
    for line in lines:
        fields = dict(word.split("=", 1) for word in line.split("\t"))
        major, _, minor = fields.get("dev", "0:0").partition(":")
        regions.append(
            Region(
                start=int(fields["start"], 16),
                end=int(fields["end"], 16),
                perms=fields["perms"],
                offset=int(fields["offset"], 16),
                dev_major=int(major),
                dev_minor=int(minor),
                inode=int(fields.get("inode", "0")),
                path=fields.get("path"),
                kind=fields["kind"],
                max_perms=fields["max_perms"],
                share_mode=None if fields["share_mode"] == "None" else fields["share_mode"],
                tag=None if fields["tag"] == "None" else fields["tag"],
            )
        )
    return regions


RECORDS = sorted(p.name for p in FIXTURES.glob("*-constructed.txt"))


@pytest.mark.parametrize("fixture", RECORDS)
def test_macos_records(darwinrecords: Path, fixture: str) -> None:
    regions = _record_regions(darwinrecords, FIXTURES / fixture)
    assert regions, f"{fixture} gave no region"
    maps = Maps(regions, 4242)  # refuses unsorted or overlapping regions itself
    _assert_none(contract.listing_problems(maps))
    # Without a live task, region_at is the listing's own lookup: it must
    # still agree at every edge and gap.
    _assert_none(contract.lookup_problems(maps, maps.at))


# -- windows, under Wine -------------------------------------------------------


def _wine_fields(wine_session, *args: object) -> list[dict[str, str]]:
    from tests.helpers import wine

    result = wine_session.run(wine_session.program("mmdump"), "--fields", *args)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return wine.parse_fields(result.stdout.decode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("who", ["self", "child"])
def test_windows_backend(wine_session, who: str, tmp_path: Path) -> None:
    """The Windows backend's driver (tools/mmdump.c built with MinGW-w64
    from setup.py's win32 files) under Wine: its listing (of itself and of
    a child) and its lookups (in the child) read back into Regions hold the
    contract, and a missing process is told apart."""
    from tests.helpers import wine

    missing = wine_session.run(wine_session.program("mmdump"), "--fields", 0x7FFFFFF0)
    assert missing.returncode == 3 and b"does not exist" in missing.stderr
    child = None
    pid: list[object] = []
    if who == "child":
        child = wine_session.launch_ready(
            wine_session.program("child"),
            wine.windows_path(tmp_path),
            wine.windows_path(wine_session.program("exports.dll")),
        )
        pid = [child.pid]
    try:
        rows = _wine_fields(wine_session, "--usage", *pid)
        maps = Maps([wine.region_of(row) for row in rows], child.pid if child else 1)
        assert len(maps) > 20
        _assert_none(contract.listing_problems(maps))
        if child is None:
            # Each run of the driver is a new process with a map of its
            # own: its lookups are checked on the child, which holds still.
            return
        asked: list[int] = []
        contract.lookup_problems(maps, lambda addr: asked.append(addr))
        words = [word for addr in asked for word in ("--at", hex(addr))]
        found = {}
        for row in _wine_fields(wine_session, *words, *pid):
            at = int(row.pop("at"), 16)
            found[at] = wine.region_of(row) if row else None
        _assert_none(contract.lookup_problems(maps, found.__getitem__))
    finally:
        if child is not None:
            child.stop()


def test_the_contract_catches_a_broken_listing() -> None:
    """The checks themselves can fail."""
    good = Region(0x1000, 0x2000, "r--p")
    assert contract.listing_problems(Maps([good], 1)) == []
    broken = Maps._trusted((good, Region(0x1800, 0x3000, "rw-q", kind="odd")), 1)
    problems = contract.listing_problems(broken)
    assert any("starts before" in p for p in problems), problems
    assert any("perms" in p for p in problems) and any("kind" in p for p in problems), problems
    assert contract.lookup_problems(Maps([good], 1), lambda addr: None)
    if sys.platform.startswith("linux"):
        assert contract.error_problems(lambda pid: None, 2**22 + 1)
