"""The command line's --summary, and a process given by its name, against
real processes: copies of sleep(1) under names made for each test, so that
nothing else on the machine has them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import memmaps
from memmaps.summary import CATEGORIES
from tests.helpers import procutil
from tests.live.test_cli import IDLE, assert_one_error_line, kernel_maps, run_cli, stop, wait_ready

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds processes through Linux's /proc"
)

SLEEP = shutil.which("sleep")


def unique(prefix: str = "mm") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def named(tmp_path):
    """named(name) starts a copy of sleep called name and returns its
    process; every one is stopped at the end of the test."""
    if SLEEP is None:
        pytest.skip("no sleep(1) on PATH to copy")
    started: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        exe = tmp_path / name
        if not exe.exists():
            shutil.copy(SLEEP, exe)
        proc = subprocess.Popen([str(exe), "600"])
        started.append(proc)
        # Until exec has happened, /proc still shows the forked pytest.
        deadline = 200
        while os.path.basename(os.readlink(f"/proc/{proc.pid}/exe")) != name and deadline:
            deadline -= 1
            time.sleep(0.01)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def proc_maps(args: list[str], **kw) -> subprocess.CompletedProcess:
    return run_cli(*args, "--format", "proc", **kw)


def test_one_exact_match_is_read(named):
    name = unique()
    proc = named(name)
    result = proc_maps([name])
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == kernel_maps(proc.pid)


def test_a_unique_part_of_the_name_is_enough(named):
    name = unique()
    proc = named(name + "-server")
    result = proc_maps([name[2:] + "-serv"])
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == kernel_maps(proc.pid)


def test_an_exact_name_wins_over_longer_ones(named):
    name = unique()
    exact = named(name)
    named(name + "-worker")
    named("x" + name)
    result = proc_maps([name])
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == kernel_maps(exact.pid)


def test_a_name_longer_than_the_command_name_is_the_executables(named):
    # The kernel keeps 15 bytes of the command name; the executable's file
    # name is whole.
    name = unique() + "-a-long-program-name"
    proc = named(name)
    assert Path(f"/proc/{proc.pid}/comm").read_text().strip() == name[:15]
    result = proc_maps([name])
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == kernel_maps(proc.pid)


def test_the_full_path_of_the_executable(named, tmp_path):
    name = unique()
    proc = named(name)
    result = proc_maps([str(tmp_path / name)])
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == kernel_maps(proc.pid)


def test_several_matches_are_listed_and_nothing_is_read(named):
    name = unique()
    first, second = named(name + "-one"), named(name + "-two")
    result = proc_maps([name])
    assert (result.returncode, result.stdout) == (1, b"")
    lines = result.stderr.decode().splitlines()
    assert lines[0] == f"memmaps: 2 processes match '{name}'; give one of their pids:"
    assert lines[1:] == sorted([f"{first.pid} {name}-one", f"{second.pid} {name}-two"])
    assert "Traceback" not in result.stderr.decode()


def test_no_match_says_so(named):
    name = unique()
    named(name)
    result = proc_maps([name + "-nobody-has"])
    assert (result.returncode, result.stdout) == (1, b"")
    message = assert_one_error_line(result.stderr)
    assert f"'{name}-nobody-has'" in message


def test_the_reading_process_itself_never_matches(tmp_path):
    """memmaps run through an interpreter under a name of its own: that
    name is its command name, and still it finds no process."""
    name = unique()
    interpreter = tmp_path / name
    interpreter.symlink_to(sys.executable)
    env = dict(procutil.python_env(), PYTHONPATH=str(Path(memmaps.__file__).parents[1]))
    result = subprocess.run(
        [str(interpreter), "-c", "import memmaps.cli; memmaps.cli.run()", name, "--format", "proc"],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (1, b"")
    assert f"no process is named '{name}'" in assert_one_error_line(result.stderr)


def test_kernel_threads_never_match():
    if not Path("/proc/2/comm").exists() or Path("/proc/2/comm").read_text() != "kthreadd\n":
        pytest.skip("no kthreadd in this pid namespace")
    result = proc_maps(["kthreadd"])
    assert result.returncode == 1
    assert "no process is named 'kthreadd'" in assert_one_error_line(result.stderr)


def test_an_all_digit_name_is_a_pid(named):
    """A process may be called 424242; that word is still pid 424242."""
    digits = "4" + str(uuid.uuid4().int)[:8]
    named(digits)
    result = proc_maps([digits])
    assert result.returncode == 1
    assert f"process {int(digits)} does not exist" in assert_one_error_line(result.stderr)


def test_self_is_the_caller_even_with_a_process_called_self(named):
    named("self")
    result = run_cli("self", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    paths = {region["path"] for region in document["regions"]}
    assert not any(path and path.endswith("/self") for path in paths)
    assert os.path.realpath(sys.executable) in paths


def test_a_name_with_the_other_questions(named):
    name = unique()
    proc = named(name)
    result = run_cli(name, "--images", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["pid"] == proc.pid
    assert document["images"][0]["path"].endswith("/" + name)


# ---- --summary ----


@pytest.fixture(scope="module")
def idle():
    proc = subprocess.Popen(
        [sys.executable, "-c", IDLE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_ready(proc)
        yield proc.pid
    finally:
        stop(proc)


def test_summary_is_the_maps_summary(idle):
    result = run_cli(str(idle), "--summary")
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.decode() == memmaps.regions(idle).summary().to_text()


def test_summary_with_usage(idle):
    # An idle interpreter's pages hold still, but another process mapping
    # or unmapping a library changes their proportional share: a few tries.
    for _ in range(10):
        result = run_cli(str(idle), "--summary", "--usage")
        assert (result.returncode, result.stderr) == (0, b"")
        if result.stdout.decode() == memmaps.regions(idle, usage=True).summary().to_text():
            break
    else:
        pytest.fail("--summary --usage never agreed with Maps.summary().to_text()")
    lines = result.stdout.decode().splitlines()
    assert lines[0].split() == ["TYPE", "SIZE", "RESIDENT", "DIRTY", "SWAPPED", "BLOCKS", "LARGEST"]


def test_summary_as_json(idle):
    result = run_cli(str(idle), "--summary", "--usage", "--format", "json")
    assert (result.returncode, result.stderr) == (0, b"")
    document = json.loads(result.stdout)
    assert document["pid"] == idle
    assert [row["category"] for row in document["categories"]] == list(CATEGORIES)
    assert set(document["total"]) == set(memmaps.SummaryRow._fields)
    assert document["total"]["regions"] == sum(row["regions"] for row in document["categories"])
    assert document["total"]["resident"] is not None
    gap = document["largest_gap"]
    assert gap["end"] - gap["start"] == gap["size"] == document["free"]["largest"]


def test_summary_of_filtered_regions(idle):
    result = run_cli(str(idle), "--summary", "--kind", "heap")
    assert result.returncode == 0
    heap = next(line for line in result.stdout.decode().splitlines() if line.startswith("heap"))
    total = next(line for line in result.stdout.decode().splitlines() if line.startswith("total"))
    assert heap.split()[1:] == total.split()[1:]


def test_summary_by_name(named):
    name = unique()
    proc = named(name)
    result = run_cli(name, "--summary")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == memmaps.regions(proc.pid).summary().to_text()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--summary", "--format", "proc"], "--summary has no proc format"),
        (["--summary", "--at", "0x1000"], "--summary does not go with --at"),
        (["--summary", "--images"], "--images does not go with --summary"),
    ],
)
def test_summary_usage_errors(args, words):
    result = run_cli(*args)
    assert (result.returncode, result.stdout) == (2, b"")
    assert words in assert_one_error_line(result.stderr)


def test_names_are_looked_up_in_the_procfs_memmaps_reads(tmp_path):
    """With MEMMAPS_PROCFS set to another pid namespace's procfs, a name
    finds the process there, under its pid there."""
    from tests.live.test_procfs import _can_unshare

    if not _can_unshare() or SLEEP is None:
        pytest.skip("needs root, unshare of pid and mount namespaces, and sleep(1)")
    name = unique()
    shutil.copy(SLEEP, tmp_path / name)
    proc = subprocess.Popen(
        ["unshare", "-p", "-f", "-m", "--mount-proc", "--kill-child", str(tmp_path / name), "600"]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            if children and os.readlink(f"/proc/{children[0]}/exe").endswith("/" + name):
                break
            assert time.monotonic() < deadline, "the namespaced target never started"
            time.sleep(0.01)
        host_pid = int(children[0])
        env = dict(procutil.python_env(), MEMMAPS_PROCFS=f"/proc/{host_pid}/root/proc")
        result = run_cli(name, "--format", "json", env=env)
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["pid"] == 1
        assert memmaps.load(result.stdout) == memmaps.regions(host_pid)
    finally:
        proc.kill()
        proc.wait()
