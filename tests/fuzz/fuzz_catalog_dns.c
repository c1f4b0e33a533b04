/* fuzz_catalog_dns.c: libFuzzer target for portolan-catalog's DNS answers (catalog/dns.c), the
 * third input the catalog reads from outside (UDP and TCP packets from anyone who can reach
 * -dns-listen).
 *
 * The input is one packet. It is answered as UDP and as TCP against a store holding services on
 * the catalog's node and on an external node (names that are and are not DNS labels, tags, IPv4
 * and IPv6 and host-name addresses, one critical instance, many instances of one name for
 * truncation). Invariants besides the sanitizers: an answer parses back with libldns, carries the
 * query's ID with QR set, fits 512 bytes over UDP when the query had no EDNS, and fits 65535
 * bytes over TCP. Seeds: tests/fuzz/corpus-fuzz_catalog_dns/ (real queries made with ldns).
 *
 * Built and run by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined). */
#include <ldns/ldns.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dns.h"
#include "log.h"
#include "store.h"

static catalog_store_t *store;

static int64_t fuzz_now_ms(void) { return 1700000000000LL; }

static void put(catalog_api_t *api, const char *path, const char *body)
{
    api_request_t req = {.method = "PUT", .path = path, .body = body, .body_len = strlen(body)};
    api_response_t r;
    catalog_api_handle(api, &req, 0, &r);
    if (r.status != 200) abort();
    api_response_clear(&r);
}

static void setup(void)
{
    log_init("fuzz", LOG_ERROR, 0);
    store = store_new("fuzz-node", "0b5a1c6e-0000-4000-8000-000000000001", "dc1", "127.0.0.1");
    catalog_api_t api = {.store = store, .leader = "127.0.0.1:8300", .version = "fuzz", .now_ms = fuzz_now_ms};
    put(&api, "/v1/agent/service/register", "{\"Name\":\"hello/v1\",\"ID\":\"h1\",\"Address\":\"10.0.0.1\",\"Port\":80,\"Tags\":[\"rest\",\"a.b\"],\"Check\":{\"TTL\":\"60s\",\"Status\":\"passing\"}}");
    put(&api, "/v1/agent/service/register", "{\"Name\":\"hello/v1\",\"ID\":\"h2\",\"Address\":\"fd00::2\",\"Port\":81,\"Check\":{\"TTL\":\"60s\",\"Status\":\"warning\"}}");
    put(&api, "/v1/agent/service/register", "{\"Name\":\"hello/v1\",\"ID\":\"h3\",\"Address\":\"10.0.0.3\",\"Port\":82,\"Check\":{\"TTL\":\"60s\"}}");
    put(&api, "/v1/agent/service/register", "{\"Name\":\"web\",\"ID\":\"w1\",\"Address\":\"web.example.com\",\"Port\":8080}");
    char body[256];
    for (int i = 0; i < 60; i++) {
        snprintf(body, sizeof body, "{\"Name\":\"big\",\"ID\":\"b%d\",\"Address\":\"10.1.%d.%d\",\"Port\":%d}", i, i / 200, i % 200, 9000 + i);
        put(&api, "/v1/agent/service/register", body);
    }
    put(&api, "/v1/catalog/register", "{\"Node\":\"ext_db\",\"Address\":\"10.9.0.1\",\"Service\":{\"Service\":\"pg\",\"ID\":\"pg1\",\"Port\":5432},\"Check\":{\"CheckID\":\"pg-ok\",\"Status\":\"passing\",\"ServiceID\":\"pg1\"}}");
}

static uint32_t counter(void *ctx)
{
    uint32_t *c = ctx;
    return (*c = *c * 1664525u + 1013904223u);
}

static void answer(const uint8_t *data, size_t size, int tcp)
{
    static const dns_config_t cfg = {.domain = "consul", .udp_answer_limit = 3, .enable_truncate = 1};
    uint32_t seed = (uint32_t)size;
    dns_query_t q = {.wire = data, .len = size, .tcp = tcp, .now_s = 1700000000u, .rand = counter, .rand_ctx = &seed};
    uint8_t *out;
    size_t len;
    if (dns_answer(&cfg, store, &q, &out, &len) != 0) {
        if (size >= 12 && !(data[2] & 0x80)) abort();   /* a query with an ID must be answered */
        return;
    }
    ldns_pkt *p = NULL;
    if (ldns_wire2pkt(&p, out, len) != LDNS_STATUS_OK) abort();
    if (ldns_pkt_id(p) != (uint16_t)(data[0] << 8 | data[1]) || !ldns_pkt_qr(p)) abort();
    ldns_pkt *qp = NULL;
    int edns = ldns_wire2pkt(&qp, data, size) == LDNS_STATUS_OK && ldns_pkt_edns(qp);
    if (!tcp && !edns && len > 512) abort();
    if (len > 65535) abort();
    ldns_pkt_free(qp);
    ldns_pkt_free(p);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!store) setup();
    if (size > 65535) return 0;
    answer(data, size, 0);
    answer(data, size, 1);
    return 0;
}
