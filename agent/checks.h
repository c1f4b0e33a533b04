/* checks.h: the Consul check definitions a service gets, built the way registrator builds them
 * from SERVICE_CHECK_* metadata, plus portolan's own: numbered extra sets (SERVICE_CHECK_<n>_*),
 * the Docker HEALTHCHECK mirror and the -ttl heartbeat check (both TTL checks the agent feeds).
 * Pure: no I/O; every value that Consul would reject (bad durations, statuses, methods, paths with
 * control characters) is dropped with a warning instead of producing a 400. A check always aims
 * at the service's own registered address and port: a target that would point anywhere else
 * (user info, another host, a path not starting with '/', control characters) is refused with a
 * warning and the set registers no check. */
#ifndef PORTOLAN_AGENT_CHECKS_H
#define PORTOLAN_AGENT_CHECKS_H

#include <jansson.h>
#include <stdint.h>

#include "metadata.h"
#include "warn_list.h"

#define CHECKS_DEFAULT_INTERVAL "10s"
#define CHECKS_MAX_SETS 9 /* SERVICE_CHECK_1_* .. SERVICE_CHECK_9_* */

/* One check from the keys under prefix ("check_" for registrator's set, "check_2_" for a numbered
 * one), first type that is set wins: http, https, cmd, script, ttl, tcp, grpc. ip/port are the
 * service's address; container_id the container's full ID; exposed_port its exposed port text.
 * Returns a new object without CheckID (Consul numbers it), or NULL when the set defines none. */
json_t *checks_build_set(const metadata_t *md, const char *prefix, const char *ip, int port,
                         const char *container_id, const char *exposed_port, warn_list_t *w);

/* The Consul status that mirrors a Docker health status ("healthy" -> "passing", anything else
 * -> "critical"). */
const char *checks_docker_health_status(const char *docker_status);

/* TTL check {"CheckID","Name","TTL","Status","Notes"}; ttl_ns > 0. */
json_t *checks_ttl(const char *check_id, const char *name, int64_t ttl_ns, const char *status,
                   const char *notes);

/* 1 when s is an IPv4 or IPv6 literal (no zone) or a DNS host name (letters, digits, '-', dots):
 * the only addresses a check may be aimed at. */
int checks_host_ok(const char *s);

/* The HTTP(S) check URL for a service at ip:port and a path from metadata, parsed and rebuilt with
 * libcurl's URL API: scheme, host and port are always the service's own, the path starts with '/',
 * no user info, no fragment, no spaces, control or non-ASCII bytes, at most 1024 characters.
 * Returns a malloc'd URL, or NULL with *why (static text) saying what was refused. */
char *checks_http_target(const char *scheme, const char *ip, int port, const char *path,
                         const char **why);

/* 1 when s is a Go duration Consul accepts for the key (positive unless allow_zero). */
int checks_duration_ok(const char *s, int allow_zero);

#endif
