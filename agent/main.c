/* main.c: portolan-agent's process: flags, endpoints from the environment, the libuv loop, the
 * clients, signals, the optional /metrics + /health listener; everything else is agent.c. Exit
 * status: 0 after SIGTERM/SIGINT, 1 on a fatal startup error (Consul unreachable after
 * -retry-attempts, bad endpoint), 2 on a command-line error. */
#include "agent.h"
#include "agent_config.h"
#include "log.h"
#include "signals.h"
#include "http_server.h"
#include "ops_api.h"
#include "prom.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    uv_loop_t *loop;
    agent_t *agent;
    ops_api_t *ops; /* its counters join /metrics */
    int exit_code;
    int stopping;
} app_t;

static void on_stopped(void *data)
{
    app_t *app = data;
    uv_stop(app->loop);
}

static void on_stop(void *data)
{
    app_t *app = data;
    if (app->stopping)
        return;
    app->stopping = 1;
    log_info("stopping");
    agent_stop(app->agent, on_stopped, app);
}

static void on_fatal(void *data)
{
    app_t *app = data;
    app->exit_code = 1;
    on_stop(app);
}

/* scale-down's drain (ops_api.h): the agent takes the container's services out of Consul */
static void on_drain(void *data, const char *id)
{
    agent_drain(data, id);
}

/* /metrics and /health on -listen (lib/http_server.h); GET/HEAD only. */
static void on_status(http_exchange_t *x, void *data)
{
    app_t *app = data;
    const char *path = http_exchange_path(x);
    const char *method = http_exchange_method(x);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        http_exchange_add_header(x, "Allow", "GET, HEAD");
        http_exchange_add_header(x, "Content-Type", "text/plain");
        http_exchange_respond(x, 405, "method not allowed\n", 19);
        return;
    }
    if (!strcmp(path, "/metrics")) {
        size_t len = 0;
        char *body = agent_metrics(app->agent, &len);
        if (body && app->ops) { /* the replicate/scale API's counters after the agent's */
            size_t olen = 0;
            char *ops = ops_api_metrics(app->ops, &olen);
            char *all = ops ? realloc(body, len + olen + 1) : NULL;
            if (all) {
                memcpy(all + len, ops, olen + 1);
                body = all;
                len += olen;
            }
            free(ops);
        }
        http_exchange_add_header(x, "Content-Type", PROM_CONTENT_TYPE);
        if (body)
            http_exchange_respond(x, 200, body, len);
        else
            http_exchange_respond(x, 500, "out of memory\n", 14);
        free(body);
        return;
    }
    http_exchange_add_header(x, "Content-Type", "text/plain");
    if (!strcmp(path, "/health")) {
        char why[128];
        int ok = agent_healthy(app->agent, why, sizeof why);
        http_exchange_respond(x, ok ? 200 : 503, why, strlen(why));
        return;
    }
    static const char nf[] = "not found: try /metrics or /health\n";
    http_exchange_respond(x, 404, nf, sizeof nf - 1);
}

/* What a 0.0.0.0 binding becomes: the host name resolved, as registrator does (IPv4 first). */
static char *resolve_hostname(void)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        return NULL;
    host[sizeof host - 1] = '\0';
    int families[2] = {AF_INET, AF_INET6};
    for (int i = 0; i < 2; i++) {
        struct addrinfo hints = {.ai_family = families[i], .ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
            continue;
        char buf[INET6_ADDRSTRLEN] = "";
        if (res->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, buf, sizeof buf);
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, buf, sizeof buf);
        freeaddrinfo(res);
        if (*buf)
            return strdup(buf);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    agent_config_t cfg;
    char err[512] = "";
    int rc = agent_config_parse(&cfg, argc, argv, stdout, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "portolan-agent: %s\n", err);
        if (strstr(err, "registry URI"))
            agent_config_usage(stderr);
        return 2;
    }
    log_init("portolan-agent", cfg.level, cfg.log_json);

    docker_endpoint_t dep;
    consul_endpoint_t cep;
    if (docker_endpoint_from_env(NULL, &dep, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }
    if (consul_endpoint_parse(cfg.registry_uri, NULL, &cep, err, sizeof err) != 0) {
        log_error("%s", err);
        docker_endpoint_clear(&dep);
        return 1;
    }
    char *resolved = resolve_hostname();
    log_info("starting: docker %s, consul %s, host IP for 0.0.0.0 bindings %s", dep.host, cep.addr,
             resolved ? resolved : "(unresolved: Address left to Consul)");
    if (cfg.ip && *cfg.ip)
        log_info("forcing host IP to %s", cfg.ip);

    app_t app = {.loop = uv_default_loop()};
    http_client_t *http = http_client_new(app.loop);
    docker_client_t *dc = http ? docker_client_new(http, &dep) : NULL;
    consul_client_t *cc = http ? consul_client_new(http, &cep) : NULL;
    docker_endpoint_clear(&dep);
    consul_endpoint_clear(&cep);
    app.agent = (dc && cc) ? agent_new(app.loop, &cfg, dc, cc, resolved) : NULL;
    free(resolved);
    if (!app.agent) {
        log_error("cannot create the clients (out of memory or libcurl init failure)");
        return 1;
    }
    signals_t *sig = signals_new(app.loop, on_stop, NULL, &app);
    http_server_t *status = NULL;
    if (cfg.listen && *cfg.listen) {
        http_server_opts_t so = {.max_body = 4096, .max_conns_per_ip = 16, .server_name = "portolan-agent"};
        status = http_server_new(app.loop, &so, on_status, &app);
        if (!status || http_server_listen(status, cfg.listen, err, sizeof err) != 0) {
            log_error("-listen %s: %s", cfg.listen, status ? err : "out of memory");
            app.exit_code = 1;
        } else {
            log_info("serving /metrics and /health on %s", cfg.listen);
        }
    }
    ops_api_t *ops = NULL; /* replicate/scale API (ops_api.h): TLS + client CA or nothing */
    if (app.exit_code == 0 && cfg.api_listen && *cfg.api_listen) {
        ops_api_opts_t oo = {.listen = cfg.api_listen, .cert_file = cfg.api_cert, .key_file = cfg.api_key,
                             .ca_file = cfg.api_ca,
                             .cooldown_ms = (uint64_t)(cfg.scale_cooldown_ns / 1000000),
                             .drain_ms = (uint64_t)(cfg.scale_drain_ns / 1000000),
                             .drain = on_drain, .drain_data = app.agent,
                             .nodes_cmd = cfg.scale_nodes_cmd, .nodes_max = (int)cfg.scale_nodes_max};
        ops = ops_api_new(app.loop, dc, &oo, err, sizeof err);
        app.ops = ops;
        if (!ops) {
            log_error("%s", err);
            app.exit_code = 1;
        }
    }
    if (app.exit_code == 0) {
        agent_start(app.agent, on_fatal, &app);
        uv_run(app.loop, UV_RUN_DEFAULT);
    }

    if (status)
        http_server_close(status, NULL, NULL);
    ops_api_free(ops);
    signals_free(sig);
    agent_free(app.agent);
    docker_client_free(dc);
    consul_client_free(cc);
    http_client_free(http);
    for (int i = 0; i < 4; i++)
        uv_run(app.loop, UV_RUN_NOWAIT);
    uv_loop_close(app.loop);
    log_info("stopped");
    return app.exit_code;
}
