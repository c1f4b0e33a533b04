/* kv.h: the catalog's KV table: entries (key, value bytes, flags, create/modify index), the
 * tombstones of deleted keys, and the index rules of Consul's KV store (check-and-set on
 * ModifyIndex, a prefix's index as the highest of its entries' and tombstones' indexes, the
 * table's last-write index).
 *
 * Owns: its entries and tombstones (keys and values are copied in; entries handed out are
 * borrowed until the next write).
 * Promises: a write stamps exactly the index the caller passes, and only when it changes
 * something (kv_put/kv_delete say whether it did), so the caller can raise its global index
 * for the writes that happened and for no others; listings are byte-sorted by key.
 * Never: reads a clock, raises the store's global index, or calls the change hook (that is
 * store.c's, which wraps this table as store_kv_*); no I/O.
 */
#ifndef PORTOLAN_CATALOG_KV_H
#define PORTOLAN_CATALOG_KV_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *key;
    unsigned char *value; size_t len; int has_value;
    uint64_t flags;
    uint64_t create_index, modify_index;
    uint64_t lock_index;                 /* how many times a session acquired it */
    char *session;                       /* the session holding its lock, NULL when unlocked */
} cat_kv_t;

typedef struct kv_table kv_table_t;

/* What a write did. */
typedef enum {
    KV_CAS_FAILED = 0,   /* the check-and-set did not match: nothing changed */
    KV_WRITTEN = 1,      /* changed, stamped with the index passed */
    KV_UNCHANGED = 2,    /* a delete with nothing to delete: done, nothing changed */
} kv_result_t;

kv_table_t *kv_table_new(void);
void kv_table_free(kv_table_t *t);

cat_kv_t *kv_get(const kv_table_t *t, const char *key);
/* Entries with the prefix, byte-sorted (malloc'd array). */
cat_kv_t **kv_list(const kv_table_t *t, const char *prefix, size_t *n);
/* Highest ModifyIndex among entries and tombstones under prefix, 0 if none. */
uint64_t kv_prefix_index(const kv_table_t *t, const char *prefix);
/* The index of the table's last write (0 before any). */
uint64_t kv_index(const kv_table_t *t);

/* cas: -1 none, else required ModifyIndex (0 = must not exist). idx: the index this write
 * carries. Returns KV_WRITTEN or KV_CAS_FAILED. */
kv_result_t kv_put(kv_table_t *t, const char *key, const void *val, size_t len, uint64_t flags,
                   int64_t cas, uint64_t idx);
/* recurse deletes the prefix (cas is then not checked). A deleted key leaves a tombstone at idx.
 * Returns KV_WRITTEN, KV_UNCHANGED (absent; a cas delete of an absent key succeeds, as in
 * Consul) or KV_CAS_FAILED. */
kv_result_t kv_delete(kv_table_t *t, const char *key, int recurse, int64_t cas, uint64_t idx);

/* ---- locks (Consul's ?acquire= / ?release=; the session's validity is the caller's) ---- */
/* Writes the value and takes the lock for session: KV_CAS_FAILED when another session holds
 * it; a holder re-acquiring keeps its LockIndex, a new holder raises it. */
kv_result_t kv_lock(kv_table_t *t, const char *key, const void *val, size_t len, uint64_t flags,
                    const char *session, uint64_t idx);
/* Writes the value and drops the lock: KV_CAS_FAILED when absent or not held by session. */
kv_result_t kv_unlock(kv_table_t *t, const char *key, const void *val, size_t len, uint64_t flags,
                      const char *session, uint64_t idx);
/* An invalidated session's locks: released (or, with delete_keys, deleted) at idx; with
 * delay_until_ms > 0 each of its keys is closed to ?acquire until then. Returns how many. */
size_t kv_drop_session(kv_table_t *t, const char *session, int delete_keys, uint64_t idx,
                       int64_t delay_until_ms);
/* The end of a key's lock-delay (0 when none). */
int64_t kv_lock_delay_until(const kv_table_t *t, const char *key);

/* ---- durability ---- */
/* cb is told the key of every entry written, unlocked or deleted (a deleted key: its tombstone
 * was set), with -data-dir so the write-ahead log can record that key's new state. A clone
 * inherits the hook. NULL cb: none. */
typedef void (*kv_dirty_cb)(void *ctx, const char *key);
void kv_set_dirty_hook(kv_table_t *t, kv_dirty_cb cb, void *ctx);

/* ---- transactions ---- */
/* A deep copy (entries, tombstones, lock-delays, index): a transaction runs on it and the
 * store keeps it only when every operation succeeded. */
kv_table_t *kv_table_clone(const kv_table_t *t);

/* ---- restoring persisted state (persist.c, through store.h) ---- */
/* Sets the table's last-write index. */
void kv_restore_index(kv_table_t *t, uint64_t idx);
/* Tombstones (a deleted key and the index of its deletion): without them a prefix's index
 * would go back across a restart. */
typedef void (*cat_tombstone_cb)(void *ctx, const char *key, uint64_t index);
void kv_each_tombstone(const kv_table_t *t, cat_tombstone_cb cb, void *ctx);
/* The index of key's tombstone, 0 when it has none. */
uint64_t kv_tombstone(const kv_table_t *t, const char *key);
/* Ignored when the key exists. */
void kv_restore_tombstone(kv_table_t *t, const char *key, uint64_t index);

#endif
