"""Time memmaps.diff() against the cost of reading the map once.

Same targets as bench_regions.py (N one-page mappings the kernel cannot
merge, anonymous or of one file).  For each target the table shows the
median wall time of:

  read                regions(pid): one listing, whose Regions are made
                      when first asked for
  + every Region      regions(pid) and every Region of it made: what a
                      diff() of a fresh listing needs, the unit of the ratios
  read, usage         regions(pid, usage=True) and every Region of it made,
                      the unit of the usage rows
  diff, unchanged     diff() of two listings of the idle target
  diff, usage         the same with usage (every figure compared)
  diff, 1% changed    a listing against a copy where 1% of the regions
                      changed permissions, 1% were removed and 1% added
  to_text, 1%         the report of that diff
  diff, all moved     a listing against a copy 1 GiB higher: every file
                      region is "moved", every anonymous one removed and
                      added (the most work diff() can have)

and its ratio to its read.  The diffs are timed on listings whose Regions
are made already.  Linux only; stdlib only.  See README.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench_regions import (
    BenchError,
    build_target,
    check_map_count_limit,
    machine_description,
    mode_parser,
    parse_sizes,
    positive_float,
    running_target,
)

MODES = ("anon", "file")
DEFAULT_SIZES = (1000, 60000)


def median_seconds(call: Callable[[], Any], budget: float, at_least: int = 3) -> float:
    """The median of timed calls for about budget seconds (a first call,
    not timed, warms up)."""
    call()
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    while len(samples) < at_least or (time.perf_counter() < deadline and len(samples) < 50):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def changed_copy(memmaps: Any, maps: Any, share: float, seed: int) -> Any:
    """maps with `share` of its regions given other permissions, `share`
    removed and `share` new ones in the gaps."""
    rng = random.Random(seed)
    regions = list(maps)
    count = max(1, int(len(regions) * share))
    for index in rng.sample(range(len(regions)), count):
        region = regions[index]
        regions[index] = region._replace(perms="r--p" if region.perms != "r--p" else "rw-p")
    for index in sorted(rng.sample(range(len(regions)), count), reverse=True):
        del regions[index]
    spots = [
        (before.end, after.start)
        for before, after in pairwise(regions)
        if after.start - before.end >= 0x1000
    ]
    for start, _ in rng.sample(spots, min(count, len(spots))):
        regions.append(memmaps.Region(start, start + 0x1000, "rw-p"))
    regions.sort(key=lambda region: region.start)
    return memmaps.Maps(regions, maps.pid)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES))
    parser.add_argument("--modes", type=mode_parser(MODES), default=list(MODES))
    parser.add_argument("--budget", type=positive_float, default=1.0, metavar="SECONDS")
    parser.add_argument("--cc", default="cc")
    options = parser.parse_args(argv)
    try:
        import memmaps
    except ImportError as exc:
        print(f"bench_diff: error: memmaps is not importable ({exc})", file=sys.stderr)
        return 1
    try:
        if not sys.platform.startswith("linux"):
            raise BenchError("this benchmark needs Linux (its targets are Linux programs)")
        check_map_count_limit(options.sizes)
        machine = machine_description()
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
                        print(run_case(memmaps, pid, mode, count, options.budget))
    except BenchError as exc:
        print(f"bench_diff: error: {exc}", file=sys.stderr)
        return 1
    return 0


def run_case(memmaps: Any, pid: int, mode: str, count: int, budget: float) -> str:
    first, second = memmaps.regions(pid), memmaps.regions(pid)
    used_first = memmaps.regions(pid, usage=True)
    used_second = memmaps.regions(pid, usage=True)
    churned = changed_copy(memmaps, first, 0.01, count)
    churn = memmaps.diff(first, churned)
    shift = 1 << 30
    moved = memmaps.Maps(
        [r._replace(start=r.start + shift, end=r.end + shift) for r in first], first.pid
    )
    if memmaps.diff(first, second):
        raise BenchError(f"the {mode} target changed between two reads")
    listing = median_seconds(lambda: memmaps.regions(pid), budget)
    read = median_seconds(lambda: tuple(memmaps.regions(pid)), budget)
    read_usage = median_seconds(lambda: tuple(memmaps.regions(pid, usage=True)), budget)
    rows = [
        ("read", listing, read),
        ("+ every Region", read, read),
        ("read, usage", read_usage, read_usage),
        ("diff, unchanged", median_seconds(lambda: memmaps.diff(first, second), budget), read),
        (
            "diff, usage",
            median_seconds(lambda: memmaps.diff(used_first, used_second), budget),
            read_usage,
        ),
        ("diff, 1% changed", median_seconds(lambda: memmaps.diff(first, churned), budget), read),
        ("to_text, 1%", median_seconds(churn.to_text, budget), read),
        ("diff, all moved", median_seconds(lambda: memmaps.diff(first, moved), budget), read),
    ]
    everything = memmaps.diff(first, moved)
    lines = [
        f"== {mode}, N={count}: {len(first)} regions; 1%: {len(churn.added)} added, "
        f"{len(churn.removed)} removed, {len(churn.changed)} changed; all moved: "
        f"{len(everything.changed)} moved, {len(everything.added)} added ==",
        f"{'':<18}{'median ms':>11}{'x read':>9}",
    ]
    for label, seconds, unit in rows:
        lines.append(f"{label:<18}{seconds * 1e3:>11.3f}{seconds / unit:>9.2f}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
