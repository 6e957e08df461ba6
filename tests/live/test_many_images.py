"""images() and symbol() on a process holding thousands of mapped images
(tests/targets/many_images.c, N copies of tests/targets/tiny_image.c, each
its own file).

What memmaps says is compared with the kernel's /proc/PID/maps (procutil's
reference parser) and with binutils' view of the library file (nm,
readelf).  The reader must hold no descriptor per image, and must still
work with the 1024 descriptors a default soft limit gives.  The default run
has a case above that limit; the 8000-image cases are marked slow (their
copies of the library alone are some 110 MB to write).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memmaps
from tests.helpers import procutil

pytestmark = pytest.mark.skipif(
    memmaps.BACKEND != "linux", reason="the target maps Linux ELF libraries"
)

REPO = Path(__file__).resolve().parents[2]
# Above the soft limit of the limited reader: a descriptor kept per image
# would run out before the last image.
DEFAULT_COUNT = 1200
LARGE_COUNT = 8000
READER_SOFT_LIMIT = 1024
COUNTS = [DEFAULT_COUNT, pytest.param(LARGE_COUNT, marks=pytest.mark.slow)]


class Library:
    """The small library and what binutils says of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        for tool in ("nm", "readelf"):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} (binutils) is not installed")
        symbols = subprocess.run(
            ["nm", "-S", "--defined-only", str(path)], capture_output=True, text=True, check=True
        ).stdout
        self.values: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        for fields in (line.split() for line in symbols.splitlines()):
            self.values[fields[-1]] = int(fields[0], 16)
            if len(fields) == 4:
                self.sizes[fields[-1]] = int(fields[1], 16)
        notes = subprocess.run(
            ["readelf", "-nW", str(path)], capture_output=True, text=True, check=True
        ).stdout
        match = re.search(r"Build ID: ([0-9a-f]+)", notes)
        assert match, notes
        self.build_id = match[1]
        headers = subprocess.run(
            ["readelf", "-lW", str(path)], capture_output=True, text=True, check=True
        ).stdout
        loads = [line.split() for line in headers.splitlines() if line.split()[:1] == ["LOAD"]]
        # The bias is where the first PT_LOAD's page went, less its vaddr.
        self.first_vaddr = int(loads[0][2], 16) & ~(os.sysconf("SC_PAGESIZE") - 1)


class Built:
    def __init__(self, folder: Path) -> None:
        self.exe = procutil.compile_target("many_images", folder / "many_images", "-ldl")
        library = procutil.compile_target(
            "tiny_image", folder / "tiny_image.so", "-shared", "-fPIC", "-nostdlib"
        )
        self.library = Library(library)
        self.libs = folder / "libs"
        self.libs.mkdir()
        os.chmod(self.libs, 0o755)
        self._copies = 0

    def copies(self, count: int) -> Path:
        """The folder, holding at least count copies of the library."""
        template = self.library.path.read_bytes()
        for index in range(self._copies, count):
            (self.libs / f"img{index:05d}.so").write_bytes(template)
        self._copies = max(self._copies, count)
        return self.libs


@pytest.fixture(scope="module")
def built(live_bindir):
    return Built(procutil.world_dir(live_bindir))


def launch(built: Built, mode: str, count: int) -> procutil.Ready:
    return procutil.launch_ready([built.exe, mode, built.copies(count), count])


def mapped_copies(pid: int, libs: Path) -> dict[str, list[procutil.RefRegion]]:
    """The kernel's regions of each copy, by path, in address order."""
    found: dict[str, list[procutil.RefRegion]] = {}
    for region in procutil.parse_maps(procutil.read_maps(pid)):
        if region.path is not None and region.path.startswith(f"{libs}/"):
            found.setdefault(region.path, []).append(region)
    return found


def check_images(found, pid: int, built: Built, count: int) -> None:
    """found: (path, base, end, bias, build_id) of every image memmaps gave."""
    kernel = mapped_copies(pid, built.libs)
    assert len(kernel) == count
    mine = {image[0]: image for image in found if image[0].startswith(f"{built.libs}/")}
    assert sorted(mine) == sorted(kernel)
    for path, regions in kernel.items():
        _path, base, end, bias, build_id = mine[path]
        assert regions[0].offset == 0
        assert base == regions[0].start, path
        assert end == regions[-1].end, path
        assert bias == base - built.library.first_vaddr, path
        assert build_id == built.library.build_id, path
    bases = [image[1] for image in found]
    assert bases == sorted(bases)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


# dlopen() of 8000 libraries is quadratic in glibc (each one looks through
# all loaded before): seconds for no more coverage than mmap gives.
@pytest.mark.parametrize(
    ("mode", "count"),
    [
        ("mmap", DEFAULT_COUNT),
        ("dlopen", DEFAULT_COUNT),
        pytest.param("mmap", LARGE_COUNT, marks=pytest.mark.slow),
    ],
)
def test_every_image_is_found_and_none_holds_a_descriptor(built, mode, count):
    target = launch(built, mode, count)
    try:
        before = open_descriptors()
        images = memmaps.images(target.pid)
        assert open_descriptors() == before
        check_images(
            [(i.path, i.base, i.end, i.bias, i.build_id) for i in images],
            target.pid,
            built,
            count,
        )
        with memmaps.Process(target.pid) as process:
            # No image defines it: every image's table is read.
            with pytest.raises(memmaps.SymbolNotFound):
                process.symbol("no_such_symbol_anywhere")
            assert open_descriptors() == before
            # The first copy searched and the last, whose table was read
            # when most others were: both answer.
            order, _how = process.search_order
            copies = [image for image in order if image.path.startswith(f"{built.libs}/")]
            for image in (copies[0], copies[-1]):
                found = process.symbol("tiny_function", image=image.path)
                assert found.address == image.bias + built.library.values["tiny_function"]
                assert found.image == image
        assert open_descriptors() == before
    finally:
        procutil.stop(target.proc)


# The reader, in a process of its own with its soft descriptor limit
# lowered; it prints what it found as JSON.
LIMITED_READER = r"""
import json, os, resource, sys
_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[2]), hard))
import memmaps

def descriptors():
    return len(os.listdir("/proc/self/fd"))

pid, libs = int(sys.argv[1]), sys.argv[3]
before = descriptors()
images = memmaps.images(pid)
after_images = descriptors()
with memmaps.Process(pid) as process:
    try:
        process.symbol("no_such_symbol_anywhere")
        missing = False
    except memmaps.SymbolNotFound:
        missing = True
    during = descriptors()
    # The copy whose table was read last, and the first: both answer.
    order, _how = process.search_order
    copies = [image for image in order if image.path.startswith(libs + "/")]
    answers = {
        image.path: [image.bias, process.symbol("tiny_function", image=image.path).address]
        for image in (copies[0], copies[-1])
    }
print(json.dumps({
    "images": [[i.path, i.base, i.end, i.bias, i.build_id] for i in images],
    "before": before, "after_images": after_images, "during": during,
    "after": descriptors(), "missing": missing, "answers": answers,
}))
"""


@pytest.mark.parametrize("count", COUNTS)
def test_a_reader_limited_to_1024_descriptors(built, count):
    target = launch(built, "mmap", count)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                LIMITED_READER,
                str(target.pid),
                str(READER_SOFT_LIMIT),
                str(built.libs),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=procutil.python_env(),
            # Generous: proves it does not hang, whatever the machine.
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        check_images([tuple(image) for image in report["images"]], target.pid, built, count)
        assert report["missing"]
        assert report["before"] == report["after_images"] == report["during"] == report["after"]
        assert len(report["answers"]) == 2
        for bias, address in report["answers"].values():
            assert address == bias + built.library.values["tiny_function"]
    finally:
        procutil.stop(target.proc)


def test_symbolize_across_the_images(built):
    """Addresses in every copy's function and variable, shuffled as a
    profiler's samples come, each answered with its own copy."""
    library = built.library
    target = launch(built, "mmap", DEFAULT_COUNT)
    try:
        copies = [
            image for image in memmaps.images(target.pid) if image.path.startswith(f"{built.libs}/")
        ]
        assert len(copies) == DEFAULT_COUNT
        rng = random.Random(7)
        asked: list[tuple[int, tuple | None]] = []
        for image in copies:
            for name, kind in (("tiny_function", "function"), ("tiny_value", "object")):
                offset = rng.randrange(library.sizes[name])
                address = image.bias + library.values[name]
                asked.append((address + offset, (name, address, kind, image, offset)))
            # The ELF header: mapped, in no symbol.
            asked.append((image.base, None))
        asked.append((0x10, None))  # no image there
        rng.shuffle(asked)
        addrs = [addr for addr, _want in asked]
        with memmaps.Process(target.pid) as process:
            for answers in (memmaps.symbolize(target.pid, addrs), process.symbolize(addrs)):
                assert len(answers) == len(asked)
                for (addr, want), got in zip(asked, answers, strict=True):
                    if want is None:
                        assert got is None, hex(addr)
                        continue
                    name, address, kind, image, offset = want
                    assert got is not None, hex(addr)
                    assert (got.name, got.address, got.kind, got.offset) == (
                        name,
                        address,
                        kind,
                        offset,
                    )
                    assert got.image == image
                    assert got.size == library.sizes[name]
            # Every element is checked, wherever it is in the list.
            for bad, error in (
                ([*addrs, True], TypeError),
                ([*addrs, "0x10"], TypeError),
                ([*addrs, -1], ValueError),
                ([2**64, *addrs], ValueError),
            ):
                with pytest.raises(error):
                    process.symbolize(bad)
    finally:
        procutil.stop(target.proc)
