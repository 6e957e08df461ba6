"""parse(): saved /proc/PID/maps text, read the way the kernel wrote it."""

from __future__ import annotations

import itertools
import os
import pickle
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memmaps
from memmaps import ParseError, Region
from tests.helpers import procutil

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def line(start, end, perms, offset, dev, inode, name=None, width=72):
    """One line as fs/proc/task_mmu.c prints it (width 48 on 32-bit kernels)."""
    prefix = f"{start:08x}-{end:08x} {perms} {offset:08x} {dev} {inode} "
    if name is None:
        return prefix + "\n"
    return prefix.ljust(width) + " " + name + "\n"


def only(text):
    maps = memmaps.parse(text)
    assert len(maps) == 1
    return maps[0]


# ---- whole texts ----


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc/self/maps")
def test_own_map_round_trips_byte_for_byte():
    text = Path("/proc/self/maps").read_bytes()
    maps = memmaps.parse(text)
    assert os.fsencode(maps.to_proc_maps()) == text
    assert maps.pid is None
    assert len(maps) == text.count(b"\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc/self/maps")
@pytest.mark.skipif(procutil.SANITIZED, reason=procutil.SANITIZED_REASON)
def test_parse_matches_a_live_read_of_the_same_text():
    # The test process's map can change between two reads; try a few times.
    for _attempt in range(20):
        before = Path("/proc/self/maps").read_text()
        live = memmaps.regions()
        after = Path("/proc/self/maps").read_text()
        if before == after and live.to_proc_maps() == before:
            break
    else:
        pytest.fail("the map kept changing between reads")
    assert list(memmaps.parse(before)) == list(live)


def test_str_and_bytes_give_the_same_regions():
    text = line(0x1000, 0x2000, "r--p", 0, "08:01", 12, "/bin/true")
    assert memmaps.parse(text) == memmaps.parse(text.encode())
    assert memmaps.parse(bytearray(text.encode())) == memmaps.parse(text)


def test_empty_text_and_trailing_blank_lines():
    assert len(memmaps.parse("")) == 0
    text = line(0x1000, 0x2000, "rw-p", 0, "00:00", 0)
    assert len(memmaps.parse(text + "\n\n")) == 1
    # The last line may lack its newline.
    assert memmaps.parse(text.rstrip("\n")) == memmaps.parse(text)


def test_every_field_of_a_file_line():
    region = only(
        "7f0e1c600000-7f0e1c628000 r-xp 00028000 fe:01 1837"
        "                       /usr/lib/x86_64-linux-gnu/libc.so.6\n"
    )
    assert region == Region(
        start=0x7F0E1C600000,
        end=0x7F0E1C628000,
        perms="r-xp",
        offset=0x28000,
        dev_major=0xFE,
        dev_minor=1,
        inode=1837,
        path="/usr/lib/x86_64-linux-gnu/libc.so.6",
        deleted=False,
        kind="file",
    )
    assert region.usage is None and region.max_perms is None
    assert region.share_mode is None and region.tag is None


def test_sixteen_digit_addresses_and_offsets_above_4_gib():
    vsyscall = only(
        line(0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000, "--xp", 0, "00:00", 0, "[vsyscall]")
    )
    assert vsyscall.start == 0xFFFFFFFFFF600000 and vsyscall.kind == "vsyscall"
    big = only(
        line(0x7F0000000000, 0x7F0000001000, "r--s", 0x123456789000, "08:02", 99, "/data/big")
    )
    assert big.offset == 0x123456789000 and big.shared


def test_device_numbers_wider_than_two_digits():
    region = only(line(0x1000, 0x2000, "r--p", 0, "103:1f", 5, "/nvme/file"))
    assert (region.dev_major, region.dev_minor) == (0x103, 0x1F)


def test_a_prefix_wider_than_the_padding_puts_the_name_after_one_more_space():
    # The space that ends the prefix, then the one seq_pad() always adds.
    text = (
        "ffffffffff600000-ffffffffff601000 r--p 123456789abcdef0 103:45 "
        "18446744073709551615  /very/long/prefix\n"
    )
    region = only(text)
    assert region.path == "/very/long/prefix"
    assert region.inode == 2**64 - 1
    assert memmaps.parse(text).to_proc_maps() == text


# ---- names ----


@pytest.mark.parametrize(
    "name",
    [
        "/tmp/a b",
        "/tmp/  two  spaces  ",
        "   /starts with spaces",
        "/tmp/tab\there",
        "/tmp/back\\slash",
        "/tmp/ends with space ",
        "/tmp/" + "x" * 4000,
        "/tmp/[heap]",
        "/tmp/snowman \u2603",
    ],
)
def test_names_are_taken_whole(name):
    text = line(0x1000, 0x2000, "r--p", 0, "08:01", 7, name)
    region = only(text)
    assert region.path == name
    # Kernel paths start with "/"; anything else is not a file system path.
    assert region.kind == ("file" if name.startswith("/") else "special")
    assert memmaps.parse(text).to_proc_maps() == text


def test_escaped_newline_comes_back_as_a_newline():
    region = only(line(0x1000, 0x2000, "r--p", 0, "08:01", 7, "/tmp/a\\012b"))
    assert region.path == "/tmp/a\nb"
    # And goes out escaped again, as the kernel prints it.
    assert "/tmp/a\\012b" in memmaps.Maps([region]).to_proc_maps()


def test_undecodable_bytes_survive():
    raw = line(0x1000, 0x2000, "r--p", 0, "08:01", 7, "X").encode().replace(b"X", b"/tmp/\xff\xfe")
    region = only(raw)
    assert os.fsencode(region.path) == b"/tmp/\xff\xfe"
    assert os.fsencode(memmaps.parse(raw).to_proc_maps()) == raw


def test_deleted_suffix_is_removed_once():
    gone = only(line(0x1000, 0x2000, "r--p", 0, "08:01", 7, "/tmp/gone (deleted)"))
    assert (gone.path, gone.deleted, gone.kind) == ("/tmp/gone", True, "file")
    twice = only(line(0x1000, 0x2000, "r--p", 0, "08:01", 7, "/tmp/x (deleted) (deleted)"))
    assert (twice.path, twice.deleted) == ("/tmp/x (deleted)", True)


@pytest.mark.parametrize(
    ("name", "inode", "perms", "kind", "path", "deleted"),
    [
        (None, 0, "rw-p", "anon", None, False),
        (None, 0, "---p", "guard", None, False),
        (None, 0, "r--s", "anon", None, False),
        (None, 0, "---s", "anon", None, False),
        ("[heap]", 0, "rw-p", "heap", "[heap]", False),
        ("[stack]", 0, "rw-p", "stack", "[stack]", False),
        ("[stack:1234]", 0, "rw-p", "stack", "[stack:1234]", False),
        ("[vdso]", 0, "r-xp", "vdso", "[vdso]", False),
        ("[vvar]", 0, "r--p", "vvar", "[vvar]", False),
        ("[vvar_vclock]", 0, "r--p", "vvar", "[vvar_vclock]", False),
        ("[vsyscall]", 0, "--xp", "vsyscall", "[vsyscall]", False),
        ("[uprobes]", 0, "r-xp", "special", "[uprobes]", False),
        ("[anon:jit code]", 0, "rw-p", "anon", "[anon:jit code]", False),
        ("[anon_shmem:ring]", 0, "rw-s", "shmem", "[anon_shmem:ring]", False),
        ("/dev/zero (deleted)", 1024, "rw-s", "shmem", "/dev/zero", True),
        ("/dev/zero", 5, "rw-s", "file", "/dev/zero", False),
        ("/memfd:buffer (deleted)", 1025, "rw-s", "memfd", "/memfd:buffer", True),
        ("/SYSV0000002a (deleted)", 32769, "rw-s", "sysv", "/SYSV0000002a", True),
        ("/SYSV0000002a", 32769, "rw-s", "file", "/SYSV0000002a", False),
        ("/SYSVnothex0 (deleted)", 1, "rw-s", "file", "/SYSVnothex0", True),
        ("/anon_hugepage (deleted)", 2048, "rw-s", "hugetlb", "/anon_hugepage", True),
        ("anon_inode:[perf_event]", 12, "r--s", "special", "anon_inode:[perf_event]", False),
        ("/usr/lib/libc.so.6", 42, "r-xp", "file", "/usr/lib/libc.so.6", False),
        ("/usr/lib/old.so (deleted)", 43, "r-xp", "file", "/usr/lib/old.so", True),
    ],
)
def test_kinds(name, inode, perms, kind, path, deleted):
    region = only(line(0x10000, 0x20000, perms, 0, "00:05" if inode else "00:00", inode, name))
    assert (region.kind, region.path, region.deleted) == (kind, path, deleted)


def test_every_kind_is_documented():
    documented = (Path(__file__).resolve().parents[2] / "docs" / "kinds.md").read_text()
    for kind in memmaps.KINDS:
        assert f"`{kind}`" in documented, kind


# ---- other kernels ----


def test_32_bit_kernel_text():
    # A 32-bit kernel pads to column 48, not 72 (sizeof(void *) * 6 + 24).
    fixture = FIXTURES / "maps-i386-3.16.txt"
    maps = memmaps.parse(fixture.read_bytes())
    by_path = {}
    for region in maps:
        by_path.setdefault(region.path, region)
    assert len(maps) == 12
    assert by_path["/bin/cat"].start == 0x08048000
    assert by_path["/bin/cat"].perms == "r-xp"
    assert by_path["[heap]"].kind == "heap"
    assert by_path["[vdso]"].kind == "vdso"
    assert by_path["  leading spaces"].kind == "special"
    assert maps.at(0xB7740000).offset == 0x1A7000
    assert maps.at(0xB7598000).path is None
    assert all(region.end <= 2**32 for region in maps)
    assert [r.start for r in maps] == sorted(r.start for r in maps)


def test_squeezed_padding_is_accepted():
    # Text passed through a tool that collapses runs of spaces.
    region = only("00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\n")
    assert region.path == "/usr/bin/dbus-daemon"


# ---- torn views ----


def test_overlapping_entries_are_cleaned_up_later_entry_wins():
    # What a read that spans a merge looks like: the second page of the text
    # repeats the region, now grown, that the first page ended with.
    text = (
        line(0x1000, 0x2000, "r--p", 0, "00:00", 0)
        + line(0x3000, 0x4000, "rw-p", 0, "00:00", 0)
        + line(0x3000, 0x6000, "rw-p", 0, "00:00", 0)
        + line(0x5000, 0x7000, "r--p", 0, "00:00", 0)
        + line(0x8000, 0x9000, "r--p", 0, "00:00", 0)
    )
    maps = memmaps.parse(text)
    assert [(r.start, r.end) for r in maps] == [
        (0x1000, 0x2000),
        (0x3000, 0x5000),
        (0x5000, 0x7000),
        (0x8000, 0x9000),
    ]
    assert maps[1].perms == "rw-p"


def test_empty_and_backward_entries_are_dropped():
    text = line(0x1000, 0x1000, "r--p", 0, "00:00", 0) + line(0x4000, 0x5000, "r--p", 0, "00:00", 0)
    text += line(0x2000, 0x3000, "rw-p", 0, "00:00", 0)
    maps = memmaps.parse(text)
    assert [(r.start, r.end) for r in maps] == [(0x2000, 0x3000)]


# ---- malformed text ----


@pytest.mark.parametrize(
    ("text", "lineno", "what"),
    [
        ("hello\n", 1, "start address"),
        ("1000 r--p 0 00:00 0\n", 1, "'-'"),
        ("1000-2000\n", 1, "permissions"),
        ("1000-2000 rwzp 0 00:00 0\n", 1, "'x' or '-'"),
        ("1000-2000 r--q 0 00:00 0\n", 1, "'p' or 's'"),
        ("1000-2000 Rw-p 0 00:00 0\n", 1, "'r' or '-'"),
        ("1000-2000 r--p zz 00:00 0\n", 1, "offset"),
        ("1000-2000 r--p 0 0000 0\n", 1, "device"),
        ("1000-2000 r--p 0 00:00 x\n", 1, "inode"),
        ("1000-2000 r--p 0 00:00 18446744073709551616\n", 1, "inode"),
        ("2000-1000 r--p 0 00:00 0\n", 1, "below the start"),
        ("11112222333344445-1 r--p 0 00:00 0\n", 1, "start address"),
        ("1000-2000 r--p 0 00:00 0\n\n3000-4000 r--p 0 00:00 0\n", 2, "blank line"),
        ("Size: 4 kB\n1000-2000 r--p 0 00:00 0\n", 1, "before any region"),
        ("1000-2000 r--p 0 00:00 0\nRss: lots kB\n", 2, "decimal figure"),
        ("1000-2000 r--p 0 00:00 0\nRss: 4 MB\n", 2, "in kB"),
        ("1000-2000 r--p 0 00:00 0\nRss: 4 kB and more\n", 2, "after the figure"),
        ("1000-2000 r--p 0 00:00 0\nRss: 18014398509481984 kB\n", 2, "too large"),
        ("1000-2000 r--p 0 00:00 0\t/x\n", 1, "space after the inode"),
    ],
)
def test_malformed_text_names_the_line(text, lineno, what):
    with pytest.raises(ParseError) as info:
        memmaps.parse(text)
    error = info.value
    assert error.lineno == lineno
    assert error.line == text.split("\n")[lineno - 1]
    assert f"line {lineno}" in str(error)
    assert what in str(error)
    assert isinstance(error, ValueError) and isinstance(error, memmaps.Error)


def test_errors_pickle_with_their_fields():
    with pytest.raises(ParseError) as info:
        memmaps.parse("garbage\n")
    copy = pickle.loads(pickle.dumps(info.value))
    assert (type(copy), copy.lineno, copy.line, str(copy)) == (
        ParseError,
        1,
        "garbage",
        str(info.value),
    )
    for error in (memmaps.NoSuchProcess("gone", 7), memmaps.ZombieProcess("z", 8)):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), copy.pid, str(copy)) == (type(error), error.pid, str(error))
    denied = pickle.loads(pickle.dumps(memmaps.AccessDenied("no: uid 5", 9)))
    assert (denied.pid, denied.reason) == (9, "no: uid 5")


def test_non_text_is_a_type_error():
    with pytest.raises(TypeError, match="text must be str or bytes"):
        memmaps.parse(42)  # type: ignore[arg-type]


def test_regions_pickle():
    maps = memmaps.parse(line(0x1000, 0x2000, "r--p", 0, "08:01", 7, "/tmp/a b"))
    assert pickle.loads(pickle.dumps(maps[0])) == maps[0]


# ---- round trips of arbitrary regions ----

# Names the text can carry without ambiguity: no NUL (not a path), no
# literal "\012" (read back as a newline) and no " (deleted)" ending (read
# back as deleted); both are settled only by a live read.
name_bytes = st.binary(min_size=1, max_size=300).filter(
    lambda b: (
        b"\0" not in b
        and b"\\012" not in b.replace(b"\n", b"")
        and not b.endswith(b" (deleted)")
        and not b.endswith(b"\r")  # parse() takes "\r\n" for a line end
        and b.strip(b" ") != b""
    )
)


@st.composite
def regions(draw):
    count = draw(st.integers(0, 20))
    starts = sorted(draw(st.sets(st.integers(0, 2**52 - 9), min_size=count, max_size=count)))
    out = []
    for start in starts:
        page = start << 12
        end = page + draw(st.integers(1, 8)) * 4096
        if out and out[-1].end > page:
            continue
        named = draw(st.booleans())
        raw = draw(name_bytes) if named else None
        path = None if raw is None else os.fsdecode(raw)
        deleted = named and draw(st.booleans())
        inode = draw(st.integers(0, 2**64 - 1)) if named else 0
        perms = draw(st.sampled_from(["r--p", "rw-p", "r-xp", "rwxs", "---p", "--xp", "rw-s"]))
        out.append(
            Region(
                start=page,
                end=end,
                perms=perms,
                offset=draw(st.integers(0, 2**64 - 1)),
                dev_major=draw(st.integers(0, 4095)),
                dev_minor=draw(st.integers(0, 2**20 - 1)),
                inode=inode,
                path=path,
                deleted=deleted,
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(regions())
def test_rendered_text_parses_back_to_the_same_regions(drawn):
    text = memmaps.Maps(drawn).to_proc_maps()
    parsed = memmaps.parse(text)
    fields = lambda r: (  # noqa: E731
        r.start,
        r.end,
        r.perms,
        r.offset,
        r.dev_major,
        r.dev_minor,
        r.inode,
        r.path,
        r.deleted,
    )
    assert [fields(r) for r in parsed] == [fields(r) for r in drawn]
    assert parsed.to_proc_maps() == text


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_parse_or_raise_parse_error(data):
    try:
        maps = memmaps.parse(data)
    except ParseError as error:
        assert error.lineno >= 1
    else:
        assert all(r.start < r.end for r in maps)
        # Strict text is the same text with nothing cleaned up.
        try:
            strict = memmaps.parse(data, strict=True)
        except ParseError as error:
            assert error.lineno >= 1
        else:
            assert strict == maps


# ---- text that went through a file: CRLF line ends ----

SMAPS_FIXTURE = FIXTURES / "smaps-x86_64-6.18-captured.txt"


def test_crlf_line_ends_read_as_newlines():
    text = (Path(__file__).resolve().parents[2] / "docs" / "example.maps").read_text()
    crlf = text.replace("\n", "\r\n")
    assert memmaps.parse(crlf) == memmaps.parse(text)
    assert memmaps.parse(crlf.encode()) == memmaps.parse(text)
    assert all(r.path is None or "\r" not in r.path for r in memmaps.parse(crlf))
    # Trailing blank lines and a last line without its line end, as with "\n".
    assert memmaps.parse(crlf + "\r\n\r\n") == memmaps.parse(text)
    assert memmaps.parse(crlf.rstrip("\n")) == memmaps.parse(text)


def test_a_nameless_line_with_crlf_has_no_path():
    region = only("00400000-00401000 rw-p 00000000 00:00 0 \r\n")
    assert (region.path, region.kind) == (None, "anon")
    region = only("00400000-00401000 rw-p 00000000 00:00 0\r\n")
    assert (region.path, region.kind) == (None, "anon")


def test_crlf_names_keep_what_is_theirs():
    text = line(0x1000, 0x2000, "r--p", 0, "08:01", 7, "/tmp/in\rside").replace("\n", "\r\n")
    assert only(text).path == "/tmp/in\rside"
    deleted = line(0x1000, 0x2000, "r--p", 0, "08:01", 7, "/tmp/gone (deleted)")
    region = only(deleted.replace("\n", "\r\n"))
    assert (region.path, region.deleted) == ("/tmp/gone", True)


def test_smaps_with_crlf_line_ends():
    text = SMAPS_FIXTURE.read_text()
    crlf = memmaps.parse(text.replace("\n", "\r\n"))
    plain = memmaps.parse(text)
    assert crlf == plain
    assert [r.usage for r in crlf] == [r.usage for r in plain]
    assert all(r.usage is not None for r in crlf)


def test_a_blank_crlf_line_before_the_end_is_still_refused():
    text = line(0x1000, 0x2000, "r--p", 0, "00:00", 0) * 2
    with pytest.raises(ParseError, match="blank line") as info:
        memmaps.parse(text.replace("\n", "\r\n", 1).replace("\r\n", "\r\n\r\n", 1))
    assert info.value.lineno == 2


# ---- strict=True ----


def test_strict_accepts_what_one_read_of_the_kernel_prints():
    text = (Path(__file__).resolve().parents[2] / "docs" / "example.maps").read_text()
    assert memmaps.parse(text, strict=True) == memmaps.parse(text)
    smaps = SMAPS_FIXTURE.read_text()
    assert memmaps.parse(smaps, strict=True) == memmaps.parse(smaps)
    assert len(memmaps.parse("", strict=True)) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc/self/maps")
def test_strict_accepts_this_process_map():
    text = Path("/proc/self/maps").read_bytes()
    assert os.fsencode(memmaps.parse(text, strict=True).to_proc_maps()) == text
    smaps = Path("/proc/self/smaps").read_bytes()
    assert len(memmaps.parse(smaps, strict=True)) == smaps.count(b"VmFlags:")


TORN = (
    line(0x1000, 0x2000, "r--p", 0, "00:00", 0)
    + line(0x3000, 0x4000, "rw-p", 0, "00:00", 0)
    + line(0x3000, 0x6000, "rw-p", 0, "00:00", 0)
    + line(0x5000, 0x7000, "r--p", 0, "00:00", 0)
)


@pytest.mark.parametrize(
    ("text", "lineno", "what"),
    [
        # The read that spans a merge: the grown region again.
        (
            TORN,
            3,
            "the lines overlap: this region starts at 0x3000, "
            "before the end of the one on line 2 (0x4000)",
        ),
        (
            line(0x1000, 0x2000, "r--p", 0, "00:00", 0)
            + line(0x5000, 0x6000, "r--p", 0, "00:00", 0)
            + line(0x3000, 0x4000, "r--p", 0, "00:00", 0),
            3,
            "the lines are out of order: this region starts at 0x3000, "
            "below the start of the one on line 2 (0x5000)",
        ),
        (
            line(0x1000, 0x2000, "r--p", 0, "00:00", 0) * 2,
            2,
            "the lines overlap",
        ),
        (
            line(0x1000, 0x2000, "r--p", 0, "00:00", 0)
            + line(0x3000, 0x3000, "r--p", 0, "00:00", 0),
            2,
            "the region is empty",
        ),
        (
            # smaps: the line numbers are those of the region lines.
            line(0x1000, 0x3000, "r--p", 0, "00:00", 0)
            + "Size:                  8 kB\nRss:                   0 kB\n"
            + line(0x2000, 0x4000, "r--p", 0, "00:00", 0)
            + "Size:                  8 kB\n",
            4,
            "before the end of the one on line 1 (0x3000)",
        ),
    ],
)
def test_strict_refuses_lines_a_read_never_gives(text, lineno, what):
    with pytest.raises(ParseError) as info:
        memmaps.parse(text, strict=True)
    error = info.value
    assert error.lineno == lineno
    assert error.line == text.split("\n")[lineno - 1]
    assert f"line {lineno}: " in str(error)
    assert what in str(error)
    # Without strict, the same text is cleaned up as a torn read is.
    maps = memmaps.parse(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(maps))


def test_strict_is_keyword_only():
    with pytest.raises(TypeError):
        memmaps.parse("", True)  # type: ignore[misc]


def test_the_default_still_cleans_up_a_torn_read():
    assert [(r.start, r.end) for r in memmaps.parse(TORN)] == [
        (0x1000, 0x2000),
        (0x3000, 0x5000),
        (0x5000, 0x7000),
    ]


# ---- a line cut off ----

FULL = "00400000-00452000 r-xp 00000000 08:02 173521"
NO_END = "the end address, permissions, offset, device and inode are missing"
NO_PERMS = "the permissions, offset, device and inode are missing"
# Where each field ends in FULL, and what a line cut there lacks.
CUTS = [
    (len("0040"), f"after the start address: {NO_END}"),
    (len("00400000"), f"after the start address: {NO_END}"),
    (len("00400000-"), f"after the '-': {NO_END}"),
    (len("00400000-0045"), f"after the end address: {NO_PERMS}"),
    (len("00400000-00452000 "), f"after the end address: {NO_PERMS}"),
    (len("00400000-00452000 r-"), "in the permissions"),
    (
        len("00400000-00452000 r-xp"),
        "after the permissions: the offset, device and inode are missing",
    ),
    (len("00400000-00452000 r-xp 000"), "after the offset: the device and inode are missing"),
    (len("00400000-00452000 r-xp 00000000 08"), "in the device"),
    (len("00400000-00452000 r-xp 00000000 08:"), "in the device"),
    (len("00400000-00452000 r-xp 00000000 08:02"), "after the device: the inode is missing"),
    (len("00400000-00452000 r-xp 00000000 08:02 "), "after the device: the inode is missing"),
]


def test_the_cut_off_line_of_the_issue():
    good = (Path(__file__).resolve().parents[2] / "docs" / "example.maps").read_text()
    with pytest.raises(ParseError) as info:
        memmaps.parse(good + "00500000-0055")
    error = info.value
    assert error.lineno == good.count("\n") + 1
    assert error.line == "00500000-0055"
    assert "below the start" not in str(error)
    assert str(error).startswith(
        f"line {error.lineno}: the line is cut off after the end address: "
        "the permissions, offset, device and inode are missing"
    )


@pytest.mark.parametrize(("cut", "what"), CUTS)
@pytest.mark.parametrize("line_end", ["", "\n", "\r\n"])
def test_a_cut_off_line_says_what_is_missing(cut, what, line_end):
    text = FULL[:cut] + line_end
    with pytest.raises(ParseError) as info:
        memmaps.parse(text)
    assert info.value.line == FULL[:cut]
    assert f"line 1: the line is cut off {what}" in str(info.value)


def test_every_prefix_of_a_line_is_cut_off_or_whole():
    for cut in range(1, len(FULL) + 1):
        try:
            region = only(FULL[:cut])
        except ParseError as error:
            assert "cut off" in str(error), (cut, str(error))
        else:
            # Only a prefix that reaches into the inode is a whole line.
            assert cut > len("00400000-00452000 r-xp 00000000 08:02 "), cut
            assert str(region.inode) == FULL[len("00400000-00452000 r-xp 00000000 08:02 ") : cut]


def test_a_bad_field_is_not_taken_for_a_cut():
    for text, what in [
        ("00400000-00452000x r-xp 0 00:00 0", "expected permissions"),
        ("00500000-00400000 r-xp 0 00:00 0", "the end address is below the start address"),
        ("00400000-00452000 r-xp 0 00:00 0\t", "expected a space after the inode"),
        ("00400000-00452000 r-xp zz 00:00 0", "expected a hex file offset"),
    ]:
        with pytest.raises(ParseError, match=what):
            memmaps.parse(text)


# ---- a ParseError stays small whatever the line ----


def test_a_parse_error_keeps_an_excerpt_of_a_huge_line():
    size = 20 * 1024 * 1024
    with pytest.raises(ParseError) as info:
        memmaps.parse(b"a" * size)
    error = info.value
    assert (error.lineno, error.line, error.line_length) == (1, "a" * 200, size)
    assert str(error) == (
        f"line 1: expected a hex start address: {'a' * 200!r} (the first 200 of {size} bytes)"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.line, copy.line_length, str(copy)) == (error.line, size, str(error))
    assert len(pickle.dumps(error)) < 2000


def test_the_excerpt_is_of_the_failing_line():
    text = (
        line(0x1000, 0x2000, "r--p", 0, "08:01", 7, "/tmp/x")
        + "1000-2000 r--p 0 00:00 x"
        + "y" * 5000
    )
    with pytest.raises(ParseError, match="decimal inode") as info:
        memmaps.parse(text)
    error = info.value
    assert error.lineno == 2
    assert error.line == ("1000-2000 r--p 0 00:00 x" + "y" * 5000)[:200]
    assert error.line_length == len("1000-2000 r--p 0 00:00 x") + 5000


def test_the_excerpt_is_not_cut_inside_a_character():
    for char, width in [("\u00e9", 2), ("\u20ac", 3), ("\U0001f600", 4)]:
        text = "x" + char * 300
        with pytest.raises(ParseError) as info:
            memmaps.parse(text)
        error = info.value
        kept = (200 - 1) // width
        assert error.line == "x" + char * kept, char
        assert error.line_length == 1 + width * 300
        assert f"(the first {1 + kept * width} of {1 + width * 300} bytes)" in str(error)


def test_undecodable_bytes_in_an_excerpt_survive():
    with pytest.raises(ParseError) as info:
        memmaps.parse(b"\xff" * 1000)
    assert info.value.line == "\udcff" * 200
    assert os.fsencode(info.value.line) == b"\xff" * 200
    assert info.value.line_length == 1000


def test_a_short_line_is_kept_whole():
    with pytest.raises(ParseError) as info:
        memmaps.parse("z" * 200 + "\n")
    assert (info.value.line, info.value.line_length) == ("z" * 200, 200)
    assert "(the first" not in str(info.value)


def test_a_parse_error_made_by_hand():
    error = ParseError("line 3: bad", 3, "some line")
    assert (error.lineno, error.line, error.line_length) == (3, "some line", 9)
    assert str(error) == "line 3: bad: 'some line'"
    error = ParseError("line 3: bad", 3, "some", 1000)
    assert str(error) == "line 3: bad: 'some' (the first 4 of 1000 bytes)"
    assert ParseError("no line", 0, None).line_length is None
