/* The address index of core/symindex.h. */
#include "core/symindex.h"

#include <stdlib.h>
#include <string.h>

static int
before(const mm_symaddr *a, const mm_symaddr *b)
{
    return a->start < b->start || (a->start == b->start && a->id < b->id);
}

/* Sorts entries by start, then id: a bottom-up merge sort, which needs
 * no recursion and asks the cancelled callback every MM_CANCEL_STRIDE
 * entries merged, so that even millions of entries can be stopped within
 * a millisecond. */
static mm_status
sort_entries(mm_symaddr **entries, size_t count, const mm_source *source,
             mm_err *err)
{
    mm_symaddr *const original = *entries;
    mm_symaddr *from = original, *to;
    size_t since_check = 0;

    if (count < 2) {
        return MM_OK;
    }
    to = malloc(count * sizeof(*to));
    if (to == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory sorting %zu symbols", count);
    }
    for (size_t width = 1; width < count; width *= 2) {
        mm_symaddr *swap;
        for (size_t lo = 0; lo < count; lo += 2 * width) {
            size_t mid = count - lo > width ? lo + width : count;
            size_t hi = count - mid > width ? mid + width : count;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                to[k++] = before(&from[j], &from[i]) ? from[j++] : from[i++];
            }
            while (i < mid) {
                to[k++] = from[i++];
            }
            while (j < hi) {
                to[k++] = from[j++];
            }
            since_check += hi - lo;
            if (since_check >= MM_CANCEL_STRIDE) {
                since_check = 0;
                if (mm_source_cancelled(source)) {
                    /* The caller frees the original array. */
                    free(from == original ? to : from);
                    return mm_cancelled_error(err);
                }
            }
        }
        swap = from;
        from = to;
        to = swap;
    }
    free(to);
    *entries = from;
    return MM_OK;
}

mm_status
mm_symindex_build(mm_symindex *index, mm_symaddr *entries, size_t count,
                  const mm_source *source, mm_err *err)
{
    uint64_t reach = 0;
    mm_status status;

    memset(index, 0, sizeof(*index));
    status = sort_entries(&entries, count, source, err);
    if (status != MM_OK) {
        free(entries);
        return status;
    }
    index->reach = malloc((count ? count : 1) * sizeof(*index->reach));
    if (index->reach == NULL) {
        free(entries);
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory indexing %zu symbols", count);
    }
    for (size_t i = 0; i < count; i++) {
        if ((entries[i].flags & MM_SYMADDR_SIZED) && entries[i].end > reach) {
            reach = entries[i].end;
        }
        index->reach[i] = reach;
    }
    index->entries = entries;
    index->count = count;
    return MM_OK;
}

void
mm_symindex_free(mm_symindex *index)
{
    free(index->entries);
    free(index->reach);
    memset(index, 0, sizeof(*index));
}

/* Whether a is to be preferred to b, both holding the address. */
static int
better(const mm_symaddr *a, const mm_symaddr *b)
{
    uint32_t ag = a->flags & MM_SYMADDR_GLOBAL,
             bg = b->flags & MM_SYMADDR_GLOBAL;
    uint32_t af = a->flags & MM_SYMADDR_FUNCTION,
             bf = b->flags & MM_SYMADDR_FUNCTION;
    uint64_t asize = a->end - a->start, bsize = b->end - b->start;

    if (ag != bg) {
        return ag != 0;
    }
    if (af != bf) {
        return af != 0;
    }
    if ((a->flags & MM_SYMADDR_SIZED) && asize != bsize) {
        return asize < bsize;
    }
    return a->id < b->id;
}

const mm_symaddr *
mm_symindex_find(const mm_symindex *index, uint64_t address)
{
    const mm_symaddr *best = NULL;
    size_t lo = 0, hi = index->count, last;

    /* The last entry that starts at or before address. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (index->entries[mid].start <= address) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    if (lo == 0) {
        return NULL;
    }
    last = lo - 1;
    for (size_t i = last + 1, walked = 0;
         i-- > 0 && index->reach[i] > address && walked < MM_SYMINDEX_WALK;
         walked++) {
        const mm_symaddr *e = &index->entries[i];
        if ((e->flags & MM_SYMADDR_SIZED) && address < e->end &&
            (best == NULL || better(e, best))) {
            best = e;
        }
    }
    if (best != NULL) {
        return best;
    }
    /* No sized symbol holds it: one of no size that starts where the
     * nearest one before it does, within its section.  (The next start is
     * above address: the binary search says so.) */
    for (size_t i = last + 1, walked = 0;
         i-- > 0 && index->entries[i].start == index->entries[last].start &&
         walked < MM_SYMINDEX_WALK;
         walked++) {
        const mm_symaddr *e = &index->entries[i];
        if ((e->flags & (MM_SYMADDR_SIZED | MM_SYMADDR_SPAN)) ==
                MM_SYMADDR_SPAN &&
            address < e->end && (best == NULL || better(e, best))) {
            best = e;
        }
    }
    return best;
}
