"""Linux: the order the dynamic linker searches a process's images in.

A symbol defined twice (an LD_PRELOAD interposer's malloc, two libraries
with the same name in them) resolves to the copy the first image of the
global scope holds: the executable, the preloaded libraries, then the
DT_NEEDED closure breadth-first, then what dlopen() added with
RTLD_GLOBAL.  Three ways to that order, best first:

``"link_map"``
    ld.so's own chain of loaded objects, read from the target's memory:
    r_debug through the executable's DT_DEBUG (or ld.so's ``_r_debug``
    symbol), then namespace 0's link_maps (formats/link_map.c).  Each entry
    is matched to the image its dynamic array (l_ld) lies in, or else by
    path; its l_addr must be that image's bias.  A mismatch is counted in
    ``Scope.mismatched``, never used to reorder.  The vDSO is in the chain
    (second) but not in the global scope: it goes after the chain's other
    objects.
``"rebuilt"``
    The memory cannot be read (ptrace's attach check refuses, or the chain
    cannot be found): the order ld.so builds at start-up, put together from
    what the map's permission shows: the executable, the LD_PRELOAD list of
    /proc/PID/environ (the environment the process started with), the
    target's own /etc/ld.so.preload (inside /proc/PID/root), then the
    DT_NEEDED closure breadth-first, each name matched to a mapped image by
    DT_SONAME, file name or path.  What dlopen() added is not known this
    way: it follows in address order.
``"address"``
    Nothing better: a static executable (no dynamic linker), no executable
    among the images, or neither of the above worked (``Scope.note`` says
    why).

In every case the images the order does not place follow in address order,
so the result is a permutation of all of them.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_right
from collections.abc import Sequence
from contextlib import suppress
from typing import NamedTuple

from .. import _core
from ..errors import AccessDenied, Error, NoSuchProcess
from ..images import Image
from .linux_files import TargetRoot, _proc, open_image, open_mapped_path
from .native import (
    IMAGE_HAS_FILE_ID,
    IMAGE_KERNEL,
    IMAGE_LOADER,
    IMAGE_MAIN,
    ImageRecord,
    native_pid,
)

LINK_MAP = "link_map"
REBUILT = "rebuilt"
ADDRESS = "address"

_PT_DYNAMIC = 2
_RT_CONSISTENT = 0
_R_STATES = {0: "RT_CONSISTENT", 1: "RT_ADD", 2: "RT_DELETE"}
_MASK = 2**64 - 1
# ld.so holds its lock for the length of one dlopen() or dlclose(): a few
# reads over about 15 ms see it finish, or the order is taken as it is.
_PAUSES = (0.0, 0.001, 0.002, 0.004, 0.008)
# ld.so splits LD_PRELOAD at these, /etc/ld.so.preload at these and
# newlines and tabs (elf/rtld.c).
_ENV_SEPARATORS = b" :"
_FILE_SEPARATORS = b" :\t\n"
# More than any real environment or preload file; what lies past it is not
# read.
_ENVIRON_LIMIT = 4 << 20
_PRELOAD_FILE_LIMIT = 1 << 20


class Scope(NamedTuple):
    """The search order and what was learned finding it."""

    #: Indexes into the images, global scope first: a permutation.
    order: list[int]
    #: "link_map", "rebuilt" or "address".
    how: str
    #: How many of order's first images the chain, or the rebuilt order,
    #: placed (the chain's include what dlopen() loaded; the vDSO and the
    #: images after them follow in address order).
    placed: int = 0
    #: Chain entries whose l_addr is not the bias of the image they were
    #: matched to (the order still follows the chain).
    mismatched: int = 0
    #: Chain entries, or DT_NEEDED and preload names, that no image matches.
    unmatched: int = 0
    #: None, or why the order is not the chain's (or not all of it can be
    #: trusted): for a person.
    note: str | None = None


def search_order(
    pid: int | None, images: Sequence[Image], records: Sequence[ImageRecord]
) -> tuple[list[int], str]:
    """The indexes of images (and records, which list the same images in the
    same order, as native.image_records() gives them) in the order the
    dynamic linker searches them, and how it was found."""
    found = scope(pid, images, records)
    return found.order, found.how


def scope(
    pid: int | None,
    images: Sequence[Image],
    records: Sequence[ImageRecord],
    *,
    memory: bool = True,
) -> Scope:
    """search_order() with its details.  memory=False leaves the target's
    memory alone, as if the kernel refused it: the order is rebuilt."""
    if len(images) != len(records):
        raise ValueError(f"{len(images)} images but {len(records)} records")
    main = next((i for i, r in enumerate(records) if r.flags & IMAGE_MAIN), None)
    if main is None:
        return Scope(list(range(len(images))), ADDRESS, note="no image is the executable")
    reason = "the target's memory was not read"
    if memory:
        try:
            chain = _from_chain(pid, images, records, main)
        except NoSuchProcess:
            raise
        except (AccessDenied, _NoChain, Error, OSError) as why:
            reason = str(why)
        else:
            if chain is not None:
                return chain
            return Scope(list(range(len(images))), ADDRESS, note="a static executable")
    return _rebuilt(pid, images, records, main, reason)


class _NoChain(Exception):
    """The chain cannot be found or cannot be used."""


# --------------------------------------------------------------------------
# The chain in memory
# --------------------------------------------------------------------------


def _from_chain(
    pid: int | None, images: Sequence[Image], records: Sequence[ImageRecord], main: int
) -> Scope | None:
    """The order of the chain; None for a static executable (no PT_DYNAMIC
    and no loader mapped)."""
    target = native_pid(pid)
    record = records[main]
    # A refusal is AccessDenied here, where the ELF reader would only see
    # bytes that are not there.
    _core.read_memory(target, record.header, 64)
    header = _core.ImageFile(pid=target, load_address=record.header, format="elf", sections=False)
    pointer_size = 8 if header.header[0] else 4
    dynamic = [segment for segment in header.segments if segment[0] == _PT_DYNAMIC]
    loaders = [i for i, r in enumerate(records) if r.flags & IMAGE_LOADER]
    if not dynamic and not loaders:
        return None
    r_debug = None
    if dynamic:
        address = (dynamic[0][3] + record.bias) & _MASK
        r_debug = _core.find_r_debug(target, address, pointer_size)
    if r_debug is None:
        # ld.so's own record: the executable has no DT_DEBUG (ld.so was
        # run as the program) or ld.so has not filled it in yet.
        for candidate in [*loaders, main]:
            r_debug = images[candidate].symbol("_r_debug")
            if r_debug is not None:
                break
    if r_debug is None:
        raise _NoChain("neither a DT_DEBUG nor ld.so's _r_debug gives the r_debug record")

    for pause in _PAUSES:
        if pause:
            time.sleep(pause)
        state, namespaces, entries, broken = _core.link_map(target, r_debug, pointer_size)
        if state == _RT_CONSISTENT and broken is None:
            break
    note = None
    if state != _RT_CONSISTENT:
        note = (
            f"ld.so was changing its list ({_R_STATES.get(state, f'r_state {state}')}) "
            f"over {len(_PAUSES)} reads: the order is the chain as it was last read"
        )
    elif broken is not None:
        note = f"the chain is not whole ({broken}): the order is what could be read of it"
    if namespaces > 1:
        more = namespaces - 1
        extra = f"{more} more namespace{'s' if more > 1 else ''} (dlmopen) not searched first"
        note = extra if note is None else f"{note}; {extra}"
    return _chain_order(images, records, entries, note)


def _chain_order(
    images: Sequence[Image],
    records: Sequence[ImageRecord],
    entries: Sequence[tuple[int, str | None, int, int]],
    note: str | None,
) -> Scope:
    starts = [image.base for image in images]

    def holding(address: int) -> int | None:
        i = bisect_right(starts, address) - 1
        return i if i >= 0 and address < images[i].end else None

    by_path: dict[str, list[int]] = {}
    for i, image in enumerate(images):
        by_path.setdefault(image.path, []).append(i)
    placed: set[int] = set()
    order: list[int] = []
    kernel: list[int] = []
    mismatched = unmatched = 0
    for l_addr, l_name, l_ld, _map in entries:
        found = holding(l_ld) if l_ld else None
        if found is None and l_name:
            # link_map paths may differ from the map's (/lib vs /usr/lib):
            # only an exact one, or a single image with that bias.
            candidates = by_path.get(l_name, [])
            if len(candidates) == 1:
                found = candidates[0]
        if found is None:
            biased = [i for i, image in enumerate(images) if image.bias == l_addr]
            if len(biased) == 1:
                found = biased[0]
        if found is None or found in placed:
            unmatched += 1
            continue
        if images[found].bias != l_addr:
            mismatched += 1
        placed.add(found)
        (kernel if records[found].flags & IMAGE_KERNEL else order).append(found)
    if not order:
        raise _NoChain(f"no object of the chain ({len(entries)} read) is a mapped image")
    if mismatched:
        extra = f"{mismatched} of the chain's objects have an l_addr that is not their image's bias"
        note = extra if note is None else f"{note}; {extra}"
    rest = [i for i in range(len(images)) if i not in placed]
    return Scope([*order, *kernel, *rest], LINK_MAP, len(order), mismatched, unmatched, note)


# --------------------------------------------------------------------------
# The order rebuilt from files
# --------------------------------------------------------------------------


class _Named(NamedTuple):
    """What an image's file says of its names."""

    soname: str | None
    needed: tuple[str, ...]
    dynamic: bool


def _file_names(pid: int | None, record: ImageRecord) -> _Named | None:
    """The image's DT_SONAME and DT_NEEDED, from the very file mapped (found
    again as the C core found it); None when no file can be read."""
    for opener in (open_image, open_mapped_path):
        with suppress(OSError, Error):
            elf = opener(pid, record)
            dynamic = any(segment[0] == _PT_DYNAMIC for segment in elf.segments)
            return _Named(elf.soname, elf.needed, dynamic)
    return None


def _read_bounded(fd: int, limit: int) -> tuple[bytes, bool]:
    """Up to limit bytes of fd, and whether there was more."""
    chunks = []
    size = 0
    while size <= limit:
        chunk = os.read(fd, min(65536, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    return data[:limit], len(data) > limit


def _environ_preload(pid: int | None) -> tuple[list[bytes], str | None]:
    """The LD_PRELOAD entries of the environment the process started with
    (the last LD_PRELOAD wins, as ld.so reads them)."""
    try:
        fd = os.open(_proc(pid) + "/environ", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        return [], f"its environment cannot be read ({error.strerror})"
    try:
        data, cut = _read_bounded(fd, _ENVIRON_LIMIT)
    except OSError as error:
        return [], f"its environment cannot be read ({error.strerror})"
    finally:
        os.close(fd)
    value = None
    for variable in data.split(b"\0"):
        if variable.startswith(b"LD_PRELOAD="):
            value = variable[len(b"LD_PRELOAD=") :]
    note = f"its environment is longer than {_ENVIRON_LIMIT} bytes" if cut else None
    return _split(value or b"", _ENV_SEPARATORS), note


def _split(text: bytes, separators: bytes) -> list[bytes]:
    words = [text]
    for separator in separators:
        words = [piece for word in words for piece in word.split(bytes([separator]))]
    return [word for word in words if word]


def _read_in_root(pid: int | None, path: str, limit: int) -> bytes | None:
    """Up to limit bytes of a regular file inside the target's root, or None
    when there is none there (a FIFO or a device is never opened, and a
    symbolic link leads nowhere outside that root)."""
    try:
        with TargetRoot(pid) as root:
            fd = root.open(path)
    except OSError:
        return None
    try:
        return _read_bounded(fd, limit)[0]
    except OSError:
        return None
    finally:
        os.close(fd)


class _Matcher:
    """Which image a name ld.so was given (a DT_NEEDED entry, a preload)
    leads to: by DT_SONAME, by file name, or, for a path, by the path or
    the file it names in the target's root."""

    def __init__(
        self,
        pid: int | None,
        images: Sequence[Image],
        records: Sequence[ImageRecord],
        names: Sequence[_Named | None],
    ) -> None:
        self._pid = pid
        self._images = images
        self._records = records
        self._by_soname: dict[str, list[int]] = {}
        self._by_file_name: dict[str, list[int]] = {}
        for i, image in enumerate(images):
            named = names[i]
            if named is not None and named.soname:
                self._by_soname.setdefault(named.soname, []).append(i)
            if not records[i].flags & IMAGE_KERNEL:
                self._by_file_name.setdefault(os.path.basename(image.path), []).append(i)

    def match(self, name: str) -> int | None:
        if "/" in name:
            for i, image in enumerate(self._images):
                if image.path == name or self._same_file(i, name):
                    return i
            name = os.path.basename(name)
        if "$" in name:
            return None  # a $LIB or $ORIGIN left unexpanded: nothing to compare
        for found in (self._by_soname.get(name), self._by_file_name.get(name)):
            if found:
                return found[0]
        return None

    def _same_file(self, i: int, path: str) -> bool:
        """Whether path, in the target's root (or its working folder, for a
        relative one), is the image's file: stat, which opens nothing."""
        record = self._records[i]
        if not record.flags & IMAGE_HAS_FILE_ID:
            return False
        where = "/root" if path.startswith("/") else "/cwd/"
        try:
            st = os.stat(_proc(self._pid) + where + path)
        except OSError:
            return False
        return st.st_ino == record.inode and (os.major(st.st_dev), os.minor(st.st_dev)) == (
            record.dev_major,
            record.dev_minor,
        )


def _rebuilt(
    pid: int | None,
    images: Sequence[Image],
    records: Sequence[ImageRecord],
    main: int,
    reason: str,
) -> Scope:
    every = list(range(len(images)))
    names = [
        None if record.flags & IMAGE_KERNEL else _file_names(pid, record) for record in records
    ]
    executable = names[main]
    if executable is None:
        return Scope(every, ADDRESS, note=f"{reason}; the executable's file cannot be read")
    if not executable.dynamic:
        return Scope(every, ADDRESS, note="a static executable")
    matcher = _Matcher(pid, images, records, names)
    notes = [reason]
    preloads, environ_note = _environ_preload(pid)
    if environ_note is not None:
        notes.append(environ_note)
    listed = _read_in_root(pid, "/etc/ld.so.preload", _PRELOAD_FILE_LIMIT)
    if listed is not None:
        preloads += _split(listed, _FILE_SEPARATORS)

    order = [main]
    placed = {main}
    unmatched = 0

    def place(name: str) -> None:
        nonlocal unmatched
        found = matcher.match(name)
        if found is None:
            unmatched += 1
        elif found not in placed:
            placed.add(found)
            order.append(found)

    for preload in preloads:
        place(os.fsdecode(preload))
    # Breadth-first from the executable and the preloads, as ld.so loads.
    for i in order:
        named = names[i]
        for needed in () if named is None else named.needed:
            place(needed)
    unreadable = sum(1 for i in order if names[i] is None)
    if unreadable:
        notes.append(f"the DT_NEEDED of {unreadable} images could not be read")
    kernel = [i for i in every if i not in placed and records[i].flags & IMAGE_KERNEL]
    rest = [i for i in every if i not in placed and not records[i].flags & IMAGE_KERNEL]
    return Scope([*order, *kernel, *rest], REBUILT, len(order), 0, unmatched, "; ".join(notes))
