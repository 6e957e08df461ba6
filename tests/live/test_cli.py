"""The command line, run as `python -m memmaps` / the `memmaps` script and
in-process through memmaps.cli.main(), against real target processes."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memmaps
import memmaps.cli
from tests.helpers import procutil

# The command line is checked against the kernel's own /proc text of live
# targets (and the targets use Linux-only calls such as memfd_create).
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="compares with Linux's /proc/PID/maps"
)

MAPS_LINE = re.compile(rb"^[0-9a-f]{8,16}-[0-9a-f]{8,16} [r-][w-][x-][sp] [0-9a-f]{8,} ")

# A process that maps nothing new once it has said "ready".
IDLE = "import sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"

# A process with the names and mappings that make /proc/PID/maps awkward.
AWKWARD = r"""
import mmap, os, sys
directory = os.fsencode(sys.argv[1])
PAGE = mmap.PAGESIZE
keep = []

def map_file(name, size=PAGE, offset=0, unlink=False):
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(fd, offset + size)
    m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ, offset=offset)
    os.close(fd)
    if unlink:
        os.unlink(path)
    keep.append(m)
    return m

for name in [b"sp ace", b" lead", b"trail ", b"tab\tname", b"back\\slash", b"new\nline",
             b"lit\\012eral", b"bad\xff\xfe", b"real (deleted)"]:
    map_file(name)
map_file(b"gone", unlink=True)
map_file(b"big", offset=(4 << 30) + PAGE)
# Three pages of one file in three VMAs (the middle one differs only in a
# flag maps does not show): --coalesce puts them back together.
three = map_file(b"three", size=3 * PAGE)
three.madvise(mmap.MADV_DONTFORK, PAGE, PAGE)
fd = os.memfd_create("memfd name")
os.ftruncate(fd, PAGE)
keep.append(mmap.mmap(fd, PAGE))
os.close(fd)
keep.append(mmap.mmap(-1, 2 * PAGE))  # shared anonymous: /dev/zero (deleted)
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()
"""


def wait_ready(proc: subprocess.Popen, timeout: float = 20) -> None:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    if line != b"ready\n":
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"target did not start: {line!r} {err!r}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    """Two processes kept alive for the module: "idle" and "awkward"."""
    directory = tmp_path_factory.mktemp("awkward")
    procs = {}
    try:
        for name, args in (
            ("idle", [sys.executable, "-c", IDLE]),
            ("awkward", [sys.executable, "-c", AWKWARD, str(directory)]),
        ):
            procs[name] = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        for proc in procs.values():
            wait_ready(proc)
        yield {name: proc.pid for name, proc in procs.items()} | {"dir": str(directory)}
    finally:
        for proc in procs.values():
            stop(proc)


@pytest.fixture(scope="module")
def idle(targets):
    return targets["idle"]


@pytest.fixture(scope="module")
def awkward(targets):
    return targets["awkward"]


def kernel_maps(pid) -> bytes:
    with open(f"/proc/{pid}/maps", "rb") as f:
        return f.read()


def kernel_lines(pid) -> list[bytes]:
    return kernel_maps(pid).splitlines(keepends=True)


def line_perms(line: bytes) -> str:
    return line.split(b" ", 2)[1].decode()


def run_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("env", procutil.python_env())
    return subprocess.run(
        [sys.executable, "-m", "memmaps", *args], capture_output=True, timeout=60, **kw
    )


def run_many(*argvs: list[str]) -> list[tuple[int, bytes, bytes, int]]:
    """Runs several `python -m memmaps` at once: (status, out, err, pid) each."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "memmaps", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=procutil.python_env(),
        )
        for argv in argvs
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        results.append((proc.returncode, out, err, proc.pid))
    return results


def call_main(capsysbinary, *args: str) -> tuple[int, bytes, bytes]:
    status = memmaps.cli.main(list(args))
    captured = capsysbinary.readouterr()
    return status, captured.out, captured.err


def assert_one_error_line(err: bytes) -> str:
    text = err.decode()
    assert "Traceback" not in text
    assert text.startswith("memmaps: "), text
    assert text.endswith("\n"), text
    assert text.count("\n") == 1, text
    return text


def missing_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    pid = proc.pid
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    return pid


# ---- --format proc ----


def test_awkward_target_has_the_awkward_names(awkward, targets):
    text = kernel_maps(awkward)
    directory = os.fsencode(targets["dir"])
    for name in [
        b"/sp ace\n",
        b"/ lead\n",
        b"/trail \n",
        b"/tab\tname\n",
        b"/back\\slash\n",
        b"/new\\012line\n",
        b"/lit\\012eral\n",
        b"/bad\xff\xfe\n",
        b"/real (deleted)\n",
        b"/gone (deleted)\n",
        b"/big\n",
        b"/memfd:memfd name (deleted)\n",
        b"/dev/zero (deleted)\n",
    ]:
        assert name in text, name
    assert b" 100001000 " in text
    assert text.count(b"/three\n") == 3
    assert directory in text


@pytest.mark.parametrize("which", ["idle", "awkward"])
def test_proc_format_is_byte_identical(targets, which):
    pid = targets[which]
    result = run_cli(str(pid), "--format", "proc")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout == kernel_maps(pid)


@pytest.mark.parametrize("which", ["idle", "awkward"])
def test_proc_format_in_process(capsysbinary, targets, which):
    pid = targets[which]
    status, out, err = call_main(capsysbinary, str(pid), "--format", "proc")
    assert (status, err) == (0, b"")
    assert out == kernel_maps(pid)


def test_self_and_no_argument():
    (s1, out1, err1, pid1), (s2, out2, err2, pid2), (s3, out3, err3, _) = run_many(
        ["self", "--format", "json"], ["--format", "json"], ["--format", "proc"]
    )
    assert (s1, err1, s2, err2, s3, err3) == (0, b"", 0, b"", 0, b"")
    exe = os.path.realpath(sys.executable)
    for out, pid in ((out1, pid1), (out2, pid2)):
        data = json.loads(out)
        assert data["pid"] == pid
        paths = [region["path"] for region in data["regions"]]
        assert exe in paths
        assert "[stack]" in paths
        assert os.path.realpath(memmaps._core.__file__) in paths
        starts = [region["start"] for region in data["regions"]]
        assert starts == sorted(starts)
    lines = out3.splitlines(keepends=True)
    assert all(MAPS_LINE.match(line) for line in lines)
    assert any(line.endswith(b" [stack]\n") for line in lines)
    assert any(line.endswith(os.fsencode(exe) + b"\n") for line in lines)
    assert os.fsencode(memmaps.parse(out3).to_proc_maps()) == out3


@pytest.mark.skipif(procutil.SANITIZED, reason=procutil.SANITIZED_REASON)
@pytest.mark.parametrize("args", [[], ["self"]])
def test_self_in_process_matches_the_kernel(capsysbinary, args):
    matched = 0
    for _ in range(10):
        before = kernel_maps("self")
        status, out, err = call_main(capsysbinary, *args, "--format", "proc")
        after = kernel_maps("self")
        assert (status, err) == (0, b"")
        if out in (before, after):
            matched += 1
            break
    assert matched == 1


# ---- --format table ----

_UNIT_POWER = {unit: 1024**i for i, unit in enumerate("BKMGTPE")}


def check_human_size(text: str, size: int) -> None:
    match = re.fullmatch(r"(\d+(?:\.\d)?)([BKMGTPE])", text)
    assert match, text
    value, unit = float(match.group(1)), match.group(2)
    assert value < 1024 or unit == "E", text
    assert abs(value * _UNIT_POWER[unit] - size) <= 0.05 * size + 1, (text, size)


def check_table(text: str, maps) -> None:
    lines = text.split("\n")
    assert lines[-1] == ""
    header, rows, footer = lines[0], lines[1:-2], lines[-2]
    names = ["START", "END", "SIZE", "PERMS", "OFFSET", "DEV", "INODE", "KIND", "PATH"]
    assert header.split() == names
    left = {name: header.index(name) for name in ("START", "END", "PERMS", "KIND", "PATH")}
    right = {name: header.index(name) + len(name) for name in ("SIZE", "OFFSET", "DEV", "INODE")}
    assert len(rows) == len(maps)
    for row, region in zip(rows, maps, strict=True):
        fields = {}
        for name, pos in left.items():
            if name == "PATH" and region.path is None:
                assert len(row) < pos, row
                continue
            assert pos == 0 or row[pos - 1] == " ", (name, row)
            fields[name] = row[pos:] if name == "PATH" else row[pos:].split(" ", 1)[0]
        for name, pos in right.items():
            assert row[pos : pos + 1] == " ", (name, row)
            fields[name] = row[:pos].rsplit(" ", 1)[1]
        assert int(fields["START"], 16) == region.start, row
        assert int(fields["END"], 16) == region.end, row
        check_human_size(fields["SIZE"], region.size)
        assert fields["PERMS"] == region.perms, row
        assert int(fields["OFFSET"], 16) == region.offset, row
        assert fields["DEV"] == f"{region.dev_major:02x}:{region.dev_minor:02x}", row
        assert fields["INODE"] == str(region.inode), row
        assert fields["KIND"] == region.kind, row
        if region.path is not None and region.path.isprintable():
            assert fields["PATH"] == region.path + (" (deleted)" if region.deleted else "")
    match = re.fullmatch(r"(\d+) regions?, (\S+) mapped", footer)
    assert match, footer
    assert int(match.group(1)) == len(maps)
    check_human_size(match.group(2), sum(r.size for r in maps))


def test_table_format(capsysbinary, idle):
    status, out, err = call_main(capsysbinary, str(idle), "--format", "table")
    assert (status, err) == (0, b"")
    text = out.decode()
    maps = memmaps.regions(idle)
    check_table(text, maps)
    lines = text.splitlines()
    assert lines[0].startswith("START")
    assert lines[-1].startswith(f"{len(maps)} regions, ")
    vsyscall = [row for row in lines if row.endswith(" [vsyscall]")]
    if any(r.path == "[vsyscall]" for r in maps):
        assert len(vsyscall) == 1
        assert " 4.0K --xp " in vsyscall[0]


def test_table_is_the_default_format(idle):
    result = run_cli(str(idle))
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.decode() == memmaps.regions(idle).to_table()
    assert result.stdout.startswith(b"START ")


def test_table_columns_stay_aligned_for_an_offset_above_4gib(capsysbinary, awkward):
    # The awkward target maps its file "big" at offset 4 GiB + 1 page.
    status, out, err = call_main(capsysbinary, str(awkward), "--format", "table")
    assert (status, err) == (0, b"")
    check_table(out.decode("utf-8"), memmaps.regions(awkward))


def test_table_format_awkward_names(capsysbinary, awkward, targets):
    status, out, err = call_main(capsysbinary, str(awkward), "--format", "table")
    assert (status, err) == (0, b"")
    text = out.decode("utf-8")
    rows = text.splitlines()
    assert len(rows) == len(memmaps.regions(awkward)) + 2
    assert rows[-1].startswith(f"{len(rows) - 2} regions, ")
    directory = targets["dir"]
    assert f"{directory}/sp ace\n" in text
    assert f"{directory}/ lead\n" in text
    assert f"{directory}/back\\slash\n" in text
    assert f"{directory}/new\\nline\n" in text
    assert f"{directory}/tab\\tname\n" in text
    assert f"{directory}/bad\\xff\\xfe\n" in text
    assert f"{directory}/gone (deleted)\n" in text


# ---- --format json ----


@pytest.mark.parametrize("which", ["idle", "awkward"])
def test_json_format_in_process(capsysbinary, targets, which):
    pid = targets[which]
    status, out, err = call_main(capsysbinary, str(pid), "--format", "json")
    assert (status, err) == (0, b"")
    data = json.loads(out)
    assert (data["format"], data["pid"], data["partial"]) == ("memmaps.maps/2", pid, None)
    assert memmaps.load(out) == memmaps.regions(pid)
    assert len(data["regions"]) == len(kernel_lines(pid))
    fields = [name for name in memmaps.Region._fields if name != "usage"]
    for region in data["regions"]:
        keys = [key for key in region if key not in ("size", "path_bytes")]
        assert keys == fields


def test_json_format(idle):
    result = run_cli(str(idle), "--format", "json")
    assert (result.returncode, result.stderr) == (0, b"")
    data = json.loads(result.stdout)
    assert data["pid"] == idle
    assert data["regions"] == memmaps.regions(idle).to_dicts()


def test_json_awkward_names(capsysbinary, awkward, targets):
    status, out, _ = call_main(capsysbinary, str(awkward), "--format", "json")
    assert status == 0
    paths = {region["path"]: region for region in json.loads(out)["regions"]}
    directory = targets["dir"]
    # A name that is not UTF-8 shows its bytes replaced, and has them
    # exactly in base64.
    for name in ["sp ace", " lead", "trail ", "tab\tname", "back\\slash", "bad\ufffd\ufffd"]:
        assert paths[f"{directory}/{name}"]["deleted"] is False
        assert paths[f"{directory}/{name}"]["kind"] == "file"
    raw = base64.b64decode(paths[f"{directory}/bad\ufffd\ufffd"]["path_bytes"])
    assert raw == os.fsencode(directory) + b"/bad\xff\xfe"
    assert paths[f"{directory}/gone"]["deleted"] is True
    assert paths[f"{directory}/big"]["offset"] == (4 << 30) + os.sysconf("SC_PAGE_SIZE")
    assert paths["/memfd:memfd name"]["kind"] == "memfd"
    assert paths["/dev/zero"]["kind"] == "shmem"


# ---- filters ----


@pytest.mark.parametrize("perms", ["r-x", "rx", "rw", "r--s", "s", "p", "r"])
def test_perms(capsysbinary, awkward, perms):
    status, out, err = call_main(capsysbinary, str(awkward), "--format", "proc", "--perms", perms)
    assert (status, err) == (0, b"")
    letters = set(perms) - {"-"}

    def wanted(line):
        held = line_perms(line)
        return all(
            letter in held[:3] if letter in "rwx" else held[3] == letter for letter in letters
        )

    expected = [line for line in kernel_lines(awkward) if wanted(line)]
    assert expected
    assert out.splitlines(keepends=True) == expected


def test_perms_excludes(capsysbinary, awkward):
    status, out, _ = call_main(capsysbinary, str(awkward), "--format", "proc", "--perms", "rwx")
    assert status == 0
    assert all(line_perms(line)[:3] == "rwx" for line in out.splitlines(keepends=True))
    assert len(out.splitlines()) < len(kernel_lines(awkward))


def test_path(capsysbinary, awkward, targets):
    directory = targets["dir"]
    lines = kernel_lines(awkward)
    for path, suffix in [
        ("sp ace", b"/sp ace\n"),
        (" lead", b"/ lead\n"),
        (f"{directory}/trail ", b"/trail \n"),
        (f"{directory}/tab\tname", b"/tab\tname\n"),
        ("three", b"/three\n"),
        ("/dev/zero", b" /dev/zero (deleted)\n"),
    ]:
        status, out, err = call_main(capsysbinary, str(awkward), "--format", "proc", "--path", path)
        assert (status, err) == (0, b""), path
        expected = [line for line in lines if line.endswith(suffix)]
        assert expected, path
        assert out.splitlines(keepends=True) == expected, path


def test_path_bare_library_name(capsysbinary, idle):
    status, out, err = call_main(capsysbinary, str(idle), "--format", "proc", "--path", "libc.so.6")
    assert (status, err) == (0, b"")
    expected = [line for line in kernel_lines(idle) if line.endswith(b"/libc.so.6\n")]
    assert len(expected) >= 2
    assert out.splitlines(keepends=True) == expected
    status, out, _ = call_main(capsysbinary, str(idle), "--format", "proc", "--path", "libc")
    assert (status, out) == (0, b"")


def test_kind_repeatable(capsysbinary, awkward, idle):
    for pid, kinds, suffixes in [
        (idle, ["heap", "stack"], [b" [heap]\n", b" [stack]\n"]),
        (idle, ["vdso"], [b" [vdso]\n"]),
        (awkward, ["memfd"], [b" /memfd:memfd name (deleted)\n"]),
        (awkward, ["shmem", "vdso"], [b" /dev/zero (deleted)\n", b" [vdso]\n"]),
    ]:
        args = [str(pid), "--format", "proc"]
        for kind in kinds:
            args += ["--kind", kind]
        status, out, err = call_main(capsysbinary, *args)
        assert (status, err) == (0, b"")
        expected = [line for line in kernel_lines(pid) if line.endswith(tuple(suffixes))]
        assert len(expected) >= len(kinds)
        assert out.splitlines(keepends=True) == expected


def test_filters_combine(capsysbinary, idle):
    status, out, _ = call_main(
        capsysbinary, str(idle), "--format", "proc", "--path", "libc.so.6", "--perms", "r-x"
    )
    assert status == 0
    expected = [
        line
        for line in kernel_lines(idle)
        if line.endswith(b"/libc.so.6\n") and line_perms(line)[0::2] == "rx"
    ]
    assert len(expected) == 1
    assert out.splitlines(keepends=True) == expected


def test_coalesce(capsysbinary, awkward, targets):
    status, out, err = call_main(capsysbinary, str(awkward), "--format", "proc", "--coalesce")
    assert (status, err) == (0, b"")
    maps = memmaps.regions(awkward)
    assert out == os.fsencode(maps.coalesce().to_proc_maps())
    three = [line for line in kernel_lines(awkward) if line.endswith(b"/three\n")]
    assert len(three) == 3
    merged = [line for line in out.splitlines(keepends=True) if line.endswith(b"/three\n")]
    assert len(merged) == 1
    first_start = three[0].split(b"-", 1)[0]
    last_end = three[2].split(b" ", 1)[0].split(b"-")[1]
    assert merged[0] == first_start + b"-" + last_end + three[0][len(first_start) * 2 + 1 :]
    assert len(out.splitlines()) < len(three) + len(kernel_lines(awkward)) - 2


# ---- --at ----


def test_at_hex_and_decimal(capsysbinary, idle):
    maps = memmaps.regions(idle)
    lines = kernel_lines(idle)
    for index in (0, len(maps) // 2, len(maps) - 1):
        region = maps[index]
        for addr in (region.start, region.end - 1, region.start + region.size // 3):
            for text in (hex(addr), str(addr), f"{addr:#X}"):
                status, out, err = call_main(
                    capsysbinary, str(idle), "--format", "proc", "--at", text
                )
                assert (status, err) == (0, b""), text
                assert out == lines[index], text


def test_at_table(capsysbinary, idle):
    region = memmaps.regions(idle).filter(kind="stack")[0]
    status, out, _ = call_main(capsysbinary, str(idle), "--at", hex(region.start + 8))
    assert status == 0
    rows = out.decode().splitlines()
    assert len(rows) == 3
    assert rows[0].startswith("START")
    assert rows[1].split()[-2:] == ["stack", "[stack]"]
    assert rows[2].startswith("1 region, ")


def test_at_unmapped(capsysbinary, idle):
    maps = memmaps.regions(idle)
    gap = next(a.end for a, b in itertools.pairwise(maps) if a.end < b.start)
    for addr in (0x10, gap, 2**64 - 1):
        status, out, err = call_main(capsysbinary, str(idle), "--at", hex(addr))
        assert status == 1
        assert out == b""
        assert hex(addr) in assert_one_error_line(err)
    result = run_cli(str(idle), "--at", "16")
    assert result.returncode == 1
    assert result.stdout == b""
    assert "0x10" in assert_one_error_line(result.stderr)


def test_at_with_filters(capsysbinary, idle):
    heap = memmaps.regions(idle).filter(kind="heap")[0]
    status, out, _ = call_main(
        capsysbinary, str(idle), "--format", "proc", "--kind", "stack", "--at", hex(heap.start)
    )
    assert (status, out) == (1, b"")


# ---- errors ----


def test_missing_process():
    pid = missing_pid()
    result = run_cli(str(pid))
    assert result.returncode == 1
    assert result.stdout == b""
    text = assert_one_error_line(result.stderr)
    assert str(pid) in text


def test_missing_process_in_process(capsysbinary):
    pid = missing_pid()
    status, out, err = call_main(capsysbinary, str(pid), "--format", "json")
    assert (status, out) == (1, b"")
    assert str(pid) in assert_one_error_line(err)


def test_access_denied_pid_1():
    try:
        memmaps.regions(1)
    except memmaps.AccessDenied:
        pass
    else:
        pytest.skip("pid 1's map is readable here")
    result = run_cli("1")
    assert result.returncode == 1
    assert result.stdout == b""
    text = assert_one_error_line(result.stderr)
    assert "access denied" in text.lower()


HINT = "; try 'memmaps --help'\n"


def assert_usage_error(status: int, out: bytes, err: bytes) -> str:
    """Exit status 2, nothing on stdout, one line on stderr with the hint."""
    text = err.decode()
    assert status == 2, text
    assert out == b""
    assert text.startswith("memmaps: error: "), text
    assert text.endswith(HINT), text
    assert text.count("\n") == 1, text
    return text


@pytest.mark.parametrize(
    ("args", "mention"),
    [
        (["0x1f"], "'0x1f'"),
        (["-5"], "'-5'"),
        (["--at", "zz"], "'zz'"),
        (["--kind", "nope"], "'nope'"),
        (["--format", "xml"], "'xml'"),
        (["1", "2"], "2"),
        (["--bogus"], "--bogus"),
        (["--at"], "--at"),
    ],
)
def test_bad_arguments_in_process(capsys, args, mention):
    status = memmaps.cli.main(args)
    captured = capsys.readouterr()
    text = assert_usage_error(status, captured.out.encode(), captured.err.encode())
    assert mention in text


def test_bad_arguments_exit_2():
    cases = [["1e3"], ["-5"], ["--at", "zz"], ["--kind", "nope"], ["--symbolize", "-1"]]
    for args, (status, out, err, _) in zip(cases, run_many(*cases), strict=True):
        assert repr(args[-1]) in assert_usage_error(status, out, err)


# What int() and re's \d accept and no one writes for a pid: a sign, spaces,
# underscores, other scripts' digits (Arabic-Indic, Devanagari, fullwidth).
NOT_PIDS = ["+1", " 1", "1 ", "1_0", "\u0663", "\u0967", "\uff11", "1\n", "", "0x10", "1e3", "-0"]


def test_pids_are_plain_ascii_decimal():
    for text, (status, out, err, _) in zip(
        NOT_PIDS, run_many(*[[text] for text in NOT_PIDS]), strict=True
    ):
        message = assert_usage_error(status, out, err)
        assert f"not a process id: {text!r}" in message, text


def test_a_pid_above_the_largest_is_a_usage_error():
    status, out, err, _ = run_many(["2147483648"])[0]
    assert "above 2147483647" in assert_usage_error(status, out, err)


def test_a_pid_with_leading_zeros_is_the_same_pid(idle):
    result = run_cli(f"000{idle}", "--format", "proc")
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == kernel_maps(idle)


NOT_ADDRESSES = [
    "-1",
    "+16",
    " 16",
    "16 ",
    "0b1",
    "0o7",
    "1_000",
    "0x1_0",
    "0x",
    "x10",
    "\u0663",
    "0x\uff11",
    "1.0",
    "18446744073709551616",
    "0x10000000000000000",
]


@pytest.mark.parametrize("option", ["--at", "--symbolize"])
def test_addresses_are_plain_ascii_decimal_or_hex(option):
    results = run_many(*[[option, text] for text in NOT_ADDRESSES])
    for text, (status, out, err, _) in zip(NOT_ADDRESSES, results, strict=True):
        message = assert_usage_error(status, out, err)
        assert f"argument {option}: not an address: {text!r}" in message, text


def test_the_largest_address_and_the_plain_forms_are_addresses():
    # Syntax good, no region there: a lookup that found nothing (exit 1).
    cases = [["--at", "0xffffffffffffffff"], ["--at", "18446744073709551615"], ["--at", "0X10"]]
    cases.append(["--at", "0016"])
    for args, (status, out, err, _) in zip(cases, run_many(*cases), strict=True):
        assert (status, out) == (1, b""), args
        assert assert_one_error_line(err).startswith("memmaps: no region holds 0x"), args
    assert b"0x10\n" in run_many(["--at", "0016"])[0][2]


@pytest.mark.parametrize(
    "args",
    [
        ["--images", "--usage"],
        ["--symbol", "malloc", "--perms", "r"],
        ["--images", "--at", "0x1000"],
        ["--images", "--format", "proc"],
        ["--images", "--symbol", "malloc"],
        ["--symbol", "malloc", "--symbolize", "0x10"],
        ["--usage", "--format", "proc"],
        ["--image", "libc"],
        ["--perms", "rwz"],
        ["2147483648"],
        ["--diff", "soon"],
        ["--watch", "1", "--at", "0x1000"],
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(args):
    result = run_cli(*args)
    assert_usage_error(result.returncode, result.stdout, result.stderr)


def test_version():
    for args in (["--version"], ["self", "--version"]):
        result = run_cli(*args)
        assert (result.returncode, result.stderr) == (0, b"")
        assert result.stdout == f"memmaps {memmaps.__version__}\n".encode()
    assert re.fullmatch(r"\d+\.\d+\.\d+", memmaps.__version__)


def test_help_goes_to_stdout():
    result = run_cli("--help")
    assert (result.returncode, result.stderr) == (0, b"")
    text = result.stdout.decode()
    assert text.startswith("usage: memmaps ")
    for option in ("--version", "--symbolize", "--images", "--at", "--format"):
        assert option in text, option


# ---- pipes and the console script ----


def test_output_into_a_reader_that_stops_early():
    script = (
        f"{shlex.quote(sys.executable)} -m memmaps --format proc | head -1; "
        'echo "status=${PIPESTATUS[0]}"'
    )
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        timeout=60,
        cwd=os.getcwd(),
        env=procutil.python_env(),
    )
    assert result.stderr == b""
    first, status = result.stdout.splitlines()
    assert MAPS_LINE.match(first)
    assert status == b"status=0"


# Every kind of output memmaps writes: the listing in each format, the other
# questions, and what argparse would otherwise print itself.
OUTPUTS = [
    ["--format", "proc"],
    ["--format", "table"],
    ["--format", "json"],
    ["--usage", "--format", "json"],
    ["--images"],
    ["--symbol", "malloc"],
    ["--version"],
    ["--help"],
]


@pytest.mark.parametrize("args", OUTPUTS, ids=" ".join)
def test_output_into_a_closed_pipe(args):
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "memmaps", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=procutil.python_env(),
        )
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=60)
    assert err == b""
    assert proc.returncode == 0


def run_redirected(redirection: str, *args: str) -> subprocess.CompletedProcess:
    """python -m memmaps ARGS with stdout redirected by the shell, as in
    `memmaps > /dev/full` or `memmaps >&-`; stderr is captured."""
    return subprocess.run(
        ["sh", "-c", f'exec "$0" -m memmaps "$@" {redirection}', sys.executable, *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        timeout=60,
        env=procutil.python_env(),
    )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize("args", OUTPUTS, ids=" ".join)
def test_output_into_a_full_disk(args):
    result = run_redirected("> /dev/full", *args)
    # One line, and nothing more at the interpreter's exit.
    assert result.stderr == b"memmaps: write error: No space left on device\n"
    assert result.returncode == 1


@pytest.mark.parametrize("args", OUTPUTS, ids=" ".join)
def test_output_into_a_closed_stdout(args):
    result = run_redirected(">&-", *args)
    assert result.stderr == b"memmaps: write error: Bad file descriptor\n"
    assert result.returncode == 1


def test_output_into_a_descriptor_open_for_reading_only():
    result = run_redirected("1< /dev/null", "--format", "proc")
    assert result.stderr == b"memmaps: write error: Bad file descriptor\n"
    assert result.returncode == 1


def test_a_closed_stdout_is_found_before_reading():
    # The process does not exist: memmaps would say so, but cannot show
    # anything anyway and says that first, as cat does.
    result = run_redirected(">&-", str(missing_pid()))
    assert result.stderr == b"memmaps: write error: Bad file descriptor\n"
    assert result.returncode == 1
    # A usage error is still a usage error.
    result = run_redirected(">&-", "+1")
    assert_usage_error(result.returncode, b"", result.stderr)


def test_errors_with_stderr_closed_never_reach_stdout():
    pid = missing_pid()
    result = subprocess.run(
        ["sh", "-c", 'exec "$0" -m memmaps "$@" 2>&-', sys.executable, str(pid)],
        capture_output=True,
        timeout=60,
        env=procutil.python_env(),
    )
    assert (result.returncode, result.stdout, result.stderr) == (1, b"", b"")
    result = subprocess.run(
        ["sh", "-c", 'exec "$0" -m memmaps "$@" 2>&-', sys.executable, "--bogus"],
        capture_output=True,
        timeout=60,
        env=procutil.python_env(),
    )
    assert (result.returncode, result.stdout, result.stderr) == (2, b"", b"")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_stderr_into_a_full_disk_is_quiet_too():
    result = subprocess.run(
        ["sh", "-c", 'exec "$0" -m memmaps "$@" 2>/dev/full', sys.executable, "--bogus"],
        capture_output=True,
        timeout=60,
        env=procutil.python_env(),
    )
    assert (result.returncode, result.stdout) == (2, b"")


def test_console_script(idle):
    script = shutil.which("memmaps")
    assert script is not None, "the memmaps console script is not on PATH"
    result = subprocess.run(
        [script, str(idle), "--format", "proc"],
        capture_output=True,
        timeout=60,
        env=procutil.python_env(),
    )
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == kernel_maps(idle)


# ---- --usage ----


def _smaps_rss_by_start(pid: int) -> dict[int, int]:
    """Rss of each region from the kernel's smaps text, in bytes."""
    rss: dict[int, int] = {}
    start = None
    for line in Path(f"/proc/{pid}/smaps").read_text(errors="surrogateescape").splitlines():
        head = line.split(" ", 1)[0]
        if "-" in head and not head.endswith(":"):
            start = int(head.split("-")[0], 16)
        elif line.startswith("Rss:"):
            rss[start] = int(line.split()[1]) * 1024
    return rss


def test_usage_table_has_pmap_columns_and_a_total(capsysbinary, idle):
    status, out, err = call_main(capsysbinary, str(idle), "--usage")
    assert status == 0, err
    lines = out.decode().splitlines()
    assert lines[0].split() == [
        "START",
        "SIZE",
        "RSS",
        "PSS",
        "DIRTY",
        "SWAP",
        "PERMS",
        "KIND",
        "PATH",
    ]
    regions = memmaps.regions(idle)
    assert len(lines) == 1 + len(regions) + 1
    total = lines[-1].split()
    assert total[0] == "total"
    assert total[-2:] == [str(len(regions)), "regions"]
    # Each row's RSS agrees with the kernel's figure for that region.
    kernel = _smaps_rss_by_start(idle)
    for line in lines[1:-1]:
        cells = line.split()
        start, rss = int(cells[0], 16), cells[2]
        expected = memmaps.maps._human_size(kernel[start])
        assert rss == expected, line


def test_usage_json_carries_every_figure(capsysbinary, idle):
    status, out, _ = call_main(capsysbinary, str(idle), "--usage", "--format", "json")
    assert status == 0
    document = json.loads(out)
    kernel = _smaps_rss_by_start(idle)
    assert document["regions"], document
    for region in document["regions"]:
        usage = {key[6:]: value for key, value in region.items() if key.startswith("usage_")}
        assert set(usage) == set(memmaps.Usage._fields)
        assert usage["rss"] == kernel[region["start"]]
        assert isinstance(usage["vmflags"], str)


def test_usage_has_no_proc_format():
    result = run_cli("--usage", "--format", "proc")
    assert result.returncode == 2
    assert b"--usage has no proc format" in result.stderr


# ---- counts in words ----

ONE_BYTE_TARGET = r"""
#include <stdio.h>
#include <unistd.h>
unsigned char memmaps_one_byte = 1;
unsigned short memmaps_two_bytes = 2;
int main(void) {
    printf("ready %d %p\n", (int)getpid(), (void *)&memmaps_one_byte);
    fflush(stdout);
    pause();
    return 0;
}
"""


def test_counts_are_singular_for_one(tmp_path, idle):
    source = tmp_path / "one_byte.c"
    source.write_text(ONE_BYTE_TARGET)
    exe = procutil.compile_c(source, tmp_path / "one_byte", "-rdynamic")
    target = procutil.launch_ready([exe])
    try:
        one = run_cli(str(target.pid), "--symbol", "memmaps_one_byte")
        assert (one.returncode, one.stderr) == (0, b""), one.stderr
        assert one.stdout.decode().startswith(f"{target.addrs[0]:#x} memmaps_one_byte ")
        assert b"(object, 1 byte) in " in one.stdout
        two = run_cli(str(target.pid), "--symbol", "memmaps_two_bytes")
        assert b"(object, 2 bytes) in " in two.stdout
    finally:
        procutil.stop(target.proc)
    stack = memmaps.regions(idle).filter(kind="stack")[0]
    table = run_cli(str(idle), "--at", hex(stack.start)).stdout.decode().splitlines()
    assert table[-1] == f"1 region, {memmaps.maps._human_size(stack.size)} mapped"


def test_coalesce_by(capsysbinary, awkward, targets):
    status, out, err = call_main(
        capsysbinary, str(awkward), "--format", "proc", "--coalesce-by", "attributes"
    )
    assert (status, err) == (0, b"")
    assert out == os.fsencode(memmaps.regions(awkward).coalesce().to_proc_maps())
    # Linux has no allocations: nothing merges by allocation.
    status, out, err = call_main(
        capsysbinary, str(awkward), "--format", "proc", "--coalesce-by", "allocation"
    )
    assert (status, err) == (0, b"")
    assert out == os.fsencode(memmaps.regions(awkward).to_proc_maps())
    status, out, err = call_main(capsysbinary, str(awkward), "--coalesce-by", "pieces")
    assert status == 2 and b"invalid choice: 'pieces'" in err and b"'allocation'" in err
