/* dyld's list of loaded images, read from a target's memory: plain C, no
 * Python, no Apple headers, so that it builds and is tested everywhere.
 *
 * On macOS, task_info(TASK_DYLD_INFO) gives the address of the target's
 * dyld_all_image_infos (all_image_info_addr) and its format (32- or
 * 64-bit pointers).  That record points at an array of dyld_image_info
 * records, one per image: the address of its mach_header, a pointer to its
 * path, its modification date.  This reader follows those pointers through
 * a read callback whose offsets are absolute addresses of the target, so
 * the same code reads a live task (mach_vm_read_overwrite), a core file, or
 * a simulated memory image in the tests.
 *
 * Everything read is hostile: counts and path lengths are capped, every
 * read is bounded, and a list that dyld changes while it is read is read
 * again, a bounded number of times.
 */
#ifndef MM_DYLD_H
#define MM_DYLD_H

#include "core/mm.h"
#include "core/reader.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* More images than any process has (a big application loads a few
 * thousand, most from the shared cache). */
#define MM_DYLD_MAX_IMAGES 65536
/* The longest path read, with its NUL.  macOS's MAXPATHLEN is 1024; dyld
 * builds longer ones from @rpath and friends. */
#define MM_DYLD_PATH_MAX 4096
/* All paths together. */
#define MM_DYLD_BYTES_CAP ((size_t)32 << 20)
/* How many times the records are read while dyld is changing them
 * (infoArray NULL, or a different array, count or timestamp on the read
 * that checks). */
#define MM_DYLD_ATTEMPTS 200

/* mm_dyld_image.flags */
enum {
    MM_DYLD_IMAGE_HAS_PATH = 1, /* path_off/path_len hold its path */
    /* dyld itself: dyldImageLoadAddress, added after the infoArray images
     * unless one of them is already at that address (then flagged). */
    MM_DYLD_IMAGE_IS_DYLD = 2,
};

typedef struct mm_dyld_image {
    uint64_t load_address; /* imageLoadAddress: its mach_header */
    uint64_t path_address; /* imageFilePath in the target; 0 when none */
    uint64_t mod_date;     /* imageFileModDate (a time_t; often 0) */
    size_t path_off;       /* into mm_dyld_list.bytes, NUL-terminated */
    size_t path_len;       /* without the NUL */
    unsigned flags;        /* MM_DYLD_IMAGE_* */
} mm_dyld_image;

/* mm_dyld_list.present: the fields the record's version has. */
enum {
    MM_DYLD_HAS_DYLD_ADDRESS = 1,       /* dyld_load_address, version 2+ */
    MM_DYLD_HAS_SHARED_CACHE_SLIDE = 2, /* version 12+ */
    MM_DYLD_HAS_SHARED_CACHE_UUID = 4,  /* version 13+ */
    MM_DYLD_HAS_SHARED_CACHE_BASE = 8,  /* version 15+ */
    MM_DYLD_HAS_TIMESTAMP = 16,         /* infoArrayChangeTimestamp, 15+ */
    MM_DYLD_HAS_DYLD_PATH = 32,         /* dyld_path_address, 15+ */
};

/* What dyld_all_image_infos says, with the images and their paths.  The
 * field names follow dyld's: version, infoArrayCount, infoArray,
 * dyldImageLoadAddress, sharedCacheSlide, sharedCacheUUID,
 * sharedCacheBaseAddress, infoArrayChangeTimestamp, dyldPath. */
typedef struct mm_dyld_list {
    uint32_t version;
    uint32_t info_array_count;
    uint64_t info_array;
    uint64_t dyld_load_address;
    uint64_t dyld_path_address;
    uint64_t shared_cache_slide;
    uint8_t shared_cache_uuid[16];
    uint64_t shared_cache_base;
    uint64_t timestamp;
    unsigned present; /* MM_DYLD_HAS_* */
    /* The reads of the record it took: 1 when dyld was not changing it.
     * Also set when the reader gives up because dyld kept changing it
     * (busy then is 1): the caller may try again a little later. */
    unsigned attempts;
    int busy;
    /* The info_array_count images of infoArray in its order, then dyld
     * itself when it is not among them. */
    mm_dyld_image *images;
    size_t count;
    size_t capacity;
    char *bytes; /* the paths */
    size_t bytes_len;
    size_t bytes_cap;
} mm_dyld_list;

void mm_dyld_list_init(mm_dyld_list *list);
void mm_dyld_list_free(mm_dyld_list *list);

/* Reads the dyld_all_image_infos at infos_addr of a target whose pointers
 * are pointer_size (4 or 8) bytes, little-endian, and every image record
 * and path it points at, into out (which must have been initialized; what
 * it held is dropped).  read is called with absolute addresses.
 *
 * MM_ERR_PARSE when something cannot be read or is not believable (the
 * message says what), including "dyld is updating its image list" when
 * infoArray stayed NULL (or the list kept changing) over MM_DYLD_ATTEMPTS
 * reads, which sets out->busy.  On failure out holds no images. */
mm_status mm_dyld_read_images(mm_read_fn read, void *ctx, uint64_t infos_addr,
                              int pointer_size, mm_dyld_list *out,
                              mm_err *err);

/* The path of image i, NUL-terminated, or NULL when it has none. */
const char *mm_dyld_image_path(const mm_dyld_list *list, size_t i);

#ifdef __cplusplus
}
#endif

#endif /* MM_DYLD_H */
