/* mirror.c: the templater's one mirror of Consul's services (see mirror.h for what it fetches
 * and when). */
#include "mirror.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "consul_watch.h"
#include "log.h"
#include <uv.h>

/* A service whose fetch failed is retried on its own backoff, 500 ms x 2^n up to a minute. */
#define RETRY_BASE_MS 500
#define RETRY_CAP_MS 60000

struct mirror {
    consul_client_t *c;
    mirror_opts_t o;
    consul_watch_t *w_services, *w_state;
    json_t *services;      /* last catalog/services answer */
    json_t *fetched;       /* name -> the X-Consul-Index of its last answer, for names fetched with
                            * success at least once (and not gone since) */
    json_t *check_sig;     /* service name -> signature of its checks (from health/state/any) */
    int have_state;
    int resync;            /* refetch every wanted service on the next services answer */
    /* fetch queue: queue_set holds the names still wanted, so an entry whose name was fetched
     * already (a duplicate left by a priority push) is skipped */
    json_t *queue_set;
    char **queue;
    size_t qhead, qlen, qcap;
    consul_call_t *inflight;
    char *inflight_name;
    json_t *retry;         /* name -> {"attempt": n, "due": loop ms, "transport": bool} */
    uv_timer_t *retry_timer;
    mirror_stats_t st;
};

static const json_t *tags_of(const mirror_t *m, const char *name)
{
    return m->services ? json_object_get(m->services, name) : NULL;
}

static int wanted(const mirror_t *m, const char *name)
{
    return m->o.wanted(name, tags_of(m, name), m->o.data);
}

static uint64_t loop_now(const mirror_t *m) { return uv_now(http_client_loop(consul_client_http(m->c))); }

static void enqueue_at(mirror_t *m, const char *name, int front)
{
    int queued = json_object_get(m->queue_set, name) != NULL;
    if (queued && !front) return;
    json_object_set_new(m->queue_set, name, json_true());
    if (front && m->qhead > 0) {
        m->queue[--m->qhead] = xstrdup(name);
        return;
    }
    if (m->qlen == m->qcap) {
        if (m->qhead) { /* compact, then grow */
            memmove(m->queue, m->queue + m->qhead, (m->qlen - m->qhead) * sizeof *m->queue);
            m->qlen -= m->qhead;
            m->qhead = 0;
        }
        if (m->qlen == m->qcap) {
            m->qcap = m->qcap ? m->qcap * 2 : 64;
            m->queue = xrealloc(m->queue, m->qcap * sizeof *m->queue);
        }
    }
    if (front) {
        memmove(m->queue + m->qhead + 1, m->queue + m->qhead, (m->qlen - m->qhead) * sizeof *m->queue);
        m->queue[m->qhead] = xstrdup(name);
        m->qlen++;
    } else {
        m->queue[m->qlen++] = xstrdup(name);
    }
}

/* normal order: full refetches go to the back */
static void enqueue(mirror_t *m, const char *name) { enqueue_at(m, name, 0); }
/* a service known to have changed goes ahead of a running full refetch */
static void enqueue_first(mirror_t *m, const char *name) { enqueue_at(m, name, 1); }

/* ---- per-service backoff ---- */

static void on_retry_timer(uv_timer_t *t);
static void fetch_next(mirror_t *m);
static int fetch_start(mirror_t *m);

static void retry_arm(mirror_t *m)
{
    uint64_t now = loop_now(m), first = UINT64_MAX;
    const char *name;
    json_t *v;
    json_object_foreach(m->retry, name, v) {
        uint64_t due = (uint64_t)json_integer_value(json_object_get(v, "due"));
        if (due && due < first) first = due;
    }
    if (first == UINT64_MAX) { uv_timer_stop(m->retry_timer); return; }
    uv_timer_start(m->retry_timer, on_retry_timer, first > now ? first - now : 0, 0);
}

/* 1 while name waits out its backoff (fetch_start leaves it for the timer) */
static int retry_waiting(const mirror_t *m, const char *name)
{
    json_t *v = json_object_get(m->retry, name);
    return v && (uint64_t)json_integer_value(json_object_get(v, "due")) > loop_now(m);
}

/* transport: no answer at all (Consul unreachable): the retry is then also due as soon as a
 * watch hears from Consul again (retry_reconnected), not only when its backoff runs out */
static void retry_later(mirror_t *m, const char *name, const char *error, int transport)
{
    json_t *v = json_object_get(m->retry, name);
    unsigned attempt = v ? (unsigned)json_integer_value(json_object_get(v, "attempt")) : 0;
    uint64_t delay = backoff_delay_ms(RETRY_BASE_MS, RETRY_CAP_MS, attempt, backoff_random32());
    attempt++;
    json_object_set_new(m->retry, name, json_pack("{s:I,s:I,s:b}", "attempt", (json_int_t)attempt,
                                                  "due", (json_int_t)(loop_now(m) + delay), "transport", transport));
    char qb[128];
    if (attempt == 1 || attempt % 10 == 0)
        log_warn("consul: fetch of service %s failed: %.300s (attempt %u, retry in %llu ms; other services go on)",
                 log_quote(name, qb, sizeof qb), error, attempt, (unsigned long long)delay);
    retry_arm(m);
}

static void on_retry_timer(uv_timer_t *t)
{
    mirror_t *m = t->data;
    uint64_t now = loop_now(m);
    const char *name;
    json_t *v;
    json_object_foreach(m->retry, name, v) {
        json_t *due = json_object_get(v, "due");
        if (!json_integer_value(due) || (uint64_t)json_integer_value(due) > now) continue;
        json_object_set_new(v, "due", json_integer(0)); /* due: fetch it (attempt kept until success) */
        if (wanted(m, name)) enqueue(m, name);
    }
    retry_arm(m);
    fetch_next(m);
}

/* a watch got an answer: Consul is reachable again, so services whose fetch failed for want of a
 * connection are fetched now (a service Consul answered with an error keeps its backoff) */
static void retry_reconnected(mirror_t *m)
{
    const char *name;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(m->retry, tmp, name, v) {
        if (!json_is_true(json_object_get(v, "transport"))) continue;
        json_object_del(m->retry, name);
        if (wanted(m, name)) enqueue(m, name);
    }
}

/* ---- fetches ---- */

static void on_fetch(consul_client_t *c, const consul_result_t *r, void *data)
{
    (void)c;
    mirror_t *m = data;
    m->inflight = NULL;
    char *name = m->inflight_name;
    m->inflight_name = NULL;
    int want = wanted(m, name);
    if (r->error || !json_is_array(r->json)) {
        m->st.fetch_errors++;
        /* on its own backoff: the rest of the queue goes on */
        if (want) retry_later(m, name, r->error ? r->error : "answer is not a JSON array", r->status == 0);
    } else {
        json_object_del(m->retry, name);
        log_debug("consul: fetched %s (%llu ms)", name, (unsigned long long)r->elapsed_ms);
        m->st.fetches++;
        if (want) {
            json_object_set_new(m->fetched, name, json_integer((json_int_t)(r->has_index ? r->index : 0)));
            m->o.on_service(name, r->json, m->o.data);
        }
    }
    free(name);
    fetch_next(m);
}

/* Starts the next fetch; 0 when the queue is empty and nothing is in flight. */
static int fetch_start(mirror_t *m)
{
    if (m->inflight) return 1;
    while (m->qhead < m->qlen) {
        char *name = m->queue[m->qhead++];
        if (!json_object_get(m->queue_set, name)) { free(name); continue; } /* fetched already */
        json_object_del(m->queue_set, name);
        if (!wanted(m, name)) { free(name); continue; }
        if (retry_waiting(m, name)) { free(name); continue; } /* the retry timer brings it back */
        char *path = consul_path("/v1/health/service/", name, 0, m->o.stale ? "?stale" : NULL);
        m->inflight_name = name;
        m->inflight = path ? consul_client_request(m->c, "GET", path, NULL, 0, -1, on_fetch, m) : NULL;
        free(path);
        if (m->inflight) return 1;
        m->inflight_name = NULL;
        retry_later(m, name, "could not start the request", 0);
        free(name);
    }
    m->qhead = m->qlen = 0;
    return 0;
}

static void fetch_next(mirror_t *m)
{
    if (!fetch_start(m) && m->o.on_idle) m->o.on_idle(m->o.data);
}

typedef struct { const char *name; uint64_t index; } recent_t;

static int cmp_recent(const void *a, const void *b)
{
    const recent_t *x = a, *y = b;
    if (x->index != y->index) return x->index < y->index ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* Every wanted service, the most recently changed first: Consul's per-service X-Consul-Index of
 * its last answer (a service that changed lately, one being scaled or redeployed, is the likeliest
 * to be the one that changed now; the order only decides which answer comes first, every service
 * is fetched). Consul versions without a per-service index give equal indexes: catalog order. */
static void refetch_all(mirror_t *m)
{
    m->st.full_refetches++;
    size_t n = 0, cap = (m->services ? json_object_size(m->services) : 0) + json_object_size(m->fetched);
    recent_t *v = xmalloc((cap ? cap : 1) * sizeof *v);
    const char *name;
    json_t *t;
    if (m->services)
        json_object_foreach(m->services, name, t)
            if (m->o.wanted(name, t, m->o.data)) {
                json_t *ix = json_object_get(m->fetched, name);
                v[n++] = (recent_t){ name, ix ? (uint64_t)json_integer_value(ix) : 0 };
            }
    /* wanted names Consul does not list (a template asking for one): their answer is [] */
    json_object_foreach(m->fetched, name, t)
        if (!tags_of(m, name) && wanted(m, name)) v[n++] = (recent_t){ name, (uint64_t)json_integer_value(t) };
    qsort(v, n, sizeof *v, cmp_recent);
    for (size_t i = 0; i < n; i++) enqueue(m, v[i].name);
    free(v);
}

/* ---- watches ---- */

static void on_services(consul_watch_t *cw, json_t *data, uint64_t index, void *udata)
{
    (void)cw;
    mirror_t *m = udata;
    log_debug("consul: catalog/services index %llu", (unsigned long long)index);
    if (!json_is_object(data)) { log_warn("consul: catalog/services answer is not an object; ignored"); return; }
    int first = !m->services;
    json_t *old = m->services;
    m->services = json_incref(data);
    retry_reconnected(m);
    m->o.on_services(data, m->o.data);
    int changed = 0;
    const char *name;
    json_t *tags;
    json_object_foreach(data, name, tags) {
        if (!m->o.wanted(name, tags, m->o.data)) continue;
        json_t *ot = old ? json_object_get(old, name) : NULL;
        /* new, retagged, or never fetched (unless it waits out a failed fetch's backoff) */
        if (!ot || !json_equal(ot, tags) || (!json_object_get(m->fetched, name) && !json_object_get(m->retry, name))) {
            enqueue_first(m, name);
            changed = 1;
        }
    }
    /* names fetched before that Consul no longer lists, or that are no longer wanted */
    void *tmp;
    json_object_foreach_safe(m->fetched, tmp, name, tags) {
        json_t *nt = json_object_get(data, name);
        if (nt && m->o.wanted(name, nt, m->o.data)) continue;
        if (!nt && m->o.wanted(name, NULL, m->o.data)) {
            /* still wanted though unlisted (a template asks for it): it just left, and Consul's
             * answer for it is now [] */
            if (old && json_object_get(old, name)) { enqueue_first(m, name); changed = 1; }
            continue;
        }
        changed = 1;
        m->o.on_gone(name, m->o.data); /* before the delete: name is the object's key */
        json_object_del(m->fetched, name);
    }
    if (m->resync || (!first && !changed)) {
        /* the services table changed without a visible difference: an instance came or went; or
         * Consul was unreachable (restarted, restored, another server): anything may have changed */
        m->resync = 0;
        refetch_all(m);
    }
    /* retries of services that went away or stopped being wanted */
    json_object_foreach_safe(m->retry, tmp, name, tags)
        if (!wanted(m, name)) json_object_del(m->retry, name);
    retry_arm(m);
    json_decref(old);
    fetch_next(m);
}

static void on_state(consul_watch_t *cw, json_t *data, uint64_t index, void *udata)
{
    (void)cw;
    mirror_t *m = udata;
    log_debug("consul: health/state/any index %llu", (unsigned long long)index);
    if (!json_is_array(data)) return;
    /* per service, the checks' node|id|status|service-id, in Consul's order */
    json_t *sig = json_object();
    size_t i;
    json_t *ch;
    json_array_foreach(data, i, ch) {
        const char *svc = json_string_value(json_object_get(ch, "ServiceName"));
        const char *id = json_string_value(json_object_get(ch, "CheckID"));
        const char *node = json_string_value(json_object_get(ch, "Node"));
        const char *status = json_string_value(json_object_get(ch, "Status"));
        const char *sid = json_string_value(json_object_get(ch, "ServiceID"));
        char line[600];
        snprintf(line, sizeof line, "%s|%s|%s|%s;", node ? node : "", id ? id : "", status ? status : "", sid ? sid : "");
        const char *key = svc && *svc ? svc : "";
        json_t *cur = json_object_get(sig, key);
        if (!cur) json_object_set_new(sig, key, json_string(line));
        else {
            size_t n = strlen(json_string_value(cur)) + strlen(line) + 1;
            char *s = xmalloc(n);
            snprintf(s, n, "%s%s", json_string_value(cur), line);
            json_object_set_new(sig, key, json_string(s));
            free(s);
        }
    }
    if (m->have_state) {
        int node_changed = 0;
        const char *name;
        json_t *v;
        json_object_foreach(sig, name, v) { /* changed or new */
            json_t *o = json_object_get(m->check_sig, name);
            if (o && json_equal(o, v)) continue;
            if (!*name) node_changed = 1;
            else if (wanted(m, name)) enqueue_first(m, name);
        }
        json_object_foreach(m->check_sig, name, v) { /* disappeared */
            if (json_object_get(sig, name)) continue;
            if (!*name) node_changed = 1;
            else if (wanted(m, name)) enqueue_first(m, name);
        }
        if (node_changed) refetch_all(m); /* node checks count in every service's health */
    }
    json_decref(m->check_sig);
    m->check_sig = sig;
    m->have_state = 1;
    fetch_next(m);
}

static void on_watch_error(consul_watch_t *cw, const char *error, unsigned attempt, uint64_t retry_ms, void *udata)
{
    mirror_t *m = udata;
    m->resync = 1;
    if (m->o.on_watch_error) m->o.on_watch_error(consul_watch_path(cw), error, attempt, retry_ms, m->o.data);
}

/* ---- life cycle ---- */

mirror_t *mirror_new(consul_client_t *c, const mirror_opts_t *o)
{
    mirror_t *m = xcalloc(1, sizeof *m);
    m->c = c;
    m->o = *o;
    m->fetched = json_object();
    m->check_sig = json_object();
    m->queue_set = json_object();
    m->retry = json_object();
    m->retry_timer = xmalloc(sizeof *m->retry_timer);
    uv_timer_init(http_client_loop(consul_client_http(c)), m->retry_timer);
    m->retry_timer->data = m;
    consul_watch_opts_t wo;
    consul_watch_opts_init(&wo, "/v1/catalog/services");
    wo.stale = o->stale;
    if (o->wait_ms) wo.wait_ms = o->wait_ms;
    if (o->backoff_cap_ms) wo.backoff_cap_ms = o->backoff_cap_ms;
    wo.fire_on_equal_data = 1; /* an index that rose with the same body: an instance came or went */
    m->w_services = consul_watch_new(c, &wo, on_services, on_watch_error, m);
    consul_watch_opts_init(&wo, "/v1/health/state/any");
    wo.stale = o->stale;
    if (o->wait_ms) wo.wait_ms = o->wait_ms;
    if (o->backoff_cap_ms) wo.backoff_cap_ms = o->backoff_cap_ms;
    m->w_state = consul_watch_new(c, &wo, on_state, on_watch_error, m);
    if (!m->w_services || !m->w_state) { mirror_free(m); return NULL; }
    return m;
}

int mirror_start(mirror_t *m)
{
    return consul_watch_start(m->w_services) || consul_watch_start(m->w_state) ? -1 : 0;
}

static void on_timer_closed(uv_handle_t *h) { free(h); }

void mirror_free(mirror_t *m)
{
    if (!m) return;
    if (m->inflight) consul_call_cancel(m->inflight);
    free(m->inflight_name);
    consul_watch_free(m->w_services);
    consul_watch_free(m->w_state);
    json_decref(m->services);
    json_decref(m->fetched);
    json_decref(m->check_sig);
    json_decref(m->queue_set);
    json_decref(m->retry);
    uv_close((uv_handle_t *)m->retry_timer, on_timer_closed);
    for (size_t i = m->qhead; i < m->qlen; i++) free(m->queue[i]);
    free(m->queue);
    free(m);
}

void mirror_want(mirror_t *m, const char *name)
{
    if (json_object_get(m->retry, name)) return; /* its backoff brings it back */
    enqueue_first(m, name);
    fetch_start(m); /* never calls back from here: on_idle comes with the answer */
}

void mirror_resync(mirror_t *m) { m->resync = 1; }

const json_t *mirror_services(const mirror_t *m) { return m->services; }

int mirror_fetched(const mirror_t *m, const char *name) { return json_object_get(m->fetched, name) != NULL; }

size_t mirror_pending(const mirror_t *m) { return m->qlen - m->qhead + (m->inflight ? 1 : 0); }

void mirror_stats(const mirror_t *m, mirror_stats_t *out) { *out = m->st; }
