"""Region: one mapping of a process's address space."""

from __future__ import annotations

from typing import Any, NamedTuple

from .usage import Usage

#: Every value of :attr:`Region.kind`, as the C core names them.
KINDS = (
    "file",
    "anon",
    "heap",
    "stack",
    "vdso",
    "vvar",
    "vsyscall",
    "shmem",
    "memfd",
    "sysv",
    "hugetlb",
    "guard",
    "special",
)


class Region(NamedTuple):
    """One mapping, ``[start, end)``.

    A tuple underneath, so it is cheap, hashable and picklable; the C core
    builds it directly, in the order of the fields below (memmaps/_core.c
    holds the same list).
    """

    start: int
    end: int
    #: 4 characters, /proc/PID/maps style: ``r-xp``, ``rw-s``.
    perms: str
    offset: int = 0
    dev_major: int = 0
    dev_minor: int = 0
    inode: int = 0
    #: The name as the OS gives it, without the " (deleted)" suffix.
    path: str | None = None
    deleted: bool = False
    kind: str = "anon"
    usage: Usage | None = None
    max_perms: str | None = None
    share_mode: str | None = None
    tag: str | None = None
    #: A label a person wants where the OS tells it cheaply (Windows: "heap
    #: 0x1a0000", "TEB tid 4242"; macOS: "__TEXT libsystem_c.dylib").
    detail: str | None = None
    #: Where the allocation this region is a piece of begins (Windows: the
    #: AllocationBase that VirtualAlloc or MapViewOfFile gave, which
    #: VirtualProtect can split into several regions); None where the system
    #: has no such notion.
    allocation_base: int | None = None

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def readable(self) -> bool:
        return self.perms[0] == "r"

    @property
    def writable(self) -> bool:
        return self.perms[1] == "w"

    @property
    def executable(self) -> bool:
        return self.perms[2] == "x"

    @property
    def shared(self) -> bool:
        return self.perms[3] == "s"

    @property
    def private(self) -> bool:
        return self.perms[3] == "p"

    def contains(self, addr: int) -> bool:
        """Whether ``addr`` lies in ``[start, end)``."""
        if isinstance(addr, bool) or not isinstance(addr, int):
            raise TypeError(f"addr must be an int, not {type(addr).__name__}")
        return self.start <= addr < self.end

    def __contains__(self, addr: object) -> bool:
        """``addr in region``: like ``x in range(...)``, False for a non-int."""
        return (
            isinstance(addr, int) and not isinstance(addr, bool) and self.start <= addr < self.end
        )

    def __repr__(self) -> str:
        parts = [
            f"start={self.start:#x}",
            f"end={self.end:#x}",
            f"perms={self.perms!r}",
            f"offset={self.offset:#x}",
            f"dev_major={self.dev_major}",
            f"dev_minor={self.dev_minor}",
            f"inode={self.inode}",
            f"path={self.path!r}",
            f"deleted={self.deleted}",
            f"kind={self.kind!r}",
        ]
        # The fields other systems fill are shown only when set.
        for name in ("usage", "max_perms", "share_mode", "tag", "detail"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        if self.allocation_base is not None:
            parts.append(f"allocation_base={self.allocation_base:#x}")
        return f"Region({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from .render.html import region_html

        return region_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from .render.pretty import region_pretty

        region_pretty(self, p, cycle)
