/* Unit tests for lib/duration.c: Go's ParseDuration and Duration.String behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "duration.h"

static void parse_ok(const char *s, int64_t want)
{
    int64_t got = -12345;
    char err[128] = "";
    assert_int_equal(duration_parse(s, &got, err, sizeof err), 0);
    assert_int_equal(got, want);
}

static void test_parse_valid(void **state)
{
    (void)state;
    parse_ok("0", 0);
    parse_ok("10s", 10 * DURATION_SEC);
    parse_ok("1m30s", 90 * DURATION_SEC);
    parse_ok("100ms", 100 * DURATION_MS);
    parse_ok("1.5h", 90 * DURATION_MIN);
    parse_ok("-2us", -2 * DURATION_US);
    parse_ok("1\xc2\xb5s", DURATION_US);
    parse_ok(".5s", 500 * DURATION_MS);
    parse_ok("1h2m3s4ms5us6ns", DURATION_HOUR + 2 * DURATION_MIN + 3 * DURATION_SEC + 4 * DURATION_MS + 5 * DURATION_US + 6);
}

static void test_parse_errors(void **state)
{
    (void)state;
    int64_t v;
    char err[128];
    assert_int_equal(duration_parse("10", &v, err, sizeof err), -1);
    assert_string_equal(err, "time: missing unit in duration \"10\"");
    assert_int_equal(duration_parse("10x", &v, err, sizeof err), -1);
    assert_string_equal(err, "time: unknown unit \"x\" in duration \"10x\"");
    assert_int_equal(duration_parse("", &v, err, sizeof err), -1);
    assert_int_equal(duration_parse("s", &v, err, sizeof err), -1);
    assert_int_equal(duration_parse("1s ", &v, err, sizeof err), -1);
    assert_int_equal(duration_parse("99999999999999999999h", &v, err, sizeof err), -1);
    assert_int_equal(duration_parse("3000000h", &v, err, sizeof err), -1);
}

static void fmt_is(int64_t d, const char *want)
{
    char buf[64];
    duration_format(d, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_format(void **state)
{
    (void)state;
    fmt_is(0, "0s");
    fmt_is(60 * DURATION_SEC, "1m0s");
    fmt_is(100 * DURATION_MS, "100ms");
    fmt_is(1500 * DURATION_MS, "1.5s");
    fmt_is(10 * DURATION_SEC, "10s");
    fmt_is(90 * DURATION_MIN, "1h30m0s");
    fmt_is(1, "1ns");
    fmt_is(1500, "1.5\xc2\xb5s");
    fmt_is(-2 * DURATION_SEC, "-2s");
    fmt_is(72 * DURATION_HOUR + 1, "72h0m0.000000001s");
}

static void test_roundtrip(void **state)
{
    (void)state;
    const int64_t vals[] = {1, 999, 1000, 123456789, 5 * DURATION_MIN, 10 * DURATION_MIN + 7 * DURATION_MS};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char buf[64];
        int64_t back;
        duration_format(vals[i], buf, sizeof buf);
        assert_int_equal(duration_parse(buf, &back, NULL, 0), 0);
        assert_int_equal(back, vals[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
