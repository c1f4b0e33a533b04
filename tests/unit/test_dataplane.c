/* test_dataplane.c: dataplane.c, the decision of -routing maps ("this change needs these map
 * edits and server commands, or a reload"), as a table: each row is a catalog before, a catalog
 * after, and the plan written out as text (ops in the order they are sent, then the layout).
 * Plus the pool's life (dirty backends not reused before a reload, growth), the map files, and
 * the configuration rendered for maps checked with the real `haproxy -c`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane.h"
#include "haproxy_cfg.h"
#include "routes.h"

/* ---- catalogs written as text ----
 * "hello/v1 a1:9001 b1:9002:5; web w1:80 host=www.x.org check=/health; maxconn=500"
 * services separated by ';'. In a service: its name, then instances "id:port[:weight]" (address
 * 127.0.0.1, tag rest, passing), "host=<h>" (a host tag on the first instance), "check=<path>"
 * (Meta check_http on the first instance), "addr=<ip>" (the last instance's address). A part
 * "maxconn=<n>" is the KV key. */
static routes_table_t *table(const char *spec)
{
    routes_catalog_t *c = routes_catalog_new();
    char *dup = strdup(spec), *sv1 = NULL;
    for (char *part = strtok_r(dup, ";", &sv1); part; part = strtok_r(NULL, ";", &sv1)) {
        char *sv2 = NULL, *tok = strtok_r(part, " ", &sv2);
        if (!tok) continue;
        if (!strncmp(tok, "maxconn=", 8)) { routes_catalog_add_kv(c, "service/haproxy/maxconn", tok + 8); continue; }
        routes_service_t *s = routes_catalog_add_service(c, tok);
        routes_instance_t *first = NULL, *last = NULL;
        while ((tok = strtok_r(NULL, " ", &sv2))) {
            if (!strncmp(tok, "host=", 5)) { routes_instance_add_tag(first, tok); continue; }
            if (!strncmp(tok, "check=", 6)) { routes_instance_add_meta(first, "check_http", tok + 6); continue; }
            if (!strncmp(tok, "addr=", 5)) { free(last->address); last->address = strdup(tok + 5); continue; }
            char id[64];
            int port = 0, weight = 0;
            assert_true(sscanf(tok, "%63[^:]:%d:%d", id, &port, &weight) >= 2);
            /* instances are reallocated as they are added: find them again by position */
            size_t k = s->ninst;
            routes_service_add_instance(s, id, "node1", "127.0.0.1", port, 1);
            routes_instance_add_tag(&s->inst[k], "rest");
            if (weight) {
                char w[16];
                snprintf(w, sizeof w, "%d", weight);
                routes_instance_add_meta(&s->inst[k], "weight", w);
            }
            first = &s->inst[0];
            last = &s->inst[k];
        }
    }
    free(dup);
    routes_options_t o = { 0 };
    routes_table_t *t = routes_build(c, &o, NULL, NULL);
    routes_catalog_free(c);
    return t;
}

static const char *const map_name[] = { "paths", "hosts", "prefix" };

static void put(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t len, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, len - n, fmt, ap);
    va_end(ap);
}

static void srv_text(char *buf, size_t len, const dataplane_srv_op_t *op)
{
    switch (op->kind) {
    case DIFF_ADD: put(buf, len, "+srv %s/%s %s:%d w%d\n", op->backend, op->s->name, op->s->addr, op->s->port, op->s->weight); break;
    case DIFF_DEL: put(buf, len, "-srv %s/%s\n", op->backend, op->s->name); break;
    case DIFF_ADDR: put(buf, len, "addr %s/%s %s:%d\n", op->backend, op->s->name, op->s->addr, op->s->port); break;
    case DIFF_WEIGHT: put(buf, len, "weight %s/%s %d\n", op->backend, op->s->name, op->s->weight); break;
    }
}

/* The plan as text: "reload: <reason>\n" or the ops, then "layout:" and each route's backend. */
static void plan_text(const dataplane_plan_t *p, const dataplane_layout_t *l, char *buf, size_t len)
{
    buf[0] = '\0';
    if (p->reload) put(buf, len, "reload: %s\n", p->reason);
    for (size_t i = 0; i < p->nadd; i++) srv_text(buf, len, &p->add[i]);
    for (size_t i = 0; i < p->nmaps; i++) {
        const dataplane_map_op_t *m = &p->maps[i];
        if (m->kind == DATAPLANE_MAP_ADD) put(buf, len, "map+ %s %s %s\n", map_name[m->map], m->key, m->value);
        else put(buf, len, "map- %s %s\n", map_name[m->map], m->key);
    }
    for (size_t i = 0; i < p->nops; i++) srv_text(buf, len, &p->ops[i]);
    put(buf, len, "layout:");
    for (size_t i = 0; i < l->nslots; i++) put(buf, len, " %s=%s", l->slots[i].service, l->slots[i].backend);
}

typedef struct {
    const char *what, *before, *after, *expect;
    size_t spare;
} row_t;

static const row_t rows[] = {
    { "nothing changed: nothing to do", "hello/v1 a1:9001", "hello/v1 a1:9001",
      "layout: hello/v1=p2_0", 0 },
    { "a new instance: add server only", "hello/v1 a1:9001", "hello/v1 a1:9001 c1:9003",
      "+srv p2_0/c1 127.0.0.1:9003 w1\nlayout: hello/v1=p2_0", 0 },
    { "an instance gone, one moved, one re-weighted",
      "hello/v1 a1:9001 b1:9002 c1:9003", "hello/v1 b1:9009 c1:9003:7",
      "-srv p2_0/a1\naddr p2_0/b1 127.0.0.1:9009\nweight p2_0/c1 7\nlayout: hello/v1=p2_0", 0 },
    { "a new route: its servers, then prefix and path entries (no reload)",
      "hello/v1 a1:9001", "hello/v1 a1:9001; web w1:80 w2:81",
      "+srv p1_0/w1 127.0.0.1:80 w1\n+srv p1_0/w2 127.0.0.1:81 w1\n"
      "map+ prefix p1_0 /web\nmap+ paths /web/ p1_0\nlayout: hello/v1=p2_0 web=p1_0", 0 },
    { "a new route of a depth already used takes the next free backend",
      "hello/v1 a1:9001", "hello/v1 a1:9001; hello/v10 x1:9010",
      "+srv p2_1/x1 127.0.0.1:9010 w1\nmap+ prefix p2_1 /hello/v10\nmap+ paths /hello/v10/ p2_1\n"
      "layout: hello/v1=p2_0 hello/v10=p2_1", 0 },
    { "a new route with a host: host entry before the path entry",
      "hello/v1 a1:9001", "hello/v1 a1:9001; web w1:80 host=WWW.x.org",
      "+srv p1_0/w1 127.0.0.1:80 w1\nmap+ prefix p1_0 /web\nmap+ hosts www.x.org p1_0\nmap+ paths /web/ p1_0\n"
      "layout: hello/v1=p2_0 web=p1_0", 0 },
    { "a new route with no passing instance: maps only",
      "hello/v1 a1:9001", "hello/v1 a1:9001; a/b/c",
      "layout: hello/v1=p2_0", 0 }, /* no instance with the tag: no route at all */
    { "a route removed: its maps go first, then its servers drain",
      "hello/v1 a1:9001; web w1:80 host=www.x.org", "hello/v1 a1:9001",
      "map- paths /web/\nmap- hosts www.x.org\nmap- prefix p1_0\n-srv p1_0/w1\nlayout: hello/v1=p2_0", 0 },
    { "a host added to a route, one removed",
      "web w1:80 host=a.x.org", "web w1:80 host=b.x.org",
      "map- hosts a.x.org\nmap+ hosts b.x.org p1_0\nlayout: web=p1_0", 0 },
    { "a host moving from one route to another: deleted before it is added",
      "api a1:81 host=a.x.org; web w1:80", "api a1:81; web w1:80 host=a.x.org",
      "map- hosts a.x.org\nmap+ hosts a.x.org p1_1\nlayout: api=p1_0 web=p1_1", 0 },
    { "the pool of a depth runs out: reload, and the pool grows",
      "hello/v1 a1:9001", "hello/v1 a1:9001; hello/v2 b1:9002; hello/v3 c1:9003",
      "reload: service hello/v3: no free backend of depth 2 (pool of 2): growing the pool\n"
      "layout: hello/v1=p2_0 hello/v2=p2_1 hello/v3=p2_2", 1 },
    { "a new route with a health check needs its own backend: reload",
      "hello/v1 a1:9001", "hello/v1 a1:9001; web w1:80 check=/health",
      "reload: service web: new route with a health check (own backend)\nlayout: hello/v1=p2_0 web=b_web", 0 },
    { "a health check added to a route: reload",
      "web w1:80", "web w1:80 check=/health",
      "reload: service web: health check changed\nlayout: web=b_web", 0 },
    { "a health check dropped: reload, back into the pool",
      "web w1:80 check=/health", "web w1:80",
      "reload: service web: health check changed\nlayout: web=p1_0", 0 },
    { "maxconn changed: reload, routes keep their backends",
      "hello/v1 a1:9001; web w1:80", "hello/v1 a1:9001; web w1:80; maxconn=500",
      "reload: maxconn or timeouts changed\nlayout: hello/v1=p2_0 web=p1_0", 0 },
    { "an instance of a checked route: add server in its own backend",
      "web w1:80 check=/health", "web w1:80 w2:81 check=/health",
      "+srv b_web/w2 127.0.0.1:81 w1\nlayout: web=b_web", 0 },
};

static void test_plan_table(void **st)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row_t *r = &rows[i];
        dataplane_opts_t o = { .spare = r->spare ? r->spare : 4, .pre_depth = r->spare ? 1 : 0 };
        routes_table_t *a = table(r->before), *b = table(r->after);
        /* what HAProxy runs: the before table, loaded by a reload */
        dataplane_layout_t *l = dataplane_layout_build(NULL, a, &o);
        dataplane_plan_t p;
        dataplane_plan(a, l, b, &o, &p);
        dataplane_layout_t *nl = dataplane_plan_take_layout(&p);
        char got[4096];
        plan_text(&p, nl, got, sizeof got);
        if (strcmp(got, r->expect) != 0) {
            print_error("row %zu (%s):\n--- expected\n%s\n--- got\n%s\n", i, r->what, r->expect, got);
            fail();
        }
        /* the layout a plan leaves is what the map files are rendered from */
        dataplane_plan_clear(&p);
        dataplane_layout_free(nl);
        dataplane_layout_free(l);
        routes_table_free(a);
        routes_table_free(b);
    }
}

static void test_first_plan_reloads(void **st)
{
    routes_table_t *t = table("hello/v1 a1:9001; web w1:80");
    dataplane_plan_t p;
    dataplane_plan(NULL, NULL, t, NULL, &p);
    assert_true(p.reload);
    assert_string_equal(p.reason, "first configuration");
    assert_int_equal(p.layout->size[1], 1 + 64); /* defaults: 64 spare, depths 1..4 */
    assert_int_equal(p.layout->size[2], 1 + 64);
    assert_int_equal(p.layout->size[4], 64);
    assert_int_equal(p.layout->size[5], 0);
    dataplane_plan_clear(&p);
    routes_table_free(t);
}

/* A backend a route left may still hold draining servers: it is not handed out again until a
 * reload has rebuilt it empty; then it is free again and the pool keeps its size. */
static void test_dirty_not_reused_before_reload(void **st)
{
    dataplane_opts_t o = { .spare = 2, .pre_depth = 1 };
    routes_table_t *t0 = table("api a1:81; web w1:80"), *t1 = table("api a1:81"), *t2 = table("api a1:81; new n1:90");
    dataplane_layout_t *l0 = dataplane_layout_build(NULL, t0, &o); /* api=p1_0 web=p1_1, 4 backends */
    assert_int_equal(l0->size[1], 4);
    dataplane_plan_t p;
    dataplane_plan(t0, l0, t1, &o, &p);
    assert_false(p.reload);
    dataplane_layout_t *l1 = dataplane_plan_take_layout(&p);
    assert_int_equal(l1->state[1][1], DATAPLANE_DIRTY);
    dataplane_plan_clear(&p);
    dataplane_plan(t1, l1, t2, &o, &p);
    assert_false(p.reload);
    assert_string_equal(dataplane_layout_find(p.layout, "new")->backend, "p1_2"); /* not p1_1 */
    dataplane_layout_t *l2 = dataplane_plan_take_layout(&p);
    dataplane_plan_clear(&p);
    /* a reload frees it: the next route takes it */
    dataplane_layout_t *l3 = dataplane_layout_build(l2, t2, &o);
    assert_int_equal(l3->state[1][1], DATAPLANE_FREE);
    assert_string_equal(dataplane_layout_find(l3, "api")->backend, "p1_0");
    assert_string_equal(dataplane_layout_find(l3, "new")->backend, "p1_2");
    assert_int_equal(l3->size[1], 4);
    routes_table_t *t3 = table("api a1:81; new n1:90; z z1:1");
    dataplane_plan(t2, l3, t3, &o, &p);
    assert_false(p.reload);
    assert_string_equal(dataplane_layout_find(p.layout, "z")->backend, "p1_1");
    dataplane_plan_clear(&p);
    dataplane_layout_free(l0); dataplane_layout_free(l1); dataplane_layout_free(l2); dataplane_layout_free(l3);
    routes_table_free(t0); routes_table_free(t1); routes_table_free(t2); routes_table_free(t3);
}

/* Growth: a reload keeps `spare` free backends per depth, never shrinks a pool. */
static void test_pool_growth(void **st)
{
    dataplane_opts_t o = { .spare = 2, .pre_depth = 1 };
    routes_table_t *t0 = table("a x:1"), *t1 = table("a x:1; b x:1; c x:1; d x:1");
    dataplane_layout_t *l0 = dataplane_layout_build(NULL, t0, &o);
    assert_int_equal(l0->size[1], 3);
    dataplane_plan_t p;
    dataplane_plan(t0, l0, t1, &o, &p); /* three new routes, two free backends */
    assert_true(p.reload);
    assert_int_equal(p.layout->size[1], 4 + 2);
    assert_string_equal(dataplane_layout_find(p.layout, "a")->backend, "p1_0");
    dataplane_layout_t *l1 = dataplane_plan_take_layout(&p);
    dataplane_plan_clear(&p);
    routes_table_t *t2 = table("a x:1");
    dataplane_layout_t *l2 = dataplane_layout_build(l1, t2, &o);
    assert_int_equal(l2->size[1], 6);
    dataplane_layout_free(l0); dataplane_layout_free(l1); dataplane_layout_free(l2);
    routes_table_free(t0); routes_table_free(t1); routes_table_free(t2);
}

static void test_map_render(void **st)
{
    routes_table_t *t = table("hello/v1 a1:9001 host=h.x.org; hello/v10 x:1; web w1:80 check=/health");
    dataplane_opts_t o = { .spare = 1 };
    dataplane_layout_t *l = dataplane_layout_build(NULL, t, &o);
    char *paths = dataplane_map_render(t, l, DATAPLANE_PATHS);
    char *hosts = dataplane_map_render(t, l, DATAPLANE_HOSTS);
    char *prefix = dataplane_map_render(t, l, DATAPLANE_PREFIX);
    /* table order (longest path first); keys end with '/': "/hello/v10" never matches "/hello/v1/" */
    assert_string_equal(paths, "/hello/v10/ p2_0\n/hello/v1/ p2_1\n/web/ b_web\n");
    assert_string_equal(hosts, "h.x.org p2_1\n");
    assert_string_equal(prefix, "p2_0 /hello/v10\np2_1 /hello/v1\nb_web /web\n");
    free(paths); free(hosts); free(prefix);
    dataplane_layout_free(l);
    routes_table_free(t);
}

/* The configuration for maps, with its map files, passes the real `haproxy -c`. */
static void test_render_maps_haproxy_check(void **st)
{
    if (access("/usr/sbin/haproxy", X_OK) != 0) { skip(); return; }
    routes_table_t *t = table("hello/v1 a1:9001 host=h.x.org; web w1:80 check=/health; a/b/c/d/e z:1");
    dataplane_opts_t o = { .spare = 2 };
    dataplane_layout_t *l = dataplane_layout_build(NULL, t, &o);
    char dir[] = "/tmp/portolan-test-dp.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char maps[DATAPLANE_NMAPS][128], cfgp[128];
    haproxy_cfg_opts_t co = { .base = "global\n    stats socket @ADMIN_SOCKET@ level admin\ndefaults\n    mode http\n"
                                      "    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n",
                              .bind = "127.0.0.1:18080", .admin_socket = "/tmp/portolan-test-dp.sock" };
    for (int i = 0; i < DATAPLANE_NMAPS; i++) {
        snprintf(maps[i], sizeof maps[i], "%s/%s.map", dir, map_name[i]);
        co.maps[i] = maps[i];
        char *text = dataplane_map_render(t, l, i);
        FILE *f = fopen(maps[i], "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        free(text);
    }
    assert_null(haproxy_cfg_check_opts(&co));
    char *cfg = haproxy_cfg_render_maps(t, l, &co, NULL);
    assert_non_null(strstr(cfg, "path,concat(,,/),map_beg("));
    assert_non_null(strstr(cfg, "backend p5_0\n"));
    assert_non_null(strstr(cfg, "path,field(1,/,6)"));           /* depth 5: the first 5 segments */
    assert_non_null(strstr(cfg, "set-path /%[path,field(7,/,0)]"));
    assert_non_null(strstr(cfg, "backend b_web\n"));
    assert_non_null(strstr(cfg, "http-check send meth GET uri /health"));
    assert_non_null(strstr(cfg, "    server a1 127.0.0.1:9001 weight 1\n"));
    snprintf(cfgp, sizeof cfgp, "%s/haproxy.cfg", dir);
    FILE *f = fopen(cfgp, "w");
    assert_non_null(f);
    fputs(cfg, f);
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/sbin/haproxy -c -q -f %s >/dev/null 2>&1", cfgp);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(cfg);
    dataplane_layout_free(l);
    routes_table_free(t);
}

/* A restarted templater reads the prefix map an earlier run left and puts each route back in the
 * backend it had; lines it did not write are ignored. */
static void test_layout_from_prefix_map(void **st)
{
    size_t ignored = 0;
    dataplane_layout_t *h = dataplane_layout_parse_prefix(
        "p2_0 /hello/v1\nb_web /web\np1_3 /api\np2_1 /x\np9_0 /a/b\np2_0 /hello/v2\nevil line\n"
        "p1_1 /a b\np1_2 /x\n\nP1_4 /y\np1_05 /z\np1_6 /../x\n", &ignored);
    assert_int_equal(ignored, 8);
    char got[512];
    dataplane_plan_t none = { 0 };
    plan_text(&none, h, got, sizeof got);
    assert_string_equal(got, "layout: api=p1_3 hello/v1=p2_0 x=p1_2");
    routes_table_t *t = table("hello/v1 a1:1; api a:2; new n:3; web w:4 check=/h");
    dataplane_opts_t o = { .spare = 1, .pre_depth = 1 };
    dataplane_plan_t p;
    dataplane_plan(NULL, h, t, &o, &p);
    assert_true(p.reload);
    plan_text(&p, p.layout, got, sizeof got);
    assert_string_equal(got, "reload: first configuration\nlayout: api=p1_3 hello/v1=p2_0 new=p1_0 web=b_web");
    dataplane_plan_clear(&p);
    dataplane_layout_free(h);
    routes_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_table),
        cmocka_unit_test(test_first_plan_reloads),
        cmocka_unit_test(test_dirty_not_reused_before_reload),
        cmocka_unit_test(test_pool_growth),
        cmocka_unit_test(test_map_render),
        cmocka_unit_test(test_render_maps_haproxy_check),
        cmocka_unit_test(test_layout_from_prefix_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
