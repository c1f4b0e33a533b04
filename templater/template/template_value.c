/* template_value.c: reference-counted template values, Go truthiness, Go %v printing and
 * Go's comparison rules (text/template's eq/lt). See template_value.h.
 * Never: does I/O; the only allocation failure path is a NULL return / -1. */
#include "template_value.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the memory budget of the render in progress ----
 * Every allocation a value or a buffer makes is charged here and released when it is freed, so
 * `used` is the memory the render holds right now (values, temporaries, output). Past the limit,
 * or when malloc itself fails, the allocation fails and the render is marked: template_render
 * then fails as a whole, whatever the code in between did with the failure, so running out is
 * always an error and never a shortened value. One render at a time per thread. */
static _Thread_local struct {
	size_t used, limit; /* limit 0: no render in progress, nothing refused */
	int exceeded, failed;
} mem;

void template_mem_begin(size_t limit)
{
	mem.used = 0;
	mem.limit = limit;
	mem.exceeded = mem.failed = 0;
}

int template_mem_end(void)
{
	int r = mem.exceeded ? 2 : mem.failed ? 1 : 0;
	mem.used = 0;
	mem.limit = 0;
	mem.exceeded = mem.failed = 0;
	return r;
}

int template_mem_state(void) { return mem.exceeded ? 2 : mem.failed ? 1 : 0; }

static int mem_charge(size_t n)
{
	if (mem.limit && (n > mem.limit || mem.used > mem.limit - n)) {
		mem.exceeded = 1;
		return -1;
	}
	mem.used += n;
	return 0;
}

static void mem_release(size_t n) { mem.used = n > mem.used ? 0 : mem.used - n; }

static void mem_failed(void) { mem.failed = 1; }

static template_value *tv_new(template_kind k, const char *type)
{
	if (mem_charge(sizeof(template_value)) < 0) return NULL;
	template_value *v = calloc(1, sizeof *v);
	if (!v) { mem_release(sizeof(template_value)); mem_failed(); return NULL; }
	v->kind = k;
	v->refs = 1;
	v->type = type;
	v->charge = sizeof *v;
	return v;
}

template_value *template_value_ref(template_value *v)
{
	if (v) v->refs++;
	return v;
}

void template_value_unref(template_value *v)
{
	size_t i;
	if (!v || --v->refs > 0) return;
	switch (v->kind) {
	case TV_STRING: free(v->u.str.s); break;
	case TV_LIST:
		for (i = 0; i < v->u.list.n; i++) template_value_unref(v->u.list.items[i]);
		free(v->u.list.items);
		break;
	case TV_MAP:
	case TV_STRUCT:
		for (i = 0; i < v->u.map.n; i++) {
			free(v->u.map.keys[i]);
			template_value_unref(v->u.map.vals[i]);
		}
		free(v->u.map.keys);
		free(v->u.map.vals);
		break;
	default: break;
	}
	mem_release(v->charge);
	free(v);
}

template_value *template_value_invalid(void) { return tv_new(TV_INVALID, "invalid"); }
template_value *template_value_nil(void) { return tv_new(TV_NIL, "nil"); }

template_value *template_value_bool(int b)
{
	template_value *v = tv_new(TV_BOOL, "bool");
	if (v) v->u.b = !!b;
	return v;
}

template_value *template_value_int(int64_t i)
{
	template_value *v = tv_new(TV_INT, "int");
	if (v) v->u.i = i;
	return v;
}

template_value *template_value_float(double f)
{
	template_value *v = tv_new(TV_FLOAT, "float64");
	if (v) v->u.f = f;
	return v;
}

template_value *template_value_string_take(char *s, size_t len)
{
	if (!s) { mem_failed(); return NULL; }
	if (mem_charge(len + 1) < 0) { free(s); return NULL; }
	template_value *v = tv_new(TV_STRING, "string");
	if (!v) { mem_release(len + 1); free(s); return NULL; }
	v->u.str.s = s;
	v->u.str.len = len;
	v->charge += len + 1;
	return v;
}

template_value *template_value_string(const char *s, size_t len)
{
	if (len >= (mem.limit ? mem.limit : SIZE_MAX)) { mem.exceeded = 1; return NULL; }
	char *c = malloc(len + 1);
	if (!c) { mem_failed(); return NULL; }
	if (len) memcpy(c, s, len);
	c[len] = 0;
	return template_value_string_take(c, len);
}

template_value *template_value_cstr(const char *s)
{
	return template_value_string(s ? s : "", s ? strlen(s) : 0);
}

template_value *template_value_list(const char *type)
{
	return tv_new(TV_LIST, type ? type : "[]interface {}");
}

int template_value_list_push(template_value *list, template_value *item)
{
	if (!item) return -1;
	if (list->u.list.n == list->u.list.cap) {
		size_t nc = list->u.list.cap ? list->u.list.cap * 2 : 8;
		if (mem_charge((nc - list->u.list.cap) * sizeof(template_value *)) < 0) { template_value_unref(item); return -1; }
		list->charge += (nc - list->u.list.cap) * sizeof(template_value *);
		template_value **p = realloc(list->u.list.items, nc * sizeof *p);
		if (!p) { mem_failed(); template_value_unref(item); return -1; }
		list->u.list.items = p;
		list->u.list.cap = nc;
	}
	list->u.list.items[list->u.list.n++] = item;
	return 0;
}

template_value *template_value_map(const char *type)
{
	return tv_new(TV_MAP, type ? type : "map[string]string");
}

template_value *template_value_struct(const char *type)
{
	return tv_new(TV_STRUCT, type);
}

static int kv_grow(template_value *m)
{
	if (m->u.map.n < m->u.map.cap) return 0;
	size_t nc = m->u.map.cap ? m->u.map.cap * 2 : 8;
	size_t add = (nc - m->u.map.cap) * (sizeof(char *) + sizeof(template_value *));
	if (mem_charge(add) < 0) return -1;
	m->charge += add;
	char **k = realloc(m->u.map.keys, nc * sizeof *k);
	if (!k) { mem_failed(); return -1; }
	m->u.map.keys = k;
	template_value **vv = realloc(m->u.map.vals, nc * sizeof *vv);
	if (!vv) { mem_failed(); return -1; }
	m->u.map.vals = vv;
	m->u.map.cap = nc;
	return 0;
}

int template_value_map_set(template_value *m, const char *key, template_value *val)
{
	size_t lo = 0, hi = m->u.map.n;
	if (!val) return -1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(m->u.map.keys[mid], key);
		if (c == 0) {
			template_value_unref(m->u.map.vals[mid]);
			m->u.map.vals[mid] = val;
			return 0;
		}
		if (c < 0) lo = mid + 1; else hi = mid;
	}
	char *k = mem_charge(strlen(key) + 1) == 0 ? strdup(key) : NULL;
	if (k) m->charge += strlen(key) + 1;
	else mem_failed();
	if (!k || kv_grow(m) < 0) { free(k); template_value_unref(val); return -1; }
	memmove(m->u.map.keys + lo + 1, m->u.map.keys + lo, (m->u.map.n - lo) * sizeof(char *));
	memmove(m->u.map.vals + lo + 1, m->u.map.vals + lo, (m->u.map.n - lo) * sizeof(template_value *));
	m->u.map.keys[lo] = k;
	m->u.map.vals[lo] = val;
	m->u.map.n++;
	return 0;
}

int template_value_struct_add(template_value *st, const char *name, template_value *val)
{
	char *k;
	if (!val) return -1;
	k = mem_charge(strlen(name) + 1) == 0 ? strdup(name) : NULL;
	if (k) st->charge += strlen(name) + 1;
	else mem_failed();
	if (!k || kv_grow(st) < 0) { free(k); template_value_unref(val); return -1; }
	st->u.map.keys[st->u.map.n] = k;
	st->u.map.vals[st->u.map.n] = val;
	st->u.map.n++;
	return 0;
}

template_value *template_value_get(const template_value *v, const char *key)
{
	size_t i;
	if (!v) return NULL;
	if (v->kind == TV_MAP) {
		size_t lo = 0, hi = v->u.map.n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = strcmp(v->u.map.keys[mid], key);
			if (c == 0) return v->u.map.vals[mid];
			if (c < 0) lo = mid + 1; else hi = mid;
		}
		return NULL;
	}
	if (v->kind == TV_STRUCT)
		for (i = 0; i < v->u.map.n; i++)
			if (strcmp(v->u.map.keys[i], key) == 0) return v->u.map.vals[i];
	return NULL;
}

int template_value_truth(const template_value *v)
{
	switch (v->kind) {
	case TV_INVALID:
	case TV_NIL: return 0;
	case TV_BOOL: return v->u.b;
	case TV_INT: return v->u.i != 0;
	case TV_FLOAT: return v->u.f != 0;
	case TV_STRING: return v->u.str.len > 0;
	case TV_LIST: return v->u.list.n > 0;
	case TV_MAP: return v->u.map.n > 0;
	case TV_STRUCT: return 1;
	}
	return 0;
}

long template_value_len(const template_value *v)
{
	switch (v->kind) {
	case TV_STRING: return (long)v->u.str.len;
	case TV_LIST: return (long)v->u.list.n;
	case TV_MAP: return (long)v->u.map.n;
	default: return -1;
	}
}

/* ---- buffers ---- */

int template_buf_add(template_buf *b, const void *p, size_t n)
{
	if (b->overflow) return -1;
	if (b->limit && b->len + n > b->limit) { b->overflow = 1; return -1; }
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		while (nc < b->len + n + 1) nc *= 2;
		if (mem_charge(nc - b->cap) < 0) { b->overflow = 1; return -1; }
		char *d = realloc(b->data, nc);
		if (!d) { mem_release(nc - b->cap); mem_failed(); b->overflow = 1; return -1; }
		b->data = d;
		b->cap = nc;
	}
	if (n) memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int template_buf_adds(template_buf *b, const char *s) { return template_buf_add(b, s, strlen(s)); }

int template_buf_addf(template_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0) return -1;
	if ((size_t)n < sizeof tmp) return template_buf_add(b, tmp, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big) { mem_failed(); b->overflow = 1; return -1; }
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int r = template_buf_add(b, big, (size_t)n);
	free(big);
	return r;
}

void template_buf_free(template_buf *b)
{
	mem_release(b->cap);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

template_value *template_buf_take(template_buf *b)
{
	if (b->overflow) { template_buf_free(b); return NULL; }
	if (!b->data && template_buf_add(b, "", 0) < 0) { template_buf_free(b); return NULL; }
	template_value *v = tv_new(TV_STRING, "string");
	if (!v) { template_buf_free(b); return NULL; }
	v->u.str.s = b->data;
	v->u.str.len = b->len;
	v->charge += b->cap; /* charged by the buffer already: the value carries it from here */
	b->data = NULL;
	b->len = b->cap = 0;
	return v;
}

/* ---- Go formatting ---- */

/* Shortest decimal digits that round-trip: digits into d (no dot), decimal exponent of the
 * first digit into *exp10. */
static void shortest_digits(double f, char *d, int *exp10)
{
	char tmp[64];
	int p;
	for (p = 1; p <= 17; p++) {
		snprintf(tmp, sizeof tmp, "%.*e", p - 1, f);
		if (strtod(tmp, NULL) == f) break;
	}
	/* tmp: d.ddde±XX */
	char *e = strchr(tmp, 'e');
	*exp10 = atoi(e + 1);
	int n = 0;
	for (char *c = tmp; c < e; c++)
		if (*c >= '0' && *c <= '9') d[n++] = *c;
	while (n > 1 && d[n - 1] == '0') n--;
	d[n] = 0;
}

void template_format_float(template_buf *b, double f, char verb, int prec)
{
	if (isnan(f)) { template_buf_adds(b, "NaN"); return; }
	if (isinf(f)) { template_buf_adds(b, f > 0 ? "+Inf" : "-Inf"); return; }
	if (prec >= 0 || (verb != 'g' && verb != 'v')) {
		char fmt[16];
		char v = verb == 'v' ? 'g' : verb;
		if (prec < 0) prec = 6;
		snprintf(fmt, sizeof fmt, "%%.%d%c", prec, v);
		template_buf_addf(b, fmt, f);
		return;
	}
	/* shortest %g as Go's strconv 'g' with precision -1 */
	char d[32];
	int exp10, nd;
	if (f == 0) {
		template_buf_adds(b, signbit(f) ? "-0" : "0");
		return;
	}
	if (f < 0) { template_buf_adds(b, "-"); f = -f; }
	shortest_digits(f, d, &exp10);
	nd = (int)strlen(d);
	/* strconv: with the shortest precision, exponent form when exp < -4 || exp >= 6 */
	if (exp10 < -4 || exp10 >= 6) {
		template_buf_add(b, d, 1);
		if (nd > 1) { template_buf_adds(b, "."); template_buf_add(b, d + 1, (size_t)nd - 1); }
		template_buf_addf(b, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
		return;
	}
	if (exp10 < 0) {
		template_buf_adds(b, "0.");
		for (int i = 0; i < -exp10 - 1; i++) template_buf_adds(b, "0");
		template_buf_add(b, d, (size_t)nd);
		return;
	}
	if (nd <= exp10 + 1) {
		template_buf_add(b, d, (size_t)nd);
		for (int i = nd; i < exp10 + 1; i++) template_buf_adds(b, "0");
		return;
	}
	template_buf_add(b, d, (size_t)exp10 + 1);
	template_buf_adds(b, ".");
	template_buf_add(b, d + exp10 + 1, (size_t)(nd - exp10 - 1));
}

/* Decode one UTF-8 rune; returns its length (1 with *r = -1 for invalid bytes). */
static int utf8_decode(const unsigned char *s, size_t n, int32_t *r)
{
	unsigned c = s[0];
	if (c < 0x80) { *r = (int32_t)c; return 1; }
	int len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
	if (c >= 0xf5) len = 0;
	if (!len || (size_t)len > n) { *r = -1; return 1; }
	int32_t v = (int32_t)(c & (0x7f >> len));
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) { *r = -1; return 1; }
		v = (v << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (v < 0x800 || (v >= 0xd800 && v < 0xe000))) || (len == 4 && (v < 0x10000 || v > 0x10ffff))) {
		*r = -1;
		return 1;
	}
	*r = v;
	return len;
}

void template_quote(template_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	template_buf_adds(b, "\"");
	while (i < len) {
		int32_t r;
		int n = utf8_decode(p + i, len - i, &r);
		if (r < 0) { template_buf_addf(b, "\\x%02x", p[i]); i++; continue; }
		switch (r) {
		case '\a': template_buf_adds(b, "\\a"); break;
		case '\b': template_buf_adds(b, "\\b"); break;
		case '\f': template_buf_adds(b, "\\f"); break;
		case '\n': template_buf_adds(b, "\\n"); break;
		case '\r': template_buf_adds(b, "\\r"); break;
		case '\t': template_buf_adds(b, "\\t"); break;
		case '\v': template_buf_adds(b, "\\v"); break;
		case '\\': template_buf_adds(b, "\\\\"); break;
		case '"': template_buf_adds(b, "\\\""); break;
		default:
			if (r < 0x20 || r == 0x7f) template_buf_addf(b, "\\x%02x", (unsigned)r);
			else if (r < 0x80) template_buf_add(b, p + i, 1);
			else if (r == 0xfeff || (r >= 0x80 && r < 0xa0)) template_buf_addf(b, r > 0xffff ? "\\U%08x" : "\\u%04x", (unsigned)r);
			else template_buf_add(b, p + i, (size_t)n); /* printable enough */
		}
		i += (size_t)n;
	}
	template_buf_adds(b, "\"");
}

void template_value_format(template_buf *b, const template_value *v, int amp)
{
	size_t i;
	switch (v->kind) {
	case TV_INVALID: template_buf_adds(b, "<no value>"); break;
	case TV_NIL: template_buf_adds(b, "<nil>"); break;
	case TV_BOOL: template_buf_adds(b, v->u.b ? "true" : "false"); break;
	case TV_INT: template_buf_addf(b, "%lld", (long long)v->u.i); break;
	case TV_FLOAT: template_format_float(b, v->u.f, 'g', -1); break;
	case TV_STRING: template_buf_add(b, v->u.str.s, v->u.str.len); break;
	case TV_LIST:
		template_buf_adds(b, "[");
		for (i = 0; i < v->u.list.n; i++) {
			if (i) template_buf_adds(b, " ");
			template_value_format(b, v->u.list.items[i], 1);
		}
		template_buf_adds(b, "]");
		break;
	case TV_MAP:
		template_buf_adds(b, "map[");
		for (i = 0; i < v->u.map.n; i++) {
			if (i) template_buf_adds(b, " ");
			template_buf_adds(b, v->u.map.keys[i]);
			template_buf_adds(b, ":");
			template_value_format(b, v->u.map.vals[i], 1);
		}
		template_buf_adds(b, "]");
		break;
	case TV_STRUCT:
		/* a pointer to struct prints &{...} where fmt sees it (printf, inside lists); a plain
		 * struct (type without '*') always {...} */
		template_buf_adds(b, amp && v->type[0] == '*' ? "&{" : "{");
		for (i = 0; i < v->u.map.n; i++) {
			if (i) template_buf_adds(b, " ");
			template_value_format(b, v->u.map.vals[i], 1);
		}
		template_buf_adds(b, "}");
		break;
	}
}

/* ---- comparisons (text/template eq / lt) ---- */

static const char *err_incompatible = "incompatible types for comparison";
static const char *err_badtype = "invalid type for comparison";

static int basic(const template_value *v)
{
	return v->kind == TV_BOOL || v->kind == TV_INT || v->kind == TV_FLOAT || v->kind == TV_STRING;
}

int template_value_equal(const template_value *a, const template_value *b, int *res, const char **err)
{
	/* Go 1.19 text/template eq: basic kinds compare by value; differing kinds are an error
	 * unless one side is nil/no value; other kinds must be comparable (pointers are). */
	int za = a->kind == TV_INVALID || a->kind == TV_NIL, zb = b->kind == TV_INVALID || b->kind == TV_NIL;
	int ka = basic(a) ? (int)a->kind : -1, kb = basic(b) ? (int)b->kind : -1;
	*res = 0;
	if (ka != kb) {
		if (!za && !zb) { *err = err_incompatible; return -1; }
		return 0;
	}
	switch (a->kind) {
	case TV_BOOL: *res = a->u.b == b->u.b; return 0;
	case TV_INT: *res = a->u.i == b->u.i; return 0;
	case TV_FLOAT: *res = a->u.f == b->u.f; return 0;
	case TV_STRING: *res = a->u.str.len == b->u.str.len && !memcmp(a->u.str.s, b->u.str.s, a->u.str.len); return 0;
	default: break;
	}
	if (za || zb) { *res = za && zb; return 0; }
	if (a->kind != b->kind) { *err = "non-comparable types"; return -1; }
	if (a->kind == TV_STRUCT) {
		if (a->type[0] == '*' || strcmp(a->type, b->type) != 0) { *res = a == b; return 0; }
		/* plain structs compare field by field (Go's == on comparable structs) */
		*res = a->u.map.n == b->u.map.n;
		for (size_t i = 0; *res && i < a->u.map.n; i++) {
			int r;
			if (template_value_equal(a->u.map.vals[i], b->u.map.vals[i], &r, err) < 0) return -1;
			*res = r;
		}
		return 0;
	}
	*err = "non-comparable type";
	return -1;
}

int template_value_less(const template_value *a, const template_value *b, int *res, const char **err)
{
	*res = 0;
	if (!basic(a) || !basic(b)) { *err = err_badtype; return -1; }
	if (a->kind != b->kind) { *err = err_incompatible; return -1; }
	switch (a->kind) {
	case TV_BOOL: *err = err_badtype; return -1;
	case TV_INT: *res = a->u.i < b->u.i; break;
	case TV_FLOAT: *res = a->u.f < b->u.f; break;
	case TV_STRING: {
		size_t n = a->u.str.len < b->u.str.len ? a->u.str.len : b->u.str.len;
		int c = memcmp(a->u.str.s, b->u.str.s, n);
		*res = c < 0 || (c == 0 && a->u.str.len < b->u.str.len);
		break;
	}
	default: break;
	}
	return 0;
}
