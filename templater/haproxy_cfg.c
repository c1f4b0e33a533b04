/* haproxy_cfg.c: the built-in HAProxy configuration generator.
 *
 * Layout (after the base): one frontend on -bind whose use_backend rules are host rules first,
 * then path rules longest first, each path rule matching "/<name>" exactly or "/<name>/..." (never
 * "/<name>x"); a no-route backend answering 404; one backend per route that strips the prefix
 * (set-path / for the bare prefix, replace-path for the rest; the query string is untouched),
 * balances roundrobin (so the runtime API may add servers) and names servers after instance IDs
 * (so the runtime API can address them). Routing is decided in the frontend, rewriting in the
 * backend: a rewrite before an ACL would make it miss. */
#include "haproxy_cfg.h"
#include "xalloc.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_grow(sbuf_t *b, size_t more)
{
    if (b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}
static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    sb_grow(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
static void sb_puts(sbuf_t *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* The service name as a regex: '.' is the only metacharacter a valid name can hold. */
static void sb_regex_name(sbuf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '.') sb_puts(b, "[.]");
        else sb_put(b, s, 1);
    }
}

void haproxy_cfg_server_args(const routes_backend_t *b, const routes_server_t *s, char *buf, size_t len)
{
    int v6 = strchr(s->addr, ':') != NULL;
    snprintf(buf, len, "%s%s%s:%d weight %d%s", v6 ? "[" : "", s->addr, v6 ? "]" : "", s->port, s->weight,
             b->check_path ? " check inter 2s fall 2 rise 2" : "");
}

static int safe_addr(const char *s)
{
    /* host:port, *:port, :port, [v6]:port, or a unix socket path */
    if (!s || !*s || strlen(s) > 200) return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._-:[]*/@", c))
            continue;
        return 0;
    }
    return 1;
}

const char *haproxy_cfg_check_opts(const haproxy_cfg_opts_t *o)
{
    if (!safe_addr(o->bind)) return "-bind: not an address (host:port, :port)";
    if (!safe_addr(o->admin_socket)) return "admin socket path: only [A-Za-z0-9._-/] allowed";
    if (o->stats_bind && *o->stats_bind && !safe_addr(o->stats_bind)) return "-stats: not an address";
    for (int i = 0; i < DATAPLANE_NMAPS; i++)
        if (o->maps[i] && !safe_addr(o->maps[i])) return "map file path (from -config): only [A-Za-z0-9._-/] allowed";
    return NULL;
}

/* The base with its placeholders substituted, ending with a newline. */
static void render_base(sbuf_t *bp, const routes_table_t *t, const haproxy_cfg_opts_t *o)
{
    sbuf_t b = *bp;
    char num[32];
    snprintf(num, sizeof num, "%lld", t->maxconn ? t->maxconn : (o->default_maxconn ? o->default_maxconn : 4096));
    sbuf_t timeouts = { 0 }, stats = { 0 };
    sb_puts(&timeouts, "");
    sb_puts(&stats, "");
    for (size_t i = 0; i < t->ntimeouts; i++)
        sb_printf(&timeouts, "    timeout %s %s\n", t->timeouts[i].key, t->timeouts[i].value);
    if (o->stats_bind && *o->stats_bind)
        /* /metrics: HAProxy's own Prometheus exporter (built into Debian's 2.6, USE_PROMEX), per
         * backend counters named b_<route>; everything else is the stats page */
        sb_printf(&stats, "listen stats\n    bind %s\n"
                  "    http-request use-service prometheus-exporter if { path /metrics }\n"
                  "    stats enable\n    stats uri /\n    stats refresh 5s\n"
                  "    stats show-legends\n\n", o->stats_bind);
    /* substitute; a placeholder alone on its line takes the line with it */
    const char *base = o->base ? o->base : "";
    const char *p = base;
    while (*p) {
        const char *at = strchr(p, '@');
        if (!at) { sb_puts(&b, p); break; }
        sb_put(&b, p, (size_t)(at - p));
        const char *end = strchr(at + 1, '@');
        const char *val = NULL;
        size_t wl = end ? (size_t)(end - at - 1) : 0;
        if (end) {
            if (wl == 7 && !strncmp(at + 1, "MAXCONN", 7)) val = num;
            else if (wl == 12 && !strncmp(at + 1, "ADMIN_SOCKET", 12)) val = o->admin_socket;
            else if (wl == 8 && !strncmp(at + 1, "TIMEOUTS", 8)) val = timeouts.p;
            else if (wl == 5 && !strncmp(at + 1, "STATS", 5)) val = stats.p;
        }
        if (!val) { sb_put(&b, "@", 1); p = at + 1; continue; }
        sb_puts(&b, val);
        p = end + 1;
        /* multi-line values end with their own newline: swallow the placeholder's */
        size_t vl = strlen(val);
        if ((vl == 0 || val[vl - 1] == '\n') && *p == '\n' && (at == base || at[-1] == '\n')) p++;
    }
    free(timeouts.p);
    free(stats.p);
    if (b.len && b.p[b.len - 1] != '\n') sb_puts(&b, "\n");
    *bp = b;
}

char *haproxy_cfg_render(const routes_table_t *t, const haproxy_cfg_opts_t *o, size_t *lenp)
{
    sbuf_t b = { 0 };
    render_base(&b, t, o);
    sb_puts(&b, "\n# generated by portolan-templater from the Consul catalog; do not edit\n");
    sb_printf(&b, "frontend portolan\n    bind %s\n    option forwardfor\n", o->bind);
    for (size_t i = 0; i < t->n; i++) {
        const routes_backend_t *r = t->b[i];
        for (size_t j = 0; j < r->nhosts; j++)
            sb_printf(&b, "    use_backend %s if { req.hdr(host),field(1,:),lower -m str %s }\n", r->backend, r->hosts[j]);
    }
    for (size_t i = 0; i < t->n; i++) {
        const routes_backend_t *r = t->b[i];
        sb_printf(&b, "    use_backend %s if { path %s } || { path_beg %s/ }\n", r->backend, r->path, r->path);
    }
    sb_puts(&b, "    default_backend portolan_no_route\n\n");
    sb_puts(&b, "backend portolan_no_route\n"
                "    http-request return status 404 content-type text/plain string \"no route\\n\"\n");
    char args[160];
    for (size_t i = 0; i < t->n; i++) {
        const routes_backend_t *r = t->b[i];
        sb_printf(&b, "\n# service %s\nbackend %s\n    balance roundrobin\n", r->service, r->backend);
        sb_printf(&b, "    http-request set-path / if { path %s }\n", r->path);
        sb_puts(&b, "    http-request replace-path ^/");
        sb_regex_name(&b, r->service);
        sb_puts(&b, "(/.*)$ \\1\n");
        if (r->check_path)
            sb_printf(&b, "    option httpchk\n    http-check send meth GET uri %s\n", r->check_path);
        for (size_t j = 0; j < r->nservers; j++) {
            haproxy_cfg_server_args(r, &r->servers[j], args, sizeof args);
            sb_printf(&b, "    server %s %s\n", r->servers[j].name, args);
        }
    }
    if (lenp) *lenp = b.len;
    return b.p;
}

/* -routing maps (dataplane.h): the frontend looks the backend up in the host map, then in the
 * path map (the path with a '/' appended, so "/hello/v1" and "/hello/v1/..." find the key
 * "/hello/v1/" and "/hello/v10" does not); a backend strips the prefix the prefix map gives it
 * when the path's first <depth> segments are exactly that prefix (so a host route strips only a
 * path starting with its own "/<name>", as in ACL mode). */
static void render_backend_head(sbuf_t *b, const char *name, int depth, const haproxy_cfg_opts_t *o)
{
    sb_printf(b, "backend %s\n    balance roundrobin\n", name);
    sb_printf(b, "    http-request set-var(txn.portolan_pfx) be_name,map_str(%s)\n", o->maps[DATAPLANE_PREFIX]);
    sb_printf(b, "    http-request set-var(txn.portolan_pp) path,field(1,/,%d)\n", depth + 1);
    sb_printf(b, "    http-request set-path /%%[path,field(%d,/,0)] if { var(txn.portolan_pp),strcmp(txn.portolan_pfx) eq 0 }\n",
              depth + 2);
}

static void render_servers(sbuf_t *b, const routes_backend_t *r)
{
    char args[160];
    for (size_t j = 0; r && j < r->nservers; j++) {
        haproxy_cfg_server_args(r, &r->servers[j], args, sizeof args);
        sb_printf(b, "    server %s %s\n", r->servers[j].name, args);
    }
}

char *haproxy_cfg_render_maps(const routes_table_t *t, const dataplane_layout_t *l, const haproxy_cfg_opts_t *o,
                              size_t *lenp)
{
    sbuf_t b = { 0 };
    render_base(&b, t, o);
    sb_puts(&b, "\n# generated by portolan-templater from the Consul catalog; do not edit\n"
                "# routes: the map files named below (-routing maps)\n");
    sb_printf(&b, "frontend portolan\n    bind %s\n    option forwardfor\n", o->bind);
    sb_printf(&b, "    http-request set-var(txn.portolan_be) req.hdr(host),field(1,:),lower,map_str(%s)\n",
              o->maps[DATAPLANE_HOSTS]);
    sb_printf(&b, "    http-request set-var(txn.portolan_be) path,concat(,,/),map_beg(%s) "
                  "unless { var(txn.portolan_be) -m found }\n", o->maps[DATAPLANE_PATHS]);
    sb_puts(&b, "    use_backend %[var(txn.portolan_be)] if { var(txn.portolan_be) -m found }\n"
                "    default_backend portolan_no_route\n\n");
    sb_puts(&b, "backend portolan_no_route\n"
                "    http-request return status 404 content-type text/plain string \"no route\\n\"\n");
    /* the pools: each backend with the servers of the route it runs, if any */
    const routes_backend_t **in_pool[DATAPLANE_MAX_DEPTH + 1] = { 0 };
    for (size_t i = 0; i < t->n; i++) {
        const dataplane_slot_t *s = dataplane_layout_find(l, t->b[i]->service);
        if (!s || s->index < 0 || (size_t)s->index >= l->size[s->depth]) continue;
        if (!in_pool[s->depth]) {
            in_pool[s->depth] = xcalloc(l->size[s->depth], sizeof **in_pool);
        }
        in_pool[s->depth][s->index] = t->b[i];
    }
    char name[64];
    for (int d = 1; d <= DATAPLANE_MAX_DEPTH; d++) {
        if (!l->size[d]) continue;
        sb_printf(&b, "\n# pool of depth %d: %zu backends\n", d, l->size[d]);
        for (size_t k = 0; k < l->size[d]; k++) {
            snprintf(name, sizeof name, "p%d_%zu", d, k);
            const routes_backend_t *r = in_pool[d] ? in_pool[d][k] : NULL;
            if (r) sb_printf(&b, "# service %s\n", r->service);
            render_backend_head(&b, name, d, o);
            render_servers(&b, r);
        }
        free(in_pool[d]);
    }
    /* routes with a health check: their own backends */
    for (size_t i = 0; i < t->n; i++) {
        const routes_backend_t *r = t->b[i];
        const dataplane_slot_t *s = dataplane_layout_find(l, r->service);
        if (!s || s->index >= 0) continue;
        sb_printf(&b, "\n# service %s\n", r->service);
        render_backend_head(&b, s->backend, s->depth, o);
        if (r->check_path)
            sb_printf(&b, "    option httpchk\n    http-check send meth GET uri %s\n", r->check_path);
        render_servers(&b, r);
    }
    if (lenp) *lenp = b.len;
    return b.p;
}
