/* Target for tests/live/test_live_churn.py.
 *
 * usage: churn N
 * Maps N pages with alternating protections (about N regions, so the maps
 * text spans many pages), prints "ready\n", then splits and merges its
 * mappings as fast as it can until stdin becomes readable or is closed:
 * chunks of the region are merged (every page made read-write) and split
 * again, and pages are unmapped and mapped back.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 8192;
    long ps = sysconf(_SC_PAGESIZE);
    const long chunk = 256;
    char *base = mmap(NULL, (size_t)n * ps, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    for (long i = 1; i < n; i += 2)
        mprotect(base + i * ps, ps, PROT_READ);
    printf("ready %p %ld\n", (void *)base, n);
    fflush(stdout);

    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    unsigned long seed = 88172645463325252UL;
    for (unsigned long iter = 0;; iter++) {
        if ((iter & 63) == 0 && poll(&pfd, 1, 0) != 0)
            break;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        long c = (long)(seed % (unsigned long)(n / chunk)) * chunk;
        char *p = base + c * ps;
        /* merge the chunk into one region, then split it again */
        mprotect(p, chunk * ps, PROT_READ | PROT_WRITE);
        for (long i = 1; i < chunk; i += 2)
            mprotect(p + i * ps, ps, PROT_READ);
        /* punch a hole and fill it again, somewhere else */
        long k = (long)((seed >> 20) % (unsigned long)n);
        char *q = base + k * ps;
        munmap(q, ps);
        mmap(q, ps, (k & 1) ? PROT_READ : PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    }
    return 0;
}
