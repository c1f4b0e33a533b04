/* metadata.h: registrator's container metadata, SERVICE_<KEY> and SERVICE_<port>_<KEY>, read
 * from a container's env (Config.Env) and labels (Config.Labels) for one exposed port.
 *
 * Rules (shared/reference/registrator.md): only names starting "SERVICE_" count; the rest is
 * lower-cased (ASCII); a label beats an env entry of the same name; SERVICE_<port>_<KEY> applies
 * to that exposed port only (the port part must be an integer, as Go's strconv.Atoi accepts it,
 * and equal the port's text) and beats SERVICE_<KEY>; an empty value means "unset".
 * Pure: no I/O, no logging; problems are reported through a warn_list_t. Owns its copies. */
#ifndef PORTOLAN_AGENT_METADATA_H
#define PORTOLAN_AGENT_METADATA_H

#include <jansson.h>

#include "warn_list.h"

/* Consul's limits on service Meta (agent/structs: ValidateServiceMetadata). */
#define METADATA_META_MAX_PAIRS 64
#define METADATA_META_MAX_KEY 128
#define METADATA_META_MAX_VALUE 512

typedef struct metadata metadata_t;

/* env: JSON array of "K=V" strings, labels: JSON object of strings; either may be NULL or of a
 * wrong type (then ignored); entries of a wrong type are ignored. port: the exposed port as text
 * ("80"). NULL only on allocation failure. */
metadata_t *metadata_build(const json_t *env, const json_t *labels, const char *port);
void metadata_free(metadata_t *m);

/* Value of a lower-case key ("name", "check_http"), or NULL when unset. Borrowed. */
const char *metadata_get(const metadata_t *m, const char *key);
/* 1 when the key's value came from a SERVICE_<port>_<KEY> entry. */
int metadata_from_port(const metadata_t *m, const char *key);
/* Every key -> value (a JSON object of strings), borrowed. */
const json_t *metadata_all(const metadata_t *m);

/* Consul's rule for one Meta pair. Returns NULL when valid, else the reason as Consul words it. */
const char *metadata_meta_pair_invalid(const char *key, const char *value);

/* The Consul Meta object for a service: every key except id, name, tags and ignore, as
 * registrator sends it, minus the pairs Consul would reject (each reported in w with its reason;
 * the service still registers). Keys are taken in sorted order, so the 64-pair limit drops the
 * same keys every time. Returns a new object (never NULL but on allocation failure). */
json_t *metadata_consul_meta(const metadata_t *m, warn_list_t *w);

/* Splits a registrator tag list into arr: comma-separated, "\," is a literal comma, empty items
 * dropped, order kept. s may be NULL. */
void metadata_tags_append(json_t *arr, const char *s);

/* A plain (non-SERVICE_) setting such as nginx-proxy's VIRTUAL_HOST: the label of that exact
 * name, else the env entry, else NULL; empty = unset. Borrowed from env/labels. */
const char *metadata_plain(const json_t *env, const json_t *labels, const char *name);

#endif
