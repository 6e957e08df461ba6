"""Time the displays of a map against reading it.

Same targets as bench_regions.py (N one-page mappings the kernel cannot
merge, anonymous or of a file).  For each target the map is read once
(with and without usage) and every Region made, as a notebook holds it;
then each display is timed on that map:

  raw read          open + read to EOF of /proc/PID/maps (the floor)
  regions()         memmaps.regions(pid) with every Region made: reading
                    the map, what each display below is compared with
  _repr_html_       the table Jupyter shows (60 rows at most)
  _repr_html_ +u    the same, with the usage columns (a map read with usage)
  to_svg()          the picture
  to_svg() +u       the picture with the resident share
  _repr_pretty_     IPython's text, when IPython is installed
  to_dataframe()    when this memmaps has it and pandas is installed

The table shows the median wall time, its ratio to the raw read and to
regions() (within each round), and the size of what was made.  Linux only;
stdlib only apart from the optional IPython and pandas.  See README.md.
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
    read_raw,
    running_target,
)

MODES = ("anon", "file")
DEFAULT_SIZES = (1000, 60000)


def output_size(value: Any) -> int:
    """What a display made, in bytes (rows for a DataFrame)."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    return len(value)


def readers(maps: Any, with_usage: Any, notes: list[str]) -> list[Reader]:
    import memmaps

    found = [
        Reader("raw_read", "raw read (floor)", read_raw, len),
        Reader("regions", "regions()", lambda pid: tuple(memmaps.regions(pid)), len),
        Reader("html", "_repr_html_", lambda pid: maps._repr_html_(), output_size),
        Reader("html_usage", "_repr_html_ +u", lambda pid: with_usage._repr_html_(), output_size),
        Reader("svg", "to_svg()", lambda pid: maps.to_svg(), output_size),
        Reader("svg_usage", "to_svg() +u", lambda pid: with_usage.to_svg(), output_size),
    ]
    try:
        from IPython.lib.pretty import pretty
    except ImportError:
        notes.append("IPython is not installed (pip install ipython): _repr_pretty_ is skipped")
    else:
        found.append(Reader("pretty", "_repr_pretty_", lambda pid: pretty(maps), output_size))
    if not hasattr(maps, "to_dataframe"):
        notes.append("this memmaps has no Maps.to_dataframe(): its row is skipped")
    else:
        try:
            import pandas  # noqa: F401
        except ImportError:
            notes.append("pandas is not installed (pip install pandas): to_dataframe() is skipped")
        else:
            found.append(
                Reader("dataframe", "to_dataframe()", lambda pid: maps.to_dataframe(), len)
            )
    return found


def median_of(measurements: Sequence[Measurement], key: str) -> float | None:
    for item in measurements:
        if item.key == key and item.samples:
            return item.median
    return None


def paired_ratio(item: Measurement, base: Measurement | None) -> float | None:
    """The median over the rounds both ran of item's time / base's time
    (the machine's speed drifts less within a round than across a run)."""
    if base is None or not base.samples or not item.samples:
        return None
    by_round = dict(zip(base.rounds, base.samples, strict=True))
    ratios = sorted(
        sample / by_round[round_number]
        for round_number, sample in zip(item.rounds, item.samples, strict=True)
        if round_number in by_round and by_round[round_number] > 0
    )
    if not ratios:
        return item.median / base.median
    middle = len(ratios) // 2
    return ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2


def format_table(title: str, measurements: Sequence[Measurement]) -> str:
    floor = next((m for m in measurements if m.key == "raw_read" and m.samples), None)
    listing = next((m for m in measurements if m.key == "regions" and m.samples), None)
    lines = [
        title,
        f"{'display':<18}{'median ms':>11}{'repeats':>9}{'x floor':>9}{'x regions()':>13}"
        f"{'made':>12}",
    ]
    for item in measurements:
        if item.error is not None:
            lines.append(f"{item.label:<18}  failed: {item.error}")
            continue
        to_floor = paired_ratio(item, floor)
        to_listing = paired_ratio(item, listing)
        made = f"{item.regions:,}" + ("" if item.key in ("regions", "dataframe") else " B")
        if item.key == "raw_read":
            made = f"{item.regions:,} B"
        lines.append(
            f"{item.label:<18}{item.median * 1e3:>11.3f}{len(item.samples):>9}"
            f"{to_floor if to_floor is not None else float('nan'):>9.2f}"
            f"{to_listing if to_listing is not None else float('nan'):>13.2f}{made:>12}"
        )
    return "\n".join(lines)


def to_json(measurements: Sequence[Measurement]) -> list[dict[str, Any]]:
    floor = next((m for m in measurements if m.key == "raw_read" and m.samples), None)
    listing = next((m for m in measurements if m.key == "regions" and m.samples), None)
    return [
        {
            "display": item.key,
            "label": item.label,
            "error": item.error,
            "made": item.regions,
            "samples_ms": [sample * 1e3 for sample in item.samples],
            "median_ms": item.median * 1e3 if item.samples else None,
            "x_floor": paired_ratio(item, floor),
            "x_regions": paired_ratio(item, listing),
        }
        for item in measurements
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time Maps._repr_html_(), to_svg() (and _repr_pretty_, to_dataframe()) "
        "against the raw read of /proc/PID/maps and memmaps.regions()."
    )
    add_case_options(parser, MODES, DEFAULT_SIZES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    report: dict[str, Any] = {"machine": machine_description(), "cases": []}
    try:
        if not sys.platform.startswith("linux"):
            raise BenchError("this benchmark needs Linux (/proc/PID/maps)")
        check_map_count_limit(options.sizes)
        try:
            import memmaps
        except ImportError as exc:
            raise BenchError(f"memmaps is not importable ({exc}): pip install -e . first") from None
        machine = report["machine"]
        print(
            f"Linux {machine['kernel']}, {machine['cpu']} ({machine['cpus']} CPUs), "
            f"Python {machine['python']}\n"
        )
        notes_shown = False
        with tempfile.TemporaryDirectory(prefix="memmaps-bench-") as tmp:
            workdir = Path(tmp)
            executable = build_target(workdir, options.cc)
            for mode in options.modes:
                for count in options.sizes:
                    with running_target(executable, mode, count, workdir) as pid:
                        maps = memmaps.regions(pid)
                        with_usage = memmaps.regions(pid, usage=True)
                        # Every Region made, as a notebook's map is once shown.
                        tuple(maps), tuple(with_usage)
                        notes: list[str] = []
                        chosen = readers(maps, with_usage, notes)
                        if not notes_shown:
                            for note in notes:
                                print(f"note: {note}", file=sys.stderr)
                            notes_shown = True
                        measured = measure(chosen, pid, options.budget, options.max_repeats)
                    title = f"== {mode}, N={count} ({len(maps):,} regions) =="
                    print(format_table(title, measured), end="\n\n")
                    report["cases"].append(
                        {
                            "mode": mode,
                            "n": count,
                            "regions": len(maps),
                            "displays": to_json(measured),
                        }
                    )
    except BenchError as exc:
        print(f"bench_display: error: {exc}", file=sys.stderr)
        return 1
    if options.json is not None:
        options.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {options.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
