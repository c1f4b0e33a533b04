/* apply.c: one job at a time moves HAProxy from the applied table to the desired one.
 *
 *   update ──(debounce)──> job: diff(applied, target)
 *       equal      -> done
 *       runtime    -> runtime API batch -> write config (check, rename) -> done
 *       structural -> write config (check, rename) -> start or reload HAProxy -> done / roll back
 * With -routing maps the decision is dataplane_plan (dataplane.h) instead of diff: a runtime batch
 * also adds servers to the pooled backends of new routes and edits the maps, and "config" is the
 * configuration plus its three map files, written, checked, renamed and rolled back together.
 * Updates are debounced (-wait) only when they need a reload.
 * The job owns its target table; on success it becomes "applied". If the runtime batch fails the
 * job falls back to a reload. Removals are drained: the server is set to drain, then maint, and
 * deleted once HAProxy agrees it has no connections left (retried for up to 10 s).
 * The base configuration (global, defaults) can be replaced (SIGHUP re-reads -base): the next job
 * is structural and renders on the new base; if that job fails (haproxy -c, reload) the new base
 * is dropped and the one HAProxy runs on stays, so a typo in it never blocks later changes. Files
 * rewritten after runtime batches always use the base HAProxy runs on. */
#include "apply.h"
#include "xalloc.h"
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

/* What one configuration is on disk: the file, and with -routing maps the map files it names. */
typedef struct {
    char *cfg;
    char *maps[DATAPLANE_NMAPS];  /* NULL without maps */
} files_t;

static void files_free(files_t *f)
{
    if (!f) return;
    free(f->cfg);
    for (int i = 0; i < DATAPLANE_NMAPS; i++) free(f->maps[i]);
    free(f);
}

struct apply {
    write_cb wcb;             /* the write in flight */
    uv_loop_t *loop;
    apply_opts_t o;
    char *config_path, *tmp_path, *haproxy_bin, *admin_socket;
    routes_table_t *applied, *desired, *target;
    files_t *last_good;       /* the last installed configuration (at start: the files found) */
    files_t *job_cfg;         /* configuration being installed */
    int busy;
    int persisting, persist_again; /* background rewrite of the file after runtime changes */
    files_t *persist_cfg;
    dataplane_layout_t *layout;     /* -routing maps: the layout of the applied table */
    dataplane_layout_t *job_layout; /* ... and of the job's target */
    dataplane_layout_t *hint;       /* before the first apply: the layout the files on disk had */
    char *map_tmp[DATAPLANE_NMAPS]; /* <map>.tmp */
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
static files_t *render_timed(apply_t *a, const routes_table_t *t, const dataplane_layout_t *l, const char *base);

static void xfree_table(routes_table_t *t) { routes_table_free(t); }

/* Ends the job. persist: rewrite the file for what was applied (after a runtime batch), started
 * before the next job may run, so that a structural one waits for it (job_run) rather than writing
 * <config>.tmp alongside: there is one write of the file at a time, and one callback (a->wcb). */
static void job_end(apply_t *a, int ok, const char *why, int persist)
{
    if (ok) {
        if (a->applied != a->target) xfree_table(a->applied);
        a->applied = a->target;
        if (a->job_layout) {
            dataplane_layout_free(a->layout);
            a->layout = a->job_layout;
            a->job_layout = NULL;
        }
        a->st.last_apply_ms = uv_now(a->loop) - a->job_start;
    } else {
        log_error("apply: %s; HAProxy keeps its current configuration", why);
        if (a->target != a->applied) xfree_table(a->target);
    }
    dataplane_layout_free(a->job_layout);
    a->job_layout = NULL;
    a->target = NULL;
    files_free(a->job_cfg);
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

/* ---- writing the config: tmp file, haproxy -c, rename (lib/file.h: fsync'd, directory too) ---- */


/* file_write_sync (lib/file.h): the temporary file fsync'd, renamed by install (file_commit) */
static int write_file(const char *path, const char *text)
{
    return file_write_sync(path, text, strlen(text), 0666);
}

static void unlink_map_tmps(apply_t *a)
{
    for (int i = 0; i < DATAPLANE_NMAPS; i++)
        if (a->map_tmp[i]) unlink(a->map_tmp[i]);
}

static void install(apply_t *a, write_cb cb)
{
    /* the maps first: a configuration on disk never names routes its maps lack */
    for (int i = 0; i < DATAPLANE_NMAPS; i++) {
        if (!a->map_tmp[i] || access(a->map_tmp[i], F_OK) != 0) continue;
        if (file_commit(a->map_tmp[i], a->o.cfg.maps[i]) != 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "rename %s -> %s: %s", a->map_tmp[i], a->o.cfg.maps[i], strerror(errno));
            cb(a, 0, msg);
            return;
        }
    }
    if (file_commit(a->tmp_path, a->config_path) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "rename %s -> %s: %s", a->tmp_path, a->config_path, strerror(errno));
        cb(a, 0, msg);
        return;
    }
    a->st.writes++;
    cb(a, 1, NULL);
}

/* The verdict of `haproxy -c` on <config>.tmp (haproxy_check_run): installed, or refused. */
static void on_checked(int ok, const char *msg, void *data)
{
    apply_t *a = data;
    write_cb cb = a->wcb;
    if (!ok) {
        a->st.check_failures++;
        unlink(a->tmp_path);
        unlink_map_tmps(a);
        cb(a, 0, msg);
        return;
    }
    install(a, cb);
}

/* The map files next to <config>.tmp, and the final ones created empty when missing, so that
 * `haproxy -c` (which opens the files the configuration names) can run before they are installed.
 * Their content needs no check: every key and value passed validate.h, and a value naming no
 * backend routes to portolan_no_route. */
static int write_maps(apply_t *a, const files_t *f, char *msg, size_t len)
{
    for (int i = 0; i < DATAPLANE_NMAPS; i++) {
        if (!a->map_tmp[i]) continue;
        if (!f->maps[i]) { unlink(a->map_tmp[i]); continue; }
        if (write_file(a->map_tmp[i], f->maps[i]) != 0 ||
            (access(a->o.cfg.maps[i], F_OK) != 0 && write_file(a->o.cfg.maps[i], "") != 0)) {
            snprintf(msg, len, "write %s: %s", a->map_tmp[i], strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void on_persisted(apply_t *a, int ok, const char *why);

static void write_config(apply_t *a, const files_t *f, write_cb cb)
{
    char mmsg[512];
    if (write_maps(a, f, mmsg, sizeof mmsg) != 0) {
        unlink_map_tmps(a);
        cb(a, 0, mmsg);
        return;
    }
    const char *cfg = f->cfg;
    if (write_file(a->tmp_path, cfg) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "write %s: %s", a->tmp_path, strerror(errno));
        cb(a, 0, msg);
        return;
    }
    if (a->o.skip_check) { install(a, cb); return; }
    a->wcb = cb;
    char msg[512];
    /* the rewrite after runtime changes is checked in the background, at a lower priority */
    if (haproxy_check_run(a->loop, a->haproxy_bin, a->tmp_path, cb == on_persisted, on_checked, a, msg, sizeof msg) != 0) {
        unlink(a->tmp_path);
        unlink_map_tmps(a);
        cb(a, 0, msg);
    }
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
        files_free(a->last_good);
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
        files_free(a->last_good);
        a->last_good = a->job_cfg;
        a->job_cfg = NULL;
        job_finish(a, 1, NULL);
        return;
    }
    if (!haproxy_proc_running(a->o.proc)) {
        if (haproxy_proc_start(a->o.proc) != 0) { job_finish(a, 0, "HAProxy did not start"); return; }
        a->reload_pending = 0;
        files_free(a->last_good);
        a->last_good = a->job_cfg;
        a->job_cfg = NULL;
        log_info("apply: HAProxy started with %zu routes", a->target->n);
        job_finish(a, 1, NULL);
        return;
    }
    haproxy_proc_reload(a->o.proc, on_reloaded, a);
}

/* layout: with -routing maps, the layout the configuration is rendered on (taken) */
static void run_structural(apply_t *a, const char *why, dataplane_layout_t *layout)
{
    dataplane_layout_free(a->job_layout);
    a->job_layout = layout;
    a->structural_job = 1;
    log_info("apply: %s: new configuration and reload", why);
    files_free(a->job_cfg);
    free(a->job_base);
    a->job_base = strdup(a->base);
    a->job_cfg = render_timed(a, a->target, a->job_layout, a->job_base);
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
        files_free(a->last_good);
        a->last_good = a->persist_cfg;
        a->persist_cfg = NULL;
    }
    files_free(a->persist_cfg);
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
    a->persist_cfg = render_timed(a, a->applied, a->layout, a->good_base);
    write_config(a, a->persist_cfg, on_persisted);
}

typedef struct {
    apply_t *a;
    diff_t d;            /* ACL mode */
    dataplane_plan_t p;  /* -routing maps (its layout is the job's, a->job_layout) */
} rt_job_t;

static void rt_job_free(rt_job_t *j)
{
    diff_clear(&j->d);
    dataplane_plan_clear(&j->p);
    free(j);
}

/* The layout a reload of the job's target is rendered on (NULL without maps). */
static const dataplane_layout_t *cur_layout(const apply_t *a) { return a->layout ? a->layout : a->hint; }

static dataplane_layout_t *reload_layout(apply_t *a)
{
    return a->o.maps ? dataplane_layout_build(cur_layout(a), a->target, &a->o.pool) : NULL;
}

static void on_runtime_answer(int status, const char *out, size_t len, void *data)
{
    rt_job_t *j = data;
    apply_t *a = j->a;
    if (status != 0 || haproxy_runtime_answer_failed(out)) {
        a->st.runtime_failures++;
        log_warn("apply: runtime API refused the change (%.*s); reloading instead", (int)(len > 200 ? 200 : len), out);
        rt_job_free(j);
        a->reload_pending = 1;
        if (a->persisting) {
            /* an earlier batch's rewrite of the file is under way: the reload waits for it
             * (on_persisted runs the job again; a newer update replaces this target) */
            if (!a->desired) a->desired = a->target;
            else xfree_table(a->target);
            a->target = NULL;
            dataplane_layout_free(a->job_layout);
            a->job_layout = NULL;
            a->busy = 0;
            return;
        }
        run_structural(a, "runtime change failed", reload_layout(a));
        return;
    }
    a->st.runtime_changes++;
    size_t nops = j->d.nops + j->p.nadd + j->p.nops;
    a->st.runtime_ops += nops;
    a->st.map_ops += j->p.nmaps;
    for (size_t i = 0; i < j->d.nops; i++)
        if (j->d.ops[i].kind == DIFF_DEL) start_del(a, j->d.ops[i].b->backend, j->d.ops[i].s->name);
    for (size_t i = 0; i < j->p.nops; i++)
        if (j->p.ops[i].kind == DIFF_DEL) start_del(a, j->p.ops[i].backend, j->p.ops[i].s->name);
    if (j->p.nmaps)
        log_info("apply: %zu map change%s and %zu server change%s through the runtime API, no reload", j->p.nmaps,
                 j->p.nmaps == 1 ? "" : "s", nops, nops == 1 ? "" : "s");
    else
        log_info("apply: %zu server change%s through the runtime API, no reload", nops, nops == 1 ? "" : "s");
    rt_job_free(j);
    /* and the files in step, so a later reload keeps these servers and routes */
    job_end(a, 1, NULL, 1);
}

static files_t *render_timed(apply_t *a, const routes_table_t *t, const dataplane_layout_t *l, const char *base)
{
    double t0 = now_ms();
    size_t len = 0;
    haproxy_cfg_opts_t co = a->o.cfg;
    co.base = base;
    files_t *cfg = xcalloc(1, sizeof *cfg);
    if (a->o.maps && l) {
        cfg->cfg = haproxy_cfg_render_maps(t, l, &co, &len);
        for (int i = 0; i < DATAPLANE_NMAPS; i++) cfg->maps[i] = dataplane_map_render(t, l, i);
    } else {
        cfg->cfg = haproxy_cfg_render(t, &co, &len);
    }
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
        *buf = xrealloc(*buf, *cap);
    }
    if (*len) (*buf)[(*len)++] = ';';
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* One server operation as runtime API commands, appended to cmd. b: the HAProxy backend. */
static void append_srv_op(apply_t *a, char **cmd, size_t *len, size_t *cap, diff_op_kind_t kind, const char *b,
                          const routes_backend_t *rb, const routes_server_t *rs)
{
    char line[512], args[200];
    const char *s = rs->name;
    switch (kind) {
    case DIFF_ADD: {
        char ready[512], add[800];
        haproxy_cfg_server_args(rb, rs, args, sizeof args);
        snprintf(add, sizeof add, "add server %s/%s %s;%s%s%s%s%sset server %s/%s state ready", b, s, args,
                 rb->check_path ? "enable health " : "", rb->check_path ? b : "", rb->check_path ? "/" : "",
                 rb->check_path ? s : "", rb->check_path ? ";" : "", b, s);
        if (rb->check_path) {
            snprintf(ready, sizeof ready, "set server %s/%s addr %s port %d;enable health %s/%s;set server %s/%s state ready",
                     b, s, rs->addr, rs->port, b, s, b, s);
        } else {
            snprintf(ready, sizeof ready, "set server %s/%s addr %s port %d;set server %s/%s state ready", b, s,
                     rs->addr, rs->port, b, s);
        }
        del_t *pending = find_del(a, b, s);
        if (pending && !pending->inflight) {
            /* its removal has not been sent: call it off, the server is still there */
            uv_timer_stop(&pending->timer);
            uv_close((uv_handle_t *)&pending->timer, del_closed);
            append(cmd, len, cap, ready);
        } else if (pending) {
            /* the delete is out: decide when its answer comes */
            pending->revive_add = strdup(add);
            pending->revive_ready = strdup(ready);
        } else {
            append(cmd, len, cap, add);
        }
        break;
    }
    case DIFF_DEL:
        snprintf(line, sizeof line, "set server %s/%s state drain", b, s);
        append(cmd, len, cap, line);
        break;
    case DIFF_ADDR:
        snprintf(line, sizeof line, "set server %s/%s addr %s port %d", b, s, rs->addr, rs->port);
        append(cmd, len, cap, line);
        break;
    case DIFF_WEIGHT:
        snprintf(line, sizeof line, "set weight %s/%s %d", b, s, rs->weight);
        append(cmd, len, cap, line);
        break;
    }
}

/* Sends the batch (one connection; HAProxy runs the commands in order). Takes j. */
static void runtime_send(apply_t *a, rt_job_t *j, char *cmd)
{
    if (!cmd) { /* every operation was handed to a removal under way */
        on_runtime_answer(0, "", 0, j);
        return;
    }
    log_debug("apply: runtime: %s", cmd);
    if (haproxy_runtime_cmd(a->loop, a->admin_socket, cmd, 5000, on_runtime_answer, j) != 0)
        on_runtime_answer(-1, "cannot start", 12, j);
    free(cmd);
}

static void run_runtime(apply_t *a, diff_t *d)
{
    char *cmd = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < d->nops; i++)
        append_srv_op(a, &cmd, &len, &cap, d->ops[i].kind, d->ops[i].b->backend, d->ops[i].b, d->ops[i].s);
    rt_job_t *j = xcalloc(1, sizeof *j);
    j->a = a;
    j->d = *d;
    runtime_send(a, j, cmd);
}

/* -routing maps: the servers of new routes, the map edits (deletes first), then the server
 * changes of kept routes and the drains of removed ones, in one batch. Takes p. */
static void run_runtime_maps(apply_t *a, dataplane_plan_t *p)
{
    char *cmd = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < p->nadd; i++)
        append_srv_op(a, &cmd, &len, &cap, p->add[i].kind, p->add[i].backend, p->add[i].b, p->add[i].s);
    for (size_t i = 0; i < p->nmaps; i++) {
        const dataplane_map_op_t *m = &p->maps[i];
        size_t n = strlen(a->o.cfg.maps[m->map]) + strlen(m->key) + (m->value ? strlen(m->value) : 0) + 16;
        char *line = xmalloc(n);
        if (m->kind == DATAPLANE_MAP_ADD) snprintf(line, n, "add map %s %s %s", a->o.cfg.maps[m->map], m->key, m->value);
        else snprintf(line, n, "del map %s %s", a->o.cfg.maps[m->map], m->key);
        append(&cmd, &len, &cap, line);
        free(line);
    }
    for (size_t i = 0; i < p->nops; i++)
        append_srv_op(a, &cmd, &len, &cap, p->ops[i].kind, p->ops[i].backend, p->ops[i].b, p->ops[i].s);
    rt_job_t *j = xcalloc(1, sizeof *j);
    j->a = a;
    dataplane_layout_free(a->job_layout);
    a->job_layout = dataplane_plan_take_layout(p); /* the ops' backend names point into it */
    j->p = *p;
    runtime_send(a, j, cmd);
}

/* -routing maps: job_run's decision, on a plan instead of a diff. */
/* The files are being rewritten: the job waits for it (on_persisted runs it again). Its target
 * goes back to being desired, unless a newer desire came in meanwhile. */
static void job_defer(apply_t *a)
{
    if (!a->desired) a->desired = a->target;
    else xfree_table(a->target);
    a->target = NULL;
    a->busy = 0;
}

static void job_run_maps(apply_t *a)
{
    dataplane_plan_t p;
    dataplane_plan(a->applied, cur_layout(a), a->target, &a->o.pool, &p);
    int base = base_changed(a);
    int changes = p.nadd || p.nmaps || p.nops;
    int structural = base || a->reload_pending || p.reload || !a->o.runtime || !a->o.proc ||
                     !haproxy_proc_running(a->o.proc);
    if (structural && a->persisting && (base || a->reload_pending || p.reload || changes)) {
        /* the files are being rewritten: wait for it (on_persisted runs the job again) */
        dataplane_plan_clear(&p);
        job_defer(a);
        return;
    }
    if (!base && !a->reload_pending && !p.reload && !changes) {
        dataplane_plan_clear(&p);
        job_finish(a, 1, NULL);
        return;
    }
    if (structural) {
        const char *why = base                ? "base configuration re-read"
                          : a->reload_pending ? "runtime change failed"
                          : p.reload          ? p.reason
                                              : "change (runtime API off)";
        char reason[300];
        snprintf(reason, sizeof reason, "%s", why);
        dataplane_layout_t *l = p.reload ? dataplane_plan_take_layout(&p) : reload_layout(a);
        dataplane_plan_clear(&p);
        run_structural(a, reason, l);
        return;
    }
    run_runtime_maps(a, &p);
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
        dataplane_layout_t *l = reload_layout(a);
        files_t *cfg = render_timed(a, a->target, l, a->base);
        printf("> %s\n%s", a->config_path, cfg->cfg);
        for (int i = 0; i < DATAPLANE_NMAPS; i++)
            if (cfg->maps[i]) printf("> %s\n%s", a->o.cfg.maps[i], cfg->maps[i]);
        fflush(stdout);
        files_free(cfg);
        a->job_layout = l;
        job_finish(a, 1, NULL);
        return;
    }
    if (a->o.maps) { job_run_maps(a); return; }
    diff_t d;
    diff_tables(a->applied, a->target, &d);
    int base = base_changed(a);
    int structural = base || a->reload_pending || d.structural || !a->o.runtime || !a->o.proc ||
                     !haproxy_proc_running(a->o.proc);
    if (structural && a->persisting && (base || a->reload_pending || d.structural || d.nops)) {
        /* the file is being rewritten: wait for it (on_persisted runs the job again) */
        diff_clear(&d);
        job_defer(a);
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
        run_structural(a, reason, NULL);
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

/* 1 when going from the applied table to t takes only runtime API commands (no reload): such
 * an update is not debounced (-wait coalesces only what a reload would carry). */
static int runtime_only(const apply_t *a, const routes_table_t *t)
{
    if (!a->applied || base_changed(a) || a->reload_pending || !a->o.runtime || a->o.dry || !a->o.proc ||
        !haproxy_proc_running(a->o.proc))
        return 0;
    if (a->o.maps) {
        dataplane_plan_t p;
        dataplane_plan(a->applied, cur_layout(a), t, &a->o.pool, &p);
        int r = !p.reload;
        dataplane_plan_clear(&p);
        return r;
    }
    diff_t d;
    diff_tables(a->applied, t, &d);
    int r = !d.structural;
    diff_clear(&d);
    return r;
}

void apply_update(apply_t *a, routes_table_t *t)
{
    if (a->desired) xfree_table(a->desired);
    a->desired = t;
    if (a->o.wait_min_ms == 0) { job_run(a); return; }
    if (runtime_only(a, t)) {
        uv_timer_stop(&a->wait_timer);
        a->wait_deadline = 0;
        a->st.undebounced++;
        job_run(a);
        return;
    }
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
    for (int i = 0; o->maps && i < DATAPLANE_NMAPS; i++) {
        size_t m = strlen(o->cfg.maps[i]) + 5;
        a->map_tmp[i] = xmalloc(m);
        snprintf(a->map_tmp[i], m, "%s.tmp", o->cfg.maps[i]);
    }
    if (!o->dry) {
        char *cfg = read_existing(o->config_path);
        if (cfg) {
            a->last_good = xcalloc(1, sizeof *a->last_good);
            a->last_good->cfg = cfg;
            for (int i = 0; o->maps && i < DATAPLANE_NMAPS; i++) {
                size_t ml;
                char *m = file_read(o->cfg.maps[i], 0, &ml);
                if (m && memchr(m, '\0', ml)) { free(m); m = NULL; }
                a->last_good->maps[i] = m;
            }
            if (o->maps && a->last_good->maps[DATAPLANE_PREFIX]) {
                size_t ignored = 0;
                a->hint = dataplane_layout_parse_prefix(a->last_good->maps[DATAPLANE_PREFIX], &ignored);
                log_info("apply: %zu routes keep the backends of %s", a->hint->nslots, o->cfg.maps[DATAPLANE_PREFIX]);
                if (ignored) log_warn("apply: %s: %zu lines ignored (not written by portolan-templater)", o->cfg.maps[DATAPLANE_PREFIX], ignored);
            }
        }
    }
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
const char *apply_backend_of(const apply_t *a, const char *service)
{
    if (!a || !service || !a->layout) return NULL;
    const dataplane_slot_t *s = dataplane_layout_find(a->layout, service);
    return s ? s->backend : NULL;
}
int apply_busy(const apply_t *a) { return a->busy || a->persisting; }
int apply_idle(const apply_t *a) { return !a->busy && !a->persisting && !a->desired && a->applied; }
void apply_on_idle(apply_t *a, void (*cb)(void *), void *data) { a->idle_cb = cb; a->idle_data = data; }
void apply_stats(const apply_t *a, apply_stats_t *out) { *out = a->st; }

static void on_wait_closed(uv_handle_t *h)
{
    apply_t *a = h->data;
    free(a->config_path); free(a->tmp_path); free(a->haproxy_bin); free(a->admin_socket);
    files_free(a->last_good); files_free(a->job_cfg); files_free(a->persist_cfg);
    dataplane_layout_free(a->layout); dataplane_layout_free(a->job_layout); dataplane_layout_free(a->hint);
    for (int i = 0; i < DATAPLANE_NMAPS; i++) free(a->map_tmp[i]);
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
