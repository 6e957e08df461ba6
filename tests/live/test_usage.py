"""Live tests of the memory usage figures: real processes map memory whose
smaps figures are known (tests/targets/usage_target.c); regions(pid,
usage=True), usage(pid), the no-rollup sum, Maps.total() and group_by_path()
must agree with an independent parse of the kernel's own /proc/PID/smaps and
smaps_rollup text (tests/helpers/procutil.py: parse_smaps), with psutil, and with
what the target did."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import memmaps
from memmaps import _core
from tests.helpers import procutil
from tests.helpers.procutil import (
    COUNTED_FIELDS,
    lib_vs_ref,
    parse_smaps,
    read_proc,
    sum_usages,
    usage_problems,
)

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="live /proc tests need Linux"),
    pytest.mark.skipif(
        sys.platform.startswith("linux") and os.sysconf("SC_PAGESIZE") != 4096,
        reason="the target's page counts assume 4 KiB pages",
    ),
]

PAGE = 4096
HUGE = 2 << 20

# The target's layout (tests/targets/usage_target.c).
ANON_PAGES, DIRTY_PAGES = 8, 5
UNTOUCHED_PAGES = 4
FILE_PAGES = 6
SHARED_PAGES = 3
SHANON_PAGES, SHANON_TOUCHED = 4, 2
LOCKED_PAGES = 3
SWAP_PAGES = 64


def _thp_enabled() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[never]" not in f.read()
    except OSError:
        return False


def snapshot(pid: int, files: list[str], read, tries: int = 50):
    """read() between two reads of each /proc/PID/<file>, retried until the
    kernel's text is the same before and after (shared pages' Pss changes
    whenever another process maps or unmaps libc).  Returns (read(), texts)."""
    for _ in range(tries):
        before = [read_proc(pid, name) for name in files]
        got = read()
        after = [read_proc(pid, name) for name in files]
        if before == after:
            return got, before
        time.sleep(0.02)
    pytest.fail(f"/proc/{pid}/{files} kept changing over {tries} tries")


@pytest.fixture(scope="module")
def target(build_target, tmp_path_factory):
    exe = build_target("usage_target")
    work = tmp_path_factory.mktemp("usage")
    proc = procutil.start([str(exe), "regions", str(work)])
    try:
        info = json.loads(procutil.read_line(proc))
        assert info["pid"] == proc.pid
        info["dir"] = str(work)
        yield info
    finally:
        procutil.stop(proc)
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------
# 1. regions(pid, usage=True) against the kernel's smaps
# --------------------------------------------------------------------------


def test_every_region_equals_kernel_smaps(target):
    """Every field of every region, headers and usage, equals an independent
    parse of the smaps text read just before and just after."""
    pid = target["pid"]
    maps, (text,) = snapshot(pid, ["smaps"], lambda: memmaps.regions(pid, usage=True))
    refs = parse_smaps(text)
    assert maps.pid == pid
    assert len(maps) == len(refs), f"library {len(maps)} regions, kernel {len(refs)}"
    problems = []
    for lib, ref in zip(maps, refs, strict=True):
        assert isinstance(lib.usage, memmaps.Usage), lib
        diffs = lib_vs_ref(lib, ref.region) + usage_problems(lib.usage, ref.usage)
        if diffs:
            problems.append(procutil.fmt_ref(ref.region) + "\n    " + "\n    ".join(diffs))
    assert not problems, "\n".join(problems)
    # Sanity of the reference itself: this kernel prints no Pss_Anon per
    # region, and prints ProtectionKey only with memory protection keys.
    assert all(r.usage["pss_anon"] is None for r in refs)
    assert all(r.usage["vmflags"] is not None for r in refs)


def _region(maps, rng):
    start, end = rng
    r = maps.at(start)
    assert r is not None, f"no region at {start:#x}"
    assert (r.start, r.end) == (start, end), f"expected {start:#x}-{end:#x}, got {r!r}"
    return r


ZERO = dict.fromkeys(COUNTED_FIELDS, 0) | {
    "pss_anon": None,
    "pss_file": None,
    "pss_shmem": None,
    "referenced": ...,  # checked against the kernel's text only
}

# What each region of the target holds, whatever the kernel's text says.
# "sums" are figures whose total is known but whose split is the kernel's
# choice (a MAP_SHARED file page is dirty until writeback, clean after).
KNOWN = {
    "anon_dirty": dict(
        exact=ZERO
        | dict(
            size=ANON_PAGES * PAGE,
            rss=DIRTY_PAGES * PAGE,
            pss=DIRTY_PAGES * PAGE,
            pss_dirty=DIRTY_PAGES * PAGE,
            private_dirty=DIRTY_PAGES * PAGE,
            anonymous=DIRTY_PAGES * PAGE,
        ),
        kind="anon",
        flags={"rd", "wr", "nh"},
        not_flags={"lo", "sh"},
    ),
    "anon_untouched": dict(
        exact=ZERO | dict(size=UNTOUCHED_PAGES * PAGE),
        kind="anon",
        flags={"rd", "wr"},
        not_flags={"lo"},
    ),
    "file_private": dict(
        # Written and fsync()ed before it was mapped: clean page cache pages,
        # mapped by this process only, so private.
        exact=ZERO
        | dict(
            size=FILE_PAGES * PAGE,
            rss=FILE_PAGES * PAGE,
            pss=FILE_PAGES * PAGE,
            private_clean=FILE_PAGES * PAGE,
        ),
        kind="file",
        path="private.bin",
        flags={"rd"},
        not_flags={"wr", "sh"},
    ),
    # The same 3 file pages mapped twice: each page has 2 mappings, so they
    # are shared and each mapping's Pss is half of them.
    **{
        name: dict(
            exact=ZERO
            | dict(
                size=SHARED_PAGES * PAGE,
                rss=SHARED_PAGES * PAGE,
                pss=SHARED_PAGES * PAGE // 2,
            )
            | {"shared_clean": ..., "shared_dirty": ..., "pss_dirty": ...},
            sums={("shared_clean", "shared_dirty"): SHARED_PAGES * PAGE},
            kind="file",
            path="shared.bin",
            flags={"rd", "wr", "sh", "ms"},
            not_flags={"lo"},
        )
        for name in ("shared_a", "shared_b")
    },
    "shared_anon": dict(
        # shmem pages: not Anonymous, and private (one mapping).
        exact=ZERO
        | dict(
            size=SHANON_PAGES * PAGE,
            rss=SHANON_TOUCHED * PAGE,
            pss=SHANON_TOUCHED * PAGE,
        )
        | {"private_clean": ..., "private_dirty": ..., "pss_dirty": ...},
        sums={("private_clean", "private_dirty"): SHANON_TOUCHED * PAGE},
        kind="shmem",
        path="/dev/zero",
        flags={"rd", "wr", "sh"},
        not_flags={"lo"},
    ),
    "locked": dict(
        # mlock() faults every page in (for writing: a private writable
        # mapping), and Locked counts them.
        exact=ZERO
        | dict(
            size=LOCKED_PAGES * PAGE,
            rss=LOCKED_PAGES * PAGE,
            pss=LOCKED_PAGES * PAGE,
            pss_dirty=LOCKED_PAGES * PAGE,
            private_dirty=LOCKED_PAGES * PAGE,
            anonymous=LOCKED_PAGES * PAGE,
            locked=LOCKED_PAGES * PAGE,
        ),
        kind="anon",
        flags={"rd", "wr", "lo"},
        not_flags=set(),
    ),
    "thp": dict(
        exact=ZERO | dict(size=4 << 20),
        kind="anon",
        flags={"rd", "wr", "hg"},
        not_flags={"nh", "lo"},
    ),
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_known_figures(target, name):
    """The figures the target made, checked exactly (and against the kernel's
    text of that region)."""
    pid = target["pid"]
    maps, (text,) = snapshot(pid, ["smaps"], lambda: memmaps.regions(pid, usage=True))
    region = _region(maps, target[name])
    known = KNOWN[name]
    ref = next(r for r in parse_smaps(text) if r.region.start == region.start)
    assert not usage_problems(region.usage, ref.usage), usage_problems(region.usage, ref.usage)

    u = region.usage
    assert region.kind == known["kind"], region
    if "path" in known:
        assert region.path is not None and region.path.endswith(known["path"]), region
    got = {f: getattr(u, f) for f, v in known["exact"].items() if v is not ...}
    want = {f: v for f, v in known["exact"].items() if v is not ...}
    assert got == want, f"{name}: {u!r}"
    # Referenced depends on accessed bits that reclaim may clear: the
    # comparison with the kernel's text above covers its value.
    assert u.referenced <= u.rss, u
    for fields, total in known.get("sums", {}).items():
        assert sum(getattr(u, f) for f in fields) == total, (fields, u)
    assert u.kernel_page_size == PAGE and u.mmu_page_size == PAGE, u
    assert isinstance(u.thp_eligible, bool), u
    want_thp = name == "thp" and _thp_enabled()
    assert u.thp_eligible is want_thp, f"{name}: thp_eligible {u.thp_eligible!r}"
    assert isinstance(u.vmflags, tuple), u
    assert known["flags"] <= set(u.vmflags), u.vmflags
    assert not (known["not_flags"] & set(u.vmflags)), u.vmflags
    assert u.extra == (), u.extra
    assert u.uss == u.private_clean + u.private_dirty + u.private_hugetlb
    assert u.resident == u.rss + u.shared_hugetlb + u.private_hugetlb


def test_regions_without_usage_never_read_smaps(target, tmp_path):
    """regions(pid) reads maps; only usage=True may open smaps (the check is
    shown to work by the usage=True run, which must open it)."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed: cannot watch which /proc files are opened")
    pid = target["pid"]
    opened = {}
    for usage in (False, True):
        log = tmp_path / f"strace-{usage}.log"
        code = f"import memmaps; m = memmaps.regions({pid}, usage={usage}); print(len(m))"
        run = subprocess.run(
            [
                strace,
                "-f",
                "-qq",
                "-e",
                "trace=open,openat,openat2",
                "-o",
                str(log),
                sys.executable,
                "-c",
                code,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=procutil.python_env(),
        )
        if run.returncode != 0 and not log.exists():
            pytest.skip(f"strace cannot trace here: {run.stderr.strip()[:200]}")
        assert run.returncode == 0, run.stderr
        opened[usage] = [line for line in log.read_text().splitlines() if f'"/proc/{pid}/' in line]
    assert any(f"/proc/{pid}/smaps" in line for line in opened[True]), opened[True]
    smaps = [line for line in opened[False] if f"/proc/{pid}/smaps" in line]
    assert not smaps, "regions() without usage opened smaps:\n" + "\n".join(smaps)
    assert any(f'"/proc/{pid}/maps"' in line for line in opened[False]), opened[False]
    assert all(r.usage is None for r in memmaps.regions(pid))


# --------------------------------------------------------------------------
# 2. against psutil
# --------------------------------------------------------------------------

PSUTIL_FIELDS = (
    "rss",
    "size",
    "pss",
    "shared_clean",
    "shared_dirty",
    "private_clean",
    "private_dirty",
    "referenced",
    "anonymous",
    "swap",
)


def _psutil_path(region) -> str:
    """The path psutil gives a region: "[anon]" for none; " (deleted)"
    removed unless a file of the full name exists; whitespace stripped."""
    if region.path is None:
        return "[anon]"
    name = region.path.replace("\n", "\\012")
    if region.deleted:
        name += " (deleted)"
    name = name.strip()
    if name.endswith(" (deleted)") and not os.path.exists(name):
        name = name[: -len(" (deleted)")]
    return name


def _psutil_snapshot(pid):
    psutil = pytest.importorskip("psutil")
    proc = psutil.Process(pid)
    return snapshot(
        pid,
        ["smaps"],
        lambda: (
            memmaps.regions(pid, usage=True),
            proc.memory_maps(grouped=False),
            proc.memory_maps(grouped=True),
        ),
    )


def test_psutil_per_region(target):
    pid = target["pid"]
    (maps, flat, _), _ = _psutil_snapshot(pid)
    theirs = {m.addr: m for m in flat}
    ours = {f"{r.start:08x}-{r.end:08x}": r for r in maps}
    assert sorted(ours) == sorted(theirs)
    problems = []
    for addr, region in ours.items():
        m = theirs[addr]
        for field in PSUTIL_FIELDS:
            if getattr(region.usage, field) != getattr(m, field):
                problems.append(
                    f"{addr} {m.path}: {field} ours {getattr(region.usage, field)!r}, "
                    f"psutil {getattr(m, field)!r}"
                )
        if _psutil_path(region) != m.path or region.perms != m.perms:
            problems.append(f"{addr}: ours {region.perms} {region.path!r}, psutil {m}")
    assert not problems, "\n".join(problems)


def test_psutil_grouped_by_path(target):
    pid = target["pid"]
    (maps, _, grouped), _ = _psutil_snapshot(pid)
    ours: dict[str, dict] = {}
    for path, group in maps.group_by_path().items():
        assert all(r.path == path for r in group)
        keys = {_psutil_path(r) for r in group}
        assert len(keys) == 1, keys
        total = group.total()
        assert total is not None, path
        entry = ours.setdefault(keys.pop(), dict.fromkeys(PSUTIL_FIELDS, 0))
        for field in PSUTIL_FIELDS:
            entry[field] += getattr(total, field)
    theirs = {m.path: {f: getattr(m, f) for f in PSUTIL_FIELDS} for m in grouped}
    assert ours == theirs
    # The target's own files are there, with their known figures.
    private = next(v for k, v in ours.items() if k.endswith("/private.bin"))
    assert private["private_clean"] == FILE_PAGES * PAGE
    shared = next(v for k, v in ours.items() if k.endswith("/shared.bin"))
    assert shared["pss"] == SHARED_PAGES * PAGE and shared["rss"] == 2 * SHARED_PAGES * PAGE


# --------------------------------------------------------------------------
# 3. usage(), the no-rollup sum, Maps.total(), uss and resident
# --------------------------------------------------------------------------


def test_usage_equals_kernel_rollup(target):
    pid = target["pid"]
    u, (text,) = snapshot(pid, ["smaps_rollup"], lambda: memmaps.usage(pid))
    (ref,) = parse_smaps(text)
    assert ref.region.path == "[rollup]"
    assert isinstance(u, memmaps.Usage)
    assert not usage_problems(u, ref.usage), usage_problems(u, ref.usage)
    # The rollup alone has these, and the target has anonymous, file and
    # shmem pages.
    assert u.pss_anon > 0 and u.pss_file > 0 and u.pss_shmem > 0, u
    assert u.locked == LOCKED_PAGES * PAGE
    assert u.uss == u.private_clean + u.private_dirty + u.private_hugetlb
    assert u.resident == u.rss + u.shared_hugetlb + u.private_hugetlb


# Figures the kernel accumulates with 12 bits of fraction (PSS_SHIFT) and
# truncates to whole kB only when it prints them: smaps truncates each
# region's, smaps_rollup only the grand total.  So the rollup is at least the
# sum of the regions and less than one KiB per region above it.
PSS_LIKE = ("pss", "pss_dirty", "swap_pss", "locked")


def test_no_rollup_sum(target):
    pid = target["pid"]
    (summed, maps), (smaps, rollup) = snapshot(
        pid,
        ["smaps", "smaps_rollup"],
        lambda: (
            _core.process_usage(pid, _core.NO_ROLLUP)[0],
            memmaps.regions(pid, usage=True),
        ),
    )
    refs = parse_smaps(smaps)
    (rref,) = parse_smaps(rollup)
    assert len(summed) == 1, summed
    (region,) = summed
    assert region.path == "[rollup]", region
    # Exactly the sum of the regions' figures; like the rollup it stands in
    # for, nothing that describes one region (page sizes, VmFlags ...).
    want = sum_usages([r.usage for r in refs], keep_descriptive=False)
    # And no Size, which the rollup does not print: usage() has one shape.
    want["size"] = None
    assert not usage_problems(region.usage, want), usage_problems(region.usage, want)
    # Against the kernel's own rollup.
    n = len(refs)
    for field in COUNTED_FIELDS:
        mine, kernel = getattr(region.usage, field), rref.usage[field]
        if kernel is None or mine is None:  # Size; Pss_Anon/File/Shmem
            continue
        if field in PSS_LIKE:
            assert 0 <= kernel - mine < n * 1024, (field, mine, kernel, n)
        else:
            assert mine == kernel, (field, mine, kernel)
    # Maps.total(): the same sum, page sizes kept where every region agrees.
    total = maps.total()
    want_total = sum_usages([r.usage for r in refs], keep_descriptive=True)
    assert not usage_problems(total, want_total), usage_problems(total, want_total)
    assert total.kernel_page_size == PAGE and total.vmflags is None
    assert maps.total() == sum(r.usage for r in maps)


def test_no_rollup_region_spans_like_the_rollup(target):
    """The summed region stands in for smaps_rollup's, whose range runs from
    the first VMA's start to the last VMA's end ([vsyscall], the gate VMA,
    is not one of them)."""
    pid = target["pid"]
    summed, (rollup,) = snapshot(
        pid, ["smaps_rollup"], lambda: _core.process_usage(pid, _core.NO_ROLLUP)[0]
    )
    (rref,) = parse_smaps(rollup)
    (region,) = summed
    assert (region.start, region.end) == (rref.region.start, rref.region.end), (
        f"no-rollup region {region.start:#x}-{region.end:#x}, kernel's rollup "
        f"{rref.region.start:#x}-{rref.region.end:#x}"
    )


def test_uss_and_resident_definitions(target):
    pid = target["pid"]
    maps = memmaps.regions(pid, usage=True)
    for u in [r.usage for r in maps] + [maps.total(), memmaps.usage(pid)]:
        assert u.uss == u.private_clean + u.private_dirty + u.private_hugetlb, u
        assert u.resident == u.rss + u.shared_hugetlb + u.private_hugetlb, u
    locked = _region(maps, target["locked"]).usage
    assert locked.uss == LOCKED_PAGES * PAGE and locked.resident == LOCKED_PAGES * PAGE
    # uss/resident of a usage with no figures are None, not 0.
    assert memmaps.Usage().uss is None and memmaps.Usage().resident is None


def test_kernel_thread_has_no_figures():
    if procutil.proc_state(2) is None or not procutil.proc_flags(2) & procutil.PF_KTHREAD:
        pytest.skip("pid 2 is not a kernel thread here (a pid namespace?)")
    got = memmaps.usage(2)
    assert isinstance(got, memmaps.Usage)
    assert all(getattr(got, f) is None for f in procutil.USAGE_FIELDS[:-1]), got
    assert got.extra == ()
    assert len(memmaps.regions(2, usage=True)) == 0
    summed, _partial = _core.process_usage(2, _core.NO_ROLLUP)
    assert summed == () or all(r.usage is None for r in summed), summed


def _zombie(spawn):
    proc = spawn(["true"])
    procutil.wait_state(proc.pid, "Z")
    return proc.pid


@pytest.mark.parametrize(
    "call",
    ["usage", "regions_usage", "no_rollup"],
)
def test_zombie(spawn, call):
    pid = _zombie(spawn)
    read = {
        "usage": lambda: memmaps.usage(pid),
        "regions_usage": lambda: memmaps.regions(pid, usage=True),
        "no_rollup": lambda: _core.process_usage(pid, _core.NO_ROLLUP),
    }[call]
    with pytest.raises(memmaps.ZombieProcess):
        read()
    assert procutil.proc_state(pid) == "Z"


@pytest.mark.parametrize("call", ["usage", "regions_usage", "no_rollup"])
def test_missing_pid(call):
    pid = procutil.unused_pid()
    read = {
        "usage": lambda: memmaps.usage(pid),
        "regions_usage": lambda: memmaps.regions(pid, usage=True),
        "no_rollup": lambda: _core.process_usage(pid, _core.NO_ROLLUP),
    }[call]
    with pytest.raises(memmaps.NoSuchProcess) as info:
        read()
    assert not isinstance(info.value, memmaps.ZombieProcess)


# --------------------------------------------------------------------------
# 4. swapped-out pages
# --------------------------------------------------------------------------


def _swap_tools():
    tools = {name: shutil.which(name) for name in ("mkswap", "swapon", "swapoff")}
    missing = [name for name, path in tools.items() if path is None]
    return tools, missing


def _in_proc_swaps(path) -> bool:
    with open("/proc/swaps") as f:
        return any(line.split()[0] == str(path) for line in f.readlines()[1:] if line.strip())


@pytest.fixture
def swap_file(tmp_path):
    """A 16 MiB swap file, swapped on for the test and always swapped off and
    deleted afterwards (the machine is shared with the rest of the run)."""
    if os.geteuid() != 0:
        pytest.skip("swapon needs root")
    tools, missing = _swap_tools()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    path = tmp_path / "memmaps-test.swap"
    with open(path, "wb") as f:
        chunk = bytes(1 << 20)
        for _ in range(16):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o600)
    try:
        made = subprocess.run([tools["mkswap"], str(path)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"mkswap refused: {made.stderr.strip()}")
        on = subprocess.run([tools["swapon"], str(path)], capture_output=True, text=True)
        if on.returncode != 0:
            pytest.skip(f"swapon refused ({tmp_path}): {on.stderr.strip()}")
        try:
            yield path
        finally:
            error = ""
            for _ in range(5):
                off = subprocess.run([tools["swapoff"], str(path)], capture_output=True, text=True)
                if off.returncode == 0 or not _in_proc_swaps(path):
                    break
                error = off.stderr.strip()
                time.sleep(0.5)
            assert not _in_proc_swaps(path), f"could not swapoff {path}: {error}"
    finally:
        if not _in_proc_swaps(path):
            path.unlink(missing_ok=True)


def test_swapped_out_pages(swap_file, build_target, spawn):
    exe = build_target("usage_target")
    proc = spawn([str(exe), "swap", str(SWAP_PAGES)])
    info = json.loads(procutil.read_line(proc))
    if "error" in info:
        pytest.skip(info["error"])
    pid = info["pid"]
    start, end = info["swapped"]
    assert _in_proc_swaps(swap_file)

    def kernel_region():
        for r in parse_smaps(read_proc(pid, "smaps")):
            if r.region.start == start:
                return r
        raise AssertionError(f"no region at {start:#x}")

    deadline = time.monotonic() + 10
    while not kernel_region().usage["swap"]:
        if time.monotonic() > deadline:
            pytest.fail("MADV_PAGEOUT put no page in swap within 10 s")
        proc.stdin.write(b"p\n")
        assert procutil.read_line(proc) == b"ok\n"
        time.sleep(0.05)

    maps, (text,) = snapshot(pid, ["smaps"], lambda: memmaps.regions(pid, usage=True))
    refs = parse_smaps(text)
    problems = [
        f"{procutil.fmt_ref(ref.region)}: {d}"
        for lib, ref in zip(maps, refs, strict=True)
        for d in usage_problems(lib.usage, ref.usage)
    ]
    assert not problems, "\n".join(problems)
    u = _region(maps, (start, end)).usage
    assert u.swap > 0 and u.swap % PAGE == 0, u
    # Every page is either resident or in swap, and only this process
    # refers to its swap entries.
    assert u.swap + u.rss == SWAP_PAGES * PAGE, u
    assert u.swap_pss == u.swap, u
    assert u.anonymous == u.rss, u

    rollup, (rtext,) = snapshot(pid, ["smaps_rollup"], lambda: memmaps.usage(pid))
    (rref,) = parse_smaps(rtext)
    assert not usage_problems(rollup, rref.usage), usage_problems(rollup, rref.usage)
    assert rollup.swap >= u.swap

    psutil = pytest.importorskip("psutil")
    flat, _ = snapshot(pid, ["smaps"], lambda: psutil.Process(pid).memory_maps(grouped=False))
    (mine,) = [m for m in flat if m.addr == f"{start:08x}-{end:08x}"]
    assert mine.swap == kernel_region().usage["swap"]


# --------------------------------------------------------------------------
# 5. hugetlb pages
# --------------------------------------------------------------------------


def test_hugetlb(build_target):
    exe = build_target("usage_target")
    with procutil.free_hugepage() as why:
        if why is not None:
            pytest.skip(why)
        proc = procutil.start([str(exe), "hugetlb"])
        try:
            info = json.loads(procutil.read_line(proc))
            if "error" in info:
                pytest.skip(info["error"])
            pid = info["pid"]
            maps, (text,) = snapshot(pid, ["smaps"], lambda: memmaps.regions(pid, usage=True))
            total, (rtext,) = snapshot(pid, ["smaps_rollup"], lambda: memmaps.usage(pid))
        finally:
            procutil.stop(proc)  # before the huge page pool is shrunk back
    region = _region(maps, info["hugetlb"])
    ref = next(r for r in parse_smaps(text) if r.region.start == region.start)
    assert not usage_problems(region.usage, ref.usage), usage_problems(region.usage, ref.usage)
    assert region.kind == "hugetlb" and region.deleted, region
    u = region.usage
    assert u.size == HUGE and u.kernel_page_size == HUGE and u.mmu_page_size == HUGE, u
    assert u.shared_hugetlb + u.private_hugetlb == HUGE, u
    assert u.private_hugetlb == HUGE, u  # one mapping: private
    # Hugetlb pages are not in Rss; resident and uss count them.
    assert u.rss == 0 and u.pss == 0, u
    assert u.resident == HUGE and u.uss == HUGE, u
    assert "ht" in u.vmflags, u.vmflags

    (rref,) = parse_smaps(rtext)
    assert not usage_problems(total, rref.usage), usage_problems(total, rref.usage)
    assert total.private_hugetlb == HUGE
    assert total.resident == total.rss + HUGE
    assert total.rss == sum(r.usage["rss"] for r in parse_smaps(text))
    assert maps.total().private_hugetlb == HUGE


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_kept_listing_holds_its_figures_not_the_smaps_text(build_target):
    """A listing keeps what its Regions are made from until they all are:
    with usage, the names and VmFlags, not the smaps text (about 1 KB for
    each of these one-page regions, 60 MB in all)."""
    process = procutil.start([str(build_target("many_maps")), "60000"])
    try:
        assert procutil.read_line(process).startswith(b"ready")
        with open(f"/proc/{process.pid}/smaps", "rb") as smaps:
            text_size = len(smaps.read())
        gc.collect()
        before = _rss()
        maps = memmaps.regions(process.pid, usage=True)
        kept = _rss() - before
        one = maps[len(maps) // 2]
        assert one.usage is not None and one.usage.vmflags
        assert maps[len(maps) // 2] is one
    finally:
        procutil.stop(process)
    # The native regions with their figures stay, about 350 bytes each (21
    # MB here); with the text as well it would be 60 MB and more.
    assert kept < text_size * 3 / 4, f"{kept} bytes kept for {text_size} bytes of smaps"
