"""Live tests of the search order (memmaps/_platform/linux_scope.py): real
targets built with gcc, whose own answers (dlsym(RTLD_DEFAULT, ...), the
addresses their code uses) say which copy of a symbol the process uses.

scope_main is linked against libdupb.so then libdupa.so, which both define
dup_symbol (a function) and dup_object (an object, which the executable
copies); an LD_PRELOAD library interposes malloc; libraries are dlopen()ed
RTLD_GLOBAL, RTLD_LOCAL and into a new namespace.  The first image of the
search order that defines a name must give the process's own address.  The
order read from the target's memory ("link_map") is compared with gdb's
list and with the order rebuilt from files ("rebuilt") by a reader the
kernel lets read the map, the environment and the root, but not the memory:
a reader whose effective ids are the target's and whose real ids are not
(ptrace checks the map with the file-system ids, the memory with the real
ones).  The target also lies (a wrong l_addr, a loop, an r_state that says
ld.so is busy) and churns (dlopen/dlclose in a thread).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

import memmaps
from memmaps import _core
from memmaps._platform import linux, linux_scope, native
from memmaps.images import Image
from tests.helpers import procutil

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)

NOBODY = procutil.NOBODY
OTHER = procutil.OTHER
PT_INTERP = 3
# What scope_main prints after its pid, in order.
PRINTED = (
    "dlsym_dup_symbol",
    "dup_symbol",
    "dlsym_dup_object",
    "dup_object",
    "dlsym_malloc",
    "dlsym_late_symbol",
)
# The images ld.so loads at start-up, in its order (the vDSO aside).
INITIAL = ["scope_main", "libdupb.so", "libdupa.so", "libc.so.6", "ld-linux-x86-64.so.2"]


@dataclass
class Bins:
    folder: Path
    main: Path
    interpose: Path
    late_global: Path
    late_local: Path


def build(folder: Path, rpath: str) -> Bins:
    def lib(name: str, source: str, *flags: str) -> Path:
        return procutil.compile_target(source, folder / name, "-shared", "-fPIC", *flags)

    lib("libdupa.so", "scope_dup", "-DWHICH=0xa")
    lib("libdupb.so", "scope_dup", "-DWHICH=0xb")
    interpose = lib("libinterpose.so", "scope_interpose")
    late_global = lib("libscope_global.so", "scope_late", "-DWHICH=1")
    late_local = lib("libscope_local.so", "scope_late", "-DWHICH=2")
    main = procutil.compile_target(
        "scope_main",
        folder / "scope_main",
        "-fPIE",
        "-pie",
        f"-L{folder}",
        # Both, in this order, though the executable needs only the first.
        "-Wl,--no-as-needed",
        "-ldupb",
        "-ldupa",
        f"-Wl,-rpath,{rpath}",
    )
    return Bins(folder, main, interpose, late_global, late_local)


@pytest.fixture(scope="module")
def bins(live_bindir: Path) -> Bins:
    folder = procutil.world_dir(live_bindir)
    return build(folder, str(folder))


def launch(args: list[object], **kw: object) -> procutil.Ready:
    target = procutil.launch_ready(args, **kw)
    assert len(target.addrs) == len(PRINTED), target.addrs
    return target


def printed(target: procutil.Ready) -> dict[str, int]:
    return dict(zip(PRINTED, target.addrs, strict=True))


def loaded(pid: int) -> tuple[list[Image], list[native.ImageRecord]]:
    records, maps = native.image_records(pid)
    return native.images_of(pid, (records, maps), linux._ElfSymbols), records


def file_names(images: list[Image], order: list[int]) -> list[str]:
    return [os.path.basename(images[i].path) for i in order]


def resolve(images: list[Image], order: list[int], name: str) -> tuple[int, str]:
    """What the first image of order that defines name gives, and its file
    name: the dynamic linker's answer, if order is its search order."""
    for i in order:
        address = images[i].symbol(name)
        if address is not None:
            return address, os.path.basename(images[i].path)
    raise AssertionError(f"no image defines {name}")


def check_permutation(found: linux_scope.Scope, count: int) -> None:
    assert sorted(found.order) == list(range(count)), found.order
    assert 0 <= found.placed <= count


def interpreter(exe: Path) -> str:
    """The PT_INTERP path: where ld.so is."""
    with open(exe, "rb") as file:
        elf = _core.ImageFile(file.fileno(), format="elf")
        (interp,) = [s for s in elf.segments if s[0] == PT_INTERP]
        file.seek(interp[2])
        return file.read(interp[4]).rstrip(b"\0").decode()


def holder(images: list[Image], address: int) -> str:
    (image,) = [image for image in images if image.base <= address < image.end]
    return os.path.basename(image.path)


# --------------------------------------------------------------------------
# The order read from memory
# --------------------------------------------------------------------------


def test_a_symbol_defined_twice_resolves_to_the_copy_in_use(bins: Bins) -> None:
    target = launch([bins.main])
    try:
        images, records = loaded(target.pid)
        found = linux_scope.scope(target.pid, images, records)
        check_permutation(found, len(images))
        assert found.how == "link_map", found.note
        assert (found.mismatched, found.unmatched, found.note) == (0, 0, None)
        assert file_names(images, found.order)[: found.placed] == INITIAL
        assert linux_scope.search_order(target.pid, images, records) == (found.order, found.how)
        seen = printed(target)
        # The function: libdupb's, which ld.so found first.
        assert seen["dlsym_dup_symbol"] == seen["dup_symbol"]
        assert holder(images, seen["dup_symbol"]) == "libdupb.so"
        assert resolve(images, found.order, "dup_symbol") == (seen["dup_symbol"], "libdupb.so")
        # The object: the executable's own copy (a copy relocation).
        assert seen["dlsym_dup_object"] == seen["dup_object"]
        assert resolve(images, found.order, "dup_object") == (seen["dup_object"], "scope_main")
        # ld.so maps each library below the one before it: address order
        # would have given libdupa's.
        by_address = resolve(images, list(range(len(images))), "dup_symbol")
        assert by_address[1] == "libdupa.so", "the test no longer tells the orders apart"
    finally:
        procutil.stop(target.proc)


def test_a_preloaded_malloc_comes_right_after_the_executable(bins: Bins) -> None:
    env = {"LD_PRELOAD": str(bins.interpose)}
    target = launch([bins.main], env=env)
    try:
        images, records = loaded(target.pid)
        found = linux_scope.scope(target.pid, images, records)
        assert found.how == "link_map" and found.note is None
        names = file_names(images, found.order)
        assert names[: found.placed] == [INITIAL[0], "libinterpose.so", *INITIAL[1:]]
        seen = printed(target)
        assert holder(images, seen["dlsym_malloc"]) == "libinterpose.so"
        assert resolve(images, found.order, "malloc") == (seen["dlsym_malloc"], "libinterpose.so")
        for name in ("calloc", "realloc", "free"):
            assert resolve(images, found.order, name)[1] == "libinterpose.so", name
    finally:
        procutil.stop(target.proc)


def test_dlopened_libraries_follow_in_load_order(bins: Bins) -> None:
    target = launch([bins.main, f"global:{bins.late_global}", f"local:{bins.late_local}"])
    try:
        images, records = loaded(target.pid)
        found = linux_scope.scope(target.pid, images, records)
        assert found.how == "link_map" and found.note is None
        names = file_names(images, found.order)
        assert names[: found.placed] == [*INITIAL, "libscope_global.so", "libscope_local.so"]
        assert names[found.placed] == "[vdso]", "the vDSO is not searched before them"
        seen = printed(target)
        assert holder(images, seen["dlsym_late_symbol"]) == "libscope_global.so"
        assert resolve(images, found.order, "late_symbol")[0] == seen["dlsym_late_symbol"]
        # Loaded later, they never take dup_symbol from the initial set.
        assert resolve(images, found.order, "dup_symbol")[0] == seen["dup_symbol"]
    finally:
        procutil.stop(target.proc)


@pytest.mark.xfail(
    strict=True,
    reason="the public part of link_map does not say RTLD_LOCAL: a local library loaded "
    "before a global one comes first in the chain, though the process's global "
    "lookups skip it",
)
def test_a_local_library_loaded_first_is_not_in_the_global_scope(bins: Bins) -> None:
    target = launch([bins.main, f"local:{bins.late_local}", f"global:{bins.late_global}"])
    try:
        images, records = loaded(target.pid)
        found = linux_scope.scope(target.pid, images, records)
        seen = printed(target)
        assert holder(images, seen["dlsym_late_symbol"]) == "libscope_global.so"
        assert resolve(images, found.order, "late_symbol")[0] == seen["dlsym_late_symbol"]
    finally:
        procutil.stop(target.proc)


def test_another_namespace_is_counted_and_left_after(bins: Bins) -> None:
    """dlmopen() loads a second libdupa into namespace 1: it is mapped, but
    the global scope is namespace 0's."""
    target = launch([bins.main, f"newns:{bins.folder / 'libdupa.so'}"])
    try:
        images, records = loaded(target.pid)
        found = linux_scope.scope(target.pid, images, records)
        assert found.how == "link_map"
        assert found.note == "1 more namespace (dlmopen) not searched first"
        names = file_names(images, found.order)
        assert names[: found.placed] == INITIAL
        assert names.count("libdupa.so") == 2
        assert resolve(images, found.order, "dup_symbol")[0] == printed(target)["dup_symbol"]
    finally:
        procutil.stop(target.proc)


def test_gdb_lists_the_same_order(bins: Bins) -> None:
    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.skip("gdb is not installed")
    env = {"LD_PRELOAD": str(bins.interpose)}
    target = launch([bins.main, f"global:{bins.late_global}"], env=env)
    try:
        images, records = loaded(target.pid)
        found = linux_scope.scope(target.pid, images, records)
        proc = subprocess.run(
            [gdb, "-nx", "-p", str(target.pid), "-batch", "-ex", "info sharedlibrary"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        listed = re.findall(
            r"^0x[0-9a-f]+\s+0x[0-9a-f]+\s+(?:Yes|No)(?: \(\*\))?\s+(/.*)$",
            proc.stdout,
            re.M,
        )
        assert len(listed) >= 5, proc.stdout + proc.stderr
        # gdb prints the chain's l_name (/lib/...), the map its own path
        # (/usr/lib/... on a merged /usr): the same files.
        ours = [images[i].path for i in found.order[1 : found.placed]]
        assert [os.path.realpath(p) for p in ours] == [os.path.realpath(p) for p in listed]
    finally:
        procutil.stop(target.proc)


def test_ld_so_run_as_the_program(bins: Bins) -> None:
    """`ld.so ./program`: the executable the kernel ran is ld.so, which has
    no DT_DEBUG; its own _r_debug gives the chain."""
    target = launch([interpreter(bins.main), bins.main])
    try:
        images, records = loaded(target.pid)
        main = [i for i, r in enumerate(records) if r.flags & native.IMAGE_MAIN]
        assert file_names(images, main) == ["ld-linux-x86-64.so.2"]
        found = linux_scope.scope(target.pid, images, records)
        assert found.how == "link_map" and found.note is None
        assert file_names(images, found.order)[: found.placed] == INITIAL
        assert resolve(images, found.order, "dup_symbol")[0] == printed(target)["dup_symbol"]
    finally:
        procutil.stop(target.proc)


# --------------------------------------------------------------------------
# Static executables
# --------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["static-no-pie", "static-pie"])
def test_a_static_executable(live_bindir: Path, flavour: str) -> None:
    flags = ["-static", "-no-pie"] if flavour == "static-no-pie" else ["-static-pie"]
    folder = procutil.world_dir(live_bindir)
    exe = procutil.compile_target("img_static", folder / "img_static", *flags)
    target = procutil.launch_ready([exe])
    try:
        images, records = loaded(target.pid)
        assert sorted(file_names(images, list(range(len(images))))) == ["[vdso]", "img_static"]
        found = linux_scope.scope(target.pid, images, records)
        check_permutation(found, len(images))
        if flavour == "static-no-pie":
            # No dynamic section, no ld.so: nothing to search but each image.
            assert (found.how, found.note) == ("address", "a static executable")
            assert found.order == list(range(len(images)))
            assert linux_scope.scope(target.pid, images, records, memory=False).how == "address"
        else:
            # A static PIE relocates itself and fills its DT_DEBUG: a chain
            # of the executable and the vDSO.
            assert found.how == "link_map" and found.note is None
            assert file_names(images, found.order) == ["img_static", "[vdso]"]
            assert found.placed == 1
    finally:
        procutil.stop(target.proc)


# --------------------------------------------------------------------------
# A target that lies, and one that changes its chain all the time
# --------------------------------------------------------------------------


def test_a_wrong_l_addr_is_counted_not_used(bins: Bins) -> None:
    target = launch([bins.main, "--lie-addr", "libdupa.so"])
    try:
        images, records = loaded(target.pid)
        found = linux_scope.scope(target.pid, images, records)
        assert found.how == "link_map"
        assert found.mismatched == 1
        assert (
            found.note == "1 of the chain's objects have an l_addr that is not their image's bias"
        )
        assert file_names(images, found.order)[: found.placed] == INITIAL
    finally:
        procutil.stop(target.proc)


def test_a_chain_that_loops(bins: Bins) -> None:
    target = launch([bins.main, "--loop"])
    try:
        images, records = loaded(target.pid)
        found = linux_scope.scope(target.pid, images, records)
        assert found.how == "link_map"
        assert found.note is not None and "the chain leads back to the link_map" in found.note
        assert file_names(images, found.order)[: found.placed] == INITIAL
    finally:
        procutil.stop(target.proc)


def test_a_chain_ld_so_never_finishes_changing(bins: Bins) -> None:
    target = launch([bins.main, "--adding"])
    try:
        images, records = loaded(target.pid)
        found = linux_scope.scope(target.pid, images, records)
        assert found.how == "link_map"
        assert found.note == (
            "ld.so was changing its list (RT_ADD) over 5 reads: "
            "the order is the chain as it was last read"
        )
        assert file_names(images, found.order)[: found.placed] == INITIAL
    finally:
        procutil.stop(target.proc)


def test_a_chain_that_changes_while_it_is_read(bins: Bins) -> None:
    """A thread dlopen()s and dlclose()s a library without pause: every
    answer is still a whole order with the start-up images first."""
    target = launch([bins.main, f"churn:{bins.late_local}"])
    try:
        images, records = loaded(target.pid)
        hows = set()
        for _ in range(100):
            found = linux_scope.scope(target.pid, images, records)
            check_permutation(found, len(images))
            hows.add(found.how)
            assert file_names(images, found.order)[: len(INITIAL)] == INITIAL, found.note
        assert hows == {"link_map"}
    finally:
        procutil.stop(target.proc)


# --------------------------------------------------------------------------
# The order rebuilt without the memory
# --------------------------------------------------------------------------


def summary(images: list[Image], found: linux_scope.Scope) -> dict:
    return {
        "how": found.how,
        "placed": found.placed,
        "unmatched": found.unmatched,
        "note": found.note,
        "order": [[images[i].path, images[i].base] for i in found.order],
        "dup_symbol": resolve(images, found.order, "dup_symbol")[0],
        "dup_object": resolve(images, found.order, "dup_object")[0],
        "malloc": resolve(images, found.order, "malloc")[0],
    }


@pytest.mark.skipif(not procutil.IS_ROOT, reason="needs root to switch users")
def test_rebuilt_where_the_memory_is_refused(bins: Bins) -> None:
    """The target runs as NOBODY; the reader's effective ids are NOBODY's,
    its real ids OTHER's.  The kernel checks /proc/PID/maps, environ, exe
    and root with the file-system ids (allowed) and process_vm_readv with
    the real ones (refused): the order must be rebuilt, and agree with the
    chain that root reads from the same process on the global scope.  The
    target unmaps its vDSO, which has no file and would otherwise need the
    memory for images() itself."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    preload = f"  {bins.interpose}: /nonexistent/libnothing.so "
    as_nobody = [setpriv, *procutil.AS_NOBODY[1:], "env", f"LD_PRELOAD={preload}"]
    target = launch([*as_nobody, bins.main, f"global:{bins.late_global}", "--unmap-vdso"])
    try:
        procutil.wait_for_uid(target.pid, NOBODY)
        pid = target.pid

        def work() -> dict:
            for name in ("maps", "environ"):
                with open(f"/proc/{pid}/{name}", "rb") as file:
                    assert file.read(1), name
            images, records = loaded(pid)
            try:
                memmaps.read_memory(pid, records[0].header, 1)
                refused = "no error"
            except memmaps.AccessDenied:
                refused = "AccessDenied"
            found = linux_scope.scope(pid, images, records)
            return {"refused": refused, **summary(images, found)}

        rebuilt = procutil.run_as(NOBODY, work, real_uid=OTHER)
        assert rebuilt["refused"] == "AccessDenied"
        assert rebuilt["how"] == "rebuilt", rebuilt["note"]
        assert rebuilt["note"].startswith("access denied to process"), rebuilt["note"]
        assert rebuilt["unmatched"] == 1, "the preload that does not exist"
        images, records = loaded(pid)
        chain = summary(images, linux_scope.scope(pid, images, records))
        assert chain["how"] == "link_map"
        placed = rebuilt["placed"]
        names = [os.path.basename(path) for path, _base in rebuilt["order"][:placed]]
        assert names == [INITIAL[0], "libinterpose.so", *INITIAL[1:]]
        assert rebuilt["order"][:placed] == chain["order"][:placed]
        # What dlopen() added is not known this way: it is among the rest.
        assert "libscope_global.so" in {os.path.basename(p) for p, _ in rebuilt["order"]}
        seen = printed(target)
        for answer in (rebuilt, chain):
            assert answer["dup_symbol"] == seen["dup_symbol"]
            assert answer["dup_object"] == seen["dup_object"]
            assert answer["malloc"] == seen["dlsym_malloc"]
    finally:
        procutil.stop(target.proc)


def test_rebuilt_agrees_with_the_chain(bins: Bins) -> None:
    """The same target read both ways by one reader (memory=False leaves
    the memory alone): the same global scope."""
    env = {"LD_PRELOAD": f"{bins.interpose}"}
    target = launch([bins.main, f"global:{bins.late_global}"], env=env)
    try:
        images, records = loaded(target.pid)
        chain = linux_scope.scope(target.pid, images, records)
        rebuilt = linux_scope.scope(target.pid, images, records, memory=False)
        check_permutation(rebuilt, len(images))
        assert rebuilt.how == "rebuilt" and rebuilt.unmatched == 0
        assert rebuilt.note == "the target's memory was not read"
        assert rebuilt.placed == len(INITIAL) + 1
        assert rebuilt.order[: rebuilt.placed] == chain.order[: rebuilt.placed]
    finally:
        procutil.stop(target.proc)


# --------------------------------------------------------------------------
# /etc/ld.so.preload, inside the target's root
# --------------------------------------------------------------------------


@dataclass
class Root:
    path: Path
    bins: Bins
    inner: str  # where the binaries are, seen from inside


@pytest.fixture(scope="module")
def chroot_tree(live_bindir: Path) -> Root:
    """A root with the targets in /w, ld.so and libc where ld.so looks, and
    an /etc of its own."""
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        pytest.skip("needs root and chroot(8)")
    root = procutil.world_dir(live_bindir)
    inner = root / "w"
    inner.mkdir(mode=0o755)
    bins = build(inner, "/w")
    ld_so = interpreter(bins.main)
    libc = os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6")
    if not os.path.exists(libc):
        pytest.skip("this test knows Debian's multiarch layout only")
    for source, there in ((ld_so, ld_so), (libc, "/lib/x86_64-linux-gnu/libc.so.6")):
        (root / there.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(source), root / there.lstrip("/"))
    (root / "etc").mkdir(mode=0o755)
    return Root(root, bins, "/w")


def run_in_root(tree: Root) -> procutil.Ready:
    return launch(
        ["chroot", f"--userspec={NOBODY}:{NOBODY}", tree.path, f"{tree.inner}/scope_main"]
    )


def test_ld_so_preload_is_read_in_the_targets_root(chroot_tree: Root) -> None:
    host = Path("/etc/ld.so.preload")
    if host.exists() and "libinterpose" in host.read_text(errors="replace"):
        pytest.skip("this machine's own /etc/ld.so.preload names the test's library")
    preload = chroot_tree.path / "etc" / "ld.so.preload"
    preload.write_text(f"\t{chroot_tree.inner}/libinterpose.so \n:\n")
    try:
        target = run_in_root(chroot_tree)
    finally:
        preload.unlink()
    try:
        preload.write_text(f"{chroot_tree.inner}/libinterpose.so\n")
        images, records = loaded(target.pid)
        chain = linux_scope.scope(target.pid, images, records)
        rebuilt = linux_scope.scope(target.pid, images, records, memory=False)
        expected = [INITIAL[0], "libinterpose.so", *INITIAL[1:]]
        assert chain.how == "link_map" and chain.note is None
        assert file_names(images, chain.order)[: chain.placed] == expected
        assert rebuilt.how == "rebuilt" and rebuilt.unmatched == 0
        assert rebuilt.order[: rebuilt.placed] == chain.order[: chain.placed]
        assert resolve(images, rebuilt.order, "malloc")[0] == printed(target)["dlsym_malloc"]

        # A reader the kernel refuses the memory (effective ids the
        # target's, real ones not), given root's listing: the map names the
        # files with the root's path in front, which it must take off to
        # find them in the target's root (map_files is root's only).
        def work() -> dict:
            found = linux_scope.scope(target.pid, images, records)
            return {"how": found.how, "order": found.order, "placed": found.placed}

        refused = procutil.run_as(NOBODY, work, real_uid=OTHER)
        assert refused["how"] == "rebuilt"
        assert refused["order"][: refused["placed"]] == chain.order[: chain.placed]
    finally:
        preload.unlink(missing_ok=True)
        procutil.stop(target.proc)


def _scope_within(pid: int, images: list[Image], records: list, seconds: float):
    """scope(memory=False) in a thread: a reader that blocked on what the
    target put in its root would never return."""
    answer: list[linux_scope.Scope] = []
    thread = threading.Thread(
        target=lambda: answer.append(linux_scope.scope(pid, images, records, memory=False)),
        daemon=True,
    )
    thread.start()
    # Generous: one scope() takes milliseconds; this only tells "blocked".
    thread.join(seconds)
    assert answer, f"scope() did not return in {seconds} s: blocked on the target's file"
    return answer[0]


@pytest.mark.parametrize("kind", ["fifo", "symlink-out", "etc-symlink", "directory", "huge"])
def test_a_hostile_ld_so_preload(chroot_tree: Root, tmp_path: Path, kind: str) -> None:
    """What the target's root holds at /etc/ld.so.preload once it runs: a
    FIFO is never opened, a symbolic link (to a file of the reader's, or an
    /etc that is one) never followed, a huge file read no further than a
    budget."""
    target = run_in_root(chroot_tree)
    etc = chroot_tree.path / "etc"
    preload = etc / "ld.so.preload"
    # A file of the reader's naming a library: followed, it would put
    # libdupa.so first.
    outside = tmp_path / "reader-only-list"
    outside.write_text(f"{chroot_tree.inner}/libdupa.so\n")
    moved = chroot_tree.path / "etc-real"
    try:
        if kind == "fifo":
            os.mkfifo(preload)
        elif kind == "symlink-out":
            preload.symlink_to(outside)
        elif kind == "etc-symlink":
            etc.rename(moved)
            etc.symlink_to(tmp_path)
            shutil.copy(outside, tmp_path / "ld.so.preload")
        elif kind == "directory":
            preload.mkdir()
        else:
            with open(preload, "wb") as file:
                file.write(f"{chroot_tree.inner}/libdupa.so ".encode() * 200000)
        images, records = loaded(target.pid)
        found = _scope_within(target.pid, images, records, 60)
        names = file_names(images, found.order)[: found.placed]
        assert found.how == "rebuilt"
        if kind == "huge":
            # Read (to its budget): libdupa.so is a preload.
            assert names == [INITIAL[0], "libdupa.so", "libdupb.so", *INITIAL[3:]]
        else:
            assert names == INITIAL, kind
    finally:
        if preload.is_symlink() or preload.is_file() or stat.S_ISFIFO(_mode(preload)):
            preload.unlink()
        elif preload.is_dir() and not etc.is_symlink():
            preload.rmdir()
        if etc.is_symlink():
            etc.unlink()
            moved.rename(etc)
        procutil.stop(target.proc)


def _mode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0
