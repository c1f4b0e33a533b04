/* api_catalog.c: PUT /v1/catalog/register and /v1/catalog/deregister: nodes outside Docker and
 * outside this catalog (a database registered by hand), their services and their checks, as
 * Consul's catalog endpoints take them.
 *
 * Owns nothing. Promises: a register request is decoded and validated whole before anything is
 * written (Consul's texts: 500 `Must provide node`, `Must provide address if SkipNodeUpdate is
 * not set`, `Must provide service name with ID`, `Invalid service address`, `Missing service
 * registration`, `Missing node registration`), then applied as node, service, checks; answers
 * JSON `true`. Checks written here are CHECK_CATALOG: never run, their Status is what the
 * request says (default critical), as in Consul. Differences, documented in docs/catalog.md:
 * the catalog's own node is refused (it belongs to the agent endpoints), and service and check
 * IDs are unique across nodes. Never: touches the agent's own services or checks.
 */
#include "api_catalog.h"
#include "decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const decode_field_t reg_fields[] = {
    {"Datacenter", NULL, DECODE_STR}, {"ID", NULL, DECODE_STR}, {"Node", NULL, DECODE_STR},
    {"Address", NULL, DECODE_STR}, {"TaggedAddresses", "tagged_addresses", DECODE_STRMAP},
    {"NodeMeta", "node_meta", DECODE_STRMAP}, {"Service", NULL, DECODE_OBJ}, {"Check", NULL, DECODE_OBJ},
    {"Checks", NULL, DECODE_OBJLIST}, {"SkipNodeUpdate", "skip_node_update", DECODE_BOOL},
    {"Token", NULL, DECODE_STR}, {"Namespace", NULL, DECODE_STR}, {"Partition", NULL, DECODE_STR},
    {"PeerName", NULL, DECODE_STR}, {"Locality", NULL, DECODE_ANY},
};
enum { R_DC, R_ID, R_NODE, R_ADDR, R_TADDR, R_META, R_SVC, R_CHECK, R_CHECKS, R_SKIP, R_TOKEN, R_NS, R_PART, R_PEER,
       R_LOC, R_N };

static const decode_field_t chk_fields[] = {
    {"Node", NULL, DECODE_STR}, {"CheckID", NULL, DECODE_STR}, {"Name", NULL, DECODE_STR},
    {"Status", NULL, DECODE_STR}, {"Notes", NULL, DECODE_STR}, {"Output", NULL, DECODE_STR},
    {"ServiceID", NULL, DECODE_STR}, {"ServiceName", NULL, DECODE_STR}, {"ServiceTags", NULL, DECODE_STRLIST},
    {"Type", NULL, DECODE_STR}, {"Interval", NULL, DECODE_ANY}, {"Timeout", NULL, DECODE_ANY},
    {"ExposedPort", NULL, DECODE_INT}, {"Definition", NULL, DECODE_ANY}, {"CreateIndex", NULL, DECODE_INT},
    {"ModifyIndex", NULL, DECODE_INT}, {"Namespace", NULL, DECODE_STR}, {"Partition", NULL, DECODE_STR},
    {"PeerName", NULL, DECODE_STR},
};
enum { C_NODE, C_ID, C_NAME, C_STATUS, C_NOTES, C_OUTPUT, C_SID, C_SNAME, C_STAGS, C_TYPE, C_INT, C_TO, C_EXP, C_DEF,
       C_CI, C_MI, C_NS, C_PART, C_PEER, C_N };

static const char *sv(json_t *v) { return v ? json_string_value(v) : ""; }

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(((const cat_pair_t *)a)->key, ((const cat_pair_t *)b)->key);
}

static void pairs_from(json_t *obj, cat_pair_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!obj || !json_object_size(obj))
        return;
    *out = calloc(json_object_size(obj), sizeof **out);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        (*out)[*n].key = strdup(k);
        (*out)[*n].value = strdup(json_string_value(v));
        (*n)++;
    }
    qsort(*out, *n, sizeof **out, cmp_pair);
}

/* The Service object of a RegisterRequest (structs.NodeService) as an agent service definition
 * (its name field is "Service", not "Name"), decoded by decode_service_register. */
static int decode_node_service(json_t *so, cat_service_t **svc, char *err, size_t errlen)
{
    json_t *def = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(so, k, v) {
        if (!strcasecmp(k, "Service")) {
            json_object_set(def, "Name", v);
        } else if (!strcasecmp(k, "Name") || !strcasecmp(k, "Check") || !strcasecmp(k, "Checks")) {
            snprintf(err, errlen, "Request decode failed: json: unknown field \"%s\"", k);
            json_decref(def);
            return 400;
        } else if (strcasecmp(k, "CreateIndex") && strcasecmp(k, "ModifyIndex") && strcasecmp(k, "PeerName") &&
                   strcasecmp(k, "Datacenter")) {
            json_object_set(def, k, v);
        }
    }
    char *body = json_dumps(def, JSON_COMPACT);
    json_decref(def);
    if (!body) {
        snprintf(err, errlen, "Request decode failed: the Service object cannot be encoded");
        return 400;
    }
    cat_check_t **checks = NULL;
    size_t nchecks = 0;
    int st = decode_service_register(body, strlen(body), svc, &checks, &nchecks, err, errlen);
    free(body);
    free(checks);   /* none: the keys that carry checks were refused above */
    return st;
}

typedef struct {
    cat_node_t *node;
    cat_service_t *svc;
    cat_check_t **checks; size_t nchecks;
} reg_t;

static void reg_free(reg_t *r)
{
    cat_node_free(r->node);
    cat_service_free(r->svc);
    for (size_t i = 0; i < r->nchecks; i++) cat_check_free(r->checks[i]);
    free(r->checks);
}

static int decode_check_obj(json_t *o, const char *node, cat_check_t **out, char *err, size_t errlen)
{
    json_t *v[C_N];
    if (!json_is_object(o)) {
        snprintf(err, errlen, "Request decode failed: json: cannot unmarshal %s into Go struct field RegisterRequest.Checks of type structs.HealthCheck",
                 json_is_array(o) ? "array" : "value");
        return 400;
    }
    if (decode_bind(o, "HealthCheck", chk_fields, C_N, v, err, errlen) != 0)
        return 400;
    if (*sv(v[C_NODE]) && strcasecmp(sv(v[C_NODE]), node) != 0) {
        snprintf(err, errlen, "Check node \"%s\" does not match the registration's node \"%s\"", sv(v[C_NODE]), node);
        return 500;
    }
    const char *status = *sv(v[C_STATUS]) ? sv(v[C_STATUS]) : "critical";
    if (strcmp(status, "passing") && strcmp(status, "warning") && strcmp(status, "critical")) {
        snprintf(err, errlen, "Invalid check status: \"%s\"", status);
        return 500;
    }
    const char *id = *sv(v[C_ID]) ? sv(v[C_ID]) : sv(v[C_NAME]);
    if (!*id) {
        snprintf(err, errlen, "Missing check ID");
        return 500;
    }
    cat_check_t *c = cat_check_new();
    c->id = strdup(id);
    c->name = strdup(sv(v[C_NAME]));
    c->status = strdup(status);
    c->notes = strdup(sv(v[C_NOTES]));
    c->output = cat_truncate_output(sv(v[C_OUTPUT]));
    c->service_id = strdup(sv(v[C_SID]));
    c->kind = CHECK_CATALOG;
    c->node = strdup(node);
    *out = c;
    return 200;
}

/* Decodes and validates a whole RegisterRequest; 200 or the status with err. */
static int decode_register(const catalog_store_t *s, const char *body, size_t len, reg_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    json_t *root = decode_parse_body(body, len, err, errlen);
    json_t *v[R_N];
    int st = 400;
    if (!root)
        return 400;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "Request decode failed: json: cannot unmarshal value into Go value of type structs.RegisterRequest");
        goto out;
    }
    if (decode_bind(root, "RegisterRequest", reg_fields, R_N, v, err, errlen) != 0)
        goto out;
    st = 500;
    const char *dc = sv(v[R_DC]);
    if (*dc && strcmp(dc, store_datacenter(s)) != 0) {
        snprintf(err, errlen, "No path to datacenter");
        goto out;
    }
    const char *node = sv(v[R_NODE]);
    int skip = v[R_SKIP] && json_is_true(v[R_SKIP]);
    if (!*node) {
        snprintf(err, errlen, "Must provide node");
        goto out;
    }
    if (!strcasecmp(node, store_node(s))) {
        snprintf(err, errlen, "Node \"%s\" is this catalog's own node: register its services with /v1/agent/service/register", node);
        goto out;
    }
    const cat_node_t *existing = store_ext_node(s, node);
    if (!*sv(v[R_ADDR]) && !skip) {
        snprintf(err, errlen, "Must provide address if SkipNodeUpdate is not set");
        goto out;
    }
    if (skip && !existing) {
        snprintf(err, errlen, "Missing node registration");
        goto out;
    }
    if (!skip) {
        r->node = cat_node_new();
        r->node->name = strdup(existing ? existing->name : node);
        r->node->id = strdup(sv(v[R_ID]));
        r->node->address = strdup(sv(v[R_ADDR]));
        pairs_from(v[R_TADDR], &r->node->taddrs, &r->node->ntaddrs);
        pairs_from(v[R_META], &r->node->meta, &r->node->nmeta);
        for (size_t i = 0; i < r->node->nmeta; i++) {
            const char *why;
            if (decode_meta_pair_valid(r->node->meta[i].key, r->node->meta[i].value, &why) != 0) {
                snprintf(err, errlen, "Invalid node metadata: Couldn't load metadata pair ('%s', '%s'): %s",
                         r->node->meta[i].key, r->node->meta[i].value, why);
                goto out;
            }
        }
    }
    const char *node_name = existing ? existing->name : node;
    if (v[R_SVC]) {
        json_t *idv = NULL, *namev = NULL;
        const char *k;
        json_t *x;
        json_object_foreach(v[R_SVC], k, x) {
            if (!strcasecmp(k, "ID")) idv = x;
            if (!strcasecmp(k, "Service")) namev = x;
        }
        if (idv && json_is_string(idv) && *json_string_value(idv) && !(namev && json_is_string(namev) && *json_string_value(namev))) {
            snprintf(err, errlen, "Must provide service name with ID");
            goto out;
        }
        int ds = decode_node_service(v[R_SVC], &r->svc, err, errlen);
        if (ds != 200) {
            if (ds == 400 && !strcmp(err, "Invalid service address")) ds = 500;
            st = ds;
            goto out;
        }
        r->svc->node = strdup(node_name);
        const cat_service_t *prev = store_service(s, r->svc->id);
        if (prev && (!prev->node || strcasecmp(prev->node, node_name))) {
            snprintf(err, errlen, "Service ID \"%s\" is already registered on node \"%s\" (IDs are unique across nodes here)",
                     r->svc->id, prev->node ? prev->node : store_node(s));
            goto out;
        }
    }
    size_t nc = (v[R_CHECK] ? 1 : 0) + (v[R_CHECKS] ? json_array_size(v[R_CHECKS]) : 0);
    r->checks = calloc(nc ? nc : 1, sizeof *r->checks);
    for (size_t i = 0; i < nc; i++) {
        json_t *o = v[R_CHECK] ? (i == 0 ? v[R_CHECK] : json_array_get(v[R_CHECKS], i - 1)) : json_array_get(v[R_CHECKS], i);
        int cs = decode_check_obj(o, node_name, &r->checks[r->nchecks], err, errlen);
        if (cs != 200) {
            st = cs;
            goto out;
        }
        cat_check_t *k = r->checks[r->nchecks++];
        if (*k->service_id) {
            const cat_service_t *bound = store_service(s, k->service_id);
            int in_request = r->svc && !strcmp(r->svc->id, k->service_id);
            if (!in_request && !(bound && bound->node && !strcasecmp(bound->node, node_name))) {
                snprintf(err, errlen, "Missing service registration");
                goto out;
            }
        }
        const cat_check_t *prevc = store_check(s, k->id);
        if (prevc && (!prevc->node || strcasecmp(prevc->node, node_name))) {
            snprintf(err, errlen, "Check ID \"%s\" is already registered on node \"%s\" (IDs are unique across nodes here)",
                     k->id, prevc->node ? prevc->node : store_node(s));
            goto out;
        }
    }
    st = 200;
out:
    json_decref(root);
    if (st != 200)
        reg_free(r);
    return st;
}

int api_catalog_apply(catalog_store_t *s, const char *body, size_t len, int64_t now, int *wrote, char *err,
                      size_t errlen)
{
    reg_t r;
    int st = decode_register(s, body, len, &r, err, errlen);
    *wrote = 0;
    if (st != 200)
        return st;
    if (r.node) {
        *wrote |= store_ext_node_put(s, r.node) > 0;
        r.node = NULL;
    }
    if (r.svc) {
        *wrote |= store_register(s, r.svc, NULL, 0, 0, now) > 0;
        r.svc = NULL;
    }
    for (size_t i = 0; i < r.nchecks; i++) {
        cat_check_t *k = r.checks[i];
        r.checks[i] = NULL;
        char *id = strdup(k->id), *status = strdup(k->status), *output = strdup(k->output);
        *wrote |= store_check_register(s, k, now) > 0;
        /* the request's Status is the status (store_check_register keeps an existing one) */
        cat_check_t *live = store_check(s, id);
        if (live)
            *wrote |= store_check_update(s, live, status, output, now) > 0;
        free(id); free(status); free(output);
    }
    reg_free(&r);
    return 200;
}

void api_catalog_register(api_ctx_t *c)
{
    char err[2048];
    int wrote;
    int64_t now = c->api->now_ms ? c->api->now_ms() : 0;
    int st = api_catalog_apply(c->api->store, c->req->body, c->req->body_len, now, &wrote, err, sizeof err);
    if (st != 200) {
        api_set_text(c->resp, st, "%s", err);
        return;
    }
    c->resp->wrote = wrote;
    api_set_json(c, 200, json_true());
}

static json_t *pairs_obj(const cat_pair_t *p, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) json_object_set_new(o, p[i].key, json_string(p[i].value));
    return o;
}

static json_t *check_req(const cat_check_t *k)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "CheckID", k->id, "Name", k->name ? k->name : "", "Status", k->status,
                     "Notes", k->notes ? k->notes : "", "Output", k->output ? k->output : "", "ServiceID",
                     k->service_id ? k->service_id : "");
}

json_t *api_catalog_dump(const catalog_store_t *s)
{
    json_t *arr = json_array();
    size_t n, ns;
    cat_node_t **nodes = store_ext_nodes(s, &n);
    cat_service_t **svcs = store_all_services(s, &ns);
    for (size_t i = 0; i < n; i++) {
        const cat_node_t *nd = nodes[i];
        json_t *checks = json_array();
        for (cat_check_t *k = nd->checks; k; k = k->next_in_service) json_array_append_new(checks, check_req(k));
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "Node", nd->name, "ID", nd->id ? nd->id : "",
                                             "Address", nd->address, "TaggedAddresses", pairs_obj(nd->taddrs, nd->ntaddrs),
                                             "NodeMeta", pairs_obj(nd->meta, nd->nmeta), "Checks", checks));
        for (size_t j = 0; j < ns; j++) {
            const cat_service_t *sv = svcs[j];
            if (!sv->node || strcasecmp(sv->node, nd->name)) continue;
            json_t *tags = json_array(), *ta = json_object();
            for (size_t t = 0; t < sv->ntags; t++) json_array_append_new(tags, json_string(sv->tags[t]));
            for (size_t t = 0; t < sv->ntaddrs; t++)
                json_object_set_new(ta, sv->taddrs[t].key, json_pack("{s:s,s:i}", "Address", sv->taddrs[t].address, "Port", sv->taddrs[t].port));
            json_t *svc = json_pack("{s:s,s:s,s:o,s:s,s:o,s:o,s:i,s:{s:i,s:i},s:b}", "ID", sv->id, "Service", sv->name, "Tags", tags,
                                    "Address", sv->address ? sv->address : "", "TaggedAddresses", ta, "Meta",
                                    pairs_obj(sv->meta, sv->nmeta), "Port", sv->port, "Weights", "Passing", sv->w_passing,
                                    "Warning", sv->w_warning, "EnableTagOverride", sv->enable_tag_override);
            json_t *sc = json_array();
            for (cat_check_t *k = sv->checks; k; k = k->next_in_service) json_array_append_new(sc, check_req(k));
            json_array_append_new(arr, json_pack("{s:s,s:b,s:o,s:o}", "Node", nd->name, "SkipNodeUpdate", 1, "Service", svc,
                                                 "Checks", sc));
        }
    }
    free(nodes);
    free(svcs);
    return arr;
}

static const decode_field_t dereg_fields[] = {
    {"Datacenter", NULL, DECODE_STR}, {"Node", NULL, DECODE_STR}, {"ServiceID", NULL, DECODE_STR},
    {"CheckID", NULL, DECODE_STR}, {"Token", NULL, DECODE_STR}, {"Namespace", NULL, DECODE_STR},
    {"Partition", NULL, DECODE_STR}, {"PeerName", NULL, DECODE_STR},
};
enum { D_DC, D_NODE, D_SID, D_CID, D_TOKEN, D_NS, D_PART, D_PEER, D_N };

void api_catalog_deregister(api_ctx_t *c)
{
    char err[2048];
    json_t *root = decode_parse_body(c->req->body, c->req->body_len, err, sizeof err), *v[D_N];
    if (!root) {
        api_set_text(c->resp, 400, "%s", err);
        return;
    }
    if (!json_is_object(root) || decode_bind(root, "DeregisterRequest", dereg_fields, D_N, v, err, sizeof err) != 0) {
        if (!json_is_object(root))
            snprintf(err, sizeof err, "Request decode failed: json: cannot unmarshal value into Go value of type structs.DeregisterRequest");
        api_set_text(c->resp, 400, "%s", err);
        json_decref(root);
        return;
    }
    catalog_store_t *s = c->api->store;
    const char *dc = sv(v[D_DC]), *node = sv(v[D_NODE]), *sid = sv(v[D_SID]), *cid = sv(v[D_CID]);
    if (*dc && strcmp(dc, store_datacenter(s)) != 0) {
        api_set_text(c->resp, 500, "No path to datacenter");
    } else if (!*node) {
        api_set_text(c->resp, 500, "Must provide node");
    } else if (!strcasecmp(node, store_node(s))) {
        api_set_text(c->resp, 500, "Node \"%s\" is this catalog's own node: deregister its services with /v1/agent/service/deregister", node);
    } else {
        int wrote = 0;
        const cat_node_t *en = store_ext_node(s, node);
        if (en && *sid) {
            const cat_service_t *svc = store_service(s, sid);
            if (svc && svc->node && !strcasecmp(svc->node, en->name))
                wrote |= store_deregister(s, sid) == 0;
        }
        if (en && *cid) {
            const cat_check_t *k = store_check(s, cid);
            if (k && k->node && !strcasecmp(k->node, en->name))
                wrote |= store_check_deregister(s, cid) == 0;
        }
        if (en && !*sid && !*cid)
            wrote |= store_ext_node_delete(s, en->name) == 0;
        c->resp->wrote = wrote;
        api_set_json(c, 200, json_true());   /* an unknown node, service or check: nothing to do */
    }
    json_decref(root);
}
