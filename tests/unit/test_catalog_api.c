/* Unit tests for portolan-catalog's request path (catalog/api.c, decode.c, store.c), driven
 * without sockets: status codes, error texts, index rules and the blocking decision. */
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
#include "store.h"
#include "catalog_fixture.h"

static int64_t fake_now = 1000;
static int64_t now_ms(void) { return fake_now; }

typedef catfx_t fx_t;

static int setup(void **state) { return catfx_setup(state, now_ms); }
static int teardown(void **state) { return catfx_teardown(state); }

static void body_is(api_response_t *r, const char *want)
{
    assert_non_null(r->body);
    assert_string_equal(r->body, want);
}

static void test_register_errors(void **state)
{
    fx_t *f = *state;
    const char *R = "/v1/agent/service/register";
    struct { const char *body; int status; const char *text; } cases[] = {
        {"", 400, "Request decode failed: EOF"},
        {"{", 400, NULL},
        {"{\"Name\":\"x\",\"Bogus\":1}", 400, "Request decode failed: json: unknown field \"Bogus\""},
        {"{\"Name\":1}", 400, NULL},
        {"{\"ID\":\"x\"}", 400, "Missing service name"},
        {"{\"Name\":\"x\",\"Address\":\"0.0.0.0\"}", 400, "Invalid service address"},
        {"{\"Name\":\"x\",\"Weights\":{\"Passing\":0,\"Warning\":1}}", 400, "Invalid Weights: Passing must be greater than 0"},
        {"{\"Name\":\"x\",\"Meta\":{\"a b\":\"c\"}}", 400, "Invalid Service Meta: Couldn't load metadata pair ('a b', 'c'): Key contains invalid characters"},
        {"{\"Name\":\"x\",\"Meta\":{\"consul-x\":\"c\"}}", 400, "Invalid Service Meta: Couldn't load metadata pair ('consul-x', 'c'): Key prefix 'consul-' is reserved for internal use"},
        {"{\"Name\":\"x\",\"Check\":{\"TTL\":\"10s\",\"Interval\":\"10s\"}}", 400, "Invalid check: Interval and TTL cannot both be specified"},
        {"{\"Name\":\"x\",\"Check\":{\"HTTP\":\"http://a/\"}}", 400, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"},
        {"{\"Name\":\"x\",\"Check\":{\"Notes\":\"n\"}}", 400, "Invalid check: TTL must be > 0 for TTL checks"},
        {"{\"Name\":\"x\",\"Check\":{\"TTL\":\"10s\",\"Status\":\"bad\"}}", 400, "Status for checks must 'passing', 'warning', 'critical'"},
        {"{\"Name\":\"x\",\"Check\":{\"TTL\":\"10\"}}", 400, "Request decode failed: time: missing unit in duration \"10\""},
        {"{\"Name\":\"x\",\"Check\":{\"Args\":[\"true\"],\"Interval\":\"10s\"}}", 500, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        api_response_t *r = catfx_call(f, "PUT", R, cases[i].body, NULL);
        assert_int_equal(r->status, cases[i].status);
        if (cases[i].text)
            body_is(r, cases[i].text);
    }
    /* nothing of the above registered anything */
    api_response_t *r = catfx_call(f, "GET", "/v1/agent/services", NULL, NULL);
    body_is(r, "{}");
}

static void test_register_decoding(void **state)
{
    fx_t *f = *state;
    api_response_t *r = catfx_call(f, "PUT", "/v1/agent/service/register",
                             "{\"name\":\"web\",\"ID\":\"w1\",\"TAGS\":[\"a\"],\"port\":80,\"address\":\"10.0.0.1\","
                             "\"enable_tag_override\":true,\"Meta\":null,\"Checks\":[{\"TTL\":\"5s\"},{\"TTL\":1000000000}]}", NULL);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->len, 0);
    r = catfx_call(f, "GET", "/v1/agent/services", NULL, NULL);
    json_t *j = json_loads(r->body, 0, NULL);
    json_t *w = json_object_get(j, "w1");
    assert_string_equal(json_string_value(json_object_get(w, "Service")), "web");
    assert_int_equal(json_integer_value(json_object_get(w, "Port")), 80);
    assert_true(json_is_true(json_object_get(w, "EnableTagOverride")));
    assert_non_null(json_object_get(json_object_get(w, "TaggedAddresses"), "lan_ipv4"));
    json_decref(j);
    r = catfx_call(f, "GET", "/v1/agent/checks", NULL, NULL);
    j = json_loads(r->body, 0, NULL);
    json_t *c1 = json_object_get(j, "service:w1:1"), *c2 = json_object_get(j, "service:w1:2");
    assert_non_null(c1);
    assert_non_null(c2);
    assert_string_equal(json_string_value(json_object_get(c1, "Name")), "Service 'web' check");
    assert_string_equal(json_string_value(json_object_get(c1, "Status")), "critical");
    assert_string_equal(json_string_value(json_object_get(c1, "Type")), "ttl");
    json_decref(j);
}

static uint64_t idx(fx_t *f, const char *path)
{
    api_response_t *r = catfx_call(f, "GET", path, NULL, NULL);
    assert_true(r->has_index);
    assert_true(r->index > 0);
    return r->index;
}

static void test_index_rules(void **state)
{
    fx_t *f = *state;
    const char *R = "/v1/agent/service/register";
    catfx_call(f, "PUT", R, "{\"Name\":\"a\",\"ID\":\"a1\",\"Port\":1}", NULL);
    catfx_call(f, "PUT", R, "{\"Name\":\"b\",\"ID\":\"b1\",\"Port\":1}", NULL);
    uint64_t ia = idx(f, "/v1/health/service/a"), ib = idx(f, "/v1/health/service/b");
    uint64_t is = idx(f, "/v1/catalog/services");
    /* identical re-registration: no index moves */
    catfx_call(f, "PUT", R, "{\"Name\":\"a\",\"ID\":\"a1\",\"Port\":1}", NULL);
    assert_int_equal(idx(f, "/v1/health/service/a"), ia);
    assert_int_equal(idx(f, "/v1/catalog/services"), is);
    /* a change to a raises a's index, not b's */
    catfx_call(f, "PUT", R, "{\"Name\":\"a\",\"ID\":\"a1\",\"Port\":2}", NULL);
    assert_true(idx(f, "/v1/health/service/a") > ia);
    assert_int_equal(idx(f, "/v1/health/service/b"), ib);
    /* name matching is case-insensitive */
    assert_int_equal(idx(f, "/v1/health/service/A"), idx(f, "/v1/health/service/a"));
    /* deregistering raises the index of the name even though it is gone */
    uint64_t before = idx(f, "/v1/catalog/service/b");
    catfx_call(f, "PUT", "/v1/agent/service/deregister/b1", NULL, NULL);
    assert_true(idx(f, "/v1/catalog/service/b") > before);
    api_response_t *r = catfx_call(f, "PUT", "/v1/agent/service/deregister/b1", NULL, NULL);
    assert_int_equal(r->status, 404);
    body_is(r, "Unknown service ID \"b1\". Ensure that the service ID is passed, not the service name.");
}

static void test_blocking_decision(void **state)
{
    fx_t *f = *state;
    catfx_call(f, "PUT", "/v1/agent/service/register", "{\"Name\":\"a\",\"ID\":\"a1\"}", NULL);
    uint64_t i = idx(f, "/v1/health/service/a");
    char ib[32];
    snprintf(ib, sizeof ib, "%llu", (unsigned long long)i);
    api_response_t *r = catfx_call(f, "GET", "/v1/health/service/a", NULL, "index", ib, "wait", "30s", NULL);
    assert_true(r->block);
    assert_int_equal(r->wait_ms, 30000);
    assert_true(r->watch & API_WATCH_SERVICE);
    assert_string_equal(r->watch_service, "a");
    r = catfx_call(f, "GET", "/v1/health/service/a", NULL, "index", "1", NULL);
    assert_false(r->block);
    assert_int_equal(r->status, 200);
    r = catfx_call(f, "GET", "/v1/health/service/a", NULL, "index", ib, "wait", "20m", NULL);
    assert_int_equal(r->wait_ms, 600000);          /* capped at 10m */
    r = catfx_call(f, "GET", "/v1/health/service/a", NULL, "index", ib, NULL);
    assert_int_equal(r->wait_ms, 300000);          /* default 5m */
    r = catfx_call(f, "GET", "/v1/health/service/a", NULL, "index", "x", NULL);
    assert_int_equal(r->status, 400);
    body_is(r, "Invalid index");
    r = catfx_call(f, "GET", "/v1/health/service/a", NULL, "wait", "10", NULL);
    assert_int_equal(r->status, 400);
    body_is(r, "Invalid wait time");
    r = catfx_call(f, "GET", "/v1/catalog/services", NULL, "stale", "", "consistent", "", NULL);
    assert_int_equal(r->status, 400);
    body_is(r, "Cannot specify ?stale with ?consistent, conflicting semantics.");
    r = catfx_call(f, "GET", "/v1/catalog/services", NULL, "stale", "", NULL);
    assert_string_equal(r->consistency, "stale");
    r = catfx_call(f, "GET", "/v1/agent/services", NULL, "index", ib, NULL);
    assert_false(r->block);                        /* agent endpoints never block */
}

static void test_health_filters(void **state)
{
    fx_t *f = *state;
    const char *R = "/v1/agent/service/register";
    catfx_call(f, "PUT", R, "{\"Name\":\"s\",\"ID\":\"s1\",\"Tags\":[\"Rest\",\"v1\"],\"Check\":{\"TTL\":\"1m\",\"Status\":\"passing\"}}", NULL);
    catfx_call(f, "PUT", R, "{\"Name\":\"s\",\"ID\":\"s2\",\"Tags\":[\"rest\"],\"Check\":{\"TTL\":\"1m\",\"Status\":\"warning\"}}", NULL);
    api_response_t *r = catfx_call(f, "GET", "/v1/health/service/s", NULL, NULL);
    json_t *j = json_loads(r->body, 0, NULL);
    assert_int_equal(json_array_size(j), 2);
    /* node check first */
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(json_array_get(j, 0), "Checks"), 0), "CheckID")), "serfHealth");
    json_decref(j);
    r = catfx_call(f, "GET", "/v1/health/service/s", NULL, "passing", "", NULL);
    j = json_loads(r->body, 0, NULL);
    assert_int_equal(json_array_size(j), 1); /* warning counts as failing */
    json_decref(j);
    r = catfx_call(f, "GET", "/v1/health/service/s", NULL, "tag", "rest", "tag", "V1", NULL);
    j = json_loads(r->body, 0, NULL);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    r = catfx_call(f, "GET", "/v1/health/service/s", NULL, "passing", "maybe", NULL);
    assert_int_equal(r->status, 400);
    body_is(r, "Invalid value for ?passing");
    r = catfx_call(f, "GET", "/v1/catalog/services", NULL, NULL);
    body_is(r, "{\"consul\":[],\"s\":[\"Rest\",\"rest\",\"v1\"]}");
    r = catfx_call(f, "GET", "/v1/catalog/service/", NULL, NULL);
    assert_int_equal(r->status, 400);
    body_is(r, "Missing service name");
}

static void test_checks_api(void **state)
{
    fx_t *f = *state;
    catfx_call(f, "PUT", "/v1/agent/service/register", "{\"Name\":\"s\",\"Check\":{\"CheckID\":\"c\",\"TTL\":\"1m\"}}", NULL);
    api_response_t *r = catfx_call(f, "PUT", "/v1/agent/check/pass/c", NULL, "note", "fine", NULL);
    assert_int_equal(r->status, 200);
    r = catfx_call(f, "PUT", "/v1/agent/check/update/c", "{\"Status\":\"nope\"}", NULL);
    assert_int_equal(r->status, 400);
    body_is(r, "Invalid check status: 'nope'");
    r = catfx_call(f, "PUT", "/v1/agent/check/fail/zz", NULL, NULL);
    assert_int_equal(r->status, 404);
    body_is(r, "Unknown check ID \"zz\". Ensure that the check ID is passed, not the check name.");
    r = catfx_call(f, "GET", "/v1/agent/check/pass/c", NULL, NULL);
    assert_int_equal(r->status, 405);
    body_is(r, "method GET not allowed");
    assert_string_equal(r->allow, "OPTIONS,PUT");
    /* output truncation */
    char *big = malloc(6000);
    memset(big, 'x', 5999);
    big[5999] = '\0';
    char body[6100];
    snprintf(body, sizeof body, "{\"Status\":\"warning\",\"Output\":\"%s\"}", big);
    catfx_call(f, "PUT", "/v1/agent/check/update/c", body, NULL);
    cat_check_t *c = store_check(f->api.store, "c");
    assert_string_equal(c->status, "warning");
    assert_non_null(strstr(c->output, " ... (captured 4096 of 5999 bytes)"));
    free(big);
    /* maintenance */
    r = catfx_call(f, "PUT", "/v1/agent/service/maintenance/s", NULL, "enable", "true", "reason", "upgrade", NULL);
    assert_int_equal(r->status, 200);
    c = store_check(f->api.store, "_service_maintenance:s");
    assert_non_null(c);
    assert_string_equal(c->status, "critical");
    assert_string_equal(c->notes, "upgrade");
    catfx_call(f, "PUT", "/v1/agent/service/maintenance/s", NULL, "enable", "false", NULL);
    assert_null(store_check(f->api.store, "_service_maintenance:s"));
}

static void test_kv(void **state)
{
    fx_t *f = *state;
    api_response_t *r = catfx_call(f, "PUT", "/v1/kv/a/b", "1", "flags", "5", NULL);
    body_is(r, "true");
    catfx_call(f, "PUT", "/v1/kv/a/c/d", "2", NULL);
    catfx_call(f, "PUT", "/v1/kv/a/c/e", "3", NULL);
    catfx_call(f, "PUT", "/v1/kv/b", "4", NULL);
    r = catfx_call(f, "GET", "/v1/kv/a/", NULL, "keys", "", "separator", "/", NULL);
    body_is(r, "[\"a/b\",\"a/c/\"]");
    r = catfx_call(f, "GET", "/v1/kv/", NULL, "keys", "", NULL);
    body_is(r, "[\"a/b\",\"a/c/d\",\"a/c/e\",\"b\"]");
    r = catfx_call(f, "GET", "/v1/kv/a/b", NULL, "raw", "", NULL);
    assert_int_equal(r->len, 1);
    assert_memory_equal(r->body, "1", 1);
    r = catfx_call(f, "GET", "/v1/kv/a/b", NULL, NULL);
    json_t *j = json_loads(r->body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "Flags")), 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "Value")), "MQ==");
    uint64_t mi = (uint64_t)json_integer_value(json_object_get(json_array_get(j, 0), "ModifyIndex"));
    json_decref(j);
    /* cas */
    body_is(catfx_call(f, "PUT", "/v1/kv/a/b", "x", "cas", "0", NULL), "false");
    char ms[32];
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)mi + 100);
    body_is(catfx_call(f, "PUT", "/v1/kv/a/b", "x", "cas", ms, NULL), "false");
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)mi);
    body_is(catfx_call(f, "PUT", "/v1/kv/a/b", "x", "cas", ms, NULL), "true");
    /* empty value is null */
    catfx_call(f, "PUT", "/v1/kv/empty", "", NULL);
    r = catfx_call(f, "GET", "/v1/kv/empty", NULL, NULL);
    assert_non_null(strstr(r->body, "\"Value\":null"));
    /* missing key: 404 with an index */
    r = catfx_call(f, "GET", "/v1/kv/missing", NULL, NULL);
    assert_int_equal(r->status, 404);
    assert_true(r->has_index);
    r = catfx_call(f, "GET", "/v1/kv/", NULL, NULL);
    assert_int_equal(r->status, 400);
    body_is(r, "Missing key name");
    /* tombstones keep a prefix's index from going backwards */
    r = catfx_call(f, "GET", "/v1/kv/a/c/", NULL, "recurse", "", NULL);
    uint64_t before = r->index;
    body_is(catfx_call(f, "DELETE", "/v1/kv/a/c/", NULL, "recurse", "", NULL), "true");
    r = catfx_call(f, "GET", "/v1/kv/a/c/", NULL, "recurse", "", NULL);
    assert_int_equal(r->status, 404);
    assert_true(r->index > before);
    body_is(catfx_call(f, "DELETE", "/v1/kv/never", NULL, NULL), "true");
    r = catfx_call(f, "POST", "/v1/kv/x", "1", NULL);
    assert_int_equal(r->status, 405);
    assert_string_equal(r->allow, "OPTIONS,GET,PUT,DELETE");
}

static void test_misc(void **state)
{
    fx_t *f = *state;
    api_response_t *r = catfx_call(f, "GET", "/v1/nope", NULL, NULL);
    assert_int_equal(r->status, 404);
    body_is(r, "Invalid URL path: not a recognized HTTP API endpoint\n");
    r = catfx_call(f, "GET", "/v1/status/leader", NULL, NULL);
    body_is(r, "\"127.0.0.1:8300\"");
    r = catfx_call(f, "GET", "/v1/catalog/services", NULL, "dc", "dc9", NULL);
    assert_int_equal(r->status, 500);
    body_is(r, "No path to datacenter");
    r = catfx_call(f, "GET", "/v1/status/peers", NULL, "pretty", "", NULL);
    body_is(r, "[\n    \"127.0.0.1:8300\"\n]\n");
    r = catfx_call(f, "OPTIONS", "/v1/agent/service/register", NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->allow, "OPTIONS,PUT");
    r = catfx_call(f, "GET", "/v1/agent/self", NULL, NULL);
    json_t *j = json_loads(r->body, 0, NULL);
    assert_int_equal(json_object_size(j), 6);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "Stats"), "consul"), "leader_addr")),
                        "127.0.0.1:8300");
    json_decref(j);
    r = catfx_call(f, "GET", "/v1/health/service/consul", NULL, NULL);
    assert_non_null(strstr(r->body, "\"Port\":8300"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_decoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocking_decision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checks_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misc, setup, teardown),
    };
    return cmocka_run_group_tests_name("catalog_api", tests, NULL, NULL);
}
