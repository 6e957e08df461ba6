/* Target for tests/live/test_summary.py: memory of every category the
 * summary knows on Linux, at addresses it prints, then waits on stdin (EOF:
 * exit).
 *
 *   summary_target FILE
 *
 * prints "ready PID" and these addresses, in hex:
 *    0, 1  THREADS thread stacks: the lowest usable address of each (its
 *          guard page, made by glibc, lies just below)
 *    2, 3  guard sizes of those stacks
 *    4, 5  a malloc() of each thread: in the thread's own malloc arena,
 *          whose unused part glibc keeps as no-access address space
 *    6     RESERVE_PAGES of mmap(PROT_NONE), with nothing mapped on
 *          either side
 *    7     a hand-made guard: one no-access page directly below
 *          GUARDED_PAGES read-write pages, nothing on either side
 *    8     the opposite: RESERVE_PAGES no-access pages directly below one
 *          read-write page
 *    9     shared anonymous memory (/dev/zero (deleted))
 *   10     a memfd, mapped shared
 *   11     System V shared memory (removed at once: it goes with the
 *          process)
 *   12     POSIX shared memory (shm_open, unlinked at once: /dev/shm/...
 *          (deleted))
 *   13     FILE, mapped read-only
 *   14     private anonymous memory (mmap, written)
 *   15     a global of this executable (its data segment)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#define PAGE          4096UL
#define THREADS       2
#define RESERVE_PAGES 16
#define GUARDED_PAGES 4

static pthread_barrier_t started;
static pthread_barrier_t finish;
static void *volatile stack_low[THREADS];
static size_t guard_size[THREADS];
static void *volatile allocated[THREADS];
int written_global = 1;

static void
die(const char *what)
{
    perror(what);
    exit(2);
}

static void *
thread_main(void *arg)
{
    long index = (long)arg;
    pthread_attr_t attr;
    void *low;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0 ||
        pthread_attr_getstack(&attr, &low, &size) != 0 ||
        pthread_attr_getguardsize(&attr, &guard_size[index]) != 0)
        die("pthread_getattr_np");
    pthread_attr_destroy(&attr);
    stack_low[index] = low;
    allocated[index] = malloc(1000);
    if (allocated[index] == NULL)
        die("malloc");
    memset(allocated[index], 1, 1000);
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&finish);
    return NULL;
}

/* pages mapped with nothing on either side: one more page each side is
 * mapped and unmapped again. */
static char *
isolated(size_t pages, int prot)
{
    char *map = mmap(NULL, (pages + 2) * PAGE, prot,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        die("mmap");
    if (munmap(map, PAGE) != 0 || munmap(map + (pages + 1) * PAGE, PAGE) != 0)
        die("munmap");
    return map + PAGE;
}

static char *
shared_file(int fd)
{
    if (ftruncate(fd, PAGE) != 0)
        die("ftruncate");
    char *map = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        die("mmap shared");
    map[0] = 1;
    close(fd);
    return map;
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: summary_target FILE\n");
        return 2;
    }
    pthread_t threads[THREADS];
    pthread_barrier_init(&started, NULL, THREADS + 1);
    pthread_barrier_init(&finish, NULL, THREADS + 1);
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&threads[i], NULL, thread_main, (void *)i) != 0)
            die("pthread_create");
    pthread_barrier_wait(&started);

    char *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        die("mmap shared anonymous");
    shared[0] = 1;

    int memfd = memfd_create("summary ring", 0);
    if (memfd < 0)
        die("memfd_create");
    char *ring = shared_file(memfd);

    int shmid = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
    if (shmid < 0)
        die("shmget");
    char *sysv = shmat(shmid, NULL, 0);
    if (sysv == (void *)-1)
        die("shmat");
    shmctl(shmid, IPC_RMID, NULL);
    sysv[0] = 1;

    char name[64];
    snprintf(name, sizeof name, "/memmaps-summary-%d", (int)getpid());
    int posix_fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (posix_fd < 0)
        die("shm_open");
    shm_unlink(name);
    char *posix = shared_file(posix_fd);

    int file_fd = open(argv[1], O_RDONLY);
    if (file_fd < 0)
        die(argv[1]);
    char *file = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, file_fd, 0);
    if (file == MAP_FAILED)
        die("mmap file");
    close(file_fd);

    char *private = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (private == MAP_FAILED)
        die("mmap private");
    memset(private, 1, 8 * PAGE);

    /* Last, so that no later mapping fills the pages left unmapped around
     * them. */
    char *reserve = isolated(RESERVE_PAGES, PROT_NONE);

    char *guarded = isolated(GUARDED_PAGES + 1, PROT_READ | PROT_WRITE);
    if (mprotect(guarded, PAGE, PROT_NONE) != 0)
        die("mprotect");
    memset(guarded + PAGE, 1, GUARDED_PAGES * PAGE);

    char *below = isolated(RESERVE_PAGES + 1, PROT_NONE);
    if (mprotect(below + RESERVE_PAGES * PAGE, PAGE, PROT_READ | PROT_WRITE) !=
        0)
        die("mprotect");

    printf("ready %d %lx %lx %zx %zx %lx %lx %lx %lx %lx %lx %lx %lx %lx %lx "
           "%lx %lx\n",
           (int)getpid(), (unsigned long)stack_low[0],
           (unsigned long)stack_low[1], guard_size[0], guard_size[1],
           (unsigned long)allocated[0], (unsigned long)allocated[1],
           (unsigned long)reserve, (unsigned long)guarded,
           (unsigned long)below, (unsigned long)shared, (unsigned long)ring,
           (unsigned long)sysv, (unsigned long)posix, (unsigned long)file,
           (unsigned long)private, (unsigned long)&written_global);
    fflush(stdout);

    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    pthread_barrier_wait(&finish);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    return 0;
}
