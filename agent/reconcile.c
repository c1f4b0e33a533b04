/* reconcile.c: desired-vs-actual per service ID, written to Consul one call per ID at a time.
 *
 * Each entry is level-triggered: rc_kick() looks at (want, have) and issues the one write that moves
 * Consul toward want; its completion calls rc_kick() again. Retries sit in one array served by one
 * timer. Entries are freed only when idle (no call in flight) and wanting nothing. */
#include "reconcile_int.h"

#include "log.h"
#include "registration.h"

#include <stdlib.h>
#include <string.h>

static void on_retry_timer(uv_timer_t *t);

/* ---- entries ---- */

entry_t *rc_entry_get(reconcile_t *r, const char *id, int create)
{
    entry_t *e = strmap_get(r->entries, id);
    if (e || !create)
        return e;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->r = r;
    e->id = strdup(id);
    backoff_init(&e->bo, r->o.retry_base_ms, r->o.retry_cap_ms);
    if (!e->id || strmap_put(r->entries, id, e) != 0) {
        free(e->id);
        free(e);
        return NULL;
    }
    return e;
}

static void retry_remove(reconcile_t *r, entry_t *e)
{
    for (size_t i = 0; i < r->nretry; i++) {
        if (r->retry[i] == e) {
            r->retry[i] = r->retry[--r->nretry];
            break;
        }
    }
    e->retry_at = 0;
}

static void entry_free(entry_t *e)
{
    reconcile_t *r = e->r;
    if (e->queued) {
        entry_t **p = &r->qhead, *prev = NULL;
        while (*p && *p != e)
            prev = *p, p = &(*p)->qnext;
        if (*p) {
            *p = e->qnext;
            if (r->qtail == e)
                r->qtail = prev;
        }
        e->queued = 0;
    }
    if (e->retry_at)
        retry_remove(r, e);
    strmap_del(r->entries, e->id);
    free(e->id);
    free(e->ctr_id);
    json_decref(e->want);
    json_decref(e->want_cmp);
    json_decref(e->bare);
    json_decref(e->bare_cmp);
    free(e->desc);
    free(e->health_id);
    free(e->ttl_id);
    json_decref(e->have);
    json_decref(e->sending);
    free(e);
}

static void retry_arm(reconcile_t *r)
{
    if (!r->timers_open || r->stopping)
        return;
    uint64_t next = 0;
    for (size_t i = 0; i < r->nretry; i++)
        if (!next || r->retry[i]->retry_at < next)
            next = r->retry[i]->retry_at;
    if (!next) {
        uv_timer_stop(&r->retry_timer);
        return;
    }
    uint64_t now = rc_now_ms(r);
    uv_timer_start(&r->retry_timer, on_retry_timer, next > now ? next - now : 0, 0);
}

static void schedule_retry(entry_t *e, const char *what, const char *error)
{
    reconcile_t *r = e->r;
    r->st.write_failures++;
    if (r->stopping) {
        log_warn("consul: %s %s failed while stopping, giving up: %s", what, e->id, error);
        return;
    }
    uint64_t delay = backoff_next_ms(&e->bo);
    if (e->bo.attempt == 1 || e->bo.attempt % 10 == 0)
        log_warn("consul: %s %s failed (attempt %u, retrying in %llums): %s", what, e->id, e->bo.attempt,
                 (unsigned long long)delay, error);
    if (!e->retry_at) {
        if (r->nretry == r->capretry) {
            size_t cap = r->capretry ? r->capretry * 2 : 16;
            entry_t **p = realloc(r->retry, cap * sizeof *p);
            if (!p)
                return;
            r->retry = p;
            r->capretry = cap;
        }
        r->retry[r->nretry++] = e;
    }
    e->retry_at = rc_now_ms(r) + delay;
    if (e->retry_at == 0)
        e->retry_at = 1;
    retry_arm(r);
}

static void on_retry_timer(uv_timer_t *t)
{
    reconcile_t *r = t->data;
    uint64_t now = rc_now_ms(r);
    for (size_t i = 0; i < r->nretry;) {
        entry_t *e = r->retry[i];
        if (e->retry_at <= now) {
            r->retry[i] = r->retry[--r->nretry];
            e->retry_at = 0;
            rc_kick(e);
        } else {
            i++;
        }
    }
    retry_arm(r);
}

/* Consul answers again: run every pending retry now, with fresh backoff. */
static void retry_all_now(reconcile_t *r)
{
    /* take the list first: a rc_kick that fails at once schedules a new retry, which must wait */
    entry_t **list = r->retry;
    size_t n = r->nretry;
    r->retry = NULL;
    r->nretry = r->capretry = 0;
    for (size_t i = 0; i < n; i++) {
        list[i]->retry_at = 0;
        backoff_reset(&list[i]->bo);
    }
    for (size_t i = 0; i < n; i++)
        rc_kick(list[i]);
    free(list);
    retry_arm(r);
}

void rc_set_consul_up(reconcile_t *r, int up, const char *error)
{
    if (up && !r->st.consul_up) {
        log_info("consul: %s reachable", consul_client_endpoint(r->cc)->addr);
        r->st.consul_up = 1;
        retry_all_now(r);
    } else if (!up && r->st.consul_up) {
        log_warn("consul: %s unreachable: %s", consul_client_endpoint(r->cc)->addr, error ? error : "?");
        r->st.consul_up = 0;
    }
    if (!up)
        r->suspect = 1;
}



/* A register answer that says the checks themselves are unacceptable to this Consul (script
 * checks disabled, a check field it rejects), so the same body will never be accepted. */
static int checks_refused(const consul_result_t *res)
{
    const char *b = res->body ? res->body : "";
    return (res->status == 500 && strstr(b, "cript")) ||
           (res->status == 400 && (strstr(b, "Invalid check") || strstr(b, "for checks")));
}

static void on_register(consul_client_t *c, const consul_result_t *res, void *data)
{
    entry_t *e = data;
    reconcile_t *r = e->r;
    e->call = NULL;
    r->inflight--;
    r->writes--;
    json_t *sent = e->sending;
    e->sending = NULL;
    if (res->error && !e->no_checks && checks_refused(res) &&
        (json_object_get(e->want, "Check") || json_object_get(e->want, "Checks"))) {
        /* retrying the same body can never succeed: keep the service, drop its checks */
        json_decref(sent);
        log_error("consul refused the checks of %s (%s); registering it without checks", e->id, res->error);
        e->no_checks = 1;
        e->bare = json_deep_copy(e->want);
        json_object_del(e->bare, "Check");
        json_object_del(e->bare, "Checks");
        e->bare_cmp = json_incref(e->bare);
        r->st.write_failures++;
    } else if (res->error) {
        json_decref(sent);
        if (rc_transport_error(res))
            rc_set_consul_up(r, 0, res->error);
        schedule_retry(e, "register", res->error);
    } else {
        rc_set_consul_up(r, 1, NULL);
        backoff_reset(&e->bo);
        r->st.registrations++;
        const char *verb = e->restoring ? "re-registered" : (e->have ? "updated" : "registered");
        /* one line per registration change */
        log_info("%s %s %s", verb, e->id, e->desc ? e->desc : "");
        e->restoring = 0;
        json_decref(e->have);
        e->have = sent;
        e->have_seq = ++r->seq;
        e->have_unknown = 0;
        e->have_health = NULL; /* a re-registration keeps an existing check's old status */
        (void)c;
    }
    rc_kick(e);
    rc_write_done(r);
}

static void on_deregister(consul_client_t *c, const consul_result_t *res, void *data)
{
    entry_t *e = data;
    reconcile_t *r = e->r;
    e->call = NULL;
    r->inflight--;
    r->writes--;
    if (res->error && res->status != 404) {
        if (rc_transport_error(res))
            rc_set_consul_up(r, 0, res->error);
        schedule_retry(e, "deregister", res->error);
    } else {
        rc_set_consul_up(r, 1, NULL);
        backoff_reset(&e->bo);
        r->st.deregistrations++;
        if (e->have || res->status != 404)
            log_info("deregistered %s", e->id);
        json_decref(e->have);
        e->have = NULL;
        e->have_unknown = 0;
        e->have_health = NULL;
        (void)c;
    }
    rc_kick(e);
    rc_write_done(r);
}

static void on_health(consul_client_t *c, const consul_result_t *res, void *data)
{
    entry_t *e = data;
    reconcile_t *r = e->r;
    e->call = NULL;
    r->inflight--;
    r->writes--;
    const char *sent = e->sending_health;
    if (res->error) {
        if (res->status == 404) { /* Consul lost the check: register again */
            json_decref(e->have);
            e->have = NULL;
            e->restoring = 1;
        } else {
            if (rc_transport_error(res))
                rc_set_consul_up(r, 0, res->error);
            schedule_retry(e, "health update", res->error);
        }
    } else {
        rc_set_consul_up(r, 1, NULL);
        backoff_reset(&e->bo);
        r->st.heartbeats++;
        if (e->have_health != sent)
            log_info("health %s -> %s", e->id, sent);
        e->have_health = sent;
    }
    (void)c;
    rc_kick(e);
    rc_write_done(r);
}


/* What is sent and compared: want, or want without checks after Consul refused them. */
static json_t *target(entry_t *e) { return e->no_checks && e->bare ? e->bare : e->want; }
static json_t *target_cmp(entry_t *e) { return e->no_checks && e->bare_cmp ? e->bare_cmp : e->want_cmp; }

/* The one step that moves this ID toward what is wanted; at most one call per ID, at most
 * MAX_WRITES calls overall (the rest wait in FIFO order). */
void rc_kick(entry_t *e)
{
    reconcile_t *r = e->r;
    if (e->call || e->retry_at || e->queued)
        return;
    if (r->stopping && !r->deregister_on_stop)
        return;
    enum { NONE, REG, DEREG, HEALTH, HB_TTL, HB_HEALTH } op = NONE;
    if (e->want) {
        if (!e->have || !json_equal(e->have, target_cmp(e)))
            op = REG;
        else if (e->health_id && !e->no_checks && e->have_health != e->want_health)
            op = HEALTH;
        else if (e->hb_ttl_due && e->ttl_id && !e->no_checks && !r->stopping)
            op = HB_TTL;
        else if (e->hb_health_due && e->health_id && !e->no_checks && !r->stopping)
            op = HB_HEALTH;
    } else if (e->have || e->have_unknown) {
        op = DEREG;
    }
    if (op == NONE) {
        e->hb_ttl_due = e->hb_health_due = 0;
        if (!e->want && !e->have && !e->have_unknown)
            entry_free(e);
        return;
    }
    if (r->writes >= MAX_WRITES) {
        e->queued = 1;
        e->qnext = NULL;
        if (r->qtail)
            r->qtail->qnext = e;
        else
            r->qhead = e;
        r->qtail = e;
        return;
    }
    switch (op) {
    case REG:
        e->sending = json_incref(target_cmp(e));
        e->call = consul_service_register(r->cc, target(e), 0, on_register, e);
        break;
    case HEALTH:
        e->sending_health = e->want_health;
        e->call = consul_check_update(r->cc, e->health_id, e->want_health, rc_health_note(e->want_health),
                                      on_health, e);
        break;
    case HB_TTL:
        e->hb_ttl_due = 0;
        e->call = consul_check_ttl(r->cc, e->ttl_id, CONSUL_CHECK_PASS, "portolan-agent heartbeat",
                                   rc_on_heartbeat, e);
        break;
    case HB_HEALTH:
        e->hb_health_due = 0;
        e->call = consul_check_update(r->cc, e->health_id, e->want_health, rc_health_note(e->want_health),
                                      rc_on_heartbeat, e);
        break;
    case DEREG:
        e->call = consul_service_deregister(r->cc, e->id, on_deregister, e);
        break;
    default:
        break;
    }
    if (e->call) {
        r->inflight++;
        r->writes++;
    } else if (op == HB_TTL || op == HB_HEALTH) {
        r->st.heartbeat_failures++;
    } else {
        json_decref(e->sending);
        e->sending = NULL;
        schedule_retry(e, "request", "could not start the HTTP call");
    }
}

/* A slot is free: start queued entries, then see whether a shutdown can finish. */
void rc_write_done(reconcile_t *r)
{
    while (r->writes < MAX_WRITES && r->qhead) {
        entry_t *e = r->qhead;
        r->qhead = e->qnext;
        if (!r->qhead)
            r->qtail = NULL;
        e->qnext = NULL;
        e->queued = 0;
        rc_kick(e);
    }
    rc_call_done(r);
}

/* ---- desired state ---- */

static const char *health_status(const char *docker)
{
    return docker && !strcmp(docker, "healthy") ? "passing" : "critical";
}

static void wish_free_fields(wish_t *w)
{
    free(w->id);
    json_decref(w->body);
    json_decref(w->cmp);
    free(w->desc);
    free(w->health_id);
    free(w->ttl_id);
}

static void rec_free(ctr_rec_t *rec)
{
    if (!rec)
        return;
    for (size_t i = 0; i < rec->n; i++)
        wish_free_fields(&rec->w[i]);
    free(rec->w);
    free(rec);
}

static const wish_t *rec_find(const ctr_rec_t *rec, const char *id)
{
    for (size_t i = 0; rec && i < rec->n; i++)
        if (!strcmp(rec->w[i].id, id))
            return &rec->w[i];
    return NULL;
}

static ctr_rec_t *rec_new(const service_list_t *services, const char *health)
{
    ctr_rec_t *rec = calloc(1, sizeof *rec);
    if (!rec || !(rec->w = calloc(services->n, sizeof *rec->w))) {
        free(rec);
        return NULL;
    }
    rec->want_health = health_status(health);
    for (size_t k = 0; k < services->n; k++) {
        const service_t *s = &services->items[k];
        wish_t *w = &rec->w[rec->n];
        w->id = strdup(s->id);
        w->body = registration_body(s);
        w->cmp = w->body ? registration_body_cmp(w->body, s->health_check_id) : NULL;
        w->desc = registration_describe(s);
        w->health_id = s->health_check_id ? strdup(s->health_check_id) : NULL;
        w->ttl_id = s->ttl_check_id ? strdup(s->ttl_check_id) : NULL;
        if (!w->id || !w->body || !w->cmp || (s->health_check_id && !w->health_id) ||
            (s->ttl_check_id && !w->ttl_id)) {
            wish_free_fields(w);
            memset(w, 0, sizeof *w);
            continue;
        }
        rec->n++;
    }
    return rec;
}

static void entry_want(entry_t *e, const char *ctr_id, const wish_t *w, const char *want_health)
{
    reconcile_t *r = e->r;
    if (!e->want)
        r->st.services_wanted++;
    if (e->no_checks && !(e->want_cmp && json_equal(e->want_cmp, w->cmp))) {
        e->no_checks = 0; /* a new wish: try it whole again */
        json_decref(e->bare);
        json_decref(e->bare_cmp);
        e->bare = e->bare_cmp = NULL;
    }
    json_decref(e->want);
    json_decref(e->want_cmp);
    e->want = json_incref(w->body);
    e->want_cmp = json_incref(w->cmp);
    free(e->ctr_id);
    e->ctr_id = strdup(ctr_id);
    free(e->desc);
    e->desc = w->desc ? strdup(w->desc) : NULL;
    free(e->health_id);
    e->health_id = w->health_id ? strdup(w->health_id) : NULL;
    free(e->ttl_id);
    e->ttl_id = w->ttl_id ? strdup(w->ttl_id) : NULL;
    e->want_health = want_health;
}

static void entry_unwant(entry_t *e)
{
    if (e->want)
        e->r->st.services_wanted--;
    json_decref(e->want);
    json_decref(e->want_cmp);
    e->want = e->want_cmp = NULL;
}

/* Container ctr_id no longer claims id: when it held it, the next claimant's registration is
 * written instead (the ID is never deregistered while a container still claims it), or, with no
 * other claimant, the service is deregistered. */
static void release_id(reconcile_t *r, const char *id, const char *ctr_id)
{
    const char *holder = owners_holder(r->owners, id);
    int held = holder && !strcmp(holder, ctr_id);
    const char *next = owners_release(r->owners, id, ctr_id);
    entry_t *e = held ? rc_entry_get(r, id, 0) : NULL;
    if (!e || !e->ctr_id || strcmp(e->ctr_id, ctr_id) != 0)
        return;
    const ctr_rec_t *nrec = next ? strmap_get(r->ctrs, next) : NULL;
    const wish_t *w = rec_find(nrec, id);
    if (w) {
        log_info("service ID %s passes from container %.12s to %.12s, which claims it too", id, ctr_id, next);
        entry_want(e, next, w, nrec->want_health);
    } else {
        entry_unwant(e);
    }
    rc_kick(e);
}

void reconcile_set_container(reconcile_t *r, const char *ctr_id, const service_list_t *services,
                             const char *health, uint64_t started_ns)
{
    ctr_rec_t *old = strmap_del(r->ctrs, ctr_id);
    ctr_rec_t *rec = services && services->n ? rec_new(services, health) : NULL;
    /* IDs no longer wanted: released first, so that the next claimant takes them over */
    for (size_t i = 0; old && i < old->n; i++)
        if (!rec_find(rec, old->w[i].id))
            release_id(r, old->w[i].id, ctr_id);
    rec_free(old);
    if (!rec)
        return;
    if (strmap_put(r->ctrs, ctr_id, rec) != 0) {
        for (size_t k = 0; k < rec->n; k++)
            release_id(r, rec->w[k].id, ctr_id);
        rec_free(rec);
        return;
    }
    for (size_t k = 0; k < rec->n; k++) {
        const wish_t *w = &rec->w[k];
        int fresh = 0;
        const char *holder = owners_claim(r->owners, w->id, ctr_id, started_ns, &fresh);
        if (!holder)
            continue;
        if (strcmp(holder, ctr_id) != 0) {
            if (fresh)
                log_warn("container %.12s: service ID %s is held by container %.12s, which has been running "
                         "longer; not registered while that container holds it", ctr_id, w->id, holder);
            /* ctr_id held it but started again (kept by -deregister on-success): the ID goes to
             * the claimant now first in line */
            entry_t *e = rc_entry_get(r, w->id, 0);
            const ctr_rec_t *hrec = strmap_get(r->ctrs, holder);
            const wish_t *hw = rec_find(hrec, w->id);
            if (e && e->ctr_id && !strcmp(e->ctr_id, ctr_id) && hw) {
                log_info("service ID %s passes from container %.12s to %.12s, which has been running longer",
                         w->id, ctr_id, holder);
                entry_want(e, holder, hw, hrec->want_health);
                rc_kick(e);
            }
            continue;
        }
        entry_t *e = rc_entry_get(r, w->id, 1);
        if (!e)
            continue;
        if (e->want && e->ctr_id && strcmp(e->ctr_id, ctr_id) != 0)
            log_warn("service ID %s passes from container %.12s to %.12s, which has been running longer",
                     e->id, e->ctr_id, ctr_id);
        entry_want(e, ctr_id, w, rec->want_health);
        rc_kick(e);
    }
}

size_t reconcile_container_services(const reconcile_t *r, const char *ctr_id)
{
    const ctr_rec_t *rec = strmap_get(r->ctrs, ctr_id);
    return rec ? rec->n : 0;
}

/* ---- life cycle ---- */

reconcile_t *reconcile_new(uv_loop_t *loop, consul_client_t *cc, const reconcile_opts_t *opts)
{
    reconcile_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->loop = loop;
    r->cc = cc;
    r->o = *opts;
    if (!r->o.poll_ms)
        r->o.poll_ms = 1000;
    if (!r->o.safety_ms)
        r->o.safety_ms = 30000;
    if (!r->o.retry_base_ms)
        r->o.retry_base_ms = 200;
    if (!r->o.retry_cap_ms)
        r->o.retry_cap_ms = 10000;
    r->node = strdup(opts->node ? opts->node : "");
    r->entries = strmap_new();
    r->ctrs = strmap_new();
    r->owners = owners_new();
    if (!r->node || !r->entries || !r->ctrs || !r->owners) {
        free(r->node);
        strmap_free(r->entries);
        strmap_free(r->ctrs);
        owners_free(r->owners);
        free(r);
        return NULL;
    }
    uv_timer_init(loop, &r->retry_timer);
    uv_timer_init(loop, &r->poll_timer);
    uv_timer_init(loop, &r->hb_timer);
    uv_timer_init(loop, &r->shutdown_timer);
    r->retry_timer.data = r->poll_timer.data = r->hb_timer.data = r->shutdown_timer.data = r;
    r->timers_open = 1;
    r->st.consul_up = 1; /* main() checked it before starting */
    return r;
}

static void finish_shutdown(reconcile_t *r)
{
    if (r->done_called)
        return;
    r->done_called = 1;
    uv_timer_stop(&r->shutdown_timer);
    if (r->done)
        r->done(r->done_data);
}

void rc_call_done(reconcile_t *r)
{
    if (r->stopping && r->inflight == 0)
        finish_shutdown(r);
}

static void cancel_all(reconcile_t *r)
{
    if (r->poll_call) {
        consul_call_cancel(r->poll_call);
        r->poll_call = NULL;
    }
    strmap_iter_t it = strmap_iter(r->entries);
    while (strmap_iter_next(&it)) {
        entry_t *e = it.value;
        if (e->call) {
            consul_call_cancel(e->call);
            e->call = NULL;
            json_decref(e->sending);
            e->sending = NULL;
        }
        e->queued = 0;
        e->qnext = NULL;
    }
    r->qhead = r->qtail = NULL;
    r->inflight = 0;
    r->writes = 0;
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    reconcile_t *r = t->data;
    log_warn("consul: shutdown: %zu calls still in flight after the timeout; giving up on them", r->inflight);
    cancel_all(r);
    finish_shutdown(r);
}

void reconcile_shutdown(reconcile_t *r, int deregister, uint64_t timeout_ms, void (*done)(void *data), void *data)
{
    r->done = done;
    r->done_data = data;
    uv_timer_stop(&r->poll_timer);
    uv_timer_stop(&r->hb_timer);
    uv_timer_stop(&r->retry_timer);
    if (r->watch)
        consul_watch_stop(r->watch);
    r->stopping = 1;
    r->deregister_on_stop = deregister;
    if (r->poll_call) {
        consul_call_cancel(r->poll_call);
        r->poll_call = NULL;
        r->inflight--;
    }
    while (r->nretry)
        r->retry[--r->nretry]->retry_at = 0;
    if (deregister) {
        size_t n = 0;
        strmap_iter_t it = strmap_iter(r->entries);
        while (strmap_iter_next(&it)) {
            entry_t *e = it.value;
            if (e->want) {
                entry_unwant(e);
                n++;
            }
        }
        log_info("deregistering %zu services before exit (-deregister-on-exit)", n);
        it = strmap_iter(r->entries);
        while (strmap_iter_next(&it)) {
            entry_t *e = it.value;
            e->hb_ttl_due = e->hb_health_due = 0;
            rc_kick(e);
        }
        uv_timer_start(&r->shutdown_timer, on_shutdown_timeout, timeout_ms, 0);
        if (r->inflight == 0)
            finish_shutdown(r);
        return;
    }
    cancel_all(r);
    finish_shutdown(r);
}

static void on_timer_closed(uv_handle_t *h)
{
    reconcile_t *r = h->data;
    if (--r->closing == 0)
        free(r);
}

void reconcile_free(reconcile_t *r)
{
    if (!r)
        return;
    if (r->watch) {
        consul_watch_free(r->watch);
        r->watch = NULL;
    }
    cancel_all(r);
    strmap_iter_t it = strmap_iter(r->entries);
    while (strmap_iter_next(&it))
        entry_free(it.value);
    it = strmap_iter(r->ctrs);
    while (strmap_iter_next(&it))
        rec_free(it.value);
    strmap_free(r->entries);
    strmap_free(r->ctrs);
    owners_free(r->owners);
    free(r->retry);
    free(r->node);
    /* timers: closed through uv_close; the struct goes with the last close callback */
    r->timers_open = 0;
    r->closing = 4;
    uv_close((uv_handle_t *)&r->retry_timer, on_timer_closed);
    uv_close((uv_handle_t *)&r->poll_timer, on_timer_closed);
    uv_close((uv_handle_t *)&r->hb_timer, on_timer_closed);
    uv_close((uv_handle_t *)&r->shutdown_timer, on_timer_closed);
}

void reconcile_stats(const reconcile_t *r, reconcile_stats_t *out)
{
    *out = r->st;
    out->retries_queued = r->nretry;
    uint64_t reg = 0;
    strmap_iter_t it = strmap_iter(r->entries);
    while (strmap_iter_next(&it)) {
        entry_t *e = it.value;
        if (e->want && e->have && json_equal(e->have, target_cmp(e)))
            reg++;
    }
    out->services_registered = reg;
}
