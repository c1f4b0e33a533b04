/* client_test_util.h: helpers shared by the client I/O unit tests (header-only, static).
 * Starts tests/unit/client_test_server.py as a child (its stdin is a pipe: when the test dies,
 * the server sees EOF and exits), runs a libuv loop until a condition or a deadline, and makes
 * blocking control requests to the server with a plain libcurl easy handle (fine in a test). */
#ifndef PORTOLAN_CLIENT_TEST_UTIL_H
#define PORTOLAN_CLIENT_TEST_UTIL_H

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

typedef struct {
    pid_t pid;
    int in_fd;
    int port;            /* TCP port, 0 for a unix socket */
    char base[160];      /* "http://127.0.0.1:PORT" or "http://localhost" */
} test_server_t;

/* extra: NULL, or extra arguments (NULL-terminated) for the server (e.g. "--unix", path). */
static __attribute__((unused)) int test_server_start(test_server_t *s, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        const char *argv[12] = {"python3", TOP_SRCDIR "/tests/unit/client_test_server.py"};
        int n = 2;
        for (const char *const *p = extra; p && *p && n < 11; p++)
            argv[n++] = *p;
        argv[n] = NULL;
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->pid = pid;
    s->in_fd = in[1];
    char line[128];
    size_t len = 0;
    struct pollfd pfd = {.fd = out[0], .events = POLLIN};
    while (len < sizeof line - 1) {
        if (poll(&pfd, 1, 10000) <= 0)
            break;
        ssize_t r = read(out[0], line + len, 1);
        if (r <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    if (strncmp(line, "READY ", 6) != 0) {
        fprintf(stderr, "test server did not start: \"%s\"\n", line);
        return -1;
    }
    if (strcmp(line + 6, "unix") == 0) {
        snprintf(s->base, sizeof s->base, "http://localhost");
    } else {
        s->port = atoi(line + 6);
        snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    }
    return 0;
}

static __attribute__((unused)) void test_server_stop(test_server_t *s)
{
    if (s->pid <= 0)
        return;
    close(s->in_fd);
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static __attribute__((unused)) size_t test_sink(char *p, size_t sz, size_t n, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), add = sz * n;
    if (have + add >= 8192)
        add = 8191 - have;
    memcpy(buf + have, p, add);
    buf[have + add] = '\0';
    return sz * n;
}

/* Blocking request for test control; returns the HTTP status, body (<8 KiB) in out if given. */
static __attribute__((unused)) long test_fetch(const char *method, const char *url, const char *unix_path, const char *body, char *out)
{
    static char scratch[8192];
    char *buf = out ? out : scratch;
    buf[0] = '\0';
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    if (unix_path)
        curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, unix_path);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, test_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    long code = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    return code;
}

typedef struct {
    volatile int *flag;
    int expired;
} test_wait_t;

static __attribute__((unused)) void test_on_deadline(uv_timer_t *t)
{
    ((test_wait_t *)t->data)->expired = 1;
    uv_stop(t->loop);
}

/* Runs before the loop would block: stop as soon as the flag is set (a callback run in the
 * timer phase must not leave the loop sleeping in poll until the deadline). */
static __attribute__((unused)) void test_on_prepare(uv_prepare_t *p)
{
    test_wait_t *w = p->data;
    if (*w->flag)
        uv_stop(p->loop);
}

/* Runs loop until *flag is non-zero or ms pass. Returns 0 when the flag was set, -1 on timeout. */
static __attribute__((unused)) int test_run_until(uv_loop_t *loop, volatile int *flag, uint64_t ms)
{
    test_wait_t w = {.flag = flag};
    uv_timer_t t;
    uv_prepare_t p;
    uv_timer_init(loop, &t);
    uv_prepare_init(loop, &p);
    t.data = p.data = &w;
    uv_timer_start(&t, test_on_deadline, ms, 0);
    uv_prepare_start(&p, test_on_prepare);
    while (!*flag && !w.expired)
        uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_close((uv_handle_t *)&p, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag ? 0 : -1;
}

/* Runs the loop for ms (to prove that nothing happens). */
static __attribute__((unused)) void test_run_for(uv_loop_t *loop, uint64_t ms)
{
    int never = 0;
    test_run_until(loop, &never, ms);
}

/* Drains close callbacks and closes the loop; fails the test if handles leaked. */
static __attribute__((unused)) int test_loop_close(uv_loop_t *loop)
{
    for (int i = 0; i < 100 && uv_loop_alive(loop); i++)
        uv_run(loop, UV_RUN_NOWAIT);
    return uv_loop_close(loop);
}

#endif
