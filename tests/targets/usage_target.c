/* Target for tests/live/test_usage.py: maps memory whose smaps figures are known,
 * prints one JSON line with its pid and the address ranges, then waits on
 * stdin (EOF: exit).
 *
 *   usage_target regions DIR   the regions below (files are made in DIR)
 *   usage_target swap PAGES    PAGES written anonymous pages, paged out with
 *                              MADV_PAGEOUT; each "p" line on stdin pages
 *                              them out again and is answered "ok"
 *   usage_target hugetlb       one 2 MiB MAP_HUGETLB page, written
 *
 * "regions" maps, inside one PROT_NONE reservation with a PROT_NONE page
 * between neighbours (so that the kernel cannot merge them):
 *   anon_dirty      ANON_PAGES private anonymous pages, DIRTY_PAGES written
 *   anon_untouched  UNTOUCHED_PAGES private anonymous pages, never touched
 *   file_private    FILE_PAGES of DIR/private.bin, MAP_PRIVATE, read
 *   shared_a/b      SHARED_PAGES of DIR/shared.bin, MAP_SHARED twice; every
 *                   page written through a and read through b
 *   shared_anon     SHANON_PAGES MAP_SHARED|MAP_ANONYMOUS, SHANON_TOUCHED
 *                   written
 *   locked          LOCKED_PAGES private anonymous pages, mlock()ed
 * and, outside the reservation:
 *   thp             4 MiB private anonymous, MADV_HUGEPAGE, untouched
 * Private anonymous regions get MADV_NOHUGEPAGE (except thp) so that no
 * transparent huge page or mTHP folio makes the page counts differ from
 * what was touched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif

#define PAGE 4096UL
#define ANON_PAGES 8
#define DIRTY_PAGES 5
#define UNTOUCHED_PAGES 4
#define FILE_PAGES 6
#define SHARED_PAGES 3
#define SHANON_PAGES 4
#define SHANON_TOUCHED 2
#define LOCKED_PAGES 3
#define RESERVE_PAGES 64

static void
die(const char *what)
{
    perror(what);
    exit(2);
}

static volatile unsigned char sink;

static void
read_pages(const unsigned char *p, size_t pages)
{
    for (size_t i = 0; i < pages; i++) {
        sink += p[i * PAGE];
    }
}

static void
write_pages(unsigned char *p, size_t pages, int seed)
{
    for (size_t i = 0; i < pages; i++) {
        /* Not zero: a zero-filled page may be treated specially. */
        memset(p + i * PAGE, 0x11 + seed + (int)i, PAGE);
    }
}

static int
make_file(const char *dir, const char *name, size_t pages, char *path,
          size_t path_size)
{
    unsigned char buf[PAGE];
    int fd;

    snprintf(path, path_size, "%s/%s", dir, name);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        die("open");
    }
    for (size_t i = 0; i < pages; i++) {
        memset(buf, 'a' + (int)i, sizeof(buf));
        if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
            die("write");
        }
    }
    /* Written back, so that the page cache pages are clean. */
    if (fsync(fd) != 0) {
        die("fsync");
    }
    return fd;
}

/* Maps at reservation page *next and moves *next past it and a gap page. */
static unsigned char *
place(unsigned char *reserve, size_t *next, size_t pages, int prot, int flags,
      int fd)
{
    unsigned char *want = reserve + *next * PAGE;
    void *p = mmap(want, pages * PAGE, prot, flags | MAP_FIXED, fd, 0);

    if (p == MAP_FAILED) {
        die("mmap");
    }
    *next += pages + 1;
    return p;
}

static void
print_range(const char *name, const void *p, size_t len, int last)
{
    printf("\"%s\": [%lu, %lu]%s", name, (unsigned long)(uintptr_t)p,
           (unsigned long)((uintptr_t)p + len), last ? "" : ", ");
}

static void
wait_stdin(void)
{
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
}

static int
do_regions(const char *dir)
{
    char path[4096];
    size_t next = 1;
    unsigned char *reserve, *anon_dirty, *untouched, *priv, *shared_a,
        *shared_b, *shanon, *locked, *thp;
    int fd;

    reserve = mmap(NULL, RESERVE_PAGES * PAGE, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserve == MAP_FAILED) {
        die("mmap reserve");
    }

    anon_dirty = place(reserve, &next, ANON_PAGES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1);
    madvise(anon_dirty, ANON_PAGES * PAGE, MADV_NOHUGEPAGE);
    /* Pages 0, 1, 3, 5, 7: not one run, to count pages and not ranges. */
    {
        static const int which[DIRTY_PAGES] = {0, 1, 3, 5, 7};
        for (int i = 0; i < DIRTY_PAGES; i++) {
            write_pages(anon_dirty + which[i] * PAGE, 1, i);
        }
    }

    untouched = place(reserve, &next, UNTOUCHED_PAGES, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1);
    madvise(untouched, UNTOUCHED_PAGES * PAGE, MADV_NOHUGEPAGE);

    fd = make_file(dir, "private.bin", FILE_PAGES, path, sizeof(path));
    priv = place(reserve, &next, FILE_PAGES, PROT_READ, MAP_PRIVATE, fd);
    close(fd);
    read_pages(priv, FILE_PAGES);

    fd = make_file(dir, "shared.bin", SHARED_PAGES, path, sizeof(path));
    shared_a = place(reserve, &next, SHARED_PAGES, PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd);
    shared_b = place(reserve, &next, SHARED_PAGES, PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd);
    close(fd);
    write_pages(shared_a, SHARED_PAGES, 3);
    read_pages(shared_b, SHARED_PAGES);

    shanon = place(reserve, &next, SHANON_PAGES, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1);
    write_pages(shanon, SHANON_TOUCHED, 5);

    locked = place(reserve, &next, LOCKED_PAGES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1);
    madvise(locked, LOCKED_PAGES * PAGE, MADV_NOHUGEPAGE);
    if (mlock(locked, LOCKED_PAGES * PAGE) != 0) {
        die("mlock");
    }
    if (next > RESERVE_PAGES) {
        fprintf(stderr, "reservation too small\n");
        return 2;
    }

    thp = mmap(NULL, 4UL << 20, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (thp == MAP_FAILED) {
        die("mmap thp");
    }
    madvise(thp, 4UL << 20, MADV_HUGEPAGE);

    printf("{\"pid\": %d, ", (int)getpid());
    print_range("anon_dirty", anon_dirty, ANON_PAGES * PAGE, 0);
    print_range("anon_untouched", untouched, UNTOUCHED_PAGES * PAGE, 0);
    print_range("file_private", priv, FILE_PAGES * PAGE, 0);
    print_range("shared_a", shared_a, SHARED_PAGES * PAGE, 0);
    print_range("shared_b", shared_b, SHARED_PAGES * PAGE, 0);
    print_range("shared_anon", shanon, SHANON_PAGES * PAGE, 0);
    print_range("locked", locked, LOCKED_PAGES * PAGE, 0);
    print_range("thp", thp, 4UL << 20, 1);
    printf("}\n");
    fflush(stdout);
    wait_stdin();
    return 0;
}

static int
do_swap(long pages)
{
    size_t len = (size_t)pages * PAGE;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char line[64];
    ssize_t n;

    if (p == MAP_FAILED) {
        die("mmap");
    }
    madvise(p, len, MADV_NOHUGEPAGE);
    write_pages(p, (size_t)pages, 7);
    if (madvise(p, len, MADV_PAGEOUT) != 0) {
        printf("{\"pid\": %d, \"error\": \"madvise(MADV_PAGEOUT): %s\"}\n",
               (int)getpid(), strerror(errno));
        fflush(stdout);
        wait_stdin();
        return 0;
    }
    printf("{\"pid\": %d, ", (int)getpid());
    print_range("swapped", p, len, 1);
    printf("}\n");
    fflush(stdout);
    while ((n = read(0, line, sizeof line)) > 0) {
        if (line[0] == 'p') {
            madvise(p, len, MADV_PAGEOUT);
            printf("ok\n");
            fflush(stdout);
        }
    }
    return 0;
}

static int
do_hugetlb(void)
{
    size_t len = 2UL << 20;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

    if (p == MAP_FAILED) {
        printf("{\"pid\": %d, \"error\": \"mmap(MAP_HUGETLB): %s\"}\n",
               (int)getpid(), strerror(errno));
        fflush(stdout);
        wait_stdin();
        return 0;
    }
    memset(p, 0x5a, len);
    printf("{\"pid\": %d, ", (int)getpid());
    print_range("hugetlb", p, len, 1);
    printf("}\n");
    fflush(stdout);
    wait_stdin();
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "regions") == 0) {
        return do_regions(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "swap") == 0) {
        return do_swap(atol(argv[2]));
    }
    if (argc == 2 && strcmp(argv[1], "hugetlb") == 0) {
        return do_hugetlb();
    }
    fprintf(stderr, "usage: %s regions DIR | swap PAGES | hugetlb\n",
            argv[0]);
    return 2;
}
