/* The images of a Mach-O target, from dyld's list, and the regions named
 * after them: plain C, no Apple headers, so that it builds and is tested on
 * every system (tests/test_macho.py, through tools/machodump.c over a
 * simulated address space).
 *
 * dyld's list (formats/dyld.h) says where each image's mach_header is.  The
 * Mach-O is then read from the target's memory, not from a file: the
 * dylibs of the shared cache have no file of their own.  The slide is the
 * load address minus the __TEXT segment's address, as dyld computes it.
 * The macOS backend reads the target with these; the tests read a
 * simulated one.
 */
#ifndef MM_MACHO_IMAGES_H
#define MM_MACHO_IMAGES_H

#include "core/mm.h"
#include "core/reader.h"
#include "formats/dyld.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends to out (which must have been initialized; what it held is
 * dropped) an image for each entry of dyld's list whose mach_header can be
 * read at its load address through read (absolute addresses of the
 * target): format MM_FORMAT_MACHO, the path from dyld's list or
 * "[image at 0x...]", header = the load address, bias = the slide, its
 * segments (all but __PAGEZERO and those of vmsize 0) at runtime addresses
 * with their initprot, base and end the lowest start and highest end of
 * those, build_id the LC_UUID; flags MM_IMAGE_FROM_MEMORY always,
 * MM_IMAGE_LOADER for dyld (flagged so in its list, or an MH_DYLINKER),
 * MM_IMAGE_MAIN for an MH_EXECUTE.  Sorted by base.
 *
 * An entry whose header is unreadable, torn or not a Mach-O image, that
 * has no segment mapping its header (no slide), or no mapped segment that
 * fits the address space, is left out: dyld lists images while it is still
 * mapping them, and what cannot be read is never guessed at.  At most
 * MM_DYLD_MAX_IMAGES + 1 entries (dyld's cap, and dyld) are looked at.
 * MM_OK, or MM_ERR_NOMEM with err filled and out empty. */
mm_status mm_macho_images(mm_read_fn read, void *ctx, const mm_dyld_list *dyld,
                          mm_image_list *out, mm_err *err);

/* The static string for a well-known Mach-O segment name ("__TEXT",
 * "__DATA_CONST", "__LINKEDIT" ...), or NULL for any other name.
 *
 * Why a table: mm_region.tag is a static string by contract.  Regions are
 * copied between lists with their tag pointer (mm_region_at_from_listing()
 * keeps one region of a listing it then hands on; mm_list_normalize() moves
 * them), and _core.c caches the str of a tag by its address, so a name
 * owned by one list (or in its bytes, which move when they grow) could be
 * read after it is gone.  Every segment a linker or dyld makes has one of
 * these names; a region in a segment of another name gets the image's
 * path but no tag. */
const char *mm_macho_segment_tag(const char *segname);

/* Names the regions after the images' segments, as vmmap labels them: each
 * region of `regions` without a name whose start lies in a segment (the
 * last one starting at or below it, as the segments are sorted by start)
 * gets that image's path, kind MM_KIND_FILE and, when it has no tag, the
 * segment's name as tag (mm_macho_segment_tag()).  Named regions are left
 * as they are.  MM_OK, or MM_ERR_NOMEM with err filled (some regions may
 * be named by then). */
mm_status mm_macho_name_regions(mm_list *regions, const mm_image_list *images,
                                mm_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MM_MACHO_IMAGES_H */
