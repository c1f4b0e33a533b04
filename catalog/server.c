/* server.c: see server.h. Parked queries sit on one list; a change re-evaluates only those
 * whose watch matches it, which keeps a wake-up to one handler run for the query that moved. */
#include "server.h"
#include "api.h"
#include "api_misc.h"
#include "backoff.h"
#include "checks.h"
#include "http_server.h"
#include "log.h"
#include "durable.h"
#include "uuid.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parked {
    struct parked *prev, *next;
    catalog_server_t *srv;
    http_exchange_t *x;
    api_request_t req;
    int watch;
    char watch_service[256];
    char watch_key[512];
    int watch_key_prefix, watch_key_any;
    uv_timer_t timer;
    int done;
} parked_t;

/* A write that changed the catalog, waiting with -data-dir for the save that makes it durable.
 * Writes that arrive in one loop iteration share one save (group commit): 16 concurrent
 * writers pay for one fsync, not sixteen; each is answered only after the save. */
typedef struct pending_write {
    struct pending_write *next;
    http_exchange_t *x;               /* NULL once the client went away */
    api_response_t r;
} pending_write_t;

struct catalog_server {
    uv_loop_t *loop;
    catalog_store_t *store;
    checks_runner_t *checks;
    http_server_t *http;
    catalog_api_t api;
    durable_t *durable;               /* -data-dir: the write-ahead log (owned), else NULL */
    char *leader, *version;
    parked_t *parked;
    size_t nparked;
    pending_write_t *pw_head, **pw_tail;
    uv_idle_t *flush;                 /* active while writes wait (own allocation: freed on close) */
    uv_timer_t *sweep;                /* every second: sessions past their TTL go (own allocation) */
};

/* Invalidates sessions past their TTL (or bound to a failed check) even when no request comes,
 * so their locks are released and blocked watchers wake. */
static void on_session_sweep(uv_timer_t *t)
{
    catalog_server_t *s = t->data;
    int n = store_sessions_sweep(s->store, checks_now_ms());
    if (n)
        log_info("invalidated %d session(s) (TTL expired or a bound check failed)", n);
}

static void event_id(void *ctx, char out[37])
{
    (void)ctx;
    uuid_random(out);
}

static const char *exchange_lookup(const api_request_t *r, const char *name, size_t i)
{
    return http_exchange_query_nth(r->ctx, name, i);
}

static void build_request(http_exchange_t *x, api_request_t *req)
{
    memset(req, 0, sizeof *req);
    req->method = http_exchange_method(x);
    req->path = http_exchange_path(x);
    req->lookup = exchange_lookup;
    req->ctx = x;
    req->body = http_exchange_body(x, &req->body_len);
}

static void send_response(http_exchange_t *x, api_response_t *r)
{
    char buf[32];
    if (r->content_type)
        http_exchange_add_header(x, "Content-Type", r->content_type);
    if (r->allow)
        http_exchange_add_header(x, "Allow", r->allow);
    if (r->has_index) {
        if (r->consistency)
            http_exchange_add_header(x, "X-Consul-Effective-Consistency", r->consistency);
        snprintf(buf, sizeof buf, "%" PRIu64, r->index);
        http_exchange_add_header(x, "X-Consul-Index", buf);
        http_exchange_add_header(x, "X-Consul-Knownleader", "true");
        http_exchange_add_header(x, "X-Consul-Lastcontact", "0");
        http_exchange_add_header(x, "X-Consul-Query-Backend", "blocking-query");
    }
    http_exchange_respond(x, r->status, r->body, r->len);
}

static void on_parked_timer_closed(uv_handle_t *h) { free(h->data); }

static void unpark(parked_t *p)
{
    catalog_server_t *s = p->srv;
    if (p->prev) p->prev->next = p->next; else s->parked = p->next;
    if (p->next) p->next->prev = p->prev;
    s->nparked--;
    p->done = 1;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_parked_timer_closed);
}

static void answer_parked(parked_t *p, int allow_block)
{
    api_response_t r;
    catalog_api_handle(&p->srv->api, &p->req, allow_block, &r);
    if (r.block) {
        api_response_clear(&r);
        return;
    }
    http_exchange_on_abort(p->x, NULL, NULL);
    send_response(p->x, &r);
    api_response_clear(&r);
    unpark(p);
}

static void on_parked_timeout(uv_timer_t *t)
{
    parked_t *p = t->data;
    answer_parked(p, 0);
}

static void on_parked_abort(http_exchange_t *x, void *data)
{
    (void)x;
    unpark(data);
}

static void park(catalog_server_t *s, http_exchange_t *x, const api_request_t *req, const api_response_t *r)
{
    parked_t *p = calloc(1, sizeof *p);
    p->srv = s;
    p->x = x;
    p->req = *req;
    p->watch = r->watch;
    memcpy(p->watch_service, r->watch_service, sizeof p->watch_service);
    memcpy(p->watch_key, r->watch_key, sizeof p->watch_key);
    p->watch_key_prefix = r->watch_key_prefix;
    p->watch_key_any = r->watch_key_any;
    uv_timer_init(s->loop, &p->timer);
    p->timer.data = p;
    uint64_t jitter = r->wait_ms >= 16 ? backoff_random32() % (r->wait_ms / 16 + 1) : 0;
    uv_timer_start(&p->timer, on_parked_timeout, r->wait_ms + jitter, 0);
    p->next = s->parked;
    if (s->parked)
        s->parked->prev = p;
    s->parked = p;
    s->nparked++;
    http_exchange_on_abort(x, on_parked_abort, p);
}

static int watch_matches(const parked_t *p, const cat_change_t *ch)
{
    if ((p->watch & API_WATCH_NODES) && ch->nodes) return 1;
    if ((p->watch & API_WATCH_SERVICES) && ch->services) return 1;
    if ((p->watch & API_WATCH_CHECKS) && ch->checks) return 1;
    if ((p->watch & API_WATCH_EVENTS) && ch->events) return 1;
    if ((p->watch & API_WATCH_SESSIONS) && ch->sessions) return 1;
    if ((p->watch & API_WATCH_KV) && ch->kv) {
        if (p->watch_key_any || !ch->kv_key)
            return 1;
        size_t wl = strlen(p->watch_key), cl = strlen(ch->kv_key);
        if (ch->kv_prefix && strncmp(p->watch_key, ch->kv_key, cl) == 0)
            return 1;                                   /* deleted prefix covers what is watched */
        if (p->watch_key_prefix)
            return strncmp(ch->kv_key, p->watch_key, wl) == 0 ||
                   (ch->kv_prefix && strncmp(p->watch_key, ch->kv_key, wl < cl ? wl : cl) == 0);
        return strcmp(ch->kv_key, p->watch_key) == 0;
    }
    if (p->watch & API_WATCH_SERVICE) {
        if (ch->all_services) return 1;
        for (int i = 0; ch->service_names[i]; i++)
            if (strcmp(ch->service_names[i], p->watch_service) == 0) return 1;
    }
    return 0;
}

static void on_flush(uv_idle_t *h);

static void on_store_change(void *ctx, const cat_change_t *ch)
{
    catalog_server_t *s = ctx;
    /* a change no request waits for (a check's own run, a session's TTL): committed at the end
     * of this loop turn all the same */
    if (durable_pending(s->durable) && !uv_is_active((uv_handle_t *)s->flush))
        uv_idle_start(s->flush, on_flush);
    if (!s->nparked)
        return;
    /* collect first: answering unlinks entries */
    parked_t **hit = malloc(s->nparked * sizeof *hit);
    size_t n = 0;
    for (parked_t *p = s->parked; p; p = p->next)
        if (watch_matches(p, ch))
            hit[n++] = p;
    for (size_t i = 0; i < n; i++)
        answer_parked(hit[i], 1);
    free(hit);
}

static void on_pending_abort(http_exchange_t *x, void *data)
{
    (void)x;
    ((pending_write_t *)data)->x = NULL;
}

/* One commit (one append, one fsync) for every write queued since the last one, then their
 * answers (500 with the reason if the commit failed: the client must not believe an unsaved
 * write). */
static void on_flush(uv_idle_t *h)
{
    catalog_server_t *s = h->data;
    uv_idle_stop(h);
    pending_write_t *list = s->pw_head;
    s->pw_head = NULL;
    s->pw_tail = &s->pw_head;
    char err[512];
    int rc = s->durable ? durable_commit(s->durable, err, sizeof err) : 0;
    if (rc != 0)
        log_error("%s", err);
    while (list) {
        pending_write_t *w = list;
        list = w->next;
        if (w->x) {
            http_exchange_on_abort(w->x, NULL, NULL);
            if (rc != 0) {
                http_exchange_add_header(w->x, "Content-Type", "text/plain; charset=utf-8");
                http_exchange_respond(w->x, 500, err, strlen(err));
            } else {
                send_response(w->x, &w->r);
            }
        }
        api_response_clear(&w->r);
        free(w);
    }
}

static void on_request(http_exchange_t *x, void *data)
{
    catalog_server_t *s = data;
    api_request_t req;
    build_request(x, &req);
    api_response_t r;
    catalog_api_handle(&s->api, &req, 1, &r);
    if (r.block) {
        park(s, x, &req, &r);
        api_response_clear(&r);
        return;
    }
    if (r.wrote && s->durable) {
        pending_write_t *w = calloc(1, sizeof *w);
        w->x = x;
        w->r = r;                     /* owned by w now */
        *s->pw_tail = w;
        s->pw_tail = &w->next;
        http_exchange_on_abort(x, on_pending_abort, w);
        if (!uv_is_active((uv_handle_t *)s->flush))
            uv_idle_start(s->flush, on_flush);
        return;
    }
    send_response(x, &r);
    api_response_clear(&r);
}

static void ttl_touch(void *ctx, cat_check_t *c) { checks_runner_ttl_touch(ctx, c); }

catalog_server_t *catalog_server_new(uv_loop_t *loop, catalog_store_t *store, const catalog_server_opts_t *o,
                                     char *err, size_t errlen)
{
    catalog_server_t *s = calloc(1, sizeof *s);
    s->loop = loop;
    s->pw_tail = &s->pw_head;
    s->flush = malloc(sizeof *s->flush);
    uv_idle_init(loop, s->flush);
    s->flush->data = s;
    s->store = store;
    s->sweep = malloc(sizeof *s->sweep);
    uv_timer_init(loop, s->sweep);
    s->sweep->data = s;
    uv_timer_start(s->sweep, on_session_sweep, 1000, 1000);
    uv_unref((uv_handle_t *)s->sweep);
    s->durable = o->durable;
    s->leader = strdup(o->leader);
    s->version = strdup(o->version);
    s->checks = checks_runner_new(loop, store);
    s->api.store = store;
    s->api.leader = s->leader;
    s->api.version = s->version;
    s->api.now_ms = checks_now_ms;
    s->api.on_ttl_touch = ttl_touch;
    s->api.hook_ctx = s->checks;
    s->api.make_id = event_id;
    store_set_change_hook(store, on_store_change, s);
    s->http = http_server_new(loop, NULL, on_request, s);
    if (!s->http || http_server_listen(s->http, o->listen, err, errlen) != 0) {
        catalog_server_close(s);
        return NULL;
    }
    return s;
}

size_t catalog_server_parked(const catalog_server_t *s) { return s->nparked; }

static void on_http_closed(http_server_t *h, void *data)
{
    (void)h;
    (void)data;
}

static void on_flush_closed(uv_handle_t *h) { free(h); }

void catalog_server_close(catalog_server_t *s)
{
    if (!s)
        return;
    /* writes still waiting for their commit: commit them (they are applied), answer nobody */
    if (durable_pending(s->durable)) {
        char err[512];
        if (durable_commit(s->durable, err, sizeof err) != 0)
            log_error("%s", err);
    }
    while (s->pw_head) {
        pending_write_t *w = s->pw_head;
        s->pw_head = w->next;
        if (w->x)
            http_exchange_on_abort(w->x, NULL, NULL);
        api_response_clear(&w->r);
        free(w);
    }
    s->pw_tail = &s->pw_head;
    uv_close((uv_handle_t *)s->flush, on_flush_closed);
    uv_timer_stop(s->sweep);
    uv_close((uv_handle_t *)s->sweep, on_flush_closed);
    while (s->parked) {
        parked_t *p = s->parked;
        http_exchange_on_abort(p->x, NULL, NULL);
        answer_parked(p, 0);
    }
    if (s->http)
        http_server_close(s->http, on_http_closed, NULL);
    store_set_change_hook(s->store, NULL, NULL);
    durable_close(s->durable);
    store_free(s->store); /* retires every check probe through the hooks */
    checks_runner_free(s->checks); /* after the store: it must not touch it (was a use-after-free) */
    api_events_free(s->api.events);
    free(s->leader);
    free(s->version);
    free(s);
}
