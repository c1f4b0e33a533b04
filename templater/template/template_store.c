/* template_store.c: a template_provider fed with Consul API answers, for the templater daemon.
 * Owns: copies of the last catalog services list, per-service health answers, KV keys and KV
 * prefixes, indexed by name (lib/strmap.h), and the conversion from Consul's JSON shapes to the
 * engine's: /v1/catalog/services {"name":["tag"]}; /v1/health/service/<name>
 * [{Node{Node,Address},Service{ID,Service,Tags,Address,Port,Meta},Checks[{CheckID,Status}]}]
 * with Consul's aggregated status (maintenance > critical > warning > passing); /v1/kv answers
 * (base64 Value). Promises: malformed answers are rejected whole (-1) and leave the previous data;
 * odd fields inside a valid answer are skipped or emptied, never trusted.
 * Never: does I/O; the daemon fetches and calls template_store_set_*. */
#include "template.h"
#include "consul_client.h" /* consul_kv_value: base64 decoding of KV values */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	template_instance *inst;
	size_t n;
} svc_entry;

typedef struct {
	char *value; /* NULL: absent */
	size_t len;
} key_entry;

typedef struct {
	template_kv_pair *pairs;
	size_t n;
} prefix_entry;

struct template_store {
	template_catalog_service *svcs;
	size_t nsvcs;
	int have_services;
	strmap_t *services, *keys, *prefixes; /* lib/strmap.h: name -> entry, owned */
	const char *(*getenv_fn)(const char *);
	template_kv_pair *scratch; /* kv_list answers for prefixes we do not hold directly */
};

static char *dupstr(const json_t *v)
{
	return strdup(json_is_string(v) ? json_string_value(v) : "");
}

static void free_tags(const char *const *tags, size_t n)
{
	for (size_t i = 0; i < n; i++) free((char *)tags[i]);
	free((void *)tags);
}

static void free_catalog(template_catalog_service *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)s[i].name);
		free_tags(s[i].tags, s[i].ntags);
	}
	free(s);
}

static void free_meta(const template_meta *m, size_t n)
{
	for (size_t k = 0; m && k < n; k++) { free((char *)m[k].key); free((char *)m[k].value); }
	free((void *)m);
}

/* A string map from JSON (non-string values skipped). NULL only on allocation failure. */
static template_meta *meta_from(const json_t *obj, size_t *n)
{
	size_t cnt = json_is_object(obj) ? json_object_size(obj) : 0, k = 0;
	template_meta *m = calloc(cnt ? cnt : 1, sizeof *m);
	*n = 0;
	if (!m) return NULL;
	if (cnt) {
		const char *mk;
		json_t *mv;
		json_object_foreach((json_t *)obj, mk, mv) {
			if (!json_is_string(mv)) continue;
			m[k].key = strdup(mk);
			m[k].value = strdup(json_string_value(mv));
			k++;
			if (!m[k - 1].key || !m[k - 1].value) { free_meta(m, k); return NULL; }
		}
	}
	*n = k;
	return m;
}

static void free_svc(svc_entry *e)
{
	if (!e) return;
	for (size_t i = 0; i < e->n; i++) {
		template_instance *in = &e->inst[i];
		free((char *)in->node);
		free((char *)in->node_address);
		free((char *)in->address);
		free((char *)in->id);
		free((char *)in->name);
		free((char *)in->status);
		free_tags(in->tags, in->ntags);
		free_meta(in->meta, in->nmeta);
		free_meta(in->node_meta, in->nnode_meta);
		free_meta(in->node_tagged_addresses, in->nnode_tagged_addresses);
		free((char *)in->node_id);
		free((char *)in->node_datacenter);
		free((char *)in->kind);
		free((char *)in->namespace_);
	}
	free(e->inst);
	free(e);
}

static void free_key(key_entry *e)
{
	if (e) free(e->value);
	free(e);
}

static void free_prefix(prefix_entry *e)
{
	if (!e) return;
	for (size_t i = 0; i < e->n; i++) { free((char *)e->pairs[i].key); free((char *)e->pairs[i].value); }
	free(e->pairs);
	free(e);
}

static void map_free(strmap_t *m, void (*fr)(void *))
{
	if (!m) return;
	for (strmap_iter_t it = strmap_iter(m); strmap_iter_next(&it);) fr(it.value);
	strmap_free(m);
}

/* Inserts or replaces key -> v (never NULL); the replaced entry is freed with fr. */
static int map_set(strmap_t *m, const char *key, void *v, void (*fr)(void *))
{
	void *old = strmap_get(m, key);
	if (strmap_put(m, key, v) < 0) return -1;
	if (old) fr(old);
	return 0;
}

static void fr_svc(void *p) { free_svc(p); }
static void fr_key(void *p) { free_key(p); }
static void fr_prefix(void *p) { free_prefix(p); }

void template_store_free(template_store *s)
{
	if (!s) return;
	free_catalog(s->svcs, s->nsvcs);
	map_free(s->services, fr_svc);
	map_free(s->keys, fr_key);
	map_free(s->prefixes, fr_prefix);
	free(s->scratch);
	free(s);
}

template_store *template_store_new(void)
{
	template_store *s = calloc(1, sizeof(template_store));
	if (!s) return NULL;
	s->services = strmap_new();
	s->keys = strmap_new();
	s->prefixes = strmap_new();
	if (!s->services || !s->keys || !s->prefixes) { template_store_free(s); return NULL; }
	return s;
}

static const char **tags_from(const json_t *arr, size_t *n)
{
	size_t cnt = json_is_array(arr) ? json_array_size(arr) : 0, k = 0;
	const char **t = calloc(cnt ? cnt : 1, sizeof *t);
	if (!t) return NULL;
	for (size_t i = 0; i < cnt; i++) {
		const json_t *v = json_array_get(arr, i);
		if (!json_is_string(v)) continue;
		if (!(t[k] = strdup(json_string_value(v)))) { free_tags(t, k); return NULL; }
		k++;
	}
	*n = k;
	return t;
}

int template_store_set_services(template_store *s, const json_t *catalog)
{
	if (!json_is_object(catalog)) return -1;
	size_t n = json_object_size(catalog), k = 0;
	template_catalog_service *svcs = calloc(n ? n : 1, sizeof *svcs);
	if (!svcs) return -1;
	const char *name;
	json_t *tags;
	json_object_foreach((json_t *)catalog, name, tags) {
		svcs[k].name = strdup(name);
		svcs[k].tags = tags_from(tags, &svcs[k].ntags);
		if (!svcs[k].name || !svcs[k].tags) { k++; free_catalog(svcs, k); return -1; }
		k++;
	}
	free_catalog(s->svcs, s->nsvcs);
	s->svcs = svcs;
	s->nsvcs = k;
	s->have_services = 1;
	return 0;
}

/* Consul's api.HealthChecks.AggregatedStatus. */
static const char *aggregated_status(const json_t *checks)
{
	int passing = 0, warning = 0, critical = 0, maint = 0;
	size_t i;
	json_t *c;
	if (!json_is_array(checks)) return "passing";
	json_array_foreach(checks, i, c) {
		const char *id = json_string_value(json_object_get(c, "CheckID"));
		const char *st = json_string_value(json_object_get(c, "Status"));
		if (id && (!strcmp(id, "_node_maintenance") || !strncmp(id, "_service_maintenance:", 21))) { maint = 1; continue; }
		if (!st) return "";
		if (!strcmp(st, "passing")) passing = 1;
		else if (!strcmp(st, "warning")) warning = 1;
		else if (!strcmp(st, "critical")) critical = 1;
		else return "";
	}
	(void)passing;
	return maint ? "maintenance" : critical ? "critical" : warning ? "warning" : "passing";
}

int template_store_set_service(template_store *s, const char *name, const json_t *health)
{
	if (health && !json_is_array(health)) return -1;
	svc_entry *e = calloc(1, sizeof *e);
	if (!e) return -1;
	size_t n = health ? json_array_size(health) : 0;
	e->inst = calloc(n ? n : 1, sizeof *e->inst);
	if (!e->inst) { free(e); return -1; }
	for (size_t i = 0; i < n; i++) {
		const json_t *ent = json_array_get(health, i);
		const json_t *node = json_object_get(ent, "Node"), *svc = json_object_get(ent, "Service");
		if (!json_is_object(node) || !json_is_object(svc)) continue; /* not an instance: skip */
		template_instance *in = &e->inst[e->n++];
		in->node = dupstr(json_object_get(node, "Node"));
		in->node_address = dupstr(json_object_get(node, "Address"));
		in->address = dupstr(json_object_get(svc, "Address"));
		in->id = dupstr(json_object_get(svc, "ID"));
		in->name = dupstr(json_object_get(svc, "Service"));
		in->status = strdup(aggregated_status(json_object_get(ent, "Checks")));
		const json_t *port = json_object_get(svc, "Port");
		in->port = json_is_integer(port) ? (int)json_integer_value(port) : 0;
		in->tags = tags_from(json_object_get(svc, "Tags"), &in->ntags);
		in->meta = meta_from(json_object_get(svc, "Meta"), &in->nmeta);
		in->node_meta = meta_from(json_object_get(node, "Meta"), &in->nnode_meta);
		in->node_tagged_addresses = meta_from(json_object_get(node, "TaggedAddresses"), &in->nnode_tagged_addresses);
		in->node_id = dupstr(json_object_get(node, "ID"));
		in->node_datacenter = dupstr(json_object_get(node, "Datacenter"));
		in->kind = dupstr(json_object_get(svc, "Kind"));
		in->namespace_ = dupstr(json_object_get(svc, "Namespace"));
		const json_t *w = json_object_get(svc, "Weights");
		in->weight_passing = (int)json_integer_value(json_object_get(w, "Passing"));
		in->weight_warning = (int)json_integer_value(json_object_get(w, "Warning"));
		if (!in->node || !in->node_address || !in->address || !in->id || !in->name || !in->status || !in->tags ||
		    !in->meta || !in->node_meta || !in->node_tagged_addresses || !in->node_id || !in->node_datacenter ||
		    !in->kind || !in->namespace_) {
			free_svc(e);
			return -1;
		}
	}
	if (map_set(s->services, name, e, fr_svc) < 0) { free_svc(e); return -1; }
	return 0;
}

void template_store_forget_service(template_store *s, const char *name)
{
	free_svc(strmap_del(s->services, name));
}

int template_store_set_key(template_store *s, const char *key, const json_t *entries)
{
	key_entry *e = calloc(1, sizeof *e);
	if (!e) return -1;
	if (entries) {
		if (!json_is_array(entries)) { free(e); return -1; }
		/* the entry for exactly this key: an answer about another key (a server that read
		 * the name differently) is not this key's value */
		const json_t *ent = NULL;
		for (size_t i = 0; i < json_array_size(entries) && !ent; i++) {
			const char *k = json_string_value(json_object_get(json_array_get(entries, i), "Key"));
			if (k && !strcmp(k, key)) ent = json_array_get(entries, i);
		}
		if (ent) {
			e->value = consul_kv_value(ent, &e->len);
			if (!e->value) e->value = strdup(""); /* null Value: the key exists, empty */
			if (!e->value) { free(e); return -1; }
		}
	}
	if (map_set(s->keys, key, e, fr_key) < 0) { free_key(e); return -1; }
	return 0;
}

static int cmp_pair(const void *a, const void *b)
{
	return strcmp(((const template_kv_pair *)a)->key, ((const template_kv_pair *)b)->key);
}

int template_store_set_prefix(template_store *s, const char *prefix, const json_t *entries)
{
	if (entries && !json_is_array(entries)) return -1;
	prefix_entry *e = calloc(1, sizeof *e);
	size_t n = entries ? json_array_size(entries) : 0;
	if (!e || !(e->pairs = calloc(n ? n : 1, sizeof *e->pairs))) { free(e); return -1; }
	for (size_t i = 0; i < n; i++) {
		const json_t *ent = json_array_get(entries, i);
		const char *k = json_string_value(json_object_get(ent, "Key"));
		if (!k || strncmp(k, prefix, strlen(prefix)) != 0) continue; /* only keys under prefix */
		template_kv_pair *p = &e->pairs[e->n];
		size_t len = 0;
		char *v = consul_kv_value(ent, &len);
		p->key = strdup(k);
		p->value = v ? v : strdup("");
		p->value_len = v ? len : 0;
		e->n++;
		if (!p->key || !p->value) { free_prefix(e); return -1; }
	}
	qsort(e->pairs, e->n, sizeof *e->pairs, cmp_pair);
	if (map_set(s->prefixes, prefix, e, fr_prefix) < 0) { free_prefix(e); return -1; }
	return 0;
}

void template_store_set_env(template_store *s, const char *(*getenv_fn)(const char *))
{
	s->getenv_fn = getenv_fn;
}

static int p_services(void *ctx, const template_catalog_service **out, size_t *n)
{
	template_store *s = ctx;
	if (!s->have_services) return TEMPLATE_DATA_UNKNOWN;
	*out = s->svcs;
	*n = s->nsvcs;
	return TEMPLATE_DATA_OK;
}

static int p_service(void *ctx, const char *name, const template_instance **out, size_t *n)
{
	template_store *s = ctx;
	const svc_entry *e = strmap_get(s->services, name);
	if (!e) return TEMPLATE_DATA_UNKNOWN;
	*out = e->inst;
	*n = e->n;
	return TEMPLATE_DATA_OK;
}

static int p_kv_get(void *ctx, const char *key, const char **value, size_t *len)
{
	template_store *s = ctx;
	const key_entry *k = strmap_get(s->keys, key);
	if (!k) return TEMPLATE_DATA_UNKNOWN;
	if (!k->value) return TEMPLATE_DATA_ABSENT;
	*value = k->value;
	*len = k->len;
	return TEMPLATE_DATA_OK;
}

static int p_kv_list(void *ctx, const char *prefix, const template_kv_pair **out, size_t *n)
{
	template_store *s = ctx;
	const prefix_entry *e = strmap_get(s->prefixes, prefix);
	if (!e) return TEMPLATE_DATA_UNKNOWN;
	*out = e->pairs;
	*n = e->n;
	return TEMPLATE_DATA_OK;
}

static const char *p_env(void *ctx, const char *name)
{
	template_store *s = ctx;
	return s->getenv_fn ? s->getenv_fn(name) : NULL;
}

void template_store_provider(template_store *s, template_provider *p)
{
	memset(p, 0, sizeof *p);
	p->ctx = s;
	p->services = p_services;
	p->service = p_service;
	p->kv_get = p_kv_get;
	p->kv_list = p_kv_list;
	p->env = p_env;
}
