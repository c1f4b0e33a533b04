/* session.h: the catalog's session table (Consul's /v1/session): sessions by ID, each with its
 * node, behavior (release|delete), lock-delay, TTL and the checks it is bound to, and the rules
 * that decide when a session is no longer valid (its TTL passed twice over, as Consul's timer
 * runs at 2 x TTL; one of its checks critical or gone).
 *
 * Owns: its sessions (cat_session_t handed out are borrowed until the next write).
 * Promises: a session is stamped with the index the caller passes; listings are sorted by ID.
 * Never: touches the KV table (store.c releases a session's locks when it goes), reads a clock
 * (callers pass now_ms), does I/O.
 */
#ifndef PORTOLAN_CATALOG_SESSION_H
#define PORTOLAN_CATALOG_SESSION_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char id[37];
    char *name, *node;
    int delete_behavior;                 /* 1: "delete", 0: "release" */
    int64_t lock_delay_ns;
    char *ttl;                           /* "" or the TTL as given ("30s") */
    int64_t ttl_ns;
    char **node_checks; size_t nnode_checks;
    char **service_checks; size_t nservice_checks;
    uint64_t create_index, modify_index;
    int64_t expires_ms;                  /* 0: no TTL; else invalid from then on (now + 2 x TTL) */
} cat_session_t;

typedef struct session_table session_table_t;

session_table_t *session_table_new(void);
void session_table_free(session_table_t *t);
cat_session_t *cat_session_new(void);
void cat_session_free(cat_session_t *s);

/* Takes ownership; the ID must be unused. */
void session_add(session_table_t *t, cat_session_t *s, uint64_t idx, int64_t now_ms);
cat_session_t *session_get(const session_table_t *t, const char *id);
/* Removes and returns the session (the caller frees it), NULL when unknown. */
cat_session_t *session_remove(session_table_t *t, const char *id);
/* Restarts its TTL: valid until now + 2 x TTL. */
void session_renew(cat_session_t *s, int64_t now_ms);
/* Sessions sorted by ID, all or (node != NULL) a node's, case-insensitively (malloc'd array). */
cat_session_t **session_list(const session_table_t *t, const char *node, size_t *n);
size_t session_count(const session_table_t *t);
/* The table's last-write index (0 before any). */
uint64_t session_index(const session_table_t *t);
void session_set_index(session_table_t *t, uint64_t idx);

/* Whether a session has outlived its TTL at now_ms. */
int session_expired(const cat_session_t *s, int64_t now_ms);

/* Parses a create body (Consul's session fields; NULL/empty: all defaults) into a new session
 * for default_node. LockDelay: a Go duration string, or a number (below 1000: seconds, else
 * nanoseconds), default 15s, capped at 60s. TTL: "" or 10s..86400s. Checks: "Checks" (legacy,
 * node checks) or NodeChecks/ServiceChecks; none given means ["serfHealth"]. Returns NULL with
 * Consul's error text in err. */
cat_session_t *session_decode(const char *body, size_t len, const char *default_node, char *err, size_t errlen);

#endif
