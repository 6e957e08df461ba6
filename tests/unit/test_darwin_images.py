"""The macOS image path of the Python layer, run here on real Mach-O files.

On macOS, images() takes dyld's list of load addresses and reads each
Mach-O from the process's memory (memmaps/darwin.py).  Here a zig-built
dylib is laid out in this process's own memory at a slide, as dyld would
map it, and dyld's list is stood in for by one entry pointing at it; the
Mach-O is then read back through read_memory exactly as on a Mac.
"""

from __future__ import annotations

import ctypes
import mmap

import pytest

import memmaps
from memmaps import _core, darwin
from tests.helpers import crosscc, machosim

PROGRAM = """
int exported_global = 0x5eed;
static int only_local = 7;
int *volatile keep = &only_local;
int exported_function(void) { return only_local + exported_global; }
"""


@pytest.fixture(scope="module")
def dylib(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    crosscc.require_zig()
    folder = tmp_path_factory.mktemp("darwin-images")
    source = folder / "lib.c"
    source.write_text(PROGRAM)
    out = folder / "lib.dylib"
    proc = crosscc.run(
        ["cc", "-target", "aarch64-macos", "-O1", "-shared", str(source), "-o", str(out)],
        timeout=crosscc.LINK_TIMEOUT,
    )
    assert proc.returncode == 0, crosscc.describe(proc)
    return out.read_bytes()


@pytest.fixture
def loaded(dylib: bytes, monkeypatch: pytest.MonkeyPatch):
    """The dylib's segments mapped in this process at a slide, and dyld's
    list standing in with that one image."""
    parsed = machosim.parse(dylib)
    low = min(s.vmaddr for s in parsed.segments if s.filesize)
    high = max(s.vmaddr + s.vmsize for s in parsed.segments if s.vmsize)
    # An inaccessible page on either side keeps the kernel from merging the
    # image's mapping with its neighbours.
    page = mmap.PAGESIZE
    area = mmap.mmap(
        -1,
        high - low + 2 * page,
        flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
        prot=mmap.PROT_READ | mmap.PROT_WRITE,
    )
    start = ctypes.addressof(ctypes.c_char.from_buffer(area))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    for guard in (start, start + page + high - low):
        assert libc.mprotect(guard, page, 0) == 0, ctypes.get_errno()  # PROT_NONE
    base = start + page
    slide = base - low
    for vmaddr, data in machosim.image_segments(dylib):
        offset = page + vmaddr - low
        area[offset : offset + len(data)] = data
    load_address = parsed.text.vmaddr + slide
    monkeypatch.setattr(
        _core,
        "dyld_images",
        lambda pid: (17, None, None, ((load_address, "/usr/lib/libx.dylib", False),)),
    )
    yield slide, load_address, base, high - low
    area.close()


def test_image_from_memory(loaded, dylib: bytes) -> None:
    slide, _load_address, base, size = loaded
    (image,) = darwin.find_images(None, memmaps.regions())
    assert image.path == "/usr/lib/libx.dylib"
    assert image.bias == slide
    from_file = _core.MachOFile(dylib)
    assert image.build_id == from_file.uuid.hex()
    assert base <= image.base < image.end <= base + size
    # Symbols come from LC_SYMTAB read through __LINKEDIT in memory, C names
    # without their underscore, at the file's value plus the slide.
    for name in ("exported_global", "only_local", "exported_function"):
        value = from_file.symbol("_" + name)[0]
        assert image.symbol(name) == value + slide
    assert image.symbol("no_such_symbol") is None
    assert ctypes.c_int.from_address(image.symbol("exported_global")).value == 0x5EED


def test_regions_named_after_the_image(loaded) -> None:
    _slide, load_address, base, size = loaded
    maps = memmaps.regions()
    if memmaps.BACKEND != "macos":  # regions() names it already on a Mac
        assert maps.at(load_address).path is None  # an anonymous mapping here
    named = darwin.name_regions(None, maps)
    region = named.at(load_address)
    assert (region.path, region.tag, region.kind) == ("/usr/lib/libx.dylib", "__TEXT", "file")
    # Regions outside the image keep what they had.
    assert [r for r in named if not base <= r.start < base + size] == [
        r for r in maps if not base <= r.start < base + size
    ]


def test_a_torn_header_is_left_out(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    _slide, load_address, _base, _size = loaded
    bogus = (load_address + 8, "/usr/lib/bogus.dylib", False)
    good = _core.dyld_images(-1)[3][0]
    monkeypatch.setattr(_core, "dyld_images", lambda pid: (17, None, None, (bogus, good)))
    assert [image.path for image in darwin.find_images(None, memmaps.regions())] == [
        "/usr/lib/libx.dylib"
    ]


def test_dyld_list_is_macos_only() -> None:
    if memmaps.BACKEND == "macos":
        pytest.skip("this system has dyld")
    with pytest.raises(memmaps.UnsupportedPlatform, match="only on macOS"):
        _core.dyld_images(-1)


def test_memory_reader_refuses_an_unreadable_header() -> None:
    with pytest.raises(memmaps.ParseError):
        _core.MachOFile(pid=-1, load_address=8)
