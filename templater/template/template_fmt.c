/* template_fmt.c: Go's fmt.Sprintf / Sprint / Sprintln for template values (printf, print,
 * println). Owns: verbs %v %s %d %q %x %X %t %f %e %g %c %o %b %%, flags - + # 0 space,
 * widths and precisions (also *), and Go's error forms %!d(string=x), %!d(MISSING),
 * %!(EXTRA type=value). Lists and maps apply the verb to each element as fmt does.
 * Never: does I/O. */
#include "template_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	int minus, plus, sharp, zero, space;
	int plusv; /* %+v: no sign, struct field names */
	int wid, prec; /* -1: absent */
} spec;

static size_t rune_count(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++) if (((unsigned char)s[i] & 0xc0) != 0x80) c++;
	return c;
}

/* Appends s padded to the width (in runes). zero: pad with '0' after a sign. */
static void pad(template_buf *b, const char *s, size_t n, const spec *sp, int numeric)
{
	size_t w = rune_count(s, n);
	if (sp->wid < 0 || (size_t)sp->wid <= w) { template_buf_add(b, s, n); return; }
	size_t fill = (size_t)sp->wid - w;
	if (sp->minus) {
		template_buf_add(b, s, n);
		while (fill--) template_buf_add(b, " ", 1);
		return;
	}
	if (sp->zero && numeric) {
		size_t sign = n > 0 && (s[0] == '-' || s[0] == '+' || s[0] == ' ');
		template_buf_add(b, s, sign);
		while (fill--) template_buf_add(b, "0", 1);
		template_buf_add(b, s + sign, n - sign);
		return;
	}
	char c = sp->zero ? '0' : ' ';
	while (fill--) template_buf_add(b, &c, 1);
	template_buf_add(b, s, n);
}

static void fmt_int(template_buf *b, int64_t v, char verb, const spec *sp)
{
	char digits[80];
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	int base = verb == 'x' || verb == 'X' ? 16 : verb == 'o' ? 8 : verb == 'b' ? 2 : 10;
	const char *set = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
	int k = 0;
	do { digits[k++] = set[u % (unsigned)base]; u /= (unsigned)base; } while (u);
	char out[100];
	int n = 0;
	if (v < 0) out[n++] = '-';
	else if (sp->plus) out[n++] = '+';
	else if (sp->space) out[n++] = ' ';
	if (sp->sharp) {
		if (base == 16) { out[n++] = '0'; out[n++] = verb; }
		else if (base == 8) out[n++] = '0';
		else if (base == 2) { out[n++] = '0'; out[n++] = 'b'; }
	}
	int prec = sp->prec;
	if (prec == 0 && v == 0) { /* Go prints nothing for %.0d of 0 */
		spec s2 = *sp;
		s2.zero = 0;
		pad(b, out, (size_t)n, &s2, 0);
		return;
	}
	while (prec > k && n < 90) { out[n++] = '0'; prec--; }
	while (k > 0) out[n++] = digits[--k];
	spec s2 = *sp;
	if (sp->prec >= 0) s2.zero = 0;
	pad(b, out, (size_t)n, &s2, 1);
}

static void fmt_value(template_buf *b, const template_value *v, char verb, const spec *sp, int depth);

/* fmt's badVerb: %!d(TYPE=value), the value printed with %v and the same flags. */
static void bad_verb_spec(template_buf *b, char verb, const template_value *v, const spec *sp)
{
	template_buf_addf(b, "%%!%c(", verb);
	if (v->kind == TV_NIL || v->kind == TV_INVALID) template_buf_adds(b, "<nil>");
	else {
		template_buf_adds(b, v->type);
		template_buf_adds(b, "=");
		fmt_value(b, v, 'v', sp, 0);
	}
	template_buf_adds(b, ")");
}
#define bad_verb(b, verb, v) bad_verb_spec(b, verb, v, sp)

static void fmt_string(template_buf *b, const char *s, size_t n, char verb, const spec *sp)
{
	template_buf t = { 0 };
	if (verb == 'q') {
		if (sp->sharp && !memchr(s, '`', n)) {
			template_buf_add(&t, "`", 1);
			template_buf_add(&t, s, n);
			template_buf_add(&t, "`", 1);
		} else {
			template_quote(&t, s, n);
		}
	} else if (verb == 'x' || verb == 'X') {
		const char *set = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
		size_t lim = sp->prec >= 0 && (size_t)sp->prec < n ? (size_t)sp->prec : n;
		for (size_t i = 0; i < lim; i++) {
			unsigned char c = (unsigned char)s[i];
			if (sp->space && i) template_buf_add(&t, " ", 1);
			if (sp->sharp && (sp->space || i == 0)) template_buf_add(&t, verb == 'X' ? "0X" : "0x", 2);
			template_buf_add(&t, &set[c >> 4], 1);
			template_buf_add(&t, &set[c & 15], 1);
		}
	} else {
		size_t lim = n;
		if (sp->prec >= 0) { /* precision counts runes */
			size_t runes = 0, i;
			for (i = 0; i < n; i++) {
				if (((unsigned char)s[i] & 0xc0) != 0x80) {
					if (runes == (size_t)sp->prec) break;
					runes++;
				}
			}
			lim = i;
		}
		template_buf_add(&t, s, lim);
	}
	pad(b, t.data ? t.data : "", t.len, sp, 0);
	template_buf_free(&t);
}

static void fmt_value(template_buf *b, const template_value *v, char verb, const spec *sp, int depth)
{
	switch (v->kind) {
	case TV_BOOL:
		if (verb == 'v' || verb == 't') { const char *s = v->u.b ? "true" : "false"; pad(b, s, strlen(s), sp, 0); }
		else bad_verb(b, verb, v);
		return;
	case TV_INT:
		switch (verb) {
		case 'v': case 'd': fmt_int(b, v->u.i, 'd', sp); return;
		case 'x': case 'X': case 'o': case 'b': fmt_int(b, v->u.i, verb, sp); return;
		case 'U': {
			char u[32];
			int un = snprintf(u, sizeof u, "U+%04llX", (unsigned long long)v->u.i);
			pad(b, u, (size_t)un, sp, 0);
			return;
		}
		case 'c': case 'q': {
			template_buf t = { 0 };
			unsigned char u[4];
			int64_t r = v->u.i;
			int un;
			if (r < 0 || r > 0x10ffff || (r >= 0xd800 && r < 0xe000)) r = 0xfffd;
			if (r < 0x80) { u[0] = (unsigned char)r; un = 1; }
			else if (r < 0x800) { u[0] = 0xc0 | (r >> 6); u[1] = 0x80 | (r & 0x3f); un = 2; }
			else if (r < 0x10000) { u[0] = 0xe0 | (r >> 12); u[1] = 0x80 | ((r >> 6) & 0x3f); u[2] = 0x80 | (r & 0x3f); un = 3; }
			else { u[0] = 0xf0 | (r >> 18); u[1] = 0x80 | ((r >> 12) & 0x3f); u[2] = 0x80 | ((r >> 6) & 0x3f); u[3] = 0x80 | (r & 0x3f); un = 4; }
			if (verb == 'c') template_buf_add(&t, u, (size_t)un);
			else {
				template_buf q = { 0 };
				template_quote(&q, (const char *)u, (size_t)un);
				if (q.len >= 2 && q.data[1] == '\'') { template_buf_adds(&t, "'\\''"); }
				else {
					template_buf_add(&t, "'", 1);
					template_buf_add(&t, q.data + 1, q.len - 2);
					template_buf_add(&t, "'", 1);
				}
				template_buf_free(&q);
			}
			pad(b, t.data, t.len, sp, 0);
			template_buf_free(&t);
			return;
		}
		case 'f': case 'e': case 'g': case 's': case 't': default:
			bad_verb(b, verb, v);
			return;
		}
	case TV_FLOAT:
		switch (verb) {
		case 'v': case 'g': case 'f': case 'e': case 'F': case 'E': case 'G': {
			template_buf t = { 0 };
			char vv = verb == 'v' ? 'g' : verb == 'F' ? 'f' : verb;
			if (sp->plus && v->u.f >= 0) template_buf_add(&t, "+", 1);
			else if (sp->space && v->u.f >= 0) template_buf_add(&t, " ", 1);
			template_format_float(&t, v->u.f, vv, sp->prec);
			pad(b, t.data, t.len, sp, 1);
			template_buf_free(&t);
			return;
		}
		case 'x': case 'X': { /* Go's hex float: C's %a with a two-digit exponent */
			char tmp[64], fmtb[16];
			if (sp->prec >= 0) snprintf(fmtb, sizeof fmtb, "%s%%.%d%c", sp->plus ? "+" : sp->space ? " " : "", sp->prec, verb == 'x' ? 'a' : 'A');
			else snprintf(fmtb, sizeof fmtb, "%s%%%c", sp->plus ? "+" : sp->space ? " " : "", verb == 'x' ? 'a' : 'A');
			snprintf(tmp, sizeof tmp, fmtb, v->u.f);
			char *e = strpbrk(tmp, "pP");
			template_buf t = { 0 };
			if (e && (e[1] == '+' || e[1] == '-') && e[2] && !e[3]) {
				template_buf_add(&t, tmp, (size_t)(e - tmp) + 2);
				template_buf_add(&t, "0", 1);
				template_buf_adds(&t, e + 2);
			} else template_buf_adds(&t, tmp);
			pad(b, t.data, t.len, sp, 1);
			template_buf_free(&t);
			return;
		}
		default: bad_verb(b, verb, v); return;
		}
	case TV_STRING:
		if (verb == 'v' || verb == 's' || verb == 'q' || verb == 'x' || verb == 'X')
			fmt_string(b, v->u.str.s, v->u.str.len, verb, sp);
		else bad_verb(b, verb, v);
		return;
	case TV_LIST:
		template_buf_adds(b, "[");
		for (size_t i = 0; i < v->u.list.n; i++) {
			if (i) template_buf_adds(b, " ");
			fmt_value(b, v->u.list.items[i], verb, sp, depth + 1);
		}
		template_buf_adds(b, "]");
		return;
	case TV_MAP:
		template_buf_adds(b, "map[");
		for (size_t i = 0; i < v->u.map.n; i++) {
			if (i) template_buf_adds(b, " ");
			template_value key = { .kind = TV_STRING, .refs = 1, .type = "string" };
			key.u.str.s = v->u.map.keys[i];
			key.u.str.len = strlen(v->u.map.keys[i]);
			fmt_value(b, &key, verb, sp, depth + 1); /* fmt applies the verb and flags to keys too */
			template_buf_adds(b, ":");
			fmt_value(b, v->u.map.vals[i], verb, sp, depth + 1);
		}
		template_buf_adds(b, "]");
		return;
	case TV_STRUCT:
		if (v->type[0] != '*') { /* plain struct: the verb applies to each field */
			template_buf_adds(b, "{");
			for (size_t i = 0; i < v->u.map.n; i++) {
				if (i) template_buf_adds(b, " ");
				if (sp->plusv) { template_buf_adds(b, v->u.map.keys[i]); template_buf_adds(b, ":"); }
				fmt_value(b, v->u.map.vals[i], verb, sp, depth + 1);
			}
			template_buf_adds(b, "}");
			return;
		}
		if (depth > 0 && verb != 'v') {
			/* fmt prints a nested pointer with a bad verb as %!s(TYPE=&{...}) */
			template_buf_addf(b, "%%!%c(%s=", verb, v->type);
			fmt_value(b, v, 'v', sp, 0);
			template_buf_adds(b, ")");
			return;
		}
		template_buf_adds(b, "&{");
		for (size_t i = 0; i < v->u.map.n; i++) {
			if (i) template_buf_adds(b, " ");
			if (sp->plusv) { template_buf_adds(b, v->u.map.keys[i]); template_buf_adds(b, ":"); }
			fmt_value(b, v->u.map.vals[i], verb, sp, depth + 1);
		}
		template_buf_adds(b, "}");
		return;
	case TV_NIL: case TV_INVALID:
		if (verb == 'v' || verb == 's') pad(b, "<nil>", 5, sp, 0);
		else template_buf_addf(b, "%%!%c(<nil>)", verb);
		return;
	}
}

void template_sprintf(template_buf *b, const char *f, size_t flen, template_value **args, size_t n)
{
	size_t argi = 0;
	size_t i = 0;
	while (i < flen) {
		if (f[i] != '%') {
			size_t j = i;
			while (j < flen && f[j] != '%') j++;
			template_buf_add(b, f + i, j - i);
			i = j;
			continue;
		}
		i++;
		spec sp = { .wid = -1, .prec = -1 };
		for (; i < flen; i++) {
			char c = f[i];
			if (c == '-') { sp.minus = 1; sp.zero = 0; }
			else if (c == '+') sp.plus = 1;
			else if (c == '#') sp.sharp = 1;
			else if (c == '0') sp.zero = !sp.minus;
			else if (c == ' ') sp.space = 1;
			else break;
		}
		if (i < flen && f[i] == '*') {
			i++;
			if (argi < n && args[argi]->kind == TV_INT) {
				int64_t w = args[argi++]->u.i;
				if (w < 0) { sp.minus = 1; sp.zero = 0; w = -w; }
				sp.wid = w > 1000000 ? 1000000 : (int)w;
			} else { template_buf_adds(b, "%!(BADWIDTH)"); if (argi < n) argi++; }
		} else {
			while (i < flen && f[i] >= '0' && f[i] <= '9') {
				sp.wid = (sp.wid < 0 ? 0 : sp.wid) * 10 + (f[i] - '0');
				if (sp.wid > 1000000) sp.wid = 1000000;
				i++;
			}
		}
		if (i < flen && f[i] == '.') {
			i++;
			if (i < flen && f[i] == '*') {
				i++;
				if (argi < n && args[argi]->kind == TV_INT) {
					int64_t p = args[argi++]->u.i;
					sp.prec = p < 0 ? -1 : p > 1000000 ? 1000000 : (int)p;
				} else { template_buf_adds(b, "%!(BADPREC)"); if (argi < n) argi++; }
			} else {
				sp.prec = 0;
				while (i < flen && f[i] >= '0' && f[i] <= '9') {
					sp.prec = sp.prec * 10 + (f[i] - '0');
					if (sp.prec > 1000000) sp.prec = 1000000;
					i++;
				}
			}
		}
		if (i >= flen) { template_buf_adds(b, "%!(NOVERB)"); break; }
		char verb = f[i++];
		if (verb == '%') { template_buf_add(b, "%", 1); continue; }
		if (argi >= n) { template_buf_addf(b, "%%!%c(MISSING)", verb); continue; }
		template_value *v = args[argi++];
		if (verb == 'T') {
			const char *tn = v->kind == TV_NIL || v->kind == TV_INVALID ? "<nil>" : v->type;
			pad(b, tn, strlen(tn), &sp, 0);
			continue;
		}
		if (!strchr("vsdqxXtfeEgGFcobU", verb)) { bad_verb_spec(b, verb, v, &sp); continue; }
		if (verb == 'v' && sp.plus) { sp.plus = 0; sp.plusv = 1; }
		fmt_value(b, v, verb, &sp, 0);
	}
	if (argi < n) {
		template_buf_adds(b, "%!(EXTRA ");
		for (size_t k = argi; k < n; k++) {
			if (k > argi) template_buf_adds(b, ", ");
			if (args[k]->kind == TV_NIL || args[k]->kind == TV_INVALID) { template_buf_adds(b, "<nil>"); continue; }
			template_buf_adds(b, args[k]->type);
			template_buf_adds(b, "=");
			template_value_format(b, args[k], 1);
		}
		template_buf_adds(b, ")");
	}
}

void template_sprint(template_buf *b, template_value **args, size_t n, int ln)
{
	for (size_t i = 0; i < n; i++) {
		int is_str = args[i]->kind == TV_STRING;
		if (i > 0 && (ln || (!is_str && args[i - 1]->kind != TV_STRING))) template_buf_adds(b, " ");
		if (args[i]->kind == TV_INVALID) template_buf_adds(b, "<nil>");
		else template_value_format(b, args[i], 1);
	}
	if (ln) template_buf_adds(b, "\n");
}
