"""region_at(): one lookup, equal to regions(pid).at(addr) on both paths.

The fast path asks the kernel for one region (PROCMAP_QUERY, Linux 6.11+);
the other searches the listing, as older kernels must.  Both are checked
here against the full listing at every region boundary, in gaps, and at
random addresses.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import memmaps
from memmaps import _core
from tests.helpers import procutil

if not sys.platform.startswith("linux"):
    pytest.skip("Linux backend", allow_module_level=True)

import fcntl

PATHS = ("query", "listing")

# _IOWR('f', 17, struct procmap_query), which is 104 bytes.
PROCMAP_QUERY = (3 << 30) | (104 << 16) | (ord("f") << 8) | 17


def has_procmap_query() -> bool:
    """Whether this kernel answers PROCMAP_QUERY (Linux 6.11 and newer)."""
    query = bytearray(struct.pack("=QQQ", 104, 0x10, 0) + bytes(80))
    with open("/proc/self/maps", "rb") as maps:
        try:
            fcntl.ioctl(maps.fileno(), PROCMAP_QUERY, query)
        except OSError as error:
            return error.errno not in (errno.ENOTTY, errno.EINVAL)
    return True


def lookup(pid, addr, path):
    flags = _core.FROM_LISTING if path == "listing" else 0
    found, _partial = _core.region_at(-1 if pid is None else pid, addr, flags)
    assert len(found) <= 1
    return found[0] if found else None


def probe_addresses(maps, rng, count=3000):
    """Every boundary, the addresses around them, gaps, and random ones."""
    addrs = {0, 1, 2**64 - 1, 0xFFFFFFFFFF600000, 0xFFFFFFFFFF600FFF, 0xFFFFFFFFFF601000}
    for region in maps:
        addrs.update((region.start - 1, region.start, region.end - 1, region.end))
    top = max(region.end for region in maps if region.kind != "vsyscall")
    addrs.update(rng.randrange(0, top + 2**20) for _ in range(count))
    addrs.update(rng.randrange(region.start, region.end) for region in maps)
    return sorted(addr for addr in addrs if 0 <= addr < 2**64)


@pytest.fixture(scope="module")
def many(build_target):
    """A target with about 3,000 regions that holds still."""
    process = procutil.start([str(build_target("many_maps")), "3000"])
    try:
        assert procutil.read_line(process).startswith(b"ready")
        yield process.pid
    finally:
        procutil.stop(process)


@pytest.mark.parametrize("path", ["query", pytest.param("listing", marks=pytest.mark.slow)])
def test_agrees_with_the_listing_everywhere(many, path):
    maps = memmaps.regions(many)
    rng = random.Random(1234)
    addrs = probe_addresses(maps, rng)
    mismatches = [
        (hex(addr), lookup(many, addr, path), maps.at(addr))
        for addr in addrs
        if lookup(many, addr, path) != maps.at(addr)
    ]
    assert not mismatches, mismatches[:5]
    # Both answers exist: mapped and unmapped addresses were probed.
    found = sum(maps.at(addr) is not None for addr in addrs)
    assert 0 < found < len(addrs)


@pytest.mark.parametrize("path", PATHS)
def test_vsyscall_and_the_top_of_the_address_space(many, path):
    listed = memmaps.regions(many).at(0xFFFFFFFFFF600000)
    assert lookup(many, 0xFFFFFFFFFF600000, path) == listed
    if listed is not None:  # the kernel prints [vsyscall] here
        assert listed.kind == "vsyscall"
    assert lookup(many, 2**64 - 1, path) is None


AWKWARD_TARGET = r"""
import mmap, os, json, sys
folder = sys.argv[1]
names = {
    "newline": "a\nb",
    "backslash": "a\\012b",
    "suffix": "live (deleted)",
    "unlinked": "gone",
    "bytes": os.fsdecode(b"\xff\xfe"),
}
keep, found = [], {}
for key, name in names.items():
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(b"x" * 4096)
    fd = os.open(path, os.O_RDONLY)
    m = mmap.mmap(fd, 4096, prot=mmap.PROT_READ)
    keep.append(m)
    found[key] = path
    if key == "unlinked":
        os.unlink(path)
print(json.dumps(found), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def awkward(tmp_path):
    process = procutil.start([sys.executable, "-c", AWKWARD_TARGET, str(tmp_path)])
    try:
        paths = json.loads(procutil.read_line(process))
        yield process.pid, paths
    finally:
        procutil.stop(process)


@pytest.mark.parametrize("path", PATHS)
def test_names_are_exact_on_both_paths(awkward, path):
    pid, paths = awkward
    maps = memmaps.regions(pid)
    by_path = {region.path: region for region in maps}
    for key, file in paths.items():
        listed = by_path[file]
        for addr in (listed.start, listed.end - 1):
            found = lookup(pid, addr, path)
            assert found == listed, (key, found, listed)
        assert listed.deleted is (key == "unlinked"), listed
    assert by_path[paths["backslash"]].path.endswith("a\\012b")
    assert by_path[paths["newline"]].path.endswith("a\nb")


def test_public_function_and_its_arguments(many):
    region = memmaps.regions(many)[0]
    assert memmaps.region_at(many, region.start) == region
    assert memmaps.region_at(None, id(region)) == memmaps.regions().at(id(region))
    with pytest.raises(TypeError, match="addr"):
        memmaps.region_at(many, "0x1000")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="addr"):
        memmaps.region_at(many, 4096.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="addr"):
        memmaps.region_at(many, -1)
    with pytest.raises(ValueError, match="addr"):
        memmaps.region_at(many, 2**64)
    with pytest.raises(ValueError, match="pid"):
        memmaps.region_at(-5, 0)


def test_environment_switch_forces_the_listing(many, monkeypatch):
    region = memmaps.regions(many)[5]
    monkeypatch.setenv("MEMMAPS_REGION_AT", "listing")
    assert memmaps.region_at(many, region.start) == region


@pytest.mark.parametrize("path", PATHS)
def test_missing_zombie_and_kernel_thread(path):
    with pytest.raises(memmaps.NoSuchProcess):
        lookup(procutil.unused_pid(), 0x1000, path)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        procutil.wait_state(child.pid, "Z")
        with pytest.raises(memmaps.ZombieProcess):
            lookup(child.pid, 0x1000, path)
    finally:
        child.wait()
    kthread = 2
    if procutil.proc_flags(kthread) & 0x00200000:
        assert lookup(kthread, 0x1000, path) is None


@pytest.mark.skipif(not procutil.IS_ROOT, reason="needs root to run a target as another user")
def test_another_users_process_is_denied(tmp_path):
    target = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "30"]
    )
    try:
        # setpriv switches user and then runs sleep: wait for both.
        deadline = time.monotonic() + 10
        while not Path(f"/proc/{target.pid}/comm").read_text().startswith("sleep"):
            assert time.monotonic() < deadline, "the target never became sleep"
            time.sleep(0.01)
        reader = os.fork()
        if reader == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                os.setresgid(65533, 65533, 65533)
                os.setresuid(65533, 65533, 65533)
                try:
                    memmaps.region_at(target.pid, 0x1000)
                except memmaps.AccessDenied as error:
                    code = 0 if "uid 65534" in str(error) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(reader, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        target.kill()
        target.wait()


def gap_addresses(maps):
    """Addresses in no region: below the first, between two, above the last
    (up to the top of the address space), around the gate area."""
    page = os.sysconf("SC_PAGE_SIZE")
    ordinary = [region for region in maps if region.kind != "vsyscall"]
    addrs = {0, ordinary[0].start - 1}
    for before, after in itertools.pairwise(ordinary):
        if before.end < after.start:
            addrs.update((before.end, (before.end + after.start) // 2, after.start - 1))
    top = ordinary[-1].end
    addrs.update((top, top + page, 2**47 - 1, 2**47, 2**63, 0xFFFFFFFFFF5FFFFF))
    addrs.update((0xFFFFFFFFFF601000, 2**64 - page, 2**64 - 1))
    return sorted(addr for addr in addrs if maps.at(addr) is None)


VSYSCALL_PAGE = (0xFFFFFFFFFF600000, 0xFFFFFFFFFF600800, 0xFFFFFFFFFF600FFF)


@pytest.mark.parametrize("path", PATHS)
def test_gaps_below_between_above_and_the_gate_area(many, path):
    maps = memmaps.regions(many)
    addrs = gap_addresses(maps)
    top = max(region.end for region in maps if region.kind != "vsyscall")
    between = [addr for addr in addrs if maps[0].start < addr < top]
    assert addrs[0] < maps[0].start and between and addrs[-1] >= top, addrs
    for addr in [*addrs, *VSYSCALL_PAGE]:
        assert lookup(many, addr, path) == maps.at(addr), hex(addr)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to see the reads")
@pytest.mark.skipif(procutil.SANITIZED, reason="strace and the ASan runtime's ptrace clash")
@pytest.mark.skipif(not has_procmap_query(), reason="PROCMAP_QUERY needs Linux 6.11 or newer")
def test_gaps_are_answered_without_reading_the_listing(many, tmp_path):
    """Only the gate area's own page needs the text; every other address
    is one PROCMAP_QUERY, and the maps text is never read."""
    maps = memmaps.regions(many)
    addrs = gap_addresses(maps) + [region.start for region in maps[::50]]
    script = f"import sys, memmaps\nfor addr in {addrs!r}:\n    memmaps.region_at({many}, addr)\n"
    log = tmp_path / "trace"
    strace = ["strace", "-f", "-qq", "-e", "trace=openat,read,ioctl,close", "-o", str(log)]
    subprocess.run(
        [*strace, sys.executable, "-c", script],
        check=True,
        env=procutil.python_env(),
        timeout=120,
    )
    maps_fds, reads, queries = set(), 0, 0
    for line in log.read_text().splitlines():
        call = line.split(None, 1)[1] if " " in line else line
        if call.startswith("openat(") and f'"/proc/{many}/maps"' in call:
            maps_fds.add(call.rsplit("= ", 1)[1].split()[0])
        elif call.startswith("close("):
            maps_fds.discard(call[len("close(") :].split(")")[0])
        elif call.startswith("read("):
            reads += call[len("read(") :].split(",")[0] in maps_fds
        elif call.startswith("ioctl("):
            queries += call[len("ioctl(") :].split(",")[0] in maps_fds
    assert reads == 0
    assert queries >= len(addrs)
