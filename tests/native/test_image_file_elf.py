"""ImageFile over ELF files built here, compared with what binutils says.

The dynamic section's names (DT_NEEDED in order, DT_SONAME), the CRC32
stored after the .gnu_debuglink name (checked against the CRC32 of the very
file objcopy linked), and the same names read from this process's memory,
where the dynamic loader has relocated DT_STRTAB.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from memmaps import _core
from memmaps.errors import ParseError

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("gcc") is None,
    reason="builds ELF files with gcc and compares them with binutils",
)

LIBC = Path("/lib/x86_64-linux-gnu/libc.so.6")


def image_file(path: Path, **kw: object) -> _core.ImageFile:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _core.ImageFile(fd, **kw)  # type: ignore[arg-type]
    finally:
        os.close(fd)


def gcc(out: Path, source: str, *flags: str) -> Path:
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-O1", "-o", str(out), str(src), *flags], check=True)
    return out


def readelf_dynamic(path: Path) -> tuple[list[str], str | None]:
    text = subprocess.run(
        ["readelf", "-dW", str(path)], check=True, capture_output=True, text=True
    ).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", text)
    soname = re.findall(r"\(SONAME\)\s+Library soname: \[(.*)\]", text)
    return needed, soname[0] if soname else None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("image_file_elf")
    lib = gcc(
        folder / "libnames.so",
        "int libnames_value(void) { return 3; }\n",
        "-shared",
        "-fPIC",
        "-Wl,-soname,libnames.so.7",
        "-Wl,--no-as-needed",
        "-lm",
        "-ldl",
        "-lpthread",
    )
    exe = gcc(
        folder / "uses_names",
        "int libnames_value(void);\nint main(void) { return libnames_value() - 3; }\n",
        f"-L{folder}",
        "-Wl,--no-as-needed",
        "-lnames",
        "-lm",
    )
    static = gcc(folder / "static", "int main(void) { return 0; }\n", "-static")
    debug = folder / "uses_names.debug"
    subprocess.run(["objcopy", "--only-keep-debug", str(exe), str(debug)], check=True)
    linked = folder / "uses_names.linked"
    subprocess.run(
        ["objcopy", "--strip-debug", f"--add-gnu-debuglink={debug}", str(exe), str(linked)],
        check=True,
    )
    return {"lib": lib, "exe": exe, "static": static, "debug": debug, "linked": linked}


@pytest.mark.parametrize("name", ["lib", "exe", "linked"])
@pytest.mark.parametrize("sections", [True, False])
def test_needed_and_soname_match_readelf(built: dict[str, Path], name: str, sections: bool) -> None:
    needed, soname = readelf_dynamic(built[name])
    assert needed, "the test files are linked with libraries"
    elf = image_file(built[name], sections=sections)
    assert elf.needed == tuple(needed)
    assert elf.soname == soname


def test_soname_of_the_library(built: dict[str, Path]) -> None:
    assert image_file(built["lib"]).soname == "libnames.so.7"
    # The linker records the library by its soname, not its file name.
    assert image_file(built["exe"]).needed[0] == "libnames.so.7"


@pytest.mark.parametrize("path", [LIBC, Path(sys.executable).resolve()])
def test_needed_of_installed_files(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    needed, soname = readelf_dynamic(path)
    elf = image_file(path)
    assert (elf.needed, elf.soname) == (tuple(needed), soname)


def test_no_dynamic_section(built: dict[str, Path]) -> None:
    # A static executable has none; a separate debug file keeps PT_DYNAMIC
    # but its .dynamic has no bytes (SHT_NOBITS).
    for name in ("static", "debug"):
        elf = image_file(built[name])
        assert (elf.needed, elf.soname) == ((), None)


def test_debuglink_crc_is_that_of_the_debug_file(built: dict[str, Path]) -> None:
    elf = image_file(built["linked"])
    assert elf.debuglink == "uses_names.debug"
    assert elf.debuglink_crc == zlib.crc32(built["debug"].read_bytes())
    assert image_file(built["exe"]).debuglink_crc is None


def test_debuglink_crc_of_installed_files() -> None:
    for path in (Path("/bin/ls"), LIBC):
        if not path.exists():
            continue
        dump = subprocess.run(
            ["readelf", "-x", ".gnu_debuglink", str(path)], capture_output=True, text=True
        ).stdout
        words = re.findall(r"^\s+0x[0-9a-f]+ ((?:[0-9a-f]{8} ?){1,4})", dump, re.M)
        if not words:
            continue
        raw = bytes.fromhex("".join(w.replace(" ", "") for w in words))
        name_end = raw.index(b"\0")
        at = (name_end + 4) & ~3
        want = int.from_bytes(raw[at : at + 4], "little")
        assert image_file(path).debuglink_crc == want


def own_image(path: str) -> tuple[bytes, int]:
    """The image of path as this process has it mapped, each mapping's bytes
    at its file offset (as memmaps reads an image from memory), and its load
    bias."""
    maps = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and os.path.realpath(fields[5]) == path:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                maps.append((start, end, int(fields[2], 16), fields[1]))
    size = max(offset + end - start for start, end, offset, _ in maps)
    image = bytearray(size)
    with open("/proc/self/mem", "rb", buffering=0) as mem:
        for start, end, offset, perms in maps:
            if perms[0] != "r":
                continue
            mem.seek(start)
            image[offset : offset + end - start] = mem.read(end - start)
    first = min(maps)
    return bytes(image), first[0] - first[2]


def test_needed_read_from_memory_with_the_dynamic_bias() -> None:
    libc = os.path.realpath(LIBC)
    if not os.path.exists(libc):
        pytest.skip(f"{LIBC} is not on this machine")
    image, bias = own_image(libc)
    assert bias != 0, "libc is loaded at a random address"
    from_file = image_file(Path(libc))
    in_memory = _core.ImageFile(image, format="elf", sections=False, dynamic_bias=bias)
    assert in_memory.needed == from_file.needed
    assert in_memory.soname == from_file.soname == "libc.so.6"
    # Without the bias, DT_STRTAB (relocated in memory) is no file address.
    with pytest.raises(ParseError, match="DT_STRTAB"):
        _ = _core.ImageFile(image, format="elf", sections=False).needed


def test_needed_of_macho_is_not_read() -> None:
    # The smallest Mach-O header with no load commands.
    header = bytes.fromhex("cffaedfe07000001030000000200000000000000000000000000000000000000")
    macho = _core.ImageFile(header)
    with pytest.raises(NotImplementedError, match="macho"):
        _ = macho.needed
    assert macho.debuglink_crc is None
