/* warn_list.h: a growable list of human-readable warnings produced by the pure core
 * (metadata.c, services.c) so that the daemon can log them; the core itself never logs.
 * Owns its strings. Capped at WARN_LIST_MAX entries (then one "... more" line), so hostile input
 * with thousands of bad keys cannot flood the log. */
#ifndef PORTOLAN_AGENT_WARN_LIST_H
#define PORTOLAN_AGENT_WARN_LIST_H

#include <stddef.h>

#define WARN_LIST_MAX 32

typedef struct {
    char **items;
    size_t n, cap;
    size_t dropped; /* warnings past WARN_LIST_MAX, not stored */
} warn_list_t;

void warn_list_add(warn_list_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 when some item contains needle (for tests). */
int warn_list_contains(const warn_list_t *w, const char *needle);
void warn_list_free(warn_list_t *w);

#endif
