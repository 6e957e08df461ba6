"""_core.open_in_root on real file trees: a path resolved inside a root as
the target would (absolute symlinks from the root, '..' stopped there, at
most 40 symlinks, no magic links), and only a regular file opened, with
O_NONBLOCK and close-on-exec.  Both ways of resolving give the same
answers: openat2 (RESOLVE_IN_ROOT) and the walk that stands in for it where
the kernel has none, chosen with OPEN_WALK here, and taken by itself under
a seccomp filter that refuses openat2 as a container runtime's may.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import pytest

if not sys.platform.startswith("linux"):
    pytest.skip("open_in_root is the Linux backend's", allow_module_level=True)

import fcntl

from memmaps import _core
from memmaps._platform import linux_files
from tests.helpers import rooted

WAYS = {"openat2": 0, "walk": _core.OPEN_WALK}
INSIDE = b"inside the root"
OUTSIDE = b"in the reader's tree"


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A root, and beside it a file that links inside the root name by
    its absolute path in the reader's tree (so that following them there
    would find it)."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "data").write_bytes(OUTSIDE)
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "data").write_bytes(INSIDE)
    (root / "dir").mkdir()
    (root / "dir" / "sub").mkdir()
    os.symlink("/etc/data", root / "absolute")
    os.symlink("../../../../../../etc/data", root / "dir" / "climbing")
    os.symlink("../etc/data", root / "dir" / "up")
    os.symlink("/etc", root / "etc-link")
    os.symlink(str(outside / "data"), root / "to-outside")
    os.symlink("../" * 20 + str(outside / "data").lstrip("/"), root / "dir" / "out-by-dots")
    os.symlink("loop", root / "loop")
    # chain-N: N symlinks to cross before the file
    for n in range(1, 42):
        os.symlink(f"chain-{n - 1}" if n > 1 else "etc/data", root / f"chain-{n}")
    os.mkfifo(root / "fifo")
    return {"root": root, "outside": outside}


# path -> what open_in_root gives: the file's contents, or an errno
CASES = {
    "/etc/data": INSIDE,
    "etc/data": INSIDE,
    "/absolute": INSIDE,
    "/dir/climbing": INSIDE,
    "/dir/up": INSIDE,
    "/dir/../../../../etc/data": INSIDE,
    "/dir/sub/../../etc/./data": INSIDE,
    "/etc-link/data": INSIDE,
    "//etc//data": INSIDE,
    "/to-outside": errno.ENOENT,
    "/dir/out-by-dots": errno.ENOENT,
    "/loop": errno.ELOOP,
    "/chain-40": INSIDE,
    "/chain-41": errno.ELOOP,
    "/fifo": errno.ENXIO,
    "/etc": errno.ENXIO,
    "/": errno.ENXIO,
    "/missing": errno.ENOENT,
    "/etc/data/more": errno.ENOTDIR,
    "/etc/data/": errno.ENOTDIR,
    "": errno.ENOENT,
}


def outcome(root_fd: int | None, path: str, flags: int) -> bytes | int:
    try:
        fd = _core.open_in_root(root_fd, path, flags)
    except OSError as error:
        return error.errno
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def outcomes(root: Path, flags: int) -> dict[str, bytes | int]:
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        return {path: outcome(root_fd, path, flags) for path in CASES}
    finally:
        os.close(root_fd)


@pytest.mark.parametrize("way", WAYS)
def test_paths_resolve_inside_the_root(tree, way):
    assert outcomes(tree["root"], WAYS[way]) == CASES


@pytest.mark.parametrize("error", [errno.ENOSYS, errno.EPERM])
def test_without_openat2_the_walk_gives_the_same_answers(tree, error):
    """A seccomp filter answers openat2 with ENOSYS or EPERM: the default
    flags then take the walk, with the same answers."""

    def as_json(found: dict[str, bytes | int]) -> dict[str, str | int]:
        return {path: v.decode() if isinstance(v, bytes) else v for path, v in found.items()}

    def work() -> dict[str, str | int]:
        rooted.refuse_openat2(error)
        return as_json(outcomes(tree["root"], 0))

    assert rooted.read_in_child(work) == as_json(CASES)


@pytest.mark.parametrize("way", WAYS)
def test_a_fifo_and_a_device_are_looked_at_not_opened(tree, way):
    root = tree["root"]
    watch = rooted.OpenWatch()
    try:
        watch.add(root / "fifo")
        paths = ["/fifo"]
        if os.geteuid() == 0:
            rooted.make_device_at(root / "zero")
            watch.add(root / "zero")
            paths.append("/zero")
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
        try:
            for path in paths:
                with pytest.raises(OSError) as info:
                    _core.open_in_root(root_fd, path, WAYS[way])
                assert info.value.errno == errno.ENXIO
                assert info.value.filename == path
                assert "not a regular file" in str(info.value)
                # Asked for whatever is there, an O_PATH descriptor of it.
                fd = _core.open_in_root(root_fd, path, WAYS[way] | _core.OPEN_ANY_TYPE)
                try:
                    mode = os.fstat(fd).st_mode
                    assert stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)
                    assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_PATH
                finally:
                    os.close(fd)
        finally:
            os.close(root_fd)
        assert watch.opened() == []
    finally:
        watch.close()


@pytest.mark.parametrize("way", WAYS)
def test_the_descriptor_is_read_only_non_blocking_and_close_on_exec(tree, way):
    root_fd = os.open(tree["root"], os.O_PATH | os.O_DIRECTORY)
    try:
        fd = _core.open_in_root(root_fd, "/absolute", WAYS[way])
    finally:
        os.close(root_fd)
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        assert flags & os.O_ACCMODE == os.O_RDONLY
        assert flags & os.O_NONBLOCK and not flags & os.O_PATH
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert os.path.samefile(f"/proc/self/fd/{fd}", tree["root"] / "etc" / "data")
    finally:
        os.close(fd)


@pytest.mark.parametrize("way", WAYS)
def test_no_symlinks_refuses_every_symlink(tree, way):
    """For a path the kernel printed, which has no symlink on it."""
    root_fd = os.open(tree["root"], os.O_PATH | os.O_DIRECTORY)
    flags = WAYS[way] | _core.OPEN_NO_SYMLINKS
    try:
        assert outcome(root_fd, "/etc/data", flags) == INSIDE
        assert outcome(root_fd, "/dir/sub/../../etc/data", flags) == INSIDE
        for path in ("/absolute", "/etc-link/data", "/dir/up"):
            assert outcome(root_fd, path, flags) == errno.ELOOP, path
    finally:
        os.close(root_fd)


@pytest.mark.parametrize("way", WAYS)
def test_the_readers_own_root_and_magic_links(tree, way):
    """root=None: this process's own root.  A magic link
    (/proc/self/root, /proc/self/fd/N) is refused: it would lead anywhere,
    whatever the root."""
    flags = WAYS[way]
    data = tree["outside"] / "data"
    assert outcome(None, str(data), flags) == OUTSIDE
    fd = os.open(data, os.O_RDONLY)
    try:
        for path in (f"/proc/self/fd/{fd}", f"/proc/self/root{data}", "/proc/self/exe"):
            assert outcome(None, path, flags) == errno.ELOOP, path
    finally:
        os.close(fd)


def test_arguments():
    with pytest.raises(ValueError):
        _core.open_in_root(None, "/etc/\0data")
    with pytest.raises(ValueError):
        _core.open_in_root(-5, "/etc/data")
    with pytest.raises(TypeError):
        _core.open_in_root("/", "/etc/data")
    fd = os.open("/proc/self/exe", os.O_RDONLY)
    try:
        with pytest.raises(NotADirectoryError):
            _core.open_in_root(fd, "x")
        with pytest.raises(NotADirectoryError):
            _core.open_in_root(fd, "x", _core.OPEN_WALK)
    finally:
        os.close(fd)
    with pytest.raises(OSError) as info:
        _core.open_in_root(None, "/" + "x" * 5000, _core.OPEN_WALK)
    assert info.value.errno == errno.ENAMETOOLONG


def test_crc32_is_read_within_its_budget(tmp_path):
    """The debuglink check reads at most the size the file had when opened,
    and nothing of a file over the limit."""
    import zlib

    path = tmp_path / "data"
    data = os.urandom(3 << 20 | 12345)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert linux_files.crc32_of(fd, len(data)) == zlib.crc32(data)
        assert linux_files.crc32_of(fd, 1000) == zlib.crc32(data[:1000])
        assert linux_files.crc32_of(fd, len(data), limit=len(data) - 1) is None
        # Told a size larger than the file (it shrank since): what is there.
        assert linux_files.crc32_of(fd, len(data) + 4096) == zlib.crc32(data)
    finally:
        os.close(fd)


def test_debuglink_names():
    assert linux_files.is_debuglink_name("libc.so.6.debug")
    for name in (None, "", ".", "..", "../x.debug", "a/b", "/abs"):
        assert not linux_files.is_debuglink_name(name), name
    found = linux_files.debug_candidates("/opt/app/x.so", "ab" + "cd" * 19, "x.debug")
    assert found == [
        ("/usr/lib/debug/.build-id/ab/" + "cd" * 19 + ".debug", False),
        ("/opt/app/x.debug", True),
        ("/opt/app/.debug/x.debug", True),
        ("/usr/lib/debug/opt/app/x.debug", True),
    ]
    assert linux_files.debug_candidates("/x.so", None, "x.debug") == [
        ("/x.debug", True),
        ("/.debug/x.debug", True),
        ("/usr/lib/debug/x.debug", True),
    ]
    assert linux_files.debug_candidates("/opt/x.so", None, "../x.debug") == []
