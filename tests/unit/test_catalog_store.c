/* Unit tests for catalog/store.c: the index rules of Consul's state store as the reference
 * (shared/reference/consul-api.md, section 9) states them, service/check registration semantics
 * (section 1), check updates and maintenance (section 4), the reaper, and KV (section 7).
 * Pure: no sockets, no clock (every call gets an explicit now_ms). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* ---- builders ---- */
static cat_service_t *svc_make(const char *id, const char *name, int port, const char *tags_csv)
{
    cat_service_t *s = cat_service_new();
    s->id = strdup(id);
    s->name = strdup(name);
    s->address = strdup("");
    s->port = port;
    if (tags_csv && *tags_csv) {
        char *dup = strdup(tags_csv), *save = NULL;
        for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            s->tags = realloc(s->tags, (s->ntags + 1) * sizeof *s->tags);
            s->tags[s->ntags++] = strdup(t);
        }
        free(dup);
    }
    return s;
}

static cat_check_t *check_make(const char *id, const char *service_id, const char *status, cat_check_kind_t kind)
{
    cat_check_t *c = cat_check_new();
    c->id = strdup(id);
    c->name = strdup(id);
    c->notes = strdup("");
    c->status = strdup(status);
    c->service_id = strdup(service_id ? service_id : "");
    c->kind = kind;
    if (kind == CHECK_TTL)
        c->ttl_ns = INT64_C(10000000000);
    return c;
}

static int reg(catalog_store_t *s, const char *id, const char *name, int port, const char *tags)
{
    return store_register(s, svc_make(id, name, port, tags), NULL, 0, 0, 1000);
}

/* register with one TTL check "service:<id>" in the given status */
static int reg_ttl(catalog_store_t *s, const char *id, const char *name, const char *status, int replace)
{
    char cid[256];
    snprintf(cid, sizeof cid, "service:%s", id);
    cat_check_t *c = check_make(cid, id, status, CHECK_TTL);
    cat_check_t *arr[1] = {c};
    return store_register(s, svc_make(id, name, 80, NULL), arr, 1, replace, 1000);
}

static catalog_store_t *fresh(void) { return store_new("node1", "00000000-0000-0000-0000-000000000001", "dc1", "127.0.0.1"); }

/* change-hook recorder */
typedef struct {
    int calls;
    int services, checks, kv, nodes, all_services;
    char names[8][64];
    int nnames;
} rec_t;

static void on_change(void *ctx, const cat_change_t *ch)
{
    rec_t *r = ctx;
    r->calls++;
    r->services |= ch->services;
    r->checks |= ch->checks;
    r->kv |= ch->kv;
    r->nodes |= ch->nodes;
    r->all_services |= ch->all_services;
    for (int i = 0; i < 4 && ch->service_names[i]; i++)
        if (r->nnames < 8)
            snprintf(r->names[r->nnames++], 64, "%s", ch->service_names[i]);
}

static int rec_has_name(const rec_t *r, const char *n)
{
    for (int i = 0; i < r->nnames; i++)
        if (strcmp(r->names[i], n) == 0)
            return 1;
    return r->all_services;
}

/* ---- boot state ---- */
static void test_boot(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    assert_true(store_index(s) >= 1);
    assert_true(store_index_nodes(s) >= 1);
    assert_true(store_index_services(s) >= 1);
    assert_true(store_index_checks(s) >= 1);
    assert_true(store_index_kv(s) >= 1);                 /* never 0, even with an empty table */
    assert_true(store_index_service(s, "nosuch") >= 1);
    size_t n;
    cat_service_t **v = store_instances(s, "consul", &n);
    assert_int_equal(n, 1);
    assert_string_equal(v[0]->id, "consul");
    assert_int_equal(v[0]->port, 8300);
    assert_int_equal(v[0]->ntags, 0);
    free(v);
    cat_check_t *serf = store_check(s, "serfHealth");
    assert_non_null(serf);
    assert_string_equal(serf->status, "passing");
    assert_string_equal(serf->name, "Serf Health Status");
    assert_string_equal(serf->output, "Agent alive and reachable");
    cat_check_t **nc = store_node_checks(s, &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(nc[0], serf);
    free(nc);
    store_free(s);
}

/* A store counted from a base (main.c: the clock in microseconds) sends no index below it on any
 * endpoint, so a client holding the last index of a previous run is answered at once. */
static void test_boot_at_base(void **state)
{
    (void)state;
    const uint64_t base = UINT64_C(1796000000000000);
    catalog_store_t *s = store_new_at("node1", "00000000-0000-0000-0000-000000000001", "dc1", "127.0.0.1", base);
    assert_true(store_node_create_index(s) == base + 1 && store_node_modify_index(s) == base + 1);
    assert_true(store_check(s, "serfHealth")->create_index == base + 2);
    assert_true(store_service(s, "consul")->create_index == base + 3);
    assert_true(store_index(s) == base + 3);
    assert_true(store_index_nodes(s) > base);
    assert_true(store_index_services(s) > base);
    assert_true(store_index_checks(s) > base);
    assert_true(store_index_kv(s) >= base);              /* an empty KV table, too */
    assert_true(store_kv_prefix_index(s, "nosuch/") == 0); /* (api_kv.c falls back to the table's) */
    assert_true(store_index_service(s, "nosuch") > base);
    assert_int_equal(reg(s, "web1", "web", 80, NULL), 1);
    assert_true(store_index(s) == base + 4);
    assert_true(store_service(s, "web1")->create_index == base + 4);
    assert_int_equal(store_kv_put(s, "k", "v", 1, 0, -1), 1);
    assert_true(store_kv_get(s, "k")->modify_index == base + 5 && store_index_kv(s) == base + 5);
    store_free(s);
    /* a base from a clock gone wild cannot bring the counter near overflow */
    s = store_new_at("node1", "00000000-0000-0000-0000-000000000001", "dc1", "127.0.0.1", UINT64_MAX - 2);
    assert_int_equal(store_index(s), 3);
    store_free(s);
}

/* ---- index rules ---- */
static void test_register_raises_indexes_by_one(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    uint64_t g = store_index(s), nodes = store_index_nodes(s), kv = store_index_kv(s);
    assert_int_equal(reg(s, "web1", "web", 80, "a"), 1);
    assert_int_equal(store_index(s), g + 1);
    assert_int_equal(store_index_services(s), g + 1);
    assert_int_equal(store_index_service(s, "web"), g + 1);
    assert_int_equal(store_index_service(s, "WEB"), g + 1);   /* names are case-insensitive */
    assert_int_equal(store_index_nodes(s), nodes);
    assert_int_equal(store_index_kv(s), kv);
    cat_service_t *w = store_service(s, "web1");
    assert_non_null(w);
    assert_int_equal(w->create_index, g + 1);
    assert_int_equal(w->modify_index, g + 1);
    store_free(s);
}

static void test_identical_reregister_no_bump(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    rec_t r = {0};
    store_set_change_hook(s, on_change, &r);
    assert_int_equal(reg_ttl(s, "web1", "web", "passing", 0), 1);
    assert_int_equal(r.calls, 1);
    uint64_t g = store_index(s), sv = store_index_service(s, "web"), ck = store_index_checks(s);
    assert_int_equal(reg_ttl(s, "web1", "web", "passing", 0), 0);
    assert_int_equal(reg_ttl(s, "web1", "web", "passing", 1), 0);
    assert_int_equal(store_index(s), g);
    assert_int_equal(store_index_service(s, "web"), sv);
    assert_int_equal(store_index_checks(s), ck);
    assert_int_equal(r.calls, 1);                  /* no change, no wake-up */
    store_free(s);
}

static void test_changed_reregister_keeps_create_index(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg(s, "web1", "web", 80, "a");
    uint64_t created = store_service(s, "web1")->create_index;
    rec_t r = {0};
    store_set_change_hook(s, on_change, &r);
    assert_int_equal(reg(s, "web1", "web", 81, "a"), 1);
    cat_service_t *w = store_service(s, "web1");
    assert_int_equal(w->port, 81);
    assert_int_equal(w->create_index, created);
    assert_int_equal(w->modify_index, store_index(s));
    assert_true(w->modify_index > created);
    assert_int_equal(r.calls, 1);
    assert_true(r.services);
    assert_true(rec_has_name(&r, "web"));
    store_free(s);
}

static void test_other_service_index_unchanged(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg(s, "a1", "a", 80, NULL);
    uint64_t ia = store_index_service(s, "a");
    rec_t r = {0};
    store_set_change_hook(s, on_change, &r);
    reg(s, "b1", "b", 80, NULL);
    assert_int_equal(store_index_service(s, "a"), ia);    /* a blocked query on a stays blocked */
    assert_true(store_index_service(s, "b") > ia);
    assert_false(rec_has_name(&r, "a"));
    assert_true(rec_has_name(&r, "b"));
    store_free(s);
}

static void test_rename_touches_both_names(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg(s, "x1", "old", 80, NULL);
    rec_t r = {0};
    store_set_change_hook(s, on_change, &r);
    reg(s, "x1", "new", 80, NULL);
    assert_true(rec_has_name(&r, "old"));
    assert_true(rec_has_name(&r, "new"));
    size_t n;
    free(store_instances(s, "old", &n));
    assert_int_equal(n, 0);
    cat_service_t **v = store_instances(s, "new", &n);
    assert_int_equal(n, 1);
    free(v);
    assert_int_equal(store_index_service(s, "old"), store_index(s));
    store_free(s);
}

/* checks carry ServiceTags/ServiceName: a tag change moves the checks a service keeps */
static void test_tag_change_moves_kept_checks(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg_ttl(s, "web1", "web", "passing", 0);
    uint64_t ck = store_index_checks(s);
    rec_t r = {0};
    store_set_change_hook(s, on_change, &r);
    /* same ID, new tags, no Check in the body: the TTL check is kept */
    assert_int_equal(store_register(s, svc_make("web1", "web", 80, "t1"), NULL, 0, 0, 1000), 1);
    assert_non_null(store_check(s, "service:web1"));
    assert_true(store_index_checks(s) > ck);
    assert_int_equal(store_check(s, "service:web1")->modify_index, store_index(s));
    assert_true(r.checks);
    /* a port change alone does not touch the checks */
    ck = store_index_checks(s);
    uint64_t cm = store_check(s, "service:web1")->modify_index;
    assert_int_equal(store_register(s, svc_make("web1", "web", 81, "t1"), NULL, 0, 0, 1000), 1);
    assert_int_equal(store_index_checks(s), ck);
    assert_int_equal(store_check(s, "service:web1")->modify_index, cm);
    store_free(s);
}

static void test_deregister(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg_ttl(s, "web1", "web", "passing", 0);
    assert_non_null(store_check(s, "service:web1"));
    assert_int_equal(store_deregister(s, "nosuch"), -1);
    assert_int_equal(store_deregister(s, "WEB1"), -1);            /* IDs are case-sensitive */
    uint64_t before = store_index(s);
    assert_int_equal(store_deregister(s, "web1"), 0);
    assert_int_equal(store_index(s), before + 1);
    assert_null(store_service(s, "web1"));
    assert_null(store_check(s, "service:web1"));                  /* its checks go with it */
    assert_int_equal(store_index_checks(s), before + 1);
    /* the name's index stays at the deregistration (never backwards for a blocked client) */
    assert_int_equal(store_index_service(s, "web"), before + 1);
    size_t n;
    free(store_instances(s, "web", &n));
    assert_int_equal(n, 0);
    store_free(s);
}

/* ---- checks ---- */
static void test_reregister_keeps_check_status(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg_ttl(s, "web1", "web", "critical", 0);
    cat_check_t *c = store_check(s, "service:web1");
    assert_int_equal(store_check_update(s, c, "passing", "ok", 2000), 1);
    /* a changed service definition with the same check: the check keeps its status/output */
    cat_check_t *c2 = check_make("service:web1", "web1", "critical", CHECK_TTL);
    cat_check_t *arr[1] = {c2};
    assert_int_equal(store_register(s, svc_make("web1", "web", 99, NULL), arr, 1, 0, 3000), 1);
    c = store_check(s, "service:web1");
    assert_string_equal(c->status, "passing");
    assert_string_equal(c->output, "ok");
    store_free(s);
}

static void test_replace_existing_checks(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg_ttl(s, "web1", "web", "passing", 0);
    /* without replace: a registration without checks keeps the old one */
    assert_int_equal(store_register(s, svc_make("web1", "web", 81, NULL), NULL, 0, 0, 1000), 1);
    assert_non_null(store_check(s, "service:web1"));
    /* with replace: it goes, and the checks index rises */
    uint64_t ck = store_index_checks(s);
    assert_int_equal(store_register(s, svc_make("web1", "web", 81, NULL), NULL, 0, 1, 1000), 1);
    assert_null(store_check(s, "service:web1"));
    assert_true(store_index_checks(s) > ck);
    store_free(s);
}

static void test_check_update_rules(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg_ttl(s, "web1", "web", "critical", 0);
    reg(s, "other1", "other", 80, NULL);
    cat_check_t *c = store_check(s, "service:web1");
    assert_string_equal(c->output, "");
    rec_t r = {0};
    store_set_change_hook(s, on_change, &r);
    uint64_t g = store_index(s), io = store_index_service(s, "other");
    assert_int_equal(store_check_update(s, c, "passing", "fine", 2000), 1);
    assert_int_equal(store_index(s), g + 1);
    assert_int_equal(store_index_checks(s), g + 1);
    assert_int_equal(store_index_service(s, "web"), g + 1);   /* health/service/web wakes */
    assert_int_equal(store_index_service(s, "other"), io);    /* health/service/other does not */
    assert_int_equal(c->modify_index, g + 1);
    assert_true(r.checks);
    assert_true(rec_has_name(&r, "web"));
    /* same status and output: nothing moves */
    assert_int_equal(store_check_update(s, c, "passing", "fine", 2100), 0);
    assert_int_equal(store_index(s), g + 1);
    assert_int_equal(r.calls, 1);
    /* same status, new output: a change */
    assert_int_equal(store_check_update(s, c, "passing", "fine again", 2200), 1);
    assert_int_equal(store_index(s), g + 2);
    store_free(s);
}

static void test_node_check_touches_every_service(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg(s, "a1", "a", 80, NULL);
    reg(s, "b1", "b", 80, NULL);
    cat_check_t *serf = store_check(s, "serfHealth");
    assert_int_equal(store_check_update(s, serf, "critical", "down", 2000), 1);
    /* node checks count for every instance on the node (section 9) */
    assert_int_equal(store_index_service(s, "a"), store_index(s));
    assert_int_equal(store_index_service(s, "b"), store_index(s));
    assert_string_equal(store_instance_status(s, store_service(s, "a1")), "critical");
    store_free(s);
}

static void test_output_truncation(void **state)
{
    (void)state;
    char *big = malloc(5001);
    memset(big, 'x', 5000);
    big[5000] = 0;
    char *t = cat_truncate_output(big);
    char want[5200];
    snprintf(want, sizeof want, "%.*s ... (captured 4096 of 5000 bytes)", 4096, big);
    assert_string_equal(t, want);
    free(t);
    big[4096] = 0;
    t = cat_truncate_output(big);                 /* exactly 4096: untouched */
    assert_string_equal(t, big);
    free(t);
    /* and through the store */
    catalog_store_t *s = fresh();
    reg_ttl(s, "web1", "web", "passing", 0);
    big[4096] = 'x';
    store_check_update(s, store_check(s, "service:web1"), "warning", big, 2000);
    assert_string_equal(store_check(s, "service:web1")->output, want);
    store_free(s);
    free(big);
}

static void test_instance_status_aggregate(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    cat_check_t *arr[2] = {check_make("c1", "w1", "passing", CHECK_TTL), check_make("c2", "w1", "warning", CHECK_TTL)};
    store_register(s, svc_make("w1", "w", 80, NULL), arr, 2, 0, 1000);
    assert_string_equal(store_instance_status(s, store_service(s, "w1")), "warning");
    store_check_update(s, store_check(s, "c1"), "critical", "", 1000);
    assert_string_equal(store_instance_status(s, store_service(s, "w1")), "critical");
    store_check_update(s, store_check(s, "c1"), "passing", "", 1000);
    store_check_update(s, store_check(s, "c2"), "passing", "", 1000);
    assert_string_equal(store_instance_status(s, store_service(s, "w1")), "passing");
    /* checks of a service are kept sorted by CheckID */
    cat_check_t *c = store_service(s, "w1")->checks;
    assert_string_equal(c->id, "c1");
    assert_string_equal(c->next_in_service->id, "c2");
    store_free(s);
}

static void test_maintenance(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg_ttl(s, "web1", "web", "passing", 0);
    assert_int_equal(store_service_maintenance(s, "nosuch", 1, "x", 1000), -1);
    uint64_t g = store_index(s);
    assert_int_equal(store_service_maintenance(s, "web1", 1, "upgrading", 1000), 0);
    cat_check_t *m = store_check(s, "_service_maintenance:web1");
    assert_non_null(m);
    assert_string_equal(m->status, "critical");
    assert_string_equal(m->name, "Service Maintenance Mode");
    assert_string_equal(m->notes, "upgrading");
    assert_string_equal(m->service_id, "web1");
    assert_true(store_index_service(s, "web") > g);
    assert_string_not_equal(store_instance_status(s, store_service(s, "web1")), "passing");
    /* enabling twice changes nothing */
    g = store_index(s);
    store_service_maintenance(s, "web1", 1, "upgrading", 1000);
    assert_int_equal(store_index(s), g);
    /* a re-registration with replace-existing-checks keeps maintenance */
    reg_ttl(s, "web1", "web", "passing", 1);
    assert_non_null(store_check(s, "_service_maintenance:web1"));
    assert_int_equal(store_service_maintenance(s, "web1", 0, NULL, 1000), 0);
    assert_null(store_check(s, "_service_maintenance:web1"));
    assert_string_equal(store_instance_status(s, store_service(s, "web1")), "passing");
    store_free(s);
}

static void test_reap(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    cat_check_t *c = check_make("service:web1", "web1", "passing", CHECK_TTL);
    c->dereg_after_ns = INT64_C(60000000000);     /* 1m */
    cat_check_t *arr[1] = {c};
    store_register(s, svc_make("web1", "web", 80, NULL), arr, 1, 0, 0);
    reg(s, "keep1", "keep", 80, NULL);
    assert_int_equal(store_reap(s, 120000), 0);   /* passing: never reaped */
    store_check_update(s, store_check(s, "service:web1"), "critical", "down", 100000);
    assert_int_equal(store_reap(s, 159000), 0);   /* critical for 59 s */
    assert_non_null(store_service(s, "web1"));
    /* a new output while still critical does not restart the critical clock */
    store_check_update(s, store_check(s, "service:web1"), "critical", "still down", 150000);
    assert_int_equal(store_reap(s, 160001), 1);   /* critical for > 1m */
    assert_null(store_service(s, "web1"));
    assert_null(store_check(s, "service:web1"));
    assert_non_null(store_service(s, "keep1"));
    store_free(s);
}

static void test_recovery_resets_critical_clock(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    cat_check_t *c = check_make("service:web1", "web1", "critical", CHECK_TTL);
    c->dereg_after_ns = INT64_C(60000000000);
    cat_check_t *arr[1] = {c};
    store_register(s, svc_make("web1", "web", 80, NULL), arr, 1, 0, 0);
    store_check_update(s, store_check(s, "service:web1"), "passing", "", 30000);
    store_check_update(s, store_check(s, "service:web1"), "critical", "", 50000);
    assert_int_equal(store_reap(s, 100000), 0);   /* critical again for 50 s only */
    assert_int_equal(store_reap(s, 110001), 1);
    store_free(s);
}

/* ---- names and tags ---- */
typedef struct { char out[512]; } names_t;
static void on_name(void *ctx, const char *name, char **tags, size_t ntags)
{
    names_t *n = ctx;
    size_t l = strlen(n->out);
    l += (size_t)snprintf(n->out + l, sizeof n->out - l, "%s[", name);
    for (size_t i = 0; i < ntags; i++)
        l += (size_t)snprintf(n->out + l, sizeof n->out - l, "%s%s", i ? "," : "", tags[i]);
    snprintf(n->out + l, sizeof n->out - l, "] ");
}

static void test_each_name_dedup_sorted(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    reg(s, "w2", "web", 80, "b,a");
    reg(s, "w1", "web", 80, "c,a");
    reg(s, "d1", "db", 80, NULL);
    names_t n = {""};
    store_each_name(s, on_name, &n);
    assert_string_equal(n.out, "consul[] db[] web[a,b,c] ");
    size_t k;
    cat_service_t **v = store_instances(s, "Web", &k);
    assert_int_equal(k, 2);
    assert_string_equal(v[0]->id, "w1");                /* ID order */
    assert_string_equal(v[1]->id, "w2");
    free(v);
    /* a name with no instances left is not listed */
    store_deregister(s, "d1");
    n.out[0] = 0;
    store_each_name(s, on_name, &n);
    assert_string_equal(n.out, "consul[] web[a,b,c] ");
    store_free(s);
}

/* ---- KV ---- */
static void test_kv_put_get_flags(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    assert_null(store_kv_get(s, "a"));
    uint64_t g = store_index(s);
    assert_int_equal(store_kv_put(s, "a", "hello", 5, 42, -1), 1);
    cat_kv_t *e = store_kv_get(s, "a");
    assert_non_null(e);
    assert_int_equal(e->len, 5);
    assert_memory_equal(e->value, "hello", 5);
    assert_true(e->has_value);
    assert_int_equal(e->flags, 42);
    assert_int_equal(e->create_index, g + 1);
    assert_int_equal(e->modify_index, g + 1);
    assert_int_equal(store_index_kv(s), g + 1);
    /* update: CreateIndex kept, ModifyIndex raised */
    assert_int_equal(store_kv_put(s, "a", "x", 1, 0, -1), 1);
    e = store_kv_get(s, "a");
    assert_int_equal(e->create_index, g + 1);
    assert_int_equal(e->modify_index, g + 2);
    assert_int_equal(e->flags, 0);
    /* empty value */
    assert_int_equal(store_kv_put(s, "empty", "", 0, 0, -1), 1);
    assert_false(store_kv_get(s, "empty")->has_value);
    /* binary values with NUL bytes */
    assert_int_equal(store_kv_put(s, "bin", "a\0b", 3, 0, -1), 1);
    assert_int_equal(store_kv_get(s, "bin")->len, 3);
    assert_memory_equal(store_kv_get(s, "bin")->value, "a\0b", 3);
    store_free(s);
}

static void test_kv_cas(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    assert_int_equal(store_kv_put(s, "k", "1", 1, 0, 0), 1);     /* cas=0: set if absent */
    uint64_t g = store_index(s);
    assert_int_equal(store_kv_put(s, "k", "2", 1, 0, 0), 0);     /* exists: false */
    assert_int_equal(store_index(s), g);                          /* a failed cas writes nothing */
    uint64_t mi = store_kv_get(s, "k")->modify_index;
    assert_int_equal(store_kv_put(s, "k", "3", 1, 0, (int64_t)mi + 1), 0);
    assert_int_equal(store_kv_put(s, "absent", "3", 1, 0, 7), 0); /* cas=N on absent: false */
    assert_int_equal(store_kv_put(s, "k", "4", 1, 0, (int64_t)mi), 1);
    assert_memory_equal(store_kv_get(s, "k")->value, "4", 1);
    /* delete with cas */
    mi = store_kv_get(s, "k")->modify_index;
    assert_int_equal(store_kv_delete(s, "k", 0, (int64_t)mi - 1), 0);
    assert_non_null(store_kv_get(s, "k"));
    assert_int_equal(store_kv_delete(s, "k", 0, (int64_t)mi), 1);
    assert_null(store_kv_get(s, "k"));
    /* a cas delete of an absent key answers true whatever the index (Consul's kvsDeleteCASTxn) */
    assert_int_equal(store_kv_delete(s, "k", 0, 0), 1);
    assert_int_equal(store_kv_delete(s, "k", 0, 12345), 1);
    store_free(s);
}

static void test_kv_delete_absent_is_true(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    uint64_t kv = store_index_kv(s);
    assert_int_equal(store_kv_delete(s, "nope", 0, -1), 1);
    assert_int_equal(store_kv_delete(s, "nope/", 1, -1), 1);
    assert_int_equal(store_index_kv(s), kv);                      /* nothing was deleted */
    store_free(s);
}

static void test_kv_list_bytewise_sorted(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    const char *keys[] = {"p/b", "p/B", "p/a/x", "p/\xc3\xa9", "p", "q/a", "p/a"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        store_kv_put(s, keys[i], "v", 1, 0, -1);
    size_t n;
    cat_kv_t **l = store_kv_list(s, "p/", &n);
    assert_int_equal(n, 5);
    assert_string_equal(l[0]->key, "p/B");
    assert_string_equal(l[1]->key, "p/a");
    assert_string_equal(l[2]->key, "p/a/x");
    assert_string_equal(l[3]->key, "p/b");
    assert_string_equal(l[4]->key, "p/\xc3\xa9");
    free(l);
    l = store_kv_list(s, "", &n);
    assert_int_equal(n, 7);
    free(l);
    store_free(s);
}

static void test_kv_tombstones(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    store_kv_put(s, "app/a", "1", 1, 0, -1);
    store_kv_put(s, "app/b", "1", 1, 0, -1);
    store_kv_put(s, "other", "1", 1, 0, -1);
    uint64_t before = store_kv_prefix_index(s, "app/");
    assert_int_equal(before, store_kv_get(s, "app/b")->modify_index);
    /* deleting the newest key must not make the prefix index go backwards */
    assert_int_equal(store_kv_delete(s, "app/b", 0, -1), 1);
    uint64_t del = store_index(s);
    assert_int_equal(store_kv_prefix_index(s, "app/"), del);
    assert_int_equal(store_kv_prefix_index(s, "app/b"), del);     /* a missing key: its tombstone */
    assert_int_equal(store_index_kv(s), del);
    /* recurse delete: one write, every key gone, tombstones at that index */
    store_kv_put(s, "app/c", "1", 1, 0, -1);
    uint64_t g = store_index(s);
    assert_int_equal(store_kv_delete(s, "app/", 1, -1), 1);
    assert_int_equal(store_index(s), g + 1);
    size_t n;
    free(store_kv_list(s, "app/", &n));
    assert_int_equal(n, 0);
    assert_int_equal(store_kv_prefix_index(s, "app/"), g + 1);
    assert_non_null(store_kv_get(s, "other"));                    /* outside the prefix: kept */
    assert_true(store_kv_prefix_index(s, "other") < g + 1);
    /* re-creating a deleted key starts a new CreateIndex */
    store_kv_put(s, "app/a", "2", 1, 0, -1);
    assert_int_equal(store_kv_get(s, "app/a")->create_index, store_index(s));
    store_free(s);
}

static void test_kv_change_hook(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    rec_t r = {0};
    store_set_change_hook(s, on_change, &r);
    store_kv_put(s, "k", "v", 1, 0, -1);
    assert_int_equal(r.calls, 1);
    assert_true(r.kv);
    assert_false(r.services);
    assert_false(r.checks);
    store_kv_put(s, "k", "v", 1, 0, 0);           /* failed cas: no wake-up */
    assert_int_equal(r.calls, 1);
    store_free(s);
}

/* ---- scale: many instances stay quick and correct ---- */
static void test_many_instances(void **state)
{
    (void)state;
    catalog_store_t *s = fresh();
    char id[64], name[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "svc-%05d", i);
        snprintf(name, sizeof name, "name%d", i % 100);
        assert_int_equal(store_register(s, svc_make(id, name, 1000 + i, "t"), NULL, 0, 0, 0), 1);
    }
    size_t n;
    cat_service_t **v = store_instances(s, "NAME7", &n);
    assert_int_equal(n, 200);
    free(v);
    v = store_all_services(s, &n);
    assert_int_equal(n, 20001);                   /* + consul */
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(v[i - 1]->id, v[i]->id) < 0);
    free(v);
    for (int i = 0; i < 20000; i += 2) {
        snprintf(id, sizeof id, "svc-%05d", i);
        assert_int_equal(store_deregister(s, id), 0);
    }
    v = store_all_services(s, &n);
    assert_int_equal(n, 10001);
    free(v);
    store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot),
        cmocka_unit_test(test_boot_at_base),
        cmocka_unit_test(test_register_raises_indexes_by_one),
        cmocka_unit_test(test_identical_reregister_no_bump),
        cmocka_unit_test(test_changed_reregister_keeps_create_index),
        cmocka_unit_test(test_other_service_index_unchanged),
        cmocka_unit_test(test_rename_touches_both_names),
        cmocka_unit_test(test_tag_change_moves_kept_checks),
        cmocka_unit_test(test_deregister),
        cmocka_unit_test(test_reregister_keeps_check_status),
        cmocka_unit_test(test_replace_existing_checks),
        cmocka_unit_test(test_check_update_rules),
        cmocka_unit_test(test_node_check_touches_every_service),
        cmocka_unit_test(test_output_truncation),
        cmocka_unit_test(test_instance_status_aggregate),
        cmocka_unit_test(test_maintenance),
        cmocka_unit_test(test_reap),
        cmocka_unit_test(test_recovery_resets_critical_clock),
        cmocka_unit_test(test_each_name_dedup_sorted),
        cmocka_unit_test(test_kv_put_get_flags),
        cmocka_unit_test(test_kv_cas),
        cmocka_unit_test(test_kv_delete_absent_is_true),
        cmocka_unit_test(test_kv_list_bytewise_sorted),
        cmocka_unit_test(test_kv_tombstones),
        cmocka_unit_test(test_kv_change_hook),
        cmocka_unit_test(test_many_instances),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
