"""memmaps.diff() on regions made by hand, on parse() output, and on random
maps (hypothesis): the matching rules, the words, the report, and that
every byte of both sides is accounted for."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memmaps
from memmaps import Maps, Region, Usage
from memmaps.mapsdiff import CHANGES

P = 0x1000
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def anon(start, end, perms="rw-p", **fields):
    return Region(start * P, end * P, perms, **fields)


def lib(start, end, offset, perms="r-xp", inode=10, path="/lib/x.so", **fields):
    return Region(start * P, end * P, perms, offset * P, 8, 1, inode, path, kind="file", **fields)


def used(rss, dirty=0, swap=0, **fields):
    return Usage(rss=rss, shared_dirty=0, private_dirty=dirty, swap=swap, **fields)


def words(result):
    return [result.change(*pair) for pair in result.changed]


def check_accounting(result):
    for side, maps, alone in ((0, result.before, result.removed), (1, result.after, result.added)):
        in_pairs = {pair[side] for pair in result.changed}
        kept = {pair[side] for pair in result.unchanged}
        assert not in_pairs & kept and not in_pairs & set(alone) and not kept & set(alone)
        assert in_pairs | kept | set(alone) == set(maps)
    assert all(result.change(*pair) for pair in result.changed)
    assert set(result.changed).isdisjoint(result.unchanged)


# ---- the rules, one at a time ----


def test_equal_maps_have_no_changes():
    maps = Maps([anon(1, 2), lib(4, 6, 0)])
    result = memmaps.diff(maps, maps)
    assert not result
    assert result.unchanged == [(maps[0], maps[0]), (maps[1], maps[1])]
    assert result.to_text() == "no changes: 2 regions, 12K mapped\n"
    assert repr(result) == "<MapsDiff: 0 added, 0 removed, 0 changed, +0B mapped>"
    assert result.mapped_delta == 0 and result.usage_delta is None


def test_arguments_must_be_maps():
    with pytest.raises(TypeError, match="before must be a Maps, not list"):
        memmaps.diff([], Maps())
    with pytest.raises(TypeError, match="after must be a Maps, not NoneType"):
        memmaps.diff(Maps(), None)
    with pytest.raises(TypeError, match="after must be a Region, not int"):
        memmaps.diff(Maps(), Maps()).change(anon(1, 2), 5)


def test_added_and_removed_keep_their_pid():
    before = Maps([anon(1, 2)], pid=41)
    after = Maps([anon(3, 4)], pid=42)
    result = memmaps.diff(before, after)
    assert list(result.removed) == [before[0]] and result.removed.pid == 41
    assert list(result.added) == [after[0]] and result.added.pid == 42
    assert result.mapped_delta == 0
    assert result.to_text() == (
        "- 00001000-00002000 rw-p  4.0K anon\n"
        "+ 00003000-00004000 rw-p  4.0K anon\n"
        "1 added, 1 removed, 0 changed: 1 -> 1 region, 4.0K -> 4.0K mapped (+0B)\n"
    )


def test_anonymous_memory_grown_at_either_end_and_shrunk():
    result = memmaps.diff(Maps([anon(10, 12)]), Maps([anon(9, 14)]))
    assert words(result) == [("grown",)]
    assert "grown by 4.0K at the start and grown by 8.0K at the end (8.0K -> 20K)" in (
        result.to_text()
    )
    result = memmaps.diff(Maps([anon(9, 14)]), Maps([anon(10, 12)]))
    assert words(result) == [("shrunk",)]
    # A window that slid: grown at one end, shrunk at the other.
    result = memmaps.diff(Maps([anon(10, 12)]), Maps([anon(11, 13)]))
    assert words(result) == [("grown", "shrunk")]


def test_a_split_and_a_merge_are_the_same_change_seen_both_ways():
    whole = Maps([anon(10, 13)])
    pieces = Maps([anon(10, 11), anon(11, 12, "r--p"), anon(12, 13)])
    split = memmaps.diff(whole, pieces)
    assert split.changed == [(whole[0], piece) for piece in pieces]
    assert words(split) == [("split",), ("split", "perms"), ("split",)]
    merged = memmaps.diff(pieces, whole)
    assert merged.changed == [(piece, whole[0]) for piece in pieces]
    assert words(merged) == [("merged",), ("merged", "perms"), ("merged",)]
    assert merged.to_text() == (
        "~ 0000a000-0000d000 rw-p   12K anon: merged from 3\n"
        "    0000a000-0000b000 rw-p  4.0K anon\n"
        "    0000b000-0000c000 r--p  4.0K anon: perms r--p -> rw-p\n"
        "    0000c000-0000d000 rw-p  4.0K anon\n"
        "0 added, 0 removed, 1 changed: 3 -> 1 region, 12K -> 12K mapped (+0B)\n"
    )


def test_a_split_that_also_lost_and_gained_bytes():
    result = memmaps.diff(Maps([anon(10, 14)]), Maps([anon(10, 11), anon(12, 16, "r--p")]))
    assert words(result) == [("split", "shrunk"), ("split", "grown", "shrunk", "perms")]
    head = result.to_text().splitlines()[0]
    assert head == (
        "~ 0000a000-0000e000 rw-p   16K anon: split in 2; grown by 8.0K; "
        "shrunk by 4.0K (16K -> 20K)"
    )


def test_regions_regrouped_two_into_three():
    before = Maps([anon(10, 12), anon(12, 14, "r--p")])
    after = Maps([anon(10, 11, "r--p"), anon(11, 13), anon(13, 14, "rw-p", path="[anon:x]")])
    result = memmaps.diff(before, after)
    check_accounting(result)
    assert len(result.changed) == 4
    text = result.to_text()
    assert text.startswith("~ 0000a000-0000e000: 2 regions became 3\n  was 0000a000-")
    assert "  now 0000d000-0000e000 rw-p  4.0K anon [anon:x]\n" in text


def test_a_file_split_in_place_is_matched_by_file_and_offset():
    before = Maps([lib(20, 24, 0, "rw-p")])
    after = Maps([lib(20, 22, 0, "rw-p"), lib(22, 24, 2, "r--p")])
    result = memmaps.diff(before, after)
    assert words(result) == [("split",), ("split", "perms")]


def test_two_mappings_of_one_file_are_told_apart_by_their_bias():
    """The same pages of one file mapped twice, side by side: each mapping
    is matched with itself, not with its twin."""
    before = Maps([lib(20, 22, 0, "r--p"), lib(22, 24, 0, "r--p")])
    after = Maps([lib(20, 22, 0, "r--p"), lib(22, 25, 0, "r--p")])
    result = memmaps.diff(before, after)
    assert result.changed == [(before[1], after[1])]
    assert words(result) == [("grown",)]


def test_a_library_loaded_elsewhere_has_moved_with_its_bss():
    before = Maps(
        [
            lib(0x200, 0x201, 0, "r--p"),
            lib(0x201, 0x203, 1),
            lib(0x203, 0x204, 3, "rw-p"),
            anon(0x204, 0x210),
        ]
    )
    after = Maps([Region(r.start + 0x100 * P, r.end + 0x100 * P, *r[2:]) for r in before])
    result = memmaps.diff(before, after)
    assert result.changed == list(zip(before, after, strict=True))
    assert words(result) == [("moved",)] * 4
    assert not result.added and not result.removed
    assert "~ 00301000-00303000 r-xp  8.0K file /lib/x.so: moved from 00201000-00203000 " in (
        result.to_text()
    )
    # Anonymous memory after it of another size did not move with it.
    bigger = Maps([*after[:3], anon(0x304, 0x311)])
    result = memmaps.diff(before, bigger)
    assert words(result) == [("moved",)] * 3
    assert list(result.added) == [bigger[3]] and list(result.removed) == [before[3]]


def test_a_moved_file_mapping_that_grew():
    before = Maps([lib(10, 12, 4, "r--p")])
    after = Maps([lib(50, 53, 4, "r--p")])
    result = memmaps.diff(before, after)
    assert words(result) == [("moved", "grown")]
    assert "moved from 0000a000-0000c000 (+0x28000); grown by 4.0K at the end (8.0K -> 12K)" in (
        result.to_text()
    )


def test_copies_of_a_moved_file_are_paired_in_address_order():
    before = Maps([lib(10, 11, 0, "r--p"), lib(20, 21, 0, "r--p")])
    after = Maps([lib(30, 31, 0, "r--p"), lib(40, 41, 0, "r--p")])
    result = memmaps.diff(before, after)
    assert result.changed == [(before[0], after[0]), (before[1], after[1])]


def test_another_backing_at_exactly_the_same_place():
    before = Maps([lib(10, 12, 0, "r--p"), anon(20, 22), anon(30, 32)])
    after = Maps(
        [
            lib(10, 12, 0, "r--p", inode=11, path="/lib/y.so"),
            lib(20, 22, 0, "rw-p", inode=12, path="/data"),
            lib(30, 33, 0, "rw-p", inode=12, path="/data"),
        ]
    )
    result = memmaps.diff(before, after)
    assert result.changed == [(before[0], after[0]), (before[1], after[1])]
    assert words(result) == [("backing",), ("backing",)]
    # Not at exactly the same place: removed and added.
    assert list(result.removed) == [before[2]] and list(result.added) == [after[2]]
    text = result.to_text()
    assert "backing /lib/x.so (dev 08:01, inode 10) -> /lib/y.so (dev 08:01, inode 11)" in text
    assert "backing anonymous -> /data (dev 08:01, inode 12)" in text


def test_deleted_tag_and_detail_are_backing():
    old = lib(10, 12, 0, "r--p")
    result = memmaps.diff(Maps([old]), Maps([old._replace(deleted=True)]))
    assert words(result) == [("backing",)]
    assert result.to_text().startswith(
        "~ 0000a000-0000c000 r--p  8.0K file /lib/x.so (deleted): file deleted\n"
    )
    result = memmaps.diff(Maps([old]), Maps([old._replace(tag="__TEXT", detail="x")]))
    assert "tag - -> __TEXT, detail - -> x" in result.to_text()


def test_macos_fields_perms_max_and_sharing():
    old = anon(10, 12, max_perms="rwxp", share_mode="COW", tag="MALLOC_TINY")
    result = memmaps.diff(Maps([old]), Maps([old._replace(share_mode="PRV", max_perms="rw-p")]))
    assert words(result) == [("perms", "sharing")]
    assert "perms rw-p -> rw-p, max rwxp -> rw-p; share mode COW -> PRV" in result.to_text()


def test_a_dyld_image_without_offsets_is_matched_in_place():
    """macOS names regions of the shared cache after their image, with no
    inode and offset 0: a split of one is still a split."""
    old = Region(10 * P, 14 * P, "rw-p", path="/usr/lib/libA.dylib", kind="file", tag="__DATA")
    pieces = [old._replace(end=12 * P), old._replace(start=12 * P, perms="r--p")]
    result = memmaps.diff(Maps([old]), Maps(pieces))
    assert words(result) == [("split",), ("split", "perms")]


def test_usage_changes_and_deltas():
    old = anon(10, 12, usage=used(P, P))
    new = old._replace(usage=used(2 * P, 2 * P, P))
    other = anon(20, 21, usage=used(0))
    result = memmaps.diff(Maps([old, other]), Maps([new, other]))
    assert result.changed == [(old, new)]
    assert words(result) == [("usage",)]
    delta = result.delta(old, new)
    assert (delta.rss, delta.private_dirty, delta.swap, delta.pss) == (P, P, P, None)
    assert result.usage_delta.rss == P
    text = result.to_text()
    assert (
        "anon: resident 4.0K -> 8.0K (+4.0K), dirty 4.0K -> 8.0K (+4.0K), swap 0B -> 4.0K (+4.0K)"
        in text
    )
    assert text.splitlines()[-1].endswith(
        "; resident 4.0K -> 8.0K (+4.0K), dirty 4.0K -> 8.0K (+4.0K), swap 0B -> 4.0K (+4.0K)"
    )
    # Usage on one side only is no usage change.
    assert memmaps.diff(Maps([anon(10, 12)]), Maps([new])).change(anon(10, 12), new) == ()


def test_figures_no_word_covers_are_unchanged():
    """Referenced bits and proportional figures (which move when other
    processes map the same pages) do not make a change."""
    old = anon(10, 12, usage=used(P, referenced=P, pss=P))
    new = old._replace(usage=used(P, referenced=0, pss=P // 2))
    result = memmaps.diff(Maps([old]), Maps([new]))
    assert not result
    assert result.unchanged == [(old, new)]
    assert result.delta(old, new).pss == -P // 2


def test_split_usage_is_compared_as_a_whole():
    whole = anon(10, 12, usage=used(2 * P))
    pieces = [anon(10, 11, usage=used(P)), anon(11, 12, "r--p", usage=used(P))]
    assert words(memmaps.diff(Maps([whole]), Maps(pieces))) == [("split",), ("split", "perms")]
    pieces[1] = pieces[1]._replace(usage=used(0))
    result = memmaps.diff(Maps([whole]), Maps(pieces))
    assert words(result) == [("split", "usage"), ("split", "perms", "usage")]
    assert "split in 2; resident 8.0K -> 4.0K (-4.0K)" in result.to_text()


def test_added_and_removed_lines_show_their_usage():
    result = memmaps.diff(Maps(), Maps([anon(1, 3, usage=used(2 * P, P))]))
    assert result.to_text().startswith(
        "+ 00001000-00003000 rw-p  8.0K anon (resident 8.0K, dirty 4.0K)\n"
    )


def test_change_of_two_regions_not_paired_by_the_diff():
    result = memmaps.diff(Maps(), Maps())
    assert result.change(anon(1, 2), anon(1, 3, "r--p")) == ("grown", "perms")
    assert result.change(lib(1, 2, 0), lib(5, 6, 0)) == ("moved",)
    assert result.change(anon(1, 2), anon(1, 2)) == ()


def test_the_words_are_documented_in_order():
    assert CHANGES == (
        "moved", "split", "merged", "grown", "shrunk", "perms", "sharing", "backing", "usage"
    )  # fmt: skip


def test_names_are_printable_in_the_report():
    weird = lib(1, 2, 0, path="/tmp/new\nline\udcff")
    text = memmaps.diff(Maps(), Maps([weird])).to_text()
    assert "/tmp/new\\nline\\xff" in text and text.count("\n") == 2


# ---- parsed text ----


def test_two_parsed_listings():
    text = (FIXTURES.parent.parent / "docs" / "example.maps").read_text()
    before = memmaps.parse(text)
    lines = text.splitlines(keepends=True)
    # The heap grew, a guard page became readable, the memfd went away.
    lines[5] = lines[5].replace("555555580000", "5555555a1000")
    lines[13] = lines[13].replace("---p", "r--p")
    del lines[15]
    after = memmaps.parse("".join(lines))
    result = memmaps.diff(before, after)
    check_accounting(result)
    assert result.to_text() == (
        "~ 55555555f000-5555555a1000 rw-p  264K heap [heap]: "
        "grown by 132K at the end (132K -> 264K)\n"
        "~ 7ffff7fa8000-7ffff7fa9000 r--p  4.0K anon: perms ---p -> r--p\n"
        "- 7ffff7fab000-7ffff7fac000 rw-s  4.0K memfd /memfd:ring (deleted)\n"
        "0 added, 1 removed, 2 changed: 25 -> 24 regions, 2.7M -> 2.8M mapped (+128K)\n"
    )


def test_smaps_fixture_against_itself_with_usage_changed():
    smaps = memmaps.parse((FIXTURES / "smaps-x86_64-6.18-captured.txt").read_text())
    heap = smaps.filter(kind="heap")[0]
    grown = heap._replace(usage=heap.usage._replace(rss=heap.usage.rss + P))
    after = Maps([grown if r == heap else r for r in smaps])
    result = memmaps.diff(smaps, after)
    assert result.changed == [(heap, grown)] and words(result) == [("usage",)]
    assert result.usage_delta.rss == P
    assert len(result.unchanged) == len(smaps) - 1


# ---- properties over random maps ----

PERMS = ("rw-p", "r--p", "r-xp", "---p", "rw-s")
FILES = ((8, 1, 10, "/lib/a.so"), (8, 1, 11, "/lib/b.so"), (0, 5, 7, "/dev/zero"))


@st.composite
def random_maps(draw, pages=32):
    regions = []
    at = draw(st.integers(0, 3))
    while at < pages:
        size = draw(st.integers(1, 4))
        perms = draw(st.sampled_from(PERMS))
        if draw(st.booleans()):
            dev_major, dev_minor, inode, path = draw(st.sampled_from(FILES))
            offset = draw(st.integers(0, 6))
            region = Region(
                at * P, (at + size) * P, perms, offset * P, dev_major, dev_minor, inode, path,
                deleted=draw(st.booleans()) and path == "/dev/zero", kind="file",
            )  # fmt: skip
        else:
            region = Region(at * P, (at + size) * P, perms)
        if draw(st.booleans()):
            region = region._replace(usage=used(draw(st.integers(0, size)) * P))
        regions.append(region)
        at += size + draw(st.integers(0, 2))
    return Maps(regions)


@st.composite
def related_maps(draw):
    """A listing, and another one made from it by moving, cutting and
    changing some of its regions."""
    before = draw(random_maps())
    after = []
    for region in before:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue
        if choice == 1 and region.size > P:
            cut = region.start + draw(st.integers(1, region.size // P - 1)) * P
            after.append(region._replace(end=cut))
            after.append(
                region._replace(start=cut, offset=region.offset + cut - region.start, perms="r--p")
            )
        elif choice == 2:
            after.append(region._replace(perms=draw(st.sampled_from(PERMS))))
        else:
            after.append(region)
    shift = draw(st.sampled_from([0, 0, 64 * P]))
    if shift:
        after = [r._replace(start=r.start + shift, end=r.end + shift) for r in after]
    return before, Maps(after)


MIRROR = {"grown": "shrunk", "shrunk": "grown", "split": "merged", "merged": "split"}


def mirrored(found):
    return tuple(sorted((MIRROR.get(word, word) for word in found), key=CHANGES.index))


def check_properties(before, after):
    result = memmaps.diff(before, after)
    check_accounting(result)
    again = memmaps.diff(before, after)
    assert again.changed == result.changed and again.to_text() == result.to_text()
    back = memmaps.diff(after, before)
    assert list(back.added) == list(result.removed)
    assert list(back.removed) == list(result.added)
    assert sorted((new, old) for old, new in result.changed) == sorted(back.changed)
    for old, new in result.changed:
        assert back.change(new, old) == mirrored(result.change(old, new))
    assert bool(result) == bool(result.changed or result.added or result.removed)
    assert not result or before != after
    for old, new in result.changed:
        # A pair not moved is of regions at the same place.
        if "moved" not in result.change(old, new):
            assert old.start < new.end and new.start < old.end, (old, new)
    result.to_text()


@settings(max_examples=150, deadline=None)
@given(random_maps(), random_maps())
def test_any_two_maps(before, after):
    check_properties(before, after)


@settings(max_examples=150, deadline=None)
@given(related_maps())
def test_maps_and_a_changed_copy(maps):
    check_properties(*maps)


@given(random_maps())
def test_a_map_against_itself(maps):
    result = memmaps.diff(maps, maps)
    assert not result and len(result.unchanged) == len(maps)
