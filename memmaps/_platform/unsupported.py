"""Systems without a backend yet: every live read raises
UnsupportedPlatform from the C core; parse() and the renderings still work."""

from __future__ import annotations

from ..images import Image, Loaded
from . import native
from .native import images_key, read_memory, region_at, regions, same_file, usage

__all__ = [
    "NAME",
    "images",
    "images_key",
    "loaded",
    "read_memory",
    "region_at",
    "regions",
    "same_file",
    "usage",
]

NAME = "unsupported"


def images(pid: int | None) -> list[Image]:
    native.image_records(pid)  # the C core raises UnsupportedPlatform
    return []


def loaded(pid: int | None) -> Loaded:
    return Loaded(images(pid), [], "address")
