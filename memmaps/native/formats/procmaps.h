/* The /proc/PID/maps and smaps text of Linux: a portable parser, so that
 * saved text is read the same on every system, and the kernel's naming
 * rules for the kinds of memory.
 */
#ifndef MM_PROCMAPS_H
#define MM_PROCMAPS_H

#include "core/mm.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The usage field an smaps key names, MM_SMAPS_VMFLAGS, or -1 for a key not
 * known here.  *in_kb says whether its figure is printed in kB. */
#define MM_SMAPS_VMFLAGS (-2)
int mm_smaps_field(const char *key, size_t len, int *in_kb);

/* Parses maps or smaps text (or smaps_rollup) exactly as the kernel prints
 * it: mm_parse_maps_with() with no flags. */
mm_status mm_parse_maps(const char *text, size_t len, mm_list *out,
                        mm_err *err);

/* The flags of mm_parse_maps_with(). */
enum {
    /* Text that went through a file: a "\r\n" ends a line too.  The kernel
     * never writes one, but a name may end in '\r', so only saved text
     * reads it as a line end. */
    MM_PARSE_CRLF = 1,
    /* Refuse what one read of the kernel never prints: a region line that
     * starts below the end of the one before it (out of order or
     * overlapping) or that covers no address at all. */
    MM_PARSE_STRICT = 2,
};

/* Parses maps or smaps text (or smaps_rollup).  The region names point into
 * list->bytes, so the text is first copied there unless it already is
 * list->bytes (the live reader reads straight into it).  Names are unescaped
 * in place.  Returns MM_OK or MM_ERR_PARSE / MM_ERR_NOMEM with err filled
 * (line_off/line_len then index the text as given; the line without its
 * line end, however long it is). */
mm_status mm_parse_maps_with(const char *text, size_t len, unsigned flags,
                             mm_list *out, mm_err *err);

/* The kind of a region from its name and attributes, the way the Linux
 * kernel names things.  name may be NULL for a nameless region. */
mm_kind mm_classify_linux(const char *name, size_t len, uint64_t inode,
                          uint8_t prot, int deleted);

/* Length of the " (deleted)" suffix that d_path() appends to unlinked files.
 */
#define MM_DELETED_SUFFIX     " (deleted)"
#define MM_DELETED_SUFFIX_LEN 10

/* One line of an smaps block whose key mm_smaps_field() does not know,
 * taken apart: the key, and the value as a figure where it is one. */
typedef struct mm_smaps_extra {
    const char *key;
    size_t key_len;
    const char *text; /* the value, without surrounding blanks */
    size_t text_len;
    int is_number; /* value holds the figure: "N kB" in bytes, or a bare N */
    uint64_t value;
} mm_smaps_extra;

/* The next unknown line of an smaps block from *pos (which starts at the
 * block and is advanced past the line), 1 with *out filled, or 0 at end. */
int mm_smaps_next_extra(const char **pos, const char *end,
                        mm_smaps_extra *out);

#ifdef __cplusplus
}
#endif

#endif /* MM_PROCMAPS_H */
