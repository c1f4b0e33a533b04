/* store.h: the catalog's state for one node: services, checks, KV, and the index rules of
 * Consul's state store (one global counter raised once per committed write; per-table and
 * per-service-name last-write indexes). The KV table itself (entries, cas, tombstones, prefix
 * indexes) is kv.c's; the store_kv_* calls below run its writes as store writes.
 *
 * Pure data: no sockets, no timers, no clock reads (callers pass `now_ms`). A write that
 * changes nothing (an identical re-registration, a check update to the same status and
 * output) does not raise any index. Every write that does change something calls the
 * store's change hook once with a description of what changed, so blocking queries can
 * re-evaluate. Strings passed in are copied; objects handed out are borrowed.
 */
#ifndef PORTOLAN_CATALOG_STORE_H
#define PORTOLAN_CATALOG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kv.h"
#include "session.h"

typedef struct { char *key; char *value; } cat_pair_t;
typedef struct { char *key; char *address; int port; } cat_taddr_t;

typedef struct cat_check cat_check_t;
typedef struct cat_service cat_service_t;

struct cat_service {
    char *id, *name;
    char **tags; size_t ntags;
    char *address; int port;
    cat_pair_t *meta; size_t nmeta;            /* sorted by key */
    cat_taddr_t *taddrs; size_t ntaddrs;       /* sorted by key */
    int w_passing, w_warning;
    int enable_tag_override;
    uint64_t create_index, modify_index;
    int interned;                              /* name, tags, meta are store-interned (store.c) */
    char *node;                                /* NULL: this catalog's node; else an external node's name */
    /* links owned by the store */
    cat_service_t *next_same_name;
    cat_check_t *checks;                       /* this service's checks, sorted by CheckID */
};

/* CHECK_CATALOG: registered through /v1/catalog/register; never run, its status is what was written */
typedef enum { CHECK_TTL, CHECK_HTTP, CHECK_TCP, CHECK_GRPC, CHECK_MAINT, CHECK_SERF, CHECK_CATALOG } cat_check_kind_t;

typedef struct { char *name; char **values; size_t nvalues; } cat_header_t;

struct cat_check {
    char *id, *name, *status, *notes, *output, *service_id;
    cat_check_kind_t kind;
    int64_t interval_ns, timeout_ns, ttl_ns, dereg_after_ns;
    char *http, *method, *body, *tcp, *grpc, *tls_server_name;
    int tls_skip_verify, grpc_use_tls;
    cat_header_t *headers; size_t nheaders;
    int success_before_passing, failures_before_critical;
    uint64_t create_index, modify_index;
    int64_t critical_since_ms;                 /* -1 when not critical */
    int consecutive_ok, consecutive_fail;
    cat_check_t *next_in_service;
    void *runner;                              /* owned by checks.c */
    char *node;                                /* NULL: this catalog's node; else an external node's name */
};

/* A node other than the catalog's own, registered through /v1/catalog/register (a database
 * outside Docker). Its services are ordinary store services with `node` set; its node-level
 * checks are CHECK_CATALOG checks with `node` set and no service. Service and check IDs are
 * unique across all nodes here (Consul scopes them per node). */
typedef struct cat_node {
    char *name, *id, *address;
    cat_pair_t *taddrs; size_t ntaddrs;        /* TaggedAddresses, sorted by key */
    cat_pair_t *meta; size_t nmeta;            /* Meta, sorted by key */
    uint64_t create_index, modify_index;
    cat_check_t *checks;                       /* node-level checks, sorted by CheckID (store links) */
} cat_node_t;

typedef struct catalog_store catalog_store_t;

/* What a write changed, for waking blocking queries. */
typedef struct {
    int nodes, services, checks, kv;
    const char *service_names[4];  /* lower-cased names whose per-service index rose (NULL-terminated); */
    int all_services;              /* set when more than fit above changed */
    const char *kv_key;            /* with kv: the key written, or the prefix deleted */
    int kv_prefix;                 /* kv_key is a prefix (recursive delete) */
    int events;                    /* a user event was fired (no table changed; store_notify) */
    int sessions;                  /* the sessions table changed */
} cat_change_t;
typedef void (*cat_change_cb)(void *ctx, const cat_change_t *ch);

catalog_store_t *store_new(const char *node, const char *node_id, const char *datacenter,
                           const char *address);
void store_free(catalog_store_t *s);
void store_set_change_hook(catalog_store_t *s, cat_change_cb cb, void *ctx);
/* Delivers ch through the change hook without writing anything (user events, which live
 * outside the store but wake blocking queries the same way). */
void store_notify(catalog_store_t *s, const cat_change_t *ch);
/* Hooks for checks.c: called after a check is created/replaced (so timers restart) or before
 * it is destroyed. */
typedef void (*cat_check_hook)(void *ctx, cat_check_t *c);
void store_set_check_hooks(catalog_store_t *s, cat_check_hook on_added, cat_check_hook on_removed, void *ctx);

/* store_new_at: the same store with every index counted from base instead of 0: the boot
 * entries get base+1..base+3 and the first write base+4. main.c passes the wall-clock time in
 * microseconds, so a restarted catalog starts above every index its previous run gave out (see
 * docs/catalog.md, Indexes). A base above UINT64_MAX/2 is taken as 0. */
catalog_store_t *store_new_at(const char *node, const char *node_id, const char *dc, const char *address,
                              uint64_t base);

const char *store_node(const catalog_store_t *s);
const char *store_node_id(const catalog_store_t *s);
const char *store_datacenter(const catalog_store_t *s);
const char *store_address(const catalog_store_t *s);
uint64_t store_node_create_index(const catalog_store_t *s);
uint64_t store_node_modify_index(const catalog_store_t *s);

/* Indexes; never 0 (Consul never sends 0). */
uint64_t store_index(const catalog_store_t *s);
uint64_t store_index_nodes(const catalog_store_t *s);
uint64_t store_index_services(const catalog_store_t *s);
uint64_t store_index_checks(const catalog_store_t *s);
uint64_t store_index_kv(const catalog_store_t *s);
uint64_t store_index_service(const catalog_store_t *s, const char *name); /* case-insensitive */
/* Raises the global index to at least idx (used when loading persisted state). */
void store_bump_index(catalog_store_t *s, uint64_t idx);

/* ---- services and checks ---- */
/* Takes ownership of svc and of the checks array's elements (not of the array itself).
 * Replaces a service with the same ID; existing checks keep Status/Output; checks not named
 * are kept unless replace_checks. Returns 1 if anything changed, 0 if identical. */
int store_register(catalog_store_t *s, cat_service_t *svc, cat_check_t **checks, size_t nchecks,
                   int replace_checks, int64_t now_ms);
/* Returns 0, or -1 when the ID is unknown. */
int store_deregister(catalog_store_t *s, const char *id);
cat_service_t *store_service(const catalog_store_t *s, const char *id);
/* Instances of a name (case-insensitive), in ID order; *n set. Returned array is malloc'd. */
cat_service_t **store_instances(const catalog_store_t *s, const char *name, size_t *n);
/* All services in ID order (malloc'd array). */
cat_service_t **store_all_services(const catalog_store_t *s, size_t *n);
/* Distinct service names with their instances' de-duplicated, sorted tags, via callback in
 * name order. */
typedef void (*cat_name_cb)(void *ctx, const char *name, char **tags, size_t ntags);
void store_each_name(const catalog_store_t *s, cat_name_cb cb, void *ctx);

/* A standalone check (agent/check/register) or a service's; takes ownership. */
int store_check_register(catalog_store_t *s, cat_check_t *c, int64_t now_ms);
int store_check_deregister(catalog_store_t *s, const char *id);
cat_check_t *store_check(const catalog_store_t *s, const char *id);
/* This node's checks (serfHealth, standalone checks without service) in CheckID order. A check
 * with `node` set belongs to that external node (which must exist, else -1). */
cat_check_t **store_node_checks(const catalog_store_t *s, size_t *n);
/* Every check, node checks first, then by service ID and CheckID (malloc'd). */
cat_check_t **store_all_checks(const catalog_store_t *s, size_t *n);
/* Status/output update; output is truncated as Consul does. Returns 1 changed, 0 same. */
int store_check_update(catalog_store_t *s, cat_check_t *c, const char *status, const char *output,
                       int64_t now_ms);
/* Maintenance mode for a service; returns 0, -1 unknown service. */
int store_service_maintenance(catalog_store_t *s, const char *service_id, int enable,
                              const char *reason, int64_t now_ms);
/* Services whose checks have been critical longer than their DeregisterCriticalServiceAfter:
 * deregisters them; returns how many. */
int store_reap(catalog_store_t *s, int64_t now_ms);

/* Aggregate status of an instance's checks incl. node checks: passing < warning < critical. */
const char *store_instance_status(const catalog_store_t *s, const cat_service_t *svc);

/* ---- external nodes ---- */
/* By name, case-insensitive; NULL when unknown. */
cat_node_t *store_ext_node(const catalog_store_t *s, const char *name);
/* All, by name (malloc'd array). */
cat_node_t **store_ext_nodes(const catalog_store_t *s, size_t *n);
/* Adds or replaces (keeping CreateIndex and its checks); takes ownership. 1 changed, 0 identical. */
int store_ext_node_put(catalog_store_t *s, cat_node_t *n);
/* Removes the node with its services and checks; -1 when unknown. */
int store_ext_node_delete(catalog_store_t *s, const char *name);

/* ---- KV (the table is kv.c's; see kv.h for the rules) ---- */
cat_kv_t *store_kv_get(const catalog_store_t *s, const char *key);
/* Entries with the prefix, byte-sorted (malloc'd array). */
cat_kv_t **store_kv_list(const catalog_store_t *s, const char *prefix, size_t *n);
/* Highest ModifyIndex among entries and tombstones under prefix, 0 if none. */
uint64_t store_kv_prefix_index(const catalog_store_t *s, const char *prefix);
/* cas: -1 none, else required ModifyIndex (0 = must not exist). Returns 1 written, 0 cas failed. */
int store_kv_put(catalog_store_t *s, const char *key, const void *val, size_t len, uint64_t flags,
                 int64_t cas);
/* recurse deletes the prefix. Returns 1 done (also when absent), 0 cas failed. */
int store_kv_delete(catalog_store_t *s, const char *key, int recurse, int64_t cas);

/* ---- KV locks (Consul's ?acquire= / ?release=) ---- */
/* release 0: take the lock for session (and write the value); 1: drop it (and write the value).
 * Returns 1 written, 0 refused (held by another session, in its lock-delay at now_ms, or not
 * held by session for a release), -1 with Consul's error text when the session does not exist. */
int store_kv_lock(catalog_store_t *s, const char *key, const void *val, size_t len, uint64_t flags,
                  const char *session, int release, int64_t now_ms, char *err, size_t errlen);

/* ---- KV transactions (/v1/txn) ---- */
/* A private copy of the KV table for a transaction to run on, and the index its writes carry. */
kv_table_t *store_kv_begin(const catalog_store_t *s, uint64_t *idx);
/* wrote: the copy replaces the KV table and the transaction commits as one write at that index;
 * 0: the copy is dropped, nothing changes. Takes ownership of work. */
void store_kv_end(catalog_store_t *s, kv_table_t *work, int wrote);
/* Whether a session exists (for the lock verbs). */
int store_session_exists(const catalog_store_t *s, const char *id);

/* ---- sessions (the table is session.c's) ---- */
/* Takes ownership. Checks the node and every bound check exist and none is critical; returns
 * 0, or -1 with Consul's error text (the session is then freed). */
int store_session_create(catalog_store_t *s, cat_session_t *sess, int64_t now_ms, char *err, size_t errlen);
/* Invalidates a session: its locks released, or deleted with behavior delete, each key then in
 * lock-delay. Returns 1, or 0 when unknown. */
int store_session_destroy(catalog_store_t *s, const char *id, int64_t now_ms);
cat_session_t *store_session(const catalog_store_t *s, const char *id);
/* Sorted by ID; node NULL: all (malloc'd array). */
cat_session_t **store_sessions(const catalog_store_t *s, const char *node, size_t *n);
uint64_t store_index_sessions(const catalog_store_t *s);
/* Restarts the session's TTL; NULL when unknown. Not a write: no index moves (as in Consul). */
cat_session_t *store_session_renew(catalog_store_t *s, const char *id, int64_t now_ms);
/* Invalidates every session past its TTL (2 x TTL) or bound to a check that is critical or
 * gone; returns how many. */
int store_sessions_sweep(catalog_store_t *s, int64_t now_ms);
/* Loading persisted state: adds a session as saved (its indexes kept, its TTL counted from
 * now_ms), without checking its node or checks (a sweep does); takes ownership. -1 when its ID
 * is taken (the session is freed). */
int store_session_restore(catalog_store_t *s, cat_session_t *sess, int64_t now_ms);
/* Loading persisted state: marks a KV entry locked by a session (which must exist, else -1). */
int store_kv_restore_lock(catalog_store_t *s, const char *key, const char *session, uint64_t lock_index);

/* ---- object helpers ---- */
cat_service_t *cat_service_new(void);
/* Swaps the name, tags and Meta of s for shared refcounted copies (done by store_register:
 * instances of a service repeat them); cat_service_free then releases them through the count. */
void cat_service_intern(cat_service_t *s);
void cat_service_free(cat_service_t *svc);
cat_node_t *cat_node_new(void);
void cat_node_free(cat_node_t *n);
cat_check_t *cat_check_new(void);
void cat_check_free(cat_check_t *c);
const char *cat_check_type(const cat_check_t *c); /* "ttl", "http", "tcp", "grpc", "" */
/* Consul's Output truncation: 4096 bytes, "<first N bytes> ... (captured N of M bytes)";
 * the result is valid UTF-8 (cat_utf8_clean). */
char *cat_truncate_output(const char *out);
/* A malloc'd copy that is valid UTF-8: each byte that does not start a valid sequence becomes
 * U+FFFD, as Go's encoding/json writes it (outlen may be NULL). Outputs, notes and reasons go
 * through it so every stored text can be rendered and persisted as JSON. */
char *cat_utf8_clean(const char *s, size_t n, size_t *outlen);

/* ---- durability (-data-dir, durable.c): which entities a write touched ---- */
/* SERVICE: a service of this node by ID (it may be gone: deregistered); NODE_CHECK: a node-level
 * check of this node by CheckID (may be gone); NODE (id NULL): node-level state kept as one
 * record: external nodes with their services and checks, node maintenance, the boot entries;
 * SESSION: a session by ID (may be gone); KV: a key (its entry, or its tombstone when deleted). */
typedef enum { CAT_DIRTY_SERVICE, CAT_DIRTY_NODE_CHECK, CAT_DIRTY_NODE, CAT_DIRTY_SESSION, CAT_DIRTY_KV } cat_dirty_t;
typedef void (*cat_dirty_cb)(void *ctx, cat_dirty_t kind, const char *id);
/* cb is called during every write for each entity it changed (possibly more than once; a KV
 * transaction that is then dropped may report keys it did not change: reporting too much is
 * harmless, the log records the entity's state at commit time). NULL: none. */
void store_set_dirty_hook(catalog_store_t *s, cat_dirty_cb cb, void *ctx);

/* ---- restoring persisted state (persist.c) ---- */
/* Sets every table index and per-name index, and the global index, to idx. */
void store_restore_indexes(catalog_store_t *s, uint64_t idx);
/* The node's own CreateIndex/ModifyIndex, as saved (the boot entries' indexes depend on the base). */
void store_restore_node_indexes(catalog_store_t *s, uint64_t create, uint64_t modify);
/* KV tombstones (a deleted key and the index of its deletion), for persistence: without them a
 * prefix's index would go back across a restart (cat_tombstone_cb: kv.h). */
void store_each_tombstone(const catalog_store_t *s, cat_tombstone_cb cb, void *ctx);
void store_restore_tombstone(catalog_store_t *s, const char *key, uint64_t index);
/* The index of a deleted key's tombstone, 0 when none. */
uint64_t store_kv_tombstone(const catalog_store_t *s, const char *key);

#endif
