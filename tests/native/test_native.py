"""The C core on its own (tools/mmdump.c), under valgrind and the sanitizers.

mmdump links exactly the C files the extension does, so memory errors in
them show up here without an interpreter in the way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "memmaps" / "native"
SOURCES = [
    ROOT / "tools" / "mmdump.c",
    NATIVE / "core" / "list.c",
    NATIVE / "core" / "reader.c",
    NATIVE / "formats" / "procmaps.c",
]
if sys.platform.startswith("linux"):
    SOURCES += [NATIVE / "core" / "target.c", NATIVE / "backends" / "linux.c"]

VALGRIND_ERROR = 99

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux backend")


def build(out: Path, *flags: str) -> Path:
    command = ["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-g", *flags]
    command += ["-I", str(NATIVE), *map(str, SOURCES), "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return build(tmp_path_factory.mktemp("mmdump") / "mmdump", "-O2")


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory):
    probe = subprocess.run(
        ["gcc", "-fsanitize=address,undefined", "-x", "c", "-", "-o", "/dev/null"],
        input="int main(void) { return 0; }",
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"gcc cannot build with the sanitizers here: {probe.stderr.strip()}")
    flags = ["-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    return build(tmp_path_factory.mktemp("mmdump-asan") / "mmdump", *flags)


@pytest.fixture(scope="module")
def idle_target():
    """A process whose map does not change while it waits on stdin."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    yield process.pid
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def texts(tmp_path_factory, idle_target):
    """Maps texts to parse: a real one, and broken ones."""
    folder = tmp_path_factory.mktemp("texts")
    real = Path(f"/proc/{idle_target}/maps").read_bytes()
    cut = real[: len(real) // 2 + 7]  # ends mid-line
    files = {
        "real": real,
        "cut": cut,
        "garbage": b"\xff\x00 not maps at all\n",
        "blank-middle": real.split(b"\n", 1)[0] + b"\n\n" + real,
        "empty": b"",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def run(command, wrapper=()):
    return subprocess.run([*wrapper, *map(str, command)], capture_output=True, timeout=120)


def check_runs(binary, idle_target, texts, wrapper=()):
    """Every path through the core, each compared with what it must give."""
    listing = run([binary, idle_target], wrapper)
    assert listing.returncode == 0, listing.stderr.decode()
    assert listing.stdout == Path(f"/proc/{idle_target}/maps").read_bytes()

    own = run([binary], wrapper)
    assert own.returncode == 0, own.stderr.decode()
    assert b"[stack]" in own.stdout

    parsed = run([binary, "-f", texts / "real"], wrapper)
    assert parsed.returncode == 0, parsed.stderr.decode()
    assert parsed.stdout == (texts / "real").read_bytes()

    cut = run([binary, "-f", texts / "cut"], wrapper)
    # Half a line is either still a valid line or a parse error; never a crash.
    assert cut.returncode in (0, 1), cut.stderr.decode()

    for broken in ("garbage", "blank-middle"):
        result = run([binary, "-f", texts / broken], wrapper)
        assert result.returncode == 1, result.stderr.decode()
        assert b"mmdump: line " in result.stderr

    empty = run([binary, "-f", texts / "empty"], wrapper)
    assert (empty.returncode, empty.stdout) == (0, b"")

    missing = run([binary, "2147483646"], wrapper)
    assert missing.returncode == 1
    assert b"does not exist" in missing.stderr


def test_mmdump_prints_the_kernel_text(plain, idle_target, texts):
    check_runs(plain, idle_target, texts)


def test_mmdump_under_address_and_undefined_sanitizers(sanitized, idle_target, texts):
    check_runs(sanitized, idle_target, texts)


@pytest.mark.slow
def test_mmdump_under_valgrind(plain, idle_target, texts):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("valgrind cannot run programs with the ASan runtime preloaded")
    wrapper = (
        valgrind,
        "--quiet",
        f"--error-exitcode={VALGRIND_ERROR}",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
    )
    check_runs(plain, idle_target, texts, wrapper)
