/* api_node.h: the catalog's node-level HTTP endpoints (api_node.c). */
#ifndef PORTOLAN_CATALOG_API_NODE_H
#define PORTOLAN_CATALOG_API_NODE_H

#include "api_ctx.h"

/* PUT /v1/agent/maintenance?enable=&reason= */
void api_node_maintenance(api_ctx_t *c);
/* GET /v1/catalog/node/:node (read prologue done by the caller) */
void api_node_catalog(api_ctx_t *c, const char *node);
/* GET /v1/catalog/node-services/:node (read prologue done by the caller) */
void api_node_services(api_ctx_t *c, const char *node);

/* The catalog/nodes array: this node and the external ones, by name. */
json_t *api_node_all(api_ctx_t *c);
/* The node-level checks of the node svc is on, by CheckID (malloc'd array). */
cat_check_t **api_node_checks_of(api_ctx_t *c, const cat_service_t *svc, size_t *n);

#endif
