"""Running the Windows build of the C core under Wine.

The programs are built with Debian's MinGW-w64 cross compilers (warnings
are errors) and run with Wine in a private WINEPREFIX, made once per test
session in a temporary folder and removed at its end, after
``wineserver -k``: the first start in a new prefix takes about ten seconds,
later starts a tenth of one.

Wine is not Windows.  Where the tests met a difference, the test says so
beside the assertion it changes; the list is in docs/platforms.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from tests.helpers import crosscc

REPO = crosscc.REPO
NATIVE = crosscc.NATIVE_DIR
WINE_TESTS = REPO / "tests" / "wine"

#: The compilers, by the bitness of what they build.
MINGW = {64: "x86_64-w64-mingw32-gcc", 32: "i686-w64-mingw32-gcc"}
CFLAGS = ("-std=c11", "-Wall", "-Wextra", "-Werror", "-O2")

#: A Wine program here starts in well under a second and the walks take
#: less; this only stops a hung wineserver from hanging the suite.
TIMEOUT = 120.0
#: The first start in a new prefix writes the whole prefix first.
FIRST_START_TIMEOUT = 300.0


def wine_command() -> str | None:
    """The wine launcher: /usr/bin/wine (package ``wine``), or Debian's
    wine64 loader itself."""
    for candidate in (shutil.which("wine"), shutil.which("wine64"), "/usr/lib/wine/wine64"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing() -> str | None:
    """Why the Wine tests cannot run here, or None."""
    if wine_command() is None:
        return "wine is not installed (apt-get install wine wine64)"
    if shutil.which(MINGW[64]) is None:
        return f"{MINGW[64]} is not installed (apt-get install gcc-mingw-w64-x86-64)"
    return None


def build(
    sources: Iterable[Path],
    output: Path,
    *,
    bits: int = 64,
    extra: Sequence[str] = (),
    include_dirs: Iterable[Path] = (NATIVE,),
) -> Path:
    """Compiles and links with MinGW-w64, warnings as errors; raises with
    the compiler's output on failure."""
    command = [MINGW[bits], *CFLAGS, *(f"-I{d}" for d in include_dirs)]
    command += [*(str(s) for s in sources), "-o", str(output), *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"$ {' '.join(command)}\n{result.stderr}")
    return output


def mmdump_sources() -> list[Path]:
    """tools/mmdump.c and exactly the files setup.py builds the extension
    from on Windows."""
    return [REPO / "tools" / "mmdump.c", *crosscc.extension_sources("win32")]


def objdump_build_id(path: Path, bits: int = 64) -> str | None:
    """The CodeView build id of a PE file as memmaps spells it (GUID then
    age, in hex), from MinGW-w64's objdump, or None when it has none."""
    import re

    tool = MINGW[bits].replace("-gcc", "-objdump")
    text = subprocess.run([tool, "-p", str(path)], capture_output=True, text=True).stdout
    match = re.search(r"format RSDS signature ([0-9a-f]{32}) age (\d+)", text)
    return f"{match[1]}{int(match[2]):08x}" if match else None


def windows_path(path: Path) -> str:
    """The name Wine's Z: drive gives a path of this machine."""
    return str(PureWindowsPath("Z:\\", *path.resolve().parts[1:]))


@dataclass
class Ready:
    """A Wine child that printed its "ready" line: its process (the wine
    launcher's), and the line's key=value words (ints)."""

    proc: subprocess.Popen[bytes]
    values: dict[str, int]

    @property
    def pid(self) -> int:
        return self.values["pid"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(b"exit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class Wine:
    """A private WINEPREFIX and the programs run in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = root / "prefix"
        self.started = False
        self._built: dict[str, Path] = {}
        command = wine_command()
        assert command is not None
        self.command = command
        self.env = dict(os.environ)
        self.env.update(WINEPREFIX=str(self.prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="")
        # No desktop, no display: Wine's console programs need neither.
        self.env.pop("DISPLAY", None)

    def program(self, name: str) -> Path:
        """A program of the tests, built once per session: "mmdump" (64-bit),
        "child", "exports.dll", "units", "selfusage", and their 32-bit
        builds with a "32" suffix ("child32", "exports32.dll")."""
        if name not in self._built:
            stem = name.removesuffix(".dll")
            bits = 32 if stem.endswith("32") else 64
            base = stem.removesuffix("32")
            out = self.root / (name if name.endswith(".dll") else f"{name}.exe")
            if base == "mmdump":
                build(mmdump_sources(), out, bits=bits)
            elif base == "selfusage":
                sources = [WINE_TESTS / "selfusage.c", *crosscc.extension_sources("win32")]
                build(sources, out, bits=bits)
            elif base == "exports":
                # --build-id: GNU ld writes a CodeView RSDS record, the
                # build id the backend reads back from memory.
                build(
                    [WINE_TESTS / "exports.c"],
                    out,
                    bits=bits,
                    extra=["-shared", "-Wl,--build-id"],
                )
            elif base == "units":
                # units.c includes the backend itself, for its static
                # functions: the rest of the extension's files beside it.
                rest = [s for s in crosscc.extension_sources("win32") if s.name != "windows.c"]
                build([WINE_TESTS / "units.c", *rest], out, bits=bits)
            else:
                build([WINE_TESTS / f"{base}.c"], out, bits=bits)
            self._built[name] = out
        return self._built[name]

    def _timeout(self) -> float:
        return TIMEOUT if self.started else FIRST_START_TIMEOUT

    def run(
        self, exe: Path, *args: object, timeout: float | None = None, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Runs a Windows program to its end; never raises on its status."""
        result = subprocess.run(
            [self.command, str(exe), *(str(a) for a in args)],
            env=self.env,
            input=input if input is not None else b"",
            capture_output=True,
            timeout=timeout or self._timeout(),
            check=False,
        )
        self.started = True
        return result

    def start(self, exe: Path, *args: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [self.command, str(exe), *(str(a) for a in args)],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return proc

    def launch_ready(self, exe: Path, *args: object) -> Ready:
        """Starts a program that prints a "ready k=v ..." line and waits."""
        proc = self.start(exe, *args)
        assert proc.stdout is not None
        import select

        ready, _, _ = select.select([proc.stdout], [], [], self._timeout())
        line = proc.stdout.readline() if ready else b""
        self.started = True
        words = line.split()
        if not words or words[0] != b"ready":
            proc.kill()
            _, err = proc.communicate()
            raise RuntimeError(f"{exe.name} did not get ready: {line!r} {err[-2000:]!r}")
        values = {}
        for word in words[1:]:
            key, _, value = word.decode().partition("=")
            values[key] = int(value, 0)
        return Ready(proc, values)

    def close(self) -> None:
        server = shutil.which("wineserver")
        if server is not None and self.prefix.exists():
            subprocess.run(
                [server, "-k"], env=self.env, capture_output=True, timeout=TIMEOUT, check=False
            )
            subprocess.run(
                [server, "-w"], env=self.env, capture_output=True, timeout=TIMEOUT, check=False
            )
        shutil.rmtree(self.root, ignore_errors=True)


def new_session() -> Wine:
    return Wine(Path(tempfile.mkdtemp(prefix="memmaps-wine-")))


# -- mmdump's --fields lines ---------------------------------------------------


def parse_fields(text: str) -> list[dict[str, str]]:
    """mmdump --fields output: a dict per region line (and per "at=" line)."""
    rows = []
    for line in text.splitlines():
        if not line or line.startswith("partial="):
            continue
        rows.append(dict(word.split("=", 1) for word in line.split("\t")))
    return rows


def _unescape(text: str) -> str:
    return text.replace("\\012", "\n").replace("\\011", "\t")


def region_of(row: dict[str, str]):  # -> memmaps.Region
    """A memmaps.Region of one --fields row."""
    from memmaps import Region, Usage

    major, _, minor = row.get("dev", "0:0").partition(":")
    usage = None
    figures = {key[2:]: int(value) for key, value in row.items() if key.startswith("u.")}
    if figures:
        usage = Usage(**figures)
    return Region(
        start=int(row["start"], 16),
        end=int(row["end"], 16),
        perms=row["perms"],
        offset=int(row["offset"], 16),
        dev_major=int(major),
        dev_minor=int(minor),
        inode=int(row.get("inode", "0")),
        path=_unescape(row["path"]) if "path" in row else None,
        kind=row["kind"],
        max_perms=None if row["max_perms"] == "None" else row["max_perms"],
        share_mode=None if row["share_mode"] == "None" else row["share_mode"],
        tag=None if row["tag"] == "None" else row["tag"],
        detail=_unescape(row["detail"]) if "detail" in row else None,
        usage=usage,
    )
