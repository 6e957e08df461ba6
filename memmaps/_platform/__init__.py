"""The platform layer: the module of the system this build runs on, chosen
once at import from the C core's backend, the way psutil picks its
_psplatform.  Adding a system is one module here, beside its C backend."""

from __future__ import annotations

from .. import _core
from .base import Platform


def _choose(backend: str) -> Platform:
    if backend == "linux":
        from . import linux

        return linux
    if backend == "macos":
        from . import macos

        return macos
    from . import unsupported

    return unsupported


#: The platform in use.
current: Platform = _choose(_core.BACKEND)

__all__ = ["Platform", "current"]
