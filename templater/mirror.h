/* mirror.h: the templater's one mirror of Consul's services, shared by both of its outputs (the
 * HAProxy routes, watcher.c; a template, tmpl_mode.c).
 *
 * Owns: two blocking watches (catalog/services, health/state/any), a queue of one-shot fetches
 * of health/service/<name>, one in flight on a keep-alive connection, and a backoff per service
 * whose fetch failed. With the owner's KV watch that is at most 4 connections to Consul, whatever
 * the number of services (a long-poll holds its connection; HTTP/1.1 cannot share it).
 *
 * The owner says which services it wants (opts.wanted, asked for each name catalog/services
 * lists, and with tags NULL for a name it does not list) and can ask for one now (mirror_want).
 * Which wanted services are fetched:
 *   - a name that appears, changes its tags, or was never fetched;
 *   - a name whose checks changed in health/state/any: ahead of the queue, so a change with a
 *     check is one fetch whatever the number of services;
 *   - a name that left catalog/services but is still wanted (its answer becomes Consul's `[]`);
 *   - every wanted name when catalog/services' index rose with no visible change (an instance
 *     without checks came or went: Consul's HTTP API does not say of which service), when node
 *     checks changed, or on the first answer after mirror_resync (a watch failed: Consul may have
 *     restarted or been restored, anything may have changed); most recently changed first (the
 *     per-service X-Consul-Index of its last answer), so a service being scaled is found early.
 * Promises: every fetched answer that is a JSON array reaches on_service; a failed fetch retries on
 * that service's own backoff (500 ms x 2^n, capped at 1 min) without holding up the rest, and at
 * once when a watch hears from Consul again if the failure was a transport error; on_gone for a
 * name fetched before that left catalog/services or stopped being wanted; on_idle each time the
 * queue drains (nothing queued, nothing in flight). Never: calls a callback from mirror_want, or
 * touches the mirror after on_watch_error returns when the owner freed it there. */
#ifndef PORTOLAN_MIRROR_H
#define PORTOLAN_MIRROR_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "consul_client.h"

typedef struct mirror mirror_t;

typedef struct {
    int stale;                 /* ?stale on every request */
    uint64_t wait_ms;          /* long-poll wait; 0: the watch's default */
    uint64_t backoff_cap_ms;   /* the watches' retry cap; 0: the watch's default */
    /* 1: keep this service fetched. tags: its catalog/services entry, or NULL when not listed. */
    int (*wanted)(const char *name, const json_t *tags, void *data);
    void (*on_services)(const json_t *services, void *data);          /* each catalog/services answer */
    void (*on_service)(const char *name, const json_t *health, void *data); /* a fetched answer (array) */
    void (*on_gone)(const char *name, void *data);
    void (*on_idle)(void *data);
    /* a watch failed (attempt in a row, next try in retry_ms); the owner may free the mirror here */
    void (*on_watch_error)(const char *path, const char *error, unsigned attempt, uint64_t retry_ms, void *data);
    void *data;
} mirror_opts_t;

typedef struct {
    uint64_t fetches, fetch_errors, full_refetches;
} mirror_stats_t;

mirror_t *mirror_new(consul_client_t *c, const mirror_opts_t *o);
int mirror_start(mirror_t *m);
/* Cancels what is in flight and frees m; NULL is a no-op. */
void mirror_free(mirror_t *m);
/* Fetch name soon (ahead of a running full refetch), listed or not, if opts.wanted agrees then. */
void mirror_want(mirror_t *m, const char *name);
/* The next catalog/services answer refetches every wanted service (the owner's own watch failed). */
void mirror_resync(mirror_t *m);
/* The last catalog/services answer (borrowed), NULL before the first. */
const json_t *mirror_services(const mirror_t *m);
/* 1 when name has an answer (fetched with success, not gone since). */
int mirror_fetched(const mirror_t *m, const char *name);
/* Fetches queued or in flight. */
size_t mirror_pending(const mirror_t *m);
void mirror_stats(const mirror_t *m, mirror_stats_t *out);
#endif
