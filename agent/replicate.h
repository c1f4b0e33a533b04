/* replicate.h: the pure part of the replicate/scale API (agent/ops_api.c does the I/O).
 *
 * Owns: turning a container's inspect JSON into the body of a POST /containers/create that makes
 * a sibling of it (Config with Hostname blanked + HostConfig, as the seed's replicator did), the
 * clone's name, which running containers belong to a service, the order in which scale-down
 * removes them, and every check on what a client sends (container references, service names,
 * ?to= / ?by= counts). Promises: no I/O, no global state, deterministic given its inputs (the
 * random part of a name is passed in). Never: trusts a count or name from a request unchecked.
 */
#ifndef PORTOLAN_AGENT_REPLICATE_H
#define PORTOLAN_AGENT_REPLICATE_H

#include <jansson.h>
#include <stddef.h>

/* Most containers one scale request may add or remove, and the largest ?to= accepted. */
#define REPLICATE_MAX_STEP 100

/* 1 when s is a plausible container ID or name: 1..128 characters of [A-Za-z0-9_.-], first one
 * alphanumeric (Docker's own rule for names; IDs are hex). Anything else (slashes, '..', spaces,
 * empty) is refused before it reaches a Docker URL. */
int replicate_valid_ref(const char *s);

/* 1 when s is an acceptable service name: 1..255 characters of [A-Za-z0-9_.-]. */
int replicate_valid_service(const char *s);

/* Builds the create body from an inspect result: a deep copy of Config with Hostname "" (Docker
 * then uses the new ID's prefix) and HostConfig; fixed host ports in HostConfig.PortBindings are
 * made ephemeral (HostPort "") because a sibling cannot bind the same host port (the registry
 * learns the new port from the start event). *name_out gets "<base>-r<suffix>" where base is the
 * original's name without its leading '/' and without an earlier "-r<8 hex>" clone suffix, so
 * clones of clones do not grow names. suffix: 8 lowercase hex characters (the caller's random).
 * Returns the body (caller json_decrefs) or NULL with a message in err. */
json_t *replicate_create_body(const json_t *inspect, const char *suffix, char *name_out, size_t name_len,
                              char *err, size_t errlen);

/* 1 when the inspected container's service name (a SERVICE_NAME label, else a SERVICE_NAME=...
 * entry in Config.Env) equals service. */
int replicate_service_matches(const json_t *inspect, const char *service);

/* Parses the scale request: exactly one of to ("N": 1..REPLICATE_MAX_STEP) and by ("+N", "-N" or
 * "N", 1 <= N <= REPLICATE_MAX_STEP) must be given (non-NULL). current is the running count.
 * On success *target is the wanted count, which is >= 1 (the last instance is the template for
 * the next scale-up, so scaling to 0 is refused) and differs from current by at most
 * REPLICATE_MAX_STEP. Returns 0, or -1 with a message for a 400 in err. */
int replicate_parse_scale(const char *to, const char *by, size_t current, size_t *target, char *err,
                          size_t errlen);

/* Orders inspect results oldest first by their Created time (RFC 3339 with any number of
 * fraction digits), ties by Id, in place. Scale-up clones [0]; scale-down removes from the end. */
void replicate_sort_by_created(json_t **inspects, size_t n);

/* Compares two RFC 3339 UTC timestamps as Docker writes them ("2026-11-23T22:08:31.85Z" vs
 * "...31.856Z"): <0, 0, >0. Unparseable strings sort first. */
int replicate_created_cmp(const char *a, const char *b);

#endif
