"""Maps.partial and PartialListingWarning, through the platform layer's own
listing path: what the C core returns for a partial listing (regions, and
the sentence) becomes a Maps that says so, with one warning per reason.

No backend here produces a partial listing (the macOS fallback does; its
sentence is checked with tools/darwinrecords.c in tests/native/
test_darwin.py), so the C core's answer is stood in for by its two values.
"""

from __future__ import annotations

import warnings

import pytest

import memmaps
from memmaps import Maps, PartialListingWarning, Region
from memmaps._platform import native

REGIONS = (Region(0x1000, 0x2000, "r-xp"), Region(0x3000, 0x5000, "rw-p"))


@pytest.fixture(autouse=True)
def fresh_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "_warned", set())


def test_a_full_listing_is_not_partial() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = native._listing((REGIONS, None), 4242)
    assert maps.partial is None
    assert "partial" not in repr(maps)
    assert memmaps.regions().partial is None  # Linux lists everything


def test_a_partial_listing_says_why_and_warns_once_per_reason() -> None:
    why = "process 4242's task port was refused (...): no submaps"
    with pytest.warns(PartialListingWarning, match="task port was refused") as caught:
        maps = native._listing((REGIONS, why), 4242)
    assert len(caught) == 1
    assert maps.partial == why and list(maps) == list(REGIONS) and maps.pid == 4242
    assert repr(maps).endswith(", partial>")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same reason again: no warning
        assert native._listing((REGIONS, why), 4242).partial == why
    with pytest.warns(PartialListingWarning):
        native._listing((REGIONS, "another reason"), 4242)


def test_what_is_taken_from_a_partial_listing_is_partial() -> None:
    maps = Maps(REGIONS, 4242, partial="no submaps")
    assert maps[0:1].partial == "no submaps"
    assert maps.filter("rw").partial == "no submaps"
    assert maps.coalesce().partial == "no submaps"
    assert all(group.partial == "no submaps" for group in maps.group_by_path().values())
    assert Maps(REGIONS, 4242).partial is None


def test_the_warning_is_a_user_warning() -> None:
    # A warning, not an error: the listing is still worth having.
    assert issubclass(PartialListingWarning, UserWarning)
    assert not issubclass(PartialListingWarning, memmaps.Error)
