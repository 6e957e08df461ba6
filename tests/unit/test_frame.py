"""Maps.to_dataframe(): typed columns holding exactly the regions' values, for
maps read live and written here; and the message when pandas is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import memmaps
from memmaps import Maps, Region, Usage
from memmaps.summary import categorize
from tests.helpers import procutil
from tests.unit.test_snapshot import REGIONS

pd = pytest.importorskip("pandas", reason="pandas is in the test extra: pip install -e '.[test]'")

COLUMNS = [
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
    "category",
    "max_perms",
    "share_mode",
    "tag",
    "detail",
    "allocation_base",
]


def test_columns_and_types_without_usage():
    frame = Maps(REGIONS[3:]).to_dataframe()
    assert list(frame.columns) == COLUMNS
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert dtypes == {
        "start": "uint64",
        "end": "uint64",
        "size": "uint64",
        "perms": "category",
        "offset": "uint64",
        "dev_major": "uint32",
        "dev_minor": "uint32",
        "inode": "uint64",
        "path": "string",
        "deleted": "bool",
        "kind": "category",
        "category": "category",
        "max_perms": "category",
        "share_mode": "category",
        "tag": "category",
        "detail": "string",
        "allocation_base": "UInt64",
    }
    assert list(frame["kind"].cat.categories) == list(memmaps.KINDS)
    assert list(frame["category"].cat.categories) == list(memmaps.CATEGORIES)


def test_values_are_the_regions():
    maps = Maps(REGIONS)
    frame = maps.to_dataframe()
    assert len(frame) == len(maps)
    names = categorize(maps)
    for row, region, name in zip(frame.itertuples(index=False), maps, names, strict=True):
        assert int(row.start) == region.start and int(row.end) == region.end
        assert int(row.size) == region.size
        assert (row.perms, row.kind, row.category) == (region.perms, region.kind, name)
        assert int(row.offset) == region.offset and int(row.inode) == region.inode
        assert bool(row.deleted) is region.deleted
        for field in ("path", "max_perms", "share_mode", "tag", "detail"):
            value = getattr(row, field)
            want = getattr(region, field)
            assert (value is pd.NA or value != value) if want is None else value == want, field
        base = row.allocation_base
        assert base is pd.NA if region.allocation_base is None else base == region.allocation_base
    # Above 2**63: [vsyscall]'s address stays exact in uint64.
    assert int(frame["start"].iloc[-1]) == 0xFFFFFFFFFF600000
    # A name that is not UTF-8 keeps its escaped bytes.
    assert frame["path"].iloc[1] == REGIONS[1].path


def test_usage_columns_are_nullable():
    maps = Maps(REGIONS)
    frame = maps.to_dataframe()
    usage_columns = [f"usage_{name}" for name in Usage._fields]
    assert list(frame.columns) == COLUMNS + usage_columns
    assert str(frame["usage_rss"].dtype) == "UInt64"
    assert str(frame["usage_thp_eligible"].dtype) == "boolean"
    assert str(frame["usage_protection_key"].dtype) == "Int64"
    assert str(frame["usage_vmflags"].dtype) == "string"
    assert frame["usage_rss"].iloc[0] == 4096
    assert frame["usage_extra"].iloc[0] == {"FutureThing": 1 << 40, "FutureMode": "a: b"}
    assert frame["usage_vmflags"].iloc[0] == "rd mr mw me zz"
    assert frame["usage_vmflags"].iloc[1] == ""
    # Regions without usage (and figures not reported) are missing, not 0.
    assert frame["usage_rss"].isna().tolist() == [False, True, True, True, True, True]
    assert frame["usage_extra"].iloc[3] is None
    assert frame["usage_extra"].iloc[2] == {}


def test_an_empty_map():
    frame = Maps().to_dataframe()
    assert list(frame.columns) == COLUMNS and len(frame) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads a live process")
def test_a_live_map_with_usage():
    maps = memmaps.regions(usage=True)
    frame = maps.to_dataframe()
    assert len(frame) == len(maps)
    assert int(frame["usage_rss"].sum()) == maps.total().rss
    assert int(frame["size"].sum()) == sum(region.size for region in maps)
    by_category = frame.groupby("category", observed=False)["size"].sum()
    summary = maps.summary()
    for row in summary:
        assert int(by_category[row.category]) == row.size


MISSING = textwrap.dedent(
    """
    import sys
    sys.modules["pandas"] = None   # as if it were not installed
    import memmaps
    try:
        memmaps.regions().to_dataframe()
    except ImportError as error:
        print(type(error).__name__, error.name)
        print(error)
    """
)


def test_missing_pandas_names_the_extra():
    done = subprocess.run(
        [sys.executable, "-c", MISSING],
        capture_output=True,
        text=True,
        env=procutil.python_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    kind, message = done.stdout.splitlines()
    assert kind == "ModuleNotFoundError pandas"
    assert message.startswith("Maps.to_dataframe() needs pandas, which could not be imported")
    assert message.endswith("pip install 'memmaps[pandas]'")


def test_missing_pandas_in_process(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'memmaps\[pandas\]'"):
        Maps([Region(0x1000, 0x2000, "r--p")]).to_dataframe()
