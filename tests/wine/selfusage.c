/* The backend's usage figures on a layout whose residency is known: the
 * program makes it, then lists itself (the working set of the calling
 * process is the one Wine gives), printing
 *   ready reserve=ADDR shared=ADDR page=SIZE
 * and then "start end rss pss shared_clean private_clean private_dirty
 * anonymous" (hex addresses, decimal bytes) for each region of the two
 * allocations. */
#include "core/mm.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <windows.h>

int
main(void)
{
    SYSTEM_INFO info;
    mm_target target;
    mm_list list;
    mm_err err;
    char *reserve, *shared;
    HANDLE section;
    size_t page;

    GetSystemInfo(&info);
    page = info.dwPageSize;
    /* 16 pages committed, the first 8 written: 8 resident. */
    reserve = VirtualAlloc(NULL, 1 << 20, MEM_RESERVE, PAGE_NOACCESS);
    VirtualAlloc(reserve, 16 * page, MEM_COMMIT, PAGE_READWRITE);
    memset(reserve, 1, 8 * page);
    /* 16 pages of paging-file backed shared memory, the first written. */
    section = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0,
                                 (DWORD)(16 * page), NULL);
    shared = MapViewOfFile(section, FILE_MAP_WRITE, 0, 0, 0);
    memset(shared, 2, page);

    mm_target_init(&target, MM_PID_SELF);
    mm_list_init(&list);
    if (mm_regions(&target, MM_REGIONS_USAGE, &list, &err) != MM_OK) {
        printf("failed: %s\n", err.message);
        return 1;
    }
    printf("ready reserve=0x%" PRIxPTR " shared=0x%" PRIxPTR " page=%zu\n",
           (uintptr_t)reserve, (uintptr_t)shared, page);
    for (size_t i = 0; i < list.count; i++) {
        const mm_region *r = &list.regions[i];
        const mm_usage *u;

        if ((r->alloc_base != (uintptr_t)reserve &&
             r->alloc_base != (uintptr_t)shared) ||
            r->usage == 0) {
            continue;
        }
        u = &list.usages[r->usage - 1];
        printf("%" PRIx64 " %" PRIx64 " %" PRIu64 " %" PRIu64 " %" PRIu64
               " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
               r->start, r->end, u->value[MM_USAGE_RSS],
               u->value[MM_USAGE_PSS], u->value[MM_USAGE_SHARED_CLEAN],
               u->value[MM_USAGE_PRIVATE_CLEAN],
               u->value[MM_USAGE_PRIVATE_DIRTY], u->value[MM_USAGE_ANONYMOUS]);
    }
    mm_list_free(&list);
    UnmapViewOfFile(shared);
    CloseHandle(section);
    return 0;
}
