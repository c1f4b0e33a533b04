/* test_http_server_tls.c: lib/http_server in TLS mode (http_server_set_tls) on a real socket on
 * 127.0.0.1, driven by lib/http_client (libcurl) on the same loop, with throw-away certificates
 * made by tests/unit/client_test_certs.sh plus a client certificate signed by a second CA.
 * Asserts: the right client certificate gets 200 and its CN reaches the handler; no client
 * certificate, a certificate from another CA and plain HTTP are refused before any handler
 * runs; keep-alive reuses one TLS connection, also for 3 MiB answers (many records, partial
 * socket writes) and asynchronous ones (paused parser); a server without a client CA serves anyone;
 * set_tls reports unreadable files and mismatched keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "http_client.h"
#include "http_server.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

static char g_dir[256];
static char g_path[16][320];
static int g_npath;

static const char *pth(const char *rel) {
    int i = g_npath++ % 16;
    snprintf(g_path[i], sizeof g_path[i], "%s/%s", g_dir, rel);
    return g_path[i];
}

static int group_setup(void **s) {
    (void)s;
    snprintf(g_dir, sizeof g_dir, "/tmp/portolan-srvtls-%d", (int)getpid());
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "sh '%s/tests/unit/client_test_certs.sh' '%s' && cd '%s/wrongca' && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other-key.pem "
             "-out other.csr -subj /CN=intruder 2>/dev/null && "
             "openssl x509 -req -in other.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out other-cert.pem "
             "-days 2 -extfile ../good/client.ext 2>/dev/null",
             TOP_SRCDIR, g_dir, g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int group_teardown(void **s) {
    (void)s;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct {
    int handled;
    char cn[256];
} srv_state_t;

#define BIG (3 * 1024 * 1024 + 17)
static char *g_big;
static uv_loop_t *g_loop;

static void on_late(uv_timer_t *t) {
    http_exchange_t *x = t->data;
    http_exchange_respond(x, 200, "late", 4);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void handler(http_exchange_t *x, void *data) {
    srv_state_t *st = data;
    st->handled++;
    if (strcmp(http_exchange_path(x), "/big") == 0) { /* many TLS records, partial socket writes */
        http_exchange_respond(x, 200, g_big, BIG);
        return;
    }
    if (strcmp(http_exchange_path(x), "/late") == 0) { /* asynchronous answer on a TLS connection */
        uv_timer_t *t = malloc(sizeof *t);
        assert_non_null(t);
        uv_timer_init(g_loop, t);
        t->data = x;
        uv_timer_start(t, on_late, 50, 0);
        return;
    }
    const char *cn = http_exchange_peer_cn(x);
    snprintf(st->cn, sizeof st->cn, "%s", cn ? cn : "(none)");
    char body[300];
    int n = snprintf(body, sizeof body, "hello %s tls=%d", cn ? cn : "(none)", http_exchange_is_tls(x));
    http_exchange_respond(x, 200, body, (size_t)n);
}

typedef struct {
    int done;
    long status;
    int curl_code;
    char body[512];
    size_t len;
    int big_ok; /* the body equals g_big */
} resp_t;

static void on_resp(http_call_t *call, http_response_t *r, void *data) {
    (void)call;
    resp_t *o = data;
    o->done = 1;
    o->status = r->status;
    o->curl_code = r->curl_code;
    snprintf(o->body, sizeof o->body, "%s", r->body ? r->body : "");
    o->len = r->len;
    o->big_ok = r->body && r->len == BIG && memcmp(r->body, g_big, BIG) == 0;
}

typedef struct {
    uv_loop_t loop;
    http_server_t *srv;
    http_client_t *cli;
    srv_state_t st;
    char base[64];
} env_t;

static void env_start(env_t *e, const char *client_ca) {
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    g_loop = &e->loop;
    e->srv = http_server_new(&e->loop, NULL, handler, &e->st);
    assert_non_null(e->srv);
    char err[256];
    int r = http_server_set_tls(e->srv, pth("good/server-cert.pem"), pth("good/server-key.pem"), client_ca, err,
                                sizeof err);
    if (r != 0) fprintf(stderr, "set_tls: %s\n", err);
    assert_int_equal(r, 0);
    assert_int_equal(http_server_listen(e->srv, "127.0.0.1:0", err, sizeof err), 0);
    snprintf(e->base, sizeof e->base, "127.0.0.1:%d", http_server_port(e->srv));
    e->cli = http_client_new(&e->loop);
    assert_non_null(e->cli);
}

static void env_stop(env_t *e) {
    http_client_free(e->cli);
    http_server_close(e->srv, NULL, NULL);
    for (int i = 0; i < 100 && uv_run(&e->loop, UV_RUN_NOWAIT); i++) usleep(1000);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

/* One request; cert/key may be NULL (no client certificate); scheme "https" or "http". */
static void req_path(env_t *e, const char *scheme, const char *path, const char *ca, const char *cert,
                     const char *key, resp_t *o) {
    memset(o, 0, sizeof *o);
    char url[128];
    snprintf(url, sizeof url, "%s://%s%s", scheme, e->base, path);
    http_request_t rq = {.url = url, .timeout_ms = 30000, .connect_timeout_ms = 10000}; /* slow under valgrind */
    rq.tls.ca_file = ca;
    rq.tls.cert_file = cert;
    rq.tls.key_file = key;
    assert_non_null(http_client_send(e->cli, &rq, on_resp, o));
    while (!o->done) uv_run(&e->loop, UV_RUN_ONCE);
}

static void req(env_t *e, const char *scheme, const char *ca, const char *cert, const char *key, resp_t *o) {
    req_path(e, scheme, "/x", ca, cert, key, o);
}

static void test_big_and_late_answers(void **s) {
    (void)s;
    env_t e;
    env_start(&e, pth("good/ca.pem"));
    resp_t o;
    for (int i = 0; i < 3; i++) {
        req_path(&e, "https", "/big", pth("good/ca.pem"), pth("good/cert.pem"), pth("good/key.pem"), &o);
        assert_int_equal(o.status, 200);
        assert_int_equal(o.len, BIG);
        assert_true(o.big_ok);
        req_path(&e, "https", "/late", pth("good/ca.pem"), pth("good/cert.pem"), pth("good/key.pem"), &o);
        assert_int_equal(o.status, 200);
        assert_string_equal(o.body, "late");
    }
    assert_int_equal((int)http_client_connects(e.cli), 1);
    env_stop(&e);
}

static void test_right_cert_200_and_cn(void **s) {
    (void)s;
    env_t e;
    env_start(&e, pth("good/ca.pem"));
    resp_t o;
    req(&e, "https", pth("good/ca.pem"), pth("good/cert.pem"), pth("good/key.pem"), &o);
    assert_int_equal(o.curl_code, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello client tls=1");
    assert_string_equal(e.st.cn, "client");
    env_stop(&e);
}

static void test_no_client_cert_refused(void **s) {
    (void)s;
    env_t e;
    env_start(&e, pth("good/ca.pem"));
    resp_t o;
    req(&e, "https", pth("good/ca.pem"), NULL, NULL, &o);
    assert_int_not_equal(o.curl_code, 0);
    assert_int_equal(o.status, 0);
    assert_int_equal(e.st.handled, 0);
    env_stop(&e);
}

static void test_other_ca_cert_refused(void **s) {
    (void)s;
    env_t e;
    env_start(&e, pth("good/ca.pem"));
    resp_t o;
    req(&e, "https", pth("good/ca.pem"), pth("wrongca/other-cert.pem"), pth("wrongca/other-key.pem"), &o);
    assert_int_not_equal(o.curl_code, 0);
    assert_int_equal(o.status, 0);
    assert_int_equal(e.st.handled, 0);
    /* and the server still serves the right client afterwards */
    req(&e, "https", pth("good/ca.pem"), pth("good/cert.pem"), pth("good/key.pem"), &o);
    assert_int_equal(o.status, 200);
    assert_int_equal(e.st.handled, 1);
    env_stop(&e);
}

static void test_plain_http_refused(void **s) {
    (void)s;
    env_t e;
    env_start(&e, pth("good/ca.pem"));
    resp_t o;
    req(&e, "http", NULL, NULL, NULL, &o);
    assert_int_not_equal(o.status, 200);
    assert_int_equal(e.st.handled, 0);
    env_stop(&e);
}

static void test_keepalive_over_tls(void **s) {
    (void)s;
    env_t e;
    env_start(&e, pth("good/ca.pem"));
    resp_t o;
    for (int i = 0; i < 20; i++) {
        req(&e, "https", pth("good/ca.pem"), pth("good/cert.pem"), pth("good/key.pem"), &o);
        assert_int_equal(o.status, 200);
    }
    assert_int_equal(e.st.handled, 20);
    assert_int_equal((int)http_client_connects(e.cli), 1);
    assert_int_equal((int)http_server_connections(e.srv), 1);
    env_stop(&e);
}

static void test_no_client_ca_serves_anyone(void **s) {
    (void)s;
    env_t e;
    env_start(&e, NULL);
    resp_t o;
    req(&e, "https", pth("good/ca.pem"), NULL, NULL, &o);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello (none) tls=1");
    env_stop(&e);
}

static void test_set_tls_errors(void **s) {
    (void)s;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_state_t st = {0};
    http_server_t *srv = http_server_new(&loop, NULL, handler, &st);
    char err[256];
    assert_int_equal(http_server_set_tls(srv, pth("nope.pem"), pth("good/server-key.pem"), NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "nope.pem"));
    assert_int_equal(http_server_set_tls(srv, pth("good/server-cert.pem"), pth("good/key.pem"), NULL, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "key")); /* "key ...: key values mismatch" */
    assert_non_null(strstr(err, "good/key.pem"));
    assert_int_equal(http_server_set_tls(srv, pth("good/server-cert.pem"), pth("good/server-key.pem"),
                                         pth("missing-ca.pem"), err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "client CA"));
    assert_int_equal(http_server_set_tls(srv, NULL, NULL, NULL, err, sizeof err), -1);
    http_server_close(srv, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_right_cert_200_and_cn),     cmocka_unit_test(test_no_client_cert_refused),
        cmocka_unit_test(test_other_ca_cert_refused),     cmocka_unit_test(test_plain_http_refused),
        cmocka_unit_test(test_keepalive_over_tls),        cmocka_unit_test(test_no_client_ca_serves_anyone),
        cmocka_unit_test(test_set_tls_errors),            cmocka_unit_test(test_big_and_late_answers),
    };
    g_big = malloc(BIG);
    assert_non_null(g_big);
    for (size_t i = 0; i < BIG; i++) g_big[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    free(g_big);
    return rc;
}
