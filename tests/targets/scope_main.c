/* Target for tests/live/test_linker_scope.py: linked against libdupb.so
 * then libdupa.so (scope_dup.c), both defining dup_symbol and dup_object.
 *
 *   scope_main [OPTION | global:PATH | local:PATH | newns:PATH |
 *               churn:PATH]...
 *
 * dlopen()s each PATH with RTLD_GLOBAL or RTLD_LOCAL, or dlmopen()s it into
 * a new namespace, in order; churn:PATH starts a thread that dlopen()s and
 * dlclose()s PATH for ever.  Options:
 *
 *   --unmap-vdso     unmaps the vDSO (so that nothing of it is left to
 *                    read from memory)
 *   --lie-addr NAME  adds 0x1000 to the l_addr of the link_map whose l_name
 *                    ends with NAME
 *   --loop           points the last link_map's l_next at the first
 *   --adding         leaves r_state at RT_ADD, as if a dlopen() never ended
 *
 * Then prints what the process itself resolves, and waits until stdin is
 * closed:
 *
 *   ready PID DLSYM_DUP_SYMBOL DUP_SYMBOL DLSYM_DUP_OBJECT DUP_OBJECT
 *         DLSYM_MALLOC DLSYM_LATE_SYMBOL
 *
 * DUP_SYMBOL and DUP_OBJECT are the addresses the executable's own code
 * uses (dup_object is its own copy, made by a copy relocation); the DLSYM_
 * ones are dlsym(RTLD_DEFAULT, ...), 0 when not found.  After a lie it
 * leaves with _exit(): ld.so's exit handlers would walk the lie. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int dup_symbol(void);
extern int dup_object;

static unsigned long
lookup(const char *name)
{
    return (unsigned long)(uintptr_t)dlsym(RTLD_DEFAULT, name);
}

/* The [vdso] line of /proc/self/maps, unmapped. */
static int
unmap_vdso(void)
{
    char line[512];
    FILE *maps = fopen("/proc/self/maps", "r");
    int done = -1;

    if (maps == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), maps) != NULL) {
        unsigned long start, end;
        if (strstr(line, "[vdso]") != NULL &&
            sscanf(line, "%lx-%lx", &start, &end) == 2) {
            done = munmap((void *)start, end - start);
            break;
        }
    }
    fclose(maps);
    return done;
}

/* ld.so's own r_debug, through DT_DEBUG: the executable's _r_debug would
 * be a copy made at start-up by a copy relocation. */
static struct r_debug *
live_r_debug(void)
{
    extern ElfW(Dyn) _DYNAMIC[];

    for (ElfW(Dyn) *d = _DYNAMIC; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_DEBUG) {
            return (struct r_debug *)d->d_un.d_ptr;
        }
    }
    return NULL;
}

static int
ends_with(const char *text, const char *end)
{
    size_t n = strlen(text), m = strlen(end);

    return n >= m && strcmp(text + n - m, end) == 0;
}

static void *
churn(void *path)
{
    for (;;) {
        void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (handle != NULL) {
            dlclose(handle);
        }
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    char *block;
    const char *lie_addr = NULL;
    int loop = 0, adding = 0;
    pthread_t thread;

    for (int i = 1; i < argc; i++) {
        const char *path = strchr(argv[i], ':') + 1;
        void *handle = NULL;
        if (strcmp(argv[i], "--unmap-vdso") == 0) {
            if (unmap_vdso() != 0) {
                fprintf(stderr, "scope_main: cannot unmap the vdso\n");
                return 2;
            }
            continue;
        }
        if (strcmp(argv[i], "--lie-addr") == 0 && i + 1 < argc) {
            lie_addr = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--loop") == 0 ||
            strcmp(argv[i], "--adding") == 0) {
            loop |= argv[i][2] == 'l';
            adding |= argv[i][2] == 'a';
            continue;
        }
        if (strncmp(argv[i], "global:", 7) == 0) {
            handle = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        }
        else if (strncmp(argv[i], "local:", 6) == 0) {
            handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        }
        else if (strncmp(argv[i], "newns:", 6) == 0) {
            handle = dlmopen(LM_ID_NEWLM, path, RTLD_NOW);
        }
        else if (strncmp(argv[i], "churn:", 6) == 0) {
            if (pthread_create(&thread, NULL, churn, (void *)path) != 0) {
                return 2;
            }
            continue;
        }
        else {
            fprintf(stderr, "scope_main: %s: not an option\n", argv[i]);
            return 2;
        }
        if (handle == NULL) {
            fprintf(stderr, "scope_main: %s\n", dlerror());
            return 2;
        }
    }
    block = malloc(64);
    if (block == NULL) {
        return 2;
    }
    snprintf(block, 64, "%d", dup_symbol() + dup_object);
    printf("ready %d %#lx %#lx %#lx %#lx %#lx %#lx\n", (int)getpid(),
           lookup("dup_symbol"), (unsigned long)(uintptr_t)&dup_symbol,
           lookup("dup_object"), (unsigned long)(uintptr_t)&dup_object,
           lookup("malloc"), lookup("late_symbol"));
    if (lie_addr != NULL || loop || adding) {
        struct r_debug *r = live_r_debug();
        struct link_map *l;
        if (r == NULL) {
            return 2;
        }
        for (l = r->r_map; l != NULL; l = l->l_next) {
            if (lie_addr != NULL && ends_with(l->l_name, lie_addr)) {
                l->l_addr += 0x1000;
            }
            if (loop && l->l_next == NULL) {
                l->l_next = r->r_map;
                break;
            }
        }
        if (adding) {
            r->r_state = RT_ADD;
        }
    }
    fflush(stdout);
    while (read(0, block, 64) > 0)
        ;
    if (lie_addr != NULL || loop || adding) {
        _exit(0);
    }
    return 0;
}
