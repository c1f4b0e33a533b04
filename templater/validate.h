/* validate.h: what may reach an HAProxy configuration from Consul.
 * Owns nothing. Promises: pure predicates over untrusted strings (service names, tags, Meta, KV
 * values, addresses, ports); a string that passes contains no whitespace, quote, '#', '\' or
 * control character, so it can be written into haproxy.cfg verbatim. Never allocates, never logs. */
#ifndef PORTOLAN_VALIDATE_H
#define PORTOLAN_VALIDATE_H
#include <stddef.h>

/* Service name routed at /<name> (routes_service_routable): 1..200 chars of [A-Za-z0-9._-] in '/'-separated segments;
 * no empty segment, no leading/trailing '/', no "." or ".." segment. */
int validate_service_name(const char *s);
/* Host name (RFC 1123): labels [A-Za-z0-9-]{1,63}, not starting or ending with '-', total <= 253,
 * at least one label; a trailing dot is refused. */
int validate_host(const char *s);
/* HTTP check path: starts with '/', <= 200 chars of [A-Za-z0-9._~/%?=&+:@!,;-]. */
int validate_http_path(const char *s);
/* IPv4 or IPv6 literal (inet_pton); nothing else (no names, no ports, no spaces). */
int validate_ip(const char *s);
/* 1..65535. */
int validate_port(long long p);
/* HAProxy server name derived from an instance ID: 1..64 of [A-Za-z0-9._:-]. */
int validate_server_id(const char *s);
/* Decimal integer in [min, max] (no sign, no spaces, <= 18 digits). Returns 0/1, *out set on 1. */
int validate_number(const char *s, long long min, long long max, long long *out);
/* HAProxy timeout name accepted from KV (connect, client, server, queue, tunnel, check,
 * http-request, http-keep-alive, client-fin, server-fin). */
int validate_timeout_name(const char *s);
/* HAProxy time value: 1..9 digits with an optional unit us|ms|s|m|h|d, not zero (0 would turn
 * the timeout off), at most HAProxy's 2147483647 ms. */
int validate_timeout_value(const char *s);
#endif
