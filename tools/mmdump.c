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
 *
 * It links exactly the C files the extension does, so it is what valgrind,
 * the sanitizers and other systems' compilers are pointed at; on a system
 * with a backend it is also a quick way to see what the core sees.
 */
#include "core/mm.h"
#include "core/switches.h"
#include "formats/procmaps.h"
#include "read_whole.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int
main(int argc, char **argv)
{
    mm_list list;
    mm_err err;
    mm_status status;

    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
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
        fprintf(stderr, "usage: mmdump [PID] | mmdump -f FILE | mmdump "
                        "--images [PID]\n");
        return 2;
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
