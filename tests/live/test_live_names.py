"""Live test: a target process maps files with awkward names and every kind of
special mapping; memmaps.regions(pid) must report each one exactly, agree
field by field with an independent parse of the kernel's /proc/PID/maps
text, and Maps.to_proc_maps() must reproduce that text byte for byte."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

import memmaps
from tests.helpers import procutil
from tests.helpers.procutil import (
    check_region_shape,
    kernel_escape,
    lib_vs_ref,
    parse_maps,
    read_maps,
    region_problems,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)

TARGET = procutil.TARGETS / "awkward_maps.py"

# Everything the target creates (ids must match awkward_maps.py).
ENTRY_IDS = [
    "lead_space",
    "trail_space",
    "space_runs",
    "only_spaces",
    "tab",
    "backslash",
    "newline",
    "literal_012",
    "non_utf8",
    "suffix_deleted",
    "everything",
    "carriage_return",
    "long_path",
    "offset_5g",
    "unlinked",
    "unlinked_suffix",
    "unlinked_newline",
    "memfd",
    "sysv",
    "shared_anon",
    "anon_named",
    "anon_shmem_named",
    "anon_plain",
    "guard",
    "hugetlb",
]


@pytest.fixture(scope="module")
def hugepages():
    """One free 2 MiB huge page for the duration of the module, or the
    reason there cannot be one."""
    with procutil.free_hugepage() as reason:
        yield reason


@pytest.fixture(scope="module")
def awkward(tmp_path_factory, hugepages):
    work = tmp_path_factory.mktemp("awkward names")
    args = [sys.executable, str(TARGET), str(work)]
    if hugepages is None:
        args.append("--hugetlb")
    proc = procutil.start(args)
    try:
        info = json.loads(procutil.read_line(proc, timeout=30))
        assert info["pid"] == proc.pid
        info["entries"] = {e["id"]: e for e in info["entries"]}
        if hugepages is not None:
            info["errors"]["hugetlb"] = hugepages
        info["proc"] = proc
        yield info
    finally:
        procutil.stop(proc)  # before hugepages' teardown restores the pool
        shutil.rmtree(work, ignore_errors=True)


def _entry(awkward, ident):
    if ident in awkward["errors"]:
        pytest.skip(f"{ident}: this machine cannot make it: {awkward['errors'][ident]}")
    assert ident in awkward["entries"], f"target did not report {ident}"
    return awkward["entries"][ident]


def _find(seq, addr):
    for r in seq:
        if r.start <= addr < r.end:
            return r
    return None


@pytest.mark.parametrize("ident", ENTRY_IDS)
def test_region(awkward, ident):
    e = _entry(awkward, ident)
    pid = awkward["pid"]
    text = read_maps(pid)
    maps = memmaps.regions(pid)
    assert maps.pid == pid
    ref = _find(parse_maps(text), e["start"])
    assert ref is not None, f"{ident}: not in the kernel's text at all"
    lib = _find(maps, e["start"])
    assert lib is not None, f"{ident}: no region contains {e['start']:#x}; kernel says {ref.line!r}"
    check_region_shape(lib)

    truth = None if e["path"] is None else bytes.fromhex(e["path"])
    want_path = None if truth is None else os.fsdecode(truth)

    # What the target made, independently of the kernel's text.
    expected = dict(
        start=e["start"],
        end=e["end"],
        perms=e["perms"],
        offset=e["offset"],
        path=want_path,
        deleted=e["deleted"],
        kind=e["kind"],
    )
    if e["dev"] is not None:
        expected["dev_major"], expected["dev_minor"] = e["dev"]
    if e["inode"] is not None:
        expected["inode"] = e["inode"]
    got = {k: getattr(lib, k) for k in expected}
    assert got == expected, (
        f"{ident}: library region differs from what the target created\n"
        f"  kernel line: {ref.line!r}\n  library:     {tuple(lib)!r}"
    )
    if truth is not None:
        assert os.fsencode(lib.path) == truth, f"{ident}: path bytes differ"

    # The reference parse of the kernel text agrees with the target too (so
    # the expectations above are really the kernel's).
    assert ref.header() == (
        e["start"],
        e["end"],
        e["perms"],
        e["offset"],
        ref.dev_major,
        ref.dev_minor,
        ref.inode,
    )
    if truth is None:
        assert ref.raw_name is None, ref.line
    else:
        assert ref.raw_name == kernel_escape(truth) + (b" (deleted)" if e["deleted"] else b""), (
            ref.line
        )
    diffs = lib_vs_ref(lib, ref, path=want_path, deleted=e["deleted"])
    assert not diffs, f"{ident}: library vs kernel text {ref.line!r}:\n  " + "\n  ".join(diffs)


def test_newline_and_literal_backslash_012_are_told_apart(awkward):
    """The kernel prints both names identically; the library must not."""
    a, b = _entry(awkward, "newline"), _entry(awkward, "literal_012")
    ref = parse_maps(read_maps(awkward["pid"]))
    ra, rb = _find(ref, a["start"]), _find(ref, b["start"])
    assert os.path.basename(ra.raw_name) == os.path.basename(rb.raw_name)  # same text
    maps = memmaps.regions(awkward["pid"])
    pa, pb = _find(maps, a["start"]).path, _find(maps, b["start"]).path
    assert pa.endswith("/new\nline\n"), repr(pa)
    assert pb.endswith("/new\\012line\\012"), repr(pb)


def test_text_only_leaves_the_ambiguity_as_the_text_has_it(awkward):
    """With TEXT_ONLY the kernel is not asked: both names read back as the
    newline the text most likely means, which is what parse() gives."""
    a, b = _entry(awkward, "newline"), _entry(awkward, "literal_012")
    found, _partial = memmaps._core.regions(awkward["pid"], memmaps._core.TEXT_ONLY)
    pa, pb = _find(found, a["start"]).path, _find(found, b["start"]).path
    assert pa.endswith("/new\nline\n"), repr(pa)
    assert pb.endswith("/new\nline\n"), repr(pb)
    parsed = memmaps.parse(read_maps(awkward["pid"]))
    assert _find(parsed, b["start"]).path == pb


def test_to_proc_maps_is_the_kernel_text(awkward):
    pid = awkward["pid"]
    before = read_maps(pid)
    maps = memmaps.regions(pid)
    after = read_maps(pid)
    assert before == after, "the idle target's maps changed"
    got = maps.to_proc_maps()
    assert isinstance(got, str)
    got_b = os.fsencode(got)
    if got_b != before:
        gl, kl = got_b.split(b"\n"), before.split(b"\n")
        for i, (g, k) in enumerate(zip(gl, kl, strict=False)):
            if g != k:
                pytest.fail(
                    f"to_proc_maps() differs from the kernel at line {i + 1}:\n"
                    f"  kernel:  {k!r}\n  library: {g!r}"
                )
        pytest.fail(f"to_proc_maps() has {len(gl)} lines, the kernel {len(kl)}")


def test_whole_map_of_target(awkward):
    """Every region of the kernel's text is in the result with identical
    fields (path/deleted: the truth for the target's own ambiguous names)."""
    pid = awkward["pid"]
    text = read_maps(pid)
    maps = memmaps.regions(pid)
    assert read_maps(pid) == text
    ref = parse_maps(text)
    assert not region_problems(maps), region_problems(maps)
    assert len(maps) == len(ref), f"library {len(maps)} regions, kernel {len(ref)}"
    by_start = {e["start"]: e for e in awkward["entries"].values()}
    problems = []
    for lib, r in zip(maps, ref, strict=False):
        check_region_shape(lib)
        e = by_start.get(r.start)
        if e is not None and e["path"] is not None:
            d = lib_vs_ref(lib, r, path=os.fsdecode(bytes.fromhex(e["path"])), deleted=e["deleted"])
        else:
            d = lib_vs_ref(lib, r)
        if d:
            problems.append(f"{r.line!r}: " + "; ".join(d))
    assert not problems, "\n".join(problems)
