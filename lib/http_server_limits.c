/* http_server_limits.c: the HTTP server's limits: option defaults, and how many connections each
 * client address has open.
 *
 * Owns: the per-IP table (srv->ips, a lib/strmap.h of address -> count, an entry removed when
 * its count drops to zero) and the throttle of the "refusing more with 429" log line.
 * Promises: a zero option means its default; an address never holds more than max_conns_per_ip
 * counted connections; the refusal line appears at most once a second however hard a client
 * floods. The header and body limits are enforced where the bytes are seen, in the parser
 * callbacks of http_server_request.c; the per-IP check runs on accept (http_server_conn.c).
 * Never: closes or answers a connection itself, or fails closed on an allocation failure (the
 * limit is a courtesy, not a security boundary).
 */
#include "http_server_internal.h"
#include "log.h"
#include "strmap.h"

#include <stdint.h>
#include <stdio.h>

#define DEF_MAX_HEADER (64 * 1024)
#define DEF_MAX_BODY (512 * 1024)
#define DEF_MAX_CONNS_PER_IP 200
#define DEF_HEADER_TIMEOUT_MS 10000
#define DEF_IDLE_TIMEOUT_MS 120000

/* Returns 1 if the address may open one more connection (and counts it), else 0. The count is
 * the value itself (lib/strmap.h, address -> count); an address with no connection has no entry. */
int http_server_ip_acquire(http_server_t *srv, const char *ip) {
    if (!srv->ips && !(srv->ips = strmap_new())) return 1; /* fail open on OOM: a courtesy limit */
    uintptr_t count = (uintptr_t)strmap_get(srv->ips, ip);
    if (count >= srv->opts.max_conns_per_ip) return 0;
    if (strmap_put(srv->ips, ip, (void *)(count + 1)) < 0) return 1; /* fail open, uncounted */
    return 2;
}

void http_server_ip_release(http_server_t *srv, const char *ip) {
    uintptr_t count = srv->ips ? (uintptr_t)strmap_get(srv->ips, ip) : 0;
    if (count > 1) strmap_put(srv->ips, ip, (void *)(count - 1)); /* replaces: no allocation */
    else if (count == 1) strmap_del(srv->ips, ip);
}

/* A connection over the limit (answered 429 by the caller): at most one log line a second
 * however hard a client floods. */
void http_server_ip_refused(http_server_t *srv, const char *ip) {
    srv->refused++;
    uint64_t now = uv_now(srv->loop);
    if (srv->refused_logged_at == 0 || now - srv->refused_logged_at >= 1000) {
        log_warn("http_server: %s has %u connections open; refusing more with 429 (%lu refused)", ip,
                 srv->opts.max_conns_per_ip, srv->refused);
        srv->refused_logged_at = now ? now : 1;
        srv->refused = 0;
    }
}

void http_server_ips_free(http_server_t *srv) {
    strmap_free(srv->ips);
    srv->ips = NULL;
}

/* Fills o from in (NULL: all defaults). http-parser's own header limit is process-wide; it is
 * raised when max_header needs more room than its default. */
void http_server_opts_defaults(http_server_opts_t *o, const http_server_opts_t *in) {
    if (in) *o = *in;
    else memset(o, 0, sizeof *o);
    if (!o->max_header) o->max_header = DEF_MAX_HEADER;
    if (!o->max_body) o->max_body = DEF_MAX_BODY;
    if (!o->max_conns_per_ip) o->max_conns_per_ip = DEF_MAX_CONNS_PER_IP;
    if (!o->header_timeout_ms) o->header_timeout_ms = DEF_HEADER_TIMEOUT_MS;
    if (!o->idle_timeout_ms) o->idle_timeout_ms = DEF_IDLE_TIMEOUT_MS;
    if (o->max_header + 4096 > HTTP_MAX_HEADER_SIZE && o->max_header < 0x7fff0000u)
        http_parser_set_max_header_size((uint32_t)(o->max_header + 4096));
}
