/* api_kv.c: Consul's /v1/kv endpoint over the store's KV table: reads (one key, ?raw, ?recurse,
 * ?keys with ?separator), blocking on a key or prefix, writes with ?flags, ?cas and the lock
 * verbs ?acquire / ?release, deletes with ?recurse and ?cas.
 *
 * Owns: the answers of /v1/kv, error texts included (as Consul words them; see
 * shared/reference/consul-api.md). Promises: every input produces an answer; a read watches
 * only its key or prefix, so a write elsewhere in the KV store never wakes it; the X-Consul-Index
 * of a listing is its prefix's index (tombstones included), never one that goes backwards.
 * ?acquire=<session> / ?release=<session> take and drop a key's lock (store_kv_lock: refused
 * with false when held by another session or in its lock-delay).
 * Never: touches the KV table but through store_kv_*.
 */
#include "api_kv.h"
#include "render.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Consul parses ?flags and ?cas with Go's strconv.ParseUint and returns its error as a plain
 * error: 500 `strconv.ParseUint: parsing "<%q of the input>": invalid syntax` (or `value out of
 * range`). Returns 0, or -1 with that answer set. */
static int kv_uint_param(api_ctx_t *c, const char *name, uint64_t *out)
{
    const char *v = api_param(c->req, name);
    if (api_parse_u64(v, out) == 0)
        return 0;
    int range = *v != '\0';
    for (const char *p = v; *p; p++)
        if (!isdigit((unsigned char)*p))
            range = 0;
    /* the input as Go's %q quotes it (printable ASCII kept, the rest escaped) */
    char q[256 * 4 + 1], *w = q;
    for (const unsigned char *p = (const unsigned char *)v; *p && w < q + sizeof q - 5; p++) {
        if (*p == '"' || *p == '\\') { *w++ = '\\'; *w++ = (char)*p; }
        else if (*p == '\n') { *w++ = '\\'; *w++ = 'n'; }
        else if (*p == '\t') { *w++ = '\\'; *w++ = 't'; }
        else if (*p == '\r') { *w++ = '\\'; *w++ = 'r'; }
        else if (*p < 0x20 || *p >= 0x7f) w += sprintf(w, "\\x%02x", *p);
        else *w++ = (char)*p;
    }
    *w = '\0';
    api_set_text(c->resp, 500, "strconv.ParseUint: parsing \"%s\": %s", q, range ? "value out of range" : "invalid syntax");
    return -1;
}

/* cas: -1 none, else the ModifyIndex required (above INT64_MAX no index can match) */
static int64_t cas_param(api_ctx_t *c, int *bad)
{
    uint64_t x;
    *bad = 0;
    if (!api_param(c->req, "cas"))
        return -1;
    if (kv_uint_param(c, "cas", &x) != 0) {
        *bad = 1;
        return -1;
    }
    return x > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)x;
}

static void handle_kv_get(api_ctx_t *c, const char *key)
{
    catalog_store_t *s = c->api->store;
    int recurse = api_param(c->req, "recurse") != NULL, keys = api_param(c->req, "keys") != NULL;
    /* what this query watches: a write elsewhere in the KV store never wakes it */
    if (strlen(key) < sizeof c->resp->watch_key)
        memcpy(c->resp->watch_key, key, strlen(key) + 1);
    else
        c->resp->watch_key_any = 1;
    c->resp->watch_key_prefix = recurse || keys;
    if (keys) {
        const char *sep = api_param(c->req, "separator");
        size_t n, pl = strlen(key);
        cat_kv_t **list = store_kv_list(s, key, &n);
        json_t *a = json_array();
        const char *last = NULL;
        size_t lastlen = 0;
        for (size_t i = 0; i < n; i++) {
            const char *k = list[i]->key;
            size_t kl = strlen(k);
            if (sep && *sep) {
                const char *hit = strstr(k + pl, sep);
                if (hit)
                    kl = (size_t)(hit - k) + strlen(sep);
            }
            if (last && lastlen == kl && strncmp(last, k, kl) == 0)
                continue;
            json_array_append_new(a, render_stringn(k, kl));
            last = k;
            lastlen = kl;
        }
        free(list);
        uint64_t idx = store_kv_prefix_index(s, key);
        if (!idx)
            idx = store_index_kv(s);
        if (json_array_size(a) == 0 && *key) {
            json_decref(a);
            api_finish(c, NULL, 404, idx, API_WATCH_KV, NULL);
            return;
        }
        api_finish(c, a, 200, idx, API_WATCH_KV, NULL);
        return;
    }
    if (recurse) {
        size_t n;
        cat_kv_t **list = store_kv_list(s, key, &n);
        uint64_t idx = store_kv_prefix_index(s, key);
        if (!idx)
            idx = store_index_kv(s);
        if (n == 0) {
            free(list);
            api_finish(c, NULL, 404, idx, API_WATCH_KV, NULL);
            return;
        }
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            if (list[i]->flags > (uint64_t)INT64_MAX)
                c->u64_flags = 1;
            json_array_append_new(a, render_kv(list[i]));
        }
        free(list);
        api_finish(c, a, 200, idx, API_WATCH_KV, NULL);
        return;
    }
    if (!*key) {
        api_set_text(c->resp, 400, "Missing key name");
        return;
    }
    cat_kv_t *e = store_kv_get(s, key);
    if (!e) {
        api_finish(c, NULL, 404, store_index_kv(s), API_WATCH_KV, NULL);
        return;
    }
    if (api_param(c->req, "raw")) {
        api_finish(c, NULL, 200, e->modify_index, API_WATCH_KV, NULL);
        if (!c->resp->block) {
            c->resp->body = malloc(e->len ? e->len : 1);
            memcpy(c->resp->body, e->value, e->len);
            c->resp->len = e->len;
            c->resp->content_type = "text/plain; charset=utf-8";
        }
        return;
    }
    c->u64_flags = e->flags > (uint64_t)INT64_MAX;
    api_finish(c, json_pack("[o]", render_kv(e)), 200, e->modify_index, API_WATCH_KV, NULL);
}

static void handle_kv_put(api_ctx_t *c, const char *key)
{
    if (!*key) {
        api_set_text(c->resp, 400, "Missing key name");
        return;
    }
    uint64_t flags = 0;
    const char *f = api_param(c->req, "flags");
    if (f && kv_uint_param(c, "flags", &flags) != 0)
        return;
    int bad;
    int64_t cas = cas_param(c, &bad);
    if (bad)
        return;
    /* as Consul reads them: ?release wins over ?acquire, which wins over ?cas */
    const char *acq = api_param(c->req, "acquire"), *rel = api_param(c->req, "release");
    int ok;
    if (acq || rel) {
        char err[600];
        int64_t now = c->api->now_ms ? c->api->now_ms() : 0;
        ok = store_kv_lock(c->api->store, key, c->req->body, c->req->body_len, flags, rel ? rel : acq,
                           rel != NULL, now, err, sizeof err);
        if (ok < 0) {
            api_set_text(c->resp, 500, "%s", err);
            return;
        }
    } else {
        ok = store_kv_put(c->api->store, key, c->req->body, c->req->body_len, flags, cas);
    }
    c->resp->wrote = ok;
    api_set_json(c, 200, json_boolean(ok));
}

static void handle_kv_delete(api_ctx_t *c, const char *key)
{
    int recurse = api_param(c->req, "recurse") != NULL;
    if (!*key && !recurse) {
        api_set_text(c->resp, 400, "Missing key name");
        return;
    }
    int bad;
    int64_t cas = cas_param(c, &bad);
    if (bad)
        return;
    uint64_t before = store_index(c->api->store);
    int ok = store_kv_delete(c->api->store, key, recurse, cas);
    c->resp->wrote = store_index(c->api->store) != before;
    api_set_json(c, 200, json_boolean(ok));
}

void api_kv_handle(api_ctx_t *c, const char *key)
{
    const char *dc = api_param(c->req, "dc");
    if (dc && *dc && strcmp(dc, store_datacenter(c->api->store)) != 0)
        api_set_text(c->resp, 500, "No path to datacenter");
    else if (!strcmp(c->req->method, "GET")) {
        if (api_read_prologue(c, 1, 0) == 0) handle_kv_get(c, key);
    } else if (!strcmp(c->req->method, "PUT"))
        handle_kv_put(c, key);
    else
        handle_kv_delete(c, key);
}
