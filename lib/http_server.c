/* http_server.c: an HTTP/1.1 server on libuv (TCP and unix sockets) with nodejs http-parser;
 * this file is the server itself (new, listen, close) and the overview of its parts.
 *
 * Owns: the http_server_t, its listener (TCP or unix socket, the socket file of the latter), its
 * idle handle, the list of its connections, and the count of its open handles that decides when
 * it is freed; http_server_run_buffer's fake server.
 * Promises: http_server_close stops accepting, closes every connection (pending exchanges are
 * aborted) and runs the closed callback once every handle is closed, then frees the server.
 * SIGPIPE is ignored unless someone set a handler for it.
 * Never: blocks the loop (except the optional name lookup in http_server_listen at start-up),
 * reads or writes a connection's socket (that is http_server_conn.c), interprets paths or bodies,
 * or calls a handler for a request over the limits.
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
 * The parts, each a file with its own opening comment (the types and the functions they share
 * are in http_server_internal.h):
 *   http_server_conn.c      a connection's life: accept, read, output, backpressure, timers, close
 *   http_server_request.c   request bytes -> exchange, with http-parser; pipelining; accessors
 *   http_server_response.c  status line and headers, Content-Length and chunked answers, keep-alive
 *   http_server_tls.c       HTTPS over memory BIOs (the only file that calls OpenSSL)
 *   http_server_limits.c    option defaults and the per-IP connection counts
 */
#include "http_server_internal.h"
#include "log.h"
#include "hostport.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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
    if (hostport_parse(addr, host, sizeof host, &port) < 0) {
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
