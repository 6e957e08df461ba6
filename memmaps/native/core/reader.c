/* The byte sources of core/reader.h. */
#if !defined(_WIN32) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700 /* pread() under -std=c11 */
#endif
#include "core/reader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

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

mm_status
mm_read_table(const mm_source *source, uint64_t offset, uint64_t len,
              uint64_t cap, const char *image, const char *what, void **out,
              mm_err *err)
{
    void *buf;

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
    buf = malloc(len ? (size_t)len : 1);
    if (buf == NULL) {
        return mm_err_set(err, MM_ERR_NOMEM, 0,
                          "out of memory reading %s (0x%" PRIx64 " bytes)",
                          what, len);
    }
    if (mm_read_within(source, offset, buf, (size_t)len) != 0) {
        free(buf);
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "%s (0x%" PRIx64 " bytes at offset 0x%" PRIx64
                          ") cannot be read",
                          what, len, offset);
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
#endif

void
mm_symtab_free(mm_symtab *t)
{
    free(t->syms);
    free(t->strings);
    memset(t, 0, sizeof(*t));
}
