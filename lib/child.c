/* child.c: see child.h. Three handles (process, stderr pipe when captured, timer), each closed
 * through one path; the struct is freed when the last close completes. The exit callback waits
 * for both the exit and the end of stderr because libuv reports them in either order. */
#include "child.h"

#include <sys/resource.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct child {
    uv_process_t proc;
    uv_pipe_t err;
    uv_timer_t timer;
    child_exit_cb cb;
    void *data;
    int capture, exited, eof, timed_out, reported, forgotten, open_handles;
    int timer_kills; /* the timer's next firing sends SIGKILL (timeout or stop) */
    int64_t status;
    int sig;
    size_t len, cap;
    char *out;
};

static void on_closed(uv_handle_t *h)
{
    child_t *c = h->data;
    if (--c->open_handles == 0) {
        free(c->out);
        free(c);
    }
}

static void maybe_report(child_t *c)
{
    if (c->reported || !c->exited || (c->capture && !c->eof))
        return;
    c->reported = 1;
    uv_timer_stop(&c->timer);
    if (!c->forgotten && c->cb) {
        child_result_t r = {c->status, c->sig, c->timed_out, c->capture ? c->out : NULL, c->capture ? c->len : 0};
        if (c->capture)
            c->out[c->len] = '\0';
        c->cb(&r, c->data);
    }
    uv_close((uv_handle_t *)&c->timer, on_closed);
}

static void on_exit_(uv_process_t *p, int64_t status, int sig)
{
    child_t *c = p->data;
    c->exited = 1;
    c->status = status;
    c->sig = sig;
    uv_close((uv_handle_t *)p, on_closed);
    maybe_report(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char discard[4096];
    child_t *c = h->data;
    (void)suggested;
    if (c->len < c->cap)
        *buf = uv_buf_init(c->out + c->len, (unsigned)(c->cap - c->len));
    else
        *buf = uv_buf_init(discard, sizeof discard);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    child_t *c = s->data;
    if (n > 0) {
        if (buf->base == c->out + c->len)
            c->len += (size_t)n;
        return;
    }
    if (n == 0)
        return;
    /* end of stderr, or a read error: what was read is all there is */
    c->eof = 1;
    uv_read_stop(s);
    uv_close((uv_handle_t *)s, on_closed);
    maybe_report(c);
}

static void on_timer(uv_timer_t *t)
{
    child_t *c = t->data;
    if (c->exited)
        return;
    if (c->timer_kills == 1) /* the timeout, not a stop */
        c->timed_out = 1;
    uv_process_kill(&c->proc, SIGKILL);
}

child_t *child_spawn(uv_loop_t *loop, const child_opts_t *o, char *err, size_t errlen)
{
    child_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->cb = o->on_exit;
    c->data = o->data;
    c->capture = o->capture_stderr > 0;
    if (c->capture) {
        c->cap = o->capture_stderr;
        c->out = malloc(c->cap + 1);
        if (!c->out) {
            free(c);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        uv_pipe_init(loop, &c->err, 0);
        c->err.data = c;
    }
    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.file = o->file;
    po.args = (char **)o->args;
    po.exit_cb = on_exit_;
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = 2}};
    if (!o->stdout_ignore) {
        stdio[1].flags = UV_INHERIT_FD;
        stdio[1].data.fd = 2;
    }
    if (c->capture) {
        stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[2].data.stream = (uv_stream_t *)&c->err;
    }
    po.stdio = stdio;
    po.stdio_count = 3;
    int rc = uv_spawn(loop, &c->proc, &po);
    c->proc.data = c;
    if (rc < 0) {
        snprintf(err, errlen, "%s", uv_strerror(rc));
        c->open_handles = 1 + c->capture;
        uv_close((uv_handle_t *)&c->proc, on_closed);
        if (c->capture)
            uv_close((uv_handle_t *)&c->err, on_closed);
        return NULL;
    }
    if (o->nice > 0 && o->nice <= 19)
        (void)setpriority(PRIO_PROCESS, (id_t)c->proc.pid, o->nice); /* best effort: it only runs slower */
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2 + c->capture;
    if (c->capture)
        uv_read_start((uv_stream_t *)&c->err, on_alloc, on_read);
    if (o->timeout_ms) {
        c->timer_kills = 1;
        uv_timer_start(&c->timer, on_timer, o->timeout_ms, 0);
    }
    return c;
}

int child_pid(const child_t *c) { return c->proc.pid; }

int child_kill(child_t *c, int sig)
{
    if (c->exited)
        return 0;
    return uv_process_kill(&c->proc, sig);
}

void child_stop(child_t *c, uint64_t grace_ms)
{
    if (c->exited)
        return;
    uv_process_kill(&c->proc, SIGTERM);
    c->timer_kills = 2;
    uv_timer_start(&c->timer, on_timer, grace_ms, 0);
}

void child_forget(child_t *c)
{
    if (c)
        c->forgotten = 1;
}
