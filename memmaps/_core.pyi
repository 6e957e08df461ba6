"""The C core of memmaps (memmaps/_core.c and memmaps/_binding/)."""

import sys
from collections.abc import Callable, Iterable
from typing import Any, final

from .region import Region
from .usage import Usage

BACKEND: str
TEXT_ONLY: int
USAGE: int
NO_ROLLUP: int
FROM_LISTING: int
ROOT_WALK: int
KINDS: tuple[str, ...]

_Listing = tuple[tuple[Region, ...], str | None]
_ImageRecord = tuple[
    str | None,
    int,
    int,
    int,
    bytes | None,
    int,
    int,
    int,
    int,
    str,
    str | None,
    int,
    tuple[tuple[int, int, str, str], ...],
    int,
]

def setup(
    region_type: type[Region], usage_type: type[Usage], make_error: Callable[..., Exception], /
) -> None: ...
def set_procfs(path: str, /) -> None: ...
def procfs() -> str: ...
def regions(pid: int, flags: int = 0, /) -> _Listing: ...
def process_usage(pid: int, flags: int = 0, /) -> _Listing: ...
def region_at(pid: int, addr: int, flags: int = 0, /) -> _Listing: ...
def images(pid: int, flags: int = 0, /) -> tuple[tuple[_ImageRecord, ...], _Listing | None]: ...
def read_memory(pid: int, addr: int, size: int, /) -> bytes: ...
def link_map(
    pid: int, r_debug_address: int, pointer_size: int, /
) -> tuple[int, int, tuple[tuple[int, str | None, int, int], ...], str | None]: ...
def find_r_debug(pid: int, dynamic_address: int, pointer_size: int, /) -> int | None: ...
def parse_maps(text: Any, strict: bool = False, /) -> tuple[Region, ...]: ...

if sys.platform == "linux":
    OPEN_WALK: int
    OPEN_NO_SYMLINKS: int
    OPEN_ANY_TYPE: int

    def open_in_root(root: int | None, path: str | bytes, flags: int = 0, /) -> int: ...

@final
class ImageFile:
    def __new__(
        cls,
        source: int | bytes | bytearray | memoryview | None = None,
        *,
        format: str | None = None,
        sections: bool = True,
        cputype: int = 0,
        pid: int | None = None,
        load_address: int = 0,
        dynamic_bias: int = 0,
    ) -> ImageFile: ...
    @property
    def format(self) -> str: ...
    @property
    def build_id(self) -> bytes | None: ...
    @property
    def debuglink(self) -> str | None: ...
    @property
    def debuglink_crc(self) -> int | None: ...
    @property
    def needed(self) -> tuple[str, ...]: ...
    @property
    def soname(self) -> str | None: ...
    @property
    def segments(self) -> tuple[tuple[Any, ...], ...]: ...
    @property
    def header(self) -> tuple[int, int, int, int, int]: ...
    @property
    def loaded(self) -> bool: ...
    def symbol(
        self, name: str, dynamic_bias: int | None = None, /
    ) -> tuple[int, int, str, bool, bool] | None: ...
    def symbolize(self, vaddr: int, /) -> tuple[str, int, int, str] | None: ...
    def symbolize_many(
        self, vaddrs: Iterable[int], /
    ) -> list[tuple[str, int, int, str] | None]: ...
    def load(self) -> None: ...
