/* template_consul.c: consul-template's data functions over the dependency provider:
 * services, service ("name", "tag.name", "name|any", "name|passing,warning", several
 * arguments joined with "|"), key, keyOrDefault, keyExists, ls, tree.
 * Owns: consul-template's data shapes and orderings: services -> [{Name, Tags}] sorted by
 * name; service -> [{Node, NodeAddress, ServiceMeta, Address, ID, Name, Tags, Status, Port}]
 * sorted by Node then ID, passing only by default, Address falling back to the node address,
 * tags sorted; ls -> direct children [{Path, Key, Value}]; tree -> every non-folder key below.
 * Every call records its dependency; data the provider lacks marks it missing (render
 * incomplete). Extension: service names may contain '/' (portolan names like hello/v1);
 * consul-template's query syntax rejects them. Never: does I/O itself. */
#include "template_exec.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static template_value *tags_value(const char *const *tags, size_t n)
{
	template_value *l = template_value_list("dependency.ServiceTags");
	if (!l) return NULL;
	const char **s = malloc((n ? n : 1) * sizeof *s);
	if (!s) { template_value_unref(l); return NULL; }
	for (size_t i = 0; i < n; i++) s[i] = tags[i] ? tags[i] : "";
	qsort(s, n, sizeof *s, cmp_str);
	for (size_t i = 0; i < n; i++) template_value_list_push(l, template_value_cstr(s[i]));
	free(s);
	return l;
}

static template_value *meta_value(const template_meta *m, size_t n)
{
	template_value *v = template_value_map("map[string]string");
	for (size_t k = 0; v && k < n; k++)
		template_value_map_set(v, m[k].key ? m[k].key : "", template_value_cstr(m[k].value));
	return v;
}

static int cmp_svc(const void *a, const void *b)
{
	const template_catalog_service *x = *(template_catalog_service *const *)a, *y = *(template_catalog_service *const *)b;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

template_value *tplf_services(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const template_provider *p = template_exec_provider(x);
	const template_catalog_service *list = NULL;
	size_t cnt = 0;
	if (n == 1 && !(a[0]->kind == TV_STRING && a[0]->u.str.len == 0)) {
		template_call_error(x, name, "catalog.services: datacenter and node-meta queries are not supported");
		return NULL;
	}
	template_value *out = template_value_list("[]*dependency.CatalogSnippet");
	if (!out) return NULL;
	int rc = p->services ? p->services(p->ctx, &list, &cnt) : TEMPLATE_DATA_UNKNOWN;
	template_exec_dep(x, TEMPLATE_DEP_SERVICES, "", rc != TEMPLATE_DATA_OK);
	if (rc != TEMPLATE_DATA_OK) return out;
	const template_catalog_service **sorted = malloc((cnt ? cnt : 1) * sizeof *sorted);
	if (!sorted) { template_value_unref(out); return NULL; }
	for (size_t i = 0; i < cnt; i++) sorted[i] = &list[i];
	qsort(sorted, cnt, sizeof *sorted, cmp_svc); /* names are unique: stability does not matter */
	for (size_t i = 0; i < cnt; i++) {
		template_value *s = template_value_struct("*dependency.CatalogSnippet");
		if (!s) break;
		template_value_struct_add(s, "Name", template_value_cstr(sorted[i]->name));
		template_value_struct_add(s, "Tags", tags_value(sorted[i]->tags, sorted[i]->ntags));
		template_value_list_push(out, s);
	}
	free(sorted);
	return out;
}

/* Parses "[tag.]name[|filter,...]" (consul-template's health service query). */
static int word_ok(const char *s, size_t n, const char *extra)
{
	if (n == 0) return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && !strchr(extra, s[i])) return 0;
	return 1;
}

typedef struct {
	char *tag, *name;
	int any, passing, warning, critical, maintenance;
} svc_query;

static int parse_query(const char *q, svc_query *out)
{
	memset(out, 0, sizeof *out);
	const char *bar = strchr(q, '|');
	size_t head = bar ? (size_t)(bar - q) : strlen(q);
	if (bar) {
		const char *f = bar + 1;
		if (!word_ok(f, strlen(f), ",")) return -1;
		while (*f) {
			size_t l = strcspn(f, ",");
			if (l == 3 && !strncmp(f, "any", 3)) out->any = 1;
			else if (l == 7 && !strncmp(f, "passing", 7)) out->passing = 1;
			else if (l == 7 && !strncmp(f, "warning", 7)) out->warning = 1;
			else if (l == 8 && !strncmp(f, "critical", 8)) out->critical = 1;
			else if (l == 11 && !strncmp(f, "maintenance", 11)) out->maintenance = 1;
			else if (l) return -1;
			f += l;
			if (*f == ',') f++;
		}
	} else {
		out->passing = 1;
	}
	/* the name cannot contain '.', so the tag is everything before the last '.' */
	const char *dot = NULL;
	for (size_t i = 0; i < head; i++) if (q[i] == '.') dot = q + i;
	const char *nm = dot ? dot + 1 : q;
	size_t nl = head - (size_t)(nm - q);
	if (!word_ok(nm, nl, "-/")) return -1;
	if (dot && !word_ok(q, (size_t)(dot - q), "=:.-")) return -1;
	out->name = strndup(nm, nl);
	out->tag = dot ? strndup(q, (size_t)(dot - q)) : NULL;
	return out->name ? 0 : -1;
}

static int status_ok(const svc_query *q, const char *st)
{
	if (q->any) return 1;
	if (!st) return 0;
	return (q->passing && !strcmp(st, "passing")) || (q->warning && !strcmp(st, "warning")) ||
	       (q->critical && !strcmp(st, "critical")) || (q->maintenance && !strcmp(st, "maintenance"));
}

static int cmp_inst(const void *a, const void *b)
{
	const template_instance *x = *(template_instance *const *)a, *y = *(template_instance *const *)b;
	int c = strcmp(x->node ? x->node : "", y->node ? y->node : "");
	if (c) return c;
	c = strcmp(x->id ? x->id : "", y->id ? y->id : "");
	if (c) return c;
	return x < y ? -1 : x > y; /* stable */
}

template_value *tplf_service(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	template_buf qb = { 0 };
	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t l;
		if (template_arg_string(x, name, a[i], &s, &l) < 0) { template_buf_free(&qb); return NULL; }
		if (i) template_buf_add(&qb, "|", 1);
		template_buf_add(&qb, s, l);
	}
	template_buf_add(&qb, "", 0);
	if (qb.overflow) { template_buf_free(&qb); return NULL; } /* never query a shortened name */
	template_value *out = template_value_list("[]*dependency.HealthService");
	if (!out || n == 0 || a[0]->u.str.len == 0) { template_buf_free(&qb); return out; }
	svc_query q;
	if (parse_query(qb.data, &q) < 0) {
		template_call_error(x, name, "health.service: invalid format: \"%s\"", qb.data);
		template_buf_free(&qb);
		template_value_unref(out);
		return NULL;
	}
	template_buf_free(&qb);
	const template_provider *p = template_exec_provider(x);
	const template_instance *list = NULL;
	size_t cnt = 0;
	int rc = p->service ? p->service(p->ctx, q.name, &list, &cnt) : TEMPLATE_DATA_UNKNOWN;
	template_exec_dep(x, TEMPLATE_DEP_SERVICE, q.name, rc != TEMPLATE_DATA_OK);
	if (rc == TEMPLATE_DATA_OK) {
		const template_instance **sel = malloc((cnt ? cnt : 1) * sizeof *sel);
		size_t ns = 0;
		if (!sel) cnt = 0;
		for (size_t i = 0; i < cnt; i++) {
			const template_instance *in = &list[i];
			if (!status_ok(&q, in->status)) continue;
			if (q.tag) {
				int has = 0;
				for (size_t k = 0; k < in->ntags; k++) if (in->tags[k] && !strcmp(in->tags[k], q.tag)) has = 1;
				if (!has) continue;
			}
			sel[ns++] = in;
		}
		if (ns > 1) qsort(sel, ns, sizeof *sel, cmp_inst);
		for (size_t i = 0; i < ns; i++) {
			const template_instance *in = sel[i];
			template_value *s = template_value_struct("*dependency.HealthService");
			if (!s) break;
			const char *addr = in->address && *in->address ? in->address : in->node_address;
			template_value *w = template_value_struct("api.AgentWeights");
			if (w) {
				template_value_struct_add(w, "Passing", template_value_int(in->weight_passing));
				template_value_struct_add(w, "Warning", template_value_int(in->weight_warning));
			}
			/* consul-template's field order (the subset portolan models) */
			template_value_struct_add(s, "Node", template_value_cstr(in->node));
			template_value_struct_add(s, "NodeID", template_value_cstr(in->node_id));
			template_value_struct_add(s, "Kind", template_value_cstr(in->kind));
			template_value_struct_add(s, "NodeAddress", template_value_cstr(in->node_address));
			template_value_struct_add(s, "NodeDatacenter", template_value_cstr(in->node_datacenter));
			template_value_struct_add(s, "NodeTaggedAddresses", meta_value(in->node_tagged_addresses, in->nnode_tagged_addresses));
			template_value_struct_add(s, "NodeMeta", meta_value(in->node_meta, in->nnode_meta));
			template_value_struct_add(s, "ServiceMeta", meta_value(in->meta, in->nmeta));
			template_value_struct_add(s, "Address", template_value_cstr(addr));
			template_value_struct_add(s, "ID", template_value_cstr(in->id));
			template_value_struct_add(s, "Name", template_value_cstr(in->name));
			template_value_struct_add(s, "Tags", tags_value(in->tags, in->ntags));
			template_value_struct_add(s, "Status", template_value_cstr(in->status));
			template_value_struct_add(s, "Port", template_value_int(in->port));
			template_value_struct_add(s, "Weights", w);
			template_value_struct_add(s, "Namespace", template_value_cstr(in->namespace_));
			template_value_list_push(out, s);
		}
		free(sel);
	}
	free(q.name);
	free(q.tag);
	return out;
}

/* consul-template strips one leading '/' from keys and prefixes. */
static const char *strip_slash(const char *s) { return *s == '/' ? s + 1 : s; }

template_value *tplf_key(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const char *k;
	if (template_arg_string(x, name, a[0], &k, NULL) < 0) return NULL;
	if (!*k) return template_value_cstr("");
	k = strip_slash(k);
	const template_provider *p = template_exec_provider(x);
	const char *v = NULL;
	size_t len = 0;
	int rc = p->kv_get ? p->kv_get(p->ctx, k, &v, &len) : TEMPLATE_DATA_UNKNOWN;
	/* key blocks until the key exists: absent counts as missing */
	template_exec_dep(x, TEMPLATE_DEP_KEY, k, rc != TEMPLATE_DATA_OK);
	if (rc != TEMPLATE_DATA_OK) return template_value_cstr("");
	return template_value_string(v ? v : "", v ? len : 0);
}

template_value *tplf_key_or_default(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const char *k, *def;
	size_t dl;
	if (template_arg_string(x, name, a[0], &k, NULL) < 0 || template_arg_string(x, name, a[1], &def, &dl) < 0) return NULL;
	if (!*k) return template_value_string(def, dl);
	k = strip_slash(k);
	const template_provider *p = template_exec_provider(x);
	const char *v = NULL;
	size_t len = 0;
	int rc = p->kv_get ? p->kv_get(p->ctx, k, &v, &len) : TEMPLATE_DATA_UNKNOWN;
	/* never blocks: an unknown key is still recorded so the caller fetches it */
	template_exec_dep(x, TEMPLATE_DEP_KEY, k, rc == TEMPLATE_DATA_UNKNOWN);
	if (rc != TEMPLATE_DATA_OK || !v || len == 0) return template_value_string(def, dl);
	return template_value_string(v, len);
}

template_value *tplf_key_exists(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const char *k;
	if (template_arg_string(x, name, a[0], &k, NULL) < 0) return NULL;
	if (!*k) return template_value_bool(0);
	k = strip_slash(k);
	const template_provider *p = template_exec_provider(x);
	const char *v = NULL;
	size_t len = 0;
	int rc = p->kv_get ? p->kv_get(p->ctx, k, &v, &len) : TEMPLATE_DATA_UNKNOWN;
	template_exec_dep(x, TEMPLATE_DEP_KEY, k, rc == TEMPLATE_DATA_UNKNOWN);
	return template_value_bool(rc == TEMPLATE_DATA_OK);
}

static template_value *kv_list(template_exec_state *x, const char *name, template_value *arg, int recurse)
{
	const char *pre;
	if (template_arg_string(x, name, arg, &pre, NULL) < 0) return NULL;
	template_value *out = template_value_list("[]*dependency.KeyPair");
	if (!out || !*pre) return out;
	pre = strip_slash(pre);
	const template_provider *p = template_exec_provider(x);
	const template_kv_pair *list = NULL;
	size_t cnt = 0;
	int rc = p->kv_list ? p->kv_list(p->ctx, pre, &list, &cnt) : TEMPLATE_DATA_UNKNOWN;
	template_exec_dep(x, TEMPLATE_DEP_PREFIX, pre, rc != TEMPLATE_DATA_OK);
	if (rc != TEMPLATE_DATA_OK) return out;
	size_t pl = strlen(pre);
	for (size_t i = 0; i < cnt; i++) {
		const char *full = list[i].key ? list[i].key : "";
		if (strncmp(full, pre, pl) != 0) continue;
		const char *rel = full + pl;
		while (*rel == '/') rel++;
		if (recurse) {
			const char *slash = strrchr(rel, '/');
			if (slash ? slash[1] == 0 : *rel == 0) continue; /* folders and the prefix itself */
		} else if (!*rel || strchr(rel, '/')) {
			continue;
		}
		template_value *kp = template_value_struct("*dependency.KeyPair");
		if (!kp) break;
		template_value_struct_add(kp, "Path", template_value_cstr(full));
		template_value_struct_add(kp, "Key", template_value_cstr(rel));
		template_value_struct_add(kp, "Value", template_value_string(list[i].value ? list[i].value : "",
			list[i].value ? list[i].value_len : 0));
		template_value_list_push(out, kp);
	}
	return out;
}

template_value *tplf_ls(template_exec_state *x, const char *name, template_value **a, size_t n) { return kv_list(x, name, a[0], 0); }
template_value *tplf_tree(template_exec_state *x, const char *name, template_value **a, size_t n) { return kv_list(x, name, a[0], 1); }
