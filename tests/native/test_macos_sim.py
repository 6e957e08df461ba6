"""The real macOS backend (memmaps/native/backends/macos.c), unchanged, run
here against the simulated Mach kernel of tests/macsim/: through
tools/mmdump (built with AddressSanitizer and UndefinedBehaviorSanitizer,
leaks included) and through the whole extension, via
memmaps/_platform/macos.py, in a child Python per scenario.

Each scenario is modelled on a real macOS process and names its source.
The expected results are written from the scenario by hand, from the
semantics of xnu's calls and vmmap's labels, not recorded from the backend.
After every run the simulation's accounting must show no task port left
undeallocated, and no deallocation of a port that was not ours.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import macscenario as ms
from tests.helpers import macsimbuild
from tests.helpers.procutil import python_env
from tests.helpers.sanitized import driver_env

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the simulation is built with gcc for Linux"
)

PID = 4242
PAGE16 = 0x4000
EXE = "/Users/me/target"
DYLD = "/usr/lib/dyld"
LIBC = "/usr/lib/system/libsystem_c.dylib"
# osfmk/mach/shared_region.h: SHARED_REGION_BASE_ARM64, _X86_64.
SHARED_ARM64 = 0x1_8000_0000
SHARED_X86_64 = 0x7FF8_0000_0000


@pytest.fixture(scope="session")
def mmdump() -> Path:
    return macsimbuild.mmdump()


@pytest.fixture(scope="session")
def package() -> Path:
    return macsimbuild.package()


def report_fields(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (w.split("=") for w in text.split())}


def check_accounting(report: dict[str, int]) -> None:
    assert report["ports_outstanding"] == 0, report
    assert report["bad_deallocs"] == 0, report
    assert report["self_deallocs"] == 0, report


def run_mmdump(
    mmdump: Path,
    scenario: ms.Scenario,
    tmp_path: Path,
    *args: str,
) -> tuple[subprocess.CompletedProcess[str], dict[str, int]]:
    path = scenario.save(tmp_path / "scenario.txt")
    report = tmp_path / "report.txt"
    env = driver_env()
    env.update(MACSIM_SCENARIO=str(path), MACSIM_REPORT=str(report))
    # A generous bound: a walk that loops forever is the failure looked for.
    proc = subprocess.run(
        [str(mmdump), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    for marker in ("Sanitizer", "runtime error:", "SUMMARY:"):
        assert marker not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    fields = report_fields(report.read_text())
    check_accounting(fields)
    return proc, fields


DRIVER = """\
import ctypes, json, sys, warnings
import memmaps
assert memmaps._core.BACKEND == "macos", memmaps._core.BACKEND
lib = ctypes.CDLL(memmaps._core.__file__)
out = {"reports": []}
def report():
    buf = ctypes.create_string_buffer(1024)
    lib.macsim_report(buf, 1024)
    return buf.value.decode()
def load(path):
    # Another scenario in the same child: what the last one left counts.
    out["reports"].append(report())
    assert lib.macsim_load(path.encode()) == 0, path
def catch(call):
    try:
        return call()
    except memmaps.errors.Error as e:
        return {"error": type(e).__name__, "message": str(e)}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    exec(compile(sys.argv[1], "<scenario>", "exec"))
out["warnings"] = [str(w.message) for w in caught]
out["report"] = report()
print(json.dumps(out, default=repr))
"""


def run_api(
    package: Path,
    scenario: ms.Scenario,
    tmp_path: Path,
    code: str,
    env_extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    path = scenario.save(tmp_path / "scenario.txt")
    env = dict(python_env(), **(env_extra or {}))
    env["PYTHONPATH"] = str(package)
    env["MACSIM_SCENARIO"] = str(path)
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    for text in [*out["reports"], out["report"]]:
        check_accounting(report_fields(text))
    return out


def region_lines(text: str) -> list[tuple[int, int, str, str | None]]:
    """mmdump's maps lines as (start, end, perms, path)."""
    rows = []
    for line in text.splitlines():
        fields = line.split(None, 5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        rows.append((start, end, fields[1][:3], fields[5] if len(fields) > 5 else None))
    return rows


# --------------------------------------------------------------------------
# An arm64 process (16 KiB pages), as vmmap shows one: __PAGEZERO, the
# executable, dyld, MALLOC_TINY and MALLOC_SMALL, a thread stack with its
# guard page, and the shared region submapped at SHARED_REGION_BASE_ARM64
# with a dylib of the shared cache in it that has no file of its own.
# Sources: xnu's osfmk/mach/vm_region.h and vm_statistics.h (fields, tags),
# osfmk/mach/shared_region.h (the base), vmmap(1)'s output (its labels).
# --------------------------------------------------------------------------

EXE_SLIDE = 0x40_0000
EXE_TEXT = 0x1_0000_0000 + EXE_SLIDE
DYLD_TEXT = 0x1_0050_0000
LIBC_LOAD = SHARED_ARM64 + 0x1_0000
ANON = DYLD_TEXT - 0x8_0000
TINY = 0x1_0080_0000
SMALL = 0x1_0100_0000
GUARD = 0x1_6F00_0000
STACK = GUARD + PAGE16
LIBZ = "/usr/lib/libz.1.dylib"
LIBZ_LOAD = SHARED_ARM64 + 0x10_0000


def file_segments(s: ms.Scenario, base: int, vnode: tuple[int, int, str]) -> None:
    """The __TEXT, __DATA and __LINKEDIT pages of an image mapped from its
    file, copy-on-write and one resident page each, as dyld maps one."""
    for i, prot in enumerate((ms.R | ms.X, ms.R | ms.W, ms.R)):
        s.entry(
            base + i * PAGE16,
            PAGE16,
            prot=prot,
            maxprot=prot,
            share=ms.SM_COW,
            pager=1,
            offset=i * PAGE16,
            resident=1,
            vnode=vnode,
        )


def arm64_process(
    *, self_target: bool = True, libz_loaded: bool = False
) -> tuple[ms.Scenario, dict[str, int]]:
    s = ms.Scenario()
    s.set(
        pid=PID,
        caller_is_target=1 if self_target else 0,
        page_size=PAGE16,
        kernel_page_size=PAGE16,
        footprint=0x12_3000,
        pidinfo_neighbour=1,
    )
    exe = ms.make_image(ms.MH_EXECUTE, text_vmaddr=0x1_0000_0000, symbols=["_main"], pagezero=True)
    dyld = ms.make_image(ms.MH_DYLINKER, text_vmaddr=DYLD_TEXT, symbols=["__dyld_start"])
    libc = ms.make_image(
        ms.MH_DYLIB, text_vmaddr=SHARED_ARM64 + 0x1_0000, symbols=["_puts", "_printf"]
    )
    # Its load commands count file offsets from the start of the cache, as
    # the dylibs of the shared cache do.
    libc_data = ms.machosim.cache_relative(libc.data, 0x300_0000)
    s.entry(0, EXE_TEXT, prot=0, maxprot=0, share=ms.SM_EMPTY, ref=0)  # __PAGEZERO
    exe_file = (0x100_0012, 1001, EXE)
    file_segments(s, EXE_TEXT, exe_file)
    # Memory the program vm_allocate()d, just below dyld: proc_pidinfo()
    # answers for dyld's __TEXT with its path (s.set(pidinfo_neighbour=1)).
    s.entry(ANON, PAGE16, prot=3, maxprot=7, share=ms.SM_PRIVATE, resident=1, dirtied=1)
    dyld_file = (0x100_0004, 77, DYLD)
    file_segments(s, DYLD_TEXT, dyld_file)
    s.entry(
        TINY,
        0x10_0000,
        prot=3,
        maxprot=7,
        share=ms.SM_PRIVATE,
        tag=ms.VM_MEMORY_MALLOC_TINY,
        resident=8,
        dirtied=8,
    )
    s.entry(
        SMALL,
        0x80_0000,
        prot=3,
        maxprot=7,
        share=ms.SM_PRIVATE,
        tag=ms.VM_MEMORY_MALLOC_SMALL,
        resident=2,
        dirtied=1,
    )
    s.entry(GUARD, PAGE16, prot=0, maxprot=7, share=ms.SM_EMPTY, tag=ms.VM_MEMORY_STACK)
    s.entry(
        STACK,
        0x7F_C000,
        prot=3,
        maxprot=7,
        share=ms.SM_PRIVATE,
        tag=ms.VM_MEMORY_STACK,
        resident=3,
        dirtied=3,
    )
    shared = s.new_map()
    s.entry(
        SHARED_ARM64, 0x2000_0000, prot=5, maxprot=5, share=ms.SM_PRIVATE, submap=shared, ref=30
    )
    for i, prot in enumerate((ms.R | ms.X, ms.R | ms.W, ms.R)):
        s.entry(
            0x1_0000 + i * PAGE16,
            PAGE16,
            map_id=shared,
            prot=prot,
            maxprot=prot,
            share=ms.SM_COW if i != 1 else ms.SM_PRIVATE,
            pager=1,
            resident=1,
        )
    s.entry(LIBZ_LOAD - SHARED_ARM64, 3 * PAGE16, map_id=shared, prot=5, maxprot=5, share=ms.SM_COW)
    ms.place(s, exe, EXE_SLIDE)
    ms.place(s, dyld, 0)
    ms.place(s, ms.Image(libc_data, libc.text_vmaddr, libc.segments, libc.symbols), 0)
    listed = [(EXE_TEXT, EXE), (LIBC_LOAD, LIBC)]
    if libz_loaded:
        # dlopen() of a dylib of the shared cache: mapped all along with
        # the cache (its regions are there either way), now in dyld's list.
        libz = ms.make_image(ms.MH_DYLIB, text_vmaddr=LIBZ_LOAD, symbols=["_deflate"])
        ms.place(s, libz, 0)
        listed.append((LIBZ_LOAD, LIBZ))
    fields = ms.dyld_records(
        s,
        DYLD_TEXT + PAGE16,
        listed,
        dyld=(DYLD_TEXT, DYLD),
        timestamp=0x5151,
    )
    return s, fields


# What vmmap would show for it, by hand: start, end, perms, path.
ARM64_REGIONS = [
    (0, EXE_TEXT, "---", None),  # __PAGEZERO: no image segment names it
    (EXE_TEXT, EXE_TEXT + PAGE16, "r-x", EXE),
    (EXE_TEXT + PAGE16, EXE_TEXT + 2 * PAGE16, "rw-", EXE),
    (EXE_TEXT + 2 * PAGE16, EXE_TEXT + 3 * PAGE16, "r--", EXE),
    # Anonymous: proc_pidinfo() answers with dyld's path, which must not be
    # taken (psutil#1291, proc-maps#25).
    (ANON, ANON + PAGE16, "rw-", None),
    (DYLD_TEXT, DYLD_TEXT + PAGE16, "r-x", DYLD),
    (DYLD_TEXT + PAGE16, DYLD_TEXT + 2 * PAGE16, "rw-", DYLD),
    (DYLD_TEXT + 2 * PAGE16, DYLD_TEXT + 3 * PAGE16, "r--", DYLD),
    (TINY, TINY + 0x10_0000, "rw-", None),
    (SMALL, SMALL + 0x80_0000, "rw-", None),
    (GUARD, GUARD + PAGE16, "---", None),
    (STACK, STACK + 0x7F_C000, "rw-", None),
    # The shared cache's dylib: no vnode, named after dyld's image.
    (LIBC_LOAD, LIBC_LOAD + PAGE16, "r-x", LIBC),
    (LIBC_LOAD + PAGE16, LIBC_LOAD + 2 * PAGE16, "rw-", LIBC),
    (LIBC_LOAD + 2 * PAGE16, LIBC_LOAD + 3 * PAGE16, "r--", LIBC),
    # The cache's other dylibs, which this process has not loaded.
    (LIBZ_LOAD, LIBZ_LOAD + 3 * PAGE16, "r-x", None),
]


def test_arm64_regions_mmdump(mmdump: Path, tmp_path: Path) -> None:
    scenario, _ = arm64_process()
    proc, report = run_mmdump(mmdump, scenario, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert region_lines(proc.stdout) == ARM64_REGIONS
    # The walk went into the submap: more calls than depth-0 entries.
    assert report["region_calls"] > 12


def test_arm64_images_mmdump(mmdump: Path, tmp_path: Path) -> None:
    scenario, _ = arm64_process()
    proc, _ = run_mmdump(mmdump, scenario, tmp_path, "--images")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    # In address order, dyld's list's order aside.
    assert [(int(r[0], 16), r[5]) for r in rows] == [
        (EXE_TEXT, EXE),
        (DYLD_TEXT, DYLD),
        (LIBC_LOAD, LIBC),
    ]
    assert "main" in rows[0][3] and "loader" in rows[1][3]
    assert int(rows[0][2], 16) == EXE_SLIDE  # bias: the slide


def test_arm64_through_the_api(package: Path, tmp_path: Path) -> None:
    scenario, _ = arm64_process()
    out = run_api(
        package,
        scenario,
        tmp_path,
        f"""
        maps = memmaps.regions()
        out["regions"] = [(r.start, r.end, r.perms[:3], r.path) for r in maps]
        out["tags"] = {{r.start: r.tag for r in maps}}
        out["kinds"] = {{r.start: r.kind for r in maps}}
        out["details"] = [(r.start, r.detail) for r in maps if r.detail]
        out["partial"] = maps.partial
        r = memmaps.region_at(None, {LIBC_LOAD + PAGE16 + 0x10})
        out["at"] = (r.start, r.end, r.perms[:3])
        out["gap"] = memmaps.region_at(None, {SMALL - 1})
        out["images"] = [(i.path, i.base) for i in memmaps.images()]
        out["puts"] = memmaps.symbol_address(None, "puts")
        out["main"] = memmaps.symbol_address(None, "main")
        sym = memmaps.symbol(None, "printf", image="libsystem_c.dylib")
        out["symbol"] = (sym.name, sym.address, sym.size, sym.image.path)
        out["missing"] = catch(lambda: memmaps.symbol(None, "no_such_function"))
        s = memmaps.symbolize(None, {LIBC_LOAD + 0x800 + 16 + 4})
        out["symbolized"] = (s.name, s.offset)
        out["header"] = memmaps.read_memory(None, {LIBC_LOAD}, 4).hex()
        out["empty"] = memmaps.read_memory(None, {LIBC_LOAD}, 0).hex()
        def cut():
            try:
                memmaps.read_memory(None, {EXE_TEXT + 3 * PAGE16 - 16}, 64)
            except memmaps.errors.MemoryReadError as e:
                return e.read
        out["cut"] = cut()
        try:
            memmaps.read_memory(None, 2**64 - 16, 32)
        except ValueError as e:
            out["top"] = str(e)
        out["usage_rss"] = memmaps.usage().rss
        out["footprint"] = dict(memmaps.usage().extra)
        p = memmaps.Process()
        out["process_regions"] = len(p.regions())
        # Its own pid, given: the same as None, by mach_task_self().
        out["by_pid"] = [(r.start, r.path) for r in memmaps.regions({PID})]
    """,
    )
    assert [tuple(r) for r in out["regions"]] == ARM64_REGIONS
    tags = {int(k): v for k, v in out["tags"].items()}
    assert tags[TINY] == "MALLOC_TINY" and tags[SMALL] == "MALLOC_SMALL"
    assert tags[STACK] == "Stack" and tags[LIBC_LOAD] == "__TEXT"
    assert out["kinds"][str(STACK)] == "stack"
    # vmmap's labels for the regions dyld's images name: segment and file.
    assert out["details"] == [
        [LIBC_LOAD, "__TEXT libsystem_c.dylib"],
        [LIBC_LOAD + PAGE16, "__DATA libsystem_c.dylib"],
        [LIBC_LOAD + 2 * PAGE16, "__LINKEDIT libsystem_c.dylib"],
    ]
    assert out["partial"] is None and out["warnings"] == []
    assert out["at"] == [LIBC_LOAD + PAGE16, LIBC_LOAD + 2 * PAGE16, "rw-"]
    assert out["gap"] is None
    assert out["images"] == [[EXE, EXE_TEXT], [DYLD, DYLD_TEXT], [LIBC, LIBC_LOAD]]
    assert out["puts"] == LIBC_LOAD + 0x800
    assert out["main"] == EXE_TEXT + 0x800
    # nlist records no size (platforms.md: only symbolize() gives a symbol
    # the addresses up to the next one).
    assert out["symbol"] == ["printf", LIBC_LOAD + 0x810, 0, LIBC]
    assert out["missing"]["error"] == "SymbolNotFound"
    assert out["symbolized"] == ["printf", 4]
    assert out["header"] == "cffaedfe"
    assert out["empty"] == ""
    # The last 16 bytes of the executable's __LINKEDIT, then the gap after
    # it: the bytes before the gap are what could be read.
    assert out["cut"] == 16
    assert "past the end of the address space" in out["top"]
    # Resident pages by hand: 3 (exe) + 1 (vm_allocate) + 3 (dyld) + 8 + 2
    # (malloc) + 3 (stack) + 3 (shared).
    assert out["usage_rss"] == (3 + 1 + 3 + 8 + 2 + 3 + 3) * PAGE16
    assert out["process_regions"] == len(ARM64_REGIONS)
    assert out["by_pid"] == [[r[0], r[3]] for r in ARM64_REGIONS]
    assert report_fields(out["report"])["ports_given"] == 0
    assert out["footprint"] == {"phys_footprint": 0x12_3000}  # task_info(TASK_VM_INFO)


# --------------------------------------------------------------------------
# An x86_64 process (4 KiB pages) whose shared region holds a nested submap
# (depth 2), as xnu nests the shared region's pmap (osfmk/vm/vm_shared_region.c).
# --------------------------------------------------------------------------


def x86_64_process() -> ms.Scenario:
    s = ms.Scenario()
    # Under Rosetta on Apple silicon: the kernel's pages are 16 KiB, the
    # task's map counts in 4 KiB ones (task_info(TASK_VM_INFO).page_size).
    s.set(pid=PID, caller_is_target=1, page_size=0x1000, kernel_page_size=0x4000)
    s.entry(0, 0x1_0000_0000, prot=0, maxprot=0, share=ms.SM_EMPTY)
    s.entry(
        0x1_0000_0000,
        0x1000,
        prot=5,
        maxprot=5,
        share=ms.SM_COW,
        pager=1,
        resident=1,
        vnode=(0x100_0012, 5, "/usr/local/bin/tool"),
    )
    s.entry(
        0x6000_0000_0000, 0x80_0000, prot=3, maxprot=7, tag=ms.VM_MEMORY_MALLOC_NANO, resident=4
    )
    outer = s.new_map()
    inner = s.new_map()
    s.entry(SHARED_X86_64, 0x1_0000_0000, prot=5, maxprot=5, submap=outer)
    s.entry(0, 0x4000_0000, map_id=outer, prot=5, maxprot=5, submap=inner, offset=0)
    s.entry(0x4000_0000, 0x2000, map_id=outer, prot=3, maxprot=3, share=ms.SM_COW, resident=2)
    s.entry(
        0x1000, 0x3000, map_id=inner, prot=5, maxprot=5, share=ms.SM_TRUESHARED, pager=1, resident=3
    )
    return s


def test_x86_64_nested_submaps(package: Path, tmp_path: Path) -> None:
    out = run_api(
        package,
        x86_64_process(),
        tmp_path,
        f"""
        maps = memmaps.regions()
        out["regions"] = [(r.start, r.end, r.perms[:3], r.path) for r in maps]
        out["rss"] = memmaps.usage().rss
        def at(addr):
            r = memmaps.region_at(None, addr)
            return None if r is None else (r.start, r.end)
        out["at"] = [at(a) for a in ({SHARED_X86_64 + 0x10}, {SHARED_X86_64 + 0x2000},
                                     {SHARED_X86_64 + 0x4000_1000}, {SHARED_X86_64 + 0x4000_3000},
                                     {SHARED_X86_64 - 1})]
    """,
    )
    assert [tuple(r) for r in out["regions"]] == [
        (0, 0x1_0000_0000, "---", None),
        (0x1_0000_0000, 0x1_0000_1000, "r-x", "/usr/local/bin/tool"),
        (0x6000_0000_0000, 0x6000_0080_0000, "rw-", None),
        (SHARED_X86_64 + 0x1000, SHARED_X86_64 + 0x4000, "r-x", None),  # depth 2
        (SHARED_X86_64 + 0x4000_0000, SHARED_X86_64 + 0x4000_2000, "rw-", None),  # depth 1
    ]
    assert out["rss"] == (1 + 4 + 3 + 2) * 0x1000
    # A hole in the depth-2 submap, its leaf, the depth-1 leaf, the hole after
    # it in the outer submap, and the gap below the shared region.
    assert out["at"] == [
        None,
        [SHARED_X86_64 + 0x1000, SHARED_X86_64 + 0x4000],
        [SHARED_X86_64 + 0x4000_0000, SHARED_X86_64 + 0x4000_2000],
        None,
        None,
    ]


# --------------------------------------------------------------------------
# The kernel's answers: task_for_pid() refused, the process gone or a
# zombie, dyld changing its list.
# --------------------------------------------------------------------------


def test_task_port_refused_falls_back_to_pidinfo(package: Path, tmp_path: Path) -> None:
    # Another process of the same user, without root: task_for_pid() says
    # KERN_FAILURE and proc_pidinfo() answers at depth 0 (libproc.h).
    scenario, _ = arm64_process(self_target=False)
    scenario.set(tfp="refuse 5", pidinfo_neighbour=0, rusage_footprint=0x5000)
    out = run_api(
        package,
        scenario,
        tmp_path,
        f"""
        maps = memmaps.regions({PID})
        out["regions"] = [(r.start, r.end, r.perms[:3], r.path) for r in maps]
        out["partial"] = maps.partial
        out["images"] = catch(lambda: memmaps.images({PID}))
        out["read"] = catch(lambda: memmaps.read_memory({PID}, {EXE_TEXT}, 4))
    """,
    )
    regions = [tuple(r) for r in out["regions"]]
    # Depth 0 only: the shared region is one submap entry, unnamed; the
    # files are named from their vnodes; nothing is named from dyld.
    assert regions == [*ARM64_REGIONS[:12], (SHARED_ARM64, SHARED_ARM64 + 0x2000_0000, "r-x", None)]
    assert out["partial"] is not None and "proc_pidinfo" in out["partial"]
    assert any("proc_pidinfo" in w for w in out["warnings"])
    assert out["images"]["error"] == "AccessDenied"
    assert "task_for_pid" in out["images"]["message"]
    assert out["read"]["error"] == "AccessDenied"


def test_both_refused_is_access_denied(mmdump: Path, tmp_path: Path) -> None:
    scenario, _ = arm64_process(self_target=False)
    scenario.set(tfp="refuse 5", pidinfo_errno=1)  # EPERM
    proc, _ = run_mmdump(mmdump, scenario, tmp_path, str(PID))
    assert proc.returncode == 1
    assert "access denied" in proc.stderr and "another user" in proc.stderr


def test_root_refused_names_the_hardened_runtime(package: Path, tmp_path: Path) -> None:
    scenario, _ = arm64_process(self_target=False)
    scenario.set(tfp="refuse 5", euid=0)
    out = run_api(
        package,
        scenario,
        tmp_path,
        f"""
        out["images"] = catch(lambda: memmaps.images({PID}))
    """,
    )
    assert out["images"]["error"] == "AccessDenied"
    assert "even root" in out["images"]["message"]


@pytest.mark.parametrize("calls", [3, 8, 20, 40])
def test_process_gone_mid_walk(package: Path, tmp_path: Path, calls: int) -> None:
    # The target exits after some calls: whatever was read is not a
    # listing of it (the port turns into a dead name: MACH_SEND_INVALID_DEST).
    scenario, _ = arm64_process(self_target=False)
    scenario.set(ends_after=f"{calls} gone")
    out = run_api(
        package,
        scenario,
        tmp_path,
        f"""
        out["regions"] = catch(lambda: [(r.start, r.end, r.perms[:3], r.path)
                                         for r in memmaps.regions({PID})])
        out["images"] = catch(lambda: memmaps.images({PID}))
    """,
    )
    # The listing ended before the process did, whole, or it is refused.
    if isinstance(out["regions"], list):
        assert [tuple(r) for r in out["regions"]] == ARM64_REGIONS
    else:
        assert out["regions"]["error"] == "NoSuchProcess", out
    assert out["images"]["error"] == "NoSuchProcess", out


def test_zombie(package: Path, tmp_path: Path) -> None:
    scenario, _ = arm64_process(self_target=False)
    scenario.set(state="zombie")
    out = run_api(
        package,
        scenario,
        tmp_path,
        f"""
        out["regions"] = catch(lambda: memmaps.regions({PID}))
        out["images"] = catch(lambda: memmaps.images({PID}))
    """,
    )
    assert out["regions"]["error"] == "ZombieProcess"
    assert out["images"]["error"] == "ZombieProcess"


@pytest.mark.parametrize("pid", [PID + 1, 0, 2**31])
@pytest.mark.parametrize("images", [False, True])
def test_process_that_never_was(mmdump: Path, tmp_path: Path, pid: int, images: bool) -> None:
    # 0 is the kernel's, and a pid_t cannot hold 2**31: no such process.
    scenario, _ = arm64_process(self_target=False)
    proc, _ = run_mmdump(mmdump, scenario, tmp_path, *(["--images"] if images else []), str(pid))
    assert proc.returncode == 1 and "does not exist" in proc.stderr


@pytest.mark.parametrize("null_reads", [1, 150])
def test_dyld_mid_update(package: Path, tmp_path: Path, null_reads: int) -> None:
    # dyld holds infoArray NULL while it changes the list (dyld_images.h):
    # the reader tries again, and again after a pause, until it is filled.
    scenario, fields = arm64_process()
    scenario.flickers.append((fields["infoArray"], 8, null_reads))
    out = run_api(
        package,
        scenario,
        tmp_path,
        """
        out["images"] = [i.path for i in memmaps.images()]
    """,
    )
    assert out["images"] == [EXE, DYLD, LIBC]


def test_dyld_never_settles(package: Path, tmp_path: Path) -> None:
    scenario, fields = arm64_process()
    scenario.flickers.append((fields["infoArray"], 8, 10**9))
    out = run_api(
        package,
        scenario,
        tmp_path,
        """
        out["images"] = catch(lambda: memmaps.images())
        out["regions"] = [r.path for r in memmaps.regions()]
    """,
    )
    assert "error" in out["images"]
    assert report_fields(out["report"])["sleeps"] >= 4  # DYLD_BUSY_TRIES - 1, twice
    # The listing stands without the names dyld would have given.
    assert LIBC not in out["regions"] and EXE in out["regions"]


# --------------------------------------------------------------------------
# The ends of the walk, and a kernel that lies.  mmdump with the sanitizers;
# the bound of run_mmdump's timeout is what "does not hang" means.
# --------------------------------------------------------------------------


def test_zero_size_and_top_of_the_address_space(mmdump: Path, tmp_path: Path) -> None:
    s = ms.Scenario().set(pid=PID, caller_is_target=1)
    s.entry(0x1000_0000, 0x4000, prot=3, share=ms.SM_PRIVATE)
    s.entry(0xFFFF_FFFF_FFFF_C000, 0x4000, prot=1, share=ms.SM_PRIVATE)
    proc, _ = run_mmdump(mmdump, s, tmp_path)
    assert proc.returncode == 0
    rows = region_lines(proc.stdout)
    assert rows[0] == (0x1000_0000, 0x1000_4000, "rw-", None)
    # The last region ends at 2**64, which a uint64 end cannot hold.
    assert rows[1][0] == 0xFFFF_FFFF_FFFF_C000 and rows[1][1] >= 0xFFFF_FFFF_FFFF_FFFF
    assert len(rows) == 2

    # A region of size 0 cannot be stepped over: asking again gets the same.
    # Stopping there would pass a listing cut short for a whole one.
    s = ms.Scenario().set(pid=PID, caller_is_target=1)
    s.entry(0x1000_0000, 0x4000, prot=3, report_size=0)
    s.entry(0x2000_0000, 0x4000, prot=3)
    proc, _ = run_mmdump(mmdump, s, tmp_path)
    assert proc.returncode == 1
    assert "size 0 at 0x10000000" in proc.stderr


def hostile_scenarios() -> dict[str, ms.Scenario]:
    cases: dict[str, ms.Scenario] = {}

    def new(name: str) -> ms.Scenario:
        cases[name] = ms.Scenario().set(pid=PID, caller_is_target=1)
        return cases[name]

    s = new("backwards")  # the kernel reports a region below the address asked
    s.entry(0x1000, 0x1000, prot=3)
    s.entry(0x2000, 0x1000, prot=3, report_start=0x1000)
    s.entry(0x9000, 0x1000, prot=3)
    s = new("cyclic-submap")
    loop = s.new_map()
    s.entry(0x10_0000, 0x10_0000, submap=loop)
    s.entry(0, 0x10_0000, map_id=loop, submap=loop)
    s = new("submap-lie")  # is_submap with no map behind it, every time
    s.entry(0x10_0000, 0x1000, is_submap=1)
    s.entry(0x20_0000, 0x1000, prot=1)
    s = new("deep-depth")
    s.entry(0x10_0000, 0x1000, report_depth=0xFFFF_FFFF)
    s.entry(0x20_0000, 0x1000, prot=1)
    s = new("wrapping")
    s.entry(0xFFFF_FFFF_FFFF_0000, 0x2_0000, prot=3)
    s.entry(0x1000, 0xFFFF_FFFF_FFFF_F000, prot=3, report_size=0xFFFF_FFFF_FFFF_FFFF)
    s = new("overlapping")
    s.entry(0x1000, 0x10_0000, prot=3)
    s.entry(0x2000, 0x1000, prot=1)
    s.entry(0x5000, 0x1000, prot=1, report_start=0x800, report_size=0x20_0000)
    s = new("counts")
    s.set(vm_info_count=1, region_count_lie=0xFFFF_FFFF, page_size=0, pidinfo_size=0x7FFF_FFFF)
    s.set(kernel_page_size=0)
    s.entry(
        0x1000,
        0x1000,
        prot=3,
        resident=0xFFFF_FFFF,
        dirtied=0xFFFF_FFFF,
        swapped=0xFFFF_FFFF,
        vnode=(1, 2, "/x" * 700),
    )
    s = new("below")  # proc_pidinfo() answers with a region that ends below
    s.entry(0x1000, 0x1000, prot=3)
    s.entry(0x3000, 0x1000, prot=3, report_start=0x1000, report_size=0x800)
    s = new("image-at-the-top")  # dyld lists an image whose header would wrap
    s.entry(0x10_0000, 0x4000, prot=3)
    ms.dyld_records(s, 0x10_0000, [(0xFFFF_FFFF_FFFF_FFF0, "/top")], dyld=None)
    s = new("dyld-garbage")
    s.entry(0x1000, 0x10000, prot=3)
    s.set(dyld="0x1000 1")
    s.write_memory(0x1000, bytes([0xFF]) * 0x10000)
    s = new("dyld-nowhere")
    s.set(dyld="0xFFFFFFFFFFFFFFF0 0", dyld_kr=0)
    s.entry(0x1000, 0x1000, prot=3)
    return cases


@pytest.mark.parametrize("name", sorted(hostile_scenarios()))
@pytest.mark.parametrize("what", ["regions", "images", "other"])
def test_hostile_kernel(mmdump: Path, tmp_path: Path, name: str, what: str) -> None:
    scenario = hostile_scenarios()[name]
    if what == "other":
        scenario.set(caller_is_target=0, tfp="refuse 5")
        args = [str(PID)]
    else:
        args = ["--images"] if what == "images" else []
    proc, _ = run_mmdump(mmdump, scenario, tmp_path, *args)
    if proc.returncode == 1:
        assert proc.stderr.startswith("mmdump: "), proc.stderr


@pytest.mark.parametrize("port", ["task port", "refused"])
def test_hostile_through_the_api(package: Path, tmp_path: Path, port: str) -> None:
    for name, scenario in hostile_scenarios().items():
        folder = tmp_path / name
        folder.mkdir()
        if port == "refused":
            scenario.set(caller_is_target=0, tfp="refuse 5")
        pid = "None" if port == "task port" else str(PID)
        run_api(
            package,
            scenario,
            folder,
            f"""
            out["regions"] = catch(lambda: len(memmaps.regions({pid})))
            out["images"] = catch(lambda: len(memmaps.images({pid})))
            out["usage"] = catch(lambda: memmaps.usage({pid}).rss)
            out["at"] = catch(lambda: memmaps.region_at({pid}, 0x1800))
            out["at2"] = catch(lambda: memmaps.region_at({pid}, 0x3800))
            out["read"] = catch(lambda: memmaps.read_memory({pid}, 0x1000, 0x3000))
            """,
        )


# --------------------------------------------------------------------------
# Every call of the backend's as the last before the target ends: whichever
# call meets the end, the answer is NoSuchProcess (or ZombieProcess), or a
# whole answer when it all came before.  One child, a scenario per count.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["gone", "zombie"])
@pytest.mark.parametrize("port", ["task port", "refused"])
def test_the_end_at_every_call(package: Path, tmp_path: Path, end: str, port: str) -> None:
    paths = []
    for calls in range(0, 90):
        scenario, _ = arm64_process(self_target=False)
        scenario.set(ends_after=f"{calls} {end}")
        if port == "refused":
            scenario.set(tfp="refuse 5", pidinfo_neighbour=0)
        paths.append(str(scenario.save(tmp_path / f"s{calls}.txt")))
    out = run_api(
        package,
        ms.Scenario(),
        tmp_path,
        f"""
        out["answers"] = []
        for path in {paths!r}:
            for call in ("regions", "images", "usage", "region_at"):
                load(path)
                if call == "regions":
                    got = catch(lambda: [r.start for r in memmaps.regions({PID})])
                elif call == "images":
                    got = catch(lambda: [i.base for i in memmaps.images({PID})])
                elif call == "usage":
                    got = catch(lambda: memmaps.usage({PID}).rss)
                else:
                    got = catch(lambda: memmaps.region_at({PID}, {TINY}).start)
                out["answers"].append((call, got))
        """,
    )
    errors = {"gone": "NoSuchProcess", "zombie": "ZombieProcess"}
    whole = {
        "regions": [r[0] for r in ARM64_REGIONS]
        if port == "task port"
        else [r[0] for r in ARM64_REGIONS[:12]] + [SHARED_ARM64],
        "images": [EXE_TEXT, DYLD_TEXT, LIBC_LOAD],
        "region_at": TINY,
    }
    seen = set()
    for call, got in out["answers"]:
        if isinstance(got, dict):
            # A zombie may be met as gone first: a dead task port is all the
            # Mach calls can tell.
            allowed = {errors[end], "NoSuchProcess"}
            if port == "refused" and call == "images":
                allowed.add("AccessDenied")
            assert got["error"] in allowed, (call, got)
            seen.add((call, got["error"]))
        elif call == "images" and port == "refused":
            raise AssertionError(f"images without the task port: {got}")
        elif call != "usage":
            assert got == whole[call], (call, got)
        else:
            seen.add((call, "whole"))
    # The end was met by every call at least once, and each call was whole
    # once everything came before it.
    for call in ("regions", "usage", "region_at"):
        assert any(c == call and e != "whole" for c, e in seen), (call, seen)


def test_more_answers_of_the_kernel(package: Path, tmp_path: Path) -> None:
    cases = {}

    def case(name: str, **settings: int | str) -> None:
        scenario, _ = arm64_process(self_target=False)
        scenario.set(pidinfo_neighbour=0, **settings)
        cases[name] = str(scenario.save(tmp_path / f"{name}.txt"))

    case("pid reused", pid_for_task=PID + 7)  # pid_for_task() names another
    case("region call fails", region_kr=ms.KERN_FAILURE)
    case("dyld info fails", dyld_kr=ms.KERN_FAILURE)
    case("refused, rusage", tfp="refuse 5", rusage_footprint=0x7000)
    case("refused, no rusage", tfp="refuse 5", rusage_errno=1)
    case("refused then zombie", tfp="refuse 5", pidinfo_errno=1, ends_after="3 zombie")
    out = run_api(
        package,
        ms.Scenario(),
        tmp_path,
        f"""
        for name, path in {cases!r}.items():
            load(path)
            regions = catch(lambda: len(memmaps.regions({PID})))
            load(path)
            images = catch(lambda: len(memmaps.images({PID})))
            load(path)
            usage = catch(lambda: dict(memmaps.usage({PID}).extra))
            out[name] = (regions, images, usage)
        load({cases["refused, rusage"]!r})
        out["pid 0"] = catch(lambda: memmaps.regions(0))
        """,
    )
    regions, images, _ = out["pid reused"]
    assert regions["error"] == images["error"] == "NoSuchProcess"
    regions, images, _ = out["region call fails"]
    assert "mach_vm_region_recurse() failed" in regions["message"]
    assert "(os/kern) failure" in regions["message"]
    regions, images, _ = out["dyld info fails"]
    assert regions == len(ARM64_REGIONS)  # only the dylib's names are lost
    assert "task_info(TASK_DYLD_INFO)" in images["message"]
    regions, images, usage = out["refused, rusage"]
    assert regions == 13 and images["error"] == "AccessDenied"  # depth 0
    assert usage == {"phys_footprint": 0x7000}  # proc_pid_rusage()'s ri_phys_footprint
    _, _, usage = out["refused, no rusage"]
    assert usage == {}
    _, _, usage = out["region call fails"]
    assert "mach_vm_region_recurse() failed" in usage["message"]
    regions, images, usage = out["refused then zombie"]
    assert regions["error"] == "ZombieProcess"
    assert out["pid 0"]["error"] == "NoSuchProcess"


def test_region_at_from_the_listing(package: Path, tmp_path: Path) -> None:
    scenario, _ = arm64_process()
    out = run_api(
        package,
        scenario,
        tmp_path,
        f"""
        r = memmaps.region_at(None, {LIBC_LOAD + 5})
        out["at"] = (r.start, r.end, r.path)
        """,
        env_extra={"MEMMAPS_REGION_AT": "listing"},
    )
    # From a whole listing: named after dyld's image, as regions() names it.
    assert out["at"] == [LIBC_LOAD, LIBC_LOAD + PAGE16, LIBC]


def test_generation_follows_dyld(package: Path, tmp_path: Path) -> None:
    # Process.generation changes when dyld's list does, though dlopen() of a
    # dylib of the shared cache maps nothing new (dyld_images.h:
    # infoArrayChangeTimestamp and the list change, the regions do not).
    before, _ = arm64_process()
    after, _ = arm64_process(libz_loaded=True)
    first = before.save(tmp_path / "before.txt")
    second = after.save(tmp_path / "after.txt")
    assert before.maps == after.maps
    out = run_api(
        package,
        before,
        tmp_path,
        f"""
        load({str(first)!r})
        p = memmaps.Process()
        g0 = p.generation
        out["same"] = p.generation == g0
        out["before"] = [i.path for i in p.images()]
        load({str(second)!r})
        out["changed"] = p.generation != g0
        out["after"] = [i.path for i in p.images()]
        p.close()
        """,
    )
    assert out["same"] and out["changed"]
    assert out["before"] == [EXE, DYLD, LIBC]
    assert out["after"] == [EXE, DYLD, LIBC, LIBZ]


@pytest.mark.parametrize("scenario", ["arm64", "x86_64", "refused"])
def test_the_contract_holds_in_the_simulation(package: Path, tmp_path: Path, scenario: str) -> None:
    # tests/contract/contract.py, the checks every backend's answers pass.
    made = {
        "arm64": lambda: arm64_process()[0],
        "x86_64": x86_64_process,
        "refused": lambda: arm64_process(self_target=False)[0].set(
            tfp="refuse 5", pidinfo_neighbour=0
        ),
    }[scenario]()
    pid = "None" if scenario != "refused" else str(PID)
    out = run_api(
        package,
        made,
        tmp_path,
        f"""
        sys.path.append({str(macsimbuild.ROOT)!r})
        from tests.contract import contract
        maps = memmaps.regions({pid})
        problems = contract.listing_problems(maps)
        problems += contract.listing_problems(memmaps.regions({pid}, usage=True))
        # region_at() names a region only from proc_pidinfo() (platforms.md):
        # the lookup is compared with a listing made the same way.
        import os
        os.environ["MEMMAPS_REGION_AT"] = "listing"
        problems += contract.lookup_problems(maps, lambda a: memmaps.region_at({pid}, a))
        images = catch(lambda: memmaps.images({pid}))
        if isinstance(images, list):
            problems += contract.image_problems(images, maps)
        for call in (memmaps.regions, memmaps.usage, memmaps.images,
                     lambda p: memmaps.region_at(p, 0x1000)):
            problems += contract.error_problems(call, {PID + 1})
        out["problems"] = problems
        """,
    )
    assert out["problems"] == []


@pytest.mark.parametrize(
    "text",
    [
        "entry 0x1000\n",  # no size
        "entry 0x1000 0x1000 prot\n",  # no value
        "entry 0x1000 0x1000 nosuchkey=1\n",
        "entry 0x1000 0x1000 submap=99999999\n",
        "map 4096\n",
        "vnode 1 2 /x\n",  # before any entry
        "entry 0x1000 0x1000\nvnode 1\n",
        "mem 0x1000 abc\n",  # odd hex
        "mem 0x1000 zz\n",
        "flicker 0x1000\n",
        "tfp refuse\n",
        "state undead\n",
        "ends_after -1 gone\n",
        "pid 99999999999999999999999\n",
        "\xff garbage\n",
        "x" * 70000 + "\n",
    ],
)
def test_the_simulation_refuses_a_broken_scenario(mmdump: Path, tmp_path: Path, text: str) -> None:
    # The scenario's own parser is bounded too: a broken line is named and
    # the run stops there, with no sanitizer report.
    path = tmp_path / "broken.txt"
    path.write_bytes(text.encode("latin-1"))
    env = driver_env()
    env["MACSIM_SCENARIO"] = str(path)
    proc = subprocess.run(
        [str(mmdump)], capture_output=True, text=True, errors="replace", env=env, timeout=60
    )
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr
    assert proc.returncode == 3 and "not a scenario line" in proc.stderr, proc.stderr


@pytest.mark.parametrize("lie", ["size", "length"])
def test_the_fallback_refuses_a_broken_answer(mmdump: Path, tmp_path: Path, lie: str) -> None:
    # proc_pidinfo() answering with a region of size 0, or with fewer bytes
    # than the record has: the listing cannot go on, and an end there would
    # pass for the whole map.
    s = ms.Scenario().set(pid=PID, caller_is_target=0, tfp="refuse 5")
    s.entry(0x1000, 0x1000, prot=3)
    if lie == "size":
        s.entry(0x4000, 0x1000, prot=3, report_size=0)
    else:
        s.set(pidinfo_size=100)
    s.entry(0x9000, 0x1000, prot=3)
    proc, _ = run_mmdump(mmdump, s, tmp_path, str(PID))
    assert proc.returncode == 1
    assert "proc_pidinfo(PROC_PIDREGIONPATHINFO) answered" in proc.stderr
    at = "0x0" if lie == "length" else "0x2000"  # asked from 0, then past 0x2000
    assert f"process {PID} at {at}" in proc.stderr, proc.stderr
