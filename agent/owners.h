/* owners.h: who holds a service ID that several containers claim (the same SERVICE_ID on two
 * containers). One rule: the claimant that has been running longest (earliest State.StartedAt,
 * then the smaller container ID) holds the ID; the others wait, refused with a warning, and the
 * next one in that order takes the ID over only when the holder gives it up (stops, is removed,
 * changes its metadata). Because the order is a property of the containers, not of the order in
 * which the agent happens to inspect them, re-reading the same containers (a resync, a Docker
 * reconnect, an agent restart) never moves an ID from one running container to another.
 * Owns: the claims, per ID. Pure: no I/O, no logging, no clock. */
#ifndef PORTOLAN_AGENT_OWNERS_H
#define PORTOLAN_AGENT_OWNERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct owners owners_t;

owners_t *owners_new(void);
void owners_free(owners_t *o);

/* Container ctr claims id; since: its start time in ns since the epoch (0 when unknown: it then
 * sorts first, before every known start). Claiming again updates since and is otherwise a no-op.
 * Returns the holder of id afterwards (borrowed; ctr itself when it holds it), or NULL when out
 * of memory. *is_new (may be NULL) says whether this claim is new. */
const char *owners_claim(owners_t *o, const char *id, const char *ctr, uint64_t since, int *is_new);

/* Container ctr gives up its claim on id (no-op when it has none). Returns the new holder when
 * the ID passed from ctr to another claimant (borrowed), else NULL (ctr was not the holder, or
 * nobody else claims the ID: it is free). */
const char *owners_release(owners_t *o, const char *id, const char *ctr);

/* The holder of id, or NULL when nobody claims it. Borrowed. */
const char *owners_holder(const owners_t *o, const char *id);

/* Number of containers claiming id. */
size_t owners_claims(const owners_t *o, const char *id);

#endif
