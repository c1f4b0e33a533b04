/* watcher.c: Consul -> catalog snapshots for the templater, with a bounded number of connections
 * (see watcher.h for the rules). */
#include "watcher.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "consul_watch.h"
#include "log.h"
#include <uv.h>

/* A service whose fetch failed is retried on its own backoff, 500 ms x 2^n up to a minute; it
 * holds up neither the queue nor delivery (its last good answer, or none, stands meanwhile). */
#define RETRY_BASE_MS 500
#define RETRY_CAP_MS 60000

struct watcher {
    consul_client_t *c;
    char *tag, *kv_prefix;
    int stale;
    consul_watch_t *w_services, *w_state, *w_kv;
    json_t *services;      /* last catalog/services answer */
    json_t *health;        /* name -> slot number (routed services only) */
    struct slot { routes_service_t *svc; uint64_t fp; } *slots; /* converted answers, not JSON: */
    size_t nslots;         /* a fraction of the memory, and snapshots without conversion */
    size_t *free_slots;
    size_t nfree;
    json_t *check_sig;     /* service name -> signature of its checks (from health/state/any) */
    json_t *kv;            /* last KV answer or NULL */
    int have_services, have_state, have_kv;
    /* fetch queue */
    json_t *queue_set;     /* name -> true */
    char **queue;
    size_t qhead, qlen, qcap;
    consul_call_t *inflight;
    char *inflight_name;
    json_t *retry;         /* name -> {"attempt": n, "due": loop ms} for services whose fetch failed */
    json_t *unroutable;    /* names reported as unroutable (each logged once) */
    uv_timer_t *retry_timer;
    int ready;             /* first complete view delivered */
    int resync;            /* a watch failed: refetch every routed service on the next services answer */
    int dirty;             /* something changed since the last on_change */
    uint64_t last_deliver; /* loop time of the last on_change */
    watcher_on_change_cb cb;
    void *data;
    unsigned give_up_after;  /* 0: retry forever */
    void (*on_give_up)(const char *msg, void *data);
    int gave_up;
    watcher_stats_t st;
};

/* Fetched and routed: a name that can be routed (routes_service_routable) with the routing tag.
 * A name that cannot be routed is never fetched: it would only fail or be dropped later. */
static int routed(const watcher_t *w, const char *name, const json_t *tags)
{
    if (!routes_service_routable(name)) return 0;
    if (!w->tag || !*w->tag) return 1;
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t)
        if (json_is_string(t) && strcmp(json_string_value(t), w->tag) == 0) return 1;
    return 0;
}

static uint64_t fingerprint(const json_t *j)
{
    char *d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = d ? d : ""; *p; p++) { h ^= (unsigned char)*p; h *= 1099511628211ULL; }
    free(d);
    return h;
}

static struct slot *slot_of(const watcher_t *w, const char *name)
{
    json_t *v = json_object_get(w->health, name);
    return v ? &w->slots[json_integer_value(v)] : NULL;
}

static void slot_drop(watcher_t *w, const char *name)
{
    json_t *v = json_object_get(w->health, name);
    if (!v) return;
    size_t i = (size_t)json_integer_value(v);
    routes_service_free(w->slots[i].svc);
    w->slots[i].svc = NULL;
    w->free_slots = realloc(w->free_slots, (w->nfree + 1) * sizeof *w->free_slots);
    w->free_slots[w->nfree++] = i;
    json_object_del(w->health, name);
}

static void slot_set(watcher_t *w, const char *name, routes_service_t *svc, uint64_t fp)
{
    struct slot *s = slot_of(w, name);
    if (!s) {
        size_t i;
        if (w->nfree) i = w->free_slots[--w->nfree];
        else {
            w->slots = xrealloc(w->slots, (w->nslots + 1) * sizeof *w->slots);
            i = w->nslots++;
        }
        w->slots[i].svc = NULL;
        json_object_set_new(w->health, name, json_integer((json_int_t)i));
        s = &w->slots[i];
    }
    static uint64_t versions;
    routes_service_free(s->svc);
    s->svc = svc;
    if (svc) svc->version = ++versions; /* lets routes_build_from share unchanged backends */
    s->fp = fp;
}

static void maybe_deliver(watcher_t *w);
static void deliver(watcher_t *w);
static void fetch_next(watcher_t *w);

/* Queue of names to fetch; queue_set holds the names still wanted, so an entry whose name was
 * fetched already (a duplicate left by a priority push) is skipped. */
static void enqueue_at(watcher_t *w, const char *name, int front)
{
    int queued = json_object_get(w->queue_set, name) != NULL;
    if (queued && !front) return;
    json_object_set_new(w->queue_set, name, json_true());
    if (front && w->qhead > 0) {
        w->queue[--w->qhead] = strdup(name);
        return;
    }
    if (w->qlen == w->qcap) {
        /* compact, then grow */
        if (w->qhead) {
            memmove(w->queue, w->queue + w->qhead, (w->qlen - w->qhead) * sizeof *w->queue);
            w->qlen -= w->qhead;
            w->qhead = 0;
        }
        if (w->qlen == w->qcap) {
            w->qcap = w->qcap ? w->qcap * 2 : 64;
            w->queue = xrealloc(w->queue, w->qcap * sizeof *w->queue);
        }
    }
    if (front) {
        memmove(w->queue + w->qhead + 1, w->queue + w->qhead, (w->qlen - w->qhead) * sizeof *w->queue);
        w->queue[w->qhead] = strdup(name);
        w->qlen++;
    } else {
        w->queue[w->qlen++] = strdup(name);
    }
}

/* Normal order (full refetches go to the back). */
static void enqueue(watcher_t *w, const char *name) { enqueue_at(w, name, 0); }
/* A service known to have changed goes ahead of a running full refetch. */
static void enqueue_first(watcher_t *w, const char *name) { enqueue_at(w, name, 1); }

/* A name safe to print: JSON-quoted (control bytes escaped), at most ~120 bytes. */
static const char *qname(const char *name, char *buf, size_t len)
{
    json_t *j = json_string(name);
    char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!d) { snprintf(buf, len, "\"?\""); return buf; }
    if (strlen(d) >= len) snprintf(buf, len, "%.*s...\"", (int)(len - 5), d);
    else snprintf(buf, len, "%s", d);
    free(d);
    return buf;
}

static uint64_t loop_now(const watcher_t *w) { return uv_now(http_client_loop(consul_client_http(w->c))); }

static void on_retry_timer(uv_timer_t *t);

/* Arms the retry timer for the earliest due retry (none: stopped). */
static void retry_arm(watcher_t *w)
{
    uint64_t now = loop_now(w), first = UINT64_MAX;
    const char *name;
    json_t *v;
    json_object_foreach(w->retry, name, v) {
        uint64_t due = (uint64_t)json_integer_value(json_object_get(v, "due"));
        if (due && due < first) first = due;
    }
    if (first == UINT64_MAX) { uv_timer_stop(w->retry_timer); return; }
    uv_timer_start(w->retry_timer, on_retry_timer, first > now ? first - now : 0, 0);
}

/* 1 while name waits out its backoff (fetch_next leaves it for the timer). */
static int retry_waiting(const watcher_t *w, const char *name)
{
    json_t *v = json_object_get(w->retry, name);
    return v && (uint64_t)json_integer_value(json_object_get(v, "due")) > loop_now(w);
}

/* transport: no answer at all (Consul unreachable): then the retry is also due as soon as a
 * watch hears from Consul again (retry_reconnected), not only when its backoff runs out. */
static void retry_later(watcher_t *w, const char *name, const char *error, int transport)
{
    json_t *v = json_object_get(w->retry, name);
    unsigned attempt = v ? (unsigned)json_integer_value(json_object_get(v, "attempt")) : 0;
    uint64_t delay = backoff_delay_ms(RETRY_BASE_MS, RETRY_CAP_MS, attempt, backoff_random32());
    attempt++;
    json_object_set_new(w->retry, name, json_pack("{s:I,s:I,s:b}", "attempt", (json_int_t)attempt,
                                                  "due", (json_int_t)(loop_now(w) + delay), "transport", transport));
    char qb[128];
    if (attempt == 1 || attempt % 10 == 0)
        log_warn("consul: fetch of service %s failed: %.300s (attempt %u, retry in %llu ms; other services go on)",
                 qname(name, qb, sizeof qb), error, attempt, (unsigned long long)delay);
    retry_arm(w);
}

static void on_retry_timer(uv_timer_t *t)
{
    watcher_t *w = t->data;
    uint64_t now = loop_now(w);
    const char *name;
    json_t *v;
    json_object_foreach(w->retry, name, v) {
        json_t *due = json_object_get(v, "due");
        if (!json_integer_value(due) || (uint64_t)json_integer_value(due) > now) continue;
        json_object_set_new(v, "due", json_integer(0)); /* due: fetch it (attempt kept until success) */
        json_t *svc = w->services ? json_object_get(w->services, name) : NULL;
        if (svc && routed(w, name, svc)) enqueue(w, name);
    }
    retry_arm(w);
    fetch_next(w);
}

/* A watch got an answer: Consul is reachable again, so services whose fetch failed for want of a
 * connection are fetched now instead of after their backoff (a service Consul answered with an
 * error keeps its backoff). */
static void retry_reconnected(watcher_t *w)
{
    const char *name;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(w->retry, tmp, name, v) {
        if (!json_is_true(json_object_get(v, "transport"))) continue;
        json_object_del(w->retry, name);
        json_t *svc = w->services ? json_object_get(w->services, name) : NULL;
        if (svc && routed(w, name, svc)) enqueue(w, name);
    }
}

static void on_fetch(consul_client_t *c, const consul_result_t *r, void *data)
{
    watcher_t *w = data;
    w->inflight = NULL;
    char *name = w->inflight_name;
    w->inflight_name = NULL;
    json_t *svc = w->services ? json_object_get(w->services, name) : NULL;
    if (r->error || !json_is_array(r->json)) {
        w->st.fetch_errors++;
        /* on its own backoff: the rest of the queue goes on, and delivery does not wait for it */
        if (svc && routed(w, name, svc)) retry_later(w, name, r->error ? r->error : "answer is not a JSON array", r->status == 0);
    } else {
        json_object_del(w->retry, name);
        log_debug("consul: fetched %s (%llu ms)", name, (unsigned long long)r->elapsed_ms);
        w->st.fetches++;
        if (svc && routed(w, name, svc)) {
            uint64_t fp = fingerprint(r->json);
            struct slot *old = slot_of(w, name);
            if (!old || old->fp != fp) {
                slot_set(w, name, routes_service_from_health(name, r->json), fp);
                w->dirty = 1;
            }
        }
    }
    free(name);
    /* during a long refetch, hand over what changed at most every 100 ms instead of at the end */
    if (w->ready && w->dirty && w->qhead < w->qlen && uv_now(http_client_loop(consul_client_http(w->c))) - w->last_deliver >= 100)
        deliver(w);
    fetch_next(w);
}

static void fetch_next(watcher_t *w)
{
    if (w->inflight) return;
    while (w->qhead < w->qlen) {
        char *name = w->queue[w->qhead++];
        if (!json_object_get(w->queue_set, name)) { free(name); continue; } /* fetched already */
        json_object_del(w->queue_set, name);
        json_t *svc = w->services ? json_object_get(w->services, name) : NULL;
        if (!svc || !routed(w, name, svc)) { free(name); continue; }
        if (retry_waiting(w, name)) { free(name); continue; } /* the retry timer brings it back */
        char *path = consul_path("/v1/health/service/", name, 0, w->stale ? "?stale" : NULL);
        w->inflight_name = name;
        w->inflight = path ? consul_client_request(w->c, "GET", path, NULL, 0, -1, on_fetch, w) : NULL;
        free(path);
        if (!w->inflight) {
            w->inflight_name = NULL;
            retry_later(w, name, "could not start the request", 0);
            free(name);
            continue;
        }
        return;
    }
    w->qhead = w->qlen = 0;
    maybe_deliver(w);
}

routes_catalog_t *watcher_snapshot(const watcher_t *w)
{
    if (!w->have_services || !w->have_kv) return NULL;
    routes_catalog_t *c = routes_catalog_new();
    c->svc = malloc((w->nslots ? w->nslots : 1) * sizeof *c->svc);
    for (size_t i = 0; i < w->nslots; i++)
        if (w->slots[i].svc) {
            c->svc[c->nsvc] = *w->slots[i].svc;
            c->svc[c->nsvc].borrowed = 1;
            c->nsvc++;
        }
    routes_catalog_set_kv(c, w->kv);
    return c;
}

static void deliver(watcher_t *w)
{
    if (w->gave_up) return;
    w->dirty = 0;
    w->last_deliver = uv_now(http_client_loop(consul_client_http(w->c)));
    w->st.changes++;
    uint64_t t0 = uv_hrtime();
    routes_catalog_t *c = watcher_snapshot(w);
    w->st.last_snapshot_ms = (double)(uv_hrtime() - t0) / 1e6;
    if (c) {
        w->cb(c, w->data);
        routes_catalog_free(c);
    }
}

static void maybe_deliver(watcher_t *w)
{
    if (w->inflight || w->qhead < w->qlen) return;
    if (!w->have_services || !w->have_kv) return;
    if (w->ready && !w->dirty) return;
    w->ready = 1;
    deliver(w);
}

static void refetch_all(watcher_t *w)
{
    const char *name;
    json_t *tags;
    json_object_foreach(w->services, name, tags)
        if (routed(w, name, tags)) enqueue(w, name);
}

static void on_services(consul_watch_t *cw, json_t *data, uint64_t index, void *udata)
{
    watcher_t *w = udata;
    log_debug("consul: catalog/services index %llu", (unsigned long long)index);
    if (!json_is_object(data)) { log_warn("consul: catalog/services answer is not an object; ignored"); return; }
    int first = !w->have_services;
    retry_reconnected(w);
    json_t *old = w->services;
    w->services = json_incref(data);
    w->have_services = 1;
    int changed = 0;
    const char *name;
    json_t *tags;
    json_t *unroutable = json_object();
    json_object_foreach(data, name, tags) {
        json_t *ot = old ? json_object_get(old, name) : NULL;
        if (!routes_service_routable(name)) {
            /* reported once while it stays registered; never fetched */
            if (!json_object_get(w->unroutable, name)) {
                char qb[128];
                log_warn("service %s: name not routable (allowed: [A-Za-z0-9._-] segments separated by '/'), not fetched",
                         qname(name, qb, sizeof qb));
            }
            json_object_set_new(unroutable, name, json_true());
            continue;
        }
        if (!routed(w, name, tags)) continue;
        /* new, retagged, or never fetched (unless it waits out a failed fetch's backoff) */
        if (!ot || !json_equal(ot, tags) || (!json_object_get(w->health, name) && !json_object_get(w->retry, name))) {
            enqueue_first(w, name);
            changed = 1;
        }
    }
    /* services gone or no longer routed */
    void *tmp;
    json_object_foreach_safe(w->health, tmp, name, tags) {
        json_t *nt = json_object_get(data, name);
        if (!nt || !routed(w, name, nt)) { slot_drop(w, name); w->dirty = 1; changed = 1; }
    }
    if (w->resync || (!first && !changed)) {
        /* the services table changed without a visible difference: an instance came or went; or
         * Consul was unreachable (restarted, restored, another server): anything may have changed */
        w->resync = 0;
        w->st.full_refetches++;
        refetch_all(w);
    }
    json_decref(w->unroutable);
    w->unroutable = unroutable;
    /* retries of services that went away or stopped being routed */
    json_object_foreach_safe(w->retry, tmp, name, tags)
        if (!json_object_get(data, name) || !routed(w, name, json_object_get(data, name))) json_object_del(w->retry, name);
    retry_arm(w);
    json_decref(old);
    if (w->qhead < w->qlen || changed) w->dirty = 1;
    fetch_next(w);
}

static void on_state(consul_watch_t *cw, json_t *data, uint64_t index, void *udata)
{
    watcher_t *w = udata;
    log_debug("consul: health/state/any index %llu", (unsigned long long)index);
    if (!json_is_array(data)) return;
    json_t *sig = json_object();
    size_t i;
    json_t *ch;
    int node_changed = 0;
    json_array_foreach(data, i, ch) {
        const char *svc = json_string_value(json_object_get(ch, "ServiceName"));
        const char *id = json_string_value(json_object_get(ch, "CheckID"));
        const char *node = json_string_value(json_object_get(ch, "Node"));
        const char *status = json_string_value(json_object_get(ch, "Status"));
        char line[600];
        snprintf(line, sizeof line, "%s|%s|%s|%s;", node ? node : "", id ? id : "", status ? status : "",
                 json_string_value(json_object_get(ch, "ServiceID")) ?: "");
        const char *key = svc && *svc ? svc : "";
        json_t *cur = json_object_get(sig, key);
        if (!cur) json_object_set_new(sig, key, json_string(line));
        else {
            size_t n = strlen(json_string_value(cur)) + strlen(line) + 1;
            char *s = malloc(n);
            snprintf(s, n, "%s%s", json_string_value(cur), line);
            json_object_set_new(sig, key, json_string(s));
            free(s);
        }
    }
    if (w->have_state) {
        const char *name;
        json_t *v;
        /* changed or new */
        json_object_foreach(sig, name, v) {
            json_t *o = json_object_get(w->check_sig, name);
            if (o && json_equal(o, v)) continue;
            if (!*name) node_changed = 1;
            else if (w->services && json_object_get(w->services, name) && routed(w, name, json_object_get(w->services, name)))
                enqueue_first(w, name);
        }
        /* disappeared */
        json_object_foreach(w->check_sig, name, v) {
            if (json_object_get(sig, name)) continue;
            if (!*name) node_changed = 1;
            else if (w->services && json_object_get(w->services, name) && routed(w, name, json_object_get(w->services, name)))
                enqueue_first(w, name);
        }
        if (node_changed && w->services) refetch_all(w);
    }
    json_decref(w->check_sig);
    w->check_sig = sig;
    w->have_state = 1;
    fetch_next(w);
}

static void on_kv(consul_watch_t *cw, json_t *data, uint64_t index, void *udata)
{
    watcher_t *w = udata;
    json_decref(w->kv);
    w->kv = data ? json_incref(data) : NULL;
    w->have_kv = 1;
    w->dirty = 1;
    fetch_next(w);
}

static void on_watch_error(consul_watch_t *cw, const char *error, unsigned attempt, uint64_t retry_ms, void *udata)
{
    watcher_t *w = udata;
    w->resync = 1;
    if (w->gave_up) return;
    if (w->give_up_after && attempt >= w->give_up_after) {
        w->gave_up = 1;
        char msg[600];
        snprintf(msg, sizeof msg, "consul: %s: %.400s: giving up after %u attempts", consul_watch_path(cw), error, attempt);
        if (w->on_give_up) w->on_give_up(msg, w->data); /* may free w: nothing after this */
        return;
    }
    if (attempt == 1 || attempt % 10 == 0)
        log_warn("consul: %s: %s (attempt %u, retry in %llu ms); HAProxy keeps its configuration",
                 consul_watch_path(cw), error, attempt, (unsigned long long)retry_ms);
}

watcher_t *watcher_new(consul_client_t *c, const watcher_opts_t *o, watcher_on_change_cb cb, void *data)
{
    watcher_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->c = c;
    w->tag = strdup(o->tag ? o->tag : "");
    w->kv_prefix = strdup(o->kv_prefix ? o->kv_prefix : "service/haproxy/");
    w->stale = o->stale;
    w->health = json_object();
    w->check_sig = json_object();
    w->queue_set = json_object();
    w->cb = cb;
    w->data = data;
    w->give_up_after = o->give_up_after;
    w->on_give_up = o->on_give_up;
    /* A Consul that was down comes back to routes within a second: the retry backoff is capped
     * at WATCHER_RETRY_CAP_MS, not the watch's default minute (after a 10 s outage the next try
     * used to come up to 8 s after Consul answered again; tests/faults catalog-kill9). */
    enum { WATCHER_RETRY_CAP_MS = 1000 };
    consul_watch_opts_t wo;
    consul_watch_opts_init(&wo, "/v1/catalog/services");
    wo.stale = o->stale;
    wo.wait_ms = o->wait_ms;
    wo.backoff_cap_ms = WATCHER_RETRY_CAP_MS;
    wo.fire_on_equal_data = 1;
    w->w_services = consul_watch_new(c, &wo, on_services, on_watch_error, w);
    consul_watch_opts_init(&wo, "/v1/health/state/any");
    wo.stale = o->stale;
    wo.wait_ms = o->wait_ms;
    wo.backoff_cap_ms = WATCHER_RETRY_CAP_MS;
    w->w_state = consul_watch_new(c, &wo, on_state, on_watch_error, w);
    char *path = consul_path("/v1/kv/", w->kv_prefix, 1, "?recurse"); /* prefix is operator input */
    w->retry = json_object();
    w->unroutable = json_object();
    w->retry_timer = malloc(sizeof *w->retry_timer);
    if (!path || !w->retry_timer) { free(path); free(w->retry_timer); w->retry_timer = NULL; watcher_free(w); return NULL; }
    uv_timer_init(http_client_loop(consul_client_http(c)), w->retry_timer);
    w->retry_timer->data = w;
    consul_watch_opts_init(&wo, path);
    wo.stale = o->stale;
    wo.wait_ms = o->wait_ms;
    wo.backoff_cap_ms = WATCHER_RETRY_CAP_MS;
    w->w_kv = consul_watch_new(c, &wo, on_kv, on_watch_error, w);
    free(path);
    if (!w->w_services || !w->w_state || !w->w_kv) { watcher_free(w); return NULL; }
    return w;
}

int watcher_start(watcher_t *w)
{
    if (consul_watch_start(w->w_services) || consul_watch_start(w->w_state) || consul_watch_start(w->w_kv)) return -1;
    return 0;
}

static void on_timer_closed(uv_handle_t *h) { free(h); }

void watcher_free(watcher_t *w)
{
    if (!w) return;
    if (w->inflight) consul_call_cancel(w->inflight);
    free(w->inflight_name);
    consul_watch_free(w->w_services);
    consul_watch_free(w->w_state);
    consul_watch_free(w->w_kv);
    json_decref(w->services);
    json_decref(w->health);
    for (size_t i = 0; i < w->nslots; i++) routes_service_free(w->slots[i].svc);
    free(w->slots);
    free(w->free_slots);
    json_decref(w->check_sig);
    json_decref(w->kv);
    json_decref(w->queue_set);
    json_decref(w->retry);
    json_decref(w->unroutable);
    if (w->retry_timer) uv_close((uv_handle_t *)w->retry_timer, on_timer_closed);
    for (size_t i = w->qhead; i < w->qlen; i++) free(w->queue[i]);
    free(w->queue);
    free(w->tag);
    free(w->kv_prefix);
    free(w);
}

void watcher_stats(const watcher_t *w, watcher_stats_t *out)
{
    *out = w->st;
    out->services = json_object_size(w->health);
    out->pending = w->qlen - w->qhead + (w->inflight ? 1 : 0);
    out->ready = w->ready;
}

const json_t *watcher_services_json(const watcher_t *w) { return w->services; }
