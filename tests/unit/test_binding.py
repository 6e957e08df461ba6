"""The binding's handshake with the Python layer: setup() takes only the
record types whose fields are exactly those the C side fills, in order."""

from __future__ import annotations

from typing import NamedTuple

import pytest

import memmaps
from memmaps import Region, Usage, _core
from memmaps.errors import _from_native


class Shuffled(NamedTuple):
    end: int
    start: int


def test_setup_refuses_a_region_with_other_fields() -> None:
    with pytest.raises(TypeError, match=r"region_type has the fields \('end', 'start'\)"):
        _core.setup(Shuffled, Usage, _from_native)
    short = NamedTuple("Short", [(name, object) for name in Region._fields[:-1]])
    with pytest.raises(TypeError, match="the C core fills"):
        _core.setup(short, Usage, _from_native)
    with pytest.raises(TypeError, match="usage_type"):
        _core.setup(Region, Shuffled, _from_native)


def test_setup_refuses_what_is_not_a_named_tuple() -> None:
    with pytest.raises(TypeError, match="tuple subclass"):
        _core.setup(dict, Usage, _from_native)
    with pytest.raises(TypeError, match="no _fields"):
        _core.setup(type("Bare", (tuple,), {}), Usage, _from_native)
    with pytest.raises(TypeError, match="callable"):
        _core.setup(Region, Usage, None)


def test_a_refused_setup_leaves_the_module_working() -> None:
    with pytest.raises(TypeError):
        _core.setup(Shuffled, Usage, _from_native)
    assert type(memmaps.regions()[0]) is Region
