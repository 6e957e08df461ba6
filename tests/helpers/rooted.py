"""Roots for targets to live in, for the tests of files found inside a
target's root (tests/live/test_rooted_files.py, test_hostile_files.py).

A jail is a directory with tests/targets/img_rooted.c built into it, the
libraries it needs copied in, and a folder for the library the target loads
(LIBDIR, under /tmp and named for this run alone, so that the same path in
the reader's own tree is the test's to fill with a decoy).  A target lives
in it either chroot'd (the kernel then prints its paths from the reader's
root: JAIL/LIBDIR/x.so) or in a mount namespace of its own after pivot_root,
as a container's processes do (its paths are printed from its own root:
LIBDIR/x.so).

Also here: the library builds with their debug files and debuglinks, a
reader run in a forked child with a bound on its time (a hang is a failure,
not a stuck suite), and an inotify watch that tells a real open from the
O_PATH look that opens nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import platform
import re
import select
import shutil
import signal
import struct
import subprocess
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import procutil

LIB = "x.so"
DEBUG = "x.debug"
#: Where a target reads memmaps in a child is bounded: a reader that blocks
#: on something the target put at a path must fail the test, not hang it.
#: Every read here takes well under a second; 20 s only proves it ends.
READ_BOUND = 20.0

# The C library of the process itself: POSIX's (the tests that use this
# module skip themselves elsewhere; importing it must still work).
_libc = ctypes.CDLL(None, use_errno=True) if os.name == "posix" else None
_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 1 << 18
_MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
_IN_OPEN = 0x20


def _check(rc: int, what: str) -> None:
    if rc != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: chroot, mount namespaces and files under /usr/lib/debug")


def binutil(*args: str) -> str:
    tool = shutil.which(args[0])
    if tool is None:
        pytest.skip(f"{args[0]} (binutils) is not installed")
    done = subprocess.run(
        [tool, *args[1:]],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    return done.stdout


def random_build_id() -> str:
    """A build-id no other file on this machine has."""
    return uuid.uuid4().hex + os.urandom(4).hex()


# --------------------------------------------------------------------------
# Jails
# --------------------------------------------------------------------------


@dataclass
class Jail:
    root: Path  # the directory the target lives in
    libdir: str  # the library's folder, as the target sees it
    exe: str = "/bin/img_rooted"  # the target, as it sees itself

    def inside(self, path: str) -> Path:
        """Where a path of the target's is in the reader's tree."""
        return self.root / path.lstrip("/")

    @property
    def lib(self) -> str:
        return f"{self.libdir}/{LIB}"


def _needed_files(exe: Path) -> list[str]:
    """The libraries and the loader exe needs, as ldd names them."""
    found = []
    for line in binutil("ldd", str(exe)).splitlines():
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            found.append(match[1])
    assert found, f"ldd found nothing for {exe}"
    return found


def make_jail(parent: Path) -> Jail:
    """A fresh jail under parent, world-readable, with its own LIBDIR."""
    root = procutil.world_dir(parent)
    (root / "bin").mkdir()
    exe = procutil.compile_target("img_rooted", root / "bin" / "img_rooted", "-ldl")
    for needed in _needed_files(exe):
        copy = root / needed.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.realpath(needed), copy)
    for folder in ("tmp", "oldroot", "usr/lib/debug"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    jail = Jail(root, f"/tmp/memmaps-rooted-{uuid.uuid4().hex[:12]}")
    jail.inside(jail.libdir).mkdir(parents=True)
    for folder, _dirs, _files in os.walk(root):
        os.chmod(folder, 0o755)
    return jail


@contextlib.contextmanager
def host_path(path: str) -> Iterator[Path]:
    """A folder at path in the reader's own tree (none must be there),
    removed at the end."""
    folder = Path(path)
    if folder.exists():
        pytest.skip(f"{folder} exists already: not ours to fill")
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _can_pivot_root() -> str | None:
    """None, or why no mount namespace of its own can be had here."""
    if _SYS_PIVOT_ROOT is None:
        return f"pivot_root's syscall number for {os.uname().machine} is not known here"
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            _check(_libc.unshare(_CLONE_NEWNS), "unshare")
            _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return None if os.waitstatus_to_exitcode(status) == 0 else "unshare(CLONE_NEWNS) failed"


def _enter_container(root: Path) -> None:
    """unshare -m, then pivot_root into root and drop the old root, as a
    container runtime does."""
    _check(_libc.unshare(_CLONE_NEWNS), "unshare")
    _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate")
    where = os.fsencode(root)
    _check(_libc.mount(where, where, None, _MS_BIND | _MS_REC, None), "mount --bind")
    os.chdir(root)
    _check(_libc.syscall(_SYS_PIVOT_ROOT, b".", b"oldroot"), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/oldroot", _MNT_DETACH), "umount /oldroot")


def _become(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def launch(jail: Jail, how: str, uid: int | None = None, lib: str | None = None) -> procutil.Ready:
    """img_rooted in the jail, chroot'd ("chroot") or pivot_root'd in a mount
    namespace of its own ("container"), as uid when given, loading lib (the
    target's path; the jail's x.so by default)."""
    if how == "container":
        reason = _can_pivot_root()
        if reason is not None:
            pytest.skip(reason)

    def enter() -> None:
        if how == "container":
            _enter_container(jail.root)
        else:
            os.chroot(jail.root)
            os.chdir("/")
        if uid is not None:
            _become(uid)

    return procutil.launch_ready([jail.exe, lib or jail.lib], preexec_fn=enter)


# --------------------------------------------------------------------------
# Libraries and debug files
# --------------------------------------------------------------------------


def build_library(out: Path, salt: int, build_id: str | None, pad: int | None = None) -> Path:
    """tests/targets/img_rootlib.c built into out: with the given build-id
    (None: no build-id note at all); pad moves rooted_secret, so that the
    symbols of that build give another address."""
    flags = ["-shared", "-fPIC", f"-DSALT={salt}"]
    flags.append("-Wl,--build-id=none" if build_id is None else f"-Wl,--build-id=0x{build_id}")
    if pad is not None:
        flags.append(f"-DPAD={pad}")
    return procutil.compile_target("img_rootlib", out, *flags)


def split_debug(lib: Path, debug: Path) -> Path:
    """Moves lib's symbols into debug (objcopy --only-keep-debug) and strips
    lib."""
    binutil("objcopy", "--only-keep-debug", str(lib), str(debug))
    binutil("strip", str(lib))
    os.chmod(debug, 0o644)
    return debug


def debuglink_section(name: bytes, crc: int) -> bytes:
    """A .gnu_debuglink's contents: the name, its NUL, padding to 4, the
    CRC32 (little-endian here)."""
    data = name + b"\0"
    data += b"\0" * (-len(data) % 4)
    return data + struct.pack("<I", crc)


def set_debuglink(lib: Path, name: str, crc_of: Path) -> None:
    """Gives lib a .gnu_debuglink naming name with crc_of's CRC32 (objcopy's
    --add-gnu-debuglink keeps only a path's last component: a name with a
    '/' in it has to be written this way)."""
    section = lib.with_name(lib.name + ".debuglink")
    section.write_bytes(debuglink_section(name.encode(), zlib.crc32(crc_of.read_bytes())))
    binutil("objcopy", "--remove-section=.gnu_debuglink", str(lib))
    binutil("objcopy", f"--add-section=.gnu_debuglink={section}", str(lib))
    section.unlink()


def build_id_path(root: Path, build_id: str) -> Path:
    return root / "usr/lib/debug/.build-id" / build_id[:2] / f"{build_id[2:]}.debug"


# --------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------


def read_in_child(
    work: Callable[[], Any],
    uid: int | None = None,
    env: dict[str, str] | None = None,
    bound: float = READ_BOUND,
) -> Any:
    """work() in a forked child (as uid, with env added to its
    environment), returned through JSON; an exception in it is raised here
    with its traceback.  A child still running after bound seconds is
    killed and the test fails: it hung."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(read_end)
            os.environ.update(env or {})
            if uid is not None:
                _become(uid)
            try:
                result = {"ok": work()}
            except BaseException as error:  # reported to the parent
                import traceback

                result = {"error": f"{type(error).__name__}: {error}", "tb": traceback.format_exc()}
            data = json.dumps(result).encode()
            while data:
                data = data[os.write(write_end, data) :]
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + bound
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the reader did not finish within {bound} s: it hung")
            ready, _, _ = select.select([read_end], [], [], left)
            if ready:
                chunk = os.read(read_end, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
        with contextlib.suppress(ProcessLookupError):
            if os.waitpid(child, os.WNOHANG) == (0, 0):
                os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)
    result = json.loads(b"".join(chunks))
    assert "error" not in result, result.get("tb")
    return result["ok"]


def resolve_env(resolve: str) -> dict[str, str]:
    """The environment that makes memmaps resolve paths one way: "openat2"
    (where the kernel has it) or "walk" (as without it)."""
    return {"MEMMAPS_OPEN_IN_ROOT": "walk"} if resolve == "walk" else {}


# --------------------------------------------------------------------------
# Opens
# --------------------------------------------------------------------------


class OpenWatch:
    """inotify's IN_OPEN on files that must never be opened: a real open
    makes the event, the O_PATH look and stat() that open nothing do not
    (nor does reading a FIFO's or a device's identity)."""

    def __init__(self) -> None:
        self._fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            pytest.skip(f"inotify_init1: {os.strerror(ctypes.get_errno())}")
        self._watched: dict[int, str] = {}

    def add(self, path: Path | str) -> None:
        # IN_DONT_FOLLOW (0x02000000): a symlink is watched itself, not what
        # it names; only its target's opens matter, and that is added apart.
        wd = _libc.inotify_add_watch(self._fd, os.fsencode(path), _IN_OPEN | 0x02000000)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
        self._watched[wd] = str(path)

    def opened(self) -> list[str]:
        """The watched files opened since they were added."""
        found = []
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return found
            offset = 0
            while offset + 16 <= len(data):
                wd, mask, _cookie, length = struct.unpack_from("iIII", data, offset)
                if mask & _IN_OPEN:
                    found.append(self._watched.get(wd, f"watch {wd}"))
                offset += 16 + length

    def close(self) -> None:
        os.close(self._fd)


def make_fifo_at(path: Path) -> None:
    """A FIFO where path was (a file, or nothing)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path, 0o666)


def make_device_at(path: Path) -> None:
    """A character device node (1, 5: what /dev/zero is) where path was."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mknod(path, 0o666 | 0o020000, os.makedev(1, 5))
    except PermissionError as error:
        if error.errno in (errno.EPERM, errno.EACCES):
            pytest.skip(f"mknod is refused here: {error}")
        raise


# --------------------------------------------------------------------------
# A kernel without openat2
# --------------------------------------------------------------------------

_SYS_OPENAT2 = 437  # the same number on every architecture
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}.get(platform.machine())


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def refuse_openat2(error: int) -> None:
    """Installs a seccomp filter on this process that answers openat2 with
    error (ENOSYS as a kernel before 5.6 does, or EPERM as some container
    runtimes' filters do), as a container runtime would; every other call
    goes through.  For a forked child: it cannot be undone."""
    if _AUDIT_ARCH is None:
        raise OSError(errno.ENOSYS, f"no seccomp arch value for {os.uname().machine}")
    ld_abs, jeq, ret = 0x20, 0x15, 0x06
    program = (_SockFilter * 6)(
        _SockFilter(ld_abs, 0, 0, 4),  # seccomp_data.arch
        _SockFilter(jeq, 0, 3, _AUDIT_ARCH),
        _SockFilter(ld_abs, 0, 0, 0),  # seccomp_data.nr
        _SockFilter(jeq, 0, 1, _SYS_OPENAT2),
        _SockFilter(ret, 0, 0, 0x00050000 | error),  # SECCOMP_RET_ERRNO
        _SockFilter(ret, 0, 0, 0x7FFF0000),  # SECCOMP_RET_ALLOW
    )
    fprog = _SockFprog(len(program), program)
    _check(_libc.prctl(38, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _check(_libc.prctl(22, 2, ctypes.byref(fprog), 0, 0), "prctl(PR_SET_SECCOMP)")
    # The filter must answer as meant, or the test would check nothing.
    how = (ctypes.c_uint64 * 3)(os.O_PATH, 0, 0)
    rc = _libc.syscall(_SYS_OPENAT2, -100, b"/", ctypes.byref(how), 24)
    got = ctypes.get_errno()
    if rc >= 0:
        os.close(rc)
    if rc >= 0 or got != error:
        raise AssertionError(f"openat2 still answers (rc {rc}, errno {got})")
