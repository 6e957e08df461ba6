"""Builds the real macOS backend (memmaps/native/backends/macos.c) against
the simulated Mach layer (tests/macsim/), for the tests only: tools/mmdump
with the sanitizers, and the whole extension memmaps._core in a copy of the
package, so that the in-place Linux build is never touched.

Builds are kept in a folder of the temporary directory keyed by a hash of
every source they are made of, of their flags and of the interpreter, so
that a test run (and the next one) pays for each once.  MEMMAPS_SANITIZE builds the extension
for the sanitizers, as setup.py does; MACSIM_COVERAGE=1 builds it (and
mmdump) with gcc's --coverage, for gcov (docs/testing.md).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "memmaps" / "native"
SIM = ROOT / "tests" / "macsim"
INCLUDE = SIM / "include"

# Glibc hides strnlen(), getline() and the like under -std=c11; macOS's SDK
# shows them by default, which is what the backend is written for.
COMMON = [
    "-std=c11",
    "-D_DEFAULT_SOURCE",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-missing-field-initializers",
]
SANITIZERS = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    "-g",
    "-O1",
]


def native_sources() -> list[Path]:
    """What setup.py builds on macOS: every portable file, then macos.c;
    and the simulation."""
    portable = sorted([*NATIVE.glob("core/*.c"), *NATIVE.glob("formats/*.c")])
    return [*portable, NATIVE / "backends" / "macos.c", SIM / "macsim.c"]


def coverage() -> bool:
    return os.environ.get("MACSIM_COVERAGE") == "1"


def _key(*parts: object) -> str:
    digest = hashlib.sha256()
    files = [
        *NATIVE.rglob("*.[ch]"),
        *SIM.rglob("*.[ch]"),
        *(ROOT / "memmaps").glob("_binding/*.[ch]"),
        ROOT / "memmaps" / "_core.c",
        ROOT / "tools" / "mmdump.c",
        *(ROOT / "tools").glob("*.h"),
    ]
    for path in sorted(files):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    digest.update(Path(__file__).read_bytes())  # how they are built
    digest.update(repr(parts).encode())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    root = Path(tempfile.gettempdir()) / f"memmaps-macsim-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    if root.stat().st_uid != os.getuid():
        raise RuntimeError(f"{root} is not ours")
    return root


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env.pop(name, None)
    return env


def _compile(command: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(
        command, capture_output=True, text=True, env=_env(), cwd=cwd, timeout=600, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}\n{proc.stderr}")


def coverage_root() -> Path:
    """Where the coverage builds are, and only they: gcovr's search path."""
    return cache_root() / "coverage"


def _folder(kind: str, key: str) -> Path:
    if coverage():
        # One of each, made anew by every test run: counts of older sources
        # would not match the lines of these.
        coverage_root().mkdir(exist_ok=True)
        return coverage_root() / kind
    return cache_root() / f"{kind}-{key}"


def _workdir(final: Path) -> Path:
    """Where a build is made: a fresh folder renamed to final when done, so
    that a half-made build is never taken; with coverage, final itself,
    since gcov's counts are written beside the objects where they were
    compiled."""
    if coverage():
        shutil.rmtree(final, ignore_errors=True)
        final.mkdir()
        return final
    return Path(tempfile.mkdtemp(dir=cache_root()))


def _publish(tmp: Path, final: Path) -> Path:
    if tmp == final:
        return final
    try:
        tmp.rename(final)
    except OSError:  # another test run made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _objects(sources: list[Path], flags: list[str], folder: Path) -> list[Path]:
    include = sysconfig.get_paths()["include"]
    objects = []
    for source in sources:
        # _core.c builds its Linux-only calls under __linux__: as on a Mac,
        # they are left out.
        system = ["-U__linux__"] if source.name == "_core.c" else []
        objects.append(folder / f"{len(objects):02d}-{source.stem}.o")
        command = ["gcc", *flags, *system, "-c", "-I", str(INCLUDE), "-I", str(NATIVE)]
        command += ["-I", include, str(source), "-o", str(objects[-1])]
        _compile(command, cwd=folder)
    return objects


def mmdump() -> Path:
    """tools/mmdump.c over the real backend and the simulation, with
    AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer."""
    # For coverage: unoptimized, so that every line's count is its own, and
    # without the sanitizers, whose checks of locals gcov counts as lines.
    flags = [*COMMON, "--coverage", "-O0", "-g"] if coverage() else [*COMMON, *SANITIZERS]
    folder = _folder("mmdump", _key(flags))
    binary = folder / "mmdump"
    if binary.exists() and not coverage():
        return binary
    tmp = _workdir(folder)
    objects = _objects([ROOT / "tools" / "mmdump.c", *native_sources()], flags, tmp)
    _compile(["gcc", *flags, *map(str, objects), "-o", str(tmp / "mmdump")], cwd=tmp)
    return _publish(tmp, folder) / "mmdump"


def package() -> Path:
    """A folder holding a copy of the memmaps package whose _core is built
    from macos.c and the simulation: put it first on PYTHONPATH."""
    sanitize = os.environ.get("MEMMAPS_SANITIZE")
    flags = [*COMMON, "-fPIC", "-fvisibility=hidden"]
    if sanitize:
        flags += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-g", "-O1"]
        flags += ["-fno-sanitize-recover=undefined"]
    else:
        flags += ["-O1", "-g"]
    if coverage():
        flags += ["--coverage", "-O0"]
    python_files = sorted(
        p.relative_to(ROOT)
        for p in (ROOT / "memmaps").rglob("*")
        if p.is_file() and p.suffix in (".py", ".pyi", ".typed") and "__pycache__" not in p.parts
    )
    # The extension is built against this interpreter's headers and named
    # for its ABI: another Python gets a build of its own.
    interpreter = (sysconfig.get_config_var("EXT_SUFFIX"), sysconfig.get_paths()["include"])
    key = _key(flags, interpreter, [(str(p), (ROOT / p).read_bytes()) for p in python_files])
    folder = _folder("package", key)
    if (folder / "memmaps").exists() and not coverage():
        return folder
    tmp = _workdir(folder)
    for relative in python_files:
        (tmp / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, tmp / relative)
    sources = [
        ROOT / "memmaps" / "_core.c",
        *sorted((ROOT / "memmaps" / "_binding").glob("*.c")),
        *native_sources(),
    ]
    objects = _objects(sources, flags, tmp)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    target = tmp / "memmaps" / f"_core{suffix}"
    _compile(["gcc", *flags, "-shared", *map(str, objects), "-o", str(target)], cwd=tmp)
    return _publish(tmp, folder)
