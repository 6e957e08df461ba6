"""Linux: the files read on a target's behalf, found inside its root.

The target chooses what lies at its paths.  A FIFO there would block an
open for ever, opening a device runs its driver, a symlink may point
anywhere in the reader's own tree, and a container's (or a chroot's)
/opt/x.debug is not the reader's.  So every path is resolved as the target
would resolve it, inside /proc/PID/root, and only a regular file is opened,
once fstat has vouched for it (``_core.open_in_root``, in
memmaps/native/backends/linux.c: openat2 with RESOLVE_IN_ROOT where the
kernel has it, a walk of one component at a time where not).

The kernel prints a mapping's path from the reader's root when the file is
reachable from there (a target chroot'd into /srv/jail maps
/srv/jail/opt/x.so), and from the root of the file's mount namespace when
not (a container's /opt/x.so).  readlink of /proc/PID/root is printed the
same way, so the target's own path is the printed path less that prefix.

Separate debug files are looked for where gdb looks, inside the target's
root, and one is used only if it is the image's: the same build-id when the
image has one, and the CRC32 its .gnu_debuglink records when found by that
name.

Setting ``MEMMAPS_OPEN_IN_ROOT=walk`` makes every resolution take the walk,
as on a kernel without openat2 (before 5.6) or behind a seccomp filter that
refuses it, so that the tests can check that path where openat2 works.
"""

from __future__ import annotations

import os
import posixpath
import stat
import zlib
from contextlib import suppress
from types import TracebackType
from typing import TypeGuard

from .. import _core
from ..errors import Error, ParseError
from ..images import Image
from .native import IMAGE_HAS_FILE_ID, ImageRecord

#: The environment variable that forces the component walk ("walk").
WALK_VARIABLE = "MEMMAPS_OPEN_IN_ROOT"
#: Where separate debug files live, as gdb looks for them (inside the
#: target's root).
DEBUG_ROOT = "/usr/lib/debug"
#: The largest debug file whose CRC32 is computed: a debuglink's file must be
#: read whole to be checked, and the target chooses how big it is.
CRC_LIMIT = 1 << 30
_CRC_CHUNK = 1 << 20


def _open_flags() -> int:
    # The C core is given the same switch by native.py.
    return _core.OPEN_WALK if os.environ.get(WALK_VARIABLE) == "walk" else 0


def _proc(pid: int | None) -> str:
    # pid None is the reader itself, through its own /proc whatever PROCFS
    # says: another pid namespace's procfs has no "self" that names it.
    return "/proc/self" if pid is None else f"{_core.procfs()}/{pid}"


class TargetRoot:
    """/proc/PID/root, held open while a few files are looked up in it."""

    __slots__ = ("fd", "prefix")

    def __init__(self, pid: int | None) -> None:
        link = f"{_proc(pid)}/root"
        # The reader's own choice of link: following it is the point.
        self.fd = os.open(link, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            printed = os.readlink(link)
        except OSError:
            printed = "/"
        # What the reader sees in front of the target's paths ("" for none).
        self.prefix = printed if printed.startswith("/") and printed != "/" else ""

    def __enter__(self) -> TargetRoot:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        os.close(self.fd)

    def theirs(self, printed: str) -> str:
        """The target's own path of a path the kernel printed for it."""
        if self.prefix and printed.startswith(self.prefix + "/"):
            return printed[len(self.prefix) :]
        return printed

    def open(self, path: str, *, any_type: bool = False) -> int:
        """A descriptor of the regular file at path in this root (with
        any_type, an O_PATH one of whatever is there); OSError otherwise."""
        flags = _open_flags() | (_core.OPEN_ANY_TYPE if any_type else 0)
        return _core.open_in_root(self.fd, path, flags)


def open_kernel_link(path: str) -> int:
    """A descriptor of the regular file behind one of the kernel's links to
    a mapped file (/proc/PID/map_files/..., /proc/PID/exe), which must be
    followed: it is looked at with O_PATH first, which opens nothing, and
    reopened only once fstat says it is a regular file."""
    probe = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(probe).st_mode):
            raise OSError(f"{path} is not a regular file")
        return os.open(
            f"/proc/self/fd/{probe}", os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
        )
    finally:
        os.close(probe)


def _is_mapped_file(st: os.stat_result, record: ImageRecord) -> bool:
    if not record.flags & IMAGE_HAS_FILE_ID:
        return True
    device = (os.major(st.st_dev), os.minor(st.st_dev))
    return st.st_ino == record.inode and device == (record.dev_major, record.dev_minor)


def open_image(pid: int | None, record: ImageRecord) -> _core.ImageFile:
    """The ELF file the C core read the image's headers from (its
    ``source``), found again the same way, and only if it is still the
    mapped file: a kernel link, the target's path inside its root, or the
    reader's path with no symlink on it (the kernel printed the very file's
    path, which has none)."""
    source = record.source
    if source is None:
        raise OSError("the image was read from memory")
    proc = _proc(pid)
    if source.startswith(f"{proc}/root/"):
        with TargetRoot(pid) as root:
            fd = root.open(source[len(f"{proc}/root") :])
    elif source.startswith(f"{proc}/map_files/") or source == f"{proc}/exe":
        fd = open_kernel_link(source)
    else:
        fd = _core.open_in_root(None, source, _open_flags() | _core.OPEN_NO_SYMLINKS)
    return _mapped_elf(fd, record, source)


def _mapped_elf(fd: int, record: ImageRecord, path: str) -> _core.ImageFile:
    """The ELF open on fd (closed here), if it is the mapped file."""
    try:
        if not _is_mapped_file(os.fstat(fd), record):
            raise OSError(f"{path} is no longer the mapped file")
        return _core.ImageFile(fd, format="elf")
    finally:
        os.close(fd)


def open_mapped_path(pid: int | None, record: ImageRecord) -> _core.ImageFile:
    """The image's file by the path the map names, inside the target's root,
    only if it is still the mapped file: for a reader that cannot open the
    ``source`` another reader found (map_files is root's)."""
    path = record.path
    if path is None or not path.startswith("/") or not record.flags & IMAGE_HAS_FILE_ID:
        raise OSError("the image has no file to look for by path")
    with TargetRoot(pid) as root:
        fd = root.open(root.theirs(path))
    return _mapped_elf(fd, record, path)


def same_file(pid: int | None, image: Image, path: str) -> bool:
    """Whether path, resolved in the target's root (a container's /usr/lib
    is not the reader's), leads to the image's file."""
    if not image.regions or "/" not in path:
        return False
    absolute = path if path.startswith("/") else os.path.abspath(path)
    try:
        with TargetRoot(pid) as root:
            fd = root.open(absolute, any_type=True)
    except (OSError, ValueError):
        return False
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    first = image.regions[0]
    return st.st_ino == first.inode and (os.major(st.st_dev), os.minor(st.st_dev)) == (
        first.dev_major,
        first.dev_minor,
    )


def is_debuglink_name(name: str | None) -> TypeGuard[str]:
    """A .gnu_debuglink is a file name: one with a '/' in it (such as
    ../../../../tmp/x) names no file beside the image."""
    return name is not None and name not in ("", ".", "..") and "/" not in name


def crc32_of(fd: int, size: int, limit: int = CRC_LIMIT) -> int | None:
    """The CRC32 of the first size bytes of fd (the file's size when it was
    opened: a file that grows is not read past it), as gdb computes a
    debuglink's; None for a file larger than limit.  Read a chunk at a time,
    so that a signal (Ctrl-C) is seen between chunks."""
    if size > limit:
        return None
    crc = 0
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(_CRC_CHUNK, size - offset), offset)
        if not chunk:
            break
        crc = zlib.crc32(chunk, crc)
        offset += len(chunk)
    return crc


def debug_candidates(
    theirs: str, build_id: str | None, debuglink: str | None
) -> list[tuple[str, bool]]:
    """Where gdb looks for the debug file of the image at theirs (the
    target's own path): by build-id, then by debuglink beside the image, in
    its .debug/ folder and under /usr/lib/debug.  Each with whether it was
    found by the debuglink (its CRC32 must then match)."""
    candidates = []
    if build_id and len(build_id) > 2:
        candidates.append((f"{DEBUG_ROOT}/.build-id/{build_id[:2]}/{build_id[2:]}.debug", False))
    if is_debuglink_name(debuglink) and theirs.startswith("/"):
        folder = posixpath.dirname(theirs).rstrip("/")
        candidates += [
            (f"{folder}/{debuglink}", True),
            (f"{folder}/.debug/{debuglink}", True),
            (f"{DEBUG_ROOT}{folder}/{debuglink}", True),
        ]
    return [(path, by_link) for path, by_link in candidates if path != theirs]


def find_debug_file(
    pid: int | None,
    printed: str,
    build_id: str | None,
    debuglink: str | None,
    debuglink_crc: int | None,
) -> _core.ImageFile | None:
    """The separate debug file of the image whose mapping the kernel
    printed as printed, looked for inside the target's root: one that
    carries the image's build-id when the image has one, and, found by the
    debuglink, whose CRC32 is the one the debuglink records."""
    if debuglink_crc is None:
        debuglink = None  # nothing to check a file found by that name with
    try:
        root = TargetRoot(pid)
    except OSError:
        return None
    with root:
        for candidate, by_link in debug_candidates(root.theirs(printed), build_id, debuglink):
            with suppress(OSError, Error, ParseError, ValueError):
                found = _verified_debug_file(root, candidate, by_link, build_id, debuglink_crc)
                if found is not None:
                    return found
    return None


def _verified_debug_file(
    root: TargetRoot, candidate: str, by_link: bool, build_id: str | None, crc: int | None
) -> _core.ImageFile | None:
    fd = root.open(candidate)
    try:
        elf = _core.ImageFile(fd, format="elf")
        # A debug file of another build would give wrong addresses.
        theirs = None if elf.build_id is None else elf.build_id.hex()
        if build_id is not None and theirs != build_id:
            return None
        if by_link and crc32_of(fd, os.fstat(fd).st_size) != crc:
            return None
        return elf
    finally:
        os.close(fd)
