/* template_parse.h: parsing template text into a tree (internal to the engine).
 * Owns: Go 1.19 text/template/parse's grammar for the subset portolan supports, including its
 * parse-time checks (functions must exist, variables must be declared) and its error format
 * "template: NAME:LINE: message". Never: evaluates anything. */
#ifndef PORTOLAN_TEMPLATE_PARSE_H
#define PORTOLAN_TEMPLATE_PARSE_H

#include "template_ast.h"

#define TEMPLATE_MAX_DEPTH 100 /* nesting of control structures and parentheses */

/* find_func: the definition an identifier names, NULL when unknown (stored in the N_IDENT
 * node). Returns the tree (an N_LIST) or NULL with *err set (malloc'd). */
template_node *template_parse(const char *name, const char *text, size_t len,
	const void *(*find_func)(const char *name), char **err);

#endif
