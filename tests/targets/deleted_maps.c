/* Target for tests/live/test_deleted_names.py.
 *
 * usage: deleted_maps DIR COPIES
 * Maps, COPIES times each and never adjacent (one region per mapping):
 *   DIR/gone-a and DIR/gone-b, both unlinked afterwards;
 *   DIR/live (deleted), a live file whose name ends like a deleted one's;
 *   shared anonymous memory (a new "/dev/zero (deleted)" object each time);
 *   one memfd named "probe";
 *   one SysV segment (removed at once, so it goes when the process does).
 * Prints "ready\n" and waits until stdin is closed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

static long page;

static void
die(const char *what)
{
    perror(what);
    exit(2);
}

/* A page-sized hole of its own, with unmapped pages either side. */
static char *
slot(void)
{
    char *p = mmap(NULL, 3 * (size_t)page, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        die("mmap");
    }
    munmap(p, (size_t)page);
    munmap(p + 2 * page, (size_t)page);
    return p + page;
}

static void
map_copies(int fd, int flags, long copies)
{
    for (long i = 0; i < copies; i++) {
        if (mmap(slot(), (size_t)page, PROT_READ, flags | MAP_FIXED, fd, 0) ==
            MAP_FAILED) {
            die("mmap");
        }
    }
}

static int
make_file(const char *dir, const char *name)
{
    char path[4096];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, page) != 0) {
        die(path);
    }
    return fd;
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 2 ? argv[1] : ".";
    long copies = argc > 2 ? atol(argv[2]) : 10;
    char path[4096], buf[64];
    int fd, shmid;

    page = sysconf(_SC_PAGESIZE);
    for (const char *const *name =
             (const char *const[]){"gone-a", "gone-b", NULL};
         *name != NULL; name++) {
        fd = make_file(dir, *name);
        map_copies(fd, MAP_PRIVATE, copies);
        close(fd);
        snprintf(path, sizeof(path), "%s/%s", dir, *name);
        unlink(path);
    }
    fd = make_file(dir, "live (deleted)");
    map_copies(fd, MAP_PRIVATE, copies);
    close(fd);
    for (long i = 0; i < copies; i++) {
        if (mmap(slot(), (size_t)page, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1,
                 0) == MAP_FAILED) {
            die("mmap");
        }
    }
    fd = memfd_create("probe", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, page) != 0) {
        die("memfd_create");
    }
    map_copies(fd, MAP_SHARED, copies);
    close(fd);
    shmid = shmget(IPC_PRIVATE, (size_t)page, IPC_CREAT | 0600);
    if (shmid < 0) {
        die("shmget");
    }
    for (long i = 0; i < copies; i++) {
        if (shmat(shmid, slot(), SHM_RDONLY | SHM_REMAP) == (void *)-1) {
            die("shmat");
        }
    }
    shmctl(shmid, IPC_RMID, NULL);
    printf("ready\n");
    fflush(stdout);
    while (read(0, buf, sizeof(buf)) > 0) {
    }
    return 0;
}
