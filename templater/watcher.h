/* watcher.h: the templater's view of Consul with a constant number of long-polls.
 *
 * Owns: three blocking watches (catalog/services, health/state/any, kv/<prefix>?recurse), a queue
 * of one-shot fetches (health/service/<name>, one at a time), and the last answer per routed
 * service. So at most 4 connections to Consul whatever the number of services.
 * Which services to fetch: names that appear or whose tags change in catalog/services; services
 * whose checks changed in health/state/any; and all routed services when catalog/services' index
 * rose with no visible change (an instance without checks came or went), or after any watch
 * failed (Consul restarted or restored: anything may have changed meanwhile).
 * A name routes_service_routable refuses is never fetched (logged once while it is registered).
 * A failed fetch retries on that service's own backoff (500 ms x 2^n, capped at 1 min) and
 * holds up neither the other fetches nor delivery; its last good answer (or none) stands. A fetch
 * that got no answer at all (Consul unreachable) is also retried as soon as catalog/services
 * answers again.
 * Promises: on_change only once the first complete view (services, every routed service, KV) is
 * in (every routed service fetched or failed once), and only after the fetch queue drained, so
 * HAProxy never sees a half-loaded catalog.
 * Consul being down only delays on_change (the watches retry forever, unless opts.give_up_after
 * bounds them for -once). */
#ifndef PORTOLAN_WATCHER_H
#define PORTOLAN_WATCHER_H
#include <stdint.h>
#include "consul_client.h"
#include "routes.h"

typedef struct watcher watcher_t;

typedef struct {
    const char *tag;         /* routing tag ("" or NULL: every service is fetched) */
    const char *kv_prefix;   /* "service/haproxy/" */
    int stale;
    uint64_t wait_ms;        /* long-poll wait; 0: 60 s */
    /* 0: the watches retry forever (the daemon). n > 0 (-once): when one watch has failed n times
     * in a row, on_give_up is called once with a message naming the request, the error and n
     * ("consul: /v1/catalog/services: ...: giving up after 12 attempts"); nothing is delivered
     * after it. The watcher may be freed from inside on_give_up. */
    unsigned give_up_after;
    void (*on_give_up)(const char *msg, void *data); /* data: watcher_new's */
} watcher_opts_t;

/* The bound -once uses (consul-template's default retry attempts). */
#define WATCHER_ONCE_ATTEMPTS 12

/* The snapshot is built fresh for each call and freed after it returns. */
typedef void (*watcher_on_change_cb)(const routes_catalog_t *c, void *data);

watcher_t *watcher_new(consul_client_t *c, const watcher_opts_t *o, watcher_on_change_cb cb, void *data);
int watcher_start(watcher_t *w);
void watcher_free(watcher_t *w);
/* Builds a snapshot of what is known now (NULL before the first complete view). */
routes_catalog_t *watcher_snapshot(const watcher_t *w);
typedef struct {
    uint64_t fetches, fetch_errors, full_refetches, changes;
    double last_snapshot_ms;   /* JSON answers -> routes_catalog_t */
    size_t services, pending;
    int ready;
} watcher_stats_t;
void watcher_stats(const watcher_t *w, watcher_stats_t *out);
/* Raw data for the template mode: the catalog/services answer and a service's health answer (borrowed, may be NULL). */
const json_t *watcher_services_json(const watcher_t *w);
#endif
