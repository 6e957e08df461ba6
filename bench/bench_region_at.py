"""Time region_at(pid, addr) against regions(pid).at(addr).

region_at asks the kernel for the one region (PROCMAP_QUERY, Linux 6.11+);
regions().at() lists everything and bisects.  Both run on the same targets
as bench_regions.py, with about 100 mappings (the target's own) and with N
more.  Each call looks up a different address, drawn from the target's own
regions.  Linux only; stdlib only.  See README.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench_regions import (
    BenchError,
    build_target,
    check_map_count_limit,
    machine_description,
    parse_sizes,
    running_target,
)

# The target has about 25 mappings of its own: 75 more make about 100.
DEFAULT_SIZES = (75, 60000)


def median_seconds(call: Callable[[int], object], addresses: Sequence[int], budget: float) -> float:
    """The median of timed calls, one address each, for about budget seconds."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    for addr in addresses:
        started = time.perf_counter()
        call(addr)
        samples.append(time.perf_counter() - started)
        if len(samples) >= 5 and time.perf_counter() > deadline:
            break
    return statistics.median(samples)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES))
    parser.add_argument("--budget", type=float, default=1.0, metavar="SECONDS")
    parser.add_argument("--cc", default="cc")
    options = parser.parse_args(argv)
    try:
        import memmaps
    except ImportError as exc:
        print(f"bench_region_at: error: memmaps is not importable ({exc})", file=sys.stderr)
        return 1
    try:
        check_map_count_limit(options.sizes)
        machine = machine_description()
        print(f"Linux {machine['kernel']}, {machine['cpu']}, Python {machine['python']}\n")
        print(
            f"{'mappings':>9} {'region_at us':>13} {'regions().at() us':>18} "
            f"{'region_at faster':>17} {'agree':>6}"
        )
        with tempfile.TemporaryDirectory(prefix="memmaps-bench-") as tmp:
            executable = build_target(Path(tmp), options.cc)
            for count in options.sizes:
                with running_target(executable, "anon", count, Path(tmp)) as pid:
                    maps = memmaps.regions(pid)
                    rng = random.Random(count)
                    addresses = [rng.randrange(r.start, r.end) for r in rng.choices(maps, k=2000)]
                    agree = all(
                        memmaps.region_at(pid, addr) == maps.at(addr) for addr in addresses[:200]
                    )
                    fast = median_seconds(
                        lambda addr: memmaps.region_at(pid, addr), addresses, options.budget
                    )
                    slow = median_seconds(
                        lambda addr: memmaps.regions(pid).at(addr), addresses, options.budget
                    )
                    print(
                        f"{len(maps):>9} {fast * 1e6:>13.1f} {slow * 1e6:>18.1f} "
                        f"{slow / fast:>16.1f}x {'yes' if agree else 'NO':>6}"
                    )
    except BenchError as exc:
        print(f"bench_region_at: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
