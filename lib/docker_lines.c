/* docker_lines.c: splits the Docker event stream (chunks of arbitrary size) into lines.
 * Pure: no I/O. Owns one buffer holding the unfinished tail of the last chunk, never longer
 * than max_line; an over-long line is dropped whole and counted, so a hostile or broken peer
 * cannot make the agent buffer without bound. max_line counts the bytes before '\n' (a
 * trailing '\r' included). Complete lines inside one chunk are handed out
 * without copying. */
#include "docker_client.h"

#include <stdlib.h>
#include <string.h>

void docker_lines_init(docker_lines_t *l, size_t max_line)
{
    memset(l, 0, sizeof *l);
    l->max_line = max_line ? max_line : 1;
}

void docker_lines_free(docker_lines_t *l)
{
    free(l->buf);
    l->buf = NULL;
    l->len = l->cap = 0;
}

static int buf_add(docker_lines_t *l, const char *p, size_t n)
{
    if (l->len + n > l->cap) {
        size_t ncap = l->cap ? l->cap : 256;
        while (ncap < l->len + n)
            ncap *= 2;
        char *nb = realloc(l->buf, ncap);
        if (!nb)
            return -1;
        l->buf = nb;
        l->cap = ncap;
    }
    memcpy(l->buf + l->len, p, n);
    l->len += n;
    return 0;
}

static int emit(const char *line, size_t n, int (*on_line)(const char *, size_t, void *), void *data)
{
    if (n && line[n - 1] == '\r')
        n--;
    if (n == 0)
        return 0;
    return on_line(line, n, data);
}

int docker_lines_feed(docker_lines_t *l, const char *chunk, size_t len,
                      int (*on_line)(const char *line, size_t len, void *data), void *data)
{
    const char *p = chunk, *end = chunk + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            size_t n = (size_t)(end - p);
            if (l->discarding)
                return 0;
            if (l->len + n > l->max_line || buf_add(l, p, n) != 0) {
                l->discarding = 1;
                l->dropped++;
                l->len = 0;
            }
            return 0;
        }
        size_t n = (size_t)(nl - p);
        int rc = 0;
        if (l->discarding) {
            l->discarding = 0; /* the end of the line we were skipping */
        } else if (l->len == 0) {
            if (n > l->max_line)
                l->dropped++;
            else
                rc = emit(p, n, on_line, data);
        } else if (l->len + n > l->max_line || buf_add(l, p, n) != 0) {
            l->dropped++;
            l->len = 0;
        } else {
            size_t total = l->len;
            l->len = 0;
            rc = emit(l->buf, total, on_line, data);
        }
        p = nl + 1;
        if (rc != 0)
            return rc;
    }
    return 0;
}
