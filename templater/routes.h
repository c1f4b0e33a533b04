/* routes.h: the templater's model. A catalog snapshot (what Consul says) goes in, a route table
 * (what HAProxy should do) comes out, through one pure function, routes_build.
 *
 * Owns: routes_catalog_t and routes_table_t and all their strings. Promises: routes_build is a
 * pure function of (catalog, options); everything in a table has passed validate.h, so the
 * generator can print it verbatim; skipped input is reported through a callback, never silently.
 * Never: I/O (the caller logs the skip messages), or keeping pointers into the catalog. */
#ifndef PORTOLAN_ROUTES_H
#define PORTOLAN_ROUTES_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ---- input: a catalog snapshot ---- */

typedef struct {
    char *key, *value;
} routes_kv_t;

typedef struct {
    char *id;        /* Service.ID */
    char *node;      /* Node.Node */
    char *address;   /* Service.Address, or Node.Address when empty */
    long long port;
    char **tags;
    size_t ntags;
    routes_kv_t *meta;
    size_t nmeta;
    int passing;     /* every check (node and service) passing; no checks counts as passing */
} routes_instance_t;

typedef struct {
    char *name;
    routes_instance_t *inst;
    size_t ninst;
    int borrowed;    /* in a catalog: owned elsewhere (routes_catalog_borrow_service) */
    uint64_t version;/* set by a cache: same name + same non-zero version = same content */
} routes_service_t;

typedef struct {
    routes_service_t *svc;  /* any order */
    size_t nsvc;
    routes_kv_t *kv;        /* KV pairs under service/haproxy/ (full keys) */
    size_t nkv;
} routes_catalog_t;

routes_catalog_t *routes_catalog_new(void);
void routes_catalog_free(routes_catalog_t *c);
/* Adds a service from a /v1/health/service/<name> answer (an array of {Node,Service,Checks}).
 * Entries with the wrong shape are skipped. Returns 0, -1 when json is not an array. */
int routes_catalog_add_health(routes_catalog_t *c, const char *name, const json_t *health);
/* Sets the KV pairs from a /v1/kv/<prefix>?recurse answer (NULL = none). Values are base64. */
int routes_catalog_set_kv(routes_catalog_t *c, const json_t *entries);
/* A service on its own, from a /v1/health/service/<name> answer (NULL when not an array), so a
 * long-lived cache can hold converted services instead of JSON. */
routes_service_t *routes_service_from_health(const char *name, const json_t *health);
void routes_service_free(routes_service_t *s);
/* Adds s to c without copying: s must outlive c (routes_catalog_free leaves it alone). */
void routes_catalog_borrow_service(routes_catalog_t *c, const routes_service_t *s);
/* Low-level builders (tests): the strings are copied. */
routes_service_t *routes_catalog_add_service(routes_catalog_t *c, const char *name);
routes_instance_t *routes_service_add_instance(routes_service_t *s, const char *id, const char *node,
                                               const char *address, long long port, int passing);
void routes_instance_add_tag(routes_instance_t *i, const char *tag);
void routes_instance_add_meta(routes_instance_t *i, const char *key, const char *value);
void routes_catalog_add_kv(routes_catalog_t *c, const char *key, const char *value);

/* ---- output: the route table ---- */

typedef struct {
    char *name;      /* HAProxy server name, unique in its backend and stable for an instance:
                        its ID when safe (and not of the form "i" + 16 hex digits), else
                        "i<hash of node and ID>" */
    char *id;        /* the instance ID, for messages */
    char *node;      /* its node */
    char *addr;      /* IP literal */
    int port;
    int weight;      /* 1..256 (Meta "weight"), default 1 */
} routes_server_t;

typedef struct {
    char *service;   /* "hello/v1" */
    char *backend;   /* "b_hello:v1" ('/' -> ':', which names never contain) */
    char *path;      /* "/hello/v1" */
    char **hosts;    /* virtual hosts, lower case, sorted */
    size_t nhosts;
    char *check_path;/* HTTP health check path (Meta check_http) or NULL */
    routes_server_t *servers; /* passing instances carrying the tag, sorted by name */
    size_t nservers;
    /* sharing between successive tables (routes_build_from): */
    int refs;
    uint64_t version;         /* the service version it was built from (0: none) */
    size_t nhost_candidates;  /* host tags/Meta seen: such a backend depends on others (host claims) */
} routes_backend_t;

typedef struct {
    routes_backend_t **b;    /* sorted by path length, longest first, then by path; shared, refcounted */
    size_t n;
    long long maxconn;       /* KV service/haproxy/maxconn, 0 = base default */
    routes_kv_t *timeouts;   /* KV service/haproxy/timeouts/<name>, sorted by name */
    size_t ntimeouts;
} routes_table_t;

typedef struct {
    const char *tag;         /* routing tag; NULL: "rest" */
    const char *kv_prefix;   /* NULL: "service/haproxy/" */
} routes_options_t;

/* Whether a service name can be routed at all (/<name>): 1..200 chars of [A-Za-z0-9._-] in
 * '/'-separated segments, no empty, "." or ".." segment. Pure. The watcher asks it before it
 * fetches anything for a service, routes_build before it builds a backend. */
int routes_service_routable(const char *name);

/* Called once per skipped item with a message ("service \"x\\n bind\": invalid name, skipped"). */
typedef void (*routes_on_skip_cb)(const char *msg, void *data);

/* The pure core. Never NULL but on allocation failure. */
routes_table_t *routes_build(const routes_catalog_t *c, const routes_options_t *o,
                             routes_on_skip_cb on_skip, void *data);
/* Incremental form: a backend of prev whose service has the same non-zero version (and no host
 * candidates) is shared instead of rebuilt. Same result as routes_build. prev may be NULL. */
routes_table_t *routes_build_from(const routes_catalog_t *c, const routes_options_t *o,
                                  const routes_table_t *prev, routes_on_skip_cb on_skip, void *data);
/* A second table sharing t's backends (a reference for routes_build_from). */
routes_table_t *routes_table_share(const routes_table_t *t);
void routes_table_free(routes_table_t *t);
/* Finds a backend by service name (binary search is not possible: sorted by path length). */
const routes_backend_t *routes_table_find(const routes_table_t *t, const char *service);
/* JSON form for /routes: {"routes":[{"service","path","backend","hosts":[],"check":..,
 * "servers":[{"name","addr","port","weight"}]}],"maxconn":..,"timeouts":{}}. */
json_t *routes_table_json(const routes_table_t *t);
#endif
