"""Files found inside a target's root: targets in a chroot and in a mount
namespace of their own (unshare -m and pivot_root, as a container runs),
each with a stripped library and its debug file inside its root, and a
decoy of the same name and build-id in the reader's own tree whose symbols
are elsewhere.  memmaps must give the addresses the target itself prints
(the library's own &rooted_secret and dlsym's &rooted_exported), as root
(map_files open) and as the target's own unprivileged user (map_files
closed), resolving with openat2 and with the walk that stands in for it.

The jails, the launcher and the reader with its time bound are in
tests/helpers/rooted.py.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import sys
from pathlib import Path

import pytest

import memmaps
from memmaps import _core
from tests.helpers import procutil, rooted
from tests.helpers.rooted import DEBUG, LIB

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux roots"),
    pytest.mark.skipif(not procutil.IS_ROOT, reason="needs root: chroot and mount namespaces"),
]

NOBODY = procutil.NOBODY
HOWS = ["chroot", "container"]
READERS = ["root", "nobody"]
RESOLVES = ["openat2", "walk"]
SYMBOLS = ("rooted_secret", "rooted_exported")


def read_symbols(
    pid: int,
    reader: str,
    resolve: str = "openat2",
    image: str | None = None,
    refuse_openat2: int | None = None,
) -> dict[str, int | None]:
    """What memmaps says of the target's two symbols, read by reader in a
    child bounded in time (where a seccomp filter answers openat2 with the
    errno refuse_openat2, when given); None for SymbolNotFound."""

    def work() -> dict[str, int | None]:
        if refuse_openat2 is not None:
            rooted.refuse_openat2(refuse_openat2)
        found: dict[str, int | None] = {}
        for name in SYMBOLS:
            try:
                found[name] = memmaps.symbol_address(pid, name, image)
            except memmaps.SymbolNotFound:
                found[name] = None
        return found

    uid = NOBODY if reader == "nobody" else None
    return rooted.read_in_child(work, uid, rooted.resolve_env(resolve))


def printed(target: procutil.Ready) -> dict[str, int | None]:
    return dict(zip(SYMBOLS, target.addrs, strict=True))


def sources(pid: int, reader: str, resolve: str = "openat2") -> dict[str, str | None]:
    """path -> where the C core read the image's headers (None: memory)."""

    def work() -> dict[str, str | None]:
        flags = _core.ROOT_WALK if resolve == "walk" else 0
        records, _listing = _core.images(pid, flags)
        return {record[0]: record[10] for record in records if record[0]}

    return rooted.read_in_child(work, NOBODY if reader == "nobody" else None)


def stripped_library(jail: rooted.Jail, build_id: str | None, salt: int) -> Path:
    """The jail's library, stripped, its debug file beside it and named by
    its debuglink."""
    lib = rooted.build_library(jail.inside(jail.lib), salt, build_id)
    debug = rooted.split_debug(lib, jail.inside(jail.libdir) / DEBUG)
    rooted.set_debuglink(lib, DEBUG, debug)
    return debug


@contextlib.contextmanager
def decoy_beside(jail: rooted.Jail, build_id: str | None, salt: int):
    """In the reader's own tree, at the jail's LIBDIR: a debug file of the
    same name and build-id, of a build whose rooted_secret is elsewhere."""
    with rooted.host_path(jail.libdir) as folder:
        decoy = rooted.build_library(folder / LIB, salt, build_id, pad=8192)
        rooted.split_debug(decoy, folder / DEBUG)
        decoy.unlink()
        yield folder / DEBUG


@pytest.mark.parametrize("resolve", RESOLVES)
@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("how", HOWS)
def test_the_debuglink_file_is_the_one_in_the_targets_root(live_bindir, how, reader, resolve):
    jail = rooted.make_jail(live_bindir)
    build_id = rooted.random_build_id()
    salt = random.randrange(1, 1 << 20)
    stripped_library(jail, build_id, salt)
    with decoy_beside(jail, build_id, salt):
        target = rooted.launch(jail, how, NOBODY)
        try:
            assert read_symbols(target.pid, reader, resolve) == printed(target)
        finally:
            procutil.stop(target.proc)


@pytest.mark.parametrize("error", [errno.ENOSYS, errno.EPERM])
@pytest.mark.parametrize("reader", READERS)
def test_a_reader_without_openat2_finds_the_same(live_bindir, reader, error):
    """openat2 refused by a seccomp filter, as a container runtime may
    (ENOSYS, or EPERM): the C core and the debug file search fall back to
    the walk by themselves."""
    jail = rooted.make_jail(live_bindir)
    build_id = rooted.random_build_id()
    salt = random.randrange(1, 1 << 20)
    stripped_library(jail, build_id, salt)
    with decoy_beside(jail, build_id, salt):
        target = rooted.launch(jail, "container", NOBODY)
        try:
            found = read_symbols(target.pid, reader, refuse_openat2=error)
            assert found == printed(target)
        finally:
            procutil.stop(target.proc)


@contextlib.contextmanager
def installed(path: Path):
    """Makes path's folders if missing, and removes path and the folders
    made at the end (path must not exist: it is not ours to replace)."""
    if path.exists():
        pytest.skip(f"{path} exists already: not ours to replace")
    made = [p for p in reversed(path.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("how", HOWS)
def test_the_build_id_debug_file_is_the_one_in_the_targets_root(live_bindir, how, reader):
    """No debuglink: the debug file is found by build-id under the target's
    /usr/lib/debug/.build-id, never the reader's, where a decoy with the
    same build-id and other symbols lies."""
    jail = rooted.make_jail(live_bindir)
    build_id = rooted.random_build_id()
    salt = random.randrange(1, 1 << 20)
    lib = rooted.build_library(jail.inside(jail.lib), salt, build_id)
    mine = rooted.build_id_path(jail.root, build_id)
    mine.parent.mkdir(parents=True)
    rooted.split_debug(lib, mine)
    decoy_lib = live_bindir / f"decoy-{build_id}.so"
    rooted.build_library(decoy_lib, salt, build_id, pad=8192)
    with installed(rooted.build_id_path(Path("/"), build_id)) as decoy:
        rooted.split_debug(decoy_lib, decoy)
        target = rooted.launch(jail, how, NOBODY)
        try:
            assert read_symbols(target.pid, reader) == printed(target)
        finally:
            procutil.stop(target.proc)


@pytest.mark.parametrize("resolve", RESOLVES)
@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("how", HOWS)
def test_the_library_is_read_from_its_path_in_the_targets_root(live_bindir, how, reader, resolve):
    """An unstripped library: its .symtab-only symbol is found from the file
    itself.  Without map_files (the target's own user) that file is the
    mapping's path as the target sees it, inside its root: for a chroot the
    kernel prints it from the reader's root (JAIL/LIBDIR/x.so), and the
    jail's prefix is taken off."""
    jail = rooted.make_jail(live_bindir)
    rooted.build_library(jail.inside(jail.lib), 1, rooted.random_build_id())
    target = rooted.launch(jail, how, NOBODY)
    try:
        printed_path = str(jail.inside(jail.lib)) if how == "chroot" else jail.lib
        maps = procutil.parse_maps(procutil.read_maps(target.pid))
        assert printed_path in {r.path for r in maps}, "the kernel prints another path"
        found = sources(target.pid, reader, resolve)
        if reader == "nobody":
            assert found[printed_path] == f"/proc/{target.pid}/root{jail.lib}"
        else:
            assert found[printed_path].startswith(f"/proc/{target.pid}/map_files/")
        assert read_symbols(target.pid, reader, resolve) == printed(target)
    finally:
        procutil.stop(target.proc)


@pytest.mark.parametrize("resolve", RESOLVES)
@pytest.mark.parametrize("change", ["unchanged", "replaced"])
def test_a_library_mapped_from_outside_the_root_is_read_where_the_reader_sees_it(
    live_bindir, change, resolve
):
    """The target loads a library, then chroots into a jail that does not
    hold it: its path is the reader's alone.  Read as the target's user (no
    map_files), the file there is used only while it is the mapped inode;
    once replaced, the image is read from memory, where the .symtab is not,
    and the .symtab-only symbol is not found rather than wrong."""
    jail = rooted.make_jail(live_bindir)
    outside = procutil.world_dir(live_bindir)
    lib = rooted.build_library(outside / LIB, 2, rooted.random_build_id())
    exe = str(jail.inside(jail.exe))
    target = procutil.launch_ready([exe, lib, jail.root, NOBODY])
    try:
        if change == "replaced":
            other = rooted.build_library(outside / "other.so", 3, rooted.random_build_id())
            os.replace(other, lib)
        found = read_symbols(target.pid, "nobody", resolve)
        want = printed(target)
        if change != "unchanged":
            want["rooted_secret"] = None
        assert found == want
        if change == "unchanged":
            assert sources(target.pid, "nobody", resolve)[str(lib)] == str(lib)
    finally:
        procutil.stop(target.proc)


@pytest.mark.parametrize("resolve", RESOLVES)
@pytest.mark.parametrize("how", HOWS)
def test_a_live_file_named_like_a_deleted_one(live_bindir, how, resolve):
    """A library whose name ends in " (deleted)": the kernel's suffix or
    part of the name, which only the file system can tell, looked up where
    the target sees its files (a chroot's printed path has the jail's
    prefix)."""
    jail = rooted.make_jail(live_bindir)
    name = f"{jail.libdir}/x (deleted)"
    rooted.build_library(jail.inside(name), 5, rooted.random_build_id())
    target = rooted.launch(jail, how, NOBODY, lib=name)
    try:
        printed_path = str(jail.inside(name)) if how == "chroot" else name

        def work() -> list:
            flags = _core.ROOT_WALK if resolve == "walk" else 0
            return [
                [r.path, r.deleted]
                for r in memmaps.regions(target.pid)
                if r.path is not None and r.path.endswith(" (deleted)")
            ] + [[_core.region_at(target.pid, target.addrs[1], flags)[0][0].deleted]]

        found = rooted.read_in_child(work, NOBODY, rooted.resolve_env(resolve))
        assert found[:-1] and all(entry == [printed_path, False] for entry in found[:-1])
        assert found[-1] == [False]
    finally:
        procutil.stop(target.proc)


@pytest.mark.parametrize("resolve", RESOLVES)
def test_another_path_to_an_image_is_resolved_in_the_targets_root(live_bindir, resolve):
    """image= given as a path through a symlink that only the container has
    (absolute, so that resolving it in the reader's root leads elsewhere)."""
    jail = rooted.make_jail(live_bindir)
    rooted.build_library(jail.inside(jail.lib), 4, rooted.random_build_id())
    alias = f"{jail.libdir}-alias"
    os.symlink(jail.libdir, jail.inside(alias))
    assert not os.path.lexists(alias)
    target = rooted.launch(jail, "container", NOBODY)
    try:
        found = read_symbols(target.pid, "nobody", resolve, image=f"{alias}/{LIB}")
        assert found == printed(target)
    finally:
        procutil.stop(target.proc)


def _debug_of(folder: Path, name: str, salt: int, build_id: str | None, pad=None) -> Path:
    lib = rooted.build_library(folder / f"{name}.so", salt, build_id, pad=pad)
    return rooted.split_debug(lib, folder / f"{name}.debug")


# case -> (the image has a build-id, what lies at the debuglink's name, whose
# CRC the debuglink records, found)
VERIFY_CASES = {
    "build-id and CRC match": ("same", "mine", "mine", True),
    "no build-id, CRC matches": (None, "mine", "mine", True),
    "no build-id, CRC differs": (None, "other build", "mine", False),
    "debug file without the image's build-id": ("same", "no build-id", "placed", False),
    "debug file with another build-id": ("same", "other build-id", "placed", False),
    "same build-id, CRC differs": ("same", "other build", "mine", False),
}


@pytest.mark.parametrize("case", VERIFY_CASES)
def test_a_debug_file_is_used_only_if_it_is_the_images(live_bindir, case):
    """gdb's checks: a debug file must carry the image's build-id when the
    image has one, and one found by the debuglink must have the CRC32 the
    debuglink records.  A refused file means the .symtab-only symbol is not
    found, never found at a wrong address."""
    image_id, placed_kind, crc_of, accepted = VERIFY_CASES[case]
    jail = rooted.make_jail(live_bindir)
    folder = jail.inside(jail.libdir)
    build_id = rooted.random_build_id() if image_id else None
    salt = random.randrange(1, 1 << 20)
    lib = rooted.build_library(jail.inside(jail.lib), salt, build_id)
    mine = rooted.split_debug(lib, folder / "mine.debug")
    work = procutil.world_dir(live_bindir)
    placed = {
        "mine": mine,
        "other build": _debug_of(work, "other", salt, build_id, pad=8192),
        "no build-id": _debug_of(work, "plain", salt, None),
        "other build-id": _debug_of(work, "another", salt, rooted.random_build_id()),
    }[placed_kind]
    shutil.copy(placed, folder / DEBUG)
    rooted.set_debuglink(lib, DEBUG, mine if crc_of == "mine" else folder / DEBUG)
    mine.unlink()
    target = rooted.launch(jail, "chroot", NOBODY)
    try:
        want = printed(target)
        if not accepted:
            want["rooted_secret"] = None
        assert read_symbols(target.pid, "root") == want
    finally:
        procutil.stop(target.proc)
