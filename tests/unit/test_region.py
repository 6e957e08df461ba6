"""Region: fields, defaults, properties, containment, hashing, pickling, repr."""

from __future__ import annotations

import copy
import pickle

import pytest

import memmaps
from memmaps import Region

FIELDS = (
    "start",
    "end",
    "perms",
    "offset",
    "dev_major",
    "dev_minor",
    "inode",
    "path",
    "deleted",
    "kind",
    "usage",
    "max_perms",
    "share_mode",
    "tag",
    "detail",
    "allocation_base",
)

LIBC = Region(
    0x7F1933C1A000,
    0x7F1933D70000,
    "r-xp",
    0x26000,
    0xFE,
    0,
    339380,
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    False,
    "file",
)


def test_field_order_and_positional_construction():
    assert Region._fields == FIELDS
    values = (
        0x1000,
        0x3000,
        "rw-s",
        0x5000,
        0x103,
        7,
        42,
        "/x",
        True,
        "shmem",
        None,
        "rwx",
        "SHM",
        "mapped",
        "heap 0x1a0000",
        0x1A0000,
    )
    region = Region(*values)
    assert tuple(region) == values
    for name, value in zip(FIELDS, values, strict=True):
        assert getattr(region, name) == value
    # The tuple index of each field is its position in FIELDS.
    assert region[0] == 0x1000
    assert region[2] == "rw-s"
    assert region[7] == "/x"
    assert region[13] == "mapped"
    assert region[14] == "heap 0x1a0000"
    assert region[15] == 0x1A0000


def test_defaults():
    region = Region(0x1000, 0x2000, "rw-p")
    assert region.offset == 0
    assert region.dev_major == 0
    assert region.dev_minor == 0
    assert region.inode == 0
    assert region.path is None
    assert region.deleted is False
    assert region.kind == "anon"
    assert region.usage is None
    assert region.max_perms is None
    assert region.share_mode is None
    assert region.tag is None
    assert region.allocation_base is None
    assert Region._field_defaults == {
        "offset": 0,
        "dev_major": 0,
        "dev_minor": 0,
        "inode": 0,
        "path": None,
        "deleted": False,
        "kind": "anon",
        "usage": None,
        "max_perms": None,
        "share_mode": None,
        "tag": None,
        "detail": None,
        "allocation_base": None,
    }


def test_start_end_perms_are_required():
    with pytest.raises(TypeError):
        Region(0x1000, 0x2000)  # type: ignore[call-arg]


def test_kinds_list():
    assert memmaps.KINDS == (
        "file",
        "anon",
        "heap",
        "stack",
        "vdso",
        "vvar",
        "vsyscall",
        "shmem",
        "memfd",
        "sysv",
        "hugetlb",
        "guard",
        "special",
    )
    assert Region(0, 1, "---p").kind in memmaps.KINDS


@pytest.mark.parametrize(
    ("start", "end", "size"),
    [
        (0x1000, 0x2000, 0x1000),
        (0x400000, 0x425000, 0x25000),
        (0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, 0x1000),
        (0x7F0000000000, 0x7F0100000000, 0x100000000),
        (0x5000, 0x5000, 0),
    ],
)
def test_size(start, end, size):
    assert Region(start, end, "r--p").size == size


@pytest.mark.parametrize(
    ("perms", "readable", "writable", "executable", "shared", "private"),
    [
        ("r-xp", True, False, True, False, True),
        ("rw-p", True, True, False, False, True),
        ("r--s", True, False, False, True, False),
        ("rw-s", True, True, False, True, False),
        ("rwxs", True, True, True, True, False),
        ("---p", False, False, False, False, True),
        ("--xp", False, False, True, False, True),
        ("-w-s", False, True, False, True, False),
    ],
)
def test_permission_properties(perms, readable, writable, executable, shared, private):
    region = Region(0x1000, 0x2000, perms)
    assert region.readable is readable
    assert region.writable is writable
    assert region.executable is executable
    assert region.shared is shared
    assert region.private is private


@pytest.mark.parametrize(
    ("addr", "inside"),
    [
        (0x7F1933C1A000, True),  # start
        (0x7F1933C1A001, True),
        (0x7F1933CFFFFF, True),
        (0x7F1933D6FFFF, True),  # end - 1
        (0x7F1933D70000, False),  # end
        (0x7F1933C19FFF, False),  # start - 1
        (0, False),
        (-1, False),
        (2**64, False),
    ],
)
def test_contains_and_in(addr, inside):
    assert LIBC.contains(addr) is inside
    assert (addr in LIBC) is inside


def test_contains_at_bounds_of_top_of_address_space():
    vsyscall = Region(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", kind="vsyscall")
    assert 0xFFFFFFFFFF600000 in vsyscall
    assert 0xFFFFFFFFFF600FFF in vsyscall
    assert 0xFFFFFFFFFF601000 not in vsyscall
    assert vsyscall.contains(0xFFFFFFFFFF600FFF)
    assert not vsyscall.contains(0xFFFFFFFFFF601000)


def test_empty_region_contains_nothing():
    empty = Region(0x5000, 0x5000, "rw-p")
    assert 0x5000 not in empty
    assert not empty.contains(0x5000)
    assert not empty.contains(0x4FFF)


@pytest.mark.parametrize("value", ["0x7f1933c1a000", None, b"\x00", [0x7F1933C1A000], 1.5])
def test_in_with_non_int_is_false(value):
    # `x in region` answers False for anything that is not an address, even a
    # str or a float that would fall inside the range.
    assert (value in LIBC) is False


def test_in_with_float_inside_range_is_false():
    assert (float(LIBC.start) in LIBC) is False
    assert (LIBC.start + 0.5 in LIBC) is False


@pytest.mark.parametrize("value", ["0x7f1933c1a000", None, b"\x00"])
def test_contains_with_non_int_raises_type_error_naming_addr(value):
    # API.md: "Bad arguments (... addr not an int) raise TypeError/ValueError
    # with a message that names the argument", as Maps.at() does.
    with pytest.raises(TypeError, match="addr"):
        LIBC.contains(value)


@pytest.mark.parametrize("value", [LIBC.start + 0.5, float(LIBC.start)])
def test_contains_with_float_raises_type_error(value):
    # A float is not an address: contains() must refuse it, as Maps.at() does,
    # rather than answer (and `value in region` already says False for it).
    with pytest.raises(TypeError, match="addr"):
        LIBC.contains(value)


def test_equality_and_hash():
    same = Region(
        0x7F1933C1A000,
        0x7F1933D70000,
        "r-xp",
        0x26000,
        0xFE,
        0,
        339380,
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        False,
        "file",
    )
    assert same == LIBC
    assert same is not LIBC
    assert hash(same) == hash(LIBC)
    assert len({LIBC, same}) == 1
    assert {LIBC: "libc"}[same] == "libc"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start", 0x7F1933C19000),
        ("end", 0x7F1933D71000),
        ("perms", "r-xs"),
        ("offset", 0x27000),
        ("dev_major", 0xFD),
        ("dev_minor", 1),
        ("inode", 339381),
        ("path", "/usr/lib/x86_64-linux-gnu/libm.so.6"),
        ("deleted", True),
        ("kind", "special"),
        ("max_perms", "rwx"),
        ("share_mode", "COW"),
        ("tag", "image"),
    ],
)
def test_inequality_on_every_field(field, value):
    other = LIBC._replace(**{field: value})
    assert other != LIBC
    assert (other == LIBC) is False
    assert len({LIBC, other}) == 2


def test_not_equal_to_other_types():
    assert LIBC != "libc"
    assert LIBC != None  # noqa: E711
    assert LIBC.start != LIBC
    assert LIBC[:3] != LIBC


UNUSUAL = [
    LIBC,
    Region(0x1000, 0x2000, "rw-p"),
    Region(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", path="[vsyscall]", kind="vsyscall"),
    Region(0x1000, 0x2000, "rw-s", 0, 0, 1, 7, "/dev/zero", True, "shmem"),
    Region(0x1000, 0x2000, "r--p", 0x123456789, 0x103, 0xFFFFF, 2**64 - 1, "/a\nb", False),
    Region(0x1000, 0x2000, "r--p", 0, 8, 1, 5, "/bad\udcff\udcfe name", False, "file"),
    Region(0x1000, 0x2000, "r--p", 0, 8, 1, 5, " lead\ttab\\back 'q' \"dq\" ", False, "file"),
    Region(0x1000, 0x2000, "rwxp", max_perms="rwx", share_mode="PRV", tag="MALLOC_TINY"),
]


@pytest.mark.parametrize("region", UNUSUAL)
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(region, protocol):
    back = pickle.loads(pickle.dumps(region, protocol=protocol))
    assert back == region
    assert type(back) is Region
    assert tuple(back) == tuple(region)
    assert back.size == region.size
    assert back.path == region.path


@pytest.mark.parametrize("region", UNUSUAL)
def test_copy_and_deepcopy(region):
    for clone in (copy.copy(region), copy.deepcopy(region)):
        assert clone == region
        assert type(clone) is Region
        assert clone.kind == region.kind
        assert clone.readable == region.readable


def test_replace():
    grown = LIBC._replace(end=0x7F1933D80000, deleted=True)
    assert type(grown) is Region
    assert grown.end == 0x7F1933D80000
    assert grown.size == 0x7F1933D80000 - 0x7F1933C1A000
    assert grown.deleted is True
    # Everything else carried over, and the original is untouched.
    assert grown[:2] == (LIBC.start, 0x7F1933D80000)
    assert grown[2:8] == LIBC[2:8]
    assert grown[9:] == LIBC[9:]
    assert LIBC.end == 0x7F1933D70000
    assert LIBC.deleted is False
    # namedtuple's own error: ValueError up to 3.12, TypeError from 3.13.
    with pytest.raises((ValueError, TypeError), match="nosuchfield"):
        LIBC._replace(nosuchfield=1)


def test_immutable():
    with pytest.raises(AttributeError):
        LIBC.start = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        LIBC[0] = 0  # type: ignore[index]


def test_asdict():
    assert LIBC._asdict() == {
        "start": 0x7F1933C1A000,
        "end": 0x7F1933D70000,
        "perms": "r-xp",
        "offset": 0x26000,
        "dev_major": 0xFE,
        "dev_minor": 0,
        "inode": 339380,
        "path": "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "deleted": False,
        "kind": "file",
        "usage": None,
        "max_perms": None,
        "share_mode": None,
        "tag": None,
        "detail": None,
        "allocation_base": None,
    }


def test_repr_exact():
    assert repr(LIBC) == (
        "Region(start=0x7f1933c1a000, end=0x7f1933d70000, perms='r-xp', offset=0x26000, "
        "dev_major=254, dev_minor=0, inode=339380, "
        "path='/usr/lib/x86_64-linux-gnu/libc.so.6', deleted=False, kind='file')"
    )
    assert repr(Region(0x1000, 0x2000, "rw-p")) == (
        "Region(start=0x1000, end=0x2000, perms='rw-p', offset=0x0, dev_major=0, "
        "dev_minor=0, inode=0, path=None, deleted=False, kind='anon')"
    )


def test_repr_shows_other_systems_fields_only_when_set():
    region = Region(0x1000, 0x2000, "rwxp", max_perms="rwx", share_mode="PRV", tag="Stack")
    text = repr(region)
    assert text.endswith(", kind='anon', max_perms='rwx', share_mode='PRV', tag='Stack')")
    assert "usage" not in text
    only_tag = repr(Region(0x1000, 0x2000, "rw-p", tag="private"))
    assert only_tag.endswith("kind='anon', tag='private')")
    assert "max_perms" not in only_tag
    assert "share_mode" not in only_tag
    windows = Region(0x1A2000, 0x1A3000, "rw-p", tag="private", allocation_base=0x1A0000)
    assert repr(windows).endswith("tag='private', allocation_base=0x1a0000)")


def test_repr_shows_usage_when_set():
    assert repr(Region(0x1000, 0x2000, "rw-p", usage=4096)).endswith("kind='anon', usage=4096)")


@pytest.mark.parametrize("region", UNUSUAL)
def test_repr_evaluates_back(region):
    assert region.usage is None
    text = repr(region)
    assert f"start={region.start:#x}" in text
    assert f"end={region.end:#x}" in text
    back = eval(text, {"Region": memmaps.Region})
    assert back == region
    assert type(back) is Region
