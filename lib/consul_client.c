/* consul_client.c: Consul's HTTP API over lib/http_client.
 *
 * The endpoint comes from registrator's registry URIs plus Consul's own CONSUL_* variables
 * (consul_endpoint_parse, pure). Each call is one HTTP request whose answer is decoded once
 * (JSON body, X-Consul-Index, X-Consul-Knownleader) into a consul_result_t; a non-2xx status or
 * a transport failure becomes one message that quotes what Consul said or what to check. The
 * named calls below are thin: they build the path (escaping every caller-supplied segment) and
 * pick the method. Blocking-query policy lives in consul_watch.c, not here. */
#include "consul_client.h"
#include "cstr.h"
#include "duration.h"
#include "flags.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- endpoint ---- */

static int env_false(const char *v)
{
    return v && (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0);
}

static int env_true(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

void consul_endpoint_clear(consul_endpoint_t *ep)
{
    if (!ep)
        return;
    free(ep->uri);
    free(ep->addr);
    free(ep->base_url);
    free(ep->unix_path);
    free(ep->ca_file);
    free(ep->cert_file);
    free(ep->key_file);
    free(ep->token);
    memset(ep, 0, sizeof *ep);
}

static int valid_host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']' || ch == '_';
}

/* Fills addr (host:port) from text hp (host[:port], maybe ":port"); returns 0 or -1. */
static int set_hostport(consul_endpoint_t *out, const char *hp, size_t n, const char *def_port,
                        const char *what, char *err, size_t errlen)
{
    char buf[300];
    if (n >= 256) {
        cstr_fmt(err, errlen, "consul: %s: host too long", what);
        return -1;
    }
    memcpy(buf, hp, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!valid_host_char(buf[i])) {
            cstr_fmt(err, errlen, "consul: %s: invalid character in host \"%s\"", what, buf);
            return -1;
        }
    }
    char full[320];
    if (buf[0] == ':')
        snprintf(full, sizeof full, "127.0.0.1%s", buf);
    else
        snprintf(full, sizeof full, "%s", buf);
    const char *after = strrchr(full, ']');
    after = after ? after : full;
    const char *colon = strrchr(after, ':');
    if (!colon) {
        strcat(full, ":");
        strcat(full, def_port);
    } else {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || p < 1 || p > 65535) {
            cstr_fmt(err, errlen, "consul: %s: invalid port in \"%s\"", what, buf);
            return -1;
        }
    }
    out->addr = strdup(full);
    return out->addr ? 0 : -1;
}

static int set_unix(consul_endpoint_t *out, const char *path, const char *what, char *err, size_t errlen)
{
    if (*path != '/' || strlen(path) > 4000) {
        cstr_fmt(err, errlen, "consul: %s: unix socket path must be absolute (consul-unix:///path)", what);
        return -1;
    }
    out->unix_path = strdup(path);
    out->addr = strdup(path);
    out->base_url = strdup("http://localhost");
    return 0;
}

int consul_endpoint_parse(const char *uri, const char *(*getenv_fn)(const char *),
                          consul_endpoint_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!uri || !*uri) {
        cstr_fmt(err, errlen, "consul: missing registry URI (consul://host:port)");
        return -1;
    }
    if (strlen(uri) > 4096) {
        cstr_fmt(err, errlen, "consul: registry URI too long");
        return -1;
    }
    char what[200];
    snprintf(what, sizeof what, "registry URI \"%.150s\"", uri);
    out->uri = strdup(uri);
    const char *rest;
    int tls = 0;
    if (strncmp(uri, "consul-unix://", 14) == 0) {
        if (set_unix(out, uri + 14, what, err, errlen) != 0)
            goto fail;
        goto env;
    } else if (strncmp(uri, "consul-tls://", 13) == 0) {
        rest = uri + 13;
        tls = 1;
    } else if (strncmp(uri, "consul://", 9) == 0) {
        rest = uri + 9;
    } else if (!strstr(uri, "://")) {
        rest = uri;
    } else {
        cstr_fmt(err, errlen, "consul: %s: unsupported scheme (use consul://, consul-tls:// or consul-unix://)", what);
        goto fail;
    }
    size_t hlen = strcspn(rest, "/?#");
    if (hlen == 0) {
        /* no host: Consul's own variable, as registrator's consul library does */
        const char *a = flags_env_get(getenv_fn, "CONSUL_HTTP_ADDR");
        if (!a) {
            if (set_hostport(out, "127.0.0.1:8500", 14, "8500", what, err, errlen) != 0)
                goto fail;
        } else {
            char what2[200];
            snprintf(what2, sizeof what2, "CONSUL_HTTP_ADDR \"%.150s\"", a);
            const char *hp = a;
            if (strncmp(a, "unix://", 7) == 0) {
                if (set_unix(out, a + 7, what2, err, errlen) != 0)
                    goto fail;
                goto env;
            } else if (strncmp(a, "https://", 8) == 0) {
                hp = a + 8;
                tls = 1;
            } else if (strncmp(a, "http://", 7) == 0) {
                hp = a + 7;
            } else if (strstr(a, "://")) {
                cstr_fmt(err, errlen, "consul: %s: unsupported scheme (use host:port, http://, https:// or unix://)", what2);
                goto fail;
            }
            if (env_true(flags_env_get(getenv_fn, "CONSUL_HTTP_SSL")))
                tls = 1;
            size_t n = strcspn(hp, "/?#");
            if (n == 0) {
                cstr_fmt(err, errlen, "consul: %s: missing host", what2);
                goto fail;
            }
            if (set_hostport(out, hp, n, tls ? "8501" : "8500", what2, err, errlen) != 0)
                goto fail;
        }
    } else if (set_hostport(out, rest, hlen, tls ? "8501" : "8500", what, err, errlen) != 0) {
        goto fail;
    }
    out->tls = tls;
    size_t n = strlen(out->addr) + 16;
    out->base_url = malloc(n);
    if (!out->base_url)
        goto fail;
    snprintf(out->base_url, n, "%s://%s", tls ? "https" : "http", out->addr);
env:
    out->tls_verify = !env_false(flags_env_get(getenv_fn, "CONSUL_HTTP_SSL_VERIFY"));
    if (out->tls) {
        const char *v;
        if ((v = flags_env_get(getenv_fn, "CONSUL_CACERT")))
            out->ca_file = strdup(v);
        if ((v = flags_env_get(getenv_fn, "CONSUL_CLIENT_CERT")))
            out->cert_file = strdup(v);
        if ((v = flags_env_get(getenv_fn, "CONSUL_CLIENT_KEY")))
            out->key_file = strdup(v);
    }
    const char *tok = flags_env_get(getenv_fn, "CONSUL_HTTP_TOKEN");
    if (tok) {
        for (const char *p = tok; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                cstr_fmt(err, errlen, "consul: CONSUL_HTTP_TOKEN contains control characters");
                goto fail;
            }
        }
        if (strlen(tok) > 1024) {
            cstr_fmt(err, errlen, "consul: CONSUL_HTTP_TOKEN too long");
            goto fail;
        }
        out->token = strdup(tok);
    }
    if (!out->uri || !out->addr || !out->base_url) {
        cstr_fmt(err, errlen, "consul: out of memory");
        goto fail;
    }
    return 0;
fail:
    consul_endpoint_clear(out);
    return -1;
}

/* ---- client ---- */

struct consul_call {
    consul_client_t *c;
    consul_call_t *prev, *next;
    http_call_t *hc;
    consul_on_result_cb cb;
    void *data;
    int notfound_ok;      /* KV: 404 = key absent, not an error */
    char method[8];
    char path[512];       /* path without the query, for messages */
};

struct consul_client {
    http_client_t *http;
    consul_endpoint_t ep;
    long timeout_ms;
    char *token_header;
    consul_call_t *calls;
};

consul_client_t *consul_client_new(http_client_t *http, const consul_endpoint_t *ep)
{
    if (!http || !ep || !ep->base_url)
        return NULL;
    consul_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->http = http;
    c->timeout_ms = 10000;
    c->ep.uri = cstr_dup(ep->uri ? ep->uri : ep->base_url);
    c->ep.addr = cstr_dup(ep->addr ? ep->addr : ep->base_url);
    c->ep.base_url = cstr_dup(ep->base_url);
    c->ep.unix_path = cstr_dup(ep->unix_path);
    c->ep.tls = ep->tls;
    c->ep.tls_verify = ep->tls_verify;
    c->ep.ca_file = cstr_dup(ep->ca_file);
    c->ep.cert_file = cstr_dup(ep->cert_file);
    c->ep.key_file = cstr_dup(ep->key_file);
    c->ep.token = cstr_dup(ep->token);
    if (ep->token) {
        size_t n = strlen(ep->token) + 32;
        c->token_header = malloc(n);
        if (c->token_header)
            snprintf(c->token_header, n, "X-Consul-Token: %s", ep->token);
    }
    if (!c->ep.base_url || !c->ep.uri || !c->ep.addr || (ep->token && !c->token_header)) {
        consul_client_free(c);
        return NULL;
    }
    return c;
}

static void call_unlink_free(consul_call_t *call)
{
    consul_client_t *c = call->c;
    if (call->prev)
        call->prev->next = call->next;
    else if (c->calls == call)
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    free(call);
}

void consul_client_free(consul_client_t *c)
{
    if (!c)
        return;
    while (c->calls) {
        if (c->calls->hc)
            http_call_cancel(c->calls->hc);
        call_unlink_free(c->calls);
    }
    consul_endpoint_clear(&c->ep);
    free(c->token_header);
    free(c);
}

void consul_client_set_timeout(consul_client_t *c, long timeout_ms) { c->timeout_ms = timeout_ms; }
const consul_endpoint_t *consul_client_endpoint(const consul_client_t *c) { return &c->ep; }
http_client_t *consul_client_http(const consul_client_t *c) { return c->http; }

static void describe_error(const consul_client_t *c, const consul_call_t *call,
                           const http_response_t *r, char *buf, size_t len)
{
    const char *addr = c->ep.addr;
    switch (r->curl_code) {
    case 0: {
        char body[700];
        size_t n = r->len < sizeof body - 1 ? r->len : sizeof body - 1;
        memcpy(body, r->body ? r->body : "", n);
        body[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if (body[i] == '\n' || body[i] == '\r' || body[i] == '\0')
                body[i] = ' ';
        while (n && body[n - 1] == ' ')
            body[--n] = '\0';
        cstr_fmt(buf, len, "consul: %s %s: %ld%s%s", call->method, call->path, r->status, n ? " " : "", body);
        return;
    }
    case 6:
    case 7:
        cstr_fmt(buf, len, "consul: %s %s: cannot connect to %s: %s (is Consul running? check the registry URI / CONSUL_HTTP_ADDR)",
                 call->method, call->path, addr, c->ep.unix_path ? "no such socket, or connection refused" : r->error);
        return;
    case 35:
    case 58:
    case 60:
    case 77:
        cstr_fmt(buf, len, "consul: %s %s: TLS handshake with %s failed: %s (check CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY)",
                 call->method, call->path, addr, r->error);
        return;
    default:
        cstr_fmt(buf, len, "consul: %s %s on %s: %s", call->method, call->path, addr, r->error);
        return;
    }
}

static void on_http_response(http_call_t *hc, http_response_t *r, void *data)
{
    consul_call_t *call = data;
    consul_client_t *c = call->c;
    call->hc = NULL;
    consul_result_t res;
    memset(&res, 0, sizeof res);
    res.status = r->status;
    res.body = r->body ? r->body : "";
    res.len = r->len;
    res.elapsed_ms = r->elapsed_ms;
    const char *idx = http_response_header(r, "X-Consul-Index");
    if (idx && *idx >= '0' && *idx <= '9') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(idx, &end, 10);
        if (*end == '\0' && errno == 0) { /* an out-of-range index is no index */
            res.index = (uint64_t)v;
            res.has_index = 1;
        }
    }
    const char *kl = http_response_header(r, "X-Consul-Knownleader");
    res.known_leader = kl && strcasecmp(kl, "true") == 0;
    char err[1024];
    int ok = r->curl_code == 0 && r->status >= 200 && r->status < 300;
    if (ok) {
        if (r->len)
            res.json = json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
    } else if (!(call->notfound_ok && r->curl_code == 0 && r->status == 404)) {
        describe_error(c, call, r, err, sizeof err);
        res.error = err;
    }
    call->cb(c, &res, call->data);
    json_decref(res.json);
    call_unlink_free(call);
}

static consul_call_t *request(consul_client_t *c, const char *method, const char *path_query,
                              const char *body, size_t body_len, const char *content_type,
                              long timeout_ms, int notfound_ok, consul_on_result_cb cb, void *data)
{
    if (!c || !method || !path_query || !cb || strncmp(path_query, "/v1/", 4) != 0 || strlen(method) >= 8)
        return NULL;
    for (const char *p = path_query; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return NULL; /* never put raw spaces or control characters on the request line */
    consul_call_t *call = calloc(1, sizeof *call);
    if (!call)
        return NULL;
    call->c = c;
    call->cb = cb;
    call->data = data;
    call->notfound_ok = notfound_ok;
    snprintf(call->method, sizeof call->method, "%s", method);
    size_t plen = strcspn(path_query, "?");
    if (plen >= sizeof call->path)
        plen = sizeof call->path - 1;
    memcpy(call->path, path_query, plen);
    call->path[plen] = '\0';

    size_t n = strlen(c->ep.base_url) + strlen(path_query) + 1;
    char *url = malloc(n);
    if (!url) {
        free(call);
        return NULL;
    }
    snprintf(url, n, "%s%s", c->ep.base_url, path_query);
    const char *hdrs[3];
    size_t nh = 0;
    char ct[64];
    if (c->token_header)
        hdrs[nh++] = c->token_header;
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        hdrs[nh++] = ct;
    }
    hdrs[nh] = NULL;
    http_request_t req = {
        .method = method,
        .url = url,
        .headers = hdrs,
        .body = body,
        .body_len = body_len,
        .timeout_ms = timeout_ms < 0 ? c->timeout_ms : timeout_ms,
        .connect_timeout_ms = 10000,
        .unix_socket = c->ep.unix_path,
        .tls = {.ca_file = c->ep.ca_file, .cert_file = c->ep.cert_file, .key_file = c->ep.key_file,
                .insecure = c->ep.tls && !c->ep.tls_verify},
    };
    call->hc = http_client_send(c->http, &req, on_http_response, call);
    free(url);
    if (!call->hc) {
        free(call);
        return NULL;
    }
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    return call;
}

consul_call_t *consul_client_request(consul_client_t *c, const char *method, const char *path_query,
                                     const char *body, size_t body_len, long timeout_ms,
                                     consul_on_result_cb cb, void *data)
{
    return request(c, method, path_query, body, body_len, NULL, timeout_ms, 0, cb, data);
}

void consul_call_cancel(consul_call_t *call)
{
    if (!call)
        return;
    if (call->hc)
        http_call_cancel(call->hc);
    call_unlink_free(call);
}

char *consul_path(const char *prefix, const char *seg, int keep_slash, const char *suffix)
{
    if (!prefix || !seg || strlen(seg) > 4096)
        return NULL;
    size_t cap = strlen(prefix) + strlen(seg) * 3 + (suffix ? strlen(suffix) : 0) + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = (size_t)snprintf(out, cap, "%s", prefix);
    const char *p = seg;
    while (*p) {
        size_t m = keep_slash ? strcspn(p, "/") : strlen(p);
        char *e;
        if ((m == 1 && p[0] == '.') || (m == 2 && p[0] == '.' && p[1] == '.')) {
            /* a dot segment would be removed by URL normalisation (libcurl's, the server's):
             * send it encoded so the request names this segment and nothing else */
            e = strdup(m == 1 ? "%2E" : "%2E%2E");
        } else {
            char *piece = strndup(p, m);
            e = piece ? http_escape(piece) : NULL;
            free(piece);
        }
        if (!e) {
            free(out);
            return NULL;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s", e);
        free(e);
        p += m;
        if (*p == '/') {
            out[n++] = '/';
            out[n] = '\0';
            p++;
        }
    }
    if (suffix)
        snprintf(out + n, cap - n, "%s", suffix);
    return out;
}

static consul_call_t *get(consul_client_t *c, const char *path, consul_on_result_cb cb, void *data)
{
    return request(c, "GET", path, NULL, 0, NULL, -1, 0, cb, data);
}

consul_call_t *consul_status_leader(consul_client_t *c, consul_on_result_cb cb, void *data)
{
    return get(c, "/v1/status/leader", cb, data);
}

consul_call_t *consul_agent_self(consul_client_t *c, consul_on_result_cb cb, void *data)
{
    return get(c, "/v1/agent/self", cb, data);
}

consul_call_t *consul_agent_services(consul_client_t *c, consul_on_result_cb cb, void *data)
{
    return get(c, "/v1/agent/services", cb, data);
}

consul_call_t *consul_service_register(consul_client_t *c, const json_t *service,
                                       int replace_existing_checks, consul_on_result_cb cb, void *data)
{
    if (!json_is_object(service))
        return NULL;
    char *body = json_dumps(service, JSON_COMPACT);
    if (!body)
        return NULL;
    consul_call_t *call = request(c, "PUT", replace_existing_checks ? "/v1/agent/service/register?replace-existing-checks"
                                                                  : "/v1/agent/service/register",
                                  body, strlen(body), "application/json", -1, 0, cb, data);
    free(body);
    return call;
}

consul_call_t *consul_service_deregister(consul_client_t *c, const char *id, consul_on_result_cb cb, void *data)
{
    if (!id || !*id)
        return NULL;
    char *p = consul_path("/v1/agent/service/deregister/", id, 0, NULL);
    consul_call_t *call = p ? request(c, "PUT", p, NULL, 0, NULL, -1, 0, cb, data) : NULL;
    free(p);
    return call;
}

consul_call_t *consul_check_ttl(consul_client_t *c, const char *check_id, consul_check_status_t status,
                                const char *note, consul_on_result_cb cb, void *data)
{
    static const char *const names[] = {"pass", "warn", "fail"};
    if (!check_id || !*check_id || (unsigned)status > CONSUL_CHECK_FAIL)
        return NULL;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "/v1/agent/check/%s/", names[status]);
    char *en = NULL;
    char *suffix = NULL;
    if (note) {
        en = http_escape(note);
        if (!en)
            return NULL;
        size_t n = strlen(en) + 8;
        suffix = malloc(n);
        if (suffix)
            snprintf(suffix, n, "?note=%s", en);
        free(en);
        if (!suffix)
            return NULL;
    }
    char *p = consul_path(prefix, check_id, 0, suffix);
    free(suffix);
    consul_call_t *call = p ? request(c, "PUT", p, NULL, 0, NULL, -1, 0, cb, data) : NULL;
    free(p);
    return call;
}

consul_call_t *consul_check_update(consul_client_t *c, const char *check_id, const char *status,
                                   const char *output, consul_on_result_cb cb, void *data)
{
    if (!check_id || !*check_id || !status)
        return NULL;
    json_t *b = json_object();
    json_object_set_new(b, "Status", json_string(status));
    if (output)
        json_object_set_new(b, "Output", json_string(output));
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    char *p = consul_path("/v1/agent/check/update/", check_id, 0, NULL);
    consul_call_t *call = (p && body) ? request(c, "PUT", p, body, strlen(body), "application/json", -1, 0, cb, data) : NULL;
    free(p);
    free(body);
    return call;
}

consul_call_t *consul_kv_get(consul_client_t *c, const char *key, consul_on_result_cb cb, void *data)
{
    if (!key || !*key)
        return NULL;
    char *p = consul_path("/v1/kv/", key, 1, NULL);
    consul_call_t *call = p ? request(c, "GET", p, NULL, 0, NULL, -1, 1, cb, data) : NULL;
    free(p);
    return call;
}

consul_call_t *consul_kv_list(consul_client_t *c, const char *prefix, consul_on_result_cb cb, void *data)
{
    char *p = consul_path("/v1/kv/", prefix ? prefix : "", 1, "?recurse");
    consul_call_t *call = p ? request(c, "GET", p, NULL, 0, NULL, -1, 1, cb, data) : NULL;
    free(p);
    return call;
}

char *consul_kv_value(const json_t *entry, size_t *len)
{
    const char *v = json_string_value(json_object_get(entry, "Value"));
    if (!v)
        return NULL;
    size_t n = strlen(v);
    if (n % 4 != 0)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out)
        return NULL;
    int m = n ? EVP_DecodeBlock(out, (const unsigned char *)v, (int)n) : 0;
    if (m < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    if (n >= 1 && v[n - 1] == '=')
        m--;
    if (n >= 2 && v[n - 2] == '=')
        m--;
    out[m] = '\0';
    if (len)
        *len = (size_t)m;
    return (char *)out;
}

consul_call_t *consul_catalog_services(consul_client_t *c, consul_on_result_cb cb, void *data)
{
    return get(c, "/v1/catalog/services", cb, data);
}

consul_call_t *consul_health_service(consul_client_t *c, const char *name, int passing,
                                     const char *tag, consul_on_result_cb cb, void *data)
{
    if (!name || !*name)
        return NULL;
    char *et = tag ? http_escape(tag) : NULL;
    if (tag && !et)
        return NULL;
    size_t n = (et ? strlen(et) : 0) + 32;
    char *suffix = malloc(n);
    if (!suffix) {
        free(et);
        return NULL;
    }
    snprintf(suffix, n, "%s%s%s", passing ? "?passing" : "", et ? (passing ? "&tag=" : "?tag=") : "", et ? et : "");
    free(et);
    char *p = consul_path("/v1/health/service/", name, 0, suffix);
    free(suffix);
    consul_call_t *call = p ? get(c, p, cb, data) : NULL;
    free(p);
    return call;
}

consul_call_t *consul_health_state(consul_client_t *c, const char *state, consul_on_result_cb cb, void *data)
{
    if (!state || !*state)
        return NULL;
    char *p = consul_path("/v1/health/state/", state, 0, NULL);
    consul_call_t *call = p ? get(c, p, cb, data) : NULL;
    free(p);
    return call;
}

char *consul_blocking_path(const char *base, uint64_t index, uint64_t wait_ms, int stale)
{
    if (!base)
        return NULL;
    size_t n = strlen(base) + 96;
    char *out = malloc(n);
    if (!out)
        return NULL;
    char sep = strchr(base, '?') ? '&' : '?';
    size_t m = (size_t)snprintf(out, n, "%s", base);
    if (index > 0) {
        m += (size_t)snprintf(out + m, n - m, "%cindex=%" PRIu64, sep, index);
        sep = '&';
    }
    if (wait_ms > 0) {
        char d[48];
        duration_format((int64_t)wait_ms * DURATION_MS, d, sizeof d);
        m += (size_t)snprintf(out + m, n - m, "%cwait=%s", sep, d);
        sep = '&';
    }
    if (stale)
        snprintf(out + m, n - m, "%cstale", sep);
    return out;
}
