/* An index of symbols by address, for the question a profiler asks a
 * thousand times a second: which symbol holds this address?
 *
 * A format reader (ELF, Mach-O) gives it one record per symbol that holds
 * code or data: where it starts, where it ends, and how it ranks against
 * another that holds the same address.  The index sorts them once (in
 * pieces, asking the source's cancelled callback as it goes) and answers
 * each question with a binary search and a short bounded walk back, so
 * neither a hostile table nor a hostile question costs more than a fixed
 * amount per address.  Plain C, no Python.
 */
#ifndef MM_SYMINDEX_H
#define MM_SYMINDEX_H

#include "core/mm.h"
#include "core/reader.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* mm_symaddr flags */
enum {
    /* It has a size: it holds [start, end).  Without one it holds the
     * addresses from start up to the next symbol's start, and never past
     * end (the end of the section or segment that holds it), but only when
     * it is MM_SYMADDR_SPAN too. */
    MM_SYMADDR_SIZED = 1,
    MM_SYMADDR_SPAN = 2,     /* a symbol of no size that may hold code */
    MM_SYMADDR_GLOBAL = 4,   /* global or weak: preferred over a local one */
    MM_SYMADDR_FUNCTION = 8, /* code: preferred over data or no type */
};

typedef struct mm_symaddr {
    uint64_t start;
    uint64_t end;   /* see MM_SYMADDR_SIZED; >= start */
    uint32_t id;    /* the format's own index of the symbol */
    uint32_t flags; /* MM_SYMADDR_* */
} mm_symaddr;

typedef struct mm_symindex {
    mm_symaddr *entries; /* by start, then by id */
    size_t count;
    /* reach[i]: the highest end of the sized entries 0..i, so that a walk
     * back from an address stops where nothing before can hold it. */
    uint64_t *reach;
} mm_symindex;

/* The most entries one question walks back over: sized symbols that nest
 * or overlap are few in real files (an assembler function with a size
 * that spans its local labels), so this is exact for them and a fixed cost
 * for a table made to overlap everywhere. */
#define MM_SYMINDEX_WALK 1024

/* Builds the index from count records (entries, a malloc'd array that the
 * index takes, also on failure).  source's cancelled callback is asked as
 * it sorts (MM_ERR_CANCELLED).  MM_ERR_NOMEM, else MM_OK. */
mm_status mm_symindex_build(mm_symindex *index, mm_symaddr *entries,
                            size_t count, const mm_source *source,
                            mm_err *err);
void mm_symindex_free(mm_symindex *index);

/* The entry that holds address, or NULL.  Of the sized ones that hold it:
 * a global over a local one, then a function over anything else, then the
 * smallest, then the lowest id (the first in the table).  When none does,
 * the best (by the same order) of the MM_SYMADDR_SPAN ones that start where
 * the nearest symbol before address starts, when address is below its
 * end. */
const mm_symaddr *mm_symindex_find(const mm_symindex *index, uint64_t address);

#ifdef __cplusplus
}
#endif

#endif /* MM_SYMINDEX_H */
