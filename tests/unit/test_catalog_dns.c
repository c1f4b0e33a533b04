/* Unit tests for the catalog's DNS answers (catalog/dns.c), without sockets: queries are built
 * and answers read back with libldns, services registered through the HTTP API handler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dns.h"
#include "store.h"

static int64_t now_ms(void) { return 1000; }

typedef struct {
    catalog_api_t api;
    dns_config_t cfg;
    uint32_t seed;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    f->api.store = store_new("node1", "11111111-2222-3333-4444-555555555555", "dc1", "127.0.0.1");
    f->api.leader = "127.0.0.1:8300";
    f->api.version = "test";
    f->api.now_ms = now_ms;
    f->cfg = (dns_config_t){.domain = "consul", .udp_answer_limit = 3, .enable_truncate = 1};
    f->seed = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    store_free(f->api.store);
    free(f);
    return 0;
}

static int put(fx_t *f, const char *path, const char *body)
{
    api_request_t req = {.method = "PUT", .path = path, .body = body, .body_len = body ? strlen(body) : 0};
    api_response_t r;
    catalog_api_handle(&f->api, &req, 1, &r);
    int st = r.status;
    api_response_clear(&r);
    return st;
}

static void reg(fx_t *f, const char *name, const char *id, const char *addr, int port, const char *tags,
                const char *status)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"Name\":\"%s\",\"ID\":\"%s\",\"Address\":\"%s\",\"Port\":%d,\"Tags\":[%s],"
             "\"Weights\":{\"Passing\":10,\"Warning\":2},\"Check\":{\"TTL\":\"60s\",\"Status\":\"%s\"}}",
             name, id, addr, port, tags ? tags : "", status);
    assert_int_equal(put(f, "/v1/agent/service/register", body), 200);
}

static uint32_t lcg(void *ctx)
{
    uint32_t *s = ctx;
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Asks name/type; returns the parsed answer (NULL when no answer was produced). */
static ldns_pkt *ask_opts(fx_t *f, const char *name, ldns_rr_type t, int tcp, int edns_size)
{
    ldns_pkt *q = NULL;
    assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, t, LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
    ldns_pkt_set_id(q, 4242);
    if (edns_size) ldns_pkt_set_edns_udp_size(q, (uint16_t)edns_size);
    uint8_t *w;
    size_t wl;
    assert_int_equal(ldns_pkt2wire(&w, q, &wl), LDNS_STATUS_OK);
    ldns_pkt_free(q);
    dns_query_t dq = {.wire = w, .len = wl, .tcp = tcp, .now_s = 77, .rand = lcg, .rand_ctx = &f->seed};
    uint8_t *out;
    size_t ol;
    int rc = dns_answer(&f->cfg, f->api.store, &dq, &out, &ol);
    free(w);
    if (rc != 0) return NULL;
    ldns_pkt *a = NULL;
    assert_int_equal(ldns_wire2pkt(&a, out, ol), LDNS_STATUS_OK);
    free(out);
    assert_int_equal(ldns_pkt_id(a), 4242);
    assert_true(ldns_pkt_qr(a));
    return a;
}

static ldns_pkt *ask(fx_t *f, const char *name, ldns_rr_type t) { return ask_opts(f, name, t, 0, 1232); }

static size_t count(ldns_pkt *p, ldns_pkt_section s, ldns_rr_type t)
{
    ldns_rr_list *l = ldns_pkt_get_section_clone(p, s);
    size_t n = 0;
    for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++)
        if (ldns_rr_get_type(ldns_rr_list_rr(l, i)) == t) n++;
    ldns_rr_list_deep_free(l);
    return n;
}

static char *rdf_str(const ldns_rdf *r) { return ldns_rdf2str(r); }

/* The text of rdata field i of the n-th answer. */
static void answer_field_is(ldns_pkt *p, size_t n, size_t i, const char *want)
{
    ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), n);
    assert_non_null(rr);
    char *s = rdf_str(ldns_rr_rdf(rr, i));
    assert_string_equal(s, want);
    free(s);
}

static void three_hello(fx_t *f)
{
    reg(f, "hello/v1", "h1", "10.0.0.1", 8001, "\"rest\"", "passing");
    reg(f, "hello/v1", "h2", "10.0.0.2", 8002, "\"rest\"", "passing");
    reg(f, "hello/v1", "h3", "10.0.0.3", 8003, "\"grpc\"", "passing");
}

static void test_srv_only_healthy(void **state)
{
    fx_t *f = *state;
    three_hello(f);
    assert_int_equal(put(f, "/v1/agent/check/fail/service:h2", NULL), 200);
    ldns_pkt *p = ask(f, "hello-v1.service.consul.", LDNS_RR_TYPE_SRV);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_true(ldns_pkt_aa(p));
    assert_false(ldns_pkt_ra(p));
    assert_int_equal(count(p, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_SRV), 2);
    assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), 2);
    for (size_t i = 0; i < 2; i++) {
        ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
        assert_int_equal(ldns_rr_ttl(rr), 0);
        char *port = rdf_str(ldns_rr_rdf(rr, 2)), *target = rdf_str(ldns_rr_rdf(rr, 3));
        assert_true(!strcmp(port, "8001") || !strcmp(port, "8003"));
        assert_true(!strcmp(target, "0a000001.addr.dc1.consul.") || !strcmp(target, "0a000003.addr.dc1.consul."));
        free(port);
        free(target);
        answer_field_is(p, i, 0, "1");   /* priority */
        answer_field_is(p, i, 1, "10");  /* Weights.Passing */
    }
    ldns_pkt_free(p);
    p = ask(f, "hello-v1.service.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(count(p, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A), 2);
    ldns_pkt_free(p);
    /* all critical: NXDOMAIN, as for an unknown name */
    assert_int_equal(put(f, "/v1/agent/check/fail/service:h1", NULL), 200);
    assert_int_equal(put(f, "/v1/agent/check/fail/service:h3", NULL), 200);
    p = ask(f, "hello-v1.service.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_int_equal(count(p, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_SOA), 1);
    ldns_pkt_free(p);
}

static void test_nxdomain_and_nodata(void **state)
{
    fx_t *f = *state;
    three_hello(f);
    ldns_pkt *p = ask(f, "nope.service.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_int_equal(count(p, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_SOA), 1);
    ldns_pkt_free(p);
    /* a known service without records of the type: NOERROR, empty, SOA */
    p = ask(f, "hello-v1.service.consul.", LDNS_RR_TYPE_AAAA);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_int_equal(count(p, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_SOA), 1);
    ldns_pkt_free(p);
    /* unknown kind, other datacenter: NXDOMAIN; outside the domain: REFUSED */
    const char *nx[] = {"hello-v1.bogus.consul.", "hello-v1.service.dc2.consul.", "consul.", "x.query.consul.",
                        "zz.addr.consul."};
    for (size_t i = 0; i < sizeof nx / sizeof nx[0]; i++) {
        p = ask(f, nx[i], LDNS_RR_TYPE_A);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
        ldns_pkt_free(p);
    }
    p = ask(f, "hello-v1.service.dc1.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(p), 3);
    ldns_pkt_free(p);
    p = ask(f, "example.com.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    ldns_pkt_free(p);
}

static void test_name_mapping(void **state)
{
    fx_t *f = *state;
    char l[64];
    assert_int_equal(dns_label("Hello/V1", l), 8);
    assert_string_equal(l, "hello-v1");
    assert_int_equal(dns_label("a_b.c", l), 5);
    assert_string_equal(l, "a-b-c");
    assert_int_equal(dns_label("", l), -1);
    three_hello(f);
    /* the exact name (case ignored) works too */
    ldns_pkt *p = ask(f, "HELLO-V1.service.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 3);
    ldns_pkt_free(p);
    /* a service whose own name is the label wins over the mapped ones */
    reg(f, "hello-v1", "x1", "10.9.9.9", 1, NULL, "passing");
    p = ask(f, "hello-v1.service.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    answer_field_is(p, 0, 0, "10.9.9.9");
    ldns_pkt_free(p);
    /* two names mapping to one label (and no exact one): their instances together */
    reg(f, "db.main", "d1", "10.2.0.1", 5432, NULL, "passing");
    reg(f, "db_main", "d2", "10.2.0.2", 5432, NULL, "passing");
    p = ask(f, "db-main.service.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 2);
    ldns_pkt_free(p);
}

static void test_tags(void **state)
{
    fx_t *f = *state;
    three_hello(f);
    struct { const char *name; ldns_rr_type t; size_t n; } cases[] = {
        {"rest.hello-v1.service.consul.", LDNS_RR_TYPE_A, 2},
        {"REST.hello-v1.service.consul.", LDNS_RR_TYPE_A, 2},
        {"grpc.hello-v1.service.consul.", LDNS_RR_TYPE_A, 1},
        {"_hello-v1._rest.service.consul.", LDNS_RR_TYPE_SRV, 2},
        {"_hello-v1._tcp.service.consul.", LDNS_RR_TYPE_SRV, 3},
        {"_hello-v1._grpc.consul.", LDNS_RR_TYPE_SRV, 1},   /* "service." is optional for SRV */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ldns_pkt *p = ask(f, cases[i].name, cases[i].t);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
        assert_int_equal(count(p, LDNS_SECTION_ANSWER, cases[i].t), cases[i].n);
        ldns_pkt_free(p);
    }
    ldns_pkt *p = ask(f, "nosuchtag.hello-v1.service.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    ldns_pkt_free(p);
}

static void test_truncation(void **state)
{
    fx_t *f = *state;
    char id[16], ip[32];
    for (int i = 1; i <= 40; i++) {
        snprintf(id, sizeof id, "b%d", i);
        snprintf(ip, sizeof ip, "10.1.0.%d", i);
        reg(f, "big", id, ip, 9000 + i, NULL, "passing");
    }
    /* UDP without EDNS: the answer limit, and TC */
    ldns_pkt *p = ask_opts(f, "big.service.consul.", LDNS_RR_TYPE_A, 0, 0);
    assert_int_equal(ldns_pkt_ancount(p), 3);
    assert_true(ldns_pkt_tc(p));
    assert_false(ldns_pkt_edns(p));
    ldns_pkt_free(p);
    /* UDP with EDNS 1232: as many as fit, the additional section following the answers kept */
    uint8_t *w;
    size_t wl;
    ldns_pkt *q = NULL;
    ldns_pkt_query_new_frm_str(&q, "big.service.consul.", LDNS_RR_TYPE_SRV, LDNS_RR_CLASS_IN, LDNS_RD);
    ldns_pkt_set_edns_udp_size(q, 1232);
    ldns_pkt2wire(&w, q, &wl);
    ldns_pkt_free(q);
    dns_query_t dq = {.wire = w, .len = wl, .tcp = 0, .rand = lcg, .rand_ctx = &f->seed};
    uint8_t *out;
    size_t ol;
    assert_int_equal(dns_answer(&f->cfg, f->api.store, &dq, &out, &ol), 0);
    assert_true(ol <= 1232);
    assert_int_equal(ldns_wire2pkt(&p, out, ol), LDNS_STATUS_OK);
    free(out);
    assert_true(ldns_pkt_tc(p));
    assert_true(ldns_pkt_ancount(p) > 3 && ldns_pkt_ancount(p) < 40);
    assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), ldns_pkt_ancount(p));
    assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
    ldns_pkt_free(p);
    /* TCP: everything, no TC */
    dq.tcp = 1;
    assert_int_equal(dns_answer(&f->cfg, f->api.store, &dq, &out, &ol), 0);
    assert_int_equal(ldns_wire2pkt(&p, out, ol), LDNS_STATUS_OK);
    free(out);
    free(w);
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 40);
    ldns_pkt_free(p);
    /* without enable_truncate: cut, but no TC (Consul's default) */
    f->cfg.enable_truncate = 0;
    p = ask_opts(f, "big.service.consul.", LDNS_RR_TYPE_A, 0, 0);
    assert_int_equal(ldns_pkt_ancount(p), 3);
    assert_false(ldns_pkt_tc(p));
    ldns_pkt_free(p);
}

static void test_random_order(void **state)
{
    fx_t *f = *state;
    three_hello(f);
    int firsts[3] = {0};
    for (int i = 0; i < 60; i++) {
        ldns_pkt *p = ask(f, "hello-v1.service.consul.", LDNS_RR_TYPE_A);
        char *s = rdf_str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0));
        firsts[s[strlen(s) - 1] - '1']++;
        free(s);
        ldns_pkt_free(p);
    }
    for (int i = 0; i < 3; i++) assert_true(firsts[i] > 0);   /* each instance comes first sometimes */
}

static void test_nodes_addr_soa(void **state)
{
    fx_t *f = *state;
    ldns_pkt *p = ask(f, "node1.node.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    answer_field_is(p, 0, 0, "127.0.0.1");
    ldns_pkt_free(p);
    p = ask(f, "node1.node.dc1.consul.", LDNS_RR_TYPE_AAAA);    /* IPv4 node: NOERROR, empty, no SOA */
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_int_equal(ldns_pkt_nscount(p), 0);
    ldns_pkt_free(p);
    p = ask(f, "other.node.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    ldns_pkt_free(p);
    p = ask(f, "7f000001.addr.dc1.consul.", LDNS_RR_TYPE_A);
    answer_field_is(p, 0, 0, "127.0.0.1");
    ldns_pkt_free(p);
    p = ask(f, "consul.", LDNS_RR_TYPE_SOA);
    assert_int_equal(count(p, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_SOA), 1);
    assert_int_equal(count(p, LDNS_SECTION_AUTHORITY, LDNS_RR_TYPE_NS), 1);
    answer_field_is(p, 0, 2, "77");   /* serial: the time passed in */
    ldns_pkt_free(p);
    p = ask(f, "1.0.0.127.in-addr.arpa.", LDNS_RR_TYPE_PTR);
    answer_field_is(p, 0, 0, "node1.node.dc1.consul.");
    ldns_pkt_free(p);
    /* the consul service is the node */
    p = ask(f, "consul.service.consul.", LDNS_RR_TYPE_SRV);
    answer_field_is(p, 0, 3, "node1.node.dc1.consul.");
    answer_field_is(p, 0, 2, "8300");
    ldns_pkt_free(p);
}

static void test_warning_weights_ttl(void **state)
{
    fx_t *f = *state;
    reg(f, "w", "w1", "10.3.0.1", 1, NULL, "warning");
    ldns_pkt *p = ask(f, "w.service.consul.", LDNS_RR_TYPE_SRV);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    answer_field_is(p, 0, 1, "2");    /* Weights.Warning */
    ldns_pkt_free(p);
    f->cfg.only_passing = 1;
    p = ask(f, "w.service.consul.", LDNS_RR_TYPE_SRV);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    ldns_pkt_free(p);
    f->cfg.only_passing = 0;
    f->cfg.service_ttl = 30;
    p = ask(f, "w.service.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 30);
    ldns_pkt_free(p);
    /* maintenance makes the instance critical: gone from DNS */
    assert_int_equal(put(f, "/v1/agent/service/maintenance/w1", NULL), 400); /* enable is required */
    api_request_t req = {.method = "PUT", .path = "/v1/agent/service/maintenance/w1",
                         .params = (api_param_t[]){{"enable", "true"}}, .nparams = 1};
    api_response_t r;
    catalog_api_handle(&f->api, &req, 1, &r);
    assert_int_equal(r.status, 200);
    api_response_clear(&r);
    p = ask(f, "w.service.consul.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    ldns_pkt_free(p);
}

static void test_bad_packets(void **state)
{
    fx_t *f = *state;
    uint8_t out_junk[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 'b'};
    dns_query_t dq = {.wire = out_junk, .len = sizeof out_junk};
    uint8_t *out;
    size_t ol;
    /* truncated question: FORMERR with the query's ID */
    assert_int_equal(dns_answer(&f->cfg, f->api.store, &dq, &out, &ol), 0);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, out, ol), LDNS_STATUS_OK);
    free(out);
    assert_int_equal(ldns_pkt_id(p), 0x1234);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_FORMERR);
    ldns_pkt_free(p);
    /* too short for an ID, or a response: no answer at all */
    dq.len = 5;
    assert_int_equal(dns_answer(&f->cfg, f->api.store, &dq, &out, &ol), -1);
    out_junk[2] |= 0x80;
    dq.len = sizeof out_junk;
    assert_int_equal(dns_answer(&f->cfg, f->api.store, &dq, &out, &ol), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_srv_only_healthy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nxdomain_and_nodata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nodes_addr_soa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warning_weights_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_packets, setup, teardown),
    };
    return cmocka_run_group_tests_name("catalog_dns", tests, NULL, NULL);
}
