"""parse() of saved smaps and smaps_rollup text: a capture of this machine's
kernel, texts laid out as other kernels print them (tests/fixtures/README.md
says where each came from), and malformed figures.  Every region is also
checked against the independent reference parse of tests/helpers/procutil.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import memmaps
from tests.helpers.procutil import USAGE_FIELDS, lib_vs_ref, parse_smaps, sum_usages, usage_problems

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KB = 1024

CAPTURED = "smaps-x86_64-6.18-captured.txt"
ROLLUP = "smaps_rollup-x86_64-6.18-captured.txt"
LINUX_316 = "smaps-x86_64-3.16-constructed.txt"
FUTURE = "smaps-x86_64-6.x-future-constructed.txt"

# Keys Linux 3.16's show_smap() does not print, and the fields they fill.
ABSENT_IN_316 = (
    "pss_dirty",
    "pss_anon",
    "pss_file",
    "pss_shmem",
    "ksm",
    "lazy_free",
    "shmem_pmd_mapped",
    "file_pmd_mapped",
    "shared_hugetlb",
    "private_hugetlb",
    "swap_pss",
    "thp_eligible",
    "protection_key",
)


def _read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _against_reference(data: bytes) -> memmaps.Maps:
    """parse(data), checked region by region against the reference parse,
    from bytes and from str alike."""
    maps = memmaps.parse(data)
    assert memmaps.parse(data.decode()) == maps
    refs = parse_smaps(data)
    assert maps.pid is None
    assert len(maps) == len(refs), f"library {len(maps)} regions, reference {len(refs)}"
    problems = []
    for lib, ref in zip(maps, refs, strict=True):
        diffs = lib_vs_ref(lib, ref.region) + usage_problems(lib.usage, ref.usage)
        if diffs:
            problems.append(ref.region.line.decode() + "\n    " + "\n    ".join(diffs))
    assert not problems, "\n".join(problems)
    return maps


@pytest.mark.parametrize("name", [CAPTURED, ROLLUP, LINUX_316, FUTURE])
def test_fixture_equals_reference(name):
    _against_reference(_read(name))


# ---- this machine's kernel (6.18), captured ----


def test_captured_6_18():
    maps = _against_reference(_read(CAPTURED))
    by_path = {r.path: r for r in maps if r.path is not None}
    # Every figure of a 6.18 region is printed, except the rollup-only ones
    # and ProtectionKey (this CPU has no protection keys).
    for r in maps:
        u = r.usage
        missing = [f for f in USAGE_FIELDS if getattr(u, f) is None]
        assert missing == ["pss_anon", "pss_file", "pss_shmem", "protection_key"], (r, missing)
        assert u.extra == ()
        assert isinstance(u.thp_eligible, bool)
    # What tests/targets/usage_target.c made (see its comment).
    private = next(r for p, r in by_path.items() if p.endswith("/private.bin")).usage
    assert (private.rss, private.private_clean, private.private_dirty) == (24 * KB, 24 * KB, 0)
    shared = next(r for p, r in by_path.items() if p.endswith("/shared.bin")).usage
    assert (shared.rss, shared.pss, shared.shared_dirty) == (12 * KB, 6 * KB, 12 * KB)
    shmem = by_path["/dev/zero"]
    assert shmem.deleted and shmem.kind == "shmem"
    assert (shmem.usage.rss, shmem.usage.private_dirty, shmem.usage.anonymous) == (
        8 * KB,
        8 * KB,
        0,
    )
    anon = [r for r in maps if r.path is None and r.perms == "rw-p"]
    assert [(r.usage.size, r.usage.rss, r.usage.private_dirty) for r in anon] == [
        (4096 * KB, 0, 0),  # the MADV_HUGEPAGE one
        (32 * KB, 20 * KB, 20 * KB),
        (16 * KB, 0, 0),
        (12 * KB, 12 * KB, 12 * KB),  # mlocked
    ]
    assert anon[0].usage.thp_eligible is True and "hg" in anon[0].usage.vmflags
    assert anon[3].usage.locked == 12 * KB and "lo" in anon[3].usage.vmflags
    assert anon[3].usage.vmflags == ("rd", "wr", "mr", "mw", "me", "lo", "ac", "nh")
    assert maps[-1].kind == "vsyscall" and maps[-1].usage.size == 4 * KB


def test_captured_rollup():
    maps = _against_reference(_read(ROLLUP))
    assert len(maps) == 1
    (r,) = maps
    assert r.path == "[rollup]" and r.kind == "special" and r.perms == "---p"
    u = r.usage
    assert (u.pss_anon, u.pss_file, u.pss_shmem) == (140 * KB, 156 * KB, 8 * KB)
    assert (u.rss, u.pss, u.locked) == (1500 * KB, 304 * KB, 12 * KB)
    # The rollup prints no Size, page sizes, THPeligible or VmFlags.
    assert u.size is None and u.kernel_page_size is None and u.mmu_page_size is None
    assert u.thp_eligible is None and u.vmflags is None and u.protection_key is None
    assert u.uss == u.private_clean + u.private_dirty + u.private_hugetlb
    assert maps.total() == u


# ---- Linux 3.16, constructed ----


def test_linux_3_16_layout():
    maps = _against_reference(_read(LINUX_316))
    assert len(maps) == 11
    for r in maps:
        u = r.usage
        present = [f for f in ABSENT_IN_316 if getattr(u, f) is not None]
        assert not present, f"{r}: {present} are not printed by 3.16 and must be None"
        # Printed after Swap in 3.16, not after Size.
        assert u.kernel_page_size == 4 * KB and u.mmu_page_size == 4 * KB
        assert u.size == r.end - r.start
        assert u.locked is not None and u.anon_huge_pages is not None and u.swap is not None
        if r.kind != "vsyscall":  # the gate VMA has only rd ex
            assert "sd" in u.vmflags, (r, u.vmflags)
    heap = maps.filter(kind="heap")[0].usage
    assert (heap.rss, heap.swap, heap.anonymous) == (8 * KB, 8 * KB, 8 * KB)
    thp = maps.at(0x7F3C19E00000).usage
    assert thp.anon_huge_pages == 2048 * KB and "hg" in thp.vmflags
    locked = maps.at(0x7F3C1A2B4000).usage
    assert locked.locked == 12 * KB and "lo" in locked.vmflags
    # VM_NONLINEAR: a flag ("nl") and a key ("Nonlinear") gone since 4.0,
    # both kept.
    nonlinear = maps.at(0x7F3C1A2B0000).usage
    assert nonlinear.vmflags == ("rd", "wr", "sh", "mr", "mw", "me", "ms", "nl", "sd")
    assert nonlinear.extra == (("Nonlinear", 8 * KB),)
    assert maps[0].usage.vmflags == ("rd", "ex", "mr", "mw", "me", "dw", "sd")
    assert maps[-1].usage.vmflags == ("rd", "ex")
    # uss without hugetlb figures: the private pages.
    assert locked.uss == 12 * KB and locked.resident == 12 * KB
    # A total has None where the kernel printed nothing.
    total = maps.total()
    assert total.pss_dirty is None and total.swap_pss is None and total.thp_eligible is None
    assert total.rss == sum(r.usage.rss for r in maps)
    want = sum_usages([r.usage for r in parse_smaps(_read(LINUX_316))])
    assert not usage_problems(total, want), usage_problems(total, want)


# ---- a 6.x text with KSM, keys and VmFlags codes unknown to the library ----


def test_future_keys_and_flags():
    maps = _against_reference(_read(FUTURE))
    first, empty_flags, bare_flags = maps
    u = first.usage
    assert u.ksm == 8 * KB
    assert u.extra == (
        ("FutureThing", 12 * KB),
        ("FutureCount", 7),
        ("FutureMode", "fast: very"),
    )
    assert u.vmflags == ("rd", "wr", "mr", "mw", "me", "ac", "zz", "mg")
    assert u.protection_key == 0 and type(u.protection_key) is int
    assert u.thp_eligible is False
    # The figures after the unknown keys are still read.
    assert (u.rss, u.pss, u.shared_clean, u.locked) == (16 * KB, 12 * KB, 8 * KB, 0)
    # "VmFlags: " as the kernel prints no flag, and "VmFlags:" with the
    # trailing space trimmed: no codes, which is not None.
    assert empty_flags.usage.vmflags == ()
    assert bare_flags.usage.vmflags == ()
    assert bare_flags.usage.protection_key == 15
    assert empty_flags.usage.extra == () and bare_flags.usage.extra == ()
    # Sums keep the unknown figures both sides have (none here).
    assert (u + empty_flags.usage).extra == ()
    assert (u + u).extra == (
        ("FutureThing", 24 * KB),
        ("FutureCount", 14),
        ("FutureMode", "fast: very"),
    )


def test_unknown_key_between_known_ones():
    """A key the library does not know, in the middle of the known ones,
    does not shift the figures that follow it."""
    text = (
        "00400000-00401000 r--p 00000000 00:00 0 \n"
        "Size:                  4 kB\n"
        "Rss:                   4 kB\n"
        "NewKey:                1 kB\n"
        "Pss:                   2 kB\n"
        "Pss_Dirty:             0 kB\n"
        "VmFlags: rd mr \n"
    )
    (r,) = _against_reference(text.encode())
    assert (r.usage.size, r.usage.rss, r.usage.pss, r.usage.pss_dirty) == (4096, 4096, 2048, 0)
    assert r.usage.extra == (("NewKey", 1024),)
    assert r.usage.shared_clean is None and r.usage.swap is None


# ---- malformed text ----

HEADER = "00400000-00401000 r--p 00000000 00:00 0 \n"


@pytest.mark.parametrize(
    ("text", "lineno", "line"),
    [
        pytest.param(HEADER + "Size: 4 kB\nRss: x kB\n", 3, "Rss: x kB", id="letters"),
        pytest.param(HEADER + "Rss:                4 MB\n", 2, "Rss:                4 MB", id="MB"),
        pytest.param(HEADER + "Rss:                4\n", 2, "Rss:                4", id="no-unit"),
        pytest.param(
            HEADER + "Rss:                -4 kB\n", 2, "Rss:                -4 kB", id="neg"
        ),
        pytest.param(
            HEADER + "Rss:        4 kB extra\n", 2, "Rss:        4 kB extra", id="trailing"
        ),
        pytest.param(HEADER + "Rss:\n", 2, "Rss:", id="empty"),
        pytest.param(
            HEADER + "Rss: 18014398509481984 kB\n",
            2,
            "Rss: 18014398509481984 kB",
            id="bytes-overflow-u64",
        ),
        pytest.param(
            HEADER + "Rss: 99999999999999999999999 kB\n",
            2,
            "Rss: 99999999999999999999999 kB",
            id="kb-overflow-u64",
        ),
        pytest.param(HEADER + "THPeligible:    yes\n", 2, "THPeligible:    yes", id="thp-word"),
        pytest.param(HEADER + "ProtectionKey:  1 kB\n", 2, "ProtectionKey:  1 kB", id="pkey-kb"),
        pytest.param(
            "Rss:                4 kB\n", 1, "Rss:                4 kB", id="before-region"
        ),
        pytest.param(
            HEADER + "Size: 4 kB\n" + HEADER.replace("004", "005") + "Size: 4 kB\nPss: 4 KB\n",
            5,
            "Pss: 4 KB",
            id="second-block",
        ),
    ],
)
def test_malformed_figure(text, lineno, line):
    with pytest.raises(memmaps.ParseError) as info:
        memmaps.parse(text)
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, memmaps.Error)
    assert (error.lineno, error.line) == (lineno, line), str(error)
    assert line in str(error)
