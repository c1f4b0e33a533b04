/* tmpl_mode.h: -template in:out[:command], consul-template's mode, on the template engine
 * (template.h) and its Consul-fed store.
 * Owns: the parsed template, the store, one watch per KV key/prefix the template uses, the
 * catalog/services and health/state/any watches (only when the template uses services), and a
 * one-at-a-time fetch queue of health/service/<name>. Promises: renders only complete data; writes
 * only when the bytes differ from the file (atomic rename) and then runs the command once
 * (/bin/sh -c, 30 s timeout); -dry prints "> out" and the bytes instead; -once exits after the
 * first complete render; SIGHUP re-reads the template file. */
#ifndef PORTOLAN_TMPL_MODE_H
#define PORTOLAN_TMPL_MODE_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "consul_client.h"

typedef struct tmpl_mode tmpl_mode_t;
typedef struct {
    const char *spec;        /* in:out[:command] */
    int once, dry, stale;
    uint64_t wait_min_ms, wait_max_ms;
    /* 0: watches retry forever. n > 0 (-once): a watch failing n times in a row logs the error and
     * finishes with exit code 1; its backoff is then capped at 1 s, so the bound is ~n seconds. */
    unsigned give_up_after;
    void (*on_done)(void *data);  /* -once finished (or fatal error): stop the loop */
    void *data;                   /* handed to on_done */
} tmpl_mode_opts_t;

/* Parses "in:out[:command]": 0, or -1 with err. Pure; strings malloc'd. */
int tmpl_mode_parse_spec(const char *spec, char **in, char **out, char **cmd, char *err, size_t errlen);
tmpl_mode_t *tmpl_mode_new(uv_loop_t *loop, consul_client_t *c, const tmpl_mode_opts_t *o, char *err, size_t errlen);
void tmpl_mode_reload(tmpl_mode_t *m);
int tmpl_mode_exit_code(const tmpl_mode_t *m);
/* Stops every watch and fetch and frees m; its timers close through uv_close (run the loop once
 * more). A command still running is left to finish on its own (its handle is freed when it exits,
 * nothing calls back into m). NULL is a no-op. */
void tmpl_mode_free(tmpl_mode_t *m);
#endif
