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
 * Writes share one save (group commit): 16 concurrent writers pay for one fsync, not sixteen;
 * each is answered only after the save.
 *
 * Which writes share a save. The loop is blocked during the fsync, so the writes that arrive
 * meanwhile all come in with the next poll; but the writers the save answers send their next
 * write a moment later, too late for that poll. Committing at once would make the next save
 * theirs alone: 16 writers split into two groups taking turns, each writer waiting for two
 * fsyncs per write, half the rate the disk allows. So after a save the connections it answered
 * are awaited: the next save waits until each of them has sent its next request (a write joins
 * the batch; a read just ends the wait for that connection), or until COMMIT_WAIT_MS after the
 * save, whichever comes first. A lone writer is never kept waiting (it is the only one awaited,
 * and its own write ends the wait); a writer that went quiet costs the next batch at most
 * COMMIT_WAIT_MS; a write arriving later than that is committed at the end of its loop turn. */
typedef struct pending_write {
    struct pending_write *next;
    http_exchange_t *x;               /* NULL once the client went away */
    api_response_t r;
} pending_write_t;

#define COMMIT_WAIT_MS 1          /* libuv timers count whole milliseconds */
#define COMMIT_AWAIT_MAX 256      /* connections awaited at most (a larger batch: the rest by time) */

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
    uv_idle_t *flush;                 /* active: commit at the end of this loop turn (own allocation) */
    uv_timer_t *flush_wait;           /* active: commit when awaited writers are late (own allocation) */
    /* the connections the last save answered that have not sent a request since (exchange
     * pointers: lib/http_server keeps one exchange per connection; only compared, never used) */
    const http_exchange_t *await[COMMIT_AWAIT_MAX];
    size_t nawait;
    uint64_t await_since;             /* uv_hrtime() when the last save's answers went out */
    int in_request;                   /* inside catalog_api_handle: the write is queued after it */
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
static void on_flush_wait(uv_timer_t *t);

/* Schedules the commit of what is pending: at the end of this loop turn, or, while writers the
 * last save answered are still awaited (see pending_write_t), when the last of them came back
 * or COMMIT_WAIT_MS after that save. */
static void schedule_commit(catalog_server_t *s)
{
    if (!s->durable || (!s->pw_head && !durable_pending(s->durable)))
        return;
    if (uv_is_active((uv_handle_t *)s->flush))
        return;
    if (s->nawait) {
        /* what is left of the wait, to the nearest millisecond (libuv's timer resolution) */
        uint64_t waited_ns = uv_hrtime() - s->await_since, wait_ns = (uint64_t)COMMIT_WAIT_MS * 1000000;
        uint64_t left_ms = waited_ns < wait_ns ? (wait_ns - waited_ns + 500000) / 1000000 : 0;
        if (left_ms) {
            if (!uv_is_active((uv_handle_t *)s->flush_wait))
                uv_timer_start(s->flush_wait, on_flush_wait, left_ms, 0);
            return;
        }
        s->nawait = 0;
    }
    uv_timer_stop(s->flush_wait);
    uv_idle_start(s->flush, on_flush);
}

/* A request came in on x: its connection is no longer awaited. */
static void await_end(catalog_server_t *s, const http_exchange_t *x)
{
    for (size_t i = 0; i < s->nawait; i++)
        if (s->await[i] == x) {
            s->await[i] = s->await[--s->nawait];
            return;
        }
}

static void on_store_change(void *ctx, const cat_change_t *ch)
{
    catalog_server_t *s = ctx;
    /* a change no request waits for (a check's own run, a session's TTL): committed with the
     * next batch all the same (a request's write is scheduled once it is queued) */
    if (!s->in_request)
        schedule_commit(s);
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
 * write); the connections answered are awaited by the next commit. */
static void commit_and_answer(catalog_server_t *s)
{
    uv_idle_stop(s->flush);
    uv_timer_stop(s->flush_wait);
    s->nawait = 0;
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
                if (s->nawait < COMMIT_AWAIT_MAX)
                    s->await[s->nawait++] = w->x;
            }
        }
        api_response_clear(&w->r);
        free(w);
    }
    s->await_since = uv_hrtime();
}

static void on_flush(uv_idle_t *h) { commit_and_answer(h->data); }
static void on_flush_wait(uv_timer_t *t) { commit_and_answer(t->data); }

static void on_request(http_exchange_t *x, void *data)
{
    catalog_server_t *s = data;
    api_request_t req;
    build_request(x, &req);
    api_response_t r;
    await_end(s, x);
    s->in_request = 1;
    catalog_api_handle(&s->api, &req, 1, &r);
    s->in_request = 0;
    if (r.block) {
        park(s, x, &req, &r);
        api_response_clear(&r);
        schedule_commit(s);   /* a read may have changed something (a session's TTL ran out) */
        return;
    }
    if (r.wrote && s->durable) {
        pending_write_t *w = calloc(1, sizeof *w);
        w->x = x;
        w->r = r;                     /* owned by w now */
        *s->pw_tail = w;
        s->pw_tail = &w->next;
        http_exchange_on_abort(x, on_pending_abort, w);
        schedule_commit(s);
        return;
    }
    send_response(x, &r);
    api_response_clear(&r);
    schedule_commit(s);
}

static void ttl_touch(void *ctx, cat_check_t *c) { checks_runner_ttl_touch(ctx, c); }

/* /v1/agent/self's Stats.wal with -data-dir: what group commit did since the start (commits =
 * fsyncs; records per commit; time in write + fdatasync), for benchmarks and operators. */
static void add_stats(void *ctx, json_t *stats)
{
    catalog_server_t *s = ctx;
    if (!s->durable || !json_is_object(stats))
        return;
    durable_stats_t st;
    durable_stats(s->durable, &st);
    char v[7][32];
    snprintf(v[0], sizeof v[0], "%zu", st.commits);
    snprintf(v[1], sizeof v[1], "%zu", st.appended_records);
    snprintf(v[2], sizeof v[2], "%" PRIu64, st.sync_ns / 1000);
    snprintf(v[3], sizeof v[3], "%" PRIu64, st.sync_ns_max / 1000);
    snprintf(v[4], sizeof v[4], "%zu", st.log_bytes);
    snprintf(v[5], sizeof v[5], "%zu", st.snapshot_bytes);
    snprintf(v[6], sizeof v[6], "%zu", st.compactions);
    json_object_set_new(stats, "wal", json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "commits", v[0], "records", v[1],
                                                "sync_us_total", v[2], "sync_us_max", v[3], "log_bytes", v[4],
                                                "snapshot_bytes", v[5], "compactions", v[6]));
}

catalog_server_t *catalog_server_new(uv_loop_t *loop, catalog_store_t *store, const catalog_server_opts_t *o,
                                     char *err, size_t errlen)
{
    catalog_server_t *s = calloc(1, sizeof *s);
    s->loop = loop;
    s->pw_tail = &s->pw_head;
    s->flush = malloc(sizeof *s->flush);
    uv_idle_init(loop, s->flush);
    s->flush->data = s;
    s->flush_wait = malloc(sizeof *s->flush_wait);
    uv_timer_init(loop, s->flush_wait);
    s->flush_wait->data = s;
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
    s->api.add_stats = add_stats;
    s->api.stats_ctx = s;
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
    uv_timer_stop(s->flush_wait);
    uv_close((uv_handle_t *)s->flush_wait, on_flush_closed);
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
