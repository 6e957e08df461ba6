"""The r_debug / link_map reader (memmaps/native/formats/link_map.c), through
tools/linkmapdump.c, built with AddressSanitizer and UndefinedBehaviorSanitizer.

Memories are put together here (tests/helpers/linkmapsim.py) with glibc's
layout for 64- and 32-bit pointers in both byte orders, and what the reader
says is compared with what was put there.  Then hostile memory: loops, torn
links, holes where a link_map or a name should be, names without a NUL,
chains past the cap, r_next records that loop, addresses at the top of the
address space, random byte changes.  The driver's own chain, found through
its DT_DEBUG and read through /proc/self/mem, must be what
dl_iterate_phdr() says.  Last, the libFuzzer target for a short run.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import linkmapsim, sanitized
from tests.helpers.linkmapsim import (
    DT_DEBUG,
    DT_NEEDED,
    DT_NULL,
    L_NEXT,
    L_PREV,
    R_NEXT,
    RT_ADD,
    Memory,
    build_chain,
    dynamic_array,
)
from tests.helpers.sanitized import build_driver, check_clean, driver_env

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "memmaps" / "native"
SOURCES = [
    ROOT / "tools" / "linkmapdump.c",
    NATIVE / "formats" / "link_map.c",
    NATIVE / "core" / "reader.c",
    NATIVE / "core" / "list.c",
]
CAP = 65536
NAME_MAX = 4096

OBJECTS = [
    (0x555555554000, b"", 0x555555557DE0),
    (0x7FFFF7FC1000, b"linux-vdso.so.1", 0x7FFFF7FC1448),
    (0x7FFFF7FB0000, b"/work/libinterpose.so", 0x7FFFF7FB3DF0),
    (0x7FFFF7DA0000, b"/lib/x86_64-linux-gnu/libc.so.6", 0x7FFFF7F94B60),
    (0x7FFFF7FC3000, b"/lib64/ld-linux-x86-64.so.2", 0x7FFFF7FFDE40),
]


@dataclass
class Walk:
    """What linkmapdump printed for a chain."""

    status: int
    stdout: str
    stderr: str
    facts: dict[str, str] = field(default_factory=dict)
    entries: list[dict[str, str]] = field(default_factory=list)

    def fact(self, key: str) -> int | str:
        value = self.facts[key]
        return int(value, 0) if re.fullmatch(r"-?(0x[0-9a-f]+|[0-9]+)", value) else value

    def names(self) -> list[bytes]:
        return [unescape(e["name"]) for e in self.entries]


def unescape(text: str) -> bytes:
    return re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), text.encode())


def words(line: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in line.split("\t"))


class Driver:
    def __init__(self, path: Path, folder: Path) -> None:
        self.path = path
        self.folder = folder
        self.count = 0

    def run(self, *args: object) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.path), *map(str, args)],
            capture_output=True,
            text=True,
            errors="replace",
            env=driver_env(),
            timeout=300,
            check=False,
        )
        check_clean(proc, "linkmapdump", args)
        return proc

    def _file(self, memory: Memory) -> Path:
        self.count += 1
        path = self.folder / f"memory-{self.count}"
        path.write_bytes(bytes(memory.data))
        return path

    def _options(self, memory: Memory, holes: list[tuple[int, int]]) -> list[str]:
        options = ["-4" if memory.pointer_size == 4 else "-8"]
        if memory.big_endian:
            options.append("-b")
        for start, end in holes:
            options += ["-u", f"{start:#x}-{end:#x}"]
        return options

    def chain(self, memory: Memory, r_debug: int, holes: list[tuple[int, int]] = ()) -> Walk:
        proc = self.run(
            *self._options(memory, list(holes)),
            hex(memory.base),
            self._file(memory),
            "chain",
            hex(r_debug),
        )
        walk = Walk(proc.returncode, proc.stdout, proc.stderr)
        lines = proc.stdout.splitlines()
        if proc.returncode == 0:
            walk.facts = words(lines[0])
            walk.entries = [words(line) for line in lines[1:]]
            assert len(walk.entries) == walk.fact("count")
        return walk

    def dynamic(self, memory: Memory, dynamic: int, holes: list[tuple[int, int]] = ()) -> str:
        proc = self.run(
            *self._options(memory, list(holes)),
            hex(memory.base),
            self._file(memory),
            "dynamic",
            hex(dynamic),
        )
        return proc.stdout.strip() if proc.returncode == 0 else f"error: {proc.stderr.strip()}"


pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="builds the driver with gcc's sanitizers"
)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Driver:
    folder = tmp_path_factory.mktemp("linkmapdump")
    return Driver(build_driver(folder, "linkmapdump", SOURCES, NATIVE), folder)


def masked(objects: list[tuple[int, bytes | None, int]], pointer_size: int) -> list:
    mask = (1 << (8 * pointer_size)) - 1
    return [(a & mask, n, d & mask) for a, n, d in objects]


# --------------------------------------------------------------------------
# Chains as ld.so leaves them
# --------------------------------------------------------------------------


@pytest.mark.parametrize("pointer_size", [8, 4])
@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_a_whole_chain_in_order(driver: Driver, pointer_size: int, big_endian: bool) -> None:
    objects = masked(OBJECTS, pointer_size)
    chain = build_chain(objects, pointer_size=pointer_size, big_endian=big_endian)
    walk = driver.chain(chain.memory, chain.r_debug)
    assert walk.status == 0, walk.stderr
    assert walk.fact("version") == 1
    assert walk.fact("state") == 0
    assert walk.fact("namespaces") == 1
    assert walk.fact("end") == "null" and walk.fact("end_at") == 0
    assert walk.fact("torn") == 0
    assert walk.fact("first") == chain.maps[0]
    assert walk.fact("brk") == 0x1234
    assert walk.fact("ldbase") == 0x7F0000000000 & ((1 << (8 * pointer_size)) - 1)
    assert [int(e["map"], 16) for e in walk.entries] == chain.maps
    assert [int(e["addr"], 16) for e in walk.entries] == [o[0] for o in objects]
    assert [int(e["ld"], 16) for e in walk.entries] == [o[2] for o in objects]
    assert [int(e["name_address"], 16) for e in walk.entries] == chain.names
    assert walk.names() == [o[1] for o in objects]
    assert {e["name_state"] for e in walk.entries} == {"read"}


@pytest.mark.parametrize("state", [RT_ADD, 2, 7, -1])
def test_r_state_is_passed_on(driver: Driver, state: int) -> None:
    """RT_ADD and RT_DELETE say ld.so is changing the chain; a value no ld.so
    writes is passed on as it is, for the caller to judge."""
    chain = build_chain(OBJECTS, state=state)
    walk = driver.chain(chain.memory, chain.r_debug)
    assert walk.fact("state") == state
    assert walk.fact("count") == len(OBJECTS)


def test_an_empty_chain(driver: Driver) -> None:
    chain = build_chain([])
    walk = driver.chain(chain.memory, chain.r_debug)
    assert walk.status == 0 and walk.fact("count") == 0 and walk.fact("end") == "null"


def test_namespaces_are_counted_not_walked(driver: Driver) -> None:
    chain = build_chain(OBJECTS, version=2, namespaces=3)
    walk = driver.chain(chain.memory, chain.r_debug)
    assert walk.fact("namespaces") == 4
    assert walk.names() == [o[1] for o in OBJECTS]
    # Version 1 has no r_next: whatever follows the record is not one.
    walk = driver.chain(build_chain(OBJECTS, version=1, namespaces=3).memory, chain.r_debug)
    assert walk.fact("namespaces") == 1


def test_a_loop_of_namespaces_ends_the_count(driver: Driver) -> None:
    chain = build_chain(OBJECTS, version=2, namespaces=2)
    chain.memory.put_word(chain.namespaces[1], R_NEXT, chain.namespaces[0])
    assert driver.chain(chain.memory, chain.r_debug).fact("namespaces") == 3
    chain.memory.put_word(chain.namespaces[1], R_NEXT, chain.r_debug)
    assert driver.chain(chain.memory, chain.r_debug).fact("namespaces") == 3
    chain.memory.put_word(chain.namespaces[1], R_NEXT, 0xDEAD0000)
    assert driver.chain(chain.memory, chain.r_debug).fact("namespaces") == 3


def test_more_namespaces_than_the_cap(driver: Driver) -> None:
    chain = build_chain(OBJECTS, version=2, namespaces=300)
    assert driver.chain(chain.memory, chain.r_debug).fact("namespaces") == 256


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------


def test_a_null_name_and_odd_bytes(driver: Driver) -> None:
    objects = [(0x1000, None, 0), (0x2000, b"\xff\xfe/tab\tnew\nline \\x", 0x2100)]
    chain = build_chain(objects)
    walk = driver.chain(chain.memory, chain.r_debug)
    assert [e["name_state"] for e in walk.entries] == [
        "read" if n else "null" for _, n, _ in objects
    ]
    assert walk.names() == [b"", objects[1][1]]


@pytest.mark.parametrize("length", [NAME_MAX - 1, NAME_MAX, NAME_MAX + 100])
def test_a_name_is_bounded(driver: Driver, length: int) -> None:
    name = b"/" + b"x" * (length - 1)
    chain = build_chain([(0x1000, name, 0x1100), (0x2000, b"next", 0x2100)])
    walk = driver.chain(chain.memory, chain.r_debug)
    state = "read" if length < NAME_MAX else "too-long"
    assert walk.entries[0]["name_state"] == state
    assert walk.names()[0] == (name if state == "read" else b"")
    assert walk.names()[1] == b"next", "a name too long does not end the chain"


@pytest.mark.parametrize("offset", range(0, 24))
def test_a_name_at_the_end_of_memory(driver: Driver, offset: int) -> None:
    """The NUL is the last byte there is, wherever the memory ends in its
    page: the reader must not need a byte past it."""
    chain = build_chain([(0x1000, b"x", 0x1100)])
    memory = chain.memory
    memory.alloc(offset, 1)
    name = b"/lib/at-the-end.so"
    at = memory.string(name)
    assert memory.end == at + len(name) + 1
    chain.link(0, 1, at)
    assert driver.chain(memory, chain.r_debug).names() == [name]
    # Without its NUL the name runs off the end: unreadable, not a crash.
    memory.data[-1] = ord("!")
    walk = driver.chain(memory, chain.r_debug)
    assert walk.entries[0]["name_state"] == "unreadable"


def test_a_name_across_page_boundaries(driver: Driver) -> None:
    chain = build_chain([(0x1000, b"x", 0x1100)])
    memory = chain.memory
    memory.alloc(-memory.end % 4096 + 4096 - 10, 1)
    name = b"/" + b"p" * 5000
    at = memory.string(name[: NAME_MAX - 1])
    chain.link(0, 1, at)
    assert driver.chain(memory, chain.r_debug).names() == [name[: NAME_MAX - 1]]


def test_an_unreadable_name_does_not_end_the_chain(driver: Driver) -> None:
    chain = build_chain(OBJECTS)
    hole = (chain.names[2], chain.names[2] + 1)
    walk = driver.chain(chain.memory, chain.r_debug, [hole])
    assert [e["name_state"] for e in walk.entries] == ["read", "read", "unreadable", "read", "read"]
    assert walk.fact("count") == len(OBJECTS) and walk.fact("end") == "null"
    chain.link(3, 1, 0xBAD0000)
    walk = driver.chain(chain.memory, chain.r_debug)
    assert walk.entries[3]["name_state"] == "unreadable"


# --------------------------------------------------------------------------
# Hostile chains
# --------------------------------------------------------------------------


@pytest.mark.parametrize("back_to", [0, 2, 4])
def test_a_loop_ends_the_walk(driver: Driver, back_to: int) -> None:
    chain = build_chain(OBJECTS)
    chain.link(4, L_NEXT, chain.maps[back_to])
    walk = driver.chain(chain.memory, chain.r_debug)
    assert walk.fact("end") == "cycle"
    assert walk.fact("end_at") == chain.maps[back_to]
    assert walk.fact("count") == len(OBJECTS)
    assert [int(e["map"], 16) for e in walk.entries] == chain.maps


def test_a_torn_chain_is_counted(driver: Driver) -> None:
    chain = build_chain(OBJECTS)
    chain.link(2, L_PREV, chain.maps[0])
    chain.link(0, L_PREV, chain.maps[4])
    walk = driver.chain(chain.memory, chain.r_debug)
    assert walk.fact("torn") == 2 and walk.fact("end") == "null"
    assert walk.fact("count") == len(OBJECTS)


def test_an_unreadable_link_map_ends_the_walk(driver: Driver) -> None:
    chain = build_chain(OBJECTS)
    # The last word of the third link_map (its l_prev) is in the hole.
    last_word = chain.maps[2] + 4 * 8
    walk = driver.chain(chain.memory, chain.r_debug, [(last_word, last_word + 1)])
    assert walk.fact("end") == "unreadable"
    assert walk.fact("end_at") == chain.maps[2]
    assert walk.names() == [o[1] for o in OBJECTS[:2]]
    chain.link(1, L_NEXT, 0xFFFFFFFFFFFFFFF0)
    walk = driver.chain(chain.memory, chain.r_debug)
    assert walk.fact("end") == "unreadable" and walk.fact("count") == 2


def test_more_objects_than_the_cap(driver: Driver) -> None:
    chain = build_chain([(i, None, i) for i in range(CAP + 3)])
    walk = driver.chain(chain.memory, chain.r_debug)
    assert walk.fact("end") == "cap"
    assert walk.fact("count") == CAP
    assert walk.fact("end_at") == chain.maps[CAP]


def test_an_unreadable_r_debug_is_an_error(driver: Driver) -> None:
    chain = build_chain(OBJECTS)
    for address in (chain.r_debug + 4, chain.memory.end, 0):
        walk = driver.chain(chain.memory, address - 4 if address else 0)
        if address == chain.r_debug + 4:
            assert walk.status == 0  # 4 bytes before the record: zeros, a chain of none
            continue
        assert walk.status == 1
        assert "r_debug record at" in walk.stderr and "cannot be read" in walk.stderr


def test_at_the_top_of_the_address_space(driver: Driver) -> None:
    """Every read near 2**64 stays in bounds and never wraps to address 0."""
    memory = Memory(base=(1 << 64) - 4096)
    memory.alloc(4096 - 48, 1)
    chain_at = memory.alloc(40, 1)  # a link_map in the last 48 bytes
    memory.alloc(8, 1)
    assert memory.end == 1 << 64
    # A name in the last byte but one; the very last is never served (a
    # source's size is at most 2**64 - 1).
    memory.put_word(chain_at, 1, memory.end - 2)
    memory.put_word(chain_at, L_NEXT, memory.end - 8)  # a link_map that would wrap
    record = memory.base
    memory.put_word(record, 1, chain_at)
    walk = driver.chain(memory, record)
    assert walk.status == 0, walk.stderr
    assert walk.fact("count") == 1 and walk.fact("end") == "unreadable"
    assert walk.entries[0]["name_state"] == "read" and walk.names() == [b""]
    memory.put_word(chain_at, 1, memory.end - 1)
    walk = driver.chain(memory, record)
    assert walk.entries[0]["name_state"] == "unreadable"
    walk = driver.chain(memory, memory.end - 16)
    assert walk.status == 1
    assert driver.dynamic(memory, memory.end - 8).startswith("error: ")


def test_random_changes(driver: Driver) -> None:
    """Chains with bytes changed at random: each gives a walk or an error,
    and never a sanitizer report (check_clean, in the driver)."""
    rng = random.Random(1234)
    for pointer_size in (8, 4):
        for big_endian in (False, True):
            chain = build_chain(
                masked(OBJECTS, pointer_size),
                pointer_size=pointer_size,
                big_endian=big_endian,
                version=2,
                namespaces=2,
            )
            for _ in range(15):
                memory = Memory(
                    chain.memory.base, pointer_size, big_endian, bytearray(chain.memory.data)
                )
                for _ in range(rng.randint(1, 8)):
                    memory.data[rng.randrange(len(memory.data))] = rng.randrange(256)
                walk = driver.chain(memory, chain.r_debug)
                assert walk.status in (0, 1)


# --------------------------------------------------------------------------
# The dynamic array
# --------------------------------------------------------------------------


@pytest.mark.parametrize("pointer_size", [8, 4])
@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_dt_debug_gives_the_r_debug(driver: Driver, pointer_size: int, big_endian: bool) -> None:
    memory = Memory(pointer_size=pointer_size, big_endian=big_endian)
    dynamic = dynamic_array(memory, [(DT_NEEDED, 1), (DT_DEBUG, 0xABCD00), (DT_NULL, 0)])
    assert driver.dynamic(memory, dynamic) == "r_debug=0xabcd00"


NOT_FOUND = "not found: the dynamic array at 0x10000 has"


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([(DT_NEEDED, 1), (DT_NULL, 0)], "not found: the dynamic array at 0x10000 has no DT_DEBUG"),
        (
            [(DT_DEBUG, 0), (DT_NULL, 0)],
            "not found: the dynamic array at 0x10000 has a DT_DEBUG of 0",
        ),
        ([(DT_DEBUG, 0x1000), (DT_DEBUG, 0x2000), (DT_NULL, 0)], "r_debug=0x2000"),
        ([(DT_DEBUG, 0x1000), (DT_NULL, 0), (DT_DEBUG, 0x2000)], "r_debug=0x1000"),
        (
            [(DT_NULL, 0), (DT_DEBUG, 0x2000)],
            "not found: the dynamic array at 0x10000 has no DT_DEBUG",
        ),
    ],
)
def test_dt_debug_cases(driver: Driver, entries: list, expected: str) -> None:
    memory = Memory()
    dynamic_array(memory, entries)
    assert driver.dynamic(memory, memory.base) == expected


def test_a_dynamic_array_across_pages_and_at_the_end(driver: Driver) -> None:
    """Entries straddling page boundaries, an array that is not aligned, and
    its DT_NULL as the last bytes there are."""
    for start in (4096 - 8, 4096 - 4, 4096 - 12, 8192 - 16 * 40 - 4):
        memory = Memory()
        memory.alloc(start, 1)
        entries = [(DT_NEEDED, i) for i in range(300)] + [(DT_DEBUG, 0x77), (DT_NULL, 0)]
        dynamic = dynamic_array(memory, entries, align=1)
        assert memory.end == dynamic + 16 * len(entries)
        assert driver.dynamic(memory, dynamic) == "r_debug=0x77", start


def test_a_dynamic_array_that_does_not_end(driver: Driver) -> None:
    memory = Memory()
    dynamic_array(memory, [(DT_NEEDED, 1)] * 5000)
    assert driver.dynamic(memory, memory.base) == (
        "error: linkmapdump: the dynamic array at 0x10000 has no DT_NULL in its first 4096 entries"
    )
    memory = Memory()
    dynamic_array(memory, [(DT_NEEDED, 1)] * 10)
    assert driver.dynamic(memory, memory.base) == (
        "error: linkmapdump: dynamic entry 10 at 0x100a0 cannot be read"
    )
    assert driver.dynamic(memory, 0x100).startswith("error: ")


# --------------------------------------------------------------------------
# A real chain: the driver's own
# --------------------------------------------------------------------------


def test_the_drivers_own_chain_is_what_dl_iterate_phdr_says(driver: Driver) -> None:
    proc = driver.run("--self")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    facts = words(lines[0])
    chain = [words(line) for line in lines[1:] if not line.startswith("phdr\t")]
    phdr = [words(line[5:]) for line in lines if line.startswith("phdr\t")]
    assert facts["end"] == "null" and facts["torn"] == "0" and facts["state"] == "0"
    assert int(facts["count"]) == len(chain) >= 3
    # dl_iterate_phdr walks the same namespace 0 list, in its order.
    assert [(int(e["addr"], 16), e["name"]) for e in chain] == [
        (int(p["addr"], 16), p["name"]) for p in phdr
    ]
    assert chain[0]["name"] == ""
    assert any(e["name"].endswith("libc.so.6") for e in chain)


# --------------------------------------------------------------------------
# The fuzzer
# --------------------------------------------------------------------------


def test_seeds_are_walkable(driver: Driver, tmp_path: Path) -> None:
    """The fuzzer's seeds are real chains: its corpus starts where the
    reader does its work."""
    linkmapsim.seeds(tmp_path)
    seeds = sorted(tmp_path.iterdir())
    assert len(seeds) == 20
    for seed in seeds:
        data = seed.read_bytes()
        memory = Memory(
            linkmapsim.FUZZ_BASE,
            4 if data[0] & 1 else 8,
            bool(data[0] & 2),
            bytearray(data[9:]),
        )
        r_debug = linkmapsim.FUZZ_BASE + int.from_bytes(data[1:5], "little")
        walk = driver.chain(memory, r_debug)
        assert walk.status == 0 and walk.fact("count") >= 4, seed.name


@pytest.mark.fuzz
def test_fuzz_briefly(tmp_path: Path) -> None:
    """tests/fuzz/run_fuzz.sh link_map for 20 s: any crash, sanitizer report,
    leak or timeout fails it (the input is in the printed artifacts folder)."""
    clang = sanitized.libfuzzer_clang()
    if clang is None:
        pytest.skip("no clang with libFuzzer (apt-get install clang-14)")
    sanitized.run_fuzzer("link_map", 20, tmp_path, clang)
