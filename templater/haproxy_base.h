/* haproxy_base.h: the default base configuration (-base not given), built into the binary.
 * Owns nothing: haproxy_base_builtin is the text of haproxy/haproxy.cfg.base, turned into a C
 * array at build time (templater/local.mk), so that file stays the single source and a templater
 * run from the build tree needs no installed copy. Promises: NUL-terminated, no NUL inside (as
 * read_base in main.c demands of a -base file); tests/unit/test_routes.c compares it with the file. */
#ifndef PORTOLAN_HAPROXY_BASE_H
#define PORTOLAN_HAPROXY_BASE_H

extern const char haproxy_base_builtin[];

#endif
