/* fuzz_agent_services.c: libFuzzer target for the agent's pure core, container -> services
 * (agent/services.c) and the Consul registration bodies built from them (agent/registration.c).
 *
 * The input is a container's inspect JSON (GET /containers/{id}/json, what dockerd or anything
 * answering on its socket sends), or a two-element array [inspect, netc] where netc is the
 * inspect of the container a "container:<id>" network mode names. Each input goes through
 * services_build under several agent configurations (default, -internal, -explicit, -ip,
 * -useIpFromLabel, -tags, -ttl, no resolvable host IP). Invariants besides the sanitizers:
 *   - a service has a non-empty ID and Name, a port in 0..65535, Tags an array of strings and
 *     Meta an object of strings (what Consul's register endpoint accepts);
 *   - its registration body matches itself (registration_matches on its own body), so the agent
 *     never re-registers an unchanged service forever;
 *   - services_default_name, services_health and services_network_container never crash.
 * Seeds: tests/fuzz/corpus-fuzz_agent_services/. Built and run by scripts/fuzz.sh. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registration.h"
#include "services.h"
#include "warn_list.h"

static void check_service(const service_t *s)
{
    if (!s->id || !*s->id || !s->name || !*s->name) { fprintf(stderr, "service without ID or Name\n"); abort(); }
    if (s->port < 0 || s->port > 65535) { fprintf(stderr, "port %d\n", s->port); abort(); }
    if (!json_is_array(s->tags)) { fprintf(stderr, "Tags not an array\n"); abort(); }
    size_t i;
    json_t *v;
    json_array_foreach(s->tags, i, v)
        if (!json_is_string(v)) { fprintf(stderr, "tag not a string\n"); abort(); }
    if (s->meta) {
        const char *k;
        if (!json_is_object(s->meta)) { fprintf(stderr, "Meta not an object\n"); abort(); }
        json_object_foreach(s->meta, k, v)
            if (!json_is_string(v)) { fprintf(stderr, "Meta %s not a string\n", k); abort(); }
    }
    json_t *body = registration_body(s);
    if (!body) { fprintf(stderr, "no registration body for %s\n", s->id); abort(); }
    /* Consul's view of what the agent registered: the same fields under /v1/agent/services */
    json_t *entry = json_pack("{s:s, s:s, s:O, s:i, s:s}", "ID", s->id, "Service", s->name, "Tags",
                              s->tags, "Port", s->port, "Address", s->address ? s->address : "");
    if (!entry) abort();
    json_object_set_new(entry, "Meta", s->meta ? json_incref(s->meta) : json_object());
    if (!registration_matches(s, entry) || !registration_body_matches(body, entry)) {
        fprintf(stderr, "service %s does not match its own registration\n", s->id);
        abort();
    }
    json_decref(entry);
    char *d = registration_describe(s);
    free(d);
    json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!doc) return 0;
    const json_t *inspect = doc, *netc = NULL;
    if (json_is_array(doc) && json_array_size(doc) == 2) {
        inspect = json_array_get(doc, 0);
        netc = json_array_get(doc, 1);
    }
    free(services_default_name(inspect));
    (void)services_health(inspect);
    (void)services_network_container(inspect);

    for (int v = 0; v < 8; v++) {
        services_config_t c = {.node = "node1", .resolved_ip = "192.168.1.10",
                               .health_ttl_ns = 30 * (int64_t)1000000000};
        switch (v) {
        case 1: c.internal = 1; break;
        case 2: c.explicit_only = 1; break;
        case 3: c.host_ip = "10.9.9.9"; break;
        case 4: c.use_ip_from_label = "ip"; break;
        case 5: c.tags = "a,b\\,c,,"; break;
        case 6: c.ttl_ns = 20 * (int64_t)1000000000; break;
        case 7: c.resolved_ip = NULL; break;
        }
        service_list_t out = {0};
        warn_list_t w = {0};
        services_build(&c, inspect, netc, &out, &w);
        for (size_t i = 0; i < out.n; i++) check_service(&out.items[i]);
        service_list_free(&out);
        warn_list_free(&w);
    }
    json_decref(doc);
    return 0;
}
