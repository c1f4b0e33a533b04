/* scaling.c: the pure decisions of the scaling API: request parsing (query + Alertmanager webhook
 * bodies), bounds from labels, the bound and cooldown verdict, victim choice, drain IDs and the
 * swarm service update bodies. No I/O (see scaling.h). */
#include "scaling.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int scaling_valid_service(const char *s) {
    if (!s || !*s || *s == '/') return 0;
    size_t n = strlen(s);
    if (n > 255 || s[n - 1] == '/' || strstr(s, "//")) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-' && c != '/') return 0;
    }
    /* no ".." segment */
    const char *p = s;
    while (p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return 0;
        p = e ? e + 1 : NULL;
    }
    return 1;
}

/* "N" digits only, 1..max. */
static int parse_n(const char *s, long max, long *out) {
    if (!s || !*s || strlen(s) > 6) return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p)) return -1;
    long v = strtol(s, NULL, 10);
    if (v < 1 || v > max) return -1;
    *out = v;
    return 0;
}

static const char *label_of(const json_t *body, const char *group, const char *name) {
    return json_string_value(json_object_get(json_object_get(body, group), name));
}

/* The shared part: by + body direction -> delta; body's service (when service != NULL). */
static int parse_common(const char *q_by, const char *body, size_t len, json_t **jout, scaling_request_t *out,
                        char *err, size_t errlen) {
    json_t *j = NULL;
    *jout = NULL;
    if (body && len) {
        json_error_t je;
        j = json_loadb(body, len, 0, &je);
        if (!json_is_object(j)) {
            json_decref(j);
            snprintf(err, errlen, "body: not a JSON object (an Alertmanager webhook body or none): %.80s",
                     j ? "not an object" : je.text);
            return -1;
        }
        const char *st = json_string_value(json_object_get(j, "status"));
        if (st && !strcmp(st, "resolved")) out->resolved = 1;
    }
    const char *scale = j ? label_of(j, "groupLabels", "scale") : NULL;
    if (!scale && j) scale = label_of(j, "commonLabels", "scale");
    int dir = 0;
    if (scale) {
        if (!strcmp(scale, "up")) dir = 1;
        else if (!strcmp(scale, "down")) dir = -1;
        else {
            snprintf(err, errlen, "groupLabels.scale=\"%.20s\": must be \"up\" or \"down\"", scale);
            json_decref(j); /* after: scale points into it */
            return -1;
        }
    }
    long n = 1;
    int sign = 0;
    if (q_by) {
        const char *p = q_by;
        if (*p == '+' || *p == '-') {
            sign = *p == '-' ? -1 : 1;
            p++;
        }
        if (parse_n(p, SCALING_MAX_BY, &n) < 0) {
            json_decref(j);
            snprintf(err, errlen, "by=\"%.20s\": must be N, +N or -N with N from 1 to %d", q_by, SCALING_MAX_BY);
            return -1;
        }
    }
    if (dir && sign && sign != dir) {
        snprintf(err, errlen, "by=%.20s contradicts groupLabels.scale=%.10s", q_by, scale);
        json_decref(j);
        return -1;
    }
    if (!dir) {
        if (!q_by) {
            json_decref(j);
            snprintf(err, errlen, "give ?by=+N|-N or an Alertmanager body with groupLabels.scale \"up\"/\"down\"");
            return -1;
        }
        dir = sign ? sign : 1;
    }
    out->delta = dir * n;
    *jout = j;
    return 0;
}

int scaling_parse_service_request(const char *q_service, const char *q_by, const char *body, size_t len,
                                  scaling_request_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    json_t *j;
    if (parse_common(q_by, body, len, &j, out, err, errlen) < 0) return -1;
    const char *svc = q_service;
    if (!svc && j) svc = label_of(j, "groupLabels", "service");
    if (!svc && j) svc = label_of(j, "commonLabels", "service");
    if (!svc) {
        json_decref(j);
        snprintf(err, errlen, "no service: give ?service=<name> or groupLabels.service / commonLabels.service");
        return -1;
    }
    if (!scaling_valid_service(svc)) {
        snprintf(err, errlen, "invalid service name \"%.60s\": 1..255 of [A-Za-z0-9_.-/], no empty or .. segment",
                 svc);
        json_decref(j);
        return -1;
    }
    snprintf(out->service, sizeof out->service, "%s", svc);
    json_decref(j);
    return 0;
}

int scaling_parse_nodes_request(const char *q_by, const char *q_type, const char *body, size_t len,
                                scaling_request_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const char *type = q_type && *q_type ? q_type : "worker";
    if (strcmp(type, "worker") != 0 && strcmp(type, "manager") != 0) {
        snprintf(err, errlen, "type=\"%.20s\": must be worker or manager", type);
        return -1;
    }
    json_t *j;
    if (parse_common(q_by, body, len, &j, out, err, errlen) < 0) return -1;
    json_decref(j);
    if (out->delta > 10 || out->delta < -10) {
        snprintf(err, errlen, "by=%ld: at most 10 nodes in one request", out->delta);
        return -1;
    }
    snprintf(out->type, sizeof out->type, "%s", type);
    return 0;
}

static int label_long(const json_t *labels, const char *a, const char *b, long dflt, long *out, char *err,
                      size_t errlen) {
    const char *name = a;
    const char *v = json_string_value(json_object_get(labels, a));
    if (!v) {
        name = b;
        v = json_string_value(json_object_get(labels, b));
    }
    if (!v) {
        *out = dflt;
        return 0;
    }
    long n;
    if (!strcmp(v, "0")) n = 0;
    else if (parse_n(v, 1000, &n) < 0) {
        snprintf(err, errlen, "label %s=\"%.20s\": must be a whole number from 1 to 1000", name, v);
        return -1;
    }
    *out = n;
    return 0;
}

int scaling_bounds(const json_t *labels, long *min, long *max, char *err, size_t errlen) {
    long lo, hi;
    if (label_long(labels, "portolan.scale.min", "com.df.scaleMin", SCALING_DEFAULT_MIN, &lo, err, errlen) < 0 ||
        label_long(labels, "portolan.scale.max", "com.df.scaleMax", SCALING_DEFAULT_MAX, &hi, err, errlen) < 0)
        return -1;
    if (lo < 1) {
        snprintf(err, errlen, "scale min %ld: must be at least 1 (the original instance stays)", lo);
        return -1;
    }
    if (hi < lo) {
        snprintf(err, errlen, "scale max %ld is below min %ld", hi, lo);
        return -1;
    }
    *min = lo;
    *max = hi;
    return 0;
}

scaling_verdict_t scaling_decide(long current, long delta, long min, long max, uint64_t last_ms, uint64_t now_ms,
                                 uint64_t cooldown_ms, long *target, uint64_t *retry_ms, char *err, size_t errlen) {
    if (last_ms && now_ms < last_ms + cooldown_ms) {
        *retry_ms = last_ms + cooldown_ms - now_ms;
        snprintf(err, errlen, "in cooldown: the last scale action was %llu ms ago, retry in %llu ms",
                 (unsigned long long)(now_ms - (now_ms < last_ms ? now_ms : last_ms)),
                 (unsigned long long)*retry_ms);
        return SCALING_COOLDOWN;
    }
    long t = current + delta;
    if (delta > 0 && t > max) {
        snprintf(err, errlen, "refused: %ld %+ld = %ld would pass the maximum %ld", current, delta, t, max);
        return SCALING_PAST_MAX;
    }
    if (delta < 0 && t < min) {
        snprintf(err, errlen, "refused: %ld %+ld = %ld would pass the minimum %ld", current, delta, t, min);
        return SCALING_PAST_MIN;
    }
    *target = t;
    return SCALING_OK;
}

int scaling_is_clone_name(const char *name) {
    if (!name) return 0;
    if (*name == '/') name++;
    size_t n = strlen(name);
    if (n < 11 || name[n - 10] != '-' || name[n - 9] != 'r') return 0;
    for (size_t i = n - 8; i < n; i++)
        if (!isxdigit((unsigned char)name[i]) || isupper((unsigned char)name[i])) return 0;
    return 1;
}

size_t scaling_pick_victims(json_t *const *members, size_t n, size_t count, size_t *out) {
    size_t k = 0;
    for (int pass = 0; pass < 2 && k < count; pass++) {
        for (size_t i = n; i-- > 1 && k < count;) {
            int clone = scaling_is_clone_name(json_string_value(json_object_get(members[i], "Name")));
            if (clone == (pass == 0)) out[k++] = i;
        }
    }
    return k;
}

json_t *scaling_drain_ids(const json_t *agent_services, const char *container_name) {
    if (!json_is_object(agent_services) || !container_name) return NULL;
    if (*container_name == '/') container_name++;
    json_t *ids = json_array();
    const char *key;
    json_t *v;
    size_t cl = strlen(container_name);
    json_object_foreach((json_t *)agent_services, key, v) {
        const char *id = json_string_value(json_object_get(v, "ID"));
        if (!id) id = key;
        /* "<node>:<name>:<port>[:udp]": the name is the second field */
        const char *a = strchr(id, ':');
        if (!a) continue;
        a++;
        if (strncmp(a, container_name, cl) == 0 && a[cl] == ':') json_array_append_new(ids, json_string(id));
    }
    return ids;
}

static const json_t *spec_labels(const json_t *svc) {
    return json_object_get(json_object_get(svc, "Spec"), "Labels");
}

int scaling_swarm_matches(const json_t *svc, const char *service) {
    const json_t *spec = json_object_get(svc, "Spec");
    if (!json_is_object(spec) || !service) return 0;
    const char *name = json_string_value(json_object_get(spec, "Name"));
    if (name && !strcmp(name, service)) return 1;
    const char *path = json_string_value(json_object_get(spec_labels(svc), "portolan.path"));
    if (path) return strcmp(path, service) == 0;
    const json_t *env =
        json_object_get(json_object_get(json_object_get(spec, "TaskTemplate"), "ContainerSpec"), "Env");
    size_t i;
    const json_t *e;
    const char *found = NULL;
    json_array_foreach(env, i, e) {
        const char *s = json_string_value(e);
        if (s && !strncmp(s, "SERVICE_NAME=", 13)) found = s + 13;
    }
    return found && !strcmp(found, service);
}

long scaling_swarm_replicas(const json_t *svc) {
    const json_t *r =
        json_object_get(json_object_get(json_object_get(json_object_get(svc, "Spec"), "Mode"), "Replicated"),
                        "Replicas");
    return json_is_integer(r) ? (long)json_integer_value(r) : -1;
}

json_t *scaling_swarm_update_body(const json_t *svc, long replicas) {
    const json_t *spec = json_object_get(svc, "Spec");
    if (!json_is_object(spec)) return NULL;
    json_t *b = json_deep_copy(spec);
    if (!b) return NULL;
    if (replicas >= 0) {
        json_t *mode = json_object_get(b, "Mode");
        json_t *rep = json_object_get(mode, "Replicated");
        if (!json_is_object(rep)) {
            json_decref(b);
            return NULL;
        }
        json_object_set_new(rep, "Replicas", json_integer(replicas));
    } else {
        json_t *tt = json_object_get(b, "TaskTemplate");
        if (!json_is_object(tt)) {
            json_decref(b);
            return NULL;
        }
        json_int_t f = json_integer_value(json_object_get(tt, "ForceUpdate"));
        json_object_set_new(tt, "ForceUpdate", json_integer(f + 1));
    }
    return b;
}

int scaling_swarm_reschedule(const json_t *svc) {
    const json_t *l = spec_labels(svc);
    const char *a = json_string_value(json_object_get(l, "portolan.scale.reschedule"));
    const char *b = json_string_value(json_object_get(l, "com.df.reschedule"));
    return (a && !strcmp(a, "true")) || (b && !strcmp(b, "true"));
}

long scaling_next_node_id(const char *const *names, size_t n, const char *prefix) {
    long best = 0;
    size_t pl = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = names[i];
        if (!s || strncmp(s, prefix, pl) != 0) continue;
        s += pl;
        if (!*s || strlen(s) > 3) continue;
        int ok = 1;
        for (const char *p = s; *p; p++)
            if (!isdigit((unsigned char)*p)) ok = 0;
        if (!ok) continue;
        long v = strtol(s, NULL, 10);
        if (v > best) best = v;
    }
    return best + 1;
}
