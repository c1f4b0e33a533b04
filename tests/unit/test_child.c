/* test_child.c: lib/child, the uv_spawn wrapper every program the daemons run goes through: real
 * /bin/sh children on a real libuv loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "child.h"

typedef struct {
    int calls;
    child_result_t r;
    char err[70000];
    uint64_t t_end;
} seen_t;

static void on_exit_cb(const child_result_t *r, void *data)
{
    seen_t *s = data;
    s->calls++;
    s->r = *r;
    s->r.err = NULL;
    if (r->err) {
        assert_int_equal(r->err[r->errlen], '\0');
        memcpy(s->err, r->err, r->errlen + 1);
        s->r.err = s->err;
    }
    s->t_end = uv_hrtime();
}

/* runs `sh -c script` to completion (the loop ends when the child is freed) */
static child_t *run(uv_loop_t *loop, const char *script, size_t capture, uint64_t timeout_ms, seen_t *s)
{
    char *args[] = {"/bin/sh", "-c", (char *)script, NULL};
    child_opts_t o = {.file = "/bin/sh", .args = args, .capture_stderr = capture, .stdout_ignore = 1,
                      .timeout_ms = timeout_ms, .on_exit = on_exit_cb, .data = s};
    char err[128];
    child_t *c = child_spawn(loop, &o, err, sizeof err);
    assert_non_null(c);
    assert_true(child_pid(c) > 0);
    return c;
}

static void test_status_and_capture(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static seen_t s;
    memset(&s, 0, sizeof s);
    run(&loop, "echo to-stdout; echo 'first line' >&2; printf 'second' >&2; exit 3", 1024, 0, &s);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* every handle closed: nothing left */
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.r.status, 3);
    assert_int_equal(s.r.sig, 0);
    assert_int_equal(s.r.timed_out, 0);
    assert_string_equal(s.r.err, "first line\nsecond");
    assert_int_equal(s.r.errlen, 17);
    /* exit 0, nothing on stderr: an empty capture, not NULL */
    memset(&s, 0, sizeof s);
    run(&loop, "true", 16, 0, &s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.r.status, 0);
    assert_non_null(s.r.err);
    assert_int_equal(s.r.errlen, 0);
    /* no capture: err NULL */
    memset(&s, 0, sizeof s);
    run(&loop, "exit 0", 0, 0, &s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_null(s.r.err);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* the capture keeps the first n bytes and still drains the rest (a child writing 64 KiB, more
 * than a pipe holds, must not block on a full pipe) */
static void test_capture_is_bounded(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static seen_t s;
    memset(&s, 0, sizeof s);
    run(&loop, "i=0; while [ $i -lt 1024 ]; do printf '%063d\\n' $i >&2; i=$((i+1)); done; exit 0", 100, 10000, &s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.r.timed_out, 0);
    assert_int_equal(s.r.status, 0);
    assert_int_equal(s.r.errlen, 100);
    assert_int_equal(strlen(s.err), 100);
    assert_memory_equal(s.err, "000000000000000000000000000000000000000000000000000000000000000\n", 64);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_timeout_kills(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static seen_t s;
    memset(&s, 0, sizeof s);
    uint64_t t0 = uv_hrtime();
    run(&loop, "exec sleep 30", 0, 200, &s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.r.timed_out, 1);
    assert_int_equal(s.r.sig, SIGKILL);
    assert_true(s.t_end - t0 < 10ull * 1000000000ull); /* not the 30 s of the sleep */
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* stops the child once the script has said it is ready (a file it creates): on a loaded machine a
 * fixed delay could reach the shell before its trap is set */
static char ready_file[64];
static child_t *to_stop;
static void stop_when_ready(uv_timer_t *t)
{
    if (access(ready_file, F_OK) != 0) return;
    child_stop(to_stop, 300);
    uv_close((uv_handle_t *)t, NULL);
}

/* child_stop: SIGTERM first; a child that ignores it gets SIGKILL after the grace */
static void test_stop_escalates(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static seen_t s;
    memset(&s, 0, sizeof s);
    uv_timer_t t;
    char script[256];
    snprintf(ready_file, sizeof ready_file, "/tmp/pt-lib-child-ready-%d", (int)getpid());
    /* obeys SIGTERM */
    unlink(ready_file);
    snprintf(script, sizeof script, "touch %s; exec sleep 30", ready_file);
    uv_timer_init(&loop, &t);
    to_stop = run(&loop, script, 0, 0, &s);
    uv_timer_start(&t, stop_when_ready, 20, 20);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 1);
    assert_true(s.r.sig == SIGTERM);
    assert_int_equal(s.r.timed_out, 0);
    /* ignores it: the shell traps TERM and keeps waiting */
    memset(&s, 0, sizeof s);
    unlink(ready_file);
    snprintf(script, sizeof script, "trap '' TERM; touch %s; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
             ready_file);
    uv_timer_init(&loop, &t);
    to_stop = run(&loop, script, 0, 0, &s);
    uv_timer_start(&t, stop_when_ready, 20, 20);
    uv_run(&loop, UV_RUN_DEFAULT);
    unlink(ready_file);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.r.sig, SIGKILL);
    assert_int_equal(s.r.timed_out, 0); /* a stop, not a timeout */
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* a program that does not exist: NULL and a reason, no callback, nothing left on the loop */
static void test_spawn_failure(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static seen_t s;
    memset(&s, 0, sizeof s);
    char *args[] = {"/nonexistent/portolan-prog", NULL};
    for (size_t cap = 0; cap <= 64; cap += 64) {
        child_opts_t o = {.file = args[0], .args = args, .capture_stderr = cap, .on_exit = on_exit_cb, .data = &s};
        char err[128] = "";
        assert_null(child_spawn(&loop, &o, err, sizeof err));
        assert_non_null(strstr(err, "no such file"));
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* forgotten: the owner is gone, no callback, the child is still freed when it ends */
static void test_forget(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static seen_t s;
    memset(&s, 0, sizeof s);
    child_t *c = run(&loop, "sleep 0.2; echo late >&2", 64, 0, &s);
    child_forget(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* .nice lowers the child's priority (read back from /proc by the child itself, after the parent
 * has set it); without it the child keeps the test's own */
static void test_nice(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static seen_t s;
    const char *script = "sleep 0.3; cut -d' ' -f19 /proc/$$/stat >&2";
    for (int want = 0; want <= 10; want += 10) {
        memset(&s, 0, sizeof s);
        char *args[] = {"/bin/sh", "-c", (char *)script, NULL};
        child_opts_t o = {.file = "/bin/sh", .args = args, .capture_stderr = 64, .stdout_ignore = 1,
                          .nice = want, .on_exit = on_exit_cb, .data = &s};
        char err[128];
        assert_non_null(child_spawn(&loop, &o, err, sizeof err));
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(s.calls, 1);
        assert_int_equal(s.r.status, 0);
        int own = getpriority(PRIO_PROCESS, 0);
        assert_int_equal(atoi(s.err), want ? want : own);
    }
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_capture),
        cmocka_unit_test(test_capture_is_bounded),
        cmocka_unit_test(test_timeout_kills),
        cmocka_unit_test(test_stop_escalates),
        cmocka_unit_test(test_spawn_failure),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_nice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
