/* cleanup.h: which services in Consul's /v1/agent/services this node registered earlier and no
 * longer wants (-cleanup). A service is ours when its ID matches registrator's pattern
 * ^(.+?):([a-zA-Z0-9][a-zA-Z0-9_.-]+):[0-9]+(?::udp)?$ and the first group is this node's ID.
 * Pure. */
#ifndef PORTOLAN_AGENT_CLEANUP_H
#define PORTOLAN_AGENT_CLEANUP_H

#include <stddef.h>

/* Splits a service ID by registrator's pattern (the host part is the shortest that lets the rest
 * match). Returns 1 and fills the lengths/offsets when it matches, else 0. host = id[0..host_len),
 * container name = id[name_off .. name_off+name_len). */
int cleanup_parse_id(const char *id, size_t *host_len, size_t *name_off, size_t *name_len);

/* 1 when the ID matches the pattern with host part == node. */
int cleanup_is_ours(const char *id, const char *node);

#endif
