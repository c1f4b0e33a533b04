/* template_snapshot.c: a template_provider over a static JSON snapshot of a catalog and KV
 * store (format in template.h). Used by the tests, the Go-compatibility corpus and CLI tools.
 * Owns: the parsed snapshot and the C arrays handed to the engine. Promises: validates the
 * JSON shape and reports the first problem; the catalog services list is derived from the
 * instances (tags merged and deduplicated, as Consul's /v1/catalog/services does).
 * Never: touches the network; reads only the file it is given. */
#include "template.h"
#include "file.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct template_snapshot {
	json_t *root;
	template_instance *inst;
	size_t ninst;
	template_catalog_service *svcs;
	size_t nsvcs;
	template_kv_pair *kv;
	size_t nkv;
	json_t *env;
	json_t *missing;
	time_t now;
	size_t *byname; /* instance indexes sorted by name, then original order */
	/* scratch for service(): instances of one name */
	template_instance *sel;
	template_kv_pair *ksel;
};

static char *errf(const char *msg, const char *detail)
{
	size_t n = strlen(msg) + strlen(detail) + 32;
	char *e = malloc(n);
	if (e) snprintf(e, n, "snapshot: %s%s", msg, detail);
	return e;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char **jtags(json_t *arr, size_t *n)
{
	*n = json_is_array(arr) ? json_array_size(arr) : 0;
	const char **t = calloc(*n ? *n : 1, sizeof *t);
	for (size_t i = 0; t && i < *n; i++) {
		json_t *v = json_array_get(arr, i);
		t[i] = json_is_string(v) ? json_string_value(v) : "";
	}
	return t;
}

static template_snapshot *sort_ctx; /* qsort has no context argument; parsing is not reentrant */

static int cmp_byname(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(sort_ctx->inst[x].name, sort_ctx->inst[y].name);
	return c ? c : (x > y) - (x < y);
}

static template_meta *jmeta(json_t *obj, size_t *n)
{
	*n = json_is_object(obj) ? json_object_size(obj) : 0;
	template_meta *m = calloc(*n ? *n : 1, sizeof *m);
	const char *k;
	json_t *v;
	size_t j = 0;
	if (m && json_is_object(obj))
		json_object_foreach(obj, k, v) m[j++] = (template_meta){ k, json_is_string(v) ? json_string_value(v) : "" };
	return m;
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const template_kv_pair *)a)->key, ((const template_kv_pair *)b)->key);
}

void template_snapshot_free(template_snapshot *s)
{
	if (!s) return;
	for (size_t i = 0; i < s->ninst; i++) {
		free((void *)s->inst[i].tags);
		free((void *)s->inst[i].meta);
		free((void *)s->inst[i].node_meta);
		free((void *)s->inst[i].node_tagged_addresses);
	}
	free(s->inst);
	for (size_t i = 0; i < s->nsvcs; i++) free((void *)s->svcs[i].tags);
	free(s->svcs);
	free(s->kv);
	free(s->byname);
	free(s->sel);
	free(s->ksel);
	json_decref(s->root);
	free(s);
}

template_snapshot *template_snapshot_parse(const char *text, size_t len, char **err)
{
	json_error_t je;
	template_snapshot *s = calloc(1, sizeof *s);
	*err = NULL;
	if (!s) { *err = errf("out of memory", ""); return NULL; }
	s->root = json_loadb(text, len, 0, &je);
	if (!s->root || !json_is_object(s->root)) {
		*err = errf("invalid JSON: ", s->root ? "not an object" : je.text);
		template_snapshot_free(s);
		return NULL;
	}
	json_t *nodes = json_object_get(s->root, "nodes");
	json_t *svcs = json_object_get(s->root, "services");
	json_t *kv = json_object_get(s->root, "kv");
	s->env = json_object_get(s->root, "env");
	s->missing = json_object_get(s->root, "missing");
	json_t *now = json_object_get(s->root, "now");
	if (json_is_integer(now)) s->now = (time_t)json_integer_value(now);
	if (svcs && !json_is_array(svcs)) { *err = errf("\"services\" must be an array", ""); goto fail; }
	if (kv && !json_is_object(kv)) { *err = errf("\"kv\" must be an object", ""); goto fail; }
	s->ninst = json_array_size(svcs);
	s->inst = calloc(s->ninst ? s->ninst : 1, sizeof *s->inst);
	s->sel = calloc(s->ninst ? s->ninst : 1, sizeof *s->sel);
	s->svcs = calloc(s->ninst ? s->ninst : 1, sizeof *s->svcs);
	if (!s->inst || !s->sel || !s->svcs) { *err = errf("out of memory", ""); goto fail; }
	for (size_t i = 0; i < s->ninst; i++) {
		json_t *o = json_array_get(svcs, i);
		template_instance *in = &s->inst[i];
		if (!json_is_object(o) || !jstr(o, "Name")) { *err = errf("every service needs a \"Name\"", ""); goto fail; }
		in->name = jstr(o, "Name");
		in->node = jstr(o, "Node") ? jstr(o, "Node") : "";
		in->node_address = jstr(json_is_object(nodes) ? nodes : NULL, in->node);
		if (!in->node_address) in->node_address = "";
		in->address = jstr(o, "Address") ? jstr(o, "Address") : "";
		in->id = jstr(o, "ID") ? jstr(o, "ID") : in->name;
		in->status = jstr(o, "Status") ? jstr(o, "Status") : "passing";
		json_t *port = json_object_get(o, "Port");
		in->port = json_is_integer(port) ? (int)json_integer_value(port) : 0;
		in->tags = jtags(json_object_get(o, "Tags"), &in->ntags);
		in->meta = jmeta(json_object_get(o, "Meta"), &in->nmeta);
		in->node_meta = jmeta(json_object_get(o, "NodeMeta"), &in->nnode_meta);
		in->node_tagged_addresses = jmeta(json_object_get(o, "TaggedAddresses"), &in->nnode_tagged_addresses);
		if (!in->tags || !in->meta || !in->node_meta || !in->node_tagged_addresses) { *err = errf("out of memory", ""); goto fail; }
		in->node_id = jstr(o, "NodeID") ? jstr(o, "NodeID") : "";
		in->node_datacenter = jstr(o, "Datacenter") ? jstr(o, "Datacenter") : "";
		in->kind = jstr(o, "Kind") ? jstr(o, "Kind") : "";
		in->namespace_ = jstr(o, "Namespace") ? jstr(o, "Namespace") : "";
		json_t *w = json_object_get(o, "Weights");
		in->weight_passing = (int)json_integer_value(json_object_get(w, "Passing"));
		in->weight_warning = (int)json_integer_value(json_object_get(w, "Warning"));
	}
	/* index instances by name (stable), then derive the catalog: one entry per name with
	 * its tags merged and deduplicated in first-seen order */
	s->byname = calloc(s->ninst ? s->ninst : 1, sizeof *s->byname);
	if (!s->byname) { *err = errf("out of memory", ""); goto fail; }
	for (size_t i = 0; i < s->ninst; i++) s->byname[i] = i;
	sort_ctx = s;
	qsort(s->byname, s->ninst, sizeof *s->byname, cmp_byname);
	for (size_t i = 0; i < s->ninst;) {
		size_t j = i;
		const char *nm = s->inst[s->byname[i]].name;
		while (j < s->ninst && !strcmp(s->inst[s->byname[j]].name, nm)) j++;
		template_catalog_service *cs = &s->svcs[s->nsvcs++];
		cs->name = nm;
		for (size_t k = i; k < j; k++) {
			template_instance *in = &s->inst[s->byname[k]];
			for (size_t t = 0; t < in->ntags; t++) {
				size_t u;
				for (u = 0; u < cs->ntags; u++) if (!strcmp(cs->tags[u], in->tags[t])) break;
				if (u < cs->ntags) continue;
				const char **nt = realloc((void *)cs->tags, (cs->ntags + 1) * sizeof *nt);
				if (!nt) { *err = errf("out of memory", ""); goto fail; }
				nt[cs->ntags++] = in->tags[t];
				cs->tags = nt;
			}
		}
		i = j;
	}
	s->nkv = kv ? json_object_size(kv) : 0;
	s->kv = calloc(s->nkv ? s->nkv : 1, sizeof *s->kv);
	s->ksel = calloc(s->nkv ? s->nkv : 1, sizeof *s->ksel);
	if (!s->kv || !s->ksel) { *err = errf("out of memory", ""); goto fail; }
	if (kv) {
		const char *k;
		json_t *v;
		size_t j = 0;
		json_object_foreach(kv, k, v) {
			if (!json_is_string(v)) { *err = errf("kv values must be strings: ", k); goto fail; }
			s->kv[j++] = (template_kv_pair){ k, json_string_value(v), json_string_length(v) };
		}
		qsort(s->kv, s->nkv, sizeof *s->kv, cmp_kv);
	}
	return s;
fail:
	template_snapshot_free(s);
	return NULL;
}

template_snapshot *template_snapshot_load(const char *path, char **err)
{
	size_t len;
	char *buf = file_read(path, 0, &len);
	if (!buf) { *err = errf("cannot open ", path); return NULL; }
	template_snapshot *s = template_snapshot_parse(buf, len, err);
	free(buf);
	return s;
}

time_t template_snapshot_now(const template_snapshot *s) { return s->now; }

static int is_missing(template_snapshot *s, const char *kind, const char *name)
{
	size_t i;
	json_t *v;
	char want[1024];
	if (name) snprintf(want, sizeof want, "%s:%s", kind, name);
	else snprintf(want, sizeof want, "%s", kind);
	json_array_foreach(s->missing, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), want)) return 1;
	return 0;
}

static int p_services(void *ctx, const template_catalog_service **out, size_t *n)
{
	template_snapshot *s = ctx;
	if (is_missing(s, "services", NULL)) return TEMPLATE_DATA_UNKNOWN;
	*out = s->svcs;
	*n = s->nsvcs;
	return TEMPLATE_DATA_OK;
}

static int p_service(void *ctx, const char *name, const template_instance **out, size_t *n)
{
	template_snapshot *s = ctx;
	if (is_missing(s, "service", name)) return TEMPLATE_DATA_UNKNOWN;
	size_t lo = 0, hi = s->ninst, k = 0;
	while (lo < hi) { /* first instance with this name */
		size_t mid = (lo + hi) / 2;
		if (strcmp(s->inst[s->byname[mid]].name, name) < 0) lo = mid + 1; else hi = mid;
	}
	for (size_t i = lo; i < s->ninst && !strcmp(s->inst[s->byname[i]].name, name); i++)
		s->sel[k++] = s->inst[s->byname[i]];
	*out = s->sel;
	*n = k;
	return TEMPLATE_DATA_OK;
}

static int p_kv_get(void *ctx, const char *key, const char **value, size_t *len)
{
	template_snapshot *s = ctx;
	if (is_missing(s, "key", key)) return TEMPLATE_DATA_UNKNOWN;
	for (size_t i = 0; i < s->nkv; i++)
		if (!strcmp(s->kv[i].key, key)) { *value = s->kv[i].value; *len = s->kv[i].value_len; return TEMPLATE_DATA_OK; }
	return TEMPLATE_DATA_ABSENT;
}

static int p_kv_list(void *ctx, const char *prefix, const template_kv_pair **out, size_t *n)
{
	template_snapshot *s = ctx;
	if (is_missing(s, "prefix", prefix)) return TEMPLATE_DATA_UNKNOWN;
	size_t k = 0, pl = strlen(prefix);
	for (size_t i = 0; i < s->nkv; i++)
		if (!strncmp(s->kv[i].key, prefix, pl)) s->ksel[k++] = s->kv[i];
	*out = s->ksel;
	*n = k;
	return TEMPLATE_DATA_OK;
}

static const char *p_env(void *ctx, const char *name)
{
	template_snapshot *s = ctx;
	if (json_is_object(s->env)) return jstr(s->env, name);
	return getenv(name);
}

void template_snapshot_provider(template_snapshot *s, template_provider *p)
{
	memset(p, 0, sizeof *p);
	p->ctx = s;
	p->services = p_services;
	p->service = p_service;
	p->kv_get = p_kv_get;
	p->kv_list = p_kv_list;
	p->env = p_env;
}
