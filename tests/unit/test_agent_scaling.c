/* test_agent_scaling.c: agent/scaling.c, the pure decisions of the scaling API: request parsing
 * (query and Alertmanager webhook bodies, seed 004), bounds from labels, the bound/cooldown
 * verdict, victim choice (never the original), drain IDs, swarm spec matching and update bodies,
 * next node id. Tables where the cases are data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "scaling.h"

static json_t *J(const char *text) {
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    assert_non_null(j);
    return j;
}

typedef struct {
    const char *service, *by, *body;
    int ok;
    const char *want_service;
    long want_delta;
    int resolved;
    const char *err_has;
} svc_case_t;

static void test_parse_service_table(void **s) {
    (void)s;
    static const svc_case_t cases[] = {
        {"hello/v1", "1", NULL, 1, "hello/v1", 1, 0, NULL},
        {"hello/v1", "+2", NULL, 1, "hello/v1", 2, 0, NULL},
        {"hello/v1", "-1", NULL, 1, "hello/v1", -1, 0, NULL},
        {"web", NULL, NULL, 0, NULL, 0, 0, "give ?by="},
        {"web", "0", NULL, 0, NULL, 0, 0, "by=\"0\""},
        {"web", "101", NULL, 0, NULL, 0, 0, "from 1 to 100"},
        {"web", "abc", NULL, 0, NULL, 0, 0, "by=\"abc\""},
        {"web", "--1", NULL, 0, NULL, 0, 0, "by="},
        /* webhook bodies: direction from groupLabels.scale, service from the query first */
        {NULL, NULL, "{\"groupLabels\":{\"scale\":\"up\",\"service\":\"hello/v1\"}}", 1, "hello/v1", 1, 0, NULL},
        {NULL, "2", "{\"groupLabels\":{\"scale\":\"down\",\"service\":\"hello/v1\"}}", 1, "hello/v1", -2, 0, NULL},
        {"q", NULL, "{\"groupLabels\":{\"scale\":\"up\",\"service\":\"body\"}}", 1, "q", 1, 0, NULL},
        {NULL, NULL, "{\"groupLabels\":{\"scale\":\"up\"},\"commonLabels\":{\"service\":\"c/1\"}}", 1, "c/1", 1, 0, NULL},
        {NULL, NULL, "{\"commonLabels\":{\"scale\":\"down\",\"service\":\"c\"}}", 1, "c", -1, 0, NULL},
        {NULL, NULL, "{\"status\":\"resolved\",\"groupLabels\":{\"scale\":\"up\",\"service\":\"w\"}}", 1, "w", 1, 1, NULL},
        {NULL, "-1", "{\"groupLabels\":{\"scale\":\"up\",\"service\":\"w\"}}", 0, NULL, 0, 0, "contradicts"},
        {NULL, NULL, "{\"groupLabels\":{\"scale\":\"sideways\",\"service\":\"w\"}}", 0, NULL, 0, 0, "\"up\" or \"down\""},
        {NULL, NULL, "{\"groupLabels\":{\"scale\":\"up\"}}", 0, NULL, 0, 0, "no service"},
        {NULL, NULL, "[1,2]", 0, NULL, 0, 0, "not a JSON object"},
        {NULL, NULL, "{not json", 0, NULL, 0, 0, "not a JSON object"},
        {NULL, NULL, "{\"groupLabels\":{\"scale\":\"up\",\"service\":\"../etc\"}}", 0, NULL, 0, 0, "invalid service"},
        {"a//b", "1", NULL, 0, NULL, 0, 0, "invalid service"},
        {"/a", "1", NULL, 0, NULL, 0, 0, "invalid service"},
        {"a/", "1", NULL, 0, NULL, 0, 0, "invalid service"},
        {"a b", "1", NULL, 0, NULL, 0, 0, "invalid service"},
        {"a/../b", "1", NULL, 0, NULL, 0, 0, "invalid service"},
        {"", "1", NULL, 0, NULL, 0, 0, "invalid service"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const svc_case_t *c = &cases[i];
        scaling_request_t r;
        char err[300] = "";
        int rc = scaling_parse_service_request(c->service, c->by, c->body, c->body ? strlen(c->body) : 0, &r, err,
                                               sizeof err);
        if (c->ok != (rc == 0)) fail_msg("case %zu: rc %d err '%s'", i, rc, err);
        if (c->ok) {
            assert_string_equal(r.service, c->want_service);
            assert_int_equal(r.delta, c->want_delta);
            assert_int_equal(r.resolved, c->resolved);
        } else if (!strstr(err, c->err_has)) {
            fail_msg("case %zu: err '%s' lacks '%s'", i, err, c->err_has);
        }
    }
}

static void test_parse_nodes(void **s) {
    (void)s;
    static const char UP[] = "{\"groupLabels\":{\"scale\":\"up\"}}", DOWN[] = "{\"groupLabels\":{\"scale\":\"down\"}}";
    scaling_request_t r;
    char err[300];
    assert_int_equal(scaling_parse_nodes_request("1", "worker", UP, strlen(UP), &r, err,
                                                 sizeof err), 0);
    assert_int_equal(r.delta, 1);
    assert_string_equal(r.type, "worker");
    assert_int_equal(scaling_parse_nodes_request("1", NULL, DOWN, strlen(DOWN), &r, err,
                                                 sizeof err), 0);
    assert_int_equal(r.delta, -1);
    assert_string_equal(r.type, "worker");
    assert_int_equal(scaling_parse_nodes_request("-2", "manager", NULL, 0, &r, err, sizeof err), 0);
    assert_int_equal(r.delta, -2);
    assert_int_equal(scaling_parse_nodes_request("1", "boss", NULL, 0, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "worker or manager"));
    assert_int_equal(scaling_parse_nodes_request("11", NULL, NULL, 0, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "at most 10"));
    assert_int_equal(scaling_parse_nodes_request(NULL, NULL, NULL, 0, &r, err, sizeof err), -1);
}

typedef struct {
    const char *labels;
    int ok;
    long min, max;
} bounds_case_t;

static void test_bounds_table(void **s) {
    (void)s;
    static const bounds_case_t cases[] = {
        {NULL, 1, 1, 10},
        {"{}", 1, 1, 10},
        {"{\"portolan.scale.min\":\"2\",\"portolan.scale.max\":\"4\"}", 1, 2, 4},
        {"{\"com.df.scaleMin\":\"3\",\"com.df.scaleMax\":\"5\"}", 1, 3, 5},
        /* portolan.* beats com.df.* */
        {"{\"portolan.scale.max\":\"6\",\"com.df.scaleMax\":\"5\"}", 1, 1, 6},
        {"{\"portolan.scale.min\":\"0\"}", 0, 0, 0},
        {"{\"portolan.scale.min\":\"5\",\"portolan.scale.max\":\"4\"}", 0, 0, 0},
        {"{\"portolan.scale.max\":\"many\"}", 0, 0, 0},
        {"{\"portolan.scale.max\":\"-3\"}", 0, 0, 0},
        {"{\"portolan.scale.max\":\"1001\"}", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *l = cases[i].labels ? J(cases[i].labels) : NULL;
        long lo = -1, hi = -1;
        char err[200] = "";
        int rc = scaling_bounds(l, &lo, &hi, err, sizeof err);
        if (cases[i].ok != (rc == 0)) fail_msg("case %zu: rc %d err '%s'", i, rc, err);
        if (cases[i].ok) {
            assert_int_equal(lo, cases[i].min);
            assert_int_equal(hi, cases[i].max);
        } else {
            assert_true(strlen(err) > 0);
        }
        json_decref(l);
    }
}

typedef struct {
    long cur, delta, min, max;
    uint64_t last, now, cool;
    scaling_verdict_t want;
    long target;
} decide_case_t;

static void test_decide_table(void **s) {
    (void)s;
    static const decide_case_t cases[] = {
        {1, 1, 1, 10, 0, 1000, 30000, SCALING_OK, 2},
        {9, 1, 1, 10, 0, 1000, 30000, SCALING_OK, 10},
        {10, 1, 1, 10, 0, 1000, 30000, SCALING_PAST_MAX, 0},
        {9, 2, 1, 10, 0, 1000, 30000, SCALING_PAST_MAX, 0},
        {2, -1, 1, 10, 0, 1000, 30000, SCALING_OK, 1},
        {1, -1, 1, 10, 0, 1000, 30000, SCALING_PAST_MIN, 0},
        {3, -3, 2, 10, 0, 1000, 30000, SCALING_PAST_MIN, 0},
        /* outside the bounds already: moving towards them is allowed */
        {12, -1, 1, 10, 0, 1000, 30000, SCALING_OK, 11},
        {1, 1, 3, 10, 0, 1000, 30000, SCALING_OK, 2},
        /* cooldown */
        {2, 1, 1, 10, 5000, 6000, 30000, SCALING_COOLDOWN, 0},
        {2, 1, 1, 10, 5000, 35000, 30000, SCALING_OK, 3},
        {2, 1, 1, 10, 5000, 34999, 30000, SCALING_COOLDOWN, 0},
        {2, 1, 1, 10, 5000, 5000, 0, SCALING_OK, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const decide_case_t *c = &cases[i];
        long t = 0;
        uint64_t retry = 0;
        char err[200] = "";
        scaling_verdict_t v = scaling_decide(c->cur, c->delta, c->min, c->max, c->last, c->now, c->cool, &t, &retry,
                                             err, sizeof err);
        if (v != c->want) fail_msg("case %zu: verdict %d want %d (%s)", i, v, c->want, err);
        if (v == SCALING_OK) assert_int_equal(t, c->target);
        if (v == SCALING_COOLDOWN) {
            assert_int_equal(retry, c->last + c->cool - c->now);
            assert_non_null(strstr(err, "cooldown"));
        }
        if (v == SCALING_PAST_MAX) assert_non_null(strstr(err, "maximum"));
        if (v == SCALING_PAST_MIN) assert_non_null(strstr(err, "minimum"));
    }
}

static void test_victims_never_the_original(void **s) {
    (void)s;
    /* oldest first: the original, a hand-started sibling, two clones */
    json_t *m[4] = {J("{\"Name\":\"/web\"}"), J("{\"Name\":\"/web-2\"}"), J("{\"Name\":\"/web-r0a1b2c3d\"}"),
                    J("{\"Name\":\"/web-r11111111\"}")};
    size_t out[4];
    assert_int_equal(scaling_pick_victims(m, 4, 2, out), 2);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 2);
    /* more than the clones: the other members newest first, never index 0 */
    assert_int_equal(scaling_pick_victims(m, 4, 4, out), 3);
    assert_int_equal(out[2], 1);
    assert_int_equal(scaling_pick_victims(m, 1, 1, out), 0);
    /* a clone that is oldest (the original was removed by hand) still is not chosen */
    assert_int_equal(scaling_pick_victims(m + 2, 2, 2, out), 1);
    assert_int_equal(out[0], 1);
    for (int i = 0; i < 4; i++) json_decref(m[i]);
    assert_true(scaling_is_clone_name("/web-r0a1b2c3d"));
    assert_true(scaling_is_clone_name("a-r00000000"));
    assert_false(scaling_is_clone_name("web-r0A1B2C3D"));
    assert_false(scaling_is_clone_name("web-x0a1b2c3d"));
    assert_false(scaling_is_clone_name("-r0a1b2c3"));
    assert_false(scaling_is_clone_name(NULL));
}

static void test_drain_ids(void **s) {
    (void)s;
    json_t *svcs = J("{\"n1:web-r0a1b2c3d:80\":{\"ID\":\"n1:web-r0a1b2c3d:80\"},"
                     "\"n1:web-r0a1b2c3d:53:udp\":{\"ID\":\"n1:web-r0a1b2c3d:53:udp\"},"
                     "\"n1:web:80\":{\"ID\":\"n1:web:80\"},"
                     "\"n1:web-r0a1b2c3dX:80\":{\"ID\":\"n1:web-r0a1b2c3dX:80\"},\"consul\":{}}");
    json_t *ids = scaling_drain_ids(svcs, "/web-r0a1b2c3d");
    assert_non_null(ids);
    assert_int_equal(json_array_size(ids), 2);
    json_decref(ids);
    ids = scaling_drain_ids(svcs, "web");
    assert_int_equal(json_array_size(ids), 1);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), "n1:web:80");
    json_decref(ids);
    assert_null(scaling_drain_ids(NULL, "web"));
    json_decref(svcs);
}

static void test_swarm(void **s) {
    (void)s;
    json_t *svc = J("{\"ID\":\"x\",\"Version\":{\"Index\":12},\"Spec\":{\"Name\":\"hello-v1\","
                    "\"Labels\":{\"portolan.path\":\"hello/v1\",\"com.df.reschedule\":\"true\"},"
                    "\"TaskTemplate\":{\"ContainerSpec\":{\"Env\":[\"SERVICE_NAME=hello/v1\"]},\"ForceUpdate\":2},"
                    "\"Mode\":{\"Replicated\":{\"Replicas\":1}}}}");
    assert_true(scaling_swarm_matches(svc, "hello/v1"));
    assert_true(scaling_swarm_matches(svc, "hello-v1"));
    assert_false(scaling_swarm_matches(svc, "hello/v2"));
    assert_int_equal(scaling_swarm_replicas(svc), 1);
    assert_true(scaling_swarm_reschedule(svc));
    json_t *b = scaling_swarm_update_body(svc, 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(b, "Mode"), "Replicated"),
                                                        "Replicas")), 3);
    assert_string_equal(json_string_value(json_object_get(b, "Name")), "hello-v1");
    json_decref(b);
    /* the input is untouched */
    assert_int_equal(scaling_swarm_replicas(svc), 1);
    b = scaling_swarm_update_body(svc, -1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "TaskTemplate"), "ForceUpdate")), 3);
    json_decref(b);
    json_decref(svc);
    /* env only; global mode */
    svc = J("{\"Spec\":{\"Name\":\"x\",\"TaskTemplate\":{\"ContainerSpec\":{\"Env\":[\"SERVICE_NAME=a/b\"]}},"
            "\"Mode\":{\"Global\":{}}}}");
    assert_true(scaling_swarm_matches(svc, "a/b"));
    assert_int_equal(scaling_swarm_replicas(svc), -1);
    assert_null(scaling_swarm_update_body(svc, 2));
    assert_false(scaling_swarm_reschedule(svc));
    json_decref(svc);
    svc = J("{\"Spec\":{\"Labels\":{\"portolan.scale.reschedule\":\"true\"}}}");
    assert_true(scaling_swarm_reschedule(svc));
    json_decref(svc);
}

static void test_next_node_id(void **s) {
    (void)s;
    const char *names[] = {"swarm-0", "swarm-1", "swarm-7", "infra", "registry", "swarm-x", "swarm-"};
    assert_int_equal(scaling_next_node_id(names, 7, "swarm-"), 8);
    assert_int_equal(scaling_next_node_id(names, 1, "swarm-"), 1);
    assert_int_equal(scaling_next_node_id(NULL, 0, "swarm-"), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_service_table), cmocka_unit_test(test_parse_nodes),
        cmocka_unit_test(test_bounds_table),        cmocka_unit_test(test_decide_table),
        cmocka_unit_test(test_victims_never_the_original), cmocka_unit_test(test_drain_ids),
        cmocka_unit_test(test_swarm),               cmocka_unit_test(test_next_node_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
