"""The C core of memmaps (memmaps/_core.c)."""

from collections.abc import Callable
from typing import Any

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
def region_at(pid: int, addr: int, flags: int = 0, /) -> tuple[Region, ...]: ...
def parse_maps(text: Any, /) -> tuple[Region, ...]: ...
