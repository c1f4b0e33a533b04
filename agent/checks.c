/* checks.c: see checks.h. Mirrors registrator's ConsulAdapter.buildCheck, key for key. */
#include "checks.h"

#include "duration.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int checks_duration_ok(const char *s, int allow_zero)
{
    int64_t ns;
    if (!s || duration_parse(s, &ns, NULL, 0) != 0)
        return 0;
    return allow_zero ? ns >= 0 : ns > 0;
}

static const char *get(const metadata_t *md, const char *prefix, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "%s%s", prefix, key);
    return metadata_get(md, k);
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int method_ok(const char *s)
{
    if (!*s || strlen(s) > 32)
        return 0;
    for (; *s; s++)
        if (!isalpha((unsigned char)*s))
            return 0;
    return 1;
}

/* "1.2.3.4:80" or "[::1]:80" */
static void hostport(char *buf, size_t len, const char *ip, int port)
{
    if (strchr(ip, ':'))
        snprintf(buf, len, "[%s]:%d", ip, port);
    else
        snprintf(buf, len, "%s:%d", ip, port);
}

/* Replaces $SERVICE_IP and $SERVICE_PORT, as registrator's interpolateService does. */
static char *interpolate(const char *s, const char *ip, int port)
{
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    size_t cap = strlen(s) + 1, n = 0;
    for (const char *p = s; *p; p++)
        if (*p == '$')
            cap += strlen(ip) + sizeof portbuf;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    while (*s) {
        if (strncmp(s, "$SERVICE_IP", 11) == 0) {
            n += (size_t)sprintf(out + n, "%s", ip);
            s += 11;
        } else if (strncmp(s, "$SERVICE_PORT", 13) == 0) {
            n += (size_t)sprintf(out + n, "%s", portbuf);
            s += 13;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
    return out;
}

static json_t *script_args(const char *cmd)
{
    return json_pack("[sss]", "/bin/sh", "-c", cmd);
}

json_t *checks_build_set(const metadata_t *md, const char *prefix, const char *ip, int port,
                         const char *container_id, const char *exposed_port, warn_list_t *w)
{
    json_t *c = json_object();
    const char *v;
    char hp[300], url[1400];
    int needs_interval = 0, has_type = 0;
    const char *timeout = get(md, prefix, "timeout");
    if (timeout && !checks_duration_ok(timeout, 0)) {
        warn_list_add(w, "SERVICE_%stimeout \"%.40s\" ignored: not a positive Go duration", prefix, timeout);
        timeout = NULL;
    }
    hostport(hp, sizeof hp, ip ? ip : "", port);

    if ((v = get(md, prefix, "http")) || (v = get(md, prefix, "https"))) {
        int https = get(md, prefix, "http") == NULL;
        if (!printable(v) || strlen(v) > 1024) {
            warn_list_add(w, "SERVICE_%s%s ignored: path has spaces or control characters or is too long",
                          prefix, https ? "https" : "http");
            json_decref(c);
            return NULL;
        }
        snprintf(url, sizeof url, "%s://%s%s", https ? "https" : "http", hp, v);
        json_object_set_new(c, "HTTP", json_string(url));
        if (timeout)
            json_object_set_new(c, "Timeout", json_string(timeout));
        if (https && get(md, prefix, "tls_skip_verify"))
            json_object_set_new(c, "TLSSkipVerify", json_true());
        const char *m = get(md, prefix, https ? "https_method" : "http_method");
        if (m && method_ok(m))
            json_object_set_new(c, "Method", json_string(m));
        else if (m)
            warn_list_add(w, "SERVICE_%s%s_method \"%.40s\" ignored: not an HTTP method", prefix,
                          https ? "https" : "http", m);
        needs_interval = has_type = 1;
    } else if ((v = get(md, prefix, "cmd"))) {
        char *cmd = malloc(strlen(v) + 64);
        if (cmd) {
            sprintf(cmd, "check-cmd %.12s %s %s", container_id ? container_id : "", exposed_port ? exposed_port : "", v);
            json_object_set_new(c, "Args", script_args(cmd));
            free(cmd);
        }
        needs_interval = has_type = 1;
    } else if ((v = get(md, prefix, "script"))) {
        char *cmd = interpolate(v, ip ? ip : "", port);
        if (cmd)
            json_object_set_new(c, "Args", script_args(cmd));
        free(cmd);
        needs_interval = has_type = 1;
    } else if ((v = get(md, prefix, "ttl"))) {
        if (!checks_duration_ok(v, 0)) {
            warn_list_add(w, "SERVICE_%sttl \"%.40s\" ignored: not a positive Go duration", prefix, v);
            json_decref(c);
            return NULL;
        }
        json_object_set_new(c, "TTL", json_string(v));
        has_type = 1;
    } else if ((v = get(md, prefix, "tcp"))) {
        json_object_set_new(c, "TCP", json_string(hp));
        if (timeout)
            json_object_set_new(c, "Timeout", json_string(timeout));
        needs_interval = has_type = 1;
    } else if ((v = get(md, prefix, "grpc"))) {
        json_object_set_new(c, "GRPC", json_string(hp));
        if (timeout)
            json_object_set_new(c, "Timeout", json_string(timeout));
        if (get(md, prefix, "grpc_use_tls")) {
            json_object_set_new(c, "GRPCUseTLS", json_true());
            if (get(md, prefix, "tls_skip_verify"))
                json_object_set_new(c, "TLSSkipVerify", json_true());
        }
        needs_interval = has_type = 1;
    }
    if (!has_type) {
        json_decref(c);
        return NULL;
    }
    if ((v = get(md, prefix, "initial_status"))) {
        if (!strcmp(v, "passing") || !strcmp(v, "warning") || !strcmp(v, "critical"))
            json_object_set_new(c, "Status", json_string(v));
        else
            warn_list_add(w, "SERVICE_%sinitial_status \"%.40s\" ignored: must be passing, warning or critical",
                          prefix, v);
    }
    if (needs_interval) {
        const char *iv = get(md, prefix, "interval");
        if (iv && !checks_duration_ok(iv, 0)) {
            warn_list_add(w, "SERVICE_%sinterval \"%.40s\" ignored: not a positive Go duration (using %s)",
                          prefix, iv, CHECKS_DEFAULT_INTERVAL);
            iv = NULL;
        }
        json_object_set_new(c, "Interval", json_string(iv ? iv : CHECKS_DEFAULT_INTERVAL));
    }
    if ((v = get(md, prefix, "deregister_after"))) {
        if (checks_duration_ok(v, 0))
            json_object_set_new(c, "DeregisterCriticalServiceAfter", json_string(v));
        else
            warn_list_add(w, "SERVICE_%sderegister_after \"%.40s\" ignored: not a positive Go duration", prefix, v);
    }
    return c;
}

const char *checks_docker_health_status(const char *docker_status)
{
    return docker_status && !strcmp(docker_status, "healthy") ? "passing" : "critical";
}

json_t *checks_ttl(const char *check_id, const char *name, int64_t ttl_ns, const char *status,
                   const char *notes)
{
    char ttl[64];
    duration_format(ttl_ns, ttl, sizeof ttl);
    json_t *c = json_pack("{ssssssss}", "CheckID", check_id, "Name", name, "TTL", ttl, "Status", status);
    if (c && notes)
        json_object_set_new(c, "Notes", json_string(notes));
    return c;
}
