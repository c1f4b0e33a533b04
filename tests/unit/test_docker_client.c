/* Unit tests for lib/docker_client.c against the fake Docker in tests/unit/client_test_server.py:
 * on a unix socket (DOCKER_HOST=unix://...) for version negotiation, calls, errors and the event
 * stream; on 127.0.0.1 with mutual TLS (DOCKER_TLS_VERIFY + DOCKER_CERT_PATH, throw-away certs)
 * for the TLS settings and their error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "client_test_util.h"
#include "docker_client.h"

static test_server_t usrv;
static char sock_path[108], docker_host[160], cert_dir[128];
static uv_loop_t loop;
static http_client_t *http;
static docker_client_t *dc;

static const char *env_vals[8][2];
static const char *test_env(const char *name)
{
    for (int i = 0; i < 8 && env_vals[i][0]; i++)
        if (strcmp(env_vals[i][0], name) == 0)
            return env_vals[i][1];
    return NULL;
}

static docker_client_t *client_for(const char *host, const char *verify, const char *cert_path)
{
    memset(env_vals, 0, sizeof env_vals);
    env_vals[0][0] = "DOCKER_HOST";
    env_vals[0][1] = host;
    env_vals[1][0] = "DOCKER_TLS_VERIFY";
    env_vals[1][1] = verify;
    env_vals[2][0] = "DOCKER_CERT_PATH";
    env_vals[2][1] = cert_path;
    docker_endpoint_t ep;
    char err[256];
    if (docker_endpoint_from_env(test_env, &ep, err, sizeof err) != 0) {
        print_message("# %s\n", err);
        return NULL;
    }
    docker_client_t *c = docker_client_new(http, &ep);
    docker_endpoint_clear(&ep);
    return c;
}

static json_t *requests(void)
{
    char out[8192];
    assert_int_equal(test_fetch("GET", "http://localhost/ctl/requests", sock_path, NULL, out), 200);
    return json_loads(out, 0, NULL);
}

static int setup(void **state)
{
    snprintf(sock_path, sizeof sock_path, "/tmp/portolan-docker-test-%d.sock", (int)getpid());
    const char *args[] = {"--unix", sock_path, NULL};
    if (test_server_start(&usrv, args) != 0)
        return -1;
    snprintf(docker_host, sizeof docker_host, "unix://%s", sock_path);
    snprintf(cert_dir, sizeof cert_dir, "/tmp/portolan-docker-certs-%d", (int)getpid());
    uv_loop_init(&loop);
    http = http_client_new(&loop);
    dc = client_for(docker_host, NULL, NULL);
    return dc ? 0 : -1;
}

static int teardown(void **state)
{
    docker_client_free(dc);
    http_client_free(http);
    int rc = test_loop_close(&loop);
    test_server_stop(&usrv);
    unlink(sock_path);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cert_dir);
    if (system(cmd) != 0)
        rc = -1;
    return rc;
}

typedef struct {
    int done;
    long status;
    int has_error;
    char error[1024];
    json_t *json;
} res_t;

static void on_res(docker_client_t *c, long status, json_t *json, const char *error, void *data)
{
    res_t *r = data;
    r->done = 1;
    r->status = status;
    r->has_error = error != NULL;
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
    r->json = json_incref(json);
}

static void res_clear(res_t *r)
{
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static void test_negotiation_and_inspect(void **state)
{
    json_decref(requests());
    assert_null(docker_client_api_version(dc));
    res_t a = {0}, b = {0}, c = {0};
    /* three calls before the version is known: one GET /version, then all three */
    assert_non_null(docker_client_inspect(dc, "abc", on_res, &a));
    assert_non_null(docker_client_info(dc, on_res, &b));
    assert_non_null(docker_client_inspect(dc, "missing", on_res, &c));
    assert_int_equal(test_run_until(&loop, &a.done, 5000), 0);
    assert_int_equal(test_run_until(&loop, &b.done, 5000), 0);
    assert_int_equal(test_run_until(&loop, &c.done, 5000), 0);
    assert_string_equal(docker_client_api_version(dc), "1.41"); /* daemon says 1.43 */
    assert_int_equal(a.status, 200);
    assert_false(a.has_error);
    assert_string_equal(json_string_value(json_object_get(a.json, "Id")), "abc");
    assert_string_equal(json_string_value(json_object_get(b.json, "Name")), "node1");
    assert_int_equal(c.status, 404);
    assert_string_equal(c.error, "docker: GET /v1.41/containers/missing/json: 404 No such container: missing");
    json_t *reqs = requests();
    assert_int_equal(json_array_size(reqs), 4);
    assert_string_equal(json_string_value(json_array_get(reqs, 0)), "/version");
    /* all three after it (their order at the server is up to its threads: not asserted) */
    const char *want[] = {"/v1.41/containers/abc/json", "/v1.41/info", "/v1.41/containers/missing/json"};
    for (int i = 0; i < 3; i++) {
        int seen = 0;
        for (size_t k = 1; k < 4; k++)
            seen += strcmp(json_string_value(json_array_get(reqs, k)), want[i]) == 0;
        assert_int_equal(seen, 1);
    }
    json_decref(reqs);
    res_clear(&a);
    res_clear(&b);
    res_clear(&c);
    /* hostile ids are escaped, never spliced into the path */
    assert_non_null(docker_client_inspect(dc, "../../version?x", on_res, &a));
    assert_int_equal(test_run_until(&loop, &a.done, 5000), 0);
    assert_int_equal(a.status, 404);
    res_clear(&a);
    reqs = requests();
    assert_string_equal(json_string_value(json_array_get(reqs, 0)), "/v1.41/containers/..%2F..%2Fversion%3Fx/json");
    json_decref(reqs);
    assert_null(docker_client_inspect(dc, "", on_res, &a));
    assert_null(docker_client_inspect(dc, NULL, on_res, &a));
}

static void test_calls(void **state)
{
    res_t r = {0};
    assert_non_null(docker_client_ping(dc, on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_false(r.has_error);
    res_clear(&r);

    json_t *filters = json_pack("{s:[s],s:[s]}", "label", "a=b", "status", "running");
    assert_non_null(docker_client_containers(dc, 0, filters, on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    json_t *echoed = json_loads(json_string_value(json_object_get(json_array_get(r.json, 0), "filters")), 0, NULL);
    assert_true(json_equal(echoed, filters));
    json_decref(echoed);
    json_decref(filters);
    res_clear(&r);

    json_t *body = json_pack("{s:s,s:{s:s}}", "Image", "nginx:alpine", "Labels", "SERVICE_NAME", "web");
    assert_non_null(docker_client_create(dc, "web-2", body, on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "Id")), "new1");
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "web-2");
    assert_string_equal(json_string_value(json_object_get(r.json, "ctype")), "application/json");
    assert_true(json_equal(json_object_get(r.json, "body"), body));
    json_decref(body);
    res_clear(&r);

    assert_non_null(docker_client_start(dc, "abc", on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 204);
    assert_false(r.has_error);
    res_clear(&r);
    assert_non_null(docker_client_start(dc, "already", on_res, &r)); /* 304 = fine */
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 304);
    assert_false(r.has_error);
    res_clear(&r);
    assert_non_null(docker_client_stop(dc, "abc", 5, on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    res_clear(&r);
    assert_non_null(docker_client_remove(dc, "abc", 1, on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    res_clear(&r);
    json_t *reqs = requests();
    const char *want[] = {"/_ping", "/v1.41/containers/json?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%2C%22status%22%3A%5B%22running%22%5D%7D",
                          "POST /v1.41/containers/create?name=web-2", "POST /v1.41/containers/abc/start",
                          "POST /v1.41/containers/already/start", "POST /v1.41/containers/abc/stop?t=5",
                          "DELETE /v1.41/containers/abc?force=1"};
    assert_int_equal(json_array_size(reqs), 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(json_string_value(json_array_get(reqs, i)), want[i]);
    json_decref(reqs);
}

typedef struct {
    int events;
    char actions[8][32];
    char since[64];
    int ended;
    int has_error;
    char error[512];
    int cancel_after;
    int inspect_in_cb; /* start an inspect from inside on_event (what the agent does) */
    res_t inspect;
} ev_res_t;

static void on_event(docker_events_t *ev, json_t *e, void *data)
{
    ev_res_t *r = data;
    if (r->events < 8)
        snprintf(r->actions[r->events], 32, "%s", json_string_value(json_object_get(e, "Action")));
    r->events++;
    docker_event_since(e, r->since, sizeof r->since);
    if (r->inspect_in_cb && r->events == 1)
        assert_non_null(docker_client_inspect(dc, "abc", on_res, &r->inspect));
    if (r->cancel_after && r->events >= r->cancel_after) {
        docker_events_cancel(ev);
        r->ended = 1; /* for the wait loop; on_end must not run */
    }
}

static void on_end(docker_events_t *ev, const char *error, void *data)
{
    ev_res_t *r = data;
    r->ended = 1;
    r->has_error = error != NULL;
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

static void test_events(void **state)
{
    json_decref(requests());
    static const char *const names[] = {"start", "die", "health_status", NULL};
    docker_events_opts_t o = {.events = names, .since = "1700000000.000000001"};
    ev_res_t r = {.inspect_in_cb = 1};
    docker_events_t *ev = docker_client_events(dc, &o, on_event, on_end, &r);
    assert_non_null(ev);
    assert_int_equal(test_run_until(&loop, &r.ended, 5000), 0);
    assert_int_equal(r.events, 2); /* the "not json" line is skipped */
    assert_string_equal(r.actions[0], "start");
    assert_string_equal(r.actions[1], "die");
    assert_false(r.has_error); /* a clean end of stream */
    assert_string_equal(r.since, "1700000001.000000005");
    assert_int_equal(test_run_until(&loop, &r.inspect.done, 5000), 0);
    assert_string_equal(json_string_value(json_object_get(r.inspect.json, "Id")), "abc");
    res_clear(&r.inspect);
    json_t *reqs = requests();
    const char *path = json_string_value(json_array_get(reqs, 0));
    assert_non_null(path);
    assert_string_equal(path, "/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A"
                              "%5B%22start%22%2C%22die%22%2C%22health_status%22%5D%7D&since=1700000000.000000001");
    json_decref(reqs);

    /* cancel from inside on_event: no further events, no on_end */
    ev_res_t r2 = {.cancel_after = 1};
    assert_non_null(docker_client_events(dc, NULL, on_event, on_end, &r2));
    assert_int_equal(test_run_until(&loop, &r2.ended, 5000), 0);
    test_run_for(&loop, 200);
    assert_int_equal(r2.events, 1);
    assert_false(r2.has_error);
    assert_int_equal(r2.error[0], '\0');
    reqs = requests();
    assert_string_equal(json_string_value(json_array_get(reqs, 0)), "/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D");
    json_decref(reqs);

    /* the daemon dies mid-stream: the complete event before the break is delivered, then on_end
     * reports the error so the caller can reconnect with since= */
    assert_int_equal(test_fetch("GET", "http://localhost/ctl/cut", sock_path, NULL, NULL), 200);
    ev_res_t r4 = {0};
    assert_non_null(docker_client_events(dc, NULL, on_event, on_end, &r4));
    assert_int_equal(test_run_until(&loop, &r4.ended, 5000), 0);
    assert_int_equal(r4.events, 1);
    assert_true(r4.has_error);
    print_message("# %s\n", r4.error);
    char want[300];
    snprintf(want, sizeof want, "docker: events stream from %s ended: ", docker_host);
    assert_true(strncmp(r4.error, want, strlen(want)) == 0);
    assert_string_equal(r4.since, "1700000000.123456789");
    json_decref(requests());

    /* cancel before anything arrived */
    ev_res_t r3 = {0};
    ev = docker_client_events(dc, NULL, on_event, on_end, &r3);
    docker_events_cancel(ev);
    test_run_for(&loop, 200);
    assert_int_equal(r3.events, 0);
    assert_int_equal(r3.ended, 0);
    json_decref(requests());
}

static void test_unreachable(void **state)
{
    docker_client_t *bad = client_for("unix:///nonexistent/docker.sock", NULL, NULL);
    res_t r = {0};
    assert_non_null(docker_client_info(bad, on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_int_equal(r.status, 0);
    const char *want = "docker: cannot connect to unix:///nonexistent/docker.sock: ";
    assert_true(strncmp(r.error, want, strlen(want)) == 0);
    assert_non_null(strstr(r.error, "(is dockerd running? check DOCKER_HOST)"));
    res_clear(&r);
    ev_res_t e = {0};
    assert_non_null(docker_client_events(bad, NULL, on_event, on_end, &e));
    assert_int_equal(test_run_until(&loop, &e.ended, 5000), 0);
    assert_true(e.has_error);
    assert_true(strncmp(e.error, want, strlen(want)) == 0);
    /* free with a call waiting for negotiation: no callback */
    assert_non_null(docker_client_info(bad, on_res, &r));
    docker_client_free(bad);
    test_run_for(&loop, 100);
    assert_int_equal(r.done, 0);
}

static void test_tls(void **state)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/unit/client_test_certs.sh' '%s'", TOP_SRCDIR, cert_dir);
    if (system(cmd) != 0)
        fail_msg("could not make test certificates (openssl missing?)");
    char good[200], wrong[200], nocert[200];
    snprintf(good, sizeof good, "%s/good", cert_dir);
    snprintf(wrong, sizeof wrong, "%s/wrongca", cert_dir);
    snprintf(nocert, sizeof nocert, "%s/nocert", cert_dir);
    test_server_t tsrv;
    const char *args[] = {"--tls", good, NULL};
    assert_int_equal(test_server_start(&tsrv, args), 0);
    char host[64];
    snprintf(host, sizeof host, "tcp://127.0.0.1:%d", tsrv.port);

    /* the right CA and a client certificate: works over https */
    docker_client_t *c = client_for(host, "1", good);
    res_t r = {0};
    assert_non_null(docker_client_info(c, on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    assert_false(r.has_error);
    assert_string_equal(json_string_value(json_object_get(r.json, "Name")), "node1");
    res_clear(&r);
    docker_client_free(c);

    /* the wrong CA: the message names the endpoint and what to check */
    c = client_for(host, "1", wrong);
    assert_non_null(docker_client_info(c, on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    char want[200];
    snprintf(want, sizeof want, "docker: TLS handshake with %s failed: certificate verify failed", host);
    print_message("# %s\n", r.error);
    assert_true(strncmp(r.error, want, strlen(want)) == 0);
    assert_non_null(strstr(r.error, "check DOCKER_CERT_PATH ca.pem)"));
    res_clear(&r);
    docker_client_free(c);

    /* no client certificate files */
    c = client_for(host, "1", nocert);
    assert_non_null(docker_client_info(c, on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    print_message("# %s\n", r.error);
    assert_true(r.has_error);
    assert_non_null(strstr(r.error, "cert.pem"));
    res_clear(&r);
    docker_client_free(c);

    /* plain http to a TLS daemon: an error, not a hang */
    c = client_for(host, NULL, NULL);
    docker_client_set_timeout(c, 3000);
    assert_non_null(docker_client_info(c, on_res, &r));
    assert_int_equal(test_run_until(&loop, &r.done, 5000), 0);
    print_message("# %s\n", r.error);
    assert_true(r.has_error);
    res_clear(&r);
    docker_client_free(c);
    test_server_stop(&tsrv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiation_and_inspect),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_tls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
