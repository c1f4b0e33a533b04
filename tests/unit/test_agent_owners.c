/* Unit tests for agent/owners.c (who holds a service ID several containers claim) and
 * services_started_ns (the order those claims are ranked by). Issue 8, class 6: the first
 * owner keeps the ID, later claimants are refused and wait, a released ID passes to the next
 * claimant instead of being deregistered, and re-reading the same containers never moves it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "owners.h"
#include "services.h"

#define S(x) ((uint64_t)(x) * 1000000000u)

static void test_first_owner_keeps(void **state)
{
    (void)state;
    owners_t *o = owners_new();
    int fresh = -1;
    assert_string_equal(owners_claim(o, "web", "aaa", S(100), &fresh), "aaa");
    assert_int_equal(fresh, 1);
    /* a later container is refused: the holder stays */
    assert_string_equal(owners_claim(o, "web", "bbb", S(200), &fresh), "aaa");
    assert_int_equal(fresh, 1);
    assert_int_equal(owners_claims(o, "web"), 2);
    /* re-claims (resync, reconnect) in any order change nothing and are not new */
    for (int i = 0; i < 3; i++) {
        assert_string_equal(owners_claim(o, "web", "bbb", S(200), &fresh), "aaa");
        assert_int_equal(fresh, 0);
        assert_string_equal(owners_claim(o, "web", "aaa", S(100), &fresh), "aaa");
        assert_int_equal(fresh, 0);
    }
    assert_string_equal(owners_holder(o, "web"), "aaa");
    owners_free(o);
}

static void test_order_is_start_time_not_claim_order(void **state)
{
    (void)state;
    /* the agent inspects containers in parallel at start: whichever answer comes first, the
     * container running longest holds the ID, so an agent restart gives the same holder */
    const char *orders[2][3] = {{"new", "old", "mid"}, {"old", "mid", "new"}};
    uint64_t since[3];
    for (int k = 0; k < 2; k++) {
        owners_t *o = owners_new();
        for (int i = 0; i < 3; i++) {
            const char *c = orders[k][i];
            since[i] = !strcmp(c, "old") ? S(10) : !strcmp(c, "mid") ? S(20) : S(30);
            owners_claim(o, "id", c, since[i], NULL);
        }
        assert_string_equal(owners_holder(o, "id"), "old");
        owners_free(o);
    }
    /* equal start times: the smaller container ID, whatever the order */
    owners_t *o = owners_new();
    owners_claim(o, "id", "bbb", S(5), NULL);
    assert_string_equal(owners_claim(o, "id", "aaa", S(5), NULL), "aaa");
    owners_free(o);
}

static void test_release_passes_to_next(void **state)
{
    (void)state;
    owners_t *o = owners_new();
    owners_claim(o, "web", "aaa", S(1), NULL);
    owners_claim(o, "web", "bbb", S(2), NULL);
    owners_claim(o, "web", "ccc", S(3), NULL);
    /* a waiting claimant leaves: nothing changes hands */
    assert_null(owners_release(o, "web", "bbb"));
    assert_string_equal(owners_holder(o, "web"), "aaa");
    /* the holder leaves: the next claimant takes over (the ID is not freed) */
    assert_string_equal(owners_release(o, "web", "aaa"), "ccc");
    assert_string_equal(owners_holder(o, "web"), "ccc");
    /* the holder comes back (restarted: a later start time): it now waits */
    assert_string_equal(owners_claim(o, "web", "aaa", S(9), NULL), "ccc");
    assert_string_equal(owners_release(o, "web", "ccc"), "aaa");
    /* a holder whose start time moves on (it started again without being released, as
     * -deregister on-success keeps a dead container's claim) falls behind the others */
    assert_string_equal(owners_claim(o, "web", "ddd", S(20), NULL), "aaa");
    assert_string_equal(owners_claim(o, "web", "aaa", S(30), NULL), "ddd");
    assert_string_equal(owners_release(o, "web", "ddd"), "aaa");
    assert_string_equal(owners_holder(o, "web"), "aaa");
    /* the last claimant leaves: the ID is free */
    assert_null(owners_release(o, "web", "aaa"));
    assert_null(owners_holder(o, "web"));
    assert_int_equal(owners_claims(o, "web"), 0);
    /* releasing what was never claimed is a no-op */
    assert_null(owners_release(o, "web", "zzz"));
    assert_null(owners_release(o, "other", "aaa"));
    owners_free(o);
}

static void test_ids_independent(void **state)
{
    (void)state;
    owners_t *o = owners_new();
    owners_claim(o, "a", "c1", S(1), NULL);
    owners_claim(o, "b", "c2", S(2), NULL);
    owners_claim(o, "b", "c1", S(1), NULL); /* c1 started first: it holds b too */
    assert_string_equal(owners_holder(o, "a"), "c1");
    assert_string_equal(owners_holder(o, "b"), "c1");
    assert_string_equal(owners_release(o, "b", "c1"), "c2");
    assert_string_equal(owners_holder(o, "a"), "c1");
    owners_free(o);
}

static void test_started_ns(void **state)
{
    (void)state;
    struct {
        const char *json;
        uint64_t want;
    } cases[] = {
        {"{\"State\":{\"StartedAt\":\"1970-01-01T00:00:10Z\"}}", S(10)},
        {"{\"State\":{\"StartedAt\":\"1970-01-01T00:00:10.5Z\"}}", S(10) + 500000000u},
        {"{\"State\":{\"StartedAt\":\"1970-01-01T00:00:10.12Z\"}}", S(10) + 120000000u},
        {"{\"State\":{\"StartedAt\":\"1970-01-01T00:00:10.123456789Z\"}}", S(10) + 123456789u},
        {"{\"State\":{\"StartedAt\":\"1970-01-01T00:00:10.1234567891Z\"}}", S(10) + 123456789u},
        {"{\"State\":{\"StartedAt\":\"2026-12-07T16:09:27Z\"}}", S(1796659767)},
        {"{\"State\":{\"StartedAt\":\"0001-01-01T00:00:00Z\"}}", 0},
        {"{\"State\":{\"StartedAt\":\"2026-12-07T16:09:27+01:00\"}}", 0},
        {"{\"State\":{\"StartedAt\":\"yesterday\"}}", 0},
        {"{\"State\":{}}", 0},
        {"{}", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_loads(cases[i].json, 0, NULL);
        assert_non_null(j);
        if (services_started_ns(j) != cases[i].want)
            fail_msg("%s: want %llu got %llu", cases[i].json, (unsigned long long)cases[i].want,
                     (unsigned long long)services_started_ns(j));
        json_decref(j);
    }
    /* the fraction orders correctly where string comparison would not (".1Z" vs ".12Z") */
    json_t *a = json_loads("{\"State\":{\"StartedAt\":\"2026-01-01T00:00:00.1Z\"}}", 0, NULL);
    json_t *b = json_loads("{\"State\":{\"StartedAt\":\"2026-01-01T00:00:00.12Z\"}}", 0, NULL);
    assert_true(services_started_ns(a) < services_started_ns(b));
    json_decref(a);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_owner_keeps),
        cmocka_unit_test(test_order_is_start_time_not_claim_order),
        cmocka_unit_test(test_release_passes_to_next),
        cmocka_unit_test(test_ids_independent),
        cmocka_unit_test(test_started_ns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
