/* Unit tests for agent/metadata.c, agent/checks.c and agent/cleanup.c: registrator's SERVICE_*
 * rules, tag escaping, Consul's Meta rules, check building, the cleanup ID pattern.
 * Table-driven where the rule is a table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "cleanup.h"
#include "metadata.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad JSON in test: %s: %s", s, e.text);
    return j;
}

/* ---- SERVICE_* precedence table ---- */
typedef struct {
    const char *what;
    const char *env;    /* JSON array */
    const char *labels; /* JSON object */
    const char *port;
    const char *key;
    const char *want;   /* NULL = unset */
    int from_port;
} md_case_t;

static const md_case_t md_cases[] = {
    {"env generic", "[\"SERVICE_NAME=web\"]", "{}", "80", "name", "web", 0},
    {"label generic", "[]", "{\"SERVICE_NAME\":\"lbl\"}", "80", "name", "lbl", 0},
    {"label beats env", "[\"SERVICE_NAME=env\"]", "{\"SERVICE_NAME\":\"lbl\"}", "80", "name", "lbl", 0},
    {"port-specific beats generic (env)", "[\"SERVICE_80_NAME=p\",\"SERVICE_NAME=g\"]", "{}", "80", "name", "p", 1},
    {"port-specific beats generic, generic later in labels", "[\"SERVICE_80_NAME=p\"]", "{\"SERVICE_NAME\":\"g\"}", "80", "name", "p", 1},
    {"port-specific label beats port-specific env", "[\"SERVICE_80_NAME=e\"]", "{\"SERVICE_80_NAME\":\"l\"}", "80", "name", "l", 1},
    {"other port ignored", "[\"SERVICE_8080_NAME=p\",\"SERVICE_NAME=g\"]", "{}", "80", "name", "g", 0},
    {"lower-cased key", "[\"SERVICE_CHECK_HTTP=/h\"]", "{}", "80", "check_http", "/h", 0},
    {"port-specific multi-part key", "[\"SERVICE_80_CHECK_HTTP=/x\"]", "{}", "80", "check_http", "/x", 1},
    {"empty value is unset", "[\"SERVICE_NAME=\"]", "{}", "80", "name", NULL, 0},
    {"empty label does not hide env", "[\"SERVICE_NAME=env\"]", "{\"SERVICE_NAME\":\"\"}", "80", "name", "env", 0},
    {"no '=' ignored", "[\"SERVICE_NAME\"]", "{}", "80", "name", NULL, 0},
    {"prefix is case-sensitive", "[\"service_name=x\"]", "{}", "80", "name", NULL, 0},
    {"value keeps '='", "[\"SERVICE_FOO=a=b\"]", "{}", "80", "foo", "a=b", 0},
    {"non-numeric port part is a generic key", "[\"SERVICE_ABC_NAME=x\"]", "{}", "80", "abc_name", "x", 0},
    {"huge number is a generic key", "[\"SERVICE_99999999999999999999_NAME=x\"]", "{}", "80", "99999999999999999999_name", "x", 0},
    {"leading zero port does not match", "[\"SERVICE_080_NAME=x\"]", "{}", "80", "name", NULL, 0},
    {"signed port does not match", "[\"SERVICE_+80_NAME=x\"]", "{}", "80", "name", NULL, 0},
    {"value with newline and quotes", "[\"SERVICE_FOO=a\\n\\\"b\"]", "{}", "80", "foo", "a\n\"b", 0},
    {"non-string env entries ignored", "[1, null, {\"a\":1}, \"SERVICE_NAME=ok\"]", "{}", "80", "name", "ok", 0},
    {"non-string label ignored", "[]", "{\"SERVICE_NAME\":5}", "80", "name", NULL, 0},
    {"env not an array", "\"SERVICE_NAME=x\"", "null", "80", "name", NULL, 0},
    {"plain env var ignored", "[\"NAME=x\"]", "{}", "80", "name", NULL, 0},
};

static void test_metadata_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof md_cases / sizeof md_cases[0]; i++) {
        const md_case_t *c = &md_cases[i];
        json_t *env = J(c->env), *labels = J(c->labels);
        metadata_t *m = metadata_build(env, labels, c->port);
        assert_non_null(m);
        const char *got = metadata_get(m, c->key);
        if (c->want == NULL) {
            if (got)
                fail_msg("%s: want unset, got \"%s\"", c->what, got);
        } else {
            if (!got || strcmp(got, c->want) != 0)
                fail_msg("%s: want \"%s\", got \"%s\"", c->what, c->want, got ? got : "(unset)");
            if (metadata_from_port(m, c->key) != c->from_port)
                fail_msg("%s: from_port %d", c->what, metadata_from_port(m, c->key));
        }
        metadata_free(m);
        json_decref(env);
        json_decref(labels);
    }
}

/* ---- tags ---- */
typedef struct {
    const char *in;
    const char *want; /* JSON */
} tag_case_t;

static const tag_case_t tag_cases[] = {
    {"a,b,c", "[\"a\",\"b\",\"c\"]"},
    {"a\\,b,c", "[\"a,b\",\"c\"]"},
    {",a,,b,", "[\"a\",\"b\"]"},
    {"", "[]"},
    {",,,", "[]"},
    {"x\\", "[\"x\\\\\"]"},
    {"a b,c\nd", "[\"a b\",\"c\\nd\"]"},
    {"\\,", "[\",\"]"},
};

static void test_tags(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof tag_cases / sizeof tag_cases[0]; i++) {
        json_t *arr = json_array(), *want = J(tag_cases[i].want);
        metadata_tags_append(arr, tag_cases[i].in);
        if (!json_equal(arr, want)) {
            char *g = json_dumps(arr, 0);
            fail_msg("tags \"%s\": want %s got %s", tag_cases[i].in, tag_cases[i].want, g);
        }
        json_decref(arr);
        json_decref(want);
    }
    json_t *arr = json_array();
    metadata_tags_append(arr, NULL);
    assert_int_equal(json_array_size(arr), 0);
    /* thousands of tags */
    size_t n = 5000;
    char *big = malloc(n * 6 + 1);
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off += (size_t)sprintf(big + off, "t%04zu,", i);
    metadata_tags_append(arr, big);
    assert_int_equal(json_array_size(arr), n);
    assert_string_equal(json_string_value(json_array_get(arr, 4999)), "t4999");
    free(big);
    json_decref(arr);
}

/* ---- Consul Meta ---- */
typedef struct {
    const char *key, *value;
    const char *reason; /* NULL = valid */
} meta_case_t;

static const meta_case_t meta_cases[] = {
    {"version", "1", NULL},
    {"a-b_C9", "x", NULL},
    {"", "x", "Key cannot be blank"},
    {"a.b", "x", "Key contains invalid characters"},
    {"a b", "x", "Key contains invalid characters"},
    {"a\nb", "x", "Key contains invalid characters"},
    {"consul-x", "x", "Key prefix 'consul-' is reserved for internal use"},
    {"consul_x", "x", NULL},
};

static void test_meta_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof meta_cases / sizeof meta_cases[0]; i++) {
        const char *r = metadata_meta_pair_invalid(meta_cases[i].key, meta_cases[i].value);
        if (meta_cases[i].reason == NULL)
            assert_null(r);
        else
            assert_string_equal(r, meta_cases[i].reason);
    }
    char k128[130], v513[520];
    memset(k128, 'k', 128);
    k128[128] = '\0';
    assert_null(metadata_meta_pair_invalid(k128, "v"));
    k128[128] = 'k', k128[129] = '\0';
    assert_string_equal(metadata_meta_pair_invalid(k128, "v"), "Key is too long (limit: 128 characters)");
    memset(v513, 'v', 512);
    v513[512] = '\0';
    assert_null(metadata_meta_pair_invalid("k", v513));
    v513[512] = 'v', v513[513] = '\0';
    assert_string_equal(metadata_meta_pair_invalid("k", v513), "Value is too long (limit: 512 characters)");
}

static void test_consul_meta(void **state)
{
    (void)state;
    /* id/name/tags/ignore are not Meta; bad keys skipped with a reason; the rest kept */
    json_t *env = J("[\"SERVICE_NAME=n\",\"SERVICE_ID=i\",\"SERVICE_TAGS=t\",\"SERVICE_VERSION=2\","
                    "\"SERVICE_A.B=x\",\"SERVICE_CONSUL-X=y\",\"SERVICE_CHECK_HTTP=/h\"]");
    metadata_t *m = metadata_build(env, NULL, "80");
    warn_list_t w = {0};
    json_t *meta = metadata_consul_meta(m, &w);
    json_t *want = J("{\"version\":\"2\",\"check_http\":\"/h\"}");
    assert_true(json_equal(meta, want));
    assert_int_equal(w.n, 2);
    assert_true(warn_list_contains(&w, "Key contains invalid characters"));
    assert_true(warn_list_contains(&w, "reserved"));
    warn_list_free(&w);
    json_decref(meta);
    json_decref(want);
    metadata_free(m);
    json_decref(env);

    /* > 64 pairs: the first 64 in sorted key order are kept, every time */
    json_t *labels = json_object();
    for (int i = 0; i < 100; i++) {
        char k[32];
        snprintf(k, sizeof k, "SERVICE_K%03d", i);
        json_object_set_new(labels, k, json_string("v"));
    }
    m = metadata_build(NULL, labels, "80");
    meta = metadata_consul_meta(m, &w);
    assert_int_equal(json_object_size(meta), 64);
    assert_non_null(json_object_get(meta, "k000"));
    assert_non_null(json_object_get(meta, "k063"));
    assert_null(json_object_get(meta, "k064"));
    assert_int_equal(w.n + w.dropped, 36);
    warn_list_free(&w);
    json_decref(meta);
    metadata_free(m);
    json_decref(labels);

    /* huge value: skipped, not truncated */
    char *huge = malloc(1 << 20);
    memset(huge, 'x', (1 << 20) - 1);
    huge[(1 << 20) - 1] = '\0';
    labels = json_pack("{ss}", "SERVICE_BIG", huge);
    m = metadata_build(NULL, labels, "80");
    meta = metadata_consul_meta(m, &w);
    assert_int_equal(json_object_size(meta), 0);
    assert_true(warn_list_contains(&w, "Value is too long"));
    warn_list_free(&w);
    json_decref(meta);
    metadata_free(m);
    json_decref(labels);
    free(huge);
}

static void test_plain(void **state)
{
    (void)state;
    json_t *env = J("[\"VIRTUAL_HOST=a.example\",\"VIRTUAL_PORT=\"]");
    json_t *labels = J("{\"VIRTUAL_HOST\":\"b.example\"}");
    assert_string_equal(metadata_plain(env, labels, "VIRTUAL_HOST"), "b.example");
    assert_string_equal(metadata_plain(env, NULL, "VIRTUAL_HOST"), "a.example");
    assert_null(metadata_plain(env, labels, "VIRTUAL_PORT"));
    assert_null(metadata_plain(env, labels, "VIRTUAL"));
    json_decref(env);
    json_decref(labels);
}

/* ---- checks ---- */
typedef struct {
    const char *what;
    const char *env; /* JSON array */
    const char *want; /* JSON or NULL for no check */
    const char *warn; /* substring expected in warnings, or NULL for none */
} check_case_t;

static const check_case_t check_cases[] = {
    {"none", "[]", NULL, NULL},
    {"http", "[\"SERVICE_CHECK_HTTP=/health\"]",
     "{\"HTTP\":\"http://10.0.0.2:8080/health\",\"Interval\":\"10s\"}", NULL},
    {"http with method, timeout, interval, status, deregister",
     "[\"SERVICE_CHECK_HTTP=/h\",\"SERVICE_CHECK_HTTP_METHOD=HEAD\",\"SERVICE_CHECK_TIMEOUT=2s\","
     "\"SERVICE_CHECK_INTERVAL=5s\",\"SERVICE_CHECK_INITIAL_STATUS=passing\",\"SERVICE_CHECK_DEREGISTER_AFTER=10m\"]",
     "{\"HTTP\":\"http://10.0.0.2:8080/h\",\"Method\":\"HEAD\",\"Timeout\":\"2s\",\"Interval\":\"5s\","
     "\"Status\":\"passing\",\"DeregisterCriticalServiceAfter\":\"10m\"}", NULL},
    {"https", "[\"SERVICE_CHECK_HTTPS=/s\",\"SERVICE_CHECK_HTTPS_METHOD=POST\"]",
     "{\"HTTP\":\"https://10.0.0.2:8080/s\",\"Method\":\"POST\",\"Interval\":\"10s\"}", NULL},
    {"https skip verify", "[\"SERVICE_CHECK_HTTPS=/s\",\"SERVICE_CHECK_TLS_SKIP_VERIFY=1\"]",
     "{\"HTTP\":\"https://10.0.0.2:8080/s\",\"TLSSkipVerify\":true,\"Interval\":\"10s\"}", NULL},
    {"http ignores skip verify", "[\"SERVICE_CHECK_HTTP=/s\",\"SERVICE_CHECK_TLS_SKIP_VERIFY=1\"]",
     "{\"HTTP\":\"http://10.0.0.2:8080/s\",\"Interval\":\"10s\"}", NULL},
    {"http wins over tcp", "[\"SERVICE_CHECK_TCP=true\",\"SERVICE_CHECK_HTTP=/h\"]",
     "{\"HTTP\":\"http://10.0.0.2:8080/h\",\"Interval\":\"10s\"}", NULL},
    {"script with substitution", "[\"SERVICE_CHECK_SCRIPT=nc -z $SERVICE_IP $SERVICE_PORT\"]",
     "{\"Args\":[\"/bin/sh\",\"-c\",\"nc -z 10.0.0.2 8080\"],\"Interval\":\"10s\"}", NULL},
    {"cmd", "[\"SERVICE_CHECK_CMD=/bin/true\"]",
     "{\"Args\":[\"/bin/sh\",\"-c\",\"check-cmd 0123456789ab 80 /bin/true\"],\"Interval\":\"10s\"}", NULL},
    {"ttl has no interval", "[\"SERVICE_CHECK_TTL=30s\",\"SERVICE_CHECK_INTERVAL=5s\"]", "{\"TTL\":\"30s\"}", NULL},
    {"tcp", "[\"SERVICE_CHECK_TCP=true\",\"SERVICE_CHECK_TIMEOUT=1s\"]",
     "{\"TCP\":\"10.0.0.2:8080\",\"Timeout\":\"1s\",\"Interval\":\"10s\"}", NULL},
    {"grpc tls skip verify", "[\"SERVICE_CHECK_GRPC=true\",\"SERVICE_CHECK_GRPC_USE_TLS=true\",\"SERVICE_CHECK_TLS_SKIP_VERIFY=true\"]",
     "{\"GRPC\":\"10.0.0.2:8080\",\"GRPCUseTLS\":true,\"TLSSkipVerify\":true,\"Interval\":\"10s\"}", NULL},
    {"grpc skip verify needs tls", "[\"SERVICE_CHECK_GRPC=true\",\"SERVICE_CHECK_TLS_SKIP_VERIFY=true\"]",
     "{\"GRPC\":\"10.0.0.2:8080\",\"Interval\":\"10s\"}", NULL},
    {"bad interval falls back to 10s", "[\"SERVICE_CHECK_TCP=1\",\"SERVICE_CHECK_INTERVAL=10\"]",
     "{\"TCP\":\"10.0.0.2:8080\",\"Interval\":\"10s\"}", "interval"},
    {"zero interval falls back", "[\"SERVICE_CHECK_TCP=1\",\"SERVICE_CHECK_INTERVAL=0s\"]",
     "{\"TCP\":\"10.0.0.2:8080\",\"Interval\":\"10s\"}", "interval"},
    {"bad ttl: no check", "[\"SERVICE_CHECK_TTL=soon\"]", NULL, "ttl"},
    {"bad status dropped", "[\"SERVICE_CHECK_TCP=1\",\"SERVICE_CHECK_INITIAL_STATUS=ok\"]",
     "{\"TCP\":\"10.0.0.2:8080\",\"Interval\":\"10s\"}", "initial_status"},
    {"bad timeout dropped", "[\"SERVICE_CHECK_TCP=1\",\"SERVICE_CHECK_TIMEOUT=x\"]",
     "{\"TCP\":\"10.0.0.2:8080\",\"Interval\":\"10s\"}", "timeout"},
    {"http path with newline: no check", "[\"SERVICE_CHECK_HTTP=/a\\nb\"]", NULL, "control"},
    {"bad method dropped", "[\"SERVICE_CHECK_HTTP=/h\",\"SERVICE_CHECK_HTTP_METHOD=GE T\"]",
     "{\"HTTP\":\"http://10.0.0.2:8080/h\",\"Interval\":\"10s\"}", "method"},
};

static void test_checks_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof check_cases / sizeof check_cases[0]; i++) {
        const check_case_t *c = &check_cases[i];
        json_t *env = J(c->env);
        metadata_t *m = metadata_build(env, NULL, "80");
        warn_list_t w = {0};
        json_t *got = checks_build_set(m, "check_", "10.0.0.2", 8080, "0123456789abcdef", "80", &w);
        if (!c->want) {
            if (got)
                fail_msg("%s: want no check, got %s", c->what, json_dumps(got, 0));
        } else {
            json_t *want = J(c->want);
            if (!got || !json_equal(got, want))
                fail_msg("%s: want %s got %s", c->what, c->want, got ? json_dumps(got, 0) : "NULL");
            json_decref(want);
        }
        if (c->warn && !warn_list_contains(&w, c->warn))
            fail_msg("%s: want a warning containing \"%s\" (%zu warnings)", c->what, c->warn, w.n);
        if (!c->warn && w.n)
            fail_msg("%s: unexpected warning: %s", c->what, w.items[0]);
        warn_list_free(&w);
        json_decref(got);
        metadata_free(m);
        json_decref(env);
    }
}

/* Check targets from hostile metadata (issue 8, class 2): the check always aims at the service's
 * own address and port, or there is no check and a warning says why. */
typedef struct {
    const char *what;
    const char *ip;
    int port;
    const char *env;  /* JSON array */
    const char *want; /* the check's target (HTTP, TCP, GRPC or the script), or NULL: no check */
    const char *warn; /* warning substring, or NULL: none */
} target_case_t;

static const target_case_t target_cases[] = {
    {"userinfo trick of the issue", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=@127.0.0.1:18701/internal-secret\"]",
     NULL, "not a path starting with /"},
    {"https userinfo trick", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTPS=@127.0.0.1/x\"]", NULL, "refused"},
    {"another host after the port", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=.evil.example/x\"]", NULL,
     "not a path starting with /"},
    {"a port of its own", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=:22/x\"]", NULL, "not a path"},
    {"a whole URL", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=http://127.0.0.1/\"]", NULL, "not a path"},
    {"empty-looking path", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=?x=1\"]", NULL, "not a path"},
    {"CR LF in the path", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=/a\\r\\nHost: evil\"]", NULL, "control"},
    {"space in the path", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=/a b\"]", NULL, "spaces"},
    {"fragment", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=/a#@127.0.0.1\"]", NULL, "'#'"},
    {"backslash", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=/\\\\127.0.0.1/x\"]", NULL, "refused"},
    {"non-ASCII", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=/\\u00e9\"]", NULL, "non-ASCII"},
    {"double slash stays a path on our host", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=//127.0.0.1:18701/x\"]",
     "http://10.0.0.2:8080//127.0.0.1:18701/x", NULL},
    {"@ inside the path is only a path", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=/a@127.0.0.1:1/b\"]",
     "http://10.0.0.2:8080/a@127.0.0.1:1/b", NULL},
    {"query kept", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=/h?full=1&x=%41\"]",
     "http://10.0.0.2:8080/h?full=1&x=%41", NULL},
    {"dot segments resolved on our host", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=/a/../../b\"]",
     "http://10.0.0.2:8080/b", NULL},
    {"IPv6 address bracketed", "fd00::2", 80, "[\"SERVICE_CHECK_HTTP=/ready\"]", "http://[fd00::2]:80/ready", NULL},
    {"host name address", "node-1.example", 80, "[\"SERVICE_CHECK_HTTPS=/h\"]", "https://node-1.example:80/h", NULL},
    {"address with userinfo (hostile label)", "x@127.0.0.1", 80, "[\"SERVICE_CHECK_HTTP=/h\"]", NULL, "no usable address"},
    {"address with a path", "127.0.0.1/x", 80, "[\"SERVICE_CHECK_HTTP=/h\"]", NULL, "no usable address"},
    {"no address: no HTTP check", "", 80, "[\"SERVICE_CHECK_HTTP=/h\"]", NULL, "no usable address"},
    {"IPv6 zone refused", "fe80::1%eth0", 80, "[\"SERVICE_CHECK_HTTP=/h\"]", NULL, "no usable address"},
    {"tcp on a hostile address", "127.0.0.1:22#", 80, "[\"SERVICE_CHECK_TCP=true\"]", NULL, "no usable address"},
    {"tcp ignores its value", "10.0.0.2", 8080, "[\"SERVICE_CHECK_TCP=127.0.0.1:22\"]", "10.0.0.2:8080", NULL},
    {"tcp without address", "", 80, "[\"SERVICE_CHECK_TCP=true\"]", NULL, "no usable address"},
    {"grpc ignores its value", "10.0.0.2", 8080, "[\"SERVICE_CHECK_GRPC=127.0.0.1:22/x\"]", "10.0.0.2:8080", NULL},
    {"grpc on a hostile address", "a b", 80, "[\"SERVICE_CHECK_GRPC=true\"]", NULL, "no usable address"},
    {"script: newline hides a second command", "10.0.0.2", 8080, "[\"SERVICE_CHECK_SCRIPT=true\\ncurl evil\"]",
     NULL, "control characters"},
    {"script: ESC", "10.0.0.2", 8080, "[\"SERVICE_CHECK_SCRIPT=true \\u001b[2J\"]", NULL, "control characters"},
    {"script: too long", "10.0.0.2", 8080, NULL, NULL, "longer than 1024"},
    {"script: $SERVICE_IP from a hostile address", "1.2.3.4;reboot", 80,
     "[\"SERVICE_CHECK_SCRIPT=nc -z $SERVICE_IP $SERVICE_PORT\"]", NULL, "no usable address"},
    {"script without $SERVICE_IP needs no address", "", 80, "[\"SERVICE_CHECK_SCRIPT=/bin/true\"]", "/bin/true", NULL},
    {"script: substitution of good values", "10.0.0.2", 8080, "[\"SERVICE_CHECK_SCRIPT=nc -z $SERVICE_IP $SERVICE_PORT\"]",
     "nc -z 10.0.0.2 8080", NULL},
    {"cmd: CR", "10.0.0.2", 8080, "[\"SERVICE_CHECK_CMD=/bin/true\\r\"]", NULL, "control characters"},
    {"the warning names the key", "10.0.0.2", 8080, "[\"SERVICE_CHECK_HTTP=@127.0.0.1/x\"]", NULL, "SERVICE_check_http"},
};

static const char *check_target(const json_t *c)
{
    const char *keys[] = {"HTTP", "TCP", "GRPC"};
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(c, keys[i]))
            return json_string_value(json_object_get(c, keys[i]));
    return json_string_value(json_array_get(json_object_get(c, "Args"), 2));
}

static void test_check_targets_table(void **state)
{
    (void)state;
    char longenv[1200];
    snprintf(longenv, sizeof longenv, "[\"SERVICE_CHECK_SCRIPT=%01100d\"]", 7);
    for (size_t i = 0; i < sizeof target_cases / sizeof target_cases[0]; i++) {
        const target_case_t *c = &target_cases[i];
        json_t *env = J(c->env ? c->env : longenv);
        metadata_t *m = metadata_build(env, NULL, "80");
        warn_list_t w = {0};
        json_t *got = checks_build_set(m, "check_", c->ip, c->port, "0123456789abcdef", "80", &w);
        const char *t = got ? check_target(got) : NULL;
        if (!c->want && got)
            fail_msg("%s: want no check, got %s", c->what, json_dumps(got, 0));
        if (c->want && (!t || strcmp(t, c->want) != 0))
            fail_msg("%s: want target %s, got %s", c->what, c->want, got ? json_dumps(got, 0) : "no check");
        if (c->warn && !warn_list_contains(&w, c->warn))
            fail_msg("%s: want a warning containing \"%s\" (%zu warnings%s%s)", c->what, c->warn, w.n,
                     w.n ? ": " : "", w.n ? w.items[0] : "");
        if (!c->warn && w.n)
            fail_msg("%s: unexpected warning: %s", c->what, w.items[0]);
        warn_list_free(&w);
        json_decref(got);
        metadata_free(m);
        json_decref(env);
    }
}

static void test_check_host_ok(void **state)
{
    (void)state;
    const char *good[] = {"10.0.0.2", "::1", "fd00::2", "host", "node-1.example.com", "a.b-c.d"};
    const char *bad[] = {"", "1.2.3", "999.1.1.1", "x@y", "a b", "-a", "a-", "a..b", ".a", "a.",
                         "1.2.3.4:80", "[::1]", "fe80::1%eth0", "a/b", "a_b", "127.0.0.1#"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!checks_host_ok(good[i]))
            fail_msg("\"%s\" should be a usable check host", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (checks_host_ok(bad[i]))
            fail_msg("\"%s\" should not be a usable check host", bad[i]);
    assert_false(checks_host_ok(NULL));
    const char *why = NULL;
    assert_null(checks_http_target("http", "10.0.0.2", 0, "/", &why));
    assert_non_null(why);
    char *u = checks_http_target("http", "10.0.0.2", 65535, "/", &why);
    assert_string_equal(u, "http://10.0.0.2:65535/");
    free(u);
}

static void test_checks_ipv6_and_sets(void **state)
{
    (void)state;
    json_t *env = J("[\"SERVICE_CHECK_TCP=1\",\"SERVICE_CHECK_2_HTTP=/ready\",\"SERVICE_CHECK_2_INTERVAL=3s\"]");
    metadata_t *m = metadata_build(env, NULL, "80");
    json_t *got = checks_build_set(m, "check_", "fd00::2", 80, "id", "80", NULL);
    assert_string_equal(json_string_value(json_object_get(got, "TCP")), "[fd00::2]:80");
    json_decref(got);
    got = checks_build_set(m, "check_2_", "fd00::2", 80, "id", "80", NULL);
    assert_string_equal(json_string_value(json_object_get(got, "HTTP")), "http://[fd00::2]:80/ready");
    assert_string_equal(json_string_value(json_object_get(got, "Interval")), "3s");
    json_decref(got);
    assert_null(checks_build_set(m, "check_3_", "fd00::2", 80, "id", "80", NULL));
    metadata_free(m);
    json_decref(env);

    assert_string_equal(checks_docker_health_status("healthy"), "passing");
    assert_string_equal(checks_docker_health_status("unhealthy"), "critical");
    assert_string_equal(checks_docker_health_status("starting"), "critical");
    got = checks_ttl("cid", "n", 90 * (int64_t)1000000000, "passing", NULL);
    json_t *want = J("{\"CheckID\":\"cid\",\"Name\":\"n\",\"TTL\":\"1m30s\",\"Status\":\"passing\"}");
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
}

/* ---- cleanup pattern ---- */
typedef struct {
    const char *id;
    int match;
    const char *host, *name;
} id_case_t;

static const id_case_t id_cases[] = {
    {"node1:web:80", 1, "node1", "web"},
    {"node1:web:53:udp", 1, "node1", "web"},
    {"node1:my_app.1-x:8080", 1, "node1", "my_app.1-x"},
    {"a:b:c:80", 0, NULL, NULL},         /* every split leaves a one-char name */
    {"a:bb:cc:80", 1, "a:bb", "cc"},     /* lazy host: "a" fails ("cc" is no port), "a:bb" fits */
    {"host:with:colons:web:80", 1, "host:with:colons", "web"},
    {"node:w:80", 0, NULL, NULL},       /* name needs two chars */
    {"node:web:80:tcp", 0, NULL, NULL},
    {"node:web:", 0, NULL, NULL},
    {":web:80", 0, NULL, NULL},         /* empty host */
    {"web", 0, NULL, NULL},
    {"", 0, NULL, NULL},
    {"node:_web:80", 0, NULL, NULL},
    {"node:web:8x", 0, NULL, NULL},
};

static void test_cleanup_pattern(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof id_cases / sizeof id_cases[0]; i++) {
        const id_case_t *c = &id_cases[i];
        size_t hl, no, nl;
        int m = cleanup_parse_id(c->id, &hl, &no, &nl);
        if (m != c->match)
            fail_msg("\"%s\": match %d", c->id, m);
        if (m) {
            assert_int_equal(hl, strlen(c->host));
            assert_memory_equal(c->id, c->host, hl);
            assert_int_equal(nl, strlen(c->name));
            assert_memory_equal(c->id + no, c->name, nl);
        }
    }
    assert_true(cleanup_is_ours("node1:web:80", "node1"));
    assert_false(cleanup_is_ours("node1:web:80", "node"));
    assert_false(cleanup_is_ours("node1:web:80", "node12"));
    assert_false(cleanup_is_ours("custom-id", "node1"));
    assert_false(cleanup_is_ours("node1:web:80", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metadata_table),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_meta_rules),
        cmocka_unit_test(test_consul_meta),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_checks_table),
        cmocka_unit_test(test_check_targets_table),
        cmocka_unit_test(test_check_host_ok),
        cmocka_unit_test(test_checks_ipv6_and_sets),
        cmocka_unit_test(test_cleanup_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
