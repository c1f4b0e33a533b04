/* haproxy_cfg.h: route table -> a complete HAProxy configuration (text). Pure.
 * Owns nothing but the returned buffer. Promises: the same table and options give the same
 * bytes; only validated table content and operator options reach the text. */
#ifndef PORTOLAN_HAPROXY_CFG_H
#define PORTOLAN_HAPROXY_CFG_H
#include <stddef.h>
#include "dataplane.h"
#include "routes.h"

typedef struct {
    const char *base;          /* base text with @MAXCONN@ @ADMIN_SOCKET@ @TIMEOUTS@ @STATS@ */
    const char *bind;          /* frontend bind address ("127.0.0.1:8080", ":80") */
    const char *admin_socket;  /* stats socket path for the runtime API */
    const char *stats_bind;    /* stats page address or NULL/"" for none */
    long long default_maxconn; /* when the table has none; 0: 4096 */
    const char *maps[DATAPLANE_NMAPS]; /* -routing maps: the map files (absolute or as HAProxy runs) */
} haproxy_cfg_opts_t;

/* Returns a malloc'd NUL-terminated configuration (*len set when len != NULL). */
char *haproxy_cfg_render(const routes_table_t *t, const haproxy_cfg_opts_t *o, size_t *len);
/* -routing maps: the same base, a frontend routing through o->maps, the pools and own backends
 * of layout l with their servers (dataplane.h). Returns a malloc'd configuration. */
char *haproxy_cfg_render_maps(const routes_table_t *t, const dataplane_layout_t *l, const haproxy_cfg_opts_t *o,
                              size_t *len);
/* "<addr>:<port> weight <w>[ check inter 2s]" for a server line and for `add server`. */
void haproxy_cfg_server_args(const routes_backend_t *b, const routes_server_t *s, char *buf, size_t len);
/* Checks operator options (bind/stats addresses, socket path) against the same allow-lists:
 * returns NULL or a message. */
const char *haproxy_cfg_check_opts(const haproxy_cfg_opts_t *o);
#endif
