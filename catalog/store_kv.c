/* store_kv.c: KV and sessions as store writes (split from store.c along its seam: the KV table
 * is kv.c's and the sessions table session.c's; this file turns their changes into store writes,
 * with the global index, the change hook and the dirty hook, and invalidates sessions). */
#include "store_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- KV: kv.c decides and applies; a write it reports is committed here as a store write ---- */
cat_kv_t *store_kv_get(const catalog_store_t *s, const char *key) { return kv_get(s->kv, key); }
cat_kv_t **store_kv_list(const catalog_store_t *s, const char *prefix, size_t *n) { return kv_list(s->kv, prefix, n); }
uint64_t store_kv_prefix_index(const catalog_store_t *s, const char *prefix) { return kv_prefix_index(s->kv, prefix); }

/* kv.c stamped the write with s->index + 1: raise the global index to it and wake watchers. */
static void commit_kv_write(catalog_store_t *s, const char *key, int prefix)
{
    store_begin_write(s);
    s->pending.kv = 1;
    s->pending.kv_key = key;
    s->pending.kv_prefix = prefix;
    store_end_write(s);
}

int store_kv_put(catalog_store_t *s, const char *key, const void *val, size_t len, uint64_t flags, int64_t cas)
{
    if (kv_put(s->kv, key, val, len, flags, cas, s->index + 1) != KV_WRITTEN)
        return 0;
    commit_kv_write(s, key, 0);
    return 1;
}

int store_kv_delete(catalog_store_t *s, const char *key, int recurse, int64_t cas)
{
    kv_result_t r = kv_delete(s->kv, key, recurse, cas, s->index + 1);
    if (r == KV_WRITTEN)
        commit_kv_write(s, key, recurse != 0);
    return r != KV_CAS_FAILED;
}

int store_kv_lock(catalog_store_t *s, const char *key, const void *val, size_t len, uint64_t flags,
                  const char *session, int release, int64_t now_ms, char *err, size_t errlen)
{
    if (!release && !session_get(s->sessions, session)) {
        snprintf(err, errlen, "invalid session \"%s\"", session);
        return -1;
    }
    kv_result_t r;
    if (release)
        r = kv_unlock(s->kv, key, val, len, flags, session, s->index + 1);
    else if (kv_lock_delay_until(s->kv, key) > now_ms)
        return 0;
    else
        r = kv_lock(s->kv, key, val, len, flags, session, s->index + 1);
    if (r != KV_WRITTEN)
        return 0;
    commit_kv_write(s, key, 0);
    return 1;
}

kv_table_t *store_kv_begin(const catalog_store_t *s, uint64_t *idx)
{
    *idx = s->index + 1;
    return kv_table_clone(s->kv);
}

void store_kv_end(catalog_store_t *s, kv_table_t *work, int wrote)
{
    if (!wrote) {
        kv_table_free(work);
        return;
    }
    kv_table_free(s->kv);
    s->kv = work;
    commit_kv_write(s, NULL, 0);     /* kv_key NULL: any KV watcher re-evaluates */
}

int store_session_exists(const catalog_store_t *s, const char *id) { return session_get(s->sessions, id) != NULL; }

/* ---- sessions: session.c keeps the table; invalidation releases locks in kv.c ---- */
static cat_check_t *node_check_on(const catalog_store_t *s, const char *node, const char *id)
{
    cat_check_t *c = strmap_get(s->checks, id);
    if (!c || (c->service_id && *c->service_id))
        return NULL;
    int local = strcasecmp(node, s->node) == 0;
    return (local ? !c->node : c->node && !strcasecmp(c->node, node)) ? c : NULL;
}

int store_session_create(catalog_store_t *s, cat_session_t *sess, int64_t now_ms, char *err, size_t errlen)
{
    if (strcasecmp(sess->node, s->node) != 0 && !store_ext_node(s, sess->node)) {
        snprintf(err, errlen, "Missing node registration");
        goto fail;
    }
    for (size_t i = 0; i < sess->nnode_checks + sess->nservice_checks; i++) {
        int svc = i >= sess->nnode_checks;
        const char *id = svc ? sess->service_checks[i - sess->nnode_checks] : sess->node_checks[i];
        cat_check_t *c = svc ? strmap_get(s->checks, id) : node_check_on(s, sess->node, id);
        if (!c || (svc && !(c->service_id && *c->service_id))) {
            snprintf(err, errlen, "Missing check '%s' registration", id);
            goto fail;
        }
        if (!strcmp(c->status, "critical")) {
            snprintf(err, errlen, "Check '%s' is in %s state", id, c->status);
            goto fail;
        }
    }
    if (session_get(s->sessions, sess->id)) {
        snprintf(err, errlen, "Session ID '%s' already in use", sess->id);
        goto fail;
    }
    uint64_t idx = store_begin_write(s);
    session_add(s->sessions, sess, idx, now_ms);
    store_dirty(s, CAT_DIRTY_SESSION, sess->id);
    s->pending.sessions = 1;
    store_end_write(s);
    return 0;
fail:
    cat_session_free(sess);
    return -1;
}

int store_session_destroy(catalog_store_t *s, const char *id, int64_t now_ms)
{
    cat_session_t *sess = session_get(s->sessions, id);
    if (!sess)
        return 0;
    uint64_t idx = store_begin_write(s);
    int64_t delay_ms = sess->lock_delay_ns / 1000000;
    if (kv_drop_session(s->kv, sess->id, sess->delete_behavior, idx, delay_ms > 0 ? now_ms + delay_ms : 0)) {
        s->pending.kv = 1;            /* kv_key NULL: any KV watcher re-evaluates */
    }
    store_dirty(s, CAT_DIRTY_SESSION, sess->id);
    cat_session_free(session_remove(s->sessions, id));
    session_set_index(s->sessions, idx);
    s->pending.sessions = 1;
    store_end_write(s);
    return 1;
}

cat_session_t *store_session(const catalog_store_t *s, const char *id) { return session_get(s->sessions, id); }
cat_session_t **store_sessions(const catalog_store_t *s, const char *node, size_t *n) { return session_list(s->sessions, node, n); }
uint64_t store_index_sessions(const catalog_store_t *s) { return atleast1(session_index(s->sessions)); }

cat_session_t *store_session_renew(catalog_store_t *s, const char *id, int64_t now_ms)
{
    cat_session_t *sess = session_get(s->sessions, id);
    if (sess)
        session_renew(sess, now_ms);
    return sess;
}

static int session_invalid(const catalog_store_t *s, const cat_session_t *sess, int64_t now_ms)
{
    if (session_expired(sess, now_ms))
        return 1;
    for (size_t i = 0; i < sess->nnode_checks + sess->nservice_checks; i++) {
        int svc = i >= sess->nnode_checks;
        cat_check_t *c = svc ? strmap_get(s->checks, sess->service_checks[i - sess->nnode_checks])
                             : node_check_on(s, sess->node, sess->node_checks[i]);
        if (!c || !strcmp(c->status, "critical"))
            return 1;
    }
    return 0;
}

int store_sessions_sweep(catalog_store_t *s, int64_t now_ms)
{
    if (!session_count(s->sessions))
        return 0;
    size_t n;
    cat_session_t **all = session_list(s->sessions, NULL, &n);
    char (*gone)[37] = malloc((n ? n : 1) * sizeof *gone);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (session_invalid(s, all[i], now_ms))
            memcpy(gone[k++], all[i]->id, sizeof gone[0]);
    free(all);
    for (size_t i = 0; i < k; i++)
        store_session_destroy(s, gone[i], now_ms);
    free(gone);
    return (int)k;
}

int store_session_restore(catalog_store_t *s, cat_session_t *sess, int64_t now_ms)
{
    if (session_get(s->sessions, sess->id)) {
        cat_session_free(sess);
        return -1;
    }
    uint64_t c = sess->create_index, m = sess->modify_index, t = session_index(s->sessions);
    session_add(s->sessions, sess, m, now_ms);
    sess->create_index = c;
    session_set_index(s->sessions, t > m ? t : m);
    return 0;
}

int store_kv_restore_lock(catalog_store_t *s, const char *key, const char *session, uint64_t lock_index)
{
    cat_kv_t *e = kv_get(s->kv, key);
    if (!e)
        return -1;
    e->lock_index = lock_index;
    if (!session || !session_get(s->sessions, session)) {
        free(e->session);           /* a replayed record may unlock an entry the log locked */
        e->session = NULL;
        return session ? -1 : 0;
    }
    free(e->session);
    e->session = strdup(session);
    return 0;
}

