/* test_prom.c: lib/prom, the Prometheus text writer every /metrics goes through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

static void test_families_and_samples(void **state)
{
    (void)state;
    prom_t *p = prom_new("pt_");
    assert_non_null(p);
    prom_counter(p, "requests_total", "Requests served.", 42);
    prom_gauge(p, "up", NULL, 1);
    prom_family(p, "events_total", "counter", "Events, by action.");
    prom_sample_u64(p, "events_total", "action", "start", 3);
    prom_sample_u64(p, "events_total", "action", "die", UINT64_MAX);
    prom_gauge_double(p, "last_ms", "Last duration.", 1.25);
    prom_gauge_double(p, "tenth", NULL, 0.1);
    size_t len = 0;
    char *s = prom_finish(p, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    assert_string_equal(s,
        "# HELP pt_requests_total Requests served.\n"
        "# TYPE pt_requests_total counter\n"
        "pt_requests_total 42\n"
        "# TYPE pt_up gauge\n"
        "pt_up 1\n"
        "# HELP pt_events_total Events, by action.\n"
        "# TYPE pt_events_total counter\n"
        "pt_events_total{action=\"start\"} 3\n"
        "pt_events_total{action=\"die\"} 18446744073709551615\n"
        "# HELP pt_last_ms Last duration.\n"
        "# TYPE pt_last_ms gauge\n"
        "pt_last_ms 1.25\n"
        "# TYPE pt_tenth gauge\n"
        "pt_tenth 0.1\n");
    free(s);
}

/* label values and HELP text are escaped as the format asks; special doubles spelled its way */
static void test_escaping_and_specials(void **state)
{
    (void)state;
    prom_t *p = prom_new(NULL);
    prom_family(p, "m", "gauge", "a \\ back\nslash");
    prom_sample_u64(p, "m", "name", "q\"uo\\te\nnl", 1);
    prom_sample_double(p, "m", "k", "nan", NAN);
    prom_sample_double(p, "m", "k", "inf", INFINITY);
    prom_sample_double(p, "m", "k", "-inf", -INFINITY);
    prom_sample_double(p, "m", "k", "big", 1e300);
    size_t len;
    char *s = prom_finish(p, &len);
    assert_non_null(s);
    assert_string_equal(s,
        "# HELP m a \\\\ back\\nslash\n"
        "# TYPE m gauge\n"
        "m{name=\"q\\\"uo\\\\te\\nnl\"} 1\n"
        "m{k=\"nan\"} NaN\n"
        "m{k=\"inf\"} +Inf\n"
        "m{k=\"-inf\"} -Inf\n"
        "m{k=\"big\"} 1e+300\n");
    free(s);
}

/* several labels, in the order given, each value escaped; a bad label name fails the writer */
static void test_several_labels(void **state)
{
    (void)state;
    prom_t *p = prom_new("x_");
    prom_family(p, "route_backend", "gauge", NULL);
    const char *l1[] = {"service", "hello/v1", "backend", "p1_0", NULL};
    const char *l2[] = {"service", "a\"b", "backend", "b_\\x", NULL};
    prom_sample_u64_labels(p, "route_backend", l1, 1);
    prom_sample_u64_labels(p, "route_backend", l2, 2);
    prom_sample_u64_labels(p, "route_backend", NULL, 3);
    size_t len;
    char *s = prom_finish(p, &len);
    assert_non_null(s);
    assert_string_equal(s,
        "# TYPE x_route_backend gauge\n"
        "x_route_backend{service=\"hello/v1\",backend=\"p1_0\"} 1\n"
        "x_route_backend{service=\"a\\\"b\",backend=\"b_\\\\x\"} 2\n"
        "x_route_backend 3\n");
    free(s);
    p = prom_new(NULL);
    const char *bad[] = {"ok", "1", "bad-name", "2", NULL};
    prom_sample_u64_labels(p, "m", bad, 1);
    assert_null(prom_finish(p, &len));
}

/* a name a scraper would reject fails the whole writer instead of emitting it */
static void test_bad_names_fail(void **state)
{
    (void)state;
    const char *bad[] = {"", "9lives", "has space", "dash-ed", "new\nline", "brace{"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        prom_t *p = prom_new("ok_");
        prom_counter(p, bad[i], "x", 1);
        size_t len;
        assert_null(prom_finish(p, &len));
    }
    prom_t *p = prom_new("bad prefix ");
    prom_gauge(p, "x", NULL, 1);
    assert_null(prom_finish(p, NULL));
    p = prom_new("");
    prom_family(p, "x", "gauge", NULL);
    prom_sample_u64(p, "x", "bad label", "v", 1);
    assert_null(prom_finish(p, NULL));
    p = prom_new("");
    prom_family(p, "x", "gauge\n# injected", NULL);
    assert_null(prom_finish(p, NULL));
    /* colons are allowed in metric names, not in label names */
    p = prom_new("");
    prom_gauge(p, "ns:x", NULL, 1);
    char *s = prom_finish(p, NULL);
    assert_non_null(s);
    assert_string_equal(s, "# TYPE ns:x gauge\nns:x 1\n");
    free(s);
    p = prom_new("");
    prom_family(p, "x", "gauge", NULL);
    prom_sample_u64(p, "x", "a:b", "v", 1);
    assert_null(prom_finish(p, NULL));
    assert_null(prom_finish(NULL, NULL));
}

/* the buffer grows past its first size: many families, all there, in order */
static void test_growth(void **state)
{
    (void)state;
    prom_t *p = prom_new("g_");
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "m%d", i);
        prom_counter(p, name, "A help text long enough to need several buffer doublings.", (uint64_t)i);
    }
    size_t len;
    char *s = prom_finish(p, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    assert_non_null(strstr(s, "\ng_m0 0\n"));
    assert_non_null(strstr(s, "\ng_m1999 1999\n"));
    assert_true(strstr(s, "g_m1998 1998") < strstr(s, "g_m1999 1999"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families_and_samples),
        cmocka_unit_test(test_escaping_and_specials),
        cmocka_unit_test(test_several_labels),
        cmocka_unit_test(test_bad_names_fail),
        cmocka_unit_test(test_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
