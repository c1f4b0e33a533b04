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

#include "ops_api_int.h"

#include "http_server.h"
#include "log.h"
#include "prom.h"
#include "replicate.h"
#include "scale_nodes.h"
#include "scaling.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const act_names[ACT_N] = {"replicate", "scale", "scale-service", "scale-nodes"};
static const char *const res_names[RES_N] = {"ok", "refused", "failed"};

static void count(ops_api_t *api, int act, int status) {
    api->counts[act][status < 300 ? RES_OK : status < 500 ? RES_REFUSED : RES_FAILED]++;
}

static int op_act(const op_t *op) {
    return op->kind == OP_REPLICATE ? ACT_REPLICATE : op->kind == OP_NODES ? ACT_SCALE_NODES
           : op->svc                ? ACT_SCALE_SERVICE
                                    : ACT_SCALE;
}

static uint64_t cool_last(const ops_api_t *api, const char *service) {
    for (int i = 0; i < COOL_SLOTS; i++)
        if (api->cool[i].last_ms && !strcmp(api->cool[i].service, service)) return api->cool[i].last_ms;
    return 0;
}

void ops_cool_mark(ops_api_t *api, const char *service) {
    int slot = 0;
    for (int i = 0; i < COOL_SLOTS; i++) {
        if (api->cool[i].last_ms && !strcmp(api->cool[i].service, service)) {
            slot = i;
            break;
        }
        if (api->cool[i].last_ms < api->cool[slot].last_ms) slot = i; /* the oldest (or a free one) */
    }
    snprintf(api->cool[slot].service, sizeof api->cool[slot].service, "%s", service);
    api->cool[slot].last_ms = uv_now(api->loop) ? uv_now(api->loop) : 1;
}

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
    json_decref(op->services);
    json_decref(op->rescheduled);
    free(op->victims);
    free(op->output);
    if (op->drain_timer) {
        uv_timer_stop(op->drain_timer);
        uv_close((uv_handle_t *)op->drain_timer, (uv_close_cb)free);
    }
    free(op);
}

static void on_client_gone(http_exchange_t *x, void *data) {
    (void)x;
    op_t *op = data;
    op->x = NULL;
    log_info("ops api: %s went away; the operation goes on", op->who);
}

/* The seed replicator's CORS headers (its nginx added them), so a page of the service can call
 * the API from a browser; POST for the /v1 endpoints. */
static void cors(http_exchange_t *x) {
    http_exchange_add_header(x, "Access-Control-Allow-Origin", "*");
    http_exchange_add_header(x, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    http_exchange_add_header(x, "Access-Control-Allow-Headers", "Content-Type, Accept");
}

static void reply_text(http_exchange_t *x, int status, const char *msg) {
    if (!x) return;
    cors(x);
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
    cors(x);
    http_exchange_add_header(x, "Content-Type", "application/json");
    http_exchange_respond(x, status, s, n);
    free(s);
}

/* Ends the op with an answer (when the client is still there). */
void ops_finish_text(op_t *op, int status, const char *msg) {
    count(op->api, op_act(op), status);
    if (status >= 400) log_warn("ops api: %s: %d %s", op->who, status, msg);
    if (op->x) {
        http_exchange_on_abort(op->x, NULL, NULL);
        reply_text(op->x, status, msg);
        op->x = NULL;
    }
    op_free(op);
}

void ops_finish_json(op_t *op, int status, json_t *j) {
    count(op->api, op_act(op), status);
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

static void clone_done(op_t *op, const char *error) {
    if (op->kind == OP_REPLICATE) {
        if (error) {
            ops_finish_text(op, 502, error);
            return;
        }
        log_info("ops api: %s: replicated %s as %s (%.12s)", op->who, op->ref, op->new_name, op->new_id);
        if (op->compat == 1) {
            ops_finish_text(op, 200, "done");
            return;
        }
        if (op->compat == 2) { /* GET /<id> with Accept: application/json */
            ops_finish_json(op, 200, json_pack("{s:s,s:s}", "Id", op->new_id, "Name", op->new_name));
            return;
        }
        ops_finish_json(op, 201, json_pack("{s:s,s:s}", "Id", op->new_id, "Name", op->new_name));
        return;
    }
    if (error) {
        ops_scale_answer(op, error);
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
        ops_finish_text(op, 404, "invalid container id");
        return;
    }
    if (error) {
        ops_finish_text(op, 502, error);
        return;
    }
    op->template_ = json_incref(json);
    clone_one(op);
}

/* ---------- scale (standalone: containers of one engine) ---------- */

void ops_scale_answer(op_t *op, const char *error) {
    if (error) log_warn("ops api: %s: scale %s stopped at %zu of %zu: %s", op->who, op->service, op->after, op->target,
                        error);
    else log_info("ops api: %s: scaled %s from %zu to %zu", op->who, op->service, op->before, op->after);
    if (op->svc) ops_cool_mark(op->api, op->service); /* the cooldown runs from the end of an action */
    json_t *j = json_pack("{s:s,s:I,s:I}", "service", op->service, "before", (json_int_t)op->before, "after",
                          (json_int_t)op->after);
    if (j && op->svc) json_object_set_new(j, "mode", json_string(op->swarm ? "swarm" : "standalone"));
    if (j && error) json_object_set_new(j, "error", json_string(error));
    ops_finish_json(op, error ? 502 : 200, j);
}

static void clone_next(op_t *op) {
    if (op->after >= op->target) {
        ops_scale_answer(op, NULL);
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
        ops_scale_answer(op, error);
        return;
    }
    remove_next(op);
}

static void on_victim_stopped(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)status, (void)json;
    op_t *op = data;
    op->call = NULL;
    if (error) {
        ops_scale_answer(op, error);
        return;
    }
    op->after--; /* not running any more, whatever the removal does */
    const char *id = json_string_value(json_object_get(op->members[op->victims[op->ivict - 1]], "Id"));
    op->call = docker_client_remove(dc, id, 1, on_victim_removed, op);
    if (!op->call) ops_scale_answer(op, "out of memory");
}

static void victim_stop(op_t *op) {
    const char *id = json_string_value(json_object_get(op->members[op->victims[op->ivict - 1]], "Id"));
    op->call = docker_client_stop(op->api->dc, id, op->api->stop_timeout_s, on_victim_stopped, op);
    if (!op->call) ops_scale_answer(op, "out of memory");
}

static void on_drained(uv_timer_t *t) {
    op_t *op = t->data;
    victim_stop(op);
}

/* Removes the next victim: drain (its services leave Consul, the router follows within
 * -scale-drain), then stop, then remove. */
static void remove_next(op_t *op) {
    if (op->after <= op->target || op->ivict >= op->nvict) {
        ops_scale_answer(op, NULL);
        return;
    }
    json_t *m = op->members[op->victims[op->ivict++]];
    const char *id = json_string_value(json_object_get(m, "Id"));
    const char *name = json_string_value(json_object_get(m, "Name"));
    if (!id) {
        ops_scale_answer(op, "a member has no Id");
        return;
    }
    log_info("ops api: %s: scale %s: stopping %s (%.12s) after draining", op->who, op->service, name ? name : "?", id);
    if (op->api->drain && op->api->drain_ms) {
        op->api->drain(op->api->drain_data, id);
        if (!op->drain_timer) {
            op->drain_timer = malloc(sizeof *op->drain_timer);
            if (!op->drain_timer) {
                ops_scale_answer(op, "out of memory");
                return;
            }
            uv_timer_init(op->api->loop, op->drain_timer);
            op->drain_timer->data = op;
        }
        uv_timer_start(op->drain_timer, on_drained, op->api->drain_ms, 0);
        return;
    }
    victim_stop(op);
}

/* Bounds (from the labels) and, for scale-service, the cooldown. 0 when the op goes on. */
int ops_scale_check(op_t *op, const json_t *labels, long current, long delta, long *target) {
    long lo, hi;
    char err[300];
    if (scaling_bounds(labels, &lo, &hi, err, sizeof err) < 0) {
        ops_finish_text(op, 409, err);
        return -1;
    }
    uint64_t now = uv_now(op->api->loop), retry = 0;
    uint64_t last = op->svc ? cool_last(op->api, op->service) : 0;
    scaling_verdict_t v = scaling_decide(current, delta, lo, hi, last, now, op->api->cooldown_ms, target, &retry, err,
                                         sizeof err);
    if (v == SCALING_OK) return 0;
    if (v == SCALING_COOLDOWN && op->x) {
        char ra[24];
        snprintf(ra, sizeof ra, "%llu", (unsigned long long)((retry + 999) / 1000));
        http_exchange_add_header(op->x, "Retry-After", ra);
    }
    char msg[600];
    snprintf(msg, sizeof msg, "scale %s: %s (bounds %ld..%ld)", op->service, err, lo, hi);
    ops_finish_text(op, v == SCALING_COOLDOWN ? 429 : 409, msg);
    return -1;
}

static void scale_decide(op_t *op) {
    op->before = op->after = op->nmem;
    if (op->nmem == 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "no running container has SERVICE_NAME=%s", op->service);
        ops_finish_text(op, 404, msg);
        return;
    }
    char err[256];
    long target;
    replicate_sort_by_created(op->members, op->nmem);
    const json_t *labels = json_object_get(json_object_get(op->members[0], "Config"), "Labels");
    if (op->svc) {
        if (ops_scale_check(op, labels, (long)op->nmem, op->delta, &target) < 0) return;
        op->target = (size_t)target;
        ops_cool_mark(op->api, op->service);
    } else {
        if (replicate_parse_scale(op->has_to ? op->to : NULL, op->has_by ? op->by : NULL, op->nmem, &op->target, err,
                                  sizeof err) < 0) {
            ops_finish_text(op, 400, err);
            return;
        }
        if (ops_scale_check(op, labels, (long)op->nmem, (long)op->target - (long)op->nmem, &target) < 0) return;
    }
    if (op->target > op->nmem) {
        op->template_ = json_incref(op->members[0]); /* the oldest: usually the original */
        clone_next(op);
    } else {
        size_t want = op->nmem - op->target;
        op->victims = calloc(want ? want : 1, sizeof *op->victims);
        if (!op->victims) {
            ops_finish_text(op, 500, "out of memory");
            return;
        }
        op->nvict = scaling_pick_victims(op->members, op->nmem, want, op->victims);
        remove_next(op);
    }
}

static void scale_inspect_next(op_t *op);

static void on_scale_inspect(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc;
    op_t *op = data;
    op->call = NULL;
    if (error && status != 404) { /* 404: it went away meanwhile; not a member */
        ops_finish_text(op, 502, error);
        return;
    }
    if (!error && json_is_true(json_object_get(json_object_get(json, "State"), "Running")) &&
        replicate_service_matches(json, op->service)) {
        if (op->nmem == op->capmem) {
            size_t nc = op->capmem ? op->capmem * 2 : 8;
            json_t **nm = realloc(op->members, nc * sizeof *nm);
            if (!nm) {
                ops_finish_text(op, 500, "out of memory");
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
        /* swarm tasks are the swarm's to scale */
        if (json_object_get(json_object_get(c, "Labels"), "com.docker.swarm.service.id")) continue;
        op->call = docker_client_inspect(op->api->dc, id, on_scale_inspect, op);
        if (!op->call) ops_finish_text(op, 500, "out of memory");
        return;
    }
    scale_decide(op);
}

static void on_scale_list(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc, (void)status;
    op_t *op = data;
    op->call = NULL;
    if (error || !json_is_array(json)) {
        ops_finish_text(op, 502, error ? error : "docker: container list is not an array");
        return;
    }
    op->list = json_incref(json);
    scale_inspect_next(op);
}

void ops_scale_standalone(op_t *op) {
    json_t *filters = json_pack("{s:[s]}", "status", "running");
    op->call = filters ? docker_client_containers(op->api->dc, 0, filters, on_scale_list, op) : NULL;
    json_decref(filters);
    if (!op->call) ops_finish_text(op, 500, "out of memory");
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

/* An answer before any operation began (bad input, busy, off): logged and counted. */
static void refuse(ops_api_t *api, http_exchange_t *x, int act, int status, const char *msg) {
    count(api, act, status);
    if (status >= 400) {
        const char *cn = http_exchange_peer_cn(x);
        log_warn("ops api: %s (CN=%s): %s: %d %s", http_exchange_peer(x), cn ? cn : "-", act_names[act], status, msg);
    }
    reply_text(x, status, msg);
}

static int wants_json(http_exchange_t *x) {
    const char *a = http_exchange_header(x, "Accept");
    return a && strstr(a, "application/json") != NULL;
}

static void start_replicate(ops_api_t *api, http_exchange_t *x, const char *ref, int compat) {
    if (!*ref) {
        refuse(api, x, ACT_REPLICATE, 400, "container id missing");
        return;
    }
    if (!replicate_valid_ref(ref)) {
        if (compat) refuse(api, x, ACT_REPLICATE, 404, "invalid container id"); /* the seed's answer */
        else
            refuse(api, x, ACT_REPLICATE, 400,
                   "invalid container reference: use a container ID or name ([A-Za-z0-9_.-], at most 128)");
        return;
    }
    op_t *op = op_new(api, x, OP_REPLICATE);
    if (!op) {
        refuse(api, x, ACT_REPLICATE, 500, "out of memory");
        return;
    }
    op->compat = compat ? (wants_json(x) ? 2 : 1) : 0;
    snprintf(op->ref, sizeof op->ref, "%s", ref);
    log_info("ops api: %s: replicate %s", op->who, ref);
    op->call = docker_client_inspect(api->dc, ref, on_rep_inspect, op);
    if (!op->call) ops_finish_text(op, 500, "out of memory");
}

static void start_scale(ops_api_t *api, http_exchange_t *x, const char *service) {
    if (!replicate_valid_service(service)) {
        refuse(api, x, ACT_SCALE, 400, "invalid service name: use [A-Za-z0-9_.-], 1 to 255 characters "
                                       "(names with '/': POST /v1/scale-service?service=<url-encoded name>)");
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
        refuse(api, x, ACT_SCALE, 400, err);
        return;
    }
    if (api->scaling) {
        refuse(api, x, ACT_SCALE, 409, "another scale operation is running; retry when it has finished");
        return;
    }
    op_t *op = op_new(api, x, OP_SCALE);
    if (!op) {
        refuse(api, x, ACT_SCALE, 500, "out of memory");
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
    ops_scale_standalone(op);
}

/* POST /v1/scale-service?service=<name>&by=<n>, or an Alertmanager webhook body. */
static void start_scale_service(ops_api_t *api, http_exchange_t *x) {
    size_t blen = 0;
    const char *body = http_exchange_body(x, &blen);
    scaling_request_t rq;
    char err[300];
    if (scaling_parse_service_request(http_exchange_query(x, "service"), http_exchange_query(x, "by"), body, blen,
                                      &rq, err, sizeof err) < 0) {
        refuse(api, x, ACT_SCALE_SERVICE, 400, err);
        return;
    }
    if (rq.resolved) {
        log_info("ops api: scale-service %s: resolved alert, nothing to do", rq.service);
        count(api, ACT_SCALE_SERVICE, 200);
        reply_json(x, 200, json_pack("{s:s,s:s}", "service", rq.service, "ignored", "resolved alert"));
        return;
    }
    uint64_t last = cool_last(api, rq.service), now = uv_now(api->loop);
    if (last && now < last + api->cooldown_ms) { /* before Docker is asked anything */
        char msg[400], ra[24];
        uint64_t left = last + api->cooldown_ms - now;
        snprintf(ra, sizeof ra, "%llu", (unsigned long long)((left + 999) / 1000));
        http_exchange_add_header(x, "Retry-After", ra);
        snprintf(msg, sizeof msg, "scale %s: in cooldown: the last scale action was %llu ms ago, retry in %llu ms",
                 rq.service, (unsigned long long)(now - last), (unsigned long long)left);
        refuse(api, x, ACT_SCALE_SERVICE, 429, msg);
        return;
    }
    if (api->scaling) {
        refuse(api, x, ACT_SCALE_SERVICE, 409, "another scale operation is running; retry when it has finished");
        return;
    }
    op_t *op = op_new(api, x, OP_SCALE);
    if (!op) {
        refuse(api, x, ACT_SCALE_SERVICE, 500, "out of memory");
        return;
    }
    api->scaling = 1;
    op->svc = 1;
    op->delta = rq.delta;
    snprintf(op->service, sizeof op->service, "%s", rq.service);
    log_info("ops api: %s: scale-service %s by %+ld", op->who, op->service, op->delta);
    op->call = docker_client_info(api->dc, ops_swarm_on_info, op);
    if (!op->call) ops_finish_text(op, 500, "out of memory");
}

/* POST /v1/scale-nodes?by=<n>&type=worker|manager (+ an optional webhook body). */
static void start_scale_nodes(ops_api_t *api, http_exchange_t *x) {
    if (!api->nodes) {
        refuse(api, x, ACT_SCALE_NODES, 501, "scale-nodes is off: start the agent with -scale-nodes-cmd");
        return;
    }
    size_t blen = 0;
    const char *body = http_exchange_body(x, &blen);
    scaling_request_t rq;
    char err[300];
    if (scaling_parse_nodes_request(http_exchange_query(x, "by"), http_exchange_query(x, "type"), body, blen, &rq, err,
                                    sizeof err) < 0) {
        refuse(api, x, ACT_SCALE_NODES, 400, err);
        return;
    }
    if (rq.resolved) {
        count(api, ACT_SCALE_NODES, 200);
        reply_json(x, 200, json_pack("{s:s}", "ignored", "resolved alert"));
        return;
    }
    op_t *op = op_new(api, x, OP_NODES);
    if (!op) {
        refuse(api, x, ACT_SCALE_NODES, 500, "out of memory");
        return;
    }
    op->delta = rq.delta;
    snprintf(op->type, sizeof op->type, "%s", rq.type);
    log_info("ops api: %s: scale-nodes %+ld %s", op->who, op->delta, op->type);
    if (scale_nodes_start(api->nodes, op->delta > 0 ? "up" : "down", op->delta > 0 ? op->delta : -op->delta, op->type,
                          ops_nodes_on_done, op, err, sizeof err) < 0) {
        ops_finish_text(op, strstr(err, "already running") ? 409 : 500, err);
        return;
    }
}

static void method_not_allowed(http_exchange_t *x) {
    http_exchange_add_header(x, "Allow", "POST, OPTIONS");
    reply_text(x, 405, "use POST");
}

static void on_request(http_exchange_t *x, void *data) {
    ops_api_t *api = data;
    const char *m = http_exchange_method(x);
    const char *path = http_exchange_path(x);
    int post = strcmp(m, "POST") == 0;
    if (strcmp(m, "OPTIONS") == 0) { /* CORS preflight */
        cors(x);
        http_exchange_add_header(x, "Access-Control-Max-Age", "600");
        http_exchange_respond(x, 204, "", 0);
        return;
    }
    if (strcmp(path, "/v1/scale-service") == 0) {
        if (!post) method_not_allowed(x);
        else start_scale_service(api, x);
        return;
    }
    if (strcmp(path, "/v1/scale-nodes") == 0) {
        if (!post) method_not_allowed(x);
        else start_scale_nodes(api, x);
        return;
    }
    if (strncmp(path, "/v1/replicate", 13) == 0 && (path[13] == '\0' || path[13] == '/')) {
        if (!post) {
            method_not_allowed(x);
            return;
        }
        start_replicate(api, x, path[13] ? path + 14 : "", 0);
        return;
    }
    if (strncmp(path, "/v1/scale", 9) == 0 && (path[9] == '\0' || path[9] == '/')) {
        if (!post) {
            method_not_allowed(x);
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
    reply_text(x, 404, "not found: POST /v1/replicate/<container>, POST /v1/scale/<service>?to=N|by=+N|-N, "
                       "POST /v1/scale-service?service=<name>&by=N, POST /v1/scale-nodes?by=N&type=worker|manager");
}

/* ---------- metrics ---------- */

char *ops_api_metrics(const ops_api_t *api, size_t *len) {
    if (!api || !len) return NULL;
    prom_t *p = prom_new("portolan_agent_");
    if (!p) return NULL;
    prom_family(p, "scale_actions_total", "counter",
                "Replicate/scale API actions, by action and outcome (refused: 4xx, e.g. a bound or the "
                "cooldown; failed: 5xx).");
    for (int a = 0; a < ACT_N; a++)
        for (int r = 0; r < RES_N; r++) {
            const char *labels[] = {"action", act_names[a], "result", res_names[r], NULL};
            prom_sample_u64_labels(p, "scale_actions_total", labels, api->counts[a][r]);
        }
    prom_gauge(p, "scale_nodes_running", "Node commands running now.", (uint64_t)scale_nodes_running(api->nodes));
    return prom_finish(p, len);
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
    api->cooldown_ms = o->cooldown_ms;
    api->drain_ms = o->drain_ms;
    api->drain = o->drain;
    api->drain_data = o->drain_data;
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
    if (o->nodes_cmd && *o->nodes_cmd) {
        api->nodes = scale_nodes_new(loop, o->nodes_cmd, o->nodes_max, 0);
        if (!api->nodes) {
            snprintf(err, errlen, "ops api: out of memory");
            http_server_close(api->srv, NULL, NULL);
            free(api);
            return NULL;
        }
        log_info("scale-nodes runs %s (at most %d at a time)", scale_nodes_cmd(api->nodes), o->nodes_max);
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
    scale_nodes_free(api->nodes);
    http_server_close(api->srv, NULL, NULL);
    free(api);
}
