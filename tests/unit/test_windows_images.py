"""The Windows platform module's own logic, on Linux: the PE symbol table
(memmaps/_platform/windows.py, PESymbols) over a mingw-built DLL laid out in
this process's memory as the loader maps it, read through the C core as
the Windows backend reads a module (ImageFile on memory); the module key
and the path comparison.  The backend's own calls are tested under Wine
(tests/wine/)."""

from __future__ import annotations

import ctypes
import os
import sys

import pytest

from memmaps import Maps, _core
from memmaps._platform import native, windows
from tests.helpers import pesim
from tests.native.test_image_file_pe import build, mapped  # noqa: F401 (fixtures)
from tests.unit.test_windows_map import FIXTURE, parse_fields

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="lays the DLL out with Linux's mmap and mprotect"
)


def record_of(load: int, image_file: _core.ImageFile) -> native.ImageRecord:
    image_base, size_of_image = image_file.header[3], image_file.header[4]
    return native.ImageRecord(
        path="C:\\test\\lib.dll",
        base=load,
        end=load + size_of_image,
        bias=load - image_base,
        build_id=image_file.build_id,
        dev_major=0,
        dev_minor=0,
        inode=0,
        flags=native.IMAGE_FROM_MEMORY,
        format="pe",
        source=None,
        header=load,
        segments=(),
        load_order=3,
    )


def test_exports_at_their_runtime_addresses(mapped):  # noqa: F811
    load, data = mapped
    image_file = _core.ImageFile(pid=os.getpid(), load_address=load, format="pe")
    record = record_of(load, image_file)
    table = windows.PESymbols(None, record)
    image = native.make_image(record, Maps(), table)
    assert image.bias == record.bias and image.build_id == image_file.build_id.hex()
    named = [
        (name, value)
        for name, _ordinal, value, forwarder in image_file.exports()
        if name is not None and forwarder is None
    ]
    assert {"exported_function", "exported_global", "another"} <= {name for name, _ in named}
    image_base = image_file.header[3]
    for name, value in named:
        rva = value - image_base
        assert image.symbol(name) == load + rva
        # What is there is the file's bytes at that RVA: the export table
        # was read from memory, where the loader put the module.
        offset = pesim.parse(data).rva_to_offset(rva)
        assert ctypes.string_at(load + rva, 4) == data[offset : offset + 4]
    # A forwarder names another DLL's code: not a symbol of this one.
    assert image.symbol("forwarded_sleep") is None
    assert image.symbol("nosuch") is None
    # Ordinal-only exports by their number.
    assert table.find("#5") is not None


def test_covering_names_the_export_that_holds_an_address(mapped):  # noqa: F811
    load, _data = mapped
    image_file = _core.ImageFile(pid=os.getpid(), load_address=load, format="pe")
    record = record_of(load, image_file)
    table = windows.PESymbols(None, record)
    function = table.find("exported_function")
    assert function is not None and function.kind == "function"
    inside, before = table.covering([function.value + 1, image_file.header[3]])
    assert inside is not None and inside.name == "exported_function"
    assert inside.value == function.value
    assert before is None  # the headers hold no export


def test_an_unreadable_module_has_no_symbols():
    # A header the process cannot read (address 0): the table is empty, no
    # error reaches the caller.
    record = native.ImageRecord(
        "C:\\gone.dll", 0, 0x1000, 0, None, 0, 0, 0, 0, "pe", None, 0, (), 0
    )
    table = windows.PESymbols(None, record)
    assert table.find("anything") is None
    assert table.covering([1, 2]) == [None, None]


def test_the_module_key_is_the_image_allocations(monkeypatch):
    wine = parse_fields(FIXTURE.read_text(encoding="utf-8"))
    monkeypatch.setattr(windows, "regions", lambda pid, usage: wine)
    key = windows.images_key(None)
    images = {(r.allocation_base, r.path) for r in wine if r.tag == "image"}
    assert key == images and len(key) >= 5
    assert all(path.lower().endswith((".dll", ".exe")) for _base, path in key)
    # A data file mapped, or memory allocated, leaves the key alone.
    more = Maps(
        [*wine, wine[-1]._replace(start=0x7FFF0000000, end=0x7FFF0010000, tag="mapped")], 36
    )
    monkeypatch.setattr(windows, "regions", lambda pid, usage: more)
    assert windows.images_key(None) == key


def test_windows_paths_compare_as_windows_compares_them():
    key = windows.windows_path_key
    assert key("C:\\Windows\\System32\\NTDLL.DLL") == key("c:/windows/system32/ntdll.dll")
    assert key("C:\\a\\") == key("C:\\a")
    assert key("C:\\a\\b.dll") != key("C:\\a\\c.dll")


def test_loaded_gives_the_module_lists_order(monkeypatch):
    def record(path, base, order):
        return native.ImageRecord(
            path, base, base + 0x1000, 0, None, 0, 0, 0, 0, "pe", None, base, (), order
        )

    records = [
        record("C:\\w\\ntdll.dll", 0x7FF800000000, 1),
        record("C:\\w\\app.exe", 0x7FF900000000, 0),
    ]
    records.sort(key=lambda r: r.base)
    monkeypatch.setattr(native, "image_records", lambda pid: (records, Maps()))
    found = windows.loaded(None)
    assert found.how == "modules"
    assert [image.path for image in found.images] == [r.path for r in records]
    assert [image.path for image in found.order] == ["C:\\w\\app.exe", "C:\\w\\ntdll.dll"]
    unknown = [r._replace(load_order=native.LOAD_ORDER_UNKNOWN) for r in records]
    monkeypatch.setattr(native, "image_records", lambda pid: (unknown, Maps()))
    found = windows.loaded(None)
    assert found.how == "address" and found.order == found.images
