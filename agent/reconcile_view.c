/* reconcile_view.c: what Consul actually holds, and keeping TTL checks alive (see reconcile.h and
 * reconcile_int.h). Reads GET /v1/agent/services only when there is a reason: the blocking query
 * on /v1/catalog/services changed or broke, a call failed (then every poll period until one
 * works), a resync or cleanup is due, or the safety period passed. From the answer: services
 * Consul lost are registered again, a resync re-PUTs only what differs, cleanup deregisters this
 * node's dangling IDs. Heartbeats go through the same one-call-per-ID write path. */
#include "reconcile_int.h"

#include "cleanup.h"
#include "log.h"
#include "registration.h"

#include <stdlib.h>
#include <string.h>

/* ---- Consul's view ---- */

static void on_poll(consul_client_t *c, const consul_result_t *res, void *data)
{
    reconcile_t *r = data;
    r->poll_call = NULL;
    r->inflight--;
    r->st.polls++;
    if (res->error || !json_is_object(res->json)) {
        r->st.poll_failures++;
        r->suspect = 1;
        rc_set_consul_up(r, 0, res->error ? res->error : "GET /v1/agent/services: not a JSON object");
        rc_call_done(r);
        return;
    }
    rc_set_consul_up(r, 1, NULL);
    r->suspect = 0;
    int resync = r->want_resync, cleanup = r->want_cleanup;
    r->want_resync = r->want_cleanup = 0;
    size_t lost = 0, diffs = 0, cleaned = 0;
    strmap_iter_t it = strmap_iter(r->entries);
    while (strmap_iter_next(&it)) {
        entry_t *e = it.value;
        /* written after the poll was sent: the answer may predate it */
        if (!e->want || !e->have || e->call || e->have_seq > r->poll_seq)
            continue;
        json_t *view = json_object_get(res->json, e->id);
        if (!view) {
            lost++;
            json_decref(e->have);
            e->have = NULL;
            e->restoring = 1;
            rc_kick(e);
        } else if (resync && !registration_body_matches(e->want, view)) {
            diffs++;
            json_decref(e->have);
            e->have = NULL;
            e->restoring = 1;
            rc_kick(e);
        }
    }
    if (cleanup) {
        const char *id;
        json_t *v;
        json_object_foreach(res->json, id, v) {
            if (!cleanup_is_ours(id, r->node))
                continue;
            entry_t *e = rc_entry_get(r, id, 0);
            if (e && e->want)
                continue;
            e = rc_entry_get(r, id, 1);
            if (!e || e->have || e->have_unknown)
                continue;
            log_info("cleanup: %s is dangling (no running container of this node wants it)", id);
            e->have_unknown = 1;
            cleaned++;
            rc_kick(e);
        }
    }
    if (lost) {
        log_warn("consul: %zu of this agent's services are missing from %s (restarted empty?); registering them again",
                 lost, consul_client_endpoint(r->cc)->addr);
        r->st.lost += lost;
    }
    if (diffs) {
        log_info("resync: %zu services differ from Consul's copy; re-registering them", diffs);
        r->st.resync_diffs += diffs;
    }
    if (resync && !diffs)
        log_debug("resync: Consul matches every service");
    r->st.cleaned += cleaned;
    (void)c;
    rc_call_done(r);
}

static void poll_now(reconcile_t *r)
{
    if (r->poll_call || r->stopping)
        return;
    r->poll_seq = ++r->seq;
    r->last_poll_ms = rc_now_ms(r);
    r->poll_call = consul_agent_services(r->cc, on_poll, r);
    if (r->poll_call)
        r->inflight++;
}

/* Every poll_ms: read Consul's view only when there is a reason (so an idle agent with hundreds
 * of services costs nothing): Consul failed lately, the catalog watch saw a change or broke, a
 * resync/cleanup is due, or the safety period passed. */
static void on_poll_timer(uv_timer_t *t)
{
    reconcile_t *r = t->data;
    uint64_t now = rc_now_ms(r);
    if (r->suspect || r->check_pending || r->want_resync || r->want_cleanup || !r->watch ||
        now - r->last_poll_ms >= r->o.safety_ms) {
        r->check_pending = 0;
        poll_now(r);
    }
}

static void on_watch_change(consul_watch_t *w, json_t *data, uint64_t index, void *udata)
{
    reconcile_t *r = udata;
    (void)w, (void)data, (void)index;
    r->check_pending = 1;
}

static void on_watch_error(consul_watch_t *w, const char *error, unsigned attempt, uint64_t retry_ms, void *udata)
{
    reconcile_t *r = udata;
    (void)w, (void)retry_ms;
    if (attempt == 1)
        log_debug("consul: catalog watch: %s", error);
    r->suspect = 1;
}

void reconcile_request_resync(reconcile_t *r)
{
    r->want_resync = 1;
    poll_now(r);
}

void reconcile_request_cleanup(reconcile_t *r)
{
    r->want_cleanup = 1;
    poll_now(r);
}

/* ---- heartbeats ---- */

void rc_on_heartbeat(consul_client_t *c, const consul_result_t *res, void *data)
{
    entry_t *e = data;
    reconcile_t *r = e->r;
    e->call = NULL;
    r->inflight--;
    r->writes--;
    (void)c;
    if (res->error) {
        r->st.heartbeat_failures++;
        if (res->status == 404 && e->have) { /* Consul lost the check: register again */
            json_decref(e->have);
            e->have = NULL;
            e->restoring = 1;
        } else if (rc_transport_error(res)) {
            rc_set_consul_up(r, 0, res->error);
        }
        log_debug("heartbeat %s: %s", e->id, res->error);
    } else {
        rc_set_consul_up(r, 1, NULL);
        r->st.heartbeats++;
    }
    rc_kick(e);
    rc_write_done(r);
}

static void on_hb_timer(uv_timer_t *t)
{
    reconcile_t *r = t->data;
    if (r->stopping)
        return;
    strmap_iter_t it = strmap_iter(r->entries);
    while (strmap_iter_next(&it)) {
        entry_t *e = it.value;
        if (!e->want || !e->have || (!e->ttl_id && !e->health_id))
            continue;
        e->hb_ttl_due = e->ttl_id != NULL;
        e->hb_health_due = e->health_id != NULL;
        rc_kick(e); /* never frees: the entry is wanted */
    }
}

void reconcile_start(reconcile_t *r)
{
    uv_timer_start(&r->poll_timer, on_poll_timer, r->o.poll_ms, r->o.poll_ms);
    consul_watch_opts_t wo;
    consul_watch_opts_init(&wo, "/v1/catalog/services");
    wo.wait_ms = 300000;
    wo.fire_on_equal_data = 1;
    wo.backoff_cap_ms = 1000; /* a broken watch only marks Consul suspect; polls do the rest */
    r->watch = consul_watch_new(r->cc, &wo, on_watch_change, on_watch_error, r);
    if (r->watch && consul_watch_start(r->watch) != 0) {
        consul_watch_free(r->watch);
        r->watch = NULL;
    }
    if (!r->watch)
        log_warn("consul: no catalog watch; polling /v1/agent/services every %llums instead",
                 (unsigned long long)r->o.poll_ms);
    if (r->o.heartbeat_ms)
        uv_timer_start(&r->hb_timer, on_hb_timer, r->o.heartbeat_ms, r->o.heartbeat_ms);
}

