"""The platform layer: the module of the system this build runs on, chosen
once at import from the C core's backend name, the way psutil picks its
_psplatform.  Adding a system is one module here named as its C backend
(``mm_backend_name()``), beside that backend."""

from __future__ import annotations

import importlib
from typing import cast

from .. import _core
from .base import Platform

#: The platform in use: memmaps/_platform/<backend>.py.
current = cast(Platform, importlib.import_module(f".{_core.BACKEND}", __name__))

__all__ = ["Platform", "current"]
