"""Time memmaps' usage figures against the kernel's own cost and psutil.

Same targets as bench_regions.py (N one-page mappings the kernel cannot
merge; here also "dirty" ones, written once so their figures are not zero).
Two tables per target:

  per region   the raw read of /proc/PID/smaps (the floor), then
               memmaps.regions(pid, usage=True), psutil's
               memory_maps(grouped=False) and memory_maps(grouped=True)
  per process  the raw read of /proc/PID/smaps_rollup (the floor), then
               memmaps.usage(pid) and psutil's memory_full_info()

Each row shows the median wall time, its ratio to the floor of its table,
and how many times faster memmaps is.  Linux only; stdlib only apart from
psutil.  See README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_regions import (
    BenchError,
    Measurement,
    Reader,
    add_case_options,
    build_target,
    check_map_count_limit,
    machine_description,
    measure,
    running_target,
)

MODES = ("anon", "dirty", "file")
DEFAULT_SIZES = (2000, 20000, 60000)


def read_proc(pid: int, name: str) -> bytes:
    """One /proc file read to EOF, unbuffered: what the kernel alone costs."""
    with open(f"/proc/{pid}/{name}", "rb", buffering=0) as file:
        return file.readall()


def smaps_regions(data: bytes) -> int:
    # A region line is the only kind whose first field holds a '-'.
    return sum(1 for line in data.splitlines() if b"-" in line.split(b" ", 1)[0])


def readers() -> tuple[list[Reader], list[Reader], list[str]]:
    notes: list[str] = []
    import memmaps

    per_region = [
        Reader("raw_read", "raw read of smaps", lambda pid: read_proc(pid, "smaps"), smaps_regions),
        Reader("memmaps", "regions(usage=True)", lambda pid: memmaps.regions(pid, usage=True)),
        Reader(
            "memmaps_grouped",
            "...group_by_path()",
            lambda pid: memmaps.regions(pid, usage=True).group_by_path(),
        ),
    ]
    per_process = [
        Reader(
            "raw_read",
            "raw read of rollup",
            lambda pid: read_proc(pid, "smaps_rollup"),
            lambda data: 1,
        ),
        Reader("memmaps", "memmaps.usage()", memmaps.usage, lambda usage: 1),
    ]
    try:
        import psutil
    except ImportError:
        notes.append("psutil is not installed (pip install psutil): its rows are skipped")
    else:
        per_region += [
            Reader(
                "psutil",
                "psutil grouped=False",
                lambda pid: psutil.Process(pid).memory_maps(grouped=False),
            ),
            Reader(
                "psutil_grouped",
                "psutil grouped=True",
                lambda pid: psutil.Process(pid).memory_maps(grouped=True),
            ),
        ]
        per_process.append(
            Reader(
                "psutil",
                "psutil memory_full_info",
                lambda pid: psutil.Process(pid).memory_full_info(),
                lambda info: 1,
            )
        )
    return per_region, per_process, notes


def median_of(measurements: Sequence[Measurement], key: str) -> float | None:
    for item in measurements:
        if item.key == key and item.samples:
            return item.median
    return None


def format_table(title: str, measurements: Sequence[Measurement]) -> str:
    floor = median_of(measurements, "raw_read")
    subject = median_of(measurements, "memmaps")
    grouped = median_of(measurements, "memmaps_grouped")
    lines = [
        title,
        f"{'reader':<26}{'median ms':>11}{'repeats':>9}{'x floor':>9}"
        f"{'memmaps faster':>16}{'items':>8}",
    ]
    for item in measurements:
        if item.error is not None:
            lines.append(f"{item.label:<26}  failed: {item.error}")
            continue
        median = item.median
        # Grouped listings are compared with memmaps' grouped listing.
        mine = grouped if item.key == "psutil_grouped" else subject
        faster = (
            f"{median / mine:.2f}x"
            if mine and item.key not in ("raw_read", "memmaps", "memmaps_grouped")
            else "-"
        )
        lines.append(
            f"{item.label:<26}{median * 1e3:>11.3f}{len(item.samples):>9}"
            f"{median / floor if floor else float('nan'):>9.2f}{faster:>16}{item.regions!s:>8}"
        )
    return "\n".join(lines)


def to_json(measurements: Sequence[Measurement]) -> list[dict[str, Any]]:
    floor = median_of(measurements, "raw_read")
    return [
        {
            "reader": item.key,
            "label": item.label,
            "error": item.error,
            "items": item.regions,
            "samples_ms": [sample * 1e3 for sample in item.samples],
            "median_ms": item.median * 1e3 if item.samples else None,
            "x_floor": item.median / floor if item.samples and floor else None,
        }
        for item in measurements
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time memmaps.regions(usage=True) and memmaps.usage() against "
        "the raw read of smaps and smaps_rollup, and psutil."
    )
    add_case_options(parser, MODES, DEFAULT_SIZES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    report: dict[str, Any] = {"machine": machine_description(), "cases": []}
    try:
        if not sys.platform.startswith("linux"):
            raise BenchError("this benchmark needs Linux (/proc/PID/smaps)")
        check_map_count_limit(options.sizes)
        try:
            per_region, per_process, notes = readers()
        except ImportError as exc:
            raise BenchError(f"memmaps is not importable ({exc}): pip install -e . first") from None
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        machine = report["machine"]
        print(
            f"Linux {machine['kernel']}, {machine['cpu']} ({machine['cpus']} CPUs), "
            f"Python {machine['python']}\n"
        )
        with tempfile.TemporaryDirectory(prefix="memmaps-bench-") as tmp:
            workdir = Path(tmp)
            executable = build_target(workdir, options.cc)
            for mode in options.modes:
                for count in options.sizes:
                    with running_target(executable, mode, count, workdir) as pid:
                        regions = measure(per_region, pid, options.budget, options.max_repeats)
                        totals = measure(per_process, pid, options.budget, options.max_repeats)
                    print(format_table(f"== {mode}, N={count}: per region ==", regions))
                    print(format_table(f"== {mode}, N={count}: per process ==", totals), end="\n\n")
                    report["cases"].append(
                        {
                            "mode": mode,
                            "n": count,
                            "per_region": to_json(regions),
                            "per_process": to_json(totals),
                        }
                    )
    except BenchError as exc:
        print(f"bench_usage: error: {exc}", file=sys.stderr)
        return 1
    if options.json is not None:
        options.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {options.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
