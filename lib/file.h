/* file.h: reading a whole local file into memory, and replacing one atomically: the loops the
 * daemons used to write out each on its own (state file, node ID, template output, the HAProxy
 * configuration and its maps, -base). Owns nothing but the buffer file_read returns. Promises:
 * read content is NUL-terminated (one byte past len), so text can be used as a C string once the
 * caller has checked it holds no NUL; a replaced file is, after a crash at any point, either the
 * whole old content or the whole new one (temp file fsync'd, renamed over, directory fsync'd).
 * Never: interprets the content, logs, or keeps state. */
#ifndef PORTOLAN_FILE_H
#define PORTOLAN_FILE_H

#include <stddef.h>
#include <sys/types.h>

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

/* Atomic replacement, in two steps for callers that check the temporary file before it goes
 * live (the templater runs `haproxy -c` on it):
 *   file_write_sync(tmp, ...)  writes buf to tmp (created with mode, truncated), fsync'd, closed;
 *                              on failure tmp is removed and errno tells why;
 *   file_commit(tmp, path)     renames tmp over path, then fsyncs path's directory so the rename
 *                              itself survives a crash (a failing directory fsync is reported).
 * file_write_atomic does both with tmp = "<path>.tmp". All return 0, or -1 with errno set. */
int file_write_sync(const char *tmp, const void *buf, size_t len, mode_t mode);
int file_commit(const char *tmp, const char *path);
int file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode);

#endif
