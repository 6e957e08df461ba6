/* Target for tests/live/test_live_whole.py and tests/live/test_live_exit.py.
 *
 * usage: many_maps N [LIFETIME_US]
 * Maps N pages and gives every other page a different protection, so the
 * process has about N more regions.  Prints "ready 0xBASE N\n", then either
 * waits until stdin is closed (LIFETIME_US absent or 0) or, with LIFETIME_US,
 * waits for one byte on stdin and exits by itself LIFETIME_US microseconds
 * later.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    long life = argc > 2 ? atol(argv[2]) : 0;
    long ps = sysconf(_SC_PAGESIZE);
    char *base = mmap(NULL, (size_t)n * ps, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    for (long i = 1; i < n; i += 2) {
        if (mprotect(base + i * ps, ps, PROT_READ) != 0) {
            perror("mprotect");
            return 2;
        }
    }
    printf("ready %p %ld\n", (void *)base, n);
    fflush(stdout);
    char buf[64];
    if (life > 0) {
        if (read(0, buf, 1) != 1)
            return 3;
        usleep((useconds_t)life);
        _exit(0);
    }
    while (read(0, buf, sizeof buf) > 0)
        ;
    return 0;
}
