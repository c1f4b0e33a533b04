/* http_client.h: asynchronous HTTP/1.1 client on one libuv loop (libcurl multi driven by
 * curl_multi_socket_action + uv_poll + uv_timer).
 *
 * Owns: one curl multi handle, its connection cache (keep-alive reuse across requests to the
 * same host), one uv_timer and one uv_poll per socket curl watches.
 * Promises: never blocks the loop (DNS, connect, TLS and transfer all run through the multi
 * interface); any number of concurrent requests (long-polls, event streams) on one loop;
 * every request ends with exactly one on_response call unless it was cancelled (then none);
 * every socket it opens is close-on-exec (children never inherit a connection); the URL's path
 * is sent as given (no dot-segment removal: callers escape names, see consul_path).
 * Never: follows redirects, retries, logs request bodies, or reads proxy settings from the
 * environment implicitly beyond what libcurl itself does (http_proxy etc. are disabled;
 * portolan talks to local daemons).
 *
 * Lifetime rules (libuv style):
 *  - http_client_new(loop) -> http_client_free(client). free cancels every call still in
 *    flight (no callbacks) and closes the uv handles through uv_close; the memory goes once the
 *    loop has run those close callbacks, so run the loop (uv_run NOWAIT/DEFAULT) once more
 *    before uv_loop_close. Do not call http_client_free from inside one of its callbacks.
 *  - http_client_send() copies everything in the request (strings, headers, body, TLS paths);
 *    the caller's http_request_t may be freed as soon as send returns.
 *  - The http_call_t handle stays valid until on_response has returned or until
 *    http_call_cancel() is called on it, whichever comes first. Callers that keep the handle
 *    must forget it in on_response. */
#ifndef PORTOLAN_HTTP_CLIENT_H
#define PORTOLAN_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_client http_client_t;
typedef struct http_call http_call_t;

/* Default and hard limit on a buffered response body (not streaming mode): 64 MiB. */
#define HTTP_CLIENT_MAX_BODY_DEFAULT ((size_t)64 << 20)

/* TLS settings for https:// URLs. All paths are PEM files; NULL means "not set". */
typedef struct {
    const char *ca_file;   /* CA bundle that signs the server; NULL: the system store */
    const char *cert_file; /* client certificate (mutual TLS), or NULL */
    const char *key_file;  /* its private key, or NULL */
    int insecure;          /* 1: do not verify the server's certificate or name (default 0:
                              verify both; never turn this on implicitly) */
} http_tls_t;

/* One response header as received (name as the server spelled it, value trimmed). */
typedef struct {
    char *name;
    char *value;
} http_header_t;

typedef struct {
    long status;             /* HTTP status, 0 when no response was received */
    char *body;              /* NUL-terminated (for convenience; may contain NULs), never NULL
                                when status != 0; empty in streaming mode. A callback may take
                                ownership by setting body = NULL (then free() it itself). */
    size_t len;              /* body length without the terminating NUL */
    http_header_t *headers;  /* headers of the final response (after 100-continue) */
    size_t nheaders;
    int curl_code;           /* CURLcode; 0 (CURLE_OK) when the transfer completed */
    char error[256];         /* "" when curl_code == 0, else curl's detailed message, e.g.
                                "Failed to connect to 127.0.0.1 port 1: Connection refused";
                                also set for body_too_large and aborts from on_data */
    int timed_out;           /* 1 when the per-request timeout fired */
    int body_too_large;      /* 1 when the body passed max_body (transfer aborted) */
    uint64_t elapsed_ms;     /* from send to completion, loop time */
} http_response_t;

/* Streaming mode: called for every chunk of body bytes as it arrives (chunk boundaries are
 * arbitrary: split lines yourself). Return 0 to continue, non-zero to abort the transfer (the
 * call then completes with an error "aborted by on_data"). The body is not buffered. May call
 * http_call_cancel(call) (then return value is ignored and on_response is not called). */
typedef int (*http_on_data_cb)(http_call_t *call, const char *buf, size_t len, void *data);

/* Completion: called once per call that was not cancelled. resp is owned by the client and
 * valid only during the callback (steal resp->body by setting it to NULL). */
typedef void (*http_on_response_cb)(http_call_t *call, http_response_t *resp, void *data);

typedef struct {
    const char *method;          /* "GET" when NULL; "PUT", "POST", "DELETE", ... */
    const char *url;             /* http://host:port/path?query or https://...; for a unix
                                    socket use http://localhost/path (host is only the Host:) */
    const char *const *headers;  /* NULL-terminated list of "Name: value" lines, or NULL */
    const char *body;            /* request body (copied) or NULL */
    size_t body_len;
    long timeout_ms;             /* whole-request timeout; 0 = none (event streams) */
    long connect_timeout_ms;     /* 0 = libcurl's default (300 s); set it for local daemons */
    const char *unix_socket;     /* path of a unix-domain socket to connect to, or NULL */
    http_tls_t tls;              /* used for https:// URLs */
    size_t max_body;             /* buffered body cap; 0 = HTTP_CLIENT_MAX_BODY_DEFAULT */
    http_on_data_cb on_data;     /* non-NULL: streaming mode (see above) */
} http_request_t;

/* Creates a client on loop. NULL on allocation or libcurl init failure. */
http_client_t *http_client_new(uv_loop_t *loop);
/* Cancels everything in flight (no callbacks) and releases the client (see lifetime rules). */
void http_client_free(http_client_t *c);

/* Starts a request. Returns its handle, or NULL when the request is invalid (no URL) or out
 * of memory; then on_response is NOT called. The transfer starts on the next loop iteration,
 * never inside this call, so on_response never runs before send has returned. */
http_call_t *http_client_send(http_client_t *c, const http_request_t *req,
                              http_on_response_cb on_response, void *data);

/* Stops a call: its socket use ends, on_response is never called, the handle is released.
 * Safe from any callback, including the call's own on_data. Must not be used on a handle
 * whose on_response has already returned. */
void http_call_cancel(http_call_t *call);

/* Caps simultaneous connections to one host (0, the default: no cap). Requests beyond the cap
 * wait in libcurl's queue until a connection frees up; with long-polls that can be a whole
 * wait period, so use it only to stay under a server's per-client limit (Consul: 200). */
void http_client_set_max_host_connections(http_client_t *c, long n);

/* The loop the client runs on (for timers of modules built on it). */
uv_loop_t *http_client_loop(const http_client_t *c);

/* Number of calls in flight (for tests and metrics). */
size_t http_client_active(const http_client_t *c);
/* Connections opened so far (libcurl CURLINFO_NUM_CONNECTS summed): lets tests prove keep-alive
 * reuse (N sequential requests to one host -> 1 connection). */
uint64_t http_client_connects(const http_client_t *c);

/* The HTTP stack this binary runs on, as libcurl reports it ("libcurl/7.88.1 OpenSSL/3.0.17
 * zlib/1.2.13"): -version prints it, so an operator can tell the lean static agent from one
 * linked against the system libcurl. A static string; needs no client. */
const char *http_client_library(void);

/* First header named name (ASCII case-insensitive), or NULL. */
const char *http_response_header(const http_response_t *r, const char *name);

/* Percent-encodes s for use in a URL path segment or query value (RFC 3986 unreserved kept).
 * Returns a malloc'd string (free it) or NULL on allocation failure. */
char *http_escape(const char *s);

#endif
