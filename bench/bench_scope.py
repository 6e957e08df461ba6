"""Time the search order (memmaps/_platform/linux_scope.py) on a process with
many libraries, against the listing it starts from.

A target linked against N small libraries (built here with cc, default
N = 100) prints "ready" and sleeps.  Timed on it: the image listing
(native.image_records(), what images() reads), the order read from the
target's memory ("link_map": DT_DEBUG, r_debug and the chain), and the order
rebuilt from files ("rebuilt": each library's DT_SONAME and DT_NEEDED,
/proc/PID/environ, /etc/ld.so.preload), each as the median of repeated
calls.  Linux only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MAIN = """\
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char c;
    printf("ready\\n");
    fflush(stdout);
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
"""


def build(folder: Path, count: int, cc: str) -> Path:
    for i in range(count):
        source = folder / f"lib{i}.c"
        source.write_text(f"int scope_bench_{i}(void) {{ return {i}; }}\n")
        subprocess.run(
            [cc, "-O1", "-shared", "-fPIC", str(source), "-o", str(folder / f"libsb{i}.so")],
            check=True,
        )
    (folder / "main.c").write_text(MAIN)
    exe = folder / "main"
    libs = [f"-lsb{i}" for i in range(count)]
    link = ["-Wl,--no-as-needed", *libs, f"-Wl,-rpath,{folder}"]
    subprocess.run(
        [cc, "-O1", str(folder / "main.c"), "-o", str(exe), f"-L{folder}", *link], check=True
    )
    return exe


def median(call: Callable[[], Any], budget: float) -> tuple[float, int, Any]:
    result = call()  # warm-up: page cache, first opens
    samples = []
    deadline = time.perf_counter() + budget
    while len(samples) < 5 or (time.perf_counter() < deadline and len(samples) < 200):
        started = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), len(samples), result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--libraries", type=int, default=100, metavar="N")
    parser.add_argument("--budget", type=float, default=1.0, metavar="SECONDS")
    parser.add_argument("--cc", default=os.environ.get("CC") or shutil.which("cc") or "cc")
    options = parser.parse_args(argv)
    try:
        from memmaps._platform import linux, linux_scope, native
    except ImportError as exc:
        print(f"bench_scope: error: memmaps is not importable ({exc})", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="memmaps-bench-scope-") as tmp:
        exe = build(Path(tmp), options.libraries, options.cc)
        target = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert target.stdout is not None and target.stdout.readline() == b"ready\n"
            pid = target.pid
            listing, repeats, found = median(lambda: native.image_records(pid), options.budget)
            records, maps = found
            images = native.images_of(pid, (records, maps), linux._ElfSymbols)
            rows = [("image_records() (the listing)", listing, repeats, "")]
            for how, memory in (("link_map", True), ("rebuilt", False)):
                took, repeats, scope = median(
                    lambda m=memory: linux_scope.scope(pid, images, records, memory=m),
                    options.budget,
                )
                assert scope.how == how, scope.note
                rows.append((f"scope() {how}", took, repeats, f"{scope.placed} placed"))
        finally:
            target.kill()
            target.wait()
    print(f"{len(records)} images in a target linked against {options.libraries} libraries")
    print(f"{'call':<32}{'median ms':>11}{'repeats':>9}{'x listing':>11}  ")
    for label, took, repeats, extra in rows:
        print(f"{label:<32}{took * 1e3:>11.3f}{repeats:>9}{took / listing:>11.2f}  {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
