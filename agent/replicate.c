/* replicate.c: the pure part of the replicate/scale API: create bodies for clones, their names,
 * service membership, scale arithmetic and the checks on request input. No I/O (see
 * replicate.h); agent/ops_api.c calls Docker with what this file builds. */
#include "replicate.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int name_char(int c) { return isalnum(c) || c == '_' || c == '.' || c == '-'; }

int replicate_valid_ref(const char *s) {
    if (!s || !isalnum((unsigned char)s[0])) return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (!name_char((unsigned char)s[n]) || n >= 128) return 0;
    return n >= 1;
}

int replicate_valid_service(const char *s) {
    if (!s || !*s) return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (!name_char((unsigned char)s[n]) || n >= 255) return 0;
    return 1;
}

static int is_hex8(const char *s) {
    for (int i = 0; i < 8; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return 0;
    return s[8] == '\0';
}

/* HostConfig.PortBindings: {"80/tcp":[{"HostIp":"","HostPort":"8080"}]} -> HostPort "". */
static void ephemeral_ports(json_t *hc) {
    json_t *pb = json_object_get(hc, "PortBindings");
    if (!json_is_object(pb)) return;
    const char *k;
    json_t *arr;
    json_object_foreach(pb, k, arr) {
        if (!json_is_array(arr)) continue;
        size_t i;
        json_t *b;
        json_array_foreach(arr, i, b) {
            if (json_is_object(b) && json_object_get(b, "HostPort")) json_object_set_new(b, "HostPort", json_string(""));
        }
    }
}

json_t *replicate_create_body(const json_t *inspect, const char *suffix, char *name_out, size_t name_len, char *err,
                              size_t errlen) {
    if (!json_is_object(inspect)) {
        snprintf(err, errlen, "inspect result is not an object");
        return NULL;
    }
    if (!suffix || !is_hex8(suffix)) {
        snprintf(err, errlen, "clone suffix must be 8 lowercase hex digits");
        return NULL;
    }
    const json_t *cfg = json_object_get(inspect, "Config");
    const json_t *hc = json_object_get(inspect, "HostConfig");
    if (!json_is_object(cfg) || !json_is_object(hc)) {
        snprintf(err, errlen, "inspect result has no Config or HostConfig object");
        return NULL;
    }
    const char *name = json_string_value(json_object_get(inspect, "Name"));
    if (name && *name == '/') name++;
    if (!name || !replicate_valid_ref(name)) {
        snprintf(err, errlen, "container has no usable Name");
        return NULL;
    }
    size_t base = strlen(name);
    if (base > 10 && name[base - 10] == '-' && name[base - 9] == 'r' && is_hex8(name + base - 8)) base -= 10;
    /* Docker names are at most 128 here (replicate_valid_ref); keep the clone's within that */
    if (base > 118) base = 118;
    if (name_len < base + 11) {
        snprintf(err, errlen, "name buffer too small");
        return NULL;
    }
    snprintf(name_out, name_len, "%.*s-r%s", (int)base, name, suffix);

    json_t *body = json_deep_copy(cfg);
    json_t *hcc = json_deep_copy(hc);
    if (!body || !hcc) {
        json_decref(body);
        json_decref(hcc);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    json_object_set_new(body, "Hostname", json_string(""));
    ephemeral_ports(hcc);
    json_object_set_new(body, "HostConfig", hcc);
    return body;
}

int replicate_service_matches(const json_t *inspect, const char *service) {
    if (!service) return 0;
    const json_t *cfg = json_object_get(inspect, "Config");
    if (!json_is_object(cfg)) return 0;
    const char *label = json_string_value(json_object_get(json_object_get(cfg, "Labels"), "SERVICE_NAME"));
    if (label) return strcmp(label, service) == 0;
    const json_t *env = json_object_get(cfg, "Env");
    size_t i;
    const json_t *e;
    const char *found = NULL;
    json_array_foreach(env, i, e) {
        const char *s = json_string_value(e);
        if (s && strncmp(s, "SERVICE_NAME=", 13) == 0) found = s + 13; /* the last one wins, as in docker run */
    }
    return found && strcmp(found, service) == 0;
}

/* "N" with 1 <= N <= REPLICATE_MAX_STEP, digits only. */
static int parse_count(const char *s, long *out) {
    if (!s || !*s || strlen(s) > 6) return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p)) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int replicate_parse_scale(const char *to, const char *by, size_t current, size_t *target, char *err,
                          size_t errlen) {
    if ((to == NULL) == (by == NULL)) {
        snprintf(err, errlen, "give exactly one of ?to=N (1..%d) or ?by=+N / -N (N 1..%d)", REPLICATE_MAX_STEP,
                 REPLICATE_MAX_STEP);
        return -1;
    }
    long want;
    if (to) {
        long n;
        if (parse_count(to, &n) < 0 || n < 1 || n > REPLICATE_MAX_STEP) {
            snprintf(err, errlen, "to=\"%.20s\": must be a whole number from 1 to %d", to, REPLICATE_MAX_STEP);
            return -1;
        }
        want = n;
    } else {
        const char *p = by;
        int sign = 1;
        if (*p == '+' || *p == '-') {
            sign = *p == '-' ? -1 : 1;
            p++;
        }
        long n;
        if (parse_count(p, &n) < 0 || n < 1 || n > REPLICATE_MAX_STEP) {
            snprintf(err, errlen, "by=\"%.20s\": must be +N or -N with N from 1 to %d", by, REPLICATE_MAX_STEP);
            return -1;
        }
        want = (long)current + sign * n;
        if (want < 1) {
            snprintf(err, errlen, "by=%.20s: %zu running, at least 1 must stay", by, current);
            return -1;
        }
    }
    long diff = want - (long)current;
    if (diff > REPLICATE_MAX_STEP || diff < -REPLICATE_MAX_STEP) {
        snprintf(err, errlen, "from %zu to %ld is more than %d containers in one request", current, want,
                 REPLICATE_MAX_STEP);
        return -1;
    }
    *target = (size_t)want;
    return 0;
}

/* Splits "YYYY-MM-DDTHH:MM:SS[.fff...]Z" into the seconds part (19 chars) and nanoseconds. */
static int split_time(const char *s, long *nanos) {
    if (!s || strlen(s) < 19 || s[4] != '-' || s[10] != 'T' || s[13] != ':') return -1;
    long ns = 0;
    int digits = 0;
    const char *p = s + 19;
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++) {
            if (digits < 9) {
                ns = ns * 10 + (*p - '0');
                digits++;
            }
        }
    }
    for (; digits < 9; digits++) ns *= 10;
    *nanos = ns;
    return 0;
}

int replicate_created_cmp(const char *a, const char *b) {
    long na = 0, nb = 0;
    int oka = split_time(a, &na) == 0, okb = split_time(b, &nb) == 0;
    if (!oka || !okb) return oka - okb;
    int c = strncmp(a, b, 19);
    if (c) return c < 0 ? -1 : 1;
    return na < nb ? -1 : na > nb;
}

static int cmp_inspect(const void *pa, const void *pb) {
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int c = replicate_created_cmp(json_string_value(json_object_get(a, "Created")),
                                  json_string_value(json_object_get(b, "Created")));
    if (c) return c;
    const char *ia = json_string_value(json_object_get(a, "Id")), *ib = json_string_value(json_object_get(b, "Id"));
    return strcmp(ia ? ia : "", ib ? ib : "");
}

void replicate_sort_by_created(json_t **inspects, size_t n) {
    if (n > 1) qsort(inspects, n, sizeof *inspects, cmp_inspect);
}
