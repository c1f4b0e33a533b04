/* http_server_request.c: the HTTP server's requests: bytes -> exchange with nodejs http-parser,
 * one request after the other, and what a handler can read of a request.
 *
 * Owns: the parser callbacks and their settings, the request side of the connection's one
 * exchange (target, headers, body, decoded path and query, all in buffers reused from request
 * to request), the pause/resume of the parser around an asynchronous answer, and the bytes
 * received meanwhile (conn->pend) until they are parsed.
 * Promises: the handler runs once per complete request, and only for one within the limits:
 * request line + headers over max_header -> 431, a body (declared or received) over max_body ->
 * 413, a malformed request or target -> 400, a Transfer-Encoding other than one plain "chunked"
 * -> 501, all answered through http_server_send_error before
 * any handler sees them. Requests are parsed strictly in order: after an asynchronous answer the
 * rest of pend is parsed from the server's idle handle, never from inside the answering call.
 * Path and query are percent-decoded (a bad escape or %00 in the path is a 400; a bad query pair
 * is dropped, like Go's URL.Query()); header values lose trailing blanks; "Expect: 100-continue"
 * gets its interim answer.
 * Never: interprets paths or bodies beyond decoding, reads a socket (bytes arrive through
 * http_server_conn_feed), or keeps anything of a request once the next one begins.
 */
#include "http_server_internal.h"
#include "log.h"

#include <stdio.h>
#include <strings.h>

/* ---------- the exchange's request side ---------- */
void http_server_exchange_reset(struct http_exchange *x) {
    x->state = X_IDLE;
    x->abort_cb = NULL;
    x->abort_data = NULL;
    x->method = NULL;
    x->keep_alive = 0;
    x->is_head = 0;
    x->raw_chunks = 0;
    buf_reset(&x->url);
    buf_reset(&x->hbuf);
    x->nhdr = 0;
    x->last_was_value = 0;
    buf_reset(&x->body);
    buf_reset(&x->sbuf);
    x->nq = 0;
    x->dpath_off = 0;
    buf_reset(&x->rhdr);
}

void http_server_exchange_free(struct http_exchange *x) {
    buf_free(&x->url);
    buf_free(&x->hbuf);
    buf_free(&x->body);
    buf_free(&x->sbuf);
    buf_free(&x->rhdr);
    free(x->hdrs);
    free(x->qs);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Appends the percent-decoding of s[0..n) plus a NUL. Returns -1 on a bad escape or %00. */
static int pct_decode(buf_t *out, const char *s, size_t n, int plus_space) {
    if (buf_reserve(out, n + 1) < 0) return -1;
    char *d = out->p + out->len;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n) return -1;
            int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            ch = (char)(hi * 16 + lo);
            if (ch == '\0') return -1;
            i += 2;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        }
        *d++ = ch;
    }
    *d++ = '\0';
    out->len = (size_t)(d - out->p);
    return 0;
}

static int add_kv(kv_t **arr, size_t *n, size_t *cap, size_t name, size_t value) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        kv_t *na = realloc(*arr, nc * sizeof *na);
        if (!na) return -1;
        *arr = na;
        *cap = nc;
    }
    (*arr)[*n].name = name;
    (*arr)[*n].value = value;
    (*n)++;
    return 0;
}

/* Splits the request target into raw path, decoded path and decoded query pairs.
 * Returns 0, or -1 for a target that is not acceptable (400). */
static int x_parse_target(struct http_exchange *x) {
    const char *u = x->url.p ? x->url.p : "";
    size_t ulen = x->url.len;
    const char *path = u;
    size_t plen;
    const char *query = NULL;
    size_t qlen = 0;
    if (ulen == 0) return -1;
    if (u[0] != '/') {
        if (ulen == 1 && u[0] == '*') {
            path = u;
            plen = 1;
            goto split_done;
        }
        /* absolute-form (proxies) */
        struct http_parser_url pu;
        http_parser_url_init(&pu);
        if (http_parser_parse_url(u, ulen, 0, &pu) != 0) return -1;
        if (pu.field_set & (1 << UF_PATH)) {
            path = u + pu.field_data[UF_PATH].off;
            plen = pu.field_data[UF_PATH].len;
        } else {
            path = "/";
            plen = 1;
        }
        if (pu.field_set & (1 << UF_QUERY)) {
            query = u + pu.field_data[UF_QUERY].off;
            qlen = pu.field_data[UF_QUERY].len;
        }
        goto split_done;
    }
    {
        const char *q = memchr(u, '?', ulen);
        const char *h = memchr(u, '#', ulen);
        const char *end = u + ulen;
        if (h && (!q || h < q)) {
            plen = (size_t)(h - u);
        } else if (q) {
            plen = (size_t)(q - u);
            query = q + 1;
            qlen = (size_t)((h ? h : end) - query);
        } else {
            plen = ulen;
        }
    }
split_done:
    x->sbuf.len = 0;
    if (buf_add(&x->sbuf, path, plen) < 0 || buf_addc(&x->sbuf, '\0') < 0) return -1;
    x->dpath_off = x->sbuf.len;
    if (pct_decode(&x->sbuf, path, plen, 0) < 0) return -1;
    x->nq = 0;
    size_t i = 0;
    while (query && i < qlen) {
        const char *seg = query + i;
        const char *amp = memchr(seg, '&', qlen - i);
        size_t slen = amp ? (size_t)(amp - seg) : qlen - i;
        i += slen + 1;
        if (slen == 0) continue;
        const char *eq = memchr(seg, '=', slen);
        size_t nlen = eq ? (size_t)(eq - seg) : slen;
        size_t save = x->sbuf.len;
        size_t noff = x->sbuf.len;
        if (pct_decode(&x->sbuf, seg, nlen, 1) < 0) { /* like Go's URL.Query(): drop bad pairs */
            x->sbuf.len = save;
            continue;
        }
        size_t voff = x->sbuf.len;
        int r = eq ? pct_decode(&x->sbuf, eq + 1, slen - nlen - 1, 1) : buf_addc(&x->sbuf, '\0');
        if (r < 0) {
            x->sbuf.len = save;
            continue;
        }
        if (add_kv(&x->qs, &x->nq, &x->qcap, noff, voff) < 0) return -1;
    }
    return 0;
}

/* ---------- parser callbacks ---------- */
static int fail(conn_t *c, int status) {
    c->err_status = status;
    return -1;
}

static int count_header(conn_t *c, size_t n) {
    c->header_bytes += n;
    return c->header_bytes > c->srv->opts.max_header ? fail(c, 431) : 0;
}

static int on_message_begin(http_parser *p) {
    conn_t *c = p->data;
    http_server_exchange_reset(&c->x);
    c->x.state = X_PARSING;
    c->header_bytes = 0;
    c->err_status = 0;
    http_server_conn_timer(c, T_HEADER);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
    conn_t *c = p->data;
    if (count_header(c, len)) return -1;
    return buf_add(&c->x.url, at, len) < 0 ? fail(c, 500) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
    conn_t *c = p->data;
    struct http_exchange *x = &c->x;
    if (count_header(c, len)) return -1;
    if (x->nhdr == 0 || x->last_was_value) {
        if (x->nhdr > 0 && buf_addc(&x->hbuf, '\0') < 0) return fail(c, 500);
        if (count_header(c, 4)) return -1; /* ": " and CRLF */
        if (add_kv(&x->hdrs, &x->nhdr, &x->hdrcap, x->hbuf.len, (size_t)-1) < 0) return fail(c, 500);
        x->last_was_value = 0;
    }
    return buf_add(&x->hbuf, at, len) < 0 ? fail(c, 500) : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
    conn_t *c = p->data;
    struct http_exchange *x = &c->x;
    if (count_header(c, len)) return -1;
    if (x->nhdr == 0) return fail(c, 400);
    if (!x->last_was_value) {
        if (buf_addc(&x->hbuf, '\0') < 0) return fail(c, 500);
        x->hdrs[x->nhdr - 1].value = x->hbuf.len;
        x->last_was_value = 1;
    }
    return buf_add(&x->hbuf, at, len) < 0 ? fail(c, 500) : 0;
}

/* Transfer-Encoding: absent, or exactly one field whose whole value is "chunked" (any case).
 * "gzip, chunked", "chunked, chunked" or two fields are codings the server does not implement:
 * 501, as Go's net/http (and so Consul) answers, rather than a body decoded as plain chunks. */
static int te_acceptable(const struct http_exchange *x) {
    int seen = 0;
    for (size_t k = 0; k < x->nhdr; k++) {
        if (strcasecmp(x->hbuf.p + x->hdrs[k].name, "Transfer-Encoding") != 0) continue;
        if (seen++) return 0;
        const char *v = x->hdrs[k].value == (size_t)-1 ? "" : x->hbuf.p + x->hdrs[k].value;
        while (*v == ' ' || *v == '\t') v++; /* leading OWS; trailing OWS is already gone */
        if (strcasecmp(v, "chunked") != 0) return 0;
    }
    return 1;
}

static int on_headers_complete(http_parser *p) {
    conn_t *c = p->data;
    struct http_exchange *x = &c->x;
    http_server_t *srv = c->srv;
    if (count_header(c, 16)) return -1; /* request line overhead */
    if (x->nhdr > 0) {
        if (!x->last_was_value) { /* a name without a value: the parser allows "Name:" */
            if (buf_addc(&x->hbuf, '\0') < 0) return fail(c, 500);
            x->hdrs[x->nhdr - 1].value = x->hbuf.len;
        }
        if (buf_addc(&x->hbuf, '\0') < 0) return fail(c, 500);
        for (size_t k = 0; k < x->nhdr; k++) { /* trailing OWS is not part of the value */
            if (x->hdrs[k].value == (size_t)-1) continue;
            char *v = x->hbuf.p + x->hdrs[k].value;
            size_t n = strlen(v);
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) v[--n] = '\0';
        }
    }
    if (!te_acceptable(x)) return fail(c, 501);
    x->method = http_method_str((enum http_method)p->method);
    x->is_head = p->method == HTTP_HEAD;
    x->http_major = p->http_major;
    x->http_minor = p->http_minor;
    x->keep_alive = http_should_keep_alive(p) && !p->upgrade && !srv->closing;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > srv->opts.max_body) return fail(c, 413);
    int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
    if (has_body && (p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1))) {
        const char *e = http_exchange_header(x, "Expect");
        if (e && strcasecmp(e, "100-continue") == 0) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
            http_server_conn_send(c, &b, 1);
        }
    }
    http_server_conn_timer(c, T_BODY);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
    conn_t *c = p->data;
    if (c->x.body.len + len > c->srv->opts.max_body) return fail(c, 413);
    return buf_add(&c->x.body, at, len) < 0 ? fail(c, 500) : 0;
}

static int on_message_complete(http_parser *p) {
    conn_t *c = p->data;
    struct http_exchange *x = &c->x;
    if (x_parse_target(x) < 0) return fail(c, 400);
    x->state = X_DISPATCHED;
    http_server_conn_timer(c, T_NONE);
    c->in_dispatch = 1;
    c->srv->handler(x, c->srv->data);
    c->in_dispatch = 0;
    if (c->closing || c->lingering) {
        http_parser_pause(p, 1); /* stop here; nothing more will be read */
        return 0;
    }
    if (x->state == X_DISPATCHED || x->state == X_CHUNKED) {
        c->paused = 1;
        http_parser_pause(p, 1);
    }
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---------- feeding the parser ---------- */

/* Parses data[0..len). Bytes left over because the parser paused on a pending exchange end up
 * in c->pend (data may itself be c->pend's buffer). */
void http_server_conn_feed(conn_t *c, const char *data, size_t len, int from_pend) {
    size_t n = http_parser_execute(&c->parser, &parser_settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->closing || c->lingering) {
        if (from_pend) c->pend.len = 0;
        return;
    }
    if (e == HPE_PAUSED) {
        size_t rest = len - n;
        if (from_pend) {
            memmove(c->pend.p, data + n, rest);
            c->pend.len = rest;
        } else if (rest > 0) {
            if (buf_add(&c->pend, data + n, rest) < 0) http_server_conn_close_now(c);
        }
        return;
    }
    if (from_pend) c->pend.len = 0;
    if (e != HPE_OK) {
        int status = c->err_status ? c->err_status : 400;
        if (e == HPE_HEADER_OVERFLOW) status = 431;
        log_debug("http_server: %s: %s -> %d", c->peer, http_errno_description(e), status);
        http_server_send_error(c, status);
        return;
    }
    if (n < len && c->parser.upgrade) {
        /* bytes after an upgrade request: we do not upgrade; the answer closed or closes */
        return;
    }
}

void http_server_conn_feed_pend(conn_t *c) {
    if (c->pend.len == 0 || c->paused || c->closing || c->lingering) return;
    http_server_conn_feed(c, c->pend.p, c->pend.len, 1);
}

/* The server's idle handle: parses what connections that got their answer have in pend. */
static void on_resume(uv_idle_t *idle) {
    http_server_t *srv = idle->data;
    /* take the list: resumed connections may queue themselves again */
    link_t work;
    link_init(&work);
    if (!link_empty(&srv->resume)) {
        work.next = srv->resume.next;
        work.prev = srv->resume.prev;
        work.next->prev = &work;
        work.prev->next = &work;
        link_init(&srv->resume);
    }
    while (!link_empty(&work)) {
        conn_t *c = CONTAINER(work.next, conn_t, resume_node);
        link_del(&c->resume_node);
        http_server_conn_feed_pend(c);
        if (!c->closing && !c->lingering && !c->paused && !c->reading) http_server_conn_start_read(c);
    }
    if (link_empty(&srv->resume)) uv_idle_stop(&srv->idle);
}

void http_server_conn_resume(conn_t *c) {
    if (c->paused) {
        c->paused = 0;
        http_parser_pause(&c->parser, 0);
    }
    if (c->pend.len > 0 && c->has_handles) {
        if (link_empty(&c->resume_node)) {
            link_push(&c->srv->resume, &c->resume_node);
            uv_idle_start(&c->srv->idle, on_resume);
        }
    }
    if (!c->reading) http_server_conn_start_read(c);
}

/* ---------- request accessors ---------- */
const char *http_exchange_method(const http_exchange_t *x) { return x->method ? x->method : ""; }

const char *http_exchange_path(const http_exchange_t *x) { return x->sbuf.p ? x->sbuf.p + x->dpath_off : ""; }

const char *http_exchange_raw_path(const http_exchange_t *x) { return x->sbuf.p ? x->sbuf.p : ""; }

const char *http_exchange_query_nth(const http_exchange_t *x, const char *name, size_t i) {
    for (size_t k = 0; k < x->nq; k++) {
        if (strcmp(x->sbuf.p + x->qs[k].name, name) != 0) continue;
        if (i-- == 0) return x->sbuf.p + x->qs[k].value;
    }
    return NULL;
}

const char *http_exchange_query(const http_exchange_t *x, const char *name) {
    return http_exchange_query_nth(x, name, 0);
}

int http_exchange_query_has(const http_exchange_t *x, const char *name) {
    return http_exchange_query_nth(x, name, 0) != NULL;
}

const char *http_exchange_header(const http_exchange_t *x, const char *name) {
    for (size_t k = 0; k < x->nhdr; k++) {
        if (x->hdrs[k].value == (size_t)-1) continue;
        if (strcasecmp(x->hbuf.p + x->hdrs[k].name, name) == 0) return x->hbuf.p + x->hdrs[k].value;
    }
    return NULL;
}

const char *http_exchange_body(const http_exchange_t *x, size_t *len) {
    if (len) *len = x->body.len;
    return x->body.p ? x->body.p : "";
}

const char *http_exchange_peer(const http_exchange_t *x) { return x->conn ? x->conn->peer : ""; }

const char *http_exchange_peer_cn(const http_exchange_t *x) {
    if (!x->conn || !x->conn->ssl || !x->conn->peer_cn[0]) return NULL;
    return x->conn->peer_cn;
}

int http_exchange_is_tls(const http_exchange_t *x) { return x->conn && x->conn->ssl != NULL; }
