"""docs/examples/pystack.py, the script docs/profiler-example.md explains,
run as a profiler is run: from this interpreter, reading a CPython 3.13
process that was started in no special way.

What it prints must be what the target's interpreter says of its own stacks
(tests/targets/pystack_target.py prints them with traceback), for the 3.13
found as installed and for the same interpreter linked statically from its
libpython3.13.a, where _PyRuntime is the executable's and not libpython's.
Its line-table decoder must agree with this interpreter's co_lines() on
every instruction of a few stdlib modules, and a target whose stacks never
hold still must never make it fail.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import memmaps
from tests.helpers import procutil

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "pystack.py"
FRAME = re.compile(r"^    (?P<name>\S+) \((?P<file>.*):(?P<line>\d+|\?)\)$")
MARKER = re.compile(r"^ *<.*>$")
# time.sleep() is clock_nanosleep(2) on Linux since CPython 3.11.
CLOCK_NANOSLEEP = {"x86_64": 230, "aarch64": 115}.get(platform.machine())


def load_example():
    spec = importlib.util.spec_from_file_location("pystack_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def natural(path: Path) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(path))]


def find_python(version: str) -> Path | None:
    """CPython VERSION as .ci/run finds it: pyenv's builds, newest first,
    then pythonVERSION on PATH; pyenv's shims are skipped."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    builds = sorted(root.glob(f"versions/{version}.*/bin/python{version}"), key=natural)
    on_path = [Path(d) / f"python{version}" for d in os.environ.get("PATH", "").split(os.pathsep)]
    check = (
        "import sys; sys.exit(sys.implementation.name != 'cpython' "
        f"or '%d.%d' % sys.version_info[:2] != '{version}')"
    )
    for candidate in [*reversed(builds), *on_path]:
        if "shims" in candidate.parts or not os.access(candidate, os.X_OK):
            continue
        if subprocess.run([candidate, "-c", check], capture_output=True).returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="module")
def python313() -> Path:
    found = find_python("3.13")
    if found is None:
        pytest.skip("no CPython 3.13 in ~/.pyenv/versions/3.13.*/bin or as python3.13 on PATH")
    return found


def config(python: Path) -> dict[str, str | int]:
    script = (
        "import json, sys, sysconfig; print(json.dumps(dict(sysconfig.get_config_vars(), "
        "executable=sys.executable)))"
    )
    out = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True)
    return {k: v for k, v in json.loads(out.stdout).items() if isinstance(v, (str, int))}


def link_static(python: Path, out: Path) -> Path:
    """The interpreter's own main (python.o) linked with its static
    libpython, as CPython links a build without --enable-shared."""
    c = config(python)
    libpl = Path(str(c["LIBPL"]))
    archive, main = libpl / f"libpython{c['LDVERSION']}.a", libpl / "python.o"
    gcc = shutil.which("gcc")
    if gcc is None or not archive.exists() or not main.exists():
        pytest.skip(f"no gcc, or no {archive.name} and python.o in {libpl} to link with")
    flags = shlex.split(f"{c['LINKFORSHARED']} {c['LIBS']} {c['SYSLIBS']}")
    subprocess.run([gcc, "-o", out, main, archive, *flags], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module", params=["as installed", "linked statically"])
def interpreter(request, python313: Path, tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    """(executable, environment, the image that holds _PyRuntime) of a CPython 3.13."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    c = config(python313)
    if request.param == "linked statically":
        built = link_static(python313, tmp_path_factory.mktemp("static") / "python3.13")
        return built, dict(env, PYTHONHOME=str(c["prefix"])), built
    if c.get("Py_ENABLE_SHARED") == 1:
        return python313, env, Path(str(c["LIBDIR"])) / str(c["INSTSONAME"])
    return python313, env, python313


def run_example(pid: int) -> subprocess.CompletedProcess[str]:
    env = dict(procutil.python_env(), PYTHONIOENCODING="utf-8")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(EXAMPLE), str(pid)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,  # a bound, so that a hang fails instead of stalling the suite
    )


def parse(output: str) -> dict[int, list[list[object]]]:
    """{native thread id: [[name, file, line], ...]} from the example's output."""
    threads: dict[int, list[list[object]]] = {}
    for line in output.splitlines():
        if line.startswith("Thread "):
            frames = threads.setdefault(int(line.split()[1]), [])
            continue
        m = FRAME.match(line)
        assert m, f"not a frame line: {line!r}"
        frames.append([m["name"], m["file"], int(m["line"]) if m["line"] != "?" else None])
    return threads


def wait_until_sleeping(pid: int, tids: list[int]) -> None:
    """Until the kernel says every thread is in clock_nanosleep: then no
    thread runs Python code and the stacks hold still."""
    deadline = time.monotonic() + 20  # only a bound against a target that never sleeps
    for tid in tids:
        path = f"/proc/{pid}/task/{tid}/syscall"
        while Path(path).read_text().split()[0] != str(CLOCK_NANOSLEEP):
            assert time.monotonic() < deadline, f"thread {tid} never slept"
            time.sleep(0.01)


@pytest.mark.skipif(CLOCK_NANOSLEEP is None, reason="clock_nanosleep's number is not known here")
def test_stacks_are_the_interpreters_own(interpreter, tmp_path: Path) -> None:
    executable, env, holder = interpreter
    # A UCS-4 character in the file name, for the str decoder.
    target = tmp_path / "pystack_target_🐍.py"
    shutil.copy(procutil.TARGETS / "pystack_target.py", target)
    proc = procutil.start([executable, target], env=env)
    try:
        told = [json.loads(procutil.read_line(proc)) for _ in range(2)]
        want = {tid: stack for tid, stack in told}
        wait_until_sleeping(proc.pid, list(want))

        # Found without image=, where it really is.
        runtime = memmaps.symbol(proc.pid, "_PyRuntime")
        assert os.path.samefile(runtime.image.path, holder), runtime.image.path
        assert runtime.kind == "object" and runtime.size > 0

        done = run_example(proc.pid)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        got = parse(done.stdout)
    finally:
        procutil.stop(proc)
    assert got == want, done.stdout
    assert got[told[0][0]][0][:2] == ["ticks_λ", str(target)]  # a generator's frame
    assert [frame[0] for frame in got[told[1][0]]] == ["inner_λ", "middle_é", "outer", "<module>"]


def test_older_pythons_are_refused_with_a_reason() -> None:
    older = next((p for v in ("3.12", "3.11", "3.10") if (p := find_python(v))), None)
    if older is None:
        pytest.skip("no CPython 3.10, 3.11 or 3.12 in ~/.pyenv/versions or on PATH")
    proc = procutil.start([older, "-c", "print('ready', flush=True); input()"])
    try:
        assert procutil.read_line(proc) == b"ready\n"
        done = run_example(proc.pid)
    finally:
        procutil.stop(proc)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.endswith(
        ": no debug offsets, so CPython older than 3.13 (this script reads 3.13)\n"
    ), done.stderr


def test_a_process_without_python_is_refused_with_a_reason() -> None:
    sleep = shutil.which("sleep")
    if sleep is None:
        pytest.skip("no sleep(1) on PATH")
    # Popen returns once the child has exec()ed: the pid is sleep's.
    proc = procutil.start([sleep, "60"])
    try:
        done = run_example(proc.pid)
    finally:
        procutil.stop(proc)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("pystack: ") and "_PyRuntime" in done.stderr, done.stderr


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the location table is 3.11's")
def test_line_table_decoder_agrees_with_co_lines() -> None:
    """On every instruction of every code object of a few stdlib modules,
    which between them use each of the table's 16 entry forms."""
    import argparse
    import asyncio.tasks
    import email.message
    import traceback

    example = load_example()
    codes = [
        compile(Path(module.__file__).read_text(encoding="utf-8"), module.__file__, "exec")
        for module in (argparse, asyncio.tasks, email.message, traceback)
        if module.__file__
    ]
    checked, forms = 0, set()
    while codes:
        code = codes.pop()
        codes += [const for const in code.co_consts if hasattr(const, "co_lines")]
        # An entry's first byte is the only one with the top bit set.
        forms |= {byte >> 3 & 15 for byte in code.co_linetable if byte & 128}
        for start, end, line in code.co_lines():
            for offset in range(start, end, 2):
                got = example.line_of(code.co_linetable, code.co_firstlineno, offset)
                assert got == line, (code, offset)
                checked += 1
    assert forms == set(range(16)), sorted(forms)
    assert checked > 10_000, checked


def test_stacks_that_never_hold_still_never_fail_it(python313: Path, capsys) -> None:
    """The example's own functions, called in a loop on a target whose
    threads recurse and come and go: every frame it prints is one of the
    target's, and what it could not read is said, never raised."""
    example = load_example()
    stdlib = Path(
        subprocess.run(
            [python313, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    proc = procutil.start([python313, procutil.TARGETS / "pystack_churn.py"])
    runs = marked = frames = 0
    try:
        assert procutil.read_line(proc) == b"ready\n"
        deadline = time.monotonic() + 2  # how long to sample, not a bound on anything
        while time.monotonic() < deadline:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                example.main(proc.pid)
            runs += 1
            for line in out.getvalue().splitlines():
                if line.startswith("Thread ") or line == "    (no Python frames)":
                    continue
                if MARKER.match(line):
                    marked += 1
                    continue
                m = FRAME.match(line)
                assert m, line
                where = Path(m["file"])
                # Threads starting and ending run the standard library's
                # code too (threading, and the WeakSet callbacks it sets
                # off): a frame there must at least be a file of the
                # target's own library, never a torn read's garbage.  A
                # class's Python __init__, called through a specialized
                # CALL, runs under CPython's _Py_InitCleanup shim frame,
                # whose code is named "__init__" in a file "__init__".
                assert (m["name"], where.name) in {
                    ("down", "pystack_churn.py"),
                    ("churn", "pystack_churn.py"),
                    ("short_lived", "pystack_churn.py"),
                    ("<module>", "pystack_churn.py"),
                    ("__init__", "__init__"),
                } or (where.is_relative_to(stdlib) and where.is_file()), line
                frames += 1
    finally:
        procutil.stop(proc)
    with capsys.disabled():
        print(f"\npystack churn: {runs} runs, {frames} frames, {marked} stacks marked")
    assert runs > 0 and frames > runs
