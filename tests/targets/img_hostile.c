/* A hostile target for the image readers (tests/live/test_live_hostile.py).
 *
 *   img_hostile FILE...   maps the first page of each FILE (crafted ELF
 *                         files: a note flood, sparse files with huge
 *                         declared tables), prints "ready PID ADDR..." (where
 *                         each is mapped) and waits for stdin to close
 *
 * Each mapping is file-backed at offset 0 with an ELF header there, so a
 * reader takes it for an image and reads its headers and tables: what they
 * claim must not cost it more than its budgets. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    char byte;

    printf("ready %d", (int)getpid());
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        void *at;
        if (fd < 0) {
            perror(argv[i]);
            return 1;
        }
        at = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        if (at == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        close(fd);
        printf(" %lx", (unsigned long)at);
    }
    printf("\n");
    fflush(stdout);
    while (read(0, &byte, 1) > 0) {
    }
    return 0;
}
