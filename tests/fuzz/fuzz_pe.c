/* libFuzzer entry point for the portable PE reader (formats/pe.c).
 *
 * Each input is read as a PE file and as an image laid out in memory
 * (MM_PE_MEMORY), each with its size known and unknown, through every
 * entry point: the sections and RVA translation, the CodeView record and
 * build id, the export directory, every export (each looked up again by
 * name and by ordinal, which must find it), and lookups of names the seeds
 * have and do not have; and once more as a file whose source's cancelled
 * callback says stop after a few questions, so that every path that stops
 * half-way frees what it held.  tests/helpers/pesim.py writes the memory seeds
 * (pesim.py seeds).  The input is copied into a buffer of exactly its size
 * so that AddressSanitizer sees any read past it.  Built and run by
 * run_fuzz.sh.
 */
#include "formats/pe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names the seed files export, plus ones no file has. */
static const char *const names[] = {
    "exported_function", "exported_global",   "another",
    "forwarded_sleep",   "exported_from_exe", "",
    "no_such_export",
};

static void
exercise(mm_pe *pe)
{
    mm_pe_codeview cv;
    mm_pe_export_info info;
    uint8_t id[MM_PE_BUILD_ID_LEN], byte;
    char key[41];
    size_t count;
    uint64_t offset;
    mm_err err;

    if (mm_pe_codeview_record(pe, &cv, &err) == MM_OK &&
        strlen(cv.pdb) > MM_PE_PDB_MAX) {
        abort();
    }
    if (mm_pe_build_id(pe, id, sizeof(id)) == sizeof(id) &&
        mm_pe_symbol_server_key(id, key, sizeof(key)) == 0) {
        abort();
    }
    (void)mm_pe_bias(pe, 0x7ff800000000ull);
    for (size_t i = 0; i < pe->section_count; i++) {
        const mm_pe_section *s = &pe->sections[i];
        if (memchr(s->name, '\0', sizeof(s->name)) == NULL) {
            abort();
        }
        (void)mm_pe_section_at(pe, s->virtual_address);
        if (mm_pe_rva_to_offset(pe, s->virtual_address, 1, &offset) == 0) {
            (void)mm_pe_read_rva(pe, s->virtual_address, &byte, 1, "a byte",
                                 &err);
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        if (mm_pe_export_info_get(pe, &info, &err) != MM_OK) {
            break;
        }
        if (mm_pe_export_count(pe, &count, &err) != MM_OK ||
            count > 2 * (size_t)MM_PE_EXPORT_CAP) {
            abort();
        }
        for (size_t i = 0; i < count; i++) {
            mm_pe_export e, again;
            if (mm_pe_export_at(pe, i, &e, &err) != MM_OK) {
                continue;
            }
            if ((e.name != NULL && strlen(e.name) > MM_PE_NAME_MAX) ||
                (e.forwarder != NULL &&
                 strlen(e.forwarder) > MM_PE_NAME_MAX)) {
                abort();
            }
            if (e.name != NULL &&
                (mm_pe_find_export(pe, e.name, &again, &err) != MM_OK ||
                 strcmp(again.name, e.name) != 0)) {
                abort(); /* a name that reads is found by its lookup */
            }
            if (mm_pe_find_ordinal(pe, e.ordinal, &again, &err) != MM_OK &&
                err.status != MM_ERR_PARSE) {
                abort(); /* an ordinal that was listed is there */
            }
        }
        if (mm_pe_export_at(pe, count, NULL, &err) != MM_ERR_ARGUMENT) {
            abort();
        }
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        mm_pe_export e;
        (void)mm_pe_find_export(pe, names[i], &e, &err);
    }
    for (uint32_t ordinal = 0; ordinal < 10; ordinal++) {
        mm_pe_export e;
        (void)mm_pe_find_ordinal(pe, ordinal, &e, &err);
    }
}

/* The cancelled callback: says stop once it has been asked *left times,
 * and keeps saying so. */
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    mm_buffer buffer;

    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    buffer = (mm_buffer){copy, size};
    for (int memory = 0; memory < 2; memory++) {
        for (int unknown = 0; unknown < 2; unknown++) {
            mm_pe pe;
            mm_err err;
            if (mm_pe_open(&pe, mm_read_buffer, &buffer,
                           unknown ? MM_SIZE_UNKNOWN : size,
                           memory ? MM_PE_MEMORY : 0, &err) == MM_OK) {
                exercise(&pe);
                mm_pe_close(&pe);
            }
        }
    }
    for (int after = 0; after < 3; after++) {
        int left = after;
        mm_source source = {.read = mm_read_buffer,
                            .ctx = &buffer,
                            .size = size,
                            .cancelled = stop_after,
                            .cancel_ctx = &left};
        mm_pe pe;
        mm_err err;
        if (mm_pe_open_source(&pe, &source, 0, &err) == MM_OK) {
            exercise(&pe);
            mm_pe_close(&pe);
        }
    }
    free(copy);
    return 0;
}
