/* A target that changes its memory map when told, for the tests of
 * memmaps.diff() and of the command line's --diff and --watch
 * (tests/live/test_diff.py, tests/live/test_cli_diff.py).
 *
 * It reserves an arena of ARENA_PAGES pages and unmaps it again, so that
 * nothing else is mapped there (the target does nothing between commands),
 * and prints "ready PID ARENA". Then it answers one command per line on
 * stdin with "ok ..." or "error ...". Offsets and sizes are in pages,
 * counted from the arena; PROT is three letters such as rw- or r-x, SHARE
 * is p (private) or s (shared):
 *   map OFF N PROT SHARE       anonymous memory at OFF
 *   file OFF N PROT SHARE PATH FOFF   PATH from page FOFF of it, at OFF
 *   unmap OFF N                munmap
 *   protect OFF N PROT         mprotect
 *   remap OFF N NEWN [TO]      mremap in place, or moved to TO; prints
 *                              "ok ADDR"
 *   touch OFF N                writes one byte in each page
 *   name OFF N NAME            names anonymous memory (Linux 5.17+)
 *   open PATH                  dlopen(RTLD_NOW | RTLD_LOCAL); prints
 *                              "ok BASE" (the library's load bias)
 *   close                      dlcloses the last library opened
 *   block ADDR N PROT          maps N pages of anonymous memory at ADDR
 *                              (where a library was, so that it loads
 *                              elsewhere)
 *   exit                       exits with status 0
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA           0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define ARENA_PAGES 4096

static long page;
static char *arena;

static int
prot_of(const char *text)
{
    int prot = PROT_NONE;
    if (strlen(text) != 3) {
        return -1;
    }
    if (text[0] == 'r') {
        prot |= PROT_READ;
    }
    if (text[1] == 'w') {
        prot |= PROT_WRITE;
    }
    if (text[2] == 'x') {
        prot |= PROT_EXEC;
    }
    return prot;
}

static char *
at(long offset)
{
    return arena + offset * page;
}

static void
answer(int failed, const char *what)
{
    if (failed) {
        printf("error %s: %m\n", what);
    }
    else {
        printf("ok\n");
    }
}

int
main(void)
{
    void *handles[64];
    int opened = 0;
    char line[4096];

    page = sysconf(_SC_PAGESIZE);
    /* malloc must not grow or trim its heap between two snapshots: the
     * tests count every region that changes. */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 1 << 24);
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    setvbuf(stdout, NULL, _IONBF, 0);
    arena = mmap(NULL, (size_t)ARENA_PAGES * page, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED || munmap(arena, (size_t)ARENA_PAGES * page)) {
        perror("mmap");
        return 1;
    }
    printf("ready %d %p\n", (int)getpid(), (void *)arena);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char word[16], prot[8], share[8], path[2048];
        long off, n, newn, to;
        void *addr;
        int count;

        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%15s", word) != 1) {
            printf("error empty command\n");
        }
        else if (strcmp(word, "map") == 0 &&
                 sscanf(line, "map %ld %ld %7s %7s", &off, &n, prot, share) ==
                     4) {
            int flags = MAP_ANONYMOUS | MAP_FIXED_NOREPLACE |
                        (share[0] == 's' ? MAP_SHARED : MAP_PRIVATE);
            addr =
                mmap(at(off), (size_t)n * page, prot_of(prot), flags, -1, 0);
            answer(addr != at(off), "mmap");
        }
        else if (strcmp(word, "file") == 0 &&
                 sscanf(line, "file %ld %ld %7s %7s %2047s %ld", &off, &n,
                        prot, share, path, &to) == 6) {
            int writable = share[0] == 's' && strchr(prot, 'w') != NULL;
            int fd = open(path, writable ? O_RDWR : O_RDONLY);
            int flags =
                MAP_FIXED | (share[0] == 's' ? MAP_SHARED : MAP_PRIVATE);
            addr = fd < 0 ? MAP_FAILED
                          : mmap(at(off), (size_t)n * page, prot_of(prot),
                                 flags, fd, (off_t)to * page);
            if (fd >= 0) {
                close(fd);
            }
            answer(addr != at(off), "mmap file");
        }
        else if (strcmp(word, "unmap") == 0 &&
                 sscanf(line, "unmap %ld %ld", &off, &n) == 2) {
            answer(munmap(at(off), (size_t)n * page) != 0, "munmap");
        }
        else if (strcmp(word, "protect") == 0 &&
                 sscanf(line, "protect %ld %ld %7s", &off, &n, prot) == 3) {
            answer(mprotect(at(off), (size_t)n * page, prot_of(prot)) != 0,
                   "mprotect");
        }
        else if (strcmp(word, "remap") == 0 &&
                 (count = sscanf(line, "remap %ld %ld %ld %ld", &off, &n,
                                 &newn, &to)) >= 3) {
            addr = count == 4
                       ? mremap(at(off), (size_t)n * page, (size_t)newn * page,
                                MREMAP_MAYMOVE | MREMAP_FIXED, at(to))
                       : mremap(at(off), (size_t)n * page, (size_t)newn * page,
                                0);
            if (addr == MAP_FAILED) {
                printf("error mremap: %m\n");
            }
            else {
                printf("ok %p\n", addr);
            }
        }
        else if (strcmp(word, "touch") == 0 &&
                 sscanf(line, "touch %ld %ld", &off, &n) == 2) {
            for (long i = 0; i < n; i++) {
                at(off)[i * page] = 1;
            }
            printf("ok\n");
        }
        else if (strcmp(word, "name") == 0 &&
                 sscanf(line, "name %ld %ld %2047s", &off, &n, path) == 3) {
            answer(prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, at(off),
                         (size_t)n * page, path) != 0,
                   "prctl");
        }
        else if (strcmp(word, "open") == 0 &&
                 sscanf(line, "open %2047s", path) == 1 && opened < 64) {
            struct link_map *map = NULL;
            void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (handle == NULL || dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0) {
                printf("error %s\n", dlerror());
                continue;
            }
            handles[opened++] = handle;
            printf("ok %#lx\n", (unsigned long)map->l_addr);
        }
        else if (strcmp(word, "close") == 0 && opened > 0) {
            answer(dlclose(handles[--opened]) != 0, "dlclose");
        }
        else if (strcmp(word, "block") == 0 &&
                 sscanf(line, "block %p %ld %7s", &addr, &n, prot) == 3) {
            void *got =
                mmap(addr, (size_t)n * page, prot_of(prot),
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            answer(got != addr, "mmap block");
        }
        else if (strcmp(word, "exit") == 0) {
            return 0;
        }
        else {
            printf("error unknown command %s\n", line);
        }
    }
    return 0;
}
