/* registration.h: a desired service (services.h) as the body of Consul's
 * PUT /v1/agent/service/register, and the comparison of a desired service with Consul's own view
 * (GET /v1/agent/services) so a resync writes only what differs.
 * Pure: builds and compares JSON, no I/O. */
#ifndef PORTOLAN_AGENT_REGISTRATION_H
#define PORTOLAN_AGENT_REGISTRATION_H

#include <jansson.h>

#include "services.h"

/* The register body, with exactly the fields registrator sends, each only when non-empty (Go's
 * omitempty): ID, Name, Tags, Port, Address, Meta, and Check when the service has exactly one
 * check, else Checks (the extra TTL checks carry their own CheckID). New reference. */
json_t *registration_body(const service_t *s);

/* 1 when Consul's entry for the service (one value of /v1/agent/services) already says what s
 * says: same ID, Service name, Tags (in order), Port, Address and Meta. Checks are not part of
 * that view; they follow the body (registration_body equality) instead. */
int registration_matches(const service_t *s, const json_t *consul_entry);

/* The same comparison for a register body (as registration_body builds it). */
int registration_body_matches(const json_t *body, const json_t *consul_entry);

/* A copy of body for "did the desired registration change?" comparisons: the Docker health
 * check's Status is removed (health changes go through check updates, not re-registration).
 * New reference. */
json_t *registration_body_cmp(const json_t *body, const char *health_check_id);

/* One line describing the change from old (NULL: new service) to s, for the log:
 * "web 10.0.0.2:8080 tags=[a,b]". Returns a malloc'd string. */
char *registration_describe(const service_t *s);

#endif
