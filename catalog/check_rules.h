/* check_rules.h: what a check definition may ask the catalog to send onto the network. The
 * catalog runs HTTP, TCP and gRPC checks itself, so a registration decides the bytes of a request
 * and the address they go to; these rules keep both inside what the definition claims to be:
 *   - Method is an HTTP token (RFC 9110 tchar), so it cannot carry CR/LF or a second request line;
 *   - Header names are tokens and values hold no CR, LF, NUL or other control byte (HTAB allowed);
 *   - HTTP is an http:// or https:// URL, parsed with libcurl's URL API, whose host is an IP
 *     literal (IPv4 dotted quad or [IPv6]) and whose port, when given, is 1-65535;
 *   - TCP and GRPC are <IPv4>:<port> or [<IPv6>]:<port> (GRPC may add /<service>), port 1-65535.
 * Host names are never resolved: a name would make the catalog's probes depend on (and leak to)
 * whatever the resolver answers. Pure: no I/O, no DNS, no logging. Each validator returns 0, or -1
 * with a message in err that never repeats the offending bytes (they may be control bytes). */
#ifndef PORTOLAN_CATALOG_CHECK_RULES_H
#define PORTOLAN_CATALOG_CHECK_RULES_H

#include <stddef.h>
#include <sys/socket.h>

int check_rules_method(const char *method, char *err, size_t errlen);
int check_rules_header(const char *name, const char *value, char *err, size_t errlen);
int check_rules_http_url(const char *url, char *err, size_t errlen);

/* field names the message ("TCP", "GRPC"). On success fills *out (port in network order) when
 * out is not NULL. A GRPC target's "/service" suffix is allowed only when allow_service is set. */
int check_rules_hostport(const char *field, const char *target, int allow_service,
                         struct sockaddr_storage *out, char *err, size_t errlen);

#endif
