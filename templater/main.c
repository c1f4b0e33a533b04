/* main.c: portolan-templater, Consul -> HAProxy.
 * Wiring only: flags, the Consul client, the watcher (Consul -> catalog snapshot), routes_build
 * (pure), apply (HAProxy), the status endpoint, signals. Every flag is in docs/templater.md.
 * One templater_t owns every part of a run (no file-scope state): templater_start builds it from
 * the flags, the loop runs, templater_free releases everything (a -once run ends with every heap
 * block freed; tests/templater checks it under valgrind). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "apply.h"
#include "consul_client.h"
#include "duration.h"
#include "file.h"
#include "flags.h"
#include "haproxy_base.h"
#include "haproxy_cfg.h"
#include "haproxy_proc.h"
#include "http_client.h"
#include "log.h"
#include "prom.h"
#include "routes.h"
#include "signals.h"
#include "http_server.h"
#include "tmpl_mode.h"
#include "watcher.h"

#ifndef PORTOLAN_PKGDATADIR
#define PORTOLAN_PKGDATADIR "/usr/local/share/portolan"
#endif

#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct {
    const char *consul, *tag, *bind, *config, *base, *haproxy_bin, *master_socket, *admin_socket, *stats,
        *wait, *listen, *tmpl, *log_level, *kv_prefix, *routing;
    int once, dry, reload_only, stale, json_log;
    int64_t consul_wait;
    long long pool;
} templater_flags_t;

/* The flag table, pointing into f. */
#define TEMPLATER_NOPTS 22
static void templater_flags_table(templater_flags_t *f, flags_opt_t *opts)
{
    const flags_opt_t o[] = {
        { "consul", FLAGS_STRING, &f->consul, "", "Consul address (consul://host:port, consul-tls://, consul-unix://); when empty: $CONSUL_HTTP_ADDR, else 127.0.0.1:8500 (CONSUL_HTTP_TOKEN, CONSUL_CACERT... apply)" },
        { "tag", FLAGS_STRING, &f->tag, "rest", "routing tag: instances carrying it are routed at /<service name>" },
        { "bind", FLAGS_STRING, &f->bind, ":80", "HAProxy frontend listen address" },
        { "config", FLAGS_STRING, &f->config, "/etc/haproxy/haproxy.cfg", "HAProxy configuration file to write" },
        { "base", FLAGS_STRING, &f->base, "", "base configuration file (global, defaults); when empty: the built-in copy of haproxy/haproxy.cfg.base (installed as " PORTOLAN_PKGDATADIR "/haproxy.cfg.base)" },
        { "haproxy-bin", FLAGS_STRING, &f->haproxy_bin, "haproxy", "HAProxy binary (started in master-worker mode, and used for -c)" },
        { "master-socket", FLAGS_STRING, &f->master_socket, "", "drive an existing HAProxy master through this master CLI socket instead of starting one" },
        { "admin-socket", FLAGS_STRING, &f->admin_socket, "", "runtime API socket written into the config (default <config>.admin.sock)" },
        { "stats", FLAGS_STRING, &f->stats, "", "HAProxy stats page address (empty: none)" },
        { "wait", FLAGS_STRING, &f->wait, "", "quiescence min[:max] (Go durations, e.g. 100ms:2s); max defaults to 4*min" },
        { "listen", FLAGS_STRING, &f->listen, "", "address for /metrics, /routes (JSON) and /routes.html" },
        { "template", FLAGS_STRING, &f->tmpl, "", "consul-template mode: in:out[:command] (replaces the built-in generator)" },
        { "once", FLAGS_BOOL, &f->once, "false", "render once and exit; gives up (exit 1) when a Consul request has failed " STR(WATCHER_ONCE_ATTEMPTS) " times in a row (backoff capped at 1 s)" },
        { "dry", FLAGS_BOOL, &f->dry, "false", "print the configuration to stdout (\"> path\" first), write and run nothing" },
        { "routing", FLAGS_STRING, &f->routing, "maps", "maps: HAProxy maps and pooled backends, a new route is runtime API commands (no reload); acl: one use_backend rule per route, a new route is a reload" },
        { "pool", FLAGS_INT, &f->pool, "64", "-routing maps: free pooled backends per name depth kept after each reload (1..10000)" },
        { "reload-only", FLAGS_BOOL, &f->reload_only, "false", "apply server changes by reloading too (no runtime API; for comparison)" },
        { "stale", FLAGS_BOOL, &f->stale, "true", "stale reads (any Consul server may answer)" },
        { "consul-wait", FLAGS_DURATION, &f->consul_wait, "60s", "blocking query wait" },
        { "kv-prefix", FLAGS_STRING, &f->kv_prefix, "service/haproxy/", "KV prefix for maxconn and timeouts/<name>" },
        { "log-level", FLAGS_STRING, &f->log_level, "info", "debug, info, warn, error" },
        { "log-json", FLAGS_BOOL, &f->json_log, "false", "log JSON lines" },
    };
    _Static_assert(sizeof o / sizeof o[0] == TEMPLATER_NOPTS, "TEMPLATER_NOPTS is the number of flags");
    memcpy(opts, o, sizeof o);
}

/* templater_t: everything one run owns; templater_free releases it all (valgrind-clean exit). */
typedef struct {
    templater_flags_t f;
    uv_loop_t *loop;
    http_client_t *http;
    consul_client_t *consul;
    watcher_t *watcher;
    apply_t *applier;
    haproxy_proc_t *proc;
    http_server_t *status;
    signals_t *sigs;
    tmpl_mode_t *tmode;
    routes_options_t ropts;
    routes_table_t *last_built; /* shares backends with what apply holds */
    char *base;                 /* the base configuration apply started with */
    char admin[1024], master[1024], mapfile[DATAPLANE_NMAPS][1024], consul_addr[300];
    uint64_t skipped_total;
    double last_build_ms;
    int exit_code;
    int stopping;
} templater_t;

static void on_skip(const char *msg, void *data)
{
    templater_t *tpl = data;
    tpl->skipped_total++;
    log_warn("%s", msg);
}

static void on_catalog(const routes_catalog_t *c, void *data)
{
    templater_t *tpl = data;
    uint64_t t0 = uv_hrtime();
    routes_table_t *t = routes_build_from(c, &tpl->ropts, tpl->last_built, on_skip, tpl);
    routes_table_free(tpl->last_built);
    tpl->last_built = routes_table_share(t);
    tpl->last_build_ms = (double)(uv_hrtime() - t0) / 1e6;
    log_debug("routes: %zu services -> %zu routes in %.1f ms", c->nsvc, t->n, tpl->last_build_ms);
    apply_update(tpl->applier, t);
}

static void on_stopped(void *data)
{
    templater_t *tpl = data;
    uv_stop(tpl->loop);
}

static void shutdown_all(templater_t *tpl)
{
    if (tpl->stopping) return;
    tpl->stopping = 1;
    log_info("stopping");
    if (tpl->watcher) { watcher_free(tpl->watcher); tpl->watcher = NULL; }
    if (tpl->status) { http_server_close(tpl->status, NULL, NULL); tpl->status = NULL; }
    if (tpl->proc) haproxy_proc_stop(tpl->proc, on_stopped, tpl);
    else uv_stop(tpl->loop);
}

/* The -base file, malloc'd: at most 64 KiB of text, no NUL byte; -base empty: a copy of the
 * built-in base (haproxy_base.h). NULL with err set. */
#define BASE_MAX 65535
static char *read_base(const char *path, char *err, size_t errlen)
{
    if (!*path) {
        char *b = strdup(haproxy_base_builtin);
        if (!b) snprintf(err, errlen, "built-in base configuration: out of memory");
        return b;
    }
    size_t n;
    char *b = file_read(path, BASE_MAX, &n);
    if (!b) {
        if (errno == EFBIG) snprintf(err, errlen, "-base %s: larger than %d bytes", path, BASE_MAX);
        else snprintf(err, errlen, "-base %s: cannot read: %s", path, file_strerror(errno));
        return NULL;
    }
    if (memchr(b, '\0', n)) { snprintf(err, errlen, "-base %s: holds a NUL byte", path); free(b); return NULL; }
    return b;
}

static void on_stop(void *data) { shutdown_all(data); }
static void on_hup(void *data)
{
    templater_t *tpl = data;
    if (tpl->tmode) { tmpl_mode_reload(tpl->tmode); return; }
    /* built-in generator: re-read -base; apply validates what is built on it before HAProxy sees it */
    if (!*tpl->f.base) {
        log_info("SIGHUP: no -base file given; the built-in base configuration stays");
        return;
    }
    char err[512];
    char *nb = read_base(tpl->f.base, err, sizeof err);
    if (!nb) {
        log_error("SIGHUP: %s; keeping the current base configuration", err);
        return;
    }
    log_info("SIGHUP: base configuration %s re-read", tpl->f.base);
    if (tpl->applier && apply_set_base(tpl->applier, nb) != 0) log_error("SIGHUP: out of memory; base configuration not changed");
    free(nb);
}

/* -once and Consul unreachable: the watcher gave up (WATCHER_ONCE_ATTEMPTS failures in a row) */
static void on_give_up(const char *msg, void *data)
{
    templater_t *tpl = data;
    log_error("%s; -once writes nothing", msg);
    tpl->exit_code = 1;
    shutdown_all(tpl);
}

static void on_idle(void *data)
{
    templater_t *tpl = data;
    if (tpl->f.once) shutdown_all(tpl);
}

/* ---- status endpoint ---- */

static int status_answer(templater_t *tpl, const char *path, char **body, size_t *len, const char **ctype)
{
    apply_t *applier = tpl->applier;
    apply_stats_t as;
    memset(&as, 0, sizeof as);
    if (applier) apply_stats(applier, &as);
    watcher_stats_t ws;
    memset(&ws, 0, sizeof ws);
    if (tpl->watcher) watcher_stats(tpl->watcher, &ws);
    const routes_table_t *t = applier ? apply_current(applier) : NULL;
    if (strcmp(path, "/metrics") == 0) {
        size_t servers = 0;
        for (size_t i = 0; t && i < t->n; i++) servers += t->b[i]->nservers;
        prom_t *p = prom_new("portolan_templater_");
        if (!p) return 500;
        prom_gauge(p, "routes", "Routes in the table HAProxy runs.", t ? t->n : 0);
        prom_gauge(p, "servers", "Servers across those routes.", servers);
        prom_counter(p, "renders_total", "Configurations rendered.", as.renders);
        prom_counter(p, "reloads_total", "HAProxy reloads (and starts).", as.reloads);
        prom_counter(p, "reload_failures_total", "Reloads that failed and were rolled back.", as.reload_failures);
        prom_counter(p, "runtime_changes_total", "Changes applied over the runtime API, without a reload.",
                     as.runtime_changes);
        prom_counter(p, "runtime_ops_total", "Runtime API commands sent.", as.runtime_ops);
        prom_counter(p, "runtime_failures_total", "Runtime API batches that failed (a reload followed).",
                     as.runtime_failures);
        prom_counter(p, "check_failures_total", "Configurations haproxy -c refused.", as.check_failures);
        prom_gauge(p, "last_apply_ms", "Milliseconds the last apply took.", as.last_apply_ms);
        prom_counter(p, "map_ops_total", "Map edits sent over the runtime API (-routing maps).", as.map_ops);
        prom_counter(p, "undebounced_total", "Changes applied at once, without waiting out -wait.", as.undebounced);
        prom_counter(p, "skipped_total", "Catalog entries left out as invalid (each logged).", tpl->skipped_total);
        prom_counter(p, "consul_fetches_total", "Fetches from Consul.", ws.fetches);
        prom_counter(p, "consul_fetch_errors_total", "Fetches from Consul that failed.", ws.fetch_errors);
        prom_counter(p, "consul_full_refetches_total", "Refetches of every routed service (an instance came or went, or Consul came back).", ws.full_refetches);
        prom_gauge(p, "consul_ready", "1 once the first complete snapshot of the catalog is in.", ws.ready != 0);
        prom_gauge_double(p, "last_snapshot_ms", "Milliseconds to turn the last Consul answers into a snapshot.",
                          ws.last_snapshot_ms);
        prom_gauge_double(p, "last_build_ms", "Milliseconds the last route build took.", tpl->last_build_ms);
        prom_gauge_double(p, "last_render_ms", "Milliseconds the last render took.", as.last_render_ms);
        prom_gauge(p, "config_bytes", "Size of the last configuration written.", as.last_config_bytes);
        /* per route, the HAProxy backend serving it (a pool slot with -routing maps, b_<route>
         * with acl): joins HAProxy's exporter series (proxy="<backend>") to the route
         * (monitoring/rules.yml). */
        prom_family(p, "route_backend", "gauge", "The HAProxy backend serving each route (value 1).");
        for (size_t i = 0; t && i < t->n; i++) {
            const char *be = apply_backend_of(applier, t->b[i]->service);
            const char *labels[] = {"service", t->b[i]->service, "backend", be ? be : t->b[i]->backend, NULL};
            prom_sample_u64_labels(p, "route_backend", labels, 1);
        }
        size_t n = 0;
        char *b = prom_finish(p, &n);
        if (!b) return 500;
        *body = b;
        *len = n;
        *ctype = PROM_CONTENT_TYPE;
        return 200;
    }
    if (strcmp(path, "/routes") == 0) {
        json_t *j = t ? routes_table_json(t) : json_pack("{s:[],s:I,s:{}}", "routes", "maxconn", (json_int_t)0, "timeouts");
        /* -routing maps: the backend HAProxy runs the route in (a pooled one, most of the time) */
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(j, "routes"), i, r) {
            const char *be = apply_backend_of(applier, json_string_value(json_object_get(r, "service")));
            if (be) json_object_set_new(r, "backend", json_string(be));
        }
        *body = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(j);
        *len = strlen(*body);
        *ctype = "application/json";
        return 200;
    }
    if (strcmp(path, "/routes.html") == 0 || strcmp(path, "/") == 0) {
        /* everything printed passed validate.h: no HTML metacharacters can occur */
        size_t cap = 4096, n = 0;
        char *b = malloc(cap);
        #define PUT(...) do { int k_ = snprintf(b + n, cap - n, __VA_ARGS__); \
            if ((size_t)k_ >= cap - n) { cap = (cap + (size_t)k_) * 2; b = realloc(b, cap); snprintf(b + n, cap - n, __VA_ARGS__); } \
            n += (size_t)k_; } while (0)
        PUT("<!doctype html><html><head><meta charset=\"utf-8\"><title>portolan routes</title>"
            "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left;vertical-align:top}</style>"
            "</head><body><h1>portolan-templater routes</h1><p>%zu routes, %llu reloads, %llu runtime changes</p>"
            "<table><tr><th>path</th><th>hosts</th><th>service</th><th>check</th><th>servers</th></tr>",
            t ? t->n : 0, (unsigned long long)as.reloads, (unsigned long long)as.runtime_changes);
        for (size_t i = 0; t && i < t->n && i < 5000; i++) {
            const routes_backend_t *r = t->b[i];
            PUT("<tr><td>%s</td><td>", r->path);
            for (size_t j = 0; j < r->nhosts; j++) PUT("%s<br>", r->hosts[j]);
            PUT("</td><td>%s</td><td>%s</td><td>", r->service, r->check_path ? r->check_path : "");
            for (size_t j = 0; j < r->nservers; j++)
                PUT("%s %s:%d w%d<br>", r->servers[j].name, r->servers[j].addr, r->servers[j].port, r->servers[j].weight);
            PUT("</td></tr>");
        }
        PUT("</table></body></html>\n");
        #undef PUT
        *body = b;
        *len = n;
        *ctype = "text/html; charset=utf-8";
        return 200;
    }
    *body = strdup("not found\n");
    *len = strlen(*body);
    *ctype = "text/plain";
    return 404;
}

static void on_status(http_exchange_t *x, void *data)
{
    const char *m = http_exchange_method(x);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        http_exchange_add_header(x, "Allow", "GET, HEAD");
        http_exchange_respond(x, 405, "method not allowed\n", 19);
        return;
    }
    char *body = NULL;
    size_t len = 0;
    const char *ctype = "text/plain";
    int st = status_answer(data, http_exchange_path(x), &body, &len, &ctype);
    http_exchange_add_header(x, "Content-Type", ctype);
    http_exchange_respond(x, st, body ? body : "", strcmp(m, "HEAD") == 0 ? 0 : len);
    free(body);
}

static const char *env_get(const char *n) { return getenv(n); }

/* 1 when an HAProxy master already listens on path (left by a templater that was killed): it is
 * adopted instead of starting a second one next to it. A one-off blocking connect at startup. */
static int master_alive(const char *path)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof a.sun_path) return 0;
    memcpy(a.sun_path, path, n);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Sets tpl up from its flags (parsed into tpl->f) and starts it: 0, or the exit status (2: a bad
 * flag, 1: cannot start) with the message printed. Whatever was set up stays in tpl for
 * templater_free. */
static int templater_start(templater_t *tpl)
{
    templater_flags_t *f = &tpl->f;
    char err[512];
    uint64_t wmin = 0, wmax = 0;
    if (f->wait && *f->wait) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", f->wait);
        char *colon = strchr(buf, ':');
        if (colon) *colon = '\0';
        int64_t a = 0, b = 0;
        if (duration_parse(buf, &a, err, sizeof err) < 0 || a < 0 ||
            (colon && (duration_parse(colon + 1, &b, err, sizeof err) < 0 || b < a))) {
            fprintf(stderr, "portolan-templater: -wait %s: want min[:max] Go durations, max >= min\n", f->wait);
            return 2;
        }
        wmin = (uint64_t)(a / DURATION_MS);
        wmax = colon ? (uint64_t)(b / DURATION_MS) : wmin * 4;
    }
    if (f->once) wmin = wmax = 0; /* as consul-template: -once disables quiescence */

    /* no -consul: "consul://" (no host) takes CONSUL_HTTP_ADDR, else 127.0.0.1:8500 */
    consul_endpoint_t ep;
    if (consul_endpoint_parse(*f->consul ? f->consul : "consul://", env_get, &ep, err, sizeof err) < 0) {
        fprintf(stderr, "portolan-templater: %s\n", err);
        return 2;
    }
    /* for the start-up log line: where the address came from is resolved */
    if (ep.unix_path) snprintf(tpl->consul_addr, sizeof tpl->consul_addr, "unix://%s", ep.unix_path);
    else snprintf(tpl->consul_addr, sizeof tpl->consul_addr, "%s", ep.base_url);

    tpl->loop = uv_default_loop();
    tpl->http = http_client_new(tpl->loop);
    if (tpl->http) {
        http_client_set_max_host_connections(tpl->http, 4);
        tpl->consul = consul_client_new(tpl->http, &ep);
    }
    consul_endpoint_clear(&ep);
    if (!tpl->consul) { fprintf(stderr, "portolan-templater: cannot create the Consul client\n"); return 1; }
    tpl->sigs = signals_new(tpl->loop, on_stop, on_hup, tpl);

    if (f->tmpl && *f->tmpl) {
        tmpl_mode_opts_t to = { .spec = f->tmpl, .once = f->once, .dry = f->dry, .stale = f->stale,
                                .wait_min_ms = wmin, .wait_max_ms = wmax, .on_done = on_stopped, .data = tpl,
                                .give_up_after = f->once ? WATCHER_ONCE_ATTEMPTS : 0 };
        tpl->tmode = tmpl_mode_new(tpl->loop, tpl->consul, &to, err, sizeof err);
        if (!tpl->tmode) { fprintf(stderr, "portolan-templater: -template: %s\n", err); return 2; }
        return 0;
    }

    /* built-in generator */
    tpl->base = read_base(f->base, err, sizeof err);
    if (!tpl->base) {
        fprintf(stderr, "portolan-templater: %s\n", err);
        return 2;
    }
    if (f->admin_socket && *f->admin_socket) snprintf(tpl->admin, sizeof tpl->admin, "%s", f->admin_socket);
    else snprintf(tpl->admin, sizeof tpl->admin, "%s.admin.sock", f->config);
    int external = f->master_socket && *f->master_socket, adopted = 0;
    if (external) snprintf(tpl->master, sizeof tpl->master, "%s", f->master_socket);
    else snprintf(tpl->master, sizeof tpl->master, "%s.master.sock", f->config);

    apply_opts_t ao;
    memset(&ao, 0, sizeof ao);
    ao.config_path = f->config;
    ao.haproxy_bin = f->haproxy_bin;
    ao.cfg.base = tpl->base;
    ao.cfg.bind = f->bind;
    ao.cfg.admin_socket = tpl->admin;
    ao.cfg.stats_bind = f->stats;
    static const char *const mapname[DATAPLANE_NMAPS] = { "paths", "hosts", "prefix" };
    if (strcmp(f->routing, "maps") == 0) {
        if (f->pool < 1 || f->pool > 10000) { fprintf(stderr, "portolan-templater: -pool %lld: want 1..10000\n", f->pool); return 2; }
        ao.maps = 1;
        ao.pool.spare = (size_t)f->pool;
        for (int i = 0; i < DATAPLANE_NMAPS; i++) {
            snprintf(tpl->mapfile[i], sizeof tpl->mapfile[i], "%s.%s.map", f->config, mapname[i]);
            ao.cfg.maps[i] = tpl->mapfile[i];
        }
    } else if (strcmp(f->routing, "acl") != 0) {
        fprintf(stderr, "portolan-templater: -routing %s: want acl or maps\n", f->routing);
        return 2;
    }
    const char *bad = haproxy_cfg_check_opts(&ao.cfg);
    if (bad) { fprintf(stderr, "portolan-templater: %s\n", bad); return 2; }
    ao.admin_socket = tpl->admin;
    ao.runtime = !f->reload_only;
    ao.dry = f->dry;
    ao.skip_check = f->dry;
    ao.wait_min_ms = wmin;
    ao.wait_max_ms = wmax;

    /* the status endpoint and the watcher before HAProxy: a failure here leaves no child behind */
    if (f->listen && *f->listen) {
        http_server_opts_t so = { .max_body = 4096, .max_conns_per_ip = 16, .server_name = "portolan-templater" };
        tpl->status = http_server_new(tpl->loop, &so, on_status, tpl);
        if (!tpl->status || http_server_listen(tpl->status, f->listen, err, sizeof err) != 0) {
            fprintf(stderr, "portolan-templater: -listen %s: %s\n", f->listen, err);
            return 2;
        }
    }
    tpl->ropts.tag = f->tag;
    tpl->ropts.kv_prefix = f->kv_prefix;
    watcher_opts_t wo = { .tag = f->tag, .kv_prefix = f->kv_prefix, .stale = f->stale,
                          .wait_ms = (uint64_t)(f->consul_wait / DURATION_MS),
                          .give_up_after = f->once ? WATCHER_ONCE_ATTEMPTS : 0, .on_give_up = on_give_up };
    tpl->watcher = watcher_new(tpl->consul, &wo, on_catalog, tpl);
    if (!tpl->watcher) { fprintf(stderr, "portolan-templater: cannot create the Consul watches\n"); return 1; }

    if (!external && !f->dry && !f->once && master_alive(tpl->master)) {
        log_warn("an HAProxy master already answers on %s (left by an earlier run): driving it instead of starting another", tpl->master);
        external = adopted = 1;
    }
    if (!f->dry && !f->once) {
        haproxy_proc_opts_t po = { .bin = f->haproxy_bin, .config = f->config, .master_socket = tpl->master, .external = external,
                                   .adopted = adopted };
        tpl->proc = haproxy_proc_new(tpl->loop, &po);
        /* a config from an earlier run serves while Consul is being read (and if it is down) */
        struct stat sb;
        if (!external && stat(f->config, &sb) == 0 && sb.st_size > 0) haproxy_proc_start(tpl->proc);
    } else if (f->once && external) {
        haproxy_proc_opts_t po = { .bin = f->haproxy_bin, .config = f->config, .master_socket = tpl->master, .external = 1 };
        tpl->proc = haproxy_proc_new(tpl->loop, &po);
    }
    ao.proc = tpl->proc;
    tpl->applier = apply_new(tpl->loop, &ao);
    apply_on_idle(tpl->applier, on_idle, tpl);

    if (watcher_start(tpl->watcher) < 0) {
        log_error("cannot start the Consul watches");
        tpl->exit_code = 1;
        shutdown_all(tpl); /* stops the HAProxy just started; the loop then returns */
        return 0;
    }
    log_info("watching %s for services tagged \"%s\"; HAProxy on %s, config %s, base %s", tpl->consul_addr, f->tag,
             f->bind, f->config, *f->base ? f->base : "built in");
    return 0;
}

/* Frees everything tpl owns, in the reverse order of templater_start, then lets the loop run the
 * close callbacks and closes it. After the loop has returned (HAProxy stopped, if one was started). */
static void templater_free(templater_t *tpl)
{
    watcher_free(tpl->watcher);
    tpl->watcher = NULL;
    if (tpl->status) http_server_close(tpl->status, NULL, NULL);
    tpl->status = NULL;
    /* stopped in the middle of a change (SIGTERM): its callbacks would still use apply and the
     * master; the process is exiting, so they are left to it rather than freed under them */
    if (!tpl->applier || !apply_busy(tpl->applier)) {
        apply_free(tpl->applier);
        haproxy_proc_free(tpl->proc);
    } else {
        log_debug("exit: a change was under way; its state is not freed");
        tpl->loop = NULL; /* its handles stay open: no loop_close */
    }
    tmpl_mode_free(tpl->tmode);
    signals_free(tpl->sigs);
    routes_table_free(tpl->last_built);
    consul_client_free(tpl->consul);
    http_client_free(tpl->http);
    free(tpl->base);
    if (tpl->loop) {
        /* close callbacks (and connections being torn down) finish in a few turns */
        for (int i = 0; i < 1000 && uv_run(tpl->loop, UV_RUN_NOWAIT); i++) ;
        if (uv_loop_close(tpl->loop) != 0) log_debug("exit: the event loop still has open handles");
    }
}

int main(int argc, char **argv)
{
    templater_t tpl;
    memset(&tpl, 0, sizeof tpl);
    flags_opt_t opts[TEMPLATER_NOPTS];
    templater_flags_table(&tpl.f, opts);
    char err[512];
    int first = 0;
    int rc = flags_parse("PORTOLAN", opts, TEMPLATER_NOPTS, argc, argv, &first, err, sizeof err);
    if (rc == 1) {
        flags_usage(stdout, "portolan-templater [flags] [consul URI]", "PORTOLAN", opts, TEMPLATER_NOPTS);
        return 0;
    }
    if (rc < 0) { fprintf(stderr, "portolan-templater: %s\n", err); return 2; }
    if (first < argc) tpl.f.consul = argv[first];
    log_level_t lvl;
    if (log_level_parse(tpl.f.log_level, &lvl) < 0) { fprintf(stderr, "portolan-templater: -log-level %s: unknown\n", tpl.f.log_level); return 2; }
    log_init("portolan-templater", lvl, tpl.f.json_log);

    rc = templater_start(&tpl);
    if (rc == 0) {
        uv_run(tpl.loop, UV_RUN_DEFAULT);
        rc = tpl.tmode ? tmpl_mode_exit_code(tpl.tmode) : tpl.exit_code;
    }
    templater_free(&tpl);
    return rc;
}
