/* test_routes.c: the templater's pure core: validate.c, routes.c, haproxy_cfg.c, diff.c,
 * haproxy_runtime.c's parsers, haproxy_check.c.
 * The generated configuration is also checked with the real `haproxy -c` when it is installed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diff.h"
#include "haproxy_cfg.h"
#include "haproxy_base.h"
#include "haproxy_check.h"
#include "haproxy_runtime.h"
#include "routes.h"
#include "validate.h"

/* ---- helpers ---- */

typedef struct {
    int n;
    char last[512];
    char all[8192];
} skips_t;

static void on_skip(const char *msg, void *data)
{
    skips_t *s = data;
    s->n++;
    snprintf(s->last, sizeof s->last, "%s", msg);
    size_t l = strlen(s->all);
    snprintf(s->all + l, sizeof s->all - l, "%s\n", msg);
}

static routes_instance_t *inst(routes_service_t *s, const char *id, const char *addr, long long port,
                               int passing, const char *tag)
{
    routes_instance_t *in = routes_service_add_instance(s, id, "node1", addr, port, passing);
    if (tag) routes_instance_add_tag(in, tag);
    return in;
}

static routes_catalog_t *hello_catalog(void)
{
    routes_catalog_t *c = routes_catalog_new();
    routes_service_t *s = routes_catalog_add_service(c, "hello/v1");
    inst(s, "hello-b", "127.0.0.1", 9002, 1, "rest");
    inst(s, "hello-a", "127.0.0.1", 9001, 1, "rest");
    s = routes_catalog_add_service(c, "redis");
    inst(s, "redis", "127.0.0.1", 6379, 1, "db");
    return c;
}

static routes_table_t *build(const routes_catalog_t *c, skips_t *sk)
{
    routes_options_t o = { 0 };
    return routes_build(c, &o, on_skip, sk);
}

static char *base_text(void)
{
    FILE *f = fopen(HAPROXY_BASE, "r");
    assert_non_null(f);
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The default -base is the built-in copy of haproxy/haproxy.cfg.base, byte for byte (the Makefile
 * rule generates it from the file; a stale or truncated copy fails here). */
static void test_base_builtin(void **state)
{
    const char *file = base_text();
    assert_true(strlen(file) > 100);
    assert_int_equal(strlen(haproxy_base_builtin), strlen(file));
    assert_string_equal(haproxy_base_builtin, file);
}

static char *render(const routes_table_t *t)
{
    haproxy_cfg_opts_t o = { .base = base_text(), .bind = "127.0.0.1:18080",
                             .admin_socket = "/tmp/portolan-test-admin.sock", .stats_bind = "127.0.0.1:18081" };
    assert_null(haproxy_cfg_check_opts(&o));
    return haproxy_cfg_render(t, &o, NULL);
}

/* 0 valid, 1 invalid, -1 haproxy not installed */
static int haproxy_check(const char *cfg)
{
    if (access("/usr/sbin/haproxy", X_OK) != 0) return -1;
    char path[] = "/tmp/portolan-test-cfg.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, cfg, strlen(cfg)), (ssize_t)strlen(cfg));
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/sbin/haproxy -c -q -f %s >/dev/null 2>&1", path);
    int rc = system(cmd);
    unlink(path);
    return rc == 0 ? 0 : 1;
}

/* ---- validate ---- */

static void test_validate_names(void **st)
{
    assert_true(validate_service_name("hello/v1"));
    assert_true(validate_service_name("web"));
    assert_true(validate_service_name("a.b_c-d/e"));
    assert_false(validate_service_name(""));
    assert_false(validate_service_name(NULL));
    assert_false(validate_service_name("x\n  bind :9999"));
    assert_false(validate_service_name("/hello"));
    assert_false(validate_service_name("hello/"));
    assert_false(validate_service_name("a//b"));
    assert_false(validate_service_name("a/../b"));
    assert_false(validate_service_name("a/./b"));
    assert_false(validate_service_name(".."));
    assert_true(validate_service_name("..a"));
    assert_false(validate_service_name("a b"));
    assert_false(validate_service_name("a#b"));
    assert_false(validate_service_name("a:b"));
    assert_false(validate_service_name("a\\b"));
    char longname[202];
    memset(longname, 'a', 201);
    longname[201] = '\0';
    assert_false(validate_service_name(longname));
    longname[200] = '\0';
    assert_true(validate_service_name(longname));
}

static void test_validate_hosts(void **st)
{
    assert_true(validate_host("www.example.com"));
    assert_true(validate_host("localhost"));
    assert_true(validate_host("a-b.c0"));
    assert_false(validate_host("evil.com\n  bind :9999"));
    assert_false(validate_host(""));
    assert_false(validate_host("-a.com"));
    assert_false(validate_host("a-.com"));
    assert_false(validate_host("a..com"));
    assert_false(validate_host("a.com."));
    assert_false(validate_host(".a.com"));
    assert_false(validate_host("a_b.com"));
    assert_false(validate_host("a.com:80"));
    assert_false(validate_host("a com"));
    char label[70];
    memset(label, 'a', 64);
    label[64] = '\0';
    assert_false(validate_host(label));
    label[63] = '\0';
    assert_true(validate_host(label));
}

static void test_validate_addr_port(void **st)
{
    assert_true(validate_ip("1.2.3.4"));
    assert_true(validate_ip("::1"));
    assert_true(validate_ip("fe80::1"));
    assert_false(validate_ip("1.2.3.4 backup"));
    assert_false(validate_ip("1.2.3.4:80"));
    assert_false(validate_ip("localhost"));
    assert_false(validate_ip(""));
    assert_false(validate_ip("fe80::1%eth0"));
    assert_false(validate_ip("1.2.3.256"));
    assert_true(validate_port(1));
    assert_true(validate_port(65535));
    assert_false(validate_port(0));
    assert_false(validate_port(70000));
    assert_false(validate_port(-1));
    long long v = 0;
    assert_true(validate_number("512", 1, 1000, &v));
    assert_int_equal(v, 512);
    assert_false(validate_number("5000", 1, 1000, &v));
    assert_false(validate_number("-5", -10, 1000, &v));
    assert_false(validate_number("12 ", 1, 1000, &v));
    assert_false(validate_number("", 1, 1000, &v));
    assert_false(validate_number("99999999999999999999", 1, 1000, &v));
    assert_true(validate_timeout_name("connect"));
    assert_true(validate_timeout_name("http-keep-alive"));
    assert_false(validate_timeout_name("connect\n"));
    assert_false(validate_timeout_name("foo"));
    assert_true(validate_timeout_value("5s"));
    assert_true(validate_timeout_value("500"));
    assert_true(validate_timeout_value("100ms"));
    assert_false(validate_timeout_value("5 s"));
    assert_false(validate_timeout_value("5s\n  bind :1"));
    assert_false(validate_timeout_value("s"));
    assert_false(validate_timeout_value("0"));   /* HAProxy: no timeout at all */
    assert_false(validate_timeout_value("0s"));
    assert_false(validate_timeout_value("000ms"));
    assert_true(validate_timeout_value("1us"));
    assert_false(validate_timeout_value("1234567890s"));
    /* HAProxy's timer maximum, 2147483647 ms (~24.8 days): beyond it haproxy -c refuses */
    assert_true(validate_timeout_value("24d"));
    assert_false(validate_timeout_value("25d"));
    assert_true(validate_timeout_value("596h"));
    assert_false(validate_timeout_value("597h"));
    assert_true(validate_timeout_value("35791m"));
    assert_false(validate_timeout_value("35792m"));
    assert_true(validate_timeout_value("2147483s"));
    assert_false(validate_timeout_value("2147484s"));
    assert_true(validate_timeout_value("999999999ms"));
    assert_true(validate_timeout_value("999999999us"));
    assert_true(validate_http_path("/health?full=1&x=y"));
    assert_false(validate_http_path("health"));
    assert_false(validate_http_path("/a b"));
    assert_false(validate_http_path("/a#b"));
    assert_false(validate_http_path("/a\nb"));
    assert_true(validate_server_id("host:container:80"));
    assert_false(validate_server_id("a/b"));
    assert_false(validate_server_id("a b"));
}

/* ---- routes ---- */

static void test_routes_basic(void **st)
{
    skips_t sk = { 0 };
    routes_catalog_t *c = hello_catalog();
    routes_table_t *t = build(c, &sk);
    assert_int_equal(t->n, 1);
    const routes_backend_t *b = t->b[0];
    assert_string_equal(b->service, "hello/v1");
    assert_string_equal(b->path, "/hello/v1");
    assert_string_equal(b->backend, "b_hello:v1");
    assert_int_equal(b->nservers, 2);
    assert_string_equal(b->servers[0].name, "hello-a"); /* sorted by name */
    assert_int_equal(b->servers[0].port, 9001);
    assert_string_equal(b->servers[1].name, "hello-b");
    assert_int_equal(b->servers[0].weight, 1);
    assert_null(b->check_path);
    assert_int_equal(b->nhosts, 0);
    assert_int_equal(sk.n, 0);
    assert_ptr_equal(routes_table_find(t, "hello/v1"), b);
    assert_null(routes_table_find(t, "redis"));
    routes_table_free(t);
    routes_catalog_free(c);
}

static void test_routes_health_and_tag(void **st)
{
    skips_t sk = { 0 };
    routes_catalog_t *c = routes_catalog_new();
    routes_service_t *s = routes_catalog_add_service(c, "hello/v1");
    inst(s, "a", "127.0.0.1", 1, 1, "rest");
    inst(s, "b", "127.0.0.1", 2, 0, "rest");     /* critical */
    inst(s, "c", "127.0.0.1", 3, 1, "other");    /* not tagged */
    s = routes_catalog_add_service(c, "down");
    inst(s, "d", "127.0.0.1", 4, 0, "rest");     /* only critical: route kept, no servers */
    routes_table_t *t = build(c, &sk);
    assert_int_equal(t->n, 2);
    const routes_backend_t *b = routes_table_find(t, "hello/v1");
    assert_non_null(b);
    assert_int_equal(b->nservers, 1);
    assert_string_equal(b->servers[0].name, "a");
    b = routes_table_find(t, "down");
    assert_non_null(b);
    assert_int_equal(b->nservers, 0);
    routes_table_free(t);
    /* another routing tag */
    routes_options_t o = { .tag = "other" };
    t = routes_build(c, &o, on_skip, &sk);
    assert_int_equal(t->n, 1);
    assert_string_equal(t->b[0]->servers[0].name, "c");
    routes_table_free(t);
    routes_catalog_free(c);
}

static void test_routes_longest_first(void **st)
{
    skips_t sk = { 0 };
    routes_catalog_t *c = routes_catalog_new();
    const char *names[] = { "hello", "hello/v1", "a", "hello/v10", "zz/yy/xx" };
    for (int i = 0; i < 5; i++) inst(routes_catalog_add_service(c, names[i]), names[i][0] == 'h' ? "h" : "x", "127.0.0.1", 80, 1, "rest");
    routes_table_t *t = build(c, &sk);
    assert_int_equal(t->n, 5);
    assert_string_equal(t->b[0]->path, "/hello/v10");
    assert_string_equal(t->b[1]->path, "/hello/v1"); /* same length: by path */
    assert_string_equal(t->b[2]->path, "/zz/yy/xx");
    assert_string_equal(t->b[3]->path, "/hello");
    assert_string_equal(t->b[4]->path, "/a");
    routes_table_free(t);
    routes_catalog_free(c);
}

static void test_routes_hosts(void **st)
{
    skips_t sk = { 0 };
    routes_catalog_t *c = routes_catalog_new();
    routes_service_t *s = routes_catalog_add_service(c, "web");
    routes_instance_t *in = inst(s, "w1", "10.0.0.1", 80, 1, "rest");
    routes_instance_add_tag(in, "host=WWW.Example.com");
    routes_instance_add_tag(in, "host=evil.com\n  bind :9999");
    routes_instance_add_meta(in, "virtual_host", "a.example.com, b.example.com,bad host");
    s = routes_catalog_add_service(c, "zweb");
    in = inst(s, "z1", "10.0.0.2", 80, 1, "rest");
    routes_instance_add_tag(in, "host=a.example.com"); /* already web's */
    routes_instance_add_tag(in, "host=z.example.com");
    routes_table_t *t = build(c, &sk);
    const routes_backend_t *b = routes_table_find(t, "web");
    assert_int_equal(b->nhosts, 3);
    assert_string_equal(b->hosts[0], "a.example.com");
    assert_string_equal(b->hosts[1], "b.example.com");
    assert_string_equal(b->hosts[2], "www.example.com");
    b = routes_table_find(t, "zweb");
    assert_int_equal(b->nhosts, 1);
    assert_string_equal(b->hosts[0], "z.example.com");
    assert_int_equal(sk.n, 3);
    assert_non_null(strstr(sk.all, "already routed"));
    assert_non_null(strstr(sk.all, "\"evil.com\\n  bind :9999\""));
    routes_table_free(t);
    routes_catalog_free(c);
}

static void test_routes_hostile(void **st)
{
    skips_t sk = { 0 };
    routes_catalog_t *c = hello_catalog();
    inst(routes_catalog_add_service(c, "x\n  bind :9999"), "x", "127.0.0.1", 80, 1, "rest");
    routes_service_t *s = routes_catalog_add_service(c, "ok");
    inst(s, "bad-addr", "1.2.3.4 backup", 80, 1, "rest");
    inst(s, "bad-port", "1.2.3.4", 70000, 1, "rest");
    inst(s, "zero-port", "1.2.3.4", 0, 1, "rest");
    inst(s, "name-addr", "localhost", 80, 1, "rest");
    inst(s, "good", "1.2.3.5", 8080, 1, "rest");
    routes_instance_t *in = inst(s, "weird id/with space", "1.2.3.6", 8081, 1, "rest");
    routes_instance_add_meta(in, "weight", "1000\n");
    routes_instance_add_meta(in, "check_http", "/h\n  server x 1.1.1.1:1");
    routes_table_t *t = build(c, &sk);
    assert_int_equal(t->n, 2);
    const routes_backend_t *b = routes_table_find(t, "ok");
    assert_int_equal(b->nservers, 2);
    assert_string_equal(b->servers[0].name, "good");
    assert_true(b->servers[1].name[0] == 'i' && strlen(b->servers[1].name) == 17); /* hashed name */
    assert_string_equal(b->servers[1].id, "weird id/with space");
    assert_int_equal(b->servers[1].weight, 1);
    assert_null(b->check_path);
    assert_int_equal(sk.n, 7); /* name, 2 addresses, 2 ports, weight, check */
    char *cfg = render(t);
    assert_null(strstr(cfg, "9999"));
    assert_null(strstr(cfg, "backup"));
    assert_null(strstr(cfg, "70000"));
    assert_null(strstr(cfg, "1.1.1.1"));
    assert_null(strstr(cfg, "localhost"));
    assert_non_null(strstr(cfg, "server good 1.2.3.5:8080 weight 1\n"));
    int rc = haproxy_check(cfg);
    if (rc >= 0) assert_int_equal(rc, 0);
    free(cfg);
    routes_table_free(t);
    routes_catalog_free(c);
}

/* Server names are unique in a backend by construction: an instance whose ID is exactly the
 * hashed name another instance was given (container owners pick IDs) takes nothing from it. */
static void test_routes_server_names_unique(void **st)
{
    skips_t sk = { 0 };
    routes_catalog_t *c = routes_catalog_new();
    inst(routes_catalog_add_service(c, "web"), "weird id", "10.0.0.1", 80, 1, "rest");
    routes_table_t *t = build(c, &sk);
    char victim[64];
    snprintf(victim, sizeof victim, "%s", routes_table_find(t, "web")->servers[0].name);
    assert_true(victim[0] == 'i' && strlen(victim) == 17);
    routes_table_free(t);
    routes_catalog_free(c);

    /* the attacker's ID sorts first ('i' < 'w'): it used to take the name and the victim was
     * skipped as "registered twice" */
    c = routes_catalog_new();
    routes_service_t *s = routes_catalog_add_service(c, "web");
    inst(s, "weird id", "10.0.0.1", 80, 1, "rest");
    inst(s, victim, "10.0.0.2", 80, 1, "rest");
    routes_service_add_instance(s, "weird id", "node2", "10.0.0.3", 80, 1); /* same ID, other node */
    routes_instance_add_tag(&s->inst[2], "rest");
    memset(&sk, 0, sizeof sk);
    t = build(c, &sk);
    const routes_backend_t *b = routes_table_find(t, "web");
    assert_int_equal(b->nservers, 3);
    assert_int_equal(sk.n, 0);
    for (size_t i = 0; i < b->nservers; i++) {
        for (size_t j = i + 1; j < b->nservers; j++) assert_string_not_equal(b->servers[i].name, b->servers[j].name);
        if (!strcmp(b->servers[i].addr, "10.0.0.1")) assert_string_equal(b->servers[i].name, victim); /* stable */
        if (!strcmp(b->servers[i].addr, "10.0.0.2")) assert_string_not_equal(b->servers[i].name, victim);
    }
    routes_table_free(t);
    /* the same instance listed twice is still one server */
    inst(s, "weird id", "10.0.0.1", 80, 1, "rest");
    memset(&sk, 0, sizeof sk);
    t = build(c, &sk);
    assert_int_equal(routes_table_find(t, "web")->nservers, 3);
    assert_int_equal(sk.n, 1);
    assert_non_null(strstr(sk.last, "registered twice"));
    routes_table_free(t);
    routes_catalog_free(c);
}

/* The predicate the watcher asks before fetching anything for a service. */
static void test_routes_routable(void **st)
{
    assert_true(routes_service_routable("hello/v1"));
    assert_true(routes_service_routable("a.b_c-d"));
    assert_false(routes_service_routable(".."));
    assert_false(routes_service_routable("."));
    assert_false(routes_service_routable("a/../b"));
    assert_false(routes_service_routable("a//b"));
    assert_false(routes_service_routable("/a"));
    assert_false(routes_service_routable("x?y"));
    assert_false(routes_service_routable("a b"));
    assert_false(routes_service_routable(""));
}

static void test_routes_check_weight_kv(void **st)
{
    skips_t sk = { 0 };
    routes_catalog_t *c = hello_catalog();
    routes_service_t *s = &c->svc[0];
    routes_instance_add_meta(&s->inst[0], "check_http", "/health");
    routes_instance_add_meta(&s->inst[0], "weight", "10");
    routes_catalog_add_kv(c, "service/haproxy/maxconn", "512");
    routes_catalog_add_kv(c, "service/haproxy/timeouts/server", "45s");
    routes_catalog_add_kv(c, "service/haproxy/timeouts/connect", "5000");
    routes_catalog_add_kv(c, "service/haproxy/timeouts/client", "30s\n  bind :9999");
    routes_catalog_add_kv(c, "service/haproxy/timeouts/evil\nname", "1s");
    routes_catalog_add_kv(c, "service/haproxy/timeouts/deep/nested", "1s");
    routes_catalog_add_kv(c, "service/haproxy/timeoutsX", "1s");
    routes_catalog_add_kv(c, "other/maxconn", "7");
    routes_table_t *t = build(c, &sk);
    assert_int_equal(t->maxconn, 512);
    assert_int_equal(t->ntimeouts, 2);
    assert_string_equal(t->timeouts[0].key, "connect");
    assert_string_equal(t->timeouts[0].value, "5000");
    assert_string_equal(t->timeouts[1].key, "server");
    assert_int_equal(sk.n, 2);
    const routes_backend_t *b = t->b[0];
    assert_string_equal(b->check_path, "/health");
    assert_string_equal(b->servers[1].name, "hello-b");
    assert_int_equal(b->servers[1].weight, 10);
    char *cfg = render(t);
    assert_non_null(strstr(cfg, "    maxconn 512\n"));
    assert_non_null(strstr(cfg, "    timeout server 45s\n"));
    assert_non_null(strstr(cfg, "http-check send meth GET uri /health\n"));
    assert_non_null(strstr(cfg, "server hello-b 127.0.0.1:9002 weight 10 check"));
    assert_null(strstr(cfg, "9999"));
    int rc = haproxy_check(cfg);
    if (rc >= 0) assert_int_equal(rc, 0);
    free(cfg);
    routes_table_free(t);
    /* maxconn out of range is skipped */
    routes_catalog_add_kv(c, "service/haproxy/maxconn", "0"); /* later duplicate: first valid wins? no: last */
    routes_table_free(build(c, &sk));
    routes_catalog_free(c);
}

static void test_routes_from_json(void **st)
{
    const char *js = "[{\"Node\":{\"Node\":\"n1\",\"Address\":\"10.0.0.9\"},"
        "\"Service\":{\"ID\":\"a\",\"Service\":\"hello/v1\",\"Tags\":[\"rest\"],\"Address\":\"\",\"Port\":8080,"
        "\"Meta\":{\"check_http\":\"/ping\"}},\"Checks\":[{\"Status\":\"passing\"}]},"
        "{\"Node\":{\"Node\":\"n1\",\"Address\":\"10.0.0.9\"},"
        "\"Service\":{\"ID\":\"b\",\"Service\":\"hello/v1\",\"Tags\":[\"rest\"],\"Address\":\"10.0.0.7\",\"Port\":8081},"
        "\"Checks\":[{\"Status\":\"passing\"},{\"Status\":\"warning\"}]},"
        "{\"Service\":{\"ID\":\"c\",\"Tags\":[\"rest\"],\"Address\":\"10.0.0.8\",\"Port\":8082}},"
        "{\"Service\":{\"Tags\":[\"rest\"]}}, 42]";
    json_error_t e;
    json_t *j = json_loads(js, 0, &e);
    assert_non_null(j);
    routes_catalog_t *c = routes_catalog_new();
    assert_int_equal(routes_catalog_add_health(c, "hello/v1", j), 0);
    assert_int_equal(routes_catalog_add_health(c, "x", json_object_get(j, "nope")), -1);
    json_decref(j);
    j = json_loads("[{\"Key\":\"service/haproxy/maxconn\",\"Value\":\"MTAw\"},{\"Key\":\"k\",\"Value\":null}]", 0, &e);
    assert_int_equal(routes_catalog_set_kv(c, j), 0);
    json_decref(j);
    skips_t sk = { 0 };
    routes_table_t *t = build(c, &sk);
    assert_int_equal(t->maxconn, 100);
    assert_int_equal(t->n, 1);
    const routes_backend_t *b = t->b[0];
    assert_int_equal(b->nservers, 2); /* b is warning: out */
    assert_string_equal(b->servers[0].name, "a");
    assert_string_equal(b->servers[0].addr, "10.0.0.9"); /* node address fallback */
    assert_string_equal(b->servers[1].name, "c");
    assert_string_equal(b->check_path, "/ping");
    json_t *rj = routes_table_json(t);
    char *d = json_dumps(rj, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(strstr(d, "\"path\":\"/hello/v1\""));
    assert_non_null(strstr(d, "\"addr\":\"10.0.0.9\""));
    free(d);
    json_decref(rj);
    routes_table_free(t);
    routes_catalog_free(c);
}

/* ---- haproxy_cfg ---- */

static void test_cfg_render(void **st)
{
    skips_t sk = { 0 };
    routes_catalog_t *c = hello_catalog();
    routes_instance_add_tag(&c->svc[0].inst[0], "host=hello.example.com");
    inst(routes_catalog_add_service(c, "hello/v10"), "h10", "::1", 9010, 1, "rest");
    inst(routes_catalog_add_service(c, "a.b"), "ab", "127.0.0.1", 9011, 1, "rest");
    routes_table_t *t = build(c, &sk);
    char *cfg = render(t);
    assert_non_null(strstr(cfg, "stats socket /tmp/portolan-test-admin.sock mode 600 level admin\n"));
    assert_non_null(strstr(cfg, "    maxconn 4096\n"));
    assert_non_null(strstr(cfg, "frontend portolan\n    bind 127.0.0.1:18080\n"));
    assert_null(strstr(cfg, "@"));
    const char *host = strstr(cfg, "use_backend b_hello:v1 if { req.hdr(host),field(1,:),lower -m str hello.example.com }");
    const char *v10 = strstr(cfg, "use_backend b_hello:v10 if { path /hello/v10 } || { path_beg /hello/v10/ }");
    const char *v1 = strstr(cfg, "use_backend b_hello:v1 if { path /hello/v1 } || { path_beg /hello/v1/ }");
    assert_non_null(host);
    assert_non_null(v10);
    assert_non_null(v1);
    assert_true(host < v10 && v10 < v1);
    assert_non_null(strstr(cfg, "backend b_hello:v1\n    balance roundrobin\n"
                                "    http-request set-path / if { path /hello/v1 }\n"
                                "    http-request replace-path ^/hello/v1(/.*)$ \\1\n"));
    assert_non_null(strstr(cfg, "replace-path ^/a[.]b(/.*)$ \\1\n"));
    assert_non_null(strstr(cfg, "server h10 [::1]:9010 weight 1\n"));
    assert_non_null(strstr(cfg, "listen stats\n    bind 127.0.0.1:18081\n"));
    assert_non_null(strstr(cfg, "default_backend portolan_no_route"));
    int rc = haproxy_check(cfg);
    if (rc >= 0) assert_int_equal(rc, 0);
    /* deterministic */
    char *again = render(t);
    assert_string_equal(cfg, again);
    free(again);
    free(cfg);
    /* no routes at all still makes a valid config */
    routes_table_t empty = { 0 };
    cfg = render(&empty);
    rc = haproxy_check(cfg);
    if (rc >= 0) assert_int_equal(rc, 0);
    free(cfg);
    haproxy_cfg_opts_t bad = { .base = "", .bind = "1.2.3.4:80\n  mode tcp", .admin_socket = "/tmp/a" };
    assert_non_null(haproxy_cfg_check_opts(&bad));
    routes_table_free(t);
    routes_catalog_free(c);
}

/* ---- diff ---- */

static void test_diff(void **st)
{
    skips_t sk = { 0 };
    routes_catalog_t *c1 = hello_catalog();
    routes_table_t *t1 = build(c1, &sk);
    diff_t d;
    diff_tables(NULL, t1, &d);
    assert_true(d.structural);
    diff_clear(&d);
    routes_table_t *t1b = build(c1, &sk);
    diff_tables(t1, t1b, &d);
    assert_false(d.structural);
    assert_int_equal(d.nops, 0);
    diff_clear(&d);
    assert_true(diff_equal(t1, t1b));

    /* add an instance, drop one (critical), move one, re-weight one */
    routes_catalog_t *c2 = routes_catalog_new();
    routes_service_t *s = routes_catalog_add_service(c2, "hello/v1");
    inst(s, "hello-a", "127.0.0.2", 9001, 1, "rest");          /* moved */
    inst(s, "hello-b", "127.0.0.1", 9002, 0, "rest");          /* critical -> del */
    routes_instance_t *in = inst(s, "hello-c", "127.0.0.1", 9003, 1, "rest"); /* new */
    routes_instance_add_meta(in, "weight", "5");
    routes_table_t *t2 = build(c2, &sk);
    diff_tables(t1, t2, &d);
    assert_false(d.structural);
    assert_int_equal(d.nops, 3);
    assert_int_equal(d.ops[0].kind, DIFF_ADDR);
    assert_string_equal(d.ops[0].s->name, "hello-a");
    assert_string_equal(d.ops[0].s->addr, "127.0.0.2");
    assert_int_equal(d.ops[1].kind, DIFF_DEL);
    assert_string_equal(d.ops[1].s->name, "hello-b");
    assert_int_equal(d.ops[2].kind, DIFF_ADD);
    assert_string_equal(d.ops[2].s->name, "hello-c");
    assert_string_equal(d.ops[2].b->backend, "b_hello:v1");
    diff_clear(&d);
    assert_false(diff_equal(t1, t2));

    /* weight only */
    routes_instance_add_meta(&c1->svc[0].inst[0], "weight", "7");
    routes_table_t *t3 = build(c1, &sk);
    diff_tables(t1, t3, &d);
    assert_int_equal(d.nops, 1);
    assert_int_equal(d.ops[0].kind, DIFF_WEIGHT);
    assert_int_equal(d.ops[0].s->weight, 7);
    diff_clear(&d);

    /* a new service is structural; so are hosts, checks and KV */
    inst(routes_catalog_add_service(c1, "new"), "n", "127.0.0.1", 1, 1, "rest");
    routes_table_t *t4 = build(c1, &sk);
    diff_tables(t3, t4, &d);
    assert_true(d.structural);
    assert_int_equal(d.nops, 0);
    assert_string_equal(d.reason, "route added");
    diff_clear(&d);
    diff_tables(t4, t3, &d);
    assert_true(d.structural);
    diff_clear(&d);
    routes_instance_add_tag(&c1->svc[0].inst[1], "host=x.example.com");
    routes_table_t *t5 = build(c1, &sk);
    diff_tables(t4, t5, &d);
    assert_true(d.structural);
    assert_non_null(strstr(d.reason, "hosts"));
    diff_clear(&d);
    routes_catalog_add_kv(c1, "service/haproxy/maxconn", "100");
    routes_table_t *t6 = build(c1, &sk);
    diff_tables(t5, t6, &d);
    assert_true(d.structural);
    diff_clear(&d);
    routes_instance_add_meta(&c1->svc[0].inst[1], "check_http", "/h");
    routes_table_t *t7 = build(c1, &sk);
    diff_tables(t6, t7, &d);
    assert_true(d.structural);
    diff_clear(&d);

    routes_table_t *ts[] = { t1, t1b, t2, t3, t4, t5, t6, t7 };
    for (size_t i = 0; i < 8; i++) routes_table_free(ts[i]);
    routes_catalog_free(c1);
    routes_catalog_free(c2);
}

static void test_routes_incremental(void **st)
{
    skips_t sk = { 0 };
    routes_catalog_t *c = hello_catalog();
    inst(routes_catalog_add_service(c, "web"), "w", "127.0.0.1", 80, 1, "rest");
    routes_instance_add_tag(&c->svc[2].inst[0], "host=web.example.com");
    for (size_t i = 0; i < c->nsvc; i++) c->svc[i].version = 1;
    routes_table_t *t1 = build(c, &sk);
    /* same versions: hello/v1 is shared, web (host candidates) is rebuilt */
    routes_options_t o = { 0 };
    routes_table_t *t2 = routes_build_from(c, &o, t1, on_skip, &sk);
    assert_ptr_equal(routes_table_find(t1, "hello/v1"), routes_table_find(t2, "hello/v1"));
    assert_ptr_not_equal(routes_table_find(t1, "web"), routes_table_find(t2, "web"));
    assert_true(diff_equal(t1, t2));
    /* a new version of hello/v1 is rebuilt, and the diff sees the change */
    c->svc[0].inst[0].passing = 0;
    c->svc[0].version = 2;
    routes_table_t *t3 = routes_build_from(c, &o, t2, on_skip, &sk);
    assert_ptr_not_equal(routes_table_find(t2, "hello/v1"), routes_table_find(t3, "hello/v1"));
    assert_int_equal(routes_table_find(t3, "hello/v1")->nservers, 1);
    diff_t d;
    diff_tables(t2, t3, &d);
    assert_int_equal(d.nops, 1);
    assert_int_equal(d.ops[0].kind, DIFF_DEL);
    diff_clear(&d);
    /* version 0 is never shared; a shared copy outlives the original */
    routes_table_t *keep = routes_table_share(t3);
    routes_table_free(t1);
    routes_table_free(t2);
    routes_table_free(t3);
    assert_string_equal(routes_table_find(keep, "hello/v1")->path, "/hello/v1");
    for (size_t i = 0; i < c->nsvc; i++) c->svc[i].version = 0;
    routes_table_t *t4 = routes_build_from(c, &o, keep, on_skip, &sk);
    assert_ptr_not_equal(routes_table_find(keep, "hello/v1"), routes_table_find(t4, "hello/v1"));
    assert_true(diff_equal(keep, t4));
    routes_table_free(keep);
    routes_table_free(t4);
    routes_catalog_free(c);
}

static void test_runtime_answers(void **st)
{
    const char *proc =
        "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
        "17681           master          3 [failed: 1]   0d00h00m05s     2.6.12-1+deb12u4\n"
        "# workers\n"
        "17837           worker          0               0d00h00m01s     2.6.12-1+deb12u4\n"
        "17700           worker          1               0d00h00m09s     2.6.12-1+deb12u4\n"
        "# programs\n\n";
    long r = -1, f = -1, w = -1;
    assert_int_equal(haproxy_runtime_parse_proc(proc, &r, &f, &w), 0);
    assert_int_equal(r, 3);
    assert_int_equal(f, 1);
    assert_int_equal(w, 2);
    assert_int_equal(haproxy_runtime_parse_proc("Unknown command\n", &r, &f, &w), -1);
    assert_int_equal(haproxy_runtime_parse_proc("", &r, &f, &w), -1);
    assert_false(haproxy_runtime_answer_failed("\n"));
    assert_false(haproxy_runtime_answer_failed("New server registered.\n\n\n"));
    assert_false(haproxy_runtime_answer_failed("Server deleted.\n"));
    assert_true(haproxy_runtime_answer_failed("No such server.\n"));
    assert_true(haproxy_runtime_answer_failed("Already exists a server with the same name in backend.\n"));
    assert_true(haproxy_runtime_answer_failed("Backend must use a dynamic load balancing to support dynamic servers.\n"));
    assert_true(haproxy_runtime_answer_failed("Server still has connections attached to it, cannot remove it.\n"));
    assert_true(haproxy_runtime_answer_failed("Permission denied\n"));
}

static void test_check_reason(void **st)
{
    char buf[512];
    /* HAProxy 2.6's words for a refused file: the ALERT that says why, without prefix or trailers */
    const char *out =
        "[NOTICE]   (11634) : haproxy version is 2.6.12-1+deb12u4\n"
        "[NOTICE]   (11634) : path to executable is /usr/sbin/haproxy\n"
        "[ALERT]    (11634) : config : parsing [h.cfg.tmp:25] : timer overflow in argument '25d' to 'timeout connect' (maximum value is 2147483647 ms or ~24.8 days)\n"
        "[ALERT]    (11634) : config : Error(s) found in configuration file : h.cfg.tmp\n"
        "[ALERT]    (11634) : config : Fatal errors found in configuration.\n";
    haproxy_check_reason(out, strlen(out), buf, sizeof buf);
    assert_string_equal(buf, "parsing [h.cfg.tmp:25] : timer overflow in argument '25d' to 'timeout connect' "
                             "(maximum value is 2147483647 ms or ~24.8 days)");
    /* several ALERTs are joined; WARNINGs are left out when there are ALERTs */
    const char *two = "[WARNING]  (1) : config : something minor\n"
                      "[ALERT]    (1) : config : parsing [a:1] : first\r\n"
                      "[ALERT]    (1) : config : parsing [a:2] : second";
    haproxy_check_reason(two, strlen(two), buf, sizeof buf);
    assert_string_equal(buf, "parsing [a:1] : first | parsing [a:2] : second");
    /* no ALERT: the last non-empty line; only generic ALERTs: the last of them */
    const char *plain = "something else went wrong\n\n";
    haproxy_check_reason(plain, strlen(plain), buf, sizeof buf);
    assert_string_equal(buf, "something else went wrong");
    const char *generic = "[ALERT]    (1) : config : Fatal errors found in configuration.\n";
    haproxy_check_reason(generic, strlen(generic), buf, sizeof buf);
    assert_string_equal(buf, "[ALERT]    (1) : config : Fatal errors found in configuration.");
    /* nothing printed; control bytes; bounded, with "..." (len is honoured: no NUL needed) */
    assert_int_equal(haproxy_check_reason("", 0, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    const char *ctl = "[ALERT]    (1) : bad \x1b[31mcolour\x7f\n";
    haproxy_check_reason(ctl, strlen(ctl), buf, sizeof buf);
    assert_string_equal(buf, "bad ?[31mcolour?");
    char small[16];
    const char *lng = "[ALERT]    (1) : config : 0123456789abcdefghijXYZ";
    assert_int_equal(haproxy_check_reason(lng, strlen(lng) - 3, small, sizeof small), 15);
    assert_string_equal(small, "0123456789ab...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_names),
        cmocka_unit_test(test_validate_hosts),
        cmocka_unit_test(test_validate_addr_port),
        cmocka_unit_test(test_routes_basic),
        cmocka_unit_test(test_routes_health_and_tag),
        cmocka_unit_test(test_routes_longest_first),
        cmocka_unit_test(test_routes_hosts),
        cmocka_unit_test(test_routes_hostile),
        cmocka_unit_test(test_routes_server_names_unique),
        cmocka_unit_test(test_routes_routable),
        cmocka_unit_test(test_routes_check_weight_kv),
        cmocka_unit_test(test_routes_from_json),
        cmocka_unit_test(test_cfg_render),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_routes_incremental),
        cmocka_unit_test(test_runtime_answers),
        cmocka_unit_test(test_check_reason),
        cmocka_unit_test(test_base_builtin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
