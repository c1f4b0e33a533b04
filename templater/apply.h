/* apply.h: route tables in, HAProxy changed out (the effects edge of the templater).
 *
 * Owns: the table HAProxy runs (applied), the newest wanted one (desired), the config file and
 * its last good content, the debounce timers. Promises:
 *  - every configuration is checked with `haproxy -c` before it replaces the file (atomic rename
 *    of <config>.tmp); an invalid one is logged and never installed;
 *  - server-only changes go through the runtime API (add server + ready [+ enable health],
 *    set server addr, set weight, drain -> maint -> del server) with no reload, and the config
 *    file is rewritten too, so a later reload keeps them;
 *  - route changes reload through haproxy_proc and are confirmed; a failed reload puts the last
 *    good file back (HAProxy keeps serving with its old worker); until this run has installed one,
 *    the last good file is the one found at config_path at start (what HAProxy serves meanwhile);
 *  - one change in flight at a time; updates arriving meanwhile are coalesced to the newest;
 *    one write of the file at a time (a reload waits for the rewrite after a runtime batch);
 *  - -routing maps: a new route, a removed one, a host added or moved is map edits + server
 *    commands over the runtime API (dataplane.h decides), no reload; map files are written with
 *    the configuration (same check, same rollback), so a reload or restart loads what was live;
 *  - -wait min:max: consul-template quiescence (timer min, reset by each update, never past max)
 *    for updates that need a reload; one the runtime API can carry is applied at once.
 * Never: blocks the loop on HAProxy (all exchanges are asynchronous; file writes are local). */
#ifndef PORTOLAN_APPLY_H
#define PORTOLAN_APPLY_H
#include <stdint.h>
#include <uv.h>

#include "dataplane.h"
#include "haproxy_cfg.h"
#include "haproxy_proc.h"
#include "routes.h"

typedef struct apply apply_t;

typedef struct {
    const char *config_path;
    const char *haproxy_bin;     /* for `-c` */
    haproxy_cfg_opts_t cfg;
    haproxy_proc_t *proc;        /* NULL: only write the file */
    const char *admin_socket;    /* runtime API */
    int runtime;                 /* 1: runtime API for server changes; 0: reload every change */
    int dry;                     /* print "> path" + config to stdout instead of writing */
    int skip_check;              /* do not run haproxy -c (no HAProxy installed, -dry) */
    uint64_t wait_min_ms, wait_max_ms;
    int maps;                    /* 1: -routing maps (dataplane.h; cfg.maps names the files) */
    dataplane_opts_t pool;
} apply_opts_t;

typedef struct {
    uint64_t renders, reloads, reload_failures, runtime_changes, runtime_ops, runtime_failures,
             check_failures, writes, map_ops, undebounced;
    uint64_t last_apply_ms;      /* duration of the last apply (update -> HAProxy changed) */
    double last_render_ms;       /* haproxy_cfg_render of the last config */
    size_t last_config_bytes;
} apply_stats_t;

apply_t *apply_new(uv_loop_t *loop, const apply_opts_t *o);
/* Takes ownership of t. */
void apply_update(apply_t *a, routes_table_t *t);
/* Replaces the base configuration (copied). The next job is a reload rendered on it, validated
 * with haproxy -c first like any; if that job fails the new base is dropped and HAProxy's stays.
 * 0, or -1 when out of memory. */
int apply_set_base(apply_t *a, const char *base);
/* The table HAProxy runs now (NULL before the first apply). Borrowed. */
const routes_table_t *apply_current(const apply_t *a);
/* -routing maps: the HAProxy backend the applied route of service runs in; NULL otherwise. */
const char *apply_backend_of(const apply_t *a, const char *service);
/* 1 when nothing is pending or in flight and something has been applied. */
int apply_idle(const apply_t *a);
/* Called each time apply becomes idle (for -once). */
void apply_on_idle(apply_t *a, void (*cb)(void *data), void *data);
void apply_stats(const apply_t *a, apply_stats_t *out);
/* 1 while a change is being carried out (a check, a reload, runtime commands, a background
 * write of the files): apply_free must then wait, as their callbacks still use a. */
int apply_busy(const apply_t *a);
void apply_free(apply_t *a);
#endif
