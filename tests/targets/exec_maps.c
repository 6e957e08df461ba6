/* Target for tests/live/test_live_exec.py: processes that call execve while
 * their map is being read.
 *
 * usage: exec_maps N PROGRAM [ARG...]
 * Maps N pages with every other page's protection changed (about N
 * regions), prints "ready\n", then serves one line at a time on stdin:
 *   "fork DELAY_US\n"  forks a child (which has the N regions too) that
 *                      prints "child PID\n", waits for SIGUSR1, sleeps
 *                      DELAY_US microseconds and execs PROGRAM ARG...
 * Children are reaped by the kernel (SIGCHLD ignored); the caller kills
 * them.  EOF on stdin ends the server.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    long n = argc > 2 ? atol(argv[1]) : 0;
    long page = sysconf(_SC_PAGESIZE);
    char line[128];
    sigset_t usr1;
    char *base;

    if (argc < 3 || n < 2) {
        fprintf(stderr, "usage: exec_maps N PROGRAM [ARG...]\n");
        return 2;
    }
    base = mmap(NULL, (size_t)n * page, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    for (long i = 1; i < n; i += 2) {
        if (mprotect(base + i * page, page, PROT_READ) != 0) {
            perror("mprotect");
            return 2;
        }
    }
    signal(SIGCHLD, SIG_IGN);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("ready\n");
    while (fgets(line, sizeof(line), stdin) != NULL) {
        long delay;
        pid_t child;
        int signo;

        if (sscanf(line, "fork %ld", &delay) != 1) {
            fprintf(stderr, "exec_maps: unknown command %s", line);
            return 2;
        }
        child = fork();
        if (child < 0) {
            perror("fork");
            return 2;
        }
        if (child == 0) {
            printf("child %ld\n", (long)getpid());
            sigwait(&usr1, &signo);
            if (delay > 0) {
                usleep((useconds_t)delay);
            }
            execv(argv[2], argv + 2);
            perror("execv");
            _exit(3);
        }
    }
    return 0;
}
