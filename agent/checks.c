/* checks.c: see checks.h. Mirrors registrator's ConsulAdapter.buildCheck, key for key, except
 * that a check's target is never taken from metadata as text: HTTP/HTTPS URLs are parsed and
 * rebuilt with libcurl's URL API and must name the service's own address and port; TCP/gRPC
 * targets and script substitutions use the service address only after it is checked to be an IP
 * literal or a host name. */
#include "checks.h"

#include "duration.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
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

static int method_ok(const char *s)
{
    if (!*s || strlen(s) > 32)
        return 0;
    for (; *s; s++)
        if (!isalpha((unsigned char)*s))
            return 0;
    return 1;
}

int checks_host_ok(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (!s || !*s)
        return 0;
    if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
        return 1;
    /* a DNS name: labels of letters, digits and '-', not starting or ending with '-' */
    size_t len = strlen(s), lab = 0;
    if (len > 253)
        return 0;
    for (const char *p = s;; p++) {
        if (*p == '.' || !*p) {
            if (lab == 0 || lab > 63 || p[-1] == '-')
                return 0;
            if (!*p)
                break;
            lab = 0;
        } else if (isalnum((unsigned char)*p) || (*p == '-' && lab > 0)) {
            lab++;
        } else {
            return 0;
        }
    }
    /* all digits and dots but not an IPv4 address ("1.2.3", "999.1.1.1") is not a name either */
    return strspn(s, "0123456789.") != len;
}

static int url_part_is(CURLU *u, CURLUPart part, const char *want)
{
    char *v = NULL;
    CURLUcode rc = curl_url_get(u, part, &v, 0);
    int ok;
    if (!want)
        ok = rc != CURLUE_OK || !v || !*v;
    else
        ok = rc == CURLUE_OK && v && !strcasecmp(v, want);
    curl_free(v);
    return ok;
}

char *checks_http_target(const char *scheme, const char *ip, int port, const char *path,
                         const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!checks_host_ok(ip)) {
        *why = "the service has no usable address to aim it at";
        return NULL;
    }
    if (port < 1 || port > 65535) {
        *why = "the service has no usable port";
        return NULL;
    }
    if (!path || path[0] != '/') {
        *why = "not a path starting with /";
        return NULL;
    }
    size_t plen = strlen(path);
    if (plen > 1024) {
        *why = "longer than 1024 characters";
        return NULL;
    }
    for (const char *p = path; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || c == '#' || c == '\\') {
            *why = "path has spaces, control characters, non-ASCII bytes, '#' or '\\'";
            return NULL;
        }
    }
    int v6 = strchr(ip, ':') != NULL;
    char host[300], portbuf[8];
    snprintf(host, sizeof host, v6 ? "[%s]" : "%s", ip);
    snprintf(portbuf, sizeof portbuf, "%d", port);
    size_t cap = strlen(scheme) + strlen(host) + plen + 16;
    char *text = malloc(cap);
    CURLU *u = curl_url();
    char *out = NULL;
    *why = "not a valid URL path";
    if (text && u) {
        snprintf(text, cap, "%s://%s:%s%s", scheme, host, portbuf, path);
        /* parse, then insist that every part but the path and query is exactly ours */
        if (curl_url_set(u, CURLUPART_URL, text, 0) == CURLUE_OK &&
            url_part_is(u, CURLUPART_SCHEME, scheme) && url_part_is(u, CURLUPART_HOST, host) &&
            url_part_is(u, CURLUPART_PORT, portbuf) && url_part_is(u, CURLUPART_USER, NULL) &&
            url_part_is(u, CURLUPART_PASSWORD, NULL) && url_part_is(u, CURLUPART_OPTIONS, NULL) &&
            url_part_is(u, CURLUPART_FRAGMENT, NULL)) {
            char *p = NULL, *rebuilt = NULL;
            if (curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK && p && p[0] == '/' &&
                curl_url_get(u, CURLUPART_URL, &rebuilt, 0) == CURLUE_OK && rebuilt) {
                out = strdup(rebuilt);
                *why = out ? NULL : "out of memory";
            }
            curl_free(p);
            curl_free(rebuilt);
        }
    }
    curl_url_cleanup(u);
    free(text);
    return out;
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

/* Why a script/cmd check command is refused, or NULL. What is allowed: one line of text (no
 * control characters, so nothing can hide a second command from a reader of the logs or of
 * Consul's check list), at most 1024 bytes; $SERVICE_IP is only substituted with an address that
 * is an IP literal or a host name, so nothing but the command the container owner wrote reaches
 * the shell. Whether it runs at all is the Consul agent's decision (enable_local_script_checks). */
static const char *script_refused(const char *cmd, const char *ip)
{
    if (strlen(cmd) > 1024)
        return "longer than 1024 characters";
    for (const char *p = cmd; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "control characters (newline, escape, tab...) in the command";
    if (strstr(cmd, "$SERVICE_IP") && !checks_host_ok(ip))
        return "$SERVICE_IP used but the service has no usable address";
    return NULL;
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
    char hp[300];
    int needs_interval = 0, has_type = 0;
    const char *timeout = get(md, prefix, "timeout");
    if (timeout && !checks_duration_ok(timeout, 0)) {
        warn_list_add(w, "SERVICE_%stimeout \"%.40s\" ignored: not a positive Go duration", prefix, timeout);
        timeout = NULL;
    }
    hostport(hp, sizeof hp, ip ? ip : "", port);

    if ((v = get(md, prefix, "http")) || (v = get(md, prefix, "https"))) {
        int https = get(md, prefix, "http") == NULL;
        const char *why = NULL;
        char *url = checks_http_target(https ? "https" : "http", ip, port, v, &why);
        if (!url) {
            warn_list_add(w, "SERVICE_%s%s \"%.60s\" refused, no check registered: %s", prefix,
                          https ? "https" : "http", v, why);
            json_decref(c);
            return NULL;
        }
        json_object_set_new(c, "HTTP", json_string(url));
        free(url);
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
    } else if ((v = get(md, prefix, "cmd")) || (v = get(md, prefix, "script"))) {
        int is_cmd = get(md, prefix, "cmd") != NULL;
        const char *why = script_refused(v, ip);
        if (why) {
            warn_list_add(w, "SERVICE_%s%s \"%.60s\" refused, no check registered: %s", prefix,
                          is_cmd ? "cmd" : "script", v, why);
            json_decref(c);
            return NULL;
        }
        char *cmd;
        if (is_cmd) {
            cmd = malloc(strlen(v) + 64);
            if (cmd)
                sprintf(cmd, "check-cmd %.12s %s %s", container_id ? container_id : "",
                        exposed_port ? exposed_port : "", v);
        } else {
            cmd = interpolate(v, ip ? ip : "", port);
        }
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
        if (!checks_host_ok(ip) || port < 1 || port > 65535) {
            warn_list_add(w, "SERVICE_%stcp refused, no check registered: the service has no usable address to aim it at",
                          prefix);
            json_decref(c);
            return NULL;
        }
        json_object_set_new(c, "TCP", json_string(hp));
        if (timeout)
            json_object_set_new(c, "Timeout", json_string(timeout));
        needs_interval = has_type = 1;
    } else if ((v = get(md, prefix, "grpc"))) {
        if (!checks_host_ok(ip) || port < 1 || port > 65535) {
            warn_list_add(w, "SERVICE_%sgrpc refused, no check registered: the service has no usable address to aim it at",
                          prefix);
            json_decref(c);
            return NULL;
        }
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
