"""Hostile images, live: a real process maps crafted ELF files and memmaps
reads it.

Each crafted file (tests/helpers/craft_elf.py) is a legal-enough image whose
headers claim what would cost a believing reader minutes or gigabytes: a
note flood of 65534 program headers, sparse files that declare tables of
250 MiB in holes.  images() and symbol_address() must end with a correct
answer or a clear error, in bounded time and memory.  The reader runs in a
fresh Python process so that its peak RSS (resource.getrusage) is its own.

Time is asserted only as a generous "does not hang" bound (the note flood
took about 30 minutes before the notes budget): what these tests pin is
that the work is bounded at all, not how fast this machine is.  A Ctrl-C
test sends SIGINT to a process in the middle of a long, legal parse and
checks it stops with KeyboardInterrupt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import craft_elf, procutil

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)

REPO = Path(__file__).resolve().parents[2]
# The "does not hang" bound: the readers now take milliseconds here; a
# reader that believed the headers took minutes (note flood) or ran out of
# memory (sparse tables).
HANG_BOUND = 10.0
# The reader's peak RSS growth: sixteen sparse files that declare 500 MiB
# of tables each must not be read; a few MiB of Python objects are.
RSS_BOUND_KIB = 64 << 10

READER = textwrap.dedent(
    """
    import json, resource, sys, time
    import memmaps

    pid = int(sys.argv[1])
    names = sys.argv[2:]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    images = memmaps.images(pid)
    listed = time.monotonic()
    answers = {}
    for image in [None, *names]:
        try:
            answers[str(image)] = hex(memmaps.symbol_address(pid, "x", image))
        except memmaps.Error as e:
            answers[str(image)] = type(e).__name__ + ": " + str(e)
    done = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "images": [(i.path, i.base, i.build_id) for i in images],
        "answers": answers,
        "images_seconds": listed - start,
        "symbols_seconds": done - listed,
        "rss_growth_kib": after - before,
    }))
    """
)


def run_reader(pid: int, *names: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", READER, str(pid), *names],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(procutil.python_env(), PYTHONPATH=str(REPO)),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def hostile_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = procutil.world_dir(tmp_path_factory.mktemp("hostile"))
    return procutil.compile_target("img_hostile", folder / "img_hostile")


def report(name: str, facts: dict) -> None:
    """The measured figures, for whoever reads the test log (-s)."""
    print(
        f"{name}: images() {facts['images_seconds'] * 1000:.1f} ms, "
        f"symbol_address() {facts['symbols_seconds'] * 1000:.1f} ms, "
        f"peak RSS growth {facts['rss_growth_kib']} KiB"
    )


def test_note_flood(hostile_target: Path, tmp_path: Path) -> None:
    flood = craft_elf.note_flood(tmp_path / "flood.elf")
    ready = procutil.launch_ready([hostile_target, flood])
    try:
        facts = run_reader(ready.pid, flood.name)
    finally:
        procutil.stop(ready.proc)
    report("note flood", facts)
    found = [image for image in facts["images"] if image[0] == str(flood)]
    # The image is listed, at the address the target printed, and has no
    # build-id (its notes are none): a correct answer, not a refusal.
    assert found == [[str(flood), ready.addrs[0], None]], facts["images"]
    assert facts["answers"][flood.name].startswith("SymbolNotFound: ")
    assert facts["answers"]["None"].startswith("SymbolNotFound: ")
    assert facts["images_seconds"] < HANG_BOUND
    assert facts["symbols_seconds"] < HANG_BOUND


def test_sparse_tables(hostile_target: Path, tmp_path: Path) -> None:
    files = [craft_elf.sparse(tmp_path / f"sparse-{i}.elf") for i in range(16)]
    # Sparse indeed: the file system keeps almost nothing of what they
    # claim (else the test would not be about holes).
    assert all(craft_elf.allocated_bytes(f) < 1 << 20 for f in files)
    ready = procutil.launch_ready([hostile_target, *files])
    try:
        facts = run_reader(ready.pid, *(f.name for f in files))
    finally:
        procutil.stop(ready.proc)
    report("16 sparse files", facts)
    listed = {image[0]: image[1] for image in facts["images"]}
    for path, addr in zip(files, ready.addrs, strict=True):
        assert listed.get(str(path)) == addr
    # No file has an x, and a table that is not real is refused without
    # stopping the search through the other images.
    for answer in facts["answers"].values():
        assert answer.startswith("SymbolNotFound: "), answer
    assert facts["images_seconds"] < HANG_BOUND
    assert facts["symbols_seconds"] < HANG_BOUND
    assert facts["rss_growth_kib"] < RSS_BOUND_KIB


CTRL_C_CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from memmaps import _core

    signal.signal(signal.SIGINT, signal.default_int_handler)
    fd = os.open(sys.argv[1], os.O_RDONLY)
    elf = _core.ImageFile(fd)
    os.close(fd)
    print("parsing", flush=True)
    start = time.monotonic()
    try:
        elf.load()
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
    else:
        print("finished", time.monotonic() - start, flush=True)
    """
)


def test_ctrl_c_stops_a_long_parse(tmp_path: Path) -> None:
    # 6 million sized functions: a legal .symtab of 144 MB on real data,
    # within every cap, that takes about 1.5 s to index here.
    big = craft_elf.big_symtab(tmp_path / "big.elf", 6_000_000)
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_CHILD, str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(procutil.python_env(), PYTHONPATH=str(REPO)),
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "parsing"
        time.sleep(0.3)  # well inside load()
        sent = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    words = out.split()
    assert words and words[0] == "interrupted", (out, err)
    latency = float(words[1]) - sent
    print(f"Ctrl-C: KeyboardInterrupt {latency * 1000:.1f} ms after SIGINT")
    # Generous: the design checks every 10 ms; a parse that did not check
    # would run on to the end, a second or more later.
    assert latency < 2.0
