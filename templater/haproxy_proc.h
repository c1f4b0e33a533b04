/* haproxy_proc.h: the HAProxy master process, started and supervised (or an existing one driven).
 *
 * Owns: the child process handle (when it started HAProxy), the reload in flight.
 * Promises: HAProxy runs in master-worker mode (-W -S <master socket>), in the foreground as our
 * child, so no zombie is left and two masters never stack: a master that dies is reaped and
 * restarted with backoff; stop sends SIGTERM (SIGKILL after 10 s). A reload goes through the
 * master CLI ("reload") and is confirmed with "show proc": success means the reload count rose
 * and the failed count did not. Never: reloads while a reload is in flight (the caller waits). */
#ifndef PORTOLAN_HAPROXY_PROC_H
#define PORTOLAN_HAPROXY_PROC_H
#include <uv.h>

typedef struct haproxy_proc haproxy_proc_t;

typedef struct {
    const char *bin;            /* haproxy binary (-haproxy-bin) */
    const char *config;         /* configuration file */
    const char *master_socket;  /* -S path */
    int external;               /* 1: do not start anything; drive the master on master_socket */
    int adopted;                /* with external: the master was left by an earlier run (not
                                   -master-socket): it is watched, and when it is gone (its worker
                                   died and took it down) one of ours is started in its place */
} haproxy_proc_opts_t;

typedef void (*haproxy_proc_reload_cb)(int ok, const char *msg, void *data);

haproxy_proc_t *haproxy_proc_new(uv_loop_t *loop, const haproxy_proc_opts_t *o);
/* Starts HAProxy (config must exist and be valid). No-op when external or already running. */
int haproxy_proc_start(haproxy_proc_t *p);
int haproxy_proc_running(const haproxy_proc_t *p);
/* Reload and confirm; cb once. */
void haproxy_proc_reload(haproxy_proc_t *p, haproxy_proc_reload_cb cb, void *data);
/* Reloads done / failed since start, as "show proc" reported them last. */
long haproxy_proc_reloads(const haproxy_proc_t *p);
long haproxy_proc_reload_failures(const haproxy_proc_t *p);
/* Stops a child HAProxy (SIGTERM) and calls on_stopped when it is gone (at once if none). */
void haproxy_proc_stop(haproxy_proc_t *p, void (*on_stopped)(void *data), void *data);
/* Frees (after stop, or with an external master). Handles close through uv_close. */
void haproxy_proc_free(haproxy_proc_t *p);
#endif
