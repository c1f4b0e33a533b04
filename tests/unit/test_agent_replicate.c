/* test_agent_replicate.c: agent/replicate.c, the pure part of the replicate/scale API: create
 * bodies (Config + HostConfig, blank Hostname, ephemeral host ports, names), input checks
 * (references, service names, ?to= / ?by=), service membership and the Created order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "replicate.h"

static json_t *inspect_of(const char *text) {
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    assert_non_null(j);
    return j;
}

static const char *INSPECT =
    "{\"Id\":\"abc123\",\"Name\":\"/web\",\"Created\":\"2026-11-23T22:08:31.85Z\","
    "\"Config\":{\"Hostname\":\"abc123\",\"Image\":\"portolan-test/web\",\"Env\":[\"SERVICE_NAME=web\",\"A=1\"],"
    "\"Labels\":{\"x\":\"y\"},\"ExposedPorts\":{\"80/tcp\":{}}},"
    "\"HostConfig\":{\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}]},\"Memory\":0},"
    "\"State\":{\"Running\":true}}";

static void test_body_copies_config_blanks_hostname(void **s) {
    (void)s;
    json_t *in = inspect_of(INSPECT);
    char name[160], err[200];
    json_t *body = replicate_create_body(in, "0a1b2c3d", name, sizeof name, err, sizeof err);
    assert_non_null(body);
    assert_string_equal(name, "web-r0a1b2c3d");
    assert_string_equal(json_string_value(json_object_get(body, "Hostname")), "");
    assert_string_equal(json_string_value(json_object_get(body, "Image")), "portolan-test/web");
    assert_true(json_equal(json_object_get(body, "Env"), json_object_get(json_object_get(in, "Config"), "Env")));
    assert_true(json_equal(json_object_get(body, "Labels"), json_object_get(json_object_get(in, "Config"), "Labels")));
    json_t *hc = json_object_get(body, "HostConfig");
    assert_non_null(hc);
    /* fixed host port made ephemeral in the clone, the original untouched */
    json_t *b = json_array_get(json_object_get(json_object_get(hc, "PortBindings"), "80/tcp"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "HostPort")), "");
    json_t *ob = json_array_get(
        json_object_get(json_object_get(json_object_get(in, "HostConfig"), "PortBindings"), "80/tcp"), 0);
    assert_string_equal(json_string_value(json_object_get(ob, "HostPort")), "8080");
    assert_string_equal(json_string_value(json_object_get(json_object_get(in, "Config"), "Hostname")), "abc123");
    /* nothing but Config's fields and HostConfig */
    assert_null(json_object_get(body, "State"));
    assert_null(json_object_get(body, "Id"));
    json_decref(body);
    json_decref(in);
}

static void test_clone_of_clone_name_does_not_grow(void **s) {
    (void)s;
    json_t *in = inspect_of(INSPECT);
    json_object_set_new(in, "Name", json_string("/web-r0a1b2c3d"));
    char name[160], err[200];
    json_t *body = replicate_create_body(in, "ffffffff", name, sizeof name, err, sizeof err);
    assert_non_null(body);
    assert_string_equal(name, "web-rffffffff");
    json_decref(body);
    /* a name that merely looks similar is kept whole */
    json_object_set_new(in, "Name", json_string("/web-rABCDEF12"));
    body = replicate_create_body(in, "00000000", name, sizeof name, err, sizeof err);
    assert_string_equal(name, "web-rABCDEF12-r00000000");
    json_decref(body);
    json_decref(in);
}

static void test_body_errors(void **s) {
    (void)s;
    char name[160], err[200];
    json_t *in = inspect_of("{\"Name\":\"/x\",\"Config\":{}}");
    assert_null(replicate_create_body(in, "00000000", name, sizeof name, err, sizeof err));
    assert_non_null(strstr(err, "HostConfig"));
    json_decref(in);
    in = inspect_of(INSPECT);
    assert_null(replicate_create_body(in, "XYZ", name, sizeof name, err, sizeof err));
    assert_null(replicate_create_body(in, "0000000G", name, sizeof name, err, sizeof err));
    assert_null(replicate_create_body(in, "00000000", name, 8, err, sizeof err));
    json_object_set_new(in, "Name", json_string("/../etc"));
    assert_null(replicate_create_body(in, "00000000", name, sizeof name, err, sizeof err));
    json_decref(in);
    json_t *arr = json_array();
    assert_null(replicate_create_body(arr, "00000000", name, sizeof name, err, sizeof err));
    json_decref(arr);
}

static void test_valid_ref_and_service(void **s) {
    (void)s;
    assert_true(replicate_valid_ref("9d65f58cca99"));
    assert_true(replicate_valid_ref("web_1.blue-2"));
    assert_false(replicate_valid_ref(""));
    assert_false(replicate_valid_ref(NULL));
    assert_false(replicate_valid_ref("-x"));
    assert_false(replicate_valid_ref("../containers"));
    assert_false(replicate_valid_ref("a/b"));
    assert_false(replicate_valid_ref("a b"));
    assert_false(replicate_valid_ref("a?b"));
    assert_false(replicate_valid_ref("a%2f"));
    char longs[200];
    memset(longs, 'a', sizeof longs);
    longs[128] = '\0';
    assert_true(replicate_valid_ref(longs));
    longs[128] = 'a';
    longs[129] = '\0';
    assert_false(replicate_valid_ref(longs));
    assert_true(replicate_valid_service("web"));
    assert_true(replicate_valid_service("_web.v2-x"));
    assert_false(replicate_valid_service(""));
    assert_false(replicate_valid_service("we b"));
    assert_false(replicate_valid_service("web/x"));
    assert_false(replicate_valid_service("web\n"));
}

static void test_service_matches(void **s) {
    (void)s;
    json_t *in = inspect_of(INSPECT);
    assert_true(replicate_service_matches(in, "web"));
    assert_false(replicate_service_matches(in, "we"));
    assert_false(replicate_service_matches(in, "web2"));
    /* the label beats the env */
    json_object_set_new(json_object_get(json_object_get(in, "Config"), "Labels"), "SERVICE_NAME", json_string("api"));
    assert_true(replicate_service_matches(in, "api"));
    assert_false(replicate_service_matches(in, "web"));
    json_decref(in);
    in = inspect_of("{\"Config\":{\"Env\":[\"SERVICE_NAME=a\",\"SERVICE_NAME=b\"]}}");
    assert_true(replicate_service_matches(in, "b"));
    assert_false(replicate_service_matches(in, "a"));
    json_decref(in);
    in = inspect_of("{\"Config\":{\"Env\":null,\"Labels\":null}}");
    assert_false(replicate_service_matches(in, "a"));
    json_decref(in);
}

static void test_parse_scale(void **s) {
    (void)s;
    size_t t = 0;
    char err[200];
    assert_int_equal(replicate_parse_scale("3", NULL, 1, &t, err, sizeof err), 0);
    assert_int_equal(t, 3);
    assert_int_equal(replicate_parse_scale("1", NULL, 3, &t, err, sizeof err), 0);
    assert_int_equal(t, 1);
    assert_int_equal(replicate_parse_scale("100", NULL, 1, &t, err, sizeof err), 0);
    assert_int_equal(t, 100);
    assert_int_equal(replicate_parse_scale(NULL, "+2", 1, &t, err, sizeof err), 0);
    assert_int_equal(t, 3);
    assert_int_equal(replicate_parse_scale(NULL, "2", 1, &t, err, sizeof err), 0);
    assert_int_equal(t, 3);
    assert_int_equal(replicate_parse_scale(NULL, "-2", 3, &t, err, sizeof err), 0);
    assert_int_equal(t, 1);
    t = 77;
    const char *bad_to[] = {"abc", "0", "101", "1000", "", "-1", "+1", "1.5", " 1", "1 ", "0x10", "99999999999", NULL};
    for (int i = 0; bad_to[i]; i++) {
        assert_int_equal(replicate_parse_scale(bad_to[i], NULL, 1, &t, err, sizeof err), -1);
        assert_non_null(strstr(err, "to="));
    }
    const char *bad_by[] = {"abc", "+0", "-0", "+101", "", "+", "--1", "1e2", NULL};
    for (int i = 0; bad_by[i]; i++) assert_int_equal(replicate_parse_scale(NULL, bad_by[i], 1, &t, err, sizeof err), -1);
    assert_int_equal(t, 77); /* untouched on errors */
    /* at least one stays */
    assert_int_equal(replicate_parse_scale(NULL, "-3", 3, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 1"));
    /* both or neither */
    assert_int_equal(replicate_parse_scale("2", "+1", 1, &t, err, sizeof err), -1);
    assert_int_equal(replicate_parse_scale(NULL, NULL, 1, &t, err, sizeof err), -1);
    /* more than 100 changes in one request */
    assert_int_equal(replicate_parse_scale("1", NULL, 150, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 100"));
    assert_int_equal(replicate_parse_scale("50", NULL, 150, &t, err, sizeof err), 0);
    assert_int_equal(t, 50);
}

static void test_created_order(void **s) {
    (void)s;
    assert_true(replicate_created_cmp("2026-11-23T22:08:31.85Z", "2026-11-23T22:08:31.856Z") < 0); /* 850 ms < 856 ms, though "5Z" > "56" as text */
    assert_true(replicate_created_cmp("2026-11-23T22:08:31Z", "2026-11-23T22:08:31.000000001Z") < 0);
    assert_true(replicate_created_cmp("2026-11-23T22:08:31.5Z", "2026-11-23T22:08:31.500000000Z") == 0);
    assert_true(replicate_created_cmp("2026-11-23T22:08:30.9Z", "2026-11-23T22:08:31.1Z") < 0);
    assert_true(replicate_created_cmp("garbage", "2026-11-23T22:08:31Z") < 0);
    assert_true(replicate_created_cmp(NULL, NULL) == 0);
    json_t *a = inspect_of("{\"Id\":\"a\",\"Created\":\"2026-11-23T22:08:31.856Z\"}");
    json_t *b = inspect_of("{\"Id\":\"b\",\"Created\":\"2026-11-23T22:08:31.85Z\"}");
    json_t *c = inspect_of("{\"Id\":\"c\",\"Created\":\"2026-11-23T22:08:29Z\"}");
    json_t *d = inspect_of("{\"Id\":\"d\",\"Created\":\"2026-11-23T22:08:29Z\"}");
    json_t *v[] = {a, d, b, c};
    replicate_sort_by_created(v, 4);
    assert_ptr_equal(v[0], c);
    assert_ptr_equal(v[1], d);
    assert_ptr_equal(v[2], b);
    assert_ptr_equal(v[3], a);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_copies_config_blanks_hostname),
        cmocka_unit_test(test_clone_of_clone_name_does_not_grow),
        cmocka_unit_test(test_body_errors),
        cmocka_unit_test(test_valid_ref_and_service),
        cmocka_unit_test(test_service_matches),
        cmocka_unit_test(test_parse_scale),
        cmocka_unit_test(test_created_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
