/* api_misc.c: user events (/v1/event/fire, /v1/event/list), network coordinates
 * (the /v1/coordinate endpoints) and the raft configuration (/v1/operator/raft/configuration) of a
 * one-server, one-node Consul.
 *
 * Owns the user-event buffer (the last 256 events, as a Consul agent keeps; not persisted, as
 * Consul's gossip events are not). Promises Consul's shapes: a fired event answers
 * {ID, Name, Payload (base64 or null), NodeFilter, ServiceFilter, TagFilter, Version 1, LTime 0};
 * the list gives the agent's events oldest first with their Lamport time; an event whose node,
 * service or tag filter (regular expressions) does not match this node is not delivered to it
 * (fired, not listed), as on an agent that does not match. event/list blocks until another event
 * is fired; its index counts the events fired (Consul hashes the last event's ID instead: both
 * are opaque values that change with every event). Coordinates are the origin with Consul's
 * initial error, for the one node. Never: touches the store's tables.
 */
#include "api_misc.h"
#include "render.h"

#include <openssl/evp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EVENTS_KEPT 256

typedef struct {
    char id[37], *name, *node_f, *service_f, *tag_f;
    unsigned char *payload; size_t plen;
    uint64_t ltime;
} user_event_t;

struct api_events {
    user_event_t ring[EVENTS_KEPT];
    size_t head, n;                 /* oldest at head */
    uint64_t fired, ltime;
};

static void event_clear(user_event_t *e)
{
    free(e->name); free(e->node_f); free(e->service_f); free(e->tag_f); free(e->payload);
    memset(e, 0, sizeof *e);
}

void api_events_free(struct api_events *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < EVENTS_KEPT; i++) event_clear(&e->ring[i]);
    free(e);
}

static struct api_events *events_of(api_ctx_t *c)
{
    if (!c->api->events)
        c->api->events = calloc(1, sizeof *c->api->events);
    return c->api->events;
}

static json_t *event_json(const user_event_t *e, uint64_t ltime)
{
    json_t *payload = json_null();
    if (e->plen) {
        char *b = malloc(4 * ((e->plen + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)b, e->payload, (int)e->plen);
        payload = json_string(b);
        free(b);
    }
    return json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:i,s:I}", "ID", e->id, "Name", e->name, "Payload", payload, "NodeFilter",
                     e->node_f, "ServiceFilter", e->service_f, "TagFilter", e->tag_f, "Version", 1, "LTime",
                     (json_int_t)ltime);
}

/* 1: re matches s; 0: not; -1: re does not compile (err set). */
static int filter_match(const char *re, const char *s, char *err, size_t errlen)
{
    regex_t r;
    int rc = regcomp(&r, re, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char m[256];
        regerror(rc, &r, m, sizeof m);
        snprintf(err, errlen, "Invalid filter %s: %s", re, m);
        return -1;
    }
    int ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

/* Would this node receive e? (its node name, and a service of its own with a matching name and tag) */
static int delivered(api_ctx_t *c, const user_event_t *e, char *err, size_t errlen)
{
    const catalog_store_t *s = c->api->store;
    if (*e->node_f) {
        int m = filter_match(e->node_f, store_node(s), err, errlen);
        if (m <= 0) return m;
    }
    if (!*e->service_f)
        return 1;
    size_t n;
    cat_service_t **all = store_all_services(s, &n);
    int found = 0;
    for (size_t i = 0; i < n && found == 0; i++) {
        if (all[i]->node) continue;
        int m = filter_match(e->service_f, all[i]->name, err, errlen);
        if (m < 0) { found = -1; break; }
        if (!m) continue;
        if (!*e->tag_f) { found = 1; break; }
        for (size_t t = 0; t < all[i]->ntags && found == 0; t++) {
            int tm = filter_match(e->tag_f, all[i]->tags[t], err, errlen);
            if (tm < 0) found = -1;
            else if (tm) found = 1;
        }
    }
    free(all);
    return found;
}

void api_event_fire(api_ctx_t *c, const char *name)
{
    if (!*name) {
        api_set_text(c->resp, 400, "Missing name");
        return;
    }
    const char *dc = api_param(c->req, "dc");
    if (dc && *dc && strcmp(dc, store_datacenter(c->api->store)) != 0) {
        api_set_text(c->resp, 500, "No path to datacenter");
        return;
    }
    const char *nf = api_param(c->req, "node"), *sf = api_param(c->req, "service"), *tf = api_param(c->req, "tag");
    if (tf && *tf && !(sf && *sf)) {
        api_set_text(c->resp, 400, "Cannot provide tag filter without service filter.");
        return;
    }
    struct api_events *ev = events_of(c);
    if (!ev) {
        api_set_text(c->resp, 500, "out of memory");
        return;
    }
    user_event_t e = {0};
    if (c->api->make_id) {
        c->api->make_id(c->api->hook_ctx, e.id);
    } else {   /* no ID source (tests): a counter in UUID form */
        snprintf(e.id, sizeof e.id, "00000000-0000-4000-8000-%012llx", (unsigned long long)ev->fired + 1);
    }
    e.name = strdup(name);
    e.node_f = strdup(nf ? nf : "");
    e.service_f = strdup(sf ? sf : "");
    e.tag_f = strdup(tf ? tf : "");
    if (c->req->body_len) {
        e.payload = malloc(c->req->body_len);
        memcpy(e.payload, c->req->body, c->req->body_len);
        e.plen = c->req->body_len;
    }
    char err[512];
    int d = delivered(c, &e, err, sizeof err);
    if (d < 0) {
        api_set_text(c->resp, 400, "%s", err);
        event_clear(&e);
        return;
    }
    api_set_json(c, 200, event_json(&e, 0));
    ev->fired++;
    if (d) {
        e.ltime = ++ev->ltime;
        size_t slot = (ev->head + ev->n) % EVENTS_KEPT;
        if (ev->n == EVENTS_KEPT) {
            event_clear(&ev->ring[ev->head]);
            ev->head = (ev->head + 1) % EVENTS_KEPT;
            slot = (ev->head + ev->n - 1) % EVENTS_KEPT;
        } else {
            ev->n++;
        }
        ev->ring[slot] = e;
    } else {
        event_clear(&e);
    }
    cat_change_t ch = {.events = 1};
    store_notify(c->api->store, &ch);
}

void api_event_list(api_ctx_t *c)
{
    struct api_events *ev = events_of(c);
    const char *name = api_param(c->req, "name");
    json_t *a = json_array();
    for (size_t i = 0; ev && i < ev->n; i++) {
        const user_event_t *e = &ev->ring[(ev->head + i) % EVENTS_KEPT];
        if (!name || !*name || !strcmp(name, e->name))
            json_array_append_new(a, event_json(e, e->ltime));
    }
    c->resp->consistency = NULL;
    api_finish(c, a, 200, ev ? ev->fired + 1 : 1, API_WATCH_EVENTS, NULL);
}

static json_t *coord(void)
{
    /* a coordinate that has not moved: the origin with Consul's initial error and height */
    return json_pack("{s:[i,i,i,i,i,i,i,i],s:f,s:i,s:f}", "Vec", 0, 0, 0, 0, 0, 0, 0, 0, "Error", 1.5, "Adjustment", 0,
                     "Height", 1e-05);
}

void api_coordinate_datacenters(api_ctx_t *c)
{
    const catalog_store_t *s = c->api->store;
    char wan[600];
    snprintf(wan, sizeof wan, "%s.%s", store_node(s), store_datacenter(s));
    api_set_json(c, 200, json_pack("[{s:s,s:s,s:[{s:s,s:o}]}]", "Datacenter", store_datacenter(s), "AreaID", "WAN",
                                   "Coordinates", "Node", wan, "Coord", coord()));
}

void api_coordinate_nodes(api_ctx_t *c, const char *node)
{
    const catalog_store_t *s = c->api->store;
    int match = !node || !strcasecmp(node, store_node(s));
    json_t *a = json_array();
    if (match)
        json_array_append_new(a, json_pack("{s:s,s:s,s:o}", "Node", store_node(s), "Segment", "", "Coord", coord()));
    if (node && !match) {   /* a node without a coordinate: 404, as Consul */
        json_decref(a);
        c->resp->has_index = 1;
        c->resp->index = store_index_nodes(s);
        api_set_empty(c->resp, 404);
        return;
    }
    api_finish(c, a, 200, store_index_nodes(s), API_WATCH_NODES, NULL);
}

void api_raft_configuration(api_ctx_t *c)
{
    const catalog_store_t *s = c->api->store;
    json_t *srv = json_pack("{s:s,s:s,s:s,s:b,s:s,s:b,s:I}", "ID", store_node_id(s), "Node", store_node(s), "Address",
                            c->api->leader ? c->api->leader : "", "Leader", 1, "ProtocolVersion", "3", "Voter", 1,
                            "LastIndex", (json_int_t)store_index(s));
    api_set_json(c, 200, json_pack("{s:[o],s:I}", "Servers", srv, "Index", (json_int_t)store_index_nodes(s)));
}
