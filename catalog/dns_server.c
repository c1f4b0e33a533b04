/* dns_server.c: see dns_server.h. Answer order comes from OpenSSL's RAND_bytes, drawn in
 * blocks so a query costs no system call. */
#include "dns_server.h"
#include "hostport.h"
#include "log.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DNS_TCP_MAX_CONNS 256
#define DNS_TCP_IDLE_MS 10000

typedef struct tcp_conn {
    uv_tcp_t h;
    uv_timer_t idle;
    struct tcp_conn *prev, *next;
    dns_server_t *srv;
    uint8_t *buf; size_t len;
    int closing, handles;
} tcp_conn_t;

struct dns_server {
    uv_loop_t *loop;
    const catalog_store_t *store;
    dns_config_t cfg;
    char domain[256];
    uv_udp_t udp;
    uv_tcp_t tcp;
    int handles;                  /* open handles of the server itself */
    int closing;
    tcp_conn_t *conns;
    size_t nconns;
    uint8_t rbuf[65536];
    uint32_t rnd[64];
    size_t nrnd;
};

static uint32_t next_rand(void *ctx)
{
    dns_server_t *d = ctx;
    if (d->nrnd == 0) {
        if (RAND_bytes((unsigned char *)d->rnd, sizeof d->rnd) != 1)
            for (size_t i = 0; i < 64; i++) d->rnd[i] = (uint32_t)rand();
        d->nrnd = 64;
    }
    return d->rnd[--d->nrnd];
}

static int answer(dns_server_t *d, const uint8_t *w, size_t len, int tcp, uint8_t **out, size_t *outlen)
{
    dns_query_t q = {.wire = w, .len = len, .tcp = tcp, .now_s = (uint32_t)time(NULL), .rand = next_rand,
                     .rand_ctx = d};
    return dns_answer(&d->cfg, d->store, &q, out, outlen);
}

static void maybe_free(dns_server_t *d)
{
    if (d->closing && d->handles == 0 && d->nconns == 0) free(d);
}

/* ---- UDP ---- */

typedef struct { uv_udp_send_t req; uint8_t *data; } udp_send_t;

static void on_udp_sent(uv_udp_send_t *req, int status)
{
    (void)status;
    udp_send_t *s = (udp_send_t *)req;
    free(s->data);
    free(s);
}

static void on_udp_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)sz;
    dns_server_t *d = h->data;
    *buf = uv_buf_init((char *)d->rbuf, sizeof d->rbuf);
}

static void on_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags)
{
    dns_server_t *d = h->data;
    if (n <= 0 || !from || (flags & UV_UDP_PARTIAL)) return;
    uint8_t *out;
    size_t len;
    if (answer(d, (const uint8_t *)buf->base, (size_t)n, 0, &out, &len) < 0) return;
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)len);
    if (uv_udp_try_send(h, &b, 1, from) == (int)len) {
        free(out);
        return;
    }
    udp_send_t *s = malloc(sizeof *s);
    if (!s) {
        free(out);
        return;
    }
    s->data = out;
    if (uv_udp_send(&s->req, h, &b, 1, from, on_udp_sent) != 0) {
        free(out);
        free(s);
    }
}

/* ---- TCP ---- */

static void on_conn_handle_closed(uv_handle_t *h)
{
    tcp_conn_t *c = h->data;
    if (--c->handles > 0) return;
    dns_server_t *d = c->srv;
    if (c->prev) c->prev->next = c->next;
    else d->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    d->nconns--;
    free(c->buf);
    free(c);
    maybe_free(d);
}

static void conn_close(tcp_conn_t *c)
{
    if (c->closing) return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->h, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_conn_handle_closed);
}

static void on_idle(uv_timer_t *t) { conn_close(t->data); }

typedef struct { uv_write_t req; uint8_t *data; } tcp_write_t;

static void on_tcp_written(uv_write_t *req, int status)
{
    tcp_write_t *w = (tcp_write_t *)req;
    tcp_conn_t *c = req->handle->data;
    free(w->data);
    free(w);
    if (status < 0) conn_close(c);
}

static void on_tcp_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)sz;
    tcp_conn_t *c = h->data;
    *buf = uv_buf_init((char *)c->srv->rbuf, sizeof c->srv->rbuf);
}

static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    tcp_conn_t *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (n == 0) return;
    uint8_t *nb = realloc(c->buf, c->len + (size_t)n);
    if (!nb) {
        conn_close(c);
        return;
    }
    c->buf = nb;
    memcpy(c->buf + c->len, buf->base, (size_t)n);
    c->len += (size_t)n;
    uv_timer_again(&c->idle);
    while (c->len >= 2) {
        size_t ml = (size_t)c->buf[0] << 8 | c->buf[1];
        if (ml == 0) {
            conn_close(c);
            return;
        }
        if (c->len < 2 + ml) break;
        uint8_t *out;
        size_t len;
        if (answer(c->srv, c->buf + 2, ml, 1, &out, &len) == 0) {
            tcp_write_t *w = malloc(sizeof *w);
            uint8_t *data = malloc(len + 2);
            if (!w || !data || len > 65535) {
                free(w);
                free(data);
                free(out);
                conn_close(c);
                return;
            }
            data[0] = (uint8_t)(len >> 8);
            data[1] = (uint8_t)len;
            memcpy(data + 2, out, len);
            free(out);
            w->data = data;
            uv_buf_t b = uv_buf_init((char *)data, (unsigned)(len + 2));
            if (uv_write(&w->req, s, &b, 1, on_tcp_written) != 0) {
                free(data);
                free(w);
                conn_close(c);
                return;
            }
        }
        memmove(c->buf, c->buf + 2 + ml, c->len - 2 - ml);
        c->len -= 2 + ml;
    }
}

static void on_tcp_connection(uv_stream_t *lsn, int status)
{
    dns_server_t *d = lsn->data;
    if (status < 0 || d->closing) return;
    tcp_conn_t *c = calloc(1, sizeof *c);
    if (!c) return;
    c->srv = d;
    uv_tcp_init(d->loop, &c->h);
    uv_timer_init(d->loop, &c->idle);
    c->h.data = c->idle.data = c;
    c->handles = 2;
    c->next = d->conns;
    if (d->conns) d->conns->prev = c;
    d->conns = c;
    d->nconns++;
    if (uv_accept(lsn, (uv_stream_t *)&c->h) != 0 || d->nconns > DNS_TCP_MAX_CONNS) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->idle, on_idle, DNS_TCP_IDLE_MS, DNS_TCP_IDLE_MS);
    uv_read_start((uv_stream_t *)&c->h, on_tcp_alloc, on_tcp_read);
}

/* ---- life cycle ---- */

static void on_server_handle_closed(uv_handle_t *h)
{
    dns_server_t *d = h->data;
    d->handles--;
    maybe_free(d);
}

dns_server_t *dns_server_new(uv_loop_t *loop, const catalog_store_t *store, const dns_config_t *cfg,
                             const char *addr, char *err, size_t errlen)
{
    char host[256];
    int port;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (hostport_parse(addr, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "dns listen %s: expected host:port, [v6]:port or :port", addr);
        return NULL;
    }
    if (host[0] == '\0') {
        uv_ip6_addr("::", port, (struct sockaddr_in6 *)&ss);
    } else if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
               uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "dns listen %s: the host must be an IP address", addr);
        return NULL;
    }
    dns_server_t *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "dns listen %s: out of memory", addr);
        return NULL;
    }
    d->loop = loop;
    d->store = store;
    d->cfg = *cfg;
    snprintf(d->domain, sizeof d->domain, "%s", cfg->domain ? cfg->domain : "consul");
    d->cfg.domain = d->domain;
    uv_udp_init(loop, &d->udp);
    uv_tcp_init(loop, &d->tcp);
    d->udp.data = d->tcp.data = d;
    d->handles = 2;
    int rc = uv_udp_bind(&d->udp, (struct sockaddr *)&ss, 0);
    if (rc == 0) {
        /* TCP on the port UDP got (which matters with port 0) */
        struct sockaddr_storage got;
        int gl = sizeof got;
        if ((rc = uv_udp_getsockname(&d->udp, (struct sockaddr *)&got, &gl)) == 0 &&
            (rc = uv_tcp_bind(&d->tcp, (struct sockaddr *)&got, 0)) == 0 &&
            (rc = uv_listen((uv_stream_t *)&d->tcp, 128, on_tcp_connection)) == 0)
            rc = uv_udp_recv_start(&d->udp, on_udp_alloc, on_udp_recv);
    }
    if (rc != 0) {
        snprintf(err, errlen, "dns listen %s: %s", addr, uv_strerror(rc));
        dns_server_close(d);
        return NULL;
    }
    return d;
}

int dns_server_port(const dns_server_t *d)
{
    struct sockaddr_storage got;
    int gl = sizeof got;
    if (!d || uv_udp_getsockname(&d->udp, (struct sockaddr *)&got, &gl) != 0) return -1;
    if (got.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&got)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&got)->sin6_port);
}

void dns_server_close(dns_server_t *d)
{
    if (!d || d->closing) return;
    d->closing = 1;
    for (tcp_conn_t *c = d->conns; c; c = c->next) conn_close(c);
    uv_close((uv_handle_t *)&d->udp, on_server_handle_closed);
    uv_close((uv_handle_t *)&d->tcp, on_server_handle_closed);
}
