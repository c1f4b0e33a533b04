/* Unit tests for lib/http_client.c against a local test server (tests/unit/client_test_server.py
 * on 127.0.0.1 and on a unix socket): methods and bodies, headers, concurrency, keep-alive reuse,
 * timeouts, streaming, body cap, cancel, transport errors, and clean shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "client_test_util.h"
#include "docker_client.h"
#include "http_client.h"

static test_server_t srv, usrv;
static char unix_path[108];

static int setup(void **state)
{
    if (test_server_start(&srv, NULL) != 0)
        return -1;
    snprintf(unix_path, sizeof unix_path, "/tmp/portolan-http-test-%d.sock", (int)getpid());
    const char *args[] = {"--unix", unix_path, NULL};
    if (test_server_start(&usrv, args) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    test_server_stop(&srv);
    test_server_stop(&usrv);
    unlink(unix_path);
    return 0;
}

typedef struct {
    int done;
    long status;
    int curl_code;
    int timed_out;
    int too_large;
    char error[256];
    char *body;
    size_t len;
    char ctype[128];
    uint64_t elapsed_ms;
    int chunks;
    int lines;
    int next_seq;
    int order_ok;
    docker_lines_t splitter;
    int cancel_after_lines;
    http_call_t *call;
} result_t;

static void on_response(http_call_t *call, http_response_t *r, void *data)
{
    result_t *res = data;
    res->done = 1;
    res->status = r->status;
    res->curl_code = r->curl_code;
    res->timed_out = r->timed_out;
    res->too_large = r->body_too_large;
    res->elapsed_ms = r->elapsed_ms;
    snprintf(res->error, sizeof res->error, "%s", r->error);
    const char *ct = http_response_header(r, "cOnTeNt-TyPe");
    snprintf(res->ctype, sizeof res->ctype, "%s", ct ? ct : "");
    /* take ownership of the body */
    res->body = r->body;
    res->len = r->len;
    r->body = NULL;
}

static void result_clear(result_t *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static json_t *body_json(const result_t *r)
{
    return json_loadb(r->body, r->len, 0, NULL);
}

static void test_get_and_headers(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    char url[256];
    snprintf(url, sizeof url, "%s/echo?x=1", srv.base);
    const char *hdrs[] = {"X-Test: hello", "Accept: application/json", NULL};
    http_request_t req = {.url = url, .headers = hdrs, .timeout_ms = 5000};
    result_t r = {0};
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(r.done, 0); /* never completes inside send */
    assert_int_equal(http_client_active(c), 1);
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.curl_code, 0);
    assert_string_equal(r.error, "");
    assert_string_equal(r.ctype, "application/json");
    json_t *j = body_json(&r);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/echo?x=1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "headers"), "X-Test")), "hello");
    json_decref(j);
    result_clear(&r);
    assert_int_equal(http_client_active(c), 0);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

static void check_method(uv_loop_t *loop, http_client_t *c, const char *method, const char *body,
                          const char *want_body, const char *want_clen)
{
    char url[256];
    snprintf(url, sizeof url, "%s/echo", srv.base);
    http_request_t req = {.method = method, .url = url, .body = body, .body_len = body ? strlen(body) : 0,
                          .timeout_ms = 5000};
    result_t r = {0};
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "method")), method);
    assert_string_equal(json_string_value(json_object_get(j, "body")), want_body);
    json_t *cl = json_object_get(json_object_get(j, "headers"), "Content-Length");
    if (want_clen)
        assert_string_equal(json_string_value(cl), want_clen);
    else
        assert_null(cl);
    assert_null(json_object_get(json_object_get(j, "headers"), "Expect"));
    json_decref(j);
    result_clear(&r);
}

static void test_methods_and_bodies(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    check_method(&loop, c, "PUT", "{\"Name\":\"web\"}", "{\"Name\":\"web\"}", "14");
    check_method(&loop, c, "PUT", NULL, "", "0");      /* PUT without body: Content-Length: 0 */
    check_method(&loop, c, "POST", NULL, "", "0");
    check_method(&loop, c, "DELETE", NULL, "", NULL);
    check_method(&loop, c, "GET", NULL, "", NULL);
    /* a body with a NUL byte goes through intact */
    char url[256];
    snprintf(url, sizeof url, "%s/echo", srv.base);
    http_request_t req = {.method = "PUT", .url = url, .body = "a\0b", .body_len = 3};
    result_t r = {0};
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    json_t *j = json_loadb(r.body, r.len, JSON_ALLOW_NUL, NULL);
    assert_int_equal(json_string_length(json_object_get(j, "body")), 3);
    json_decref(j);
    result_clear(&r);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

static void test_invalid_request(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    http_request_t req = {.url = NULL};
    result_t r = {0};
    assert_null(http_client_send(c, &req, on_response, &r));
    req.url = "http://127.0.0.1:1/";
    assert_null(http_client_send(c, &req, NULL, &r));
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

#define NCONC 20

static int conc_done;
static void on_conc(http_call_t *call, http_response_t *r, void *data)
{
    if (r->status == 200 && strcmp(r->body, "slow") == 0)
        conc_done++;
}

/* 20 requests that each take 1 s on the server finish together, not one after another or a few
 * at a time: < 3 s (sequential would be >= 20 s, 6 at a time >= 4 s). The delay was 300 ms with a
 * 2 s bound; a longer delay gives a loaded machine 2 s of room while the bound still tells
 * "all at once" from "in rounds". */
static void test_concurrent(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    char url[256];
    snprintf(url, sizeof url, "%s/delay?ms=1000", srv.base);
    http_request_t req = {.url = url, .timeout_ms = 10000};
    conc_done = 0;
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < NCONC; i++)
        assert_non_null(http_client_send(c, &req, on_conc, NULL));
    assert_int_equal(http_client_active(c), NCONC);
    int all = 0;
    while (conc_done < NCONC && (uv_hrtime() - t0) < 10000000000ull)
        uv_run(&loop, UV_RUN_ONCE);
    all = conc_done;
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    print_message("# %d concurrent 1 s requests took %llu ms\n", NCONC, (unsigned long long)ms);
    assert_int_equal(all, NCONC);
    assert_true(ms >= 990 && ms < 3000);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

/* With a cap of 2 connections per host, 6 x 300 ms requests take three rounds. */
static void test_max_host_connections(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    http_client_set_max_host_connections(c, 2);
    char url[256];
    snprintf(url, sizeof url, "%s/delay?ms=300", srv.base);
    http_request_t req = {.url = url, .timeout_ms = 10000};
    conc_done = 0;
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < 6; i++)
        assert_non_null(http_client_send(c, &req, on_conc, NULL));
    while (conc_done < 6 && (uv_hrtime() - t0) < 10000000000ull)
        uv_run(&loop, UV_RUN_ONCE);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    assert_int_equal(conc_done, 6);
    assert_true(ms >= 850 && ms < 3000);
    assert_true(http_client_connects(c) <= 2);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

typedef struct {
    http_client_t *c;
    char url[256];
    int left;
    json_int_t conn;
    int same_conn;
    int done;
    const char *unix_socket;
} seq_t;

static void on_seq(http_call_t *call, http_response_t *r, void *data)
{
    seq_t *s = data;
    json_t *j = json_loadb(r->body, r->len, 0, NULL);
    json_int_t conn = json_integer_value(json_object_get(j, "conn"));
    json_decref(j);
    if (s->conn == 0)
        s->conn = conn;
    if (conn == s->conn && r->status == 200)
        s->same_conn++;
    if (--s->left == 0) {
        s->done = 1;
        return;
    }
    http_request_t req = {.url = s->url, .timeout_ms = 5000, .unix_socket = s->unix_socket};
    assert_non_null(http_client_send(s->c, &req, on_seq, s));
}

static void run_seq(const char *base, const char *unix_socket)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    seq_t s = {.c = http_client_new(&loop), .left = 10, .unix_socket = unix_socket};
    snprintf(s.url, sizeof s.url, "%s/echo", base);
    http_request_t req = {.url = s.url, .timeout_ms = 5000, .unix_socket = unix_socket};
    assert_non_null(http_client_send(s.c, &req, on_seq, &s));
    assert_int_equal(test_run_until(&loop, &s.done, 10000), 0);
    assert_int_equal(s.same_conn, 10);                 /* the server saw one connection */
    assert_int_equal(http_client_connects(s.c), 1);    /* and curl opened one */
    http_client_free(s.c);
    assert_int_equal(test_loop_close(&loop), 0);
}

/* Ten sequential requests reuse one kept-alive connection (tcp and unix socket). */
static void test_keepalive(void **state)
{
    run_seq(srv.base, NULL);
    run_seq(usrv.base, unix_path);
}

/* Every descriptor the client opens (the multi handle's own, and the sockets of connections,
 * tcp and unix, kept alive in its cache) is close-on-exec: a child (HAProxy, a command) must
 * never inherit a Consul or Docker connection. */
static void fds_snapshot(unsigned char *open_before)
{
    for (int fd = 0; fd < 1024; fd++)
        open_before[fd] = fcntl(fd, F_GETFD) != -1;
}

static int fds_new_without_cloexec(const unsigned char *open_before)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (!open_before[fd] && fl != -1 && !(fl & FD_CLOEXEC)) {
            print_message("fd %d is not close-on-exec\n", fd);
            n++;
        }
    }
    return n;
}

static void test_cloexec(void **state)
{
    unsigned char before[1024];
    fds_snapshot(before);
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    char url[256];
    snprintf(url, sizeof url, "%s/echo", srv.base);
    http_request_t req = {.url = url, .timeout_ms = 5000};
    result_t r = {0};
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 200);
    result_clear(&r);
    snprintf(url, sizeof url, "%s/echo", usrv.base);
    http_request_t ureq = {.url = url, .timeout_ms = 5000, .unix_socket = unix_path};
    assert_non_null(http_client_send(c, &ureq, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 200);
    result_clear(&r);
    assert_true(http_client_connects(c) >= 2); /* the two connections are still open in the cache */
    assert_int_equal(fds_new_without_cloexec(before), 0);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

static void test_timeout(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    char url[256];
    snprintf(url, sizeof url, "%s/delay?ms=3000", srv.base);
    http_request_t req = {.url = url, .timeout_ms = 200};
    result_t r = {0};
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.timed_out, 1);
    assert_int_equal(r.curl_code, 28);
    assert_true(r.elapsed_ms >= 150 && r.elapsed_ms < 2500); /* (was < 1500; the answer would come at 3000) */
    assert_true(strlen(r.error) > 0);
    result_clear(&r);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

static void test_unix_socket(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    http_request_t req = {.url = "http://localhost/echo", .unix_socket = unix_path, .timeout_ms = 5000};
    result_t r = {0};
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/echo");
    json_decref(j);
    result_clear(&r);
    /* a socket path that does not exist: a transport error, not a crash */
    req.unix_socket = "/nonexistent/portolan.sock";
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.curl_code, 7);
    result_clear(&r);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

static int on_stream_line(const char *line, size_t len, void *data)
{
    result_t *r = data;
    json_t *j = json_loadb(line, len, 0, NULL);
    if (json_integer_value(json_object_get(j, "seq")) != r->next_seq)
        r->order_ok = 0;
    r->next_seq++;
    r->lines++;
    json_decref(j);
    return 0;
}

static int on_stream_data(http_call_t *call, const char *buf, size_t len, void *data)
{
    result_t *r = data;
    r->chunks++;
    docker_lines_feed(&r->splitter, buf, len, on_stream_line, r);
    if (r->cancel_after_lines && r->lines >= r->cancel_after_lines) {
        http_call_cancel(call);
        r->done = 1;
    }
    return 0;
}

static void test_streaming(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    char url[256];
    snprintf(url, sizeof url, "%s/stream?n=20&ms=3", srv.base);
    http_request_t req = {.url = url, .on_data = on_stream_data};
    result_t r = {0};
    r.order_ok = 1;
    docker_lines_init(&r.splitter, 4096);
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 10000), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);          /* streamed, not buffered */
    assert_int_equal(r.lines, 20);
    assert_true(r.order_ok);
    assert_true(r.chunks >= 20);         /* each line arrived in pieces */
    docker_lines_free(&r.splitter);
    result_clear(&r);

    /* cancel from inside on_data: no on_response, the client is idle afterwards */
    r.order_ok = 1;
    r.cancel_after_lines = 5;
    docker_lines_init(&r.splitter, 4096);
    req.on_data = on_stream_data;
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 10000), 0);
    assert_int_equal(r.status, 0); /* on_response never ran */
    test_run_for(&loop, 100);
    assert_int_equal(r.status, 0);
    assert_int_equal(http_client_active(c), 0);
    docker_lines_free(&r.splitter);
    result_clear(&r);

    /* an error status in streaming mode is buffered so the caller sees the message */
    snprintf(url, sizeof url, "%s/status?code=500&body=boom", srv.base);
    req.on_data = on_stream_data;
    docker_lines_init(&r.splitter, 4096);
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 500);
    assert_int_equal(r.chunks, 0);
    assert_string_equal(r.body, "boom");
    docker_lines_free(&r.splitter);
    result_clear(&r);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

typedef struct {
    http_client_t *c;
    char url[256];
    int started, inner_done, outer_done;
    long inner_status;
} nested_t;

static void on_inner(http_call_t *call, http_response_t *r, void *data)
{
    nested_t *n = data;
    n->inner_done++;
    n->inner_status = r->status;
}

static void on_outer(http_call_t *call, http_response_t *r, void *data)
{
    ((nested_t *)data)->outer_done = 1;
}

/* on_data starts a new request (libcurl refuses add_handle inside its callbacks: the client
 * must defer it, not fail it) */
static int on_data_send(http_call_t *call, const char *buf, size_t len, void *data)
{
    nested_t *n = data;
    if (n->started < 3) {
        n->started++;
        http_request_t req = {.url = n->url, .timeout_ms = 5000};
        assert_non_null(http_client_send(n->c, &req, on_inner, n));
    }
    return 0;
}

static void test_send_from_on_data(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    nested_t n = {.c = http_client_new(&loop)};
    snprintf(n.url, sizeof n.url, "%s/echo", srv.base);
    char url[256];
    snprintf(url, sizeof url, "%s/stream?n=5&ms=30", srv.base);
    http_request_t req = {.url = url, .on_data = on_data_send};
    assert_non_null(http_client_send(n.c, &req, on_outer, &n));
    assert_int_equal(test_run_until(&loop, &n.outer_done, 10000), 0);
    test_run_for(&loop, 200);
    assert_int_equal(n.started, 3);
    assert_int_equal(n.inner_done, 3);
    assert_int_equal(n.inner_status, 200);
    http_client_free(n.c);
    assert_int_equal(test_loop_close(&loop), 0);
}

static void test_max_body(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    char url[256];
    snprintf(url, sizeof url, "%s/big?n=100000", srv.base);
    http_request_t req = {.url = url, .max_body = 1000, .timeout_ms = 5000};
    result_t r = {0};
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.too_large, 1);
    assert_true(r.curl_code != 0);
    assert_non_null(strstr(r.error, "larger than 1000"));
    result_clear(&r);
    req.max_body = 100000; /* exactly the size: fine */
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 100000);
    result_clear(&r);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

static void test_cancel(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    char url[256];
    snprintf(url, sizeof url, "%s/delay?ms=300", srv.base);
    http_request_t req = {.url = url, .timeout_ms = 5000};
    result_t r1 = {0}, r2 = {0};
    http_call_t *h1 = http_client_send(c, &req, on_response, &r1);
    assert_non_null(h1);
    http_call_cancel(h1); /* before it even started */
    assert_non_null(http_client_send(c, &req, on_response, &r2));
    test_run_for(&loop, 50);
    assert_int_equal(http_client_active(c), 1);
    assert_int_equal(test_run_until(&loop, &r2.done, 5000), 0);
    assert_int_equal(r2.status, 200);
    test_run_for(&loop, 100);
    assert_int_equal(r1.done, 0);
    /* cancel mid-flight */
    h1 = http_client_send(c, &req, on_response, &r1);
    test_run_for(&loop, 100);
    http_call_cancel(h1);
    test_run_for(&loop, 400);
    assert_int_equal(r1.done, 0);
    assert_int_equal(http_client_active(c), 0);
    result_clear(&r1);
    result_clear(&r2);
    /* free with calls in flight: no callbacks, no leaked handles */
    for (int i = 0; i < 5; i++)
        assert_non_null(http_client_send(c, &req, on_response, &r1));
    test_run_for(&loop, 50);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
    assert_int_equal(r1.done, 0);
}

static void test_refused(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    /* a port nobody listens on: bind one, note it, close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    http_request_t req = {.url = url, .timeout_ms = 5000};
    result_t r = {0};
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.curl_code, 7);
    assert_non_null(strstr(r.error, "onnect"));
    result_clear(&r);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

/* Hostile or broken peers: an error, never a crash or unbounded memory. */
static void test_bad_peers(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client_t *c = http_client_new(&loop);
    char url[256];
    snprintf(url, sizeof url, "%s/garbage", srv.base);
    http_request_t req = {.url = url, .timeout_ms = 5000};
    result_t r = {0};
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_true(r.curl_code != 0);
    assert_true(strlen(r.error) > 0);
    result_clear(&r);
    /* 2000 headers: the first 1024 are kept, the body still arrives */
    snprintf(url, sizeof url, "%s/manyheaders?n=2000", srv.base);
    assert_non_null(http_client_send(c, &req, on_response, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    result_clear(&r);
    http_client_free(c);
    assert_int_equal(test_loop_close(&loop), 0);
}

static void test_escape(void **state)
{
    char *e = http_escape("host:web/1 a?b&c=d");
    assert_string_equal(e, "host%3Aweb%2F1%20a%3Fb%26c%3Dd");
    free(e);
    e = http_escape("AZaz09-._~");
    assert_string_equal(e, "AZaz09-._~");
    free(e);
    assert_null(http_escape(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_and_headers),
        cmocka_unit_test(test_methods_and_bodies),
        cmocka_unit_test(test_invalid_request),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_max_host_connections),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_cloexec),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_unix_socket),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_send_from_on_data),
        cmocka_unit_test(test_max_body),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bad_peers),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
