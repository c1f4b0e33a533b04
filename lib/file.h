/* file.h: reading a whole local file into memory, the one loop the daemons used to write out
 * each on its own (state file, template, -base, the config found at start). Owns nothing but
 * the buffer it returns. Promises: the content is NUL-terminated (one byte past len), so text
 * can be used as a C string once the caller has checked it holds no NUL. Never: interprets the
 * content, logs, or keeps state. */
#ifndef PORTOLAN_FILE_H
#define PORTOLAN_FILE_H

#include <stddef.h>

/* The content of path, malloc'd, its length in *len. NULL when the file cannot be opened or
 * read, or is larger than max bytes (0: no limit); errno tells which (EFBIG: too large). */
char *file_read(const char *path, size_t max, size_t *len);

#endif
