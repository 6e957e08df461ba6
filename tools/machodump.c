/* machodump: the portable Mach-O and dyld readers (memmaps/native/mm_macho.c
 * and mm_dyld.c) on their own.
 *
 *   machodump [OPTIONS] FILE [SYMBOL...]
 *       --arch x86_64|arm64|any   the architecture of a fat file (or the
 *       --cputype N               one a thin file must have)
 *       --unknown-size            tell the reader the size is unknown
 *       --all-symbols             also print every defined symbol
 *       --memory SLIDE            lay the image's segments out in a
 *                                 simulated memory at vmaddr + SLIDE and
 *                                 read it from there (MM_MACHO_MEMORY)
 *   machodump --image LOAD --region ADDR:FILE... [SYMBOL...]
 *       read the image whose mach_header is at address LOAD of a simulated
 *       memory made of the given files, each placed at its address
 *   machodump --dyld INFOS --pointer-size 4|8 --region ADDR:FILE...
 *             [--null-at N,N...|all] [--torn-at N,N...] [SYMBOL...]
 *       read dyld's image list from the dyld_all_image_infos at address
 *       INFOS, then each image's header from memory: its slide, uuid and
 *       symbols.  --null-at makes the Nth reads of the record (1-based),
 *       or all of them, see infoArray NULL, as while dyld updates it;
 *       --torn-at makes them see a different infoArrayCount.
 *   machodump --dyld INFOS --pointer-size 4|8 --region ADDR:FILE... --images
 *             [--name-region START:END[=NAME|+]...]
 *       the image list made from dyld's list (mm_macho_images()): each
 *       image's range, slide, header, flags, build-id, path and segments;
 *       then the regions given, [START, END) (=NAME: named already, +:
 *       with a tag of the OS's own), named after those images
 *       (mm_macho_name_regions())
 *   machodump --truncate-all FILE [SYMBOL...]
 *       open every prefix of FILE (for each architecture) and check that
 *       each gives an error or the same facts as the whole file
 *   machodump --flips SEED COUNT FILE [SYMBOL...]
 *       COUNT copies of FILE with a few random bytes changed, each read
 *       through every entry point, as a file and in memory
 *   machodump --dyld-truncate-all / --dyld-flips SEED COUNT, with the
 *       --dyld arguments: the same for the first region (where the records
 *       are), reading the images and every image found
 *
 * It prints one fact a line, for tests/native/test_macho.py to compare with
 * llvm-objdump and llvm-nm.  A corrupt input gives the reader's message
 * and exit status 1; usage errors 2.
 */
#include "formats/dyld.h"
#include "formats/macho.h"
#include "formats/macho_images.h"
#include "read_whole.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REGIONS 64
#define MAX_SYMBOLS 16
#define MAX_MARKS   64

/* ---- files and simulated memory ---- */

/* A copy in a buffer of exactly len bytes, so that the sanitizer sees any
 * read past it. */
static uint8_t *
exact_copy(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);

    if (copy != NULL && len > 0) {
        memcpy(copy, data, len);
    }
    return copy;
}

typedef struct region {
    uint64_t addr;
    uint8_t *data;
    size_t len;
} region;

/* A target's memory: regions at addresses, and the hooks of --null-at and
 * --torn-at on reads of the dyld_all_image_infos record. */
typedef struct memory {
    region regions[MAX_REGIONS];
    size_t count;
    uint64_t infos_addr;
    int pointer_size;
    unsigned record_reads;
    unsigned null_at[MAX_MARKS], torn_at[MAX_MARKS];
    size_t null_count, torn_count;
    int null_always; /* --null-at all: dyld never finishes */
} memory;

static void
free_memory(memory *m)
{
    for (size_t i = 0; i < m->count; i++) {
        free(m->regions[i].data);
    }
    m->count = 0;
}

static int
marked(const unsigned *marks, size_t count, unsigned n)
{
    for (size_t i = 0; i < count; i++) {
        if (marks[i] == n) {
            return 1;
        }
    }
    return 0;
}

/* The read callback over a memory: absolute addresses, across adjacent
 * regions, failing on any byte that no region holds. */
static int
read_memory(void *ctx, uint64_t addr, void *buf, size_t len)
{
    memory *m = ctx;
    uint8_t *out = buf;
    uint64_t at = addr;
    size_t left = len;

    while (left > 0) {
        const region *r = NULL;
        size_t n;
        for (size_t i = 0; i < m->count; i++) {
            if (at >= m->regions[i].addr &&
                at - m->regions[i].addr < m->regions[i].len) {
                r = &m->regions[i];
                break;
            }
        }
        if (r == NULL) {
            return -1;
        }
        n = r->len - (size_t)(at - r->addr);
        n = n < left ? n : left;
        memcpy(out, r->data + (at - r->addr), n);
        out += n;
        at += n;
        left -= n;
    }
    /* The record read whole (not its 4-byte version alone). */
    if (m->pointer_size != 0 && addr == m->infos_addr &&
        len >= 8 + (size_t)m->pointer_size) {
        uint8_t *record = buf;
        m->record_reads++;
        if (m->null_always ||
            marked(m->null_at, m->null_count, m->record_reads)) {
            memset(record + 8, 0, (size_t)m->pointer_size);
        }
        if (marked(m->torn_at, m->torn_count, m->record_reads)) {
            record[4] ^= 1; /* infoArrayCount, little-endian */
        }
    }
    return 0;
}

static int
add_region(memory *m, uint64_t addr, const uint8_t *data, size_t len)
{
    if (m->count == MAX_REGIONS) {
        fprintf(stderr, "machodump: more than %d regions\n", MAX_REGIONS);
        return -1;
    }
    m->regions[m->count].data = exact_copy(data, len);
    if (m->regions[m->count].data == NULL) {
        fprintf(stderr, "machodump: out of memory\n");
        return -1;
    }
    m->regions[m->count].addr = addr;
    m->regions[m->count].len = len;
    m->count++;
    return 0;
}

/* --region ADDR:FILE */
static int
add_region_arg(memory *m, const char *arg)
{
    char *end;
    uint64_t addr = strtoull(arg, &end, 0);
    uint8_t *data;
    size_t len;
    int status;

    if (*end != ':') {
        fprintf(stderr, "machodump: --region wants ADDR:FILE, not %s\n", arg);
        return -1;
    }
    data = read_whole_file(end + 1, &len);
    if (data == NULL) {
        fprintf(stderr, "machodump: cannot read %s: %s\n", end + 1,
                strerror(errno));
        return -1;
    }
    status = add_region(m, addr, data, len);
    free(data);
    return status;
}

/* N,N,... */
static size_t
parse_marks(const char *arg, unsigned *out)
{
    size_t count = 0;

    while (*arg != '\0' && count < MAX_MARKS) {
        char *end;
        out[count++] = (unsigned)strtoul(arg, &end, 0);
        if (*end != ',') {
            break;
        }
        arg = end + 1;
    }
    return count;
}

/* ---- printing ---- */

static void
print_uuid(const char *key, int has, const uint8_t *u)
{
    printf("%s: ", key);
    if (!has) {
        printf("none\n");
        return;
    }
    for (int i = 0; i < 16; i++) {
        printf("%02X%s", u[i],
               i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
    }
    printf("\n");
}

static void
print_facts(const char *prefix, const mm_macho *macho)
{
    printf("%sbits: %d\n", prefix, macho->is64 ? 64 : 32);
    printf("%sbyte-order: %s\n", prefix, macho->big_endian ? "big" : "little");
    printf("%sbase: 0x%" PRIx64 "\n", prefix, macho->base);
    printf("%sfat-archs: %" PRIu32 "\n", prefix, macho->nfat_arch);
    printf("%scputype: 0x%" PRIx32 "\n", prefix, macho->cputype);
    printf("%scpusubtype: 0x%" PRIx32 "\n", prefix, macho->cpusubtype);
    printf("%sfiletype: %" PRIu32 "\n", prefix, macho->filetype);
    printf("%sncmds: %" PRIu32 "\n", prefix, macho->ncmds);
    printf("%ssizeofcmds: %" PRIu32 "\n", prefix, macho->sizeofcmds);
    printf("%sflags: 0x%" PRIx32 "\n", prefix, macho->flags);
    printf("%ssegments: %zu\n", prefix, macho->segment_count);
    for (size_t i = 0; i < macho->segment_count; i++) {
        const mm_macho_segment *s = &macho->segments[i];
        printf("%ssegment: name=%s vmaddr=0x%" PRIx64 " vmsize=0x%" PRIx64
               " fileoff=0x%" PRIx64 " filesize=0x%" PRIx64
               " maxprot=0x%" PRIx32 " initprot=0x%" PRIx32 "\n",
               prefix, s->name[0] ? s->name : "-", s->vmaddr, s->vmsize,
               s->fileoff, s->filesize, s->maxprot, s->initprot);
    }
    print_uuid(prefix[0] ? "  uuid" : "uuid", macho->has_uuid, macho->uuid);
    if (macho->has_text) {
        printf("%stext-vmaddr: 0x%" PRIx64 "\n", prefix, macho->text_vmaddr);
    }
    else {
        printf("%stext-vmaddr: none\n", prefix);
    }
    if (macho->has_symtab) {
        printf("%ssymtab: symoff=0x%" PRIx32 " nsyms=%" PRIu32
               " stroff=0x%" PRIx32 " strsize=%" PRIu32 "\n",
               prefix, macho->symoff, macho->nsyms, macho->stroff,
               macho->strsize);
    }
    else {
        printf("%ssymtab: none\n", prefix);
    }
}

/* Prints each symbol, with value + slide; returns 1 if a lookup met a
 * corrupt table. */
static int
print_symbols(const char *prefix, mm_macho *macho, char **names, int count,
              uint64_t slide)
{
    int failed = 0;

    for (int i = 0; i < count; i++) {
        mm_macho_symbol sym;
        mm_err err;
        mm_status status;

        memset(&err, 0, sizeof(err));
        status = mm_macho_find_symbol(macho, names[i], &sym, &err);
        if (status == MM_OK) {
            printf("%ssymbol %s: value=0x%" PRIx64 " runtime=0x%" PRIx64
                   " type=0x%02x section=%u desc=0x%04x\n",
                   prefix, names[i], sym.value, sym.value + slide,
                   (unsigned)sym.type, (unsigned)sym.section,
                   (unsigned)sym.desc);
        }
        else if (status == MM_ERR_NOT_FOUND) {
            printf("%ssymbol %s: not found\n", prefix, names[i]);
        }
        else {
            printf("%ssymbol %s: error: %s\n", prefix, names[i], err.message);
            fprintf(stderr, "machodump: %s: %s\n", names[i], err.message);
            failed = 1;
        }
    }
    return failed;
}

static int
print_all_symbols(mm_macho *macho)
{
    size_t count;
    mm_err err;
    mm_status status = mm_macho_symbol_count(macho, &count, &err);
    int failed = 0;

    if (status == MM_ERR_NOT_FOUND) {
        printf("all-symbols: none\n");
        return 0;
    }
    if (status != MM_OK) {
        fprintf(stderr, "machodump: %s\n", err.message);
        return 1;
    }
    printf("all-symbols: %zu\n", count);
    for (size_t i = 0; i < count; i++) {
        const char *name;
        mm_macho_symbol sym;
        status = mm_macho_symbol_at(macho, i, &name, &sym, &err);
        if (status == MM_OK) {
            printf("nlist %zu: value=0x%" PRIx64 " type=0x%02x section=%u "
                   "desc=0x%04x name=%s\n",
                   i, sym.value, (unsigned)sym.type, (unsigned)sym.section,
                   (unsigned)sym.desc, name);
        }
        else if (status != MM_ERR_NOT_FOUND) {
            printf("nlist %zu: error: %s\n", i, err.message);
            failed = 1;
        }
    }
    return failed;
}

static int
print_fat(const uint8_t *data, size_t len)
{
    mm_buffer buffer = {data, len};
    mm_macho_fat_arch archs[16];
    size_t count;
    mm_err err;
    mm_status status = mm_macho_fat_archs(mm_read_buffer, &buffer, len, archs,
                                          16, &count, &err);

    if (status == MM_ERR_NOT_FOUND) {
        return 0;
    }
    if (status != MM_OK) {
        fprintf(stderr, "machodump: %s\n", err.message);
        return 1;
    }
    for (size_t i = 0; i < count && i < 16; i++) {
        printf("fat-arch: cputype=0x%" PRIx32 " cpusubtype=0x%" PRIx32
               " offset=0x%" PRIx64 " size=0x%" PRIx64 " align=%" PRIu32 "\n",
               archs[i].cputype, archs[i].cpusubtype, archs[i].offset,
               archs[i].size, archs[i].align);
    }
    return 0;
}

/* ---- memory images ---- */

/* Lays the segments of the image at data out in m at vmaddr + slide, as a
 * loader maps them (file bytes only: the zero fill past filesize is not
 * needed to read the image). */
static int
lay_out(memory *m, const uint8_t *data, size_t len, const mm_macho *file,
        uint64_t slide)
{
    for (size_t i = 0; i < file->segment_count; i++) {
        const mm_macho_segment *s = &file->segments[i];
        uint64_t start = file->base + s->fileoff;
        if (s->filesize == 0) {
            continue;
        }
        if (s->fileoff > len || start > len || s->filesize > len - start) {
            fprintf(stderr, "machodump: segment %s is past the file\n",
                    s->name);
            return -1;
        }
        if (add_region(m, s->vmaddr + slide, data + start,
                       (size_t)s->filesize) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Opens the image whose header is at load in m and prints it. */
static int
dump_image(const char *prefix, memory *m, uint64_t load, char **names,
           int count, int all)
{
    mm_offset_reader reader = {read_memory, m, load};
    mm_macho macho;
    mm_err err;
    uint64_t slide = 0;
    int status;

    if (mm_macho_open(&macho, mm_read_offset, &reader, UINT64_MAX,
                      MM_MACHO_CPU_ANY, MM_MACHO_MEMORY, &err) != MM_OK) {
        printf("%serror: %s\n", prefix, err.message);
        fprintf(stderr, "machodump: the image at 0x%" PRIx64 ": %s\n", load,
                err.message);
        return 1;
    }
    if (mm_macho_slide(&macho, load, &slide) == 0) {
        printf("%sslide: 0x%" PRIx64 "\n", prefix, slide);
    }
    else {
        printf("%sslide: none\n", prefix);
    }
    print_facts(prefix, &macho);
    status = print_symbols(prefix, &macho, names, count, slide);
    if (all) {
        status |= print_all_symbols(&macho);
    }
    mm_macho_close(&macho);
    return status;
}

static int
dump_dyld(memory *m, uint64_t infos, int pointer_size, char **names, int count)
{
    mm_dyld_list list;
    mm_err err;
    int status = 0;

    mm_dyld_list_init(&list);
    memset(&err, 0, sizeof(err));
    if (mm_dyld_read_images(read_memory, m, infos, pointer_size, &list,
                            &err) != MM_OK) {
        fprintf(stderr, "machodump: %s\n", err.message);
        printf("error: %s\n", err.message);
        printf("busy: %d\nattempts: %u\n", list.busy, list.attempts);
        mm_dyld_list_free(&list);
        return 1;
    }
    printf("dyld-version: %" PRIu32 "\n", list.version);
    printf("info-array-count: %" PRIu32 "\n", list.info_array_count);
    printf("info-array: 0x%" PRIx64 "\n", list.info_array);
    printf("attempts: %u\n", list.attempts);
    if (list.present & MM_DYLD_HAS_DYLD_ADDRESS) {
        printf("dyld-load-address: 0x%" PRIx64 "\n", list.dyld_load_address);
    }
    else {
        printf("dyld-load-address: none\n");
    }
    if (list.present & MM_DYLD_HAS_SHARED_CACHE_SLIDE) {
        printf("shared-cache-slide: 0x%" PRIx64 "\n", list.shared_cache_slide);
    }
    else {
        printf("shared-cache-slide: none\n");
    }
    print_uuid("shared-cache-uuid",
               (list.present & MM_DYLD_HAS_SHARED_CACHE_UUID) != 0,
               list.shared_cache_uuid);
    if (list.present & MM_DYLD_HAS_SHARED_CACHE_BASE) {
        printf("shared-cache-base: 0x%" PRIx64 "\n", list.shared_cache_base);
        printf("timestamp: %" PRIu64 "\n", list.timestamp);
    }
    else {
        printf("shared-cache-base: none\n");
    }
    printf("images: %zu\n", list.count);
    for (size_t i = 0; i < list.count; i++) {
        const mm_dyld_image *image = &list.images[i];
        const char *path = mm_dyld_image_path(&list, i);
        char prefix[32];
        printf("image %zu: load=0x%" PRIx64 " mod_date=0x%" PRIx64
               " dyld=%d path=%s\n",
               i, image->load_address, image->mod_date,
               (image->flags & MM_DYLD_IMAGE_IS_DYLD) != 0,
               path != NULL ? path : "(none)");
        if (path != NULL && strlen(path) != image->path_len) {
            fprintf(stderr, "machodump: path %zu has a wrong length\n", i);
            status = 1;
        }
        snprintf(prefix, sizeof(prefix), "  ");
        status |= dump_image(prefix, m, image->load_address, names, count, 0);
    }
    mm_dyld_list_free(&list);
    return status;
}

/* What --name-region gives a region that has a tag of its own, as the OS
 * would (a static string, as mm_region.tag must be). */
static const char os_tag[] = "MALLOC_TINY";

/* Adds the region of a --name-region argument: START:END, START:END=NAME
 * or START:END+. */
static int
add_name_region(mm_list *list, const char *arg)
{
    char *rest;
    uint64_t start = strtoull(arg, &rest, 0), end;
    mm_region *region;

    if (*rest != ':') {
        return -1;
    }
    end = strtoull(rest + 1, &rest, 0);
    if (end <= start || (*rest != '\0' && *rest != '=' && strcmp(rest, "+"))) {
        return -1;
    }
    region = mm_list_push(list);
    if (region == NULL) {
        return -1;
    }
    region->start = start;
    region->end = end;
    region->prot = MM_PROT_READ;
    region->max_prot = MM_PROT_UNKNOWN;
    region->kind = MM_KIND_ANON;
    if (*rest == '+') {
        region->tag = os_tag;
    }
    if (*rest == '=' &&
        mm_list_set_name(list, list->count - 1, rest + 1, strlen(rest + 1))) {
        return -1;
    }
    return 0;
}

static int
dump_images(memory *m, uint64_t infos, int pointer_size, char **specs,
            int spec_count)
{
    mm_dyld_list dyld;
    mm_image_list images;
    mm_list regions;
    mm_err err;
    int status = 1;

    mm_dyld_list_init(&dyld);
    mm_image_list_init(&images);
    mm_list_init(&regions);
    memset(&err, 0, sizeof(err));
    for (int i = 0; i < spec_count; i++) {
        if (add_name_region(&regions, specs[i]) != 0) {
            fprintf(stderr, "machodump: bad --name-region %s\n", specs[i]);
            goto done;
        }
    }
    if (mm_dyld_read_images(read_memory, m, infos, pointer_size, &dyld,
                            &err) != MM_OK ||
        mm_macho_images(read_memory, m, &dyld, &images, &err) != MM_OK ||
        mm_macho_name_regions(&regions, &images, &err) != MM_OK) {
        fprintf(stderr, "machodump: %s\n", err.message);
        goto done;
    }
    printf("images: %zu\n", images.count);
    for (size_t i = 0; i < images.count; i++) {
        const mm_image *image = &images.images[i];
        printf("mm-image %zu: base=0x%" PRIx64 " end=0x%" PRIx64
               " bias=0x%" PRIx64 " header=0x%" PRIx64 " flags=0x%" PRIx32
               " format=%u source=%" PRIu32 " build-id=",
               i, image->base, image->end, image->bias, image->header,
               image->flags, (unsigned)image->format, image->source_len);
        for (unsigned b = 0; b < image->build_id_len; b++) {
            printf("%02x", image->build_id[b]);
        }
        printf("%s path=%.*s\n", image->build_id_len ? "" : "none",
               (int)image->path_len, images.bytes + image->path_off);
        if (strlen(images.bytes + image->path_off) != image->path_len) {
            fprintf(stderr, "machodump: image %zu: a wrong path length\n", i);
            goto done;
        }
    }
    for (size_t i = 0; i < images.segment_count; i++) {
        const mm_image_segment *s = &images.segments[i];
        printf("mm-segment %zu: image=%zu start=0x%" PRIx64 " end=0x%" PRIx64
               " prot=%u name=%s\n",
               i, s->image, s->start, s->end, (unsigned)s->prot, s->name);
    }
    for (size_t i = 0; i < regions.count; i++) {
        const mm_region *r = &regions.regions[i];
        printf("mm-region %zu: start=0x%" PRIx64 " end=0x%" PRIx64
               " kind=%u tag=%s path=%.*s\n",
               i, r->start, r->end, (unsigned)r->kind,
               r->tag != NULL ? r->tag : "(none)",
               r->flags & MM_REGION_NAMED ? (int)r->name_len : 6,
               r->flags & MM_REGION_NAMED ? regions.bytes + r->name_off
                                          : "(none)");
    }
    status = 0;

done:
    mm_list_free(&regions);
    mm_image_list_free(&images);
    mm_dyld_list_free(&dyld);
    return status;
}

/* ---- hostile input ---- */

/* What every entry point of the reader says about one input. */
typedef struct facts {
    mm_status status;
    mm_macho macho; /* header fields only: segments a copy, internal NULL */
    mm_status symbol_status[MAX_SYMBOLS];
    mm_macho_symbol symbols[MAX_SYMBOLS];
    size_t symbol_count;
} facts;

static void
free_facts(facts *f)
{
    free(f->macho.segments);
    f->macho.segments = NULL;
}

/* Every lookup twice (the second from the kept table), the whole table
 * walked, and the slide. */
static int
exercise(mm_macho *macho, char **names, int count, facts *f)
{
    mm_err err;
    size_t n = 0;
    uint64_t slide;

    for (int i = 0; i < count && i < MAX_SYMBOLS; i++) {
        mm_macho_symbol again;
        mm_status status =
            mm_macho_find_symbol(macho, names[i], &f->symbols[i], &err);
        f->symbol_status[i] = status;
        if (mm_macho_find_symbol(macho, names[i], &again, &err) != status ||
            (status == MM_OK &&
             memcmp(&again, &f->symbols[i], sizeof(again)) != 0)) {
            fprintf(stderr, "machodump: a second lookup of %s differs\n",
                    names[i]);
            return -1;
        }
    }
    if (mm_macho_symbol_count(macho, &n, &err) == MM_OK) {
        for (size_t i = 0; i < n; i++) {
            const char *name;
            mm_macho_symbol sym;
            if (mm_macho_symbol_at(macho, i, &name, &sym, &err) == MM_OK &&
                strlen(name) > macho->strsize) {
                fprintf(stderr, "machodump: name %zu is too long\n", i);
                return -1;
            }
        }
    }
    f->symbol_count = n;
    (void)mm_macho_slide(macho, 0x100000000ull, &slide);
    (void)mm_macho_segment_named(macho, "__LINKEDIT");
    return 0;
}

/* Opens data (copied to a buffer of exactly len bytes) for cputype and
 * goes through every entry point. */
static int
gather(const uint8_t *data, size_t len, uint32_t cputype, unsigned flags,
       char **names, int count, facts *f)
{
    uint8_t *copy = exact_copy(data, len);
    mm_buffer buffer;
    mm_macho_fat_arch archs[4];
    size_t narchs;
    mm_macho macho;
    mm_err err;
    int status = 0;

    memset(f, 0, sizeof(*f));
    if (copy == NULL) {
        return -1;
    }
    buffer.data = copy;
    buffer.len = len;
    (void)mm_macho_fat_archs(mm_read_buffer, &buffer, len, archs, 4, &narchs,
                             &err);
    f->status = mm_macho_open(&macho, mm_read_buffer, &buffer, len, cputype,
                              flags, &err);
    if (f->status != MM_OK) {
        free(copy);
        return 0;
    }
    f->macho = macho;
    f->macho.internal = NULL;
    f->macho.segments =
        malloc(macho.segment_count * sizeof(mm_macho_segment) + 1);
    if (f->macho.segments != NULL && macho.segment_count > 0) {
        memcpy(f->macho.segments, macho.segments,
               macho.segment_count * sizeof(mm_macho_segment));
    }
    if (exercise(&macho, names, count, f) != 0) {
        f->status = MM_ERR_ARGUMENT; /* counted as a mismatch */
    }
    mm_macho_close(&macho);
    free(copy);
    if (f->macho.segments == NULL) {
        status = -1;
    }
    return status;
}

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

/* The number of ways f (a prefix of the file) disagrees with whole: an
 * error or an absent answer is allowed, a different one is not. */
static int
compare_facts(const facts *f, const facts *whole, int count, size_t len,
              int verbose)
{
    FILE *out = verbose ? stderr : NULL;
    const mm_macho *a = &f->macho, *b = &whole->macho;
    int bad = 0;

    if (f->status == MM_ERR_ARGUMENT) {
        return 1;
    }
    if (f->status != MM_OK) {
        return 0;
    }
    if (a->is64 != b->is64 || a->big_endian != b->big_endian ||
        a->base != b->base || a->cputype != b->cputype ||
        a->cpusubtype != b->cpusubtype || a->filetype != b->filetype ||
        a->flags != b->flags || a->ncmds != b->ncmds ||
        a->has_uuid != b->has_uuid ||
        memcmp(a->uuid, b->uuid, sizeof(a->uuid)) != 0 ||
        a->segment_count != b->segment_count ||
        memcmp(a->segments, b->segments,
               a->segment_count * sizeof(mm_macho_segment)) != 0 ||
        a->has_symtab != b->has_symtab || a->symoff != b->symoff ||
        a->nsyms != b->nsyms) {
        report(out, "machodump: at %zu bytes the headers differ\n", len);
        bad++;
    }
    for (int i = 0; i < count && i < MAX_SYMBOLS; i++) {
        const mm_macho_symbol *x = &f->symbols[i], *y = &whole->symbols[i];
        if (f->symbol_status[i] == MM_OK &&
            (whole->symbol_status[i] != MM_OK || x->value != y->value ||
             x->type != y->type || x->section != y->section ||
             x->desc != y->desc)) {
            report(out, "machodump: at %zu bytes symbol %d differs\n", len, i);
            bad++;
        }
    }
    return bad;
}

static int
truncate_all(const uint8_t *data, size_t len, char **names, int count)
{
    static const uint32_t cputypes[3] = {MM_MACHO_CPU_ANY, MM_MACHO_CPU_X86_64,
                                         MM_MACHO_CPU_ARM64};
    size_t opened = 0, mismatches = 0, runs = 0;

    for (int c = 0; c < 3; c++) {
        facts whole, part;
        if (gather(data, len, cputypes[c], 0, names, count, &whole) != 0) {
            fprintf(stderr, "machodump: out of memory\n");
            return 1;
        }
        if (whole.status != MM_OK) {
            continue; /* no such architecture */
        }
        for (size_t n = 0; n < len; n++) {
            if (gather(data, n, cputypes[c], 0, names, count, &part) != 0) {
                fprintf(stderr, "machodump: out of memory\n");
                free_facts(&whole);
                return 1;
            }
            runs++;
            opened += part.status == MM_OK;
            mismatches +=
                compare_facts(&part, &whole, count, n, mismatches < 20);
            free_facts(&part);
        }
        free_facts(&whole);
    }
    printf("truncations: %zu opened: %zu mismatches: %zu\n", runs, opened,
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

/* Changes 1 to 8 bytes of copy, half of them in the first 4 KiB (the
 * headers and load commands, or dyld's records and paths). */
static void
mutate(uint8_t *copy, size_t len, uint64_t *state)
{
    static const uint8_t special[4] = {0x00, 0xff, 0x7f, 0x80};
    int changes = 1 + (int)(next_random(state) % 8);

    for (int c = 0; c < changes; c++) {
        uint64_t where = next_random(state), what = next_random(state);
        size_t at =
            (size_t)(where >> 1) % (where & 1 && len > 4096 ? 4096 : len);
        copy[at] = what & 1 ? special[(what >> 1) & 3]
                            : (uint8_t)(copy[at] ^ (what >> 8));
    }
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
        facts f;
        memcpy(copy, data, len);
        mutate(copy, len, &state);
        /* As a file, then the same bytes as an image in memory (read from
         * offset 0 as if the header were there). */
        for (unsigned flags = 0; flags <= MM_MACHO_MEMORY; flags++) {
            if (gather(copy, len, MM_MACHO_CPU_ANY, flags, names, count, &f) !=
                0) {
                fprintf(stderr, "machodump: out of memory\n");
                free(copy);
                return 1;
            }
            opened += f.status == MM_OK;
            free_facts(&f);
        }
    }
    free(copy);
    printf("flips: %ld opened: %zu\n", rounds, opened);
    return 0;
}

/* The image list made from a (maybe corrupt) dyld list holds together:
 * every segment inside its image's range, paths as long as they say, the
 * images sorted; and the naming of a region over all of it stays in
 * bounds. */
static void
check_image_list(memory *m, const mm_dyld_list *list)
{
    mm_image_list images;
    mm_list regions;
    mm_region *region;
    mm_err err;

    mm_image_list_init(&images);
    mm_list_init(&regions);
    if (mm_macho_images(read_memory, m, list, &images, &err) != MM_OK) {
        abort(); /* only out of memory fails, and the sanitizers say so */
    }
    for (size_t i = 0; i < images.segment_count; i++) {
        const mm_image_segment *s = &images.segments[i];
        const mm_image *image = &images.images[s->image];
        if (s->image >= images.count || s->start < image->base ||
            s->end > image->end || s->start >= s->end) {
            fprintf(stderr, "machodump: segment %zu outside its image\n", i);
            abort();
        }
    }
    for (size_t i = 0; i < images.count; i++) {
        const mm_image *image = &images.images[i];
        if (strlen(images.bytes + image->path_off) != image->path_len ||
            (i > 0 && images.images[i - 1].base > image->base)) {
            fprintf(stderr, "machodump: image %zu is inconsistent\n", i);
            abort();
        }
    }
    region = mm_list_push(&regions);
    if (region != NULL) {
        region->start = images.count ? images.images[0].base : 0;
        region->end = region->start + 1;
        if (mm_macho_name_regions(&regions, &images, &err) != MM_OK) {
            abort();
        }
    }
    mm_list_free(&regions);
    mm_image_list_free(&images);
}

/* Reads dyld's list from m and every image it names, for the
 * sanitizers; returns whether the list was read. */
static int
exercise_dyld(memory *m, uint64_t infos, int pointer_size, char **names,
              int count)
{
    mm_dyld_list list;
    mm_err err;
    int ok;

    mm_dyld_list_init(&list);
    m->record_reads = 0;
    ok = mm_dyld_read_images(read_memory, m, infos, pointer_size, &list,
                             &err) == MM_OK;
    for (size_t i = 0; ok && i < list.count && i < 16; i++) {
        mm_offset_reader reader = {read_memory, m,
                                   list.images[i].load_address};
        const char *path = mm_dyld_image_path(&list, i);
        mm_macho macho;
        facts f;
        if (path != NULL && strlen(path) != list.images[i].path_len) {
            fprintf(stderr, "machodump: path %zu has a wrong length\n", i);
            abort();
        }
        if (mm_macho_open(&macho, mm_read_offset, &reader, UINT64_MAX,
                          MM_MACHO_CPU_ANY, MM_MACHO_MEMORY, &err) == MM_OK) {
            memset(&f, 0, sizeof(f));
            (void)exercise(&macho, names, count, &f);
            mm_macho_close(&macho);
        }
    }
    if (ok && list.count <= 64) {
        check_image_list(m, &list);
    }
    mm_dyld_list_free(&list);
    return ok;
}

static int
dyld_hostile(memory *m, uint64_t infos, int pointer_size, long rounds,
             uint64_t seed, char **names, int count)
{
    region *first = &m->regions[0];
    uint8_t *original = exact_copy(first->data, first->len);
    size_t len = first->len, runs = 0, opened = 0;
    uint64_t state = seed * 2 + 1;

    if (original == NULL) {
        return 1;
    }
    if (rounds < 0) {
        /* Every length up to 8 KiB (the records and paths come first),
         * then a sample.  The region keeps its buffer: reads past the
         * shorter length fail in read_memory. */
        for (size_t n = 0; n < len; n += n < 8192 ? 1 : 61) {
            first->len = n;
            opened +=
                (size_t)exercise_dyld(m, infos, pointer_size, names, count);
            runs++;
        }
        first->len = len;
        printf("dyld-truncations: %zu listed: %zu\n", runs, opened);
    }
    else {
        for (long r = 0; r < rounds; r++) {
            memcpy(first->data, original, len);
            mutate(first->data, len, &state);
            opened +=
                (size_t)exercise_dyld(m, infos, pointer_size, names, count);
        }
        memcpy(first->data, original, len);
        printf("dyld-flips: %ld listed: %zu\n", rounds, opened);
    }
    free(original);
    return 0;
}

/* ---- main ---- */

static int
usage(void)
{
    fprintf(stderr,
            "usage: machodump [--arch x86_64|arm64|any] [--cputype N] "
            "[--unknown-size] [--all-symbols] [--memory SLIDE] FILE "
            "[SYMBOL...]\n"
            "       machodump --image LOAD --region ADDR:FILE... "
            "[SYMBOL...]\n"
            "       machodump --dyld INFOS --pointer-size 4|8 --region "
            "ADDR:FILE... [--null-at N,...] [--torn-at N,...] [SYMBOL...]\n"
            "       machodump --truncate-all FILE [SYMBOL...]\n"
            "       machodump --flips SEED COUNT FILE [SYMBOL...]\n"
            "       machodump --dyld-truncate-all | --dyld-flips SEED COUNT "
            "(with the --dyld arguments)\n"
            "       machodump --dyld ... --images "
            "[--name-region START:END[=NAME|+]...]\n");
    return 2;
}

/* The --unknown-size callback: the buffer, with the size kept from the
 * reader. */
static int
read_unknown(void *ctx, uint64_t offset, void *buf, size_t len)
{
    return mm_read_buffer(ctx, offset, buf, len);
}

int
main(int argc, char **argv)
{
    uint32_t cputype = MM_MACHO_CPU_ANY;
    int unknown_size = 0, all = 0, truncations = 0, have_slide = 0,
        have_image = 0, have_dyld = 0, pointer_size = 8, status = 1, arg = 1,
        dyld_truncations = 0, images = 0, name_count = 0;
    char *name_specs[MAX_REGIONS];
    long rounds = -1, dyld_rounds = -1;
    uint64_t seed = 0, slide = 0, load = 0, infos = 0;
    uint8_t *data = NULL;
    const char *path;
    mm_buffer buffer;
    memory *m = calloc(1, sizeof(memory));
    mm_macho macho;
    mm_err err;

    memset(&macho, 0, sizeof(macho));
    memset(&err, 0, sizeof(err));
    if (m == NULL) {
        fprintf(stderr, "machodump: out of memory\n");
        return 1;
    }
    for (; arg < argc && strncmp(argv[arg], "--", 2) == 0; arg++) {
        const char *a = argv[arg];
        int more = argc - arg - 1;
        if (strcmp(a, "--arch") == 0 && more >= 1) {
            const char *name = argv[++arg];
            if (strcmp(name, "x86_64") == 0) {
                cputype = MM_MACHO_CPU_X86_64;
            }
            else if (strcmp(name, "arm64") == 0) {
                cputype = MM_MACHO_CPU_ARM64;
            }
            else if (strcmp(name, "any") == 0) {
                cputype = MM_MACHO_CPU_ANY;
            }
            else {
                goto bad_usage;
            }
        }
        else if (strcmp(a, "--cputype") == 0 && more >= 1) {
            cputype = (uint32_t)strtoul(argv[++arg], NULL, 0);
        }
        else if (strcmp(a, "--unknown-size") == 0) {
            unknown_size = 1;
        }
        else if (strcmp(a, "--all-symbols") == 0) {
            all = 1;
        }
        else if (strcmp(a, "--memory") == 0 && more >= 1) {
            slide = strtoull(argv[++arg], NULL, 0);
            have_slide = 1;
        }
        else if (strcmp(a, "--image") == 0 && more >= 1) {
            load = strtoull(argv[++arg], NULL, 0);
            have_image = 1;
        }
        else if (strcmp(a, "--dyld") == 0 && more >= 1) {
            infos = strtoull(argv[++arg], NULL, 0);
            have_dyld = 1;
        }
        else if (strcmp(a, "--pointer-size") == 0 && more >= 1) {
            pointer_size = atoi(argv[++arg]);
        }
        else if (strcmp(a, "--region") == 0 && more >= 1) {
            if (add_region_arg(m, argv[++arg]) != 0) {
                goto error;
            }
        }
        else if (strcmp(a, "--null-at") == 0 && more >= 1) {
            arg++;
            if (strcmp(argv[arg], "all") == 0) {
                m->null_always = 1;
            }
            else {
                m->null_count = parse_marks(argv[arg], m->null_at);
            }
        }
        else if (strcmp(a, "--torn-at") == 0 && more >= 1) {
            m->torn_count = parse_marks(argv[++arg], m->torn_at);
        }
        else if (strcmp(a, "--images") == 0) {
            images = 1;
        }
        else if (strcmp(a, "--name-region") == 0 && more >= 1) {
            if (name_count == MAX_REGIONS) {
                goto bad_usage;
            }
            name_specs[name_count++] = argv[++arg];
        }
        else if (strcmp(a, "--truncate-all") == 0) {
            truncations = 1;
        }
        else if (strcmp(a, "--flips") == 0 && more >= 2) {
            seed = strtoull(argv[++arg], NULL, 0);
            rounds = strtol(argv[++arg], NULL, 0);
        }
        else if (strcmp(a, "--dyld-truncate-all") == 0) {
            dyld_truncations = 1;
        }
        else if (strcmp(a, "--dyld-flips") == 0 && more >= 2) {
            seed = strtoull(argv[++arg], NULL, 0);
            dyld_rounds = strtol(argv[++arg], NULL, 0);
        }
        else {
            goto bad_usage;
        }
    }
    if (have_dyld) {
        m->infos_addr = infos;
        m->pointer_size = pointer_size;
        if (m->count == 0) {
            goto bad_usage;
        }
        if (images) {
            status =
                dump_images(m, infos, pointer_size, name_specs, name_count);
        }
        else if (dyld_truncations || dyld_rounds >= 0) {
            m->null_count = m->torn_count = 0;
            m->null_always = 0;
            status = dyld_hostile(m, infos, pointer_size,
                                  dyld_truncations ? -1 : dyld_rounds, seed,
                                  argv + arg, argc - arg);
        }
        else {
            status = dump_dyld(m, infos, pointer_size, argv + arg, argc - arg);
        }
        goto error;
    }
    if (have_image) {
        if (m->count == 0) {
            goto bad_usage;
        }
        printf("load: 0x%" PRIx64 "\n", load);
        status = dump_image("", m, load, argv + arg, argc - arg, all);
        goto error;
    }
    if (arg >= argc) {
        goto bad_usage;
    }
    path = argv[arg++];
    data = read_whole_file(path, &buffer.len);
    if (data == NULL) {
        fprintf(stderr, "machodump: cannot read %s: %s\n", path,
                strerror(errno));
        goto error;
    }
    buffer.data = data;
    if (truncations) {
        status = truncate_all(data, buffer.len, argv + arg, argc - arg);
        goto error;
    }
    if (rounds >= 0) {
        status = flips(data, buffer.len, seed, rounds, argv + arg, argc - arg);
        goto error;
    }
    if (mm_macho_open(&macho, unknown_size ? read_unknown : mm_read_buffer,
                      &buffer, unknown_size ? UINT64_MAX : buffer.len, cputype,
                      0, &err) != MM_OK) {
        fprintf(stderr, "machodump: %s: %s\n", path, err.message);
        goto error;
    }
    if (print_fat(data, buffer.len) != 0) {
        goto error;
    }
    if (have_slide) {
        /* The layout a loader makes, then the image read from there. */
        if (!macho.has_text) {
            fprintf(stderr, "machodump: %s: no segment maps the header\n",
                    path);
            goto error;
        }
        if (lay_out(m, data, buffer.len, &macho, slide) != 0) {
            goto error;
        }
        load = macho.text_vmaddr + slide;
        printf("load: 0x%" PRIx64 "\n", load);
        status = dump_image("", m, load, argv + arg, argc - arg, all);
        goto error;
    }
    print_facts("", &macho);
    status = print_symbols("", &macho, argv + arg, argc - arg, 0);
    if (all) {
        status |= print_all_symbols(&macho);
    }
    goto error;

bad_usage:
    status = usage();

error:
    mm_macho_close(&macho);
    free(data);
    free_memory(m);
    free(m);
    return status;
}
