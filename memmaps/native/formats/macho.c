/* The portable Mach-O reader (see macho.h).
 *
 * Nothing read from the input is trusted, as in mm_elf.c.  Every field goes
 * through get32 and get64 in the image's byte order (fat headers are always
 * big-endian), every offset + length is checked for overflow and against
 * what the callback can serve, every allocation is bounded by that size or
 * by MM_TABLE_CAP when the size is unknown, and every loop by a count that was
 * checked against the bytes it walks.
 *
 * The constants come from Apple's <mach-o/loader.h>, <mach-o/nlist.h> and
 * <mach-o/fat.h>; they are spelled out here because those headers exist
 * only on Apple's systems.
 */
#include "formats/macho.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MH_MAGIC      0xfeedfaceu
#define MH_MAGIC_64   0xfeedfacfu
#define FAT_MAGIC     0xcafebabeu
#define FAT_MAGIC_64  0xcafebabfu
#define LC_SEGMENT    0x1u
#define LC_SYMTAB     0x2u
#define LC_SEGMENT_64 0x19u
#define LC_UUID       0x1bu
/* n_type: a stab when any of these bits is set; else N_TYPE holds the
 * kind, N_EXT says external and N_PEXT private external. */
#define N_STAB 0xe0u
#define N_PEXT 0x10u
#define N_TYPE 0x0eu
#define N_EXT  0x01u
#define N_ABS  0x2u
#define N_SECT 0xeu

/* Real load commands take a few KiB, a dylib with hundreds of
 * dependencies some hundred KiB. */
#define LOADCMDS_CAP ((uint64_t)16 << 20)
/* lipo writes one fat_arch per architecture: a handful.  A Java class file
 * starts with 0xcafebabe too, followed by its version where nfat_arch
 * would be (45 and up): only the bounds tell them apart. */
#define MAX_FAT_ARCHS 4096

/* Structure sizes, indexed by is64. */
static const size_t header_size[2] = {28, 32};
static const size_t nlist_size[2] = {12, 16};
static const size_t fat_arch_size[2] = {20, 32}; /* indexed by FAT_MAGIC_64 */
/* Load commands are padded to 4 bytes in 32-bit images, 8 in 64-bit ones
 * (loader.h: "cmdsize ... must be a multiple of 4 bytes for 32-bit
 * architectures and 8 bytes for 64-bit architectures"). */
static const uint32_t cmd_align[2] = {4, 8};

/* The LC_SYMTAB tables as read (nlist entries of nlist_size[is64]
 * bytes): all a Mach-O reader keeps beside its header. */
typedef mm_symtab macho_internal;

/* ---- bytes ---- */

/* An address or size of width w: 4 or 8 bytes. */
static uint64_t
getword(const mm_macho *macho, const uint8_t *p, unsigned w)
{
    return w == 8 ? mm_field64(macho, p) : mm_field32(macho, p);
}

/* Whether [offset, offset + len) lies within [0, size). */
static int
fits(uint64_t size, uint64_t offset, uint64_t len)
{
    return offset <= size && len <= size - offset;
}

/* Reads exactly len bytes at offset of the chosen architecture (a file
 * offset of the slice, or in memory an offset from the header); 0 on
 * success. */
static int
read_at(const mm_macho *macho, uint64_t offset, void *buf, size_t len)
{
    /* base + slice_size <= size was checked when the slice was chosen, so
     * the offset reader never finds base + offset wrapping. */
    mm_offset_reader slice = {macho->source.read, macho->source.ctx,
                              macho->base};
    mm_source within = {
        .read = mm_read_offset, .ctx = &slice, .size = macho->slice_size};

    return mm_read_within(&within, offset, buf, len);
}

/* The most bytes a table read from the input may take. */
static uint64_t
alloc_limit(const mm_macho *macho)
{
    return mm_table_limit(macho->slice_size);
}

/* ---- fat files ---- */

static void
decode_fat_arch(const uint8_t *p, int fat64, mm_macho_fat_arch *a)
{
    a->cputype = mm_be32(p);
    a->cpusubtype = mm_be32(p + 4);
    if (fat64) {
        a->offset = mm_be64(p + 8);
        a->size = mm_be64(p + 16);
        a->align = mm_be32(p + 24);
    }
    else {
        a->offset = mm_be32(p + 8);
        a->size = mm_be32(p + 12);
        a->align = mm_be32(p + 16);
    }
}

/* Reads the fat header at offset 0 of size bytes and calls back for each
 * architecture: visit returns non-zero to stop.  *nfat gets the count.
 * MM_ERR_NOT_FOUND when the magic is not a fat one. */
typedef int (*fat_visit_fn)(void *arg, size_t index,
                            const mm_macho_fat_arch *arch);

static mm_status
walk_fat(mm_read_fn read, void *ctx, uint64_t size, fat_visit_fn visit,
         void *arg, uint32_t *nfat, mm_err *err)
{
    uint8_t h[8], raw[32];
    uint32_t magic, count;
    int fat64;
    size_t entsize;

    *nfat = 0;
    if (!fits(size, 0, sizeof(h)) || read(ctx, 0, h, sizeof(h)) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "too short for a Mach-O header");
    }
    magic = mm_be32(h);
    if (magic != FAT_MAGIC && magic != FAT_MAGIC_64) {
        return MM_ERR_NOT_FOUND;
    }
    fat64 = magic == FAT_MAGIC_64;
    entsize = fat_arch_size[fat64];
    count = mm_be32(h + 4);
    if (count == 0 || count > MAX_FAT_ARCHS ||
        !fits(size, 8, (uint64_t)count * entsize)) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "a fat header with %" PRIu32
                          " architectures that do not fit in the file",
                          count);
    }
    *nfat = count;
    for (uint32_t i = 0; i < count; i++) {
        mm_macho_fat_arch arch;
        if (read(ctx, 8 + (uint64_t)i * entsize, raw, entsize) != 0) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "fat_arch %" PRIu32 " cannot be read", i);
        }
        decode_fat_arch(raw, fat64, &arch);
        /* A slice at offset 0 would be the fat header itself; one that
         * runs past the file is a truncated or lying file. */
        if (arch.offset == 0 || arch.size == 0 ||
            !fits(size, arch.offset, arch.size)) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "fat_arch %" PRIu32 " (0x%" PRIx64
                              " bytes at offset 0x%" PRIx64
                              ") runs past the end of the file",
                              i, arch.size, arch.offset);
        }
        if (visit != NULL && visit(arg, i, &arch) != 0) {
            break;
        }
    }
    return MM_OK;
}

typedef struct fat_list {
    mm_macho_fat_arch *out;
    size_t cap;
} fat_list;

static int
collect_arch(void *arg, size_t index, const mm_macho_fat_arch *arch)
{
    fat_list *list = arg;

    if (index < list->cap) {
        list->out[index] = *arch;
    }
    return 0;
}

mm_status
mm_macho_fat_archs(mm_read_fn read, void *ctx, uint64_t size,
                   mm_macho_fat_arch *out, size_t cap, size_t *count,
                   mm_err *err)
{
    fat_list list = {out, out != NULL ? cap : 0};
    uint32_t nfat;
    mm_status status;

    *count = 0;
    if (read == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0, "no read callback");
    }
    status = walk_fat(read, ctx, size, collect_arch, &list, &nfat, err);
    if (status == MM_ERR_NOT_FOUND) {
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0, "not a fat file");
    }
    if (status == MM_OK) {
        *count = nfat;
    }
    return status;
}

/* Chooses the architecture cputype (or the first) of a fat file. */
typedef struct fat_choice {
    uint32_t cputype;
    int found;
    mm_macho_fat_arch arch;
} fat_choice;

static int
choose_arch(void *arg, size_t index, const mm_macho_fat_arch *arch)
{
    fat_choice *choice = arg;

    (void)index;
    if (choice->cputype == MM_MACHO_CPU_ANY ||
        arch->cputype == choice->cputype) {
        choice->arch = *arch;
        choice->found = 1;
        return 1;
    }
    return 0;
}

/* ---- load commands ---- */

static void
copy_segname(char *out, const uint8_t *p)
{
    /* segname is 16 bytes, NUL-padded, and not terminated when it is 16
     * characters long. */
    memcpy(out, p, 16);
    out[16] = '\0';
}

/* segment_command and segment_command_64 hold the same fields, the
 * addresses and sizes one word (4 or 8 bytes) wide. */
static void
decode_segment(const mm_macho *macho, const uint8_t *p, uint32_t cmd,
               mm_macho_segment *s)
{
    const unsigned w = cmd == LC_SEGMENT_64 ? 8 : 4;

    copy_segname(s->name, p + 8);
    /* after cmd, cmdsize and the 16 bytes of segname */
    s->vmaddr = getword(macho, p + 24, w);
    s->vmsize = getword(macho, p + 24 + w, w);
    s->fileoff = getword(macho, p + 24 + 2 * w, w);
    s->filesize = getword(macho, p + 24 + 3 * w, w);
    s->maxprot = mm_field32(macho, p + 24 + 4 * w);
    s->initprot = mm_field32(macho, p + 28 + 4 * w);
}

/* Checks one load command at off of the cmds buffer (len bytes) and what
 * this reader uses of it.  *segments counts the segment commands. */
static mm_status
check_command(mm_macho *macho, const uint8_t *cmds, uint32_t len,
              uint32_t index, uint32_t off, uint32_t *cmdsize,
              size_t *segments, mm_err *err)
{
    const uint8_t *p = cmds + off;
    uint32_t cmd, size, need = 0, nsects = 0, sectsize = 0;

    if (len - off < 8) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "load command %" PRIu32
                          " starts past sizeofcmds (%" PRIu32 " bytes)",
                          index, len);
    }
    cmd = mm_field32(macho, p);
    size = mm_field32(macho, p + 4);
    if (size < 8 || size % cmd_align[macho->is64] != 0 || size > len - off) {
        return mm_err_set(
            err, MM_ERR_PARSE, 0,
            "load command %" PRIu32 " (0x%" PRIx32 ") has cmdsize %" PRIu32
            ": below 8, not a multiple of %" PRIu32 " or past sizeofcmds",
            index, cmd, size, cmd_align[macho->is64]);
    }
    switch (cmd) {
    case LC_SEGMENT:
        need = 56;
        sectsize = 68;
        break;
    case LC_SEGMENT_64:
        need = 72;
        sectsize = 80;
        break;
    case LC_SYMTAB:
    case LC_UUID:
        need = 24;
        break;
    default:
        break;
    }
    if (size < need) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "load command %" PRIu32 " (0x%" PRIx32
                          ") has cmdsize %" PRIu32 ", less than %" PRIu32,
                          index, cmd, size, need);
    }
    if (sectsize != 0) {
        nsects = mm_field32(macho, p + (cmd == LC_SEGMENT_64 ? 64 : 48));
        if (nsects > (size - need) / sectsize) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "segment command %" PRIu32 " has %" PRIu32
                              " sections, more than its cmdsize holds",
                              index, nsects);
        }
        for (uint32_t j = 0; j < nsects && macho->section_count < 255; j++) {
            /* sectname and segname, 16 bytes each, then addr and size,
             * one word each. */
            const uint8_t *q = p + need + (size_t)j * sectsize;
            size_t k = macho->section_count++;
            macho->section_addr[k] = cmd == LC_SEGMENT_64
                                         ? mm_field64(macho, q + 32)
                                         : mm_field32(macho, q + 32);
            macho->section_size[k] = cmd == LC_SEGMENT_64
                                         ? mm_field64(macho, q + 40)
                                         : mm_field32(macho, q + 36);
        }
        (*segments)++;
    }
    if (cmd == LC_SYMTAB) {
        if (macho->has_symtab) {
            return mm_err_set(err, MM_ERR_PARSE, 0, "more than one LC_SYMTAB");
        }
        macho->has_symtab = 1;
        macho->symoff = mm_field32(macho, p + 8);
        macho->nsyms = mm_field32(macho, p + 12);
        macho->stroff = mm_field32(macho, p + 16);
        macho->strsize = mm_field32(macho, p + 20);
    }
    else if (cmd == LC_UUID && !macho->has_uuid) {
        macho->has_uuid = 1;
        memcpy(macho->uuid, p + 8, 16);
    }
    *cmdsize = size;
    return MM_OK;
}

/* Finds where the header is in the address space: the __TEXT segment, else
 * the first one that maps file offset 0 with file bytes. */
static void
find_text(mm_macho *macho)
{
    const mm_macho_segment *text = mm_macho_segment_named(macho, "__TEXT");

    for (size_t i = 0; text == NULL && i < macho->segment_count; i++) {
        const mm_macho_segment *s = &macho->segments[i];
        if (s->fileoff == 0 && s->filesize != 0) {
            text = s;
        }
    }
    if (text != NULL) {
        macho->has_text = 1;
        macho->text_vmaddr = text->vmaddr;
    }
}

/* Reads the load commands of the thin image at macho->base. */
static mm_status
load_commands(mm_macho *macho, mm_err *err)
{
    size_t hsize = header_size[macho->is64], segments = 0;
    uint8_t *cmds = NULL;
    uint32_t off = 0;
    mm_status status;

    if (macho->sizeofcmds > LOADCMDS_CAP ||
        !fits(macho->slice_size, hsize, macho->sizeofcmds)) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "sizeofcmds %" PRIu32
                          " runs past the end of the Mach-O image",
                          macho->sizeofcmds);
    }
    /* Each command takes at least 8 bytes. */
    if (macho->ncmds > macho->sizeofcmds / 8) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "ncmds %" PRIu32
                          " load commands cannot fit in sizeofcmds %" PRIu32,
                          macho->ncmds, macho->sizeofcmds);
    }
    cmds = malloc(macho->sizeofcmds ? macho->sizeofcmds : 1);
    if (cmds == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory for %" PRIu32
                          " bytes of load commands",
                          macho->sizeofcmds);
    }
    if (read_at(macho, hsize, cmds, macho->sizeofcmds) != 0) {
        status =
            mm_err_set(err, MM_ERR_PARSE, 0,
                       "the load commands (%" PRIu32 " bytes) cannot be read",
                       macho->sizeofcmds);
        goto error;
    }
    /* First pass: check every command and count the segments. */
    for (uint32_t i = 0; i < macho->ncmds; i++) {
        uint32_t size = 0;
        status = check_command(macho, cmds, macho->sizeofcmds, i, off, &size,
                               &segments, err);
        if (status != MM_OK) {
            goto error;
        }
        off += size;
    }
    if (segments > 0) {
        macho->segments = calloc(segments, sizeof(mm_macho_segment));
        if (macho->segments == NULL) {
            status = mm_err_set(err, MM_ERR_NOMEM, 0,
                                "out of memory for %zu segments", segments);
            goto error;
        }
    }
    /* Second pass: the commands are known to be sound. */
    off = 0;
    for (uint32_t i = 0; i < macho->ncmds; i++) {
        const uint8_t *p = cmds + off;
        uint32_t cmd = mm_field32(macho, p);
        if (cmd == LC_SEGMENT || cmd == LC_SEGMENT_64) {
            decode_segment(macho, p, cmd,
                           &macho->segments[macho->segment_count++]);
        }
        off += mm_field32(macho, p + 4);
    }
    find_text(macho);
    free(cmds);
    return MM_OK;

error:
    free(cmds);
    return status;
}

mm_status
mm_macho_open(mm_macho *macho, mm_read_fn read, void *ctx, uint64_t size,
              uint32_t cputype, unsigned flags, mm_err *err)
{
    uint8_t h[32];
    uint32_t magic;
    mm_status status;

    memset(macho, 0, sizeof(*macho));
    macho->source = (mm_source){.read = read, .ctx = ctx, .size = size};
    macho->flags_open = flags;
    macho->slice_size = size;
    if (read == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0, "no read callback");
    }
    if (!(flags & MM_MACHO_MEMORY)) {
        fat_choice choice;
        memset(&choice, 0, sizeof(choice));
        choice.cputype = cputype;
        status = walk_fat(read, ctx, size, choose_arch, &choice,
                          &macho->nfat_arch, err);
        if (status == MM_OK) {
            if (!choice.found) {
                return mm_err_set(err, MM_ERR_NOT_FOUND, 0,
                                  "the fat file has no architecture with "
                                  "cputype 0x%" PRIx32,
                                  cputype);
            }
            macho->base = choice.arch.offset;
            macho->slice_size = choice.arch.size;
        }
        else if (status != MM_ERR_NOT_FOUND) {
            return status;
        }
    }
    if (read_at(macho, 0, h, 4) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "too short for a Mach-O header");
    }
    magic = mm_le32(h);
    if (magic == MH_MAGIC || magic == MH_MAGIC_64) {
        macho->big_endian = 0;
    }
    else if (mm_be32(h) == MH_MAGIC || mm_be32(h) == MH_MAGIC_64) {
        macho->big_endian = 1;
        magic = mm_be32(h);
    }
    else if (mm_be32(h) == FAT_MAGIC || mm_be32(h) == FAT_MAGIC_64) {
        /* In memory, or a fat file inside a fat file: loaders map thin
         * images only. */
        return mm_err_set(err, MM_ERR_PARSE, 0, "%s",
                          macho->nfat_arch ? "a fat file inside a fat file"
                                           : "a fat header in memory");
    }
    else {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "not a Mach-O file (magic 0x%08" PRIx32 ")",
                          mm_be32(h));
    }
    macho->is64 = magic == MH_MAGIC_64;
    if (read_at(macho, 0, h, header_size[macho->is64]) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "too short for a %d-bit Mach-O header",
                          macho->is64 ? 64 : 32);
    }
    macho->cputype = mm_field32(macho, h + 4);
    macho->cpusubtype = mm_field32(macho, h + 8);
    macho->filetype = mm_field32(macho, h + 12);
    macho->ncmds = mm_field32(macho, h + 16);
    macho->sizeofcmds = mm_field32(macho, h + 20);
    macho->flags = mm_field32(macho, h + 24);
    if (cputype != MM_MACHO_CPU_ANY && macho->cputype != cputype) {
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0,
                          "the image is for cputype 0x%" PRIx32
                          ", not 0x%" PRIx32,
                          macho->cputype, cputype);
    }
    macho->internal = calloc(1, sizeof(macho_internal));
    if (macho->internal == NULL) {
        status = mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
        goto error;
    }
    status = load_commands(macho, err);
    if (status != MM_OK) {
        goto error;
    }
    return MM_OK;

error:
    mm_macho_close(macho);
    return status;
}

void
mm_macho_close(mm_macho *macho)
{
    macho_internal *in = macho->internal;

    if (in != NULL) {
        mm_symtab_free(in);
        free(in);
    }
    free(macho->segments);
    macho->segments = NULL;
    macho->segment_count = 0;
    macho->internal = NULL;
}

const mm_macho_segment *
mm_macho_segment_named(const mm_macho *macho, const char *name)
{
    for (size_t i = 0; i < macho->segment_count; i++) {
        if (strcmp(macho->segments[i].name, name) == 0) {
            return &macho->segments[i];
        }
    }
    return NULL;
}

/* ---- addresses ---- */

int
mm_macho_slide(const mm_macho *macho, uint64_t load_address, uint64_t *slide)
{
    if (!macho->has_text) {
        return -1;
    }
    *slide = load_address - macho->text_vmaddr; /* modulo 2**64 */
    return 0;
}

int
mm_macho_fileoff_to_vmaddr(const mm_macho *macho, uint64_t fileoff,
                           uint64_t len, uint64_t *vmaddr)
{
    for (size_t i = 0; i < macho->segment_count; i++) {
        const mm_macho_segment *s = &macho->segments[i];
        /* The file bytes, not vmsize: beyond filesize memory is zeros. */
        if (mm_translate(s->fileoff, s->filesize, s->vmaddr, fileoff, len,
                         vmaddr) == 0) {
            return 0;
        }
    }
    return -1;
}

/* Where the callback finds [fileoff, fileoff + len): the file offset
 * itself, or in memory the address counted from the header.  0 on
 * success. */
static int
locate(const mm_macho *macho, uint64_t fileoff, uint64_t len, uint64_t *offset)
{
    uint64_t vmaddr;

    if (!(macho->flags_open & MM_MACHO_MEMORY)) {
        *offset = fileoff;
        return 0;
    }
    if (!macho->has_text ||
        mm_macho_fileoff_to_vmaddr(macho, fileoff, len, &vmaddr) != 0 ||
        vmaddr < macho->text_vmaddr) {
        return -1;
    }
    *offset = vmaddr - macho->text_vmaddr;
    return 0;
}

/* Reads a table of len bytes at file offset fileoff into a new buffer (*out,
 * to be freed).  A zero len gives a valid one-byte buffer. */
static mm_status
read_table(const mm_macho *macho, uint64_t fileoff, uint64_t len,
           const char *what, void **out, mm_err *err)
{
    mm_offset_reader slice = {macho->source.read, macho->source.ctx,
                              macho->base};
    mm_source within = {
        .read = mm_read_offset, .ctx = &slice, .size = macho->slice_size};
    uint64_t offset;

    *out = NULL;
    if (len == 0) {
        /* An empty table needs no segment to hold it (symoff is often 0
         * then). */
        *out = malloc(1);
        return *out != NULL
                   ? MM_OK
                   : mm_err_set(err, MM_ERR_NOMEM, 0, "out of memory");
    }
    /* The size before the place: a huge table is too large wherever it
     * claims to be. */
    if (len > alloc_limit(macho)) {
        return mm_table_too_large(what, len, err);
    }
    if (locate(macho, fileoff, len, &offset) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%s (0x%" PRIx64 " bytes at file offset 0x%" PRIx64
                          ") is not in the file bytes of a segment",
                          what, len, fileoff);
    }
    return mm_read_table(&within, offset, len, alloc_limit(macho), NULL,
                         "Mach-O", what, out, err);
}

/* ---- the symbol table ---- */

static mm_status
load_table(mm_macho *macho, macho_internal *in, mm_err *err)
{
    size_t entsize = nlist_size[macho->is64];
    mm_status status;
    void *buf;

    if (!macho->has_symtab) {
        in->state = MM_TABLE_ABSENT;
        return MM_ERR_NOT_FOUND;
    }
    status = read_table(macho, macho->symoff, (uint64_t)macho->nsyms * entsize,
                        "the LC_SYMTAB symbols", &buf, err);
    if (status != MM_OK) {
        return status;
    }
    in->syms = buf;
    in->count = macho->nsyms;
    status = read_table(macho, macho->stroff, macho->strsize,
                        "the LC_SYMTAB string table", &buf, err);
    if (status != MM_OK) {
        return status;
    }
    in->strings = buf;
    in->strings_len = macho->strsize;
    in->names_end = mm_names_end(in->strings, in->strings_len);
    in->state = MM_TABLE_LOADED;
    return MM_OK;
}

/* The table, read on first use and kept; a corrupt one is remembered with
 * its error so that it is not read again. */
static mm_status
get_table(mm_macho *macho, macho_internal **out, mm_err *err)
{
    macho_internal *in = macho->internal;
    mm_status status;

    *out = in;
    if (in == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0, "no open Mach-O image");
    }
    switch (in->state) {
    case MM_TABLE_LOADED:
        return MM_OK;
    case MM_TABLE_ABSENT:
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0, "no LC_SYMTAB");
    case MM_TABLE_CORRUPT:
        *err = in->error;
        return in->error.status;
    default:
        break;
    }
    status = load_table(macho, in, err);
    if (status == MM_ERR_PARSE) {
        mm_symtab_free(in);
        in->state = MM_TABLE_CORRUPT;
        in->error = *err;
    }
    else if (status == MM_ERR_NOMEM) {
        mm_symtab_free(in); /* not kept: it may work next time */
    }
    else if (status == MM_ERR_NOT_FOUND) {
        mm_err_set(err, MM_ERR_NOT_FOUND, 0, "no LC_SYMTAB");
    }
    return status;
}

/* Decodes entry i.  Returns 0 for a defined symbol (N_SECT or N_ABS, not a
 * stab), 1 for one to skip, -1 for a name outside the string table. */
static int
decode_symbol(const mm_macho *macho, const macho_internal *in, size_t i,
              uint32_t *strx, mm_macho_symbol *out)
{
    const uint8_t *p = in->syms + i * nlist_size[macho->is64];
    uint8_t type = p[4], kind = type & N_TYPE;

    /* Stabs carry debugger facts (a GSYM's value is 0, a FUN's the
     * function again); N_UNDF is undefined, or common with a size as its
     * value; N_INDR's value is a string index; N_PBUD is undefined too. */
    if ((type & N_STAB) != 0 || (kind != N_SECT && kind != N_ABS)) {
        return 1;
    }
    *strx = mm_field32(macho, p);
    out->type = type;
    out->section = p[5];
    out->desc = mm_field16(macho, p + 6);
    out->value = getword(macho, p + 8, macho->is64 ? 8 : 4);
    return *strx < in->names_end ? 0 : -1;
}

mm_status
mm_macho_symbol_count(mm_macho *macho, size_t *count, mm_err *err)
{
    macho_internal *in;
    mm_status status = get_table(macho, &in, err);

    *count = status == MM_OK ? in->count : 0;
    return status;
}

mm_status
mm_macho_symbol_at(mm_macho *macho, size_t index, const char **name,
                   mm_macho_symbol *out, mm_err *err)
{
    macho_internal *in;
    mm_macho_symbol sym;
    uint32_t strx;
    mm_status status = get_table(macho, &in, err);
    int kind;

    if (status != MM_OK) {
        return status;
    }
    if (index >= in->count) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0,
                          "symbol %zu of %zu does not exist", index,
                          in->count);
    }
    memset(&sym, 0, sizeof(sym));
    kind = decode_symbol(macho, in, index, &strx, &sym);
    if (kind > 0) {
        return mm_err_set(err, MM_ERR_NOT_FOUND, 0,
                          "symbol %zu is a stab or not defined", index);
    }
    if (kind < 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "symbol %zu has a name outside its string table",
                          index);
    }
    *name = in->strings + strx;
    *out = sym;
    return MM_OK;
}

mm_status
mm_macho_find_symbol(mm_macho *macho, const char *name, mm_macho_symbol *out,
                     mm_err *err)
{
    macho_internal *in;
    mm_macho_symbol best, sym;
    size_t len, corrupt = SIZE_MAX;
    int best_rank = 0;
    mm_status status;

    if (macho->internal == NULL || name == NULL) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0,
                          "no open Mach-O image or no name");
    }
    status = get_table(macho, &in, err);
    if (status != MM_OK) {
        return status;
    }
    len = strlen(name);
    /* Whole structures, padding too, so that two answers compare equal. */
    memset(&best, 0, sizeof(best));
    memset(&sym, 0, sizeof(sym));
    for (size_t i = 0; i < in->count; i++) {
        uint32_t strx = 0;
        int kind = decode_symbol(macho, in, i, &strx, &sym), rank;
        if (kind > 0) {
            continue;
        }
        if (kind < 0) {
            corrupt = corrupt != SIZE_MAX ? corrupt : i;
            continue;
        }
        /* The name and its NUL lie below names_end <= strings_len. */
        if (len >= in->strings_len - strx ||
            memcmp(in->strings + strx, name, len + 1) != 0) {
            continue;
        }
        /* Of several with the name, an external one wins over a private
         * external one, which wins over a local (static) one. */
        rank = sym.type & N_EXT ? 3 : sym.type & N_PEXT ? 2 : 1;
        if (rank > best_rank) {
            best = sym;
            best_rank = rank;
            if (rank == 3) {
                break;
            }
        }
    }
    if (best_rank > 0) {
        *out = best;
        return MM_OK;
    }
    if (corrupt != SIZE_MAX) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "symbol %zu of LC_SYMTAB has a name outside its "
                          "string table",
                          corrupt);
    }
    return mm_err_set(err, MM_ERR_NOT_FOUND, 0, "no defined symbol %.200s",
                      name);
}
