"""The platform layer: every platform module implements the Platform
protocol with its signatures, and nothing outside the layer tests which
system it runs on."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import memmaps
from memmaps import _platform
from memmaps._platform.base import Platform

PACKAGE = Path(memmaps.__file__).parent
SHARED = {"base", "native"}  # the protocol, and the calls every backend shares
NAMES = [info.name for info in pkgutil.iter_modules(_platform.__path__)]
# PLATFORM_PART (linux_files, linux_scope): a piece of one platform's module, not a platform.
PARTS = sorted(name for name in NAMES if "_" in name)
MODULES = sorted(name for name in NAMES if name not in SHARED and name not in PARTS)


def _members() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(getattr(Platform, name))
        for name, value in vars(Platform).items()
        if callable(value) and not name.startswith("_")
    }


def test_there_is_a_module_per_backend() -> None:
    assert {"linux", "macos", "unsupported"} <= set(MODULES)
    assert memmaps.BACKEND in MODULES
    assert _platform.current is importlib.import_module(f"memmaps._platform.{memmaps.BACKEND}")


@pytest.mark.parametrize("name", PARTS)
def test_a_part_belongs_to_a_platform(name: str) -> None:
    assert name.split("_", 1)[0] in MODULES, f"{name} is a part of no platform module"


@pytest.mark.parametrize("name", MODULES)
def test_module_implements_the_protocol(name: str) -> None:
    module = importlib.import_module(f"memmaps._platform.{name}")
    assert name == module.NAME
    for member, signature in _members().items():
        function = getattr(module, member, None)
        assert callable(function), f"{name}.{member} is missing"
        expected = [p for p in signature.parameters if p != "self"]
        got = list(inspect.signature(function).parameters)
        assert got == expected, f"{name}.{member}{tuple(got)}, the protocol says {tuple(expected)}"


def test_no_platform_test_outside_the_layer() -> None:
    """The public functions ask the platform; they never ask which it is."""
    offenders = []
    for path in PACKAGE.glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"BACKEND\s*==|sys\.platform|platform\.system\(", line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
