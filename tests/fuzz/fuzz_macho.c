/* libFuzzer entry point for the portable Mach-O and dyld readers
 * (mm_macho.c, mm_dyld.c).
 *
 * Each input is read three ways:
 *
 *   - as a Mach-O file, thin or fat, for every architecture this reader
 *     names, with its size known and unknown, through every entry point:
 *     the fat header, segments, the slide, symbol lookups (each twice, the
 *     second from the table kept by the first) and the whole nlist table;
 *   - as an image in memory (MM_MACHO_MEMORY), its header at offset 0;
 *   - as a target's memory holding dyld's records: the first byte says the
 *     pointer size (4, else 8) and the rest is memory at BASE4 or BASE8,
 *     with dyld_all_image_infos at its start.  The images it lists are
 *     then opened from that memory at their load addresses.
 *
 * tests/helpers/machosim.py writes seeds of the third kind (machosim.py
 * seeds).
 * The input is copied into a buffer of exactly its size so that
 * AddressSanitizer sees any read past it.  Built and run by run_fuzz.sh.
 */
#include "formats/dyld.h"
#include "formats/macho.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the seeds' memory starts (machosim.build_dyld's defaults). */
#define BASE8 0x700000000000ull
#define BASE4 0x10000000ull
/* Images opened per input: enough to reach every path, few enough to keep
 * an input fast. */
#define MAX_IMAGES 8

/* Names the seed files define, plus ones no file has. */
static const char *const names[] = {
    "_main",          "_exported_function",  "_exported_global",
    "_only_local",    "__mh_execute_header", "",
    "no_such_symbol",
};

static const uint32_t cputypes[] = {MM_MACHO_CPU_ANY, MM_MACHO_CPU_X86_64,
                                    MM_MACHO_CPU_ARM64};

/* Every entry point of an open image. */
static void
exercise(mm_macho *macho)
{
    size_t count = 0;
    uint64_t slide, vmaddr;
    mm_err err;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        mm_macho_symbol first, again;
        mm_status s1 = mm_macho_find_symbol(macho, names[i], &first, &err);
        mm_status s2 = mm_macho_find_symbol(macho, names[i], &again, &err);
        if (s1 != s2 ||
            (s1 == MM_OK && memcmp(&first, &again, sizeof(first)) != 0)) {
            abort(); /* the kept table gives the same answer */
        }
    }
    if (mm_macho_symbol_count(macho, &count, &err) == MM_OK) {
        for (size_t i = 0; i < count; i++) {
            const char *name;
            mm_macho_symbol sym;
            if (mm_macho_symbol_at(macho, i, &name, &sym, &err) == MM_OK &&
                strlen(name) >= macho->strsize) {
                abort(); /* a name must end inside the string table */
            }
        }
        if (mm_macho_symbol_at(macho, count, NULL, NULL, &err) !=
            MM_ERR_ARGUMENT) {
            abort();
        }
    }
    (void)mm_macho_slide(macho, 0x100000000ull, &slide);
    (void)mm_macho_segment_named(macho, "__TEXT");
    for (size_t i = 0; i < macho->segment_count; i++) {
        if (memchr(macho->segments[i].name, '\0', 17) == NULL) {
            abort();
        }
        (void)mm_macho_fileoff_to_vmaddr(macho, macho->segments[i].fileoff, 1,
                                         &vmaddr);
    }
}

static void
exercise_file(const uint8_t *data, size_t size)
{
    mm_buffer buffer = {data, size};
    mm_macho_fat_arch archs[4];
    size_t count;
    mm_macho macho;
    mm_err err;

    (void)mm_macho_fat_archs(mm_read_buffer, &buffer, size, archs, 4, &count,
                             &err);
    for (size_t c = 0; c < sizeof(cputypes) / sizeof(cputypes[0]); c++) {
        for (int unknown = 0; unknown < 2; unknown++) {
            if (mm_macho_open(&macho, mm_read_buffer, &buffer,
                              unknown ? UINT64_MAX : size, cputypes[c], 0,
                              &err) == MM_OK) {
                exercise(&macho);
                mm_macho_close(&macho);
            }
        }
    }
    if (mm_macho_open(&macho, mm_read_buffer, &buffer, size, MM_MACHO_CPU_ANY,
                      MM_MACHO_MEMORY, &err) == MM_OK) {
        exercise(&macho);
        mm_macho_close(&macho);
    }
}

/* A target's memory: the bytes at base. */
typedef struct target {
    const uint8_t *data;
    size_t size;
    uint64_t base;
} target;

static int
read_target(void *ctx, uint64_t addr, void *buf, size_t len)
{
    const target *t = ctx;

    if (addr < t->base || addr - t->base > t->size ||
        len > t->size - (addr - t->base)) {
        return -1;
    }
    memcpy(buf, t->data + (addr - t->base), len);
    return 0;
}

static void
exercise_dyld(const uint8_t *data, size_t size, int pointer_size)
{
    target t = {data, size, pointer_size == 4 ? BASE4 : BASE8};
    mm_dyld_list list;
    mm_err err;

    mm_dyld_list_init(&list);
    if (mm_dyld_read_images(read_target, &t, t.base, pointer_size, &list,
                            &err) == MM_OK) {
        for (size_t i = 0; i < list.count; i++) {
            const char *path = mm_dyld_image_path(&list, i);
            if (path != NULL && strlen(path) != list.images[i].path_len) {
                abort();
            }
        }
        for (size_t i = 0; i < list.count && i < MAX_IMAGES; i++) {
            mm_offset_reader reader = {read_target, &t,
                                       list.images[i].load_address};
            mm_macho macho;
            if (mm_macho_open(&macho, mm_read_offset, &reader, UINT64_MAX,
                              MM_MACHO_CPU_ANY, MM_MACHO_MEMORY,
                              &err) == MM_OK) {
                exercise(&macho);
                mm_macho_close(&macho);
            }
        }
    }
    else if (list.count != 0) {
        abort(); /* a failure leaves no images */
    }
    mm_dyld_list_free(&list);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);

    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    exercise_file(copy, size);
    if (size > 0) {
        exercise_dyld(copy + 1, size - 1, copy[0] == 4 ? 4 : 8);
    }
    free(copy);
    return 0;
}
