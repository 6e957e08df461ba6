"""Hostile targets: what lies at the paths a reader follows on the target's
behalf is the target's to choose.  Each case is a real process in a jail of
its own (tests/helpers/rooted.py) whose files are then swapped for a FIFO, a
device node, a symlink out of its root, or named by a debuglink that climbs
out with '../'.  The reader runs in a child bounded in time (a hang fails
the test), and inotify's IN_OPEN says whether any of those files was opened
(the O_PATH look that comes first opens nothing).  Every answer must be the
right one or SymbolNotFound, never an address from a file that is not the
image's.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

import memmaps
from tests.helpers import procutil, rooted
from tests.helpers.rooted import DEBUG

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux roots"),
    pytest.mark.skipif(
        not procutil.IS_ROOT, reason="needs root: chroot, mkfifo and mknod in a jail"
    ),
]

NOBODY = procutil.NOBODY
RESOLVES = ["openat2", "walk"]
SYMBOLS = ("rooted_secret", "rooted_exported")


def read_all(pid: int, lib: str, reader: str, resolve: str) -> dict:
    """The target's images and both symbols, as reader sees them."""

    def work() -> dict:
        found: dict = {}
        for name in SYMBOLS:
            try:
                found[name] = memmaps.symbol_address(pid, name)
            except memmaps.SymbolNotFound:
                found[name] = None
        image = [i for i in memmaps.images(pid) if i.path == lib]
        found["image"] = [[i.build_id, i.deleted] for i in image]
        return found

    uid = NOBODY if reader == "nobody" else None
    return rooted.read_in_child(work, uid, rooted.resolve_env(resolve))


def stripped_in_jail(jail: rooted.Jail, debuglink: str = DEBUG) -> tuple[str, Path]:
    """The jail's library, stripped, its debug file beside it (named x.debug)
    and by build-id, the debuglink naming debuglink: (build-id, debug file)."""
    build_id = rooted.random_build_id()
    lib = rooted.build_library(jail.inside(jail.lib), random.randrange(1, 1 << 20), build_id)
    debug = rooted.split_debug(lib, jail.inside(jail.libdir) / DEBUG)
    rooted.set_debuglink(lib, debuglink, debug)
    by_id = rooted.build_id_path(jail.root, build_id)
    by_id.parent.mkdir(parents=True)
    by_id.write_bytes(debug.read_bytes())
    return build_id, debug


def debug_candidates(jail: rooted.Jail, build_id: str) -> list[Path]:
    """Every place the debug file is looked for, in the reader's tree."""
    return [
        rooted.build_id_path(jail.root, build_id),
        jail.inside(jail.libdir) / DEBUG,
        jail.inside(jail.libdir) / ".debug" / DEBUG,
        jail.inside(f"/usr/lib/debug{jail.libdir}") / DEBUG,
    ]


def printed_path(jail: rooted.Jail) -> str:
    return str(jail.inside(jail.lib))  # a chroot's paths are printed from ours


@pytest.mark.parametrize("resolve", RESOLVES)
@pytest.mark.parametrize("reader", ["root", "nobody"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_fifos_and_devices_at_the_library_and_debug_paths(live_bindir, kind, reader, resolve):
    """The mapped library and every debug file candidate swapped for a FIFO
    (an open would block for ever) or a device node (an open runs its
    driver).  As root the library comes through map_files, which leads to
    the mapped inode, and its debuglink sends the reader to every FIFO; as
    the target's own user map_files is closed and the library comes from
    memory.  Either way: the .dynsym symbol found, the .symtab-only one not,
    and nothing opened."""
    jail = rooted.make_jail(live_bindir)
    build_id, _debug = stripped_in_jail(jail)
    target = rooted.launch(jail, "chroot", NOBODY)
    watch = rooted.OpenWatch()
    try:
        swap = rooted.make_fifo_at if kind == "fifo" else rooted.make_device_at
        for path in [jail.inside(jail.lib), *debug_candidates(jail, build_id)]:
            swap(path)
            watch.add(path)
        found = read_all(target.pid, printed_path(jail), reader, resolve)
        assert found["rooted_exported"] == target.addrs[1]
        assert found["rooted_secret"] is None
        assert found["image"] == [[build_id, True]]
        assert watch.opened() == []
    finally:
        watch.close()
        procutil.stop(target.proc)


# name written in the debuglink -> whether the file it leads to is used
DEBUGLINK_NAMES = {
    "x.debug": True,
    # The same file, reached by climbing out and back in: refused for its '/'.
    "../" * 12 + "LIBDIR/x.debug": False,
    "sub/x.debug": False,
    "/LIBDIR/x.debug": False,
}


@pytest.mark.parametrize("resolve", RESOLVES)
@pytest.mark.parametrize("name", DEBUGLINK_NAMES)
def test_a_debuglink_is_a_file_name(live_bindir, name, resolve):
    """A .gnu_debuglink with a '/' in it names no file beside the image, even
    where the path it spells leads to the right debug file (matching CRC and
    build-id): gdb takes it as a name, and so does memmaps.  Climbing out of
    the jail's LIBDIR would, in the reader's tree, reach the reader's copy
    at LIBDIR, which is never opened."""
    jail = rooted.make_jail(live_bindir)
    build_id = rooted.random_build_id()
    lib = rooted.build_library(jail.inside(jail.lib), random.randrange(1, 1 << 20), build_id)
    debug = rooted.split_debug(lib, jail.inside(jail.libdir) / DEBUG)
    (jail.inside(jail.libdir) / "sub").mkdir()
    (jail.inside(jail.libdir) / "sub" / DEBUG).write_bytes(debug.read_bytes())
    rooted.set_debuglink(lib, name.replace("LIBDIR", jail.libdir.lstrip("/")), debug)
    with rooted.host_path(jail.libdir) as folder:
        (folder / DEBUG).write_bytes(debug.read_bytes())
        target = rooted.launch(jail, "chroot", NOBODY)
        watch = rooted.OpenWatch()
        try:
            watch.add(folder / DEBUG)
            found = read_all(target.pid, printed_path(jail), "root", resolve)
            assert found["rooted_exported"] == target.addrs[1]
            assert found["rooted_secret"] == (target.addrs[0] if DEBUGLINK_NAMES[name] else None)
            assert watch.opened() == []
        finally:
            watch.close()
            procutil.stop(target.proc)


# where the symlink points -> whether the debug file is found through it
LINKS = {
    "absolute, inside the root": ("/elsewhere/x.debug", True),
    "relative, inside the root": ("../elsewhere/x.debug", True),
    "absolute, to the reader's copy": ("/OUTSIDE/x.debug", False),
    "relative, climbing out to the reader's copy": ("../" * 12 + "OUTSIDE/x.debug", False),
}


@pytest.mark.parametrize("resolve", RESOLVES)
@pytest.mark.parametrize("case", LINKS)
@pytest.mark.parametrize("found_by", ["debuglink", "build-id"])
def test_a_debug_file_symlink_stays_in_the_targets_root(live_bindir, found_by, case, resolve):
    """The debug file a symlink: followed inside the target's root, as the
    target would (an absolute target starts at its root, '..' stops there),
    so that one pointing at the right debug file in the reader's own tree
    leads nowhere, and that file is never opened."""
    link_to, followed = LINKS[case]
    jail = rooted.make_jail(live_bindir)
    build_id, debug = stripped_in_jail(jail)
    with rooted.host_path(f"/tmp/memmaps-outside-{build_id[:12]}") as outside:
        reader_copy = outside / DEBUG
        reader_copy.write_bytes(debug.read_bytes())
        elsewhere = jail.inside("/elsewhere")
        elsewhere.mkdir()
        (elsewhere / DEBUG).write_bytes(debug.read_bytes())
        for path in debug_candidates(jail, build_id):
            if path.exists():
                path.unlink()
        at = (
            jail.inside(jail.libdir) / DEBUG
            if found_by == "debuglink"
            else rooted.build_id_path(jail.root, build_id)
        )
        target_text = link_to.replace("OUTSIDE", str(outside).lstrip("/"))
        assert os.path.isabs(target_text) == link_to.startswith("/")
        if link_to.startswith("../elsewhere"):
            target_text = "../" * (len(Path(str(at)).relative_to(jail.root).parts) - 1)
            target_text += "elsewhere/x.debug"
        os.symlink(target_text, at)
        target = rooted.launch(jail, "chroot", NOBODY)
        watch = rooted.OpenWatch()
        try:
            watch.add(reader_copy)
            found = read_all(target.pid, printed_path(jail), "root", resolve)
            assert found["rooted_exported"] == target.addrs[1]
            assert found["rooted_secret"] == (target.addrs[0] if followed else None)
            assert watch.opened() == []
        finally:
            watch.close()
            procutil.stop(target.proc)


@pytest.mark.parametrize("resolve", RESOLVES)
def test_symlinks_to_dev_paths_are_not_opened(live_bindir, resolve):
    """Every debug file candidate a symlink to /dev/zero, which the jail has
    as a device node: resolved in the root, looked at, never opened (a
    checksum of /dev/zero would never end)."""
    jail = rooted.make_jail(live_bindir)
    build_id, _debug = stripped_in_jail(jail)
    device = jail.inside("/dev/zero")
    rooted.make_device_at(device)
    for path in debug_candidates(jail, build_id):
        if path.exists():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/dev/zero", path)
    target = rooted.launch(jail, "chroot", NOBODY)
    watch = rooted.OpenWatch()
    try:
        watch.add(device)
        found = read_all(target.pid, printed_path(jail), "root", resolve)
        assert found["rooted_exported"] == target.addrs[1]
        assert found["rooted_secret"] is None
        assert watch.opened() == []
    finally:
        watch.close()
        procutil.stop(target.proc)


@pytest.mark.parametrize("resolve", RESOLVES)
def test_a_symlink_loop_at_the_debug_path_ends(live_bindir, resolve):
    """x.debug -> a -> b -> ... -> x.debug: the symlink budget (40) ends it."""
    jail = rooted.make_jail(live_bindir)
    build_id, _debug = stripped_in_jail(jail)
    folder = jail.inside(jail.libdir)
    for path in debug_candidates(jail, build_id):
        if path.exists():
            path.unlink()
    os.symlink("loop-a", folder / DEBUG)
    os.symlink("loop-b", folder / "loop-a")
    os.symlink(DEBUG, folder / "loop-b")
    target = rooted.launch(jail, "chroot", NOBODY)
    try:
        found = read_all(target.pid, printed_path(jail), "root", resolve)
        assert found["rooted_exported"] == target.addrs[1]
        assert found["rooted_secret"] is None
    finally:
        procutil.stop(target.proc)
