/* template_exec.c: executes a parsed template, as Go 1.19's text/template/exec.go does: dot,
 * variables with their scopes ($ is the root; declarations live until the end of the
 * enclosing if/with/range), pipelines whose previous value becomes the LAST argument, field
 * chains on structs and maps, method calls (.Tags.Contains "x"), lazy and/or, range over lists
 * and maps (keys sorted) with else, break/continue, and Go's error messages
 * ("template: NAME:LINE:COL: executing \"NAME\" at <node>: ...").
 * Owns: the render loop, variable stack, dependency list and limits. Promises: bounded work
 * (max_steps), output (max_output) and memory (max_memory: every value, temporary and the output
 * count while they live, template_value.c keeps the account); every error path releases what
 * it holds. Running out of memory fails the whole render, never shortens a value.
 * Never: does I/O; data comes only through the provider via template_funcs/template_consul. */
#include "template_exec.h"
#include "template_parse.h"
#include "strmap.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct template_t {
	char *name;
	char *text;
	size_t len;
	template_node *root;
};

typedef struct {
	char *name;
	template_value *v;
} template_var;

struct template_exec_state {
	const template_t *t;
	const template_provider *p;
	template_buf out;
	template_var *vars;
	size_t nvars, capvars;
	const template_node *at;
	char *err;
	template_dep *deps;
	size_t ndeps, capdeps;
	strmap_t *dep_index; /* kind + name -> position in deps + 1 (see template_exec_dep) */
	int incomplete;
	long long steps, max_steps;
	size_t max_memory;
	int mem_state;   /* 1: an allocation failed, 2: the memory limit was reached (sticky) */
	time_t now;
	int brk; /* 1: break, 2: continue pending */
	/* the function call in progress, so argument type errors point at the argument */
	const template_node *call_cmd, *call_node;
	template_value **call_args;
	size_t call_n;
};

/* ---- template objects ---- */

static const void *find_func(const char *name) { return template_func_find(name); }

template_t *template_new(const char *name, const char *text, size_t len, char **err)
{
	template_t *t = calloc(1, sizeof *t);
	*err = NULL;
	if (!t || !(t->name = strdup(name)) || !(t->text = malloc(len + 1))) {
		if (t) { free(t->name); free(t); }
		*err = strdup("template: out of memory");
		return NULL;
	}
	memcpy(t->text, text, len);
	t->text[len] = 0;
	t->len = len;
	t->root = template_parse(t->name, t->text, len, find_func, err);
	if (!t->root) {
		free(t->text);
		free(t->name);
		free(t);
		return NULL;
	}
	return t;
}

void template_free(template_t *t)
{
	if (!t) return;
	template_node_free(t->root);
	free(t->text);
	free(t->name);
	free(t);
}

const char *template_name(const template_t *t) { return t->name; }

/* ---- errors ---- */

static void vfail(template_exec_state *x, const char *fmt, va_list ap)
{
	char msg[1024];
	if (x->err) return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	template_buf b = { 0 };
	if (!x->at) {
		template_buf_addf(&b, "template: %s: %s", x->t->name, msg);
	} else {
		size_t pos = x->at->pos;
		size_t nl = pos;
		int line = 1;
		long col;
		for (size_t i = 0; i < pos && i < x->t->len; i++) if (x->t->text[i] == '\n') line++;
		while (nl > 0 && x->t->text[nl - 1] != '\n') nl--;
		col = nl == 0 ? (long)pos : (long)(pos - nl);
		template_buf ctx = { 0 };
		template_node_string(x->at, &ctx);
		template_buf_addf(&b, "template: %s:%d:%ld: executing ", x->t->name, line, col);
		template_quote(&b, x->t->name, strlen(x->t->name));
		template_buf_addf(&b, " at <%s>: %s", ctx.data ? ctx.data : "", msg);
		template_buf_free(&ctx);
	}
	x->err = b.data ? b.data : strdup("template: out of memory");
}

void template_fail(template_exec_state *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(x, fmt, ap);
	va_end(ap);
}

void template_call_error(template_exec_state *x, const char *name, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (x->call_node) x->at = x->call_node; /* Go reports call errors at the command */
	template_fail(x, "error calling %s: %s", name, msg);
}

/* The dependency index (lib/strmap.h) is keyed by the kind as one byte, then the name; its
 * value is the position in deps + 1. Short keys are built on the stack. */
void template_exec_dep(template_exec_state *x, template_dep_kind kind, const char *name, int missing)
{
	if (missing) x->incomplete = 1;
	if (!x->dep_index && !(x->dep_index = strmap_new())) return;
	size_t nl = strlen(name);
	char stack[256], *key = nl + 2 <= sizeof stack ? stack : malloc(nl + 2);
	if (!key) return;
	key[0] = (char)('A' + (int)kind);
	memcpy(key + 1, name, nl + 1);
	uintptr_t at = (uintptr_t)strmap_get(x->dep_index, key);
	if (at) {
		if (missing) x->deps[at - 1].missing = 1;
		goto out;
	}
	if (x->ndeps == x->capdeps) {
		size_t nc = x->capdeps ? x->capdeps * 2 : 16;
		template_dep *d = realloc(x->deps, nc * sizeof *d);
		if (!d) goto out;
		x->deps = d;
		x->capdeps = nc;
	}
	char *n = strdup(name);
	if (!n) goto out;
	if (strmap_put(x->dep_index, key, (void *)(uintptr_t)(x->ndeps + 1)) < 0) { free(n); goto out; }
	x->deps[x->ndeps++] = (template_dep){ kind, n, missing };
out:
	if (key != stack) free(key);
}

const template_provider *template_exec_provider(template_exec_state *x) { return x->p; }
time_t template_now(template_exec_state *x) { return x->now; }

/* A type error for argument v of the current call, worded as Go's evalArg/validateType. */
void template_arg_type_error(template_exec_state *x, template_value *v, const char *want)
{
	const template_node *arg = NULL;
	for (size_t i = 0; x->call_cmd && i < x->call_n; i++)
		if (x->call_args[i] == v && i + 1 < x->call_cmd->nkids) arg = x->call_cmd->kids[i + 1];
	if (arg) x->at = arg;
	if (arg && arg->type == N_NIL) { template_fail(x, "cannot assign nil to %s", want); return; }
	if (v->kind == TV_INVALID) { template_fail(x, "invalid value; expected %s", want); return; }
	if (arg && (arg->type == N_STRING || arg->type == N_NUMBER || arg->type == N_BOOL)) {
		template_buf b = { 0 };
		template_node_string(arg, &b);
		const char *lit = b.data ? b.data : "";
		if (!strcmp(want, "string")) template_fail(x, "expected string; found %s", lit);
		else if (!strcmp(want, "int")) template_fail(x, "expected integer; found %s", lit);
		else if (!strcmp(want, "bool")) template_fail(x, "expected bool; found %s", lit);
		else template_fail(x, "can't handle %s for arg of type %s", lit, want);
		template_buf_free(&b);
		return;
	}
	template_fail(x, "wrong type for value; expected %s; got %s", want, v->type);
}

int template_arg_string(template_exec_state *x, const char *fname, template_value *v, const char **s, size_t *len)
{
	(void)fname;
	if (v->kind != TV_STRING) {
		template_arg_type_error(x, v, "string");
		return -1;
	}
	*s = v->u.str.s;
	if (len) *len = v->u.str.len;
	return 0;
}

int template_arg_int(template_exec_state *x, const char *fname, template_value *v, int64_t *i)
{
	(void)fname;
	if (v->kind != TV_INT) {
		template_arg_type_error(x, v, "int");
		return -1;
	}
	*i = v->u.i;
	return 0;
}

/* ---- variables ---- */

static int var_push(template_exec_state *x, const char *name, template_value *v)
{
	if (x->nvars == x->capvars) {
		size_t nc = x->capvars ? x->capvars * 2 : 16;
		template_var *q = realloc(x->vars, nc * sizeof *q);
		if (!q) { template_fail(x, "out of memory"); return -1; }
		x->vars = q;
		x->capvars = nc;
	}
	char *n = strdup(name);
	if (!n) { template_fail(x, "out of memory"); return -1; }
	x->vars[x->nvars++] = (template_var){ n, template_value_ref(v) };
	return 0;
}

static void var_pop(template_exec_state *x, size_t mark)
{
	while (x->nvars > mark) {
		x->nvars--;
		free(x->vars[x->nvars].name);
		template_value_unref(x->vars[x->nvars].v);
	}
}

static void var_set_top(template_exec_state *x, size_t n, template_value *v)
{
	template_var *e = &x->vars[x->nvars - n];
	template_value_unref(e->v);
	e->v = template_value_ref(v);
}

static template_var *var_find(template_exec_state *x, const char *name)
{
	for (size_t i = x->nvars; i > 0; i--)
		if (strcmp(x->vars[i - 1].name, name) == 0) return &x->vars[i - 1];
	return NULL;
}

/* ---- evaluation ---- */

#define MISSING NULL

static template_value *eval_pipeline(template_exec_state *x, template_value *dot, const template_node *pipe);
static template_value *eval_arg(template_exec_state *x, template_value *dot, const template_node *n);
static template_value *eval_function(template_exec_state *x, template_value *dot, const template_node *ident,
	const template_node *cmd, template_value *final);

/* The render ran out of memory (its budget, or malloc): the error, whatever failed first. */
static int mem_fail(template_exec_state *x)
{
	if (!x->mem_state) x->mem_state = template_mem_state();
	template_mem_end(); /* the message needs memory too; the render is over */
	free(x->err);
	x->err = NULL;
	if (x->mem_state == 2)
		template_fail(x, "memory use exceeds the limit of %zu bytes (values, temporaries and output together)", x->max_memory);
	else
		template_fail(x, "out of memory");
	return -1;
}

static int step(template_exec_state *x)
{
	if (++x->steps > x->max_steps) {
		template_fail(x, "evaluation exceeds the limit of %lld steps", x->max_steps);
		return -1;
	}
	if (template_mem_state()) return mem_fail(x);
	return 0;
}

static int not_a_function(template_exec_state *x, const template_node *cmd, template_value *final)
{
	if ((cmd && cmd->nkids > 1) || final != MISSING) {
		template_buf b = { 0 };
		template_node_string(cmd->kids[0], &b);
		template_fail(x, "can't give argument to non-function %s", b.data ? b.data : "");
		template_buf_free(&b);
		return -1;
	}
	return 0;
}

/* Evaluates cmd's arguments 1..n (plus final) into an array of new references. */
static template_value **eval_args(template_exec_state *x, template_value *dot, const template_node *cmd,
	template_value *final, size_t *n)
{
	size_t na = (cmd ? (cmd->nkids ? cmd->nkids - 1 : 0) : 0) + (final != MISSING);
	template_value **a = calloc(na ? na : 1, sizeof *a);
	if (!a) { template_fail(x, "out of memory"); return NULL; }
	size_t k = 0;
	for (size_t i = 1; cmd && i < cmd->nkids; i++) {
		a[k] = eval_arg(x, dot, cmd->kids[i]);
		if (!a[k]) {
			while (k > 0) template_value_unref(a[--k]);
			free(a);
			return NULL;
		}
		k++;
	}
	if (final != MISSING) a[k++] = template_value_ref(final);
	*n = k;
	return a;
}

static void free_args(template_value **a, size_t n)
{
	for (size_t i = 0; i < n; i++) template_value_unref(a[i]);
	free(a);
}

/* dependency.ServiceTags.Contains */
static template_value *call_method(template_exec_state *x, template_value *dot, const char *name,
	template_value *recv, const template_node *node, const template_node *cmd, template_value *final)
{
	size_t n;
	template_value **a = eval_args(x, dot, cmd, final, &n);
	if (!a) return NULL;
	template_value *r = NULL;
	if (n != 1) {
		template_fail(x, "wrong number of args for %s: want 1 got %zu", name, n);
	} else if (a[0]->kind != TV_STRING) {
		template_fail(x, "wrong type for value; expected string; got %s", a[0]->type);
	} else {
		int found = 0;
		for (size_t i = 0; i < recv->u.list.n; i++) {
			template_value *e = recv->u.list.items[i];
			if (e->kind == TV_STRING && e->u.str.len == a[0]->u.str.len &&
			    !memcmp(e->u.str.s, a[0]->u.str.s, e->u.str.len)) { found = 1; break; }
		}
		r = template_value_bool(found);
	}
	free_args(a, n);
	return r;
}

static int is_service_tags(const template_value *v)
{
	return v->kind == TV_LIST && v->type && strcmp(v->type, "dependency.ServiceTags") == 0;
}

static template_value *eval_field(template_exec_state *x, template_value *dot, const char *name, const template_node *node,
	const template_node *cmd, template_value *final, template_value *recv)
{
	int has_args = (cmd && cmd->nkids > 1) || final != MISSING;
	if (recv->kind == TV_INVALID) return template_value_invalid();
	if (recv->kind == TV_NIL) {
		template_fail(x, "nil pointer evaluating interface {}.%s", name);
		return NULL;
	}
	if (is_service_tags(recv) && strcmp(name, "Contains") == 0)
		return call_method(x, dot, name, recv, node, cmd, final);
	if (recv->kind == TV_STRUCT) {
		template_value *f = template_value_get(recv, name);
		if (f) {
			if (has_args) { template_fail(x, "%s has arguments but cannot be invoked as function", name); return NULL; }
			return template_value_ref(f);
		}
	} else if (recv->kind == TV_MAP) {
		if (has_args) { template_fail(x, "%s is not a method but has arguments", name); return NULL; }
		template_value *f = template_value_get(recv, name);
		return f ? template_value_ref(f) : template_value_invalid();
	}
	template_fail(x, "can't evaluate field %s in type %s", name, recv->type);
	return NULL;
}

static template_value *eval_field_chain(template_exec_state *x, template_value *dot, template_value *recv,
	const template_node *node, char **idents, size_t n, const template_node *cmd, template_value *final)
{
	template_value *cur = template_value_ref(recv);
	for (size_t i = 0; i + 1 < n; i++) {
		template_value *nx = eval_field(x, dot, idents[i], node, NULL, MISSING, cur);
		template_value_unref(cur);
		if (!nx) return NULL;
		cur = nx;
	}
	template_value *r = eval_field(x, dot, idents[n - 1], node, cmd, final, cur);
	template_value_unref(cur);
	return r;
}

static template_value *literal(template_exec_state *x, const template_node *n)
{
	switch (n->type) {
	case N_BOOL: return template_value_bool(n->b);
	case N_STRING: return template_value_string(n->text, n->len);
	case N_NUMBER: return n->is_int ? template_value_int(n->i) : template_value_float(n->f);
	default: break;
	}
	(void)x;
	return NULL;
}

static template_value *eval_var(template_exec_state *x, const template_node *n)
{
	template_var *v = var_find(x, n->idents[0]);
	x->at = n;
	if (!v) { template_fail(x, "undefined variable: %s", n->idents[0]); return NULL; }
	return template_value_ref(v->v);
}

static template_value *eval_chain_base(template_exec_state *x, template_value *dot, const template_node *n)
{
	x->at = n;
	if (n->node->type == N_NIL) {
		template_buf b = { 0 };
		template_node_string(n, &b);
		template_fail(x, "indirection through explicit nil in %s", b.data ? b.data : "");
		template_buf_free(&b);
		return NULL;
	}
	return eval_arg(x, dot, n->node);
}

static template_value *eval_arg(template_exec_state *x, template_value *dot, const template_node *n)
{
	x->at = n;
	if (step(x) < 0) return NULL;
	switch (n->type) {
	case N_DOT: return template_value_ref(dot);
	case N_NIL: return template_value_nil();
	case N_FIELD: return eval_field_chain(x, dot, dot, n, n->idents, n->nidents, NULL, MISSING);
	case N_VAR: {
		template_value *v = eval_var(x, n);
		if (!v || n->nidents == 1) return v;
		template_value *r = eval_field_chain(x, dot, v, n, n->idents + 1, n->nidents - 1, NULL, MISSING);
		template_value_unref(v);
		return r;
	}
	case N_PIPE: return eval_pipeline(x, dot, n);
	case N_IDENT: return eval_function(x, dot, n, NULL, MISSING);
	case N_CHAIN: {
		template_value *b = eval_chain_base(x, dot, n);
		if (!b) return NULL;
		template_value *r = eval_field_chain(x, dot, b, n, n->idents, n->nidents, NULL, MISSING);
		template_value_unref(b);
		return r;
	}
	default: {
		template_value *v = literal(x, n);
		if (!v) template_fail(x, "can't handle %s", "argument");
		return v;
	}
	}
}

static template_value *eval_function(template_exec_state *x, template_value *dot, const template_node *ident,
	const template_node *cmd, template_value *final)
{
	const char *name = ident->idents[0];
	const template_func_def *f = ident->fn ? ident->fn : template_func_find(name);
	x->at = ident;
	if (!f) { template_fail(x, "%s is not a defined function", name); return NULL; }
	if (strcmp(name, "and") == 0 || strcmp(name, "or") == 0) {
		int want = name[0] == 'o';
		template_value *v = NULL;
		size_t nargs = (cmd ? cmd->nkids - 1 : 0) + (final != MISSING);
		if (nargs < 1) { template_fail(x, "wrong number of args for %s: want at least 1 got 0", name); return NULL; }
		for (size_t i = 1; cmd && i < cmd->nkids; i++) {
			template_value_unref(v);
			v = eval_arg(x, dot, cmd->kids[i]);
			if (!v) return NULL;
			if (template_value_truth(v) == want) return v;
		}
		if (final != MISSING) { template_value_unref(v); v = template_value_ref(final); }
		return v;
	}
	size_t n = (cmd ? cmd->nkids - 1 : 0) + (final != MISSING);
	if ((int)n < f->min || (f->max >= 0 && (int)n > f->max)) {
		if (f->max < 0) template_fail(x, "wrong number of args for %s: want at least %d got %zu", name, f->min, n);
		else template_fail(x, "wrong number of args for %s: want %d got %zu", name, f->min == f->max ? f->min : f->max, n);
		return NULL;
	}
	template_value **a = eval_args(x, dot, cmd, final, &n);
	if (!a) return NULL;
	const template_node *scmd = x->call_cmd, *snode = x->call_node;
	template_value **sargs = x->call_args;
	size_t sn = x->call_n;
	x->call_cmd = cmd;
	x->call_node = cmd ? cmd : ident;
	x->call_args = a;
	x->call_n = n;
	template_value *r = f->fn(x, name, a, n);
	x->call_cmd = scmd;
	x->call_node = snode;
	x->call_args = sargs;
	x->call_n = sn;
	free_args(a, n);
	if (!r && !x->err) template_call_error(x, name, "out of memory");
	return r;
}

static template_value *eval_command(template_exec_state *x, template_value *dot, const template_node *cmd, template_value *final)
{
	const template_node *first = cmd->kids[0];
	x->at = first;
	if (step(x) < 0) return NULL;
	switch (first->type) {
	case N_FIELD: return eval_field_chain(x, dot, dot, first, first->idents, first->nidents, cmd, final);
	case N_CHAIN: {
		template_value *b = eval_chain_base(x, dot, first);
		if (!b) return NULL;
		template_value *r = eval_field_chain(x, dot, b, first, first->idents, first->nidents, cmd, final);
		template_value_unref(b);
		return r;
	}
	case N_IDENT: return eval_function(x, dot, first, cmd, final);
	case N_PIPE:
		if (not_a_function(x, cmd, final) < 0) return NULL;
		return eval_pipeline(x, dot, first);
	case N_VAR: {
		template_value *v = eval_var(x, first);
		if (!v) return NULL;
		if (first->nidents == 1) {
			if (not_a_function(x, cmd, final) < 0) { template_value_unref(v); return NULL; }
			return v;
		}
		template_value *r = eval_field_chain(x, dot, v, first, first->idents + 1, first->nidents - 1, cmd, final);
		template_value_unref(v);
		return r;
	}
	default: break;
	}
	if (not_a_function(x, cmd, final) < 0) return NULL;
	if (first->type == N_DOT) return template_value_ref(dot);
	if (first->type == N_NIL) { template_fail(x, "nil is not a command"); return NULL; }
	return literal(x, first);
}

static template_value *eval_pipeline(template_exec_state *x, template_value *dot, const template_node *pipe)
{
	template_value *v = MISSING;
	x->at = pipe;
	for (size_t i = 0; i < pipe->nkids; i++) {
		template_value *nv = eval_command(x, dot, pipe->kids[i], v);
		template_value_unref(v);
		if (!nv) return NULL;
		if (nv->kind == TV_NIL) { /* Go unwraps a nil interface{} into no value */
			template_value_unref(nv);
			if (!(nv = template_value_invalid())) { template_fail(x, "out of memory"); return NULL; }
		}
		v = nv;
	}
	for (size_t i = 0; i < pipe->ndecls; i++) {
		if (pipe->is_assign) {
			template_var *e = var_find(x, pipe->decls[i]);
			if (!e) {
				x->at = pipe;
				template_fail(x, "undefined variable: %s", pipe->decls[i]);
				template_value_unref(v);
				return NULL;
			}
			template_value_unref(e->v);
			e->v = template_value_ref(v);
		} else if (var_push(x, pipe->decls[i], v) < 0) {
			template_value_unref(v);
			return NULL;
		}
	}
	return v;
}

static int walk(template_exec_state *x, template_value *dot, const template_node *n);

static int walk_list(template_exec_state *x, template_value *dot, const template_node *list)
{
	for (size_t i = 0; i < list->nkids && !x->brk; i++)
		if (walk(x, dot, list->kids[i]) < 0) return -1;
	return 0;
}

static int out_check(template_exec_state *x)
{
	if (template_mem_state()) return mem_fail(x);
	if (x->out.overflow) {
		template_fail(x, "output exceeds the limit of %zu bytes", x->out.limit);
		return -1;
	}
	return 0;
}

static int walk_range(template_exec_state *x, template_value *dot, const template_node *n)
{
	size_t mark = x->nvars;
	int rc = 0;
	x->at = n;
	template_value *v = eval_pipeline(x, dot, n->pipe);
	if (!v) return -1;
	size_t inner = x->nvars;
	size_t nd = n->pipe->ndecls;
	size_t count = v->kind == TV_LIST ? v->u.list.n : v->kind == TV_MAP ? v->u.map.n : 0;
	if (v->kind != TV_LIST && v->kind != TV_MAP && v->kind != TV_INVALID && v->kind != TV_NIL) {
		template_buf b = { 0 };
		template_value_format(&b, v, 0);
		template_fail(x, "range can't iterate over %s", b.data ? b.data : ""); /* at: the last node evaluated, as Go */
		template_buf_free(&b);
		rc = -1;
		goto done;
	}
	for (size_t i = 0; i < count; i++) {
		template_value *elem = v->kind == TV_LIST ? v->u.list.items[i] : v->u.map.vals[i];
		template_value *idx = v->kind == TV_LIST ? template_value_int((int64_t)i) : template_value_cstr(v->u.map.keys[i]);
		if (!idx) { template_fail(x, "out of memory"); rc = -1; goto done; }
		if (nd > 0) var_set_top(x, 1, elem);
		if (nd > 1) var_set_top(x, 2, idx);
		template_value_unref(idx);
		rc = walk_list(x, elem, n->list);
		var_pop(x, inner);
		if (rc < 0) goto done;
		if (x->brk == 1) { x->brk = 0; break; }
		x->brk = 0;
	}
	if (count == 0 && n->elist) rc = walk_list(x, dot, n->elist);
done:
	template_value_unref(v);
	var_pop(x, mark);
	return rc;
}

static int walk(template_exec_state *x, template_value *dot, const template_node *n)
{
	if (step(x) < 0) return -1;
	switch (n->type) {
	case N_LIST: return walk_list(x, dot, n);
	case N_TEXT:
		template_buf_add(&x->out, n->text, n->len);
		return out_check(x);
	case N_ACTION: {
		template_value *v = eval_pipeline(x, dot, n->pipe);
		if (!v) return -1;
		if (n->pipe->ndecls == 0) template_value_format(&x->out, v, 0);
		template_value_unref(v);
		return out_check(x);
	}
	case N_IF: case N_WITH: {
		size_t mark = x->nvars;
		int rc = 0;
		template_value *v = eval_pipeline(x, dot, n->pipe);
		if (!v) return -1;
		if (template_value_truth(v)) rc = walk_list(x, n->type == N_WITH ? v : dot, n->list);
		else if (n->elist) rc = walk_list(x, dot, n->elist);
		template_value_unref(v);
		var_pop(x, mark);
		return rc;
	}
	case N_RANGE: return walk_range(x, dot, n);
	case N_BREAK: x->brk = 1; return 0;
	case N_CONTINUE: x->brk = 2; return 0;
	default:
		x->at = n;
		template_fail(x, "unknown node");
		return -1;
	}
}

int template_render(const template_t *t, const template_provider *p, const template_options *opts,
	template_result *r)
{
	static const template_provider none = { 0 };
	template_exec_state x = { .t = t, .p = p ? p : &none };
	memset(r, 0, sizeof *r);
	x.out.limit = opts && opts->max_output ? opts->max_output : (size_t)64 << 20;
	x.max_steps = opts && opts->max_steps ? opts->max_steps : 50000000LL;
	x.max_memory = opts && opts->max_memory ? opts->max_memory : TEMPLATE_MAX_MEMORY_DEFAULT;
	template_mem_begin(x.max_memory);
	x.now = opts && opts->now ? opts->now : time(NULL);
	template_value *root = template_value_invalid(); /* consul-template executes with nil data */
	int rc = -1;
	if (root && var_push(&x, "$", root) == 0) rc = walk(&x, root, t->root);
	template_value_unref(root);
	var_pop(&x, 0);
	free(x.vars);
	if (template_buf_add(&x.out, "", 0) < 0 && rc == 0) {
		template_fail(&x, "output exceeds the limit of %zu bytes", x.out.limit);
		rc = -1;
	}
	/* any allocation that failed on the way fails the render, even if the code that met it
	 * carried on: a result is complete and right, or there is none */
	if (x.mem_state || template_mem_state()) {
		mem_fail(&x);
		rc = -1;
	}
	template_mem_end();
	strmap_free(x.dep_index);
	r->deps = x.deps;
	r->ndeps = x.ndeps;
	r->complete = !x.incomplete;
	if (rc < 0) {
		r->error = x.err ? x.err : strdup("template: render failed");
		template_buf_free(&x.out);
		return -1;
	}
	free(x.err);
	r->output = x.out.data;
	r->len = x.out.len;
	return 0;
}

void template_result_free(template_result *r)
{
	if (!r) return;
	free(r->output);
	for (size_t i = 0; i < r->ndeps; i++) free(r->deps[i].name);
	free(r->deps);
	free(r->error);
	memset(r, 0, sizeof *r);
}
