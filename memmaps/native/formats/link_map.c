/* The r_debug / link_map reader of formats/link_map.h. */
#include "formats/link_map.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Reads are cut at this boundary: no page is smaller, and a page is read
 * whole or not at all, so one read per piece never fails for bytes that
 * are there. */
#define PIECE 4096
/* All names together. */
#define NAMES_CAP ((size_t)16 << 20)

/* r_debug's fields and link_map's, as word indexes. */
enum { R_VERSION, R_MAP, R_BRK, R_STATE, R_LDBASE, R_NEXT, R_WORDS };
enum { L_ADDR, L_NAME, L_LD, L_NEXT, L_PREV, L_WORDS };

#define DT_NULL  0
#define DT_DEBUG 21

static uint64_t
word(const uint8_t *p, unsigned pointer_size, int big_endian)
{
    return pointer_size == 8 ? mm_get64(big_endian, p)
                             : mm_get32(big_endian, p);
}

/* Reads up to len bytes at addr, a multiple of unit: all of them, or as
 * many as the first half, quarter ... of them gives.  A source may serve
 * less than a page (a buffer that ends inside one); for a target's memory
 * the first read is the only one unless the page is not there.  0 when not
 * even unit bytes can be read. */
static size_t
read_some(const mm_source *memory, uint64_t addr, void *buf, size_t len,
          size_t unit)
{
    while (len >= unit) {
        if (mm_read_within(memory, addr, buf, len) == 0) {
            return len;
        }
        len /= 2;
        len -= len % unit;
    }
    return 0;
}

/* The bytes from addr to the next PIECE boundary, at most limit. */
static size_t
to_boundary(uint64_t addr, size_t limit)
{
    size_t piece = PIECE - (size_t)(addr % PIECE);

    return piece < limit ? piece : limit;
}

static int
read_words(const mm_source *memory, uint64_t addr, size_t count,
           unsigned pointer_size, int big_endian, uint64_t *out)
{
    uint8_t raw[R_WORDS * 8];
    size_t len = count * pointer_size;

    if (count > R_WORDS || mm_read_within(memory, addr, raw, len) != 0) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        out[i] = word(raw + i * pointer_size, pointer_size, big_endian);
    }
    return 0;
}

/* An int field of a record: the first four bytes of its word, whatever the
 * byte order (the padding follows it). */
static int
read_int(const mm_source *memory, uint64_t addr, int big_endian, int32_t *out)
{
    uint8_t raw[4];

    if (mm_read_within(memory, addr, raw, sizeof(raw)) != 0) {
        return -1;
    }
    *out = (int32_t)mm_get32(big_endian, raw);
    return 0;
}

/* ---- the set of link_maps read, for telling a loop ---- */

typedef struct address_set {
    uint64_t *slots; /* 0 is free: no link_map is at address 0 */
    size_t capacity; /* a power of two, or 0 */
    size_t count;
} address_set;

static size_t
slot_of(uint64_t address, size_t capacity)
{
    return (size_t)((address * 0x9E3779B97F4A7C15ull) >> 17) & (capacity - 1);
}

static int
set_contains(const address_set *set, uint64_t address)
{
    if (set->capacity == 0) {
        return 0;
    }
    for (size_t i = slot_of(address, set->capacity);;
         i = (i + 1) & (set->capacity - 1)) {
        if (set->slots[i] == address) {
            return 1;
        }
        if (set->slots[i] == 0) {
            return 0;
        }
    }
}

static void
set_put(uint64_t *slots, size_t capacity, uint64_t address)
{
    size_t i = slot_of(address, capacity);

    while (slots[i] != 0) {
        i = (i + 1) & (capacity - 1);
    }
    slots[i] = address;
}

/* Adds a nonzero address that is not in the set; 0, or -1 out of memory.
 * Kept at most half full, so that a lookup always ends at a free slot. */
static int
set_add(address_set *set, uint64_t address)
{
    if (2 * (set->count + 1) > set->capacity) {
        size_t capacity = set->capacity ? set->capacity * 2 : 64;
        uint64_t *slots = calloc(capacity, sizeof(*slots));
        if (slots == NULL) {
            return -1;
        }
        for (size_t i = 0; i < set->capacity; i++) {
            if (set->slots[i] != 0) {
                set_put(slots, capacity, set->slots[i]);
            }
        }
        free(set->slots);
        set->slots = slots;
        set->capacity = capacity;
    }
    set_put(set->slots, set->capacity, address);
    set->count++;
    return 0;
}

/* ---- the list ---- */

void
mm_link_map_init(mm_link_map *map)
{
    memset(map, 0, sizeof(*map));
}

void
mm_link_map_free(mm_link_map *map)
{
    free(map->entries);
    free(map->names);
    mm_link_map_init(map);
}

const char *
mm_link_entry_name(const mm_link_map *map, size_t i)
{
    const mm_link_entry *e = &map->entries[i];

    return e->name == MM_LINK_NAME_READ ? map->names + e->name_off : "";
}

static mm_status
out_of_memory(mm_err *err)
{
    return mm_err_set(err, MM_ERR_NOMEM, 0,
                      "out of memory reading the link_map chain");
}

static mm_link_entry *
push_entry(mm_link_map *map)
{
    if (map->count == map->capacity) {
        size_t capacity = map->capacity ? map->capacity * 2 : 64;
        mm_link_entry *grown =
            realloc(map->entries, capacity * sizeof(*grown));
        if (grown == NULL) {
            return NULL;
        }
        map->entries = grown;
        map->capacity = capacity;
    }
    memset(&map->entries[map->count], 0, sizeof(mm_link_entry));
    return &map->entries[map->count++];
}

/* Appends len bytes and a NUL to the names; 0, -1 past NAMES_CAP, -2 out
 * of memory. */
static int
add_name(mm_link_map *map, const char *name, size_t len, size_t *off)
{
    size_t need;

    if (len >= NAMES_CAP - map->names_len) {
        return -1;
    }
    need = map->names_len + len + 1;
    if (need > map->names_cap) {
        size_t cap = map->names_cap ? map->names_cap : 4096;
        char *grown;
        while (cap < need) {
            cap *= 2;
        }
        grown = realloc(map->names, cap);
        if (grown == NULL) {
            return -2;
        }
        map->names = grown;
        map->names_cap = cap;
    }
    memcpy(map->names + map->names_len, name, len);
    map->names[map->names_len + len] = '\0';
    *off = map->names_len;
    map->names_len = need;
    return 0;
}

/* The string at e->name_address into the names: 0, -1 when the names are
 * over their budget, -2 out of memory.  A name that cannot be read is not
 * an error: the entry says so. */
static int
read_name(const mm_source *memory, mm_link_map *map, mm_link_entry *e)
{
    char buf[MM_LINK_NAME_MAX];
    uint64_t addr = e->name_address;
    size_t total = 0;

    if (addr == 0) {
        e->name = MM_LINK_NAME_NULL;
        return 0;
    }
    while (total < sizeof(buf)) {
        size_t piece = to_boundary(addr, sizeof(buf) - total);
        size_t got = read_some(memory, addr, buf + total, piece, 1);
        const char *nul;

        if (got == 0) {
            e->name = MM_LINK_NAME_UNREADABLE;
            return 0;
        }
        nul = memchr(buf + total, '\0', got);
        if (nul != NULL) {
            e->name_len = (size_t)(nul - buf);
            e->name = MM_LINK_NAME_READ;
            return add_name(map, buf, e->name_len, &e->name_off);
        }
        total += got;
        addr += got; /* cannot wrap: the source served those bytes */
    }
    e->name = MM_LINK_NAME_TOO_LONG;
    return 0;
}

/* How many namespaces r_next leads to, the first one included. */
static size_t
count_namespaces(const mm_source *memory, uint64_t next, unsigned pointer_size,
                 int big_endian, uint64_t r_debug)
{
    uint64_t seen[MM_LINK_NAMESPACE_CAP];
    size_t count = 1;

    seen[0] = r_debug;
    while (next != 0 && count < MM_LINK_NAMESPACE_CAP) {
        uint64_t record[R_WORDS];
        int32_t version;

        for (size_t i = 0; i < count; i++) {
            if (seen[i] == next) {
                return count;
            }
        }
        if (read_words(memory, next, R_WORDS, pointer_size, big_endian,
                       record) != 0 ||
            read_int(memory, next, big_endian, &version) != 0) {
            return count;
        }
        seen[count++] = next;
        /* Only an extended record has r_next. */
        next = version >= 2 ? record[R_NEXT] : 0;
    }
    return count;
}

static mm_status
check_pointer_size(unsigned pointer_size, mm_err *err)
{
    if (pointer_size != 4 && pointer_size != 8) {
        return mm_err_set(err, MM_ERR_ARGUMENT, 0,
                          "a pointer is 4 or 8 bytes, not %u", pointer_size);
    }
    return MM_OK;
}

mm_status
mm_link_map_read(const mm_source *memory, uint64_t r_debug,
                 unsigned pointer_size, int big_endian, mm_link_map *out,
                 mm_err *err)
{
    uint64_t record[R_WORDS];
    address_set seen = {NULL, 0, 0};
    uint64_t next, prev = 0;
    mm_status status = check_pointer_size(pointer_size, err);

    out->count = 0;
    out->names_len = 0;
    out->end = MM_LINK_END_NULL;
    out->end_at = 0;
    out->torn = 0;
    out->namespaces = 0;
    if (status != MM_OK) {
        return status;
    }
    /* The padded words of r_version and r_state are read as words too;
     * their ints are decoded from the bytes below. */
    if (read_words(memory, r_debug, R_NEXT, pointer_size, big_endian,
                   record) != 0 ||
        read_int(memory, r_debug, big_endian, &out->version) != 0 ||
        read_int(memory, r_debug + R_STATE * pointer_size, big_endian,
                 &out->state) != 0) {
        return mm_err_set(err, MM_ERR_PARSE, 0,
                          "the r_debug record at 0x%" PRIx64 " cannot be read",
                          r_debug);
    }
    out->first = record[R_MAP];
    out->brk = record[R_BRK];
    out->ldbase = record[R_LDBASE];
    out->namespaces = 1;
    if (out->version >= 2 &&
        read_words(memory, r_debug + R_NEXT * pointer_size, 1, pointer_size,
                   big_endian, &next) == 0) {
        out->namespaces =
            count_namespaces(memory, next, pointer_size, big_endian, r_debug);
    }

    for (next = out->first; next != 0;) {
        uint64_t link[L_WORDS];
        mm_link_entry *e;
        int named;

        if (out->count == MM_LINK_MAP_CAP) {
            out->end = MM_LINK_END_CAP;
            break;
        }
        if (set_contains(&seen, next)) {
            out->end = MM_LINK_END_CYCLE;
            break;
        }
        if (read_words(memory, next, L_WORDS, pointer_size, big_endian,
                       link) != 0) {
            out->end = MM_LINK_END_UNREADABLE;
            break;
        }
        if (set_add(&seen, next) != 0 || (e = push_entry(out)) == NULL) {
            status = out_of_memory(err);
            break;
        }
        e->map = next;
        e->addr = link[L_ADDR];
        e->name_address = link[L_NAME];
        e->ld = link[L_LD];
        if (link[L_PREV] != prev) {
            out->torn++;
        }
        named = read_name(memory, out, e);
        if (named == -2) {
            status = out_of_memory(err);
            break;
        }
        if (named == -1) {
            /* A chain of long names, past any real one: what was read is
             * kept, as for too many objects. */
            out->count--;
            out->end = MM_LINK_END_CAP;
            break;
        }
        prev = next;
        next = link[L_NEXT];
    }
    out->end_at = out->end == MM_LINK_END_NULL ? 0 : next;
    free(seen.slots);
    if (status != MM_OK) {
        out->count = 0;
        out->names_len = 0;
    }
    return status;
}

mm_status
mm_find_r_debug(const mm_source *memory, uint64_t dynamic,
                unsigned pointer_size, int big_endian, uint64_t *out,
                mm_err *err)
{
    uint8_t buf[PIECE];
    size_t entry = 2 * (size_t)pointer_size, entries = 0;
    uint64_t addr = dynamic, debug = 0;
    int has_debug = 0;
    mm_status status = check_pointer_size(pointer_size, err);

    *out = 0;
    if (status != MM_OK) {
        return status;
    }
    while (entries < MM_DYNAMIC_CAP) {
        size_t piece = to_boundary(addr, (MM_DYNAMIC_CAP - entries) * entry);
        size_t got;

        /* Whole entries: one that straddles the boundary is read alone. */
        piece -= piece % entry;
        if (piece == 0) {
            piece = entry;
        }
        got = read_some(memory, addr, buf, piece, entry);
        if (got == 0) {
            return mm_err_set(err, MM_ERR_PARSE, 0,
                              "dynamic entry %zu at 0x%" PRIx64
                              " cannot be read",
                              entries, addr);
        }
        for (size_t at = 0; at < got; at += entry, entries++) {
            uint64_t tag = word(buf + at, pointer_size, big_endian);
            uint64_t value =
                word(buf + at + pointer_size, pointer_size, big_endian);
            if (tag == DT_NULL) {
                if (!has_debug || debug == 0) {
                    return mm_err_set(
                        err, MM_ERR_NOT_FOUND, 0,
                        "the dynamic array at 0x%" PRIx64 " has %s", dynamic,
                        has_debug ? "a DT_DEBUG of 0" : "no DT_DEBUG");
                }
                *out = debug;
                return MM_OK;
            }
            /* ld.so fills the last one (it keeps one per tag). */
            if (tag == DT_DEBUG) {
                has_debug = 1;
                debug = value;
            }
        }
        addr += got; /* cannot wrap: the source served those bytes */
    }
    return mm_err_set(err, MM_ERR_PARSE, 0,
                      "the dynamic array at 0x%" PRIx64
                      " has no DT_NULL in its first %d entries",
                      dynamic, MM_DYNAMIC_CAP);
}
