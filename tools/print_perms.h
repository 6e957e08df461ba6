/* The drivers' one way of printing a protection: "rwx" letters as the maps
 * text has them, with the fourth, sharing one where the field has it. */
#ifndef MM_TOOLS_PRINT_PERMS_H
#define MM_TOOLS_PRINT_PERMS_H

#include "core/mm.h"

#include <stdint.h>
#include <stdio.h>

static void
print_perms(uint8_t prot, int with_sharing)
{
    static const char letters[] = "rwx";

    for (int bit = 0; bit < 3; bit++) {
        putchar(prot & (1 << bit) ? letters[bit] : '-');
    }
    if (with_sharing) {
        putchar(prot & MM_PROT_SHARED ? 's' : 'p');
    }
}

#endif
