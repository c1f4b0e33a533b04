/* haproxy_check.h: `haproxy -c`: running it (haproxy_check_run, a child process on a libuv loop)
 * and what it printed as the one line a log needs (haproxy_check_reason, pure).
 *
 * Owns each run until its callback returns. Promises: haproxy_check_reason keeps the messages of the [ALERT] lines (HAProxy's
 * "[ALERT]    (<pid>) : " and "config : " prefixes and its generic closing lines "Error(s) found
 * in configuration file", "Fatal errors found in configuration." dropped), joined with " | ";
 * without an ALERT, the last non-empty line; bytes outside printable ASCII become '?'; the result
 * always fits buf (cut with "..."); a run never blocks the loop. Never: haproxy_check_reason
 * allocates or reads beyond len. */
#ifndef PORTOLAN_HAPROXY_CHECK_H
#define PORTOLAN_HAPROXY_CHECK_H
#include <stddef.h>
#include <uv.h>

/* out: what the check wrote (stderr), len bytes, not necessarily NUL-terminated. Returns strlen(buf). */
size_t haproxy_check_reason(const char *out, size_t len, char *buf, size_t size);

/* ok 1: the file is valid (msg NULL); 0: refused, msg "haproxy -c rejected the new configuration
 * (exit 1): <haproxy_check_reason>" (borrowed for the call). */
typedef void (*haproxy_check_cb)(int ok, const char *msg, void *data);
/* Runs `<bin> -c -f <path>` on loop without blocking it; cb once. background 1: at nice 10 (a check
 * nothing waits for, such as rewriting the file after runtime changes, must not take the CPU
 * HAProxy's worker serves with). Returns 0, or -1 when it cannot be started (err says why; cb is
 * not called). */
int haproxy_check_run(uv_loop_t *loop, const char *bin, const char *path, int background, haproxy_check_cb cb,
                      void *data, char *err, size_t errlen);
#endif
