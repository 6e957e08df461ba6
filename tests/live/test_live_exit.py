"""Live test: a target with ~30k mappings dies at a random moment while we
read it in a loop.  Every call must either raise NoSuchProcess (or its
subclass ZombieProcess) or return the complete map -- never a truncated one
(the kernel silently truncates the text of a process that dies mid-read)."""

from __future__ import annotations

import collections
import os
import random
import signal
import sys
import threading
import time

import pytest

import memmaps
from tests.helpers import procutil
from tests.helpers.procutil import parse_maps, read_maps

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)

NMAPS = 30000
ROUNDS = 16
MAX_DELAY = 0.15  # seconds


def _key(r):
    return (r.start, r.end, r.perms, r.offset, r.dev_major, r.dev_minor, r.inode, r.path, r.deleted)


def test_exit_mid_read(build_target):
    exe = build_target("many_maps")
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    counts = collections.Counter()
    failures = []
    for rnd in range(ROUNDS):
        self_exit = rnd % 2 == 1
        delay = rng.uniform(0, MAX_DELAY)
        args = [str(exe), str(NMAPS)]
        if self_exit:
            args.append(str(max(1, int(delay * 1e6))))
        p = procutil.start(args)
        timer = None
        try:
            assert procutil.read_line(p).split()[0] == b"ready"
            ref = parse_maps(read_maps(p.pid))
            assert len(ref) >= NMAPS, len(ref)
            names = [r.raw_name for r in ref]
            assert b"[stack]" in names
            assert names[-1] in (b"[stack]", b"[vsyscall]"), names[-3:]
            want = [
                (
                    r.start,
                    r.end,
                    r.perms,
                    r.offset,
                    r.dev_major,
                    r.dev_minor,
                    r.inode,
                    r.path,
                    r.deleted,
                )
                for r in ref
            ]

            if self_exit:
                p.stdin.write(b"g")  # starts the target's countdown
            else:
                timer = threading.Timer(delay, os.kill, (p.pid, signal.SIGKILL))
                timer.start()
            deadline = time.monotonic() + 10
            while True:
                try:
                    maps = memmaps.regions(p.pid)
                except memmaps.ZombieProcess:
                    counts["ZombieProcess"] += 1
                    break
                except memmaps.NoSuchProcess:
                    counts["NoSuchProcess"] += 1
                    break
                except Exception as e:
                    failures.append(f"round {rnd}: {type(e).__name__}: {e}")
                    counts["other error"] += 1
                    break
                got = [_key(r) for r in maps]
                if got == want:
                    counts["complete"] += 1
                else:
                    counts["INCOMPLETE"] += 1
                    last = got[-1] if got else None
                    failures.append(
                        f"round {rnd} ({'exit' if self_exit else 'kill'}): returned "
                        f"{len(got)} regions, expected {len(want)}; last returned "
                        f"{last!r}, expected last {want[-1]!r}"
                    )
                    break
                assert time.monotonic() < deadline, "target never died"
            # Dead now: reaped or not, it must keep saying so.
            p.wait(timeout=10)
            with pytest.raises(memmaps.NoSuchProcess):
                memmaps.regions(p.pid)
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()
            procutil.stop(p)
    print(f"\nexit mid-read over {ROUNDS} targets of {NMAPS} maps: {dict(counts)}")
    assert not failures, "\n".join(failures)
    assert counts["complete"] > 0, "never read a complete map (test not meaningful)"
