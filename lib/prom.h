/* prom.h: the Prometheus text exposition format (version 0.0.4), written into a growing buffer:
 * the one writer behind every daemon's /metrics. Owns the buffer until prom_finish hands it over.
 * Promises: each family is one "# HELP" (when help is given) and one "# TYPE" line followed by
 * its samples; label values are escaped as the format asks (backslash, double quote, newline);
 * metric and label names are checked against [a-zA-Z_:][a-zA-Z0-9_:]* and a bad one is dropped
 * (and prom_finish reports the writer as failed) instead of producing text a scraper rejects.
 * An allocation failure anywhere makes prom_finish return NULL. Never: does I/O, logs, or keeps
 * state between two scrapes. */
#ifndef PORTOLAN_PROM_H
#define PORTOLAN_PROM_H

#include <stddef.h>
#include <stdint.h>

typedef struct prom prom_t;

/* A writer whose metric names all start with prefix (e.g. "portolan_agent_"; "" for none).
 * NULL when memory runs out. */
prom_t *prom_new(const char *prefix);

/* The "# HELP" (help may be NULL: no HELP line) and "# TYPE" lines of a family; type is
 * "counter", "gauge", "untyped", ... */
void prom_family(prom_t *p, const char *name, const char *type, const char *help);

/* One sample of family name. label_name NULL: no labels; else {label_name="label_value"}. */
void prom_sample_u64(prom_t *p, const char *name, const char *label_name, const char *label_value, uint64_t v);
void prom_sample_double(prom_t *p, const char *name, const char *label_name, const char *label_value, double v);

/* One sample with several labels: labels holds name/value pairs and ends with a NULL name
 * (e.g. {"action", "scale", "result", "ok", NULL}). */
void prom_sample_u64_labels(prom_t *p, const char *name, const char *const *labels, uint64_t v);

/* A family of one unlabelled sample: prom_family + prom_sample_*. */
void prom_counter(prom_t *p, const char *name, const char *help, uint64_t v);
void prom_gauge(prom_t *p, const char *name, const char *help, uint64_t v);
void prom_gauge_double(prom_t *p, const char *name, const char *help, double v);

/* Frees p and returns the text (malloc'd, NUL-terminated, its length in *len), or NULL when
 * memory ran out or a name was refused. */
char *prom_finish(prom_t *p, size_t *len);

/* The content type to answer /metrics with. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4"

#endif
