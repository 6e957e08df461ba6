/* A hostile target for the image readers (tests/test_native.py).
 *
 *   img_fifo LIB      loads LIB, unlinks it and puts a FIFO at its path,
 *                     prints "ready PID" and waits for stdin to close
 *
 * A reader that opens the path the map names, as a file to parse, blocks
 * forever on the FIFO's open (no writer will come); one that checks what
 * it opened is not fooled either way: the FIFO is not the mapped inode. */
#include <dlfcn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    char byte;

    if (argc != 2) {
        fprintf(stderr, "usage: img_fifo LIB\n");
        return 2;
    }
    if (dlopen(argv[1], RTLD_NOW) == NULL) {
        fprintf(stderr, "img_fifo: %s\n", dlerror());
        return 1;
    }
    if (unlink(argv[1]) != 0 || mkfifo(argv[1], 0666) != 0) {
        perror("img_fifo");
        return 1;
    }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    while (read(0, &byte, 1) > 0) {
    }
    return 0;
}
