"""Cross-compiling plain C for other systems with the zig toolchain.

The PyPI ``ziglang`` package ships a clang driver (``zig cc``) together with
the headers and link stubs of macOS (libSystem.tbd), Windows (mingw-w64) and
FreeBSD (libc, libutil, ...), so the native core can be compiled -- and
linked -- for those systems on this Linux machine without any SDK.

Facts worth knowing (zig 0.17.1):

* Target spellings: ``aarch64-macos``, ``x86_64-macos``, ``x86_64-windows-gnu``,
  ``x86_64-freebsd`` (the ABI defaults to ``-none``).  A minimum OS version
  goes into the target (``aarch64-macos.11.0``); ``-mmacosx-version-min`` is
  ignored.  Default macOS minimum is 15.0, default FreeBSD is 14.0.
* ``-c`` needs nothing from the cache and takes ~0.15 s even cold.  Linking
  first builds the target's C runtime into the cache: a few seconds for macOS
  and FreeBSD, but about 80 s for Windows (mingw-w64 CRT) on 2 cores; later
  links take ~0.15 s.
* The cache defaults to ``$XDG_CACHE_HOME/zig`` or ``$HOME/.cache/zig``.
  Without HOME zig fails ("unable to resolve zig cache directory"), and with an
  unwritable cache directory it was seen to spin forever at full CPU.  So we
  always point ``ZIG_GLOBAL_CACHE_DIR``/``ZIG_LOCAL_CACHE_DIR`` at a private
  writable directory and always run zig with a timeout.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
NATIVE_DIR = REPO / "memmaps" / "native"

#: The systems the native core must build for besides Linux.
TARGETS: tuple[str, ...] = (
    "aarch64-macos",
    "x86_64-macos",
    "x86_64-windows-gnu",
    "x86_64-freebsd",
)

#: The development flags: warnings are errors.
CFLAGS: tuple[str, ...] = ("-std=c11", "-Wall", "-Wextra", "-Werror", "-O2")

#: A cold -c compile takes well under a second; this only guards against a
#: hung zig (see the module docstring).
COMPILE_TIMEOUT = 120.0
#: A cold link may build a whole C runtime first (~80 s for Windows).
LINK_TIMEOUT = 600.0

_cache_dir: Path | None = None


def zig_command() -> list[str] | None:
    """The command that runs zig from the ``ziglang`` package, or None."""
    spec = importlib.util.find_spec("ziglang")
    if spec is None or spec.origin is None:
        return None
    exe = "zig.exe" if os.name == "nt" else "zig"
    binary = Path(spec.origin).resolve().parent / exe
    if binary.is_file() and os.access(binary, os.X_OK):
        # Skips a Python start-up per compile compared with -m ziglang.
        return [str(binary)]
    return [sys.executable, "-m", "ziglang"]


def require_zig() -> list[str]:
    """zig_command(), or skip the calling test with the reason."""
    import pytest

    cmd = zig_command()
    if cmd is None:
        pytest.skip(
            "the ziglang package is not installed "
            "(pip install ziglang) so nothing can be cross-compiled"
        )
    return cmd


def _usable_dir(path: Path) -> bool:
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        return False
    if hasattr(os, "getuid"):
        # A shared temp folder: do not use a directory someone else made.
        return path.stat().st_uid == os.getuid()
    return True


def cache_dir() -> Path:
    """A writable zig cache directory, the same for the whole session.

    ``ZIG_GLOBAL_CACHE_DIR`` if set (it must be writable), else
    ``MEMMAPS_ZIG_CACHE_DIR``, else ``<tempdir>/memmaps-zig-cache-<uid>``,
    which persists between runs so that the slow first link of each target
    is paid once per machine.
    """
    global _cache_dir
    if _cache_dir is not None:
        return _cache_dir
    explicit = os.environ.get("ZIG_GLOBAL_CACHE_DIR") or os.environ.get("MEMMAPS_ZIG_CACHE_DIR")
    if explicit:
        path = Path(explicit)
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise RuntimeError(
                f"zig cache directory {path} is not writable (zig hangs on an unwritable cache)"
            )
    else:
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        path = Path(tempfile.gettempdir()) / f"memmaps-zig-cache-{uid}"
        with contextlib.suppress(OSError):
            path.mkdir(mode=0o700, exist_ok=True)
        if not _usable_dir(path):
            path = Path(tempfile.mkdtemp(prefix="memmaps-zig-cache-"))
    _cache_dir = path
    return path


def environment() -> dict[str, str]:
    """os.environ with the zig cache pointed at cache_dir()."""
    env = dict(os.environ)
    cache = str(cache_dir())
    env["ZIG_GLOBAL_CACHE_DIR"] = cache
    env["ZIG_LOCAL_CACHE_DIR"] = cache
    return env


def run(
    args: Sequence[str], *, timeout: float = COMPILE_TIMEOUT, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs ``zig <args>``; never raises on a non-zero exit."""
    cmd = zig_command()
    if cmd is None:
        raise RuntimeError("the ziglang package is not installed")
    return subprocess.run(
        [*cmd, *args],
        cwd=cwd,
        env=environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def cc(
    target: str,
    args: Sequence[str],
    *,
    flags: Sequence[str] = CFLAGS,
    include_dirs: Iterable[Path] = (NATIVE_DIR,),
    timeout: float = COMPILE_TIMEOUT,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``zig cc -target TARGET <flags> -I... <args>``."""
    includes = [f"-I{d}" for d in include_dirs]
    return run(
        ["cc", "-target", target, *flags, *includes, *args],
        timeout=timeout,
        cwd=cwd,
    )


def compile_object(
    source: Path,
    output: Path,
    target: str,
    extra: Sequence[str] = (),
    *,
    flags: Sequence[str] = CFLAGS,
    include_dirs: Iterable[Path] = (NATIVE_DIR,),
    timeout: float = COMPILE_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Compiles one C file to an object file (-c)."""
    return cc(
        target,
        ["-c", str(source), "-o", str(output), *extra],
        flags=flags,
        include_dirs=include_dirs,
        timeout=timeout,
    )


def link(
    sources: Sequence[Path],
    output: Path,
    target: str,
    extra: Sequence[str] = (),
    *,
    flags: Sequence[str] = CFLAGS,
    include_dirs: Iterable[Path] = (NATIVE_DIR,),
    timeout: float = LINK_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Compiles and links an executable (or a library with -shared).

    Libraries go in extra: ``-lpsapi`` is not needed on Windows (psapi.h maps
    to the K32* functions of kernel32); on FreeBSD zig links libutil whether
    or not ``-lutil`` is given.  The first link for a target builds its C
    runtime into the cache, hence the long default timeout.
    """
    return cc(
        target,
        [*(str(s) for s in sources), "-o", str(output), *extra],
        flags=flags,
        include_dirs=include_dirs,
        timeout=timeout,
    )


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    """A failure message: the command, the exit status and zig's output."""
    cmd = " ".join(str(a) for a in proc.args)
    return (
        f"$ {cmd}\nexit status {proc.returncode}\n"
        f"--- stderr ---\n{proc.stderr}--- stdout ---\n{proc.stdout}"
    )


#: The systems a backend can be for: ``backends/macos.c`` is macOS's,
#: ``backends/linux.c`` Linux's.  Everything in ``core/`` and ``formats/``
#: (and ``backends/unsupported.c``) is portable and compiled for every target.
SYSTEMS: tuple[str, ...] = ("linux", "macos", "windows", "freebsd")
PORTABLE_FOLDERS: tuple[str, ...] = ("core", "formats")


def target_system(target: str) -> str:
    """The system of a zig target: ``"aarch64-macos.11.0"`` -> ``"macos"``."""
    parts = target.split("-")
    if len(parts) < 2:
        raise ValueError(f"not a zig target triple: {target!r}")
    return parts[1].split(".")[0]


def source_system(path: Path) -> str | None:
    """The system a C file is for (``backends/macos.c`` -> ``"macos"``), or
    None for a portable one."""
    if path.parent.name == "backends" and path.stem in SYSTEMS:
        return path.stem
    return None


def is_portable(path: Path) -> bool:
    """A native C file meant to compile on every system."""
    return path.suffix == ".c" and source_system(path) is None


def is_for_target(path: Path, target: str) -> bool:
    """Whether the cross-compile test builds this C file for this target.

    A backend only for its own system (Linux's for none: Linux builds it
    natively), everything else for all.
    """
    if path.suffix != ".c":
        return False
    system = source_system(path)
    if system is None:
        return True
    return system != "linux" and system == target_system(target)


def _c_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*/*.c") if p.is_file())


def portable_sources(folder: Path = NATIVE_DIR) -> list[Path]:
    """The portable C files of the native core, sorted by path."""
    return [p for p in _c_files(folder) if is_portable(p)]


def sources_for(target: str, folder: Path = NATIVE_DIR) -> list[Path]:
    """The native C files to compile for a target, sorted by path."""
    return [p for p in _c_files(folder) if is_for_target(p, target)]


def extension_sources(platform: str) -> list[Path]:
    """The native C files ``setup.py`` builds the extension from on a system
    (a ``sys.platform`` value: ``"darwin"``, ``"linux"``, ``"win32"``):
    ``core/`` and ``formats/``, and the backend its ``BACKENDS`` literal
    names (read without running setup.py), so that what the tests link is
    what the extension is built from.
    """
    tree = ast.parse((REPO / "setup.py").read_text(), filename="setup.py")
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("BACKENDS", "UNSUPPORTED"):
                values[target.id] = ast.literal_eval(node.value)
    missing = {"BACKENDS", "UNSUPPORTED"} - values.keys()
    if missing:
        raise RuntimeError(f"setup.py has no literal {', '.join(sorted(missing))}")
    backend = next(
        (name for prefix, name in values["BACKENDS"].items() if platform.startswith(prefix)),
        values["UNSUPPORTED"],
    )
    portable = sorted(p for folder in PORTABLE_FOLDERS for p in (NATIVE_DIR / folder).glob("*.c"))
    return [*portable, NATIVE_DIR / "backends" / backend]
