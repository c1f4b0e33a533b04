/* Property tests for portolan-catalog's blocking-query contract, through catalog_api_handle
 * (no sockets). Seeded random sequences of writes (register/re-register/deregister, TTL check
 * pass/warn/fail, maintenance, KV put/cas/delete/recursive delete, reaping) are applied, and
 * after every write each block-capable query is re-read. For every query q:
 *   1. X-Consul-Index is present and >= 1 (the server never sends 0);
 *   2. its index never goes backwards;
 *   3. if q's answer changed, q's index rose (else a client blocked on the old index would
 *      sleep through the change) ...
 *   4. ... and the store's change hook reported a change q watches (else the server would not
 *      re-evaluate the parked query), KV down to the key/prefix (checked by the spec's rule,
 *      written here independently of server.c);
 *   5. asked with ?index=<previous index>, q blocks exactly when its index did not rise;
 *   6. repeating the last registration byte for byte moves no index and fires no hook.
 * A failure prints the seed, the step and the query so it can be replayed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "store.h"

static int64_t fake_now = 1000000;
static int64_t now_ms(void) { return fake_now; }

/* ---- the change hook records what the last write reported ---- */
typedef struct {
    int calls;
    int nodes, services, checks, kv, all_services;
    char names[16][64];
    int nnames;
    char kv_keys[4][128];          /* keys written / prefixes deleted, as reported */
    int kv_prefix[4];
    int nkv;
} seen_t;
static seen_t seen;

static void on_change(void *ctx, const cat_change_t *ch)
{
    (void)ctx;
    seen.calls++;
    seen.nodes |= ch->nodes;
    seen.services |= ch->services;
    seen.checks |= ch->checks;
    seen.kv |= ch->kv;
    seen.all_services |= ch->all_services;
    for (int i = 0; i < 4 && ch->service_names[i]; i++)
        if (seen.nnames < 16)
            snprintf(seen.names[seen.nnames++], 64, "%s", ch->service_names[i]);
    if (ch->kv && seen.nkv < 4) {
        snprintf(seen.kv_keys[seen.nkv], 128, "%s", ch->kv_key ? ch->kv_key : "\x01(none)");
        seen.kv_prefix[seen.nkv++] = ch->kv_prefix;
    }
}

static int starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* The spec's rule, written independently of server.c: a single-key query on K is affected by a
 * write of K or a recursive delete of a prefix of K; a prefix query on Q by a write under Q or a
 * recursive delete of a prefix of Q or of something under Q. */
static int kv_seen_matches(const api_response_t *r)
{
    if (r->watch_key_any)
        return seen.kv;
    for (int i = 0; i < seen.nkv; i++) {
        const char *k = seen.kv_keys[i];
        if (strcmp(k, "\x01(none)") == 0)
            return 1;  /* the store did not say which key: any KV watch re-evaluates */
        if (!r->watch_key_prefix) {
            if (seen.kv_prefix[i] ? starts_with(r->watch_key, k) : strcmp(k, r->watch_key) == 0)
                return 1;
        } else {
            if (starts_with(k, r->watch_key) || (seen.kv_prefix[i] && starts_with(r->watch_key, k)))
                return 1;
        }
    }
    return 0;
}

/* Would a parked query with this watch have been re-evaluated after the recorded changes? */
static int seen_matches(const api_response_t *r)
{
    int watch = r->watch;
    const char *svc = r->watch_service;
    if ((watch & API_WATCH_NODES) && seen.nodes) return 1;
    if ((watch & API_WATCH_SERVICES) && seen.services) return 1;
    if ((watch & API_WATCH_CHECKS) && seen.checks) return 1;
    if ((watch & API_WATCH_KV) && seen.kv && kv_seen_matches(r)) return 1;
    if (watch & API_WATCH_SERVICE) {
        if (seen.all_services) return 1;
        for (int i = 0; i < seen.nnames; i++)
            if (strcmp(seen.names[i], svc) == 0) return 1;
    }
    return 0;
}

/* ---- requests ---- */
static catalog_api_t api;

static void run(const char *method, const char *path, const api_param_t *ps, size_t n, const char *body,
                int allow_block, api_response_t *r)
{
    api_request_t req = {.method = method, .path = path, .params = ps, .nparams = n,
                         .body = body, .body_len = body ? strlen(body) : 0};
    memset(r, 0, sizeof *r);
    catalog_api_handle(&api, &req, allow_block, r);
}

/* ---- the queries ---- */
#define NNAMES 3
#define NIDS 6
#define NKEYS 6
static const char *names[NNAMES] = {"web", "db", "Cache"};
static const char *keys[NKEYS] = {"a", "a/b", "a/c", "a/c/d", "b/x", "bb"};

typedef struct {
    char path[128];
    api_param_t ps[3];
    size_t nps;
    /* previous answer */
    int have;
    int status;
    uint64_t index;
    char *body;
} query_t;

static query_t queries[64];
static size_t nqueries;

static void add_query(const char *path, const char *k1, const char *v1, const char *k2, const char *v2)
{
    query_t *q = &queries[nqueries++];
    memset(q, 0, sizeof *q);
    snprintf(q->path, sizeof q->path, "%s", path);
    if (k1) q->ps[q->nps++] = (api_param_t){k1, v1};
    if (k2) q->ps[q->nps++] = (api_param_t){k2, v2};
}

static void build_queries(void)
{
    char p[128];
    nqueries = 0;
    add_query("/v1/catalog/services", NULL, NULL, NULL, NULL);
    add_query("/v1/catalog/nodes", NULL, NULL, NULL, NULL);
    add_query("/v1/health/state/any", NULL, NULL, NULL, NULL);
    add_query("/v1/health/state/critical", NULL, NULL, NULL, NULL);
    add_query("/v1/health/state/passing", NULL, NULL, NULL, NULL);
    for (int i = 0; i < NNAMES; i++) {
        snprintf(p, sizeof p, "/v1/catalog/service/%s", names[i]);
        add_query(p, NULL, NULL, NULL, NULL);
        add_query(p, "tag", "t1", NULL, NULL);
        snprintf(p, sizeof p, "/v1/health/service/%s", names[i]);
        add_query(p, NULL, NULL, NULL, NULL);
        add_query(p, "passing", "", NULL, NULL);
        snprintf(p, sizeof p, "/v1/health/checks/%s", names[i]);
        add_query(p, NULL, NULL, NULL, NULL);
    }
    add_query("/v1/catalog/service/WEB", NULL, NULL, NULL, NULL);   /* names are case-insensitive */
    for (int i = 0; i < NKEYS; i++) {
        snprintf(p, sizeof p, "/v1/kv/%s", keys[i]);
        add_query(p, NULL, NULL, NULL, NULL);
    }
    add_query("/v1/kv/a", "recurse", "", NULL, NULL);
    add_query("/v1/kv/a/", "keys", "", "separator", "/");
    add_query("/v1/kv/", "keys", "", NULL, NULL);
    add_query("/v1/kv/b", "recurse", "", NULL, NULL);
}

static const char *hdr_index(const api_response_t *r, char *buf, size_t n)
{
    snprintf(buf, n, "%" PRIu64, r->index);
    return buf;
}

/* Re-reads every query and checks the properties against the previous answers. */
static void check_queries(unsigned seed, int step, const char *op, int expect_no_change)
{
    for (size_t i = 0; i < nqueries; i++) {
        query_t *q = &queries[i];
        api_response_t r;
        run("GET", q->path, q->ps, q->nps, NULL, 0, &r);
        char where[512];
        snprintf(where, sizeof where, "seed %u step %d op [%s] query %s%s%s", seed, step, op, q->path,
                 q->nps ? "?" : "", q->nps ? q->ps[0].name : "");
        if (!r.has_index || r.index == 0) {
            print_error("%s: no X-Consul-Index or index 0 (status %d)\n", where, r.status);
            fail();
        }
        if (q->have) {
            const char *nb = r.body ? r.body : "";
            int changed = r.status != q->status || strcmp(nb, q->body) != 0;
            char b1[32], b2[32];
            if (r.index < q->index) {
                print_error("%s: index went backwards %s -> %s\n", where, hdr_index(&(api_response_t){.index = q->index}, b1, sizeof b1),
                            hdr_index(&r, b2, sizeof b2));
                fail();
            }
            if (changed && r.index == q->index) {
                print_error("%s: answer changed but index stayed %" PRIu64 "\n  before: %d %.300s\n  after:  %d %.300s\n",
                            where, r.index, q->status, q->body, r.status, nb);
                fail();
            }
            if (changed && !seen_matches(&r)) {
                print_error("%s: answer changed but no change the query watches was reported (watch %d '%s' key '%s'%s)\n",
                            where, r.watch, r.watch_service, r.watch_key, r.watch_key_prefix ? " prefix" : "");
                fail();
            }
            if (expect_no_change && (changed || r.index != q->index)) {
                print_error("%s: an identical re-registration changed the answer or index (%" PRIu64 " -> %" PRIu64 ")\n",
                            where, q->index, r.index);
                fail();
            }
            /* the blocking decision with the previous index */
            api_param_t ps[4];
            memcpy(ps, q->ps, q->nps * sizeof *ps);
            char ib[32];
            snprintf(ib, sizeof ib, "%" PRIu64, q->index);
            ps[q->nps] = (api_param_t){"index", ib};
            api_response_t rb;
            run("GET", q->path, ps, q->nps + 1, NULL, 1, &rb);
            int should_block = r.index <= q->index;
            if (rb.block != should_block) {
                print_error("%s: ?index=%s %s but the index went %" PRIu64 " -> %" PRIu64 "\n", where, ib,
                            rb.block ? "blocked" : "answered", q->index, r.index);
                fail();
            }
            if (rb.block && rb.wait_ms != 300000) {
                print_error("%s: default wait is %" PRIu64 " ms, not 5m\n", where, rb.wait_ms);
                fail();
            }
            api_response_clear(&rb);
        }
        free(q->body);
        q->body = strdup(r.body ? r.body : "");
        q->status = r.status;
        q->index = r.index;
        q->have = 1;
        api_response_clear(&r);
    }
}

/* ---- random writes ---- */
static unsigned rnd_state;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return ((rnd_state >> 16) & 0x7fff) % n;
}

static char last_register[1024];

static void random_write(char *op, size_t oplen, int *identical)
{
    api_response_t r;
    char path[256], body[1024];
    int id = (int)rnd(NIDS);
    int kind = (int)rnd(15);
    *identical = 0;
    /* "identical" means a repeat of the write just before, so forget it after anything else */
    if (kind > 3)
        last_register[0] = 0;
    switch (kind) {
    case 12: case 13: {  /* a node check (no service): counts for every instance on the node */
        snprintf(body, sizeof body, "{\"Name\":\"node check\",\"CheckID\":\"nc%u\",\"TTL\":\"10s\"%s}", rnd(2),
                 rnd(2) ? ",\"Status\":\"passing\"" : "");
        if (kind == 12) {
            run("PUT", "/v1/agent/check/register", NULL, 0, body, 1, &r);
            snprintf(op, oplen, "check register %s", body);
        } else {
            snprintf(path, sizeof path, "/v1/agent/check/deregister/nc%u", rnd(2));
            run("PUT", path, NULL, 0, NULL, 1, &r);
            snprintf(op, oplen, "PUT %s", path);
        }
        break;
    }
    case 14: {  /* the check runner's path: a TTL expiry or a probe result */
        static const char *st[] = {"passing", "warning", "critical"};
        char cid[64];
        if (rnd(3) == 0)
            snprintf(cid, sizeof cid, "nc%u", rnd(2));
        else
            snprintf(cid, sizeof cid, "service:s%d", id);
        cat_check_t *c = store_check(api.store, cid);
        const char *status = st[rnd(3)];
        const char *out = rnd(2) ? "TTL expired" : "probe";
        if (c)
            store_check_update(api.store, c, status, out, fake_now);
        snprintf(op, oplen, "runner: check %s -> %s '%s'%s", cid, status, out, c ? "" : " (absent)");
        memset(&r, 0, sizeof r);
        break;
    }
    case 0: case 1: case 2: {   /* register (maybe with a TTL check, maybe a rename) */
        const char *name = names[(id + (rnd(5) == 0)) % NNAMES];
        int with_check = rnd(3) != 0;
        snprintf(body, sizeof body,
                 "{\"Name\":\"%s\",\"ID\":\"s%d\",\"Port\":%u,\"Tags\":[%s]%s%s%s}", name, id, 8000 + rnd(3),
                 rnd(2) ? "\"t1\",\"t2\"" : "\"t2\"", with_check ? ",\"Check\":{\"TTL\":\"30s\"" : "",
                 with_check && rnd(3) == 0 ? ",\"DeregisterCriticalServiceAfter\":\"1m\"" : "",
                 with_check ? (rnd(2) ? ",\"Status\":\"passing\"}" : "}") : "");
        api_param_t ps[1] = {{"replace-existing-checks", ""}};
        int replace = rnd(3) == 0;
        run("PUT", "/v1/agent/service/register", ps, replace ? 1 : 0, body, 1, &r);
        snprintf(op, oplen, "register%s %s", replace ? "?replace-existing-checks" : "", body);
        if (!replace && r.status == 200)
            snprintf(last_register, sizeof last_register, "%s", body);
        else
            last_register[0] = 0;
        break;
    }
    case 3:
        if (last_register[0]) {  /* byte-identical repeat of the last registration */
            run("PUT", "/v1/agent/service/register", NULL, 0, last_register, 1, &r);
            snprintf(op, oplen, "identical register %s", last_register);
            *identical = 1;
            break;
        }
        /* fall through */
    case 4:
        snprintf(path, sizeof path, "/v1/agent/service/deregister/s%d", id);
        run("PUT", path, NULL, 0, NULL, 1, &r);
        snprintf(op, oplen, "PUT %s", path);
        break;
    case 5: {
        static const char *verbs[] = {"pass", "warn", "fail"};
        snprintf(path, sizeof path, "/v1/agent/check/%s/service:s%d", verbs[rnd(3)], id);
        api_param_t ps[1] = {{"note", rnd(2) ? "n1" : "n2"}};
        run("PUT", path, ps, 1, NULL, 1, &r);
        snprintf(op, oplen, "PUT %s?note=%s", path, ps[0].value);
        break;
    }
    case 6: {
        snprintf(path, sizeof path, "/v1/agent/service/maintenance/s%d", id);
        api_param_t ps[2] = {{"enable", rnd(2) ? "true" : "false"}, {"reason", "r"}};
        run("PUT", path, ps, 2, NULL, 1, &r);
        snprintf(op, oplen, "PUT %s?enable=%s", path, ps[0].value);
        break;
    }
    case 7: case 8: {
        const char *k = keys[rnd(NKEYS)];
        snprintf(path, sizeof path, "/v1/kv/%s", k);
        char v[8];
        snprintf(v, sizeof v, "v%u", rnd(3));
        api_param_t ps[1] = {{"flags", rnd(2) ? "1" : "0"}};
        run("PUT", path, ps, 1, v, 1, &r);
        snprintf(op, oplen, "PUT %s?flags=%s body %s", path, ps[0].value, v);
        break;
    }
    case 9: {
        const char *k = keys[rnd(NKEYS)];
        snprintf(path, sizeof path, "/v1/kv/%s", k);
        char cas[32];
        snprintf(cas, sizeof cas, "%u", rnd(4) == 0 ? 0 : (unsigned)store_index(api.store) - rnd(3));
        api_param_t ps[1] = {{"cas", cas}};
        run(rnd(2) ? "PUT" : "DELETE", path, ps, 1, "c", 1, &r);
        snprintf(op, oplen, "cas %s ?cas=%s", path, cas);
        break;
    }
    case 10: {
        const char *k = keys[rnd(NKEYS)];
        snprintf(path, sizeof path, "/v1/kv/%s", k);
        int rec = rnd(2);
        api_param_t ps[1] = {{"recurse", ""}};
        run("DELETE", path, ps, rec ? 1 : 0, NULL, 1, &r);
        snprintf(op, oplen, "DELETE %s%s", path, rec ? "?recurse" : "");
        break;
    }
    default:
        /* time passes: services critical for over DeregisterCriticalServiceAfter are reaped */
        fake_now += 30000;
        store_reap(api.store, fake_now);
        snprintf(op, oplen, "time +30s, reap");
        memset(&r, 0, sizeof r);
        break;
    }
    if (r.status >= 500) {
        print_error("write [%s] answered %d: %s\n", op, r.status, r.body ? r.body : "");
        fail();
    }
    api_response_clear(&r);
}

static void run_seed(unsigned seed, int steps)
{
    api.store = store_new("node1", "11111111-2222-3333-4444-555555555555", "dc1", "127.0.0.1");
    api.leader = "127.0.0.1:8300";
    api.version = "test";
    api.now_ms = now_ms;
    store_set_change_hook(api.store, on_change, NULL);
    rnd_state = seed;
    last_register[0] = 0;
    build_queries();
    memset(&seen, 0, sizeof seen);
    check_queries(seed, 0, "start", 0);
    for (int step = 1; step <= steps; step++) {
        char op[1200];
        int identical;
        memset(&seen, 0, sizeof seen);
        uint64_t before = store_index(api.store);
        random_write(op, sizeof op, &identical);
        if (identical && (seen.calls || store_index(api.store) != before)) {
            print_error("seed %u step %d: identical re-registration fired the hook %d times / moved the index\n",
                        seed, step, seen.calls);
            fail();
        }
        check_queries(seed, step, op, identical);
    }
    for (size_t i = 0; i < nqueries; i++)
        free(queries[i].body);
    store_free(api.store);
}

static void test_blocking_contract_random(void **state)
{
    (void)state;
    /* PROPS_SEEDS=300 for a deeper run (about 2 minutes) */
    const char *env = getenv("PROPS_SEEDS");
    unsigned nseeds = env && atoi(env) > 0 ? (unsigned)atoi(env) : 8;
    for (unsigned seed = 1; seed <= nseeds; seed++)
        run_seed(seed, 400);
}

/* The identical-repeat case on its own, with a check and tags in a different order of keys. */
static void test_identical_reregistration_moves_nothing(void **state)
{
    (void)state;
    api.store = store_new("node1", "11111111-2222-3333-4444-555555555555", "dc1", "127.0.0.1");
    api.leader = "127.0.0.1:8300";
    api.version = "test";
    api.now_ms = now_ms;
    store_set_change_hook(api.store, on_change, NULL);
    build_queries();
    api_response_t r;
    run("PUT", "/v1/agent/service/register", NULL, 0,
        "{\"Name\":\"web\",\"ID\":\"s1\",\"Port\":80,\"Tags\":[\"t1\"],\"Meta\":{\"a\":\"1\",\"b\":\"2\"},"
        "\"Check\":{\"HTTP\":\"http://127.0.0.1:1/\",\"Interval\":\"10s\"}}", 1, &r);
    assert_int_equal(r.status, 200);
    api_response_clear(&r);
    check_queries(0, 0, "first", 0);
    memset(&seen, 0, sizeof seen);
    /* same content, keys in another order and case */
    run("PUT", "/v1/agent/service/register", NULL, 0,
        "{\"check\":{\"interval\":\"10s\",\"http\":\"http://127.0.0.1:1/\"},\"meta\":{\"b\":\"2\",\"a\":\"1\"},"
        "\"tags\":[\"t1\"],\"port\":80,\"id\":\"s1\",\"name\":\"web\"}", 1, &r);
    assert_int_equal(r.status, 200);
    api_response_clear(&r);
    assert_int_equal(seen.calls, 0);
    check_queries(0, 1, "same registration, other key order and case", 1);
    for (size_t i = 0; i < nqueries; i++)
        free(queries[i].body);
    store_free(api.store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical_reregistration_moves_nothing),
        cmocka_unit_test(test_blocking_contract_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
