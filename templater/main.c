/* main.c: portolan-templater, Consul -> HAProxy.
 * Wiring only: flags, the Consul client, the watcher (Consul -> catalog snapshot), routes_build
 * (pure), apply (HAProxy), the status endpoint, signals. Every flag is in docs/templater.md. */
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

static struct {
    const char *consul, *tag, *bind, *config, *base, *haproxy_bin, *master_socket, *admin_socket, *stats,
        *wait, *listen, *tmpl, *log_level, *kv_prefix, *routing;
    int once, dry, reload_only, stale, json_log;
    int64_t consul_wait;
    long long pool;
} F;

static const flags_opt_t opts[] = {
    { "consul", FLAGS_STRING, &F.consul, "", "Consul address (consul://host:port, consul-tls://, consul-unix://); when empty: $CONSUL_HTTP_ADDR, else 127.0.0.1:8500 (CONSUL_HTTP_TOKEN, CONSUL_CACERT... apply)" },
    { "tag", FLAGS_STRING, &F.tag, "rest", "routing tag: instances carrying it are routed at /<service name>" },
    { "bind", FLAGS_STRING, &F.bind, ":80", "HAProxy frontend listen address" },
    { "config", FLAGS_STRING, &F.config, "/etc/haproxy/haproxy.cfg", "HAProxy configuration file to write" },
    { "base", FLAGS_STRING, &F.base, "", "base configuration file (global, defaults); when empty: the built-in copy of haproxy/haproxy.cfg.base (installed as " PORTOLAN_PKGDATADIR "/haproxy.cfg.base)" },
    { "haproxy-bin", FLAGS_STRING, &F.haproxy_bin, "haproxy", "HAProxy binary (started in master-worker mode, and used for -c)" },
    { "master-socket", FLAGS_STRING, &F.master_socket, "", "drive an existing HAProxy master through this master CLI socket instead of starting one" },
    { "admin-socket", FLAGS_STRING, &F.admin_socket, "", "runtime API socket written into the config (default <config>.admin.sock)" },
    { "stats", FLAGS_STRING, &F.stats, "", "HAProxy stats page address (empty: none)" },
    { "wait", FLAGS_STRING, &F.wait, "", "quiescence min[:max] (Go durations, e.g. 100ms:2s); max defaults to 4*min" },
    { "listen", FLAGS_STRING, &F.listen, "", "address for /metrics, /routes (JSON) and /routes.html" },
    { "template", FLAGS_STRING, &F.tmpl, "", "consul-template mode: in:out[:command] (replaces the built-in generator)" },
    { "once", FLAGS_BOOL, &F.once, "false", "render once and exit; gives up (exit 1) when a Consul request has failed " STR(WATCHER_ONCE_ATTEMPTS) " times in a row (backoff capped at 1 s)" },
    { "dry", FLAGS_BOOL, &F.dry, "false", "print the configuration to stdout (\"> path\" first), write and run nothing" },
    { "routing", FLAGS_STRING, &F.routing, "maps", "maps: HAProxy maps and pooled backends, a new route is runtime API commands (no reload); acl: one use_backend rule per route, a new route is a reload" },
    { "pool", FLAGS_INT, &F.pool, "64", "-routing maps: free pooled backends per name depth kept after each reload (1..10000)" },
    { "reload-only", FLAGS_BOOL, &F.reload_only, "false", "apply server changes by reloading too (no runtime API; for comparison)" },
    { "stale", FLAGS_BOOL, &F.stale, "true", "stale reads (any Consul server may answer)" },
    { "consul-wait", FLAGS_DURATION, &F.consul_wait, "60s", "blocking query wait" },
    { "kv-prefix", FLAGS_STRING, &F.kv_prefix, "service/haproxy/", "KV prefix for maxconn and timeouts/<name>" },
    { "log-level", FLAGS_STRING, &F.log_level, "info", "debug, info, warn, error" },
    { "log-json", FLAGS_BOOL, &F.json_log, "false", "log JSON lines" },
};

static uv_loop_t *loop;
static http_client_t *http;
static consul_client_t *consul;
static watcher_t *watcher;
static apply_t *applier;
static haproxy_proc_t *proc;
static http_server_t *status;
static signals_t *sigs;
static tmpl_mode_t *tmode;
static routes_options_t ropts;
static uint64_t skipped_total;
static int exit_code;
static int stopping;

static void on_skip(const char *msg, void *data)
{
    skipped_total++;
    log_warn("%s", msg);
}

static double last_build_ms;
static routes_table_t *last_built; /* shares backends with what apply holds */

static void on_catalog(const routes_catalog_t *c, void *data)
{
    uint64_t t0 = uv_hrtime();
    routes_table_t *t = routes_build_from(c, &ropts, last_built, on_skip, NULL);
    routes_table_free(last_built);
    last_built = routes_table_share(t);
    last_build_ms = (double)(uv_hrtime() - t0) / 1e6;
    log_debug("routes: %zu services -> %zu routes in %.1f ms", c->nsvc, t->n, last_build_ms);
    apply_update(applier, t);
}

static void on_stopped(void *data)
{
    uv_stop(loop);
}

static void shutdown_all(void)
{
    if (stopping) return;
    stopping = 1;
    log_info("stopping");
    if (watcher) { watcher_free(watcher); watcher = NULL; }
    if (status) { http_server_close(status, NULL, NULL); status = NULL; }
    if (proc) haproxy_proc_stop(proc, on_stopped, NULL);
    else uv_stop(loop);
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

static void on_stop(void *data) { shutdown_all(); }
static void on_hup(void *data)
{
    if (tmode) { tmpl_mode_reload(tmode); return; }
    /* built-in generator: re-read -base; apply validates what is built on it before HAProxy sees it */
    if (!*F.base) {
        log_info("SIGHUP: no -base file given; the built-in base configuration stays");
        return;
    }
    char err[512];
    char *nb = read_base(F.base, err, sizeof err);
    if (!nb) {
        log_error("SIGHUP: %s; keeping the current base configuration", err);
        return;
    }
    log_info("SIGHUP: base configuration %s re-read", F.base);
    if (applier && apply_set_base(applier, nb) != 0) log_error("SIGHUP: out of memory; base configuration not changed");
    free(nb);
}

/* -once and Consul unreachable: the watcher gave up (WATCHER_ONCE_ATTEMPTS failures in a row) */
static void on_give_up(const char *msg, void *data)
{
    log_error("%s; -once writes nothing", msg);
    exit_code = 1;
    shutdown_all();
}

static void on_idle(void *data)
{
    if (F.once) shutdown_all();
}

/* ---- status endpoint ---- */

static int status_answer(const char *path, char **body, size_t *len, const char **ctype)
{
    apply_stats_t as;
    memset(&as, 0, sizeof as);
    if (applier) apply_stats(applier, &as);
    watcher_stats_t ws;
    memset(&ws, 0, sizeof ws);
    if (watcher) watcher_stats(watcher, &ws);
    const routes_table_t *t = applier ? apply_current(applier) : NULL;
    if (strcmp(path, "/metrics") == 0) {
        size_t servers = 0;
        for (size_t i = 0; t && i < t->n; i++) servers += t->b[i]->nservers;
        char *b = NULL;
        int n = asprintf(&b,
            "# TYPE portolan_templater_routes gauge\nportolan_templater_routes %zu\n"
            "# TYPE portolan_templater_servers gauge\nportolan_templater_servers %zu\n"
            "# TYPE portolan_templater_renders_total counter\nportolan_templater_renders_total %llu\n"
            "# TYPE portolan_templater_reloads_total counter\nportolan_templater_reloads_total %llu\n"
            "# TYPE portolan_templater_reload_failures_total counter\nportolan_templater_reload_failures_total %llu\n"
            "# TYPE portolan_templater_runtime_changes_total counter\nportolan_templater_runtime_changes_total %llu\n"
            "# TYPE portolan_templater_runtime_ops_total counter\nportolan_templater_runtime_ops_total %llu\n"
            "# TYPE portolan_templater_runtime_failures_total counter\nportolan_templater_runtime_failures_total %llu\n"
            "# TYPE portolan_templater_check_failures_total counter\nportolan_templater_check_failures_total %llu\n"
            "# TYPE portolan_templater_last_apply_ms gauge\nportolan_templater_last_apply_ms %llu\n"
            "# TYPE portolan_templater_map_ops_total counter\nportolan_templater_map_ops_total %llu\n"
            "# TYPE portolan_templater_undebounced_total counter\nportolan_templater_undebounced_total %llu\n"
            "# TYPE portolan_templater_skipped_total counter\nportolan_templater_skipped_total %llu\n"
            "# TYPE portolan_templater_consul_fetches_total counter\nportolan_templater_consul_fetches_total %llu\n"
            "# TYPE portolan_templater_consul_fetch_errors_total counter\nportolan_templater_consul_fetch_errors_total %llu\n"
            "# TYPE portolan_templater_consul_full_refetches_total counter\nportolan_templater_consul_full_refetches_total %llu\n"
            "# TYPE portolan_templater_consul_ready gauge\nportolan_templater_consul_ready %d\n"
            "# TYPE portolan_templater_last_snapshot_ms gauge\nportolan_templater_last_snapshot_ms %.3f\n"
            "# TYPE portolan_templater_last_build_ms gauge\nportolan_templater_last_build_ms %.3f\n"
            "# TYPE portolan_templater_last_render_ms gauge\nportolan_templater_last_render_ms %.3f\n"
            "# TYPE portolan_templater_config_bytes gauge\nportolan_templater_config_bytes %zu\n",
            t ? t->n : 0, servers, (unsigned long long)as.renders, (unsigned long long)as.reloads,
            (unsigned long long)as.reload_failures, (unsigned long long)as.runtime_changes,
            (unsigned long long)as.runtime_ops, (unsigned long long)as.runtime_failures,
            (unsigned long long)as.check_failures, (unsigned long long)as.last_apply_ms,
            (unsigned long long)as.map_ops, (unsigned long long)as.undebounced,
            (unsigned long long)skipped_total, (unsigned long long)ws.fetches, (unsigned long long)ws.fetch_errors,
            (unsigned long long)ws.full_refetches, ws.ready, ws.last_snapshot_ms, last_build_ms, as.last_render_ms,
            as.last_config_bytes);
        if (n < 0) return 500;
        *body = b;
        *len = (size_t)n;
        *ctype = "text/plain; version=0.0.4";
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
    int st = status_answer(http_exchange_path(x), &body, &len, &ctype);
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

int main(int argc, char **argv)
{
    char err[512];
    int first = 0;
    int rc = flags_parse("PORTOLAN", opts, sizeof opts / sizeof opts[0], argc, argv, &first, err, sizeof err);
    if (rc == 1) {
        flags_usage(stdout, "portolan-templater [flags] [consul URI]", "PORTOLAN", opts, sizeof opts / sizeof opts[0]);
        return 0;
    }
    if (rc < 0) { fprintf(stderr, "portolan-templater: %s\n", err); return 2; }
    if (first < argc) F.consul = argv[first];
    log_level_t lvl;
    if (log_level_parse(F.log_level, &lvl) < 0) { fprintf(stderr, "portolan-templater: -log-level %s: unknown\n", F.log_level); return 2; }
    log_init("portolan-templater", lvl, F.json_log);

    uint64_t wmin = 0, wmax = 0;
    if (F.wait && *F.wait) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", F.wait);
        char *colon = strchr(buf, ':');
        if (colon) *colon = '\0';
        int64_t a = 0, b = 0;
        if (duration_parse(buf, &a, err, sizeof err) < 0 || a < 0 ||
            (colon && (duration_parse(colon + 1, &b, err, sizeof err) < 0 || b < a))) {
            fprintf(stderr, "portolan-templater: -wait %s: want min[:max] Go durations, max >= min\n", F.wait);
            return 2;
        }
        wmin = (uint64_t)(a / DURATION_MS);
        wmax = colon ? (uint64_t)(b / DURATION_MS) : wmin * 4;
    }
    if (F.once) wmin = wmax = 0; /* as consul-template: -once disables quiescence */

    /* no -consul: "consul://" (no host) takes CONSUL_HTTP_ADDR, else 127.0.0.1:8500 */
    consul_endpoint_t ep;
    if (consul_endpoint_parse(*F.consul ? F.consul : "consul://", env_get, &ep, err, sizeof err) < 0) {
        fprintf(stderr, "portolan-templater: %s\n", err);
        return 2;
    }
    static char consul_addr[300]; /* for the start-up log line: where the address came from is resolved */
    if (ep.unix_path) snprintf(consul_addr, sizeof consul_addr, "unix://%s", ep.unix_path);
    else snprintf(consul_addr, sizeof consul_addr, "%s", ep.base_url);

    loop = uv_default_loop();
    http = http_client_new(loop);
    http_client_set_max_host_connections(http, 4);
    consul = consul_client_new(http, &ep);
    consul_endpoint_clear(&ep);
    sigs = signals_new(loop, on_stop, on_hup, NULL);

    if (F.tmpl && *F.tmpl) {
        tmpl_mode_opts_t to = { .spec = F.tmpl, .once = F.once, .dry = F.dry, .stale = F.stale,
                                .wait_min_ms = wmin, .wait_max_ms = wmax, .on_done = on_stopped,
                                .give_up_after = F.once ? WATCHER_ONCE_ATTEMPTS : 0 };
        tmode = tmpl_mode_new(loop, consul, &to, err, sizeof err);
        if (!tmode) { fprintf(stderr, "portolan-templater: -template: %s\n", err); return 2; }
        uv_run(loop, UV_RUN_DEFAULT);
        exit_code = tmpl_mode_exit_code(tmode);
        return exit_code;
    }

    /* built-in generator */
    char *base = read_base(F.base, err, sizeof err); /* kept for the life of the process */
    if (!base) {
        fprintf(stderr, "portolan-templater: %s\n", err);
        return 2;
    }
    static char admin[1024], master[1024];
    if (F.admin_socket && *F.admin_socket) snprintf(admin, sizeof admin, "%s", F.admin_socket);
    else snprintf(admin, sizeof admin, "%s.admin.sock", F.config);
    int external = F.master_socket && *F.master_socket;
    if (external) snprintf(master, sizeof master, "%s", F.master_socket);
    else snprintf(master, sizeof master, "%s.master.sock", F.config);
    if (!external && !F.dry && !F.once && master_alive(master)) {
        log_warn("an HAProxy master already answers on %s (left by an earlier run): driving it instead of starting another", master);
        external = 1;
    }

    apply_opts_t ao;
    memset(&ao, 0, sizeof ao);
    ao.config_path = F.config;
    ao.haproxy_bin = F.haproxy_bin;
    ao.cfg.base = base;
    ao.cfg.bind = F.bind;
    ao.cfg.admin_socket = admin;
    ao.cfg.stats_bind = F.stats;
    static char mapfile[DATAPLANE_NMAPS][1024];
    static const char *const mapname[DATAPLANE_NMAPS] = { "paths", "hosts", "prefix" };
    if (strcmp(F.routing, "maps") == 0) {
        if (F.pool < 1 || F.pool > 10000) { fprintf(stderr, "portolan-templater: -pool %lld: want 1..10000\n", F.pool); return 2; }
        ao.maps = 1;
        ao.pool.spare = (size_t)F.pool;
        for (int i = 0; i < DATAPLANE_NMAPS; i++) {
            snprintf(mapfile[i], sizeof mapfile[i], "%s.%s.map", F.config, mapname[i]);
            ao.cfg.maps[i] = mapfile[i];
        }
    } else if (strcmp(F.routing, "acl") != 0) {
        fprintf(stderr, "portolan-templater: -routing %s: want acl or maps\n", F.routing);
        return 2;
    }
    const char *bad = haproxy_cfg_check_opts(&ao.cfg);
    if (bad) { fprintf(stderr, "portolan-templater: %s\n", bad); return 2; }
    ao.admin_socket = admin;
    ao.runtime = !F.reload_only;
    ao.dry = F.dry;
    ao.skip_check = F.dry;
    ao.wait_min_ms = wmin;
    ao.wait_max_ms = wmax;
    if (!F.dry && !F.once) {
        haproxy_proc_opts_t po = { .bin = F.haproxy_bin, .config = F.config, .master_socket = master, .external = external };
        proc = haproxy_proc_new(loop, &po);
        /* a config from an earlier run serves while Consul is being read (and if it is down) */
        struct stat sb;
        if (!external && stat(F.config, &sb) == 0 && sb.st_size > 0) haproxy_proc_start(proc);
    } else if (F.once && external) {
        haproxy_proc_opts_t po = { .bin = F.haproxy_bin, .config = F.config, .master_socket = master, .external = 1 };
        proc = haproxy_proc_new(loop, &po);
    }
    ao.proc = proc;
    applier = apply_new(loop, &ao);
    apply_on_idle(applier, on_idle, NULL);

    ropts.tag = F.tag;
    ropts.kv_prefix = F.kv_prefix;
    watcher_opts_t wo = { .tag = F.tag, .kv_prefix = F.kv_prefix, .stale = F.stale,
                          .wait_ms = (uint64_t)(F.consul_wait / DURATION_MS),
                          .give_up_after = F.once ? WATCHER_ONCE_ATTEMPTS : 0, .on_give_up = on_give_up };
    watcher = watcher_new(consul, &wo, on_catalog, NULL);
    if (!watcher || watcher_start(watcher) < 0) { fprintf(stderr, "portolan-templater: cannot start the Consul watches\n"); return 1; }

    if (F.listen && *F.listen) {
        http_server_opts_t so = { .max_body = 4096, .max_conns_per_ip = 16, .server_name = "portolan-templater" };
        status = http_server_new(loop, &so, on_status, NULL);
        if (!status || http_server_listen(status, F.listen, err, sizeof err) != 0) { fprintf(stderr, "portolan-templater: -listen %s: %s\n", F.listen, err); return 2; }
    }
    log_info("watching %s for services tagged \"%s\"; HAProxy on %s, config %s, base %s", consul_addr, F.tag, F.bind,
             F.config, *F.base ? F.base : "built in");
    uv_run(loop, UV_RUN_DEFAULT);
    return exit_code;
}
