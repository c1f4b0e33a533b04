/* tmpl_mode.c: consul-template's -template mode for portolan-templater (see tmpl_mode.h).
 * The render loop: render -> for each missing dependency start its source -> on data, render
 * again. Services are refetched (one at a time) when catalog/services or health/state/any move;
 * the number of Consul connections stays constant in the number of services. */
#include "tmpl_mode.h"
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "child.h"
#include "consul_watch.h"
#include "log.h"
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
    consul_watch_t *w_services, *w_state;
    kvw_t *kv;
    size_t nkv;
    json_t *used;          /* service names the template used */
    json_t *fetched;       /* service names fetched at least once */
    json_t *queue;         /* names to fetch (object as ordered set) */
    consul_call_t *inflight;
    char *inflight_name;
    json_t *retry;         /* name -> {"attempt": n, "due": loop ms}: fetch failed, backing off */
    uv_timer_t retry_timer;
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
static void fetch_next(tmpl_mode_t *m);

static void finish(tmpl_mode_t *m, int code)
{
    if (m->done) return;
    m->done = 1;
    m->exit_code = code;
    if (m->o.on_done) m->o.on_done(m->o.data);
}

static void enqueue(tmpl_mode_t *m, const char *name)
{
    json_object_set_new(m->queue, name, json_true());
}

/* A service whose fetch failed waits out its own backoff (500 ms x 2^n, capped at 1 min): the
 * other fetches go on, and the log gets the 1st, 10th, 20th... failure only. */
static void on_retry_timer(uv_timer_t *t)
{
    tmpl_mode_t *m = t->data;
    uint64_t now = uv_now(m->loop), next = UINT64_MAX;
    const char *name;
    json_t *v;
    json_object_foreach(m->retry, name, v) {
        uint64_t due = (uint64_t)json_integer_value(json_object_get(v, "due"));
        if (!due) continue;
        if (due <= now) { json_object_set_new(v, "due", json_integer(0)); enqueue(m, name); }
        else if (due < next) next = due;
    }
    if (next != UINT64_MAX) uv_timer_start(&m->retry_timer, on_retry_timer, next - now, 0);
    fetch_next(m);
}

/* transport: no answer at all: the retry is then also due when a watch hears from Consul again */
static void retry_later(tmpl_mode_t *m, const char *name, const char *error, int transport)
{
    json_t *v = json_object_get(m->retry, name);
    unsigned attempt = v ? (unsigned)json_integer_value(json_object_get(v, "attempt")) : 0;
    uint64_t delay = backoff_delay_ms(500, 60000, attempt, backoff_random32());
    attempt++;
    json_object_set_new(m->retry, name, json_pack("{s:I,s:I,s:b}", "attempt", (json_int_t)attempt,
                                                  "due", (json_int_t)(uv_now(m->loop) + delay), "transport", transport));
    if (attempt == 1 || attempt % 10 == 0) {
        json_t *j = json_string(name);
        char *qn = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL; /* quoted: control bytes escaped */
        json_decref(j);
        log_warn("consul: fetch of service %.120s failed: %.300s (attempt %u, retry in %llu ms)", qn ? qn : "?",
                 error, attempt, (unsigned long long)delay);
        free(qn);
    }
    if (!uv_is_active((uv_handle_t *)&m->retry_timer) || delay < uv_timer_get_due_in(&m->retry_timer))
        uv_timer_start(&m->retry_timer, on_retry_timer, delay, 0);
}

static int retry_waiting(const tmpl_mode_t *m, const char *name)
{
    json_t *v = json_object_get(m->retry, name);
    return v && json_integer_value(json_object_get(v, "due")) != 0;
}

static void on_fetch(consul_client_t *c, const consul_result_t *r, void *data)
{
    tmpl_mode_t *m = data;
    m->inflight = NULL;
    if (r->error || !json_is_array(r->json)) {
        retry_later(m, m->inflight_name, r->error ? r->error : "answer is not a JSON array", r->status == 0);
    } else {
        json_object_del(m->retry, m->inflight_name);
        template_store_set_service(m->st, m->inflight_name, r->json);
        json_object_set_new(m->fetched, m->inflight_name, json_true());
    }
    free(m->inflight_name);
    m->inflight_name = NULL;
    fetch_next(m);
}

/* Starts the next fetch; returns 0 when the queue is empty (nothing started). */
static int fetch_start(tmpl_mode_t *m)
{
    if (m->inflight) return 1;
    for (;;) {
        void *it = json_object_iter(m->queue);
        if (!it) return 0;
        char *name = strdup(json_object_iter_key(it));
        json_object_del(m->queue, name);
        if (retry_waiting(m, name)) { free(name); continue; } /* the retry timer brings it back */
        char *path = consul_path("/v1/health/service/", name, 0, m->o.stale ? "?stale" : NULL);
        m->inflight_name = name;
        m->inflight = path ? consul_client_request(m->c, "GET", path, NULL, 0, -1, on_fetch, m) : NULL;
        free(path);
        if (m->inflight) return 1;
        m->inflight_name = NULL;
        retry_later(m, name, "could not start the request", 0);
        free(name);
    }
}

/* After new data: fetch what is queued, render once the queue is empty. */
static void fetch_next(tmpl_mode_t *m)
{
    if (!fetch_start(m)) render(m);
}

static void refetch_used(tmpl_mode_t *m)
{
    const char *name;
    json_t *v;
    json_object_foreach(m->used, name, v) enqueue(m, name);
    fetch_next(m);
}

static void on_services(consul_watch_t *w, json_t *data, uint64_t index, void *ud)
{
    tmpl_mode_t *m = ud;
    /* Consul answers again: fetches that failed for want of a connection go now */
    const char *name;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(m->retry, tmp, name, v)
        if (json_is_true(json_object_get(v, "transport"))) json_object_del(m->retry, name);
    template_store_set_services(m->st, data);
    refetch_used(m);
}

static void on_state(consul_watch_t *w, json_t *data, uint64_t index, void *ud)
{
    refetch_used(ud);
}

static void on_kv(consul_watch_t *w, json_t *data, uint64_t index, void *ud)
{
    tmpl_mode_t *m = ud;
    for (size_t i = 0; i < m->nkv; i++)
        if (m->kv[i].w == w) {
            if (m->kv[i].prefix) template_store_set_prefix(m->st, m->kv[i].name, data);
            else template_store_set_key(m->st, m->kv[i].name, data);
        }
    fetch_next(m);
}

/* -once: a watch failing give_up_after times in a row ends the run (exit 1) instead of retrying on */
static void on_watch_error(consul_watch_t *w, const char *error, unsigned attempt, uint64_t retry_ms, void *data)
{
    tmpl_mode_t *m = data;
    if (m->done) return;
    if (m->o.give_up_after && attempt >= m->o.give_up_after) {
        log_error("consul: %s: %.400s: giving up after %u attempts", consul_watch_path(w), error, attempt);
        finish(m, 1);
        return;
    }
    if (attempt == 1 || attempt % 10 == 0)
        log_warn("consul: %s: %s (attempt %u, retry in %llu ms)", consul_watch_path(w), error, attempt,
                 (unsigned long long)retry_ms);
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
    if (m->w_services) return;
    consul_watch_opts_t wo;
    watch_opts(m, &wo, "/v1/catalog/services");
    wo.fire_on_equal_data = 1;
    m->w_services = consul_watch_new(m->c, &wo, on_services, on_watch_error, m);
    watch_opts(m, &wo, "/v1/health/state/any");
    m->w_state = consul_watch_new(m->c, &wo, on_state, on_watch_error, m);
    if (m->w_services) consul_watch_start(m->w_services);
    if (m->w_state) consul_watch_start(m->w_state);
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
            if (d->missing || !json_object_get(m->fetched, d->name)) { enqueue(m, d->name); waiting = 1; }
            break;
        case TEMPLATE_DEP_KEY: start_kv(m, d->name, 0); if (d->missing) waiting = 1; break;
        case TEMPLATE_DEP_PREFIX: start_kv(m, d->name, 1); if (d->missing) waiting = 1; break;
        }
    }
    if (!r.complete || waiting) {
        template_result_free(&r);
        fetch_start(m); /* never render from here: the data arrives through callbacks */
        return;
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
    m->fetched = json_object();
    m->queue = json_object();
    m->retry = json_object();
    uv_timer_init(loop, &m->retry_timer);
    m->retry_timer.data = m;
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
    if (m->inflight) consul_call_cancel(m->inflight);
    free(m->inflight_name);
    consul_watch_free(m->w_services);
    consul_watch_free(m->w_state);
    for (size_t i = 0; i < m->nkv; i++) { consul_watch_free(m->kv[i].w); free(m->kv[i].name); }
    free(m->kv);
    if (m->cmd_proc) child_forget(m->cmd_proc); /* it runs on (to its timeout) without us */
    template_free(m->t);
    template_store_free(m->st);
    json_decref(m->used);
    json_decref(m->fetched);
    json_decref(m->queue);
    json_decref(m->retry);
    free(m->in);
    free(m->out);
    free(m->cmd);
    m->closing = 2;
    uv_close((uv_handle_t *)&m->retry_timer, on_free_timer_closed);
    uv_close((uv_handle_t *)&m->wait_timer, on_free_timer_closed);
}
