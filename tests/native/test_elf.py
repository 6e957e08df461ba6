"""The portable ELF reader (memmaps/native/mm_elf.c), through tools/elfdump.c.

elfdump is built with AddressSanitizer and UndefinedBehaviorSanitizer.  Real
files are compiled here (gcc for x86-64 and, with gcc-multilib, i386; the
zig of the ``ziglang`` package for big-endian and other 32-bit targets) and
what elfdump reports is compared with what binutils' readelf reports for the
same file: the header, every program header, the build-id, the debuglink and
symbols.  The PT_DYNAMIC path (no section headers, as for an image read from
memory) must give the same answers as .dynsym, also on the live images of
libc and the vdso in elfdump's own memory, where the dynamic loader has
relocated the DT_* addresses.  Then hostile input: every truncation, random
byte changes, and headers and tables made to lie, each of which must give a
clean error or a correct answer, never a sanitizer report or a crash.  Last,
the libFuzzer target for a short run when clang is there.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from tests.helpers import crosscc, sanitized
from tests.helpers.sanitized import (
    build_driver,
    check_clean,
    driver_env,
    must,
    run_tool,
)

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "memmaps" / "native"
SOURCES = [
    ROOT / "tools" / "elfdump.c",
    NATIVE / "formats" / "elf.c",
    NATIVE / "core" / "list.c",
    NATIVE / "core" / "reader.c",
    NATIVE / "core" / "symindex.c",
]
LIBC = Path("/lib/x86_64-linux-gnu/libc.so.6")


pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="builds and compares ELF files with gcc/binutils"
)

# A PIE with a local symbol that only .symtab has, an exported function and
# an exported global (for shared libraries).
PROGRAM = """\
static int only_in_symtab = 42;
int exported_global = 7;
int *volatile keep = &only_in_symtab;
int
exported_function(int x)
{
    return x + *keep + exported_global;
}
int
main(void)
{
    return exported_function(1) == 0;
}
"""

# The same without a C library, for zig's cross targets: linking a C library
# for a new target costs zig a minute or more, this costs nothing.
NOSTDLIB = """\
static int only_in_symtab = 42;
int exported_global = 7;
int *volatile keep = &only_in_symtab;
int
exported_function(int x)
{
    return x + *keep + exported_global;
}
void
_start(void)
{
    for (;;) {
        exported_function(exported_global);
    }
}
"""

NAMES = ["exported_function", "exported_global", "only_in_symtab", "main", "no_such_symbol"]


# --------------------------------------------------------------------------
# elfdump
# --------------------------------------------------------------------------


@dataclass
class Dump:
    """What elfdump printed."""

    status: int
    stdout: str
    stderr: str
    facts: dict[str, str] = field(default_factory=dict)
    segments: list[dict[str, int]] = field(default_factory=list)
    symbols: dict[str, str] = field(default_factory=dict)

    def symbol(self, name: str) -> dict[str, str] | None:
        """The symbol's fields, None when not found; fails on an error."""
        text = self.symbols[name]
        assert not text.startswith("error"), f"{name}: {text}\n{self.stderr}"
        if text == "not found":
            return None
        return dict(item.split("=", 1) for item in text.split())


class Elfdump:
    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *args: str | Path, clean: bool = True) -> Dump:
        proc = subprocess.run(
            [str(self.path), *map(str, args)],
            capture_output=True,
            text=True,
            errors="replace",
            env=driver_env(),
            timeout=600,
            check=False,
        )
        check_clean(proc, "elfdump", args)
        dump = Dump(proc.returncode, proc.stdout, proc.stderr)
        for line in proc.stdout.splitlines():
            key, _, value = line.partition(": ")
            if key == "segment":
                dump.segments.append(
                    {k: int(v, 16) for k, v in (item.split("=") for item in value.split())}
                )
            elif key.startswith("symbol "):
                dump.symbols[key[len("symbol ") :]] = value
            else:
                dump.facts[key] = value
        if clean:
            assert proc.returncode == 0, f"elfdump {args} failed:\n{proc.stderr}"
        return dump


@pytest.fixture(scope="module")
def elfdump(tmp_path_factory: pytest.TempPathFactory) -> Elfdump:
    out = build_driver(
        tmp_path_factory.mktemp("elfdump"), "elfdump", SOURCES, NATIVE, "-D_GNU_SOURCE"
    )
    return Elfdump(out)


# --------------------------------------------------------------------------
# The truth, from binutils
# --------------------------------------------------------------------------

SEGMENT_TYPES = {
    "NULL": 0,
    "LOAD": 1,
    "DYNAMIC": 2,
    "INTERP": 3,
    "NOTE": 4,
    "SHLIB": 5,
    "PHDR": 6,
    "TLS": 7,
    "GNU_EH_FRAME": 0x6474E550,
    "GNU_STACK": 0x6474E551,
    "GNU_RELRO": 0x6474E552,
    "GNU_PROPERTY": 0x6474E553,
}
SYMBOL_TYPES = {
    "NOTYPE": 0,
    "OBJECT": 1,
    "FUNC": 2,
    "SECTION": 3,
    "FILE": 4,
    "COMMON": 5,
    "TLS": 6,
    "IFUNC": 10,
}
BINDINGS = {"LOCAL": 0, "GLOBAL": 1, "WEAK": 2, "UNIQUE": 10}
SPECIAL_SECTIONS = {"UND": 0, "ABS": 0xFFF1, "COM": 0xFFF2}

_SEGMENT = re.compile(
    r"^\s+(\S+)\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x([0-9a-f]+) 0x([0-9a-f]+) 0x([0-9a-f]+)"
    r" ([R ][W ][E ]) (0x[0-9a-f]+|0)$"
)
_SYMBOL = re.compile(
    r"^\s*(\d+): ([0-9a-f]+)\s+(\S+) (\S+)\s+(\S+)\s+(\S+)(?:\s+\[[^\]]*\])?\s+(\S+) ?(.*)$"
)


@dataclass
class RefSymbol:
    index: int
    value: int
    size: int
    type: str
    binding: str
    section: str
    name: str  # without the version
    version: str  # "", "@VER" (hidden) or "@@VER" (default)


def readelf_header(path: Path) -> dict[str, str]:
    facts = {}
    for line in must(["readelf", "-hW", path]).splitlines():
        key, _, value = line.strip().partition(":")
        facts[key] = value.strip()
    return facts


def readelf_segments(path: Path) -> list[dict[str, int]]:
    segments = []
    for line in must(["readelf", "-lW", path]).splitlines():
        m = _SEGMENT.match(line)
        if m is None:
            continue
        flags = m.group(7)
        segment = {
            "offset": int(m.group(2), 16),
            "vaddr": int(m.group(3), 16),
            "filesz": int(m.group(5), 16),
            "memsz": int(m.group(6), 16),
            "flags": (flags[0] == "R") * 4 + (flags[1] == "W") * 2 + (flags[2] == "E"),
            "align": int(m.group(8), 0),
        }
        if m.group(1) in SEGMENT_TYPES:
            segment["type"] = SEGMENT_TYPES[m.group(1)]
        segments.append(segment)
    return segments


def readelf_build_id(path: Path) -> str | None:
    m = re.search(r"Build ID: ([0-9a-f]+)", must(["readelf", "-nW", path]))
    return m.group(1) if m else None


def readelf_debuglink(path: Path) -> str | None:
    proc = run_tool(["readelf", "--string-dump=.gnu_debuglink", path])
    m = re.search(r"^\s+\[\s*0\]\s+(\S+)$", proc.stdout, re.M)
    return m.group(1) if m else None


def readelf_dynamic(path: Path) -> tuple[list[str], str]:
    """DT_NEEDED names in order, and DT_SONAME ("none" when absent)."""
    text = run_tool(["readelf", "-dW", path]).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", text)
    soname = re.findall(r"\(SONAME\)\s+Library soname: \[(.*)\]", text)
    return needed, soname[0] if soname else "none"


def readelf_debuglink_crc(path: Path) -> str:
    """The CRC32 after the .gnu_debuglink name, in the file's byte order, as
    elfdump prints it: "0x%08x", or "none"."""
    dump = run_tool(["readelf", "-x", ".gnu_debuglink", path]).stdout
    words = re.findall(r"^\s+0x[0-9a-f]+ ((?:[0-9a-f]{8} ?){1,4})", dump, re.M)
    if not words:
        return "none"
    raw = bytes.fromhex("".join(w.replace(" ", "") for w in words))
    at = (raw.index(b"\0") + 4) & ~3
    order = "big" if path.read_bytes()[5] == 2 else "little"
    return f"0x{int.from_bytes(raw[at : at + 4], order):08x}"


def readelf_symbols(path: Path) -> dict[str, list[RefSymbol]]:
    tables: dict[str, list[RefSymbol]] = {}
    current: list[RefSymbol] = []
    for line in must(["readelf", "-sW", path]).splitlines():
        if line.startswith("Symbol table '"):
            current = tables.setdefault(line.split("'")[1], [])
            continue
        m = _SYMBOL.match(line)
        if m is None:
            continue
        name = re.sub(r" \(\d+\)$", "", m.group(8))
        version = ""
        at = name.find("@")
        if at > 0:
            name, version = name[:at], name[at:]
        current.append(
            RefSymbol(
                index=int(m.group(1)),
                value=int(m.group(2), 16),
                size=int(m.group(3), 0),
                type=m.group(4),
                binding=m.group(5),
                section=m.group(7),
                name=name,
                version=version,
            )
        )
    return tables


def expected_symbol(
    tables: dict[str, list[RefSymbol]], name: str, order: Sequence[str] = (".symtab", ".dynsym")
) -> tuple[RefSymbol, str] | None:
    """The symbol mm_elf_find_symbol should give: the first defined one of
    that name in .symtab, else .dynsym; of several, a global one before a
    local one, and the default version (name@@V) before a hidden one."""
    for table in order:
        found = [s for s in tables.get(table, []) if s.name == name and s.section != "UND"]

        def rank(s: RefSymbol) -> int:
            if s.binding == "LOCAL":
                return 1
            return 2 if s.version.startswith("@") and not s.version.startswith("@@") else 3

        if found:
            best = max(found, key=lambda s: (rank(s), -s.index))
            return best, "symtab" if table == ".symtab" else "dynsym"
    return None


def section_number(text: str) -> int:
    if text in SPECIAL_SECTIONS:
        return SPECIAL_SECTIONS[text]
    return int(text)


def file_machine(path: Path) -> int:
    head = path.read_bytes()[:20]
    return int(struct.unpack_from("<H" if head[5] == 1 else ">H", head, 18)[0])


def compare_with_binutils(
    elfdump: Elfdump,
    path: Path,
    names: Sequence[str] = NAMES,
    *options: str,
    dynamic_only: bool = False,
) -> Dump:
    """Runs elfdump on path and checks every fact against readelf."""
    args = [*options, *(["--dynamic-only"] if dynamic_only else []), path, *names]
    dump = elfdump.run(*args)
    header = readelf_header(path)
    assert dump.facts["class"] == header["Class"].removeprefix("ELF")
    assert dump.facts["data"] == header["Data"].split(", ")[1].split()[0]
    elf_types = {"NONE": 0, "REL": 1, "EXEC": 2, "DYN": 3, "CORE": 4}
    assert int(dump.facts["type"]) == elf_types[header["Type"].split()[0]]
    assert int(dump.facts["machine"]) == file_machine(path)
    assert int(dump.facts["entry"], 16) == int(header["Entry point address"], 16)
    sections = int(header["Number of section headers"].split()[0])
    assert int(dump.facts["sections"]) == (0 if dynamic_only else sections)

    ref_segments = readelf_segments(path)
    assert int(dump.facts["segments"]) == len(ref_segments)
    for mine, ref in zip(dump.segments, ref_segments, strict=True):
        for key, value in ref.items():
            assert mine[key] == value, f"{path}: segment {key}: {mine} vs readelf {ref}"

    build_id = readelf_build_id(path)
    assert dump.facts["build-id"] == (build_id or "none")
    debuglink = None if dynamic_only else readelf_debuglink(path)
    assert dump.facts["debuglink"] == (debuglink or "none")
    crc = "none" if dynamic_only else readelf_debuglink_crc(path)
    assert dump.facts["debuglink-crc"] == crc
    needed, soname = readelf_dynamic(path)
    assert dump.facts["needed"].split() == needed
    assert dump.facts["soname"] == soname

    tables = readelf_symbols(path)
    order = (".dynsym",) if dynamic_only else (".symtab", ".dynsym")
    for name in names:
        expected = expected_symbol(tables, name, order)
        mine = dump.symbol(name)
        if expected is None:
            assert mine is None, f"{path}: {name} found: {mine}, readelf has none"
            continue
        ref, table = expected
        assert mine is not None, f"{path}: {name} not found, readelf has {ref}"
        assert int(mine["value"], 16) == ref.value, f"{path}: {name}: {mine} vs {ref}"
        assert int(mine["size"]) == ref.size
        assert int(mine["type"]) == SYMBOL_TYPES[ref.type]
        assert int(mine["binding"]) == BINDINGS[ref.binding]
        assert int(mine["section"]) == section_number(ref.section)
        assert mine["table"] == table
        # What holds its address is itself or an alias at the same value
        # (a sized one in code or data; not a TLS offset or an absolute;
        # and not in an object file, whose values count from each
        # section's start).
        relocatable = dump.facts["type"] == "1"
        if (
            ref.type in ("FUNC", "OBJECT", "IFUNC")
            and ref.size
            and ref.section.isdigit()
            and not relocatable
        ):
            holder = mine.get("holder", "").split("@")[0]
            aliases = {s.name for t in order for s in tables.get(t, []) if s.value == ref.value}
            assert holder in aliases, f"{path}: {name}: held by {holder!r}, not {aliases}"
    return dump


# --------------------------------------------------------------------------
# Real files
# --------------------------------------------------------------------------


class Builder:
    """Compiles the test files once per module, in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.program = folder / "program.c"
        self.program.write_text(PROGRAM)
        self.nostdlib = folder / "nostdlib.c"
        self.nostdlib.write_text(NOSTDLIB)
        self.built: dict[str, Path] = {}

    def gcc(self, name: str, *flags: str) -> Path:
        if name not in self.built:
            if shutil.which("gcc") is None:
                pytest.skip("no gcc")
            out = self.folder / name
            must(["gcc", "-O0", "-g0", *flags, self.program, "-o", out])
            self.built[name] = out
        return self.built[name]

    def derived(self, name: str, make: Callable[[Path], None]) -> Path:
        if name not in self.built:
            out = self.folder / name
            make(out)
            self.built[name] = out
        return self.built[name]

    def zig(self, name: str, target: str, *flags: str) -> Path:
        if name not in self.built:
            crosscc.require_zig()
            out = self.folder / name
            proc = crosscc.run(
                ["cc", "-target", target, "-O1", *flags, str(self.nostdlib), "-o", str(out)]
            )
            assert proc.returncode == 0, crosscc.describe(proc)
            self.built[name] = out
        return self.built[name]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    if shutil.which("readelf") is None:
        pytest.skip("binutils' readelf is needed as the reference")
    return Builder(tmp_path_factory.mktemp("elf-files"))


def gcc_m32_works(build: Builder) -> bool:
    probe = run_tool(["gcc", "-m32", build.program, "-o", build.folder / "probe32"])
    return probe.returncode == 0


def test_pie_with_local_symbol(elfdump: Elfdump, build: Builder) -> None:
    path = build.gcc("pie", "-fPIE", "-pie", "-Wl,--build-id")
    dump = compare_with_binutils(elfdump, path)
    # The local static is only in .symtab, and found there.
    local = dump.symbol("only_in_symtab")
    assert local is not None and local["table"] == "symtab" and local["binding"] == "0"
    assert dump.symbol("no_such_symbol") is None
    assert dump.facts["type"] == "3" and dump.facts["build-id"] != "none"


def test_shared_library(elfdump: Elfdump, build: Builder) -> None:
    path = build.gcc("lib.so", "-shared", "-fPIC")
    dump = compare_with_binutils(elfdump, path)
    exported = dump.symbol("exported_global")
    assert exported is not None and exported["type"] == "1" and exported["binding"] == "1"


@pytest.mark.parametrize("style", ["gnu", "sysv", "both"])
def test_dynamic_only_matches_dynsym(elfdump: Elfdump, build: Builder, style: str) -> None:
    """Without section headers the symbols come from PT_DYNAMIC, counted by
    DT_GNU_HASH or DT_HASH: the same answers as .dynsym, and nothing that
    only .symtab has."""
    path = build.gcc(f"lib-{style}.so", "-shared", "-fPIC", f"-Wl,--hash-style={style}")
    dump = compare_with_binutils(elfdump, path, dynamic_only=True)
    assert dump.symbol("only_in_symtab") is None
    found = dump.symbol("exported_function")
    assert found is not None and found["table"] == "dynsym"
    # The same through a reader that does not know the size (as for memory).
    compare_with_binutils(elfdump, path, NAMES, "--unknown-size", dynamic_only=True)


def test_static_binary(elfdump: Elfdump, build: Builder) -> None:
    probe = run_tool(["gcc", "-static", "-no-pie", build.program, "-o", build.folder / "probe"])
    if probe.returncode != 0:
        pytest.skip(f"gcc cannot link statically here (libc.a missing?): {probe.stderr}")
    path = build.gcc("static", "-static", "-no-pie")
    dump = compare_with_binutils(elfdump, path, [*NAMES, "malloc", "printf"])
    assert dump.facts["type"] == "2"
    assert not any(s["type"] == 2 for s in dump.segments), "a static binary has no PT_DYNAMIC"
    # No PT_DYNAMIC and no sections: nothing to find, cleanly.
    dynamic = elfdump.run("--dynamic-only", path, "main")
    assert dynamic.symbol("main") is None


def test_stripped_copies_keep_only_dynsym(elfdump: Elfdump, build: Builder) -> None:
    lib = build.gcc("lib.so", "-shared", "-fPIC")
    pie = build.gcc("pie-rdynamic", "-fPIE", "-pie", "-rdynamic")
    for source in (lib, pie):
        stripped = build.derived(
            source.name + ".stripped", lambda out, s=source: must(["strip", "-o", out, s])
        )
        assert ".symtab" not in readelf_symbols(stripped)
        dump = compare_with_binutils(elfdump, stripped)
        assert dump.symbol("only_in_symtab") is None
        found = dump.symbol("exported_function")
        assert found is not None and found["table"] == "dynsym"


@pytest.mark.parametrize("style", ["sha1", "md5", "uuid", "0x0123456789abcdef01234567", "none"])
def test_build_id(elfdump: Elfdump, build: Builder, style: str) -> None:
    path = build.gcc(f"buildid-{style}", "-Wl,--build-id=" + style)
    dump = compare_with_binutils(elfdump, path)
    if style == "none":
        assert dump.facts["build-id"] == "none"
    elif style.startswith("0x"):
        assert dump.facts["build-id"] == style[2:]
    else:
        assert len(dump.facts["build-id"]) == (40 if style == "sha1" else 32)


def test_build_id_of_odd_length(elfdump: Elfdump, build: Builder) -> None:
    """ld leaves a 10-byte build-id's note unpadded at the end of its
    section.  readelf (and the kernel's build-id parser) reject such a note;
    the reader takes the bytes, which are all there."""
    path = build.gcc("buildid-odd", "-Wl,--build-id=0x0123456789abcdef0123")
    assert elfdump.run(path).facts["build-id"] == "0123456789abcdef0123"


def test_debuglink(elfdump: Elfdump, build: Builder) -> None:
    pie = build.gcc("pie", "-fPIE", "-pie", "-Wl,--build-id")
    debug = build.derived("pie.debug", lambda out: must(["objcopy", "--only-keep-debug", pie, out]))
    linked = build.derived(
        "pie-linked",
        lambda out: must(["objcopy", f"--add-gnu-debuglink={debug}", pie, out]),
    )
    dump = compare_with_binutils(elfdump, linked)
    assert dump.facts["debuglink"] == "pie.debug"
    # The separate debug file is an ELF file too, with NOBITS sections.
    compare_with_binutils(elfdump, debug)


def test_libc(elfdump: Elfdump) -> None:
    if not LIBC.is_file():
        pytest.skip(f"no {LIBC} on this system")
    names = ["malloc", "memcpy", "printf", "__libc_start_main", "no_such_symbol"]
    dump = compare_with_binutils(elfdump, LIBC, names)
    assert dump.facts["build-id"] == readelf_build_id(LIBC)
    malloc = dump.symbol("malloc")
    assert malloc is not None and malloc["type"] == "2"
    # memcpy has two versions: the default (memcpy@@GLIBC_2.14) wins.
    default = [s for s in readelf_symbols(LIBC)[".dynsym"] if s.name == "memcpy"]
    default = [s for s in default if s.version.startswith("@@")]
    memcpy = dump.symbol("memcpy")
    if default:
        assert memcpy is not None and int(memcpy["value"], 16) == default[0].value
    compare_with_binutils(elfdump, LIBC, names, dynamic_only=True)
    compare_with_binutils(elfdump, LIBC, names, "--unknown-size", dynamic_only=True)


# 32-bit and big-endian files, built without a C library so that zig has
# nothing to build first.  (bits, byte order) is checked against the file.
CROSS_TARGETS = {
    "x86-linux-musl": ("32", "little"),
    "arm-linux-musleabi": ("32", "little"),
    "mips-linux-musl": ("32", "big"),
    "powerpc64-linux-musl": ("64", "big"),
    "s390x-linux-musl": ("64", "big"),
    "aarch64_be-linux-musl": ("64", "big"),
}


@pytest.mark.parametrize("target", sorted(CROSS_TARGETS))
@pytest.mark.parametrize("kind", ["shared", "static", "object"])
def test_cross_compiled(elfdump: Elfdump, build: Builder, target: str, kind: str) -> None:
    flags = {
        # A soname: DT_STRTAB read in the target's byte order and class.
        "shared": ["-nostdlib", "-shared", "-fPIC", "-Wl,--build-id", "-Wl,-soname,libx.so.2"],
        # MIPS linkers look for __start: name the entry, or everything is
        # collected as garbage.
        "static": ["-nostdlib", "-static", "-Wl,--build-id", "-Wl,-e,_start"],
        "object": ["-c"],
    }[kind]
    path = build.zig(f"{target}-{kind}", target, *flags)
    dump = compare_with_binutils(elfdump, path)
    assert (dump.facts["class"], dump.facts["data"]) == CROSS_TARGETS[target]
    assert dump.symbol("only_in_symtab") is not None
    if kind == "object":
        assert dump.facts["segments"] == "0"  # no program headers: sections only
    if kind == "shared":
        assert dump.facts["soname"] == "libx.so.2"
        dynamic = compare_with_binutils(elfdump, path, dynamic_only=True)
        assert dynamic.symbol("exported_function") is not None


def test_gcc_m32(elfdump: Elfdump, build: Builder) -> None:
    if not gcc_m32_works(build):
        pytest.skip("gcc -m32 does not link here (apt-get install gcc-multilib)")
    pie = build.gcc("pie32", "-m32", "-fPIE", "-pie", "-Wl,--build-id")
    dump = compare_with_binutils(elfdump, pie)
    assert dump.facts["class"] == "32" and dump.facts["machine"] == "3"
    lib = build.gcc("lib32.so", "-m32", "-shared", "-fPIC")
    compare_with_binutils(elfdump, lib)
    compare_with_binutils(elfdump, lib, dynamic_only=True)


# --------------------------------------------------------------------------
# Images in memory, where the dynamic loader has relocated PT_DYNAMIC
# --------------------------------------------------------------------------


def mapped_name(fragment: str) -> str:
    """The name under which this process maps a file (maps says /usr/lib
    where the path says /lib)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].strip().endswith(fragment):
                return parts[5].strip()
    pytest.skip(f"nothing named *{fragment} is mapped")


def test_libc_in_memory(elfdump: Elfdump) -> None:
    if not LIBC.is_file():
        pytest.skip(f"no {LIBC} on this system")
    name = mapped_name("/libc.so.6")
    names = ["malloc", "memcpy", "printf"]
    dump = elfdump.run("--self-image", name, "--dynamic-only", *names)
    assert int(dump.facts["bias"], 16) != 0
    assert dump.facts["sections"] == "0"
    assert dump.facts["build-id"] == readelf_build_id(LIBC)
    tables = readelf_symbols(LIBC)
    for symbol in names:
        expected = expected_symbol(tables, symbol, (".dynsym",))
        mine = dump.symbol(symbol)
        assert expected is not None and mine is not None
        assert int(mine["value"], 16) == expected[0].value
    # Without the bias the relocated DT_* addresses lead nowhere: this shows
    # that the image really was relocated, so the bias was what made it work.
    unbiased = elfdump.run(
        "--self-image", name, "--dynamic-only", "--no-bias", "malloc", clean=False
    )
    assert unbiased.status == 1 and unbiased.symbols["malloc"].startswith("error")


def test_vdso_in_memory(elfdump: Elfdump, tmp_path: Path) -> None:
    """The vdso has no file: it is read from memory, sections and all.  Its
    DT_* addresses are not relocated, and the bias must leave them alone."""
    with open("/proc/self/maps") as maps:
        found = [line.split()[0] for line in maps if line.rstrip().endswith("[vdso]")]
    if not found:
        pytest.skip("no [vdso] in this process")
    start, end = (int(x, 16) for x in found[0].split("-"))
    with open("/proc/self/mem", "rb") as mem:
        mem.seek(start)
        image = mem.read(end - start)
    copy = tmp_path / "vdso.so"
    copy.write_bytes(image)
    tables = readelf_symbols(copy)
    names = sorted({s.name for s in tables.get(".dynsym", []) if s.name.startswith("__vdso")})
    assert names, "the vdso exports no __vdso_* symbol"
    with_sections = elfdump.run("--self-image", "[vdso]", *names)
    dynamic = elfdump.run("--self-image", "[vdso]", "--dynamic-only", *names)
    assert int(with_sections.facts["sections"]) > 0
    assert dynamic.facts["sections"] == "0"
    # Two processes: two load addresses.
    assert int(dynamic.facts["bias"], 16) != 0 and int(with_sections.facts["bias"], 16) != 0
    assert dynamic.facts["build-id"] == (readelf_build_id(copy) or "none")
    for name in names:
        expected = expected_symbol(tables, name)
        assert expected is not None
        for dump in (with_sections, dynamic):
            mine = dump.symbol(name)
            assert mine is not None and int(mine["value"], 16) == expected[0].value
            assert mine["table"] == "dynsym"
    # The copy on disk reads the same as the image in memory.
    compare_with_binutils(elfdump, copy, names)


# --------------------------------------------------------------------------
# Hostile input
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_every_truncation(elfdump: Elfdump, build: Builder) -> None:
    """Every prefix of real files, with and without section headers: each
    gives an error or the facts of the whole file (elfdump --truncate-all
    compares them in one process)."""
    files = [
        build.gcc("pie", "-fPIE", "-pie", "-Wl,--build-id"),
        build.gcc("lib-gnu.so", "-shared", "-fPIC", "-Wl,--hash-style=gnu"),
        build.gcc("lib-sysv.so", "-shared", "-fPIC", "-Wl,--hash-style=sysv"),
    ]
    if crosscc.zig_command() is not None:
        files.append(
            build.zig(
                "mips-linux-musl-shared",
                "mips-linux-musl",
                "-nostdlib",
                "-shared",
                "-fPIC",
                "-Wl,--build-id",
            )
        )
        files.append(
            build.zig(
                "powerpc64-linux-musl-static",
                "powerpc64-linux-musl",
                "-nostdlib",
                "-static",
                "-Wl,--build-id",
                "-Wl,-e,_start",
            )
        )
    for path in files:
        dump = elfdump.run("--truncate-all", path, *NAMES)
        m = re.search(r"truncations: (\d+) opened: (\d+) mismatches: (\d+)", dump.stdout)
        assert m, dump.stdout
        assert int(m.group(1)) == 2 * path.stat().st_size
        assert int(m.group(2)) > 0 and int(m.group(3)) == 0, dump.stderr


def test_truncated_files_through_the_command(
    elfdump: Elfdump, build: Builder, tmp_path: Path
) -> None:
    """A sample of truncations read from files, in both read modes."""
    data = build.gcc("lib.so", "-shared", "-fPIC").read_bytes()
    lengths = sorted({*range(0, 80, 3), *range(80, len(data), max(1, len(data) // 40))})
    cut = tmp_path / "cut"
    for length in lengths:
        cut.write_bytes(data[:length])
        for mode in ([], ["--unknown-size"], ["--dynamic-only"]):
            elfdump.run(*mode, cut, *NAMES, clean=False)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_byte_changes(elfdump: Elfdump, build: Builder, seed: int) -> None:
    files = [
        build.gcc("pie", "-fPIE", "-pie", "-Wl,--build-id"),
        build.gcc("lib-gnu.so", "-shared", "-fPIC", "-Wl,--hash-style=gnu"),
        build.gcc("lib-sysv.so", "-shared", "-fPIC", "-Wl,--hash-style=sysv"),
    ]
    if crosscc.zig_command() is not None:
        files.append(
            build.zig(
                "mips-linux-musl-shared",
                "mips-linux-musl",
                "-nostdlib",
                "-shared",
                "-fPIC",
                "-Wl,--build-id",
            )
        )
    for path in files:
        dump = elfdump.run("--flips", str(seed), "4000", path, *NAMES)
        assert "flips: 4000" in dump.stdout


class Elf:
    """Just enough of an ELF writer to make headers and tables lie."""

    EHDR: ClassVar[dict[bool, dict[str, tuple[int, str]]]] = {
        False: {"phoff": (28, "I"), "shoff": (32, "I"), "phentsize": (42, "H"),
                "phnum": (44, "H"), "shentsize": (46, "H"), "shnum": (48, "H"),
                "shstrndx": (50, "H")},
        True: {"phoff": (32, "Q"), "shoff": (40, "Q"), "phentsize": (54, "H"),
               "phnum": (56, "H"), "shentsize": (58, "H"), "shnum": (60, "H"),
               "shstrndx": (62, "H")},
    }  # fmt: skip
    SHDR: ClassVar[dict[bool, dict[str, tuple[int, str]]]] = {
        False: {"name": (0, "I"), "type": (4, "I"), "offset": (16, "I"), "size": (20, "I"),
                "link": (24, "I"), "info": (28, "I"), "entsize": (36, "I")},
        True: {"name": (0, "I"), "type": (4, "I"), "offset": (24, "Q"), "size": (32, "Q"),
               "link": (40, "I"), "info": (44, "I"), "entsize": (56, "Q")},
    }  # fmt: skip
    PHDR: ClassVar[dict[bool, dict[str, tuple[int, str]]]] = {
        False: {"type": (0, "I"), "offset": (4, "I"), "vaddr": (8, "I"), "filesz": (16, "I")},
        True: {"type": (0, "I"), "offset": (8, "Q"), "vaddr": (16, "Q"), "filesz": (32, "Q")},
    }  # fmt: skip

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.is64 = data[4] == 2
        self.order = "<" if data[5] == 1 else ">"

    def get(self, at: int, fmt: str) -> int:
        return int(struct.unpack_from(self.order + fmt, self.data, at)[0])

    def put(self, at: int, fmt: str, value: int) -> None:
        struct.pack_into(self.order + fmt, self.data, at, value)

    def header(self, name: str, value: int | None = None) -> int:
        at, fmt = self.EHDR[self.is64][name]
        if value is not None:
            self.put(at, fmt, value)
        return self.get(at, fmt)

    def section(self, index: int, name: str, value: int | None = None) -> int:
        at, fmt = self.SHDR[self.is64][name]
        at += self.header("shoff") + index * self.header("shentsize")
        if value is not None:
            self.put(at, fmt, value)
        return self.get(at, fmt)

    def segment(self, index: int, name: str, value: int | None = None) -> int:
        at, fmt = self.PHDR[self.is64][name]
        at += self.header("phoff") + index * self.header("phentsize")
        if value is not None:
            self.put(at, fmt, value)
        return self.get(at, fmt)

    def section_named(self, name: str) -> int:
        strtab = self.section(self.header("shstrndx"), "offset")
        for i in range(self.header("shnum")):
            start = strtab + self.section(i, "name")
            if self.data[start : self.data.index(0, start)] == name.encode():
                return i
        raise KeyError(name)

    def segment_of_type(self, type_: int) -> int:
        for i in range(self.header("phnum")):
            if self.segment(i, "type") == type_:
                return i
        raise KeyError(type_)

    def dynamic_entry(self, tag: int, value: int) -> None:
        """Sets the value of the first DT_ entry with this tag."""
        i = self.segment_of_type(2)
        offset, size = self.segment(i, "offset"), self.segment(i, "filesz")
        word = "Q" if self.is64 else "I"
        step = 16 if self.is64 else 8
        for at in range(offset, offset + size, step):
            if self.get(at, word) == tag:
                self.put(at + step // 2, word, value)
                return
        raise KeyError(tag)

    def vaddr_offset(self, vaddr: int) -> int:
        for i in range(self.header("phnum")):
            start, size = self.segment(i, "vaddr"), self.segment(i, "filesz")
            if self.segment(i, "type") == 1 and start <= vaddr < start + size:
                return vaddr - start + self.segment(i, "offset")
        raise KeyError(vaddr)

    def dynsym_symbol(self, name: str) -> int:
        """The file offset of .dynsym's entry for name."""
        dynsym = self.section_named(".dynsym")
        strtab = self.section(self.section(dynsym, "link"), "offset")
        entsize = 24 if self.is64 else 16
        base = self.section(dynsym, "offset")
        for i in range(self.section(dynsym, "size") // entsize):
            start = strtab + self.get(base + i * entsize, "I")
            if self.data[start : self.data.index(0, start)] == name.encode():
                return base + i * entsize
        raise KeyError(name)


U64 = 2**64 - 1
PN_XNUM = 0xFFFF


def hostile_cases() -> dict[str, tuple[Callable[[Elf], None], str]]:
    """name: (how to break the file, what must still hold).  The checks:
    "error" (exit 1 with a message), "sections0" (sections ignored, symbols
    through .dynsym), "same" (the same answers as the intact file),
    "symtab-error" (.symtab lookups fail, .dynsym ones work), "dynamic-error"
    (the PT_DYNAMIC path fails), "no-build-id", "no-debuglink", "clean" (no
    crash is all that is asked)."""

    def shdr_of(elf: Elf, name: str) -> int:
        return elf.section_named(name)

    def gnu_hash_offset(elf: Elf) -> int:
        return elf.section(shdr_of(elf, ".gnu.hash"), "offset")

    def gnu_chain_no_end(elf: Elf) -> None:
        # No chain word with its end bit: the walk runs on past the chains
        # into whatever follows, and must stop at the first odd word there,
        # at the end of the file or at the symbol limit.
        at = gnu_hash_offset(elf)
        nbuckets, symoffset, bloom = (elf.get(at + 4 * k, "I") for k in range(3))
        chain = at + 16 + bloom * (8 if elf.is64 else 4) + nbuckets * 4
        dynsym = shdr_of(elf, ".dynsym")
        count = elf.section(dynsym, "size") // (24 if elf.is64 else 16)
        for p in range(chain, chain + 4 * (count - symoffset), 4):
            elf.put(p, "I", elf.get(p, "I") & ~1)

    def gnu_bucket_huge(elf: Elf) -> None:
        at = gnu_hash_offset(elf)
        bloom = elf.get(at + 8, "I")
        buckets = at + 16 + bloom * (8 if elf.is64 else 4)
        elf.put(buckets, "I", 0xFFFFFFF0)

    def strtab_without_nul(elf: Elf) -> None:
        i = shdr_of(elf, ".strtab")
        start, size = elf.section(i, "offset"), elf.section(i, "size")
        elf.data[start : start + size] = b"A" * size

    def dynstr_without_nul(elf: Elf) -> None:
        i = shdr_of(elf, ".dynstr")
        start, size = elf.section(i, "offset"), elf.section(i, "size")
        elf.data[start : start + size] = b"B" * size

    def debuglink_without_nul(elf: Elf) -> None:
        i = shdr_of(elf, ".gnu_debuglink")
        start, size = elf.section(i, "offset"), elf.section(i, "size")
        elf.data[start : start + size] = b"C" * size

    def note_sizes(value_at: int) -> Callable[[Elf], None]:
        def change(elf: Elf) -> None:
            i = shdr_of(elf, ".note.gnu.build-id")
            elf.put(elf.section(i, "offset") + value_at, "I", 0xFFFFFFFF)

        return change

    def symbol_name_out_of_range(elf: Elf) -> None:
        elf.put(elf.dynsym_symbol("exported_function"), "I", 0xFFFFFFF0)

    def set_header(**values: int) -> Callable[[Elf], None]:
        def change(elf: Elf) -> None:
            for k, v in values.items():
                elf.header(k, v)

        return change

    def set_section(name: str, **values: int) -> Callable[[Elf], None]:
        def change(elf: Elf) -> None:
            i = shdr_of(elf, name)
            for k, v in values.items():
                elf.section(i, k, v)

        return change

    def extended_phnum(count: int | None) -> Callable[[Elf], None]:
        def change(elf: Elf) -> None:
            real = elf.header("phnum")
            elf.section(0, "info", real if count is None else count)
            elf.header("phnum", PN_XNUM)

        return change

    def extended_shnum(count: int | None) -> Callable[[Elf], None]:
        def change(elf: Elf) -> None:
            real = elf.header("shnum")
            elf.section(0, "size", real if count is None else count)
            elf.header("shnum", 0)

        return change

    def extended_shstrndx(index: int | None) -> Callable[[Elf], None]:
        def change(elf: Elf) -> None:
            real = elf.header("shstrndx")
            elf.section(0, "link", real if index is None else index)
            elf.header("shstrndx", 0xFFFF)

        return change

    def dynamic(tag: int, value: int) -> Callable[[Elf], None]:
        return lambda elf: elf.dynamic_entry(tag, value)

    def dynamic_filesz(elf: Elf) -> None:
        elf.segment(elf.segment_of_type(2), "filesz", 2**62 if elf.is64 else 2**31)

    def hash_nchain(elf: Elf) -> None:
        at = elf.section(shdr_of(elf, ".hash"), "offset")
        elf.put(at + 4, "I", 0xFFFFFFFF)

    return {
        "phnum-xnum-huge": (extended_phnum(0xFFFFFFFF), "error"),
        "phnum-xnum-real": (extended_phnum(None), "same"),
        "phoff-wraps": (set_header(phoff=U64 - 8), "error"),
        "phoff-past-end": (set_header(phoff=2**31), "error"),
        "phentsize-zero": (set_header(phentsize=0), "error"),
        "phentsize-short": (set_header(phentsize=55), "error"),
        "phnum-huge": (set_header(phnum=0xFFFE), "error"),
        "shnum-huge": (set_header(shnum=0xFFFE), "sections0"),
        "shoff-wraps": (set_header(shoff=U64 - 16), "sections0"),
        "shoff-past-end": (set_header(shoff=2**40), "sections0"),
        "shentsize-odd": (set_header(shentsize=63), "sections0"),
        "shnum-extended-real": (extended_shnum(None), "same"),
        "shnum-extended-huge": (extended_shnum(2**40), "sections0"),
        "shstrndx-xindex-real": (extended_shstrndx(None), "same"),
        "shstrndx-xindex-bad": (extended_shstrndx(0xFFFFFFFF), "no-debuglink"),
        "shstrndx-out-of-range": (set_header(shstrndx=0xFFF0), "no-debuglink"),
        "symtab-link-out-of-range": (set_section(".symtab", link=0xFFFF), "symtab-error"),
        "symtab-link-not-strtab": (set_section(".symtab", link=0), "symtab-error"),
        "symtab-entsize": (set_section(".symtab", entsize=23), "symtab-error"),
        "symtab-size-huge": (set_section(".symtab", size=2**62), "symtab-error"),
        "symtab-offset-wraps": (set_section(".symtab", offset=U64 - 8), "symtab-error"),
        "strtab-without-nul": (strtab_without_nul, "symtab-error"),
        "strtab-size-huge": (set_section(".strtab", size=2**62), "symtab-error"),
        "dynstr-without-nul": (dynstr_without_nul, "dynamic-error"),
        "dynsym-name-out-of-range": (symbol_name_out_of_range, "dynamic-error"),
        "debuglink-without-nul": (debuglink_without_nul, "no-debuglink"),
        "debuglink-size-huge": (set_section(".gnu_debuglink", size=2**62), "no-debuglink"),
        "note-namesz-huge": (note_sizes(0), "no-build-id"),
        "note-descsz-huge": (note_sizes(4), "no-build-id"),
        "gnu-hash-chain-without-end": (gnu_chain_no_end, "clean"),
        "gnu-hash-bucket-huge": (gnu_bucket_huge, "dynamic-error"),
        "gnu-hash-nbuckets-huge": (lambda e: e.put(gnu_hash_offset(e), "I", 0xFFFFFFFF),
                                   "dynamic-error"),
        "gnu-hash-bloom-huge": (lambda e: e.put(gnu_hash_offset(e) + 8, "I", 0xFFFFFFFF),
                                "dynamic-error"),
        "dt-strsz-huge": (dynamic(10, 2**40), "dynamic-error"),
        "dt-syment-wrong": (dynamic(11, 7), "dynamic-error"),
        "dt-symtab-unmapped": (dynamic(6, 2**40), "dynamic-error"),
        "dt-strtab-wraps": (dynamic(5, U64 - 4), "dynamic-error"),
        # Read as the dynamic loader does, up to DT_NULL, and no further than
        # the PT_LOAD that holds it.
        "pt-dynamic-filesz-huge": (dynamic_filesz, "clean"),
    } | {
        "sysv:hash-nchain-huge": (hash_nchain, "dynamic-error"),
    }  # fmt: skip


HOSTILE = hostile_cases()


@pytest.fixture(scope="module")
def hostile_sources(build: Builder) -> dict[str, Path]:
    """Shared libraries with both symbol tables, a debuglink and a build-id,
    one hashed the GNU way and one the System V way."""
    sources = {}
    for style in ("gnu", "sysv"):
        lib = build.gcc(
            f"lib-{style}-id.so", "-shared", "-fPIC", "-Wl,--build-id", f"-Wl,--hash-style={style}"
        )
        debug = build.derived(
            f"lib-{style}.debug",
            lambda out, lib=lib: must(["objcopy", "--only-keep-debug", lib, out]),
        )
        sources[style] = build.derived(
            f"lib-{style}-linked.so",
            lambda out, lib=lib, debug=debug: must(
                ["objcopy", f"--add-gnu-debuglink={debug}", lib, out]
            ),
        )
    return sources


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_headers(
    elfdump: Elfdump, hostile_sources: dict[str, Path], tmp_path: Path, case: str
) -> None:
    change, expect = HOSTILE[case]
    source = hostile_sources["sysv" if case.startswith("sysv:") else "gnu"]
    names = ["exported_function", "only_in_symtab", "no_such_symbol"]
    intact = elfdump.run(source, *names)
    intact_dynamic = elfdump.run("--dynamic-only", source, *names)
    elf = Elf(source.read_bytes())
    change(elf)
    path = tmp_path / "hostile.so"
    path.write_bytes(bytes(elf.data))

    dumps = {
        mode: elfdump.run(*flags, path, *names, clean=False)
        for mode, flags in {
            "sections": [],
            "dynamic": ["--dynamic-only"],
            "unknown-size": ["--unknown-size"],
        }.items()
    }
    full = dumps["sections"]
    if expect == "error":
        for dump in dumps.values():
            assert dump.status == 1 and not dump.facts, dump.stdout
        return
    assert full.facts.get("class"), f"{case}: the file no longer opens\n{full.stderr}"
    if expect == "same":
        assert full.stdout == intact.stdout
        assert dumps["dynamic"].stdout == intact_dynamic.stdout
    elif expect == "sections0":
        assert full.facts["sections"] == "0"
        assert full.symbols["exported_function"] == intact_dynamic.symbols["exported_function"]
        assert full.symbol("only_in_symtab") is None
    elif expect == "symtab-error":
        # .symtab is corrupt: what .dynsym has is still found there, what
        # only .symtab has is an error, not a wrong answer.
        assert full.status == 1
        assert full.symbols["exported_function"] == intact_dynamic.symbols["exported_function"]
        assert full.symbols["only_in_symtab"].startswith("error: ")
        assert dumps["dynamic"].stdout == intact_dynamic.stdout
    elif expect == "dynamic-error":
        dynamic = dumps["dynamic"]
        assert dynamic.status == 1, dynamic.stdout
        assert dynamic.symbols["exported_function"].startswith("error: ")
        assert dynamic.facts["build-id"] == intact.facts["build-id"]
    elif expect == "no-build-id":
        assert full.facts["build-id"] == "none"
        assert full.symbols == intact.symbols
    elif expect == "no-debuglink":
        assert full.facts["debuglink"] == "none"
        assert full.symbols == intact.symbols
    elif expect != "clean":
        raise AssertionError(f"unknown expectation {expect}")
    # Whatever else: a symbol is never reported with a wrong value (it may
    # come from .dynsym when .symtab was lost).
    for dump, reference in ((full, intact), (dumps["dynamic"], intact_dynamic)):
        for name, text in dump.symbols.items():
            if not text.startswith(("error", "not found")):
                facts = text.rsplit(" table=", 1)[0]
                assert facts == reference.symbols[name].rsplit(" table=", 1)[0], (
                    f"{case}: {name}: {text}"
                )


def test_not_elf(elfdump: Elfdump, tmp_path: Path) -> None:
    cases = {
        "empty": b"",
        "text": b"#!/bin/sh\necho hello\n",
        "magic-only": b"\x7fELF",
        "bad-class": b"\x7fELF\x03\x01\x01" + bytes(57),
        "bad-data": b"\x7fELF\x02\x03\x01" + bytes(57),
        "bad-version": b"\x7fELF\x02\x01\x02" + bytes(57),
        "header-only": b"\x7fELF\x02\x01\x01" + bytes(57),
        "short-32": b"\x7fELF\x01\x02\x01" + bytes(20),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        dump = elfdump.run(path, "main", clean=False)
        assert dump.status == 1, f"{name}: {dump.stdout}"
        assert dump.stderr.startswith(f"elfdump: {path}: "), dump.stderr


# --------------------------------------------------------------------------
# The fuzzer
# --------------------------------------------------------------------------


@pytest.mark.fuzz
def test_fuzz_briefly(tmp_path: Path) -> None:
    """tests/fuzz/run_fuzz.sh elf for 20 s: any crash, sanitizer report, leak or
    timeout fails it (the input is in the printed artifacts folder)."""
    clang = sanitized.libfuzzer_clang()
    if clang is None:
        pytest.skip("no clang with libFuzzer (apt-get install clang-14)")
    if shutil.which("gcc") is None:
        pytest.skip("no gcc for the seed corpus")
    sanitized.run_fuzzer("elf", 20, tmp_path, clang)
