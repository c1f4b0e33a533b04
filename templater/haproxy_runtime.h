/* haproxy_runtime.h: one command over an HAProxy unix socket (runtime API "stats socket" or the
 * master CLI), on libuv: connect, write "<cmd>\n", read until HAProxy closes, call back once.
 * Owns each request until its callback returns. Promises: never blocks the loop; a timeout
 * (default 5 s) or a connect error becomes status -1 with the libuv message in output. Several
 * commands may be joined with ';' (HAProxy runs them in order on one connection). */
#ifndef PORTOLAN_HAPROXY_RUNTIME_H
#define PORTOLAN_HAPROXY_RUNTIME_H
#include <stddef.h>
#include <uv.h>

/* status 0: HAProxy answered (output is its text, possibly an error message from it);
 * -1: no answer (output says why). output is borrowed for the call. */
typedef void (*haproxy_runtime_cb)(int status, const char *output, size_t len, void *data);

int haproxy_runtime_cmd(uv_loop_t *loop, const char *socket_path, const char *cmd, unsigned timeout_ms,
                        haproxy_runtime_cb cb, void *data);

/* Pure helpers over answers. */
/* "show proc" of the master: reloads and failed count of the master line; 0 or -1 unparsable. */
int haproxy_runtime_parse_proc(const char *out, long *reloads, long *failed, long *workers);
/* 1 when a runtime API answer reports an error ("No such server", "Require 'admin' level", ...):
 * HAProxy answers success with an empty line or a known phrase. */
int haproxy_runtime_answer_failed(const char *out);
#endif
