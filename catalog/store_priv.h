/* store_priv.h: the catalog store's private parts, shared by store.c (services, checks, nodes,
 * change tracking) and store_kv.c (KV and sessions as store writes) and by nothing else. */
#ifndef PORTOLAN_CATALOG_STORE_PRIV_H
#define PORTOLAN_CATALOG_STORE_PRIV_H

#include "store.h"
#include "strmap.h"

typedef struct {
    char *display;          /* the name as first registered */
    uint64_t index;
    cat_service_t *head;
} cat_name_t;

struct catalog_store {
    char *node, *node_id, *dc, *address;
    uint64_t index, idx_nodes, idx_services, idx_checks;
    uint64_t node_create, node_modify;
    strmap_t *services, *checks, *names;
    strmap_t *ext_nodes;        /* lower-cased name -> cat_node_t */
    kv_table_t *kv;
    session_table_t *sessions;
    cat_check_t *node_checks;   /* sorted by ID */
    cat_change_cb on_change; void *change_ctx;
    cat_check_hook on_check_added, on_check_removed; void *check_ctx;
    cat_dirty_cb on_dirty; void *dirty_ctx;
    cat_change_t pending;
    int npending_names;
    char *pending_names[4];
};

/* A write: store_begin_write raises the global index and returns it; store_end_write delivers
 * the change collected in s->pending through the change hook. */
uint64_t store_begin_write(catalog_store_t *s);
void store_end_write(catalog_store_t *s);
/* Reports an entity the current write changed to the dirty hook (durable.c). */
void store_dirty(catalog_store_t *s, cat_dirty_t kind, const char *id);
static inline uint64_t atleast1(uint64_t v) { return v ? v : 1; }

#endif
