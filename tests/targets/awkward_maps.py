"""Target for tests/live/test_live_names.py.

usage: python awkward_maps.py WORKDIR [--hugetlb]

Creates mappings with awkward names and kinds, prints one JSON line
describing what it made, then blocks until stdin is closed (or gets a line).
Each entry: id, start, end, perms, offset, dev ([major, minor] or null),
inode (or null), path (hex of the true name bytes, or null), deleted, kind.
"""

import ctypes
import ctypes.util
import json
import mmap
import os
import sys

PAGE = mmap.PAGESIZE
PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_HUGETLB = 0x40000
PR_SET_VMA, PR_SET_VMA_ANON_NAME = 0x53564D41, 0
IPC_CREAT, IPC_EXCL, IPC_RMID = 0o1000, 0o2000, 0
MAP_FAILED = ctypes.c_void_p(-1).value

libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]

entries = []
errors = {}


def oserr(what):
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


def mmap_(addr, length, prot, flags, fd=-1, off=0):
    p = libc.mmap(addr, length, prot, flags, fd, off)
    if p in (None, MAP_FAILED):
        raise oserr("mmap")
    return p


def vma_name_error():
    e = ctypes.get_errno()
    msg = f"prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME) failed: {os.strerror(e)}"
    if e == 22:
        msg += " (kernel built without CONFIG_ANON_VMA_NAME, or older than 5.17)"
    return msg


def isolated(length):
    """An address with `length` bytes mapped PROT_NONE and an unmapped page
    on each side, so what is put there cannot merge with a neighbour."""
    p = mmap_(None, length + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS)
    libc.munmap(p, PAGE)
    libc.munmap(p + PAGE + length, PAGE)
    return p + PAGE


def add(ident, start, length, perms, offset, dev, inode, path, deleted, kind):
    entries.append(
        dict(
            id=ident,
            start=start,
            end=start + length,
            perms=perms,
            offset=offset,
            dev=dev,
            inode=inode,
            path=None if path is None else path.hex(),
            deleted=deleted,
            kind=kind,
        )
    )


def map_file(ident, path, *, shared=False, offset=PAGE, npages=2, unlink=False, size=None):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size if size is not None else offset + npages * PAGE)
        os.pwrite(fd, b"memmaps", offset)
        st = os.fstat(fd)
        length = npages * PAGE
        if shared:
            p = mmap_(None, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset)
            perms = "rw-s"
        else:
            p = mmap_(None, length, PROT_READ, MAP_PRIVATE, fd, offset)
            perms = "r--p"
    finally:
        os.close(fd)
    if unlink:
        os.unlink(path)
    add(
        ident,
        p,
        length,
        perms,
        offset,
        [os.major(st.st_dev), os.minor(st.st_dev)],
        st.st_ino,
        os.path.abspath(path),
        unlink,
        "file",
    )


def main():
    work = os.fsencode(sys.argv[1])
    want_huge = "--hugetlb" in sys.argv[2:]
    os.chdir(work)
    W = os.path.abspath(work)

    # ---- files with awkward names -------------------------------------
    names = {
        "lead_space": b"  leading spaces",
        "trail_space": b"trailing spaces  ",
        "space_runs": b"runs   of    spaces",
        "only_spaces": b"   ",
        "tab": b"tab\there\t",
        "backslash": b"back\\slash\\",
        "newline": b"new\nline\n",
        "literal_012": b"new\\012line\\012",  # same kernel text as "newline"
        "non_utf8": b"bad\xff\xfe\x80 name\xc3",
        "suffix_deleted": b"x (deleted)",  # exists: not deleted
        "everything": b" \t\\012\n\xff (deleted) (deleted)",
        # The kernel writes the \r raw, just before the line's newline: only
        # saved text reads it as a CRLF line end.
        "carriage_return": b"cr\r",
    }
    for i, (ident, name) in enumerate(names.items()):
        map_file(ident, os.path.join(W, name), shared=bool(i % 2))

    # ---- a path of ~3000 bytes through nested directories ---------------
    d = W
    for i in range(14):
        d = os.path.join(d, (b"%02d dir " % i) + b"d" * 200)
        os.mkdir(d)
    map_file("long_path", os.path.join(d, b"long file name"), shared=True)

    # ---- offset above 4 GiB in a sparse file -------------------------------
    big = 5 << 30
    map_file("offset_5g", os.path.join(W, b"sparse"), offset=big, size=big + 4 * PAGE)

    # ---- unlinked files ---------------------------------------------------
    map_file("unlinked", os.path.join(W, b"gone"), unlink=True)
    map_file("unlinked_suffix", os.path.join(W, b"y (deleted)"), unlink=True, shared=True)
    map_file("unlinked_newline", os.path.join(W, b"gone\nwith\\012"), unlink=True)

    # ---- memfd --------------------------------------------------------------
    fd = os.memfd_create("mm test memfd")
    os.ftruncate(fd, 4 * PAGE)
    st = os.fstat(fd)
    p = mmap_(None, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    os.close(fd)
    add(
        "memfd",
        p,
        3 * PAGE,
        "rw-s",
        0,
        [os.major(st.st_dev), os.minor(st.st_dev)],
        st.st_ino,
        b"/memfd:mm test memfd",
        True,
        "memfd",
    )

    # ---- SysV shared memory -------------------------------------------------
    key = 0x4D4D0000 | (os.getpid() & 0xFFFF)
    shmid = libc.shmget(key, 2 * PAGE, IPC_CREAT | IPC_EXCL | 0o600)
    if shmid < 0:
        key = 0
        shmid = libc.shmget(key, 2 * PAGE, IPC_CREAT | 0o600)
    if shmid < 0:
        raise oserr("shmget")
    p = libc.shmat(shmid, None, 0)
    if p in (None, MAP_FAILED):
        raise oserr("shmat")
    libc.shmctl(shmid, IPC_RMID, None)  # destroyed when we detach / exit
    add("sysv", p, 2 * PAGE, "rw-s", 0, None, shmid, b"/SYSV%08x" % key, True, "sysv")

    # ---- shared anonymous ---------------------------------------------------
    p = mmap_(None, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)
    add("shared_anon", p, 2 * PAGE, "rw-s", 0, None, None, b"/dev/zero", True, "shmem")

    # ---- named anonymous ----------------------------------------------------
    p = isolated(3 * PAGE)
    mmap_(p, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    if libc.prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, 3 * PAGE, b"mm test anon") != 0:
        errors["anon_named"] = vma_name_error()
    else:
        add("anon_named", p, 3 * PAGE, "rw-p", 0, [0, 0], 0, b"[anon:mm test anon]", False, "anon")

    p = mmap_(None, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)
    if libc.prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, 2 * PAGE, b"mm test shmem") != 0:
        errors["anon_shmem_named"] = vma_name_error()
    else:
        add(
            "anon_shmem_named",
            p,
            2 * PAGE,
            "rw-s",
            0,
            None,
            None,
            b"[anon_shmem:mm test shmem]",
            False,
            "shmem",
        )

    # ---- nameless private anonymous and a no-access guard --------------------
    p = isolated(2 * PAGE)
    mmap_(p, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    add("anon_plain", p, 2 * PAGE, "rw-p", 0, [0, 0], 0, None, False, "anon")

    p = isolated(4 * PAGE)
    mmap_(p, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    add("guard", p, 4 * PAGE, "---p", 0, [0, 0], 0, None, False, "guard")

    # ---- hugetlb --------------------------------------------------------------
    if want_huge:
        huge = 2 << 20
        try:
            p = mmap_(None, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB)
        except OSError as e:
            errors["hugetlb"] = str(e)
        else:
            ctypes.memset(p, 1, 1)
            add("hugetlb", p, huge, "rw-p", 0, None, None, b"/anon_hugepage", True, "hugetlb")
    else:
        errors["hugetlb"] = "not requested (no huge pages reserved)"

    sys.stdout.write(json.dumps({"pid": os.getpid(), "entries": entries, "errors": errors}) + "\n")
    sys.stdout.flush()
    sys.stdin.readline()


if __name__ == "__main__":
    main()
