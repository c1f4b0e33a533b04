/* api.c: routing and handlers for Consul's HTTP API (see api.h and the reference,
 * shared/reference/consul-api.md). Every answer, error texts included, is decided here, but
 * /v1/kv's, which are api_kv.c's; the helpers both share are declared in api_ctx.h. */
#include "api.h"
#include "api_ctx.h"
#include "api_catalog.h"
#include "api_kv.h"
#include "api_misc.h"
#include "api_node.h"
#include "api_session.h"
#include "api_txn.h"
#include "decode.h"
#include "duration.h"
#include "render.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALLOW_GET "OPTIONS,GET"
#define ALLOW_PUT "OPTIONS,PUT"
#define ALLOW_KV "OPTIONS,GET,PUT,DELETE"

/* ---- helpers ---- */
static const char *param_nth(const api_request_t *r, const char *name, size_t nth)
{
    if (r->lookup)
        return r->lookup(r, name, nth);
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0 && nth-- == 0)
            return r->params[i].value ? r->params[i].value : "";
    return NULL;
}

const char *api_param(const api_request_t *r, const char *name) { return param_nth(r, name, 0); }

void api_set_text(api_response_t *resp, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *b = NULL;
    int n = vasprintf(&b, fmt, ap);
    va_end(ap);
    free(resp->body);
    resp->status = status;
    resp->body = b;
    resp->len = n > 0 ? (size_t)n : 0;
    resp->content_type = "text/plain; charset=utf-8";
}

/* KV Flags are uint64 in Consul; jansson integers are signed, so Flags above INT64_MAX were
 * rendered as their negative int64 and are rewritten here as the unsigned decimal. Only an
 * object key can produce `"Flags":-` (a quote inside a string value is escaped, and Meta values
 * are strings), so the rewrite cannot touch user data. */
static char *fix_u64_flags(char *s)
{
    size_t cap = strlen(s) + 1, len = 0;
    char *o = malloc(cap + 64);
    const char *p = s;
    for (;;) {
        const char *h = strstr(p, "\"Flags\":");
        if (!h)
            break;
        const char *v = h + 8;
        while (*v == ' ')
            v++;
        if (*v != '-') {
            size_t n = (size_t)(v - p);
            o = realloc(o, len + n + 64 + strlen(v));
            memcpy(o + len, p, n);
            len += n;
            p = v;
            continue;
        }
        char *end;
        long long x = strtoll(v, &end, 10);
        size_t n = (size_t)(v - p);
        o = realloc(o, len + n + 32 + strlen(end) + 1);
        memcpy(o + len, p, n);
        len += n;
        len += (size_t)sprintf(o + len, "%llu", (unsigned long long)x);
        p = end;
    }
    size_t rest = strlen(p);
    o = realloc(o, len + rest + 1);
    memcpy(o + len, p, rest + 1);
    free(s);
    return o;
}

void api_set_json(api_ctx_t *c, int status, json_t *j)
{
    size_t flags = JSON_PRESERVE_ORDER | JSON_ENCODE_ANY | (c->pretty ? JSON_INDENT(4) : JSON_COMPACT);
    char *s = json_dumps(j, flags);
    json_decref(j);
    free(c->resp->body);
    c->resp->status = status;
    if (s && c->u64_flags)
        s = fix_u64_flags(s);
    if (s && c->pretty) {
        size_t n = strlen(s);
        s = realloc(s, n + 2);
        s[n] = '\n';
        s[n + 1] = '\0';
    }
    c->resp->body = s;
    c->resp->len = s ? strlen(s) : 0;
    c->resp->content_type = "application/json";
}

void api_set_empty(api_response_t *resp, int status)
{
    resp->status = status;
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

int api_parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "") || !strcmp(v, "1") || !strcmp(v, "t") || !strcmp(v, "T") || !strcmp(v, "true") ||
        !strcmp(v, "TRUE") || !strcmp(v, "True")) { *out = 1; return 0; }
    if (!strcmp(v, "0") || !strcmp(v, "f") || !strcmp(v, "F") || !strcmp(v, "false") || !strcmp(v, "FALSE") ||
        !strcmp(v, "False")) { *out = 0; return 0; }
    return -1;
}

int api_param_enable(api_ctx_t *c, int *enable)
{
    const char *en = api_param(c->req, "enable");
    if (!en) {
        api_set_text(c->resp, 400, "Missing value for enable");
        return -1;
    }
    if (api_parse_bool(en, enable) != 0 || !*en) {
        api_set_text(c->resp, 400, "Invalid value for enable: \"%s\"", en);
        return -1;
    }
    return 0;
}

int api_parse_u64(const char *v, uint64_t *out)
{
    if (!*v || !isdigit((unsigned char)*v))
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

/* Common query rules of read endpoints: dc, consistency, index/wait. Returns 0 or -1 with the
 * error answer set. */
int api_read_prologue(api_ctx_t *c, int blockable, int consistency)
{
    const api_request_t *r = c->req;
    const char *dc = api_param(r, "dc");
    if (dc && *dc && strcmp(dc, store_datacenter(c->api->store)) != 0) {
        api_set_text(c->resp, 500, "No path to datacenter");
        return -1;
    }
    int stale = api_param(r, "stale") != NULL, consistent = api_param(r, "consistent") != NULL;
    if (stale && consistent) {
        api_set_text(c->resp, 400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
        return -1;
    }
    if (consistency)
        c->resp->consistency = stale ? "stale" : consistent ? "consistent" : "leader";
    if (!blockable)
        return 0;
    const char *w = api_param(r, "wait"), *ix = api_param(r, "index");
    c->wait_ms = 5 * 60 * 1000;
    if (w) {
        int64_t ns;
        if (duration_parse(w, &ns, NULL, 0) != 0 || ns < 0) {
            api_set_text(c->resp, 400, "Invalid wait time");
            return -1;
        }
        c->wait_ms = (uint64_t)(ns / 1000000);
        if (c->wait_ms > 10 * 60 * 1000)
            c->wait_ms = 10 * 60 * 1000;
    }
    if (ix && api_parse_u64(ix, &c->min_index) != 0) {
        api_set_text(c->resp, 400, "Invalid index");
        return -1;
    }
    return 0;
}

/* Answers j with index, or parks the request. Takes ownership of j. */
void api_finish(api_ctx_t *c, json_t *j, int status, uint64_t index, int watch, const char *svc)
{
    api_response_t *resp = c->resp;
    resp->has_index = 1;
    resp->index = index ? index : 1;
    resp->watch = watch;
    if (svc) {
        size_t i = 0;
        for (; svc[i] && i + 1 < sizeof resp->watch_service; i++)
            resp->watch_service[i] = (char)tolower((unsigned char)svc[i]);
        resp->watch_service[i] = '\0';
    }
    if (c->allow_block && c->min_index > 0 && resp->index <= c->min_index && c->wait_ms > 0) {
        json_decref(j);
        resp->block = 1;
        resp->wait_ms = c->wait_ms;
        return;
    }
    if (j)
        api_set_json(c, status, j);
    else
        api_set_empty(resp, status);
}

static int method_is(api_ctx_t *c, const char *allow)
{
    const char *m = c->req->method;
    if (strcmp(m, "OPTIONS") == 0) {
        api_set_empty(c->resp, 200);
        c->resp->allow = allow;
        return 0;
    }
    /* allow is "OPTIONS,X[,Y...]": look for the method among the entries */
    const char *p = allow;
    size_t ml = strlen(m);
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == ml && strncmp(p, m, l) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    api_set_text(c->resp, 405, "method %s not allowed", m);
    c->resp->allow = allow;
    return 0;
}

static int64_t now(api_ctx_t *c) { return c->api->now_ms ? c->api->now_ms() : 0; }

/* ---- agent ---- */
static void agent_services(api_ctx_t *c)
{
    size_t n;
    cat_service_t **all = store_all_services(c->api->store, &n);
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i]->id, "consul") != 0 && !all[i]->node)   /* not catalog-registered external ones */
            json_object_set_new(o, all[i]->id, render_agent_service(c->api->store, all[i]));
    free(all);
    api_set_json(c, 200, o);
}

static int cmp_check_id(const void *a, const void *b)
{
    return strcmp((*(cat_check_t *const *)a)->id, (*(cat_check_t *const *)b)->id);
}

static void agent_checks(api_ctx_t *c)
{
    size_t n;
    cat_check_t **all = store_all_checks(c->api->store, &n);
    json_t *o = json_object();
    /* the agent endpoint lists the agent's own checks (not serfHealth), keyed by ID, sorted */
    cat_check_t **sorted = malloc((n ? n : 1) * sizeof *sorted);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (all[i]->kind != CHECK_SERF && !all[i]->node)
            sorted[k++] = all[i];
    qsort(sorted, k, sizeof *sorted, cmp_check_id);   /* 50k checks: an insertion sort took seconds */
    for (size_t i = 0; i < k; i++)
        json_object_set_new(o, sorted[i]->id, render_check(c->api->store, sorted[i]));
    free(sorted);
    free(all);
    api_set_json(c, 200, o);
}

static void agent_register(api_ctx_t *c)
{
    cat_service_t *svc;
    cat_check_t **checks;
    size_t n;
    char err[2048];
    int st = decode_service_register(c->req->body, c->req->body_len, &svc, &checks, &n, err, sizeof err);
    if (st != 200) {
        api_set_text(c->resp, st, "%s", err);
        return;
    }
    const cat_service_t *prev = store_service(c->api->store, svc->id);
    if (prev && prev->node) {   /* IDs are unique across nodes here (Consul scopes them per node) */
        api_set_text(c->resp, 500, "Service ID \"%s\" is registered for external node \"%s\"", svc->id, prev->node);
        cat_service_free(svc);
        for (size_t i = 0; i < n; i++) cat_check_free(checks[i]);
        free(checks);
        return;
    }
    const char *rep = api_param(c->req, "replace-existing-checks");
    int replace = 0;
    if (rep && api_parse_bool(rep, &replace) != 0)
        replace = 0;
    c->resp->wrote = store_register(c->api->store, svc, checks, n, replace, now(c)) > 0;
    free(checks);
    api_set_empty(c->resp, 200);
}

static void agent_deregister(api_ctx_t *c, const char *id)
{
    const cat_service_t *svc = store_service(c->api->store, id);
    if (!svc || svc->node || store_deregister(c->api->store, id) != 0) {   /* external: not the agent's */
        api_set_text(c->resp, 404, "Unknown service ID \"%s\". Ensure that the service ID is passed, not the service name.", id);
        return;
    }
    c->resp->wrote = 1;
    api_set_empty(c->resp, 200);
}

static void agent_maintenance(api_ctx_t *c, const char *id)
{
    int enable;
    if (api_param_enable(c, &enable) != 0)
        return;
    const cat_service_t *target = store_service(c->api->store, id);
    if (!target || target->node ||
        store_service_maintenance(c->api->store, id, enable, api_param(c->req, "reason"), now(c)) != 0) {
        api_set_text(c->resp, 404, "Unknown service ID \"%s\". Ensure that the service ID is passed, not the service name.", id);
        return;
    }
    c->resp->wrote = 1;
    api_set_empty(c->resp, 200);
}

static void unknown_check(api_ctx_t *c, const char *id)
{
    api_set_text(c->resp, 404, "Unknown check ID \"%s\". Ensure that the check ID is passed, not the check name.", id);
}

static void agent_check_status(api_ctx_t *c, const char *id, const char *status, const char *output, int from_body)
{
    cat_check_t *chk = store_check(c->api->store, id);
    if (!chk || chk->node) {
        unknown_check(c, id);
        return;
    }
    if (chk->kind != CHECK_TTL) {
        api_set_text(c->resp, 500, "CheckID \"%s\" does not have associated TTL", id);
        return;
    }
    (void)from_body;
    /* an explicit update that changed something is a write (and is persisted); a heartbeat
     * repeating the same status and output changes nothing */
    c->resp->wrote = store_check_update(c->api->store, chk, status, output ? output : "", now(c)) > 0;
    if (c->api->on_ttl_touch)
        c->api->on_ttl_touch(c->api->hook_ctx, chk);
    api_set_empty(c->resp, 200);
}

static void agent_check_update(api_ctx_t *c, const char *id)
{
    char *status, *output, err[1024];
    int st = decode_check_update(c->req->body, c->req->body_len, &status, &output, err, sizeof err);
    if (st != 200) {
        api_set_text(c->resp, st, "%s", err);
        return;
    }
    if (strcmp(status, "passing") && strcmp(status, "warning") && strcmp(status, "critical"))
        api_set_text(c->resp, 400, "Invalid check status: '%s'", status);
    else
        agent_check_status(c, id, status, output, 1);
    free(status);
    free(output);
}

static void agent_check_register(api_ctx_t *c)
{
    cat_check_t *chk;
    char err[2048];
    int st = decode_check_register(c->req->body, c->req->body_len, &chk, err, sizeof err);
    if (st != 200) {
        api_set_text(c->resp, st, "%s", err);
        return;
    }
    char sid[512];
    snprintf(sid, sizeof sid, "%s", chk->service_id);
    const cat_service_t *bound = *sid ? store_service(c->api->store, sid) : NULL;
    const cat_check_t *prev = store_check(c->api->store, chk->id);
    if ((bound && bound->node) || (prev && prev->node)) {     /* an external node's, not the agent's */
        cat_check_free(chk);
        if (bound && bound->node)
            api_set_text(c->resp, 400, "ServiceID \"%s\" does not exist", sid);
        else
            api_set_text(c->resp, 500, "CheckID \"%s\" is registered for external node \"%s\"", prev->id, prev->node);
        return;
    }
    if (store_check_register(c->api->store, chk, now(c)) < 0) {
        api_set_text(c->resp, 400, "ServiceID \"%s\" does not exist", sid);
        return;
    }
    c->resp->wrote = 1;
    api_set_empty(c->resp, 200);
}

static void agent_check_deregister(api_ctx_t *c, const char *id)
{
    const cat_check_t *chk = store_check(c->api->store, id);
    if (!chk || chk->node || store_check_deregister(c->api->store, id) != 0) {
        unknown_check(c, id);
        return;
    }
    c->resp->wrote = 1;
    api_set_empty(c->resp, 200);
}

static void agent_self(api_ctx_t *c)
{
    json_t *self = render_agent_self(c->api->store, c->api->leader, c->api->version);
    if (c->api->add_stats)
        c->api->add_stats(c->api->stats_ctx, json_object_get(self, "Stats"));
    api_set_json(c, 200, self);
}

static void agent_members(api_ctx_t *c)
{
    json_t *self = render_agent_self(c->api->store, c->api->leader, c->api->version);
    json_t *m = json_incref(json_object_get(self, "Member"));
    json_decref(self);
    api_set_json(c, 200, json_pack("[o]", m));
}

/* ---- catalog ---- */
typedef struct { json_t *o; } names_ctx;
static void on_name(void *ctx, const char *name, char **tags, size_t ntags)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ntags; i++)
        json_array_append_new(a, json_string(tags[i]));
    json_object_set_new(((names_ctx *)ctx)->o, name, a);
}

static void catalog_services(api_ctx_t *c)
{
    names_ctx nc = {json_object()};
    store_each_name(c->api->store, on_name, &nc);
    /* map keys sorted, as Go prints maps */
    json_t *sorted = json_object();
    const char **keys = malloc((json_object_size(nc.o) + 1) * sizeof *keys);
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(nc.o, k, v) keys[n++] = k;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j]; keys[j] = keys[j - 1]; keys[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++)
        json_object_set(sorted, keys[i], json_object_get(nc.o, keys[i]));
    free(keys);
    json_decref(nc.o);
    api_finish(c, sorted, 200, store_index_services(c->api->store), API_WATCH_SERVICES, NULL);
}

static int tags_match(api_ctx_t *c, const cat_service_t *svc)
{
    const char *want;
    for (size_t i = 0; (want = param_nth(c->req, "tag", i)) != NULL; i++) {
        int found = 0;
        for (size_t t = 0; t < svc->ntags && !found; t++)
            found = strcasecmp(svc->tags[t], want) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

static void catalog_service(api_ctx_t *c, const char *name)
{
    if (!*name) {
        api_set_text(c->resp, 400, "Missing service name");
        return;
    }
    size_t n;
    cat_service_t **inst = store_instances(c->api->store, name, &n);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        if (tags_match(c, inst[i]))
            json_array_append_new(a, render_catalog_service(c->api->store, inst[i]));
    free(inst);
    api_finish(c, a, 200, store_index_service(c->api->store, name), API_WATCH_SERVICE, name);
}

static void catalog_nodes(api_ctx_t *c)
{
    json_t *a = api_node_all(c);
    api_finish(c, a, 200, store_index_nodes(c->api->store), API_WATCH_NODES, NULL);
}

/* ---- health ---- */
static json_t *checks_of(api_ctx_t *c, const cat_service_t *svc, int *all_passing)
{
    json_t *a = json_array();
    size_t n;
    cat_check_t **node = api_node_checks_of(c, svc, &n);
    *all_passing = 1;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, render_check(c->api->store, node[i]));
        if (strcmp(node[i]->status, "passing") != 0)
            *all_passing = 0;
    }
    free(node);
    for (cat_check_t *k = svc->checks; k; k = k->next_in_service) {
        json_array_append_new(a, render_check(c->api->store, k));
        if (strcmp(k->status, "passing") != 0)
            *all_passing = 0;
    }
    return a;
}

static void health_service(api_ctx_t *c, const char *name)
{
    if (!*name) {
        api_set_text(c->resp, 400, "Missing service name");
        return;
    }
    const char *pv = api_param(c->req, "passing");
    int passing = 0;
    if (pv && api_parse_bool(pv, &passing) != 0) {
        api_set_text(c->resp, 400, "Invalid value for ?passing");
        return;
    }
    size_t n;
    cat_service_t **inst = store_instances(c->api->store, name, &n);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!tags_match(c, inst[i]))
            continue;
        int ok;
        json_t *checks = checks_of(c, inst[i], &ok);
        if (passing && !ok) {
            json_decref(checks);
            continue;
        }
        json_array_append_new(a, json_pack("{s:o, s:o, s:o}", "Node", render_node_of(c->api->store, inst[i]), "Service",
                                           render_health_service(c->api->store, inst[i]), "Checks", checks));
    }
    free(inst);
    api_finish(c, a, 200, store_index_service(c->api->store, name), API_WATCH_SERVICE, name);
}

static void health_checks(api_ctx_t *c, const char *name)
{
    if (!*name) {
        api_set_text(c->resp, 400, "Missing service name");
        return;
    }
    size_t n;
    cat_service_t **inst = store_instances(c->api->store, name, &n);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        for (cat_check_t *k = inst[i]->checks; k; k = k->next_in_service)
            json_array_append_new(a, render_check(c->api->store, k));
    free(inst);
    api_finish(c, a, 200, store_index_checks(c->api->store), API_WATCH_CHECKS, NULL);
}

static void health_state(api_ctx_t *c, const char *state)
{
    if (strcmp(state, "any") && strcmp(state, "passing") && strcmp(state, "warning") && strcmp(state, "critical")) {
        api_set_text(c->resp, 400, "Invalid state");
        return;
    }
    size_t n;
    cat_check_t **all = store_all_checks(c->api->store, &n);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        if (!strcmp(state, "any") || !strcmp(state, all[i]->status))
            json_array_append_new(a, render_check(c->api->store, all[i]));
    free(all);
    api_finish(c, a, 200, store_index_checks(c->api->store), API_WATCH_CHECKS, NULL);
}

static void health_node(api_ctx_t *c, const char *node)
{
    json_t *a = json_array();
    int local = strcasecmp(node, store_node(c->api->store)) == 0;
    if (local || store_ext_node(c->api->store, node)) {
        /* every check on the node, node-level and services', by CheckID (Consul's NodeChecks) */
        size_t n;
        cat_check_t **nc = store_all_checks(c->api->store, &n);
        qsort(nc, n, sizeof *nc, cmp_check_id);
        for (size_t i = 0; i < n; i++)
            if (local ? !nc[i]->node : nc[i]->node && !strcasecmp(nc[i]->node, node))
                json_array_append_new(a, render_check(c->api->store, nc[i]));
        free(nc);
    }
    api_finish(c, a, 200, store_index_checks(c->api->store), API_WATCH_CHECKS, NULL);
}

/* ---- routing ---- */
static int prefix(const char *path, const char *p, const char **rest)
{
    size_t l = strlen(p);
    if (strncmp(path, p, l) != 0)
        return 0;
    *rest = path + l;
    return 1;
}

void api_response_clear(api_response_t *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

void catalog_api_handle(catalog_api_t *api, const api_request_t *req, int allow_block, api_response_t *resp)
{
    memset(resp, 0, sizeof *resp);
    api_ctx_t cx = {.api = api, .req = req, .resp = resp, .allow_block = allow_block};
    api_ctx_t *c = &cx;
    c->pretty = api_param(req, "pretty") != NULL;
    /* sessions past their TTL or bound to a failed check go before anything is answered */
    if (api->now_ms)
        store_sessions_sweep(api->store, api->now_ms());
    const char *p = req->path, *rest;

    if (!strcmp(p, "/v1/agent/services")) {
        if (method_is(c, ALLOW_GET)) agent_services(c);
    } else if (!strcmp(p, "/v1/agent/checks")) {
        if (method_is(c, ALLOW_GET)) agent_checks(c);
    } else if (!strcmp(p, "/v1/agent/self")) {
        if (method_is(c, ALLOW_GET)) agent_self(c);
    } else if (!strcmp(p, "/v1/agent/members")) {
        if (method_is(c, ALLOW_GET)) agent_members(c);
    } else if (!strcmp(p, "/v1/agent/service/register")) {
        if (method_is(c, ALLOW_PUT)) agent_register(c);
    } else if (prefix(p, "/v1/agent/service/deregister/", &rest)) {
        if (method_is(c, ALLOW_PUT)) agent_deregister(c, rest);
    } else if (prefix(p, "/v1/agent/service/maintenance/", &rest)) {
        if (method_is(c, ALLOW_PUT)) agent_maintenance(c, rest);
    } else if (!strcmp(p, "/v1/agent/check/register")) {
        if (method_is(c, ALLOW_PUT)) agent_check_register(c);
    } else if (prefix(p, "/v1/agent/check/deregister/", &rest)) {
        if (method_is(c, ALLOW_PUT)) agent_check_deregister(c, rest);
    } else if (prefix(p, "/v1/agent/check/pass/", &rest)) {
        if (method_is(c, ALLOW_PUT)) agent_check_status(c, rest, "passing", api_param(req, "note"), 0);
    } else if (prefix(p, "/v1/agent/check/warn/", &rest)) {
        if (method_is(c, ALLOW_PUT)) agent_check_status(c, rest, "warning", api_param(req, "note"), 0);
    } else if (prefix(p, "/v1/agent/check/fail/", &rest)) {
        if (method_is(c, ALLOW_PUT)) agent_check_status(c, rest, "critical", api_param(req, "note"), 0);
    } else if (prefix(p, "/v1/agent/check/update/", &rest)) {
        if (method_is(c, ALLOW_PUT)) agent_check_update(c, rest);
    } else if (!strcmp(p, "/v1/catalog/services")) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) catalog_services(c);
    } else if (!strcmp(p, "/v1/catalog/nodes")) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) catalog_nodes(c);
    } else if (!strcmp(p, "/v1/catalog/register")) {
        if (method_is(c, ALLOW_PUT)) api_catalog_register(c);
    } else if (!strcmp(p, "/v1/catalog/deregister")) {
        if (method_is(c, ALLOW_PUT)) api_catalog_deregister(c);
    } else if (!strcmp(p, "/v1/agent/maintenance")) {
        if (method_is(c, ALLOW_PUT)) api_node_maintenance(c);
    } else if (prefix(p, "/v1/catalog/node/", &rest)) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) api_node_catalog(c, rest);
    } else if (prefix(p, "/v1/catalog/node-services/", &rest)) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) api_node_services(c, rest);
    } else if (!strcmp(p, "/v1/catalog/datacenters")) {
        if (method_is(c, ALLOW_GET)) api_set_json(c, 200, json_pack("[s]", store_datacenter(api->store)));
    } else if (prefix(p, "/v1/catalog/service/", &rest) || !strcmp(p, "/v1/catalog/service")) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) catalog_service(c, strcmp(p, "/v1/catalog/service") ? rest : "");
    } else if (prefix(p, "/v1/health/service/", &rest) || !strcmp(p, "/v1/health/service")) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) health_service(c, strcmp(p, "/v1/health/service") ? rest : "");
    } else if (prefix(p, "/v1/health/checks/", &rest)) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) health_checks(c, rest);
    } else if (prefix(p, "/v1/health/state/", &rest)) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) health_state(c, rest);
    } else if (prefix(p, "/v1/health/node/", &rest)) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) health_node(c, rest);
    } else if (prefix(p, "/v1/kv/", &rest) || !strcmp(p, "/v1/kv")) {
        if (method_is(c, ALLOW_KV)) api_kv_handle(c, strcmp(p, "/v1/kv") ? rest : "");
    } else if (!strcmp(p, "/v1/txn")) {
        if (method_is(c, ALLOW_PUT)) api_txn(c);
    } else if (prefix(p, "/v1/session/", &rest)) {
        int put = !strncmp(rest, "create", 6) || !strncmp(rest, "destroy", 7) || !strncmp(rest, "renew", 5);
        if (method_is(c, put ? ALLOW_PUT : ALLOW_GET)) api_session_handle(c, rest);
    } else if (prefix(p, "/v1/event/fire/", &rest) || !strcmp(p, "/v1/event/fire")) {
        if (method_is(c, ALLOW_PUT)) api_event_fire(c, strcmp(p, "/v1/event/fire") ? rest : "");
    } else if (!strcmp(p, "/v1/event/list")) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 0) == 0) api_event_list(c);
    } else if (!strcmp(p, "/v1/coordinate/datacenters")) {
        if (method_is(c, ALLOW_GET)) api_coordinate_datacenters(c);
    } else if (!strcmp(p, "/v1/coordinate/nodes")) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) api_coordinate_nodes(c, NULL);
    } else if (prefix(p, "/v1/coordinate/node/", &rest)) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 1, 1) == 0) api_coordinate_nodes(c, rest);
    } else if (!strcmp(p, "/v1/operator/raft/configuration")) {
        if (method_is(c, ALLOW_GET) && api_read_prologue(c, 0, 0) == 0) api_raft_configuration(c);
    } else if (!strcmp(p, "/v1/status/leader")) {
        if (method_is(c, ALLOW_GET)) api_set_json(c, 200, json_string(api->leader));
    } else if (!strcmp(p, "/v1/status/peers")) {
        if (method_is(c, ALLOW_GET)) api_set_json(c, 200, json_pack("[s]", api->leader));
    } else {
        api_set_text(resp, 404, "Invalid URL path: not a recognized HTTP API endpoint\n");
    }
}
