/* The Linux backend: /proc/PID/maps, made exact with PROCMAP_QUERY.
 *
 * The listing is the maps text, read with one read() loop and parsed in
 * place: the cheapest source the kernel has (smaps walks page tables under
 * the target's mmap lock).  The text is ambiguous in two ways, both rare, and
 * those regions alone are asked about again: a "\012" in a name may be an
 * escaped newline or those four characters (PROCMAP_QUERY returns the raw
 * bytes), and a " (deleted)" suffix may be part of a live file's name (the
 * file system says whether that name still leads to the mapped inode).
 */
#define _GNU_SOURCE
#include "core/mm.h"
#include "core/reader.h"
#include "core/switches.h"
#include "backends/linux.h"
#include "formats/elf.h"
#include "formats/procmaps.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif

/* From include/uapi/linux/fs.h (6.11); older headers lack it. */
struct mm_procmap_query {
    uint64_t size;
    uint64_t query_flags;
    uint64_t query_addr;
    uint64_t vma_start;
    uint64_t vma_end;
    uint64_t vma_flags;
    uint64_t vma_page_size;
    uint64_t vma_offset;
    uint64_t inode;
    uint32_t dev_major;
    uint32_t dev_minor;
    uint32_t vma_name_size;
    uint32_t build_id_size;
    uint64_t vma_name_addr;
    uint64_t build_id_addr;
};
_Static_assert(sizeof(struct mm_procmap_query) == 104,
               "struct procmap_query is 104 bytes in the kernel's ABI");
#define MM_PROCMAP_QUERY                      _IOWR('f', 17, struct mm_procmap_query)
#define MM_PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10

/* PF_KTHREAD from include/linux/sched.h, as /proc/PID/stat shows it. */
#define MM_PF_KTHREAD 0x00200000UL

/* The kernel hands out at most a page of maps text per read(). */
#define READ_CHUNK 4096

const char *
mm_backend_name(void)
{
    return "linux";
}

/* A path under a pid's procfs directory: the procfs root, the pid and up to
 * 95 bytes more ("map_files/" and two 16-digit addresses). */
#define PROC_PATH_MAX (MM_PROCFS_MAX + 96)

/* The procfs root the current backend call looks pids up in
 * (mm_target.procfs, "" for /proc), and whether its pids are the reader's
 * own, so that pid syscalls (pidfd_open, kill, process_vm_readv) name the
 * same process as its files.  Held for the length of one call rather than
 * passed through every helper that names a file of the target's. */
static _Thread_local const char *call_procfs = "";
static _Thread_local int call_pids_are_readers = 1;

static void
proc_path(char *buf, size_t size, long pid, const char *file)
{
    if (pid < 0) {
        snprintf(buf, size, "/proc/self/%s", file);
    }
    else {
        snprintf(buf, size, "%s/%ld/%s",
                 call_procfs[0] != '\0' ? call_procfs : "/proc", pid, file);
    }
}

/* Whether a pid syscall on pid reaches the process proc_path names. */
static int
pid_syscalls_apply(long pid)
{
    return pid < 0 || call_pids_are_readers;
}

/* Reads a small /proc file whole; returns its length or -1 with errno. */
static ssize_t
read_small_file(const char *path, char *buf, size_t size)
{
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return -1;
    }
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* ---- files inside a target's root ----
 *
 * See backends/linux.h.  openat2 resolves a path in a root atomically and
 * knows about renames under way; the walk does the same a component at a
 * time where the kernel lacks it (before 5.6) or a seccomp filter refuses it
 * (container runtimes answer ENOSYS or EPERM).
 */

#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif

/* From include/uapi/linux/openat2.h (5.6); older headers lack it. */
struct mm_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#define MM_RESOLVE_NO_MAGICLINKS 0x02
#define MM_RESOLVE_NO_SYMLINKS   0x04
#define MM_RESOLVE_IN_ROOT       0x10

/* PROC_SUPER_MAGIC: magic links live on procfs only. */
#define MM_PROC_SUPER_MAGIC 0x9fa0

/* The longest path the walk holds (PATH_MAX), symlink targets spliced in. */
#define MM_WALK_PATH_MAX 4096

/* What resolve_with_openat2 says when the kernel will not do it. */
#define OPENAT2_UNAVAILABLE (-2)

static int
resolve_with_openat2(int root, const char *path, unsigned flags)
{
    struct mm_open_how how;
    int fd = -1;

    memset(&how, 0, sizeof(how));
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = MM_RESOLVE_IN_ROOT | MM_RESOLVE_NO_MAGICLINKS;
    if (flags & MM_OPEN_NO_SYMLINKS) {
        how.resolve |= MM_RESOLVE_NO_SYMLINKS;
    }
    /* EAGAIN: a rename under the root moved something while the path was
     * resolved, and the kernel would not vouch for the result.  It stays an
     * error after a few tries: the walk, which cannot see renames, must not
     * be what a target that keeps renaming gets the reader to take. */
    for (int attempt = 0; attempt < 8; attempt++) {
        fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN) {
            break;
        }
    }
    /* ENOSYS before 5.6; ENOSYS or EPERM from a seccomp filter; EINVAL
     * where the kernel knows the call but not a flag. */
    if (fd < 0 && (errno == ENOSYS || errno == EPERM || errno == EINVAL)) {
        return OPENAT2_UNAVAILABLE;
    }
    return fd;
}

static int
same_inode(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int
on_procfs(int fd)
{
    struct statfs fs;
    return fstatfs(fd, &fs) == 0 && fs.f_type == MM_PROC_SUPER_MAGIC;
}

/* Closes fd and returns -1 with errno set to error. */
static int
fail_closing(int fd, int error)
{
    if (fd >= 0) {
        close(fd);
    }
    errno = error;
    return -1;
}

/* Splices a symlink's target in front of what is left of the path:
 * todo becomes target + todo[rest..].  0, or -1 with errno. */
static int
splice_link(char *todo, size_t rest, const char *target, size_t target_len)
{
    size_t rest_len = strlen(todo + rest);

    if (target_len + rest_len + 1 > MM_WALK_PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memmove(todo + target_len, todo + rest, rest_len + 1);
    memcpy(todo, target, target_len);
    return 0;
}

/* The walk: one component at a time from root, each opened O_PATH |
 * O_NOFOLLOW, so that nothing is opened and no symlink is followed by the
 * kernel.  A symlink's target is read and resolved here, from root when it
 * is absolute; ".." never climbs above root, counted by depth and checked
 * by identity.  Returns an O_PATH descriptor, or -1 with errno. */
static int
resolve_by_walk(int root, const char *path, unsigned flags)
{
    char *todo;
    char target[MM_WALK_PATH_MAX];
    size_t at = 0, depth = 0, len = strlen(path);
    struct stat root_st, st;
    int links = 0, cur, result = -1, error = 0;

    if (len == 0) {
        errno = ENOENT; /* as open("") */
        return -1;
    }
    if (len >= MM_WALK_PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (fstat(root, &root_st) != 0) {
        return -1;
    }
    todo = malloc(MM_WALK_PATH_MAX);
    if (todo == NULL) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(todo, path, len + 1);
    cur = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    while (cur >= 0) {
        size_t end;
        int last, slash_after, next;
        char saved;

        while (todo[at] == '/') {
            at++;
        }
        if (todo[at] == '\0') {
            result = cur; /* the path named a directory */
            cur = -1;
            break;
        }
        for (end = at; todo[end] != '\0' && todo[end] != '/'; end++) {
        }
        slash_after = todo[end] == '/';
        last = 1;
        for (size_t i = end; todo[i] != '\0'; i++) {
            if (todo[i] != '/') {
                last = 0;
                break;
            }
        }
        if (end - at == 1 && todo[at] == '.') {
            at = end;
            continue;
        }
        if (end - at == 2 && todo[at] == '.' && todo[at + 1] == '.') {
            at = end;
            if (depth == 0 ||
                (fstat(cur, &st) == 0 && same_inode(&st, &root_st))) {
                depth = 0;
                continue;
            }
            next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
            error = errno;
            close(cur);
            cur = next;
            depth--;
            continue;
        }
        saved = todo[end];
        todo[end] = '\0';
        next = openat(cur, todo + at, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        todo[end] = saved;
        if (next < 0 || fstat(next, &st) != 0) {
            error = errno;
            if (next >= 0) {
                close(next);
            }
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            ssize_t n;

            if ((flags & MM_OPEN_NO_SYMLINKS) || ++links > MM_SYMLINK_BUDGET ||
                on_procfs(next)) {
                error = ELOOP;
                close(next);
                break;
            }
            n = readlinkat(next, "", target, sizeof(target));
            error = n < 0                         ? errno
                    : n == 0                      ? ENOENT
                    : (size_t)n >= sizeof(target) ? ENAMETOOLONG
                                                  : 0;
            close(next);
            if (error != 0 || splice_link(todo, end, target, (size_t)n) != 0) {
                error = error != 0 ? error : errno;
                break;
            }
            at = 0;
            if (target[0] == '/') {
                close(cur);
                cur = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
                error = errno;
                depth = 0;
            }
            continue;
        }
        if (!last || slash_after) {
            if (!S_ISDIR(st.st_mode)) {
                error = ENOTDIR;
                close(next);
                break;
            }
            if (last) {
                result = next;
                break;
            }
            close(cur);
            cur = next;
            depth++;
            at = end;
            continue;
        }
        result = next;
        break;
    }
    if (cur >= 0) {
        close(cur);
    }
    else if (result < 0 && error == 0) {
        error = errno;
    }
    free(todo);
    if (result < 0) {
        errno = error != 0 ? error : ENOENT;
    }
    return result;
}

/* The regular file behind an O_PATH descriptor (closed here), opened for
 * reading; -1 with errno ENXIO for anything else.  Reopening through
 * /proc/self/fd opens that very file: no path is resolved again, so nothing
 * can be swapped in between. */
static int
reopen_regular(int path_fd, const struct stat *st)
{
    char again[64];
    int fd;

    if (!S_ISREG(st->st_mode)) {
        return fail_closing(path_fd, ENXIO);
    }
    snprintf(again, sizeof(again), "/proc/self/fd/%d", path_fd);
    fd = open(again, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        return fail_closing(path_fd, errno);
    }
    close(path_fd);
    return fd;
}

int
mm_linux_open_in_root(int root, const char *path, unsigned flags,
                      struct stat *st)
{
    struct stat found_st;
    int own_root = -1, found = OPENAT2_UNAVAILABLE;

    if (root == MM_READER_ROOT) {
        own_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (own_root < 0) {
            return -1;
        }
        root = own_root;
    }
    if (!(flags & MM_OPEN_WALK)) {
        found = resolve_with_openat2(root, path, flags);
    }
    if (found == OPENAT2_UNAVAILABLE) {
        found = resolve_by_walk(root, path, flags);
    }
    if (own_root >= 0) {
        int error = errno;
        close(own_root);
        errno = error;
    }
    if (found < 0) {
        return -1;
    }
    if (fstat(found, &found_st) != 0) {
        return fail_closing(found, errno);
    }
    if (st != NULL) {
        *st = found_st;
    }
    if (flags & MM_OPEN_ANY_TYPE) {
        return found;
    }
    return reopen_regular(found, &found_st);
}

static int
same_file(const struct stat *st, const mm_region *region)
{
    return (uint64_t)st->st_ino == region->inode &&
           major(st->st_dev) == region->dev_major &&
           minor(st->st_dev) == region->dev_minor;
}

/* The inode alone: on overlayfs a mapping shows the lower file system's
 * device while fstat through a path shows the overlay's. */
static int
same_inode_number(const struct stat *st, const mm_region *region)
{
    return (uint64_t)st->st_ino == region->inode;
}

/* A target's root, for finding the files its mappings name.  The kernel
 * prints a mapping's path as d_path() makes it for the reader: from the
 * reader's root when the file is reachable from there (a chroot'd target's
 * /opt/x.so shows as /srv/jail/opt/x.so), else from the root of the file's
 * mount namespace (a container's /opt/x.so shows as /opt/x.so).  readlink of
 * /proc/PID/root is printed the same way, so the target's own path is the
 * mapping's path less that prefix. */
typedef struct target_root {
    long pid;
    unsigned flags;     /* MM_OPEN_* for every file opened in it */
    int opened;         /* the fields below are filled */
    int fd;             /* /proc/PID/root, O_PATH; -1 when it cannot be had */
    int reader_differs; /* the reader's root is another directory */
    size_t prefix_len;  /* 0 when the link reads "/" */
    char prefix[MM_WALK_PATH_MAX];
} target_root;

static void
target_root_init(target_root *root, long pid, unsigned switches)
{
    root->pid = pid;
    root->flags = (switches & MM_SWITCH_OPEN_WALK) ? MM_OPEN_WALK : 0;
    root->opened = 0;
    root->fd = -1;
    root->reader_differs = 1;
    root->prefix_len = 0;
}

static void
target_root_open(target_root *root)
{
    char path[PROC_PATH_MAX];
    struct stat theirs, mine;
    ssize_t n;

    if (root->opened) {
        return;
    }
    root->opened = 1;
    proc_path(path, sizeof(path), root->pid, "root");
    root->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root->fd < 0) {
        return;
    }
    n = readlink(path, root->prefix, sizeof(root->prefix) - 1);
    if (n > 1 && root->prefix[0] == '/') {
        root->prefix_len = (size_t)n;
        root->prefix[n] = '\0';
    }
    if (fstat(root->fd, &theirs) == 0 && stat("/", &mine) == 0) {
        root->reader_differs = !same_inode(&theirs, &mine);
    }
}

static void
target_root_close(target_root *root)
{
    if (root->fd >= 0) {
        close(root->fd);
        root->fd = -1;
    }
}

/* What finding a mapping's file came to, beside a descriptor. */
enum {
    FOUND_NONE = -1,  /* no path leads to it */
    FOUND_NOMEM = -2, /* out of memory */
};

/* Opens the file a mapping's name (name_len bytes, not NUL-terminated)
 * leads to, if it is want's (by matches): first as the target sees the
 * name, inside its root; then, where the reader's root is another, as the
 * reader sees it, with no symlink followed: the kernel printed the path of
 * the very file, which has none on it, and a symlink there now was put
 * there since.  Returns the descriptor (O_PATH with MM_OPEN_ANY_TYPE in
 * open_flags), and the path opened in *source (malloc'd, when source is not
 * NULL: /proc/PID/root and the target's path, or the reader's path); or
 * one of FOUND_*. */
static int
open_named_file(target_root *root, const char *name, size_t name_len,
                unsigned open_flags,
                int (*matches)(const struct stat *, const mm_region *),
                const mm_region *want, char **source)
{
    char *path;
    const char *theirs;
    struct stat st;
    int fd;

    if (source != NULL) {
        *source = NULL;
    }
    if (name_len == 0 || name[0] != '/' || name_len >= MM_WALK_PATH_MAX ||
        memchr(name, '\0', name_len) != NULL) {
        return FOUND_NONE; /* a name with a NUL in it cannot be a path */
    }
    path = malloc(name_len + 1);
    if (path == NULL) {
        return FOUND_NOMEM;
    }
    memcpy(path, name, name_len);
    path[name_len] = '\0';
    target_root_open(root);
    open_flags |= root->flags;
    theirs = path;
    if (root->prefix_len > 0 && name_len > root->prefix_len &&
        memcmp(path, root->prefix, root->prefix_len) == 0 &&
        path[root->prefix_len] == '/') {
        theirs = path + root->prefix_len;
    }
    if (root->fd >= 0) {
        fd = mm_linux_open_in_root(root->fd, theirs, open_flags, &st);
        if (fd >= 0 && matches(&st, want)) {
            if (source != NULL) {
                char prefix[PROC_PATH_MAX];
                size_t prefix_len, len = strlen(theirs);
                proc_path(prefix, sizeof(prefix), root->pid, "root");
                prefix_len = strlen(prefix);
                *source = malloc(prefix_len + len + 1);
                if (*source == NULL) {
                    close(fd);
                    free(path);
                    return FOUND_NOMEM;
                }
                memcpy(*source, prefix, prefix_len);
                memcpy(*source + prefix_len, theirs, len + 1);
            }
            free(path);
            return fd;
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    if (root->reader_differs) {
        fd = mm_linux_open_in_root(MM_READER_ROOT, path,
                                   open_flags | MM_OPEN_NO_SYMLINKS, &st);
        if (fd >= 0 && same_file(&st, want)) {
            if (source != NULL) {
                *source = path;
                path = NULL;
            }
            free(path);
            return fd;
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    free(path);
    return FOUND_NONE;
}

typedef struct proc_state {
    char state;          /* R, S, D, Z, X ...; 0 when the process is gone */
    unsigned long flags; /* PF_* */
} proc_state;

/* The state letter and flags of /proc/PID/stat.  The command name is in
 * parentheses and may hold anything, so fields are counted from the last ')'.
 */
static int
read_proc_state(long pid, proc_state *out)
{
    char path[PROC_PATH_MAX];
    char buf[1024];
    char *p;

    out->state = 0;
    out->flags = 0;
    proc_path(path, sizeof(path), pid, "stat");
    if (read_small_file(path, buf, sizeof(buf)) < 0) {
        return -1;
    }
    p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ') {
        return -1;
    }
    p += 2;
    out->state = *p;
    /* state ppid pgrp session tty_nr tpgid flags */
    for (int field = 0; field < 6 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p != NULL) {
            p++;
        }
    }
    if (p != NULL) {
        out->flags = strtoul(p, NULL, 10);
    }
    return 0;
}

/* The ids on one "Uid:" or "Gid:" line of /proc/PID/status. */
static int
read_status_ids(long pid, const char *key, unsigned long ids[4])
{
    char path[PROC_PATH_MAX];
    char buf[4096];
    char *line;
    size_t key_len = strlen(key);

    proc_path(path, sizeof(path), pid, "status");
    if (read_small_file(path, buf, sizeof(buf)) < 0) {
        return -1;
    }
    for (line = buf; line != NULL && *line; line = strchr(line, '\n')) {
        if (*line == '\n') {
            line++;
        }
        if (strncmp(line, key, key_len) == 0) {
            char *p = line + key_len;
            for (int i = 0; i < 4; i++) {
                ids[i] = strtoul(p, &p, 10);
            }
            return 0;
        }
    }
    return -1;
}

/* Why the kernel refused to let us read the map, for a person to act on.
 * The check is ptrace's PTRACE_MODE_READ: the caller needs the target's real,
 * effective and saved uid and gid, and the target must be dumpable, unless the
 * caller has CAP_SYS_PTRACE.  Yama's ptrace_scope does not apply to reads. */
static mm_status
access_denied(long pid, int error, mm_err *err)
{
    unsigned long uids[4], gids[4];
    unsigned long me = (unsigned long)geteuid();
    unsigned long my_group = (unsigned long)getegid();
    char dir[PROC_PATH_MAX];
    struct stat st;

    if (error == EPERM) {
        return mm_err_set(
            err, MM_ERR_ACCESS, error,
            "access denied to process %ld: /proc hides other users' "
            "processes (mounted with hidepid=noaccess); run as that user or "
            "root, or be in the group named by /proc's gid= option",
            pid);
    }
    if (read_status_ids(pid, "Uid:", uids) == 0 &&
        (uids[0] != me || uids[1] != me || uids[2] != me)) {
        return mm_err_set(
            err, MM_ERR_ACCESS, error,
            "access denied to process %ld: it runs as uid %lu and you are "
            "uid %lu; reading another user's memory map needs root or "
            "CAP_SYS_PTRACE",
            pid, uids[1], me);
    }
    if (read_status_ids(pid, "Gid:", gids) == 0 &&
        (gids[0] != my_group || gids[1] != my_group || gids[2] != my_group)) {
        return mm_err_set(
            err, MM_ERR_ACCESS, error,
            "access denied to process %ld: it runs as gid %lu and you are "
            "gid %lu (a set-group-ID program?); reading it needs root or "
            "CAP_SYS_PTRACE",
            pid, gids[1], my_group);
    }
    /* The files under /proc/PID belong to root while the process is not
     * dumpable (the directory can keep its owner). */
    proc_path(dir, sizeof(dir), pid, "maps");
    if (stat(dir, &st) == 0 && st.st_uid == 0 && me != 0) {
        return mm_err_set(
            err, MM_ERR_ACCESS, error,
            "access denied to process %ld: it is not dumpable (it called "
            "prctl(PR_SET_DUMPABLE, 0), or runs a set-user-ID or file-"
            "capability program); only root or CAP_SYS_PTRACE can read it",
            pid);
    }
    return mm_err_set(err, MM_ERR_ACCESS, error,
                      "access denied to process %ld: the kernel's ptrace "
                      "access check refused (%s); a security module may "
                      "forbid it, and root or CAP_SYS_PTRACE usually allows "
                      "it",
                      pid, strerror(error));
}

/* The target is gone, or a zombie: say which. */
static mm_status
process_gone(long pid, mm_err *err)
{
    proc_state state;

    if (read_proc_state(pid, &state) == 0 &&
        (state.state == 'Z' || state.state == 'X')) {
        return mm_err_set(err, MM_ERR_ZOMBIE, 0,
                          "process %ld is a zombie: it has exited and has no "
                          "memory map, and waits for its parent to reap it",
                          pid);
    }
    return mm_err_set(
        err, MM_ERR_NO_PROCESS, ESRCH,
        "process %ld does not exist (or exited while being read)", pid);
}

static mm_status
open_failed(long pid, int error, mm_err *err)
{
    switch (error) {
    case EACCES:
    case EPERM:
        return access_denied(pid, error, err);
    case ENOENT:
    case ESRCH:
        /* hidepid=invisible makes a live process look missing. */
        if (pid > 0 && pid_syscalls_apply(pid) &&
            (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
            return mm_err_set(
                err, MM_ERR_ACCESS, error,
                "access denied to process %ld: it exists, but /proc hides "
                "it (mounted with hidepid=invisible); run as its user or "
                "root, or be in the group named by /proc's gid= option",
                pid);
        }
        return process_gone(pid, err);
    default:
        return mm_err_set(err, MM_ERR_OS, error,
                          "cannot open the memory map of process %ld: %s", pid,
                          strerror(error));
    }
}

/* Reads between two looks at the caller's interrupt check: 64 KiB of text,
 * a few hundred microseconds of the kernel's work. */
#define READS_PER_CHECK 16

/* Reads an open /proc file to its end into list->bytes; 0, or -1 with errno
 * (EINTR: the caller's interrupt check said stop). */
static int
read_all(int fd, mm_list *list, const mm_target *target)
{
    list->bytes_len = 0;
    for (unsigned reads = 1;; reads++) {
        ssize_t n;

        if (reads % READS_PER_CHECK == 0 && mm_target_cancelled(target)) {
            errno = EINTR;
            return -1;
        }

        if (list->bytes_cap - list->bytes_len < READ_CHUNK &&
            mm_list_reserve_bytes(list, list->bytes_cap
                                            ? list->bytes_cap
                                            : 16 * READ_CHUNK) != 0) {
            errno = ENOMEM;
            return -1;
        }
        n = read(fd, list->bytes + list->bytes_len,
                 list->bytes_cap - list->bytes_len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            return 0;
        }
        list->bytes_len += (size_t)n;
    }
}

/* Whether the process behind pidfd has exited (or is a zombie). */
static int
pidfd_exited(int pidfd)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    int n;

    do {
        n = poll(&pfd, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n > 0 && (pfd.revents & (POLLIN | POLLHUP)) != 0;
}

/* One PROCMAP_QUERY: the VMA covering addr (or, with
 * MM_PROCMAP_QUERY_COVERING_OR_NEXT_VMA, the next one), and its name as raw
 * bytes in a malloc'd *name of *name_len bytes (NULL and 0 when it has none;
 * the " (deleted)" suffix as the kernel writes it).  0 on success, else -1
 * with errno: ENOENT for no such VMA, ESRCH when the address space is gone,
 * ENOTTY before Linux 6.11. */
static int
procmap_query(int maps_fd, uint64_t addr, uint64_t flags,
              struct mm_procmap_query *query, char **name, size_t *name_len)
{
    size_t size = 4096 + MM_DELETED_SUFFIX_LEN + 1;

    *name = NULL;
    *name_len = 0;
    for (int attempt = 0; attempt < 4; attempt++, size *= 4) {
        char *buffer = malloc(size);
        int rc;

        if (buffer == NULL) {
            errno = ENOMEM;
            return -1;
        }
        memset(query, 0, sizeof(*query));
        query->size = sizeof(*query);
        query->query_flags = flags;
        query->query_addr = addr;
        query->vma_name_size = (uint32_t)size;
        query->vma_name_addr = (uint64_t)(uintptr_t)buffer;
        rc = ioctl(maps_fd, MM_PROCMAP_QUERY, query);
        if (rc != 0) {
            int error = errno;
            free(buffer);
            if (error == ENAMETOOLONG) {
                continue;
            }
            errno = error;
            return -1;
        }
        if (query->vma_name_size == 0) {
            free(buffer);
            return 0;
        }
        /* vma_name_size counts the terminating NUL. */
        *name = buffer;
        *name_len = query->vma_name_size - 1;
        return 0;
    }
    errno = ENAMETOOLONG;
    return -1;
}

/* Length of name without the " (deleted)" suffix d_path() adds, and whether
 * it had one. */
static size_t
strip_deleted_suffix(const char *name, size_t len, int *had_suffix)
{
    *had_suffix = len >= MM_DELETED_SUFFIX_LEN &&
                  memcmp(name + len - MM_DELETED_SUFFIX_LEN, MM_DELETED_SUFFIX,
                         MM_DELETED_SUFFIX_LEN) == 0;
    return *had_suffix ? len - MM_DELETED_SUFFIX_LEN : len;
}

/* Asks the kernel for the raw bytes of the name of the region at index, in
 * place of the text's escaped form.  Returns 0 when the name was replaced,
 * -1 when the kernel cannot say (older than 6.11, or the map changed). */
static int
query_exact_name(int maps_fd, mm_list *list, size_t index)
{
    struct mm_procmap_query query;
    uint64_t start = list->regions[index].start;
    uint64_t end = list->regions[index].end;
    char *name;
    size_t len;
    int had_suffix, rc;

    if (procmap_query(maps_fd, start, 0, &query, &name, &len) != 0) {
        return -1;
    }
    if (query.vma_start != start || query.vma_end != end || name == NULL) {
        free(name);
        return -1;
    }
    len = strip_deleted_suffix(name, len, &had_suffix);
    rc = mm_list_set_name(list, index, name, len);
    free(name);
    return rc;
}

/* A " (deleted)" suffix is also what a live file named "x (deleted)" looks
 * like.  The suffix was the kernel's when no file of the full name leads to
 * the mapped inode (looked for where the target sees it, then where the
 * reader does).  Inside the target's root the inode alone is compared: on
 * overlayfs the mapping shows the lower file system's device. */
static int
name_with_suffix_exists(target_root *root, const mm_list *list,
                        const mm_region *region)
{
    size_t len = region->name_len + MM_DELETED_SUFFIX_LEN;
    char *name = malloc(len);
    int fd;

    if (name == NULL) {
        return 0;
    }
    memcpy(name, list->bytes + region->name_off, region->name_len);
    memcpy(name + region->name_len, MM_DELETED_SUFFIX, MM_DELETED_SUFFIX_LEN);
    fd = open_named_file(root, name, len, MM_OPEN_ANY_TYPE, same_inode_number,
                         region, NULL);
    free(name);
    if (fd < 0) {
        return 0;
    }
    close(fd);
    return 1;
}

/* Puts the suffix back on a live file's name and clears deleted. */
static int
restore_suffix(mm_list *list, size_t index)
{
    mm_region *region = &list->regions[index];
    size_t len = region->name_len;
    char *name = malloc(len + MM_DELETED_SUFFIX_LEN);
    int rc;

    if (name == NULL) {
        return -1;
    }
    memcpy(name, list->bytes + region->name_off, len);
    memcpy(name + len, MM_DELETED_SUFFIX, MM_DELETED_SUFFIX_LEN);
    rc = mm_list_set_name(list, index, name, len + MM_DELETED_SUFFIX_LEN);
    free(name);
    region = &list->regions[index];
    region->flags &= (uint8_t)~MM_REGION_DELETED;
    region->kind = (uint8_t)mm_classify_linux(list->bytes + region->name_off,
                                              region->name_len, region->inode,
                                              region->prot, 0);
    return rc;
}

/* Whether a deleted region is one of the kernel's own unnamed objects:
 * shared anonymous memory ("/dev/zero"), a memfd, a SysV segment, anonymous
 * huge pages.  Their names are the kernel's (the classifier gave them their
 * kind) and they live on the kernel's internal mounts, whose devices have
 * major number 0 like every file system without a block device: a file of
 * such a name on a disk is still looked up. */
static int
is_kernel_object(const mm_region *region)
{
    return region->dev_major == 0 &&
           (region->kind == MM_KIND_SHMEM || region->kind == MM_KIND_MEMFD ||
            region->kind == MM_KIND_SYSV || region->kind == MM_KIND_HUGETLB);
}

/* The deleted names of one listing already looked up, by (name, device,
 * inode): a file mapped 60,000 times is one stat(), not 60,000.  An open
 * addressing table; the names are kept as offsets into the list's bytes,
 * which only grow, so they stay valid when a live name gets its suffix
 * back in a new copy. */
typedef struct deleted_seen {
    size_t name_off;
    uint32_t name_len;
    uint32_t hash; /* 0: the slot is empty */
    uint64_t inode;
    uint32_t dev_major;
    uint32_t dev_minor;
    int live; /* the name with its suffix leads to the mapped inode */
} deleted_seen;

typedef struct deleted_names {
    deleted_seen *slots;
    size_t capacity; /* a power of two, or 0 */
    size_t used;
    deleted_seen *last; /* neighbours are usually one file's mappings */
} deleted_names;

static uint32_t
deleted_hash(const mm_list *list, const mm_region *region)
{
    const unsigned char *name =
        (const unsigned char *)list->bytes + region->name_off;
    uint64_t hash = 1469598103934665603ull ^ region->inode;

    hash = (hash ^ region->dev_major) * 1099511628211ull;
    hash = (hash ^ region->dev_minor) * 1099511628211ull;
    for (uint32_t i = 0; i < region->name_len; i++) {
        hash = (hash ^ name[i]) * 1099511628211ull;
    }
    hash ^= hash >> 32;
    return (uint32_t)hash != 0 ? (uint32_t)hash : 1;
}

static int
deleted_matches(const mm_list *list, const deleted_seen *seen,
                const mm_region *region)
{
    return seen->inode == region->inode &&
           seen->dev_major == region->dev_major &&
           seen->dev_minor == region->dev_minor &&
           seen->name_len == region->name_len &&
           memcmp(list->bytes + seen->name_off, list->bytes + region->name_off,
                  region->name_len) == 0;
}

/* The slot for the region's key: its entry, or the empty slot it would go
 * in.  The table always has an empty slot. */
static deleted_seen *
deleted_slot(deleted_seen *slots, size_t capacity, const mm_list *list,
             const mm_region *region, uint32_t hash)
{
    size_t mask = capacity - 1;

    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        deleted_seen *slot = &slots[i];
        if (slot->hash == 0 ||
            (slot->hash == hash && deleted_matches(list, slot, region))) {
            return slot;
        }
    }
}

/* Room for one more entry, the load kept at most one half; 0 on success. */
static int
deleted_grow(deleted_names *seen)
{
    size_t capacity = seen->capacity ? seen->capacity * 2 : 64;
    deleted_seen *slots;

    if ((seen->used + 1) * 2 <= seen->capacity) {
        return 0;
    }
    if (capacity > SIZE_MAX / sizeof(*slots)) {
        return -1;
    }
    slots = calloc(capacity, sizeof(*slots));
    if (slots == NULL) {
        return -1;
    }
    for (size_t i = 0; i < seen->capacity; i++) {
        const deleted_seen *old = &seen->slots[i];
        if (old->hash != 0) {
            size_t mask = capacity - 1, j = old->hash & mask;
            while (slots[j].hash != 0) {
                j = (j + 1) & mask;
            }
            slots[j] = *old;
        }
    }
    free(seen->slots);
    seen->slots = slots;
    seen->capacity = capacity;
    seen->last = NULL;
    return 0;
}

/* Whether the deleted region's name with its suffix is a live file's,
 * looked up once per (name, device, inode) of the listing. */
static int
deleted_name_is_live(target_root *root, deleted_names *seen,
                     const mm_list *list, const mm_region *region)
{
    uint32_t hash;
    deleted_seen *slot;
    int live;

    if (seen->last != NULL && deleted_matches(list, seen->last, region)) {
        return seen->last->live;
    }
    hash = deleted_hash(list, region);
    if (seen->capacity != 0) {
        slot = deleted_slot(seen->slots, seen->capacity, list, region, hash);
        if (slot->hash != 0) {
            seen->last = slot;
            return slot->live;
        }
    }
    live = name_with_suffix_exists(root, list, region);
    if (deleted_grow(seen) != 0) {
        return live; /* out of memory: the answer, just not remembered */
    }
    slot = deleted_slot(seen->slots, seen->capacity, list, region, hash);
    slot->name_off = region->name_off;
    slot->name_len = region->name_len;
    slot->hash = hash;
    slot->inode = region->inode;
    slot->dev_major = region->dev_major;
    slot->dev_minor = region->dev_minor;
    slot->live = live;
    seen->used++;
    seen->last = slot;
    return live;
}

/* Settles the two ambiguities of the text for the regions that have them.
 * PROCMAP_QUERY is asked through a maps file: *maps_fd, opened here when it
 * is -1 (after reading smaps, which has no ioctl) and then left open.
 * MM_ERR_CANCELLED when the interrupt check said stop (a listing of many
 * deleted files is a look-up each), else MM_OK. */
static mm_status
make_names_exact(const mm_target *target, int *maps_fd, unsigned flags,
                 mm_list *list)
{
    long pid = target->pid;
    target_root root;
    deleted_names seen = {0};
    mm_status status = MM_OK;

    target_root_init(&root, pid, flags);
    for (size_t i = 0; i < list->count; i++) {
        mm_region *region = &list->regions[i];

        if (i % 4096 == 4095 && mm_target_cancelled(target)) {
            status = MM_ERR_CANCELLED;
            break;
        }

        if (region->flags & MM_REGION_UNESCAPED &&
            !(flags & MM_SWITCH_TEXT_ONLY)) {
            if (*maps_fd < 0) {
                char path[PROC_PATH_MAX];
                proc_path(path, sizeof(path), pid, "maps");
                *maps_fd = open(path, O_RDONLY | O_CLOEXEC);
            }
            if (*maps_fd >= 0 && query_exact_name(*maps_fd, list, i) == 0) {
                region = &list->regions[i];
                region->flags &= (uint8_t)~MM_REGION_UNESCAPED;
            }
        }
        if (region->flags & MM_REGION_DELETED && !is_kernel_object(region) &&
            deleted_name_is_live(&root, &seen, list, region)) {
            restore_suffix(list, i);
        }
    }
    target_root_close(&root);
    free(seen.slots);
    return status;
}

/* Whether the address space read through maps_fd still exists.  The text of
 * a process that exits mid-read just stops: the kernel drops the address
 * space early in exit, before the pidfd says anything, so a text that looks
 * complete proves nothing until the address space is seen to outlive it. */
static int
address_space_alive(int maps_fd)
{
    struct mm_procmap_query query;
    char byte;

    memset(&query, 0, sizeof(query));
    query.size = sizeof(query);
    query.query_flags = MM_PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
    if (ioctl(maps_fd, MM_PROCMAP_QUERY, &query) == 0) {
        return 1;
    }
    if (errno == ESRCH) {
        return 0;
    }
    if (errno != ENOTTY && errno != EINVAL) {
        return 1; /* it answered, so it had an address space to ask */
    }
    /* Before 6.11: the first line of the text comes back while it lives. */
    if (lseek(maps_fd, 0, SEEK_SET) != 0) {
        return 0;
    }
    return read(maps_fd, &byte, 1) > 0;
}

/* Whether the process behind pid (and pidfd, when there is one) has exited or
 * is a zombie. */
static int
process_exited(long pid, int pidfd)
{
    proc_state state;

    if (pidfd >= 0) {
        return pidfd_exited(pidfd);
    }
    /* No pidfd (a thread id, or a kernel before 5.3): the state is the best
     * there is to see. */
    return read_proc_state(pid, &state) != 0 || state.state == 'Z' ||
           state.state == 'X';
}

enum read_outcome { READ_DONE, READ_AGAIN, READ_FAILED };

/* Whether the pid is a kernel thread, which has no user address space. */
static int
is_kernel_thread(long pid)
{
    proc_state state;
    return read_proc_state(pid, &state) == 0 &&
           (state.flags & MM_PF_KTHREAD) && state.state != 'Z';
}

/* How long a read waits, in all, for execve to finish loading a program:
 * far longer than mapping a program and its interpreter takes, and short
 * enough that a process which only looks like one being loaded (it set its
 * code range to nothing with prctl(PR_SET_MM)) costs little. */
#define LOADER_BUDGET_US 100000L

/* The fourth figure of /proc/PID/statm: the pages between the start and the
 * end of the program's code.  0 on success. */
static int
read_statm_text(long pid, unsigned long *text)
{
    char path[PROC_PATH_MAX];
    char buf[256];
    char *p = buf;
    ssize_t n;
    int fd;

    proc_path(path, sizeof(path), pid, "statm");
    /* One read: the kernel writes the seven figures whole at once, and
     * this runs before every listing of another process. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    do {
        n = read(fd, buf, sizeof(buf) - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    for (int field = 0; field < 3; field++) {
        p = strchr(p, ' ');
        if (p == NULL) {
            return -1;
        }
        p++;
    }
    *text = strtoul(p, NULL, 10);
    return 0;
}

/* Waits, within *budget_us, until the program the process runs is loaded
 * whole.  execve puts the new address space in place, and lets readers in,
 * before it maps the program, its interpreter and the vdso; only when all
 * of them are there does it record where the code is (mm->start_code and
 * end_code, 0 in a new address space), which statm shows as its text
 * figure.  So 0 pages of text in a running process is an execve still
 * loading; a process that does not run (asleep, stopped, a zombie) is in no
 * execve, and neither is a kernel thread, whatever the figure. */
static void
wait_for_loader(long pid, long *budget_us)
{
    long delay_us = 50;

    while (*budget_us > 0) {
        unsigned long text;
        proc_state state;
        struct timespec pause;

        if (read_statm_text(pid, &text) != 0 || text != 0 ||
            read_proc_state(pid, &state) != 0 ||
            (state.state != 'R' && state.state != 'D') ||
            (state.flags & MM_PF_KTHREAD)) {
            return;
        }
        if (delay_us > *budget_us) {
            delay_us = *budget_us;
        }
        pause.tv_sec = 0;
        pause.tv_nsec = delay_us * 1000;
        nanosleep(&pause, NULL);
        *budget_us -= delay_us;
        delay_us = delay_us < 5000 ? delay_us * 2 : 5000;
    }
}

/* One open and read of /proc/PID/<file> into out->bytes.  *fd is left open
 * for the name queries.  READ_AGAIN: the process is alive but the address
 * space read is gone: it called execve mid-read (read the new one), or it is
 * exiting and the pidfd does not say so yet (the next read finds nothing).
 * one_piece: the kernel writes the file whole in one go (smaps_rollup), so
 * it cannot be cut short. */
static enum read_outcome
read_proc_text(const mm_target *target, int pidfd, const char *file,
               int one_piece, long *loader_budget_us, int *fd, mm_list *out,
               mm_err *err)
{
    long pid = target->pid;
    char path[PROC_PATH_MAX];

    proc_path(path, sizeof(path), pid, file);
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0 && errno == ESRCH && pid >= 0) {
        /* smaps_rollup refuses at open when there is no address space. */
        if (is_kernel_thread(pid)) {
            out->bytes_len = 0;
            return READ_DONE;
        }
        process_gone(pid, err);
        return READ_FAILED;
    }
    if (*fd < 0) {
        open_failed(pid, errno, err);
        return READ_FAILED;
    }
    if (pid >= 0) {
        /* The address space the descriptor holds is the one the process
         * had at the open; if it is still loading, wait for the loader.  If
         * another execve has replaced it since, the read below finds it
         * gone and the caller reads again. */
        wait_for_loader(pid, loader_budget_us);
    }
    if (read_all(*fd, out, target) != 0) {
        int error = errno;
        if (error == EINTR) {
            mm_err_set(err, MM_ERR_CANCELLED, 0, "interrupted");
        }
        else if (error == ENOMEM) {
            mm_err_set(err, MM_ERR_NOMEM, error, "out of memory");
        }
        else if (error == ESRCH && pid >= 0 && is_kernel_thread(pid)) {
            out->bytes_len = 0; /* smaps_rollup says ESRCH for them */
            return READ_DONE;
        }
        else if (error == ESRCH) {
            process_gone(pid, err);
        }
        else {
            mm_err_set(err, MM_ERR_OS, error, "cannot read %s: %s", path,
                       strerror(error));
        }
        return READ_FAILED;
    }
    if (pid < 0) {
        return READ_DONE; /* the caller is alive, whatever it maps */
    }
    if (process_exited(pid, pidfd)) {
        process_gone(pid, err);
        return READ_FAILED;
    }
    if (out->bytes_len == 0) {
        return is_kernel_thread(pid) ? READ_DONE : READ_AGAIN;
    }
    if (!one_piece && !address_space_alive(*fd)) {
        if (process_exited(pid, pidfd)) {
            process_gone(pid, err);
            return READ_FAILED;
        }
        return READ_AGAIN;
    }
    return READ_DONE;
}

/* How much text is parsed between two looks at the interrupt check: a few
 * milliseconds of parsing. */
#define PARSE_SLICE (2u << 20)

/* Whether the line at p opens a region ("start-end perms ..."), as every
 * line of maps does and the first line of each smaps block: a field line
 * starts with its key's capital letter. */
static int
opens_region(const char *p, const char *end)
{
    const char *digits = p;

    while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
        p++;
    }
    return p > digits && p < end && *p == '-';
}

/* Where the slice of text that starts at from ends: at the start of the
 * first line past from + PARSE_SLICE that opens a region, so that no
 * region's lines are split between slices; or at len. */
static size_t
slice_end(const char *text, size_t from, size_t len)
{
    size_t at = len - from > PARSE_SLICE ? from + PARSE_SLICE : len;

    while (at < len) {
        const char *newline = memchr(text + at, '\n', len - at);
        if (newline == NULL) {
            return len;
        }
        at = (size_t)(newline + 1 - text);
        if (opens_region(text + at, text + len)) {
            return at;
        }
    }
    return len;
}

/* Parses the text read into out->bytes, in slices, looking at the interrupt
 * check between them: a million regions take a tenth of a second to parse.
 * Each slice is parsed in place into the same list through a view of it
 * whose bytes start at the slice (mm_parse_maps parses text that already is
 * the list's bytes where it lies, and never grows them then); the offsets
 * it records are then made the list's own. */
static mm_status
parse_in_slices(const mm_target *target, mm_list *out, mm_err *err)
{
    size_t from = 0, len = out->bytes_len;
    mm_status status = MM_OK;

    if (len == 0) {
        return mm_parse_maps(out->bytes, 0, out, err);
    }
    /* Room for the whole text at once, as a single parse would take it
     * (one region per 48 bytes of maps text at most): growing the arrays
     * slice by slice would copy them again and again. */
    if (mm_list_reserve(out, len / 48 + 1) != 0) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    while (from < len && status == MM_OK) {
        size_t to = slice_end(out->bytes, from, len);
        size_t first_region = out->count, first_usage = out->usage_count;
        mm_list view = *out;

        view.bytes = out->bytes + from;
        view.bytes_len = view.bytes_cap = to - from;
        view.partial = NULL;
        status = mm_parse_maps(view.bytes, to - from, &view, err);
        out->regions = view.regions;
        out->count = view.count;
        out->capacity = view.capacity;
        out->usages = view.usages;
        out->usage_count = view.usage_count;
        out->usage_capacity = view.usage_capacity;
        for (size_t i = first_region; i < out->count; i++) {
            out->regions[i].name_off += from;
        }
        for (size_t i = first_usage; i < out->usage_count; i++) {
            out->usages[i].vmflags_off += from;
            out->usages[i].block_off += from;
        }
        if (status == MM_ERR_PARSE) {
            /* The line as a slice of the whole text, counted from its
             * start. */
            for (size_t i = 0; i < from; i++) {
                err->lineno += out->bytes[i] == '\n';
            }
            err->line_off += from;
        }
        from = to;
        if (status == MM_OK && from < len && mm_target_cancelled(target)) {
            status = mm_err_set(err, MM_ERR_CANCELLED, 0, "interrupted");
        }
    }
    return status;
}

/* Reads and parses /proc/PID/<file>, with the checks that make the result
 * either whole or an error.  *fd is left open (or -1) for the caller. */
static mm_status
read_and_parse(const mm_target *target, const char *file, int one_piece,
               int *fd, mm_list *out, mm_err *err)
{
    long pid = target->pid;
    int pidfd = -1;
    long loader_budget_us = LOADER_BUDGET_US;
    mm_status status;
    enum read_outcome outcome = READ_AGAIN;

    mm_list_clear(out);
    *fd = -1;
    if (pid >= 0 && pid_syscalls_apply(pid)) {
        /* A pidfd taken before the open pins the process meant: if it dies
         * and its pid is reused before the open, the pidfd still says it
         * died. */
        pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (pidfd < 0 && errno == ESRCH) {
            return open_failed(pid, ESRCH, err);
        }
    }
    for (int attempt = 0; attempt < 3 && outcome == READ_AGAIN; attempt++) {
        if (*fd >= 0) {
            close(*fd);
            *fd = -1;
        }
        outcome = read_proc_text(target, pidfd, file, one_piece,
                                 &loader_budget_us, fd, out, err);
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    if (outcome == READ_FAILED) {
        return err->status;
    }
    if (outcome == READ_AGAIN) {
        /* Still no address space to read: it is exiting. */
        return process_gone(pid, err);
    }
    status = parse_in_slices(target, out, err);
    if (status == MM_OK) {
        mm_list_normalize(out);
    }
    return status;
}

static mm_status
regions_in_procfs(const mm_target *target, unsigned flags, mm_list *out,
                  mm_err *err)
{
    int fd = -1;
    int usage = (flags & MM_REGIONS_USAGE) != 0;
    mm_status status;

    /* smaps costs the target: it walks page tables under the mmap lock. */
    status =
        read_and_parse(target, usage ? "smaps" : "maps", 0, &fd, out, err);
    if (status == MM_OK) {
        if (usage && fd >= 0) {
            close(fd); /* smaps has no PROCMAP_QUERY */
            fd = -1;
        }
        status = make_names_exact(target, &fd, flags, out);
        if (status != MM_OK) {
            mm_err_set(err, status, 0, "interrupted");
        }
    }
    if (status != MM_OK) {
        out->count = 0;
    }
    if (fd >= 0) {
        close(fd);
    }
    return status;
}

/* Whether this kernel has smaps_rollup (4.14 and newer). */
static int
have_smaps_rollup(void)
{
    return access("/proc/self/smaps_rollup", R_OK) == 0;
}

static mm_status
process_usage_in_procfs(const mm_target *target, unsigned flags, mm_list *out,
                        mm_err *err)
{
    int fd = -1;
    mm_status status;
    mm_usage total;
    uint64_t start, end;
    int first;

    if (!(flags & MM_SWITCH_NO_ROLLUP) && have_smaps_rollup()) {
        /* The kernel adds it up, holding the lock once: the cheapest way,
         * and the only one that has Pss_Anon, Pss_File and Pss_Shmem. */
        status = read_and_parse(target, "smaps_rollup", 1, &fd, out, err);
        if (fd >= 0) {
            close(fd);
        }
        if (status == MM_OK && out->count > 1) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "smaps_rollup has %zu regions, not one",
                              out->count);
        }
        return status;
    }
    status = read_and_parse(target, "smaps", 0, &fd, out, err);
    if (fd >= 0) {
        close(fd);
    }
    if (status != MM_OK || out->count == 0) {
        return status;
    }
    /* The gate area ([vsyscall]) is no VMA of the process: the rollup
     * leaves it out of its range and its figures, and so does this. */
    start = end = 0;
    first = 1;
    for (size_t i = 0; i < out->count; i++) {
        const mm_region *region = &out->regions[i];
        static const mm_usage none;
        const mm_usage *usage =
            region->usage ? &out->usages[region->usage - 1] : &none;

        if (region->kind == MM_KIND_VSYSCALL) {
            continue;
        }
        if (first) {
            start = region->start;
        }
        end = region->end;
        mm_usage_add(&total, usage, first);
        first = 0;
    }
    if (first) {
        out->count = 0;
        return MM_OK;
    }
    /* The rollup has no Size line: neither does this total. */
    total.present &= ~(1u << MM_USAGE_SIZE);
    /* One region over the whole range, as smaps_rollup shows it. */
    out->count = 0;
    out->usage_count = 0;
    {
        mm_region *rollup = mm_list_push(out);
        mm_usage *usage;
        if (rollup == NULL) {
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        rollup->start = start;
        rollup->end = end;
        rollup->kind = MM_KIND_SPECIAL;
        if (mm_list_set_name(out, 0, "[rollup]", 8) != 0 ||
            (usage = mm_list_add_usage(out, 0)) == NULL) {
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        *usage = total;
    }
    return MM_OK;
}

/* The gate area: a page every maps text of a 64-bit x86 process shows as
 * [vsyscall] (unless vsyscall=none), and of a 32-bit ARM one as [vectors].
 * It is no VMA of the process, so PROCMAP_QUERY never returns it.  The
 * kernel has one on these two alone (__HAVE_ARCH_GATE_AREA); a 32-bit x86
 * reader may look at a 64-bit process, so it knows [vsyscall]'s page too. */
#if defined(__x86_64__) || defined(__i386__)
#define MM_GATE_START 0xffffffffff600000ull
#define MM_GATE_END   0xffffffffff601000ull
#elif defined(__arm__)
#define MM_GATE_START 0xffff0000ull
#define MM_GATE_END   0xffff1000ull
#endif

static int
in_gate_area(uint64_t addr)
{
#ifdef MM_GATE_START
    return addr >= MM_GATE_START && addr < MM_GATE_END;
#else
    (void)addr;
    return 0;
#endif
}

/* The region PROCMAP_QUERY described, as the listing would show it. */
static mm_status
region_from_query(long pid, unsigned flags,
                  const struct mm_procmap_query *query, char *name,
                  size_t name_len, mm_list *out, mm_err *err)
{
    mm_region *region = mm_list_push(out);
    int deleted = 0;

    if (region == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    region->start = query->vma_start;
    region->end = query->vma_end;
    region->offset = query->vma_offset;
    region->inode = query->inode;
    region->dev_major = query->dev_major;
    region->dev_minor = query->dev_minor;
    /* PROCMAP_QUERY_VMA_READ/WRITE/EXEC/SHARED are our MM_PROT_* bits. */
    region->prot = (uint8_t)(query->vma_flags & 15);
    if (name != NULL) {
        name_len = strip_deleted_suffix(name, name_len, &deleted);
        if (mm_list_set_name(out, 0, name, name_len) != 0) {
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        region = &out->regions[0];
        if (deleted) {
            region->flags |= MM_REGION_DELETED;
        }
        region->kind = (uint8_t)mm_classify_linux(
            out->bytes + region->name_off, region->name_len, region->inode,
            region->prot, deleted);
        if (deleted && !is_kernel_object(region)) {
            target_root root;
            int exists;

            target_root_init(&root, pid, flags);
            exists = name_with_suffix_exists(&root, out, region);
            target_root_close(&root);
            if (exists && restore_suffix(out, 0) != 0) {
                return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
            }
        }
    }
    else {
        region->kind = (uint8_t)mm_classify_linux(NULL, 0, 0, region->prot, 0);
    }
    return MM_OK;
}

static mm_status
region_at_in_procfs(const mm_target *target, uint64_t addr, unsigned flags,
                    mm_list *out, mm_err *err)
{
    long pid = target->pid;
    int pidfd = -1, fd = -1, use_listing = 0;
    struct mm_procmap_query query;
    char *name = NULL;
    size_t name_len;
    mm_status status = MM_OK;

    mm_list_clear(out);
    if (flags & MM_SWITCH_FROM_LISTING) {
        return mm_region_at_from_listing(target, addr, out, err);
    }
    if (pid >= 0 && pid_syscalls_apply(pid)) {
        pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (pidfd < 0 && errno == ESRCH) {
            return open_failed(pid, ESRCH, err);
        }
    }
    {
        char path[PROC_PATH_MAX];
        proc_path(path, sizeof(path), pid, "maps");
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        status = open_failed(pid, errno, err);
        goto done;
    }
    /* The VMA that holds addr or, when none does, the next one above it:
     * one question answers both "which region" and "a gap". */
    if (procmap_query(fd, addr, MM_PROCMAP_QUERY_COVERING_OR_NEXT_VMA, &query,
                      &name, &name_len) == 0) {
        if (query.vma_start <= addr) {
            status = region_from_query(pid, flags, &query, name, name_len, out,
                                       err);
        }
    }
    else if (errno == ENOENT) {
        /* Nothing at or above addr.  Only the gate area, which is no VMA of
         * the process and which only the text shows, can still hold it. */
        use_listing = in_gate_area(addr);
    }
    else if (errno == ENOTTY || errno == EINVAL) {
        use_listing = 1; /* before Linux 6.11 */
    }
    else if (errno == ESRCH) {
        /* No address space: a kernel thread has none to look in. */
        status =
            pid >= 0 && is_kernel_thread(pid) ? MM_OK : process_gone(pid, err);
    }
    else {
        status = mm_err_set(err, MM_ERR_OS, errno, "PROCMAP_QUERY failed: %s",
                            strerror(errno));
    }
    free(name);
    if (status == MM_OK && !use_listing && pidfd >= 0 && pidfd_exited(pidfd)) {
        status = process_gone(pid, err);
    }

done:
    if (fd >= 0) {
        close(fd);
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    if (status != MM_OK) {
        out->count = 0;
        return status;
    }
    return use_listing ? mm_region_at_from_listing(target, addr, out, err)
                       : MM_OK;
}

/* What each Yama ptrace_scope above 0 allows, and what would allow the
 * read (Documentation/admin-guide/LSM/Yama.rst). */
static const char *const yama_scopes[4] = {
    [1] = "which lets a process read only its descendants; run as root, give "
          "the reader CAP_SYS_PTRACE, or set kernel.yama.ptrace_scope=0",
    [2] = "which needs CAP_SYS_PTRACE (root)",
    [3] = "which forbids it to every process until reboot",
};

/* Why the kernel refused to let us read the target's memory: ptrace's
 * PTRACE_MODE_ATTACH check, where Yama's ptrace_scope applies too. */
static mm_status
memory_access_denied(long pid, int error, mm_err *err)
{
    char buf[16];
    int scope = -1;

    if (read_small_file("/proc/sys/kernel/yama/ptrace_scope", buf,
                        sizeof(buf)) > 0) {
        scope = atoi(buf);
    }
    if (scope >= 1 && scope <= 3) {
        return mm_err_set(err, MM_ERR_ACCESS, error,
                          "cannot read the memory of process %ld: Yama's "
                          "ptrace_scope is %d, %s",
                          pid, scope, yama_scopes[scope]);
    }
    return access_denied(pid, error == EPERM ? EACCES : error, err);
}

/* Reads the memory of a pid the reader cannot name in a syscall (it belongs
 * to another pid namespace's procfs) through that procfs's PID/mem, which
 * the kernel guards with the same ptrace access check. */
static mm_status
read_memory_by_file(long pid, uint64_t addr, void *buf, size_t len,
                    size_t *got, mm_err *err)
{
    char path[PROC_PATH_MAX];
    size_t done = 0;
    int fd;

    proc_path(path, sizeof(path), pid, "mem");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == EACCES || errno == EPERM) {
            return memory_access_denied(pid, errno, err);
        }
        return open_failed(pid, errno, err);
    }
    while (done < len && addr + done <= (uint64_t)INT64_MAX) {
        ssize_t n =
            pread(fd, (char *)buf + done, len - done, (off_t)(addr + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break; /* EIO: unmapped or unreadable, a short read */
        }
        done += (size_t)n;
    }
    close(fd);
    *got = done;
    return MM_OK;
}

static mm_status
read_memory_in_procfs(const mm_target *target, uint64_t addr, void *buf,
                      size_t len, size_t *got, mm_err *err)
{
    long pid = target->pid;
    pid_t real_pid = pid < 0 ? getpid() : (pid_t)pid;
    size_t done = 0;

    *got = 0;
    if (!pid_syscalls_apply(pid)) {
        return read_memory_by_file(pid, addr, buf, len, got, err);
    }
    while (done < len) {
        struct iovec local = {.iov_base = (char *)buf + done,
                              .iov_len = len - done};
        struct iovec remote = {.iov_base = (void *)(uintptr_t)(addr + done),
                               .iov_len = len - done};
        ssize_t n = process_vm_readv(real_pid, &local, 1, &remote, 1, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EFAULT) {
            break; /* unmapped or unreadable: a short read */
        }
        if (n < 0 && (errno == EPERM || errno == EACCES)) {
            return memory_access_denied(pid, errno, err);
        }
        if (n < 0 && errno == ESRCH) {
            return process_gone(pid, err);
        }
        if (n < 0) {
            return mm_err_set(err, MM_ERR_OS, errno,
                              "cannot read the memory of process %ld: %s", pid,
                              strerror(errno));
        }
        if (n == 0) {
            break;
        }
        done += (size_t)n;
    }
    *got = done;
    return MM_OK;
}

/* ---- images ----
 *
 * An image is a run of regions of one file (path, inode and device) that
 * starts with the mapping of file offset 0, as ld.so and the kernel map an
 * ELF file; plus the vdso, which has no file.  The ELF headers are read from
 * the very file the target has mapped, never from whatever its path names
 * now: /proc/PID/map_files (CAP_SYS_ADMIN), /proc/PID/exe, or the path in
 * the target's root when it still leads to the mapped inode; and otherwise
 * from the target's own memory.
 */

/* The longest PROCFS/PID/... prefix written here ("PROCFS/%ld/map_files/"
 * plus two 16-digit addresses and a dash). */

/* How the auxiliary vector names what it holds (<elf.h> values). */
#define MM_AT_NULL   0
#define MM_AT_PAGESZ 6
#define MM_AT_BASE   7
#define MM_AT_ENTRY  9

/* What images need of the target beyond its regions. */
typedef struct image_scan {
    const mm_target *target;
    const mm_list *regions;
    uint64_t page_size;
    uint64_t at_entry; /* 0 when /proc/PID/auxv could not be read */
    uint64_t at_base;  /* ld.so's base; 0 for a static executable */
    int have_auxv;
    int have_exe; /* exe_st holds the stat of /proc/PID/exe */
    struct stat exe_st;
    target_root *root; /* where the paths of its mappings are looked up */
} image_scan;

/* Decodes an auxiliary vector of word-sized pairs; 0 when it looks like one
 * (ends in AT_NULL and says the page size this system has). */
static int
parse_auxv(const unsigned char *data, size_t len, size_t word,
           uint64_t page_size, image_scan *scan)
{
    int ended = 0, page_seen = 0;

    scan->at_entry = scan->at_base = 0;
    for (size_t off = 0; off + 2 * word <= len; off += 2 * word) {
        uint64_t key = 0, value = 0;
        if (word == 8) {
            memcpy(&key, data + off, 8);
            memcpy(&value, data + off + 8, 8);
        }
        else {
            uint32_t k, v;
            memcpy(&k, data + off, 4);
            memcpy(&v, data + off + 4, 4);
            key = k;
            value = v;
        }
        if (key == MM_AT_NULL) {
            ended = 1;
            break;
        }
        if (key == MM_AT_PAGESZ && value == page_size) {
            page_seen = 1;
        }
        else if (key == MM_AT_ENTRY) {
            scan->at_entry = value;
        }
        else if (key == MM_AT_BASE) {
            scan->at_base = value;
        }
    }
    return ended && page_seen ? 0 : -1;
}

/* AT_ENTRY and AT_BASE, for telling the executable and ld.so apart.  A
 * 32-bit target's vector has 4-byte words even when read by a 64-bit
 * reader: the width that decodes to a sane vector is the one. */
static void
read_auxv(long pid, image_scan *scan)
{
    char path[PROC_PATH_MAX];
    unsigned char data[8192]; /* AT_VECTOR_SIZE pairs are far fewer */
    ssize_t len;

    proc_path(path, sizeof(path), pid, "auxv");
    len = read_small_file(path, (char *)data, sizeof(data));
    if (len <= 0) {
        return;
    }
    if (parse_auxv(data, (size_t)len, sizeof(unsigned long), scan->page_size,
                   scan) == 0 ||
        (sizeof(unsigned long) == 8 &&
         parse_auxv(data, (size_t)len, 4, scan->page_size, scan) == 0)) {
        scan->have_auxv = 1;
    }
    else {
        scan->at_entry = scan->at_base = 0;
    }
}

/* What opening an image's file came to, beside a descriptor. */
enum {
    OPEN_NONE = -1,    /* no way to it: read the headers from memory */
    OPEN_NOMEM = -2,   /* out of memory */
    OPEN_SPECIAL = -3, /* the mapped file is no regular file: no image */
};

/* Opens path for reading an image's headers, only if it is a regular file
 * (and, with want, the very file want maps).  The target chooses what lies
 * at its paths: a FIFO would block the open, and opening a device runs its
 * driver (a watchdog starts counting), so the path is first resolved with
 * O_PATH, which opens nothing, and the file it found is reopened through
 * /proc/self/fd only once fstat has vouched for it.  Returns the descriptor,
 * OPEN_NONE, or OPEN_SPECIAL for a file that is there but not regular. */
static int
open_image_file(const char *path, const mm_region *want)
{
    char again[PROC_PATH_MAX];
    struct stat st;
    int probe, fd;

    probe = open(path, O_PATH | O_CLOEXEC);
    if (probe < 0) {
        return OPEN_NONE;
    }
    if (fstat(probe, &st) != 0 || (want != NULL && !same_file(&st, want))) {
        close(probe);
        return OPEN_NONE;
    }
    if (!S_ISREG(st.st_mode)) {
        close(probe);
        return OPEN_SPECIAL;
    }
    snprintf(again, sizeof(again), "/proc/self/fd/%d", probe);
    fd = open(again, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    close(probe);
    return fd >= 0 ? fd : OPEN_NONE;
}

/* Opens the file mapped at region, and sets *source to the path opened
 * (malloc'd).  Returns the descriptor or one of OPEN_*. */
static int
open_mapped_file(const image_scan *scan, const mm_region *region,
                 char **source)
{
    long pid = scan->target->pid;
    const mm_list *list = scan->regions;
    char path[PROC_PATH_MAX];
    char map_file[64];
    struct stat st;
    int fd;

    *source = NULL;
    /* The mapped file itself, even when deleted or replaced on disk; needs
     * CAP_SYS_ADMIN (CAP_CHECKPOINT_RESTORE on newer kernels).  What it
     * leads to is the mapping's own file: if that is a device, the region
     * is no image, whatever its path now names. */
    snprintf(map_file, sizeof(map_file), "map_files/%" PRIx64 "-%" PRIx64,
             region->start, region->end);
    proc_path(path, sizeof(path), pid, map_file);
    fd = open_image_file(path, NULL);
    if (fd == OPEN_SPECIAL) {
        return fd;
    }
    /* The executable's own link needs only the right to read the map, and
     * it too leads to the mapped file when that was deleted or replaced. */
    if (fd < 0 && scan->have_exe && same_file(&scan->exe_st, region)) {
        proc_path(path, sizeof(path), pid, "exe");
        fd = open_image_file(path, region);
    }
    if (fd >= 0) {
        *source = strdup(path);
        if (*source == NULL) {
            close(fd);
            return OPEN_NOMEM;
        }
        return fd;
    }
    /* The path, where the target or the reader sees it, if it still leads
     * to the same file (a FIFO or a device put there has another inode). */
    if (!(region->flags & MM_REGION_NAMED)) {
        return OPEN_NONE;
    }
    fd = open_named_file(scan->root, list->bytes + region->name_off,
                         region->name_len, MM_OPEN_ANY_TYPE, same_file, region,
                         source);
    if (fd == FOUND_NOMEM) {
        return OPEN_NOMEM;
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        free(*source);
        *source = NULL;
        return OPEN_NONE;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        free(*source);
        *source = NULL;
        return OPEN_SPECIAL;
    }
    fd = reopen_regular(fd, &st);
    if (fd < 0) {
        free(*source);
        *source = NULL;
        return OPEN_NONE;
    }
    return fd;
}

/* A group's file as far as the target has it mapped, for reading the headers
 * of an image no file could be opened for: file offset x is at region start
 * + x - region offset in the region that maps it.  Offsets no readable
 * region maps cannot be read. */
typedef struct group_reader {
    const image_scan *scan;
    size_t first, last; /* the group's regions, by index, inclusive */
    /* Why the target's memory could not be read, when the kernel refused
     * (MM_OK otherwise): the caller says so rather than leave the image
     * out as if it were not there. */
    mm_status refused;
    mm_err refusal;
} group_reader;

static int
read_group(void *ctx, uint64_t offset, void *buf, size_t len)
{
    group_reader *group = ctx;
    const mm_region *regions = group->scan->regions->regions;
    char *out = buf;

    while (len > 0) {
        const mm_region *found = NULL;
        uint64_t into, n;

        /* Later regions win where two map the same file bytes. */
        for (size_t i = group->last + 1; i-- > group->first;) {
            const mm_region *r = &regions[i];
            if ((r->prot & MM_PROT_READ) && offset >= r->offset &&
                offset - r->offset < r->end - r->start) {
                found = r;
                break;
            }
        }
        if (found == NULL) {
            return -1;
        }
        into = offset - found->offset;
        n = found->end - found->start - into;
        if (n > len) {
            n = len;
        }
        {
            size_t got = 0;
            mm_status status =
                mm_read_memory(group->scan->target, found->start + into, out,
                               (size_t)n, &got, &group->refusal);
            if (status != MM_OK) {
                group->refused = status;
                return -1;
            }
            if (got != n) {
                return -1; /* unmapped or unreadable: not these bytes */
            }
        }
        out += n;
        len -= (size_t)n;
        offset += n;
    }
    return 0;
}

/* The extent of the file a group maps: the end of its highest file offset. */
static uint64_t
group_extent(const mm_list *list, size_t first, size_t last)
{
    uint64_t size = 0;

    for (size_t i = first; i <= last; i++) {
        const mm_region *r = &list->regions[i];
        uint64_t end = r->end - r->start;
        if (r->offset <= UINT64_MAX - end && r->offset + end > size) {
            size = r->offset + end;
        }
    }
    return size;
}

static int
same_name(const mm_list *list, const mm_region *a, const mm_region *b)
{
    if ((a->flags & MM_REGION_NAMED) != (b->flags & MM_REGION_NAMED)) {
        return 0;
    }
    return !(a->flags & MM_REGION_NAMED) ||
           (a->name_len == b->name_len &&
            memcmp(list->bytes + a->name_off, list->bytes + b->name_off,
                   a->name_len) == 0);
}

/* Adds the image of the group's regions whose headers elf has.  MM_OK also
 * when the image is left out (no PT_LOAD maps the first region); only
 * running out of memory fails. */
static mm_status
add_image(const image_scan *scan, size_t first, size_t last, mm_elf *elf,
          const char *source, uint32_t flags, mm_image_list *out, mm_err *err)
{
    const mm_list *list = scan->regions;
    const mm_region *head = &list->regions[first];
    const mm_region *tail = &list->regions[last];
    uint64_t bias, end;
    mm_image *image;
    size_t index;

    if (!(head->flags & MM_REGION_NAMED) || head->name_len == 0 ||
        mm_elf_load_bias(elf, head->start, head->offset, scan->page_size,
                         &bias) != 0) {
        return MM_OK;
    }
    if (mm_elf_load_end(elf, bias, scan->page_size, &end) != 0 ||
        end < tail->end) {
        end = tail->end;
    }
    /* Deleted when any region of the image's range that maps its path
     * says so. */
    for (size_t i = first; i < list->count && list->regions[i].start < end;
         i++) {
        const mm_region *r = &list->regions[i];
        if (r->end <= end && (r->flags & MM_REGION_DELETED) &&
            same_name(list, r, head)) {
            flags |= MM_IMAGE_DELETED;
        }
    }
    if (head->kind == MM_KIND_FILE) {
        flags |= MM_IMAGE_HAS_FILE_ID;
    }
    if (scan->have_auxv && scan->at_base != 0 &&
        scan->at_base == head->start) {
        flags |= MM_IMAGE_LOADER;
    }
    else if (scan->have_auxv && !(flags & MM_IMAGE_KERNEL) &&
             head->start <= scan->at_entry && scan->at_entry < end) {
        flags |= MM_IMAGE_MAIN;
    }
    index = out->count;
    image = mm_image_list_push(out);
    if (image == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    image->base = head->start;
    image->end = end;
    image->bias = bias;
    image->header = head->start; /* the mapping of file offset 0 */
    image->flags = flags;
    image->format = MM_FORMAT_ELF;
    if (flags & MM_IMAGE_HAS_FILE_ID) {
        image->inode = head->inode;
        image->dev_major = head->dev_major;
        image->dev_minor = head->dev_minor;
    }
    image->build_id_len =
        (uint8_t)mm_elf_build_id(elf, image->build_id, MM_BUILD_ID_MAX);
    if (mm_image_list_add_text(out, list->bytes + head->name_off,
                               head->name_len, &image->path_off,
                               &image->path_len) != 0 ||
        mm_image_list_add_text(out, source ? source : "",
                               source ? strlen(source) : 0,
                               &out->images[index].source_off,
                               &out->images[index].source_len) != 0) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < elf->segment_count; i++) {
        const mm_elf_segment *s = &elf->segments[i];
        uint64_t start, stop;
        mm_image_segment *segment;

        if (s->type != MM_PT_LOAD ||
            mm_elf_segment_range(s, bias, scan->page_size, &start, &stop) !=
                0) {
            continue;
        }
        segment = mm_image_list_add_segment(out, index);
        if (segment == NULL) {
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        segment->start = start;
        segment->end = stop;
        /* PF_R = 4, PF_W = 2, PF_X = 1: the reverse of MM_PROT_*. */
        segment->prot = (uint8_t)(((s->flags & 4) ? MM_PROT_READ : 0) |
                                  ((s->flags & 2) ? MM_PROT_WRITE : 0) |
                                  ((s->flags & 1) ? MM_PROT_EXEC : 0));
    }
    return MM_OK;
}

/* The image of regions first..last, its headers read from the target's
 * memory.  The vdso maps its whole file, section headers too; a library maps
 * only its segments, and what lies where its section headers would be is
 * not them. */
static mm_status
memory_image(const image_scan *scan, size_t first, size_t last, uint32_t flags,
             mm_image_list *out, mm_err *err)
{
    group_reader group = {.scan = scan, .first = first, .last = last};
    int whole = scan->regions->regions[first].kind == MM_KIND_VDSO;
    mm_elf elf;
    mm_err elf_err;
    mm_status status;

    memset(&elf_err, 0, sizeof(elf_err));
    status = mm_elf_open_flags(&elf, read_group, &group,
                               group_extent(scan->regions, first, last),
                               whole ? 0 : MM_ELF_NO_SECTIONS, &elf_err);
    if (status == MM_ERR_NOMEM) {
        *err = elf_err;
        return status;
    }
    if (status != MM_OK && group.refused != MM_OK) {
        /* ptrace's attach check (Yama's ptrace_scope), or the process is
         * gone: an answer without the image would be a wrong one. */
        *err = group.refusal;
        return group.refused;
    }
    if (status != MM_OK) {
        return MM_OK; /* not ELF, torn, or unreadable: left out */
    }
    status = add_image(scan, first, last, &elf, NULL,
                       flags | MM_IMAGE_FROM_MEMORY, out, err);
    mm_elf_close(&elf);
    return status;
}

static mm_status
file_image(const image_scan *scan, size_t first, size_t last,
           mm_image_list *out, mm_err *err)
{
    char *source;
    int fd = open_mapped_file(scan, &scan->regions->regions[first], &source);
    uint64_t size;
    mm_elf elf;
    mm_err elf_err;
    mm_status status;

    if (fd == OPEN_NOMEM) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    if (fd == OPEN_SPECIAL) {
        return MM_OK;
    }
    if (fd < 0) {
        return memory_image(scan, first, last, 0, out, err);
    }
    /* The file's real size bounds every table read from it. */
    size = mm_fd_size(fd);
    memset(&elf_err, 0, sizeof(elf_err));
    status = size == MM_SIZE_UNKNOWN
                 ? MM_ERR_PARSE
                 : mm_elf_open_flags(&elf, mm_read_fd, &fd, size, 0, &elf_err);
    if (status == MM_OK) {
        status = add_image(scan, first, last, &elf, source, 0, out, err);
        mm_elf_close(&elf);
    }
    else if (status == MM_ERR_NOMEM) {
        *err = elf_err;
    }
    else {
        status = MM_OK; /* a mapped file that is not ELF: a font, a locale */
    }
    close(fd);
    free(source);
    return status;
}

/* The index of the last region of the group that starts at first: the
 * regions of the same file that follow it at other offsets. */
static size_t
group_last(const mm_list *list, size_t first)
{
    const mm_region *head = &list->regions[first];
    size_t last = first;

    while (last + 1 < list->count) {
        const mm_region *r = &list->regions[last + 1];
        if (r->offset == 0 || r->inode != head->inode ||
            r->dev_major != head->dev_major ||
            r->dev_minor != head->dev_minor || !same_name(list, r, head)) {
            break;
        }
        last++;
    }
    return last;
}

static mm_status
images_in_procfs(const mm_target *target, unsigned flags, mm_image_list *out,
                 mm_err *err)
{
    mm_list *list = &out->regions;
    image_scan scan;
    target_root root;
    long page = sysconf(_SC_PAGESIZE);
    int pidfd = -1;
    mm_status status;
    char path[PROC_PATH_MAX];

    mm_image_list_clear(out);
    memset(&scan, 0, sizeof(scan));
    target_root_init(&root, target->pid, flags);
    scan.root = &root;
    scan.target = target;
    scan.regions = list;
    scan.page_size = page > 0 ? (uint64_t)page : 4096;
    if (target->pid >= 0 && pid_syscalls_apply(target->pid)) {
        /* Taken before anything is read, so that a target that dies (and
         * whose pid is reused) while its images are read is noticed. */
        pidfd = (int)syscall(SYS_pidfd_open, (pid_t)target->pid, 0);
    }
    status = mm_regions(target, flags & MM_SWITCH_OPEN_WALK, list, err);
    if (status != MM_OK) {
        goto done;
    }
    out->listed = 1;
    read_auxv(target->pid, &scan);
    proc_path(path, sizeof(path), target->pid, "exe");
    scan.have_exe = stat(path, &scan.exe_st) == 0;

    for (size_t i = 0; i < list->count && status == MM_OK; i++) {
        const mm_region *r = &list->regions[i];
        if (r->kind == MM_KIND_VDSO) {
            status = memory_image(&scan, i, i, MM_IMAGE_KERNEL, out, err);
        }
        else if (r->kind == MM_KIND_FILE && r->offset == 0 && r->inode != 0) {
            size_t last = group_last(list, i);
            status = file_image(&scan, i, last, out, err);
            i = last;
        }
    }
    if (status == MM_OK && pidfd >= 0 && pidfd_exited(pidfd)) {
        /* What was read may be of a dying address space: say so rather
         * than return a short list. */
        status = process_gone(target->pid, err);
    }
    if (status == MM_OK && mm_image_list_sort(out) != 0) {
        status = mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }

done:
    target_root_close(&root);
    if (status != MM_OK) {
        mm_image_list_clear(out);
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    return status;
}

/* ---- the procfs a call reads ---- */

/* Whether pids in the procfs at root are the reader's own pid namespace's.
 * Its self is the reader, and NSpid lists the reader's pid in every
 * namespace from the procfs's own down to the reader's: one pid when they
 * are the same, more when the procfs is an ancestor's.  A procfs of a
 * descendant or an unrelated namespace has no self at all. */
enum { PROCFS_FOREIGN = 0, PROCFS_READERS = 1, PROCFS_NONE = 2 };

static int
procfs_is_readers(const char *root)
{
    char path[PROC_PATH_MAX];
    char buf[4096];
    const char *line;
    struct statfs fs;

    if (statfs(root, &fs) != 0 || fs.f_type != MM_PROC_SUPER_MAGIC) {
        return PROCFS_NONE;
    }
    snprintf(path, sizeof(path), "%s/self/status", root);
    if (read_small_file(path, buf, sizeof(buf)) < 0) {
        return 0;
    }
    line = strstr(buf, "\nNSpid:");
    if (line != NULL) {
        int pids = 0;
        for (const char *p = line + 7; *p != '\0' && *p != '\n'; p++) {
            if (*p >= '0' && *p <= '9' && (p[-1] == ' ' || p[-1] == '\t')) {
                pids++;
            }
        }
        return pids == 1 ? PROCFS_READERS : PROCFS_FOREIGN;
    }
    line = strstr(buf, "\nTgid:"); /* before Linux 4.1 */
    return line != NULL && strtol(line + 6, NULL, 10) == (long)getpid()
               ? PROCFS_READERS
               : PROCFS_FOREIGN;
}

typedef struct procfs_call {
    const char *procfs;
    int pids_are_readers;
} procfs_call;

static _Thread_local int call_depth = 0;

/* Makes target's procfs the one the call reads.  A nested call on the same
 * procfs (images() reads memory and lists regions) keeps what the outer one
 * found; /proc's answer is kept per process, since a process's /proc does
 * not change under it (a fork into a new pid namespace is a new pid). */
static procfs_call
procfs_enter(const mm_target *target)
{
    static _Thread_local pid_t proc_checked_for = 0;
    static _Thread_local int proc_is_readers = 1;
    procfs_call outer = {call_procfs, call_pids_are_readers};
    int same = call_depth > 0 && strcmp(outer.procfs, target->procfs) == 0;

    call_depth++;
    call_procfs = target->procfs;
    if (target->pid < 0 || same) {
        return outer;
    }
    if (target->procfs[0] != '\0') {
        call_pids_are_readers =
            procfs_is_readers(target->procfs) == PROCFS_READERS;
    }
    else {
        if (proc_checked_for != getpid()) {
            proc_is_readers = procfs_is_readers("/proc") == PROCFS_READERS;
            proc_checked_for = getpid();
        }
        call_pids_are_readers = proc_is_readers;
    }
    return outer;
}

/* Says in err's message, when the pid was looked up in another pid
 * namespace's procfs, that pids there are not the reader's; then restores
 * the outer call's procfs. */
static mm_status
procfs_leave(const mm_target *target, procfs_call outer, mm_status status,
             mm_err *err)
{
    if ((status == MM_ERR_NO_PROCESS || status == MM_ERR_ACCESS ||
         status == MM_ERR_ZOMBIE) &&
        target->pid >= 0 && call_depth == 1 && !call_pids_are_readers) {
        size_t used = strnlen(err->message, sizeof(err->message));
        char *tail = err->message + used;
        size_t room = sizeof(err->message) - used;
        const char *root = target->procfs[0] != '\0' ? target->procfs : NULL;

        if (root == NULL) {
            snprintf(tail, room,
                     "; /proc is the procfs of another pid namespace than "
                     "this process's, as in a pid namespace without a /proc "
                     "of its own: its pid %ld is not the process this one "
                     "calls %ld (mount a procfs in a mount namespace of this "
                     "pid namespace, or point memmaps.PROCFS at one)",
                     target->pid, target->pid);
        }
        else if (procfs_is_readers(root) == PROCFS_NONE) {
            snprintf(tail, room, "; PROCFS %s is not a procfs", root);
        }
        else {
            snprintf(tail, room,
                     "; PROCFS %s is the procfs of another pid namespace "
                     "than this process's: pid %ld is that namespace's "
                     "number, and this process knows the same process by "
                     "another pid, or not at all",
                     root, target->pid);
        }
    }
    call_depth--;
    call_procfs = outer.procfs;
    call_pids_are_readers = outer.pids_are_readers;
    return status;
}

mm_status
mm_regions(const mm_target *target, unsigned flags, mm_list *out, mm_err *err)
{
    procfs_call outer = procfs_enter(target);
    return procfs_leave(target, outer,
                        regions_in_procfs(target, flags, out, err), err);
}

mm_status
mm_process_usage(const mm_target *target, unsigned flags, mm_list *out,
                 mm_err *err)
{
    procfs_call outer = procfs_enter(target);
    return procfs_leave(target, outer,
                        process_usage_in_procfs(target, flags, out, err), err);
}

mm_status
mm_region_at(const mm_target *target, uint64_t addr, unsigned flags,
             mm_list *out, mm_err *err)
{
    procfs_call outer = procfs_enter(target);
    return procfs_leave(target, outer,
                        region_at_in_procfs(target, addr, flags, out, err),
                        err);
}

mm_status
mm_read_memory(const mm_target *target, uint64_t addr, void *buf, size_t len,
               size_t *got, mm_err *err)
{
    procfs_call outer = procfs_enter(target);
    return procfs_leave(
        target, outer, read_memory_in_procfs(target, addr, buf, len, got, err),
        err);
}

mm_status
mm_images(const mm_target *target, unsigned flags, mm_image_list *out,
          mm_err *err)
{
    procfs_call outer = procfs_enter(target);
    return procfs_leave(target, outer,
                        images_in_procfs(target, flags, out, err), err);
}
