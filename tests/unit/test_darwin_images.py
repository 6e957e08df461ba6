"""The macOS platform module's symbol path, run here on a real Mach-O file.

On macOS the C core lists dyld's images (its portable half is tested with
tools/machodump.c in test_macho.py), and memmaps/_platform/macos.py reads
each image's symbols from the process's memory.  Here a zig-built dylib is
laid out in this process's own memory at a slide, as dyld would map it, and
the image record the C core would report for it is made by hand; the
Mach-O is then read back through read_memory exactly as on a Mac.
"""

from __future__ import annotations

import ctypes
import mmap

import pytest

import memmaps
from memmaps import _core
from memmaps._platform import macos, native
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
def loaded(dylib: bytes):
    """The dylib's segments mapped in this process at a slide."""
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
    yield slide, load_address, base, high - low
    area.close()


def _record(dylib: bytes, load_address: int, slide: int) -> native.ImageRecord:
    """What the C core reports for the image (formats/macho_images.c)."""
    parsed = machosim.parse(dylib)
    segments = tuple(
        (s.vmaddr + slide, s.vmaddr + s.vmsize + slide, s.name, "r-x")
        for s in parsed.segments
        if s.vmsize and s.name != "__PAGEZERO"
    )
    return native.ImageRecord(
        path="/usr/lib/libx.dylib",
        base=min(start for start, _, _, _ in segments),
        end=max(end for _, end, _, _ in segments),
        bias=slide,
        build_id=_core.ImageFile(dylib).build_id,
        dev_major=0,
        dev_minor=0,
        inode=0,
        flags=native.IMAGE_FROM_MEMORY,
        format="macho",
        source=None,
        header=load_address,
        segments=segments,
        load_order=0,
    )


def test_image_from_memory(loaded, dylib: bytes) -> None:
    slide, load_address, base, size = loaded
    record = _record(dylib, load_address, slide)
    image = native.make_image(record, memmaps.regions(), macos.MachOSymbols(None, record))
    assert image.path == "/usr/lib/libx.dylib"
    assert image.bias == slide
    from_file = _core.ImageFile(dylib)
    assert from_file.format == "macho"
    assert image.build_id == from_file.build_id.hex()
    assert base <= image.base < image.end <= base + size
    # The regions are those the segments cover: the mapping made above.
    assert image.regions and all(base <= r.start < base + size for r in image.regions)
    # Symbols come from LC_SYMTAB read through __LINKEDIT in memory, C names
    # without their underscore, at the file's value plus the slide.
    for name in ("exported_global", "only_local", "exported_function"):
        value = from_file.symbol("_" + name)[0]
        assert image.symbol(name) == value + slide
    assert image.symbol("no_such_symbol") is None
    assert ctypes.c_int.from_address(image.symbol("exported_global")).value == 0x5EED


def test_a_torn_header_finds_nothing(loaded, dylib: bytes) -> None:
    slide, load_address, _base, _size = loaded
    record = _record(dylib, load_address, slide)._replace(header=load_address + 8)
    image = native.make_image(record, memmaps.regions(), macos.MachOSymbols(None, record))
    assert image.symbol("exported_global") is None


def test_memory_reader_refuses_an_unreadable_header() -> None:
    with pytest.raises(memmaps.ParseError):
        _core.ImageFile(pid=-1, load_address=8, format="macho")
