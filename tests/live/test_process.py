"""memmaps.Process, read_memory() and the image= rules of symbol(), against
a real target that loads and unloads libraries when told
(tests/targets/dl_loader.c)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import memmaps
from tests.helpers import procutil

pytestmark = pytest.mark.skipif(
    memmaps.BACKEND != "linux", reason="the targets are Linux ELF programs"
)


class Loader:
    """A running dl_loader and the commands it takes."""

    def __init__(self, exe: Path) -> None:
        ready = procutil.launch_ready([exe])
        self.proc = ready.proc
        self.pid = ready.pid
        self.page = ready.addrs[0]

    def ask(self, command: str) -> list[str]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        words = procutil.read_line(self.proc).decode().split()
        assert words[0] != "error", words
        return words

    def open(self, path: Path) -> int:
        """dlopen()s path; the address of its lib_value as dlsym says."""
        return int(self.ask(f"open {path}")[2], 16)


@pytest.fixture(scope="module")
def bins(live_bindir):
    folder = procutil.world_dir(live_bindir)
    exe = procutil.compile_target("dl_loader", folder / "dl_loader", "-ldl")
    lib = procutil.compile_target("img_lib", folder / "libmmimg.so", "-shared", "-fPIC")
    other = folder / "other"
    other.mkdir()
    os.chmod(other, 0o755)
    # The same file name in another folder: a different file to the kernel.
    twin = Path(shutil.copy(lib, other / "libmmimg.so"))
    return exe, lib, twin


@pytest.fixture
def loader(bins):
    target = Loader(bins[0])
    try:
        yield target
    finally:
        procutil.stop(target.proc)


def test_generation_changes_when_images_do_and_only_then(loader, bins, tmp_path):
    _exe, lib, _twin = bins
    with memmaps.Process(loader.pid) as process:
        first = process.generation
        assert process.generation == first
        runtime_malloc = process.symbol("malloc")
        with pytest.raises(memmaps.SymbolNotFound):
            process.symbol("lib_value")
        # Memory and data files mapped are not images.
        data = tmp_path / "data"
        data.write_bytes(b"x" * 8192)
        loader.ask(f"map {data}")
        assert process.generation == first
        assert process.symbol("malloc") is runtime_malloc  # kept

        lib_value = loader.open(lib)
        loaded = process.generation
        assert loaded != first
        found = process.symbol("lib_value")
        assert found.address == lib_value
        assert found.image.path == str(lib)
        assert found.image in process.images()
        assert process.symbol("malloc") == runtime_malloc

        loader.ask("close")
        assert process.generation not in (first, loaded)
        with pytest.raises(memmaps.SymbolNotFound):
            process.symbol("lib_value")


def test_symbol_answers_as_the_function_does(loader, bins):
    lib_value = loader.open(bins[1])
    with memmaps.Process(loader.pid) as process:
        for name, image in (("lib_value", None), ("malloc", "libc"), ("lib_value", "libmmimg")):
            assert process.symbol(name, image) == memmaps.symbol(loader.pid, name, image)
        assert process.symbol("lib_value").address == lib_value
        assert memmaps.symbol_address(loader.pid, "lib_value") == lib_value


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_descriptor_is_held_per_image(loader, bins):
    loader.open(bins[1])
    before = _open_descriptors()
    with memmaps.Process(loader.pid) as process:
        images = process.images()
        assert len(images) >= 5
        # A name no image defines makes every image's tables be read,
        # debug files looked for included.
        with pytest.raises(memmaps.SymbolNotFound):
            process.symbol("no_such_symbol_anywhere")
        process.symbol("lib_value")
        assert _open_descriptors() == before
    assert _open_descriptors() == before


def test_image_by_stem_and_an_ambiguous_name(loader, bins):
    _exe, lib, twin = bins
    first = loader.open(lib)
    second = loader.open(twin)
    assert first != second
    with memmaps.Process(loader.pid) as process:
        assert process.symbol("lib_value", str(twin)).address == second
        assert process.symbol("lib_value", str(lib)).address == first
        for ambiguous in ("libmmimg.so", "libmmimg"):
            with pytest.raises(memmaps.SymbolNotFound) as raised:
                process.symbol("lib_value", ambiguous)
            message = str(raised.value)
            assert "ambiguous" in message
            assert str(lib) in message and str(twin) in message
        # Without image=, the one loaded first is the one dlsym would find.
        assert process.symbol("lib_value").address == first
        with pytest.raises(memmaps.SymbolNotFound, match="no image 'libnothing'"):
            process.symbol("lib_value", "libnothing")


def test_read_is_exact_or_an_error_that_says_how_far_it_got(loader):
    page = os.sysconf("SC_PAGE_SIZE")
    pattern = bytes(range(256)) * (page // 256)
    with memmaps.Process(loader.pid) as process:
        assert process.read(loader.page, page) == pattern
        assert process.read(loader.page + 10, 3) == pattern[10:13]
        assert process.read(loader.page, 0) == b""
        with pytest.raises(memmaps.MemoryReadError) as raised:
            process.read(loader.page + page - 16, 64)
        error = raised.value
        assert (error.address, error.read) == (loader.page + page - 16, 16)
        assert f"{loader.page + page:#x}" in str(error)
        assert isinstance(error, OSError) and isinstance(error, memmaps.Error)
    assert memmaps.read_memory(loader.pid, loader.page, 4) == pattern[:4]
    with pytest.raises(memmaps.MemoryReadError):
        memmaps.read_memory(loader.pid, loader.page + page, 1)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((-1, 1), ValueError),
        (("0x10", 1), TypeError),
        ((0, -1), ValueError),
        ((0, 1.5), TypeError),
        ((2**64 - 1, 2), ValueError),
    ],
)
def test_read_checks_its_arguments(args, error):
    with pytest.raises(error):
        memmaps.read_memory(None, *args)


def test_a_closed_or_missing_process(loader):
    process = memmaps.Process(loader.pid)
    process.close()
    with pytest.raises(ValueError, match="closed"):
        process.symbol("malloc")
    with pytest.raises(ValueError, match="closed"):
        _ = process.generation
    gone = procutil.unused_pid()
    with pytest.raises(memmaps.NoSuchProcess):
        memmaps.Process(gone)
    with pytest.raises(TypeError):
        memmaps.Process("1")  # type: ignore[arg-type]


def test_this_process_by_default():
    with memmaps.Process() as process:
        assert process.pid == os.getpid()
        found = process.symbol("PyList_New")
        assert found.kind == "function"
        with pytest.raises(memmaps.SymbolNotFound):
            process.symbol("")
        assert process.read(found.address, 1)
        assert "pid=" in repr(process)
