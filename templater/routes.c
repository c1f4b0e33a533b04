/* routes.c: catalog snapshot -> route table, the pure heart of portolan-templater.
 *
 * The rules (docs/templater.md has them for users):
 *  - a service is routed when at least one instance carries the routing tag (-tag, "rest"); its
 *    route exists as long as such an instance is registered, whatever its health, so health flaps
 *    are server changes (runtime API), never route changes (reloads);
 *  - its servers are the passing instances carrying the tag;
 *  - path /<name> matches "/<name>" and "/<name>/..." only; longest path first;
 *  - hosts from Meta virtual_host (comma-separated) and tags host=<name>; a host claimed by two
 *    services goes to the first by name;
 *  - Meta check_http (registrator's SERVICE_CHECK_HTTP) of the first tagged instance by ID that
 *    has a valid one becomes the HAProxy HTTP check;
 *  - Meta weight 1..256 is the server weight;
 *  - KV <prefix>maxconn and <prefix>timeouts/<name> override global maxconn and defaults timeouts.
 * Every value is checked with validate.h; a failure skips only the item (instance, host, key),
 * reported through on_skip, and the rest of the table is built. */
#include "routes.h"
#include "xalloc.h"
#include "validate.h"
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consul_client.h"

/* a copy of s, "" for NULL (lib/xalloc.h: out of memory is fatal) */
static char *dup0(const char *s) { return xstrdup(s ? s : ""); }

/* ---- catalog ---- */

routes_catalog_t *routes_catalog_new(void)
{
    routes_catalog_t *c = xcalloc(1, sizeof *c);
    return c;
}

static void kv_free(routes_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) { free(kv[i].key); free(kv[i].value); }
    free(kv);
}

static void service_clear(routes_service_t *s)
{
    for (size_t j = 0; j < s->ninst; j++) {
        routes_instance_t *in = &s->inst[j];
        free(in->id); free(in->node); free(in->address);
        for (size_t k = 0; k < in->ntags; k++) free(in->tags[k]);
        free(in->tags);
        kv_free(in->meta, in->nmeta);
    }
    free(s->inst);
    free(s->name);
}

void routes_service_free(routes_service_t *s)
{
    if (!s) return;
    service_clear(s);
    free(s);
}

void routes_catalog_borrow_service(routes_catalog_t *c, const routes_service_t *s)
{
    c->svc = xrealloc(c->svc, (c->nsvc + 1) * sizeof *c->svc);
    c->svc[c->nsvc] = *s;
    c->svc[c->nsvc].borrowed = 1;
    c->nsvc++;
}

void routes_catalog_free(routes_catalog_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nsvc; i++)
        if (!c->svc[i].borrowed) service_clear(&c->svc[i]);
    free(c->svc);
    kv_free(c->kv, c->nkv);
    free(c);
}

routes_service_t *routes_catalog_add_service(routes_catalog_t *c, const char *name)
{
    c->svc = xrealloc(c->svc, (c->nsvc + 1) * sizeof *c->svc);
    routes_service_t *s = &c->svc[c->nsvc++];
    memset(s, 0, sizeof *s);
    s->name = dup0(name);
    return s;
}

routes_instance_t *routes_service_add_instance(routes_service_t *s, const char *id, const char *node,
                                               const char *address, long long port, int passing)
{
    s->inst = xrealloc(s->inst, (s->ninst + 1) * sizeof *s->inst);
    routes_instance_t *in = &s->inst[s->ninst++];
    memset(in, 0, sizeof *in);
    in->id = dup0(id);
    in->node = dup0(node);
    in->address = dup0(address);
    in->port = port;
    in->passing = passing;
    return in;
}

void routes_instance_add_tag(routes_instance_t *in, const char *tag)
{
    in->tags = xrealloc(in->tags, (in->ntags + 1) * sizeof *in->tags);
    in->tags[in->ntags++] = dup0(tag);
}

void routes_instance_add_meta(routes_instance_t *in, const char *key, const char *value)
{
    in->meta = xrealloc(in->meta, (in->nmeta + 1) * sizeof *in->meta);
    in->meta[in->nmeta].key = dup0(key);
    in->meta[in->nmeta].value = dup0(value);
    in->nmeta++;
}

void routes_catalog_add_kv(routes_catalog_t *c, const char *key, const char *value)
{
    c->kv = xrealloc(c->kv, (c->nkv + 1) * sizeof *c->kv);
    c->kv[c->nkv].key = dup0(key);
    c->kv[c->nkv].value = dup0(value);
    c->nkv++;
}

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void fill_from_health(routes_service_t *s, const json_t *health);

int routes_catalog_add_health(routes_catalog_t *c, const char *name, const json_t *health)
{
    if (!json_is_array(health)) return -1;
    fill_from_health(routes_catalog_add_service(c, name), health);
    return 0;
}

routes_service_t *routes_service_from_health(const char *name, const json_t *health)
{
    if (!json_is_array(health)) return NULL;
    routes_service_t *s = xcalloc(1, sizeof *s);
    s->name = dup0(name);
    fill_from_health(s, health);
    return s;
}

static void fill_from_health(routes_service_t *s, const json_t *health)
{
    size_t i;
    const json_t *e;
    json_array_foreach(health, i, e) {
        const json_t *node = json_object_get(e, "Node");
        const json_t *svc = json_object_get(e, "Service");
        const json_t *checks = json_object_get(e, "Checks");
        if (!json_is_object(svc)) continue;
        const char *id = jstr(svc, "ID");
        if (!id) continue;
        const char *addr = jstr(svc, "Address");
        if (!addr || !*addr) addr = json_is_object(node) ? jstr(node, "Address") : NULL;
        const json_t *pj = json_object_get(svc, "Port");
        long long port = json_is_integer(pj) ? json_integer_value(pj) : 0;
        int passing = 1;
        size_t k;
        const json_t *ch;
        json_array_foreach(checks, k, ch) {
            const char *st = jstr(ch, "Status");
            if (!st || strcmp(st, "passing") != 0) passing = 0;
        }
        routes_instance_t *in = routes_service_add_instance(
            s, id, json_is_object(node) ? jstr(node, "Node") : "", addr ? addr : "", port, passing);
        const json_t *tag;
        json_array_foreach(json_object_get(svc, "Tags"), k, tag)
            if (json_is_string(tag)) routes_instance_add_tag(in, json_string_value(tag));
        const char *mk;
        const json_t *mv;
        json_object_foreach((json_t *)json_object_get(svc, "Meta"), mk, mv)
            if (json_is_string(mv)) routes_instance_add_meta(in, mk, json_string_value(mv));
    }
}

int routes_catalog_set_kv(routes_catalog_t *c, const json_t *entries)
{
    kv_free(c->kv, c->nkv);
    c->kv = NULL;
    c->nkv = 0;
    if (!entries) return 0;
    if (!json_is_array(entries)) return -1;
    size_t i;
    const json_t *e;
    json_array_foreach(entries, i, e) {
        const char *key = jstr(e, "Key");
        if (!key) continue;
        size_t len;
        char *v = consul_kv_value(e, &len);
        if (!v) continue;
        if (strlen(v) == len) routes_catalog_add_kv(c, key, v); /* embedded NUL: not a number */
        free(v);
    }
    return 0;
}

/* ---- build ---- */

static void skip(routes_on_skip_cb cb, void *data, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void skip(routes_on_skip_cb cb, void *data, const char *fmt, ...)
{
    if (!cb) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cb(buf, data);
}

/* Quotes an untrusted string for a log line (log_quote), cut at 80 chars. */
static const char *q(const char *s, char *buf, size_t len) { return log_quote(s, buf, len < 81 ? len : 81); }

static int has_tag(const routes_instance_t *in, const char *tag)
{
    for (size_t i = 0; i < in->ntags; i++)
        if (strcmp(in->tags[i], tag) == 0) return 1;
    return 0;
}

static const char *meta_get(const routes_instance_t *in, const char *key)
{
    for (size_t i = 0; i < in->nmeta; i++)
        if (strcmp(in->meta[i].key, key) == 0) return in->meta[i].value;
    return NULL;
}

static uint64_t fnv1a(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = a; *p; p++) { h ^= (unsigned char)*p; h *= 1099511628211ULL; }
    h *= 1099511628211ULL; /* separator */
    for (const char *p = b; *p; p++) { h ^= (unsigned char)*p; h *= 1099511628211ULL; }
    return h;
}

int routes_service_routable(const char *name) { return validate_service_name(name); }

/* Hashed server names are "i" and 16 lower-case hex digits; an ID of that shape is never used
 * verbatim, so an ID can never take the name another instance was given. */
static int looks_hashed(const char *id)
{
    if (id[0] != 'i' || strlen(id) != 17) return 0;
    for (int i = 1; i < 17; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return 0;
    return 1;
}

static int name_taken(const routes_backend_t *b, const char *name)
{
    for (size_t k = 0; k < b->nservers; k++)
        if (strcmp(b->servers[k].name, name) == 0) return 1;
    return 0;
}

/* A server name unique in b by construction: the ID itself when it is a safe name, not of the
 * hashed shape and still free; else "i" + the hash of (node, ID); should that be taken too (the
 * same ID on two nodes hashing alike, or a crafted collision), the hash is salted until free. */
static void server_name(const routes_backend_t *b, const routes_instance_t *in, char *name, size_t len)
{
    if (validate_server_id(in->id) && !looks_hashed(in->id) && !name_taken(b, in->id)) {
        snprintf(name, len, "%s", in->id);
        return;
    }
    uint64_t h = fnv1a(in->node, in->id);
    for (;;) {
        snprintf(name, len, "i%016llx", (unsigned long long)h);
        if (!name_taken(b, name)) return;
        h = (h ^ 0x9e3779b97f4a7c15ULL) * 1099511628211ULL; /* next candidate */
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_svc_ptr(const void *a, const void *b)
{
    const routes_service_t *x = *(routes_service_t *const *)a, *y = *(routes_service_t *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_inst_ptr(const void *a, const void *b)
{
    const routes_instance_t *x = *(routes_instance_t *const *)a, *y = *(routes_instance_t *const *)b;
    int r = strcmp(x->id, y->id);
    return r ? r : strcmp(x->node, y->node);
}

static int cmp_server(const void *a, const void *b)
{
    return strcmp(((const routes_server_t *)a)->name, ((const routes_server_t *)b)->name);
}

static int cmp_backend(const void *a, const void *b)
{
    const routes_backend_t *x = *(routes_backend_t *const *)a, *y = *(routes_backend_t *const *)b;
    size_t lx = strlen(x->path), ly = strlen(y->path);
    if (lx != ly) return lx > ly ? -1 : 1;
    return strcmp(x->path, y->path);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const routes_kv_t *)a)->key, ((const routes_kv_t *)b)->key);
}

/* Hosts already claimed by an earlier service (sorted array, small). */
typedef struct {
    char **v;
    size_t n;
} strset_t;

static int strset_has(const strset_t *s, const char *x)
{
    return s->n && bsearch(&x, s->v, s->n, sizeof *s->v, cmp_str) != NULL;
}

static void strset_add(strset_t *s, const char *x)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(s->v[mid], x) < 0) lo = mid + 1; else hi = mid;
    }
    s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
    memmove(s->v + lo + 1, s->v + lo, (s->n - lo) * sizeof *s->v);
    s->v[lo] = (char *)x; /* borrowed from a backend */
    s->n++;
}

static void add_host(routes_backend_t *b, strset_t *claimed, const char *raw, const char *svc,
                     routes_on_skip_cb on_skip, void *data)
{
    char qb[128], qs[128];
    char h[256];
    size_t n = strlen(raw);
    b->nhost_candidates++;
    /* trim spaces (a comma list "a.com, b.com") */
    while (n && (raw[n - 1] == ' ')) n--;
    while (n && *raw == ' ') { raw++; n--; }
    if (n == 0 || n >= sizeof h) {
        if (n) skip(on_skip, data, "service %s: host %s invalid, skipped", q(svc, qs, sizeof qs), q(raw, qb, sizeof qb));
        return;
    }
    for (size_t i = 0; i < n; i++) h[i] = (char)tolower((unsigned char)raw[i]);
    h[n] = '\0';
    if (!validate_host(h)) {
        skip(on_skip, data, "service %s: host %s invalid, skipped", q(svc, qs, sizeof qs), q(h, qb, sizeof qb));
        return;
    }
    for (size_t i = 0; i < b->nhosts; i++)
        if (strcmp(b->hosts[i], h) == 0) return;
    if (strset_has(claimed, h)) {
        skip(on_skip, data, "service %s: host %s already routed to another service, skipped",
             q(svc, qs, sizeof qs), q(h, qb, sizeof qb));
        return;
    }
    b->hosts = xrealloc(b->hosts, (b->nhosts + 1) * sizeof *b->hosts);
    b->hosts[b->nhosts++] = dup0(h);
}

static void backend_unref(routes_backend_t *b)
{
    if (--b->refs > 0) return;
    free(b->service); free(b->backend); free(b->path); free(b->check_path);
    for (size_t i = 0; i < b->nhosts; i++) free(b->hosts[i]);
    free(b->hosts);
    for (size_t i = 0; i < b->nservers; i++) {
        free(b->servers[i].name); free(b->servers[i].id); free(b->servers[i].node); free(b->servers[i].addr);
    }
    free(b->servers);
    free(b);
}

void routes_table_free(routes_table_t *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) backend_unref(t->b[i]);
    free(t->b);
    kv_free(t->timeouts, t->ntimeouts);
    free(t);
}

static void build_kv(routes_table_t *t, const routes_catalog_t *c, const char *prefix,
                     routes_on_skip_cb on_skip, void *data)
{
    size_t pl = strlen(prefix);
    char qb[128], qv[128];
    for (size_t i = 0; i < c->nkv; i++) {
        const char *key = c->kv[i].key, *val = c->kv[i].value;
        if (strncmp(key, prefix, pl) != 0) continue;
        const char *rest = key + pl;
        if (strcmp(rest, "maxconn") == 0) {
            long long v;
            if (validate_number(val, 1, 1000000, &v)) t->maxconn = v;
            else skip(on_skip, data, "kv %s: value %s is not a number in 1..1000000, skipped",
                      q(key, qb, sizeof qb), q(val, qv, sizeof qv));
        } else if (strncmp(rest, "timeouts/", 9) == 0) {
            const char *name = rest + 9;
            if (!*name || strchr(name, '/')) continue; /* ls semantics: direct children only */
            if (!validate_timeout_name(name)) {
                skip(on_skip, data, "kv %s: unknown timeout name, skipped", q(key, qb, sizeof qb));
                continue;
            }
            if (!validate_timeout_value(val)) {
                skip(on_skip, data, "kv %s: value %s is not an HAProxy time (1-9 digits, unit us/ms/s/m/h/d, "
                                    "at most 2147483647 ms), skipped",
                     q(key, qb, sizeof qb), q(val, qv, sizeof qv));
                continue;
            }
            size_t j;
            for (j = 0; j < t->ntimeouts; j++)
                if (strcmp(t->timeouts[j].key, name) == 0) break;
            if (j < t->ntimeouts) continue;
            t->timeouts = xrealloc(t->timeouts, (t->ntimeouts + 1) * sizeof *t->timeouts);
            t->timeouts[t->ntimeouts].key = dup0(name);
            t->timeouts[t->ntimeouts].value = dup0(val);
            t->ntimeouts++;
        }
    }
    if (t->ntimeouts) qsort(t->timeouts, t->ntimeouts, sizeof *t->timeouts, cmp_kv);
}

static int cmp_backend_service(const void *a, const void *b)
{
    return strcmp((*(routes_backend_t *const *)a)->service, (*(routes_backend_t *const *)b)->service);
}

routes_table_t *routes_build(const routes_catalog_t *c, const routes_options_t *o,
                             routes_on_skip_cb on_skip, void *data)
{
    return routes_build_from(c, o, NULL, on_skip, data);
}

routes_table_t *routes_table_share(const routes_table_t *t)
{
    routes_table_t *n = xcalloc(1, sizeof *n);
    n->b = xrealloc(NULL, t->n * sizeof *n->b);
    for (size_t i = 0; i < t->n; i++) { n->b[i] = t->b[i]; n->b[i]->refs++; }
    n->n = t->n;
    n->maxconn = t->maxconn;
    n->timeouts = xrealloc(NULL, t->ntimeouts * sizeof *n->timeouts);
    for (size_t i = 0; i < t->ntimeouts; i++) {
        n->timeouts[i].key = dup0(t->timeouts[i].key);
        n->timeouts[i].value = dup0(t->timeouts[i].value);
    }
    n->ntimeouts = t->ntimeouts;
    return n;
}

routes_table_t *routes_build_from(const routes_catalog_t *c, const routes_options_t *o,
                                  const routes_table_t *prev, routes_on_skip_cb on_skip, void *data)
{
    /* prev's backends by service name, for reuse */
    routes_backend_t **pv = NULL;
    size_t npv = prev ? prev->n : 0;
    if (npv) {
        pv = xrealloc(NULL, npv * sizeof *pv);
        memcpy(pv, prev->b, npv * sizeof *pv);
        qsort(pv, npv, sizeof *pv, cmp_backend_service);
    }
    const char *tag = o && o->tag ? o->tag : "rest";
    const char *prefix = o && o->kv_prefix ? o->kv_prefix : "service/haproxy/";
    routes_table_t *t = xcalloc(1, sizeof *t);
    build_kv(t, c, prefix, on_skip, data);

    /* services in name order, so conflicts (duplicate names, hosts) resolve the same way always */
    const routes_service_t **svcs = xrealloc(NULL, c->nsvc * sizeof *svcs);
    for (size_t i = 0; i < c->nsvc; i++) svcs[i] = &c->svc[i];
    qsort(svcs, c->nsvc, sizeof *svcs, cmp_svc_ptr);
    strset_t claimed = { 0 };
    char qb[128], qs[128], qc[128];

    t->b = xrealloc(NULL, c->nsvc * sizeof *t->b);
    for (size_t si = 0; si < c->nsvc; si++) {
        const routes_service_t *s = svcs[si];
        /* tagged instances, by ID */
        const routes_instance_t **ins = xrealloc(NULL, s->ninst * sizeof *ins);
        size_t nin = 0;
        for (size_t j = 0; j < s->ninst; j++)
            if (has_tag(&s->inst[j], tag)) ins[nin++] = &s->inst[j];
        if (nin == 0) { free(ins); continue; }
        if (!routes_service_routable(s->name)) {
            skip(on_skip, data, "service %s: name not routable (allowed: [A-Za-z0-9._-] segments separated by '/'), skipped",
                 q(s->name, qs, sizeof qs));
            free(ins);
            continue;
        }
        if (si > 0 && strcmp(svcs[si - 1]->name, s->name) == 0) { free(ins); continue; }
        if (s->version && npv) {
            routes_backend_t key = { .service = s->name }, *kp = &key;
            routes_backend_t **hit = bsearch(&kp, pv, npv, sizeof *pv, cmp_backend_service);
            if (hit && (*hit)->version == s->version && (*hit)->nhost_candidates == 0) {
                (*hit)->refs++;
                t->b[t->n++] = *hit;
                free(ins);
                continue;
            }
        }
        qsort(ins, nin, sizeof *ins, cmp_inst_ptr);

        routes_backend_t *b = xcalloc(1, sizeof *b);
        b->refs = 1;
        b->version = s->version;
        t->b[t->n++] = b;
        b->service = dup0(s->name);
        size_t nl = strlen(s->name);
        b->backend = xrealloc(NULL, nl + 3);
        b->path = xrealloc(NULL, nl + 2);
        snprintf(b->backend, nl + 3, "b_%s", s->name);
        for (char *p = b->backend; *p; p++) if (*p == '/') *p = ':';
        snprintf(b->path, nl + 2, "/%s", s->name);

        for (size_t j = 0; j < nin; j++) {
            const routes_instance_t *in = ins[j];
            for (size_t k = 0; k < in->ntags; k++)
                if (strncmp(in->tags[k], "host=", 5) == 0)
                    add_host(b, &claimed, in->tags[k] + 5, s->name, on_skip, data);
            const char *vh = meta_get(in, "virtual_host");
            if (vh) {
                char *copy = dup0(vh), *save = NULL;
                for (char *h = strtok_r(copy, ",", &save); h; h = strtok_r(NULL, ",", &save))
                    add_host(b, &claimed, h, s->name, on_skip, data);
                free(copy);
            }
            const char *ck = meta_get(in, "check_http");
            if (ck && !b->check_path) {
                if (validate_http_path(ck)) b->check_path = dup0(ck);
                else skip(on_skip, data, "service %s: instance %s: check_http %s invalid, ignored",
                          q(s->name, qs, sizeof qs), q(in->id, qb, sizeof qb), q(ck, qc, sizeof qc));
            }
        }
        if (b->nhosts) qsort(b->hosts, b->nhosts, sizeof *b->hosts, cmp_str);
        for (size_t j = 0; j < b->nhosts; j++) strset_add(&claimed, b->hosts[j]);

        b->servers = xrealloc(NULL, nin * sizeof *b->servers);
        for (size_t j = 0; j < nin; j++) {
            const routes_instance_t *in = ins[j];
            if (!in->passing) continue;
            if (!validate_ip(in->address)) {
                skip(on_skip, data, "service %s: instance %s: address %s is not an IP literal, skipped",
                     q(s->name, qs, sizeof qs), q(in->id, qb, sizeof qb), q(in->address, qc, sizeof qc));
                continue;
            }
            if (!validate_port(in->port)) {
                skip(on_skip, data, "service %s: instance %s: port %lld out of range, skipped",
                     q(s->name, qs, sizeof qs), q(in->id, qb, sizeof qb), in->port);
                continue;
            }
            long long w = 1;
            const char *ws = meta_get(in, "weight");
            if (ws && !validate_number(ws, 1, 256, &w)) {
                skip(on_skip, data, "service %s: instance %s: weight %s not in 1..256, using 1",
                     q(s->name, qs, sizeof qs), q(in->id, qb, sizeof qb), q(ws, qc, sizeof qc));
                w = 1;
            }
            /* the same instance listed twice (same node and ID): only the first counts */
            int dup = 0;
            for (size_t k = 0; k < b->nservers; k++)
                if (strcmp(b->servers[k].id, in->id) == 0 && strcmp(b->servers[k].node, in->node) == 0) dup = 1;
            if (dup) {
                skip(on_skip, data, "service %s: instance %s registered twice on node %s, skipped",
                     q(s->name, qs, sizeof qs), q(in->id, qb, sizeof qb), q(in->node, qc, sizeof qc));
                continue;
            }
            char name[80];
            server_name(b, in, name, sizeof name);
            routes_server_t *sv = &b->servers[b->nservers++];
            sv->name = dup0(name);
            sv->id = dup0(in->id);
            sv->node = dup0(in->node);
            sv->addr = dup0(in->address);
            sv->port = (int)in->port;
            sv->weight = (int)w;
        }
        if (b->nservers) qsort(b->servers, b->nservers, sizeof *b->servers, cmp_server);
        free(ins);
    }
    free(claimed.v);
    free(svcs);
    free(pv);
    if (t->n) qsort(t->b, t->n, sizeof *t->b, cmp_backend);
    return t;
}

const routes_backend_t *routes_table_find(const routes_table_t *t, const char *service)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->b[i]->service, service) == 0) return t->b[i];
    return NULL;
}

json_t *routes_table_json(const routes_table_t *t)
{
    json_t *routes = json_array();
    for (size_t i = 0; i < t->n; i++) {
        const routes_backend_t *b = t->b[i];
        json_t *hosts = json_array(), *servers = json_array();
        for (size_t j = 0; j < b->nhosts; j++) json_array_append_new(hosts, json_string(b->hosts[j]));
        for (size_t j = 0; j < b->nservers; j++)
            json_array_append_new(servers, json_pack("{s:s,s:s,s:s,s:i,s:i}", "name", b->servers[j].name,
                "id", b->servers[j].id, "addr", b->servers[j].addr, "port", b->servers[j].port,
                "weight", b->servers[j].weight));
        json_array_append_new(routes, json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "service", b->service,
            "path", b->path, "backend", b->backend, "hosts", hosts,
            "check", b->check_path ? json_string(b->check_path) : json_null(), "servers", servers));
    }
    json_t *to = json_object();
    for (size_t i = 0; i < t->ntimeouts; i++)
        json_object_set_new(to, t->timeouts[i].key, json_string(t->timeouts[i].value));
    return json_pack("{s:o,s:I,s:o}", "routes", routes, "maxconn", (json_int_t)t->maxconn, "timeouts", to);
}
