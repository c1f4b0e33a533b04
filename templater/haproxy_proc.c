/* haproxy_proc.c: HAProxy's master process as a supervised child, and reloads through the
 * master CLI confirmed by "show proc" (HAProxy 2.6's "reload" answers nothing). */
#include "haproxy_proc.h"
#include "haproxy_runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "child.h"
#include "log.h"

struct haproxy_proc {
    uv_loop_t *loop;
    char *bin, *config, *master_socket;
    int external;
    int adopted, watch_misses, watching;
    uv_timer_t watch_timer;
    child_t *master;   /* lib/child.h: NULL when not running (or external) */
    int running;
    int stopping;
    uv_timer_t restart_timer;
    uv_timer_t poll_timer;
    backoff_t backoff;
    /* reload in flight */
    haproxy_proc_reload_cb rcb;
    void *rdata;
    long before_reloads, before_failed;
    int polls;
    long reloads, failures;
    void (*on_stopped)(void *);
    void *sdata;
    int closing;
};

static void on_master_exit(const child_result_t *r, void *data);

static void restart_cb(uv_timer_t *t)
{
    haproxy_proc_t *p = t->data;
    if (!p->stopping) haproxy_proc_start(p);
}

int haproxy_proc_start(haproxy_proc_t *p)
{
    if (p->external || p->running) return 0;
    char *args[] = { p->bin, "-W", "-S", p->master_socket, "-f", p->config, NULL };
    child_opts_t co = { .file = p->bin, .args = args, .on_exit = on_master_exit, .data = p };
    unlink(p->master_socket); /* a socket left by a dead master would refuse the bind */
    char why[256];
    p->master = child_spawn(p->loop, &co, why, sizeof why);
    if (!p->master) {
        log_error("haproxy: cannot start %s: %s", p->bin, why);
        uv_timer_start(&p->restart_timer, restart_cb, backoff_next_ms(&p->backoff), 0);
        return -1;
    }
    p->running = 1;
    log_info("haproxy: started %s (pid %d), master socket %s", p->bin, child_pid(p->master), p->master_socket);
    return 0;
}

static void on_master_exit(const child_result_t *r, void *data)
{
    haproxy_proc_t *p = data;
    int64_t status = r->status;
    int sig = r->sig;
    p->running = 0;
    p->master = NULL; /* lib/child frees it once this returns */
    if (p->stopping) {
        if (sig == SIGKILL) log_warn("haproxy: was still running 10 s after SIGTERM; stopped with SIGKILL");
        log_info("haproxy: stopped (status %lld, signal %d)", (long long)status, sig);
        if (p->on_stopped) p->on_stopped(p->sdata);
        p->on_stopped = NULL;
        return;
    }
    uint64_t delay = backoff_next_ms(&p->backoff);
    log_error("haproxy: master exited (status %lld, signal %d); restarting in %llu ms", (long long)status, sig,
              (unsigned long long)delay);
    uv_timer_start(&p->restart_timer, restart_cb, delay, 0);
}

/* An adopted master is not our child, so its end is not reported to us: it is asked "show proc"
 * every 500 ms (not while a reload is in flight), and two answers in a row saying that nothing
 * listens on its socket (refused, or the socket is gone) mean it is gone. A slow answer (timeout)
 * is not taken as gone: starting a second master next to a live one is what adoption avoids. */
/* One more answer from an adopted master's socket: two "nothing listens" in a row and we start
 * our own master. Also fed by a reload's "show proc" polls (on_show_before), which the watch
 * timer yields to: a reload asked for after the master died (the runtime API then refuses too)
 * would otherwise retry for 10 s before the watch could see the master gone. */
static void adopted_answer(haproxy_proc_t *p, int status, const char *out)
{
    if (!p->adopted || p->stopping) return;
    int gone = status != 0 && out && (strstr(out, "refused") || strstr(out, "no such file"));
    if (!gone) { p->watch_misses = 0; return; }
    if (++p->watch_misses < 2) return;
    log_warn("haproxy: the adopted master on %s is gone (%s): starting our own", p->master_socket, out);
    uv_timer_stop(&p->watch_timer);
    p->adopted = 0;
    p->external = 0;
    haproxy_proc_start(p);
}

static void on_watch(int status, const char *out, size_t len, void *data)
{
    haproxy_proc_t *p = data;
    (void)len;
    p->watching = 0;
    adopted_answer(p, status, out);
}

static void on_watch_timer(uv_timer_t *t)
{
    haproxy_proc_t *p = t->data;
    if (!p->adopted || p->stopping || p->watching || p->rcb) return;
    p->watching = 1;
    haproxy_runtime_cmd(p->loop, p->master_socket, "show proc", 2000, on_watch, p);
}

haproxy_proc_t *haproxy_proc_new(uv_loop_t *loop, const haproxy_proc_opts_t *o)
{
    haproxy_proc_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->loop = loop;
    p->bin = strdup(o->bin ? o->bin : "haproxy");
    p->config = strdup(o->config);
    p->master_socket = strdup(o->master_socket);
    p->external = o->external;
    backoff_init(&p->backoff, 500, 30000);
    uv_timer_init(loop, &p->restart_timer);
    uv_timer_init(loop, &p->poll_timer);
    uv_timer_init(loop, &p->watch_timer);
    p->restart_timer.data = p->poll_timer.data = p->watch_timer.data = p;
    p->adopted = o->external && o->adopted;
    if (p->adopted) uv_timer_start(&p->watch_timer, on_watch_timer, 500, 500);
    return p;
}

int haproxy_proc_running(const haproxy_proc_t *p) { return p->external || p->running; }
long haproxy_proc_reloads(const haproxy_proc_t *p) { return p->reloads; }
long haproxy_proc_reload_failures(const haproxy_proc_t *p) { return p->failures; }

static void reload_done(haproxy_proc_t *p, int ok, const char *msg)
{
    haproxy_proc_reload_cb cb = p->rcb;
    p->rcb = NULL;
    if (ok) { p->reloads++; backoff_reset(&p->backoff); }
    else p->failures++;
    if (cb) cb(ok, msg, p->rdata);
}

static void on_poll_timer(uv_timer_t *t);

static void on_show_after(int status, const char *out, size_t len, void *data)
{
    haproxy_proc_t *p = data;
    long rl = 0, fl = 0, w = 0;
    if (status == 0 && haproxy_runtime_parse_proc(out, &rl, &fl, &w) == 0) {
        if (fl > p->before_failed) { reload_done(p, 0, "HAProxy reported the reload as failed (show proc)"); return; }
        if (rl > p->before_reloads && w > 0) { reload_done(p, 1, "reloaded"); return; }
    }
    if (++p->polls > 200) { reload_done(p, 0, "reload not confirmed by show proc within 10 s"); return; }
    uv_timer_start(&p->poll_timer, on_poll_timer, 50, 0);
}

static void on_poll_timer(uv_timer_t *t)
{
    haproxy_proc_t *p = t->data;
    haproxy_runtime_cmd(p->loop, p->master_socket, "show proc", 2000, on_show_after, p);
}

static void on_reload_sent(int status, const char *out, size_t len, void *data)
{
    haproxy_proc_t *p = data;
    /* the master re-executes itself and closes the connection; poll show proc for the outcome */
    p->polls = 0;
    uv_timer_start(&p->poll_timer, on_poll_timer, 20, 0);
}

static void on_show_before(int status, const char *out, size_t len, void *data);
static void on_before_timer(uv_timer_t *t)
{
    haproxy_proc_t *p = t->data;
    haproxy_runtime_cmd(p->loop, p->master_socket, "show proc", 2000, on_show_before, p);
}

static void on_show_before(int status, const char *out, size_t len, void *data)
{
    haproxy_proc_t *p = data;
    if (status != 0 || haproxy_runtime_parse_proc(out, &p->before_reloads, &p->before_failed, NULL) != 0) {
        adopted_answer(p, status, out); /* an adopted master that died: ours starts now */
        if (++p->polls > 100) { reload_done(p, 0, status ? out : "unexpected show proc answer"); return; }
        /* master not up yet (just started): ask again */
        uv_timer_start(&p->poll_timer, on_before_timer, 100, 0);
        return;
    }
    haproxy_runtime_cmd(p->loop, p->master_socket, "reload", 5000, on_reload_sent, p);
}

void haproxy_proc_reload(haproxy_proc_t *p, haproxy_proc_reload_cb cb, void *data)
{
    p->rcb = cb;
    p->rdata = data;
    p->polls = 0;
    haproxy_runtime_cmd(p->loop, p->master_socket, "show proc", 2000, on_show_before, p);
}

void haproxy_proc_stop(haproxy_proc_t *p, void (*on_stopped)(void *), void *data)
{
    p->stopping = 1;
    uv_timer_stop(&p->restart_timer);
    uv_timer_stop(&p->watch_timer);
    uv_timer_stop(&p->poll_timer);
    if (!p->running) { if (on_stopped) on_stopped(data); return; }
    p->on_stopped = on_stopped;
    p->sdata = data;
    child_stop(p->master, 10000); /* SIGTERM; SIGKILL if it still runs 10 s later */
}

static void on_timer_closed(uv_handle_t *h)
{
    haproxy_proc_t *p = h->data;
    if (--p->closing == 0) {
        free(p->bin); free(p->config); free(p->master_socket);
        free(p);
    }
}

void haproxy_proc_free(haproxy_proc_t *p)
{
    if (!p) return;
    if (p->master) child_forget(p->master); /* still running: it no longer reports to p */
    p->closing = 3;
    uv_close((uv_handle_t *)&p->watch_timer, on_timer_closed);
    uv_close((uv_handle_t *)&p->restart_timer, on_timer_closed);
    uv_close((uv_handle_t *)&p->poll_timer, on_timer_closed);
}
