/* Target for tests/live/test_display.py: a map with everything a picture
 * or a table of it must show.
 *
 * usage: display_target DIR SMALL
 * Maps, each with unmapped pages around it so that it is a region of its
 * own:
 *   64 KiB of anonymous memory both writable and executable (written);
 *   1 MiB of shared anonymous memory, its first half written;
 *   DIR/gone.bin (64 KiB, read), then unlinked: a deleted file;
 *   DIR/<the hostile name below> (16 KiB), a file whose name holds markup,
 *   quotes, a newline and a byte that is not UTF-8;
 *   SMALL one-page anonymous regions, read-only and read-write in turn.
 * Prints "ready PID WX SHARED DELETED HOSTILE SMALL" (addresses in hex)
 * and waits until stdin is closed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A file name cannot hold a '/', so no closing tag: an opening <script>,
 * an entity, both quotes, a newline and the byte 0xff. */
static const char hostile[] =
    "<script>alert(1)<!--\"quote'&amp;\nname\xff.bin";

static long page;

static void
die(const char *what)
{
    perror(what);
    exit(2);
}

/* size bytes of address space with a free page on either side. */
static char *
slot(size_t size)
{
    char *p = mmap(NULL, size + 2 * (size_t)page, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        die("mmap");
    }
    munmap(p, (size_t)page);
    munmap(p + page + size, (size_t)page);
    return p + page;
}

static char *
map_file(const char *dir, const char *name, size_t size, int unlink_it)
{
    char path[4096];
    char *p;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        die(path);
    }
    p = mmap(slot(size), size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        die("mmap file");
    }
    close(fd);
    for (size_t i = 0; i < size; i += (size_t)page) {
        (void)*(volatile char *)(p + i);
    }
    if (unlink_it && unlink(path) != 0) {
        die("unlink");
    }
    return p;
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    long small = argc > 2 ? atol(argv[2]) : 200;
    char *wx, *shared, *deleted, *named, *first = NULL;
    char buf[64];

    page = sysconf(_SC_PAGESIZE);

    wx = mmap(slot(16 * (size_t)page), 16 * (size_t)page,
              PROT_READ | PROT_WRITE | PROT_EXEC,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (wx == MAP_FAILED) {
        die("mmap rwx");
    }
    memset(wx, 0xc3, 16 * (size_t)page);

    shared = mmap(slot(256 * (size_t)page), 256 * (size_t)page,
                  PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (shared == MAP_FAILED) {
        die("mmap shared");
    }
    memset(shared, 1, 128 * (size_t)page);

    /* The hostile file before the deleted one, so that it does not touch the
     * small regions: a picture merges a file as small as a sliver into
     * their run, where its name is no label of its own. */
    named = map_file(dir, hostile, 4 * (size_t)page, 0);
    deleted = map_file(dir, "gone.bin", 16 * (size_t)page, 1);

    for (long i = 0; i < small; i++) {
        int prot = (i & 1) ? PROT_READ | PROT_WRITE : PROT_READ;
        char *p = mmap(slot((size_t)page), (size_t)page, prot,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (p == MAP_FAILED) {
            die("mmap small");
        }
        if (first == NULL || p < first) {
            first = p;
        }
    }

    printf("ready %d %lx %lx %lx %lx %lx\n", (int)getpid(), (unsigned long)wx,
           (unsigned long)shared, (unsigned long)deleted, (unsigned long)named,
           (unsigned long)first);
    fflush(stdout);
    while (read(0, buf, sizeof(buf)) > 0) {
    }
    return 0;
}
