/* ops_api_int.h: what agent/ops_api.c (requests, replicate, standalone scaling) shares with
 * agent/ops_swarm.c (scale-service on a swarm manager, scale-nodes and the reschedule after it):
 * the operation record, the API's state and the helpers that end an operation. Not a public
 * interface: only these two files include it. */
#ifndef PORTOLAN_AGENT_OPS_API_INT_H
#define PORTOLAN_AGENT_OPS_API_INT_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "docker_client.h"
#include "http_server.h"
#include "ops_api.h"
#include "scale_nodes.h"

typedef enum { OP_REPLICATE, OP_SCALE, OP_NODES } op_kind_t;

/* the actions counted in /metrics, and their outcomes */
enum { ACT_REPLICATE, ACT_SCALE, ACT_SCALE_SERVICE, ACT_SCALE_NODES, ACT_N };
enum { RES_OK, RES_REFUSED, RES_FAILED, RES_N };

#define COOL_SLOTS 64

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
    /* scale-service (svc) and scale-nodes */
    int svc;             /* POST /v1/scale-service: bounds, cooldown, swarm or standalone */
    int swarm;           /* the service is a swarm service */
    long delta;
    size_t *victims;     /* scale-down order (scaling_pick_victims) */
    size_t nvict, ivict;
    uv_timer_t *drain_timer;
    json_t *services;    /* GET /services answer (swarm lookup, reschedule) */
    size_t isvc;
    json_t *rescheduled; /* names of the services force-updated after scale-nodes */
    char type[16];       /* scale-nodes: worker | manager */
    int exit_status, term_signal;
    char *output;        /* scale-nodes: the command's last output */
} op_t;

struct ops_api {
    uv_loop_t *loop;
    docker_client_t *dc;
    http_server_t *srv;
    op_t *ops;
    int scaling;
    int stop_timeout_s;
    uint64_t cooldown_ms, drain_ms;
    void (*drain)(void *data, const char *id);
    void *drain_data;
    scale_nodes_t *nodes;
    struct {
        char service[256];
        uint64_t last_ms;
    } cool[COOL_SLOTS];
    uint64_t counts[ACT_N][RES_N];
};

/* End an operation with an answer (when its client is still there), counted in /metrics. */
void ops_finish_text(op_t *op, int status, const char *msg);
void ops_finish_json(op_t *op, int status, json_t *j);
/* The answer of a scale / scale-service operation (error: NULL or what stopped it). */
void ops_scale_answer(op_t *op, const char *error);
/* Bounds from labels and, for scale-service, the cooldown; 0 when the op goes on (*target set),
 * else the op was ended with 409/429. */
int ops_scale_check(op_t *op, const json_t *labels, long current, long delta, long *target);
/* Scales the engine's containers of op->service (list, inspect, decide, clone or drain+stop). */
void ops_scale_standalone(op_t *op);
/* Marks the start/end of an action on a service for the cooldown. */
void ops_cool_mark(ops_api_t *api, const char *service);

/* ops_swarm.c: GET /info's answer for scale-service: a swarm manager looks the service up among
 * its swarm services and updates it, anything else goes to ops_scale_standalone. */
void ops_swarm_on_info(docker_client_t *dc, long status, json_t *json, const char *error, void *data);
/* ops_swarm.c: the node command ended (scale_nodes_done_cb): answer, after the reschedule. */
void ops_nodes_on_done(int exit_status, int term_signal, const char *output, void *data);

#endif
