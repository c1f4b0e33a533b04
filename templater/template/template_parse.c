/* template_parse.c: recursive-descent parser for Go text/template syntax, following Go 1.19's
 * text/template/parse/parse.go: pipelines with declarations ($x := / $x = / $i, $x := in
 * range), commands, operands with field chains, parenthesized pipelines, if/else if/else,
 * range/else, with/else, break/continue, and comments (dropped by the lexer).
 * Owns: the tree and its parse errors. Promises: nesting is bounded (TEMPLATE_MAX_DEPTH), every
 * error is reported as "template: NAME:LINE: msg" and no partial tree leaks.
 * Never: supports define/template/block (reported as errors: one file, one template). */
#include "template_parse.h"
#include "template_value.h"

#include <errno.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *name;
	const char *text;
	template_tokens toks;
	size_t i;          /* next token */
	size_t far;        /* tokens read so far, counting lookahead */
	int last_line;     /* line of the last token read (Go's t.token[0].line) */
	char **vars;       /* declared variables in scope */
	size_t nvars, capvars;
	int range_depth;
	int depth;
	int action_line; /* line of the {{ starting the current action (Go's actionLine) */
	const void *(*find_func)(const char *);
	char *err;
	jmp_buf jb;
	template_node **pending; /* nodes to free on error */
	size_t npending, cappending;
} parser;

static void perr(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void perr(parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t n = strlen(p->name) + strlen(msg) + 64;
	p->err = malloc(n);
	if (p->err) snprintf(p->err, n, "template: %s:%d: %s", p->name, p->last_line, msg);
	longjmp(p->jb, 1);
}

static void *xcalloc(parser *p, size_t n, size_t sz)
{
	void *v = calloc(n ? n : 1, sz);
	if (!v) perr(p, "out of memory");
	return v;
}

static char *xstrdup(parser *p, const char *s)
{
	char *d = strdup(s);
	if (!d) perr(p, "out of memory");
	return d;
}

/* Every node is registered so a longjmp can free what was built. */
static template_node *newnode(parser *p, template_node_type t, size_t pos, int line)
{
	template_node *n = xcalloc(p, 1, sizeof *n);
	if (p->npending == p->cappending) {
		size_t nc = p->cappending ? p->cappending * 2 : 64;
		template_node **q = realloc(p->pending, nc * sizeof *q);
		if (!q) { free(n); perr(p, "out of memory"); }
		p->pending = q;
		p->cappending = nc;
	}
	p->pending[p->npending++] = n;
	n->type = t;
	n->pos = pos;
	n->line = line;
	return n;
}

static void addkid(parser *p, template_node *n, template_node *k)
{
	if (n->nkids == n->capkids) {
		size_t nc = n->capkids ? n->capkids * 2 : 4;
		template_node **q = realloc(n->kids, nc * sizeof *q);
		if (!q) perr(p, "out of memory");
		n->kids = q;
		n->capkids = nc;
	}
	n->kids[n->nkids++] = k;
}

static void addident(parser *p, char ***arr, size_t *n, const char *s, size_t len)
{
	char **q = realloc(*arr, (*n + 1) * sizeof *q);
	if (!q) perr(p, "out of memory");
	*arr = q;
	q[*n] = malloc(len + 1);
	if (!q[*n]) perr(p, "out of memory");
	memcpy(q[*n], s, len);
	q[*n][len] = 0;
	(*n)++;
}

/* Reading past the end keeps returning the final EOF/ERROR token; backup() undoes next(). */
static template_token *at_index(parser *p, size_t i)
{
	return &p->toks.toks[i < p->toks.n ? i : p->toks.n - 1];
}
static template_token *next(parser *p)
{
	template_token *t = at_index(p, p->i++);
	/* Go reports the line of the furthest token read (its lookahead), not of a backed-up one */
	if (p->i > p->far) {
		p->far = p->i;
		p->last_line = t->line;
	}
	return t;
}
static void backup(parser *p) { if (p->i > 0) p->i--; }
static template_token *peek(parser *p) { return at_index(p, p->i); }
static template_token *next_nonspace(parser *p)
{
	template_token *t;
	do t = next(p); while (t->type == T_SPACE);
	return t;
}
static template_token *peek_nonspace(parser *p)
{
	template_token *t = next_nonspace(p);
	backup(p);
	return t;
}

/* Go's item.String(): EOF, the error text, <keyword>, or the quoted token (cut at 10). */
static const char *tokdesc(const template_token *t, char *buf, size_t n)
{
	switch (t->type) {
	case T_EOF: return "EOF";
	case T_ERROR: return t->val;
	default: break;
	}
	if (t->type >= T_RANGE || t->type == T_NIL || t->type == T_DOT) { snprintf(buf, n, "<%s>", t->val); return buf; }
	template_buf b = { 0 };
	template_quote(&b, t->val, t->len > 10 ? 10 : t->len);
	snprintf(buf, n, "%s%s", b.data ? b.data : "", t->len > 10 ? "..." : "");
	template_buf_free(&b);
	return buf;
}

static void unexpected(parser *p, template_token *t, const char *context) __attribute__((noreturn));
static void unexpected(parser *p, template_token *t, const char *context)
{
	char b[80];
	if (t->type == T_ERROR) {
		if (p->action_line != 0 && p->action_line != t->line) {
			size_t n = strlen(t->val);
			int act = n >= 7 && !strcmp(t->val + n - 7, " action");
			perr(p, "%s%s started at %s:%d", t->val, act ? "" : " in action", p->name, p->action_line);
		}
		perr(p, "%s", t->val);
	}
	perr(p, "unexpected %s in %s", tokdesc(t, b, sizeof b), context);
}

static template_token *expect(parser *p, template_tok_type tt, const char *context)
{
	template_token *t = next_nonspace(p);
	if (t->type != tt) unexpected(p, t, context);
	return t;
}

static void push_var(parser *p, const char *name)
{
	if (p->nvars == p->capvars) {
		size_t nc = p->capvars ? p->capvars * 2 : 16;
		char **q = realloc(p->vars, nc * sizeof *q);
		if (!q) perr(p, "out of memory");
		p->vars = q;
		p->capvars = nc;
	}
	p->vars[p->nvars++] = xstrdup(p, name);
}

static void pop_vars(parser *p, size_t n)
{
	while (p->nvars > n) free(p->vars[--p->nvars]);
}

/* Go's strconv.Unquote for "..." and `...` literals. Returns malloc'd bytes. */
static int unquote(const char *s, size_t n, char **out, size_t *outlen)
{
	template_buf b = { 0 };
	if (n < 2) return -1;
	if (s[0] == '`') {
		for (size_t i = 1; i + 1 < n; i++)
			if (s[i] != '\r') template_buf_add(&b, s + i, 1);
		template_buf_add(&b, "", 0);
		*out = b.data ? b.data : strdup("");
		*outlen = b.len;
		return 0;
	}
	char q = s[0];
	size_t i = 1;
	template_buf_add(&b, "", 0);
	while (i + 1 < n) {
		unsigned char c = (unsigned char)s[i];
		if (c != '\\') { template_buf_add(&b, s + i, 1); i++; continue; }
		i++;
		if (i + 1 >= n) goto bad;
		c = (unsigned char)s[i++];
		unsigned long v = 0;
		int digits = 0, base = 16, isbyte = 0;
		switch (c) {
		case 'a': template_buf_add(&b, "\a", 1); continue;
		case 'b': template_buf_add(&b, "\b", 1); continue;
		case 'f': template_buf_add(&b, "\f", 1); continue;
		case 'n': template_buf_add(&b, "\n", 1); continue;
		case 'r': template_buf_add(&b, "\r", 1); continue;
		case 't': template_buf_add(&b, "\t", 1); continue;
		case 'v': template_buf_add(&b, "\v", 1); continue;
		case '\\': template_buf_add(&b, "\\", 1); continue;
		case '\'': case '"':
			if (c != (unsigned char)q) goto bad;
			template_buf_add(&b, &c, 1);
			continue;
		case 'x': digits = 2; isbyte = 1; break;
		case 'u': digits = 4; break;
		case 'U': digits = 8; break;
		case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
			digits = 2; base = 8; isbyte = 1; v = c - '0'; break;
		default: goto bad;
		}
		for (int k = 0; k < digits; k++) {
			if (i + 1 >= n) goto bad;
			char d = s[i++];
			int dv = d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10 : d >= 'A' && d <= 'F' ? d - 'A' + 10 : 99;
			if (dv >= base) goto bad;
			v = v * (unsigned long)base + (unsigned long)dv;
		}
		if (isbyte) {
			if (v > 255) goto bad;
			unsigned char ch = (unsigned char)v;
			template_buf_add(&b, &ch, 1);
			continue;
		}
		if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) goto bad;
		unsigned char u[4];
		int un;
		if (v < 0x80) { u[0] = (unsigned char)v; un = 1; }
		else if (v < 0x800) { u[0] = 0xc0 | (v >> 6); u[1] = 0x80 | (v & 0x3f); un = 2; }
		else if (v < 0x10000) { u[0] = 0xe0 | (v >> 12); u[1] = 0x80 | ((v >> 6) & 0x3f); u[2] = 0x80 | (v & 0x3f); un = 3; }
		else { u[0] = 0xf0 | (v >> 18); u[1] = 0x80 | ((v >> 12) & 0x3f); u[2] = 0x80 | ((v >> 6) & 0x3f); u[3] = 0x80 | (v & 0x3f); un = 4; }
		template_buf_add(&b, u, (size_t)un);
	}
	*out = b.data;
	*outlen = b.len;
	return 0;
bad:
	template_buf_free(&b);
	return -1;
}

static template_node *pipeline(parser *p, const char *context, template_tok_type end);

static template_node *number(parser *p, template_token *t)
{
	template_node *n = newnode(p, N_NUMBER, t->pos, t->line);
	n->raw = xstrdup(p, t->val);
	if (t->type == T_CHARCONST) {
		char *s;
		size_t len;
		/* exactly one (possibly escaped) character between the quotes, as strconv.UnquoteChar */
		size_t clen = 0;
		const unsigned char *v = (const unsigned char *)t->val + 1;
		if (t->len < 3) perr(p, "invalid syntax");
		if (v[0] == '\\') {
			switch (v[1]) {
			case 'x': clen = 4; break;
			case 'u': clen = 6; break;
			case 'U': clen = 10; break;
			case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': clen = 4; break;
			default: clen = 2; break;
			}
		} else {
			clen = v[0] >= 0xf0 ? 4 : v[0] >= 0xe0 ? 3 : v[0] >= 0xc0 ? 2 : 1;
			if (v[0] == '\'') perr(p, "invalid syntax");
		}
		if (clen + 2 > t->len) perr(p, "invalid syntax");
		char one[16];
		one[0] = '"';
		memcpy(one + 1, v, clen);
		one[clen + 1] = '"';
		if (v[0] == '\\' && v[1] == '"') perr(p, "invalid syntax"); /* \" is not an escape in '' */
		if (v[0] == '"') { one[1] = '\\'; one[2] = '"'; clen = 1; one[3] = '"'; }
		int bad = unquote(one, v[0] == '"' ? 4 : clen + 2, &s, &len) < 0;
		if (v[0] == '\\' && v[1] == '\'') { bad = 0; s = strdup("'"); len = 1; if (!s) perr(p, "out of memory"); }
		if (bad) perr(p, "invalid syntax");
		if (t->len != clen + 2 + (v[0] == '"' ? 0 : 0)) { free(s); perr(p, "malformed character constant: %s", t->val); }
		/* decode the first rune */
		unsigned char *u = (unsigned char *)s;
		int64_t r = u[0];
		if (u[0] >= 0xf0 && len >= 4) r = ((u[0] & 7) << 18) | ((u[1] & 63) << 12) | ((u[2] & 63) << 6) | (u[3] & 63);
		else if (u[0] >= 0xe0 && len >= 3) r = ((u[0] & 15) << 12) | ((u[1] & 63) << 6) | (u[2] & 63);
		else if (u[0] >= 0xc0 && len >= 2) r = ((u[0] & 31) << 6) | (u[1] & 63);
		free(s);
		n->is_int = 1;
		n->i = r;
		n->f = (double)r;
		return n;
	}
	/* strip underscores */
	char buf[128];
	size_t k = 0;
	for (size_t i = 0; i < t->len && k + 1 < sizeof buf; i++)
		if (t->val[i] != '_') buf[k++] = t->val[i];
	buf[k] = 0;
	const char *digits = buf + (buf[0] == '+' || buf[0] == '-');
	int ishex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
	int isfloat = ishex ? strpbrk(buf, "pP") != NULL : strpbrk(buf, ".eE") != NULL;
	char *end;
	errno = 0;
	if (!isfloat) {
		int base = 10;
		const char *s = digits;
		if (ishex) { base = 16; s += 2; }
		else if (digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O')) { base = 8; s += 2; }
		else if (digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B')) { base = 2; s += 2; }
		else if (digits[0] == '0' && digits[1]) base = 8;
		unsigned long long u = strtoull(s, &end, base);
		if (!*end && *s && errno == ERANGE) perr(p, "integer overflow: \"%s\"", t->val);
		if (*end || errno || !*s) perr(p, "illegal number syntax: \"%s\"", t->val);
		if (u > (unsigned long long)INT64_MAX + (buf[0] == '-')) perr(p, "illegal number syntax: \"%s\"", t->val);
		n->is_int = 1;
		n->i = buf[0] == '-' ? (int64_t)(0 - u) : (int64_t)u;
		n->f = (double)n->i;
		return n;
	}
	n->f = strtod(buf, &end);
	if (*end) perr(p, "illegal number syntax: \"%s\"", t->val);
	n->is_float = 1;
	/* an integral float literal like 1.0 can still be used as an int in Go, but text/template
	 * types it as float64 when it has '.', 'e' or 'E'; we follow that typing. */
	return n;
}

static template_node *term(parser *p)
{
	template_token *t = next_nonspace(p);
	template_node *n;
	switch (t->type) {
	case T_IDENT:
		{
			const void *fn = p->find_func(t->val);
			if (!fn) perr(p, "function \"%s\" not defined", t->val);
			n = newnode(p, N_IDENT, t->pos, t->line);
			n->fn = fn;
		}
		addident(p, &n->idents, &n->nidents, t->val, t->len);
		return n;
	case T_DOT: return newnode(p, N_DOT, t->pos, t->line);
	case T_NIL: return newnode(p, N_NIL, t->pos, t->line);
	case T_VAR: {
		size_t k;
		for (k = 0; k < p->nvars; k++) if (strcmp(p->vars[k], t->val) == 0) break;
		if (k == p->nvars) perr(p, "undefined variable \"%s\"", t->val);
		n = newnode(p, N_VAR, t->pos, t->line);
		addident(p, &n->idents, &n->nidents, t->val, t->len);
		return n;
	}
	case T_FIELD:
		n = newnode(p, N_FIELD, t->pos, t->line);
		addident(p, &n->idents, &n->nidents, t->val + 1, t->len - 1);
		return n;
	case T_BOOL:
		n = newnode(p, N_BOOL, t->pos, t->line);
		n->b = t->val[0] == 't';
		return n;
	case T_NUMBER: case T_CHARCONST: return number(p, t);
	case T_LPAREN:
		if (++p->depth > TEMPLATE_MAX_DEPTH) perr(p, "nesting too deep (limit %d)", TEMPLATE_MAX_DEPTH);
		n = pipeline(p, "parenthesized pipeline", T_RPAREN);
		p->depth--;
		return n;
	case T_STRING: case T_RAW: {
		char *s;
		size_t len;
		if (unquote(t->val, t->len, &s, &len) < 0) perr(p, "invalid syntax");
		n = newnode(p, N_STRING, t->pos, t->line);
		n->text = s;
		n->len = len;
		n->raw = xstrdup(p, t->val);
		return n;
	}
	default: break;
	}
	backup(p);
	return NULL;
}

static template_node *operand(parser *p)
{
	template_node *n = term(p);
	if (!n) return NULL;
	if (peek(p)->type != T_FIELD) return n;
	if (n->type == N_FIELD || n->type == N_VAR) {
		/* Go rebuilds the node at the position of the first chained field */
		n->pos = peek(p)->pos;
		n->line = peek(p)->line;
		while (peek(p)->type == T_FIELD) {
			template_token *t = next(p);
			addident(p, &n->idents, &n->nidents, t->val + 1, t->len - 1);
		}
		return n;
	}
	if (n->type == N_BOOL || n->type == N_STRING || n->type == N_NUMBER || n->type == N_NIL || n->type == N_DOT) {
		template_buf ns = { 0 }, q = { 0 };
		template_node_string(n, &ns);
		template_quote(&q, ns.data ? ns.data : "", ns.len);
		char msg[256];
		snprintf(msg, sizeof msg, "%s", q.data ? q.data : "");
		template_buf_free(&ns);
		template_buf_free(&q);
		perr(p, "unexpected . after term %s", msg);
	}
	template_node *c = newnode(p, N_CHAIN, peek(p)->pos, peek(p)->line);
	c->node = n;
	while (peek(p)->type == T_FIELD) {
		template_token *t = next(p);
		addident(p, &c->idents, &c->nidents, t->val + 1, t->len - 1);
	}
	return c;
}

static template_node *command(parser *p)
{
	template_node *cmd = newnode(p, N_CMD, peek_nonspace(p)->pos, peek_nonspace(p)->line);
	for (;;) {
		peek_nonspace(p);
		template_node *o = operand(p);
		if (o) addkid(p, cmd, o);
		template_token *t = next(p);
		if (t->type == T_SPACE) continue;
		if (t->type == T_RDELIM || t->type == T_RPAREN) backup(p);
		else if (t->type != T_PIPE) unexpected(p, t, "operand");
		break;
	}
	if (cmd->nkids == 0) perr(p, "empty command");
	return cmd;
}

static template_node *pipeline(parser *p, const char *context, template_tok_type end)
{
	template_token *t = peek_nonspace(p);
	template_node *pipe = newnode(p, N_PIPE, t->pos, t->line);
decls:
	t = peek_nonspace(p);
	if (t->type == T_VAR) {
		size_t save = p->i;
		template_token *v = next_nonspace(p);
		template_token *after = peek(p);
		template_token *nx = peek_nonspace(p);
		if (nx->type == T_ASSIGN || nx->type == T_DECLARE) {
			pipe->is_assign = nx->type == T_ASSIGN;
			next_nonspace(p);
			addident(p, &pipe->decls, &pipe->ndecls, v->val, v->len);
			push_var(p, v->val);
		} else if (nx->type == T_CHAR && strcmp(nx->val, ",") == 0) {
			next_nonspace(p);
			addident(p, &pipe->decls, &pipe->ndecls, v->val, v->len);
			push_var(p, v->val);
			if (strcmp(context, "range") == 0 && pipe->ndecls < 2) {
				template_tok_type nt = peek_nonspace(p)->type;
				if (nt == T_VAR || nt == T_RDELIM || nt == T_RPAREN) goto decls;
				perr(p, "range can only initialize variables");
			}
			perr(p, "too many declarations in %s", context);
		} else {
			(void)after;
			p->i = save;
		}
	}
	for (;;) {
		t = next_nonspace(p);
		if (t->type == end) {
			/* checkPipeline */
			if (pipe->nkids == 0) perr(p, "missing value for %s", context);
			for (size_t k = 1; k < pipe->nkids; k++) {
				template_node_type ft = pipe->kids[k]->kids[0]->type;
				if (ft == N_BOOL || ft == N_DOT || ft == N_NIL || ft == N_NUMBER || ft == N_STRING)
					perr(p, "non executable command in pipeline stage %zu", k + 1);
			}
			return pipe;
		}
		switch (t->type) {
		case T_BOOL: case T_CHARCONST: case T_DOT: case T_FIELD: case T_IDENT: case T_NUMBER:
		case T_NIL: case T_RAW: case T_STRING: case T_VAR: case T_LPAREN:
			backup(p);
			addkid(p, pipe, command(p));
			break;
		default:
			unexpected(p, t, context);
		}
	}
}

static template_node *text_or_action(parser *p);

/* Parses nodes until {{end}} or {{else}}; *stop receives that marker node. */
static template_node *item_list(parser *p, template_node **stop)
{
	template_node *list = newnode(p, N_LIST, peek_nonspace(p)->pos, peek_nonspace(p)->line);
	while (peek_nonspace(p)->type != T_EOF) {
		template_node *n = text_or_action(p);
		if (n->type == N_END || n->type == N_ELSE) { *stop = n; return list; }
		addkid(p, list, n);
	}
	perr(p, "unexpected EOF");
}

static template_node *if_control(parser *p);

static template_node *control(parser *p, template_node_type type, const char *context)
{
	size_t mark = p->nvars;
	if (++p->depth > TEMPLATE_MAX_DEPTH) perr(p, "nesting too deep (limit %d)", TEMPLATE_MAX_DEPTH);
	template_node *pipe = pipeline(p, context, T_RDELIM);
	template_node *n = newnode(p, type, pipe->pos, pipe->line);
	n->pipe = pipe;
	template_node *stop = NULL;
	if (type == N_RANGE) p->range_depth++;
	n->list = item_list(p, &stop);
	if (type == N_RANGE) p->range_depth--;
	if (stop->type == N_ELSE) {
		if (type == N_IF && peek(p)->type == T_IF) {
			next(p);
			n->elist = newnode(p, N_LIST, stop->pos, stop->line);
			addkid(p, n->elist, if_control(p));
		} else {
			n->elist = item_list(p, &stop);
			if (stop->type != N_END) perr(p, "expected end; found {{else}}");
		}
	}
	p->depth--;
	pop_vars(p, mark);
	return n;
}

static template_node *if_control(parser *p) { return control(p, N_IF, "if"); }

static template_node *action(parser *p)
{
	template_token *t = next_nonspace(p);
	template_node *n;
	switch (t->type) {
	case T_ELSE:
		n = newnode(p, N_ELSE, t->pos, t->line);
		if (peek_nonspace(p)->type == T_IF) { next_nonspace(p); backup(p); return n; }
		expect(p, T_RDELIM, "else");
		return n;
	case T_END:
		n = newnode(p, N_END, t->pos, t->line);
		expect(p, T_RDELIM, "end");
		return n;
	case T_IF: return control(p, N_IF, "if");
	case T_RANGE: return control(p, N_RANGE, "range");
	case T_WITH: return control(p, N_WITH, "with");
	case T_BREAK: case T_CONTINUE:
		{
			char ctx[16];
			snprintf(ctx, sizeof ctx, "{{%s}}", t->val);
			n = newnode(p, t->type == T_BREAK ? N_BREAK : N_CONTINUE, t->pos, t->line);
			expect(p, T_RDELIM, ctx); /* Go reads the delimiter first: errors carry its line */
			if (p->range_depth == 0) perr(p, "%s outside {{range}}", ctx);
		}
		return n;
	case T_DEFINE: case T_TEMPLATE: case T_BLOCK:
		perr(p, "{{%s}} is not supported (one template per file)", t->val);
	default: break;
	}
	backup(p);
	t = peek(p);
	n = newnode(p, N_ACTION, t->pos, t->line);
	n->pipe = pipeline(p, "command", T_RDELIM);
	return n;
}

static template_node *text_or_action(parser *p)
{
	template_token *t = next_nonspace(p);
	if (t->type == T_TEXT) {
		template_node *n = newnode(p, N_TEXT, t->pos, t->line);
		n->text = malloc(t->len + 1);
		if (!n->text) perr(p, "out of memory");
		memcpy(n->text, t->val, t->len + 1);
		n->len = t->len;
		return n;
	}
	if (t->type == T_LDELIM) {
		p->action_line = t->line;
		template_node *n = action(p);
		p->action_line = 0;
		return n;
	}
	unexpected(p, t, "input");
}

template_node *template_parse(const char *name, const char *text, size_t len, const void *(*find_func)(const char *), char **err)
{
	parser p = { .name = name, .text = text, .find_func = find_func, .last_line = 1 };
	template_node *root = NULL;
	*err = NULL;
	if (template_lex(text, len, &p.toks) < 0) {
		*err = strdup("template: out of memory");
		template_tokens_free(&p.toks);
		return NULL;
	}
	if (setjmp(p.jb) == 0) {
		push_var(&p, "$");
		root = newnode(&p, N_LIST, 0, 1);
		while (peek(&p)->type != T_EOF) {
			if (peek(&p)->type == T_ERROR) unexpected(&p, next(&p), "input");
			template_node *n = text_or_action(&p);
			if (n->type == N_END) perr(&p, "unexpected {{end}}");
			if (n->type == N_ELSE) perr(&p, "unexpected {{else}}");
			addkid(&p, root, n);
		}
		/* success: free the parse-only marker nodes, keep the rest */
		for (size_t i = 0; i < p.npending; i++) {
			template_node *n = p.pending[i];
			if (n->type == N_END || n->type == N_ELSE) free(n);
		}
	} else {
		for (size_t i = 0; i < p.npending; i++) {
			template_node *n = p.pending[i];
			/* free contents but not children (they are pending too) */
			free(n->kids);
			for (size_t k = 0; k < n->nidents; k++) free(n->idents[k]);
			free(n->idents);
			for (size_t k = 0; k < n->ndecls; k++) free(n->decls[k]);
			free(n->decls);
			free(n->text);
			free(n->raw);
			free(n);
		}
		root = NULL;
		if (!p.err) p.err = strdup("template: out of memory");
		*err = p.err;
	}
	free(p.pending);
	pop_vars(&p, 0);
	free(p.vars);
	template_tokens_free(&p.toks);
	return root;
}

void template_node_free(template_node *n)
{
	if (!n) return;
	for (size_t k = 0; k < n->nkids; k++) template_node_free(n->kids[k]);
	free(n->kids);
	for (size_t k = 0; k < n->nidents; k++) free(n->idents[k]);
	free(n->idents);
	for (size_t k = 0; k < n->ndecls; k++) free(n->decls[k]);
	free(n->decls);
	template_node_free(n->pipe);
	template_node_free(n->list);
	template_node_free(n->elist);
	template_node_free(n->node);
	free(n->text);
	free(n->raw);
	free(n);
}

void template_node_string(const template_node *n, void *vb)
{
	template_buf *b = vb;
	size_t k;
	switch (n->type) {
	case N_TEXT: template_quote(b, n->text, n->len); break;
	case N_ACTION: template_buf_adds(b, "{{"); template_node_string(n->pipe, b); template_buf_adds(b, "}}"); break;
	case N_PIPE:
		for (k = 0; k < n->ndecls; k++) {
			if (k) template_buf_adds(b, ", ");
			template_buf_adds(b, n->decls[k]);
		}
		if (n->ndecls) template_buf_adds(b, n->is_assign ? " = " : " := ");
		for (k = 0; k < n->nkids; k++) {
			if (k) template_buf_adds(b, " | ");
			template_node_string(n->kids[k], b);
		}
		break;
	case N_CMD:
		for (k = 0; k < n->nkids; k++) {
			if (k) template_buf_adds(b, " ");
			if (n->kids[k]->type == N_PIPE) { template_buf_adds(b, "("); template_node_string(n->kids[k], b); template_buf_adds(b, ")"); }
			else template_node_string(n->kids[k], b);
		}
		break;
	case N_FIELD:
		for (k = 0; k < n->nidents; k++) { template_buf_adds(b, "."); template_buf_adds(b, n->idents[k]); }
		break;
	case N_VAR:
		for (k = 0; k < n->nidents; k++) { if (k) template_buf_adds(b, "."); template_buf_adds(b, n->idents[k]); }
		break;
	case N_CHAIN:
		if (n->node->type == N_PIPE) { template_buf_adds(b, "("); template_node_string(n->node, b); template_buf_adds(b, ")"); }
		else template_node_string(n->node, b);
		for (k = 0; k < n->nidents; k++) { template_buf_adds(b, "."); template_buf_adds(b, n->idents[k]); }
		break;
	case N_IDENT: template_buf_adds(b, n->idents[0]); break;
	case N_DOT: template_buf_adds(b, "."); break;
	case N_NIL: template_buf_adds(b, "nil"); break;
	case N_BOOL: template_buf_adds(b, n->b ? "true" : "false"); break;
	case N_NUMBER: case N_STRING: template_buf_adds(b, n->raw); break;
	case N_IF: case N_RANGE: case N_WITH:
		template_buf_adds(b, n->type == N_IF ? "{{if " : n->type == N_RANGE ? "{{range " : "{{with ");
		template_node_string(n->pipe, b);
		template_buf_adds(b, "}}");
		break;
	case N_BREAK: template_buf_adds(b, "{{break}}"); break;
	case N_CONTINUE: template_buf_adds(b, "{{continue}}"); break;
	default: break;
	}
}
