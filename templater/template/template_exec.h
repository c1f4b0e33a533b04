/* template_exec.h: evaluation state shared by the executor and the function library
 * (internal to the engine). Owns: the exec state struct, the function table shape, and the
 * error/dependency helpers functions use. Never: exported beyond templater/template/template_*.c. */
#ifndef PORTOLAN_TEMPLATE_EXEC_H
#define PORTOLAN_TEMPLATE_EXEC_H

#include "template.h"
#include "template_ast.h"
#include "template_value.h"

typedef struct template_exec_state template_exec_state;

/* A template function: args are borrowed; returns a new reference, or NULL after
 * template_fail()/template_call_error() set the error. */
typedef template_value *(*template_func)(template_exec_state *x, const char *name, template_value **args, size_t n);

typedef struct {
	const char *name;
	template_func fn;
	int min, max; /* arity; max -1: variadic */
} template_func_def;

/* Looks a function up in the builtin (Go) and consul-template tables. */
const template_func_def *template_func_find(const char *name);
int template_func_exists(const char *name);

/* Error raised inside a function call: "error calling NAME: msg". */
void template_call_error(template_exec_state *x, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Any other execution error at the current node. */
void template_fail(template_exec_state *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records a dependency; missing marks it missing (and the render incomplete). */
void template_exec_dep(template_exec_state *x, template_dep_kind kind, const char *name, int missing);
const template_provider *template_exec_provider(template_exec_state *x);
time_t template_now(template_exec_state *x);

/* Type-checking helpers for function arguments: 0 or -1 (error set). */
int template_arg_string(template_exec_state *x, const char *fname, template_value *v, const char **s, size_t *len);
int template_arg_int(template_exec_state *x, const char *fname, template_value *v, int64_t *i);
/* Reports that argument v of the current call is not of Go type want ("[]string", ...). */
void template_arg_type_error(template_exec_state *x, template_value *v, const char *want);

/* printf-family formatting (template_fmt.c). */
void template_sprintf(template_buf *b, const char *fmt, size_t flen, template_value **args, size_t n);
void template_sprint(template_buf *b, template_value **args, size_t n, int ln);

#endif
