/* xalloc.h: portolan's one policy for allocation failure, and the helpers that carry it out.
 *
 * The rule (every binary, every directory):
 *  1. A size an outside party picks in one go is checked and refused, never fatal: a request body,
 *     a template and its output, a file read, a decoded value, a Consul or Docker answer as a
 *     whole. Plain malloc/realloc, the result tested, and a failure fails that one input (-1 or
 *     NULL and a message), so a hostile or oversized input cannot stop a daemon. lib/'s public
 *     functions all follow this half (they return an error; they never abort), and so does the
 *     template engine (tests/unit/test_template renders under RLIMIT_AS).
 *  2. The daemons' own bookkeeping goes through xmalloc & co.: structs, copies of flags and
 *     paths, command lines, and the tables that grow one validated entry at a time (routes,
 *     servers, map and runtime commands, fetch queues). Out of memory there means the process
 *     cannot keep a consistent state, so it is fatal: one log line naming the size, then abort(),
 *     rather than a half-updated table and a crash later.
 *  3. No allocation is used unchecked: every malloc/calloc/realloc/strdup/asprintf result is either
 *     tested (rule 1) or made by an x-helper (rule 2). `if (!p) abort();` is written xmalloc, and
 *     no file keeps a private x-helper of its own.
 *
 * Owns nothing. Promises: never returns NULL (xstrdup(NULL) excepted: NULL passes through, as
 * cstr_dup does); a zero size still returns a unique pointer; xcalloc and xreallocarray check
 * n * size for overflow. Never: retries, frees, or returns on failure. */
#ifndef PORTOLAN_XALLOC_H
#define PORTOLAN_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
void *xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
void *xreallocarray(void *p, size_t n, size_t size) __attribute__((returns_nonnull));
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n) __attribute__((returns_nonnull));
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), returns_nonnull));

/* What the helpers do on failure: logs "out of memory (<n> bytes for <what>)" and aborts. */
void xalloc_die(size_t n, const char *what) __attribute__((noreturn));

#endif
