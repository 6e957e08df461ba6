/* Target for the tests of files found inside a target's root
 * (tests/live/test_rooted_files.py, tests/live/test_hostile_files.py), run
 * in a chroot or in a mount namespace of its own:
 *
 *   img_rooted LIB             loads LIB, prints "ready PID &rooted_secret
 *                              &rooted_exported" (what the library itself
 *                              and dlsym say) and waits until stdin is
 *                              closed
 *   img_rooted LIB ROOT UID    the same, but after loading LIB it chroots
 *                              into ROOT and runs as UID (dumpable again,
 *                              so that UID may read it): a library mapped
 *                              from outside the root the process lives in */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    void *lib;
    int *(*secret)(void);
    void *exported;
    char byte;

    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: img_rooted LIB [ROOT UID]\n");
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW);
    if (lib == NULL) {
        fprintf(stderr, "img_rooted: %s\n", dlerror());
        return 1;
    }
    secret = (int *(*)(void))dlsym(lib, "rooted_secret_address");
    exported = dlsym(lib, "rooted_exported");
    if (secret == NULL || exported == NULL) {
        fprintf(stderr, "img_rooted: %s\n", dlerror());
        return 1;
    }
    if (argc == 4) {
        uid_t uid = (uid_t)strtoul(argv[3], NULL, 10);
        if (chroot(argv[2]) != 0 || chdir("/") != 0 ||
            setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 ||
            setresuid(uid, uid, uid) != 0 ||
            prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) {
            perror("img_rooted");
            return 1;
        }
    }
    printf("ready %d %p %p\n", (int)getpid(), (void *)secret(), exported);
    fflush(stdout);
    while (read(0, &byte, 1) > 0) {
    }
    return 0;
}
