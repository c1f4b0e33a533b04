/* test_apply.c: templater/apply.c (with haproxy_proc.c) against a fake HAProxy: a master CLI
 * served on a unix socket in the test's own loop ("show proc", "reload", whose outcome the test
 * decides) and a `haproxy -c` stand-in script that rejects any configuration holding "maxconn 13"
 * with an ALERT line as HAProxy writes it.
 * What it holds apply.c to: a configuration is installed only after the check passes (a refusal
 * is logged with HAProxy's reason); a reload that fails puts the last good file back (also the
 * file an earlier run left, when the first reload of this run fails); the next catalog change is
 * applied normally. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "apply.h"
#include "haproxy_cfg.h"
#include "haproxy_proc.h"
#include "routes.h"

/* ---- the fake master CLI ---- */

typedef struct {
    uv_pipe_t server;
    int reloads, failed;     /* what show proc reports */
    int reload_cmds;         /* "reload" commands received */
    int fail_next;           /* the next reload fails */
    int other_cmds;          /* anything else (runtime API commands on the admin socket) */
    int refuse_at;           /* refuse that one of them (1-based; 0: none) */
} master_t;

typedef struct {
    uv_pipe_t pipe;          /* first: the handle is the allocation */
    master_t *m;
    char in[256];
    size_t len;
    uv_write_t wr;
    char out[512];
} conn_t;

static void on_conn_closed(uv_handle_t *h) { free(h); }

static void on_answered(uv_write_t *w, int status)
{
    uv_close((uv_handle_t *)w->data, on_conn_closed);
}

static void answer(conn_t *c)
{
    master_t *m = c->m;
    c->out[0] = '\0';
    if (strncmp(c->in, "show proc", 9) == 0) {
        snprintf(c->out, sizeof c->out,
                 "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
                 "100             master          %d [failed: %d]   0d00h00m05s     2.6.12\n"
                 "# workers\n"
                 "101             worker          0               0d00h00m01s     2.6.12\n"
                 "# programs\n\n",
                 m->reloads, m->failed);
    } else if (strncmp(c->in, "reload", 6) == 0) {
        m->reload_cmds++;
        if (m->fail_next) { m->failed++; m->fail_next = 0; }
        else m->reloads++;
    } else {
        /* the runtime API (admin socket): accepted, but for the refuse_at-th batch */
        if (++m->other_cmds == m->refuse_at) snprintf(c->out, sizeof c->out, "No such server.\n");
        else snprintf(c->out, sizeof c->out, "\n");
    }
    uv_buf_t b = uv_buf_init(c->out, (unsigned)strlen(c->out));
    c->wr.data = c;
    uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, on_answered);
}

static void on_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = (conn_t *)h;
    buf->base = c->in + c->len;
    buf->len = sizeof c->in - 1 - c->len;
}

static void on_conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn_t *c = (conn_t *)s;
    if (n > 0) {
        c->len += (size_t)n;
        c->in[c->len] = '\0';
        if (c->len < sizeof c->in - 1) return;
    } else if (n == 0) {
        return;
    }
    /* the client half-closes after its command, as HAProxy's master CLI expects */
    uv_read_stop(s);
    answer(c);
}

static void on_master_conn(uv_stream_t *server, int status)
{
    assert_int_equal(status, 0);
    conn_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->m = server->data;
    uv_pipe_init(server->loop, &c->pipe, 0);
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->pipe), 0);
    uv_read_start((uv_stream_t *)&c->pipe, on_conn_alloc, on_conn_read);
}

/* ---- fixture ---- */

typedef struct {
    uv_loop_t loop;
    char dir[64], config[128], master_sock[128], admin_sock[128], check_bin[128];
    master_t m, admin;
    haproxy_proc_t *proc;
    apply_t *a;
    apply_opts_t ao;
    uv_timer_t guard;
    int idle;
} fx_t;

static const char *BASE = "global\n    maxconn @MAXCONN@\n    stats socket @ADMIN_SOCKET@\n@TIMEOUTS@\n@STATS@\n";

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

static void fx_setup(fx_t *x, const char *existing_config)
{
    memset(x, 0, sizeof *x);
    snprintf(x->dir, sizeof x->dir, "/tmp/portolan-test-apply.XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->config, sizeof x->config, "%s/haproxy.cfg", x->dir);
    snprintf(x->master_sock, sizeof x->master_sock, "%s/master.sock", x->dir);
    snprintf(x->admin_sock, sizeof x->admin_sock, "%s/admin.sock", x->dir);
    snprintf(x->check_bin, sizeof x->check_bin, "%s/haproxy-check", x->dir);
    /* called as: haproxy-check -c [-q] -f <file> */
    write_text(x->check_bin,
               "#!/bin/sh\n"
               "for a; do f=$a; done\n"
               "if [ -e \"${0%/*}/slow\" ]; then sleep 0.3; fi\n"
               "if grep -q 'maxconn 13$' \"$f\"; then\n"
               "  echo \"[ALERT]    (1) : config : parsing [$f:2] : fake rejection of maxconn 13\" >&2\n"
               "  exit 1\n"
               "fi\n"
               "exit 0\n");
    assert_int_equal(chmod(x->check_bin, 0755), 0);
    if (existing_config) write_text(x->config, existing_config);

    assert_int_equal(uv_loop_init(&x->loop), 0);
    uv_pipe_init(&x->loop, &x->m.server, 0);
    x->m.server.data = &x->m;
    assert_int_equal(uv_pipe_bind(&x->m.server, x->master_sock), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&x->m.server, 16, on_master_conn), 0);
    uv_pipe_init(&x->loop, &x->admin.server, 0);
    x->admin.server.data = &x->admin;
    assert_int_equal(uv_pipe_bind(&x->admin.server, x->admin_sock), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&x->admin.server, 16, on_master_conn), 0);
    uv_timer_init(&x->loop, &x->guard);

    haproxy_proc_opts_t po = { .bin = x->check_bin, .config = x->config, .master_socket = x->master_sock,
                               .external = 1 };
    x->proc = haproxy_proc_new(&x->loop, &po);
    assert_non_null(x->proc);
    x->ao.config_path = x->config;
    x->ao.haproxy_bin = x->check_bin;
    x->ao.cfg.base = BASE;
    x->ao.cfg.bind = "127.0.0.1:18080";
    x->ao.cfg.admin_socket = x->admin_sock;
    x->ao.proc = x->proc;
    x->ao.admin_socket = x->admin_sock;
    x->ao.runtime = 1;
    x->a = apply_new(&x->loop, &x->ao);
    assert_non_null(x->a);
}

static void on_idle(void *data)
{
    fx_t *x = data;
    x->idle = 1;
    uv_stop(&x->loop);
}

static void on_guard(uv_timer_t *t) { uv_stop(t->loop); }

/* Hands t to apply and runs the loop until apply is idle again (fails after 10 s). */
static void fx_apply(fx_t *x, routes_table_t *t)
{
    x->idle = 0;
    apply_on_idle(x->a, on_idle, x);
    apply_update(x->a, t);
    uv_timer_start(&x->guard, on_guard, 10000, 0);
    while (!x->idle && uv_timer_get_due_in(&x->guard) > 0) uv_run(&x->loop, UV_RUN_ONCE);
    uv_timer_stop(&x->guard);
    assert_true(x->idle);
}

static void on_closed_noop(uv_handle_t *h) { (void)h; }

static void fx_teardown(fx_t *x)
{
    apply_free(x->a);
    haproxy_proc_free(x->proc);
    uv_close((uv_handle_t *)&x->m.server, on_closed_noop);
    uv_close((uv_handle_t *)&x->admin.server, on_closed_noop);
    uv_close((uv_handle_t *)&x->guard, on_closed_noop);
    while (uv_run(&x->loop, UV_RUN_NOWAIT)) {}
    assert_int_equal(uv_loop_close(&x->loop), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
    assert_int_equal(system(cmd), 0);
}

/* A table with the given services routed (instance i1 each; the first one also i2, i3... for
 * extra > 0) and KV maxconn (0: none). */
static routes_table_t *table_x(const char *const *services, int maxconn, int extra)
{
    routes_catalog_t *c = routes_catalog_new();
    for (int i = 0; services[i]; i++) {
        routes_service_t *s = routes_catalog_add_service(c, services[i]);
        routes_instance_t *in = routes_service_add_instance(s, "i1", "node1", "127.0.0.1", 9000 + i, 1);
        routes_instance_add_tag(in, "rest");
        for (int k = 0; i == 0 && k < extra; k++) {
            char id[16];
            snprintf(id, sizeof id, "i%d", k + 2);
            in = routes_service_add_instance(s, id, "node1", "127.0.0.1", 9100 + k, 1);
            routes_instance_add_tag(in, "rest");
        }
    }
    if (maxconn) {
        char v[32];
        snprintf(v, sizeof v, "%d", maxconn);
        routes_catalog_add_kv(c, "service/haproxy/maxconn", v);
    }
    routes_options_t o = { .tag = "rest", .kv_prefix = "service/haproxy/" };
    routes_table_t *t = routes_build(c, &o, NULL, NULL);
    routes_catalog_free(c);
    return t;
}
static routes_table_t *table(const char *const *services, int maxconn) { return table_x(services, maxconn, 0); }

static char *rendered_x(const fx_t *x, const char *const *services, int maxconn, int extra)
{
    routes_table_t *t = table_x(services, maxconn, extra);
    char *cfg = haproxy_cfg_render(t, &x->ao.cfg, NULL);
    routes_table_free(t);
    return cfg;
}
static char *rendered(const fx_t *x, const char *const *services, int maxconn) { return rendered_x(x, services, maxconn, 0); }

static void assert_config(const fx_t *x, const char *want)
{
    char *got = read_text(x->config);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", x->config);
    assert_int_equal(access(tmp, F_OK), -1); /* nothing half-written left behind */
}

/* ---- tests ---- */

static const char *const ONE[] = { "hello/v1", NULL };
static const char *const TWO[] = { "hello/v1", "hello/v2", NULL };

/* good reload, failed reload (rolled back, table not taken), then the next change is applied */
static void test_failed_reload_rolls_back_and_recovers(void **st)
{
    fx_t x;
    fx_setup(&x, NULL);
    apply_stats_t s;

    fx_apply(&x, table(ONE, 0));
    char *good = rendered(&x, ONE, 0);
    assert_config(&x, good);
    apply_stats(x.a, &s);
    assert_int_equal(s.reloads, 1);
    assert_int_equal(apply_current(x.a)->n, 1);

    x.m.fail_next = 1;
    fx_apply(&x, table(TWO, 0));
    assert_int_equal(x.m.reload_cmds, 2);
    apply_stats(x.a, &s);
    assert_int_equal(s.reload_failures, 1);
    assert_int_equal(s.reloads, 1);
    assert_config(&x, good);
    assert_int_equal(apply_current(x.a)->n, 1); /* HAProxy still runs the one-route table */

    fx_apply(&x, table(TWO, 0)); /* Consul changes again (same content): tried again, succeeds */
    char *two = rendered(&x, TWO, 0);
    assert_config(&x, two);
    apply_stats(x.a, &s);
    assert_int_equal(s.reloads, 2);
    assert_int_equal(apply_current(x.a)->n, 2);
    free(good);
    free(two);
    fx_teardown(&x);
}

/* a configuration the check rejects is never installed and never reloaded */
static void test_rejected_config_never_installed(void **st)
{
    fx_t x;
    fx_setup(&x, NULL);
    apply_stats_t s;
    fx_apply(&x, table(ONE, 0));
    char *good = rendered(&x, ONE, 0);

    /* the log line carries HAProxy's reason: stderr goes to a file for this step */
    char logpath[160];
    snprintf(logpath, sizeof logpath, "%s/stderr.log", x.dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *lf = fopen(logpath, "w");
    assert_non_null(lf);
    dup2(fileno(lf), 2);
    fx_apply(&x, table(TWO, 13));
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(lf);
    char *log = read_text(logpath);
    assert_non_null(strstr(log, "apply: haproxy -c rejected the new configuration (exit 1): parsing ["));
    assert_non_null(strstr(log, ".tmp:2] : fake rejection of maxconn 13"));
    free(log);
    apply_stats(x.a, &s);
    assert_int_equal(s.check_failures, 1);
    assert_int_equal(x.m.reload_cmds, 1);
    assert_config(&x, good);
    assert_int_equal(apply_current(x.a)->n, 1);

    fx_apply(&x, table(TWO, 777));
    char *two = rendered(&x, TWO, 777);
    assert_config(&x, two);
    assert_int_equal(x.m.reload_cmds, 2);
    free(good);
    free(two);
    fx_teardown(&x);
}

/* A templater restarted next to a running HAProxy (started from the file an earlier run left, or
 * adopted) has not installed anything itself yet: when its first reload fails, that file is the
 * last good one and goes back; it must not stay overwritten by the configuration that failed. */
static void test_first_reload_fails_puts_back_the_existing_file(void **st)
{
    fx_t x;
    const char *earlier = "# written by an earlier run; HAProxy serves it\nglobal\n    maxconn 4096\n";
    fx_setup(&x, earlier);
    apply_stats_t s;

    x.m.fail_next = 1;
    fx_apply(&x, table(TWO, 0));
    apply_stats(x.a, &s);
    assert_int_equal(s.reload_failures, 1);
    assert_int_equal(x.m.reload_cmds, 1);
    assert_config(&x, earlier);
    assert_null(apply_current(x.a));

    fx_apply(&x, table(TWO, 0));
    char *two = rendered(&x, TWO, 0);
    assert_config(&x, two);
    apply_stats(x.a, &s);
    assert_int_equal(s.reloads, 1);
    free(two);
    fx_teardown(&x);
}

/* A route change arriving while a runtime batch is out: when the batch is answered, the file is
 * rewritten for it (persist) and the route change needs the file too. One write at a time: the
 * route change waits for the rewrite, then is checked, installed and reloaded. */
static void test_route_change_behind_a_runtime_batch(void **st)
{
    fx_t x;
    fx_setup(&x, NULL);
    apply_stats_t s;
    fx_apply(&x, table(ONE, 0));

    x.idle = 0;
    apply_on_idle(x.a, on_idle, &x);
    apply_update(x.a, table_x(ONE, 0, 1));   /* i2 added: a runtime batch, now in flight */
    apply_update(x.a, table_x(TWO, 0, 1));   /* a new route: waits for the batch */
    uv_timer_start(&x.guard, on_guard, 10000, 0);
    while (!x.idle && uv_timer_get_due_in(&x.guard) > 0) uv_run(&x.loop, UV_RUN_ONCE);
    uv_timer_stop(&x.guard);
    assert_true(x.idle);
    assert_int_equal(x.admin.other_cmds, 1);
    apply_stats(x.a, &s);
    assert_int_equal(s.runtime_changes, 1);
    assert_int_equal(s.reloads, 2);
    assert_int_equal(s.check_failures, 0);
    assert_int_equal(apply_current(x.a)->n, 2);
    char *two = rendered_x(&x, TWO, 0, 1);
    assert_config(&x, two);
    free(two);
    fx_teardown(&x);
}

/* A runtime batch refused while the file is being rewritten for the batch before it: the reload
 * it calls for waits for that rewrite (one write at a time), then goes through. */
static void test_refused_batch_during_a_rewrite(void **st)
{
    fx_t x;
    fx_setup(&x, NULL);
    apply_stats_t s;
    fx_apply(&x, table(ONE, 0));

    char slow[160];
    snprintf(slow, sizeof slow, "%s/slow", x.dir);
    write_text(slow, "");                     /* the rewrite's check takes 0.3 s */
    x.admin.refuse_at = 2;
    x.idle = 0;
    apply_on_idle(x.a, on_idle, &x);
    apply_update(x.a, table_x(ONE, 0, 1));   /* i2: accepted; the file is rewritten for it */
    apply_update(x.a, table_x(ONE, 0, 2));   /* i3: refused while that rewrite runs */
    uv_timer_start(&x.guard, on_guard, 10000, 0);
    while (!x.idle && uv_timer_get_due_in(&x.guard) > 0) uv_run(&x.loop, UV_RUN_ONCE);
    uv_timer_stop(&x.guard);
    assert_true(x.idle);
    assert_int_equal(x.admin.other_cmds, 2);
    apply_stats(x.a, &s);
    assert_int_equal(s.runtime_changes, 1);
    assert_int_equal(s.runtime_failures, 1);
    assert_int_equal(s.reloads, 2);
    assert_int_equal(s.check_failures, 0);
    assert_int_equal(apply_current(x.a)->b[0]->nservers, 3);
    char *three = rendered_x(&x, ONE, 0, 2);
    assert_config(&x, three);
    free(three);
    fx_teardown(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_reload_rolls_back_and_recovers),
        cmocka_unit_test(test_rejected_config_never_installed),
        cmocka_unit_test(test_first_reload_fails_puts_back_the_existing_file),
        cmocka_unit_test(test_route_change_behind_a_runtime_batch),
        cmocka_unit_test(test_refused_batch_during_a_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
