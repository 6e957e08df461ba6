"""to_dicts(), to_json() and load() on regions written here: every field, the
odd values a live read can hold, and every way a snapshot can be wrong.
tests/live/test_snapshot.py round-trips the maps of real processes."""

from __future__ import annotations

import base64
import copy
import json
import pickle
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memmaps
from memmaps import LoadError, Maps, Region, Usage
from memmaps.snapshot import FORMAT

FULL_USAGE = Usage(
    size=8192,
    kernel_page_size=4096,
    mmu_page_size=4096,
    rss=4096,
    pss=2048,
    pss_dirty=0,
    shared_clean=4096,
    shared_dirty=0,
    private_clean=0,
    private_dirty=0,
    referenced=4096,
    anonymous=0,
    ksm=0,
    lazy_free=0,
    anon_huge_pages=0,
    shmem_pmd_mapped=0,
    file_pmd_mapped=0,
    shared_hugetlb=0,
    private_hugetlb=0,
    swap=0,
    swap_pss=0,
    locked=0,
    thp_eligible=True,
    protection_key=0,
    vmflags=("rd", "mr", "mw", "me", "zz"),
    extra=(("FutureThing", 1 << 40), ("FutureMode", "a: b")),
)

REGIONS = [
    Region(0x400000, 0x402000, "r-xp", 0, 8, 1, 1234, "/usr/bin/app", usage=FULL_USAGE),
    Region(
        0x600000,
        0x601000,
        "rw-p",
        0x1000,
        8,
        1,
        99,
        "/tmp/bad\udcff\udcfe name\nwith newline",
        True,
        usage=Usage(vmflags=(), extra=(("Dup", 1), ("Dup", 2))),
    ),
    Region(0x700000, 0x701000, "---p", kind="guard", usage=Usage()),
    Region(
        0x100000000,
        0x100004000,
        "r-xp",
        path="/usr/lib/libSystem.B.dylib",
        kind="file",
        max_perms="rwx",
        share_mode="COW",
        tag="MALLOC_TINY",
        detail="__TEXT libsystem_c.dylib",
    ),
    Region(
        0x7FF600000000,
        0x7FF600010000,
        "rw-p",
        tag="private",
        detail="TEB tid 7 \udc80",
        allocation_base=0x7FF5FFFF0000,
    ),
    Region(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", path="[vsyscall]", kind="vsyscall"),
]


def maps(pid=4242, partial=None) -> Maps:
    return Maps(REGIONS, pid, partial)


def test_round_trip_is_exact():
    for built in (maps(), maps(None), maps(7, "without the task port: no submaps"), Maps()):
        text = built.to_json()
        loaded = memmaps.load(text)
        assert loaded == built
        assert tuple(loaded) == tuple(built)
        assert (loaded.pid, loaded.partial) == (built.pid, built.partial)
        # bytes too, and indented text
        assert memmaps.load(text.encode()) == built
        assert memmaps.load(built.to_json(indent=2)) == built
    # Types survive, not only values: a bool is not an int.
    loaded = memmaps.load(maps().to_json())
    assert type(loaded[0].usage.thp_eligible) is bool
    assert loaded[0].usage.vmflags == ("rd", "mr", "mw", "me", "zz")
    assert loaded[1].usage.vmflags == () and loaded[2].usage.vmflags is None
    assert loaded[1].usage.extra == (("Dup", 1), ("Dup", 2))
    assert loaded[2].usage == Usage() and loaded[3].usage is None


def test_the_format_says_its_version():
    document = json.loads(maps().to_json())
    assert list(document) == ["format", "pid", "partial", "regions"]
    assert document["format"] == FORMAT == "memmaps.maps/2"
    assert document["pid"] == 4242 and document["partial"] is None


def version_1(built: Maps) -> dict:
    """The snapshot memmaps wrote before allocation_base: format 1, whose
    regions have no such key."""
    doc = json.loads(built.to_json())
    doc["format"] = "memmaps.maps/1"
    for entry in doc["regions"]:
        del entry["allocation_base"]
    return doc


def test_a_version_1_snapshot_still_loads():
    linux = Maps([region for region in REGIONS if region.allocation_base is None], 4242)
    assert memmaps.load(json.dumps(version_1(linux))) == linux
    # A Windows region written then had no allocation base to keep.
    loaded = memmaps.load(json.dumps(version_1(maps())))
    assert [region.allocation_base for region in loaded] == [None] * len(REGIONS)
    assert loaded == Maps([region._replace(allocation_base=None) for region in REGIONS], 4242)


def test_version_1_has_no_allocation_base_and_version_2_needs_it():
    doc = version_1(maps())
    doc["regions"][0]["allocation_base"] = 0x10000
    error = load_error(doc)
    assert (error.index, error.field) == (0, "allocation_base")
    assert str(error) == "region 0: 'allocation_base' is not a key of memmaps.maps/1"
    doc = json.loads(maps().to_json())
    del doc["regions"][1]["allocation_base"]
    error = load_error(doc)
    assert (error.index, error.field) == (1, "allocation_base")
    assert "is missing" in str(error)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0x10000", "must be an integer, not a string"),
        (True, "must be an integer, not a boolean"),
        (-1, "between 0 and 2**64 - 1"),
        (2**64, "between 0 and 2**64 - 1"),
    ],
)
def test_a_wrong_allocation_base_is_named(value, words):
    doc = json.loads(maps().to_json())
    doc["regions"][5]["allocation_base"] = value
    error = load_error(doc)
    assert (error.index, error.field) == (5, "allocation_base")
    assert words in str(error), str(error)


def test_json_is_valid_unicode_and_ascii():
    text = maps().to_json()
    assert text.isascii()

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    # No lone surrogate: every string is text a strict reader keeps.
    for string in strings(json.loads(text)):
        string.encode("utf-8")
    entry = json.loads(text)["regions"][1]
    assert entry["path"] == "/tmp/bad\ufffd\ufffd name\nwith newline"
    assert base64.b64decode(entry["path_bytes"]) == b"/tmp/bad\xff\xfe name\nwith newline"
    assert "path_bytes" not in json.loads(text)["regions"][0]
    teb = json.loads(text)["regions"][4]
    assert base64.b64decode(teb["detail_bytes"]) == b"TEB tid 7 \x80"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_another_language_reads_the_names_back():
    """JavaScript's JSON.parse and Buffer give the bytes of the name that is
    not valid UTF-8, and the plain names as they are."""
    script = (
        "let d = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "for (const r of d.regions) console.log(r.path_bytes ?"
        " Buffer.from(r.path_bytes, 'base64').toString('hex') :"
        " Buffer.from(String(r.path), 'utf8').toString('hex'));"
    )
    done = subprocess.run(
        ["node", "-e", script], input=maps().to_json(), capture_output=True, text=True, check=True
    )
    want = [
        ("null" if region.path is None else region.path).encode("utf-8", "surrogateescape").hex()
        for region in REGIONS
    ]
    assert done.stdout.split() == want


def test_to_dicts_is_flat():
    dicts = maps().to_dicts()
    assert list(dicts[3]) == [
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
    ]
    assert dicts[3]["size"] == 0x4000
    assert dicts[4]["allocation_base"] == 0x7FF5FFFF0000
    assert list(dicts[0])[16:] == [f"usage_{name}" for name in Usage._fields]
    assert dicts[0]["usage_rss"] == 4096
    assert dicts[0]["usage_vmflags"] == "rd mr mw me zz"
    assert dicts[0]["usage_extra"] == {"FutureThing": 1 << 40, "FutureMode": "a: b"}
    assert dicts[1]["path"] == REGIONS[1].path  # Python keeps the str as it is
    assert dicts[2]["usage_vmflags"] is None
    # A region without usage has no usage keys.
    assert not any(key.startswith("usage") for key in dicts[3])


def test_load_takes_str_or_bytes_only():
    with pytest.raises(TypeError, match="str or bytes, not int"):
        memmaps.load(42)
    assert memmaps.load(bytearray(Maps().to_json().encode())) == Maps()


# ---- errors -------------------------------------------------------------------


def document():
    return json.loads(maps().to_json())


def load_error(value) -> LoadError:
    text = value if isinstance(value, (str, bytes)) else json.dumps(value)
    with pytest.raises(LoadError) as caught:
        memmaps.load(text)
    error = caught.value
    assert isinstance(error, memmaps.Error) and isinstance(error, ValueError)
    return error


def changed(index, key, value=...):
    doc = document()
    if value is ...:
        del doc["regions"][index][key]
    else:
        doc["regions"][index][key] = value
    return doc


def moved(index, start):
    doc = document()
    entry = doc["regions"][index]
    entry["start"], entry["end"] = start, start + entry["size"]
    return doc


@pytest.mark.parametrize(
    ("doc", "index", "field", "words"),
    [
        (changed(0, "start"), 0, "start", "is missing"),
        (changed(2, "kind"), 2, "kind", "is missing"),
        (changed(1, "start", "0x600000"), 1, "start", "must be an integer, not a string"),
        (changed(1, "start", True), 1, "start", "not a boolean"),
        (changed(1, "start", -1), 1, "start", "between 0 and 2**64 - 1"),
        (changed(1, "end", 2**64), 1, "end", "between 0 and 2**64 - 1"),
        (changed(1, "end", 0x600000), 1, "end", "must be above start"),
        (changed(1, "size", 1), 1, "size", "must be end - start (4096), not 1"),
        (changed(1, "perms", "rwx"), 1, "perms", "4 letters like 'r-xp'"),
        (changed(1, "perms", None), 1, "perms", "4 letters"),
        (changed(1, "kind", "bogus"), 1, "kind", "must be one of file, anon"),
        (changed(1, "deleted", 1), 1, "deleted", "true or false, not an integer"),
        (changed(1, "path", 5), 1, "path", "a string or null, not an integer"),
        (changed(1, "path_bytes", "***"), 1, "path_bytes", "is not base64"),
        (changed(1, "path_bytes", 5), 1, "path_bytes", "a base64 string"),
        (changed(3, "tag", ["MALLOC"]), 3, "tag", "not a list"),
        (changed(3, "bogus", 1), 3, "bogus", "is not a key of memmaps.maps/2"),
        (changed(0, "usage_rss"), 0, "usage_rss", "is missing"),
        (changed(0, "usage_rss", "4096"), 0, "usage_rss", "an integer or null"),
        (changed(0, "usage_thp_eligible", 1), 0, "usage_thp_eligible", "true, false or null"),
        (changed(0, "usage_vmflags", ["rd"]), 0, "usage_vmflags", "a string or null"),
        (changed(0, "usage_extra", 5), 0, "usage_extra", "an object"),
        (changed(0, "usage_extra", {"A": None}), 0, "usage_extra", "'A' must be an integer"),
        (moved(4, 0x100003000), 4, "start", "is 0x100003000, below the end of region 3"),
    ],
)
def test_a_wrong_region_is_named(doc, index, field, words):
    error = load_error(doc)
    assert (error.index, error.field) == (index, field)
    assert str(error).startswith(f"region {index}: {field!r} "), str(error)
    assert words in str(error)


def test_a_region_that_is_not_an_object():
    doc = document()
    doc["regions"][2] = [1, 2]
    error = load_error(doc)
    assert (error.index, error.field) == (2, None)
    assert str(error) == "region 2 must be an object, not a list"


@pytest.mark.parametrize(
    ("doc", "field", "words"),
    [
        ({"pid": 1, "regions": []}, "format", "no 'format' key"),
        ({**document(), "format": "memmaps.maps/3"}, "format", "a version this memmaps"),
        ({**document(), "format": "something/1"}, "format", "not a snapshot of memmaps"),
        ({**document(), "format": None}, "format", "not a snapshot of memmaps"),
        ({k: v for k, v in document().items() if k != "regions"}, "regions", "is missing"),
        ({k: v for k, v in document().items() if k != "pid"}, "pid", "is missing"),
        ({**document(), "extra": 1}, "extra", "is not a key of"),
        ({**document(), "pid": "4242"}, "pid", "a process id"),
        ({**document(), "pid": -1}, "pid", "a process id"),
        ({**document(), "pid": True}, "pid", "a process id"),
        ({**document(), "partial": 1}, "partial", "a string or null"),
        ({**document(), "regions": {}}, "regions", "must be a list, not an object"),
    ],
)
def test_a_wrong_snapshot_is_named(doc, field, words):
    error = load_error(doc)
    assert (error.index, error.field) == (None, field)
    assert words in str(error), str(error)


def test_text_that_is_not_a_snapshot():
    error = load_error('{"format": "memmaps.maps/1", "pid":')
    assert str(error).startswith("not a snapshot: not JSON: Expecting value at line 1 column")
    assert "not JSON" in str(load_error(""))
    assert "not UTF-8" in str(load_error(b"\xff\xfe\xfd"))
    assert "a JSON list and not an object" in str(load_error("[]"))
    assert "a JSON string and not an object" in str(load_error('"x"'))
    # What to_json() wrote before it said its format.
    old = json.dumps({"pid": 1, "regions": []})
    assert "no 'format' key" in str(load_error(old))


def test_load_error_pickles():
    error = load_error(changed(1, "start"))
    copy_ = pickle.loads(pickle.dumps(error))
    assert (type(copy_), str(copy_), copy_.index, copy_.field) == (
        LoadError,
        str(error),
        1,
        "start",
    )


# Any JSON value where a valid one was: load() returns a Maps or raises
# LoadError, never KeyError, TypeError or AttributeError.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.integers(min_value=0, max_value=len(REGIONS) - 1),
    key=st.sampled_from([*sorted(document()["regions"][0]), "path_bytes", "format", "pid"]),
    value=JSON_VALUES,
    delete=st.booleans(),
)
def test_any_damage_is_a_load_error(where, key, value, delete):
    doc = copy.deepcopy(document())
    target = doc if key in ("format", "pid") else doc["regions"][where]
    if delete:
        target.pop(key, None)
    else:
        target[key] = value
    try:
        loaded = memmaps.load(json.dumps(doc))
    except LoadError:
        return
    assert isinstance(loaded, Maps)
