"""The C core of memmaps (memmaps/_core.c)."""

from collections.abc import Callable
from typing import Any, final

from .region import Region
from .usage import Usage

BACKEND: str
TEXT_ONLY: int
USAGE: int
NO_ROLLUP: int
FROM_LISTING: int
KINDS: tuple[str, ...]

def setup(
    region_type: type[Region], usage_type: type[Usage], make_error: Callable[..., Exception], /
) -> None: ...
def regions(pid: int, flags: int = 0, /) -> tuple[Region, ...]: ...
def process_usage(pid: int, flags: int = 0, /) -> tuple[Region, ...]: ...
def read_memory(pid: int, addr: int, size: int, /) -> bytes: ...

@final
class ElfFile:
    def __new__(
        cls, source: int | bytes | bytearray | memoryview, *, sections: bool = True
    ) -> ElfFile: ...
    @property
    def build_id(self) -> bytes | None: ...
    @property
    def debuglink(self) -> str | None: ...
    @property
    def segments(self) -> tuple[tuple[int, int, int, int, int, int, int], ...]: ...
    @property
    def header(self) -> tuple[int, int, int, int, int]: ...
    def symbol(
        self, name: str, dynamic_bias: int = 0, /
    ) -> tuple[int, int, int, int, int, bool] | None: ...

@final
class MachOFile:
    def __new__(
        cls,
        source: int | bytes | bytearray | memoryview | None = None,
        *,
        cputype: int = 0,
        pid: int | None = None,
        load_address: int = 0,
    ) -> MachOFile: ...
    @property
    def header(self) -> tuple[int, int, int, int, int]: ...
    @property
    def uuid(self) -> bytes | None: ...
    @property
    def segments(self) -> tuple[tuple[str, int, int, int, int, int, int], ...]: ...
    def symbol(self, name: str, /) -> tuple[int, int, int, int] | None: ...

def dyld_images(
    pid: int, /
) -> tuple[int, int | None, int | None, tuple[tuple[int, str | None, bool], ...]]: ...
def region_at(pid: int, addr: int, flags: int = 0, /) -> tuple[Region, ...]: ...
def parse_maps(text: Any, /) -> tuple[Region, ...]: ...
