/* services.c: container inspect JSON + agent config -> desired Consul services (see services.h).
 *
 * The order of decisions follows registrator's bridge (add/servicePort/newService) so that the
 * same container gives the same registration:
 *   1. ports: every Config.ExposedPorts key is seeded with host port = exposed port (what --net=host
 *      publishes); NetworkSettings.Ports then overwrites (first binding only; null = unpublished);
 *   2. a port counts when it has a host port, or when the service is addressed by container IP
 *      (-internal, SERVICE_ADDRESS_MODE=container, SERVICE_NETWORK); "several ports" (the -<port>
 *      name suffix) is decided on that set, before SERVICE_IGNORE / -explicit drop any;
 *   3. IP, lowest precedence first: binding HostIp (0.0.0.0/:: -> the resolved host IP), the
 *      named network's IP, -ip, container IP (-internal or per-container mode), -useIpFromLabel,
 *      the container:<id> network container's IP. */
#include "services.h"

#include "checks.h"
#include "metadata.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char exposed[8];   /* "80" */
    char proto[16];    /* "tcp" */
    int num;
    char host_port[16]; /* "" = unpublished */
    char host_ip[64];
} port_t;

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static char *xstrdup(const char *s) { return strdup(s ? s : ""); }

/* "80/tcp" or "80" -> exposed/proto; 0 on success. */
static int parse_port_key(const char *key, port_t *p)
{
    const char *slash = strchr(key, '/');
    size_t nlen = slash ? (size_t)(slash - key) : strlen(key);
    if (nlen == 0 || nlen > 5)
        return -1;
    for (size_t i = 0; i < nlen; i++)
        if (!isdigit((unsigned char)key[i]))
            return -1;
    memcpy(p->exposed, key, nlen);
    p->exposed[nlen] = '\0';
    p->num = atoi(p->exposed);
    if (p->num < 1 || p->num > 65535 || p->exposed[0] == '0')
        return -1;
    const char *proto = slash ? slash + 1 : "tcp";
    if (!*proto || strlen(proto) >= sizeof p->proto)
        return -1;
    for (const char *c = proto; *c; c++)
        if (!isalpha((unsigned char)*c))
            return -1;
    snprintf(p->proto, sizeof p->proto, "%s", proto);
    return 0;
}

/* "1".."65535", digits only, no leading zero. */
static int host_port_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || s[0] == '0' || strspn(s, "0123456789") != n)
        return 0;
    long v = strtol(s, NULL, 10);
    return v >= 1 && v <= 65535;
}

static port_t *find_port(port_t *ports, size_t n, const port_t *k)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ports[i].exposed, k->exposed) && !strcmp(ports[i].proto, k->proto))
            return &ports[i];
    return NULL;
}

static int cmp_port(const void *a, const void *b)
{
    const port_t *x = a, *y = b;
    if (x->num != y->num)
        return x->num < y->num ? -1 : 1;
    return strcmp(x->proto, y->proto);
}

/* The first IPv4 address of a container (NetworkSettings.IPAddress, else the networks in name
 * order), else its first global IPv6 address; "" when none. v6 first: the other way round
 * (SERVICE_ADDRESS_FAMILY=ipv6). Borrowed. */
static const char *container_ip(const json_t *inspect, int v6)
{
    const json_t *ns = json_object_get(inspect, "NetworkSettings");
    const json_t *nets = json_object_get(ns, "Networks");
    const char *keys[2] = {"IPAddress", "GlobalIPv6Address"};
    if (v6)
        keys[0] = "GlobalIPv6Address", keys[1] = "IPAddress";
    for (int k = 0; k < 2; k++) {
        const char *ip = jstr(ns, keys[k]);
        if (*ip)
            return ip;
        const char *best_name = NULL, *best = "";
        const char *name;
        const json_t *net;
        json_object_foreach((json_t *)nets, name, net) {
            const char *a = jstr(net, keys[k]);
            if (*a && (!best_name || strcmp(name, best_name) < 0))
                best_name = name, best = a;
        }
        if (*best)
            return best;
    }
    return "";
}

/* IP of the container on one named network (IPv4, else IPv6; v6: the other way round), or
 * NULL when not attached. */
static const char *network_ip(const json_t *inspect, const char *network, int v6)
{
    const json_t *net = json_object_get(json_object_get(json_object_get(inspect, "NetworkSettings"),
                                                        "Networks"), network);
    if (!json_is_object(net))
        return NULL;
    const char *a = jstr(net, v6 ? "GlobalIPv6Address" : "IPAddress");
    return *a ? a : jstr(net, v6 ? "IPAddress" : "GlobalIPv6Address");
}

static int is_hex(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
            return 0;
    return 1;
}

static const char *container_name(const json_t *inspect)
{
    const char *n = jstr(inspect, "Name");
    return *n == '/' ? n + 1 : n;
}

char *services_default_name(const json_t *inspect)
{
    const json_t *cfg = json_object_get(inspect, "Config");
    const char *swarm = jstr(json_object_get(cfg, "Labels"), "com.docker.swarm.service.name");
    if (*swarm)
        return strdup(swarm);
    const char *image = jstr(cfg, "Image");
    const char *image_id = jstr(inspect, "Image");
    int by_id = strncmp(image, "sha256:", 7) == 0;
    if (!by_id && strlen(image) >= 12 && is_hex(image) && strncmp(image_id, "sha256:", 7) == 0 &&
        strncmp(image_id + 7, image, strlen(image)) == 0)
        by_id = 1;
    if (by_id || !*image)
        return strdup(container_name(inspect));
    char *copy = strdup(image);
    if (!copy)
        return NULL;
    char *at = strchr(copy, '@');
    if (at)
        *at = '\0';
    size_t len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    char *base = strrchr(copy, '/');
    base = base ? base + 1 : copy;
    char *colon = strchr(base, ':');
    if (colon)
        *colon = '\0';
    char *out = *base ? strdup(base) : strdup(container_name(inspect));
    free(copy);
    return out;
}

const char *services_network_container(const json_t *inspect)
{
    const char *nm = jstr(json_object_get(inspect, "HostConfig"), "NetworkMode");
    if (strncmp(nm, "container:", 10) == 0 && nm[10])
        return nm + 10;
    return NULL;
}

uint64_t services_started_ns(const json_t *inspect)
{
    const char *s = json_string_value(json_object_get(json_object_get(inspect, "State"), "StartedAt"));
    struct tm tm = {0};
    int used = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec, &used) != 6 || used != 19)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    uint64_t frac = 0;
    const char *p = s + 19;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 9)
                frac = frac * 10 + (uint64_t)(*p - '0');
        for (; digits < 9; digits++)
            frac *= 10;
    }
    if (strcmp(p, "Z") != 0) /* Docker writes UTC; anything else is not what we parse */
        return 0;
    time_t t = timegm(&tm);
    if (t <= 0) /* "0001-01-01T00:00:00Z": never started */
        return 0;
    return (uint64_t)t * 1000000000u + frac;
}

const char *services_health(const json_t *inspect)
{
    const char *s = json_string_value(json_object_get(
        json_object_get(json_object_get(inspect, "State"), "Health"), "Status"));
    return (s && *s && strcmp(s, "none") != 0) ? s : NULL;
}

void service_free_fields(service_t *s)
{
    free(s->id);
    free(s->name);
    free(s->address);
    free(s->exposed_port);
    free(s->proto);
    free(s->container_id);
    free(s->container_name);
    json_decref(s->tags);
    json_decref(s->meta);
    json_decref(s->checks);
    free(s->health_check_id);
    free(s->ttl_check_id);
    memset(s, 0, sizeof *s);
}

void service_list_free(service_list_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        service_free_fields(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* Whether a port is addressed by container IP + exposed port. */
static int container_mode(const services_config_t *cfg, const metadata_t *md, warn_list_t *w,
                          const char *exposed)
{
    const char *mode = metadata_get(md, "address_mode");
    if (mode && !strcmp(mode, "container"))
        return 1;
    if (mode && !strcmp(mode, "host"))
        return 0;
    if (mode)
        warn_list_add(w, "port %s: SERVICE_ADDRESS_MODE \"%.40s\" ignored: use host or container", exposed, mode);
    return cfg->internal || metadata_get(md, "network") != NULL;
}

static int has_id(const service_list_t *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].id, id))
            return 1;
    return 0;
}

int services_build(const services_config_t *cfg, const json_t *inspect, const json_t *netc,
                   service_list_t *out, warn_list_t *w)
{
    memset(out, 0, sizeof *out);
    const char *cid = jstr(inspect, "Id");
    if (!*cid)
        return -1;
    const json_t *config = json_object_get(inspect, "Config");
    const json_t *env = json_object_get(config, "Env");
    const json_t *labels = json_object_get(config, "Labels");
    const json_t *exposed = json_object_get(config, "ExposedPorts");
    const json_t *ns = json_object_get(inspect, "NetworkSettings");
    const json_t *bindings = json_object_get(ns, "Ports");
    const char *nm = jstr(json_object_get(inspect, "HostConfig"), "NetworkMode");
    char cname_buf[16];
    const char *cname = container_name(inspect);
    if (!*cname) {
        snprintf(cname_buf, sizeof cname_buf, "%.12s", cid);
        cname = cname_buf;
    }

    /* 1. ports */
    size_t cap = json_object_size(exposed) + json_object_size(bindings), n = 0;
    port_t *ports = calloc(cap ? cap : 1, sizeof *ports);
    if (!ports)
        return -1;
    const char *key;
    const json_t *val;
    if (json_is_object(exposed)) {
        json_object_foreach((json_t *)exposed, key, val) {
            port_t p = {0};
            if (parse_port_key(key, &p) != 0) {
                warn_list_add(w, "exposed port \"%.40s\" ignored: not <port>[/<proto>]", key);
                continue;
            }
            if (find_port(ports, n, &p))
                continue;
            snprintf(p.host_port, sizeof p.host_port, "%s", p.exposed);
            snprintf(p.host_ip, sizeof p.host_ip, "0.0.0.0");
            ports[n++] = p;
        }
    }
    if (json_is_object(bindings)) {
        json_object_foreach((json_t *)bindings, key, val) {
            port_t p = {0};
            if (parse_port_key(key, &p) != 0) {
                warn_list_add(w, "published port \"%.40s\" ignored: not <port>[/<proto>]", key);
                continue;
            }
            const json_t *b0 = json_array_get(val, 0);
            const char *hp = jstr(b0, "HostPort"), *hip = jstr(b0, "HostIp");
            /* a host port that is not 1..65535 ("0", empty, "99999", "80x") is no published
             * port: never registered as port 0 or a wrapped number */
            if (*hp && !host_port_ok(hp))
                warn_list_add(w, "published port %s: host port \"%.15s\" ignored: not a port number 1-65535",
                              p.exposed, hp);
            else if (*hp)
                snprintf(p.host_port, sizeof p.host_port, "%s", hp);
            snprintf(p.host_ip, sizeof p.host_ip, "%s", (*hip && strlen(hip) < sizeof p.host_ip) ? hip : "0.0.0.0");
            port_t *old = find_port(ports, n, &p);
            if (old)
                *old = p;
            else
                ports[n++] = p;
        }
    }
    qsort(ports, n, sizeof *ports, cmp_port);

    /* 2. eligible ports */
    metadata_t **mds = calloc(n ? n : 1, sizeof *mds);
    int *eligible = calloc(n ? n : 1, sizeof *eligible), *cmode = calloc(n ? n : 1, sizeof *cmode);
    size_t neligible = 0;
    for (size_t i = 0; mds && eligible && cmode && i < n; i++) {
        mds[i] = metadata_build(env, labels, ports[i].exposed);
        if (!mds[i])
            continue;
        cmode[i] = container_mode(cfg, mds[i], w, ports[i].exposed);
        eligible[i] = cmode[i] || ports[i].host_port[0] != '\0';
        neligible += eligible[i] != 0;
    }
    int is_group = neligible > 1;

    char *defname = services_default_name(inspect);
    const char *vhost = metadata_plain(env, labels, "VIRTUAL_HOST");
    const char *vport = metadata_plain(env, labels, "VIRTUAL_PORT");
    const char *vchosen = vport;
    if (!vchosen && neligible == 1) {
        for (size_t i = 0; i < n; i++)
            if (eligible && eligible[i])
                vchosen = ports[i].exposed;
    }
    if (!vchosen)
        vchosen = "80";

    out->items = calloc(n ? n : 1, sizeof *out->items);
    for (size_t i = 0; out->items && mds && eligible && i < n; i++) {
        if (!eligible[i] || !mds[i])
            continue;
        const metadata_t *md = mds[i];
        const port_t *p = &ports[i];
        if (metadata_get(md, "ignore"))
            continue;
        const char *sname = metadata_get(md, "name");
        if (!sname && cfg->explicit_only)
            continue;

        /* 3. address */
        const char *hip = p->host_ip;
        const char *mode = metadata_get(md, "address_mode");
        int explicit_host = mode && !strcmp(mode, "host");
        /* registrator's overlay rule; an explicit SERVICE_ADDRESS_MODE=host means the host's
         * binding address instead */
        if (!explicit_host && *nm && strcmp(nm, "bridge") && strcmp(nm, "default") && strcmp(nm, "host")) {
            const char *nip = network_ip(inspect, nm, 0);
            hip = nip ? nip : "";
        }
        if (!strcmp(hip, "0.0.0.0") || !strcmp(hip, "::"))
            hip = (cfg->resolved_ip && *cfg->resolved_ip) ? cfg->resolved_ip : "";
        if (cfg->host_ip && *cfg->host_ip)
            hip = cfg->host_ip;
        const char *ip;
        int port;
        if (cmode[i]) {
            const char *net = metadata_get(md, "network");
            const char *fam = metadata_get(md, "address_family");
            int v6 = fam && !strcmp(fam, "ipv6");
            if (fam && !v6 && strcmp(fam, "ipv4") != 0)
                warn_list_add(w, "port %s: SERVICE_ADDRESS_FAMILY \"%.40s\" ignored: use ipv4 or ipv6", p->exposed, fam);
            const char *nip = net ? network_ip(inspect, net, v6) : NULL;
            if (net && !nip)
                warn_list_add(w, "port %s: SERVICE_NETWORK \"%.40s\": container is not attached to it; using its default IP",
                              p->exposed, net);
            ip = (nip && *nip) ? nip : container_ip(inspect, v6);
            port = p->num;
        } else {
            ip = hip;
            char *end;
            long hp = strtol(p->host_port, &end, 10);
            if (*end || hp < 1 || hp > 65535) {
                warn_list_add(w, "port %s: host port \"%.15s\" ignored: not a port number", p->exposed, p->host_port);
                continue;
            }
            port = (int)hp;
        }
        char *label_ip = NULL;
        if (cfg->use_ip_from_label && *cfg->use_ip_from_label) {
            const char *lv = jstr(labels, cfg->use_ip_from_label);
            if (*lv) {
                label_ip = strdup(lv);
                char *slash = label_ip ? strrchr(label_ip, '/') : NULL;
                if (slash)
                    *slash = '\0';
                if (label_ip && checks_host_ok(label_ip))
                    ip = label_ip;
                else
                    warn_list_add(w, "label %.40s=\"%.40s\" ignored: not an address", cfg->use_ip_from_label, lv);
            }
        }
        if (services_network_container(inspect) && netc) {
            const char *nip = container_ip(netc, 0);
            if (*nip)
                ip = nip;
        }
        if (!strcmp(ip, "0.0.0.0") || !strcmp(ip, "::"))
            ip = "";

        service_t *s = &out->items[out->n];
        int udp = !strcmp(p->proto, "udp");
        const char *sid = metadata_get(md, "id");
        if (sid) {
            s->id = strdup(sid);
        } else {
            size_t len = strlen(cfg->node) + strlen(cname) + 32;
            s->id = malloc(len);
            if (s->id)
                snprintf(s->id, len, "%s:%s:%s%s", cfg->node, cname, p->exposed, udp ? ":udp" : "");
        }
        if (!s->id || has_id(out, s->id)) {
            if (s->id)
                warn_list_add(w, "port %s: service ID \"%.60s\" already used by another port; skipped", p->exposed, s->id);
            free(s->id);
            s->id = NULL;
            free(label_ip);
            continue;
        }
        const char *base = sname ? sname : (defname ? defname : cname);
        if (!*base || !*s->id) { /* Consul refuses an empty ID or Name: say so once here */
            warn_list_add(w, "port %s: %s; skipped", p->exposed,
                          *s->id ? "no service name (no SERVICE_NAME, image or container name)" : "empty service ID");
            free(s->id);
            s->id = NULL;
            free(label_ip);
            continue;
        }
        size_t nlen = strlen(base) + 16;
        s->name = malloc(nlen);
        if (s->name) {
            if (is_group && !metadata_from_port(md, "name"))
                snprintf(s->name, nlen, "%s-%s", base, p->exposed);
            else
                snprintf(s->name, nlen, "%s", base);
        }
        s->address = xstrdup(ip);
        s->port = port;
        s->exposed_port = xstrdup(p->exposed);
        s->proto = xstrdup(p->proto);
        s->container_id = xstrdup(cid);
        s->container_name = xstrdup(cname);
        s->tags = json_array();
        metadata_tags_append(s->tags, metadata_get(md, "tags"));
        metadata_tags_append(s->tags, cfg->tags);
        if (udp)
            json_array_append_new(s->tags, json_string("udp"));
        s->meta = metadata_consul_meta(md, w);
        if (vhost && !strcmp(vchosen, p->exposed) && !json_object_get(s->meta, "virtual_host")) {
            const char *why = metadata_meta_pair_invalid("virtual_host", vhost);
            if (why)
                warn_list_add(w, "VIRTUAL_HOST ignored: %s", why);
            else if (json_object_size(s->meta) >= METADATA_META_MAX_PAIRS)
                warn_list_add(w, "VIRTUAL_HOST ignored: Consul allows at most %d Meta pairs", METADATA_META_MAX_PAIRS);
            else
                json_object_set_new(s->meta, "virtual_host", json_string(vhost));
        }
        s->checks = json_array();
        json_t *c = checks_build_set(md, "check_", s->address, s->port, cid, p->exposed, w);
        if (c)
            json_array_append_new(s->checks, c);
        for (int k = 1; k <= CHECKS_MAX_SETS; k++) {
            char prefix[16];
            snprintf(prefix, sizeof prefix, "check_%d_", k);
            c = checks_build_set(md, prefix, s->address, s->port, cid, p->exposed, w);
            if (c)
                json_array_append_new(s->checks, c);
        }
        const char *health = services_health(inspect);
        if (health && cfg->health_ttl_ns > 0) {
            size_t len = strlen(s->id) + 32;
            s->health_check_id = malloc(len);
            if (s->health_check_id) {
                snprintf(s->health_check_id, len, "service:%s:docker-health", s->id);
                json_array_append_new(s->checks,
                    checks_ttl(s->health_check_id, "Docker HEALTHCHECK", cfg->health_ttl_ns,
                               checks_docker_health_status(health),
                               "Mirrors the container's Docker health status (portolan-agent)"));
            }
        }
        if (cfg->ttl_ns > 0) {
            size_t len = strlen(s->id) + 16;
            s->ttl_check_id = malloc(len);
            if (s->ttl_check_id) {
                snprintf(s->ttl_check_id, len, "service:%s:ttl", s->id);
                json_array_append_new(s->checks,
                    checks_ttl(s->ttl_check_id, "portolan-agent TTL", cfg->ttl_ns, "passing",
                               "Refreshed by portolan-agent every -ttl-refresh"));
            }
        }
        free(label_ip);
        out->n++;
    }
    for (size_t i = 0; mds && i < n; i++)
        metadata_free(mds[i]);
    free(mds);
    free(eligible);
    free(cmode);
    free(defname);
    free(ports);
    return 0;
}
