/* template_value.h: the values a template computes with, modelled on the Go values
 * consul-template hands to text/template.
 * Owns: a small dynamic value type (nil, bool, int, float, string, list, map, struct) with
 * reference counting, Go truthiness, Go's fmt %v printing, and Go's eq/lt comparisons.
 * Promises: values are immutable once built (so they can be shared); every template_value_*
 * constructor returns a new reference that the caller must template_value_unref.
 * Never: does I/O. */
#ifndef PORTOLAN_TEMPLATE_VALUE_H
#define PORTOLAN_TEMPLATE_VALUE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
	TV_INVALID = 0, /* Go's invalid reflect.Value: a missing map key; prints "<no value>" */
	TV_NIL,         /* untyped nil */
	TV_BOOL,
	TV_INT,
	TV_FLOAT,
	TV_STRING,
	TV_LIST,
	TV_MAP,    /* string keys, kept sorted by key */
	TV_STRUCT, /* pointer to struct: fields in declaration order */
} template_kind;

typedef struct template_value template_value;
struct template_value {
	template_kind kind;
	int refs;
	size_t charge;    /* bytes charged to the render's memory budget, released on free */
	const char *type; /* Go type name for messages and methods: "string", "dep.ServiceTags", ... */
	union {
		int b;
		int64_t i;
		double f;
		struct { char *s; size_t len; } str;
		struct { template_value **items; size_t n, cap; } list;
		struct { char **keys; template_value **vals; size_t n, cap; } map; /* also struct fields */
	} u;
};

template_value *template_value_ref(template_value *v);
void template_value_unref(template_value *v);

template_value *template_value_invalid(void);
template_value *template_value_nil(void);
template_value *template_value_bool(int b);
template_value *template_value_int(int64_t i);
template_value *template_value_float(double f);
template_value *template_value_string(const char *s, size_t len);
template_value *template_value_cstr(const char *s);
/* Takes ownership of a malloc'd buffer. */
template_value *template_value_string_take(char *s, size_t len);
template_value *template_value_list(const char *type);
/* Appends, taking the caller's reference to item. Returns 0, -1 on allocation failure. */
int template_value_list_push(template_value *list, template_value *item);
template_value *template_value_map(const char *type);
/* Sets key (copied), taking the caller's reference to val; keeps keys sorted, replaces. */
int template_value_map_set(template_value *map, const char *key, template_value *val);
template_value *template_value_struct(const char *type);
/* Appends a field (declaration order), taking the caller's reference to val. */
int template_value_struct_add(template_value *st, const char *name, template_value *val);

/* Map lookup (maps and structs); borrowed pointer or NULL. */
template_value *template_value_get(const template_value *v, const char *key);

/* Go's truthiness: false for empty string/list/map, 0, false, nil, no value. */
int template_value_truth(const template_value *v);
/* Length for len/index: -1 when the kind has no length. */
long template_value_len(const template_value *v);

/* A growable byte buffer used for output and formatting. */
typedef struct {
	char *data;
	size_t len, cap;
	size_t limit; /* 0: unlimited; otherwise appends past it fail */
	int overflow;
} template_buf;
int template_buf_add(template_buf *b, const void *p, size_t n);
int template_buf_adds(template_buf *b, const char *s);
int template_buf_addf(template_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void template_buf_free(template_buf *b);
/* The buffer's bytes as a string value (the buffer is emptied); NULL when the buffer overflowed
 * or memory ran out, so a failed append can never turn into a shortened value. */
template_value *template_buf_take(template_buf *b);

/* The memory budget of one render (template_exec.c opens and closes it): every value and buffer
 * allocation is charged while it lives; one past limit fails. template_mem_state / _end: 0 fine,
 * 1 an allocation failed (malloc), 2 the limit was reached. */
void template_mem_begin(size_t limit);
int template_mem_state(void);
int template_mem_end(void);

/* Go's fmt %v. top: 1 when the value is the operand itself (a struct prints "{...}" as
 * text/template prints it; "&{...}" when amp is set, as printf %v does). */
void template_value_format(template_buf *b, const template_value *v, int amp);
/* Go's float formatting for %v (strconv 'g', shortest). */
void template_format_float(template_buf *b, double f, char verb, int prec);
/* Go's strconv.Quote. */
void template_quote(template_buf *b, const char *s, size_t len);

/* Go's basic comparison, as text/template's eq/lt: returns 0 and sets *res, or -1 with an
 * error message in err (static string). lt: -1/0/1 ordering via *res for ordered kinds. */
int template_value_equal(const template_value *a, const template_value *b, int *res, const char **err);
int template_value_less(const template_value *a, const template_value *b, int *res, const char **err);

#endif
