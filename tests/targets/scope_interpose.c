/* Target library for tests/live/test_linker_scope.py, loaded with
 * LD_PRELOAD: malloc, calloc, realloc and free of its own, from a fixed
 * arena (free keeps nothing), and the aligned allocators too, so that
 * every allocation of the process is interposed (a block from glibc's
 * memalign handed to this realloc would be misread).  Each block holds its
 * size in front of it for realloc. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#define ARENA (64u << 20)
#define ALIGN 16u

static unsigned char arena[ARENA] __attribute__((aligned(16)));
static size_t used;

/* A block of size bytes at a multiple of align (a power of two, at least
 * ALIGN), its size in the ALIGN bytes before it. */
static void *
take(size_t size, size_t align)
{
    size_t start = (used + ALIGN + align - 1) / align * align;
    size_t end;

    if (size > ARENA || start > ARENA || size > ARENA - start) {
        errno = ENOMEM;
        return NULL;
    }
    end = (start + size + ALIGN - 1) / ALIGN * ALIGN;
    used = end;
    memcpy(arena + start - ALIGN, &size, sizeof(size));
    return arena + start;
}

void *
malloc(size_t size)
{
    return take(size, ALIGN);
}

static size_t
alignment(size_t align)
{
    return align < ALIGN ? ALIGN : align;
}

void *
memalign(size_t align, size_t size)
{
    return take(size, alignment(align));
}

void *
aligned_alloc(size_t align, size_t size)
{
    return take(size, alignment(align));
}

int
posix_memalign(void **out, size_t align, size_t size)
{
    void *p = take(size, alignment(align));

    if (p == NULL) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}

void *
valloc(size_t size)
{
    return take(size, 4096);
}

void *
pvalloc(size_t size)
{
    return take((size + 4095) / 4096 * 4096, 4096);
}

size_t
malloc_usable_size(void *p)
{
    size_t size = 0;

    if (p != NULL) {
        memcpy(&size, (unsigned char *)p - ALIGN, sizeof(size));
    }
    return size;
}

void *
calloc(size_t count, size_t size)
{
    void *p;

    if (size != 0 && count > (size_t)-1 / size) {
        return NULL;
    }
    /* take(), not malloc(): the compiler turns malloc and memset into a
     * call of calloc, this one. */
    p = take(count * size, ALIGN);
    if (p != NULL) {
        memset(p, 0, count * size);
    }
    return p;
}

void *
realloc(void *old, size_t size)
{
    size_t had = malloc_usable_size(old);
    void *p = malloc(size);

    if (p != NULL && old != NULL) {
        memcpy(p, old, had < size ? had : size);
    }
    return p;
}

void
free(void *p)
{
    (void)p;
}
