/* watcher.h: the templater's view of Consul for routes, with a constant number of long-polls.
 *
 * Owns: the one Consul mirror (mirror.h: catalog/services and health/state/any watches, the
 * health/service/<name> fetch queue, per-service backoff), a KV watch (kv/<prefix>?recurse), and
 * the last answer per routed service, converted (routes_service_t). So at most 4 connections to
 * Consul whatever the number of services. What is fetched when: mirror.h; routed services are
 * those routes_service_routable accepts with the routing tag (a name it refuses is never fetched,
 * and logged once while it is registered). A failed KV watch also makes the mirror refetch every
 * routed service on its next catalog/services answer.
 * Promises: on_change only once the first complete view (services, every routed service, KV) is
 * in (every routed service fetched or failed once), so HAProxy never sees a half-loaded catalog;
 * after that, a change is handed over as soon as it is fetched, at most every 100 ms while a full
 * refetch of other services is still running, and at once when the queue drains.
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
