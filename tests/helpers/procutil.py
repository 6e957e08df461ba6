"""Helpers for the live tests (tests/live/).

An independent reference reader of the kernel's /proc/PID/maps text (it does
not use memmaps at all), plus small helpers to build and run target
processes and to compare memmaps results with the kernel's text.
"""

from __future__ import annotations

import contextlib
import json
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

import memmaps

TARGETS = Path(__file__).resolve().parents[1] / "targets"

PF_KTHREAD = 0x00200000

# Region field names, in the order the library promises for the tuple.
# The C core fills Region by position, and setup() refuses a Region whose
# fields differ from that order: the Python class is the one list.
REGION_FIELDS = memmaps.Region._fields

# The sanitizer run preloads the ASan runtime into this interpreter (the
# extension is built for it).  Targets must not inherit it: it replaces
# their allocator, so they lose [heap] and their mlock()ed pages change, and
# the tests would check ASan rather than the kernel.  Only Python children
# that import memmaps need it back: python_env() gives their environment.
SANITIZER_PRELOAD = (
    os.environ.pop("LD_PRELOAD", None) if "asan" in os.environ.get("LD_PRELOAD", "") else None
)
SANITIZED = SANITIZER_PRELOAD is not None
SANITIZED_REASON = (
    "the ASan runtime maps and unmaps memory as this interpreter runs, so its "
    "own map never holds still between two reads"
)


def python_env() -> dict[str, str]:
    """The environment for a Python child that imports memmaps."""
    env = dict(os.environ)
    if SANITIZER_PRELOAD is not None:
        env["LD_PRELOAD"] = SANITIZER_PRELOAD
    return env


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
    return read_proc(pid, "maps")


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
    """A Region is a tuple of REGION_FIELDS whose attributes match its items."""
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


# --------------------------------------------------------------------------
# Reference parser of the kernel's smaps / smaps_rollup text
# --------------------------------------------------------------------------

# Usage field names, in the order the library promises for the tuple.
USAGE_FIELDS = (
    "size",
    "kernel_page_size",
    "mmu_page_size",
    "rss",
    "pss",
    "pss_dirty",
    "pss_anon",
    "pss_file",
    "pss_shmem",
    "shared_clean",
    "shared_dirty",
    "private_clean",
    "private_dirty",
    "referenced",
    "anonymous",
    "ksm",
    "lazy_free",
    "anon_huge_pages",
    "shmem_pmd_mapped",
    "file_pmd_mapped",
    "shared_hugetlb",
    "private_hugetlb",
    "swap",
    "swap_pss",
    "locked",
    "thp_eligible",
    "protection_key",
    "vmflags",
    "extra",
)

# smaps keys printed as "N kB", and the Usage field each one fills.
SMAPS_KB_KEYS = {
    "Size": "size",
    "KernelPageSize": "kernel_page_size",
    "MMUPageSize": "mmu_page_size",
    "Rss": "rss",
    "Pss": "pss",
    "Pss_Dirty": "pss_dirty",
    "Pss_Anon": "pss_anon",
    "Pss_File": "pss_file",
    "Pss_Shmem": "pss_shmem",
    "Shared_Clean": "shared_clean",
    "Shared_Dirty": "shared_dirty",
    "Private_Clean": "private_clean",
    "Private_Dirty": "private_dirty",
    "Referenced": "referenced",
    "Anonymous": "anonymous",
    "KSM": "ksm",
    "LazyFree": "lazy_free",
    "AnonHugePages": "anon_huge_pages",
    "ShmemPmdMapped": "shmem_pmd_mapped",
    "FilePmdMapped": "file_pmd_mapped",
    "Shared_Hugetlb": "shared_hugetlb",
    "Private_Hugetlb": "private_hugetlb",
    "Swap": "swap",
    "SwapPss": "swap_pss",
    "Locked": "locked",
}
# Figures that count memory (a total adds them); the others describe.
COUNTED_FIELDS = tuple(f for f in SMAPS_KB_KEYS.values() if not f.endswith("page_size"))
DESCRIPTIVE_FIELDS = (
    "kernel_page_size",
    "mmu_page_size",
    "thp_eligible",
    "protection_key",
    "vmflags",
)

_FIELD_LINE = re.compile(rb"([A-Za-z][A-Za-z0-9_]*):(.*)")
_KB_VALUE = re.compile(rb" *([0-9]+) kB *")
_NUMBER = re.compile(rb" *([0-9]+) *")


@dataclass(frozen=True)
class RefSmaps:
    region: RefRegion
    usage: dict  # Usage field -> value, every field (None when not printed)
    block: bytes  # the header line and its field lines, newlines included


def empty_usage() -> dict:
    u: dict = dict.fromkeys(USAGE_FIELDS)
    u["extra"] = ()
    return u


def _extra_value(raw: bytes):
    text = raw.strip(b" ")
    m = re.fullmatch(rb"([0-9]+) kB", text)
    if m:
        return int(m[1]) * 1024
    if re.fullmatch(rb"[0-9]+", text):
        return int(text)
    return os.fsdecode(text)


def parse_smaps(data: bytes) -> list[RefSmaps]:
    """Strict parse of /proc/PID/smaps (or smaps_rollup) text, independent of
    memmaps: each region's header (through parse_maps) and a dict of every
    Usage field in bytes (None where the kernel did not print the key)."""
    out: list[RefSmaps] = []
    if not data:
        return out
    assert data.endswith(b"\n"), "smaps text does not end in a newline"
    header: bytes | None = None
    usage: dict = {}
    block: list[bytes] = []
    extra: list = []

    def flush() -> None:
        if header is not None:
            usage["extra"] = tuple(extra)
            (region,) = parse_maps(header + b"\n")
            out.append(RefSmaps(region, dict(usage), b"".join(block)))

    for lineno, line in enumerate(data[:-1].split(b"\n"), 1):
        m = _FIELD_LINE.fullmatch(line)
        if m is None or _PREFIX.match(line):
            flush()
            header, usage, block, extra = line, empty_usage(), [], []
            block.append(line + b"\n")
            continue
        assert header is not None, f"line {lineno}: a field before any region: {line!r}"
        block.append(line + b"\n")
        key, value = m[1].decode(), m[2]
        if key in SMAPS_KB_KEYS:
            v = _KB_VALUE.fullmatch(value)
            assert v, f"line {lineno}: not a kB figure: {line!r}"
            field = SMAPS_KB_KEYS[key]
            assert usage[field] is None, f"line {lineno}: {key} twice"
            usage[field] = int(v[1]) * 1024
        elif key in ("THPeligible", "ProtectionKey"):
            v = _NUMBER.fullmatch(value)
            assert v, f"line {lineno}: not a number: {line!r}"
            n = int(v[1])
            if key == "THPeligible":
                assert n in (0, 1), line
                usage["thp_eligible"] = bool(n)
            else:
                usage["protection_key"] = n
        elif key == "VmFlags":
            usage["vmflags"] = tuple(value.decode("ascii").split())
        else:
            extra.append((key, _extra_value(value)))
    flush()
    return out


def read_proc(pid, name: str) -> bytes:
    """The whole of /proc/PID/<name>, read in one go."""
    with open(f"/proc/{pid}/{name}", "rb", buffering=0) as f:
        chunks = []
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def usage_problems(lib, want: dict) -> list[str]:
    """Differences between a memmaps Usage and a reference usage dict, types
    included (a bool is not an int, an int is not a bool)."""
    if lib is None:
        return ["usage is None"]
    diffs = []
    for field in USAGE_FIELDS:
        got, exp = getattr(lib, field), want[field]
        if got != exp or type(got) is not type(exp):
            diffs.append(f"{field}: expected {exp!r}, got {got!r}")
    if tuple(lib) != tuple(getattr(lib, f) for f in USAGE_FIELDS):
        diffs.append("the tuple order differs from the fields")
    return diffs


def sum_usages(usages: Iterable[dict], keep_descriptive: bool = True) -> dict:
    """The documented total of reference usages: counted figures added (None
    where any part lacks one); descriptive ones kept where all agree
    (keep_descriptive) or None; extras of unknown keys left out."""
    usages = list(usages)
    total = empty_usage()
    for field in COUNTED_FIELDS:
        values = [u[field] for u in usages]
        total[field] = None if not values or None in values else sum(values)
    for field in DESCRIPTIVE_FIELDS:
        values = {u[field] for u in usages}
        total[field] = values.pop() if keep_descriptive and len(values) == 1 else None
    return total


# --------------------------------------------------------------------------
# Huge pages
# --------------------------------------------------------------------------

NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"


def meminfo(key: str) -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


@contextlib.contextmanager
def free_hugepage():
    """Makes sure one default-size huge page is free (as root, by raising
    vm.nr_hugepages, restored on exit).  Yields None, or the reason why it
    cannot.  Stop the processes that use the page before leaving."""
    if meminfo("HugePages_Free") >= 1:
        yield None
        return
    if os.geteuid() != 0 or not os.path.exists(NR_HUGEPAGES):
        yield "no free huge page and not root (cannot raise vm.nr_hugepages)"
        return
    with open(NR_HUGEPAGES) as f:
        old = f.read().strip()
    try:
        with open(NR_HUGEPAGES, "w") as f:
            f.write(str(int(old) + 1))
    except OSError as e:
        yield f"cannot raise vm.nr_hugepages: {e}"
        return
    try:
        if meminfo("HugePages_Free") < 1:
            yield "the kernel could not allocate a huge page for vm.nr_hugepages"
        else:
            yield None
    finally:
        with open(NR_HUGEPAGES, "w") as f:
            f.write(old)


# --------------------------------------------------------------------------
# Targets built from tests/targets, for the image tests
# --------------------------------------------------------------------------

#: Whether the tests run as root (never on Windows, which has no uids).
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

NOBODY = 65534  # the target's user in the tests that drop privileges
OTHER = 65533  # a reader that is neither root nor the target's user
# setpriv's arguments that run a command as NOBODY with no other groups
AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")


def world_dir(parent: Path | None = None) -> Path:
    """A fresh 0755 directory (pytest's tmp dirs are 0700 under root), so
    that targets can also run as another user."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="memmaps-images-", dir=parent))
    os.chmod(d, 0o755)
    return d


def compile_target(name: str, out: Path, *extra: str) -> Path:
    """tests/targets/NAME.c built into out, mode 0755."""
    compile_c(TARGETS / f"{name}.c", out, *extra)
    os.chmod(out, 0o755)
    return out


def build_image_main(folder: Path) -> tuple[Path, Path]:
    """img_main, a PIE linked against libmmimg.so beside it: (exe, lib)."""
    lib = compile_target("img_lib", folder / "libmmimg.so", "-shared", "-fPIC")
    exe = compile_target(
        "img_main",
        folder / "img_main",
        "-fPIE",
        "-pie",
        "-rdynamic",
        f"-L{folder}",
        "-lmmimg",
        f"-Wl,-rpath,{folder}",
    )
    return exe, lib


def run_as(uid: int, work, real_uid: int | None = None):
    """Runs work() in a forked child switched to uid (gid the same, no other
    groups; its real ids real_uid, when given) and returns what it returned
    (JSON-able), or fails with the child's traceback."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(read_end)
            real = uid if real_uid is None else real_uid
            os.setgroups([])
            os.setresgid(real, uid, uid)
            os.setresuid(real, uid, uid)
            try:
                result = {"ok": work()}
            except BaseException as error:  # reported to the parent
                import traceback

                result = {"error": f"{type(error).__name__}: {error}", "tb": traceback.format_exc()}
            os.write(write_end, json.dumps(result).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    result = json.loads(data)
    assert "error" not in result, result.get("tb")
    return result["ok"]


def wait_for_uid(pid: int, uid: int) -> None:
    """Waits until every uid of process pid is uid (a target that drops
    privileges before it is read)."""
    deadline = time.monotonic() + 10
    while True:
        status = Path(f"/proc/{pid}/status").read_text()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M)[1].split()
        if all(int(u) == uid for u in uids):
            return
        assert time.monotonic() < deadline, f"pid {pid} never ran as uid {uid}: {uids}"
        time.sleep(0.01)


@dataclass
class Ready:
    """A target that said "ready PID ADDR...": its process, pid and the
    addresses it printed, in order."""

    proc: subprocess.Popen
    pid: int
    addrs: list[int]


def launch_ready(args: Sequence[object], **kw) -> Ready:
    """Starts a target and waits for its "ready" line."""
    proc = start([str(a) for a in args], **kw)
    try:
        words = read_line(proc).split()
        assert words[0] == b"ready", words
        pid = int(words[1])
        assert pid == proc.pid, (pid, proc.pid)
        return Ready(proc, pid, [int(w, 16) for w in words[2:]])
    except BaseException:
        stop(proc)
        raise


class DiffTarget:
    """A running tests/targets/diff_target.c and the commands it takes: it
    changes its map when told and holds still in between."""

    def __init__(self, exe: Path) -> None:
        ready = launch_ready([exe])
        self.proc = ready.proc
        self.pid = ready.pid
        self.arena = ready.addrs[0]
        self.page = os.sysconf("SC_PAGE_SIZE")
        # The first commands make stdio and malloc set themselves up, so
        # that nothing else changes later.
        self.do("map 4000 1 r-- p")
        self.do("unmap 4000 1")

    def do(self, command: str) -> list[str]:
        """Runs a command; the words of its "ok" answer after "ok"."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        words = read_line(self.proc).decode().split()
        assert words and words[0] == "ok", (command, words)
        return words[1:]

    def at(self, page: int) -> int:
        """The address of a page of the arena."""
        return self.arena + page * self.page

    def snapshot(self, usage: bool = False) -> memmaps.Maps:
        """memmaps' listing, checked against the kernel's text (without
        usage: the smaps text is checked by the usage tests)."""
        maps = memmaps.regions(self.pid, usage=usage)
        if not usage:
            text = read_maps(self.pid)
            assert [r.header() for r in parse_maps(text)] == [
                (r.start, r.end, r.perms, r.offset, r.dev_major, r.dev_minor, r.inode) for r in maps
            ]
        return maps
