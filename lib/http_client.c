/* http_client.c: libcurl's multi interface driven by a libuv loop.
 *
 * The standard "multi_socket" pattern: curl tells us which sockets to watch (socket callback ->
 * one uv_poll_t per socket) and when to wake it (timer callback -> one uv_timer_t); we tell curl
 * what happened with curl_multi_socket_action, then collect finished transfers with
 * curl_multi_info_read. All transfers share the multi handle's connection cache, which is what
 * gives keep-alive reuse across requests to the same host (tcp or unix socket).
 *
 * Re-entrancy: libcurl forbids adding or removing an easy handle from inside one of its callbacks
 * (CURLM_RECURSIVE_API_CALL). A send or a cancel that arrives while curl is running (in_curl > 0:
 * inside a write/header callback, e.g. an on_data that starts an inspect for the event it just
 * got) only marks the call; the add or removal happens right after curl returns (run_deferred).
 * Completed calls are removed from the multi handle before on_response runs, so on_response may
 * start new requests or cancel other ones freely. */
#include "http_client.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

struct http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    http_call_t *calls;     /* doubly linked list of calls in flight */
    size_t active;
    uint64_t connects;
    int in_curl;            /* depth of curl_multi_socket_action calls on the stack */
    int deferred;           /* calls sent or cancelled while in_curl, awaiting add/removal */
    int closing;
};

struct http_call {
    http_client_t *c;
    http_call_t *prev, *next;
    CURL *easy;
    struct curl_slist *req_headers;
    http_on_response_cb on_response;
    http_on_data_cb on_data;
    void *data;
    size_t max_body;
    char *buf;
    size_t len, cap;
    http_header_t *headers;
    size_t nheaders, hcap;
    long status;            /* from the latest status line */
    int cancelled;          /* no callbacks; remove at the next safe point */
    int pending_add;        /* sent while curl was running: add to the multi handle later */
    int fail_add;           /* that later add failed: complete with an error */
    int aborted;            /* on_data asked to stop */
    int too_large;
    int in_response;        /* inside on_response: cancel is a no-op */
    uint64_t start_ns;
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
    http_client_t *c;
} sock_ctx_t;

static void check_multi_info(http_client_t *c);

/* ---- call bookkeeping ---- */

static void headers_clear(http_call_t *call)
{
    for (size_t i = 0; i < call->nheaders; i++) {
        free(call->headers[i].name);
        free(call->headers[i].value);
    }
    call->nheaders = 0;
}

static void call_destroy(http_call_t *call)
{
    http_client_t *c = call->c;
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    c->active--;
    if (call->easy) {
        curl_multi_remove_handle(c->multi, call->easy);
        curl_easy_cleanup(call->easy);
    }
    curl_slist_free_all(call->req_headers);
    headers_clear(call);
    free(call->headers);
    free(call->buf);
    free(call);
}

static void run_deferred(http_client_t *c)
{
    if (!c->deferred || c->in_curl)
        return;
    c->deferred = 0;
    http_call_t *call = c->calls;
    while (call) {
        http_call_t *next = call->next;
        if (call->cancelled && !call->in_response) {
            call_destroy(call);
        } else if (call->pending_add) {
            call->pending_add = 0;
            if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK) {
                /* cannot happen outside callbacks; fail the call rather than lose it silently */
                snprintf(call->errbuf, sizeof call->errbuf, "could not start the transfer");
                call->fail_add = 1;
                c->deferred = 1;
            }
        }
        call = next;
    }
}

/* ---- libcurl callbacks ---- */

static size_t on_curl_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_call_t *call = userdata;
    size_t n = size * nmemb;
    if (call->cancelled)
        return 0;
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        /* a new response (100 Continue, then the final one): keep only the last set */
        headers_clear(call);
        const char *sp = memchr(ptr, ' ', n);
        call->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return n;
    }
    const char *colon = memchr(ptr, ':', n);
    if (!colon || colon == ptr)
        return n; /* blank line at the end of the headers, or junk */
    size_t nlen = (size_t)(colon - ptr);
    const char *v = colon + 1, *end = ptr + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (call->nheaders == call->hcap) {
        size_t ncap = call->hcap ? call->hcap * 2 : 16;
        if (ncap > 1024)
            return n; /* a server sending > 1024 headers gets the first 1024 kept */
        http_header_t *nh = realloc(call->headers, ncap * sizeof *nh);
        if (!nh)
            return 0;
        call->headers = nh;
        call->hcap = ncap;
    }
    char *name = strndup(ptr, nlen), *value = strndup(v, (size_t)(end - v));
    if (!name || !value) {
        free(name);
        free(value);
        return 0;
    }
    call->headers[call->nheaders].name = name;
    call->headers[call->nheaders].value = value;
    call->nheaders++;
    return n;
}

static int buf_append(http_call_t *call, const char *p, size_t n)
{
    if (call->len + n > call->max_body) {
        call->too_large = 1;
        return -1;
    }
    if (call->len + n + 1 > call->cap) {
        size_t ncap = call->cap ? call->cap : 1024;
        while (ncap < call->len + n + 1)
            ncap *= 2;
        char *nb = realloc(call->buf, ncap);
        if (!nb)
            return -1;
        call->buf = nb;
        call->cap = ncap;
    }
    memcpy(call->buf + call->len, p, n);
    call->len += n;
    call->buf[call->len] = '\0';
    return 0;
}

static size_t on_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_call_t *call = userdata;
    size_t n = size * nmemb;
    if (call->cancelled || call->aborted)
        return 0;
    /* streaming mode streams successful bodies only; an error status keeps its (small) body
     * buffered so on_response can report what the server said */
    if (call->on_data && call->status < 300) {
        if (call->on_data(call, ptr, n, call->data) != 0) {
            if (!call->cancelled)
                call->aborted = 1;
            return 0;
        }
        return call->cancelled ? 0 : n;
    }
    if (buf_append(call, ptr, n) != 0)
        return 0;
    return n;
}

/* ---- libuv <-> libcurl glue ---- */

static void on_sock_closed(uv_handle_t *h) { free(h->data); }

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx_t *ctx = h->data;
    http_client_t *c = ctx->c;
    int flags = 0;
    if (status < 0)
        /* let curl read or write and meet the socket error itself: it then reports the real
         * cause ("Connection reset by peer") instead of "select/poll returned error" */
        flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running = 0;
    c->in_curl++;
    curl_multi_socket_action(c->multi, ctx->fd, flags, &running);
    c->in_curl--;
    check_multi_info(c);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    http_client_t *c = userp;
    sock_ctx_t *ctx = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ctx) {
            uv_poll_stop(&ctx->poll);
            uv_close((uv_handle_t *)&ctx->poll, on_sock_closed);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            return -1;
        ctx->fd = s;
        ctx->c = c;
        if (uv_poll_init_socket(c->loop, &ctx->poll, s) != 0) {
            free(ctx);
            return -1;
        }
        ctx->poll.data = ctx;
        curl_multi_assign(c->multi, s, ctx);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&ctx->poll, ev, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    http_client_t *c = t->data;
    int running = 0;
    c->in_curl++;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    c->in_curl--;
    check_multi_info(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    http_client_t *c = userp;
    if (c->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static void finish(http_client_t *c, http_call_t *call, CURLcode code)
{
    long nconn = 0;
    curl_easy_getinfo(call->easy, CURLINFO_NUM_CONNECTS, &nconn);
    if (nconn > 0)
        c->connects += (uint64_t)nconn;
    curl_multi_remove_handle(c->multi, call->easy);
    curl_easy_cleanup(call->easy);
    call->easy = NULL;
    if (call->cancelled) {
        call_destroy(call);
        return;
    }

    http_response_t r;
    memset(&r, 0, sizeof r);
    r.curl_code = (int)code;
    r.status = call->status;
    if (code == CURLE_OK && r.status == 0)
        r.status = 200; /* cannot happen for HTTP, but never report success without a status */
    r.headers = call->headers;
    r.nheaders = call->nheaders;
    r.elapsed_ms = (uv_hrtime() - call->start_ns) / 1000000u;
    if (call->too_large) {
        r.body_too_large = 1;
        snprintf(r.error, sizeof r.error, "response body larger than %zu bytes", call->max_body);
    } else if (call->aborted) {
        snprintf(r.error, sizeof r.error, "aborted by on_data");
    } else if (code != CURLE_OK) {
        r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
        snprintf(r.error, sizeof r.error, "%s", call->errbuf[0] ? call->errbuf : curl_easy_strerror(code));
    }
    if (code != CURLE_OK && r.curl_code == 0)
        r.curl_code = (int)code;
    if (!call->buf)
        call->buf = calloc(1, 1);
    r.body = call->buf;
    r.len = call->buf ? call->len : 0;
    if (!r.body)
        r.body = "";

    call->in_response = 1;
    call->on_response(call, &r, call->data);
    call->in_response = 0;
    if (r.body != call->buf)
        call->buf = NULL; /* the callback took it */
    call_destroy(call);
}

static void fail_unadded(http_client_t *c)
{
    for (;;) {
        http_call_t *call = c->calls;
        while (call && !call->fail_add)
            call = call->next;
        if (!call)
            return;
        call->fail_add = 0;
        finish(c, call, CURLE_FAILED_INIT);
    }
}

static void check_multi_info(http_client_t *c)
{
    if (c->in_curl)
        return;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        http_call_t *call = NULL;
        CURLcode code = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        if (call)
            finish(c, call, code);
    }
    run_deferred(c);
    fail_unadded(c);
}

/* ---- public API ---- */

static int curl_inited;

http_client_t *http_client_new(uv_loop_t *loop)
{
    if (!curl_inited) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        curl_inited = 1;
    }
    http_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    /* libcurl (7.88) opens the multi handle's wake-up socketpair without close-on-exec, and no
     * option reaches it: every descriptor that appears during curl_multi_init is curl's (the
     * daemons are single-threaded), so mark those. Other sockets: on_curl_open_socket. */
    enum { FD_SCAN = 4096 };
    static unsigned char before[FD_SCAN / 8];
    memset(before, 0, sizeof before);
    for (int fd = 0; fd < FD_SCAN; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            before[fd / 8] |= (unsigned char)(1u << (fd % 8));
    c->multi = curl_multi_init();
    for (int fd = 0; fd < FD_SCAN; fd++) {
        int fl;
        if (!(before[fd / 8] & (1u << (fd % 8))) && (fl = fcntl(fd, F_GETFD)) != -1)
            fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    }
    if (!c->multi) {
        free(c);
        return NULL;
    }
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* many long-polls stay open at once; keep enough idle connections for reuse */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 64L);
    return c;
}

static void on_client_closed(uv_handle_t *h) { free(h->data); }

void http_client_free(http_client_t *c)
{
    if (!c)
        return;
    while (c->calls) {
        c->calls->cancelled = 1;
        call_destroy(c->calls);
    }
    /* cleanup closes cached connections, which reports CURL_POLL_REMOVE for their sockets */
    curl_multi_cleanup(c->multi);
    c->closing = 1;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_client_closed);
}

void http_client_set_max_host_connections(http_client_t *c, long n)
{
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n > 0 ? n : 0L);
}

const char *http_client_library(void) { return curl_version(); }
uv_loop_t *http_client_loop(const http_client_t *c) { return c->loop; }
size_t http_client_active(const http_client_t *c) { return c->active; }
uint64_t http_client_connects(const http_client_t *c) { return c->connects; }

/* Every socket libcurl opens is close-on-exec from its first instant (SOCK_CLOEXEC at creation,
 * no window before an fcntl): the templater spawns HAProxy and commands, which must never
 * inherit a Consul or Docker connection (an inherited socket keeps the peer's connection open
 * in CLOSE-WAIT after we close ours). The one place the daemons' HTTP sockets are created. */
static curl_socket_t on_curl_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)clientp;
    (void)purpose;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

http_call_t *http_client_send(http_client_t *c, const http_request_t *req,
                              http_on_response_cb on_response, void *data)
{
    if (!c || c->closing || !req || !req->url || !on_response)
        return NULL;
    http_call_t *call = calloc(1, sizeof *call);
    if (!call)
        return NULL;
    call->c = c;
    call->on_response = on_response;
    call->on_data = req->on_data;
    call->data = data;
    call->max_body = req->max_body ? req->max_body : HTTP_CLIENT_MAX_BODY_DEFAULT;
    call->start_ns = uv_hrtime();
    CURL *e = call->easy = curl_easy_init();
    if (!e) {
        free(call);
        return NULL;
    }
    const char *method = req->method ? req->method : "GET";
    int ok = 1;
#define SET(opt, val) ok &= curl_easy_setopt(e, opt, val) == CURLE_OK
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PRIVATE, call);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, call->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_curl_write);
    SET(CURLOPT_WRITEDATA, call);
    SET(CURLOPT_HEADERFUNCTION, on_curl_header);
    SET(CURLOPT_HEADERDATA, call);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_curl_open_socket);
    SET(CURLOPT_PATH_AS_IS, 1L);            /* callers escape their paths: send them as built */
    SET(CURLOPT_PROXY, "");                 /* never a proxy: we talk to local daemons */
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_NODELAY, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (req->timeout_ms > 0)
        SET(CURLOPT_TIMEOUT_MS, req->timeout_ms);
    if (req->connect_timeout_ms > 0)
        SET(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    if (req->unix_socket)
        SET(CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
    if (req->tls.ca_file)
        SET(CURLOPT_CAINFO, req->tls.ca_file);
    if (req->tls.cert_file)
        SET(CURLOPT_SSLCERT, req->tls.cert_file);
    if (req->tls.key_file)
        SET(CURLOPT_SSLKEY, req->tls.key_file);
    SET(CURLOPT_SSL_VERIFYPEER, req->tls.insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, req->tls.insecure ? 0L : 2L);

    if (strcmp(method, "GET") == 0 && !req->body) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
            /* PUT/POST always carry a body, even an empty one (Content-Length: 0) */
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
            SET(CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
        } else if (req->body) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            SET(CURLOPT_COPYPOSTFIELDS, req->body);
        }
        SET(CURLOPT_CUSTOMREQUEST, method);
    }
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (!h)
        ok = 0;
    for (const char *const *p = req->headers; ok && p && *p; p++) {
        struct curl_slist *nh = curl_slist_append(h, *p);
        if (!nh)
            ok = 0;
        else
            h = nh;
    }
    call->req_headers = h;
    SET(CURLOPT_HTTPHEADER, h);
#undef SET
    if (!ok) {
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        free(call);
        return NULL;
    }
    if (c->in_curl) {
        /* inside a curl callback (e.g. on_data): libcurl refuses add_handle here */
        call->pending_add = 1;
        c->deferred = 1;
    } else if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        free(call);
        return NULL;
    }
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    c->active++;
    return call;
}

void http_call_cancel(http_call_t *call)
{
    if (!call || call->cancelled)
        return;
    call->cancelled = 1;
    if (call->in_response)
        return; /* finish() destroys it after the callback */
    http_client_t *c = call->c;
    if (c->in_curl) {
        c->deferred = 1; /* removed once curl has returned */
        return;
    }
    call_destroy(call);
}

const char *http_response_header(const http_response_t *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

char *http_escape(const char *s)
{
    if (!s)
        return NULL;
    /* libcurl ignores the handle argument of curl_easy_escape since 7.82 */
    char *t = curl_easy_escape(NULL, s, (int)strlen(s));
    if (!t)
        return NULL;
    char *r = strdup(t);
    curl_free(t);
    return r;
}
