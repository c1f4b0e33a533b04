/* strmap.c: see strmap.h. Grows at load factor 1; never shrinks (tables are small). */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct strmap_node {
    char *key;
    void *value;
    struct strmap_node *next;
};

struct strmap {
    strmap_node_t **b;
    size_t nb, n;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

strmap_t *strmap_new(void)
{
    strmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nb = 64;
    m->b = calloc(m->nb, sizeof *m->b);
    if (!m->b) {
        free(m);
        return NULL;
    }
    return m;
}

void strmap_free(strmap_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        strmap_node_t *n = m->b[i];
        while (n) {
            strmap_node_t *next = n->next;
            free(n->key);
            free(n);
            n = next;
        }
    }
    free(m->b);
    free(m);
}

static strmap_node_t **find(const strmap_t *m, const char *key)
{
    strmap_node_t **p = &m->b[hash(key) % m->nb];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

void *strmap_get(const strmap_t *m, const char *key)
{
    strmap_node_t **p = find(m, key);
    return *p ? (*p)->value : NULL;
}

static void grow(strmap_t *m)
{
    size_t nb = m->nb * 2;
    strmap_node_t **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        strmap_node_t *n = m->b[i];
        while (n) {
            strmap_node_t *next = n->next;
            size_t k = hash(n->key) % nb;
            n->next = b[k];
            b[k] = n;
            n = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

int strmap_put(strmap_t *m, const char *key, void *value)
{
    strmap_node_t **p = find(m, key);
    if (*p) {
        (*p)->value = value;
        return 0;
    }
    strmap_node_t *n = calloc(1, sizeof *n);
    if (!n || !(n->key = strdup(key))) {
        free(n);
        return -1;
    }
    n->value = value;
    *p = n;
    if (++m->n > m->nb)
        grow(m);
    return 0;
}

void *strmap_del(strmap_t *m, const char *key)
{
    strmap_node_t **p = find(m, key);
    if (!*p)
        return NULL;
    strmap_node_t *n = *p;
    void *v = n->value;
    *p = n->next;
    free(n->key);
    free(n);
    m->n--;
    return v;
}

size_t strmap_size(const strmap_t *m) { return m->n; }

strmap_iter_t strmap_iter(const strmap_t *m)
{
    strmap_iter_t it = {.m = m, .bucket = 0, .next = m->nb ? m->b[0] : NULL};
    return it;
}

int strmap_iter_next(strmap_iter_t *it)
{
    while (!it->next) {
        if (++it->bucket >= it->m->nb)
            return 0;
        it->next = it->m->b[it->bucket];
    }
    it->key = it->next->key;
    it->value = it->next->value;
    it->next = it->next->next;
    return 1;
}
