/* hostport.c: see hostport.h. */
#include "hostport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int hostport_parse(const char *addr, char *host, size_t hostlen, int *port)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':') return -1;
        size_t n = (size_t)(rb - addr - 1);
        if (n >= hostlen) return -1;
        memcpy(host, addr + 1, n);
        host[n] = '\0';
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) return -1;
        size_t n = (size_t)(colon - addr);
        if (n >= hostlen) return -1;
        memcpy(host, addr, n);
        host[n] = '\0';
        if (strchr(host, ':')) return -1; /* bare IPv6 needs brackets */
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || errno || p < 0 || p > 65535) return -1;
    *port = (int)p;
    return 0;
}
