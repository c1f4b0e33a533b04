/* http_server_response.c: the HTTP server's answers: status line and headers, bodies with
 * Content-Length or chunked, and whether the connection stays open afterwards.
 *
 * Owns: the response head under construction (conn->head), the headers a handler adds
 * (x->rhdr), the state of an exchange once its handler runs (X_DISPATCHED -> X_CHUNKED ->
 * finished), and the error answers to requests no handler saw (http_server_send_error).
 * Promises: exactly one answer per exchange, through http_exchange_respond or chunk_start ...
 * chunk_end, checked: a second answer, or a chunk outside a chunked answer, is logged and
 * dropped. A status outside 100..999 becomes 500. HEAD answers and 1xx/204/304 carry no body;
 * an HTTP/1.0 client gets a chunked answer as plain bytes and the connection closes at its end;
 * "Connection: close" is sent when the connection will close (the client asked, or the server is
 * closing), "Connection: keep-alive" to an HTTP/1.0 client that keeps it. Header names and values
 * with CR, LF (or, in names, ':' and blanks) are refused, so no handler can split a response.
 * When the answer is complete (http_server_exchange_done) the connection closes gracefully or
 * waits for the next request.
 * Never: writes a socket itself (bytes go through http_server_conn_send), re-enters the parser or
 * a handler from inside an answer, or keeps a connection open after an error answer.
 */
#include "http_server_internal.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

const char *http_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: break;
    }
    if (status >= 100 && status < 200) return "Informational";
    if (status >= 200 && status < 300) return "Success";
    if (status >= 300 && status < 400) return "Redirection";
    if (status >= 400 && status < 500) return "Client Error";
    return "Server Error";
}

/* Called when the current exchange is fully answered. */
void http_server_exchange_done(conn_t *c) {
    struct http_exchange *x = &c->x;
    int keep = x->keep_alive && !x->raw_chunks && !c->srv->closing;
    http_server_exchange_reset(x);
    if (c->closing || c->lingering) return;
    if (!keep) {
        http_server_conn_close_graceful(c);
        return;
    }
    http_server_conn_timer(c, T_IDLE);
    if (c->in_dispatch) return; /* the running parser carries on by itself */
    http_server_conn_resume(c);
}

static int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if (b->p && b->len + (size_t)n < b->cap) {
        b->len += (size_t)n;
        return 0;
    }
    if (buf_reserve(b, (size_t)n) < 0) return -1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

static void build_head(conn_t *c, int status, const char *extra) {
    struct http_exchange *x = &c->x;
    buf_t *h = &c->head;
    h->len = 0;
    buf_printf(h, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    if (c->srv->opts.server_name) buf_printf(h, "Server: %s\r\n", c->srv->opts.server_name);
    if (x->rhdr.len) buf_add(h, x->rhdr.p, x->rhdr.len);
    if (extra) buf_add(h, extra, strlen(extra));
    if (!x->keep_alive || c->srv->closing)
        buf_add(h, "Connection: close\r\n", 19);
    else if (x->http_major == 1 && x->http_minor == 0)
        buf_add(h, "Connection: keep-alive\r\n", 24);
    buf_add(h, "\r\n", 2);
}

static int x_answerable(http_exchange_t *x, const char *what) {
    if (!x || !x->conn) return 0;
    if (x->state != X_DISPATCHED) {
        log_error("http_server: %s on an exchange that is not awaiting an answer", what);
        return 0;
    }
    return 1;
}

void http_exchange_respond(http_exchange_t *x, int status, const char *body, size_t len) {
    if (!x_answerable(x, "respond")) return;
    conn_t *c = x->conn;
    if (status < 100 || status > 999) {
        log_error("http_server: handler answered with status %d; sending 500", status);
        status = 500;
    }
    if (!body) len = 0;
    int no_body = status < 200 || status == 204 || status == 304;
    char cl[48];
    if (status < 200 || status == 204) cl[0] = '\0';
    else snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", no_body ? (size_t)0 : len);
    if (c->srv->closing) x->keep_alive = 0;
    build_head(c, status, cl);
    uv_buf_t iov[2];
    unsigned n = 0;
    iov[n++] = uv_buf_init(c->head.p, (unsigned)c->head.len);
    if (!no_body && !x->is_head && len > 0) iov[n++] = uv_buf_init((char *)body, (unsigned)len);
    http_server_conn_send(c, iov, n);
    http_server_exchange_done(c);
}

/* Answers a request the handler never saw (limits, malformed) and closes. */
void http_server_send_error(conn_t *c, int status) {
    struct http_exchange *x = &c->x;
    x->keep_alive = 0;
    buf_reset(&x->rhdr);
    char extra[64];
    const char *msg = http_status_text(status);
    snprintf(extra, sizeof extra, "Content-Type: text/plain\r\nContent-Length: %zu\r\n", strlen(msg) + 1);
    build_head(c, status, extra);
    uv_buf_t iov[3] = {uv_buf_init(c->head.p, (unsigned)c->head.len), uv_buf_init((char *)msg, (unsigned)strlen(msg)),
                       uv_buf_init("\n", 1)};
    http_server_conn_send(c, iov, 3);
    http_server_exchange_reset(x);
    http_server_conn_close_graceful(c);
}

void http_exchange_chunk_start(http_exchange_t *x, int status) {
    if (!x_answerable(x, "chunk_start")) return;
    conn_t *c = x->conn;
    if (status < 100 || status > 999) {
        log_error("http_server: handler answered with status %d; sending 500", status);
        status = 500;
    }
    if (c->srv->closing) x->keep_alive = 0;
    if (x->http_major == 1 && x->http_minor == 0) {
        x->raw_chunks = 1;
        x->keep_alive = 0;
        build_head(c, status, NULL);
    } else {
        build_head(c, status, "Transfer-Encoding: chunked\r\n");
    }
    uv_buf_t b = uv_buf_init(c->head.p, (unsigned)c->head.len);
    http_server_conn_send(c, &b, 1);
    x->state = X_CHUNKED;
}

void http_exchange_chunk_write(http_exchange_t *x, const char *buf, size_t len) {
    if (!x || !x->conn || x->state != X_CHUNKED) {
        log_error("http_server: chunk_write outside a chunked answer");
        return;
    }
    if (len == 0 || !buf || x->is_head) return;
    conn_t *c = x->conn;
    if (x->raw_chunks) {
        uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
        http_server_conn_send(c, &b, 1);
        return;
    }
    char sz[24];
    int n = snprintf(sz, sizeof sz, "%zx\r\n", len);
    uv_buf_t iov[3] = {uv_buf_init(sz, (unsigned)n), uv_buf_init((char *)buf, (unsigned)len), uv_buf_init("\r\n", 2)};
    http_server_conn_send(c, iov, 3);
}

void http_exchange_chunk_end(http_exchange_t *x) {
    if (!x || !x->conn || x->state != X_CHUNKED) {
        log_error("http_server: chunk_end outside a chunked answer");
        return;
    }
    conn_t *c = x->conn;
    if (!x->raw_chunks && !x->is_head) {
        uv_buf_t b = uv_buf_init("0\r\n\r\n", 5);
        http_server_conn_send(c, &b, 1);
    }
    http_server_exchange_done(c);
}

void http_exchange_add_header(http_exchange_t *x, const char *name, const char *value) {
    if (!x || !name || !value) return;
    if (x->state != X_DISPATCHED) {
        log_error("http_server: add_header after the answer started");
        return;
    }
    if (!*name || strpbrk(name, "\r\n: \t") || strpbrk(value, "\r\n")) {
        log_warn("http_server: refusing response header %s with forbidden characters", name);
        return;
    }
    buf_add(&x->rhdr, name, strlen(name));
    buf_add(&x->rhdr, ": ", 2);
    buf_add(&x->rhdr, value, strlen(value));
    buf_add(&x->rhdr, "\r\n", 2);
}

void http_exchange_on_abort(http_exchange_t *x, http_exchange_abort_cb cb, void *data) {
    if (!x) return;
    x->abort_cb = cb;
    x->abort_data = data;
}
