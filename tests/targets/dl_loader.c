/* A target that loads and unloads libraries when told, for the tests of
 * memmaps.Process (tests/live/test_process.py).
 *
 * It prints "ready PID PAGE" (PAGE: a readable page whose next page is
 * unmapped, holding the bytes 0..255 repeated), then answers one command per
 * line on stdin:
 *   open PATH   dlopen(PATH, RTLD_NOW | RTLD_LOCAL); prints
 *               "opened HANDLE LIB_VALUE" (the address dlsym gives for
 *               lib_value in that library)
 *   close       dlclose()s the last library opened; prints "closed"
 *   map PATH    maps PATH read-only, not executable; prints "mapped ADDR"
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int
main(void)
{
    void *handles[64];
    int opened = 0;
    char line[4096];
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (two == MAP_FAILED || munmap(two + page, page) != 0) {
        perror("mmap");
        return 1;
    }
    for (long i = 0; i < page; i++) {
        two[i] = (unsigned char)i;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("ready %d %p\n", (int)getpid(), (void *)two);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "open ", 5) == 0 && opened < 64) {
            void *handle = dlopen(line + 5, RTLD_NOW | RTLD_LOCAL);
            if (handle == NULL) {
                printf("error %s\n", dlerror());
                continue;
            }
            handles[opened++] = handle;
            printf("opened %p %p\n", handle, dlsym(handle, "lib_value"));
        }
        else if (strcmp(line, "close") == 0 && opened > 0) {
            dlclose(handles[--opened]);
            printf("closed\n");
        }
        else if (strncmp(line, "map ", 4) == 0) {
            int fd = open(line + 4, O_RDONLY);
            void *at = fd < 0 ? MAP_FAILED
                              : mmap(NULL, (size_t)page, PROT_READ,
                                     MAP_PRIVATE, fd, 0);
            if (at == MAP_FAILED) {
                printf("error cannot map %s\n", line + 4);
                continue;
            }
            close(fd);
            printf("mapped %p\n", at);
        }
        else {
            printf("error unknown command %s\n", line);
        }
    }
    return 0;
}
