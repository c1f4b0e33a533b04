/* api_node.c: the node-level endpoints of Consul's HTTP API: node maintenance (the catalog's own
 * node), and a node's services (catalog/node, catalog/node-services) for the catalog's node and
 * the external nodes of /v1/catalog/register.
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
    int enable;
    if (api_param_enable(c, &enable) != 0)
        return;
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

static int cmp_node_json(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "Node")),
                  json_string_value(json_object_get(*(json_t *const *)b, "Node")));
}

json_t *api_node_all(api_ctx_t *c)
{
    size_t n;
    cat_node_t **nodes = store_ext_nodes(c->api->store, &n);
    json_t **all = malloc((n + 1) * sizeof *all);
    all[0] = render_node(c->api->store);
    for (size_t i = 0; i < n; i++)
        all[i + 1] = render_ext_node(c->api->store, nodes[i]);
    free(nodes);
    qsort(all, n + 1, sizeof *all, cmp_node_json);   /* by name, as Consul lists them */
    json_t *arr = json_array();
    for (size_t i = 0; i < n + 1; i++)
        json_array_append_new(arr, all[i]);
    free(all);
    return arr;
}

cat_check_t **api_node_checks_of(api_ctx_t *c, const cat_service_t *svc, size_t *n)
{
    if (!svc->node)
        return store_node_checks(c->api->store, n);
    const cat_node_t *en = store_ext_node(c->api->store, svc->node);
    size_t cnt = 0;
    for (cat_check_t *k = en ? en->checks : NULL; k; k = k->next_in_service) cnt++;
    cat_check_t **arr = malloc((cnt ? cnt : 1) * sizeof *arr);
    cnt = 0;
    for (cat_check_t *k = en ? en->checks : NULL; k; k = k->next_in_service) arr[cnt++] = k;
    *n = cnt;
    return arr;
}

/* The services on node (local or external) in ID order, and its Node object; NULL when unknown. */
static cat_service_t **services_on(api_ctx_t *c, const char *node, size_t *n, json_t **node_json)
{
    const catalog_store_t *s = c->api->store;
    int local = is_local(c, node);
    const cat_node_t *en = local ? NULL : store_ext_node(s, node);
    if (!local && !en)
        return NULL;
    size_t all_n, k = 0;
    cat_service_t **all = store_all_services(s, &all_n);
    for (size_t i = 0; i < all_n; i++)
        if (local ? !all[i]->node : all[i]->node && !strcasecmp(all[i]->node, en->name))
            all[k++] = all[i];
    *n = k;
    *node_json = local ? render_node(s) : render_ext_node(s, en);
    return all;
}

void api_node_catalog(api_ctx_t *c, const char *node)
{
    const catalog_store_t *s = c->api->store;
    json_t *j = json_null(), *nj;
    size_t n;
    cat_service_t **all = services_on(c, node, &n, &nj);
    if (all) {
        json_t *svcs = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(svcs, all[i]->id, render_health_service(s, all[i]));
        free(all);
        json_decref(j);
        j = json_pack("{s:o,s:o}", "Node", nj, "Services", svcs);
    }
    api_finish(c, j, 200, node_index(s), API_WATCH_NODES | API_WATCH_SERVICES, NULL);
}

void api_node_services(api_ctx_t *c, const char *node)
{
    const catalog_store_t *s = c->api->store;
    json_t *arr = json_array(), *n_json = json_null(), *nj;
    size_t n;
    cat_service_t **all = services_on(c, node, &n, &nj);
    if (all) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, render_health_service(s, all[i]));
        free(all);
        json_decref(n_json);
        n_json = nj;
    }
    api_finish(c, json_pack("{s:o,s:o}", "Node", n_json, "Services", arr), 200, node_index(s),
               API_WATCH_NODES | API_WATCH_SERVICES, NULL);
}
