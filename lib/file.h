/* file.h: reading a whole local file into memory, the one loop the daemons used to write out
 * each on its own (state file, template, -base, the config found at start). Owns nothing but
 * the buffer it returns. Promises: the content is NUL-terminated (one byte past len), so text
 * can be used as a C string once the caller has checked it holds no NUL. Never: interprets the
 * content, logs, or keeps state. */
#ifndef PORTOLAN_FILE_H
#define PORTOLAN_FILE_H

#include <stddef.h>

/* Hard cap when the caller passes max 0: 64 MiB. */
#define FILE_READ_MAX_DEFAULT ((size_t)64 << 20)

/* The content of path, malloc'd, its length in *len. Regular files only (a symlink is followed
 * to its target, which must be one): a FIFO, device (/dev/zero), socket or directory is refused
 * without blocking and without reading. NULL when the file cannot be opened or read, is not a
 * regular file (errno EINVAL; EISDIR for a directory), or is larger than max bytes (errno EFBIG;
 * max 0: FILE_READ_MAX_DEFAULT). The descriptor is close-on-exec and closed before returning. */
char *file_read(const char *path, size_t max, size_t *len);

/* A message for errno values file_read sets ("not a regular file", "file too large"), else
 * strerror. */
const char *file_strerror(int err);

#endif
