"""ImageFile over PE images built here with mingw-w64, compared with what
x86_64-w64-mingw32-objdump says of the same file: the format told by "MZ",
the CodeView build id, the sections as segments, the exports as symbols
(valued ImageBase + RVA, before the bias), forwarders listed but never
found as this image's own, ordinal-only exports found as "#N", symbolize()
from the export table, and the same answers from a descriptor, from bytes,
from the image laid out as the loader maps it (memory=True), and from this
process's own memory where such a layout was put (pid=, load_address=, the
path the Windows backend takes); and an Image over the exports, whose
symbol() gives load base + RVA.

An export records no size: it holds the addresses up to the next export,
the last of a section up to the section's end.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from random import Random

import pytest

import memmaps
from memmaps import _core
from memmaps.images import FileSymbol, Image
from memmaps.maps import Maps
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


@pytest.fixture
def mapped(build: Builder) -> Iterator[tuple[int, bytes]]:
    """The DLL laid out in this process's memory as the loader would map
    it, between two inaccessible pages: (load base, the file)."""
    data = build.dll().read_bytes()
    memory = pesim.layout(data)
    page = mmap.PAGESIZE
    size = -(-len(memory) // page) * page
    area = mmap.mmap(
        -1,
        size + 2 * page,
        flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
        prot=mmap.PROT_READ | mmap.PROT_WRITE,
    )
    start = ctypes.addressof(ctypes.c_char.from_buffer(area))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    for guard in (start, start + page + size):
        assert libc.mprotect(guard, page, 0) == 0, ctypes.get_errno()  # PROT_NONE
    area[page : page + len(memory)] = memory
    yield start + page, data
    area.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads its own memory")
def test_from_process_memory(mapped: tuple[int, bytes]) -> None:
    """ImageFile(pid=, load_address=) reads the headers and tables from a
    process's memory at their RVAs, as the Windows backend does with
    ReadProcessMemory: the same answers as the file."""
    load, data = mapped
    image = _core.ImageFile(pid=os.getpid(), load_address=load, format="pe")
    on_file = _core.ImageFile(data)
    assert image.header == on_file.header
    assert image.segments == on_file.segments
    assert image.build_id == on_file.build_id
    assert image.exports() == on_file.exports()
    assert image.symbol("exported_function") == on_file.symbol("exported_function")
    image.load()
    assert image.symbol("#5") == on_file.symbol("#5")


class ExportTable:
    """A SymbolTable (memmaps.images) over an ImageFile's exports, the shape
    a platform's symbol path gives an Image."""

    def __init__(self, image: _core.ImageFile) -> None:
        self.image = image

    def find(self, name: str) -> FileSymbol | None:
        found = self.image.symbol(name)
        return None if found is None else FileSymbol(name, *found)

    def covering(self, vaddrs: Sequence[int]) -> list[FileSymbol | None]:
        return [
            None if m is None else FileSymbol(m[0], m[1], m[2], m[3], True, False)
            for m in self.image.symbolize_many(list(vaddrs))
        ]


def test_image_symbols(mapped: tuple[int, bytes]) -> None:
    """An Image whose bias is load base - ImageBase gives each export at
    load base + RVA, where the bytes of the mapped image are."""
    load, data = mapped
    image_file = _core.ImageFile(pid=os.getpid(), load_address=load, format="pe")
    image_base, size_of_image = image_file.header[3], image_file.header[4]
    image = Image(
        "lib.dll",
        load,
        load + size_of_image,
        load - image_base,
        None,
        Maps(),
        ExportTable(image_file),
    )
    for name, _ordinal, value, forwarder in image_file.exports():
        if name is None or forwarder is not None:
            continue
        rva = value - image_base
        assert image.symbol(name) == load + rva
        # The bytes there are the file's bytes at that RVA.
        offset = pesim.parse(data).rva_to_offset(rva)
        assert ctypes.string_at(load + rva, 4) == data[offset : offset + 4]
    assert image.symbol("forwarded_sleep") is None
    function = image.symbol("exported_function")
    assert function is not None
    covering = ExportTable(image_file).covering([function - image.bias + 1])
    assert covering[0] is not None and covering[0].name == "exported_function"


def test_wine_kernel32() -> None:
    """Wine's kernel32.dll: most of its exports forward to NTDLL, which
    symbol() does not take for kernel32's own; the others it finds."""
    path = Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows/kernel32.dll")
    if not path.is_file():
        pytest.skip(f"no {path} (apt-get install wine64)")
    image = _core.ImageFile(path.read_bytes())
    exports = image.exports()
    forwarded = [e for e in exports if e[3] is not None]
    own = [e for e in exports if e[3] is None and e[0] is not None]
    assert forwarded and own
    for name, _ordinal, value, _ in own[:: max(1, len(own) // 50)]:
        found = image.symbol(name)
        assert found is not None and found[0] == value
        assert image.symbolize(value) is not None
    for name, _ordinal, _value, forwarder in forwarded[:50]:
        assert name is not None and image.symbol(name) is None
        dll, _, function = forwarder.partition(".")
        assert dll and function, forwarder


def test_changed_bytes(build: Builder) -> None:
    """Copies of a DLL with a few bytes changed in its headers and tables,
    and prefixes of it, as files and in memory: each opens and answers, or
    raises memmaps.Error; nothing else (the CI run repeats this under
    AddressSanitizer)."""
    data = build.stripped().read_bytes()
    headers = pesim.parse(data)
    export = headers.rva_to_offset(headers.directories[0][0])
    random = Random(13)
    copies = [data[:n] for n in range(0, len(data), 97)]
    for _ in range(300):
        copy = bytearray(data)
        for _ in range(random.randint(1, 6)):
            where = random.choice([random.randrange(1024), export + random.randrange(256)])
            copy[where] = random.randrange(256)
        copies.append(bytes(copy))
    for copy in copies:
        for memory in (False, True):
            try:
                image = _core.ImageFile(copy, format="pe", memory=memory)
                image.build_id, image.segments, image.header  # noqa: B018
                exports = image.exports()
                for name, _ordinal, value, _ in exports[:20]:
                    # (symbol() takes names as UTF-8: one that came back
                    # with surrogates for undecodable bytes is not asked.)
                    if name is not None and name.isascii():
                        image.symbol(name)
                    if value is not None:
                        image.symbolize(value)
                image.load()
                image.symbol("exported_function")
            except memmaps.Error:
                pass
