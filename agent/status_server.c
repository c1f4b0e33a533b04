/* status_server.c: see status_server.h. */
#include "status_server.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQUEST 8192

struct status_server {
    uv_tcp_t tcp;
    uv_loop_t *loop;
    status_handler_cb handler;
    void *data;
    struct conn *conns;
    int closing;
};

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    status_server_t *s;
    http_parser parser;
    char url[1024];
    size_t url_len;
    size_t total;
    int done;
    int handles; /* open handles (tcp, timer) */
    struct conn *next, **pprev;
} conn_t;

typedef struct {
    uv_write_t w;
    char *buf;
} wreq_t;

static void on_conn_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (--c->handles == 0)
        free(c);
}

static void conn_close(conn_t *c)
{
    if (c->pprev) {
        *c->pprev = c->next;
        if (c->next)
            c->next->pprev = c->pprev;
        c->pprev = NULL;
    }
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void on_written(uv_write_t *w, int status)
{
    wreq_t *r = (wreq_t *)w;
    conn_t *c = w->handle->data;
    free(r->buf);
    free(r);
    (void)status;
    conn_close(c);
}

static void respond(conn_t *c, int status, const char *ctype, const char *body, size_t len, int head)
{
    const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : status == 405 ? "Method Not Allowed"
                       : status == 503 ? "Service Unavailable" : "Bad Request";
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      status, reason, ctype, len);
    size_t total = (size_t)hl + (head ? 0 : len);
    wreq_t *r = calloc(1, sizeof *r);
    char *buf = malloc(total);
    if (!r || !buf) {
        free(r);
        free(buf);
        conn_close(c);
        return;
    }
    memcpy(buf, hdr, (size_t)hl);
    if (!head && len)
        memcpy(buf + hl, body, len);
    r->buf = buf;
    uv_buf_t b = uv_buf_init(buf, (unsigned)total);
    if (uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        free(buf);
        free(r);
        conn_close(c);
    }
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->url_len + len >= sizeof c->url)
        return 1;
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    c->url[c->url_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    c->done = 1;
    int head = p->method == HTTP_HEAD;
    if (p->method != HTTP_GET && !head) {
        respond(c, 405, "text/plain", "method not allowed\n", 19, 0);
        return 1;
    }
    char *q = strchr(c->url, '?');
    if (q)
        *q = '\0';
    char *body = NULL;
    size_t len = 0;
    const char *ctype = "text/plain";
    int status = c->s->handler(c->url, &body, &len, &ctype, c->s->data);
    respond(c, status, ctype, body ? body : "", body ? len : 0, head);
    free(body);
    return 1; /* stop parsing: one request per connection */
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char slab[4096];
    buf->base = slab;
    buf->len = sizeof slab;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    conn_t *c = stream->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (n == 0 || c->done)
        return;
    c->total += (size_t)n;
    size_t parsed = http_parser_execute(&c->parser, &settings, buf->base, (size_t)n);
    if (c->done) {
        uv_read_stop(stream);
        return;
    }
    if (parsed != (size_t)n || c->total > MAX_REQUEST) {
        c->done = 1;
        uv_read_stop(stream);
        respond(c, 400, "text/plain", "bad request\n", 12, 0);
    }
}

static void on_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_connection(uv_stream_t *server, int status)
{
    status_server_t *s = server->data;
    if (status < 0 || s->closing)
        return;
    conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->s = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->handles = 2;
    c->tcp.data = c->timer.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->pprev = &c->next;
    s->conns = c;
    c->pprev = &s->conns;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    uv_timer_start(&c->timer, on_timeout, 10000, 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

status_server_t *status_server_new(uv_loop_t *loop, const char *listen, status_handler_cb handler,
                                   void *data, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1]) {
        snprintf(err, errlen, "-listen \"%s\": want host:port", listen);
        return NULL;
    }
    size_t hl = (size_t)(colon - listen);
    const char *h = listen;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']')
        h++, hl -= 2;
    if (hl >= sizeof host) {
        snprintf(err, errlen, "-listen \"%s\": host too long", listen);
        return NULL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        snprintf(err, errlen, "-listen \"%s\": bad port", listen);
        return NULL;
    }
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "-listen \"%s\": host must be an IP address", listen);
        return NULL;
    }
    status_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->handler = handler;
    s->data = data;
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    int rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->tcp, 64, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "-listen %s: %s", listen, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->tcp, (uv_close_cb)free);
        return NULL;
    }
    return s;
}

void status_server_free(status_server_t *s)
{
    if (!s)
        return;
    s->closing = 1;
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->tcp, (uv_close_cb)free);
}
