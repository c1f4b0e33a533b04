/* Unit tests for sessions and locks (catalog/session.c, store_session_*, api_session.c and KV
 * ?acquire/?release in api_kv.c) and KV transactions (txn.c, api_txn.c), driven without sockets
 * on a clock the test moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "persist.h"
#include "store.h"
#include "catalog_fixture.h"

static int64_t clock_ms = 1000;
static int64_t now_ms(void) { return clock_ms; }
static int notified;
static void on_change(void *ctx, const cat_change_t *ch) { (void)ctx; if (ch->sessions) notified++; }

typedef catfx_t fx_t;

static int setup(void **state)
{
    int rc = catfx_setup(state, now_ms);
    fx_t *f = *state;
    store_set_change_hook(f->api.store, on_change, NULL);
    notified = 0;
    clock_ms = 1000;
    return rc;
}

static int teardown(void **state) { return catfx_teardown(state); }

/* creates a session from body; returns its ID (static buffer per call site is the caller's) */
static void create(fx_t *f, const char *body, char id[37])
{
    api_response_t *r = catfx_call(f, "PUT", "/v1/session/create", body, NULL);
    assert_int_equal(r->status, 200);
    json_t *j = catfx_json(r);
    const char *s = json_string_value(json_object_get(j, "ID"));
    assert_non_null(s);
    assert_int_equal(strlen(s), 36);
    memcpy(id, s, 37);
    json_decref(j);
}

static json_t *kv_entry(fx_t *f, const char *key)
{
    api_response_t *r = catfx_call(f, "GET", key, NULL, NULL);
    if (r->status != 200)
        return NULL;
    json_t *a = catfx_json(r);
    json_t *e = json_incref(json_array_get(a, 0));
    json_decref(a);
    return e;
}

static void test_session_shape_and_defaults(void **state)
{
    fx_t *f = *state;
    char id[37];
    create(f, NULL, id);
    assert_int_equal(notified, 1);
    api_response_t *r = catfx_call(f, "GET", "/v1/session/info/x", NULL, NULL);
    assert_string_equal(r->body, "[]");
    char path[128];
    snprintf(path, sizeof path, "/v1/session/info/%s", id);
    r = catfx_call(f, "GET", path, NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_true(r->has_index);
    json_t *j = catfx_json(r), *s = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(s, "ID")), id);
    assert_string_equal(json_string_value(json_object_get(s, "Node")), "node1");
    assert_string_equal(json_string_value(json_object_get(s, "Behavior")), "release");
    assert_string_equal(json_string_value(json_object_get(s, "TTL")), "");
    assert_int_equal(json_integer_value(json_object_get(s, "LockDelay")), 15000000000LL);
    assert_string_equal(json_string_value(json_array_get(json_object_get(s, "NodeChecks"), 0)), "serfHealth");
    assert_true(json_is_null(json_object_get(s, "ServiceChecks")));
    assert_int_equal(json_integer_value(json_object_get(s, "CreateIndex")), (json_int_t)r->index);
    json_decref(j);
    /* LockDelay: a small number is seconds, a string a Go duration; capped at 60s */
    create(f, "{\"Name\":\"a\",\"LockDelay\":5,\"Behavior\":\"delete\",\"TTL\":\"10s\"}", id);
    create(f, "{\"LockDelay\":\"2m\"}", id);
    j = catfx_json(catfx_call(f, "GET", "/v1/session/list", NULL, NULL));
    assert_int_equal(json_array_size(j), 3);
    int seen5 = 0, seen60 = 0;
    for (size_t i = 0; i < 3; i++) {
        json_int_t d = json_integer_value(json_object_get(json_array_get(j, i), "LockDelay"));
        seen5 += d == 5000000000LL;
        seen60 += d == 60000000000LL;
    }
    assert_int_equal(seen5, 1);
    assert_int_equal(seen60, 1);
    json_decref(j);
    j = catfx_json(catfx_call(f, "GET", "/v1/session/node/NODE1", NULL, NULL));
    assert_int_equal(json_array_size(j), 3);
    json_decref(j);
    j = catfx_json(catfx_call(f, "GET", "/v1/session/node/other", NULL, NULL));
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
}

static void test_session_errors(void **state)
{
    fx_t *f = *state;
    api_response_t *r = catfx_call(f, "PUT", "/v1/session/create", "{\"TTL\":\"5s\"}", NULL);
    assert_int_equal(r->status, 500);
    assert_string_equal(r->body, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]");
    r = catfx_call(f, "PUT", "/v1/session/create", "{\"Behavior\":\"keep\"}", NULL);
    assert_int_equal(r->status, 500);
    assert_string_equal(r->body, "Invalid Behavior setting 'keep'");
    r = catfx_call(f, "PUT", "/v1/session/create", "{\"Node\":\"ghost\"}", NULL);
    assert_int_equal(r->status, 500);
    assert_string_equal(r->body, "Missing node registration");
    r = catfx_call(f, "PUT", "/v1/session/create", "{\"Checks\":[\"nope\"]}", NULL);
    assert_int_equal(r->status, 500);
    assert_string_equal(r->body, "Missing check 'nope' registration");
    r = catfx_call(f, "PUT", "/v1/session/create", "{\"TTL\":", NULL);
    assert_int_equal(r->status, 400);
    r = catfx_call(f, "GET", "/v1/session/create", NULL, NULL);
    assert_int_equal(r->status, 405);
    r = catfx_call(f, "PUT", "/v1/session/renew/unknown", NULL, NULL);
    assert_int_equal(r->status, 404);
    assert_string_equal(r->body, "Session id 'unknown' not found");
    r = catfx_call(f, "PUT", "/v1/session/destroy/", NULL, NULL);
    assert_int_equal(r->status, 400);
    assert_int_equal(notified, 0);
    r = catfx_call(f, "PUT", "/v1/kv/k", "v", "acquire", "no-such-session", NULL);
    assert_int_equal(r->status, 500);
    assert_string_equal(r->body, "invalid session \"no-such-session\"");
}

/* leader election as `consul lock` does it: one holder, the other refused until release */
static void test_lock_acquire_release(void **state)
{
    fx_t *f = *state;
    char a[37], b[37];
    create(f, "{\"LockDelay\":\"0s\"}", a);
    create(f, "{\"LockDelay\":\"0s\"}", b);
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/svc/leader", "A", "acquire", a, NULL)->body, "true");
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/svc/leader", "B", "acquire", b, NULL)->body, "false");
    json_t *e = kv_entry(f, "/v1/kv/svc/leader");
    assert_string_equal(json_string_value(json_object_get(e, "Session")), a);
    assert_int_equal(json_integer_value(json_object_get(e, "LockIndex")), 1);
    assert_string_equal(json_string_value(json_object_get(e, "Value")), "QQ==");
    json_decref(e);
    /* the holder re-acquiring keeps LockIndex; the other cannot release */
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/svc/leader", "A2", "acquire", a, NULL)->body, "true");
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/svc/leader", NULL, "release", b, NULL)->body, "false");
    e = kv_entry(f, "/v1/kv/svc/leader");
    assert_int_equal(json_integer_value(json_object_get(e, "LockIndex")), 1);
    json_decref(e);
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/svc/leader", NULL, "release", a, NULL)->body, "true");
    e = kv_entry(f, "/v1/kv/svc/leader");
    assert_null(json_object_get(e, "Session"));
    json_decref(e);
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/svc/leader", "B", "acquire", b, NULL)->body, "true");
    e = kv_entry(f, "/v1/kv/svc/leader");
    assert_string_equal(json_string_value(json_object_get(e, "Session")), b);
    assert_int_equal(json_integer_value(json_object_get(e, "LockIndex")), 2);
    json_decref(e);
}

/* destroy releases (behavior release) or deletes (behavior delete); lock-delay then holds */
static void test_destroy_behavior_and_lock_delay(void **state)
{
    fx_t *f = *state;
    char a[37], d[37], b[37], path[128];
    create(f, "{\"LockDelay\":\"10s\"}", a);
    create(f, "{\"Behavior\":\"delete\",\"LockDelay\":0}", d);
    create(f, NULL, b);
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/rel", "x", "acquire", a, NULL)->body, "true");
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/del", "y", "acquire", d, NULL)->body, "true");
    snprintf(path, sizeof path, "/v1/session/destroy/%s", a);
    assert_string_equal(catfx_call(f, "PUT", path, NULL, NULL)->body, "true");
    snprintf(path, sizeof path, "/v1/session/destroy/%s", d);
    assert_string_equal(catfx_call(f, "PUT", path, NULL, NULL)->body, "true");
    json_t *e = kv_entry(f, "/v1/kv/rel");
    assert_non_null(e);
    assert_null(json_object_get(e, "Session"));
    assert_string_equal(json_string_value(json_object_get(e, "Value")), "eA==");
    json_decref(e);
    assert_null(kv_entry(f, "/v1/kv/del"));
    /* rel is in its 10 s lock-delay: refused, then granted once it has passed */
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/rel", "z", "acquire", b, NULL)->body, "false");
    clock_ms += 10001;
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/rel", "z", "acquire", b, NULL)->body, "true");
    /* del had no lock-delay */
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/del", "z", "acquire", b, NULL)->body, "true");
}

/* TTL: renew keeps it; 2 x TTL without renewal invalidates it and frees its lock */
static void test_ttl_expiry(void **state)
{
    fx_t *f = *state;
    char a[37], b[37], path[128];
    create(f, "{\"TTL\":\"10s\",\"LockDelay\":0}", a);
    create(f, NULL, b);
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/lead", "a", "acquire", a, NULL)->body, "true");
    clock_ms += 15000;
    snprintf(path, sizeof path, "/v1/session/renew/%s", a);
    api_response_t *r = catfx_call(f, "PUT", path, NULL, NULL);
    assert_int_equal(r->status, 200);
    clock_ms += 19999;   /* 2 x TTL after the renewal not yet passed */
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/lead", "b", "acquire", b, NULL)->body, "false");
    clock_ms += 1;
    snprintf(path, sizeof path, "/v1/session/info/%s", a);
    assert_string_equal(catfx_call(f, "GET", path, NULL, NULL)->body, "[]");
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/lead", "b", "acquire", b, NULL)->body, "true");
}

/* a bound check going critical invalidates the session; a critical check refuses creation */
static void test_check_invalidation(void **state)
{
    fx_t *f = *state;
    char a[37], path[128];
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/check/register", "{\"Name\":\"mem\",\"TTL\":\"30s\",\"Status\":\"passing\"}", NULL)->status, 200);
    create(f, "{\"Checks\":[\"serfHealth\",\"mem\"],\"LockDelay\":0}", a);
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/job", "a", "acquire", a, NULL)->body, "true");
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/check/fail/mem", NULL, NULL)->status, 200);
    snprintf(path, sizeof path, "/v1/session/info/%s", a);
    assert_string_equal(catfx_call(f, "GET", path, NULL, NULL)->body, "[]");
    json_t *e = kv_entry(f, "/v1/kv/job");
    assert_null(json_object_get(e, "Session"));
    json_decref(e);
    api_response_t *r = catfx_call(f, "PUT", "/v1/session/create", "{\"Checks\":[\"mem\"]}", NULL);
    assert_int_equal(r->status, 500);
    assert_string_equal(r->body, "Check 'mem' is in critical state");
}

/* a blocking read on the sessions table parks until the index passes */
static void test_session_list_blocks(void **state)
{
    fx_t *f = *state;
    api_response_t *r = catfx_call(f, "GET", "/v1/session/list", NULL, NULL);
    char idx[32];
    snprintf(idx, sizeof idx, "%llu", (unsigned long long)r->index);
    r = catfx_call(f, "GET", "/v1/session/list", NULL, "index", idx, NULL);
    assert_int_equal(r->block, 1);
    assert_int_equal(r->watch & API_WATCH_SESSIONS, API_WATCH_SESSIONS);
    char a[37];
    create(f, NULL, a);
    r = catfx_call(f, "GET", "/v1/session/list", NULL, "index", idx, NULL);
    assert_int_equal(r->block, 0);
    assert_int_equal(r->status, 200);
}

/* a transaction applies whole: set, cas, get, get-tree, lock with one index */
static void test_txn_ok(void **state)
{
    fx_t *f = *state;
    char a[37];
    create(f, NULL, a);
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/t/old", "o", NULL)->body, "true");
    json_t *old = kv_entry(f, "/v1/kv/t/old");
    json_int_t mi = json_integer_value(json_object_get(old, "ModifyIndex"));
    json_decref(old);
    char body[1024];
    snprintf(body, sizeof body,
             "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"t/a\",\"Value\":\"MQ==\",\"Flags\":3}},"
             "{\"KV\":{\"Verb\":\"cas\",\"Key\":\"t/old\",\"Value\":\"Mg==\",\"Index\":%lld}},"
             "{\"KV\":{\"Verb\":\"lock\",\"Key\":\"t/l\",\"Value\":null,\"Session\":\"%s\"}},"
             "{\"KV\":{\"Verb\":\"check-not-exists\",\"Key\":\"t/none\"}},"
             "{\"KV\":{\"Verb\":\"get\",\"Key\":\"t/a\"}},"
             "{\"KV\":{\"Verb\":\"get-tree\",\"Key\":\"t/\"}}]", (long long)mi, a);
    api_response_t *r = catfx_call(f, "PUT", "/v1/txn", body, NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->wrote, 1);
    json_t *j = catfx_json(r), *res = json_object_get(j, "Results");
    assert_true(json_is_null(json_object_get(j, "Errors")));
    assert_int_equal(json_array_size(res), 3 + 1 + 3);   /* set, cas, lock; get; get-tree of 3 */
    json_t *set = json_object_get(json_array_get(res, 0), "KV");
    assert_true(json_is_null(json_object_get(set, "Value")));      /* blanked for writes */
    json_int_t idx = json_integer_value(json_object_get(set, "ModifyIndex"));
    json_t *lock = json_object_get(json_array_get(res, 2), "KV");
    assert_string_equal(json_string_value(json_object_get(lock, "Session")), a);
    assert_int_equal(json_integer_value(json_object_get(lock, "ModifyIndex")), idx);   /* one index */
    json_t *get = json_object_get(json_array_get(res, 3), "KV");
    assert_string_equal(json_string_value(json_object_get(get, "Value")), "MQ==");
    assert_int_equal(json_integer_value(json_object_get(get, "Flags")), 3);
    json_decref(j);
    json_t *e = kv_entry(f, "/v1/kv/t/old");
    assert_string_equal(json_string_value(json_object_get(e, "Value")), "Mg==");
    json_decref(e);
    /* unlock with the wrong session fails, with the right one succeeds; delete-tree */
    snprintf(body, sizeof body, "[{\"KV\":{\"Verb\":\"unlock\",\"Key\":\"t/l\",\"Session\":\"%s\"}},"
             "{\"KV\":{\"Verb\":\"delete-tree\",\"Key\":\"t/a\"}}]", a);
    assert_int_equal(catfx_call(f, "PUT", "/v1/txn", body, NULL)->status, 200);
    assert_null(kv_entry(f, "/v1/kv/t/a"));
    e = kv_entry(f, "/v1/kv/t/l");
    assert_null(json_object_get(e, "Session"));
    json_decref(e);
}

/* a failing check-index aborts the whole transaction: 409, nothing applied, no index moves */
static void test_txn_abort(void **state)
{
    fx_t *f = *state;
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/x/keep", "k", NULL)->body, "true");
    json_t *e = kv_entry(f, "/v1/kv/x/keep");
    json_int_t mi = json_integer_value(json_object_get(e, "ModifyIndex"));
    json_decref(e);
    uint64_t before = store_index(f->api.store);
    char body[1024];
    snprintf(body, sizeof body,
             "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"x/new\",\"Value\":\"bg==\"}},"
             "{\"KV\":{\"Verb\":\"delete\",\"Key\":\"x/keep\"}},"
             "{\"KV\":{\"Verb\":\"check-index\",\"Key\":\"x/new\",\"Index\":%lld}},"
             "{\"KV\":{\"Verb\":\"lock\",\"Key\":\"x/l\",\"Session\":\"nope\"}}]", (long long)mi);
    api_response_t *r = catfx_call(f, "PUT", "/v1/txn", body, NULL);
    assert_int_equal(r->status, 409);
    assert_int_equal(r->wrote, 0);
    json_t *j = catfx_json(r);
    assert_true(json_is_null(json_object_get(j, "Results")));
    json_t *errs = json_object_get(j, "Errors");
    assert_int_equal(json_array_size(errs), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(errs, 0), "OpIndex")), 2);
    char want[128];
    snprintf(want, sizeof want, "current modify index %llu != %lld", (unsigned long long)before + 1, (long long)mi);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 0), "What")), want);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(errs, 1), "OpIndex")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 1), "What")), "invalid session \"nope\"");
    json_decref(j);
    assert_null(kv_entry(f, "/v1/kv/x/new"));
    e = kv_entry(f, "/v1/kv/x/keep");
    assert_non_null(e);
    json_decref(e);
    assert_int_equal(store_index(f->api.store), before);
}

static void test_txn_limits(void **state)
{
    fx_t *f = *state;
    char *body = malloc(65 * 64 + 8);
    for (int n = 65; n >= 64; n--) {
        char *w = body;
        w += sprintf(w, "[");
        for (int i = 0; i < n; i++)
            w += sprintf(w, "%s{\"KV\":{\"Verb\":\"set\",\"Key\":\"k%d\"}}", i ? "," : "", i);
        sprintf(w, "]");
        api_response_t *r = catfx_call(f, "PUT", "/v1/txn", body, NULL);
        if (n == 65) {
            assert_int_equal(r->status, 413);
            assert_string_equal(r->body, "Transaction contains too many operations (65 > 64)");
        } else {
            assert_int_equal(r->status, 200);   /* 64 is Consul's limit, allowed */
        }
    }
    free(body);
    assert_int_equal(catfx_call(f, "PUT", "/v1/txn", "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"b\",\"Value\":\"!!\"}}]", NULL)->status, 400);
    assert_int_equal(catfx_call(f, "PUT", "/v1/txn", "{}", NULL)->status, 400);
    assert_int_equal(catfx_call(f, "PUT", "/v1/txn", "[{\"Node\":{}}]", NULL)->status, 400);
    api_response_t *r = catfx_call(f, "PUT", "/v1/txn", "[{\"KV\":{\"Verb\":\"frob\",\"Key\":\"b\"}}]", NULL);
    assert_int_equal(r->status, 409);
    assert_non_null(strstr(r->body, "unknown KV verb \\\"frob\\\""));
    assert_int_equal(catfx_call(f, "GET", "/v1/txn", NULL, NULL)->status, 405);
}

/* -data-dir keeps sessions and locks: save, load into a new store, the same holder, LockIndex,
 * indexes and session fields; a session named by an entry but absent loads unlocked */
static void test_persist_sessions_and_locks(void **state)
{
    fx_t *f = *state;
    char a[37], d[37];
    create(f, "{\"Name\":\"keep\",\"TTL\":\"30s\",\"LockDelay\":\"500ms\",\"Behavior\":\"delete\"}", a);
    create(f, NULL, d);
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/p/held", "h", "acquire", a, NULL)->body, "true");
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/p/held", "h", "release", a, NULL)->body, "true");
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/p/held", "h2", "acquire", a, NULL)->body, "true");
    assert_string_equal(catfx_call(f, "PUT", "/v1/kv/p/free", "f", NULL)->body, "true");
    char dir[] = "/tmp/portolan-sess-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[512];
    assert_int_equal(persist_save(f->api.store, dir, err, sizeof err), 0);
    catalog_store_t *s2 = store_new("node1", "11111111-2222-3333-4444-555555555555", "dc1", "127.0.0.1");
    assert_true(persist_load(s2, dir, err, sizeof err) > 0);
    const cat_session_t *o = store_session(f->api.store, a), *n = store_session(s2, a);
    assert_non_null(n);
    assert_string_equal(n->name, "keep");
    assert_string_equal(n->ttl, "30s");
    assert_int_equal(n->lock_delay_ns, 500000000LL);
    assert_int_equal(n->delete_behavior, 1);
    assert_int_equal(n->nnode_checks, 1);
    assert_int_equal(n->create_index, o->create_index);
    assert_int_equal(n->modify_index, o->modify_index);
    assert_non_null(store_session(s2, d));
    const cat_kv_t *e = store_kv_get(s2, "p/held");
    assert_non_null(e->session);
    assert_string_equal(e->session, a);
    assert_int_equal(e->lock_index, 2);
    assert_null(store_kv_get(s2, "p/free")->session);
    assert_true(store_index_sessions(s2) >= store_index_sessions(f->api.store));   /* never backwards */
    /* the restored session still owns its lock: destroying it deletes the key (behavior delete) */
    assert_int_equal(store_session_destroy(s2, a, 0), 1);
    assert_null(store_kv_get(s2, "p/held"));
    store_free(s2);
    /* a file written before sessions existed (no "Sessions", no Session/LockIndex) still loads */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    catalog_store_t *plain = store_new("node1", "11111111-2222-3333-4444-555555555555", "dc1", "127.0.0.1");
    assert_int_equal(store_kv_put(plain, "old/k", "v", 1, 0, -1), 1);
    strcpy(dir, "/tmp/portolan-sess-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(persist_save(plain, dir, err, sizeof err), 0);
    store_free(plain);
    snprintf(cmd, sizeof cmd, "f=%s/state.json; body=$(sed 1d $f | sed 's/,\"Sessions\":\\[\\]//'); "
             "{ printf 'portolan-catalog-state v1 sha256=%%s\\n' $(printf '%%s' \"$body\" | sha256sum | cut -d' ' -f1); "
             "printf '%%s\\n' \"$body\"; } > $f.new && mv $f.new $f && ! grep -q Sessions $f", dir);
    int rc = system(cmd);
    catalog_store_t *s3 = store_new("node1", "11111111-2222-3333-4444-555555555555", "dc1", "127.0.0.1");
    int loaded = persist_load(s3, dir, err, sizeof err);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rc, 0);
    if (loaded <= 0)
        fprintf(stderr, "load: %s\n", err);
    assert_true(loaded > 0);
    assert_non_null(store_kv_get(s3, "old/k"));
    assert_null(store_kv_get(s3, "old/k")->session);
    size_t ns;
    free(store_sessions(s3, NULL, &ns));
    assert_int_equal(ns, 0);
    store_free(s3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_session_shape_and_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_acquire_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_behavior_and_lock_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_invalidation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_list_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persist_sessions_and_locks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
