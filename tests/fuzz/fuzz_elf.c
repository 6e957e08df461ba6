/* libFuzzer entry point for the portable ELF reader (formats/elf.c).
 *
 * Each input is opened as an ELF image through mm_read_buffer, once with
 * its section headers and once without (the PT_DYNAMIC path an image read
 * from memory takes), and then goes through every entry point: the
 * build-id, the debuglink and its CRC, the dynamic section's names, symbol
 * lookups (plain and versioned names) and address lookups with and without
 * a dynamic bias, each twice so that the tables and indexes kept between
 * calls are used too, then everything loaded and the image frozen.  Once
 * more with a source whose cancelled callback says stop after a few
 * questions, so that every path that stops half-way frees what it held.
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
    "exported_function@@V2",
    "exported_function@V1",
    "@",
    "@@",
};

/* Biases: none, a typical load address, one above every address. */
static const uint64_t biases[] = {0, 0x7f0000000000ull, UINT64_MAX};

/* The cancelled callback: says stop once it has been asked *left times. */
static int
stop_after(void *ctx)
{
    int *left = ctx;

    if (*left <= 0) {
        return 1;
    }
    --*left;
    return 0;
}

static void
check_match(const mm_elf_match *m)
{
    /* The name and version are NUL-terminated within the tables. */
    if (strlen(m->name) > (size_t)1 << 30 ||
        (m->version != NULL && strlen(m->version) > (size_t)1 << 30)) {
        abort();
    }
}

static void
exercise(const uint8_t *data, size_t size, unsigned flags, int cancel_after)
{
    mm_buffer buffer = {data, size};
    int left = cancel_after;
    mm_source source = {
        .read = mm_read_buffer,
        .ctx = &buffer,
        .size = size,
        .cancelled = cancel_after >= 0 ? stop_after : NULL,
        .cancel_ctx = &left,
    };
    uint8_t id[64];
    char link[256];
    uint32_t crc;
    mm_elf_names dyn;
    mm_elf elf;
    mm_err err;

    if (mm_elf_open_source(&elf, &source, flags, &err) != MM_OK) {
        return;
    }
    (void)mm_elf_build_id(&elf, id, sizeof(id));
    (void)mm_elf_build_id(&elf, id, 3);
    if (mm_elf_debuglink(&elf, link, sizeof(link)) > 0 &&
        strlen(link) >= sizeof(link)) {
        abort(); /* the name must be NUL-terminated within the buffer */
    }
    (void)mm_elf_debuglink(&elf, link, 4);
    (void)mm_elf_debuglink_crc(&elf, &crc);
    for (size_t b = 0; b < sizeof(biases) / sizeof(biases[0]); b++) {
        if (mm_elf_dynamic_names(&elf, biases[b], &dyn, &err) == MM_OK) {
            for (size_t i = 0; i < dyn.needed_count; i++) {
                (void)strlen(dyn.needed[i]);
            }
            if (dyn.soname != NULL) {
                (void)strlen(dyn.soname);
            }
            mm_elf_names_free(&dyn);
        }
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            mm_elf_symbol first, again;
            mm_status s1, s2;
            s1 = mm_elf_find_symbol(&elf, names[i], biases[b], &first, &err);
            s2 = mm_elf_find_symbol(&elf, names[i], biases[b], &again, &err);
            /* The tables kept by the first lookup give the same answer
             * (unless the work was stopped half-way). */
            if (cancel_after < 0 &&
                (s1 != s2 || (s1 == MM_OK &&
                              memcmp(&first, &again, sizeof(first)) != 0))) {
                abort();
            }
            if (s1 == MM_OK) {
                mm_elf_match m;
                if (mm_elf_symbolize(&elf, first.value, biases[b], &m, &err) ==
                    MM_OK) {
                    check_match(&m);
                }
            }
        }
        for (size_t i = 0; i < elf.segment_count; i++) {
            mm_elf_match m;
            const mm_elf_segment *s = &elf.segments[i];
            uint64_t probes[3] = {s->vaddr, s->vaddr + s->memsz / 2,
                                  s->vaddr + s->memsz};
            for (int p = 0; p < 3; p++) {
                if (mm_elf_symbolize(&elf, probes[p], biases[b], &m, &err) ==
                    MM_OK) {
                    check_match(&m);
                }
            }
        }
    }
    for (size_t i = 0; i < elf.segment_count; i++) {
        uint64_t offset;
        (void)mm_elf_vaddr_to_offset(&elf, elf.segments[i].vaddr, &offset);
    }
    if (mm_elf_load_symbols(&elf, 0, &err) == MM_OK) {
        mm_elf_symbol sym;
        mm_elf_freeze(&elf);
        (void)mm_elf_find_symbol(&elf, "main", 0, &sym, &err);
        (void)mm_elf_find_symbol(&elf, "main", 0x1000, &sym, &err);
    }
    if (mm_elf_table_bytes(&elf) > MM_IMAGE_TABLE_BUDGET) {
        abort();
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
    exercise(copy, size, 0, -1);
    exercise(copy, size, MM_ELF_NO_SECTIONS, -1);
    exercise(copy, size, 0, (int)(size % 7));
    free(copy);
    return 0;
}
