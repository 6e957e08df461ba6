"""Time images() and symbol_address() against the same work done with pyelftools.

The target is a running Python interpreter (this one's executable, which
loads libpython or is the static interpreter).  The pyelftools reader does
what a profiler written in Python would: list the mappings, open each mapped
ELF file, read its program headers and build-id note for the load bias, and
for a symbol, walk .symtab and .dynsym.  Linux only; needs pyelftools
(pip install pyelftools) for its rows.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

# What a sampling profiler looks up in a Python process.
SYMBOLS = ("_PyRuntime", "Py_GetVersion")


def plain_maps(pid: int) -> list[tuple[int, int, int, str]]:
    """(start, end, offset, path) of the file mappings, from the text."""
    rows = []
    with open(f"/proc/{pid}/maps", "rb") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith(b"/"):
                start, end = (int(part, 16) for part in fields[0].split(b"-"))
                rows.append((start, end, int(fields[2], 16), fields[5].rstrip(b"\n").decode()))
    return rows


def pyelftools_images(pid: int) -> list[tuple[str, int, str | None]]:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    images = []
    for start, _end, offset, path in plain_maps(pid):
        if offset != 0:
            continue
        try:
            with open(f"/proc/{pid}/root{path}", "rb") as file:
                elf = ELFFile(file)
                loads = [seg for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
                bias = start - (loads[0]["p_vaddr"] & ~0xFFF)
                build_id = None
                for segment in elf.iter_segments():
                    if segment["p_type"] == "PT_NOTE":
                        for note in segment.iter_notes():
                            if note["n_type"] == "NT_GNU_BUILD_ID":
                                build_id = note["n_desc"]
                images.append((path, bias, build_id))
        except (ELFError, OSError, IndexError):
            continue
    return images


def pyelftools_symbol(pid: int, name: str) -> int | None:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    for start, _end, offset, path in plain_maps(pid):
        if offset != 0:
            continue
        try:
            with open(f"/proc/{pid}/root{path}", "rb") as file:
                elf = ELFFile(file)
                loads = [seg for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
                bias = start - (loads[0]["p_vaddr"] & ~0xFFF)
                for section_name in (".symtab", ".dynsym"):
                    table = elf.get_section_by_name(section_name)
                    if table is None:
                        continue
                    for symbol in table.get_symbol_by_name(name) or ():
                        if symbol["st_shndx"] != "SHN_UNDEF":
                            return int(symbol["st_value"]) + bias
        except (ELFError, OSError, IndexError):
            continue
    return None


def median(call: Callable[[], Any], budget: float) -> tuple[float, Any]:
    samples = []
    result = call()  # warm-up: imports, page cache
    deadline = time.perf_counter() + budget
    while len(samples) < 3 or (time.perf_counter() < deadline and len(samples) < 50):
        started = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=1.0, metavar="SECONDS")
    options = parser.parse_args(argv)
    try:
        import memmaps
    except ImportError as exc:
        print(f"bench_images: error: memmaps is not importable ({exc})", file=sys.stderr)
        return 1
    try:
        import elftools  # noqa: F401
    except ImportError:
        elftools_available = False
        print("note: pyelftools is not installed (pip install pyelftools)", file=sys.stderr)
    else:
        elftools_available = True

    target = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert target.stdout is not None and target.stdout.readline() == b"ready\n"
        pid = target.pid
        rows = []
        mine, found = median(lambda: memmaps.images(pid), options.budget)
        theirs, other = (
            median(lambda: pyelftools_images(pid), options.budget)
            if elftools_available
            else (None, None)
        )
        agree = other is None or {(i.path, i.bias) for i in found} >= {
            (path, bias) for path, bias, _ in other
        }
        rows.append((f"images() ({len(found)} images)", mine, theirs, agree))
        for symbol in SYMBOLS:
            mine, address = median(lambda s=symbol: memmaps.symbol_address(pid, s), options.budget)
            theirs, other_address = (
                median(lambda s=symbol: pyelftools_symbol(pid, s), options.budget)
                if elftools_available
                else (None, None)
            )
            rows.append(
                (
                    f"symbol_address({symbol})",
                    mine,
                    theirs,
                    other_address is None or other_address == address,
                )
            )
    finally:
        target.kill()
        target.wait()

    print(f"{'call':<34}{'memmaps ms':>12}{'pyelftools ms':>15}{'faster':>9}{'agree':>7}")
    for label, mine, theirs, agree in rows:
        faster = f"{theirs / mine:.1f}x" if theirs else "-"
        theirs_text = f"{theirs * 1e3:.3f}" if theirs else "-"
        print(
            f"{label:<34}{mine * 1e3:>12.3f}{theirs_text:>15}{faster:>9}"
            f"{'yes' if agree else 'NO':>7}"
        )
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
