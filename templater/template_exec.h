/* template_exec.h: evaluation state shared by the executor and the function library
 * (internal to the engine). Owns: the exec state struct, the function table shape, and the
 * error/dependency helpers functions use. Never: exported beyond templater/template_*.c. */
#ifndef PORTOLAN_TEMPLATE_EXEC_H
#define PORTOLAN_TEMPLATE_EXEC_H

#include "template.h"
#include "template_ast.h"
#include "template_value.h"

typedef struct tpl_exec tpl_exec;

/* A template function: args are borrowed; returns a new reference, or NULL after
 * tpl_fail()/tpl_call_error() set the error. */
typedef template_value *(*tpl_func)(tpl_exec *x, const char *name, template_value **args, size_t n);

typedef struct {
	const char *name;
	tpl_func fn;
	int min, max; /* arity; max -1: variadic */
} tpl_func_def;

/* Looks a function up in the builtin (Go) and consul-template tables. */
const tpl_func_def *tpl_func_find(const char *name);
int tpl_func_exists(const char *name);

/* Error raised inside a function call: "error calling NAME: msg". */
void tpl_call_error(tpl_exec *x, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Any other execution error at the current node. */
void tpl_fail(tpl_exec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records a dependency; missing marks it missing (and the render incomplete). */
void tpl_dep(tpl_exec *x, template_dep_kind kind, const char *name, int missing);
const template_provider *tpl_provider(tpl_exec *x);
time_t tpl_now(tpl_exec *x);

/* Type-checking helpers for function arguments: 0 or -1 (error set). */
int tpl_arg_string(tpl_exec *x, const char *fname, template_value *v, const char **s, size_t *len);
int tpl_arg_int(tpl_exec *x, const char *fname, template_value *v, int64_t *i);
/* Reports that argument v of the current call is not of Go type want ("[]string", ...). */
void tpl_arg_type_error(tpl_exec *x, template_value *v, const char *want);

/* printf-family formatting (template_fmt.c). */
void tpl_sprintf(template_buf *b, const char *fmt, size_t flen, template_value **args, size_t n);
void tpl_sprint(template_buf *b, template_value **args, size_t n, int ln);

#endif
