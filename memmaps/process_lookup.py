"""Finding a process by its name, as macOS vmmap and pgrep do (Linux: /proc).

The rules are in docs/api.md ("The command line"): an exact executable or
command name first, then names that contain the text; the calling process
never matches.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from . import _core
from ._platform import current as _system
from .errors import UnsupportedPlatform

# include/linux/sched.h: the task is a kernel thread (no address space).
_PF_KTHREAD = 0x00200000
_DELETED = " (deleted)"


class Candidate(NamedTuple):
    pid: int
    #: The executable's file name, or the command name when the executable
    #: cannot be read (another user's process, a zombie).
    name: str
    command: str
    executable: str | None


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None


def _candidate(root: str, pid: int) -> Candidate | None:
    """What /proc says of one process, or None for a kernel thread or a
    process that is gone."""
    stat = _read(f"{root}/{pid}/stat")
    if not stat:
        return None
    # "PID (COMM) STATE ...": the command name may hold ") " itself.
    opening, closing = stat.find(b"("), stat.rfind(b")")
    if opening < 0 or closing < opening:
        return None
    fields = stat[closing + 2 :].split()
    try:
        flags = int(fields[6])
    except (IndexError, ValueError):
        return None
    if flags & _PF_KTHREAD:
        return None
    command = os.fsdecode(stat[opening + 1 : closing])
    try:
        executable: str | None = os.readlink(f"{root}/{pid}/exe")
    except OSError:
        executable = None
    if executable is not None and executable.endswith(_DELETED):
        executable = executable[: -len(_DELETED)]
    shown = os.path.basename(executable) if executable else command
    return Candidate(pid, shown, command, executable)


def _own_pid(root: str) -> int | None:
    """This process's pid as that procfs numbers it (another pid namespace
    numbers it differently, or not at all)."""
    try:
        return int(os.readlink(f"{root}/self"))
    except (OSError, ValueError):
        return None


def processes_named(name: str) -> list[Candidate]:
    """The processes that ``name`` names, by pid: those whose executable's
    file name, full path or command name is ``name``; when there are none,
    those whose executable's file name or command name contains it.  The
    calling process and kernel threads are left out."""
    if _system.NAME != "linux":
        raise UnsupportedPlatform(
            f"a process is found by name through /proc, which {_system.NAME} does not have: "
            "give its pid"
        )
    root = _core.procfs()
    me = _own_pid(root)
    candidates: list[Candidate] = []
    with os.scandir(root) as entries:
        for entry in entries:
            if not (entry.name.isascii() and entry.name.isdigit()):
                continue
            pid = int(entry.name)
            if pid == me:
                continue
            found = _candidate(root, pid)
            if found is not None:
                candidates.append(found)
    candidates.sort()
    exact = [
        found
        for found in candidates
        if name in (found.command, found.executable)
        or (found.executable is not None and name == os.path.basename(found.executable))
    ]
    if exact:
        return exact
    return [
        found
        for found in candidates
        if name in found.command
        or (found.executable is not None and name in os.path.basename(found.executable))
    ]
