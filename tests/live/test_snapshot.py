"""Snapshots of real processes: load(maps.to_json()) gives the same Maps back,
usage and awkward names included, and the names survive a strict reader;
the flat dicts hold exactly what the kernel's smaps text says."""

from __future__ import annotations

import base64
import json
import os
import sys

import pytest

import memmaps
from memmaps.snapshot import FORMAT
from tests.helpers import procutil
from tests.live.test_cli import AWKWARD, stop, wait_ready

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    """A process with names that are hard to keep: spaces, a tab, a newline,
    a literal \\012, bytes that are not UTF-8, a real " (deleted)" suffix, a
    deleted file, a memfd, shared anonymous memory, an offset above 4 GiB."""
    import subprocess

    directory = tmp_path_factory.mktemp("snapshot")
    proc = subprocess.Popen(
        [sys.executable, "-c", AWKWARD, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_ready(proc)
        yield proc.pid, str(directory)
    finally:
        stop(proc)


def _round_trip(maps: memmaps.Maps) -> memmaps.Maps:
    text = maps.to_json()
    loaded = memmaps.load(text)
    assert loaded == maps
    assert (loaded.pid, loaded.partial) == (maps.pid, maps.partial)
    # Field by field, types included (a bool is not an int).
    for mine, theirs in zip(loaded, maps, strict=True):
        for field in memmaps.Region._fields:
            a, b = getattr(mine, field), getattr(theirs, field)
            assert a == b and type(a) is type(b), (field, a, b)
        if theirs.usage is not None:
            for figure in memmaps.Usage._fields:
                a, b = getattr(mine.usage, figure), getattr(theirs.usage, figure)
                assert a == b and type(a) is type(b), (figure, a, b)
    return loaded


def test_self_with_usage():
    maps = memmaps.regions(usage=True)
    assert all(region.usage is not None for region in maps)
    _round_trip(maps)
    assert json.loads(maps.to_json())["format"] == FORMAT


def test_self_without_usage():
    _round_trip(memmaps.regions())


def test_awkward_names_with_and_without_usage(awkward):
    pid, directory = awkward
    for usage in (False, True):
        maps = memmaps.regions(pid, usage=usage)
        loaded = _round_trip(maps)
        paths = {region.path for region in loaded}
        for name in ("new\nline", "bad\udcff\udcfe", "real (deleted)", "lit\\012eral", "gone"):
            assert f"{directory}/{name}" in paths, name
        assert next(r for r in loaded if r.path == f"{directory}/gone").deleted
        assert next(r for r in loaded if r.path == f"{directory}/real (deleted)").deleted is False
        assert {"memfd", "shmem"} <= {region.kind for region in loaded}


def test_awkward_names_survive_a_strict_reader(awkward):
    pid, directory = awkward
    text = memmaps.regions(pid).to_json()
    assert text.isascii()
    entries = json.loads(text)["regions"]
    for entry in entries:
        # What any JSON reader keeps: valid Unicode, no lone surrogates.
        (entry["path"] or "").encode("utf-8")
    bad = [entry for entry in entries if "path_bytes" in entry]
    assert len(bad) == 1
    raw = base64.b64decode(bad[0]["path_bytes"])
    assert raw == os.fsencode(directory) + b"/bad\xff\xfe"
    # The kernel's own text has the same bytes.
    assert raw in procutil.read_maps(pid)


def test_flat_usage_keys_are_the_kernels_figures(awkward):
    pid = awkward[0]
    for _ in range(50):
        before = procutil.read_proc(pid, "smaps")
        dicts = memmaps.regions(pid, usage=True).to_dicts()
        if procutil.read_proc(pid, "smaps") == before:
            break
    else:
        pytest.fail("the target's smaps kept changing")
    refs = procutil.parse_smaps(before)
    assert len(dicts) == len(refs)
    for entry, ref in zip(dicts, refs, strict=True):
        assert (
            entry["start"] == ref.region.start and entry["size"] == ref.region.end - entry["start"]
        )
        for field, value in ref.usage.items():
            got = entry[f"usage_{field}"]
            if field == "vmflags":
                assert got == " ".join(value), entry
            elif field == "extra":
                assert got == dict(value)
            else:
                assert got == value and type(got) is type(value), (field, got, value)
