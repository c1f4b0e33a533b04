/* kv.c: the catalog's KV table (see kv.h). Owns two hash maps: live entries by key, and
 * tombstones (key -> index of its deletion) so that a prefix's index never goes backwards
 * when its newest key is deleted. Promises: check-and-set decided here, before anything
 * changes; every change stamped with the caller's index. Never: touches the store's global
 * index or its change hook, reads a clock, does I/O. Listings scan the table and sort; nothing
 * is allocated per read beyond the result array. */
#include "kv.h"
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

struct kv_table {
    strmap_t *entries;      /* key -> cat_kv_t */
    strmap_t *tombstones;   /* key -> uint64_t, the index of its deletion */
    strmap_t *delays;       /* key -> int64_t, the end of its lock-delay (ms) */
    uint64_t index;         /* the last write's */
    kv_dirty_cb on_dirty;   /* told each key whose entry or tombstone changed (durable.c) */
    void *dirty_ctx;
};

void kv_set_dirty_hook(kv_table_t *t, kv_dirty_cb cb, void *ctx)
{
    t->on_dirty = cb;
    t->dirty_ctx = ctx;
}

static void dirty(kv_table_t *t, const char *key)
{
    if (t->on_dirty)
        t->on_dirty(t->dirty_ctx, key);
}

kv_table_t *kv_table_new(void)
{
    kv_table_t *t = calloc(1, sizeof *t);
    t->entries = strmap_new();
    t->tombstones = strmap_new();
    t->delays = strmap_new();
    return t;
}

static void entry_free(cat_kv_t *e)
{
    free(e->key); free(e->value); free(e->session); free(e);
}

void kv_table_free(kv_table_t *t)
{
    if (!t)
        return;
    for (strmap_iter_t it = strmap_iter(t->entries); strmap_iter_next(&it);)
        entry_free(it.value);
    for (strmap_iter_t it = strmap_iter(t->tombstones); strmap_iter_next(&it);)
        free(it.value);
    for (strmap_iter_t it = strmap_iter(t->delays); strmap_iter_next(&it);)
        free(it.value);
    strmap_free(t->entries);
    strmap_free(t->tombstones);
    strmap_free(t->delays);
    free(t);
}

kv_table_t *kv_table_clone(const kv_table_t *t)
{
    kv_table_t *c = kv_table_new();
    c->index = t->index;
    c->on_dirty = t->on_dirty;      /* a transaction's writes are marked too (harmless if dropped) */
    c->dirty_ctx = t->dirty_ctx;
    for (strmap_iter_t it = strmap_iter(t->entries); strmap_iter_next(&it);) {
        const cat_kv_t *e = it.value;
        cat_kv_t *n = calloc(1, sizeof *n);
        *n = *e;
        n->key = strdup(e->key);
        n->value = malloc(e->len ? e->len : 1);
        if (e->len)
            memcpy(n->value, e->value, e->len);
        n->session = e->session ? strdup(e->session) : NULL;
        strmap_put(c->entries, n->key, n);
    }
    for (strmap_iter_t it = strmap_iter(t->tombstones); strmap_iter_next(&it);) {
        uint64_t *v = malloc(sizeof *v);
        *v = *(uint64_t *)it.value;
        strmap_put(c->tombstones, it.key, v);
    }
    for (strmap_iter_t it = strmap_iter(t->delays); strmap_iter_next(&it);) {
        int64_t *v = malloc(sizeof *v);
        *v = *(int64_t *)it.value;
        strmap_put(c->delays, it.key, v);
    }
    return c;
}

cat_kv_t *kv_get(const kv_table_t *t, const char *key) { return strmap_get(t->entries, key); }

uint64_t kv_index(const kv_table_t *t) { return t->index; }

static int cmp_kv(const void *a, const void *b)
{
    return strcmp((*(cat_kv_t *const *)a)->key, (*(cat_kv_t *const *)b)->key);
}

cat_kv_t **kv_list(const kv_table_t *t, const char *prefix, size_t *n)
{
    size_t cnt = strmap_size(t->entries), k = 0, pl = strlen(prefix);
    cat_kv_t **arr = malloc((cnt ? cnt : 1) * sizeof *arr);
    for (strmap_iter_t it = strmap_iter(t->entries); strmap_iter_next(&it);)
        if (strncmp(it.key, prefix, pl) == 0)
            arr[k++] = it.value;
    qsort(arr, k, sizeof *arr, cmp_kv);
    *n = k;
    return arr;
}

uint64_t kv_prefix_index(const kv_table_t *t, const char *prefix)
{
    size_t pl = strlen(prefix);
    uint64_t max = 0;
    for (strmap_iter_t it = strmap_iter(t->entries); strmap_iter_next(&it);)
        if (strncmp(it.key, prefix, pl) == 0 && ((cat_kv_t *)it.value)->modify_index > max)
            max = ((cat_kv_t *)it.value)->modify_index;
    for (strmap_iter_t it = strmap_iter(t->tombstones); strmap_iter_next(&it);)
        if (strncmp(it.key, prefix, pl) == 0 && *(uint64_t *)it.value > max)
            max = *(uint64_t *)it.value;
    return max;
}

/* Writes key's value (creating it), keeping its lock fields. */
static cat_kv_t *write_entry(kv_table_t *t, cat_kv_t *e, const char *key, const void *val, size_t len,
                             uint64_t flags, uint64_t idx)
{
    if (!e) {
        e = calloc(1, sizeof *e);
        e->key = strdup(key);
        e->create_index = idx;
        strmap_put(t->entries, key, e);
        free(strmap_del(t->tombstones, key));
    }
    free(e->value);
    e->value = malloc(len ? len : 1);
    if (len)
        memcpy(e->value, val, len);
    e->len = len;
    e->has_value = len > 0;
    e->flags = flags;
    e->modify_index = idx;
    t->index = idx;
    dirty(t, e->key);
    return e;
}

kv_result_t kv_put(kv_table_t *t, const char *key, const void *val, size_t len, uint64_t flags,
                   int64_t cas, uint64_t idx)
{
    cat_kv_t *e = strmap_get(t->entries, key);
    if (cas >= 0) {
        if (cas == 0 && e) return KV_CAS_FAILED;
        if (cas > 0 && (!e || e->modify_index != (uint64_t)cas)) return KV_CAS_FAILED;
    }
    write_entry(t, e, key, val, len, flags, idx);
    return KV_WRITTEN;
}

kv_result_t kv_lock(kv_table_t *t, const char *key, const void *val, size_t len, uint64_t flags,
                    const char *session, uint64_t idx)
{
    cat_kv_t *e = strmap_get(t->entries, key);
    if (e && e->session && strcmp(e->session, session) != 0)
        return KV_CAS_FAILED;
    int again = e && e->session;
    e = write_entry(t, e, key, val, len, flags, idx);
    if (!again) {
        e->lock_index++;
        free(e->session);
        e->session = strdup(session);
    }
    return KV_WRITTEN;
}

kv_result_t kv_unlock(kv_table_t *t, const char *key, const void *val, size_t len, uint64_t flags,
                      const char *session, uint64_t idx)
{
    cat_kv_t *e = strmap_get(t->entries, key);
    if (!e || !e->session || strcmp(e->session, session) != 0)
        return KV_CAS_FAILED;
    write_entry(t, e, key, val, len, flags, idx);
    free(e->session);
    e->session = NULL;
    return KV_WRITTEN;
}

int64_t kv_lock_delay_until(const kv_table_t *t, const char *key)
{
    int64_t *u = strmap_get(t->delays, key);
    return u ? *u : 0;
}

static void set_tombstone(kv_table_t *t, const char *key, uint64_t idx)
{
    uint64_t *ts = malloc(sizeof *ts);
    *ts = idx;
    free(strmap_del(t->tombstones, key));
    strmap_put(t->tombstones, key, ts);
}

static void remove_entry(kv_table_t *t, cat_kv_t *e, uint64_t idx)
{
    dirty(t, e->key);
    set_tombstone(t, e->key, idx);
    strmap_del(t->entries, e->key);
    entry_free(e);
}

kv_result_t kv_delete(kv_table_t *t, const char *key, int recurse, int64_t cas, uint64_t idx)
{
    if (!recurse) {
        cat_kv_t *e = strmap_get(t->entries, key);
        /* Consul: a cas delete of an absent key succeeds, whatever the index */
        if (!e)
            return KV_UNCHANGED;
        if (cas >= 0 && e->modify_index != (uint64_t)cas)
            return KV_CAS_FAILED;
        remove_entry(t, e, idx);
        t->index = idx;
        return KV_WRITTEN;
    }
    size_t n;
    cat_kv_t **list = kv_list(t, key, &n);
    for (size_t i = 0; i < n; i++)
        remove_entry(t, list[i], idx);
    free(list);
    if (!n)
        return KV_UNCHANGED;
    t->index = idx;
    return KV_WRITTEN;
}

size_t kv_drop_session(kv_table_t *t, const char *session, int delete_keys, uint64_t idx,
                       int64_t delay_until_ms)
{
    size_t n, k = 0;
    cat_kv_t **list = kv_list(t, "", &n);
    for (size_t i = 0; i < n; i++) {
        cat_kv_t *e = list[i];
        if (!e->session || strcmp(e->session, session) != 0)
            continue;
        k++;
        if (delay_until_ms > 0) {
            int64_t *u = malloc(sizeof *u);
            *u = delay_until_ms;
            free(strmap_del(t->delays, e->key));
            strmap_put(t->delays, e->key, u);
        }
        if (delete_keys) {
            remove_entry(t, e, idx);
        } else {
            free(e->session);
            e->session = NULL;
            e->modify_index = idx;
            dirty(t, e->key);
        }
    }
    free(list);
    if (k)
        t->index = idx;
    return k;
}

void kv_restore_index(kv_table_t *t, uint64_t idx) { t->index = idx; }

uint64_t kv_tombstone(const kv_table_t *t, const char *key)
{
    uint64_t *ts = strmap_get(t->tombstones, key);
    return ts ? *ts : 0;
}

void kv_each_tombstone(const kv_table_t *t, cat_tombstone_cb cb, void *ctx)
{
    for (strmap_iter_t it = strmap_iter(t->tombstones); strmap_iter_next(&it);)
        cb(ctx, it.key, *(uint64_t *)it.value);
}

void kv_restore_tombstone(kv_table_t *t, const char *key, uint64_t index)
{
    if (strmap_get(t->entries, key))
        return;
    set_tombstone(t, key, index);
}
