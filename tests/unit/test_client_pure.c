/* Unit tests for the pure parts of the lib/ clients: registry URIs and CONSUL_* variables,
 * DOCKER_* variables, API-version choice, event-line splitting (every way a stream can be cut),
 * event "since" values, the blocking-query index rules, the rate-limit delay, blocking paths,
 * and KV value decoding. No I/O. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consul_client.h"
#include "consul_watch.h"
#include "docker_client.h"

/* ---- a fake environment ---- */

static const char *fake_env[32][2];

static void env_set(const char *const *kv)
{
    memset(fake_env, 0, sizeof fake_env);
    for (int i = 0; kv && kv[2 * i]; i++) {
        fake_env[i][0] = kv[2 * i];
        fake_env[i][1] = kv[2 * i + 1];
    }
}

static const char *fake_getenv(const char *name)
{
    for (int i = 0; i < 32 && fake_env[i][0]; i++)
        if (strcmp(fake_env[i][0], name) == 0)
            return fake_env[i][1];
    return NULL;
}

/* ---- consul endpoint ---- */

typedef struct {
    const char *uri;
    const char *env[12];    /* name, value pairs, NULL-terminated */
    int ok;
    const char *base_url;
    const char *unix_path;
    int tls, verify;
    const char *ca, *token;
    const char *err_part;
} consul_case_t;

static const consul_case_t consul_cases[] = {
    {"consul://10.0.0.5:8500", {NULL}, 1, "http://10.0.0.5:8500", NULL, 0, 1, NULL, NULL, NULL},
    {"consul://consul.local", {NULL}, 1, "http://consul.local:8500", NULL, 0, 1, NULL, NULL, NULL},
    {"consul://", {NULL}, 1, "http://127.0.0.1:8500", NULL, 0, 1, NULL, NULL, NULL},
    {"consul://:8600", {NULL}, 1, "http://127.0.0.1:8600", NULL, 0, 1, NULL, NULL, NULL},
    {"consul://", {"CONSUL_HTTP_ADDR", "10.1.1.1:9500", NULL}, 1, "http://10.1.1.1:9500", NULL, 0, 1, NULL, NULL, NULL},
    {"consul://", {"CONSUL_HTTP_ADDR", "http://c1:8500", NULL}, 1, "http://c1:8500", NULL, 0, 1, NULL, NULL, NULL},
    {"consul://", {"CONSUL_HTTP_ADDR", "https://c1", "CONSUL_CACERT", "/ca.pem", NULL}, 1, "https://c1:8501", NULL, 1, 1, "/ca.pem", NULL, NULL},
    {"consul://", {"CONSUL_HTTP_ADDR", "c1:8500", "CONSUL_HTTP_SSL", "true", NULL}, 1, "https://c1:8500", NULL, 1, 1, NULL, NULL, NULL},
    {"consul://", {"CONSUL_HTTP_ADDR", "unix:///run/consul.sock", NULL}, 1, "http://localhost", "/run/consul.sock", 0, 1, NULL, NULL, NULL},
    {"consul://", {"CONSUL_HTTP_ADDR", "ftp://x", NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "unsupported scheme"},
    /* an explicit host beats CONSUL_HTTP_ADDR */
    {"consul://10.0.0.9:8500", {"CONSUL_HTTP_ADDR", "10.1.1.1:9500", NULL}, 1, "http://10.0.0.9:8500", NULL, 0, 1, NULL, NULL, NULL},
    {"consul-tls://consul:8501", {"CONSUL_CACERT", "/etc/ca.pem", "CONSUL_CLIENT_CERT", "/c.pem", "CONSUL_CLIENT_KEY", "/k.pem", NULL},
     1, "https://consul:8501", NULL, 1, 1, "/etc/ca.pem", NULL, NULL},
    {"consul-tls://consul", {NULL}, 1, "https://consul:8501", NULL, 1, 1, NULL, NULL, NULL},
    {"consul-tls://consul:8501", {"CONSUL_HTTP_SSL_VERIFY", "false", NULL}, 1, "https://consul:8501", NULL, 1, 0, NULL, NULL, NULL},
    {"consul-unix:///var/run/consul.sock", {NULL}, 1, "http://localhost", "/var/run/consul.sock", 0, 1, NULL, NULL, NULL},
    {"consul-unix://relative.sock", {NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "absolute"},
    {"consul://[::1]:8500", {NULL}, 1, "http://[::1]:8500", NULL, 0, 1, NULL, NULL, NULL},
    {"consul://[::1]", {NULL}, 1, "http://[::1]:8500", NULL, 0, 1, NULL, NULL, NULL},
    {"consul://host:8500/ignored/path", {NULL}, 1, "http://host:8500", NULL, 0, 1, NULL, NULL, NULL},
    {"127.0.0.1:8500", {NULL}, 1, "http://127.0.0.1:8500", NULL, 0, 1, NULL, NULL, NULL},
    {"consul://h:0", {NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "invalid port"},
    {"consul://h:99999", {NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "invalid port"},
    {"consul://h:80x", {NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "invalid port"},
    {"consul://h:", {NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "invalid port"},
    {"consul://ho st:1", {NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "invalid character"},
    {"consul://h\r\nX: y:1", {NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "invalid character"},
    {"etcd://h:2379", {NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "unsupported scheme (use consul://, consul-tls:// or consul-unix://)"},
    {"", {NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "missing registry URI"},
    {"consul://h:1", {"CONSUL_HTTP_TOKEN", "s3cret", NULL}, 1, "http://h:1", NULL, 0, 1, NULL, "s3cret", NULL},
    {"consul://h:1", {"CONSUL_HTTP_TOKEN", "bad\ntoken", NULL}, 0, NULL, NULL, 0, 0, NULL, NULL, "control characters"},
    /* TLS file variables are ignored for plain http */
    {"consul://h:1", {"CONSUL_CACERT", "/ca.pem", NULL}, 1, "http://h:1", NULL, 0, 1, NULL, NULL, NULL},
};

static void test_consul_endpoint(void **state)
{
    for (size_t i = 0; i < sizeof consul_cases / sizeof consul_cases[0]; i++) {
        const consul_case_t *tc = &consul_cases[i];
        env_set(tc->env);
        consul_endpoint_t ep;
        char err[256] = "";
        int rc = consul_endpoint_parse(tc->uri, fake_getenv, &ep, err, sizeof err);
        print_message("# consul case %zu -> %d\n", i, rc);
        if (!tc->ok) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, tc->err_part));
            assert_true(strncmp(err, "consul: ", 8) == 0);
            assert_null(ep.base_url);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(ep.base_url, tc->base_url);
        if (tc->unix_path)
            assert_string_equal(ep.unix_path, tc->unix_path);
        else
            assert_null(ep.unix_path);
        assert_int_equal(ep.tls, tc->tls);
        assert_int_equal(ep.tls_verify, tc->verify);
        if (tc->ca)
            assert_string_equal(ep.ca_file, tc->ca);
        else
            assert_null(ep.ca_file);
        if (tc->token)
            assert_string_equal(ep.token, tc->token);
        else
            assert_null(ep.token);
        assert_string_equal(ep.uri, tc->uri);
        consul_endpoint_clear(&ep);
    }
    /* the real environment is used when getenv_fn is NULL */
    setenv("CONSUL_HTTP_ADDR", "192.0.2.7:8555", 1);
    consul_endpoint_t ep;
    char err[256];
    assert_int_equal(consul_endpoint_parse("consul://", NULL, &ep, err, sizeof err), 0);
    assert_string_equal(ep.base_url, "http://192.0.2.7:8555");
    consul_endpoint_clear(&ep);
    unsetenv("CONSUL_HTTP_ADDR");
}

/* ---- docker endpoint ---- */

typedef struct {
    const char *env[12];
    int ok;
    const char *host, *base_url, *unix_path;
    int tls, verify;
    const char *ca, *cert, *key;
    const char *err_part;
} docker_case_t;

static const docker_case_t docker_cases[] = {
    {{NULL}, 1, "unix:///var/run/docker.sock", "http://localhost", "/var/run/docker.sock", 0, 0, NULL, NULL, NULL, NULL},
    {{"DOCKER_HOST", "", NULL}, 1, "unix:///var/run/docker.sock", "http://localhost", "/var/run/docker.sock", 0, 0, NULL, NULL, NULL, NULL},
    {{"DOCKER_HOST", "unix:///tmp/docker.sock", NULL}, 1, "unix:///tmp/docker.sock", "http://localhost", "/tmp/docker.sock", 0, 0, NULL, NULL, NULL, NULL},
    {{"DOCKER_HOST", "tcp://127.0.0.1:2375", NULL}, 1, "tcp://127.0.0.1:2375", "http://127.0.0.1:2375", NULL, 0, 0, NULL, NULL, NULL, NULL},
    {{"DOCKER_HOST", "tcp://10.0.0.1", NULL}, 1, "tcp://10.0.0.1", "http://10.0.0.1:2375", NULL, 0, 0, NULL, NULL, NULL, NULL},
    {{"DOCKER_HOST", "tcp://10.0.0.1", "DOCKER_TLS_VERIFY", "1", "DOCKER_CERT_PATH", "/certs", NULL},
     1, "tcp://10.0.0.1", "https://10.0.0.1:2376", NULL, 1, 1, "/certs/ca.pem", "/certs/cert.pem", "/certs/key.pem", NULL},
    {{"DOCKER_HOST", "tcp://192.168.99.100:2376", "DOCKER_TLS_VERIFY", "1", "DOCKER_CERT_PATH", "/m/", NULL},
     1, "tcp://192.168.99.100:2376", "https://192.168.99.100:2376", NULL, 1, 1, "/m/ca.pem", "/m/cert.pem", "/m/key.pem", NULL},
    {{"DOCKER_HOST", "tcp://h:2376", "DOCKER_TLS_VERIFY", "1", "HOME", "/home/u", NULL},
     1, "tcp://h:2376", "https://h:2376", NULL, 1, 1, "/home/u/.docker/ca.pem", "/home/u/.docker/cert.pem", "/home/u/.docker/key.pem", NULL},
    {{"DOCKER_HOST", "tcp://h:2376", "DOCKER_TLS_VERIFY", "0", NULL}, 1, "tcp://h:2376", "http://h:2376", NULL, 0, 0, NULL, NULL, NULL, NULL},
    {{"DOCKER_HOST", "tcp://h:2376", "DOCKER_TLS", "1", "DOCKER_CERT_PATH", "/c", NULL},
     1, "tcp://h:2376", "https://h:2376", NULL, 1, 0, "/c/ca.pem", "/c/cert.pem", "/c/key.pem", NULL},
    /* the seed replicator: tcp://...:2376 with certificates in DOCKER_CERT_PATH means TLS */
    {{"DOCKER_HOST", "tcp://192.168.99.100:2376", "DOCKER_CERT_PATH", "/ssl", NULL},
     1, "tcp://192.168.99.100:2376", "https://192.168.99.100:2376", NULL, 1, 1, "/ssl/ca.pem", "/ssl/cert.pem", "/ssl/key.pem", NULL},
    {{"DOCKER_HOST", "tcp://h:2375", "DOCKER_CERT_PATH", "/ssl", NULL}, 1, "tcp://h:2375", "http://h:2375", NULL, 0, 0, NULL, NULL, NULL, NULL},
    {{"DOCKER_HOST", "tcp://h:2376", NULL}, 1, "tcp://h:2376", "http://h:2376", NULL, 0, 0, NULL, NULL, NULL, NULL},
    /* TLS settings do not apply to a unix socket */
    {{"DOCKER_HOST", "unix:///d.sock", "DOCKER_TLS_VERIFY", "1", NULL}, 1, "unix:///d.sock", "http://localhost", "/d.sock", 0, 0, NULL, NULL, NULL, NULL},
    {{"DOCKER_HOST", "tcp://[::1]:2375", NULL}, 1, "tcp://[::1]:2375", "http://[::1]:2375", NULL, 0, 0, NULL, NULL, NULL, NULL},
    {{"DOCKER_HOST", "ssh://user@host", NULL}, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, "unsupported scheme"},
    {{"DOCKER_HOST", "npipe:////./pipe/docker_engine", NULL}, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, "unsupported scheme"},
    {{"DOCKER_HOST", "unix://docker.sock", NULL}, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, "must be absolute"},
    {{"DOCKER_HOST", "tcp://", NULL}, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, "missing host"},
    {{"DOCKER_HOST", "tcp://h:abc", NULL}, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, "invalid port"},
    {{"DOCKER_HOST", "tcp://h:70000", NULL}, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, "invalid port"},
    {{"DOCKER_HOST", "tcp://user@h:1", NULL}, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, "invalid character"},
};

static void test_docker_endpoint(void **state)
{
    for (size_t i = 0; i < sizeof docker_cases / sizeof docker_cases[0]; i++) {
        const docker_case_t *tc = &docker_cases[i];
        env_set(tc->env);
        docker_endpoint_t ep;
        char err[256] = "";
        int rc = docker_endpoint_from_env(fake_getenv, &ep, err, sizeof err);
        print_message("# docker case %zu -> %d %s\n", i, rc, rc ? err : ep.base_url);
        if (!tc->ok) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, tc->err_part));
            assert_true(strncmp(err, "docker: DOCKER_HOST", 19) == 0);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(ep.host, tc->host);
        assert_string_equal(ep.base_url, tc->base_url);
        if (tc->unix_path)
            assert_string_equal(ep.unix_path, tc->unix_path);
        else
            assert_null(ep.unix_path);
        assert_int_equal(ep.tls, tc->tls);
        assert_int_equal(ep.tls_verify, tc->verify);
        const char *want[3] = {tc->ca, tc->cert, tc->key};
        char *got[3] = {ep.ca_file, ep.cert_file, ep.key_file};
        for (int k = 0; k < 3; k++) {
            if (want[k])
                assert_string_equal(got[k], want[k]);
            else
                assert_null(got[k]);
        }
        docker_endpoint_clear(&ep);
    }
}

static void test_api_version(void **state)
{
    static const char *const cases[][2] = {
        {"1.41", "1.41"}, {"1.43", "1.41"}, {"1.44", "1.41"}, {"2.0", "1.41"}, {"1.40", "1.40"},
        {"1.24", "1.24"}, {"1.9", "1.9"}, {"1.100", "1.41"},
        {"", NULL}, {"1", NULL}, {"1.", NULL}, {".41", NULL}, {"1.41.0", NULL}, {"a.b", NULL}, {"-1.2", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[16] = "";
        int rc = docker_api_version_pick(cases[i][0], buf, sizeof buf);
        if (cases[i][1]) {
            assert_int_equal(rc, 0);
            assert_string_equal(buf, cases[i][1]);
        } else {
            assert_int_equal(rc, -1);
        }
    }
    char buf[16];
    assert_int_equal(docker_api_version_pick(NULL, buf, sizeof buf), -1);
}

/* ---- line splitting ---- */

typedef struct {
    char out[64][128];
    int n;
    int stop_at; /* stop after this many lines (0: never) */
} lines_t;

static int collect(const char *line, size_t len, void *data)
{
    lines_t *l = data;
    if (l->n < 64 && len < 128) {
        memcpy(l->out[l->n], line, len);
        l->out[l->n][len] = '\0';
    }
    l->n++;
    return (l->stop_at && l->n >= l->stop_at) ? 7 : 0;
}

/* Feeds stream cut at positions cuts[0..ncuts) and checks the lines. */
static void feed_cut(const char *stream, const size_t *cuts, int ncuts, size_t max_line,
                     const char *const *want, int nwant, uint64_t want_dropped)
{
    docker_lines_t dl;
    docker_lines_init(&dl, max_line);
    lines_t got = {0};
    size_t len = strlen(stream), prev = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        assert_int_equal(docker_lines_feed(&dl, stream + prev, end - prev, collect, &got), 0);
        prev = end;
    }
    assert_int_equal(got.n, nwant);
    for (int i = 0; i < nwant; i++)
        assert_string_equal(got.out[i], want[i]);
    assert_int_equal(dl.dropped, want_dropped);
    docker_lines_free(&dl);
}

/* Every way of cutting the stream into 1, 2 or 3 chunks gives the same lines. */
static void all_cuts(const char *stream, size_t max_line, const char *const *want, int nwant, uint64_t dropped)
{
    size_t len = strlen(stream);
    feed_cut(stream, NULL, 0, max_line, want, nwant, dropped);
    for (size_t a = 0; a <= len; a++) {
        size_t c1[1] = {a};
        feed_cut(stream, c1, 1, max_line, want, nwant, dropped);
        for (size_t b = a; b <= len; b++) {
            size_t c2[2] = {a, b};
            feed_cut(stream, c2, 2, max_line, want, nwant, dropped);
        }
    }
    /* and byte by byte */
    size_t cuts[256];
    int n = 0;
    for (size_t i = 1; i < len && n < 256; i++)
        cuts[n++] = i;
    feed_cut(stream, cuts, n, max_line, want, nwant, dropped);
}

static void test_lines_split(void **state)
{
    const char *w1[] = {"{\"a\":1}", "{\"b\":22}", "{\"c\":333}"};
    all_cuts("{\"a\":1}\n{\"b\":22}\n{\"c\":333}\n", 100, w1, 3, 0);
    /* CRLF endings and empty lines */
    all_cuts("{\"a\":1}\r\n\r\n\n{\"b\":22}\r\n{\"c\":333}\n", 100, w1, 3, 0);
    /* an unterminated last line is held back until its newline arrives */
    const char *w2[] = {"one"};
    all_cuts("one\ntwo-without-newline", 100, w2, 1, 0);
    /* over-long lines are dropped whole, the rest survive; max_line 10 */
    const char *w3[] = {"short", "0123456789", "end"};
    all_cuts("short\nthis-line-is-too-long\n0123456789\n01234567890\nend\n", 10, w3, 3, 2);
    /* a CR counts toward the limit */
    const char *w4[] = {"012345678"};
    all_cuts("012345678\r\n0123456789\r\n", 10, w4, 1, 1);
}

static void test_lines_stop(void **state)
{
    docker_lines_t dl;
    docker_lines_init(&dl, 100);
    lines_t got = {.stop_at = 2};
    assert_int_equal(docker_lines_feed(&dl, "a\nb\nc\n", 6, collect, &got), 7);
    assert_int_equal(got.n, 2);
    /* the buffered state stays consistent after a stop */
    got.stop_at = 0;
    assert_int_equal(docker_lines_feed(&dl, "d\ne", 3, collect, &got), 0);
    assert_int_equal(docker_lines_feed(&dl, "\n", 1, collect, &got), 0);
    assert_int_equal(got.n, 4);
    assert_string_equal(got.out[2], "d");
    assert_string_equal(got.out[3], "e");
    docker_lines_free(&dl);
}

/* A long line that spans many chunks and is then followed by good lines. */
static void test_lines_long_stream(void **state)
{
    docker_lines_t dl;
    docker_lines_init(&dl, 1000);
    lines_t got = {0};
    char chunk[300];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 100; i++) /* 30 kB without a newline: never buffered past 1000 */
        docker_lines_feed(&dl, chunk, sizeof chunk, collect, &got);
    assert_true(dl.cap <= 2048);
    docker_lines_feed(&dl, "\nok\n", 4, collect, &got);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.out[0], "ok");
    assert_int_equal(dl.dropped, 1);
    docker_lines_free(&dl);
}

static void test_event_since(void **state)
{
    char buf[64];
    json_t *e = json_pack("{s:I,s:I}", "time", (json_int_t)1700000000, "timeNano", (json_int_t)1700000000123456789LL);
    assert_int_equal(docker_event_since(e, buf, sizeof buf), 0);
    assert_string_equal(buf, "1700000000.123456789");
    json_decref(e);
    e = json_pack("{s:I,s:I}", "time", (json_int_t)1700000001, "timeNano", (json_int_t)1700000001000000005LL);
    assert_int_equal(docker_event_since(e, buf, sizeof buf), 0);
    assert_string_equal(buf, "1700000001.000000005");
    json_decref(e);
    e = json_pack("{s:I}", "time", (json_int_t)1700000002);
    assert_int_equal(docker_event_since(e, buf, sizeof buf), 0);
    assert_string_equal(buf, "1700000002.000000000");
    json_decref(e);
    e = json_pack("{s:s}", "time", "yesterday");
    assert_int_equal(docker_event_since(e, buf, sizeof buf), -1);
    json_decref(e);
    assert_int_equal(docker_event_since(NULL, buf, sizeof buf), -1);
}

/* ---- blocking-query rules ---- */

static void test_index_rules(void **state)
{
    struct {
        uint64_t last, got;
        int have;
        uint64_t next;
        int fire, reset;
    } cases[] = {
        {0, 5, 0, 5, 1, 0},    /* first answer: deliver */
        {0, 0, 0, 1, 1, 0},    /* index 0 counts as 1 */
        {5, 5, 1, 5, 0, 0},    /* same index: nothing */
        {5, 6, 1, 6, 1, 0},    /* rose: deliver */
        {5, 1000, 1, 1000, 1, 0},
        {5, 4, 1, 0, 0, 1},    /* went backwards: reset */
        {5, 0, 1, 0, 0, 1},    /* 0 -> 1 < 5: reset */
        {1, 0, 1, 1, 0, 0},    /* 0 -> 1 == 1: nothing */
        {0, 3, 1, 3, 1, 0},    /* after a reset: the re-query delivers (data check decides) */
        {UINT64_MAX - 1, UINT64_MAX, 1, UINT64_MAX, 1, 0},
        {UINT64_MAX, 1, 1, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        consul_index_step_t s = consul_index_next(cases[i].last, cases[i].got, cases[i].have);
        print_message("# index case %zu\n", i);
        assert_int_equal(s.next_index, cases[i].next);
        assert_int_equal(s.fire, cases[i].fire);
        assert_int_equal(s.reset, cases[i].reset);
    }
    /* exhaustive over small values: invariants */
    for (uint64_t last = 0; last < 8; last++) {
        for (uint64_t got = 0; got < 8; got++) {
            for (int have = 0; have < 2; have++) {
                consul_index_step_t s = consul_index_next(last, got, have);
                uint64_t g = got ? got : 1;
                assert_false(s.fire && s.reset);
                if (!s.reset)
                    assert_true(s.next_index >= 1);   /* never sends index=0 after an answer */
                if (s.fire)
                    assert_int_equal(s.next_index, g);
                if (have && g > last)
                    assert_true(s.fire);
                if (have && g == last)
                    assert_false(s.fire || s.reset);
                if (have && g < last)
                    assert_true(s.reset && s.next_index == 0);
                if (!have)
                    assert_true(s.fire);
            }
        }
    }
}

static void test_rate_delay(void **state)
{
    assert_int_equal(consul_watch_rate_delay(100, 100, 20, 0), 0);
    assert_int_equal(consul_watch_rate_delay(5000, 100, 20, UINT32_MAX), 0);
    assert_int_equal(consul_watch_rate_delay(30, 100, 20, 0), 70);
    assert_int_equal(consul_watch_rate_delay(30, 100, 20, UINT32_MAX), 90);
    assert_int_equal(consul_watch_rate_delay(0, 100, 20, UINT32_MAX / 2), 109); /* jitter truncates */
    assert_int_equal(consul_watch_rate_delay(0, 0, 20, UINT32_MAX), 0);  /* rate limit off */
    assert_int_equal(consul_watch_rate_delay(10, 100, 0, UINT32_MAX), 90);
    for (uint64_t el = 0; el < 200; el += 7)
        for (uint32_t r = 0; r < 10; r++) {
            uint64_t d = consul_watch_rate_delay(el, 100, 20, r * 429496729u);
            if (el >= 100)
                assert_int_equal(d, 0);
            else
                assert_true(d >= 100 - el && d <= 120 - el);
        }
}

static void test_blocking_path(void **state)
{
    struct {
        const char *base;
        uint64_t index, wait;
        int stale;
        const char *want;
    } cases[] = {
        {"/v1/catalog/services", 0, 0, 0, "/v1/catalog/services"},
        {"/v1/catalog/services", 0, 60000, 1, "/v1/catalog/services?wait=1m0s&stale"},
        {"/v1/catalog/services", 42, 60000, 0, "/v1/catalog/services?index=42&wait=1m0s"},
        {"/v1/health/service/web?passing", 42, 60000, 1, "/v1/health/service/web?passing&index=42&wait=1m0s&stale"},
        {"/v1/kv/app?recurse", 7, 500, 0, "/v1/kv/app?recurse&index=7&wait=500ms"},
        {"/v1/health/state/any", 18446744073709551615ull, 90000, 0, "/v1/health/state/any?index=18446744073709551615&wait=1m30s"},
        {"/v1/x", 0, 0, 1, "/v1/x?stale"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = consul_blocking_path(cases[i].base, cases[i].index, cases[i].wait, cases[i].stale);
        assert_string_equal(p, cases[i].want);
        free(p);
    }
    assert_null(consul_blocking_path(NULL, 1, 1, 1));
}

static void test_kv_value(void **state)
{
    struct {
        const char *json;
        const char *want;
        size_t len;
    } cases[] = {
        {"{\"Value\":\"aGVsbG8=\"}", "hello", 5},
        {"{\"Value\":\"aGVsbG8h\"}", "hello!", 6},
        {"{\"Value\":\"aGk=\"}", "hi", 2},
        {"{\"Value\":\"aA==\"}", "h", 1},
        {"{\"Value\":\"\"}", "", 0},
        {"{\"Value\":\"YQBi\"}", "a\0b", 3},
        {"{\"Value\":null}", NULL, 0},
        {"{}", NULL, 0},
        {"{\"Value\":\"abc\"}", NULL, 0},       /* not a multiple of 4 */
        {"{\"Value\":\"a!c=\"}", NULL, 0},      /* invalid character */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *e = json_loads(cases[i].json, 0, NULL);
        size_t len = 99;
        char *v = consul_kv_value(e, &len);
        if (cases[i].want) {
            assert_non_null(v);
            assert_int_equal(len, cases[i].len);
            assert_memory_equal(v, cases[i].want, len);
        } else {
            assert_null(v);
        }
        free(v);
        json_decref(e);
    }
}

static void test_watch_opts(void **state)
{
    consul_watch_opts_t o;
    consul_watch_opts_init(&o, "/v1/catalog/services");
    assert_string_equal(o.path, "/v1/catalog/services");
    assert_int_equal(o.min_interval_ms, -1);
    assert_int_equal(o.jitter_ms, -1);
    assert_int_equal(o.wait_ms, 0);
    assert_int_equal(o.stale, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consul_endpoint),
        cmocka_unit_test(test_docker_endpoint),
        cmocka_unit_test(test_api_version),
        cmocka_unit_test(test_lines_split),
        cmocka_unit_test(test_lines_stop),
        cmocka_unit_test(test_lines_long_stream),
        cmocka_unit_test(test_event_since),
        cmocka_unit_test(test_index_rules),
        cmocka_unit_test(test_rate_delay),
        cmocka_unit_test(test_blocking_path),
        cmocka_unit_test(test_kv_value),
        cmocka_unit_test(test_watch_opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
