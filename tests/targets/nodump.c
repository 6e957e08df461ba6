/* Target for tests/live/test_live_access.py: makes itself non-dumpable
 * (PR_SET_DUMPABLE 0), prints "ready\n" and waits until stdin is closed. */
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int
main(void)
{
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        perror("prctl");
        return 2;
    }
    printf("ready %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    return 0;
}
