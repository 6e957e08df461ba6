"""Live test: zombies, kernel threads, missing processes and bad arguments."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import memmaps
from tests.helpers import procutil

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)


def test_error_hierarchy():
    assert issubclass(memmaps.NoSuchProcess, memmaps.Error)
    assert issubclass(memmaps.NoSuchProcess, ProcessLookupError)
    assert issubclass(memmaps.ZombieProcess, memmaps.NoSuchProcess)
    assert issubclass(memmaps.AccessDenied, memmaps.Error)
    assert issubclass(memmaps.AccessDenied, PermissionError)


def test_zombie():
    p = subprocess.Popen(["/bin/true"])
    try:
        procutil.wait_state(p.pid, "Z")  # exited, not yet waited for
        assert os.path.exists(f"/proc/{p.pid}/maps")
        assert procutil.read_maps(p.pid) == b""  # what the kernel gives a zombie
        with pytest.raises(memmaps.ZombieProcess) as ei:
            memmaps.regions(p.pid)
        assert isinstance(ei.value, memmaps.NoSuchProcess)
        assert isinstance(ei.value, ProcessLookupError)
        assert str(p.pid) in str(ei.value), f"message does not name the pid: {ei.value}"
    finally:
        p.wait()
    # reaped: now simply missing
    with pytest.raises(memmaps.NoSuchProcess) as ei:
        memmaps.regions(p.pid)
    assert not isinstance(ei.value, memmaps.ZombieProcess)


def _a_kernel_thread() -> int:
    candidates = [2, *sorted(int(d) for d in os.listdir("/proc") if d.isdigit())]
    for pid in candidates:
        try:
            if procutil.proc_flags(pid) & procutil.PF_KTHREAD:
                return pid
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    pytest.skip("no kernel thread visible in /proc (container with its own pid namespace?)")


def test_kernel_thread_is_empty():
    pid = _a_kernel_thread()
    assert procutil.read_maps(pid) == b""
    maps = memmaps.regions(pid)
    assert len(maps) == 0
    assert list(maps) == []
    assert maps.pid == pid
    assert maps.to_proc_maps() == ""


def test_missing_pid():
    pid = procutil.unused_pid()
    with pytest.raises(memmaps.NoSuchProcess) as ei:
        memmaps.regions(pid)
    assert isinstance(ei.value, ProcessLookupError)
    assert not isinstance(ei.value, memmaps.ZombieProcess)
    assert str(pid) in str(ei.value), f"message does not name the pid: {ei.value}"


def test_pid_beyond_pid_max():
    # a valid pid_t, but above pid_max: simply no such process
    with pytest.raises(memmaps.NoSuchProcess):
        memmaps.regions(2**31 - 1)
    # not even a pid_t: no such process, or a ValueError naming the argument
    with pytest.raises((memmaps.NoSuchProcess, ValueError)) as ei:
        memmaps.regions(2**40)
    if not isinstance(ei.value, memmaps.NoSuchProcess):
        assert "pid" in str(ei.value), f"message does not name the argument: {ei.value}"


@pytest.mark.parametrize("bad", [-1, -os.getpid()])
def test_negative_pid(bad):
    with pytest.raises(ValueError) as ei:
        memmaps.regions(bad)
    assert "pid" in str(ei.value), f"message does not name the argument: {ei.value}"


@pytest.mark.parametrize("bad", ["1", str(os.getpid()), 1.0, b"1", [1], object()])
def test_non_int_pid(bad):
    with pytest.raises(TypeError) as ei:
        memmaps.regions(bad)
    assert "pid" in str(ei.value), f"message does not name the argument: {ei.value}"
