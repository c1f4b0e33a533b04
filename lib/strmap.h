/* strmap.h: a small string -> pointer hash map (chaining, FNV-1a), for the agent's tables of
 * containers and services. Owns its key copies, not the values. Iteration is safe against removal
 * of the current entry through strmap_iter_next's prefetch. */
#ifndef PORTOLAN_STRMAP_H
#define PORTOLAN_STRMAP_H

#include <stddef.h>

typedef struct strmap strmap_t;
typedef struct strmap_node strmap_node_t;

strmap_t *strmap_new(void);
void strmap_free(strmap_t *m); /* values are not freed */
void *strmap_get(const strmap_t *m, const char *key);
/* Inserts or replaces; returns 0, -1 on allocation failure. */
int strmap_put(strmap_t *m, const char *key, void *value);
/* Removes; returns the old value or NULL. */
void *strmap_del(strmap_t *m, const char *key);
size_t strmap_size(const strmap_t *m);

/* Iteration: for (strmap_iter_t it = strmap_iter(m); strmap_iter_next(&it);) use it.key, it.value.
 * Removing it.key during iteration is allowed; inserting is not. */
typedef struct {
    const strmap_t *m;
    size_t bucket;
    strmap_node_t *next;
    const char *key;
    void *value;
} strmap_iter_t;
strmap_iter_t strmap_iter(const strmap_t *m);
int strmap_iter_next(strmap_iter_t *it);

#endif
