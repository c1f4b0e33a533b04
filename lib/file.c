/* file.c: see file.h. */
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

char *file_read(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (cap - n < 65536) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap + 1);
            if (!nb) { free(buf); fclose(f); errno = ENOMEM; return NULL; }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (max && n > max) { free(buf); fclose(f); errno = EFBIG; return NULL; }
    } while (got > 0);
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (err) { free(buf); errno = err; return NULL; }
    buf[n] = '\0';
    *len = n;
    return buf;
}
