/*
 * Benchmark target: a process with N mappings the kernel cannot merge.
 *
 * Usage: target MODE N [FILE]
 *   MODE anon    N private anonymous read-write mappings of one page each
 *                (never written, so nothing is resident and they cost no RAM)
 *   MODE dirty   the same, each page written once (resident and dirty), for
 *                usage figures that are not all zero
 *   MODE file    N private read-only mappings of one page each of FILE, page
 *                i of the file in mapping i (FILE is created, and grown to N
 *                pages if shorter; it stays sparse, nothing is written)
 *   MODE deleted the same as file, then FILE is unlinked: every line names
 *                "FILE (deleted)"
 *   MODE shared  N shared anonymous read-write mappings, each its own object
 *                of the kernel's internal shmem mount ("/dev/zero (deleted)",
 *                one inode each)
 *   MODE memfd   N shared read-only mappings of one memfd of N pages, page i
 *                in mapping i ("/memfd:bench (deleted)", one inode)
 *
 * Every mapping is followed by an unmapped page, so no two of them are
 * adjacent and the kernel keeps one VMA (one line of /proc/PID/maps) each.
 * Once all are in place the program prints "ready" on stdout and then
 * sleeps in read(0) until its stdin is closed, so the benchmark controls
 * its lifetime and the map stays still while it is being measured.
 *
 * vm.max_map_count (65530 by default) bounds N: the process already has a
 * few dozen mappings of its own.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -o target target.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void
usage(void)
{
    fprintf(stderr,
            "usage: target anon|dirty|file|deleted|shared|memfd N [FILE]\n");
    exit(2);
}

/* Report a failed call about mapping `index` (or the reservation, -1). */
static void
fail(const char *what, long index)
{
    int saved = errno;

    if (index < 0) {
        fprintf(stderr, "target: %s: %s\n", what, strerror(saved));
    }
    else {
        fprintf(stderr, "target: %s (mapping %ld): %s%s\n", what, index,
                strerror(saved),
                /* The usual cause at large N, and ENOMEM does not say so. */
                saved == ENOMEM ? " (is N above vm.max_map_count?)" : "");
    }
    exit(1);
}

/* Parse a positive decimal count, rejecting junk and overflow. */
static size_t
parse_count(const char *text)
{
    char *end;
    unsigned long long value;

    errno = 0;
    value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-'
        || value == 0 || value > SIZE_MAX) {
        fprintf(stderr, "target: N must be a positive integer, got '%s'\n",
                text);
        exit(2);
    }
    return (size_t)value;
}

/* Open FILE and make sure it has at least `length` bytes (a sparse hole). */
static int
open_backing_file(const char *path, size_t length)
{
    struct stat st;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0) {
        fprintf(stderr, "target: open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (fstat(fd, &st) != 0) {
        fprintf(stderr, "target: fstat %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if ((unsigned long long)st.st_size < length
        && ftruncate(fd, (off_t)length) != 0) {
        fprintf(stderr, "target: ftruncate %s to %zu bytes: %s\n", path,
                length, strerror(errno));
        exit(1);
    }
    return fd;
}

int
main(int argc, char **argv)
{
    const char *mode;
    size_t count, page, i;
    int fd = -1;
    int prot = PROT_READ, flags = MAP_PRIVATE;
    char *base;
    char sink;

    if (argc < 3) {
        usage();
    }
    mode = argv[1];
    count = parse_count(argv[2]);
    page = (size_t)sysconf(_SC_PAGESIZE);
    if (count > SIZE_MAX / 2 / page) {
        fprintf(stderr, "target: N=%zu is too large\n", count);
        return 2;
    }

    if (strcmp(mode, "file") == 0 || strcmp(mode, "deleted") == 0) {
        if (argc != 4) {
            usage();
        }
        fd = open_backing_file(argv[3], count * page);
    }
    else if (strcmp(mode, "memfd") == 0 && argc == 3) {
        fd = memfd_create("bench", MFD_CLOEXEC);
        if (fd < 0) {
            fail("memfd_create", -1);
        }
        if (ftruncate(fd, (off_t)(count * page)) != 0) {
            fail("ftruncate of the memfd", -1);
        }
        flags = MAP_SHARED;
    }
    else if (strcmp(mode, "shared") == 0 && argc == 3) {
        prot = PROT_READ | PROT_WRITE;
        flags = MAP_SHARED | MAP_ANONYMOUS;
    }
    else if ((strcmp(mode, "anon") == 0 || strcmp(mode, "dirty") == 0) &&
             argc == 3) {
        prot = PROT_READ | PROT_WRITE;
        flags = MAP_PRIVATE | MAP_ANONYMOUS;
    }
    else {
        usage();
    }

    /*
     * Reserve 2N pages in one PROT_NONE mapping so that nothing else can
     * land in the range, then fill it slot by slot: mapping i replaces page
     * 2i and page 2i+1 is unmapped right after, leaving the gap.  Doing both
     * in the same step keeps the VMA count at about N the whole time; mapping
     * every slot first would pass through 2N VMAs (one mapping plus one
     * leftover PROT_NONE piece each) and hit vm.max_map_count at N ~ 32k.
     */
    base = mmap(NULL, 2 * count * page, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        fail("mmap of the 2N-page reservation", -1);
    }
    for (i = 0; i < count; i++) {
        char *slot = base + 2 * i * page;
        void *got;

        /* Page i of the file: every line differs, as with real files. */
        got = mmap(slot, page, prot, flags | MAP_FIXED, fd,
                   fd < 0 ? 0 : (off_t)(i * page));
        if (got == MAP_FAILED) {
            fail("mmap", (long)i);
        }
        if (munmap(slot + page, page) != 0) {
            fail("munmap of the gap after", (long)i);
        }
        if (strcmp(mode, "dirty") == 0) {
            slot[0] = 1;
        }
    }
    if (fd >= 0) {
        close(fd);      /* the mappings keep the file referenced */
    }
    if (strcmp(mode, "deleted") == 0 && unlink(argv[3]) != 0) {
        fprintf(stderr, "target: unlink %s: %s\n", argv[3], strerror(errno));
        return 1;
    }

    if (printf("ready\n") < 0 || fflush(stdout) != 0) {
        return 1;       /* the benchmark went away */
    }

    /* Wait for EOF (or an error) on stdin: the benchmark is done. */
    for (;;) {
        ssize_t got = read(STDIN_FILENO, &sink, 1);

        if (got == 0 || (got < 0 && errno != EINTR)) {
            break;
        }
    }
    return 0;
}
