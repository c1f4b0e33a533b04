/* template_funcs.c: the function table and the data-free functions: Go text/template's
 * builtins (eq ne lt le gt ge and or not len index print printf println) and consul-template's
 * string helpers (join split contains in toLower toUpper replaceAll regexMatch regexReplaceAll
 * timestamp env byTag). The Consul data functions live in template_consul.c.
 * Owns: argument type checks with Go-like messages. Regular expressions are POSIX extended
 * (regex.h) with \d \w \s and their negations and a leading (?i) translated; see docs/template.md
 * for RE2 differences. toLower/toUpper change ASCII letters only.
 * Never: does I/O (env goes through the provider). */
#include "template_exec.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* template_consul.c */
template_value *tplf_services(template_exec_state *, const char *, template_value **, size_t);
template_value *tplf_service(template_exec_state *, const char *, template_value **, size_t);
template_value *tplf_key(template_exec_state *, const char *, template_value **, size_t);
template_value *tplf_key_or_default(template_exec_state *, const char *, template_value **, size_t);
template_value *tplf_key_exists(template_exec_state *, const char *, template_value **, size_t);
template_value *tplf_ls(template_exec_state *, const char *, template_value **, size_t);
template_value *tplf_tree(template_exec_state *, const char *, template_value **, size_t);

/* ---- comparisons ---- */

/* Go's messages for slices/maps given to eq/ne name the value and its type. */
static void eq_error(template_exec_state *x, const char *name, const char *err, template_value *a, template_value *b)
{
	if (!strcmp(err, "non-comparable type")) {
		template_buf m = { 0 };
		const char *f = "non-comparable type %s: ";
		template_sprintf(&m, f, strlen(f), &b, 1);
		template_buf_adds(&m, b->type);
		template_call_error(x, name, "%s", m.data ? m.data : err);
		template_buf_free(&m);
		return;
	}
	if (!strcmp(err, "non-comparable types")) {
		template_buf m = { 0 };
		const char *f = "non-comparable types %s: ";
		template_sprintf(&m, f, strlen(f), &a, 1);
		template_buf_adds(&m, a->type);
		template_buf_adds(&m, ", ");
		template_buf_adds(&m, b->type);
		template_buf_adds(&m, ": ");
		template_value_format(&m, b, 1);
		template_call_error(x, name, "%s", m.data ? m.data : err);
		template_buf_free(&m);
		return;
	}
	template_call_error(x, name, "%s", err);
}

static template_value *f_eq(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		int r;
		const char *err;
		if (template_value_equal(a[0], a[i], &r, &err) < 0) { eq_error(x, name, err, a[0], a[i]); return NULL; }
		if (r) return template_value_bool(1);
	}
	return template_value_bool(0);
}

static template_value *f_ne(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	int r;
	const char *err;
	if (template_value_equal(a[0], a[1], &r, &err) < 0) { eq_error(x, name, err, a[0], a[1]); return NULL; }
	return template_value_bool(!r);
}

static template_value *f_cmp(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	int lt, eq = 0;
	const char *err;
	if (template_value_less(a[0], a[1], &lt, &err) < 0) { template_call_error(x, name, "%s", err); return NULL; }
	if (!lt && template_value_equal(a[0], a[1], &eq, &err) < 0) { template_call_error(x, name, "%s", err); return NULL; }
	if (!strcmp(name, "lt")) return template_value_bool(lt);
	if (!strcmp(name, "le")) return template_value_bool(lt || eq);
	if (!strcmp(name, "gt")) return template_value_bool(!(lt || eq));
	return template_value_bool(!lt); /* ge */
}

static template_value *f_not(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	return template_value_bool(!template_value_truth(a[0]));
}

/* and/or are evaluated lazily in template_exec.c; this entry only makes them known. */
static template_value *f_andor(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	return template_value_ref(a[n - 1]);
}

static template_value *f_len(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	long l = template_value_len(a[0]);
	if (l < 0 && (a[0]->kind == TV_INVALID || a[0]->kind == TV_NIL)) {
		template_call_error(x, name, "reflect: call of reflect.Value.Type on zero Value");
		return NULL;
	}
	if (l < 0) {
		/* Go dereferences pointers before naming the type */
		const char *t = a[0]->type;
		template_call_error(x, name, "len of type %s", t[0] == '*' ? t + 1 : t);
		return NULL;
	}
	return template_value_int(l);
}

static template_value *f_index(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	template_value *cur = template_value_ref(a[0]);
	for (size_t i = 1; i < n; i++) {
		template_value *k = a[i], *nx = NULL;
		if (cur->kind == TV_LIST || cur->kind == TV_STRING) {
			if (k->kind != TV_INT) {
				if (k->kind == TV_INVALID || k->kind == TV_NIL) template_call_error(x, name, "cannot index slice/array with nil");
				else template_call_error(x, name, "cannot index slice/array with type %s", k->type);
				goto fail;
			}
			long len = template_value_len(cur);
			if (k->u.i < 0 || k->u.i > len) { template_call_error(x, name, "index out of range: %lld", (long long)k->u.i); goto fail; }
			if (k->u.i == len) { /* Go's reflect panics here, recovered as this error */
				template_call_error(x, name, "reflect: %s index out of range", cur->kind == TV_LIST ? "slice" : "string");
				goto fail;
			}
			nx = cur->kind == TV_LIST ? template_value_ref(cur->u.list.items[k->u.i])
			                          : template_value_int((unsigned char)cur->u.str.s[k->u.i]);
			if (nx && cur->kind == TV_STRING) nx->type = "uint8"; /* Go indexes strings by byte */
		} else if (cur->kind == TV_MAP) {
			if (k->kind != TV_STRING) {
				if (k->kind == TV_INVALID || k->kind == TV_NIL) template_call_error(x, name, "value is nil; should be of type string");
				else template_call_error(x, name, "value has type %s; should be string", k->type);
				goto fail;
			}
			template_value *v = template_value_get(cur, k->u.str.s);
			if (v) nx = template_value_ref(v);
			else if (!strcmp(cur->type, "map[string]string")) nx = template_value_cstr("");
			else nx = template_value_list("[]interface {}");
		} else if (cur->kind == TV_INVALID || cur->kind == TV_NIL) {
			template_call_error(x, name, "index of untyped nil");
			goto fail;
		} else {
			template_call_error(x, name, "can't index item of type %s", cur->type[0] == '*' ? cur->type + 1 : cur->type);
			goto fail;
		}
		template_value_unref(cur);
		cur = nx;
		if (!cur) return NULL;
	}
	return cur;
fail:
	template_value_unref(cur);
	return NULL;
}

static template_value *f_print(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	template_buf b = { 0 };
	if (!strcmp(name, "printf")) {
		const char *f;
		size_t fl;
		if (template_arg_string(x, name, a[0], &f, &fl) < 0) return NULL;
		template_sprintf(&b, f, fl, a + 1, n - 1);
	} else {
		template_sprint(&b, a, n, !strcmp(name, "println"));
	}
	return template_buf_take(&b);
}

/* ---- strings ---- */

static template_value *f_join(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const char *sep;
	size_t sl;
	if (template_arg_string(x, name, a[0], &sep, &sl) < 0) return NULL;
	if (a[1]->kind == TV_INVALID || a[1]->kind == TV_NIL) return template_value_cstr(""); /* a nil slice */
	if (a[1]->kind != TV_LIST) { template_arg_type_error(x, a[1], "[]string"); return NULL; }
	template_buf b = { 0 };
	template_buf_add(&b, "", 0);
	for (size_t i = 0; i < a[1]->u.list.n; i++) {
		template_value *e = a[1]->u.list.items[i];
		if (e->kind != TV_STRING) {
			template_buf_free(&b);
			template_arg_type_error(x, a[1], "[]string");
			return NULL;
		}
		if (i) template_buf_add(&b, sep, sl);
		template_buf_add(&b, e->u.str.s, e->u.str.len);
	}
	return template_buf_take(&b);
}

static template_value *f_split(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const char *sep, *s;
	size_t sl, len;
	if (template_arg_string(x, name, a[0], &sep, &sl) < 0 || template_arg_string(x, name, a[1], &s, &len) < 0) return NULL;
	/* consul-template trims space first; an empty string gives an empty list */
	while (len && isspace((unsigned char)*s)) { s++; len--; }
	while (len && isspace((unsigned char)s[len - 1])) len--;
	template_value *l = template_value_list("[]string");
	if (!l || len == 0) return l;
	if (sl == 0) { /* strings.Split with "" splits into UTF-8 sequences */
		for (size_t i = 0; i < len;) {
			size_t j = i + 1;
			while (j < len && ((unsigned char)s[j] & 0xc0) == 0x80) j++;
			template_value_list_push(l, template_value_string(s + i, j - i));
			i = j;
		}
		return l;
	}
	size_t start = 0;
	for (size_t i = 0; i + sl <= len;) {
		if (!memcmp(s + i, sep, sl)) {
			template_value_list_push(l, template_value_string(s + start, i - start));
			i += sl;
			start = i;
		} else i++;
	}
	template_value_list_push(l, template_value_string(s + start, len - start));
	return l;
}

/* consul-template's in(l, v): substring for strings, element for lists. */
static template_value *in_impl(template_exec_state *x, template_value *l, template_value *v)
{
	if (l->kind == TV_LIST) {
		for (size_t i = 0; i < l->u.list.n; i++) {
			template_value *e = l->u.list.items[i];
			if (e->kind == TV_INT && v->kind == TV_INT && e->u.i == v->u.i) return template_value_bool(1);
			if (e->kind == TV_FLOAT && v->kind == TV_FLOAT && e->u.f == v->u.f) return template_value_bool(1);
			if (e->kind == TV_STRING && v->kind == TV_STRING && e->u.str.len == v->u.str.len &&
			    !memcmp(e->u.str.s, v->u.str.s, e->u.str.len)) return template_value_bool(1);
		}
		return template_value_bool(0);
	}
	if (l->kind == TV_STRING && v->kind == TV_STRING)
		return template_value_bool(memmem(l->u.str.s, l->u.str.len, v->u.str.s, v->u.str.len) != NULL);
	return template_value_bool(0);
}

static template_value *f_in(template_exec_state *x, const char *name, template_value **a, size_t n) { return in_impl(x, a[0], a[1]); }
static template_value *f_contains(template_exec_state *x, const char *name, template_value **a, size_t n) { return in_impl(x, a[1], a[0]); }

static template_value *f_case(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const char *s;
	size_t len;
	if (template_arg_string(x, name, a[0], &s, &len) < 0) return NULL;
	char *o = malloc(len + 1);
	if (!o) return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		o[i] = (char)(name[2] == 'L' ? (c >= 'A' && c <= 'Z' ? c + 32 : c) : (c >= 'a' && c <= 'z' ? c - 32 : c));
	}
	o[len] = 0;
	return template_value_string_take(o, len);
}

static template_value *f_replace_all(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const char *from, *to, *s;
	size_t fl, tl, sl;
	if (template_arg_string(x, name, a[0], &from, &fl) < 0 || template_arg_string(x, name, a[1], &to, &tl) < 0 ||
	    template_arg_string(x, name, a[2], &s, &sl) < 0) return NULL;
	template_buf b = { 0 };
	template_buf_add(&b, "", 0);
	if (fl == 0) { /* Go: insert `to` before every rune and at the end */
		for (size_t i = 0; i < sl;) {
			size_t j = i + 1;
			while (j < sl && ((unsigned char)s[j] & 0xc0) == 0x80) j++;
			template_buf_add(&b, to, tl);
			template_buf_add(&b, s + i, j - i);
			i = j;
		}
		template_buf_add(&b, to, tl);
	} else {
		for (size_t i = 0; i < sl;) {
			if (i + fl <= sl && !memcmp(s + i, from, fl)) { template_buf_add(&b, to, tl); i += fl; }
			else { template_buf_add(&b, s + i, 1); i++; }
		}
	}
	return template_buf_take(&b);
}

/* Translates the common RE2 shorthands to POSIX ERE. */
static int re_compile(template_exec_state *x, const char *name, const char *pat, regex_t *re)
{
	template_buf b = { 0 };
	int flags = REG_EXTENDED, inclass = 0;
	if (!strncmp(pat, "(?i)", 4)) { flags |= REG_ICASE; pat += 4; }
	template_buf_add(&b, "", 0);
	for (const char *p = pat; *p; p++) {
		if (*p == '\\' && p[1]) {
			const char *rep = NULL;
			switch (p[1]) {
			case 'd': rep = inclass ? "0-9" : "[0-9]"; break;
			case 'D': rep = inclass ? NULL : "[^0-9]"; break;
			case 'w': rep = inclass ? "[:alnum:]_" : "[[:alnum:]_]"; break;
			case 'W': rep = inclass ? NULL : "[^[:alnum:]_]"; break;
			case 's': rep = inclass ? "[:space:]" : "[[:space:]]"; break;
			case 'S': rep = inclass ? NULL : "[^[:space:]]"; break;
			}
			if (rep) { template_buf_adds(&b, rep); p++; continue; }
			template_buf_add(&b, p, 2);
			p++;
			continue;
		}
		if (*p == '[' && !inclass) {
			inclass = 1;
			template_buf_add(&b, p, 1);
			if (p[1] == '^') { template_buf_add(&b, ++p, 1); }
			if (p[1] == ']') { template_buf_add(&b, ++p, 1); }
			continue;
		}
		if (*p == '[' && inclass && p[1] == ':') {
			const char *e = strstr(p + 2, ":]");
			if (e) { template_buf_add(&b, p, (size_t)(e - p) + 2); p = e + 1; continue; }
		}
		if (*p == ']' && inclass) inclass = 0;
		template_buf_add(&b, p, 1);
	}
	int rc = regcomp(re, b.data, flags);
	template_buf_free(&b);
	if (rc) {
		char m[200];
		regerror(rc, re, m, sizeof m);
		template_call_error(x, name, "error parsing regexp: %s: `%s`", m, pat);
		return -1;
	}
	return 0;
}

static template_value *f_regex_match(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const char *pat, *s;
	regex_t re;
	if (template_arg_string(x, name, a[0], &pat, NULL) < 0 || template_arg_string(x, name, a[1], &s, NULL) < 0) return NULL;
	if (re_compile(x, name, pat, &re) < 0) return NULL;
	int m = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return template_value_bool(m);
}

/* Go's Regexp.Expand for $1, ${1}, $$ (named groups expand to nothing). */
static void expand(template_buf *b, const char *tmpl, const char *s, const regmatch_t *m, size_t nm)
{
	for (const char *p = tmpl; *p;) {
		if (*p != '$') { template_buf_add(b, p, 1); p++; continue; }
		p++;
		if (*p == '$') { template_buf_add(b, "$", 1); p++; continue; }
		const char *name;
		size_t nl;
		if (*p == '{') {
			const char *e = p + 1;
			while (*e && (isalnum((unsigned char)*e) || *e == '_')) e++;
			if (*e != '}' || e == p + 1) { template_buf_add(b, "$", 1); continue; }
			name = p + 1;
			nl = (size_t)(e - name);
			p = e + 1;
		} else {
			const char *e = p;
			while (*e && (isalnum((unsigned char)*e) || *e == '_')) e++;
			if (e == p) { template_buf_add(b, "$", 1); continue; }
			name = p;
			nl = (size_t)(e - p);
			p = e;
		}
		int num = 1;
		size_t g = 0;
		for (size_t i = 0; i < nl; i++) {
			if (!isdigit((unsigned char)name[i])) { num = 0; break; }
			g = g * 10 + (size_t)(name[i] - '0');
			if (g > 1000) { num = 0; break; }
		}
		if (num && g < nm && m[g].rm_so >= 0) template_buf_add(b, s + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
	}
}

static template_value *f_regex_replace_all(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const char *pat, *repl, *s;
	size_t sl;
	regex_t re;
	if (template_arg_string(x, name, a[0], &pat, NULL) < 0 || template_arg_string(x, name, a[1], &repl, NULL) < 0 ||
	    template_arg_string(x, name, a[2], &s, &sl) < 0) return NULL;
	if (re_compile(x, name, pat, &re) < 0) return NULL;
	template_buf b = { 0 };
	template_buf_add(&b, "", 0);
	regmatch_t m[10];
	size_t search = 0, last_end = 0;
	while (search <= sl) {
		int eflags = search > 0 ? REG_NOTBOL : 0;
		if (regexec(&re, s + search, 10, m, eflags) != 0) break;
		for (int i = 0; i < 10; i++) if (m[i].rm_so >= 0) { m[i].rm_so += (regoff_t)search; m[i].rm_eo += (regoff_t)search; }
		size_t ms = (size_t)m[0].rm_so, me = (size_t)m[0].rm_eo;
		template_buf_add(&b, s + last_end, ms - last_end);
		if (me > last_end || ms == 0) {
			template_buf t = { 0 };
			expand(&t, repl, s, m, 10);
			template_buf_add(&b, t.data ? t.data : "", t.len);
			template_buf_free(&t);
		}
		last_end = me;
		size_t width = 1;
		while (search + width < sl && ((unsigned char)s[search + width] & 0xc0) == 0x80) width++;
		if (search + width > me) search += width;
		else if (search + 1 > me) search++;
		else search = me;
		if (search > sl) break;
	}
	if (last_end < sl) template_buf_add(&b, s + last_end, sl - last_end);
	regfree(&re);
	return template_buf_take(&b);
}

/* Go time layout formatting (UTC only). */
static void go_time_format(template_buf *b, const char *layout, time_t now)
{
	static const char *mon[] = { "January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December" };
	static const char *day[] = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" };
	struct tm tm;
	gmtime_r(&now, &tm);
	const char *p = layout;
#define PFX(s) (strncmp(p, s, strlen(s)) == 0)
	while (*p) {
		int h12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
		if (PFX("January")) { template_buf_adds(b, mon[tm.tm_mon]); p += 7; }
		else if (PFX("Jan")) { template_buf_add(b, mon[tm.tm_mon], 3); p += 3; }
		else if (PFX("Monday")) { template_buf_adds(b, day[tm.tm_wday]); p += 6; }
		else if (PFX("Mon")) { template_buf_add(b, day[tm.tm_wday], 3); p += 3; }
		else if (PFX("MST")) { template_buf_adds(b, "UTC"); p += 3; }
		else if (PFX("2006")) { template_buf_addf(b, "%04d", tm.tm_year + 1900); p += 4; }
		else if (PFX("01")) { template_buf_addf(b, "%02d", tm.tm_mon + 1); p += 2; }
		else if (PFX("02")) { template_buf_addf(b, "%02d", tm.tm_mday); p += 2; }
		else if (PFX("03")) { template_buf_addf(b, "%02d", h12); p += 2; }
		else if (PFX("04")) { template_buf_addf(b, "%02d", tm.tm_min); p += 2; }
		else if (PFX("05")) { template_buf_addf(b, "%02d", tm.tm_sec); p += 2; }
		else if (PFX("06")) { template_buf_addf(b, "%02d", tm.tm_year % 100); p += 2; }
		else if (PFX("002")) { template_buf_addf(b, "%03d", tm.tm_yday + 1); p += 3; }
		else if (PFX("15")) { template_buf_addf(b, "%02d", tm.tm_hour); p += 2; }
		else if (PFX("1")) { template_buf_addf(b, "%d", tm.tm_mon + 1); p += 1; }
		else if (PFX("_2")) { template_buf_addf(b, "%2d", tm.tm_mday); p += 2; }
		else if (PFX("2")) { template_buf_addf(b, "%d", tm.tm_mday); p += 1; }
		else if (PFX("3")) { template_buf_addf(b, "%d", h12); p += 1; }
		else if (PFX("4")) { template_buf_addf(b, "%d", tm.tm_min); p += 1; }
		else if (PFX("5")) { template_buf_addf(b, "%d", tm.tm_sec); p += 1; }
		else if (PFX("PM")) { template_buf_adds(b, tm.tm_hour >= 12 ? "PM" : "AM"); p += 2; }
		else if (PFX("pm")) { template_buf_adds(b, tm.tm_hour >= 12 ? "pm" : "am"); p += 2; }
		else if (PFX("Z07:00")) { template_buf_adds(b, "Z"); p += 6; }
		else if (PFX("Z0700")) { template_buf_adds(b, "Z"); p += 5; }
		else if (PFX("Z07")) { template_buf_adds(b, "Z"); p += 3; }
		else if (PFX("-07:00")) { template_buf_adds(b, "+00:00"); p += 6; }
		else if (PFX("-0700")) { template_buf_adds(b, "+0000"); p += 5; }
		else if (PFX("-07")) { template_buf_adds(b, "+00"); p += 3; }
		else if ((p[0] == '.' || p[0] == ',') && (p[1] == '0' || p[1] == '9')) {
			/* fractional seconds: always zero at whole-second resolution */
			char d = p[1];
			const char *q = p + 1;
			while (*q == d) q++;
			if (isdigit((unsigned char)*q)) { template_buf_add(b, p, 1); p++; continue; }
			if (d == '0') { template_buf_add(b, p, 1); for (const char *r = p + 1; r < q; r++) template_buf_adds(b, "0"); }
			p = q;
		} else { template_buf_add(b, p, 1); p++; }
	}
#undef PFX
}

static template_value *f_timestamp(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	template_buf b = { 0 };
	template_buf_add(&b, "", 0);
	if (n == 0) go_time_format(&b, "2006-01-02T15:04:05Z07:00", template_now(x));
	else {
		const char *layout;
		if (template_arg_string(x, name, a[0], &layout, NULL) < 0) { template_buf_free(&b); return NULL; }
		if (!strcmp(layout, "unix")) template_buf_addf(&b, "%lld", (long long)template_now(x));
		else go_time_format(&b, layout, template_now(x));
	}
	return template_buf_take(&b);
}

static template_value *f_env(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	const char *k;
	if (template_arg_string(x, name, a[0], &k, NULL) < 0) return NULL;
	const template_provider *p = template_exec_provider(x);
	const char *v = p->env ? p->env(p->ctx, k) : NULL;
	return template_value_cstr(v ? v : "");
}

static template_value *f_by_tag(template_exec_state *x, const char *name, template_value **a, size_t n)
{
	template_value *in = a[0];
	template_value *m = template_value_map("map[string][]interface {}");
	if (!m) return NULL;
	if (in->kind == TV_NIL || in->kind == TV_INVALID) return m;
	if (in->kind != TV_LIST) { template_value_unref(m); template_call_error(x, name, "byTag: wrong argument type %s", in->type); return NULL; }
	for (size_t i = 0; i < in->u.list.n; i++) {
		template_value *s = in->u.list.items[i];
		template_value *tags = s->kind == TV_STRUCT ? template_value_get(s, "Tags") : NULL;
		if (!tags || tags->kind != TV_LIST) { template_value_unref(m); template_call_error(x, name, "byTag: wrong argument type %s", in->type); return NULL; }
		for (size_t k = 0; k < tags->u.list.n; k++) {
			template_value *t = tags->u.list.items[k];
			template_value *l = template_value_get(m, t->u.str.s);
			if (!l) {
				l = template_value_list("[]interface {}");
				if (!l || template_value_map_set(m, t->u.str.s, l) < 0) { template_value_unref(m); return NULL; }
			}
			template_value_list_push(l, template_value_ref(s));
		}
	}
	return m;
}

static const template_func_def funcs[] = {
	/* Go text/template builtins */
	{ "and", f_andor, 1, -1 }, { "or", f_andor, 1, -1 }, { "not", f_not, 1, 1 },
	{ "eq", f_eq, 1, -1 }, { "ne", f_ne, 2, 2 }, { "lt", f_cmp, 2, 2 }, { "le", f_cmp, 2, 2 },
	{ "gt", f_cmp, 2, 2 }, { "ge", f_cmp, 2, 2 }, { "len", f_len, 1, 1 }, { "index", f_index, 1, -1 },
	{ "print", f_print, 0, -1 }, { "printf", f_print, 1, -1 }, { "println", f_print, 0, -1 },
	/* consul-template */
	{ "services", tplf_services, 0, 1 }, { "service", tplf_service, 1, -1 },
	{ "key", tplf_key, 1, 1 }, { "keyOrDefault", tplf_key_or_default, 2, 2 },
	{ "keyExists", tplf_key_exists, 1, 1 }, { "ls", tplf_ls, 1, 1 }, { "tree", tplf_tree, 1, 1 },
	{ "env", f_env, 1, 1 }, { "join", f_join, 2, 2 }, { "split", f_split, 2, 2 },
	{ "contains", f_contains, 2, 2 }, { "in", f_in, 2, 2 }, { "toLower", f_case, 1, 1 },
	{ "toUpper", f_case, 1, 1 }, { "replaceAll", f_replace_all, 3, 3 },
	{ "regexMatch", f_regex_match, 2, 2 }, { "regexReplaceAll", f_regex_replace_all, 3, 3 },
	{ "byTag", f_by_tag, 1, 1 }, { "timestamp", f_timestamp, 0, 1 },
};

const template_func_def *template_func_find(const char *name)
{
	for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
		if (!strcmp(funcs[i].name, name)) return &funcs[i];
	return NULL;
}

int template_func_exists(const char *name) { return template_func_find(name) != NULL; }
