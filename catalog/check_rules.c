/* check_rules.c: see check_rules.h. URLs are taken apart by libcurl's URL API (the same parser
 * the HTTP client hands them to), addresses by inet_pton; nothing here reads a resolver. */
#include "check_rules.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* RFC 9110 5.6.2 tchar */
static int is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int is_token(const char *s)
{
    if (!s || !*s)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!is_tchar(*p))
            return 0;
    return 1;
}

/* Any byte below 0x20 (HTAB too unless tab_ok) or DEL. */
static int has_control(const char *s, int tab_ok)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && !(tab_ok && *p == '\t')) || *p == 0x7f)
            return 1;
    return 0;
}

int check_rules_method(const char *method, char *err, size_t errlen)
{
    if (!method || !*method) /* absent: GET */
        return 0;
    if (!is_token(method))
        FAIL("Invalid check: Method must be an HTTP token (letters, digits or !#$%%&'*+-.^_`|~)");
    return 0;
}

int check_rules_header(const char *name, const char *value, char *err, size_t errlen)
{
    if (!is_token(name))
        FAIL("Invalid check: Header names must be HTTP tokens (letters, digits or !#$%%&'*+-.^_`|~)");
    if (value && has_control(value, 1))
        FAIL("Invalid check: Header \"%s\" has a value with a control character (CR, LF, NUL, ...)", name);
    return 0;
}

/* The port text of a URL or host:port: 1-65535, decimal digits only. */
static int parse_port(const char *s, int *port)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

/* host is "a.b.c.d" or "[v6]" (brackets required for v6). Fills ss with the port when given. */
static int ip_literal(const char *host, int port, struct sockaddr_storage *ss)
{
    struct sockaddr_storage tmp;
    if (!ss)
        ss = &tmp;
    memset(ss, 0, sizeof *ss);
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        char v6[INET6_ADDRSTRLEN + 1];
        if (n - 2 >= sizeof v6)
            return -1;
        memcpy(v6, host + 1, n - 2);
        v6[n - 2] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, v6, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -1;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return 0;
}

int check_rules_http_url(const char *url, char *err, size_t errlen)
{
    static const char want[] = "Invalid check: HTTP must be an http:// or https:// URL whose host is an IP literal "
                               "(host names are not resolved) and whose port is 1-65535";
    if (!url || !*url || has_control(url, 0) || strchr(url, ' '))
        FAIL("%s", want);
    CURLU *u = curl_url();
    if (!u)
        FAIL("Invalid check: out of memory");
    char *scheme = NULL, *host = NULL, *port = NULL, *zone = NULL;
    int rc = -1, p = 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || !scheme ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        goto out;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host)
        goto out;
    if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK && zone)
        goto out; /* fe80::1%eth0: an interface name is not an address */
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port && parse_port(port, &p) != 0)
        goto out;
    if (ip_literal(host, p, NULL) != 0)
        goto out;
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(zone);
    curl_url_cleanup(u);
    if (rc != 0)
        FAIL("%s", want);
    return 0;
}

int check_rules_hostport(const char *field, const char *target, int allow_service,
                         struct sockaddr_storage *out, char *err, size_t errlen)
{
    char buf[300];
    if (!target || strlen(target) >= sizeof buf || has_control(target, 0))
        goto bad;
    snprintf(buf, sizeof buf, "%s", target);
    char *slash = strchr(buf, '/');
    if (slash) {
        if (!allow_service)
            goto bad;
        *slash = '\0';
    }
    char *colon = strrchr(buf, ':');
    if (!colon || colon == buf)
        goto bad;
    *colon = '\0';
    int port;
    if (parse_port(colon + 1, &port) != 0 || ip_literal(buf, port, out) != 0)
        goto bad;
    return 0;
bad:
    FAIL("Invalid check: %s must be <IPv4>:<port> or [<IPv6>]:<port>%s with a port of 1-65535 "
         "(host names are not resolved)", field, allow_service ? " (optionally /<service>)" : "");
}
