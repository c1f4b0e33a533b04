/* agent.h: the Docker side of portolan-agent and the glue to the Consul side (reconcile.h).
 *
 * Owns: the table of known containers, the /events subscription and its reconnects, the inspect
 * queue, the resync timer, and the reconcile_t. Promises:
 *  - the event stream (start, die, health_status; filtered by dockerd) is opened before the
 *    initial listing, with since= the engine's own clock, so nothing between them is missed;
 *  - events of one container are handled in order: one inspect in flight per container, and an
 *    event that arrives meanwhile re-inspects afterwards (the latest state always wins);
 *  - when dockerd goes away the agent keeps running: it reconnects with backoff, resubscribes with
 *    since= the last event seen, re-lists and re-inspects, and deregisters what vanished;
 *  - "die" follows -deregister: always, or on-success (exit code 0, killed by a signal, or gone).
 * Never: blocks the loop, exits on a Docker error. */
#ifndef PORTOLAN_AGENT_AGENT_H
#define PORTOLAN_AGENT_AGENT_H

#include <uv.h>

#include "agent_config.h"
#include "consul_client.h"
#include "docker_client.h"

typedef struct agent agent_t;

/* resolved_ip: what 0.0.0.0 bindings become (may be NULL). Borrows cfg, dc, cc. */
agent_t *agent_new(uv_loop_t *loop, const agent_config_t *cfg, docker_client_t *dc,
                   consul_client_t *cc, const char *resolved_ip);
/* Checks Consul (with -retry-attempts), learns the node ID, subscribes, syncs. On a fatal
 * startup error, on_fatal runs (the caller exits 1). */
void agent_start(agent_t *a, void (*on_fatal)(void *data), void *data);
/* SIGTERM: stops events and timers; with -deregister-on-exit deregisters first. done runs once. */
void agent_stop(agent_t *a, void (*done)(void *data), void *data);
void agent_free(agent_t *a);

/* Drain before a scale-down stops a container: its services leave Consul now (desired state
 * "none") and stay out while it runs; forgotten once it is seen not running. id: the full ID.
 * Returns how many services it had registered. */
size_t agent_drain(agent_t *a, const char *id);

/* Prometheus text for /metrics (malloc'd). */
char *agent_metrics(agent_t *a, size_t *len);
/* 1 when Docker and Consul are both reachable; why says what is not (for /health). */
int agent_healthy(agent_t *a, char *why, size_t len);

#endif
