/* session.c: the catalog's session table (see session.h). One hash map of sessions by ID;
 * listings scan and sort. The create-body decoder lives here too, since what a valid session is
 * (behavior, TTL bounds, lock-delay rules, default checks) is this table's knowledge. Never
 * touches the KV table or a clock; no I/O. */
#include "session.h"
#include "duration.h"
#include "strmap.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SESSION_TTL_MIN_NS (10LL * 1000000000LL)
#define SESSION_TTL_MAX_NS (86400LL * 1000000000LL)
#define SESSION_LOCK_DELAY_DEFAULT_NS (15LL * 1000000000LL)
#define SESSION_LOCK_DELAY_MAX_NS (60LL * 1000000000LL)

struct session_table {
    strmap_t *byid;          /* ID -> cat_session_t */
    uint64_t index;
};

session_table_t *session_table_new(void)
{
    session_table_t *t = calloc(1, sizeof *t);
    t->byid = strmap_new();
    return t;
}

cat_session_t *cat_session_new(void)
{
    cat_session_t *s = calloc(1, sizeof *s);
    s->name = strdup("");
    s->ttl = strdup("");
    return s;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void cat_session_free(cat_session_t *s)
{
    if (!s)
        return;
    free(s->name); free(s->node); free(s->ttl);
    free_strv(s->node_checks, s->nnode_checks);
    free_strv(s->service_checks, s->nservice_checks);
    free(s);
}

void session_table_free(session_table_t *t)
{
    if (!t)
        return;
    for (strmap_iter_t it = strmap_iter(t->byid); strmap_iter_next(&it);)
        cat_session_free(it.value);
    strmap_free(t->byid);
    free(t);
}

void session_renew(cat_session_t *s, int64_t now_ms)
{
    s->expires_ms = s->ttl_ns > 0 ? now_ms + 2 * (s->ttl_ns / 1000000) : 0;
}

void session_add(session_table_t *t, cat_session_t *s, uint64_t idx, int64_t now_ms)
{
    s->create_index = s->modify_index = idx;
    session_renew(s, now_ms);
    strmap_put(t->byid, s->id, s);
    t->index = idx;
}

cat_session_t *session_get(const session_table_t *t, const char *id) { return strmap_get(t->byid, id); }
cat_session_t *session_remove(session_table_t *t, const char *id) { return strmap_del(t->byid, id); }
size_t session_count(const session_table_t *t) { return strmap_size(t->byid); }
uint64_t session_index(const session_table_t *t) { return t->index; }
void session_set_index(session_table_t *t, uint64_t idx) { t->index = idx; }

int session_expired(const cat_session_t *s, int64_t now_ms) { return s->expires_ms > 0 && now_ms >= s->expires_ms; }

static int cmp_session(const void *a, const void *b)
{
    return strcmp((*(cat_session_t *const *)a)->id, (*(cat_session_t *const *)b)->id);
}

cat_session_t **session_list(const session_table_t *t, const char *node, size_t *n)
{
    size_t cnt = strmap_size(t->byid), k = 0;
    cat_session_t **arr = malloc((cnt ? cnt : 1) * sizeof *arr);
    for (strmap_iter_t it = strmap_iter(t->byid); strmap_iter_next(&it);) {
        cat_session_t *s = it.value;
        if (!node || strcasecmp(s->node, node) == 0)
            arr[k++] = s;
    }
    qsort(arr, k, sizeof *arr, cmp_session);
    *n = k;
    return arr;
}

/* ---- the create body ---- */
static int strv_add(char ***v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i], s))
            return 0;
    *v = realloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = strdup(s);
    return 0;
}

/* An array of check IDs (strings, or with objects {"ID": ...} when objects is set). */
static int decode_checks(json_t *a, int objects, char ***v, size_t *n, const char *field, char *err, size_t errlen)
{
    free_strv(*v, *n);
    *v = NULL;
    *n = 0;
    if (json_is_null(a))
        return 0;
    if (!json_is_array(a)) {
        snprintf(err, errlen, "Request decode failed: %s must be an array", field);
        return -1;
    }
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        json_t *id = objects && json_is_object(x) ? json_object_get(x, "ID") : x;
        if (!json_is_string(id) || !*json_string_value(id) || strlen(json_string_value(id)) > 256) {
            snprintf(err, errlen, "Request decode failed: %s[%zu] must be a check ID", field, i);
            return -1;
        }
        strv_add(v, n, json_string_value(id));
    }
    return 0;
}

static int decode_lock_delay(json_t *v, int64_t *out, char *err, size_t errlen)
{
    if (json_is_string(v)) {
        char e[128];
        if (duration_parse(json_string_value(v), out, e, sizeof e) != 0) {
            snprintf(err, errlen, "Request decode failed: LockDelay: %s", e);
            return -1;
        }
    } else if (json_is_number(v)) {
        double d = json_number_value(v);
        if (d < 0 || d > 1e18) {
            snprintf(err, errlen, "Request decode failed: LockDelay out of range");
            return -1;
        }
        /* Consul: a number below 1000 is seconds, anything else nanoseconds */
        *out = d < 1000 ? (int64_t)(d * 1e9) : (int64_t)d;
    } else {
        snprintf(err, errlen, "Request decode failed: LockDelay must be a duration");
        return -1;
    }
    if (*out < 0)
        *out = 0;
    if (*out > SESSION_LOCK_DELAY_MAX_NS)
        *out = SESSION_LOCK_DELAY_MAX_NS;
    return 0;
}

cat_session_t *session_decode(const char *body, size_t len, const char *default_node, char *err, size_t errlen)
{
    cat_session_t *s = cat_session_new();
    s->node = strdup(default_node);
    s->lock_delay_ns = SESSION_LOCK_DELAY_DEFAULT_NS;
    strv_add(&s->node_checks, &s->nnode_checks, "serfHealth");
    json_t *o = NULL;
    if (body && len) {
        json_error_t je;
        o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!o || !json_is_object(o)) {
            snprintf(err, errlen, "Request decode failed: %s", o ? "body must be a JSON object" : je.text);
            goto fail;
        }
    }
    json_t *v;
    const char *k;
    int have_node_checks = o && json_object_get(o, "NodeChecks");
    json_object_foreach(o, k, v) {
        if (!strcasecmp(k, "Name") || !strcasecmp(k, "Node") || !strcasecmp(k, "Behavior") || !strcasecmp(k, "TTL")) {
            if (json_is_null(v))
                continue;
            if (!json_is_string(v) || strlen(json_string_value(v)) > 1024) {
                snprintf(err, errlen, "Request decode failed: %s must be a string", k);
                goto fail;
            }
            char **dst = !strcasecmp(k, "Name") ? &s->name : !strcasecmp(k, "Node") ? &s->node
                       : !strcasecmp(k, "TTL") ? &s->ttl : NULL;
            if (dst) {
                free(*dst);
                *dst = strdup(json_string_value(v));
            } else if (!strcmp(json_string_value(v), "delete")) {
                s->delete_behavior = 1;
            } else if (*json_string_value(v) && strcmp(json_string_value(v), "release") != 0) {
                snprintf(err, errlen, "Invalid Behavior setting '%s'", json_string_value(v));
                goto fail;
            }
        } else if (!strcasecmp(k, "LockDelay")) {
            if (!json_is_null(v) && decode_lock_delay(v, &s->lock_delay_ns, err, errlen) != 0)
                goto fail;
        } else if (!strcasecmp(k, "NodeChecks")) {
            if (decode_checks(v, 0, &s->node_checks, &s->nnode_checks, "NodeChecks", err, errlen) != 0)
                goto fail;
        } else if (!strcasecmp(k, "ServiceChecks")) {
            if (decode_checks(v, 1, &s->service_checks, &s->nservice_checks, "ServiceChecks", err, errlen) != 0)
                goto fail;
        }
    }
    /* the legacy Checks: the node checks, merged into NodeChecks when both are given */
    json_t *legacy = o ? json_object_get(o, "Checks") : NULL;
    if (legacy) {
        char **lv = NULL;
        size_t ln = 0;
        if (decode_checks(legacy, 0, &lv, &ln, "Checks", err, errlen) != 0)
            goto fail;
        if (!have_node_checks) {
            free_strv(s->node_checks, s->nnode_checks);
            s->node_checks = NULL;
            s->nnode_checks = 0;
        }
        for (size_t i = 0; i < ln; i++)
            strv_add(&s->node_checks, &s->nnode_checks, lv[i]);
        free_strv(lv, ln);
    }
    if (!*s->node) {
        snprintf(err, errlen, "Must provide Node");
        goto fail;
    }
    if (*s->ttl) {
        char e[128];
        if (duration_parse(s->ttl, &s->ttl_ns, e, sizeof e) != 0) {
            snprintf(err, errlen, "Session TTL decode error: %s", e);
            goto fail;
        }
        if (s->ttl_ns != 0 && (s->ttl_ns < SESSION_TTL_MIN_NS || s->ttl_ns > SESSION_TTL_MAX_NS)) {
            snprintf(err, errlen, "Invalid Session TTL '%lld', must be between [10s=24h0m0s]", (long long)s->ttl_ns);
            goto fail;
        }
    }
    json_decref(o);
    return s;
fail:
    json_decref(o);
    cat_session_free(s);
    return NULL;
}
