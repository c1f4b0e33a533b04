/* api_misc.h: the smaller endpoints other Consul clients call (api_misc.c): user events,
 * coordinates, the raft configuration. */
#ifndef PORTOLAN_CATALOG_API_MISC_H
#define PORTOLAN_CATALOG_API_MISC_H

#include "api_ctx.h"

struct api_events;
void api_events_free(struct api_events *e);

/* PUT /v1/event/fire/:name[?node=&service=&tag=] */
void api_event_fire(api_ctx_t *c, const char *name);
/* GET /v1/event/list[?name=] (blocking on fired events; its prologue done by the caller) */
void api_event_list(api_ctx_t *c);
/* GET /v1/coordinate/datacenters, /v1/coordinate/nodes, /v1/coordinate/node/:node */
void api_coordinate_datacenters(api_ctx_t *c);
void api_coordinate_nodes(api_ctx_t *c, const char *node);   /* node NULL: every node */
/* GET /v1/operator/raft/configuration */
void api_raft_configuration(api_ctx_t *c);

#endif
