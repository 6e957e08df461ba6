/* A portable ELF reader: plain C, no Python, no <elf.h>, so that it builds
 * and behaves the same on every system.
 *
 * It reads 32- and 64-bit, little- and big-endian files through a read
 * callback, so the bytes can come from a file, a buffer, or another process's
 * memory.  Every offset, size and count in the input is treated as hostile:
 * a truncated or corrupt file gives MM_ERR_PARSE with a message, never a
 * crash, an out-of-bounds read, or an unbounded allocation or loop.
 */
#ifndef MM_ELF_H
#define MM_ELF_H

#include "core/mm.h"
#include "core/reader.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A program header. */
typedef struct mm_elf_segment {
    uint32_t type;  /* PT_LOAD = 1, PT_DYNAMIC = 2, PT_NOTE = 4, ... */
    uint32_t flags; /* PF_X = 1, PF_W = 2, PF_R = 4 */
    uint64_t offset;
    uint64_t vaddr;
    uint64_t filesz;
    uint64_t memsz;
    uint64_t align;
} mm_elf_segment;

#define MM_PT_LOAD    1
#define MM_PT_DYNAMIC 2
#define MM_PT_NOTE    4

typedef struct mm_elf {
    /* The bytes, and how many the callback can serve (MM_SIZE_UNKNOWN when
     * it cannot say). */
    mm_source source;
    int is64;
    int big_endian;
    uint16_t type;    /* ET_EXEC = 2, ET_DYN = 3, ... */
    uint16_t machine; /* EM_X86_64 = 62, EM_AARCH64 = 183, ... */
    uint64_t entry;
    mm_elf_segment *segments; /* every program header, in file order */
    size_t segment_count;
    void *internal; /* section headers and symbol tables, owned */
} mm_elf;

typedef struct mm_elf_symbol {
    uint64_t value; /* st_value: a virtual address before the load bias */
    uint64_t size;
    uint8_t type;     /* STT_OBJECT = 1, STT_FUNC = 2, STT_TLS = 6, ... */
    uint8_t binding;  /* STB_LOCAL = 0, STB_GLOBAL = 1, STB_WEAK = 2 */
    uint16_t section; /* st_shndx */
    int from_dynsym;  /* found in .dynsym rather than .symtab */
} mm_elf_symbol;

/* Reads the ELF header and program headers (and, when present and sane, the
 * section headers).  MM_ERR_PARSE for anything that is not a well-formed
 * ELF image.  On success mm_elf_close() must be called. */
mm_status mm_elf_open(mm_elf *elf, mm_read_fn read, void *ctx, uint64_t size,
                      mm_err *err);
void mm_elf_close(mm_elf *elf);

/* mm_elf_open_flags flags */
enum {
    /* Pretend there are no section headers: for an image read from a
     * process's memory, where e_shoff does not point at them, and to test
     * the PT_DYNAMIC path on files. */
    MM_ELF_NO_SECTIONS = 1,
};

/* mm_elf_open with flags (MM_ELF_*). */
mm_status mm_elf_open_flags(mm_elf *elf, mm_read_fn read, void *ctx,
                            uint64_t size, unsigned flags, mm_err *err);

/* mm_elf_open_flags over a whole mm_source: with its backed callback (so
 * that no table is taken from a hole of a sparse file) and its cancelled
 * one (MM_ERR_CANCELLED from any call that reads or indexes a table). */
mm_status mm_elf_open_source(mm_elf *elf, const mm_source *source,
                             unsigned flags, mm_err *err);

/* The number of section headers read, 0 when there are none or they were
 * missing, corrupt or ignored (the image is then used through its program
 * headers alone). */
size_t mm_elf_section_count(const mm_elf *elf);

/* The GNU build-id (NT_GNU_BUILD_ID in a PT_NOTE segment or a SHT_NOTE
 * section): copies up to cap bytes into out and returns the length, or 0
 * when there is none. */
size_t mm_elf_build_id(mm_elf *elf, uint8_t *out, size_t cap);
/* (The length returned is that of what was copied: at most cap.  A build-id
 * is 20 bytes for SHA-1, 16 for MD5 or a UUID.) */

/* The .gnu_debuglink file name (NUL-terminated into out), or 0 if none. */
size_t mm_elf_debuglink(mm_elf *elf, char *out, size_t cap);
/* (It returns the name's length; 0 too when the name and its NUL do not fit
 * in cap bytes, since a cut name would be a wrong one.) */

/* The longest .gnu_debuglink name read (a file name: NAME_MAX is 255 on
 * most systems, PATH_MAX 4096). */
#define MM_ELF_DEBUGLINK_MAX 4096

/* The CRC32 of the debug file that follows the .gnu_debuglink name (after
 * its NUL, aligned to 4 bytes).  0 with *crc set, -1 when there is no
 * .gnu_debuglink or it is too short to hold one. */
int mm_elf_debuglink_crc(mm_elf *elf, uint32_t *crc);

/* The names in the dynamic section: every DT_NEEDED, in order, and
 * DT_SONAME (NULL when there is none).  They point into strings, a copy
 * of DT_STRTAB; mm_elf_names_free() frees them. */
typedef struct mm_elf_names {
    const char **needed;
    size_t needed_count;
    const char *soname;
    char *strings;
} mm_elf_names;

/* Reads the dynamic section (PT_DYNAMIC, else the SHT_DYNAMIC section) and
 * the names it gives, DT_STRTAB unbiased by dynamic_bias as for
 * mm_elf_find_symbol().  MM_OK with *out filled (empty for an image with
 * no dynamic section, such as a static executable or a separate debug
 * file); MM_ERR_PARSE when a name does not end inside DT_STRTAB or the
 * table cannot be read.  On MM_OK, mm_elf_names_free(out) must be called. */
mm_status mm_elf_dynamic_names(mm_elf *elf, uint64_t dynamic_bias,
                               mm_elf_names *out, mm_err *err);
void mm_elf_names_free(mm_elf_names *names);

/* Looks a defined symbol up by name: .symtab first (it has the local and
 * static symbols), then .dynsym; without section headers (an image read from
 * memory), the dynamic symbol table found through PT_DYNAMIC (DT_SYMTAB,
 * DT_STRTAB, DT_STRSZ, and DT_HASH or DT_GNU_HASH for its length).
 * dynamic_bias is subtracted from DT_* addresses that the dynamic loader has
 * already relocated (pass the load bias for an image read from a live
 * process's memory, 0 for a file).  Undefined symbols (st_shndx 0) are
 * skipped.  MM_OK with *out filled, MM_ERR_NOT_FOUND when no defined symbol
 * has the name, MM_ERR_PARSE for a corrupt table. */
mm_status mm_elf_find_symbol(mm_elf *elf, const char *name,
                             uint64_t dynamic_bias, mm_elf_symbol *out,
                             mm_err *err);
/* (Of several defined symbols with the name, a global or weak one wins over
 * a local one, and the default version (name@@V, by .gnu.version) over a
 * hidden one (name@V).  PT_DYNAMIC is used only when there are no usable
 * section headers.  A corrupt table is remembered, and its error returned
 * only when no other table has the name.  The tables read are kept until
 * mm_elf_close; the PT_DYNAMIC one is read again for another bias.) */

/* (Names that are not symbols never match: STT_FILE, STT_SECTION, the
 * empty name, and the version symbols GNU ld adds for each version
 * definition, such as GLIBC_2.2.5; see index_names() in elf.c for how
 * they are told.  name@VER matches only version VER, hidden or default,
 * name@@VER only when VER is the default.  Each table is indexed by name
 * on first use, so a lookup is a hash probe, not a scan.) */

/* A symbol found by address, and its name. */
typedef struct mm_elf_match {
    mm_elf_symbol symbol;
    /* The table's own name (NUL-terminated): valid until mm_elf_close or
     * the next call with another dynamic_bias. */
    const char *name;
    /* From .dynsym (or PT_DYNAMIC) with .gnu.version: the version's name,
     * NUL-terminated, and whether it is hidden (name@VER, not the default
     * name@@VER); version NULL otherwise (.symtab spells it in name). */
    const char *version;
    int hidden;
} mm_elf_match;

/* The symbol whose [value, value + size) holds vaddr (a virtual address of
 * the file: the caller subtracts the load bias): of several, a global one
 * over a local one, a function over anything else, then the smallest,
 * then the first in its table.  When no symbol with a size holds it, a
 * symbol of no size in code (STT_FUNC, STT_GNU_IFUNC, STT_NOTYPE) that
 * starts where the nearest symbol before vaddr starts holds it, up to the
 * end of its section (of its PT_LOAD without sections).  .symtab first,
 * then .dynsym (or PT_DYNAMIC), each indexed by address on first use.
 * MM_OK with *out, MM_ERR_NOT_FOUND when no symbol holds vaddr,
 * MM_ERR_PARSE when a table is corrupt and no other holds it. */
mm_status mm_elf_symbolize(mm_elf *elf, uint64_t vaddr, uint64_t dynamic_bias,
                           mm_elf_match *out, mm_err *err);

/* Reads every symbol table the lookups use and indexes it, now, so that
 * they read nothing more from the source (PT_DYNAMIC with dynamic_bias).
 * A missing or corrupt table is kept as such; only MM_ERR_NOMEM and
 * MM_ERR_CANCELLED fail. */
mm_status mm_elf_load_symbols(mm_elf *elf, uint64_t dynamic_bias, mm_err *err);

/* Says that nothing more will be read from the source (its bytes are
 * gone: after mm_elf_load_symbols, the caller closed it).  A lookup that
 * would read the PT_DYNAMIC table again for another dynamic_bias gives
 * MM_ERR_ARGUMENT instead of trying and losing the table it has. */
void mm_elf_freeze(mm_elf *elf);

/* The bytes of tables the image holds now, charged against
 * MM_IMAGE_TABLE_BUDGET. */
uint64_t mm_elf_table_bytes(const mm_elf *elf);

/* The file offset of a virtual address, through the PT_LOAD that covers it
 * with file bytes; 0 on success. */
int mm_elf_vaddr_to_offset(const mm_elf *elf, uint64_t vaddr,
                           uint64_t *offset);

/* ---- where an image lies once loaded ---- */

/* The load bias (runtime address = virtual address in the file + bias,
 * modulo 2**64) of an image whose mapping at map_start holds the file from
 * map_offset, a multiple of page_size (a power of two): through the PT_LOAD
 * whose file bytes, widened down to the page their offset is in, cover
 * map_offset.  0 on success, -1 when no PT_LOAD covers it. */
int mm_elf_load_bias(const mm_elf *elf, uint64_t map_start,
                     uint64_t map_offset, uint64_t page_size, uint64_t *bias);

/* The runtime end of the highest PT_LOAD (p_vaddr + p_memsz + bias), rounded
 * up to page_size.  0 on success, -1 when there is no PT_LOAD or the end
 * does not fit in 64 bits (a corrupt header: the caller falls back to what
 * the mappings show). */
int mm_elf_load_end(const mm_elf *elf, uint64_t bias, uint64_t page_size,
                    uint64_t *end);

/* The runtime pages [*start, *end) of one segment under bias.  0 on success,
 * -1 when they do not fit in 64 bits. */
int mm_elf_segment_range(const mm_elf_segment *segment, uint64_t bias,
                         uint64_t page_size, uint64_t *start, uint64_t *end);

#ifdef __cplusplus
}
#endif

#endif /* MM_ELF_H */
