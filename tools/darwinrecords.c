/* darwinrecords: the portable half of the macOS backend
 * (formats/mach_regions.c) on its own, fed with recorded
 * vm_region_submap_info_64 records.
 *
 *   darwinrecords [-u] [-f BYTES] [-p REFUSAL] FILE
 *                                       convert the records in FILE and
 *                                       print the regions, one a line;
 *                                       -u adds usage, -f BYTES then sums
 *                                       them with mm_darwin_total() and
 *                                       that physical footprint; -p marks
 *                                       them as the listing made without
 *                                       the task port, which task_for_pid()
 *                                       refused with REFUSAL, and prints
 *                                       "partial=SENTENCE" first
 *   darwinrecords -t                    every user tag 0..256 and its name
 *   darwinrecords -s                    every share mode 0..9 and its name
 *
 * FILE holds one record a line as key=value words: start, size, depth and
 * the fields of mm_darwin_submap_info by their names (protection,
 * max_protection, inheritance, offset, user_tag, pages_resident,
 * pages_shared_now_private, pages_swapped_out, pages_dirtied, ref_count,
 * shadow_depth, external_pager, share_mode, is_submap, object_id,
 * pages_reusable; numbers in C syntax, 0x for hex), then optionally dev=,
 * inode= and last path=, whose value is the rest of the line.  A line
 * "page_size N" sets the page size for the records after it; "#" starts a
 * comment line.  What mm_macos.c does with a live task, this does with the
 * file: add each record, give named ones their path, finish the list.
 *
 * A region prints as tab-separated key=value words; usage figures as
 * u.NAME=VALUE for the figures present; extras as x.NAME=VALUE.
 */
#include "formats/mach_regions.h"
#include "print_perms.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct record {
    uint64_t start, size, page_size, inode;
    uint32_t depth, dev;
    mm_darwin_submap_info info;
    const char *path; /* points into the line; NULL when none */
} record;

/* Parses one key=value word into r; -1 for an unknown key, -2 for a value
 * too big for its field. */
static int
set_field(record *r, const char *key, size_t key_len, uint64_t value)
{
#define FIELD(name, target)                                                   \
    if (key_len == sizeof(name) - 1 && memcmp(key, name, key_len) == 0) {     \
        target = value;                                                       \
        return (uint64_t)target == value ? 0 : -2;                            \
    }
    FIELD("start", r->start);
    FIELD("size", r->size);
    FIELD("depth", r->depth);
    FIELD("dev", r->dev);
    FIELD("inode", r->inode);
    FIELD("protection", r->info.protection);
    FIELD("max_protection", r->info.max_protection);
    FIELD("inheritance", r->info.inheritance);
    FIELD("offset", r->info.offset);
    FIELD("user_tag", r->info.user_tag);
    FIELD("pages_resident", r->info.pages_resident);
    FIELD("pages_shared_now_private", r->info.pages_shared_now_private);
    FIELD("pages_swapped_out", r->info.pages_swapped_out);
    FIELD("pages_dirtied", r->info.pages_dirtied);
    FIELD("ref_count", r->info.ref_count);
    FIELD("shadow_depth", r->info.shadow_depth);
    FIELD("external_pager", r->info.external_pager);
    FIELD("share_mode", r->info.share_mode);
    FIELD("is_submap", r->info.is_submap);
    FIELD("object_id", r->info.object_id);
    FIELD("pages_reusable", r->info.pages_reusable);
#undef FIELD
    return -1;
}

/* Parses a record line (NUL-terminated, no newline); -1 with a message on
 * stderr for a bad one. */
static int
parse_record(char *line, size_t lineno, record *r)
{
    char *p = line;

    while (*p) {
        char *word = p, *equals, *end;
        uint64_t value;

        while (*word == ' ' || *word == '\t') {
            word++;
        }
        if (*word == '\0') {
            break;
        }
        equals = strchr(word, '=');
        if (equals == NULL) {
            fprintf(stderr, "darwinrecords: line %zu: no '=' in %s\n", lineno,
                    word);
            return -1;
        }
        if (equals - word == 4 && memcmp(word, "path", 4) == 0) {
            r->path = equals + 1;
            return 0;
        }
        errno = 0;
        value = strtoull(equals + 1, &end, 0);
        if (errno != 0 || end == equals + 1 ||
            (*end != '\0' && *end != ' ' && *end != '\t')) {
            fprintf(stderr, "darwinrecords: line %zu: bad number in %s\n",
                    lineno, word);
            return -1;
        }
        switch (set_field(r, word, (size_t)(equals - word), value)) {
        case 0:
            break;
        case -2:
            fprintf(stderr,
                    "darwinrecords: line %zu: too big for the field: "
                    "%s\n",
                    lineno, word);
            return -1;
        default:
            fprintf(stderr, "darwinrecords: line %zu: unknown key in %s\n",
                    lineno, word);
            return -1;
        }
        p = end;
    }
    return 0;
}

/* Reads FILE and feeds every record through mm_darwin_add_region(). */
static int
load(const char *path, int want_usage, mm_list *list)
{
    FILE *file = fopen(path, "r");
    char line[8192];
    size_t lineno = 0;
    uint64_t page_size = 4096;

    if (file == NULL) {
        fprintf(stderr, "darwinrecords: cannot read %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), file) != NULL) {
        record r;
        size_t len = strlen(line);

        lineno++;
        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        }
        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        if (strncmp(line, "page_size ", 10) == 0) {
            page_size = strtoull(line + 10, NULL, 0);
            continue;
        }
        memset(&r, 0, sizeof(r));
        if (parse_record(line, lineno, &r) != 0) {
            goto error;
        }
        if (mm_darwin_add_region(list, r.start, r.size, r.depth, &r.info,
                                 page_size, want_usage) != 0 ||
            (r.path != NULL &&
             mm_darwin_set_path(list, list->count - 1, r.path, strlen(r.path),
                                r.dev, r.inode) != 0)) {
            fprintf(stderr, "darwinrecords: out of memory\n");
            goto error;
        }
    }
    fclose(file);
    mm_darwin_finish(list);
    return 0;

error:
    fclose(file);
    return -1;
}

static void
print_region(const mm_list *list, const mm_region *r)
{
    const char *share = r->share_mode;

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
           share ? share : "None", r->tag ? r->tag : "None",
           r->kind < MM_KIND_COUNT ? mm_kind_name((mm_kind)(r->kind)) : "?",
           r->offset, r->dev_major, r->dev_minor, r->inode);
    if (r->flags & MM_REGION_NAMED) {
        printf("\tpath=%.*s", (int)r->name_len, list->bytes + r->name_off);
    }
    if (r->usage) {
        const mm_usage *u = &list->usages[r->usage - 1];

        for (int field = 0; field < MM_USAGE_FIELDS; field++) {
            if (u->present & (1u << field)) {
                const char *name = mm_usage_field_name((mm_usage_field)field);
                printf("\tu.%s=%" PRIu64, name ? name : "?", u->value[field]);
            }
        }
        if (u->flags & MM_USAGE_HAS_EXTRA) {
            /* "key: value" lines; printed as x.key=value */
            const char *p = list->bytes + u->block_off;
            const char *end = p + u->block_len;
            while (p < end) {
                const char *line_end = memchr(p, '\n', (size_t)(end - p));
                const char *colon;
                if (line_end == NULL) {
                    line_end = end;
                }
                colon = memchr(p, ':', (size_t)(line_end - p));
                if (colon != NULL) {
                    const char *value = colon + 1;
                    while (value < line_end && *value == ' ') {
                        value++;
                    }
                    printf("\tx.%.*s=%.*s", (int)(colon - p), p,
                           (int)(line_end - value), value);
                }
                p = line_end + 1;
            }
        }
    }
    putchar('\n');
}

int
main(int argc, char **argv)
{
    mm_list list;
    mm_err err;
    int want_usage = 0, total = 0, status = 1;
    const char *refusal = NULL;
    uint64_t footprint = 0;
    int arg = 1;

    if (argc == 2 && strcmp(argv[1], "-t") == 0) {
        for (uint32_t tag = 0; tag <= 256; tag++) {
            const char *name = mm_darwin_tag_name(tag);
            printf("%" PRIu32 "\t%s\n", tag, name ? name : "None");
        }
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "-s") == 0) {
        for (unsigned mode = 0; mode <= 9; mode++) {
            const char *name = mm_share_mode_name((uint8_t)mode);
            printf("%u\t%s\n", mode, name ? name : "None");
        }
        return 0;
    }
    for (; arg < argc - 1; arg++) {
        if (strcmp(argv[arg], "-u") == 0) {
            want_usage = 1;
        }
        else if (strcmp(argv[arg], "-p") == 0 && arg + 1 < argc - 1) {
            refusal = argv[++arg];
        }
        else if (strcmp(argv[arg], "-f") == 0 && arg + 1 < argc - 1) {
            total = 1;
            footprint = strtoull(argv[++arg], NULL, 0);
        }
        else {
            break;
        }
    }
    if (arg != argc - 1) {
        fprintf(stderr, "usage: darwinrecords [-u] [-f BYTES] [-p REFUSAL] "
                        "FILE | -t | -s\n");
        return 2;
    }
    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
    if (load(argv[arg], want_usage, &list) != 0) {
        goto done;
    }
    if (refusal != NULL &&
        mm_darwin_mark_depth0(&list, 4242, refusal, 5) != 0) {
        fprintf(stderr, "darwinrecords: out of memory\n");
        goto done;
    }
    if (total && mm_darwin_total(&list, &footprint, &err) != MM_OK) {
        fprintf(stderr, "darwinrecords: %s\n", err.message);
        goto done;
    }
    if (list.partial != NULL) {
        printf("partial=%s\n", list.partial);
    }
    for (size_t i = 0; i < list.count; i++) {
        print_region(&list, &list.regions[i]);
    }
    status = 0;

done:
    mm_list_free(&list);
    return status;
}
