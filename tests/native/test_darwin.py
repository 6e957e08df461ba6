"""The portable half of the macOS backend (memmaps/native/mm_darwin.c), here.

tools/darwinrecords.c feeds vm_region_submap_info_64 records, written down in
tests/fixtures/darwin/, through mm_darwin_add_region(), mm_darwin_set_path(),
mm_darwin_finish() and mm_darwin_total(): what mm_macos.c does with each
record mach_vm_region_recurse() returns on a Mac.  The tables of share-mode
and tag names are checked whole, and against the macOS SDK headers the
``ziglang`` package ships where it is installed.  The Mach side itself
(mm_macos.c) is compiled and linked for macOS in test_cross_compile.py; only
a Mac runs it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import crosscc

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "memmaps" / "native"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "darwin"
SOURCES = [
    ROOT / "tools" / "darwinrecords.c",
    NATIVE / "formats" / "mach_regions.c",
    NATIVE / "core" / "list.c",
    NATIVE / "core" / "names.c",
]

# vmmap's share-mode words by xnu's SM_* value (osfmk/mach/vm_region.h:
# SM_COW 1, SM_PRIVATE 2, SM_EMPTY 3, SM_SHARED 4, SM_TRUESHARED 5,
# SM_PRIVATE_ALIASED 6, SM_SHARED_ALIASED 7, SM_LARGE_PAGE 8).
SHARE_MODES = {
    1: "COW",
    2: "PRV",
    3: "NUL",
    4: "ALI",
    5: "SHM",
    6: "ZER",
    7: "S/A",
    8: "LPG",
}
SM_NAMES = {
    "SM_COW": 1,
    "SM_PRIVATE": 2,
    "SM_EMPTY": 3,
    "SM_SHARED": 4,
    "SM_TRUESHARED": 5,
    "SM_PRIVATE_ALIASED": 6,
    "SM_SHARED_ALIASED": 7,
    "SM_LARGE_PAGE": 8,
}

# Every tag mm_darwin.c names, by number; every other tag 1..255 is
# "Memory Tag N".  The numbers are xnu's (osfmk/mach/vm_statistics.h in
# apple-oss-distributions/xnu; 22, 36, 85, 107-109 from the newer SDK header
# zig ships), checked against that header below where it is installed.
TAGS = {
    1: "MALLOC",
    2: "MALLOC_SMALL",
    3: "MALLOC_LARGE",
    4: "MALLOC_HUGE",
    5: "SBRK",
    6: "MALLOC_REALLOC",
    7: "MALLOC_TINY",
    8: "MALLOC_LARGE_REUSABLE",
    9: "MALLOC_LARGE",
    10: "Performance tool data",
    11: "MALLOC_NANO",
    12: "MALLOC_MEDIUM",
    13: "MALLOC_PROB_GUARD",
    20: "Mach message",
    21: "IOKit",
    22: "VM_RECLAIM",
    30: "Stack",
    31: "Guard",
    32: "shared pmap",
    33: "dylib",
    34: "ObjC dispatching code",
    35: "unshared pmap",
    36: "LIBCHANNEL",
    40: "AppKit",
    41: "Foundation",
    42: "CoreGraphics",
    43: "CoreServices",
    44: "Java",
    45: "CoreData",
    46: "CoreData Object IDs",
    50: "ATS (font support)",
    51: "CoreAnimation",
    52: "CG image",
    53: "WebKit Malloc",
    54: "CG raster data",
    55: "CG shared images",
    56: "CG framebuffers",
    57: "CG backingstores",
    58: "COREGRAPHICS_XALLOC",
    60: "dyld private memory",
    61: "dyld malloc memory",
    62: "SQLite page cache",
    63: "WebAssembly memory",
    64: "JS JIT generated code",
    65: "JS VM register file",
    66: "OpenGL GLSL",
    67: "OpenCL",
    68: "CoreImage",
    69: "WebCore purgable data",
    70: "Image IO",
    71: "CoreProfile",
    72: "Assets Library",
    73: "Kernel Alloc Once",
    74: "Dispatch continuations",
    75: "Accelerate framework",
    76: "CoreUI image data",
    77: "CoreUI image file",
    78: "Activity Tracing",
    79: "RawCamera",
    80: "Process Corpse Info",
    81: "Apple System Log",
    82: "Swift runtime",
    83: "Swift metadata",
    84: "DHMM",
    85: "DFR",
    86: "SceneKit",
    87: "Skywalk Networking",
    88: "IOSurface",
    89: "libnetwork",
    90: "Audio",
    91: "Video Bitstream",
    92: "CoreMedia XPC",
    93: "CoreMedia RPC",
    94: "CoreMedia Memory Pool",
    95: "CoreMedia Readcache",
    96: "CoreMedia Crabs",
    97: "Quicklook Thumbnails",
    98: "Accounts",
    99: "Sanitizer",
    100: "IOAccelerator",
    101: "CoreMedia Regwarp",
    102: "Embedded Acoustic Recognition Decoder",
    103: "CoreUI Cached Image Data",
    104: "ColorSync",
    105: "BT Info",
    106: "CoreMedia HLS",
    107: "COMPOSITOR_SERVICES",
    108: "DEBUG",
    109: "NEURAL",
    230: "Rosetta",
    231: "Rosetta Thread Context",
    232: "Rosetta Indirect Branch Map",
    233: "Rosetta Return Stack",
    234: "Rosetta Executable Heap",
    235: "Rosetta User LDT",
    236: "Rosetta Arena",
    239: "Rosetta 10",
}

# Spot checks of xnu's numbers (apple-oss-distributions/xnu,
# osfmk/mach/vm_statistics.h), independent of the table above.
XNU_TAG_NUMBERS = {
    "MALLOC": 1,
    "MALLOC_SMALL": 2,
    "MALLOC_LARGE": 3,
    "MALLOC_TINY": 7,
    "MALLOC_LARGE_REUSED": 9,
    "ANALYSIS_TOOL": 10,
    "MALLOC_NANO": 11,
    "MALLOC_MEDIUM": 12,
    "IOKIT": 21,
    "STACK": 30,
    "GUARD": 31,
    "LAYERKIT": 51,
    "TCMALLOC": 53,
    "DYLD": 60,
    "SQLITE": 62,
    "OS_ALLOC_ONCE": 73,
    "LIBDISPATCH": 74,
    "GENEALOGY": 78,
    "IOSURFACE": 88,
    "IOACCELERATOR": 100,
    "COLORSYNC": 104,
    "ROSETTA": 230,
    "APPLICATION_SPECIFIC_1": 240,
    "APPLICATION_SPECIFIC_16": 255,
}
# ... and vmmap's names for some of them, as its output shows them.
VMMAP_NAMES = {
    "MALLOC_TINY": "MALLOC_TINY",
    "MALLOC_SMALL": "MALLOC_SMALL",
    "STACK": "Stack",
    "IOKIT": "IOKit",
    "DYLD": "dyld private memory",
    "OS_ALLOC_ONCE": "Kernel Alloc Once",
    "LIBDISPATCH": "Dispatch continuations",
    "GENEALOGY": "Activity Tracing",
    "IOSURFACE": "IOSurface",
    "IOACCELERATOR": "IOAccelerator",
    "APPLICATION_SPECIFIC_16": "Memory Tag 255",
}


def _compiler() -> str:
    for name in ("gcc", "cc", "clang"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip("no C compiler (gcc, cc or clang) on PATH to build tools/darwinrecords.c")


def _build(out: Path, *flags: str) -> Path:
    command = [_compiler(), "-std=c11", "-Wall", "-Wextra", "-Werror", "-g", *flags]
    command += ["-I", str(NATIVE), *map(str, SOURCES), "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("darwinrecords") / "darwinrecords", "-O2")


def _run(driver: Path, *args: str) -> str:
    result = subprocess.run([str(driver), *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def regions(driver: Path, *args: str) -> list[dict[str, str]]:
    """The driver's regions, each a dict of its key=value words."""
    out = []
    for line in _run(driver, *args).splitlines():
        out.append(dict(word.split("=", 1) for word in line.split("\t")))
    return out


def table(driver: Path, flag: str) -> dict[int, str | None]:
    rows = (line.split("\t") for line in _run(driver, flag).splitlines())
    return {int(n): (None if name == "None" else name) for n, name in rows}


# -- the name tables -----------------------------------------------------------


def test_share_mode_names(driver: Path) -> None:
    expected = {mode: SHARE_MODES.get(mode) for mode in range(10)}
    assert table(driver, "-s") == expected


def test_tag_names(driver: Path) -> None:
    names = table(driver, "-t")
    assert set(names) == set(range(257))
    assert names[0] is None, "no tag has no name"
    assert names[256] is None, "user tags are 8 bits"
    for tag in range(1, 256):
        assert names[tag] == TAGS.get(tag, f"Memory Tag {tag}"), tag


def _sdk_header(name: str) -> Path:
    """A header of the macOS SDK zig ships, or skip."""
    cmd = crosscc.zig_command()
    if cmd is None:
        pytest.skip("the ziglang package (with its macOS SDK headers) is not installed")
    import ziglang

    path = Path(ziglang.__file__).resolve().parent / "lib/libc/include/any-darwin-any" / name
    if not path.is_file():
        pytest.skip(f"this ziglang has no {name} among its macOS headers")
    return path


def _defines(path: Path, prefix: str) -> dict[str, int]:
    """The numeric #defines of a header whose names start with prefix."""
    pattern = re.compile(rf"^#define\s+{prefix}(\w+)\s+(\d+)\b", re.MULTILINE)
    return {name: int(value) for name, value in pattern.findall(path.read_text())}


def test_tag_numbers_are_xnus() -> None:
    sdk = _defines(_sdk_header("mach/vm_statistics.h"), "VM_MEMORY_")
    sdk.pop("COUNT")
    for name, number in XNU_TAG_NUMBERS.items():
        assert sdk[name] == number, name
    by_number = {number: name for name, number in sdk.items()}
    # Every tag the SDK defines has a name here, but the application's own,
    # which vmmap prints as "Memory Tag N".
    for name, number in sdk.items():
        if name.startswith("APPLICATION_SPECIFIC_"):
            assert number not in TAGS, name
        else:
            assert number in TAGS, f"VM_MEMORY_{name} ({number}) has no name in mm_darwin.c"
    # And no name for a number the SDK does not define.
    for number in TAGS:
        assert number in by_number, f"tag {number} is not in the SDK's vm_statistics.h"
    # Where the name is the VM_MEMORY_ suffix, it is that number's suffix
    # (but MALLOC_LARGE_REUSED, 9, which vmmap shows as MALLOC_LARGE).
    for number, name in TAGS.items():
        if name in sdk and number != 9:
            assert sdk[name] == number, name
    for key, vmmap in VMMAP_NAMES.items():
        assert TAGS.get(sdk[key], f"Memory Tag {sdk[key]}") == vmmap, key


def test_share_mode_numbers_are_xnus() -> None:
    sdk = _defines(_sdk_header("mach/vm_region.h"), "SM_")
    assert {f"SM_{name}": value for name, value in sdk.items()} == SM_NAMES


def test_mirror_fields_are_the_sdks() -> None:
    """mm_darwin_submap_info copies fields of vm_region_submap_info_64 by
    name: each must exist there."""
    header = _sdk_header("mach/vm_region.h").read_text()
    sdk_struct = re.search(r"struct vm_region_submap_info_64 \{(.*?)\};", header, re.DOTALL)
    assert sdk_struct is not None
    sdk_fields = set(re.findall(r"(\w+);", sdk_struct.group(1)))
    ours = re.search(
        r"typedef struct mm_darwin_submap_info \{(.*?)\} mm_darwin_submap_info;",
        (NATIVE / "formats" / "mach_regions.h").read_text(),
        re.DOTALL,
    )
    assert ours is not None
    our_fields = set(re.findall(r"(\w+);", ours.group(1)))
    assert len(our_fields) == 16
    assert our_fields <= sdk_fields, our_fields - sdk_fields


def test_portable_half_has_no_mach_headers() -> None:
    for name in ("mach_regions.c", "mach_regions.h"):
        text = (NATIVE / "formats" / name).read_text()
        assert not re.search(r"#include\s*<(mach|libproc|sys/proc)", text), name


# -- records to regions ------------------------------------------------------

P = 16384  # the arm64 fixture's page size

# What each record of regions-arm64-constructed.txt must become:
# (start, end, perms, max_perms, share_mode, tag, kind, offset, path, usage)
# with usage the figures that must be non-zero (every other one listed in
# USAGE_FIGURES must be 0).
ARM64 = [
    (0x100000000, 0x100004000, "r-xp", "r-x", "COW", None, "file", 0, "/private/tmp/target",
     {"rss": P}),
    (0x100004000, 0x100008000, "r--p", "rw-", "COW", None, "file", 0x4000,
     "/private/tmp/target", {"rss": P, "private_dirty": P}),
    (0x100008000, 0x10000C000, "rw-p", "rw-", "COW", None, "file", 0x8000,
     "/private/tmp/target", {"rss": P, "private_dirty": P}),
    (0x10000C000, 0x100014000, "r--p", "r--", "COW", None, "file", 0xC000,
     "/private/tmp/target", {"rss": 2 * P}),
    (0x100014000, 0x100018000, "---p", "rwx", "NUL", None, "guard", 0, None, {}),
    (0x100018000, 0x10001C000, "r--p", "rwx", "ZER", "MALLOC", "heap", 0, None,
     {"rss": P, "private_dirty": P}),
    (0x10001C000, 0x100028000, "rw-p", "rwx", "ZER", "MALLOC", "heap", 0, None,
     {"rss": 3 * P, "private_dirty": 3 * P}),
    (0x100028000, 0x10002C000, "---p", "rwx", "NUL", "MALLOC", "guard", 0, None, {}),
    (0x120000000, 0x120100000, "rw-p", "rwx", "PRV", "MALLOC_TINY", "heap", 0, None,
     {"rss": 20 * P, "private_dirty": 18 * P, "swap": 5 * P, "lazy_free": 2 * P}),
    (0x128000000, 0x128800000, "rw-p", "rwx", "NUL", "MALLOC_SMALL", "heap", 0, None, {}),
    (0x150000000, 0x150080000, "rwxp", "rwx", "ZER", "Memory Tag 255", "anon", 0, None,
     {"rss": 29 * P, "private_dirty": 29 * P, "swap": 17 * P}),
    (0x158000000, 0x158400000, "---p", "rwx", "NUL", "Memory Tag 253", "guard", 0, None, {}),
    (0x16F000000, 0x16F004000, "---p", "rwx", "NUL", "Stack", "guard", 0, None, {}),
    (0x16F004000, 0x16F800000, "rw-p", "rwx", "PRV", "Stack", "stack", 0, None,
     {"rss": 8 * P, "private_dirty": 8 * P}),
    (0x170000000, 0x170008000, "rw-s", "rwx", "SHM", None, "shmem", 0, None,
     {"rss": 2 * P, "shared_dirty": 2 * P}),
    (0x170008000, 0x17000C000, "rw-s", "rw-", "ALI", None, "file", 0x10000,
     "/Users/me/Library/data.db", {"rss": P, "shared_dirty": P}),
    (0x17000C000, 0x170010000, "r--s", "rw-", "S/A", None, "shmem", 0, None, {"rss": P}),
    (0x171000000, 0x171010000, "rw-s", "rw-", "SHM", "IOKit", "shmem", 0, None, {"rss": 4 * P}),
    (0x172000000, 0x172004000, "r--p", "rwx", "PRV", "dyld private memory", "anon", 0, None,
     {"rss": P, "private_dirty": P}),
    (0x172004000, 0x172008000, "rw-p", "rwx", "PRV", "Kernel Alloc Once", "anon", 0, None,
     {"rss": P, "private_dirty": P}),
    (0x173000000, 0x173004000, "rw-p", "rwx", "NUL", None, "anon", 0, None, {}),
    (0x174000000, 0x174200000, "rw-p", "rwx", "LPG", None, "anon", 0, None, {"rss": 128 * P}),
    (0x175000000, 0x175004000, "---p", "r--", "COW", None, "file", 0x8000,
     "/usr/share/icu/icudt76l.dat", {}),
    (0x180000000, 0x190000000, "r-xp", "r-x", "COW", None, "file", 0x4000, None,
     {"rss": 9000 * P}),
    (0x190000000, 0x190004000, "r--p", "rw-", "COW", None, "file", 0x10000000, None,
     {"rss": P, "private_dirty": P}),
    (0x300000000, 0x40300000000, "rw-p", "rwx", "PRV", "Memory Tag 240", "anon", 0, None,
     {"rss": 0xFFFFFFFF * P, "private_dirty": 0xFFFFFFFF * P, "swap": 0xFFFFFFFF * P,
      "lazy_free": 0xFFFFFFFE * P}),
    (0x50000000000, 0x50000004000, "rw-p", "rwx", None, None, "anon", 0, None, {}),
]  # fmt: skip

USAGE_FIGURES = ("rss", "private_dirty", "shared_dirty", "swap", "lazy_free")


def _none(value: str) -> str | None:
    return None if value == "None" else value


def _check(got: dict[str, str], want: tuple[Any, ...], page_size: int) -> None:
    start, end, perms, max_perms, share_mode, tag, kind, offset, path, usage = want
    where = f"region {start:#x}"
    assert int(got["start"], 16) == start, where
    assert int(got["end"], 16) == end, where
    assert got["perms"] == perms, where
    assert got["max_perms"] == max_perms, where
    assert _none(got["share_mode"]) == share_mode, where
    assert _none(got["tag"]) == tag, where
    assert got["kind"] == kind, where
    assert int(got["offset"], 16) == offset, where
    assert got.get("path") == path, where
    if "u.size" in got:
        assert int(got["u.size"]) == end - start, where
        assert int(got["u.kernel_page_size"]) == page_size, where
        for figure in USAGE_FIGURES:
            assert int(got[f"u.{figure}"]) == usage.get(figure, 0), f"{where}: {figure}"
        # What macOS does not report is not made up.
        for figure in ("pss", "private_clean", "shared_clean", "referenced", "anonymous"):
            assert f"u.{figure}" not in got, where


def test_arm64_records_with_usage(driver: Path) -> None:
    got = regions(driver, "-u", str(FIXTURES / "regions-arm64-constructed.txt"))
    assert len(got) == len(ARM64)
    for region, want in zip(got, ARM64, strict=True):
        _check(region, want, P)


def test_arm64_records_without_usage(driver: Path) -> None:
    got = regions(driver, str(FIXTURES / "regions-arm64-constructed.txt"))
    assert len(got) == len(ARM64)
    for region, want in zip(got, ARM64, strict=True):
        assert not any(key.startswith("u.") for key in region)
        _check(region, want, P)


def test_file_identity(driver: Path) -> None:
    """Darwin's dev_t: major in the top 8 bits, minor in the low 24."""
    got = regions(driver, str(FIXTURES / "regions-arm64-constructed.txt"))
    by_path = {r["path"]: r for r in got if "path" in r}
    assert by_path["/private/tmp/target"]["dev"] == "1:18"  # 0x1000012
    assert by_path["/private/tmp/target"]["inode"] == "4242"
    assert by_path["/usr/share/icu/icudt76l.dat"]["dev"] == "1:5"
    assert all(r["dev"] == "0:0" and r["inode"] == "0" for r in got if "path" not in r)


def test_x86_64_records_count_4k_pages(driver: Path) -> None:
    got = regions(driver, "-u", str(FIXTURES / "regions-x86_64-constructed.txt"))
    k = 4096
    want = [
        (0x10A000000, 0x10A002000, "r-xp", "rwx", "COW", None, "file", 0,
         "/usr/local/bin/tool", {"rss": 2 * k}),
        (0x600000000000, 0x600000800000, "rw-p", "rwx", "PRV", "MALLOC_NANO", "heap", 0, None,
         {"rss": 3 * k, "private_dirty": 2 * k}),
        (0x7FF7B0000000, 0x7FF7B0800000, "rw-p", "rwx", "PRV", "Stack", "stack", 0, None,
         {"rss": 4 * k, "private_dirty": 4 * k, "swap": k}),
    ]  # fmt: skip
    assert len(got) == len(want)
    for region, expected in zip(got, want, strict=True):
        _check(region, expected, k)


def test_depth0_fallback_records(driver: Path) -> None:
    """The proc_pidinfo() listing: a submap not descended into is one
    "special" region; a torn view keeps the newer record."""
    got = regions(driver, "-u", str(FIXTURES / "pidinfo-depth0-constructed.txt"))
    want = [
        (0x100000000, 0x100004000, "r-xp", "r-x", "COW", None, "file", 0, "/bin/sleep",
         {"rss": P}),
        (0x180000000, 0x280000000, "r-xs", "r-x", "SHM", None, "special", 0, None, {}),
        # cut short by the record after it, which overlaps it
        (0x300000000, 0x300004000, "rw-p", "rwx", "PRV", "MALLOC", "heap", 0, None,
         {"rss": 2 * P, "private_dirty": 2 * P}),
        (0x300004000, 0x30000C000, "r--p", "rwx", "ZER", "MALLOC", "heap", 0, None,
         {"rss": 2 * P}),
    ]  # fmt: skip
    assert len(got) == len(want)
    # The cut region's figures stay those of the whole record it came from
    # (mm_list_normalize() moves ends, it cannot split page counts).
    assert int(got[2].pop("u.size")) == 0x8000
    got[2]["u.size"] = str(0x4000)
    for region, expected in zip(got, want, strict=True):
        _check(region, expected, P)


def test_depth0_listing_says_it_is_partial(driver: Path) -> None:
    """Without the task port the listing is marked partial, with the pid and
    task_for_pid()'s refusal, and so is the total made from it; a full
    listing is not."""
    fixture = str(FIXTURES / "pidinfo-depth0-constructed.txt")
    refusal = "(os/kern) failure"
    for args in (("-p", refusal), ("-u", "-f", "4096", "-p", refusal)):
        first, *rest = regions(driver, *args, fixture)
        assert list(first) == ["partial"], first
        sentence = first["partial"]
        assert sentence.startswith("process 4242's task port was refused"), sentence
        assert f"({refusal}, 0x5)" in sentence and "submaps" in sentence, sentence
        assert rest and all("partial" not in region for region in rest)
    full = regions(driver, str(FIXTURES / "regions-arm64-constructed.txt"))
    assert all("partial" not in region for region in full)


def test_saturating_page_counts(driver: Path) -> None:
    (got,) = regions(driver, "-u", str(FIXTURES / "saturation-constructed.txt"))
    assert int(got["u.rss"]) == 2**64 - 1, "pages * page size must saturate, not wrap"
    assert int(got["u.private_dirty"]) == 2**48


# -- the whole-process total ------------------------------------------------

ADDITIVE = ("size", *USAGE_FIGURES)


@pytest.mark.parametrize(
    "fixture",
    [
        "regions-arm64-constructed.txt",
        "regions-x86_64-constructed.txt",
        "pidinfo-depth0-constructed.txt",
    ],
)
def test_total_is_the_sum(driver: Path, fixture: str) -> None:
    listing = regions(driver, "-u", str(FIXTURES / fixture))
    (total,) = regions(driver, "-u", "-f", "123456789", str(FIXTURES / fixture))
    assert total["path"] == "[rollup]"
    assert total["kind"] == "special"
    assert int(total["start"], 16) == int(listing[0]["start"], 16)
    assert int(total["end"], 16) == int(listing[-1]["end"], 16)
    for figure in ADDITIVE:
        want = sum(int(r[f"u.{figure}"]) for r in listing)
        assert int(total[f"u.{figure}"]) == min(want, 2**64 - 1), figure
    # A page size is no amount: it is not summed.
    assert "u.kernel_page_size" not in total
    assert total["x.phys_footprint"] == "123456789"


def test_total_without_usage_claims_nothing(driver: Path) -> None:
    (total,) = regions(driver, "-f", "5", str(FIXTURES / "regions-x86_64-constructed.txt"))
    assert not any(key.startswith("u.") for key in total)
    assert total["x.phys_footprint"] == "5"


def test_total_of_nothing(driver: Path) -> None:
    assert regions(driver, "-u", "-f", "1", str(FIXTURES / "empty.txt")) == []
    assert regions(driver, str(FIXTURES / "empty.txt")) == []


# -- the driver itself ------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("start=0x1000 size=0x1000 share_mode=256", "too big"),
        ("start=0x1000 size=0x1000 colour=3", "unknown key"),
        ("start=0x1000 size", "no '='"),
        ("start=0x1000 size=12ab", "bad number"),
    ],
)
def test_driver_rejects_bad_records(driver: Path, tmp_path: Path, line: str, message: str) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(line + "\n")
    result = subprocess.run([str(driver), str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert message in result.stderr


def test_under_sanitizers(tmp_path: Path) -> None:
    """The conversion and the total under AddressSanitizer and UBSan."""
    compiler = _compiler()
    probe = subprocess.run(
        [compiler, "-fsanitize=address,undefined", "-x", "c", "-", "-o", "/dev/null"],
        input="int main(void) { return 0; }",
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"{compiler} cannot build with the sanitizers here: {probe.stderr.strip()}")
    flags = ["-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    sanitized = _build(tmp_path / "darwinrecords-asan", *flags)
    runs = [["-t"], ["-s"]]
    for fixture in sorted(FIXTURES.glob("*.txt")):
        runs += [[str(fixture)], ["-u", str(fixture)], ["-u", "-f", "7", str(fixture)]]
    for args in runs:
        result = subprocess.run([str(sanitized), *args], capture_output=True, text=True)
        assert result.returncode == 0, f"{args}: {result.stderr}"
        assert "runtime error" not in result.stderr, f"{args}: {result.stderr}"
