/* What the Linux backend offers beyond the interface of core/mm.h: opening a
 * file on a target's behalf, inside the target's root.
 *
 * The target chooses what lies at its paths.  A FIFO there would block an
 * open for ever, opening a device runs its driver, and a symlink may point
 * anywhere in the reader's own tree; a path of a process in a container or a
 * chroot means something else in the reader's tree, if anything.  So a path
 * is resolved as the target would resolve it, inside its root, without
 * opening anything on the way (O_PATH), and only a regular file is opened,
 * once fstat has vouched for it.
 */
#ifndef MM_BACKENDS_LINUX_H
#define MM_BACKENDS_LINUX_H

#include <sys/stat.h>

/* The root argument that stands for the reader's own root directory. */
#define MM_READER_ROOT (-1)

/* The most symlinks one resolution follows, as the kernel's MAXSYMLINKS. */
#define MM_SYMLINK_BUDGET 40

/* mm_linux_open_in_root flags */
enum {
    /* Resolve component by component, as on kernels without openat2 (before
     * 5.6) or where a seccomp filter refuses it, even where it works: the
     * tests and benchmarks check that path with it. */
    MM_OPEN_WALK = 1,
    /* Refuse every symlink (ELOOP): a path the kernel printed for a mapping
     * has none, so one there now was put there since. */
    MM_OPEN_NO_SYMLINKS = 2,
    /* Return the O_PATH descriptor of whatever is there, unopened: for
     * comparing identities with fstat. */
    MM_OPEN_ANY_TYPE = 4,
};

/* path resolved inside the directory root (a descriptor, such as one of
 * /proc/PID/root; MM_READER_ROOT for the reader's own root), as though root
 * were "/": an absolute symlink starts again at root, ".." stops there, a
 * magic link (/proc/PID/fd/N and the like) is refused, and at most
 * MM_SYMLINK_BUDGET symlinks are followed.  openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) does it where the kernel has it, and a walk with
 * O_PATH | O_NOFOLLOW one component at a time where not.
 *
 * What is found must be a regular file: it is opened O_RDONLY | O_NONBLOCK |
 * O_NOCTTY | O_CLOEXEC through /proc/self/fd.  Returns the descriptor, and
 * fills *st (when not NULL) with the file's stat; or -1 with errno: ENXIO
 * when something other than a regular file is there, ELOOP for too many
 * symlinks, a magic link, or any symlink with MM_OPEN_NO_SYMLINKS, and what
 * the resolution met otherwise (ENOENT, ENOTDIR, EACCES ...). */
int mm_linux_open_in_root(int root, const char *path, unsigned flags,
                          struct stat *st);

#endif /* MM_BACKENDS_LINUX_H */
