/* The names of the kinds and usage figures, as memmaps.region.KINDS and
 * memmaps.Usage give them: one list for the binding and the drivers. */
#include "core/mm.h"

#include <stddef.h>

static const char *const kind_names[MM_KIND_COUNT] = {
    [MM_KIND_FILE] = "file",         [MM_KIND_ANON] = "anon",
    [MM_KIND_HEAP] = "heap",         [MM_KIND_STACK] = "stack",
    [MM_KIND_VDSO] = "vdso",         [MM_KIND_VVAR] = "vvar",
    [MM_KIND_VSYSCALL] = "vsyscall", [MM_KIND_SHMEM] = "shmem",
    [MM_KIND_MEMFD] = "memfd",       [MM_KIND_SYSV] = "sysv",
    [MM_KIND_HUGETLB] = "hugetlb",   [MM_KIND_GUARD] = "guard",
    [MM_KIND_SPECIAL] = "special",
};

static const char *const usage_field_names[MM_USAGE_FIELDS] = {
    [MM_USAGE_SIZE] = "size",
    [MM_USAGE_KERNEL_PAGE_SIZE] = "kernel_page_size",
    [MM_USAGE_MMU_PAGE_SIZE] = "mmu_page_size",
    [MM_USAGE_RSS] = "rss",
    [MM_USAGE_PSS] = "pss",
    [MM_USAGE_PSS_DIRTY] = "pss_dirty",
    [MM_USAGE_PSS_ANON] = "pss_anon",
    [MM_USAGE_PSS_FILE] = "pss_file",
    [MM_USAGE_PSS_SHMEM] = "pss_shmem",
    [MM_USAGE_SHARED_CLEAN] = "shared_clean",
    [MM_USAGE_SHARED_DIRTY] = "shared_dirty",
    [MM_USAGE_PRIVATE_CLEAN] = "private_clean",
    [MM_USAGE_PRIVATE_DIRTY] = "private_dirty",
    [MM_USAGE_REFERENCED] = "referenced",
    [MM_USAGE_ANONYMOUS] = "anonymous",
    [MM_USAGE_KSM] = "ksm",
    [MM_USAGE_LAZY_FREE] = "lazy_free",
    [MM_USAGE_ANON_HUGE_PAGES] = "anon_huge_pages",
    [MM_USAGE_SHMEM_PMD_MAPPED] = "shmem_pmd_mapped",
    [MM_USAGE_FILE_PMD_MAPPED] = "file_pmd_mapped",
    [MM_USAGE_SHARED_HUGETLB] = "shared_hugetlb",
    [MM_USAGE_PRIVATE_HUGETLB] = "private_hugetlb",
    [MM_USAGE_SWAP] = "swap",
    [MM_USAGE_SWAP_PSS] = "swap_pss",
    [MM_USAGE_LOCKED] = "locked",
    [MM_USAGE_THP_ELIGIBLE] = "thp_eligible",
    [MM_USAGE_PROTECTION_KEY] = "protection_key",
};

const char *
mm_kind_name(mm_kind kind)
{
    return (unsigned)kind < MM_KIND_COUNT ? kind_names[kind] : NULL;
}

const char *
mm_usage_field_name(mm_usage_field field)
{
    return (unsigned)field < MM_USAGE_FIELDS ? usage_field_names[field] : NULL;
}
