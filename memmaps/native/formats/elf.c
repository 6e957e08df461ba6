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

#include "core/symindex.h"

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
#define SHN_LORESERVE   0xff00
#define SHN_ABS         0xfff1
#define SHN_XINDEX      0xffff
#define SHT_NULL        0
#define SHT_SYMTAB      2
#define SHT_STRTAB      3
#define SHT_DYNAMIC     6
#define SHT_NOTE        7
#define SHT_NOBITS      8
#define SHT_DYNSYM      11
#define SHT_GNU_VERDEF  0x6ffffffd
#define SHT_GNU_VERSYM  0x6fffffff
#define SHF_ALLOC       2
#define SHF_EXECINSTR   4
#define STB_LOCAL       0
#define STT_NOTYPE      0
#define STT_OBJECT      1
#define STT_FUNC        2
#define STT_SECTION     3
#define STT_FILE        4
#define STT_GNU_IFUNC   10
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
#define DT_VERDEF       0x6ffffffc
#define DT_VERDEFNUM    0x6ffffffd
#define NT_GNU_BUILD_ID 3
/* A .gnu.version entry with this bit names a version that is not the
 * default one (memcpy@GLIBC_2.2.5 beside memcpy@@GLIBC_2.14). */
#define VERSYM_HIDDEN 0x8000
/* The version index bits of a .gnu.version entry. */
#define VERSYM_INDEX 0x7fff
/* The version definition that names the file itself (its soname). */
#define VER_FLG_BASE 1

/* Core files of processes with many mappings use PN_XNUM for more than
 * 65535 program headers; the kernel's vm.max_map_count is 65530 by default,
 * so this is generous. */
#define MAX_SEGMENTS ((uint64_t)1 << 20)
/* What the build-id search reads of notes, in all, whatever the headers
 * claim: real files have two to four PT_NOTE segments (.note.gnu.property
 * apart for its 8-byte alignment, .note.gnu.build-id, .note.ABI-tag) and
 * as many SHT_NOTE sections, of a few hundred bytes in all; a kernel's
 * notes are a few KiB.  64 note segments and sections and 1 MiB of notes
 * are a thousand times that, and bound a file of 65534 PT_NOTE headers
 * that each cover megabytes of notes to one fast read. */
#define MAX_NOTE_TABLES 64
#define MAX_NOTE_BYTES  ((uint64_t)1 << 20)
/* Version definitions read: glibc's libc.so.6 has some 45; the index is
 * 15 bits. */
#define MAX_VERDEFS 32768
/* The bytes of version definitions read without section headers, from
 * DT_VERDEF: 28 bytes for each of MAX_VERDEFS. */
#define MAX_VERDEF_BYTES ((uint64_t)MAX_VERDEFS * 28)
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
    uint64_t flags;
    uint64_t addr;
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

/* One name of a symbol table's name index: the symbol, where its name
 * stops before any @VERSION, and its version. */
typedef struct name_entry {
    uint32_t sym;     /* index in the table */
    uint32_t next;    /* the next entry of its bucket, plus 1; 0 ends */
    uint32_t hash;    /* of the name before any '@' */
    uint32_t length;  /* of the name before any '@' */
    uint32_t version; /* offset of the version name in the strings */
    uint32_t version_length;
    uint8_t rank;       /* 1 local, 2 global hidden version, 3 global */
    uint8_t versioned;  /* it has a version */
    uint8_t is_default; /* name@@VERSION: the default version */
} name_entry;

#define NO_NAME UINT32_MAX

/* A symbol table as read (entries of sym_size[is64] bytes), with what
 * only ELF has beside it, and the two indexes built on first use. */
typedef struct elf_table {
    mm_symtab symtab;
    uint8_t *versym; /* count raw 16-bit .gnu.version entries, or NULL */
    uint64_t bias;   /* TAB_DYNAMIC: the dynamic_bias it was read with */
    /* TAB_DYNAMIC: the DT_* addresses as the dynamic section has them
     * (DT_SYMTAB, DT_STRTAB, DT_HASH, DT_GNU_HASH, DT_VERSYM, DT_VERDEF),
     * to tell whether another bias gives the same table. */
    uint64_t dt[6];
    /* Version definitions (.gnu.version_d or DT_VERDEF): the string
     * offset of the name of each version index, NO_NAME for none; and of
     * the VER_FLG_BASE one. */
    uint32_t *vernames;
    size_t vernames_count;
    uint32_t base_version;
    /* The version names as a set (string offset + 1, 0 for a free slot,
     * open addressing over verset_mask + 1 slots), for telling .symtab's
     * version symbols. */
    uint32_t *verset;
    size_t verset_mask;
    /* The name index: a hash table of chains in table order. */
    int named;
    name_entry *names;
    uint32_t *buckets; /* entry index + 1, 0 for none */
    size_t bucket_mask;
    size_t corrupt; /* the first symbol whose name is outside, or SIZE_MAX */
    /* The address index. */
    int addressed;
    mm_symindex by_address;
} elf_table;

typedef struct elf_internal {
    elf_section *sections; /* NULL when there are no usable ones */
    size_t section_count;
    size_t shstrndx; /* 0: sections have no names */
    /* .shstrtab, read on first use: 0 not yet, 1 read, -1 unreadable. */
    int shstrtab_state;
    char *shstrtab;
    size_t shstrtab_len;
    mm_budget budget;
    int frozen; /* mm_elf_freeze(): nothing more is read */
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
 * table named by what, charging the image's budget and adding len to
 * *charged; with charged NULL the budget bounds the table but is not
 * charged (a table freed before the call returns).  A zero len gives a
 * valid one-byte buffer. */
static mm_status
read_alloc(const mm_elf *elf, uint64_t offset, uint64_t len, const char *what,
           uint64_t *charged, void **out, mm_err *err)
{
    elf_internal *in = elf->internal;
    mm_budget probe = in->budget;
    mm_status status = mm_read_table(
        &elf->source, offset, len, alloc_limit(elf),
        charged != NULL ? &in->budget : &probe, "ELF", what, out, err);

    if (status == MM_OK && charged != NULL) {
        *charged += len;
    }
    return status;
}

/* Whether the caller wants the work stopped: asked every MM_CANCEL_STRIDE
 * steps of *steps. */
static int
cancel_point(const mm_elf *elf, size_t *steps)
{
    if (++*steps < MM_CANCEL_STRIDE) {
        return 0;
    }
    *steps = 0;
    return mm_source_cancelled(&elf->source);
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
    s->flags = getword(elf, p + 8);
    s->addr = getword(elf, p + 8 + w);
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
    elf_internal *in = elf->internal;
    size_t steps = 0;

    *out = NULL;
    if (count > max_count || !in_bounds(elf, offset, count * entsize)) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%" PRIu64 " %s at offset 0x%" PRIx64
                          " run past the end of the ELF image",
                          count, what, offset);
    }
    if (count * item_size > in->budget.left) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%" PRIu64 " %s would take the tables read from "
                          "the ELF image past 0x%" PRIx64 " bytes",
                          count, what, MM_IMAGE_TABLE_BUDGET);
    }
    if (!mm_source_backed(&elf->source, offset, count * entsize)) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%" PRIu64 " %s at offset 0x%" PRIx64
                          " lie on a hole of a sparse file: they are not "
                          "real",
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
        steps += (size_t)n - 1;
        if (cancel_point(elf, &steps)) {
            free(items);
            return mm_cancelled_error(err);
        }
    }
    in->budget.left -= count * item_size;
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
    mm_source source = {.read = read, .ctx = ctx, .size = size};

    return mm_elf_open_source(elf, &source, flags, err);
}

mm_status
mm_elf_open_source(mm_elf *elf, const mm_source *source, unsigned flags,
                   mm_err *err)
{
    uint8_t h[64];
    uint64_t phoff, shoff, phnum;
    unsigned phentsize, shentsize, shnum, shstrndx, w;
    mm_err section_err;
    mm_status status;

    memset(elf, 0, sizeof(*elf));
    elf->source = *source;
    if (source->read == NULL) {
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
    ((elf_internal *)elf->internal)->budget.left = MM_IMAGE_TABLE_BUDGET;
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
        if (status == MM_ERR_NOMEM || status == MM_ERR_CANCELLED) {
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
free_table(elf_internal *in, elf_table *t)
{
    mm_budget_refund(&in->budget, t->symtab.charged);
    mm_symtab_free(&t->symtab);
    free(t->versym);
    free(t->vernames);
    free(t->verset);
    free(t->names);
    free(t->buckets);
    mm_symindex_free(&t->by_address);
    memset(t, 0, sizeof(*t));
}

void
mm_elf_close(mm_elf *elf)
{
    elf_internal *in = elf->internal;

    if (in != NULL) {
        for (int i = 0; i < TAB_COUNT; i++) {
            free_table(in, &in->tables[i]);
        }
        free(in->sections);
        free(in->shstrtab);
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
 * mm_elf_build_id does; 0 when there is none.  *left is what the search
 * may still read of notes, charged here. */
static size_t
notes_build_id(const mm_elf *elf, uint64_t offset, uint64_t size,
               uint64_t align, uint8_t *out, size_t cap, uint64_t *left)
{
    uint8_t *notes;
    uint64_t pos = 0;
    size_t found = 0;

    /* As binutils does: 8-byte alignment for the notes that ask for it
     * (.note.gnu.property on 64-bit), 4 for everything else. */
    align = align == 8 ? 8 : 4;
    if (offset > elf->source.size) {
        return 0;
    }
    if (size > elf->source.size - offset) {
        size = elf->source.size - offset; /* a truncated file: what is there */
    }
    if (size > *left) {
        size = *left; /* what the budget allows: the notes there are read */
    }
    if (size < 12) {
        return 0;
    }
    /* One read for the whole piece: notes are walked in memory. */
    notes = malloc((size_t)size);
    if (notes == NULL) {
        return 0;
    }
    if (read_at(elf, offset, notes, (size_t)size) != 0) {
        /* A segment the source cannot serve whole (a mapping that ends
         * early): its first page, where a build-id is. */
        if (size <= 4096 || read_at(elf, offset, notes, 4096) != 0) {
            free(notes);
            return 0;
        }
        size = 4096;
    }
    *left -= size;
    while (size - pos >= 12) {
        uint32_t namesz = mm_field32(elf, notes + pos);
        uint32_t descsz = mm_field32(elf, notes + pos + 4);
        uint32_t type = mm_field32(elf, notes + pos + 8);
        uint64_t desc = align_up(pos + 12 + namesz, align);
        uint64_t next = align_up(desc + descsz, align);
        if (desc > size || descsz > size - desc) {
            break; /* runs past its segment: corrupt */
        }
        if (type == NT_GNU_BUILD_ID && namesz == 4 &&
            memcmp(notes + pos + 12, "GNU", 4) == 0 && descsz > 0) {
            found = descsz < cap ? descsz : cap;
            memcpy(out, notes + desc, found);
            break;
        }
        if (next >= size) {
            break;
        }
        pos = next;
    }
    free(notes);
    return found;
}

size_t
mm_elf_build_id(mm_elf *elf, uint8_t *out, size_t cap)
{
    const elf_internal *in = elf->internal;
    uint64_t left = MAX_NOTE_BYTES;
    size_t tables = 0, len;

    /* The notes segment first: an image read from memory has no sections. */
    for (size_t i = 0; i < elf->segment_count && tables < MAX_NOTE_TABLES;
         i++) {
        const mm_elf_segment *s = &elf->segments[i];
        if (s->type == MM_PT_NOTE) {
            tables++;
            len = notes_build_id(elf, s->offset, s->filesz, s->align, out, cap,
                                 &left);
            if (len > 0) {
                return len;
            }
        }
    }
    for (size_t i = 0;
         i < mm_elf_section_count(elf) && tables < MAX_NOTE_TABLES; i++) {
        const elf_section *s = &in->sections[i];
        if (s->type == SHT_NOTE) {
            tables++;
            len = notes_build_id(elf, s->offset, s->size, s->addralign, out,
                                 cap, &left);
            if (len > 0) {
                return len;
            }
        }
    }
    return 0;
}

/* ---- sections by name ---- */

/* .shstrtab, read once (bounded and charged like any table); NULL when
 * the sections have no names or it cannot be read. */
static const char *
section_names(const mm_elf *elf, size_t *len)
{
    elf_internal *in = elf->internal;

    if (in->shstrtab_state == 0) {
        const elf_section *names = &in->sections[in->shstrndx];
        uint64_t charged = 0;
        void *buf;
        mm_err ignored;
        in->shstrtab_state = -1;
        if (in->shstrndx != 0 && names->type != SHT_NOBITS &&
            read_alloc(elf, names->offset, names->size, ".shstrtab", &charged,
                       &buf, &ignored) == MM_OK) {
            in->shstrtab = buf;
            in->shstrtab_len = (size_t)names->size;
            in->shstrtab_state = 1;
        }
    }
    *len = in->shstrtab_len;
    return in->shstrtab_state == 1 ? in->shstrtab : NULL;
}

/* Whether section s is named name. */
static int
section_named(const mm_elf *elf, const elf_section *s, const char *name)
{
    size_t names_len, len = strlen(name) + 1;
    const char *names = section_names(elf, &names_len);

    return names != NULL && s->name < names_len &&
           len <= names_len - s->name &&
           memcmp(names + s->name, name, len) == 0;
}

/* The section named name that has bytes in the file, or NULL. */
static const elf_section *
section_with_bytes(const mm_elf *elf, const char *name)
{
    const elf_internal *in = elf->internal;

    for (size_t i = 0; i < mm_elf_section_count(elf); i++) {
        const elf_section *s = &in->sections[i];
        if (s->type != SHT_NOBITS && section_named(elf, s, name)) {
            return s;
        }
    }
    return NULL;
}

/* Reads the .gnu_debuglink name (NUL-terminated into name, of cap bytes)
 * and returns its section, or NULL. */
static const elf_section *
read_debuglink(mm_elf *elf, char *name, size_t cap)
{
    const elf_section *s = section_with_bytes(elf, ".gnu_debuglink");
    size_t len;

    if (s == NULL || cap == 0) {
        return NULL;
    }
    len = s->size < cap ? (size_t)s->size : cap;
    if (read_at(elf, s->offset, name, len) != 0 ||
        memchr(name, '\0', len) == NULL) {
        /* Unreadable, or no NUL in the section (corrupt) or in cap
         * bytes. */
        name[0] = '\0';
        return NULL;
    }
    return s;
}

size_t
mm_elf_debuglink(mm_elf *elf, char *out, size_t cap)
{
    if (cap == 0) {
        return 0;
    }
    out[0] = '\0';
    return read_debuglink(elf, out, cap) != NULL ? strlen(out) : 0;
}

int
mm_elf_debuglink_crc(mm_elf *elf, uint32_t *crc)
{
    char name[MM_ELF_DEBUGLINK_MAX + 1];
    const elf_section *s = read_debuglink(elf, name, sizeof(name));
    uint8_t raw[4];
    uint64_t at;

    if (s == NULL) {
        return -1;
    }
    /* The name, its NUL, padding to 4 bytes, then the CRC32 in the file's
     * byte order (as objcopy --add-gnu-debuglink writes it). */
    at = align_up((uint64_t)strlen(name) + 1, 4);
    if (at > s->size || s->size - at < 4 || s->offset > UINT64_MAX - at ||
        read_at(elf, s->offset + at, raw, 4) != 0) {
        return -1;
    }
    *crc = mm_field32(elf, raw);
    return 0;
}

/* ---- symbol tables ---- */

/* A symbol's fields, decoded. */
typedef struct raw_symbol {
    uint32_t name;
    uint8_t type;
    uint8_t binding;
    uint16_t shndx;
    uint64_t value;
    uint64_t size;
} raw_symbol;

static void
decode_symbol(const mm_elf *elf, const elf_table *t, size_t index,
              raw_symbol *out)
{
    const uint8_t *p = t->symtab.syms + index * sym_size[elf->is64];
    uint8_t info;

    out->name = mm_field32(elf, p);
    if (elf->is64) {
        info = p[4];
        out->shndx = mm_field16(elf, p + 6);
        out->value = mm_field64(elf, p + 8);
        out->size = mm_field64(elf, p + 16);
    }
    else {
        out->value = mm_field32(elf, p + 4);
        out->size = mm_field32(elf, p + 8);
        info = p[12];
        out->shndx = mm_field16(elf, p + 14);
    }
    out->type = info & 0xf;
    out->binding = info >> 4;
}

/* FNV-1a over the first len bytes of a name. */
static uint32_t
name_hash(const char *name, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)name[i]) * 16777619u;
    }
    return h;
}

/* The smallest power of two >= n, at least 16: a bucket count. */
static size_t
buckets_for(size_t n)
{
    size_t b = 16;

    while (b < n && b < ((size_t)1 << 31)) {
        b *= 2;
    }
    return b;
}

/* Whether name (len bytes) is the name of one of t's version
 * definitions. */
static int
is_version_name(const elf_table *t, const char *name, size_t len)
{
    uint32_t h = name_hash(name, len);

    if (t->verset == NULL) {
        return 0;
    }
    for (size_t i = h & t->verset_mask, probes = 0;
         t->verset[i] != 0 && probes <= t->verset_mask;
         i = (i + 1) & t->verset_mask, probes++) {
        const char *v = t->symtab.strings + (t->verset[i] - 1);
        if (strlen(v) == len && memcmp(v, name, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Reads the version definitions in buf (len bytes, at most count of them,
 * as .gnu.version_d and DT_VERDEF lay them out) into t, whose strings they
 * name.  Each is 20 bytes (vd_version, vd_flags, vd_ndx, vd_cnt, vd_hash,
 * vd_aux, vd_next), its first auxiliary record (vda_name, vda_next) vd_aux
 * bytes after it, the next one vd_next bytes after it.  A record that does
 * not fit, or a name outside the strings, is left out. */
static mm_status
parse_verdefs(const mm_elf *elf, elf_table *t, const uint8_t *buf, size_t len,
              uint64_t count, mm_err *err)
{
    size_t highest = 0, named = 0;

    if (count > MAX_VERDEFS) {
        count = MAX_VERDEFS;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t off = 0;
        for (uint64_t i = 0; i < count; i++) {
            uint16_t flags, ndx, cnt;
            uint32_t aux, next;
            if (off > len || len - off < 20) {
                break;
            }
            flags = mm_field16(elf, buf + off + 2);
            ndx = mm_field16(elf, buf + off + 4) & VERSYM_INDEX;
            cnt = mm_field16(elf, buf + off + 6);
            aux = mm_field32(elf, buf + off + 12);
            next = mm_field32(elf, buf + off + 16);
            if (cnt > 0 && aux <= len - off && len - off - aux >= 8) {
                uint32_t name = mm_field32(elf, buf + off + aux);
                if (name < t->symtab.names_end) {
                    if (pass == 0) {
                        highest = ndx > highest ? ndx : highest;
                        named++;
                    }
                    else {
                        t->vernames[ndx] = name;
                        if ((flags & VER_FLG_BASE) &&
                            t->base_version == NO_NAME) {
                            t->base_version = name;
                        }
                    }
                }
            }
            if (next == 0 || next > len - off) {
                break;
            }
            off += next;
        }
        if (pass == 0) {
            if (named == 0) {
                return MM_OK;
            }
            t->vernames = malloc((highest + 1) * sizeof(*t->vernames));
            if (t->vernames == NULL) {
                return mm_err_set(err, MM_ERR_NOMEM, 0,
                                  "out of memory for version definitions");
            }
            for (size_t i = 0; i <= highest; i++) {
                t->vernames[i] = NO_NAME;
            }
            t->vernames_count = highest + 1;
        }
    }
    /* And as a set of names, for .symtab. */
    t->verset_mask = buckets_for(2 * named) - 1;
    t->verset = calloc(t->verset_mask + 1, sizeof(*t->verset));
    if (t->verset == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory for version definitions");
    }
    for (size_t v = 0; v < t->vernames_count; v++) {
        const char *name;
        size_t i;
        if (t->vernames[v] == NO_NAME) {
            continue;
        }
        name = t->symtab.strings + t->vernames[v];
        i = name_hash(name, strlen(name)) & t->verset_mask;
        while (t->verset[i] != 0) {
            i = (i + 1) & t->verset_mask;
        }
        t->verset[i] = t->vernames[v] + 1;
    }
    return MM_OK;
}

/* Reads len bytes of version definitions at offset and parses them into
 * t.  Optional: only running out of memory or being stopped fails. */
static mm_status
read_verdefs(const mm_elf *elf, elf_table *t, uint64_t offset, uint64_t len,
             uint64_t count, mm_err *err)
{
    void *buf;
    mm_err ignored;
    mm_status status = read_alloc(elf, offset, len, "version definitions",
                                  NULL, &buf, &ignored);

    if (status == MM_ERR_NOMEM || status == MM_ERR_CANCELLED) {
        *err = ignored;
        return status;
    }
    if (status != MM_OK) {
        return MM_OK;
    }
    status = parse_verdefs(elf, t, buf, (size_t)len, count, err);
    free(buf);
    return status;
}

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
                        &t->symtab.charged, &buf, err);
    if (status != MM_OK) {
        return status;
    }
    t->symtab.syms = buf;
    t->symtab.count = (size_t)(s->size / entsize);
    status = read_alloc(elf, str->offset, str->size,
                        type == SHT_SYMTAB ? "the string table of .symtab"
                                           : "the string table of .dynsym",
                        &t->symtab.charged, &buf, err);
    if (status != MM_OK) {
        return status;
    }
    t->symtab.strings = buf;
    t->symtab.strings_len = (size_t)str->size;
    t->symtab.names_end =
        mm_names_end(t->symtab.strings, t->symtab.strings_len);

    /* .gnu.version says which of several same-named symbols is the default
     * version, .gnu.version_d what the versions are called.  Optional: a
     * missing or odd one is simply not used. */
    for (size_t i = 0; type == SHT_DYNSYM && i < in->section_count; i++) {
        const elf_section *v = &in->sections[i];
        mm_err ignored;
        if (v->type == SHT_GNU_VERSYM && v->link == index &&
            v->size / 2 >= t->symtab.count) {
            status =
                read_alloc(elf, v->offset, (uint64_t)t->symtab.count * 2,
                           ".gnu.version", &t->symtab.charged, &buf, &ignored);
            if (status == MM_ERR_NOMEM || status == MM_ERR_CANCELLED) {
                *err = ignored;
                return status;
            }
            t->versym = buf;
            break;
        }
    }
    t->base_version = NO_NAME;
    for (size_t i = 0; t->versym != NULL && i < in->section_count; i++) {
        const elf_section *v = &in->sections[i];
        if (v->type == SHT_GNU_VERDEF && v->link == s->link) {
            status = read_verdefs(elf, t, v->offset, v->size, v->info, err);
            if (status != MM_OK) {
                return status;
            }
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

/* The file offset of vaddr and how many file bytes of its PT_LOAD follow
 * it, at most max_len; 0 on success. */
static int
vaddr_span(const mm_elf *elf, uint64_t vaddr, uint64_t max_len,
           uint64_t *offset, uint64_t *len)
{
    for (size_t i = 0; i < elf->segment_count; i++) {
        const mm_elf_segment *s = &elf->segments[i];
        if (s->type == MM_PT_LOAD &&
            mm_translate(s->vaddr, s->filesz, s->offset, vaddr, 1, offset) ==
                0) {
            uint64_t left = s->filesz - (vaddr - s->vaddr);
            *len = left < max_len ? left : max_len;
            return 0;
        }
    }
    return -1;
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
    size_t steps = 0;

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
        steps += n - 1;
        if (cancel_point(elf, &steps)) {
            return mm_cancelled_error(err);
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
        steps += (size_t)n - 1;
        if (cancel_point(elf, &steps)) {
            return mm_cancelled_error(err);
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
    uint64_t symtab, strtab, strsz, syment, hash, gnu_hash, versym, verdef,
        verdefnum;
    uint64_t raw[6]; /* the same addresses before unbias, as elf_table.dt */
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
        if (vaddr_span(elf, s->vaddr, s->filesz, offset, size) != 0) {
            *offset = s->offset;
            *size = s->filesz;
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
                    d->raw[0] = val;
                    d->symtab = unbias(val, bias);
                    d->have_symtab = 1;
                }
                break;
            case DT_STRTAB:
                if (!d->have_strtab) {
                    d->raw[1] = val;
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
                d->raw[2] = d->hash ? d->raw[2] : val;
                d->hash = d->hash ? d->hash : unbias(val, bias);
                break;
            case DT_GNU_HASH:
                d->raw[3] = d->gnu_hash ? d->raw[3] : val;
                d->gnu_hash = d->gnu_hash ? d->gnu_hash : unbias(val, bias);
                break;
            case DT_VERSYM:
                d->raw[4] = d->versym ? d->raw[4] : val;
                d->versym = d->versym ? d->versym : unbias(val, bias);
                break;
            case DT_VERDEF:
                d->raw[5] = d->verdef ? d->raw[5] : val;
                d->verdef = d->verdef ? d->verdef : unbias(val, bias);
                break;
            case DT_VERDEFNUM:
                d->verdefnum = d->verdefnum ? d->verdefnum : val;
                break;
            default:
                break;
            }
        }
    }
    return MM_OK;
}

/* Reads the dynamic string table d names into a new buffer (*out, of
 * *len bytes, to be freed), bounded by the image's budget but not charged
 * to it. */
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
    status = read_alloc(elf, off, d->strsz, "DT_STRTAB", NULL, &buf, err);
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
    uint64_t count = 0, off, len, max_count;
    elf_dynamic d;
    void *buf;
    mm_status status;

    t->bias = bias;
    t->base_version = NO_NAME;
    status = read_dynamic(elf, bias, &d, err);
    if (status == MM_ERR_NOT_FOUND) {
        t->symtab.state = MM_TABLE_ABSENT;
        return MM_ERR_NOT_FOUND;
    }
    if (status != MM_OK) {
        return status;
    }
    free(d.needed); /* the rest of d is plain fields */
    d.needed = NULL;
    memcpy(t->dt, d.raw, sizeof(t->dt));
    if (!d.have_symtab) {
        t->symtab.state = MM_TABLE_ABSENT;
        return MM_ERR_NOT_FOUND;
    }
    if (!d.have_strtab || !d.have_strsz) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "PT_DYNAMIC has DT_SYMTAB without DT_STRTAB and "
                          "DT_STRSZ");
    }
    if (d.syment != symsize) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "DT_SYMENT is %" PRIu64 ", not %zu", d.syment,
                          symsize);
    }
    max_count = alloc_limit(elf) / symsize;
    if (d.hash != 0) {
        /* nbucket, then nchain, which is the number of symbols. */
        uint8_t h[8];
        if (mm_elf_vaddr_to_offset(elf, d.hash, &off) != 0 ||
            read_at(elf, off, h, sizeof(h)) != 0) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "DT_HASH 0x%" PRIx64 " cannot be read", d.hash);
        }
        count = mm_field32(elf, h + 4);
    }
    else if (d.gnu_hash != 0) {
        if (mm_elf_vaddr_to_offset(elf, d.gnu_hash, &off) != 0) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "DT_GNU_HASH 0x%" PRIx64
                              " is not in a PT_LOAD segment",
                              d.gnu_hash);
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
        vaddr_range_to_offset(elf, d.symtab, count * symsize, &off) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "DT_SYMTAB 0x%" PRIx64 " with %" PRIu64
                          " symbols is not in a PT_LOAD segment",
                          d.symtab, count);
    }
    status = read_alloc(elf, off, count * symsize, "DT_SYMTAB",
                        &t->symtab.charged, &buf, err);
    if (status != MM_OK) {
        return status;
    }
    t->symtab.syms = buf;
    t->symtab.count = (size_t)count;
    if (vaddr_range_to_offset(elf, d.strtab, d.strsz, &off) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "DT_STRTAB 0x%" PRIx64 " of DT_STRSZ %" PRIu64
                          " is not in a PT_LOAD segment",
                          d.strtab, d.strsz);
    }
    status = read_alloc(elf, off, d.strsz, "DT_STRTAB", &t->symtab.charged,
                        &buf, err);
    if (status != MM_OK) {
        return status;
    }
    t->symtab.strings = buf;
    t->symtab.strings_len = (size_t)d.strsz;
    t->symtab.names_end =
        mm_names_end(t->symtab.strings, t->symtab.strings_len);
    if (d.versym != 0 &&
        vaddr_range_to_offset(elf, d.versym, count * 2, &off) == 0) {
        mm_err ignored;
        status = read_alloc(elf, off, count * 2, "DT_VERSYM",
                            &t->symtab.charged, &buf, &ignored);
        if (status == MM_ERR_NOMEM || status == MM_ERR_CANCELLED) {
            *err = ignored;
            return status;
        }
        t->versym = buf; /* NULL when it could not be read: not used */
    }
    if (t->versym != NULL && d.verdef != 0 &&
        vaddr_span(elf, d.verdef, MAX_VERDEF_BYTES, &off, &len) == 0) {
        status = read_verdefs(elf, t, off, len, d.verdefnum, err);
        if (status != MM_OK) {
            return status;
        }
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
    if (which == TAB_DYNAMIC && t->bias != bias &&
        (t->symtab.state == MM_TABLE_LOADED ||
         t->symtab.state == MM_TABLE_CORRUPT)) {
        /* Read for another bias: the same table when the bias moves none
         * of its addresses (a file's, whose addresses lie below any load
         * bias), else read again, unless nothing more may be read.  An
         * absent one is absent whatever the bias. */
        int same = t->symtab.state == MM_TABLE_LOADED;
        for (int i = 0; same && i < 6; i++) {
            same = unbias(t->dt[i], bias) == unbias(t->dt[i], t->bias);
        }
        if (!same && in->frozen) {
            return mm_err_set(err, MM_ERR_ARGUMENT, 0,
                              "the dynamic symbol table was read with "
                              "dynamic_bias 0x%" PRIx64
                              " and the image's bytes are let go: another "
                              "bias needs the image opened again",
                              t->bias);
        }
        if (!same) {
            free_table(in, t);
        }
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
        free_table(in, t);
        t->symtab.state = MM_TABLE_CORRUPT;
        t->bias = bias;
        t->symtab.error = *err;
    }
    else if (status == MM_ERR_NOMEM || status == MM_ERR_CANCELLED) {
        free_table(in, t); /* not kept: it may work next time */
    }
    return status;
}

/* Whether a separate debug file's .gnu.version_d is there but has no bytes
 * (objcopy --only-keep-debug makes it SHT_NOBITS): the version symbols of
 * its .symtab are then known only by their shape. */
static int
has_empty_verdefs(const mm_elf *elf)
{
    const elf_internal *in = elf->internal;

    for (size_t i = 0; i < mm_elf_section_count(elf); i++) {
        const elf_section *s = &in->sections[i];
        if (s->type == SHT_NOBITS && section_named(elf, s, ".gnu.version_d")) {
            return 1;
        }
    }
    return 0;
}

/* Builds t's name index.  Left out, as never matching a name: undefined
 * symbols (SHN_UNDEF), file and section symbols (STT_FILE, STT_SECTION),
 * empty names, and version symbols: the SHN_ABS STT_OBJECT symbol of value
 * 0 that GNU ld adds for each version definition (GLIBC_2.2.5 in libc's
 * .dynsym).  In a table with .gnu.version, a symbol is that when its name
 * is the name of the version its own entry points at (the test binutils
 * uses to print it without a version, bfd_elf_get_symbol_version_string),
 * or the name of the VER_FLG_BASE definition (the file's own name).  In
 * .symtab, which has no .gnu.version, it is an SHN_ABS STT_OBJECT symbol
 * of value 0 and size 0 whose name is a version definition's (all such
 * symbols, in a debug file whose .gnu.version_d has no bytes). */
static mm_status
index_names(mm_elf *elf, int which, elf_table *t, mm_err *err)
{
    const elf_table *versions = NULL;
    const char *strings = t->symtab.strings;
    size_t count = t->symtab.count, n = 0, steps = 0;
    int by_shape = 0;

    if (t->named) {
        return MM_OK;
    }
    if (which == TAB_SYMTAB && t->versym == NULL) {
        elf_table *dynsym;
        mm_err e;
        mm_status status = get_table(elf, TAB_DYNSYM, 0, &dynsym, &e);
        if (status == MM_ERR_NOMEM || status == MM_ERR_CANCELLED) {
            *err = e;
            return status;
        }
        if (status == MM_OK && dynsym->verset != NULL) {
            versions = dynsym;
        }
        else {
            by_shape = has_empty_verdefs(elf);
        }
    }
    t->bucket_mask = buckets_for(count) - 1;
    t->names = malloc((count ? count : 1) * sizeof(*t->names));
    t->buckets = calloc(t->bucket_mask + 1, sizeof(*t->buckets));
    if (t->names == NULL || t->buckets == NULL) {
        free(t->names);
        free(t->buckets);
        t->names = NULL;
        t->buckets = NULL;
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory indexing %zu symbols", count);
    }
    t->corrupt = SIZE_MAX;
    /* From the last symbol to the first (0 is the null symbol), each put
     * at the head of its chain: chains run in table order. */
    for (size_t i = count; i-- > 1;) {
        raw_symbol sym;
        name_entry e;
        const char *name;
        size_t len;
        size_t bucket;

        if (cancel_point(elf, &steps)) {
            free(t->names);
            free(t->buckets);
            t->names = NULL;
            t->buckets = NULL;
            return mm_cancelled_error(err);
        }
        decode_symbol(elf, t, i, &sym);
        if (sym.shndx == SHN_UNDEF || sym.type == STT_FILE ||
            sym.type == STT_SECTION) {
            continue;
        }
        if (sym.name >= t->symtab.names_end) {
            t->corrupt = i;
            continue;
        }
        name = strings + sym.name;
        if (name[0] == '\0') {
            continue;
        }
        len = strlen(name);
        memset(&e, 0, sizeof(e));
        e.sym = (uint32_t)i;
        e.length = (uint32_t)len;
        e.rank = sym.binding == STB_LOCAL ? 1 : 3;
        if (t->versym != NULL) {
            uint16_t v = mm_field16(elf, t->versym + i * 2);
            uint16_t ndx = v & VERSYM_INDEX;
            if (t->base_version != NO_NAME &&
                strcmp(name, strings + t->base_version) == 0) {
                continue;
            }
            /* Index 0 is local, 1 the unversioned global: 2 and up name a
             * version definition (or a version needed from another file,
             * which only undefined symbols have). */
            if (ndx >= 2 && ndx < t->vernames_count &&
                t->vernames[ndx] != NO_NAME) {
                const char *version = strings + t->vernames[ndx];
                if (strcmp(name, version) == 0) {
                    continue;
                }
                e.versioned = 1;
                e.version = t->vernames[ndx];
                e.version_length = (uint32_t)strlen(version);
                e.is_default = !(v & VERSYM_HIDDEN);
            }
            if ((v & VERSYM_HIDDEN) && e.rank == 3) {
                e.rank = 2;
            }
        }
        else {
            /* .symtab spells versions out: name@VERSION is hidden,
             * name@@VERSION the default. */
            const char *at = memchr(name, '@', len);
            if (at != NULL) {
                size_t skip = at[1] == '@' ? 2 : 1;
                e.length = (uint32_t)(at - name);
                e.versioned = 1;
                e.is_default = skip == 2;
                e.version = (uint32_t)(sym.name + e.length + skip);
                e.version_length = (uint32_t)(len - e.length - skip);
                if (!e.is_default && e.rank == 3) {
                    e.rank = 2;
                }
            }
            else if (sym.shndx == SHN_ABS && sym.type == STT_OBJECT &&
                     sym.value == 0 && sym.size == 0 &&
                     (by_shape || (versions != NULL &&
                                   is_version_name(versions, name, len)))) {
                continue;
            }
        }
        e.hash = name_hash(name, e.length);
        bucket = e.hash & t->bucket_mask;
        e.next = t->buckets[bucket];
        t->names[n] = e;
        t->buckets[bucket] = (uint32_t)(n + 1);
        n++;
    }
    t->named = 1;
    return MM_OK;
}

/* The entry of t's name index for query (name, name@VERSION or
 * name@@VERSION), or NULL.  A plain name prefers a global symbol of the
 * default version (or of none) to a global one of a hidden version, and
 * that to a local one; name@VERSION matches only that version, hidden or
 * default; name@@VERSION only when it is the default.  Of equals, the
 * first in the table. */
static const name_entry *
lookup_name(const mm_elf *elf, const elf_table *t, const char *query)
{
    size_t qlen = strlen(query), base = qlen, verlen = 0;
    const char *at = memchr(query, '@', qlen), *version = NULL;
    const name_entry *best = NULL;
    int want_default = 0;
    uint32_t h;

    if (at != NULL) {
        base = (size_t)(at - query);
        want_default = at[1] == '@';
        version = at + 1 + want_default;
        verlen = qlen - (size_t)(version - query);
    }
    h = name_hash(query, base);
    for (uint32_t i = t->buckets[h & t->bucket_mask]; i != 0;) {
        const name_entry *e = &t->names[i - 1];
        const uint8_t *p =
            t->symtab.syms + (size_t)e->sym * sym_size[elf->is64];
        i = e->next;
        if (e->hash != h || e->length != base ||
            memcmp(t->symtab.strings + mm_field32(elf, p), query, base) != 0) {
            continue;
        }
        if (version != NULL &&
            (!e->versioned || e->version_length != verlen ||
             memcmp(t->symtab.strings + e->version, version, verlen) != 0 ||
             (want_default && !e->is_default))) {
            continue;
        }
        if (best == NULL || e->rank > best->rank) {
            best = e;
            if (e->rank == 3) {
                break;
            }
        }
    }
    return best;
}

static void
fill_symbol(const mm_elf *elf, const elf_table *t, size_t index, int which,
            mm_elf_symbol *out)
{
    raw_symbol sym;

    decode_symbol(elf, t, index, &sym);
    memset(out, 0, sizeof(*out));
    out->value = sym.value;
    out->size = sym.size;
    out->section = sym.shndx;
    out->type = sym.type;
    out->binding = sym.binding;
    out->from_dynsym = which != TAB_SYMTAB;
}

/* Whether table which is one to search: the PT_DYNAMIC one only when there
 * are no sections (with sections, .dynsym is that table, or the file has
 * none, like a separate debug file whose PT_DYNAMIC points at nothing). */
static int
searched(const mm_elf *elf, int which)
{
    return which != TAB_DYNAMIC || mm_elf_section_count(elf) == 0;
}

/* How the tables of one search failed: a corrupt table does not hide the
 * others, so its error is kept and reported only when no other table
 * answers; running out of memory, being cancelled or a bad argument end
 * the search at once. */
typedef struct table_failures {
    int corrupt;
    mm_err first; /* the first corrupt table's error */
} table_failures;

/* Notes a table's status; 1 when it ends the search (the caller returns
 * it, with e). */
static int
table_failed(table_failures *failures, mm_status status, const mm_err *e)
{
    if (status == MM_ERR_NOMEM || status == MM_ERR_CANCELLED ||
        status == MM_ERR_ARGUMENT) {
        return 1;
    }
    if (status == MM_ERR_PARSE && !failures->corrupt) {
        failures->first = *e;
        failures->corrupt = 1;
    }
    return 0;
}

mm_status
mm_elf_find_symbol(mm_elf *elf, const char *name, uint64_t dynamic_bias,
                   mm_elf_symbol *out, mm_err *err)
{
    table_failures failures = {0};

    if (elf->internal == NULL || name == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0,
                          "no open ELF image or no name");
    }
    for (int which = 0; which < TAB_COUNT && searched(elf, which); which++) {
        elf_table *t;
        mm_err e;
        mm_status status = get_table(elf, which, dynamic_bias, &t, &e);

        if (status == MM_OK) {
            status = index_names(elf, which, t, &e);
        }
        if (status == MM_OK) {
            const name_entry *found = lookup_name(elf, t, name);
            if (found != NULL) {
                fill_symbol(elf, t, found->sym, which, out);
                return MM_OK;
            }
            status = MM_ERR_NOT_FOUND;
            if (t->corrupt != SIZE_MAX) {
                status = mm_err_set(&e, MM_ERR_PARSE, 0,
                                    "symbol %zu of %s has a name outside "
                                    "its string table",
                                    t->corrupt, table_names[which]);
            }
        }
        if (table_failed(&failures, status, &e)) {
            *err = e;
            return status;
        }
    }
    if (failures.corrupt) {
        *err = failures.first;
        return MM_ERR_PARSE;
    }
    return mm_err_set(err, MM_ERR_NOT_FOUND, 0, "no defined symbol %.200s",
                      name);
}

/* ---- symbols by address ---- */

/* Where a symbol of no size at value may reach: the end of the section
 * that holds it when there are sections, else of the PT_LOAD that holds
 * it; and only in code (SHF_EXECINSTR, PF_X): a label of no size in data
 * holds nothing but its own address. */
static uint64_t
span_limit(const mm_elf *elf, uint16_t shndx, uint64_t value)
{
    const elf_internal *in = elf->internal;

    if (mm_elf_section_count(elf) > 0 && shndx != SHN_XINDEX) {
        const elf_section *s;
        if (shndx >= in->section_count) {
            return value;
        }
        s = &in->sections[shndx];
        if ((s->flags & (SHF_ALLOC | SHF_EXECINSTR)) !=
                (SHF_ALLOC | SHF_EXECINSTR) ||
            value < s->addr || value - s->addr >= s->size) {
            return value;
        }
        return s->addr + s->size; /* no wrap: value - addr < size */
    }
    for (size_t i = 0; i < elf->segment_count; i++) {
        const mm_elf_segment *s = &elf->segments[i];
        if (s->type == MM_PT_LOAD && (s->flags & 1) && value >= s->vaddr &&
            value - s->vaddr < s->memsz) {
            return s->vaddr + s->memsz;
        }
    }
    return value;
}

/* Builds t's address index: the defined symbols that hold code or data
 * (STT_FUNC, STT_GNU_IFUNC, STT_OBJECT, STT_NOTYPE, in a section, named).
 * Not STT_TLS (an offset in a thread's block), STT_FILE, STT_SECTION,
 * SHN_ABS (no address of the image) or SHN_UNDEF. */
static mm_status
index_addresses(mm_elf *elf, elf_table *t, mm_err *err)
{
    size_t count = t->symtab.count, n = 0, steps = 0;
    mm_symaddr *entries;
    mm_status status;

    if (t->addressed) {
        return MM_OK;
    }
    entries = malloc((count ? count : 1) * sizeof(*entries));
    if (entries == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory indexing %zu symbols", count);
    }
    for (size_t i = 1; i < count; i++) {
        raw_symbol sym;
        mm_symaddr *e;
        if (cancel_point(elf, &steps)) {
            free(entries);
            return mm_cancelled_error(err);
        }
        decode_symbol(elf, t, i, &sym);
        if (sym.shndx == SHN_UNDEF ||
            (sym.shndx >= SHN_LORESERVE && sym.shndx != SHN_XINDEX) ||
            (sym.type != STT_FUNC && sym.type != STT_GNU_IFUNC &&
             sym.type != STT_OBJECT && sym.type != STT_NOTYPE) ||
            sym.name >= t->symtab.names_end ||
            t->symtab.strings[sym.name] == '\0') {
            continue;
        }
        e = &entries[n++];
        e->start = sym.value;
        e->id = (uint32_t)i;
        e->flags = 0;
        if (sym.binding != STB_LOCAL) {
            e->flags |= MM_SYMADDR_GLOBAL;
        }
        if (sym.type == STT_FUNC || sym.type == STT_GNU_IFUNC) {
            e->flags |= MM_SYMADDR_FUNCTION;
        }
        if (sym.size > 0) {
            e->flags |= MM_SYMADDR_SIZED;
            e->end = sym.size > UINT64_MAX - sym.value ? UINT64_MAX
                                                       : sym.value + sym.size;
        }
        else if (sym.type != STT_OBJECT) {
            e->flags |= MM_SYMADDR_SPAN;
            e->end = span_limit(elf, sym.shndx, sym.value);
        }
        else {
            e->end = sym.value;
        }
    }
    status = mm_symindex_build(&t->by_address, entries, n, &elf->source, err);
    if (status != MM_OK) {
        return status;
    }
    t->addressed = 1;
    return MM_OK;
}

mm_status
mm_elf_symbolize(mm_elf *elf, uint64_t vaddr, uint64_t dynamic_bias,
                 mm_elf_match *out, mm_err *err)
{
    table_failures failures = {0};

    if (elf->internal == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0, "no open ELF image");
    }
    /* .symtab first: it has the local symbols too.  .dynsym (or the
     * PT_DYNAMIC table) for what it lacks, or when there is none. */
    for (int which = 0; which < TAB_COUNT && searched(elf, which); which++) {
        elf_table *t;
        mm_err e;
        mm_status status = get_table(elf, which, dynamic_bias, &t, &e);

        if (status == MM_OK) {
            status = index_addresses(elf, t, &e);
        }
        if (status == MM_OK) {
            const mm_symaddr *found = mm_symindex_find(&t->by_address, vaddr);
            if (found != NULL) {
                raw_symbol sym;
                memset(out, 0, sizeof(*out));
                fill_symbol(elf, t, found->id, which, &out->symbol);
                decode_symbol(elf, t, found->id, &sym);
                out->name = t->symtab.strings + sym.name;
                if (t->versym != NULL) {
                    uint16_t v = mm_field16(elf, t->versym + found->id * 2);
                    uint16_t ndx = v & VERSYM_INDEX;
                    if (ndx >= 2 && ndx < t->vernames_count &&
                        t->vernames[ndx] != NO_NAME) {
                        out->version = t->symtab.strings + t->vernames[ndx];
                        out->hidden = (v & VERSYM_HIDDEN) != 0;
                    }
                }
                return MM_OK;
            }
            continue;
        }
        if (table_failed(&failures, status, &e)) {
            *err = e;
            return status;
        }
    }
    if (failures.corrupt) {
        *err = failures.first;
        return MM_ERR_PARSE;
    }
    return mm_err_set(err, MM_ERR_NOT_FOUND, 0, "no symbol holds 0x%" PRIx64,
                      vaddr);
}

mm_status
mm_elf_load_symbols(mm_elf *elf, uint64_t dynamic_bias, mm_err *err)
{
    if (elf->internal == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0, "no open ELF image");
    }
    for (int which = 0; which < TAB_COUNT && searched(elf, which); which++) {
        elf_table *t;
        mm_err e;
        mm_status status = get_table(elf, which, dynamic_bias, &t, &e);

        if (status == MM_OK) {
            status = index_names(elf, which, t, &e);
        }
        if (status == MM_OK) {
            status = index_addresses(elf, t, &e);
        }
        if (status == MM_ERR_NOMEM || status == MM_ERR_CANCELLED) {
            *err = e;
            return status;
        }
        /* A corrupt or missing table stays so: its lookups say it. */
    }
    return MM_OK;
}

void
mm_elf_freeze(mm_elf *elf)
{
    elf_internal *in = elf->internal;

    if (in != NULL) {
        in->frozen = 1;
    }
}

uint64_t
mm_elf_table_bytes(const mm_elf *elf)
{
    const elf_internal *in = elf->internal;

    return in == NULL ? 0 : MM_IMAGE_TABLE_BUDGET - in->budget.left;
}
