/* haproxy_check.h: what `haproxy -c` printed, as the one line a log needs. Pure.
 *
 * Owns nothing. Promises: haproxy_check_reason keeps the messages of the [ALERT] lines (HAProxy's
 * "[ALERT]    (<pid>) : " and "config : " prefixes and its generic closing lines "Error(s) found
 * in configuration file", "Fatal errors found in configuration." dropped), joined with " | ";
 * without an ALERT, the last non-empty line; bytes outside printable ASCII become '?'; the result
 * always fits buf (cut with "..."). Never: allocates or reads beyond len. */
#ifndef PORTOLAN_HAPROXY_CHECK_H
#define PORTOLAN_HAPROXY_CHECK_H
#include <stddef.h>

/* out: what the check wrote (stderr), len bytes, not necessarily NUL-terminated. Returns strlen(buf). */
size_t haproxy_check_reason(const char *out, size_t len, char *buf, size_t size);
#endif
