/* dataplane.h: routing through HAProxy maps and a pool of pre-created backends (-routing maps).
 * Pure: no I/O; apply.c carries out what it decides.
 *
 * The frontend looks the request up in two maps: the host map (Host header -> backend) and the
 * path map (looked up with map_beg on the path with a '/' appended, keys "/<name>/": the longest
 * prefix wins, "/hello/v1" and "/hello/v1/..." match, "/hello/v10" never does). A third map, the
 * prefix map (backend -> "/<name>"), tells a backend which prefix to strip. A route without a
 * health check runs in a pool backend "p<depth>_<n>" (depth = segments of the name: the strip
 * rule needs it as a constant); a route with one (Meta check_http: `option httpchk` cannot be
 * set at run time) gets its own backend, b_<name>, which costs a reload. A pool backend a route
 * left is "dirty" (it may still hold draining servers) and is handed out again only after a
 * reload has rebuilt it empty.
 *
 * Owns: layouts (which route runs in which backend, pool sizes) and plans. Promises:
 * dataplane_plan is a pure function of (table HAProxy runs, its layout, next table, options):
 * either "reload, because ..." with the layout the new configuration is rendered on, or the map
 * and server operations that move HAProxy to the next table without one; the map texts are a pure
 * function of (table, layout), so files on disk and HAProxy's memory agree after either path.
 * Never: reuses a dirty backend, or routes a new path before its servers are added. */
#ifndef PORTOLAN_DATAPLANE_H
#define PORTOLAN_DATAPLANE_H
#include <stddef.h>
#include "diff.h"
#include "routes.h"

#define DATAPLANE_MAX_DEPTH 100  /* a valid name (<= 200 chars) has at most 100 segments */

enum { DATAPLANE_PATHS, DATAPLANE_HOSTS, DATAPLANE_PREFIX, DATAPLANE_NMAPS };

typedef struct {
    char *service;
    char *backend;   /* "p<depth>_<n>" or the route's own b_<name> */
    int depth;
    int index;       /* pool index; -1: own backend */
} dataplane_slot_t;

typedef enum { DATAPLANE_FREE = 0, DATAPLANE_USED = 1, DATAPLANE_DIRTY = 2 } dataplane_state_t;

typedef struct {
    size_t size[DATAPLANE_MAX_DEPTH + 1];           /* pool backends per depth in the configuration */
    unsigned char *state[DATAPLANE_MAX_DEPTH + 1];  /* dataplane_state_t per pool backend */
    dataplane_slot_t *slots;                        /* one per route, sorted by service */
    size_t nslots;
} dataplane_layout_t;

typedef struct {
    size_t spare;        /* free pool backends per depth after a reload; 0: 64 */
    int pre_depth;       /* depths 1..pre_depth always have a pool; 0: 4 */
} dataplane_opts_t;

typedef enum { DATAPLANE_MAP_DEL, DATAPLANE_MAP_ADD } dataplane_map_kind_t;

typedef struct {
    dataplane_map_kind_t kind;
    int map;             /* DATAPLANE_PATHS, _HOSTS, _PREFIX */
    char *key, *value;   /* value NULL for a delete */
} dataplane_map_op_t;

typedef struct {
    diff_op_kind_t kind;
    const char *backend; /* HAProxy backend name (points into the plan's layout) */
    const routes_backend_t *b;
    const routes_server_t *s;
} dataplane_srv_op_t;

typedef struct {
    int reload;                  /* 1: render on layout and reload; the op lists are empty */
    char reason[256];
    dataplane_layout_t *layout;  /* the layout after this plan (owned; take it with NULLing) */
    dataplane_srv_op_t *add;     /* servers of new routes: before the maps that route to them */
    size_t nadd;
    dataplane_map_op_t *maps;    /* deletes first, then adds */
    size_t nmaps;
    dataplane_srv_op_t *ops;     /* server changes of kept routes, removals of dropped routes */
    size_t nops;
    dataplane_slot_t *dropped;   /* the backends of removed routes (named by ops) */
    size_t ndropped;
} dataplane_plan_t;

/* Depth of a service name: its number of '/'-separated segments. */
int dataplane_depth(const char *service);
/* A layout for a configuration that will be loaded by a reload: routes of prev keep their
 * backends where they still fit, dirty ones become free, new routes take the lowest free ones,
 * each pool keeps at least `spare` free backends (pools never shrink). prev may be NULL. */
dataplane_layout_t *dataplane_layout_build(const dataplane_layout_t *prev, const routes_table_t *t,
                                           const dataplane_opts_t *o);
/* The pooled part of a layout read back from a prefix map file ("p<d>_<n> /<name>" lines) that
 * an earlier run left, so a restarted templater puts every route back in the backend it had: a
 * hint for dataplane_layout_build (prev). The file is checked like any input: a line whose name
 * fails validate.h, whose depth does not match, or that repeats a name or backend is ignored
 * (*ignored counts them). Never NULL but on allocation failure. */
dataplane_layout_t *dataplane_layout_parse_prefix(const char *text, size_t *ignored);
dataplane_layout_t *dataplane_layout_copy(const dataplane_layout_t *l);
void dataplane_layout_free(dataplane_layout_t *l);
const dataplane_slot_t *dataplane_layout_find(const dataplane_layout_t *l, const char *service);

/* old/lay: what HAProxy runs. old NULL: nothing yet -> reload, with lay (may be NULL) as the
 * hint of dataplane_layout_build. */
void dataplane_plan(const routes_table_t *old, const dataplane_layout_t *lay, const routes_table_t *nw,
                    const dataplane_opts_t *o, dataplane_plan_t *out);
void dataplane_plan_clear(dataplane_plan_t *p);
/* The plan's layout, now the caller's (NULL after). */
dataplane_layout_t *dataplane_plan_take_layout(dataplane_plan_t *p);

/* The text of one map file for (t, l): "key value\n" lines. malloc'd. */
char *dataplane_map_render(const routes_table_t *t, const dataplane_layout_t *l, int map);
#endif
