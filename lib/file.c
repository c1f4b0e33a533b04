/* file.c: see file.h. file_read opens without blocking (a FIFO would otherwise hold the open
 * until a writer comes) and checks with fstat on the open descriptor (no race with a rename or
 * symlink swap between check and read) before a byte is read. The writers follow the one order
 * that makes a replacement durable on POSIX file systems: write, fsync the file, rename, fsync
 * the directory that holds the name. */
#include "file.h"

#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *file_read(const char *path, size_t max, size_t *len)
{
    if (!max)
        max = FILE_READ_MAX_DEFAULT;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return NULL;
    }
    if ((unsigned long long)st.st_size > max) {
        close(fd);
        errno = EFBIG;
        return NULL;
    }
    /* the size may change while we read: read up to max + 1 bytes whatever fstat said */
    size_t cap = (size_t)st.st_size + 1 < max + 1 ? (size_t)st.st_size + 1 : max + 1;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (n > max)
                break;
            size_t nc = cap * 2 < max + 1 ? cap * 2 : max + 1;
            char *nb = realloc(buf, nc + 1);
            if (!nb) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap = nc;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (n > max) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

const char *file_strerror(int err)
{
    if (err == EINVAL)
        return "not a regular file";
    if (err == EFBIG)
        return "file too large";
    return strerror(err);
}

int file_write_sync(const char *tmp, const void *buf, size_t len, mode_t mode)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0)
        return -1;
    const char *p = buf;
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            rc = -1;
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -1;
    int e = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        errno = e;
    }
    return rc;
}

/* fsync of the directory holding path ("." for a bare name) */
static int sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int file_commit(const char *tmp, const char *path)
{
    if (rename(tmp, path) != 0)
        return -1;
    return sync_dir_of(path);
}

int file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    int rc = file_write_sync(tmp, buf, len, mode);
    if (rc == 0 && file_commit(tmp, path) != 0) {
        int e = errno;
        unlink(tmp); /* nothing if the rename happened and only the directory fsync failed */
        errno = e;
        rc = -1;
    }
    free(tmp);
    return rc;
}
