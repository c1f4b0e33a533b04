/* services.h: the pure heart of the agent. "Which Consul services does this container produce?"
 * as a function of its inspect JSON (GET /containers/{id}/json) and the agent's configuration,
 * with registrator's rules (shared/reference/registrator.md) plus portolan's extensions:
 * SERVICE_NETWORK / SERVICE_ADDRESS_MODE, IPv6 fallback, swarm service names, digest/ID image
 * names, nginx-proxy VIRTUAL_HOST, Docker HEALTHCHECK and -ttl checks, numbered check sets.
 * Pure: no I/O, no logging, no clock. Whatever needs I/O is an input (the resolved host IP, the
 * inspect of a container:<id> network container). */
#ifndef PORTOLAN_AGENT_SERVICES_H
#define PORTOLAN_AGENT_SERVICES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "warn_list.h"

typedef struct {
    const char *node;              /* host part of service IDs (-node-id) */
    const char *host_ip;           /* -ip, or NULL/"" */
    const char *resolved_ip;       /* what a 0.0.0.0 binding becomes (the node's resolved
                                      hostname); NULL/"": leave Address empty */
    int internal;                  /* -internal */
    int explicit_only;             /* -explicit */
    const char *use_ip_from_label; /* -useIpFromLabel, or NULL/"" */
    const char *tags;              /* -tags, or NULL */
    int64_t ttl_ns;                /* -ttl: > 0 adds a TTL check the agent heartbeats */
    int64_t health_ttl_ns;         /* TTL of the Docker HEALTHCHECK mirror check (> 0) */
} services_config_t;

typedef struct {
    char *id;
    char *name;
    char *address;          /* "" when unknown (Consul then uses the node's address) */
    int port;
    char *exposed_port;     /* "80" */
    char *proto;            /* "tcp", "udp" */
    char *container_id;
    char *container_name;   /* without "/" */
    json_t *tags;           /* array of strings */
    json_t *meta;           /* object of strings, validated */
    json_t *checks;         /* array of check objects, registrator-style ones first */
    char *health_check_id;  /* CheckID of the Docker health mirror, or NULL */
    char *ttl_check_id;     /* CheckID of the -ttl heartbeat check, or NULL */
} service_t;

typedef struct {
    service_t *items;
    size_t n;
} service_list_t;

/* Builds the services of a container. inspect: the container's inspect JSON; netc: the inspect
 * JSON of the container named by a "container:<id>" network mode (NULL when not applicable or
 * unavailable). Appends problems to w (may be NULL). Returns 0, or -1 when the inspect JSON is
 * unusable (no Id); out is then empty. Services come sorted by exposed port, then protocol. Does
 * not look at State.Running: the caller decides whether the container counts. */
int services_build(const services_config_t *cfg, const json_t *inspect, const json_t *netc,
                   service_list_t *out, warn_list_t *w);
void service_list_free(service_list_t *l);
void service_free_fields(service_t *s);

/* The default service name: the swarm service name (label com.docker.swarm.service.name), else
 * the image's base name without tag or digest ("gliderlabs/foo:1" -> "foo", "foo@sha256:.." ->
 * "foo"); an image referenced by ID ("sha256:..", or a hex prefix of the image ID) gives the
 * container's name instead. Returns a malloc'd string. */
char *services_default_name(const json_t *inspect);

/* The <id> of a "container:<id>" network mode, or NULL. Borrowed from inspect. */
const char *services_network_container(const json_t *inspect);

/* State.StartedAt ("2026-12-07T16:09:27.123456789Z", as Docker writes it) in ns since the epoch,
 * or 0 when absent or unparsable. Orders the claimants of a shared service ID (owners.h). */
uint64_t services_started_ns(const json_t *inspect);

/* State.Health.Status ("healthy", "unhealthy", "starting"), or NULL without a HEALTHCHECK. */
const char *services_health(const json_t *inspect);

#endif
