/* Unit tests for catalog/api_misc.c: user events (fire, list, filters, blocking), coordinates
 * and the raft configuration, driven without sockets. */
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
#include "api_misc.h"
#include "store.h"
#include "catalog_fixture.h"

static int64_t now_ms(void) { return 1000; }
static int notified;
static void on_change(void *ctx, const cat_change_t *ch) { (void)ctx; if (ch->events) notified++; }

typedef catfx_t fx_t;

static int setup(void **state)
{
    int rc = catfx_setup(state, now_ms);
    fx_t *f = *state;
    store_set_change_hook(f->api.store, on_change, NULL);
    notified = 0;
    return rc;
}

static int teardown(void **state) { return catfx_teardown(state); }

static void test_events(void **state)
{
    fx_t *f = *state;
    api_response_t *r = catfx_call(f, "GET", "/v1/event/list", NULL, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "[]");
    uint64_t idx0 = r->index;
    r = catfx_call(f, "PUT", "/v1/event/fire/deploy", "v1", NULL);
    assert_int_equal(r->status, 200);
    json_t *j = catfx_json(r);
    assert_string_equal(json_string_value(json_object_get(j, "Name")), "deploy");
    assert_string_equal(json_string_value(json_object_get(j, "Payload")), "djE=");   /* base64 of v1 */
    assert_int_equal(json_integer_value(json_object_get(j, "LTime")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "Version")), 1);
    json_decref(j);
    assert_int_equal(notified, 1);
    assert_int_equal(catfx_call(f, "PUT", "/v1/event/fire/other", NULL, NULL)->status, 200);
    /* not delivered to this node (node filter), so not listed */
    assert_int_equal(catfx_call(f, "PUT", "/v1/event/fire/elsewhere", NULL, "node", "^web-", NULL)->status, 200);
    /* a service filter matches only a service of this node with that name (and tag) */
    assert_int_equal(catfx_call(f, "PUT", "/v1/agent/service/register", "{\"Name\":\"web\",\"Tags\":[\"blue\"]}", NULL)->status, 200);
    assert_int_equal(catfx_call(f, "PUT", "/v1/event/fire/to-web", NULL, "service", "^we", "tag", "blu", NULL)->status, 200);
    assert_int_equal(catfx_call(f, "PUT", "/v1/event/fire/to-db", NULL, "service", "^db$", NULL)->status, 200);
    r = catfx_call(f, "GET", "/v1/event/list", NULL, NULL);
    j = catfx_json(r);
    assert_int_equal(json_array_size(j), 3);   /* deploy, other, to-web: oldest first */
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "Name")), "deploy");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 2), "Name")), "to-web");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "LTime")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 2), "LTime")), 3);
    json_decref(j);
    assert_true(r->index > idx0);
    j = catfx_json(catfx_call(f, "GET", "/v1/event/list", NULL, "name", "other", NULL));
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    /* blocking: the current index parks the request; an older one answers */
    char ix[32];
    snprintf(ix, sizeof ix, "%llu", (unsigned long long)r->index);
    uint64_t cur = r->index;
    r = catfx_call(f, "GET", "/v1/event/list", NULL, "index", ix, NULL);
    assert_true(r->block);
    assert_true(r->watch & API_WATCH_EVENTS);
    snprintf(ix, sizeof ix, "%llu", (unsigned long long)(cur - 1));
    assert_false(catfx_call(f, "GET", "/v1/event/list", NULL, "index", ix, NULL)->block);
    /* errors */
    r = catfx_call(f, "PUT", "/v1/event/fire/", NULL, NULL);
    assert_int_equal(r->status, 400);
    assert_string_equal(r->body, "Missing name");
    r = catfx_call(f, "PUT", "/v1/event/fire/x", NULL, "tag", "a", NULL);
    assert_int_equal(r->status, 400);
    assert_int_equal(catfx_call(f, "GET", "/v1/event/fire/x", NULL, NULL)->status, 405);
    assert_int_equal(catfx_call(f, "PUT", "/v1/event/fire/x", NULL, "node", "(", NULL)->status, 400);
}

static void test_event_ring_keeps_256(void **state)
{
    fx_t *f = *state;
    char path[64];
    for (int i = 0; i < 300; i++) {
        snprintf(path, sizeof path, "/v1/event/fire/e%d", i);
        assert_int_equal(catfx_call(f, "PUT", path, NULL, NULL)->status, 200);
    }
    json_t *j = catfx_json(catfx_call(f, "GET", "/v1/event/list", NULL, NULL));
    assert_int_equal(json_array_size(j), 256);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "Name")), "e44");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 255), "Name")), "e299");
    json_decref(j);
}

static void test_coordinates_and_raft(void **state)
{
    fx_t *f = *state;
    json_t *j = catfx_json(catfx_call(f, "GET", "/v1/coordinate/datacenters", NULL, NULL));
    json_t *dc = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(dc, "Datacenter")), "dc1");
    assert_string_equal(json_string_value(json_object_get(dc, "AreaID")), "WAN");
    json_t *co = json_array_get(json_object_get(dc, "Coordinates"), 0);
    assert_string_equal(json_string_value(json_object_get(co, "Node")), "node1.dc1");
    assert_int_equal(json_array_size(json_object_get(json_object_get(co, "Coord"), "Vec")), 8);
    json_decref(j);
    j = catfx_json(catfx_call(f, "GET", "/v1/coordinate/nodes", NULL, NULL));
    assert_int_equal(json_array_size(j), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "Node")), "node1");
    json_decref(j);
    assert_true(f->r.has_index);
    assert_int_equal(catfx_call(f, "GET", "/v1/coordinate/node/node1", NULL, NULL)->status, 200);
    assert_int_equal(catfx_call(f, "GET", "/v1/coordinate/node/other", NULL, NULL)->status, 404);
    j = catfx_json(catfx_call(f, "GET", "/v1/operator/raft/configuration", NULL, NULL));
    json_t *s = json_array_get(json_object_get(j, "Servers"), 0);
    assert_string_equal(json_string_value(json_object_get(s, "Node")), "node1");
    assert_string_equal(json_string_value(json_object_get(s, "ID")), "11111111-2222-3333-4444-555555555555");
    assert_string_equal(json_string_value(json_object_get(s, "Address")), "127.0.0.1:8300");
    assert_true(json_is_true(json_object_get(s, "Leader")));
    assert_true(json_is_true(json_object_get(s, "Voter")));
    json_decref(j);
    assert_int_equal(catfx_call(f, "GET", "/v1/operator/raft/configuration", NULL, "dc", "dc2", NULL)->status, 500);
    j = catfx_json(catfx_call(f, "GET", "/v1/status/peers", NULL, NULL));
    assert_string_equal(json_string_value(json_array_get(j, 0)), "127.0.0.1:8300");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_ring_keeps_256, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coordinates_and_raft, setup, teardown),
    };
    return cmocka_run_group_tests_name("catalog_misc", tests, NULL, NULL);
}
