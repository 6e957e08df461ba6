/* linkmapdump: the r_debug / link_map reader (formats/link_map.c) on its
 * own.
 *
 *   linkmapdump [-4|-8] [-b] [-u START-END]... BASE FILE chain ADDR
 *       walk the chain of the r_debug at ADDR in a memory image: the bytes
 *       of FILE at addresses BASE onwards; -4 for 32-bit pointers (default
 *       -8), -b big-endian, -u makes [START, END) unreadable (a hole)
 *   linkmapdump [-4|-8] [-b] [-u START-END]... BASE FILE dynamic ADDR
 *       the r_debug address DT_DEBUG holds in the dynamic array at ADDR
 *   linkmapdump --self
 *       (Linux) this process's own chain, found through its DT_DEBUG and
 *       read through /proc/self/mem; then "phdr" lines, what
 *       dl_iterate_phdr() reports, for the tests to compare
 *
 * Numbers are in C syntax (0x for hex).  The chain prints as a line of
 * the r_debug record's facts, then one line an object: tab-separated
 * key=value words, the name last as name=BYTES with bytes outside
 * printable ASCII (and the backslash) escaped \xHH.  A record that cannot
 * be read gives the reader's message and exit status 1; a dynamic array
 * without DT_DEBUG prints "not found: MESSAGE" and exits 0.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* dl_iterate_phdr, pread */
#endif
#include "formats/link_map.h"
#include "read_whole.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#include <fcntl.h>
#include <link.h>
#include <unistd.h>
#endif

#define MAX_HOLES 64

typedef struct image {
    const uint8_t *data;
    size_t len;
    uint64_t base;
    uint64_t holes[MAX_HOLES][2];
    size_t hole_count;
} image;

/* The image's bytes at absolute addresses; a read that touches a hole or
 * goes past the bytes fails whole, as a page that is not mapped does. */
static int
read_image(void *ctx, uint64_t addr, void *buf, size_t len)
{
    const image *m = ctx;
    uint64_t end;

    if (addr < m->base || len > UINT64_MAX - addr) {
        return -1;
    }
    end = addr + len;
    if (addr - m->base > m->len || len > m->len - (addr - m->base)) {
        return -1;
    }
    for (size_t i = 0; i < m->hole_count; i++) {
        if (addr < m->holes[i][1] && end > m->holes[i][0]) {
            return -1;
        }
    }
    memcpy(buf, m->data + (addr - m->base), len);
    return 0;
}

static int
parse_number(const char *text, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(text, &end, 0);
    return errno == 0 && end != text && *end == '\0' ? 0 : -1;
}

static void
print_name(const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c > 0x7e || c == '\\') {
            printf("\\x%02x", c);
        }
        else {
            putchar(c);
        }
    }
}

static const char *const name_states[] = {
    [MM_LINK_NAME_READ] = "read",
    [MM_LINK_NAME_NULL] = "null",
    [MM_LINK_NAME_UNREADABLE] = "unreadable",
    [MM_LINK_NAME_TOO_LONG] = "too-long",
};

static const char *const ends[] = {
    [MM_LINK_END_NULL] = "null",
    [MM_LINK_END_CYCLE] = "cycle",
    [MM_LINK_END_CAP] = "cap",
    [MM_LINK_END_UNREADABLE] = "unreadable",
};

static int
dump_chain(const mm_source *memory, uint64_t r_debug, unsigned pointer_size,
           int big_endian)
{
    mm_link_map map;
    mm_err err;
    mm_status status;

    mm_link_map_init(&map);
    memset(&err, 0, sizeof(err));
    status = mm_link_map_read(memory, r_debug, pointer_size, big_endian, &map,
                              &err);
    if (status != MM_OK) {
        fprintf(stderr, "linkmapdump: %s\n", err.message);
        mm_link_map_free(&map);
        return 1;
    }
    printf("version=%" PRId32 "\tstate=%" PRId32 "\tnamespaces=%zu"
           "\tfirst=0x%" PRIx64 "\tbrk=0x%" PRIx64 "\tldbase=0x%" PRIx64
           "\tend=%s\tend_at=0x%" PRIx64 "\ttorn=%zu\tcount=%zu\n",
           map.version, map.state, map.namespaces, map.first, map.brk,
           map.ldbase, ends[map.end], map.end_at, map.torn, map.count);
    for (size_t i = 0; i < map.count; i++) {
        const mm_link_entry *e = &map.entries[i];
        printf("map=0x%" PRIx64 "\taddr=0x%" PRIx64 "\tld=0x%" PRIx64
               "\tname_address=0x%" PRIx64 "\tname_state=%s\tname=",
               e->map, e->addr, e->ld, e->name_address, name_states[e->name]);
        print_name(mm_link_entry_name(&map, i), e->name_len);
        putchar('\n');
    }
    mm_link_map_free(&map);
    return 0;
}

static int
dump_dynamic(const mm_source *memory, uint64_t dynamic, unsigned pointer_size,
             int big_endian)
{
    uint64_t r_debug;
    mm_err err;
    mm_status status;

    memset(&err, 0, sizeof(err));
    status = mm_find_r_debug(memory, dynamic, pointer_size, big_endian,
                             &r_debug, &err);
    if (status == MM_ERR_NOT_FOUND) {
        printf("not found: %s\n", err.message);
        return 0;
    }
    if (status != MM_OK) {
        fprintf(stderr, "linkmapdump: %s\n", err.message);
        return 1;
    }
    printf("r_debug=0x%" PRIx64 "\n", r_debug);
    return 0;
}

#ifdef __linux__
/* This process's memory through /proc/self/mem: an address that is not
 * mapped fails the read instead of faulting. */
static int
read_self(void *ctx, uint64_t addr, void *buf, size_t len)
{
    int fd = *(const int *)ctx;

    if (addr > (uint64_t)INT64_MAX) {
        return -1;
    }
    return pread(fd, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

static int
print_phdr(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    printf("phdr\taddr=0x%" PRIx64 "\tname=", (uint64_t)info->dlpi_addr);
    print_name(info->dlpi_name, strlen(info->dlpi_name));
    putchar('\n');
    return 0;
}

static int
dump_self(void)
{
    extern ElfW(Dyn) _DYNAMIC[];
    int fd = open("/proc/self/mem", O_RDONLY);
    mm_source memory = {
        .read = read_self, .ctx = &fd, .size = MM_SIZE_UNKNOWN};
    uint64_t r_debug;
    mm_err err;
    int status;

    if (fd < 0) {
        fprintf(stderr, "linkmapdump: /proc/self/mem: %s\n", strerror(errno));
        return 1;
    }
    memset(&err, 0, sizeof(err));
    if (mm_find_r_debug(&memory, (uint64_t)(uintptr_t)_DYNAMIC,
                        (unsigned)sizeof(void *), 0, &r_debug,
                        &err) != MM_OK) {
        fprintf(stderr, "linkmapdump: %s\n", err.message);
        close(fd);
        return 1;
    }
    status = dump_chain(&memory, r_debug, (unsigned)sizeof(void *), 0);
    close(fd);
    if (status == 0) {
        dl_iterate_phdr(print_phdr, NULL);
    }
    return status;
}
#endif

static int
usage(void)
{
    fprintf(stderr,
            "usage: linkmapdump [-4|-8] [-b] [-u START-END]... BASE FILE "
            "chain|dynamic ADDR\n"
            "       linkmapdump --self\n");
    return 2;
}

int
main(int argc, char **argv)
{
    image m;
    unsigned pointer_size = 8;
    int big_endian = 0, status, arg = 1;
    uint64_t addr;
    uint8_t *data;
    mm_source memory;

    memset(&m, 0, sizeof(m));
    if (argc == 2 && strcmp(argv[1], "--self") == 0) {
#ifdef __linux__
        return dump_self();
#else
        fprintf(stderr, "linkmapdump: --self is for Linux\n");
        return 2;
#endif
    }
    for (; arg < argc && argv[arg][0] == '-'; arg++) {
        if (strcmp(argv[arg], "-4") == 0 || strcmp(argv[arg], "-8") == 0) {
            pointer_size = (unsigned)(argv[arg][1] - '0');
        }
        else if (strcmp(argv[arg], "-b") == 0) {
            big_endian = 1;
        }
        else if (strcmp(argv[arg], "-u") == 0 && arg + 1 < argc &&
                 m.hole_count < MAX_HOLES) {
            char *dash = strchr(argv[++arg], '-');
            if (dash == NULL) {
                return usage();
            }
            *dash = '\0';
            if (parse_number(argv[arg], &m.holes[m.hole_count][0]) != 0 ||
                parse_number(dash + 1, &m.holes[m.hole_count][1]) != 0) {
                return usage();
            }
            m.hole_count++;
        }
        else {
            return usage();
        }
    }
    if (argc - arg != 4 || parse_number(argv[arg], &m.base) != 0 ||
        parse_number(argv[arg + 3], &addr) != 0) {
        return usage();
    }
    data = read_whole_file(argv[arg + 1], &m.len);
    if (data == NULL) {
        fprintf(stderr, "linkmapdump: %s: %s\n", argv[arg + 1],
                strerror(errno));
        return 1;
    }
    m.data = data;
    memory.read = read_image;
    memory.ctx = &m;
    memory.size = MM_SIZE_UNKNOWN;
    if (strcmp(argv[arg + 2], "chain") == 0) {
        status = dump_chain(&memory, addr, pointer_size, big_endian);
    }
    else if (strcmp(argv[arg + 2], "dynamic") == 0) {
        status = dump_dynamic(&memory, addr, pointer_size, big_endian);
    }
    else {
        status = usage();
    }
    free(data);
    return status;
}
