"""ImageFile over PE images built here with mingw-w64, compared with what
x86_64-w64-mingw32-objdump says of the same file: the format told by "MZ",
the CodeView build id, the sections as segments, the exports as symbols
(valued ImageBase + RVA, before the bias), forwarders listed but never
found as this image's own, ordinal-only exports found as "#N", symbolize()
from the export table, and the same answers from a descriptor, from bytes,
and from the image laid out as the loader maps it (memory=True).

An export records no size: it holds the addresses up to the next export,
the last of a section up to the section's end.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import memmaps
from memmaps import _core
from tests.helpers import pesim
from tests.native.test_pe import Builder, read_objdump, require_mingw


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    return Builder(tmp_path_factory.mktemp("pe-image-file"))


def opened(path: Path, how: str) -> _core.ImageFile:
    if how == "descriptor":
        fd = os.open(path, os.O_RDONLY)
        try:
            return _core.ImageFile(fd)
        finally:
            os.close(fd)
    if how == "bytes":
        return _core.ImageFile(path.read_bytes())
    return _core.ImageFile(pesim.layout(path.read_bytes()), memory=True, format="pe")


HOWS = ["descriptor", "bytes", "memory"]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("arch", ["x86_64", "i686"])
def test_against_objdump(build: Builder, arch: str, how: str) -> None:
    require_mingw(arch)
    path = build.dll(arch)
    ref = read_objdump(path)
    image = opened(path, how)
    assert image.format == "pe"
    is64, machine, characteristics, image_base, size_of_image = image.header
    assert is64 == (arch == "x86_64")
    assert machine == (0x8664 if arch == "x86_64" else 0x14C)
    assert characteristics == int(ref.header["Characteristics"], 16)
    assert image_base == int(ref.header["ImageBase"], 16)
    assert size_of_image == int(ref.header["SizeOfImage"], 16)

    assert ref.rsds is not None and image.build_id is not None
    guid, age = ref.rsds
    assert image.build_id.hex() == guid + f"{age:08x}"

    assert len(image.segments) == len(ref.sections)
    for (name, vaddr, vsize, raw_offset, _raw_size, _flags, prot), theirs in zip(
        image.segments, ref.sections, strict=True
    ):
        assert name == theirs["name"] or (name.startswith("/") and len(str(theirs["name"])) > 8)
        assert vaddr == theirs["vma"] and vsize == theirs["size"]
        assert raw_offset == theirs["file_off"]
        flagset = theirs["flags"]
        assert isinstance(flagset, set)
        assert ("READONLY" in flagset) == (not prot & 2)

    assert ref.ordinal_base is not None
    exports = image.exports()
    by_name = {name: (ordinal, value, forwarder) for name, ordinal, value, forwarder in exports}
    for name, index in ref.names.items():
        ordinal, value, forwarder = by_name[name]
        rva, their_forwarder = ref.addresses[index + ref.ordinal_base]
        assert ordinal == index + ref.ordinal_base
        assert forwarder == their_forwarder
        if forwarder is None:
            assert value == image_base + rva
            found = image.symbol(name)
            assert found is not None and found[0] == value
            assert found[3] is True and found[4] is False
        else:
            assert value is None and image.symbol(name) is None
    assert image.symbol("no_such_export") is None

    # Kinds: code in an executable section, the DATA export an object.
    function = image.symbol("exported_function")
    data = image.symbol("exported_global")
    assert function is not None and function[2] == "function"
    assert data is not None and data[2] == "object"

    # The ordinal-only export: "#5" by symbol(), named so by symbolize().
    unnamed = [e for e in exports if e[0] is None]
    assert [e[1] for e in unnamed] == [5]
    five = image.symbol("#5")
    assert five is not None and five[0] == unnamed[0][2]
    # It holds the bytes up to "another", the next export.
    another = image.symbol("another")
    assert another is not None and another[0] > five[0]
    assert image.symbolize(five[0]) == ("#5", five[0], another[0] - five[0], "function")


@pytest.mark.parametrize("how", HOWS)
def test_symbolize(build: Builder, how: str) -> None:
    """Each export's value symbolizes to it, a byte inside it too; an
    export holds up to the next one, and nothing holds an address that
    no export precedes in its section."""
    path = build.dll()
    image = opened(path, how)
    own = sorted(
        (value, name) for name, _, value, forwarder in image.exports() if value is not None
    )
    for (value, name), (following, _) in zip(own, [*own[1:], (None, None)], strict=True):
        found = image.symbolize(value)
        assert found is not None
        expected = name if name is not None else found[0]
        assert found[0] == expected and found[1] == value
        if following is not None and following > value and found[3] == "function":
            assert found[2] <= following - value
        if found[2]:
            assert image.symbolize(value + found[2] - 1) == found
    image_base = image.header[3]
    assert image.symbolize(image_base) is None  # the headers hold no export
    assert image.symbolize_many([v for v, _ in own]) == [image.symbolize(v) for v, _ in own]


def test_load_lets_go(build: Builder) -> None:
    image = _core.ImageFile(build.dll().read_bytes())
    before = (image.exports(), image.symbol("another"), image.build_id)
    image.load()
    assert image.loaded
    assert (image.exports(), image.symbol("another"), image.build_id) == before
    value = image.symbol("exported_function")
    assert value is not None and image.symbolize(value[0]) is not None


def test_executable(build: Builder) -> None:
    image = _core.ImageFile(build.exe().read_bytes())
    assert [e[0] for e in image.exports()] == ["exported_from_exe"]
    assert image.build_id is not None


def test_without_exports_or_build_id(build: Builder) -> None:
    image = _core.ImageFile(build.dll("x86_64", build_id=False).read_bytes())
    assert image.build_id is None
    stripped = _core.ImageFile(build.stripped().read_bytes())
    assert stripped.exports() == _core.ImageFile(build.dll().read_bytes()).exports()


def test_not_a_pe_image(build: Builder) -> None:
    data = bytearray(build.stripped().read_bytes())
    pesim.put32(data, 0x3C, 0xFFFFFFF0)
    with pytest.raises(memmaps.ParseError, match="e_lfanew"):
        _core.ImageFile(bytes(data))
    with pytest.raises(ValueError, match="'pe'"):
        _core.ImageFile(bytes(data), format="coff")
    with pytest.raises(NotImplementedError):
        _core.ImageFile(Path("/proc/self/exe").read_bytes()).exports()


def test_corrupt_export_table(build: Builder) -> None:
    """A corrupt export directory raises ParseError from the lookups, with
    the reader's message, and the headers still read."""
    data = bytearray(build.stripped().read_bytes())
    headers = pesim.parse(bytes(data))
    pesim.put32(data, headers.export_field("NumberOfFunctions"), 0x10001)
    image = _core.ImageFile(bytes(data))
    assert image.build_id is not None and image.segments
    for call in (image.exports, lambda: image.symbol("another"), lambda: image.symbolize(0)):
        with pytest.raises(memmaps.ParseError, match="65536"):
            call()
