"""A Windows map as the backend really gives it (tools/mmdump --fields of
itself under Wine 8.0, tests/fixtures/windows/), through the pure Python
parts: the summary's Windows rules and its unusable tail,
coalesce(by="allocation"), to_proc_maps(), the snapshot.  Wine is not
Windows (its layout differs); the fields are the backend's own."""

from __future__ import annotations

from pathlib import Path

import pytest

import memmaps
from memmaps import Maps, Region
from memmaps.summary import WINDOWS_ALLOCATION_GRANULARITY, categorize, unusable

FIXTURE = Path(__file__).parents[1] / "fixtures" / "windows" / "fields-wine-8.0-mmdump-captured.txt"


def _none(text: str) -> str | None:
    return None if text == "None" else text


def parse_fields(text: str) -> Maps:
    regions = []
    for line in text.splitlines():
        fields = dict(pair.split("=", 1) for pair in line.split("\t"))
        major, minor = (int(part) for part in fields["dev"].split(":"))
        base = int(fields["alloc_base"], 16)
        regions.append(
            Region(
                int(fields["start"], 16),
                int(fields["end"], 16),
                fields["perms"],
                int(fields["offset"], 16),
                major,
                minor,
                int(fields["inode"]),
                fields.get("path"),
                False,
                fields["kind"],
                None,
                _none(fields["max_perms"]),
                _none(fields["share_mode"]),
                _none(fields["tag"]),
                fields.get("detail"),
                base or None,
            )
        )
    return Maps(regions, 36)


@pytest.fixture(scope="module")
def wine() -> Maps:
    return parse_fields(FIXTURE.read_text(encoding="utf-8"))


def test_every_region_has_an_allocation_and_a_windows_tag(wine):
    assert len(wine) > 50
    for region in wine:
        assert region.allocation_base is not None and region.allocation_base <= region.start
        assert region.tag in ("image", "mapped", "private", "reserved"), region
        # Every allocation begins on the 64 KiB granularity.
        assert region.allocation_base % WINDOWS_ALLOCATION_GRANULARITY == 0, region


def test_the_categories_follow_the_windows_rules(wine):
    for region, name in zip(wine, categorize(wine), strict=True):
        if region.tag == "image":
            assert name == "image"
        elif region.tag == "mapped":
            assert name == ("mapped file" if region.path else "shared memory")
        elif region.tag == "reserved":
            assert name == "reserved"
        elif region.kind == "guard":
            assert name == "guard"
        elif region.kind in ("heap", "stack"):
            assert name == region.kind
        else:
            assert name == "private", region
    summary = wine.summary()
    assert summary["heap"].regions >= 1 and summary["stack"].regions >= 1
    assert summary["guard"].regions == 1
    assert summary["image"].size > summary["mapped file"].size > 0


def test_the_unusable_tail_follows_each_allocation_that_ends_off_the_granule(wine):
    fragments = unusable(wine)
    assert fragments
    step = WINDOWS_ALLOCATION_GRANULARITY
    ends = {region.end for region in wine}
    for gap in fragments:
        # It starts where an allocation's last region ends and goes up to
        # the next granule, or to the next region if that is nearer.
        assert gap.start in ends and gap.start % step
        assert gap.end == min(
            -(-gap.start // step) * step, next(r.start for r in wine if r.start >= gap.start)
        )
    # The mapped .nls files end off the granule: the tail of each is there.
    nls = [r for r in wine if r.path is not None and r.path.endswith("l_intl.nls")]
    assert nls and any(gap.start == nls[-1].end for gap in fragments)
    summary = wine.summary()
    assert summary["unusable"].size == sum(gap.size for gap in fragments)
    assert summary.total.size == sum(r.size for r in wine) + summary["unusable"].size


def test_coalescing_by_allocation_keeps_allocations_and_labels_apart(wine):
    # VirtualQueryEx splits an allocation only where the protection or
    # the state changes, and in this fresh Wine process no two neighbours
    # of one allocation differ in bits perms does not show: nothing merges.
    assert wine.coalesce(by="allocation") == wine
    # On Windows a written page of an image's data turns from
    # PAGE_WRITECOPY to PAGE_READWRITE, both rw-p: the section comes in
    # pieces, which merge back.
    data = next(r for r in wine if r.tag == "image" and r.perms == "rw-p" and r.size > 0x1000)
    split = Maps(
        sorted(
            [r for r in wine if r != data]
            + [data._replace(end=data.start + 0x1000), data._replace(start=data.start + 0x1000)],
            key=lambda r: r.start,
        ),
        wine.pid,
    )
    assert len(split) == len(wine) + 1
    assert split.coalesce(by="allocation") == wine
    merged = split.coalesce(by="allocation")
    assert sum(r.size for r in merged) == sum(r.size for r in wine)
    for region in merged:
        pieces = [r for r in split if region.start <= r.start < region.end]
        assert {r.allocation_base for r in pieces} == {region.allocation_base}
        assert {(r.perms, r.tag, r.kind, r.path, r.detail) for r in pieces} == {
            (region.perms, region.tag, region.kind, region.path, region.detail)
        }
    # Wine puts the PEB and the first TEB in one allocation: they stay
    # regions of their own, as Cygwin shows [peb] and [teb] apart.
    labels = [r.detail for r in merged if r.detail in ("PEB", "TEB tid 36")]
    assert sorted(labels) == ["PEB", "TEB tid 36"]


def test_to_proc_maps_of_the_coalesced_view(wine):
    text = wine.coalesce(by="allocation").to_proc_maps()
    lines = text.splitlines()
    assert any(line.endswith(" [PEB]") for line in lines)
    assert any(" ===p " in line and line.endswith(" [heap 0x340000]") for line in lines)
    assert any(" rw-g " in line and line.endswith(" [stack guard tid 36]") for line in lines)
    dll = [line for line in lines if line.lower().endswith("\\ntdll.dll")]
    # An image's offsets are into its allocation: the headers at 0.
    assert dll and dll[0].split()[2] == "00000000"
    assert all(int(line.split()[2], 16) > 0 for line in dll[1:])


def test_the_snapshot_keeps_every_field(wine):
    assert memmaps.load(wine.to_json()) == wine
