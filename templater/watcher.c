/* watcher.c: Consul -> catalog snapshots for the templater, with a bounded number of connections
 * (see watcher.h for the rules). */
#include "watcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consul_watch.h"
#include "log.h"
#include <uv.h>

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
    int ready;             /* first complete view delivered */
    int dirty;             /* something changed since the last on_change */
    uint64_t last_deliver; /* loop time of the last on_change */
    watcher_on_change_cb cb;
    void *data;
    watcher_stats_t st;
};

static int routed(const watcher_t *w, const json_t *tags)
{
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
            w->slots = realloc(w->slots, (w->nslots + 1) * sizeof *w->slots);
            if (!w->slots) abort();
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
            w->queue = realloc(w->queue, w->qcap * sizeof *w->queue);
            if (!w->queue) abort();
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

static void on_fetch(consul_client_t *c, const consul_result_t *r, void *data)
{
    watcher_t *w = data;
    w->inflight = NULL;
    char *name = w->inflight_name;
    w->inflight_name = NULL;
    json_t *svc = w->services ? json_object_get(w->services, name) : NULL;
    if (r->error || !json_is_array(r->json)) {
        w->st.fetch_errors++;
        log_warn("consul: fetch %s: %s; will retry", name, r->error ? r->error : "not a JSON array");
        /* put it back at the end; the watches' own backoff paces a Consul outage */
        if (svc && routed(w, svc)) enqueue(w, name);
    } else {
        log_debug("consul: fetched %s (%llu ms)", name, (unsigned long long)r->elapsed_ms);
        w->st.fetches++;
        if (svc && routed(w, svc)) {
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
        if (!svc || !routed(w, svc)) { free(name); continue; }
        char *esc = http_escape(name);
        char path[1024];
        snprintf(path, sizeof path, "/v1/health/service/%s%s", esc ? esc : name, w->stale ? "?stale" : "");
        free(esc);
        w->inflight_name = name;
        w->inflight = consul_client_request(w->c, "GET", path, NULL, 0, -1, on_fetch, w);
        if (!w->inflight) {
            w->inflight_name = NULL;
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
        if (routed(w, tags)) enqueue(w, name);
}

static void on_services(consul_watch_t *cw, json_t *data, uint64_t index, void *udata)
{
    watcher_t *w = udata;
    log_debug("consul: catalog/services index %llu", (unsigned long long)index);
    if (!json_is_object(data)) { log_warn("consul: catalog/services answer is not an object; ignored"); return; }
    int first = !w->have_services;
    json_t *old = w->services;
    w->services = json_incref(data);
    w->have_services = 1;
    int changed = 0;
    const char *name;
    json_t *tags;
    json_object_foreach(data, name, tags) {
        json_t *ot = old ? json_object_get(old, name) : NULL;
        if (!routed(w, tags)) continue;
        if (!ot || !json_equal(ot, tags) || !json_object_get(w->health, name)) { enqueue_first(w, name); changed = 1; }
    }
    /* services gone or no longer routed */
    void *tmp;
    json_object_foreach_safe(w->health, tmp, name, tags) {
        json_t *nt = json_object_get(data, name);
        if (!nt || !routed(w, nt)) { slot_drop(w, name); w->dirty = 1; changed = 1; }
    }
    if (!first && !changed) {
        /* the services table changed without a visible difference: an instance came or went */
        w->st.full_refetches++;
        refetch_all(w);
    }
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
            else if (w->services && json_object_get(w->services, name) && routed(w, json_object_get(w->services, name)))
                enqueue_first(w, name);
        }
        /* disappeared */
        json_object_foreach(w->check_sig, name, v) {
            if (json_object_get(sig, name)) continue;
            if (!*name) node_changed = 1;
            else if (w->services && json_object_get(w->services, name) && routed(w, json_object_get(w->services, name)))
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
    char path[600];
    snprintf(path, sizeof path, "/v1/kv/%s?recurse", w->kv_prefix); /* prefix is operator input */
    consul_watch_opts_init(&wo, path);
    wo.stale = o->stale;
    wo.wait_ms = o->wait_ms;
    wo.backoff_cap_ms = WATCHER_RETRY_CAP_MS;
    w->w_kv = consul_watch_new(c, &wo, on_kv, on_watch_error, w);
    if (!w->w_services || !w->w_state || !w->w_kv) { watcher_free(w); return NULL; }
    return w;
}

int watcher_start(watcher_t *w)
{
    if (consul_watch_start(w->w_services) || consul_watch_start(w->w_state) || consul_watch_start(w->w_kv)) return -1;
    return 0;
}

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
