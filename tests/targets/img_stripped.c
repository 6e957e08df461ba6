/* Target for tests/live/test_images.py: stripped after the build, with its
 * symbols kept in a separate debug file.  -DSALT=N gives builds with
 * different build-ids.  Prints "ready PID &stripped_secret
 * &stripped_exported" and waits until stdin is closed. */
#include <stdio.h>
#include <unistd.h>

#ifndef SALT
#define SALT 0
#endif

static int stripped_secret = 0x57219ed0 + SALT;
int stripped_exported = 0x5ea4c4ed;

int
main(void)
{
    printf("ready %d %p %p\n", (int)getpid(), (void *)&stripped_secret,
           (void *)&stripped_exported);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    return stripped_secret == stripped_exported;
}
