/* ops_swarm.c: the swarm side of the scaling API: scale-service of a swarm service (find it
 * among GET /services, bounds and cooldown from its spec labels, POST /services/<id>/update with
 * its version and the new replica count) and what follows the node command of scale-nodes (GET
 * /services, then a forced update, ForceUpdate + 1, of every service labelled for rescheduling).
 * The decisions are agent/scaling.c's; the operation record and the answers agent/ops_api.c's. */
#include "ops_api_int.h"

#include "log.h"
#include "replicate.h"
#include "scaling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- scale-service in swarm mode: POST /services/<id>/update ---------- */

static void on_swarm_updated(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc, (void)status, (void)json;
    op_t *op = data;
    op->call = NULL;
    if (error) {
        ops_scale_answer(op, error);
        return;
    }
    op->after = op->target;
    ops_scale_answer(op, NULL);
}

static void scale_swarm(op_t *op, const json_t *svc) {
    op->swarm = 1;
    long cur = scaling_swarm_replicas(svc);
    const char *id = json_string_value(json_object_get(svc, "ID"));
    json_int_t version = json_integer_value(json_object_get(json_object_get(svc, "Version"), "Index"));
    if (cur < 0) {
        ops_finish_text(op, 409, "the swarm service is not in replicated mode (global services follow the nodes)");
        return;
    }
    if (!id || !replicate_valid_ref(id)) {
        ops_finish_text(op, 502, "docker: swarm service without a valid ID");
        return;
    }
    op->before = op->after = (size_t)cur;
    long target;
    if (ops_scale_check(op, json_object_get(json_object_get(svc, "Spec"), "Labels"), cur, op->delta, &target) < 0) return;
    op->target = (size_t)target;
    ops_cool_mark(op->api, op->service);
    json_t *body = scaling_swarm_update_body(svc, target);
    if (!body) {
        ops_finish_text(op, 502, "docker: swarm service without a Spec");
        return;
    }
    char path[200];
    snprintf(path, sizeof path, "/services/%s/update?version=%" JSON_INTEGER_FORMAT, id, version);
    log_info("ops api: %s: scale swarm service %s (%s) from %ld to %ld", op->who, op->service,
             json_string_value(json_object_get(json_object_get(svc, "Spec"), "Name")), cur, target);
    op->call = docker_client_request(op->api->dc, "POST", path, 1, body, on_swarm_updated, op);
    json_decref(body);
    if (!op->call) ops_finish_text(op, 500, "out of memory");
}

static void on_svc_services(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc, (void)status;
    op_t *op = data;
    op->call = NULL;
    if (error || !json_is_array(json)) {
        ops_finish_text(op, 502, error ? error : "docker: service list is not an array");
        return;
    }
    size_t i;
    json_t *svc;
    json_array_foreach(json, i, svc) {
        if (scaling_swarm_matches(svc, op->service)) {
            scale_swarm(op, svc);
            return;
        }
    }
    ops_scale_standalone(op); /* a manager, but no swarm service of that name: its containers */
}

void ops_swarm_on_info(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)status;
    op_t *op = data;
    op->call = NULL;
    if (error) {
        ops_finish_text(op, 502, error);
        return;
    }
    if (json_is_true(json_object_get(json_object_get(json, "Swarm"), "ControlAvailable"))) {
        op->call = docker_client_request(dc, "GET", "/services", 1, NULL, on_svc_services, op);
        if (!op->call) ops_finish_text(op, 500, "out of memory");
        return;
    }
    ops_scale_standalone(op);
}

/* ---------- scale-nodes: the node command, then the reschedule of labelled services ---------- */

static void nodes_answer(op_t *op, int status, const char *error) {
    json_t *j = json_pack("{s:s,s:I,s:i,s:s}", "type", op->type, "by", (json_int_t)op->delta, "exit_status",
                          op->exit_status, "output", op->output ? op->output : "");
    if (j && op->rescheduled) json_object_set(j, "rescheduled", op->rescheduled);
    if (j && error) json_object_set_new(j, "error", json_string(error));
    if (error) log_warn("ops api: %s: scale-nodes %+ld %s: %s", op->who, op->delta, op->type, error);
    else log_info("ops api: %s: scale-nodes %+ld %s done", op->who, op->delta, op->type);
    ops_finish_json(op, status, j);
}

static void reschedule_next(op_t *op);

static void on_rescheduled(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc, (void)status, (void)json;
    op_t *op = data;
    op->call = NULL;
    json_t *svc = json_array_get(op->services, op->isvc - 1);
    const char *name = json_string_value(json_object_get(json_object_get(svc, "Spec"), "Name"));
    if (error) log_warn("ops api: reschedule %s: %s", name ? name : "?", error);
    else {
        log_info("ops api: rescheduled swarm service %s (force update)", name ? name : "?");
        json_array_append_new(op->rescheduled, json_string(name ? name : "?"));
    }
    reschedule_next(op);
}

static void reschedule_next(op_t *op) {
    while (op->isvc < json_array_size(op->services)) {
        json_t *svc = json_array_get(op->services, op->isvc++);
        if (!scaling_swarm_reschedule(svc)) continue;
        const char *id = json_string_value(json_object_get(svc, "ID"));
        if (!id || !replicate_valid_ref(id)) continue;
        json_int_t version = json_integer_value(json_object_get(json_object_get(svc, "Version"), "Index"));
        json_t *body = scaling_swarm_update_body(svc, -1);
        if (!body) continue;
        char path[200];
        snprintf(path, sizeof path, "/services/%s/update?version=%" JSON_INTEGER_FORMAT, id, version);
        op->call = docker_client_request(op->api->dc, "POST", path, 1, body, on_rescheduled, op);
        json_decref(body);
        if (!op->call) nodes_answer(op, 500, "out of memory");
        return;
    }
    nodes_answer(op, 200, NULL);
}

static void on_nodes_services(docker_client_t *dc, long status, json_t *json, const char *error, void *data) {
    (void)dc, (void)status;
    op_t *op = data;
    op->call = NULL;
    op->rescheduled = json_array();
    if (status == 503) { /* not a swarm manager: nothing to reschedule from here */
        log_info("ops api: scale-nodes: this engine is not a swarm manager; no service rescheduled");
        nodes_answer(op, 200, NULL);
        return;
    }
    if (error || !json_is_array(json)) {
        nodes_answer(op, 502, error ? error : "docker: service list is not an array");
        return;
    }
    op->services = json_incref(json);
    reschedule_next(op);
}

void ops_nodes_on_done(int exit_status, int term_signal, const char *output, void *data) {
    op_t *op = data;
    op->exit_status = exit_status;
    op->term_signal = term_signal;
    op->output = strdup(output ? output : "");
    if (exit_status != 0) {
        char msg[200];
        if (term_signal) snprintf(msg, sizeof msg, "the node command was ended by signal %d", term_signal);
        else snprintf(msg, sizeof msg, "the node command exited with status %d", exit_status);
        nodes_answer(op, 502, msg);
        return;
    }
    if (op->delta < 0) {
        nodes_answer(op, 200, NULL);
        return;
    }
    /* new nodes joined: services labelled for it are rebalanced (docker service update --force) */
    op->call = docker_client_request(op->api->dc, "GET", "/services", 1, NULL, on_nodes_services, op);
    if (!op->call) nodes_answer(op, 500, "out of memory");
}

