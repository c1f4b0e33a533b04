/* docker_client.h: Docker Engine API client on the shared HTTP client (lib/http_client.h).
 *
 * Owns: the endpoint (unix socket or tcp, optional TLS), the negotiated API version, and the
 * calls it has in flight. Promises: asynchronous only (never blocks the loop); versioned paths
 * (/v1.xx/...) with xx = min(daemon ApiVersion, 1.41), negotiated once by GET /version before
 * the first versioned call (calls made meanwhile wait for it); every error message names the
 * endpoint and says what to check. Never: interprets containers (that is the agent's pure
 * model), retries (the caller decides), or follows DOCKER_CONTEXT / ~/.docker/config.json.
 *
 * Results: every call ends with one on_result callback (unless cancelled through
 * docker_call_cancel): error == NULL on success, else a message such as
 *   "docker: GET /v1.41/containers/abc/json: 404 No such container: abc"
 *   "docker: cannot connect to unix:///var/run/docker.sock: ... (is dockerd running? check DOCKER_HOST)"
 *   "docker: TLS handshake with tcp://127.0.0.1:2376 failed: certificate verify failed (check DOCKER_CERT_PATH ca.pem)"
 * status is the HTTP status (0 = no response), json the decoded body (borrowed: valid during the
 * callback; json_incref it to keep it; NULL for empty or non-JSON bodies). */
#ifndef PORTOLAN_DOCKER_CLIENT_H
#define PORTOLAN_DOCKER_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http_client.h"

#define DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
#define DOCKER_MAX_API_MAJOR 1
#define DOCKER_MAX_API_MINOR 41

/* ---- endpoint (pure) ---- */

typedef struct {
    char *host;      /* DOCKER_HOST as used, for messages ("unix:///var/run/docker.sock") */
    char *unix_path; /* socket path for unix://, else NULL */
    char *base_url;  /* "http://localhost" (unix), "http://h:p" or "https://h:p" (tcp) */
    int tls;         /* https */
    int tls_verify;  /* verify the daemon's certificate against ca_file */
    char *ca_file;   /* $DOCKER_CERT_PATH/ca.pem when tls, else NULL */
    char *cert_file; /* $DOCKER_CERT_PATH/cert.pem when tls, else NULL */
    char *key_file;  /* $DOCKER_CERT_PATH/key.pem when tls, else NULL */
} docker_endpoint_t;

/* Reads the environment through getenv_fn (NULL: getenv):
 *   DOCKER_HOST       unix:///path (default unix:///var/run/docker.sock) or tcp://host[:port]
 *                     (port default 2376 with TLS, 2375 without); http:// is a synonym of tcp://
 *   DOCKER_TLS_VERIFY non-empty (and not "0"/"false"): https and verify the daemon against
 *                     $DOCKER_CERT_PATH/ca.pem, presenting cert.pem/key.pem
 *   DOCKER_TLS        non-empty without DOCKER_TLS_VERIFY: https without verification (as the
 *                     docker CLI does)
 *   DOCKER_CERT_PATH  directory of ca.pem, cert.pem, key.pem (default $HOME/.docker)
 * Returns 0, or -1 with a message in err ("docker: DOCKER_HOST \"ftp://x\": unsupported scheme
 * (use unix:///path or tcp://host:port)"). Does not touch the files. Free with docker_endpoint_clear. */
int docker_endpoint_from_env(const char *(*getenv_fn)(const char *), docker_endpoint_t *out,
                             char *err, size_t errlen);
void docker_endpoint_clear(docker_endpoint_t *ep);

/* Parses an ApiVersion string ("1.43") and returns the one to use: min(it, 1.41), as
 * "1.41" in buf. Returns 0, or -1 when the string is not <major>.<minor>. */
int docker_api_version_pick(const char *api_version, char *buf, size_t len);

/* ---- event-stream line splitting (pure) ---- */

/* Accumulates stream chunks and hands back complete lines (without "\n" or "\r\n"). Lines longer
 * than max_line are dropped whole (counted in dropped) rather than buffered without bound. */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t max_line;
    int discarding;     /* inside an over-long line: skip up to the next newline */
    uint64_t dropped;   /* over-long lines dropped so far */
} docker_lines_t;

void docker_lines_init(docker_lines_t *l, size_t max_line);
void docker_lines_free(docker_lines_t *l);
/* Feeds a chunk; calls on_line for every complete, non-empty line in order. on_line returns 0 to
 * continue, non-zero to stop (then the rest of the chunk is discarded and feed returns that value).
 * Returns 0 otherwise. */
int docker_lines_feed(docker_lines_t *l, const char *chunk, size_t len,
                      int (*on_line)(const char *line, size_t len, void *data), void *data);

/* "since" value for reconnecting after event: "<sec>.<nanos 9 digits>" from timeNano (or from
 * time when timeNano is absent). Returns 0, or -1 when the event carries neither. */
int docker_event_since(const json_t *event, char *buf, size_t len);

/* ---- client ---- */

typedef struct docker_client docker_client_t;
typedef struct docker_call docker_call_t;
typedef struct docker_events docker_events_t;

typedef void (*docker_on_result_cb)(docker_client_t *dc, long status, json_t *json,
                                    const char *error, void *data);

/* http is shared (not owned); ep is copied. NULL on allocation failure. */
docker_client_t *docker_client_new(http_client_t *http, const docker_endpoint_t *ep);
/* Cancels calls and event streams still in flight (no callbacks) and frees the client. Not from
 * inside one of its own callbacks. */
void docker_client_free(docker_client_t *dc);

/* Negotiated version ("1.41"), or NULL before negotiation completed. */
const char *docker_client_api_version(const docker_client_t *dc);
/* The endpoint as given by the user, for log lines. */
const char *docker_client_host(const docker_client_t *dc);
/* Per-request timeout for non-streaming calls, ms (default 30000; 0 = none). */
void docker_client_set_timeout(docker_client_t *dc, long timeout_ms);

/* GET /_ping (unversioned). json is NULL (body "OK"); success means the daemon answers. */
docker_call_t *docker_client_ping(docker_client_t *dc, docker_on_result_cb cb, void *data);
/* GET /version (unversioned); also (re)sets the negotiated API version. */
docker_call_t *docker_client_version(docker_client_t *dc, docker_on_result_cb cb, void *data);
/* GET /info: json has Name (the engine's host name) and Swarm.NodeID. */
docker_call_t *docker_client_info(docker_client_t *dc, docker_on_result_cb cb, void *data);
/* GET /containers/json[?all=1][&filters=<json>]: json is an array of summaries. filters
 * (may be NULL) is a JSON object such as {"label":["k=v"],"status":["running"]}; borrowed. */
docker_call_t *docker_client_containers(docker_client_t *dc, int all, const json_t *filters,
                                        docker_on_result_cb cb, void *data);
/* GET /containers/{id}/json. 404 (status 404, error set) when the container is gone. */
docker_call_t *docker_client_inspect(docker_client_t *dc, const char *id,
                                     docker_on_result_cb cb, void *data);
/* POST /containers/create[?name=<name>] with body (borrowed); json = {"Id":..,"Warnings":..}. */
docker_call_t *docker_client_create(docker_client_t *dc, const char *name, const json_t *body,
                                    docker_on_result_cb cb, void *data);
/* POST /containers/{id}/start. 304 (already started) counts as success. */
docker_call_t *docker_client_start(docker_client_t *dc, const char *id,
                                   docker_on_result_cb cb, void *data);
/* POST /containers/{id}/stop?t=<timeout_s> (timeout_s < 0: daemon default). 304 = success. */
docker_call_t *docker_client_stop(docker_client_t *dc, const char *id, int timeout_s,
                                  docker_on_result_cb cb, void *data);
/* DELETE /containers/{id}[?force=1]. */
docker_call_t *docker_client_remove(docker_client_t *dc, const char *id, int force,
                                    docker_on_result_cb cb, void *data);
/* Any other call: method, path below the version prefix ("/networks"; versioned when
 * versioned != 0), optional body (borrowed). */
docker_call_t *docker_client_request(docker_client_t *dc, const char *method, const char *path,
                                     int versioned, const json_t *body,
                                     docker_on_result_cb cb, void *data);
/* No callback after this; the handle is released. Not after the callback has run. */
void docker_call_cancel(docker_call_t *call);

/* ---- event stream ---- */

typedef struct {
    const char *const *events; /* NULL-terminated event names for the server-side filter, e.g.
                                  {"start","die","health_status",NULL}; NULL: every event */
    const char *const *types;  /* object types; NULL: {"container"} */
    const char *since;         /* since= value ("1700000000.000000001"), or NULL */
    size_t max_line;           /* longest accepted event line; 0: 1 MiB */
    const char *const *labels; /* NULL-terminated label filters ("k" or "k=v"), or NULL */
} docker_events_opts_t;

/* One event, parsed (borrowed during the callback; json_incref to keep). Lines that are not JSON
 * objects are skipped with a warning. */
typedef void (*docker_on_event_cb)(docker_events_t *ev, json_t *event, void *data);
/* The stream ended: error NULL on a clean end (daemon closed it, e.g. restart), else why
 * ("docker: events stream from unix:///var/run/docker.sock: ..."). The stream object is
 * released after this returns; reconnect with a new docker_client_events(), since = the last
 * event's docker_event_since(). Not called after docker_events_cancel. */
typedef void (*docker_on_events_end_cb)(docker_events_t *ev, const char *error, void *data);

/* GET /events?filters=...&since=... streamed (no timeout). NULL on allocation failure. */
docker_events_t *docker_client_events(docker_client_t *dc, const docker_events_opts_t *opts,
                                      docker_on_event_cb on_event,
                                      docker_on_events_end_cb on_end, void *data);
/* Stops the stream; safe from on_event. No callbacks afterwards. */
void docker_events_cancel(docker_events_t *ev);
/* Events delivered so far on this stream. */
uint64_t docker_events_count(const docker_events_t *ev);

#endif
