/* xalloc.c: see xalloc.h for the rule. The size is logged so that a runaway table shows up as a
 * number in the log instead of as a bare abort. */
#include "xalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void xalloc_die(size_t n, const char *what)
{
    log_error("out of memory (%zu bytes for %s); aborting", n, what);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        xalloc_die(n, "malloc");
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        xalloc_die(SIZE_MAX, "calloc (size overflow)");
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        xalloc_die(n * size, "calloc");
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        xalloc_die(n, "realloc");
    return q;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        xalloc_die(SIZE_MAX, "realloc (size overflow)");
    return xrealloc(p, n * size);
}

char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        xalloc_die(strlen(fmt), "asprintf");
    return s;
}
