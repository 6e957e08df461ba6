/* Target for tests/live/test_images.py: built twice with different -DVALUE (and
 * -DPAD in the replacement, which moves the data by two pages), so that the
 * file on disk can be replaced by another build while the first runs.
 * Prints "ready PID &replaced_value &replaced_exported" and waits until
 * stdin is closed. */
#include <stdio.h>
#include <unistd.h>

#ifndef VALUE
#define VALUE 0x0a0a0a0a
#endif

#ifdef PAD
__asm__(".pushsection .text\n.skip 8192\n.popsection\n");
#endif

static int replaced_value = VALUE;
int replaced_exported = VALUE ^ 0x7fffffff;

int
main(void)
{
    printf("ready %d %p %p\n", (int)getpid(), (void *)&replaced_value,
           (void *)&replaced_exported);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    return replaced_value == replaced_exported;
}
