/* tmpl_mode.c: consul-template's -template mode for portolan-templater (see tmpl_mode.h).
 * The render loop: render -> for each missing dependency start its source -> on data, render
 * again. Services come from the templater's one Consul mirror (mirror.h), which fetches only
 * what changed where Consul says so; the number of Consul connections stays constant in the
 * number of services. */
#include "tmpl_mode.h"
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "consul_watch.h"
#include "log.h"
#include "mirror.h"
#include "template.h"

typedef struct {
    char *name;
    int prefix;
    consul_watch_t *w;
} kvw_t;

struct tmpl_mode {
    uv_loop_t *loop;
    consul_client_t *c;
    tmpl_mode_opts_t o;
    char *in, *out, *cmd;
    template_t *t;
    template_store *st;
    template_provider p;
    mirror_t *mirror;      /* only once the template uses services */
    kvw_t *kv;
    size_t nkv;
    json_t *used;          /* service names the template used */
    uv_timer_t wait_timer;
    uint64_t deadline;
    child_t *cmd_proc;  /* lib/child.h: the -template command while it runs (30 s timeout) */
    int cmd_running, cmd_again;
    int exit_code;
    int done;
    int closing;           /* timers still closing in tmpl_mode_free */
};

int tmpl_mode_parse_spec(const char *spec, char **in, char **out, char **cmd, char *err, size_t errlen)
{
    *in = *out = *cmd = NULL;
    const char *a = strchr(spec, ':');
    if (!a || a == spec) { snprintf(err, errlen, "\"%s\": want in:out[:command]", spec); return -1; }
    const char *b = strchr(a + 1, ':');
    size_t ol = b ? (size_t)(b - a - 1) : strlen(a + 1);
    if (ol == 0) { snprintf(err, errlen, "\"%s\": empty output path", spec); return -1; }
    *in = strndup(spec, (size_t)(a - spec));
    *out = strndup(a + 1, ol);
    if (b && b[1]) *cmd = strdup(b + 1);
    return 0;
}

static void render(tmpl_mode_t *m);

static void finish(tmpl_mode_t *m, int code)
{
    if (m->done) return;
    m->done = 1;
    m->exit_code = code;
    if (m->o.on_done) m->o.on_done(m->o.data);
}

/* ---- the mirror's callbacks ---- */

/* the services the template has used so far, listed in Consul or not */
static int wanted(const char *name, const json_t *tags, void *data)
{
    (void)tags;
    const tmpl_mode_t *m = data;
    return json_object_get(m->used, name) != NULL;
}

static void on_services(const json_t *data, void *ud)
{
    tmpl_mode_t *m = ud;
    template_store_set_services(m->st, data);
}

static void on_service(const char *name, const json_t *health, void *ud)
{
    tmpl_mode_t *m = ud;
    template_store_set_service(m->st, name, health);
}

static void on_gone(const char *name, void *ud)
{
    tmpl_mode_t *m = ud;
    json_t *none = json_array();
    template_store_set_service(m->st, name, none);
    json_decref(none);
}

static void on_idle(void *ud) { render(ud); }

static void on_kv(consul_watch_t *w, json_t *data, uint64_t index, void *ud)
{
    tmpl_mode_t *m = ud;
    for (size_t i = 0; i < m->nkv; i++)
        if (m->kv[i].w == w) {
            if (m->kv[i].prefix) template_store_set_prefix(m->st, m->kv[i].name, data);
            else template_store_set_key(m->st, m->kv[i].name, data);
        }
    if (!m->mirror || !mirror_pending(m->mirror)) render(m); /* else when the fetches are in */
}

/* -once: a watch failing give_up_after times in a row ends the run (exit 1) instead of retrying on */
static void watch_failed(tmpl_mode_t *m, const char *path, const char *error, unsigned attempt, uint64_t retry_ms)
{
    if (m->done) return;
    if (m->o.give_up_after && attempt >= m->o.give_up_after) {
        log_error("consul: %s: %.400s: giving up after %u attempts", path, error, attempt);
        finish(m, 1);
        return;
    }
    if (attempt == 1 || attempt % 10 == 0)
        log_warn("consul: %s: %s (attempt %u, retry in %llu ms)", path, error, attempt, (unsigned long long)retry_ms);
}

static void on_watch_error(consul_watch_t *w, const char *error, unsigned attempt, uint64_t retry_ms, void *data)
{
    tmpl_mode_t *m = data;
    if (m->mirror) mirror_resync(m->mirror); /* Consul was unreachable: anything may have changed */
    watch_failed(m, consul_watch_path(w), error, attempt, retry_ms);
}

static void on_mirror_error(const char *path, const char *error, unsigned attempt, uint64_t retry_ms, void *data)
{
    watch_failed(data, path, error, attempt, retry_ms);
}

/* the watch options every template watch shares */
static void watch_opts(const tmpl_mode_t *m, consul_watch_opts_t *wo, const char *path)
{
    consul_watch_opts_init(wo, path);
    wo->stale = m->o.stale;
    if (m->o.give_up_after) wo->backoff_cap_ms = 1000;
}

static void start_kv(tmpl_mode_t *m, const char *name, int prefix)
{
    for (size_t i = 0; i < m->nkv; i++)
        if (m->kv[i].prefix == prefix && strcmp(m->kv[i].name, name) == 0) return;
    m->kv = realloc(m->kv, (m->nkv + 1) * sizeof *m->kv);
    kvw_t *k = &m->kv[m->nkv++];
    k->name = strdup(name);
    k->prefix = prefix;
    /* the key is escaped segment by segment ('/' kept): "x?y" asks for the key x?y, not for x */
    char *path = consul_path("/v1/kv/", name, 1, prefix ? "?recurse" : NULL);
    consul_watch_opts_t wo;
    watch_opts(m, &wo, path);
    k->w = path ? consul_watch_new(m->c, &wo, on_kv, on_watch_error, m) : NULL;
    free(path);
    if (k->w) consul_watch_start(k->w);
    else log_error("template: cannot watch key %.200s (too long?)", name);
}

static void start_services(tmpl_mode_t *m)
{
    if (m->mirror) return;
    mirror_opts_t mo = { .stale = m->o.stale, .backoff_cap_ms = m->o.give_up_after ? 1000 : 0,
                         .wanted = wanted, .on_services = on_services, .on_service = on_service,
                         .on_gone = on_gone, .on_idle = on_idle, .on_watch_error = on_mirror_error, .data = m };
    m->mirror = mirror_new(m->c, &mo);
    if (!m->mirror || mirror_start(m->mirror) < 0) log_error("template: cannot watch Consul's services");
}

static int same_as_disk(const char *path, const char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    char *d = malloc(len + 1);
    size_t n = fread(d, 1, len + 1, f);
    fclose(f);
    int same = n == len && memcmp(d, buf, len) == 0;
    free(d);
    return same;
}

static void run_cmd(tmpl_mode_t *m);

static void on_cmd_exit(const child_result_t *r, void *data)
{
    tmpl_mode_t *m = data;
    m->cmd_proc = NULL; /* lib/child frees it once this returns */
    m->cmd_running = 0;
    if (r->timed_out) log_error("template: command \"%s\" timed out after 30 s; killed", m->cmd);
    else if (r->status || r->sig)
        log_error("template: command \"%s\" failed (exit %lld, signal %d)", m->cmd, (long long)r->status, r->sig);
    else log_info("template: command \"%s\" done", m->cmd);
    if (m->cmd_again) { m->cmd_again = 0; run_cmd(m); return; }
    if (m->o.once) finish(m, r->status || r->sig ? 1 : 0);
}

static void run_cmd(tmpl_mode_t *m)
{
    if (m->cmd_running) { m->cmd_again = 1; return; }
    char *args[] = { "/bin/sh", "-c", m->cmd, NULL };
    child_opts_t co = { .file = "/bin/sh", .args = args, .timeout_ms = 30000, .on_exit = on_cmd_exit, .data = m };
    char why[256];
    m->cmd_proc = child_spawn(m->loop, &co, why, sizeof why);
    if (!m->cmd_proc) {
        log_error("template: cannot run command: %s", why);
        if (m->o.once) finish(m, 1);
        return;
    }
    m->cmd_running = 1;
}

static void do_render(tmpl_mode_t *m)
{
    if (!m->t || m->done) return;
    template_options to = { 0 };
    template_result r;
    int failed = template_render(m->t, &m->p, &to, &r) < 0;
    if (failed && r.complete) { /* every dependency present: the template's own error */
        log_error("template: %s", r.error);
        template_result_free(&r);
        if (m->o.once) finish(m, 1);
        return;
    }
    int waiting = failed; /* an error on incomplete data (index of an empty list): fetch, render again */
    for (size_t i = 0; i < r.ndeps; i++) {
        template_dep *d = &r.deps[i];
        switch (d->kind) {
        case TEMPLATE_DEP_SERVICES: start_services(m); if (d->missing) waiting = 1; break;
        case TEMPLATE_DEP_SERVICE:
            start_services(m);
            if (!json_object_get(m->used, d->name)) json_object_set_new(m->used, d->name, json_true());
            if (d->missing || !m->mirror || !mirror_fetched(m->mirror, d->name)) {
                if (m->mirror) mirror_want(m->mirror, d->name);
                waiting = 1;
            }
            break;
        case TEMPLATE_DEP_KEY: start_kv(m, d->name, 0); if (d->missing) waiting = 1; break;
        case TEMPLATE_DEP_PREFIX: start_kv(m, d->name, 1); if (d->missing) waiting = 1; break;
        }
    }
    if (!r.complete || waiting) {
        template_result_free(&r);
        return; /* never render from here: the data arrives through callbacks */
    }
    if (m->o.dry) {
        printf("> %s\n", m->out);
        fwrite(r.output, 1, r.len, stdout);
        fflush(stdout);
        template_result_free(&r);
        if (m->o.once) finish(m, 0);
        return;
    }
    if (same_as_disk(m->out, r.output, r.len)) {
        template_result_free(&r);
        if (m->o.once) finish(m, 0);
        return;
    }
    if (file_write_atomic(m->out, r.output, r.len, 0666) != 0) { /* via <out>.tmp */
        log_error("template: write %s: %s", m->out, strerror(errno));
        template_result_free(&r);
        if (m->o.once) finish(m, 1);
        return;
    }
    log_info("template: rendered %s (%zu bytes)", m->out, r.len);
    template_result_free(&r);
    if (m->cmd) run_cmd(m);
    else if (m->o.once) finish(m, 0);
}

static void on_wait(uv_timer_t *t)
{
    tmpl_mode_t *m = t->data;
    m->deadline = 0;
    do_render(m);
}

static void render(tmpl_mode_t *m)
{
    if (m->o.wait_min_ms == 0) { do_render(m); return; }
    uint64_t now = uv_now(m->loop);
    if (!m->deadline) m->deadline = now + m->o.wait_max_ms;
    uint64_t d = m->o.wait_min_ms;
    if (now + d > m->deadline) d = m->deadline > now ? m->deadline - now : 0;
    uv_timer_start(&m->wait_timer, on_wait, d, 0);
}

static int load(tmpl_mode_t *m, char *err, size_t errlen)
{
    size_t n;
    char *buf = file_read(m->in, 0, &n);
    if (!buf) { snprintf(err, errlen, "%s: %s", m->in, file_strerror(errno)); return -1; }
    char *perr = NULL;
    template_t *t = template_new(m->in, buf, n, &perr);
    free(buf);
    if (!t) { snprintf(err, errlen, "%s", perr ? perr : "parse error"); free(perr); return -1; }
    template_free(m->t);
    m->t = t;
    return 0;
}

static const char *env_get(const char *n) { return getenv(n); }

tmpl_mode_t *tmpl_mode_new(uv_loop_t *loop, consul_client_t *c, const tmpl_mode_opts_t *o, char *err, size_t errlen)
{
    tmpl_mode_t *m = calloc(1, sizeof *m);
    m->loop = loop;
    m->c = c;
    m->o = *o;
    if (tmpl_mode_parse_spec(o->spec, &m->in, &m->out, &m->cmd, err, errlen) < 0) { free(m); return NULL; }
    if (load(m, err, errlen) < 0) { free(m->in); free(m->out); free(m->cmd); free(m); return NULL; }
    m->st = template_store_new();
    template_store_set_env(m->st, env_get);
    template_store_provider(m->st, &m->p);
    m->used = json_object();
    uv_timer_init(loop, &m->wait_timer);
    m->wait_timer.data = m;
    do_render(m);   /* discovers the dependencies */
    return m;
}

void tmpl_mode_reload(tmpl_mode_t *m)
{
    char err[512];
    if (load(m, err, sizeof err) < 0) { log_error("SIGHUP: template %s: %s; keeping the old one", m->in, err); return; }
    log_info("SIGHUP: template %s re-read", m->in);
    do_render(m);
}

int tmpl_mode_exit_code(const tmpl_mode_t *m) { return m->exit_code; }

static void on_free_timer_closed(uv_handle_t *h)
{
    tmpl_mode_t *m = h->data;
    if (--m->closing == 0) free(m);
}

void tmpl_mode_free(tmpl_mode_t *m)
{
    if (!m) return;
    m->done = 1;
    mirror_free(m->mirror);
    for (size_t i = 0; i < m->nkv; i++) { consul_watch_free(m->kv[i].w); free(m->kv[i].name); }
    free(m->kv);
    if (m->cmd_proc) child_forget(m->cmd_proc); /* it runs on (to its timeout) without us */
    template_free(m->t);
    template_store_free(m->st);
    json_decref(m->used);
    free(m->in);
    free(m->out);
    free(m->cmd);
    m->closing = 1;
    uv_close((uv_handle_t *)&m->wait_timer, on_free_timer_closed);
}
