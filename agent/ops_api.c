/* ops_api.c: the replicate/scale API's HTTP handlers and the Docker call chains behind them
 * (see ops_api.h for the interface). The decisions (create body, names, membership, counts,
 * order) are agent/replicate.c's; this file only routes requests and sequences Docker calls.
 *
 * An operation (op_t) lives from its request until its last Docker call ends, whether or not its
 * client is still there (op->x is NULL once the client went away). Each op has at most one
 * Docker call in flight (op->call), which ops_api_free cancels. Scale-up clones the oldest
 * member, one container after the other; scale-down stops then removes the newest ones.
 */
#include "ops_api.h"

#include "http_server.h"
#include "log.h"
#include "replicate.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OP_REPLICATE, OP_SCALE } op_kind_t;

typedef struct op {
    ops_api_t *api;
    struct op *prev, *next;
    http_exchange_t *x; /* NULL once the client is gone */
    op_kind_t kind;
    int compat;         /* GET /<id>: answer 200 "done" like the seed's replicator */
    docker_call_t *call;
    char who[300];      /* peer and certificate CN, for log lines */
    char ref[160];      /* replicate: the container asked for */
    char service[256];
    char to[24], by[24];
    int has_to, has_by;
    json_t *list;       /* running containers (summaries) */
    size_t ilist;
    json_t **members;   /* inspect results of the service's running containers */
    size_t nmem, capmem;
    size_t before, target, after, next_victim;
    json_t *template_;  /* inspect result to clone */
    char new_name[160];
    char new_id[80];
} op_t;

struct ops_api {
    uv_loop_t *loop;
    docker_client_t *dc;
    http_server_t *srv;
    op_t *ops;
    int scaling;
    int stop_timeout_s;
};

/* ---------- helpers ---------- */

const char *ops_api_cert_path(const char *flag, const char *file, const char *(*getenv_fn)(const char *), char *buf,
                              size_t len) {
    if (flag && *flag) {
        snprintf(buf, len, "%s", flag);
        return buf;
    }
    const char *(*ge)(const char *) = getenv_fn ? getenv_fn : (const char *(*)(const char *))getenv;
    const char *dir = ge("DOCKER_CERT_PATH");
    if (dir && *dir) {
        snprintf(buf, len, "%s/%s", dir, file);
    } else {
        const char *home = ge("HOME");
        snprintf(buf, len, "%s/.docker/%s", home && *home ? home : ".", file);
    }
    return buf;
}

static void op_free(op_t *op) {
    ops_api_t *api = op->api;
    if (op->prev) op->prev->next = op->next;
    else api->ops = op->next;
    if (op->next) op->next->prev = op->prev;
    if (op->kind == OP_SCALE) api->scaling = 0;
    if (op->x) http_exchange_on_abort(op->x, NULL, NULL);
    json_decref(op->list);
    for (size_t i = 0; i < op->nmem; i++) json_decref(op->members[i]);
    free(op->members);
    json_decref(op->template_);
    free(op);
}

static void on_client_gone(http_exchange_t *x, void *data) {
    (void)x;
    op_t *op = data;
    op->x = NULL;
    log_info("ops api: %s went away; the operation goes on", op->who);
}

static void reply_text(http_exchange_t *x, int status, const char *msg) {
    if (!x) return;
    char body[600];
    int n = snprintf(body, sizeof body, "%s\n", msg);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof body) n = sizeof body - 1;
    http_exchange_add_header(x, "Content-Type", "text/plain; charset=utf-8");
    http_exchange_respond(x, status, body, (size_t)n);
}

static void reply_json(http_exchange_t *x, int status, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!x) {
        free(s);
        return;
    }
    if (!s) {
        reply_text(x, 500, "out of memory");
        return;
    }
    size_t n = strlen(s);
    char *body = realloc(s, n + 2);
    if (body) {
        body[n++] = '\n';
        body[n] = '\0';
        s = body;
    }
    http_exchange_add_header(x, "Content-Type", "application/json");
    http_exchange_respond(x, status, s, n);
    free(s);
}

/* Ends the op with an answer (when the client is still there). */
static void op_finish_text(op_t *op, int status, const char *msg) {
    if (status >= 400) log_warn("ops api: %s: %d %s", op->who, status, msg);
    if (op->x) {
        http_exchange_on_abort(op->x, NULL, NULL);
        reply_text(op->x, status, msg);
        op->x = NULL;
    }
    op_free(op);
}

static void op_finish_json(op_t *op, int status, json_t *j) {
    if (op->x) {
        http_exchange_on_abort(op->x, NULL, NULL);
        reply_json(op->x, status, j);
        op->x = NULL;
    } else {
        json_decref(j);
    }
    op_free(op);
}

static void random_suffix(char out[9]) {
    unsigned char r[4];
    if (RAND_bytes(r, sizeof r) != 1) {
        uint64_t t = uv_hrtime();
        memcpy(r, &t, sizeof r);
    }
    snprintf(out, 9, "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
}

/* ---------- cloning: create -> start (shared by replicate and scale-up) ---------- */

static void clone_next(op_t *op);
static void scale_answer(op_t *op, const char *error);

static void clone_done(op_t *op, const char *error) {
    if (op->kind == OP_REPLICATE) {
        if (error) {
            op_finish_text(op, 502, error);
            return;
        }
        log_info("ops api: %s: replicated %s as %s (%.12s)", op->who, op->ref, op->new_name, op->new_id);
        if (op->compat) {
            op_finish_text(op, 200, "done");
            return;
        }
        op_finish_json(op, 201, json_pack("{s:s,s:s}", "Id", op->new_id, "Name", op->new_name));
        return;
    }
    if (error) {
        scale_answer(op, error);
        return;
    }
    op->after++;
    log_info("ops api: %s: scale %s: started %s (%.12s), %zu running", op->who, op->service, op->new_name, op->new_id,
             op->after);
    clone_next(op);
}

static void on_clone_removed(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc, (void)status, (void)json;
    op_t *op = data;
    op->call = NULL;
    if (error) log_warn("ops api: removing the clone that did not start: %s", error);
    clone_done(op, "the clone was created but did not start (removed again); see the agent log");
}

static void on_clone_started(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)status, (void)json;
    op_t *op = data;
    op->call = NULL;
    if (error) {
        log_warn("ops api: %s: start %s: %s", op->who, op->new_name, error);
        op->call = docker_client_remove(dc, op->new_id, 1, on_clone_removed, op);
        if (!op->call) clone_done(op, "out of memory");
        return;
    }
    clone_done(op, NULL);
}

static void on_clone_created(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)status;
    op_t *op = data;
    op->call = NULL;
    if (error) {
        clone_done(op, error);
        return;
    }
    const char *id = json_string_value(json_object_get(json, "Id"));
    if (!id || !replicate_valid_ref(id)) {
        clone_done(op, "docker: create answered without a valid Id");
        return;
    }
    snprintf(op->new_id, sizeof op->new_id, "%s", id);
    op->call = docker_client_start(dc, op->new_id, on_clone_started, op);
    if (!op->call) clone_done(op, "out of memory");
}

/* Creates and starts one sibling of op->template_. */
static void clone_one(op_t *op) {
    char suffix[9], err[256];
    random_suffix(suffix);
    json_t *body = replicate_create_body(op->template_, suffix, op->new_name, sizeof op->new_name, err, sizeof err);
    if (!body) {
        clone_done(op, err);
        return;
    }
    op->call = docker_client_create(op->api->dc, op->new_name, body, on_clone_created, op);
    json_decref(body);
    if (!op->call) clone_done(op, "out of memory");
}

/* ---------- replicate ---------- */

static void on_rep_inspect(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc;
    op_t *op = data;
    op->call = NULL;
    if (status == 404) {
        op_finish_text(op, 404, "invalid container id");
        return;
    }
    if (error) {
        op_finish_text(op, 502, error);
        return;
    }
    op->template_ = json_incref(json);
    clone_one(op);
}

/* ---------- scale ---------- */

static void scale_answer(op_t *op, const char *error) {
    if (error) log_warn("ops api: %s: scale %s stopped at %zu of %zu: %s", op->who, op->service, op->after, op->target,
                        error);
    else log_info("ops api: %s: scaled %s from %zu to %zu", op->who, op->service, op->before, op->after);
    json_t *j = json_pack("{s:s,s:I,s:I}", "service", op->service, "before", (json_int_t)op->before, "after",
                          (json_int_t)op->after);
    if (j && error) json_object_set_new(j, "error", json_string(error));
    op_finish_json(op, error ? 502 : 200, j);
}

static void clone_next(op_t *op) {
    if (op->after >= op->target) {
        scale_answer(op, NULL);
        return;
    }
    clone_one(op);
}

static void remove_next(op_t *op);

static void on_victim_removed(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc, (void)status, (void)json;
    op_t *op = data;
    op->call = NULL;
    if (error) {
        scale_answer(op, error);
        return;
    }
    remove_next(op);
}

static void on_victim_stopped(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)status, (void)json;
    op_t *op = data;
    op->call = NULL;
    if (error) {
        scale_answer(op, error);
        return;
    }
    op->after--; /* not running any more, whatever the removal does */
    const char *id = json_string_value(json_object_get(op->members[op->next_victim], "Id"));
    op->call = docker_client_remove(dc, id, 1, on_victim_removed, op);
    if (!op->call) scale_answer(op, "out of memory");
}

static void remove_next(op_t *op) {
    if (op->after <= op->target || op->next_victim == 0) {
        scale_answer(op, NULL);
        return;
    }
    op->next_victim--;
    json_t *m = op->members[op->next_victim];
    const char *id = json_string_value(json_object_get(m, "Id"));
    const char *name = json_string_value(json_object_get(m, "Name"));
    if (!id) {
        scale_answer(op, "a member has no Id");
        return;
    }
    log_info("ops api: %s: scale %s: stopping %s (%.12s)", op->who, op->service, name ? name : "?", id);
    op->call = docker_client_stop(op->api->dc, id, op->api->stop_timeout_s, on_victim_stopped, op);
    if (!op->call) scale_answer(op, "out of memory");
}

static void scale_decide(op_t *op) {
    op->before = op->after = op->nmem;
    if (op->nmem == 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "no running container has SERVICE_NAME=%s", op->service);
        op_finish_text(op, 404, msg);
        return;
    }
    char err[256];
    if (replicate_parse_scale(op->has_to ? op->to : NULL, op->has_by ? op->by : NULL, op->nmem, &op->target, err,
                              sizeof err) < 0) {
        op_finish_text(op, 400, err);
        return;
    }
    replicate_sort_by_created(op->members, op->nmem);
    if (op->target > op->nmem) {
        op->template_ = json_incref(op->members[0]); /* the oldest: usually the original */
        clone_next(op);
    } else {
        op->next_victim = op->nmem;
        remove_next(op);
    }
}

static void scale_inspect_next(op_t *op);

static void on_scale_inspect(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc;
    op_t *op = data;
    op->call = NULL;
    if (error && status != 404) { /* 404: it went away meanwhile; not a member */
        op_finish_text(op, 502, error);
        return;
    }
    if (!error && json_is_true(json_object_get(json_object_get(json, "State"), "Running")) &&
        replicate_service_matches(json, op->service)) {
        if (op->nmem == op->capmem) {
            size_t nc = op->capmem ? op->capmem * 2 : 8;
            json_t **nm = realloc(op->members, nc * sizeof *nm);
            if (!nm) {
                op_finish_text(op, 500, "out of memory");
                return;
            }
            op->members = nm;
            op->capmem = nc;
        }
        op->members[op->nmem++] = json_incref(json);
    }
    scale_inspect_next(op);
}

static void scale_inspect_next(op_t *op) {
    while (op->ilist < json_array_size(op->list)) {
        json_t *c = json_array_get(op->list, op->ilist++);
        const char *id = json_string_value(json_object_get(c, "Id"));
        if (!id || !replicate_valid_ref(id)) continue;
        /* a SERVICE_NAME label decides without an inspect (the label beats the env) */
        const char *label = json_string_value(json_object_get(json_object_get(c, "Labels"), "SERVICE_NAME"));
        if (label && strcmp(label, op->service) != 0) continue;
        op->call = docker_client_inspect(op->api->dc, id, on_scale_inspect, op);
        if (!op->call) op_finish_text(op, 500, "out of memory");
        return;
    }
    scale_decide(op);
}

static void on_scale_list(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc, (void)status;
    op_t *op = data;
    op->call = NULL;
    if (error || !json_is_array(json)) {
        op_finish_text(op, 502, error ? error : "docker: container list is not an array");
        return;
    }
    op->list = json_incref(json);
    scale_inspect_next(op);
}

/* ---------- routing ---------- */

static op_t *op_new(ops_api_t *api, http_exchange_t *x, op_kind_t kind) {
    op_t *op = calloc(1, sizeof *op);
    if (!op) return NULL;
    op->api = api;
    op->x = x;
    op->kind = kind;
    const char *cn = http_exchange_peer_cn(x);
    snprintf(op->who, sizeof op->who, "%s (CN=%s)", http_exchange_peer(x), cn ? cn : "-");
    op->next = api->ops;
    if (api->ops) api->ops->prev = op;
    api->ops = op;
    http_exchange_on_abort(x, on_client_gone, op);
    return op;
}

static void start_replicate(ops_api_t *api, http_exchange_t *x, const char *ref, int compat) {
    if (!*ref) {
        reply_text(x, 400, "container id missing");
        return;
    }
    if (!replicate_valid_ref(ref)) {
        reply_text(x, 400, "invalid container reference: use a container ID or name ([A-Za-z0-9_.-], at most 128)");
        return;
    }
    op_t *op = op_new(api, x, OP_REPLICATE);
    if (!op) {
        reply_text(x, 500, "out of memory");
        return;
    }
    op->compat = compat;
    snprintf(op->ref, sizeof op->ref, "%s", ref);
    log_info("ops api: %s: replicate %s", op->who, ref);
    op->call = docker_client_inspect(api->dc, ref, on_rep_inspect, op);
    if (!op->call) op_finish_text(op, 500, "out of memory");
}

static void start_scale(ops_api_t *api, http_exchange_t *x, const char *service) {
    if (!replicate_valid_service(service)) {
        reply_text(x, 400, "invalid service name: use [A-Za-z0-9_.-], 1 to 255 characters");
        return;
    }
    const char *to = http_exchange_query(x, "to"), *by = http_exchange_query(x, "by");
    char err[256];
    size_t dummy;
    /* syntax and range checks before Docker is asked anything; the ones that depend on the
     * running count (at least one stays, at most 100 changes) follow once it is known */
    int bad = (to && strlen(to) >= sizeof ((op_t *)0)->to) || (by && strlen(by) >= sizeof ((op_t *)0)->by);
    if (bad) snprintf(err, sizeof err, "to/by value too long");
    else if (!to || !by) {
        if (to) bad = replicate_parse_scale(to, NULL, 1, &dummy, err, sizeof err) < 0;
        else bad = replicate_parse_scale(NULL, by, REPLICATE_MAX_STEP + 1, &dummy, err, sizeof err) < 0;
    } else bad = replicate_parse_scale(to, by, 1, &dummy, err, sizeof err) < 0; /* both: refused */
    if (bad) {
        reply_text(x, 400, err);
        return;
    }
    if (api->scaling) {
        reply_text(x, 409, "another scale operation is running; retry when it has finished");
        return;
    }
    op_t *op = op_new(api, x, OP_SCALE);
    if (!op) {
        reply_text(x, 500, "out of memory");
        return;
    }
    api->scaling = 1;
    snprintf(op->service, sizeof op->service, "%s", service);
    if (to) {
        op->has_to = 1;
        snprintf(op->to, sizeof op->to, "%s", to);
    }
    if (by) {
        op->has_by = 1;
        snprintf(op->by, sizeof op->by, "%s", by);
    }
    log_info("ops api: %s: scale %s %s%s", op->who, service, to ? "to=" : "by=", to ? to : by);
    json_t *filters = json_pack("{s:[s]}", "status", "running");
    op->call = filters ? docker_client_containers(api->dc, 0, filters, on_scale_list, op) : NULL;
    json_decref(filters);
    if (!op->call) op_finish_text(op, 500, "out of memory");
}

static void on_request(http_exchange_t *x, void *data) {
    ops_api_t *api = data;
    const char *m = http_exchange_method(x);
    const char *path = http_exchange_path(x);
    int post = strcmp(m, "POST") == 0;
    if (strncmp(path, "/v1/replicate", 13) == 0 && (path[13] == '\0' || path[13] == '/')) {
        if (!post) {
            http_exchange_add_header(x, "Allow", "POST");
            reply_text(x, 405, "use POST");
            return;
        }
        start_replicate(api, x, path[13] ? path + 14 : "", 0);
        return;
    }
    if (strncmp(path, "/v1/scale", 9) == 0 && (path[9] == '\0' || path[9] == '/')) {
        if (!post) {
            http_exchange_add_header(x, "Allow", "POST");
            reply_text(x, 405, "use POST");
            return;
        }
        start_scale(api, x, path[9] ? path + 10 : "");
        return;
    }
    /* the seed replicator's interface: GET /<container id> */
    if (strcmp(m, "GET") == 0 && path[0] == '/' && !strchr(path + 1, '/') && strncmp(path, "/v1", 4) != 0) {
        start_replicate(api, x, path + 1, 1);
        return;
    }
    reply_text(x, 404, "not found: POST /v1/replicate/<container>, POST /v1/scale/<service>?to=N|by=+N|-N");
}

/* ---------- life cycle ---------- */

ops_api_t *ops_api_new(uv_loop_t *loop, docker_client_t *dc, const ops_api_opts_t *o, char *err, size_t errlen) {
    if (!loop || !dc || !o || !o->listen || !*o->listen) {
        snprintf(err, errlen, "ops api: no listen address");
        return NULL;
    }
    char cert[1024], key[1024], ca[1024];
    ops_api_cert_path(o->cert_file, "cert.pem", NULL, cert, sizeof cert);
    ops_api_cert_path(o->key_file, "key.pem", NULL, key, sizeof key);
    ops_api_cert_path(o->ca_file, "ca.pem", NULL, ca, sizeof ca);
    ops_api_t *api = calloc(1, sizeof *api);
    if (!api) {
        snprintf(err, errlen, "ops api: out of memory");
        return NULL;
    }
    api->loop = loop;
    api->dc = dc;
    api->stop_timeout_s = o->stop_timeout_s > 0 ? o->stop_timeout_s : -1;
    http_server_opts_t so = {.max_body = 64 * 1024, .max_conns_per_ip = 32, .server_name = "portolan-agent"};
    api->srv = http_server_new(loop, &so, on_request, api);
    char e2[600];
    if (!api->srv) {
        snprintf(err, errlen, "ops api: out of memory");
        free(api);
        return NULL;
    }
    /* fail closed: the client CA is not optional here */
    if (http_server_set_tls(api->srv, cert, key, ca, e2, sizeof e2) != 0 ||
        http_server_listen(api->srv, o->listen, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "-api-listen %s: %s (-api-cert %s, -api-key %s, -api-ca %s)", o->listen, e2, cert, key,
                 ca);
        http_server_close(api->srv, NULL, NULL);
        free(api);
        return NULL;
    }
    log_info("replicate/scale API on https://%s (client certificates signed by %s required)", o->listen, ca);
    return api;
}

int ops_api_port(const ops_api_t *api) { return api ? http_server_port(api->srv) : -1; }

void ops_api_free(ops_api_t *api) {
    if (!api) return;
    while (api->ops) {
        op_t *op = api->ops;
        if (op->call) docker_call_cancel(op->call);
        op->call = NULL;
        op_free(op); /* clears the abort callback; the server's close aborts the exchange */
    }
    http_server_close(api->srv, NULL, NULL);
    free(api);
}
