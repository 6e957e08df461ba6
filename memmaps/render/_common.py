"""What the HTML table, the terminal display and the picture share: the
colours of kinds, permissions and categories, and how names and figures are
shown to people."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from operator import attrgetter
from typing import NamedTuple

from ..maps import _human_size, _printable
from ..region import Region
from ..usage import Usage

#: One colour per kind.  Mid tones (Tableau's palette, mostly), so that a
#: swatch reads on a white page and on a dark one alike; red is kept for
#: writable-and-executable memory.
KIND_COLORS: dict[str, str] = {
    "file": "#4e79a7",
    "anon": "#59a14f",
    "heap": "#f28e2b",
    "stack": "#b07aa1",
    "vdso": "#76b7b2",
    "vvar": "#9c755f",
    "vsyscall": "#bab0ac",
    "shmem": "#edc948",
    "memfd": "#ff9da7",
    "sysv": "#d4a017",
    "hugetlb": "#8cd17d",
    "guard": "#8f8f8f",
    "special": "#86bcb6",
}
#: A kind this version does not know (a Region built by hand).
OTHER_COLOR = "#c7c7c7"

#: By the first three letters of perms.  Code, read-only data and data are
#: the three a person looks for; memory both writable and executable is red.
PERMS_COLORS: dict[str, str] = {
    "r-x": "#f28e2b",
    "r--": "#4e79a7",
    "rw-": "#59a14f",
    "rwx": "#d62728",
    "---": "#8f8f8f",
    "--x": "#e8a25c",
    "-w-": "#9ccf8f",
    "-wx": "#ff6f61",
}
PERMS_ORDER = ("r-x", "r--", "rw-", "rwx", "--x", "-w-", "-wx", "---")

#: The categories of Maps.summary(), in their order, with their colours.
CATEGORY_COLORS: dict[str, str] = {
    "image": "#4e79a7",
    "mapped file": "#76b7b2",
    "shared memory": "#edc948",
    "heap": "#f28e2b",
    "stack": "#b07aa1",
    "private": "#59a14f",
    "guard": "#8f8f8f",
    "kernel": "#9c755f",
    "reserved": "#bab0ac",
    "unusable": "#ff9da7",
}

WX_COLOR = "#d62728"
ADDED_COLOR = "#2ca02c"
REMOVED_COLOR = "#d62728"
CHANGED_COLOR = "#e69f00"


def kind_color(kind: str) -> str:
    return KIND_COLORS.get(kind, OTHER_COLOR)


def perms_color(perms: str) -> str:
    return PERMS_COLORS.get(perms[:3], OTHER_COLOR)


def is_wx(region: Region) -> bool:
    """Writable and executable at once: what W^X policies forbid, and what
    an exploit or a JIT wants."""
    return region.perms[1:3] == "wx"


def human(size: int | None) -> str:
    return "-" if size is None else _human_size(size)


def shown(text: str) -> str:
    """A name as text a person can read and that every encoder takes:
    control characters and undecodable bytes spelled out (``\\n``,
    ``\\xff``), so a name cannot break a line, a table or UTF-8."""
    return _printable(text)


def shown_html(text: str) -> str:
    """A name safe inside HTML or SVG text and attribute values."""
    return escape(_printable(text), quote=True)


def display_name(region: Region) -> str:
    """The name a person reads, " (deleted)" added; unescaped."""
    name = "" if region.path is None else _printable(region.path)
    return name + " (deleted)" if region.deleted else name


# A Windows path: a drive letter (C:\\...) or a UNC or device path (\\\\...).
_WINDOWS_PATH = re.compile(r"[A-Za-z]:\\|\\\\")


def _separator(path: str) -> str | None:
    """The directory separator of a path, None for a name that is none."""
    if path.startswith("/"):
        return "/"
    if _WINDOWS_PATH.match(path):
        return "\\"
    return None


def basename(path: str) -> str:
    """The file name of a path (POSIX or Windows); a bracketed or other
    name as it is."""
    separator = _separator(path)
    if separator is not None:
        tail = path.rstrip(separator).rsplit(separator, 1)[-1]
        return tail or path
    return path


def shorten(text: str, limit: int) -> str:
    """text cut to at most limit characters for a narrow column.  A path
    keeps its end (the file name is what tells libraries apart) and cuts at
    a directory boundary where it can; any other name keeps both ends."""
    if len(text) <= limit:
        return text
    if limit < 2:
        return text[:limit]
    separator = _separator(text) or "/"
    slash = text.rfind(separator)
    if _separator(text) is not None and slash >= 0 and len(text) - slash < limit:
        tail = text[-(limit - 1) :]
        cut = tail.find(separator)
        if cut > 0:
            tail = tail[cut:]
        return "\u2026" + tail
    head = (limit - 1) // 2
    return text[:head] + "\u2026" + text[len(text) - (limit - 1 - head) :]


def hex_range(start: int, end: int) -> str:
    return f"{start:#x}\u2013{end:#x}"


def percent(part: int, whole: int) -> str:
    if whole <= 0:
        return "-"
    share = 100 * part / whole
    if 0 < share < 1:
        return "<1%"
    return f"{share:.0f}%"


_SUMMED = (
    "rss",
    "pss",
    "shared_dirty",
    "private_clean",
    "private_dirty",
    "swap",
    "shared_hugetlb",
    "private_hugetlb",
)
_GETTERS = {name: attrgetter(name) for name in _SUMMED}


class Totals(NamedTuple):
    """The figures the displays show, added up over many regions; None
    where a region lacks the figure (or has no usage at all)."""

    resident: int | None
    rss: int | None
    pss: int | None
    uss: int | None
    dirty: int | None
    swap: int | None


def totals(usages: Sequence[Usage | None]) -> Totals:
    """Totals of many Usage at C speed (Usage.__add__ adds every figure, a
    dict each time: too slow for a display of 60 000 regions)."""
    if not usages or None in usages:
        return Totals(None, None, None, None, None, None)
    columns = {name: list(map(get, usages)) for name, get in _GETTERS.items()}

    def total(name: str) -> int | None:
        column = columns[name]
        return None if None in column else sum(column)

    def optional(name: str) -> int:
        return sum(filter(None, columns[name]))

    rss, private_clean, private_dirty = total("rss"), total("private_clean"), total("private_dirty")
    shared_dirty = total("shared_dirty")
    hugetlb_private = optional("private_hugetlb")
    return Totals(
        resident=None if rss is None else rss + optional("shared_hugetlb") + hugetlb_private,
        rss=rss,
        pss=total("pss"),
        uss=(
            None
            if private_clean is None or private_dirty is None
            else private_clean + private_dirty + hugetlb_private
        ),
        dirty=None
        if shared_dirty is None or private_dirty is None
        else shared_dirty + private_dirty,
        swap=total("swap"),
    )
