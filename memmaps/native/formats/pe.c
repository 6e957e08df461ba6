/* The portable PE reader (see pe.h).
 *
 * Nothing read from the input is trusted, as in elf.c and macho.c: every
 * field is decoded little-endian from bytes read whole, every RVA + length
 * is summed in 64 bits and checked against the place that must hold it (the
 * headers, a section's raw data, SizeOfImage, the source's size), every
 * allocation is bounded by a cap of pe.h, and every loop by a count that was
 * checked against one.
 *
 * The layouts come from Microsoft's PE format specification ("PE Format",
 * learn.microsoft.com) and <winnt.h>; they are spelled out here because
 * that header exists only on Windows.
 */
#include "formats/pe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOS_LFANEW_AT    0x3c
#define FILE_HEADER_SIZE 20
#define SECTION_SIZE     40
#define DEBUG_ENTRY_SIZE 28
#define EXPORT_DIR_SIZE  40
#define MAGIC_PE32       0x10b
#define MAGIC_PE32PLUS   0x20b
#define DEBUG_CODEVIEW   2
/* "RSDS", the GUID, the age: the fixed part of a CodeView 7.0 record. */
#define RSDS_FIXED 24
/* Where the data directories start in each optional header, indexed by
 * is64. */
static const uint32_t directories_at[2] = {96, 112};
/* A string is read in pieces of this size, aligned to it, so that none
 * crosses a page boundary of the image (the loader aligns images to 64 KiB,
 * so an RVA's page offset is its address's): in memory a name just before
 * an unmapped page must not fail for bytes past its NUL. */
#define STRING_PIECE 256u

/* An address table entry as decided when the table is read. */
enum {
    FN_EMPTY = 0, /* RVA 0: no export at this ordinal */
    FN_CODE,      /* an RVA inside the image */
    FN_FORWARDER, /* a string inside the export directory */
    FN_OUTSIDE,   /* an RVA at or past SizeOfImage */
    FN_BAD_FORWARDER,
};

#define NO_STRING UINT32_MAX

typedef struct pe_exports {
    int state; /* MM_TABLE_* */
    mm_err error;
    mm_pe_export_info info;
    uint32_t dir_rva, dir_size;
    uint32_t *functions;     /* info.function_count RVAs */
    uint8_t *kinds;          /* FN_* per function */
    uint32_t *forwarder;     /* per function: offset into strings, NO_STRING */
    uint32_t *first_name;    /* per function: lowest name index, UINT32_MAX */
    uint16_t *name_ordinals; /* info.name_count of them */
    uint32_t *name;          /* per name: offset into strings, NO_STRING */
    uint32_t *unnamed;       /* functions without a name, in order */
    size_t unnamed_count;
    int sorted; /* names sound and strictly ascending */
    char *strings;
    size_t strings_len, strings_cap;
    uint64_t scanned; /* string bytes examined, against the cap */
    /* The export directory's bytes, when they could be read in one piece:
     * most strings are found there without a read of their own. */
    uint8_t *blob;
    uint32_t blob_len;
} pe_exports;

typedef struct pe_internal {
    pe_exports exports;
} pe_internal;

/* ---- bytes ---- */

static uint16_t
le16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[1] << 8 | p[0]);
}

static uint64_t
le64(const uint8_t *p)
{
    return (uint64_t)mm_le32(p + 4) << 32 | mm_le32(p);
}

static int
read_at(const mm_pe *pe, uint64_t offset, void *buf, size_t len)
{
    return mm_read_within(&pe->source, offset, buf, len);
}

/* The name of a section header's 8 bytes, cut at the first NUL. */
static void
section_name(const uint8_t *p, char out[9])
{
    memcpy(out, p, 8);
    out[8] = '\0';
}

static uint8_t
section_prot(uint32_t characteristics)
{
    uint8_t prot = 0;

    if (characteristics & MM_PE_SCN_MEM_READ) {
        prot |= MM_PROT_READ;
    }
    if (characteristics & MM_PE_SCN_MEM_WRITE) {
        prot |= MM_PROT_WRITE;
    }
    if (characteristics & MM_PE_SCN_MEM_EXECUTE) {
        prot |= MM_PROT_EXEC;
    }
    if (characteristics & MM_PE_SCN_MEM_SHARED) {
        prot |= MM_PROT_SHARED;
    }
    return prot;
}

/* ---- opening ---- */

int
mm_pe_magic(const uint8_t *head, size_t len)
{
    return len >= 2 && head[0] == 'M' && head[1] == 'Z';
}

static mm_status
read_optional_header(mm_pe *pe, uint64_t at, mm_err *err)
{
    uint8_t h[112 + 8 * MM_PE_DIR_COUNT];
    uint32_t base, want, count;

    if (pe->optional_header_size < 2) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "SizeOfOptionalHeader is %u: an object file, not an "
                          "image",
                          pe->optional_header_size);
    }
    if (read_at(pe, at, h, 2) != 0) {
        return mm_err_set(
            err, MM_ERR_PARSE, 0,
            "the optional header at offset 0x%" PRIx64 " is truncated", at);
    }
    pe->magic = le16(h);
    if (pe->magic != MAGIC_PE32 && pe->magic != MAGIC_PE32PLUS) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "unknown optional header magic 0x%x (PE32 is 0x10b, "
                          "PE32+ 0x20b)",
                          pe->magic);
    }
    pe->is64 = pe->magic == MAGIC_PE32PLUS;
    base = directories_at[pe->is64];
    if (pe->optional_header_size < base) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "SizeOfOptionalHeader %u is less than the %" PRIu32
                          " bytes of a %s optional header",
                          pe->optional_header_size, base,
                          pe->is64 ? "PE32+" : "PE32");
    }
    if (read_at(pe, at, h, base) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "the optional header (%" PRIu32
                          " bytes at offset 0x%" PRIx64 ") is truncated",
                          base, at);
    }
    pe->linker_major = h[2];
    pe->linker_minor = h[3];
    pe->entry_rva = mm_le32(h + 16);
    pe->image_base = pe->is64 ? le64(h + 24) : mm_le32(h + 28);
    pe->section_alignment = mm_le32(h + 32);
    pe->file_alignment = mm_le32(h + 36);
    pe->os_major = le16(h + 40);
    pe->os_minor = le16(h + 42);
    pe->subsystem_major = le16(h + 48);
    pe->subsystem_minor = le16(h + 50);
    pe->size_of_image = mm_le32(h + 56);
    pe->size_of_headers = mm_le32(h + 60);
    pe->checksum = mm_le32(h + 64);
    pe->subsystem = le16(h + 68);
    pe->dll_characteristics = le16(h + 70);
    pe->directory_count = mm_le32(h + base - 4);
    /* The loader uses no more than 16 directories; a count above that
     * names ones nobody reads, but they must still fit in the header. */
    count = pe->directory_count < MM_PE_DIR_COUNT ? pe->directory_count
                                                  : MM_PE_DIR_COUNT;
    if ((pe->optional_header_size - base) / 8 < count) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "NumberOfRvaAndSizes %" PRIu32
                          " does not fit in SizeOfOptionalHeader %u",
                          pe->directory_count, pe->optional_header_size);
    }
    want = base + 8 * count;
    if (read_at(pe, at, h, want) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "the data directories (%" PRIu32
                          " bytes at offset 0x%" PRIx64 ") are truncated",
                          8 * count, at + base);
    }
    for (uint32_t i = 0; i < count; i++) {
        pe->directories[i].rva = mm_le32(h + base + 8 * i);
        pe->directories[i].size = mm_le32(h + base + 8 * i + 4);
    }
    if (pe->size_of_image == 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0, "SizeOfImage is 0");
    }
    return MM_OK;
}

mm_status
mm_pe_open_source(mm_pe *pe, const mm_source *source, unsigned flags,
                  mm_err *err)
{
    uint8_t h[4 + FILE_HEADER_SIZE];
    uint64_t sections_at, sections_len;
    uint8_t *raw = NULL;
    mm_status status;

    memset(pe, 0, sizeof(*pe));
    pe->source = *source;
    pe->flags_open = flags;
    if (source->read == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0, "no read callback");
    }
    if (read_at(pe, 0, h, 2) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0, "too short for a DOS header");
    }
    if (!mm_pe_magic(h, 2)) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "not a PE image (no MZ magic)");
    }
    if (read_at(pe, DOS_LFANEW_AT, h, 4) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "the DOS header is truncated before e_lfanew");
    }
    pe->pe_offset = mm_le32(h);
    if (read_at(pe, pe->pe_offset, h, sizeof(h)) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "e_lfanew 0x%" PRIx32
                          " points past the end of the image, or the file "
                          "header there is truncated",
                          pe->pe_offset);
    }
    if (memcmp(h, "PE\0\0", 4) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "no PE signature at e_lfanew 0x%" PRIx32
                          " (an MS-DOS program?)",
                          pe->pe_offset);
    }
    pe->machine = le16(h + 4);
    pe->section_count = le16(h + 6);
    pe->timestamp = mm_le32(h + 8);
    pe->optional_header_size = le16(h + 20);
    pe->characteristics = le16(h + 22);
    status =
        read_optional_header(pe, (uint64_t)pe->pe_offset + sizeof(h), err);
    if (status != MM_OK) {
        return status;
    }
    if (pe->section_count > MM_PE_SECTION_CAP) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "NumberOfSections %u is more than the %u this "
                          "reader takes",
                          pe->section_count, MM_PE_SECTION_CAP);
    }
    sections_at =
        (uint64_t)pe->pe_offset + sizeof(h) + pe->optional_header_size;
    sections_len = (uint64_t)pe->section_count * SECTION_SIZE;
    status = mm_read_table(&pe->source, sections_at, sections_len,
                           mm_table_limit(pe->source.size), NULL, "PE",
                           "the section headers", (void **)&raw, err);
    if (status != MM_OK) {
        return status;
    }
    pe->sections = calloc(pe->section_count ? pe->section_count : 1,
                          sizeof(*pe->sections));
    if (pe->sections == NULL) {
        free(raw);
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory for %u section headers",
                          pe->section_count);
    }
    for (size_t i = 0; i < pe->section_count; i++) {
        const uint8_t *p = raw + i * SECTION_SIZE;
        mm_pe_section *s = &pe->sections[i];
        section_name(p, s->name);
        s->virtual_size = mm_le32(p + 8);
        s->virtual_address = mm_le32(p + 12);
        s->raw_size = mm_le32(p + 16);
        s->raw_offset = mm_le32(p + 20);
        s->characteristics = mm_le32(p + 36);
        s->prot = section_prot(s->characteristics);
    }
    free(raw);
    pe->internal = calloc(1, sizeof(pe_internal));
    if (pe->internal == NULL) {
        mm_pe_close(pe);
        return mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    return MM_OK;
}

mm_status
mm_pe_open(mm_pe *pe, mm_read_fn read, void *ctx, uint64_t size,
           unsigned flags, mm_err *err)
{
    mm_source source = {.read = read, .ctx = ctx, .size = size};

    return mm_pe_open_source(pe, &source, flags, err);
}

static void
exports_free(pe_exports *x)
{
    free(x->functions);
    free(x->kinds);
    free(x->forwarder);
    free(x->first_name);
    free(x->name_ordinals);
    free(x->name);
    free(x->unnamed);
    free(x->strings);
    free(x->blob);
    memset(x, 0, sizeof(*x));
}

void
mm_pe_close(mm_pe *pe)
{
    pe_internal *in = pe->internal;

    if (in != NULL) {
        exports_free(&in->exports);
        free(in);
    }
    free(pe->sections);
    pe->sections = NULL;
    pe->internal = NULL;
    pe->section_count = 0;
}

/* ---- RVAs ---- */

uint64_t
mm_pe_bias(const mm_pe *pe, uint64_t load_base)
{
    return load_base - pe->image_base;
}

/* The bytes of a section that come from the file: the loader maps
 * min(SizeOfRawData, VirtualSize) of them and zero-fills the rest. */
static uint32_t
file_extent(const mm_pe_section *s)
{
    if (s->virtual_size == 0 || s->raw_size < s->virtual_size) {
        return s->raw_size;
    }
    return s->virtual_size;
}

const mm_pe_section *
mm_pe_section_at(const mm_pe *pe, uint32_t rva)
{
    for (size_t i = 0; i < pe->section_count; i++) {
        const mm_pe_section *s = &pe->sections[i];
        uint32_t extent = s->virtual_size ? s->virtual_size : s->raw_size;
        if (rva >= s->virtual_address && rva - s->virtual_address < extent) {
            return s;
        }
    }
    return NULL;
}

/* Where rva is in the source and how many bytes from there are
 * contiguous in it (to the end of the headers, of a section's file bytes,
 * of the image, or of the source): 0, or -1 when rva is nowhere. */
static int
rva_span(const mm_pe *pe, uint32_t rva, uint64_t *offset, uint64_t *avail)
{
    uint64_t off = 0, left = 0;
    int found = 0;

    if (pe->flags_open & MM_PE_MEMORY) {
        if (rva < pe->size_of_image) {
            off = rva;
            left = (uint64_t)pe->size_of_image - rva;
            found = 1;
        }
    }
    else {
        if (rva < pe->size_of_headers) {
            off = rva;
            left = (uint64_t)pe->size_of_headers - rva;
            found = 1;
        }
        for (size_t i = 0; !found && i < pe->section_count; i++) {
            const mm_pe_section *s = &pe->sections[i];
            uint32_t extent = file_extent(s);
            if (rva >= s->virtual_address &&
                rva - s->virtual_address < extent) {
                off = (uint64_t)s->raw_offset + (rva - s->virtual_address);
                left = (uint64_t)extent - (rva - s->virtual_address);
                found = 1;
            }
        }
    }
    if (!found) {
        return -1;
    }
    if (pe->source.size != MM_SIZE_UNKNOWN) {
        if (off >= pe->source.size) {
            return -1;
        }
        if (left > pe->source.size - off) {
            left = pe->source.size - off;
        }
    }
    *offset = off;
    *avail = left;
    return 0;
}

int
mm_pe_rva_to_offset(const mm_pe *pe, uint32_t rva, uint32_t len,
                    uint64_t *offset)
{
    uint64_t off, avail;

    if (rva_span(pe, rva, &off, &avail) != 0 || len > avail) {
        return -1;
    }
    *offset = off;
    return 0;
}

mm_status
mm_pe_read_rva(mm_pe *pe, uint32_t rva, void *buf, size_t len,
               const char *what, mm_err *err)
{
    uint64_t off;

    if (len > UINT32_MAX ||
        mm_pe_rva_to_offset(pe, rva, (uint32_t)len, &off)) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%s (0x%" PRIx64 " bytes at RVA 0x%" PRIx32
                          ") lies outside the image",
                          what, (uint64_t)len, rva);
    }
    if (read_at(pe, off, buf, len) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%s (0x%" PRIx64 " bytes at RVA 0x%" PRIx32
                          ") cannot be read",
                          what, (uint64_t)len, rva);
    }
    return MM_OK;
}

/* A table of len bytes at rva, read whole into a new buffer. */
static mm_status
read_rva_table(mm_pe *pe, uint32_t rva, uint64_t len, const char *what,
               void **out, mm_err *err)
{
    uint64_t off, avail;

    *out = NULL;
    if (len == 0) {
        *out = calloc(1, 1);
        return *out ? MM_OK
                    : mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    if (rva_span(pe, rva, &off, &avail) != 0 || len > avail) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%s (0x%" PRIx64 " bytes at RVA 0x%" PRIx32
                          ") lies outside the image",
                          what, (uint64_t)len, rva);
    }
    return mm_read_table(&pe->source, off, len,
                         mm_table_limit(pe->source.size), NULL, "PE", what,
                         out, err);
}

/* ---- the CodeView record ---- */

mm_status
mm_pe_codeview_record(mm_pe *pe, mm_pe_codeview *out, mm_err *err)
{
    mm_pe_directory dir = pe->directories[MM_PE_DIR_DEBUG];
    uint32_t count;

    memset(out, 0, sizeof(*out));
    if (dir.rva == 0 || dir.size < DEBUG_ENTRY_SIZE) {
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0,
                          "the image has no debug directory");
    }
    count = dir.size / DEBUG_ENTRY_SIZE;
    if (count > MM_PE_DEBUG_CAP) {
        count = MM_PE_DEBUG_CAP;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint8_t e[DEBUG_ENTRY_SIZE], r[RSDS_FIXED];
        uint32_t type, size_of_data, address, pointer, path_room;
        uint64_t at;
        mm_status status =
            mm_pe_read_rva(pe, dir.rva + i * DEBUG_ENTRY_SIZE, e, sizeof(e),
                           "a debug directory entry", err);
        if (status != MM_OK) {
            return status;
        }
        type = mm_le32(e + 12);
        size_of_data = mm_le32(e + 16);
        address = mm_le32(e + 20);
        pointer = mm_le32(e + 24);
        if (type != DEBUG_CODEVIEW || size_of_data < RSDS_FIXED) {
            continue;
        }
        if (pe->flags_open & MM_PE_MEMORY) {
            if (address == 0 ||
                mm_pe_rva_to_offset(pe, address, size_of_data, &at) != 0) {
                continue; /* not mapped: not there to be read */
            }
        }
        else {
            at = pointer;
        }
        if (read_at(pe, at, r, sizeof(r)) != 0) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "the CodeView record (0x%" PRIx32
                              " bytes at offset 0x%" PRIx64
                              ") lies outside the image",
                              size_of_data, at);
        }
        if (memcmp(r, "RSDS", 4) != 0) {
            continue; /* NB10 (a PDB 2.0 record) or something else */
        }
        /* Data1, Data2 and Data3 are stored least significant first. */
        for (int b = 0; b < 4; b++) {
            out->guid[b] = r[4 + 3 - b];
        }
        out->guid[4] = r[9];
        out->guid[5] = r[8];
        out->guid[6] = r[11];
        out->guid[7] = r[10];
        memcpy(out->guid + 8, r + 12, 8);
        out->age = mm_le32(r + 20);
        path_room = size_of_data - RSDS_FIXED;
        if (path_room > MM_PE_PDB_MAX) {
            path_room = MM_PE_PDB_MAX;
        }
        /* The path is a nicety: one that cannot be read is left empty. */
        if (path_room > 0 &&
            read_at(pe, at + RSDS_FIXED, out->pdb, path_room) == 0) {
            out->pdb[path_room] = '\0';
        }
        else {
            out->pdb[0] = '\0';
        }
        return MM_OK;
    }
    return mm_err_set(err, MM_ERR_NOT_FOUND, 0,
                      "the debug directory has no CodeView RSDS record");
}

size_t
mm_pe_build_id(mm_pe *pe, uint8_t *out, size_t cap)
{
    mm_pe_codeview cv;
    uint8_t id[MM_PE_BUILD_ID_LEN];
    mm_err err;
    size_t n = cap < sizeof(id) ? cap : sizeof(id);

    if (mm_pe_codeview_record(pe, &cv, &err) != MM_OK) {
        return 0;
    }
    memcpy(id, cv.guid, 16);
    id[16] = (uint8_t)(cv.age >> 24);
    id[17] = (uint8_t)(cv.age >> 16);
    id[18] = (uint8_t)(cv.age >> 8);
    id[19] = (uint8_t)cv.age;
    memcpy(out, id, n);
    return n;
}

size_t
mm_pe_symbol_server_key(const uint8_t build_id[MM_PE_BUILD_ID_LEN], char *out,
                        size_t cap)
{
    char key[41];
    uint32_t age = mm_be32(build_id + 16);
    int len = 0;

    for (int i = 0; i < 16; i++) {
        len += snprintf(key + len, sizeof(key) - (size_t)len, "%02X",
                        build_id[i]);
    }
    len += snprintf(key + len, sizeof(key) - (size_t)len, "%" PRIX32, age);
    if (cap < (size_t)len + 1) {
        return 0;
    }
    memcpy(out, key, (size_t)len + 1);
    return (size_t)len;
}

/* ---- the export table ---- */

/* Outcomes of reading one string. */
enum {
    STR_OK = 0,
    STR_BAD,    /* the entry is corrupt: no NUL in reach */
    STR_FAILED, /* the table is: x->error says why */
};

static int
strings_append(pe_exports *x, const char *s, size_t len)
{
    if (len + 1 > x->strings_cap - x->strings_len) {
        size_t cap = x->strings_cap ? x->strings_cap : 4096;
        char *grown;
        while (len + 1 > cap - x->strings_len) {
            cap *= 2;
        }
        grown = realloc(x->strings, cap);
        if (grown == NULL) {
            return -1;
        }
        x->strings = grown;
        x->strings_cap = cap;
    }
    memcpy(x->strings + x->strings_len, s, len);
    x->strings[x->strings_len + len] = '\0';
    x->strings_len += len + 1;
    return 0;
}

/* Charges n examined bytes to the table's budget: 0, or -1 (with the
 * error set) when it is spent. */
static int
charge(pe_exports *x, uint64_t n)
{
    x->scanned += n;
    if (x->scanned > MM_PE_NAME_BYTES_CAP) {
        mm_err_set(&x->error, MM_ERR_PARSE, 0,
                   "the export names and forwarders take more than the "
                   "0x%" PRIx64 " bytes this reader reads",
                   MM_PE_NAME_BYTES_CAP);
        return -1;
    }
    return 0;
}

/* Reads the NUL-terminated string at rva into the strings, *at its
 * offset there. */
static int
read_string(mm_pe *pe, pe_exports *x, uint32_t rva, uint32_t *at)
{
    char text[MM_PE_NAME_MAX + 1];
    size_t len = 0;

    if (x->blob != NULL && rva >= x->dir_rva &&
        rva - x->dir_rva < x->blob_len) {
        const char *p = (const char *)x->blob + (rva - x->dir_rva);
        size_t room = x->blob_len - (rva - x->dir_rva);
        size_t reach = room < MM_PE_NAME_MAX + 1 ? room : MM_PE_NAME_MAX + 1;
        const char *nul = memchr(p, '\0', reach);
        if (charge(x, nul ? (size_t)(nul - p) + 1 : reach) != 0) {
            return STR_FAILED;
        }
        if (nul != NULL) {
            len = (size_t)(nul - p);
            goto found;
        }
        if (reach == MM_PE_NAME_MAX + 1) {
            return STR_BAD;
        }
        /* It runs past the directory: read on from the image. */
        memcpy(text, p, reach);
        len = reach;
    }
    while (len <= MM_PE_NAME_MAX) {
        uint64_t off, avail, here = (uint64_t)rva + len;
        size_t piece = STRING_PIECE - (size_t)(here % STRING_PIECE);
        char *nul;
        if (here > UINT32_MAX || rva_span(pe, (uint32_t)here, &off, &avail)) {
            return STR_BAD;
        }
        if (piece > avail) {
            piece = (size_t)avail;
        }
        if (piece > MM_PE_NAME_MAX + 1 - len) {
            piece = MM_PE_NAME_MAX + 1 - len;
        }
        if (charge(x, piece) != 0) {
            return STR_FAILED;
        }
        if (read_at(pe, off, text + len, piece) != 0) {
            return STR_BAD;
        }
        nul = memchr(text + len, '\0', piece);
        if (nul != NULL) {
            len = (size_t)(nul - text);
            if (strings_append(x, text, len) != 0) {
                goto nomem;
            }
            *at = (uint32_t)(x->strings_len - len - 1);
            return STR_OK;
        }
        len += piece;
    }
    return STR_BAD;

found:
    if (strings_append(x, (const char *)x->blob + (rva - x->dir_rva), len) !=
        0) {
        goto nomem;
    }
    *at = (uint32_t)(x->strings_len - len - 1);
    return STR_OK;

nomem:
    mm_err_set(&x->error, MM_ERR_NOMEM, 0, "out of memory for export names");
    return STR_FAILED;
}

static mm_status
load_exports(mm_pe *pe, pe_exports *x, mm_err *err)
{
    mm_pe_directory dir = pe->directories[MM_PE_DIR_EXPORT];
    uint8_t d[EXPORT_DIR_SIZE];
    uint32_t functions_rva, names_rva, ordinals_rva, name_rva;
    uint32_t nfunc, nnames, dll_name = NO_STRING;
    uint32_t *name_rvas = NULL;
    uint8_t *raw = NULL;
    mm_status status;
    int r;

    if (dir.rva == 0 || dir.size == 0) {
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0,
                          "the image has no export directory");
    }
    x->dir_rva = dir.rva;
    x->dir_size = dir.size;
    status = mm_pe_read_rva(pe, dir.rva, d, sizeof(d), "the export directory",
                            &x->error);
    if (status != MM_OK) {
        goto failed;
    }
    x->info.timestamp = mm_le32(d + 4);
    name_rva = mm_le32(d + 12);
    x->info.ordinal_base = mm_le32(d + 16);
    nfunc = x->info.function_count = mm_le32(d + 20);
    nnames = x->info.name_count = mm_le32(d + 24);
    functions_rva = mm_le32(d + 28);
    names_rva = mm_le32(d + 32);
    ordinals_rva = mm_le32(d + 36);
    if (nfunc > MM_PE_EXPORT_CAP || nnames > MM_PE_EXPORT_CAP) {
        status = mm_err_set(&x->error, MM_ERR_PARSE, 0,
                            "the export directory claims %" PRIu32
                            " functions and %" PRIu32
                            " names: more than the %u an ordinal can number",
                            nfunc, nnames, MM_PE_EXPORT_CAP);
        goto failed;
    }
    if (nfunc > 0 && (uint64_t)x->info.ordinal_base + nfunc - 1 > UINT32_MAX) {
        status =
            mm_err_set(&x->error, MM_ERR_PARSE, 0,
                       "OrdinalBase %" PRIu32 " + %" PRIu32 " functions wraps",
                       x->info.ordinal_base, nfunc);
        goto failed;
    }
    /* The directory's own bytes, where names and forwarders live: read
     * once when it is in one piece and not absurd, else strings are read
     * one by one. */
    if (dir.size <= MM_PE_NAME_BYTES_CAP) {
        uint64_t off;
        if (mm_pe_rva_to_offset(pe, dir.rva, dir.size, &off) == 0) {
            mm_err ignored;
            if (mm_read_table(&pe->source, off, dir.size,
                              mm_table_limit(pe->source.size), NULL, "PE",
                              "the export directory", (void **)&x->blob,
                              &ignored) == MM_OK) {
                x->blob_len = dir.size;
            }
            else if (ignored.status != MM_ERR_PARSE) {
                status = mm_err_set(&x->error, ignored.status, 0, "%s",
                                    ignored.message);
                goto failed;
            }
        }
    }
    status =
        read_rva_table(pe, functions_rva, (uint64_t)nfunc * 4,
                       "the export address table", (void **)&raw, &x->error);
    if (status != MM_OK) {
        goto failed;
    }
    x->functions = calloc(nfunc ? nfunc : 1, sizeof(uint32_t));
    x->kinds = calloc(nfunc ? nfunc : 1, 1);
    x->forwarder = calloc(nfunc ? nfunc : 1, sizeof(uint32_t));
    x->first_name = calloc(nfunc ? nfunc : 1, sizeof(uint32_t));
    x->unnamed = calloc(nfunc ? nfunc : 1, sizeof(uint32_t));
    x->name_ordinals = calloc(nnames ? nnames : 1, sizeof(uint16_t));
    x->name = calloc(nnames ? nnames : 1, sizeof(uint32_t));
    name_rvas = calloc(nnames ? nnames : 1, sizeof(uint32_t));
    if (!x->functions || !x->kinds || !x->forwarder || !x->first_name ||
        !x->unnamed || !x->name_ordinals || !x->name || !name_rvas) {
        status = mm_err_set(&x->error, MM_ERR_NOMEM, 0,
                            "out of memory for the export table");
        goto failed;
    }
    for (uint32_t i = 0; i < nfunc; i++) {
        x->functions[i] = mm_le32(raw + 4 * (size_t)i);
        x->first_name[i] = UINT32_MAX;
        x->forwarder[i] = NO_STRING;
    }
    free(raw);
    raw = NULL;
    status = read_rva_table(pe, names_rva, (uint64_t)nnames * 4,
                            "the export name pointer table", (void **)&raw,
                            &x->error);
    if (status != MM_OK) {
        goto failed;
    }
    for (uint32_t i = 0; i < nnames; i++) {
        name_rvas[i] = mm_le32(raw + 4 * (size_t)i);
    }
    free(raw);
    raw = NULL;
    status =
        read_rva_table(pe, ordinals_rva, (uint64_t)nnames * 2,
                       "the export ordinal table", (void **)&raw, &x->error);
    if (status != MM_OK) {
        goto failed;
    }
    for (uint32_t i = 0; i < nnames; i++) {
        x->name_ordinals[i] = le16(raw + 2 * (size_t)i);
        if (x->name_ordinals[i] >= nfunc) {
            status = mm_err_set(&x->error, MM_ERR_PARSE, 0,
                                "export name %" PRIu32
                                " has ordinal index %u, past the %" PRIu32
                                " entries of the address table",
                                i, x->name_ordinals[i], nfunc);
            goto failed;
        }
        if (x->first_name[x->name_ordinals[i]] == UINT32_MAX) {
            x->first_name[x->name_ordinals[i]] = i;
        }
    }
    free(raw);
    raw = NULL;

    if (name_rva != 0) {
        r = read_string(pe, x, name_rva, &dll_name);
        if (r == STR_FAILED) {
            status = x->error.status;
            goto failed;
        }
    }
    x->sorted = 1;
    for (uint32_t i = 0; i < nnames; i++) {
        if (i % MM_CANCEL_STRIDE == 0 && mm_source_cancelled(&pe->source)) {
            status = mm_cancelled_error(&x->error);
            goto failed;
        }
        x->name[i] = NO_STRING;
        r = read_string(pe, x, name_rvas[i], &x->name[i]);
        if (r == STR_FAILED) {
            status = x->error.status;
            goto failed;
        }
        if (r == STR_BAD) {
            x->name[i] = NO_STRING;
            x->sorted = 0;
        }
    }
    for (uint32_t i = 0; i < nfunc; i++) {
        uint32_t rva = x->functions[i];
        if (i % MM_CANCEL_STRIDE == 0 && mm_source_cancelled(&pe->source)) {
            status = mm_cancelled_error(&x->error);
            goto failed;
        }
        if (rva == 0) {
            x->kinds[i] = FN_EMPTY;
        }
        else if (rva >= dir.rva && rva - dir.rva < dir.size) {
            r = read_string(pe, x, rva, &x->forwarder[i]);
            if (r == STR_FAILED) {
                status = x->error.status;
                goto failed;
            }
            x->kinds[i] = r == STR_OK ? FN_FORWARDER : FN_BAD_FORWARDER;
        }
        else if (rva >= pe->size_of_image) {
            x->kinds[i] = FN_OUTSIDE;
        }
        else {
            x->kinds[i] = FN_CODE;
        }
        if (x->kinds[i] != FN_EMPTY && x->first_name[i] == UINT32_MAX) {
            x->unnamed[x->unnamed_count++] = i;
        }
    }
    /* The strings no longer move: names can be compared. */
    for (uint32_t i = 1; x->sorted && i < nnames; i++) {
        if (strcmp(x->strings + x->name[i - 1], x->strings + x->name[i]) >=
            0) {
            x->sorted = 0;
        }
    }
    if (dll_name == NO_STRING) {
        if (strings_append(x, "", 0) != 0) {
            status = mm_err_set(&x->error, MM_ERR_NOMEM, 0, "out of memory");
            goto failed;
        }
        dll_name = (uint32_t)(x->strings_len - 1);
    }
    x->info.dll_name = x->strings + dll_name;
    free(name_rvas);
    free(x->blob);
    x->blob = NULL;
    x->state = MM_TABLE_LOADED;
    return MM_OK;

failed:
    free(raw);
    free(name_rvas);
    {
        mm_err saved = x->error;
        exports_free(x);
        x->error = saved;
    }
    if (status == MM_ERR_CANCELLED) {
        /* Not the image's fault: it may be read again. */
        *err = x->error;
        x->state = MM_TABLE_UNLOADED;
        return status;
    }
    x->state = MM_TABLE_CORRUPT;
    *err = x->error;
    return status;
}

static mm_status
exports(mm_pe *pe, pe_exports **out, mm_err *err)
{
    pe_internal *in = pe->internal;
    pe_exports *x = NULL;

    if (in == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0, "the image is not open");
    }
    x = &in->exports;
    switch (x->state) {
    case MM_TABLE_LOADED:
        *out = x;
        return MM_OK;
    case MM_TABLE_ABSENT:
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0,
                          "the image has no export directory");
    case MM_TABLE_CORRUPT:
        *err = x->error;
        return x->error.status;
    default:
        break;
    }
    {
        mm_status status = load_exports(pe, x, err);
        if (status == MM_ERR_NOT_FOUND) {
            x->state = MM_TABLE_ABSENT;
        }
        if (status != MM_OK) {
            return status;
        }
    }
    *out = x;
    return MM_OK;
}

mm_status
mm_pe_export_info_get(mm_pe *pe, mm_pe_export_info *out, mm_err *err)
{
    pe_exports *x = NULL;
    mm_status status = exports(pe, &x, err);

    if (status == MM_OK) {
        *out = x->info;
    }
    return status;
}

mm_status
mm_pe_export_count(mm_pe *pe, size_t *count, mm_err *err)
{
    pe_exports *x = NULL;
    mm_status status = exports(pe, &x, err);

    if (status == MM_OK) {
        *count = x->info.name_count + x->unnamed_count;
    }
    return status;
}

/* The export of address table entry fn, named name (NO_STRING: none). */
static mm_status
fill(const pe_exports *x, uint32_t fn, uint32_t name, mm_pe_export *out,
     mm_err *err)
{
    memset(out, 0, sizeof(*out));
    out->ordinal = x->info.ordinal_base + fn;
    out->rva = x->functions[fn];
    out->name = name == NO_STRING ? NULL : x->strings + name;
    switch (x->kinds[fn]) {
    case FN_EMPTY:
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "export ordinal %" PRIu32
                          " is named but has no address",
                          out->ordinal);
    case FN_OUTSIDE:
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "export ordinal %" PRIu32 " has RVA 0x%" PRIx32
                          ", outside the image",
                          out->ordinal, out->rva);
    case FN_BAD_FORWARDER:
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "export ordinal %" PRIu32
                          " forwards to a string at RVA 0x%" PRIx32
                          " that does not end within %u bytes of the image",
                          out->ordinal, out->rva, MM_PE_NAME_MAX);
    case FN_FORWARDER:
        out->forwarder = x->strings + x->forwarder[fn];
        break;
    default:
        break;
    }
    return MM_OK;
}

static mm_status
named(const pe_exports *x, uint32_t i, mm_pe_export *out, mm_err *err)
{
    if (x->name[i] == NO_STRING) {
        memset(out, 0, sizeof(*out));
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "export name %" PRIu32
                          " does not end within %u bytes of the image",
                          i, MM_PE_NAME_MAX);
    }
    return fill(x, x->name_ordinals[i], x->name[i], out, err);
}

mm_status
mm_pe_export_at(mm_pe *pe, size_t index, mm_pe_export *out, mm_err *err)
{
    pe_exports *x = NULL;
    mm_status status = exports(pe, &x, err);

    if (status != MM_OK) {
        return status;
    }
    if (index < x->info.name_count) {
        return named(x, (uint32_t)index, out, err);
    }
    index -= x->info.name_count;
    if (index >= x->unnamed_count) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0,
                          "export index past the end of the table");
    }
    return fill(x, x->unnamed[index], NO_STRING, out, err);
}

mm_status
mm_pe_find_export(mm_pe *pe, const char *name, mm_pe_export *out, mm_err *err)
{
    pe_exports *x = NULL;
    mm_status status = exports(pe, &x, err);

    if (status != MM_OK) {
        return status;
    }
    if (x->sorted) {
        size_t lo = 0, hi = x->info.name_count;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(name, x->strings + x->name[mid]);
            if (c == 0) {
                return named(x, (uint32_t)mid, out, err);
            }
            if (c < 0) {
                hi = mid;
            }
            else {
                lo = mid + 1;
            }
        }
    }
    else {
        for (uint32_t i = 0; i < x->info.name_count; i++) {
            if (x->name[i] != NO_STRING &&
                strcmp(name, x->strings + x->name[i]) == 0 &&
                named(x, i, out, err) == MM_OK) {
                return MM_OK;
            }
        }
    }
    return mm_err_set(err, MM_ERR_NOT_FOUND, 0, "no export named %s", name);
}

mm_status
mm_pe_find_ordinal(mm_pe *pe, uint32_t ordinal, mm_pe_export *out, mm_err *err)
{
    pe_exports *x = NULL;
    uint32_t fn;
    mm_status status = exports(pe, &x, err);

    if (status != MM_OK) {
        return status;
    }
    if (ordinal < x->info.ordinal_base ||
        ordinal - x->info.ordinal_base >= x->info.function_count ||
        x->kinds[ordinal - x->info.ordinal_base] == FN_EMPTY) {
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0,
                          "no export ordinal %" PRIu32, ordinal);
    }
    fn = ordinal - x->info.ordinal_base;
    return fill(x, fn,
                x->first_name[fn] == UINT32_MAX ? NO_STRING
                                                : x->name[x->first_name[fn]],
                out, err);
}
