"""Time symbol lookups by name and by address in one ELF file's tables.

ImageFile.symbol(name) for names the file defines (and one it does not),
and ImageFile.symbolize_many() for 10 000 addresses drawn from the file's
code, on this interpreter's libpython (or any ELF file given).  The first
question of each kind builds its index: that time is shown apart.  Linux
only; stdlib only.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from memmaps import _core


def default_file() -> Path:
    name = sysconfig.get_config_var("INSTSONAME") or ""
    for folder in (sysconfig.get_config_var("LIBDIR") or "", "/usr/lib/x86_64-linux-gnu"):
        path = Path(folder) / name
        if name and path.is_file():
            return path
    return Path(sys.executable).resolve()


def open_image(path: Path) -> _core.ImageFile:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _core.ImageFile(fd)
    finally:
        os.close(fd)


def defined_names(path: Path) -> list[str]:
    """What nm says the file defines: .symtab, else (a stripped file)
    .dynsym, with @VERSION as nm spells it."""
    for dynamic in ([], ["-D"]):
        out = subprocess.run(
            ["nm", "--defined-only", *dynamic, str(path)], capture_output=True, text=True
        ).stdout
        names = [line.split()[2] for line in out.splitlines() if len(line.split()) == 3]
        if names:
            return names
    return []


def per_second(call: Callable[[], object], batch: int, budget: float) -> float:
    rates: list[float] = []
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline or not rates:
        start = time.perf_counter()
        call()
        rates.append(batch / (time.perf_counter() - start))
    return statistics.median(rates)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=None)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measure")
    args = parser.parse_args(argv)
    path = (args.file or default_file()).resolve()
    rng = random.Random(1)
    names = defined_names(path)
    if not names:
        print(f"{path}: no symbols (nm says none)", file=sys.stderr)
        return 1
    sample = [rng.choice(names) for _ in range(1000)]

    image = open_image(path)
    start = time.perf_counter()
    image.symbol(sample[0])
    first_name = time.perf_counter() - start
    by_name = per_second(lambda: [image.symbol(n) for n in sample], len(sample), args.budget)
    missing = per_second(lambda: image.symbol("no_such_symbol_here"), 1, args.budget)

    print(f"{path} ({len(names)} defined symbols, by nm)")
    first = f"(first, with the index: {first_name * 1000:.2f} ms)"
    print(f"symbol(name)                  {by_name:12,.0f} /s  {first}")
    print(f"symbol(missing name)          {missing:12,.0f} /s")
    if not hasattr(image, "symbolize_many"):
        return 0  # an older build: names only

    values = [found[0] for found in map(image.symbol, sample) if found and found[1]]
    low, high = min(values), max(values)
    addresses = [rng.randrange(low, high) for _ in range(10_000)]
    image = open_image(path)
    start = time.perf_counter()
    image.symbolize_many(addresses)
    first_address = time.perf_counter() - start
    times: list[float] = []
    deadline = time.perf_counter() + args.budget
    while time.perf_counter() < deadline or not times:
        start = time.perf_counter()
        image.symbolize_many(addresses)
        times.append(time.perf_counter() - start)

    print(
        f"symbolize_many(10 000 addrs)  {statistics.median(times) * 1000:12.2f} ms"
        f"  (first, with the index: {first_address * 1000:.2f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
