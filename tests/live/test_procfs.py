"""memmaps.PROCFS: a process read through another pid namespace's procfs
gives the answers it gives through /proc under its own pid there."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

import memmaps
from tests.helpers import procutil

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="procfs is Linux's")

TARGET = "import time; print('ready', flush=True); time.sleep(600)"


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or not procutil.IS_ROOT:
        return False
    probe = subprocess.run(
        ["unshare", "-p", "-f", "-m", "--mount-proc", "true"], capture_output=True
    )
    return probe.returncode == 0


needs_unshare = pytest.mark.skipif(
    not _can_unshare(), reason="needs root and unshare of pid and mount namespaces"
)


@contextlib.contextmanager
def procfs_setting(path: str) -> Iterator[None]:
    before = memmaps.PROCFS
    memmaps.PROCFS = path
    try:
        yield
    finally:
        memmaps.PROCFS = before


@pytest.fixture
def namespaced():
    """(host pid, procfs of its pid namespace) of a target that is pid 1 in
    a pid and mount namespace of its own, with its own /proc mounted."""
    proc = procutil.start(
        ["unshare", "-p", "-f", "-m", "--mount-proc", "--kill-child", sys.executable, "-c", TARGET]
    )
    try:
        assert procutil.read_line(proc) == b"ready\n"
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            children = f.read().split()
        assert len(children) == 1, children
        host_pid = int(children[0])
        yield host_pid, f"/proc/{host_pid}/root/proc"
    finally:
        procutil.stop(proc)


@needs_unshare
def test_same_answers_through_the_other_procfs(namespaced):
    host_pid, procfs = namespaced
    want_regions = memmaps.regions(host_pid)
    want_images = [(i.path, i.base, i.bias, i.build_id) for i in memmaps.images(host_pid)]
    want_symbol = memmaps.symbol(host_pid, "malloc")
    want_bytes = memmaps.read_memory(host_pid, want_symbol.address, 16)
    want_at = memmaps.region_at(host_pid, want_symbol.address)
    with procfs_setting(procfs):
        assert procfs == memmaps.PROCFS
        assert memmaps.regions(1) == want_regions
        assert [(i.path, i.base, i.bias, i.build_id) for i in memmaps.images(1)] == want_images
        assert memmaps.symbol(1, "malloc") == want_symbol
        # pid 1 there is not this namespace's pid 1: the bytes come from
        # the procfs's mem file, never from process_vm_readv(1).
        assert memmaps.read_memory(1, want_symbol.address, 16) == want_bytes
        assert memmaps.region_at(1, want_symbol.address) == want_at
        assert memmaps.usage(1).rss > 0
        # None is still this process, read through its own /proc: the
        # target there has not loaded memmaps.
        core = os.path.realpath(memmaps._core.__file__)
        assert memmaps.regions().filter(path=core)
        assert not memmaps.regions(1).filter(path=core)


@needs_unshare
def test_a_pid_of_this_namespace_is_not_found_there_and_the_error_says_why(namespaced):
    host_pid, procfs = namespaced
    with procfs_setting(procfs), pytest.raises(memmaps.NoSuchProcess) as caught:
        memmaps.regions(host_pid)
    message = str(caught.value)
    assert f"process {host_pid} does not exist" in message
    assert f"PROCFS {procfs} is the procfs of another pid namespace" in message


@needs_unshare
def test_a_pid_namespace_without_its_own_proc_says_so():
    # Inside a new pid namespace that kept the parent's /proc, pids in /proc
    # are the parent namespace's.
    code = (
        "import memmaps, sys\n"
        "try:\n"
        "    memmaps.regions(procutil_unused)\n"
        "except memmaps.NoSuchProcess as e:\n"
        "    print(e)\n"
    ).replace("procutil_unused", str(procutil.unused_pid()))
    out = subprocess.run(
        ["unshare", "-p", "-f", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=procutil.python_env(),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "/proc is the procfs of another pid namespace than this process's" in out.stdout
    # /proc of the reader's own namespace adds nothing to the message.
    with pytest.raises(memmaps.NoSuchProcess) as caught:
        memmaps.regions(procutil.unused_pid())
    assert "namespace" not in str(caught.value)


@needs_unshare
def test_the_environment_variable_sets_procfs_at_import(namespaced):
    host_pid, procfs = namespaced
    code = "import memmaps; print(memmaps.PROCFS); print(len(memmaps.regions(1)))"
    env = dict(procutil.python_env(), MEMMAPS_PROCFS=procfs + "/")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [procfs, str(len(memmaps.regions(host_pid)))]


def test_a_bad_environment_variable_fails_the_import():
    env = dict(procutil.python_env(), MEMMAPS_PROCFS="proc")
    out = subprocess.run(
        [sys.executable, "-c", "import memmaps"], capture_output=True, text=True, env=env
    )
    assert out.returncode != 0
    assert "MEMMAPS_PROCFS" in out.stderr and "absolute path" in out.stderr


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (1, TypeError),
        (b"/proc", TypeError),
        (None, TypeError),
        ("proc", ValueError),
        ("", ValueError),
        ("/pro\0c", ValueError),
        ("/" + "p" * 300, ValueError),
    ],
)
def test_bad_assignments_are_refused_and_change_nothing(value, error):
    with procfs_setting("/proc"), pytest.raises(error, match="PROCFS"):
        memmaps.PROCFS = value
    assert memmaps.PROCFS == "/proc"


def test_trailing_slashes_and_paths_are_accepted():
    import pathlib

    with procfs_setting("/proc/"):
        assert memmaps.PROCFS == "/proc"
    with procfs_setting(pathlib.Path("/proc")):  # type: ignore[arg-type]
        assert memmaps.PROCFS == "/proc"
        # The reader's own map moves between two reads; its files do not.
        core = os.path.realpath(memmaps._core.__file__)
        assert memmaps.regions(os.getpid()).filter(path=core)


def test_a_directory_that_is_no_procfs_is_named_in_the_error(tmp_path):
    with procfs_setting(str(tmp_path)), pytest.raises(memmaps.NoSuchProcess) as caught:
        memmaps.regions(os.getpid())
    assert f"PROCFS {tmp_path} is not a procfs" in str(caught.value)
