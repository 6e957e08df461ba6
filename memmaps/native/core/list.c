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
    mm_list_init(list);
}

void
mm_list_clear(mm_list *list)
{
    list->count = 0;
    list->bytes_len = 0;
    list->usage_count = 0;
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

void
mm_list_normalize(mm_list *list)
{
    size_t kept = 0;

    for (size_t i = 0; i < list->count; i++) {
        mm_region current = list->regions[i];

        if (current.end <= current.start) {
            continue;
        }
        /* Entries that start at or after the newer one begins are wholly
         * stale: the newer entry and what follows it describe that range. */
        while (kept > 0 && list->regions[kept - 1].start >= current.start) {
            kept--;
        }
        if (kept > 0 && list->regions[kept - 1].end > current.start) {
            /* Cutting the end keeps the older entry's offset valid. */
            list->regions[kept - 1].end = current.start;
        }
        list->regions[kept++] = current;
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
