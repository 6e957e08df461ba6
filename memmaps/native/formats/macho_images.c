/* The images of a Mach-O target from dyld's list, and the regions named
 * after their segments (formats/macho_images.h). */
#include "formats/macho_images.h"

#include "formats/macho.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MH_EXECUTE   2
#define MH_DYLINKER  7
#define PATH_UNKNOWN "[image at 0x%" PRIx64 "]"

/* Adds the image whose mach_header dyld put at load; 1 when it was added,
 * 0 when it cannot be read (left out), -1 when out of memory. */
static int
add_image(mm_read_fn read, void *ctx, uint64_t load, const char *path,
          size_t path_len, int is_dyld, uint32_t load_order,
          mm_image_list *out)
{
    mm_offset_reader reader = {read, ctx, load};
    size_t index = out->count, first_segment = out->segment_count;
    uint64_t slide, base = UINT64_MAX, end = 0;
    char unknown[64];
    mm_image *image;
    mm_macho macho;
    mm_err err;
    mm_status status;
    int result = -1;

    memset(&err, 0, sizeof(err));
    /* The size is unknown: offsets are bounded by the reader's own caps and
     * by what the target has mapped. */
    status = mm_macho_open(&macho, mm_read_offset, &reader, MM_SIZE_UNKNOWN,
                           MM_MACHO_CPU_ANY, MM_MACHO_MEMORY, &err);
    if (status == MM_ERR_NOMEM) {
        return -1;
    }
    if (status != MM_OK) {
        return 0; /* unreadable, torn, or not a Mach-O image */
    }
    if (mm_macho_slide(&macho, load, &slide) != 0) {
        mm_macho_close(&macho);
        return 0;
    }
    image = mm_image_list_push(out);
    if (image == NULL) {
        goto done;
    }
    image->load_order = load_order;
    for (size_t i = 0; i < macho.segment_count; i++) {
        const mm_macho_segment *s = &macho.segments[i];
        uint64_t start = s->vmaddr + slide; /* modulo 2**64, as dyld slides */
        mm_image_segment *segment;

        /* __PAGEZERO maps nothing of the image (it is the no-access range
         * below it), and a segment of no size maps nothing at all. */
        if (s->vmsize == 0 || strcmp(s->name, "__PAGEZERO") == 0) {
            continue;
        }
        if (s->vmsize > UINT64_MAX - start) {
            continue; /* past the end of the address space: a lie */
        }
        segment = mm_image_list_add_segment(out, index);
        if (segment == NULL) {
            goto done;
        }
        segment->start = start;
        segment->end = start + s->vmsize;
        memcpy(segment->name, s->name, sizeof(segment->name));
        segment->name[sizeof(segment->name) - 1] = '\0';
        segment->prot = (uint8_t)(s->initprot & (MM_PROT_READ | MM_PROT_WRITE |
                                                 MM_PROT_EXEC));
        base = start < base ? start : base;
        end = segment->end > end ? segment->end : end;
    }
    if (out->segment_count == first_segment) {
        /* Nothing mapped: not an image anyone can be in. */
        out->count = index;
        result = 0;
        goto done;
    }
    image = &out->images[index];
    image->base = base;
    image->end = end;
    image->bias = slide;
    image->header = load;
    image->format = MM_FORMAT_MACHO;
    image->flags = MM_IMAGE_FROM_MEMORY;
    if (is_dyld || macho.filetype == MH_DYLINKER) {
        image->flags |= MM_IMAGE_LOADER;
    }
    if (macho.filetype == MH_EXECUTE) {
        image->flags |= MM_IMAGE_MAIN;
    }
    if (macho.has_uuid) {
        memcpy(image->build_id, macho.uuid, sizeof(macho.uuid));
        image->build_id_len = (uint8_t)sizeof(macho.uuid);
    }
    if (path == NULL || path_len == 0) {
        int n = snprintf(unknown, sizeof(unknown), PATH_UNKNOWN, load);
        path = unknown;
        path_len = n > 0 ? (size_t)n : 0;
    }
    if (mm_image_list_add_text(out, path, path_len, &image->path_off,
                               &image->path_len) != 0) {
        goto done;
    }
    result = 1;

done:
    if (result < 0) {
        /* Out of memory: this image is not half there. */
        out->count = index;
        out->segment_count = first_segment;
    }
    else if (result == 0) {
        out->segment_count = first_segment;
    }
    mm_macho_close(&macho);
    return result;
}

mm_status
mm_macho_images(mm_read_fn read, void *ctx, const mm_dyld_list *dyld,
                mm_image_list *out, mm_err *err)
{
    /* dyld's reader caps infoArrayCount; dyld itself may come after. */
    size_t count = dyld->count;

    if (count > (size_t)MM_DYLD_MAX_IMAGES + 1) {
        count = (size_t)MM_DYLD_MAX_IMAGES + 1;
    }
    mm_image_list_clear(out);
    for (size_t i = 0; i < count; i++) {
        const mm_dyld_image *entry = &dyld->images[i];
        const char *path = mm_dyld_image_path(dyld, i);

        if (add_image(read, ctx, entry->load_address, path,
                      path != NULL ? entry->path_len : 0,
                      (entry->flags & MM_DYLD_IMAGE_IS_DYLD) != 0, (uint32_t)i,
                      out) < 0) {
            mm_image_list_clear(out);
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
    }
    if (mm_image_list_sort(out) != 0) {
        mm_image_list_clear(out);
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    return MM_OK;
}

/* The segment names ld64, lld and dyld make (and xnu's for the stack),
 * for mm_macho_segment_tag(). */
static const char *const segment_tags[] = {
    "__TEXT",       "__TEXT_EXEC",  "__DATA",         "__DATA_CONST",
    "__DATA_DIRTY", "__AUTH",       "__AUTH_CONST",   "__LINKEDIT",
    "__OBJC",       "__OBJC_RO",    "__OBJC_RW",      "__OBJC_CONST",
    "__IMPORT",     "__RESTRICT",   "__UNIXSTACK",    "__LLVM",
    "__CTF",        "__TPRO_CONST", "__LINKINFO",     "__LD",
    "__DWARF",      "__PAGEZERO",   "__PRELINK_TEXT", "__PRELINK_INFO",
};

const char *
mm_macho_segment_tag(const char *segname)
{
    for (size_t i = 0; i < sizeof(segment_tags) / sizeof(segment_tags[0]);
         i++) {
        if (strcmp(segname, segment_tags[i]) == 0) {
            return segment_tags[i];
        }
    }
    return NULL;
}

static int
compare_spans(const void *a, const void *b)
{
    const mm_image_segment *x = *(const mm_image_segment *const *)a;
    const mm_image_segment *y = *(const mm_image_segment *const *)b;

    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }
    /* Equal starts: keep the list's order, for the same answer each run. */
    return x < y ? -1 : x > y;
}

/* The label vmmap gives a region of an image: its segment and the file
 * name of the image ("__TEXT libsystem_c.dylib").  0, or -1 when out of
 * memory. */
static int
set_segment_detail(mm_list *regions, size_t index, const char *segname,
                   const char *path, size_t path_len)
{
    char label[16 + 1 + 256];
    size_t seg_len = 0, base = path_len, name_len;

    while (seg_len < 16 && segname[seg_len] != '\0') {
        seg_len++;
    }
    while (base > 0 && path[base - 1] != '/') {
        base--;
    }
    name_len = path_len - base;
    if (seg_len == 0 || name_len == 0 ||
        name_len > sizeof(label) - seg_len - 1) {
        return 0; /* no segment name, or a file name no file system has */
    }
    memcpy(label, segname, seg_len);
    label[seg_len] = ' ';
    memcpy(label + seg_len + 1, path + base, name_len);
    return mm_list_set_detail(regions, index, label, seg_len + 1 + name_len);
}

mm_status
mm_macho_name_regions(mm_list *regions, const mm_image_list *images,
                      mm_err *err)
{
    const mm_image_segment **spans;
    size_t count = images->segment_count;
    int unnamed = 0;

    for (size_t i = 0; i < regions->count && !unnamed; i++) {
        unnamed = !(regions->regions[i].flags & MM_REGION_NAMED);
    }
    if (!unnamed || count == 0) {
        return MM_OK;
    }
    /* The segments by start over every image (the list has them by image):
     * one sort, then a binary search per region. */
    spans = malloc(count * sizeof(*spans));
    if (spans == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        spans[i] = &images->segments[i];
    }
    qsort(spans, count, sizeof(*spans), compare_spans);
    for (size_t i = 0; i < regions->count; i++) {
        mm_region *region = &regions->regions[i];
        const mm_image_segment *segment;
        const mm_image *image;
        size_t low = 0, high = count;

        if (region->flags & MM_REGION_NAMED) {
            continue;
        }
        /* The last segment that starts at or below the region. */
        while (low < high) {
            size_t middle = low + (high - low) / 2;
            if (spans[middle]->start <= region->start) {
                low = middle + 1;
            }
            else {
                high = middle;
            }
        }
        if (low == 0 || region->start >= spans[low - 1]->end) {
            continue;
        }
        segment = spans[low - 1];
        image = &images->images[segment->image];
        if (mm_list_set_name(regions, i, images->bytes + image->path_off,
                             image->path_len) != 0) {
            free(spans);
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
        region = &regions->regions[i];
        region->kind = MM_KIND_FILE;
        if (region->tag == NULL) {
            region->tag = mm_macho_segment_tag(segment->name);
        }
        if (set_segment_detail(regions, i, segment->name,
                               images->bytes + image->path_off,
                               image->path_len) != 0) {
            free(spans);
            return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        }
    }
    free(spans);
    return MM_OK;
}
