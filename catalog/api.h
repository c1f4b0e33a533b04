/* api.h: Consul's HTTP API over a catalog_store_t, as a function of (store, request, now).
 * Owns nothing but the response it fills. No sockets, no timers: the HTTP glue (server.c)
 * calls catalog_api_handle for every request and, when the answer says `block`, parks the
 * request and calls it again when the store reports a change it watches, or with
 * allow_block = 0 when the wait runs out. */
#ifndef PORTOLAN_CATALOG_API_H
#define PORTOLAN_CATALOG_API_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "store.h"

typedef struct { const char *name, *value; } api_param_t;

typedef struct api_request {
    const char *method;
    const char *path;                 /* percent-decoded, without the query */
    /* query parameters: either an array, or a lookup (i-th value of name, NULL when absent,
     * "" for a bare "?name") over ctx; the lookup wins when set */
    const api_param_t *params; size_t nparams;
    const char *(*lookup)(const struct api_request *r, const char *name, size_t i);
    void *ctx;
    const char *body; size_t body_len;
} api_request_t;

enum { API_WATCH_NODES = 1, API_WATCH_SERVICES = 2, API_WATCH_CHECKS = 4, API_WATCH_KV = 8, API_WATCH_SERVICE = 16,
       API_WATCH_EVENTS = 32, API_WATCH_SESSIONS = 64 };

typedef struct {
    int status;
    char *body; size_t len;           /* malloc'd */
    const char *content_type;         /* NULL: none */
    const char *allow;                /* Allow header or NULL */
    int has_index; uint64_t index;    /* X-Consul-Index & friends */
    const char *consistency;          /* X-Consul-Effective-Consistency or NULL */
    /* blocking: park until a change in `watch` (and service name) or wait_ms */
    int block;
    int watch;
    char watch_service[256];          /* lower-cased, with API_WATCH_SERVICE */
    char watch_key[512];              /* with API_WATCH_KV: the key or prefix watched */
    int watch_key_prefix;             /* 1: a prefix (recurse/keys), 0: one key */
    int watch_key_any;                /* key too long to hold: any KV write re-evaluates */
    uint64_t wait_ms;                 /* without jitter; the glue adds up to wait/16 */
    int wrote;                        /* the request changed the store (for persistence) */
} api_response_t;

typedef struct {
    catalog_store_t *store;
    const char *leader;               /* "127.0.0.1:8300" */
    const char *version;
    int64_t (*now_ms)(void);
    /* a TTL check was passed/warned/failed/updated: restart its timer (may be NULL) */
    void (*on_ttl_touch)(void *ctx, cat_check_t *c);
    void *hook_ctx;
    struct api_events *events;        /* user events (api_misc.c), made on first use; api_events_free */
    void (*make_id)(void *ctx, char out[37]); /* a random UUID for user events (NULL: a counter) */
    /* adds sections to /v1/agent/self's Stats (string values, as Consul's); may be NULL */
    void (*add_stats)(void *ctx, json_t *stats);
    void *stats_ctx;
} catalog_api_t;

/* Fills *resp (zeroed first). allow_block = 0 answers with current data even when the
 * request's index has not been passed. Never fails: every input produces an answer. */
void catalog_api_handle(catalog_api_t *api, const api_request_t *req, int allow_block, api_response_t *resp);
void api_response_clear(api_response_t *resp);

#endif
