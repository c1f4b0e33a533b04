/* haproxy_runtime.c: a request/response exchange over an HAProxy unix socket.
 * One connection per exchange (HAProxy's non-interactive mode closes after answering), so a
 * worker that was replaced by a reload is never talked to through a stale connection. */
#include "haproxy_runtime.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uv_pipe_t pipe;
    uv_timer_t timer;
    uv_connect_t conn;
    uv_write_t wr;
    uv_shutdown_t sh;
    char *cmd;
    char *out;
    size_t len, cap;
    haproxy_runtime_cb cb;
    void *data;
    int done;
    int closing;
    char err[160];
} rt_req_t;

static void on_closed(uv_handle_t *h)
{
    rt_req_t *r = h->data;
    if (--r->closing > 0) return;
    free(r->cmd);
    free(r->out);
    free(r);
}

static void finish(rt_req_t *r, int status)
{
    if (r->done) return;
    r->done = 1;
    uv_timer_stop(&r->timer);
    if (r->cb) {
        if (status == 0) r->cb(0, r->out ? r->out : "", r->len, r->data);
        else r->cb(-1, r->err, strlen(r->err), r->data);
    }
    r->closing = 2;
    uv_close((uv_handle_t *)&r->pipe, on_closed);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void on_timeout(uv_timer_t *t)
{
    rt_req_t *r = t->data;
    snprintf(r->err, sizeof r->err, "timeout talking to HAProxy");
    finish(r, -1);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    rt_req_t *r = h->data;
    if (r->cap - r->len < 65536 + 1) {
        r->cap = r->cap ? r->cap * 2 : 131072;
        r->out = xrealloc(r->out, r->cap);
        r->out[r->len] = '\0'; /* an answer that ends before any byte is "", not garbage */
    }
    buf->base = r->out + r->len;
    buf->len = r->cap - r->len - 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    rt_req_t *r = s->data;
    if (n > 0) {
        r->len += (size_t)n;
        r->out[r->len] = '\0';
        return;
    }
    if (n == UV_EOF || n == UV_ECONNRESET) { finish(r, 0); return; }
    if (n < 0) {
        snprintf(r->err, sizeof r->err, "read: %s", uv_strerror((int)n));
        finish(r, -1);
    }
}

static void on_shutdown(uv_shutdown_t *s, int status) { (void)s; (void)status; }

static void on_write(uv_write_t *w, int status)
{
    rt_req_t *r = w->data;
    if (r->done) return;
    if (status < 0) {
        snprintf(r->err, sizeof r->err, "write: %s", uv_strerror(status));
        finish(r, -1);
        return;
    }
    /* half-close: the master CLI answers and closes only once it sees the end of input */
    r->sh.data = r;
    uv_shutdown(&r->sh, (uv_stream_t *)&r->pipe, on_shutdown);
}

static void on_connect(uv_connect_t *c, int status)
{
    rt_req_t *r = c->data;
    if (r->done) return;
    if (status < 0) {
        snprintf(r->err, sizeof r->err, "connect: %s", uv_strerror(status));
        finish(r, -1);
        return;
    }
    uv_buf_t b = uv_buf_init(r->cmd, (unsigned)strlen(r->cmd));
    r->wr.data = r;
    uv_write(&r->wr, (uv_stream_t *)&r->pipe, &b, 1, on_write);
    uv_read_start((uv_stream_t *)&r->pipe, on_alloc, on_read);
}

int haproxy_runtime_cmd(uv_loop_t *loop, const char *socket_path, const char *cmd, unsigned timeout_ms,
                        haproxy_runtime_cb cb, void *data)
{
    rt_req_t *r = calloc(1, sizeof *r);
    if (!r) return -1;
    size_t n = strlen(cmd);
    r->cmd = malloc(n + 2);
    if (!r->cmd) { free(r); return -1; }
    memcpy(r->cmd, cmd, n);
    r->cmd[n] = '\n';
    r->cmd[n + 1] = '\0';
    r->cb = cb;
    r->data = data;
    uv_pipe_init(loop, &r->pipe, 0);
    uv_timer_init(loop, &r->timer);
    r->pipe.data = r->timer.data = r->conn.data = r;
    uv_timer_start(&r->timer, on_timeout, timeout_ms ? timeout_ms : 5000, 0);
    uv_pipe_connect(&r->conn, &r->pipe, socket_path, on_connect);
    return 0;
}

int haproxy_runtime_parse_proc(const char *out, long *reloads, long *failed, long *workers)
{
    int found = 0;
    long w = 0;
    const char *line = out;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        char buf[256];
        if (ll >= sizeof buf) ll = sizeof buf - 1;
        memcpy(buf, line, ll);
        buf[ll] = '\0';
        long pid, rl, fl;
        char type[32];
        if (sscanf(buf, "%ld %31s %ld [failed: %ld]", &pid, type, &rl, &fl) == 4 && strcmp(type, "master") == 0) {
            if (reloads) *reloads = rl;
            if (failed) *failed = fl;
            found = 1;
        } else if (sscanf(buf, "%ld %31s", &pid, type) == 2 && strcmp(type, "worker") == 0) {
            w++;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (workers) *workers = w;
    return found ? 0 : -1;
}

int haproxy_runtime_answer_failed(const char *out)
{
    static const char *const bad[] = { "No such", "Unknown", "Require", "cannot", "Cannot", "failed",
        "Failed", "error", "Error", "invalid", "Invalid", "not found", "already", "Permission denied",
        "Missing", "Backend must", "still has", "Only", "Already", "exists" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (strstr(out, bad[i])) return 1;
    return 0;
}
