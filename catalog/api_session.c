/* api_session.c: Consul's /v1/session endpoints over the store's session table: create (body
 * decoded by session.c), destroy, renew, and the reads info, node and list, which block on the
 * sessions table's index.
 *
 * Owns: the answers of /v1/session, error texts included (as Consul words them). Promises:
 * every input produces an answer; a session is rendered with Consul's fields (LockDelay in
 * nanoseconds, TTL as given, NodeChecks, ServiceChecks and the legacy Checks).
 * Never: changes the store but through store_session_*.
 */
#include "api_session.h"
#include "render.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *render_str(const char *s) { return s ? render_stringn(s, strlen(s)) : json_string(""); }

static json_t *render_session(const cat_session_t *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "ID", json_string(s->id));
    json_object_set_new(o, "Name", render_str(s->name));
    json_object_set_new(o, "Node", render_str(s->node));
    json_object_set_new(o, "LockDelay", json_integer((json_int_t)s->lock_delay_ns));
    json_object_set_new(o, "Behavior", json_string(s->delete_behavior ? "delete" : "release"));
    json_object_set_new(o, "TTL", render_str(s->ttl));
    json_t *legacy = json_array(), *nc = json_array(), *sc = json_array();
    for (size_t i = 0; i < s->nnode_checks; i++) {
        json_array_append_new(nc, render_str(s->node_checks[i]));
        json_array_append_new(legacy, render_str(s->node_checks[i]));
    }
    for (size_t i = 0; i < s->nservice_checks; i++) {
        json_array_append_new(sc, json_pack("{s:o,s:s}", "ID", render_str(s->service_checks[i]), "Namespace", ""));
        json_array_append_new(legacy, render_str(s->service_checks[i]));
    }
    json_object_set_new(o, "Checks", legacy);
    json_object_set_new(o, "NodeChecks", s->nnode_checks ? nc : (json_decref(nc), json_null()));
    json_object_set_new(o, "ServiceChecks", s->nservice_checks ? sc : (json_decref(sc), json_null()));
    json_object_set_new(o, "CreateIndex", json_integer((json_int_t)s->create_index));
    json_object_set_new(o, "ModifyIndex", json_integer((json_int_t)s->modify_index));
    return o;
}

static int64_t now(api_ctx_t *c) { return c->api->now_ms ? c->api->now_ms() : 0; }

static void session_create(api_ctx_t *c)
{
    char err[512];
    cat_session_t *s = session_decode(c->req->body, c->req->body_len, store_node(c->api->store), err, sizeof err);
    if (!s) {
        api_set_text(c->resp, strncmp(err, "Request decode failed", 21) ? 500 : 400, "%s", err);
        return;
    }
    if (c->api->make_id) {
        c->api->make_id(c->api->hook_ctx, s->id);
    } else {
        /* no ID source (tests, the fuzz target): one that follows the store's index */
        snprintf(s->id, sizeof s->id, "00000000-0000-4000-8000-%012llx",
                 (unsigned long long)(store_index(c->api->store) + 1) & 0xffffffffffffULL);
    }
    char id[37];
    memcpy(id, s->id, sizeof id);
    if (store_session_create(c->api->store, s, now(c), err, sizeof err) != 0) {
        api_set_text(c->resp, 500, "%s", err);
        return;
    }
    c->resp->wrote = 1;
    api_set_json(c, 200, json_pack("{s:s}", "ID", id));
}

static void session_read(api_ctx_t *c, const char *id, const char *node)
{
    json_t *a = json_array();
    if (id) {
        cat_session_t *s = store_session(c->api->store, id);
        if (s)
            json_array_append_new(a, render_session(s));
    } else {
        size_t n;
        cat_session_t **all = store_sessions(c->api->store, node, &n);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, render_session(all[i]));
        free(all);
    }
    api_finish(c, a, 200, store_index_sessions(c->api->store), API_WATCH_SESSIONS, NULL);
}

static int arg(const char *rest, const char *verb, const char **out)
{
    size_t l = strlen(verb);
    if (strncmp(rest, verb, l) != 0 || (rest[l] != '/' && rest[l] != '\0'))
        return 0;
    *out = rest[l] == '/' ? rest + l + 1 : "";
    return 1;
}

void api_session_handle(api_ctx_t *c, const char *rest)
{
    const char *dc = api_param(c->req, "dc"), *a;
    if (dc && *dc && strcmp(dc, store_datacenter(c->api->store)) != 0) {
        api_set_text(c->resp, 500, "No path to datacenter");
    } else if (!strcmp(rest, "create")) {
        session_create(c);
    } else if (arg(rest, "destroy", &a)) {
        if (!*a) {
            api_set_text(c->resp, 400, "Missing session");
            return;
        }
        if (store_session_destroy(c->api->store, a, now(c)))
            c->resp->wrote = 1;
        api_set_json(c, 200, json_true());
    } else if (arg(rest, "renew", &a)) {
        if (!*a) {
            api_set_text(c->resp, 400, "Missing session");
            return;
        }
        cat_session_t *s = store_session_renew(c->api->store, a, now(c));
        if (!s) {
            api_set_text(c->resp, 404, "Session id '%s' not found", a);
            return;
        }
        api_set_json(c, 200, json_pack("[o]", render_session(s)));
    } else if (arg(rest, "info", &a)) {
        if (!*a) {
            api_set_text(c->resp, 400, "Missing session");
            return;
        }
        if (api_read_prologue(c, 1, 1) == 0) session_read(c, a, NULL);
    } else if (arg(rest, "node", &a)) {
        if (!*a) {
            api_set_text(c->resp, 400, "Missing node name");
            return;
        }
        if (api_read_prologue(c, 1, 1) == 0) session_read(c, NULL, a);
    } else if (!strcmp(rest, "list")) {
        if (api_read_prologue(c, 1, 1) == 0) session_read(c, NULL, NULL);
    } else {
        api_set_text(c->resp, 404, "Invalid URL path: not a recognized HTTP API endpoint\n");
    }
}
