/* Unit tests for lib/consul_client.c and lib/consul_watch.c against the fake Consul in
 * tests/unit/client_test_server.py: error bodies surfaced, token header, path escaping, KV 404,
 * and the blocking-query watch (first request without index, index/wait afterwards, same index,
 * equal data, index backwards -> reset, index 0 -> 1, rate limit, error backoff forever, stop and
 * free from inside callbacks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "client_test_util.h"
#include "consul_client.h"
#include "consul_watch.h"

static test_server_t srv;
static uv_loop_t loop;
static http_client_t *http;
static consul_client_t *cc;

static const char *token_env(const char *name)
{
    return strcmp(name, "CONSUL_HTTP_TOKEN") == 0 ? "t0ken-123" : NULL;
}

static void ctl(const char *fmt, ...)
{
    char path[1024], url[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    snprintf(url, sizeof url, "%s%s", srv.base, path);
    assert_int_equal(test_fetch("GET", url, NULL, NULL, NULL), 200);
}

/* Requests the server saw since the last call. */
static json_t *requests(void)
{
    char url[256], out[8192];
    snprintf(url, sizeof url, "%s/ctl/requests", srv.base);
    assert_int_equal(test_fetch("GET", url, NULL, NULL, out), 200);
    return json_loads(out, 0, NULL);
}

static int setup(void **state)
{
    if (test_server_start(&srv, NULL) != 0)
        return -1;
    uv_loop_init(&loop);
    http = http_client_new(&loop);
    char uri[128], err[256];
    snprintf(uri, sizeof uri, "consul://127.0.0.1:%d", srv.port);
    consul_endpoint_t ep;
    if (consul_endpoint_parse(uri, token_env, &ep, err, sizeof err) != 0)
        return -1;
    cc = consul_client_new(http, &ep);
    consul_endpoint_clear(&ep);
    return cc ? 0 : -1;
}

static int teardown(void **state)
{
    consul_client_free(cc);
    http_client_free(http);
    int rc = test_loop_close(&loop);
    test_server_stop(&srv);
    return rc;
}

typedef struct {
    int done;
    long status;
    char error[1024];
    int has_error;
    json_t *json;
    uint64_t index;
    int has_index;
} res_t;

static void on_res(consul_client_t *c, const consul_result_t *r, void *data)
{
    res_t *res = data;
    res->done = 1;
    res->status = r->status;
    res->has_error = r->error != NULL;
    snprintf(res->error, sizeof res->error, "%s", r->error ? r->error : "");
    res->json = json_incref(r->json);
    res->index = r->index;
    res->has_index = r->has_index;
}

static void wait_res(res_t *r)
{
    assert_int_equal(test_run_until(&loop, &r->done, 5000), 0);
}

static void res_clear(res_t *r)
{
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static void test_register_error_surfaced(void **state)
{
    res_t r = {0};
    json_t *svc = json_pack("{s:s,s:s,s:{s:s}}", "ID", "n1:web:80", "Name", "web", "Meta", "bad", "x");
    assert_non_null(consul_service_register(cc, svc, 0, on_res, &r));
    wait_res(&r);
    assert_int_equal(r.status, 400);
    assert_true(r.has_error);
    assert_string_equal(r.error, "consul: PUT /v1/agent/service/register: 400 Invalid Service Meta: "
                                 "Couldn't load metadata pair ('bad', 'x'): Key contains invalid characters");
    res_clear(&r);
    json_object_set_new(svc, "Meta", json_pack("{s:s}", "good", "y"));
    assert_non_null(consul_service_register(cc, svc, 1, on_res, &r));
    wait_res(&r);
    assert_int_equal(r.status, 200);
    assert_false(r.has_error);
    assert_null(r.json); /* empty body */
    res_clear(&r);
    json_decref(svc);
    json_t *reqs = requests();
    assert_string_equal(json_string_value(json_array_get(reqs, 1)), "/v1/agent/service/register?replace-existing-checks");
    json_decref(reqs);
    /* not an object: refused before sending */
    json_t *arr = json_array();
    assert_null(consul_service_register(cc, arr, 0, on_res, &r));
    json_decref(arr);
}

static void test_token_header(void **state)
{
    res_t r = {0};
    assert_non_null(consul_agent_self(cc, on_res, &r));
    wait_res(&r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "headers"), "X-Consul-Token")), "t0ken-123");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "Config"), "NodeName")), "n1");
    res_clear(&r);
    json_decref(requests());
}

static void test_paths_escaped(void **state)
{
    ctl("/ctl/set?index=3&data=%%7B%%7D");
    json_decref(requests());
    res_t r = {0};
    assert_non_null(consul_service_deregister(cc, "n1:web:80", on_res, &r));
    wait_res(&r);
    assert_int_equal(r.status, 200);
    res_clear(&r);
    assert_non_null(consul_check_ttl(cc, "service:n1:web:80", CONSUL_CHECK_PASS, "all good & fine", on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_check_ttl(cc, "c1", CONSUL_CHECK_FAIL, NULL, on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_check_update(cc, "c 2", "warning", "disk 91%", on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_health_service(cc, "web/v1", 1, "rest api", on_res, &r));
    wait_res(&r);
    assert_int_equal(r.index, 3);
    assert_true(r.has_index); /* the fake sends "x-consul-index" in lower case */
    res_clear(&r);
    assert_non_null(consul_health_service(cc, "web", 0, "v1", on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_health_state(cc, "any", on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_kv_get(cc, "app/config key", on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_kv_list(cc, "app/", on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_catalog_services(cc, on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_status_leader(cc, on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_agent_services(cc, on_res, &r));
    wait_res(&r);
    res_clear(&r);
    /* names that would change the request if pasted: query, fragment, escape, space, dot segments */
    assert_non_null(consul_kv_get(cc, "x?y", on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_kv_get(cc, "pct%41/#/a b/../.", on_res, &r));
    wait_res(&r);
    res_clear(&r);
    assert_non_null(consul_health_service(cc, "..", 0, NULL, on_res, &r));
    wait_res(&r);
    res_clear(&r);
    const char *want[] = {
        "/v1/agent/service/deregister/n1%3Aweb%3A80",
        "/v1/agent/check/pass/service%3An1%3Aweb%3A80?note=all%20good%20%26%20fine",
        "/v1/agent/check/fail/c1",
        "/v1/agent/check/update/c%202",
        "/v1/health/service/web%2Fv1?passing&tag=rest%20api",
        "/v1/health/service/web?tag=v1",
        "/v1/health/state/any",
        "/v1/kv/app/config%20key",
        "/v1/kv/app/?recurse",
        "/v1/catalog/services",
        "/v1/status/leader",
        "/v1/agent/services",
        "/v1/kv/x%3Fy",
        "/v1/kv/pct%2541/%23/a%20b/%2E%2E/%2E",
        "/v1/health/service/%2E%2E",
    };
    json_t *reqs = requests();
    assert_int_equal(json_array_size(reqs), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_string_equal(json_string_value(json_array_get(reqs, i)), want[i]);
    json_decref(reqs);
    /* invalid arguments are refused without a request */
    assert_null(consul_service_deregister(cc, "", on_res, &r));
    assert_null(consul_check_ttl(cc, "c", (consul_check_status_t)9, NULL, on_res, &r));
    assert_null(consul_kv_get(cc, "", on_res, &r));
    assert_null(consul_client_request(cc, "GET", "/v1/x y", NULL, 0, -1, on_res, &r));
    assert_null(consul_client_request(cc, "GET", "/other", NULL, 0, -1, on_res, &r));
}

static void test_kv_missing(void **state)
{
    ctl("/ctl/set?index=4&data=null");
    res_t r = {0};
    assert_non_null(consul_kv_get(cc, "missing/key", on_res, &r));
    wait_res(&r);
    assert_int_equal(r.status, 404);
    assert_false(r.has_error); /* absent key is not an error */
    assert_null(r.json);
    assert_int_equal(r.index, 4);
    res_clear(&r);
    /* through the generic call a 404 is an error like any other */
    assert_non_null(consul_client_request(cc, "GET", "/v1/kv/missing/key", NULL, 0, -1, on_res, &r));
    wait_res(&r);
    assert_true(r.has_error);
    assert_string_equal(r.error, "consul: GET /v1/kv/missing/key: 404");
    res_clear(&r);
    json_decref(requests());
}

static void test_transport_error(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char uri[64], err[256], want[128];
    snprintf(uri, sizeof uri, "consul://127.0.0.1:%d", ntohs(a.sin_port));
    consul_endpoint_t ep;
    assert_int_equal(consul_endpoint_parse(uri, token_env, &ep, err, sizeof err), 0);
    consul_client_t *bad = consul_client_new(http, &ep);
    consul_endpoint_clear(&ep);
    res_t r = {0};
    assert_non_null(consul_status_leader(bad, on_res, &r));
    wait_res(&r);
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof want, "consul: GET /v1/status/leader: cannot connect to 127.0.0.1:%d: ", ntohs(a.sin_port));
    assert_true(strncmp(r.error, want, strlen(want)) == 0);
    assert_non_null(strstr(r.error, "is Consul running?"));
    res_clear(&r);
    /* free with a call in flight: no callback */
    assert_non_null(consul_status_leader(bad, on_res, &r));
    consul_client_free(bad);
    test_run_for(&loop, 50);
    assert_int_equal(r.done, 0);
}

/* ---- the watch ---- */

typedef struct {
    int changes;
    json_t *last;
    uint64_t last_index;
    int errors;
    unsigned last_attempt;
    uint64_t retry_ms[32];
    int free_on_change;
    int stop_on_error_at;
    consul_watch_t *w;
} watch_res_t;

static void on_change(consul_watch_t *w, json_t *data, uint64_t index, void *ud)
{
    watch_res_t *r = ud;
    r->changes++;
    json_decref(r->last);
    r->last = json_incref(data);
    r->last_index = index;
    if (r->free_on_change) {
        consul_watch_free(w);
        r->w = NULL;
    }
}

static void on_error(consul_watch_t *w, const char *error, unsigned attempt, uint64_t retry_ms, void *ud)
{
    watch_res_t *r = ud;
    if (r->errors < 32)
        r->retry_ms[r->errors] = retry_ms;
    r->errors++;
    r->last_attempt = attempt;
    if (r->stop_on_error_at && r->errors >= r->stop_on_error_at)
        consul_watch_stop(w);
}

static int wait_changes(watch_res_t *r, int n, uint64_t ms)
{
    volatile int flag = 0;
    uint64_t t0 = uv_hrtime();
    while (r->changes < n && (uv_hrtime() - t0) / 1000000 < ms) {
        flag = 0;
        test_run_until(&loop, &flag, 20);
    }
    return r->changes >= n ? 0 : -1;
}

/* Runs the loop until cond holds or ms pass: for waits on an event, where a fixed test_run_for()
 * period followed by an assertion that something happened can be outlasted by a loaded machine
 * (the fake server is a python process). The assertions after it still decide. */
#define RUN_UNTIL(cond, ms)                                                                   \
    do {                                                                                      \
        uint64_t t0_ = uv_hrtime();                                                           \
        while (!(cond) && (uv_hrtime() - t0_) / 1000000 < (ms)) {                             \
            volatile int f_ = 0;                                                              \
            test_run_until(&loop, &f_, 10);                                                   \
        }                                                                                     \
    } while (0)

static uint64_t stat_same_index(consul_watch_t *w)
{
    consul_watch_stats_t st;
    consul_watch_stats(w, &st);
    return st.same_index;
}

static uint64_t stat_requests(consul_watch_t *w)
{
    consul_watch_stats_t st;
    consul_watch_stats(w, &st);
    return st.requests;
}

static int contains(json_t *reqs, size_t i, const char *needle)
{
    const char *s = json_string_value(json_array_get(reqs, i));
    return s && strstr(s, needle) != NULL;
}

static void test_watch_index_rules(void **state)
{
    ctl("/ctl/set?index=10&data=%%7B%%22a%%22:1%%7D"); /* {"a":1} */
    json_decref(requests());
    consul_watch_opts_t o;
    consul_watch_opts_init(&o, "/v1/catalog/services");
    o.wait_ms = 300;
    o.min_interval_ms = 0;
    o.stale = 1;
    watch_res_t r = {0};
    consul_watch_t *w = consul_watch_new(cc, &o, on_change, on_error, &r);
    assert_non_null(w);
    assert_int_equal(consul_watch_start(w), 0);
    assert_int_equal(consul_watch_start(w), 0); /* idempotent */

    /* first answer: delivered at once */
    assert_int_equal(wait_changes(&r, 1, 3000), 0);
    assert_int_equal(r.last_index, 10);
    assert_int_equal(json_integer_value(json_object_get(r.last, "a")), 1);
    /* same index (the 300 ms wait expires): no callback. Waited for (was a fixed 800 ms) */
    RUN_UNTIL(stat_same_index(w) >= 1, 5000);
    test_run_for(&loop, 100);
    assert_int_equal(r.changes, 1);
    consul_watch_stats_t st;
    consul_watch_stats(w, &st);
    assert_true(st.same_index >= 1);
    json_t *reqs = requests();
    assert_true(json_array_size(reqs) >= 2);
    assert_string_equal(json_string_value(json_array_get(reqs, 0)), "/v1/catalog/services?stale");
    assert_string_equal(json_string_value(json_array_get(reqs, 1)), "/v1/catalog/services?index=10&wait=300ms&stale");
    json_decref(reqs);

    /* index rises, data equal: suppressed, index kept */
    ctl("/ctl/set?index=11");
    RUN_UNTIL(consul_watch_index(w) == 11, 5000); /* (was a fixed 200 ms) */
    test_run_for(&loop, 100);
    assert_int_equal(r.changes, 1);
    assert_int_equal(consul_watch_index(w), 11);
    consul_watch_stats(w, &st);
    assert_int_equal(st.equal_data, 1);

    /* index rises with new data: delivered */
    ctl("/ctl/set?index=12&data=%%7B%%22a%%22:2%%7D");
    assert_int_equal(wait_changes(&r, 2, 3000), 0);
    assert_int_equal(r.last_index, 12);
    assert_int_equal(json_integer_value(json_object_get(r.last, "a")), 2);
    json_decref(requests());

    /* index goes backwards (server restart): reset to 0, re-query without index */
    ctl("/ctl/set?index=5&data=%%7B%%22a%%22:3%%7D");
    assert_int_equal(wait_changes(&r, 3, 3000), 0);
    assert_int_equal(r.last_index, 5);
    assert_int_equal(json_integer_value(json_object_get(r.last, "a")), 3);
    consul_watch_stats(w, &st);
    assert_int_equal(st.resets, 1);
    reqs = requests();
    /* the blocked request (index=12, logged earlier) woke with 5; the re-query carries no index */
    assert_string_equal(json_string_value(json_array_get(reqs, 0)), "/v1/catalog/services?stale");
    json_decref(reqs);
    test_run_for(&loop, 400);
    assert_int_equal(r.changes, 3);

    /* index 0 from the server counts as 1: a reset (1 < 5), then it settles at 1 */
    ctl("/ctl/set?index=0&data=%%7B%%22a%%22:4%%7D");
    assert_int_equal(wait_changes(&r, 4, 3000), 0);
    assert_int_equal(r.last_index, 1);
    test_run_for(&loop, 300);
    assert_int_equal(consul_watch_index(w), 1);
    json_decref(requests());

    /* and from there a real change is seen */
    ctl("/ctl/set?index=20&data=%%7B%%22a%%22:5%%7D");
    assert_int_equal(wait_changes(&r, 5, 3000), 0);
    assert_int_equal(r.last_index, 20);
    assert_true(json_equal((json_t *)consul_watch_data(w), r.last));
    assert_string_equal(consul_watch_path(w), "/v1/catalog/services");

    consul_watch_stop(w);
    int before = r.changes;
    ctl("/ctl/set?index=21&data=%%7B%%22a%%22:6%%7D");
    test_run_for(&loop, 300);
    assert_int_equal(r.changes, before); /* stopped: nothing */
    /* restart keeps the index: the next request carries index=20 */
    json_decref(requests());
    consul_watch_start(w);
    assert_int_equal(wait_changes(&r, before + 1, 3000), 0);
    reqs = requests();
    assert_true(contains(reqs, 0, "index=20"));
    json_decref(reqs);
    consul_watch_free(w);
    json_decref(r.last);
    test_run_for(&loop, 50);
    json_decref(requests());
}

/* With index 0 from the server every answer comes back at once; the rate limit bounds the poll
 * rate (a watch with the limit off spins much faster). */
static void test_watch_rate_limit(void **state)
{
    ctl("/ctl/set?index=0&data=%%5B%%5D");
    uint64_t counts[2];
    for (int k = 0; k < 2; k++) {
        consul_watch_opts_t o;
        consul_watch_opts_init(&o, "/v1/health/state/any");
        o.wait_ms = 300;
        if (k == 1)
            o.min_interval_ms = 0;
        watch_res_t r = {0};
        consul_watch_t *w = consul_watch_new(cc, &o, on_change, on_error, &r);
        consul_watch_start(w);
        test_run_for(&loop, 1000);
        consul_watch_stats_t st;
        consul_watch_stats(w, &st);
        counts[k] = st.requests;
        if (k == 0)
            assert_true(st.rate_limited >= 5);
        consul_watch_free(w);
        json_decref(r.last);
        assert_int_equal(r.changes, 1); /* the data never changed */
    }
    print_message("# requests in 1 s: %llu with the 100 ms rate limit, %llu without\n",
                  (unsigned long long)counts[0], (unsigned long long)counts[1]);
    assert_true(counts[0] >= 3 && counts[0] <= 12);
    assert_true(counts[1] > 3 * counts[0]);
    test_run_for(&loop, 50);
    json_decref(requests());
}

static void test_watch_errors_backoff(void **state)
{
    ctl("/ctl/set?index=30&data=%%7B%%22b%%22:1%%7D");
    ctl("/ctl/fail?n=15");
    consul_watch_opts_t o;
    consul_watch_opts_init(&o, "/v1/catalog/services");
    o.wait_ms = 300;
    o.backoff_base_ms = 4;
    o.backoff_cap_ms = 16;
    watch_res_t r = {0};
    consul_watch_t *w = consul_watch_new(cc, &o, on_change, on_error, &r);
    consul_watch_start(w);
    /* 15 failures (more than consul-template's 12 attempts) and then success */
    assert_int_equal(wait_changes(&r, 1, 5000), 0);
    assert_int_equal(r.errors, 15);
    assert_int_equal(r.last_attempt, 15);
    for (int i = 0; i < 15; i++) {
        uint64_t ceil = 4;
        for (int k = 0; k < i && ceil < 16; k++)
            ceil *= 2;
        if (ceil > 16)
            ceil = 16;
        assert_true(r.retry_ms[i] >= ceil / 2 && r.retry_ms[i] <= ceil);
    }
    assert_int_equal(r.last_index, 30);
    /* success reset the backoff: the next failure is attempt 1 again */
    ctl("/ctl/fail?n=1");
    ctl("/ctl/set?index=31");
    RUN_UNTIL(r.errors >= 16, 5000); /* (was a fixed 300 ms) */
    test_run_for(&loop, 100);
    assert_int_equal(r.errors, 16);
    assert_int_equal(r.last_attempt, 1);
    consul_watch_free(w);
    json_decref(r.last);
    /* a 500 body reaches on_error as a full message */
    test_run_for(&loop, 50);
    json_decref(requests());
}

/* After a failed request the watch's index may belong to a server that is gone (restarted, or
 * restored from an older snapshot, counting from lower indexes): the next query carries no
 * index, so it answers at once instead of waiting the whole wait period. */
static void test_watch_error_drops_index(void **state)
{
    ctl("/ctl/set?index=50&data=%%7B%%22d%%22:1%%7D");
    json_decref(requests());
    consul_watch_opts_t o;
    consul_watch_opts_init(&o, "/v1/catalog/services");
    o.wait_ms = 60000;
    o.backoff_base_ms = 4;
    o.backoff_cap_ms = 16;
    watch_res_t r = {0};
    consul_watch_t *w = consul_watch_new(cc, &o, on_change, on_error, &r);
    consul_watch_start(w);
    assert_int_equal(wait_changes(&r, 1, 5000), 0);
    RUN_UNTIL(stat_requests(w) >= 2, 5000); /* the blocking query with index=50 is out */
    ctl("/ctl/fail?n=1");
    ctl("/ctl/set?index=51"); /* wakes it; the next query (index=51) fails */
    RUN_UNTIL(r.errors >= 1, 5000);
    RUN_UNTIL(stat_requests(w) >= 5, 5000); /* the retry, then the next blocking query */
    assert_int_equal(consul_watch_index(w), 51);
    consul_watch_stats_t st;
    consul_watch_stats(w, &st);
    assert_int_equal(st.error_resets, 1);
    json_t *reqs = requests();
    /* (the 5th request, the next blocking one, may not be in the server's log yet: the 4th was
     * answered before it was sent, so it is) */
    const char *want[] = {
        "/v1/catalog/services",
        "/v1/catalog/services?index=50&wait=1m0s",
        "/v1/catalog/services?index=51&wait=1m0s", /* answered 500 */
        "/v1/catalog/services",                    /* no index: answers at once */
    };
    assert_true(json_array_size(reqs) >= 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_array_get(reqs, i)), want[i]);
    json_decref(reqs);
    consul_watch_free(w);
    json_decref(r.last);
    test_run_for(&loop, 50);
    json_decref(requests());
}

static void test_watch_free_in_callback(void **state)
{
    ctl("/ctl/set?index=40&data=%%7B%%22c%%22:1%%7D");
    json_decref(requests());
    consul_watch_opts_t o;
    consul_watch_opts_init(&o, "/v1/kv/app?recurse");
    watch_res_t r = {.free_on_change = 1};
    r.w = consul_watch_new(cc, &o, on_change, on_error, &r);
    consul_watch_start(r.w);
    assert_int_equal(wait_changes(&r, 1, 3000), 0);
    assert_null(r.w);
    test_run_for(&loop, 200);
    json_t *reqs = requests();
    assert_int_equal(json_array_size(reqs), 1); /* nothing after the free */
    json_decref(reqs);
    json_decref(r.last);

    /* stop from on_error */
    ctl("/ctl/fail?n=5");
    watch_res_t r2 = {.stop_on_error_at = 2};
    consul_watch_opts_init(&o, "/v1/catalog/services");
    o.backoff_base_ms = 5;
    consul_watch_t *w = consul_watch_new(cc, &o, on_change, on_error, &r2);
    consul_watch_start(w);
    RUN_UNTIL(r2.errors >= 2, 5000); /* (was a fixed 400 ms) */
    test_run_for(&loop, 200);        /* stopped: no third error */
    assert_int_equal(r2.errors, 2);
    consul_watch_free(w);
    ctl("/ctl/fail?n=0");
    json_decref(requests());
}

/* An endpoint that cannot block (no X-Consul-Index): polled at the rate limit, fires once. */
static void test_watch_no_index(void **state)
{
    consul_watch_opts_t o;
    consul_watch_opts_init(&o, "/v1/agent/self");
    watch_res_t r = {0};
    consul_watch_t *w = consul_watch_new(cc, &o, on_change, on_error, &r);
    consul_watch_start(w);
    /* four requests take at least three 100 ms intervals on any machine (was: 3..7 requests in a
     * fixed 600 ms, which slow answers on a loaded machine can bring under 3) */
    uint64_t t0 = uv_hrtime();
    RUN_UNTIL(stat_requests(w) >= 4, 10000);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    consul_watch_stats_t st;
    consul_watch_stats(w, &st);
    assert_int_equal(r.changes, 1);
    assert_int_equal(r.errors, 0);
    assert_true(st.requests >= 4);
    assert_true(ms >= 290);
    assert_true(st.equal_data >= 2);
    consul_watch_free(w);
    json_decref(r.last);
    test_run_for(&loop, 50);
    json_t *reqs = requests();
    for (size_t i = 0; i < json_array_size(reqs); i++)
        assert_string_equal(json_string_value(json_array_get(reqs, i)), "/v1/agent/self");
    json_decref(reqs);
}

/* A missing KV key is data NULL, delivered once; its creation is a change. */
static void test_watch_kv_absent(void **state)
{
    ctl("/ctl/set?index=50&data=null");
    consul_watch_opts_t o;
    consul_watch_opts_init(&o, "/v1/kv/missing");
    o.wait_ms = 300;
    o.min_interval_ms = 0;
    watch_res_t r = {0};
    consul_watch_t *w = consul_watch_new(cc, &o, on_change, on_error, &r);
    consul_watch_start(w);
    assert_int_equal(wait_changes(&r, 1, 3000), 0);
    assert_null(r.last);
    assert_int_equal(r.last_index, 50);
    ctl("/ctl/set?index=51");
    test_run_for(&loop, 200);
    assert_int_equal(r.changes, 1); /* still absent: equal */
    ctl("/ctl/set?index=52&data=%%5B%%7B%%22Key%%22:%%22missing%%22%%7D%%5D");
    assert_int_equal(wait_changes(&r, 2, 3000), 0);
    assert_non_null(r.last);
    assert_int_equal(r.errors, 0);
    consul_watch_free(w);
    json_decref(r.last);
    /* invalid options */
    consul_watch_opts_init(&o, "catalog/services");
    assert_null(consul_watch_new(cc, &o, on_change, NULL, NULL));
    consul_watch_opts_init(&o, NULL);
    assert_null(consul_watch_new(cc, &o, on_change, NULL, NULL));
    test_run_for(&loop, 50);
    json_decref(requests());
}

static const char *tls_env[8][2];
static const char *tls_getenv(const char *name)
{
    for (int i = 0; i < 8 && tls_env[i][0]; i++)
        if (strcmp(tls_env[i][0], name) == 0)
            return tls_env[i][1];
    return NULL;
}

static void tls_call(const char *uri, const char *dir, const char *verify, res_t *r)
{
    static char ca[256], cert[256], key[256];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    memset(tls_env, 0, sizeof tls_env);
    const char *kv[][2] = {{"CONSUL_CACERT", ca}, {"CONSUL_CLIENT_CERT", cert}, {"CONSUL_CLIENT_KEY", key},
                           {"CONSUL_HTTP_SSL_VERIFY", verify}};
    memcpy(tls_env, kv, sizeof kv);
    consul_endpoint_t ep;
    char err[256];
    assert_int_equal(consul_endpoint_parse(uri, tls_getenv, &ep, err, sizeof err), 0);
    consul_client_t *c = consul_client_new(http, &ep);
    consul_endpoint_clear(&ep);
    assert_non_null(consul_status_leader(c, on_res, r));
    assert_int_equal(test_run_until(&loop, &r->done, 5000), 0);
    consul_client_free(c);
}

/* consul-tls:// with CONSUL_CACERT / CONSUL_CLIENT_CERT / CONSUL_CLIENT_KEY against a server that
 * demands a client certificate */
static void test_tls(void **state)
{
    char dir[128], cmd[400], good[160], wrong[160], uri[64];
    snprintf(dir, sizeof dir, "/tmp/portolan-consul-certs-%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "sh '%s/tests/unit/client_test_certs.sh' '%s'", TOP_SRCDIR, dir);
    if (system(cmd) != 0)
        fail_msg("could not make test certificates (openssl missing?)");
    snprintf(good, sizeof good, "%s/good", dir);
    snprintf(wrong, sizeof wrong, "%s/wrongca", dir);
    test_server_t tsrv;
    const char *args[] = {"--tls", good, NULL};
    assert_int_equal(test_server_start(&tsrv, args), 0);
    snprintf(uri, sizeof uri, "consul-tls://127.0.0.1:%d", tsrv.port);
    res_t r = {0};
    tls_call(uri, good, NULL, &r);
    assert_false(r.has_error);
    assert_int_equal(r.status, 200);
    res_clear(&r);
    tls_call(uri, wrong, NULL, &r);
    assert_true(r.has_error);
    print_message("# %s\n", r.error);
    char want[128];
    snprintf(want, sizeof want, "consul: GET /v1/status/leader: TLS handshake with 127.0.0.1:%d failed: ", tsrv.port);
    assert_true(strncmp(r.error, want, strlen(want)) == 0);
    assert_non_null(strstr(r.error, "check CONSUL_CACERT"));
    res_clear(&r);
    /* CONSUL_HTTP_SSL_VERIFY=false: the wrong CA no longer matters (the client cert still does) */
    tls_call(uri, wrong, "false", &r);
    assert_false(r.has_error);
    res_clear(&r);
    test_server_stop(&tsrv);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Many long-polls at once on one loop: 100 watches block together and one write wakes them all. */
#define NWATCH 100
static void test_watch_many(void **state)
{
    ctl("/ctl/set?index=60&data=%%7B%%22m%%22:1%%7D");
    static watch_res_t rs[NWATCH];
    consul_watch_t *ws[NWATCH];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < NWATCH; i++) {
        char path[64];
        snprintf(path, sizeof path, "/v1/health/service/s%d", i);
        consul_watch_opts_t o;
        consul_watch_opts_init(&o, path);
        o.wait_ms = 10000;
        ws[i] = consul_watch_new(cc, &o, on_change, on_error, &rs[i]);
        consul_watch_start(ws[i]);
    }
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < NWATCH; i++)
        assert_int_equal(wait_changes(&rs[i], 1, 5000), 0);
    test_run_for(&loop, 300); /* all blocked now */
    assert_int_equal(http_client_active(http), NWATCH);
    t0 = uv_hrtime();
    ctl("/ctl/set?index=61&data=%%7B%%22m%%22:2%%7D");
    for (int i = 0; i < NWATCH; i++)
        assert_int_equal(wait_changes(&rs[i], 2, 5000), 0);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    print_message("# %d blocked watches woken by one write: all changed in %llu ms\n", NWATCH, (unsigned long long)ms);
    for (int i = 0; i < NWATCH; i++) {
        assert_int_equal(rs[i].last_index, 61);
        assert_int_equal(rs[i].errors, 0);
        consul_watch_free(ws[i]);
        json_decref(rs[i].last);
    }
    test_run_for(&loop, 50);
    assert_int_equal(http_client_active(http), 0);
    json_decref(requests());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_error_surfaced),
        cmocka_unit_test(test_token_header),
        cmocka_unit_test(test_paths_escaped),
        cmocka_unit_test(test_kv_missing),
        cmocka_unit_test(test_transport_error),
        cmocka_unit_test(test_watch_index_rules),
        cmocka_unit_test(test_watch_rate_limit),
        cmocka_unit_test(test_watch_errors_backoff),
        cmocka_unit_test(test_watch_error_drops_index),
        cmocka_unit_test(test_watch_free_in_callback),
        cmocka_unit_test(test_watch_kv_absent),
        cmocka_unit_test(test_watch_no_index),
        cmocka_unit_test(test_watch_many),
        cmocka_unit_test(test_tls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
