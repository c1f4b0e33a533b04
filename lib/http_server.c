/* http_server.c: an HTTP/1.1 server on libuv (TCP and unix sockets) with nodejs http-parser.
 *
 * Owns: the listener, every connection (conn_t: stream + timer + parser + reusable buffers) and
 * the one exchange a connection has at a time, which is embedded in it.
 *
 * Design. A connection parses requests strictly one after the other: when a request is
 * complete its handler runs; if the handler answered synchronously the parser goes on with
 * the next pipelined request in the same buffer, otherwise the parser is paused
 * (http_parser_pause) and every byte that arrives meanwhile is appended to conn->pend. Reading
 * goes on while paused (so a client that goes away is noticed and the pending exchange is
 * aborted) until pend holds PEND_CAP bytes. When the asynchronous answer comes, parsing of pend
 * resumes from a server-wide idle handle, never from inside http_exchange_respond(), so user
 * code is never re-entered from its own call. Answers are therefore in request order by
 * construction, and one exchange per connection is enough: it lives inside the connection and
 * its buffers (url, headers, body, decoded path and query, response headers) are reused.
 *
 * Output goes through http_server_conn_send(): uv_try_write first (no allocation when the
 * kernel takes everything, the common case), the rest copied into one block for uv_write. A
 * client that pipelines without reading stops being read while more than WQ_HIGH bytes are
 * queued for it, and is dropped past WQ_MAX, so its answers cannot grow memory without bound.
 * Connections that must close after an answer are shut down (FIN after the queued writes) and
 * then drained for a short linger time, so that the client reads the answer (a 413 / 431 / 429 /
 * 400) instead of a reset caused by its own unread bytes.
 *
 * Lifetime. A connection is closed through one path (http_server_conn_close_now: uv_close of
 * stream and timer); it is freed in the last close callback, after libuv has cancelled its
 * writes, and that is where a still pending exchange has its abort callback called (once).
 * Between a socket error and that callback, respond()/chunk_*() are accepted and discarded, and
 * the exchange is then finished, not aborted.
 *
 * http_server_run_buffer() drives the very same conn_t and parser callbacks with a fake
 * connection whose output is a buffer and which has no handles and no timers.
 *
 * TLS (optional, http_server_set_tls). OpenSSL never touches the socket: a connection has an SSL
 * with two memory BIOs. Bytes read from the socket go into the read BIO, SSL_do_handshake /
 * SSL_read turn them into plaintext that takes exactly the path plain bytes take
 * (http_server_conn_on_plain); http_server_conn_send() SSL_writes into the write BIO
 * (http_server_tls_send) and what it holds goes out through the plain output path
 * (http_server_conn_send_raw). So timeouts, limits, backpressure and pipelining behave the same
 * with and without TLS. With a client CA, a peer without a certificate signed by it fails the
 * handshake and is closed before any request is parsed.
 *
 * The types and the functions the parts share are in http_server_internal.h.
 *
 * Never: interprets paths or bodies beyond decoding, blocks the loop (except the optional name
 * lookup in http_server_listen at start-up), or calls a handler for a request over the limits.
 */
#include "http_server_internal.h"
#include "log.h"

#include <errno.h>
#include <http_parser.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LINGER_MS 2000
#define PEND_CAP (256 * 1024)
#define WQ_HIGH (1024 * 1024)        /* queued output above which reading pauses */
#define WQ_MAX (64 * 1024 * 1024)    /* queued output above which the client is dropped */

/* ---------- output ---------- */
typedef struct {
    uv_write_t req;
    conn_t *conn;
    size_t len;
    char data[];
} wreq_t;

static void on_write(uv_write_t *req, int status) {
    wreq_t *w = CONTAINER(req, wreq_t, req);
    conn_t *c = w->conn;
    free(w);
    if (c->closing) return;
    if (status < 0 && status != UV_ECANCELED) {
        log_debug("http_server: write to %s: %s", c->peer, uv_strerror(status));
        http_server_conn_close_now(c);
        return;
    }
    if (c->wq_stopped && c->u.s.write_queue_size < WQ_HIGH / 2) {
        c->wq_stopped = 0;
        http_server_conn_start_read(c);
    }
}

/* Sends the iovecs in order (bytes as they go on the wire). On a dead or closing connection
 * the bytes are dropped. */
void http_server_conn_send_raw(conn_t *c, uv_buf_t *iov, unsigned n) {
    if (c->closing) return;
    if (!c->has_handles) {
        for (unsigned i = 0; i < n; i++) buf_add(c->srv->out, iov[i].base, iov[i].len);
        return;
    }
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) total += iov[i].len;
    if (total == 0) return;
    int r = uv_try_write(&c->u.s, iov, n);
    if (r < 0 && r != UV_EAGAIN && r != UV_ENOSYS) {
        log_debug("http_server: write to %s: %s", c->peer, uv_strerror(r));
        http_server_conn_close_now(c);
        return;
    }
    size_t done = r > 0 ? (size_t)r : 0;
    if (done >= total) return;
    wreq_t *w = malloc(sizeof *w + (total - done));
    if (!w) {
        log_error("http_server: out of memory writing to %s", c->peer);
        http_server_conn_close_now(c);
        return;
    }
    w->conn = c;
    w->len = 0;
    size_t skip = done;
    for (unsigned i = 0; i < n; i++) {
        size_t l = iov[i].len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(w->data + w->len, iov[i].base + skip, l - skip);
        w->len += l - skip;
        skip = 0;
    }
    uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
    r = uv_write(&w->req, &c->u.s, &b, 1, on_write);
    if (r < 0) {
        free(w);
        log_debug("http_server: write to %s: %s", c->peer, uv_strerror(r));
        http_server_conn_close_now(c);
        return;
    }
    if (c->u.s.write_queue_size > WQ_MAX) {
        log_warn("http_server: %s does not read its answers (%zu bytes queued); closing", c->peer,
                 c->u.s.write_queue_size);
        http_server_conn_close_now(c);
    }
}

/* Sends plaintext: as is, or encrypted on a TLS connection (dropped before the handshake is
 * done or after it failed, e.g. a 429 to a client that has not said hello yet). */
void http_server_conn_send(conn_t *c, uv_buf_t *iov, unsigned n) {
    if (c->closing || c->lingering) return;
    if (!c->ssl) {
        http_server_conn_send_raw(c, iov, n);
        return;
    }
    http_server_tls_send(c, iov, n);
}

/* ---------- timers ---------- */
static void on_timer(uv_timer_t *t) {
    conn_t *c = t->data;
    if (c->tmode == T_HEADER) log_debug("http_server: %s: header timeout", c->peer);
    else if (c->tmode == T_IDLE) log_debug("http_server: %s: idle timeout", c->peer);
    else if (c->tmode == T_BODY) log_debug("http_server: %s: body timeout", c->peer);
    c->tmode = T_NONE;
    http_server_conn_close_now(c);
}

void http_server_conn_timer(conn_t *c, tmode_t mode) {
    if (!c->has_handles || c->closing) return;
    if (c->tmode == mode && mode != T_IDLE) return;
    c->tmode = mode;
    uint64_t ms = 0;
    switch (mode) {
    case T_NONE: uv_timer_stop(&c->timer); return;
    case T_HEADER: ms = c->srv->opts.header_timeout_ms; break;
    case T_BODY: ms = c->srv->opts.idle_timeout_ms; break;
    case T_IDLE: ms = c->srv->opts.idle_timeout_ms; break;
    case T_LINGER: ms = LINGER_MS < c->srv->opts.header_timeout_ms ? LINGER_MS : c->srv->opts.header_timeout_ms; break;
    }
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* ---------- connections ---------- */
void http_server_conn_free(conn_t *c) {
    http_server_t *srv = c->srv;
    struct http_exchange *x = &c->x;
    if (x->state == X_DISPATCHED || x->state == X_CHUNKED) {
        http_exchange_abort_cb cb = x->abort_cb;
        void *d = x->abort_data;
        x->state = X_IDLE;
        x->abort_cb = NULL;
        if (cb) cb(x, d);
    }
    link_del(&c->node);
    link_del(&c->resume_node);
    if (c->counted) http_server_ip_release(srv, c->peer);
    srv->nconns--;
    http_server_exchange_free(x);
    buf_free(&c->pend);
    buf_free(&c->head);
    http_server_tls_conn_free(c);
    free(c);
}

static void on_conn_handle_closed(uv_handle_t *h) {
    conn_t *c = h->data;
    http_server_t *srv = c->srv;
    if (--c->handles_open == 0) http_server_conn_free(c);
    http_server_handle_closed(srv);
}

void http_server_conn_close_now(conn_t *c) {
    if (c->closing) return;
    c->closing = 1;
    link_del(&c->resume_node);
    if (!c->has_handles) return;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close(&c->u.h, on_conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    conn_t *c = req->data;
    if (c->closing) return;
    if (status < 0 || c->got_eof) http_server_conn_close_now(c);
}

/* No more requests: send what is queued, FIN, then drain the peer's bytes briefly. */
void http_server_conn_close_graceful(conn_t *c) {
    if (c->closing || c->lingering) return;
    c->lingering = 1;
    link_del(&c->resume_node);
    if (!c->has_handles) return;
    c->pend.len = 0;
    http_server_tls_close_notify(c);
    if (c->closing) return;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, &c->u.s, on_shutdown) < 0) {
        http_server_conn_close_now(c);
        return;
    }
    http_server_conn_timer(c, T_LINGER);
    if (!c->reading && !c->got_eof) http_server_conn_start_read(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    conn_t *c = h->data;
    *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    conn_t *c = s->data;
    if (c->closing) return;
    if (nread == 0) return;
    if (nread < 0) {
        if (nread != UV_EOF) log_debug("http_server: read from %s: %s", c->peer, uv_strerror((int)nread));
        c->got_eof = 1;
        uv_read_stop(s);
        c->reading = 0;
        if (c->lingering || nread != UV_EOF || c->paused) {
            http_server_conn_close_now(c); /* a pending exchange is aborted in the close callback */
            return;
        }
        http_server_conn_close_graceful(c);
        return;
    }
    if (c->lingering) return; /* draining */
    if (c->ssl) {
        http_server_tls_on_read(c, buf->base, (size_t)nread);
        return;
    }
    http_server_conn_on_plain(c, buf->base, (size_t)nread);
}

/* Request bytes (decrypted on TLS connections). */
void http_server_conn_on_plain(conn_t *c, const char *data, size_t nread) {
    uv_stream_t *s = &c->u.s;
    if (c->closing || c->lingering) return;
    if (c->paused || c->pend.len > 0) {
        if (buf_add(&c->pend, data, nread) < 0) {
            http_server_conn_close_now(c);
            return;
        }
        if (c->paused) {
            if (c->pend.len >= PEND_CAP && c->reading) {
                uv_read_stop(s);
                c->reading = 0;
            }
            return;
        }
        http_server_conn_feed_pend(c);
        return;
    }
    http_server_conn_feed(c, data, nread, 0);
    /* a client that pipelines without reading the answers: stop parsing ahead */
    if (!c->closing && c->reading && c->u.s.write_queue_size > WQ_HIGH) {
        uv_read_stop(s);
        c->reading = 0;
        c->wq_stopped = 1;
    }
}

void http_server_conn_start_read(conn_t *c) {
    if (c->closing || c->got_eof || c->reading) return;
    if (uv_read_start(&c->u.s, on_alloc, on_read) < 0) {
        http_server_conn_close_now(c);
        return;
    }
    c->reading = 1;
}

conn_t *http_server_conn_new(http_server_t *srv) {
    conn_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->srv = srv;
    link_init(&c->node);
    link_init(&c->resume_node);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->x.conn = c;
    link_push(&srv->conns, &c->node);
    srv->nconns++;
    return c;
}

static void peer_name(uv_tcp_t *tcp, char *out, size_t outlen) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(out, outlen, "unknown");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) return;
    if (ss.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&ss, out, outlen);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            struct sockaddr_in s4;
            memset(&s4, 0, sizeof s4);
            s4.sin_family = AF_INET;
            memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
            uv_ip4_name(&s4, out, outlen);
        } else {
            uv_ip6_name(s6, out, outlen);
        }
    }
}

void http_server_on_connection(uv_stream_t *lsn, int status) {
    http_server_t *srv = lsn->data;
    if (status < 0) {
        log_warn("http_server: accept: %s", uv_strerror(status));
        return;
    }
    if (srv->closing) return;
    conn_t *c = http_server_conn_new(srv);
    if (!c) {
        log_error("http_server: out of memory accepting a connection");
        return;
    }
    int is_pipe = lsn->type == UV_NAMED_PIPE;
    if (is_pipe) uv_pipe_init(srv->loop, &c->u.pipe, 0);
    else uv_tcp_init(srv->loop, &c->u.tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->u.h.data = c;
    c->timer.data = c;
    c->has_handles = 1;
    c->handles_open = 2;
    srv->handles_open += 2;
    if (uv_accept(lsn, &c->u.s) != 0) {
        http_server_conn_close_now(c);
        return;
    }
    if (is_pipe) {
        snprintf(c->peer, sizeof c->peer, "unix");
    } else {
        uv_tcp_nodelay(&c->u.tcp, 1);
        peer_name(&c->u.tcp, c->peer, sizeof c->peer);
        if (!http_server_ip_acquire(srv, c->peer)) {
            http_server_ip_refused(srv, c->peer);
            http_server_conn_start_read(c);
            http_server_send_error(c, 429);
            return;
        }
        c->counted = 1;
    }
    if (srv->tls && http_server_tls_conn_init(c) < 0) {
        http_server_conn_close_now(c);
        return;
    }
    http_server_conn_timer(c, T_HEADER);
    http_server_conn_start_read(c);
}

/* ---------- the server ---------- */

static http_server_t *server_alloc(const http_server_opts_t *opts, http_server_handler handler, void *data) {
    http_server_t *srv = calloc(1, sizeof *srv);
    if (!srv) return NULL;
    http_server_opts_defaults(&srv->opts, opts);
    if (srv->opts.server_name) srv->opts.server_name = strdup(srv->opts.server_name);
    srv->handler = handler;
    srv->data = data;
    srv->port = -1;
    link_init(&srv->conns);
    link_init(&srv->resume);
    return srv;
}

static void server_free(http_server_t *srv) {
    http_server_ips_free(srv);
    free((char *)srv->opts.server_name);
    free(srv->unix_path);
    http_server_tls_ctx_free(srv);
    free(srv);
}

http_server_t *http_server_new(uv_loop_t *loop, const http_server_opts_t *opts, http_server_handler handler,
                               void *data) {
    if (!loop || !handler) return NULL;
    /* a peer that resets must cost an EPIPE, not the process; keep a handler someone else set */
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
    http_server_t *srv = server_alloc(opts, handler, data);
    if (!srv) return NULL;
    srv->loop = loop;
    uv_idle_init(loop, &srv->idle);
    srv->idle.data = srv;
    srv->handles_open = 1;
    return srv;
}

static int parse_hostport(const char *addr, char *host, size_t hostlen, int *port) {
    const char *colon;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':') return -1;
        size_t n = (size_t)(rb - addr - 1);
        if (n >= hostlen) return -1;
        memcpy(host, addr + 1, n);
        host[n] = '\0';
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) return -1;
        size_t n = (size_t)(colon - addr);
        if (n >= hostlen) return -1;
        memcpy(host, addr, n);
        host[n] = '\0';
        if (strchr(host, ':')) return -1; /* bare IPv6 needs brackets */
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || errno || p < 0 || p > 65535) return -1;
    *port = (int)p;
    return 0;
}

static int listen_tcp(http_server_t *srv, const struct sockaddr *sa, char *err, size_t errlen, const char *addr) {
    srv->lsn = calloc(1, sizeof *srv->lsn);
    if (!srv->lsn) {
        snprintf(err, errlen, "listen %s: out of memory", addr);
        return -1;
    }
    uv_tcp_init(srv->loop, &srv->lsn->tcp);
    srv->lsn->h.data = srv;
    srv->handles_open++;
    srv->listening = 1;
    int r = uv_tcp_bind(&srv->lsn->tcp, sa, 0);
    if (r == 0) r = uv_listen(&srv->lsn->s, 1024, http_server_on_connection);
    if (r < 0) {
        snprintf(err, errlen, "listen %s: %s", addr, uv_strerror(r));
        return r;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&srv->lsn->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return 0;
}

static void on_listener_closed(uv_handle_t *h) {
    http_server_t *srv = h->data;
    free(h);
    http_server_handle_closed(srv);
}

static void listener_discard(http_server_t *srv) {
    if (!srv->listening) return;
    srv->listening = 0;
    srv->port = -1;
    uv_close(&srv->lsn->h, on_listener_closed);
    srv->lsn = NULL;
}

int http_server_listen(http_server_t *srv, const char *addr, char *err, size_t errlen) {
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!srv || !addr || !srv->loop || srv->closing) {
        snprintf(err, errlen, "listen: bad arguments");
        return -1;
    }
    if (srv->listening) {
        snprintf(err, errlen, "listen %s: already listening", addr);
        return -1;
    }
    if (strncmp(addr, "unix:", 5) == 0) {
        const char *path = addr + 5;
        if (!*path) {
            snprintf(err, errlen, "listen %s: empty socket path", addr);
            return -1;
        }
        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(err, errlen, "listen %s: socket path longer than %zu bytes", addr,
                     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
            return -1;
        }
        struct stat st;
        if (lstat(path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                snprintf(err, errlen, "listen %s: exists and is not a socket", addr);
                return -1;
            }
            unlink(path); /* a stale socket from an earlier run */
        }
        srv->lsn = calloc(1, sizeof *srv->lsn);
        if (!srv->lsn) {
            snprintf(err, errlen, "listen %s: out of memory", addr);
            return -1;
        }
        uv_pipe_init(srv->loop, &srv->lsn->pipe, 0);
        srv->lsn->h.data = srv;
        srv->handles_open++;
        srv->listening = 1;
        int r = uv_pipe_bind(&srv->lsn->pipe, path);
        if (r == 0) r = uv_listen(&srv->lsn->s, 1024, http_server_on_connection);
        if (r < 0) {
            snprintf(err, errlen, "listen %s: %s", addr, uv_strerror(r));
            listener_discard(srv);
            return -1;
        }
        srv->unix_path = strdup(path);
        return 0;
    }
    char host[256];
    int port;
    if (parse_hostport(addr, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "listen %s: expected host:port, [v6]:port, :port or unix:/path", addr);
        return -1;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (host[0] == '\0') {
        /* all addresses: IPv6 any (dual stack) where available, else IPv4 any */
        uv_ip6_addr("::", port, (struct sockaddr_in6 *)&ss);
        if (listen_tcp(srv, (struct sockaddr *)&ss, err, errlen, addr) == 0) return 0;
        listener_discard(srv);
        uv_ip4_addr("0.0.0.0", port, (struct sockaddr_in *)&ss);
    } else if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
               uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        int g = getaddrinfo(host, NULL, &hints, &res);
        if (g != 0 || !res) {
            snprintf(err, errlen, "listen %s: %s", addr, g ? gai_strerror(g) : "no address");
            return -1;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        if (ss.ss_family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        else ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        freeaddrinfo(res);
    }
    if (listen_tcp(srv, (struct sockaddr *)&ss, err, errlen, addr) < 0) {
        listener_discard(srv);
        return -1;
    }
    return 0;
}

int http_server_port(const http_server_t *srv) { return srv && srv->listening ? srv->port : -1; }

size_t http_server_connections(const http_server_t *srv) { return srv ? srv->nconns : 0; }

void http_server_handle_closed(http_server_t *srv) {
    if (--srv->handles_open > 0 || !srv->closing) return;
    if (srv->closed_cb) srv->closed_cb(srv, srv->closed_data);
    server_free(srv);
}

static void on_idle_closed(uv_handle_t *h) { http_server_handle_closed(h->data); }

void http_server_close(http_server_t *srv, http_server_closed_cb cb, void *data) {
    if (!srv || srv->closing) return;
    srv->closing = 1;
    srv->closed_cb = cb;
    srv->closed_data = data;
    if (srv->listening) {
        if (srv->unix_path) unlink(srv->unix_path);
        listener_discard(srv);
    }
    for (link_t *l = srv->conns.next; l != &srv->conns; l = l->next) http_server_conn_close_now(CONTAINER(l, conn_t, node));
    uv_close((uv_handle_t *)&srv->idle, on_idle_closed);
}

/* ---------- socket-free driver ---------- */

int http_server_run_buffer(const http_server_opts_t *opts, http_server_handler handler, void *data, const char *in,
                           size_t len, char **out, size_t *outlen) {
    if (!handler || !out || !outlen || (!in && len)) return -1;
    *out = NULL;
    *outlen = 0;
    http_server_t *srv = server_alloc(opts, handler, data);
    if (!srv) return -1;
    buf_t ob = {0};
    srv->out = &ob;
    conn_t *c = http_server_conn_new(srv);
    if (!c) {
        server_free(srv);
        return -1;
    }
    snprintf(c->peer, sizeof c->peer, "127.0.0.1");
    c->counted = 0;
    if (len) http_server_conn_feed(c, in, len, 0);
    /* the handler must answer synchronously; in run_buffer nobody can resume a paused parser */
    c->closing = 1;
    http_server_conn_free(c); /* aborts a pending exchange */
    server_free(srv);
    if (!ob.p) {
        ob.p = malloc(1);
        if (!ob.p) return -1;
        ob.p[0] = '\0';
    }
    *out = ob.p;
    *outlen = ob.len;
    return 0;
}
