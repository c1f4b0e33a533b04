/* reconcile.h: the Consul side of the agent. Holds, per service ID, what the agent wants in
 * Consul (a register body, or "absent") and what it believes Consul has, and writes only the
 * difference: PUT register, PUT deregister, TTL check updates.
 *
 * Promises:
 *  - One write in flight per service ID at a time; a failed write is retried with exponential
 *    backoff and jitter until it succeeds, and the retry always writes the latest wish (nothing
 *    dropped, nothing reordered: the final state is the last one asked for).
 *  - Consul's view (GET /v1/agent/services) is read when there is a reason: a blocking query on
 *    /v1/catalog/services changed or broke, a Consul call failed (then every poll interval until
 *    one works), a resync/cleanup is due, or 30 s passed. A service Consul lost (restarted empty,
 *    deregistered behind our back) is registered again at once; when Consul becomes reachable
 *    again every pending retry runs immediately. An idle agent costs one parked long-poll.
 *  - resync compares the full registration (name, tags, port, address, meta) with Consul's view
 *    and re-PUTs only what differs; cleanup deregisters this node's services (registrator's ID
 *    pattern) that nothing wants.
 *  - Heartbeats: -ttl checks get "pass", Docker health mirrors get their current status, every
 *    heartbeat period.
 * Never: talks to Docker, or blocks the loop. */
#ifndef PORTOLAN_AGENT_RECONCILE_H
#define PORTOLAN_AGENT_RECONCILE_H

#include <stdint.h>
#include <uv.h>

#include "consul_client.h"
#include "services.h"

typedef struct reconcile reconcile_t;

typedef struct {
    const char *node;          /* this node's ID (host part of service IDs), copied */
    uint64_t poll_ms;          /* Consul view poll period while there is a reason to look */
    uint64_t safety_ms;        /* poll at least this often anyway (default 30000) */
    uint64_t heartbeat_ms;     /* TTL / health heartbeat period (0: none) */
    uint64_t retry_base_ms;    /* first retry delay bound (default 200) */
    uint64_t retry_cap_ms;     /* longest retry delay (default 10000) */
} reconcile_opts_t;

typedef struct {
    uint64_t registrations;     /* successful PUT register */
    uint64_t deregistrations;   /* successful PUT deregister (incl. 404: already gone) */
    uint64_t write_failures;    /* failed writes (each one is retried) */
    uint64_t heartbeats;        /* successful check updates */
    uint64_t heartbeat_failures;
    uint64_t lost;              /* services found missing from Consul and re-registered */
    uint64_t resync_diffs;      /* services re-PUT by a resync because Consul's copy differed */
    uint64_t cleaned;           /* dangling services removed by cleanup */
    uint64_t polls, poll_failures;
    uint64_t retries_queued;    /* services waiting for a retry now */
    uint64_t services_wanted;   /* services the agent wants registered */
    uint64_t services_registered; /* of those, registered as far as the agent knows */
    int consul_up;              /* last poll/write reached Consul */
} reconcile_stats_t;

reconcile_t *reconcile_new(uv_loop_t *loop, consul_client_t *cc, const reconcile_opts_t *opts);
/* Starts the poll and heartbeat timers. */
void reconcile_start(reconcile_t *r);

/* Sets everything container ctr_id should have in Consul (services may be NULL or empty: nothing).
 * health: the container's Docker health status, for the health mirror checks (may be NULL).
 * started_ns: its State.StartedAt (ns since the epoch, 0 unknown), which decides who holds a
 * service ID that several containers claim (owners.h): a claim on an ID another container holds
 * is refused with one warning and kept waiting. Services it had before and no longer has are
 * deregistered, unless another container claims the same ID: then that one's registration
 * is written instead. Copies what it needs. */
void reconcile_set_container(reconcile_t *r, const char *ctr_id, const service_list_t *services,
                             const char *health, uint64_t started_ns);
/* Number of services container ctr_id currently wants (held or waiting for their ID). */
size_t reconcile_container_services(const reconcile_t *r, const char *ctr_id);

/* On the next poll: compare full registrations (resync) / remove this node's dangling services. */
void reconcile_request_resync(reconcile_t *r);
void reconcile_request_cleanup(reconcile_t *r);

/* Stops timers and polls. deregister: deregister every service first (bounded by timeout_ms).
 * done runs once (from the loop) when nothing is in flight any more. */
void reconcile_shutdown(reconcile_t *r, int deregister, uint64_t timeout_ms,
                        void (*done)(void *data), void *data);
/* Frees (after shutdown's done ran, or before start). Closes its timers through uv_close. */
void reconcile_free(reconcile_t *r);

void reconcile_stats(const reconcile_t *r, reconcile_stats_t *out);

#endif
