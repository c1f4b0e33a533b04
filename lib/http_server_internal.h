/* http_server_internal.h: what the files of the HTTP server share, and nothing else includes.
 *
 * Owns: the server's private types (http_server_t, conn_t, the exchange embedded in every
 * connection), two small helpers every file of the server uses (buf_t, a growable byte buffer,
 * and link_t, an intrusive list, both static inline so no symbol leaves the server's objects),
 * and the declarations of the functions one server file calls in another.
 *
 * Promises: every function declared here is named http_server_* (they are linker symbols of
 * libportolan.a, but not API: only lib/http_server*.c include this header). Where they live:
 *   http_server.c           the design overview; the server: new/close, listeners, run_buffer
 *   http_server_conn.c      a connection's life: accept, read, output, backpressure, timers, close
 *   http_server_request.c   request bytes -> exchange, with http-parser; pipelining; accessors
 *   http_server_response.c  status line and headers, Content-Length and chunked answers, keep-alive
 *   http_server_tls.c       HTTPS over memory BIOs (the only file that calls OpenSSL)
 *   http_server_limits.c    option defaults and the per-IP connection counts
 *
 * Never: declares anything a user of the server needs (that is http_server.h).
 */
#ifndef PORTOLAN_HTTP_SERVER_INTERNAL_H
#define PORTOLAN_HTTP_SERVER_INTERNAL_H

#include "http_server.h"

#include <http_parser.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define READ_BUF_SIZE (64 * 1024)
#define SHRINK_ABOVE (64 * 1024)

/* ---------- small growable buffer ---------- */
typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static inline int buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra + 1) ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np) return -1;
    b->p = np;
    b->cap = ncap;
    return 0;
}

static inline int buf_add(buf_t *b, const char *s, size_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static inline int buf_addc(buf_t *b, char c) { return buf_add(b, &c, 1); }

/* Keeps memory of long-lived idle connections small after a big request. */
static inline void buf_reset(buf_t *b) {
    if (b->cap > SHRINK_ABOVE) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
    b->len = 0;
}

static inline void buf_free(buf_t *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---------- intrusive doubly linked list ---------- */
typedef struct link {
    struct link *prev, *next;
} link_t;

static inline void link_init(link_t *l) { l->prev = l->next = l; }
static inline int link_empty(const link_t *l) { return l->next == l; }
static inline void link_push(link_t *head, link_t *l) {
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}
static inline void link_del(link_t *l) {
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}
#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ---------- types ---------- */
typedef struct conn conn_t;

typedef enum { X_IDLE = 0, X_PARSING, X_DISPATCHED, X_CHUNKED } xstate_t;
typedef enum { T_NONE = 0, T_HEADER, T_BODY, T_IDLE, T_LINGER } tmode_t;

typedef struct {
    size_t name, value; /* offsets */
} kv_t;

struct http_exchange {
    conn_t *conn;
    xstate_t state;
    const char *method;
    int http_major, http_minor;
    int keep_alive;
    int is_head;
    int raw_chunks; /* chunked answer to an HTTP/1.0 client: plain bytes, close at end */
    http_exchange_abort_cb abort_cb;
    void *abort_data;
    buf_t url;   /* raw request target */
    buf_t hbuf;  /* header names and values, NUL-terminated */
    kv_t *hdrs;
    size_t nhdr, hdrcap;
    int last_was_value;
    buf_t body;
    buf_t sbuf;  /* raw path \0 decoded path \0 then query name \0 value \0 ... */
    size_t dpath_off;
    kv_t *qs;
    size_t nq, qcap;
    buf_t rhdr;  /* response headers added by the handler */
};

struct conn {
    http_server_t *srv;
    link_t node;        /* in srv->conns */
    link_t resume_node; /* in srv->resume when pend must be parsed */
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    int has_handles; /* 0 in run_buffer mode */
    int handles_open;
    int closing;     /* uv_close called (or run_buffer: stop) */
    int lingering;   /* shutdown sent, draining */
    int got_eof;
    int reading;
    int wq_stopped;  /* reading paused until queued output drains */
    int paused;      /* parser paused on a pending exchange */
    int in_dispatch; /* handler running synchronously */
    int err_status;  /* set by a parser callback before it fails */
    int counted;     /* counted in the per-IP table */
    tmode_t tmode;
    size_t header_bytes;
    http_parser parser;
    buf_t pend;      /* received but not yet parsed */
    buf_t head;      /* response head under construction */
    char peer[64];
    SSL *ssl;        /* TLS mode: owns both memory BIOs */
    BIO *rbio, *wbio;
    int tls_dead;    /* handshake or record failed: no more TLS output */
    char peer_cn[256]; /* verified client certificate's subject CN, "" if none */
    struct http_exchange x;
};

struct http_server {
    uv_loop_t *loop; /* NULL in run_buffer mode */
    http_server_opts_t opts;
    http_server_handler handler;
    void *data;
    union lsn {
        uv_handle_t h;
        uv_stream_t s;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } *lsn; /* own allocation: a failed attempt is closed while the next one starts */
    int listening;
    int port;
    char *unix_path;
    uv_idle_t idle;
    link_t conns;
    link_t resume;
    size_t nconns;
    int closing;
    int handles_open;
    http_server_closed_cb closed_cb;
    void *closed_data;
    struct strmap *ips; /* peer address -> open connections (http_server_limits.c) */
    unsigned long refused;       /* 429s since the last log line */
    uint64_t refused_logged_at;  /* loop time of that line */
    buf_t *out; /* run_buffer mode output */
    SSL_CTX *tls; /* NULL: plain HTTP */
    char rbuf[READ_BUF_SIZE];
    char tbuf[16 * 1024]; /* decrypted bytes */
};

/* ---------- the server ---------- */
/* One of the server's handles (listener, idle, a connection's) finished closing; frees the
 * server after the last one once it is closing. */
void http_server_handle_closed(http_server_t *srv);

/* ---------- connections ---------- */
conn_t *http_server_conn_new(http_server_t *srv);
/* Frees at once (aborting a pending exchange); only from the last close callback or run_buffer. */
void http_server_conn_free(conn_t *c);
/* The one close path: uv_close of stream and timer. */
void http_server_conn_close_now(conn_t *c);
/* No more requests: send what is queued, FIN, then drain the peer's bytes briefly. */
void http_server_conn_close_graceful(conn_t *c);
void http_server_conn_start_read(conn_t *c);
/* Request bytes (decrypted on TLS connections). */
void http_server_conn_on_plain(conn_t *c, const char *data, size_t n);
/* Sends plaintext, encrypted on a TLS connection; dropped on a closing or lingering one. */
void http_server_conn_send(conn_t *c, uv_buf_t *iov, unsigned n);
/* Sends bytes as they go on the wire (TLS records included). */
void http_server_conn_send_raw(conn_t *c, uv_buf_t *iov, unsigned n);
void http_server_conn_timer(conn_t *c, tmode_t mode);
/* The listener's connection callback. */
void http_server_on_connection(uv_stream_t *lsn, int status);

/* ---------- requests ---------- */
void http_server_exchange_reset(struct http_exchange *x);
void http_server_exchange_free(struct http_exchange *x);
/* Parses data[0..len); bytes left because the parser paused end up in c->pend. */
void http_server_conn_feed(conn_t *c, const char *data, size_t len, int from_pend);
void http_server_conn_feed_pend(conn_t *c);
/* After an answer on a kept-alive connection: unpause the parser, have pend parsed from the
 * server's idle handle (never from inside the caller), read again. */
void http_server_conn_resume(conn_t *c);

/* ---------- responses ---------- */
/* Called when the current exchange is fully answered. */
void http_server_exchange_done(conn_t *c);
/* Answers a request the handler never saw (limits, malformed) and closes. */
void http_server_send_error(conn_t *c, int status);

/* ---------- TLS ---------- */
/* Sets up the connection's SSL; -1 (logged) when it cannot. */
int http_server_tls_conn_init(conn_t *c);
void http_server_tls_conn_free(conn_t *c);
void http_server_tls_ctx_free(http_server_t *srv);
/* Records from the socket: handshake first, then every plaintext byte to
 * http_server_conn_on_plain. */
void http_server_tls_on_read(conn_t *c, const char *data, size_t n);
/* Encrypts and sends plaintext (dropped before the handshake is done or after it failed). */
void http_server_tls_send(conn_t *c, uv_buf_t *iov, unsigned n);
/* close_notify before the FIN, when the session is up. */
void http_server_tls_close_notify(conn_t *c);

/* ---------- limits ---------- */
void http_server_opts_defaults(http_server_opts_t *o, const http_server_opts_t *in);
/* Non-zero if the address may open one more connection (and counts it), else 0. */
int http_server_ip_acquire(http_server_t *srv, const char *ip);
void http_server_ip_release(http_server_t *srv, const char *ip);
/* A connection over the per-IP limit: counted, logged at most once a second. */
void http_server_ip_refused(http_server_t *srv, const char *ip);
void http_server_ips_free(http_server_t *srv);

#endif
