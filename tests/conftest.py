"""Shared pytest setup.  Fixtures used by the tests in tests/live/ live
here; the helpers themselves are in tests/helpers/procutil.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers import procutil


@pytest.fixture(scope="session")
def live_bindir():
    """A world-readable/executable temporary directory for compiled targets
    (so that targets can also be run as another user; pytest's own tmp dirs
    are mode 0700 under root)."""
    d = tempfile.mkdtemp(prefix="memmaps-live-")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def build_target(live_bindir):
    """build_target("churn") compiles tests/targets/churn.c once per session
    and returns the path of the executable (mode 0755)."""
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            out = live_bindir / name
            procutil.compile_c(procutil.TARGETS / f"{name}.c", out)
            os.chmod(out, 0o755)
            built[name] = out
        return built[name]

    return build


@pytest.fixture
def spawn():
    """spawn(args, ...) starts a target with pipes; every target started this
    way is killed and reaped at the end of the test."""
    procs = []

    def _spawn(args, **kw):
        p = procutil.start(args, **kw)
        procs.append(p)
        return p

    yield _spawn
    for p in procs:
        procutil.stop(p)


@pytest.fixture(scope="session")
def wine_session():
    """A private WINEPREFIX for the session (tests/helpers/wine.py), or a
    skip that says what is missing; the wineserver is stopped at the end."""
    from tests.helpers import wine

    why = wine.missing()
    if why is not None:
        pytest.skip(why)
    session = wine.new_session()
    yield session
    session.close()
