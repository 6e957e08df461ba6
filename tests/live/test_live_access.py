"""Live test: permissions.  Targets run as another user (setpriv); readers
are forked children of the test process that dropped to another uid (the
module is already imported there) and report through a pipe."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import sys
import time

import pytest

import memmaps
from tests.helpers import procutil
from tests.helpers.procutil import parse_maps, read_maps

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="live /proc tests need Linux"),
    pytest.mark.skipif(not procutil.IS_ROOT, reason="needs root to run processes as other users"),
    pytest.mark.skipif(
        shutil.which("setpriv") is None,
        reason="needs setpriv (util-linux) to start a target as another user",
    ),
]

TARGET_UID = TARGET_GID = 65534  # nobody
OTHER_UID = OTHER_GID = 65533  # a third uid, for the reader
ALLOWS = re.compile(r"CAP_SYS_PTRACE|\broot\b", re.I)


def _as_user(uid: int, gid: int, pid: int) -> dict:
    """Fork; in the child drop to uid/gid and call memmaps.regions(pid);
    return what happened (plus what the kernel says to a plain open())."""
    memmaps.regions()  # everything lazily loaded is loaded
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # --- child: never returns ---
        try:
            os.close(r)
            try:
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                res: dict = {"uid": os.getuid()}
                try:
                    with open(f"/proc/{pid}/maps", "rb") as f:
                        f.read(1)
                    res["kernel"] = "ok"
                except OSError as e:
                    res["kernel"] = e.errno
                try:
                    m = memmaps.regions(pid)
                    res.update(ok=True, n=len(m), pid=m.pid, kinds=sorted({x.kind for x in m}))
                except BaseException as e:
                    res.update(
                        ok=False,
                        type=type(e).__name__,
                        msg=str(e),
                        access_denied=isinstance(e, memmaps.AccessDenied),
                        permission_error=isinstance(e, PermissionError),
                        errno=getattr(e, "errno", None),
                    )
            except BaseException as e:
                res = {"setup_error": repr(e)}
            data = json.dumps(res).encode()
            while data:
                data = data[os.write(w, data) :]
        finally:
            os._exit(0)
    os.close(w)
    try:
        buf = b""
        deadline = time.monotonic() + 30
        while True:
            ready, _, _ = select.select([r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                procutil.kill_quietly(child)
                pytest.fail("reader child hung")
            b = os.read(r, 65536)
            if not b:
                break
            buf += b
    finally:
        os.close(r)
        os.waitpid(child, 0)
    res = json.loads(buf)
    assert "setup_error" not in res, res
    assert res["uid"] == uid
    return res


def _wait_user_exec(pid: int, exe_suffix: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            st = os.stat(f"/proc/{pid}")
            exe = os.readlink(f"/proc/{pid}/exe")
            if st.st_uid == TARGET_UID and exe.endswith(exe_suffix):
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "target never became the other user"
        time.sleep(0.01)


def _setpriv(exe: str, *args: str) -> list[str]:
    return [
        "setpriv",
        f"--reuid={TARGET_UID}",
        f"--regid={TARGET_GID}",
        "--clear-groups",
        exe,
        *args,
    ]


@pytest.fixture
def other_user_sleeper(spawn):
    p = spawn(_setpriv("/bin/sleep", "120"))
    _wait_user_exec(p.pid, "/sleep")
    return p


@pytest.fixture
def other_user_nodump(spawn, build_target):
    exe = build_target("nodump")
    p = spawn(_setpriv(str(exe)))
    line = procutil.read_line(p).split()
    assert line == [b"ready", b"0"], line
    _wait_user_exec(p.pid, "/nodump")
    return p


def test_other_user_is_denied(other_user_sleeper):
    res = _as_user(OTHER_UID, OTHER_GID, other_user_sleeper.pid)
    assert res["kernel"] == 13, f"kernel did not refuse (test setup wrong?): {res}"
    assert not res["ok"], f"read another user's process without privilege: {res}"
    assert res["access_denied"] and res["permission_error"], res
    msg = res["msg"]
    assert re.search(r"\buid\b|user|owner", msg, re.I), f"no reason in message: {msg!r}"
    assert ALLOWS.search(msg), f"message does not say what would allow it: {msg!r}"


def test_same_user_is_allowed(other_user_sleeper):
    """Control for the test above: the same fork-and-drop reader, as the
    target's own uid, can read it."""
    res = _as_user(TARGET_UID, TARGET_GID, other_user_sleeper.pid)
    assert res["kernel"] == "ok", res
    assert res["ok"], f"same-uid read failed: {res}"
    assert res["pid"] == other_user_sleeper.pid
    assert res["n"] > 3 and "stack" in res["kinds"] and "file" in res["kinds"], res


def test_not_dumpable_is_denied(other_user_nodump):
    res = _as_user(TARGET_UID, TARGET_GID, other_user_nodump.pid)
    assert res["kernel"] == 13, f"kernel did not refuse (test setup wrong?): {res}"
    assert not res["ok"], f"read a non-dumpable process: {res}"
    assert res["access_denied"] and res["permission_error"], res
    msg = res["msg"]
    assert "dumpable" in msg.lower(), f"message does not name the reason: {msg!r}"
    assert ALLOWS.search(msg), f"message does not say what would allow it: {msg!r}"


@pytest.mark.parametrize("which", ["other_user_sleeper", "other_user_nodump"])
def test_root_reads_other_users(request, which):
    p = request.getfixturevalue(which)
    text = read_maps(p.pid)
    maps = memmaps.regions(p.pid)
    assert read_maps(p.pid) == text
    assert maps.pid == p.pid
    ref = parse_maps(text)
    assert [tuple(r)[:10] for r in maps] == [
        (
            x.start,
            x.end,
            x.perms,
            x.offset,
            x.dev_major,
            x.dev_minor,
            x.inode,
            x.path,
            x.deleted,
            x.kind,
        )
        for x in ref
    ]
    assert os.fsencode(maps.to_proc_maps()) == text
