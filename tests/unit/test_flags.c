/* Unit tests for lib/flags.c (Go flag syntax + environment) and lib/backoff.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "flags.h"
#include "duration.h"

static const char *s_ip;
static int b_internal;
static long long i_retry;
static int64_t d_resync;

static const flags_opt_t opts[] = {
    {"ip", FLAGS_STRING, &s_ip, NULL, "IP"},
    {"internal", FLAGS_BOOL, &b_internal, NULL, "internal"},
    {"retry-attempts", FLAGS_INT, &i_retry, "0", "retries"},
    {"resync", FLAGS_DURATION, &d_resync, "0", "resync"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static void test_flags(void **state)
{
    (void)state;
    char *argv[] = {"prog", "-ip", "1.2.3.4", "--internal", "-retry-attempts=-1", "-resync=30", "consul://", NULL};
    int first;
    char err[256];
    unsetenv("T_IP");
    assert_int_equal(flags_parse("T", opts, NOPTS, 7, argv, &first, err, sizeof err), 0);
    assert_string_equal(s_ip, "1.2.3.4");
    assert_int_equal(b_internal, 1);
    assert_int_equal(i_retry, -1);
    assert_int_equal(d_resync, 30 * DURATION_SEC);
    assert_int_equal(first, 6);
}

static void test_env_and_precedence(void **state)
{
    (void)state;
    setenv("T_IP", "5.6.7.8", 1);
    setenv("T_RETRY_ATTEMPTS", "4", 1);
    setenv("T_RESYNC", "1m", 1);
    char *argv[] = {"prog", "-retry-attempts", "2", NULL};
    int first;
    char err[256];
    assert_int_equal(flags_parse("T", opts, NOPTS, 3, argv, &first, err, sizeof err), 0);
    assert_string_equal(s_ip, "5.6.7.8");
    assert_int_equal(i_retry, 2);
    assert_int_equal(d_resync, 60 * DURATION_SEC);
    assert_int_equal(b_internal, 0);
    unsetenv("T_IP");
    unsetenv("T_RETRY_ATTEMPTS");
    unsetenv("T_RESYNC");
}

/* flags_env_get: an empty value counts as unset; getenv_fn, when given, is the only source. */
static const char *one_var(const char *name) { return strcmp(name, "T_SET") == 0 ? "v" : strcmp(name, "T_EMPTY") == 0 ? "" : NULL; }
static void test_env_get(void **state)
{
    assert_string_equal(flags_env_get(one_var, "T_SET"), "v");
    assert_null(flags_env_get(one_var, "T_EMPTY"));
    assert_null(flags_env_get(one_var, "T_ABSENT"));
    setenv("T_ENV_GET", "from-environ", 1);
    setenv("T_ENV_EMPTY", "", 1);
    assert_null(flags_env_get(one_var, "T_ENV_GET"));   /* getenv_fn given: environ is not read */
    assert_string_equal(flags_env_get(NULL, "T_ENV_GET"), "from-environ");
    assert_null(flags_env_get(NULL, "T_ENV_EMPTY"));
    unsetenv("T_ENV_GET");
    unsetenv("T_ENV_EMPTY");
    assert_null(flags_env_get(NULL, "T_ENV_GET"));
}

static void test_errors(void **state)
{
    (void)state;
    int first;
    char err[256];
    char *a1[] = {"prog", "-nope", NULL};
    assert_int_equal(flags_parse("T", opts, NOPTS, 2, a1, &first, err, sizeof err), -1);
    assert_string_equal(err, "flag provided but not defined: -nope");
    char *a2[] = {"prog", "-ip", NULL};
    assert_int_equal(flags_parse("T", opts, NOPTS, 2, a2, &first, err, sizeof err), -1);
    char *a3[] = {"prog", "-retry-attempts", "x", NULL};
    assert_int_equal(flags_parse("T", opts, NOPTS, 3, a3, &first, err, sizeof err), -1);
    char *a4[] = {"prog", "-internal=maybe", NULL};
    assert_int_equal(flags_parse("T", opts, NOPTS, 2, a4, &first, err, sizeof err), -1);
    char *a5[] = {"prog", "-help", NULL};
    assert_int_equal(flags_parse("T", opts, NOPTS, 2, a5, &first, err, sizeof err), 1);
    char env[64];
    flags_env_name("PORTOLAN", "useIpFromLabel", env, sizeof env);
    assert_string_equal(env, "PORTOLAN_USEIPFROMLABEL");
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(backoff_delay_ms(100, 10000, 0, 0), 50);
    assert_int_equal(backoff_delay_ms(100, 10000, 0, UINT32_MAX), 100);
    assert_int_equal(backoff_delay_ms(100, 10000, 3, UINT32_MAX), 800);
    assert_int_equal(backoff_delay_ms(100, 10000, 30, UINT32_MAX), 10000);
    assert_int_equal(backoff_delay_ms(100, 10000, 30, 0), 5000);
    backoff_t b;
    backoff_init(&b, 250, 60000);
    for (int i = 0; i < 100; i++) {
        uint64_t d = backoff_next_ms(&b);
        assert_true(d <= 60000);
        assert_true(d >= 125);
    }
    backoff_reset(&b);
    assert_true(backoff_next_ms(&b) <= 250);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_env_and_precedence),
        cmocka_unit_test(test_env_get),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests_name("flags", tests, NULL, NULL);
}
