"""The sequence a listing's Regions come in: each Region is made when first
asked for and then kept, and the sequence behaves as the tuple of them."""

from __future__ import annotations

import copy
import gc
import pickle
import sys
import threading

import pytest

import memmaps
from memmaps import Maps, Region


def text_of(count, named_every=3):
    """count regions with gaps between them; every named_every-th is named,
    the one after it starts where it ends (they share an int)."""
    lines = []
    address = 0x10000000
    for i in range(count):
        end = address + 0x1000
        if i % named_every == 0:
            prefix = f"{address:08x}-{end:08x} r--p {i:08x} 08:01 {1000 + i % 7} "
            lines.append(prefix.ljust(72) + f" /usr/lib/lib{i % 5}.so\n")
            address = end  # the next one follows without a gap
        else:
            lines.append(f"{address:08x}-{end:08x} rw-p 00000000 00:00 0 \n")
            address = end + 0x1000
    return "".join(lines)


@pytest.fixture
def listing():
    return memmaps.parse(text_of(300))._regions


def test_a_listing_is_not_a_tuple_but_equals_one(listing):
    assert type(listing).__name__ == "RegionList"
    whole = tuple(listing)
    assert len(listing) == len(whole) == 300
    assert listing == whole and whole == listing
    assert (listing != whole) is False
    assert listing != whole[:-1] and whole[:-1] != listing
    assert hash(listing) == hash(whole)
    assert listing == memmaps.parse(text_of(300))._regions
    assert listing != memmaps.parse(text_of(299))._regions
    assert listing != list(whole)  # as a tuple is never equal to a list


def test_the_same_index_gives_the_same_region(listing):
    first = listing[5]
    assert listing[5] is first
    assert listing[-1] is listing[299]
    assert listing[-300] is listing[0]
    for index in (300, -301, sys.maxsize, -sys.maxsize - 1):
        with pytest.raises(IndexError):
            listing[index]
    with pytest.raises(TypeError, match="integers or slices"):
        listing["1"]


def test_regions_that_touch_share_their_boundary(listing):
    # The slice makes region 1 before region 0: sharing works either way.
    later = listing[1:]
    for before, after in zip(listing[:-1], later, strict=True):
        if before.end == after.start:
            assert before.end is after.start
            break
    else:
        pytest.fail("the text has regions that touch")


@pytest.mark.parametrize(
    "cut",
    [
        slice(None),
        slice(3, 40),
        slice(-10, None),
        slice(None, None, 7),
        slice(250, 5, -3),
        slice(1000, 2000),
        slice(None, None, -1),
    ],
)
def test_slices_are_tuples_of_the_same_regions(listing, cut):
    whole = tuple(listing)
    part = listing[cut]
    assert type(part) is tuple
    assert part == whole[cut]
    assert all(a is b for a, b in zip(part, whole[cut], strict=True))


def test_in_and_iteration(listing):
    whole = tuple(listing)
    assert whole[17] in listing
    assert whole[17]._replace(perms="rwxp") not in listing
    assert 17 not in listing
    assert list(iter(listing)) == list(whole)
    assert [r.start for r in listing] == sorted(r.start for r in whole)


def test_regions_are_made_on_first_access():
    text = text_of(20_000)
    gc.collect()
    before = sys.getallocatedblocks()
    maps = memmaps.parse(text)
    maps.at(maps[10_000].start + 5)
    few = sys.getallocatedblocks() - before
    tuple(maps)
    every = sys.getallocatedblocks() - before
    # Each Region is at least one block and its end (an int past 256)
    # another: the listing alone made few of them.
    assert few < 1_000, few
    assert every > 2 * 20_000 - few, every


def test_pickles_and_copies_as_a_tuple(listing):
    assert pickle.loads(pickle.dumps(listing)) == tuple(listing)
    assert type(pickle.loads(pickle.dumps(listing))) is tuple
    maps = Maps._trusted(listing, 4242, None)
    for again in (pickle.loads(pickle.dumps(maps)), copy.copy(maps), copy.deepcopy(maps)):
        assert again == maps and again.pid == 4242
        assert list(again) == list(maps)


def test_a_maps_of_a_listing_behaves_as_one_of_a_tuple(listing):
    lazy = Maps._trusted(listing, None, None)
    plain = Maps(tuple(listing))
    assert lazy == plain and hash(lazy) == hash(plain)
    assert lazy.filter("r") == plain.filter("r")
    assert lazy[2:9] == plain[2:9]
    assert lazy.at(listing[42].start) is listing[42]
    assert lazy.to_proc_maps() == plain.to_proc_maps()


def test_cannot_be_made_from_python(listing):
    with pytest.raises(TypeError):
        type(listing)()


def test_threads_that_make_the_same_regions_see_one_object_each():
    maps = memmaps.parse(text_of(30_000))
    seen: list[list[Region]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def walk(out, backwards):
        start.wait()
        # Half of them go backwards, so the threads meet in the middle.
        indices = range(len(maps) - 1, -1, -1) if backwards else range(len(maps))
        out.extend(maps[i] for i in indices)

    threads = [threading.Thread(target=walk, args=(seen[i], i % 2 == 1)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    by_start = {region.start: region for region in maps}
    for out in seen:
        assert len(out) == len(maps)
        assert all(by_start[region.start] is region for region in out)


def test_a_thread_let_in_while_a_region_is_made_may_make_all_the_rest():
    """The collector can run inside the making of a Region (Python 3.11
    collects at the allocation that crosses the threshold), and its
    callbacks or finalizers can let another thread in.  That thread makes
    every other Region, the one in the making too: the listing must keep
    its builder until the first thread is done with it (the sanitizer run
    catches a use after free)."""
    maps = memmaps.parse(text_of(3000))
    let_in, done = threading.Event(), threading.Event()
    main = threading.get_ident()
    met = []

    def collecting(phase, info):
        if phase == "start" and threading.get_ident() == main and not let_in.is_set():
            let_in.set()
            met.append(done.wait(10))

    def make_the_rest():
        let_in.wait(10)
        tuple(maps)
        done.set()

    other = threading.Thread(target=make_the_rest)
    other.start()
    threshold = gc.get_threshold()
    gc.callbacks.append(collecting)
    gc.set_threshold(1)
    try:
        first = maps[0]
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(collecting)
        let_in.set()
        other.join()
    if met != [True]:
        pytest.skip(
            "this interpreter did not collect inside the making of a Region "
            "(3.12 and later collect between bytecodes)"
        )
    assert maps[0] is first
    assert list(maps) == list(memmaps.parse(text_of(3000)))
