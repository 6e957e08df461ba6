/* The byte sources of core/reader.h. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* SEEK_HOLE, and pread() under -std=c11 */
#endif
#if !defined(_WIN32) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700 /* pread() under -std=c11 */
#endif
#include "core/reader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/stat.h>
#include <unistd.h>
#endif

/* The piece a table is read in between two questions to the cancelled
 * callback: 1 MiB takes well under a millisecond from the page cache. */
#define TABLE_PIECE ((size_t)1 << 20)

int
mm_read_buffer(void *ctx, uint64_t offset, void *buf, size_t len)
{
    const mm_buffer *b = ctx;

    if (offset > b->len || len > b->len - offset) {
        return -1;
    }
    if (len > 0) {
        memcpy(buf, b->data + offset, len);
    }
    return 0;
}

int
mm_read_offset(void *ctx, uint64_t offset, void *buf, size_t len)
{
    const mm_offset_reader *r = ctx;

    if (offset > UINT64_MAX - r->base) {
        return -1;
    }
    return r->read(r->ctx, r->base + offset, buf, len);
}

int
mm_read_within(const mm_source *source, uint64_t offset, void *buf, size_t len)
{
    if (offset > source->size || len > source->size - offset) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    return source->read(source->ctx, offset, buf, len) == 0 ? 0 : -1;
}

uint64_t
mm_table_limit(uint64_t size)
{
    return size < MM_TABLE_CAP ? size : MM_TABLE_CAP;
}

size_t
mm_names_end(const char *strings, size_t len)
{
    while (len > 0 && strings[len - 1] != '\0') {
        len--;
    }
    return len;
}

mm_status
mm_table_too_large(const char *what, uint64_t len, mm_err *err)
{
    return mm_err_set(err, MM_ERR_PARSE, 0,
                      "%s is 0x%" PRIx64 " bytes, more than can be real", what,
                      len);
}

int
mm_source_backed(const mm_source *source, uint64_t offset, uint64_t len)
{
    if (len == 0) {
        return 1;
    }
    if (source->backed != NULL) {
        return source->backed(source->ctx, offset, len) != 0;
    }
#ifndef _WIN32
    if (source->read == mm_read_fd) {
        return mm_read_fd_backed(source->ctx, offset, len);
    }
#endif
    return 1;
}

mm_status
mm_cancelled_error(mm_err *err)
{
    return mm_err_set(err, MM_ERR_CANCELLED, 0, "interrupted");
}

mm_status
mm_read_table(const mm_source *source, uint64_t offset, uint64_t len,
              uint64_t cap, mm_budget *budget, const char *image,
              const char *what, void **out, mm_err *err)
{
    uint8_t *buf;

    *out = NULL;
    /* Bounds first: a table past the end is reported as that even when it
     * is also too large. */
    if (offset > source->size || len > source->size - offset) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%s (0x%" PRIx64 " bytes at offset 0x%" PRIx64
                          ") runs past the end of the %s image",
                          what, len, offset, image);
    }
    if (len > cap) {
        return mm_table_too_large(what, len, err);
    }
    if (budget != NULL && len > budget->left) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%s (0x%" PRIx64
                          " bytes) would take the tables read from the %s "
                          "image past 0x%" PRIx64 " bytes",
                          what, len, image, MM_IMAGE_TABLE_BUDGET);
    }
    if (!mm_source_backed(source, offset, len)) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%s (0x%" PRIx64 " bytes at offset 0x%" PRIx64
                          ") lies on a hole of a sparse file: it is not "
                          "real",
                          what, len, offset);
    }
    buf = malloc(len ? (size_t)len : 1);
    if (buf == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory reading %s (0x%" PRIx64 " bytes)",
                          what, len);
    }
    for (uint64_t done = 0; done < len;) {
        size_t piece =
            len - done < TABLE_PIECE ? (size_t)(len - done) : TABLE_PIECE;
        if (mm_source_cancelled(source)) {
            free(buf);
            return mm_cancelled_error(err);
        }
        if (mm_read_within(source, offset + done, buf + done, piece) != 0) {
            free(buf);
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "%s (0x%" PRIx64 " bytes at offset 0x%" PRIx64
                              ") cannot be read",
                              what, len, offset);
        }
        done += piece;
    }
    if (budget != NULL) {
        budget->left -= len;
    }
    *out = buf;
    return MM_OK;
}

#ifndef _WIN32
int
mm_read_fd(void *ctx, uint64_t offset, void *buf, size_t len)
{
    int fd = *(const int *)ctx;
    char *out = buf;

    if (offset > (uint64_t)INT64_MAX) {
        return -1;
    }
    while (len > 0) {
        ssize_t n = pread(fd, out, len, (off_t)offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        out += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

uint64_t
mm_fd_size(int fd)
{
    off_t end = lseek(fd, 0, SEEK_END);

    return end > 0 ? (uint64_t)end : MM_SIZE_UNKNOWN;
}

int
mm_fd_backed(int fd, uint64_t offset, uint64_t len)
{
    struct stat st;

    if (offset > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - offset ||
        fstat(fd, &st) != 0) {
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        return 1;
    }
#ifdef SEEK_HOLE
    {
        /* The first hole at or after offset (the end of the file counts
         * as one) must not come before the table ends. */
        off_t hole = lseek(fd, (off_t)offset, SEEK_HOLE);
        if (hole >= 0) {
            return (uint64_t)hole >= offset + len;
        }
        if (errno == ENXIO) {
            return 0; /* offset is past the end */
        }
        /* EINVAL: this file system cannot tell; st_blocks can. */
    }
#endif
    /* A table cannot be larger than the data the file has blocks for.
     * st_blocks counts 512-byte units whatever st_blksize is. */
    return st.st_blocks >= 0 && (uint64_t)st.st_blocks >= (len + 511) / 512;
}

int
mm_read_fd_backed(void *ctx, uint64_t offset, uint64_t len)
{
    return mm_fd_backed(*(const int *)ctx, offset, len);
}
#endif

void
mm_symtab_free(mm_symtab *t)
{
    free(t->syms);
    free(t->strings);
    memset(t, 0, sizeof(*t));
}
