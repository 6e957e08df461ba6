/* The byte sources of core/reader.h. */
#if !defined(_WIN32) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700 /* pread() under -std=c11 */
#endif
#include "core/reader.h"

#include <errno.h>
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
