"""Snapshots: a Maps as flat dicts and as JSON, and the JSON read back.

``to_json()`` writes a format that says its version (:data:`FORMAT`), and
``load()`` gives back exactly the Maps that wrote it: every field, usage
and its unknown figures, names that are not valid UTF-8, pid and partial.
The format is documented in docs/api.md ("Snapshots, JSON and
DataFrames").
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from .errors import Error
from .region import KINDS, Region
from .usage import Usage

if TYPE_CHECKING:
    from .maps import Maps

#: The version of the JSON that ``Maps.to_json()`` writes and ``load()`` reads.
#: Version 2 added each region's ``allocation_base``; ``load()`` still reads
#: version 1, whose regions have none.
FORMAT = "memmaps.maps/2"
_FORMAT_1 = "memmaps.maps/1"
_READABLE = (FORMAT, _FORMAT_1)

_FORMAT_NAME = re.compile(r"memmaps\.maps/[0-9]+")

#: The prefix of the usage keys of a region dict.
USAGE_PREFIX = "usage_"

# Region fields in dict order: size after end, usage flattened at the end.
_REGION_KEYS = (
    "start",
    "end",
    "size",
    "perms",
    "offset",
    "dev_major",
    "dev_minor",
    "inode",
    "path",
    "deleted",
    "kind",
    "max_perms",
    "share_mode",
    "tag",
    "detail",
    "allocation_base",
)
_USAGE_KEYS = tuple(USAGE_PREFIX + name for name in Usage._fields)
_VMFLAGS_KEY = USAGE_PREFIX + "vmflags"
_EXTRA_KEY = USAGE_PREFIX + "extra"
# The figures: every usage field but these three, which are not counts.
_FIGURE_KEYS = tuple(
    key for key in _USAGE_KEYS if key not in (_VMFLAGS_KEY, _EXTRA_KEY, "usage_thp_eligible")
)
_FIGURE_POSITIONS = tuple(_USAGE_KEYS.index(key) for key in _FIGURE_KEYS)
_THP_POSITION = Usage._fields.index("thp_eligible")
_VMFLAGS_POSITION = Usage._fields.index("vmflags")
_EXTRA_POSITION = Usage._fields.index("extra")
_USAGE_KEY_SET = frozenset(_USAGE_KEYS)
_INT_OR_NONE = frozenset({int, type(None)})
_EXTRA_TYPES = frozenset({int, str})
# The text fields an OS fills with bytes of its own (file names, labels):
# the ones that may not be valid UTF-8.
_BYTES_FIELDS = ("path", "tag", "detail")
_BYTES_SUFFIX = "_bytes"
_KNOWN_KEYS = frozenset(
    (*_REGION_KEYS, *_USAGE_KEYS, *(name + _BYTES_SUFFIX for name in _BYTES_FIELDS))
)
_TOP_KEYS = ("format", "pid", "partial", "regions")
_REQUIRED = frozenset(_REGION_KEYS)
_PLAIN_KEYS = _REQUIRED | {name + _BYTES_SUFFIX for name in _BYTES_FIELDS}
# Version 1: the keys of version 2 but allocation_base.
_REQUIRED_1 = _REQUIRED - {"allocation_base"}
_KNOWN_KEYS_1 = _KNOWN_KEYS - {"allocation_base"}
_PLAIN_KEYS_1 = _PLAIN_KEYS - {"allocation_base"}
_REGION_KEYS_1 = tuple(key for key in _REGION_KEYS if key != "allocation_base")
_NUMBER_KEYS = ("start", "end", "size", "offset", "dev_major", "dev_minor", "inode")
_KIND_SET = frozenset(KINDS)
# The 16 permission strings, each mapped to itself: a region keeps the one
# shared str, as the C core's regions do.
_ALL_PERMS = {
    f"{r}{w}{x}{s}": f"{r}{w}{x}{s}" for r in "r-" for w in "w-" for x in "x-" for s in "ps"
}
_LIMIT = 2**64


class LoadError(Error, ValueError):
    """Text that is not a snapshot ``load()`` can read.  ``index`` is the
    region the error is in (0-based, None when it is not in a region),
    ``field`` the key that is missing or wrong (None when no key is)."""

    def __init__(self, message: str, index: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.field = field

    def __reduce__(self) -> tuple[type[LoadError], tuple[str, int | None, str | None]]:
        return type(self), (str(self.args[0]), self.index, self.field)


# ---- writing ----------------------------------------------------------------


def region_dict(region: Region) -> dict[str, Any]:
    """One region as a flat dict (see ``Maps.to_dicts()``)."""
    start, end, perms, offset, major, minor, inode, path, deleted, kind, usage, *rest = region
    values = (start, end, end - start, perms, offset, major, minor, inode, path, deleted, kind)
    entry: dict[str, Any] = dict(zip(_REGION_KEYS, (*values, *rest), strict=True))
    if usage is not None:
        entry.update(zip(_USAGE_KEYS, usage, strict=True))
        flags = usage.vmflags
        entry[_VMFLAGS_KEY] = None if flags is None else " ".join(flags)
        entry[_EXTRA_KEY] = dict(usage.extra)
    return entry


def to_dicts(maps: Maps) -> list[dict[str, Any]]:
    return [region_dict(region) for region in maps]


def _json_region(region: Region) -> dict[str, Any]:
    entry = region_dict(region)
    for name in _BYTES_FIELDS:
        text = entry[name]
        if text is None or text.isascii():
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            try:
                raw = text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                # A lone surrogate that stands for no byte (a Windows name
                # that is not valid UTF-16): JSON's \\u escape keeps it, for
                # Python's reader.
                continue
            entry[name] = raw.decode("utf-8", "replace")
            entry[name + _BYTES_SUFFIX] = base64.b64encode(raw).decode("ascii")
    extra = entry.get(_EXTRA_KEY)
    if extra is not None and region.usage is not None and len(extra) != len(region.usage.extra):
        # A key twice: pairs keep both, a JSON object would keep one.
        entry[_EXTRA_KEY] = [list(pair) for pair in region.usage.extra]
    return entry


def to_json(maps: Maps, indent: int | None = None) -> str:
    document = {
        "format": FORMAT,
        "pid": maps.pid,
        "partial": maps.partial,
        "regions": [_json_region(region) for region in maps],
    }
    return json.dumps(document, indent=indent)


# ---- reading ----------------------------------------------------------------


def _where(index: int | None, field: str | None) -> str:
    if index is None:
        return "the snapshot" if field is None else f"the snapshot's {field!r}"
    return f"region {index}" if field is None else f"region {index}: {field!r}"


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _fail(index: int | None, field: str | None, problem: str) -> LoadError:
    return LoadError(f"{_where(index, field)} {problem}", index, field)


def _wrong_type(index: int | None, field: str, wanted: str, value: object) -> LoadError:
    return _fail(index, field, f"must be {wanted}, not {_type_name(value)}")


def _integer(index: int | None, field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(index, field, "an integer", value)
    if not 0 <= value < _LIMIT:
        raise _fail(index, field, f"must be between 0 and 2**64 - 1, not {value}")
    return value


def _figure(index: int, field: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(index, field, "an integer or null", value)
    if not 0 <= value < _LIMIT:
        raise _fail(index, field, f"must be between 0 and 2**64 - 1, not {value}")
    return value


def _text(index: int | None, field: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(index, field, "a string or null", value)
    return value


def _boolean(index: int, field: str, value: object) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _wrong_type(index, field, "true, false or null", value)
    return value


def _name(index: int, entry: dict[str, Any], field: str) -> str | None:
    text = entry[field]
    key = field + _BYTES_SUFFIX
    if key not in entry:
        if text is None or type(text) is str:
            return text
        raise _wrong_type(index, field, "a string or null", text)
    text = _text(index, field, text)
    encoded = entry[key]
    if encoded is None:
        return text
    if not isinstance(encoded, str):
        raise _wrong_type(index, key, "a base64 string", encoded)
    if text is None:
        raise _fail(index, key, f"is given without {field!r}")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(index, key, f"is not base64: {encoded[:40]!r}") from None
    return raw.decode("utf-8", "surrogateescape")


def _extra(index: int, value: object) -> tuple[tuple[str, Any], ...]:
    field = _EXTRA_KEY
    if type(value) is dict:
        pairs = tuple(value.items())
    elif isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in value
    ):
        pairs = tuple((pair[0], pair[1]) for pair in value)
    else:
        raise _wrong_type(index, field, "an object (or a list of [key, value] pairs)", value)
    if not {type(figure) for _, figure in pairs} <= _EXTRA_TYPES:
        key = next(key for key, figure in pairs if type(figure) not in _EXTRA_TYPES)
        raise _fail(index, field, f"{key!r} must be an integer or a string")
    return pairs


def _in_range(values: list[Any]) -> bool:
    """Whether values are all ints (bools are not) or None, from 0 to
    2**64 - 1: two passes in C rather than one in Python."""
    if not set(map(type, values)) <= _INT_OR_NONE:
        return False
    present = [value for value in values if value is not None]
    return not present or (min(present) >= 0 and max(present) < _LIMIT)


def _usage(index: int, entry: dict[str, Any]) -> Usage | None:
    keys = entry.keys()
    if keys.isdisjoint(_USAGE_KEY_SET):
        return None
    if not keys >= _USAGE_KEY_SET:
        missing = next(key for key in _USAGE_KEYS if key not in entry)
        raise _fail(index, missing, "is missing (a region with usage has every usage key)")
    values = [entry[key] for key in _USAGE_KEYS]
    figures = [values[position] for position in _FIGURE_POSITIONS]
    if not _in_range(figures):
        for key, value in zip(_FIGURE_KEYS, figures, strict=True):
            _figure(index, key, value)
    values[_THP_POSITION] = _boolean(index, "usage_thp_eligible", values[_THP_POSITION])
    flags = _text(index, _VMFLAGS_KEY, values[_VMFLAGS_POSITION])
    values[_VMFLAGS_POSITION] = None if flags is None else tuple(flags.split())
    values[_EXTRA_POSITION] = _extra(index, values[_EXTRA_POSITION])
    return Usage._make(values)


def _region(index: int, entry: object, written: str = FORMAT) -> Region:
    if not isinstance(entry, dict):
        raise _fail(index, None, f"must be an object, not {_type_name(entry)}")
    keys = entry.keys()
    order: tuple[str, ...]
    if written == FORMAT:
        required, known, plain, order = _REQUIRED, _KNOWN_KEYS, _PLAIN_KEYS, _REGION_KEYS
    else:
        required, known, plain, order = _REQUIRED_1, _KNOWN_KEYS_1, _PLAIN_KEYS_1, _REGION_KEYS_1
    if not keys >= required:
        missing = next(key for key in order if key not in entry)
        raise _fail(index, missing, "is missing")
    if not keys <= known:
        unknown = next(key for key in entry if key not in known)
        raise _fail(index, unknown, f"is not a key of {written}")
    # The usual case first, in one pass; the checks that name what is
    # wrong only when something is.
    numbers = [entry[key] for key in _NUMBER_KEYS]
    if None in numbers or not _in_range(numbers):
        for key, value in zip(_NUMBER_KEYS, numbers, strict=True):
            _integer(index, key, value)
    start, end, size, offset, dev_major, dev_minor, inode = numbers
    if end <= start:
        raise _fail(index, "end", f"must be above start ({start:#x}), not {end:#x}")
    if size != end - start:
        raise _fail(index, "size", f"must be end - start ({end - start}), not {size}")
    perms = entry["perms"]
    if type(perms) is not str or perms not in _ALL_PERMS:
        raise _fail(index, "perms", f"must be 4 letters like 'r-xp', not {perms!r}")
    kind = entry["kind"]
    if type(kind) is not str or kind not in _KIND_SET:
        raise _fail(index, "kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    deleted = entry["deleted"]
    if not isinstance(deleted, bool):
        raise _wrong_type(index, "deleted", "true or false", deleted)
    allocation_base = entry.get("allocation_base")
    if allocation_base is not None:
        _integer(index, "allocation_base", allocation_base)
    return Region._make(
        (
            start,
            end,
            _ALL_PERMS[perms],
            offset,
            dev_major,
            dev_minor,
            inode,
            _name(index, entry, "path"),
            deleted,
            kind,
            None if keys <= plain else _usage(index, entry),
            _text(index, "max_perms", entry["max_perms"]),
            _text(index, "share_mode", entry["share_mode"]),
            _name(index, entry, "tag"),
            _name(index, entry, "detail"),
            allocation_base,
        )
    )


def load(text: str | bytes) -> Maps:
    """The Maps that ``Maps.to_json()`` wrote, exactly (str or bytes).
    Raises LoadError, naming the region and the key, for anything else."""
    from .maps import Maps

    if isinstance(text, (bytearray, memoryview)):
        text = bytes(text)
    if not isinstance(text, (str, bytes)):
        raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
    try:
        document = json.loads(text)
    except UnicodeDecodeError as error:
        raise LoadError(f"not a snapshot: the bytes are not UTF-8 text ({error})") from None
    except json.JSONDecodeError as error:
        raise LoadError(
            f"not a snapshot: not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(document, dict):
        raise LoadError(f"not a snapshot: a JSON {_type_name(document)[2:]} and not an object")
    if "format" not in document:
        raise LoadError(
            f"not a snapshot: no 'format' key (Maps.to_json() writes {FORMAT!r})", None, "format"
        )
    written = document["format"]
    if written not in _READABLE:
        if isinstance(written, str) and _FORMAT_NAME.fullmatch(written):
            readable = " and ".join(repr(name) for name in _READABLE)
            problem = f"is {written!r}, a version this memmaps does not read (it reads {readable})"
        else:
            problem = f"is {written!r}, not {FORMAT!r}: not a snapshot of memmaps"
        raise _fail(None, "format", problem)
    for key in _TOP_KEYS:
        if key not in document:
            raise _fail(None, key, "is missing")
    unknown = [key for key in document if key not in _TOP_KEYS]
    if unknown:
        raise _fail(None, unknown[0], f"is not a key of {written}")
    pid = document["pid"]
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int) or pid < 0):
        raise _wrong_type(None, "pid", "a process id (an integer 0 or above) or null", pid)
    partial = _text(None, "partial", document["partial"])
    entries = document["regions"]
    if not isinstance(entries, list):
        raise _wrong_type(None, "regions", "a list", entries)
    regions = [_region(index, entry, written) for index, entry in enumerate(entries)]
    for index in range(1, len(regions)):
        before, after = regions[index - 1], regions[index]
        if after.start < before.end:
            raise _fail(
                index,
                "start",
                f"is {after.start:#x}, below the end of region {index - 1} ({before.end:#x}): "
                "regions are in address order and do not overlap",
            )
    return Maps._trusted(tuple(regions), pid, partial)
