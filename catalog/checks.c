/* checks.c: see checks.h. Each check with something to run gets a probe object hung on
 * check->runner; the store's hooks create it when a check is added and retire it when the check
 * is removed. A retired probe with an HTTP call or TCP connect in flight stays alive, detached,
 * until that completes, so no callback ever touches a freed check. */
#include "checks.h"
#include "backoff.h"
#include "check_rules.h"
#include "http_client.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct checks_runner {
    uv_loop_t *loop;
    catalog_store_t *store;
    http_client_t *http;
    uv_timer_t reaper;
    int closing;
};

typedef struct probe {
    checks_runner_t *r;
    cat_check_t *check;        /* NULL once retired */
    uv_timer_t timer;          /* TTL expiry or next run */
    uv_timer_t deadline;       /* TCP timeout */
    uv_tcp_t tcp;
    uv_connect_t conn;
    http_call_t *call;
    int tcp_busy, timer_open, handles;
} probe_t;

int64_t checks_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void probe_maybe_free(probe_t *p);
static void on_handle_closed(uv_handle_t *h)
{
    probe_t *p = h->data;
    p->handles--;
    probe_maybe_free(p);
}

static void probe_maybe_free(probe_t *p)
{
    if (!p->check && p->handles == 0 && !p->tcp_busy && !p->call)
        free(p);
}

static void set_status(probe_t *p, const char *status, const char *output)
{
    if (p->check)
        store_check_update(p->r->store, p->check, status, output, checks_now_ms());
}

static void schedule(probe_t *p, uint64_t ms);

static void on_http_done(http_call_t *call, http_response_t *resp, void *data)
{
    (void)call;
    probe_t *p = data;
    p->call = NULL;
    if (!p->check) {
        probe_maybe_free(p);
        return;
    }
    char out[512];
    const char *st;
    if (resp->status == 0) {
        snprintf(out, sizeof out, "Get \"%s\": %s", p->check->http, resp->error);
        st = "critical";
    } else {
        snprintf(out, sizeof out, "HTTP %s %s: %ld %s Output: %.*s", p->check->method && *p->check->method ? p->check->method : "GET",
                 p->check->http, resp->status, resp->status >= 200 && resp->status < 300 ? "OK" : "", (int)(resp->len > 200 ? 200 : resp->len),
                 resp->body ? resp->body : "");
        st = resp->status >= 200 && resp->status < 300 ? "passing" : resp->status == 429 ? "warning" : "critical";
    }
    set_status(p, st, out);
    schedule(p, (uint64_t)(p->check->interval_ns / 1000000));
}

static void on_tcp_closed(uv_handle_t *h)
{
    probe_t *p = h->data;
    p->tcp_busy = 0;
    if (p->check)
        schedule(p, (uint64_t)(p->check->interval_ns / 1000000));
    probe_maybe_free(p);
}

static void tcp_finish(probe_t *p, const char *status, const char *output)
{
    if (!p->tcp_busy || uv_is_closing((uv_handle_t *)&p->tcp))
        return;
    uv_timer_stop(&p->deadline);
    set_status(p, status, output);
    uv_close((uv_handle_t *)&p->tcp, on_tcp_closed);
}

/* What a TCP-probed check connects to, for its Output: the TCP target, or the gRPC one (gRPC
 * checks are probed as a TCP connect). Never NULL, so no Output can read "(null)". */
static const char *probe_target(const probe_t *p)
{
    const cat_check_t *c = p->check;
    const char *t = !c ? NULL : c->kind == CHECK_GRPC ? c->grpc : c->tcp;
    return t ? t : "";
}

/* The address part of the target, as dialled: a gRPC target's "/service" is not part of it. */
static int probe_addr_len(const probe_t *p) { return (int)strcspn(probe_target(p), "/"); }

static void on_tcp_connect(uv_connect_t *req, int status)
{
    probe_t *p = req->data;
    char out[300];
    if (status == 0) {
        snprintf(out, sizeof out, "TCP connect %.*s: Success", probe_addr_len(p), probe_target(p));
        tcp_finish(p, "passing", out);
    } else {
        snprintf(out, sizeof out, "dial tcp %.*s: %s", probe_addr_len(p), probe_target(p), uv_strerror(status));
        tcp_finish(p, "critical", out);
    }
}

static void on_tcp_deadline(uv_timer_t *t)
{
    probe_t *p = t->data;
    char out[300];
    snprintf(out, sizeof out, "dial tcp %.*s: i/o timeout", probe_addr_len(p), probe_target(p));
    tcp_finish(p, "critical", out);
}

static void run_probe(probe_t *p)
{
    cat_check_t *c = p->check;
    if (c->kind == CHECK_HTTP) {
        const char *hdrs[64];
        char *owned[64];
        size_t nh = 0;
        for (size_t i = 0; i < c->nheaders && nh < 62; i++)
            for (size_t j = 0; j < c->headers[i].nvalues && nh < 62; j++) {
                if (asprintf(&owned[nh], "%s: %s", c->headers[i].name, c->headers[i].values[j]) < 0)
                    continue;
                hdrs[nh] = owned[nh];
                nh++;
            }
        hdrs[nh] = NULL;
        http_request_t req = {
            .method = c->method && *c->method ? c->method : "GET",
            .url = c->http,
            .headers = hdrs,
            .body = c->body,
            .body_len = c->body ? strlen(c->body) : 0,
            .timeout_ms = (long)(c->timeout_ns / 1000000),
            .connect_timeout_ms = (long)(c->timeout_ns / 1000000),
            .tls = {.insecure = c->tls_skip_verify},
            .max_body = 4096,
        };
        if (!p->r->http) /* libcurl is initialised on the first HTTP check, not at start (~2.5 MB) */
            p->r->http = http_client_new(p->r->loop);
        p->call = p->r->http ? http_client_send(p->r->http, &req, on_http_done, p) : NULL;
        for (size_t i = 0; i < nh; i++)
            free(owned[i]);
        if (!p->call) {
            set_status(p, "critical", "invalid check URL");
            schedule(p, (uint64_t)(c->interval_ns / 1000000));
        }
        return;
    }
    /* TCP (and gRPC, probed as a TCP connect); decode.c refused any other target already, this
     * parse only turns the text into an address (the same rules, check_rules.h) */
    struct sockaddr_storage ss;
    char why[300];
    if (check_rules_hostport(c->kind == CHECK_GRPC ? "GRPC" : "TCP", probe_target(p), c->kind == CHECK_GRPC, &ss,
                             why, sizeof why) != 0) {
        set_status(p, "critical", why);
        schedule(p, (uint64_t)(c->interval_ns / 1000000));
        return;
    }
    uv_tcp_init(p->r->loop, &p->tcp);
    p->tcp.data = p;
    p->conn.data = p;
    p->tcp_busy = 1;
    if (uv_tcp_connect(&p->conn, &p->tcp, (struct sockaddr *)&ss, on_tcp_connect) != 0) {
        set_status(p, "critical", "connect failed");
        uv_close((uv_handle_t *)&p->tcp, on_tcp_closed);
        return;
    }
    uv_timer_start(&p->deadline, on_tcp_deadline, (uint64_t)(c->timeout_ns / 1000000), 0);
}

static void on_timer(uv_timer_t *t)
{
    probe_t *p = t->data;
    if (!p->check)
        return;
    if (p->check->kind == CHECK_TTL) {
        set_status(p, "critical", "TTL expired");
        return;
    }
    run_probe(p);
}

static void schedule(probe_t *p, uint64_t ms)
{
    if (p->check && !p->r->closing)
        uv_timer_start(&p->timer, on_timer, ms ? ms : 1, 0);
}

static void on_added(void *ctx, cat_check_t *c)
{
    checks_runner_t *r = ctx;
    if (c->kind == CHECK_SERF || c->kind == CHECK_MAINT || c->kind == CHECK_CATALOG || r->closing)
        return;
    if (c->runner) { /* re-registration of the same object: restart */
        probe_t *p = c->runner;
        if (c->kind == CHECK_TTL)
            uv_timer_start(&p->timer, on_timer, (uint64_t)(c->ttl_ns / 1000000), 0);
        return;
    }
    probe_t *p = calloc(1, sizeof *p);
    p->r = r;
    p->check = c;
    c->runner = p;
    uv_timer_init(r->loop, &p->timer);
    uv_timer_init(r->loop, &p->deadline);
    p->timer.data = p->deadline.data = p;
    p->handles = 2;
    if (c->kind == CHECK_TTL) {
        uv_timer_start(&p->timer, on_timer, (uint64_t)(c->ttl_ns / 1000000), 0);
    } else {
        uint64_t iv = (uint64_t)(c->interval_ns / 1000000);
        schedule(p, iv ? backoff_random32() % iv : 0);
    }
}

static void on_removed(void *ctx, cat_check_t *c)
{
    (void)ctx;
    probe_t *p = c->runner;
    if (!p)
        return;
    c->runner = NULL;
    p->check = NULL;
    if (p->call) {
        http_call_cancel(p->call);
        p->call = NULL;
    }
    if (p->tcp_busy && !uv_is_closing((uv_handle_t *)&p->tcp))
        uv_close((uv_handle_t *)&p->tcp, on_tcp_closed);
    uv_close((uv_handle_t *)&p->timer, on_handle_closed);
    uv_close((uv_handle_t *)&p->deadline, on_handle_closed);
}

void checks_runner_ttl_touch(checks_runner_t *r, cat_check_t *c)
{
    (void)r;
    probe_t *p = c->runner;
    if (p && c->kind == CHECK_TTL)
        uv_timer_start(&p->timer, on_timer, (uint64_t)(c->ttl_ns / 1000000), 0);
}

static void on_reap(uv_timer_t *t)
{
    checks_runner_t *r = t->data;
    int n = store_reap(r->store, checks_now_ms());
    if (n)
        log_info("reaped %d service(s) critical longer than their DeregisterCriticalServiceAfter", n);
}

checks_runner_t *checks_runner_new(uv_loop_t *loop, catalog_store_t *store)
{
    checks_runner_t *r = calloc(1, sizeof *r);
    r->loop = loop;
    r->store = store;
    uv_timer_init(loop, &r->reaper);
    r->reaper.data = r;
    uv_timer_start(&r->reaper, on_reap, 30000, 30000);
    uv_unref((uv_handle_t *)&r->reaper);
    store_set_check_hooks(store, on_added, on_removed, r);
    return r;
}

static void on_reaper_closed(uv_handle_t *h)
{
    checks_runner_t *r = h->data;
    if (r->http)
        http_client_free(r->http);
    free(r);
}

void checks_runner_free(checks_runner_t *r)
{
    if (!r)
        return;
    r->closing = 1;
    /* the store is already freed (its removal hooks retired every probe): never touch it here */
    r->store = NULL;
    uv_close((uv_handle_t *)&r->reaper, on_reaper_closed);
}
