/* libFuzzer entry point for the r_debug / link_map reader
 * (formats/link_map.c).
 *
 * An input is a flags byte (1: 4-byte pointers, 2: big-endian), the
 * address of an r_debug record and of a dynamic array as 32-bit
 * little-endian offsets from BASE, then a target's memory: the rest of the
 * bytes, at BASE onwards (tests/helpers/linkmapsim.py writes the seeds).
 * The chain is walked from the record, and from what the dynamic array's
 * DT_DEBUG says, and what comes back is checked against the reader's
 * promises: within its caps, every name NUL-terminated at its length.
 *
 * The memory is copied into a buffer of exactly its size so that
 * AddressSanitizer sees any read past it.  Built and run by run_fuzz.sh.
 */
#include "formats/link_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BASE   0x10000u
#define HEADER 9

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct memory {
    const uint8_t *data;
    size_t len;
} memory;

static int
read_memory(void *ctx, uint64_t addr, void *buf, size_t len)
{
    const memory *m = ctx;

    if (addr < BASE || addr - BASE > m->len || len > m->len - (addr - BASE)) {
        return -1;
    }
    memcpy(buf, m->data + (addr - BASE), len);
    return 0;
}

static void
walk(const mm_source *source, uint64_t r_debug, unsigned pointer_size,
     int big_endian)
{
    mm_link_map map;
    mm_err err;

    mm_link_map_init(&map);
    if (mm_link_map_read(source, r_debug, pointer_size, big_endian, &map,
                         &err) == MM_OK) {
        if (map.count > MM_LINK_MAP_CAP || map.namespaces < 1 ||
            map.namespaces > MM_LINK_NAMESPACE_CAP ||
            map.end > MM_LINK_END_UNREADABLE || map.torn > map.count) {
            abort();
        }
        for (size_t i = 0; i < map.count; i++) {
            const mm_link_entry *e = &map.entries[i];
            const char *name = mm_link_entry_name(&map, i);
            if (e->name > MM_LINK_NAME_TOO_LONG ||
                strlen(name) != e->name_len ||
                e->name_len >= MM_LINK_NAME_MAX) {
                abort();
            }
        }
    }
    mm_link_map_free(&map);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned pointer_size;
    int big_endian;
    uint32_t r_debug, dynamic;
    uint64_t found;
    uint8_t *copy;
    memory m;
    mm_source source;
    mm_err err;

    if (size < HEADER) {
        return 0;
    }
    pointer_size = data[0] & 1 ? 4 : 8;
    big_endian = (data[0] & 2) != 0;
    r_debug = mm_get32(0, data + 1);
    dynamic = mm_get32(0, data + 5);
    copy = malloc(size - HEADER ? size - HEADER : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data + HEADER, size - HEADER);
    m.data = copy;
    m.len = size - HEADER;
    source.read = read_memory;
    source.ctx = &m;
    source.size = MM_SIZE_UNKNOWN;

    walk(&source, (uint64_t)BASE + r_debug, pointer_size, big_endian);
    if (mm_find_r_debug(&source, (uint64_t)BASE + dynamic, pointer_size,
                        big_endian, &found, &err) == MM_OK) {
        if (found == 0) {
            abort(); /* a zero DT_DEBUG is "not found" */
        }
        walk(&source, found, pointer_size, big_endian);
    }
    /* An address near the top: no read may wrap. */
    walk(&source, UINT64_MAX - 7, pointer_size, big_endian);
    (void)mm_find_r_debug(&source, UINT64_MAX - 7, pointer_size, big_endian,
                          &found, &err);
    free(copy);
    return 0;
}
