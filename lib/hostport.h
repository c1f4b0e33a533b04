/* hostport.h: the "host:port" listen-address syntax every portolan daemon accepts
 * ("127.0.0.1:8500", "[::1]:8500", ":8500" for all addresses, "name:8500").
 * Owns nothing. Promises: a bare IPv6 address without brackets and a port outside 0..65535
 * are refused. Never: resolves names or touches sockets (callers do that).
 */
#ifndef PORTOLAN_HOSTPORT_H
#define PORTOLAN_HOSTPORT_H

#include <stddef.h>

/* Splits addr into host (may come back "", meaning all addresses) and port.
 * Returns 0, or -1 when addr does not have the syntax above or host does not fit hostlen. */
int hostport_parse(const char *addr, char *host, size_t hostlen, int *port);

#endif
