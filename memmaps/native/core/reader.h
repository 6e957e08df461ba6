/* Where a format reader gets its bytes: one callback shape for a buffer, a
 * file, an image inside a larger address space, and a target's memory.
 *
 * The ELF, Mach-O and dyld readers never touch a file or a process
 * themselves; they ask a mm_read_fn for exactly the bytes they need, and the
 * size the source can serve bounds every table they accept.  So the same
 * parser runs over a file on disk, a buffer a fuzzer made up, or another
 * process's memory, and a caller chooses what may be read and from where.
 */
#ifndef MM_READER_H
#define MM_READER_H

#include "core/mm.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reads len bytes at offset into buf; returns 0 only when all of them were
 * read.  What offset counts from is the source's own business: the start of
 * a file or buffer, or an address of a process. */
typedef int (*mm_read_fn)(void *ctx, uint64_t offset, void *buf, size_t len);

/* The size of a source that cannot say: every table is then bounded by the
 * reader's own caps instead. */
#define MM_SIZE_UNKNOWN UINT64_MAX

/* A buffer in this process: ctx is a mm_buffer. */
typedef struct mm_buffer {
    const uint8_t *data;
    size_t len;
} mm_buffer;
int mm_read_buffer(void *ctx, uint64_t offset, void *buf, size_t len);

/* Offsets counted from base in another source, for an image that lies at
 * base in an address space: ctx is a mm_offset_reader.  An offset that would
 * wrap fails. */
typedef struct mm_offset_reader {
    mm_read_fn read;
    void *ctx;
    uint64_t base;
} mm_offset_reader;
int mm_read_offset(void *ctx, uint64_t offset, void *buf, size_t len);

/* A target's memory at absolute addresses, through the backend's
 * mm_read_memory(): ctx is a mm_target.  Only a read of every byte asked
 * for succeeds. */
int mm_read_target(void *ctx, uint64_t address, void *buf, size_t len);

/* Fields of the bytes read, in the byte order a format says: big_endian
 * non-zero for the most significant byte first.  Inline, since symbol
 * lookups decode every entry of a table. */
static inline uint32_t
mm_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static inline uint32_t
mm_le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 |
           p[0];
}

static inline uint64_t
mm_be64(const uint8_t *p)
{
    return (uint64_t)mm_be32(p) << 32 | mm_be32(p + 4);
}

static inline uint16_t
mm_get16(int big_endian, const uint8_t *p)
{
    if (big_endian) {
        return (uint16_t)((unsigned)p[0] << 8 | p[1]);
    }
    return (uint16_t)((unsigned)p[1] << 8 | p[0]);
}

static inline uint32_t
mm_get32(int big_endian, const uint8_t *p)
{
    return big_endian ? mm_be32(p) : mm_le32(p);
}

static inline uint64_t
mm_get64(int big_endian, const uint8_t *p)
{
    if (big_endian) {
        return mm_be64(p);
    }
    return (uint64_t)mm_le32(p + 4) << 32 | mm_le32(p);
}

/* Whether [offset, offset + len) of a source holds data the source really
 * has: 1 when it does, 0 when part of it is a hole of a sparse file, which
 * reads as zeros that cost nothing to the file and memory to the reader. */
typedef int (*mm_backed_fn)(void *ctx, uint64_t offset, uint64_t len);

/* Non-zero when whoever asked for the work wants it stopped (a Ctrl-C).
 * Readers call it every MM_CANCEL_STRIDE entries or so of a long loop, so
 * it must be cheap; once it has said stop it must keep saying so. */
typedef int (*mm_cancel_fn)(void *ctx);

/* Entries (symbols, headers, bytes of a table in MiB pieces) a reader
 * handles between two calls of the cancelled callback. */
#define MM_CANCEL_STRIDE 4096

/* A format reader's input: a callback and how many bytes it serves
 * (MM_SIZE_UNKNOWN when it cannot say: a process's memory), and two
 * optional ones.  backed NULL: a source read with mm_read_fd is asked with
 * mm_fd_backed, any other is taken as backed.  cancelled NULL: the work
 * is never stopped. */
typedef struct mm_source {
    mm_read_fn read;
    void *ctx;
    uint64_t size;
    mm_backed_fn backed;
    mm_cancel_fn cancelled;
    void *cancel_ctx;
} mm_source;

/* Reads exactly len bytes at offset of the source, refusing what lies past
 * its size before asking the callback, so a corrupt offset never reaches
 * it; 0 on success. */
int mm_read_within(const mm_source *source, uint64_t offset, void *buf,
                   size_t len);

/* Whether [offset, offset + len) of the source is backed (see
 * mm_backed_fn): 1 or 0. */
int mm_source_backed(const mm_source *source, uint64_t offset, uint64_t len);

/* Whether the source's caller wants the work stopped. */
static inline int
mm_source_cancelled(const mm_source *source)
{
    return source->cancelled != NULL && source->cancelled(source->cancel_ctx);
}

/* Sets err for a stopped piece of work; returns MM_ERR_CANCELLED. */
mm_status mm_cancelled_error(mm_err *err);

/* The largest table a reader takes from a source of unknown size: far more
 * than any real symbol table, far less than a hostile count would ask for. */
#define MM_TABLE_CAP ((uint64_t)256 << 20)

/* The most bytes of tables (section headers, symbols, strings, version
 * records) one image may have read and kept at a time, whatever its
 * headers claim: twice MM_TABLE_CAP.  The largest real ones fit with room
 * to spare (an unstripped Chromium has some 50 MB of .symtab and 150 MB of
 * .strtab; libxul's debug file less). */
#define MM_IMAGE_TABLE_BUDGET ((uint64_t)512 << 20)

/* What an image has left to spend on tables: each reader keeps one, and
 * mm_read_table charges it. */
typedef struct mm_budget {
    uint64_t left;
} mm_budget;

/* The most bytes a table read from a source of size bytes may take: the
 * size, or MM_TABLE_CAP when that is less. */
uint64_t mm_table_limit(uint64_t size);

/* Where the names of a string table of len bytes must start so that their
 * NUL lies inside it: one past its last NUL, 0 when it has none.  Checking
 * a name against this costs nothing per lookup. */
size_t mm_names_end(const char *strings, size_t len);

/* The error for a table of len bytes larger than a reader will allocate
 * (what names it); returns MM_ERR_PARSE. */
mm_status mm_table_too_large(const char *what, uint64_t len, mm_err *err);

/* Reads a table of len bytes at offset of the source into a new buffer
 * (*out, to be freed): it must lie within the source, be no larger than
 * cap, lie on data the source really has (no hole of a sparse file), and
 * fit in what budget has left (which it then charges; NULL: no budget).
 * It is read in pieces, asking the source's cancelled callback between
 * them (MM_ERR_CANCELLED).  what names the table and image the kind of
 * input ("ELF"), in the messages.  A zero len gives a valid one-byte
 * buffer.  Refusals are MM_ERR_PARSE: the table is taken as corrupt. */
mm_status mm_read_table(const mm_source *source, uint64_t offset, uint64_t len,
                        uint64_t cap, mm_budget *budget, const char *image,
                        const char *what, void **out, mm_err *err);

/* Gives len bytes back to budget, for a table that was freed. */
static inline void
mm_budget_refund(mm_budget *budget, uint64_t len)
{
    if (budget != NULL) {
        budget->left =
            len > UINT64_MAX - budget->left ? UINT64_MAX : budget->left + len;
    }
}

#ifndef _WIN32
/* A file descriptor, read with pread() (so several readers can share it):
 * ctx points at the int. */
int mm_read_fd(void *ctx, uint64_t offset, void *buf, size_t len);
/* The size of the file open on fd, for bounding what its readers accept;
 * MM_SIZE_UNKNOWN when it cannot be had. */
uint64_t mm_fd_size(int fd);
/* Whether [offset, offset + len) of the regular file open on fd is data,
 * not a hole: by lseek(SEEK_HOLE) where the system has it, else by
 * st_blocks (a file cannot hold more data than it has blocks).  1 for
 * what is not a regular file (it has no holes to tell).  It moves the
 * descriptor's offset, which pread-based readers do not use. */
int mm_fd_backed(int fd, uint64_t offset, uint64_t len);
/* An mm_backed_fn for a source read with mm_read_fd. */
int mm_read_fd_backed(void *ctx, uint64_t offset, uint64_t len);
#endif

/* A field of a record in its reader's byte order: r is the reader's state
 * (mm_elf, mm_macho ...), which has a big_endian member. */
#define mm_field16(r, p) mm_get16((r)->big_endian, (p))
#define mm_field32(r, p) mm_get32((r)->big_endian, (p))
#define mm_field64(r, p) mm_get64((r)->big_endian, (p))

/* Where [at, at + len) of one space lies in another, when it is all inside
 * the piece [from, from + size) that the other holds at to (a segment's
 * addresses and its file offsets): 0 with *out set, -1 when it is not, or
 * when the answer would wrap. */
static inline int
mm_translate(uint64_t from, uint64_t size, uint64_t to, uint64_t at,
             uint64_t len, uint64_t *out)
{
    uint64_t delta;

    if (at < from) {
        return -1;
    }
    delta = at - from;
    if (delta >= size || len > size - delta || to > UINT64_MAX - delta) {
        return -1;
    }
    *out = to + delta;
    return 0;
}

/* What a reader knows of a table it reads on first use. */
enum {
    MM_TABLE_UNLOADED = 0,
    MM_TABLE_ABSENT,
    MM_TABLE_LOADED,
    MM_TABLE_CORRUPT,
};

/* A symbol table as read, kept so that repeated lookups read nothing: its
 * raw entries, in the format's own layout, and their string table. */
typedef struct mm_symtab {
    int state; /* MM_TABLE_* */
    uint8_t *syms;
    size_t count;
    char *strings;
    size_t strings_len;
    /* A name that starts below this has its NUL inside the string table:
     * one past the last NUL, so that checking a name costs nothing. */
    size_t names_end;
    mm_err error;     /* MM_TABLE_CORRUPT: why */
    uint64_t charged; /* bytes charged to the image's budget */
} mm_symtab;

/* Frees what t holds; it is then unloaded, and may be read again. */
void mm_symtab_free(mm_symtab *t);

#ifdef __cplusplus
}
#endif

#endif /* MM_READER_H */
