/* dns.h: the catalog's DNS interface as a pure function: one query packet (wire format) and
 * the store in, one answer packet out, as a single-node Consul agent answers in its domain
 * (default "consul."):
 *
 *   <service>.service[.<dc>].<domain>           A/AAAA (SRV with an SRV question)
 *   <tag>.<service>.service[.<dc>].<domain>     the same, instances with that tag
 *   _<service>._<tag>.service[.<dc>].<domain>   RFC 2782 (_tcp: no tag filter); "service." may be
 *                                               left out for SRV questions
 *   <node>.node[.<dc>].<domain>                 the node's address
 *   <hex ip>.addr[.<dc>].<domain>               SRV targets of services with their own address
 *   SOA / NS of anything in the domain; PTR of the node's and services' addresses.
 *
 * Names that are not DNS labels: a label matches a service whose name equals it (ASCII case
 * ignored) and, when none does, every service whose dns_label() equals it: `hello/v1` is
 * `hello-v1.service.consul` (see docs/catalog.md for collisions).
 *
 * Owns nothing; the answer buffer is the caller's to free. Wire format is libldns' (parsing
 * and writing), never hand-made. No sockets, clocks or randomness of its own: the time (SOA
 * serial) and the random source (answer order) come in with the query.
 */
#ifndef PORTOLAN_CATALOG_DNS_H
#define PORTOLAN_CATALOG_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct {
    const char *domain;        /* "consul" (a trailing dot is allowed); NULL: "consul" */
    uint32_t service_ttl;      /* seconds, Consul's default 0 */
    uint32_t node_ttl;         /* seconds, default 0 */
    int only_passing;          /* 1: warning instances are left out too (critical always are) */
    int udp_answer_limit;      /* answers in a UDP reply to a query without EDNS; Consul: 3 */
    int enable_truncate;       /* set TC when answers were cut (Consul's dns_config.enable_truncate) */
} dns_config_t;

typedef struct {
    const uint8_t *wire; size_t len;
    int tcp;                   /* came over TCP: no UDP size limit (64 KiB) */
    uint32_t now_s;            /* SOA serial */
    uint32_t (*rand)(void *ctx);
    void *rand_ctx;
} dns_query_t;

/* Answers q. Returns 0 with *out (malloc'd) and *outlen set, or -1 when nothing must be sent
 * (the packet is a response, or too short to carry a query ID). */
int dns_answer(const dns_config_t *cfg, const catalog_store_t *s, const dns_query_t *q, uint8_t **out,
               size_t *outlen);

/* The DNS label a service, tag or node name is answered under: ASCII letters lower-cased, every
 * byte other than a-z, 0-9 and '-' becomes '-'. Returns the length, or -1 when the result would
 * not be a label (empty, or longer than 63 bytes). out must hold 64 bytes. */
int dns_label(const char *name, char out[64]);

#endif
