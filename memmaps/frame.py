"""Maps as a pandas DataFrame: one row per region, one typed column per field.

pandas is optional (the ``pandas`` extra); nothing here is imported until
``Maps.to_dataframe()`` is called.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .region import KINDS
from .snapshot import USAGE_PREFIX
from .summary import CATEGORIES, categorize
from .usage import Usage

if TYPE_CHECKING:
    from .maps import Maps

#: What to install when pandas is missing.
INSTALL_HINT = "pip install 'memmaps[pandas]'"

# Usage figures that are not byte counts.
_USAGE_TYPES = {"thp_eligible": "boolean", "protection_key": "Int64"}
_PERMS = tuple(f"{r}{w}{x}{s}" for r in "r-" for w in "w-" for x in "x-" for s in "ps")


def _pandas() -> Any:
    try:
        pandas = importlib.import_module("pandas")
    except ImportError as error:
        raise ModuleNotFoundError(
            f"Maps.to_dataframe() needs pandas, which could not be imported ({error}): "
            f"{INSTALL_HINT}",
            name="pandas",
        ) from error
    return pandas


def to_dataframe(maps: Maps) -> Any:
    """The regions of maps as a DataFrame (docs/api.md lists the columns)."""
    pd = _pandas()
    # pandas requires numpy: it is there whenever pandas is.
    np = importlib.import_module("numpy")

    regions = tuple(maps)
    text = pd.StringDtype("python")

    def unsigned(values: list[int], dtype: Any = None) -> Any:
        return np.array(values, dtype=np.uint64 if dtype is None else dtype)

    def labels(values: Sequence[str | None], categories: tuple[str, ...] | None = None) -> Any:
        return pd.Categorical(values, categories=categories)

    starts = [region.start for region in regions]
    ends = [region.end for region in regions]
    columns: dict[str, Any] = {
        "start": unsigned(starts),
        "end": unsigned(ends),
        "size": unsigned([end - start for start, end in zip(starts, ends, strict=True)]),
        "perms": labels([region.perms for region in regions], _PERMS),
        "offset": unsigned([region.offset for region in regions]),
        "dev_major": unsigned([region.dev_major for region in regions], np.uint32),
        "dev_minor": unsigned([region.dev_minor for region in regions], np.uint32),
        "inode": unsigned([region.inode for region in regions]),
        "path": pd.array([region.path for region in regions], dtype=text),
        "deleted": np.array([region.deleted for region in regions], dtype=bool),
        "kind": labels([region.kind for region in regions], KINDS),
        "category": labels(categorize(regions), CATEGORIES),
        "max_perms": labels([region.max_perms for region in regions]),
        "share_mode": labels([region.share_mode for region in regions]),
        "tag": labels([region.tag for region in regions]),
        "detail": pd.array([region.detail for region in regions], dtype=text),
        # Nullable: None where the system has no allocations.
        "allocation_base": pd.array([region.allocation_base for region in regions], dtype="UInt64"),
    }
    if any(region.usage is not None for region in regions):
        empty = Usage()
        usages = [empty if region.usage is None else region.usage for region in regions]
        for position, name in enumerate(Usage._fields):
            key = USAGE_PREFIX + name
            if name == "vmflags":
                flags = [None if u.vmflags is None else " ".join(u.vmflags) for u in usages]
                columns[key] = pd.array(flags, dtype=text)
            elif name == "extra":
                column = np.empty(len(usages), dtype=object)
                column[:] = [dict(u.extra) for u in usages]
                columns[key] = column
            else:
                values = [usage[position] for usage in usages]
                columns[key] = pd.array(values, dtype=_USAGE_TYPES.get(name, "UInt64"))
        # A region without usage has no figures, not figures of None.
        if any(region.usage is None for region in regions):
            missing = np.array([region.usage is None for region in regions])
            columns[USAGE_PREFIX + "extra"][missing] = None
    return pd.DataFrame(columns)
