/* api_node.c: the node-level endpoints of Consul's HTTP API for the catalog's one node: node
 * maintenance, and the node's services (catalog/node, catalog/node-services).
 *
 * Owns nothing. Promises Consul's shapes: catalog/node answers {"Node","Services":{ID: service}}
 * and, for a node it does not know, 200 `null`; catalog/node-services answers {"Node","Services":
 * [service...]} in service ID order and {"Node":null,"Services":[]} for an unknown node. Both
 * block on the nodes and services tables (index: the higher of the two). Node names compare
 * case-insensitively, as Consul's catalog does. Never: writes outside the store.
 */
#include "api_node.h"
#include "node_maint.h"
#include "render.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void api_node_maintenance(api_ctx_t *c)
{
    const char *en = api_param(c->req, "enable");
    int enable;
    if (!en) {
        api_set_text(c->resp, 400, "Missing value for enable");
        return;
    }
    if (api_parse_bool(en, &enable) != 0 || !*en) {
        api_set_text(c->resp, 400, "Invalid value for enable: \"%s\"", en);
        return;
    }
    int64_t now = c->api->now_ms ? c->api->now_ms() : 0;
    c->resp->wrote = node_maint_set(c->api->store, enable, api_param(c->req, "reason"), now) > 0;
    api_set_empty(c->resp, 200);
}

static uint64_t node_index(const catalog_store_t *s)
{
    uint64_t a = store_index_nodes(s), b = store_index_services(s);
    return a > b ? a : b;
}

static int is_local(const api_ctx_t *c, const char *node)
{
    return strcasecmp(node, store_node(c->api->store)) == 0;
}

void api_node_catalog(api_ctx_t *c, const char *node)
{
    const catalog_store_t *s = c->api->store;
    json_t *j = json_null();
    if (is_local(c, node)) {
        json_t *svcs = json_object();
        size_t n;
        cat_service_t **all = store_all_services(s, &n);
        for (size_t i = 0; i < n; i++)
            json_object_set_new(svcs, all[i]->id, render_health_service(s, all[i]));
        free(all);
        json_decref(j);
        j = json_pack("{s:o,s:o}", "Node", render_node(s), "Services", svcs);
    }
    api_finish(c, j, 200, node_index(s), API_WATCH_NODES | API_WATCH_SERVICES, NULL);
}

void api_node_services(api_ctx_t *c, const char *node)
{
    const catalog_store_t *s = c->api->store;
    json_t *arr = json_array(), *n_json = json_null();
    if (is_local(c, node)) {
        size_t n;
        cat_service_t **all = store_all_services(s, &n);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, render_health_service(s, all[i]));
        free(all);
        json_decref(n_json);
        n_json = render_node(s);
    }
    api_finish(c, json_pack("{s:o,s:o}", "Node", n_json, "Services", arr), 200, node_index(s),
               API_WATCH_NODES | API_WATCH_SERVICES, NULL);
}
