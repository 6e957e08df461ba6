"""Deleted names: what they say, and what telling them apart costs.

A name ending in " (deleted)" is either an unlinked file's or a live file's
whose name really ends so; the file system settles it, once per distinct
(name, device, inode) of a listing.  The kernel's own objects (shared
anonymous memory, memfds, SysV segments) carry the suffix too and need no
look-up at all.  The look-ups are counted with strace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import memmaps
from tests.helpers import procutil

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux backend")

COPIES = 40


@pytest.fixture(scope="module")
def target(build_target, tmp_path_factory):
    folder = tmp_path_factory.mktemp("deleted")
    process = procutil.start([str(build_target("deleted_maps")), str(folder), str(COPIES)])
    try:
        assert procutil.read_line(process) == b"ready\n"
        yield process.pid, folder
    finally:
        procutil.stop(process)


def by_name(maps, folder):
    names = {
        "gone-a": str(folder / "gone-a"),
        "gone-b": str(folder / "gone-b"),
        "live": str(folder / "live (deleted)"),
        "shared": "/dev/zero",
        "memfd": "/memfd:probe",
    }
    found = {key: [r for r in maps if r.path == path] for key, path in names.items()}
    found["sysv"] = [r for r in maps if r.kind == "sysv"]
    return found


def test_each_name_says_what_the_kernel_means(target):
    pid, folder = target
    maps = memmaps.regions(pid)
    found = by_name(maps, folder)
    want = {
        "gone-a": ("file", True),
        "gone-b": ("file", True),
        "live": ("file", False),
        "shared": ("shmem", True),
        "memfd": ("memfd", True),
        "sysv": ("sysv", True),
    }
    for key, (kind, deleted) in want.items():
        assert len(found[key]) == COPIES, (key, found[key][:2])
        assert {(r.kind, r.deleted) for r in found[key]} == {(kind, deleted)}, key
    # Each shared anonymous mapping is an object of its own.
    assert len({r.inode for r in found["shared"]}) == COPIES
    # And the whole listing agrees with the kernel's text line by line.
    reference = procutil.parse_maps(procutil.read_maps(pid))
    assert [r.start for r in maps] == [r.start for r in reference]
    for region, ref in zip(maps, reference, strict=True):
        if ref.path == str(folder / "live"):
            continue  # the text cannot tell this one: checked above
        assert procutil.lib_vs_ref(region, ref) == [], procutil.fmt_ref(ref)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to count look-ups")
@pytest.mark.skipif(procutil.SANITIZED, reason="strace and the ASan runtime's ptrace clash")
def test_one_look_up_per_deleted_file_and_none_for_kernel_objects(target, tmp_path):
    pid, _folder = target
    log = tmp_path / "trace"
    script = f"import memmaps; memmaps.regions({pid}); memmaps.region_at({pid}, 0)"
    subprocess.run(
        # Every call that names a file: a look-up opens the name (O_PATH,
        # in the target's root) or stats it.
        ["strace", "-f", "-qq", "-e", "trace=%file", "-o", str(log), sys.executable, "-c", script],
        check=True,
        env=procutil.python_env(),
        timeout=60,
    )
    looked_up = [line for line in log.read_text().splitlines() if "(deleted)" in line]
    # gone-a, gone-b and "live (deleted)": three files, each looked up once
    # (where the reader's root is not the target's, a missing name is also
    # looked for in the reader's), whatever the number of their mappings.
    for name in ("/gone-a (deleted)", "/gone-b (deleted)", "/live (deleted)"):
        assert 1 <= sum(name in line for line in looked_up) <= 2, (name, looked_up)
    assert len(looked_up) <= 6, looked_up


def test_region_at_settles_each_kind_alike(target):
    pid, folder = target
    for key, regions in by_name(memmaps.regions(pid), folder).items():
        for region in regions[:3]:
            assert memmaps.region_at(pid, region.start) == region, key


def test_a_file_put_at_the_suffixed_path_is_not_the_mapped_one(target):
    """What settles a name is the inode the mapping holds: a live file that
    appears at "gone-a (deleted)" later leaves gone-a's mappings deleted."""
    pid, folder = target
    impostor = folder / "gone-a (deleted)"
    impostor.write_bytes(b"x" * 4096)  # a live file at the suffixed path
    try:
        found = by_name(memmaps.regions(pid), folder)
        # Its inode is not the mapped one: the mappings stay deleted.
        assert {r.deleted for r in found["gone-a"]} == {True}
        assert os.stat(impostor).st_ino != found["gone-a"][0].inode
    finally:
        impostor.unlink()
