/* docker_endpoint.c: where the Docker daemon is and how to talk to it, from DOCKER_HOST,
 * DOCKER_TLS_VERIFY, DOCKER_TLS and DOCKER_CERT_PATH; plus the other pure helpers of the Docker
 * client (API version choice, the "since" value of an event). No I/O: the certificate files are
 * named here and opened by libcurl when a request is made. */
#include "docker_client.h"
#include "cstr.h"
#include "flags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- endpoint ---- */

static int env_true(const char *v)
{
    return v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 && strcasecmp(v, "no") != 0;
}

static char *path_join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, (*dir && dir[strlen(dir) - 1] == '/') ? "" : "/", file);
    return p;
}

void docker_endpoint_clear(docker_endpoint_t *ep)
{
    if (!ep)
        return;
    free(ep->host);
    free(ep->unix_path);
    free(ep->base_url);
    free(ep->ca_file);
    free(ep->cert_file);
    free(ep->key_file);
    memset(ep, 0, sizeof *ep);
}

int docker_endpoint_from_env(const char *(*getenv_fn)(const char *), docker_endpoint_t *out,
                             char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *host = flags_env_get(getenv_fn, "DOCKER_HOST");
    if (!host)
        host = DOCKER_DEFAULT_HOST;
    if (strlen(host) > 4096) {
        cstr_fmt(err, errlen, "docker: DOCKER_HOST is too long");
        return -1;
    }
    out->host = strdup(host);
    if (strncmp(host, "unix://", 7) == 0) {
        const char *path = host + 7;
        if (*path != '/') {
            cstr_fmt(err, errlen, "docker: DOCKER_HOST \"%s\": unix socket path must be absolute (unix:///path)", host);
            goto fail;
        }
        out->unix_path = strdup(path);
        out->base_url = strdup("http://localhost");
        return 0;
    }
    const char *rest = NULL;
    int https = 0;
    if (strncmp(host, "tcp://", 6) == 0)
        rest = host + 6;
    else if (strncmp(host, "http://", 7) == 0)
        rest = host + 7;
    else if (strncmp(host, "https://", 8) == 0) {
        rest = host + 8;
        https = 1;
    } else {
        cstr_fmt(err, errlen, "docker: DOCKER_HOST \"%s\": unsupported scheme (use unix:///path or tcp://host:port)", host);
        goto fail;
    }
    size_t hlen = strcspn(rest, "/?#");
    if (hlen == 0) {
        cstr_fmt(err, errlen, "docker: DOCKER_HOST \"%s\": missing host (use tcp://host:port)", host);
        goto fail;
    }
    char hostport[512];
    if (hlen >= sizeof hostport - 8) {
        cstr_fmt(err, errlen, "docker: DOCKER_HOST \"%s\": host too long", host);
        goto fail;
    }
    memcpy(hostport, rest, hlen);
    hostport[hlen] = '\0';
    for (size_t i = 0; i < hlen; i++) {
        char ch = hostport[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']' || ch == '_')) {
            cstr_fmt(err, errlen, "docker: DOCKER_HOST \"%s\": invalid character in host", host);
            goto fail;
        }
    }
    const char *verify = flags_env_get(getenv_fn, "DOCKER_TLS_VERIFY");
    const char *tls = flags_env_get(getenv_fn, "DOCKER_TLS");
    out->tls_verify = env_true(verify);
    out->tls = https || out->tls_verify || env_true(tls);
    /* the seed replicator's assumption: tcp://<ip>:2376 with certificates in DOCKER_CERT_PATH is
     * TLS (verified), even without DOCKER_TLS_VERIFY; an explicit DOCKER_TLS_VERIFY/DOCKER_TLS wins */
    const char *cp = flags_env_get(getenv_fn, "DOCKER_CERT_PATH");
    size_t hl = strlen(hostport);
    if (!out->tls && !verify && !tls && cp && *cp && hl > 5 && !strcmp(hostport + hl - 5, ":2376"))
        out->tls = out->tls_verify = 1;
    /* a port is present when the text after the last ']' (IPv6) has a ':' */
    const char *after = strrchr(hostport, ']');
    after = after ? after : hostport;
    if (!strchr(after, ':')) {
        strcat(hostport, out->tls ? ":2376" : ":2375");
    } else {
        const char *port = strrchr(hostport, ':') + 1;
        char *end;
        long p = strtol(port, &end, 10);
        if (*port == '\0' || *end != '\0' || p < 1 || p > 65535) {
            cstr_fmt(err, errlen, "docker: DOCKER_HOST \"%s\": invalid port", host);
            goto fail;
        }
    }
    size_t n = strlen(hostport) + 16;
    out->base_url = malloc(n);
    if (out->base_url)
        snprintf(out->base_url, n, "%s://%s", out->tls ? "https" : "http", hostport);
    if (out->tls) {
        const char *dir = flags_env_get(getenv_fn, "DOCKER_CERT_PATH");
        char home_dir[4096];
        if (!dir) {
            const char *home = flags_env_get(getenv_fn, "HOME");
            snprintf(home_dir, sizeof home_dir, "%s/.docker", home ? home : "");
            dir = home_dir;
        }
        out->ca_file = path_join(dir, "ca.pem");
        out->cert_file = path_join(dir, "cert.pem");
        out->key_file = path_join(dir, "key.pem");
    }
    return 0;
fail:
    docker_endpoint_clear(out);
    return -1;
}

int docker_api_version_pick(const char *v, char *buf, size_t len)
{
    if (!v)
        return -1;
    char *end;
    long major = strtol(v, &end, 10);
    if (end == v || *end != '.' || major < 0)
        return -1;
    const char *m = end + 1;
    long minor = strtol(m, &end, 10);
    if (end == m || *end != '\0' || minor < 0 || major > 1000 || minor > 100000)
        return -1;
    if (major > DOCKER_MAX_API_MAJOR || (major == DOCKER_MAX_API_MAJOR && minor > DOCKER_MAX_API_MINOR)) {
        major = DOCKER_MAX_API_MAJOR;
        minor = DOCKER_MAX_API_MINOR;
    }
    snprintf(buf, len, "%ld.%ld", major, minor);
    return 0;
}

int docker_event_since(const json_t *event, char *buf, size_t len)
{
    json_t *tn = json_object_get(event, "timeNano");
    if (json_is_integer(tn) && json_integer_value(tn) > 0) {
        long long v = (long long)json_integer_value(tn);
        snprintf(buf, len, "%lld.%09lld", v / 1000000000LL, v % 1000000000LL);
        return 0;
    }
    json_t *t = json_object_get(event, "time");
    if (json_is_integer(t) && json_integer_value(t) > 0) {
        snprintf(buf, len, "%lld.000000000", (long long)json_integer_value(t));
        return 0;
    }
    return -1;
}
