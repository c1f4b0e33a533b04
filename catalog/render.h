/* render.h: catalog objects -> the JSON shapes Consul's HTTP API returns (field order as
 * Consul's structs declare them; map keys sorted). Pure; returns new jansson references. */
#ifndef PORTOLAN_CATALOG_RENDER_H
#define PORTOLAN_CATALOG_RENDER_H

#include <jansson.h>
#include "store.h"

json_t *render_agent_service(const catalog_store_t *s, const cat_service_t *svc);
json_t *render_check(const catalog_store_t *s, const cat_check_t *c);
json_t *render_node(const catalog_store_t *s);                 /* catalog/nodes, health Node */
json_t *render_ext_node(const catalog_store_t *s, const cat_node_t *n);  /* an external node, same shape */
json_t *render_node_of(const catalog_store_t *s, const cat_service_t *svc); /* the node a service is on */
json_t *render_catalog_service(const catalog_store_t *s, const cat_service_t *svc);
json_t *render_health_service(const catalog_store_t *s, const cat_service_t *svc); /* Service of health/service */
json_t *render_kv(const cat_kv_t *e);
/* A JSON string of any bytes: invalid UTF-8 becomes U+FFFD per byte, as Go writes it. */
json_t *render_stringn(const char *s, size_t n);
json_t *render_agent_self(const catalog_store_t *s, const char *leader, const char *version);

#endif
