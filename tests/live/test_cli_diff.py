"""The command line's --diff, --watch and --format vmmap, run as
`python -m memmaps` against a target that changes its map when told
(tests/targets/diff_target.c), and in-process through memmaps.cli.main().

The subprocess tests wait for the command line's own signs that it read
the map (the kernel shows it sleeping; --watch prints its first line), never
for a length of time."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

import memmaps
import memmaps.cli
from tests.helpers import procutil

pytestmark = [
    pytest.mark.skipif(memmaps.BACKEND != "linux", reason="the targets are Linux ELF programs"),
    pytest.mark.skipif(procutil.SANITIZED, reason=procutil.SANITIZED_REASON),
]

SUMMARY = re.compile(rb"^\d+ added, \d+ removed, \d+ changed: ")
# Generous bound on any one wait: only there so that a broken command line
# fails the test instead of hanging it.
PATIENCE = 60


@pytest.fixture(scope="module")
def exe(live_bindir):
    folder = procutil.world_dir(live_bindir)
    return procutil.compile_target("diff_target", folder / "diff_target", "-ldl")


@pytest.fixture
def target(exe):
    process = procutil.DiffTarget(exe)
    try:
        yield process
    finally:
        procutil.stop(process.proc)


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "memmaps", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=procutil.python_env(),
        # Unbuffered: a line read leaves the next ones in the pipe, where
        # select() sees them.
        bufsize=0,
    )


def syscall(pid: int) -> str:
    """The number of the system call pid is in (/proc/PID/syscall)."""
    with open(f"/proc/{pid}/syscall") as text:
        return text.read().split()[0]


# Where time.sleep() waits in the kernel: clock_nanosleep since Python
# 3.11, select() before (whose wait the kernel names after poll).
SLEEPING = ("nanosleep", "poll_schedule_timeout", "do_select")


@contextlib.contextmanager
def paused_between_reads(proc: subprocess.Popen):
    """Stops the command line while it sleeps between its two reads (it
    sleeps nowhere else), and lets it go on at the end: what the test does
    meanwhile happens between the reads, however slow the machine is."""
    deadline = time.monotonic() + PATIENCE
    while True:
        assert proc.poll() is None, proc.communicate()
        with open(f"/proc/{proc.pid}/wchan") as wchan:
            waiting_in = wchan.read()
            if any(word in waiting_in for word in SLEEPING):
                sleeping = syscall(proc.pid)
                break
        assert time.monotonic() < deadline, "the command line never slept"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        while procutil.proc_state(proc.pid) != "T":
            assert time.monotonic() < deadline
            time.sleep(0.001)
        # Stopped in that very sleep, not already in its second read.
        assert syscall(proc.pid) == sleeping
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def context_switches(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        found = re.search(r"^voluntary_ctxt_switches:\s+(\d+)$", status.read(), re.M)
    assert found is not None
    return int(found[1])


def read_line(proc: subprocess.Popen) -> bytes:
    ready, _, _ = select.select([proc.stdout], [], [], PATIENCE)
    assert ready, "the command line printed nothing"
    return proc.stdout.readline()


def read_block(proc: subprocess.Popen) -> list[bytes]:
    """One report of --watch: its stamp, its lines and its summary."""
    lines = [read_line(proc)]
    assert re.fullmatch(rb"---- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n", lines[0]), lines
    while not SUMMARY.match(lines[-1]):
        lines.append(read_line(proc))
        assert lines[-1], lines
    return lines


def finish(proc: subprocess.Popen) -> tuple[int, bytes, bytes]:
    out, err = proc.communicate(timeout=PATIENCE)
    return proc.returncode, out, err


# ---- --diff ----


def test_diff_between_two_reads(target):
    target.do("map 10 2 rw- p")
    target.do("map 20 3 rw- p")
    before = target.snapshot()
    cli = start_cli(str(target.pid), "--diff", "0.5")
    with paused_between_reads(cli):
        target.do("unmap 10 2")
        target.do("protect 21 1 r--")
        target.do("map 30 1 r-- p")
        after = target.snapshot()
    status, out, err = finish(cli)
    assert (status, err) == (0, b"")
    assert out.decode() == memmaps.diff(before, after).to_text()
    assert out.decode().endswith(
        f"1 added, 1 removed, 1 changed: {len(before)} -> {len(after)} regions, "
        f"{memmaps.maps._human_size(sum(r.size for r in before))} -> "
        f"{memmaps.maps._human_size(sum(r.size for r in after))} mapped (-4.0K)\n"
    )


def test_diff_without_changes_says_so_and_exits_0(target):
    status, out, err = finish(start_cli(str(target.pid), "--diff", "0"))
    maps = target.snapshot()
    assert (status, err) == (0, b"")
    assert out.decode() == (
        f"no changes: {len(maps)} regions, "
        f"{memmaps.maps._human_size(sum(r.size for r in maps))} mapped\n"
    )


def test_diff_in_process_with_filters_and_usage(capsysbinary, monkeypatch, target):
    """The filters pick the regions compared in both reads; the wait
    between them is where the target changes."""
    target.do("map 40 2 rw- p")
    target.do("map 50 2 rw- p")
    waits = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        target.do("touch 40 1")
        target.do("protect 51 1 r--")

    monkeypatch.setattr(memmaps.cli, "_sleep", sleep)
    status = memmaps.cli.main([str(target.pid), "--diff", "2", "--usage", "--perms", "rw"])
    out, err = capsysbinary.readouterr()
    assert (status, err, waits) == (0, b"", [2.0])
    text = out.decode()
    # The page made read-only left the writable regions; the touched page
    # is one more resident and dirty.
    assert f"~ {target.at(40):012x}-{target.at(42):012x} rw-p  8.0K anon: " in text
    assert "resident 0B -> 4.0K (+4.0K), dirty 0B -> 4.0K (+4.0K)\n" in text
    assert f"~ {target.at(50):012x}-{target.at(51):012x} rw-p  4.0K anon: " in text
    assert "shrunk by 4.0K at the end (8.0K -> 4.0K)" in text
    assert ", 2 changed: " in text.splitlines()[-1]


def test_diff_of_a_process_that_exits_between_the_reads(monkeypatch, capsysbinary, target):
    def sleep(seconds: float) -> None:
        target.proc.kill()
        procutil.wait_state(target.pid, "Z")  # exited, not yet reaped

    monkeypatch.setattr(memmaps.cli, "_sleep", sleep)
    status = memmaps.cli.main([str(target.pid), "--diff", "1"])
    target.proc.wait()
    out, err = capsysbinary.readouterr()
    assert status == 1 and out == b""
    assert err.decode().startswith(f"memmaps: process {target.pid} ")
    assert err.count(b"\n") == 1


# ---- --watch ----


def test_watch_prints_each_change_until_ctrl_c(target):
    target.do("map 10 1 rw- p")
    cli = start_cli(str(target.pid), "--watch", "0.05")
    try:
        first = read_line(cli).decode()
        maps = target.snapshot()
        assert first == (
            f"watching process {target.pid} every 0.05s, until Ctrl-C: {len(maps)} regions, "
            f"{memmaps.maps._human_size(sum(r.size for r in maps))} mapped\n"
        )
        target.do("map 20 2 r-- p")
        block = read_block(cli)
        assert block[1] == f"+ {target.at(20):012x}-{target.at(22):012x} r--p  8.0K anon\n".encode()
        assert len(block) == 3
        target.do("remap 10 1 3")
        block = read_block(cli)
        assert block[1].startswith(f"~ {target.at(10):012x}-{target.at(13):012x} rw-p".encode())
        assert block[1].endswith(b": grown by 8.0K at the end (4.0K -> 12K)\n")
        cli.send_signal(signal.SIGINT)
        status, out, err = finish(cli)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    # Ctrl-C ends a watch: quietly, status 0, as watch(1).
    assert (status, out, err) == (0, b"", b"")


def test_watch_ends_quietly_on_ctrl_c_at_once(target):
    cli = start_cli(str(target.pid), "--watch", "1000")
    try:
        assert read_line(cli).startswith(b"watching process ")
        cli.send_signal(signal.SIGINT)
        assert finish(cli) == (0, b"", b"")
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()


def test_watch_ends_quietly_on_ctrl_c_in_the_middle_of_a_read(live_bindir):
    """A map of 60 000 regions read with usage takes a good part of a
    second and the watch waits a millisecond: Ctrl-C comes while it reads,
    and still ends it quietly with 0."""
    exe = procutil.compile_target("many_maps", live_bindir / "many_maps_watch")
    big = procutil.start([exe, "60000"])
    try:
        assert procutil.read_line(big).startswith(b"ready ")
        cli = start_cli(str(big.pid), "--watch", "0.001", "--usage")
        try:
            assert read_line(cli).startswith(b"watching process ")
            cli.send_signal(signal.SIGINT)
            assert finish(cli) == (0, b"", b"")
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.communicate()
    finally:
        procutil.stop(big)


def test_watch_prints_nothing_while_nothing_changes(target):
    cli = start_cli(str(target.pid), "--watch", "0.01")
    try:
        read_line(cli)
        # Several rounds of sleeping and reading, with nothing to print.
        slept = context_switches(cli.pid)
        deadline = time.monotonic() + PATIENCE
        while context_switches(cli.pid) < slept + 10:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        target.do("map 70 1 r-- p")
        block = read_block(cli)
        assert block[1] == f"+ {target.at(70):012x}-{target.at(71):012x} r--p  4.0K anon\n".encode()
        cli.send_signal(signal.SIGINT)
        assert finish(cli) == (0, b"", b"")
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()


def test_watch_of_a_process_that_exits(target):
    cli = start_cli(str(target.pid), "--watch", "0.05")
    try:
        read_line(cli)
        target.proc.stdin.write(b"exit\n")
        target.proc.stdin.flush()
        assert target.proc.wait(timeout=PATIENCE) == 0
        status, out, err = finish(cli)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    assert (status, out) == (1, b"")
    assert err == f"memmaps: process {target.pid} exited while watched\n".encode()


def test_watch_stops_when_its_reader_goes_away(target):
    """memmaps --watch | head -n 1: the reader leaves, the watch ends (0)."""
    read_end, write_end = os.pipe()
    cli = subprocess.Popen(
        [sys.executable, "-m", "memmaps", str(target.pid), "--watch", "0.02"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env=procutil.python_env(),
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            assert pipe.readline().startswith(b"watching process ")
        target.do("map 60 1 rw- p")
        _, err = cli.communicate(timeout=PATIENCE)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    assert (cli.returncode, err) == (0, b"")


# ---- --format vmmap ----


def test_format_vmmap_is_the_report_of_the_map(target):
    target.do("map 10 2 rw- s")
    for extra in ([], ["--interleaved"], ["--usage"], ["--usage", "--kind", "shmem"]):
        result = subprocess.run(
            [sys.executable, "-m", "memmaps", str(target.pid), "--format", "vmmap", *extra],
            capture_output=True,
            env=procutil.python_env(),
            timeout=PATIENCE,
        )
        maps = memmaps.regions(target.pid, usage="--usage" in extra)
        if "--kind" in extra:
            maps = maps.filter(kind="shmem")
        assert (result.returncode, result.stderr) == (0, b"")
        assert result.stdout.decode() == maps.to_vmmap(interleaved="--interleaved" in extra)


# ---- usage errors ----


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--diff", "1", "--watch", "1"], "--diff and --watch do not go together: pick one"),
        (["--diff", "1", "--at", "0x1000"], "--diff does not go with --at"),
        (["--watch", "1", "--format", "json"], "--watch has no json format: its report is text"),
        (["--diff", "1", "--format", "vmmap"], "--diff has no vmmap format: its report is text"),
        (["--watch", "0"], "--watch needs a number of seconds above 0"),
        (
            ["--diff", "-1"],
            "argument --diff: not a number of seconds: '-1' (write it as 2, or 0.5)",
        ),
        (
            ["--watch", "nan"],
            "argument --watch: not a number of seconds: 'nan' (write it as 2, or 0.5)",
        ),
        (["--diff", "inf"], "argument --diff: not a number of seconds: 'inf'"),
        (["--symbol", "malloc", "--watch", "1"], "--symbol does not go with --watch"),
        (["--images", "--format", "vmmap"], "--images has no vmmap format: use table or json"),
        (["--interleaved"], "--interleaved goes with --format vmmap"),
    ],
)
def test_usage_errors(capsys, args, message):
    assert memmaps.cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"memmaps: error: {message}")
    assert err.count("\n") == 1
