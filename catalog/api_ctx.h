/* api_ctx.h: what the catalog's HTTP handler files (api.c, api_kv.c, api_node.c) share, and nothing else
 * includes: the per-request context and the helpers that read a request and fill its answer.
 *
 * Owns nothing: a context points at the api, the request and the response for one call of
 * catalog_api_handle. Promises: every helper that answers replaces what the response held
 * (status, body, content type). Never: does I/O or keeps state across requests.
 */
#ifndef PORTOLAN_CATALOG_API_CTX_H
#define PORTOLAN_CATALOG_API_CTX_H

#include <jansson.h>
#include <stdint.h>

#include "api.h"

typedef struct {
    catalog_api_t *api;
    const api_request_t *req;
    api_response_t *resp;
    int allow_block;
    int pretty;
    int u64_flags;                    /* a KV entry's Flags is above INT64_MAX (see api_set_json) */
    uint64_t min_index;
    uint64_t wait_ms;
} api_ctx_t;

/* The first value of a query parameter: NULL when absent, "" for a bare "?name". */
const char *api_param(const api_request_t *r, const char *name);
/* A decimal uint64 with nothing around it; returns 0, or -1 leaving *out alone. */
int api_parse_u64(const char *v, uint64_t *out);

/* Go's strconv.ParseBool plus "" (a bare "?enable"): returns 0 with *out, or -1. */
int api_parse_bool(const char *v, int *out);
/* The required ?enable= of the maintenance endpoints: returns 0 with *enable, or -1 after
 * answering 400 with Consul's text (missing, or not a bool). */
int api_param_enable(api_ctx_t *c, int *enable);
/* An answer without a body. */
void api_set_empty(api_response_t *resp, int status);
/* A text/plain answer. */
void api_set_text(api_response_t *resp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A JSON answer; takes ownership of j (pretty-printed with ?pretty). */
void api_set_json(api_ctx_t *c, int status, json_t *j);
/* Common query rules of read endpoints: dc, consistency, index/wait. Returns 0 or -1 with the
 * error answer set. */
int api_read_prologue(api_ctx_t *c, int blockable, int consistency);
/* Answers j (NULL: no body) with index and what it watches, or parks the request when a
 * blocking query's index has not been passed. Takes ownership of j. */
void api_finish(api_ctx_t *c, json_t *j, int status, uint64_t index, int watch, const char *svc);

#endif
