/* A portable Mach-O reader: plain C, no Python, no <mach-o/loader.h>, so
 * that it builds and is tested on every system, Linux included.
 *
 * It reads thin 32- and 64-bit files and fat (universal) files, through the
 * same read callback as the ELF reader (mm_read_fn), so the bytes can come
 * from a file, a buffer, or another process's memory.  Every offset, size
 * and count in the input is treated as hostile: a truncated or corrupt file
 * gives MM_ERR_PARSE with a message, never a crash, an out-of-bounds read,
 * or an unbounded allocation or loop.
 */
#ifndef MM_MACHO_H
#define MM_MACHO_H

#include "core/mm.h"
#include "core/reader.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CPU types of the Mach-O header (mach/machine.h). */
#define MM_MACHO_CPU_X86_64 0x01000007
#define MM_MACHO_CPU_ARM64  0x0100000c
#define MM_MACHO_CPU_ANY    0 /* the first architecture of a fat file */

/* mm_macho_open flags */
enum {
    /* The callback reads the image where it is mapped, at unslid virtual
     * addresses (vmaddr): an image in a process's memory, such as a dylib
     * that lives only in the dyld shared cache.  File offsets in load
     * commands (LC_SYMTAB's symoff and stroff) are turned into addresses
     * through the segment that holds them (__LINKEDIT).  Without this flag
     * the callback reads file offsets. */
    MM_MACHO_MEMORY = 1,
};
/* (In memory the callback's offsets count from the mach_header: an
 * address vmaddr is read at offset vmaddr - text_vmaddr, the vmaddr of the
 * segment the header starts (__TEXT).  So the caller, who knows where dyld
 * put the header (the load address) but not yet the slide, reads at load
 * address + offset: mm_offset_reader does that.  size then bounds those
 * offsets, UINT64_MAX when unknown.  A fat header is refused in memory.) */

typedef struct mm_macho_segment {
    char name[17]; /* NUL-terminated segname */
    uint64_t vmaddr;
    uint64_t vmsize;
    uint64_t fileoff;
    uint64_t filesize;
    uint32_t maxprot; /* VM_PROT_READ 1, WRITE 2, EXECUTE 4 */
    uint32_t initprot;
} mm_macho_segment;

typedef struct mm_macho {
    /* The bytes, and how many the callback can serve (MM_SIZE_UNKNOWN when
     * it cannot say). */
    mm_source source;
    uint64_t base; /* where the chosen architecture's header starts */
    int is64;
    uint32_t cputype;
    uint32_t cpusubtype;
    uint32_t filetype; /* MH_EXECUTE 2, MH_DYLIB 6, MH_DYLINKER 7, ... */
    uint32_t flags;
    mm_macho_segment *segments; /* LC_SEGMENT(_64), in load command order */
    size_t segment_count;
    int has_uuid;
    uint8_t uuid[16]; /* LC_UUID */
    void *internal;   /* the symbol table once loaded, owned */
    /* (Added after the fields above, which callers already use.) */
    int big_endian;      /* a byte-swapped (MH_CIGAM) image, as on PowerPC */
    unsigned flags_open; /* the MM_MACHO_* flags it was opened with */
    uint32_t ncmds;      /* load commands, as in the header */
    uint32_t sizeofcmds;
    uint32_t nfat_arch;   /* archs of the fat file, 0 for a thin one */
    uint64_t slice_size;  /* bytes of the chosen architecture */
    int has_text;         /* text_vmaddr is known */
    uint64_t text_vmaddr; /* where the mach_header is, unslid */
    int has_symtab;       /* LC_SYMTAB, copied from the load command */
    uint32_t symoff;
    uint32_t nsyms;
    uint32_t stroff;
    uint32_t strsize;
    /* Where each section is, by n_sect - 1 (sections are numbered from 1
     * across all segments in load command order; an nlist entry names at
     * most 255): for telling how far a symbol reaches. */
    size_t section_count;
    uint64_t section_addr[255];
    uint64_t section_size[255];
} mm_macho;

typedef struct mm_macho_symbol {
    uint64_t value;  /* n_value: an unslid address */
    uint8_t type;    /* n_type */
    uint8_t section; /* n_sect, 1-based; 0 = NO_SECT */
    uint16_t desc;
} mm_macho_symbol;

/* Reads the header and load commands of the architecture cputype
 * (MM_MACHO_CPU_ANY: the only one, or the first of a fat file).
 * MM_ERR_NOT_FOUND when a fat file has no such architecture; MM_ERR_PARSE
 * for anything that is not a well-formed Mach-O image.  On success
 * mm_macho_close() must be called. */
mm_status mm_macho_open(mm_macho *macho, mm_read_fn read, void *ctx,
                        uint64_t size, uint32_t cputype, unsigned flags,
                        mm_err *err);
/* (MM_ERR_NOT_FOUND too for a thin image of another cputype.  In a fat
 * file the fat_arch records are read up to the chosen one, each of which
 * must lie within the file, and only the chosen slice is read after: a
 * broken other slice does not matter.) */
void mm_macho_close(mm_macho *macho);

/* The segment with that name ("__TEXT"), or NULL. */
const mm_macho_segment *mm_macho_segment_named(const mm_macho *macho,
                                               const char *name);

/* Looks up a defined external or local symbol by its exact name in the
 * LC_SYMTAB nlist table (C names carry a leading underscore: "_malloc").
 * Stabs (n_type & N_STAB) and undefined symbols are skipped.  MM_OK with
 * *out filled, MM_ERR_NOT_FOUND, or MM_ERR_PARSE for a corrupt table. */
mm_status mm_macho_find_symbol(mm_macho *macho, const char *name,
                               mm_macho_symbol *out, mm_err *err);
/* (Defined means N_SECT or N_ABS: N_UNDF (undefined, or common), N_INDR
 * and N_PBUD are skipped too.  Of several with the name, an external one
 * (N_EXT) wins over a private external one, which wins over a local one.
 * A name outside the string table is an error only when no sound entry
 * has the name.  The table is read on first use and kept until
 * mm_macho_close, a corrupt one with its error.) */

/* ---- additions ---- */

/* The slide of an image whose mach_header a loader put at load_address:
 * load_address - text_vmaddr (modulo 2**64, so an image loaded below its
 * preferred address has a "negative" slide); 0 on success, -1 when the
 * image has no segment that maps its header. */
int mm_macho_slide(const mm_macho *macho, uint64_t load_address,
                   uint64_t *slide);
/* (text_vmaddr is the vmaddr of the segment named __TEXT, as dyld's
 * getSlide() takes it, else of the first segment that maps file offset 0
 * with file bytes.  __PAGEZERO maps none, so it is never the one.) */

/* The address (unslid) of a file offset of the image, through the segment
 * whose file bytes hold all of [fileoff, fileoff + len); 0 on success. */
int mm_macho_fileoff_to_vmaddr(const mm_macho *macho, uint64_t fileoff,
                               uint64_t len, uint64_t *vmaddr);

/* The number of entries in the LC_SYMTAB table, reading it on first use:
 * MM_OK, MM_ERR_NOT_FOUND when there is no LC_SYMTAB, MM_ERR_PARSE. */
mm_status mm_macho_symbol_count(mm_macho *macho, size_t *count, mm_err *err);

/* Entry index of the table: MM_OK with *name (NUL-terminated, valid until
 * mm_macho_close) and *out for a defined symbol (N_SECT or N_ABS),
 * MM_ERR_NOT_FOUND for a stab, an undefined, common or indirect one,
 * MM_ERR_PARSE for a name outside the string table, MM_ERR_ARGUMENT for an
 * index past the end. */
mm_status mm_macho_symbol_at(mm_macho *macho, size_t index, const char **name,
                             mm_macho_symbol *out, mm_err *err);

/* One architecture of a fat file, as its fat_arch says. */
typedef struct mm_macho_fat_arch {
    uint32_t cputype;
    uint32_t cpusubtype;
    uint64_t offset;
    uint64_t size;
    uint32_t align; /* a power of 2 */
} mm_macho_fat_arch;

/* The architectures of a fat file: up to cap of them into out, and their
 * number into *count.  MM_ERR_NOT_FOUND for a thin file (nothing else
 * checked), MM_ERR_PARSE for a corrupt fat header. */
mm_status mm_macho_fat_archs(mm_read_fn read, void *ctx, uint64_t size,
                             mm_macho_fat_arch *out, size_t cap, size_t *count,
                             mm_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MM_MACHO_H */
