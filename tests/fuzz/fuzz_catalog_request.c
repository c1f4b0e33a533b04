/* fuzz_catalog_request.c: libFuzzer target for portolan-catalog's request path:
 *   raw bytes -> HTTP/1.1 parsing (lib/http_server.c via http_server_run_buffer, the
 *   socket-free driver) -> routing and JSON decoding (catalog_api_handle) -> the handlers
 *   and the store -> response rendering.
 *
 * Each input starts from a fresh store; several pipelined requests in one input share it, so
 * sequences (register, then check update, then KV cas, ...) are explored too. A response that
 * asks to block is answered again with allow_block = 0, as the server does when the wait runs
 * out. The clock is fake (advances 1 s per request) so TTL/reap logic is reached.
 *
 * Inputs that do not look like HTTP ("no 'HTTP/1.' in the first line") are framed first:
 * first line "METHOD /path?query", the rest is the body; the harness writes the request line,
 * a Host header and Content-Length around them. That lets the fuzzer mutate JSON bodies
 * without having to keep Content-Length right.
 *
 * Built and run by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_misc.h"
#include "http_server.h"
#include "log.h"
#include "store.h"

static int64_t fake_now;
static int64_t fuzz_now_ms(void) { return fake_now; }

typedef struct {
    catalog_api_t api;
} fuzz_ctx_t;

static const char *query_lookup(const api_request_t *r, const char *name, size_t i)
{
    return http_exchange_query_nth(r->ctx, name, i);
}

static void on_request(http_exchange_t *x, void *data)
{
    fuzz_ctx_t *f = data;
    api_request_t req = {
        .method = http_exchange_method(x),
        .path = http_exchange_path(x),
        .lookup = query_lookup,   /* query parameters straight from the HTTP layer, as server.c does */
        .ctx = x,
    };
    req.body = http_exchange_body(x, &req.body_len);

    fake_now += 1000;
    api_response_t resp;
    catalog_api_handle(&f->api, &req, 1, &resp);
    if (resp.block) {
        api_response_clear(&resp);
        fake_now += 1000;
        catalog_api_handle(&f->api, &req, 0, &resp);
    }
    /* reap as the 30 s reaper would */
    store_reap(f->api.store, fake_now + 3600 * 1000);

    char num[32];
    if (resp.content_type) http_exchange_add_header(x, "Content-Type", resp.content_type);
    if (resp.allow) http_exchange_add_header(x, "Allow", resp.allow);
    if (resp.has_index) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)resp.index);
        http_exchange_add_header(x, "X-Consul-Index", num);
        if (resp.index == 0) __builtin_trap(); /* the reference: the server never sends index 0 */
    }
    if (resp.consistency) http_exchange_add_header(x, "X-Consul-Effective-Consistency", resp.consistency);
    if (resp.status < 100 || resp.status > 599) __builtin_trap(); /* every input gets a real status */
    http_exchange_respond(x, resp.status, resp.body ? resp.body : "", resp.body ? resp.len : 0);
    api_response_clear(&resp);
}

/* Frames "METHOD /path?q\nbody" into an HTTP/1.1 request; returns malloc'd bytes or NULL. */
static char *frame(const uint8_t *data, size_t size, size_t *outlen)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t line = nl ? (size_t)(nl - data) : size;
    if (line > 4096) return NULL;
    for (size_t i = 0; i + 7 <= line; i++)
        if (memcmp(data + i, "HTTP/1.", 7) == 0) return NULL; /* already HTTP */
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t blen = (size_t)(data + size - body);
    size_t cap = line + blen + 128;
    char *out = malloc(cap);
    if (!out) return NULL;
    int n = snprintf(out, cap, "%.*s HTTP/1.1\r\nHost: f\r\nContent-Length: %zu\r\n\r\n", (int)line,
                     (const char *)data, blen);
    if (n < 0 || (size_t)n + blen > cap) { free(out); return NULL; }
    memcpy(out + n, body, blen);
    *outlen = (size_t)n + blen;
    return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init("fuzz", LOG_OFF, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ctx_t f;
    memset(&f, 0, sizeof f);
    fake_now = 1700000000000LL;
    f.api.store = store_new("fuzz-node", "0b5a1c6e-0000-4000-8000-000000000001", "dc1", "127.0.0.1");
    if (!f.api.store) return 0;
    f.api.leader = "127.0.0.1:8300";
    f.api.version = "1.15.0";
    f.api.now_ms = fuzz_now_ms;

    http_server_opts_t opts = { .max_header = 8192, .max_body = 64 * 1024, .max_conns_per_ip = 200 };
    size_t flen = 0;
    char *framed = size ? frame(data, size, &flen) : NULL;
    const char *in = framed ? framed : (const char *)data;
    size_t inlen = framed ? flen : size;

    char *out = NULL;
    size_t outlen = 0;
    http_server_run_buffer(&opts, on_request, &f, in, inlen, &out, &outlen);
    free(out);
    free(framed);
    store_free(f.api.store);
    api_events_free(f.api.events);   /* user events live beside the store (api_misc.c) */
    return 0;
}
