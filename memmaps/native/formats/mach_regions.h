/* The portable half of the macOS backend: turning what xnu says about a
 * region into an mm_region, with no Mach header in sight.
 *
 * mm_macos.c reads the target with mach_vm_region_recurse() and copies each
 * vm_region_submap_info_64 into the mirror below; everything after that is
 * here, so that it compiles and is tested on every system (tests/
 * test_darwin.py feeds recorded records through tools/darwinrecords.c).
 *
 * What a macOS region becomes:
 *
 *   perms       r/w/x from the current protection (VM_PROT_READ 1,
 *               VM_PROT_WRITE 2, VM_PROT_EXECUTE 4, as MM_PROT_* are);
 *               "s" when the share mode says the memory is shared with
 *               another mapping right now (SM_SHARED, SM_TRUESHARED,
 *               SM_SHARED_ALIASED), "p" otherwise.  This is the kernel's
 *               current view, not MAP_SHARED: a MAP_SHARED mapping that no
 *               one else maps yet is SM_PRIVATE, so "p".
 *   max_perms   the maximum protection.
 *   share_mode  vmmap's word for the SM_* value (mm_share_mode_name()).
 *   tag         vmmap's name for the user tag (mm_darwin_tag_name()).
 *   offset      the offset into the backing file; 0 for anonymous memory
 *               (mm_darwin_finish() clears it for everything not a file).
 *   kind        the first that applies:
 *                 guard   no access at all (---): stack guards, malloc
 *                         guard pages, reserved address space;
 *                 special a submap that was not descended into (only the
 *                         depth-0 fallback listing has them: the shared
 *                         region holding the dyld shared cache);
 *                 stack   user tag VM_MEMORY_STACK (30);
 *                 heap    one of libmalloc's tags (MALLOC, MALLOC_SMALL,
 *                         MALLOC_LARGE, MALLOC_HUGE, SBRK, REALLOC,
 *                         MALLOC_TINY, MALLOC_LARGE_REUSABLE/REUSED,
 *                         MALLOC_NANO, MALLOC_MEDIUM, MALLOC_PROB_GUARD):
 *                         what Linux calls the heap is malloc's memory, and
 *                         on macOS that is these regions; tag says which;
 *                 file    backed by a file: the record says an external
 *                         pager backs it, or the backend found its path
 *                         (mm_darwin_set_path());
 *                 shmem   shared (as for "s" above) and not a file;
 *                 anon    anything else.
 *   usage       with want_usage: size; rss = pages_resident pages; swap =
 *               pages_swapped_out pages (compressed or swapped: macOS
 *               counts both there); lazy_free = pages_reusable pages
 *               (MADV_FREE_REUSABLE memory); private_dirty or shared_dirty
 *               = pages_dirtied pages by share mode (shared modes as for
 *               "s", every other one private: the dirty pages of a COW
 *               region are the copies this process made), the other of the
 *               two 0; kernel_page_size = the page size the counts are in.
 */
#ifndef MM_DARWIN_H
#define MM_DARWIN_H

#include "core/mm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* xnu's osfmk/mach/vm_region.h. */
enum {
    MM_SM_COW = 1,
    MM_SM_PRIVATE = 2,
    MM_SM_EMPTY = 3,
    MM_SM_SHARED = 4,
    MM_SM_TRUESHARED = 5,
    MM_SM_PRIVATE_ALIASED = 6,
    MM_SM_SHARED_ALIASED = 7,
    MM_SM_LARGE_PAGE = 8,
};

/* xnu's osfmk/mach/vm_statistics.h: the tags the conversion looks at. */
enum {
    MM_VM_MEMORY_STACK = 30,
};

/* The fields of xnu's struct vm_region_submap_info_64 that the conversion
 * needs, with portable types.  mm_macos.c copies them one by one, so the
 * layout here is ours, not the kernel's. */
typedef struct mm_darwin_submap_info {
    uint32_t protection;     /* VM_PROT_*: 1 read, 2 write, 4 execute */
    uint32_t max_protection; /* the most protection may be raised to */
    uint32_t inheritance;    /* VM_INHERIT_* */
    uint64_t offset;         /* into the backing object or submap */
    uint32_t user_tag;       /* VM_MEMORY_*, 0 for none */
    uint32_t pages_resident;
    uint32_t pages_shared_now_private;
    uint32_t pages_swapped_out;
    uint32_t pages_dirtied;
    uint32_t ref_count;
    uint16_t shadow_depth;
    uint8_t external_pager; /* the object (or its shadow) is file-backed */
    uint8_t share_mode;     /* SM_* */
    uint8_t is_submap;
    uint32_t object_id;
    /* MM_DARWIN_NOT_REPORTED where the source has no such count
     * (proc_pidinfo's region info): lazy_free is then None, not 0. */
    uint32_t pages_reusable;
} mm_darwin_submap_info;

#define MM_DARWIN_NOT_REPORTED UINT32_MAX

/* vmmap's name for a share mode: "COW", "PRV", "NUL", "ALI", "SHM", "ZER",
 * "S/A", "LPG"; NULL for 0 or a value not known here.  A region's
 * share_mode is this string. */
const char *mm_share_mode_name(uint8_t share_mode);

/* vmmap's name for a user tag ("MALLOC_TINY", "Stack", "IOKit", "dyld
 * private memory", "Memory Tag 250" ...), a static string; NULL for 0 (no
 * tag) and for values above 255, which no user tag has. */
const char *mm_darwin_tag_name(uint32_t user_tag);

/* Appends the region [start, start + size) that info describes (see the
 * top of this file for how), found at submap depth `depth` (0 in the task's
 * own map).  page_size is the page size of the target's map, which the page
 * counts are in.  With want_usage the region gets an mm_usage too.  Returns
 * 0, or -1 when out of memory (the list is then unchanged). */
int mm_darwin_add_region(mm_list *out, uint64_t start, uint64_t size,
                         uint32_t depth, const mm_darwin_submap_info *info,
                         uint64_t page_size, int want_usage);

/* Names the region at index with the path of the file it maps, and makes it
 * a "file".  dev is a Darwin dev_t (major in the top 8 bits, minor in the low
 * 24); inode its inode number.  0, or -1 when out of memory. */
int mm_darwin_set_path(mm_list *list, size_t index, const char *path,
                       size_t len, uint32_t dev, uint64_t inode);

/* Marks a listing as the one made without the task port: proc_pidinfo()
 * walks depth 0 only, so the shared region (the dyld shared cache) is one
 * "special" submap region instead of its libraries' pieces.  refusal says
 * why the port was refused (mach_error_string() and the code).  0, or -1
 * when out of memory. */
int mm_darwin_mark_depth0(mm_list *list, long pid, const char *refusal,
                          unsigned refusal_code);

/* Once every region is in and named: clears the offset of whatever is not
 * a file (the offset into an anonymous VM object means nothing to a
 * reader, and Linux shows 0 there too) and sorts out overlaps. */
void mm_darwin_finish(mm_list *list);

/* Replaces a listing made with usage by one region over its whole range,
 * named "[rollup]" as Linux's summed fallback is, whose usage holds the sum
 * of the regions' figures (size included: the virtual size).  With
 * phys_footprint non-NULL, the task's physical footprint (what Activity
 * Monitor and vmmap's summary call the memory a process uses) is kept as
 * the extra figure "phys_footprint" in bytes.  An empty listing stays
 * empty.  MM_OK, or MM_ERR_NOMEM with err filled. */
mm_status mm_darwin_total(mm_list *list, const uint64_t *phys_footprint,
                          mm_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MM_DARWIN_H */
