"""The Windows backend for real, under Wine: tools/mmdump.c built with
MinGW-w64 from exactly the files setup.py builds the extension from on
Windows, reading itself and tests/wine/child.c, which makes one of each
thing the backend must find and prints where it is.

Wine is not Windows; where it differs, the test that meets it says so.
"""

from __future__ import annotations

import select
from pathlib import Path

import pytest

from memmaps import Maps
from tests.contract import contract
from tests.helpers import wine as winehelp

PAGE = 0x1000


def _run_fields(session, *args: object) -> str:
    result = session.run(session.program("mmdump"), "--fields", *args)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode("utf-8", "surrogatepass")


def _fields(session, *args: object) -> list[dict[str, str]]:
    return winehelp.parse_fields(_run_fields(session, *args))


def _partial(text: str) -> str | None:
    lines = [line for line in text.splitlines() if line.startswith("partial=")]
    return lines[0].removeprefix("partial=") if lines else None


def _at(rows: list[dict[str, str]], addr: int) -> dict[str, str]:
    for row in rows:
        if int(row["start"], 16) <= addr < int(row["end"], 16):
            return row
    raise AssertionError(f"no region holds {addr:#x}")


def _span(row: dict[str, str]) -> tuple[int, int]:
    return int(row["start"], 16), int(row["end"], 16)


class Child:
    """A running child.exe (or child32.exe) and its listing, read once."""

    def __init__(self, session, bits: int, folder: Path, extra: int = 0) -> None:
        suffix = "32" if bits == 32 else ""
        self.folder = folder
        self.dll = session.program(f"exports{suffix}.dll")
        self.ready = session.launch_ready(
            session.program(f"child{suffix}"),
            winehelp.windows_path(folder),
            winehelp.windows_path(self.dll),
            extra,
        )
        self.v = self.ready.values
        self.pid = self.ready.pid

    def path(self, name: str) -> str:
        return winehelp.windows_path(self.folder / name)


@pytest.fixture(scope="module")
def child(wine_session, tmp_path_factory):
    c = Child(wine_session, 64, tmp_path_factory.mktemp("child64"))
    yield c
    c.ready.stop()


@pytest.fixture(scope="module")
def listing(wine_session, child) -> str:
    return _run_fields(wine_session, "--usage", child.pid)


@pytest.fixture(scope="module")
def rows(listing) -> list[dict[str, str]]:
    return winehelp.parse_fields(listing)


def test_own_listing_by_the_contract(wine_session) -> None:
    text = _run_fields(wine_session, "--usage")
    assert _partial(text) is None, "the working set of the calling process is there"
    rows = winehelp.parse_fields(text)
    maps = Maps([winehelp.region_of(r) for r in rows], 1)
    assert len(maps) > 20
    problems = contract.listing_problems(maps)
    assert not problems, "\n".join(problems[:20])
    exe = [r for r in rows if r.get("path", "").lower().endswith("mmdump.exe")]
    assert exe and all(r["tag"] == "image" and r["kind"] == "file" for r in exe)
    details = {r.get("detail", "").split(" tid")[0] for r in rows}
    assert {"PEB", "TEB", "stack", "stack guard"} <= details, details
    # Usage from the working set: the running stack and the code are
    # resident; what is resident is no more than the region; the split
    # into shared and private adds up to it.
    for r in rows:
        rss = int(r["u.rss"])
        assert rss <= int(r["u.size"])
        parts = ("u.shared_clean", "u.shared_dirty", "u.private_clean", "u.private_dirty")
        assert sum(int(r[p]) for p in parts) == rss, r
        assert int(r["u.pss"]) <= rss
        if r["tag"] == "reserved":
            assert rss == 0
    stack = [r for r in rows if r["kind"] == "stack" and int(r["u.rss"]) > 0]
    assert stack and all(r["u.private_dirty"] == r["u.rss"] for r in stack)
    code = [r for r in exe if "x" in r["perms"]]
    assert code and sum(int(r["u.rss"]) for r in code) > 0


def test_reserve_commit_guard_and_protect(child, rows) -> None:
    """One VirtualAlloc reservation of 1 MiB, 16 pages committed, the third
    a guard page and the fifth read-only: five regions of one allocation."""
    base = child.v["reserve"]
    pieces = [r for r in rows if int(r["alloc_base"], 16) == base]
    got = [
        (_span(r)[0] - base, _span(r)[1] - base, r["perms"], r["kind"], r["tag"]) for r in pieces
    ]
    assert got == [
        (0, 2 * PAGE, "rw-p", "anon", "private"),
        (2 * PAGE, 3 * PAGE, "rw-p", "guard", "private"),
        (3 * PAGE, 4 * PAGE, "rw-p", "anon", "private"),
        (4 * PAGE, 5 * PAGE, "r--p", "anon", "private"),
        (5 * PAGE, 16 * PAGE, "rw-p", "anon", "private"),
        (16 * PAGE, 1 << 20, "---p", "anon", "reserved"),
    ], got
    # AllocationProtect: the reservation was made PAGE_NOACCESS.
    assert {r["max_perms"] for r in pieces} == {"---"}
    assert all(int(r["u.size"]) == _span(r)[1] - _span(r)[0] for r in pieces)


def test_usage_of_the_child(child, rows, listing) -> None:
    partial = _partial(listing)
    if partial is not None:
        # Wine's QueryWorkingSetEx() answers only for the calling process
        # (ERROR_INVALID_PARAMETER for any other): the backend says so in
        # the listing's partial and gives sizes only.
        assert "QueryWorkingSetEx() failed with error 87" in partial, partial
        assert all(set(r) & {"u.rss", "u.pss"} == set() for r in rows)
        pytest.skip(f"this system does not give another process's working set: {partial}")
    base = child.v["reserve"]
    pieces = [r for r in rows if int(r["alloc_base"], 16) == base]
    # The 16 committed pages were all written (the guard page before it
    # became one): resident, private, dirty in Linux's terms.
    committed = pieces[:5]
    assert sum(int(r["u.rss"]) for r in committed) == 16 * PAGE
    assert all(r["u.private_dirty"] == r["u.rss"] == r["u.anonymous"] for r in committed)
    assert all(int(r["u.shared_clean"]) == 0 for r in committed)
    assert int(pieces[-1]["u.rss"]) == 0


def test_file_views(child, rows) -> None:
    view = _at(rows, child.v["view"])
    assert view["start"] == hex(child.v["view"])
    assert (view["perms"], view["tag"], view["kind"]) == ("r--s", "mapped", "file")
    assert view["path"] == child.path("view.bin")
    assert _span(view)[1] - _span(view)[0] == 3 * PAGE
    # FILE_MAP_COPY: writable, private, copy-on-write.
    cow = _at(rows, child.v["cow"])
    assert (cow["perms"], cow["tag"], cow["kind"]) == ("rw-p", "mapped", "file")
    assert cow["path"] == child.path("copy.bin")
    # Paging-file backed shared memory has no file.
    shared = _at(rows, child.v["shared"])
    assert (shared["perms"], shared["tag"], shared["kind"]) == ("rw-s", "mapped", "shmem")
    assert "path" not in shared


def test_heaps(child, rows) -> None:
    process_heap = _at(rows, child.v["process_heap"])
    assert process_heap["kind"] == "heap"
    assert process_heap["detail"] == f"heap {child.v['process_heap']:#x}"
    heap = _at(rows, child.v["heap"])
    assert int(heap["alloc_base"], 16) == child.v["heap"]
    if child.v["peb_heaps"] < 2:
        # Wine keeps its heaps in a list of its own: PEB.NumberOfHeaps is 0
        # and ProcessHeaps empty, while GetProcessHeaps() counts them.
        pytest.skip(
            f"the PEB lists {child.v['peb_heaps']} heaps of the "
            f"{child.v['heaps']} GetProcessHeaps() counts (Wine does not keep "
            "PEB.ProcessHeaps): a HeapCreate() heap cannot be labelled from it"
        )
    assert heap["kind"] == "heap" and heap["detail"] == f"heap {child.v['heap']:#x}"


@pytest.mark.parametrize("thread", ["main", "worker"])
def test_threads(child, rows, thread: str) -> None:
    prefix = "" if thread == "main" else "thread_"
    tid = child.v["tid" if thread == "main" else "thread"]
    base, limit = child.v[f"{prefix}stack_base"], child.v[f"{prefix}stack_limit"]
    stack = [r for r in rows if _span(r)[0] < base and _span(r)[1] > limit]
    assert stack and all(r["kind"] == "stack" for r in stack), stack
    assert {r["detail"] for r in stack} == {f"stack tid {tid}"}
    guard = _at(rows, limit - PAGE)
    assert (guard["kind"], guard["detail"]) == ("guard", f"stack guard tid {tid}")
    assert guard["alloc_base"] == stack[0]["alloc_base"]
    teb = _at(rows, child.v[f"{prefix}teb"])
    assert teb["detail"] == f"TEB tid {tid}" and teb["start"] == hex(child.v[f"{prefix}teb"])
    peb = _at(rows, child.v["peb"])
    assert peb["detail"] == "PEB"


@pytest.mark.parametrize("module", ["exe", "ntdll", "kernel32", "dll"])
def test_modules_at_the_bases_the_child_reports(child, rows, module: str) -> None:
    base = child.v[module]
    first = _at(rows, base)
    assert first["start"] == hex(base) and int(first["alloc_base"], 16) == base
    image = [r for r in rows if r["alloc_base"] == first["alloc_base"]]
    assert all(r["tag"] == "image" and r["kind"] == "file" for r in image)
    assert len({r["path"] for r in image}) == 1, "one name for every piece"
    name = {"exe": "child.exe", "ntdll": "ntdll.dll", "kernel32": "kernel32.dll"}
    want = name.get(module, "exports.dll")
    assert first["path"].lower().endswith("\\" + want), first["path"]
    if module == "dll":
        assert first["path"] == winehelp.windows_path(child.dll)
    # Images are copy-on-write: never "s", and some piece executable.
    assert all(r["perms"].endswith("p") for r in image)
    assert any(r["perms"][2] == "x" for r in image)


@pytest.fixture(scope="module")
def images(wine_session, child) -> list[list[str]]:
    result = wine_session.run(wine_session.program("mmdump"), "--images", child.pid)
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.decode().splitlines()]


def test_usage_on_a_known_layout(wine_session) -> None:
    """Residency as the working set says it, on memory whose residency is
    known: tests/wine/selfusage.c writes 8 of 16 committed pages and one
    page of a shared section, then lists itself (Wine gives the working
    set of the calling process only)."""
    result = wine_session.run(wine_session.program("selfusage"))
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0 and lines and lines[0].startswith("ready"), result
    v = {k: int(x, 0) for k, x in (w.split("=") for w in lines[0].split()[1:])}
    page = v["page"]
    figures = {}
    for line in lines[1:]:
        start, end, *numbers = line.split()
        figures[int(start, 16) - v["reserve"], int(end, 16) - v["reserve"]] = tuple(
            map(int, numbers)
        )
    # rss pss shared_clean private_clean private_dirty anonymous
    written = 8 * page
    assert figures[0, 16 * page] == (written, written, 0, 0, written, written)
    assert figures[16 * page, 1 << 20] == (0, 0, 0, 0, 0, 0)  # reserved
    shared = v["shared"] - v["reserve"]
    # A section page in no other working set: private and clean in
    # Linux's terms (the mapping is in windows.c).
    assert figures[shared, shared + 16 * page] == (page, page, 0, page, 0, 0)


def test_images(child, rows, images) -> None:
    """EnumProcessModulesEx's modules with their PE headers read from the
    child's memory: at the bases the child reports, the exe alone the main
    image, the DLL's build id the CodeView record objdump reads in the
    file, each image covering the regions of its allocation."""
    by_base = {
        int(base, 16): (int(end, 16), int(bias, 16), flags, build_id, path)
        for base, end, bias, flags, build_id, path, _source in images
    }
    bases = [int(fields[0], 16) for fields in images]
    assert bases == sorted(bases)
    for module in ("exe", "ntdll", "kernel32", "dll"):
        assert child.v[module] in by_base, f"{module} at {child.v[module]:#x} is not listed"
    mains = [base for base, image in by_base.items() if "main" in image[2].split(",")]
    assert mains == [child.v["exe"]]
    end, bias, flags, build_id, path = by_base[child.v["dll"]]
    assert path == winehelp.windows_path(child.dll)
    assert build_id == winehelp.objdump_build_id(child.dll)
    assert "memory" in flags.split(",")
    for base, (end, bias, _flags, _id, path) in by_base.items():
        pieces = [r for r in rows if int(r["alloc_base"], 16) == base]
        assert pieces, f"no region of the image at {base:#x}"
        assert all(base <= _span(r)[0] < _span(r)[1] <= end for r in pieces), path
        assert all(r["path"] == path for r in pieces), (path, pieces[0].get("path"))
        assert bias < 2**64


def test_exports_equal_get_proc_address(wine_session, child) -> None:
    """The PE reader's export table, read from the child's memory at the
    DLL's base, gives the addresses GetProcAddress gives in the child."""
    result = wine_session.run(
        wine_session.program("mmdump"), "--exports", hex(child.v["dll"]), child.pid
    )
    assert result.returncode == 0, result.stderr
    exports = {}
    for line in result.stdout.decode().splitlines():
        name, ordinal, address, forwarder = line.split("\t")
        exports[name] = (int(ordinal), int(address, 16), forwarder)
    for name in ("mm_test_add", "mm_test_twice", "mm_test_data"):
        assert exports[name][1] == child.v[name], (name, exports[name], hex(child.v[name]))
        assert exports[name][2] == "-"
    assert sorted(o for o, _a, _f in exports.values()) == list(range(1, len(exports) + 1))


def test_region_at_agrees_with_the_listing(wine_session, child, rows) -> None:
    maps = Maps([winehelp.region_of(r) for r in rows], child.pid)
    asked: list[int] = []
    contract.lookup_problems(maps, lambda addr: asked.append(addr))
    assert len(asked) > 20
    args = [word for addr in asked for word in ("--at", hex(addr))]
    answers = {}
    for row in _fields(wine_session, *args, child.pid):
        at = int(row.pop("at"), 16)
        answers[at] = winehelp.region_of(row) if row else None

    def region_at(addr: int):
        found = answers[addr]
        if found is not None and found.usage is None:
            held = maps.at(addr)
            # The listing carries usage, the lookups do not.
            assert held is None or held._replace(usage=None) == found, (held, found)
        return found

    problems = contract.lookup_problems(maps, region_at)
    assert not problems, "\n".join(problems[:20])


def test_read_memory(wine_session, child) -> None:
    mmdump = wine_session.program("mmdump")
    data = child.v["mm_test_data"]
    result = wine_session.run(mmdump, "--read", hex(data), "4", child.pid)
    assert result.stdout.decode().strip() == "2a000000"  # 42, little-endian
    # A range that runs from the committed pages into the reserved rest:
    # its readable prefix.
    end = child.v["reserve"] + 16 * PAGE
    result = wine_session.run(mmdump, "--read", hex(end - 8), "10", child.pid)
    assert result.stdout.decode().strip() == "01" * 8
    result = wine_session.run(mmdump, "--read", hex(end), "10", child.pid)
    assert result.returncode == 0 and result.stdout.decode().strip() == ""


def test_a_path_longer_than_max_path(child, rows) -> None:
    view = _at(rows, child.v["long_view"])
    assert view["tag"] == "mapped"
    if "long_name_error" in child.v:
        # Wine's GetMappedFileNameW fails with ERROR_MORE_DATA (234) for a
        # name longer than MAX_PATH, whatever the buffer's size.
        pytest.skip(
            "GetMappedFileNameW refuses the child its own view's name here "
            f"(error {child.v['long_name_error']}): Wine does not give names "
            "longer than MAX_PATH"
        )
    assert len(view["path"]) > 260 and view["path"].endswith("\\long.bin")


def test_a_name_with_an_unpaired_surrogate(child, rows) -> None:
    if child.v["odd_view"] == 0:
        # Wine keeps names as UTF-8 in the Unix file system, which cannot
        # hold a lone surrogate: CreateFileW fails (error 2).  The WTF-8
        # conversion itself is checked by test_backend_helpers.
        pytest.skip(
            "the child could not create a file whose name has an unpaired "
            f"surrogate (error {child.v.get('odd_view_error')}): Wine's file "
            "names are UTF-8 on the Unix side"
        )
    view = _at(rows, child.v["odd_view"])
    assert view["path"].endswith("odd-\udc00-name.bin".replace("\udc00", "\ud800"))


def test_backend_helpers(wine_session) -> None:
    """WTF-8 and the device-name translation, on inputs Wine cannot make:
    tests/wine/units.c calls the backend's own functions."""
    result = wine_session.run(wine_session.program("units"))
    out = result.stdout.decode()
    assert result.returncode == 0 and out.startswith("ok "), out
    assert int(out.split()[1]) >= 12


def test_process_usage(wine_session, child) -> None:
    rows = winehelp.parse_fields(
        wine_session.run(wine_session.program("mmdump"), "--total", child.pid).stdout.decode()
    )
    assert len(rows) == 1
    assert int(rows[0]["u.rss"]) >= 16 * PAGE  # the child wrote that much


def test_a_process_that_does_not_exist(wine_session) -> None:
    result = wine_session.run(wine_session.program("mmdump"), "--fields", 0x7FFFFFF0)
    assert result.returncode == 3, result
    assert b"does not exist" in result.stderr


def test_the_process_exiting_mid_walk(wine_session, tmp_path: Path) -> None:
    """The walk stops at its first cancel check (--pause) while the child
    is still there, the child exits, the walk goes on: NoSuchProcess, not a
    listing of a dead process."""
    c = Child(wine_session, 64, tmp_path, extra=600)
    proc = wine_session.start(wine_session.program("mmdump"), "--fields", "--pause", c.pid)
    try:
        assert proc.stderr is not None and proc.stdin is not None
        ready, _, _ = select.select([proc.stderr], [], [], winehelp.TIMEOUT)
        assert ready and proc.stderr.readline() == b"paused\n"
        c.ready.stop()
        assert c.ready.proc.returncode == 0
        proc.stdin.write(b"go on\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=winehelp.TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
        c.ready.stop()
    assert proc.returncode == 3, (out[-500:], err)
    assert b"does not exist (or exited while being read)" in err
    assert out == b""


@pytest.mark.parametrize("who", ["self", "child", "missing"])
def test_handles_are_closed(wine_session, child, who: str) -> None:
    pid = {"self": [], "child": [child.pid], "missing": [0x7FFFFFF0]}[who]
    result = wine_session.run(wine_session.program("mmdump"), "--handles", 40, *pid)
    words = {k: int(v) for k, v in (w.split("=") for w in result.stdout.decode().split()[1:])}
    if words["before"] > 0:
        assert words["after"] == words["before"], f"handles leaked in 40 rounds: {words}"
        return
    # Wine's GetProcessHandleCount() is always 0.  Its handle table gives
    # out the lowest free slot, so a handle left open by any of the 200
    # calls would move a new handle's value up.
    assert words["probe_before"] > 0, words
    assert words["probe_after"] == words["probe_before"], f"a handle leaked: {words}"


def _wow64_reason(session) -> str | None:
    probe = session.run(session.program("child32"), "Z:\\nonexistent", "none")
    if probe.returncode == 2 or b"ready" in probe.stdout:
        return None
    return f"32-bit programs do not run under this Wine: {probe.stderr[-300:]!r}"


@pytest.fixture(scope="module")
def child32(wine_session, tmp_path_factory):
    why = _wow64_reason(wine_session)
    if why is not None:
        pytest.skip(why)
    c = Child(wine_session, 32, tmp_path_factory.mktemp("child32"))
    yield c
    c.ready.stop()


def test_wow64_child(wine_session, child32) -> None:
    """A 32-bit child read by the 64-bit backend: its 32-bit modules, its
    32-bit PEB, TEBs, stacks and process heap beside the 64-bit ones."""
    rows = _fields(wine_session, child32.pid)
    maps = Maps([winehelp.region_of(r) for r in rows], child32.pid)
    assert not contract.listing_problems(maps)
    v = child32.v
    for module, name in (("exe", "child32.exe"), ("ntdll", "ntdll.dll"), ("dll", "exports32.dll")):
        first = _at(rows, v[module])
        assert first["start"] == hex(v[module]) and first["tag"] == "image"
        assert first["path"].lower().endswith("\\" + name), first["path"]
    # Windows names a WoW64 process's 32-bit system DLLs C:\Windows\SysWOW64\...;
    # Wine 8 names them as the 32-bit process sees them, system32.
    assert _at(rows, v["peb"])["detail"] == "PEB (32-bit)"
    assert _at(rows, v["teb"])["detail"] == f"TEB tid {v['tid']} (32-bit)"
    stack = _at(rows, v["stack_base"] - 1)
    assert (stack["kind"], stack["detail"]) == ("stack", f"stack tid {v['tid']} (32-bit)")
    guard = _at(rows, v["stack_limit"] - PAGE)
    assert guard["detail"] == f"stack guard tid {v['tid']} (32-bit)"
    heap = _at(rows, v["process_heap"])
    assert (heap["kind"], heap["detail"]) == ("heap", f"heap {v['process_heap']:#x} (32-bit)")
    # The 64-bit side of the same threads is there too, as on Windows.
    assert any(r.get("detail") == f"TEB tid {v['tid']}" for r in rows)
    assert any(r.get("detail") == "PEB" for r in rows)


def test_wow64_images_and_exports(wine_session, child32) -> None:
    """LIST_MODULES_ALL: the 64-bit reader sees the 32-bit modules, whose
    PE32 headers and export table it reads from the child's memory."""
    mmdump = wine_session.program("mmdump")
    v = child32.v
    result = wine_session.run(mmdump, "--images", child32.pid)
    assert result.returncode == 0, result.stderr
    images = {
        int(f[0], 16): f for f in (line.split("\t") for line in result.stdout.decode().splitlines())
    }
    for module in ("exe", "ntdll", "kernel32", "dll"):
        assert v[module] in images, f"the 32-bit {module} at {v[module]:#x} is not listed"
    assert "main" in images[v["exe"]][3].split(",")
    assert images[v["dll"]][4] == winehelp.objdump_build_id(child32.dll, bits=32)
    result = wine_session.run(mmdump, "--exports", hex(v["dll"]), child32.pid)
    exports = {
        f[0]: int(f[2], 16)
        for f in (line.split("\t") for line in result.stdout.decode().splitlines())
    }
    for name in ("mm_test_add", "mm_test_twice", "mm_test_data"):
        assert exports[name] == v[name], name
