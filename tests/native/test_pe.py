"""The portable PE reader (memmaps/native/formats/pe.c), through tools/pedump.c.

pedump is built with AddressSanitizer and UndefinedBehaviorSanitizer.  Real
PE images are made here with mingw-w64 (x86-64 and i686): an executable that
exports a function, DLLs whose .def file gives named exports, a DATA export,
an ordinal-only (NONAME) one, forwarders to "DLL.Func" and "DLL.#12" and a
forwarder loop, with and without the CodeView RSDS record ld writes for
--build-id, and a stripped copy.  What pedump reports is compared with
x86_64-w64-mingw32-objdump -p and -h for the same file: the optional
header, every data directory, every section, the export directory, its
address and name tables, and the RSDS signature and age.

Then the same images laid out as the loader maps them
(tests/helpers/pesim.py) and read with MM_PE_MEMORY: the same facts, and
runtime addresses at load base + RVA.  Last, hostile input: every
truncation, random byte changes, and headers and export tables made to lie,
each of which must give a clean error or a correct answer, never a
sanitizer report, a crash or a hang; a run under valgrind; and a short run
of the libFuzzer target.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import pesim, sanitized
from tests.helpers.sanitized import build_driver, check_clean, driver_env, must, tool_env

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "memmaps" / "native"
SOURCES = [
    ROOT / "tools" / "pedump.c",
    NATIVE / "formats" / "pe.c",
    NATIVE / "core" / "list.c",
    NATIVE / "core" / "reader.c",
]
OBJDUMP = "x86_64-w64-mingw32-objdump"
CC = {"x86_64": "x86_64-w64-mingw32-gcc", "i686": "i686-w64-mingw32-gcc"}

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="builds pedump with gcc's sanitizers"
)

LIBRARY = """\
#include <windows.h>
__declspec(dllexport) int exported_function(int x) { return x + 1; }
__declspec(dllexport) int exported_global = 7;
int by_ordinal_only(int x) { return x * 2; }
int another(int x) { return x * 3; }
BOOL WINAPI DllMain(HINSTANCE h, DWORD r, LPVOID p) { (void)h; (void)r; (void)p; return TRUE; }
"""

# Ordinals 3, 4 and 6 are left empty: holes in the address table.
DEF = """\
LIBRARY {name}
EXPORTS
    exported_function @1
    exported_global @2 DATA
    by_ordinal_only @5 NONAME
    another @7
    forwarded_sleep = kernel32.Sleep @8
    forwarded_ord = "ws2_32.#12" @9
"""

# Two exports that forward to each other in the DLL itself: the loader
# would loop; the reader only reports the strings.
LOOP_DEF = """\
LIBRARY loop.dll
EXPORTS
    real_one = exported_function @1
    loop_a = loop.loop_b @2
    loop_b = loop.loop_a @3
"""

PROGRAM = """\
__declspec(dllexport) int exported_from_exe(int x) { return x + 2; }
int main(void) { return exported_from_exe(1) == 0; }
"""

NAMES = ["exported_function", "exported_global", "another", "forwarded_sleep", "#5", "nosuch"]


def require_mingw(arch: str) -> str:
    path = shutil.which(CC[arch])
    if path is None:
        pytest.skip(f"no {CC[arch]} (apt-get install gcc-mingw-w64-{arch.replace('_', '-')})")
    return path


def objdump() -> str:
    path = shutil.which(OBJDUMP)
    if path is None:
        pytest.skip(f"no {OBJDUMP} (apt-get install binutils-mingw-w64-x86-64)")
    return path


class Builder:
    """Builds the PE files once per session, by name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.built: dict[str, Path] = {}

    def _once(self, name: str, make: Callable[[Path], None]) -> Path:
        if name not in self.built:
            out = self.folder / name
            make(out)
            self.built[name] = out
        return self.built[name]

    def dll(self, arch: str = "x86_64", build_id: bool = True) -> Path:
        cc = require_mingw(arch)
        name = f"lib_{arch}{'_id' if build_id else ''}.dll"

        def make(out: Path) -> None:
            source = self.folder / "lib.c"
            source.write_text(LIBRARY)
            definition = self.folder / f"{out.stem}.def"
            definition.write_text(DEF.format(name=out.name))
            flags = ["-Wl,--build-id"] if build_id else []
            must([cc, "-O1", "-shared", "-o", out, source, definition, *flags])

        return self._once(name, make)

    def loop(self) -> Path:
        cc = require_mingw("x86_64")

        def make(out: Path) -> None:
            source = self.folder / "lib.c"
            source.write_text(LIBRARY)
            definition = self.folder / "loop.def"
            definition.write_text(LOOP_DEF)
            must([cc, "-O1", "-shared", "-o", out, source, definition])

        return self._once("loop.dll", make)

    def exe(self, arch: str = "x86_64") -> Path:
        cc = require_mingw(arch)

        def make(out: Path) -> None:
            source = self.folder / "main.c"
            source.write_text(PROGRAM)
            must([cc, "-O1", "-o", out, source, "-Wl,--build-id"])

        return self._once(f"main_{arch}.exe", make)

    def stripped(self, arch: str = "x86_64") -> Path:
        strip = shutil.which(f"{CC[arch][:-3]}strip")
        if strip is None:
            pytest.skip(f"no {CC[arch][:-3]}strip")
        original = self.dll(arch)
        return self._once(f"stripped_{arch}.dll", lambda out: must([strip, "-o", out, original]))


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    return Builder(tmp_path_factory.mktemp("pe"))


# --------------------------------------------------------------------------
# pedump
# --------------------------------------------------------------------------


def fields(text: str) -> dict[str, str]:
    """key=value items; a name=, forwarder=, pdb= or error= item takes the
    rest of the line when it is the last."""
    out: dict[str, str] = {}
    for key in ("error=", "pdb="):
        if key in text:
            text, _, rest = text.partition(key)
            out[key[:-1]] = rest
    for item in text.split():
        key, _, value = item.partition("=")
        out[key] = value
    return out


@dataclass
class Dump:
    status: int
    stdout: str
    stderr: str
    header: dict[str, str] = field(default_factory=dict)
    directories: list[tuple[int, int]] = field(default_factory=list)
    sections: list[dict[str, str]] = field(default_factory=list)
    codeview: dict[str, str] | None = None
    build_id: str | None = None
    key: str | None = None
    exports_line: dict[str, str] | None = None
    exports: list[dict[str, str]] = field(default_factory=list)
    lookups: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, int] = field(default_factory=dict)

    def lookup(self, name: str) -> dict[str, str] | None:
        text = self.lookups[name]
        assert "error=" not in text, f"{name}: {text}"
        return None if text == "not found" else fields(text)


def parse_dump(proc: subprocess.CompletedProcess[str]) -> Dump:
    dump = Dump(proc.returncode, proc.stdout, proc.stderr)
    for line in proc.stdout.splitlines():
        if line.startswith(("machine=", "image_base=", "linker=", "bias=")):
            dump.header.update(fields(line))
        elif line.startswith("directory "):
            f = fields(line.split(" ", 2)[2])
            dump.directories.append((int(f["rva"], 16), int(f["size"], 16)))
        elif line.startswith("section "):
            dump.sections.append(fields(line[8:]))
        elif line.startswith("codeview "):
            rest = line[9:]
            dump.codeview = None if rest == "none" else fields(rest)
        elif line.startswith("build_id="):
            f = fields(line)
            dump.build_id, dump.key = f["build_id"], f["key"]
        elif line.startswith("exports "):
            rest = line[8:]
            dump.exports_line = None if rest == "none" else fields(rest)
        elif line.startswith("export "):
            dump.exports.append(fields(line[7:]))
        elif line.startswith("lookup "):
            name, _, rest = line[7:].partition(": ")
            dump.lookups[name] = rest
        elif line.startswith("address "):
            name, _, rest = line[8:].partition(": ")
            dump.addresses[name] = int(rest, 16)
    return dump


class Pedump:
    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *args: object, clean: bool = True) -> Dump:
        proc = subprocess.run(
            [str(self.path), *map(str, args)],
            capture_output=True,
            text=True,
            errors="replace",
            env=driver_env(),
            timeout=300,
            check=False,
        )
        check_clean(proc, "pedump", args)
        if clean:
            assert proc.returncode == 0, f"pedump {args} failed:\n{proc.stderr}"
        return parse_dump(proc)


@pytest.fixture(scope="session")
def pedump(tmp_path_factory: pytest.TempPathFactory) -> Pedump:
    return Pedump(build_driver(tmp_path_factory.mktemp("pedump"), "pedump", SOURCES, NATIVE))


# --------------------------------------------------------------------------
# objdump
# --------------------------------------------------------------------------


@dataclass
class Objdump:
    header: dict[str, str] = field(default_factory=dict)
    directories: list[tuple[int, int]] = field(default_factory=list)
    sections: list[dict[str, object]] = field(default_factory=list)
    export_name: str | None = None
    ordinal_base: int | None = None
    counts: list[int] = field(default_factory=list)
    addresses: dict[int, tuple[int, str | None]] = field(default_factory=dict)
    names: dict[str, int] = field(default_factory=dict)  # name -> table index
    rsds: tuple[str, int] | None = None


HEADER_KEYS = (
    "Characteristics",
    "Magic",
    "MajorLinkerVersion",
    "MinorLinkerVersion",
    "AddressOfEntryPoint",
    "ImageBase",
    "SectionAlignment",
    "FileAlignment",
    "MajorOSystemVersion",
    "MinorOSystemVersion",
    "MajorSubsystemVersion",
    "MinorSubsystemVersion",
    "SizeOfImage",
    "SizeOfHeaders",
    "CheckSum",
    "Subsystem",
    "DllCharacteristics",
    "NumberOfRvaAndSizes",
)


def read_objdump(path: Path) -> Objdump:
    tool = objdump()
    out = Objdump()
    text = must([tool, "-p", path])
    in_addresses = in_names = False
    for line in text.splitlines():
        words = line.split()
        if not words:
            in_addresses = in_names = False
            continue
        if words[0] in HEADER_KEYS and len(words) >= 2 and words[0] not in out.header:
            out.header[words[0]] = words[1]
        m = re.match(r"Entry ([0-9a-f]) ([0-9a-f]+) ([0-9a-f]+)", line)
        if m:
            out.directories.append((int(m.group(2), 16), int(m.group(3), 16)))
        m = re.match(r"Name\s+([0-9a-f]+) (.*)$", line)
        if m and out.export_name is None:
            out.export_name = m.group(2)
        m = re.match(r"Ordinal Base\s+(\d+)", line)
        if m:
            out.ordinal_base = int(m.group(1))
        m = re.match(
            r"\s+(Export Address Table|\[Name Pointer/Ordinal\] Table)\s+([0-9a-f]+)$", line
        )
        if m and len(out.counts) < 2:
            out.counts.append(int(m.group(2), 16))
        if line.startswith("Export Address Table --"):
            in_addresses = True
            continue
        if line.startswith("[Ordinal/Name Pointer] Table"):
            in_names = True
            continue
        if in_addresses:
            m = re.match(r"\s+\[\s*(\d+)\] \+base\[\s*(\d+)\] ([0-9a-f]+) (.*)$", line)
            assert m, line
            forwarder = m.group(4).split("-- ", 1)[1] if "Forwarder" in m.group(4) else None
            out.addresses[int(m.group(2))] = (int(m.group(3), 16), forwarder)
        if in_names:
            m = re.match(r"\s+\[\s*(\d+)\] (.*)$", line)
            assert m, line
            out.names[m.group(2)] = int(m.group(1))
        m = re.search(r"\(format RSDS signature ([0-9a-f]+) age (\d+)", line)
        if m:
            out.rsds = (m.group(1), int(m.group(2)))
    headers = must([tool, "-h", path])
    for m in re.finditer(
        r"^\s*(\d+) (\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\n\s+(.*)$",
        headers,
        re.M,
    ):
        out.sections.append(
            {
                "name": m.group(2),
                "size": int(m.group(3), 16),
                "vma": int(m.group(4), 16),
                "file_off": int(m.group(5), 16),
                "flags": {f.strip() for f in m.group(6).split(",")},
            }
        )
    return out


def compare_with_objdump(pedump: Pedump, path: Path, *args: object) -> Dump:
    """Runs pedump on path and checks every fact against objdump's."""
    dump = pedump.run(*args, path, *NAMES)
    ref = read_objdump(path)
    h = dump.header
    assert int(ref.header["Characteristics"], 16) == int(h["characteristics"], 16)
    assert int(ref.header["Magic"], 16) == int(h["magic"], 16)
    assert h["format"] == ("PE32+" if ref.header["Magic"] == "020b" else "PE32")
    assert h["linker"] == f"{ref.header['MajorLinkerVersion']}.{ref.header['MinorLinkerVersion']}"
    assert h["os"] == f"{ref.header['MajorOSystemVersion']}.{ref.header['MinorOSystemVersion']}"
    assert h["subsystem_version"] == (
        f"{ref.header['MajorSubsystemVersion']}.{ref.header['MinorSubsystemVersion']}"
    )
    hexes = {
        "AddressOfEntryPoint": "entry",
        "ImageBase": "image_base",
        "SectionAlignment": "section_alignment",
        "FileAlignment": "file_alignment",
        "SizeOfImage": "size_of_image",
        "SizeOfHeaders": "size_of_headers",
        "CheckSum": "checksum",
        "Subsystem": "subsystem",
        "DllCharacteristics": "dll_characteristics",
        "NumberOfRvaAndSizes": "directories",
    }
    for theirs, ours in hexes.items():
        assert int(ref.header[theirs], 16) == int(h[ours], 0), (theirs, h[ours])
    assert dump.directories == ref.directories
    image_base = int(h["image_base"], 16)

    # Sections: objdump gives long names from the string table where the
    # header has "/N"; its Size is the virtual size.
    assert len(dump.sections) == len(ref.sections) == int(h["sections"])
    layout = pesim.parse(path.read_bytes())
    for ours, theirs, raw in zip(dump.sections, ref.sections, layout.sections, strict=True):
        if ours["name"].startswith("/"):
            assert len(str(theirs["name"])) > 8, (ours, theirs)
        else:
            assert ours["name"] == theirs["name"]
        assert raw.name.decode() == ours["name"]
        assert int(ours["vsize"], 16) == theirs["size"]
        assert image_base + int(ours["rva"], 16) == theirs["vma"]
        assert int(ours["raw_offset"], 16) == theirs["file_off"]
        assert int(ours["raw_size"], 16) == raw.raw_size
        flags = int(ours["flags"], 16)
        assert flags == raw.characteristics
        prot = ours["prot"]
        flagset = theirs["flags"]
        assert isinstance(flagset, set)
        assert ("CODE" in flagset) == bool(flags & 0x20)
        assert ("READONLY" in flagset) == (prot[1] == "-")
        assert prot[0] == ("r" if flags & 0x40000000 else "-")
        assert prot[2] == ("x" if flags & 0x20000000 else "-")

    # The CodeView record.
    if ref.rsds is None:
        assert dump.codeview is None and dump.build_id is None
    else:
        assert dump.codeview is not None
        assert dump.codeview["guid"] == ref.rsds[0]
        assert int(dump.codeview["age"]) == ref.rsds[1]
        assert dump.build_id == ref.rsds[0] + f"{ref.rsds[1]:08x}"
        assert dump.key == ref.rsds[0].upper() + f"{ref.rsds[1]:X}"

    # The export table.
    if ref.ordinal_base is None:
        assert dump.exports_line is None
        return dump
    assert dump.exports_line is not None
    assert dump.exports_line["dll"] == ref.export_name
    base = int(dump.exports_line["base"])
    assert base == ref.ordinal_base
    assert [int(dump.exports_line["functions"]), int(dump.exports_line["names"])] == ref.counts
    named = {e["name"]: e for e in dump.exports if "name" in e}
    assert set(named) == set(ref.names)
    for name, index in ref.names.items():
        e = named[name]
        assert int(e["ordinal"]) == index + base
        rva, forwarder = ref.addresses[index + base]
        assert int(e["rva"], 16) == rva
        assert e.get("forwarder") == forwarder
    unnamed = [e for e in dump.exports if "name" not in e]
    named_ordinals = {index + base for index in ref.names.values()}
    assert [int(e["ordinal"]) for e in unnamed] == sorted(set(ref.addresses) - named_ordinals)
    for e in unnamed:
        assert int(e["rva"], 16) == ref.addresses[int(e["ordinal"])][0]
    assert int(dump.exports_line["count"]) == len(dump.exports)
    # Named exports come in the name table's order, which is sorted.
    assert [e["name"] for e in dump.exports if "name" in e] == sorted(ref.names)
    return dump


# --------------------------------------------------------------------------
# Real files
# --------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["x86_64", "i686"])
def test_dll(pedump: Pedump, build: Builder, arch: str) -> None:
    path = build.dll(arch)
    dump = compare_with_objdump(pedump, path)
    assert dump.header["machine"] == ("0x8664" if arch == "x86_64" else "0x014c")
    assert int(dump.header["characteristics"], 16) & 0x2000  # IMAGE_FILE_DLL
    by_name = {e.get("name"): e for e in dump.exports}
    # What the .def file says.
    assert by_name["exported_function"]["ordinal"] == "1"
    assert by_name["exported_global"]["ordinal"] == "2"
    assert by_name["another"]["ordinal"] == "7"
    assert by_name["forwarded_sleep"]["forwarder"] == "kernel32.Sleep"
    assert by_name["forwarded_ord"]["forwarder"] == "ws2_32.#12"
    assert [e["ordinal"] for e in dump.exports if "name" not in e] == ["5"]
    # Lookups by name and by ordinal agree with the listing.
    found = dump.lookup("exported_function")
    assert found is not None and found["rva"] == by_name["exported_function"]["rva"]
    found = dump.lookup("#5")
    assert found is not None and "name" not in found
    assert dump.lookup("nosuch") is None
    # A DATA export lies in a writable section, a function in code.
    sections = [(int(s["rva"], 16), int(s["vsize"], 16), s["prot"]) for s in dump.sections]

    def prot_at(rva: int) -> str:
        return next(p for start, size, p in sections if start <= rva < start + size)

    assert prot_at(int(by_name["exported_global"]["rva"], 16)).startswith("rw")
    assert prot_at(int(by_name["exported_function"]["rva"], 16)) == "r-xp"
    assert dump.codeview is not None and dump.build_id is not None


def test_dll_without_build_id(pedump: Pedump, build: Builder) -> None:
    dump = compare_with_objdump(pedump, build.dll("x86_64", build_id=False))
    assert dump.codeview is None and dump.build_id is None


@pytest.mark.parametrize("arch", ["x86_64", "i686"])
def test_exe(pedump: Pedump, build: Builder, arch: str) -> None:
    dump = compare_with_objdump(pedump, build.exe(arch))
    assert not int(dump.header["characteristics"], 16) & 0x2000
    assert dump.exports_line is not None
    assert [e["name"] for e in dump.exports] == ["exported_from_exe"]
    assert dump.build_id is not None


def test_stripped(pedump: Pedump, build: Builder) -> None:
    """strip drops the debugging sections (and the COFF symbols), not the
    exports or the CodeView record."""
    whole = pedump.run(build.dll())
    dump = compare_with_objdump(pedump, build.stripped())
    assert len(dump.sections) < len(whole.sections)
    assert not any(s["name"].startswith("/") for s in dump.sections)
    assert dump.exports == whole.exports
    assert dump.build_id == whole.build_id


def test_forwarder_loop(pedump: Pedump, build: Builder) -> None:
    """Forwarders are strings, never followed: two that name each other
    are reported as they are."""
    dump = compare_with_objdump(pedump, build.loop())
    by_name = {e.get("name"): e for e in dump.exports}
    assert by_name["loop_a"]["forwarder"] == "loop.loop_b"
    assert by_name["loop_b"]["forwarder"] == "loop.loop_a"
    assert "forwarder" not in by_name["real_one"]


def test_unknown_size(pedump: Pedump, build: Builder) -> None:
    known = pedump.run(build.dll(), *NAMES)
    unknown = pedump.run("--unknown-size", build.dll(), *NAMES)
    assert known.stdout == unknown.stdout


WINE_DLLS = {
    "x86_64": Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows"),
    "i686": Path("/usr/lib/i386-linux-gnu/wine/i386-windows"),
}


@pytest.mark.parametrize("name", ["kernel32.dll", "ntdll.dll", "user32.dll", "ws2_32.dll"])
@pytest.mark.parametrize("arch", ["x86_64", "i686"])
def test_wine_dlls(pedump: Pedump, arch: str, name: str) -> None:
    """The DLLs Wine ships (PE files of a thousand exports or more, many of
    kernel32's forwarded to NTDLL), against objdump."""
    path = WINE_DLLS[arch] / name
    if not path.is_file():
        pytest.skip(f"no {path} (apt-get install wine64 / wine32)")
    dump = compare_with_objdump(pedump, path)
    assert dump.exports_line is not None and int(dump.exports_line["count"]) > 100
    if name == "kernel32.dll":
        assert any(e.get("forwarder", "").startswith("NTDLL.") for e in dump.exports)
    # Lookups by name (a binary search of the sorted name table) find what
    # the listing has, from the first name to the last.
    named = [e for e in dump.exports if "name" in e]
    sample = named[:: max(1, len(named) // 29)][:29] + named[-1:]
    looked = pedump.run("--no-exports", path, *(e["name"] for e in sample), "~no_such")
    for e in sample:
        found = looked.lookup(e["name"])
        assert found is not None and found["ordinal"] == e["ordinal"] and found["rva"] == e["rva"]
    assert looked.lookup("~no_such") is None


# --------------------------------------------------------------------------
# Images in memory
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "which", ["dll_x86_64", "dll_i686", "exe_x86_64", "stripped", "loop", "no_build_id"]
)
def test_image_in_memory(pedump: Pedump, build: Builder, tmp_path: Path, which: str) -> None:
    """The image as the loader maps it, read at its RVAs (MM_PE_MEMORY),
    says what the file says; a lookup's address is load base + RVA and the
    bias load base - ImageBase."""
    path = {
        "dll_x86_64": lambda: build.dll("x86_64"),
        "dll_i686": lambda: build.dll("i686"),
        "exe_x86_64": lambda: build.exe("x86_64"),
        "stripped": build.stripped,
        "loop": build.loop,
        "no_build_id": lambda: build.dll("x86_64", build_id=False),
    }[which]()
    memory = tmp_path / "memory"
    memory.write_bytes(pesim.layout(path.read_bytes()))
    load = 0x7FF812340000 if "i686" not in which else 0x10000000
    on_file = pedump.run("--load", hex(load), path, *NAMES)
    in_memory = pedump.run("--memory", "--load", hex(load), memory, *NAMES)
    for dump in (on_file, in_memory, pedump.run("--memory", "--unknown-size", memory, *NAMES)):
        assert dump.header["size_of_image"] == on_file.header["size_of_image"]
    assert in_memory.header == on_file.header
    assert in_memory.sections == on_file.sections
    assert in_memory.codeview == on_file.codeview
    assert in_memory.build_id == on_file.build_id
    assert in_memory.exports == on_file.exports
    assert in_memory.lookups == on_file.lookups
    image_base = int(on_file.header["image_base"], 16)
    assert int(in_memory.header["bias"], 16) == (load - image_base) % 2**64
    for name, address in in_memory.addresses.items():
        found = in_memory.lookup(name)
        assert found is not None and address == load + int(found["rva"], 16)


def test_memory_image_unmapped_debug_record(pedump: Pedump, build: Builder, tmp_path: Path) -> None:
    """In memory the record is found at AddressOfRawData: an entry whose
    record is not mapped (AddressOfRawData 0) is no record there, though
    the file still has it."""
    data = bytearray(build.dll().read_bytes())
    headers = pesim.parse(bytes(data))
    debug = headers.rva_to_offset(headers.directories[6][0])
    pesim.put32(data, debug + 20, 0)
    (tmp_path / "f.dll").write_bytes(data)
    (tmp_path / "m").write_bytes(pesim.layout(bytes(data)))
    assert pedump.run(tmp_path / "f.dll").build_id is not None
    assert pedump.run("--memory", tmp_path / "m").codeview is None


# --------------------------------------------------------------------------
# Hostile input
# --------------------------------------------------------------------------


def crafted(build: Builder, change: Callable[[bytearray, pesim.Headers], None]) -> bytes:
    data = bytearray(build.stripped().read_bytes())
    change(data, pesim.parse(bytes(data)))
    return bytes(data)


def export_in_memory(build: Builder, make: Callable[[int], tuple[bytes, dict[str, int]]]) -> bytes:
    """The stripped DLL in memory with an export directory of make's
    making appended past its end: make(rva) gives the bytes to put at rva
    and the directory's fields (as offsets into them are RVAs)."""
    memory = bytearray(pesim.layout(build.stripped().read_bytes()))
    headers = pesim.parse(bytes(memory))
    rva = len(memory)
    extra, directory = make(rva)
    memory += extra
    pesim.put32(memory, headers.optional_offset + 56, len(memory))  # SizeOfImage
    pesim.put32(memory, headers.directory_offset(0), directory.pop("rva", rva))
    pesim.put32(memory, headers.directory_offset(0) + 4, directory.pop("size", len(extra)))
    return bytes(memory)


def export_dir(**values: int) -> bytes:
    d = bytearray(40)
    offsets = {
        "Name": 12,
        "Base": 16,
        "NumberOfFunctions": 20,
        "NumberOfNames": 24,
        "AddressOfFunctions": 28,
        "AddressOfNames": 32,
        "AddressOfNameOrdinals": 36,
    }
    for key, value in values.items():
        pesim.put32(d, offsets[key], value)
    return bytes(d)


def set_field(name: str, value: int) -> Callable[[bytearray, pesim.Headers], None]:
    def change(data: bytearray, h: pesim.Headers) -> None:
        pesim.put32(data, h.export_field(name), value)

    return change


def set_at(offset: Callable[[pesim.Headers], int], value: int, width: int = 4):  # type: ignore[no-untyped-def]
    def change(data: bytearray, h: pesim.Headers) -> None:
        struct.pack_into("<I" if width == 4 else "<H", data, offset(h), value)

    return change


# (name, change, what pedump must say: an error message part on stderr, or
# a check of the dump)
FILE_LIES: dict[str, tuple[Callable[[bytearray, pesim.Headers], None], str]] = {
    "lfanew past the end": (lambda d, h: pesim.put32(d, 0x3C, 0xFFFFFFF0), "e_lfanew"),
    "no PE signature": (
        lambda d, h: d.__setitem__(slice(h.pe_offset, h.pe_offset + 2), b"NE"),
        "no PE signature",
    ),
    "object file": (set_at(lambda h: h.pe_offset + 20, 0, 2), "object file"),
    "short optional header": (set_at(lambda h: h.pe_offset + 20, 100, 2), "SizeOfOptionalHeader"),
    "bad magic": (set_at(lambda h: h.optional_offset, 0x107, 2), "magic"),
    "directories past the header": (
        set_at(lambda h: h.pe_offset + 20, 120, 2),
        "NumberOfRvaAndSizes",
    ),
    "too many sections": (set_at(lambda h: h.pe_offset + 6, 0xFFFF, 2), "NumberOfSections"),
    "sections past the end": (set_at(lambda h: h.pe_offset + 6, 1000, 2), "section headers"),
    "zero SizeOfImage": (set_at(lambda h: h.optional_offset + 56, 0), "SizeOfImage"),
    "too many functions": (set_field("NumberOfFunctions", 0x10001), "more than the 65536"),
    "too many names": (set_field("NumberOfNames", 0xFFFFFFFF), "more than the 65536"),
    "address table wraps": (set_field("AddressOfFunctions", 0xFFFFFFF0), "export address table"),
    "name table wraps": (set_field("AddressOfNames", 0xFFFFFFFC), "export name pointer table"),
    "ordinal table outside": (
        set_field("AddressOfNameOrdinals", 0x7FFFFFF0),
        "export ordinal table",
    ),
    "ordinal base wraps": (set_field("Base", 0xFFFFFFFE), "wraps"),
    "directory outside": (
        lambda d, h: pesim.put32(d, h.directory_offset(0), 0xFFFFFFF8),
        "export directory",
    ),
}


@pytest.mark.parametrize("case", sorted(FILE_LIES))
def test_hostile_headers(pedump: Pedump, build: Builder, tmp_path: Path, case: str) -> None:
    change, message = FILE_LIES[case]
    path = tmp_path / "lie.dll"
    path.write_bytes(crafted(build, change))
    for mode in ([], ["--unknown-size"]):
        dump = pedump.run(*mode, path, *NAMES, clean=False)
        assert dump.status == 1, dump.stdout
        assert message in dump.stderr, dump.stderr


def test_directory_count_above_16(pedump: Pedump, build: Builder, tmp_path: Path) -> None:
    """NumberOfRvaAndSizes above 16 names directories nobody reads: the 16
    the header holds are taken."""
    whole = pedump.run(build.stripped())
    path = tmp_path / "lie.dll"
    path.write_bytes(crafted(build, set_at(lambda h: h.directories_offset - 4, 0xFFFFFFFF)))
    dump = pedump.run(path)
    assert dump.header["directories"] == "4294967295"
    assert dump.directories == whole.directories and dump.exports == whole.exports


def test_name_ordinal_past_the_table(pedump: Pedump, build: Builder, tmp_path: Path) -> None:
    def change(data: bytearray, h: pesim.Headers) -> None:
        at = h.rva_to_offset(pesim.get32(bytes(data), h.export_field("AddressOfNameOrdinals")))
        struct.pack_into("<H", data, at, 0xFFFF)

    path = tmp_path / "lie.dll"
    path.write_bytes(crafted(build, change))
    dump = pedump.run(path, clean=False)
    assert dump.status == 1 and "past the 9 entries" in dump.stderr


def test_export_entries_that_lie(pedump: Pedump, build: Builder, tmp_path: Path) -> None:
    """An RVA outside the image, a name with no NUL before the end of the
    file and a forwarder string that runs off the image spoil their own
    entries only: the rest of the table reads, and lookups skip them."""

    def change(data: bytearray, h: pesim.Headers) -> None:
        b = bytes(data)
        functions = h.rva_to_offset(pesim.get32(b, h.export_field("AddressOfFunctions")))
        pesim.put32(data, functions + 0, 0xFFFFFF00)  # ordinal 1: outside
        names = h.rva_to_offset(pesim.get32(b, h.export_field("AddressOfNames")))
        # The name "another" (first in the name table) runs into the
        # last bytes of the file, none of them NUL.
        # The last section and the image are made to end with the file, so
        # that in memory no zero fill follows either.
        last = h.sections[-1]
        assert last.raw_offset + last.raw_size == len(data)
        pesim.put32(data, last.header_offset + 8, last.raw_size)
        end_rva = last.virtual_address + last.raw_size
        pesim.put32(data, h.optional_offset + 56, end_rva)
        data[len(data) - 16 :] = b"A" * 16
        pesim.put32(data, names, end_rva - 16)
        assert pesim.parse(bytes(data)).rva_to_offset(end_rva - 16) == len(data) - 16

    path = tmp_path / "lie.dll"
    path.write_bytes(crafted(build, change))
    for mode in ([], ["--memory"]):
        target = path
        if mode:
            target = tmp_path / "memory"
            target.write_bytes(pesim.layout(path.read_bytes()))
        dump = pedump.run(*mode, target, "exported_function", "exported_global", "another")
        errors = [e for e in dump.exports if "error" in e]
        assert len(errors) == 2, dump.stdout
        assert any("outside the image" in e["error"] for e in errors)
        assert any("does not end" in e["error"] for e in errors)
        assert dump.lookup("exported_global") is not None
        assert dump.lookup("another") is None
        assert dump.lookup("exported_function") is None


def test_forwarder_without_end(pedump: Pedump, build: Builder, tmp_path: Path) -> None:
    """A forwarder RVA near the end of the directory whose string has no NUL
    before the end of the image."""

    def make(rva: int) -> tuple[bytes, dict[str, int]]:
        tables = export_dir(
            NumberOfFunctions=2, AddressOfFunctions=rva + 40, Base=1, Name=0
        ) + struct.pack("<II", rva + 48, 0x1000)
        return tables + b"x" * 8, {}

    path = tmp_path / "memory"
    path.write_bytes(export_in_memory(build, make))
    dump = pedump.run("--memory", path, "#1", "#2")
    assert "does not end" in dump.lookups["#1"]
    assert dump.lookup("#2") is not None
    assert dump.exports_line is not None and dump.exports_line["dll"] == ""


def test_name_bytes_cap(pedump: Pedump, build: Builder, tmp_path: Path) -> None:
    """65536 names that all point at one 4000-byte name would have the
    reader examine 250 MiB: it stops at MM_PE_NAME_BYTES_CAP (16 MiB), with
    an error, in a bounded time (generous, only to prove it does not
    hang)."""
    count = 65536

    def make(rva: int) -> tuple[bytes, dict[str, int]]:
        functions = rva + 40
        names = functions + 4
        ordinals = names + 4 * count
        name = ordinals + 2 * count
        body = export_dir(
            NumberOfFunctions=1,
            NumberOfNames=count,
            AddressOfFunctions=functions,
            AddressOfNames=names,
            AddressOfNameOrdinals=ordinals,
        )
        body += struct.pack("<I", 0x1000)
        body += struct.pack("<I", name) * count + b"\0\0" * count
        body += b"n" * 4000 + b"\0"
        return body, {}

    path = tmp_path / "memory"
    path.write_bytes(export_in_memory(build, make))
    proc = subprocess.run(
        [str(pedump.path), "--memory", str(path)],
        capture_output=True,
        text=True,
        env=driver_env(),
        timeout=120,
        check=False,
    )
    check_clean(proc, "pedump", [path])
    assert proc.returncode == 1 and "more than the 0x1000000 bytes" in proc.stderr


def test_same_name_many_times_under_cap(pedump: Pedump, build: Builder, tmp_path: Path) -> None:
    """Many names, short, unsorted and repeated, all within the caps: the
    table reads and a lookup scans (the names are not sorted)."""
    count = 20000

    def make(rva: int) -> tuple[bytes, dict[str, int]]:
        functions = rva + 40
        names = functions + 8
        ordinals = names + 4 * count
        strings = ordinals + 2 * count
        body = export_dir(
            NumberOfFunctions=2,
            NumberOfNames=count,
            AddressOfFunctions=functions,
            AddressOfNames=names,
            AddressOfNameOrdinals=ordinals,
            Base=10,
        )
        body += struct.pack("<II", 0x1000, 0x1010)
        body += b"".join(struct.pack("<I", strings + 2 * (i % 2)) for i in range(count))
        body += b"".join(struct.pack("<H", i % 2) for i in range(count))
        body += b"b\0a\0"
        return body, {}

    path = tmp_path / "memory"
    path.write_bytes(export_in_memory(build, make))
    dump = pedump.run("--memory", "--no-exports", path, "a", "b", "#10", "#11")
    assert dump.exports_line is not None and dump.exports_line["count"] == str(count)
    a, b = dump.lookup("a"), dump.lookup("b")
    assert a is not None and a["ordinal"] == "11" and a["rva"] == "0x1010"
    assert b is not None and b["ordinal"] == "10"
    ten = dump.lookup("#10")
    assert ten is not None and ten["name"] == "b"


def test_section_raw_data_wraps(pedump: Pedump, build: Builder, tmp_path: Path) -> None:
    """A section whose PointerToRawData + SizeOfRawData wraps 32 bits:
    nothing in it is read from the file."""

    def change(data: bytearray, h: pesim.Headers) -> None:
        edata = next(s for s in h.sections if s.name == b".edata")
        pesim.put32(data, edata.header_offset + 20, 0xFFFFFF00)

    path = tmp_path / "lie.dll"
    path.write_bytes(crafted(build, change))
    dump = pedump.run(path, clean=False)
    assert dump.status == 1 and "the export directory" in dump.stderr


def test_debug_directory_lies(pedump: Pedump, build: Builder, tmp_path: Path) -> None:
    """A CodeView entry whose record lies past the end, one whose size is
    absurd, and a debug directory outside the image."""
    path = tmp_path / "lie.dll"
    base = build.stripped().read_bytes()
    headers = pesim.parse(base)
    entry = headers.rva_to_offset(headers.directories[6][0])

    data = bytearray(base)
    pesim.put32(data, entry + 24, len(data) - 8)  # PointerToRawData
    path.write_bytes(data)
    dump = pedump.run(path)
    assert dump.codeview is not None and "outside the image" in dump.codeview["error"]
    assert dump.build_id is None

    data = bytearray(base)
    pesim.put32(data, entry + 16, 0xFFFFFFFF)  # SizeOfData
    path.write_bytes(data)
    dump = pedump.run(path)
    assert dump.codeview is not None and len(dump.codeview.get("pdb", "")) <= 1024
    assert dump.build_id is not None

    data = bytearray(base)
    pesim.put32(data, headers.directory_offset(6), 0xFFFFFFF0)
    path.write_bytes(data)
    dump = pedump.run(path)
    assert dump.codeview is not None and "debug directory entry" in dump.codeview["error"]


def test_not_pe(pedump: Pedump, tmp_path: Path) -> None:
    for name, data in {
        "empty": b"",
        "mz only": b"MZ",
        "elf": b"\177ELF" + b"\0" * 60,
        "dos stub": b"MZ" + b"\0" * 58 + struct.pack("<I", 64) + b"\0" * 64,
    }.items():
        path = tmp_path / "x"
        path.write_bytes(data)
        dump = pedump.run(path, clean=False)
        assert dump.status == 1, name


def test_every_truncation(pedump: Pedump, build: Builder) -> None:
    """Every prefix of the stripped DLL and of the 32-bit one: each gives an
    error or the facts of the whole file (compared in one process)."""
    for path in (build.stripped(), build.dll("i686")):
        dump = pedump.run("--truncate-all", path, *NAMES)
        m = re.search(r"prefixes=(\d+) opened=(\d+) mismatches=(\d+)", dump.stdout)
        assert m, dump.stdout
        assert int(m.group(1)) == path.stat().st_size + 1
        assert int(m.group(2)) > 0 and int(m.group(3)) == 0, dump.stderr


@pytest.mark.slow
def test_every_truncation_in_memory(pedump: Pedump, build: Builder, tmp_path: Path) -> None:
    memory = tmp_path / "memory"
    memory.write_bytes(pesim.layout(build.stripped().read_bytes()))
    dump = pedump.run("--truncate-all", "--memory", memory, *NAMES)
    m = re.search(r"prefixes=(\d+) opened=(\d+) mismatches=(\d+)", dump.stdout)
    assert m and int(m.group(2)) > 0 and int(m.group(3)) == 0, dump.stdout + dump.stderr


def test_truncated_files_through_the_command(
    pedump: Pedump, build: Builder, tmp_path: Path
) -> None:
    data = build.dll().read_bytes()
    lengths = sorted({*range(0, 512, 7), *range(512, len(data), max(1, len(data) // 40))})
    cut = tmp_path / "cut"
    for length in lengths:
        cut.write_bytes(data[:length])
        for mode in ([], ["--unknown-size"], ["--memory"]):
            pedump.run(*mode, cut, *NAMES, clean=False)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_byte_changes(pedump: Pedump, build: Builder, seed: int) -> None:
    for path in (build.stripped(), build.dll("i686"), build.loop()):
        dump = pedump.run("--flips", seed, 3000, path, *NAMES)
        assert "flips=3000" in dump.stdout


def test_under_valgrind(build: Builder, tmp_path: Path) -> None:
    """pedump built without the sanitizers, run under valgrind on a real
    DLL, in memory and with a truncation loop: no invalid read, no
    uninitialised value, no leak."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    plain = tmp_path / "pedump"
    must(["gcc", "-std=c11", "-g", "-O1", "-I", NATIVE, *SOURCES, "-o", plain])
    memory = tmp_path / "memory"
    memory.write_bytes(pesim.layout(build.dll().read_bytes()))
    small = tmp_path / "small.dll"
    small.write_bytes(build.stripped().read_bytes()[:4096])
    for args in (
        [build.dll(), *NAMES],
        ["--memory", "--load", "0x180000000", memory, *NAMES],
        ["--truncate-all", small, *NAMES],
        ["--flips", "3", "200", build.stripped()],
    ):
        proc = subprocess.run(
            [
                valgrind,
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=all",
                "-q",
                str(plain),
                *map(str, args),
            ],
            capture_output=True,
            text=True,
            env=tool_env(),
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, f"{args}: {proc.stderr[-4000:]}"


# --------------------------------------------------------------------------
# The fuzzer
# --------------------------------------------------------------------------


@pytest.mark.fuzz
def test_fuzz_briefly(tmp_path: Path) -> None:
    """tests/fuzz/run_fuzz.sh pe for 15 s: any crash, sanitizer report,
    leak or timeout fails it."""
    clang = sanitized.libfuzzer_clang()
    if clang is None:
        pytest.skip("no clang with libFuzzer (apt-get install clang-14)")
    require_mingw("x86_64")
    out, tail = sanitized.run_fuzzer(
        "pe", 15, tmp_path, clang, env={"PYTHON": sys.executable}, timeout=900
    )
    seeds = re.search(r"fuzz_pe: (\d+) seeds", out)
    assert seeds and int(seeds.group(1)) >= 6, tail
