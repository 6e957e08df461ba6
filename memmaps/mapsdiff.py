"""diff(): what changed between two listings of an address space.

Regions are matched by what they are, not only by where they are:

* memory backed by a file (a region with an inode, or a file region named
  after an image) by the file ``(dev_major, dev_minor, inode, path)`` and
  the part of it mapped, so that a library unloaded and loaded elsewhere is
  one change that says "moved";
* anonymous memory (everything else) by its addresses.

Every byte of both listings is accounted for: each region of ``before`` is
in ``removed``, in ``unchanged`` or on the left of one or more ``changed``
pairs, and each region of ``after`` likewise on the other side.  The rules,
applied in this order to the regions not matched yet, are in docs/api.md
("Comparing maps").
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from heapq import merge
from itertools import compress
from operator import eq, itemgetter, not_
from typing import Any, Final, NamedTuple

from .maps import Maps, _count, _human_size, _name
from .region import Region
from .usage import _COUNTED, Usage

#: The words of change(), in the order they are given.
CHANGES = ("moved", "split", "merged", "grown", "shrunk", "perms", "sharing", "backing", "usage")

# A pair of Regions, before and after.
Pair = tuple[Region, Region]

_start_of = itemgetter(0)

# Region's fields by position, for the loops that see every region (the
# asserts keep them Region's).
_START: Final = 0
_END: Final = 1
_PERMS: Final = 2
_OFFSET: Final = 3
_DEV_MAJOR: Final = 4
_INODE: Final = 6
_PATH: Final = 7
_DELETED: Final = 8
_KIND: Final = 9
_MAX_PERMS: Final = 11
_SHARE_MODE: Final = 12
_TAG: Final = 13
assert [Region._fields.index(name) for name in ("start", "end", "perms", "offset")] == [0, 1, 2, 3]
assert Region._fields[_DEV_MAJOR : _DELETED + 1] == (
    "dev_major", "dev_minor", "inode", "path", "deleted"
)  # fmt: skip
assert Region._fields[_KIND] == "kind"
assert Region._fields[_TAG:] == ("tag", "detail", "allocation_base")
assert Region._fields[_MAX_PERMS : _SHARE_MODE + 1] == ("max_perms", "share_mode")


class _Frame(NamedTuple):
    """How a change lines its two sides up: both in file offsets, or the
    before side at its addresses and the after side at its addresses minus
    ``after_shift`` (0 for a change in place)."""

    moved: bool
    by_offset: bool  # compare file offsets instead of addresses
    after_shift: int  # for anonymous memory that moved with its image


_IN_PLACE = _Frame(False, False, 0)
# File memory that moved is compared in file offsets (a region named after
# an image without an inode has offset 0: its size is compared).
_MOVED_FILE = _Frame(True, True, 0)


class _Change:
    """One change: the regions of before and after that it joins, the pairs
    among them, and the words of each pair."""

    __slots__ = ("afters", "befores", "frame", "pairs", "words")

    def __init__(
        self, befores: list[Region], afters: list[Region], pairs: list[Pair], frame: _Frame
    ) -> None:
        self.befores = befores
        self.afters = afters
        self.pairs = pairs
        self.frame = frame
        self.words: dict[Pair, tuple[str, ...]] = {}

    @property
    def start(self) -> int:
        """Where the change is shown: the lowest address of its after side."""
        return self.afters[0].start

    @property
    def shape(self) -> str:
        if len(self.befores) == 1 and len(self.afters) == 1:
            return "pair"
        if len(self.befores) == 1:
            return "split"
        if len(self.afters) == 1:
            return "merged"
        return "regrouped"


class MapsDiff:
    """What changed between two :class:`Maps`: ``diff(before, after)``.

    ``added`` and ``removed`` are Maps; ``changed`` is a list of
    ``(before, after)`` Region pairs in address order (of the after side),
    and ``change(before, after)`` gives the words that say how each pair
    differs.  A region split in several (an ``mprotect()`` of its middle)
    is on the left of one pair per piece; regions merged into one are each
    on the left of a pair with the merged region.  ``unchanged`` holds the
    pairs that did not
    change (in every field, or only in figures no word covers, such as
    ``referenced`` or ``pss``).  ``bool()`` is False when nothing changed.
    """

    __slots__ = (
        "_changed",
        "_changes",
        "_equal",
        "_quiet",
        "_unchanged",
        "_words",
        "added",
        "after",
        "before",
        "removed",
    )

    def __init__(
        self,
        before: Maps,
        after: Maps,
        added: Maps,
        removed: Maps,
        changes: list[_Change],
        equal: tuple[Sequence[Region], Sequence[Region], Sequence[bool]],
        quiet: list[Pair],
    ) -> None:
        self.before = before
        self.after = after
        self.added = added
        self.removed = removed
        self._changes = changes
        self._words: dict[Pair, tuple[str, ...]] = {}
        for item in changes:
            self._words.update(item.words)
        self._changed: list[Pair] | None = None
        self._equal = equal
        self._quiet = quiet
        self._unchanged: list[Pair] | None = None

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self._changes)

    @property
    def changed(self) -> list[Pair]:
        """The ``(before, after)`` pairs that changed, in address order of
        the after side (then of the before side)."""
        if self._changed is None:
            self._changed = sorted(self._words, key=_pair_order)
        return self._changed

    @property
    def unchanged(self) -> list[Pair]:
        """The pairs of regions that did not change, in address order: equal
        in every field, or different only in figures no word of change()
        covers.  Made when first asked for: most of a big map is here."""
        if self._unchanged is None:
            olds, twins, same = self._equal
            equal = list(zip(compress(olds, same), compress(twins, same), strict=True))
            quiet = sorted(self._quiet, key=_pair_order)
            self._unchanged = list(merge(equal, quiet, key=_pair_order)) if quiet else equal
        return self._unchanged

    def __repr__(self) -> str:
        return f"<MapsDiff: {self._counts()}, {_signed_size(self.mapped_delta)} mapped>"

    def change(self, before: Region, after: Region) -> tuple[str, ...]:
        """The words that say how ``after`` differs from ``before``, in the
        order of :data:`CHANGES`: ``moved``, ``split``, ``merged``,
        ``grown``, ``shrunk``, ``perms``, ``sharing``, ``backing``,
        ``usage``.  For a pair of ``changed`` they are the words the diff
        found; for any other two regions, the words of that pair taken on
        its own (``()`` when they do not differ)."""
        for region, name in ((before, "before"), (after, "after")):
            if not isinstance(region, Region):
                raise TypeError(f"{name} must be a Region, not {type(region).__name__}")
        words = self._words.get((before, after))
        if words is not None:
            return words
        # As diff() would see the two alone: the same file elsewhere moved.
        frame = _IN_PLACE
        key = _identity(before)
        if key is not None and key == _identity(after):
            overlap = before.start < after.end and after.start < before.end
            if not overlap or (before.inode and _bias(before) != _bias(after)):
                frame = _MOVED_FILE
        return _pair_words(before, after, frame, split=False, merged=False, usage=None)

    @property
    def mapped_delta(self) -> int:
        """Bytes mapped after minus bytes mapped before."""
        return _mapped(self.after) - _mapped(self.before)

    @property
    def usage_delta(self) -> Usage | None:
        """The whole map's usage after minus before, figure by figure (None
        where either side lacks the figure; negative where it fell), or None
        unless both listings were read with usage."""
        if not self.before or not self.after:
            return None
        return _subtract(self.after.total(), self.before.total())

    @staticmethod
    def delta(before: Region, after: Region) -> Usage | None:
        """``after.usage`` minus ``before.usage``, figure by figure, or None
        unless both regions have usage.  For the pieces of a split or a
        merge, this compares a piece with the whole: to_text() shows the
        sums of the pieces instead."""
        return _subtract(after.usage, before.usage)

    def to_text(self) -> str:
        """A report for people: one line per region added (``+``) or
        removed (``-``) and per change (``~``, with what changed and the
        sizes, and the pieces of a split or a merge below it), in address
        order, then a line with the counts and the change in mapped size
        (and in resident, dirty and swapped memory when both sides have
        usage)."""
        return _text(self)

    def _repr_html_(self) -> str:
        from .render.html import diff_html

        return diff_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from .render.pretty import text_pretty

        text_pretty(self, p, cycle)

    def _counts(self) -> str:
        return f"{len(self.added)} added, {len(self.removed)} removed, {len(self._changes)} changed"


def diff(before: Maps, after: Maps) -> MapsDiff:
    """What changed from ``before`` to ``after`` (two listings of one
    process, or of two runs of a program): added, removed and changed
    regions, matched by identity (see the module's docstring)."""
    for maps, name in ((before, "before"), (after, "after")):
        if not isinstance(maps, Maps):
            raise TypeError(f"{name} must be a Maps, not {type(maps).__name__}")
    # Matching makes a few objects per region that changed and frees none
    # until it returns: the cyclic collector, which would walk every live
    # object again and again meanwhile (more than half of the time of a
    # 60 000-region diff), has nothing to find.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Matcher(before, after).run()
    finally:
        if collecting:
            gc.enable()


# --------------------------------------------------------------------------
# Identity


def _identity(region: Region) -> tuple[int, int, int, str | None] | None:
    """The file behind a region, or None for anonymous memory."""
    if region.inode or (region.path is not None and region.kind == "file"):
        return (region.dev_major, region.dev_minor, region.inode, region.path)
    return None


def _bias(region: Region) -> int:
    """Address minus file offset: equal for every piece of one mapping of a
    file, however it was split, merged or grown in place."""
    return region.start - region.offset


def _pair_order(pair: Pair) -> tuple[int, int]:
    return (pair[1][_START], pair[0][_START])


def _offset_order(region: Region) -> tuple[int, int]:
    return (region[_OFFSET], region[_START])


# --------------------------------------------------------------------------
# Matching


class _Matcher:
    def __init__(self, before: Maps, after: Maps) -> None:
        self.before = before
        self.after = after
        self.changes: list[_Change] = []
        # Regions equal in every field: before, its twins in after, and
        # which of them are equal.
        self.equal: tuple[Sequence[Region], Sequence[Region], Sequence[bool]] = ((), (), ())
        self.quiet: list[Pair] = []  # different only in figures no word covers
        self.matched: set[int] = set()  # id() of every region placed so far
        self.key_of: dict[int, Any] = {}  # id() of a file region: its file

    def run(self) -> MapsDiff:
        before, after = self.before, self.after
        # 1. Regions equal in every field, found at C speed: equal regions
        # start at the same address.
        olds = before._regions
        news = after._regions
        starts_before = list(map(_start_of, olds))
        starts_after = list(map(_start_of, news))
        if starts_before == starts_after:
            # The common case of a process that did not map or unmap.
            twins: Sequence[Any] = news
            same = list(map(eq, olds, news))
            right = list(compress(news, map(not_, same)))
        else:
            twins = list(map(dict(zip(starts_after, news, strict=True)).get, starts_before))
            same = list(map(eq, olds, twins))
            back = map(eq, news, map(dict(zip(starts_before, olds, strict=True)).get, starts_after))
            right = list(compress(news, map(not_, back)))
        self.equal = (olds, twins, same)
        left = list(compress(olds, map(not_, same)))
        if not left and not right:
            return self._result([], [])

        keyed_left, anon_left = self._split_by_identity(left)
        keyed_right, anon_right = self._split_by_identity(right)
        # 2. File memory in place: the same mapping of the same file,
        # overlapping (split, merged, grown, shrunk, protection changed).
        self._in_place(self._by_mapping(keyed_left), self._by_mapping(keyed_right))
        # 3. File memory moved: the same part of the same file elsewhere.
        moved = self._moved(keyed_left, keyed_right)
        # 4. The anonymous memory right after a moved file mapping (an
        # image's .bss) moved with it.
        self._moved_with_image(moved, anon_left, anon_right)
        # 5. Anonymous memory in place: overlapping addresses.
        self._in_place({None: self._unmatched(anon_left)}, {None: self._unmatched(anon_right)})
        # 6. Something else at exactly the same addresses: the backing
        # changed (another file, a file instead of anonymous memory ...).
        rest_left = self._unmatched(left)
        rest_right = {(region.start, region.end): region for region in self._unmatched(right)}
        for old in rest_left:
            new = rest_right.get((old.start, old.end))
            if new is not None:
                self._add_pair(old, new, _IN_PLACE)
        return self._result(self._unmatched(left), self._unmatched(right))

    def _result(self, removed: list[Region], added: list[Region]) -> MapsDiff:
        return MapsDiff(
            self.before,
            self.after,
            Maps._trusted(tuple(added), self.after.pid, self.after.partial),
            Maps._trusted(tuple(removed), self.before.pid, self.before.partial),
            sorted(self.changes, key=lambda item: (item.start, item.befores[0].start)),
            self.equal,
            self.quiet,
        )

    def _split_by_identity(self, regions: list[Region]) -> tuple[list[Region], list[Region]]:
        """File regions and anonymous ones; the file of each is noted."""
        files: list[Region] = []
        anonymous: list[Region] = []
        key_of = self.key_of
        for region in regions:
            # _identity(), inline: this loop sees every region that changed.
            if region[_INODE] or (region[_PATH] is not None and region[_KIND] == "file"):
                key_of[id(region)] = region[_DEV_MAJOR:_DELETED]
                files.append(region)
            else:
                anonymous.append(region)
        return files, anonymous

    def _by_mapping(self, regions: list[Region]) -> dict[Any, list[Region]]:
        """File regions grouped by file and bias (the pieces one mapping of
        a file can be made of), in address order."""
        groups: dict[Any, list[Region]] = {}
        key_of = self.key_of
        for region in regions:
            key = key_of[id(region)]
            group = (key, region.start - region.offset) if region.inode else (key, None)
            groups.setdefault(group, []).append(region)
        return groups

    def _unmatched(self, regions: Iterable[Region]) -> list[Region]:
        matched = self.matched
        return [region for region in regions if id(region) not in matched]

    def _add(
        self, befores: list[Region], afters: list[Region], pairs: list[Pair], frame: _Frame
    ) -> None:
        for region in befores:
            self.matched.add(id(region))
        for region in afters:
            self.matched.add(id(region))
        item = _Change(befores, afters, pairs, frame)
        _decide(item)
        if item.words:
            self.changes.append(item)
        # Pairs with no word are unchanged (their regions differ only in
        # figures no word covers).
        for pair in item.pairs:
            if pair not in item.words:
                self.quiet.append(pair)

    def _add_pair(self, old: Region, new: Region, frame: _Frame) -> None:
        """_add() of a change of one region into one."""
        self.matched.add(id(old))
        self.matched.add(id(new))
        pair = (old, new)
        words = _pair_words(old, new, frame, split=False, merged=False, usage=None)
        if words:
            item = _Change([old], [new], [pair], frame)
            item.words[pair] = words
            self.changes.append(item)
        else:
            self.quiet.append(pair)

    def _in_place(self, lefts: dict[Any, list[Region]], rights: dict[Any, list[Region]]) -> None:
        """Joins overlapping regions of each group, in address order: each
        run of regions linked by overlaps is one change."""
        for group, left in lefts.items():
            right = rights.get(group)
            if not right:
                continue
            for befores, afters, pairs in _overlap_runs(left, right):
                self._add(befores, afters, pairs, _IN_PLACE)

    def _moved(self, left: list[Region], right: list[Region]) -> list[Pair]:
        """Pairs the file regions still unmatched by file and offset: first
        those of the same file, offset and size (the i-th before with the
        i-th after, in address order), then those of the same file whose
        file ranges overlap."""
        key_of = self.key_of
        olds_by: dict[Any, list[Region]] = {}
        news_by: dict[Any, list[Region]] = {}
        for regions, by in ((left, olds_by), (right, news_by)):
            for region in self._unmatched(regions):
                key = (key_of[id(region)], region[_OFFSET], region[_END] - region[_START])
                by.setdefault(key, []).append(region)
        found: list[Pair] = []
        rest: dict[Any, tuple[list[Region], list[Region]]] = {}
        for exact, news in news_by.items():
            if exact not in olds_by:
                rest.setdefault(exact[0], ([], []))[1].extend(news)
        for exact, olds in olds_by.items():
            key = exact[0]
            news = news_by.get(exact, [])
            if len(olds) == len(news):
                found.extend(zip(olds, news, strict=True))
                continue
            found.extend(zip(olds, news, strict=False))
            if len(olds) > len(news):
                rest.setdefault(key, ([], []))[0].extend(olds[len(news) :])
            else:
                rest.setdefault(key, ([], []))[1].extend(news[len(olds) :])
        for olds, news in rest.values():
            if not olds or not news:
                continue
            olds.sort(key=_offset_order)
            news.sort(key=_offset_order)
            i = j = 0
            while i < len(olds) and j < len(news):
                old, new = olds[i], news[j]
                if old.offset + old.size <= new.offset:
                    i += 1
                elif new.offset + new.size <= old.offset:
                    j += 1
                else:
                    found.append((old, new))
                    i += 1
                    j += 1
        for old, new in found:
            self._add_pair(old, new, _MOVED_FILE)
        return found

    def _moved_with_image(self, moved: list[Pair], left: list[Region], right: list[Region]) -> None:
        if not moved:
            return
        old_at = {region.start: region for region in left}
        new_at = {region.start: region for region in right}
        matched = self.matched
        for old, new in moved:
            follower = old_at.get(old.end)
            successor = new_at.get(new.end)
            if (
                follower is None
                or successor is None
                or id(follower) in matched
                or id(successor) in matched
            ):
                continue
            # An image's .bss moves whole; a follower that differs in size
            # is memory the kernel merged with it, or something else.
            shift = new.start - old.start
            if successor.start - follower.start == shift and successor.size == follower.size:
                self._add_pair(follower, successor, _Frame(True, False, shift))


def _overlap_runs(
    left: Sequence[Region], right: Sequence[Region]
) -> Iterable[tuple[list[Region], list[Region], list[Pair]]]:
    """The runs of overlapping regions of two address-ordered lists of
    regions that do not overlap among themselves: each run is the regions
    on both sides linked by overlaps, and the overlapping pairs."""
    i = j = 0
    befores: list[Region] = []
    afters: list[Region] = []
    pairs: list[Pair] = []
    while i < len(left) and j < len(right):
        old, new = left[i], right[j]
        if old.end <= new.start:
            i += 1
            continue
        if new.end <= old.start:
            j += 1
            continue
        # The overlaps come in address order, so a pair belongs to the run
        # being built exactly when it shares a region with its last pair.
        if pairs and pairs[-1][0] is not old and pairs[-1][1] is not new:
            yield befores, afters, pairs
            befores, afters, pairs = [], [], []
        if not befores or befores[-1] is not old:
            befores.append(old)
        if not afters or afters[-1] is not new:
            afters.append(new)
        pairs.append((old, new))
        if old.end <= new.end:
            i += 1
        else:
            j += 1
    if pairs:
        yield befores, afters, pairs


# --------------------------------------------------------------------------
# What changed


def _span(region: Region, frame: _Frame, after: bool) -> tuple[int, int]:
    """Where a region lies in the frame its change is compared in."""
    if frame.by_offset:
        return region.offset, region.offset + region.size
    shift = frame.after_shift if after else 0
    return region.start - shift, region.end - shift


def _covered(spans: Sequence[tuple[int, int]], others: Sequence[tuple[int, int]]) -> list[int]:
    """For each of the sorted, disjoint spans, how many of its bytes the
    sorted, disjoint others cover."""
    out = []
    j = 0
    for lo, hi in spans:
        while j < len(others) and others[j][1] <= lo:
            j += 1
        total = 0
        k = j
        while k < len(others) and others[k][0] < hi:
            total += min(hi, others[k][1]) - max(lo, others[k][0])
            k += 1
        out.append(total)
    return out


def _decide(item: _Change) -> None:
    frame = item.frame
    if len(item.pairs) == 1:
        old, fresh = item.pairs[0]
        words = _pair_words(old, fresh, frame, split=False, merged=False, usage=None)
        if words:
            item.words[(old, fresh)] = words
        return
    befores = [_span(region, frame, False) for region in item.befores]
    afters = [_span(region, frame, True) for region in item.afters]
    gone = {
        id(region): covered < region.size
        for region, covered in zip(item.befores, _covered(befores, afters), strict=True)
    }
    new = {
        id(region): covered < region.size
        for region, covered in zip(item.afters, _covered(afters, befores), strict=True)
    }
    uses: dict[int, int] = {}
    for old, fresh in item.pairs:
        uses[id(old)] = uses.get(id(old), 0) + 1
        uses[id(fresh)] = uses.get(id(fresh), 0) + 1
    usage = _usage_changed(item.befores, item.afters)
    for old, fresh in item.pairs:
        words = _pair_words(
            old,
            fresh,
            frame,
            split=uses[id(old)] > 1,
            merged=uses[id(fresh)] > 1,
            usage=usage,
            grown=new[id(fresh)],
            shrunk=gone[id(old)],
        )
        if words:
            item.words[(old, fresh)] = words


def _pair_words(
    old: Region,
    new: Region,
    frame: _Frame,
    *,
    split: bool,
    merged: bool,
    usage: bool | None,
    grown: bool | None = None,
    shrunk: bool | None = None,
) -> tuple[str, ...]:
    if grown is None or shrunk is None:
        if frame.by_offset:
            old_lo, new_lo = old[_OFFSET], new[_OFFSET]
            old_hi = old_lo + old[_END] - old[_START]
            new_hi = new_lo + new[_END] - new[_START]
        else:
            shift = frame.after_shift
            old_lo, old_hi = old[_START], old[_END]
            new_lo, new_hi = new[_START] - shift, new[_END] - shift
        grown = new_lo < old_lo or new_hi > old_hi
        shrunk = old_lo < new_lo or old_hi > new_hi
    if usage is None:
        usage = (
            old.usage is not None
            and new.usage is not None
            and _figures(old.usage) != _figures(new.usage)
        )
    words = []
    if frame.moved:
        words.append("moved")
    if split:
        words.append("split")
    if merged:
        words.append("merged")
    if grown:
        words.append("grown")
    if shrunk:
        words.append("shrunk")
    # By position: this runs for every pair.
    if old[_PERMS] != new[_PERMS] or old[_MAX_PERMS] != new[_MAX_PERMS]:
        words.append("perms")
    if old[_SHARE_MODE] != new[_SHARE_MODE]:
        words.append("sharing")
    if old[_DEV_MAJOR : _DELETED + 1] != new[_DEV_MAJOR : _DELETED + 1] or old[_TAG:] != new[_TAG:]:
        words.append("backing")
    if usage:
        words.append("usage")
    return tuple(words)


class _Figures(NamedTuple):
    """The usage figures a change is judged by (vmmap -d's columns)."""

    resident: int | None
    dirty: int | None
    swap: int | None


def _figures(usage: Usage | None) -> _Figures | None:
    if usage is None:
        return None
    dirty = (
        None
        if usage.shared_dirty is None or usage.private_dirty is None
        else usage.shared_dirty + usage.private_dirty
    )
    return _Figures(usage.resident, dirty, usage.swap)


def _sum_figures(regions: Sequence[Region]) -> _Figures | None:
    figures: list[_Figures] = []
    for region in regions:
        item = _figures(region.usage)
        if item is None:
            return None
        figures.append(item)
    if not figures:
        return None
    sums: list[int | None] = []
    for index in range(len(_Figures._fields)):
        values = [item[index] for item in figures]
        sums.append(None if None in values else sum(value or 0 for value in values))
    return _Figures(*sums)


def _usage_changed(befores: Sequence[Region], afters: Sequence[Region]) -> bool:
    old, new = _sum_figures(befores), _sum_figures(afters)
    return old is not None and new is not None and old != new


def _subtract(after: Usage | None, before: Usage | None) -> Usage | None:
    if after is None or before is None:
        return None
    values: dict[str, Any] = {}
    for name in _COUNTED:
        new, old = getattr(after, name), getattr(before, name)
        values[name] = None if new is None or old is None else new - old
    return Usage(**values)


def _mapped(maps: Maps) -> int:
    return sum(region.end - region.start for region in maps)


# --------------------------------------------------------------------------
# The report


def _signed_size(size: int) -> str:
    if size == 0:
        return "+0B"
    return ("+" if size > 0 else "-") + _human_size(abs(size))


def _text(result: MapsDiff) -> str:
    before, after = result.before, result.after
    if not result:
        return f"no changes: {_count(len(after), 'region')}, {_human_size(_mapped(after))} mapped\n"
    everything = [*result.added, *result.removed]
    for item in result._changes:
        everything.extend(item.befores)
        everything.extend(item.afters)
    width = max([8, *(len(f"{region.end:x}") for region in everything)])
    entries: list[tuple[int, int, list[str]]] = []
    for region in result.added:
        entries.append((region.start, 0, ["+ " + _line(region, width) + _usage_note(region)]))
    for region in result.removed:
        entries.append((region.start, 1, ["- " + _line(region, width) + _usage_note(region)]))
    for item in result._changes:
        entries.append((item.start, 2, _change_lines(item, width)))
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    lines = [line for entry in entries for line in entry[2]]
    summary = (
        f"{result._counts()}: {len(before)} -> {_count(len(after), 'region')}, "
        f"{_human_size(_mapped(before))} -> {_human_size(_mapped(after))} mapped "
        f"({_signed_size(result.mapped_delta)})"
    )
    old_total, new_total = _sum_figures(before), _sum_figures(after)
    if old_total is not None and new_total is not None:
        summary += "; " + _figure_changes(old_total, new_total, always=True)
    lines.append(summary)
    return "\n".join(lines) + "\n"


def _line(region: Region, width: int) -> str:
    name = _name(region)
    return (
        f"{region.start:0{width}x}-{region.end:0{width}x} {region.perms} "
        f"{_human_size(region.size):>5} {region.kind}" + (f" {name}" if name else "")
    )


def _usage_note(region: Region) -> str:
    figures = _figures(region.usage)
    if figures is None:
        return ""
    parts = [
        f"{label} {_human_size(value)}"
        for label, value in zip(("resident", "dirty", "swap"), figures, strict=True)
        if value
    ]
    return f" ({', '.join(parts)})" if parts else ""


def _figure_changes(old: _Figures, new: _Figures, always: bool = False) -> str:
    parts = []
    for label, was, now in zip(("resident", "dirty", "swap"), old, new, strict=True):
        if was is None or now is None or (was == now and not always):
            continue
        parts.append(
            f"{label} {_human_size(was)} -> {_human_size(now)} ({_signed_size(now - was)})"
        )
    return ", ".join(parts) if parts else "usage changed"


def _change_lines(item: _Change, width: int) -> list[str]:
    frame = item.frame
    shape = item.shape
    if shape == "pair":
        old, new = item.befores[0], item.afters[0]
        clauses = _clauses(old, new, item.words.get((old, new), ()), frame, width)
        return ["~ " + _line(new, width) + ": " + "; ".join(clauses)]
    totals = _group_clauses(item)
    if shape == "split":
        old = item.befores[0]
        head = f"~ {_line(old, width)}: split in {len(item.afters)}"
        body = []
        for new in item.afters:
            words = item.words.get((old, new), ())
            clauses = _piece_clauses(old, new, words)
            body.append("    " + _line(new, width) + (": " + "; ".join(clauses) if clauses else ""))
    elif shape == "merged":
        new = item.afters[0]
        head = f"~ {_line(new, width)}: merged from {len(item.befores)}"
        body = []
        for old in item.befores:
            words = item.words.get((old, new), ())
            clauses = _piece_clauses(old, new, words)
            body.append("    " + _line(old, width) + (": " + "; ".join(clauses) if clauses else ""))
    else:
        lo = min(item.befores[0].start, item.afters[0].start)
        hi = max(item.befores[-1].end, item.afters[-1].end)
        head = (
            f"~ {lo:0{width}x}-{hi:0{width}x}: {len(item.befores)} regions became "
            f"{len(item.afters)}"
        )
        body = ["  was " + _line(old, width) for old in item.befores]
        body += ["  now " + _line(new, width) for new in item.afters]
    return [head + ("; " + "; ".join(totals) if totals else ""), *body]


def _group_clauses(item: _Change) -> list[str]:
    """What a split or merge changed as a whole: bytes gained or lost, and
    the usage of all its pieces together."""
    clauses = []
    old_size = sum(region.size for region in item.befores)
    new_size = sum(region.size for region in item.afters)
    spans_old = [_span(region, item.frame, False) for region in item.befores]
    spans_new = [_span(region, item.frame, True) for region in item.afters]
    gained = new_size - sum(_covered(spans_new, spans_old))
    lost = old_size - sum(_covered(spans_old, spans_new))
    if gained:
        clauses.append(f"grown by {_human_size(gained)}")
    if lost:
        clauses.append(f"shrunk by {_human_size(lost)}")
    if gained or lost:
        clauses[-1] += f" ({_human_size(old_size)} -> {_human_size(new_size)})"
    old, new = _sum_figures(item.befores), _sum_figures(item.afters)
    if old is not None and new is not None and old != new:
        clauses.append(_figure_changes(old, new))
    return clauses


def _piece_clauses(old: Region, new: Region, words: tuple[str, ...]) -> list[str]:
    """What a piece of a split (or merge) has that the whole had not."""
    clauses = []
    if "perms" in words:
        clauses.append(_perms_clause(old, new))
    if "sharing" in words:
        clauses.append(f"share mode {old.share_mode or '-'} -> {new.share_mode or '-'}")
    if "backing" in words:
        clauses.append(_backing_clause(old, new))
    return clauses


def _clauses(
    old: Region, new: Region, words: tuple[str, ...], frame: _Frame, width: int
) -> list[str]:
    clauses = []
    if "moved" in words:
        shift = new.start - old.start
        clauses.append(
            f"moved from {old.start:0{width}x}-{old.end:0{width}x} "
            f"({'+' if shift > 0 else '-'}{abs(shift):#x})"
        )
    if "grown" in words or "shrunk" in words:
        clauses.append(_size_clause(old, new, frame))
    clauses.extend(_piece_clauses(old, new, words))
    if "usage" in words:
        figures_old, figures_new = _figures(old.usage), _figures(new.usage)
        assert figures_old is not None and figures_new is not None
        clauses.append(_figure_changes(figures_old, figures_new))
    return clauses


def _size_clause(old: Region, new: Region, frame: _Frame) -> str:
    old_lo, old_hi = _span(old, frame, False)
    new_lo, new_hi = _span(new, frame, True)
    parts = []
    for amount, where in ((old_lo - new_lo, "at the start"), (new_hi - old_hi, "at the end")):
        if amount > 0:
            parts.append(f"grown by {_human_size(amount)} {where}")
        elif amount < 0:
            parts.append(f"shrunk by {_human_size(-amount)} {where}")
    return " and ".join(parts) + f" ({_human_size(old.size)} -> {_human_size(new.size)})"


def _perms_clause(old: Region, new: Region) -> str:
    text = f"perms {old.perms} -> {new.perms}"
    if old.max_perms != new.max_perms:
        text += f", max {old.max_perms or '-'} -> {new.max_perms or '-'}"
    return text


def _describe(region: Region) -> str:
    if _identity(region) is None:
        name = _name(region)
        return f"anonymous {name}" if name else "anonymous"
    text = _name(region)
    if region.inode:
        text += f" (dev {region.dev_major:02x}:{region.dev_minor:02x}, inode {region.inode})"
    return text


def _base_text(base: int | None) -> str:
    return "-" if base is None else f"{base:#x}"


def _backing_clause(old: Region, new: Region) -> str:
    if (old.dev_major, old.dev_minor, old.inode, old.path) == (
        new.dev_major,
        new.dev_minor,
        new.inode,
        new.path,
    ):
        parts = []
        if old.deleted != new.deleted:
            parts.append("file deleted" if new.deleted else "file no longer deleted")
        if old.tag != new.tag:
            parts.append(f"tag {old.tag or '-'} -> {new.tag or '-'}")
        if old.detail != new.detail:
            parts.append(f"detail {old.detail or '-'} -> {new.detail or '-'}")
        if old.allocation_base != new.allocation_base:
            parts.append(
                f"allocation {_base_text(old.allocation_base)} -> {_base_text(new.allocation_base)}"
            )
        return ", ".join(parts)
    return f"backing {_describe(old)} -> {_describe(new)}"
