"""Builds memmaps._core from memmaps/_core.c and the platform's native/ files.

Everything else about the package is in pyproject.toml.
"""

import glob
import os
import sys

from setuptools import Extension, setup

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
            sources=["memmaps/_core.c", *sorted(glob.glob("memmaps/_binding/*.c")), *native_sources()],
            depends=sorted(glob.glob(f"{NATIVE}/*/*.h") + glob.glob("memmaps/_binding/*.h")),
            include_dirs=[NATIVE],
            extra_compile_args=compile_args(),
            extra_link_args=link_args(),
        )
    ],
)
