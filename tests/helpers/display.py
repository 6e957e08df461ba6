"""Helpers for the tests of the displays (memmaps/render/): maps to show,
and readers of what was shown that do not use memmaps' own code.

* ``many_regions(n)``: a parsed map of n regions (files, anonymous memory,
  guard pages, gaps), as big as a real process can get;
* ``hostile_maps()``: a map whose names hold markup, quotes, newlines and
  undecodable bytes;
* ``HtmlDocument``: the elements and text of an HTML string, built with the
  standard library's parser, with a check that every tag is closed;
* ``svg_tree(svg)``: the SVG parsed as XML, and ``shapes(tree)``, every
  ``<g>`` with a ``<title>`` and that title's text;
"""

from __future__ import annotations

import html.parser
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import memmaps
from memmaps import Maps, Region

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPO = Path(__file__).resolve().parents[2]
SVG_NS = "{http://www.w3.org/2000/svg}"

#: Names a process may give its regions; each must show as text.
HOSTILE_NAMES = (
    "/tmp/<script>alert(1)</script>.so",
    "/tmp/quote\"and'apostrophe&amp;.so",
    "/tmp/new\nline.so",
    os.fsdecode(b"/tmp/bad\xff\xfebytes.so"),
    "[anon:<img src=x onerror=alert(1)>]",
)


def maps_line(start, end, perms, offset=0, major=0, minor=0, inode=0, name=None) -> str:
    """One /proc/PID/maps line as the kernel prints it (name at column 73)."""
    prefix = f"{start:08x}-{end:08x} {perms} {offset:08x} {major:02x}:{minor:02x} {inode} "
    if name is None:
        return prefix + "\n"
    return prefix + " " * max(0, 72 - len(prefix)) + " " + name.replace("\n", "\\012") + "\n"


def many_regions(count: int) -> Maps:
    """count regions as a process with many mappings has them: most one page
    with a free page after it, some files, guard pages and a few big
    regions, then the stack and [vsyscall]."""
    lines = []
    base = 0x7F0000000000
    address = base
    for index in range(count - 2):
        pick = index % 10
        if pick == 0:
            size = 0x100000 if index % 1000 == 0 else 0x1000
            lines.append(maps_line(address, address + size, "rw-p"))
        elif pick < 4:
            size = 0x1000
            lines.append(
                maps_line(
                    address,
                    address + size,
                    "r--p",
                    index * 0x1000,
                    8,
                    1,
                    1000 + index % 7,
                    f"/usr/lib/data/file{index % 7}.bin",
                )
            )
        elif pick == 4:
            size = 0x1000
            lines.append(maps_line(address, address + size, "---p"))
        else:
            size = 0x1000
            perms = "r--p" if index % 2 else "rw-p"
            lines.append(maps_line(address, address + size, perms))
        address += size + 0x1000
    lines.append(maps_line(0x7FFFFFFDE000, 0x7FFFFFFFF000, "rw-p", name="[stack]"))
    lines.append(maps_line(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", name="[vsyscall]"))
    maps = memmaps.parse("".join(lines))
    assert len(maps) == count
    return maps


def hostile_maps() -> Maps:
    regions = []
    address = 0x7F0000000000
    for index, name in enumerate(HOSTILE_NAMES):
        regions.append(
            Region(
                address,
                address + 0x2000,
                "r--p",
                0,
                8,
                1,
                100 + index,
                name,
                False,
                "anon" if name.startswith("[") else "file",
            )
        )
        address += 0x3000
    regions.append(Region(address, address + 0x1000, "rwxp", kind="anon"))
    return Maps(regions, pid=4242)


def fixture(name: str) -> Maps:
    return memmaps.parse((FIXTURES / name).read_bytes())


def example_maps() -> Maps:
    return memmaps.parse((REPO / "docs" / "example.maps").read_text())


# --------------------------------------------------------------------------
# HTML, read back


_VOID = {"br", "hr", "img", "meta", "input", "link", "col", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter(tag)

    def has_class(self, name: str) -> bool:
        return name in (self.attrs.get("class") or "").split()


class HtmlDocument(html.parser.HTMLParser):
    """The element tree of an HTML fragment; raises on an unclosed or
    mismatched tag, so a name that breaks the markup fails the test."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.stack = [self.root]
        self.feed(markup)
        self.close()
        if len(self.stack) != 1:
            raise AssertionError(f"unclosed tags: {[e.tag for e in self.stack[1:]]}")

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs))
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        if self.stack[-1].tag != tag:
            raise AssertionError(f"</{tag}> closes <{self.stack[-1].tag}>")
        self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].children.append(data)

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        return self.root.iter(tag)

    def rows(self) -> list[Element]:
        """The body rows of the (first) table."""
        table = next(self.iter("table"))
        body = next(table.iter("tbody"))
        return [child for child in body.children if isinstance(child, Element)]


# --------------------------------------------------------------------------
# SVG, read back


def svg_tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def shapes(tree: ET.Element) -> list[tuple[ET.Element, str]]:
    """Every group with a title, and the title's text, in document order."""
    found = []
    for group in tree.iter(f"{SVG_NS}g"):
        title = group.find(f"{SVG_NS}title")
        if title is not None:
            found.append((group, title.text or ""))
    return found


_REGION_TITLE = re.compile(r"0x[0-9a-f]+\u20130x[0-9a-f]+  \S+  [r-][w-][x-][ps-]")


def region_shapes(tree: ET.Element) -> list[tuple[ET.Element, str]]:
    """The shapes that stand for one region each: their title starts with
    the range, the size and the permissions."""
    return [(group, title) for group, title in shapes(tree) if _REGION_TITLE.match(title)]


def run_shapes(tree: ET.Element) -> list[tuple[ET.Element, str]]:
    """The shapes that stand for many regions merged."""
    return [(g, t) for g, t in shapes(tree) if "regions merged" in t.split("\n")[0]]


def merged_count(title: str) -> int:
    """How many regions a merged shape says it holds."""
    return int(title.split(" ")[0].replace(",", ""))


def all_text(tree: ET.Element) -> list[str]:
    return [element.text or "" for element in tree.iter(f"{SVG_NS}text")]
