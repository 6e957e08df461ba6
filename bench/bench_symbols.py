"""Time the profiler's toolkit as users meet it: images(), symbol() and symbolize().

Three questions, each answered against the kernel's own cost and against
pyelftools doing the same work in the same run:

* ``memmaps.images(pid)`` on targets holding N mapped ELF images (N = 1000,
  4000, 8000 by default): is it linear in N, and how far above the raw read
  of /proc/PID/maps is it?  pyelftools opens every mapped ELF and reads its
  program headers and build-id, as bench_images.py's peer does.
* ``Process(pid).symbol(name)`` asked again, against
  ``memmaps.symbol_address(pid, name)`` from scratch and pyelftools finding
  the same symbol, on a running Python interpreter.
* ``memmaps.symbolize(pid, addrs)`` and ``Process.symbolize(addrs)`` of
  10,000 addresses in libpython's and libc's text, against pyelftools with
  the symbols sorted once and looked up by bisection.

Linux only; needs a C compiler for the image target, and pyelftools
(pip install pyelftools) for its rows.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_images import SYMBOLS, pyelftools_images, pyelftools_symbol
from bench_regions import BenchError, machine_description, parse_sizes, positive_float

HERE = Path(__file__).resolve().parent
TARGETS = HERE.parent / "tests" / "targets"
TARGET_SOURCE = TARGETS / "many_images.c"
LIBRARY_SOURCE = TARGETS / "tiny_image.c"
DEFAULT_SIZES = (1000, 4000, 8000)
DEFAULT_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "memmaps" / "bench-images"
)
# Images the target has besides its N: the executable, libc, ld.so, the vdso.
TARGET_OWN_IMAGES = 4
# Mappings each copy of the library takes (its four PT_LOADs), for the
# check against vm.max_map_count.
MAPPINGS_PER_IMAGE = 4
MIN_REPEATS = 3
# Calls per sample for what takes about a microsecond: the clock's own cost
# would otherwise be most of the figure.
BATCH = 1000
DEBUG_ROOT = "/usr/lib/debug"


# --------------------------------------------------------------------------
# Timing


@dataclass
class Reader:
    key: str
    label: str
    call: Callable[[], Any]
    #: Calls of ``call`` per timed sample; the figure is per call.
    batch: int = 1


@dataclass
class Measurement:
    key: str
    label: str
    samples: list[float] = field(default_factory=list)  # seconds per call
    result: Any = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


def time_call(reader: Reader) -> tuple[float, Any]:
    """(seconds per call, result) of one sample.  A collection first keeps a
    call from paying for an earlier one's garbage; GC stays on, as in use."""
    gc.collect()
    value = None
    started = time.perf_counter()
    for _ in range(reader.batch):
        value = reader.call()
    return (time.perf_counter() - started) / reader.batch, value


def measure(readers: Sequence[Reader], budget: float, max_repeats: int) -> list[Measurement]:
    """Every reader for about ``budget`` seconds, in rounds of one sample per
    reader, so that a change of load during the run hits all alike.  The
    first sample warms up (imports, page cache, kept tables) and is kept
    only when it alone took the budget.  A reader that raises shows why."""
    results = [Measurement(reader.key, reader.label) for reader in readers]
    repeats = [0] * len(readers)
    for index, reader in enumerate(readers):
        try:
            first, results[index].result = time_call(reader)
        except Exception as exc:  # shown in the table, the run goes on
            results[index].error = f"{type(exc).__name__}: {exc}"
            continue
        if first * reader.batch >= budget:
            results[index].samples.append(first)
        else:
            affordable = int(budget / max(first * reader.batch, 1e-9))
            repeats[index] = min(max_repeats, max(MIN_REPEATS, affordable))
    for round_number in range(max(repeats, default=0)):
        for index, reader in enumerate(readers):
            result = results[index]
            if round_number >= repeats[index] or result.error is not None:
                continue
            try:
                elapsed, _value = time_call(reader)
            except Exception as exc:  # shown in the table, the run goes on
                result.error = f"{type(exc).__name__}: {exc}"
                result.samples.clear()
                continue
            result.samples.append(elapsed)
    return results


def median_of(measurements: Sequence[Measurement], key: str) -> float | None:
    for item in measurements:
        if item.key == key:
            return item.median
    return None


# --------------------------------------------------------------------------
# The target with N images


def compile_c(compiler: str, out: Path, source: Path, *flags: str) -> None:
    command = [compiler, "-O2", "-Wall", "-Wextra", "-o", str(out), str(source), *flags]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BenchError(f"no C compiler {compiler!r}: set CC or pass --cc") from None
    if done.returncode != 0:
        details = done.stderr.strip().replace("\n", " | ")
        raise BenchError(f"compiling {source.name} failed: {details}")


def prepare_images(cache: Path, compiler: str, count: int) -> Path:
    """The target executable, with ``count`` copies of the small library
    beside it (cache/libs/img00000.so ...), each its own file.  Copies of a
    library built from the same source are kept between runs."""
    cache.mkdir(parents=True, exist_ok=True)
    executable = cache / "many_images"
    compile_c(compiler, executable, TARGET_SOURCE, "-ldl")
    library = cache / "tiny_image.so"
    compile_c(compiler, library, LIBRARY_SOURCE, "-shared", "-fPIC", "-nostdlib")
    template = library.read_bytes()
    digest = hashlib.sha256(template).hexdigest()
    libs = cache / "libs"
    stamp = cache / "libs.sha256"
    if not stamp.exists() or stamp.read_text().strip() != digest:
        shutil.rmtree(libs, ignore_errors=True)
        stamp.unlink(missing_ok=True)
    libs.mkdir(exist_ok=True)
    for index in range(count):
        copy = libs / f"img{index:05d}.so"
        if not copy.exists() or copy.stat().st_size != len(template):
            copy.write_bytes(template)
    stamp.write_text(digest + "\n")
    return executable


@contextmanager
def running(argv: Sequence[str]) -> Iterator[int]:
    """A target started with argv; its pid once it printed its ready line.
    Closing its stdin ends it."""
    process = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdin and process.stdout and process.stderr
    try:
        if not process.stdout.readline().startswith(b"ready"):
            process.kill()
            process.wait()
            message = process.stderr.read().decode(errors="replace").strip()
            raise BenchError(message or f"{argv[0]} exited before it was ready")
        yield process.pid
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def read_raw(pid: int) -> bytes:
    with open(f"/proc/{pid}/maps", "rb", buffering=0) as maps:
        return maps.readall()


@dataclass
class MapsLine:
    start: int
    end: int
    perms: str
    offset: int
    path: str


def maps_lines(pid: int) -> list[MapsLine]:
    """The file-backed lines of the map, parsed here, without memmaps."""
    lines = []
    for line in read_raw(pid).splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith(b"/"):
            start, end = (int(part, 16) for part in fields[0].split(b"-"))
            lines.append(
                MapsLine(start, end, fields[1].decode(), int(fields[2], 16), fields[5].decode())
            )
    return lines


# --------------------------------------------------------------------------
# pyelftools symbolizing: every image's symbols sorted once, then bisection


@dataclass
class SortedTable:
    path: str
    bias: int
    values: list[int]
    #: (value, size, name, is_function), sorted by value.
    symbols: list[tuple[int, int, str, bool]]


def _elf_symbols(elf: Any, names: Sequence[str]) -> list[tuple[int, int, str, bool]]:
    kinds = {"STT_FUNC", "STT_GNU_IFUNC", "STT_OBJECT", "STT_NOTYPE"}
    found = []
    for name in names:
        table = elf.get_section_by_name(name)
        if table is None:
            continue
        for symbol in table.iter_symbols():
            kind = symbol["st_info"]["type"]
            if symbol.name and kind in kinds and symbol["st_shndx"] not in ("SHN_UNDEF", "SHN_ABS"):
                found.append(
                    (
                        int(symbol["st_value"]),
                        int(symbol["st_size"]),
                        symbol.name,
                        kind in ("STT_FUNC", "STT_GNU_IFUNC"),
                    )
                )
    return found


def pyelftools_table(pid: int, path: str, bias: int, build_id: bytes | str | None) -> SortedTable:
    """What a profiler written with pyelftools builds once per image: its
    .symtab and .dynsym, and the separate debug file's .symtab found by
    build-id (a stripped libc has only .dynsym), sorted by address."""
    from elftools.elf.elffile import ELFFile

    with open(f"/proc/{pid}/root{path}", "rb") as file:
        symbols = _elf_symbols(ELFFile(file), (".symtab", ".dynsym"))
    if isinstance(build_id, str) and len(build_id) > 2:
        debug = f"{DEBUG_ROOT}/.build-id/{build_id[:2]}/{build_id[2:]}.debug"
        if os.path.exists(debug):
            with open(debug, "rb") as file:
                symbols += _elf_symbols(ELFFile(file), (".symtab",))
    symbols = sorted(set(symbols))
    return SortedTable(path, bias, [symbol[0] for symbol in symbols], symbols)


def pyelftools_lookup(tables: Sequence[SortedTable], addrs: Sequence[int]) -> list[int | None]:
    """The runtime start of the symbol holding each address, or None (a
    function of size 0 holds what follows it up to the next symbol)."""
    spans = sorted((table.bias + table.values[0], table) for table in tables if table.values)
    answers: list[int | None] = []
    for addr in addrs:
        at = bisect_right(spans, addr, key=lambda span: span[0]) - 1
        if at < 0:
            answers.append(None)
            continue
        table = spans[at][1]
        vaddr = addr - table.bias
        i = bisect_right(table.values, vaddr) - 1
        if i < 0:
            answers.append(None)
            continue
        value, size, _name, is_function = table.symbols[i]
        holds = vaddr < value + size or (size == 0 and is_function)
        answers.append(value + table.bias if holds else None)
    return answers


def pyelftools_symbolize(pid: int, images: Sequence[tuple[str, int, Any]], addrs: Sequence[int]):
    tables = [pyelftools_table(pid, path, bias, build_id) for path, bias, build_id in images]
    return pyelftools_lookup(tables, addrs)


# --------------------------------------------------------------------------
# The cases


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"


def us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:.2f}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}x"


def images_case(
    memmaps: Any, executable: Path, cache: Path, mode: str, count: int, options
) -> Table:
    with running([str(executable), mode, str(cache / "libs"), str(count)]) as pid:
        raw = read_raw(pid)
        readers = [
            Reader("raw", "raw read of maps (floor)", lambda: read_raw(pid)),
            Reader("memmaps", "memmaps.images", lambda: memmaps.images(pid)),
        ]
        if options.elftools:
            readers.append(Reader("pyelftools", "pyelftools", lambda: pyelftools_images(pid)))
        results = measure(readers, options.budget, options.max_repeats)
    floor, mine = median_of(results, "raw"), median_of(results, "memmaps")
    found = next(item.result for item in results if item.key == "memmaps")
    expected = count + TARGET_OWN_IMAGES
    rows = []
    for item in results:
        if item.error is not None:
            rows.append([item.label, f"failed: {item.error}"])
            continue
        if item.key == "raw":
            images, agree = "-", "-"
        elif item.key == "memmaps":
            images, agree = str(len(item.result)), "yes" if len(item.result) >= expected else "NO"
        else:
            images = str(len(item.result))
            theirs = {(path, bias) for path, bias, _ in item.result}
            mine_set = {(image.path, image.bias) for image in found or ()}
            agree = "yes" if theirs <= mine_set else "NO"
        rows.append(
            [
                item.label,
                ms(item.median),
                str(len(item.samples)),
                us(None if item.median is None else item.median / count),
                ratio(item.median, floor),
                ratio(item.median, mine) if item.key == "pyelftools" else "-",
                images,
                agree,
            ]
        )
    lines = raw.count(b"\n")
    return Table(
        f"images(): {mode}, N={count} images, maps {lines} lines, {len(raw) / 1e6:.2f} MB",
        [
            "reader",
            "median ms",
            "repeats",
            "us/image",
            "x raw read",
            "memmaps faster",
            "images",
            "agree",
        ],
        rows,
        data={
            "mode": mode,
            "n": count,
            "maps_lines": lines,
            "per_image_us": None if mine is None else mine / count * 1e6,
            "readers": [measurement_json(item) for item in results],
        },
    )


def python_target() -> list[str]:
    return [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"]


def symbol_case(memmaps: Any, pid: int, options) -> Table:
    rows = []
    data: dict[str, Any] = {"symbols": {}}
    for name in SYMBOLS:
        process = memmaps.Process(pid)
        readers = [
            Reader(
                "scratch", f"symbol_address({name})", lambda n=name: memmaps.symbol_address(pid, n)
            ),
            Reader(
                "process",
                f"Process.symbol({name}) again",
                lambda n=name, p=process: p.symbol(n).address,
                batch=BATCH,
            ),
        ]
        if options.elftools:
            readers.append(
                Reader(
                    "pyelftools", f"pyelftools ({name})", lambda n=name: pyelftools_symbol(pid, n)
                )
            )
        results = measure(readers, options.budget, options.max_repeats)
        process.close()
        kept = median_of(results, "process")
        addresses = {item.result for item in results if item.error is None}
        for item in results:
            if item.error is not None:
                rows.append([item.label, f"failed: {item.error}"])
                continue
            rows.append(
                [
                    item.label,
                    us(item.median),
                    str(len(item.samples) * (BATCH if item.key == "process" else 1)),
                    ratio(item.median, kept),
                    f"{item.result:#x}" if isinstance(item.result, int) else str(item.result),
                    "yes" if len(addresses) == 1 else "NO",
                ]
            )
        data["symbols"][name] = [measurement_json(item) for item in results]
    return Table(
        f"symbol(): a running {os.path.basename(sys.executable)}, pid {pid}",
        ["call", "median us", "calls", "x Process.symbol", "address", "agree"],
        rows,
        notes=[
            "goal: Process.symbol asked again at least 100x faster than symbol_address from scratch"
        ],
        data=data,
    )


def text_addresses(pid: int, count: int, seed: int) -> tuple[list[int], list[str]]:
    """count addresses, half in libpython's text (the executable's when it
    is linked statically), half in libc's, shuffled as samples come."""
    lines = maps_lines(pid)
    executable = os.path.realpath(f"/proc/{pid}/exe")
    groups: dict[str, list[MapsLine]] = {}
    for line in lines:
        if "x" not in line.perms:
            continue
        name = os.path.basename(line.path)
        if name.startswith("libpython"):
            groups.setdefault("libpython", []).append(line)
        elif name.startswith("libc.so") or name.startswith("libc-"):
            groups.setdefault("libc", []).append(line)
        elif line.path == executable:
            groups.setdefault("executable", []).append(line)
    chosen = [groups["libpython" if "libpython" in groups else "executable"], groups["libc"]]
    rng = random.Random(seed)
    addrs = []
    for group in chosen:
        for _ in range(count // len(chosen)):
            line = rng.choice(group)
            addrs.append(rng.randrange(line.start, line.end))
    rng.shuffle(addrs)
    return addrs, [os.path.basename(group[0].path) for group in chosen]


def symbolize_case(memmaps: Any, pid: int, options) -> Table:
    addrs, names = text_addresses(pid, options.addresses, options.seed)
    process = memmaps.Process(pid)
    readers = [
        Reader("scratch", "memmaps.symbolize", lambda: memmaps.symbolize(pid, addrs)),
        Reader("process", "Process.symbolize again", lambda: process.symbolize(addrs)),
    ]
    if options.elftools:
        lines = maps_lines(pid)
        wanted = {line.path for line in lines if os.path.basename(line.path) in names}
        images = [image for image in pyelftools_images(pid) if image[0] in wanted]
        ids = {path: build_id for path, _bias, build_id in images}
        with_ids = [
            (path, bias, ids[path].decode() if isinstance(ids[path], bytes) else ids[path])
            for path, bias, _ in images
        ]
        tables = [pyelftools_table(pid, *image) for image in with_ids]
        readers += [
            Reader(
                "pyelftools",
                "pyelftools, from scratch",
                lambda: pyelftools_symbolize(pid, with_ids, addrs),
            ),
            Reader(
                "pyelftools_kept",
                "pyelftools, tables kept",
                lambda: pyelftools_lookup(tables, addrs),
            ),
        ]
    results = measure(readers, options.budget, options.max_repeats)
    process.close()
    kept = median_of(results, "process")
    reference = next(
        (item.result for item in results if item.key == "process" and item.error is None), None
    )
    reference_starts = (
        None if reference is None else [None if s is None else s.address for s in reference]
    )
    rows = []
    for item in results:
        if item.error is not None:
            rows.append([item.label, f"failed: {item.error}"])
            continue
        starts = (
            [None if s is None else s.address for s in item.result]
            if item.key in ("scratch", "process")
            else item.result
        )
        found = sum(start is not None for start in starts)
        agree = "-"
        if reference_starts is not None:
            same = sum(a == b for a, b in zip(starts, reference_starts, strict=True))
            agree = f"{100 * same / len(addrs):.1f}%"
        rows.append(
            [
                item.label,
                ms(item.median),
                str(len(item.samples)),
                ratio(item.median, kept),
                str(found),
                agree,
            ]
        )
    return Table(
        f"symbolize(): {len(addrs)} addresses in the text of {' and '.join(names)}, pid {pid}",
        ["call", "median ms", "repeats", "x Process.symbolize", "found", "agree"],
        rows,
        notes=[
            "goal: under 20 ms for the 10,000; agree: the same symbol start as Process.symbolize"
        ],
        data={"addresses": len(addrs), "readers": [measurement_json(item) for item in results]},
    )


def measurement_json(item: Measurement) -> dict[str, Any]:
    return {
        "reader": item.key,
        "label": item.label,
        "error": item.error,
        "repeats": len(item.samples),
        "median_ms": None if item.median is None else item.median * 1e3,
        "samples_ms": [sample * 1e3 for sample in item.samples],
    }


# --------------------------------------------------------------------------
# Output and command line


def format_table(table: Table) -> str:
    widths = [max(len(table.columns[0]), *(len(row[0]) for row in table.rows)) + 2]
    widths += [len(column) + 2 for column in table.columns[1:]]
    for row in table.rows:
        for i, cell in enumerate(row[1:], 1):
            if i < len(widths) and len(row) == len(widths):
                widths[i] = max(widths[i], len(cell) + 2)
    lines = [f"== {table.title} =="]
    lines.append(
        table.columns[0].ljust(widths[0])
        + "".join(c.rjust(w) for c, w in zip(table.columns[1:], widths[1:], strict=True))
    )
    for row in table.rows:
        if len(row) != len(widths):  # a failed reader: its message
            lines.append(row[0].ljust(widths[0]) + "  " + " ".join(row[1:]))
            continue
        lines.append(
            row[0].ljust(widths[0])
            + "".join(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))
        )
    lines += table.notes
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES), metavar="N,N,...")
    parser.add_argument("--mode", choices=("mmap", "dlopen"), default="mmap")
    parser.add_argument("--budget", type=positive_float, default=1.0, metavar="SECONDS")
    parser.add_argument("--max-repeats", type=int, default=25, metavar="K")
    parser.add_argument("--addresses", type=int, default=10_000, metavar="K")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, metavar="DIR")
    parser.add_argument("--cc", default=os.environ.get("CC", "cc"), metavar="CC")
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument(
        "--only", choices=("images", "symbol", "symbolize"), action="append", metavar="PART"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("bench_symbols: error: Linux only", file=sys.stderr)
        return 1
    try:
        import memmaps
    except ImportError as exc:
        print(f"bench_symbols: error: memmaps is not importable ({exc})", file=sys.stderr)
        return 1
    try:
        import elftools  # noqa: F401
    except ImportError:
        options.elftools = False
        print("note: pyelftools is not installed (pip install pyelftools)", file=sys.stderr)
    else:
        options.elftools = True
    parts = options.only or ["images", "symbol", "symbolize"]
    tables = []
    try:
        if "images" in parts:
            with open("/proc/sys/vm/max_map_count") as limit:
                max_maps = int(limit.read())
            too_many = [n for n in options.sizes if n * MAPPINGS_PER_IMAGE + 100 > max_maps]
            if too_many:
                raise BenchError(
                    f"N={too_many[0]} images need more than vm.max_map_count={max_maps}"
                )
            executable = prepare_images(options.cache, options.cc, max(options.sizes))
            for count in options.sizes:
                table = images_case(
                    memmaps, executable, options.cache, options.mode, count, options
                )
                tables.append(table)
                print(format_table(table) + "\n", flush=True)
            per_image = [
                (t.data["n"], t.data["per_image_us"]) for t in tables if t.data["per_image_us"]
            ]
            if len(per_image) > 1:
                print(
                    "images() per image: "
                    + ", ".join(f"N={n}: {cost:.1f} us" for n, cost in per_image)
                    + f" (largest N / smallest N: {per_image[-1][1] / per_image[0][1]:.2f};"
                    " 1.00 is linear; goal at most 200 us)\n"
                )
        if "symbol" in parts or "symbolize" in parts:
            with running(python_target()) as pid:
                if "symbol" in parts:
                    tables.append(symbol_case(memmaps, pid, options))
                    print(format_table(tables[-1]) + "\n", flush=True)
                if "symbolize" in parts:
                    tables.append(symbolize_case(memmaps, pid, options))
                    print(format_table(tables[-1]) + "\n", flush=True)
    except BenchError as exc:
        print(f"bench_symbols: error: {exc}", file=sys.stderr)
        return 1
    if options.json is not None:
        options.json.write_text(
            json.dumps(
                {
                    "machine": machine_description(),
                    "tables": [{"title": t.title, **t.data} for t in tables],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
