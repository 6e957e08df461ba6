/* libFuzzer entry point for the portable ELF reader (mm_elf.c).
 *
 * Each input is opened as an ELF image through mm_read_buffer, once with
 * its section headers and once without (the PT_DYNAMIC path an image read
 * from memory takes), and then goes through every entry point: the
 * build-id, the debuglink, and symbol lookups with and without a dynamic
 * bias, each twice so that the tables kept between lookups are used too.
 *
 * The input is copied into a buffer of exactly its size so that
 * AddressSanitizer sees any read past it.  Built and run by run_fuzz.sh.
 */
#include "formats/elf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names the seed files define, plus ones no file has. */
static const char *const names[] = {
    "main",
    "malloc",
    "exported_function",
    "only_in_symtab",
    "exported_global",
    "_start",
    "",
    "no_such_symbol",
};

/* Biases: none, a typical load address, one above every address. */
static const uint64_t biases[] = {0, 0x7f0000000000ull, UINT64_MAX};

static void
exercise(const uint8_t *data, size_t size, unsigned flags)
{
    mm_buffer buffer = {data, size};
    uint8_t id[64];
    char link[256];
    mm_elf elf;
    mm_err err;

    if (mm_elf_open_flags(&elf, mm_read_buffer, &buffer, size, flags, &err) !=
        MM_OK) {
        return;
    }
    (void)mm_elf_build_id(&elf, id, sizeof(id));
    (void)mm_elf_build_id(&elf, id, 3);
    if (mm_elf_debuglink(&elf, link, sizeof(link)) > 0 &&
        strlen(link) >= sizeof(link)) {
        abort(); /* the name must be NUL-terminated within the buffer */
    }
    (void)mm_elf_debuglink(&elf, link, 4);
    for (size_t b = 0; b < sizeof(biases) / sizeof(biases[0]); b++) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            mm_elf_symbol first, again;
            mm_status s1, s2;
            s1 = mm_elf_find_symbol(&elf, names[i], biases[b], &first, &err);
            s2 = mm_elf_find_symbol(&elf, names[i], biases[b], &again, &err);
            /* The tables kept by the first lookup give the same answer. */
            if (s1 != s2 ||
                (s1 == MM_OK && memcmp(&first, &again, sizeof(first)) != 0)) {
                abort();
            }
        }
    }
    for (size_t i = 0; i < elf.segment_count; i++) {
        uint64_t offset;
        (void)mm_elf_vaddr_to_offset(&elf, elf.segments[i].vaddr, &offset);
    }
    mm_elf_close(&elf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);

    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    exercise(copy, size, 0);
    exercise(copy, size, MM_ELF_NO_SECTIONS);
    free(copy);
    return 0;
}
