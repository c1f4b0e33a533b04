/* template.h: portolan's consul-template-compatible template engine (public API).
 * Owns: parsing a template (Go text/template syntax, the subset HAProxy templates use) and
 * rendering it against data from a dependency provider. Promises: pure: no sockets, no files,
 * no clocks except through the provider/options; output byte-identical to Go text/template +
 * consul-template for the supported subset; hostile templates are bounded (nesting depth,
 * evaluation steps, output size, memory held) and reported as errors, never crashes or
 * shortened output.
 * Never: fetches data itself. The daemon implements template_provider with its Consul data.
 *
 * Rendering model (consul-template's): render once; every data function (services, service,
 * key, keyOrDefault, keyExists, ls, tree) records a dependency. When the provider does not have
 * the data yet (returns TEMPLATE_DATA_UNKNOWN) the function yields an empty value, the
 * dependency is marked missing and the result is incomplete (complete = 0). The caller then
 * fetches the missing dependencies and renders again; only a complete result should be written
 * out. `key` of a key that does not exist also makes the render incomplete (it blocks until the
 * key exists); keyOrDefault, keyExists, ls and tree never block on absent keys. */
#ifndef PORTOLAN_TEMPLATE_H
#define PORTOLAN_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

typedef struct template_t template_t;

/* Parses text. name appears in error messages ("template: NAME:LINE: ..."), as Go's.
 * Returns NULL with *err (malloc'd, free it) on a syntax error. */
template_t *template_new(const char *name, const char *text, size_t len, char **err);
void template_free(template_t *t);
const char *template_name(const template_t *t);

/* ---- data handed over by the provider (borrowed for the duration of one call) ---- */

typedef struct {
	const char *name;
	const char *const *tags;
	size_t ntags;
} template_catalog_service;

typedef struct {
	const char *key, *value;
} template_meta;

/* One instance as /v1/health/service/<name> reports it. */
typedef struct {
	const char *node;         /* node name */
	const char *node_address; /* node address */
	const char *address;      /* service address; "" or NULL: falls back to node_address */
	int port;
	const char *id;
	const char *name;
	const char *const *tags;
	size_t ntags;
	const char *status;       /* aggregated checks: passing, warning, critical, maintenance */
	const template_meta *meta;
	size_t nmeta;
	/* optional (zero/NULL when unknown), as consul-template exposes them */
	const char *node_id, *node_datacenter, *kind, *namespace_;
	const template_meta *node_meta;
	size_t nnode_meta;
	const template_meta *node_tagged_addresses;
	size_t nnode_tagged_addresses;
	int weight_passing, weight_warning; /* Service.Weights */
} template_instance;

typedef struct {
	const char *key;          /* full key, as Consul's /v1/kv/<prefix>?recurse lists it */
	const char *value;
	size_t value_len;
} template_kv_pair;

enum {
	TEMPLATE_DATA_UNKNOWN = -1, /* not fetched yet: the render becomes incomplete */
	TEMPLATE_DATA_ABSENT = 0,   /* kv_get: fetched, the key does not exist */
	TEMPLATE_DATA_OK = 1,
};

/* What the daemon implements. Every callback may be NULL (= TEMPLATE_DATA_UNKNOWN). The
 * arrays/strings returned must stay valid until template_render returns. */
typedef struct {
	void *ctx;
	/* /v1/catalog/services: every service and its tags (any order; the engine sorts). */
	int (*services)(void *ctx, const template_catalog_service **out, size_t *n);
	/* /v1/health/service/<name>: ALL instances of that service with their status; the engine
	 * applies the template's tag and status filters, sorting and the address fallback. A
	 * service that does not exist is TEMPLATE_DATA_OK with n = 0. */
	int (*service)(void *ctx, const char *name, const template_instance **out, size_t *n);
	/* /v1/kv/<key>: OK with the value, ABSENT, or UNKNOWN. */
	int (*kv_get)(void *ctx, const char *key, const char **value, size_t *len);
	/* /v1/kv/<prefix>?recurse: every pair whose key starts with prefix, sorted by key. */
	int (*kv_list)(void *ctx, const char *prefix, const template_kv_pair **out, size_t *n);
	/* env "NAME": NULL means unset (then getenv is NOT consulted: the provider decides). */
	const char *(*env)(void *ctx, const char *name);
} template_provider;

/* ---- rendering ---- */

typedef enum {
	TEMPLATE_DEP_SERVICES, /* catalog services list (name unused: "") */
	TEMPLATE_DEP_SERVICE,  /* health of one service: name is the bare service name */
	TEMPLATE_DEP_KEY,      /* one KV key */
	TEMPLATE_DEP_PREFIX,   /* a KV prefix (ls, tree) */
} template_dep_kind;

typedef struct {
	template_dep_kind kind;
	char *name;
	int missing; /* the provider did not have it (or `key` of an absent key) */
} template_dep;

/* Default memory budget of one render: 256 MiB (docs/template.md "Limits"). */
#define TEMPLATE_MAX_MEMORY_DEFAULT ((size_t)256 << 20)

typedef struct {
	size_t max_output;   /* bytes; 0: 64 MiB */
	size_t max_memory;   /* bytes held at once by values, temporaries and output together;
	                        0: TEMPLATE_MAX_MEMORY_DEFAULT. Past it (or when malloc fails) the
	                        render fails with an error, never a shortened result */
	long long max_steps; /* evaluation steps; 0: 50,000,000 */
	time_t now;          /* clock for `timestamp`; 0: time(NULL) */
} template_options;

typedef struct {
	char *output;        /* rendered bytes (NUL-terminated for convenience) */
	size_t len;
	int complete;        /* no dependency missing */
	template_dep *deps;  /* every dependency the template used, in first-use order */
	size_t ndeps;
	char *error;         /* set when template_render returns -1 */
} template_result;

/* Renders t. Returns 0 (result filled; check complete) or -1 (result->error set). On -1 the
 * dependencies are still reported: when complete is 0 the error may come from data not fetched
 * yet (`index (service "x") 0` on an empty first pass): fetch the missing dependencies and render
 * again; only an error with complete = 1 is the template's fault. Error example:
 * "template: haproxy.ctmpl:12:5: executing \"haproxy.ctmpl\" at <.Foo>: can't evaluate field
 * Foo in type *dependency.HealthService"). opts may be NULL. Always free the result. */
int template_render(const template_t *t, const template_provider *p, const template_options *opts,
	template_result *result);
void template_result_free(template_result *result);

/* ---- a provider backed by a static JSON snapshot (tests, CLI tools) ----
 * {"nodes": {"n1": "10.0.0.1"},
 *  "services": [{"Node": "n1", "Address": "", "Port": 8080, "ID": "web-1", "Name": "web",
 *                "Tags": ["rest"], "Status": "passing", "Meta": {"k": "v"},
 *                optional: "NodeID", "Datacenter", "Kind", "Namespace", "NodeMeta": {},
 *                "TaggedAddresses": {}, "Weights": {"Passing": 1, "Warning": 1}}],
 *  "kv": {"service/haproxy/maxconn": "512"},
 *  "env": {"HOME": "/root"},
 *  "now": 1700000000,
 *  "missing": ["service:web", "key:a/b", "prefix:x/", "services"]}
 * The catalog services list is derived from the instances (tags merged, deduplicated).
 * "missing" lists dependencies the snapshot pretends not to have fetched yet. */
typedef struct template_snapshot template_snapshot;
template_snapshot *template_snapshot_load(const char *path, char **err);
template_snapshot *template_snapshot_parse(const char *json, size_t len, char **err);
void template_snapshot_free(template_snapshot *s);
/* Fills p with callbacks over s (valid while s lives). */
void template_snapshot_provider(template_snapshot *s, template_provider *p);
/* The snapshot's "now" (0 when absent). */
time_t template_snapshot_now(const template_snapshot *s);

/* ---- a provider fed with Consul API answers (what the daemon uses) ----
 * The daemon fetches from Consul and hands the decoded JSON (borrowed; copied) to the store;
 * anything never set is TEMPLATE_DATA_UNKNOWN (the render reports it missing). Each setter
 * returns 0, or -1 when the answer has the wrong shape (the previous data is kept). */
typedef struct template_store template_store;
template_store *template_store_new(void);
void template_store_free(template_store *s);
/* /v1/catalog/services: {"name": ["tag", ...]} */
int template_store_set_services(template_store *s, const json_t *catalog);
/* /v1/health/service/<name> (without ?passing: all instances): [{Node, Service, Checks}];
 * NULL = no such service (no instances). Status is Consul's aggregated check status. */
int template_store_set_service(template_store *s, const char *name, const json_t *health);
/* Makes a service unknown again (e.g. to stop holding data nobody renders). */
void template_store_forget_service(template_store *s, const char *name);
/* /v1/kv/<key>: the answer array, or NULL for a 404 (the key does not exist). */
int template_store_set_key(template_store *s, const char *key, const json_t *entries);
/* /v1/kv/<prefix>?recurse: the answer array, or NULL for a 404 (nothing under it). */
int template_store_set_prefix(template_store *s, const char *prefix, const json_t *entries);
/* Where `env` looks (NULL: every variable unset). */
void template_store_set_env(template_store *s, const char *(*getenv_fn)(const char *));
void template_store_provider(template_store *s, template_provider *p);

#endif
