/* http_server_conn.c: the HTTP server's connections: accept, read, write, time out, close.
 *
 * Owns: each connection's libuv handles (the stream, TCP or unix socket, and its timer), its
 * write requests, its reading state and timeouts, its place in srv->conns, and its one path to
 * being freed.
 * Promises: a connection is closed through one path (http_server_conn_close_now: uv_close of
 * stream and timer) and freed in the last close callback, after libuv has cancelled its writes;
 * that is where a still pending exchange has its abort callback called, once. Output goes out
 * in order: uv_try_write first (no allocation when the kernel takes everything, the common
 * case), the rest copied into one block for uv_write. A client that pipelines without reading
 * stops being read while more than WQ_HIGH bytes are queued for it and is dropped past WQ_MAX;
 * while an answer is pending, reading goes on (so a client that leaves is noticed) until pend
 * holds PEND_CAP bytes. A client that does not finish its headers within header_timeout_ms, or
 * idles past idle_timeout_ms, is disconnected. A connection that must close after an answer is
 * shut down (FIN after the queued writes) and drained for a short linger time, so that its
 * client reads the answer (a 413 / 431 / 429 / 400) instead of a reset caused by its own unread
 * bytes. An address over max_conns_per_ip is answered 429 and closed.
 * Never: parses a request or builds an answer (bytes go to http_server_conn_feed and come from
 * http_server_response.c), calls OpenSSL (TLS connections go through http_server_tls_*), or
 * frees a connection whose handles are still open.
 */
#include "http_server_internal.h"
#include "log.h"

#include <stdio.h>
#include <sys/socket.h>

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
