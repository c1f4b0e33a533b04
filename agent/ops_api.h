/* ops_api.h: portolan-agent's replicate/scale API, HTTPS with required client certificates.
 *
 *   POST /v1/replicate/<container id or name>  -> 201 {"Id": "<new id>", "Name": "<new name>"}
 *   GET  /<container id or name>               -> 200 "done" (the seed replicator's interface)
 *   POST /v1/scale/<service>?to=N | ?by=+N|-N  -> 200 {"service": .., "before": n, "after": m}
 *   POST /v1/scale-service?service=<name>&by=N | Alertmanager webhook body
 *        -> 200 {"service","mode":"swarm"|"standalone","before","after"}; 409 past a bound, 429 in
 *        cooldown (Retry-After); a swarm manager scales the swarm service, else containers
 *   POST /v1/scale-nodes?by=N&type=worker|manager -> runs -scale-nodes-cmd (agent/scale_nodes.h),
 *        then force-updates services labelled for rescheduling; 501 when not configured
 *   OPTIONS *: CORS preflight; every answer carries Access-Control-Allow-Origin: *
 *
 * Owns: the TLS listener (lib/http_server.h) and the operations in flight (each a small chain
 * of Docker calls: inspect -> create -> start; list -> inspect... -> clone or stop+remove).
 * Promises: never starts without a server certificate, its key and a client CA (fail closed);
 * every input is checked (agent/replicate.h) before Docker is called; one scale operation at a
 * time (a second gets 409); a client that goes away does not stop an operation half-way, it just
 * gets no answer. Clones are registered like any container: the agent sees their start events.
 * Scale-down drains each victim first (opts->drain, then -scale-drain) and never picks the oldest
 * member (agent/scaling.h). Never: talks to Consul itself, or removes a container that is not a
 * running member of the service.
 */
#ifndef PORTOLAN_AGENT_OPS_API_H
#define PORTOLAN_AGENT_OPS_API_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "docker_client.h"

typedef struct ops_api ops_api_t;

typedef struct {
    const char *listen;    /* host:port (required) */
    const char *cert_file; /* server certificate; NULL/"": $DOCKER_CERT_PATH/cert.pem */
    const char *key_file;  /* its key; NULL/"": $DOCKER_CERT_PATH/key.pem */
    const char *ca_file;   /* CA for client certificates; NULL/"": $DOCKER_CERT_PATH/ca.pem */
    int stop_timeout_s;    /* seconds Docker waits before SIGKILL on scale-down; <= 0: the
                            * container's own StopTimeout (docker run --stop-timeout), else 10 */
    uint64_t cooldown_ms;  /* -scale-cooldown: least time between scale-service actions on a service */
    uint64_t drain_ms;     /* -scale-drain: deregistered -> stopped (0: no drain) */
    void (*drain)(void *data, const char *id); /* takes a container out of Consul (agent_drain) */
    void *drain_data;
    const char *nodes_cmd; /* -scale-nodes-cmd ("" / NULL: scale-nodes refused with 501) */
    int nodes_max;         /* -scale-nodes-max */
} ops_api_opts_t;

/* The file a flag resolves to: flag itself when set, else $DOCKER_CERT_PATH/<file> (DOCKER_CERT_PATH
 * default $HOME/.docker, Docker Machine's layout). getenv_fn NULL: getenv. Writes into buf. */
const char *ops_api_cert_path(const char *flag, const char *file, const char *(*getenv_fn)(const char *),
                              char *buf, size_t len);

/* Loads the certificates and listens. NULL with a message in err when TLS cannot be set up
 * or the address cannot be bound: the caller must treat that as fatal. dc is borrowed. */
ops_api_t *ops_api_new(uv_loop_t *loop, docker_client_t *dc, const ops_api_opts_t *opts, char *err,
                       size_t errlen);
/* Cancels operations in flight (their clients get no answer) and closes the listener. */
void ops_api_free(ops_api_t *api);
int ops_api_port(const ops_api_t *api);
/* The API's Prometheus metrics (actions by outcome, node commands running) as text (lib/prom.h),
 * malloc'd, its length in *len; NULL when memory runs out. */
char *ops_api_metrics(const ops_api_t *api, size_t *len);

#endif
