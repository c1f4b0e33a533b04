/* watcher.c: Consul -> route snapshots for the templater, on the one Consul mirror (mirror.c)
 * plus the KV prefix watch (see watcher.h for the rules). */
#include "watcher.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consul_watch.h"
#include "log.h"
#include "mirror.h"
#include <uv.h>

/* while a long refetch runs, what changed is handed over at most this often */
#define DELIVER_EVERY_MS 100

struct watcher {
    consul_client_t *c;
    char *tag, *kv_prefix;
    mirror_t *m;
    consul_watch_t *w_kv;
    json_t *health;        /* name -> slot number (routed services only) */
    struct slot { routes_service_t *svc; uint64_t fp; } *slots; /* converted answers, not JSON: */
    size_t nslots;         /* a fraction of the memory, and snapshots without conversion */
    size_t *free_slots;
    size_t nfree;
    json_t *kv;            /* last KV answer or NULL */
    int have_services, have_kv;
    json_t *unroutable;    /* names reported as unroutable (each logged once) */
    uv_timer_t *deliver_timer;
    int ready;             /* first complete view delivered */
    int dirty;             /* something changed since the last on_change */
    uint64_t last_deliver; /* loop time of the last on_change */
    watcher_on_change_cb cb;
    void *data;
    unsigned give_up_after;  /* 0: retry forever */
    void (*on_give_up)(const char *msg, void *data);
    int gave_up;
    uint64_t changes;
    double last_snapshot_ms;
};

/* Fetched and routed: a name that can be routed (routes_service_routable) with the routing tag.
 * A name that cannot be routed is never fetched: it would only fail or be dropped later. Names
 * Consul does not list are not wanted. */
static int routed(const char *name, const json_t *tags, void *data)
{
    const watcher_t *w = data;
    if (!tags || !routes_service_routable(name)) return 0;
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
    w->free_slots = xrealloc(w->free_slots, (w->nfree + 1) * sizeof *w->free_slots);
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

static uint64_t loop_now(const watcher_t *w) { return uv_now(http_client_loop(consul_client_http(w->c))); }

routes_catalog_t *watcher_snapshot(const watcher_t *w)
{
    if (!w->have_services || !w->have_kv) return NULL;
    routes_catalog_t *c = routes_catalog_new();
    c->svc = xmalloc((w->nslots ? w->nslots : 1) * sizeof *c->svc);
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
    uv_timer_stop(w->deliver_timer);
    w->dirty = 0;
    w->last_deliver = loop_now(w);
    w->changes++;
    uint64_t t0 = uv_hrtime();
    routes_catalog_t *c = watcher_snapshot(w);
    w->last_snapshot_ms = (double)(uv_hrtime() - t0) / 1e6;
    if (c) {
        w->cb(c, w->data);
        routes_catalog_free(c);
    }
}

/* Everything fetched: hand over what changed (the first time: the first complete view). */
static void maybe_deliver(watcher_t *w)
{
    if (mirror_pending(w->m)) return;
    if (!w->have_services || !w->have_kv) return;
    if (w->ready && !w->dirty) return;
    w->ready = 1;
    deliver(w);
}

static void on_deliver_timer(uv_timer_t *t)
{
    watcher_t *w = t->data;
    if (w->ready && w->dirty) deliver(w);
}

/* A change while fetches are still queued (a full refetch of thousands of services): handed over
 * now, or as soon as DELIVER_EVERY_MS has passed since the last hand-over, instead of at the end. */
static void deliver_soon(watcher_t *w)
{
    if (!w->ready || !w->dirty || !mirror_pending(w->m)) return;
    uint64_t since = loop_now(w) - w->last_deliver;
    if (since >= DELIVER_EVERY_MS) { deliver(w); return; }
    if (!uv_is_active((uv_handle_t *)w->deliver_timer))
        uv_timer_start(w->deliver_timer, on_deliver_timer, DELIVER_EVERY_MS - since, 0);
}

/* ---- the mirror's callbacks ---- */

static void on_services(const json_t *data, void *udata)
{
    watcher_t *w = udata;
    w->have_services = 1;
    const char *name;
    json_t *tags;
    json_t *unroutable = json_object();
    json_object_foreach((json_t *)data, name, tags) {
        if (routes_service_routable(name)) continue;
        /* reported once while it stays registered; never fetched */
        if (!json_object_get(w->unroutable, name)) {
            char qb[128];
            log_warn("service %s: name not routable (allowed: [A-Za-z0-9._-] segments separated by '/'), not fetched",
                     log_quote(name, qb, sizeof qb));
        }
        json_object_set_new(unroutable, name, json_true());
    }
    json_decref(w->unroutable);
    w->unroutable = unroutable;
}

static void on_service(const char *name, const json_t *health, void *udata)
{
    watcher_t *w = udata;
    uint64_t fp = fingerprint(health);
    struct slot *old = slot_of(w, name);
    if (!old || old->fp != fp) {
        slot_set(w, name, routes_service_from_health(name, health), fp);
        w->dirty = 1;
        deliver_soon(w);
    }
}

static void on_gone(const char *name, void *udata)
{
    watcher_t *w = udata;
    slot_drop(w, name);
    w->dirty = 1;
}

static void on_idle(void *udata) { maybe_deliver(udata); }

static void watch_failed(watcher_t *w, const char *path, const char *error, unsigned attempt, uint64_t retry_ms)
{
    if (w->gave_up) return;
    if (w->give_up_after && attempt >= w->give_up_after) {
        w->gave_up = 1;
        char msg[600];
        snprintf(msg, sizeof msg, "consul: %s: %.400s: giving up after %u attempts", path, error, attempt);
        if (w->on_give_up) w->on_give_up(msg, w->data); /* may free w: nothing after this */
        return;
    }
    if (attempt == 1 || attempt % 10 == 0)
        log_warn("consul: %s: %s (attempt %u, retry in %llu ms); HAProxy keeps its configuration", path, error,
                 attempt, (unsigned long long)retry_ms);
}

static void on_mirror_error(const char *path, const char *error, unsigned attempt, uint64_t retry_ms, void *udata)
{
    watch_failed(udata, path, error, attempt, retry_ms);
}

/* ---- the KV prefix ---- */

static void on_kv(consul_watch_t *cw, json_t *data, uint64_t index, void *udata)
{
    (void)cw;
    (void)index;
    watcher_t *w = udata;
    json_decref(w->kv);
    w->kv = data ? json_incref(data) : NULL;
    w->have_kv = 1;
    w->dirty = 1;
    maybe_deliver(w);
}

static void on_kv_error(consul_watch_t *cw, const char *error, unsigned attempt, uint64_t retry_ms, void *udata)
{
    watcher_t *w = udata;
    mirror_resync(w->m); /* Consul was unreachable: anything may have changed meanwhile */
    watch_failed(w, consul_watch_path(cw), error, attempt, retry_ms);
}

/* ---- life cycle ---- */

watcher_t *watcher_new(consul_client_t *c, const watcher_opts_t *o, watcher_on_change_cb cb, void *data)
{
    watcher_t *w = xcalloc(1, sizeof *w);
    w->c = c;
    w->tag = xstrdup(o->tag ? o->tag : "");
    w->kv_prefix = xstrdup(o->kv_prefix ? o->kv_prefix : "service/haproxy/");
    w->health = json_object();
    w->unroutable = json_object();
    w->cb = cb;
    w->data = data;
    w->give_up_after = o->give_up_after;
    w->on_give_up = o->on_give_up;
    w->deliver_timer = xmalloc(sizeof *w->deliver_timer);
    uv_timer_init(http_client_loop(consul_client_http(c)), w->deliver_timer);
    w->deliver_timer->data = w;
    /* A Consul that was down comes back to routes within a second: the retry backoff is capped
     * at WATCHER_RETRY_CAP_MS, not the watch's default minute (after a 10 s outage the next try
     * used to come up to 8 s after Consul answered again; tests/faults catalog-kill9). */
    enum { WATCHER_RETRY_CAP_MS = 1000 };
    mirror_opts_t mo = { .stale = o->stale, .wait_ms = o->wait_ms, .backoff_cap_ms = WATCHER_RETRY_CAP_MS,
                         .wanted = routed, .on_services = on_services, .on_service = on_service,
                         .on_gone = on_gone, .on_idle = on_idle, .on_watch_error = on_mirror_error, .data = w };
    w->m = mirror_new(c, &mo);
    char *path = consul_path("/v1/kv/", w->kv_prefix, 1, "?recurse"); /* prefix is operator input */
    if (path) {
        consul_watch_opts_t wo;
        consul_watch_opts_init(&wo, path);
        wo.stale = o->stale;
        wo.wait_ms = o->wait_ms;
        wo.backoff_cap_ms = WATCHER_RETRY_CAP_MS;
        w->w_kv = consul_watch_new(c, &wo, on_kv, on_kv_error, w);
        free(path);
    }
    if (!w->m || !w->w_kv) { watcher_free(w); return NULL; }
    return w;
}

int watcher_start(watcher_t *w)
{
    return mirror_start(w->m) || consul_watch_start(w->w_kv) ? -1 : 0;
}

static void on_timer_closed(uv_handle_t *h) { free(h); }

void watcher_free(watcher_t *w)
{
    if (!w) return;
    mirror_free(w->m);
    consul_watch_free(w->w_kv);
    json_decref(w->health);
    for (size_t i = 0; i < w->nslots; i++) routes_service_free(w->slots[i].svc);
    free(w->slots);
    free(w->free_slots);
    json_decref(w->kv);
    json_decref(w->unroutable);
    uv_close((uv_handle_t *)w->deliver_timer, on_timer_closed);
    free(w->tag);
    free(w->kv_prefix);
    free(w);
}

void watcher_stats(const watcher_t *w, watcher_stats_t *out)
{
    mirror_stats_t ms;
    mirror_stats(w->m, &ms);
    memset(out, 0, sizeof *out);
    out->fetches = ms.fetches;
    out->fetch_errors = ms.fetch_errors;
    out->full_refetches = ms.full_refetches;
    out->changes = w->changes;
    out->last_snapshot_ms = w->last_snapshot_ms;
    out->services = json_object_size(w->health);
    out->pending = mirror_pending(w->m);
    out->ready = w->ready;
}

const json_t *watcher_services_json(const watcher_t *w) { return mirror_services(w->m); }
