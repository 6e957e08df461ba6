"""Live tests of images() and symbol_address(): real C targets (PIE with a
shared library, static non-PIE, self-deleting, replaced on disk, stripped
with a separate debug file) print their own addresses, and memmaps must find
the same ones.

Everything memmaps says is checked against sources that do not use it: the
kernel's /proc/PID/maps text (procutil's reference parser), /proc/PID/auxv,
/proc/PID/mem, a small ELF reader written here, and binutils (readelf, nm).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import mmap
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

import memmaps
from memmaps import _core
from tests.helpers import procutil

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="live /proc tests need Linux"
)

PAGE = mmap.PAGESIZE
NOBODY = procutil.NOBODY
OTHER = procutil.OTHER

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR = 1, 2, 3, 4, 6
SHT_SYMTAB, SHT_DYNSYM = 2, 11
NT_GNU_BUILD_ID = 3
AT_PHDR, AT_BASE, AT_ENTRY, AT_SYSINFO_EHDR = 3, 7, 9, 33

# What img_main prints after its pid, in order.
MAIN_PRINTED = ("only_in_symtab", "exported_value", "exported_function", "lib_value", "lib_copied")
MAIN_VALUES = {
    "only_in_symtab": 0x5EED1234,
    "exported_value": 0x0DDBA11,
    "lib_value": 0x11B2A3C4,
    "lib_copied": 0x0C09ED00,
}


def floor_page(value: int) -> int:
    return value & ~(PAGE - 1)


def ceil_page(value: int) -> int:
    return (value + PAGE - 1) & ~(PAGE - 1)


# --------------------------------------------------------------------------
# An independent ELF64 reader (only what these tests need)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Phdr:
    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int


class Elf:
    def __init__(self, data: bytes) -> None:
        assert data[:4] == b"\x7fELF", "not an ELF file"
        assert data[4] == 2 and data[5] == 1, "this reader knows ELF64 little-endian only"
        self.data = data
        (
            self.type,
            _machine,
            _version,
            self.entry,
            phoff,
            shoff,
            _flags,
            _ehsize,
            phentsize,
            phnum,
            shentsize,
            shnum,
            _shstrndx,
        ) = struct.unpack_from("<HHIQQQIHHHHHH", data, 16)
        self.phdrs = [
            Phdr(*struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize))
            for i in range(phnum)
        ]
        self.sections = []
        if shoff and shoff + shnum * shentsize <= len(data):
            self.sections = [
                struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
            ]

    @classmethod
    def from_path(cls, path) -> Elf:
        return cls(Path(path).read_bytes())

    @property
    def loads(self) -> list[Phdr]:
        return [p for p in self.phdrs if p.type == PT_LOAD]

    def phdr(self, kind: int) -> Phdr | None:
        return next((p for p in self.phdrs if p.type == kind), None)

    def build_id(self) -> str | None:
        for note in self.phdrs:
            if note.type != PT_NOTE:
                continue
            align = 8 if note.align == 8 else 4
            off, stop = note.offset, note.offset + note.filesz
            while off + 12 <= stop:
                namesz, descsz, ntype = struct.unpack_from("<III", self.data, off)
                name = self.data[off + 12 : off + 12 + namesz]
                desc_off = off + 12 + (namesz + align - 1) // align * align
                if ntype == NT_GNU_BUILD_ID and name == b"GNU\0":
                    return self.data[desc_off : desc_off + descsz].hex()
                off = desc_off + (descsz + align - 1) // align * align
        return None

    def symbols(self, sh_type: int) -> dict[str, int]:
        """Defined symbols of the .symtab (SHT_SYMTAB) or .dynsym (SHT_DYNSYM)
        sections: name -> st_value."""
        found: dict[str, int] = {}
        for _name, kind, _fl, _addr, offset, size, link, _info, _al, entsize in self.sections:
            if kind != sh_type or not entsize:
                continue
            strtab = self.sections[link]
            str_off, str_size = strtab[4], strtab[5]
            for i in range(size // entsize):
                st_name, _i, _o, shndx, value, _s = struct.unpack_from(
                    "<IBBHQQ", self.data, offset + i * entsize
                )
                if shndx == 0 or st_name == 0:
                    continue
                end = self.data.index(b"\0", str_off + st_name, str_off + str_size)
                found.setdefault(self.data[str_off + st_name : end].decode(), value)
        return found

    def file_offset(self, vaddr: int) -> int:
        for p in self.loads:
            if p.vaddr <= vaddr < p.vaddr + p.filesz:
                return vaddr - p.vaddr + p.offset
        raise AssertionError(f"{vaddr:#x} is in no PT_LOAD's file bytes")

    def lowest_vaddr(self) -> int:
        return floor_page(min(p.vaddr for p in self.loads))

    def highest_end(self) -> int:
        return max(p.vaddr + p.memsz for p in self.loads)


def binutil(*args: str) -> str:
    tool = shutil.which(args[0])
    if tool is None:
        pytest.skip(f"{args[0]} (binutils) is not installed")
    done = subprocess.run(
        [tool, *args[1:]],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    return done.stdout


def readelf_build_id(path) -> str | None:
    found = re.search(r"Build ID: ([0-9a-f]+)", binutil("readelf", "-n", str(path)))
    return found[1] if found else None


# --------------------------------------------------------------------------
# Targets and what the kernel says about them
# --------------------------------------------------------------------------


def ref_maps(pid: int) -> list[procutil.RefRegion]:
    return procutil.parse_maps(procutil.read_maps(pid))


def auxv(pid: int) -> dict[int, int]:
    data = Path(f"/proc/{pid}/auxv").read_bytes()
    vector = {}
    for off in range(0, len(data) - 15, 16):
        key, value = struct.unpack_from("<QQ", data, off)
        if key == 0:
            break
        vector[key] = value
    return vector


def proc_mem(pid: int, addr: int, size: int) -> bytes:
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        return os.pread(fd, size, addr)
    finally:
        os.close(fd)


def value_at(pid: int, addr: int) -> int:
    """The int at addr, read by memmaps and through /proc/PID/mem, which
    must agree."""
    by_memmaps = _core.read_memory(pid, addr, 4)
    by_kernel = proc_mem(pid, addr, 4)
    assert by_memmaps == by_kernel, (by_memmaps, by_kernel)
    return int.from_bytes(by_kernel, "little")


def image_named(found: list[memmaps.Image], path) -> memmaps.Image:
    matches = [image for image in found if image.path == str(path)]
    assert len(matches) == 1, f"{path} is listed {len(matches)} times: {found}"
    return matches[0]


def image_by_basename(found: list[memmaps.Image], name: str) -> memmaps.Image:
    matches = [image for image in found if os.path.basename(image.path) == name]
    assert len(matches) == 1, f"{name} is listed {len(matches)} times: {found}"
    return matches[0]


def expected_image_paths(pid: int, refs: list[procutil.RefRegion]) -> set[str]:
    """Every ELF file the kernel shows mapped, and the vdso."""
    paths = {"[vdso]"} if any(r.kind == "vdso" for r in refs) else set()
    for r in refs:
        if r.kind == "file" and r.path and r.path not in paths:
            # the mapped file itself, deleted or replaced or not
            link = f"/proc/{pid}/map_files/{r.start:x}-{r.end:x}"
            with open(link if r.deleted else r.path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    paths.add(r.path)
    return paths


def region_key(r) -> tuple:
    return (r.start, r.end, r.perms, r.offset, r.dev_major, r.dev_minor, r.inode, r.path)


def geometry_problems(
    image: memmaps.Image, elf: Elf, refs: list[procutil.RefRegion], *, fixed: bool = False
) -> list[str]:
    """Differences between an image and what the kernel's map and the ELF
    headers say.  fixed: a non-PIE executable (bias 0)."""
    problems = []
    own = [r for r in refs if r.path == image.path]
    want_base = min(r.start for r in own)
    want_bias = 0 if fixed else want_base - elf.lowest_vaddr()
    want_end = ceil_page(want_bias + elf.highest_end())
    if fixed:
        assert want_base == elf.lowest_vaddr(), "a non-PIE file is mapped at its vaddr"
    checks = {
        "base": (image.base, want_base),
        "bias": (image.bias, want_bias),
        "end": (image.end, want_end),
    }
    for field, (got, want) in checks.items():
        if got != want:
            problems.append(f"{image.path}: {field} {got:#x}, expected {want:#x}")
    if image.end < max(r.end for r in own):
        problems.append(f"{image.path}: end {image.end:#x} is below its last mapping")
    inside = [region_key(r) for r in refs if want_base <= r.start and r.end <= want_end]
    got_regions = [region_key(r) for r in image.regions]
    if got_regions != inside:
        problems.append(f"{image.path}: regions {got_regions} != maps in [base, end) {inside}")
    return problems


# --------------------------------------------------------------------------
# The PIE target with its shared library
# --------------------------------------------------------------------------


@dataclass
class MainTarget(procutil.Ready):
    exe: Path
    lib: Path


@pytest.fixture(scope="module")
def main_bins(live_bindir):
    return procutil.build_image_main(procutil.world_dir(live_bindir))


@pytest.fixture(scope="module")
def main_target(main_bins):
    exe, lib = main_bins
    target = procutil.launch_ready([exe])
    try:
        yield MainTarget(target.proc, target.pid, target.addrs, exe, lib)
    finally:
        procutil.stop(target.proc)


def test_the_targets_are_what_the_tests_assume(main_target):
    exe = Elf.from_path(main_target.exe)
    assert exe.type == 3, "img_main is not PIE (ET_DYN)"
    assert "only_in_symtab" in exe.symbols(SHT_SYMTAB)
    assert "only_in_symtab" not in exe.symbols(SHT_DYNSYM)
    assert "exported_value" in exe.symbols(SHT_DYNSYM)
    assert "lib_value" not in exe.symbols(SHT_SYMTAB)
    assert "lib_value" in Elf.from_path(main_target.lib).symbols(SHT_DYNSYM)
    for name, want in MAIN_VALUES.items():
        address = main_target.addrs[MAIN_PRINTED.index(name)]
        assert value_at(main_target.pid, address) == want, name


def test_lists_each_loaded_elf_once_in_address_order(main_target):
    found = memmaps.images(main_target.pid)
    refs = ref_maps(main_target.pid)
    paths = [image.path for image in found]
    assert len(paths) == len(set(paths)), f"listed twice: {paths}"
    assert set(paths) == expected_image_paths(main_target.pid, refs)
    bases = [image.base for image in found]
    assert bases == sorted(bases) and len(set(bases)) == len(bases), found
    for earlier, later in itertools.pairwise(found):
        assert earlier.end <= later.base, f"{earlier} overlaps {later}"
    interp = Elf.from_path(main_target.exe).phdr(PT_INTERP)
    assert interp is not None
    ld_so = main_target.exe.read_bytes()[interp.offset : interp.offset + interp.filesz]
    ld_so_name = os.path.basename(os.fsdecode(ld_so.rstrip(b"\0")))
    names = {os.path.basename(path) for path in paths}
    for name in ("img_main", "libmmimg.so", "libc.so.6", ld_so_name, "[vdso]"):
        assert name in names, f"{name} missing from {paths}"
    for image in found:
        assert isinstance(image, memmaps.Image)
        assert image.deleted is False, image


def test_geometry_and_build_ids_of_every_image(main_target):
    pid = main_target.pid
    found = memmaps.images(pid)
    refs = ref_maps(pid)
    problems = []
    for image in found:
        if image.path == "[vdso]":
            (vdso,) = [r for r in refs if r.kind == "vdso"]
            data = proc_mem(pid, vdso.start, vdso.end - vdso.start)
            elf = Elf(data)
            want_id = elf.build_id()
            assert want_id == _core.ImageFile(data).build_id.hex()
        else:
            elf = Elf.from_path(image.path)
            want_id = readelf_build_id(image.path)
            assert want_id == elf.build_id(), image.path
        assert want_id is not None, f"{image.path} has no build-id to compare"
        if image.build_id != want_id:
            problems.append(f"{image.path}: build_id {image.build_id}, expected {want_id}")
        problems += geometry_problems(image, elf, refs)
    assert not problems, "\n".join(problems)


def test_main_bias_agrees_with_auxv(main_target):
    pid = main_target.pid
    found = memmaps.images(pid)
    vector = auxv(pid)
    exe = image_named(found, main_target.exe)
    elf = Elf.from_path(main_target.exe)
    phdr = elf.phdr(PT_PHDR)
    assert phdr is not None
    assert exe.bias == vector[AT_PHDR] - phdr.vaddr
    assert exe.bias == vector[AT_ENTRY] - elf.entry
    interp = elf.data[elf.phdr(PT_INTERP).offset :].split(b"\0", 1)[0]
    ld_so = image_by_basename(found, os.path.basename(os.fsdecode(interp)))
    assert ld_so.base == vector[AT_BASE]
    assert ld_so.bias == vector[AT_BASE] - Elf.from_path(ld_so.path).lowest_vaddr()
    assert image_named(found, "[vdso]").base == vector[AT_SYSINFO_EHDR]


# (symbol, index of the printed address, images to ask in: None = any)
MAIN_SYMBOLS = [
    ("only_in_symtab", 0, None),
    ("only_in_symtab", 0, "exe"),
    ("only_in_symtab", 0, "img_main"),
    ("exported_value", 1, None),
    ("exported_value", 1, "exe"),
    ("exported_value", 1, "img_main"),
    ("exported_function", 2, None),
    ("exported_function", 2, "img_main"),
    ("lib_value", 3, None),
    ("lib_value", 3, "lib"),
    ("lib_value", 3, "libmmimg.so"),
    # copy-relocated into the executable: the program uses the executable's
    # copy, which is what the search in address order must find first
    ("lib_copied", 4, None),
]


@pytest.mark.parametrize(("symbol", "index", "image"), MAIN_SYMBOLS)
def test_symbol_address_is_what_the_target_printed(main_target, symbol, index, image):
    pid = main_target.pid
    where = {"exe": str(main_target.exe), "lib": str(main_target.lib)}.get(image, image)
    address = memmaps.symbol_address(pid, symbol, where)
    assert address == main_target.addrs[index], (hex(address), hex(main_target.addrs[index]))
    if symbol in MAIN_VALUES:
        assert value_at(pid, address) == MAIN_VALUES[symbol]
    else:  # a function: the bytes there are the file's bytes of it
        elf = Elf.from_path(main_target.exe)
        offset = elf.file_offset(elf.symbols(SHT_SYMTAB)[symbol])
        assert _core.read_memory(pid, address, 16) == elf.data[offset : offset + 16]


def test_image_symbol(main_target):
    found = memmaps.images(main_target.pid)
    exe = image_named(found, main_target.exe)
    lib = image_named(found, main_target.lib)
    assert exe.symbol("only_in_symtab") == main_target.addrs[0]
    assert exe.symbol("exported_value") == main_target.addrs[1]
    assert lib.symbol("lib_value") == main_target.addrs[3]
    assert exe.symbol("lib_value") is None  # the executable does not define it
    for image in found:
        assert image.symbol("no_such_symbol_in_any_image") is None, image


def test_unknown_symbols_and_images(main_target):
    pid = main_target.pid
    with pytest.raises(memmaps.SymbolNotFound) as info:
        memmaps.symbol_address(pid, "no_such_symbol_in_any_image")
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, memmaps.Error)
    assert "no_such_symbol_in_any_image" in str(info.value)
    with pytest.raises(memmaps.SymbolNotFound) as info:
        memmaps.symbol_address(pid, "exported_value", "libno_such_image.so.9")
    assert "libno_such_image.so.9" in str(info.value)
    with pytest.raises(memmaps.SymbolNotFound) as info:
        memmaps.symbol_address(pid, "exported_value", "/nonexistent/img_main")
    assert "/nonexistent/img_main" in str(info.value)
    # defined, but not in the image asked for
    with pytest.raises(memmaps.SymbolNotFound):
        memmaps.symbol_address(pid, "lib_value", "img_main")
    with pytest.raises(memmaps.SymbolNotFound):
        memmaps.symbol_address(pid, "only_in_symtab", "libc.so.6")


def test_image_by_an_equivalent_path(main_target, main_bins):
    """image= names a file: a path to the same file through a symlinked
    directory (what ldd and the dynamic linker's link_map give, e.g.
    /lib/x86_64-linux-gnu/libc.so.6 where /lib -> usr/lib) is that image."""
    pid = main_target.pid
    exe, lib = main_bins
    alias = exe.parent.parent / f"{exe.parent.name}-alias"
    os.symlink(exe.parent, alias)
    try:
        # alias path -> (the path in the map, a symbol of it, its address)
        asked = {
            str(alias / lib.name): (str(lib), "lib_value", main_target.addrs[3]),
            str(alias / exe.name): (str(exe), "only_in_symtab", main_target.addrs[0]),
        }
        ldd = binutil("ldd", str(exe))
        libc = image_by_basename(memmaps.images(pid), "libc.so.6")
        found = re.search(r"libc\.so\.6 => (\S+)", ldd)
        if found and found[1] != libc.path and os.path.samefile(found[1], libc.path):
            malloc = memmaps.symbol_address(pid, "malloc", libc.path)
            asked[found[1]] = (libc.path, "malloc", malloc)
        failures = []
        for path, (real, symbol, want) in asked.items():
            assert path != real and os.path.samefile(path, real)
            try:
                got = memmaps.symbol_address(pid, symbol, path)
            except memmaps.SymbolNotFound as error:
                failures.append(f"image={path!r}: {error}")
                continue
            if got != want:
                failures.append(f"image={path!r}: {symbol} at {got:#x}, expected {want:#x}")
        assert not failures, "\n".join(failures)
    finally:
        alias.unlink()


def test_thread_local_symbols_have_no_address(main_target):
    exe = Elf.from_path(main_target.exe)
    assert "tls_counter" in exe.symbols(SHT_DYNSYM), "the target has no TLS symbol"
    with pytest.raises(memmaps.SymbolNotFound):
        memmaps.symbol_address(main_target.pid, "tls_counter")
    image = image_named(memmaps.images(main_target.pid), main_target.exe)
    assert image.symbol("tls_counter") is None


def test_this_process_and_default_symbol_versions():
    """pid=None is this process; a libc symbol with several versions is the
    default one (@@), the one the dynamic linker gives (dlsym)."""
    found = memmaps.images()
    refs = ref_maps(os.getpid())
    assert {image.path for image in found} == expected_image_paths(os.getpid(), refs)
    assert [image.base for image in found] == sorted(image.base for image in found)
    libc = ctypes.CDLL("libc.so.6")
    versioned = binutil("nm", "-D", "--defined-only", image_by_basename(found, "libc.so.6").path)
    for name in ("malloc", "pthread_cond_wait", "realpath", "regexec"):
        if name != "malloc":
            assert f" {name}@@" in versioned and f" {name}@GLIBC" in versioned, name
        want = ctypes.cast(getattr(libc, name), ctypes.c_void_p).value
        assert memmaps.symbol_address(None, name, "libc.so.6") == want, name
    with pytest.raises(memmaps.SymbolNotFound):
        memmaps.symbol_address(None, "no_such_symbol_in_any_image")


def test_libc_malloc_points_at_the_bytes_of_malloc(main_target):
    pid = main_target.pid
    address = memmaps.symbol_address(pid, "malloc", "libc.so.6")
    libc = image_by_basename(memmaps.images(pid), "libc.so.6")
    elf = Elf.from_path(libc.path)
    value = elf.symbols(SHT_DYNSYM)["malloc"]
    nm = [
        line.split()
        for line in binutil("nm", "-D", "--defined-only", libc.path).splitlines()
        if line.split()[-1].split("@")[0] == "malloc"
    ]
    assert {int(words[0], 16) for words in nm} == {value}, nm
    assert address == libc.bias + value
    assert libc.base <= address < libc.end
    offset = elf.file_offset(value)
    want = elf.data[offset : offset + 32]
    assert _core.read_memory(pid, address, 32) == want
    assert proc_mem(pid, address, 32) == want


def test_vdso_symbol_is_inside_the_vdso(main_target):
    pid = main_target.pid
    (vdso,) = [r for r in ref_maps(pid) if r.kind == "vdso"]
    elf = Elf(proc_mem(pid, vdso.start, vdso.end - vdso.start))
    symbols = elf.symbols(SHT_DYNSYM)
    names = [n for n in ("__vdso_clock_gettime", "__kernel_clock_gettime") if n in symbols]
    assert names, f"no clock_gettime in the vdso: {sorted(symbols)}"
    address = memmaps.symbol_address(pid, names[0])
    assert vdso.start <= address < vdso.end
    assert address == vdso.start - elf.lowest_vaddr() + symbols[names[0]]
    # the same function under its public name, asked of the vdso by its name
    if "clock_gettime" in symbols:
        assert memmaps.symbol_address(pid, "clock_gettime", "[vdso]") == (
            vdso.start - elf.lowest_vaddr() + symbols["clock_gettime"]
        )


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "memmaps", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=procutil.python_env(),
    )


def test_cli_images_table_and_json(main_target):
    pid = main_target.pid
    found = memmaps.images(pid)
    want = [(i.base, i.end, i.bias, i.build_id, i.path) for i in found]
    table = run_cli(pid, "--images")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["BASE", "END", "BIAS", "BUILD-ID", "PATH"]
    rows = []
    for line in lines[1:]:
        base, end, bias, build_id, path = line.split(None, 4)
        rows.append(
            (
                int(base, 16),
                int(end, 16),
                int(bias, 16),
                None if build_id == "-" else build_id,
                path,
            )
        )
    assert rows == want
    as_json = run_cli(pid, "--images", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["pid"] == pid
    got = [(e["base"], e["end"], e["bias"], e["build_id"], e["path"]) for e in doc["images"]]
    assert got == want
    assert [e["deleted"] for e in doc["images"]] == [False] * len(found)


def test_cli_symbol(main_target):
    pid = main_target.pid
    for args, index, image in (
        (["--symbol", "exported_value"], 1, main_target.exe),
        (["--symbol", "only_in_symtab", "--image", main_target.exe], 0, main_target.exe),
        (["--symbol", "lib_value", "--image", "libmmimg.so"], 3, main_target.lib),
        (["--symbol", "lib_value", "--image", "libmmimg"], 3, main_target.lib),
    ):
        done = run_cli(pid, *args)
        assert done.returncode == 0, done.stderr
        address, name, rest = done.stdout.split(" ", 2)
        assert int(address, 16) == main_target.addrs[index], args
        assert name == args[1]
        assert rest.endswith(f" in {os.path.realpath(image)}\n"), done.stdout
    done = run_cli(pid, "--symbol", "exported_value", "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["address"] == main_target.addrs[1]
    assert (doc["pid"], doc["symbol"], doc["offset"]) == (pid, "exported_value", 0)
    assert doc["image"] == os.path.realpath(main_target.exe)


def test_cli_symbolize(main_target):
    pid = main_target.pid
    inside = main_target.addrs[1] + 2
    done = run_cli(pid, "--symbolize", hex(inside), "--symbolize", "0x10")
    assert done.returncode == 1
    assert done.stderr == "memmaps: no symbol of a loaded image holds 0x10\n"
    address, name, _rest = done.stdout.split(" ", 2)
    assert (int(address, 16), name) == (inside, "exported_value+0x2")
    done = run_cli(pid, "--symbolize", hex(inside), "--format", "json")
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["symbols"]
    assert (entry["query"], entry["symbol"], entry["offset"]) == (inside, "exported_value", 2)
    assert entry["address"] == main_target.addrs[1]


@pytest.mark.parametrize(
    "args",
    [
        ["--symbol", "no_such_symbol_in_any_image"],
        ["--symbol", "exported_value", "--image", "libno_such_image.so.9"],
    ],
)
def test_cli_symbol_not_found(main_target, args):
    done = run_cli(main_target.pid, *args)
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("memmaps: ")
    assert "Traceback" not in done.stderr
    assert args[-1] in done.stderr


def test_cli_image_without_symbol_is_a_usage_error(main_target):
    done = run_cli(main_target.pid, "--image", "libc.so.6")
    assert done.returncode == 2
    assert "--image" in done.stderr and "Traceback" not in done.stderr
    done = run_cli(main_target.pid, "--images", "--image", "libc.so.6")
    assert done.returncode == 2


# --------------------------------------------------------------------------
# A static non-PIE executable
# --------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["static-no-pie", "static-pie"])
def test_static_executable(live_bindir, flavour):
    """A static executable: no ld.so and no libc.so, only itself and the
    vdso; bias 0 when it is not PIE, its load address when it is."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler (gcc/cc) on PATH")
    libc_a = subprocess.run(
        [gcc, "-print-file-name=libc.a"], capture_output=True, text=True
    ).stdout.strip()
    if not os.path.isabs(libc_a) or not os.path.exists(libc_a):
        pytest.skip("no static libc (libc.a) for gcc -static")
    fixed = flavour == "static-no-pie"
    flags = ["-static", "-no-pie"] if fixed else ["-static-pie"]
    d = procutil.world_dir(live_bindir)
    exe = procutil.compile_target("img_static", d / "img_static", *flags)
    elf = Elf.from_path(exe)
    assert elf.phdr(PT_INTERP) is None, "not static"
    assert elf.type == (2 if fixed else 3), f"{flavour}: ELF type {elf.type}"
    assert "static_local" in elf.symbols(SHT_SYMTAB)
    target = procutil.launch_ready([exe])
    try:
        found = memmaps.images(target.pid)
        refs = ref_maps(target.pid)
        assert sorted(image.path for image in found) == sorted([str(exe), "[vdso]"])
        assert [image.base for image in found] == sorted(image.base for image in found)
        image = image_named(found, exe)
        vector = auxv(target.pid)
        assert image.bias == vector[AT_ENTRY] - elf.entry
        if fixed:
            assert image.bias == 0
        assert image.build_id == readelf_build_id(exe) is not None
        problems = geometry_problems(image, elf, refs, fixed=fixed)
        assert not problems, "\n".join(problems)
        assert vector.get(AT_BASE, 0) == 0
        for name, index, value in (
            ("static_value", 0, 0x57A71C00),
            ("static_local", 1, 0x10CA1000),
        ):
            address = memmaps.symbol_address(target.pid, name)
            assert address == target.addrs[index], name
            assert address == image.bias + elf.symbols(SHT_SYMTAB)[name], name
            assert memmaps.symbol_address(target.pid, name, "img_static") == address
            assert value_at(target.pid, address) == value
    finally:
        procutil.stop(target.proc)


# --------------------------------------------------------------------------
# Files deleted or replaced after the start
# --------------------------------------------------------------------------


def test_self_deleted_executable(live_bindir):
    d = procutil.world_dir(live_bindir)
    exe = procutil.compile_target("img_deleted", d / "img_deleted", "-rdynamic")
    elf = Elf.from_path(exe)
    build_id = readelf_build_id(exe)
    assert "deleted_secret" not in elf.symbols(SHT_DYNSYM)
    target = procutil.launch_ready([exe])
    try:
        assert not exe.exists(), "the target did not delete itself"
        found = memmaps.images(target.pid)
        image = image_named(found, exe)
        assert image.deleted is True
        assert [i.path for i in found if i.deleted] == [str(exe)]
        assert image.build_id == build_id is not None
        assert image.bias == auxv(target.pid)[AT_ENTRY] - elf.entry
        problems = geometry_problems(image, elf, ref_maps(target.pid))
        assert not problems, "\n".join(problems)
        for name, index, value in (
            ("deleted_secret", 0, 0x0DE1E7ED),
            ("deleted_exported", 1, 0x7E11A1E0),
        ):
            address = memmaps.symbol_address(target.pid, name)
            assert address == target.addrs[index], name
            assert memmaps.symbol_address(target.pid, name, str(exe)) == address
            assert value_at(target.pid, address) == value
        done = run_cli(target.pid, "--images", "--format", "json")
        entry = [e for e in json.loads(done.stdout)["images"] if e["path"] == str(exe)]
        assert entry and entry[0]["deleted"] is True
        table = run_cli(target.pid, "--images").stdout
        assert f"{exe} (deleted)" in table
    finally:
        procutil.stop(target.proc)


@pytest.fixture
def replace_builds(live_bindir):
    """The first build at D/img_replace, the replacement beside it."""
    d = procutil.world_dir(live_bindir)
    first = procutil.compile_target(
        "img_replace", d / "img_replace", "-rdynamic", "-DVALUE=0x0a11ce01"
    )
    second = procutil.compile_target(
        "img_replace", d / "img_replace.new", "-rdynamic", "-DVALUE=0x0b0b0b02", "-DPAD"
    )
    old, new = Elf.from_path(first), Elf.from_path(second)
    old_id, new_id = readelf_build_id(first), readelf_build_id(second)
    assert old_id and new_id and old_id != new_id
    old_addr = old.symbols(SHT_SYMTAB)["replaced_value"]
    assert old_addr != new.symbols(SHT_SYMTAB)["replaced_value"], "the builds must differ"
    return first, second, old, old_id


def test_replaced_executable_is_read_from_the_mapped_file(replace_builds):
    exe, replacement, elf, build_id = replace_builds
    target = procutil.launch_ready([exe])
    try:
        mapped_inode = os.stat(exe).st_ino
        os.replace(replacement, exe)
        assert os.stat(exe).st_ino != mapped_inode
        found = memmaps.images(target.pid)
        image = image_named(found, exe)
        assert image.build_id == build_id, "read the replacement, not the mapped file"
        assert image.bias == auxv(target.pid)[AT_ENTRY] - elf.entry
        refs = ref_maps(target.pid)
        assert {r.inode for r in refs if r.path == str(exe)} == {mapped_inode}
        assert image.deleted == any(r.deleted for r in refs if r.path == str(exe))
        address = memmaps.symbol_address(target.pid, "replaced_value")
        assert address == target.addrs[0]
        assert address == image.bias + elf.symbols(SHT_SYMTAB)["replaced_value"]
        assert value_at(target.pid, address) == 0x0A11CE01
        assert memmaps.symbol_address(target.pid, "replaced_exported") == target.addrs[1]
    finally:
        procutil.stop(target.proc)


def _launch_as_nobody(exe: Path) -> procutil.Ready:
    """exe run as NOBODY (no other groups), once it runs as that user."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    target = procutil.launch_ready([setpriv, *procutil.AS_NOBODY[1:], exe])
    try:
        procutil.wait_for_uid(target.pid, NOBODY)
    except BaseException:
        procutil.stop(target.proc)
        raise
    return target


def _unprivileged_view(pid: int, exe: str, symbols: list[str]) -> dict:
    def work():
        image = image_named(memmaps.images(pid), exe)
        found = {}
        for name in symbols:
            try:
                found[name] = memmaps.symbol_address(pid, name)
            except memmaps.SymbolNotFound:
                found[name] = None
        return {
            "build_id": image.build_id,
            "bias": image.bias,
            "base": image.base,
            "end": image.end,
            "deleted": image.deleted,
            "symbols": found,
        }

    return procutil.run_as(NOBODY, work)


@pytest.mark.skipif(not procutil.IS_ROOT, reason="needs root to run target and reader as nobody")
def test_unprivileged_reader_of_its_own_process(main_bins):
    """A user reading a process of its own (no map_files for it): the same
    images as root sees, and .symtab-only symbols still found (the files are
    unchanged on disk)."""
    exe, _lib = main_bins
    target = _launch_as_nobody(exe)
    try:
        pid = target.pid

        def work():
            return {
                "images": [
                    [i.path, i.base, i.end, i.bias, i.build_id, i.deleted]
                    for i in memmaps.images(pid)
                ],
                "only_in_symtab": memmaps.symbol_address(pid, "only_in_symtab"),
                "exported_value": memmaps.symbol_address(pid, "exported_value", "img_main"),
                "lib_value": memmaps.symbol_address(pid, "lib_value", "libmmimg.so"),
            }

        view = procutil.run_as(NOBODY, work)
        as_root = [
            [i.path, i.base, i.end, i.bias, i.build_id, i.deleted] for i in memmaps.images(pid)
        ]
        assert view["images"] == as_root
        assert view["only_in_symtab"] == target.addrs[0]
        assert view["exported_value"] == target.addrs[1]
        assert view["lib_value"] == target.addrs[3]
    finally:
        procutil.stop(target.proc)


@pytest.mark.skipif(not procutil.IS_ROOT, reason="needs root to run target and reader as nobody")
@pytest.mark.parametrize("case", ["deleted", "replaced"])
def test_without_map_files_the_image_comes_from_memory(live_bindir, case):
    """A reader without CAP_CHECKPOINT_RESTORE cannot open map_files: the
    deleted or replaced executable must then be read from the target's own
    memory (its build-id note and .dynsym), never from the file now at the
    path."""
    d = procutil.world_dir(live_bindir)
    os.chown(d, NOBODY, NOBODY)  # so that the target may unlink itself
    if case == "deleted":
        exe = procutil.compile_target("img_deleted", d / "img_deleted", "-rdynamic")
        exported = "deleted_exported"
    else:
        exe = procutil.compile_target(
            "img_replace", d / "img_replace", "-rdynamic", "-DVALUE=0x0a11ce01"
        )
        procutil.compile_target(
            "img_replace", d / "img_replace.new", "-rdynamic", "-DVALUE=0x0b0b0b02", "-DPAD"
        )
        exported = "replaced_exported"
    elf = Elf.from_path(exe)
    build_id = readelf_build_id(exe)
    target = _launch_as_nobody(exe)
    try:
        if case == "replaced":
            os.replace(d / "img_replace.new", exe)
        view = _unprivileged_view(target.pid, str(exe), [exported])
        bias = auxv(target.pid)[AT_ENTRY] - elf.entry
        assert view["build_id"] == build_id
        assert view["bias"] == bias
        assert view["deleted"] is True
        assert view["symbols"][exported] == target.addrs[1]
    finally:
        procutil.stop(target.proc)


# --------------------------------------------------------------------------
# Stripped executables with separate debug files
# --------------------------------------------------------------------------


def _stripped_build(d: Path, salt: int) -> tuple[Path, Path]:
    """d/img_stripped (stripped) and d/img_stripped.debug (its symbols)."""
    exe = procutil.compile_target("img_stripped", d / "img_stripped", "-rdynamic", f"-DSALT={salt}")
    debug = d / "img_stripped.debug"
    binutil("objcopy", "--only-keep-debug", str(exe), str(debug))
    binutil("strip", str(exe))
    elf = Elf.from_path(exe)
    assert "stripped_secret" not in elf.symbols(SHT_SYMTAB), "strip left .symtab"
    assert "stripped_secret" not in elf.symbols(SHT_DYNSYM)
    assert "stripped_secret" in Elf.from_path(debug).symbols(SHT_SYMTAB)
    return exe, debug


def _check_stripped(target: procutil.Ready, salt: int) -> None:
    address = memmaps.symbol_address(target.pid, "stripped_secret")
    assert address == target.addrs[0]
    assert memmaps.symbol_address(target.pid, "stripped_secret", "img_stripped") == address
    assert value_at(target.pid, address) == 0x57219ED0 + salt


@pytest.mark.skipif(not procutil.IS_ROOT, reason="needs root to write under /usr/lib/debug")
def test_stripped_executable_with_debug_file_by_build_id(live_bindir):
    d = procutil.world_dir(live_bindir)
    salt = random.randrange(1, 1 << 20)  # a build-id of this run only
    exe, debug = _stripped_build(d, salt)
    build_id = readelf_build_id(exe)
    assert build_id and len(build_id) > 2
    root = Path("/usr/lib/debug")
    folder = root / ".build-id" / build_id[:2]
    installed = folder / f"{build_id[2:]}.debug"
    if installed.exists():
        pytest.skip(f"{installed} exists already: not ours to replace")
    created = [p for p in (root, root / ".build-id", folder) if not p.exists()]
    target = procutil.launch_ready([exe])
    try:
        # Without the debug file only .dynsym is there.
        assert memmaps.symbol_address(target.pid, "stripped_exported") == target.addrs[1]
        with pytest.raises(memmaps.SymbolNotFound):
            memmaps.symbol_address(target.pid, "stripped_secret")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.move(debug, installed)
        _check_stripped(target, salt)
    finally:
        procutil.stop(target.proc)
        with contextlib.suppress(FileNotFoundError):
            installed.unlink()
        for p in reversed(created):
            with contextlib.suppress(OSError):
                p.rmdir()
    assert not installed.exists()


def test_stripped_executable_with_debuglink_beside_it(live_bindir):
    d = procutil.world_dir(live_bindir)
    salt = random.randrange(1, 1 << 20)  # no debug file by build-id for it anywhere
    exe, debug = _stripped_build(d, salt)
    binutil("objcopy", f"--add-gnu-debuglink={debug}", str(exe))
    aside = d / "moved-away.debug"
    debug.rename(aside)  # not there yet
    target = procutil.launch_ready([exe])
    try:
        with pytest.raises(memmaps.SymbolNotFound):
            memmaps.symbol_address(target.pid, "stripped_secret")
        aside.rename(debug)
        _check_stripped(target, salt)
    finally:
        procutil.stop(target.proc)


def test_a_fifo_where_the_debug_file_would_be_is_never_opened(live_bindir):
    """The debuglink names a file beside the image; a FIFO there is looked
    at, not opened: a writer waiting for a reader stays waiting, and the
    lookup neither blocks nor takes the FIFO for a debug file."""
    d = procutil.world_dir(live_bindir)
    salt = random.randrange(1, 1 << 20)
    exe, debug = _stripped_build(d, salt)
    binutil("objcopy", f"--add-gnu-debuglink={debug}", str(exe))
    debug.unlink()
    os.mkfifo(debug)
    opened = threading.Event()

    def writer() -> None:
        # open() for writing returns only once someone opens it to read.
        fd = os.open(debug, os.O_WRONLY)
        opened.set()
        os.close(fd)

    waiting = threading.Thread(target=writer, daemon=True)
    waiting.start()
    target = procutil.launch_ready([exe])
    try:
        with pytest.raises(memmaps.SymbolNotFound):
            memmaps.symbol_address(target.pid, "stripped_secret")
        assert memmaps.symbol_address(target.pid, "stripped_exported") == target.addrs[1]
        assert not opened.wait(0.2), "the FIFO was opened"
    finally:
        procutil.stop(target.proc)
        # Let the writer go: open the FIFO for reading ourselves.
        os.close(os.open(debug, os.O_RDONLY | os.O_NONBLOCK))
        waiting.join(5)
    assert opened.is_set(), "the writer should have been let go at the end"


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def test_missing_process():
    pid = procutil.unused_pid()
    with pytest.raises(memmaps.NoSuchProcess) as info:
        memmaps.images(pid)
    assert str(pid) in str(info.value)
    with pytest.raises(memmaps.NoSuchProcess):
        memmaps.symbol_address(pid, "malloc")
    with pytest.raises(memmaps.NoSuchProcess):
        memmaps.symbol_address(pid, "malloc", "libc.so.6")
    done = run_cli(pid, "--images")
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr


@pytest.mark.skipif(not procutil.IS_ROOT, reason="needs root to switch users")
def test_a_refused_memory_read_is_an_error_not_a_missing_image(main_bins):
    """The map is read with the reader's file-system ids, the memory with its
    real ones (ptrace's FSCREDS and REALCREDS): a reader whose effective ids
    are the target's but whose real ones are not may list the regions, yet
    not read the vdso, which has no file.  That is AccessDenied, as Yama's
    ptrace_scope would make it, never a list without the vdso."""
    exe, _lib = main_bins
    target = _launch_as_nobody(exe)
    try:

        def work():
            found = len(memmaps.regions(target.pid))
            try:
                memmaps.images(target.pid)
                return [found, "no error"]
            except memmaps.AccessDenied as error:
                return [found, "AccessDenied", str(error)]

        found, outcome, *message = procutil.run_as(NOBODY, work, real_uid=OTHER)
        assert found > 0, "the map should be readable with the target's effective ids"
        assert outcome == "AccessDenied", outcome
        assert str(target.pid) in message[0], message
    finally:
        procutil.stop(target.proc)


@pytest.mark.skipif(not procutil.IS_ROOT, reason="needs root to switch users")
def test_another_users_process_is_denied(main_bins):
    exe, _lib = main_bins
    target = _launch_as_nobody(exe)
    try:

        def work():
            outcomes = []
            for call in (
                lambda: memmaps.images(target.pid),
                lambda: memmaps.symbol_address(target.pid, "exported_value"),
                lambda: memmaps.symbol_address(target.pid, "malloc", "libc.so.6"),
            ):
                try:
                    call()
                    outcomes.append("no error")
                except memmaps.AccessDenied as error:
                    outcomes.append(
                        "AccessDenied" if isinstance(error, PermissionError) else repr(error)
                    )
                except Exception as error:
                    outcomes.append(repr(error))
            return outcomes

        assert procutil.run_as(OTHER, work) == ["AccessDenied"] * 3
    finally:
        procutil.stop(target.proc)
