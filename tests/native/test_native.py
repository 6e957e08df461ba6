"""The C core on its own (tools/mmdump.c), under valgrind and the sanitizers.

mmdump links exactly the C files the extension does, so memory errors in
them show up here without an interpreter in the way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memmaps
from tests.helpers import procutil
from tests.helpers import sanitized as sanitizers

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "memmaps" / "native"
SOURCES = [
    ROOT / "tools" / "mmdump.c",
    NATIVE / "core" / "list.c",
    NATIVE / "core" / "names.c",
    NATIVE / "core" / "reader.c",
    NATIVE / "core" / "symindex.c",
    NATIVE / "formats" / "elf.c",
    NATIVE / "formats" / "pe.c",
    NATIVE / "formats" / "procmaps.c",
]
if sys.platform.startswith("linux"):
    SOURCES += [NATIVE / "core" / "target.c", NATIVE / "backends" / "linux.c"]

VALGRIND_ERROR = 99

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux backend")


def build(out: Path, *flags: str) -> Path:
    command = ["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-g", *flags]
    command += ["-I", str(NATIVE), *map(str, SOURCES), "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return build(tmp_path_factory.mktemp("mmdump") / "mmdump", "-O2")


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory):
    probe = subprocess.run(
        ["gcc", "-fsanitize=address,undefined", "-x", "c", "-", "-o", "/dev/null"],
        input="int main(void) { return 0; }",
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"gcc cannot build with the sanitizers here: {probe.stderr.strip()}")
    flags = ["-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    return build(tmp_path_factory.mktemp("mmdump-asan") / "mmdump", *flags)


@pytest.fixture(scope="module")
def idle_target():
    """A process whose map does not change while it waits on stdin."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    yield process.pid
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def texts(tmp_path_factory, idle_target):
    """Maps texts to parse: a real one, and broken ones."""
    folder = tmp_path_factory.mktemp("texts")
    real = Path(f"/proc/{idle_target}/maps").read_bytes()
    cut = real[: len(real) // 2 + 7]  # ends mid-line
    files = {
        "real": real,
        "cut": cut,
        "garbage": b"\xff\x00 not maps at all\n",
        "blank-middle": real.split(b"\n", 1)[0] + b"\n\n" + real,
        "empty": b"",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def run(command, wrapper=()):
    return subprocess.run([*wrapper, *map(str, command)], capture_output=True, timeout=120)


def check_runs(binary, idle_target, texts, wrapper=()):
    """Every path through the core, each compared with what it must give."""
    listing = run([binary, idle_target], wrapper)
    assert listing.returncode == 0, listing.stderr.decode()
    assert listing.stdout == Path(f"/proc/{idle_target}/maps").read_bytes()

    own = run([binary], wrapper)
    assert own.returncode == 0, own.stderr.decode()
    assert b"[stack]" in own.stdout

    parsed = run([binary, "-f", texts / "real"], wrapper)
    assert parsed.returncode == 0, parsed.stderr.decode()
    assert parsed.stdout == (texts / "real").read_bytes()

    cut = run([binary, "-f", texts / "cut"], wrapper)
    # Half a line is either still a valid line or a parse error; never a crash.
    assert cut.returncode in (0, 1), cut.stderr.decode()

    for broken in ("garbage", "blank-middle"):
        result = run([binary, "-f", texts / broken], wrapper)
        assert result.returncode == 1, result.stderr.decode()
        assert b"mmdump: line " in result.stderr

    empty = run([binary, "-f", texts / "empty"], wrapper)
    assert (empty.returncode, empty.stdout) == (0, b"")

    missing = run([binary, "2147483646"], wrapper)
    assert missing.returncode == 1
    assert b"does not exist" in missing.stderr


def test_mmdump_prints_the_kernel_text(plain, idle_target, texts):
    check_runs(plain, idle_target, texts)


def test_mmdump_under_address_and_undefined_sanitizers(sanitized, idle_target, texts):
    check_runs(sanitized, idle_target, texts)


@pytest.mark.slow
def test_mmdump_under_valgrind(plain, idle_target, texts):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("valgrind cannot run programs with the ASan runtime preloaded")
    wrapper = (
        valgrind,
        "--quiet",
        f"--error-exitcode={VALGRIND_ERROR}",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
    )
    check_runs(plain, idle_target, texts, wrapper)


# --------------------------------------------------------------------------
# mmdump --images: the C image listing against memmaps.images()
# --------------------------------------------------------------------------

MASK = 2**64 - 1
NOBODY = procutil.NOBODY
IMAGE_FIELDS = ("base", "end", "bias", "flags", "build_id", "path", "source")


def parse_images(stdout: str) -> list[dict]:
    images = []
    for line in stdout.splitlines():
        fields = dict(zip(IMAGE_FIELDS, line.split("\t"), strict=True))
        image = {key: int(fields[key], 16) for key in ("base", "end", "bias")}
        image["flags"] = set() if fields["flags"] == "-" else set(fields["flags"].split(","))
        image["build_id"] = None if fields["build_id"] == "-" else fields["build_id"]
        image["path"] = fields["path"]
        image["source"] = "" if fields["source"] == "-" else fields["source"]
        images.append(image)
    return images


def key_view(images: list[dict]) -> list[tuple]:
    return [(i["base"], i["end"], i["bias"], i["build_id"], i["path"]) for i in images]


def python_view(pid: int) -> list[tuple]:
    """What memmaps.images() gives for the same listing, through the
    binding and the platform layer."""
    return [(i.base, i.end, i.bias & MASK, i.build_id, i.path) for i in memmaps.images(pid)]


def readelf_build_id(path: Path) -> str | None:
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is not installed")
    found = re.search(r"Build ID: ([0-9a-f]+)", sanitizers.must(["readelf", "-n", path]))
    return found[1] if found else None


def launch(args) -> subprocess.Popen:
    return procutil.launch_ready(args).proc


@pytest.fixture(scope="module")
def image_target(live_bindir):
    """img_main with its library libmmimg.so (tests/test_images.py's PIE
    target), waiting on stdin: (pid, executable, library)."""
    exe, lib = procutil.build_image_main(procutil.world_dir(live_bindir))
    proc = launch([exe])
    yield proc.pid, exe, lib
    procutil.stop(proc)


def dump_images(binary, pid=None, wrapper=(), env=None, timeout=60) -> list[dict]:
    args = [*wrapper, binary, "--images", *([] if pid is None else [pid])]
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert proc.returncode == 0, proc.stderr
    sanitizers.check_clean(proc, "mmdump", args)
    return parse_images(proc.stdout)


def test_mmdump_images_agree_with_memmaps_images(plain, image_target):
    pid, exe, lib = image_target
    found = dump_images(plain, pid)
    assert key_view(found) == python_view(pid)
    by_path = {os.path.basename(i["path"]): i for i in found}
    assert {"img_main", "libmmimg.so", "libc.so.6", "[vdso]"} <= set(by_path)
    assert by_path["img_main"]["path"] == str(exe) and by_path["libmmimg.so"]["path"] == str(lib)
    assert [i["path"] for i in found if "main" in i["flags"]] == [str(exe)]
    (loader,) = [i for i in found if "loader" in i["flags"]]
    assert os.path.basename(loader["path"]).startswith("ld-linux")
    assert by_path["[vdso]"]["flags"] == {"kernel", "memory"}
    assert by_path["[vdso]"]["source"] == ""
    refs = procutil.parse_maps(procutil.read_maps(pid))
    for image in found:
        if image["path"] == "[vdso]":
            continue
        assert {"file-id"} <= image["flags"] and "memory" not in image["flags"], image
        assert image["build_id"] == readelf_build_id(Path(image["path"])), image
        # The source is the mapped file itself, opened the first way there is.
        if os.geteuid() == 0:
            assert image["source"].startswith(f"/proc/{pid}/map_files/"), image
        inodes = {r.inode for r in refs if r.path == image["path"]}
        assert os.stat(image["source"]).st_ino in inodes, image


def test_mmdump_images_of_itself_and_of_no_process(plain):
    found = dump_images(plain)
    assert [i["path"] for i in found if "main" in i["flags"]] == [str(plain)]
    assert any(i["path"] == "[vdso]" for i in found)
    # The errors are mm_regions' own.
    missing = run([plain, "--images", "2147483646"])
    assert (missing.returncode, missing.stdout) == (1, b"")
    assert b"does not exist" in missing.stderr


def test_mmdump_images_under_address_and_undefined_sanitizers(sanitized, plain, image_target):
    pid, _exe, _lib = image_target
    env = sanitizers.driver_env()
    assert key_view(dump_images(sanitized, pid, env=env)) == key_view(dump_images(plain, pid))
    assert [i["path"] for i in dump_images(sanitized, env=env) if "main" in i["flags"]] == [
        str(sanitized)
    ]


def test_mmdump_images_under_valgrind(plain, image_target):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    pid, _exe, _lib = image_target
    wrapper = (
        valgrind,
        "--quiet",
        f"--error-exitcode={VALGRIND_ERROR}",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
    )
    env = sanitizers.tool_env()
    assert key_view(dump_images(plain, pid, wrapper, env=env)) == key_view(dump_images(plain, pid))
    assert any(i["path"] == str(plain) for i in dump_images(plain, None, wrapper, env=env))


@pytest.fixture
def fifo_target(live_bindir):
    """A target that loaded a library, unlinked it and put a FIFO at its
    path, run as `nobody` when the tests run as root (so that a reader of the
    same user has no CAP_SYS_ADMIN for map_files): (proc, library, its
    build-id, its inode)."""
    d = procutil.world_dir(live_bindir)
    lib = procutil.compile_target("img_lib", d / "libhostile.so", "-shared", "-fPIC")
    build_id = readelf_build_id(lib)
    inode = lib.stat().st_ino
    exe = procutil.compile_target("img_fifo", d / "img_fifo", "-ldl")
    args = [exe, lib]
    if os.geteuid() == 0 and shutil.which("setpriv") is not None:
        os.chown(d, NOBODY, NOBODY)  # so that the target may unlink and mkfifo there
        args = [*procutil.AS_NOBODY, *args]
    proc = launch(args)
    try:
        assert (d / "libhostile.so").is_fifo()
        yield proc, lib, build_id, inode
    finally:
        procutil.stop(proc)


def test_mmdump_images_with_a_fifo_at_the_library_path(plain, fifo_target):
    """As root (map_files): the library comes from the mapped file, and the
    FIFO at its path is never opened (which would block)."""
    proc, lib, build_id, _inode = fifo_target
    found = dump_images(plain, proc.pid, timeout=30)
    (image,) = [i for i in found if i["path"] == str(lib)]
    assert image["build_id"] == build_id
    assert "deleted" in image["flags"]
    if os.geteuid() == 0:
        assert image["source"].startswith(f"/proc/{proc.pid}/map_files/")
        assert "memory" not in image["flags"]
    else:
        assert image["flags"] >= {"memory"} and image["source"] == ""


@pytest.mark.parametrize("build", ["plain", "sanitized"])
def test_mmdump_images_unprivileged_with_a_fifo_at_the_library_path(
    request, build, fifo_target, live_bindir
):
    """A reader without CAP_SYS_ADMIN: no map_files.  The executable comes
    through /proc/PID/exe, libc through the target's root, and the library,
    whose path now names a FIFO, from the target's memory, without blocking
    and with what root sees."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to read as another user")
    proc, lib, build_id, _inode = fifo_target
    binary = request.getfixturevalue(build)
    own = procutil.world_dir(live_bindir) / "mmdump"
    shutil.copy(binary, own)
    os.chmod(own, 0o755)
    env = sanitizers.driver_env() if build == "sanitized" else sanitizers.tool_env()
    drop = procutil.AS_NOBODY
    found = dump_images(own, proc.pid, drop, env=env, timeout=30)
    assert key_view(found) == key_view(dump_images(request.getfixturevalue("plain"), proc.pid))
    by_path = {i["path"]: i for i in found}
    image = by_path[str(lib)]
    assert image["flags"] >= {"memory", "deleted", "file-id"}
    assert image["source"] == "" and image["build_id"] == build_id
    (main,) = [i for i in found if "main" in i["flags"]]
    assert main["source"] == f"/proc/{proc.pid}/exe"
    (libc,) = [i for i in found if os.path.basename(i["path"]) == "libc.so.6"]
    assert libc["source"] == f"/proc/{proc.pid}/root{libc['path']}"


@pytest.mark.parametrize("flavour", ["static-no-pie", "static-pie", "deleted"])
def test_mmdump_images_of_other_executables(plain, live_bindir, flavour):
    """Static executables (no ld.so, bias 0 without PIE) and one that
    unlinked itself: the same images as memmaps.images().  Read as the
    target's own unprivileged user (no map_files), /proc/PID/exe still leads
    to the deleted file, and everything must be as root reads it."""
    d = procutil.world_dir(live_bindir)
    if flavour == "deleted":
        exe = procutil.compile_target("img_deleted", d / "img_deleted", "-rdynamic")
    else:
        libc_a = subprocess.run(
            ["gcc", "-print-file-name=libc.a"], capture_output=True, text=True
        ).stdout.strip()
        if not os.path.isabs(libc_a):
            pytest.skip("no static libc (libc.a) for gcc -static")
        flags = ["-static", "-no-pie"] if flavour == "static-no-pie" else ["-static-pie"]
        exe = procutil.compile_target("img_static", d / "img_static", *flags)
    args = [exe]
    unprivileged = os.geteuid() == 0 and shutil.which("setpriv") is not None
    if unprivileged:
        os.chown(d, NOBODY, NOBODY)  # so that img_deleted may unlink itself
        args = [*procutil.AS_NOBODY, *args]
    proc = launch(args)
    try:
        found = dump_images(plain, proc.pid)
        assert key_view(found) == python_view(proc.pid)
        (main,) = [i for i in found if "main" in i["flags"]]
        assert main["path"] == str(exe)
        assert ("deleted" in main["flags"]) == (flavour == "deleted")
        if flavour == "static-no-pie":
            assert main["bias"] == 0
        if flavour != "deleted":
            assert not any("loader" in i["flags"] for i in found)
            assert sorted(i["path"] for i in found) == sorted([str(exe), "[vdso]"])
        if unprivileged:
            copy = procutil.world_dir(live_bindir) / "mmdump"
            shutil.copy(plain, copy)
            os.chmod(copy, 0o755)
            drop = procutil.AS_NOBODY
            theirs = dump_images(copy, proc.pid, drop, env=sanitizers.tool_env())
            assert key_view(theirs) == key_view(found)
            (their_main,) = [i for i in theirs if "main" in i["flags"]]
            # /proc/PID/exe still leads to a deleted executable.
            assert their_main["source"] == f"/proc/{proc.pid}/exe"
    finally:
        procutil.stop(proc)
