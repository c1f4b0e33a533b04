/* node_maint.h: node maintenance mode (Consul's /v1/agent/maintenance): a critical node check
 * `_node_maintenance` named `Node Maintenance Mode`, with the reason as its Notes. Being a node
 * check it makes every instance on the node critical (health ?passing, DNS) until it is removed.
 *
 * Owns nothing: the check lives in the store like any node check. Pure store writes; persisted
 * by persist.c as the state's NodeMaintenance (the reason, or null).
 */
#ifndef PORTOLAN_CATALOG_NODE_MAINT_H
#define PORTOLAN_CATALOG_NODE_MAINT_H

#include <stdint.h>
#include "store.h"

#define NODE_MAINT_CHECK_ID "_node_maintenance"

/* Enables (a second enable keeps the first reason, as Consul does) or disables. Returns 1 when
 * the store changed, 0 when not. */
int node_maint_set(catalog_store_t *s, int enable, const char *reason, int64_t now_ms);
/* The reason while enabled, else NULL (borrowed). */
const char *node_maint_reason(const catalog_store_t *s);

#endif
