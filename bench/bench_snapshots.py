"""Time what is made of a map once it is read: the summary, the gaps, the
flat dicts, a JSON snapshot and reading it back, and a pandas DataFrame.

Same targets as bench_regions.py (N one-page mappings the kernel cannot
merge).  The map is read once, with usage; each row then times one
conversion of it, against the read itself, memmaps.regions(pid,
usage=True), in the same round: "x read" is how many reads each costs.
Linux only; pandas is optional (its row is skipped with a note).  See
README.md.
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

MODES = ("anon", "file")
DEFAULT_SIZES = (1000, 60000)


def readers(pid: int) -> tuple[list[Reader], list[str]]:
    """The read, then each conversion of the map it gave."""
    import memmaps

    notes: list[str] = []
    maps = memmaps.regions(pid, usage=True)
    snapshot = maps.to_json()
    found = [
        Reader("read", "regions(usage=True)", lambda pid: memmaps.regions(pid, usage=True)),
        Reader("summary", "summary()", lambda pid: maps.summary(), lambda summary: len(maps)),
        Reader("gaps", "gaps()", lambda pid: maps.gaps()),
        Reader("to_dicts", "to_dicts()", lambda pid: maps.to_dicts()),
        Reader("to_json", "to_json()", lambda pid: maps.to_json(), lambda text: len(maps)),
        Reader("load", "load(to_json())", lambda pid: memmaps.load(snapshot)),
    ]
    try:
        import pandas  # noqa: F401
    except ImportError:
        notes.append("pandas is not installed (pip install 'memmaps[pandas]'): no DataFrame row")
    else:
        found.append(Reader("to_dataframe", "to_dataframe()", lambda pid: maps.to_dataframe()))
    return found, notes


def ratio_to_read(item: Measurement, read: Measurement | None) -> float | None:
    """The median of the ratio taken within each round (the read comes
    first in every round): the machine's drift during a run stays out."""
    if read is None or not item.samples or not read.samples:
        return None
    by_round = dict(zip(read.rounds, read.samples, strict=True))
    paired = sorted(
        sample / by_round[number]
        for sample, number in zip(item.samples, item.rounds, strict=True)
        if number in by_round
    )
    if not paired:
        return item.median / read.median
    middle = len(paired) // 2
    return paired[middle] if len(paired) % 2 else (paired[middle - 1] + paired[middle]) / 2


def format_table(title: str, measurements: Sequence[Measurement]) -> str:
    read = next((item for item in measurements if item.key == "read" and item.samples), None)
    lines = [title, f"{'call':<22}{'median ms':>11}{'repeats':>9}{'x read':>9}{'regions':>9}"]
    for item in measurements:
        if item.error is not None:
            lines.append(f"{item.label:<22}  failed: {item.error}")
            continue
        ratio = ratio_to_read(item, read)
        shown = "-" if ratio is None else f"{ratio:.2f}"
        lines.append(
            f"{item.label:<22}{item.median * 1e3:>11.3f}{len(item.samples):>9}"
            f"{shown:>9}{item.regions!s:>9}"
        )
    return "\n".join(lines)


def to_json(measurements: Sequence[Measurement]) -> list[dict[str, Any]]:
    read = next((item for item in measurements if item.key == "read" and item.samples), None)
    return [
        {
            "call": item.key,
            "label": item.label,
            "error": item.error,
            "regions": item.regions,
            "samples_ms": [sample * 1e3 for sample in item.samples],
            "median_ms": item.median * 1e3 if item.samples else None,
            "x_read": ratio_to_read(item, read),
        }
        for item in measurements
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time Maps.summary(), gaps(), to_dicts(), to_json(), load() and "
        "to_dataframe() against the read of the same map."
    )
    add_case_options(parser, MODES, DEFAULT_SIZES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    report: dict[str, Any] = {"machine": machine_description(), "cases": []}
    try:
        if not sys.platform.startswith("linux"):
            raise BenchError("this benchmark needs Linux (its targets are read through /proc)")
        check_map_count_limit(options.sizes)
        try:
            import memmaps  # noqa: F401
        except ImportError as exc:
            raise BenchError(f"memmaps is not importable ({exc}): pip install -e . first") from None
        machine = report["machine"]
        print(
            f"Linux {machine['kernel']}, {machine['cpu']} ({machine['cpus']} CPUs), "
            f"Python {machine['python']}\n"
        )
        shown_notes: set[str] = set()
        with tempfile.TemporaryDirectory(prefix="memmaps-bench-") as tmp:
            workdir = Path(tmp)
            executable = build_target(workdir, options.cc)
            for mode in options.modes:
                for count in options.sizes:
                    with running_target(executable, mode, count, workdir) as pid:
                        calls, notes = readers(pid)
                        for note in set(notes) - shown_notes:
                            print(f"note: {note}", file=sys.stderr)
                        shown_notes.update(notes)
                        measured = measure(calls, pid, options.budget, options.max_repeats)
                    print(format_table(f"== {mode}, N={count} ==", measured), end="\n\n")
                    report["cases"].append({"mode": mode, "n": count, "calls": to_json(measured)})
    except BenchError as exc:
        print(f"bench_snapshots: error: {exc}", file=sys.stderr)
        return 1
    if options.json is not None:
        options.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {options.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
