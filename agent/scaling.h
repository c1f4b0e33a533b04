/* scaling.h: the pure decisions of the scaling API (agent/ops_api.c and agent/scale_nodes.c do
 * the I/O): what a scale-service / scale-nodes request asks for (query parameters and
 * Alertmanager webhook bodies, seed 004's shape), the bounds a service's labels set, the
 * cooldown between actions, which containers a standalone scale-down may remove, which Consul
 * registrations a victim has to lose before it is stopped (drain), and a service's swarm spec.
 *
 * Promises: no I/O, no clock, no global state: "now" is passed in. Every input (query values,
 * webhook JSON, labels) is treated as untrusted and refused with a message fit for a 4xx body.
 * Never: lets a scale-down pick the oldest member (the original), or a count pass a bound.
 */
#ifndef PORTOLAN_AGENT_SCALING_H
#define PORTOLAN_AGENT_SCALING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SCALING_DEFAULT_MIN 1
#define SCALING_DEFAULT_MAX 10
#define SCALING_MAX_BY 100

typedef struct {
    char service[256]; /* scale-service: the SERVICE_NAME (may hold '/'); "" for scale-nodes */
    long delta;        /* signed change asked for: +N or -N, never 0 */
    int resolved;      /* the webhook body says status "resolved": nothing to do */
    char type[16];     /* scale-nodes: "worker" or "manager" */
} scaling_request_t;

/* 1 when s is a plausible service name: 1..255 characters of [A-Za-z0-9_.-/], not starting or
 * ending with '/', no "//" and no ".." segment (startService.sh's url paths, e.g. "hello/v1"). */
int scaling_valid_service(const char *s);

/* Parses POST /v1/scale-service: q_service (the ?service= value, percent-decoded; NULL when
 * absent), q_by (?by=: "N", "+N" or "-N", 1 <= N <= SCALING_MAX_BY; NULL when absent) and the
 * body (NULL/len 0 when none, else JSON: an Alertmanager webhook or {}). The service comes from
 * the query, else groupLabels.service, else commonLabels.service. The direction comes from
 * groupLabels.scale (else commonLabels.scale) "up"/"down" when present (then by, default 1, is
 * the magnitude; a signed by that disagrees is refused); without it by must be given (a bare N
 * means +N). A body with "status":"resolved" sets out->resolved (a resolved alert asks for
 * nothing). Returns 0, or -1 with a message in err. */
int scaling_parse_service_request(const char *q_service, const char *q_by, const char *body, size_t len,
                                  scaling_request_t *out, char *err, size_t errlen);

/* Parses POST /v1/scale-nodes: ?by= and ?type= (worker|manager, default worker) and an optional
 * webhook body giving the direction as above. Returns 0 or -1 with err. */
int scaling_parse_nodes_request(const char *q_by, const char *q_type, const char *body, size_t len,
                                scaling_request_t *out, char *err, size_t errlen);

/* Bounds from a label object (container Config.Labels or swarm Spec.Labels; NULL: defaults):
 * portolan.scale.min / portolan.scale.max, else com.df.scaleMin / com.df.scaleMax, else 1 and
 * 10. min must be >= 1 (the last instance is kept: it is the original, or the template of the
 * next scale-up), max >= min, both <= 1000. Returns 0, or -1 with err naming the bad label. */
int scaling_bounds(const json_t *labels, long *min, long *max, char *err, size_t errlen);

typedef enum {
    SCALING_OK = 0,
    SCALING_PAST_MAX,  /* refused: up would pass max (HTTP 409) */
    SCALING_PAST_MIN,  /* refused: down would pass min (HTTP 409) */
    SCALING_COOLDOWN,  /* refused: too soon after the last action (HTTP 429) */
} scaling_verdict_t;

/* The decision: current count, the signed delta, the bounds, and the cooldown (last_ms: time
 * of the last action on this service, 0 = never; now_ms; cooldown_ms). A change that moves
 * towards the bounds from outside them is allowed. *target gets the wanted count on OK;
 * *retry_ms the cooldown left on SCALING_COOLDOWN. err gets the message of a refusal. */
scaling_verdict_t scaling_decide(long current, long delta, long min, long max, uint64_t last_ms, uint64_t now_ms,
                                 uint64_t cooldown_ms, long *target, uint64_t *retry_ms, char *err, size_t errlen);

/* 1 when name (with or without its leading '/') is one the replicate API gave a clone:
 * "<base>-r<8 lowercase hex>". */
int scaling_is_clone_name(const char *name);

/* Standalone scale-down: members are inspect results sorted oldest first (replicate_sort_by_
 * created). Writes into out[] the indexes of `count` victims in the order to remove them:
 * clones newest first, then other members newest first; index 0 (the oldest, the original) is
 * never chosen. Returns how many were chosen (< count when there are not enough). */
size_t scaling_pick_victims(json_t *const *members, size_t n, size_t count, size_t *out);

/* Drain: the IDs in a GET /v1/agent/services answer that the agent registered for the container
 * named name (its IDs are "<node>:<container name>:<port>[:udp]"). Returns a new array of
 * strings (maybe empty), NULL on bad input. */
json_t *scaling_drain_ids(const json_t *agent_services, const char *container_name);

/* Swarm: 1 when the swarm service spec (GET /services element) is the one for service: its
 * Spec.Name equals it, or its Spec.Labels portolan.path equals it, or its container env has
 * SERVICE_NAME=<service>. */
int scaling_swarm_matches(const json_t *swarm_service, const char *service);

/* Swarm: the replicated count of a service (Spec.Mode.Replicated.Replicas); -1 when the service
 * is not in replicated mode (global services cannot be scaled). */
long scaling_swarm_replicas(const json_t *swarm_service);

/* Swarm: the body of POST /services/<id>/update?version=<Version.Index>: the Spec with
 * Mode.Replicated.Replicas = replicas (replicas >= 0) or, for replicas < 0, the Spec with
 * TaskTemplate.ForceUpdate incremented (docker service update --force: reschedule). New object
 * (caller json_decrefs) or NULL when the service has no Spec. */
json_t *scaling_swarm_update_body(const json_t *swarm_service, long replicas);

/* 1 when a swarm service asks to be rescheduled after node changes: label
 * portolan.scale.reschedule=true or com.df.reschedule=true on its Spec. */
int scaling_swarm_reschedule(const json_t *swarm_service);

/* scale-nodes: the next free node id: one more than the largest N among names "<prefix>N"
 * (e.g. swarm-0, swarm-1 -> 2), 1 when there is none (0 is the first manager's). */
long scaling_next_node_id(const char *const *names, size_t n, const char *prefix);

#endif
