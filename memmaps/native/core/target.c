/* What every backend gets from its own interface: a region_at that lists,
 * and its memory as a byte source for the format readers.  Linked with a
 * backend; the portable core (list.c, reader.c) needs none. */
#include "core/mm.h"
#include "core/reader.h"

#include <stdio.h>
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

void
mm_target_init(mm_target *target, long pid)
{
    target->pid = pid < 0 ? MM_PID_SELF : pid;
    target->procfs[0] = '\0';
    target->cancelled = NULL;
    target->cancel_ctx = NULL;
}

int
mm_target_set_procfs(mm_target *target, const char *path, size_t len,
                     char *why, size_t why_size)
{
    if (len == 0 || path[0] != '/') {
        snprintf(why, why_size,
                 "PROCFS must be an absolute path (it is the root of a "
                 "procfs, such as /proc or /host/proc)");
        return -1;
    }
    if (memchr(path, '\0', len) != NULL) {
        snprintf(why, why_size, "PROCFS must not contain a NUL character");
        return -1;
    }
    /* "/host/proc/" and "/host/proc" name the same directory; "/" stays. */
    while (len > 1 && path[len - 1] == '/') {
        len--;
    }
    if (len >= MM_PROCFS_MAX) {
        snprintf(why, why_size,
                 "PROCFS is %zu bytes long; at most %d are kept", len,
                 MM_PROCFS_MAX - 1);
        return -1;
    }
    if (len == 5 && memcmp(path, "/proc", 5) == 0) {
        target->procfs[0] = '\0';
        return 0;
    }
    memcpy(target->procfs, path, len);
    target->procfs[len] = '\0';
    return 0;
}
