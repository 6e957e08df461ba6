/* Target for tests/live/test_images.py: unlinks its own file (argv[0], give a
 * path) before anything else, then prints
 * "ready PID &deleted_secret &deleted_exported" and waits until stdin is
 * closed.  deleted_secret is local (.symtab only); deleted_exported is in
 * .dynsym when linked with -rdynamic. */
#include <stdio.h>
#include <unistd.h>

static int deleted_secret = 0x0de1e7ed;
int deleted_exported = 0x7e11a1e0;

int
main(int argc, char **argv)
{
    (void)argc;
    if (unlink(argv[0]) != 0) {
        perror("unlink");
        return 2;
    }
    printf("ready %d %p %p\n", (int)getpid(), (void *)&deleted_secret,
           (void *)&deleted_exported);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    return deleted_secret == deleted_exported;
}
