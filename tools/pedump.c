/* pedump: the portable PE reader (memmaps/native/formats/pe.c) on its own.
 *
 *   pedump [OPTIONS] FILE [NAME|#ORDINAL...]
 *       --memory          FILE is an image as a loader lays it out (offset
 *                         N is RVA N: tests/helpers/pesim.py writes them);
 *                         it is read with MM_PE_MEMORY
 *       --load BASE       the address the image was loaded at: print its
 *                         bias, and each lookup's runtime address
 *       --unknown-size    tell the reader the size is unknown
 *       --no-exports      do not list the export table (lookups still run)
 *   pedump --truncate-all [--memory] FILE [NAME...]
 *       open every prefix of FILE and run every entry point on it; each
 *       must give an error or an answer, which the sanitizers watch
 *   pedump --flips SEED COUNT [--memory] FILE [NAME...]
 *       COUNT copies of FILE with a few random bytes changed, each read
 *       through every entry point, as a file and in memory
 *
 * It prints one fact a line, for tests/native/test_pe.py to compare with
 * x86_64-w64-mingw32-objdump.  An image that cannot be opened gives the
 * reader's message and exit status 1, as does a corrupt export directory
 * (after what could be printed); usage errors 2.
 */
#include "formats/pe.h"
#include "read_whole.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 32

static void
usage(void)
{
    fputs("usage: pedump [--memory] [--load BASE] [--unknown-size] "
          "[--no-exports] FILE [NAME|#ORDINAL...]\n"
          "       pedump --truncate-all [--memory] FILE [NAME...]\n"
          "       pedump --flips SEED COUNT [--memory] FILE [NAME...]\n",
          stderr);
    exit(2);
}

static uint64_t
parse_number(const char *text)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 0);

    if (*text == '\0' || *end != '\0') {
        usage();
    }
    return (uint64_t)v;
}

static const char *
prot_text(uint8_t prot)
{
    static char text[5];

    text[0] = prot & MM_PROT_READ ? 'r' : '-';
    text[1] = prot & MM_PROT_WRITE ? 'w' : '-';
    text[2] = prot & MM_PROT_EXEC ? 'x' : '-';
    text[3] = prot & MM_PROT_SHARED ? 's' : 'p';
    text[4] = '\0';
    return text;
}

static void
print_export(const char *prefix, const mm_pe_export *e)
{
    printf("%s ordinal=%" PRIu32 " rva=0x%" PRIx32, prefix, e->ordinal,
           e->rva);
    if (e->forwarder != NULL) {
        printf(" forwarder=%s", e->forwarder);
    }
    if (e->name != NULL) {
        printf(" name=%s", e->name);
    }
    putchar('\n');
}

/* A lookup: NAME, or #N for an ordinal. */
static mm_status
lookup(mm_pe *pe, const char *what, mm_pe_export *out, mm_err *err)
{
    if (what[0] == '#' && what[1] != '\0') {
        char *end;
        unsigned long ordinal = strtoul(what + 1, &end, 10);
        if (*end == '\0' && ordinal <= UINT32_MAX) {
            return mm_pe_find_ordinal(pe, (uint32_t)ordinal, out, err);
        }
    }
    return mm_pe_find_export(pe, what, out, err);
}

static int
dump(mm_pe *pe, int have_load, uint64_t load, int list_exports, char **names,
     int name_count)
{
    mm_pe_codeview cv;
    mm_pe_export_info info;
    uint8_t id[MM_PE_BUILD_ID_LEN];
    size_t count = 0, id_len;
    mm_err err;
    mm_status status;
    int failed = 0;

    printf("machine=0x%04x format=%s magic=0x%x sections=%u "
           "timestamp=0x%08" PRIx32 " characteristics=0x%04x\n",
           pe->machine, pe->is64 ? "PE32+" : "PE32", pe->magic,
           pe->section_count, pe->timestamp, pe->characteristics);
    printf("image_base=0x%" PRIx64 " size_of_image=0x%" PRIx32
           " size_of_headers=0x%" PRIx32 " entry=0x%" PRIx32
           " section_alignment=0x%" PRIx32 " file_alignment=0x%" PRIx32 "\n",
           pe->image_base, pe->size_of_image, pe->size_of_headers,
           pe->entry_rva, pe->section_alignment, pe->file_alignment);
    printf("linker=%u.%u os=%u.%u subsystem=%u subsystem_version=%u.%u "
           "dll_characteristics=0x%04x checksum=0x%08" PRIx32
           " directories=%" PRIu32 "\n",
           pe->linker_major, pe->linker_minor, pe->os_major, pe->os_minor,
           pe->subsystem, pe->subsystem_major, pe->subsystem_minor,
           pe->dll_characteristics, pe->checksum, pe->directory_count);
    if (have_load) {
        printf("bias=0x%" PRIx64 "\n", mm_pe_bias(pe, load));
    }
    for (int i = 0; i < MM_PE_DIR_COUNT; i++) {
        printf("directory %d rva=0x%" PRIx32 " size=0x%" PRIx32 "\n", i,
               pe->directories[i].rva, pe->directories[i].size);
    }
    for (size_t i = 0; i < pe->section_count; i++) {
        const mm_pe_section *s = &pe->sections[i];
        printf("section name=%s rva=0x%" PRIx32 " vsize=0x%" PRIx32
               " raw_offset=0x%" PRIx32 " raw_size=0x%" PRIx32
               " flags=0x%08" PRIx32 " prot=%s\n",
               s->name, s->virtual_address, s->virtual_size, s->raw_offset,
               s->raw_size, s->characteristics, prot_text(s->prot));
    }

    status = mm_pe_codeview_record(pe, &cv, &err);
    if (status == MM_OK) {
        printf("codeview guid=");
        for (int i = 0; i < 16; i++) {
            printf("%02x", cv.guid[i]);
        }
        printf(" age=%" PRIu32 " pdb=%s\n", cv.age, cv.pdb);
    }
    else if (status == MM_ERR_NOT_FOUND) {
        printf("codeview none\n");
    }
    else {
        printf("codeview error=%s\n", err.message);
    }
    id_len = mm_pe_build_id(pe, id, sizeof(id));
    if (id_len == MM_PE_BUILD_ID_LEN) {
        char key[41];
        printf("build_id=");
        for (size_t i = 0; i < id_len; i++) {
            printf("%02x", id[i]);
        }
        if (mm_pe_symbol_server_key(id, key, sizeof(key)) == 0) {
            abort(); /* 41 bytes always hold it */
        }
        printf(" key=%s\n", key);
    }
    else {
        printf("build_id none\n");
    }

    status = mm_pe_export_info_get(pe, &info, &err);
    if (status == MM_ERR_NOT_FOUND) {
        printf("exports none\n");
    }
    else if (status != MM_OK) {
        printf("exports error=%s\n", err.message);
        fprintf(stderr, "pedump: exports: %s\n", err.message);
        failed = 1;
    }
    else {
        if (mm_pe_export_count(pe, &count, &err) != MM_OK) {
            abort(); /* the table is loaded */
        }
        printf("exports dll=%s base=%" PRIu32 " functions=%" PRIu32
               " names=%" PRIu32 " count=%zu\n",
               info.dll_name, info.ordinal_base, info.function_count,
               info.name_count, count);
        for (size_t i = 0; list_exports && i < count; i++) {
            mm_pe_export e;
            status = mm_pe_export_at(pe, i, &e, &err);
            if (status == MM_OK) {
                print_export("export", &e);
            }
            else {
                printf("export index=%zu error=%s\n", i, err.message);
            }
        }
    }

    for (int i = 0; i < name_count; i++) {
        mm_pe_export e;
        status = lookup(pe, names[i], &e, &err);
        if (status == MM_OK) {
            char prefix[64 + MM_PE_NAME_MAX];
            snprintf(prefix, sizeof(prefix), "lookup %s:", names[i]);
            print_export(prefix, &e);
            if (have_load && e.forwarder == NULL) {
                printf("address %s: 0x%" PRIx64 "\n", names[i], load + e.rva);
            }
        }
        else if (status == MM_ERR_NOT_FOUND) {
            printf("lookup %s: not found\n", names[i]);
        }
        else {
            printf("lookup %s: error=%s\n", names[i], err.message);
        }
    }
    return failed;
}

/* Every entry point, twice where a table is kept, for the loops that only
 * look for sanitizer reports; abort()s on answers that contradict each
 * other. */
static void
exercise(mm_pe *pe, char **names, int name_count)
{
    mm_pe_codeview cv;
    mm_pe_export_info info;
    uint8_t id[MM_PE_BUILD_ID_LEN], head[64];
    size_t count;
    uint64_t offset;
    mm_err err;

    (void)mm_pe_codeview_record(pe, &cv, &err);
    if (strlen(cv.pdb) > MM_PE_PDB_MAX) {
        abort();
    }
    (void)mm_pe_build_id(pe, id, sizeof(id));
    for (size_t i = 0; i < pe->section_count; i++) {
        const mm_pe_section *s = &pe->sections[i];
        if (memchr(s->name, '\0', sizeof(s->name)) == NULL) {
            abort();
        }
        (void)mm_pe_section_at(pe, s->virtual_address);
        if (mm_pe_rva_to_offset(pe, s->virtual_address, 1, &offset) == 0) {
            (void)mm_pe_read_rva(pe, s->virtual_address, head, 1, "a byte",
                                 &err);
        }
    }
    (void)mm_pe_read_rva(pe, pe->entry_rva, head, sizeof(head), "the entry",
                         &err);
    for (int pass = 0; pass < 2; pass++) {
        if (mm_pe_export_info_get(pe, &info, &err) != MM_OK) {
            continue;
        }
        if (mm_pe_export_count(pe, &count, &err) != MM_OK) {
            abort();
        }
        if (count > 2 * (size_t)MM_PE_EXPORT_CAP) {
            abort();
        }
        for (size_t i = 0; i < count; i++) {
            mm_pe_export e, again;
            if (mm_pe_export_at(pe, i, &e, &err) != MM_OK) {
                continue;
            }
            if (e.name != NULL && strlen(e.name) > MM_PE_NAME_MAX) {
                abort();
            }
            if (e.forwarder != NULL && strlen(e.forwarder) > MM_PE_NAME_MAX) {
                abort();
            }
            if (e.name != NULL &&
                mm_pe_find_export(pe, e.name, &again, &err) == MM_OK &&
                strcmp(again.name, e.name) != 0) {
                abort(); /* a lookup finds what it was asked for */
            }
            if (mm_pe_find_ordinal(pe, e.ordinal, &again, &err) == MM_OK &&
                again.ordinal != e.ordinal) {
                abort();
            }
        }
        if (mm_pe_export_at(pe, count, NULL, &err) != MM_ERR_ARGUMENT) {
            abort();
        }
    }
    for (int i = 0; i < name_count; i++) {
        mm_pe_export e;
        (void)lookup(pe, names[i], &e, &err);
    }
}

static void
exercise_bytes(const uint8_t *data, size_t len, unsigned flags, char **names,
               int name_count)
{
    /* A copy of exactly len bytes: AddressSanitizer sees a read past it. */
    uint8_t *copy = malloc(len ? len : 1);
    mm_buffer buffer;
    mm_pe pe;
    mm_err err;

    if (copy == NULL) {
        abort();
    }
    memcpy(copy, data, len);
    buffer = (mm_buffer){copy, len};
    for (int unknown = 0; unknown < 2; unknown++) {
        if (mm_pe_open(&pe, mm_read_buffer, &buffer,
                       unknown ? MM_SIZE_UNKNOWN : len, flags,
                       &err) == MM_OK) {
            exercise(&pe, names, name_count);
            mm_pe_close(&pe);
        }
        else if (err.message[0] == '\0') {
            abort(); /* every refusal says why */
        }
    }
    free(copy);
}

static int
same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether the first n bytes of data, when they open, say what the whole
 * file says: the headers and sections, and every export that reads (a
 * prefix may lose some, never change one).  0 when they agree. */
static int
compare_prefix(mm_pe *whole, const uint8_t *data, size_t n, unsigned flags,
               size_t *opened)
{
    mm_buffer buffer = {data, n};
    mm_pe pe;
    mm_err err;
    size_t count = 0, whole_count = 0;
    int differs = 0;

    if (mm_pe_open(&pe, mm_read_buffer, &buffer, n, flags, &err) != MM_OK) {
        return 0;
    }
    ++*opened;
    if (pe.machine != whole->machine || pe.is64 != whole->is64 ||
        pe.image_base != whole->image_base ||
        pe.size_of_image != whole->size_of_image ||
        pe.section_count != whole->section_count ||
        memcmp(pe.directories, whole->directories, sizeof(pe.directories)) !=
            0 ||
        memcmp(pe.sections, whole->sections,
               pe.section_count * sizeof(*pe.sections)) != 0) {
        differs = 1;
    }
    if (!differs && mm_pe_export_count(&pe, &count, &err) == MM_OK) {
        if (mm_pe_export_count(whole, &whole_count, &err) != MM_OK ||
            count != whole_count) {
            differs = 1;
        }
        for (size_t i = 0; !differs && i < count; i++) {
            mm_pe_export a, b;
            if (mm_pe_export_at(&pe, i, &a, &err) != MM_OK) {
                continue;
            }
            if (mm_pe_export_at(whole, i, &b, &err) != MM_OK ||
                a.ordinal != b.ordinal || a.rva != b.rva ||
                !same_string(a.name, b.name) ||
                !same_string(a.forwarder, b.forwarder)) {
                differs = 1;
            }
        }
    }
    mm_pe_close(&pe);
    return differs;
}

/* xorshift64*: the same flips for the same seed everywhere. */
static uint64_t
next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dull;
}

int
main(int argc, char **argv)
{
    unsigned flags = 0;
    int unknown_size = 0, truncate_all = 0, list_exports = 1, have_load = 0;
    uint64_t seed = 0, flips = 0, load = 0;
    const char *path = NULL;
    char *names[MAX_NAMES];
    int name_count = 0, i;
    uint8_t *data;
    size_t len;
    mm_buffer buffer;
    mm_pe pe;
    mm_err err;
    int failed;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--memory") == 0) {
            flags |= MM_PE_MEMORY;
        }
        else if (strcmp(argv[i], "--unknown-size") == 0) {
            unknown_size = 1;
        }
        else if (strcmp(argv[i], "--no-exports") == 0) {
            list_exports = 0;
        }
        else if (strcmp(argv[i], "--load") == 0 && i + 1 < argc) {
            load = parse_number(argv[++i]);
            have_load = 1;
        }
        else if (strcmp(argv[i], "--truncate-all") == 0) {
            truncate_all = 1;
        }
        else if (strcmp(argv[i], "--flips") == 0 && i + 2 < argc) {
            seed = parse_number(argv[++i]);
            flips = parse_number(argv[++i]);
            if (flips == 0) {
                usage();
            }
        }
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            usage();
        }
        else if (path == NULL) {
            path = argv[i];
        }
        else if (name_count < MAX_NAMES) {
            names[name_count++] = argv[i];
        }
        else {
            usage();
        }
    }
    if (path == NULL) {
        usage();
    }
    data = read_whole_file(path, &len);
    if (data == NULL) {
        perror(path);
        return 2;
    }
    if (truncate_all) {
        size_t opened = 0, mismatches = 0;
        mm_pe whole;
        buffer = (mm_buffer){data, len};
        if (mm_pe_open(&whole, mm_read_buffer, &buffer, len, flags, &err) !=
            MM_OK) {
            fprintf(stderr, "pedump: %s\n", err.message);
            free(data);
            return 1;
        }
        for (size_t n = 0; n <= len; n++) {
            exercise_bytes(data, n, flags, names, name_count);
            if (compare_prefix(&whole, data, n, flags, &opened) != 0) {
                mismatches++;
                if (mismatches <= 5) {
                    fprintf(stderr,
                            "pedump: the prefix of %zu bytes differs\n", n);
                }
            }
        }
        mm_pe_close(&whole);
        printf("prefixes=%zu opened=%zu mismatches=%zu\n", len + 1, opened,
               mismatches);
        free(data);
        return 0;
    }
    if (flips > 0) {
        uint64_t state = seed * 2 + 1;
        uint8_t *copy = malloc(len ? len : 1);
        if (copy == NULL || len == 0) {
            free(copy);
            free(data);
            return 2;
        }
        for (uint64_t round = 0; round < flips; round++) {
            int changes = 1 + (int)(next_random(&state) % 8);
            memcpy(copy, data, len);
            for (int c = 0; c < changes; c++) {
                /* Mostly the headers and tables near the start, where a
                 * change matters, now and then anywhere. */
                uint64_t r = next_random(&state);
                size_t where =
                    (r & 3) ? (size_t)(r >> 8) % (len < 4096 ? len : 4096)
                            : (size_t)(r >> 8) % len;
                copy[where] = (uint8_t)next_random(&state);
            }
            exercise_bytes(copy, len, 0, names, name_count);
            exercise_bytes(copy, len, MM_PE_MEMORY, names, name_count);
        }
        printf("flips=%" PRIu64 "\n", flips);
        free(copy);
        free(data);
        return 0;
    }
    buffer = (mm_buffer){data, len};
    if (mm_pe_open(&pe, mm_read_buffer, &buffer,
                   unknown_size ? MM_SIZE_UNKNOWN : len, flags,
                   &err) != MM_OK) {
        fprintf(stderr, "pedump: %s\n", err.message);
        free(data);
        return 1;
    }
    failed = dump(&pe, have_load, load, list_exports, names, name_count);
    mm_pe_close(&pe);
    free(data);
    return failed;
}
