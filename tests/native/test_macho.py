"""The portable Mach-O and dyld readers (memmaps/native/mm_macho.c and
mm_dyld.c), through tools/machodump.c.

machodump is built with AddressSanitizer and UndefinedBehaviorSanitizer.
Real Mach-O files are made here with the zig of the ``ziglang`` package
(executables, dylibs and objects for arm64 and x86-64 macOS, stripped
copies, fat files joined by llvm-lipo) and with clang (32-bit objects), and
what machodump reports is compared with LLVM's llvm-objdump --macho and
llvm-nm for the same file: the header, every segment, LC_UUID, LC_SYMTAB,
the fat headers and the defined symbols, with a static (local) one among
them and stabs that must be skipped.

Then images in memory (MM_MACHO_MEMORY): a real image laid out at a slide,
as dyld maps it, also with load commands whose file offsets count from
elsewhere (a dylib of the dyld shared cache), whose symbols must be found
at value + slide.  Then dyld's records: a simulated target memory
(tests/helpers/machosim.py) holding dyld_all_image_infos of several versions and
pointer sizes, its infoArray, the paths, and real images at slides: every
image, dyld itself and the shared cache fields come back, and the slide
read from each image's header is the one it was laid out at.  Last, hostile
input: every truncation, random byte changes, headers, tables and records
made to lie, each of which must give a clean error or a correct answer,
never a sanitizer report, a crash or a hang; and a short run of the
libFuzzer target.
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

import pytest

from tests.helpers import crosscc, machosim, sanitized
from tests.helpers.sanitized import (
    build_driver,
    check_clean,
    driver_env,
    must,
)

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "memmaps" / "native"
SOURCES = [
    ROOT / "tools" / "machodump.c",
    NATIVE / "formats" / "macho.c",
    NATIVE / "formats" / "dyld.c",
    NATIVE / "formats" / "macho_images.c",
    NATIVE / "core" / "list.c",
    NATIVE / "core" / "reader.c",
]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="builds machodump with gcc's sanitizers"
)

# A local (static) symbol kept alive through a pointer, an exported
# function and an exported global.
PROGRAM = """\
static int only_local = 7;
int exported_global = 7;
int *volatile keep = &only_local;
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

NAMES = ["_exported_function", "_exported_global", "_only_local", "_main", "_no_such_symbol"]
CPU = {"x86_64": machosim.CPU_X86_64, "arm64": machosim.CPU_ARM64}
ZIG_TARGETS = {"x86_64": "x86_64-macos", "arm64": "aarch64-macos"}


def llvm_tool(name: str) -> str:
    """llvm-NAME-14 or llvm-NAME, or skip the test (Debian: llvm-14)."""
    for candidate in (f"llvm-{name}-14", f"llvm-{name}"):
        path = shutil.which(candidate)
        if path is not None:
            return path
    pytest.skip(f"no llvm-{name} (apt-get install llvm-14) to compare with")


# --------------------------------------------------------------------------
# machodump
# --------------------------------------------------------------------------


def fields(text: str) -> dict[str, str]:
    """key=value items (a path= item takes the rest of the line)."""
    out: dict[str, str] = {}
    rest = text
    while rest:
        if rest.startswith("path="):
            out["path"] = rest[5:]
            break
        item, _, rest = rest.partition(" ")
        key, _, value = item.partition("=")
        out[key] = value
    return out


@dataclass
class Image:
    """One image of a dyld listing, with what its header said."""

    index: int
    load: int
    mod_date: int
    is_dyld: bool
    path: str | None
    facts: dict[str, str] = field(default_factory=dict)
    symbols: dict[str, str] = field(default_factory=dict)


@dataclass
class Dump:
    """What machodump printed."""

    status: int
    stdout: str
    stderr: str
    facts: dict[str, str] = field(default_factory=dict)
    segments: list[dict[str, str]] = field(default_factory=list)
    fat_archs: list[dict[str, int]] = field(default_factory=list)
    symbols: dict[str, str] = field(default_factory=dict)
    nlist: list[dict[str, str]] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)

    def symbol(self, name: str) -> dict[str, str] | None:
        """The symbol's fields, None when not found; fails on an error."""
        text = self.symbols[name]
        assert not text.startswith("error"), f"{name}: {text}\n{self.stderr}"
        if text == "not found":
            return None
        return fields(text)

    def value(self, name: str, key: str = "value") -> int | None:
        found = self.symbol(name)
        return None if found is None else int(found[key], 16)


def parse_dump(proc: subprocess.CompletedProcess[str]) -> Dump:
    dump = Dump(proc.returncode, proc.stdout, proc.stderr)
    image: Image | None = None
    for line in proc.stdout.splitlines():
        m = re.match(r"image (\d+): (.*)$", line)
        if m:
            f = fields(m.group(2))
            path = f["path"]
            image = Image(
                int(m.group(1)),
                int(f["load"], 16),
                int(f["mod_date"], 16),
                f["dyld"] == "1",
                None if path == "(none)" else path,
            )
            dump.images.append(image)
            continue
        if line.startswith("  ") and image is not None:
            key, _, value = line.strip().partition(": ")
            if key.startswith("symbol "):
                image.symbols[key[len("symbol ") :]] = value
            else:
                image.facts[key] = value
            continue
        key, _, value = line.partition(": ")
        if key == "segment":
            dump.segments.append(fields(value))
        elif key == "fat-arch":
            dump.fat_archs.append({k: int(v, 0) for k, v in fields(value).items()})
        elif key.startswith("symbol "):
            dump.symbols[key[len("symbol ") :]] = value
        elif key.startswith("nlist "):
            dump.nlist.append(fields(value))
        else:
            dump.facts[key] = value
    return dump


class Machodump:
    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *args: str | Path, clean: bool = True, timeout: float = 600) -> Dump:
        proc = subprocess.run(
            [str(self.path), *map(str, args)],
            capture_output=True,
            text=True,
            errors="replace",
            env=driver_env(),
            timeout=timeout,
            check=False,
        )
        check_clean(proc, "machodump", args)
        dump = parse_dump(proc)
        if clean:
            assert proc.returncode == 0, f"machodump {args} failed:\n{proc.stderr}"
        return dump


@pytest.fixture(scope="module")
def machodump(tmp_path_factory: pytest.TempPathFactory) -> Machodump:
    out = build_driver(tmp_path_factory.mktemp("machodump"), "machodump", SOURCES, NATIVE)
    return Machodump(out)


# --------------------------------------------------------------------------
# Real files
# --------------------------------------------------------------------------


class Builder:
    """Compiles the test files once per module, in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.program = folder / "program.c"
        self.program.write_text(PROGRAM)
        self.built: dict[str, Path] = {}

    def zig(self, arch: str, kind: str, *flags: str) -> Path:
        """kind: exe, dylib or object; flags are added (-Wl,-x ...)."""
        name = f"{arch}-{kind}{''.join(flags).replace(',', '').replace('-', '_')}"
        if name not in self.built:
            crosscc.require_zig()
            out = self.folder / name
            extra = {"exe": [], "dylib": ["-shared"], "object": ["-c"]}[kind]
            # -O1: zig's default debug build links its UBSan runtime, 700 KiB.
            proc = crosscc.run(
                ["cc", "-target", ZIG_TARGETS[arch], "-O1", *extra, *flags,
                 str(self.program), "-o", str(out)],
                timeout=crosscc.LINK_TIMEOUT,
            )  # fmt: skip
            assert proc.returncode == 0, crosscc.describe(proc)
            self.built[name] = out
        return self.built[name]

    def derived(self, name: str, make: Callable[[Path], None]) -> Path:
        if name not in self.built:
            out = self.folder / name
            make(out)
            self.built[name] = out
        return self.built[name]

    def clang_object(self, target: str) -> Path:
        """A 32-bit Mach-O object file (zig no longer targets 32-bit macOS)."""
        clang = shutil.which("clang-14") or shutil.which("clang")
        if clang is None:
            pytest.skip("no clang for 32-bit Mach-O objects")
        return self.derived(
            f"{target}.o",
            lambda out: must([clang, "-target", target, "-c", self.program, "-o", out]),
        )

    def fat(self, name: str, *parts: Path) -> Path:
        lipo = llvm_tool("lipo")
        return self.derived(name, lambda out: must([lipo, "-create", *parts, "-output", out]))


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    return Builder(tmp_path_factory.mktemp("macho-files"))


# --------------------------------------------------------------------------
# The truth, from LLVM
# --------------------------------------------------------------------------


def objdump(path: Path, arch: str | None, *what: str) -> str:
    args = [llvm_tool("objdump"), "--macho", *what, "--non-verbose"]
    if arch is not None:
        args += ["--arch", arch]
    return must([*args, path])


def objdump_header(path: Path, arch: str | None) -> dict[str, int]:
    lines = objdump(path, arch, "--private-headers").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Mach header"))
    keys = lines[at + 1].split()
    return {k: int(v, 0) for k, v in zip(keys, lines[at + 2].split(), strict=True)}


def objdump_commands(path: Path, arch: str | None) -> list[dict[str, str]]:
    """Each load command's "key value" lines, up to its first section."""
    commands: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in objdump(path, arch, "--private-headers").splitlines():
        if line.startswith("Load command"):
            current = {}
            commands.append(current)
            continue
        if current is None or line.startswith("Section"):
            current = None
            continue
        key, _, value = line.strip().partition(" ")
        current.setdefault(key, value.strip())
    return commands


def objdump_fat(path: Path) -> list[dict[str, int]]:
    archs: list[dict[str, int]] = []
    for line in objdump(path, None, "--universal-headers").splitlines():
        line = line.strip()
        if line.startswith("architecture"):
            archs.append({})
        elif archs and line:
            key, _, value = line.partition(" ")
            if key == "align":
                value = value.split()[0].removeprefix("2^")
            archs[-1][key] = int(value, 0)
    return archs


@dataclass
class NmSymbol:
    value: int
    letter: str
    name: str


def nm_defined(path: Path, arch: str | None) -> list[NmSymbol]:
    """The defined symbols, stabs left out, in table order."""
    args: list[str | Path] = [llvm_tool("nm"), "--defined-only", "-p"]
    if arch is not None:
        args += ["--arch", arch]
    out = []
    for line in must([*args, path]).splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3:
            out.append(NmSymbol(int(parts[0], 16), parts[1], parts[2]))
    return out


def nm_stabs(path: Path) -> list[str]:
    return [line for line in must([llvm_tool("nm"), "-a", path]).splitlines() if " - " in line]


def expected_symbol(symbols: list[NmSymbol], name: str) -> NmSymbol | None:
    """What mm_macho_find_symbol should find: an external symbol of that
    name before a local one, the first of each in table order."""
    found = [s for s in symbols if s.name == name]
    external = [s for s in found if s.letter.isupper()]
    return (external or found or [None])[0]


def compare_with_llvm(
    machodump: Machodump, path: Path, arch: str | None = None, names: Sequence[str] = NAMES
) -> Dump:
    """Runs machodump on path and checks every fact against LLVM's."""
    args: list[str | Path] = ["--all-symbols"]
    if arch is not None:
        args += ["--arch", arch]
    dump = machodump.run(*args, path, *names)
    header = objdump_header(path, arch)
    assert dump.facts["bits"] == ("64" if header["magic"] == machosim.MH_MAGIC_64 else "32")
    assert int(dump.facts["cputype"], 16) == header["cputype"]
    subtype = int(dump.facts["cpusubtype"], 16)
    assert subtype & 0x00FFFFFF == header["cpusubtype"]
    assert subtype >> 24 == header["caps"]
    assert int(dump.facts["filetype"]) == header["filetype"]
    assert int(dump.facts["ncmds"]) == header["ncmds"]
    assert int(dump.facts["sizeofcmds"]) == header["sizeofcmds"]
    assert int(dump.facts["flags"], 16) == header["flags"]

    commands = objdump_commands(path, arch)
    segments = [c for c in commands if c["cmd"] in ("LC_SEGMENT", "LC_SEGMENT_64")]
    assert int(dump.facts["segments"]) == len(segments) == len(dump.segments)
    for mine, ref in zip(dump.segments, segments, strict=True):
        assert mine["name"] == (ref.get("segname") or "-"), (mine, ref)
        for key in ("vmaddr", "vmsize", "fileoff", "filesize", "maxprot", "initprot"):
            assert int(mine[key], 16) == int(ref[key], 0), f"{path}: {key}: {mine} vs {ref}"
    uuids = [c["uuid"] for c in commands if c["cmd"] == "LC_UUID"]
    assert dump.facts["uuid"] == (uuids[0] if uuids else "none")
    symtabs = [c for c in commands if c["cmd"] == "LC_SYMTAB"]
    if symtabs:
        mine = fields(dump.facts["symtab"])
        for key in ("symoff", "nsyms", "stroff", "strsize"):
            assert int(mine[key], 0) == int(symtabs[0][key]), (mine, symtabs[0])
    else:
        assert dump.facts["symtab"] == "none"

    # Every defined symbol, in table order, as llvm-nm lists them.
    reference = nm_defined(path, arch if machosim.fat_slices(path.read_bytes()) else None)
    assert [(int(s["value"], 16), s["name"]) for s in dump.nlist] == [
        (s.value, s.name) for s in reference
    ]
    for mine, ref in zip(dump.nlist, reference, strict=True):
        kind = int(mine["type"], 16)
        assert bool(kind & 1) == ref.letter.isupper(), (mine, ref)
        assert ((kind & 0x0E) == 2) == (ref.letter in "Aa"), (mine, ref)
    for name in names:
        expected = expected_symbol(reference, name)
        found = dump.symbol(name)
        if expected is None:
            assert found is None, f"{path}: {name} found: {found}, llvm-nm has none"
        else:
            assert found is not None, f"{path}: {name} not found, llvm-nm has {expected}"
            assert int(found["value"], 16) == expected.value
            assert bool(int(found["type"], 16) & 1) == expected.letter.isupper()
    return dump


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["exe", "dylib", "object"])
@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_thin_file(machodump: Machodump, build: Builder, arch: str, kind: str) -> None:
    path = build.zig(arch, kind)
    dump = compare_with_llvm(machodump, path)
    assert int(dump.facts["cputype"], 16) == CPU[arch]
    assert dump.facts["fat-archs"] == "0" and dump.facts["base"] == "0x0"
    # The static variable is a local (not external) N_SECT symbol.
    local = dump.symbol("_only_local")
    assert local is not None and local["type"] == "0x0e"
    exported = dump.symbol("_exported_global")
    assert exported is not None and exported["type"] == "0x0f"
    if kind == "object":
        assert dump.facts["text-vmaddr"] == "none" and dump.facts["uuid"] == "none"
        return
    assert re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", dump.facts["uuid"])
    text = [s for s in dump.segments if s["name"] == "__TEXT"]
    assert dump.facts["text-vmaddr"] == text[0]["vmaddr"]
    assert dump.facts["text-vmaddr"] == ("0x100000000" if kind == "exe" else "0x0")
    if kind == "exe":
        assert dump.segments[0]["name"] == "__PAGEZERO"


def test_stabs_are_skipped(machodump: Machodump, build: Builder) -> None:
    """zig leaves stabs in (N_GSYM with value 0 for a global, N_FUN for a
    function, N_STSYM for the static): they share the symbols' names and
    must not be taken for them.  Without stabs (-s) the same symbols are
    found (at other addresses: the link differs)."""
    path = build.zig("arm64", "dylib")
    stabs = nm_stabs(path)
    assert any("GSYM _exported_global" in s for s in stabs), stabs
    assert any("STSYM _only_local" in s for s in stabs), stabs
    dump = compare_with_llvm(machodump, path)
    assert dump.value("_exported_global") != 0
    bare = build.zig("arm64", "dylib", "-s")
    assert not nm_stabs(bare)
    again = compare_with_llvm(machodump, bare)
    assert {k for k, v in again.symbols.items() if v != "not found"} == {
        k for k, v in dump.symbols.items() if v != "not found"
    }


@pytest.mark.parametrize("how", ["llvm-strip-x", "llvm-strip-all", "ld-x"])
def test_stripped(machodump: Machodump, build: Builder, how: str) -> None:
    """Without local symbols the static one is gone, cleanly; llvm-strip
    without -x leaves a dylib only its undefined symbols (its exports are in
    the export trie, which this reader does not read)."""
    source = build.zig("x86_64", "dylib")
    if how.startswith("llvm-strip"):
        strip = llvm_tool("strip")
        flags = ["-x"] if how == "llvm-strip-x" else []
        path = build.derived(how, lambda out: must([strip, *flags, "-o", out, source]))
    else:
        path = build.zig("x86_64", "dylib", "-Wl,-x")
    dump = compare_with_llvm(machodump, path)
    assert dump.symbol("_only_local") is None
    if how == "llvm-strip-all":
        assert not dump.nlist and int(fields(dump.facts["symtab"])["nsyms"]) > 0
        assert dump.symbol("_exported_function") is None
    else:
        assert dump.symbol("_exported_function") is not None


def test_fat(machodump: Machodump, build: Builder) -> None:
    fat = build.fat("fat", build.zig("x86_64", "exe"), build.zig("arm64", "exe"))
    reference = objdump_fat(fat)
    for arch in (None, "x86_64", "arm64"):
        dump = compare_with_llvm(machodump, fat, arch)
        assert dump.facts["fat-archs"] == "2"
        assert len(dump.fat_archs) == len(reference) == 2
        for mine, ref in zip(dump.fat_archs, reference, strict=True):
            assert mine["cputype"] == ref["cputype"]
            assert mine["cpusubtype"] == ref["cpusubtype"]
            assert mine["offset"] == ref["offset"] and mine["size"] == ref["size"]
            assert 1 << mine["align"] == 1 << ref["align"]
        chosen = reference[0] if arch is None else next(
            r for r in reference if r["cputype"] == CPU[arch]
        )  # fmt: skip
        assert int(dump.facts["base"], 16) == chosen["offset"]
        # The same answers as the thin file.
        thin = machodump.run(build.zig(arch or "x86_64", "exe"), *NAMES)
        assert dump.symbols == thin.symbols
    # An architecture the file does not have, and one a thin file lacks.
    missing = machodump.run("--cputype", "0x12", fat, "_main", clean=False)
    assert missing.status == 1 and "no architecture with cputype 0x12" in missing.stderr
    thin = machodump.run("--arch", "arm64", build.zig("x86_64", "exe"), clean=False)
    assert thin.status == 1 and "not 0x100000c" in thin.stderr


@pytest.mark.parametrize(
    "target", ["i386-apple-macos10.6", "armv7-apple-ios5", "arm64_32-apple-watchos"]
)
def test_32bit_objects(machodump: Machodump, build: Builder, target: str) -> None:
    path = build.clang_object(target)
    dump = compare_with_llvm(machodump, path)
    assert dump.facts["bits"] == "32"
    assert dump.symbol("_only_local") is not None


@pytest.mark.parametrize("source", ["i386", "x86_64-dylib"])
def test_big_endian(machodump: Machodump, build: Builder, source: str, tmp_path: Path) -> None:
    """A byte-swapped (MH_CIGAM) copy, as PowerPC's images were, reads the
    same; llvm-objdump agrees on its header."""
    if source == "i386":
        path = build.clang_object("i386-apple-macos10.6")
    else:
        path = build.zig("x86_64", "dylib")
    swapped = tmp_path / "swapped"
    swapped.write_bytes(machosim.byteswap(path.read_bytes()))
    little = machodump.run("--all-symbols", path, *NAMES)
    big = machodump.run("--all-symbols", swapped, *NAMES)
    assert big.facts.pop("byte-order") == "big" and little.facts.pop("byte-order") == "little"
    assert big.facts == little.facts
    assert big.segments == little.segments and big.nlist == little.nlist
    assert big.symbols == little.symbols
    header = objdump_header(swapped, None)
    assert int(big.facts["ncmds"]) == header["ncmds"]
    assert int(big.facts["flags"], 16) == header["flags"]


def test_unknown_size(machodump: Machodump, build: Builder) -> None:
    for path in (
        build.zig("arm64", "dylib"),
        build.fat("fat", build.zig("x86_64", "exe"), build.zig("arm64", "exe")),
    ):
        known = machodump.run("--all-symbols", path, *NAMES)
        unknown = machodump.run("--unknown-size", "--all-symbols", path, *NAMES)
        assert known.stdout == unknown.stdout


# --------------------------------------------------------------------------
# Images in memory
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["exe", "dylib"])
@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_image_in_memory(machodump: Machodump, build: Builder, arch: str, kind: str) -> None:
    """machodump --memory lays the segments out at vmaddr + slide and reads
    the image from there: the symbols are at their value + slide."""
    path = build.zig(arch, kind)
    reference = nm_defined(path, None)
    for slide in (0x5000_0000, 0x1_2345_4000):
        dump = machodump.run("--memory", hex(slide), path, *NAMES)
        assert int(dump.facts["slide"], 16) == slide
        text = int(dump.facts["text-vmaddr"], 16)
        assert int(dump.facts["load"], 16) == text + slide
        for name in NAMES:
            expected = expected_symbol(reference, name)
            if expected is None:
                assert dump.symbol(name) is None
            else:
                assert dump.value(name) == expected.value
                assert dump.value(name, "runtime") == expected.value + slide
    # The same facts as the file (a memory image has no fat header).
    file_facts = machodump.run(path).facts
    memory_facts = machodump.run("--memory", "0x4000", path).facts
    for key in ("cputype", "filetype", "ncmds", "uuid", "symtab", "text-vmaddr"):
        assert memory_facts[key] == file_facts[key]


def test_shared_cache_offsets(machodump: Machodump, build: Builder, tmp_path: Path) -> None:
    """A dylib of the dyld shared cache: its load commands count file
    offsets from the start of the cache, so symoff and stroff are far past
    the dylib's own bytes and only mean something through __LINKEDIT's
    fileoff and vmaddr.  The image in memory still gives every symbol."""
    source = build.zig("arm64", "dylib")
    data = source.read_bytes()
    shift = 0x1234_0000
    moved = machosim.cache_relative(data, shift)
    slide = 0x1_8000_0000
    memory = machosim.Memory(0x1_8000_0000)
    machosim.lay_out(memory, data, slide, header=moved)
    region = memory.region_arg(tmp_path / "memory")
    load = machosim.parse(data).text.vmaddr + slide
    dump = machodump.run("--image", hex(load), "--region", region, *NAMES)
    reference = nm_defined(source, None)
    assert int(dump.facts["slide"], 16) == slide
    assert fields(dump.facts["symtab"])["symoff"] == hex(
        machosim.parse(data).symtab_fields()["symoff"] + shift
    )
    for name in ("_exported_function", "_only_local", "_main"):
        expected = expected_symbol(reference, name)
        assert expected is not None
        assert dump.value(name, "runtime") == expected.value + slide
    # Read as a file, those offsets lead past its end: they really are
    # relative to something else.
    as_file = tmp_path / "moved.dylib"
    as_file.write_bytes(moved)
    broken = machodump.run(as_file, "_main", clean=False)
    assert broken.status == 1 and broken.symbols["_main"].startswith("error: ")
    # Without __LINKEDIT in memory the table cannot be read: an error.
    m = machosim.parse(data)
    linkedit = m.segment("__LINKEDIT")
    partial = machosim.Memory(0x1_8000_0000)
    for vmaddr, chunk in machosim.image_segments(data):
        if vmaddr != linkedit.vmaddr:
            partial.write(vmaddr + slide, chunk)
    partial.write(m.text.vmaddr + slide, moved[: m.header_size + m.sizeofcmds])
    region = partial.region_arg(tmp_path / "partial")
    missing = machodump.run("--image", hex(load), "--region", region, "_main", clean=False)
    assert missing.status == 1 and missing.symbols["_main"].startswith("error: ")


# --------------------------------------------------------------------------
# dyld's image list
# --------------------------------------------------------------------------


@dataclass
class Scene:
    """A simulated target: dyld's records and real images at slides."""

    sim: machosim.DyldSim
    region: str
    references: dict[int, list[NmSymbol]]  # by load address


def make_scene(
    build: Builder,
    folder: Path,
    *,
    version: int = 16,
    pointer_size: int = 8,
    dyld_in_array: bool = False,
    with_dyld: bool = True,
) -> Scene:
    sources = [
        (b"/Applications/Some App.app/Contents/MacOS/Some App", build.zig("arm64", "exe"), 0x5F00),
        (b"/usr/lib/libexample.dylib", build.zig("x86_64", "dylib"), 0),
        (b"/System/Library/Frameworks/X.framework/X", build.zig("arm64", "dylib"), 1),
    ]
    images = [machosim.SimImage(p, s.read_bytes(), mod_date=d) for p, s, d in sources]
    dyld_source = build.zig("x86_64", "dylib", "-Wl,-x")  # a stand-in for dyld
    dyld = machosim.SimImage(b"/usr/lib/dyld", dyld_source.read_bytes()) if with_dyld else None
    sim = machosim.build_dyld(
        images, version=version, pointer_size=pointer_size, dyld=dyld, dyld_in_array=dyld_in_array
    )
    references = {i.load: nm_defined(s, None) for i, (_, s, _) in zip(images, sources, strict=True)}
    if dyld is not None:
        references[dyld.load] = nm_defined(dyld_source, None)
    folder.mkdir(parents=True, exist_ok=True)
    return Scene(sim, sim.memory.region_arg(folder / "memory"), references)


def run_dyld(machodump: Machodump, scene: Scene, *extra: str, clean: bool = True) -> Dump:
    sim = scene.sim
    return machodump.run(
        "--dyld", hex(sim.infos), "--pointer-size", str(sim.pointer_size),
        "--region", scene.region, *extra, "_main", "_only_local", "_exported_global",
        clean=clean,
    )  # fmt: skip


def check_listing(dump: Dump, scene: Scene) -> None:
    """Every image with its path and date, dyld, the shared cache fields of
    the version, and each image's slide read from its header in memory."""
    sim = scene.sim
    version = sim.version
    assert int(dump.facts["dyld-version"]) == version
    assert int(dump.facts["info-array"], 16) == sim.info_array
    expected = list(sim.images)
    # dyld is known from version 2 on (dyldImageLoadAddress).
    dyld_separate = sim.dyld is not None and version >= 2
    if sim.dyld is not None and dyld_separate:
        expected.append(sim.dyld)
    assert len(dump.images) == len(expected)
    for mine, image in zip(dump.images, expected, strict=True):
        assert mine.load == image.load
        assert mine.mod_date == image.mod_date
        is_dyld = image is sim.dyld and version >= 2
        assert mine.is_dyld == is_dyld
        assert image.path is not None
        if image is sim.dyld:
            # dyldPath is in version 15 and later.
            assert mine.path == (image.path.decode() if version >= 15 else None)
        else:
            assert mine.path == image.path.decode()
        # slide = load address - __TEXT vmaddr, from the header in memory.
        assert int(mine.facts["slide"], 16) == image.slide
        reference = scene.references[image.load]
        for name in ("_main", "_only_local", "_exported_global"):
            ref = expected_symbol(reference, name)
            text = mine.symbols[name]
            if ref is None:
                assert text == "not found"
            else:
                runtime = int(fields(text)["runtime"], 16)
                assert runtime == (ref.value + image.slide) % 2**64
    has_dyld = version >= 2 and sim.dyld is not None
    assert dump.facts["dyld-load-address"] == (hex(sim.dyld.load) if has_dyld else "none")
    if version >= 12:
        assert int(dump.facts["shared-cache-slide"], 16) == sim.shared_cache_slide
    else:
        assert dump.facts["shared-cache-slide"] == "none"
    if version >= 13:
        uuid = dump.facts["shared-cache-uuid"].replace("-", "")
        assert uuid == sim.shared_cache_uuid.hex().upper()
    else:
        assert dump.facts["shared-cache-uuid"] == "none"
    if version >= 15:
        assert int(dump.facts["shared-cache-base"], 16) == sim.shared_cache_base
    else:
        assert dump.facts["shared-cache-base"] == "none"


@pytest.mark.parametrize("pointer_size", [8, 4])
@pytest.mark.parametrize("version", [1, 2, 12, 13, 15, 16, 17])
def test_dyld_images(
    machodump: Machodump, build: Builder, tmp_path: Path, version: int, pointer_size: int
) -> None:
    scene = make_scene(build, tmp_path, version=version, pointer_size=pointer_size)
    dump = run_dyld(machodump, scene)
    assert dump.facts["attempts"] == "1"
    check_listing(dump, scene)


def test_dyld_listed_in_its_array(machodump: Machodump, build: Builder, tmp_path: Path) -> None:
    """When dyld is in infoArray too, it is flagged there, not added."""
    scene = make_scene(build, tmp_path, dyld_in_array=True)
    dump = run_dyld(machodump, scene)
    assert len(dump.images) == len(scene.sim.images) + 1
    assert [i.is_dyld for i in dump.images] == [False] * len(scene.sim.images) + [True]
    assert dump.images[-1].path == "/usr/lib/dyld"


def test_dyld_without_dyld(machodump: Machodump, build: Builder, tmp_path: Path) -> None:
    scene = make_scene(build, tmp_path, with_dyld=False)
    dump = run_dyld(machodump, scene)
    assert dump.facts["dyld-load-address"] == "0x0"
    assert not any(i.is_dyld for i in dump.images)
    assert len(dump.images) == len(scene.sim.images)


def test_dyld_updating(machodump: Machodump, build: Builder, tmp_path: Path) -> None:
    """infoArray NULL means dyld is changing the list: read again.  A list
    that changed between the first read of the record and the check after
    the images is read again too.  NULL forever is a clean error."""
    scene = make_scene(build, tmp_path)
    dump = run_dyld(machodump, scene, "--null-at", "1,2,3")
    assert dump.facts["attempts"] == "4"
    check_listing(dump, scene)
    # The 2nd read is the check after reading the images.
    torn = run_dyld(machodump, scene, "--torn-at", "2")
    assert torn.facts["attempts"] == "2"
    check_listing(torn, scene)
    # The first read sees a count off by one (one image too many or too
    # few): the check read disagrees, and the next attempt is right.
    first = run_dyld(machodump, scene, "--torn-at", "1")
    assert first.facts["attempts"] == "2"
    check_listing(first, scene)
    forever = run_dyld(machodump, scene, "--null-at", "all", clean=False)
    assert forever.status == 1
    assert "dyld is updating its image list" in forever.stderr
    assert forever.facts["busy"] == "1" and forever.facts["attempts"] == "200"
    assert not forever.images


# --------------------------------------------------------------------------
# The image list made from dyld's list, and regions named after it
# --------------------------------------------------------------------------

MH_EXECUTE = 2
MM_IMAGE_FROM_MEMORY, MM_IMAGE_LOADER, MM_IMAGE_MAIN = 2, 8, 16
MM_FORMAT_MACHO = 2
MM_KIND_FILE, MM_KIND_ANON = 0, 1


def parse_images(
    stdout: str,
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    """The mm-image, mm-segment and mm-region lines of machodump --images."""
    out: dict[str, list[dict[str, str]]] = {"mm-image": [], "mm-segment": [], "mm-region": []}
    for line in stdout.splitlines():
        key, _, rest = line.partition(": ")
        kind = key.split(" ")[0]
        if kind in out:
            out[kind].append(fields(rest))
    return out["mm-image"], out["mm-segment"], out["mm-region"]


def expected_segments(image: machosim.SimImage) -> list[tuple[str, int, int, int]]:
    """(name, start, end, initprot) of the segments a loader maps, slid."""
    m = machosim.parse(image.data)
    return [
        (s.name, (s.vmaddr + image.slide) % 2**64, (s.vmaddr + s.vmsize + image.slide) % 2**64,
         s.initprot & 7)
        for s in m.segments
        if s.vmsize and s.name != "__PAGEZERO"
    ]  # fmt: skip


@pytest.mark.parametrize("pointer_size", [8, 4])
def test_image_list(
    machodump: Machodump, build: Builder, tmp_path: Path, pointer_size: int
) -> None:
    """mm_macho_images() over a simulated target: each readable image with
    its range, slide, header, uuid, segments, path and flags; an image
    whose header is torn and one whose header is not mapped are left out;
    then mm_macho_name_regions() over a few regions."""
    exe = build.zig("arm64", "exe")
    dylib = build.zig("x86_64", "dylib")
    sources = [
        (b"/Applications/Some App.app/Contents/MacOS/Some App", exe),
        (b"/usr/lib/libexample.dylib", dylib),
        (None, build.zig("arm64", "dylib")),  # no path in dyld's list
        (b"/usr/lib/torn.dylib", dylib),  # its magic is overwritten below
        (b"/usr/lib/unmapped.dylib", dylib),  # its load address moved below
    ]
    images = [machosim.SimImage(p, s.read_bytes()) for p, s in sources]
    dyld = machosim.SimImage(b"/usr/lib/dyld", build.zig("x86_64", "dylib", "-Wl,-x").read_bytes())
    sim = machosim.build_dyld(images, pointer_size=pointer_size, dyld=dyld)
    torn = images[3]
    blob = sim.memory.blob
    struct.pack_into("<I", blob, torn.load - sim.memory.base, 0)
    word = "<Q" if pointer_size == 8 else "<I"
    nowhere = sim.memory.end + 0x100000
    struct.pack_into(word, blob, sim.info_array + 3 * pointer_size * 4 - sim.memory.base, nowhere)
    region = sim.memory.region_arg(tmp_path / "memory")

    listed = [images[0], images[1], images[2], dyld]
    text = {id(i): next(s for s in expected_segments(i) if s[0] == "__TEXT") for i in listed}
    linkedit = next(s for s in expected_segments(dyld) if s[0] == "__LINKEDIT")
    data = next(s for s in expected_segments(images[1]) if s[0] not in ("__TEXT", "__LINKEDIT"))
    exe_text = text[id(images[0])]
    spans = [
        f"{exe_text[1]:#x}:{exe_text[1] + 0x1000:#x}",  # in __TEXT, unnamed
        f"{sim.infos:#x}:{sim.infos + 0x1000:#x}",  # dyld's records: no image
        f"{exe_text[1] + 0x1000:#x}:{exe_text[1] + 0x2000:#x}=/already/named",
        f"{data[1]:#x}:{data[2]:#x}+",  # a tag of the OS's own stays
        f"{linkedit[1]:#x}:{linkedit[2]:#x}",
        f"{nowhere:#x}:{nowhere + 0x1000:#x}",  # the unmapped image's address
    ]
    args = ["--dyld", hex(sim.infos), "--pointer-size", str(pointer_size), "--region", region]
    args.append("--images")
    for span in spans:
        args += ["--name-region", span]
    dump = machodump.run(*args)
    mine, segments, regions = parse_images(dump.stdout)

    # (machosim places each image after the file bytes of the one before,
    # so their vmsize ranges may overlap: the naming takes the segment that
    # starts last at or below a region, and the regions above avoid those.)
    expected = sorted(listed, key=lambda i: min(s[1] for s in expected_segments(i)))
    assert len(mine) == len(expected), dump.stdout
    for index, (got, image) in enumerate(zip(mine, expected, strict=True)):
        segs = expected_segments(image)
        m = machosim.parse(image.data)
        assert int(got["base"], 16) == min(s[1] for s in segs)
        assert int(got["end"], 16) == max(s[2] for s in segs)
        assert int(got["bias"], 16) == image.slide
        assert int(got["header"], 16) == image.load
        assert int(got["format"]) == MM_FORMAT_MACHO
        assert got["source"] == "0"
        assert got["build-id"] == (m.uuid.hex() if m.uuid is not None else "none")
        want_flags = MM_IMAGE_FROM_MEMORY
        if image is dyld:
            want_flags |= MM_IMAGE_LOADER
        if struct.unpack_from("<I", image.data, 12)[0] == MH_EXECUTE:
            want_flags |= MM_IMAGE_MAIN
        assert int(got["flags"], 16) == want_flags
        path = image.path.decode() if image.path is not None else f"[image at {image.load:#x}]"
        assert got["path"] == path
        mine_segs = [
            (s["name"], int(s["start"], 16), int(s["end"], 16), int(s["prot"]))
            for s in segments
            if int(s["image"]) == index
        ]
        assert mine_segs == sorted(segs, key=lambda s: s[1])
    assert int(mine[[e is images[0] for e in expected].index(True)]["flags"], 16) & MM_IMAGE_MAIN
    assert sum(int(s["flags"], 16) & MM_IMAGE_LOADER != 0 for s in mine) == 1
    assert sum(int(s["flags"], 16) & MM_IMAGE_MAIN != 0 for s in mine) == 1
    assert not any(g["path"] in ("/usr/lib/torn.dylib", "/usr/lib/unmapped.dylib") for g in mine)

    exe_path = images[0].path.decode()
    assert [(r["path"], int(r["kind"]), r["tag"]) for r in regions] == [
        (exe_path, MM_KIND_FILE, "__TEXT"),
        ("(none)", MM_KIND_ANON, "(none)"),
        ("/already/named", MM_KIND_ANON, "(none)"),
        ("/usr/lib/libexample.dylib", MM_KIND_FILE, "MALLOC_TINY"),
        ("/usr/lib/dyld", MM_KIND_FILE, "__LINKEDIT"),
        ("(none)", MM_KIND_ANON, "(none)"),
    ]


def hostile_dyld_cases() -> dict[str, Callable[[machosim.DyldSim], str]]:
    """name: a change to the simulated memory, returning a fragment of the
    error machodump must print."""

    def put(sim: machosim.DyldSim, addr: int, fmt: str, value: int) -> None:
        struct.pack_into(fmt, sim.memory.blob, addr - sim.memory.base, value)

    def word(sim: machosim.DyldSim) -> str:
        return "<Q" if sim.pointer_size == 8 else "<I"

    def field_at(name: str) -> Callable[[machosim.DyldSim], int]:
        return lambda sim: sim.infos + machosim.infos_offsets(sim.pointer_size)[name]

    def count(value: int, message: str) -> Callable[[machosim.DyldSim], str]:
        def change(sim: machosim.DyldSim) -> str:
            put(sim, sim.infos + 4, "<I", value)
            return message

        return change

    def array(value: Callable[[int], int]) -> Callable[[machosim.DyldSim], str]:
        def change(sim: machosim.DyldSim) -> str:
            put(sim, field_at("infoArray")(sim), word(sim), value(sim.pointer_size))
            return "cannot be read"

        return change

    def path_of(
        index: int, value: Callable[[machosim.DyldSim], int], message: str
    ) -> Callable[[machosim.DyldSim], str]:
        def change(sim: machosim.DyldSim) -> str:
            p = sim.pointer_size
            put(sim, sim.info_array + 3 * p * index + p, word(sim), value(sim))
            return message

        return change

    def unterminated_at_end(sim: machosim.DyldSim) -> int:
        # The last bytes of memory, none of them NUL.
        sim.memory.blob[-16:] = b"A" * 16
        return sim.memory.end - 16

    def long_path(sim: machosim.DyldSim) -> int:
        # 5000 bytes without NUL where the first image's path was, running
        # over whatever follows (the memory is big enough).
        at = sim.info_array + 0x2000
        sim.memory.write(at, b"B" * 5000 + b"\0")
        return at

    def version(value: int) -> Callable[[machosim.DyldSim], str]:
        def change(sim: machosim.DyldSim) -> str:
            put(sim, sim.infos, "<I", value)
            return "version 0"

        return change

    def dyld_path(sim: machosim.DyldSim) -> str:
        put(sim, field_at("dyldPath")(sim), word(sim), sim.memory.end + 0x100)
        return "the path of dyld"

    return {
        "count-huge": count(0xFFFFFFFF, "more than can be real"),
        "count-over-cap": count(65537, "more than can be real"),
        "count-past-memory": count(60000, "cannot be read"),
        "array-unmapped": array(lambda p: 0x10),
        # The last records of the address space, and past it.
        "array-at-the-top": array(lambda p: 2 ** (8 * p) - 8),
        "path-unmapped": path_of(0, lambda sim: 0x20, "cannot be read"),
        "path-without-nul": path_of(1, unterminated_at_end, "cannot be read"),
        "path-too-long": path_of(2, long_path, "no NUL within 4096"),
        "version-zero": version(0),
        "dyld-path-unmapped": dyld_path,
    }


HOSTILE_DYLD = hostile_dyld_cases()


@pytest.mark.parametrize("pointer_size", [8, 4])
@pytest.mark.parametrize("case", sorted(HOSTILE_DYLD))
def test_dyld_hostile(
    machodump: Machodump, build: Builder, tmp_path: Path, case: str, pointer_size: int
) -> None:
    scene = make_scene(build, tmp_path, pointer_size=pointer_size)
    message = HOSTILE_DYLD[case](scene.sim)
    scene.region = scene.sim.memory.region_arg(tmp_path / "hostile")
    dump = run_dyld(machodump, scene, clean=False)
    assert dump.status == 1, dump.stdout
    assert message in dump.stderr, dump.stderr
    assert not dump.images


def test_dyld_record_unreadable(machodump: Machodump, build: Builder, tmp_path: Path) -> None:
    scene = make_scene(build, tmp_path)
    dump = machodump.run(
        "--dyld", "0x10", "--pointer-size", "8", "--region", scene.region, clean=False
    )
    assert dump.status == 1 and "cannot be read" in dump.stderr


@pytest.mark.parametrize("pointer_size", [8, 4])
def test_dyld_truncations_and_flips(
    machodump: Machodump, build: Builder, tmp_path: Path, pointer_size: int
) -> None:
    """The memory cut at every length over the records and paths (then a
    sample), and random byte changes there, each read through the list and
    every image in it: no sanitizer report, no hang."""
    scene = make_scene(build, tmp_path, pointer_size=pointer_size)
    base = ["--dyld", hex(scene.sim.infos), "--pointer-size", str(pointer_size)]
    dump = machodump.run("--dyld-truncate-all", *base, "--region", scene.region, *NAMES)
    m = re.search(r"dyld-truncations: (\d+) listed: (\d+)", dump.stdout)
    assert m and int(m.group(1)) > 8000 and int(m.group(2)) > 0, dump.stdout
    for seed in (1, 2):
        flips = machodump.run(
            "--dyld-flips", str(seed), "3000", *base, "--region", scene.region, *NAMES
        )
        assert "dyld-flips: 3000" in flips.stdout


# --------------------------------------------------------------------------
# Hostile files
# --------------------------------------------------------------------------


def hostile_cases() -> dict[str, tuple[Callable[[machosim.MachO], None], str]]:
    """name: (how to break the file, what must hold).  "error": it does not
    open; "symtab-error": it opens with the same segments, and every symbol
    lookup is an error; "symbol-error": _exported_function is an error, the
    others are found; "memory-error": as a file the same answers, in memory
    an error for the symbols."""

    def header(offset: int, value: int) -> Callable[[machosim.MachO], None]:
        return lambda m: m.put(m.base + offset, "I", value)

    def command(index: int, offset: int, value: int) -> Callable[[machosim.MachO], None]:
        def change(m: machosim.MachO) -> None:
            at = m.commands[index if index >= 0 else len(m.commands) + index][0]
            m.put(at + offset, "I", value)

        return change

    def command_of(cmd: int, offset: int, value: int) -> Callable[[machosim.MachO], None]:
        def change(m: machosim.MachO) -> None:
            at = next(a for a, c, _ in m.commands if c == cmd)
            m.put(at + offset, "I", value)

        return change

    def segment(name: str, key: str, value: int) -> Callable[[machosim.MachO], None]:
        return lambda m: m.set_segment(name, key, value)

    def symtab(**values: int) -> Callable[[machosim.MachO], None]:
        return lambda m: m.set_symtab(**values)

    def symtab_past_end(key: str) -> Callable[[machosim.MachO], None]:
        return lambda m: m.set_symtab(**{key: len(m.data) - m.base})

    def second_symtab(m: machosim.MachO) -> None:
        at = next(a for a, c, _ in m.commands if c == 0xB)  # LC_DYSYMTAB
        m.put(at, "I", machosim.LC_SYMTAB)

    def strx(m: machosim.MachO) -> None:
        m.put(m.nlist("_exported_function"), "I", 0xFFFFFFF0)

    def strtab_without_nul(m: machosim.MachO) -> None:
        t = m.symtab_fields()
        start = m.base + t["stroff"]
        m.data[start : start + t["strsize"]] = b"A" * t["strsize"]

    return {
        "magic": (header(0, 0x12345678), "error"),
        "ncmds-huge": (header(16, 0xFFFFFFFF), "error"),
        "ncmds-more-than-fit": (lambda m: m.put(m.base + 16, "I", m.sizeofcmds // 8 + 1), "error"),
        "sizeofcmds-huge": (header(20, 0xFFFFFFF0), "error"),
        "sizeofcmds-past-end": (lambda m: m.put(m.base + 20, "I", len(m.data)), "error"),
        "sizeofcmds-short": (lambda m: m.put(m.base + 20, "I", m.sizeofcmds - 8), "error"),
        "cmdsize-zero": (command(0, 4, 0), "error"),
        "cmdsize-four": (command(1, 4, 4), "error"),
        "cmdsize-unaligned": (command(0, 4, 76), "error"),
        "cmdsize-past-sizeofcmds": (command(-1, 4, 0x10000), "error"),
        "segment-cmdsize-short": (command(0, 4, 64), "error"),
        "nsects-huge": (segment("__TEXT", "nsects", 0xFFFFFFFF), "error"),
        "uuid-cmdsize-short": (command_of(machosim.LC_UUID, 4, 16), "error"),
        "two-symtabs": (second_symtab, "error"),
        "symoff-past-end": (symtab_past_end("symoff"), "symtab-error"),
        "symoff-wraps": (symtab(symoff=0xFFFFFFF0), "symtab-error"),
        "nsyms-huge": (symtab(nsyms=0xFFFFFFFF), "symtab-error"),
        "nsyms-past-end": (symtab(nsyms=0x10000000), "symtab-error"),
        "stroff-past-end": (symtab_past_end("stroff"), "symtab-error"),
        "strsize-huge": (symtab(strsize=0xFFFFFFFF), "symtab-error"),
        "strtab-without-nul": (strtab_without_nul, "symtab-error"),
        "strx-past-table": (strx, "symbol-error"),
        "linkedit-fileoff-huge": (segment("__LINKEDIT", "fileoff", 2**63), "memory-error"),
        "linkedit-filesize-zero": (segment("__LINKEDIT", "filesize", 0), "memory-error"),
        "linkedit-vmaddr-wraps": (segment("__LINKEDIT", "vmaddr", 2**64 - 0x100), "memory-error"),
    }


HOSTILE = hostile_cases()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_headers(machodump: Machodump, build: Builder, tmp_path: Path, case: str) -> None:
    change, expect = HOSTILE[case]
    source = build.zig("arm64", "dylib")
    names = ["_exported_function", "_only_local", "_main"]
    intact = machodump.run(source, *names)
    data = source.read_bytes()
    m = machosim.parse(data)
    change(m)
    path = tmp_path / "hostile.dylib"
    path.write_bytes(bytes(m.data))
    # In memory: the segments where the intact file says a loader put
    # them, holding the changed bytes (lying load commands among them).
    slide = 0x1000_0000
    memory = machosim.Memory(slide)
    machosim.lay_out(memory, data, slide, content=bytes(m.data))
    load = hex(machosim.parse(data).text.vmaddr + slide)
    dumps = {
        mode: machodump.run(*flags, *names, clean=False)
        for mode, flags in {
            "file": [path],
            "unknown-size": ["--unknown-size", path],
            "memory": ["--image", load, "--region", memory.region_arg(tmp_path / "memory")],
        }.items()
    }
    full = dumps["file"]
    if expect == "error":
        for dump in dumps.values():
            assert dump.status == 1 and not dump.facts.get("bits"), dump.stdout
        return
    assert full.facts.get("bits") == "64", full.stderr
    if expect == "symtab-error":
        for dump in (full, dumps["unknown-size"], dumps["memory"]):
            assert dump.status == 1
            assert all(v.startswith("error: ") for v in dump.symbols.values()), dump.symbols
    elif expect == "symbol-error":
        for dump in dumps.values():
            assert dump.symbols["_exported_function"].startswith("error: ")
            assert dump.symbol("_main") is not None and dump.symbol("_only_local") is not None
    elif expect == "memory-error":
        assert full.symbols == intact.symbols
        memory = dumps["memory"]
        assert memory.status == 1
        for value in memory.symbols.values():
            assert value.startswith("error: ")
    # Whatever else: a symbol is never reported with a wrong value.
    for dump in (full, dumps["unknown-size"]):
        for name, text in dump.symbols.items():
            if not text.startswith(("error", "not found")):
                assert text == intact.symbols[name], f"{case}: {name}: {text}"


def hostile_fat_cases() -> dict[str, Callable[[bytearray], None]]:
    def put(offset: int, value: int) -> Callable[[bytearray], None]:
        return lambda data: struct.pack_into(">I", data, offset, value)

    def slice_magic(data: bytearray) -> None:
        offset = struct.unpack_from(">I", data, 8 + 8)[0]
        data[offset : offset + 4] = b"\0\0\0\0"

    def fat_in_fat(data: bytearray) -> None:
        offset = struct.unpack_from(">I", data, 8 + 8)[0]
        data[offset : offset + 8] = data[0:8]

    return {
        "nfat-huge": put(4, 0xFFFFFFFF),
        "nfat-zero": put(4, 0),
        "nfat-past-end": put(4, 5000),
        "offset-past-end": put(8 + 8, 0x7FFFFFF0),
        "offset-zero": put(8 + 8, 0),
        "size-huge": put(8 + 12, 0xFFFFFFF0),
        "size-zero": put(8 + 12, 0),
        "second-past-end": put(8 + 20 + 8, 0x7FFFFFF0),
        "slice-not-macho": slice_magic,
        "fat-in-fat": fat_in_fat,
    }


HOSTILE_FAT = hostile_fat_cases()


@pytest.mark.parametrize("case", sorted(HOSTILE_FAT))
def test_hostile_fat(machodump: Machodump, build: Builder, tmp_path: Path, case: str) -> None:
    fat = build.fat("fat", build.zig("x86_64", "exe"), build.zig("arm64", "exe"))
    data = bytearray(fat.read_bytes())
    HOSTILE_FAT[case](data)
    path = tmp_path / "hostile-fat"
    path.write_bytes(bytes(data))
    for arch in ("any", "x86_64", "arm64"):
        dump = machodump.run("--arch", arch, path, "_main", clean=False)
        if case in ("slice-not-macho", "fat-in-fat") and arch == "arm64":
            # Only the first slice is broken: the second still reads.
            assert dump.status == 0 and dump.symbol("_main") is not None
            continue
        assert dump.status == 1 and not dump.facts.get("bits"), f"{case} {arch}: {dump.stdout}"


def test_not_macho(machodump: Machodump, tmp_path: Path) -> None:
    cases = {
        "empty": b"",
        "text": b"#!/bin/sh\necho hello\n",
        "magic-only": struct.pack("<I", machosim.MH_MAGIC_64),
        "header-short": struct.pack("<I", machosim.MH_MAGIC_64) + bytes(20),
        "fat-header-only": struct.pack(">I", machosim.FAT_MAGIC),
        # A Java class file starts with 0xcafebabe too, then its version.
        "java-class": bytes.fromhex("cafebabe00000034") + bytes(64),
        "elf": b"\x7fELF\x02\x01\x01" + bytes(57),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        for extra in ([], ["--unknown-size"], ["--memory", "0x1000"]):
            dump = machodump.run(*extra, path, "_main", clean=False)
            assert dump.status == 1, f"{name}: {dump.stdout}"
            assert dump.stderr.startswith(f"machodump: {path}: "), dump.stderr


# --------------------------------------------------------------------------
# Truncations and random changes
# --------------------------------------------------------------------------


def small_files(build: Builder) -> list[Path]:
    files = [
        build.zig("x86_64", "exe"),
        build.zig("x86_64", "dylib"),
        build.zig("arm64", "object"),
        build.fat("fat-small", build.zig("x86_64", "dylib"), build.zig("arm64", "object")),
    ]
    clang = shutil.which("clang-14") or shutil.which("clang")
    if clang is not None:
        files.append(build.clang_object("i386-apple-macos10.6"))
    return files


@pytest.mark.slow
def test_every_truncation(machodump: Machodump, build: Builder) -> None:
    """Every prefix of small real files, thin and fat, for each
    architecture: each gives an error or the facts of the whole file
    (machodump --truncate-all compares them in one process)."""
    for path in small_files(build):
        dump = machodump.run("--truncate-all", path, *NAMES)
        m = re.search(r"truncations: (\d+) opened: (\d+) mismatches: (\d+)", dump.stdout)
        assert m, dump.stdout
        assert int(m.group(1)) >= path.stat().st_size
        assert int(m.group(2)) > 0 and int(m.group(3)) == 0, dump.stderr


def test_truncated_files_through_the_command(
    machodump: Machodump, build: Builder, tmp_path: Path
) -> None:
    """A sample of truncations read from files, in every read mode."""
    data = build.zig("arm64", "dylib").read_bytes()
    lengths = sorted({*range(0, 64, 3), *range(64, len(data), max(1, len(data) // 40))})
    cut = tmp_path / "cut"
    for length in lengths:
        cut.write_bytes(data[:length])
        for mode in ([], ["--unknown-size"], ["--memory", "0x4000"], ["--all-symbols"]):
            machodump.run(*mode, cut, *NAMES, clean=False)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_byte_changes(machodump: Machodump, build: Builder, seed: int) -> None:
    for path in [*small_files(build), build.zig("arm64", "dylib")]:
        dump = machodump.run("--flips", str(seed), "3000", path, *NAMES)
        assert "flips: 3000" in dump.stdout


# --------------------------------------------------------------------------
# The fuzzer
# --------------------------------------------------------------------------


@pytest.mark.fuzz
def test_fuzz_briefly(tmp_path: Path) -> None:
    """tests/fuzz/run_fuzz.sh macho for 15 s: any crash, sanitizer report,
    leak or timeout fails it (the input is in the printed artifacts
    folder)."""
    clang = sanitized.libfuzzer_clang()
    if clang is None:
        pytest.skip("no clang with libFuzzer (apt-get install clang-14)")
    crosscc.require_zig()
    env = {"PYTHON": sys.executable, "ZIG_GLOBAL_CACHE_DIR": str(crosscc.cache_dir())}
    out, tail = sanitized.run_fuzzer("macho", 15, tmp_path, clang, env=env, timeout=900)
    assert "dyld seeds" in out, tail
