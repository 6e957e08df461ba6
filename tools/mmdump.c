/* mmdump: the native core on its own, without Python.
 *
 *   mmdump [PID]        print the memory map of PID (default: itself) in the
 *                       /proc/PID/maps format
 *   mmdump -f FILE      parse saved maps text and print it back
 *
 * It links exactly the C files the extension does, so it is what valgrind,
 * the sanitizers and other systems' compilers are pointed at; on a system
 * with a backend it is also a quick way to see what the core sees.
 */
#include "core/mm.h"
#include "core/switches.h"
#include "formats/procmaps.h"

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

static char *
read_file(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    char *data = NULL;
    size_t cap = 0;

    *len = 0;
    if (file == NULL) {
        return NULL;
    }
    for (;;) {
        size_t n;
        if (cap - *len < 65536) {
            char *grown = realloc(data, cap * 2 + 65536);
            if (grown == NULL) {
                free(data);
                fclose(file);
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
    fclose(file);
    return data;
}

int
main(int argc, char **argv)
{
    mm_list list;
    mm_err err;
    mm_status status;

    mm_list_init(&list);
    memset(&err, 0, sizeof(err));
    if (argc == 3 && strcmp(argv[1], "-f") == 0) {
        size_t len;
        char *text = read_file(argv[2], &len);
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
        if (argc == 2) {
            char *end;
            target.pid = strtol(argv[1], &end, 10);
            if (*end != '\0' || target.pid < 0) {
                fprintf(stderr, "mmdump: not a process id: %s\n", argv[1]);
                return 2;
            }
        }
        status = mm_regions(&target, 0, &list, &err);
    }
    else {
        fprintf(stderr, "usage: mmdump [PID] | mmdump -f FILE\n");
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
