"""Time memmaps.regions() against the kernel's own cost and against peers.

For each mode (anonymous, file-backed, deleted-file, shared anonymous and
memfd mappings) and each size N, a small C target (target.c, compiled here
with ``cc -O2``) maps N one-page regions the kernel cannot merge and waits.
Each reader below then lists the target's regions; the table shows the
median wall time, its ratio to the raw read of the same /proc/PID/maps in the
same round (the floor: what the kernel alone costs), and how many times
faster memmaps is than each of the others.

Readers:
  raw read             open + read to EOF of /proc/PID/maps as bytes
  memmaps.regions      the library under test; it makes each Region when
                       first asked for, so this is what a caller that looks
                       at a few regions (at(), one address) pays
  + every Region made  memmaps.regions(pid) then every Region of it: what
                       the peers below are compared with, since they build
                       all their objects at once
  plain Python parser  the raw read plus a straightforward line parser
  procmaps.from_pid    PyPI ``procmaps`` (Rust), when installed
  psutil memory_maps   ``psutil.Process(pid).memory_maps(grouped=False)``,
                       when installed; it reads smaps, so it does more work

Linux only; stdlib only apart from the optional peers.  See README.md.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGET_SOURCE = HERE / "target.c"
MODES = ("anon", "file", "deleted", "shared", "memfd")
# The modes whose target maps a file the benchmark names.
FILE_MODES = ("file", "deleted")
DEFAULT_SIZES = (1000, 20000, 60000)
# Mappings the target has besides its N (binary, libc, ld.so, stack, vdso
# ...), kept as headroom below vm.max_map_count.
TARGET_OWN_MAPPINGS = 100
# A median of fewer than this many calls is taken only when one call alone
# exceeds the time budget (psutil at large N).
MIN_REPEATS = 3


# memmaps makes each Region when it is first asked for; the peers build all
# their objects at once.  So the peers are compared with a reader that asks
# for every Region, and memmaps.regions alone shows what a caller that looks
# at a few pays.
LIKE_FOR_LIKE = "memmaps_all"


class BenchError(Exception):
    """A problem that ends the run with a one-line message, no traceback."""


# --------------------------------------------------------------------------
# Readers


def read_raw(pid: int) -> bytes:
    """Read /proc/PID/maps to EOF: the kernel's own cost, the floor.

    buffering=0 gives a bare FileIO, so this is open() plus read() syscalls
    until one returns 0, with no Python-level buffering or decoding.
    """
    with open(f"/proc/{pid}/maps", "rb", buffering=0) as maps:
        return maps.readall()


MapsRow = tuple[int, int, str, int, int, int, int, str | None]


def parse_maps_text(data: bytes) -> list[MapsRow]:
    """Parse maps text the plain way: one tuple per line.

    (start, end, perms, offset, dev_major, dev_minor, inode, name).  This is
    a baseline, so it does less than memmaps: no kind, no " (deleted)" or
    "\\012" handling.  It still respects the format's traps: names are raw
    bytes (decoded like os.fsdecode), and may contain spaces, tabs or form
    feeds, so lines are split on "\\n" only and the name is never split.
    """
    text = os.fsdecode(data)
    rows: list[MapsRow] = []
    # str.splitlines() would also split on \x0b, \x0c, \x1c-\x1e and \x85,
    # which the kernel leaves raw inside names.  The text ends with "\n", so
    # the last item of split() is the empty remainder.
    for line in text.split("\n")[:-1]:
        addresses, perms, offset, device, rest = line.split(" ", 4)
        inode = rest.partition(" ")[0]
        start, end = addresses.split("-")
        major, minor = device.split(":")
        # The kernel pads the prefix (up to and including the space after
        # the inode) to 72 columns and writes one more space before the
        # name: the name starts at column max(prefix, 72) + 1, i.e. 73 for
        # every ordinary line.  A nameless line stops after the prefix.
        prefix_length = len(line) - len(rest) + len(inode) + 1
        name = line[max(prefix_length, 72) + 1 :] or None
        rows.append(
            (
                int(start, 16),
                int(end, 16),
                perms,
                int(offset, 16),
                int(major, 16),
                int(minor, 16),
                int(inode),
                name,
            )
        )
    return rows


def plain_python_parser(pid: int) -> list[MapsRow]:
    return parse_maps_text(read_raw(pid))


def count_lines(data: bytes) -> int:
    return data.count(b"\n")


@dataclass(frozen=True)
class Reader:
    key: str  # stable identifier, used in the JSON output
    label: str  # shown in the table
    call: Callable[[int], Any]  # pid -> the reader's result
    count: Callable[[Any], int] = len  # result -> number of regions


@dataclass
class Availability:
    readers: list[Reader]
    versions: dict[str, str]
    notes: list[str] = field(default_factory=list)  # why something is skipped


_MEMMAPS_HINT = (
    "build it first, e.g. `pip install -e .` or an in-place build run with "
    "PYTHONPATH=<checkout>; measuring the floor and the peers only"
)


def find_readers() -> Availability:
    """The readers that can run here, with a note for each one that cannot."""
    readers = [Reader("raw_read", "raw read (floor)", read_raw, count_lines)]
    versions: dict[str, str] = {}
    notes: list[str] = []

    memmaps = _import_optional("memmaps", notes, hint=_MEMMAPS_HINT)
    if memmaps is not None:
        if hasattr(memmaps, "regions"):
            readers.append(Reader("memmaps", "memmaps.regions", memmaps.regions))

            def every_region_made(pid: int) -> tuple[Any, ...]:
                return tuple(memmaps.regions(pid))

            readers.append(Reader(LIKE_FOR_LIKE, "  + every Region made", every_region_made))
            versions["memmaps"] = _describe(memmaps)
        else:
            notes.append(f"memmaps in {_location(memmaps)} has no regions(): skipped")

    readers.append(Reader("plain", "plain Python parser", plain_python_parser))

    procmaps = _import_optional("procmaps", notes, hint="pip install procmaps")
    if procmaps is not None:
        readers.append(Reader("procmaps", "procmaps.from_pid", procmaps.from_pid))
        versions["procmaps"] = _describe(procmaps)

    psutil = _import_optional("psutil", notes, hint="pip install psutil")
    if psutil is not None:

        def psutil_memory_maps(pid: int) -> Any:
            # grouped=False is the per-region listing comparable to the
            # others (grouped=True sums regions by path).
            return psutil.Process(pid).memory_maps(grouped=False)

        readers.append(Reader("psutil", "psutil memory_maps", psutil_memory_maps))
        versions["psutil"] = _describe(psutil)

    return Availability(readers, versions, notes)


def _import_optional(name: str, notes: list[str], *, hint: str) -> Any:
    try:
        return importlib.import_module(name)
    # Not just ImportError: a half-built extension can fail in other ways
    # (OSError from the loader, AttributeError in __init__), and the run
    # should still report the others.
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        notes.append(f"{name} is not importable ({reason}): {hint}")
        return None


def _describe(module: Any) -> str:
    """Version and location, so a run says which build it measured."""
    try:
        version = importlib.metadata.version(module.__name__)
    except importlib.metadata.PackageNotFoundError:  # e.g. an in-place build
        version = getattr(module, "__version__", "version unknown")
    return f"{version} ({_location(module)})"


def _location(module: Any) -> str:
    # A namespace package (a source checkout's memmaps/ without its
    # __init__.py yet) has no __file__, only __path__.
    if getattr(module, "__file__", None):
        return str(Path(module.__file__).parent)
    return ", ".join(getattr(module, "__path__", [])) or "an unknown place"


# --------------------------------------------------------------------------
# The target process


def build_target(workdir: Path, compiler: str) -> Path:
    """Compile target.c into workdir and return the executable's path."""
    executable = workdir / "target"
    # No -Werror here: a warning from some other compiler version must not
    # stop a benchmark run (the source is kept warning-free separately).
    command = [
        compiler,
        "-O2",
        "-Wall",
        "-Wextra",
        "-o",
        str(executable),
        str(TARGET_SOURCE),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BenchError(f"no C compiler {compiler!r}: set CC or pass --cc") from None
    if result.returncode != 0:
        details = result.stderr.strip().replace("\n", " | ")
        raise BenchError(f"compiling {TARGET_SOURCE.name} failed: {details}")
    return executable


@contextmanager
def running_target(executable: Path, mode: str, count: int, workdir: Path) -> Iterator[int]:
    """Start the target with `count` mappings; yield its pid once ready."""
    argv = [str(executable), mode, str(count)]
    if mode in FILE_MODES:
        # One backing file for every N, so the path (whose length is part of
        # the kernel's cost per line) is the same throughout the run; the
        # deleted mode's target unlinks its own.
        argv.append(str(workdir / ("backing" if mode == "file" else "unlinked")))
    process = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin and process.stdout and process.stderr
    try:
        if process.stdout.readline() != b"ready\n":
            process.stdin.close()
            process.wait()
            message = process.stderr.read().decode(errors="replace").strip()
            raise BenchError(
                message
                or f"target {mode} {count} exited with status "
                f"{process.returncode} before it was ready"
            )
        yield process.pid
    finally:
        process.stdin.close()  # EOF on its stdin is the target's signal to exit
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


# --------------------------------------------------------------------------
# Timing


@dataclass
class Measurement:
    key: str
    label: str
    samples: list[float] = field(default_factory=list)  # seconds
    rounds: list[int] = field(default_factory=list)  # the round of each sample
    regions: int | None = None
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def time_call(reader: Reader, pid: int) -> tuple[float, Any]:
    """One timed call of reader.call(pid): (seconds, result).

    GC stays enabled, as users run it, but a collection first keeps this
    call from paying for garbage left by an earlier one.
    """
    gc.collect()
    started = time.perf_counter()
    value = reader.call(pid)
    return time.perf_counter() - started, value


def measure(
    readers: Sequence[Reader], pid: int, budget: float, max_repeats: int
) -> list[Measurement]:
    """Time every reader on `pid`, spending about `budget` seconds on each.

    A first call per reader warms up (lazy imports, allocator, the page
    cache of the backing file), counts the regions and estimates the cost;
    it is thrown away unless it alone took the whole budget, in which case
    it is the only sample (so slow peers do not stretch the run).  The timed
    calls then go in rounds, one call per reader per round, so that a change
    in machine load or clock speed during the run hits all readers alike
    instead of whichever happened to be running; the raw read comes first in
    every round and memmaps right after it, so each memmaps call has a floor
    measured next to it.  A reader that raises is reported as failed and not
    called again.
    """
    results = [Measurement(reader.key, reader.label) for reader in readers]
    repeats = [0] * len(readers)
    for index, (reader, result) in enumerate(zip(readers, results, strict=True)):
        try:
            first, value = time_call(reader, pid)
            result.regions = reader.count(value)
        except Exception as exc:  # shown in the table, the run goes on
            result.error = f"{type(exc).__name__}: {exc}"
            continue
        del value  # freed outside any timed window
        if first >= budget:
            result.samples.append(first)
            result.rounds.append(-1)  # the warm-up round
        else:
            affordable = int(budget / max(first, 1e-9))
            repeats[index] = min(max_repeats, max(MIN_REPEATS, affordable))

    for round_number in range(max(repeats)):
        for index, (reader, result) in enumerate(zip(readers, results, strict=True)):
            if round_number >= repeats[index] or result.error is not None:
                continue
            try:
                elapsed, value = time_call(reader, pid)
            except Exception as exc:  # shown in the table, the run goes on
                result.error = f"{type(exc).__name__}: {exc}"
                result.samples.clear()
                result.rounds.clear()
                continue
            del value
            result.samples.append(elapsed)
            result.rounds.append(round_number)
    return results


@dataclass
class Case:
    mode: str
    count: int
    maps_lines: int
    maps_bytes: int
    measurements: list[Measurement]

    def median_of(self, key: str) -> float | None:
        item = self.find(key)
        return item.median if item is not None else None

    def find(self, key: str) -> Measurement | None:
        for item in self.measurements:
            if item.key == key and item.samples:
                return item
        return None

    def ratio(self, item: Measurement, base_key: str) -> float | None:
        """The median of item's time / base's time over the rounds both ran.

        The machine's speed drifts during a run (another job starts, the
        clock changes) by enough to move a ratio of medians by tenths; a
        ratio taken within each round, between calls made one after the
        other, leaves the drift out.  A reader timed only in its warm-up
        call is compared with the base's median.
        """
        base = self.find(base_key)
        if base is None or not item.samples:
            return None
        by_round = dict(zip(base.rounds, base.samples, strict=True))
        paired = [
            sample / by_round[round_number]
            for sample, round_number in zip(item.samples, item.rounds, strict=True)
            if round_number in by_round
        ]
        return statistics.median(paired) if paired else item.median / base.median


def run_case(
    executable: Path,
    workdir: Path,
    mode: str,
    count: int,
    readers: Sequence[Reader],
    budget: float,
    max_repeats: int,
) -> Case:
    with running_target(executable, mode, count, workdir) as pid:
        maps = read_raw(pid)
        if count_lines(maps) < count:
            raise BenchError(
                f"target {mode} {count} shows only {count_lines(maps)} lines "
                "in /proc/PID/maps: were its mappings merged?"
            )
        measurements = measure(readers, pid, budget, max_repeats)
    return Case(mode, count, count_lines(maps), len(maps), measurements)


# --------------------------------------------------------------------------
# Output


def format_case(case: Case) -> str:
    lines = [
        (
            f"== {case.mode}, N={case.count}: /proc/PID/maps has "
            f"{case.maps_lines} lines, {case.maps_bytes / 1e6:.2f} MB =="
        ),
        (
            f"{'reader':<22}{'median ms':>11}{'repeats':>9}{'x raw read':>12}"
            f"{'memmaps faster':>16}{'regions':>9}"
        ),
    ]
    for item in case.measurements:
        if item.error is not None:
            lines.append(f"{item.label:<22}  failed: {item.error}")
            continue
        median = item.median
        x_raw_ratio = case.ratio(item, "raw_read")
        x_raw = f"{x_raw_ratio:.2f}" if x_raw_ratio is not None else "-"
        faster_ratio = case.ratio(item, LIKE_FOR_LIKE)
        faster = (
            f"{faster_ratio:.2f}x"
            if faster_ratio is not None and item.key not in _MEMMAPS_READERS
            else "-"
        )
        regions = f"{item.regions}"
        if item.regions != case.maps_lines:
            regions += " !"  # differs from the line count: see README
        lines.append(
            f"{item.label:<22}{median * 1e3:>11.3f}{len(item.samples):>9}"
            f"{x_raw:>12}{faster:>16}{regions:>9}"
        )
    return "\n".join(lines)


_MEMMAPS_READERS = ("raw_read", "memmaps", LIKE_FOR_LIKE)


def case_to_json(case: Case) -> dict[str, Any]:
    readers = []
    for item in case.measurements:
        entry: dict[str, Any] = {
            "reader": item.key,
            "label": item.label,
            "regions": item.regions,
            "error": item.error,
            "repeats": len(item.samples),
            "samples_ms": [s * 1e3 for s in item.samples],
            "rounds": item.rounds,
        }
        if item.samples:
            median = item.median
            entry["median_ms"] = median * 1e3
            entry["min_ms"] = min(item.samples) * 1e3
            entry["x_raw_read"] = case.ratio(item, "raw_read")
            entry["memmaps_faster"] = (
                case.ratio(item, LIKE_FOR_LIKE) if item.key not in _MEMMAPS_READERS else None
            )
        readers.append(entry)
    return {
        "mode": case.mode,
        "n": case.count,
        "maps_lines": case.maps_lines,
        "maps_bytes": case.maps_bytes,
        "readers": readers,
    }


def machine_description() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as uptime prints them: figures
    from a machine that was busy are worth less, and say so."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


# --------------------------------------------------------------------------
# Command line


def parse_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(item) for item in parse_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"sizes must be comma-separated integers, got {text!r}"
        ) from None
    if not sizes or any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return sizes


def add_case_options(
    parser: argparse.ArgumentParser, modes: Sequence[str], sizes: Sequence[int]
) -> None:
    """The options of a benchmark that reads targets of the modes given at
    the sizes given: --sizes, --modes, --budget, --max-repeats, --json and
    --cc."""
    parser.add_argument("--sizes", type=parse_sizes, default=list(sizes))
    parser.add_argument("--modes", type=mode_parser(modes), default=list(modes))
    parser.add_argument("--budget", type=positive_float, default=1.0, metavar="SECONDS")
    parser.add_argument("--max-repeats", type=positive_int, default=15, metavar="K")
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument("--cc", default="cc")


def mode_parser(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated list of the allowed modes."""

    def parse_modes(text: str) -> list[str]:
        modes = parse_list(text)
        unknown = sorted(set(modes) - set(allowed))
        if not modes or unknown:
            raise argparse.ArgumentTypeError(f"modes are {', '.join(allowed)}; got {text!r}")
        return modes

    return parse_modes


parse_modes = mode_parser(MODES)


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time memmaps.regions() against the raw read of "
        "/proc/PID/maps, a plain Python parser, procmaps and psutil.",
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        metavar="N,N,...",
        help="numbers of mappings in the target (default: %(default)s)",
    )
    parser.add_argument(
        "--modes",
        type=parse_modes,
        default=list(MODES),
        metavar="MODE,...",
        help=f"some of {', '.join(MODES)} (default: all)",
    )
    parser.add_argument(
        "--budget",
        type=positive_float,
        default=1.0,
        metavar="SECONDS",
        help="time to spend per reader and case (default: %(default)s); a "
        "reader slower than this is called once",
    )
    parser.add_argument(
        "--max-repeats",
        type=positive_int,
        default=25,
        metavar="K",
        help="cap on timed calls per reader and case (default: %(default)s)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write the figures to FILE as JSON",
    )
    parser.add_argument(
        "--cc",
        default=os.environ.get("CC", "cc"),
        help="C compiler for target.c (default: $CC or cc)",
    )
    return parser


def check_map_count_limit(sizes: Sequence[int]) -> None:
    try:
        limit = int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        return  # unknown: let the target report ENOMEM if it comes to that
    too_big = [size for size in sizes if size + TARGET_OWN_MAPPINGS > limit]
    if too_big:
        raise BenchError(
            f"sizes {too_big} do not fit under vm.max_map_count={limit} "
            f"(the target needs N + ~{TARGET_OWN_MAPPINGS})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    try:
        if not sys.platform.startswith("linux"):
            raise BenchError("this benchmark needs Linux (/proc/PID/maps)")
        check_map_count_limit(options.sizes)
        available = find_readers()
        for note in available.notes:
            print(f"note: {note}", file=sys.stderr)

        machine = machine_description()
        print(
            f"Linux {machine['kernel']} {machine['machine']}, {machine['cpu']} "
            f"({machine['cpus']} CPUs), {machine['implementation']} "
            f"{machine['python']}"
        )
        for name, version in available.versions.items():
            print(f"{name} {version}")
        loads = {"start": load_average()}
        print(f"load average at the start: {loads['start']}")
        print()

        cases = []
        with tempfile.TemporaryDirectory(prefix="memmaps-bench-") as tmp:
            workdir = Path(tmp)
            executable = build_target(workdir, options.cc)
            for mode in options.modes:
                for count in options.sizes:
                    case = run_case(
                        executable,
                        workdir,
                        mode,
                        count,
                        available.readers,
                        options.budget,
                        options.max_repeats,
                    )
                    print(format_case(case), end="\n\n", flush=True)
                    cases.append(case)
    except BenchError as exc:
        print(f"bench_regions: error: {exc}", file=sys.stderr)
        return 1
    loads["end"] = load_average()
    print(f"load average at the end: {loads['end']}")

    if options.json is not None:
        report = {
            "machine": machine,
            "load_average": loads,
            "versions": available.versions,
            "notes": available.notes,
            "settings": {
                "budget_s": options.budget,
                "max_repeats": options.max_repeats,
            },
            "cases": [case_to_json(case) for case in cases],
        }
        try:
            options.json.write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:
            print(f"bench_regions: error: writing {options.json}: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {options.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
