"""ImageFile over ELF files built here, compared with what binutils says.

The dynamic section's names (DT_NEEDED in order, DT_SONAME), the CRC32
stored after the .gnu_debuglink name (checked against the CRC32 of the very
file objcopy linked), and the same names read from this process's memory,
where the dynamic loader has relocated DT_STRTAB.
"""

from __future__ import annotations

import bisect
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
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


# ---- symbol semantics ----------------------------------------------------

SEMANTICS_SOURCES = {
    "syms.c": """\
static int dup_name = 1;
int get_dup1(void) { return dup_name; }
__thread int tls_var = 5;
int foo_v1(void) { return 1; }
int foo_v2(void) { return 2; }
__asm__(".symver foo_v1, foo@V1");
__asm__(".symver foo_v2, foo@@V2");
static int impl_a(void) { return 10; }
static int (*resolve(void))(void) { return impl_a; }
int chosen(void) __attribute__((ifunc("resolve")));
__asm__(".globl abs_sym\\n.set abs_sym, 0x1234");
int plain_global = 3;
""",
    "dup.c": "static int dup_name = 2;\nint get_dup2(void) { return dup_name; }\n",
    "glob.c": "int dup_name = 3;\n",
}
VERSION_SCRIPT = """\
V1 { global: foo; plain_global; chosen; get_dup*; abs_sym; dup_name; tls_var; defsym_abs;
     local: *; };
V2 { global: foo; } V1;
"""


@dataclass(frozen=True)
class Sym:
    value: int
    size: int
    type: str
    bind: str
    ndx: str
    name: str  # as readelf prints it: name@VER / name@@VER in .dynsym
    table: str


def readelf_symbols(path: Path) -> list[Sym]:
    text = subprocess.run(
        ["readelf", "-Ws", "--wide", str(path)], check=True, capture_output=True, text=True
    ).stdout
    table = ""
    out = []
    for line in text.splitlines():
        m = re.match(r"Symbol table '(\.\w+)'", line)
        if m:
            table = m.group(1)
            continue
        m = re.match(
            r"\s*\d+: ([0-9a-f]+)\s+(\d+|0x[0-9a-f]+)\s+(\w+)\s+(\w+)\s+\w+\s+(\w+)\s*(.*)$", line
        )
        if m:
            value, size, type_, bind, ndx, name = m.groups()
            out.append(Sym(int(value, 16), int(size, 0), type_, bind, ndx, name, table))
    return out


@pytest.fixture(scope="module")
def semantics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("semantics")
    for name, text in SEMANTICS_SOURCES.items():
        (folder / name).write_text(text)
    (folder / "syms.map").write_text(VERSION_SCRIPT)
    lib = folder / "libsyms.so"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O0",
            f"-Wl,--version-script={folder / 'syms.map'}",
            "-Wl,--defsym,defsym_abs=0x5678",
            "-Wl,-soname,libsyms.so.1",
            *(str(folder / name) for name in SEMANTICS_SOURCES),
            "-o",
            str(lib),
        ],
        check=True,
    )
    debug = folder / "libsyms.debug"
    subprocess.run(["objcopy", "--only-keep-debug", str(lib), str(debug)], check=True)
    stripped = folder / "libsyms-stripped.so"
    subprocess.run(["strip", "-o", str(stripped), str(lib)], check=True)
    return {"lib": lib, "debug": debug, "stripped": stripped}


def one(symbols: list[Sym], name: str, table: str, **match: str) -> Sym:
    found = [
        s
        for s in symbols
        if s.name == name and s.table == table and all(getattr(s, k) == v for k, v in match.items())
    ]
    assert len(found) == 1, (name, table, found)
    return found[0]


@pytest.mark.parametrize("which", ["lib", "stripped", "dynamic-only"])
def test_versions_match_readelf(semantics: dict[str, Path], which: str) -> None:
    path = semantics["lib" if which == "dynamic-only" else which]
    symbols = readelf_symbols(semantics["lib"])
    elf = image_file(path, sections=which != "dynamic-only")
    hidden = one(symbols, "foo@V1", ".dynsym")
    default = one(symbols, "foo@@V2", ".dynsym")
    assert hidden.value != default.value
    assert elf.symbol("foo")[:2] == (default.value, default.size)
    assert elf.symbol("foo@@V2")[:2] == (default.value, default.size)
    assert elf.symbol("foo@V2")[:2] == (default.value, default.size)
    assert elf.symbol("foo@V1")[:2] == (hidden.value, hidden.size)
    # V1 is not foo's default version, and foo has no version V3.
    assert elf.symbol("foo@@V1") is None
    assert elf.symbol("foo@V3") is None
    # An unversioned query of a name defined in V1 finds it; V2 does not.
    plain = one(symbols, "plain_global@@V1", ".dynsym")
    assert elf.symbol("plain_global@@V1")[:2] == (plain.value, plain.size)
    assert elf.symbol("plain_global@V2") is None


@pytest.mark.parametrize("which", ["lib", "debug", "stripped", "dynamic-only"])
def test_names_that_are_not_symbols(semantics: dict[str, Path], which: str) -> None:
    path = semantics["lib" if which == "dynamic-only" else which]
    symbols = readelf_symbols(path)
    elf = image_file(path, sections=which != "dynamic-only")
    # The version symbols ld adds (ABS OBJECT of value 0), as readelf
    # shows them in the table that is there, and the file's own name (its
    # VER_FLG_BASE version).
    versions = [s for s in symbols if s.name in ("V1", "V2")]
    assert versions and all(s.ndx == "ABS" and s.type == "OBJECT" for s in versions)
    for name in ("V1", "V2", "libsyms.so.1", "", "syms.c", "dup.c", "crtstuff.c"):
        assert elf.symbol(name) is None, name
    if which in ("lib", "debug"):
        assert one(symbols, "syms.c", ".symtab").type == "FILE"


def test_undefined_symbols_never_match(semantics: dict[str, Path]) -> None:
    symbols = readelf_symbols(semantics["lib"])
    undefined = {s.name.split("@")[0] for s in symbols if s.ndx == "UND" and s.name}
    assert "__cxa_finalize" in undefined
    elf = image_file(semantics["lib"])
    for name in undefined:
        assert elf.symbol(name) is None, name


def test_global_wins_over_locals_of_the_same_name(semantics: dict[str, Path]) -> None:
    symbols = readelf_symbols(semantics["lib"])
    dups = [s for s in symbols if s.name == "dup_name" and s.table == ".symtab"]
    assert sorted(s.bind for s in dups) == ["GLOBAL", "LOCAL", "LOCAL"]
    glob = next(s for s in dups if s.bind == "GLOBAL")
    assert image_file(semantics["lib"]).symbol("dup_name") == (
        glob.value,
        glob.size,
        "object",
        True,
        False,
    )
    # A debug file has the same tables.
    assert image_file(semantics["debug"]).symbol("dup_name")[0] == glob.value


@pytest.mark.parametrize("which", ["lib", "stripped", "dynamic-only"])
def test_kinds_and_absolute_symbols(semantics: dict[str, Path], which: str) -> None:
    path = semantics["lib" if which == "dynamic-only" else which]
    symbols = readelf_symbols(semantics["lib"])
    elf = image_file(path, sections=which != "dynamic-only")
    for name, kind in (("tls_var", "tls"), ("chosen", "ifunc"), ("get_dup1", "function")):
        ref = one(symbols, name, ".symtab")
        assert elf.symbol(name) == (ref.value, ref.size, kind, True, False), name
    for name, value in (("abs_sym", 0x1234), ("defsym_abs", 0x5678)):
        ref = one(symbols, name, ".symtab")
        assert (ref.ndx, ref.value) == ("ABS", value)
        assert elf.symbol(name) == (value, 0, "other", True, True), name


def test_section_symbols_never_match(semantics: dict[str, Path], tmp_path: Path) -> None:
    # Linked files keep no STT_SECTION symbol with a name: make one by
    # turning the local foo_v2 of .symtab into a section symbol.
    data = bytearray(semantics["lib"].read_bytes())
    symbols = readelf_symbols(semantics["lib"])
    index = [s for s in symbols if s.table == ".symtab"].index(
        one(symbols, "foo_v2", ".symtab", bind="LOCAL")
    )
    shoff, shentsize, shnum = (
        struct.unpack_from("<Q", data, 0x28)[0],
        *struct.unpack_from("<HH", data, 0x3A),
    )
    for i in range(shnum):
        sh_type, sh_offset = struct.unpack_from("<I16xQ", data, shoff + i * shentsize + 4)
        if sh_type == 2:  # SHT_SYMTAB
            info_at = sh_offset + index * 24 + 4
            assert data[info_at] == 2  # STB_LOCAL << 4 | STT_FUNC
            data[info_at] = 3  # STT_SECTION
    patched = tmp_path / "patched.so"
    patched.write_bytes(bytes(data))
    assert image_file(semantics["lib"]).symbol("foo_v2") is not None
    assert image_file(patched).symbol("foo_v2") is None
    assert one(readelf_symbols(patched), "foo_v2", ".symtab").type == "SECTION"


def test_glibc_version_symbols(semantics: dict[str, Path]) -> None:
    if not LIBC.exists():
        pytest.skip(f"{LIBC} is not on this machine")
    symbols = readelf_symbols(LIBC)
    versions = {s.name for s in symbols if s.ndx == "ABS" and s.name.startswith("GLIBC_2.")}
    assert "GLIBC_2.2.5" in versions
    libc = image_file(LIBC)
    for name in versions:
        assert libc.symbol(name) is None, name
    # memcpy has an old version and a new default one.
    old = one(symbols, "memcpy@GLIBC_2.2.5", ".dynsym")
    new = one(symbols, "memcpy@@GLIBC_2.14", ".dynsym")
    assert libc.symbol("memcpy")[0] == new.value
    assert libc.symbol("memcpy@GLIBC_2.2.5")[0] == old.value
    assert libc.symbol("memcpy@@GLIBC_2.2.5") is None
    debug = libc_debug_file()
    if debug is not None:
        in_debug = image_file(debug)
        for name in versions:
            assert in_debug.symbol(name) is None, name


def libc_debug_file() -> Path | None:
    """libc6-dbg's debug file for this machine's libc, when installed."""
    build_id = image_file(LIBC).build_id
    if build_id is None:
        return None
    path = Path("/usr/lib/debug/.build-id") / build_id.hex()[:2] / f"{build_id.hex()[2:]}.debug"
    return path if path.exists() else None


# ---- symbolize -------------------------------------------------------------

LIBPYTHON = (
    Path(sys.base_prefix) / "lib" / f"libpython{sys.version_info.major}.{sys.version_info.minor}.so"
)
FUNCTIONS = {"FUNC", "IFUNC"}
HOLDERS = {"FUNC", "IFUNC", "OBJECT", "NOTYPE"}


def symbolize_cases() -> dict[str, Callable[[Path], Path | None]]:
    return {
        "libpython": lambda _: LIBPYTHON.resolve() if LIBPYTHON.exists() else None,
        "libc": lambda _: LIBC if LIBC.exists() else None,
        "libc-debug": lambda _: libc_debug_file() if LIBC.exists() else None,
    }


def holders(path: Path) -> list[Sym]:
    """The symbols symbolize() may answer with, from the table binutils
    uses: .symtab when there is one, else .dynsym."""
    symbols = readelf_symbols(path)
    table = ".symtab" if any(s.table == ".symtab" for s in symbols) else ".dynsym"
    return [
        s for s in symbols if s.table == table and s.type in HOLDERS and s.ndx.isdigit() and s.name
    ]


def plain(name: str) -> str:
    return name.split("@", 1)[0]


def check_answer(address: int, answer: tuple | None, symbols: list[Sym], starts: list[int]) -> None:
    covering = [s for s in symbols if s.size and s.value <= address < s.value + s.size]
    if covering:
        assert answer is not None, (hex(address), covering)
        name, value, size, kind = answer
        assert (value, size) in {(s.value, s.size) for s in covering}, (hex(address), answer)
        best = covering
        if any(s.bind != "LOCAL" for s in best):
            best = [s for s in best if s.bind != "LOCAL"]
        if any(s.type in FUNCTIONS for s in best):
            best = [s for s in best if s.type in FUNCTIONS]
        smallest = min(s.size for s in best)
        best = [s for s in best if s.size == smallest]
        assert (value, size) in {(s.value, s.size) for s in best}, (hex(address), answer, best)
        assert plain(name) in {plain(s.name) for s in best if s.value == value}, answer
        return
    if answer is None:
        return
    # No sized symbol holds it: a symbol of no size in code, the nearest
    # that starts at or before it.
    name, value, size, kind = answer
    assert size == 0 and kind in ("function", "ifunc", "other"), (hex(address), answer)
    assert value <= address
    between = bisect.bisect_right(starts, address) - bisect.bisect_right(starts, value)
    assert between == 0, (hex(address), answer)


@pytest.mark.parametrize("case", sorted(symbolize_cases()))
def test_symbolize_matches_readelf_and_addr2line(case: str, tmp_path: Path) -> None:
    path = symbolize_cases()[case](tmp_path)
    if path is None or not path.exists():
        pytest.skip(f"no {case} on this machine")
    symbols = holders(path)
    assert len(symbols) > 1000, f"{path} has too few symbols to be a real test"
    starts = sorted(s.value for s in symbols)
    rng = random.Random(1234)
    sized = [s for s in symbols if s.size]
    low, high = min(s.value for s in sized), max(s.value + s.size for s in sized)
    addresses = [rng.randrange(low, high) for _ in range(3000)]
    for s in rng.sample(sized, 500):
        addresses += [s.value, s.value + s.size - 1, s.value + s.size]
    elf = image_file(path)
    answers = elf.symbolize_many(addresses)
    assert answers == [elf.symbolize(a) for a in addresses[:200]] + answers[200:]
    found = 0
    for address, answer in zip(addresses, answers, strict=True):
        check_answer(address, answer, symbols, starts)
        found += answer is not None
    # At least the starts of the 500 symbols sampled (check_answer has
    # made sure every address a sized symbol holds is found).
    assert found >= 500
    # binutils' nearest symbol is a function's (elf_find_function looks at
    # STT_FUNC, STT_GNU_IFUNC and STT_NOTYPE only).
    held = [
        (a, ans)
        for a, ans in zip(addresses, answers, strict=True)
        if ans is not None and ans[2] and ans[3] in ("function", "ifunc")
    ]
    dynamic_only = symbols[0].table == ".dynsym"
    nearest = addr2line_names(path, [a for a, _ in held], tmp_path)
    if dynamic_only or nearest is None:
        nearest = nm_names(path, [a for a, _ in held], dynamic_only)
    # Where a sized symbol holds an address, the nearest symbol at or
    # before it, as binutils finds it, starts where ours does (but for
    # the few that nest in another).
    values: dict[str, set[int]] = {}
    for s in symbols:
        values.setdefault(plain(s.name), set()).add(s.value)
    disagree = [
        (hex(address), answer, name)
        for (address, answer), name in zip(held, nearest, strict=True)
        if answer[1] not in values.get(plain(name), set())
    ]
    print(f"{case}: {len(held)} addresses, {len(disagree)} where binutils names another start")
    assert not disagree, disagree[:20]


def addr2line_names(path: Path, addresses: list[int], tmp_path: Path) -> list[str] | None:
    """addr2line -f's function names, on a copy without DWARF so that it
    names symbols, not inlined functions, and without a build-id or
    debuglink through which it would read another file's (libc6-dbg's).
    It reads .symtab only: None when that gives no names."""
    if shutil.which("addr2line") is None:
        return None
    nodebug = tmp_path / "nodebug"
    subprocess.run(
        [
            "objcopy",
            "--strip-debug",
            "--remove-section=.gnu_debuglink",
            "--remove-section=.note.gnu.build-id",
            str(path),
            str(nodebug),
        ],
        check=True,
    )
    names = subprocess.run(
        ["addr2line", "-f", "-e", str(nodebug)],
        input="\n".join(hex(a) for a in addresses),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[::2]
    return None if all(name == "??" for name in names) else names


def nm_names(path: Path, addresses: list[int], dynamic: bool) -> list[str]:
    """The nearest symbol at or before each address, by nm -n."""
    text = subprocess.run(
        ["nm", "-n", "--defined-only", *(["-D"] if dynamic else []), str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = [
        (int(value, 16), name)
        for value, kind, name in (line.split(maxsplit=2) for line in text.splitlines())
        if kind not in "aAN"
    ]
    starts = [value for value, _ in rows]
    return [rows[bisect.bisect_right(starts, a) - 1][1] for a in addresses]


def test_symbolize_size_zero_symbols(semantics: dict[str, Path], tmp_path: Path) -> None:
    # An assembler function of no size holds the code up to the next symbol
    # and never past the end of its section.
    asm = tmp_path / "nosize.s"
    asm.write_text(
        "\t.text\n\t.globl first\n\t.type first, @function\nfirst:\n\tnop\n\tnop\n\tnop\n"
        "\t.globl second\n\t.type second, @function\nsecond:\n\tnop\n\tret\n"
        "\t.section .rodata\n\t.globl table\n\t.type table, @object\n"
        "table:\n\t.quad 1, 2, 3\n"
    )
    lib = tmp_path / "libnosize.so"
    subprocess.run(["gcc", "-shared", "-nostdlib", str(asm), "-o", str(lib)], check=True)
    symbols = {s.name: s for s in readelf_symbols(lib) if s.table == ".symtab"}
    first, second, table = symbols["first"], symbols["second"], symbols["table"]
    assert (first.size, second.size, table.size) == (0, 0, 0)
    text_end = section_end(lib, ".text")
    for sections in (True, False):
        elf = image_file(lib, sections=sections)
        assert elf.symbolize(first.value) == ("first", first.value, 0, "function")
        assert elf.symbolize(first.value + 2)[0] == "first"
        assert elf.symbolize(second.value)[0] == "second"
        assert elf.symbolize(second.value + 1)[0] == "second"
        if sections:
            assert elf.symbolize(text_end) is None
        # A label of no size in data holds nothing but its address.
        assert elf.symbolize(table.value + 8) is None


def section_end(path: Path, name: str) -> int:
    text = subprocess.run(
        ["readelf", "-SW", str(path)], check=True, capture_output=True, text=True
    ).stdout
    for line in text.splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) > 5 and fields[1] == name:
            return int(fields[3], 16) + int(fields[5], 16)
    raise AssertionError(f"no {name} in {path}")


def test_symbolize_names_hidden_versions(semantics: dict[str, Path]) -> None:
    symbols = readelf_symbols(semantics["lib"])
    hidden = one(symbols, "foo@V1", ".dynsym")
    stripped = image_file(semantics["stripped"])
    # From .dynsym a hidden version says which it is, so that symbol()
    # finds it again; the default version is the plain name.
    assert stripped.symbolize(hidden.value) == ("foo@V1", hidden.value, hidden.size, "function")
    assert stripped.symbol("foo@V1")[0] == hidden.value
    default = one(symbols, "foo@@V2", ".dynsym")
    assert stripped.symbolize(default.value)[0] == "foo"
    # Nothing holds an address below every symbol, or a TLS offset.
    assert stripped.symbolize(0) is None


def test_symbolize_many_takes_any_iterable(semantics: dict[str, Path]) -> None:
    elf = image_file(semantics["lib"])
    value = elf.symbol("get_dup1")[0]
    assert elf.symbolize_many(iter([value, 0])) == [elf.symbolize(value), None]
    assert elf.symbolize_many(()) == []
    with pytest.raises(TypeError):
        elf.symbolize_many([value, "x"])  # type: ignore[list-item]
    with pytest.raises(OverflowError):
        elf.symbolize(-1)


# ---- load() ------------------------------------------------------------------


def open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("sections", [True, False])
def test_load_reads_everything_and_lets_go_of_the_descriptor(
    built: dict[str, Path], sections: bool
) -> None:
    # The executable's .dynsym defines nothing: without sections, the
    # library's.
    path, name = (built["linked"], "main") if sections else (built["lib"], "libnames_value")
    before = open_descriptors()
    elf = image_file(path, sections=sections)
    assert len(open_descriptors() - before) == 1, "the ImageFile keeps a dup"
    fresh = image_file(path, sections=sections)
    want = (
        fresh.symbol(name),
        fresh.symbolize(fresh.symbol(name)[0] + 1),
        fresh.needed,
        fresh.soname,
        fresh.build_id,
        fresh.debuglink,
        fresh.debuglink_crc,
    )
    del fresh
    assert not elf.loaded
    elf.load()
    assert elf.loaded
    assert open_descriptors() - before == set()
    got = (
        elf.symbol(name),
        elf.symbolize(elf.symbol(name)[0] + 1),
        elf.needed,
        elf.soname,
        elf.build_id,
        elf.debuglink,
        elf.debuglink_crc,
    )
    assert got == want
    assert want[0] is not None and want[1] is not None
    elf.load()  # again: nothing to do


def test_load_of_bytes_lets_go_of_the_buffer(built: dict[str, Path]) -> None:
    data = bytearray(built["lib"].read_bytes())
    elf = _core.ImageFile(data)
    value = elf.symbol("libnames_value")
    elf.load()
    data[:] = b""  # resizable again: the ImageFile no longer holds it
    assert elf.symbol("libnames_value") == value
    assert elf.symbolize(value[0]) == ("libnames_value", *value[:3])


def test_after_load_another_bias_is_refused_only_where_it_matters() -> None:
    libc = os.path.realpath(LIBC)
    if not os.path.exists(libc):
        pytest.skip(f"{LIBC} is not on this machine")
    image, bias = own_image(libc)
    in_memory = _core.ImageFile(image, format="elf", sections=False, dynamic_bias=bias)
    value = in_memory.symbol("malloc")
    # symbolize() takes its bias from the ImageFile: the relocated DT_*
    # addresses are found.
    assert in_memory.symbolize(value[0] + 1) == ("malloc", *value[:3])
    in_memory.load()
    assert in_memory.symbol("malloc") == value
    assert in_memory.symbolize(value[0] + 1) == ("malloc", *value[:3])
    assert in_memory.symbol("malloc", bias) == value
    # A bias that moves its DT_* addresses would need the table read
    # again, and the bytes are gone.
    with pytest.raises(ValueError, match="dynamic_bias"):
        in_memory.symbol("malloc", 0)
    # A file's DT_* addresses lie below any load bias: the same table.
    from_file = image_file(Path(libc), sections=False)
    from_file.load()
    assert from_file.symbol("malloc", bias) == from_file.symbol("malloc")
