/* template_lex.c: the lexer for Go text/template syntax, state for state as Go 1.19's
 * text/template/parse/lex.go, so trimming ({{- and -}}: a '-' next to the delimiter with a
 * space on its other side trims all adjacent " \t\r\n"), comments and token boundaries agree.
 * Owns: turning template bytes into template_tokens. Promises: always terminates with T_EOF or
 * one T_ERROR token carrying a Go-style message; never reads past len.
 * Never: interprets tokens (template_parse.c does). */
#include "template_ast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *in;
	size_t len, pos, start;
	int line, start_line;
	int paren;
	template_tokens *out;
	int oom;
} lexer;

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static int is_alnum(int c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static int count_nl(const char *s, size_t n)
{
	int c = 0;
	for (size_t i = 0; i < n; i++) c += s[i] == '\n';
	return c;
}

static int push(lexer *l, template_tok_type t, size_t pos, int line, const char *val, size_t len)
{
	template_tokens *o = l->out;
	if (o->n == o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 64;
		template_token *p = realloc(o->toks, nc * sizeof *p);
		if (!p) { l->oom = 1; return -1; }
		o->toks = p;
		o->cap = nc;
	}
	char *v = malloc(len + 1);
	if (!v) { l->oom = 1; return -1; }
	memcpy(v, val, len);
	v[len] = 0;
	o->toks[o->n++] = (template_token){ t, pos, line, v, len };
	return 0;
}

/* Emits in[start:pos] and moves start to pos, counting lines. */
static void emit(lexer *l, template_tok_type t)
{
	push(l, t, l->start, l->start_line, l->in + l->start, l->pos - l->start);
	l->line += count_nl(l->in + l->start, l->pos - l->start);
	l->start = l->pos;
	l->start_line = l->line;
}

static void ignore(lexer *l)
{
	l->line += count_nl(l->in + l->start, l->pos - l->start);
	l->start = l->pos;
	l->start_line = l->line;
}

static void error(lexer *l, const char *msg)
{
	push(l, T_ERROR, l->start, l->start_line, msg, strlen(msg));
}

static int has_prefix(const lexer *l, size_t at, const char *p)
{
	size_t n = strlen(p);
	return at <= l->len && l->len - at >= n && memcmp(l->in + at, p, n) == 0;
}

static int has_left_trim(const lexer *l, size_t at)
{
	return at + 2 <= l->len && l->in[at] == '-' && is_space((unsigned char)l->in[at + 1]);
}

static int has_right_trim(const lexer *l, size_t at)
{
	return at + 2 <= l->len && is_space((unsigned char)l->in[at]) && l->in[at + 1] == '-';
}

/* At "}}" or " -}}"? *trim set for the latter. */
static int at_right_delim(const lexer *l, int *trim)
{
	if (has_right_trim(l, l->pos) && has_prefix(l, l->pos + 2, "}}")) { *trim = 1; return 1; }
	*trim = 0;
	return has_prefix(l, l->pos, "}}");
}

static int at_terminator(const lexer *l)
{
	int trim;
	if (l->pos >= l->len) return 1;
	int c = (unsigned char)l->in[l->pos];
	if (is_space(c)) return 1;
	switch (c) {
	case '.': case ',': case '|': case ':': case ')': case '(': return 1;
	}
	(void)trim;
	return has_prefix(l, l->pos, "}}");
}

/* Go's %#U of the rune at pos: "U+007B '{'". */
static void bad_char(lexer *l, const char *what)
{
	char msg[96];
	unsigned long r = 0;
	if (l->pos < l->len) {
		const unsigned char *u = (const unsigned char *)l->in + l->pos;
		size_t n = l->len - l->pos;
		r = u[0];
		if (u[0] >= 0xf0 && n >= 4) r = ((u[0] & 7UL) << 18) | ((u[1] & 63UL) << 12) | ((u[2] & 63UL) << 6) | (u[3] & 63UL);
		else if (u[0] >= 0xe0 && n >= 3) r = ((u[0] & 15UL) << 12) | ((u[1] & 63UL) << 6) | (u[2] & 63UL);
		else if (u[0] >= 0xc0 && n >= 2) r = ((u[0] & 31UL) << 6) | (u[1] & 63UL);
		else if (u[0] >= 0x80) r = 0xfffd;
	}
	if (r >= 0x20 && r != 0x7f && r < 0x80) snprintf(msg, sizeof msg, "%s U+%04lX '%c'", what, r, (int)r);
	else if (r >= 0xa0 && l->pos < l->len) {
		size_t n = 1;
		while (l->pos + n < l->len && ((unsigned char)l->in[l->pos + n] & 0xc0) == 0x80) n++;
		snprintf(msg, sizeof msg, "%s U+%04lX '%.*s'", what, r, (int)n, l->in + l->pos);
	} else snprintf(msg, sizeof msg, "%s U+%04lX", what, r);
	error(l, msg);
}

static const struct { const char *w; template_tok_type t; } keywords[] = {
	{ "range", T_RANGE }, { "if", T_IF }, { "else", T_ELSE }, { "end", T_END },
	{ "with", T_WITH }, { "define", T_DEFINE }, { "template", T_TEMPLATE },
	{ "block", T_BLOCK }, { "break", T_BREAK }, { "continue", T_CONTINUE },
	{ "nil", T_NIL },
};

static int accept(lexer *l, const char *set)
{
	if (l->pos < l->len && l->in[l->pos] && strchr(set, l->in[l->pos])) { l->pos++; return 1; }
	return 0;
}

static void accept_run(lexer *l, const char *set)
{
	while (accept(l, set)) {}
}

/* Go's scanNumber: sign, base prefix, digits, fraction, exponent, imaginary 'i'; false when
 * an alphanumeric follows (which it consumes, for the message). */
static int scan_number(lexer *l)
{
	const char *digits = "0123456789_";
	accept(l, "+-");
	if (accept(l, "0")) {
		if (accept(l, "xX")) digits = "0123456789abcdefABCDEF_";
		else if (accept(l, "oO")) digits = "01234567_";
		else if (accept(l, "bB")) digits = "01_";
	}
	accept_run(l, digits);
	if (accept(l, ".")) accept_run(l, digits);
	if (strlen(digits) == 11 && accept(l, "eE")) { accept(l, "+-"); accept_run(l, "0123456789_"); }
	if (strlen(digits) == 23 && accept(l, "pP")) { accept(l, "+-"); accept_run(l, "0123456789_"); }
	accept(l, "i");
	if (l->pos < l->len && is_alnum((unsigned char)l->in[l->pos])) {
		l->pos++;
		while (l->pos < l->len && ((unsigned char)l->in[l->pos] & 0xc0) == 0x80) l->pos++;
		return 0;
	}
	return 1;
}

/* Returns 0 to continue inside the action, 1 when the action closed, -1 on error. */
static int lex_inside(lexer *l)
{
	for (;;) {
		int trim;
		if (at_right_delim(l, &trim)) {
			if (l->paren > 0) { error(l, "unclosed left paren"); return -1; }
			if (trim) { l->pos += 2; ignore(l); }
			l->pos += 2;
			emit(l, T_RDELIM);
			if (trim) {
				while (l->pos < l->len && is_space((unsigned char)l->in[l->pos])) l->pos++;
				ignore(l);
			}
			return 1;
		}
		if (l->pos >= l->len) { error(l, "unclosed action"); return -1; }
		int c = (unsigned char)l->in[l->pos];
		if (is_space(c)) {
			size_t n = 0;
			while (l->pos < l->len && is_space((unsigned char)l->in[l->pos])) { l->pos++; n++; }
			/* a space that belongs to " -}}" */
			if (has_right_trim(l, l->pos - 1) && has_prefix(l, l->pos + 1, "}}")) {
				l->pos--;
				if (n == 1) continue;
			}
			emit(l, T_SPACE);
			continue;
		}
		l->pos++;
		switch (c) {
		case '=': emit(l, T_ASSIGN); continue;
		case ':':
			if (l->pos >= l->len || l->in[l->pos] != '=') { error(l, "expected :="); return -1; }
			l->pos++;
			emit(l, T_DECLARE);
			continue;
		case '|': emit(l, T_PIPE); continue;
		case '"':
			for (;;) {
				if (l->pos >= l->len || l->in[l->pos] == '\n') { error(l, "unterminated quoted string"); return -1; }
				char ch = l->in[l->pos++];
				if (ch == '\\') {
					if (l->pos >= l->len || l->in[l->pos] == '\n') { error(l, "unterminated quoted string"); return -1; }
					l->pos++;
				} else if (ch == '"') break;
			}
			emit(l, T_STRING);
			continue;
		case '`':
			for (;;) {
				if (l->pos >= l->len) { error(l, "unterminated raw quoted string"); return -1; }
				if (l->in[l->pos++] == '`') break;
			}
			emit(l, T_RAW);
			continue;
		case '\'':
			for (;;) {
				if (l->pos >= l->len || l->in[l->pos] == '\n') { error(l, "unterminated character constant"); return -1; }
				char ch = l->in[l->pos++];
				if (ch == '\\') {
					if (l->pos >= l->len || l->in[l->pos] == '\n') { error(l, "unterminated character constant"); return -1; }
					l->pos++;
				} else if (ch == '\'') break;
			}
			emit(l, T_CHARCONST);
			continue;
		case '$':
		field_or_var:
			if (at_terminator(l)) {
				emit(l, c == '.' ? T_DOT : T_VAR);
				continue;
			}
			while (l->pos < l->len && is_alnum((unsigned char)l->in[l->pos])) l->pos++;
			if (!at_terminator(l)) { bad_char(l, "bad character"); return -1; }
			emit(l, c == '.' ? T_FIELD : T_VAR);
			continue;
		case '(': emit(l, T_LPAREN); l->paren++; continue;
		case ')':
			emit(l, T_RPAREN); /* Go emits it first: the parser usually reports it */
			l->paren--;
			if (l->paren < 0) { error(l, "unexpected right paren U+0029 ')'"); return -1; }
			continue;
		}
		if (c == '.' && l->pos < l->len && (l->in[l->pos] < '0' || l->in[l->pos] > '9'))
			goto field_or_var; /* at EOF, '.' falls through to a number, as in Go */
		if (c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9')) {
			l->pos--;
			if (!scan_number(l) ||
			    ((l->pos < l->len && (l->in[l->pos] == '+' || l->in[l->pos] == '-')) &&
			     (!scan_number(l) || l->in[l->pos - 1] != 'i'))) {
				char msg[160];
				size_t n = l->pos - l->start;
				snprintf(msg, sizeof msg, "bad number syntax: \"%.*s\"", (int)(n > 100 ? 100 : n), l->in + l->start);
				error(l, msg);
				return -1;
			}
			emit(l, T_NUMBER);
			continue;
		}
		if (is_alnum(c)) {
			while (l->pos < l->len && is_alnum((unsigned char)l->in[l->pos])) l->pos++;
			if (!at_terminator(l)) { bad_char(l, "bad character"); return -1; }
			size_t n = l->pos - l->start;
			const char *w = l->in + l->start;
			template_tok_type t = T_IDENT;
			if ((n == 4 && !memcmp(w, "true", 4)) || (n == 5 && !memcmp(w, "false", 5))) t = T_BOOL;
			for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
				if (strlen(keywords[k].w) == n && !memcmp(keywords[k].w, w, n)) t = keywords[k].t;
			emit(l, t);
			continue;
		}
		if (c < 0x80 && c >= 0x20 && c != 0x7f) { emit(l, T_CHAR); continue; }
		l->pos--;
		bad_char(l, "unrecognized character in action:");
		return -1;
	}
}

int template_lex(const char *text, size_t len, template_tokens *out)
{
	lexer l = { .in = text, .len = len, .line = 1, .start_line = 1, .out = out };
	memset(out, 0, sizeof *out);
	for (;;) {
		/* text up to the next "{{" */
		const char *d = NULL;
		for (size_t i = l.pos; i + 1 < l.len; i++)
			if (text[i] == '{' && text[i + 1] == '{') { d = text + i; break; }
		if (!d) {
			l.pos = l.len;
			if (l.pos > l.start) emit(&l, T_TEXT);
			push(&l, T_EOF, l.pos, l.line, "", 0);
			break;
		}
		size_t at = (size_t)(d - text);
		if (at > l.pos || at > l.start) {
			l.pos = at;
			size_t trim = 0;
			if (has_left_trim(&l, at + 2))
				while (trim < l.pos - l.start && is_space((unsigned char)text[l.pos - trim - 1])) trim++;
			l.pos -= trim;
			if (l.pos > l.start) emit(&l, T_TEXT);
			l.pos += trim;
			ignore(&l);
		}
		/* left delimiter */
		l.pos += 2;
		size_t after = has_left_trim(&l, l.pos) ? 2 : 0;
		if (has_prefix(&l, l.pos + after, "/*")) {
			l.pos += after;
			ignore(&l);
			l.pos += 2;
			const char *e = NULL;
			for (size_t i = l.pos; i + 1 < l.len; i++)
				if (text[i] == '*' && text[i + 1] == '/') { e = text + i; break; }
			if (!e) { error(&l, "unclosed comment"); break; }
			l.pos = (size_t)(e - text) + 2;
			int trim;
			if (!at_right_delim(&l, &trim)) { error(&l, "comment ends before closing delimiter"); break; }
			if (trim) l.pos += 2;
			l.pos += 2;
			if (trim) while (l.pos < l.len && is_space((unsigned char)text[l.pos])) l.pos++;
			ignore(&l);
			continue;
		}
		push(&l, T_LDELIM, l.start, l.line, "{{", 2);
		l.pos += after;
		ignore(&l);
		l.paren = 0;
		if (lex_inside(&l) < 0) break;
		if (l.oom) break;
	}
	return l.oom ? -1 : 0;
}

void template_tokens_free(template_tokens *t)
{
	for (size_t i = 0; i < t->n; i++) free(t->toks[i].val);
	free(t->toks);
	memset(t, 0, sizeof *t);
}
