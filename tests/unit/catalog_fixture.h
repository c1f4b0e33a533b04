/* catalog_fixture.h: the fixture the catalog's API unit tests share: a store for node "node1" in
 * dc1, the API over it with a clock the test gives, and catfx_call, which drives one request
 * through catalog_api_handle without sockets. Header-only (static inline functions), like
 * client_test_util.h: each test program includes it once. */
#ifndef PORTOLAN_TEST_CATALOG_FIXTURE_H
#define PORTOLAN_TEST_CATALOG_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_misc.h"
#include "store.h"

typedef struct {
    catalog_api_t api;
    api_response_t r; /* the last answer of catfx_call, cleared by the next one */
} catfx_t;

/* For a cmocka setup: *state becomes a new fixture whose API reads the time from now_ms. */
static inline int catfx_setup(void **state, int64_t (*now_ms)(void))
{
    catfx_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->api.store = store_new("node1", "11111111-2222-3333-4444-555555555555", "dc1", "127.0.0.1");
    f->api.leader = "127.0.0.1:8300";
    f->api.version = "test";
    f->api.now_ms = now_ms;
    *state = f;
    return 0;
}

static inline int catfx_teardown(void **state)
{
    catfx_t *f = *state;
    api_response_clear(&f->r);
    api_events_free(f->api.events);
    store_free(f->api.store);
    free(f);
    return 0;
}

/* catfx_call(f, "PUT", "/v1/agent/maintenance", body, "enable", "true", NULL): query parameters
 * as name, value pairs ending with NULL (at most 8). The answer stays valid until the next call. */
static inline api_response_t *catfx_call(catfx_t *f, const char *method, const char *path, const char *body, ...)
{
    api_param_t ps[8];
    size_t n = 0;
    va_list ap;
    va_start(ap, body);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL && n < 8) {
        ps[n].name = k;
        ps[n].value = va_arg(ap, const char *);
        n++;
    }
    va_end(ap);
    api_request_t req = {.method = method, .path = path, .params = ps, .nparams = n, .body = body,
                         .body_len = body ? strlen(body) : 0};
    api_response_clear(&f->r);
    catalog_api_handle(&f->api, &req, 1, &f->r);
    return &f->r;
}

/* The answer's body as JSON (any value); fails the test when there is none or it does not parse. */
static inline json_t *catfx_json(const api_response_t *r)
{
    assert_non_null(r->body);
    json_t *j = json_loads(r->body, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    return j;
}

#endif
