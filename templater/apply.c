/* apply.c: one job at a time moves HAProxy from the applied table to the desired one.
 *
 *   update ──(debounce)──> job: diff(applied, target)
 *       equal      -> done
 *       runtime    -> runtime API batch -> write config (check, rename) -> done
 *       structural -> write config (check, rename) -> start or reload HAProxy -> done / roll back
 * The job owns its target table; on success it becomes "applied". If the runtime batch fails the
 * job falls back to a reload. Removals are drained: the server is set to drain, then maint, and
 * deleted once HAProxy agrees it has no connections left (retried for up to 10 s).
 * The base configuration (global, defaults) can be replaced (SIGHUP re-reads -base): the next job
 * is structural and renders on the new base; if that job fails (haproxy -c, reload) the new base
 * is dropped and the one HAProxy runs on stays, so a typo in it never blocks later changes. Files
 * rewritten after runtime batches always use the base HAProxy runs on. */
#include "apply.h"
#include "diff.h"
#include "file.h"
#include "haproxy_check.h"
#include "haproxy_runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


typedef void (*write_cb)(apply_t *a, int ok, const char *why);

struct apply {
    write_cb wcb;             /* the write in flight */
    uv_loop_t *loop;
    apply_opts_t o;
    char *config_path, *tmp_path, *haproxy_bin, *admin_socket;
    routes_table_t *applied, *desired, *target;
    char *last_good;          /* content of the last installed config (at start: the file found) */
    char *job_cfg;            /* config being installed */
    int busy;
    int persisting, persist_again; /* background rewrite of the file after runtime changes */
    char *persist_cfg;
    int structural_job;
    int reload_pending;       /* a runtime batch was refused (HAProxy may hold part of it): reload next */
    uint64_t job_start;
    uv_timer_t wait_timer;
    uint64_t wait_deadline;
    void (*idle_cb)(void *);
    void *idle_data;
    apply_stats_t st;
    int freeing;
    struct del *dels;         /* drained removals still under way */
    char *base;               /* base configuration for the next structural job */
    char *good_base;          /* the base of the configuration HAProxy runs */
    char *job_base;           /* the base the structural job in flight rendered on */
};

/* A base other than HAProxy's is waiting: the next job is structural. */
static int base_changed(const apply_t *a) { return strcmp(a->base, a->good_base) != 0; }

static void job_run(apply_t *a);
static void persist_start(apply_t *a);
static char *render_timed(apply_t *a, const routes_table_t *t, const char *base);

static void xfree_table(routes_table_t *t) { routes_table_free(t); }

/* Ends the job. persist: rewrite the file for what was applied (after a runtime batch), started
 * before the next job may run, so that a structural one waits for it (job_run) rather than writing
 * <config>.tmp alongside: there is one write of the file at a time, and one callback (a->wcb). */
static void job_end(apply_t *a, int ok, const char *why, int persist)
{
    if (ok) {
        if (a->applied != a->target) xfree_table(a->applied);
        a->applied = a->target;
        a->st.last_apply_ms = uv_now(a->loop) - a->job_start;
    } else {
        log_error("apply: %s; HAProxy keeps its current configuration", why);
        if (a->target != a->applied) xfree_table(a->target);
    }
    a->target = NULL;
    free(a->job_cfg);
    a->job_cfg = NULL;
    if (a->job_base) { /* a structural job: its base is HAProxy's now, or a new one is dropped */
        if (ok) {
            free(a->good_base);
            a->good_base = a->job_base;
        } else {
            /* the base it was built on is dropped, unless a newer one came in meanwhile */
            if (base_changed(a) && strcmp(a->base, a->job_base) == 0) {
                log_error("apply: the re-read base configuration is not used (the configuration built on it "
                          "failed, see above); keeping the one HAProxy runs on");
                free(a->base);
                a->base = strdup(a->good_base);
            }
            free(a->job_base);
        }
        a->job_base = NULL;
    }
    a->busy = 0;
    if (ok && persist) persist_start(a);
    if (a->desired) { job_run(a); return; }
    if (a->idle_cb && !a->persisting) a->idle_cb(a->idle_data);
}

static void job_finish(apply_t *a, int ok, const char *why) { job_end(a, ok, why, 0); }

/* ---- writing the config: tmp file, haproxy -c, rename ---- */


static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (!f) return -1;
    size_t n = strlen(text);
    int rc = fwrite(text, 1, n, f) == n ? 0 : -1;
    if (fflush(f) != 0) rc = -1;
    if (fsync(fileno(f)) != 0) rc = -1;
    if (fclose(f) != 0) rc = -1;
    return rc;
}

static void install(apply_t *a, write_cb cb)
{
    if (rename(a->tmp_path, a->config_path) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "rename %s -> %s: %s", a->tmp_path, a->config_path, strerror(errno));
        cb(a, 0, msg);
        return;
    }
    a->st.writes++;
    cb(a, 1, NULL);
}

/* One `haproxy -c` run. Its exit and the end of its stderr come in either order; the outcome is
 * decided once both are in, so a refusal is logged with HAProxy's own reason (its ALERT lines:
 * `-q` would silence them). Each run has its own handles: the next check may start at once. */
typedef struct {
    uv_process_t proc;
    uv_pipe_t err;
    apply_t *a;
    int exited, eof, open_handles;
    int64_t status;
    int sig;
    size_t len;
    char out[8192];           /* the start of stderr; the rest is read and dropped */
} check_proc_t;

static void on_check_closed(uv_handle_t *h)
{
    check_proc_t *cp = h->data;
    if (--cp->open_handles == 0) free(cp);
}

static void check_done(check_proc_t *cp)
{
    if (!cp->exited || !cp->eof) return;
    apply_t *a = cp->a;
    write_cb cb = a->wcb;
    if (cp->status != 0 || cp->sig != 0) {
        a->st.check_failures++;
        unlink(a->tmp_path);
        char why[1024], how[64], msg[1200];
        haproxy_check_reason(cp->out, cp->len, why, sizeof why);
        if (cp->sig) snprintf(how, sizeof how, "signal %d", cp->sig);
        else snprintf(how, sizeof how, "exit %lld", (long long)cp->status);
        snprintf(msg, sizeof msg, "haproxy -c rejected the new configuration (%s)%s%s", how, *why ? ": " : "",
                 *why ? why : "; HAProxy printed nothing");
        cb(a, 0, msg);
        return;
    }
    install(a, cb);
}

static void on_check_exit(uv_process_t *p, int64_t status, int sig)
{
    check_proc_t *cp = p->data;
    cp->exited = 1;
    cp->status = status;
    cp->sig = sig;
    uv_close((uv_handle_t *)p, on_check_closed);
    check_done(cp);
}

static void on_check_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char discard[4096];
    check_proc_t *cp = h->data;
    if (cp->len + 1 < sizeof cp->out) *buf = uv_buf_init(cp->out + cp->len, (unsigned)(sizeof cp->out - 1 - cp->len));
    else *buf = uv_buf_init(discard, sizeof discard);
}

static void on_check_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    check_proc_t *cp = s->data;
    if (n > 0) {
        if (buf->base == cp->out + cp->len) cp->len += (size_t)n;
        return;
    }
    if (n == 0) return;
    /* end of stderr (or a read error: what was read is all there is) */
    cp->eof = 1;
    uv_close((uv_handle_t *)s, on_check_closed);
    check_done(cp);
}

static void write_config(apply_t *a, const char *cfg, write_cb cb)
{
    if (write_file(a->tmp_path, cfg) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "write %s: %s", a->tmp_path, strerror(errno));
        cb(a, 0, msg);
        return;
    }
    if (a->o.skip_check) { install(a, cb); return; }
    char *args[] = { a->haproxy_bin, "-c", "-f", a->tmp_path, NULL };
    check_proc_t *cp = calloc(1, sizeof *cp);
    if (!cp) abort();
    cp->a = a;
    uv_pipe_init(a->loop, &cp->err, 0);
    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.file = a->haproxy_bin;
    po.args = args;
    po.exit_cb = on_check_exit;
    /* stdout only says "Configuration file is valid" */
    uv_stdio_container_t stdio[3] = { { .flags = UV_IGNORE }, { .flags = UV_IGNORE },
                                      { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&cp->err } };
    po.stdio = stdio;
    po.stdio_count = 3;
    a->wcb = cb;
    int rc = uv_spawn(a->loop, &cp->proc, &po);
    cp->proc.data = cp->err.data = cp;
    cp->open_handles = 2;
    if (rc < 0) {
        uv_close((uv_handle_t *)&cp->proc, on_check_closed);
        uv_close((uv_handle_t *)&cp->err, on_check_closed);
        char msg[256];
        snprintf(msg, sizeof msg, "cannot run %s -c: %s", a->haproxy_bin, uv_strerror(rc));
        unlink(a->tmp_path);
        cb(a, 0, msg);
        return;
    }
    uv_read_start((uv_stream_t *)&cp->err, on_check_alloc, on_check_read);
}

/* ---- structural: write, then start or reload ---- */

static void on_rollback_written(apply_t *a, int ok, const char *why)
{
    if (!ok) log_error("apply: rollback to the last good configuration failed: %s", why);
    else log_warn("apply: rolled back %s to the last good configuration", a->config_path);
    job_finish(a, 0, "reload failed");
}

static void on_reloaded(int ok, const char *msg, void *data)
{
    apply_t *a = data;
    if (ok) {
        a->st.reloads++;
        a->reload_pending = 0;
        free(a->last_good);
        a->last_good = a->job_cfg;
        a->job_cfg = NULL;
        log_info("apply: HAProxy reloaded (%zu routes)", a->target->n);
        job_finish(a, 1, NULL);
        return;
    }
    a->st.reload_failures++;
    log_error("apply: reload failed: %s", msg);
    if (a->last_good) write_config(a, a->last_good, on_rollback_written);
    else job_finish(a, 0, "reload failed and no earlier configuration to roll back to");
}

static void on_structural_written(apply_t *a, int ok, const char *why)
{
    if (!ok) { job_finish(a, 0, why); return; }
    if (!a->o.proc) {
        a->reload_pending = 0;
        free(a->last_good);
        a->last_good = a->job_cfg;
        a->job_cfg = NULL;
        job_finish(a, 1, NULL);
        return;
    }
    if (!haproxy_proc_running(a->o.proc)) {
        if (haproxy_proc_start(a->o.proc) != 0) { job_finish(a, 0, "HAProxy did not start"); return; }
        a->reload_pending = 0;
        free(a->last_good);
        a->last_good = a->job_cfg;
        a->job_cfg = NULL;
        log_info("apply: HAProxy started with %zu routes", a->target->n);
        job_finish(a, 1, NULL);
        return;
    }
    haproxy_proc_reload(a->o.proc, on_reloaded, a);
}

static void run_structural(apply_t *a, const char *why)
{
    a->structural_job = 1;
    log_info("apply: %s: new configuration and reload", why);
    free(a->job_cfg);
    free(a->job_base);
    a->job_base = strdup(a->base);
    a->job_cfg = render_timed(a, a->target, a->job_base);
    write_config(a, a->job_cfg, on_structural_written);
}

/* ---- runtime ---- */

/* A drained removal in progress. If the same server comes back before it is gone (an instance
 * critical, then passing again), the removal is called off: a removal not yet sent is dropped and
 * the server set ready again; one whose "del server" is in flight finishes, and then the server is
 * added back (deleted) or set ready (still there). */
typedef struct del {
    apply_t *a;               /* NULL once apply_free detached it */
    struct del *next;
    char *backend, *server;
    char *socket;
    int tries;
    int inflight;             /* a "maint; del server" command is out */
    char *revive_add;         /* called off while in flight: commands if it was deleted ... */
    char *revive_ready;       /* ... and if it still exists */
    uv_timer_t timer;
} del_t;

static void del_unlink(del_t *d)
{
    if (!d->a)
        return;
    for (del_t **p = &d->a->dels; *p; p = &(*p)->next)
        if (*p == d) {
            *p = d->next;
            break;
        }
    d->a = NULL;
}

static void del_closed(uv_handle_t *h)
{
    del_t *d = h->data;
    del_unlink(d);
    free(d->backend); free(d->server); free(d->socket);
    free(d->revive_add); free(d->revive_ready);
    free(d);
}

static del_t *find_del(apply_t *a, const char *backend, const char *server)
{
    for (del_t *d = a->dels; d; d = d->next)
        if (!d->revive_add && !strcmp(d->backend, backend) && !strcmp(d->server, server))
            return d;
    return NULL;
}

static void del_step(uv_timer_t *t);

static void on_del_answer(int status, const char *out, size_t len, void *data)
{
    del_t *d = data;
    d->inflight = 0;
    if (d->revive_add) { /* called off while the delete was out */
        int deleted = status == 0 && (strstr(out, "Server deleted") || strstr(out, "No such"));
        const char *cmd = deleted ? d->revive_add : d->revive_ready;
        log_info("apply: server %s/%s came back during its removal: %s", d->backend, d->server,
                 deleted ? "adding it again" : "setting it ready");
        haproxy_runtime_cmd(d->timer.loop, d->socket, cmd, 5000, NULL, NULL);
        uv_close((uv_handle_t *)&d->timer, del_closed);
        return;
    }
    if (status == 0 && strstr(out, "Server deleted")) {
        log_debug("apply: server %s/%s deleted", d->backend, d->server);
        uv_close((uv_handle_t *)&d->timer, del_closed);
        return;
    }
    if (status == 0 && (strstr(out, "No such") || strstr(out, "No such server"))) {
        uv_close((uv_handle_t *)&d->timer, del_closed); /* gone (a reload dropped it) */
        return;
    }
    if (++d->tries > 100) {
        log_warn("apply: server %s/%s still has connections after 10 s; shutting them down", d->backend, d->server);
        char cmd[512];
        snprintf(cmd, sizeof cmd, "shutdown sessions server %s/%s;del server %s/%s", d->backend, d->server,
                 d->backend, d->server);
        haproxy_runtime_cmd(d->timer.loop, d->socket, cmd, 5000, NULL, NULL);
        uv_close((uv_handle_t *)&d->timer, del_closed);
        return;
    }
    uv_timer_start(&d->timer, del_step, 100, 0);
}

static void del_step(uv_timer_t *t)
{
    del_t *d = t->data;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "set server %s/%s state maint;del server %s/%s", d->backend, d->server, d->backend,
             d->server);
    d->inflight = 1;
    if (haproxy_runtime_cmd(t->loop, d->socket, cmd, 5000, on_del_answer, d) != 0)
        on_del_answer(-1, "", 0, d);
}

static void start_del(apply_t *a, const char *backend, const char *server)
{
    del_t *d = calloc(1, sizeof *d);
    if (!d) return;
    d->a = a;
    d->next = a->dels;
    a->dels = d;
    d->backend = strdup(backend);
    d->server = strdup(server);
    d->socket = strdup(a->admin_socket);
    uv_timer_init(a->loop, &d->timer);
    d->timer.data = d;
    /* the drain command went out with the batch; give in-flight requests a moment */
    uv_timer_start(&d->timer, del_step, 20, 0);
}

/* After runtime changes the file is rewritten in the background (render, haproxy -c, rename), so
 * the next runtime change does not wait for it; rewrites coalesce; a structural job waits. */

static void on_persisted(apply_t *a, int ok, const char *why)
{
    if (!ok) log_error("apply: runtime change applied, but the config file was not updated: %s", why);
    else {
        free(a->last_good);
        a->last_good = a->persist_cfg;
        a->persist_cfg = NULL;
    }
    free(a->persist_cfg);
    a->persist_cfg = NULL;
    a->persisting = 0;
    if (a->persist_again) { a->persist_again = 0; persist_start(a); return; }
    if (a->desired && !a->busy) { job_run(a); return; }
    if (!a->busy && a->idle_cb) a->idle_cb(a->idle_data);
}

static void persist_start(apply_t *a)
{
    if (a->persisting) { a->persist_again = 1; return; }
    if (!a->applied) return;
    a->persisting = 1;
    a->persist_cfg = render_timed(a, a->applied, a->good_base);
    write_config(a, a->persist_cfg, on_persisted);
}

typedef struct {
    apply_t *a;
    diff_t d;
} rt_job_t;

static void on_runtime_answer(int status, const char *out, size_t len, void *data)
{
    rt_job_t *j = data;
    apply_t *a = j->a;
    if (status != 0 || haproxy_runtime_answer_failed(out)) {
        a->st.runtime_failures++;
        log_warn("apply: runtime API refused the change (%.*s); reloading instead", (int)(len > 200 ? 200 : len), out);
        diff_clear(&j->d);
        free(j);
        a->reload_pending = 1;
        if (a->persisting) {
            /* an earlier batch's rewrite of the file is under way: the reload waits for it
             * (on_persisted runs the job again; a newer update replaces this target) */
            if (!a->desired) a->desired = a->target;
            else xfree_table(a->target);
            a->target = NULL;
            a->busy = 0;
            return;
        }
        run_structural(a, "runtime change failed");
        return;
    }
    a->st.runtime_changes++;
    a->st.runtime_ops += j->d.nops;
    for (size_t i = 0; i < j->d.nops; i++)
        if (j->d.ops[i].kind == DIFF_DEL) start_del(a, j->d.ops[i].b->backend, j->d.ops[i].s->name);
    log_info("apply: %zu server change%s through the runtime API, no reload", j->d.nops, j->d.nops == 1 ? "" : "s");
    diff_clear(&j->d);
    free(j);
    /* and the file in step, so a later reload keeps these servers */
    job_end(a, 1, NULL, 1);
}

static char *render_timed(apply_t *a, const routes_table_t *t, const char *base)
{
    double t0 = now_ms();
    size_t len = 0;
    haproxy_cfg_opts_t co = a->o.cfg;
    co.base = base;
    char *cfg = haproxy_cfg_render(t, &co, &len);
    a->st.last_render_ms = now_ms() - t0;
    a->st.last_config_bytes = len;
    a->st.renders++;
    log_debug("apply: rendered %zu routes, %zu bytes in %.1f ms", t->n, len, a->st.last_render_ms);
    return cfg;
}

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 2 > *cap) {
        *cap = (*len + n + 2) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf) abort();
    }
    if (*len) (*buf)[(*len)++] = ';';
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void run_runtime(apply_t *a, diff_t *d)
{
    char *cmd = NULL;
    size_t len = 0, cap = 0;
    char line[512], args[200];
    for (size_t i = 0; i < d->nops; i++) {
        const diff_op_t *op = &d->ops[i];
        const char *b = op->b->backend, *s = op->s->name;
        switch (op->kind) {
        case DIFF_ADD: {
            char ready[512], add[800];
            haproxy_cfg_server_args(op->b, op->s, args, sizeof args);
            snprintf(add, sizeof add, "add server %s/%s %s;%s%s%s%s%sset server %s/%s state ready", b, s, args,
                     op->b->check_path ? "enable health " : "", op->b->check_path ? b : "", op->b->check_path ? "/" : "",
                     op->b->check_path ? s : "", op->b->check_path ? ";" : "", b, s);
            if (op->b->check_path) {
                snprintf(ready, sizeof ready, "set server %s/%s addr %s port %d;enable health %s/%s;set server %s/%s state ready",
                         b, s, op->s->addr, op->s->port, b, s, b, s);
            } else {
                snprintf(ready, sizeof ready, "set server %s/%s addr %s port %d;set server %s/%s state ready", b, s,
                         op->s->addr, op->s->port, b, s);
            }
            del_t *pending = find_del(a, b, s);
            if (pending && !pending->inflight) {
                /* its removal has not been sent: call it off, the server is still there */
                uv_timer_stop(&pending->timer);
                uv_close((uv_handle_t *)&pending->timer, del_closed);
                append(&cmd, &len, &cap, ready);
            } else if (pending) {
                /* the delete is out: decide when its answer comes */
                pending->revive_add = strdup(add);
                pending->revive_ready = strdup(ready);
            } else {
                append(&cmd, &len, &cap, add);
            }
            break;
        }
        case DIFF_DEL:
            snprintf(line, sizeof line, "set server %s/%s state drain", b, s);
            append(&cmd, &len, &cap, line);
            break;
        case DIFF_ADDR: {
            snprintf(line, sizeof line, "set server %s/%s addr %s port %d", b, s, op->s->addr, op->s->port);
            append(&cmd, &len, &cap, line);
            break;
        }
        case DIFF_WEIGHT:
            snprintf(line, sizeof line, "set weight %s/%s %d", b, s, op->s->weight);
            append(&cmd, &len, &cap, line);
            break;
        }
    }
    rt_job_t *j = calloc(1, sizeof *j);
    if (!j) abort();
    j->a = a;
    j->d = *d;
    if (!cmd) { /* every operation was handed to a removal under way */
        on_runtime_answer(0, "", 0, j);
        return;
    }
    log_debug("apply: runtime: %s", cmd);
    if (haproxy_runtime_cmd(a->loop, a->admin_socket, cmd, 5000, on_runtime_answer, j) != 0)
        on_runtime_answer(-1, "cannot start", 12, j);
    free(cmd);
}

static void job_run(apply_t *a)
{
    if (a->busy || !a->desired || a->freeing) return;
    a->busy = 1;
    a->target = a->desired;
    a->desired = NULL;
    a->job_start = uv_now(a->loop);
    a->structural_job = 0;
    if (a->o.dry) {
        char *cfg = render_timed(a, a->target, a->base);
        printf("> %s\n%s", a->config_path, cfg);
        fflush(stdout);
        free(cfg);
        job_finish(a, 1, NULL);
        return;
    }
    diff_t d;
    diff_tables(a->applied, a->target, &d);
    int base = base_changed(a);
    int structural = base || a->reload_pending || d.structural || !a->o.runtime || !a->o.proc ||
                     !haproxy_proc_running(a->o.proc);
    if (structural && a->persisting && (base || a->reload_pending || d.structural || d.nops)) {
        /* the file is being rewritten: wait for it (on_persisted runs the job again) */
        diff_clear(&d);
        if (!a->desired) a->desired = a->target;
        else xfree_table(a->target);
        a->target = NULL;
        a->busy = 0;
        return;
    }
    if (!base && !a->reload_pending && !d.structural && d.nops == 0) {
        diff_clear(&d);
        job_finish(a, 1, NULL);
        return;
    }
    if (structural) {
        const char *why = base                ? "base configuration re-read"
                          : a->reload_pending ? "runtime change failed"
                          : d.structural      ? d.reason
                                              : "server change (runtime API off)";
        char reason[300];
        snprintf(reason, sizeof reason, "%s", why);
        diff_clear(&d);
        run_structural(a, reason);
        return;
    }
    run_runtime(a, &d);
}

/* ---- debounce ---- */

static void on_wait(uv_timer_t *t)
{
    apply_t *a = t->data;
    a->wait_deadline = 0;
    job_run(a);
}

void apply_update(apply_t *a, routes_table_t *t)
{
    if (a->desired) xfree_table(a->desired);
    a->desired = t;
    if (a->o.wait_min_ms == 0) { job_run(a); return; }
    uint64_t now = uv_now(a->loop);
    if (!a->wait_deadline) a->wait_deadline = now + (a->o.wait_max_ms ? a->o.wait_max_ms : a->o.wait_min_ms * 4);
    uint64_t delay = a->o.wait_min_ms;
    if (now + delay > a->wait_deadline) delay = a->wait_deadline > now ? a->wait_deadline - now : 0;
    uv_timer_start(&a->wait_timer, on_wait, delay, 0);
}

/* The configuration an earlier run left at path, or NULL (none, empty, unreadable). It is what
 * HAProxy serves while Consul is read (started from it, or an adopted master), so it is the one
 * to put back when the first reload of this run fails. A one-off local read at start. */
static char *read_existing(const char *path)
{
    size_t len;
    char *buf = file_read(path, 0, &len);
    if (buf && (len == 0 || memchr(buf, '\0', len))) { free(buf); return NULL; }
    return buf;
}

apply_t *apply_new(uv_loop_t *loop, const apply_opts_t *o)
{
    apply_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->loop = loop;
    a->o = *o;
    a->config_path = strdup(o->config_path);
    size_t n = strlen(o->config_path) + 5;
    a->tmp_path = malloc(n);
    snprintf(a->tmp_path, n, "%s.tmp", o->config_path);
    a->haproxy_bin = strdup(o->haproxy_bin ? o->haproxy_bin : "haproxy");
    a->admin_socket = strdup(o->admin_socket ? o->admin_socket : "");
    if (!o->dry) a->last_good = read_existing(o->config_path);
    a->base = strdup(o->cfg.base ? o->cfg.base : "");
    a->good_base = strdup(a->base);
    uv_timer_init(loop, &a->wait_timer);
    a->wait_timer.data = a;
    return a;
}

int apply_set_base(apply_t *a, const char *base)
{
    if (strcmp(base, a->base) == 0) {
        log_info("apply: base configuration unchanged");
        return 0;
    }
    char *b = strdup(base);
    if (!b) return -1;
    free(a->base);
    a->base = b;
    /* a job for the table as it stands (a pending update already carries the new base) */
    if (base_changed(a) && a->applied && !a->desired) apply_update(a, routes_table_share(a->applied));
    return 0;
}

const routes_table_t *apply_current(const apply_t *a) { return a->applied; }
int apply_idle(const apply_t *a) { return !a->busy && !a->persisting && !a->desired && a->applied; }
void apply_on_idle(apply_t *a, void (*cb)(void *), void *data) { a->idle_cb = cb; a->idle_data = data; }
void apply_stats(const apply_t *a, apply_stats_t *out) { *out = a->st; }

static void on_wait_closed(uv_handle_t *h)
{
    apply_t *a = h->data;
    free(a->config_path); free(a->tmp_path); free(a->haproxy_bin); free(a->admin_socket);
    free(a->last_good); free(a->job_cfg); free(a->persist_cfg);
    free(a->base); free(a->good_base); free(a->job_base);
    xfree_table(a->applied);
    if (a->desired != a->applied) xfree_table(a->desired);
    if (a->target && a->target != a->applied) xfree_table(a->target);
    free(a);
}

void apply_free(apply_t *a)
{
    if (!a) return;
    a->freeing = 1;
    for (del_t *d = a->dels; d; d = d->next) /* removals under way finish on their own */
        d->a = NULL;
    a->dels = NULL;
    uv_close((uv_handle_t *)&a->wait_timer, on_wait_closed);
}
