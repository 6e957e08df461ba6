"""Builds memmaps._core from memmaps/_core.c and the platform's native/ files.

Everything else about the package is in pyproject.toml.
"""

import glob
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = "memmaps/native"
# The backend of each system, by sys.platform prefix: adding a system is a
# line here (tests/helpers/crosscc.py reads this literal without running the
# file).
BACKENDS = {
    "linux": "linux.c",
    "darwin": "macos.c",
    "win32": "windows.c",
}
UNSUPPORTED = "unsupported.c"


def native_sources() -> list[str]:
    """The shared core and every portable format, then this system's backend."""
    backend = next(
        (name for prefix, name in BACKENDS.items() if sys.platform.startswith(prefix)),
        UNSUPPORTED,
    )
    portable = sorted(glob.glob(f"{NATIVE}/core/*.c") + glob.glob(f"{NATIVE}/formats/*.c"))
    return [*portable, f"{NATIVE}/backends/{backend}"]


def msvc_compile_args() -> list[str]:
    """Microsoft's compiler: C11 as it spells it (Visual Studio 2019 16.8
    and later), without the CRT's advice to use its _s functions and its
    underscored names for POSIX's, which are not portable C; warnings are
    errors under MEMMAPS_DEV."""
    args = ["/std:c11", "/D_CRT_SECURE_NO_WARNINGS", "/D_CRT_NONSTDC_NO_WARNINGS"]
    if os.environ.get("MEMMAPS_DEV"):
        args += ["/W4", "/WX"]
    return args


def compile_args() -> list[str]:
    """gcc and clang (Linux, macOS, mingw-w64 on Windows)."""
    args = ["-std=c11", "-fvisibility=hidden"]
    # Development and CI builds: warnings are errors.  Set MEMMAPS_DEV=1.
    if os.environ.get("MEMMAPS_DEV"):
        args += ["-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers"]
    # MEMMAPS_SANITIZE=address,undefined builds the core for the sanitizers.
    sanitize = os.environ.get("MEMMAPS_SANITIZE")
    if sanitize:
        args += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-g", "-O1"]
        args += ["-fno-sanitize-recover=undefined"]
    return args


def link_args() -> list[str]:
    sanitize = os.environ.get("MEMMAPS_SANITIZE")
    return [f"-fsanitize={sanitize}"] if sanitize else []


def libraries() -> list[str]:
    """Windows: psapi for the process status calls (their K32 names are in
    kernel32 from Windows 7 on; the import library keeps older SDKs
    linking), advapi32 for the tokens that say why access was denied.
    ntdll's calls are found at run time."""
    return ["psapi", "advapi32"] if sys.platform == "win32" else []


class BuildExt(build_ext):
    """The compiler flags of the compiler setuptools picked: on Windows that
    is MSVC unless told otherwise (--compiler=mingw32)."""

    def build_extensions(self) -> None:
        msvc = self.compiler.compiler_type == "msvc"
        for extension in self.extensions:
            extension.extra_compile_args = msvc_compile_args() if msvc else compile_args()
            if msvc:
                extension.extra_link_args = []
        super().build_extensions()


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "memmaps._core",
            sources=["memmaps/_core.c", *sorted(glob.glob("memmaps/_binding/*.c")), *native_sources()],
            depends=sorted(glob.glob(f"{NATIVE}/*/*.h") + glob.glob("memmaps/_binding/*.h")),
            include_dirs=[NATIVE],
            extra_compile_args=compile_args(),
            extra_link_args=link_args(),
            libraries=libraries(),
        )
    ],
)
