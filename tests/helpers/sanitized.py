"""Building and running the C drivers (tools/elfdump.c, tools/machodump.c)
under AddressSanitizer and UndefinedBehaviorSanitizer, and the readers'
fuzzers (tests/fuzz/run_fuzz.sh), shared by their tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

FUZZ_SCRIPT = Path(__file__).resolve().parents[1] / "fuzz" / "run_fuzz.sh"

# The drivers exit 0 (all well), 1 (a corrupt input) or 2 (usage); the
# sanitizers are told to use this one, so a report is never taken for them.
SANITIZER_STATUS = 86


def tool_env() -> dict[str, str]:
    """The environment for the tools run here.  The sanitized CI run preloads
    libasan into the interpreter: keep it out of gcc, binutils, llvm and the
    drivers, which are built with their own."""
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env.pop(name, None)
    return env


def driver_env() -> dict[str, str]:
    """The environment for a sanitized driver: any finding ends it with
    SANITIZER_STATUS, leaks included."""
    env = tool_env()
    env["ASAN_OPTIONS"] = (
        f"exitcode={SANITIZER_STATUS}:detect_leaks=1:allocator_may_return_null=0"
        ":abort_on_error=0:handle_abort=1"
    )
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return env


def run_tool(args: Sequence[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        errors="replace",
        env=tool_env(),
        timeout=300,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def must(args: Sequence[str | Path]) -> str:
    proc = run_tool(args)
    assert proc.returncode == 0, f"{' '.join(map(str, args))}\n{proc.stderr}"
    return proc.stdout


def check_clean(proc: subprocess.CompletedProcess[str], tool: str, args: Sequence[object]) -> None:
    """No sanitizer report, no crash: an exit status of 0 or 1, and a message
    naming the tool with 1."""
    what = f"{tool} {' '.join(map(str, args))}"
    for marker in ("Sanitizer", "runtime error:", "LeakSanitizer", "SUMMARY:"):
        assert marker not in proc.stderr, f"{what}: sanitizer report\n{proc.stderr}"
    assert proc.returncode in (0, 1), (
        f"{what}: exit status {proc.returncode} (a signal or the sanitizers)\n{proc.stderr}"
    )
    if proc.returncode == 1:
        assert proc.stderr.startswith(f"{tool}: "), f"{what}: no message\n{proc.stderr}"


def build_driver(
    folder: Path, name: str, sources: Sequence[Path], include: Path, *defines: str
) -> Path:
    """Compiles a driver with the sanitizers into folder; skips where gcc or
    its sanitizer runtimes are missing."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip(f"no gcc to build tools/{name}.c with")
    out = folder / name
    command = [gcc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1", *defines]
    command += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    command += ["-fno-omit-frame-pointer", "-I", str(include), *map(str, sources), "-o", str(out)]
    proc = run_tool(command)
    if proc.returncode != 0 and "sanitize" in proc.stderr and "cannot find" in proc.stderr:
        pytest.skip(f"gcc cannot link the sanitizers here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return out


def libfuzzer_clang() -> str | None:
    """A clang that links libFuzzer, or None."""
    for name in ("clang-14", "clang"):
        path = shutil.which(name)
        if path is None:
            continue
        probe = subprocess.run(
            [path, "-fsanitize=fuzzer", "-x", "c", "-", "-o", os.devnull],
            input="#include <stdint.h>\n#include <stddef.h>\n"
            "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n",
            capture_output=True,
            text=True,
            env=tool_env(),
            check=False,
        )
        if probe.returncode == 0:
            return path
    return None


def run_fuzzer(
    reader: str,
    seconds: int,
    work: Path,
    clang: str,
    *,
    env: dict[str, str] | None = None,
    timeout: int = 600,
) -> tuple[str, str]:
    """run_fuzz.sh for one reader: it must end with no findings (a crash, a
    sanitizer report, a leak or a timeout is one) after more than a
    thousand inputs.  Gives its stdout and the tail of its output, for the
    caller's own checks."""
    run_env = dict(tool_env(), CLANG=clang, FUZZ_WORK=str(work), **(env or {}))
    proc = subprocess.run(
        ["bash", str(FUZZ_SCRIPT), str(seconds), reader],
        capture_output=True,
        text=True,
        errors="replace",
        env=run_env,
        timeout=timeout,
        check=False,
    )
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, tail
    assert f"fuzz_{reader}: no findings" in proc.stdout, tail
    runs = re.search(r"stat::number_of_executed_units: (\d+)", proc.stderr)
    assert runs and int(runs.group(1)) > 1000, tail
    return proc.stdout, tail
