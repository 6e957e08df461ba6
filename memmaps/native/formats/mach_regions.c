/* The portable half of the macOS backend (see mach_regions.h): names for share
 * modes and user tags, and the conversion of one vm_region_submap_info_64
 * record into an mm_region.  No Mach header: compiled and tested everywhere.
 */
#include "formats/mach_regions.h"

#include <stdio.h>
#include <string.h>

/* vmmap's three letters for xnu's share modes (osfmk/mach/vm_region.h:
 * SM_COW 1 ... SM_LARGE_PAGE 8), as its "SM=" column prints them.  vmmap's
 * man page explains COW, PRV, NUL, ALI and SHM ("Aliased (ALI) and shared
 * (SHM) memory are shared between processes") but not which SM_* each is;
 * Apple's own gcore (system_cmds, gcore.tproj/utils.c, str_shared(), marked
 * "c.f. VMUVMRegion.m", the Symbolication class vmmap prints with) spells the
 * whole table out, and it is the one here: SM_SHARED is ALI, SM_TRUESHARED
 * SHM, SM_PRIVATE_ALIASED ZER, SM_SHARED_ALIASED S/A, SM_LARGE_PAGE LPG.
 * So ZER has nothing to do with zero-fill: it is private memory that this
 * one process maps through more than one map entry (xnu's
 * vm_map_region_walk() says SM_PRIVATE_ALIASED when every reference to the
 * object is from this map), which is what mprotect() of part of a region
 * leaves behind; captured vmmap output shows it on just such regions (the
 * read-only first page of malloc's zone structure, "MALLOC metadata ...
 * r--/rwx SM=ZER", and V8's partly re-protected JIT pages, "Memory Tag 255
 * ... rwx/rwx SM=ZER"). */
static const char *const share_mode_names[] = {
    [MM_SM_COW] = "COW",
    [MM_SM_PRIVATE] = "PRV",
    [MM_SM_EMPTY] = "NUL",
    [MM_SM_SHARED] = "ALI",
    [MM_SM_TRUESHARED] = "SHM",
    [MM_SM_PRIVATE_ALIASED] = "ZER",
    [MM_SM_SHARED_ALIASED] = "S/A",
    [MM_SM_LARGE_PAGE] = "LPG",
};

const char *
mm_share_mode_name(uint8_t share_mode)
{
    if (share_mode >= sizeof(share_mode_names) / sizeof(share_mode_names[0])) {
        return NULL;
    }
    return share_mode_names[share_mode]; /* NULL for 0 */
}

/* vmmap's region type for each user tag of xnu's osfmk/mach/vm_statistics.h
 * (VM_MEMORY_MALLOC 1 ... VM_MEMORY_APPLICATION_SPECIFIC_16 255; the numbers
 * are checked against the SDK's header by tests/native/test_darwin.py).
 * vmmap's names come from Symbolication's
 * VMURegionTypeDescriptionForTagShareProt- AndPager(), closed source; the
 * table follows Apple's gcore, which copies it (str_tag() in system_cmds
 * gcore.tproj/utils.c), corrected where vmmap output and Symbolication's own
 * strings show otherwise: "Kernel Alloc Once" (73; gcore: "OS Alloc Once"),
 * "IOSurface" (88; gcore: "IO Surface"), "IOAccelerator" (100; gcore: "IO
 * Accelerator"), "SQLite page cache" (62; gcore: "SQlite page cache").  Tags
 * gcore does not name either (VM_RECLAIM, LIBCHANNEL, COREGRAPHICS_XALLOC,
 * COMPOSITOR_SERVICES, DEBUG, NEURAL) keep the VM_MEMORY_ suffix.  A tag with
 * no name is "Memory Tag N", as vmmap prints the application-specific ones
 * ("Memory Tag 253", "Memory Tag 255" in Chromium's and V8's vmmap output). */
static const char *const tag_names[256] = {
    [1] = "MALLOC",
    [2] = "MALLOC_SMALL",
    [3] = "MALLOC_LARGE",
    [4] = "MALLOC_HUGE",
    [5] = "SBRK",
    [6] = "MALLOC_REALLOC",
    [7] = "MALLOC_TINY",
    [8] = "MALLOC_LARGE_REUSABLE",
    [9] = "MALLOC_LARGE", /* MALLOC_LARGE_REUSED: vmmap does not tell */
    [10] = "Performance tool data",
    [11] = "MALLOC_NANO",
    [12] = "MALLOC_MEDIUM",
    [13] = "MALLOC_PROB_GUARD",
    [20] = "Mach message",
    [21] = "IOKit",
    [22] = "VM_RECLAIM",
    [30] = "Stack",
    [31] = "Guard",
    [32] = "shared pmap",
    [33] = "dylib",
    [34] = "ObjC dispatching code",
    [35] = "unshared pmap",
    [36] = "LIBCHANNEL",
    [40] = "AppKit",
    [41] = "Foundation",
    [42] = "CoreGraphics",
    [43] = "CoreServices", /* also VM_MEMORY_CARBON */
    [44] = "Java",
    [45] = "CoreData",
    [46] = "CoreData Object IDs",
    [50] = "ATS (font support)",
    [51] = "CoreAnimation", /* VM_MEMORY_LAYERKIT */
    [52] = "CG image",
    [53] = "WebKit Malloc", /* VM_MEMORY_TCMALLOC */
    [54] = "CG raster data",
    [55] = "CG shared images",
    [56] = "CG framebuffers",
    [57] = "CG backingstores",
    [58] = "COREGRAPHICS_XALLOC",
    [60] = "dyld private memory",
    [61] = "dyld malloc memory",
    [62] = "SQLite page cache",
    [63] = "WebAssembly memory", /* VM_MEMORY_JAVASCRIPT_CORE */
    [64] = "JS JIT generated code",
    [65] = "JS VM register file",
    [66] = "OpenGL GLSL",
    [67] = "OpenCL",
    [68] = "CoreImage",
    [69] = "WebCore purgable data",
    [70] = "Image IO",
    [71] = "CoreProfile",
    [72] = "Assets Library",
    [73] = "Kernel Alloc Once", /* VM_MEMORY_OS_ALLOC_ONCE */
    [74] = "Dispatch continuations",
    [75] = "Accelerate framework",
    [76] = "CoreUI image data",
    [77] = "CoreUI image file",
    [78] = "Activity Tracing", /* VM_MEMORY_GENEALOGY */
    [79] = "RawCamera",
    [80] = "Process Corpse Info",
    [81] = "Apple System Log",
    [82] = "Swift runtime",
    [83] = "Swift metadata",
    [84] = "DHMM",
    [85] = "DFR",
    [86] = "SceneKit",
    [87] = "Skywalk Networking",
    [88] = "IOSurface",
    [89] = "libnetwork",
    [90] = "Audio",
    [91] = "Video Bitstream",
    [92] = "CoreMedia XPC",
    [93] = "CoreMedia RPC",
    [94] = "CoreMedia Memory Pool",
    [95] = "CoreMedia Readcache",
    [96] = "CoreMedia Crabs",
    [97] = "Quicklook Thumbnails",
    [98] = "Accounts",
    [99] = "Sanitizer",
    [100] = "IOAccelerator",
    [101] = "CoreMedia Regwarp",
    [102] = "Embedded Acoustic Recognition Decoder",
    [103] = "CoreUI Cached Image Data",
    [104] = "ColorSync",
    [105] = "BT Info",
    [106] = "CoreMedia HLS",
    [107] = "COMPOSITOR_SERVICES",
    [108] = "DEBUG",
    [109] = "NEURAL",
    [230] = "Rosetta",
    [231] = "Rosetta Thread Context",
    [232] = "Rosetta Indirect Branch Map",
    [233] = "Rosetta Return Stack",
    [234] = "Rosetta Executable Heap",
    [235] = "Rosetta User LDT",
    [236] = "Rosetta Arena",
    [239] = "Rosetta 10",
};

/* "Memory Tag 0" ... "Memory Tag 255", built by the preprocessor so that
 * every tag has a static name. */
#define MM_TAG_STR(n) "Memory Tag " #n
#define MM_TAG_ROW(d)                                                         \
    MM_TAG_STR(d##0), MM_TAG_STR(d##1), MM_TAG_STR(d##2), MM_TAG_STR(d##3),   \
        MM_TAG_STR(d##4), MM_TAG_STR(d##5), MM_TAG_STR(d##6),                 \
        MM_TAG_STR(d##7), MM_TAG_STR(d##8), MM_TAG_STR(d##9)

static const char *const numbered_tags[] = {
    MM_TAG_ROW(),    MM_TAG_ROW(1),   MM_TAG_ROW(2),   MM_TAG_ROW(3),
    MM_TAG_ROW(4),   MM_TAG_ROW(5),   MM_TAG_ROW(6),   MM_TAG_ROW(7),
    MM_TAG_ROW(8),   MM_TAG_ROW(9),   MM_TAG_ROW(10),  MM_TAG_ROW(11),
    MM_TAG_ROW(12),  MM_TAG_ROW(13),  MM_TAG_ROW(14),  MM_TAG_ROW(15),
    MM_TAG_ROW(16),  MM_TAG_ROW(17),  MM_TAG_ROW(18),  MM_TAG_ROW(19),
    MM_TAG_ROW(20),  MM_TAG_ROW(21),  MM_TAG_ROW(22),  MM_TAG_ROW(23),
    MM_TAG_ROW(24),  MM_TAG_STR(250), MM_TAG_STR(251), MM_TAG_STR(252),
    MM_TAG_STR(253), MM_TAG_STR(254), MM_TAG_STR(255),
};
_Static_assert(sizeof(numbered_tags) / sizeof(numbered_tags[0]) == 256,
               "one name for each user tag 0 to 255");

const char *
mm_darwin_tag_name(uint32_t user_tag)
{
    if (user_tag == 0 || user_tag > 255) {
        return NULL;
    }
    return tag_names[user_tag] ? tag_names[user_tag] : numbered_tags[user_tag];
}

/* Whether other mappings share the memory, by share mode. */
static int
is_shared(uint8_t share_mode)
{
    return share_mode == MM_SM_SHARED || share_mode == MM_SM_TRUESHARED ||
           share_mode == MM_SM_SHARED_ALIASED;
}

/* libmalloc's tags: VM_MEMORY_MALLOC 1 to MALLOC_LARGE_REUSED 9 and
 * MALLOC_NANO 11 to MALLOC_PROB_GUARD 13 (10 is ANALYSIS_TOOL). */
static int
is_malloc_tag(uint32_t tag)
{
    return (tag >= 1 && tag <= 9) || (tag >= 11 && tag <= 13);
}

static mm_kind
classify(const mm_darwin_submap_info *info, uint8_t prot)
{
    if ((prot & (MM_PROT_READ | MM_PROT_WRITE | MM_PROT_EXEC)) == 0) {
        return MM_KIND_GUARD;
    }
    if (info->is_submap) {
        return MM_KIND_SPECIAL;
    }
    if (info->user_tag == MM_VM_MEMORY_STACK) {
        return MM_KIND_STACK;
    }
    if (is_malloc_tag(info->user_tag)) {
        return MM_KIND_HEAP;
    }
    if (info->external_pager) {
        return MM_KIND_FILE;
    }
    if (is_shared(info->share_mode)) {
        return MM_KIND_SHMEM;
    }
    return MM_KIND_ANON;
}

/* pages * page_size, saturating instead of wrapping. */
static uint64_t
pages_to_bytes(uint64_t pages, uint64_t page_size)
{
    if (page_size != 0 && pages > UINT64_MAX / page_size) {
        return UINT64_MAX;
    }
    return pages * page_size;
}

static void
set_figure(mm_usage *usage, mm_usage_field field, uint64_t value)
{
    usage->value[field] = value;
    usage->present |= 1u << field;
}

int
mm_darwin_add_region(mm_list *out, uint64_t start, uint64_t size,
                     uint32_t depth, const mm_darwin_submap_info *info,
                     uint64_t page_size, int want_usage)
{
    mm_region *region;
    uint8_t prot;
    size_t index;

    /* A region found inside a submap (the shared region, at depth 1) is
     * described the same way as one in the task's own map: depth changes
     * nothing in the conversion today.  It is part of the interface so
     * that the records carry it (tests/fixtures/darwin/ has it) and a later
     * rule can use it without a change of signature. */
    (void)depth;
    if (size > UINT64_MAX - start) {
        size = UINT64_MAX - start; /* a corrupt record: clip, never wrap */
    }
    /* VM_PROT_READ, _WRITE and _EXECUTE are our MM_PROT_* bits. */
    prot = (uint8_t)(info->protection & 7);
    if (is_shared(info->share_mode)) {
        prot |= MM_PROT_SHARED;
    }
    region = mm_list_push(out);
    if (region == NULL) {
        return -1;
    }
    index = out->count - 1;
    region->start = start;
    region->end = start + size;
    region->offset = info->offset;
    region->prot = prot;
    region->max_prot = (uint8_t)(info->max_protection & 7);
    region->share_mode = mm_share_mode_name(info->share_mode);
    region->tag = mm_darwin_tag_name(info->user_tag);
    region->kind = (uint8_t)classify(info, prot);
    if (want_usage) {
        uint64_t dirty = pages_to_bytes(info->pages_dirtied, page_size);
        mm_usage *usage = mm_list_add_usage(out, index);

        if (usage == NULL) {
            out->count--;
            return -1;
        }
        set_figure(usage, MM_USAGE_SIZE, size);
        set_figure(usage, MM_USAGE_KERNEL_PAGE_SIZE, page_size);
        set_figure(usage, MM_USAGE_RSS,
                   pages_to_bytes(info->pages_resident, page_size));
        set_figure(usage, MM_USAGE_SWAP,
                   pages_to_bytes(info->pages_swapped_out, page_size));
        if (info->pages_reusable != MM_DARWIN_NOT_REPORTED) {
            set_figure(usage, MM_USAGE_LAZY_FREE,
                       pages_to_bytes(info->pages_reusable, page_size));
        }
        /* Both dirty figures are present, one of them 0, so that a total
         * over shared and private regions keeps both. */
        set_figure(usage, MM_USAGE_SHARED_DIRTY,
                   is_shared(info->share_mode) ? dirty : 0);
        set_figure(usage, MM_USAGE_PRIVATE_DIRTY,
                   is_shared(info->share_mode) ? 0 : dirty);
    }
    return 0;
}

int
mm_darwin_set_path(mm_list *list, size_t index, const char *path, size_t len,
                   uint32_t dev, uint64_t inode)
{
    mm_region *region;

    if (mm_list_set_name(list, index, path, len) != 0) {
        return -1;
    }
    region = &list->regions[index];
    /* Darwin's major() and minor(): 8 bits above 24. */
    region->dev_major = (dev >> 24) & 0xff;
    region->dev_minor = dev & 0xffffff;
    region->inode = inode;
    /* A file's no-access gap is still the file, as on Linux. */
    region->kind = MM_KIND_FILE;
    return 0;
}

void
mm_darwin_finish(mm_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        if (list->regions[i].kind != MM_KIND_FILE) {
            list->regions[i].offset = 0;
        }
    }
    mm_list_normalize(list);
}

mm_status
mm_darwin_total(mm_list *list, const uint64_t *phys_footprint, mm_err *err)
{
    static const mm_usage none;
    mm_usage total;
    uint64_t start, end;
    mm_region *rollup;
    mm_usage *usage;
    char extra[64];
    int extra_len = 0;

    if (list->count == 0) {
        return MM_OK;
    }
    memset(&total, 0, sizeof(total));
    /* The listing is sorted (mm_darwin_finish()). */
    start = list->regions[0].start;
    end = list->regions[list->count - 1].end;
    /* A region without usage makes every figure unknown (mm_usage_add()
     * keeps only what every record had): no partial sum passes as whole. */
    for (size_t i = 0; i < list->count; i++) {
        const mm_region *region = &list->regions[i];
        mm_usage_add(&total,
                     region->usage ? &list->usages[region->usage - 1] : &none,
                     i == 0);
    }
    if (phys_footprint != NULL) {
        extra_len = snprintf(extra, sizeof(extra), "phys_footprint: %llu\n",
                             (unsigned long long)*phys_footprint);
    }
    list->count = 0;
    list->usage_count = 0;
    list->bytes_len = 0;
    rollup = mm_list_push(list);
    if (rollup == NULL) {
        goto nomem;
    }
    rollup->start = start;
    rollup->end = end;
    rollup->kind = MM_KIND_SPECIAL;
    if (mm_list_set_name(list, 0, "[rollup]", 8) != 0 ||
        (usage = mm_list_add_usage(list, 0)) == NULL) {
        goto nomem;
    }
    *usage = total;
    if (extra_len > 0) {
        if (mm_list_reserve_bytes(list, (size_t)extra_len) != 0) {
            goto nomem;
        }
        usage->block_off = list->bytes_len;
        usage->block_len = (size_t)extra_len;
        usage->flags |= MM_USAGE_HAS_EXTRA;
        memcpy(list->bytes + list->bytes_len, extra, (size_t)extra_len);
        list->bytes_len += (size_t)extra_len;
    }
    return MM_OK;

nomem:
    list->count = 0;
    return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
}

int
mm_darwin_mark_depth0(mm_list *list, long pid, const char *refusal,
                      unsigned refusal_code)
{
    return mm_list_set_partial(
        list,
        "process %ld's task port was refused (%s, 0x%x), so its regions come "
        "from proc_pidinfo(), which does not look inside submaps: the shared "
        "region (the dyld shared cache) is one region",
        pid, refusal, refusal_code);
}
