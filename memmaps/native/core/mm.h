/* The native core of memmaps: plain C, no Python.
 *
 * The backend interface that every operating system implements
 * (backends/<os>.c), and the shared pieces every backend uses: the region
 * list, usage records, images, errors.  The file formats a backend reads
 * (maps text, ELF, Mach-O, dyld's records, ...) are in formats/, each
 * behind its own header.  Everything here can be compiled, fuzzed and run
 * under valgrind without an interpreter, and cross-compiled for the other
 * systems.
 */
#ifndef MM_H
#define MM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The printf the messages are formatted with.  MinGW's GCC takes "printf"
 * for msvcrt's, which has no %zu; in C99 and later MinGW's headers use
 * their own C99 printf (__USE_MINGW_ANSI_STDIO), which gnu_printf names. */
#if defined(__MINGW32__) && !defined(__clang__)
#define MM_PRINTF_STYLE gnu_printf
#else
#define MM_PRINTF_STYLE printf
#endif

/* Protection bits, as in mm_region.prot and mm_region.max_prot. */
enum {
    MM_PROT_READ = 1,
    MM_PROT_WRITE = 2,
    MM_PROT_EXEC = 4,
    /* The mapping is shared (MAP_SHARED, or "s" in the maps text).  Kept
     * beside the protection so that prot indexes a table of 16 strings. */
    MM_PROT_SHARED = 8,
};

/* max_prot when the system does not report one. */
#define MM_PROT_UNKNOWN 0xff

/* mm_region.flags */
enum {
    MM_REGION_NAMED = 1,   /* name_off/name_len hold a name */
    MM_REGION_DELETED = 2, /* the backing object was unlinked */
    /* The text had \012 in the name, which is either an escaped newline or
     * those four characters: only the kernel can say which. */
    MM_REGION_UNESCAPED = 4,
    MM_REGION_DETAIL = 8, /* detail_off/detail_len hold a label */
};

/* What the memory is, one short word each in the Python layer.  The order is
 * part of the interface with _core.c, which holds the matching strings. */
typedef enum mm_kind {
    MM_KIND_FILE = 0,
    MM_KIND_ANON,
    MM_KIND_HEAP,
    MM_KIND_STACK,
    MM_KIND_VDSO,
    MM_KIND_VVAR,
    MM_KIND_VSYSCALL,
    MM_KIND_SHMEM,
    MM_KIND_MEMFD,
    MM_KIND_SYSV,
    MM_KIND_HUGETLB,
    MM_KIND_GUARD,
    MM_KIND_SPECIAL,
    MM_KIND_COUNT
} mm_kind;

/* The usage figures of a region, in bytes, as Linux's smaps names them (the
 * other systems fill what they can).  The order is part of the interface
 * with _core.c and memmaps/usage.py. */
typedef enum mm_usage_field {
    MM_USAGE_SIZE = 0,
    MM_USAGE_KERNEL_PAGE_SIZE,
    MM_USAGE_MMU_PAGE_SIZE,
    MM_USAGE_RSS,
    MM_USAGE_PSS,
    MM_USAGE_PSS_DIRTY,
    MM_USAGE_PSS_ANON,
    MM_USAGE_PSS_FILE,
    MM_USAGE_PSS_SHMEM,
    MM_USAGE_SHARED_CLEAN,
    MM_USAGE_SHARED_DIRTY,
    MM_USAGE_PRIVATE_CLEAN,
    MM_USAGE_PRIVATE_DIRTY,
    MM_USAGE_REFERENCED,
    MM_USAGE_ANONYMOUS,
    MM_USAGE_KSM,
    MM_USAGE_LAZY_FREE,
    MM_USAGE_ANON_HUGE_PAGES,
    MM_USAGE_SHMEM_PMD_MAPPED,
    MM_USAGE_FILE_PMD_MAPPED,
    MM_USAGE_SHARED_HUGETLB,
    MM_USAGE_PRIVATE_HUGETLB,
    MM_USAGE_SWAP,
    MM_USAGE_SWAP_PSS,
    MM_USAGE_LOCKED,
    MM_USAGE_THP_ELIGIBLE,   /* 0 or 1, not bytes */
    MM_USAGE_PROTECTION_KEY, /* a key number, not bytes */
    MM_USAGE_FIELDS
} mm_usage_field;

/* mm_usage.flags */
enum {
    MM_USAGE_HAS_VMFLAGS = 1, /* vmflags_off/len hold the VmFlags codes */
    MM_USAGE_HAS_EXTRA = 2,   /* the block has lines of keys not known here */
};

typedef struct mm_usage {
    uint64_t value[MM_USAGE_FIELDS];
    uint32_t present; /* bit 1 << field for each figure the source gave */
    uint32_t vmflags_len;
    size_t vmflags_off; /* into mm_list.bytes: "rd wr mr mw me ac" */
    size_t block_off;   /* into mm_list.bytes: the region's field lines, */
    size_t block_len;   /* where the unknown ones are found again */
    uint8_t flags;      /* MM_USAGE_* */
} mm_usage;

typedef struct mm_region {
    uint64_t start; /* [start, end) */
    uint64_t end;
    uint64_t offset;
    uint64_t inode;
    uint32_t dev_major;
    uint32_t dev_minor;
    size_t name_off; /* into mm_list.bytes; valid when MM_REGION_NAMED */
    uint32_t name_len;
    uint8_t prot;     /* MM_PROT_* */
    uint8_t max_prot; /* MM_PROT_* or MM_PROT_UNKNOWN */
    uint8_t flags;    /* MM_REGION_* */
    uint8_t kind;     /* mm_kind */
    uint32_t usage;   /* 1 + index into mm_list.usages; 0: no usage */
    /* What the OS says the memory is for (macOS: the user tag's name, as
     * vmmap prints it; Windows: image/mapped/private), a static string, or
     * NULL where the OS says nothing. */
    const char *tag;
    /* How the OS says the memory is shared, in its own words (macOS: vmmap's
     * share mode, "COW", "PRV" ...), a static string, or NULL. */
    const char *share_mode;
    /* Where the allocation this region is a piece of begins (Windows: the
     * AllocationBase of VirtualAlloc or MapViewOfFile, which one region
     * can be split from by VirtualProtect), so the pieces of one
     * allocation can be put together again; 0 where the OS has no such
     * notion. */
    uint64_t alloc_base;
    /* A label a person wants where the OS tells it cheaply ("heap
     * 0x1a0000", "TEB tid 4242", "__TEXT libsystem_c.dylib"), into
     * mm_list.bytes; valid when MM_REGION_DETAIL. */
    size_t detail_off;
    uint32_t detail_len;
} mm_region;

/* A growable array of regions plus one byte buffer that holds their names.
 * On Linux the buffer is the maps text itself and names point into it, so a
 * listing copies no name. */
typedef struct mm_list {
    mm_region *regions;
    size_t count;
    size_t capacity;
    char *bytes;
    size_t bytes_len;
    size_t bytes_cap;
    mm_usage *usages; /* only for listings that asked for usage */
    size_t usage_count;
    size_t usage_capacity;
    /* NULL, or why the listing is incomplete although the call succeeded
     * (macOS without the task port: no submaps), a sentence for a person;
     * owned, set with mm_list_set_partial(). */
    char *partial;
} mm_list;

typedef enum mm_status {
    MM_OK = 0,
    MM_ERR_NOMEM,
    MM_ERR_NO_PROCESS,
    MM_ERR_ZOMBIE,
    MM_ERR_ACCESS,
    MM_ERR_PARSE,
    MM_ERR_UNSUPPORTED,
    MM_ERR_ARGUMENT,
    MM_ERR_OS,
    MM_ERR_NOT_FOUND, /* a lookup that found nothing: not an error of the input
                       */
    MM_ERR_CANCELLED, /* the caller asked for the work to stop (its source's
                         cancelled callback said so) */
} mm_status;

/* What went wrong, for the caller to turn into an exception.  message is a
 * complete sentence for a person; the other fields are for programs. */
typedef struct mm_err {
    mm_status status;
    int os_errno;    /* errno of the failing call, 0 when none */
    size_t lineno;   /* MM_ERR_PARSE: 1-based line number */
    size_t line_off; /* MM_ERR_PARSE: the line, as a slice of the input */
    size_t line_len;
    char message[512];
} mm_err;

/* Asked now and then during a long call (between reads of a big file,
 * between slices of its parse): nonzero stops the call, which then returns
 * MM_ERR_CANCELLED with nothing in its result.  The Python binding runs the
 * signal handlers here (Ctrl-C); it decides itself how often it really
 * looks. */
typedef int (*mm_cancel_check)(void *ctx);

/* The process to read.  A negative pid (MM_PID_SELF) means the calling
 * process, which needs no permission and cannot vanish; it is read through
 * the reader's own /proc/self whatever procfs says, since a procfs of
 * another pid namespace has no "self" to name the reader by.
 *
 * procfs (Linux) is the root of the procfs a pid is looked up in: "" for
 * "/proc", else an absolute path of at most MM_PROCFS_MAX - 1 bytes with no
 * trailing slash (mm_target_set_procfs checks it).  A pid is a number in
 * that procfs's pid namespace. */
#define MM_PID_SELF   (-1)
#define MM_PROCFS_MAX 256
typedef struct mm_target {
    long pid;
    char procfs[MM_PROCFS_MAX];
    /* Asked now and then during a long call (mm_target_cancelled); NULL,
     * as mm_target_init sets it: the call runs to its end. */
    mm_cancel_check cancelled;
    void *cancel_ctx;
} mm_target;

/* A target of pid reading "/proc", never stopped. */
void mm_target_init(mm_target *target, long pid);
/* Sets the procfs root (len bytes, not NUL-terminated) after checking that
 * it is an absolute path, shorter than MM_PROCFS_MAX, with no NUL; trailing
 * slashes are dropped.  Returns 0, or -1 with a sentence in why (at least
 * 128 bytes) and the target unchanged. */
int mm_target_set_procfs(mm_target *target, const char *path, size_t len,
                         char *why, size_t why_size);

/* Whether the target's caller wants the call stopped. */
static inline int
mm_target_cancelled(const mm_target *target)
{
    return target->cancelled != NULL && target->cancelled(target->cancel_ctx);
}

/* ---- images: the executables and libraries a target has loaded ---- */

/* The file format of an image. */
typedef enum mm_format {
    MM_FORMAT_ELF = 1,
    MM_FORMAT_MACHO = 2,
    MM_FORMAT_PE = 3,
} mm_format;

/* mm_image.flags */
enum {
    /* The file was unlinked, or its path now leads to another file. */
    MM_IMAGE_DELETED = 1,
    /* The headers were read from the target's memory: no file could be
     * opened for it (or it has none: the vdso, a dylib of the shared
     * cache).  source_len is then 0. */
    MM_IMAGE_FROM_MEMORY = 2,
    /* dev_major, dev_minor and inode are the mapped file's identity. */
    MM_IMAGE_HAS_FILE_ID = 4,
    /* The dynamic loader itself (ld.so, dyld). */
    MM_IMAGE_LOADER = 8,
    /* The main executable. */
    MM_IMAGE_MAIN = 16,
    /* Mapped by the kernel with no file (the vdso). */
    MM_IMAGE_KERNEL = 32,
};

/* The longest build-id kept: GNU build-ids are 20 bytes (SHA-1) or 16,
 * Mach-O's LC_UUID 16, a PE CodeView record's GUID and age 20. */
#define MM_BUILD_ID_MAX 64

#define MM_LOAD_ORDER_UNKNOWN UINT32_MAX

typedef struct mm_image {
    uint64_t base;   /* the lowest address the image maps */
    uint64_t end;    /* the end of its highest segment, page-aligned */
    uint64_t bias;   /* runtime address = address in the file + bias,
                        modulo 2**64 (the slide, on macOS) */
    uint64_t header; /* where its header (ELF header, mach_header) is */
    uint64_t inode;  /* with MM_IMAGE_HAS_FILE_ID */
    uint32_t dev_major;
    uint32_t dev_minor;
    size_t path_off;   /* into mm_image_list.bytes: the path as the OS names */
    uint32_t path_len; /* the image ("[vdso]" for the vdso) */
    /* Where the headers were read from, for reading the rest (symbol
     * tables) from the same file later: a path in the reader's file system
     * (/proc/PID/map_files/..., /proc/PID/root/...), into bytes; 0 long
     * with MM_IMAGE_FROM_MEMORY. */
    size_t source_off;
    uint32_t source_len;
    uint32_t flags; /* MM_IMAGE_* */
    /* Its place in the loader's own list (dyld's image array), which is the
     * order symbols are searched in; MM_LOAD_ORDER_UNKNOWN where the
     * backend does not read that list. */
    uint32_t load_order;
    uint8_t format; /* mm_format */
    uint8_t build_id_len;
    uint8_t build_id[MM_BUILD_ID_MAX];
} mm_image;

/* One mapped segment of an image: ELF's PT_LOADs, Mach-O's segments, PE's
 * sections, so that regions can be labelled with the segment they hold. */
typedef struct mm_image_segment {
    uint64_t start; /* runtime addresses, [start, end) */
    uint64_t end;
    size_t image;  /* index into mm_image_list.images */
    char name[17]; /* "__TEXT", ".text", or "" where the format has none */
    uint8_t prot;  /* MM_PROT_* the file asks for */
} mm_image_segment;

typedef struct mm_image_list {
    mm_image *images; /* in address order of base */
    size_t count;
    size_t capacity;
    mm_image_segment *segments; /* by image, then in address order */
    size_t segment_count;
    size_t segment_capacity;
    char *bytes; /* paths and sources */
    size_t bytes_len;
    size_t bytes_cap;
    /* The listing the images were found in, where the backend found them
     * in one (Linux: the maps it grouped), with listed set; where it did
     * not (macOS: dyld's list), listed is 0 and a caller that wants the
     * regions lists them itself. */
    mm_list regions;
    int listed;
} mm_image_list;

void mm_image_list_init(mm_image_list *list);
void mm_image_list_free(mm_image_list *list);
void mm_image_list_clear(mm_image_list *list);
/* A new zeroed image at the end, or NULL when out of memory. */
mm_image *mm_image_list_push(mm_image_list *list);
/* A new zeroed segment of image `image`, or NULL when out of memory. */
mm_image_segment *mm_image_list_add_segment(mm_image_list *list, size_t image);
/* Copies a path (or a source) into bytes and sets *off and *len; 0 on
 * success, -1 when out of memory. */
int mm_image_list_add_text(mm_image_list *list, const char *text, size_t len,
                           size_t *off, uint32_t *len_out);
/* Sorts the images by base (their segments follow them); 0 on success,
 * -1 when out of memory (the list is then as it was). */
int mm_image_list_sort(mm_image_list *list);

/* ---- the backend interface: one implementation per operating system ---- */

/* mm_regions flags (core/switches.h has more, for tests only) */
enum {
    /* Fill usage figures too.  On Linux this reads smaps, which walks the
     * target's page tables under its mmap lock: only when asked. */
    MM_REGIONS_USAGE = 2,
};

/* All regions of the target, sorted by start and never overlapping.  On
 * failure returns the status, fills err and leaves out empty. */
mm_status mm_regions(const mm_target *target, unsigned flags, mm_list *out,
                     mm_err *err);

/* The region that contains addr, as a list of one region, or of none when
 * addr is not mapped.  Where the system allows, without listing them all. */
mm_status mm_region_at(const mm_target *target, uint64_t addr, unsigned flags,
                       mm_list *out, mm_err *err);

/* Copies len bytes of the target's memory at addr into buf.  *got says how
 * many were read; fewer than len means the range runs into unmapped or
 * unreadable memory.  Reading another process's memory needs more than its
 * map does (ptrace attach rights), so errors name the rule that refused. */
mm_status mm_read_memory(const mm_target *target, uint64_t addr, void *buf,
                         size_t len, size_t *got, mm_err *err);

/* The whole process's usage figures, as one region (on Linux the range of
 * smaps_rollup's [rollup] line) whose usage holds the totals. */
mm_status mm_process_usage(const mm_target *target, unsigned flags,
                           mm_list *out, mm_err *err);

/* mm_region_at by listing every region and keeping the one that holds
 * addr: what a backend does where the OS has no one-address lookup, and
 * what tests compare the lookup against. */
mm_status mm_region_at_from_listing(const mm_target *target, uint64_t addr,
                                    mm_list *out, mm_err *err);

/* Every image the target has loaded (executable, libraries, loader, vdso),
 * sorted by base, each with its load bias, build-id and mapped segments.
 * Images whose headers cannot be read (a mapped file that is not an
 * executable format, a torn header) are left out, never guessed at. */
mm_status mm_images(const mm_target *target, unsigned flags,
                    mm_image_list *out, mm_err *err);

/* Which backend this build has: "linux", "macos", ... or "unsupported". */
const char *mm_backend_name(void);

/* ---- the region list ---- */

void mm_list_init(mm_list *list);
void mm_list_free(mm_list *list);
void mm_list_clear(mm_list *list);
/* Room for at least count more regions; 0 on success. */
int mm_list_reserve(mm_list *list, size_t count);
/* A new zeroed region at the end, or NULL when out of memory. */
mm_region *mm_list_push(mm_list *list);
/* Room for at least extra more bytes; 0 on success. */
int mm_list_reserve_bytes(mm_list *list, size_t extra);
/* A new zeroed usage record for the region at index, or NULL when out of
 * memory. */
mm_usage *mm_list_add_usage(mm_list *list, size_t index);
/* Adds the figures of one usage record to a total: a figure is in the total
 * when every record added had it.  first says total is still empty. */
void mm_usage_add(mm_usage *total, const mm_usage *usage, int first);
/* Copies a region's label into the byte buffer and points it at it
 * (detail_off/detail_len, MM_REGION_DETAIL); 0 on success. */
int mm_list_set_detail(mm_list *list, size_t index, const char *detail,
                       size_t len);
/* Copies a name into the byte buffer and points region at it; 0 on
 * success.  region must belong to list. */
int mm_list_set_name(mm_list *list, size_t index, const char *name,
                     size_t len);
/* Says why the listing is incomplete (printf-formatted); 0 on success. */
int mm_list_set_partial(mm_list *list, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(MM_PRINTF_STYLE, 2, 3)))
#endif
    ;
/* Moves the bytes the regions and usage records point at (names, VmFlags,
 * the blocks with unknown keys) into a buffer just big enough for them,
 * sharing one copy between neighbours with the same text, when that frees
 * at least half of the buffer: a listing kept for later then holds its
 * names, not the whole maps or smaps text it was parsed from.  Also gives
 * back the unused room of the region array.  0, or -1 when out of memory
 * (the list is as it was). */
int mm_list_compact(mm_list *list);
/* Makes the list sorted and free of overlaps, in place.  A listing read in
 * several pieces while the target changed its mappings can repeat a region
 * or show an older and a newer version of one; the later entry is the newer
 * view, so it wins and what it covers is cut from the entries before it. */
void mm_list_normalize(mm_list *list);

/* ---- names ---- */

/* The word memmaps.region.KINDS has for a kind ("file", "heap" ...), NULL
 * for a value not in the enum. */
const char *mm_kind_name(mm_kind kind);
/* The name memmaps.Usage gives a usage figure ("rss", "swap_pss" ...), NULL
 * for a value not in the enum. */
const char *mm_usage_field_name(mm_usage_field field);

/* ---- errors ---- */

/* Sets err and returns status; the message is printf-formatted. */
mm_status mm_err_set(mm_err *err, mm_status status, int os_errno,
                     const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(MM_PRINTF_STYLE, 4, 5)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* MM_H */
