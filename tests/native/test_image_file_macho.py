"""ImageFile.symbolize over Mach-O files built here with zig, compared with
what llvm-objdump says of the same file.

nlist records no size: a symbol holds the addresses from its value up to
the next symbol of the same section, the last one of a section up to the
section's end (llvm-objdump -h).  Stabs, undefined and absolute symbols hold
nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from memmaps import _core
from tests.helpers import crosscc

PROGRAM = """\
static int helper(int x) { return x * 3 + 1; }
int exported_global = 7;
static int local_table[64] = {1};
int *volatile keep = local_table;
int first(int x) { return helper(x) + keep[x & 63]; }
int second(int x) { return first(x) * 2 + exported_global; }
int third(int x) { return second(x) - 1; }
"""
TARGETS = {"x86_64": "x86_64-macos", "arm64": "aarch64-macos"}


def objdump() -> str:
    for name in ("llvm-objdump-14", "llvm-objdump"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip("no llvm-objdump (apt-get install llvm-14) to compare with")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    if crosscc.zig_command() is None:
        pytest.skip("the ziglang package is not installed")
    folder = tmp_path_factory.mktemp("macho-symbolize")
    source = folder / "program.c"
    source.write_text(PROGRAM)
    out = {}
    for arch, target in TARGETS.items():
        for kind, flags in (("dylib", ["-shared"]), ("object", ["-c"])):
            path = folder / f"{arch}-{kind}"
            proc = crosscc.run(
                ["cc", "-target", target, "-O1", *flags, str(source), "-o", str(path)],
                timeout=crosscc.LINK_TIMEOUT,
            )
            assert proc.returncode == 0, crosscc.describe(proc)
            out[arch, kind] = path
    return out


def sections(path: Path) -> list[tuple[int, int]]:
    """(address, size) of each section, in order: n_sect - 1 indexes it."""
    text = run([objdump(), "-h", str(path)])
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*(\d+) \S+\s+([0-9a-f]+) ([0-9a-f]+)", line)
        if m:
            rows.append((int(m.group(3), 16), int(m.group(2), 16)))
    return rows


def symbols(path: Path) -> Iterator[tuple[int, str, str]]:
    """(value, section name, name) of the symbols defined in a section."""
    text = run([objdump(), "--syms", str(path)])
    for line in text.splitlines():
        m = re.match(r"([0-9a-f]{16}) (.{7}) (\S+,\S+) (\S+)$", line)
        if m:
            yield int(m.group(1), 16), m.group(3), m.group(4)


def run(args: list[str]) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("arch", sorted(TARGETS))
@pytest.mark.parametrize("kind", ["dylib", "object"])
def test_symbolize_matches_llvm_objdump(
    built: dict[tuple[str, str], Path], arch: str, kind: str
) -> None:
    path = built[arch, kind]
    section_rows = sections(path)
    rows = sorted(symbols(path))
    assert {"_first", "_second", "_third", "_exported_global"} <= {name for _, _, name in rows}
    by_section: dict[str, list[tuple[int, str]]] = {}
    for value, section, name in rows:
        by_section.setdefault(section, []).append((value, name))
    elf = _core.ImageFile(path.read_bytes())
    assert elf.format == "macho"
    checked = 0
    for section, entries in by_section.items():
        starts = sorted({value for value, _ in entries})
        for value in starts:
            aliases = {name for v, name in entries if v == value}
            later = [s for s in starts if s > value]
            # The section's end, from the section that holds the value.
            end = next(
                (a + s for a, s in section_rows if a <= value < a + s),
                None,
            )
            if end is None:
                continue
            if later:
                end = min(end, later[0])
            for address in sorted({value, (value + end) // 2, end - 1}):
                answer = elf.symbolize(address)
                assert answer is not None, (section, hex(address))
                name, got, size, kind_ = answer
                assert (got, size, kind_) == (value, end - value, "other"), (hex(address), answer)
                assert name in aliases, (hex(address), answer, aliases)
                checked += 1
    assert checked >= 12
    third = elf.symbol("_third")
    assert third is not None
    assert elf.symbolize(third[0])[0] == "_third"
    assert elf.symbolize_many([third[0], 1 << 63]) == [elf.symbolize(third[0]), None]
