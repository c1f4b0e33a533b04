/* validate.c: the allow-lists that keep Consul data from injecting HAProxy configuration.
 * Everything is an allow-list of characters plus a length bound; nothing is "escaped", because
 * a value that needs escaping is not a value portolan routes. See validate.h. */
#include "validate.h"

#include <arpa/inet.h>
#include <string.h>

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int validate_service_name(const char *s)
{
    if (!s) return 0;
    size_t n = strlen(s);
    if (n == 0 || n > 200) return 0;
    size_t seg = 0;            /* length of the current segment */
    size_t segstart = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '/' || c == '\0') {
            if (seg == 0) return 0;
            if (seg == 1 && s[segstart] == '.') return 0;
            if (seg == 2 && s[segstart] == '.' && s[segstart + 1] == '.') return 0;
            seg = 0;
            segstart = i + 1;
            continue;
        }
        if (!(is_alnum(c) || c == '.' || c == '_' || c == '-')) return 0;
        seg++;
    }
    return 1;
}

int validate_host(const char *s)
{
    if (!s) return 0;
    size_t n = strlen(s);
    if (n == 0 || n > 253) return 0;
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63) return 0;
            if (s[i - 1] == '-' || s[i - label] == '-') return 0;
            label = 0;
            continue;
        }
        if (!(is_alnum(c) || c == '-')) return 0;
        label++;
    }
    return 1;
}

int validate_http_path(const char *s)
{
    if (!s || s[0] != '/') return 0;
    size_t n = strlen(s);
    if (n > 200) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_alnum(c) || strchr("._~/%?=&+:@!,;-", c)) continue;
        return 0;
    }
    return 1;
}

int validate_ip(const char *s)
{
    if (!s || !*s || strlen(s) > 45) return 0;
    unsigned char buf[16];
    if (strchr(s, '%')) return 0; /* zone ids: not an address HAProxy config takes verbatim */
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int validate_port(long long p) { return p >= 1 && p <= 65535; }

int validate_server_id(const char *s)
{
    if (!s) return 0;
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(is_alnum(s[i]) || s[i] == '.' || s[i] == '_' || s[i] == ':' || s[i] == '-')) return 0;
    return 1;
}

int validate_number(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s) return 0;
    size_t n = strlen(s);
    if (n > 18) return 0;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max) return 0;
    if (out) *out = v;
    return 1;
}

int validate_timeout_name(const char *s)
{
    static const char *const names[] = { "connect", "client", "server", "queue", "tunnel", "check",
        "http-request", "http-keep-alive", "client-fin", "server-fin" };
    if (!s) return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) return 1;
    return 0;
}

/* HAProxy keeps timers in milliseconds in a signed 32-bit int: a longer timeout is refused by
 * `haproxy -c` ("timer overflow"), which would block every later configuration. */
#define HAPROXY_TIMER_MAX_MS 2147483647LL

int validate_timeout_value(const char *s)
{
    if (!s) return 0;
    size_t d = 0;
    long long v = 0;
    while (s[d] >= '0' && s[d] <= '9') v = v * 10 + (s[d++] - '0');
    if (d == 0 || d > 9) return 0;
    if (v == 0) return 0; /* HAProxy reads a zero timeout as "no timeout": never from KV */
    const char *u = s + d;
    long long ms;
    if (!strcmp(u, "us")) ms = (v + 999) / 1000;
    else if (!*u || !strcmp(u, "ms")) ms = v;
    else if (!strcmp(u, "s")) ms = v * 1000;
    else if (!strcmp(u, "m")) ms = v * 60000;
    else if (!strcmp(u, "h")) ms = v * 3600000;
    else if (!strcmp(u, "d")) ms = v * 86400000;
    else return 0;
    return ms <= HAPROXY_TIMER_MAX_MS;
}
