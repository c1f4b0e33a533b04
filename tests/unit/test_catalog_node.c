/* Unit tests for the catalog's node-level endpoints (catalog/api_node.c, node_maint.c) and
 * /v1/health/node, driven without sockets: shapes, status codes, error texts, indexes. */
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
#include "node_maint.h"
#include "store.h"
#include "catalog_fixture.h"

static int64_t now_ms(void) { return 1000; }

typedef catfx_t fx_t;

static int setup(void **state) { return catfx_setup(state, now_ms); }
static int teardown(void **state) { return catfx_teardown(state); }

static void web(fx_t *f)
{
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/service/register",
                          "{\"Name\":\"web\",\"ID\":\"web-1\",\"Port\":80,\"Check\":{\"TTL\":\"60s\",\"Status\":\"passing\"}}", NULL)->status, 200);
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/check/register",
                          "{\"Name\":\"disk\",\"CheckID\":\"disk\",\"TTL\":\"60s\",\"Status\":\"passing\"}", NULL)->status, 200);
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/check/register",
                          "{\"Name\":\"web extra\",\"CheckID\":\"aaa-web\",\"ServiceID\":\"web-1\",\"TTL\":\"60s\",\"Status\":\"passing\"}", NULL)->status, 200);
}

static void test_health_node_has_every_check(void **state)
{
    fx_t *f = *state;
    web(f);
    json_t *j = catfx_json(catfx_call(f, "GET", "/v1/health/node/node1", NULL, NULL));
    /* node checks and service checks together, by CheckID, as Consul's NodeChecks */
    const char *want[] = {"aaa-web", "disk", "serfHealth", "service:web-1"};
    assert_int_equal(json_array_size(j), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(j, i), "CheckID")), want[i]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "ServiceID")), "web-1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "ServiceName")), "web");
    json_decref(j);
    assert_true(f->r.has_index);
    /* node names compare case-insensitively; an unknown node is an empty list */
    j = catfx_json(catfx_call(f, "GET", "/v1/health/node/NODE1", NULL, NULL));
    assert_int_equal(json_array_size(j), 4);
    json_decref(j);
    j = catfx_json(catfx_call(f, "GET", "/v1/health/node/other", NULL, NULL));
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
}

static void test_node_maintenance(void **state)
{
    fx_t *f = *state;
    web(f);
    api_response_t *r = catfx_call(f, "PUT", "/v1/agent/maintenance", NULL, NULL);
    assert_int_equal(r->status, 400);
    assert_string_equal(r->body, "Missing value for enable");
    r = catfx_call(f, "PUT", "/v1/agent/maintenance", NULL, "enable", "maybe", NULL);
    assert_int_equal(r->status, 400);
    assert_string_equal(r->body, "Invalid value for enable: \"maybe\"");
    r = catfx_call(f, "GET", "/v1/agent/maintenance", NULL, "enable", "true", NULL);
    assert_int_equal(r->status, 405);
    uint64_t before = store_index(f->api.store);
    r = catfx_call(f, "PUT", "/v1/agent/maintenance", NULL, "enable", "true", "reason", "kernel upgrade", NULL);
    assert_int_equal(r->status, 200);
    assert_null(r->body);
    assert_true(r->wrote);
    assert_true(store_index(f->api.store) > before);
    cat_check_t *c = store_check(f->api.store, NODE_MAINT_CHECK_ID);
    assert_non_null(c);
    assert_string_equal(c->name, "Node Maintenance Mode");
    assert_string_equal(c->status, "critical");
    assert_string_equal(c->notes, "kernel upgrade");
    /* a node check: every instance on the node fails ?passing */
    json_t *j = catfx_json(catfx_call(f, "GET", "/v1/health/service/web", NULL, "passing", "", NULL));
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    /* enabling again keeps the first reason and writes nothing */
    r = catfx_call(f, "PUT", "/v1/agent/maintenance", NULL, "enable", "true", "reason", "other", NULL);
    assert_int_equal(r->status, 200);
    assert_false(r->wrote);
    assert_string_equal(node_maint_reason(f->api.store), "kernel upgrade");
    r = catfx_call(f, "PUT", "/v1/agent/maintenance", NULL, "enable", "false", NULL);
    assert_int_equal(r->status, 200);
    assert_true(r->wrote);
    assert_null(store_check(f->api.store, NODE_MAINT_CHECK_ID));
    j = catfx_json(catfx_call(f, "GET", "/v1/health/service/web", NULL, "passing", "", NULL));
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    /* the default reason */
    catfx_call(f, "PUT", "/v1/agent/maintenance", NULL, "enable", "1", NULL);
    assert_string_equal(node_maint_reason(f->api.store),
                        "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.");
}

static void test_catalog_node(void **state)
{
    fx_t *f = *state;
    web(f);
    json_t *j = catfx_json(catfx_call(f, "GET", "/v1/catalog/node/node1", NULL, NULL));
    assert_int_equal(f->r.status, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "Node"), "Node")), "node1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "Node"), "Address")), "127.0.0.1");
    json_t *svcs = json_object_get(j, "Services");
    assert_true(json_is_object(svcs));
    assert_int_equal(json_object_size(svcs), 2);             /* consul and web-1 */
    json_t *w = json_object_get(svcs, "web-1");
    assert_string_equal(json_string_value(json_object_get(w, "Service")), "web");
    assert_int_equal(json_integer_value(json_object_get(w, "Port")), 80);
    assert_true(json_integer_value(json_object_get(w, "CreateIndex")) > 0);
    assert_non_null(json_object_get(svcs, "consul"));
    json_decref(j);
    assert_true(f->r.has_index);
    assert_int_equal(f->r.index, store_index_services(f->api.store) > store_index_nodes(f->api.store)
                                     ? store_index_services(f->api.store) : store_index_nodes(f->api.store));
    /* unknown node: 200 null */
    api_response_t *r = catfx_call(f, "GET", "/v1/catalog/node/nope", NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "null");
    /* node-services: a list in service ID order */
    j = catfx_json(catfx_call(f, "GET", "/v1/catalog/node-services/Node1", NULL, NULL));
    json_t *list = json_object_get(j, "Services");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "ID")), "consul");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "ID")), "web-1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "Node"), "Node")), "node1");
    json_decref(j);
    r = catfx_call(f, "GET", "/v1/catalog/node-services/nope", NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "{\"Node\":null,\"Services\":[]}");
    /* other datacenter, blocking */
    r = catfx_call(f, "GET", "/v1/catalog/node/node1", NULL, "dc", "dc9", NULL);
    assert_int_equal(r->status, 500);
    char idx[32];
    snprintf(idx, sizeof idx, "%llu", (unsigned long long)store_index(f->api.store));
    r = catfx_call(f, "GET", "/v1/catalog/node/node1", NULL, "index", idx, NULL);
    assert_true(r->block);
    assert_true(r->watch & API_WATCH_SERVICES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_node_has_every_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_maintenance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_node, setup, teardown),
    };
    return cmocka_run_group_tests_name("catalog_node", tests, NULL, NULL);
}
