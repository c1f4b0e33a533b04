/* fuzz_consul_responses.c: libFuzzer target for what portolan reads from Consul (or anything
 * answering on its address): /v1/health/service/<name>, /v1/kv/<prefix>?recurse,
 * /v1/catalog/services and /v1/agent/services answers, through the code that consumes them:
 *   - the templater's route table (templater/routes.c) and the HAProxy configuration rendered
 *     from it (templater/haproxy_cfg.c);
 *   - the template mode's store (templater/template/template_store.c) and a template rendered over it;
 *   - KV value decoding (consul_kv_value, lib/consul_client.c);
 *   - the agent's resync comparison (registration_matches, agent/registration.c).
 * The first input byte picks the endpoint (mod 4: health, KV, catalog services, agent services),
 * the rest is its JSON answer; the other answers are fixed, valid ones. Invariants besides the
 * sanitizers: the HAProxy configuration has no control character but '\n' and '\t' (nothing
 * from Consul reaches the file unescaped), and every route's servers are passing instances with
 * a port in 1..65535.
 * Seeds: tests/fuzz/corpus-fuzz_consul_responses/. Built and run by scripts/fuzz.sh. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consul_client.h"
#include "haproxy_cfg.h"
#include "registration.h"
#include "routes.h"
#include "services.h"
#include "template.h"

static const char BASE[] =
    "global\n    maxconn @MAXCONN@\n    stats socket @ADMIN_SOCKET@ mode 600 level admin\n"
    "defaults\n    mode http\n@TIMEOUTS@\n@STATS@\n";
static const char HEALTH[] =
    "[{\"Node\":{\"Node\":\"n1\",\"Address\":\"10.0.0.1\"},"
    "\"Service\":{\"ID\":\"h1\",\"Service\":\"hello/v1\",\"Tags\":[\"rest\"],\"Address\":\"10.0.0.2\","
    "\"Port\":8080,\"Meta\":{\"weight\":\"3\"}},\"Checks\":[{\"Status\":\"passing\"}]}]";
static const char KV[] =
    "[{\"Key\":\"service/haproxy/maxconn\",\"Value\":\"NTEy\",\"Flags\":0},"
    "{\"Key\":\"service/haproxy/timeouts/connect\",\"Value\":\"M3M=\",\"Flags\":0}]";
static const char SERVICES[] = "{\"consul\":[],\"hello/v1\":[\"rest\"]}";
static const char TEMPLATE[] =
    "{{range services}}{{.Name}}{{range .Tags}} {{.}}{{end}}\n"
    "{{range service .Name \"any\"}}  {{.ID}} {{.Address}}:{{.Port}} {{.Status}} {{.Node}} {{.NodeAddress}}"
    "{{range $k, $v := .ServiceMeta}} {{$k}}={{$v}}{{end}}\n{{end}}{{end}}"
    "{{range tree \"service/haproxy\"}}{{.Key}}={{.Value}}\n{{end}}"
    "{{keyOrDefault \"service/haproxy/maxconn\" \"none\"}}\n";

static json_t *load(const char *s) { json_t *j = json_loads(s, 0, NULL); if (!j) abort(); return j; }

static void on_skip(const char *msg, void *data) { (void)msg; (void)data; }

static void check_cfg(const char *cfg, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)cfg[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
            fprintf(stderr, "control byte 0x%02x at %zu in the HAProxy configuration:\n%s\n", c, i, cfg);
            abort();
        }
    }
}

static void routes_and_cfg(const json_t *health, const json_t *kv)
{
    routes_catalog_t *c = routes_catalog_new();
    routes_catalog_add_health(c, "hello/v1", health);
    /* the name as the catalog lists it may be anything too: take the first entry's */
    const char *other = json_string_value(json_object_get(json_object_get(json_array_get(health, 0), "Service"), "Service"));
    if (other) routes_catalog_add_health(c, other, health);
    routes_catalog_set_kv(c, kv);
    routes_table_t *t = routes_build(c, NULL, on_skip, NULL);
    if (!t) abort();
    for (size_t i = 0; i < t->n; i++)
        for (size_t k = 0; k < t->b[i]->nservers; k++) {
            int port = t->b[i]->servers[k].port;
            if (port < 1 || port > 65535) { fprintf(stderr, "server port %d\n", port); abort(); }
        }
    json_decref(routes_table_json(t));
    haproxy_cfg_opts_t o = {.base = BASE, .bind = "127.0.0.1:8080", .admin_socket = "/run/haproxy.sock",
                            .stats_bind = "127.0.0.1:8404"};
    size_t len = 0;
    char *cfg = haproxy_cfg_render(t, &o, &len);
    if (!cfg) abort();
    check_cfg(cfg, len);
    free(cfg);
    /* incremental form over the previous table: same inputs, must not crash or leak */
    routes_table_t *t2 = routes_build_from(c, NULL, t, on_skip, NULL);
    routes_table_free(t2);
    routes_table_free(t);
    routes_catalog_free(c);
}

static void render(const json_t *services, const json_t *health, const json_t *kv)
{
    static template_t *tmpl;
    char *err = NULL;
    if (!tmpl && !(tmpl = template_new("fuzz", TEMPLATE, sizeof TEMPLATE - 1, &err))) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    template_store *s = template_store_new();
    template_store_set_services(s, services);
    template_store_set_service(s, "hello/v1", health);
    template_store_set_service(s, "consul", NULL);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)services, k, v)
        if (strcmp(k, "hello/v1") && strcmp(k, "consul")) template_store_set_service(s, k, health);
    template_store_set_prefix(s, "service/haproxy", kv);
    template_store_set_key(s, "service/haproxy/maxconn", kv);
    template_provider p;
    template_store_provider(s, &p);
    template_options o = {.max_output = 1 << 20, .max_steps = 200000, .now = 1};
    template_result r;
    template_render(tmpl, &p, &o, &r);
    template_result_free(&r);
    template_store_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    json_t *in = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
    if (!in) return 0;
    json_t *health = load(HEALTH), *kv = load(KV), *services = load(SERVICES);
    size_t i;
    json_t *e;
    switch (data[0] % 4) {
    case 0:
        json_decref(health);
        health = json_incref(in);
        break;
    case 1:
        json_decref(kv);
        kv = json_incref(in);
        json_array_foreach(in, i, e) {
            size_t len = 0;
            free(consul_kv_value(e, &len));
        }
        break;
    case 2:
        json_decref(services);
        services = json_incref(in);
        break;
    case 3: {
        /* /v1/agent/services: compare every entry with a fixed desired service */
        service_t s = {.id = "node1:web1:80", .name = "web", .address = "10.0.0.2", .port = 8080,
                       .exposed_port = "80", .proto = "tcp", .container_id = "c", .container_name = "web1",
                       .tags = json_pack("[s]", "rest"), .meta = json_pack("{s:s}", "k", "v"),
                       .checks = json_array()};
        const char *id;
        if (json_is_object(in))
            json_object_foreach(in, id, e) (void)registration_matches(&s, e);
        json_decref(s.tags);
        json_decref(s.meta);
        json_decref(s.checks);
        break;
    }
    }
    if (json_is_object(services)) render(services, health, kv);
    routes_and_cfg(health, kv);
    json_decref(health);
    json_decref(kv);
    json_decref(services);
    json_decref(in);
    return 0;
}
