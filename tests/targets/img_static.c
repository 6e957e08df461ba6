/* Target for tests/live/test_images.py: built with -static -no-pie.  Prints
 * "ready PID &static_value &static_local" and waits until stdin is closed. */
#include <stdio.h>
#include <unistd.h>

int static_value = 0x57a71c00;
static int static_local = 0x10ca1000;

int
main(void)
{
    printf("ready %d %p %p\n", (int)getpid(), (void *)&static_value, (void *)&static_local);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    return static_value == static_local;
}
