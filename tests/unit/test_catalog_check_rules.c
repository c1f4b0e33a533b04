/* Unit tests for catalog/check_rules.c (what a check definition may make the catalog send, and
 * where) and for decode.c applying them and refusing NUL characters in strings: every case that
 * went onto the wire or was resolved/wrapped before (issue 8, classes 3 and 8). Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rules.h"
#include "decode.h"

static char err[512];

static void test_method(void **st)
{
    (void)st;
    const char *good[] = {NULL, "", "GET", "PUT", "PATCH", "M-SEARCH", "x!#$%&'*+-.^_`|~9"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (check_rules_method(good[i], err, sizeof err) != 0)
            fail_msg("good method %zu refused: %s", i, err);
    const char *bad[] = {"GET\r\nX-Smuggled: 1", "GET\n", "DELETE / HTTP/1.1\r\n\r\nGET", "GE T", "GET\t",
                         "G\x7f", "(GET)", "GET/", "GÉT", "GET:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (check_rules_method(bad[i], err, sizeof err) != -1)
            fail_msg("bad method %zu accepted", i);
        assert_non_null(strstr(err, "Invalid check: Method"));
        assert_null(strpbrk(err, "\r\n")); /* the message never carries the bytes it refuses */
    }
}

static void test_header(void **st)
{
    (void)st;
    assert_int_equal(check_rules_header("X-Token", "abc def\tghi", err, sizeof err), 0);
    assert_int_equal(check_rules_header("Authorization", "Bearer é", err, sizeof err), 0); /* obs-text */
    assert_int_equal(check_rules_header("X-Empty", "", err, sizeof err), 0);
    assert_int_equal(check_rules_header("X-Only-Name", NULL, err, sizeof err), 0);
    const char *bad_names[] = {"", "X-A\r\nX-B", "X A", "X:A", "X-A\n", "(x)", "X\x01"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        if (check_rules_header(bad_names[i], "v", err, sizeof err) != -1)
            fail_msg("bad header name %zu accepted", i);
        assert_non_null(strstr(err, "Header names must be HTTP tokens"));
    }
    const char *bad_values[] = {"v\r\nDELETE /x HTTP/1.1", "v\r", "v\n", "a\x01" "b", "a\x1b[31m", "a\x7f"};
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        if (check_rules_header("X-A", bad_values[i], err, sizeof err) != -1)
            fail_msg("bad header value %zu accepted", i);
        assert_string_equal(err, "Invalid check: Header \"X-A\" has a value with a control character (CR, LF, NUL, ...)");
    }
}

static void test_http_url(void **st)
{
    (void)st;
    const char *good[] = {"http://127.0.0.1:8080/health", "https://10.0.0.1/", "http://[::1]:80/x?y=1",
                          "http://192.168.1.2", "http://user:pw@127.0.0.1:1/", "HTTP://127.0.0.1:65535/",
                          "http://[2001:db8::1]/"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (check_rules_http_url(good[i], err, sizeof err) != 0)
            fail_msg("good URL %s refused: %s", good[i], err);
    const char *bad[] = {
        "http://vm:18601/",                  /* a host name: resolved before, now refused */
        "http://localhost:80/",
        "http://example.com/",
        "http://127.0.0.1:99999/",           /* port out of range */
        "http://127.0.0.1:0/",
        "http://127.0.0.1:-1/",
        "http://[fe80::1%25eth0]:80/",       /* zone id names an interface */
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "127.0.0.1:80/x",                    /* no scheme */
        "http://127.0.0.1/\r\nX: y",
        "http://127.0.0.1/ x",
        "",
        "http://",
        "http://[::1/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (check_rules_http_url(bad[i], err, sizeof err) != -1)
            fail_msg("bad URL %zu (%s) accepted", i, bad[i]);
        assert_non_null(strstr(err, "Invalid check: HTTP must be an http:// or https:// URL whose host is an IP literal"));
    }
}

static void test_hostport(void **st)
{
    (void)st;
    struct sockaddr_storage ss;
    assert_int_equal(check_rules_hostport("TCP", "127.0.0.1:8080", 0, &ss, err, sizeof err), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
    assert_int_equal(check_rules_hostport("TCP", "[::1]:65535", 0, &ss, err, sizeof err), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 65535);
    assert_int_equal(check_rules_hostport("GRPC", "10.0.0.1:9000/my.Service", 1, &ss, err, sizeof err), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9000);
    assert_int_equal(check_rules_hostport("TCP", "127.0.0.1:1", 0, NULL, err, sizeof err), 0);

    const char *bad[] = {
        "127.0.0.1:99999",   /* wrapped to 34463 before */
        "127.0.0.1:65536", "127.0.0.1:0", "127.0.0.1:", "127.0.0.1:-80", "127.0.0.1:80x", "127.0.0.1:0080000",
        "127.0.0.1", "localhost:80", "vm:18601", "::1:80", "[::1]", "[fe80::1%eth0]:80", "0x7f.1:80",
        "127.0.0.1:80\r\n", ":80", "", "127.0.0.1:80/x", /* a service part is for gRPC only */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (check_rules_hostport("TCP", bad[i], 0, &ss, err, sizeof err) != -1)
            fail_msg("bad TCP target %zu (%s) accepted", i, bad[i]);
        assert_non_null(strstr(err, "Invalid check: TCP must be <IPv4>:<port> or [<IPv6>]:<port>"));
    }
    assert_int_equal(check_rules_hostport("GRPC", "vm:9000/svc", 1, &ss, err, sizeof err), -1);
    assert_non_null(strstr(err, "Invalid check: GRPC must be"));
}

/* decode.c applies the rules to every registration path, with a 400 */
static int reg(const char *body)
{
    cat_service_t *svc = NULL;
    cat_check_t **checks = NULL;
    size_t n = 0;
    int st = decode_service_register(body, strlen(body), &svc, &checks, &n, err, sizeof err);
    if (st == 200) {
        cat_service_free(svc);
        for (size_t i = 0; i < n; i++)
            cat_check_free(checks[i]);
        free(checks);
    }
    return st;
}

static void test_decode_refuses(void **st)
{
    (void)st;
    assert_int_equal(reg("{\"Name\":\"a\",\"Check\":{\"HTTP\":\"http://127.0.0.1:1/\",\"Interval\":\"10s\","
                         "\"Method\":\"POST\",\"Header\":{\"X-A\":[\"1\",\"2\"]}}}"), 200);
    assert_int_equal(reg("{\"Name\":\"a\",\"Check\":{\"HTTP\":\"http://127.0.0.1:1/\",\"Interval\":\"10s\","
                         "\"Method\":\"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nDELETE\"}}"), 400);
    assert_non_null(strstr(err, "Invalid check: Method"));
    assert_int_equal(reg("{\"Name\":\"a\",\"Checks\":[{\"TTL\":\"10s\"},{\"HTTP\":\"http://127.0.0.1:1/\",\"Interval\":\"10s\","
                         "\"Header\":{\"X-A\":[\"ok\",\"v\\r\\nX-Smuggled: 1\"]}}]}"), 400);
    assert_non_null(strstr(err, "Invalid check: Header \"X-A\""));
    assert_int_equal(reg("{\"Name\":\"a\",\"Check\":{\"HTTP\":\"http://vm:18601/\",\"Interval\":\"10s\"}}"), 400);
    assert_int_equal(reg("{\"Name\":\"a\",\"Check\":{\"TCP\":\"127.0.0.1:99999\",\"Interval\":\"10s\"}}"), 400);
    assert_int_equal(reg("{\"Name\":\"a\",\"Check\":{\"GRPC\":\"vm:1\",\"Interval\":\"10s\"}}"), 400);
    /* the agent's own check endpoint too */
    cat_check_t *c = NULL;
    const char *b = "{\"Name\":\"c\",\"TCP\":\"127.0.0.1:70000\",\"Interval\":\"10s\"}";
    assert_int_equal(decode_check_register(b, strlen(b), &c, err, sizeof err), 400);
    assert_null(c);
    b = "{\"Name\":\"c\",\"TCP\":\"127.0.0.1:7000\",\"Interval\":\"10s\"}";
    assert_int_equal(decode_check_register(b, strlen(b), &c, err, sizeof err), 200);
    cat_check_free(c);
}

/* "\u0000" would end every C string early: "a\u0000b" registered as "a" before */
static void test_decode_nul(void **st)
{
    (void)st;
    const char *bad[] = {
        "{\"Name\":\"web\\u0000evil\"}",
        "{\"Name\":\"web\",\"ID\":\"w\\u0000\"}",
        "{\"Name\":\"web\",\"Tags\":[\"rest\",\"x\\u0000y\"]}",
        "{\"Name\":\"web\",\"Meta\":{\"k\":\"v\\u0000\"}}",
        "{\"Name\":\"web\",\"Address\":\"10.0.0.1\\u0000.evil\"}",
        "{\"Name\":\"web\",\"Check\":{\"TTL\":\"10s\",\"Notes\":\"\\u0000\"}}",
        "{\"Name\":\"web\",\"Meta\":{\"k\\u0000\":\"v\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (reg(bad[i]) != 400)
            fail_msg("case %zu accepted", i);
        assert_non_null(strstr(err, "Request decode failed"));
    }
    assert_int_equal(reg("{\"Name\":\"web\\u0000\"}"), 400);
    assert_string_equal(err, "Request decode failed: a string holds a NUL character (\\u0000), which no field accepts");
    char *status = NULL, *output = NULL;
    const char *u = "{\"Status\":\"passing\",\"Output\":\"ok\\u0000hidden\"}";
    assert_int_equal(decode_check_update(u, strlen(u), &status, &output, err, sizeof err), 400);
    assert_null(output);
    assert_int_equal(reg("{\"Name\":\"web\\u0001\"}"), 200); /* other escapes are still just characters */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_http_url),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_decode_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
