/* warn_list.c: see warn_list.h. Messages are cut at 300 bytes (values may be huge). */
#include "warn_list.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void warn_list_add(warn_list_t *w, const char *fmt, ...)
{
    if (!w)
        return;
    if (w->n >= WARN_LIST_MAX) {
        w->dropped++;
        return;
    }
    char buf[300];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (len >= (int)sizeof buf)
        memcpy(buf + sizeof buf - 4, "...", 4);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4;
        char **p = realloc(w->items, cap * sizeof *p);
        if (!p)
            return;
        w->items = p;
        w->cap = cap;
    }
    char *s = strdup(buf);
    if (s)
        w->items[w->n++] = s;
}

int warn_list_contains(const warn_list_t *w, const char *needle)
{
    for (size_t i = 0; i < w->n; i++)
        if (strstr(w->items[i], needle))
            return 1;
    return 0;
}

void warn_list_free(warn_list_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->items[i]);
    free(w->items);
    memset(w, 0, sizeof *w);
}
