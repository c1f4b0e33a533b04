/* docker_client.c: the Docker Engine API over lib/http_client.
 *
 * Two parts: API-version negotiation (the first versioned call triggers GET /version; calls made
 * meanwhile queue, oldest first, and are dispatched once it answers, or all fail with its error),
 * and the calls themselves, including the /events stream. The endpoint comes from
 * docker_endpoint.c, line splitting from docker_lines.c (both pure). Every failure is turned
 * into one message that names the endpoint and the likely fix (describe_error). */
#include "docker_client.h"
#include "cstr.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- client ---- */

struct docker_call {
    docker_client_t *dc;
    docker_call_t *prev, *next;
    char *method;
    char *path;              /* below the version prefix, with query */
    char *body;
    size_t body_len;
    int versioned;
    int ok304;
    int wake;                /* waiting on the negotiation that just finished */
    http_call_t *hc;         /* NULL while waiting for version negotiation */
    docker_on_result_cb cb;
    void *data;
    docker_events_t *ev;     /* set for the event stream */
    char url_path[64 + 4096]; /* the path as sent, for messages */
};

struct docker_events {
    docker_call_t *call;
    docker_on_event_cb on_event;
    docker_on_events_end_cb on_end;
    void *data;
    docker_lines_t lines;
    uint64_t count;
    int in_cb;
    int cancelled;
};

struct docker_client {
    http_client_t *http;
    docker_endpoint_t ep;
    char api[16];
    long timeout_ms;
    docker_call_t *calls;
    http_call_t *negotiating;
};

static void on_version_response(http_call_t *hc, http_response_t *r, void *data);

docker_client_t *docker_client_new(http_client_t *http, const docker_endpoint_t *ep)
{
    if (!http || !ep || !ep->base_url)
        return NULL;
    docker_client_t *dc = calloc(1, sizeof *dc);
    if (!dc)
        return NULL;
    dc->http = http;
    dc->timeout_ms = 30000;
    dc->ep.host = cstr_dup(ep->host ? ep->host : ep->base_url);
    dc->ep.unix_path = cstr_dup(ep->unix_path);
    dc->ep.base_url = cstr_dup(ep->base_url);
    dc->ep.tls = ep->tls;
    dc->ep.tls_verify = ep->tls_verify;
    dc->ep.ca_file = cstr_dup(ep->ca_file);
    dc->ep.cert_file = cstr_dup(ep->cert_file);
    dc->ep.key_file = cstr_dup(ep->key_file);
    if (!dc->ep.host || !dc->ep.base_url) {
        docker_endpoint_clear(&dc->ep);
        free(dc);
        return NULL;
    }
    return dc;
}

const char *docker_client_api_version(const docker_client_t *dc) { return dc->api[0] ? dc->api : NULL; }
const char *docker_client_host(const docker_client_t *dc) { return dc->ep.host; }
void docker_client_set_timeout(docker_client_t *dc, long timeout_ms) { dc->timeout_ms = timeout_ms; }

static void call_unlink_free(docker_call_t *call)
{
    docker_client_t *dc = call->dc;
    if (call->prev)
        call->prev->next = call->next;
    else if (dc->calls == call)
        dc->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    free(call->method);
    free(call->path);
    free(call->body);
    free(call);
}

static void events_free(docker_events_t *ev)
{
    docker_lines_free(&ev->lines);
    free(ev);
}

void docker_client_free(docker_client_t *dc)
{
    if (!dc)
        return;
    while (dc->calls) {
        docker_call_t *call = dc->calls;
        if (call->hc)
            http_call_cancel(call->hc);
        if (call->ev)
            events_free(call->ev);
        call_unlink_free(call);
    }
    if (dc->negotiating)
        http_call_cancel(dc->negotiating);
    docker_endpoint_clear(&dc->ep);
    free(dc);
}

/* Why connecting to a unix socket failed, from the file system's point of view (a local stat
 * on the error path only). */
static const char *unix_socket_problem(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == EACCES ? "permission denied on the socket's directory" : "no such socket";
    if (!S_ISSOCK(st.st_mode))
        return "not a socket";
    if (access(path, R_OK | W_OK) != 0)
        return "permission denied (run as root or join the docker group)";
    return "connection refused (nobody listens on the socket)";
}

/* The message for a failed request; buf gets "docker: ...". */
static void describe_error(const docker_client_t *dc, const docker_call_t *call,
                           const http_response_t *r, const char *what, char *buf, size_t len)
{
    const char *host = dc->ep.host;
    switch (r->curl_code) {
    case 0:
        break;
    case 6:  /* CURLE_COULDNT_RESOLVE_HOST */
    case 7:  /* CURLE_COULDNT_CONNECT */
        /* curl says "port 80" for unix sockets: say what is wrong with the socket instead */
        cstr_fmt(buf, len, "docker: cannot connect to %s: %s (is dockerd running? check DOCKER_HOST)", host,
             dc->ep.unix_path ? unix_socket_problem(dc->ep.unix_path) : r->error);
        return;
    case 60: /* CURLE_PEER_FAILED_VERIFICATION */
    case 77: /* CURLE_SSL_CACERT_BADFILE */
        cstr_fmt(buf, len, "docker: TLS handshake with %s failed: certificate verify failed (%s; check DOCKER_CERT_PATH ca.pem)", host, r->error);
        return;
    case 58: /* CURLE_SSL_CERTPROBLEM */
        cstr_fmt(buf, len, "docker: TLS client certificate for %s unusable: %s (check DOCKER_CERT_PATH cert.pem and key.pem)", host, r->error);
        return;
    case 35: /* CURLE_SSL_CONNECT_ERROR */
        cstr_fmt(buf, len, "docker: TLS handshake with %s failed: %s (does the daemon expect TLS, and accept DOCKER_CERT_PATH cert.pem?)", host, r->error);
        return;
    case 28: /* CURLE_OPERATION_TIMEDOUT */
        cstr_fmt(buf, len, "docker: %s %s on %s: timed out (%s)", call->method, call->url_path, host, r->error);
        return;
    default:
        cstr_fmt(buf, len, "docker: %s %s on %s: %s%s%s", call->method, call->url_path, host, what ? what : "", r->error,
             (!dc->ep.tls && !dc->ep.unix_path) ? " (if the daemon uses TLS, set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH)" : "");
        return;
    }
    /* an HTTP error: Docker answers {"message": "..."}; fall back to the raw body */
    const char *msg = NULL;
    json_t *j = r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    if (json_is_string(json_object_get(j, "message")))
        msg = json_string_value(json_object_get(j, "message"));
    char body[512];
    if (!msg) {
        size_t n = r->len < sizeof body - 1 ? r->len : sizeof body - 1;
        memcpy(body, r->body ? r->body : "", n);
        body[n] = '\0';
        while (n && (body[n - 1] == '\n' || body[n - 1] == '\r'))
            body[--n] = '\0';
        msg = body;
    }
    cstr_fmt(buf, len, "docker: %s %s: %ld %s%s", call->method, call->url_path, r->status, msg,
         (r->status == 400 && !dc->ep.tls && strstr(msg, "HTTPS")) ? " (set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH)" : "");
    json_decref(j);
}

static void on_call_response(http_call_t *hc, http_response_t *r, void *data)
{
    docker_call_t *call = data;
    docker_client_t *dc = call->dc;
    call->hc = NULL;
    int ok = r->curl_code == 0 && r->status >= 200 && (r->status < 300 || (call->ok304 && r->status == 304));
    char err[1024];
    json_t *j = NULL;
    if (!ok)
        describe_error(dc, call, r, NULL, err, sizeof err);
    else if (r->len)
        j = json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
    call->cb(dc, r->status, j, ok ? NULL : err, call->data);
    json_decref(j);
    call_unlink_free(call);
}

static int on_event_line(const char *line, size_t len, void *data)
{
    docker_events_t *ev = data;
    json_error_t jerr;
    json_t *j = json_loadb(line, len, 0, &jerr);
    if (!json_is_object(j)) {
        log_warn("docker: events: skipping a line that is not a JSON object (%s)", j ? "not an object" : jerr.text);
        json_decref(j);
        return 0;
    }
    ev->count++;
    ev->on_event(ev, j, ev->data);
    json_decref(j);
    return ev->cancelled;
}

static int on_events_data(http_call_t *hc, const char *buf, size_t len, void *data)
{
    docker_call_t *call = data;
    docker_events_t *ev = call->ev;
    ev->in_cb = 1;
    docker_lines_feed(&ev->lines, buf, len, on_event_line, ev);
    ev->in_cb = 0;
    if (ev->cancelled) {
        /* docker_events_cancel ran inside on_event: it cancelled hc; free what it left */
        events_free(ev);
        call_unlink_free(call);
        return 1;
    }
    return 0;
}

static void on_events_response(http_call_t *hc, http_response_t *r, void *data)
{
    docker_call_t *call = data;
    docker_client_t *dc = call->dc;
    docker_events_t *ev = call->ev;
    call->hc = NULL;
    char err[1024];
    const char *msg = NULL;
    if (r->curl_code != 0 || r->status < 200 || r->status >= 300) {
        if (r->curl_code == 18 || r->curl_code == 56 || r->curl_code == 52) {
            /* partial file / recv error / empty reply: the daemon went away mid-stream */
            cstr_fmt(err, sizeof err, "docker: events stream from %s ended: %s", dc->ep.host, r->error);
        } else {
            describe_error(dc, call, r, NULL, err, sizeof err);
        }
        msg = err;
    }
    ev->in_cb = 1;
    ev->on_end(ev, msg, ev->data);
    events_free(ev);
    call_unlink_free(call);
}

static int dispatch(docker_call_t *call)
{
    docker_client_t *dc = call->dc;
    if (call->versioned)
        snprintf(call->url_path, sizeof call->url_path, "/v%s%s", dc->api, call->path);
    else
        snprintf(call->url_path, sizeof call->url_path, "%s", call->path);
    size_t n = strlen(dc->ep.base_url) + strlen(call->url_path) + 1;
    char *url = malloc(n);
    if (!url)
        return -1;
    snprintf(url, n, "%s%s", dc->ep.base_url, call->url_path);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    http_request_t req = {
        .method = call->method,
        .url = url,
        .headers = call->body ? hdrs : NULL,
        .body = call->body,
        .body_len = call->body_len,
        .timeout_ms = call->ev ? 0 : dc->timeout_ms,
        .connect_timeout_ms = 10000,
        .unix_socket = dc->ep.unix_path,
        .tls = {.ca_file = dc->ep.tls ? dc->ep.ca_file : NULL,
                .cert_file = dc->ep.tls ? dc->ep.cert_file : NULL,
                .key_file = dc->ep.tls ? dc->ep.key_file : NULL,
                .insecure = dc->ep.tls && !dc->ep.tls_verify},
        .max_body = 0,
        .on_data = call->ev ? on_events_data : NULL,
    };
    call->hc = http_client_send(dc->http, &req, call->ev ? on_events_response : on_call_response, call);
    free(url);
    return call->hc ? 0 : -1;
}

static void fail_call(docker_call_t *call, const char *err)
{
    docker_client_t *dc = call->dc;
    if (call->ev) {
        docker_events_t *ev = call->ev;
        ev->in_cb = 1;
        ev->on_end(ev, err, ev->data);
        events_free(ev);
    } else {
        call->cb(dc, 0, NULL, err, call->data);
    }
    call_unlink_free(call);
}

static int negotiate(docker_client_t *dc)
{
    if (dc->negotiating)
        return 0;
    size_t n = strlen(dc->ep.base_url) + 16;
    char url[4200];
    if (n > sizeof url)
        return -1;
    snprintf(url, sizeof url, "%s/version", dc->ep.base_url);
    http_request_t req = {
        .url = url,
        .timeout_ms = dc->timeout_ms,
        .connect_timeout_ms = 10000,
        .unix_socket = dc->ep.unix_path,
        .tls = {.ca_file = dc->ep.tls ? dc->ep.ca_file : NULL,
                .cert_file = dc->ep.tls ? dc->ep.cert_file : NULL,
                .key_file = dc->ep.tls ? dc->ep.key_file : NULL,
                .insecure = dc->ep.tls && !dc->ep.tls_verify},
    };
    dc->negotiating = http_client_send(dc->http, &req, on_version_response, dc);
    return dc->negotiating ? 0 : -1;
}

static int version_from_response(docker_client_t *dc, const http_response_t *r, json_t **out,
                                 char *err, size_t errlen)
{
    *out = NULL;
    docker_call_t fake = {.method = "GET", .url_path = "/version"};
    if (r->curl_code != 0 || r->status != 200) {
        describe_error(dc, &fake, r, NULL, err, errlen);
        return -1;
    }
    json_t *j = json_loadb(r->body, r->len, 0, NULL);
    const char *v = json_string_value(json_object_get(j, "ApiVersion"));
    char pick[16];
    if (!v || docker_api_version_pick(v, pick, sizeof pick) != 0) {
        cstr_fmt(err, errlen, "docker: GET /version on %s: no usable ApiVersion in the answer (is this a Docker daemon?)", dc->ep.host);
        json_decref(j);
        return -1;
    }
    snprintf(dc->api, sizeof dc->api, "%s", pick);
    *out = j;
    return 0;
}

static void on_version_response(http_call_t *hc, http_response_t *r, void *data)
{
    docker_client_t *dc = data;
    dc->negotiating = NULL;
    char err[1024];
    json_t *j = NULL;
    int rc = version_from_response(dc, r, &j, err, sizeof err);
    json_decref(j);
    if (rc == 0)
        log_debug("docker: %s speaks API %s", dc->ep.host, dc->api);
    /* dispatch or fail every call that was waiting. Mark them first: callbacks run by
     * fail_call may add calls (which then wait for a new negotiation, not this one). */
    for (docker_call_t *c = dc->calls; c; c = c->next)
        c->wake = !c->hc && c->versioned;
    for (;;) {
        /* oldest first (the list is newest first): a caller that subscribes to /events before
         * listing containers gets its requests sent in that order */
        docker_call_t *call = NULL;
        for (docker_call_t *c = dc->calls; c; c = c->next)
            if (c->wake)
                call = c;
        if (!call)
            break;
        call->wake = 0;
        if (rc == 0) {
            if (dispatch(call) != 0)
                fail_call(call, "docker: out of memory");
        } else {
            fail_call(call, err);
        }
    }
}

static docker_call_t *call_new(docker_client_t *dc, const char *method, const char *path,
                               int versioned, const json_t *body, docker_on_result_cb cb, void *data)
{
    if (!dc || !path || strlen(path) > 4000)
        return NULL;
    docker_call_t *call = calloc(1, sizeof *call);
    if (!call)
        return NULL;
    call->dc = dc;
    call->method = strdup(method);
    call->path = strdup(path);
    call->versioned = versioned;
    call->cb = cb;
    call->data = data;
    if (body) {
        call->body = json_dumps(body, JSON_COMPACT);
        call->body_len = call->body ? strlen(call->body) : 0;
    }
    if (!call->method || !call->path || (body && !call->body)) {
        free(call->method);
        free(call->path);
        free(call->body);
        free(call);
        return NULL;
    }
    call->next = dc->calls;
    if (dc->calls)
        dc->calls->prev = call;
    dc->calls = call;
    return call;
}

static docker_call_t *call_start(docker_call_t *call)
{
    if (!call)
        return NULL;
    docker_client_t *dc = call->dc;
    int rc = (call->versioned && !dc->api[0]) ? negotiate(dc) : dispatch(call);
    if (rc != 0) {
        if (call->ev)
            events_free(call->ev);
        call_unlink_free(call);
        return NULL;
    }
    return call;
}

docker_call_t *docker_client_request(docker_client_t *dc, const char *method, const char *path,
                                     int versioned, const json_t *body,
                                     docker_on_result_cb cb, void *data)
{
    if (!cb || !method || !path || path[0] != '/')
        return NULL;
    return call_start(call_new(dc, method, path, versioned, body, cb, data));
}

static void on_version_user(docker_client_t *dc, long status, json_t *json, const char *error, void *data);

typedef struct {
    docker_on_result_cb cb;
    void *data;
} version_wrap_t;

docker_call_t *docker_client_ping(docker_client_t *dc, docker_on_result_cb cb, void *data)
{
    return docker_client_request(dc, "GET", "/_ping", 0, NULL, cb, data);
}

docker_call_t *docker_client_version(docker_client_t *dc, docker_on_result_cb cb, void *data)
{
    version_wrap_t *w = malloc(sizeof *w);
    if (!w)
        return NULL;
    w->cb = cb;
    w->data = data;
    docker_call_t *call = docker_client_request(dc, "GET", "/version", 0, NULL, on_version_user, w);
    if (!call)
        free(w);
    return call;
}

static void on_version_user(docker_client_t *dc, long status, json_t *json, const char *error, void *data)
{
    version_wrap_t w = *(version_wrap_t *)data;
    free(data);
    const char *v = json_string_value(json_object_get(json, "ApiVersion"));
    char pick[16];
    if (!error && v && docker_api_version_pick(v, pick, sizeof pick) == 0)
        snprintf(dc->api, sizeof dc->api, "%s", pick);
    w.cb(dc, status, json, error, w.data);
}

docker_call_t *docker_client_info(docker_client_t *dc, docker_on_result_cb cb, void *data)
{
    return docker_client_request(dc, "GET", "/info", 1, NULL, cb, data);
}

docker_call_t *docker_client_containers(docker_client_t *dc, int all, const json_t *filters,
                                        docker_on_result_cb cb, void *data)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "/containers/json%s", all ? "?all=1" : "");
    if (filters) {
        char *f = json_dumps(filters, JSON_COMPACT);
        char *e = f ? http_escape(f) : NULL;
        free(f);
        if (!e)
            return NULL;
        n += snprintf(path + n, sizeof path - (size_t)n, "%sfilters=%s", all ? "&" : "?", e);
        free(e);
        if ((size_t)n >= sizeof path)
            return NULL;
    }
    return docker_client_request(dc, "GET", path, 1, NULL, cb, data);
}

/* "/containers/<escaped id><suffix>" */
static char *container_path(const char *id, const char *suffix)
{
    if (!id || !*id || strlen(id) > 1024)
        return NULL;
    char *e = http_escape(id);
    if (!e)
        return NULL;
    size_t n = strlen(e) + strlen(suffix) + 16;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "/containers/%s%s", e, suffix);
    free(e);
    return p;
}

static docker_call_t *container_call(docker_client_t *dc, const char *method, const char *id,
                                     const char *suffix, int ok304, docker_on_result_cb cb, void *data)
{
    char *p = container_path(id, suffix);
    if (!p)
        return NULL;
    docker_call_t *call = docker_client_request(dc, method, p, 1, NULL, cb, data);
    if (call)
        call->ok304 = ok304;
    free(p);
    return call;
}

docker_call_t *docker_client_inspect(docker_client_t *dc, const char *id, docker_on_result_cb cb, void *data)
{
    return container_call(dc, "GET", id, "/json", 0, cb, data);
}

docker_call_t *docker_client_create(docker_client_t *dc, const char *name, const json_t *body,
                                    docker_on_result_cb cb, void *data)
{
    char path[1200] = "/containers/create";
    if (name && *name) {
        if (strlen(name) > 256)
            return NULL;
        char *e = http_escape(name);
        if (!e)
            return NULL;
        snprintf(path, sizeof path, "/containers/create?name=%s", e);
        free(e);
    }
    return docker_client_request(dc, "POST", path, 1, body, cb, data);
}

docker_call_t *docker_client_start(docker_client_t *dc, const char *id, docker_on_result_cb cb, void *data)
{
    return container_call(dc, "POST", id, "/start", 1, cb, data);
}

docker_call_t *docker_client_stop(docker_client_t *dc, const char *id, int timeout_s,
                                  docker_on_result_cb cb, void *data)
{
    char suffix[32] = "/stop";
    if (timeout_s >= 0)
        snprintf(suffix, sizeof suffix, "/stop?t=%d", timeout_s);
    return container_call(dc, "POST", id, suffix, 1, cb, data);
}

docker_call_t *docker_client_remove(docker_client_t *dc, const char *id, int force,
                                    docker_on_result_cb cb, void *data)
{
    return container_call(dc, "DELETE", id, force ? "?force=1" : "", 0, cb, data);
}

void docker_call_cancel(docker_call_t *call)
{
    if (!call || call->ev)
        return;
    if (call->hc)
        http_call_cancel(call->hc);
    call_unlink_free(call);
}

static void on_events_dummy(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {}

static json_t *str_array(const char *const *list)
{
    json_t *a = json_array();
    for (const char *const *p = list; p && *p; p++)
        json_array_append_new(a, json_string(*p));
    return a;
}

docker_events_t *docker_client_events(docker_client_t *dc, const docker_events_opts_t *opts,
                                      docker_on_event_cb on_event, docker_on_events_end_cb on_end,
                                      void *data)
{
    if (!dc || !on_event || !on_end)
        return NULL;
    static const char *const default_types[] = {"container", NULL};
    json_t *filters = json_object();
    json_object_set_new(filters, "type", str_array(opts && opts->types ? opts->types : default_types));
    if (opts && opts->events)
        json_object_set_new(filters, "event", str_array(opts->events));
    if (opts && opts->labels)
        json_object_set_new(filters, "label", str_array(opts->labels));
    char *f = json_dumps(filters, JSON_COMPACT);
    json_decref(filters);
    char *fe = f ? http_escape(f) : NULL;
    free(f);
    char *se = (opts && opts->since) ? http_escape(opts->since) : NULL;
    if (!fe || (opts && opts->since && !se)) {
        free(fe);
        free(se);
        return NULL;
    }
    size_t n = strlen(fe) + (se ? strlen(se) : 0) + 64;
    char *path = malloc(n);
    if (!path) {
        free(fe);
        free(se);
        return NULL;
    }
    snprintf(path, n, "/events?filters=%s%s%s", fe, se ? "&since=" : "", se ? se : "");
    free(fe);
    free(se);
    docker_events_t *ev = calloc(1, sizeof *ev);
    docker_call_t *call = ev ? call_new(dc, "GET", path, 1, NULL, on_events_dummy, NULL) : NULL;
    free(path);
    if (!call) {
        free(ev);
        return NULL;
    }
    ev->call = call;
    ev->on_event = on_event;
    ev->on_end = on_end;
    ev->data = data;
    docker_lines_init(&ev->lines, opts && opts->max_line ? opts->max_line : (size_t)1 << 20);
    call->ev = ev;
    return call_start(call) ? ev : NULL;
}

void docker_events_cancel(docker_events_t *ev)
{
    if (!ev || ev->cancelled)
        return;
    ev->cancelled = 1;
    docker_call_t *call = ev->call;
    if (call->hc)
        http_call_cancel(call->hc);
    call->hc = NULL;
    if (ev->in_cb)
        return; /* on_events_data / on_end frees it after the callback */
    events_free(ev);
    call_unlink_free(call);
}

uint64_t docker_events_count(const docker_events_t *ev) { return ev->count; }
