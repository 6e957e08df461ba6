/* The dynamic linker's list of loaded objects (glibc's and musl's
 * struct r_debug and struct link_map, the interface debuggers use), read
 * from a target's memory: plain C, no Python, no <link.h>, so that it
 * builds and is tested everywhere.
 *
 * ld.so keeps one struct r_debug per namespace:
 *
 *     int r_version;              1, or 2 when r_next is there (glibc 2.35+
 *                                 sets 2 once a second namespace exists)
 *     struct link_map *r_map;     the first object of the namespace
 *     ElfW(Addr) r_brk;           where a debugger puts its breakpoint
 *     enum r_state;               RT_CONSISTENT, RT_ADD, RT_DELETE
 *     ElfW(Addr) r_ldbase;        ld.so's load address
 *     struct r_debug *r_next;     r_debug_extended: the next namespace's
 *
 * and each object's link_map starts with l_addr (its load bias), l_name
 * (the path ld.so opened it by; "" for the executable), l_ld (its dynamic
 * array in memory), l_next and l_prev.  Every field is a pointer-sized
 * word, the enum and int in their own (padded) word, so with a pointer
 * size p field i is at i * p for 32- and 64-bit targets alike.
 *
 * Namespace 0's chain is in load order: the executable, the vDSO, the
 * LD_PRELOAD libraries, the DT_NEEDED closure breadth-first, then what
 * dlopen() loaded since.  Without the vDSO, and without what dlopen()
 * loaded RTLD_LOCAL (which the public part of link_map cannot tell), that
 * is the global scope in its search order: glibc puts ld.so in the chain
 * where the search list has it, because debuggers take the chain's order
 * as the symbol search order.
 *
 * The reader's source is the target's memory, its offsets absolute
 * addresses (mm_read_target, or a buffer in the tests).  Everything read is
 * hostile: the chain is capped, a link that leads back to an object read
 * before ends it, names are bounded, and a chain that ld.so is changing
 * (r_state not RT_CONSISTENT) is reported so that the caller reads again.
 */
#ifndef MM_LINK_MAP_H
#define MM_LINK_MAP_H

#include "core/mm.h"
#include "core/reader.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Far more objects than any process loads, far fewer than a loop of
 * links would make. */
#define MM_LINK_MAP_CAP 65536
/* The longest l_name read, its NUL included (Linux's PATH_MAX). */
#define MM_LINK_NAME_MAX 4096
/* The r_debug records followed through r_next (glibc has 16 namespaces). */
#define MM_LINK_NAMESPACE_CAP 256
/* The dynamic array entries read looking for DT_DEBUG before DT_NULL
 * (real ones have a few dozen). */
#define MM_DYNAMIC_CAP 4096

/* r_state */
enum {
    MM_RT_CONSISTENT = 0,
    MM_RT_ADD = 1,
    MM_RT_DELETE = 2,
};

/* mm_link_entry.name: what was found at l_name. */
typedef enum mm_link_name {
    MM_LINK_NAME_READ = 0,   /* name_off/name_len hold it ("" too) */
    MM_LINK_NAME_NULL,       /* l_name is a null pointer */
    MM_LINK_NAME_UNREADABLE, /* the bytes at l_name cannot be read */
    MM_LINK_NAME_TOO_LONG,   /* no NUL within MM_LINK_NAME_MAX bytes */
} mm_link_name;

/* mm_link_map.end: why the walk stopped. */
typedef enum mm_link_end {
    MM_LINK_END_NULL = 0,   /* at a null l_next: the chain is whole */
    MM_LINK_END_CYCLE,      /* l_next led back to an object read before */
    MM_LINK_END_CAP,        /* MM_LINK_MAP_CAP objects read and more follow */
    MM_LINK_END_UNREADABLE, /* a link_map could not be read */
} mm_link_end;

typedef struct mm_link_entry {
    uint64_t map;          /* where the link_map itself is */
    uint64_t addr;         /* l_addr: the load bias */
    uint64_t ld;           /* l_ld: its dynamic array */
    uint64_t name_address; /* l_name */
    size_t name_off;       /* into mm_link_map.names, NUL-terminated */
    size_t name_len;       /* without the NUL; 0 unless READ */
    uint8_t name;          /* mm_link_name */
} mm_link_entry;

typedef struct mm_link_map {
    /* The r_debug record of namespace 0, as read. */
    int32_t version;
    int32_t state;  /* MM_RT_*, or whatever else the target holds */
    uint64_t first; /* r_map */
    uint64_t brk;
    uint64_t ldbase;
    /* The namespaces there are, this one included: 1 plus the r_debug
     * records r_next leads to (only followed with r_version >= 2, and at
     * most MM_LINK_NAMESPACE_CAP; an unreadable or repeated one ends the
     * count).  Their chains are not read: namespace 0 is the global
     * scope. */
    size_t namespaces;
    /* Namespace 0's objects in chain order. */
    mm_link_entry *entries;
    size_t count;
    size_t capacity;
    char *names;
    size_t names_len;
    size_t names_cap;
    mm_link_end end; /* mm_link_end */
    /* The l_next the walk stopped at, for CYCLE, CAP and UNREADABLE. */
    uint64_t end_at;
    /* Entries whose l_prev is not the entry before them (the first's must
     * be null): a chain torn by a change while it was read. */
    size_t torn;
} mm_link_map;

void mm_link_map_init(mm_link_map *map);
void mm_link_map_free(mm_link_map *map);

/* Reads the r_debug at r_debug and namespace 0's chain of link_maps into
 * out (initialized; what it held is dropped), for a target whose pointers
 * are pointer_size (4 or 8) bytes in the byte order big_endian says.
 * memory's offsets are addresses.
 *
 * MM_OK whenever the r_debug record could be read: out->end says whether
 * the chain is whole, out->state whether ld.so was changing it, and an
 * object whose name cannot be read is kept with the reason.
 * MM_ERR_PARSE when the record cannot be read, MM_ERR_ARGUMENT for another
 * pointer size, MM_ERR_NOMEM. */
mm_status mm_link_map_read(const mm_source *memory, uint64_t r_debug,
                           unsigned pointer_size, int big_endian,
                           mm_link_map *out, mm_err *err);

/* The name of entry i, NUL-terminated ("" unless it was READ). */
const char *mm_link_entry_name(const mm_link_map *map, size_t i);

/* The address of the r_debug record that the DT_DEBUG entry of the
 * dynamic array at dynamic holds (ld.so fills it in the executable's
 * array at start-up): the array's runtime address is PT_DYNAMIC's p_vaddr
 * plus the executable's load bias.  The other way to it is ld.so's own
 * symbol _r_debug plus ld.so's bias, for the caller to find.
 *
 * MM_OK with *out set; MM_ERR_NOT_FOUND when the array ends (DT_NULL)
 * without a DT_DEBUG or with a zero one (ld.so has not set it yet, or the
 * object is not the executable); MM_ERR_PARSE when an entry cannot be read
 * or there is no DT_NULL in the first MM_DYNAMIC_CAP entries;
 * MM_ERR_ARGUMENT for a pointer size other than 4 or 8. */
mm_status mm_find_r_debug(const mm_source *memory, uint64_t dynamic,
                          unsigned pointer_size, int big_endian, uint64_t *out,
                          mm_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MM_LINK_MAP_H */
