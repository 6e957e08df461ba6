"""Usage: what a region (or a whole process) costs in memory."""

from __future__ import annotations

from typing import Any, NamedTuple

# Figures that describe a region rather than count its memory: a total keeps
# them only where every part agrees.
_DESCRIPTIVE = ("kernel_page_size", "mmu_page_size", "thp_eligible", "protection_key", "vmflags")


class Usage(NamedTuple):
    """Memory figures in bytes, as Linux's smaps names them.

    A figure the kernel (or OS) did not report is None, never 0.  The C core
    builds these in the order below (memmaps/_core.c and the mm_usage_field
    enum in memmaps/native/mm.h hold the same list).  Hugetlb pages are not
    in ``rss``: they are ``shared_hugetlb`` and ``private_hugetlb``, and
    ``resident`` adds them in.
    """

    size: int | None = None
    kernel_page_size: int | None = None
    mmu_page_size: int | None = None
    rss: int | None = None
    pss: int | None = None
    pss_dirty: int | None = None
    #: Pss_Anon, Pss_File and Pss_Shmem: only the whole-process rollup has them.
    pss_anon: int | None = None
    pss_file: int | None = None
    pss_shmem: int | None = None
    shared_clean: int | None = None
    shared_dirty: int | None = None
    private_clean: int | None = None
    private_dirty: int | None = None
    referenced: int | None = None
    anonymous: int | None = None
    ksm: int | None = None
    lazy_free: int | None = None
    anon_huge_pages: int | None = None
    shmem_pmd_mapped: int | None = None
    file_pmd_mapped: int | None = None
    shared_hugetlb: int | None = None
    private_hugetlb: int | None = None
    swap: int | None = None
    swap_pss: int | None = None
    locked: int | None = None
    #: THPeligible: whether the region may use transparent huge pages.
    thp_eligible: bool | None = None
    #: ProtectionKey: the memory protection key of the region.
    protection_key: int | None = None
    #: The two-letter VmFlags codes, in the kernel's order; unknown ones kept.
    vmflags: tuple[str, ...] | None = None
    #: ``(key, value)`` for every smaps line this version does not know: the
    #: figure in bytes for "N kB", an int for a bare number, else the text.
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def uss(self) -> int | None:
        """Unique set size: the memory only this process holds (private pages,
        hugetlb ones included), as psutil counts it."""
        if self.private_clean is None or self.private_dirty is None:
            return None
        return self.private_clean + self.private_dirty + (self.private_hugetlb or 0)

    @property
    def resident(self) -> int | None:
        """Resident memory with hugetlb pages, which ``rss`` leaves out."""
        if self.rss is None:
            return None
        return self.rss + (self.shared_hugetlb or 0) + (self.private_hugetlb or 0)

    def __add__(self, other: object) -> Usage:
        """Figure by figure: a sum is None where either side is None; the
        figures that describe rather than count are kept where they agree."""
        if not isinstance(other, Usage):
            return NotImplemented
        values: dict[str, Any] = {}
        for name in _COUNTED:
            mine, theirs = getattr(self, name), getattr(other, name)
            values[name] = None if mine is None or theirs is None else mine + theirs
        for name in _DESCRIPTIVE:
            mine = getattr(self, name)
            values[name] = mine if mine == getattr(other, name) else None
        values["extra"] = _add_extras(self.extra, other.extra)
        return Usage(**values)

    def __radd__(self, other: object) -> Usage:
        # sum(usages) starts from 0.
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    def _repr_html_(self) -> str:
        from .render.html import usage_html

        return usage_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from .render.pretty import usage_pretty

        usage_pretty(self, p, cycle)

    def to_dict(self) -> dict[str, Any]:
        """Every figure by name; vmflags as a list, extra as a dict."""
        entry = self._asdict()
        entry["vmflags"] = None if self.vmflags is None else list(self.vmflags)
        entry["extra"] = dict(self.extra)
        return entry


def _add_extras(
    mine: tuple[tuple[str, Any], ...], theirs: tuple[tuple[str, Any], ...]
) -> tuple[tuple[str, Any], ...]:
    """Unknown figures: ints present on both sides are added, the rest kept
    only where both sides agree."""
    if not mine and not theirs:
        return ()
    left, right = dict(mine), dict(theirs)
    merged: dict[str, Any] = {}
    for key in left.keys() & right.keys():
        a, b = left[key], right[key]
        if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
            merged[key] = a + b
        elif a == b:
            merged[key] = a
    return tuple((key, merged[key]) for key in left if key in merged)


# Figures that count memory: a total adds them up.
_COUNTED = tuple(name for name in Usage._fields if name not in (*_DESCRIPTIVE, "extra"))
