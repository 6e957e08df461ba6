/* mmdump: the native core on its own, without Python.
 *
 *   mmdump [PID]        print the memory map of PID (default: itself) in the
 *                       /proc/PID/maps format
 *   mmdump -f FILE      parse saved maps text and print it back
 *   mmdump --images [PID]
 *                       list the images of PID (default: itself), one line
 *                       each, tab-separated: base end bias flags build-id
 *                       path source (hex addresses; "-" for no build-id,
 *                       no flag or no source)
 *   mmdump --fields [--usage] [--at ADDR] [PID]
 *                       every field of each region (or of the one holding
 *                       ADDR, hex), one line each as tab-separated key=value
 *                       pairs (start end perms max_perms share_mode tag
 *                       kind offset dev inode alloc_base, then path, detail
 *                       and u.FIELD for the usage figures when there are
 *                       any), "None" for what the system does not say
 *   mmdump --total [PID]
 *                       the process's usage figures, as one such line
 *   mmdump --read ADDR LEN [PID]
 *                       LEN bytes of memory at ADDR (hex), printed in hex on
 *                       one line: as many as could be read
 *   mmdump --exports BASE [PID]
 *                       the exports of the PE image at BASE (hex) in the
 *                       target's memory: name ordinal address forwarder,
 *                       tab-separated ("-" for none)
 *   mmdump --handles N [PID]
 *                       every backend call N times, then this process's
 *                       handle count before and after, and the value of a
 *                       new handle before and after (Windows; -1
 *                       elsewhere)
 *   --at may be given many times (one line each, after "at=ADDR"); --pause
 *   stops the walk at its first cancel check until a line comes on stdin.
 *   A process that does not exist exits with status 3.
 *
 * It links exactly the C files the extension does, so it is what valgrind,
 * the sanitizers and other systems' compilers are pointed at; on a system
 * with a backend it is also a quick way to see what the core sees.
 */
#include "core/mm.h"
#include "core/switches.h"
#include "core/reader.h"
#include "formats/pe.h"
#include "formats/procmaps.h"
#include "print_perms.h"
#include "read_whole.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <windows.h>
#endif

#define PAD_COLUMN 72

static void
print_region(const mm_list *list, const mm_region *r)
{
    int width;
    static const char letters[] = "rwx";

    width = printf("%08" PRIx64 "-%08" PRIx64 " ", r->start, r->end);
    for (int bit = 0; bit < 3; bit++) {
        putchar(r->prot & (1 << bit) ? letters[bit] : '-');
    }
    putchar(r->prot & MM_PROT_SHARED ? 's' : 'p');
    width += 4;
    width += printf(" %08" PRIx64 " %02" PRIx32 ":%02" PRIx32 " %" PRIu64 " ",
                    r->offset, r->dev_major, r->dev_minor, r->inode);
    if (!(r->flags & MM_REGION_NAMED)) {
        putchar('\n');
        return;
    }
    for (; width < PAD_COLUMN; width++) {
        putchar(' ');
    }
    putchar(' ');
    for (uint32_t i = 0; i < r->name_len; i++) {
        char c = list->bytes[r->name_off + i];
        if (c == '\n') {
            fputs("\\012", stdout);
        }
        else {
            putchar(c);
        }
    }
    if (r->flags & MM_REGION_DELETED) {
        fputs(MM_DELETED_SUFFIX, stdout);
    }
    putchar('\n');
}

/* A path as one field: the separators of the line escaped as maps does. */
static void
print_field(const char *text, size_t len)
{
    if (len == 0) {
        putchar('-');
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            fputs("\\012", stdout);
        }
        else if (text[i] == '\t') {
            fputs("\\011", stdout);
        }
        else {
            putchar(text[i]);
        }
    }
}

static const struct {
    uint32_t flag;
    const char *name;
} image_flags[] = {
    {MM_IMAGE_MAIN, "main"},       {MM_IMAGE_LOADER, "loader"},
    {MM_IMAGE_KERNEL, "kernel"},   {MM_IMAGE_FROM_MEMORY, "memory"},
    {MM_IMAGE_DELETED, "deleted"}, {MM_IMAGE_HAS_FILE_ID, "file-id"},
};

static void
print_image(const mm_image_list *list, const mm_image *image)
{
    int any = 0;

    printf("%" PRIx64 "\t%" PRIx64 "\t%" PRIx64 "\t", image->base, image->end,
           image->bias);
    for (size_t i = 0; i < sizeof(image_flags) / sizeof(image_flags[0]); i++) {
        if (image->flags & image_flags[i].flag) {
            printf("%s%s", any ? "," : "", image_flags[i].name);
            any = 1;
        }
    }
    if (!any) {
        putchar('-');
    }
    putchar('\t');
    for (uint8_t i = 0; i < image->build_id_len; i++) {
        printf("%02x", image->build_id[i]);
    }
    if (image->build_id_len == 0) {
        putchar('-');
    }
    putchar('\t');
    print_field(list->bytes + image->path_off, image->path_len);
    putchar('\t');
    print_field(list->bytes + image->source_off, image->source_len);
    putchar('\n');
}

static int
dump_images(mm_target *target)
{
    mm_image_list list;
    mm_err err;
    mm_status status;

    mm_image_list_init(&list);
    memset(&err, 0, sizeof(err));
    status = mm_images(target, 0, &list, &err);
    if (status != MM_OK) {
        fprintf(stderr, "mmdump: %s\n", err.message);
        mm_image_list_free(&list);
        return 1;
    }
    for (size_t i = 0; i < list.count; i++) {
        print_image(&list, &list.images[i]);
    }
    mm_image_list_free(&list);
    return 0;
}

/* Text of the list's bytes as a field: the separators escaped as maps
 * does, so that one line stays one region. */
static void
print_text_field(const char *key, const mm_list *list, size_t off,
                 uint32_t len)
{
    printf("\t%s=", key);
    print_field(list->bytes + off, len);
}

static void
print_region_fields(const mm_list *list, const mm_region *r)
{
    printf("start=0x%" PRIx64 "\tend=0x%" PRIx64 "\tperms=", r->start, r->end);
    print_perms(r->prot, 1);
    fputs("\tmax_perms=", stdout);
    if (r->max_prot == MM_PROT_UNKNOWN) {
        fputs("None", stdout);
    }
    else {
        print_perms(r->max_prot, 0);
    }
    printf("\tshare_mode=%s\ttag=%s\tkind=%s\toffset=0x%" PRIx64
           "\tdev=%" PRIu32 ":%" PRIu32 "\tinode=%" PRIu64,
           r->share_mode ? r->share_mode : "None", r->tag ? r->tag : "None",
           r->kind < MM_KIND_COUNT ? mm_kind_name((mm_kind)(r->kind)) : "?",
           r->offset, r->dev_major, r->dev_minor, r->inode);
    if (r->alloc_base != 0) {
        printf("\talloc_base=0x%" PRIx64, r->alloc_base);
    }
    else {
        fputs("\talloc_base=None", stdout);
    }
    if (r->flags & MM_REGION_DELETED) {
        fputs("\tdeleted=1", stdout);
    }
    if (r->flags & MM_REGION_NAMED) {
        print_text_field("path", list, r->name_off, r->name_len);
    }
    if (r->flags & MM_REGION_DETAIL) {
        print_text_field("detail", list, r->detail_off, r->detail_len);
    }
    if (r->usage) {
        const mm_usage *u = &list->usages[r->usage - 1];

        for (int field = 0; field < MM_USAGE_FIELDS; field++) {
            if (u->present & (1u << field)) {
                const char *name = mm_usage_field_name((mm_usage_field)field);
                printf("\tu.%s=%" PRIu64, name ? name : "?", u->value[field]);
            }
        }
    }
    putchar('\n');
}

/* An address or a length in hex (with or without 0x); 0 on success. */
static int
parse_hex(const char *text, uint64_t *value)
{
    char *end;

    errno = 0;
    *value = strtoull(text, &end, 16);
    if (*end != '\0' || end == text || errno != 0 || text[0] == '-') {
        fprintf(stderr, "mmdump: not a hex number: %s\n", text);
        return -1;
    }
    return 0;
}

static int
dump_memory(mm_target *target, uint64_t addr, uint64_t len)
{
    unsigned char *buf;
    size_t got = 0;
    mm_err err;

    if (len > ((uint64_t)1 << 30)) {
        fprintf(stderr,
                "mmdump: %" PRIu64 " bytes is more than --read "
                "prints\n",
                len);
        return 2;
    }
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf == NULL) {
        fprintf(stderr, "mmdump: out of memory\n");
        return 1;
    }
    memset(&err, 0, sizeof(err));
    if (mm_read_memory(target, addr, buf, (size_t)len, &got, &err) != MM_OK) {
        fprintf(stderr, "mmdump: %s\n", err.message);
        free(buf);
        return 1;
    }
    for (size_t i = 0; i < got; i++) {
        printf("%02x", buf[i]);
    }
    putchar('\n');
    free(buf);
    return 0;
}

/* A process id from the command line; 0 on success. */
static int
parse_pid(const char *text, mm_target *target)
{
    char *end;

    target->pid = strtol(text, &end, 10);
    if (*end != '\0' || end == text || target->pid < 0) {
        fprintf(stderr, "mmdump: not a process id: %s\n", text);
        return -1;
    }
    return 0;
}

static int
usage_error(void)
{
    fprintf(stderr,
            "usage: mmdump [PID] | mmdump -f FILE | mmdump --images [PID] |\n"
            "       mmdump --fields [--usage] [--at ADDR] [PID] |\n"
            "       mmdump --total [PID] | mmdump --read ADDR LEN [PID] |\n"
            "       mmdump --exports BASE [PID] | mmdump --handles N [PID]\n"
            "       (--pause: wait at the walk's "
            "first cancel check)\n");
    return 2;
}

/* --exports BASE: the export table of the PE image whose headers are at
 * BASE in the target's memory, one export a line: name (or "-"), ordinal,
 * address (hex, base + RVA) and forwarder (or "-"). */
static int
dump_exports(mm_target *target, uint64_t base)
{
    mm_offset_reader at_base = {mm_read_target, target, base};
    mm_pe pe;
    mm_err err;
    size_t count = 0;
    mm_status status;

    memset(&err, 0, sizeof(err));
    status = mm_pe_open(&pe, mm_read_offset, &at_base, MM_SIZE_UNKNOWN,
                        MM_PE_MEMORY, &err);
    if (status != MM_OK) {
        fprintf(stderr, "mmdump: %s\n", err.message);
        return 1;
    }
    status = mm_pe_export_count(&pe, &count, &err);
    for (size_t i = 0; status == MM_OK && i < count; i++) {
        mm_pe_export export;
        status = mm_pe_export_at(&pe, i, &export, &err);
        if (status == MM_OK) {
            printf("%s\t%" PRIu32 "\t%" PRIx64 "\t%s\n",
                   export.name ? export.name : "-", export.ordinal,
                   base + export.rva,
                   export.forwarder ? export.forwarder : "-");
        }
    }
    mm_pe_close(&pe);
    if (status != MM_OK && status != MM_ERR_NOT_FOUND) {
        fprintf(stderr, "mmdump: %s\n", err.message);
        return 1;
    }
    return 0;
}

/* --pause: the first time the walk asks whether to stop, say so on
 * stderr and wait for a line on stdin, so that a test can change the
 * target (end it) in the middle of a listing. */
static int
pause_once(void *ctx)
{
    int *paused = ctx;
    char line[64];

    if (!*paused) {
        *paused = 1;
        fputs("paused\n", stderr);
        fflush(stderr);
        if (fgets(line, sizeof(line), stdin) == NULL) {
            return 0;
        }
    }
    return 0;
}

/* The handles this process holds, or -1 where the system does not count
 * them. */
static long
handle_count(void)
{
#ifdef _WIN32
    DWORD count = 0;
    return GetProcessHandleCount(GetCurrentProcess(), &count) ? (long)count
                                                              : -1;
#else
    return -1;
#endif
}

/* The value of a handle made now and closed again: the lowest free slot
 * of the handle table where the system hands out the lowest (Wine does),
 * so a handle left open in between shows as a higher one.  For systems
 * whose handle count says nothing (Wine's is always 0); -1 elsewhere. */
static long
handle_probe(void)
{
#ifdef _WIN32
    HANDLE event = CreateEventW(NULL, TRUE, FALSE, NULL);
    long value = (long)(uintptr_t)event;

    if (event == NULL) {
        return -1;
    }
    CloseHandle(event);
    return value;
#else
    return -1;
#endif
}

/* --handles N: every call of the backend N times, then the handle counts
 * before and after, which must be equal: no path leaks one. */
static int
check_handles(mm_target *target, long rounds)
{
    long before = handle_count(), probe = handle_probe();
    mm_list list;
    mm_image_list images;
    mm_err err;
    char buf[64];
    size_t got;

    mm_list_init(&list);
    mm_image_list_init(&images);
    for (long i = 0; i < rounds; i++) {
        uint64_t first = 0;
        if (mm_regions(target, MM_REGIONS_USAGE, &list, &err) == MM_OK &&
            list.count > 0) {
            first = list.regions[0].start;
        }
        mm_region_at(target, first, 0, &list, &err);
        mm_read_memory(target, first, buf, sizeof(buf), &got, &err);
        mm_process_usage(target, 0, &list, &err);
        mm_images(target, 0, &images, &err);
    }
    mm_list_free(&list);
    mm_image_list_free(&images);
    printf("handles before=%ld after=%ld probe_before=%ld probe_after=%ld\n",
           before, handle_count(), probe, handle_probe());
    return 0;
}

/* The modes of mmdump that print region fields, memory or totals. */
static int
field_modes(int argc, char **argv)
{
    enum { MAX_AT = 1024 };
    static uint64_t at[MAX_AT];
    mm_target target = {.pid = MM_PID_SELF};
    int fields = 0, total = 0, read = 0, paused = 0, exports = 0;
    uint64_t exports_base = 0;
    long handle_rounds = 0;
    size_t at_count = 0;
    unsigned flags = 0;
    uint64_t read_addr = 0, read_len = 0;
    mm_list list;
    mm_err err;
    mm_status status = MM_OK;
    int arg = 1;

    for (; arg < argc; arg++) {
        if (strcmp(argv[arg], "--fields") == 0) {
            fields = 1;
        }
        else if (strcmp(argv[arg], "--usage") == 0) {
            flags |= MM_REGIONS_USAGE;
        }
        else if (strcmp(argv[arg], "--total") == 0) {
            total = 1;
        }
        else if (strcmp(argv[arg], "--pause") == 0) {
            target.cancelled = pause_once;
            target.cancel_ctx = &paused;
        }
        else if (strcmp(argv[arg], "--at") == 0 && arg + 1 < argc &&
                 at_count < MAX_AT) {
            if (parse_hex(argv[++arg], &at[at_count++]) != 0) {
                return 2;
            }
        }
        else if (strcmp(argv[arg], "--exports") == 0 && arg + 1 < argc) {
            if (parse_hex(argv[++arg], &exports_base) != 0) {
                return 2;
            }
            exports = 1;
        }
        else if (strcmp(argv[arg], "--handles") == 0 && arg + 1 < argc) {
            handle_rounds = strtol(argv[++arg], NULL, 10);
        }
        else if (strcmp(argv[arg], "--read") == 0 && arg + 2 < argc) {
            if (parse_hex(argv[arg + 1], &read_addr) != 0 ||
                parse_hex(argv[arg + 2], &read_len) != 0) {
                return 2;
            }
            arg += 2;
            read = 1;
        }
        else {
            break;
        }
    }
    if (arg + 1 < argc ||
        fields + total + read + exports + (handle_rounds > 0) != 1) {
        return usage_error();
    }
    if (arg < argc && parse_pid(argv[arg], &target) != 0) {
        return 2;
    }
    if (read) {
        return dump_memory(&target, read_addr, read_len);
    }
    if (exports) {
        return dump_exports(&target, exports_base);
    }
    if (handle_rounds > 0) {
        return check_handles(&target, handle_rounds);
    }
    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
    if (total) {
        status = mm_process_usage(&target, 0, &list, &err);
    }
    else if (at_count > 0) {
        /* One answer line per address, each after "at=ADDR\t" (alone when
         * nothing is mapped there). */
        for (size_t i = 0; i < at_count && status == MM_OK; i++) {
            status = mm_region_at(&target, at[i], flags, &list, &err);
            if (status == MM_OK) {
                printf("at=0x%" PRIx64 "%s", at[i], list.count ? "\t" : "\n");
                if (list.count) {
                    print_region_fields(&list, &list.regions[0]);
                }
            }
        }
        list.count = 0;
    }
    else {
        status = mm_regions(&target, flags, &list, &err);
    }
    if (status != MM_OK) {
        fprintf(stderr, "mmdump: %s\n", err.message);
        mm_list_free(&list);
        return status == MM_ERR_NO_PROCESS ? 3 : 1;
    }
    if (list.partial != NULL) {
        printf("partial=%s\n", list.partial);
    }
    for (size_t i = 0; i < list.count; i++) {
        print_region_fields(&list, &list.regions[i]);
    }
    mm_list_free(&list);
    return 0;
}

int
main(int argc, char **argv)
{
    mm_list list;
    mm_err err;
    mm_status status;

#ifdef _WIN32
    /* The same bytes as on every system: no \r before each \n. */
    _setmode(_fileno(stdout), _O_BINARY);
    _setmode(_fileno(stderr), _O_BINARY);
#endif
    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
    if (argc >= 2 && strncmp(argv[1], "--", 2) == 0 &&
        strcmp(argv[1], "--images") != 0) {
        return field_modes(argc, argv);
    }
    if (argc >= 2 && argc <= 3 && strcmp(argv[1], "--images") == 0) {
        mm_target target = {.pid = MM_PID_SELF};
        if (argc == 3 && parse_pid(argv[2], &target) != 0) {
            return 2;
        }
        return dump_images(&target);
    }
    if (argc == 3 && strcmp(argv[1], "-f") == 0) {
        size_t len;
        char *text = (char *)read_whole_file(argv[2], &len);
        if (text == NULL) {
            fprintf(stderr, "mmdump: cannot read %s: %s\n", argv[2],
                    strerror(errno));
            return 1;
        }
        status = mm_parse_maps(text, len, &list, &err);
        free(text);
        if (status == MM_OK) {
            mm_list_normalize(&list);
        }
    }
    else if (argc <= 2) {
        mm_target target = {.pid = MM_PID_SELF};
        if (argc == 2 && parse_pid(argv[1], &target) != 0) {
            return 2;
        }
        status = mm_regions(&target, 0, &list, &err);
    }
    else {
        return usage_error();
    }
    if (status != MM_OK) {
        fprintf(stderr, "mmdump: %s\n", err.message);
        mm_list_free(&list);
        return 1;
    }
    for (size_t i = 0; i < list.count; i++) {
        print_region(&list, &list.regions[i]);
    }
    mm_list_free(&list);
    return 0;
}
