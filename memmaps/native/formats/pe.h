/* A portable PE/COFF image reader: plain C, no Python, no <windows.h>, so
 * that it builds and is tested on every system, Linux included.
 *
 * It reads PE32 and PE32+ images (executables and DLLs) through the same
 * bounded byte source as the ELF and Mach-O readers (mm_source), from a file
 * or from a process's memory, where the loader has laid the sections out at
 * their RVAs (MM_PE_MEMORY).  Every size, count, RVA and offset in the input
 * is treated as hostile: a truncated or corrupt image gives MM_ERR_PARSE
 * with a message naming what was wrong, never a crash, a read outside the
 * source, or an allocation or loop larger than the caps below.
 */
#ifndef MM_PE_H
#define MM_PE_H

#include "core/mm.h"
#include "core/reader.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* IMAGE_FILE_HEADER.Machine values. */
#define MM_PE_MACHINE_I386  0x014c
#define MM_PE_MACHINE_AMD64 0x8664
#define MM_PE_MACHINE_ARM64 0xaa64
#define MM_PE_MACHINE_ARMNT 0x01c4

/* IMAGE_FILE_HEADER.Characteristics bits callers test. */
#define MM_PE_FILE_EXECUTABLE 0x0002
#define MM_PE_FILE_DLL        0x2000

/* IMAGE_SCN_* bits of a section's characteristics. */
#define MM_PE_SCN_CNT_CODE               0x00000020
#define MM_PE_SCN_CNT_INITIALIZED_DATA   0x00000040
#define MM_PE_SCN_CNT_UNINITIALIZED_DATA 0x00000080
#define MM_PE_SCN_MEM_DISCARDABLE        0x02000000
#define MM_PE_SCN_MEM_SHARED             0x10000000
#define MM_PE_SCN_MEM_EXECUTE            0x20000000
#define MM_PE_SCN_MEM_READ               0x40000000
#define MM_PE_SCN_MEM_WRITE              0x80000000

/* Indexes of the optional header's data directories. */
enum {
    MM_PE_DIR_EXPORT = 0,
    MM_PE_DIR_IMPORT = 1,
    MM_PE_DIR_RESOURCE = 2,
    MM_PE_DIR_EXCEPTION = 3,
    MM_PE_DIR_SECURITY = 4,
    MM_PE_DIR_BASERELOC = 5,
    MM_PE_DIR_DEBUG = 6,
    MM_PE_DIR_COUNT = 16,
};

/* mm_pe_open flags */
enum {
    /* The source reads the image as the loader laid it out in a process's
     * memory: offset N of the source is RVA N (the caller reads at load
     * base + N, which mm_offset_reader does).  Without the flag the source
     * reads file offsets, and RVAs are turned into them through the
     * section headers. */
    MM_PE_MEMORY = 1,
};
/* (In memory, RVAs at or past SizeOfImage are refused, and the source's
 * size, when known, bounds them too.  The headers are read at offset 0,
 * which is where the loader maps them.) */

/* Caps: what one image may cost, whatever its headers claim.  A crafted
 * image costs at most these; a real one stays far below them. */
/* Address table entries and names of the export directory: an ordinal is
 * 16 bits wide wherever it is used (the name ordinal table, an import by
 * ordinal), so no image can export more functions than this. */
#define MM_PE_EXPORT_CAP 65536u
/* Bytes of export names and forwarder strings examined, all of them
 * together (the longest real tables, of C++ DLLs with mangled names, are a
 * few MiB). */
#define MM_PE_NAME_BYTES_CAP ((uint64_t)16 << 20)
/* The longest export name or forwarder string taken, NUL excluded; a
 * longer one is a corrupt entry. */
#define MM_PE_NAME_MAX 4096u
/* Section headers taken: every RVA an export table gives is looked up
 * through them, so their number multiplies the cost of a crafted table.
 * Linkers write a dozen or two; an image with more is refused. */
#define MM_PE_SECTION_CAP 1024u
/* Debug directory entries looked at for the CodeView record. */
#define MM_PE_DEBUG_CAP 64u
/* The longest PDB path of a CodeView record kept, NUL excluded. */
#define MM_PE_PDB_MAX 1024u

/* A section header.  The name is the 8 bytes of the header, up to the
 * first NUL: an image's long section names ("/4", an offset into the
 * COFF string table that only debugging sections use) are kept as stored. */
typedef struct mm_pe_section {
    char name[9];             /* NUL-terminated */
    uint32_t virtual_address; /* RVA */
    uint32_t virtual_size;    /* Misc.VirtualSize */
    uint32_t raw_offset;      /* PointerToRawData */
    uint32_t raw_size;        /* SizeOfRawData */
    uint32_t characteristics; /* MM_PE_SCN_* */
    /* MM_PROT_* from MEM_READ, MEM_WRITE, MEM_EXECUTE and MEM_SHARED: what
     * the loader maps it with.  A writable section that is not shared is
     * copy-on-write, hence no MM_PROT_SHARED. */
    uint8_t prot;
} mm_pe_section;

typedef struct mm_pe_directory {
    uint32_t rva;
    uint32_t size;
} mm_pe_directory;

typedef struct mm_pe {
    /* The bytes, and how many the callback can serve (MM_SIZE_UNKNOWN when
     * it cannot say). */
    mm_source source;
    unsigned flags_open; /* the MM_PE_* flags it was opened with */
    uint32_t pe_offset;  /* e_lfanew: where "PE\0\0" is */
    /* IMAGE_FILE_HEADER */
    uint16_t machine; /* MM_PE_MACHINE_* */
    uint16_t section_count;
    uint32_t timestamp;
    uint16_t optional_header_size;
    uint16_t characteristics; /* MM_PE_FILE_* */
    /* IMAGE_OPTIONAL_HEADER(32|64) */
    int is64;       /* PE32+ (magic 0x20b); 0 for PE32 (0x10b) */
    uint16_t magic; /* 0x10b or 0x20b */
    uint8_t linker_major;
    uint8_t linker_minor;
    uint32_t entry_rva;  /* AddressOfEntryPoint, 0 when there is none */
    uint64_t image_base; /* the preferred load address */
    uint32_t section_alignment;
    uint32_t file_alignment;
    uint16_t os_major;
    uint16_t os_minor;
    uint16_t subsystem_major;
    uint16_t subsystem_minor;
    uint32_t size_of_image;
    uint32_t size_of_headers;
    uint32_t checksum;
    uint16_t subsystem;
    uint16_t dll_characteristics;
    uint32_t directory_count; /* NumberOfRvaAndSizes, as in the header */
    /* The data directories the header has (the first directory_count, at
     * most MM_PE_DIR_COUNT); the others are zero. */
    mm_pe_directory directories[MM_PE_DIR_COUNT];
    mm_pe_section *sections; /* section_count of them, in header order */
    void *internal;          /* the export and debug tables once read */
} mm_pe;

/* Reads the DOS header, the PE signature, the file and optional headers and
 * the section headers.  MM_ERR_PARSE for anything that is not a
 * well-formed PE image (an object file, which has no "MZ" and no optional
 * header, is one).  On success mm_pe_close() must be called. */
mm_status mm_pe_open(mm_pe *pe, mm_read_fn read, void *ctx, uint64_t size,
                     unsigned flags, mm_err *err);
/* mm_pe_open over a whole mm_source: with its backed callback (no table is
 * taken from a hole of a sparse file) and its cancelled one. */
mm_status mm_pe_open_source(mm_pe *pe, const mm_source *source, unsigned flags,
                            mm_err *err);
void mm_pe_close(mm_pe *pe);

/* Whether the first bytes of a source look like a PE image ("MZ" at 0):
 * for choosing a reader, nothing more is checked.  1 or 0. */
int mm_pe_magic(const uint8_t *head, size_t len);

/* The bias of an image whose headers a loader put at load_base:
 * load_base - ImageBase, modulo 2**64 (so an image loaded below its
 * preferred address has a "negative" bias).  A runtime address is then
 * ImageBase + RVA + bias = load_base + RVA. */
uint64_t mm_pe_bias(const mm_pe *pe, uint64_t load_base);

/* The section whose [virtual_address, virtual_address + extent) holds rva,
 * where extent is virtual_size, or raw_size when virtual_size is 0 (as
 * linkers of old wrote it); NULL when none does. */
const mm_pe_section *mm_pe_section_at(const mm_pe *pe, uint32_t rva);

/* Where [rva, rva + len) is in the source: in memory the RVA itself (below
 * SizeOfImage); in a file the offset of the section bytes (or headers, below
 * SizeOfHeaders) that hold all of it, which excludes the zero-filled tail of
 * a section past its raw data.  0 with *offset set, -1 when no such place
 * exists or the sum would wrap. */
int mm_pe_rva_to_offset(const mm_pe *pe, uint32_t rva, uint32_t len,
                        uint64_t *offset);

/* Reads len bytes at rva (through mm_pe_rva_to_offset): MM_OK, or
 * MM_ERR_PARSE naming what (a phrase such as "the export directory"). */
mm_status mm_pe_read_rva(mm_pe *pe, uint32_t rva, void *buf, size_t len,
                         const char *what, mm_err *err);

/* ---- The CodeView record: the build id ---- */

/* The identity of the PDB a linker wrote beside the image (a CodeView
 * "RSDS" record, pointed at by an IMAGE_DEBUG_TYPE_CODEVIEW entry of the
 * debug directory). */
typedef struct mm_pe_codeview {
    /* The GUID in its text order: Data1 (4 bytes), Data2 (2), Data3 (2)
     * most significant byte first, then Data4's 8 bytes as stored, so that
     * these 16 bytes printed in hex read as the GUID does in braces (and as
     * objdump -p prints the signature). */
    uint8_t guid[16];
    uint32_t age;
    char pdb[MM_PE_PDB_MAX + 1]; /* the PDB path, NUL-terminated; may be "" */
} mm_pe_codeview;

/* The first CodeView RSDS record of the debug directory.  MM_OK with *out
 * filled; MM_ERR_NOT_FOUND when the image has no debug directory or no RSDS
 * entry; MM_ERR_PARSE for a directory or record that lies outside the
 * source.  The debug directory is looked at through its first
 * MM_PE_DEBUG_CAP entries.  In a file the record is found at the entry's
 * PointerToRawData; in memory at its AddressOfRawData (a record that is
 * not mapped, AddressOfRawData 0, is not found there). */
mm_status mm_pe_codeview_record(mm_pe *pe, mm_pe_codeview *out, mm_err *err);
/* (A PDB path longer than MM_PE_PDB_MAX, or without its NUL inside the
 * entry's SizeOfData, is cut there: the GUID and age are the identity.) */

/* The build id of an image: its CodeView record's 16 GUID bytes (in the
 * order of mm_pe_codeview.guid) followed by the age as 4 bytes, most
 * significant first: 20 bytes, so that their hex is the GUID as printed
 * followed by the age in 8 digits.  Copies up to cap bytes into out and
 * returns the length copied, 0 when there is no record (or it is
 * corrupt). */
#define MM_PE_BUILD_ID_LEN 20
size_t mm_pe_build_id(mm_pe *pe, uint8_t *out, size_t cap);

/* The key symbol servers file the PDB under (the middle part of
 * "name.pdb/KEY/name.pdb"): the GUID's 32 hex digits upper-case, then the
 * age in upper-case hex without leading zeros, from a 20-byte build id.
 * Writes it NUL-terminated into out (41 bytes are always enough) and
 * returns its length, 0 when cap is too small. */
size_t mm_pe_symbol_server_key(const uint8_t build_id[MM_PE_BUILD_ID_LEN],
                               char *out, size_t cap);

/* ---- The export table ---- */

/* One export.  Named exports come first, in the order of the export name
 * pointer table (sorted by name in a sound image), then the exports that
 * have only an ordinal, in ordinal order.  A function exported under
 * several names appears once per name. */
typedef struct mm_pe_export {
    const char *name; /* NULL for an ordinal-only export */
    uint32_t ordinal; /* biased: OrdinalBase + the address table index */
    /* The export's RVA; for a forwarder, the RVA of its string (inside the
     * export directory), which is not code. */
    uint32_t rva;
    /* "DLL.Func" or "DLL.#12" for an export the loader forwards to another
     * DLL, else NULL.  Never followed: which DLL it names, and whether that
     * forwards back, is the caller's business. */
    const char *forwarder;
} mm_pe_export;
/* (Strings stay valid until mm_pe_close.) */

/* The export directory's own fields, for printing. */
typedef struct mm_pe_export_info {
    const char *dll_name; /* its Name field; "" when it has none */
    uint32_t ordinal_base;
    uint32_t function_count; /* NumberOfFunctions, as in the directory */
    uint32_t name_count;     /* NumberOfNames, as in the directory */
    uint32_t timestamp;
} mm_pe_export_info;

/* Reads the export directory on first use (and keeps it until
 * mm_pe_close, a corrupt one with its error) and gives its fields:
 * MM_OK, MM_ERR_NOT_FOUND when the image has no export directory,
 * MM_ERR_PARSE when it is corrupt: it lies outside the image, a count is
 * above MM_PE_EXPORT_CAP, a table lies outside the source, a name ordinal
 * indexes past the address table, or the names and forwarders would take
 * more than MM_PE_NAME_BYTES_CAP. */
mm_status mm_pe_export_info_get(mm_pe *pe, mm_pe_export_info *out,
                                mm_err *err);

/* The number of exports (named ones, one per name, plus ordinal-only
 * ones; address table entries that are 0 are no export): MM_OK,
 * MM_ERR_NOT_FOUND when there is no export directory, MM_ERR_PARSE. */
mm_status mm_pe_export_count(mm_pe *pe, size_t *count, mm_err *err);

/* Export index, in the order described at mm_pe_export: MM_OK with *out
 * filled, MM_ERR_PARSE for an entry that is corrupt on its own (a name or
 * forwarder string that does not end within MM_PE_NAME_MAX bytes of the
 * image), MM_ERR_ARGUMENT for an index past the end. */
mm_status mm_pe_export_at(mm_pe *pe, size_t index, mm_pe_export *out,
                          mm_err *err);

/* Looks an export up by its exact name: MM_OK with *out filled,
 * MM_ERR_NOT_FOUND, MM_ERR_PARSE for a corrupt table.  Binary search when
 * the names are sorted (as the loader expects), else a scan. */
mm_status mm_pe_find_export(mm_pe *pe, const char *name, mm_pe_export *out,
                            mm_err *err);

/* Looks an export up by its (biased) ordinal, as an import by ordinal
 * does: MM_OK, with the export's first name when it has one,
 * MM_ERR_NOT_FOUND, MM_ERR_PARSE. */
mm_status mm_pe_find_ordinal(mm_pe *pe, uint32_t ordinal, mm_pe_export *out,
                             mm_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MM_PE_H */
