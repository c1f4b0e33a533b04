/* agent.c: see agent.h. The order of things at start: Consul answers (or we give up after
 * -retry-attempts, as registrator does) -> GET /info (node ID, engine clock; retried forever) ->
 * subscribe to /events since the engine's "now" -> list running containers -> inspect each ->
 * reconcile; when that first round is done, -cleanup runs. */
#include "agent.h"

#include "backoff.h"
#include "duration.h"
#include "log.h"
#include "prom.h"
#include "reconcile.h"
#include "services.h"
#include "strmap.h"

#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_INSPECTS 32

typedef struct ctr {
    char *id;
    int busy;   /* inspect in flight */
    int dirty;  /* an event came while busy: inspect again */
    int queued;
    int warned; /* metadata warnings logged once per container, not on every event/resync */
    struct ctr *qnext;
} ctr_t;

struct agent {
    uv_loop_t *loop;
    const agent_config_t *cfg;
    docker_client_t *dc;
    consul_client_t *cc;
    reconcile_t *rec;
    services_config_t scfg;
    char *node;
    char *resolved_ip;
    strmap_t *ctrs;
    strmap_t *draining; /* container IDs being drained (agent_drain): no services while running */
    ctr_t *qhead, *qtail;
    int inflight;
    docker_events_t *ev;
    char since[64];
    int docker_up, started, stopping, listed_once;
    int cleanup_after_idle; /* run -cleanup once the inspect queue drains */
    int cleanup_after_list; /* ... once the listing in flight has been queued */
    uv_timer_t docker_timer, resync_timer, consul_timer, pump_timer;
    int pump_scheduled;
    uint64_t last_trim_ms;
    backoff_t dbo;
    long long consul_attempt;
    docker_call_t *dcall; /* /info, /version or list in flight */
    consul_call_t *ccall;
    void (*on_fatal)(void *);
    void *fatal_data;
    void (*stop_done)(void *);
    void *stop_data;
    /* metrics */
    uint64_t ev_start, ev_die, ev_health, ev_other, docker_reconnects, inspects, inspect_failures;
    uint64_t docker_disconnects;
    struct inspect_ctx *pending; /* inspects in flight (their calls die with the docker client) */
};

static void refresh(agent_t *a, const char *id);
static void docker_connect(agent_t *a);
static void on_docker_timer(uv_timer_t *t);
static void on_resync_timer(uv_timer_t *t);
static void on_consul_timer(uv_timer_t *t);

/* ---- container table and inspect queue ---- */

static ctr_t *ctr_get(agent_t *a, const char *id, int create)
{
    ctr_t *c = strmap_get(a->ctrs, id);
    if (c || !create)
        return c;
    c = calloc(1, sizeof *c);
    if (!c || !(c->id = strdup(id)) || strmap_put(a->ctrs, id, c) != 0) {
        if (c)
            free(c->id);
        free(c);
        return NULL;
    }
    return c;
}

static void ctr_forget(agent_t *a, ctr_t *c)
{
    strmap_del(a->ctrs, c->id);
    free(c->id);
    free(c);
}

typedef struct inspect_ctx {
    agent_t *a;
    ctr_t *c;
    json_t *inspect; /* kept while the network container is inspected */
    struct inspect_ctx *next, **pprev; /* in a->pending, so agent_free can release them */
} inspect_ctx_t;

static void ctx_unlink(inspect_ctx_t *x)
{
    if (x->pprev) {
        *x->pprev = x->next;
        if (x->next)
            x->next->pprev = x->pprev;
        x->pprev = NULL;
    }
}

static void pump(agent_t *a);
static void pump_now(agent_t *a);

/* -deregister on-success: exit code 0, or killed by a signal (128 + n) */
static int exit_code_ok(long long code) { return code == 0 || (code & 128) != 0; }

static int exit_ok(const json_t *inspect)
{
    return exit_code_ok(json_integer_value(json_object_get(json_object_get(inspect, "State"), "ExitCode")));
}

static void log_warnings(const char *name, const warn_list_t *w)
{
    for (size_t i = 0; i < w->n; i++)
        log_warn("container %s: %s", name, w->items[i]);
    if (w->dropped)
        log_warn("container %s: %zu more warnings", name, w->dropped);
}

/* The inspect answer (and the network container's, for container:<id>) -> desired services. */
static void apply(agent_t *a, ctr_t *c, const json_t *inspect, const json_t *netc)
{
    const char *name = json_string_value(json_object_get(inspect, "Name"));
    name = name ? (name[0] == '/' ? name + 1 : name) : c->id;
    int running = json_is_true(json_object_get(json_object_get(inspect, "State"), "Running"));
    if (running && a->draining && strmap_get(a->draining, c->id)) {
        reconcile_set_container(a->rec, c->id, NULL, NULL, 0); /* drained: stays out of Consul */
        return;
    }
    if (!running) {
        if (a->draining)
            strmap_del(a->draining, c->id);
        size_t have = reconcile_container_services(a->rec, c->id);
        if (have && a->cfg->deregister_on_success && !exit_ok(inspect)) {
            log_info("container %s exited with code %" JSON_INTEGER_FORMAT ": keeping its %zu services (-deregister on-success)",
                     name, json_integer_value(json_object_get(json_object_get(inspect, "State"), "ExitCode")), have);
            return;
        }
        reconcile_set_container(a->rec, c->id, NULL, NULL, 0);
        return;
    }
    service_list_t l;
    warn_list_t w = {0};
    if (services_build(&a->scfg, inspect, netc, &l, &w) != 0) {
        log_warn("container %.12s: inspect answer without an Id; ignored", c->id);
        warn_list_free(&w);
        return;
    }
    if (!c->warned)
        log_warnings(name, &w);
    c->warned = 1;
    warn_list_free(&w);
    if (l.n == 0)
        log_debug("container %s: no services (no published ports, ignored or -explicit)", name);
    reconcile_set_container(a->rec, c->id, &l, services_health(inspect), services_started_ns(inspect));
    service_list_free(&l);
}

static void inspect_finish(agent_t *a, ctr_t *c)
{
    c->busy = 0;
    a->inflight--;
    if (c->dirty) {
        c->dirty = 0;
        refresh(a, c->id);
    } else if (reconcile_container_services(a->rec, c->id) == 0) {
        ctr_forget(a, c);
    }
    pump(a);
}

static void on_netc_inspect(docker_client_t *dc, long status, json_t *json, const char *error, void *data)
{
    inspect_ctx_t *x = data;
    if (error)
        log_warn("container %.12s: cannot inspect its network container: %s", x->c->id, error);
    apply(x->a, x->c, x->inspect, error ? NULL : json);
    json_decref(x->inspect);
    inspect_finish(x->a, x->c);
    ctx_unlink(x);
    free(x);
    (void)dc;
    (void)status;
}

static void on_inspect(docker_client_t *dc, long status, json_t *json, const char *error, void *data)
{
    inspect_ctx_t *x = data;
    agent_t *a = x->a;
    ctr_t *c = x->c;
    a->inspects++;
    if (error) {
        if (status == 404) {
            reconcile_set_container(a->rec, c->id, NULL, NULL, 0);
        } else {
            a->inspect_failures++;
            log_warn("container %.12s: %s (will retry after Docker reconnects or at resync)", c->id, error);
        }
    } else {
        const char *netc = services_network_container(json);
        int running = json_is_true(json_object_get(json_object_get(json, "State"), "Running"));
        if (netc && running) {
            x->inspect = json_incref(json);
            if (docker_client_inspect(dc, netc, on_netc_inspect, x))
                return;
            json_decref(x->inspect);
            apply(a, c, json, NULL);
        } else {
            apply(a, c, json, NULL);
        }
    }
    ctx_unlink(x);
    free(x);
    inspect_finish(a, c);
}

static void pump_now(agent_t *a)
{
    while (a->inflight < MAX_INSPECTS && a->qhead && !a->stopping) {
        ctr_t *c = a->qhead;
        a->qhead = c->qnext;
        if (!a->qhead)
            a->qtail = NULL;
        c->qnext = NULL;
        c->queued = 0;
        inspect_ctx_t *x = calloc(1, sizeof *x);
        if (!x)
            return;
        x->a = a;
        x->c = c;
        c->busy = 1;
        a->inflight++;
        x->next = a->pending;
        if (a->pending)
            a->pending->pprev = &x->next;
        a->pending = x;
        x->pprev = &a->pending;
        if (!docker_client_inspect(a->dc, c->id, on_inspect, x)) {
            ctx_unlink(x);
            free(x);
            c->busy = 0;
            a->inflight--;
            log_warn("container %.12s: could not start inspect", c->id);
            return;
        }
    }
    if (a->inflight == 0 && !a->qhead && uv_now(a->loop) - a->last_trim_ms > 1000) {
        /* a burst is over: hand the freed heap back to the system (RSS after 500 containers) */
        a->last_trim_ms = uv_now(a->loop);
        malloc_trim(0);
    }
    if (a->inflight == 0 && !a->qhead && a->cleanup_after_idle) {
        a->cleanup_after_idle = 0;
        log_debug("cleanup: looking for dangling services of node %s", a->node);
        reconcile_request_cleanup(a->rec);
    }
}

static void on_pump_timer(uv_timer_t *t)
{
    agent_t *a = t->data;
    a->pump_scheduled = 0;
    pump_now(a);
}

/* Inspects start from a zero-delay timer, never from inside a client callback: the event
 * stream's callback runs inside libcurl, which refuses new transfers there. It also batches a
 * burst of events into one pass. */
static void pump(agent_t *a)
{
    if (a->pump_scheduled || a->stopping)
        return;
    a->pump_scheduled = 1;
    uv_timer_start(&a->pump_timer, on_pump_timer, 0, 0);
}

static void refresh(agent_t *a, const char *id)
{
    ctr_t *c = ctr_get(a, id, 1);
    if (!c)
        return;
    if (c->busy) {
        c->dirty = 1;
        return;
    }
    if (c->queued)
        return;
    c->queued = 1;
    if (a->qtail)
        a->qtail->qnext = c;
    else
        a->qhead = c;
    a->qtail = c;
    pump(a);
}

/* ---- events ---- */

static void on_event(docker_events_t *ev, json_t *event, void *data)
{
    agent_t *a = data;
    (void)ev;
    char since[64];
    if (docker_event_since(event, since, sizeof since) == 0)
        snprintf(a->since, sizeof a->since, "%s", since);
    const char *action = json_string_value(json_object_get(event, "Action"));
    if (!action)
        action = json_string_value(json_object_get(event, "status"));
    const char *id = json_string_value(json_object_get(json_object_get(event, "Actor"), "ID"));
    if (!id)
        id = json_string_value(json_object_get(event, "id"));
    if (!action || !id || !*id || strlen(id) > 128) {
        a->ev_other++;
        return;
    }
    if (!strcmp(action, "start")) {
        a->ev_start++;
        if (a->draining) /* started (again, e.g. --restart after a dockerd crash): not draining */
            strmap_del(a->draining, id);
    }
    else if (!strcmp(action, "die")) {
        a->ev_die++;
        /* The event says it stopped: its services leave Consul now, not after the inspect below
         * (dockerd answers that only once it has torn the container's network down, ~100 ms
         * during which the router kept sending it requests). -deregister on-success reads the exit
         * code from the event as apply() reads it from the inspect answer; the inspect still
         * follows and settles anything else (a restart policy that started it again). */
        const char *code = json_string_value(
            json_object_get(json_object_get(json_object_get(event, "Actor"), "Attributes"), "exitCode"));
        char *end = NULL;
        long long n = code ? strtoll(code, &end, 10) : -1;
        int ok = code && *code && !*end && exit_code_ok(n);
        if (a->rec && (!a->cfg->deregister_on_success || ok) && reconcile_container_services(a->rec, id) > 0) {
            log_debug("container %.12s died: deregistering its services", id);
            reconcile_set_container(a->rec, id, NULL, NULL, 0);
        }
    }
    else if (!strncmp(action, "health_status", 13))
        a->ev_health++;
    else if (!strcmp(action, "rename") || !strcmp(action, "destroy"))
        a->ev_other++;
    else if (!strcmp(action, "kill")) {
        /* docker stop / a swarm task shut down: SIGTERM first, the container's grace period
         * after it. Its services leave Consul now (drain), not when it has died, so the router
         * stops sending it requests while it finishes the ones it has. */
        a->ev_other++;
        const char *sig = json_string_value(
            json_object_get(json_object_get(json_object_get(event, "Actor"), "Attributes"), "signal"));
        if (sig && (!strcmp(sig, "15") || !strcmp(sig, "SIGTERM")) && !a->cfg->deregister_on_success &&
            reconcile_container_services(a->rec, id) > 0)
            agent_drain(a, id);
        return;
    } else {
        a->ev_other++;
        return;
    }
    log_debug("event %s %.12s", action, id);
    refresh(a, id);
}

static void schedule_docker_retry(agent_t *a)
{
    if (a->stopping)
        return;
    uint64_t d = backoff_next_ms(&a->dbo);
    uv_timer_start(&a->docker_timer, on_docker_timer, d, 0);
}

static void on_events_end(docker_events_t *ev, const char *error, void *data)
{
    agent_t *a = data;
    (void)ev;
    a->ev = NULL;
    if (a->stopping)
        return;
    a->docker_up = 0;
    a->docker_disconnects++;
    log_warn("docker: event stream ended%s%s; reconnecting", error ? ": " : "", error ? error : "");
    schedule_docker_retry(a);
}

static void on_list(docker_client_t *dc, long status, json_t *json, const char *error, void *data)
{
    agent_t *a = data;
    a->dcall = NULL;
    (void)dc;
    (void)status;
    if (error || !json_is_array(json)) {
        log_warn("docker: listing containers failed: %s", error ? error : "not an array");
        if (a->ev) {
            docker_events_cancel(a->ev);
            a->ev = NULL;
        }
        a->docker_up = 0;
        schedule_docker_retry(a);
        return;
    }
    /* known containers that are no longer listed: inspect (gone -> deregister, per -deregister) */
    strmap_t *listed = strmap_new();
    size_t i;
    json_t *c;
    json_array_foreach(json, i, c) {
        const char *id = json_string_value(json_object_get(c, "Id"));
        if (id && listed)
            strmap_put(listed, id, (void *)1);
    }
    char **stale = NULL;
    size_t nstale = 0;
    strmap_iter_t it = strmap_iter(a->ctrs);
    while (strmap_iter_next(&it))
        if (listed && !strmap_get(listed, it.key)) {
            char **p = realloc(stale, (nstale + 1) * sizeof *p);
            if (p && (p[nstale] = strdup(it.key)))
                stale = p, nstale++;
            else if (p)
                stale = p;
        }
    for (size_t k = 0; k < nstale; k++) {
        refresh(a, stale[k]);
        free(stale[k]);
    }
    free(stale);
    strmap_free(listed);
    json_array_foreach(json, i, c) {
        const char *id = json_string_value(json_object_get(c, "Id"));
        if (id)
            refresh(a, id);
    }
    if (a->listed_once)
        log_debug("docker: %zu running containers listed", json_array_size(json));
    else
        log_info("docker: %zu running containers listed", json_array_size(json));
    a->listed_once = 1;
    if (a->cleanup_after_list) {
        a->cleanup_after_list = 0;
        a->cleanup_after_idle = 1;
    }
    pump(a);
}

static void subscribe_and_list(agent_t *a)
{
    /* registrator's start/die, health for the mirror checks, and two portolan additions:
     * rename (IDs contain the name) and destroy (drops services kept by -deregister on-success) */
    static const char *const events[] = {"start", "die", "health_status", "rename", "destroy", "kill", NULL};
    docker_events_opts_t o = {.events = events, .since = a->since[0] ? a->since : NULL};
    a->ev = docker_client_events(a->dc, &o, on_event, on_events_end, a);
    if (!a->ev) {
        schedule_docker_retry(a);
        return;
    }
    a->dcall = docker_client_containers(a->dc, 0, NULL, on_list, a);
    if (a->cfg->cleanup && !a->started)
        a->cleanup_after_list = 1;
    a->started = 1;
}

/* "2026-11-23T21:13:30.123456789Z" (or with an offset) -> "sec.nanos". */
static int parse_system_time(const char *s, char *out, size_t len)
{
    struct tm tm = {0};
    if (!s)
        return -1;
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    long nanos = 0;
    if (*p == '.') {
        long scale = 100000000;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            nanos += (*p - '0') * scale;
            scale /= 10;
        }
    }
    time_t t = timegm(&tm);
    int sign = 0, oh = 0, om = 0;
    if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return -1;
        t -= sign * (oh * 3600 + om * 60);
    }
    /* one second of margin: the subscription must cover "now" even with rounding */
    snprintf(out, len, "%lld.%09ld", (long long)t - 1, nanos);
    return 0;
}

static void on_info(docker_client_t *dc, long status, json_t *json, const char *error, void *data)
{
    agent_t *a = data;
    a->dcall = NULL;
    (void)dc;
    (void)status;
    if (error) {
        log_warn("%s", error);
        schedule_docker_retry(a);
        return;
    }
    backoff_reset(&a->dbo);
    if (!a->node) {
        const char *name = json_string_value(json_object_get(json, "Name"));
        if (a->cfg->node_id && *a->cfg->node_id)
            name = a->cfg->node_id;
        if (!name || !*name || strchr(name, ':')) {
            log_error("docker: /info has no usable Name for the node ID; set -node-id");
            if (a->on_fatal)
                a->on_fatal(a->fatal_data);
            return;
        }
        a->node = strdup(name);
        a->scfg.node = a->node;
        reconcile_opts_t ro = {
            .node = a->node,
            .poll_ms = (uint64_t)(a->cfg->consul_poll_ns / DURATION_MS),
            .heartbeat_ms = (uint64_t)((a->cfg->ttl_refresh_ns ? a->cfg->ttl_refresh_ns : 10 * DURATION_SEC) / DURATION_MS),
        };
        a->rec = reconcile_new(a->loop, a->cc, &ro);
        if (!a->rec) {
            log_error("out of memory");
            if (a->on_fatal)
                a->on_fatal(a->fatal_data);
            return;
        }
        reconcile_start(a->rec);
        log_info("node ID %s (%s), docker %s (API %s)", a->node,
                 a->cfg->node_id && *a->cfg->node_id ? "-node-id" : "engine Name",
                 docker_client_host(a->dc), docker_client_api_version(a->dc) ? docker_client_api_version(a->dc) : "?");
        if (a->cfg->resync_ns > 0) {
            uint64_t ms = (uint64_t)(a->cfg->resync_ns / DURATION_MS);
            uv_timer_start(&a->resync_timer, on_resync_timer, ms, ms);
        }
    }
    if (!a->since[0]) {
        const char *st = json_string_value(json_object_get(json, "SystemTime"));
        if (parse_system_time(st, a->since, sizeof a->since) != 0)
            snprintf(a->since, sizeof a->since, "%lld.000000000", (long long)time(NULL) - 1);
    }
    if (!a->docker_up && a->started) {
        a->docker_reconnects++;
        log_info("docker: %s reachable again; resubscribing since %s and reconciling", docker_client_host(a->dc), a->since);
        a->listed_once = 0; /* say how many containers the reconcile found */
    }
    a->docker_up = 1;
    subscribe_and_list(a);
}

static void on_docker_timer(uv_timer_t *t)
{
    agent_t *a = t->data;
    if (a->stopping)
        return;
    if (a->dcall) { /* a listing is still in flight: come back after it */
        schedule_docker_retry(a);
        return;
    }
    a->dcall = docker_client_info(a->dc, on_info, a);
    if (!a->dcall)
        schedule_docker_retry(a);
}

static void docker_connect(agent_t *a)
{
    on_docker_timer(&a->docker_timer);
}

static void on_resync_timer(uv_timer_t *t)
{
    agent_t *a = t->data;
    if (a->stopping)
        return;
    log_debug("resync");
    if (a->docker_up && !a->dcall) {
        a->dcall = docker_client_containers(a->dc, 0, NULL, on_list, a);
        if (a->dcall && a->cfg->cleanup)
            a->cleanup_after_list = 1;
    }
    reconcile_request_resync(a->rec);
    pump(a);
}

/* ---- Consul at start (registrator's -retry-attempts / -retry-interval) ---- */

static void on_leader(consul_client_t *cc, const consul_result_t *res, void *data)
{
    agent_t *a = data;
    a->ccall = NULL;
    (void)cc;
    if (!res->error) {
        log_info("consul: %s answers (leader %s)", consul_client_endpoint(a->cc)->addr,
                 json_string_value(res->json) ? json_string_value(res->json) : "?");
        docker_connect(a);
        return;
    }
    long long max = a->cfg->retry_attempts;
    if (max != -1 && a->consul_attempt >= max) {
        log_error("%s", res->error);
        if (a->on_fatal)
            a->on_fatal(a->fatal_data);
        return;
    }
    a->consul_attempt++;
    log_warn("%s (attempt %lld/%lld; retrying in %lldms)", res->error, a->consul_attempt, max,
             a->cfg->retry_interval_ms);
    uv_timer_start(&a->consul_timer, on_consul_timer, (uint64_t)a->cfg->retry_interval_ms, 0);
}

static void on_consul_timer(uv_timer_t *t)
{
    agent_t *a = t->data;
    if (a->stopping)
        return;
    a->ccall = consul_status_leader(a->cc, on_leader, a);
}

/* ---- life cycle ---- */

agent_t *agent_new(uv_loop_t *loop, const agent_config_t *cfg, docker_client_t *dc,
                   consul_client_t *cc, const char *resolved_ip)
{
    agent_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->loop = loop;
    a->cfg = cfg;
    a->dc = dc;
    a->cc = cc;
    a->ctrs = strmap_new();
    a->draining = strmap_new();
    a->resolved_ip = resolved_ip ? strdup(resolved_ip) : NULL;
    a->scfg.host_ip = cfg->ip;
    a->scfg.resolved_ip = a->resolved_ip;
    a->scfg.internal = cfg->internal;
    a->scfg.explicit_only = cfg->explicit_only;
    a->scfg.use_ip_from_label = cfg->use_ip_from_label;
    a->scfg.tags = cfg->tags;
    a->scfg.ttl_ns = cfg->ttl_ns;
    a->scfg.health_ttl_ns = cfg->ttl_ns > 0 ? cfg->ttl_ns : 30 * DURATION_SEC;
    backoff_init(&a->dbo, 250, 5000);
    uv_timer_init(loop, &a->docker_timer);
    uv_timer_init(loop, &a->resync_timer);
    uv_timer_init(loop, &a->consul_timer);
    uv_timer_init(loop, &a->pump_timer);
    a->docker_timer.data = a->resync_timer.data = a->consul_timer.data = a->pump_timer.data = a;
    return a;
}

void agent_start(agent_t *a, void (*on_fatal)(void *data), void *data)
{
    a->on_fatal = on_fatal;
    a->fatal_data = data;
    on_consul_timer(&a->consul_timer);
}

static void on_rec_stopped(void *data)
{
    agent_t *a = data;
    if (a->stop_done)
        a->stop_done(a->stop_data);
}

void agent_stop(agent_t *a, void (*done)(void *data), void *data)
{
    if (a->stopping)
        return;
    a->stopping = 1;
    a->stop_done = done;
    a->stop_data = data;
    uv_timer_stop(&a->docker_timer);
    uv_timer_stop(&a->resync_timer);
    uv_timer_stop(&a->consul_timer);
    uv_timer_stop(&a->pump_timer);
    if (a->ev) {
        docker_events_cancel(a->ev);
        a->ev = NULL;
    }
    if (a->dcall) {
        docker_call_cancel(a->dcall);
        a->dcall = NULL;
    }
    if (a->ccall) {
        consul_call_cancel(a->ccall);
        a->ccall = NULL;
    }
    if (a->rec)
        reconcile_shutdown(a->rec, a->cfg->deregister_on_exit, 5000, on_rec_stopped, a);
    else if (done)
        done(data);
}

static void on_agent_timer_closed(uv_handle_t *h)
{
    agent_t *a = h->data;
    if (++a->inflight == 4) /* reused as a close counter once stopped */
        free(a);
}

void agent_free(agent_t *a)
{
    if (!a)
        return;
    /* inspects still in flight are cancelled when the docker client is freed (no callbacks) */
    while (a->pending) {
        inspect_ctx_t *x = a->pending;
        ctx_unlink(x);
        json_decref(x->inspect);
        free(x);
    }
    strmap_iter_t it = strmap_iter(a->ctrs);
    while (strmap_iter_next(&it)) {
        ctr_t *c = it.value;
        free(c->id);
        free(c);
    }
    strmap_free(a->ctrs);
    strmap_free(a->draining);
    reconcile_free(a->rec);
    free(a->node);
    free(a->resolved_ip);
    a->inflight = 0;
    uv_close((uv_handle_t *)&a->docker_timer, on_agent_timer_closed);
    uv_close((uv_handle_t *)&a->resync_timer, on_agent_timer_closed);
    uv_close((uv_handle_t *)&a->consul_timer, on_agent_timer_closed);
    uv_close((uv_handle_t *)&a->pump_timer, on_agent_timer_closed);
}

/* ---- observability ---- */

size_t agent_drain(agent_t *a, const char *id)
{
    if (!a || !id || !a->rec || !a->draining)
        return 0;
    size_t have = reconcile_container_services(a->rec, id);
    strmap_put(a->draining, id, a); /* any non-NULL value */
    reconcile_set_container(a->rec, id, NULL, NULL, 0);
    log_info("container %.12s: draining: its %zu services are deregistered before it stops", id, have);
    return have;
}

int agent_healthy(agent_t *a, char *why, size_t len)
{
    reconcile_stats_t st = {0};
    if (a->rec)
        reconcile_stats(a->rec, &st);
    int consul_up = a->rec ? st.consul_up : 0;
    if (a->docker_up && consul_up) {
        snprintf(why, len, "ok\n");
        return 1;
    }
    snprintf(why, len, "%s%s", a->docker_up ? "" : "docker unreachable\n", consul_up ? "" : "consul unreachable\n");
    return 0;
}

char *agent_metrics(agent_t *a, size_t *len)
{
    reconcile_stats_t st = {0};
    if (a->rec)
        reconcile_stats(a->rec, &st);
    prom_t *p = prom_new("portolan_agent_");
    if (!p)
        return NULL;
    prom_family(p, "docker_events_total", "counter", "Docker events received, by action.");
    prom_sample_u64(p, "docker_events_total", "action", "start", a->ev_start);
    prom_sample_u64(p, "docker_events_total", "action", "die", a->ev_die);
    prom_sample_u64(p, "docker_events_total", "action", "health_status", a->ev_health);
    prom_sample_u64(p, "docker_events_total", "action", "other", a->ev_other); /* rename, destroy, unknown */
    prom_gauge(p, "docker_up", "1 when the Docker event stream is connected.", a->docker_up != 0);
    prom_counter(p, "docker_reconnects_total", "Reconnections to dockerd after the event stream ended.",
                 a->docker_reconnects);
    prom_counter(p, "docker_inspects_total", "Container inspections.", a->inspects);
    prom_counter(p, "docker_inspect_failures_total", "Container inspections that failed (not 404).", a->inspect_failures);
    prom_gauge(p, "containers", "Containers tracked.", strmap_size(a->ctrs));
    prom_gauge(p, "consul_up", "1 when the last Consul request got an answer.", a->rec && st.consul_up);
    prom_counter(p, "registrations_total", "Successful service registrations (PUT register).", st.registrations);
    prom_counter(p, "deregistrations_total", "Successful service deregistrations.", st.deregistrations);
    prom_counter(p, "consul_write_failures_total", "Failed Consul writes (each is retried).", st.write_failures);
    prom_gauge(p, "retries_queued", "Services waiting to retry a failed Consul write.", st.retries_queued);
    prom_gauge(p, "services_wanted", "Services the agent wants registered.", st.services_wanted);
    prom_gauge(p, "services_registered", "Wanted services registered as the agent last wrote them.", st.services_registered);
    prom_counter(p, "consul_lost_total", "Services found missing from Consul and registered again.", st.lost);
    prom_counter(p, "resync_diffs_total", "Services a resync re-registered because Consul's copy differed.",
                 st.resync_diffs);
    prom_counter(p, "cleanup_total", "Dangling services removed by -cleanup.", st.cleaned);
    prom_counter(p, "heartbeats_total", "Successful TTL / health check updates.", st.heartbeats);
    prom_counter(p, "heartbeat_failures_total", "Failed TTL heartbeats.", st.heartbeat_failures);
    prom_counter(p, "consul_polls_total", "Polls of Consul's /v1/agent/services.", st.polls);
    prom_counter(p, "consul_poll_failures_total", "Failed polls.", st.poll_failures);
    return prom_finish(p, len);
}
