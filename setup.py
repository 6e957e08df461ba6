"""Builds memmaps._core from memmaps/_core.c and the platform's native/ files.

Everything else about the package is in pyproject.toml.
"""

import os
import sys

from setuptools import Extension, setup

NATIVE = "memmaps/native"
# These three stay plain literals: tests/crosscc.py reads them (without
# running this file) to link exactly what the extension is built from.
# Compiled on every system:
PORTABLE = [
    "mm_list.c",
    "mm_procmaps.c",
    "mm_elf.c",
    "mm_macho.c",
    "mm_dyld.c",
    "mm_darwin.c",
]
# The backend, by sys.platform prefix; UNSUPPORTED everywhere else.
BACKENDS = {"linux": ["mm_linux.c"], "darwin": ["mm_macos.c"]}
UNSUPPORTED = ["mm_unsupported.c"]
HEADERS = ["mm.h", "mm_elf.h", "mm_macho.h", "mm_dyld.h", "mm_darwin.h"]

BACKEND = next(
    (files for prefix, files in BACKENDS.items() if sys.platform.startswith(prefix)),
    UNSUPPORTED,
)


def compile_args() -> list[str]:
    if sys.platform == "win32":
        return []
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


setup(
    ext_modules=[
        Extension(
            "memmaps._core",
            sources=["memmaps/_core.c"] + [f"{NATIVE}/{name}" for name in PORTABLE + BACKEND],
            depends=[f"{NATIVE}/{header}" for header in HEADERS],
            include_dirs=[NATIVE],
            extra_compile_args=compile_args(),
            extra_link_args=link_args(),
        )
    ],
)
