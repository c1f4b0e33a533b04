/* Unit tests for external nodes (catalog/api_catalog.c; the store's external node table):
 * /v1/catalog/register and /deregister, and how external nodes, services and checks show in
 * catalog, health, agent and DNS answers and in the state file. Driven without sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "api_catalog.h"
#include "dns.h"
#include "persist.h"
#include "store.h"
#include "catalog_fixture.h"

static int64_t now_ms(void) { return 1000; }

typedef catfx_t fx_t;

static int setup(void **state) { return catfx_setup(state, now_ms); }
static int teardown(void **state) { return catfx_teardown(state); }

static json_t *get_json(fx_t *f, const char *path, ...)
{
    api_response_t *r = catfx_call(f, "GET", path, NULL, NULL);
    assert_int_equal(r->status, 200);
    return catfx_json(r);
}

static void status_text(api_response_t *r, int st, const char *text)
{
    assert_int_equal(r->status, st);
    assert_non_null(r->body);
    assert_string_equal(r->body, text);
}

#define DB1 "{\"Node\":\"db1\",\"Address\":\"10.5.0.9\",\"NodeMeta\":{\"rack\":\"a\"}," \
            "\"Service\":{\"Service\":\"postgres\",\"ID\":\"pg1\",\"Port\":5432,\"Tags\":[\"primary\"]}," \
            "\"Check\":{\"CheckID\":\"pg-alive\",\"Name\":\"pg\",\"Status\":\"passing\",\"ServiceID\":\"pg1\"}}"
#define DB2 "{\"Node\":\"db2\",\"Address\":\"10.5.0.10\",\"Service\":{\"Service\":\"postgres\",\"ID\":\"pg2\",\"Port\":5433}," \
            "\"Checks\":[{\"CheckID\":\"db2-up\",\"Name\":\"up\"}]}"

static void register_both(fx_t *f)
{
    api_response_t *r = catfx_call(f, "PUT", "/v1/catalog/register", DB1, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "true");
    assert_true(r->wrote);
    assert_int_equal(catfx_call(f, "PUT", "/v1/catalog/register", DB2, NULL)->status, 200);
}

static void test_register_errors(void **state)
{
    fx_t *f = *state;
    const char *R = "/v1/catalog/register";
    status_text(catfx_call(f, "PUT", R, "", NULL), 400, "Request decode failed: EOF");
    status_text(catfx_call(f, "PUT", R, "{\"Node\":\"x\",\"Address\":\"1.1.1.1\",\"Bogus\":1}", NULL), 400,
                "Request decode failed: json: unknown field \"Bogus\"");
    status_text(catfx_call(f, "PUT", R, "{\"Address\":\"1.1.1.1\"}", NULL), 500, "Must provide node");
    status_text(catfx_call(f, "PUT", R, "{\"Node\":\"x\"}", NULL), 500, "Must provide address if SkipNodeUpdate is not set");
    status_text(catfx_call(f, "PUT", R, "{\"Node\":\"x\",\"Address\":\"1.1.1.1\",\"Service\":{\"ID\":\"s\"}}", NULL), 500,
                "Must provide service name with ID");
    status_text(catfx_call(f, "PUT", R, "{\"Node\":\"x\",\"Address\":\"1.1.1.1\",\"Service\":{\"Service\":\"s\",\"Address\":\"0.0.0.0\"}}", NULL),
                500, "Invalid service address");
    status_text(catfx_call(f, "PUT", R, "{\"Node\":\"x\",\"Address\":\"1.1.1.1\",\"Check\":{\"CheckID\":\"c\",\"ServiceID\":\"nope\"}}", NULL),
                500, "Missing service registration");
    status_text(catfx_call(f, "PUT", R, "{\"Node\":\"x\",\"Address\":\"1.1.1.1\",\"Datacenter\":\"dc9\"}", NULL), 500, "No path to datacenter");
    assert_int_equal(catfx_call(f, "GET", R, NULL, NULL)->status, 405);
    /* nothing of a refused request was applied (validation comes first) */
    json_t *j = get_json(f, "/v1/catalog/nodes");
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    /* the catalog's own node belongs to the agent endpoints */
    assert_int_equal(catfx_call(f, "PUT", R, "{\"Node\":\"node1\",\"Address\":\"1.1.1.1\"}", NULL)->status, 500);
}

static void test_external_in_catalog_and_health(void **state)
{
    fx_t *f = *state;
    register_both(f);
    json_t *j = get_json(f, "/v1/catalog/service/postgres");
    assert_int_equal(json_array_size(j), 2);
    json_t *e = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(e, "Node")), "db1");
    assert_string_equal(json_string_value(json_object_get(e, "Address")), "10.5.0.9");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "NodeMeta"), "rack")), "a");
    assert_int_equal(json_integer_value(json_object_get(e, "ServicePort")), 5432);
    json_decref(j);
    j = get_json(f, "/v1/catalog/nodes");   /* by name, as Consul lists them */
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "Node")), "db1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "Node")), "db2");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 2), "Node")), "node1");
    json_decref(j);
    /* health: each instance with its own node's checks; db2's node check is critical (the default) */
    j = get_json(f, "/v1/health/service/postgres");
    assert_int_equal(json_array_size(j), 2);
    json_t *h2 = json_array_get(j, 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(h2, "Node"), "Node")), "db2");
    json_t *cks = json_object_get(h2, "Checks");
    assert_int_equal(json_array_size(cks), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cks, 0), "CheckID")), "db2-up");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cks, 0), "Status")), "critical");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cks, 0), "Node")), "db2");
    json_decref(j);
    api_response_t *r = catfx_call(f, "GET", "/v1/health/service/postgres", NULL, "passing", "", NULL);
    j = json_loads(r->body, 0, NULL);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    j = get_json(f, "/v1/health/node/db1");
    assert_int_equal(json_array_size(j), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "ServiceID")), "pg1");
    json_decref(j);
    j = get_json(f, "/v1/catalog/node/db2");
    assert_non_null(json_object_get(json_object_get(j, "Services"), "pg2"));
    assert_null(json_object_get(json_object_get(j, "Services"), "consul"));
    json_decref(j);
    /* the agent's endpoints do not show or touch them */
    j = get_json(f, "/v1/agent/services");
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    j = get_json(f, "/v1/agent/checks");
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/service/deregister/pg1", NULL, NULL)->status, 404);
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/check/pass/db2-up", NULL, NULL)->status, 404);
    assert_non_null(store_service(f->api.store, "pg1"));
    /* the status written is the status (a later register changes it) */
    assert_int_equal(catfx_call(f, "PUT", "/v1/catalog/register",
                          "{\"Node\":\"db2\",\"SkipNodeUpdate\":true,\"Check\":{\"CheckID\":\"db2-up\",\"Status\":\"passing\"}}", NULL)->status, 200);
    assert_string_equal(store_check(f->api.store, "db2-up")->status, "passing");
    /* an identical registration writes nothing */
    assert_false(catfx_call(f, "PUT", "/v1/catalog/register", DB1, NULL)->wrote);
}

static void test_deregister(void **state)
{
    fx_t *f = *state;
    register_both(f);
    const char *D = "/v1/catalog/deregister";
    status_text(catfx_call(f, "PUT", D, "{\"ServiceID\":\"pg1\"}", NULL), 500, "Must provide node");
    api_response_t *r = catfx_call(f, "PUT", D, "{\"Node\":\"db1\",\"CheckID\":\"pg-alive\"}", NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "true");
    assert_null(store_check(f->api.store, "pg-alive"));
    assert_non_null(store_service(f->api.store, "pg1"));
    assert_int_equal(catfx_call(f, "PUT", D, "{\"Node\":\"db1\",\"ServiceID\":\"pg1\"}", NULL)->status, 200);
    assert_null(store_service(f->api.store, "pg1"));
    assert_non_null(store_ext_node(f->api.store, "db1"));
    /* the whole node with its services and checks */
    assert_int_equal(catfx_call(f, "PUT", D, "{\"Node\":\"DB2\"}", NULL)->status, 200);
    assert_null(store_ext_node(f->api.store, "db2"));
    assert_null(store_service(f->api.store, "pg2"));
    assert_null(store_check(f->api.store, "db2-up"));
    /* unknown: true, nothing written */
    r = catfx_call(f, "PUT", D, "{\"Node\":\"nope\"}", NULL);
    assert_int_equal(r->status, 200);
    assert_false(r->wrote);
}

static void test_dns_and_state_file(void **state)
{
    fx_t *f = *state;
    register_both(f);
    /* DNS: the passing external instance, its node as SRV target with the node's address */
    ldns_pkt *q = NULL;
    ldns_pkt_query_new_frm_str(&q, "postgres.service.consul.", LDNS_RR_TYPE_SRV, LDNS_RR_CLASS_IN, LDNS_RD);
    uint8_t *w, *out;
    size_t wl, ol;
    ldns_pkt2wire(&w, q, &wl);
    ldns_pkt_free(q);
    dns_config_t cfg = {.domain = "consul", .udp_answer_limit = 3, .enable_truncate = 1};
    dns_query_t dq = {.wire = w, .len = wl, .tcp = 1};
    assert_int_equal(dns_answer(&cfg, f->api.store, &dq, &out, &ol), 0);
    free(w);
    ldns_pkt *a = NULL;
    assert_int_equal(ldns_wire2pkt(&a, out, ol), LDNS_STATUS_OK);
    free(out);
    assert_int_equal(ldns_pkt_ancount(a), 1);   /* db2's instance is critical through its node check */
    char *t = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(a), 0), 3));
    assert_string_equal(t, "db1.node.dc1.consul.");
    free(t);
    t = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_additional(a), 0), 0));
    assert_string_equal(t, "10.5.0.9");
    free(t);
    ldns_pkt_free(a);
    /* PTR of the external node's address names it */
    ldns_pkt_query_new_frm_str(&q, "9.0.5.10.in-addr.arpa.", LDNS_RR_TYPE_PTR, LDNS_RR_CLASS_IN, LDNS_RD);
    ldns_pkt2wire(&w, q, &wl);
    ldns_pkt_free(q);
    dq.wire = w;
    dq.len = wl;
    assert_int_equal(dns_answer(&cfg, f->api.store, &dq, &out, &ol), 0);
    free(w);
    assert_int_equal(ldns_wire2pkt(&a, out, ol), LDNS_STATUS_OK);
    free(out);
    assert_int_equal(ldns_pkt_ancount(a), 1);
    t = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(a), 0), 0));
    assert_string_equal(t, "db1.node.dc1.consul.");
    free(t);
    ldns_pkt_free(a);
    /* the state file keeps them: save, load into a new store, same answers */
    char dir[] = "/tmp/portolan-ext-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[512];
    assert_int_equal(persist_save(f->api.store, dir, err, sizeof err), 0);
    catalog_store_t *s2 = store_new("node1", "11111111-2222-3333-4444-555555555555", "dc1", "127.0.0.1");
    assert_true(persist_load(s2, dir, err, sizeof err) > 0);
    const cat_node_t *n = store_ext_node(s2, "db1");
    assert_non_null(n);
    assert_string_equal(n->address, "10.5.0.9");
    assert_int_equal(n->nmeta, 1);
    const cat_service_t *pg = store_service(s2, "pg1");
    assert_non_null(pg);
    assert_string_equal(pg->node, "db1");
    assert_int_equal(pg->port, 5432);
    assert_string_equal(store_check(s2, "pg-alive")->status, "passing");
    assert_string_equal(store_check(s2, "db2-up")->status, "critical");
    assert_string_equal(store_check(s2, "db2-up")->node, "db2");
    assert_true(store_index(s2) >= store_index(f->api.store));
    store_free(s2);
    char path[600];
    snprintf(path, sizeof path, "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_external_in_catalog_and_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deregister, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_and_state_file, setup, teardown),
    };
    return cmocka_run_group_tests_name("catalog_external", tests, NULL, NULL);
}
