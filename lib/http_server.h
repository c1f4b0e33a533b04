/* http_server.h: an HTTP/1.1 server on libuv with nodejs http-parser.
 *
 * Owns: the listening socket, every connection, and one http_exchange_t per request.
 * Promises: requests of one connection are answered in order (pipelining safe); keep-alive;
 * chunked request bodies are reassembled; limits are enforced before the handler runs:
 * header block > max_header -> 431, body > max_body -> 413, more than max_conns_per_ip open
 * connections from one address -> 429 and close; a client that does not finish its headers
 * within header_timeout_ms, or idles between requests past idle_timeout_ms, is disconnected.
 * Responses may be given later (asynchronous handlers, e.g. blocking queries): the handler
 * returns without answering and calls http_exchange_respond() from any later loop callback.
 * If the client goes away first, the exchange's abort callback runs and the exchange is gone.
 * Optional HTTPS (http_server_set_tls): OpenSSL over memory BIOs, so the same limits, timeouts
 * and ordering apply; with a client CA, a client without a certificate signed by it never gets
 * as far as a request.
 * Never: interprets paths or bodies (that is the handler's job), blocks the loop, or trusts a
 * length the client sent beyond the configured limits.
 */
#ifndef PORTOLAN_HTTP_SERVER_H
#define PORTOLAN_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_server http_server_t;
typedef struct http_exchange http_exchange_t;

typedef struct {
    size_t max_header;          /* bytes of request line + headers; default 64 KiB */
    size_t max_body;            /* default 512 KiB */
    unsigned max_conns_per_ip;  /* default 200 */
    uint64_t header_timeout_ms; /* default 10 s */
    uint64_t idle_timeout_ms;   /* keep-alive idle; default 120 s */
    const char *server_name;    /* optional Server: header; NULL = none */
} http_server_opts_t;

/* Runs once per complete request. The exchange stays valid until it is answered or aborted. */
typedef void (*http_server_handler)(http_exchange_t *x, void *data);
typedef void (*http_exchange_abort_cb)(http_exchange_t *x, void *data);
typedef void (*http_server_closed_cb)(http_server_t *srv, void *data);

/* opts may be NULL (defaults). */
http_server_t *http_server_new(uv_loop_t *loop, const http_server_opts_t *opts,
                               http_server_handler handler, void *data);
/* TLS: serve HTTPS on the next listen (call before http_server_listen, at most once). cert_file
 * is a PEM chain, key_file its key. client_ca_file NULL: no client certificates asked for;
 * otherwise every client must present a certificate signed by a CA in that PEM file or the
 * handshake fails (the connection is closed before any request is read). TLS 1.2 or newer.
 * Returns 0, or -1 with a message in err (unreadable file, key/cert mismatch). */
int http_server_set_tls(http_server_t *srv, const char *cert_file, const char *key_file,
                        const char *client_ca_file, char *err, size_t errlen);
/* addr: "127.0.0.1:8500", "0.0.0.0:80", "[::1]:8500", ":8500" (all addresses) or
 * "unix:/path/to/sock". Returns 0, or -1 with a message in err. */
int http_server_listen(http_server_t *srv, const char *addr, char *err, size_t errlen);
/* The bound port (useful with port 0), or -1. */
int http_server_port(const http_server_t *srv);
/* Stops accepting, aborts pending exchanges, closes connections; cb (may be NULL) runs when
 * every handle is closed, after which the server memory is freed. */
void http_server_close(http_server_t *srv, http_server_closed_cb cb, void *data);
/* Open connections right now (for metrics and tests). */
size_t http_server_connections(const http_server_t *srv);

/* ---- the request ---- */
const char *http_exchange_method(const http_exchange_t *x);   /* "GET" */
const char *http_exchange_path(const http_exchange_t *x);     /* percent-decoded, no query */
const char *http_exchange_raw_path(const http_exchange_t *x); /* as sent, no query */
/* Query parameters, percent-decoded ('+' is a space). A parameter given without a value
 * ("?recurse") has value "". Returns NULL when absent; the i-th occurrence for repeats. */
const char *http_exchange_query(const http_exchange_t *x, const char *name);
const char *http_exchange_query_nth(const http_exchange_t *x, const char *name, size_t i);
int http_exchange_query_has(const http_exchange_t *x, const char *name);
/* Header value by case-insensitive name, or NULL. */
const char *http_exchange_header(const http_exchange_t *x, const char *name);
const char *http_exchange_body(const http_exchange_t *x, size_t *len);
const char *http_exchange_peer(const http_exchange_t *x);     /* "127.0.0.1" */
/* TLS with client certificates: the verified client certificate's subject CN; else NULL. */
const char *http_exchange_peer_cn(const http_exchange_t *x);
int http_exchange_is_tls(const http_exchange_t *x);           /* 1 on an HTTPS connection */

/* ---- the response ---- */
/* Adds a response header (copied). Call before respond/chunk_start. */
void http_exchange_add_header(http_exchange_t *x, const char *name, const char *value);
/* Sends status + headers + body (copied) with Content-Length; the exchange is then gone. */
void http_exchange_respond(http_exchange_t *x, int status, const char *body, size_t len);
/* Chunked responses: start, any number of writes, end (the exchange is then gone). */
void http_exchange_chunk_start(http_exchange_t *x, int status);
void http_exchange_chunk_write(http_exchange_t *x, const char *buf, size_t len);
void http_exchange_chunk_end(http_exchange_t *x);
/* Called if the connection closes before the response is complete; NULL to clear. */
void http_exchange_on_abort(http_exchange_t *x, http_exchange_abort_cb cb, void *data);

/* Socket-free driver for unit tests and fuzzing: feeds `in` as the bytes of one connection,
 * runs the handler for each request (which must answer synchronously: exchanges still
 * pending at the end are aborted), and returns everything the server would have written in
 * *out (malloc'd; free it). Limits from opts apply, except the timeouts. */
int http_server_run_buffer(const http_server_opts_t *opts, http_server_handler handler, void *data,
                           const char *in, size_t len, char **out, size_t *outlen);

const char *http_status_text(int status);

#endif
