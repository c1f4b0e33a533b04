/* consul_watch.h: one Consul blocking query, kept running forever, with consul-template's
 * client rules (shared/reference/templater.md, consul-api.md section 9).
 *
 * Owns: one in-flight long-poll (or one timer between polls), the last index, the last data.
 * Promises:
 *  - The first request carries no index and answers at once; after that each request is
 *    <path>?index=<last>&wait=<wait>[&stale]. The HTTP timeout is wait + wait/16 + 5 s, so
 *    Consul's own jitter never looks like a failure.
 *  - X-Consul-Index is read case-insensitively; index 0 (or a missing header) counts as 1.
 *  - Same index as last time: no callback (timeout or idempotent write), poll again.
 *  - Index lower than last time (server restarted, or a remembered index from elsewhere):
 *    reset to 0 and re-query at once; the answer to that re-query is delivered if it differs.
 *  - Index rose but the decoded JSON equals the last delivered one: no callback (unless
 *    opts.fire_on_equal_data), the new index is kept.
 *  - Errors (transport, non-2xx, undecodable JSON) back off 250 ms x 2^n with jitter, capped at
 *    opts.backoff_cap_ms (default 1 min), forever; the last good data stays with the caller.
 *    The query after an error carries no index (it answers at once): the server may have been
 *    restarted or restored with lower indexes, and a query holding the old index would wait the
 *    whole wait period for nothing. Its answer fires only when the data differ.
 *    on_error (optional) reports each failure. A success resets the backoff.
 *  - Rate limit: a successful poll that came back in less than opts.min_interval_ms (default 100)
 *    waits out the rest of it plus 0..opts.jitter_ms (default 20) before the next request, so a
 *    hot key cannot spin the client.
 *  - KV paths (/v1/kv/...): a 404 is "key absent", delivered as data NULL (once, like any change).
 *  - An answer without X-Consul-Index (an endpoint that cannot block: agent/..., status/...) is
 *    polled again without an index at the rate limit; only a change of the data fires.
 * Never: gives up, blocks the loop, or calls back after consul_watch_stop/free. */
#ifndef PORTOLAN_CONSUL_WATCH_H
#define PORTOLAN_CONSUL_WATCH_H

#include <jansson.h>
#include <stdint.h>

#include "consul_client.h"

/* ---- the index rules as a pure function ---- */

typedef struct {
    uint64_t next_index; /* index to send on the next request (0 = none: answers at once) */
    int fire;            /* 1: this response is new; hand it to the caller (subject to data equality) */
    int reset;           /* 1: the index went backwards; re-query at once without an index */
} consul_index_step_t;

/* last: the index the watch holds (0 = nothing yet or after a reset); got: X-Consul-Index of the
 * response (0 or absent counts as 1); have_data: a response was already delivered.
 *   !have_data               -> fire, next = got'
 *   got' == last             -> no fire, next = last
 *   got' <  last             -> reset, no fire, next = 0
 *   got' >  last             -> fire, next = got'          (got' = max(got, 1)) */
consul_index_step_t consul_index_next(uint64_t last, uint64_t got, int have_data);

/* Delay before the next poll after a successful one that took elapsed_ms: 0 when
 * elapsed_ms >= min_interval_ms, else (min_interval_ms - elapsed_ms) + jitter, where jitter is
 * r scaled uniformly into [0, jitter_ms]. Pure. */
uint64_t consul_watch_rate_delay(uint64_t elapsed_ms, uint64_t min_interval_ms, uint64_t jitter_ms,
                                 uint32_t r);

/* ---- the watch ---- */

typedef struct consul_watch consul_watch_t;

typedef struct {
    const char *path;          /* read endpoint with its own query: "/v1/health/service/web?passing",
                                  "/v1/kv/app/?recurse", "/v1/health/state/any" (copied) */
    uint64_t wait_ms;          /* blocking wait; 0: 60000 */
    int stale;                 /* add ?stale (any server may answer) */
    uint64_t backoff_base_ms;  /* 0: 250 */
    uint64_t backoff_cap_ms;   /* 0: 60000 */
    int64_t min_interval_ms;   /* rate limit; < 0: 100 (so 0 really means "none", for benchmarks) */
    int64_t jitter_ms;         /* rate-limit jitter; < 0: 20 */
    int fire_on_equal_data;    /* 1: call on_change on every index change even if the data equal */
} consul_watch_opts_t;

/* Initialises opts to the defaults (min_interval_ms and jitter_ms -1, the rest 0) with path. */
void consul_watch_opts_init(consul_watch_opts_t *opts, const char *path);

/* data: the decoded response (borrowed during the call; json_incref to keep), NULL for an absent
 * KV key. index: the response's X-Consul-Index (>= 1). */
typedef void (*consul_watch_on_change_cb)(consul_watch_t *w, json_t *data, uint64_t index, void *udata);
/* error: the message of the failure; attempt: consecutive failures (1 = first); retry_ms: the
 * backoff before the next try. */
typedef void (*consul_watch_on_error_cb)(consul_watch_t *w, const char *error, unsigned attempt,
                                         uint64_t retry_ms, void *udata);

/* Creates a stopped watch on client c (not owned; must outlive the watch). on_error may be NULL
 * (failures are then logged at warn level). NULL on invalid opts (no path, path not under /v1/)
 * or allocation failure. */
consul_watch_t *consul_watch_new(consul_client_t *c, const consul_watch_opts_t *opts,
                                 consul_watch_on_change_cb on_change,
                                 consul_watch_on_error_cb on_error, void *udata);
/* Starts polling (first request on the next loop iteration). Starting a running watch is a no-op.
 * A restarted watch keeps its last index and data. Returns 0, -1 on failure. */
int consul_watch_start(consul_watch_t *w);
/* Cancels the in-flight request and timer; no callbacks afterwards. Safe from the watch's own
 * callbacks. */
void consul_watch_stop(consul_watch_t *w);
/* Stops and frees. Safe from the watch's own callbacks (the memory goes after the callback
 * returns). The uv timer is closed through uv_close: run the loop once more before
 * uv_loop_close. */
void consul_watch_free(consul_watch_t *w);

uint64_t consul_watch_index(const consul_watch_t *w);     /* last index held (0 = none) */
const json_t *consul_watch_data(const consul_watch_t *w); /* last delivered data, borrowed */
const char *consul_watch_path(const consul_watch_t *w);
/* Counters for tests and metrics. */
typedef struct {
    uint64_t requests;   /* HTTP requests sent */
    uint64_t changes;    /* on_change calls */
    uint64_t same_index; /* responses with an unchanged index */
    uint64_t resets;     /* index went backwards */
    uint64_t equal_data; /* index rose but data equal: suppressed */
    uint64_t errors;     /* failed requests */
    uint64_t rate_limited; /* polls delayed by the rate limit */
    uint64_t error_resets; /* errors that dropped a held index (next query non-blocking) */
} consul_watch_stats_t;
void consul_watch_stats(const consul_watch_t *w, consul_watch_stats_t *out);

#endif
