"""The native C compiles for macOS, Windows and FreeBSD, and links for macOS.

Each memmaps/native/*.c file is compiled with the development flags
(warnings are errors) for each target in crosscc.TARGETS it is meant for
(crosscc.is_for_target: ``*_macos.c`` for the macOS targets only,
``*_windows.c`` for Windows, ``*_freebsd.c`` for FreeBSD, ``*_linux.c`` for
none, everything else for all), with zig from the PyPI ``ziglang`` package.
Compiling only (-c) needs no runtime from zig's cache, so this stays fast
even on a cold cache.  tools/mmdump.c is also linked with the files setup.py
builds the extension from on macOS, for both macOS targets: the backend's
Mach and libproc calls must resolve against libSystem; and with the files
it builds from on Windows, by zig and by Debian's MinGW-w64 GCC (64-bit
and 32-bit), into PE executables that import the backend's calls.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.helpers import crosscc

SOURCES = crosscc.portable_sources()

# (target, source) for every file each target builds.  A target with no file
# gets (target, None) so that it fails instead of being collected as an
# empty (skipped) parameter set.
CASES = [
    (target, source)
    for target in crosscc.TARGETS
    for source in crosscc.sources_for(target) or [None]
]

MACOS_TARGETS = tuple(t for t in crosscc.TARGETS if crosscc.target_system(t) == "macos")


def _case_id(case: tuple[str, Path | None]) -> str:
    target, source = case
    name = f"{source.parent.name}/{source.name}" if source is not None else "nothing"
    return f"{target}-{name}"


def test_native_folder_has_portable_sources() -> None:
    assert SOURCES, (
        f"no portable C file (*.c without a system suffix) in {crosscc.NATIVE_DIR}:"
        " there is nothing to cross-compile"
    )


def test_every_target_builds_something() -> None:
    for target in crosscc.TARGETS:
        sources = crosscc.sources_for(target)
        assert set(SOURCES) <= set(sources), f"{target} leaves out portable files"
    for target in MACOS_TARGETS:
        paths = set(crosscc.sources_for(target))
        assert crosscc.NATIVE_DIR / "backends" / "macos.c" in paths, (
            f"the macOS backend is not compiled for {target}"
        )


@pytest.mark.parametrize(
    ("name", "target", "built"),
    [
        ("core/list.c", "x86_64-windows-gnu", True),
        ("formats/elf.c", "x86_64-freebsd", True),
        ("backends/unsupported.c", "x86_64-freebsd", True),
        ("backends/macos.c", "aarch64-macos", True),
        ("backends/macos.c", "x86_64-macos.11.0", True),
        ("backends/macos.c", "x86_64-windows-gnu", False),
        ("backends/macos.c", "x86_64-freebsd", False),
        ("backends/windows.c", "x86_64-windows-gnu", True),
        ("backends/windows.c", "aarch64-macos", False),
        ("backends/freebsd.c", "x86_64-freebsd", True),
        ("backends/freebsd.c", "x86_64-macos", False),
        ("backends/linux.c", "x86_64-freebsd", False),
        ("backends/linux.c", "aarch64-macos", False),
        ("core/mm.h", "aarch64-macos", False),
    ],
)
def test_source_selection(name: str, target: str, built: bool) -> None:
    assert crosscc.is_for_target(Path(name), target) is built


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_source_compiles(case: tuple[str, Path | None], tmp_path: Path) -> None:
    target, source = case
    if source is None:
        pytest.fail(f"no C file in {crosscc.NATIVE_DIR} to compile for {target}")
    crosscc.require_zig()
    output = tmp_path / f"{source.stem}.o"
    proc = crosscc.compile_object(source, output, target)
    status = proc.returncode  # keeps pytest from repeating the whole process
    assert status == 0, f"{source.name} does not compile for {target}\n" + crosscc.describe(proc)
    assert output.is_file() and output.stat().st_size > 0


GOOD_SNIPPET = """\
int
mm_snippet(int x)
{
    return x + 1;
}
"""

# An unused variable: only a warning, so it fails only if -Werror and -Wall
# really reach the compiler.
BAD_SNIPPET = """\
int
mm_snippet(int x)
{
    int unused;
    return x + 1;
}
"""


def test_warnings_are_errors(tmp_path: Path) -> None:
    crosscc.require_zig()
    target = crosscc.TARGETS[0]
    good = tmp_path / "good.c"
    good.write_text(GOOD_SNIPPET)
    proc = crosscc.compile_object(good, tmp_path / "good.o", target)
    assert proc.returncode == 0, "the control snippet must compile\n" + crosscc.describe(proc)

    bad = tmp_path / "bad.c"
    bad.write_text(BAD_SNIPPET)
    proc = crosscc.compile_object(bad, tmp_path / "bad.o", target)
    assert proc.returncode != 0, "an unused variable compiled despite -Werror\n" + crosscc.describe(
        proc
    )
    assert "unused variable" in proc.stderr, crosscc.describe(proc)
    # zig leaves an empty output file behind when compilation fails.
    bad_obj = tmp_path / "bad.o"
    assert not bad_obj.exists() or bad_obj.stat().st_size == 0


# The system headers the backends need, compiled the same way: a check that
# the toolchain has them, not of our code.  mach/mach_vm.h is missing from
# zig's macOS headers: backends declare mach_vm_* prototypes themselves.
SYSTEM_HEADERS = {
    "macos": """\
#include <mach/mach.h>
#include <libproc.h>
#include <sys/proc_info.h>
#include <mach-o/loader.h>
#include <mach-o/nlist.h>
#include <mach-o/fat.h>
#include <mach-o/dyld_images.h>
#include <unistd.h>
size_t mm_probe(void) {
    return sizeof(vm_region_submap_info_data_64_t) + sizeof(struct mach_header_64)
        + sizeof(struct proc_regionwithpathinfo) + sizeof(struct dyld_all_image_infos)
        + sizeof(struct task_dyld_info) + (size_t)getpid();
}
""",
    "windows": """\
#include <windows.h>
#include <psapi.h>
size_t mm_probe(void) {
    MEMORY_BASIC_INFORMATION mbi;
    HANDLE h = OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ, FALSE,
                           GetCurrentProcessId());
    SIZE_T n = VirtualQueryEx(h, NULL, &mbi, sizeof mbi);
    return (size_t)n + (size_t)LIST_MODULES_ALL;
}
""",
    "freebsd": """\
#include <sys/types.h>
#include <sys/sysctl.h>
#include <sys/user.h>
#include <libutil.h>
#include <unistd.h>
size_t mm_probe(void) {
    int count = 0;
    struct kinfo_vmentry *v = kinfo_getvmmap(getpid(), &count);
    return (size_t)count + sizeof(*v) + (size_t)KERN_PROC_VMMAP;
}
""",
}


@pytest.mark.parametrize("target", crosscc.TARGETS)
def test_target_system_headers(target: str, tmp_path: Path) -> None:
    crosscc.require_zig()
    system = target.split("-")[1]
    source = tmp_path / f"probe_{system}.c"
    source.write_text(SYSTEM_HEADERS[system])
    proc = crosscc.compile_object(source, tmp_path / "probe.o", target)
    assert proc.returncode == 0, (
        f"the {system} system headers do not compile for {target}\n" + crosscc.describe(proc)
    )


# Mach-O: MH_MAGIC_64, and the CPU types of mach/machine.h.
MH_MAGIC_64 = 0xFEEDFACF
MH_EXECUTE = 2
CPU_TYPES = {"aarch64": 0x0100000C, "x86_64": 0x01000007}
OBJDUMP_CPU = {"aarch64": "ARM64", "x86_64": "X86_64"}


@pytest.mark.parametrize("target", MACOS_TARGETS)
def test_mmdump_links_for_macos(target: str, tmp_path: Path) -> None:
    """tools/mmdump.c with the extension's macOS files: compiled with
    warnings as errors and linked against zig's libSystem stubs, into a
    Mach-O executable for the target's CPU that calls the Mach backend."""
    crosscc.require_zig()
    sources = [crosscc.REPO / "tools" / "mmdump.c", *crosscc.extension_sources("darwin")]
    assert crosscc.NATIVE_DIR / "backends" / "macos.c" in sources
    output = tmp_path / "mmdump"
    proc = crosscc.link(sources, output, target)
    status = proc.returncode
    assert status == 0, f"mmdump does not link for {target}\n" + crosscc.describe(proc)
    data = output.read_bytes()
    magic, cputype, _subtype, filetype = struct.unpack_from("<IiiI", data)
    assert magic == MH_MAGIC_64, f"not a 64-bit little-endian Mach-O file: {data[:4].hex()}"
    arch = target.split("-")[0]
    assert cputype == CPU_TYPES[arch], f"CPU type {cputype:#x}, not {arch}"
    assert filetype == MH_EXECUTE
    # The symbol table names what libSystem must provide at run time: the
    # Mach calls backends/macos.c declares itself, and not the placeholder's.
    for symbol in (b"_mach_vm_region_recurse", b"_mach_vm_read_overwrite", b"_proc_pidinfo"):
        assert symbol in data, f"{symbol.decode()} is not referenced: not the Mach backend?"
    objdump = shutil.which("llvm-objdump-14") or shutil.which("llvm-objdump")
    if objdump is not None:
        headers = subprocess.run(
            [objdump, "--macho", "--private-headers", str(output)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "MH_MAGIC_64" in headers and OBJDUMP_CPU[arch] in headers, headers[:400]
        assert "EXECUTE" in headers, headers[:400]


@pytest.mark.parametrize("target", MACOS_TARGETS)
def test_core_compiles_for_macos(target: str, tmp_path: Path) -> None:
    """The binding (_core.c and memmaps/_binding/) against this interpreter's
    Python headers: a compile check, since pyconfig.h here describes Linux,
    not a build of the extension for macOS."""
    import sysconfig

    crosscc.require_zig()
    include = Path(sysconfig.get_paths()["include"])
    package = Path(__file__).resolve().parents[2] / "memmaps"
    sources = [package / "_core.c", *sorted((package / "_binding").glob("*.c"))]
    for source in sources:
        result = crosscc.compile_object(
            source,
            tmp_path / f"{source.stem}.o",
            target,
            include_dirs=(crosscc.NATIVE_DIR, include),
        )
        assert result.returncode == 0, crosscc.describe(result)
        assert (tmp_path / f"{source.stem}.o").stat().st_size > 0


# PE: the COFF machine of each Windows build, and the system calls the
# backend must import (psapi's through kernel32's K32 names).
PE_MACHINES = {"x86_64": 0x8664, "i686": 0x014C}
WINDOWS_IMPORTS = (
    b"VirtualQueryEx",
    b"ReadProcessMemory",
    b"OpenProcess",
    b"K32GetMappedFileNameW",
    b"K32QueryWorkingSetEx",
    b"K32EnumProcessModulesEx",
    b"CreateToolhelp32Snapshot",
)


def _check_windows_exe(data: bytes, arch: str) -> None:
    assert data[:2] == b"MZ", "not a PE executable"
    pe_offset = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[pe_offset : pe_offset + 4] == b"PE\0\0"
    machine = struct.unpack_from("<H", data, pe_offset + 4)[0]
    assert machine == PE_MACHINES[arch], f"machine {machine:#x}, not {arch}"
    for name in WINDOWS_IMPORTS:
        assert name in data, f"{name.decode()} is not imported: not the Windows backend?"


def test_mmdump_links_for_windows_with_zig(tmp_path: Path) -> None:
    """tools/mmdump.c with the extension's Windows files, linked by zig
    against its MinGW-w64 runtime (the first link builds that runtime into
    zig's cache: about 80 s on 2 cores, once per machine)."""
    crosscc.require_zig()
    sources = [crosscc.REPO / "tools" / "mmdump.c", *crosscc.extension_sources("win32")]
    assert crosscc.NATIVE_DIR / "backends" / "windows.c" in sources
    output = tmp_path / "mmdump.exe"
    proc = crosscc.link(sources, output, "x86_64-windows-gnu")
    status = proc.returncode
    assert status == 0, "mmdump does not link for Windows\n" + crosscc.describe(proc)
    _check_windows_exe(output.read_bytes(), "x86_64")


@pytest.mark.parametrize("arch", ["x86_64", "i686"])
def test_mmdump_builds_with_mingw(arch: str, tmp_path: Path) -> None:
    """The same files with Debian's MinGW-w64 GCC, warnings as errors, for
    64-bit and 32-bit Windows."""
    compiler = shutil.which(f"{arch}-w64-mingw32-gcc")
    if compiler is None:
        pytest.skip(f"{arch}-w64-mingw32-gcc is not installed (gcc-mingw-w64)")
    sources = [crosscc.REPO / "tools" / "mmdump.c", *crosscc.extension_sources("win32")]
    output = tmp_path / "mmdump.exe"
    command = [compiler, *crosscc.CFLAGS, f"-I{crosscc.NATIVE_DIR}", *map(str, sources)]
    result = subprocess.run([*command, "-o", str(output)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    _check_windows_exe(output.read_bytes(), arch)
