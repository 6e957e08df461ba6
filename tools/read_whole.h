/* The drivers' one way of reading a whole input file (a saved map, an
 * image, simulated memory) into memory. */
#ifndef MM_TOOLS_READ_WHOLE_H
#define MM_TOOLS_READ_WHOLE_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The bytes of the file at path (to be freed), their number in *len; NULL
 * with errno set when it cannot be opened or memory runs out.  Read in
 * growing chunks: the drivers also read pipes and /proc files, whose size
 * stat does not tell. */
static uint8_t *
read_whole_file(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t cap = 0;

    *len = 0;
    if (file == NULL) {
        return NULL;
    }
    for (;;) {
        size_t n;
        if (cap - *len < 65536) {
            uint8_t *grown = realloc(data, cap * 2 + 65536);
            if (grown == NULL) {
                free(data);
                fclose(file);
                errno = ENOMEM;
                return NULL;
            }
            data = grown;
            cap = cap * 2 + 65536;
        }
        n = fread(data + *len, 1, cap - *len, file);
        *len += n;
        if (n == 0) {
            break;
        }
    }
    fclose(file);
    return data;
}

#endif /* MM_TOOLS_READ_WHOLE_H */
