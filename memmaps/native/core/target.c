/* What every backend gets from its own interface: a region_at that lists,
 * and its memory as a byte source for the format readers.  Linked with a
 * backend; the portable core (list.c, reader.c) needs none. */
#include "core/mm.h"
#include "core/reader.h"

#include <string.h>

int
mm_read_target(void *ctx, uint64_t address, void *buf, size_t len)
{
    size_t got = 0;
    mm_err err;

    memset(&err, 0, sizeof(err));
    return mm_read_memory(ctx, address, buf, len, &got, &err) == MM_OK &&
                   got == len
               ? 0
               : -1;
}

mm_status
mm_region_at_from_listing(const mm_target *target, uint64_t addr, mm_list *out,
                          mm_err *err)
{
    size_t low = 0, high;
    mm_status status;

    mm_list_clear(out);
    status = mm_regions(target, 0, out, err);
    if (status != MM_OK) {
        return status;
    }
    /* The last region that starts at or below addr. */
    high = out->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (out->regions[middle].start <= addr) {
            low = middle + 1;
        }
        else {
            high = middle;
        }
    }
    if (low > 0 && addr < out->regions[low - 1].end) {
        out->regions[0] = out->regions[low - 1]; /* its name stays valid */
        out->usage_count = 0;
        out->regions[0].usage = 0;
        out->count = 1;
    }
    else {
        out->count = 0;
    }
    return MM_OK;
}
