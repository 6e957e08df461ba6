"""Helpers for the live tests (tests/test_live_*.py).

An independent reference reader of the kernel's /proc/PID/maps text (it does
not use memmaps at all), plus small helpers to build and run target
processes and to compare memmaps results with the kernel's text.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

TARGETS = Path(__file__).resolve().parent / "targets"

PF_KTHREAD = 0x00200000

# Region field names, in the order the library promises for the tuple.
REGION_FIELDS = (
    "start",
    "end",
    "perms",
    "offset",
    "dev_major",
    "dev_minor",
    "inode",
    "path",
    "deleted",
    "kind",
    "usage",
    "max_perms",
    "share_mode",
    "tag",
)

# --------------------------------------------------------------------------
# Reference parser of the kernel text
# --------------------------------------------------------------------------

_PREFIX = re.compile(
    rb"([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) "
    rb"([0-9a-f]+):([0-9a-f]+) ([0-9]+) "
)
_SYSV = re.compile(rb"/SYSV[0-9a-f]{8}")
_DELETED = b" (deleted)"
# The kernel pads the name to this column (seq_setwidth(25 + 6 * 8 - 1)),
# then writes one more space.
_NAME_PAD = 25 + 6 * 8 - 1


@dataclass(frozen=True)
class RefRegion:
    start: int
    end: int
    perms: str
    offset: int
    dev_major: int
    dev_minor: int
    inode: int
    raw_name: bytes | None  # the name exactly as printed, escapes and all
    path: str | None  # text view: unescaped, " (deleted)" stripped
    deleted: bool
    kind: str
    line: bytes  # the whole line without its newline

    def header(self) -> tuple:
        return (
            self.start,
            self.end,
            self.perms,
            self.offset,
            self.dev_major,
            self.dev_minor,
            self.inode,
        )


def ref_kind(raw_name: bytes | None, deleted: bool, perms: str) -> str:
    """The kind the library promises, derived from the kernel text."""
    if raw_name is None:
        return "guard" if perms == "---p" else "anon"
    n = raw_name
    if n == b"[heap]":
        return "heap"
    if n == b"[stack]" or n.startswith(b"[stack:"):
        return "stack"
    if n == b"[vdso]":
        return "vdso"
    if n in (b"[vvar]", b"[vvar_vclock]"):
        return "vvar"
    if n == b"[vsyscall]":
        return "vsyscall"
    if n.startswith(b"[anon:"):
        return "anon"
    if n.startswith(b"[anon_shmem:"):
        return "shmem"
    if n.startswith(b"[") or n.startswith(b"anon_inode:"):
        return "special"
    if deleted:
        base = n[: -len(_DELETED)]
        if base == b"/dev/zero":
            return "shmem"
        if base.startswith(b"/memfd:"):
            return "memfd"
        if _SYSV.fullmatch(base):
            return "sysv"
        if base == b"/anon_hugepage":
            return "hugetlb"
    return "file"


def parse_maps(data: bytes) -> list[RefRegion]:
    """Strict parse of /proc/PID/maps text (bytes).  Raises on anything odd."""
    out: list[RefRegion] = []
    if not data:
        return out
    assert data.endswith(b"\n"), "maps text does not end in a newline"
    for lineno, line in enumerate(data[:-1].split(b"\n"), 1):
        m = _PREFIX.match(line)
        assert m, f"line {lineno} has no valid prefix: {line!r}"
        start, end = int(m[1], 16), int(m[2], 16)
        assert len(m[1]) >= 8 and len(m[2]) >= 8, line
        assert len(m[4]) >= 8, line
        rest = line[m.end() :]
        raw_name: bytes | None
        if rest == b"":
            raw_name = None
        else:
            col = max(m.end(), _NAME_PAD) + 1
            pad = line[m.end() : col]
            assert pad == b" " * len(pad), f"bad padding on line {lineno}: {line!r}"
            raw_name = line[col:]
            assert raw_name, f"empty name on line {lineno}: {line!r}"
        deleted = raw_name is not None and raw_name.endswith(_DELETED)
        path: str | None = None
        if raw_name is not None:
            name = raw_name[: -len(_DELETED)] if deleted else raw_name
            path = os.fsdecode(name.replace(b"\\012", b"\n"))
        perms = m[3].decode()
        out.append(
            RefRegion(
                start=start,
                end=end,
                perms=perms,
                offset=int(m[4], 16),
                dev_major=int(m[5], 16),
                dev_minor=int(m[6], 16),
                inode=int(m[7]),
                raw_name=raw_name,
                path=path,
                deleted=deleted,
                kind=ref_kind(raw_name, deleted, perms),
                line=line,
            )
        )
    return out


def read_maps(pid) -> bytes:
    with open(f"/proc/{pid}/maps", "rb", buffering=0) as f:
        chunks = []
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def kernel_escape(name: bytes) -> bytes:
    """How the kernel prints a file name in maps (only newline is escaped)."""
    return name.replace(b"\n", b"\\012")


# --------------------------------------------------------------------------
# Checks on memmaps results
# --------------------------------------------------------------------------


def region_problems(regions: Sequence) -> list[str]:
    """Structural problems: not sorted, overlapping, empty ranges."""
    probs = []
    prev = None
    for i, r in enumerate(regions):
        if not r.start < r.end:
            probs.append(f"#{i} empty/negative range {r.start:#x}-{r.end:#x}")
        if prev is not None:
            if r.start < prev.start:
                probs.append(f"#{i} not sorted: {r.start:#x} after {prev.start:#x}")
            elif r.start < prev.end:
                probs.append(
                    f"#{i} overlaps previous: {prev.start:#x}-{prev.end:#x} "
                    f"and {r.start:#x}-{r.end:#x}"
                )
        prev = r
    return probs


def check_region_shape(r) -> None:
    """A Region is a 14-tuple whose attributes match its items."""
    assert isinstance(r, tuple), type(r)
    assert len(r) == len(REGION_FIELDS), (len(r), r)
    got = tuple(getattr(r, f) for f in REGION_FIELDS)
    assert tuple(r) == got, f"tuple order differs from fields: {tuple(r)!r} vs {got!r}"
    # Linux: no usage unless asked, and no macOS/Windows fields.
    assert r.usage is None and r.max_perms is None, r
    assert r.share_mode is None and r.tag is None, r


def lib_vs_ref(lib, ref: RefRegion, *, path=..., deleted=...) -> list[str]:
    """Differences between a memmaps Region and a reference region.

    path/deleted default to the reference's text view; pass the truth when
    the text is ambiguous (literal "\\012", a real " (deleted)" suffix).
    """
    want_path = ref.path if path is ... else path
    want_deleted = ref.deleted if deleted is ... else deleted
    want = dict(
        start=ref.start,
        end=ref.end,
        perms=ref.perms,
        offset=ref.offset,
        dev_major=ref.dev_major,
        dev_minor=ref.dev_minor,
        inode=ref.inode,
        path=want_path,
        deleted=want_deleted,
        kind=ref.kind,
    )
    diffs = []
    for k, v in want.items():
        g = getattr(lib, k)
        if g != v or type(g) is not type(v):
            diffs.append(f"{k}: expected {v!r}, got {g!r}")
    return diffs


def fmt_ref(r: RefRegion) -> str:
    return r.line.decode("utf-8", "backslashreplace")


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


def compile_c(src: Path, out: Path, *extra: str) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        import pytest

        pytest.skip("no C compiler (gcc/cc) on PATH")
    subprocess.run(
        [gcc, "-O2", "-Wall", "-o", str(out), str(src), *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def read_line(proc: subprocess.Popen, timeout: float = 20.0) -> bytes:
    """One line from proc.stdout within timeout (proc.stdout must be binary,
    unbuffered)."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"target {proc.args!r} said nothing in {timeout}s: {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        b = os.read(fd, 1)
        if not b:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(
                f"target {proc.args!r} exited early (rc={proc.wait()}): {buf!r}\n{err}"
            )
        buf += b
    return buf


def start(args: Iterable, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        list(args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        **kw,
    )


def stop(proc: subprocess.Popen) -> None:
    """Kill and reap a target, whatever state it is in."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()


def proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except FileNotFoundError:
        return None
    return s[s.rindex(b")") + 2 :].split()[0].decode()


def proc_flags(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        s = f.read()
    fields = s[s.rindex(b")") + 2 :].split()
    return int(fields[6])  # field 9 of stat(5): flags


def wait_state(pid: int, state: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while proc_state(pid) != state:
        if time.monotonic() > deadline:
            raise TimeoutError(f"pid {pid} never reached state {state}: {proc_state(pid)}")
        time.sleep(0.005)


def unused_pid() -> int:
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    for pid in range(pid_max - 1, 1, -1):
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    raise RuntimeError("no free pid")


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
