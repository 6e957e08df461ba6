/* The portable ELF reader (see elf.h).
 *
 * Nothing read from the input is trusted.  Every field goes through get16,
 * get32 and get64 in the file's byte order, every offset + length is checked
 * for overflow and against the size the callback can serve, and every
 * allocation is bounded by that size, or by MM_TABLE_CAP when the size is
 * unknown (a process's memory), so that a hostile count can neither make it
 * allocate gigabytes nor loop for long.
 *
 * The constants come from the System V gABI and the GNU extensions; they are
 * spelled out here because <elf.h> exists only on some systems.
 */
#include "formats/elf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define EI_NIDENT       16
#define ELFCLASS32      1
#define ELFCLASS64      2
#define ELFDATA2LSB     1
#define ELFDATA2MSB     2
#define EV_CURRENT      1
#define PN_XNUM         0xffff
#define SHN_UNDEF       0
#define SHN_XINDEX      0xffff
#define SHT_NULL        0
#define SHT_SYMTAB      2
#define SHT_STRTAB      3
#define SHT_DYNAMIC     6
#define SHT_NOTE        7
#define SHT_NOBITS      8
#define SHT_DYNSYM      11
#define SHT_GNU_VERSYM  0x6fffffff
#define STB_LOCAL       0
#define DT_NULL         0
#define DT_NEEDED       1
#define DT_HASH         4
#define DT_STRTAB       5
#define DT_SYMTAB       6
#define DT_STRSZ        10
#define DT_SYMENT       11
#define DT_SONAME       14
#define DT_GNU_HASH     0x6ffffef5
#define DT_VERSYM       0x6ffffff0
#define NT_GNU_BUILD_ID 3
/* A .gnu.version entry with this bit names a version that is not the
 * default one (memcpy@GLIBC_2.2.5 beside memcpy@@GLIBC_2.14). */
#define VERSYM_HIDDEN 0x8000

/* Core files of processes with many mappings use PN_XNUM for more than
 * 65535 program headers; the kernel's vm.max_map_count is 65530 by default,
 * so this is generous. */
#define MAX_SEGMENTS ((uint64_t)1 << 20)
/* Notes walked in one note segment or section. */
#define MAX_NOTES 65536
/* Entries of a dynamic section read: real ones have a few dozen (a program
 * with a hundred DT_NEEDED libraries has some 150), so this leaves room for
 * any real file while bounding what a hostile p_filesz makes it decode. */
#define MAX_DYNAMIC_ENTRIES 16384
/* Entries decoded per read when walking a table in pieces. */
#define CHUNK 64

/* Structure sizes, indexed by is64. */
static const size_t ehdr_size[2] = {52, 64};
static const size_t phdr_size[2] = {32, 56};
static const size_t shdr_size[2] = {40, 64};
static const size_t sym_size[2] = {16, 24};
static const size_t dyn_size[2] = {8, 16};

typedef struct elf_section {
    uint32_t name;
    uint32_t type;
    uint64_t offset;
    uint64_t size;
    uint32_t link;
    uint32_t info;
    uint64_t addralign;
    uint64_t entsize;
} elf_section;

/* The symbol tables, in the order they are searched. */
enum {
    TAB_SYMTAB = 0,
    TAB_DYNSYM,  /* the SHT_DYNSYM section */
    TAB_DYNAMIC, /* the same table found through PT_DYNAMIC */
    TAB_COUNT
};

static const char *const table_names[TAB_COUNT] = {".symtab", ".dynsym",
                                                   "the dynamic symbol table"};

/* A symbol table as read (entries of sym_size[is64] bytes), with what
 * only ELF has beside it. */
typedef struct elf_table {
    mm_symtab symtab;
    uint8_t *versym; /* count raw 16-bit .gnu.version entries, or NULL */
    uint64_t bias;   /* TAB_DYNAMIC: the dynamic_bias it was read with */
} elf_table;

typedef struct elf_internal {
    elf_section *sections; /* NULL when there are no usable ones */
    size_t section_count;
    size_t shstrndx; /* 0: sections have no names */
    elf_table tables[TAB_COUNT];
} elf_internal;

/* ---- bytes ---- */

/* An address or offset of the file's class: 4 or 8 bytes. */
static uint64_t
getword(const mm_elf *elf, const uint8_t *p)
{
    return elf->is64 ? mm_field64(elf, p) : mm_field32(elf, p);
}

static uint64_t
align_up(uint64_t value, uint64_t align)
{
    /* Callers pass values far below 2**63, so this cannot wrap. */
    return (value + align - 1) & ~(align - 1);
}

/* Whether [offset, offset + len) lies within what the callback serves. */
static int
in_bounds(const mm_elf *elf, uint64_t offset, uint64_t len)
{
    return offset <= elf->source.size && len <= elf->source.size - offset;
}

/* Reads exactly len bytes at offset; 0 on success. */
static int
read_at(const mm_elf *elf, uint64_t offset, void *buf, size_t len)
{
    return mm_read_within(&elf->source, offset, buf, len);
}

/* The most bytes a table read from the input may take. */
static uint64_t
alloc_limit(const mm_elf *elf)
{
    return mm_table_limit(elf->source.size);
}

/* Reads len bytes at offset into a new buffer (*out, to be freed), for the
 * table named by what.  A zero len gives a valid one-byte buffer. */
static mm_status
read_alloc(const mm_elf *elf, uint64_t offset, uint64_t len, const char *what,
           void **out, mm_err *err)
{
    return mm_read_table(&elf->source, offset, len, alloc_limit(elf), "ELF",
                         what, out, err);
}

/* ---- headers ---- */

/* Elf32 and Elf64 headers hold the same fields in the same order, the
 * addresses, offsets and sizes one word (4 or 8 bytes) wide: offsets below
 * are written in words, as the gABI's tables are. */
static void
decode_section(const mm_elf *elf, const uint8_t *p, elf_section *s)
{
    const unsigned w = elf->is64 ? 8 : 4;

    s->name = mm_field32(elf, p);
    s->type = mm_field32(elf, p + 4);
    /* sh_flags and sh_addr come first, one word each */
    s->offset = getword(elf, p + 8 + 2 * w);
    s->size = getword(elf, p + 8 + 3 * w);
    s->link = mm_field32(elf, p + 8 + 4 * w);
    s->info = mm_field32(elf, p + 12 + 4 * w);
    s->addralign = getword(elf, p + 16 + 4 * w);
    s->entsize = getword(elf, p + 16 + 5 * w);
}

/* The one field out of order: p_flags follows p_type in Elf64_Phdr (to
 * align what follows) and p_memsz in Elf32_Phdr. */
static void
decode_segment(const mm_elf *elf, const uint8_t *p, mm_elf_segment *s)
{
    const unsigned w = elf->is64 ? 8 : 4;

    s->type = mm_field32(elf, p);
    s->flags = mm_field32(elf, p + (elf->is64 ? 4 : 24));
    /* p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, then p_align (after
     * p_flags in Elf32) */
    s->offset = getword(elf, p + w);
    s->vaddr = getword(elf, p + 2 * w);
    s->filesz = getword(elf, p + 4 * w);
    s->memsz = getword(elf, p + 5 * w);
    s->align = getword(elf, p + 6 * w + (elf->is64 ? 0 : 4));
}

static void
decode_section_item(const mm_elf *elf, const uint8_t *p, void *out)
{
    decode_section(elf, p, out);
}

static void
decode_segment_item(const mm_elf *elf, const uint8_t *p, void *out)
{
    decode_segment(elf, p, out);
}

/* Section header 0, which holds the true counts when they do not fit the
 * ELF header's 16-bit fields (extended numbering).  0 on success. */
static int
read_section_zero(const mm_elf *elf, uint64_t shoff, unsigned shentsize,
                  elf_section *s)
{
    uint8_t raw[64];

    if (shoff == 0 || shentsize != shdr_size[elf->is64] ||
        read_at(elf, shoff, raw, shentsize) != 0) {
        return -1;
    }
    decode_section(elf, raw, s);
    return s->type == SHT_NULL ? 0 : -1;
}

/* Reads the section headers into elf->internal.  They are optional: a
 * failure other than MM_ERR_NOMEM only means the file is used through its
 * program headers, so err says why for whoever wants to know. */
/* Reads count headers of entsize bytes (at most 64: the callers have
 * checked it is the class's header size) at offset into a new array of
 * count items of item_size, each through decode; what names them in
 * messages.  MM_OK with *out set, or an error with *out NULL. */
static mm_status
read_headers(const mm_elf *elf, uint64_t offset, unsigned entsize,
             uint64_t count, uint64_t max_count, size_t item_size,
             void (*decode)(const mm_elf *, const uint8_t *, void *),
             const char *what, void **out, mm_err *err)
{
    uint8_t raw[CHUNK * 64];
    uint8_t *items;

    *out = NULL;
    if (count > max_count || !in_bounds(elf, offset, count * entsize)) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%" PRIu64 " %s at offset 0x%" PRIx64
                          " run past the end of the ELF image",
                          count, what, offset);
    }
    items = calloc((size_t)count, item_size);
    if (items == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory for %" PRIu64 " %s", count, what);
    }
    for (uint64_t i = 0; i < count; i += CHUNK) {
        uint64_t n = count - i < CHUNK ? count - i : CHUNK;
        if (read_at(elf, offset + i * entsize, raw, (size_t)(n * entsize)) !=
            0) {
            free(items);
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "%s at offset 0x%" PRIx64 " cannot be read",
                              what, offset);
        }
        for (uint64_t j = 0; j < n; j++) {
            decode(elf, raw + j * entsize, items + (i + j) * item_size);
        }
    }
    *out = items;
    return MM_OK;
}

static mm_status
load_sections(mm_elf *elf, uint64_t shoff, unsigned shentsize, unsigned shnum,
              unsigned shstrndx, mm_err *err)
{
    elf_internal *in = elf->internal;
    elf_section zero;
    uint64_t count = shnum;
    void *items;
    mm_status status;

    if (shoff == 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0, "no section headers");
    }
    if (shentsize != shdr_size[elf->is64]) {
        return mm_err_set(err, MM_ERR_PARSE, 0, "e_shentsize is %u, not %zu",
                          shentsize, shdr_size[elf->is64]);
    }
    if (read_section_zero(elf, shoff, shentsize, &zero) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "section header 0 cannot be read or is not null");
    }
    if (count == 0) {
        count = zero.size;
    }
    if (shstrndx == SHN_XINDEX) {
        shstrndx = zero.link;
    }
    status = read_headers(elf, shoff, shentsize, count,
                          alloc_limit(elf) / sizeof(elf_section),
                          sizeof(elf_section), decode_section_item,
                          "section headers", &items, err);
    if (status != MM_OK) {
        return status;
    }
    in->sections = items;
    in->section_count = (size_t)count;
    in->shstrndx = shstrndx < count ? shstrndx : 0;
    return MM_OK;
}

static mm_status
load_segments(mm_elf *elf, uint64_t phoff, unsigned phentsize, uint64_t count,
              mm_err *err)
{
    void *items;
    mm_status status;

    if (count == 0) {
        return MM_OK;
    }
    if (phentsize != phdr_size[elf->is64]) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "e_phentsize is %u, not %zu for a %d-bit file",
                          phentsize, phdr_size[elf->is64],
                          elf->is64 ? 64 : 32);
    }
    /* A table at offset 0 would be the ELF header itself: a count no
     * header can have says so in the message read_headers() gives. */
    status =
        read_headers(elf, phoff, phentsize, count,
                     phoff == 0 ? 0 : MAX_SEGMENTS, sizeof(mm_elf_segment),
                     decode_segment_item, "program headers", &items, err);
    if (status != MM_OK) {
        return status;
    }
    elf->segments = items;
    elf->segment_count = (size_t)count;
    return MM_OK;
}

mm_status
mm_elf_open(mm_elf *elf, mm_read_fn read, void *ctx, uint64_t size,
            mm_err *err)
{
    return mm_elf_open_flags(elf, read, ctx, size, 0, err);
}

mm_status
mm_elf_open_flags(mm_elf *elf, mm_read_fn read, void *ctx, uint64_t size,
                  unsigned flags, mm_err *err)
{
    uint8_t h[64];
    uint64_t phoff, shoff, phnum;
    unsigned phentsize, shentsize, shnum, shstrndx, w;
    mm_err section_err;
    mm_status status;

    memset(elf, 0, sizeof(*elf));
    elf->source = (mm_source){read, ctx, size};
    if (read == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0, "no read callback");
    }
    if (read_at(elf, 0, h, EI_NIDENT) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0, "too short for an ELF header");
    }
    if (memcmp(h, "\177ELF", 4) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "not an ELF file (no \\177ELF magic)");
    }
    if (h[4] != ELFCLASS32 && h[4] != ELFCLASS64) {
        return mm_err_set(err, MM_ERR_PARSE, 0, "unknown ELF class %u", h[4]);
    }
    if (h[5] != ELFDATA2LSB && h[5] != ELFDATA2MSB) {
        return mm_err_set(err, MM_ERR_PARSE, 0, "unknown ELF data encoding %u",
                          h[5]);
    }
    if (h[6] != EV_CURRENT) {
        return mm_err_set(err, MM_ERR_PARSE, 0, "unknown ELF version %u",
                          h[6]);
    }
    elf->is64 = h[4] == ELFCLASS64;
    elf->big_endian = h[5] == ELFDATA2MSB;
    if (read_at(elf, 0, h, ehdr_size[elf->is64]) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "too short for a %d-bit ELF header",
                          elf->is64 ? 64 : 32);
    }
    w = elf->is64 ? 8 : 4;
    elf->type = mm_field16(elf, h + 16);
    elf->machine = mm_field16(elf, h + 18);
    /* e_entry, e_phoff and e_shoff are words; e_flags and e_ehsize, then
     * the table sizes and counts, 16 bits each, follow them. */
    elf->entry = getword(elf, h + 24);
    phoff = getword(elf, h + 24 + w);
    shoff = getword(elf, h + 24 + 2 * w);
    phentsize = mm_field16(elf, h + 30 + 3 * w);
    phnum = mm_field16(elf, h + 32 + 3 * w);
    shentsize = mm_field16(elf, h + 34 + 3 * w);
    shnum = mm_field16(elf, h + 36 + 3 * w);
    shstrndx = mm_field16(elf, h + 38 + 3 * w);

    elf->internal = calloc(1, sizeof(elf_internal));
    if (elf->internal == NULL) {
        status = mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        goto error;
    }
    if (phnum == PN_XNUM) {
        elf_section zero;
        if (read_section_zero(elf, shoff, shentsize, &zero) != 0) {
            status = mm_err_set(err, MM_ERR_PARSE, 0,
                                "e_phnum is PN_XNUM but section header 0, "
                                "which holds the count, cannot be read");
            goto error;
        }
        phnum = zero.info;
    }
    if (!(flags & MM_ELF_NO_SECTIONS)) {
        status = load_sections(elf, shoff, shentsize, shnum, shstrndx,
                               &section_err);
        if (status == MM_ERR_NOMEM) {
            *err = section_err;
            goto error;
        }
    }
    status = load_segments(elf, phoff, phentsize, phnum, err);
    if (status != MM_OK) {
        goto error;
    }
    if (elf->segment_count == 0 && mm_elf_section_count(elf) == 0) {
        status = mm_err_set(err, MM_ERR_PARSE, 0,
                            "neither program headers nor usable section "
                            "headers");
        goto error;
    }
    return MM_OK;

error:
    mm_elf_close(elf);
    return status;
}

static void
free_table(elf_table *t)
{
    mm_symtab_free(&t->symtab);
    free(t->versym);
    memset(t, 0, sizeof(*t));
}

void
mm_elf_close(mm_elf *elf)
{
    elf_internal *in = elf->internal;

    if (in != NULL) {
        for (int i = 0; i < TAB_COUNT; i++) {
            free_table(&in->tables[i]);
        }
        free(in->sections);
        free(in);
    }
    free(elf->segments);
    elf->segments = NULL;
    elf->segment_count = 0;
    elf->internal = NULL;
}

size_t
mm_elf_section_count(const mm_elf *elf)
{
    const elf_internal *in = elf->internal;

    return in != NULL && in->sections != NULL ? in->section_count : 0;
}

/* ---- addresses ---- */

/* The file offset of [vaddr, vaddr + len), which must lie within the file
 * bytes of one PT_LOAD; 0 on success. */
static int
vaddr_range_to_offset(const mm_elf *elf, uint64_t vaddr, uint64_t len,
                      uint64_t *offset)
{
    for (size_t i = 0; i < elf->segment_count; i++) {
        const mm_elf_segment *s = &elf->segments[i];
        if (s->type == MM_PT_LOAD &&
            mm_translate(s->vaddr, s->filesz, s->offset, vaddr, len, offset) ==
                0) {
            return 0;
        }
    }
    return -1;
}

int
mm_elf_vaddr_to_offset(const mm_elf *elf, uint64_t vaddr, uint64_t *offset)
{
    return vaddr_range_to_offset(elf, vaddr, 1, offset);
}

/* ---- where an image lies once loaded ---- */

static int
page_size_ok(uint64_t page_size)
{
    return page_size != 0 && (page_size & (page_size - 1)) == 0;
}

int
mm_elf_load_bias(const mm_elf *elf, uint64_t map_start, uint64_t map_offset,
                 uint64_t page_size, uint64_t *bias)
{
    if (!page_size_ok(page_size)) {
        return -1;
    }
    for (size_t i = 0; i < elf->segment_count; i++) {
        const mm_elf_segment *s = &elf->segments[i];
        uint64_t first_page = s->offset & ~(page_size - 1);
        /* A segment with no file bytes still maps the page its offset is
         * in; and a header whose size runs past 2**64 covers the rest. */
        uint64_t file_end = s->filesz > UINT64_MAX - s->offset
                                ? UINT64_MAX
                                : s->offset + s->filesz;
        if (file_end <= first_page) {
            file_end = first_page + 1;
        }
        if (s->type != MM_PT_LOAD || map_offset < first_page ||
            map_offset >= file_end) {
            continue;
        }
        /* map_start holds file offset map_offset, which the file puts at
         * p_vaddr - (p_offset - map_offset); unsigned arithmetic wraps as
         * the bias is defined to. */
        *bias = map_start - (s->vaddr - (s->offset - map_offset));
        return 0;
    }
    return -1;
}

int
mm_elf_load_end(const mm_elf *elf, uint64_t bias, uint64_t page_size,
                uint64_t *end)
{
    uint64_t highest = 0, runtime;
    int found = 0;

    if (!page_size_ok(page_size)) {
        return -1;
    }
    for (size_t i = 0; i < elf->segment_count; i++) {
        const mm_elf_segment *s = &elf->segments[i];
        if (s->type != MM_PT_LOAD) {
            continue;
        }
        if (s->memsz > UINT64_MAX - s->vaddr) {
            return -1;
        }
        if (!found || s->vaddr + s->memsz > highest) {
            highest = s->vaddr + s->memsz;
        }
        found = 1;
    }
    runtime = highest + bias;
    if (!found || runtime > UINT64_MAX - (page_size - 1)) {
        return -1;
    }
    *end = (runtime + page_size - 1) & ~(page_size - 1);
    return 0;
}

int
mm_elf_segment_range(const mm_elf_segment *segment, uint64_t bias,
                     uint64_t page_size, uint64_t *start, uint64_t *end)
{
    uint64_t low, high;

    if (!page_size_ok(page_size) ||
        segment->memsz > UINT64_MAX - segment->vaddr) {
        return -1;
    }
    low = segment->vaddr + bias;
    high = low + segment->memsz;
    if (high < low || high > UINT64_MAX - (page_size - 1)) {
        return -1; /* the segment wraps past the top of the address space */
    }
    *start = low & ~(page_size - 1);
    *end = (high + page_size - 1) & ~(page_size - 1);
    return 0;
}

/* ---- notes ---- */

/* The build-id among the notes in [offset, offset + size), copied as
 * mm_elf_build_id does; 0 when there is none. */
static size_t
notes_build_id(const mm_elf *elf, uint64_t offset, uint64_t size,
               uint64_t align, uint8_t *out, size_t cap)
{
    uint64_t pos = 0;

    /* As binutils does: 8-byte alignment for the notes that ask for it
     * (.note.gnu.property on 64-bit), 4 for everything else. */
    align = align == 8 ? 8 : 4;
    if (offset > elf->source.size) {
        return 0;
    }
    if (size > elf->source.size - offset) {
        size = elf->source.size - offset; /* a truncated file: what is there */
    }
    for (int n = 0; n < MAX_NOTES && size - pos >= 12; n++) {
        uint8_t h[12];
        uint8_t name[4];
        uint32_t namesz, descsz, type;
        uint64_t desc, next;

        if (read_at(elf, offset + pos, h, sizeof(h)) != 0) {
            return 0;
        }
        namesz = mm_field32(elf, h);
        descsz = mm_field32(elf, h + 4);
        type = mm_field32(elf, h + 8);
        desc = align_up(pos + 12 + namesz, align);
        next = align_up(desc + descsz, align);
        if (desc > size || descsz > size - desc) {
            return 0; /* runs past its segment: corrupt */
        }
        if (type == NT_GNU_BUILD_ID && namesz == 4 &&
            read_at(elf, offset + pos + 12, name, 4) == 0 &&
            memcmp(name, "GNU", 4) == 0 && descsz > 0) {
            size_t len = descsz < cap ? descsz : cap;
            if (read_at(elf, offset + desc, out, len) != 0) {
                return 0;
            }
            return len;
        }
        if (next >= size) {
            break;
        }
        pos = next;
    }
    return 0;
}

size_t
mm_elf_build_id(mm_elf *elf, uint8_t *out, size_t cap)
{
    const elf_internal *in = elf->internal;
    size_t len;

    /* The notes segment first: an image read from memory has no sections. */
    for (size_t i = 0; i < elf->segment_count; i++) {
        const mm_elf_segment *s = &elf->segments[i];
        if (s->type == MM_PT_NOTE) {
            len =
                notes_build_id(elf, s->offset, s->filesz, s->align, out, cap);
            if (len > 0) {
                return len;
            }
        }
    }
    for (size_t i = 0; i < mm_elf_section_count(elf); i++) {
        const elf_section *s = &in->sections[i];
        if (s->type == SHT_NOTE) {
            len = notes_build_id(elf, s->offset, s->size, s->addralign, out,
                                 cap);
            if (len > 0) {
                return len;
            }
        }
    }
    return 0;
}

/* ---- sections by name ---- */

/* Whether section s is named name, read with bounds from .shstrtab. */
static int
section_named(const mm_elf *elf, const elf_section *s, const char *name)
{
    const elf_internal *in = elf->internal;
    const elf_section *names;
    size_t len = strlen(name) + 1;
    char buf[64];

    if (in->shstrndx == 0 || len > sizeof(buf)) {
        return 0;
    }
    names = &in->sections[in->shstrndx];
    if (names->type == SHT_NOBITS || s->name >= names->size ||
        len > names->size - s->name || names->offset > UINT64_MAX - s->name ||
        read_at(elf, names->offset + s->name, buf, len) != 0) {
        return 0;
    }
    return memcmp(buf, name, len) == 0;
}

size_t
mm_elf_debuglink(mm_elf *elf, char *out, size_t cap)
{
    const elf_internal *in = elf->internal;

    if (cap == 0) {
        return 0;
    }
    out[0] = '\0';
    for (size_t i = 0; i < mm_elf_section_count(elf); i++) {
        const elf_section *s = &in->sections[i];
        size_t len;
        const char *end;
        if (s->type == SHT_NOBITS ||
            !section_named(elf, s, ".gnu_debuglink")) {
            continue;
        }
        /* The name, NUL, padding to 4, then a CRC32 of the debug file. */
        len = s->size < cap ? (size_t)s->size : cap;
        if (read_at(elf, s->offset, out, len) != 0) {
            out[0] = '\0';
            return 0;
        }
        end = memchr(out, '\0', len);
        if (end == NULL) {
            /* No NUL in the section (corrupt) or in cap bytes. */
            out[0] = '\0';
            return 0;
        }
        return (size_t)(end - out);
    }
    return 0;
}

int
mm_elf_debuglink_crc(mm_elf *elf, uint32_t *crc)
{
    const elf_internal *in = elf->internal;
    char name[MM_ELF_DEBUGLINK_MAX + 1];

    for (size_t i = 0; i < mm_elf_section_count(elf); i++) {
        const elf_section *s = &in->sections[i];
        uint8_t raw[4];
        size_t len;
        const char *end;
        uint64_t at;
        if (s->type == SHT_NOBITS ||
            !section_named(elf, s, ".gnu_debuglink")) {
            continue;
        }
        /* The name, its NUL, padding to 4 bytes, then the CRC32 in the
         * file's byte order (as objcopy --add-gnu-debuglink writes it). */
        len = s->size < sizeof(name) ? (size_t)s->size : sizeof(name);
        if (read_at(elf, s->offset, name, len) != 0) {
            return -1;
        }
        end = memchr(name, '\0', len);
        if (end == NULL) {
            return -1;
        }
        at = align_up((uint64_t)(end - name) + 1, 4);
        if (at > s->size || s->size - at < 4 || s->offset > UINT64_MAX - at ||
            read_at(elf, s->offset + at, raw, 4) != 0) {
            return -1;
        }
        *crc = mm_field32(elf, raw);
        return 0;
    }
    return -1;
}

/* ---- symbol tables ---- */

/* Reads the table of section type (SHT_SYMTAB or SHT_DYNSYM) into t. */
static mm_status
load_section_table(mm_elf *elf, elf_table *t, uint32_t type, mm_err *err)
{
    const elf_internal *in = elf->internal;
    const char *what = type == SHT_SYMTAB ? ".symtab" : ".dynsym";
    const elf_section *s = NULL, *str;
    size_t index = 0, entsize = sym_size[elf->is64];
    mm_status status;
    void *buf;

    for (size_t i = 0; i < mm_elf_section_count(elf); i++) {
        if (in->sections[i].type == type) {
            s = &in->sections[i];
            index = i;
            break;
        }
    }
    if (s == NULL) {
        t->symtab.state = MM_TABLE_ABSENT;
        return MM_ERR_NOT_FOUND;
    }
    if (s->entsize != entsize) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%s has sh_entsize %" PRIu64 ", not %zu", what,
                          s->entsize, entsize);
    }
    if (s->link == 0 || s->link >= in->section_count ||
        in->sections[s->link].type != SHT_STRTAB) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%s links to section %" PRIu32
                          ", which is not a string table",
                          what, s->link);
    }
    str = &in->sections[s->link];
    status = read_alloc(elf, s->offset, s->size / entsize * entsize, what,
                        &buf, err);
    if (status != MM_OK) {
        return status;
    }
    t->symtab.syms = buf;
    t->symtab.count = (size_t)(s->size / entsize);
    status = read_alloc(elf, str->offset, str->size,
                        type == SHT_SYMTAB ? "the string table of .symtab"
                                           : "the string table of .dynsym",
                        &buf, err);
    if (status != MM_OK) {
        return status;
    }
    t->symtab.strings = buf;
    t->symtab.strings_len = (size_t)str->size;
    t->symtab.names_end =
        mm_names_end(t->symtab.strings, t->symtab.strings_len);

    /* .gnu.version says which of several same-named symbols is the default
     * version.  Optional: a missing or odd one is simply not used. */
    for (size_t i = 0; type == SHT_DYNSYM && i < in->section_count; i++) {
        const elf_section *v = &in->sections[i];
        mm_err ignored;
        if (v->type == SHT_GNU_VERSYM && v->link == index &&
            v->size / 2 >= t->symtab.count) {
            status = read_alloc(elf, v->offset, (uint64_t)t->symtab.count * 2,
                                ".gnu.version", &buf, &ignored);
            if (status == MM_ERR_NOMEM) {
                *err = ignored;
                return status;
            }
            t->versym = buf;
            break;
        }
    }
    t->symtab.state = MM_TABLE_LOADED;
    return MM_OK;
}

/* A DT_* address as an unrelocated virtual address.  The dynamic loader
 * adds the load bias to these in memory on most architectures; the vdso and
 * files keep the link-time value, which lies below the bias. */
static uint64_t
unbias(uint64_t addr, uint64_t bias)
{
    return addr >= bias ? addr - bias : addr;
}

/* The number of symbols a DT_GNU_HASH table covers: one past the highest
 * index reached from its buckets, found at the end of that chain.  The
 * walk is bounded by max_count. */
static mm_status
gnu_hash_count(const mm_elf *elf, uint64_t offset, uint64_t max_count,
               uint64_t *count, mm_err *err)
{
    uint8_t raw[CHUNK * 4];
    uint32_t nbuckets, symoffset, bloom_size;
    uint64_t buckets, chain, highest = 0;

    if (read_at(elf, offset, raw, 16) != 0) {
        goto truncated;
    }
    nbuckets = mm_field32(elf, raw);
    symoffset = mm_field32(elf, raw + 4);
    bloom_size = mm_field32(elf, raw + 8);
    buckets = offset + 16 + (uint64_t)bloom_size * (elf->is64 ? 8 : 4);
    if (buckets < offset || !in_bounds(elf, buckets, (uint64_t)nbuckets * 4) ||
        (uint64_t)nbuckets * 4 > alloc_limit(elf)) {
        goto truncated;
    }
    chain = buckets + (uint64_t)nbuckets * 4;
    for (uint32_t i = 0; i < nbuckets; i += CHUNK) {
        uint32_t n = nbuckets - i < CHUNK ? nbuckets - i : CHUNK;
        if (read_at(elf, buckets + (uint64_t)i * 4, raw, n * 4) != 0) {
            goto truncated;
        }
        for (uint32_t j = 0; j < n; j++) {
            uint32_t b = mm_field32(elf, raw + j * 4);
            highest = b > highest ? b : highest;
        }
    }
    if (highest < symoffset) {
        /* Empty buckets: only the symbols below symoffset, which are not
         * hashed (the null symbol, undefined ones). */
        *count = symoffset;
        return MM_OK; /* checked against the table's bounds by the caller */
    }
    /* The last chain ends at the entry whose low bit is set. */
    for (uint64_t index = highest; index < max_count;) {
        uint64_t at = chain + (index - symoffset) * 4;
        uint64_t n = max_count - index < CHUNK ? max_count - index : CHUNK;
        if (at < chain || !in_bounds(elf, at, 4)) {
            goto truncated;
        }
        if (!in_bounds(elf, at, n * 4)) {
            n = (elf->source.size - at) / 4;
        }
        if (read_at(elf, at, raw, (size_t)n * 4) != 0) {
            goto truncated;
        }
        for (uint64_t j = 0; j < n; j++, index++) {
            if (mm_field32(elf, raw + j * 4) & 1) {
                *count = index + 1;
                return MM_OK;
            }
        }
    }
    return mm_err_set(err, MM_ERR_PARSE, 0,
                      "a DT_GNU_HASH chain does not end within %" PRIu64
                      " symbols",
                      max_count);

truncated:
    return mm_err_set(err, MM_ERR_PARSE, 0,
                      "the DT_GNU_HASH table at offset 0x%" PRIx64
                      " is truncated or cannot be read",
                      offset);
}

/* What the dynamic section says, as far as this reader uses it: DT_*
 * addresses already unbiased, the first of each tag (as the dynamic loader
 * keeps), and the string table offsets of every DT_NEEDED in order. */
typedef struct elf_dynamic {
    uint64_t symtab, strtab, strsz, syment, hash, gnu_hash, versym;
    int have_symtab, have_strtab, have_strsz, have_soname;
    uint64_t soname;
    uint64_t *needed;
    size_t needed_count;
} elf_dynamic;

/* Where the dynamic section's bytes are: PT_DYNAMIC, which is what the
 * dynamic loader reads, at the file offset its p_vaddr has through the
 * PT_LOAD that covers it (p_offset when none does); without PT_DYNAMIC,
 * the SHT_DYNAMIC section.  A separate debug file keeps PT_DYNAMIC but
 * its .dynamic is SHT_NOBITS: it has none.  MM_ERR_NOT_FOUND when there is
 * none. */
static mm_status
find_dynamic(const mm_elf *elf, uint64_t *offset, uint64_t *size)
{
    const elf_internal *in = elf->internal;
    const elf_section *section = NULL;

    for (size_t i = 0; i < mm_elf_section_count(elf); i++) {
        const elf_section *s = &in->sections[i];
        if (s->type == SHT_DYNAMIC && section == NULL) {
            section = s;
        }
        else if (s->type == SHT_NOBITS && section_named(elf, s, ".dynamic")) {
            return MM_ERR_NOT_FOUND;
        }
    }
    for (size_t i = 0; i < elf->segment_count; i++) {
        const mm_elf_segment *s = &elf->segments[i];
        if (s->type != MM_PT_DYNAMIC) {
            continue;
        }
        /* No further than the file bytes of the PT_LOAD that holds it:
         * a p_filesz larger than that is not real. */
        *offset = s->offset;
        *size = s->filesz;
        for (size_t j = 0; j < elf->segment_count; j++) {
            const mm_elf_segment *load = &elf->segments[j];
            if (load->type == MM_PT_LOAD &&
                mm_translate(load->vaddr, load->filesz, load->offset, s->vaddr,
                             1, offset) == 0) {
                uint64_t left = load->filesz - (s->vaddr - load->vaddr);
                *size = s->filesz < left ? s->filesz : left;
                break;
            }
        }
        return MM_OK;
    }
    if (section != NULL) {
        *offset = section->offset;
        *size = section->size;
        return MM_OK;
    }
    return MM_ERR_NOT_FOUND;
}

static void
free_dynamic(elf_dynamic *d)
{
    free(d->needed);
    memset(d, 0, sizeof(*d));
}

/* Reads the dynamic section into d (free_dynamic() it on MM_OK), its
 * addresses unbiased by bias.  It is read no further than its real size
 * (what lies within the source), its DT_NULL, or MAX_DYNAMIC_ENTRIES.
 * MM_ERR_NOT_FOUND when the image has none. */
static mm_status
read_dynamic(const mm_elf *elf, uint64_t bias, elf_dynamic *d, mm_err *err)
{
    const size_t entsize = dyn_size[elf->is64];
    uint8_t raw[CHUNK * 16];
    uint64_t offset, size, count;
    size_t needed_cap = 0;
    mm_status status;

    memset(d, 0, sizeof(*d));
    d->syment = sym_size[elf->is64];
    status = find_dynamic(elf, &offset, &size);
    if (status != MM_OK) {
        return status;
    }
    if (offset > elf->source.size) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "the dynamic section at offset 0x%" PRIx64
                          " lies past the end of the ELF image",
                          offset);
    }
    if (size > elf->source.size - offset) {
        size = elf->source.size - offset;
    }
    count = size / entsize;
    if (count > MAX_DYNAMIC_ENTRIES) {
        count = MAX_DYNAMIC_ENTRIES;
    }
    for (uint64_t i = 0; i < count; i += CHUNK) {
        uint64_t n = count - i < CHUNK ? count - i : CHUNK;
        if (read_at(elf, offset + i * entsize, raw, (size_t)(n * entsize)) !=
            0) {
            free_dynamic(d);
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "the dynamic section at offset 0x%" PRIx64
                              " cannot be read",
                              offset);
        }
        for (uint64_t j = 0; j < n; j++) {
            const uint8_t *p = raw + j * entsize;
            uint64_t tag = getword(elf, p);
            uint64_t val = getword(elf, p + entsize / 2);
            if (tag == DT_NULL) {
                return MM_OK;
            }
            switch (tag) {
            case DT_NEEDED:
                if (d->needed_count == needed_cap) {
                    size_t cap = needed_cap ? needed_cap * 2 : 16;
                    uint64_t *grown = realloc(d->needed, cap * sizeof(*grown));
                    if (grown == NULL) {
                        free_dynamic(d);
                        return mm_err_set(err, MM_ERR_NOMEM, 0,
                                          "out of memory reading DT_NEEDED");
                    }
                    d->needed = grown;
                    needed_cap = cap;
                }
                d->needed[d->needed_count++] = val;
                break;
            case DT_SONAME:
                if (!d->have_soname) {
                    d->soname = val;
                    d->have_soname = 1;
                }
                break;
            case DT_SYMTAB:
                if (!d->have_symtab) {
                    d->symtab = unbias(val, bias);
                    d->have_symtab = 1;
                }
                break;
            case DT_STRTAB:
                if (!d->have_strtab) {
                    d->strtab = unbias(val, bias);
                    d->have_strtab = 1;
                }
                break;
            case DT_STRSZ:
                if (!d->have_strsz) {
                    d->strsz = val;
                    d->have_strsz = 1;
                }
                break;
            case DT_SYMENT:
                d->syment = val;
                break;
            case DT_HASH:
                d->hash = d->hash ? d->hash : unbias(val, bias);
                break;
            case DT_GNU_HASH:
                d->gnu_hash = d->gnu_hash ? d->gnu_hash : unbias(val, bias);
                break;
            case DT_VERSYM:
                d->versym = d->versym ? d->versym : unbias(val, bias);
                break;
            default:
                break;
            }
        }
    }
    return MM_OK;
}

/* Reads the dynamic string table d names into a new buffer (*out, of
 * *len bytes, to be freed). */
static mm_status
read_dynamic_strings(const mm_elf *elf, const elf_dynamic *d, char **out,
                     size_t *len, mm_err *err)
{
    uint64_t off;
    void *buf;
    mm_status status;

    *out = NULL;
    *len = 0;
    if (!d->have_strtab || !d->have_strsz) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "the dynamic section has no DT_STRTAB and "
                          "DT_STRSZ");
    }
    if (vaddr_range_to_offset(elf, d->strtab, d->strsz, &off) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "DT_STRTAB 0x%" PRIx64 " of DT_STRSZ %" PRIu64
                          " is not in a PT_LOAD segment",
                          d->strtab, d->strsz);
    }
    status = read_alloc(elf, off, d->strsz, "DT_STRTAB", &buf, err);
    if (status != MM_OK) {
        return status;
    }
    *out = buf;
    *len = (size_t)d->strsz;
    return MM_OK;
}

/* Reads the dynamic symbol table through PT_DYNAMIC into t. */
static mm_status
load_dynamic_table(mm_elf *elf, elf_table *t, uint64_t bias, mm_err *err)
{
    size_t symsize = sym_size[elf->is64];
    uint64_t symtab, strtab, strsz, syment, hash, gnu_hash, versym,
        count = 0, off, max_count;
    int have_symtab, have_strtab, have_strsz;
    elf_dynamic d;
    void *buf;
    mm_status status;

    t->bias = bias;
    status = read_dynamic(elf, bias, &d, err);
    if (status == MM_ERR_NOT_FOUND) {
        t->symtab.state = MM_TABLE_ABSENT;
        return MM_ERR_NOT_FOUND;
    }
    if (status != MM_OK) {
        return status;
    }
    symtab = d.symtab;
    strtab = d.strtab;
    strsz = d.strsz;
    syment = d.syment;
    hash = d.hash;
    gnu_hash = d.gnu_hash;
    versym = d.versym;
    have_symtab = d.have_symtab;
    have_strtab = d.have_strtab;
    have_strsz = d.have_strsz;
    free_dynamic(&d);
    if (!have_symtab) {
        t->symtab.state = MM_TABLE_ABSENT;
        return MM_ERR_NOT_FOUND;
    }
    if (!have_strtab || !have_strsz) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "PT_DYNAMIC has DT_SYMTAB without DT_STRTAB and "
                          "DT_STRSZ");
    }
    if (syment != symsize) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "DT_SYMENT is %" PRIu64 ", not %zu", syment,
                          symsize);
    }
    max_count = alloc_limit(elf) / symsize;
    if (hash != 0) {
        /* nbucket, then nchain, which is the number of symbols. */
        uint8_t h[8];
        if (mm_elf_vaddr_to_offset(elf, hash, &off) != 0 ||
            read_at(elf, off, h, sizeof(h)) != 0) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "DT_HASH 0x%" PRIx64 " cannot be read", hash);
        }
        count = mm_field32(elf, h + 4);
    }
    else if (gnu_hash != 0) {
        if (mm_elf_vaddr_to_offset(elf, gnu_hash, &off) != 0) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "DT_GNU_HASH 0x%" PRIx64
                              " is not in a PT_LOAD segment",
                              gnu_hash);
        }
        status = gnu_hash_count(elf, off, max_count, &count, err);
        if (status != MM_OK) {
            return status;
        }
    }
    else {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "PT_DYNAMIC has neither DT_HASH nor DT_GNU_HASH, "
                          "which give the number of symbols");
    }
    if (count > max_count ||
        vaddr_range_to_offset(elf, symtab, count * symsize, &off) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "DT_SYMTAB 0x%" PRIx64 " with %" PRIu64
                          " symbols is not in a PT_LOAD segment",
                          symtab, count);
    }
    status = read_alloc(elf, off, count * symsize, "DT_SYMTAB", &buf, err);
    if (status != MM_OK) {
        return status;
    }
    t->symtab.syms = buf;
    t->symtab.count = (size_t)count;
    if (vaddr_range_to_offset(elf, strtab, strsz, &off) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "DT_STRTAB 0x%" PRIx64 " of DT_STRSZ %" PRIu64
                          " is not in a PT_LOAD segment",
                          strtab, strsz);
    }
    status = read_alloc(elf, off, strsz, "DT_STRTAB", &buf, err);
    if (status != MM_OK) {
        return status;
    }
    t->symtab.strings = buf;
    t->symtab.strings_len = (size_t)strsz;
    t->symtab.names_end =
        mm_names_end(t->symtab.strings, t->symtab.strings_len);
    if (versym != 0 &&
        vaddr_range_to_offset(elf, versym, count * 2, &off) == 0) {
        mm_err ignored;
        status = read_alloc(elf, off, count * 2, "DT_VERSYM", &buf, &ignored);
        if (status == MM_ERR_NOMEM) {
            *err = ignored;
            return status;
        }
        t->versym = buf; /* NULL when it could not be read: not used */
    }
    t->symtab.state = MM_TABLE_LOADED;
    return MM_OK;
}

void
mm_elf_names_free(mm_elf_names *names)
{
    free(names->needed);
    free(names->strings);
    memset(names, 0, sizeof(*names));
}

mm_status
mm_elf_dynamic_names(mm_elf *elf, uint64_t dynamic_bias, mm_elf_names *out,
                     mm_err *err)
{
    elf_dynamic d;
    char *strings;
    size_t len, names_end;
    mm_status status;

    memset(out, 0, sizeof(*out));
    if (elf->internal == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0, "no open ELF image");
    }
    status = read_dynamic(elf, dynamic_bias, &d, err);
    if (status == MM_ERR_NOT_FOUND) {
        return MM_OK; /* no dynamic section: no names */
    }
    if (status != MM_OK) {
        return status;
    }
    if (d.needed_count == 0 && !d.have_soname) {
        free_dynamic(&d);
        return MM_OK;
    }
    status = read_dynamic_strings(elf, &d, &strings, &len, err);
    if (status != MM_OK) {
        free_dynamic(&d);
        return status;
    }
    names_end = mm_names_end(strings, len);
    out->strings = strings;
    out->needed =
        calloc(d.needed_count ? d.needed_count : 1, sizeof(*out->needed));
    if (out->needed == NULL) {
        free_dynamic(&d);
        mm_elf_names_free(out);
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory for DT_NEEDED names");
    }
    for (size_t i = 0; i < d.needed_count; i++) {
        if (d.needed[i] >= names_end) {
            status = mm_err_set(err, MM_ERR_PARSE, 0,
                                "DT_NEEDED %zu (0x%" PRIx64
                                ") is not a name in DT_STRTAB",
                                i, d.needed[i]);
            free_dynamic(&d);
            mm_elf_names_free(out);
            return status;
        }
        out->needed[i] = strings + d.needed[i];
    }
    out->needed_count = d.needed_count;
    if (d.have_soname) {
        if (d.soname >= names_end) {
            status = mm_err_set(err, MM_ERR_PARSE, 0,
                                "DT_SONAME (0x%" PRIx64
                                ") is not a name in DT_STRTAB",
                                d.soname);
            free_dynamic(&d);
            mm_elf_names_free(out);
            return status;
        }
        out->soname = strings + d.soname;
    }
    free_dynamic(&d);
    return MM_OK;
}

/* Table which of elf, read on first use and kept: MM_OK when it is there,
 * MM_ERR_NOT_FOUND when the file has none, MM_ERR_PARSE when it is corrupt
 * (the error is kept too, so a corrupt table is not read again). */
static mm_status
get_table(mm_elf *elf, int which, uint64_t bias, elf_table **out, mm_err *err)
{
    elf_internal *in = elf->internal;
    elf_table *t = &in->tables[which];
    mm_status status;

    *out = t;
    if (which == TAB_DYNAMIC && t->symtab.state != MM_TABLE_UNLOADED &&
        t->bias != bias) {
        free_table(t);
    }
    switch (t->symtab.state) {
    case MM_TABLE_LOADED:
        return MM_OK;
    case MM_TABLE_ABSENT:
        return MM_ERR_NOT_FOUND;
    case MM_TABLE_CORRUPT:
        *err = t->symtab.error;
        return t->symtab.error.status;
    default:
        break;
    }
    if (which == TAB_DYNAMIC) {
        status = load_dynamic_table(elf, t, bias, err);
    }
    else {
        status = load_section_table(
            elf, t, which == TAB_SYMTAB ? SHT_SYMTAB : SHT_DYNSYM, err);
    }
    if (status == MM_ERR_PARSE) {
        free_table(t);
        t->symtab.state = MM_TABLE_CORRUPT;
        t->bias = bias;
        t->symtab.error = *err;
    }
    else if (status == MM_ERR_NOMEM) {
        free_table(t); /* not kept: it may work next time */
    }
    return status;
}

/* Looks name up in one table. */
static mm_status
search_table(const mm_elf *elf, const elf_table *t, const char *name,
             mm_elf_symbol *out, mm_err *err, const char *what)
{
    size_t entsize = sym_size[elf->is64], len = strlen(name);
    size_t corrupt = SIZE_MAX;
    const uint8_t *best = NULL;
    int best_rank = 0;

    for (size_t i = 0; i < t->symtab.count; i++) {
        const uint8_t *p = t->symtab.syms + i * entsize;
        uint32_t st_name = mm_field32(elf, p);
        uint16_t shndx = mm_field16(elf, p + (elf->is64 ? 6 : 14));
        uint8_t info = p[elf->is64 ? 4 : 12];
        int rank;

        if (shndx == SHN_UNDEF) {
            continue;
        }
        if (st_name >= t->symtab.names_end) {
            corrupt = corrupt != SIZE_MAX ? corrupt : i;
            continue;
        }
        if (len >= t->symtab.strings_len - st_name ||
            memcmp(t->symtab.strings + st_name, name, len + 1) != 0) {
            continue;
        }
        /* Several symbols may share a name: prefer a global one, and of
         * those the default version. */
        if (info >> 4 == STB_LOCAL) {
            rank = 1;
        }
        else if (t->versym != NULL &&
                 (mm_field16(elf, t->versym + i * 2) & VERSYM_HIDDEN)) {
            rank = 2;
        }
        else {
            rank = 3;
        }
        if (rank > best_rank) {
            best = p;
            best_rank = rank;
            if (rank == 3) {
                break;
            }
        }
    }
    if (best != NULL) {
        uint8_t info = best[elf->is64 ? 4 : 12];
        memset(out, 0, sizeof(*out));
        if (elf->is64) {
            out->value = mm_field64(elf, best + 8);
            out->size = mm_field64(elf, best + 16);
            out->section = mm_field16(elf, best + 6);
        }
        else {
            out->value = mm_field32(elf, best + 4);
            out->size = mm_field32(elf, best + 8);
            out->section = mm_field16(elf, best + 14);
        }
        out->type = info & 0xf;
        out->binding = info >> 4;
        return MM_OK;
    }
    if (corrupt != SIZE_MAX) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "symbol %zu of %s has a name outside its string "
                          "table",
                          corrupt, what);
    }
    return MM_ERR_NOT_FOUND;
}

mm_status
mm_elf_find_symbol(mm_elf *elf, const char *name, uint64_t dynamic_bias,
                   mm_elf_symbol *out, mm_err *err)
{
    mm_err first;
    int have_error = 0;

    if (elf->internal == NULL || name == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0,
                          "no open ELF image or no name");
    }
    first.status = MM_OK;
    /* A corrupt table does not hide the others: its error is reported
     * only when no other table has the name. */
    for (int which = 0; which < TAB_COUNT; which++) {
        elf_table *t;
        mm_err e;
        mm_status status;

        if (which == TAB_DYNAMIC && mm_elf_section_count(elf) > 0) {
            /* With sections, .dynsym is that table (or the file has none,
             * like a separate debug file whose PT_DYNAMIC points at
             * nothing). */
            break;
        }
        status = get_table(elf, which, dynamic_bias, &t, &e);
        if (status == MM_OK) {
            status = search_table(elf, t, name, out, &e, table_names[which]);
        }
        if (status == MM_OK) {
            out->from_dynsym = which != TAB_SYMTAB;
            return MM_OK;
        }
        if (status == MM_ERR_NOMEM) {
            *err = e;
            return status;
        }
        if (status == MM_ERR_PARSE && !have_error) {
            first = e;
            have_error = 1;
        }
    }
    if (have_error) {
        *err = first;
        return MM_ERR_PARSE;
    }
    return mm_err_set(err, MM_ERR_NOT_FOUND, 0, "no defined symbol %.200s",
                      name);
}

/* ---- buffers ---- */
