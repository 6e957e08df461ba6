/* The region list and error reporting shared by every backend. */
#include "core/mm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
mm_list_init(mm_list *list)
{
    memset(list, 0, sizeof(*list));
}

void
mm_list_free(mm_list *list)
{
    free(list->regions);
    free(list->bytes);
    free(list->usages);
    free(list->partial);
    mm_list_init(list);
}

/* A text of the old buffer, and where compacting put it. */
typedef struct {
    const char *text;
    size_t len;
    size_t moved_off;
} moved_text;

/* The offset of text in the new buffer: the one its neighbour got when both
 * say the same, else a copy at *used. */
static size_t
move_text(char *into, size_t *used, moved_text *last, const char *text,
          size_t len)
{
    if (last->text != NULL && last->len == len &&
        (last->text == text || memcmp(last->text, text, len) == 0)) {
        return last->moved_off;
    }
    memcpy(into + *used, text, len);
    last->text = text;
    last->len = len;
    last->moved_off = *used;
    *used += len;
    return last->moved_off;
}

int
mm_list_compact(mm_list *list)
{
    size_t needed = 0, used = 0;
    char *into;
    moved_text names = {0}, details = {0}, vmflags = {0}, blocks = {0};

    for (size_t i = 0; i < list->count; i++) {
        const mm_region *r = &list->regions[i];
        needed += (r->flags & MM_REGION_NAMED ? r->name_len : 0) +
                  (r->flags & MM_REGION_DETAIL ? r->detail_len : 0);
    }
    for (size_t i = 0; i < list->usage_count; i++) {
        const mm_usage *u = &list->usages[i];
        needed += (u->flags & MM_USAGE_HAS_VMFLAGS ? u->vmflags_len : 0) +
                  (u->flags & MM_USAGE_HAS_EXTRA ? u->block_len : 0);
    }
    if (list->capacity > list->count && list->count > 0) {
        mm_region *fit =
            realloc(list->regions, list->count * sizeof(*list->regions));
        if (fit != NULL) {
            list->regions = fit;
            list->capacity = list->count;
        }
    }
    /* An upper bound: neighbours that share a text need less. */
    if (list->bytes == NULL || needed > list->bytes_cap / 2) {
        return 0;
    }
    into = malloc(needed > 0 ? needed : 1);
    if (into == NULL) {
        return -1;
    }
    for (size_t i = 0; i < list->count; i++) {
        mm_region *r = &list->regions[i];
        if (r->flags & MM_REGION_NAMED) {
            r->name_off = move_text(into, &used, &names,
                                    list->bytes + r->name_off, r->name_len);
        }
        if (r->flags & MM_REGION_DETAIL) {
            r->detail_off =
                move_text(into, &used, &details, list->bytes + r->detail_off,
                          r->detail_len);
        }
    }
    for (size_t i = 0; i < list->usage_count; i++) {
        mm_usage *u = &list->usages[i];
        if (u->flags & MM_USAGE_HAS_VMFLAGS) {
            u->vmflags_off =
                move_text(into, &used, &vmflags, list->bytes + u->vmflags_off,
                          u->vmflags_len);
        }
        if (u->flags & MM_USAGE_HAS_EXTRA) {
            u->block_off = move_text(into, &used, &blocks,
                                     list->bytes + u->block_off, u->block_len);
        }
    }
    free(list->bytes);
    list->bytes = into;
    list->bytes_len = used;
    list->bytes_cap = needed > 0 ? needed : 1;
    return 0;
}

void
mm_list_clear(mm_list *list)
{
    list->count = 0;
    list->bytes_len = 0;
    list->usage_count = 0;
    free(list->partial);
    list->partial = NULL;
}

/* Grows *cap geometrically until it holds need; 0 on success. */
static int
grow(void **buf, size_t *cap, size_t need, size_t item_size, size_t floor)
{
    size_t new_cap = *cap ? *cap : floor;
    void *new_buf;

    if (need <= *cap) {
        return 0;
    }
    while (new_cap < need) {
        if (new_cap > SIZE_MAX / 2 / item_size) {
            return -1;
        }
        new_cap *= 2;
    }
    new_buf = realloc(*buf, new_cap * item_size);
    if (new_buf == NULL) {
        return -1;
    }
    *buf = new_buf;
    *cap = new_cap;
    return 0;
}

int
mm_list_reserve(mm_list *list, size_t count)
{
    if (count > SIZE_MAX - list->count) {
        return -1;
    }
    return grow((void **)&list->regions, &list->capacity, list->count + count,
                sizeof(mm_region), 64);
}

mm_region *
mm_list_push(mm_list *list)
{
    mm_region *region;

    if (mm_list_reserve(list, 1) != 0) {
        return NULL;
    }
    region = &list->regions[list->count++];
    memset(region, 0, sizeof(*region));
    region->max_prot = MM_PROT_UNKNOWN;
    return region;
}

mm_usage *
mm_list_add_usage(mm_list *list, size_t index)
{
    mm_usage *usage;

    if (list->usage_count >= UINT32_MAX - 1 ||
        grow((void **)&list->usages, &list->usage_capacity,
             list->usage_count + 1, sizeof(mm_usage), 64) != 0) {
        return NULL;
    }
    usage = &list->usages[list->usage_count++];
    memset(usage, 0, sizeof(*usage));
    list->regions[index].usage = (uint32_t)list->usage_count;
    return usage;
}

/* Figures that describe a region rather than count its memory. */
#define MM_USAGE_NOT_ADDITIVE                                                 \
    ((1u << MM_USAGE_KERNEL_PAGE_SIZE) | (1u << MM_USAGE_MMU_PAGE_SIZE) |     \
     (1u << MM_USAGE_THP_ELIGIBLE) | (1u << MM_USAGE_PROTECTION_KEY))

void
mm_usage_add(mm_usage *total, const mm_usage *usage, int first)
{
    if (first) {
        memset(total, 0, sizeof(*total));
        total->present = usage->present & ~MM_USAGE_NOT_ADDITIVE;
    }
    else {
        total->present &= usage->present;
    }
    for (int field = 0; field < MM_USAGE_FIELDS; field++) {
        if (total->present & (1u << field)) {
            total->value[field] += usage->value[field];
        }
    }
}

int
mm_list_reserve_bytes(mm_list *list, size_t extra)
{
    if (extra > SIZE_MAX - list->bytes_len) {
        return -1;
    }
    return grow((void **)&list->bytes, &list->bytes_cap,
                list->bytes_len + extra, 1, 4096);
}

int
mm_list_set_name(mm_list *list, size_t index, const char *name, size_t len)
{
    mm_region *region;

    if (len > UINT32_MAX || mm_list_reserve_bytes(list, len) != 0) {
        return -1;
    }
    region = &list->regions[index];
    memcpy(list->bytes + list->bytes_len, name, len);
    region->name_off = list->bytes_len;
    region->name_len = (uint32_t)len;
    region->flags |= MM_REGION_NAMED;
    list->bytes_len += len;
    return 0;
}

int
mm_list_set_detail(mm_list *list, size_t index, const char *detail, size_t len)
{
    mm_region *region;

    if (len > UINT32_MAX || mm_list_reserve_bytes(list, len) != 0) {
        return -1;
    }
    region = &list->regions[index];
    memcpy(list->bytes + list->bytes_len, detail, len);
    region->detail_off = list->bytes_len;
    region->detail_len = (uint32_t)len;
    region->flags |= MM_REGION_DETAIL;
    list->bytes_len += len;
    return 0;
}

void
mm_list_normalize(mm_list *list)
{
    mm_region *regions = list->regions;
    size_t kept = 0, i = 0;

    /* The usual listing is in order already: walk it without moving any
     * region, up to the first that is not. */
    while (i < list->count && regions[i].start < regions[i].end &&
           (i == 0 || regions[i - 1].end <= regions[i].start)) {
        i++;
    }
    kept = i;
    for (; i < list->count; i++) {
        mm_region current = regions[i];

        if (current.end <= current.start) {
            continue;
        }
        /* Entries that start at or after the newer one begins are wholly
         * stale: the newer entry and what follows it describe that range. */
        while (kept > 0 && regions[kept - 1].start >= current.start) {
            kept--;
        }
        if (kept > 0 && regions[kept - 1].end > current.start) {
            /* Cutting the end keeps the older entry's offset valid. */
            regions[kept - 1].end = current.start;
        }
        regions[kept++] = current;
    }
    list->count = kept;
}

mm_status
mm_err_set(mm_err *err, mm_status status, int os_errno, const char *fmt, ...)
{
    va_list args;

    err->status = status;
    err->os_errno = os_errno;
    va_start(args, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, args);
    va_end(args);
    return status;
}

int
mm_list_set_partial(mm_list *list, const char *fmt, ...)
{
    char message[sizeof(((mm_err *)0)->message)];
    va_list args;
    char *copy;

    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    copy = malloc(strlen(message) + 1);
    if (copy == NULL) {
        return -1;
    }
    strcpy(copy, message);
    free(list->partial);
    list->partial = copy;
    return 0;
}

/* ---- the image list ---- */

void
mm_image_list_init(mm_image_list *list)
{
    memset(list, 0, sizeof(*list));
    mm_list_init(&list->regions);
}

void
mm_image_list_free(mm_image_list *list)
{
    free(list->images);
    free(list->segments);
    free(list->bytes);
    mm_list_free(&list->regions);
    mm_image_list_init(list);
}

void
mm_image_list_clear(mm_image_list *list)
{
    list->count = 0;
    list->segment_count = 0;
    list->bytes_len = 0;
    mm_list_clear(&list->regions);
    list->listed = 0;
}

mm_image *
mm_image_list_push(mm_image_list *list)
{
    mm_image *image;

    if (list->count == SIZE_MAX ||
        grow((void **)&list->images, &list->capacity, list->count + 1,
             sizeof(mm_image), 16) != 0) {
        return NULL;
    }
    image = &list->images[list->count++];
    memset(image, 0, sizeof(*image));
    image->load_order = MM_LOAD_ORDER_UNKNOWN;
    return image;
}

mm_image_segment *
mm_image_list_add_segment(mm_image_list *list, size_t image)
{
    mm_image_segment *segment;

    if (list->segment_count == SIZE_MAX ||
        grow((void **)&list->segments, &list->segment_capacity,
             list->segment_count + 1, sizeof(mm_image_segment), 32) != 0) {
        return NULL;
    }
    segment = &list->segments[list->segment_count++];
    memset(segment, 0, sizeof(*segment));
    segment->image = image;
    return segment;
}

int
mm_image_list_add_text(mm_image_list *list, const char *text, size_t len,
                       size_t *off, uint32_t *len_out)
{
    if (len > UINT32_MAX || len > SIZE_MAX - list->bytes_len - 1 ||
        grow((void **)&list->bytes, &list->bytes_cap,
             list->bytes_len + len + 1, 1, 4096) != 0) {
        return -1;
    }
    memcpy(list->bytes + list->bytes_len, text, len);
    list->bytes[list->bytes_len + len] = '\0';
    *off = list->bytes_len;
    *len_out = (uint32_t)len;
    list->bytes_len += len + 1;
    return 0;
}

static int
compare_segments(const void *a, const void *b)
{
    const mm_image_segment *x = a, *y = b;

    if (x->image != y->image) {
        return x->image < y->image ? -1 : 1;
    }
    return x->start < y->start ? -1 : x->start > y->start;
}

typedef struct {
    uint64_t base;
    size_t index;
} image_key;

static int
compare_image_keys(const void *a, const void *b)
{
    const image_key *x = a, *y = b;

    if (x->base != y->base) {
        return x->base < y->base ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

int
mm_image_list_sort(mm_image_list *list)
{
    /* The segments point at images by position: sort keys that remember
     * where each image was, then renumber the segments. */
    image_key *keys = NULL;
    size_t *rank = NULL;
    mm_image *sorted = NULL;

    if (list->count > 1) {
        keys = malloc(list->count * sizeof(*keys));
        rank = malloc(list->count * sizeof(*rank));
        sorted = malloc(list->count * sizeof(*sorted));
    }
    if (list->count > 1 && (keys == NULL || rank == NULL || sorted == NULL)) {
        free(keys);
        free(rank);
        free(sorted);
        return -1;
    }
    if (list->count > 1) {
        for (size_t i = 0; i < list->count; i++) {
            keys[i].base = list->images[i].base;
            keys[i].index = i;
        }
        qsort(keys, list->count, sizeof(*keys), compare_image_keys);
        for (size_t i = 0; i < list->count; i++) {
            sorted[i] = list->images[keys[i].index];
            rank[keys[i].index] = i;
        }
        memcpy(list->images, sorted, list->count * sizeof(*sorted));
        for (size_t i = 0; i < list->segment_count; i++) {
            list->segments[i].image = rank[list->segments[i].image];
        }
    }
    free(keys);
    free(rank);
    free(sorted);
    if (list->segment_count > 1) {
        qsort(list->segments, list->segment_count, sizeof(mm_image_segment),
              compare_segments);
    }
    return 0;
}
