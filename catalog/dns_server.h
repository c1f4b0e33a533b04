/* dns_server.h: the sockets of the catalog's DNS interface: one UDP socket and one TCP
 * listener on the same address (RFC 1035 4.2: TCP messages carry a two-byte length), each
 * query answered by dns_answer() against the store as it is at that moment.
 *
 * Owns its handles and TCP connections; borrows the store (close this server before the store
 * is freed). Never blocks the loop; a TCP connection idle for 10 s, or sending a message over
 * 64 KiB, is closed; at most 256 TCP connections at once (more are closed on accept).
 */
#ifndef PORTOLAN_CATALOG_DNS_SERVER_H
#define PORTOLAN_CATALOG_DNS_SERVER_H

#include <uv.h>

#include "dns.h"
#include "store.h"

typedef struct dns_server dns_server_t;

/* addr: "127.0.0.1:8600", "[::1]:8600", ":8600" (all addresses); IP literals only. cfg is
 * copied (its domain string too). NULL with err on failure. */
dns_server_t *dns_server_new(uv_loop_t *loop, const catalog_store_t *store, const dns_config_t *cfg,
                             const char *addr, char *err, size_t errlen);
/* The UDP port bound (useful with port 0). */
int dns_server_port(const dns_server_t *d);
/* Closes every handle; the memory goes once libuv has released them. NULL is a no-op. */
void dns_server_close(dns_server_t *d);

#endif
