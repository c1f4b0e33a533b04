/* client_probe.c: a tiny command-line driver of the lib/ clients, for tests/clients/run.sh to
 * exercise them against a real dockerd and a real Consul-API server (portolan-catalog).
 * One command per run; prints results on stdout, errors on stderr; exit 0 on success, 1 on an
 * error, 2 on usage. Never used in production.
 *
 *   client_probe docker-info
 *   client_probe docker-inspect <id>
 *   client_probe docker-events <event,event,...> <count> [since|-] [label]
 *   client_probe consul <registry-uri> leader|self|services|catalog
 *   client_probe consul <registry-uri> register <service-json>
 *   client_probe consul <registry-uri> deregister <id>
 *   client_probe consul <registry-uri> ttl <check-id> pass|warn|fail [note]
 *   client_probe consul <registry-uri> kv <key>
 *   client_probe consul-watch <registry-uri> <path> <changes> [wait-ms]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "consul_client.h"
#include "consul_watch.h"
#include "docker_client.h"
#include "http_client.h"
#include "log.h"

static int exit_code = 1;
static uv_loop_t *loop;
static int want_changes, changes;
static long want_events;
static docker_events_t *events;

static void print_json(const json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    printf("%s\n", s ? s : "null");
    free(s);
}

static void on_docker(docker_client_t *dc, long status, json_t *json, const char *error, void *data)
{
    const char *what = data;
    if (error) {
        fprintf(stderr, "%s\n", error);
        exit_code = 1;
    } else {
        if (strcmp(what, "info") == 0)
            printf("api=%s name=%s\n", docker_client_api_version(dc),
                   json_string_value(json_object_get(json, "Name")));
        else if (strcmp(what, "inspect") == 0)
            printf("name=%s\n", json_string_value(json_object_get(json, "Name")));
        exit_code = 0;
    }
    uv_stop(loop);
}

static void on_event(docker_events_t *ev, json_t *e, void *data)
{
    char since[64] = "";
    docker_event_since(e, since, sizeof since);
    printf("%s %.12s %s\n", json_string_value(json_object_get(e, "Action")),
           json_string_value(json_object_get(e, "id")) ? json_string_value(json_object_get(e, "id")) : "",
           since);
    fflush(stdout);
    if ((long)docker_events_count(ev) >= want_events) {
        exit_code = 0;
        docker_events_cancel(ev);
        events = NULL;
        uv_stop(loop);
    }
}

static void on_events_end(docker_events_t *ev, const char *error, void *data)
{
    fprintf(stderr, "events ended: %s\n", error ? error : "clean end of stream");
    events = NULL;
    exit_code = 1;
    uv_stop(loop);
}

static void on_consul(consul_client_t *c, const consul_result_t *r, void *data)
{
    if (r->error) {
        fprintf(stderr, "%s\n", r->error);
        exit_code = 1;
    } else {
        if (r->status == 404)
            printf("absent\n");
        else
            print_json(r->json);
        exit_code = 0;
    }
    uv_stop(loop);
}

static void on_change(consul_watch_t *w, json_t *data, uint64_t index, void *ud)
{
    printf("change index=%llu ", (unsigned long long)index);
    print_json(data);
    fflush(stdout);
    if (++changes >= want_changes) {
        exit_code = 0;
        uv_stop(loop);
    }
}

static void on_watch_error(consul_watch_t *w, const char *error, unsigned attempt, uint64_t retry_ms, void *ud)
{
    fprintf(stderr, "watch error (attempt %u, retry in %llu ms): %s\n", attempt, (unsigned long long)retry_ms, error);
}

static int usage(void)
{
    fprintf(stderr, "usage: see the top of tests/clients/client_probe.c\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    log_init("client_probe", LOG_WARN, 0);
    signal(SIGPIPE, SIG_IGN); /* as lib/signals does for the daemons */
    loop = uv_default_loop();
    http_client_t *http = http_client_new(loop);
    docker_client_t *dc = NULL;
    consul_client_t *cc = NULL;
    consul_watch_t *w = NULL;
    char err[512];
    const char *cmd = argv[1];

    if (strncmp(cmd, "docker-", 7) == 0) {
        docker_endpoint_t ep;
        if (docker_endpoint_from_env(NULL, &ep, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        dc = docker_client_new(http, &ep);
        docker_endpoint_clear(&ep);
        if (strcmp(cmd, "docker-info") == 0) {
            docker_client_info(dc, on_docker, "info");
        } else if (strcmp(cmd, "docker-inspect") == 0 && argc == 3) {
            docker_client_inspect(dc, argv[2], on_docker, "inspect");
        } else if (strcmp(cmd, "docker-events") == 0 && argc >= 4) {
            const char *names[16] = {0};
            char *list = strdup(argv[2]);
            int n = 0;
            for (char *tok = strtok(list, ","); tok && n < 15; tok = strtok(NULL, ","))
                names[n++] = tok;
            want_events = atol(argv[3]);
            const char *labels[2] = {argc > 5 ? argv[5] : NULL, NULL};
            docker_events_opts_t o = {.events = names,
                                      .since = (argc > 4 && strcmp(argv[4], "-") != 0) ? argv[4] : NULL,
                                      .labels = labels[0] ? labels : NULL};
            events = docker_client_events(dc, &o, on_event, on_events_end, NULL);
            printf("subscribed\n");
            fflush(stdout);
            uv_run(loop, UV_RUN_DEFAULT);
            if (events)
                docker_events_cancel(events);
            free(list);
            goto out;
        } else {
            return usage();
        }
    } else if (strcmp(cmd, "consul") == 0 && argc >= 4) {
        consul_endpoint_t ep;
        if (consul_endpoint_parse(argv[2], NULL, &ep, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        cc = consul_client_new(http, &ep);
        consul_endpoint_clear(&ep);
        const char *op = argv[3];
        consul_call_t *call = NULL;
        if (strcmp(op, "leader") == 0)
            call = consul_status_leader(cc, on_consul, NULL);
        else if (strcmp(op, "self") == 0)
            call = consul_agent_self(cc, on_consul, NULL);
        else if (strcmp(op, "services") == 0)
            call = consul_agent_services(cc, on_consul, NULL);
        else if (strcmp(op, "catalog") == 0)
            call = consul_catalog_services(cc, on_consul, NULL);
        else if (strcmp(op, "register") == 0 && argc == 5) {
            json_t *svc = json_loads(argv[4], 0, NULL);
            call = svc ? consul_service_register(cc, svc, 0, on_consul, NULL) : NULL;
            json_decref(svc);
        } else if (strcmp(op, "deregister") == 0 && argc == 5)
            call = consul_service_deregister(cc, argv[4], on_consul, NULL);
        else if (strcmp(op, "ttl") == 0 && argc >= 6) {
            consul_check_status_t st = strcmp(argv[5], "pass") == 0 ? CONSUL_CHECK_PASS
                                     : strcmp(argv[5], "warn") == 0 ? CONSUL_CHECK_WARN : CONSUL_CHECK_FAIL;
            call = consul_check_ttl(cc, argv[4], st, argc > 6 ? argv[6] : NULL, on_consul, NULL);
        } else if (strcmp(op, "kv") == 0 && argc == 5)
            call = consul_kv_get(cc, argv[4], on_consul, NULL);
        else
            return usage();
        if (!call) {
            fprintf(stderr, "invalid request\n");
            return 1;
        }
    } else if (strcmp(cmd, "consul-watch") == 0 && argc >= 5) {
        consul_endpoint_t ep;
        if (consul_endpoint_parse(argv[2], NULL, &ep, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        cc = consul_client_new(http, &ep);
        consul_endpoint_clear(&ep);
        consul_watch_opts_t o;
        consul_watch_opts_init(&o, argv[3]);
        want_changes = atoi(argv[4]);
        if (argc > 5)
            o.wait_ms = strtoull(argv[5], NULL, 10);
        w = consul_watch_new(cc, &o, on_change, on_watch_error, NULL);
        if (!w) {
            fprintf(stderr, "invalid watch\n");
            return 1;
        }
        consul_watch_start(w);
    } else {
        return usage();
    }
    uv_run(loop, UV_RUN_DEFAULT);
out:
    consul_watch_free(w);
    consul_client_free(cc);
    docker_client_free(dc);
    http_client_free(http);
    uv_run(loop, UV_RUN_NOWAIT);
    uv_loop_close(loop);
    return exit_code;
}
