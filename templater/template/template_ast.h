/* template_ast.h: tokens and the syntax tree of a parsed template (internal to the engine).
 * Owns: the shapes shared by template_lex.c, template_parse.c and template_exec.c; they mirror
 * Go's text/template/parse items and nodes so behaviour can be compared line by line.
 * Never: exported to the daemon; template.h is the public surface. */
#ifndef PORTOLAN_TEMPLATE_AST_H
#define PORTOLAN_TEMPLATE_AST_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
	T_ERROR, T_EOF, T_TEXT, T_LDELIM, T_RDELIM, T_SPACE, T_IDENT, T_FIELD, T_VAR, T_DOT,
	T_STRING, T_RAW, T_CHARCONST, T_NUMBER, T_BOOL, T_NIL, T_PIPE, T_LPAREN, T_RPAREN,
	T_ASSIGN, T_DECLARE, T_CHAR,
	/* keywords */
	T_RANGE, T_IF, T_ELSE, T_END, T_WITH, T_DEFINE, T_TEMPLATE, T_BLOCK, T_BREAK, T_CONTINUE,
} template_tok_type;

typedef struct {
	template_tok_type type;
	size_t pos;  /* byte offset in the template */
	int line;    /* 1-based */
	char *val;   /* token text (for T_ERROR: the message) */
	size_t len;
} template_token;

typedef struct {
	template_token *toks;
	size_t n, cap;
} template_tokens;

/* Lexes the whole template. Always ends with T_EOF or T_ERROR. Returns -1 on OOM. */
int template_lex(const char *text, size_t len, template_tokens *out);
void template_tokens_free(template_tokens *t);

typedef enum {
	N_LIST, N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH, N_PIPE, N_CMD, N_FIELD, N_CHAIN, N_VAR,
	N_IDENT, N_DOT, N_NIL, N_BOOL, N_NUMBER, N_STRING, N_BREAK, N_CONTINUE,
	/* markers used only while parsing */
	N_END, N_ELSE,
} template_node_type;

typedef struct template_node template_node;
struct template_node {
	template_node_type type;
	size_t pos;
	int line;
	template_node **kids; /* LIST: nodes; PIPE: commands; CMD: args */
	size_t nkids, capkids;
	char **idents;   /* FIELD: names (no dots); VAR: "$x" then fields; CHAIN: fields; IDENT: name */
	size_t nidents;
	template_node *pipe, *list, *elist; /* IF/RANGE/WITH, ACTION (pipe) */
	template_node *node;                /* CHAIN: the term */
	char **decls;                  /* PIPE: declared variables */
	size_t ndecls;
	int is_assign;                 /* PIPE */
	char *text;                    /* TEXT, STRING: bytes; NUMBER/STRING: raw literal in raw */
	size_t len;
	char *raw;
	int b;                         /* BOOL */
	int is_int, is_float;          /* NUMBER */
	int64_t i;
	double f;
	const void *fn;                /* IDENT: the function definition, resolved at parse time */
};

void template_node_free(template_node *n);
/* Go's Node.String() for error context. */
void template_node_string(const template_node *n, void *buf /* template_buf* */);

#endif
