"""execve in the middle of a read: the listing is the old program's whole
map or the new program's whole map, never the half-built one the kernel
shows while it is still loading the new program.

A server with N regions forks a child per try; the child execs /usr/bin/sleep
at a random moment inside the read (its delay is drawn from the time one
read of N regions takes), and the result is checked for being one program's
complete map: its executable, the dynamic loader, [stack] and [vdso].
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field

import pytest

import memmaps
from tests.helpers import procutil

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux backend")

SLEEP = shutil.which("sleep")
SLEEP_REAL = os.path.realpath(SLEEP) if SLEEP else None


@dataclass
class Outcome:
    old: int = 0  # the old program's whole map
    new: int = 0  # the new program's whole map
    half: list = field(default_factory=list)  # anything else


def programs(maps):
    """The paths of the files mapped, and the special regions present."""
    files = {region.path for region in maps if region.kind == "file"}
    kinds = {region.kind for region in maps}
    return files, kinds


def judge(maps, server_exe, loader, n, outcome):
    files, kinds = programs(maps)
    whole = {"stack", "vdso"} <= kinds and loader in files
    if whole and SLEEP_REAL in files and server_exe not in files and len(maps) < n // 2:
        outcome.new += 1
    elif whole and server_exe in files and SLEEP_REAL not in files and len(maps) >= n:
        outcome.old += 1
    else:
        outcome.half.append((len(maps), sorted(files), sorted(kinds)))


def run_tries(build_target, n, tries, usage, seed):
    server_exe = str(build_target("exec_maps"))
    server = procutil.start([server_exe, str(n), SLEEP, "1000"])
    outcome = Outcome()
    rng = random.Random(seed)
    try:
        assert procutil.read_line(server) == b"ready\n"
        started = time.perf_counter()
        reference = memmaps.regions(server.pid, usage=usage)
        read_time = time.perf_counter() - started
        loaders = {r.path for r in reference if r.path and "/ld-linux" in r.path}
        assert len(loaders) == 1, loaders
        (loader,) = loaders
        delays = [int(rng.uniform(0, read_time) * 1e6) for _ in range(tries)]
        # On a busy machine every exec of a small map may come after its
        # read: then tries with no delay, until one read meets an exec (the
        # test needs both kinds to mean anything).
        delays += [0] * EXTRA_TRIES
        for done, delay_us in enumerate(delays):
            if done >= tries and outcome.new > 0:
                break
            server.stdin.write(f"fork {delay_us}\n".encode())
            child = int(procutil.read_line(server).split()[1])
            try:
                os.kill(child, signal.SIGUSR1)
                judge(memmaps.regions(child, usage=usage), server_exe, loader, n, outcome)
            finally:
                procutil.kill_quietly(child)
    finally:
        procutil.stop(server)
    return outcome


EXTRA_TRIES = 100


def check(outcome, tries):
    made = outcome.old + outcome.new + len(outcome.half)
    assert outcome.half == [], f"{len(outcome.half)} of {made} half maps: {outcome.half[:3]}"
    # Both happened: some reads ended before the exec, some after it began.
    # (Without new ones the test would not have met an exec at all.)
    assert outcome.new > 0 and tries <= made <= tries + EXTRA_TRIES, outcome


needs_sleep = pytest.mark.skipif(SLEEP is None, reason="needs a sleep program to exec")


@needs_sleep
@pytest.mark.parametrize("usage", [False, True], ids=["maps", "smaps"])
def test_exec_mid_read_small(build_target, usage):
    tries = 40
    check(run_tries(build_target, 4000, tries, usage, seed=1), tries)


@needs_sleep
@pytest.mark.slow
@pytest.mark.parametrize("usage", [False, True], ids=["maps", "smaps"])
def test_exec_mid_read_60k_regions_200_times(build_target, usage):
    tries = 200
    check(run_tries(build_target, 60000, tries, usage, seed=2), tries)
