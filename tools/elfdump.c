/* elfdump: the portable ELF reader (memmaps/native/mm_elf.c) on its own.
 *
 *   elfdump [OPTIONS] FILE [SYMBOL...]
 *       --dynamic-only   ignore the section headers, so that symbols come
 *                        from PT_DYNAMIC as for an image read from memory
 *       --unknown-size   read with fread() and tell the reader the size is
 *                        unknown, as it is for a process's memory
 *       --bias N         the dynamic_bias passed to symbol lookups
 *   elfdump --truncate-all FILE [SYMBOL...]
 *       open every prefix of FILE (with and without section headers) and
 *       check that each gives an error or the same facts as the whole file
 *   elfdump --flips SEED COUNT FILE [SYMBOL...]
 *       COUNT copies of FILE with a few random bytes changed, each read
 *       through every entry point: for the sanitizers, nothing is compared
 *   elfdump --self-image NAME [--dynamic-only] [--no-bias] [SYMBOL...]
 *       (Linux) read the image of NAME (a path, or [vdso]) from this
 *       process's own memory through /proc/self/maps and /proc/self/mem,
 *       with the load bias as dynamic_bias unless --no-bias
 *
 * It prints the header facts, every segment, the build-id, the debuglink
 * and its CRC, the DT_NEEDED names and DT_SONAME, and each symbol (with
 * what symbolize says of its value), one fact a line, for
 * tests/native/test_elf.py to compare with binutils.  A corrupt file gives the
 * reader's message and exit status 1.
 */
#include "formats/elf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#include <fcntl.h>
#include <unistd.h>
#endif

typedef struct file_reader {
    FILE *file;
} file_reader;

/* The --unknown-size callback: a stream, read piece by piece. */
static int
read_stream(void *ctx, uint64_t offset, void *buf, size_t len)
{
    file_reader *r = ctx;

    /* fseek takes a long, 32 bits on some systems. */
    if (offset > (uint64_t)INT64_MAX || (uint64_t)(long)offset != offset ||
        fseek(r->file, (long)offset, SEEK_SET) != 0) {
        return -1;
    }
    return fread(buf, 1, len, r->file) == len ? 0 : -1;
}

static uint8_t *
read_whole(FILE *file, size_t *len)
{
    uint8_t *data = NULL;
    size_t cap = 0;

    *len = 0;
    for (;;) {
        size_t n;
        if (cap - *len < 65536) {
            uint8_t *grown = realloc(data, cap * 2 + 65536);
            if (grown == NULL) {
                free(data);
                return NULL;
            }
            data = grown;
            cap = cap * 2 + 65536;
        }
        n = fread(data + *len, 1, cap - *len, file);
        *len += n;
        if (n == 0) {
            break;
        }
    }
    return data;
}

#ifdef __linux__
/* One mapping of the image in this process. */
typedef struct self_map {
    uint64_t start, end, offset;
} self_map;

typedef struct self_reader {
    int mem_fd;
    self_map maps[64];
    size_t count;
} self_reader;

/* Reads file offsets of the image from memory: each mapping shows the
 * bytes of the file from its offset on. */
static int
read_self(void *ctx, uint64_t offset, void *buf, size_t len)
{
    self_reader *r = ctx;
    uint8_t *out = buf;

    while (len > 0) {
        const self_map *m = NULL;
        size_t n;
        for (size_t i = 0; i < r->count; i++) {
            if (offset >= r->maps[i].offset &&
                offset - r->maps[i].offset <
                    r->maps[i].end - r->maps[i].start) {
                m = &r->maps[i];
                break;
            }
        }
        if (m == NULL) {
            return -1;
        }
        n = m->end - m->start - (offset - m->offset);
        n = n < len ? n : len;
        if (pread(r->mem_fd, out, n,
                  (off_t)(m->start + (offset - m->offset))) != (ssize_t)n) {
            return -1;
        }
        out += n;
        offset += n;
        len -= n;
    }
    return 0;
}

/* Finds the mappings named name in /proc/self/maps; 0 on success. */
static int
find_self_maps(self_reader *r, const char *name)
{
    char line[4096];
    FILE *maps = fopen("/proc/self/maps", "r");

    r->count = 0;
    if (maps == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), maps) != NULL && r->count < 64) {
        unsigned long long start, end, offset;
        int name_at = 0;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        }
        if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &start, &end,
                   &offset, &name_at) < 3 ||
            name_at == 0 || strcmp(line + name_at, name) != 0) {
            continue;
        }
        r->maps[r->count].start = start;
        r->maps[r->count].end = end;
        r->maps[r->count].offset = offset;
        r->count++;
    }
    fclose(maps);
    return r->count > 0 ? 0 : -1;
}

/* The load bias of the image: start - p_vaddr + p_offset - mapping offset,
 * for the PT_LOAD that covers the first mapping. */
static uint64_t
self_bias(const self_reader *r, const mm_elf *elf)
{
    const self_map *m = &r->maps[0];

    for (size_t i = 0; i < elf->segment_count; i++) {
        const mm_elf_segment *s = &elf->segments[i];
        if (s->type == MM_PT_LOAD && s->offset <= m->offset &&
            m->offset - s->offset < s->filesz) {
            return m->start - s->vaddr + s->offset - m->offset;
        }
    }
    return 0;
}
#endif

static void
print_facts(mm_elf *elf, uint64_t bias)
{
    uint8_t id[256];
    char link[4096];
    size_t len;
    uint32_t crc;
    mm_elf_names names;
    mm_err err;

    printf("class: %d\n", elf->is64 ? 64 : 32);
    printf("data: %s\n", elf->big_endian ? "big" : "little");
    printf("type: %u\n", (unsigned)elf->type);
    printf("machine: %u\n", (unsigned)elf->machine);
    printf("entry: 0x%" PRIx64 "\n", elf->entry);
    printf("sections: %zu\n", mm_elf_section_count(elf));
    printf("segments: %zu\n", elf->segment_count);
    for (size_t i = 0; i < elf->segment_count; i++) {
        const mm_elf_segment *s = &elf->segments[i];
        printf("segment: type=0x%" PRIx32 " flags=0x%" PRIx32
               " offset=0x%" PRIx64 " vaddr=0x%" PRIx64 " filesz=0x%" PRIx64
               " memsz=0x%" PRIx64 " align=0x%" PRIx64 "\n",
               s->type, s->flags, s->offset, s->vaddr, s->filesz, s->memsz,
               s->align);
    }
    len = mm_elf_build_id(elf, id, sizeof(id));
    printf("build-id: ");
    if (len == 0) {
        printf("none");
    }
    for (size_t i = 0; i < len; i++) {
        printf("%02x", id[i]);
    }
    printf("\n");
    len = mm_elf_debuglink(elf, link, sizeof(link));
    printf("debuglink: %s\n", len > 0 ? link : "none");
    if (mm_elf_debuglink_crc(elf, &crc) == 0) {
        printf("debuglink-crc: 0x%08" PRIx32 "\n", crc);
    }
    else {
        printf("debuglink-crc: none\n");
    }
    memset(&err, 0, sizeof(err));
    if (mm_elf_dynamic_names(elf, bias, &names, &err) != MM_OK) {
        printf("needed: error: %s\n", err.message);
        return;
    }
    /* "needed: " then the names, one space apart. */
    printf("needed: ");
    for (size_t i = 0; i < names.needed_count; i++) {
        printf(i > 0 ? " %s" : "%s", names.needed[i]);
    }
    printf("\nsoname: %s\n", names.soname != NULL ? names.soname : "none");
    mm_elf_names_free(&names);
}

/* Prints each symbol; returns 1 if a lookup met a corrupt table. */
static int
print_symbols(mm_elf *elf, char **names, int count, uint64_t bias)
{
    int failed = 0;

    for (int i = 0; i < count; i++) {
        mm_elf_symbol sym;
        mm_err err;
        mm_status status;

        memset(&err, 0, sizeof(err));
        status = mm_elf_find_symbol(elf, names[i], bias, &sym, &err);
        if (status == MM_OK) {
            mm_elf_match m;
            printf("symbol %s: value=0x%" PRIx64 " size=%" PRIu64
                   " type=%u binding=%u section=%u table=%s",
                   names[i], sym.value, sym.size, (unsigned)sym.type,
                   (unsigned)sym.binding, (unsigned)sym.section,
                   sym.from_dynsym ? "dynsym" : "symtab");
            /* What holds its address: itself or an alias. */
            if (mm_elf_symbolize(elf, sym.value, bias, &m, &err) == MM_OK) {
                printf(" holder=%s%s%s", m.name, m.hidden ? "@" : "",
                       m.hidden ? m.version : "");
            }
            printf("\n");
        }
        else if (status == MM_ERR_NOT_FOUND) {
            printf("symbol %s: not found\n", names[i]);
        }
        else {
            printf("symbol %s: error: %s\n", names[i], err.message);
            fprintf(stderr, "elfdump: %s: %s\n", names[i], err.message);
            failed = 1;
        }
    }
    return failed;
}

/* ---- hostile input: --truncate-all and --flips ---- */

#define MAX_SYMBOLS 16

/* What every entry point of the reader says about one input. */
typedef struct facts {
    mm_status status;
    mm_elf elf; /* header fields only: segments is a copy, internal NULL */
    size_t sections;
    uint8_t build_id[64];
    size_t build_id_len;
    char debuglink[256];
    size_t debuglink_len;
    mm_status symbol_status[MAX_SYMBOLS];
    mm_elf_symbol symbols[MAX_SYMBOLS];
} facts;

static void
free_facts(facts *f)
{
    free(f->elf.segments);
    f->elf.segments = NULL;
}

/* Reads data (copied to a buffer of exactly len bytes, so that the
 * sanitizer sees any read past it) through every entry point. */
static int
gather(const uint8_t *data, size_t len, unsigned flags, char **names,
       int count, uint64_t bias, facts *f)
{
    uint8_t *copy = malloc(len ? len : 1);
    mm_buffer buffer;
    mm_err err;
    mm_elf elf;

    memset(f, 0, sizeof(*f));
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, data, len);
    buffer.data = copy;
    buffer.len = len;
    f->status =
        mm_elf_open_flags(&elf, mm_read_buffer, &buffer, len, flags, &err);
    if (f->status != MM_OK) {
        free(copy);
        return 0;
    }
    f->elf = elf;
    f->elf.internal = NULL;
    f->elf.segments = malloc(elf.segment_count * sizeof(mm_elf_segment) + 1);
    if (f->elf.segments != NULL && elf.segment_count > 0) {
        memcpy(f->elf.segments, elf.segments,
               elf.segment_count * sizeof(mm_elf_segment));
    }
    f->sections = mm_elf_section_count(&elf);
    f->build_id_len = mm_elf_build_id(&elf, f->build_id, sizeof(f->build_id));
    f->debuglink_len =
        mm_elf_debuglink(&elf, f->debuglink, sizeof(f->debuglink));
    for (int i = 0; i < count && i < MAX_SYMBOLS; i++) {
        /* Twice, the second time from the tables kept by the first. */
        mm_elf_symbol again;
        f->symbol_status[i] =
            mm_elf_find_symbol(&elf, names[i], bias, &f->symbols[i], &err);
        if (mm_elf_find_symbol(&elf, names[i], bias, &again, &err) !=
                f->symbol_status[i] ||
            (f->symbol_status[i] == MM_OK &&
             memcmp(&again, &f->symbols[i], sizeof(again)) != 0)) {
            fprintf(stderr, "elfdump: a second lookup of %s differs\n",
                    names[i]);
            f->status = MM_ERR_ARGUMENT; /* counted as a mismatch */
        }
        /* And once with a bias, which must not crash either. */
        mm_elf_find_symbol(&elf, names[i], 0x1000, &again, &err);
        if (f->symbol_status[i] == MM_OK) {
            mm_elf_match m;
            (void)mm_elf_symbolize(&elf, f->symbols[i].value, bias, &m, &err);
        }
    }
    {
        /* The rest of the entry points, for the sanitizers. */
        uint32_t crc;
        mm_elf_names dyn;
        mm_elf_match m;
        (void)mm_elf_debuglink_crc(&elf, &crc);
        if (mm_elf_dynamic_names(&elf, bias, &dyn, &err) == MM_OK) {
            mm_elf_names_free(&dyn);
        }
        for (size_t s = 0; s < elf.segment_count; s++) {
            (void)mm_elf_symbolize(&elf, elf.segments[s].vaddr + 1, bias, &m,
                                   &err);
        }
        if (mm_elf_load_symbols(&elf, bias, &err) == MM_OK) {
            mm_elf_freeze(&elf);
        }
    }
    mm_elf_close(&elf);
    free(copy);
    return f->elf.segments == NULL ? -1 : 0;
}

/* fprintf to out unless it is NULL. */
static void
report(FILE *out, const char *fmt, ...)
{
    va_list args;

    if (out == NULL) {
        return;
    }
    va_start(args, fmt);
    vfprintf(out, fmt, args);
    va_end(args);
}

/* The number of ways f (a prefix of the file) disagrees with whole, where
 * an error or an absent answer is allowed but a different one is not. */
static int
compare_facts(const facts *f, const facts *whole, int count, size_t len,
              int verbose)
{
    FILE *out = verbose ? stderr : NULL;
    int bad = 0;

    if (f->status == MM_ERR_ARGUMENT) {
        return 1;
    }
    if (f->status != MM_OK) {
        return 0;
    }
    if (f->elf.is64 != whole->elf.is64 ||
        f->elf.big_endian != whole->elf.big_endian ||
        f->elf.type != whole->elf.type ||
        f->elf.machine != whole->elf.machine ||
        f->elf.entry != whole->elf.entry ||
        f->elf.segment_count != whole->elf.segment_count ||
        memcmp(f->elf.segments, whole->elf.segments,
               f->elf.segment_count * sizeof(mm_elf_segment)) != 0) {
        report(out, "elfdump: at %zu bytes the headers differ\n", len);
        bad++;
    }
    if (f->sections != 0 && f->sections != whole->sections) {
        report(out, "elfdump: at %zu bytes %zu sections, not %zu\n", len,
               f->sections, whole->sections);
        bad++;
    }
    if (f->build_id_len != 0 &&
        (f->build_id_len != whole->build_id_len ||
         memcmp(f->build_id, whole->build_id, f->build_id_len) != 0)) {
        report(out, "elfdump: at %zu bytes the build-id differs\n", len);
        bad++;
    }
    if (f->debuglink_len != 0 &&
        (f->debuglink_len != whole->debuglink_len ||
         strcmp(f->debuglink, whole->debuglink) != 0)) {
        report(out, "elfdump: at %zu bytes the debuglink differs\n", len);
        bad++;
    }
    for (int i = 0; i < count && i < MAX_SYMBOLS; i++) {
        const mm_elf_symbol *a = &f->symbols[i], *b = &whole->symbols[i];
        /* Without the .symtab at the end of the file the same symbol may
         * come from .dynsym: the same answer from another table. */
        if (f->symbol_status[i] == MM_OK &&
            (whole->symbol_status[i] != MM_OK || a->value != b->value ||
             a->size != b->size || a->type != b->type ||
             a->binding != b->binding || a->section != b->section)) {
            report(out, "elfdump: at %zu bytes symbol %d differs\n", len, i);
            bad++;
        }
    }
    return bad;
}

static int
truncate_all(const uint8_t *data, size_t len, char **names, int count)
{
    static const unsigned modes[2] = {0, MM_ELF_NO_SECTIONS};
    size_t opened = 0, mismatches = 0;

    for (int m = 0; m < 2; m++) {
        facts whole, part;
        if (gather(data, len, modes[m], names, count, 0, &whole) != 0 ||
            whole.status != MM_OK) {
            fprintf(stderr, "elfdump: the whole file does not open\n");
            free_facts(&whole);
            return 1;
        }
        for (size_t n = 0; n < len; n++) {
            if (gather(data, n, modes[m], names, count, 0, &part) != 0) {
                fprintf(stderr, "elfdump: out of memory\n");
                free_facts(&whole);
                return 1;
            }
            opened += part.status == MM_OK;
            mismatches +=
                compare_facts(&part, &whole, count, n, mismatches < 20);
            free_facts(&part);
        }
        free_facts(&whole);
    }
    printf("truncations: %zu opened: %zu mismatches: %zu\n", 2 * len, opened,
           mismatches);
    return mismatches != 0;
}

static uint64_t
next_random(uint64_t *state)
{
    /* xorshift64: the same sequence on every system for a seed. */
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static int
flips(const uint8_t *data, size_t len, uint64_t seed, long rounds,
      char **names, int count)
{
    uint8_t *copy = malloc(len ? len : 1);
    uint64_t state = seed * 2 + 1;
    size_t opened = 0;

    if (copy == NULL || len == 0) {
        free(copy);
        return 1;
    }
    for (long r = 0; r < rounds; r++) {
        int changes = 1 + (int)(next_random(&state) % 8);
        facts f;
        memcpy(copy, data, len);
        for (int c = 0; c < changes; c++) {
            uint64_t where = next_random(&state);
            /* Half of the changes in the first 4 KiB, where the headers and
             * usually the dynamic tables are. */
            size_t at =
                (size_t)(where >> 1) % (where & 1 && len > 4096 ? 4096 : len);
            uint64_t what = next_random(&state);
            static const uint8_t special[4] = {0x00, 0xff, 0x7f, 0x80};
            copy[at] = what & 1 ? special[(what >> 1) & 3]
                                : (uint8_t)(copy[at] ^ (what >> 8));
        }
        if (gather(copy, len, (unsigned)(r & 1), names, count, 0, &f) != 0) {
            fprintf(stderr, "elfdump: out of memory\n");
            free(copy);
            return 1;
        }
        opened += f.status == MM_OK;
        free_facts(&f);
    }
    free(copy);
    printf("flips: %ld opened: %zu\n", rounds, opened);
    return 0;
}

static int
usage(void)
{
    fprintf(stderr,
            "usage: elfdump [--dynamic-only] [--unknown-size] [--bias N] "
            "FILE [SYMBOL...]\n"
            "       elfdump --truncate-all FILE [SYMBOL...]\n"
            "       elfdump --flips SEED COUNT FILE [SYMBOL...]\n"
            "       elfdump --self-image NAME [--dynamic-only] [--no-bias] "
            "[SYMBOL...]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    unsigned flags = 0;
    int unknown_size = 0, no_bias = 0, status = 1, arg = 1, truncations = 0;
    long rounds = -1;
    uint64_t seed = 0;
    const char *self_image = NULL, *path = NULL;
    uint64_t bias = 0;
    uint8_t *data = NULL;
    FILE *file = NULL;
    mm_buffer buffer;
    file_reader stream;
    mm_elf elf;
    mm_err err;

    memset(&elf, 0, sizeof(elf));
    memset(&err, 0, sizeof(err));
    for (; arg < argc && strncmp(argv[arg], "--", 2) == 0; arg++) {
        if (strcmp(argv[arg], "--dynamic-only") == 0) {
            flags |= MM_ELF_NO_SECTIONS;
        }
        else if (strcmp(argv[arg], "--unknown-size") == 0) {
            unknown_size = 1;
        }
        else if (strcmp(argv[arg], "--no-bias") == 0) {
            no_bias = 1;
        }
        else if (strcmp(argv[arg], "--bias") == 0 && arg + 1 < argc) {
            bias = strtoull(argv[++arg], NULL, 0);
        }
        else if (strcmp(argv[arg], "--truncate-all") == 0) {
            truncations = 1;
        }
        else if (strcmp(argv[arg], "--flips") == 0 && arg + 2 < argc) {
            seed = strtoull(argv[++arg], NULL, 0);
            rounds = strtol(argv[++arg], NULL, 0);
        }
        else if (strcmp(argv[arg], "--self-image") == 0 && arg + 1 < argc) {
            self_image = argv[++arg];
        }
        else {
            return usage();
        }
    }
    if (self_image != NULL) {
#ifdef __linux__
        self_reader self;
        self.mem_fd = open("/proc/self/mem", O_RDONLY);
        if (self.mem_fd < 0 || find_self_maps(&self, self_image) != 0) {
            fprintf(stderr, "elfdump: %s is not mapped in this process\n",
                    self_image);
            if (self.mem_fd >= 0) {
                close(self.mem_fd);
            }
            return 1;
        }
        if (mm_elf_open_flags(&elf, read_self, &self, UINT64_MAX, flags,
                              &err) != MM_OK) {
            fprintf(stderr, "elfdump: %s: %s\n", self_image, err.message);
            close(self.mem_fd);
            return 1;
        }
        if (!no_bias) {
            bias = self_bias(&self, &elf);
        }
        printf("bias: 0x%" PRIx64 "\n", bias);
        print_facts(&elf, bias);
        status = print_symbols(&elf, argv + arg, argc - arg, bias);
        mm_elf_close(&elf);
        close(self.mem_fd);
        return status;
#else
        (void)no_bias;
        fprintf(stderr, "elfdump: --self-image needs Linux\n");
        return 2;
#endif
    }
    if (arg >= argc) {
        return usage();
    }
    path = argv[arg++];
    file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "elfdump: cannot open %s: %s\n", path,
                strerror(errno));
        goto error;
    }
    if (truncations || rounds >= 0) {
        data = read_whole(file, &buffer.len);
        if (data == NULL) {
            fprintf(stderr, "elfdump: cannot read %s\n", path);
            goto error;
        }
        if (truncations) {
            status = truncate_all(data, buffer.len, argv + arg, argc - arg);
        }
        else {
            status =
                flips(data, buffer.len, seed, rounds, argv + arg, argc - arg);
        }
        goto error;
    }
    if (unknown_size) {
        stream.file = file;
        if (mm_elf_open_flags(&elf, read_stream, &stream, UINT64_MAX, flags,
                              &err) != MM_OK) {
            fprintf(stderr, "elfdump: %s: %s\n", path, err.message);
            goto error;
        }
    }
    else {
        data = read_whole(file, &buffer.len);
        if (data == NULL) {
            fprintf(stderr, "elfdump: cannot read %s\n", path);
            goto error;
        }
        buffer.data = data;
        if (mm_elf_open_flags(&elf, mm_read_buffer, &buffer, buffer.len, flags,
                              &err) != MM_OK) {
            fprintf(stderr, "elfdump: %s: %s\n", path, err.message);
            goto error;
        }
    }
    print_facts(&elf, bias);
    status = print_symbols(&elf, argv + arg, argc - arg, bias);

error:
    mm_elf_close(&elf);
    free(data);
    if (file != NULL) {
        fclose(file);
    }
    return status;
}
