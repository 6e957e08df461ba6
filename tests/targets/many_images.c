/* A process with N mapped ELF images, for the image benchmark
 * (bench/bench_symbols.py) and tests/live/test_many_images.py.
 *
 * Usage: many_images mmap|dlopen DIR N
 *
 * DIR holds N shared objects named img00000.so, img00001.so, ... (copies
 * of one small library, each its own file).  Every one is loaded:
 *   mmap    as ld.so maps a library, without ld.so: one mapping of the
 *           whole extent from the first PT_LOAD's offset, then each further
 *           PT_LOAD mapped over it with its own protection, holes between
 *           them made PROT_NONE, and PT_GNU_RELRO made read-only.  What
 *           /proc/PID/maps shows is what ld.so leaves, and the cost is
 *           linear in N.
 *   dlopen  dlopen(RTLD_NOW | RTLD_LOCAL) each: the libraries are in the
 *           link_map chain too, but glibc's dlopen looks through every
 *           object already loaded, so loading N costs N^2 (about 2.5 s for
 *           8000 on a small machine).
 * Each file is closed once mapped: the process holds no descriptor per
 * image, so RLIMIT_NOFILE never limits N.  vm.max_map_count does: every
 * image of the default layout takes 4 mappings.
 *
 * Prints "ready PID" and sleeps in read(0) until its stdin is closed.
 *
 * Build: cc -O2 -o many_images many_images.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_PHDRS 32

static uintptr_t page_size;

static uintptr_t
page_down(uintptr_t value)
{
    return value & ~(page_size - 1);
}

static uintptr_t
page_up(uintptr_t value)
{
    return page_down(value + page_size - 1);
}

static void
die(const char *path, const char *what)
{
    fprintf(stderr, "many_images: %s: %s: %s\n", path, what,
            errno ? strerror(errno) : "bad ELF file");
    exit(1);
}

static int
protection(uint32_t flags)
{
    return ((flags & PF_R) ? PROT_READ : 0) |
           ((flags & PF_W) ? PROT_WRITE : 0) |
           ((flags & PF_X) ? PROT_EXEC : 0);
}

/* Maps the ELF shared object at path the way glibc's _dl_map_segments
 * does, and closes it. */
static void
map_like_ld_so(const char *path)
{
    Elf64_Ehdr header;
    Elf64_Phdr phdrs[MAX_PHDRS];
    const Elf64_Phdr *loads[MAX_PHDRS];
    const Elf64_Phdr *relro = NULL;
    size_t load_count = 0;
    uintptr_t first, extent, base, bias;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    errno = 0;
    if (fd < 0) {
        die(path, "open");
    }
    if (pread(fd, &header, sizeof(header), 0) != (ssize_t)sizeof(header) ||
        memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 ||
        header.e_phentsize != sizeof(Elf64_Phdr) ||
        header.e_phnum > MAX_PHDRS ||
        pread(fd, phdrs, header.e_phnum * sizeof(Elf64_Phdr),
              (off_t)header.e_phoff) !=
            (ssize_t)(header.e_phnum * sizeof(Elf64_Phdr))) {
        die(path, "reading the headers");
    }
    for (size_t i = 0; i < header.e_phnum; i++) {
        if (phdrs[i].p_type == PT_LOAD) {
            loads[load_count++] = &phdrs[i];
        }
        else if (phdrs[i].p_type == PT_GNU_RELRO) {
            relro = &phdrs[i];
        }
    }
    if (load_count == 0) {
        die(path, "no PT_LOAD");
    }
    first = page_down(loads[0]->p_vaddr);
    extent = page_up(loads[load_count - 1]->p_vaddr +
                     loads[load_count - 1]->p_memsz) -
             first;
    /* The whole extent at once, so the segments keep their distances and
     * nothing else lands between them. */
    base =
        (uintptr_t)mmap(NULL, extent, protection(loads[0]->p_flags),
                        MAP_PRIVATE, fd, (off_t)page_down(loads[0]->p_offset));
    if ((void *)base == MAP_FAILED) {
        die(path, "mmap of the extent");
    }
    bias = base - first;
    if (load_count > 1) {
        uintptr_t end = page_up(loads[0]->p_vaddr + loads[0]->p_filesz);
        uintptr_t last = page_down(loads[load_count - 1]->p_vaddr);
        if (last > end &&
            mprotect((void *)(bias + end), last - end, PROT_NONE) != 0) {
            die(path, "mprotect of the holes");
        }
    }
    for (size_t i = 1; i < load_count; i++) {
        const Elf64_Phdr *load = loads[i];
        uintptr_t start = page_down(load->p_vaddr);
        uintptr_t file_end = page_up(load->p_vaddr + load->p_filesz);
        uintptr_t mem_end = page_up(load->p_vaddr + load->p_memsz);

        if (file_end > start &&
            mmap((void *)(bias + start), file_end - start,
                 protection(load->p_flags), MAP_PRIVATE | MAP_FIXED, fd,
                 (off_t)page_down(load->p_offset)) == MAP_FAILED) {
            die(path, "mmap of a segment");
        }
        if (mem_end > file_end &&
            mmap((void *)(bias + file_end), mem_end - file_end,
                 protection(load->p_flags),
                 MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1,
                 0) == MAP_FAILED) {
            die(path, "mmap of the bss");
        }
    }
    if (relro != NULL && page_down(relro->p_vaddr + relro->p_memsz) >
                             page_down(relro->p_vaddr)) {
        uintptr_t start = page_down(relro->p_vaddr);
        uintptr_t stop = page_down(relro->p_vaddr + relro->p_memsz);
        if (mprotect((void *)(bias + start), stop - start, PROT_READ) != 0) {
            die(path, "mprotect of PT_GNU_RELRO");
        }
    }
    close(fd);
}

int
main(int argc, char **argv)
{
    char path[4096];
    char *end;
    long count;
    int use_dlopen;
    char sink;

    if (argc != 4 ||
        (strcmp(argv[1], "mmap") != 0 && strcmp(argv[1], "dlopen") != 0)) {
        fprintf(stderr, "usage: many_images mmap|dlopen DIR N\n");
        return 2;
    }
    use_dlopen = strcmp(argv[1], "dlopen") == 0;
    errno = 0;
    count = strtol(argv[3], &end, 10);
    if (errno != 0 || *end != '\0' || count < 0 || count > 100000) {
        fprintf(stderr, "many_images: N must be 0..100000, got '%s'\n",
                argv[3]);
        return 2;
    }
    page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (long i = 0; i < count; i++) {
        snprintf(path, sizeof(path), "%s/img%05ld.so", argv[2], i);
        if (use_dlopen) {
            if (dlopen(path, RTLD_NOW | RTLD_LOCAL) == NULL) {
                fprintf(stderr, "many_images: %s\n", dlerror());
                return 1;
            }
        }
        else {
            map_like_ld_so(path);
        }
    }
    if (printf("ready %d\n", (int)getpid()) < 0 || fflush(stdout) != 0) {
        return 1;
    }
    for (;;) {
        ssize_t got = read(STDIN_FILENO, &sink, 1);
        if (got == 0 || (got < 0 && errno != EINTR)) {
            break;
        }
    }
    return 0;
}
