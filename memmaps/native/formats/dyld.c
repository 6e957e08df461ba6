/* dyld's image list, read from a target's memory (see dyld.h).
 *
 * The layout is that of Apple's <mach-o/dyld_images.h> (dyld, e.g.
 * dyld-750.6 include/mach-o/dyld_images.h; the kernel keeps the same
 * records as user32_/user64_dyld_all_image_infos in xnu, for stackshots):
 *
 *   uint32_t version;                       1: Mac OS X 10.4 and 10.5
 *   uint32_t infoArrayCount;
 *   const struct dyld_image_info *infoArray;  NULL while dyld changes it
 *   dyld_image_notifier notification;
 *   bool processDetachedFromSharedRegion;
 *   bool libSystemInitialized;              version 2+ (10.6)
 *   const struct mach_header *dyldImageLoadAddress;   version 2+
 *   void *jitInfo;                          version 3+
 *   const char *dyldVersion;                version 5+
 *   const char *errorMessage;
 *   uintptr_t terminationFlags;
 *   void *coreSymbolicationShmPage;         version 6+
 *   uintptr_t systemOrderFlag;              version 7+
 *   uintptr_t uuidArrayCount;               version 8+ (10.7)
 *   const struct dyld_uuid_info *uuidArray;
 *   struct dyld_all_image_infos *dyldAllImageInfosAddress;   version 9+
 *   uintptr_t initialImageCount;            version 10+
 *   uintptr_t errorKind;                    version 11+
 *   const char *errorClientOfDylibPath, *errorTargetDylibPath,
 *       *errorSymbol;
 *   uintptr_t sharedCacheSlide;             version 12+ (10.7, iOS 4.3)
 *   uint8_t sharedCacheUUID[16];            version 13+ (10.9, iOS 7)
 *   uintptr_t sharedCacheBaseAddress;       version 15+ (10.12, iOS 10)
 *   uint64_t infoArrayChangeTimestamp;      (15+, xnu's
 *   const char *dyldPath;                    TIMESTAMP_MINIMUM_VERSION 15)
 *   mach_port_t notifyPorts[8]; ...         16+: compact info, platform
 *
 * with the alignment of the C ABI: the two bools take the bytes before
 * dyldImageLoadAddress, which is pointer-aligned.  So with pointers of p
 * bytes, every offset below is a sum of fixed and p-sized steps, the same
 * for 32-bit (i386, armv7: 64-bit fields at multiples of 8 either way) and
 * 64-bit targets.  Each dyld_image_info is three pointer-sized words:
 * imageLoadAddress, imageFilePath, imageFileModDate.
 *
 * Only the fields the version has are read, so a version 1 record at the
 * end of a mapping still reads.  Apple's targets are all little-endian
 * (PowerPC Macs ran version 1 only, and are not read here).
 */
#include "formats/dyld.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Offsets into dyld_all_image_infos for pointers of p bytes. */
#define OFF_INFO_ARRAY      8
#define OFF_DYLD_ADDRESS(p) (8 + 3 * (p))
#define OFF_CACHE_SLIDE(p)  (8 + 18 * (p))
#define OFF_CACHE_UUID(p)   (8 + 19 * (p))
#define OFF_CACHE_BASE(p)   (24 + 19 * (p))
#define OFF_TIMESTAMP(p)    (24 + 20 * (p))
#define OFF_DYLD_PATH(p)    (32 + 20 * (p))
#define INFOS_MAX_SIZE      (32 + 21 * 8)
/* Image records decoded per read. */
#define CHUNK 64
/* Paths are read in pieces that end on a multiple of this, so that a read
 * never crosses a page boundary that the string itself does not cross
 * (pages are 4 or 16 KiB: multiples of it). */
#define PATH_PIECE 256

/* The fields of dyld_all_image_infos used here. */
typedef struct infos {
    uint32_t version;
    uint32_t count;
    uint64_t info_array;
    uint64_t dyld_load_address;
    uint64_t shared_cache_slide;
    uint8_t shared_cache_uuid[16];
    uint64_t shared_cache_base;
    uint64_t timestamp;
    uint64_t dyld_path;
    unsigned present;
} infos;

static uint64_t
le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 |
           p[0];
}

/* A pointer-sized word of the target. */
static uint64_t
word(const uint8_t *p, int pointer_size)
{
    return pointer_size == 8 ? le64(p) : le32(p);
}

/* The bytes of the record that hold the fields a version has. */
static size_t
infos_size(uint32_t version, int p)
{
    if (version >= 15) {
        return (size_t)OFF_DYLD_PATH(p) + (size_t)p;
    }
    if (version >= 13) {
        return (size_t)OFF_CACHE_UUID(p) + 16;
    }
    if (version >= 12) {
        return (size_t)OFF_CACHE_SLIDE(p) + (size_t)p;
    }
    if (version >= 2) {
        return (size_t)OFF_DYLD_ADDRESS(p) + (size_t)p;
    }
    return (size_t)OFF_INFO_ARRAY + (size_t)p;
}

/* Reads len bytes at addr unless the range wraps; 0 on success. */
static int
read_addr(mm_read_fn read, void *ctx, uint64_t addr, void *buf, size_t len)
{
    if (len > 0 && addr > UINT64_MAX - (len - 1)) {
        return -1;
    }
    return read(ctx, addr, buf, len);
}

static mm_status
read_infos(mm_read_fn read, void *ctx, uint64_t addr, int p, infos *h,
           mm_err *err)
{
    uint8_t raw[INFOS_MAX_SIZE];
    size_t size;

    memset(h, 0, sizeof(*h));
    if (read_addr(read, ctx, addr, raw, 4) != 0) {
        return mm_err_set(
            err, MM_ERR_PARSE, 0,
            "dyld_all_image_infos at 0x%" PRIx64 " cannot be read", addr);
    }
    h->version = le32(raw);
    if (h->version == 0) {
        /* dyld's record is initialized data: 0 is not dyld's. */
        return mm_err_set(
            err, MM_ERR_PARSE, 0,
            "dyld_all_image_infos at 0x%" PRIx64 " has version 0", addr);
    }
    size = infos_size(h->version, p);
    if (read_addr(read, ctx, addr, raw, size) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "dyld_all_image_infos version %" PRIu32
                          " (%zu bytes at 0x%" PRIx64 ") cannot be read",
                          h->version, size, addr);
    }
    if (le32(raw) != h->version) {
        /* Changed between the two reads: dyld does not do that, but a
         * hostile or torn view must not make the size wrong. */
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "the version of dyld_all_image_infos changed "
                          "while it was read");
    }
    h->count = le32(raw + 4);
    h->info_array = word(raw + OFF_INFO_ARRAY, p);
    if (h->version >= 2) {
        h->dyld_load_address = word(raw + OFF_DYLD_ADDRESS(p), p);
        h->present |= MM_DYLD_HAS_DYLD_ADDRESS;
    }
    if (h->version >= 12) {
        h->shared_cache_slide = word(raw + OFF_CACHE_SLIDE(p), p);
        h->present |= MM_DYLD_HAS_SHARED_CACHE_SLIDE;
    }
    if (h->version >= 13) {
        memcpy(h->shared_cache_uuid, raw + OFF_CACHE_UUID(p), 16);
        h->present |= MM_DYLD_HAS_SHARED_CACHE_UUID;
    }
    if (h->version >= 15) {
        h->shared_cache_base = word(raw + OFF_CACHE_BASE(p), p);
        h->timestamp = le64(raw + OFF_TIMESTAMP(p));
        h->dyld_path = word(raw + OFF_DYLD_PATH(p), p);
        h->present |= MM_DYLD_HAS_SHARED_CACHE_BASE | MM_DYLD_HAS_TIMESTAMP |
                      MM_DYLD_HAS_DYLD_PATH;
    }
    return MM_OK;
}

/* Whether two reads of the record describe the same list. */
static int
same_list(const infos *a, const infos *b)
{
    return a->version == b->version && a->count == b->count &&
           a->info_array == b->info_array && a->timestamp == b->timestamp &&
           a->dyld_load_address == b->dyld_load_address &&
           a->dyld_path == b->dyld_path;
}

/* ---- the list ---- */

void
mm_dyld_list_init(mm_dyld_list *list)
{
    memset(list, 0, sizeof(*list));
}

void
mm_dyld_list_free(mm_dyld_list *list)
{
    free(list->images);
    free(list->bytes);
    mm_dyld_list_init(list);
}

/* Drops what the list holds but keeps its buffers. */
static void
clear_list(mm_dyld_list *list)
{
    mm_dyld_image *images = list->images;
    char *bytes = list->bytes;
    size_t capacity = list->capacity, bytes_cap = list->bytes_cap;

    memset(list, 0, sizeof(*list));
    list->images = images;
    list->capacity = capacity;
    list->bytes = bytes;
    list->bytes_cap = bytes_cap;
}

/* Room for extra more path bytes; 0 on success, -1 past MM_DYLD_BYTES_CAP,
 * -2 out of memory. */
static int
reserve_bytes(mm_dyld_list *list, size_t extra)
{
    size_t cap = list->bytes_cap;
    char *grown;

    if (extra > MM_DYLD_BYTES_CAP - list->bytes_len) {
        return -1;
    }
    if (list->bytes_len + extra <= cap) {
        return 0;
    }
    while (cap < list->bytes_len + extra) {
        cap = cap < 4096 ? 4096 : cap * 2;
    }
    grown = realloc(list->bytes, cap);
    if (grown == NULL) {
        return -2;
    }
    list->bytes = grown;
    list->bytes_cap = cap;
    return 0;
}

/* Reads the NUL-terminated string at addr into the list's bytes and points
 * image at it.  what names the string in messages. */
static mm_status
read_path(mm_read_fn read, void *ctx, uint64_t addr, mm_dyld_list *out,
          mm_dyld_image *image, const char *what, size_t index, mm_err *err)
{
    size_t start = out->bytes_len, total = 0;

    while (total < MM_DYLD_PATH_MAX - 1) {
        size_t piece = PATH_PIECE - (size_t)(addr % PATH_PIECE);
        char *at;
        const char *nul;
        int room;

        if (piece > MM_DYLD_PATH_MAX - 1 - total) {
            piece = MM_DYLD_PATH_MAX - 1 - total;
        }
        /* One more byte for the NUL written after a path cut by the cap. */
        room = reserve_bytes(out, total + piece + 1);
        if (room == -2) {
            return mm_err_set(err, MM_ERR_NOMEM, 0,
                              "out of memory for the image paths");
        }
        if (room != 0) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "the image paths take more than %zu bytes",
                              (size_t)MM_DYLD_BYTES_CAP);
        }
        at = out->bytes + start + total;
        if (read_addr(read, ctx, addr, at, piece) != 0) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "the path of %s %zu at 0x%" PRIx64
                              " cannot be read",
                              what, index, addr);
        }
        nul = memchr(at, '\0', piece);
        if (nul != NULL) {
            image->path_off = start;
            image->path_len = total + (size_t)(nul - at);
            image->path_address = addr - total;
            image->flags |= MM_DYLD_IMAGE_HAS_PATH;
            out->bytes_len = start + image->path_len + 1;
            return MM_OK;
        }
        total += piece;
        addr += piece; /* cannot wrap: read_addr checked it */
    }
    return mm_err_set(err, MM_ERR_PARSE, 0,
                      "the path of %s %zu has no NUL within %d bytes", what,
                      index, MM_DYLD_PATH_MAX);
}

/* Room for count more images; 0 on success. */
static int
reserve_images(mm_dyld_list *list, size_t count)
{
    mm_dyld_image *grown;

    if (count <= list->capacity - list->count) {
        return 0;
    }
    grown = realloc(list->images, (list->count + count) * sizeof(*grown));
    if (grown == NULL) {
        return -1;
    }
    list->images = grown;
    list->capacity = list->count + count;
    return 0;
}

/* Reads the infoArray records and their paths into out. */
static mm_status
read_array(mm_read_fn read, void *ctx, const infos *h, int p,
           mm_dyld_list *out, mm_err *err)
{
    size_t entsize = 3 * (size_t)p;
    uint8_t raw[CHUNK * 24];
    mm_status status;

    /* One more for dyld. */
    if (reserve_images(out, (size_t)h->count + 1) != 0) {
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory for %" PRIu32 " images", h->count);
    }
    for (uint32_t i = 0; i < h->count; i += CHUNK) {
        uint32_t n = h->count - i < CHUNK ? h->count - i : CHUNK;
        uint64_t at = h->info_array + (uint64_t)i * entsize;
        /* h->count <= MM_DYLD_MAX_IMAGES: the products cannot wrap. */
        if (at < h->info_array ||
            read_addr(read, ctx, at, raw, n * entsize) != 0) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "infoArray records %" PRIu32 " to %" PRIu32
                              " at 0x%" PRIx64 " cannot be read",
                              i, i + n - 1, at);
        }
        for (uint32_t j = 0; j < n; j++) {
            const uint8_t *e = raw + j * entsize;
            mm_dyld_image *image = &out->images[out->count];
            uint64_t path;

            memset(image, 0, sizeof(*image));
            image->load_address = word(e, p);
            path = word(e + p, p);
            image->mod_date = word(e + 2 * p, p);
            if (path != 0) {
                status = read_path(read, ctx, path, out, image, "image",
                                   (size_t)i + j, err);
                if (status != MM_OK) {
                    return status;
                }
            }
            out->count++;
        }
    }
    return MM_OK;
}

/* Adds dyld itself, from dyldImageLoadAddress and dyldPath. */
static mm_status
add_dyld(mm_read_fn read, void *ctx, const infos *h, mm_dyld_list *out,
         mm_err *err)
{
    mm_dyld_image *image;
    mm_status status;

    if (!(h->present & MM_DYLD_HAS_DYLD_ADDRESS) ||
        h->dyld_load_address == 0) {
        return MM_OK;
    }
    for (size_t i = 0; i < out->count; i++) {
        if (out->images[i].load_address == h->dyld_load_address) {
            out->images[i].flags |= MM_DYLD_IMAGE_IS_DYLD;
            return MM_OK;
        }
    }
    /* read_array reserved the room. */
    image = &out->images[out->count];
    memset(image, 0, sizeof(*image));
    image->load_address = h->dyld_load_address;
    image->flags = MM_DYLD_IMAGE_IS_DYLD;
    if (h->dyld_path != 0) {
        status =
            read_path(read, ctx, h->dyld_path, out, image, "dyld", 0, err);
        if (status != MM_OK) {
            return status;
        }
    }
    out->count++;
    return MM_OK;
}

mm_status
mm_dyld_read_images(mm_read_fn read, void *ctx, uint64_t infos_addr,
                    int pointer_size, mm_dyld_list *out, mm_err *err)
{
    mm_status status;
    infos h, check;

    clear_list(out);
    if (read == NULL || (pointer_size != 4 && pointer_size != 8)) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0,
                          "no read callback, or a pointer size of %d bytes",
                          pointer_size);
    }
    for (unsigned attempt = 1; attempt <= MM_DYLD_ATTEMPTS; attempt++) {
        mm_err list_err;
        mm_status list_status;

        out->attempts = attempt;
        status = read_infos(read, ctx, infos_addr, pointer_size, &h, err);
        if (status != MM_OK) {
            goto error;
        }
        if (h.info_array == 0) {
            /* dyld sets infoArray to NULL while it changes the array and
             * back when done: read again. */
            continue;
        }
        if (h.count > MM_DYLD_MAX_IMAGES) {
            status = mm_err_set(err, MM_ERR_PARSE, 0,
                                "infoArrayCount is %" PRIu32
                                ", more than can be real",
                                h.count);
            goto error;
        }
        out->count = 0;
        out->bytes_len = 0;
        list_status = read_array(read, ctx, &h, pointer_size, out, &list_err);
        if (list_status == MM_OK) {
            list_status = add_dyld(read, ctx, &h, out, &list_err);
        }
        if (list_status == MM_ERR_NOMEM) {
            *err = list_err;
            status = list_status;
            goto error;
        }
        /* Read the record again: if dyld changed the list meanwhile, what
         * was read may mix two lists (or have failed because of that). */
        status = read_infos(read, ctx, infos_addr, pointer_size, &check, err);
        if (status != MM_OK) {
            goto error;
        }
        if (!same_list(&h, &check)) {
            continue;
        }
        if (list_status != MM_OK) {
            *err = list_err;
            status = list_status;
            goto error;
        }
        out->version = h.version;
        out->info_array_count = h.count;
        out->info_array = h.info_array;
        out->dyld_load_address = h.dyld_load_address;
        out->dyld_path_address = h.dyld_path;
        out->shared_cache_slide = h.shared_cache_slide;
        memcpy(out->shared_cache_uuid, h.shared_cache_uuid, 16);
        out->shared_cache_base = h.shared_cache_base;
        out->timestamp = h.timestamp;
        out->present = h.present;
        return MM_OK;
    }
    out->busy = 1;
    status = mm_err_set(err, MM_ERR_PARSE, 0,
                        "dyld is updating its image list (infoArray was "
                        "NULL or changed on each of %d reads)",
                        MM_DYLD_ATTEMPTS);

error:
    out->count = 0;
    out->bytes_len = 0;
    return status;
}

const char *
mm_dyld_image_path(const mm_dyld_list *list, size_t i)
{
    if (i >= list->count ||
        !(list->images[i].flags & MM_DYLD_IMAGE_HAS_PATH)) {
        return NULL;
    }
    return list->bytes + list->images[i].path_off;
}
