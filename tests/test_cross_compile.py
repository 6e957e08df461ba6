"""The portable native C compiles for macOS, Windows and FreeBSD.

Every memmaps/native/*.c file except *_linux.c is compiled with the
development flags (warnings are errors) for each target in crosscc.TARGETS,
with zig from the PyPI ``ziglang`` package.  Compiling only (-c) needs no
runtime from zig's cache, so this stays fast even on a cold cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

try:
    import crosscc
except ImportError:  # pytest run with --import-mode=importlib
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import crosscc

SOURCES = crosscc.portable_sources()


def _source_id(source: Path | None) -> str:
    return source.name if source is not None else "no-portable-source"


def test_native_folder_has_portable_sources() -> None:
    assert SOURCES, (
        f"no portable C file (*.c other than *_linux.c) in {crosscc.NATIVE_DIR}:"
        " there is nothing to cross-compile"
    )


# None stands in for an empty folder so that the test fails instead of being
# collected as an empty (skipped) parameter set.
@pytest.mark.parametrize("source", SOURCES or [None], ids=_source_id)
@pytest.mark.parametrize("target", crosscc.TARGETS)
def test_portable_source_compiles(target: str, source: Path | None, tmp_path: Path) -> None:
    if source is None:
        pytest.fail(f"no portable C file in {crosscc.NATIVE_DIR}")
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
