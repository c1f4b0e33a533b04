/* consul_client.h: Consul HTTP API client (works against Consul and portolan-catalog) on the
 * shared HTTP client (lib/http_client.h).
 *
 * Owns: the endpoint (from a registrator-style registry URI), the ACL token, calls in flight.
 * Promises: asynchronous only; every request carries X-Consul-Token when a token is set; path
 * segments (service IDs, check IDs, KV keys) are percent-encoded; header names are compared
 * case-insensitively; a non-2xx answer becomes an error message that quotes Consul's plain-text
 * body: "consul: PUT /v1/agent/service/register: 400 Invalid Service Meta: ...". Writes use
 * PUT (Consul >= 1.0 refuses GET on them). Never: retries (callers own their retry policy; the
 * blocking-query watch in consul_watch.h retries forever), or caches.
 *
 * Results: one on_result per call unless cancelled (consul_call_cancel). The result and
 * everything it points to are borrowed for the duration of the callback (json_incref to keep). */
#ifndef PORTOLAN_CONSUL_CLIENT_H
#define PORTOLAN_CONSUL_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "http_client.h"

/* ---- endpoint (pure) ---- */

typedef struct {
    char *uri;       /* the registry URI as given, for messages */
    char *addr;      /* "host:port" or the socket path, for messages */
    char *base_url;  /* "http://127.0.0.1:8500", "https://host:8501", "http://localhost" (unix) */
    char *unix_path; /* consul-unix:///path, else NULL */
    int tls;         /* https */
    int tls_verify;  /* default 1; CONSUL_HTTP_SSL_VERIFY=false turns it off */
    char *ca_file;   /* CONSUL_CACERT or NULL (system store) */
    char *cert_file; /* CONSUL_CLIENT_CERT or NULL */
    char *key_file;  /* CONSUL_CLIENT_KEY or NULL */
    char *token;     /* CONSUL_HTTP_TOKEN or NULL */
} consul_endpoint_t;

/* Parses a registry URI, reading the environment through getenv_fn (NULL: getenv):
 *   consul://host:port     http; port default 8500. Empty host ("consul://" or "consul://:8500"):
 *                          CONSUL_HTTP_ADDR (host:port, http://host:port, https://host:port,
 *                          unix:///path) or 127.0.0.1:8500
 *   consul-tls://host:port https; port default 8501; CONSUL_CACERT, CONSUL_CLIENT_CERT,
 *                          CONSUL_CLIENT_KEY; CONSUL_HTTP_SSL_VERIFY=false skips verification
 *   consul-unix:///path    unix-domain socket
 *   CONSUL_HTTP_TOKEN      sent as X-Consul-Token on every request
 * A bare "host:port" (no scheme) is accepted as consul://host:port. A path after host:port is
 * ignored, as registrator does. Returns 0, or -1 with err set ("consul: registry URI
 * \"etcd://x\": unsupported scheme (use consul://, consul-tls:// or consul-unix://)").
 * Free with consul_endpoint_clear. */
int consul_endpoint_parse(const char *uri, const char *(*getenv_fn)(const char *),
                          consul_endpoint_t *out, char *err, size_t errlen);
void consul_endpoint_clear(consul_endpoint_t *ep);

/* ---- client ---- */

typedef struct consul_client consul_client_t;
typedef struct consul_call consul_call_t;

typedef struct {
    long status;          /* HTTP status; 0 when no response (connection refused, timeout) */
    json_t *json;         /* decoded body; NULL when empty, not JSON, or an error */
    const char *body;     /* raw body (NUL-terminated), "" when none */
    size_t len;
    uint64_t index;       /* X-Consul-Index, 0 when absent or unparsable */
    int known_leader;     /* X-Consul-Knownleader: true */
    int has_index;        /* the X-Consul-Index header was present and a valid number */
    const char *error;    /* NULL on 2xx, else the full message (see top) */
    uint64_t elapsed_ms;  /* request duration */
} consul_result_t;

typedef void (*consul_on_result_cb)(consul_client_t *c, const consul_result_t *r, void *data);

/* http is shared (not owned); ep is copied. NULL on allocation failure. */
consul_client_t *consul_client_new(http_client_t *http, const consul_endpoint_t *ep);
/* Cancels calls in flight (no callbacks) and frees. Not from inside its own callbacks; stop
 * and free every consul_watch_t on it first. */
void consul_client_free(consul_client_t *c);
/* Per-request timeout for non-blocking calls, ms (default 10000). */
void consul_client_set_timeout(consul_client_t *c, long timeout_ms);
const consul_endpoint_t *consul_client_endpoint(const consul_client_t *c);
http_client_t *consul_client_http(const consul_client_t *c);

/* Generic request. path_query starts with "/v1/" and is sent as given (escape segments yourself
 * with http_escape). body may be NULL. timeout_ms < 0: the client default; 0: none. */
consul_call_t *consul_client_request(consul_client_t *c, const char *method, const char *path_query,
                                     const char *body, size_t body_len, long timeout_ms,
                                     consul_on_result_cb cb, void *data);
/* No callback after this; the handle is released. Not after the callback has run. */
void consul_call_cancel(consul_call_t *call);

/* GET /v1/status/leader: json is a string ("127.0.0.1:8300"; "" means no leader). */
consul_call_t *consul_status_leader(consul_client_t *c, consul_on_result_cb cb, void *data);
/* GET /v1/agent/self: json {Config{Datacenter,NodeName,...}, Member, ...}. */
consul_call_t *consul_agent_self(consul_client_t *c, consul_on_result_cb cb, void *data);
/* GET /v1/agent/services: json {"<ID>":{ID,Service,Tags,Meta,Port,Address,...}}. */
consul_call_t *consul_agent_services(consul_client_t *c, consul_on_result_cb cb, void *data);
/* PUT /v1/agent/service/register[?replace-existing-checks] with service (borrowed, built by the
 * caller: {"ID","Name","Tags","Address","Port","Meta","Check"/"Checks"}). */
consul_call_t *consul_service_register(consul_client_t *c, const json_t *service,
                                       int replace_existing_checks,
                                       consul_on_result_cb cb, void *data);
/* PUT /v1/agent/service/deregister/<id>. 404 -> error "... 404 Unknown service ID ...". */
consul_call_t *consul_service_deregister(consul_client_t *c, const char *id,
                                         consul_on_result_cb cb, void *data);

typedef enum { CONSUL_CHECK_PASS, CONSUL_CHECK_WARN, CONSUL_CHECK_FAIL } consul_check_status_t;
/* PUT /v1/agent/check/pass|warn|fail/<id>[?note=<note>] (TTL checks). note may be NULL. */
consul_call_t *consul_check_ttl(consul_client_t *c, const char *check_id,
                                consul_check_status_t status, const char *note,
                                consul_on_result_cb cb, void *data);
/* PUT /v1/agent/check/update/<id> body {"Status":status,"Output":output}; status is
 * "passing", "warning" or "critical" (sent as given; Consul validates). output may be NULL. */
consul_call_t *consul_check_update(consul_client_t *c, const char *check_id, const char *status,
                                   const char *output, consul_on_result_cb cb, void *data);

/* GET /v1/kv/<key>: json a one-element array of {Key, Value (base64), Flags, ...}; status 404
 * with error NULL and json NULL when the key is missing (not an error). '/' in key is kept. */
consul_call_t *consul_kv_get(consul_client_t *c, const char *key, consul_on_result_cb cb, void *data);
/* GET /v1/kv/<prefix>?recurse: json an array of entries; 404 -> json NULL, error NULL. */
consul_call_t *consul_kv_list(consul_client_t *c, const char *prefix, consul_on_result_cb cb, void *data);
/* Decodes an entry's base64 Value into a malloc'd NUL-terminated buffer (*len set), NULL
 * when the value is null/absent or invalid base64. */
char *consul_kv_value(const json_t *entry, size_t *len);
/* GET /v1/catalog/services: json {"name":["tag",...]}. */
consul_call_t *consul_catalog_services(consul_client_t *c, consul_on_result_cb cb, void *data);
/* GET /v1/health/service/<name>[?passing][&tag=<tag>]: json [{Node,Service,Checks}]. tag may be NULL. */
consul_call_t *consul_health_service(consul_client_t *c, const char *name, int passing,
                                     const char *tag, consul_on_result_cb cb, void *data);
/* GET /v1/health/state/<state> (any|passing|warning|critical): json [HealthCheck]. */
consul_call_t *consul_health_state(consul_client_t *c, const char *state,
                                   consul_on_result_cb cb, void *data);

/* Builds a request path: prefix + seg percent-encoded (curl_easy_escape: everything but RFC 3986
 * unreserved characters, so '?', '#', '%', ' ' and control bytes are encoded) + suffix (a query,
 * sent as given). keep_slash: '/' in seg separates segments and is kept (KV keys). A "." or ".."
 * segment is sent as %2E / %2E%2E, so URL normalisation can never turn it into another path.
 * consul_path("/v1/kv/", "a/x?y", 1, "?recurse") -> "/v1/kv/a/x%3Fy?recurse". Every path the
 * clients build from a name goes through here. malloc'd; NULL when seg is NULL or > 4096 bytes. */
char *consul_path(const char *prefix, const char *seg, int keep_slash, const char *suffix);

/* Builds the path+query for a read endpoint with blocking parameters appended:
 * base "/v1/health/service/web?passing", index 42, wait_ms 60000, stale 1 ->
 * "/v1/health/service/web?passing&index=42&wait=1m0s&stale"
 * (wait in Go duration form). index 0 sends no index;
 * wait_ms 0 sends no wait. Returns a malloc'd string (pure). */
char *consul_blocking_path(const char *base, uint64_t index, uint64_t wait_ms, int stale);

#endif
