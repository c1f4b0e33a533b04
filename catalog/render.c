/* render.c: see render.h. */
#include "render.h"
#include "duration.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strings as Go's encoding/json writes them: a byte that does not start a valid UTF-8
 * sequence becomes U+FFFD. jansson refuses invalid UTF-8 (json_string returns NULL and the field
 * would vanish), and KV keys from URLs can hold any bytes. */
json_t *render_stringn(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    size_t l;
    char *o = cat_utf8_clean(s, n, &l);
    j = json_stringn(o, l);
    free(o);
    return j ? j : json_string("");
}

static json_t *render_str(const char *s) { return s ? render_stringn(s, strlen(s)) : json_string(""); }

static json_t *tags_json(char **tags, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, render_str(tags[i]));
    return a;
}

static json_t *meta_json(const cat_pair_t *m, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, m[i].key, render_str(m[i].value));
    return o;
}

/* The service's tagged addresses: those registered, plus lan_/wan_ipv4 (or _ipv6) derived from
 * Address as Consul adds them at registration (derived here instead of stored: they are the
 * same bytes for every instance's address). Keys sorted; NULL when there are none. */
static json_t *taddrs_json(const cat_service_t *svc)
{
    const char *derived[2] = {NULL, NULL};
    struct in_addr a4;
    struct in6_addr a6;
    if (*svc->address && inet_pton(AF_INET, svc->address, &a4) == 1) {
        derived[0] = "lan_ipv4";
        derived[1] = "wan_ipv4";
    } else if (*svc->address && inet_pton(AF_INET6, svc->address, &a6) == 1) {
        derived[0] = "lan_ipv6";
        derived[1] = "wan_ipv6";
    }
    if (!svc->ntaddrs && !derived[0])
        return NULL;
    /* merge the stored (sorted) keys with the derived ones, a stored key winning */
    const char *keys[64];
    const char *addrs[64];
    int ports[64];
    size_t n = 0;
    for (size_t i = 0; i < svc->ntaddrs && n < 62; i++) {
        keys[n] = svc->taddrs[i].key;
        addrs[n] = svc->taddrs[i].address;
        ports[n++] = svc->taddrs[i].port;
    }
    for (int d = 0; d < 2 && derived[d]; d++) {
        size_t i = 0;
        while (i < n && strcmp(keys[i], derived[d]) != 0)
            i++;
        if (i == n) {
            keys[n] = derived[d];
            addrs[n] = svc->address;
            ports[n++] = svc->port;
        }
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *tk = keys[j], *ta = addrs[j];
            int tp = ports[j];
            keys[j] = keys[j - 1]; addrs[j] = addrs[j - 1]; ports[j] = ports[j - 1];
            keys[j - 1] = tk; addrs[j - 1] = ta; ports[j - 1] = tp;
        }
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, keys[i], json_pack("{s:s, s:i}", "Address", addrs[i], "Port", ports[i]));
    return o;
}

static json_t *weights_json(const cat_service_t *svc)
{
    return json_pack("{s:i, s:i}", "Passing", svc->w_passing, "Warning", svc->w_warning);
}

json_t *render_agent_service(const catalog_store_t *s, const cat_service_t *svc)
{
    json_t *o = json_object();
    json_object_set_new(o, "ID", render_str(svc->id));
    json_object_set_new(o, "Service", render_str(svc->name));
    json_object_set_new(o, "Tags", tags_json(svc->tags, svc->ntags));
    json_object_set_new(o, "Meta", meta_json(svc->meta, svc->nmeta));
    json_object_set_new(o, "Port", json_integer(svc->port));
    json_object_set_new(o, "Address", render_str(svc->address));
    json_t *ta = taddrs_json(svc);
    if (ta)
        json_object_set_new(o, "TaggedAddresses", ta);
    json_object_set_new(o, "Weights", weights_json(svc));
    json_object_set_new(o, "EnableTagOverride", json_boolean(svc->enable_tag_override));
    json_object_set_new(o, "Datacenter", render_str(store_datacenter(s)));
    return o;
}

static json_t *dur_json(int64_t ns)
{
    char b[64];
    duration_format(ns, b, sizeof b);
    return render_str(b);
}

json_t *render_check(const catalog_store_t *s, const cat_check_t *c)
{
    const cat_service_t *svc = c->service_id && *c->service_id ? store_service(s, c->service_id) : NULL;
    json_t *o = json_object();
    json_object_set_new(o, "Node", render_str(c->node ? c->node : store_node(s)));
    json_object_set_new(o, "CheckID", render_str(c->id));
    json_object_set_new(o, "Name", render_str(c->name));
    json_object_set_new(o, "Status", render_str(c->status));
    json_object_set_new(o, "Notes", render_str(c->notes ? c->notes : ""));
    json_object_set_new(o, "Output", render_str(c->output ? c->output : ""));
    json_object_set_new(o, "ServiceID", render_str(svc ? svc->id : ""));
    json_object_set_new(o, "ServiceName", render_str(svc ? svc->name : ""));
    json_object_set_new(o, "ServiceTags", svc ? tags_json(svc->tags, svc->ntags) : json_array());
    json_object_set_new(o, "Type", render_str(cat_check_type(c)));
    json_object_set_new(o, "Interval", render_str(""));
    json_object_set_new(o, "Timeout", render_str(""));
    if (c->interval_ns) json_object_set_new(o, "Interval", dur_json(c->interval_ns));
    if (c->timeout_ns) json_object_set_new(o, "Timeout", dur_json(c->timeout_ns));
    json_object_set_new(o, "ExposedPort", json_integer(0));
    json_t *def = json_object();
    if (c->kind == CHECK_HTTP || c->kind == CHECK_TCP || c->kind == CHECK_GRPC || c->kind == CHECK_TTL) {
        json_object_set_new(def, "Interval", dur_json(c->interval_ns));
        json_object_set_new(def, "Timeout", dur_json(c->timeout_ns));
        json_object_set_new(def, "DeregisterCriticalServiceAfter", dur_json(c->dereg_after_ns));
        json_object_set_new(def, "HTTP", render_str(c->http ? c->http : ""));
        json_t *h = json_null();
        if (c->nheaders) {
            h = json_object();
            for (size_t i = 0; i < c->nheaders; i++)
                json_object_set_new(h, c->headers[i].name, tags_json(c->headers[i].values, c->headers[i].nvalues));
        }
        json_object_set_new(def, "Header", h);
        json_object_set_new(def, "Method", render_str(c->method ? c->method : ""));
        json_object_set_new(def, "Body", render_str(c->body ? c->body : ""));
        json_object_set_new(def, "TLSServerName", render_str(c->tls_server_name ? c->tls_server_name : ""));
        json_object_set_new(def, "TLSSkipVerify", json_boolean(c->tls_skip_verify));
        json_object_set_new(def, "TCP", render_str(c->tcp ? c->tcp : ""));
        json_object_set_new(def, "GRPC", render_str(c->grpc ? c->grpc : ""));
        json_object_set_new(def, "GRPCUseTLS", json_boolean(c->grpc_use_tls));
    }
    json_object_set_new(o, "Definition", def);
    json_object_set_new(o, "CreateIndex", json_integer((json_int_t)c->create_index));
    json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)c->modify_index));
    return o;
}

static json_t *node_taddrs(const catalog_store_t *s)
{
    const char *a = store_address(s);
    int v6 = strchr(a, ':') != NULL;
    json_t *o = json_object();
    json_object_set_new(o, "lan", render_str(a));
    json_object_set_new(o, v6 ? "lan_ipv6" : "lan_ipv4", render_str(a));
    json_object_set_new(o, "wan", render_str(a));
    json_object_set_new(o, v6 ? "wan_ipv6" : "wan_ipv4", render_str(a));
    return o;
}

static json_t *pairs_json(const cat_pair_t *p, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, p[i].key, render_str(p[i].value));
    return o;
}

/* An external node's identity fields (catalog/register wrote them as they are). */
static json_t *ext_node_fields(const catalog_store_t *s, const cat_node_t *n, const char *meta_key)
{
    json_t *o = json_object();
    json_object_set_new(o, "ID", render_str(n->id ? n->id : ""));
    json_object_set_new(o, "Node", render_str(n->name));
    json_object_set_new(o, "Address", render_str(n->address));
    json_object_set_new(o, "Datacenter", render_str(store_datacenter(s)));
    json_object_set_new(o, "TaggedAddresses", pairs_json(n->taddrs, n->ntaddrs));
    json_object_set_new(o, meta_key, pairs_json(n->meta, n->nmeta));
    return o;
}

/* The node's identity fields, shared by a Node object and a catalog/service entry (which
 * names the node's Meta "NodeMeta"). */
static json_t *node_fields(const catalog_store_t *s, const char *meta_key)
{
    json_t *o = json_object();
    json_object_set_new(o, "ID", render_str(store_node_id(s)));
    json_object_set_new(o, "Node", render_str(store_node(s)));
    json_object_set_new(o, "Address", render_str(store_address(s)));
    json_object_set_new(o, "Datacenter", render_str(store_datacenter(s)));
    json_object_set_new(o, "TaggedAddresses", node_taddrs(s));
    json_object_set_new(o, meta_key, json_pack("{s:s}", "consul-network-segment", ""));
    return o;
}

json_t *render_node(const catalog_store_t *s)
{
    json_t *o = node_fields(s, "Meta");
    json_object_set_new(o, "CreateIndex", json_integer((json_int_t)store_node_create_index(s)));
    json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)store_node_modify_index(s)));
    return o;
}

json_t *render_ext_node(const catalog_store_t *s, const cat_node_t *n)
{
    json_t *o = ext_node_fields(s, n, "Meta");
    json_object_set_new(o, "CreateIndex", json_integer((json_int_t)n->create_index));
    json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)n->modify_index));
    return o;
}

json_t *render_node_of(const catalog_store_t *s, const cat_service_t *svc)
{
    const cat_node_t *n = svc->node ? store_ext_node(s, svc->node) : NULL;
    return n ? render_ext_node(s, n) : render_node(s);
}

json_t *render_catalog_service(const catalog_store_t *s, const cat_service_t *svc)
{
    const cat_node_t *en = svc->node ? store_ext_node(s, svc->node) : NULL;
    json_t *o = en ? ext_node_fields(s, en, "NodeMeta") : node_fields(s, "NodeMeta");
    json_object_set_new(o, "ServiceKind", render_str(""));
    json_object_set_new(o, "ServiceID", render_str(svc->id));
    json_object_set_new(o, "ServiceName", render_str(svc->name));
    json_object_set_new(o, "ServiceTags", tags_json(svc->tags, svc->ntags));
    json_object_set_new(o, "ServiceAddress", render_str(svc->address));
    json_t *ta = taddrs_json(svc);
    if (ta)
        json_object_set_new(o, "ServiceTaggedAddresses", ta);
    json_object_set_new(o, "ServiceWeights", weights_json(svc));
    json_object_set_new(o, "ServiceMeta", meta_json(svc->meta, svc->nmeta));
    json_object_set_new(o, "ServicePort", json_integer(svc->port));
    json_object_set_new(o, "ServiceEnableTagOverride", json_boolean(svc->enable_tag_override));
    json_object_set_new(o, "CreateIndex", json_integer((json_int_t)svc->create_index));
    json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)svc->modify_index));
    return o;
}

json_t *render_health_service(const catalog_store_t *s, const cat_service_t *svc)
{
    (void)s;
    json_t *o = json_object();
    json_object_set_new(o, "ID", render_str(svc->id));
    json_object_set_new(o, "Service", render_str(svc->name));
    json_object_set_new(o, "Tags", tags_json(svc->tags, svc->ntags));
    json_object_set_new(o, "Address", render_str(svc->address));
    json_t *ta = taddrs_json(svc);
    if (ta)
        json_object_set_new(o, "TaggedAddresses", ta);
    json_object_set_new(o, "Meta", meta_json(svc->meta, svc->nmeta));
    if (svc->port)
        json_object_set_new(o, "Port", json_integer(svc->port));
    json_object_set_new(o, "Weights", weights_json(svc));
    json_object_set_new(o, "EnableTagOverride", json_boolean(svc->enable_tag_override));
    json_object_set_new(o, "CreateIndex", json_integer((json_int_t)svc->create_index));
    json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)svc->modify_index));
    return o;
}

json_t *render_kv(const cat_kv_t *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "LockIndex", json_integer((json_int_t)e->lock_index));
    json_object_set_new(o, "Key", render_str(e->key));
    /* Flags is a uint64; jansson integers are signed, so values past INT64_MAX are written as
     * their int64 (negative) and api.c's set_json rewrites `"Flags":-N` as the unsigned value (only
     * an object key can produce that text: no user string can) */
    json_object_set_new(o, "Flags", json_integer((json_int_t)e->flags));
    if (e->has_value) {
        int n = 4 * (((int)e->len + 2) / 3) + 1;
        unsigned char *b = malloc((size_t)n);
        EVP_EncodeBlock(b, e->value, (int)e->len);
        json_object_set_new(o, "Value", render_str((char *)b));
        free(b);
    } else {
        json_object_set_new(o, "Value", json_null());
    }
    if (e->session)
        json_object_set_new(o, "Session", render_str(e->session));
    json_object_set_new(o, "CreateIndex", json_integer((json_int_t)e->create_index));
    json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)e->modify_index));
    return o;
}

json_t *render_agent_self(const catalog_store_t *s, const char *leader, const char *version)
{
    json_t *cfg = json_object();
    json_object_set_new(cfg, "Datacenter", render_str(store_datacenter(s)));
    json_object_set_new(cfg, "PrimaryDatacenter", render_str(store_datacenter(s)));
    json_object_set_new(cfg, "NodeName", render_str(store_node(s)));
    json_object_set_new(cfg, "NodeID", render_str(store_node_id(s)));
    json_object_set_new(cfg, "Revision", render_str("portolan"));
    json_object_set_new(cfg, "Server", json_true());
    json_object_set_new(cfg, "Version", render_str(version));
    json_object_set_new(cfg, "BuildDate", render_str(""));
    json_t *member = json_object();
    json_object_set_new(member, "Name", render_str(store_node(s)));
    json_object_set_new(member, "Addr", render_str(store_address(s)));
    json_object_set_new(member, "Port", json_integer(8301));
    json_object_set_new(member, "Tags", json_pack("{s:s, s:s, s:s, s:s}", "dc", store_datacenter(s), "role", "consul",
                                                  "id", store_node_id(s), "build", version));
    json_object_set_new(member, "Status", json_integer(1));
    json_t *consul = json_pack("{s:s, s:s, s:s, s:s, s:s}", "bootstrap", "true", "known_datacenters", "1",
                               "leader", "true", "leader_addr", leader, "server", "true");
    json_t *o = json_object();
    json_object_set_new(o, "Config", cfg);
    json_object_set_new(o, "DebugConfig", json_object());
    json_object_set_new(o, "Coord", json_pack("{s:[f,f,f,f,f,f,f,f], s:f, s:f, s:f}", "Vec", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                                              "Error", 1.5, "Adjustment", 0.0, "Height", 1e-05));
    json_object_set_new(o, "Member", member);
    json_object_set_new(o, "Stats", json_pack("{s:o}", "consul", consul));
    json_object_set_new(o, "Meta", json_pack("{s:s}", "consul-network-segment", ""));
    return o;
}
